/* Plain-C references for the decoding ops, in double where arithmetic is involved. */
#include "ref_lm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ref_gather_at(uint32_t *out, const uint32_t *x, int outer, int A, int inner, int at, int len) {
  for (int o = 0; o < outer; o++)
    for (int j = 0; j < len; j++)
      for (int i = 0; i < inner; i++) {
        int p = at + j;
        out[((size_t)o * len + j) * inner + i] = p >= 0 && p < A ? x[((size_t)o * A + p) * inner + i] : 0u;
      }
}

void ref_scatter_at(uint32_t *dst, const uint32_t *src, int outer, int A, int inner, int J, int at, int lo) {
  for (int o = 0; o < outer; o++)
    for (int j = 0; j < J; j++) {
      int p = at + j;
      if (p < lo || p < 0 || p >= A) continue;
      for (int i = 0; i < inner; i++)
        dst[((size_t)o * A + p) * inner + i] = src[((size_t)o * J + j) * inner + i];
    }
}

void ref_attention_cached(float *o, const float *q, const float *k, const float *v, int B, int NH, int Tq, int Tmax,
                          int D, int Dv, float scale, int L) {
  double sc = scale > 0 ? scale : 1.0 / sqrt((double)D);
  double *s = malloc(sizeof *s * (size_t)(Tmax > 0 ? Tmax : 1));
  for (int bh = 0; bh < B * NH; bh++)
    for (int i = 0; i < Tq; i++) {
      int kend = L - Tq + i + 1;
      if (kend > L) kend = L;
      float *out = o + ((size_t)bh * Tq + i) * Dv;
      if (kend <= 0) {
        memset(out, 0, sizeof *out * (size_t)Dv);
        continue;
      }
      const float *qr = q + ((size_t)bh * Tq + i) * D;
      double m = -INFINITY, sum = 0;
      for (int j = 0; j < kend; j++) {
        const float *kr = k + ((size_t)bh * Tmax + j) * D;
        double d = 0;
        for (int c = 0; c < D; c++)
          d += (double)qr[c] * kr[c];
        s[j] = d * sc;
        if (s[j] > m) m = s[j];
      }
      for (int j = 0; j < kend; j++)
        sum += s[j] = exp(s[j] - m);
      for (int c = 0; c < Dv; c++) {
        double acc = 0;
        for (int j = 0; j < kend; j++)
          acc += s[j] * v[((size_t)bh * Tmax + j) * Dv + c];
        out[c] = (float)(acc / sum);
      }
    }
  free(s);
}

int ref_topp_keep(const double *w, int V, double p, unsigned char *keep) {
  double total = 0;
  for (int i = 0; i < V; i++)
    total += w[i];
  /* Candidate thresholds are the weights themselves: the largest with enough weight at or above it. */
  double best = 0;
  for (int i = 0; i < V; i++) {
    if (w[i] <= 0 || w[i] <= best) continue;
    double above = 0;
    for (int j = 0; j < V; j++)
      if (w[j] >= w[i]) above += w[j];
    if (above >= p * total) best = w[i];
  }
  int n = 0;
  for (int i = 0; i < V; i++)
    n += keep[i] = w[i] > 0 && w[i] >= best;
  return n;
}

double ref_rel_err(const float *a, const float *b, size_t n) {
  double e = 0, m = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (d > e || isnan(d)) e = isnan(d) ? INFINITY : d;
    if (fabs(b[i]) > m) m = fabs(b[i]);
  }
  return e / (m > 0 ? m : 1);
}

struct ref_decode_check ref_decode_check(const int32_t *tokens, const int32_t *prompt, int plen, const float *step,
                                         const float *full, int B, int T, int V) {
  struct ref_decode_check r = {1, 1, 0};
  for (int b = 0; b < B; b++)
    for (int t = 0; t < plen; t++)
      r.same_prompt &= tokens[b * T + t] == prompt[b * plen + t];
  for (int b = 0; b < B; b++)
    for (int t = plen; t < T; t++) {
      const float *row = full + ((size_t)b * T + t - 1) * V;
      int am = 0;
      for (int v = 1; v < V; v++)
        if (row[v] > row[am]) am = v;
      r.greedy &= tokens[b * T + t] == am;
    }
  for (int b = 0; b < B; b++) {
    double e = ref_rel_err(step + (size_t)b * T * V, full + (size_t)b * T * V, (size_t)(T - 1) * V);
    if (e > r.err) r.err = e;
  }
  return r;
}
