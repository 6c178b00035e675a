/* Image folders: PNGs (and a JPEG) that the test writes itself, loaded with vkg_image_folder_load and
 * checked against plain-C expectations: alpha over white, center crops of wide and tall images,
 * area-average shrinking (integer and fractional ratios) and bilinear growing computed directly in 2-D
 * (not separably, as the loader does), luminance and gray-to-RGB, sorted names with case-insensitive
 * extensions, ignored files, and the errors: corrupt and truncated files, empty and missing folders,
 * bad sizes. Host only: no device needed. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image_write.h> /* the tests lack stb's pkg-config include path */

#include "harness.h"

static char root[64];
static int ndirs;

static int contains(const char *s, const char *sub) { return s && sub && strstr(s, sub) != NULL; }

/* A fresh empty folder under the test's temporary root. */
static const char *new_dir(void) {
  static char buf[8][128];
  char *p = buf[ndirs % 8];
  snprintf(p, 128, "%s/d%d", root, ndirs++);
  if (mkdir(p, 0755)) {
    perror(p);
    exit(1);
  }
  return p;
}

static void write_png(const char *dir, const char *name, int w, int h, int comp, const unsigned char *px) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (!stbi_write_png(path, w, h, comp, px, w * comp)) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
}

static void write_bytes(const char *dir, const char *name, const void *data, size_t n) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
}

/* A PNG encoded into memory. */
struct mem {
  unsigned char *p;
  size_t n;
};
static void to_mem(void *ctx, void *data, int size) {
  struct mem *m = ctx;
  m->p = realloc(m->p, m->n + (size_t)size);
  memcpy(m->p + m->n, data, (size_t)size);
  m->n += (size_t)size;
}

/* Pseudo-random bytes (an LCG), so images have detail at every pixel. */
static unsigned char *noise(size_t n, unsigned seed) {
  unsigned char *p = malloc(n);
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = (unsigned char)(seed >> 24);
  }
  return p;
}

/* Loads dir expecting success and n images of (c, size, size). */
static int load_ok(const char *what, const char *dir, int size, int c, int n, struct vkg_images *im) {
  vkg_status s = vkg_image_folder_load(dir, size, c, im);
  if (!th_ok(s, what)) return 0;
  return th_check(im->n == n && im->c == c && im->h == size && im->w == size && im->pixels && !im->labels,
                  "%s: got (%d, %d, %d, %d), expected (%d, %d, %d, %d) without labels", what, im->n, im->c, im->h,
                  im->w, n, c, size, size);
}

static void close_d(const char *what, const float *got, const double *ref, size_t n, float atol) {
  float *r = th_alloc(n);
  for (size_t i = 0; i < n; i++)
    r[i] = (float)ref[i];
  th_close(what, got, r, n, atol, 0);
  free(r);
}

// ---- plain-C expectations ----

/* Area average of src (n, n) to (m, m), m < n, integrating the 2-D overlap of each source pixel
 * with the output pixel's footprint directly. */
static void ref_area(const double *src, int n, int m, double *out) {
  double s = (double)n / m;
  for (int oy = 0; oy < m; oy++)
    for (int ox = 0; ox < m; ox++) {
      double y0 = oy * s, y1 = (oy + 1) * s, x0 = ox * s, x1 = (ox + 1) * s, acc = 0;
      for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
          double oy_ = fmin(y + 1, y1) - fmax(y, y0), ox_ = fmin(x + 1, x1) - fmax(x, x0);
          if (oy_ > 0 && ox_ > 0) acc += oy_ * ox_ * src[y * n + x];
        }
      out[oy * m + ox] = acc / (s * s);
    }
}

/* Bilinear of src (n, n) to (m, m), m >= n, half-pixel centers clamped at the border. */
static void ref_bilinear(const double *src, int n, int m, double *out) {
  double s = (double)n / m;
  for (int oy = 0; oy < m; oy++)
    for (int ox = 0; ox < m; ox++) {
      double y = fmin(fmax((oy + 0.5) * s - 0.5, 0), n - 1), x = fmin(fmax((ox + 0.5) * s - 0.5, 0), n - 1);
      int y0 = (int)y, x0 = (int)x, y1 = y0 + 1 < n ? y0 + 1 : y0, x1 = x0 + 1 < n ? x0 + 1 : x0;
      double fy = y - y0, fx = x - x0;
      out[oy * m + ox] = (1 - fy) * ((1 - fx) * src[y0 * n + x0] + fx * src[y0 * n + x1]) +
                         fy * ((1 - fx) * src[y1 * n + x0] + fx * src[y1 * n + x1]);
    }
}

// ---- cases ----

/* RGBA 28x28 with every kind of alpha: composited over white, no resize. */
static void test_alpha(void) {
  const char *dir = new_dir();
  unsigned char *px = noise(28 * 28 * 4, 7);
  for (int i = 0; i < 28; i++)
    px[(i * 28 + i) * 4 + 3] = 0, px[(i * 28 + 27 - i) * 4 + 3] = 255; /* extremes */
  write_png(dir, "rgba.png", 28, 28, 4, px);
  struct vkg_images im;
  if (load_ok("alpha RGB", dir, 28, 3, 1, &im)) {
    double *ref = malloc(sizeof *ref * 3 * 784);
    for (int k = 0; k < 784; k++)
      for (int ch = 0; ch < 3; ch++) {
        double a = px[k * 4 + 3] / 255.0;
        ref[ch * 784 + k] = px[k * 4 + ch] / 255.0 * a + (1 - a);
      }
    close_d("RGBA over white (3 channels)", im.pixels, ref, 3 * 784, 1e-6f);
    th_check(im.pixels[0] == 1.0f && im.pixels[784] == 1.0f, "a fully transparent pixel is white (got %g, %g)",
             im.pixels[0], im.pixels[784]);
    vkg_images_free(&im);
    if (load_ok("alpha gray", dir, 28, 1, 1, &im)) {
      double *g = malloc(sizeof *g * 784);
      for (int k = 0; k < 784; k++)
        g[k] = 0.299 * ref[k] + 0.587 * ref[784 + k] + 0.114 * ref[2 * 784 + k];
      close_d("RGBA over white, luminance", im.pixels, g, 784, 1e-6f);
      free(g);
      vkg_images_free(&im);
    }
    free(ref);
  }
  free(px);
}

/* A wide (40x28) and a tall (28x35) gray image: the centered 28x28 square is kept unresized. */
static void test_crop(void) {
  const char *dir = new_dir();
  unsigned char *wide = noise(40 * 28, 11), *tall = noise(28 * 35, 12);
  write_png(dir, "1wide.png", 40, 28, 1, wide);
  write_png(dir, "2tall.png", 28, 35, 1, tall);
  struct vkg_images im;
  if (load_ok("crop", dir, 28, 1, 2, &im)) {
    double ref[2 * 784];
    for (int y = 0; y < 28; y++)
      for (int x = 0; x < 28; x++) {
        ref[y * 28 + x] = wide[y * 40 + x + 6] / 255.0;         /* (40 - 28) / 2 = 6 columns cut left */
        ref[784 + y * 28 + x] = tall[(y + 3) * 28 + x] / 255.0; /* (35 - 28) / 2 = 3 rows cut on top */
      }
    close_d("center crop of a wide and a tall image", im.pixels, ref, 2 * 784, 1e-6f);
    vkg_images_free(&im);
  }
  free(wide);
  free(tall);
}

/* Gray square images of side n resized to m: area when shrinking, bilinear when growing, each checked
 * against the direct 2-D expectation. A non-square source is cropped first (checked above). */
static void test_resize(int n, int m) {
  const char *dir = new_dir();
  unsigned char *px = noise((size_t)n * n, (unsigned)(n * 100 + m));
  write_png(dir, "img.png", n, n, 1, px);
  struct vkg_images im;
  char what[96];
  snprintf(what, sizeof what, "resize %d -> %d (%s)", n, m, m < n ? "area" : "bilinear");
  if (load_ok(what, dir, m, 1, 1, &im)) {
    double *src = malloc(sizeof *src * (size_t)n * n), *ref = malloc(sizeof *ref * (size_t)m * m);
    for (int i = 0; i < n * n; i++)
      src[i] = px[i] / 255.0;
    if (m < n)
      ref_area(src, n, m, ref);
    else
      ref_bilinear(src, n, m, ref);
    close_d(what, im.pixels, ref, (size_t)m * m, 2e-6f);
    free(src);
    free(ref);
    vkg_images_free(&im);
  }
  free(px);
}

/* A flat image stays flat at any size (the weights of every output pixel sum to 1). */
static void test_flat(void) {
  const char *dir = new_dir();
  unsigned char px[33 * 45 * 3];
  for (int i = 0; i < 33 * 45; i++)
    px[3 * i] = 200, px[3 * i + 1] = 100, px[3 * i + 2] = 50;
  write_png(dir, "flat.png", 45, 33, 3, px);
  const int sizes[3] = {28, 32, 64};
  for (int k = 0; k < 3; k++) {
    struct vkg_images im;
    char what[64];
    snprintf(what, sizeof what, "flat 45x33 RGB -> %d", sizes[k]);
    if (!load_ok(what, dir, sizes[k], 3, 1, &im)) continue;
    size_t a = (size_t)sizes[k] * sizes[k];
    double *ref = malloc(sizeof *ref * 3 * a);
    for (size_t i = 0; i < a; i++)
      ref[i] = 200 / 255.0, ref[a + i] = 100 / 255.0, ref[2 * a + i] = 50 / 255.0;
    close_d(what, im.pixels, ref, 3 * a, 1e-6f);
    free(ref);
    vkg_images_free(&im);
  }
}

/* RGB to luminance, and a gray PNG to 3 equal channels. */
static void test_gray(void) {
  const char *dir = new_dir();
  unsigned char *rgb = noise(28 * 28 * 3, 21), *gray = noise(28 * 28, 22);
  write_png(dir, "a_rgb.png", 28, 28, 3, rgb);
  write_png(dir, "b_gray.png", 28, 28, 1, gray);
  struct vkg_images im;
  if (load_ok("luminance", dir, 28, 1, 2, &im)) {
    double ref[2 * 784];
    for (int k = 0; k < 784; k++) {
      ref[k] = (0.299 * rgb[3 * k] + 0.587 * rgb[3 * k + 1] + 0.114 * rgb[3 * k + 2]) / 255.0;
      ref[784 + k] = gray[k] / 255.0;
    }
    close_d("RGB to luminance (Rec. 601), gray stays", im.pixels, ref, 2 * 784, 1e-6f);
    vkg_images_free(&im);
  }
  if (load_ok("gray to RGB", dir, 28, 3, 2, &im)) {
    double ref[2 * 3 * 784];
    for (int k = 0; k < 784; k++)
      for (int ch = 0; ch < 3; ch++) {
        ref[ch * 784 + k] = rgb[3 * k + ch] / 255.0;
        ref[3 * 784 + ch * 784 + k] = gray[k] / 255.0;
      }
    close_d("RGB stays, gray replicated to 3 channels", im.pixels, ref, 2 * 3 * 784, 1e-6f);
    vkg_images_free(&im);
  }
  free(rgb);
  free(gray);
}

/* Sorted names, extensions in any case, a JPEG, and files and directories that are not images. */
static void test_listing(void) {
  const char *dir = new_dir();
  const char *names[4] = {"c.JPG", "a.png", "B.Png", "d.jpeg"}; /* bytewise order: B.Png a.png c.JPG d.jpeg */
  const int value[4] = {30, 90, 150, 210};
  for (int i = 0; i < 4; i++) {
    unsigned char px[32 * 32];
    memset(px, value[i], sizeof px);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    int ok = strstr(names[i], ".png") || strstr(names[i], ".Png") ? stbi_write_png(path, 32, 32, 1, px, 32)
                                                                  : stbi_write_jpg(path, 32, 32, 1, px, 95);
    if (!ok) {
      fprintf(stderr, "cannot write %s\n", path);
      exit(1);
    }
  }
  write_bytes(dir, "notes.txt", "not an image", 12);
  write_bytes(dir, "png", "no extension", 12);
  write_bytes(dir, ".hidden.png", "hidden, skipped", 15);
  char sub[160];
  snprintf(sub, sizeof sub, "%s/sub.png", dir); /* a directory with an image's name */
  mkdir(sub, 0755);
  struct vkg_images im;
  if (load_ok("listing", dir, 32, 1, 4, &im)) {
    const int order[4] = {2, 1, 0, 3};
    for (int i = 0; i < 4; i++) {
      float want = value[order[i]] / 255.0f, got = im.pixels[(size_t)i * 1024 + 500];
      th_check(fabsf(got - want) < 0.02f, "image %d is %s (value %g, got %g)", i, names[order[i]], want, got);
    }
    vkg_images_free(&im);
  }
}

/* Errors: strict on undecodable files, clear on empty and missing folders and bad arguments. */
static void test_errors(void) {
  struct vkg_images im;
  const char *dir = new_dir();
  unsigned char good[28 * 28] = {0};
  write_png(dir, "a.png", 28, 28, 1, good);
  write_bytes(dir, "b.png", "this is not a PNG at all", 24);
  vkg_status s = vkg_image_folder_load(dir, 28, 1, &im);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), "b.png") && *vkg_last_hint() && !im.pixels && im.n == 0,
           "a corrupt file is VKG_ERR_FORMAT naming it (got %s: %s)", vkg_status_str(s), vkg_last_error());

  /* A PNG cut short: its image data is incomplete. */
  dir = new_dir();
  unsigned char *px = noise(28 * 28 * 3, 5);
  char path[256];
  snprintf(path, sizeof path, "%s/cut.png", dir);
  struct mem m = {0};
  stbi_write_png_to_func(to_mem, &m, 28, 28, 3, px, 28 * 3);
  write_bytes(dir, "cut.png", m.p, m.n / 2);
  free(m.p);
  free(px);
  s = vkg_image_folder_load(dir, 28, 3, &im);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), path), "a truncated PNG is VKG_ERR_FORMAT (got %s: %s)",
           vkg_status_str(s), vkg_last_error());

  dir = new_dir();
  s = vkg_image_folder_load(dir, 28, 1, &im);
  th_check(s == VKG_ERR_IO && contains(vkg_last_error(), dir) && *vkg_last_hint(),
           "an empty folder is VKG_ERR_IO with a hint (got %s: %s / %s)", vkg_status_str(s), vkg_last_error(),
           vkg_last_hint());
  write_bytes(dir, "readme.txt", "x", 1);
  s = vkg_image_folder_load(dir, 28, 1, &im);
  th_check(s == VKG_ERR_IO && contains(vkg_last_error(), "no .png"),
           "a folder without images is VKG_ERR_IO (got %s: %s)", vkg_status_str(s), vkg_last_error());

  char missing[128];
  snprintf(missing, sizeof missing, "%s/does-not-exist", root);
  s = vkg_image_folder_load(missing, 28, 1, &im);
  th_check(s == VKG_ERR_IO && contains(vkg_last_error(), missing) && *vkg_last_hint(),
           "a missing folder is VKG_ERR_IO naming it (got %s: %s)", vkg_status_str(s), vkg_last_error());
  snprintf(path, sizeof path, "%s/readme.txt", dir);
  s = vkg_image_folder_load(path, 28, 1, &im);
  th_check(s == VKG_ERR_IO, "a file given as the folder is VKG_ERR_IO (got %s: %s)", vkg_status_str(s),
           vkg_last_error());

  const int bad[4][2] = {{27, 1}, {128, 3}, {28, 2}, {64, 4}};
  for (int i = 0; i < 4; i++) {
    s = vkg_image_folder_load(root, bad[i][0], bad[i][1], &im);
    th_check(s == VKG_ERR_ARG, "size %d, %d channels is VKG_ERR_ARG (got %s)", bad[i][0], bad[i][1], vkg_status_str(s));
  }
}

/* vkg_image_load: one file at its own size. A gray PNG with alpha gives one plane (alpha over white),
 * an RGB one three; a PNG grid written by vkg_png_grid reads back within half a step of 8 bits,
 * tiles at 2 + k * (w + 2); anything but PNG/JPEG, or a truncated PNG, is VKG_ERR_FORMAT; a missing
 * file VKG_ERR_IO. */
static void test_image_load(void) {
  const char *dir = new_dir();
  char path[256];
  struct vkg_images im;
  enum { W = 13, H = 7 };
  unsigned char *ga = noise((size_t)W * H * 2, 5), *rgb = noise((size_t)W * H * 3, 6);
  write_png(dir, "ga.png", W, H, 2, ga);
  write_png(dir, "rgb.png", W, H, 3, rgb);
  snprintf(path, sizeof path, "%s/ga.png", dir);
  if (th_ok(vkg_image_load(path, &im), "load a gray+alpha PNG")) {
    th_check(im.n == 1 && im.c == 1 && im.h == H && im.w == W && !im.labels, "gray+alpha: %d x %d x %d x %d", im.n,
             im.c, im.h, im.w);
    double worst = 0;
    for (int i = 0; i < W * H && im.c == 1; i++) {
      double a = ga[2 * i + 1] / 255.0, want = ga[2 * i] / 255.0 * a + (1 - a);
      worst = fmax(worst, fabs(im.pixels[i] - want));
    }
    th_check(worst < 1e-5, "gray+alpha composited over white (worst error %g)", worst);
    vkg_images_free(&im);
  }
  snprintf(path, sizeof path, "%s/rgb.png", dir);
  if (th_ok(vkg_image_load(path, &im), "load an RGB PNG")) {
    double worst = 0;
    for (int k = 0; k < 3 && im.c == 3; k++)
      for (int i = 0; i < W * H; i++)
        worst = fmax(worst, fabs(im.pixels[k * W * H + i] - rgb[3 * i + k] / 255.0));
    th_check(im.c == 3 && im.h == H && im.w == W && worst < 1e-6, "RGB planes (c %d, worst error %g)", im.c, worst);
    vkg_images_free(&im);
  }
  /* A 3x2 grid of five 1-channel 7x5 images: the sixth tile stays the gap colour. */
  enum { N = 5, C = 1, TH = 7, TW = 5, COLS = 3 };
  float tiles[N * C * TH * TW];
  th_seed(9);
  th_fill(tiles, N * C * TH * TW, 0, 1);
  snprintf(path, sizeof path, "%s/grid.png", dir);
  if (th_ok(vkg_png_grid(path, tiles, N, C, TH, TW, COLS), "write a grid") &&
      th_ok(vkg_image_load(path, &im), "read the grid back")) {
    int gw = COLS * TW + (COLS + 1) * 2, gh = 2 * TH + 3 * 2;
    th_check(im.c == 3 && im.w == gw && im.h == gh, "grid %dx%dx%d, expected 3x%dx%d", im.c, im.h, im.w, gh, gw);
    double worst = 0;
    for (int k = 0; k < N && im.w == gw && im.h == gh; k++)
      for (int y = 0; y < TH; y++)
        for (int x = 0; x < TW; x++)
          for (int ch = 0; ch < 3; ch++) {
            int gx = 2 + (k % COLS) * (TW + 2) + x, gy = 2 + (k / COLS) * (TH + 2) + y;
            float got = im.pixels[((size_t)ch * gh + gy) * gw + gx], want = tiles[(k * TH + y) * TW + x];
            worst = fmax(worst, fabs(got - want));
          }
    th_check(worst <= 0.5 / 255 + 1e-6, "grid tiles read back within half an 8-bit step (worst %g)", worst);
    vkg_images_free(&im);
  }
  static const char gif[] = "GIF89a\1\0\1\0\0\0\0;";
  write_bytes(dir, "x.png", gif, sizeof gif - 1);
  snprintf(path, sizeof path, "%s/x.png", dir);
  vkg_status s = vkg_image_load(path, &im);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), path) && !im.pixels,
           "a GIF named .png is VKG_ERR_FORMAT before any decoder sees it (got %s: %s)", vkg_status_str(s),
           vkg_last_error());
  size_t n;
  snprintf(path, sizeof path, "%s/rgb.png", dir);
  unsigned char *whole = th_read_file(path, &n);
  write_bytes(dir, "cut.png", whole, n / 2);
  free(whole);
  snprintf(path, sizeof path, "%s/cut.png", dir);
  s = vkg_image_load(path, &im);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), path), "a truncated PNG is VKG_ERR_FORMAT (got %s: %s)",
           vkg_status_str(s), vkg_last_error());
  snprintf(path, sizeof path, "%s/none.png", dir);
  s = vkg_image_load(path, &im);
  th_check(s == VKG_ERR_IO && contains(vkg_last_error(), path), "a missing file is VKG_ERR_IO (got %s: %s)",
           vkg_status_str(s), vkg_last_error());
  free(ga);
  free(rgb);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/vkgen-imagefolder-XXXXXX");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    return 1;
  }
  test_alpha();
  test_crop();
  test_resize(56, 28); /* exact 2x2 boxes */
  test_resize(50, 28); /* fractional boxes */
  test_resize(100, 32);
  test_resize(65, 64); /* barely smaller: boxes straddle two pixels */
  test_resize(20, 28); /* bilinear */
  test_resize(7, 64);
  test_resize(32, 32); /* identity */
  test_flat();
  test_gray();
  test_listing();
  test_errors();
  test_image_load();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd)) fprintf(stderr, "note: could not remove %s\n", root);
  return th_finish(NULL); /* no device needed */
}
