/* Reductions over one axis: sum, mean and max. x is viewed as (outer, n, inner) with n the reduced
 * axis; the result holds outer * inner values. */
#include <string.h>

#include "internal.h"

struct reduce_rows_pc {
  uint32_t rows, n, seg, nseg;
  float count;
};
_Static_assert(sizeof(struct reduce_rows_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct reduce_axis_pc {
  uint32_t total, n, inner, seg, nseg;
  float count;
};
_Static_assert(sizeof(struct reduce_axis_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Rows shorter than this are reduced one invocation per row: a workgroup per row would leave most
 * of its invocations idle. */
#define ROW_KERNEL_MIN_N 64
/* At most this many loop iterations per invocation: lavapipe silently ends a shader's loops after
 * 65535 iterations in all, and short invocations spread long reductions over more of the device
 * anyway. Longer reductions go in passes: each reduces segments to partial results, the next
 * reduces those. */
#define MAX_ITERS 4096

/* ---- backward ----
 * The gradient of a sum spreads each output's gradient over the n inputs it summed (scaled by 1 / n
 * for the mean): a fill of the scale times the output gradient seen with the axis kept as 1, which
 * broadcasts. The gradient of max goes to the first maximal element of each reduced line, as a
 * subgradient must pick one: reduce_max_bwd_arg.comp finds its position (an atomic min over the
 * elements equal to the max, so every invocation's work stays one element however long the line),
 * reduce_max_bwd.comp writes dx. */
struct reduce_attrs {
  int op, axis; /* axis normalized */
};

struct reduce_max_bwd_pc {
  uint32_t total, n, inner;
};
_Static_assert(sizeof(struct reduce_max_bwd_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

static vkg_t max_backward(vkg_graph *g, vkg_t x, vkg_t y, vkg_t dy, int axis) {
  vkg__begin(g, "reduce_max backward");
  const struct vkg_gtensor *tx = vkg__t(g, x);
  int shape[VKG_MAX_DIMS], ndim = tx->ndim;
  memcpy(shape, tx->shape, sizeof shape);
  uint32_t outer = (uint32_t)vkg__numel(shape, axis), n = (uint32_t)shape[axis];
  uint32_t inner = (uint32_t)vkg__numel(shape + axis + 1, ndim - axis - 1);
  int lines[1] = {(int)(outer * inner)};
  vkg_t arg = vkg__new(g, VKG_I32, 1, lines), dx = vkg__new(g, VKG_F32, ndim, shape);
  if (arg < 0 || dx < 0) return VKG_NONE;
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[4] = {wg, 1, 1, 0};
  struct reduce_max_bwd_pc pc = {outer * inner, n, inner};
  vkg_t abind[3] = {x, y, arg};
  vkg__grid1d(pc.total, wg, &gx, &gy);
  if (vkg__dispatch(g, "reduce_max_bwd_arg", spec, 4, 3, abind, 1u << 2, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  pc.total = outer * n * inner;
  spec[3] = 1;
  vkg__grid1d(pc.total, wg, &gx, &gy);
  if (vkg__dispatch(g, "reduce_max_bwd_arg", spec, 4, 3, abind, 1u << 2, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg_t bind[3] = {arg, dy, dx};
  if (vkg__dispatch(g, "reduce_max_bwd", spec, 3, 3, bind, 1u << 2, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  return dx;
}

static void reduce_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  struct reduce_attrs a;
  memcpy(&a, n->attrs, sizeof a);
  const struct vkg_gtensor *tx = vkg__t(g, n->in[0]);
  int shape[VKG_MAX_DIMS], kshape[VKG_MAX_DIMS], ndim = tx->ndim;
  memcpy(shape, tx->shape, sizeof shape);
  memcpy(kshape, tx->shape, sizeof kshape);
  kshape[a.axis] = 1;
  if (a.op == VKG_REDUCE_MAX) {
    gin[0] = max_backward(g, n->in[0], n->out[0], gout[0], a.axis);
    return;
  }
  float scale = a.op == VKG_REDUCE_MEAN ? 1.0f / (float)shape[a.axis] : 1.0f;
  gin[0] = vkg_binary(g, VKG_MUL, vkg_full(g, ndim, shape, scale), vkg_reshape(g, gout[0], ndim, kshape));
}

static const char *reduce_names[] = {"reduce_sum", "reduce_mean", "reduce_max"};

vkg_t vkg_reduce(vkg_graph *g, vkg_reduce_op op, vkg_t x, int axis, int keepdim) {
  if (vkg__check(g, 1, &x)) return VKG_NONE;
  vkg__begin(g, (unsigned)op <= VKG_REDUCE_MAX ? reduce_names[op] : "reduce");
  if ((unsigned)op > VKG_REDUCE_MAX) return vkg__bad(g, VKG_ERR_ARG, "unknown reduce op %d", (int)op), VKG_NONE;
  const struct vkg_gtensor *tx = vkg__t(g, x);
  char s1[96];
  if (tx->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "input must be f32 (got %s); use vkg_cast", vkg_dtype_str(tx->dtype)), VKG_NONE;
  int ax = vkg__axis(axis, tx->ndim);
  if (ax < 0)
    return vkg__bad(g, VKG_ERR_SHAPE, "axis %d is out of range for shape %s", axis,
                    vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1)),
           VKG_NONE;
  uint32_t outer = (uint32_t)vkg__numel(tx->shape, ax), n = (uint32_t)tx->shape[ax], total_n = n;
  uint32_t inner = (uint32_t)vkg__numel(tx->shape + ax + 1, tx->ndim - ax - 1);

  /* The result keeps the reduced axis as 1 (keepdim) or drops it. Reducing a 1-D tensor without
   * keepdim would leave 0 dims; the result is then shape (1,) so every tensor has at least one dim. */
  int shape[VKG_MAX_DIMS], ndim = 0;
  for (int i = 0; i < tx->ndim; i++)
    if (i != ax)
      shape[ndim++] = tx->shape[i];
    else if (keepdim)
      shape[ndim++] = 1;
  if (ndim == 0) shape[ndim++] = 1;
  vkg_t out = vkg__new(g, VKG_F32, ndim, shape);
  if (out < 0) return VKG_NONE;

  /* Each pass reduces (outer, n, inner) to (outer, nseg, inner); all but the last pass write partial
   * sums (or maxima) to a scratch tensor, and only the last applies the mean's division. */
  vkg_t cur = x;
  for (;;) {
    uint32_t wg = vkg__wg1d(g->ctx), gx, gy, seg, nseg;
    int rows_kernel = inner == 1 && n >= ROW_KERNEL_MIN_N;
    if (rows_kernel) {
      /* A workgroup per row segment, shrunk for rows that would not fill it (never below 64). */
      while (wg > ROW_KERNEL_MIN_N && wg / 2 >= n)
        wg /= 2;
      seg = wg * MAX_ITERS;
    } else {
      seg = MAX_ITERS;
    }
    nseg = vkg__ceil_div(n, seg);
    int last = nseg == 1;
    int pshape[3] = {(int)outer, (int)nseg, (int)inner};
    vkg_t dst = last ? out : vkg__new(g, VKG_F32, 3, pshape);
    if (dst < 0) return VKG_NONE;
    uint32_t spec[4] = {wg, 1, 1, last ? (uint32_t)op : op == VKG_REDUCE_MAX ? VKG_REDUCE_MAX : VKG_REDUCE_SUM};
    vkg_t bind[2] = {cur, dst};
    if (rows_kernel) {
      struct reduce_rows_pc pc = {outer, n, seg, nseg, (float)total_n};
      vkg__grid1d((uint64_t)outer * nseg * wg, wg, &gx, &gy);
      if (vkg__dispatch(g, "reduce_rows", spec, 4, 2, bind, 1u << 1, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
    } else {
      struct reduce_axis_pc pc = {outer * nseg * inner, n, inner, seg, nseg, (float)total_n};
      vkg__grid1d(pc.total, wg, &gx, &gy);
      if (vkg__dispatch(g, "reduce_axis", spec, 4, 2, bind, 1u << 1, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
    }
    if (last) break;
    cur = dst;
    n = nseg;
  }
  struct reduce_attrs attrs = {(int)op, ax};
  vkg__node_io(g, 1, &x, 1, &out, &attrs, sizeof attrs, reduce_backward);
  return out;
}
