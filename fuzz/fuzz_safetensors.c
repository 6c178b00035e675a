/* Fuzz target: the safetensors reader (vkg_st_open and every accessor), and a write/read round trip
 * of whatever it accepts. The reader must turn any bytes into either a valid file or an error that
 * names the file; what it accepts must survive the writer unchanged. */
#include "fuzz.h" /* first: it sets _GNU_SOURCE */

#include <limits.h>
#include "vkgen.h"

#define MAX_CONVERT ((size_t)1 << 20) /* values converted to f32 per tensor: more is only slower */

/* Converts tensor i to f32 with its own shape, and checks a wrong shape is refused. */
static void read_as_f32(const vkg_st *st, int i) {
  int64_t sh[8];
  int nd = vkg_st_shape(st, i, sh);
  const char *dt = vkg_st_dtype(st, i);
  int shape[8];
  size_t n = 1;
  for (int k = 0; k < nd; k++) {
    if (sh[k] > INT_MAX) return;
    shape[k] = (int)sh[k];
    n *= (size_t)sh[k];
  }
  if (n > MAX_CONVERT) return;
  float *out = malloc(n * sizeof *out + 1);
  FUZZ_ASSERT(out);
  vkg_status s = vkg_st_read_f32(st, vkg_st_name(st, i), nd, shape, out);
  int is_float = !strcmp(dt, "F32") || !strcmp(dt, "F16") || !strcmp(dt, "BF16");
  FUZZ_ASSERT(is_float ? s == VKG_OK : s == VKG_ERR_FORMAT);
  if (nd > 0) {
    shape[0] = shape[0] == INT_MAX ? 1 : shape[0] + 1;
    FUZZ_ASSERT(vkg_st_read_f32(st, vkg_st_name(st, i), nd, shape, out) != VKG_OK);
  }
  free(out);
}

/* Writes every tensor of st to a new file and checks it reads back the same. */
static void round_trip(const vkg_st *st) {
  vkg_st_writer *w = vkg_st_writer_create();
  FUZZ_ASSERT(w);
  int n = vkg_st_count(st);
  for (int i = 0; i < n; i++) {
    int64_t sh[8];
    int nd = vkg_st_shape(st, i, sh);
    size_t bytes;
    const void *data = vkg_st_data(st, i, &bytes);
    /* The writer refuses some names the reader takes (""), which is fine: then there is no trip. */
    if (vkg_st_add(w, vkg_st_name(st, i), vkg_st_dtype(st, i), nd, sh, data, bytes)) {
      vkg_st_writer_destroy(w);
      return;
    }
  }
  const char *meta = vkg_st_metadata(st, "format");
  if (meta) FUZZ_ASSERT(vkg_st_add_metadata(w, "format", meta) == VKG_OK);
  char path[128];
  snprintf(path, sizeof path, "%s/trip.safetensors", fuzz_tmpdir());
  FUZZ_ASSERT(vkg_st_write(w, path) == VKG_OK);
  vkg_st_writer_destroy(w);
  vkg_st *back;
  vkg_status s = vkg_st_open(path, &back);
  if (s) fprintf(stderr, "fuzz: %s\n", vkg_last_error());
  FUZZ_ASSERT(s == VKG_OK);
  FUZZ_ASSERT(vkg_st_count(back) == n);
  for (int i = 0; i < n; i++) {
    int j = vkg_st_find(back, vkg_st_name(st, i));
    FUZZ_ASSERT(j >= 0);
    FUZZ_ASSERT(!strcmp(vkg_st_dtype(back, j), vkg_st_dtype(st, i)));
    int64_t a[8], b[8];
    int na = vkg_st_shape(st, i, a), nb = vkg_st_shape(back, j, b);
    FUZZ_ASSERT(na == nb && !memcmp(a, b, sizeof a[0] * (size_t)na));
    size_t ba, bb;
    const void *da = vkg_st_data(st, i, &ba), *db = vkg_st_data(back, j, &bb);
    FUZZ_ASSERT(ba == bb && (ba == 0 || !memcmp(da, db, ba)));
  }
  const char *meta2 = vkg_st_metadata(back, "format");
  FUZZ_ASSERT(!meta == !meta2 && (!meta || !strcmp(meta, meta2)));
  vkg_st_close(back);
  unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  int fd = fuzz_memfd(data, size, path, sizeof path);
  if (fd < 0) return 0;
  vkg_st *st = NULL;
  vkg_status s = vkg_st_open(path, &st);
  if (s) {
    /* Every failure says which file, so a user with several weight files knows which is bad. */
    FUZZ_ASSERT(!st && strstr(vkg_last_error(), path));
  } else {
    int n = vkg_st_count(st);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
      const char *name = vkg_st_name(st, i);
      FUZZ_ASSERT(name && vkg_st_find(st, name) == i);
      int64_t sh[8];
      int nd = vkg_st_shape(st, i, sh);
      FUZZ_ASSERT(nd >= 0 && nd <= 8);
      size_t bytes;
      const volatile uint8_t *p = vkg_st_data(st, i, &bytes);
      total += bytes;
      /* Touch the first and last bytes, so that ASan checks the range is inside the buffer. */
      if (bytes) (void)(p[0] + p[bytes - 1]);
      read_as_f32(st, i);
    }
    FUZZ_ASSERT(total <= size);
    (void)vkg_st_find(st, "");
    (void)vkg_st_metadata(st, "format");
    (void)vkg_st_metadata(st, "");
    round_trip(st);
    vkg_st_close(st);
  }
  close(fd);
  return 0;
}
