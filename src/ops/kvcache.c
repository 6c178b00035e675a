/* Ops for decoding with positions read at run time: gathering and scattering along an axis at a
 * position from a scalar slot (token buffers, position embeddings, KV caches), and causal attention
 * over the valid prefix of a KV cache. One recorded graph then serves every decoding position.
 * Shape letters: B batch, NH heads, Tq queries, Tmax cache length, D head size of q and k, Dv of v.
 * A tensor is seen as (outer, A, inner) around its axis A. */
#include <math.h>
#include <string.h>

#include "internal.h"

#define NO_SLOT 0xffffffffu

/* A u32 scalar slot as the shaders take it: -1 becomes NO_SLOT; anything else must exist. */
static int slot_arg(vkg_graph *g, int slot, const char *what, uint32_t *out) {
  if (slot == -1) {
    *out = NO_SLOT;
    return 0;
  }
  if (slot < 0 || slot >= g->nscalars)
    return vkg__bad(g, VKG_ERR_ARG, "%s slot %d is not a scalar of this graph (it has %d; -1 for none)", what, slot,
                    g->nscalars);
  *out = (uint32_t)slot;
  return 0;
}

/* outer and inner extents of t around axis. */
static void around(const struct vkg_gtensor *t, int axis, uint32_t *outer, uint32_t *inner) {
  *outer = (uint32_t)vkg__numel(t->shape, axis);
  *inner = (uint32_t)vkg__numel(t->shape + axis + 1, t->ndim - axis - 1);
}

// ---- gather_at ----

struct gather_at_pc {
  uint32_t n, A, inner, len;
  int32_t offset;
  uint32_t pos_slot;
};
_Static_assert(sizeof(struct gather_at_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

vkg_t vkg_gather_at(vkg_graph *g, vkg_t x, int axis, int pos_slot, int offset, int len) {
  if (vkg__check(g, 1, &x)) return VKG_NONE;
  vkg__begin(g, "gather_at");
  const struct vkg_gtensor *tx = vkg__t(g, x);
  char s1[96];
  int ax = vkg__axis(axis, tx->ndim);
  if (tx->dtype == VKG_F16)
    return vkg__bad(g, VKG_ERR_ARG, "gather_at takes f32 or i32 (got f16); use vkg_cast"), VKG_NONE;
  if (ax < 0 || len < 1)
    return vkg__bad(g, VKG_ERR_SHAPE, "axis %d of %s with len %d (need a valid axis and len >= 1)", axis,
                    vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1), len),
           VKG_NONE;
  struct gather_at_pc pc = {.len = (uint32_t)len, .offset = offset, .A = (uint32_t)tx->shape[ax]};
  if (slot_arg(g, pos_slot, "position", &pc.pos_slot)) return VKG_NONE;
  uint32_t outer;
  around(tx, ax, &outer, &pc.inner);
  int shape[VKG_MAX_DIMS], nd = tx->ndim;
  memcpy(shape, tx->shape, sizeof shape);
  shape[ax] = len;
  vkg_dtype dt = tx->dtype;
  vkg_t sc = vkg__scalars(g);
  vkg_t out = vkg__new(g, dt, nd, shape);
  if (sc < 0 || out < 0) return VKG_NONE;
  pc.n = (uint32_t)vkg__numel(shape, nd);
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gx, &gy);
  vkg_t bind[3] = {sc, x, out};
  if (vkg__dispatch(g, "gather_at", spec, 3, 3, bind, 1u << 2, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg__node_io(g, 1, &x, 1, &out, NULL, 0, NULL);
  return out;
}

// ---- scatter_at ----

struct scatter_at_pc {
  uint32_t n, A, inner, J;
  int32_t offset;
  uint32_t pos_slot, lo_slot;
};
_Static_assert(sizeof(struct scatter_at_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

vkg_t vkg_scatter_at(vkg_graph *g, vkg_t dst, vkg_t src, int axis, int pos_slot, int offset, int lo_slot) {
  vkg_t ids[2] = {dst, src};
  if (vkg__check(g, 2, ids)) return VKG_NONE;
  vkg__begin(g, "scatter_at");
  const struct vkg_gtensor *td = vkg__t(g, dst), *ts = vkg__t(g, src);
  const struct vkg_gtensor *root = vkg__t(g, vkg__root(g, dst));
  char s1[96], s2[96];
  vkg__shape_str(td->shape, td->ndim, s1, sizeof s1);
  vkg__shape_str(ts->shape, ts->ndim, s2, sizeof s2);
  if (root->kind != VKG_KIND_BOUND && root->kind != VKG_KIND_INPUT)
    return vkg__bad(g, VKG_ERR_ARG, "it writes in place: dst %s must be an input or a bound tensor", s1), VKG_NONE;
  if (td->dtype != ts->dtype || td->dtype == VKG_F16)
    return vkg__bad(g, VKG_ERR_ARG, "dst is %s and src %s (both f32 or both i32)", vkg_dtype_str(td->dtype),
                    vkg_dtype_str(ts->dtype)),
           VKG_NONE;
  int ax = vkg__axis(axis, td->ndim), ok = ax >= 0 && td->ndim == ts->ndim;
  for (int i = 0; ok && i < td->ndim; i++)
    ok = i == ax || td->shape[i] == ts->shape[i];
  if (!ok)
    return vkg__bad(g, VKG_ERR_SHAPE, "src %s does not fit dst %s along axis %d (other dims must be equal)", s2, s1,
                    axis),
           VKG_NONE;
  struct scatter_at_pc pc = {.A = (uint32_t)td->shape[ax], .J = (uint32_t)ts->shape[ax], .offset = offset};
  if (slot_arg(g, pos_slot, "position", &pc.pos_slot) || slot_arg(g, lo_slot, "lower bound", &pc.lo_slot))
    return VKG_NONE;
  uint32_t outer;
  around(td, ax, &outer, &pc.inner);
  pc.n = (uint32_t)vkg__numel(ts->shape, ts->ndim);
  vkg_t sc = vkg__scalars(g);
  if (sc < 0) return VKG_NONE;
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gx, &gy);
  vkg_t bind[3] = {sc, src, dst};
  if (vkg__dispatch(g, "scatter_at", spec, 3, 3, bind, 1u << 2, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg__node_io(g, 2, ids, 1, &dst, NULL, 0, NULL);
  return dst;
}

// ---- attention_cached ----

struct attention_cached_pc {
  uint32_t NH, Tq, Tmax, D, Dv;
  float scale;
  uint32_t len_slot;
  int32_t offset;
};
_Static_assert(sizeof(struct attention_cached_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

vkg_t vkg_attention_cached(vkg_graph *g, vkg_t q, vkg_t k, vkg_t v, float scale, int len_slot, int offset) {
  vkg_t ids[3] = {q, k, v};
  if (vkg__check(g, 3, ids)) return VKG_NONE;
  vkg__begin(g, "attention_cached");
  const struct vkg_gtensor *tq = vkg__t(g, q), *tk = vkg__t(g, k), *tv = vkg__t(g, v);
  char s1[96], s2[96], s3[96];
  if (tq->dtype != VKG_F32 || tk->dtype != VKG_F32 || tv->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "q, k, v must be f32; use vkg_cast"), VKG_NONE;
  vkg__shape_str(tq->shape, tq->ndim, s1, sizeof s1);
  vkg__shape_str(tk->shape, tk->ndim, s2, sizeof s2);
  vkg__shape_str(tv->shape, tv->ndim, s3, sizeof s3);
  if (tq->ndim != 4 || tk->ndim != 4 || tv->ndim != 4 || tk->shape[0] != tq->shape[0] || tv->shape[0] != tq->shape[0] ||
      tk->shape[1] != tq->shape[1] || tv->shape[1] != tq->shape[1] || tk->shape[3] != tq->shape[3] ||
      tv->shape[2] != tk->shape[2])
    return vkg__bad(g, VKG_ERR_SHAPE,
                    "q %s, k %s, v %s do not fit: want q (B, NH, Tq, D), k (B, NH, Tmax, D), v (B, NH, Tmax, Dv)", s1,
                    s2, s3),
           VKG_NONE;
  int B = tq->shape[0], NH = tq->shape[1], Tq = tq->shape[2], D = tq->shape[3], Dv = tv->shape[3];
  if (Tq > 65535 || NH > 65535 || B > 65535)
    return vkg__bad(g, VKG_ERR_SHAPE, "q %s has a dim over 65535", s1), VKG_NONE;
  struct attention_cached_pc pc = {(uint32_t)NH,
                                   (uint32_t)Tq,
                                   (uint32_t)tk->shape[2],
                                   (uint32_t)D,
                                   (uint32_t)Dv,
                                   scale > 0 ? scale : (float)(1.0 / sqrt((double)D)),
                                   0,
                                   offset};
  if (slot_arg(g, len_slot, "length", &pc.len_slot)) return VKG_NONE;
  /* One workgroup per query row; its invocations score one key each per chunk and own output columns
   * j, j + WG, ... The query and the output row live in shared memory, sized by spec constants. */
  uint32_t wg = vkg__wg_rows(g->ctx, (size_t)(D > Dv ? D : Dv));
  uint32_t dmax = vkg__ceil_div((uint64_t)D, wg) * wg, dvmax = vkg__ceil_div((uint64_t)Dv, wg) * wg;
  uint32_t shared = 4u * (dmax + dvmax + 2 * wg);
  if (shared > g->ctx->props.limits.maxComputeSharedMemorySize)
    return vkg__bad(g, VKG_ERR_UNSUPPORTED, "D %d, Dv %d needs %u bytes of shared memory; device has %u", D, Dv, shared,
                    g->ctx->props.limits.maxComputeSharedMemorySize),
           VKG_NONE;
  int oshape[4] = {B, NH, Tq, Dv};
  vkg_t sc = vkg__scalars(g);
  vkg_t out = vkg__new(g, VKG_F32, 4, oshape);
  if (sc < 0 || out < 0) return VKG_NONE;
  uint32_t spec[5] = {wg, 1, 1, dmax, dvmax};
  vkg_t bind[5] = {sc, q, k, v, out};
  if (vkg__dispatch(g, "attention_cached", spec, 5, 5, bind, 1u << 4, &pc, sizeof pc, (uint32_t)Tq, (uint32_t)NH,
                    (uint32_t)B))
    return VKG_NONE;
  vkg__node_io(g, 3, ids, 1, &out, NULL, 0, NULL);
  return out;
}

// ---- matmul_rows ----

struct matmul_rows_pc {
  uint32_t M, N, K;
  uint32_t b_sk, b_sn; /* strides of b's k and n */
  uint32_t has_bias;
};
_Static_assert(sizeof(struct matmul_rows_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

vkg_t vkg_matmul_rows(vkg_graph *g, vkg_t a, vkg_t b, vkg_t bias, unsigned flags) {
  vkg_t ids[3] = {a, b, bias};
  if (vkg__check(g, bias == VKG_NONE ? 2 : 3, ids)) return VKG_NONE;
  vkg__begin(g, "matmul_rows");
  const struct vkg_gtensor *ta = vkg__t(g, a), *tb = vkg__t(g, b);
  char s1[96], s2[96];
  vkg__shape_str(ta->shape, ta->ndim, s1, sizeof s1);
  vkg__shape_str(tb->shape, tb->ndim, s2, sizeof s2);
  if (ta->dtype != VKG_F32 || tb->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "operands must be f32; use vkg_cast"), VKG_NONE;
  if (ta->ndim != 2 || tb->ndim != 2 || (flags & VKG_TRANS_A))
    return vkg__bad(g, VKG_ERR_SHAPE, "a %s and b %s must be 2-D (a not transposed)", s1, s2), VKG_NONE;
  int tb_ = (flags & VKG_TRANS_B) != 0;
  int M = ta->shape[0], K = ta->shape[1], Kb = tb->shape[tb_], N = tb->shape[1 - tb_];
  if (K != Kb)
    return vkg__bad(g, VKG_ERR_SHAPE, "a %s times b %s%s: inner dims %d and %d differ", s1, s2, tb_ ? "^T" : "", K, Kb),
           VKG_NONE;
  if (bias != VKG_NONE) {
    const struct vkg_gtensor *tc = vkg__t(g, bias);
    if (vkg__numel(tc->shape, tc->ndim) != (size_t)N || tc->dtype != VKG_F32)
      return vkg__bad(g, VKG_ERR_SHAPE, "bias %s must hold N = %d f32 values",
                      vkg__shape_str(tc->shape, tc->ndim, s1, sizeof s1), N),
             VKG_NONE;
  }
  int shape[2] = {M, N};
  vkg_t out = vkg__new(g, VKG_F32, 2, shape);
  if (out < 0) return VKG_NONE;
  struct matmul_rows_pc pc = {(uint32_t)M,     (uint32_t)N, (uint32_t)K, tb_ ? 1u : (uint32_t)N, tb_ ? (uint32_t)K : 1u,
                              bias != VKG_NONE};
  /* A workgroup covers WG columns and every row, in chunks of 8 rows held in registers; a over the
   * chunk is staged through shared memory 128 k at a time. Rows past 65535 groups are not expected
   * (M is a batch), so columns alone set the grid. */
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d((uint64_t)N, wg, &gx, &gy);
  vkg_t bind[4] = {a, b, bias != VKG_NONE ? bias : a, out};
  if (vkg__dispatch(g, "matmul_rows", spec, 3, 4, bind, 1u << 3, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg__node_io(g, bias == VKG_NONE ? 2 : 3, ids, 1, &out, NULL, 0, NULL);
  return out;
}
