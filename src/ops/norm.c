/* Row-wise and channel-wise normalizations: softmax, log-softmax, layernorm, batchnorm.
 * Shape letters: B batch, C channels (the normalized axis for softmax and layernorm), S the product
 * of batchnorm's spatial dims (1 for a 2-D input).
 *
 * Each op records its node (vkg__node_io) with its backward. Saved for the backward pass:
 *   softmax, log_softmax: out[0], the result itself;
 *   layernorm: out[1] = stats (rows, 2), per-row (mean, rstd);
 *   batchnorm: out[1] = stats (C, 2), per-channel batch (mean, rstd) in training, VKG_NONE in inference.
 * The saved statistics get no gradient of their own: they are not results a caller can use. */
#include <string.h>

#include "internal.h"

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

/* ---- backward ----
 * softmax_bwd.comp works from the saved output alone, one workgroup per row like the forward. */
static void softmax_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  int log_;
  memcpy(&log_, n->attrs, sizeof log_);
  if (!vkg__wants_grad(g, n->in[0])) return;
  vkg__begin(g, log_ ? "log_softmax backward" : "softmax backward");
  const struct vkg_gtensor *ty = vkg__t(g, n->out[0]);
  int shape[VKG_MAX_DIMS], ndim = ty->ndim;
  memcpy(shape, ty->shape, sizeof shape);
  size_t C = (size_t)shape[ndim - 1], rows = vkg__numel(shape, ndim) / C;
  vkg_t dx = vkg__new(g, VKG_F32, ndim, shape);
  if (dx < 0) return;
  struct softmax_pc pc = {(uint32_t)rows, (uint32_t)C};
  uint32_t spec[4] = {vkg__wg_rows(g->ctx, C), 1, 1, (uint32_t)log_}, gx, gy;
  vkg__grid1d(rows, 1, &gx, &gy);
  vkg_t bind[3] = {n->out[0], gout[0], dx};
  if (vkg__dispatch(g, "softmax_bwd", spec, 4, 3, bind, 1u << 2, &pc, sizeof pc, gx, gy, 1)) return;
  gin[0] = dx;
}

/* Split-row softmax for rows too long for the rowwise kernel on a CPU device, where one workgroup
 * per row (its shared-memory tree and barriers) runs slowly: softmax_part.comp writes each chunk's
 * (max, sum) and softmax_split.comp folds a row's chunks and writes each chunk, one invocation per
 * (row, chunk) in both, with vec4 loads (2-3x faster than scalar ones on lavapipe) even where C is
 * odd. It reads x twice, but never a row's whole length at a time, so a chunk stays in the cache
 * between the max and the sum. The chunk halves (down to 256 values) until there are enough
 * invocations to fill the device's threads. Returns the chunk length, or 0 when the rows do not suit it (a GPU,
 * or so many chunks per row that the fold would pass lavapipe's loop limit). */
static uint32_t split_chunk(const vkg_ctx *ctx, size_t rows, size_t C) {
  if (vkg__gpu_kernels(ctx) || C <= 256) return 0;
  uint32_t chunk = 2048;
  while (chunk > 256 && rows * vkg__ceil_div(C, chunk) < 512)
    chunk /= 2;
  /* lavapipe ends a shader's loops after 65535 iterations in all */
  return 2 * vkg__ceil_div(C, chunk) + chunk / 4 + 8 < 60000 ? chunk : 0;
}

struct softmax_split_pc {
  uint32_t rows, C, nchunk;
};
_Static_assert(sizeof(struct softmax_split_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Records the two passes of the split-row softmax of x (rows, C) into out. Returns nonzero on failure. */
static int softmax_split(vkg_graph *g, vkg_t x, vkg_t out, size_t rows, size_t C, uint32_t chunk, int log_) {
  uint32_t nchunk = vkg__ceil_div(C, chunk), gx, gy;
  int pshape[2] = {(int)(rows * nchunk), 2};
  vkg_t part = vkg__new(g, VKG_F32, 2, pshape); /* (rows * nchunk, 2): each chunk's (max, sum) */
  if (part < 0) return 1;
  struct softmax_split_pc pc = {(uint32_t)rows, (uint32_t)C, nchunk};
  vkg__grid1d(rows * nchunk, 64, &gx, &gy);
  uint32_t spec[5] = {64, 1, 1, chunk, (uint32_t)log_};
  vkg_t b1[2] = {x, part}, b2[3] = {x, part, out};
  if (vkg__dispatch(g, "softmax_part", spec, 4, 2, b1, 1u << 1, &pc, sizeof pc, gx, gy, 1)) return 1;
  return vkg__dispatch(g, "softmax_split", spec, 5, 3, b2, 1u << 2, &pc, sizeof pc, gx, gy, 1);
}

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
  uint32_t rowwise = vkg__rowwise(g->ctx, rows, C), chunk = rowwise ? 0 : split_chunk(g->ctx, rows, C);
  if (chunk) {
    if (softmax_split(g, x, out, rows, C, chunk, log_)) return VKG_NONE;
    vkg__node_io(g, 1, &x, 1, &out, &log_, sizeof log_, softmax_backward);
    return out;
  }
  uint32_t spec[5] = {rowwise ? 64 : vkg__wg_rows(g->ctx, C), 1, 1, (uint32_t)log_, rowwise}, gx, gy;
  vkg__grid1d(rows, rowwise ? 64 : 1, &gx, &gy); /* one invocation, or one workgroup, per row */
  vkg_t bind[2] = {x, out};
  if (vkg__dispatch(g, "softmax_fwd", spec, 5, 2, bind, 1u << 1, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg__node_io(g, 1, &x, 1, &out, &log_, sizeof log_, softmax_backward);
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

struct layernorm_bwd_pc {
  uint32_t rows, C, has_gamma, want_dx, want_dyx;
};
_Static_assert(sizeof(struct layernorm_bwd_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Sums t, viewed as (rows, C), over its rows, shaped like the parameter `like` (C values). vkg_reduce
 * splits long columns over several passes, so any number of rows works. */
static vkg_t column_sum(vkg_graph *g, vkg_t t, size_t rows, size_t C, vkg_t like) {
  const struct vkg_gtensor *tl = vkg__t(g, like);
  int shape[VKG_MAX_DIMS], ndim = tl->ndim, two[2] = {(int)rows, (int)C};
  memcpy(shape, tl->shape, sizeof shape);
  return vkg_reshape(g, vkg_reduce(g, VKG_REDUCE_SUM, vkg_reshape(g, t, 2, two), 0, 0), ndim, shape);
}

/* ---- backward ----
 * layernorm_bwd.comp gives dx per row from the saved (mean, rstd), and dy * xhat, whose column sums
 * are dgamma; dbeta is the column sums of dy. Outputs nobody wants are replaced by one-value
 * stand-ins that the shader never writes. */
static void layernorm_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  vkg_t x = n->in[0], gamma = n->in[1], beta = n->in[2], stats = n->out[1], dy = gout[0];
  int want_dx = vkg__wants_grad(g, x), want_dg = gamma != VKG_NONE && vkg__wants_grad(g, gamma);
  int want_db = beta != VKG_NONE && vkg__wants_grad(g, beta);
  vkg__begin(g, "layernorm backward");
  const struct vkg_gtensor *tx = vkg__t(g, x);
  int shape[VKG_MAX_DIMS], ndim = tx->ndim, one[1] = {1};
  memcpy(shape, tx->shape, sizeof shape);
  size_t C = (size_t)shape[ndim - 1], rows = vkg__numel(shape, ndim) / C;
  if (want_dx || want_dg) {
    vkg_t dx = want_dx ? vkg__new(g, VKG_F32, ndim, shape) : vkg__new(g, VKG_F32, 1, one);
    vkg_t dyx = want_dg ? vkg__new(g, VKG_F32, ndim, shape) : vkg__new(g, VKG_F32, 1, one);
    if (dx < 0 || dyx < 0) return;
    struct layernorm_bwd_pc pc = {(uint32_t)rows, (uint32_t)C, gamma != VKG_NONE, (uint32_t)want_dx, (uint32_t)want_dg};
    uint32_t spec[3] = {vkg__wg_rows(g->ctx, C), 1, 1}, gx, gy;
    vkg__grid1d(rows, 1, &gx, &gy);
    vkg_t bind[6] = {x, stats, gamma != VKG_NONE ? gamma : x, dy, dx, dyx};
    if (vkg__dispatch(g, "layernorm_bwd", spec, 3, 6, bind, (1u << 4) | (1u << 5), &pc, sizeof pc, gx, gy, 1)) return;
    if (want_dx) gin[0] = dx;
    if (want_dg) gin[1] = column_sum(g, dyx, rows, C, gamma);
  }
  if (want_db) gin[2] = column_sum(g, dy, rows, C, beta);
}

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
  uint32_t rowwise = vkg__rowwise(g->ctx, rows, C);
  uint32_t spec[4] = {rowwise ? 64 : vkg__wg_rows(g->ctx, C), 1, 1, rowwise}, gx, gy;
  vkg__grid1d(rows, rowwise ? 64 : 1, &gx, &gy); /* one invocation, or one workgroup, per row */
  /* A missing gamma or beta is replaced by x, which the shader then never reads. */
  vkg_t bind[5] = {x, gamma != VKG_NONE ? gamma : x, beta != VKG_NONE ? beta : x, out, stats};
  if (vkg__dispatch(g, "layernorm_fwd", spec, 4, 5, bind, (1u << 3) | (1u << 4), &pc, sizeof pc, gx, gy, 1))
    return VKG_NONE;
  vkg_t in[3] = {x, gamma, beta}, outs[2] = {out, stats};
  vkg__node_io(g, 3, in, 2, outs, &eps, sizeof eps, layernorm_backward);
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

struct batchnorm_bwd_sums_pc {
  uint32_t B, C, S, nseg, seg, training;
  float eps;
};
_Static_assert(sizeof(struct batchnorm_bwd_sums_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct batchnorm_bwd_pc {
  uint32_t n, C, S, training, has_gamma;
  float eps, count;
};
_Static_assert(sizeof(struct batchnorm_bwd_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Loop iterations per invocation in batchnorm_bwd_sums: a channel's values are split into segments
 * of this many per invocation of a workgroup (lavapipe ends loops after 65535 iterations). */
#define BN_SUM_ITERS 1024u

/* ---- backward ----
 * Per-channel sums of dy and dy * xhat (batchnorm_bwd_sums.comp, then vkg_reduce over segments when
 * a channel has many values) give dbeta and dgamma, and in training the two terms by which the batch
 * statistics change dx (batchnorm_bwd.comp). In inference the running statistics are constants and
 * dx is just dy * gamma * rstd. The running-statistics update is not differentiated. */
static void batchnorm_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  struct batchnorm_attrs a;
  memcpy(&a, n->attrs, sizeof a);
  vkg_t x = n->in[0], gamma = n->in[1], beta = n->in[2], dy = gout[0];
  vkg_t sa = a.training ? n->out[1] : n->in[3], sb = a.training ? n->out[1] : n->in[4];
  int want_dx = vkg__wants_grad(g, x), want_dg = gamma != VKG_NONE && vkg__wants_grad(g, gamma);
  int want_db = beta != VKG_NONE && vkg__wants_grad(g, beta);
  vkg__begin(g, "batchnorm backward");
  const struct vkg_gtensor *tx = vkg__t(g, x);
  int shape[VKG_MAX_DIMS], ndim = tx->ndim;
  memcpy(shape, tx->shape, sizeof shape);
  size_t B = (size_t)shape[0], C = (size_t)shape[1], S = vkg__numel(shape + 2, ndim - 2), N = B * S;
  uint32_t gx, gy;

  vkg_t sums = VKG_NONE; /* (C, 2): sum dy, sum dy * xhat */
  if (want_dg || want_db || (want_dx && a.training)) {
    uint32_t wg = vkg__wg_rows(g->ctx, N), seg = wg * BN_SUM_ITERS, nseg = vkg__ceil_div(N, seg);
    int pshape[3] = {(int)C, (int)nseg, 2}, sshape[2] = {(int)C, 2};
    vkg_t part = vkg__new(g, VKG_F32, 3, pshape);
    if (part < 0) return;
    struct batchnorm_bwd_sums_pc spc = {(uint32_t)B, (uint32_t)C, (uint32_t)S, nseg, seg, (uint32_t)a.training, a.eps};
    uint32_t spec[3] = {wg, 1, 1};
    vkg__grid1d((uint64_t)C * nseg, 1, &gx, &gy); /* one workgroup per (channel, segment) */
    vkg_t bind[5] = {x, sa, sb, dy, part};
    if (vkg__dispatch(g, "batchnorm_bwd_sums", spec, 3, 5, bind, 1u << 4, &spc, sizeof spc, gx, gy, 1)) return;
    sums = nseg == 1 ? vkg_reshape(g, part, 2, sshape) : vkg_reduce(g, VKG_REDUCE_SUM, part, 1, 0);
    vkg__begin(g, "batchnorm backward");
  }
  if (want_dx) {
    vkg_t dx = vkg__new(g, VKG_F32, ndim, shape);
    if (dx < 0) return;
    struct batchnorm_bwd_pc pc = {(uint32_t)(N * C), (uint32_t)C, (uint32_t)S, (uint32_t)a.training,
                                  gamma != VKG_NONE, a.eps,       (float)N};
    uint32_t wg = vkg__wg1d(g->ctx), spec[3] = {wg, 1, 1};
    vkg__grid1d(pc.n, wg, &gx, &gy);
    /* Bindings the mode does not read (gamma, the sums in inference) are filled with x. */
    vkg_t bind[7] = {x, sa, sb, gamma != VKG_NONE ? gamma : x, a.training ? sums : x, dy, dx};
    if (vkg__dispatch(g, "batchnorm_bwd", spec, 3, 7, bind, 1u << 6, &pc, sizeof pc, gx, gy, 1)) return;
    gin[0] = dx;
  }
  for (int i = 1; i <= 2; i++) {
    vkg_t p = n->in[i];
    if (!(i == 1 ? want_dg : want_db)) continue;
    const struct vkg_gtensor *tp = vkg__t(g, p);
    int pshape[VKG_MAX_DIMS], pnd = tp->ndim;
    memcpy(pshape, tp->shape, sizeof pshape);
    /* gamma gets sum(dy * xhat) (column 1 of the sums), beta sum(dy) (column 0). */
    gin[i] = vkg_reshape(g, vkg_slice(g, sums, 1, i == 1, (i == 1) + 1), pnd, pshape);
  }
}

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
    vkg_t rm = vkg__root(g, running_mean), rv = vkg__root(g, running_var), rx = vkg__root(g, x);
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
    uint32_t spec[3] = {vkg__wg_rows(g->ctx, B * S), 1, 1};
    vkg__grid1d(C, 1, &gx, &gy); /* one workgroup per channel */
    vkg_t bind[4] = {x, stats, rm, rv};
    if (vkg__dispatch(g, "batchnorm_stats", spec, 3, 4, bind, (1u << 1) | (1u << 2) | (1u << 3), &spc, sizeof spc, gx,
                      gy, 1))
      return VKG_NONE;
  }
  struct batchnorm_fwd_pc pc = {(uint32_t)(B * C * S), (uint32_t)C,      (uint32_t)S, (uint32_t)(training != 0),
                                gamma != VKG_NONE,     beta != VKG_NONE, eps};
  uint32_t spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gx, &gy);
  /* Missing gamma or beta are replaced by x, which the shader then never reads. */
  vkg_t bind[6] = {x,
                   training ? stats : running_mean,
                   training ? stats : running_var,
                   gamma != VKG_NONE ? gamma : x,
                   beta != VKG_NONE ? beta : x,
                   out};
  if (vkg__dispatch(g, "batchnorm_fwd", spec, 3, 6, bind, 1u << 5, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  struct batchnorm_attrs attrs = {momentum, eps, training != 0};
  vkg_t in[5] = {x, gamma, beta, running_mean, running_var}, outs[2] = {out, stats};
  /* Inference saves no statistics: the node then has one output (autodiff indexes every output). */
  vkg__node_io(g, 5, in, training ? 2 : 1, outs, &attrs, sizeof attrs, batchnorm_backward);
  return out;
}
