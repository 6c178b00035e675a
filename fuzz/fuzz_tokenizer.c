/* Fuzz target: GPT-2 tokenizer files (vocab.json and merges.txt parsing in src/io/tokenizer.c), then
 * encoding with what loaded. After a mode byte, the input is three parts separated by NUL bytes:
 * vocab, merges.txt and a text. Mode even: the vocab part is the whole vocab.json. Mode odd: the
 * target writes the 256 byte tokens (ids 0..255) itself and the vocab part adds entries inside that
 * object (e.g. `"lo": 256, "low": 257`), so inputs stay small and mutations go to the merges and the
 * BPE rather than to re-creating 256 tokens. A tokenizer that loads must encode the text (any bytes)
 * into ids of its vocabulary that decode back to exactly the text. */
#include "fuzz.h"
#include "vkgen.h"

/* "{" and the 256 byte tokens in GPT-2's aliases, as JSON: '!'..'~' and U+00A1..U+00FF (but U+00AD)
 * stand for themselves, the other 68 bytes for U+0100 onwards. */
static const char *base_vocab(size_t *n) {
  static char buf[4096];
  static size_t len;
  if (len) return *n = len, buf;
  len = (size_t)snprintf(buf, sizeof buf, "{");
  int extra = 0;
  for (int b = 0; b < 256; b++) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    unsigned cp = printable ? (unsigned)b : 0x100u + (unsigned)extra++;
    char u[8];
    if (cp == '"' || cp == '\\')
      snprintf(u, sizeof u, "\\%c", (char)cp);
    else if (cp < 0x80)
      snprintf(u, sizeof u, "%c", (char)cp);
    else
      snprintf(u, sizeof u, "%c%c", (char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F)));
    len += (size_t)snprintf(buf + len, sizeof buf - len, "%s\"%s\": %d", b ? ", " : "", u, b);
  }
  return *n = len, buf;
}

/* Encodes text and checks the round trip. */
static void encode_decode(const vkg_tokenizer *t, const uint8_t *text, size_t n) {
  int32_t *ids = NULL;
  size_t nids = 0;
  vkg_status s = vkg_tokenize(t, (const char *)text, n, &ids, &nids);
  FUZZ_ASSERT(s == VKG_OK && ids);
  FUZZ_ASSERT(nids <= n);
  int vocab = vkg_tokenizer_vocab(t);
  for (size_t i = 0; i < nids; i++)
    FUZZ_ASSERT(ids[i] >= 0 && ids[i] < vocab);
  char *back = NULL;
  size_t len = 0;
  s = vkg_detokenize(t, ids, nids, &back, &len);
  FUZZ_ASSERT(s == VKG_OK && len == n && !memcmp(back, text, n) && back[len] == 0);
  (void)vkg_tokenizer_token(t, (const char *)text, n < 8 ? n : 8);
  free(back);
  free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t *p = data + 1;
  size_t left = size - 1, nv, nm, nt;
  const uint8_t *vocab = fuzz_part(&p, &left, &nv);
  const uint8_t *merges = fuzz_part(&p, &left, &nm);
  const uint8_t *text = fuzz_part(&p, &left, &nt);
  uint8_t *made = NULL;
  if (data[0] & 1) {
    size_t nb;
    const char *base = base_vocab(&nb);
    made = malloc(nb + nv + 4);
    FUZZ_ASSERT(made);
    memcpy(made, base, nb);
    size_t k = nb;
    if (nv) made[k++] = ',', made[k++] = ' ';
    memcpy(made + k, vocab, nv);
    k += nv;
    made[k++] = '}';
    vocab = made, nv = k;
  }
  char vpath[64], mpath[64];
  int vfd = fuzz_memfd(vocab, nv, vpath, sizeof vpath);
  int mfd = vfd < 0 ? -1 : fuzz_memfd(merges, nm, mpath, sizeof mpath);
  if (mfd >= 0) {
    vkg_tokenizer *t = NULL;
    vkg_status s = vkg_tokenizer_gpt2(vpath, mpath, &t);
    if (s) {
      /* A bad file is named in the message (which of the two is at fault). */
      FUZZ_ASSERT(!t && (strstr(vkg_last_error(), vpath) || strstr(vkg_last_error(), mpath)));
    } else {
      FUZZ_ASSERT(vkg_tokenizer_vocab(t) >= 256);
      /* The text, then everything after the vocab (JSON and merges text exercise the pre-tokenizer). */
      encode_decode(t, text, nt);
      encode_decode(t, merges, nm);
      vkg_tokenizer_free(t);
    }
  }
  if (vfd >= 0) close(vfd);
  if (mfd >= 0) close(mfd);
  free(made);
  return 0;
}
