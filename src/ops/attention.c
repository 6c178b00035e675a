/* Scaled dot-product attention, forward and backward. Shape letters: B batch, NH heads, Tq queries, Tk keys,
 * D head size of q and k, Dv head size of v.
 * Causal with Tq > Tk is a shape error: the first queries would stand before every key.
 *
 * The node (vkg__node_io) keeps out[1] = lse (B, NH, Tq), the log of each query row's softmax
 * denominator, so the backward rebuilds the probabilities as exp(score - lse) without a second pass
 * over the keys; attrs hold struct attention_attrs. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

struct attention_pc {
  uint32_t NH, Tq, Tk, D, Dv, ndvb;
  float scale;
  uint32_t causal;
};
_Static_assert(sizeof(struct attention_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct attention_attrs {
  float scale; /* resolved: never <= 0 */
  int causal;
  int materialized; /* 1: out[2] holds P (B, NH, Tq, Tk) and the backward takes the materialized path */
};

/* ---- the materialized path (CPU devices) ----
 * The fused kernels keep tiles of q, k and the scores in shared memory with barriers between
 * steps, which lavapipe runs as coroutine switches: there, for short sequences, the plain sequence
 * S = q k^T (the register-blocked matmul), P = softmax(scale * S) (attention_probs.comp), O = P v
 * is several times faster, at the price of the (B, NH, Tq, Tk) scores in memory, bounded by
 * MATERIALIZED_MAX_BYTES. The backward is likewise matmuls around attention_dscores.comp. GPUs (and
 * VKGEN_KERNELS=gpu) take the fused path; VKGEN_KERNELS=cpu gives the materialized one anywhere. */
#define MATERIALIZED_MAX_BYTES (64u << 20)

static int use_materialized(const vkg_ctx *ctx, int B, int NH, int Tq, int Tk) {
  /* attention_probs makes three passes over a row of Tk (lavapipe ends loops at 65535 iterations) */
  return !vkg__gpu_kernels(ctx) && (uint64_t)B * NH * Tq * Tk * 4 <= MATERIALIZED_MAX_BYTES && Tk < 19000 &&
         B * NH <= 65535;
}

struct attention_probs_pc {
  uint32_t rows, Tq, Tk;
  float scale;
  uint32_t causal;
};
_Static_assert(sizeof(struct attention_probs_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct attention_dscores_pc {
  uint32_t rows, Tk;
  float scale;
};
_Static_assert(sizeof(struct attention_dscores_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* One invocation per query row, 64 per workgroup. */
static int row_dispatch(vkg_graph *g, const char *shader, uint32_t rows, uint32_t Tk, int nbind, const vkg_t *bind,
                        unsigned writes, const void *pc, uint32_t pc_size) {
  uint32_t spec[4] = {64, 1, 1, Tk % 4 == 0}, gx, gy;
  vkg__grid1d(rows, 64, &gx, &gy);
  return vkg__dispatch(g, shader, spec, 4, nbind, bind, writes, pc, pc_size, gx, gy, 1);
}

/* Records S = q k^T, P and lse, O = P v into out and lse; returns P (B, NH, Tq, Tk), or VKG_NONE. */
static vkg_t materialized_forward(vkg_graph *g, vkg_t q, vkg_t k, vkg_t v, vkg_t out, vkg_t lse, int B, int NH, int Tq,
                                  int Tk, int D, int Dv, float scale, int causal) {
  uint32_t bh = (uint32_t)(B * NH), rows = bh * (uint32_t)Tq;
  int sshape[4] = {B, NH, Tq, Tk};
  vkg_t S = vkg__new(g, VKG_F32, 4, sshape), P = vkg__new(g, VKG_F32, 4, sshape);
  if (S < 0 || P < 0) return VKG_NONE;
  if (vkg__matmul_record(g, q, k, VKG_NONE, S, VKG_TRANS_B, bh, 1, 1, (uint32_t)Tq, (uint32_t)Tk, (uint32_t)D))
    return VKG_NONE;
  struct attention_probs_pc pc = {rows, (uint32_t)Tq, (uint32_t)Tk, scale, causal != 0};
  vkg_t bind[3] = {S, P, lse};
  if (row_dispatch(g, "attention_probs", rows, (uint32_t)Tk, 3, bind, (1u << 1) | (1u << 2), &pc, sizeof pc))
    return VKG_NONE;
  if (vkg__matmul_record(g, P, v, VKG_NONE, out, 0, bh, 1, 1, (uint32_t)Tq, (uint32_t)Dv, (uint32_t)Tk))
    return VKG_NONE;
  return P;
}

/* dv = P^T dO, dP = dO v^T, dS = scale * P * (dP - rowsum(P * dP)), dq = dS k, dk = dS^T q. */
static void materialized_backward(vkg_graph *g, const struct vkg_node *n, const struct attention_attrs *a,
                                  const vkg_t *gout, vkg_t *gin) {
  vkg_t q = n->in[0], k = n->in[1], v = n->in[2], P = n->out[2], dO = gout[0];
  int want_q = vkg__wants_grad(g, q), want_k = vkg__wants_grad(g, k), want_v = vkg__wants_grad(g, v);
  const struct vkg_gtensor *tq = vkg__t(g, q), *tk = vkg__t(g, k), *tv = vkg__t(g, v);
  int B = tq->shape[0], NH = tq->shape[1], Tq = tq->shape[2], D = tq->shape[3], Tk = tk->shape[2], Dv = tv->shape[3];
  uint32_t bh = (uint32_t)(B * NH), rows = bh * (uint32_t)Tq;
  if (want_v) {
    int vshape[4] = {B, NH, Tk, Dv};
    vkg_t dv = vkg__new(g, VKG_F32, 4, vshape);
    if (dv < 0 ||
        vkg__matmul_record(g, P, dO, VKG_NONE, dv, VKG_TRANS_A, bh, 1, 1, (uint32_t)Tk, (uint32_t)Dv, (uint32_t)Tq))
      return;
    gin[2] = dv;
  }
  if (!want_q && !want_k) return;
  int sshape[4] = {B, NH, Tq, Tk};
  vkg_t dP = vkg__new(g, VKG_F32, 4, sshape), dS = vkg__new(g, VKG_F32, 4, sshape);
  if (dP < 0 || dS < 0) return;
  if (vkg__matmul_record(g, dO, v, VKG_NONE, dP, VKG_TRANS_B, bh, 1, 1, (uint32_t)Tq, (uint32_t)Tk, (uint32_t)Dv))
    return;
  struct attention_dscores_pc pc = {rows, (uint32_t)Tk, a->scale};
  vkg_t bind[3] = {P, dP, dS};
  if (row_dispatch(g, "attention_dscores", rows, (uint32_t)Tk, 3, bind, 1u << 2, &pc, sizeof pc)) return;
  if (want_q) {
    int qshape[4] = {B, NH, Tq, D};
    vkg_t dq = vkg__new(g, VKG_F32, 4, qshape);
    if (dq < 0 || vkg__matmul_record(g, dS, k, VKG_NONE, dq, 0, bh, 1, 1, (uint32_t)Tq, (uint32_t)D, (uint32_t)Tk))
      return;
    gin[0] = dq;
  }
  if (want_k) {
    int kshape[4] = {B, NH, Tk, D};
    vkg_t dk = vkg__new(g, VKG_F32, 4, kshape);
    if (dk < 0 ||
        vkg__matmul_record(g, dS, q, VKG_NONE, dk, VKG_TRANS_A, bh, 1, 1, (uint32_t)Tk, (uint32_t)D, (uint32_t)Tq))
      return;
    gin[1] = dk;
  }
}

/* The shader's tiles: 8 x 8 invocations, each with a 4 x 4 block of scores, give 32 query rows by
 * 32 keys per chunk. */
#define ATT_WX 8u
#define ATT_WY 8u
#define ATT_BQ (ATT_WY * 4u)
#define ATT_BK (ATT_WX * 4u)

/* Shared memory of attention_fwd for head dims staged dk at a time and dvb output columns. */
static uint32_t shared_bytes(uint32_t dk, uint32_t dvb) {
  return 4u * (dk * ATT_BQ + dk * ATT_BK + ATT_BQ * (ATT_BK + 1) + ATT_BK * dvb + 2 * ATT_BQ);
}

struct attention_bwd_pc {
  uint32_t NH, Tq, Tk, D, Dv, ncb;
  float scale;
  uint32_t causal, want_ds;
};
_Static_assert(sizeof(struct attention_bwd_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Shared memory of attention_bwd_kv (kv = 1) and attention_bwd_q for head dims staged dk at a time
 * and cb output columns per workgroup. */
static uint32_t bwd_shared_bytes(int kv, uint32_t dk, uint32_t cb) {
  uint32_t tiles = dk * ATT_BQ + dk * ATT_BK + ATT_BQ * (ATT_BK + 1);
  return 4u * (kv ? tiles + ATT_BQ * (ATT_BK + 1) + 2 * ATT_BQ * cb : tiles + ATT_BK * cb);
}

/* Launches one of the backward shaders with bind[0..5] = q, k, v, dO, lse, Dsum and its outputs
 * after them; rows is Tk (dk, dv) or Tq (dq) and width the widest output's head size. */
static int bwd_dispatch(vkg_graph *g, int kv, const vkg_t *bind, struct attention_bwd_pc pc, uint32_t rows,
                        uint32_t width, uint32_t B) {
  const VkPhysicalDeviceLimits *lim = &g->ctx->props.limits;
  uint32_t cb = width <= 32 ? 32 : 64, dk = 32;
  while (bwd_shared_bytes(kv, dk, cb) > lim->maxComputeSharedMemorySize && (dk > 8 || cb > 32)) {
    if (dk > 16 || cb == 32)
      dk /= 2;
    else
      cb = 32;
  }
  if (bwd_shared_bytes(kv, dk, cb) > lim->maxComputeSharedMemorySize) {
    vkg__bad(g, VKG_ERR_UNSUPPORTED, "attention backward needs %u bytes of shared memory; device '%s' has %u",
             bwd_shared_bytes(kv, dk, cb), g->ctx->info.name, lim->maxComputeSharedMemorySize);
    return 1;
  }
  pc.ncb = vkg__ceil_div((uint64_t)width, cb);
  /* 32 x 32 tiles of 8 x 8 invocations with 4 x 4 blocks. 4 x 4 invocations with 8 x 8 blocks (the
   * same tiles) measured no faster on lavapipe. */
  uint32_t gx = vkg__ceil_div((uint64_t)rows, kv ? ATT_BK : ATT_BQ) * pc.ncb;
  uint32_t spec[7] = {ATT_WX, ATT_WY, 1, dk, cb, ATT_BQ / ATT_WY, ATT_BK / ATT_WX};
  return vkg__dispatch(g, kv ? "attention_bwd_kv" : "attention_bwd_q", spec, 7, kv ? 8 : 7, bind,
                       kv ? (1u << 6) | (1u << 7) : 1u << 6, &pc, sizeof pc, gx, pc.NH, B);
}

/* ---- backward ----
 * With S = q k^T, P = softmax(scale * S) (masked) and O = P v:
 *   dv = P^T dO,  dP = dO v^T,  dS = P * (dP - rowsum(dO * O)) * scale,  dq = dS k,  dk = dS^T q.
 * Flash-style: no (Tq, Tk) tensor is made. attention_bwd_kv walks the query blocks for each block of
 * keys, rebuilding P (from the saved lse) and dS tile by tile, and accumulates dk and dv;
 * attention_bwd_q walks the key blocks for each block of queries, rebuilding dS again, and
 * accumulates dq. Every output element has one writer, so no atomics are needed; the price is that
 * the scores are computed twice when dq is wanted. Memory: O((Tq + Tk) * (D + Dv)) per head. */
static void attention_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  struct attention_attrs a;
  memcpy(&a, n->attrs, sizeof a);
  if (a.materialized) {
    vkg__begin(g, "attention backward");
    materialized_backward(g, n, &a, gout, gin);
    return;
  }
  vkg_t q = n->in[0], k = n->in[1], v = n->in[2], o = n->out[0], lse = n->out[1], dO = gout[0];
  int want_q = vkg__wants_grad(g, q), want_k = vkg__wants_grad(g, k), want_v = vkg__wants_grad(g, v);
  int want_ds = want_q || want_k;
  vkg__begin(g, "attention backward");
  const struct vkg_gtensor *tq = vkg__t(g, q), *tk = vkg__t(g, k), *tv = vkg__t(g, v);
  int B = tq->shape[0], NH = tq->shape[1], Tq = tq->shape[2], D = tq->shape[3], Tk = tk->shape[2], Dv = tv->shape[3];
  vkg_t dsum = lse; /* stands in when dS is not needed (the shader then does not read it) */
  if (want_ds) dsum = vkg_reduce(g, VKG_REDUCE_SUM, vkg_binary(g, VKG_MUL, dO, o), -1, 0); /* (B, NH, Tq) */
  vkg__begin(g, "attention backward");
  if (dsum < 0) return;
  struct attention_bwd_pc pc = {(uint32_t)NH, (uint32_t)Tq,       (uint32_t)Tk,     (uint32_t)D, (uint32_t)Dv, 0,
                                a.scale,      (uint32_t)a.causal, (uint32_t)want_ds};
  if (want_k || want_v) {
    int kshape[4] = {B, NH, Tk, D}, vshape[4] = {B, NH, Tk, Dv};
    vkg_t dk = vkg__new(g, VKG_F32, 4, kshape), dv = vkg__new(g, VKG_F32, 4, vshape);
    vkg_t bind[8] = {q, k, v, dO, lse, dsum, dk, dv};
    if (dk < 0 || dv < 0 || bwd_dispatch(g, 1, bind, pc, (uint32_t)Tk, (uint32_t)(D > Dv ? D : Dv), (uint32_t)B))
      return;
    if (want_k) gin[1] = dk;
    if (want_v) gin[2] = dv;
  }
  if (want_q) {
    int qshape[4] = {B, NH, Tq, D};
    vkg_t dq = vkg__new(g, VKG_F32, 4, qshape);
    vkg_t bind[7] = {q, k, v, dO, lse, dsum, dq};
    if (dq < 0 || bwd_dispatch(g, 0, bind, pc, (uint32_t)Tq, (uint32_t)D, (uint32_t)B)) return;
    gin[0] = dq;
  }
}

vkg_t vkg_attention(vkg_graph *g, vkg_t q, vkg_t k, vkg_t v, float scale, int causal) {
  vkg_t ids[3] = {q, k, v};
  if (vkg__check(g, 3, ids)) return VKG_NONE;
  vkg__begin(g, "attention");
  const struct vkg_gtensor *tq = vkg__t(g, q), *tk = vkg__t(g, k), *tv = vkg__t(g, v);
  char s1[96], s2[96], s3[96];
  if (tq->dtype != VKG_F32 || tk->dtype != VKG_F32 || tv->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "q, k, v must be f32 (got %s, %s, %s); use vkg_cast", vkg_dtype_str(tq->dtype),
                    vkg_dtype_str(tk->dtype), vkg_dtype_str(tv->dtype)),
           VKG_NONE;
  vkg__shape_str(tq->shape, tq->ndim, s1, sizeof s1);
  vkg__shape_str(tk->shape, tk->ndim, s2, sizeof s2);
  vkg__shape_str(tv->shape, tv->ndim, s3, sizeof s3);
  if (tq->ndim != 4 || tk->ndim != 4 || tv->ndim != 4)
    return vkg__bad(g, VKG_ERR_SHAPE, "q %s, k %s, v %s must be 4-D: (B, NH, T, D)", s1, s2, s3), VKG_NONE;
  int B = tq->shape[0], NH = tq->shape[1], Tq = tq->shape[2], D = tq->shape[3];
  int Tk = tk->shape[2], Dv = tv->shape[3];
  if (tk->shape[0] != B || tv->shape[0] != B || tk->shape[1] != NH || tv->shape[1] != NH || tk->shape[3] != D ||
      tv->shape[2] != Tk)
    return vkg__bad(g, VKG_ERR_SHAPE,
                    "q %s, k %s, v %s do not fit: want q (B, NH, Tq, D), k (B, NH, Tk, D), v (B, NH, Tk, Dv)", s1, s2,
                    s3),
           VKG_NONE;
  if (causal && Tq > Tk)
    return vkg__bad(g, VKG_ERR_SHAPE,
                    "causal attention with more queries (Tq = %d) than keys (Tk = %d): query i stands at position "
                    "Tk - Tq + i, so the first rows would see no key",
                    Tq, Tk),
           VKG_NONE;

  float sc = scale > 0.0f ? scale : (float)(1.0 / sqrt((double)D));
  int oshape[4] = {B, NH, Tq, Dv}, lshape[3] = {B, NH, Tq};
  if (use_materialized(g->ctx, B, NH, Tq, Tk)) {
    vkg_t out = vkg__new(g, VKG_F32, 4, oshape), lse = vkg__new(g, VKG_F32, 3, lshape);
    if (out < 0 || lse < 0) return VKG_NONE;
    vkg_t P = materialized_forward(g, q, k, v, out, lse, B, NH, Tq, Tk, D, Dv, sc, causal);
    if (P == VKG_NONE) return VKG_NONE;
    struct attention_attrs attrs = {sc, causal != 0, 1};
    vkg_t outs[3] = {out, lse, P};
    vkg__node_io(g, 3, ids, 3, outs, &attrs, sizeof attrs, attention_backward);
    return out;
  }

  /* Output columns per workgroup: 64 (32 for narrow heads), and the head dims staged per step: 32;
   * both shrink to fit the device's shared memory. Heads wider than the column block are split
   * over several workgroups, each recomputing the scores. */
  const VkPhysicalDeviceLimits *lim = &g->ctx->props.limits;
  uint32_t dvb = Dv <= 32 ? 32 : 64, dk = 32;
  if (shared_bytes(dk, dvb) > lim->maxComputeSharedMemorySize) dvb = 32;
  if (shared_bytes(dk, dvb) > lim->maxComputeSharedMemorySize) dk = 16;
  if (shared_bytes(dk, dvb) > lim->maxComputeSharedMemorySize)
    return vkg__bad(g, VKG_ERR_UNSUPPORTED, "attention needs %u bytes of shared memory; device '%s' has %u",
                    shared_bytes(dk, dvb), g->ctx->info.name, lim->maxComputeSharedMemorySize),
           VKG_NONE;
  uint32_t ndvb = vkg__ceil_div((uint64_t)Dv, dvb), gx = vkg__ceil_div((uint64_t)Tq, ATT_BQ) * ndvb;

  vkg_t out = vkg__new(g, VKG_F32, 4, oshape);
  vkg_t lse = vkg__new(g, VKG_F32, 3, lshape);
  if (out < 0 || lse < 0) return VKG_NONE;
  struct attention_pc pc = {(uint32_t)NH, (uint32_t)Tq, (uint32_t)Tk, (uint32_t)D,
                            (uint32_t)Dv, ndvb,         0.0f,         causal != 0};
  pc.scale = sc;
  uint32_t spec[5] = {ATT_WX, ATT_WY, 1, dk, dvb};
  vkg_t bind[5] = {q, k, v, out, lse};
  if (vkg__dispatch(g, "attention_fwd", spec, 5, 5, bind, (1u << 3) | (1u << 4), &pc, sizeof pc, gx, (uint32_t)NH,
                    (uint32_t)B))
    return VKG_NONE;
  struct attention_attrs attrs = {pc.scale, causal != 0, 0};
  vkg_t outs[2] = {out, lse};
  vkg__node_io(g, 3, ids, 2, outs, &attrs, sizeof attrs, attention_backward);
  return out;
}
