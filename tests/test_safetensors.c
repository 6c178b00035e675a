/* safetensors: writer/reader round trips, a file of known bytes, every kind of corruption giving a
 * clear error that names the file, truncation at every length, the writer's crash safety, and loads
 * into device tensors. All files live in a fresh temporary directory. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* A safetensors file from a header string and raw data; hlen_override >= 0 replaces the length. */
static const char *st_file(const char *name, const char *header, const void *data, size_t ndata,
                           long long hlen_override) {
  size_t hl = strlen(header);
  unsigned char *buf = malloc(8 + hl + ndata + 1);
  uint64_t l = hlen_override >= 0 ? (uint64_t)hlen_override : hl;
  for (int i = 0; i < 8; i++)
    buf[i] = (unsigned char)(l >> (8 * i));
  memcpy(buf + 8, header, hl);
  if (ndata) memcpy(buf + 8 + hl, data, ndata);
  const char *p = th_tmppath(name);
  th_write_file(p, buf, 8 + hl + ndata);
  free(buf);
  return p;
}

/* Opening path must fail with status want and a message naming the file and containing `what`. */
static void expect_open_fail(const char *label, const char *path, vkg_status want, const char *what) {
  vkg_st *st = (vkg_st *)1;
  vkg_status s = vkg_st_open(path, &st);
  const char *msg = vkg_last_error();
  th_check(s == want && st == NULL && strstr(msg, path) && strstr(msg, what), "%s: %s (%s) [hint: %s]", label,
           vkg_status_str(s), msg, vkg_last_hint());
}

static int contains(const char *s, const char *sub) { return s && sub && strstr(s, sub) != NULL; }

// ---- round trip ----

static void round_trip(void) {
  vkg_st_writer *w = vkg_st_writer_create();
  /* Data of every size class, inserted small-to-large so the writer must reorder the data buffer. */
  uint8_t u8[7] = {0, 1, 2, 3, 250, 254, 255};
  uint8_t bools[3] = {1, 0, 1};
  int8_t i8[5] = {-128, -1, 0, 1, 127};
  int16_t i16[3] = {-32768, 12345, 32767};
  uint16_t f16[5] = {0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0001}; /* 1, -2, 0.333, 65504, 2^-24 */
  uint16_t bf16[8] = {0x3F80, 0xC000, 0x4049, 0x0000, 0x8000, 0x7F80, 0x3E80, 0x4120};
  float f32[6] = {1.5f, -2.25f, 3e-7f, 1e30f, -0.0f, 42.0f};
  double f64[2] = {3.141592653589793, -1e300};
  int64_t i64[3] = {-9000000000000000000ll, 0, 9000000000000000000ll};
  int32_t i32[4] = {-7, 0, 7, 2147483647};
  float scalar = 0.5f;
  int64_t s_u8[1] = {7}, s_bool[1] = {3}, s_i8[2] = {5, 1}, s_i16[1] = {3}, s_f16[1] = {5}, s_bf16[3] = {2, 2, 2},
          s_f32[2] = {2, 3}, s_f64[1] = {2}, s_i64[1] = {3}, s_i32[2] = {4, 1}, s_empty[2] = {0, 4},
          s_8d[8] = {1, 1, 1, 1, 1, 1, 2, 3};
  float eight[6] = {1, 2, 3, 4, 5, 6};
  th_ok(vkg_st_add(w, "u8", "U8", 1, s_u8, u8, sizeof u8), "add U8");
  th_ok(vkg_st_add(w, "flags", "BOOL", 1, s_bool, bools, sizeof bools), "add BOOL");
  th_ok(vkg_st_add(w, "i8", "I8", 2, s_i8, i8, sizeof i8), "add I8");
  th_ok(vkg_st_add(w, "i16", "I16", 1, s_i16, i16, sizeof i16), "add I16");
  th_ok(vkg_st_add(w, "half", "F16", 1, s_f16, f16, sizeof f16), "add F16");
  th_ok(vkg_st_add(w, "brain", "BF16", 3, s_bf16, bf16, sizeof bf16), "add BF16");
  th_ok(vkg_st_add(w, "layer.0.weight", "F32", 2, s_f32, f32, sizeof f32), "add F32");
  th_ok(vkg_st_add(w, "f64", "F64", 1, s_f64, f64, sizeof f64), "add F64");
  th_ok(vkg_st_add(w, "i64", "I64", 1, s_i64, i64, sizeof i64), "add I64");
  th_ok(vkg_st_add(w, "i32", "I32", 2, s_i32, i32, sizeof i32), "add I32");
  th_ok(vkg_st_add(w, "scalar", "F32", 0, NULL, &scalar, 4), "add 0-dim");
  th_ok(vkg_st_add(w, "empty", "F32", 2, s_empty, NULL, 0), "add empty tensor");
  th_ok(vkg_st_add(w, "eight.dims", "F32", 8, s_8d, eight, sizeof eight), "add 8-dim");
  int s2[2] = {3, 2};
  th_ok(vkg_st_add_f32(w, "via_f32", 2, s2, eight), "add_f32");
  th_ok(vkg_st_add_metadata(w, "format", "pt"), "metadata");
  th_ok(vkg_st_add_metadata(w, "note", "quotes \" backslash \\ newline \n tab \t unicode \xc3\xa9 \xe2\x82\xac"),
        "metadata 2");
  th_ok(vkg_st_add_metadata(w, "format", "vkgen"), "metadata replaced");
  const char *path = th_tmppath("rt.safetensors");
  th_ok(vkg_st_write(w, path), "write round-trip file");
  vkg_st_writer_destroy(w);

  /* The layout: header length a multiple of 8, metadata first, no temporary file left behind. */
  size_t n;
  unsigned char *raw = th_read_file(path, &n);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--)
    hl = hl << 8 | raw[i];
  th_check(hl % 8 == 0 && 8 + hl <= n, "header length %llu is a multiple of 8", (unsigned long long)hl);
  th_check(memcmp(raw + 8, "{\"__metadata__\":", 16) == 0, "metadata comes first in the header");
  free(raw);
  DIR *d = opendir(th_tmpdir());
  struct dirent *de;
  int leftovers = 0;
  while ((de = readdir(d)))
    if (strstr(de->d_name, ".tmp.")) leftovers++;
  closedir(d);
  th_check(leftovers == 0, "no temporary file left after a successful write");

  vkg_st *st;
  if (!th_ok(vkg_st_open(path, &st), "open round-trip file")) return;
  static const char *names[] = {"u8",  "flags", "i8",  "i16",    "half",  "brain",      "layer.0.weight",
                                "f64", "i64",   "i32", "scalar", "empty", "eight.dims", "via_f32"};
  static const char *dts[] = {"U8",  "BOOL", "I8",  "I16", "F16", "BF16", "F32",
                              "F64", "I64",  "I32", "F32", "F32", "F32",  "F32"};
  const void *datas[] = {u8, bools, i8, i16, f16, bf16, f32, f64, i64, i32, &scalar, NULL, eight, eight};
  size_t sizes[] = {7, 3, 5, 6, 10, 16, 24, 16, 24, 16, 4, 0, 24, 24};
  int ndims[] = {1, 1, 2, 1, 1, 3, 2, 1, 1, 2, 0, 2, 8, 2};
  const int64_t *shapes[] = {s_u8,  s_bool, s_i8,  s_i16, s_f16,   s_bf16, s_f32,
                             s_f64, s_i64,  s_i32, NULL,  s_empty, s_8d,   NULL};
  int64_t s_via[2] = {3, 2};
  shapes[13] = s_via;
  th_check(vkg_st_count(st) == 14, "14 tensors read back (got %d)", vkg_st_count(st));
  int order_ok = 1, all_ok = 1;
  for (int i = 0; i < 14; i++) {
    order_ok &= vkg_st_name(st, i) && strcmp(vkg_st_name(st, i), names[i]) == 0;
    int k = vkg_st_find(st, names[i]);
    if (k < 0) {
      th_check(0, "tensor '%s' found", names[i]);
      all_ok = 0;
      continue;
    }
    int64_t sh[8];
    int nd = vkg_st_shape(st, k, sh);
    size_t bytes;
    const void *p = vkg_st_data(st, k, &bytes);
    int ok = strcmp(vkg_st_dtype(st, k), dts[i]) == 0 && nd == ndims[i] && bytes == sizes[i] && p != NULL &&
             (sizes[i] == 0 || memcmp(p, datas[i], sizes[i]) == 0);
    for (int j = 0; ok && j < nd; j++)
      ok = sh[j] == shapes[i][j];
    if (!ok)
      th_check(0, "tensor '%s' round trip: dtype %s ndim %d bytes %zu", names[i], vkg_st_dtype(st, k), nd, bytes);
    all_ok &= ok;
  }
  th_check(all_ok, "every tensor's dtype, shape and bytes survive the round trip");
  th_check(order_ok, "tensors are listed in insertion order");
  int aligned = 1;
  for (int i = 0; i < vkg_st_count(st); i++) {
    const char *dt = vkg_st_dtype(st, i);
    size_t esz = strstr(dt, "64") ? 8 : strstr(dt, "32") ? 4 : strstr(dt, "16") ? 2 : 1;
    size_t b;
    aligned &= (uintptr_t)vkg_st_data(st, i, &b) % esz == 0;
  }
  th_check(aligned, "every tensor's data is aligned to its element size");
  th_check(contains(vkg_st_metadata(st, "format"), "vkgen") && strcmp(vkg_st_metadata(st, "format"), "vkgen") == 0,
           "metadata 'format' replaced by the second add: %s", vkg_st_metadata(st, "format"));
  th_check(vkg_st_metadata(st, "note") &&
               strcmp(vkg_st_metadata(st, "note"),
                      "quotes \" backslash \\ newline \n tab \t unicode \xc3\xa9 \xe2\x82\xac") == 0,
           "metadata with escapes and UTF-8 round-trips");
  th_check(vkg_st_metadata(st, "absent") == NULL, "absent metadata is NULL");
  th_check(vkg_st_find(st, "nope") == -1 && vkg_st_name(st, 99) == NULL && vkg_st_shape(st, -1, NULL) == -1,
           "lookups out of range give -1 / NULL");

  /* Conversions to f32. */
  float got[8];
  int sh5[1] = {5}, sh222[3] = {2, 2, 2}, sh23[2] = {2, 3};
  float want_f16[5] = {1.0f, -2.0f, 0.333251953125f, 65504.0f, 5.9604644775390625e-8f};
  float want_bf16[8] = {1.0f, -2.0f, 3.140625f, 0.0f, -0.0f, INFINITY, 0.25f, 10.0f};
  if (th_ok(vkg_st_read_f32(st, "half", 1, sh5, got), "read_f32 F16")) th_close("F16 -> f32", got, want_f16, 5, 0, 0);
  if (th_ok(vkg_st_read_f32(st, "brain", 3, sh222, got), "read_f32 BF16"))
    th_check(memcmp(got, want_bf16, sizeof want_bf16) == 0, "BF16 -> f32 exact (incl. -0 and inf)");
  if (th_ok(vkg_st_read_f32(st, "layer.0.weight", 2, sh23, got), "read_f32 F32"))
    th_check(memcmp(got, f32, sizeof f32) == 0, "F32 read exact");
  if (th_ok(vkg_st_read_f32(st, "scalar", 0, NULL, got), "read_f32 0-dim")) th_check(got[0] == 0.5f, "0-dim value");
  int she[2] = {0, 4};
  th_ok(vkg_st_read_f32(st, "empty", 2, she, NULL), "read_f32 of an empty tensor");
  vkg_status s = vkg_st_read_f32(st, "i32", 2, (int[]){4, 1}, got);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), "'i32'") && contains(vkg_last_error(), "I32"),
           "read_f32 of I32 data is refused: %s", vkg_last_error());
  s = vkg_st_read_f32(st, "missing.weight", 1, sh5, got);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), path) && contains(vkg_last_error(), "missing.weight") &&
               contains(vkg_last_hint(), "'u8'"),
           "a missing tensor names the file and lists what is there: %s [hint: %s]", vkg_last_error(), vkg_last_hint());
  s = vkg_st_read_f32(st, "scalar", 1, (int[]){1}, got);
  th_check(s == VKG_ERR_SHAPE && contains(vkg_last_error(), "has shape (), expected (1,)"),
           "0-dim vs (1,) is a shape mismatch: %s", vkg_last_error());
  vkg_st_close(st);

  /* An empty writer writes a valid file of no tensors. */
  w = vkg_st_writer_create();
  th_ok(vkg_st_write(w, th_tmppath("none.safetensors")), "write a file with no tensors");
  vkg_st_writer_destroy(w);
  if (th_ok(vkg_st_open(th_tmppath("none.safetensors"), &st), "open a file with no tensors")) {
    th_check(vkg_st_count(st) == 0 && vkg_st_metadata(st, "x") == NULL, "no tensors, no metadata");
    vkg_st_close(st);
  }
}

// ---- known bytes ----

static void known_bytes(void) {
  /* Written by hand as Python's safetensors would: keys in any order, header padded with spaces. */
  const char *hdr = "{\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                    "\"__metadata__\":{\"format\":\"pt\"},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"c\":{\"dtype\":\"BF16\",\"shape\":[1,1],\"data_offsets\":[12,14]}}   ";
  unsigned char data[14] = {0x00,
                            0x00,
                            0xC0,
                            0x3F,
                            /* 1.5f */ 0x00,
                            0x00,
                            0x00,
                            0xC0, /* -2.0f */
                            0x00,
                            0x3C,
                            /* f16 1.0 */ 0x00,
                            0xC4,
                            /* f16 -4.0 */ 0x80,
                            0xBF /* bf16 -1.0 */};
  const char *path = st_file("known.safetensors", hdr, data, sizeof data, -1);
  vkg_st *st;
  if (!th_ok(vkg_st_open(path, &st), "open hand-written file")) return;
  float got[2];
  int a_ok = vkg_st_read_f32(st, "a", 1, (int[]){2}, got) == VKG_OK && got[0] == 1.5f && got[1] == -2.0f;
  int b_ok = vkg_st_read_f32(st, "b", 1, (int[]){2}, got) == VKG_OK && got[0] == 1.0f && got[1] == -4.0f;
  int c_ok = vkg_st_read_f32(st, "c", 2, (int[]){1, 1}, got) == VKG_OK && got[0] == -1.0f;
  th_check(a_ok && b_ok && c_ok, "known bytes decode: F32 [1.5, -2], F16 [1, -4], BF16 [[-1]]");
  th_check(vkg_st_count(st) == 3 && strcmp(vkg_st_name(st, 0), "b") == 0 && strcmp(vkg_st_name(st, 2), "c") == 0,
           "header order kept");
  th_check(vkg_st_metadata(st, "format") && strcmp(vkg_st_metadata(st, "format"), "pt") == 0,
           "metadata 'format' = 'pt'");
  vkg_st_close(st);
}

// ---- corruption ----

static void corruptions(void) {
  unsigned char z[64] = {0};
  /* Files shorter than 8 bytes. */
  for (int len = 0; len < 8; len += 3) {
    char name[32];
    snprintf(name, sizeof name, "short%d.safetensors", len);
    th_write_file(th_tmppath(name), "\x10\0\0\0\0\0", (size_t)len);
    expect_open_fail("file shorter than 8 bytes", th_tmppath(name), VKG_ERR_FORMAT, "shorter than the 8-byte");
  }
  expect_open_fail("header length past the end", st_file("hl1.safetensors", "{}", NULL, 0, 1000), VKG_ERR_FORMAT,
                   "exceeds");
  expect_open_fail("absurd header length", st_file("hl2.safetensors", "{}", NULL, 0, 1ll << 40), VKG_ERR_FORMAT,
                   "absurd");
  {
    unsigned char b[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
    th_write_file(th_tmppath("hl4.safetensors"), b, sizeof b);
    expect_open_fail("header length 2^64-1", th_tmppath("hl4.safetensors"), VKG_ERR_FORMAT, "absurd");
    unsigned char c[11] = {3, 0, 0, 0, 0, 0, 0, 0, '{', '}', 0};
    th_write_file(th_tmppath("nul.safetensors"), c, sizeof c);
    expect_open_fail("NUL inside the header", th_tmppath("nul.safetensors"), VKG_ERR_FORMAT, "stray bytes");
  }
  expect_open_fail("header is not JSON", st_file("j1.safetensors", "{not json}", NULL, 0, -1), VKG_ERR_FORMAT,
                   "not valid JSON");
  expect_open_fail("header is cut JSON", st_file("j2.safetensors", "{\"a\":{\"dtype\":\"F3", NULL, 0, -1),
                   VKG_ERR_FORMAT, "not valid JSON");
  expect_open_fail("header is an array", st_file("j3.safetensors", "[1, 2]", NULL, 0, -1), VKG_ERR_FORMAT,
                   "does not start with '{'");
  expect_open_fail("stray bytes after the JSON", st_file("j4.safetensors", "{}  x", NULL, 0, -1), VKG_ERR_FORMAT,
                   "stray bytes");
  expect_open_fail("empty header", st_file("j6.safetensors", "", NULL, 0, -1), VKG_ERR_FORMAT, "does not start");

#define ENTRY(body) "{\"t\":" body "}"
  struct {
    const char *label, *hdr;
    size_t ndata;
    const char *what;
  } cases[] = {
      {"entry not an object", ENTRY("[1]"), 0, "not a JSON object"},
      {"dtype missing", ENTRY("{\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "no \"dtype\""},
      {"dtype not a string", ENTRY("{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "no \"dtype\""},
      {"dtype unknown", ENTRY("{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "unknown dtype \"F17\""},
      {"dtype lowercase", ENTRY("{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "unknown dtype"},
      {"shape missing", ENTRY("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}"), 4, "no \"shape\""},
      {"shape not an array", ENTRY("{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}"), 4, "no \"shape\""},
      {"shape negative", ENTRY("{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}"), 4, "non-negative integer"},
      {"shape fractional", ENTRY("{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}"), 4,
       "non-negative integer"},
      {"shape string", ENTRY("{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}"), 4,
       "non-negative integer"},
      {"shape huge", ENTRY("{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}"), 4, "non-negative integer"},
      {"9 dims", ENTRY("{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}"), 1, "9 dims"},
      {"offsets missing", ENTRY("{\"dtype\":\"F32\",\"shape\":[1]}"), 4, "data_offsets"},
      {"offsets of 3", ENTRY("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}"), 4, "data_offsets"},
      {"offsets negative", ENTRY("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}"), 4, "data_offsets"},
      {"offsets reversed", ENTRY("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}"), 4, "begin is after end"},
      {"offsets past the end", ENTRY("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"), 4, "past the end"},
      {"size mismatch", ENTRY("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}"), 4, "needs 8 bytes"},
      {"numel overflow", ENTRY("{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}"), 8,
       "too large"},
      {"metadata not an object", "{\"__metadata__\":[\"a\"]}", 0, "\"__metadata__\" is not"},
      {"metadata value not a string", "{\"__metadata__\":{\"k\":1}}", 0, "metadata 'k' is not a string"},
      {"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "2 times"},
      {"metadata key twice", "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "metadata 'k' appears twice"},
      {"duplicate tensor",
       "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
       "\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
       2, "'t' appears twice"},
      {"overlap",
       "{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
       "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[2,5]}}",
       5, "overlap"},
      {"aliased ranges",
       "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
       "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
       4, "overlap"},
      {"hole",
       "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
       "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}",
       5, "belong to no tensor"},
      {"hole at the start", ENTRY("{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}"), 4, "bytes 0 to 2"},
      {"trailing bytes", ENTRY("{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}"), 5, "last 3 of 5"},
      {"data but no tensors", "{}", 3, "last 3 of 3"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "bad%zu.safetensors", i);
    expect_open_fail(cases[i].label, st_file(name, cases[i].hdr, z, cases[i].ndata, -1), VKG_ERR_FORMAT, cases[i].what);
  }
  /* Things that are allowed: empty tensors anywhere in the order, spaces after the JSON. */
  const char *okhdr = "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
                      "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                      "\"f\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}     ";
  vkg_st *st;
  if (th_ok(vkg_st_open(st_file("okempty.safetensors", okhdr, z, 4, -1), &st), "empty tensors at range ends are valid"))
    vkg_st_close(st);
  expect_open_fail("missing file", th_tmppath("does-not-exist.safetensors"), VKG_ERR_IO, "No such file");
  expect_open_fail("a directory", th_tmpdir(), VKG_ERR_IO, "directory");
}

/* Every prefix of a valid file fails cleanly; random byte flips never crash. */
static void truncation_and_fuzz(void) {
  vkg_st_writer *w = vkg_st_writer_create();
  float a[6] = {1, 2, 3, 4, 5, 6};
  int sa[2] = {2, 3};
  uint16_t h[3] = {1, 2, 3};
  int64_t sh[1] = {3};
  vkg_st_add_f32(w, "a", 2, sa, a);
  vkg_st_add(w, "h", "F16", 1, sh, h, sizeof h);
  vkg_st_add_metadata(w, "k", "v");
  const char *full = th_tmppath("full.safetensors");
  th_ok(vkg_st_write(w, full), "write file for truncation");
  vkg_st_writer_destroy(w);
  size_t n;
  unsigned char *raw = th_read_file(full, &n);
  const char *cut = th_tmppath("cut.safetensors");
  int all_fail = 1;
  for (size_t len = 0; len < n; len++) {
    th_write_file(cut, raw, len);
    vkg_st *st = NULL;
    vkg_status s = vkg_st_open(cut, &st);
    if (s != VKG_ERR_FORMAT || st || !strstr(vkg_last_error(), cut)) {
      all_fail = 0;
      fprintf(stderr, "prefix of %zu bytes: %s: %s\n", len, vkg_status_str(s), vkg_last_error());
      vkg_st_close(st);
    }
  }
  th_check(all_fail, "each of the %zu proper prefixes fails with VKG_ERR_FORMAT naming the file", n);
  /* One byte more than the file is trailing garbage. */
  unsigned char *longer = malloc(n + 1);
  memcpy(longer, raw, n);
  longer[n] = 0;
  th_write_file(cut, longer, n + 1);
  expect_open_fail("one trailing byte", cut, VKG_ERR_FORMAT, "belong to no tensor");
  free(longer);

  th_seed(7);
  int ok = 0, bad = 0, unnamed = 0;
  for (int it = 0; it < 3000; it++) {
    unsigned char *m = malloc(n);
    memcpy(m, raw, n);
    int flips = 1 + (int)th_uniform(0, 3);
    for (int f = 0; f < flips; f++) {
      size_t pos = (size_t)th_uniform(0, (float)n);
      if (pos >= n) pos = n - 1;
      m[pos] = (unsigned char)th_uniform(0, 256);
    }
    th_write_file(cut, m, n);
    free(m);
    vkg_st *st = NULL;
    vkg_status s = vkg_st_open(cut, &st);
    if (s == VKG_OK) {
      /* Whatever parsed must be safe to read through the accessors. */
      for (int i = 0; i < vkg_st_count(st); i++) {
        size_t b;
        const unsigned char *p = vkg_st_data(st, i, &b);
        volatile unsigned sum = 0;
        for (size_t k = 0; k < b; k++)
          sum += p[k];
      }
      vkg_st_close(st);
      ok++;
    } else {
      bad++;
      if (!strstr(vkg_last_error(), cut)) unnamed++;
    }
  }
  th_check(unnamed == 0 && bad > 0, "3000 random corruptions: %d opened, %d refused, all errors name the file", ok,
           bad);
  free(raw);
}

// ---- writer failures ----

static void writer_failures(void) {
  const char *path = th_tmppath("keep.safetensors");
  vkg_st_writer *w = vkg_st_writer_create();
  float v[2] = {1, 2};
  int s1[1] = {2};
  vkg_st_add_f32(w, "v", 1, s1, v);
  th_ok(vkg_st_write(w, path), "write the file to keep");
  size_t n0;
  unsigned char *orig = th_read_file(path, &n0);

  /* A second writer whose writes must fail, leaving the first file as it was. */
  vkg_st_writer *w2 = vkg_st_writer_create();
  float v2[3] = {7, 8, 9};
  int s3[1] = {3};
  vkg_st_add_f32(w2, "v", 1, s3, v2);

  /* The temporary file's name is taken by a directory: creation fails (works as root too). */
  char tmpname[300];
  snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", path, (long)getpid());
  mkdir(tmpname, 0755);
  vkg_status s = vkg_st_write(w2, path);
  size_t n1;
  unsigned char *now = th_read_file(path, &n1);
  th_check(s == VKG_ERR_IO && strstr(vkg_last_error(), path) && n1 == n0 && memcmp(now, orig, n0) == 0,
           "a failed write leaves the old file intact: %s [hint: %s]", vkg_last_error(), vkg_last_hint());
  free(now);
  rmdir(tmpname);

  /* A write that fails part-way (a file size limit stands in for a full disk): the temporary file
   * is removed and the old file kept. */
  {
    float *bigd = th_alloc(4096);
    vkg_st_writer *wb = vkg_st_writer_create();
    vkg_st_add_f32(wb, "big", 1, (int[]){4096}, bigd);
    free(bigd);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 1000;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    s = vkg_st_write(wb, path);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    struct stat tsb;
    now = th_read_file(path, &n1);
    th_check(s == VKG_ERR_IO && strstr(vkg_last_error(), path) && n1 == n0 && memcmp(now, orig, n0) == 0 &&
                 stat(tmpname, &tsb) != 0,
             "a write failing part-way removes the temporary file and keeps the old one: %s", vkg_last_error());
    free(now);
    vkg_st_writer_destroy(wb);
  }

  /* An unwritable directory (not testable as root, who may write anywhere). */
  const char *ro = th_tmppath("ro");
  mkdir(ro, 0755);
  char rofile[300];
  snprintf(rofile, sizeof rofile, "%s/w.safetensors", ro);
  th_ok(vkg_st_write(w, rofile), "write into the directory before making it read-only");
  chmod(ro, 0555);
  char probe[320];
  snprintf(probe, sizeof probe, "%s/probe", ro);
  int fd = open(probe, O_WRONLY | O_CREAT, 0644);
  if (fd >= 0) {
    close(fd);
    unlink(probe);
    printf("note: skipping the read-only directory check: this user can write to a 0555 directory (root)\n");
  } else {
    s = vkg_st_write(w2, rofile);
    now = th_read_file(rofile, &n1);
    th_check(s == VKG_ERR_IO && strstr(vkg_last_error(), rofile) && now && n1 == n0 && memcmp(now, orig, n0) == 0 &&
                 *vkg_last_hint(),
             "writing into a read-only directory fails, old file intact: %s [hint: %s]", vkg_last_error(),
             vkg_last_hint());
    free(now);
  }
  chmod(ro, 0755);

  /* The path is a directory. */
  s = vkg_st_write(w2, ro);
  struct stat sb;
  th_check(s == VKG_ERR_IO && strstr(vkg_last_error(), ro) && strstr(vkg_last_error(), "directory") &&
               stat(ro, &sb) == 0 && S_ISDIR(sb.st_mode),
           "writing to a directory path fails and leaves the directory: %s", vkg_last_error());
  /* A directory that does not exist. */
  s = vkg_st_write(w2, th_tmppath("no/such/dir/x.safetensors"));
  th_check(s == VKG_ERR_IO && strstr(vkg_last_error(), "no/such/dir") && *vkg_last_hint(),
           "a missing directory fails: %s [hint: %s]", vkg_last_error(), vkg_last_hint());

  /* Replacing works when nothing is in the way. */
  th_ok(vkg_st_write(w2, path), "overwrite the kept file");
  vkg_st *st;
  float got[3];
  if (th_ok(vkg_st_open(path, &st), "open the overwritten file")) {
    th_check(vkg_st_read_f32(st, "v", 1, s3, got) == VKG_OK && got[2] == 9, "the new contents are there");
    vkg_st_close(st);
  }
  free(orig);
  vkg_st_writer_destroy(w);
  vkg_st_writer_destroy(w2);

  /* Bad arguments to the writer. */
  w = vkg_st_writer_create();
  int64_t sh[9] = {2, 1, 1, 1, 1, 1, 1, 1, 1}, neg[1] = {-1};
  uint8_t b[2] = {1, 2};
  th_ok(vkg_st_add(w, "x", "U8", 1, sh, b, 2), "add x");
  th_check(vkg_st_add(w, "x", "U8", 1, sh, b, 2) == VKG_ERR_ARG && strstr(vkg_last_error(), "'x' is added twice"),
           "a duplicate name is refused: %s", vkg_last_error());
  th_check(vkg_st_add(w, "y", "Q4", 1, sh, b, 2) == VKG_ERR_ARG && strstr(vkg_last_error(), "Q4"),
           "an unknown dtype is refused: %s", vkg_last_error());
  th_check(vkg_st_add(w, "y", "F32", 1, sh, b, 2) == VKG_ERR_ARG && strstr(vkg_last_error(), "needs 8 bytes, 2 given"),
           "a byte count that does not match the shape is refused: %s", vkg_last_error());
  th_check(vkg_st_add(w, "y", "U8", 1, neg, b, 0) == VKG_ERR_ARG && strstr(vkg_last_error(), "negative"),
           "a negative dim is refused: %s", vkg_last_error());
  th_check(vkg_st_add(w, "y", "U8", 9, sh, b, 2) == VKG_ERR_ARG, "9 dims are refused: %s", vkg_last_error());
  th_check(vkg_st_add(w, "__metadata__", "U8", 1, sh, b, 2) == VKG_ERR_ARG, "the name __metadata__ is refused");
  th_check(vkg_st_add(w, "y", "U8", 1, sh, NULL, 2) == VKG_ERR_ARG, "NULL data is refused");
  th_check(vkg_st_add_f32(w, "y", 1, (int[]){-3}, NULL) == VKG_ERR_ARG, "add_f32 with a negative dim is refused: %s",
           vkg_last_error());
  th_ok(vkg_st_write(w, th_tmppath("after-errors.safetensors")), "the writer still works after refused adds");
  vkg_st_writer_destroy(w);
  if (th_ok(vkg_st_open(th_tmppath("after-errors.safetensors"), &st), "open after refused adds")) {
    th_check(vkg_st_count(st) == 1, "only the accepted tensor was written");
    vkg_st_close(st);
  }
}

static void shape_message(void) {
  vkg_st_writer *w = vkg_st_writer_create();
  int sh[2] = {6272, 64};
  float *z = th_alloc(6272 * 64);
  vkg_st_add_f32(w, "g.fc.weight", 2, sh, z);
  free(z);
  const char *path = th_tmppath("gan.safetensors");
  th_ok(vkg_st_write(w, path), "write gan.safetensors");
  vkg_st_writer_destroy(w);
  vkg_st *st;
  if (!th_ok(vkg_st_open(path, &st), "open gan.safetensors")) return;
  float *out = th_alloc(6272 * 100);
  vkg_status s = vkg_st_read_f32(st, "g.fc.weight", 2, (int[]){6272, 100}, out);
  char want[400];
  snprintf(want, sizeof want, "weights '%s': tensor 'g.fc.weight' has shape (6272, 64), expected (6272, 100)", path);
  th_check(s == VKG_ERR_SHAPE && strcmp(vkg_last_error(), want) == 0, "shape mismatch message: %s", vkg_last_error());
  s = vkg_st_read_f32(st, "g.fc.weight", 1, (int[]){401408}, out);
  th_check(s == VKG_ERR_SHAPE && strstr(vkg_last_error(), "expected (401408,)"), "rank mismatch message: %s",
           vkg_last_error());
  free(out);
  vkg_st_close(st);
}

// ---- device tensors ----

static void device_tensors(vkg_ctx *ctx) {
  int sh[2] = {3, 5};
  float ref[15];
  th_seed(3);
  th_fill(ref, 15, -4, 4);
  uint16_t h[15], bf[15];
  float ref_h[15], ref_bf[15];
  for (int i = 0; i < 15; i++) {
    /* Values exactly representable in both 16-bit formats after rounding here. */
    uint32_t u;
    memcpy(&u, &ref[i], 4);
    bf[i] = (uint16_t)(u >> 16);
    u &= 0xFFFF0000u;
    memcpy(&ref_bf[i], &u, 4);
  }
  vkg_tensor *tmp;
  /* f16 bits from the library's own conversion: upload f32, download raw. */
  if (vkg_ctx_has_fp16(ctx) && vkg_tensor_create(ctx, VKG_F16, 2, sh, &tmp) == VKG_OK) {
    vkg_tensor_upload_f32(tmp, ref, 15);
    vkg_tensor_download(tmp, h, sizeof h);
    vkg_tensor_download_f32(tmp, ref_h, 15);
    vkg_tensor_destroy(tmp);
  } else {
    for (int i = 0; i < 15; i++)
      h[i] = 0x3C00, ref_h[i] = 1.0f;
  }
  int32_t ids[15];
  int64_t ids64[15];
  for (int i = 0; i < 15; i++)
    ids[i] = (i * 7919) - 50000, ids64[i] = ids[i];

  vkg_st_writer *w = vkg_st_writer_create();
  int64_t s64[2] = {3, 5};
  vkg_st_add_f32(w, "f32", 2, sh, ref);
  vkg_st_add(w, "f16", "F16", 2, s64, h, sizeof h);
  vkg_st_add(w, "bf16", "BF16", 2, s64, bf, sizeof bf);
  vkg_st_add(w, "i32", "I32", 2, s64, ids, sizeof ids);
  vkg_st_add(w, "i64", "I64", 2, s64, ids64, sizeof ids64);
  int64_t big[1] = {5000000000ll};
  vkg_st_add(w, "i64big", "I64", 1, (int64_t[]){1}, big, 8);
  const char *path = th_tmppath("dev.safetensors");
  th_ok(vkg_st_write(w, path), "write device test file");
  vkg_st_writer_destroy(w);
  vkg_st *st;
  if (!th_ok(vkg_st_open(path, &st), "open device test file")) return;

  vkg_tensor *t;
  float got[15];
  th_ok(vkg_tensor_create(ctx, VKG_F32, 2, sh, &t), "create f32 tensor");
  struct {
    const char *name;
    const float *want;
  } f32cases[] = {{"f32", ref}, {"f16", ref_h}, {"bf16", ref_bf}};
  for (int c = 0; c < 3; c++) {
    char what[64];
    snprintf(what, sizeof what, "load %s into an f32 tensor", f32cases[c].name);
    if (th_ok(vkg_st_load_tensor(st, f32cases[c].name, t), what) && th_ok(vkg_tensor_download_f32(t, got, 15), what))
      th_close(what, got, f32cases[c].want, 15, 0, 0);
  }
  vkg_status s = vkg_st_load_tensor(st, "i32", t);
  th_check(s == VKG_ERR_FORMAT && strstr(vkg_last_error(), "'i32'"), "I32 data into an f32 tensor is refused: %s",
           vkg_last_error());
  vkg_tensor_destroy(t);

  int bad[2] = {5, 3};
  th_ok(vkg_tensor_create(ctx, VKG_F32, 2, bad, &t), "create (5, 3) tensor");
  s = vkg_st_load_tensor(st, "f32", t);
  char want[300];
  snprintf(want, sizeof want, "weights '%s': tensor 'f32' has shape (3, 5), expected (5, 3)", path);
  th_check(s == VKG_ERR_SHAPE && strcmp(vkg_last_error(), want) == 0, "load into the wrong shape: %s",
           vkg_last_error());
  vkg_tensor_destroy(t);

  th_ok(vkg_tensor_create(ctx, VKG_I32, 2, sh, &t), "create i32 tensor");
  int32_t gi[15];
  if (th_ok(vkg_st_load_tensor(st, "i32", t), "load I32") &&
      th_ok(vkg_tensor_download(t, gi, sizeof gi), "download i32"))
    th_check(memcmp(gi, ids, sizeof ids) == 0, "I32 loads exactly");
  memset(gi, 0, sizeof gi);
  if (th_ok(vkg_st_load_tensor(st, "i64", t), "load I64 into i32") &&
      th_ok(vkg_tensor_download(t, gi, sizeof gi), "download i32"))
    th_check(memcmp(gi, ids, sizeof ids) == 0, "I64 in range loads into i32 exactly");
  vkg_tensor_destroy(t);
  th_ok(vkg_tensor_create(ctx, VKG_I32, 1, (int[]){1}, &t), "create i32 (1,)");
  s = vkg_st_load_tensor(st, "i64big", t);
  th_check(s == VKG_ERR_FORMAT && strstr(vkg_last_error(), "5000000000"), "an I64 outside the i32 range is refused: %s",
           vkg_last_error());
  vkg_tensor_destroy(t);

  if (vkg_ctx_has_fp16(ctx)) {
    th_ok(vkg_tensor_create(ctx, VKG_F16, 2, sh, &t), "create f16 tensor");
    uint16_t gh[15];
    if (th_ok(vkg_st_load_tensor(st, "f16", t), "load F16 into f16") &&
        th_ok(vkg_tensor_download(t, gh, sizeof gh), "download f16"))
      th_check(memcmp(gh, h, sizeof h) == 0, "F16 loads into an f16 tensor bit-exactly");
    if (th_ok(vkg_st_load_tensor(st, "f32", t), "load F32 into f16") &&
        th_ok(vkg_tensor_download(t, gh, sizeof gh), "dl"))
      th_check(memcmp(gh, h, sizeof h) == 0, "F32 loads into f16 with the library's rounding");
    /* And back out through the writer: vkg_st_add_tensor downloads the raw f16 bytes. */
    w = vkg_st_writer_create();
    th_ok(vkg_st_add_tensor(w, "back", t), "add_tensor f16");
    th_ok(vkg_st_write(w, th_tmppath("back.safetensors")), "write add_tensor file");
    vkg_st_writer_destroy(w);
    vkg_st *b;
    if (th_ok(vkg_st_open(th_tmppath("back.safetensors"), &b), "open add_tensor file")) {
      size_t nb;
      const void *p = vkg_st_data(b, 0, &nb);
      th_check(strcmp(vkg_st_dtype(b, 0), "F16") == 0 && nb == sizeof h && memcmp(p, h, nb) == 0,
               "add_tensor of an f16 tensor writes its F16 bytes");
      vkg_st_close(b);
    }
    vkg_tensor_destroy(t);
  } else {
    printf("note: the device has no fp16 storage; skipping f16 tensor loads\n");
  }

  /* f32 tensor -> file -> f32 tensor. */
  th_ok(vkg_tensor_create(ctx, VKG_F32, 2, sh, &t), "create f32 tensor");
  vkg_tensor_upload_f32(t, ref, 15);
  w = vkg_st_writer_create();
  th_ok(vkg_st_add_tensor(w, "w", t), "add_tensor f32");
  th_ok(vkg_st_write(w, th_tmppath("w.safetensors")), "write add_tensor f32 file");
  vkg_st_writer_destroy(w);
  vkg_tensor_destroy(t);
  vkg_st *b;
  if (th_ok(vkg_st_open(th_tmppath("w.safetensors"), &b), "open add_tensor f32 file")) {
    th_ok(vkg_tensor_create(ctx, VKG_F32, 2, sh, &t), "create f32 tensor");
    if (th_ok(vkg_st_load_tensor(b, "w", t), "load back") && th_ok(vkg_tensor_download_f32(t, got, 15), "download"))
      th_close("f32 tensor -> file -> f32 tensor", got, ref, 15, 0, 0);
    vkg_tensor_destroy(t);
    vkg_st_close(b);
  }
  vkg_st_close(st);
}

// ---- half precision as PyTorch writes it (tests/fixtures/half_ref.safetensors, tools/half_fixture.py) ----

/* Reads F16 (BF16) tensor `half` of the fixture to f32 two ways (vkg_st_read_f32 and a device
 * tensor) and compares with torch's f32 bit for bit; then writes the f32 `src` back as `dtype` and
 * compares the bytes with torch's conversion. */
static void half_vs_torch(vkg_ctx *ctx, const vkg_st *st, const char *src, const char *half, const char *as_f32,
                          const char *dtype) {
  int i_src = vkg_st_find(st, src), i_half = vkg_st_find(st, half), i_f32 = vkg_st_find(st, as_f32);
  if (!th_check(i_src >= 0 && i_half >= 0 && i_f32 >= 0, "fixture lacks %s, %s or %s", src, half, as_f32)) return;
  th_check(!strcmp(vkg_st_dtype(st, i_half), dtype), "%s is %s, expected %s", half, vkg_st_dtype(st, i_half), dtype);
  int64_t sh64[8];
  vkg_st_shape(st, i_src, sh64);
  int n = (int)sh64[0];
  size_t bytes;
  const float *want = vkg_st_data(st, i_f32, &bytes);
  float *got = calloc((size_t)n, 4), *dev = calloc((size_t)n, 4), *srcv = calloc((size_t)n, 4);
  th_ok(vkg_st_read_f32(st, half, 1, &n, got), half);
  int bad = 0;
  for (int i = 0; i < n && bad < 3; i++)
    if (memcmp(&got[i], &want[i], 4))
      bad += !th_check(0, "%s element %d reads as %.9g, torch gives %.9g", half, i, (double)got[i], (double)want[i]);
  vkg_tensor *t = NULL;
  th_ok(vkg_tensor_create(ctx, VKG_F32, 1, &n, &t), "create f32 tensor");
  th_ok(vkg_st_load_tensor(st, half, t), half);
  th_ok(vkg_tensor_download_f32(t, dev, (size_t)n), "download");
  th_check(!memcmp(dev, want, (size_t)n * 4), "%s loaded into an f32 tensor equals torch's f32 bit for bit", half);
  /* Writing: the f32 source stored as dtype must have torch's bytes. */
  th_ok(vkg_st_read_f32(st, src, 1, &n, srcv), src);
  th_ok(vkg_tensor_upload_f32(t, srcv, (size_t)n), "upload");
  vkg_st_writer *w = vkg_st_writer_create();
  th_ok(vkg_st_add_tensor_as(w, "x", t, dtype), "add_tensor_as");
  const char *path = th_tmppath("half_written.safetensors");
  th_ok(vkg_st_write(w, path), "write");
  vkg_st_writer_destroy(w);
  vkg_st *back = NULL;
  if (th_ok(vkg_st_open(path, &back), "reopen")) {
    size_t nb, nw;
    const unsigned char *b = vkg_st_data(back, 0, &nb), *r = vkg_st_data(st, i_half, &nw);
    th_check(!strcmp(vkg_st_dtype(back, 0), dtype), "written as %s, expected %s", vkg_st_dtype(back, 0), dtype);
    th_check(nb == nw, "written %zu bytes, torch %zu", nb, nw);
    bad = 0;
    for (size_t i = 0; i + 1 < nb && i + 1 < nw && bad < 3; i += 2)
      if (b[i] != r[i] || b[i + 1] != r[i + 1])
        bad += !th_check(0, "%s of %.9g written as 0x%02x%02x, torch wrote 0x%02x%02x", dtype, (double)srcv[i / 2],
                         b[i + 1], b[i], r[i + 1], r[i]);
    vkg_st_close(back);
  }
  vkg_tensor_destroy(t);
  free(got), free(dev), free(srcv);
}

static void half_precision(vkg_ctx *ctx) {
  vkg_st *st = NULL;
  if (!th_ok(vkg_st_open(FIXTURE_DIR "/half_ref.safetensors", &st), "open half_ref.safetensors")) return;
  half_vs_torch(ctx, st, "src16", "src16.f16", "src16.f16.f32", "F16");
  half_vs_torch(ctx, st, "srcbf", "srcbf.bf16", "srcbf.bf16.f32", "BF16");
  /* Non-finite weights are refused on load, naming the tensor. */
  int three = 3;
  vkg_tensor *t = NULL;
  th_ok(vkg_tensor_create(ctx, VKG_F32, 1, &three, &t), "create");
  th_check(vkg_st_load_tensor(st, "inf.f16", t) == VKG_ERR_NUMERIC && contains(vkg_last_error(), "inf.f16") &&
               contains(vkg_last_error(), "infinity"),
           "an F16 infinity is refused: %s", vkg_last_error());
  th_check(vkg_st_load_tensor(st, "nan.bf16", t) == VKG_ERR_NUMERIC && contains(vkg_last_error(), "NaN"),
           "a BF16 NaN is refused: %s", vkg_last_error());
  /* The writer refuses what the dtype cannot hold: beyond F16's range, NaN, infinity; BF16 takes 1e5. */
  float big[3] = {1, 65520.0f, 2}, nan3[3] = {1, 2, NAN};
  vkg_st_writer *w = vkg_st_writer_create();
  vkg_tensor_upload_f32(t, big, 3);
  th_check(vkg_st_add_tensor_as(w, "big", t, "F16") == VKG_ERR_NUMERIC && contains(vkg_last_error(), "'big'") &&
               contains(vkg_last_error(), "element 1") && contains(vkg_last_hint(), "bf16"),
           "65520 as F16 is refused: %s", vkg_last_error());
  th_ok(vkg_st_add_tensor_as(w, "big", t, "BF16"), "65520 as BF16");
  vkg_tensor_upload_f32(t, nan3, 3);
  th_check(vkg_st_add_tensor_as(w, "nan", t, "BF16") == VKG_ERR_NUMERIC && contains(vkg_last_error(), "NaN"),
           "NaN as BF16 is refused: %s", vkg_last_error());
  th_check(vkg_st_add_tensor_as(w, "nan", t, "I32") == VKG_ERR_ARG, "I32 is not a float dtype");
  vkg_st_writer_destroy(w);
  vkg_tensor_destroy(t);
  vkg_st_close(st);
}

int main(void) {
  round_trip();
  known_bytes();
  corruptions();
  truncation_and_fuzz();
  writer_failures();
  shape_message();
  vkg_ctx *ctx = th_ctx();
  device_tensors(ctx);
  half_precision(ctx);
  return th_finish(ctx);
}
