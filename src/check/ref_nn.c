#include "ref_nn.h"

#include <math.h>
#include <stdlib.h>

/* A double copy of n floats (NULL stays NULL). */
static double *to_d(const float *x, size_t n) {
  if (!x) return NULL;
  double *d = malloc(sizeof *d * (n ? n : 1));
  if (!d) abort();
  for (size_t i = 0; i < n; i++)
    d[i] = x[i];
  return d;
}

/* y = x rounded to float, when y is not NULL. */
static void to_f(float *y, const double *x, size_t n) {
  if (y)
    for (size_t i = 0; i < n; i++)
      y[i] = (float)x[i];
}

static double *zeros(size_t n) {
  double *d = calloc(n ? n : 1, sizeof *d);
  if (!d) abort();
  return d;
}

// ---- softmax ----

void ref_softmax_d(double *y, const double *x, int rows, int C, int log_) {
  for (int r = 0; r < rows; r++) {
    const double *xr = x + (size_t)r * C;
    double *yr = y + (size_t)r * C;
    double m = -INFINITY, s = 0;
    for (int c = 0; c < C; c++)
      m = xr[c] > m ? xr[c] : m;
    for (int c = 0; c < C; c++)
      s += exp(xr[c] - m);
    for (int c = 0; c < C; c++)
      yr[c] = log_ ? xr[c] - m - log(s) : exp(xr[c] - m) / s;
  }
}

void ref_softmax(float *y, const float *x, int rows, int C, int log_) {
  size_t n = (size_t)rows * C;
  double *xd = to_d(x, n), *yd = zeros(n);
  ref_softmax_d(yd, xd, rows, C, log_);
  to_f(y, yd, n);
  free(xd), free(yd);
}

/* The Jacobian of p = softmax(x) is diag(p) - p p^T, so dx_c = p_c (dy_c - sum_j p_j dy_j); for
 * log p it is I - 1 p^T, so dx_c = dy_c - p_c sum_j dy_j. */
void ref_softmax_bwd(double *dx, const double *x, const double *dy, int rows, int C, int log_) {
  double *p = zeros((size_t)rows * C);
  ref_softmax_d(p, x, rows, C, 0);
  for (int r = 0; r < rows; r++) {
    const double *pr = p + (size_t)r * C, *gr = dy + (size_t)r * C;
    double s = 0;
    for (int c = 0; c < C; c++)
      s += log_ ? gr[c] : pr[c] * gr[c];
    for (int c = 0; c < C; c++)
      dx[(size_t)r * C + c] += log_ ? gr[c] - pr[c] * s : pr[c] * (gr[c] - s);
  }
  free(p);
}

// ---- cross-entropy ----

static int ce_valid(double label, int C, int ignore) {
  int l = (int)label;
  return l != ignore && l >= 0 && l < C;
}

/* log sum_c exp(x_c), with the max subtracted first. */
static double row_lse(const double *x, int C) {
  double m = -INFINITY, s = 0;
  for (int c = 0; c < C; c++)
    m = x[c] > m ? x[c] : m;
  for (int c = 0; c < C; c++)
    s += exp(x[c] - m);
  return m + log(s);
}

double ref_cross_entropy_d(const double *x, const double *labels, int rows, int C, int ignore) {
  double sum = 0;
  int count = 0;
  for (int r = 0; r < rows; r++)
    if (ce_valid(labels[r], C, ignore)) {
      const double *xr = x + (size_t)r * C;
      sum += row_lse(xr, C) - xr[(int)labels[r]];
      count++;
    }
  return count ? sum / count : 0;
}

/* d loss_r / d x_c = softmax(x_r)_c - [c == label_r], averaged over the counted rows. */
void ref_cross_entropy_bwd(double *dx, const double *x, const double *labels, double gy, int rows, int C, int ignore) {
  int count = 0;
  for (int r = 0; r < rows; r++)
    count += ce_valid(labels[r], C, ignore);
  for (int r = 0; r < rows; r++) {
    if (!count || !ce_valid(labels[r], C, ignore)) continue;
    const double *xr = x + (size_t)r * C;
    double l = row_lse(xr, C);
    for (int c = 0; c < C; c++)
      dx[(size_t)r * C + c] += gy * (exp(xr[c] - l) - (c == (int)labels[r])) / count;
  }
}

// ---- layernorm ----

/* Mean and 1/sqrt(biased variance + eps) of n values x[0], x[stride], ... */
static void moments(const double *x, size_t n, size_t stride, double eps, double *mean, double *rstd) {
  double mu = 0, var = 0;
  for (size_t i = 0; i < n; i++)
    mu += x[i * stride];
  mu /= (double)n;
  for (size_t i = 0; i < n; i++)
    var += (x[i * stride] - mu) * (x[i * stride] - mu);
  var /= (double)n; /* biased, as PyTorch */
  *mean = mu;
  *rstd = 1.0 / sqrt(var + eps);
}

void ref_layernorm_d(double *y, double *mean, double *rstd, const double *x, const double *gamma, const double *beta,
                     int rows, int C, double eps) {
  for (int r = 0; r < rows; r++) {
    const double *xr = x + (size_t)r * C;
    double mu, rs;
    moments(xr, (size_t)C, 1, eps, &mu, &rs);
    for (int c = 0; c < C; c++)
      y[(size_t)r * C + c] = (xr[c] - mu) * rs * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0);
    if (mean) mean[r] = mu;
    if (rstd) rstd[r] = rs;
  }
}

void ref_layernorm(float *y, float *mean, float *rstd, const float *x, const float *gamma, const float *beta, int rows,
                   int C, float eps) {
  size_t n = (size_t)rows * C;
  double *xd = to_d(x, n), *gd = to_d(gamma, (size_t)C), *bd = to_d(beta, (size_t)C);
  double *yd = zeros(n), *md = zeros((size_t)rows), *rd = zeros((size_t)rows);
  ref_layernorm_d(yd, md, rd, xd, gd, bd, rows, C, eps);
  to_f(y, yd, n);
  to_f(mean, md, (size_t)rows);
  to_f(rstd, rd, (size_t)rows);
  free(xd), free(gd), free(bd), free(yd), free(md), free(rd);
}

/* With xhat = (x - mean) rstd and g = dy gamma over a group of n values normalized together,
 * d xhat_i / d x_j = rstd (delta_ij - 1/n - xhat_i xhat_j / n), so
 * dx_j = rstd (g_j - mean(g) - xhat_j mean(g xhat)). Shared by layernorm (a row) and batchnorm in
 * training (a channel): the group is x[0], x[stride], ... with the same gamma value g_scale. */
static void norm_group_bwd(double *dx, const double *x, const double *dy, size_t n, size_t stride, double eps,
                           double g_scale) {
  double mu, rs, a = 0, b = 0;
  moments(x, n, stride, eps, &mu, &rs);
  for (size_t i = 0; i < n; i++) {
    double g = dy[i * stride] * g_scale;
    a += g;
    b += g * (x[i * stride] - mu) * rs;
  }
  a /= (double)n, b /= (double)n;
  for (size_t i = 0; i < n; i++)
    dx[i * stride] += rs * (dy[i * stride] * g_scale - a - (x[i * stride] - mu) * rs * b);
}

void ref_layernorm_bwd(double *dx, double *dgamma, double *dbeta, const double *x, const double *gamma,
                       const double *dy, int rows, int C, double eps) {
  double *g = zeros((size_t)C);
  for (int r = 0; r < rows; r++) {
    const double *xr = x + (size_t)r * C, *gr = dy + (size_t)r * C;
    double mu, rs;
    moments(xr, (size_t)C, 1, eps, &mu, &rs);
    for (int c = 0; c < C; c++) {
      if (dgamma) dgamma[c] += gr[c] * (xr[c] - mu) * rs;
      if (dbeta) dbeta[c] += gr[c];
    }
    if (!dx) continue;
    /* Per-column gamma: fold it into dy, then take the group rule with scale 1. */
    for (int c = 0; c < C; c++)
      g[c] = gr[c] * (gamma ? gamma[c] : 1.0);
    norm_group_bwd(dx + (size_t)r * C, xr, g, (size_t)C, 1, eps, 1.0);
  }
  free(g);
}

// ---- batchnorm ----

void ref_batchnorm_d(double *y, double *mean, double *rstd, double *run_mean, double *run_var, const double *x,
                     const double *gamma, const double *beta, int B, int C, int S, double momentum, double eps,
                     int training) {
  size_t n = (size_t)B * S;
  double *xc = zeros(n);
  for (int c = 0; c < C; c++) {
    double mu, rs;
    if (training) {
      for (int b = 0; b < B; b++)
        for (int i = 0; i < S; i++)
          xc[(size_t)b * S + i] = x[((size_t)b * C + c) * S + i];
      moments(xc, n, 1, eps, &mu, &rs);
      if (run_mean) {
        double q = 0; /* the sum of squares again, for the unbiased variance */
        for (size_t i = 0; i < n; i++)
          q += (xc[i] - mu) * (xc[i] - mu);
        run_mean[c] = (1.0 - momentum) * run_mean[c] + momentum * mu;
        run_var[c] = (1.0 - momentum) * run_var[c] + momentum * (q / (double)(n - 1));
      }
      if (mean) mean[c] = mu;
      if (rstd) rstd[c] = rs;
    } else {
      mu = run_mean[c];
      rs = 1.0 / sqrt(run_var[c] + eps);
    }
    for (int b = 0; b < B; b++)
      for (int i = 0; i < S; i++) {
        size_t e = ((size_t)b * C + c) * S + i;
        y[e] = (x[e] - mu) * rs * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0);
      }
  }
  free(xc);
}

void ref_batchnorm(float *y, float *mean, float *rstd, float *run_mean, float *run_var, const float *x,
                   const float *gamma, const float *beta, int B, int C, int S, float momentum, float eps,
                   int training) {
  size_t n = (size_t)B * C * S;
  double *xd = to_d(x, n), *gd = to_d(gamma, (size_t)C), *bd = to_d(beta, (size_t)C);
  double *rmd = to_d(run_mean, (size_t)C), *rvd = to_d(run_var, (size_t)C);
  double *yd = zeros(n), *md = zeros((size_t)C), *rd = zeros((size_t)C);
  ref_batchnorm_d(yd, md, rd, rmd, rvd, xd, gd, bd, B, C, S, momentum, eps, training);
  to_f(y, yd, n);
  if (training) {
    to_f(mean, md, (size_t)C);
    to_f(rstd, rd, (size_t)C);
    to_f(run_mean, rmd, (size_t)C);
    to_f(run_var, rvd, (size_t)C);
  }
  free(xd), free(gd), free(bd), free(rmd), free(rvd), free(yd), free(md), free(rd);
}

void ref_batchnorm_bwd(double *dx, double *dgamma, double *dbeta, const double *x, const double *gamma,
                       const double *run_mean, const double *run_var, const double *dy, int B, int C, int S, double eps,
                       int training) {
  size_t n = (size_t)B * S;
  double *xc = zeros(n), *gc = zeros(n), *dc = zeros(n);
  for (int c = 0; c < C; c++) {
    /* Gather the channel so the group rule can walk it with stride 1. */
    for (int b = 0; b < B; b++)
      for (int i = 0; i < S; i++) {
        xc[(size_t)b * S + i] = x[((size_t)b * C + c) * S + i];
        gc[(size_t)b * S + i] = dy[((size_t)b * C + c) * S + i];
        dc[(size_t)b * S + i] = 0;
      }
    double mu, rs, ga = gamma ? gamma[c] : 1.0;
    if (training) {
      moments(xc, n, 1, eps, &mu, &rs);
      if (dx) norm_group_bwd(dc, xc, gc, n, 1, eps, ga);
    } else {
      mu = run_mean[c];
      rs = 1.0 / sqrt(run_var[c] + eps);
      for (size_t i = 0; i < n; i++)
        dc[i] = gc[i] * ga * rs;
    }
    for (size_t i = 0; i < n; i++) {
      if (dgamma) dgamma[c] += gc[i] * (xc[i] - mu) * rs;
      if (dbeta) dbeta[c] += gc[i];
    }
    if (dx)
      for (int b = 0; b < B; b++)
        for (int i = 0; i < S; i++)
          dx[((size_t)b * C + c) * S + i] += dc[(size_t)b * S + i];
  }
  free(xc), free(gc), free(dc);
}

// ---- embedding ----

void ref_embedding_d(double *out, const double *table, const int32_t *ids, int n, int V, int C) {
  for (int i = 0; i < n; i++)
    for (int c = 0; c < C; c++)
      out[(size_t)i * C + c] = (ids[i] >= 0 && ids[i] < V) ? table[(size_t)ids[i] * C + c] : 0.0;
}

void ref_embedding(float *out, const float *table, const int32_t *ids, int n, int V, int C) {
  double *td = to_d(table, (size_t)V * C), *od = zeros((size_t)n * C);
  ref_embedding_d(od, td, ids, n, V, C);
  to_f(out, od, (size_t)n * C);
  free(td), free(od);
}

void ref_embedding_bwd(double *dtable, const int32_t *ids, const double *dy, int n, int V, int C) {
  for (int i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= V) continue;
    for (int c = 0; c < C; c++)
      dtable[(size_t)ids[i] * C + c] += dy[(size_t)i * C + c];
  }
}

// ---- attention ----

/* Probabilities p (limit) of query row Q (D) over keys K (Tk, D) [0, limit), with the log of the
 * softmax denominator. */
static double attention_row(double *p, const double *Q, const double *K, int limit, int D, double sc) {
  double m = -INFINITY, l = 0;
  for (int j = 0; j < limit; j++) {
    double d = 0;
    for (int e = 0; e < D; e++)
      d += Q[e] * K[(size_t)j * D + e];
    p[j] = d * sc;
    if (p[j] > m) m = p[j];
  }
  for (int j = 0; j < limit; j++)
    l += p[j] = exp(p[j] - m);
  for (int j = 0; j < limit; j++)
    p[j] /= l;
  return m + log(l);
}

void ref_attention_d(double *o, double *lse, const double *q, const double *k, const double *v, int B, int NH, int Tq,
                     int Tk, int D, int Dv, double scale, int causal) {
  double sc = scale > 0 ? scale : 1.0 / sqrt((double)D);
  double *p = zeros((size_t)Tk);
  for (int bh = 0; bh < B * NH; bh++) {
    const double *Q = q + (size_t)bh * Tq * D, *K = k + (size_t)bh * Tk * D, *V = v + (size_t)bh * Tk * Dv;
    for (int i = 0; i < Tq; i++) {
      int limit = causal ? Tk - Tq + i + 1 : Tk; /* keys [0, limit) are visible */
      double l = attention_row(p, Q + (size_t)i * D, K, limit, D, sc);
      for (int c = 0; c < Dv; c++) {
        double acc = 0;
        for (int j = 0; j < limit; j++)
          acc += p[j] * V[(size_t)j * Dv + c];
        o[((size_t)bh * Tq + i) * Dv + c] = acc;
      }
      if (lse) lse[(size_t)bh * Tq + i] = l;
    }
  }
  free(p);
}

void ref_attention(float *o, float *lse, const float *q, const float *k, const float *v, int B, int NH, int Tq, int Tk,
                   int D, int Dv, float scale, int causal) {
  size_t nq = (size_t)B * NH * Tq, nk = (size_t)B * NH * Tk;
  double *qd = to_d(q, nq * D), *kd = to_d(k, nk * D), *vd = to_d(v, nk * Dv), *od = zeros(nq * Dv), *ld = zeros(nq);
  ref_attention_d(od, ld, qd, kd, vd, B, NH, Tq, Tk, D, Dv, scale, causal);
  to_f(o, od, nq * Dv);
  to_f(lse, ld, nq);
  free(qd), free(kd), free(vd), free(od), free(ld);
}

/* Per query row i with probabilities p over its visible keys: o_i = sum_j p_j v_j gives
 * dv_j += p_j dO_i and dp_j = dO_i . v_j; through the softmax ds_j = p_j (dp_j - sum_l p_l dp_l);
 * the scores are sc q_i . k_j, so dq_i += sc sum_j ds_j k_j and dk_j += sc ds_j q_i. */
void ref_attention_bwd(double *dq, double *dk, double *dv, const double *q, const double *k, const double *v,
                       const double *dO, int B, int NH, int Tq, int Tk, int D, int Dv, double scale, int causal) {
  double sc = scale > 0 ? scale : 1.0 / sqrt((double)D);
  double *p = zeros((size_t)Tk), *ds = zeros((size_t)Tk);
  for (int bh = 0; bh < B * NH; bh++) {
    size_t qo = (size_t)bh * Tq, ko = (size_t)bh * Tk;
    for (int i = 0; i < Tq; i++) {
      int limit = causal ? Tk - Tq + i + 1 : Tk;
      const double *Qi = q + (qo + i) * D, *G = dO + (qo + i) * Dv;
      attention_row(p, Qi, k + ko * D, limit, D, sc);
      double dsum = 0;
      for (int j = 0; j < limit; j++) {
        double dp = 0;
        for (int c = 0; c < Dv; c++) {
          dp += G[c] * v[(ko + j) * Dv + c];
          if (dv) dv[(ko + j) * Dv + c] += p[j] * G[c];
        }
        ds[j] = dp;
        dsum += p[j] * dp;
      }
      for (int j = 0; j < limit; j++) {
        ds[j] = p[j] * (ds[j] - dsum);
        for (int e = 0; e < D; e++) {
          if (dq) dq[(qo + i) * D + e] += sc * ds[j] * k[(ko + j) * D + e];
          if (dk) dk[(ko + j) * D + e] += sc * ds[j] * Qi[e];
        }
      }
    }
  }
  free(p), free(ds);
}
