#include "ref_random.h"

#include <math.h>
#include <stdlib.h>

// ---- Philox-4x32-10, written from its definition ----

static void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
  uint64_t p = (uint64_t)a * b;
  *hi = (uint32_t)(p >> 32);
  *lo = (uint32_t)p;
}

void ref_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]}, k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; r++) {
    if (r > 0) k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c[0], &hi0, &lo0);
    mulhilo(0xCD9E8D57u, c[2], &hi1, &lo1);
    uint32_t n[4] = {hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0};
    for (int i = 0; i < 4; i++)
      c[i] = n[i];
  }
  for (int i = 0; i < 4; i++)
    out[i] = c[i];
}

uint32_t ref_random_word(uint32_t seed, uint32_t stream, uint32_t block, int word) {
  uint32_t ctr[4] = {block, stream, 0, 0}, key[2] = {seed, 0}, out[4];
  ref_philox4x32_10(ctr, key, out);
  return out[word];
}

float ref_u01(uint32_t x) { return (float)(x >> 8) * 0x1p-24f; }
float ref_u01_open0(uint32_t x) { return (float)((x >> 8) + 1u) * 0x1p-24f; }

// ---- fills ----

void ref_random_uniform(float *out, size_t n, uint32_t seed, uint32_t stream, float lo, float hi) {
  float below = nextafterf(hi, -INFINITY);
  for (size_t e = 0; e < n; e += 4) {
    uint32_t ctr[4] = {(uint32_t)(e / 4), stream, 0, 0}, key[2] = {seed, 0}, r[4];
    ref_philox4x32_10(ctr, key, r);
    for (size_t j = 0; j < 4 && e + j < n; j++) {
      /* Each float operation of the shader (which marks them precise), done in double and rounded
       * once to float: exact for a product of two floats, and correctly rounded for the sums (53 >=
       * 2 * 24 + 2 bits), with the casts in between so no compiler can fuse them into an FMA. */
      float d = (float)((double)hi - lo), p = (float)((double)d * ref_u01(r[j])), v = (float)((double)lo + p);
      v = v < below ? v : below;
      out[e + j] = v > lo ? v : lo;
    }
  }
}

void ref_random_normal(float *out, size_t n, uint32_t seed, uint32_t stream, float mean, float std) {
  for (size_t e = 0; e < n; e += 4) {
    uint32_t ctr[4] = {(uint32_t)(e / 4), stream, 0, 0}, key[2] = {seed, 0}, r[4];
    ref_philox4x32_10(ctr, key, r);
    double z[4];
    for (int p = 0; p < 2; p++) {
      double rad = sqrt(-2.0 * log((double)ref_u01_open0(r[2 * p])));
      double ang = 6.283185307179586 * (double)ref_u01(r[2 * p + 1]);
      z[2 * p] = rad * cos(ang);
      z[2 * p + 1] = rad * sin(ang);
    }
    for (size_t j = 0; j < 4 && e + j < n; j++)
      out[e + j] = (float)(mean + (double)std * z[j]);
  }
}

float ref_sample_u(uint32_t seed, uint32_t stream, uint32_t row) {
  return ref_u01(ref_random_word(seed, stream, row, 0));
}

// ---- sampling ----

static int cmp_desc(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x > y ? -1 : x < y ? 1 : 0;
}

int ref_topk_keep(const float *x, int V, unsigned top_k, unsigned char *keep) {
  int k = (top_k == 0 || top_k >= (unsigned)V) ? V : (int)top_k;
  if (k == V) {
    for (int i = 0; i < V; i++)
      keep[i] = 1;
    return V;
  }
  /* The k-th largest by sorting a copy: slow and obviously right. */
  float *s = malloc(sizeof *s * (size_t)V);
  for (int i = 0; i < V; i++)
    s[i] = x[i];
  qsort(s, (size_t)V, sizeof *s, cmp_desc);
  float thr = s[k - 1];
  free(s);
  int kept = 0;
  for (int i = 0; i < V; i++)
    kept += keep[i] = x[i] > thr;
  for (int i = 0; i < V && kept < k; i++)
    if (x[i] == thr) keep[i] = 1, kept++;
  return kept;
}

int ref_sample(const float *x, int V, float temperature, unsigned top_k, double u, double *w) {
  int amax = 0;
  for (int i = 1; i < V; i++)
    if (x[i] > x[amax]) amax = i;
  if (!(temperature > 0)) {
    if (w)
      for (int i = 0; i < V; i++)
        w[i] = i == amax;
    return amax;
  }
  unsigned char *keep = malloc((size_t)V);
  double *ww = w ? w : malloc(sizeof *ww * (size_t)V);
  ref_topk_keep(x, V, top_k, keep);
  double M = x[amax], total = 0;
  for (int i = 0; i < V; i++) {
    ww[i] = !keep[i] ? 0.0 : x[i] == M ? 1.0 : exp(((double)x[i] - M) / temperature);
    total += ww[i];
  }
  double target = u * total, cum = 0;
  int pick = -1, last = amax;
  for (int i = 0; i < V; i++) {
    if (ww[i] > 0) last = i;
    cum += ww[i];
    if (pick < 0 && cum > target) pick = i;
  }
  free(keep);
  if (!w) free(ww);
  return pick >= 0 ? pick : last;
}
