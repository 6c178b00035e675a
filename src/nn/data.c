/* Image datasets (nn/data.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "nn/data.h"
#include "nn/nn.h"

static int exists(const char *dir, const char *file) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  return access(path, F_OK) == 0;
}

int nn_data_is_fashion(const char *dir) {
  if (!dir) return 1;
  static const char *names[] = {"train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz",
                                "t10k-images-idx3-ubyte"};
  for (int i = 0; i < 4; i++)
    if (exists(dir, names[i])) return 1;
  return 0;
}

/* Copies the images of `all` whose index i satisfies (i % 10 == 9) == want_test into out. */
static vkg_status split_images(const struct vkg_images *all, int want_test, struct vkg_images *out) {
  size_t P = (size_t)all->c * all->h * all->w;
  int n = 0;
  for (int i = 0; i < all->n; i++)
    n += (i % 10 == 9) == want_test;
  if (n == 0) { /* too few images to hold any out: both sets are every image */
    n = all->n;
    want_test = -1;
  }
  out->pixels = malloc(sizeof *out->pixels * P * (size_t)n + 1);
  if (!out->pixels) return vkg__fail(VKG_ERR_OOM, "out of host memory for %d images", n);
  out->n = n, out->c = all->c, out->h = all->h, out->w = all->w;
  int k = 0;
  for (int i = 0; i < all->n; i++)
    if (want_test < 0 || (i % 10 == 9) == want_test)
      memcpy(out->pixels + P * (size_t)k++, all->pixels + P * (size_t)i, P * sizeof(float));
  return VKG_OK;
}

static vkg_status synthetic_images(int n, int channels, int size, uint64_t seed, struct vkg_images *im) {
  size_t px = (size_t)channels * size * size;
  im->n = n, im->c = channels, im->h = im->w = size;
  im->pixels = malloc(sizeof *im->pixels * (size_t)n * px);
  im->labels = malloc((size_t)n);
  if (!im->pixels || !im->labels) return vkg__fail(VKG_ERR_OOM, "out of host memory for %d images", n);
  for (size_t i = 0; i < (size_t)n * px; i++)
    im->pixels[i] = (float)(nn_mix(seed, i) >> 40) / (float)(1 << 24);
  for (int i = 0; i < n; i++)
    im->labels[i] = (uint8_t)(i % 10);
  return VKG_OK;
}

vkg_status nn_image_data_load(const char *dir, int size, int channels, int synthetic, uint64_t seed,
                              struct vkg_images *train, struct vkg_images *test) {
  if (train) memset(train, 0, sizeof *train);
  if (test) memset(test, 0, sizeof *test);
  if (!train && !test) return vkg__fail(VKG_ERR_ARG, "nn_image_data_load: neither a training nor a test set asked for");
  vkg_status s = VKG_OK;
  if (synthetic > 0) {
    if (train) s = synthetic_images(synthetic, channels, size, seed, train);
    if (!s && test) s = synthetic_images(synthetic, channels, size, seed, test);
  } else if (nn_data_is_fashion(dir)) {
    if (train) s = vkg_fashion_mnist_load(dir, "train", train);
    if (!s && test) s = vkg_fashion_mnist_load(dir, "test", test);
  } else {
    struct vkg_images all = {0};
    s = vkg_image_folder_load(dir, size, channels, &all);
    if (!s && all.n < 1) s = vkg__fail(VKG_ERR_IO, "no images in '%s'", dir);
    /* Every 10th image is held out as the test set, so train and test cover the folder evenly
     * whatever order its files come in. */
    if (!s && !test) {
      *train = all;
      all = (struct vkg_images){0};
    }
    if (!s && test && train) s = split_images(&all, 0, train);
    if (!s && test) s = split_images(&all, 1, test);
    vkg_images_free(&all);
  }
  if (s) {
    if (train) vkg_images_free(train);
    if (test) vkg_images_free(test);
  }
  return s;
}
