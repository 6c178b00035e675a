/* Row-wise and channel-wise normalizations: softmax, log-softmax, layernorm, batchnorm.
 * Shape letters: B batch, C channels (the normalized axis for softmax and layernorm), S the product
 * of batchnorm's spatial dims (1 for a 2-D input).
 *
 * Each op records its node (vkg__node_io) with no backward yet. Saved for a later backward pass:
 *   softmax, log_softmax: out[0], the result itself;
 *   layernorm: out[1] = stats (rows, 2), per-row (mean, rstd);
 *   batchnorm: out[1] = stats (C, 2), per-channel batch (mean, rstd) in training, VKG_NONE in inference. */
#include <string.h>

#include "internal.h"

/* Workgroup size for one-workgroup-per-row kernels: enough invocations to cover short rows in one
 * step without idling most of a large group, capped by the device's 1-D size. */
static uint32_t row_wg(const vkg_ctx *ctx, size_t C) {
  uint32_t max = vkg__wg1d(ctx), wg = 32;
  while (wg < C && wg < max) wg *= 2;
  return wg < max ? wg : max;
}

static vkg_t root(const vkg_graph *g, vkg_t t) {
  while (vkg__t(g, t)->kind == VKG_KIND_VIEW) t = vkg__t(g, t)->base;
  return t;
}

/* 1 if t is an f32 tensor of exactly n values (a per-channel parameter). */
static int is_vec(const vkg_graph *g, vkg_t t, size_t n) {
  const struct vkg_gtensor *x = vkg__t(g, t);
  return x->dtype == VKG_F32 && vkg__numel(x->shape, x->ndim) == n;
}

/* Reports a per-channel parameter of the wrong size; always returns VKG_NONE. */
static vkg_t bad_vec(vkg_graph *g, const char *what, vkg_t t, const char *x_name, const struct vkg_gtensor *x,
                     size_t n) {
  char s1[96], s2[96];
  const struct vkg_gtensor *p = vkg__t(g, t);
  vkg__bad(g, p->dtype != VKG_F32 ? VKG_ERR_ARG : VKG_ERR_SHAPE, "%s %s (%s) must hold %zu f32 values to match %s %s",
           what, vkg__shape_str(p->shape, p->ndim, s1, sizeof s1), vkg_dtype_str(p->dtype), n, x_name,
           vkg__shape_str(x->shape, x->ndim, s2, sizeof s2));
  return VKG_NONE;
}

// ---- softmax and log-softmax ----

struct softmax_pc {
  uint32_t rows, C;
};
_Static_assert(sizeof(struct softmax_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

static vkg_t softmax_common(vkg_graph *g, vkg_t x, int log_) {
  if (vkg__check(g, 1, &x)) return VKG_NONE;
  vkg__begin(g, log_ ? "log_softmax" : "softmax");
  const struct vkg_gtensor *tx = vkg__t(g, x);
  if (tx->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "input must be f32 (got %s); use vkg_cast", vkg_dtype_str(tx->dtype)), VKG_NONE;
  if (tx->ndim < 1) return vkg__bad(g, VKG_ERR_SHAPE, "input is a 0-dim scalar; it needs a last axis"), VKG_NONE;
  int shape[VKG_MAX_DIMS], ndim = tx->ndim;
  memcpy(shape, tx->shape, sizeof shape);
  size_t C = (size_t)shape[ndim - 1], rows = vkg__numel(shape, ndim) / C;
  vkg_t out = vkg__new(g, VKG_F32, ndim, shape);
  if (out < 0) return VKG_NONE;
  struct softmax_pc pc = {(uint32_t)rows, (uint32_t)C};
  uint32_t spec[4] = {row_wg(g->ctx, C), 1, 1, (uint32_t)log_}, gx, gy;
  vkg__grid1d(rows, 1, &gx, &gy); /* one workgroup per row */
  vkg_t bind[2] = {x, out};
  if (vkg__dispatch(g, "softmax_fwd", spec, 4, 2, bind, 1u << 1, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg__node_io(g, 1, &x, 1, &out, &log_, sizeof log_, NULL);
  return out;
}

vkg_t vkg_softmax(vkg_graph *g, vkg_t x) { return softmax_common(g, x, 0); }
vkg_t vkg_log_softmax(vkg_graph *g, vkg_t x) { return softmax_common(g, x, 1); }

// ---- layernorm ----

struct layernorm_pc {
  uint32_t rows, C, has_gamma, has_beta;
  float eps;
};
_Static_assert(sizeof(struct layernorm_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

vkg_t vkg_layernorm(vkg_graph *g, vkg_t x, vkg_t gamma, vkg_t beta, float eps) {
  vkg_t ids[3];
  int n = 0;
  ids[n++] = x;
  if (gamma != VKG_NONE) ids[n++] = gamma;
  if (beta != VKG_NONE) ids[n++] = beta;
  if (vkg__check(g, n, ids)) return VKG_NONE;
  vkg__begin(g, "layernorm");
  const struct vkg_gtensor *tx = vkg__t(g, x);
  if (tx->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "input must be f32 (got %s); use vkg_cast", vkg_dtype_str(tx->dtype)), VKG_NONE;
  if (tx->ndim < 1) return vkg__bad(g, VKG_ERR_SHAPE, "input is a 0-dim scalar; it needs a last axis"), VKG_NONE;
  if (!(eps >= 0.0f)) return vkg__bad(g, VKG_ERR_ARG, "eps %g must be >= 0", (double)eps), VKG_NONE;
  int shape[VKG_MAX_DIMS], ndim = tx->ndim;
  memcpy(shape, tx->shape, sizeof shape);
  size_t C = (size_t)shape[ndim - 1], rows = vkg__numel(shape, ndim) / C;
  if (gamma != VKG_NONE && !is_vec(g, gamma, C)) return bad_vec(g, "gamma", gamma, "x", tx, C);
  if (beta != VKG_NONE && !is_vec(g, beta, C)) return bad_vec(g, "beta", beta, "x", tx, C);

  vkg_t out = vkg__new(g, VKG_F32, ndim, shape);
  int sshape[2] = {(int)rows, 2};
  vkg_t stats = vkg__new(g, VKG_F32, 2, sshape);
  if (out < 0 || stats < 0) return VKG_NONE;
  struct layernorm_pc pc = {(uint32_t)rows, (uint32_t)C, gamma != VKG_NONE, beta != VKG_NONE, eps};
  uint32_t spec[3] = {row_wg(g->ctx, C), 1, 1}, gx, gy;
  vkg__grid1d(rows, 1, &gx, &gy);
  /* A missing gamma or beta is replaced by x, which the shader then never reads. */
  vkg_t bind[5] = {x, gamma != VKG_NONE ? gamma : x, beta != VKG_NONE ? beta : x, out, stats};
  if (vkg__dispatch(g, "layernorm_fwd", spec, 3, 5, bind, (1u << 3) | (1u << 4), &pc, sizeof pc, gx, gy, 1))
    return VKG_NONE;
  vkg_t in[3] = {x, gamma, beta}, outs[2] = {out, stats};
  vkg__node_io(g, 3, in, 2, outs, &eps, sizeof eps, NULL);
  return out;
}

// ---- batchnorm ----

struct batchnorm_stats_pc {
  uint32_t B, C, S, update;
  float momentum, eps;
};
_Static_assert(sizeof(struct batchnorm_stats_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct batchnorm_fwd_pc {
  uint32_t n, C, S, training;
  uint32_t has_gamma, has_beta;
  float eps;
};
_Static_assert(sizeof(struct batchnorm_fwd_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* What the node keeps for the backward. */
struct batchnorm_attrs {
  float momentum, eps;
  int training;
};

vkg_t vkg_batchnorm(vkg_graph *g, vkg_t x, vkg_t gamma, vkg_t beta, vkg_t running_mean, vkg_t running_var,
                    float momentum, float eps, int training) {
  vkg_t ids[5];
  int n = 0;
  ids[n++] = x;
  if (gamma != VKG_NONE) ids[n++] = gamma;
  if (beta != VKG_NONE) ids[n++] = beta;
  if (running_mean != VKG_NONE) ids[n++] = running_mean;
  if (running_var != VKG_NONE) ids[n++] = running_var;
  if (vkg__check(g, n, ids)) return VKG_NONE;
  vkg__begin(g, "batchnorm");
  const struct vkg_gtensor *tx = vkg__t(g, x);
  char s1[96];
  if (tx->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "input must be f32 (got %s); use vkg_cast", vkg_dtype_str(tx->dtype)), VKG_NONE;
  if (tx->ndim < 2)
    return vkg__bad(g, VKG_ERR_SHAPE, "x %s must be (B, C, ...) with at least 2 dims",
                    vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1)),
           VKG_NONE;
  if (!(eps >= 0.0f)) return vkg__bad(g, VKG_ERR_ARG, "eps %g must be >= 0", (double)eps), VKG_NONE;
  int shape[VKG_MAX_DIMS], ndim = tx->ndim;
  memcpy(shape, tx->shape, sizeof shape);
  size_t B = (size_t)shape[0], C = (size_t)shape[1], S = vkg__numel(shape + 2, ndim - 2);
  if (gamma != VKG_NONE && !is_vec(g, gamma, C)) return bad_vec(g, "gamma", gamma, "x", tx, C);
  if (beta != VKG_NONE && !is_vec(g, beta, C)) return bad_vec(g, "beta", beta, "x", tx, C);
  if ((running_mean == VKG_NONE) != (running_var == VKG_NONE))
    return vkg__bad(g, VKG_ERR_ARG, "give both running_mean and running_var, or neither"), VKG_NONE;
  int has_running = running_mean != VKG_NONE;
  if (has_running) {
    if (!is_vec(g, running_mean, C)) return bad_vec(g, "running_mean", running_mean, "x", tx, C);
    if (!is_vec(g, running_var, C)) return bad_vec(g, "running_var", running_var, "x", tx, C);
  }
  if (!training && !has_running)
    return vkg__bad(g, VKG_ERR_ARG, "inference mode normalizes with running_mean and running_var; none given"),
           VKG_NONE;
  if (training && B * S < 2)
    return vkg__bad(g, VKG_ERR_SHAPE, "training needs more than 1 value per channel; x is %s",
                    vkg__shape_str(shape, ndim, s1, sizeof s1)),
           VKG_NONE;
  if (training && has_running) {
    /* The running statistics are written in place, so they must be the graph's own memory (not
     * computed by another op) and must not alias each other or x. */
    vkg_t rm = root(g, running_mean), rv = root(g, running_var), rx = root(g, x);
    for (int i = 0; i < 2; i++) {
      enum vkg_tensor_kind k = vkg__t(g, i ? rv : rm)->kind;
      if (k != VKG_KIND_INPUT && k != VKG_KIND_BOUND)
        return vkg__bad(g, VKG_ERR_ARG, "%s is updated in place, so it must be a graph input or a bound tensor",
                        i ? "running_var" : "running_mean"),
               VKG_NONE;
    }
    if (rm == rv || rm == rx || rv == rx)
      return vkg__bad(g, VKG_ERR_ARG, "running_mean, running_var and x must be distinct tensors (updated in place)"),
             VKG_NONE;
  }

  vkg_t out = vkg__new(g, VKG_F32, ndim, shape);
  if (out < 0) return VKG_NONE;
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy;
  vkg_t stats = VKG_NONE;
  if (training) {
    int sshape[2] = {(int)C, 2};
    stats = vkg__new(g, VKG_F32, 2, sshape);
    vkg_t rm = running_mean, rv = running_var;
    if (!has_running) {
      /* Without running statistics the update is off; one-value scratch tensors fill the written
       * bindings, since a written binding may not share a tensor with another binding. */
      int one[1] = {1};
      rm = vkg__new(g, VKG_F32, 1, one);
      rv = vkg__new(g, VKG_F32, 1, one);
    }
    if (stats < 0 || rm < 0 || rv < 0) return VKG_NONE;
    struct batchnorm_stats_pc spc = {(uint32_t)B, (uint32_t)C, (uint32_t)S, (uint32_t)has_running, momentum, eps};
    uint32_t spec[3] = {row_wg(g->ctx, B * S), 1, 1};
    vkg__grid1d(C, 1, &gx, &gy); /* one workgroup per channel */
    vkg_t bind[4] = {x, stats, rm, rv};
    if (vkg__dispatch(g, "batchnorm_stats", spec, 3, 4, bind, (1u << 1) | (1u << 2) | (1u << 3), &spc, sizeof spc, gx,
                      gy, 1))
      return VKG_NONE;
  }
  struct batchnorm_fwd_pc pc = {(uint32_t)(B * C * S), (uint32_t)C, (uint32_t)S, (uint32_t)(training != 0),
                                gamma != VKG_NONE, beta != VKG_NONE, eps};
  uint32_t spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gx, &gy);
  /* Missing gamma or beta are replaced by x, which the shader then never reads. */
  vkg_t bind[6] = {x, training ? stats : running_mean, training ? stats : running_var,
                   gamma != VKG_NONE ? gamma : x, beta != VKG_NONE ? beta : x, out};
  if (vkg__dispatch(g, "batchnorm_fwd", spec, 3, 6, bind, 1u << 5, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  struct batchnorm_attrs attrs = {momentum, eps, training != 0};
  vkg_t in[5] = {x, gamma, beta, running_mean, running_var}, outs[2] = {out, stats};
  vkg__node_io(g, 5, in, 2, outs, &attrs, sizeof attrs, NULL);
  return out;
}
