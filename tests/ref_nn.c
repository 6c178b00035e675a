#include "ref_nn.h"

#include <math.h>
#include <stdlib.h>

void ref_softmax(float *y, const float *x, int rows, int C, int log_) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * C;
    float *yr = y + (size_t)r * C;
    double m = -INFINITY, s = 0;
    for (int c = 0; c < C; c++) m = xr[c] > m ? xr[c] : m;
    for (int c = 0; c < C; c++) s += exp((double)xr[c] - m);
    for (int c = 0; c < C; c++) yr[c] = (float)(log_ ? (double)xr[c] - m - log(s) : exp((double)xr[c] - m) / s);
  }
}

void ref_layernorm(float *y, float *mean, float *rstd, const float *x, const float *gamma, const float *beta, int rows,
                   int C, float eps) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * C;
    double mu = 0, var = 0;
    for (int c = 0; c < C; c++) mu += xr[c];
    mu /= C;
    for (int c = 0; c < C; c++) var += (xr[c] - mu) * (xr[c] - mu);
    var /= C; /* biased, as PyTorch */
    double rs = 1.0 / sqrt(var + eps);
    for (int c = 0; c < C; c++)
      y[(size_t)r * C + c] = (float)((xr[c] - mu) * rs * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0));
    if (mean) mean[r] = (float)mu;
    if (rstd) rstd[r] = (float)rs;
  }
}

void ref_batchnorm(float *y, float *mean, float *rstd, float *run_mean, float *run_var, const float *x,
                   const float *gamma, const float *beta, int B, int C, int S, float momentum, float eps, int training) {
  size_t n = (size_t)B * S;
  for (int c = 0; c < C; c++) {
    double mu, rs;
    if (training) {
      double s = 0, q = 0;
      for (int b = 0; b < B; b++)
        for (int i = 0; i < S; i++) s += x[((size_t)b * C + c) * S + i];
      mu = s / n;
      for (int b = 0; b < B; b++)
        for (int i = 0; i < S; i++) {
          double d = x[((size_t)b * C + c) * S + i] - mu;
          q += d * d;
        }
      rs = 1.0 / sqrt(q / n + eps);
      if (run_mean) {
        run_mean[c] = (float)((1.0 - momentum) * run_mean[c] + momentum * mu);
        run_var[c] = (float)((1.0 - momentum) * run_var[c] + momentum * (q / (n - 1)));
      }
      if (mean) mean[c] = (float)mu;
      if (rstd) rstd[c] = (float)rs;
    } else {
      mu = run_mean[c];
      rs = 1.0 / sqrt((double)run_var[c] + eps);
    }
    for (int b = 0; b < B; b++)
      for (int i = 0; i < S; i++) {
        size_t e = ((size_t)b * C + c) * S + i;
        y[e] = (float)((x[e] - mu) * rs * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0));
      }
  }
}

void ref_embedding(float *out, const float *table, const int32_t *ids, int n, int V, int C) {
  for (int i = 0; i < n; i++)
    for (int c = 0; c < C; c++)
      out[(size_t)i * C + c] = (ids[i] >= 0 && ids[i] < V) ? table[(size_t)ids[i] * C + c] : 0.0f;
}

void ref_attention(float *o, float *lse, const float *q, const float *k, const float *v, int B, int NH, int Tq, int Tk,
                   int D, int Dv, float scale, int causal) {
  double sc = scale > 0 ? scale : 1.0 / sqrt((double)D);
  double *s = malloc(sizeof *s * (size_t)Tk), *acc = malloc(sizeof *acc * (size_t)Dv);
  for (int bh = 0; bh < B * NH; bh++) {
    const float *Q = q + (size_t)bh * Tq * D, *K = k + (size_t)bh * Tk * D, *V = v + (size_t)bh * Tk * Dv;
    for (int i = 0; i < Tq; i++) {
      int limit = causal ? Tk - Tq + i + 1 : Tk; /* keys [0, limit) are visible */
      double m = -INFINITY, l = 0;
      for (int j = 0; j < limit; j++) {
        double d = 0;
        for (int e = 0; e < D; e++) d += (double)Q[(size_t)i * D + e] * K[(size_t)j * D + e];
        s[j] = d * sc;
        if (s[j] > m) m = s[j];
      }
      for (int c = 0; c < Dv; c++) acc[c] = 0;
      for (int j = 0; j < limit; j++) {
        double p = exp(s[j] - m);
        l += p;
        for (int c = 0; c < Dv; c++) acc[c] += p * V[(size_t)j * Dv + c];
      }
      for (int c = 0; c < Dv; c++) o[((size_t)bh * Tq + i) * Dv + c] = (float)(acc[c] / l);
      if (lse) lse[(size_t)bh * Tq + i] = (float)(m + log(l));
    }
  }
  free(s);
  free(acc);
}
