/* Precision and recall of generated samples (the k-nearest-neighbour manifolds of Kynkaanniemi et al.
 * 2019, fid_precision_recall), nearest neighbours (fid_nearest) and the spectrogram (nn_stft_db,
 * nn_spectrogram_png) on small cases whose answers are worked out by hand. No GPU work. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "nn/fid.h"
#include "nn/spectrogram.h"

/* Points on a line (x, 0) in 2-D, so that distances are plain differences. */
static float *line_points(const double *x, int n) {
  float *p = th_alloc((size_t)n * 2);
  for (int i = 0; i < n; i++)
    p[2 * i] = (float)x[i], p[2 * i + 1] = 0;
  return p;
}

static void test_precision_recall(void) {
  /* k = 3 on the integers 0..9: the ends' third-nearest neighbour is 3 away, every other point's 2.
   * Generated -2.5 (2.5 from 0: inside 0's ball of 3), 11.5 (2.5 from 9: inside), 12.5 (3.5 from 9:
   * outside) and 4.5 (inside): precision 3/4. The generated points' radii: -2.5 -> 15 (its third
   * nearest is 12.5), 4.5 -> 8, 11.5 -> 14, 12.5 -> 15; every real point is within 8 of 4.5: recall 1. */
  double real[10], gen[4] = {-2.5, 11.5, 12.5, 4.5};
  for (int i = 0; i < 10; i++)
    real[i] = i;
  float *r = line_points(real, 10), *g = line_points(gen, 4);
  double p, rc;
  th_ok(fid_precision_recall(r, 10, g, 4, 2, 3, &p, &rc), "precision/recall, k = 3");
  th_check(fabs(p - 0.75) < 1e-12 && fabs(rc - 1.0) < 1e-12, "k = 3: precision %g (want 0.75), recall %g (want 1)", p,
           rc);
  /* k = 1 on 0..4 (radii 1) against {0.5, 10, 2.2, -1.5}: 0.5 and 2.2 are inside, 10 and -1.5 (1.5
   * from 0) are not: precision 1/2. The generated radii are 2.0, 7.8, 1.7, 1.7 (for -1.5, 10, 0.5, 2.2):
   * 0..3 are within 1.7 of 0.5 or 2.2, and 4 is 6 from 10 (radius 7.8): recall 1, the outlier's large
   * ball covering it (the estimate's known weakness, and why k is kept small). */
  double real1[5] = {0, 1, 2, 3, 4}, gen1[4] = {0.5, 10, 2.2, -1.5};
  float *r1 = line_points(real1, 5), *g1 = line_points(gen1, 4);
  th_ok(fid_precision_recall(r1, 5, g1, 4, 2, 1, &p, &rc), "precision/recall, k = 1");
  th_check(fabs(p - 0.5) < 1e-12 && fabs(rc - 1.0) < 1e-12, "k = 1: precision %g (want 0.5), recall %g (want 1)", p,
           rc);
  /* Swapping the sets swaps the two numbers. */
  double p2, rc2;
  th_ok(fid_precision_recall(g1, 4, r1, 5, 2, 1, &p2, &rc2), "precision/recall, swapped");
  th_check(p2 == rc && rc2 == p, "swapped sets swap precision (%g) and recall (%g)", p2, rc2);
  /* A set against itself: 1 and 1; against a far copy: 0 and 0. */
  enum { N = 40, D = 7 };
  float *a = th_alloc(N * D), *b = th_alloc(N * D);
  th_seed(5);
  th_fill(a, N * D, -1, 1);
  for (int i = 0; i < N * D; i++)
    b[i] = a[i] + 100;
  th_ok(fid_precision_recall(a, N, a, N, D, 3, &p, &rc), "a set against itself");
  th_check(p == 1 && rc == 1, "a set against itself: precision %g, recall %g (want 1, 1)", p, rc);
  th_ok(fid_precision_recall(a, N, b, N, D, 3, &p, &rc), "a set against a far copy");
  th_check(p == 0 && rc == 0, "a far copy: precision %g, recall %g (want 0, 0)", p, rc);
  /* Bad arguments. */
  th_check(fid_precision_recall(a, 3, b, N, D, 3, &p, &rc) == VKG_ERR_ARG, "3 real rows with k = 3 is VKG_ERR_ARG");
  th_check(isnan(p) && isnan(rc), "failed: NaN results");
  a[5] = NAN;
  th_check(fid_precision_recall(a, N, b, N, D, 3, &p, &rc) == VKG_ERR_NUMERIC, "a NaN feature is VKG_ERR_NUMERIC");
  free(r), free(g), free(r1), free(g1), free(a), free(b);
}

static void test_nearest(void) {
  double ref[5] = {0, 1, 2, 3, 4}, q[4] = {2.4, -7, 3.5, 9};
  float *r = line_points(ref, 5), *qq = line_points(q, 4);
  int idx[4];
  double d[4];
  fid_nearest(qq, 4, r, 5, 2, idx, d);
  /* 3.5 is halfway between 3 and 4: the first wins. */
  th_check(idx[0] == 2 && idx[1] == 0 && idx[2] == 3 && idx[3] == 4, "nearest: %d %d %d %d (want 2 0 3 4)", idx[0],
           idx[1], idx[2], idx[3]);
  th_check(fabs(d[0] - 0.4) < 1e-6 && fabs(d[1] - 7) < 1e-6 && fabs(d[3] - 5) < 1e-6, "nearest distances %g %g %g",
           d[0], d[1], d[3]);
  free(r), free(qq);
}

static void test_spectrogram(void) {
  /* A sine at bin 8 of a 64-sample window, amplitude 0.5: bin 8 holds 0.5 * 64 / 4 = 8 in every frame,
   * bins 7 and 9 half of that (the periodic Hann window's neighbours), all others nothing (-180 dB: the
   * 1e-9 floor, up to rounding). */
  enum { WIN = 64, HOP = 16, N = 300 };
  float x[N];
  for (int i = 0; i < N; i++)
    x[i] = (float)(0.5 * cos(2 * M_PI * 8 * i / WIN + 0.3));
  float *db;
  int T, K;
  th_ok(nn_stft_db(x, N, WIN, HOP, &db, &T, &K), "nn_stft_db");
  th_check(T == 1 + (N - WIN) / HOP && K == WIN / 2 + 1, "spectrogram shape %d x %d (want %d x %d)", T, K,
           1 + (N - WIN) / HOP, WIN / 2 + 1);
  double worst = 0, leak = -1000;
  for (int t = 0; t < T; t++)
    for (int k = 0; k < K; k++) {
      double v = db[t * K + k];
      if (k == 8)
        worst = fmax(worst, fabs(v - 20 * log10(8.0)));
      else if (k == 7 || k == 9)
        worst = fmax(worst, fabs(v - 20 * log10(4.0)));
      else
        leak = fmax(leak, v);
    }
  th_check(worst < 1e-3, "bin-centred sine: peak and neighbours within %g dB of A*win/4 and half (want < 1e-3)", worst);
  th_check(leak < -80, "no leakage beyond the neighbouring bins (loudest other bin %g dB)", leak);
  char *png = th_tmppath("spec.png");
  th_ok(nn_spectrogram_png(png, db, T, K, 80), "nn_spectrogram_png");
  size_t n;
  unsigned char *b = th_read_file(png, &n);
  /* The PNG signature, then the IHDR's width (frames) and height (bins), big-endian. */
  int w = n > 24 ? (b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19]) : -1;
  int h = n > 24 ? (b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23]) : -1;
  th_check(n > 24 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8) && w == T && h == K, "PNG of %d x %d (want %d x %d)", w, h, T,
           K);
  free(b);
  free(db);
  /* Bad input. */
  th_check(nn_stft_db(x, 10, WIN, HOP, &db, &T, &K) == VKG_ERR_ARG, "fewer samples than the window: VKG_ERR_ARG");
  x[3] = INFINITY;
  th_check(nn_stft_db(x, N, WIN, HOP, &db, &T, &K) == VKG_ERR_NUMERIC, "an infinite sample: VKG_ERR_NUMERIC");
  th_check(db == NULL, "no output after an error");
}

int main(void) {
  test_precision_recall();
  test_nearest();
  test_spectrogram();
  return th_finish(NULL);
}
