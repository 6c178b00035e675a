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

// ---- matmul_rows and qkv_rows ----

struct matmul_rows_pc {
  uint32_t M, N, K;
  uint32_t b_sk, b_sn; /* strides of b's k and n */
  uint32_t has_bias;
  uint32_t act, has_res;
  float eps; /* matmul_rows_ln */
};
_Static_assert(sizeof(struct matmul_rows_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct qkv_rows_pc {
  uint32_t M, N, K, b_sk, b_sn, has_bias;
  uint32_t C, NH, D, Tmax, pos_slot;
  int32_t offset;
};
_Static_assert(sizeof(struct qkv_rows_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Checks a (M, K) times b (K, N) (or (N, K) with VKG_TRANS_B) plus bias (N) for the row kernels and
 * fills M, N, K and b's strides; 1 (error recorded) if they do not fit. */
static int rows_check(vkg_graph *g, vkg_t a, vkg_t b, vkg_t bias, unsigned flags, uint32_t mnk[5]) {
  const struct vkg_gtensor *ta = vkg__t(g, a), *tb = vkg__t(g, b);
  char s1[96], s2[96];
  vkg__shape_str(ta->shape, ta->ndim, s1, sizeof s1);
  vkg__shape_str(tb->shape, tb->ndim, s2, sizeof s2);
  if (ta->dtype != VKG_F32 || tb->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "operands must be f32; use vkg_cast");
  if (ta->ndim != 2 || tb->ndim != 2 || (flags & VKG_TRANS_A))
    return vkg__bad(g, VKG_ERR_SHAPE, "a %s and b %s must be 2-D (a not transposed)", s1, s2);
  int tb_ = (flags & VKG_TRANS_B) != 0;
  int M = ta->shape[0], K = ta->shape[1], Kb = tb->shape[tb_], N = tb->shape[1 - tb_];
  if (K != Kb)
    return vkg__bad(g, VKG_ERR_SHAPE, "a %s times b %s%s: inner dims %d and %d differ", s1, s2, tb_ ? "^T" : "", K, Kb);
  if (bias != VKG_NONE) {
    const struct vkg_gtensor *tc = vkg__t(g, bias);
    if (vkg__numel(tc->shape, tc->ndim) != (size_t)N || tc->dtype != VKG_F32)
      return vkg__bad(g, VKG_ERR_SHAPE, "bias %s must hold N = %d f32 values",
                      vkg__shape_str(tc->shape, tc->ndim, s1, sizeof s1), N);
  }
  mnk[0] = (uint32_t)M, mnk[1] = (uint32_t)N, mnk[2] = (uint32_t)K;
  mnk[3] = tb_ ? 1u : (uint32_t)N, mnk[4] = tb_ ? (uint32_t)K : 1u;
  return 0;
}

/* The loads (see matmul_rows.glsl): vec4 of b along n (b (K, N), N % 4 == 0: an invocation per 4
 * columns), along k (b^T, K % 4 == 0), else scalar; workgroups of 32 invocations spread over the
 * columns; the rows per register chunk: the smallest of 1, 2, 4, 8 that covers M, else 8. */
static void rows_launch(vkg_graph *g, const uint32_t mnk[5], uint32_t spec[5], uint32_t *gx, uint32_t *gy) {
  uint32_t M = mnk[0], N = mnk[1], K = mnk[2], trans = mnk[4] != 1;
  uint32_t vec = !trans && N % 4 == 0 ? 1 : trans && K % 4 == 0 ? 2 : 0;
  uint32_t wg = 32;
  if (wg > g->ctx->props.limits.maxComputeWorkGroupInvocations) wg = 16;
  spec[0] = wg, spec[1] = 1, spec[2] = 1, spec[3] = M <= 1 ? 1 : M <= 2 ? 2 : M <= 4 ? 4 : 8, spec[4] = vec;
  vkg__grid1d(vec == 1 ? N / 4 : N, wg, gx, gy);
}

/* matmul_rows with its epilogue, and with gamma and beta (both or neither) the layernorm of a's rows
 * as its prologue. */
static vkg_t rows_fused(vkg_graph *g, vkg_t a, vkg_t gamma, vkg_t beta, float eps, vkg_t b, vkg_t bias, vkg_t res,
                        unsigned flags) {
  vkg_t ids[6] = {a, b};
  int nid = 2, ln = gamma != VKG_NONE;
  if (bias != VKG_NONE) ids[nid++] = bias;
  if (res != VKG_NONE) ids[nid++] = res;
  if (ln) ids[nid++] = gamma, ids[nid++] = beta;
  if (vkg__check(g, nid, ids)) return VKG_NONE;
  vkg__begin(g, ln ? "layernorm_matmul_rows" : "matmul_rows");
  uint32_t mnk[5];
  if (rows_check(g, a, b, bias, flags, mnk)) return VKG_NONE;
  for (int i = 0; i < 2 && ln; i++) {
    const struct vkg_gtensor *t = vkg__t(g, i ? beta : gamma);
    char s1[96];
    if (t->dtype != VKG_F32 || vkg__numel(t->shape, t->ndim) != mnk[2] || !(eps > 0))
      return vkg__bad(g, VKG_ERR_SHAPE, "%s %s must hold K = %u f32 values (and eps %g > 0)", i ? "beta" : "gamma",
                      vkg__shape_str(t->shape, t->ndim, s1, sizeof s1), mnk[2], (double)eps),
             VKG_NONE;
  }
  if (flags & ~(VKG_TRANS_B | VKG_TRANS_A | VKG_ROWS_GELU_TANH))
    return vkg__bad(g, VKG_ERR_ARG, "unknown flags 0x%x", flags), VKG_NONE;
  if (res != VKG_NONE) {
    const struct vkg_gtensor *tr = vkg__t(g, res);
    char s1[96];
    if (tr->dtype != VKG_F32 || vkg__numel(tr->shape, tr->ndim) != (size_t)mnk[0] * mnk[1])
      return vkg__bad(g, VKG_ERR_SHAPE, "residual %s must hold M x N = %u x %u f32 values",
                      vkg__shape_str(tr->shape, tr->ndim, s1, sizeof s1), mnk[0], mnk[1]),
             VKG_NONE;
  }
  int shape[2] = {(int)mnk[0], (int)mnk[1]};
  vkg_t out = vkg__new(g, VKG_F32, 2, shape);
  if (out < 0) return VKG_NONE;
  struct matmul_rows_pc pc = {
      mnk[0],          mnk[1], mnk[2], mnk[3], mnk[4], bias != VKG_NONE, (flags & VKG_ROWS_GELU_TANH) != 0,
      res != VKG_NONE, eps};
  uint32_t spec[5], gx, gy;
  rows_launch(g, mnk, spec, &gx, &gy);
  /* An absent bias or residual binds a in its place; the shader never reads it. */
  vkg_t bind[7] = {a, b, bias != VKG_NONE ? bias : a, res != VKG_NONE ? res : a, out, gamma, beta};
  if (vkg__dispatch(g, ln ? "matmul_rows_ln" : "matmul_rows", spec, 5, ln ? 7 : 5, bind, 1u << 4, &pc, sizeof pc, gx,
                    gy, 1))
    return VKG_NONE;
  vkg_t in[6] = {a, b, bias, res, gamma, beta};
  vkg__node_io(g, ln ? 6 : 4, in, 1, &out, NULL, 0, NULL);
  return out;
}

vkg_t vkg_matmul_rows_fused(vkg_graph *g, vkg_t a, vkg_t b, vkg_t bias, vkg_t res, unsigned flags) {
  return rows_fused(g, a, VKG_NONE, VKG_NONE, 0, b, bias, res, flags);
}

vkg_t vkg_layernorm_matmul_rows(vkg_graph *g, vkg_t x, vkg_t gamma, vkg_t beta, float eps, vkg_t b, vkg_t bias,
                                vkg_t res, unsigned flags) {
  if (gamma == VKG_NONE || beta == VKG_NONE)
    return vkg__bad(g, VKG_ERR_ARG, "layernorm_matmul_rows needs gamma and beta"), VKG_NONE;
  return rows_fused(g, x, gamma, beta, eps, b, bias, res, flags);
}

vkg_t vkg_matmul_rows(vkg_graph *g, vkg_t a, vkg_t b, vkg_t bias, unsigned flags) {
  return vkg_matmul_rows_fused(g, a, b, bias, VKG_NONE, flags & (VKG_TRANS_A | VKG_TRANS_B));
}

vkg_t vkg_qkv_cached(vkg_graph *g, vkg_t x, vkg_t w, vkg_t bias, vkg_t kc, vkg_t vc, int pos_slot, int offset,
                     unsigned flags) {
  vkg_t ids[5] = {x, w, kc, vc, bias};
  if (vkg__check(g, bias != VKG_NONE ? 5 : 4, ids)) return VKG_NONE;
  vkg__begin(g, "qkv_cached");
  uint32_t mnk[5];
  if (rows_check(g, x, w, bias, flags, mnk)) return VKG_NONE;
  const struct vkg_gtensor *tk = vkg__t(g, kc), *tv = vkg__t(g, vc);
  char s1[96], s2[96];
  vkg__shape_str(tk->shape, tk->ndim, s1, sizeof s1);
  vkg__shape_str(tv->shape, tv->ndim, s2, sizeof s2);
  uint32_t M = mnk[0], N = mnk[1];
  if (tk->ndim != 4 || tv->ndim != 4 || memcmp(tk->shape, tv->shape, sizeof(int) * 4) || tk->dtype != VKG_F32 ||
      tv->dtype != VKG_F32 || (uint32_t)tk->shape[0] != M || N % 3 ||
      (uint32_t)tk->shape[1] * (uint32_t)tk->shape[3] != N / 3)
    return vkg__bad(g, VKG_ERR_SHAPE,
                    "caches k %s and v %s do not fit %u rows of %u = 3C columns: want f32 (M, NH, Tmax, C / NH) each",
                    s1, s2, M, N),
           VKG_NONE;
  for (int i = 0; i < 2; i++) {
    const struct vkg_gtensor *root = vkg__t(g, vkg__root(g, i ? vc : kc));
    if (root->kind != VKG_KIND_BOUND && root->kind != VKG_KIND_INPUT)
      return vkg__bad(g, VKG_ERR_ARG, "it writes in place: the caches must be inputs or bound tensors"), VKG_NONE;
  }
  int NH = tk->shape[1], D = tk->shape[3];
  struct qkv_rows_pc pc = {
      M, N,     mnk[2], mnk[3], mnk[4], bias != VKG_NONE, N / 3, (uint32_t)NH, (uint32_t)D, (uint32_t)tk->shape[2],
      0, offset};
  if (slot_arg(g, pos_slot, "position", &pc.pos_slot)) return VKG_NONE;
  int qshape[4] = {(int)M, NH, 1, D};
  vkg_t sc = vkg__scalars(g);
  vkg_t q = vkg__new(g, VKG_F32, 4, qshape);
  if (sc < 0 || q < 0) return VKG_NONE;
  uint32_t spec[5], gx, gy;
  rows_launch(g, mnk, spec, &gx, &gy);
  vkg_t bind[7] = {x, w, bias != VKG_NONE ? bias : x, sc, q, kc, vc};
  if (vkg__dispatch(g, "qkv_rows", spec, 5, 7, bind, 7u << 4, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg_t in[5] = {x, w, bias, kc, vc};
  vkg__node_io(g, 5, in, 1, &q, NULL, 0, NULL);
  return q;
}
