/* PNG grids of images, written through stb_image_write into memory and then atomically to disk. */
#include <stdlib.h>
#include <string.h>

#include <stb_image_write.h>

#include "internal.h"

struct mem {
  unsigned char *p;
  size_t n, cap;
  int oom;
};

static void sink(void *ctx, void *data, int size) {
  struct mem *m = ctx;
  if (m->oom) return;
  if (m->n + (size_t)size > m->cap) {
    size_t cap = 2 * (m->n + (size_t)size);
    unsigned char *p = realloc(m->p, cap);
    if (!p) {
      m->oom = 1;
      return;
    }
    m->p = p, m->cap = cap;
  }
  memcpy(m->p + m->n, data, (size_t)size);
  m->n += (size_t)size;
}

vkg_status vkg_png_grid(const char *path, const float *pixels, int n, int c, int h, int w, int cols) {
  enum { GAP = 2 };
  if (n < 1 || (c != 1 && c != 3) || h < 1 || w < 1 || cols < 1)
    return vkg__fail(VKG_ERR_ARG, "vkg_png_grid: bad grid (%d images, %d channels, %dx%d, %d columns)", n, c, h, w,
                     cols);
  if (cols > n) cols = n;
  int rows = (n + cols - 1) / cols;
  int W = cols * w + (cols + 1) * GAP, H = rows * h + (rows + 1) * GAP;
  if ((size_t)W * (size_t)H > ((size_t)1 << 28))
    return vkg__fail(VKG_ERR_ARG, "a grid of %d images of %dx%d is too large for one PNG", n, h, w);
  unsigned char *img = malloc((size_t)W * H * 3);
  if (!img) return vkg__fail(VKG_ERR_OOM, "out of host memory for a %dx%d image", W, H);
  memset(img, 40, (size_t)W * H * 3); /* dark grey gaps */
  for (int k = 0; k < n; k++) {
    int x0 = GAP + (k % cols) * (w + GAP), y0 = GAP + (k / cols) * (h + GAP);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        for (int ch = 0; ch < 3; ch++) {
          float v = pixels[(((size_t)k * c + (c == 3 ? ch : 0)) * h + y) * w + x];
          v = v != v ? 0 : v < 0 ? 0 : v > 1 ? 1 : v; /* NaN shows black */
          img[((size_t)(y0 + y) * W + x0 + x) * 3 + ch] = (unsigned char)(v * 255.0f + 0.5f);
        }
  }
  struct mem m = {0};
  int ok = stbi_write_png_to_func(sink, &m, W, H, 3, img, W * 3);
  free(img);
  vkg_status s =
      ok && !m.oom ? vkg__write_file(path, m.p, m.n) : vkg__fail(VKG_ERR_OOM, "encoding the PNG for '%s' failed", path);
  free(m.p);
  return s;
}
