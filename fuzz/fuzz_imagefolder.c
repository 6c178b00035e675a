/* Fuzz target: image folders (src/io/imagefolder.c and the PNG/JPEG checks and decoders of
 * src/io/imagefile.c). The first input byte picks the loader's output size (28, 32 or 64), its
 * channels (1 or 3) and the file's extension; the rest is the one image file of a private folder.
 * Checked besides "no crash, leak or hang": an error names the file; a loaded image has finite
 * pixels in [0, 1]; loading the same file twice gives the same pixels (nothing read uninitialized). */
#include "fuzz.h" /* first: it sets _GNU_SOURCE */

#include <math.h>
#include "vkgen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const int sizes[4] = {28, 32, 64, 28};
  static const char *names[4] = {"img.png", "img.jpg", "img.JPEG", "img.Png"};
  int sz = sizes[data[0] & 3], ch = data[0] & 4 ? 3 : 1;
  const char *dir = fuzz_tmpdir();
  char path[256];
  /* A folder per process holding only this input's file. */
  for (int k = 0; k < 4; k++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[k]);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/%s", dir, names[(data[0] >> 3) & 3]);
  FILE *f = fopen(path, "wb");
  FUZZ_ASSERT(f);
  FUZZ_ASSERT(size == 1 || fwrite(data + 1, 1, size - 1, f) == size - 1);
  fclose(f);

  struct vkg_images a, b;
  vkg_status s = vkg_image_folder_load(dir, sz, ch, &a);
  if (s) {
    FUZZ_ASSERT(!a.pixels && strstr(vkg_last_error(), path));
    return 0;
  }
  FUZZ_ASSERT(a.n == 1 && a.c == ch && a.h == sz && a.w == sz && a.pixels);
  size_t n = (size_t)ch * sz * sz;
  for (size_t i = 0; i < n; i++)
    FUZZ_ASSERT(isfinite(a.pixels[i]) && a.pixels[i] >= 0.0f && a.pixels[i] <= 1.0f);
  FUZZ_ASSERT(vkg_image_folder_load(dir, sz, ch, &b) == VKG_OK);
  FUZZ_ASSERT(!memcmp(a.pixels, b.pixels, sizeof *a.pixels * n));
  vkg_images_free(&a);
  vkg_images_free(&b);
  return 0;
}
