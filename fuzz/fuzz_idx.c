/* Fuzz target: IDX files (src/io/dataset.c), plain or gzip-compressed, alone through vkg_idx_load and
 * in pairs as a Fashion-MNIST split. The first input byte picks the mode:
 *   even: the rest is one IDX file;
 *   odd:  a 4-byte little-endian length L, L bytes of the images file, then the labels file. */
#include "fuzz.h" /* first: it sets _GNU_SOURCE */

#include <sys/stat.h>
#include "vkgen.h"

static void one_file(const uint8_t *data, size_t size) {
  char path[64];
  int fd = fuzz_memfd(data, size, path, sizeof path);
  if (fd < 0) return;
  int nd = -1, dims[4] = {-1, -1, -1, -1};
  uint8_t *buf = NULL;
  vkg_status s = vkg_idx_load(path, &nd, dims, &buf);
  if (s) {
    FUZZ_ASSERT(!buf && strstr(vkg_last_error(), path));
  } else {
    FUZZ_ASSERT(nd >= 1 && nd <= 4);
    size_t n = 1;
    for (int i = 0; i < nd; i++) {
      FUZZ_ASSERT(dims[i] >= 0);
      n *= (size_t)dims[i];
    }
    /* The data was all in the input, or inflated from it. */
    if (n) (void)(((volatile uint8_t *)buf)[0] + ((volatile uint8_t *)buf)[n - 1]);
    free(buf);
  }
  close(fd);
}

static void write_file(const char *dir, const char *name, const uint8_t *data, size_t n) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  FUZZ_ASSERT(f);
  FUZZ_ASSERT(fwrite(data, 1, n, f) == n || n == 0);
  fclose(f);
}

static void fashion_pair(const uint8_t *data, size_t size) {
  if (size < 4) return;
  size_t l = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
  data += 4, size -= 4;
  if (l > size) l = size;
  /* The uncompressed names: the loader falls back to them when the .gz files are absent. */
  const char *dir = fuzz_tmpdir();
  write_file(dir, "t10k-images-idx3-ubyte", data, l);
  write_file(dir, "t10k-labels-idx1-ubyte", data + l, size - l);
  struct vkg_images im;
  vkg_status s = vkg_fashion_mnist_load(dir, "test", &im);
  if (s) {
    FUZZ_ASSERT(!im.pixels && !im.labels && *vkg_last_error());
    return;
  }
  FUZZ_ASSERT(im.c == 1 && im.h == 28 && im.w == 28 && im.n >= 0);
  for (size_t i = 0; i < (size_t)im.n * 784; i++)
    FUZZ_ASSERT(im.pixels[i] >= 0.0f && im.pixels[i] <= 1.0f);
  for (int i = 0; i < im.n; i++)
    FUZZ_ASSERT(im.labels[i] < 10);
  vkg_images_free(&im);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  if (data[0] & 1)
    fashion_pair(data + 1, size - 1);
  else
    one_file(data + 1, size - 1);
  return 0;
}
