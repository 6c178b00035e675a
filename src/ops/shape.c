/* Ops that move data without arithmetic: permute, concat, slice; and cast between f32 and f16.
 * The copies work on raw elements, so f32, i32 and f16 tensors are all handled: 32-bit elements by
 * one shader, f16 by a 16-bit twin (a separate module, since 16-bit storage is an optional feature
 * that the 32-bit shader must not require).
 * Backward: permute goes through the inverse permutation, concat slices the gradient, slice pads it
 * with zeros, and cast casts it back. */
#include <string.h>

#include "internal.h"

struct permute_pc {
  uint32_t n, ndim;
  uint32_t shape[6], stride[6];
};
_Static_assert(sizeof(struct permute_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct copy_slice_pc {
  uint32_t total, len;
  uint32_t src_stride, src_off;
  uint32_t dst_stride, dst_off;
};
_Static_assert(sizeof(struct copy_slice_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct cast_pc {
  uint32_t n;
};
_Static_assert(sizeof(struct cast_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Copies rows * len elements from src to dst: row r, element j goes from
 * src[r * src_stride + src_off + j] to dst[r * dst_stride + dst_off + j]. Returns nonzero on error. */
static int copy_block(vkg_graph *g, vkg_t src, vkg_t dst, uint32_t rows, uint32_t len, uint32_t src_stride,
                      uint32_t src_off, uint32_t dst_stride, uint32_t dst_off) {
  struct copy_slice_pc pc = {rows * len, len, src_stride, src_off, dst_stride, dst_off};
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.total, wg, &gx, &gy);
  const char *shader = vkg__t(g, src)->dtype == VKG_F16 ? "copy_slice_f16" : "copy_slice";
  vkg_t bind[2] = {src, dst};
  return vkg__dispatch(g, shader, spec, 3, 2, bind, 1u << 1, &pc, sizeof pc, gx, gy, 1);
}

// ---- permute ----

struct permute_attrs {
  int perm[VKG_MAX_DIMS]; /* normalized */
};

/* The gradient moves back through the inverse permutation. */
static void permute_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  struct permute_attrs a;
  memcpy(&a, n->attrs, sizeof a);
  int inv[VKG_MAX_DIMS], nd = vkg__t(g, n->in[0])->ndim;
  for (int i = 0; i < nd; i++)
    inv[a.perm[i]] = i;
  gin[0] = vkg_permute(g, gout[0], inv);
}

vkg_t vkg_permute(vkg_graph *g, vkg_t x, const int *perm) {
  if (vkg__check(g, 1, &x)) return VKG_NONE;
  vkg__begin(g, "permute");
  const struct vkg_gtensor *tx = vkg__t(g, x);
  int nd = tx->ndim;
  char s1[96], s2[96];
  if (!perm && nd > 0) return vkg__bad(g, VKG_ERR_ARG, "perm is NULL"), VKG_NONE;
  /* perm must hold each axis exactly once; negative entries count from the end, as axes do. */
  int p[VKG_MAX_DIMS], seen[VKG_MAX_DIMS] = {0};
  for (int i = 0; i < nd; i++) {
    p[i] = vkg__axis(perm[i], nd);
    if (p[i] < 0 || seen[p[i]]++)
      return vkg__bad(g, VKG_ERR_SHAPE, "perm %s is not a permutation of the %d dims of %s",
                      vkg__shape_str(perm, nd, s1, sizeof s1), nd, vkg__shape_str(tx->shape, nd, s2, sizeof s2)),
             VKG_NONE;
  }
  int shape[VKG_MAX_DIMS];
  uint32_t stride[VKG_MAX_DIMS], st = 1;
  for (int i = nd - 1; i >= 0; i--) {
    stride[i] = st;
    st *= (uint32_t)tx->shape[i];
  }
  for (int i = 0; i < nd; i++)
    shape[i] = tx->shape[p[i]];
  vkg_dtype dtype = tx->dtype;
  vkg_t out = vkg__new(g, dtype, nd, shape);
  if (out < 0) return VKG_NONE;

  /* Walk the output dims with their strides in x: dims of size 1 drop out, and an output dim whose
   * x-stride is the next dim's stride times its size merges with it (they stay neighbours in x). */
  struct permute_pc pc = {.n = (uint32_t)vkg__numel(shape, nd)};
  int m = 0;
  for (int i = 0; i < nd; i++) {
    uint32_t size = (uint32_t)shape[i], s = stride[p[i]];
    if (size == 1) continue;
    if (m > 0 && pc.stride[m - 1] == s * size) {
      pc.shape[m - 1] *= size;
      pc.stride[m - 1] = s;
      continue;
    }
    pc.shape[m] = size;
    pc.stride[m] = s;
    m++;
  }
  pc.ndim = (uint32_t)m;
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gx, &gy);
  vkg_t bind[2] = {x, out};
  if (vkg__dispatch(g, dtype == VKG_F16 ? "permute_f16" : "permute", spec, 3, 2, bind, 1u << 1, &pc, sizeof pc, gx, gy,
                    1))
    return VKG_NONE;
  struct permute_attrs attrs;
  memcpy(attrs.perm, p, sizeof p);
  vkg__node_io(g, 1, &x, 1, &out, &attrs, sizeof attrs, permute_backward);
  return out;
}

// ---- concat ----

/* Each input's gradient is its slice of the output's gradient. */
static void concat_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  int axis, off = 0;
  memcpy(&axis, n->attrs, sizeof axis);
  for (int k = 0; k < n->nin; k++) {
    int nk = vkg__t(g, n->in[k])->shape[axis];
    if (vkg__wants_grad(g, n->in[k])) gin[k] = vkg_slice(g, gout[0], axis, off, off + nk);
    off += nk;
  }
}

vkg_t vkg_concat(vkg_graph *g, int n, const vkg_t *xs, int axis) {
  if (n < 1 || !xs) {
    if (vkg__check(g, 0, NULL)) return VKG_NONE;
    vkg__begin(g, "concat");
    return vkg__bad(g, VKG_ERR_ARG, "needs at least one input (got n = %d%s)", n, xs ? "" : ", xs NULL"), VKG_NONE;
  }
  if (vkg__check(g, n, xs)) return VKG_NONE;
  vkg__begin(g, "concat");
  const struct vkg_gtensor *t0 = vkg__t(g, xs[0]);
  char s1[96], s2[96];
  int ax = vkg__axis(axis, t0->ndim);
  if (ax < 0)
    return vkg__bad(g, VKG_ERR_SHAPE, "axis %d is out of range for shape %s", axis,
                    vkg__shape_str(t0->shape, t0->ndim, s1, sizeof s1)),
           VKG_NONE;
  /* Every input must match the first in dtype, ndim and every dim but the axis. */
  int64_t total = 0;
  for (int k = 0; k < n; k++) {
    const struct vkg_gtensor *t = vkg__t(g, xs[k]);
    if (t->dtype != t0->dtype)
      return vkg__bad(g, VKG_ERR_ARG, "input %d is %s but input 1 is %s", k + 1, vkg_dtype_str(t->dtype),
                      vkg_dtype_str(t0->dtype)),
             VKG_NONE;
    int ok = t->ndim == t0->ndim;
    for (int i = 0; ok && i < t->ndim; i++)
      ok = i == ax || t->shape[i] == t0->shape[i];
    if (!ok)
      return vkg__bad(g, VKG_ERR_SHAPE, "input %d %s does not match input 1 %s except along axis %d", k + 1,
                      vkg__shape_str(t->shape, t->ndim, s1, sizeof s1),
                      vkg__shape_str(t0->shape, t0->ndim, s2, sizeof s2), ax),
             VKG_NONE;
    total += t->shape[ax];
  }
  if (total > INT32_MAX)
    return vkg__bad(g, VKG_ERR_SHAPE, "axis %d would hold %lld entries", ax, (long long)total), VKG_NONE;
  int shape[VKG_MAX_DIMS], ndim = t0->ndim;
  memcpy(shape, t0->shape, sizeof shape);
  shape[ax] = (int)total;
  vkg_t out = vkg__new(g, t0->dtype, ndim, shape);
  if (out < 0) return VKG_NONE;

  /* Seen as (outer, total, inner), input k fills rows of its own n_k * inner elements at offset
   * (sum of the earlier n_j) * inner in each output row. */
  uint32_t outer = (uint32_t)vkg__numel(shape, ax), inner = (uint32_t)vkg__numel(shape + ax + 1, ndim - ax - 1);
  uint32_t off = 0;
  for (int k = 0; k < n; k++) {
    uint32_t nk = (uint32_t)vkg__t(g, xs[k])->shape[ax];
    if (copy_block(g, xs[k], out, outer, nk * inner, nk * inner, 0, (uint32_t)total * inner, off * inner))
      return VKG_NONE;
    off += nk;
  }
  /* A node holds at most VKG_NODE_MAX_IN inputs; a longer concat records none and has no gradient. */
  if (n <= VKG_NODE_MAX_IN) vkg__node_io(g, n, xs, 1, &out, &ax, sizeof ax, concat_backward);
  return out;
}

// ---- slice ----

/* Zeros of dtype dt (a gradient may be f16 when it flows back through a cast). */
static vkg_t zeros(vkg_graph *g, vkg_dtype dt, int ndim, const int *shape) {
  vkg_t z = vkg_full(g, ndim, shape, 0.0f);
  return dt == VKG_F32 ? z : vkg_cast(g, z, dt);
}

struct slice_attrs {
  int axis, start, end; /* normalized: 0 <= start < end <= dim */
};

/* The gradient is the output's gradient padded with zeros back to the input's extent along the
 * axis: a concat of zeros, the gradient, and zeros. */
static void slice_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  struct slice_attrs a;
  memcpy(&a, n->attrs, sizeof a);
  const struct vkg_gtensor *tx = vkg__t(g, n->in[0]);
  int shape[VKG_MAX_DIMS], ndim = tx->ndim, dim = tx->shape[a.axis], np = 0;
  memcpy(shape, tx->shape, sizeof shape);
  vkg_dtype dt = vkg__t(g, gout[0])->dtype;
  vkg_t parts[3];
  if (a.start > 0) {
    shape[a.axis] = a.start;
    parts[np++] = zeros(g, dt, ndim, shape);
  }
  parts[np++] = gout[0];
  if (a.end < dim) {
    shape[a.axis] = dim - a.end;
    parts[np++] = zeros(g, dt, ndim, shape);
  }
  gin[0] = np == 1 ? gout[0] : vkg_concat(g, np, parts, a.axis);
}

vkg_t vkg_slice(vkg_graph *g, vkg_t x, int axis, int start, int end) {
  if (vkg__check(g, 1, &x)) return VKG_NONE;
  vkg__begin(g, "slice");
  const struct vkg_gtensor *tx = vkg__t(g, x);
  char s1[96];
  int ax = vkg__axis(axis, tx->ndim);
  if (ax < 0)
    return vkg__bad(g, VKG_ERR_SHAPE, "axis %d is out of range for shape %s", axis,
                    vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1)),
           VKG_NONE;
  /* Negative bounds count from the end as in Python; unlike Python, bounds outside [0, dim] and
   * empty slices are errors rather than clamped, since they are almost always bugs. */
  int dim = tx->shape[ax], b = start < 0 ? start + dim : start, e = end < 0 ? end + dim : end;
  if (b < 0 || e > dim || b >= e)
    return vkg__bad(g, VKG_ERR_SHAPE, "[%d, %d) along axis %d of %s is %s", start, end, ax,
                    vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1),
                    b < 0 || e > dim || b > dim || e < 0 ? "out of range" : "empty"),
           VKG_NONE;
  int shape[VKG_MAX_DIMS], ndim = tx->ndim;
  memcpy(shape, tx->shape, sizeof shape);
  shape[ax] = e - b;
  vkg_t out = vkg__new(g, tx->dtype, ndim, shape);
  if (out < 0) return VKG_NONE;
  /* Seen as (outer, dim, inner), each output row is a run of (e - b) * inner elements of x. */
  uint32_t outer = (uint32_t)vkg__numel(shape, ax), inner = (uint32_t)vkg__numel(shape + ax + 1, ndim - ax - 1);
  uint32_t len = (uint32_t)(e - b) * inner;
  if (copy_block(g, x, out, outer, len, (uint32_t)dim * inner, (uint32_t)b * inner, len, 0)) return VKG_NONE;
  struct slice_attrs attrs = {ax, b, e};
  vkg__node_io(g, 1, &x, 1, &out, &attrs, sizeof attrs, slice_backward);
  return out;
}

// ---- cast ----

/* The gradient is cast back to the input's dtype. */
static void cast_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  vkg_dtype from = vkg__t(g, n->in[0])->dtype;
  gin[0] = vkg__t(g, gout[0])->dtype == from ? gout[0] : vkg_cast(g, gout[0], from);
}

vkg_t vkg_cast(vkg_graph *g, vkg_t x, vkg_dtype to) {
  if (vkg__check(g, 1, &x)) return VKG_NONE;
  vkg__begin(g, "cast");
  const struct vkg_gtensor *tx = vkg__t(g, x);
  vkg_dtype from = tx->dtype;
  if ((unsigned)to > VKG_I32) return vkg__bad(g, VKG_ERR_ARG, "unknown dtype %d", (int)to), VKG_NONE;
  if (from != to && !((from == VKG_F32 && to == VKG_F16) || (from == VKG_F16 && to == VKG_F32)))
    return vkg__bad(g, VKG_ERR_ARG, "%s -> %s is not supported (only f32 <-> f16)", vkg_dtype_str(from),
                    vkg_dtype_str(to)),
           VKG_NONE;
  if ((from == VKG_F16 || to == VKG_F16) && !vkg_ctx_has_fp16(g->ctx)) {
    return vkg__bad(g, VKG_ERR_UNSUPPORTED,
                    "device '%s' has no fp16 storage buffers (16-bit storage + shaderFloat16); keep tensors in f32",
                    g->ctx->info.name),
           VKG_NONE;
  }
  int shape[VKG_MAX_DIMS], ndim = tx->ndim;
  memcpy(shape, tx->shape, sizeof shape);
  vkg_t out = vkg__new(g, to, ndim, shape);
  if (out < 0) return VKG_NONE;
  uint32_t n = (uint32_t)vkg__numel(shape, ndim);
  /* The same dtype is a plain copy (the result is a new tensor, as for any other cast). */
  if (from == to) {
    if (copy_block(g, x, out, 1, n, n, 0, n, 0)) return VKG_NONE;
    vkg__node_io(g, 1, &x, 1, &out, NULL, 0, cast_backward);
    return out;
  }
  /* The shader takes the f32 tensor at binding 0 and the f16 tensor at binding 1. */
  struct cast_pc pc = {n};
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[4] = {wg, 1, 1, to == VKG_F32};
  vkg__grid1d(n, wg, &gx, &gy);
  vkg_t bind[2] = {to == VKG_F32 ? out : x, to == VKG_F32 ? x : out};
  if (vkg__dispatch(g, "cast", spec, 4, 2, bind, to == VKG_F32 ? 1u : 2u, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg__node_io(g, 1, &x, 1, &out, NULL, 0, cast_backward);
  return out;
}
