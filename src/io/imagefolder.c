/* Folders of PNG/JPEG images as a dataset (each file decoded by io/imagefile.c), and the plane resampling that the
 * loader and FID share. Strict by design: one file that cannot be decoded stops the load with an error
 * naming it, because a silently skipped file changes the dataset without anyone noticing. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "io/resample.h"

// ---- resampling ----

/* The taps of one output position along one axis: source indices start..start+count-1 with weights. */
struct taps {
  int *start, *count;
  double *w; /* maxtaps per output */
  int maxtaps;
};

static void taps_free(struct taps *t) {
  free(t->start);
  free(t->count);
  free(t->w);
}

/* Weights of a resize of one axis from n to m samples (see vkg__resize_plane). */
static int taps_make(struct taps *t, int n, int m) {
  double s = (double)n / m;
  t->maxtaps = m < n ? (int)ceil(s) + 2 : 2;
  t->start = malloc(sizeof *t->start * (size_t)m);
  t->count = malloc(sizeof *t->count * (size_t)m);
  t->w = calloc((size_t)m * (size_t)t->maxtaps, sizeof *t->w);
  if (!t->start || !t->count || !t->w) {
    taps_free(t);
    return -1;
  }
  for (int i = 0; i < m; i++) {
    double *w = t->w + (size_t)i * t->maxtaps;
    if (m < n) {
      /* Area: output i covers [i*s, (i+1)*s) of the source; each source pixel j weighs by its overlap. */
      double a = i * s, b = (i + 1) * s;
      int j0 = (int)floor(a), j1 = (int)ceil(b);
      if (j1 > n) j1 = n;
      t->start[i] = j0, t->count[i] = j1 - j0;
      VKG_ASSERT(j1 - j0 <= t->maxtaps);
      for (int j = j0; j < j1; j++) {
        double lo = j > a ? j : a, hi = j + 1 < b ? j + 1 : b;
        w[j - j0] = (hi - lo) / s;
      }
    } else {
      /* Bilinear with half-pixel centers, clamped at the edges. */
      double x = (i + 0.5) * s - 0.5;
      if (x < 0) x = 0;
      if (x > n - 1) x = n - 1;
      int j = (int)floor(x);
      double f = x - j;
      if (j >= n - 1) j = n - 1, f = 0;
      t->start[i] = j;
      t->count[i] = f > 0 ? 2 : 1;
      w[0] = 1 - f, w[1] = f;
    }
  }
  return 0;
}

int vkg__resize_plane(const float *src, int sh, int sw, float *dst, int dh, int dw) {
  struct taps tx, ty;
  if (taps_make(&tx, sw, dw)) return -1;
  if (taps_make(&ty, sh, dh)) {
    taps_free(&tx);
    return -1;
  }
  float *tmp = malloc(sizeof *tmp * (size_t)sh * dw); // (sh, dw): rows resized first
  if (!tmp) {
    taps_free(&tx);
    taps_free(&ty);
    return -1;
  }
  for (int y = 0; y < sh; y++)
    for (int x = 0; x < dw; x++) {
      const double *w = tx.w + (size_t)x * tx.maxtaps;
      const float *row = src + (size_t)y * sw + tx.start[x];
      double acc = 0;
      for (int k = 0; k < tx.count[x]; k++)
        acc += w[k] * row[k];
      tmp[(size_t)y * dw + x] = (float)acc;
    }
  for (int y = 0; y < dh; y++) {
    const double *w = ty.w + (size_t)y * ty.maxtaps;
    for (int x = 0; x < dw; x++) {
      double acc = 0;
      for (int k = 0; k < ty.count[y]; k++)
        acc += w[k] * tmp[(size_t)(ty.start[y] + k) * dw + x];
      dst[(size_t)y * dw + x] = (float)acc;
    }
  }
  free(tmp);
  taps_free(&tx);
  taps_free(&ty);
  return 0;
}

// ---- the folder ----

static int is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot || dot == name) return 0;
  char ext[8] = {0};
  size_t n = strlen(dot + 1);
  if (n >= sizeof ext) return 0;
  for (size_t i = 0; i < n; i++)
    ext[i] = (char)tolower((unsigned char)dot[1 + i]);
  return !strcmp(ext, "png") || !strcmp(ext, "jpg") || !strcmp(ext, "jpeg");
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

/* The image file names of dir, sorted. */
static vkg_status list_images(const char *dir, char ***names, int *count) {
  *names = NULL, *count = 0;
  DIR *d = opendir(dir);
  if (!d) {
    vkg_status s = vkg__fail(VKG_ERR_IO, "cannot open image folder '%s': %s", dir, strerror(errno));
    vkg__hint("pass a directory of .png/.jpg images");
    return s;
  }
  int n = 0, cap = 0;
  char **v = NULL;
  struct dirent *e;
  vkg_status s = VKG_OK;
  while (!s && (e = readdir(d))) {
    if (e->d_name[0] == '.' || !is_image_name(e->d_name)) continue;
    char *path = join(dir, e->d_name);
    struct stat st;
    if (!path)
      s = vkg__fail(VKG_ERR_OOM, "out of host memory");
    else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      if (n == cap) {
        cap = cap ? 2 * cap : 64;
        char **nv = realloc(v, sizeof *v * (size_t)cap);
        if (!nv)
          s = vkg__fail(VKG_ERR_OOM, "out of host memory");
        else
          v = nv;
      }
      if (!s && !(v[n] = strdup(e->d_name))) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
      if (!s) n++;
    }
    free(path);
  }
  closedir(d);
  if (!s && n == 0) {
    s = vkg__fail(VKG_ERR_IO, "image folder '%s' holds no .png, .jpg or .jpeg files", dir);
    vkg__hint("put the training images directly in that directory (subdirectories are not searched)");
  }
  if (s) {
    for (int i = 0; i < n; i++)
      free(v[i]);
    free(v);
    return s;
  }
  qsort(v, (size_t)n, sizeof *v, cmp_names);
  *names = v, *count = n;
  return VKG_OK;
}

/* Decodes one file into out (channels, size, size). */
static vkg_status load_one(const char *path, int size, int channels, float *out) {
  unsigned char *buf, *px;
  size_t n;
  int w, h;
  vkg_status s = vkg__read_file(path, "image", VKG_IMAGE_MAX_FILE, &buf, &n);
  if (s) return s;
  s = vkg__image_decode(path, buf, n, &w, &h, NULL, &px); // (h, w, RGBA)
  free(buf);
  if (s) return s;
  /* Crop the centered square, composite over white and split into planes (RGB, or luminance). */
  int side = w < h ? w : h, x0 = (w - side) / 2, y0 = (h - side) / 2;
  int planes = channels == 1 ? 1 : 3;
  size_t area = (size_t)side * side;
  float *crop = malloc(sizeof *crop * area * (size_t)planes); // (planes, side, side)
  if (!crop) {
    free(px);
    return vkg__fail(VKG_ERR_OOM, "out of host memory for image '%s' (%dx%d)", path, w, h);
  }
  for (int y = 0; y < side; y++)
    for (int x = 0; x < side; x++) {
      const unsigned char *p = px + ((size_t)(y0 + y) * w + (x0 + x)) * 4;
      float a = p[3] / 255.0f, rgb[3];
      for (int k = 0; k < 3; k++)
        rgb[k] = p[k] / 255.0f * a + (1 - a);
      size_t o = (size_t)y * side + x;
      if (planes == 1)
        crop[o] = VKG_LUMA_R * rgb[0] + VKG_LUMA_G * rgb[1] + VKG_LUMA_B * rgb[2];
      else
        for (int k = 0; k < 3; k++)
          crop[k * area + o] = rgb[k];
    }
  free(px);
  for (int k = 0; k < planes && !s; k++)
    if (vkg__resize_plane(crop + k * area, side, side, out + (size_t)k * size * size, size, size))
      s = vkg__fail(VKG_ERR_OOM, "out of host memory resizing image '%s'", path);
  free(crop);
  for (size_t i = 0; !s && i < (size_t)channels * size * size; i++) /* rounding may leave 1 + 1e-7 */
    out[i] = out[i] < 0 ? 0 : out[i] > 1 ? 1 : out[i];
  return s;
}

vkg_status vkg_image_folder_load(const char *dir, int size, int channels, struct vkg_images *out) {
  memset(out, 0, sizeof *out);
  if (!dir) return vkg__fail(VKG_ERR_ARG, "image folder: no directory given");
  if ((size != 28 && size != 32 && size != 64) || (channels != 1 && channels != 3))
    return vkg__fail(VKG_ERR_ARG,
                     "image folder: size must be 28, 32 or 64 and channels 1 or 3 (got size %d, %d channels)", size,
                     channels);
  char **names;
  int n;
  vkg_status s = list_images(dir, &names, &n);
  if (s) return s;
  size_t per = (size_t)channels * size * size;
  float *pixels = malloc(sizeof *pixels * per * (size_t)n);
  if (!pixels) s = vkg__fail(VKG_ERR_OOM, "out of host memory for %d images of %dx%dx%d", n, channels, size, size);
  for (int i = 0; i < n && !s; i++) {
    char *path = join(dir, names[i]);
    s = path ? load_one(path, size, channels, pixels + per * i) : vkg__fail(VKG_ERR_OOM, "out of host memory");
    free(path);
  }
  for (int i = 0; i < n; i++)
    free(names[i]);
  free(names);
  if (s) {
    free(pixels);
    return s;
  }
  *out = (struct vkg_images){.n = n, .c = channels, .h = size, .w = size, .pixels = pixels, .labels = NULL};
  return VKG_OK;
}

vkg_status vkg_image_load(const char *path, struct vkg_images *out) {
  memset(out, 0, sizeof *out);
  if (!path) return vkg__fail(VKG_ERR_ARG, "image: no path given");
  /* The same checked decoder as the folders: PNG or JPEG by signature, size limits, every pixel. */
  unsigned char *buf, *px;
  size_t n;
  int w, h, comp;
  vkg_status s = vkg__read_file(path, "image", VKG_IMAGE_MAX_FILE, &buf, &n);
  if (s) return s;
  s = vkg__image_decode(path, buf, n, &w, &h, &comp, &px); // (h, w, RGBA)
  free(buf);
  if (s) return s;
  /* Gray files (with or without alpha) give one plane, color files three; alpha is composited over
   * white as the folder loader does. */
  size_t area = (size_t)w * h;
  int c = comp >= 3 ? 3 : 1;
  float *pixels = malloc(sizeof *pixels * area * (size_t)c); // (c, h, w)
  if (!pixels) {
    free(px);
    return vkg__fail(VKG_ERR_OOM, "out of host memory for image '%s' (%dx%d)", path, w, h);
  }
  for (size_t i = 0; i < area; i++) {
    const unsigned char *p = px + i * 4;
    float a = p[3] / 255.0f;
    for (int k = 0; k < c; k++)
      pixels[k * area + i] = p[k] / 255.0f * a + (1 - a);
  }
  free(px);
  *out = (struct vkg_images){.n = 1, .c = c, .h = h, .w = w, .pixels = pixels, .labels = NULL};
  return VKG_OK;
}
