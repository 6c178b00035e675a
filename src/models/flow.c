/* The normalizing flow (see flow.h): Glow's steps (actnorm, LU-parametrized 1x1 convolution, affine
 * coupling) inside RealNVP's multi-scale architecture (squeeze, split with a learned prior). Every
 * layer is written with existing graph ops, forward and inverse, so autodiff needs nothing new and the
 * sampling pass runs on the GPU like the training pass. Shape letters: B batch, C channels at the
 * current level, H W its height and width, S image side, D = channels * S * S, K dequantization draws. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "models/flow.h"
#include "nn/progress.h"
#include "nn/data.h"
#include "nn/weights.h"

/* Images per graph run in the inference helpers. */
#define FLOW_CHUNK 128

// ---- configuration ----

static vkg_status check_config(const void *cfg) {
  const struct flow_config *c = cfg;
  if (c->size % (1 << c->levels))
    return vkg__fail(VKG_ERR_ARG, "flow config: the image size %d is not divisible by 2^levels = %d", c->size,
                     1 << c->levels);
  return VKG_OK;
}
#define F(...) NN_CFG_INT_F(struct flow_config, __VA_ARGS__)
static const struct nn_cfg_field flow_fields[] = {
    F(size, 28, 2, 256, NULL, "image side, divisible by 2^levels (Fashion-MNIST: 28)"),
    F(channels, 1, 1, 3, "1,3", "1 (gray) or 3 (RGB)"),
    F(levels, 2, 1, FLOW_MAX_LEVELS, NULL, "levels of the multi-scale architecture (each squeezes once)"),
    F(depth, 4, 1, 64, NULL, "flow steps (actnorm, 1x1 conv, coupling) per level"),
    F(width, 32, 1, 1024, NULL, "hidden channels of each coupling network"),
    NN_CFG_STR_F(struct flow_config, preprocess, "centered", "centered,logit",
                 "y - 0.5, or logit(a + (1 - 2a) y) with its log-det"),
    NN_CFG_FLOAT_F(struct flow_config, alpha, 0.05f, 1e-6, 0.25, "the logit preprocessing's margin a"),
};
#undef F
const struct nn_cfg flow_cfg = {"flow", flow_fields, sizeof flow_fields / sizeof flow_fields[0],
                                sizeof(struct flow_config), check_config};

struct flow_config flow_config_default(void) {
  struct flow_config c;
  memset(&c, 0, sizeof c);
  nn_cfg_defaults(&flow_cfg, &c);
  return c;
}

int flow_dims(const struct flow_config *c) { return c->channels * c->size * c->size; }

/* Channels and side inside level l (after its squeeze): 4C at level 0, then doubling (split halves,
 * squeeze quadruples); the side halves per level. */
static int level_channels(const struct flow_config *c, int l) { return c->channels << (l + 2); }
static int level_side(const struct flow_config *c, int l) { return c->size >> (l + 1); }

// ---- parameters ----

/* A normal number from (seed, i) by Box-Muller over two splitmix draws. */
static double host_normal(uint64_t seed, uint64_t i) {
  double u1 = ((double)(nn_mix(seed, 2 * i) >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */
  double u2 = (double)(nn_mix(seed, 2 * i + 1) >> 11) * (1.0 / 9007199254740992.0);
  return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* A random rotation (Gram-Schmidt of a normal matrix) as P L U with unit-diagonal L (Doolittle, partial
 * pivoting): Glow's initialization of the 1x1 convolution. Outputs (C, C) row-major; s = diag(U). */
static void random_lu(int C, uint64_t seed, float *perm, float *lower, float *upper, float *sign, float *log_s) {
  double *a = malloc(sizeof *a * (size_t)C * C);
  int *piv = malloc(sizeof *piv * (size_t)C);
  for (int i = 0; i < C * C; i++)
    a[i] = host_normal(seed, (uint64_t)i);
  for (int i = 0; i < C; i++) { /* orthonormal rows */
    for (int j = 0; j < i; j++) {
      double d = 0;
      for (int k = 0; k < C; k++)
        d += a[i * C + k] * a[j * C + k];
      for (int k = 0; k < C; k++)
        a[i * C + k] -= d * a[j * C + k];
    }
    double n = 0;
    for (int k = 0; k < C; k++)
      n += a[i * C + k] * a[i * C + k];
    n = sqrt(n);
    for (int k = 0; k < C; k++)
      a[i * C + k] /= n;
  }
  /* LU in place: row i of the factored matrix is row piv[i] of the rotation. */
  for (int i = 0; i < C; i++)
    piv[i] = i;
  for (int k = 0; k < C; k++) {
    int best = k;
    for (int i = k + 1; i < C; i++)
      if (fabs(a[i * C + k]) > fabs(a[best * C + k])) best = i;
    if (best != k) {
      for (int j = 0; j < C; j++) {
        double t = a[k * C + j];
        a[k * C + j] = a[best * C + j], a[best * C + j] = t;
      }
      int t = piv[k];
      piv[k] = piv[best], piv[best] = t;
    }
    for (int i = k + 1; i < C; i++) {
      a[i * C + k] /= a[k * C + k];
      for (int j = k + 1; j < C; j++)
        a[i * C + j] -= a[i * C + k] * a[k * C + j];
    }
  }
  /* W = P L U with P[r][c] = 1 where r = piv[c] (so row piv[i] of W is row i of L U). */
  for (int r = 0; r < C; r++)
    for (int c = 0; c < C; c++) {
      perm[r * C + c] = r == piv[c] ? 1.0f : 0.0f;
      lower[r * C + c] = c < r ? (float)a[r * C + c] : 0.0f;
      upper[r * C + c] = c > r ? (float)a[r * C + c] : 0.0f;
    }
  for (int i = 0; i < C; i++) {
    double s = a[i * C + i];
    sign[i] = s < 0 ? -1.0f : 1.0f;
    log_s[i] = (float)log(fabs(s));
  }
  free(a);
  free(piv);
}

/* Adds a parameter and returns its index (-1 on failure, with p->err set). */
static int add(struct nn_params *p, int trainable, int ndim, const int *shape, const char *fmt, int l, int k,
               const char *what) {
  char name[64];
  if (k >= 0)
    snprintf(name, sizeof name, fmt, l, k, what);
  else
    snprintf(name, sizeof name, fmt, l, what);
  return nn_param(p, name, trainable, ndim, shape) ? p->n - 1 : -1;
}

static vkg_status upload(struct nn_params *p, int i, const float *v) {
  return vkg_tensor_upload_f32(p->t[i], v, vkg_tensor_numel(p->t[i]));
}

/* A constant (C, C) matrix on the device: strictly lower (kind 0), strictly upper (1), identity (2). */
static vkg_status const_matrix(vkg_ctx *ctx, int C, int kind, vkg_tensor **out) {
  int shape[2] = {C, C};
  vkg_status s = vkg_tensor_create(ctx, VKG_F32, 2, shape, out);
  float *v = s ? NULL : malloc(sizeof *v * (size_t)C * C);
  if (!s && !v) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (int r = 0; !s && r < C; r++)
    for (int c = 0; c < C; c++)
      v[r * C + c] = (kind == 0 ? c < r : kind == 1 ? c > r : c == r) ? 1.0f : 0.0f;
  if (!s) s = vkg_tensor_upload_f32(*out, v, (size_t)C * C);
  free(v);
  return s;
}

vkg_status flow_net_create(struct flow_net *net, struct nn_params *p, const struct flow_config *c, uint64_t seed) {
  memset(net, 0, sizeof *net);
  vkg_status s = nn_cfg_check(&flow_cfg, c);
  if (s) return s;
  net->c = *c;
  net->p = p;
  int L = c->levels, K = c->depth, W = c->width;
  net->st = calloc((size_t)L * K, sizeof *net->st);
  net->winv = calloc((size_t)L * K, sizeof *net->winv);
  if (!net->st || !net->winv) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  const char *sf = "levels.%d.steps.%d.%s", *lf = "levels.%d.%s";
  uint64_t n_init = 0;
  for (int l = 0; l < L && !s; l++) {
    int C = level_channels(c, l), Ca = C / 2, Cb = C - Ca;
    int chan[4] = {1, C, 1, 1}, mat[2] = {C, C}, vec[1] = {C};
    int w1[4] = {W, Ca, 3, 3}, w2[4] = {W, W, 1, 1}, w3[4] = {2 * Cb, W, 3, 3}, bw[1] = {W}, b3[1] = {2 * Cb};
    float *perm = malloc(sizeof *perm * (size_t)C * C), *lower = malloc(sizeof *lower * (size_t)C * C);
    float *upper = malloc(sizeof *upper * (size_t)C * C), *sign = malloc(sizeof *sign * (size_t)C);
    float *log_s = malloc(sizeof *log_s * (size_t)C);
    if (!perm || !lower || !upper || !sign || !log_s) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
    for (int k = 0; k < K && !s; k++) {
      struct flow_step_ids *t = &net->st[l * K + k];
      t->an_bias = add(p, 1, 4, chan, sf, l, k, "actnorm.bias");
      t->an_logs = add(p, 1, 4, chan, sf, l, k, "actnorm.logs");
      t->lower = add(p, 1, 2, mat, sf, l, k, "invconv.lower");
      t->upper = add(p, 1, 2, mat, sf, l, k, "invconv.upper");
      t->log_s = add(p, 1, 1, vec, sf, l, k, "invconv.log_s");
      t->perm = add(p, 0, 2, mat, sf, l, k, "invconv.perm");
      t->sign = add(p, 0, 1, vec, sf, l, k, "invconv.sign");
      t->c1_w = add(p, 1, 4, w1, sf, l, k, "coupling.conv1.weight");
      t->c1_b = add(p, 1, 1, bw, sf, l, k, "coupling.conv1.bias");
      t->c2_w = add(p, 1, 4, w2, sf, l, k, "coupling.conv2.weight");
      t->c2_b = add(p, 1, 1, bw, sf, l, k, "coupling.conv2.bias");
      t->c3_w = add(p, 1, 4, w3, sf, l, k, "coupling.conv3.weight");
      t->c3_b = add(p, 1, 1, b3, sf, l, k, "coupling.conv3.bias");
      if (t->c3_b < 0) {
        s = p->err;
        break;
      }
      if (p->expect) continue; /* loading: the file gives the values */
      random_lu(C, nn_mix(seed, n_init++), perm, lower, upper, sign, log_s);
      s = nn_init_const(p->t[t->an_bias], 0);
      if (!s) s = nn_init_const(p->t[t->an_logs], 0);
      if (!s) s = upload(p, t->perm, perm);
      if (!s) s = upload(p, t->lower, lower);
      if (!s) s = upload(p, t->upper, upper);
      if (!s) s = upload(p, t->sign, sign);
      if (!s) s = upload(p, t->log_s, log_s);
      /* PyTorch's default init for the hidden convs; the last starts at zero so each coupling starts
       * as (nearly) the identity: shift 0, scale sigmoid(2). */
      if (!s) s = nn_init_uniform(p->t[t->c1_w], 1 / sqrtf((float)(Ca * 9)), nn_mix(seed, n_init++));
      if (!s) s = nn_init_uniform(p->t[t->c1_b], 1 / sqrtf((float)(Ca * 9)), nn_mix(seed, n_init++));
      if (!s) s = nn_init_uniform(p->t[t->c2_w], 1 / sqrtf((float)W), nn_mix(seed, n_init++));
      if (!s) s = nn_init_uniform(p->t[t->c2_b], 1 / sqrtf((float)W), nn_mix(seed, n_init++));
      if (!s) s = nn_init_const(p->t[t->c3_w], 0);
      if (!s) s = nn_init_const(p->t[t->c3_b], 0);
    }
    free(perm), free(lower), free(upper), free(sign), free(log_s);
    if (!s && l < L - 1) { /* the split prior: (mu, logs) of the leaving half from the staying half */
      int sw[4] = {C, C / 2, 3, 3}, sb[1] = {C};
      net->split_w[l] = add(p, 1, 4, sw, lf, l, -1, "split.conv.weight");
      net->split_b[l] = add(p, 1, 1, sb, lf, l, -1, "split.conv.bias");
      if (net->split_b[l] < 0) s = p->err;
      if (!s && !p->expect) s = nn_init_const(p->t[net->split_w[l]], 0);
      if (!s && !p->expect) s = nn_init_const(p->t[net->split_b[l]], 0);
    }
    if (!s) s = const_matrix(p->ctx, C, 0, &net->mlower[l]);
    if (!s) s = const_matrix(p->ctx, C, 1, &net->mupper[l]);
    if (!s) s = const_matrix(p->ctx, C, 2, &net->eye[l]);
  }
  if (!s) {
    int Ct = level_channels(c, L - 1), H = level_side(c, L - 1), ts[4] = {1, 2 * Ct, H, H};
    if (nn_param(p, "top.prior", 1, 4, ts)) {
      net->top = p->n - 1;
      if (!p->expect) s = nn_init_const(p->t[net->top], 0);
    } else {
      s = p->err;
    }
  }
  return s;
}

void flow_net_free(struct flow_net *net) {
  if (!net) return;
  for (int l = 0; l < FLOW_MAX_LEVELS; l++) {
    vkg_tensor_destroy(net->mlower[l]);
    vkg_tensor_destroy(net->mupper[l]);
    vkg_tensor_destroy(net->eye[l]);
  }
  if (net->winv)
    for (int i = 0; i < net->c.levels * net->c.depth; i++)
      vkg_tensor_destroy(net->winv[i]);
  free(net->winv);
  free(net->st);
  memset(net, 0, sizeof *net);
}

/* Gauss-Jordan inversion with partial pivoting in place (n x n, double); 0 if singular. */
static int invert(double *a, double *inv, int n) {
  for (int i = 0; i < n * n; i++)
    inv[i] = (i / n == i % n);
  for (int k = 0; k < n; k++) {
    int best = k;
    for (int i = k + 1; i < n; i++)
      if (fabs(a[i * n + k]) > fabs(a[best * n + k])) best = i;
    if (a[best * n + k] == 0) return 0;
    for (int j = 0; j < n; j++) {
      double t = a[k * n + j];
      a[k * n + j] = a[best * n + j], a[best * n + j] = t;
      t = inv[k * n + j];
      inv[k * n + j] = inv[best * n + j], inv[best * n + j] = t;
    }
    double d = a[k * n + k];
    for (int j = 0; j < n; j++)
      a[k * n + j] /= d, inv[k * n + j] /= d;
    for (int i = 0; i < n; i++) {
      if (i == k) continue;
      double f = a[i * n + k];
      for (int j = 0; j < n; j++)
        a[i * n + j] -= f * a[k * n + j], inv[i * n + j] -= f * inv[k * n + j];
    }
  }
  return 1;
}

/* W = P (L + I) (U + diag(sign exp(log_s))) in double from the parameters, and its inverse, as the
 * reverse pass's weight. The matrices are tiny (C <= 1024), so the host does it once per load. */
vkg_status flow_prepare_inverse(struct flow_net *net) {
  const struct flow_config *c = &net->c;
  struct nn_params *p = net->p;
  vkg_status s = VKG_OK;
  for (int l = 0; l < c->levels && !s; l++) {
    int C = level_channels(c, l);
    size_t CC = (size_t)C * C;
    float *buf = malloc(sizeof *buf * (3 * CC + 2 * (size_t)C));
    double *lm = malloc(sizeof *lm * CC), *um = malloc(sizeof *um * CC), *w = malloc(sizeof *w * CC);
    double *wi = malloc(sizeof *wi * CC);
    if (!buf || !lm || !um || !w || !wi) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
    float *pm = buf, *lo = buf + CC, *up = buf + 2 * CC, *ls = buf + 3 * CC, *sg = ls + C;
    for (int k = 0; k < c->depth && !s; k++) {
      const struct flow_step_ids *t = &net->st[l * c->depth + k];
      s = vkg_tensor_download_f32(p->t[t->perm], pm, CC);
      if (!s) s = vkg_tensor_download_f32(p->t[t->lower], lo, CC);
      if (!s) s = vkg_tensor_download_f32(p->t[t->upper], up, CC);
      if (!s) s = vkg_tensor_download_f32(p->t[t->log_s], ls, (size_t)C);
      if (!s) s = vkg_tensor_download_f32(p->t[t->sign], sg, (size_t)C);
      if (s) break;
      for (int r = 0; r < C; r++)
        for (int q = 0; q < C; q++) {
          lm[r * C + q] = q < r ? lo[r * C + q] : q == r;
          um[r * C + q] = q > r ? up[r * C + q] : q == r ? sg[r] * exp((double)ls[r]) : 0;
        }
      for (int r = 0; r < C; r++) /* w = P (lm um); P is a permutation, so a gather of rows */
        for (int q = 0; q < C; q++) {
          double acc = 0;
          for (int j = 0; j < C; j++) {
            double lu = 0;
            for (int m = 0; m < C; m++)
              lu += lm[j * C + m] * um[m * C + q];
            acc += pm[r * C + j] * lu;
          }
          w[r * C + q] = acc;
        }
      if (!invert(w, wi, C)) {
        s = vkg__fail(VKG_ERR_NUMERIC, "flow: the 1x1 convolution of level %d step %d is singular", l, k);
        break;
      }
      vkg_tensor **dst = &net->winv[l * c->depth + k];
      int shape[2] = {C, C};
      if (!*dst) s = vkg_tensor_create(p->ctx, VKG_F32, 2, shape, dst);
      for (size_t i = 0; i < CC; i++)
        pm[i] = (float)wi[i];
      if (!s) s = vkg_tensor_upload_f32(*dst, pm, CC);
    }
    free(buf), free(lm), free(um), free(w), free(wi);
  }
  return s;
}

vkg_status flow_bind(vkg_graph *g, const struct flow_net *net, int train_group, int with_inverse, const vkg_t *params,
                     struct flow_ids *ids) {
  memset(ids, 0, sizeof *ids);
  int LK = net->c.levels * net->c.depth;
  ids->p = malloc(sizeof *ids->p * (size_t)net->p->n);
  ids->winv = malloc(sizeof *ids->winv * (size_t)LK);
  if (!ids->p || !ids->winv) {
    flow_ids_free(ids);
    return vkg__fail(VKG_ERR_OOM, "out of host memory");
  }
  if (params)
    memcpy(ids->p, params, sizeof *ids->p * (size_t)net->p->n);
  else
    nn_bind_all(g, net->p, train_group, ids->p);
  for (int l = 0; l < net->c.levels; l++) {
    ids->ml[l] = vkg_bind(g, net->mlower[l]);
    ids->mu[l] = vkg_bind(g, net->mupper[l]);
    ids->eye[l] = vkg_bind(g, net->eye[l]);
  }
  for (int i = 0; i < LK; i++) {
    ids->winv[i] = VKG_NONE;
    if (!with_inverse) continue;
    if (!net->winv[i]) {
      flow_ids_free(ids);
      return vkg__fail(VKG_ERR_ARG, "flow: reverse pass without flow_prepare_inverse");
    }
    ids->winv[i] = vkg_bind(g, net->winv[i]);
  }
  return VKG_OK;
}

void flow_ids_free(struct flow_ids *ids) {
  free(ids->p);
  free(ids->winv);
  ids->p = ids->winv = NULL;
}

// ---- small helpers ----

/* Sum over everything but the first axis: (B, ...) -> (B). */
static vkg_t sum_per_row(vkg_graph *g, vkg_t x) {
  int flat[2] = {vkg_dim(g, x, 0), -1};
  return vkg_reduce(g, VKG_REDUCE_SUM, vkg_reshape(g, x, 2, flat), 1, 0);
}
/* Sum of everything, as (1). */
static vkg_t sum_all(vkg_graph *g, vkg_t x) {
  int flat[2] = {1, -1};
  return vkg_reduce(g, VKG_REDUCE_SUM, vkg_reshape(g, x, 2, flat), 1, 0);
}
static vkg_t add2(vkg_graph *g, vkg_t a, vkg_t b) { return vkg_binary(g, VKG_ADD, a, b); }
static vkg_t mul2(vkg_graph *g, vkg_t a, vkg_t b) { return vkg_binary(g, VKG_MUL, a, b); }
static vkg_t scale(vkg_graph *g, vkg_t x, float a, float b) { return vkg_unary(g, VKG_AFFINE, x, a, b); }
static vkg_t exp_(vkg_graph *g, vkg_t x) { return vkg_unary(g, VKG_EXP, x, 0, 0); }
static vkg_t conv(vkg_graph *g, vkg_t x, vkg_t w, vkg_t b, int pad) {
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  d.pad_h = d.pad_w = pad;
  return vkg_conv2d(g, x, w, b, &d);
}
/* Channels [lo, hi) of (B, C, H, W). */
static vkg_t chans(vkg_graph *g, vkg_t x, int lo, int hi) { return vkg_slice(g, x, 1, lo, hi); }

// ---- layers ----

vkg_t flow_actnorm(vkg_graph *g, vkg_t x, vkg_t bias, vkg_t logs, int reverse, vkg_t *logdet, vkg_t *stats) {
  int C = vkg_dim(g, x, 1), H = vkg_dim(g, x, 2), W = vkg_dim(g, x, 3);
  if (stats) {
    /* Data-dependent init: per-channel mean and variance over (B, H, W) of this very input. */
    int cm[2] = {C, -1}, perm[4] = {1, 0, 2, 3}, bc[4] = {1, C, 1, 1};
    vkg_t xc = vkg_reshape(g, vkg_permute(g, x, perm), 2, cm);                           // (C, B H W)
    vkg_t mean = vkg_reduce(g, VKG_REDUCE_MEAN, xc, 1, 1);                               // (C, 1)
    vkg_t d = vkg_binary(g, VKG_SUB, xc, mean);                                          // (C, B H W)
    vkg_t var = vkg_reduce(g, VKG_REDUCE_MEAN, vkg_unary(g, VKG_SQUARE, d, 0, 0), 1, 1); // (C, 1)
    /* logs = -log(std) = -0.5 log(var + 1e-6) */
    vkg_t ls = scale(g, vkg_unary(g, VKG_LOG, scale(g, var, 1, 1e-6f), 0, 0), -0.5f, 0);
    int c1[1] = {C};
    stats[0] = vkg_reshape(g, scale(g, mean, -1, 0), 1, c1);
    stats[1] = vkg_reshape(g, ls, 1, c1);
    bias = vkg_reshape(g, stats[0], 4, bc);
    logs = vkg_reshape(g, stats[1], 4, bc);
  }
  if (logdet) *logdet = scale(g, sum_all(g, logs), (float)(H * W) * (reverse ? -1.0f : 1.0f), 0);
  if (!reverse) return mul2(g, add2(g, x, bias), exp_(g, logs));
  return vkg_binary(g, VKG_SUB, mul2(g, x, exp_(g, scale(g, logs, -1, 0))), bias);
}

vkg_t flow_invconv_weight(vkg_graph *g, vkg_t lower, vkg_t upper, vkg_t log_s, vkg_t perm, vkg_t sign, vkg_t ml,
                          vkg_t mu, vkg_t eye) {
  vkg_t lm = add2(g, mul2(g, lower, ml), eye);                                 // unit lower triangular
  vkg_t diag = mul2(g, eye, mul2(g, sign, exp_(g, log_s)));                    // diag(sign exp(log_s))
  vkg_t um = add2(g, mul2(g, upper, mu), diag);                                // upper triangular
  return vkg_matmul(g, perm, vkg_matmul(g, lm, um, VKG_NONE, 0), VKG_NONE, 0); // (C, C)
}

vkg_t flow_invconv(vkg_graph *g, vkg_t x, vkg_t w, vkg_t log_s, vkg_t *logdet) {
  int C = vkg_dim(g, x, 1), H = vkg_dim(g, x, 2), W = vkg_dim(g, x, 3), k[4] = {C, C, 1, 1};
  /* log|det W| = sum(log|s|) since P is a permutation and L has a unit diagonal; the 1x1 convolution
   * applies W at each of the H*W positions. */
  if (logdet) *logdet = log_s != VKG_NONE ? scale(g, sum_all(g, log_s), (float)(H * W), 0) : VKG_NONE;
  return conv(g, x, vkg_reshape(g, w, 4, k), VKG_NONE, 0);
}

vkg_t flow_coupling(vkg_graph *g, vkg_t x, const vkg_t *w, int reverse, vkg_t *logdet) {
  int C = vkg_dim(g, x, 1), Ca = C / 2, Cb = C - Ca;
  vkg_t xa = chans(g, x, 0, Ca), xb = chans(g, x, Ca, C);             // (B, Ca, H, W), (B, Cb, H, W)
  vkg_t h = vkg_unary(g, VKG_RELU, conv(g, xa, w[0], w[1], 1), 0, 0); // (B, width, H, W)
  h = vkg_unary(g, VKG_RELU, conv(g, h, w[2], w[3], 0), 0, 0);        // (B, width, H, W)
  h = conv(g, h, w[4], w[5], 1);                                      // (B, 2Cb, H, W)
  vkg_t shift = chans(g, h, 0, Cb), s = chans(g, h, Cb, 2 * Cb);
  /* scale = sigmoid(s + 2) lies in (0, 1), so the layer can only contract, which keeps training
   * stable (Glow's choice); log scale = -softplus(-(s + 2)) without forming a log of a sigmoid. */
  vkg_t sc = vkg_unary(g, VKG_SIGMOID, scale(g, s, 1, 2), 0, 0);
  if (logdet) {
    vkg_t ls = scale(g, vkg_unary(g, VKG_SOFTPLUS, scale(g, s, -1, -2), 0, 0), reverse ? 1.0f : -1.0f, 0);
    *logdet = sum_per_row(g, ls); // (B)
  }
  vkg_t yb = reverse ? vkg_binary(g, VKG_SUB, vkg_binary(g, VKG_DIV, xb, sc), shift) : mul2(g, add2(g, xb, shift), sc);
  vkg_t parts[2] = {xa, yb};
  return vkg_concat(g, 2, parts, 1);
}

vkg_t flow_squeeze(vkg_graph *g, vkg_t x) {
  int B = vkg_dim(g, x, 0), C = vkg_dim(g, x, 1), H = vkg_dim(g, x, 2), W = vkg_dim(g, x, 3);
  int s6[6] = {B, C, H / 2, 2, W / 2, 2}, perm[6] = {0, 1, 3, 5, 2, 4}, s4[4] = {B, 4 * C, H / 2, W / 2};
  return vkg_reshape(g, vkg_permute(g, vkg_reshape(g, x, 6, s6), perm), 4, s4);
}

vkg_t flow_unsqueeze(vkg_graph *g, vkg_t x) {
  int B = vkg_dim(g, x, 0), C = vkg_dim(g, x, 1) / 4, H = vkg_dim(g, x, 2), W = vkg_dim(g, x, 3);
  int s6[6] = {B, C, 2, 2, H, W}, perm[6] = {0, 1, 4, 2, 5, 3}, s4[4] = {B, C, 2 * H, 2 * W};
  return vkg_reshape(g, vkg_permute(g, vkg_reshape(g, x, 6, s6), perm), 4, s4);
}

/* (mu, logs) of a Gaussian prior from h (B, 2C, H, W): the first and second half of the channels. */
static void prior_params(vkg_graph *g, vkg_t h, vkg_t *mu, vkg_t *logs) {
  int C2 = vkg_dim(g, h, 1);
  *mu = chans(g, h, 0, C2 / 2);
  *logs = chans(g, h, C2 / 2, C2);
}

vkg_t flow_split(vkg_graph *g, vkg_t x, vkg_t w, vkg_t b, vkg_t *eps, vkg_t *logdet) {
  int C = vkg_dim(g, x, 1);
  vkg_t z1 = chans(g, x, 0, C / 2), z2 = chans(g, x, C / 2, C), mu, logs;
  prior_params(g, conv(g, z1, w, b, 1), &mu, &logs);
  *eps = mul2(g, vkg_binary(g, VKG_SUB, z2, mu), exp_(g, scale(g, logs, -1, 0)));
  if (logdet) *logdet = scale(g, sum_per_row(g, logs), -1, 0);
  return z1;
}

vkg_t flow_unsplit(vkg_graph *g, vkg_t z1, vkg_t eps, vkg_t w, vkg_t b) {
  vkg_t mu, logs;
  prior_params(g, conv(g, z1, w, b, 1), &mu, &logs);
  vkg_t parts[2] = {z1, add2(g, mu, mul2(g, exp_(g, logs), eps))};
  return vkg_concat(g, 2, parts, 1);
}

vkg_t flow_preprocess(vkg_graph *g, const struct flow_config *c, vkg_t y, int reverse, vkg_t *logdet) {
  int one[1] = {1};
  if (strcmp(c->preprocess, "logit") != 0) { /* centered: a shift, log-det 0 */
    if (logdet) *logdet = vkg_full(g, 1, one, 0);
    return scale(g, y, 1, reverse ? 0.5f : -0.5f);
  }
  float a = c->alpha, k = 1 - 2 * a;
  if (reverse) { /* y = (sigmoid(v) - a) / (1 - 2a) */
    if (logdet) *logdet = VKG_NONE;
    return scale(g, vkg_unary(g, VKG_SIGMOID, y, 0, 0), 1 / k, -a / k);
  }
  /* v = log t - log(1 - t), t = a + (1 - 2a) y: dv/dy = (1 - 2a) / (t (1 - t)). */
  vkg_t t = scale(g, y, k, a);
  vkg_t lt = vkg_unary(g, VKG_LOG, t, 0, 0), l1t = vkg_unary(g, VKG_LOG, scale(g, t, -1, 1), 0, 0);
  if (logdet) {
    int D = vkg_dim(g, y, 1) * vkg_dim(g, y, 2) * vkg_dim(g, y, 3);
    *logdet = scale(g, sum_per_row(g, add2(g, lt, l1t)), -1, (float)(D * log((double)k)));
  }
  return vkg_binary(g, VKG_SUB, lt, l1t);
}

// ---- the whole model ----

/* The six coupling weights of a step, in flow_coupling's order. */
static void coupling_ids(const struct flow_ids *ids, const struct flow_step_ids *t, vkg_t *w) {
  w[0] = ids->p[t->c1_w], w[1] = ids->p[t->c1_b], w[2] = ids->p[t->c2_w];
  w[3] = ids->p[t->c2_b], w[4] = ids->p[t->c3_w], w[5] = ids->p[t->c3_b];
}

static vkg_t step_weight(vkg_graph *g, const struct flow_ids *ids, const struct flow_step_ids *t, int l) {
  const vkg_t *p = ids->p;
  return flow_invconv_weight(g, p[t->lower], p[t->upper], p[t->log_s], p[t->perm], p[t->sign], ids->ml[l], ids->mu[l],
                             ids->eye[l]);
}

vkg_t flow_forward(vkg_graph *g, const struct flow_net *net, const struct flow_ids *ids, vkg_t y, vkg_t *logdet,
                   vkg_t *an_stats) {
  const struct flow_config *c = &net->c;
  int L = c->levels, K = c->depth, B = vkg_dim(g, y, 0), flat[2] = {B, -1};
  vkg_t ld, d, eps[FLOW_MAX_LEVELS];
  vkg_t h = flow_preprocess(g, c, y, 0, &ld); // (B, C, S, S)
  for (int l = 0; l < L; l++) {
    h = flow_squeeze(g, h); // (B, C_l, H_l, W_l)
    for (int k = 0; k < K; k++) {
      const struct flow_step_ids *t = &net->st[l * K + k];
      vkg_t w[6];
      h = flow_actnorm(g, h, ids->p[t->an_bias], ids->p[t->an_logs], 0, &d,
                       an_stats ? an_stats + 2 * (l * K + k) : NULL);
      ld = add2(g, ld, d);
      h = flow_invconv(g, h, step_weight(g, ids, t, l), ids->p[t->log_s], &d);
      ld = add2(g, ld, d);
      coupling_ids(ids, t, w);
      h = flow_coupling(g, h, w, 0, &d);
      ld = add2(g, ld, d);
    }
    if (l < L - 1) {
      h = flow_split(g, h, ids->p[net->split_w[l]], ids->p[net->split_b[l]], &eps[l], &d);
      ld = add2(g, ld, d);
    } else { /* the top prior: a learned mean and log-scale per position */
      vkg_t mu, logs;
      prior_params(g, ids->p[net->top], &mu, &logs);
      eps[l] = mul2(g, vkg_binary(g, VKG_SUB, h, mu), exp_(g, scale(g, logs, -1, 0)));
      ld = add2(g, ld, scale(g, sum_all(g, logs), -1, 0));
    }
  }
  vkg_t rows[FLOW_MAX_LEVELS];
  for (int l = 0; l < L; l++)
    rows[l] = vkg_reshape(g, eps[l], 2, flat);
  *logdet = ld;
  return L == 1 ? rows[0] : vkg_concat(g, L, rows, 1); // (B, D)
}

vkg_t flow_reverse(vkg_graph *g, const struct flow_net *net, const struct flow_ids *ids, vkg_t eps) {
  const struct flow_config *c = &net->c;
  int L = c->levels, K = c->depth, B = vkg_dim(g, eps, 0);
  /* The offsets of each level's latents in eps: the split halves of levels 0..L-2, then the top. */
  int off[FLOW_MAX_LEVELS + 1] = {0};
  for (int l = 0; l < L; l++) {
    int H = level_side(c, l), Cl = level_channels(c, l);
    off[l + 1] = off[l] + (l < L - 1 ? Cl / 2 : Cl) * H * H;
  }
  vkg_t h = VKG_NONE;
  for (int l = L - 1; l >= 0; l--) {
    int H = level_side(c, l), Cl = level_channels(c, l), Ce = l < L - 1 ? Cl / 2 : Cl;
    int s4[4] = {B, Ce, H, H};
    vkg_t e = vkg_reshape(g, vkg_slice(g, eps, 1, off[l], off[l + 1]), 4, s4);
    if (l == L - 1) {
      vkg_t mu, logs;
      prior_params(g, ids->p[net->top], &mu, &logs);
      h = add2(g, mu, mul2(g, exp_(g, logs), e));
    } else {
      h = flow_unsplit(g, h, e, ids->p[net->split_w[l]], ids->p[net->split_b[l]]);
    }
    for (int k = K - 1; k >= 0; k--) {
      const struct flow_step_ids *t = &net->st[l * K + k];
      vkg_t w[6];
      coupling_ids(ids, t, w);
      h = flow_coupling(g, h, w, 1, NULL);
      h = flow_invconv(g, h, ids->winv[l * K + k], VKG_NONE, NULL);
      h = flow_actnorm(g, h, ids->p[t->an_bias], ids->p[t->an_logs], 1, NULL, NULL);
    }
    h = flow_unsqueeze(g, h);
  }
  return flow_preprocess(g, c, h, 1, NULL); // (B, C, S, S)
}

/* y = (255 x + u) / 256: the 8-bit value k = 255 x plus uniform noise, scaled into (0, 1). */
static vkg_t dequantize(vkg_graph *g, vkg_t x, vkg_t u) {
  return add2(g, scale(g, x, 255.0f / 256.0f, 0), scale(g, u, 1.0f / 256.0f, 0));
}

/* log N(eps; 0, I) summed per image + logdet: log p(y) in nats (B). */
static vkg_t log_density(vkg_graph *g, const struct flow_config *c, vkg_t eps, vkg_t logdet) {
  double D = flow_dims(c);
  vkg_t sq = vkg_reduce(g, VKG_REDUCE_SUM, vkg_unary(g, VKG_SQUARE, eps, 0, 0), 1, 0); // (B)
  return add2(g, scale(g, sq, -0.5f, (float)(-0.5 * D * log(2 * M_PI))), logdet);
}

vkg_t flow_log_likelihood(vkg_graph *g, const struct flow_net *net, const struct flow_ids *ids, vkg_t x, vkg_t u) {
  vkg_t ld, eps = flow_forward(g, net, ids, dequantize(g, x, u), &ld, NULL);
  return log_density(g, &net->c, eps, ld);
}

vkg_t flow_bpd_loss(vkg_graph *g, const struct flow_net *net, const struct flow_ids *ids, vkg_t x, vkg_t u) {
  int B = vkg_dim(g, x, 0), row[2] = {1, B};
  double D = flow_dims(&net->c);
  vkg_t ll = flow_log_likelihood(g, net, ids, x, u);                             // (B)
  vkg_t mean = vkg_reduce(g, VKG_REDUCE_MEAN, vkg_reshape(g, ll, 2, row), 1, 0); // (1)
  return scale(g, mean, (float)(-1 / (D * M_LN2)), 8.0f);                        // bits/dim
}

vkg_status flow_actnorm_init(struct flow_net *net, const float *x, int n, uint32_t seed) {
  const struct flow_config *c = &net->c;
  int LK = c->levels * c->depth, xs[4] = {n, c->channels, c->size, c->size};
  vkg_graph *g;
  struct flow_ids ids;
  vkg_status s = vkg_graph_create(net->p->ctx, &g);
  if (s) return s;
  s = flow_bind(g, net, -1, 0, NULL, &ids);
  vkg_t *st = malloc(sizeof *st * (size_t)(2 * LK));
  if (!s && !st) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  if (!s) {
    int slot = vkg_scalar(g, "seed");
    vkg_t xin = vkg_input(g, "images", VKG_F32, 4, xs), ld;
    vkg_t u = vkg_random_uniform(g, 4, xs, slot, 0, 1);
    vkg_output(g, flow_forward(g, net, &ids, dequantize(g, xin, u), &ld, st));
    for (int i = 0; i < 2 * LK; i++)
      vkg_output(g, st[i]);
    s = vkg_graph_compile(g);
    if (!s) s = vkg_graph_write(g, xin, x, (size_t)n * flow_dims(c));
    if (!s) s = vkg_graph_set_u32(g, slot, seed);
    if (!s) s = vkg_graph_run(g);
    float *buf = malloc(sizeof *buf * (size_t)level_channels(c, c->levels - 1));
    if (!s && !buf) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
    for (int i = 0; i < LK && !s; i++) {
      const struct flow_step_ids *t = &net->st[i];
      size_t C = vkg_tensor_numel(net->p->t[t->an_bias]);
      s = vkg_graph_read(g, st[2 * i], buf, C);
      if (!s) s = vkg_tensor_upload_f32(net->p->t[t->an_bias], buf, C);
      if (!s) s = vkg_graph_read(g, st[2 * i + 1], buf, C);
      if (!s) s = vkg_tensor_upload_f32(net->p->t[t->an_logs], buf, C);
    }
    free(buf);
  }
  free(st);
  flow_ids_free(&ids);
  vkg_graph_destroy(g);
  return s;
}

// ---- data ----

vkg_status flow_data_load(const char *dir, const struct flow_config *c, int synthetic, struct vkg_images *train,
                          struct vkg_images *test) {
  if (synthetic <= 0 && nn_data_is_fashion(dir) && (c->size != 28 || c->channels != 1)) {
    vkg__fail(VKG_ERR_ARG,
              "Fashion-MNIST images are 28x28 with 1 channel, but this flow is for %dx%d with %d channel%s", c->size,
              c->size, c->channels, c->channels == 1 ? "" : "s");
    vkg__hint("pass --data DIR with a folder of your images for other sizes");
    return VKG_ERR_ARG;
  }
  return nn_image_data_load(dir, c->size, c->channels, synthetic, 1, train, test);
}

// ---- the model for the training loop ----

struct flow {
  struct nn_model m;
  struct flow_opts o;
  struct flow_net net;
  struct vkg_images train, test;
  struct flow_ids ids; /* of the training graph (its build_loss) */
  vkg_t x;
  float *xbuf;
};

struct flow_opts flow_opts_default(void) {
  return (struct flow_opts){.arch = flow_config_default(), .batch = 32, .seed = 1};
}

static vkg_t build_loss(struct nn_model *m, vkg_graph *g, const vkg_t *ids, int phase) {
  (void)phase;
  struct flow *f = m->self;
  const struct flow_config *c = &f->o.arch;
  int xs[4] = {m->batch, c->channels, c->size, c->size};
  /* The loop bound the parameters (ids); the constant masks are bound here. */
  flow_ids_free(&f->ids);
  if (flow_bind(g, &f->net, 0, 0, ids, &f->ids)) return VKG_NONE;
  f->x = vkg_input_streamed(g, "images", VKG_F32, 4, xs);
  /* Fresh dequantization noise every step: the loop sets the "seed" slot per step. */
  vkg_t u = vkg_random_uniform(g, 4, xs, vkg_scalar(g, "seed"), 0, 1);
  return flow_bpd_loss(g, &f->net, &f->ids, f->x, u);
}

static vkg_status write_batch(struct nn_model *m, vkg_graph *g, int phase, const uint32_t *idx) {
  (void)phase;
  struct flow *f = m->self;
  size_t P = (size_t)flow_dims(&f->o.arch);
  for (int i = 0; i < m->batch; i++)
    memcpy(f->xbuf + (size_t)i * P, f->train.pixels + (size_t)idx[i] * P, P * sizeof(float));
  return vkg_graph_write(g, f->x, f->xbuf, (size_t)m->batch * P);
}

static vkg_status evaluate(struct nn_model *m, int *n, const char **names, double *values) {
  struct flow *f = m->self;
  struct flow_eval e;
  vkg_status s = flow_evaluate(&f->net, &f->test, f->test.n < 1000 ? f->test.n : 1000, 1, 12345, &e, NULL);
  if (s) return s;
  names[0] = "val_loss", values[0] = e.bpd;
  *n = 1;
  return VKG_OK;
}

vkg_status flow_create(vkg_ctx *ctx, const struct flow_opts *o, struct nn_model **out) {
  *out = NULL;
  vkg_status s = nn_cfg_check(&flow_cfg, &o->arch);
  if (s) return s;
  if (o->batch < 1) return vkg__fail(VKG_ERR_ARG, "the batch size must be positive (got %d)", o->batch);
  struct flow *f = calloc(1, sizeof *f);
  if (!f) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  f->o = *o;
  struct nn_model *m = &f->m;
  m->name = "flow";
  m->self = f;
  m->batch = o->batch;
  m->build_loss = build_loss;
  m->write_batch = write_batch;
  m->evaluate = evaluate;
  nn_cfg_json(&flow_cfg, &o->arch, m->config, sizeof m->config);
  nn_params_init(&m->params, ctx);
  s = flow_data_load(o->data_dir, &o->arch, o->synthetic, &f->train, &f->test);
  if (!s) {
    m->n_train = o->limit > 0 && o->limit < (size_t)f->train.n ? o->limit : (size_t)f->train.n;
    f->xbuf = malloc(sizeof *f->xbuf * (size_t)o->batch * (size_t)flow_dims(&o->arch));
    if (!f->xbuf) s = vkg__fail(VKG_ERR_OOM, "out of host memory for a batch of %d images", o->batch);
  }
  if (!s) s = flow_net_create(&f->net, &m->params, &o->arch, o->seed);
  /* Data-dependent init on the first (up to 256) training images of the run. */
  if (!s) {
    int n = m->n_train < 256 ? (int)m->n_train : 256;
    s = flow_actnorm_init(&f->net, f->train.pixels, n, (uint32_t)nn_mix(o->seed, 77));
  }
  if (s) {
    flow_destroy(m);
    return s;
  }
  *out = m;
  return VKG_OK;
}

/* The family's hooks: the options of the shared loop, the image shape, and samples at temperature 0.7
 * (at 1 the shipped model overflows in about half of them). */
static vkg_status create_hook(vkg_ctx *ctx, const void *cfg, const struct nn_create_opts *o, struct nn_model **m) {
  *m = NULL;
  if (o->expect) /* loading also inverts the 1x1 convolutions: flow_load does both */
    return vkg__fail(VKG_ERR_ARG, "flow weights are loaded with flow_load, not through the create hook");
  struct flow_opts fo = flow_opts_default();
  fo.arch = *(const struct flow_config *)cfg;
  fo.batch = o->batch, fo.limit = o->limit, fo.data_dir = o->data_dir, fo.seed = o->seed;
  /* random images for benchmarks: at least the 256 the actnorm init reads */
  fo.synthetic = o->synthetic > 0 ? (o->synthetic > 256 ? o->synthetic : 256) : 0;
  return flow_create(ctx, &fo, m);
}

static void image_shape(const struct nn_model *m, int *c, int *h, int *w) {
  const struct flow *f = m->self;
  *c = f->o.arch.channels, *h = *w = f->o.arch.size;
}

static vkg_status sample_images(struct nn_model *m, int n, uint32_t seed, float *images) {
  return flow_sample(&((struct flow *)m->self)->net, n, seed, 0.7f, images, NULL, NULL);
}

const struct nn_family_ops flow_ops = {
    create_hook, flow_destroy, image_shape, sample_images,
    "Trains the normalizing flow (Glow steps in RealNVP's multi-scale architecture) on Fashion-MNIST, or\n"
    "on a folder of images with --data DIR (every 10th image held out for testing), by maximum\n"
    "likelihood of the uniformly dequantized images. The loss is bits/dim (an upper bound on the\n"
    "discrete images' bits/dim); after each epoch val_loss is that of up to 1000 test images. The\n"
    "actnorm layers are initialized from the first 256 training images. samples.png is drawn at\n"
    "temperature 0.7."};

struct flow_net *flow_model_net(struct nn_model *m) {
  return &((struct flow *)m->self)->net;
}
const struct vkg_images *flow_test_images(const struct nn_model *m) { return &((const struct flow *)m->self)->test; }

void flow_destroy(struct nn_model *m) {
  if (!m) return;
  struct flow *f = m->self;
  flow_ids_free(&f->ids);
  flow_net_free(&f->net);
  nn_params_free(&m->params);
  vkg_images_free(&f->train);
  vkg_images_free(&f->test);
  free(f->xbuf);
  free(f);
}

// ---- weights files ----

vkg_status flow_load(vkg_ctx *ctx, const char *path, struct flow_config *c, struct nn_params *p, struct flow_net *net) {
  memset(net, 0, sizeof *net);
  nn_params_init(p, ctx);
  vkg_st *st;
  vkg_status s = nn_weights_open(path, "flow", &flow_cfg, c, &st);
  if (s) return s;
  nn_params_expect(p, st, path);
  s = flow_net_create(net, p, c, 0);
  if (!s) s = nn_weights_load(p, st, path);
  vkg_st_close(st);
  if (!s) s = flow_prepare_inverse(net);
  if (s) {
    flow_net_free(net);
    nn_params_free(p);
  }
  return s;
}

vkg_status flow_save(const char *path, const struct flow_net *net) {
  return nn_weights_save(path, "flow", &flow_cfg, &net->c, net->p);
}

// ---- inference ----

/* The recorded sampling pass: eps ~ N(0, 1) from the "seed" slot, times the temperature (a one-value
 * input written per run, so changing it never re-records), through the reverse pass. */
struct flow_sampler {
  struct flow_net *net;
  vkg_graph *g;
  struct flow_ids ids;
  int B, slot;
  vkg_t temp, img;
  float *buf;
};

vkg_status flow_sampler_create(struct flow_net *net, int B, struct flow_sampler **out) {
  *out = NULL;
  if (B < 1) return vkg__fail(VKG_ERR_ARG, "flow sampler: batch must be positive (got %d)", B);
  int D = flow_dims(&net->c), es[2] = {B, D}, one[1] = {1};
  struct flow_sampler *f = calloc(1, sizeof *f);
  if (!f) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  f->net = net, f->B = B;
  vkg_status s = flow_prepare_inverse(net);
  if (!s) s = vkg_graph_create(net->p->ctx, &f->g);
  if (!s) s = flow_bind(f->g, net, -1, 1, NULL, &f->ids);
  if (!s) {
    vkg_graph *g = f->g;
    f->slot = vkg_scalar(g, "seed");
    f->temp = vkg_input(g, "temperature", VKG_F32, 1, one);
    vkg_t eps = mul2(g, vkg_random_normal(g, 2, es, f->slot, 0, 1), f->temp);
    f->img = flow_reverse(g, net, &f->ids, eps);
    vkg_output(g, f->img);
    s = vkg_graph_compile(g);
  }
  if (!s && !(f->buf = malloc(sizeof *f->buf * (size_t)B * D))) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  if (s) {
    flow_sampler_destroy(f);
    return s;
  }
  *out = f;
  return VKG_OK;
}

vkg_status flow_sampler_run(struct flow_sampler *f, uint32_t seed, float temperature, float *out, int *nonfinite) {
  size_t D = (size_t)flow_dims(&f->net->c), n = (size_t)f->B * D;
  vkg_status s = vkg_graph_write(f->g, f->temp, &temperature, 1);
  if (!s) s = vkg_graph_set_u32(f->g, f->slot, seed);
  if (!s) s = vkg_graph_run(f->g);
  if (!s) s = vkg_graph_read(f->g, f->img, f->buf, n);
  if (nonfinite) *nonfinite = 0;
  for (size_t b = 0; !s && b < (size_t)f->B; b++) {
    int bad = 0;
    for (size_t i = b * D; i < (b + 1) * D; i++) { /* images in [0, 1]; a non-finite pixel becomes 0 */
      float v = f->buf[i];
      bad |= !isfinite(v);
      out[i] = !(v > 0) ? 0 : v > 1 ? 1 : v;
    }
    if (nonfinite) *nonfinite += bad;
  }
  return s;
}

void flow_sampler_destroy(struct flow_sampler *f) {
  if (!f) return;
  flow_ids_free(&f->ids);
  vkg_graph_destroy(f->g);
  free(f->buf);
  free(f);
}

vkg_status flow_sample(struct flow_net *net, int n, uint32_t seed, float temperature, float *out, int *nonfinite,
                       struct nn_progress *pg) {
  if (n < 1) return vkg__fail(VKG_ERR_ARG, "flow_sample: n must be positive (got %d)", n);
  int B = n < FLOW_CHUNK ? n : FLOW_CHUNK;
  size_t D = (size_t)flow_dims(&net->c);
  struct flow_sampler *f;
  vkg_status s = flow_sampler_create(net, B, &f);
  float *buf = s ? NULL : malloc(sizeof *buf * (size_t)B * D);
  if (!s && !buf) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  if (nonfinite) *nonfinite = 0;
  /* The first chunk uses the seed itself, so n images start with the images of any smaller n. */
  for (int k = 0, start = 0; !s && start < n; k++, start += B) {
    int m = n - start < B ? n - start : B;
    s = flow_sampler_run(f, k == 0 ? seed : (uint32_t)nn_mix(seed, (uint64_t)k), temperature, buf, NULL);
    if (!s) memcpy(out + (size_t)start * D, buf, sizeof *buf * (size_t)m * D);
    for (size_t i = 0; !s && nonfinite && i < (size_t)m; i++) { /* f->buf: the images before clamping */
      size_t j = 0;
      while (j < D && isfinite(f->buf[i * D + j]))
        j++;
      *nonfinite += j < D;
    }
    if (!s && pg) nn_progress_update(pg, pg->done + m, NULL);
  }
  free(buf);
  flow_sampler_destroy(f);
  return s;
}

/* Runs a one-input, one-output graph over n rows in chunks of B, padding the last chunk with copies of
 * the first row (zeros would be outside the flow's data range). */
static vkg_status run_rows(vkg_graph *g, vkg_t in, vkg_t outt, int B, size_t in_row, size_t out_row, const float *x,
                           int n, float *y) {
  float *xb = malloc(sizeof *xb * ((size_t)B * in_row + 1)), *yb = malloc(sizeof *yb * ((size_t)B * out_row + 1));
  vkg_status s = xb && yb ? VKG_OK : vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (int start = 0; !s && start < n; start += B) {
    int m = n - start < B ? n - start : B;
    memcpy(xb, x + (size_t)start * in_row, sizeof *xb * (size_t)m * in_row);
    for (int i = m; i < B; i++)
      memcpy(xb + (size_t)i * in_row, x, sizeof *xb * in_row);
    s = vkg_graph_write(g, in, xb, (size_t)B * in_row);
    if (!s) s = vkg_graph_run(g);
    if (!s) s = vkg_graph_read(g, outt, yb, (size_t)B * out_row);
    if (!s) memcpy(y + (size_t)start * out_row, yb, sizeof *yb * (size_t)m * out_row);
  }
  free(xb);
  free(yb);
  return s;
}

vkg_status flow_encode(struct flow_net *net, const float *x, int n, float *eps) {
  if (n < 1) return vkg__fail(VKG_ERR_ARG, "flow_encode: n must be positive (got %d)", n);
  const struct flow_config *c = &net->c;
  int B = n < FLOW_CHUNK ? n : FLOW_CHUNK, D = flow_dims(c), xs[4] = {B, c->channels, c->size, c->size};
  vkg_graph *g;
  struct flow_ids ids;
  vkg_status s = vkg_graph_create(net->p->ctx, &g);
  if (s) return s;
  s = flow_bind(g, net, -1, 0, NULL, &ids);
  if (!s) {
    vkg_t xin = vkg_input(g, "images", VKG_F32, 4, xs), ld;
    vkg_t e = flow_forward(g, net, &ids, dequantize(g, xin, vkg_full(g, 4, xs, 0.5f)), &ld, NULL);
    vkg_output(g, e);
    s = vkg_graph_compile(g);
    if (!s) s = run_rows(g, xin, e, B, (size_t)D, (size_t)D, x, n, eps);
  }
  flow_ids_free(&ids);
  vkg_graph_destroy(g);
  return s;
}

vkg_status flow_decode(struct flow_net *net, const float *eps, int n, float *x) {
  if (n < 1) return vkg__fail(VKG_ERR_ARG, "flow_decode: n must be positive (got %d)", n);
  const struct flow_config *c = &net->c;
  int B = n < FLOW_CHUNK ? n : FLOW_CHUNK, D = flow_dims(c), es[2] = {B, D};
  vkg_graph *g;
  struct flow_ids ids;
  vkg_status s = flow_prepare_inverse(net);
  if (!s) s = vkg_graph_create(net->p->ctx, &g);
  if (s) return s;
  s = flow_bind(g, net, -1, 1, NULL, &ids);
  if (!s) {
    vkg_t ein = vkg_input(g, "eps", VKG_F32, 2, es);
    vkg_t y = flow_reverse(g, net, &ids, ein);
    vkg_output(g, y);
    s = vkg_graph_compile(g);
    if (!s) s = run_rows(g, ein, y, B, (size_t)D, (size_t)D, eps, n, x);
  }
  flow_ids_free(&ids);
  vkg_graph_destroy(g);
  /* y = (255 x + 1/2) / 256 was encoded; map back to pixel values x, clamped to [0, 1]. */
  for (size_t i = 0; !s && i < (size_t)n * D; i++) {
    float v = (x[i] * 256.0f - 0.5f) / 255.0f;
    x[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return s;
}

vkg_status flow_evaluate(struct flow_net *net, const struct vkg_images *im, int n, int samples, uint32_t seed,
                         struct flow_eval *out, struct nn_progress *pg) {
  memset(out, 0, sizeof *out);
  const struct flow_config *c = &net->c;
  if (n < 1 || n > im->n || samples < 1)
    return vkg__fail(VKG_ERR_ARG, "flow_evaluate: bad n %d (of %d images) or samples %d", n, im->n, samples);
  if (im->c != c->channels || im->h != c->size || im->w != c->size)
    return vkg__fail(VKG_ERR_SHAPE, "the test images are %dx%d with %d channels, but the flow is for %dx%d with %d",
                     im->h, im->w, im->c, c->size, c->size, c->channels);
  int B = n < FLOW_CHUNK ? n : FLOW_CHUNK, D = flow_dims(c), xs[4] = {B, c->channels, c->size, c->size};
  int K = samples;
  vkg_graph *g;
  struct flow_ids ids;
  vkg_status s = vkg_graph_create(net->p->ctx, &g);
  if (s) return s;
  s = flow_bind(g, net, -1, 0, NULL, &ids);
  float *xb = malloc(sizeof *xb * (size_t)B * D), *lb = malloc(sizeof *lb * (size_t)B);
  double *ll = malloc(sizeof *ll * (size_t)B * K);
  if (!s && (!xb || !lb || !ll)) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  double single = 0, iw = 0;
  if (!s) {
    int slot = vkg_scalar(g, "seed");
    vkg_t xin = vkg_input(g, "images", VKG_F32, 4, xs);
    vkg_t lli = flow_log_likelihood(g, net, &ids, xin, vkg_random_uniform(g, 4, xs, slot, 0, 1));
    vkg_output(g, lli);
    s = vkg_graph_compile(g);
    for (int chunk = 0, start = 0; !s && start < n; chunk++, start += B) {
      int m = n - start < B ? n - start : B;
      memcpy(xb, im->pixels + (size_t)start * D, sizeof *xb * (size_t)m * D);
      for (int i = m; i < B; i++)
        memcpy(xb + (size_t)i * D, im->pixels, sizeof *xb * (size_t)D);
      s = vkg_graph_write(g, xin, xb, (size_t)B * D);
      for (int k = 0; k < K && !s; k++) {
        s = vkg_graph_set_u32(g, slot, (uint32_t)nn_mix(seed, (uint64_t)chunk * (uint64_t)K + (uint64_t)k));
        if (!s) s = vkg_graph_run(g);
        if (!s) s = vkg_graph_read(g, lli, lb, (size_t)B);
        for (int i = 0; i < m && !s; i++)
          ll[(size_t)i * K + k] = lb[i];
      }
      if (!s && pg) nn_progress_update(pg, start + m, NULL);
      /* log P(k) >= log mean_k p(y_k) - D log 256; each single draw gives the weaker bound. */
      for (int i = 0; i < m && !s; i++) {
        double top = -INFINITY, sum = 0;
        for (int k = 0; k < K; k++) {
          single += ll[(size_t)i * K + k] / K;
          top = ll[(size_t)i * K + k] > top ? ll[(size_t)i * K + k] : top;
        }
        for (int k = 0; k < K; k++)
          sum += exp(ll[(size_t)i * K + k] - top);
        iw += top + log(sum / K);
      }
    }
  }
  free(xb), free(lb), free(ll);
  flow_ids_free(&ids);
  vkg_graph_destroy(g);
  if (s) return s;
  double to_bpd = 1 / ((double)D * M_LN2);
  out->n = n, out->samples = K;
  out->bpd = -(single / n) * to_bpd + 8;
  out->iw_bpd = -(iw / n) * to_bpd + 8;
  return VKG_OK;
}
