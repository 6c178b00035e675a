/* STFT magnitude in dB and its picture. Shape letters: T frames, K bins (win / 2 + 1), N samples. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image_write.h>

#include "internal.h"
#include "nn/spectrogram.h"

vkg_status nn_stft_db(const float *x, size_t n, int win, int hop, float **db, int *frames, int *bins) {
  *db = NULL;
  if (win < 2 || hop < 1 || n < (size_t)win)
    return vkg__fail(VKG_ERR_ARG,
                     "spectrogram: %zu samples with window %d and hop %d (need n >= window >= 2, hop >= 1)", n, win,
                     hop);
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return vkg__fail(VKG_ERR_NUMERIC, "spectrogram: sample %zu is not finite", i);
  int T = (int)(1 + (n - (size_t)win) / (size_t)hop), K = win / 2 + 1;
  float *out = malloc(sizeof *out * (size_t)T * K);    // (T, K)
  double *w = malloc(sizeof *w * (size_t)win);         // (win) Hann window
  double *cs = malloc(sizeof *cs * 2 * (size_t)win);   // cos and sin of 2 pi j / win
  double *frame = malloc(sizeof *frame * (size_t)win); // windowed samples of one frame
  if (!out || !w || !cs || !frame) {
    free(out), free(w), free(cs), free(frame);
    return vkg__fail(VKG_ERR_OOM, "out of host memory for a %d x %d spectrogram", T, K);
  }
  /* The periodic window (the DFT's period), so a bin-centred sine leaks only into its neighbours. */
  for (int i = 0; i < win; i++) {
    w[i] = 0.5 - 0.5 * cos(2 * M_PI * i / win);
    cs[2 * i] = cos(2 * M_PI * i / win), cs[2 * i + 1] = sin(2 * M_PI * i / win);
  }
  for (int t = 0; t < T; t++) {
    const float *xt = x + (size_t)t * hop;
    for (int i = 0; i < win; i++)
      frame[i] = w[i] * xt[i];
    for (int k = 0; k < K; k++) {
      /* X_k = sum_i frame_i e^{-2 pi i k i / win}; the phase index (k i) mod win reuses the table. */
      double re = 0, im = 0;
      for (int i = 0, p = 0; i < win; i++, p = (p + k) % win)
        re += frame[i] * cs[2 * p], im -= frame[i] * cs[2 * p + 1];
      out[(size_t)t * K + k] = (float)(20 * log10(sqrt(re * re + im * im) + 1e-9));
    }
  }
  free(w), free(cs), free(frame);
  *db = out, *frames = T, *bins = K;
  return VKG_OK;
}

/* A colour for level v in [0, 1]: black, purple, red, yellow, white (piecewise linear). */
static void colour(double v, uint8_t *rgb) {
  static const double stops[5][3] = {{0, 0, 0}, {90, 20, 130}, {220, 50, 40}, {250, 210, 40}, {255, 255, 255}};
  v = v < 0 ? 0 : v > 1 ? 1 : v;
  double p = v * 4;
  int i = p >= 4 ? 3 : (int)p;
  double f = p - i;
  for (int c = 0; c < 3; c++)
    rgb[c] = (uint8_t)lround(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]));
}

struct png_mem {
  unsigned char *data;
  size_t n;
  int failed;
};
static void png_sink(void *ctx, void *data, int size) {
  struct png_mem *b = ctx;
  unsigned char *p = b->failed ? NULL : realloc(b->data, b->n + (size_t)size);
  if (!p) {
    b->failed = 1;
    return;
  }
  memcpy(p + b->n, data, (size_t)size);
  b->data = p, b->n += (size_t)size;
}

vkg_status nn_spectrogram_png(const char *path, const float *db, int T, int K, double range_db) {
  if (T < 1 || K < 1 || !(range_db > 0))
    return vkg__fail(VKG_ERR_ARG, "spectrogram picture: %d frames, %d bins, range %g dB", T, K, range_db);
  double top = -INFINITY;
  for (size_t i = 0; i < (size_t)T * K; i++)
    top = fmax(top, db[i]);
  uint8_t *px = malloc((size_t)T * K * 3); // (K rows, T columns, RGB)
  if (!px) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (int k = 0; k < K; k++)
    for (int t = 0; t < T; t++) /* row 0 is the highest frequency */
      colour((db[(size_t)t * K + k] - (top - range_db)) / range_db, px + ((size_t)(K - 1 - k) * T + t) * 3);
  struct png_mem b = {0};
  int ok = stbi_write_png_to_func(png_sink, &b, T, K, 3, px, T * 3) && !b.failed;
  free(px);
  vkg_status s = ok ? vkg__write_file(path, b.data, b.n) : vkg__fail(VKG_ERR_IO, "encoding '%s' failed", path);
  free(b.data);
  return s;
}

vkg_status nn_spectrogram_write(const char *path, const float *x, size_t n) {
  float *db;
  int T, K;
  vkg_status s = nn_stft_db(x, n, 256, 64, &db, &T, &K);
  if (s) return s;
  s = nn_spectrogram_png(path, db, T, K, 80);
  free(db);
  return s;
}
