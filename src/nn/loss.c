/* Losses. Each returns one f32 value of shape (1,).
 * Shape letters: B batch, C classes (the last axis of the cross-entropy's logits), N rows of the
 * cross-entropy (the product of the logits' other dims).
 *
 * mse, bce-with-logits and the Gaussian KL are compositions of differentiable ops (binary, unary,
 * reshape, reduce), so their gradients come from those ops. The cross-entropy is one fused node:
 * a kernel per row (max, log-sum-exp, the label's logit), then a mean over the rows whose label is
 * not ignored, whose count is computed on the GPU since it depends on the labels. */
#include <string.h>

#include "internal.h"

/* Reports (and returns 1) unless a and b are f32 tensors of the same shape. */
static int same_shape(vkg_graph *g, vkg_t a, vkg_t b, const char *na, const char *nb) {
  const struct vkg_gtensor *ta = vkg__t(g, a), *tb = vkg__t(g, b);
  char s1[96], s2[96];
  if (ta->dtype != VKG_F32 || tb->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "%s and %s must be f32 (got %s and %s); use vkg_cast", na, nb,
                    vkg_dtype_str(ta->dtype), vkg_dtype_str(tb->dtype));
  if (ta->ndim != tb->ndim || memcmp(ta->shape, tb->shape, sizeof(int) * (size_t)ta->ndim))
    return vkg__bad(g, VKG_ERR_SHAPE, "%s %s and %s %s must have the same shape", na,
                    vkg__shape_str(ta->shape, ta->ndim, s1, sizeof s1), nb,
                    vkg__shape_str(tb->shape, tb->ndim, s2, sizeof s2));
  return 0;
}

/* Reduces every element of x to one value (1,): the mean or the sum. */
static vkg_t reduce_all(vkg_graph *g, vkg_t x, vkg_reduce_op op) {
  int flat[1] = {-1};
  return vkg_reduce(g, op, vkg_reshape(g, x, 1, flat), 0, 0);
}

// ---- compositions ----

vkg_t vkg_mse_loss(vkg_graph *g, vkg_t pred, vkg_t target) {
  vkg_t ids[2] = {pred, target};
  if (vkg__check(g, 2, ids)) return VKG_NONE;
  vkg__begin(g, "mse_loss"); /* names the shape errors below; the work is in the ops that follow */
  if (same_shape(g, pred, target, "pred", "target")) return VKG_NONE;
  vkg_t d = vkg_binary(g, VKG_SUB, pred, target);
  return reduce_all(g, vkg_unary(g, VKG_SQUARE, d, 0, 0), VKG_REDUCE_MEAN);
}

vkg_t vkg_bce_logits_loss(vkg_graph *g, vkg_t logits, vkg_t target) {
  vkg_t ids[2] = {logits, target};
  if (vkg__check(g, 2, ids)) return VKG_NONE;
  vkg__begin(g, "bce_logits_loss");
  if (same_shape(g, logits, target, "logits", "target")) return VKG_NONE;
  /* softplus(x) - x t equals -(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))); the unary softplus
   * is computed as max(x, 0) + log(1 + e^-|x|), so no exponential overflows for large |x|, and its
   * gradient (sigmoid) is stable too. */
  vkg_t sp = vkg_unary(g, VKG_SOFTPLUS, logits, 0, 0);
  vkg_t l = vkg_binary(g, VKG_SUB, sp, vkg_binary(g, VKG_MUL, logits, target));
  return reduce_all(g, l, VKG_REDUCE_MEAN);
}

vkg_t vkg_gaussian_kl_loss(vkg_graph *g, vkg_t mu, vkg_t logvar) {
  vkg_t ids[2] = {mu, logvar};
  if (vkg__check(g, 2, ids)) return VKG_NONE;
  vkg__begin(g, "gaussian_kl_loss");
  if (same_shape(g, mu, logvar, "mu", "logvar")) return VKG_NONE;
  int B = vkg__t(g, mu)->shape[0];
  /* -0.5 (1 + lv - mu^2 - e^lv) = 0.5 (mu^2 + (e^lv - (lv + 1))): every term is >= 0, so the sum
   * has no cancellation between large terms of opposite sign. */
  vkg_t t = vkg_binary(g, VKG_SUB, vkg_unary(g, VKG_EXP, logvar, 0, 0), vkg_unary(g, VKG_AFFINE, logvar, 1, 1));
  t = vkg_binary(g, VKG_ADD, vkg_unary(g, VKG_SQUARE, mu, 0, 0), t);
  return vkg_unary(g, VKG_AFFINE, reduce_all(g, t, VKG_REDUCE_SUM), 0.5f / (float)B, 0);
}

// ---- cross-entropy ----

struct ce_fwd_pc {
  uint32_t rows, C;
  int32_t ignore;
};
_Static_assert(sizeof(struct ce_fwd_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct ce_mean_pc {
  uint32_t n, seg, nseg;
};
_Static_assert(sizeof(struct ce_mean_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct ce_bwd_pc {
  uint32_t n, C;
  int32_t ignore;
};
_Static_assert(sizeof(struct ce_bwd_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Each workgroup of the mean's passes folds WG * MEAN_ITERS rows, so no invocation loops more than
 * MEAN_ITERS times (lavapipe ends loops after 65535 iterations). */
#define MEAN_ITERS 64

/* ---- backward ----
 * d loss / d logits[r, c] = (softmax(x_r)[c] - [c == label_r]) * gy / count for rows whose label
 * counts, 0 for ignored rows: one elementwise dispatch from the saved per-row log-sum-exp and count.
 * Labels are integers and get no gradient. */
struct ce_attrs {
  int32_t ignore;
};

static void ce_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  struct ce_attrs a;
  memcpy(&a, n->attrs, sizeof a);
  if (!vkg__wants_grad(g, n->in[0]) || gout[0] == VKG_NONE) return;
  const struct vkg_gtensor *tx = vkg__t(g, n->in[0]);
  int shape[VKG_MAX_DIMS], ndim = tx->ndim;
  memcpy(shape, tx->shape, sizeof shape);
  vkg_t gx = vkg__new(g, VKG_F32, ndim, shape);
  if (gx < 0) return;
  struct ce_bwd_pc pc = {(uint32_t)vkg__numel(shape, ndim), (uint32_t)shape[ndim - 1], a.ignore};
  uint32_t wg = vkg__wg1d(g->ctx), gxs, gys, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gxs, &gys);
  /* in: logits, labels; out: loss, count, lse */
  vkg_t bind[6] = {n->in[0], n->in[1], n->out[2], n->out[1], gout[0], gx};
  if (vkg__dispatch(g, "cross_entropy_bwd", spec, 3, 6, bind, 1u << 5, &pc, sizeof pc, gxs, gys, 1)) return;
  gin[0] = gx;
}

vkg_t vkg_cross_entropy_loss(vkg_graph *g, vkg_t logits, vkg_t labels, int ignore_index) {
  vkg_t ids[2] = {logits, labels};
  if (vkg__check(g, 2, ids)) return VKG_NONE;
  vkg__begin(g, "cross_entropy_loss");
  const struct vkg_gtensor *tx = vkg__t(g, logits), *tl = vkg__t(g, labels);
  char s1[96], s2[96];
  if (tx->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "logits must be f32 (got %s); use vkg_cast", vkg_dtype_str(tx->dtype)), VKG_NONE;
  if (tl->dtype != VKG_I32)
    return vkg__bad(g, VKG_ERR_ARG, "labels must be i32 (got %s)", vkg_dtype_str(tl->dtype)), VKG_NONE;
  /* labels hold the logits' leading dims: (...) for logits (..., C); a 1-D logits row (C) takes
   * labels (1,), since no tensor has 0 dims. */
  int ok = tx->ndim == 1 ? tl->ndim == 1 && tl->shape[0] == 1
                         : tl->ndim == tx->ndim - 1 && !memcmp(tl->shape, tx->shape, sizeof(int) * (size_t)tl->ndim);
  if (!ok)
    return vkg__bad(g, VKG_ERR_SHAPE,
                    "labels %s do not match logits %s: labels must have the logits' shape without "
                    "the last axis (C)",
                    vkg__shape_str(tl->shape, tl->ndim, s1, sizeof s1),
                    vkg__shape_str(tx->shape, tx->ndim, s2, sizeof s2)),
           VKG_NONE;
  uint32_t C = (uint32_t)tx->shape[tx->ndim - 1], N = (uint32_t)(vkg__numel(tx->shape, tx->ndim) / C);

  int one[1] = {1}, nshape[1] = {(int)N};
  vkg_t loss = vkg__new(g, VKG_F32, 1, one), count = vkg__new(g, VKG_F32, 1, one);
  vkg_t rowloss = vkg__new(g, VKG_F32, 1, nshape), rowvalid = vkg__new(g, VKG_F32, 1, nshape);
  vkg_t lse = vkg__new(g, VKG_F32, 1, nshape);
  if (loss < 0 || count < 0 || rowloss < 0 || rowvalid < 0 || lse < 0) return VKG_NONE;

  /* Per row: loss_r (0 when ignored), valid_r (1 or 0) and the log-sum-exp kept for the backward. */
  struct ce_fwd_pc fpc = {N, C, ignore_index};
  uint32_t gx, gy, spec[3] = {vkg__wg_rows(g->ctx, C), 1, 1};
  vkg__grid1d(N, 1, &gx, &gy); /* one workgroup per row */
  vkg_t fbind[5] = {logits, labels, rowloss, rowvalid, lse};
  if (vkg__dispatch(g, "cross_entropy_fwd", spec, 3, 5, fbind, (1u << 2) | (1u << 3) | (1u << 4), &fpc, sizeof fpc, gx,
                    gy, 1))
    return VKG_NONE;

  /* The mean: each pass folds segments of (loss, valid) pairs into partial sums; the last pass
   * (one segment) writes sum / count, or 0 when no row counts. */
  uint32_t wg = vkg__wg1d(g->ctx), n = N, seg = wg * MEAN_ITERS;
  vkg_t cur_l = rowloss, cur_v = rowvalid;
  for (;;) {
    uint32_t nseg = vkg__ceil_div(n, seg);
    int last = nseg == 1, pshape[1] = {(int)nseg};
    vkg_t dl = last ? loss : vkg__new(g, VKG_F32, 1, pshape), dv = last ? count : vkg__new(g, VKG_F32, 1, pshape);
    if (dl < 0 || dv < 0) return VKG_NONE;
    struct ce_mean_pc mpc = {n, seg, nseg};
    uint32_t mspec[4] = {wg, 1, 1, (uint32_t)last};
    vkg__grid1d(nseg, 1, &gx, &gy);
    vkg_t mbind[4] = {cur_l, cur_v, dl, dv};
    if (vkg__dispatch(g, "cross_entropy_mean", mspec, 4, 4, mbind, (1u << 2) | (1u << 3), &mpc, sizeof mpc, gx, gy, 1))
      return VKG_NONE;
    if (last) break;
    cur_l = dl, cur_v = dv, n = nseg;
  }
  struct ce_attrs attrs = {ignore_index};
  vkg_t outs[3] = {loss, count, lse};
  vkg__node_io(g, 2, ids, 3, outs, &attrs, sizeof attrs, ce_backward);
  return loss;
}
