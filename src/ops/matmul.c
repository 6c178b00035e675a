/* Batched matmul with optional transposes and bias. Shape letters: M rows, N columns, K the shared dim. */
#include <string.h>

#include "internal.h"

struct matmul_pc {
  uint32_t M, N, K;
  uint32_t a_sm, a_sk, a_sb;
  uint32_t b_sk, b_sn, b_sb;
  uint32_t has_bias;
};
_Static_assert(sizeof(struct matmul_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Two kernels, chosen per device (vkg__gpu_kernels):
 * - GPUs: matmul.comp, shared-memory tiles of BM x BN = (16 TM) x (16 TN) and depth TK, 16 x 16
 *   invocations each holding a TM x TN register block. 8 x 8 blocks (128 x 128 tiles, 8 KiB of shared
 *   memory at TK 8) where the device allows 256 invocations and the shared memory, else 4 x 4.
 * - CPU devices (lavapipe): matmul_reg.comp, register blocks of TM x TN = 8 x 8 per invocation with
 *   vec4 loads, no shared memory (see the shader for why). */
static void gpu_tiles(const vkg_ctx *ctx, uint32_t spec[6]) {
  spec[0] = 16, spec[1] = 16, spec[2] = 1; /* workgroup */
  spec[3] = 8, spec[4] = 8, spec[5] = 8;   /* TM, TN, TK */
  if (ctx->info.shared_memory < 2 * 8 * 128 * 4) spec[3] = spec[4] = 4, spec[5] = 16;
  if (ctx->info.shared_memory < 2 * 16 * 64 * 4) spec[5] = 8;
}

/* The CPU kernel's vec4 modes for each operand (see matmul_reg.comp): vec4 loads need the contiguous
 * axis to be a multiple of 4 long, so that every vec4 starts on a multiple of 4. */
static void cpu_spec(const struct matmul_pc *pc, uint32_t spec[7]) {
  spec[0] = 8, spec[1] = 2, spec[2] = 1; /* one SIMD pass of 8 lanes per row of the workgroup */
  spec[3] = 8, spec[4] = 8;              /* TM, TN */
  spec[5] = pc->a_sk == 1 && pc->K % 4 == 0 ? 1 : pc->a_sm == 1 && pc->M % 4 == 0 ? 2 : 0;
  spec[6] = pc->b_sn == 1 && pc->N % 4 == 0 ? 1 : pc->b_sk == 1 && pc->K % 4 == 0 ? 2 : 0;
}

/* ---- backward ----
 * With opA = A or A^T and opB = B or B^T (as the flags say), C = opA opB gives
 *   d opA = dC opB^T,  d opB = opA^T dC,
 * each written as one matmul with transpose flags so that no transposed copy is made. An operand that
 * was repeated across the batch gets the sum of its per-batch gradients. */
static vkg_t unbatch(vkg_graph *g, vkg_t grad, vkg_t operand) {
  const struct vkg_gtensor *to = vkg__t(g, operand), *tg = vkg__t(g, grad);
  int shape[VKG_MAX_DIMS], nd = to->ndim;
  memcpy(shape, to->shape, sizeof shape);
  if (vkg__numel(tg->shape, tg->ndim) == vkg__numel(to->shape, to->ndim)) /* nothing was repeated */
    return vkg_reshape(g, grad, nd, shape);
  int three[3] = {(int)(vkg__numel(tg->shape, tg->ndim - 2)), tg->shape[tg->ndim - 2], tg->shape[tg->ndim - 1]};
  vkg_t r = vkg_reduce(g, VKG_REDUCE_SUM, vkg_reshape(g, grad, 3, three), 0, 0);
  return vkg_reshape(g, r, nd, shape);
}

static void matmul_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  unsigned flags;
  memcpy(&flags, n->attrs, sizeof flags);
  int ta = (flags & VKG_TRANS_A) != 0, tb = (flags & VKG_TRANS_B) != 0;
  vkg_t a = n->in[0], b = n->in[1], dc = gout[0];
  if (vkg__wants_grad(g, a)) {
    vkg_t da = ta ? vkg_matmul(g, b, dc, VKG_NONE, (tb ? VKG_TRANS_A : 0) | VKG_TRANS_B)
                  : vkg_matmul(g, dc, b, VKG_NONE, tb ? 0 : VKG_TRANS_B);
    gin[0] = unbatch(g, da, a);
  }
  if (vkg__wants_grad(g, b)) {
    vkg_t db = tb ? vkg_matmul(g, dc, a, VKG_NONE, VKG_TRANS_A | (ta ? VKG_TRANS_B : 0))
                  : vkg_matmul(g, a, dc, VKG_NONE, ta ? 0 : VKG_TRANS_A);
    gin[1] = unbatch(g, db, b);
  }
  if (n->in[2] != VKG_NONE && vkg__wants_grad(g, n->in[2])) {
    const struct vkg_gtensor *tc = vkg__t(g, dc), *tbias = vkg__t(g, n->in[2]);
    int N = tc->shape[tc->ndim - 1], rows[2] = {(int)(vkg__numel(tc->shape, tc->ndim) / (size_t)N), N};
    int bshape[VKG_MAX_DIMS], bnd = tbias->ndim;
    memcpy(bshape, tbias->shape, sizeof bshape);
    gin[2] = vkg_reshape(g, vkg_reduce(g, VKG_REDUCE_SUM, vkg_reshape(g, dc, 2, rows), 0, 0), bnd, bshape);
  }
}

vkg_t vkg_matmul(vkg_graph *g, vkg_t a, vkg_t b, vkg_t bias, unsigned flags) {
  vkg_t ids[3] = {a, b, bias};
  if (vkg__check(g, bias == VKG_NONE ? 2 : 3, ids)) return VKG_NONE;
  vkg__begin(g, "matmul");
  const struct vkg_gtensor *ta = vkg__t(g, a), *tb = vkg__t(g, b);
  char s1[96], s2[96];
  if (ta->dtype != VKG_F32 || tb->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "operands must be f32; use vkg_cast"), VKG_NONE;
  if (ta->ndim < 2 || tb->ndim < 2)
    return vkg__bad(g, VKG_ERR_SHAPE, "operands need at least 2 dims, got %s and %s",
                    vkg__shape_str(ta->shape, ta->ndim, s1, sizeof s1),
                    vkg__shape_str(tb->shape, tb->ndim, s2, sizeof s2)),
           VKG_NONE;
  int ta_ = (flags & VKG_TRANS_A) != 0, tb_ = (flags & VKG_TRANS_B) != 0;
  int M = ta->shape[ta->ndim - 2 + ta_], Ka = ta->shape[ta->ndim - 1 - ta_];
  int Kb = tb->shape[tb->ndim - 2 + tb_], N = tb->shape[tb->ndim - 1 - tb_];
  if (Ka != Kb)
    return vkg__bad(g, VKG_ERR_SHAPE, "a %s%s times b %s%s: inner dims %d and %d differ",
                    vkg__shape_str(ta->shape, ta->ndim, s1, sizeof s1), ta_ ? "^T" : "",
                    vkg__shape_str(tb->shape, tb->ndim, s2, sizeof s2), tb_ ? "^T" : "", Ka, Kb),
           VKG_NONE;
  /* Batch dims: each operand's must equal the result's, or be absent / all 1 (then it repeats). */
  int nba = ta->ndim - 2, nbb = tb->ndim - 2;
  size_t batch_a = vkg__numel(ta->shape, nba), batch_b = vkg__numel(tb->shape, nbb);
  const struct vkg_gtensor *big = batch_a >= batch_b ? ta : tb;
  int nb = big->ndim - 2;
  size_t batch = batch_a > batch_b ? batch_a : batch_b;
  int ok_a = batch_a == 1 || (nba == nb && memcmp(ta->shape, big->shape, sizeof(int) * (size_t)nb) == 0);
  int ok_b = batch_b == 1 || (nbb == nb && memcmp(tb->shape, big->shape, sizeof(int) * (size_t)nb) == 0);
  if (!ok_a || !ok_b)
    return vkg__bad(g, VKG_ERR_SHAPE, "batch dims of %s and %s differ (each must match or be 1)",
                    vkg__shape_str(ta->shape, ta->ndim, s1, sizeof s1),
                    vkg__shape_str(tb->shape, tb->ndim, s2, sizeof s2)),
           VKG_NONE;
  if (batch > 65535) return vkg__bad(g, VKG_ERR_SHAPE, "batch of %zu matrices is over 65535", batch), VKG_NONE;
  if (bias != VKG_NONE) {
    const struct vkg_gtensor *tc = vkg__t(g, bias);
    if (vkg__numel(tc->shape, tc->ndim) != (size_t)N || tc->dtype != VKG_F32)
      return vkg__bad(g, VKG_ERR_SHAPE, "bias %s must hold N = %d f32 values",
                      vkg__shape_str(tc->shape, tc->ndim, s1, sizeof s1), N),
             VKG_NONE;
  }
  int shape[VKG_MAX_DIMS];
  memcpy(shape, big->shape, sizeof(int) * (size_t)nb);
  shape[nb] = M;
  shape[nb + 1] = N;
  vkg_t out = vkg__new(g, VKG_F32, nb + 2, shape);
  if (out < 0) return VKG_NONE;

  if (vkg__matmul_record(g, a, b, bias, out, flags, (uint32_t)batch, batch_a > 1, batch_b > 1, (uint32_t)M, (uint32_t)N,
                         (uint32_t)Ka))
    return VKG_NONE;
  vkg_t in[3] = {a, b, bias};
  vkg__node_io(g, 3, in, 1, &out, &flags, sizeof flags, matmul_backward);
  return out;
}

int vkg__matmul_record(vkg_graph *g, vkg_t a, vkg_t b, vkg_t bias, vkg_t out, unsigned flags, uint32_t batch,
                       int a_batched, int b_batched, uint32_t M, uint32_t N, uint32_t Ka) {
  int ta_ = (flags & VKG_TRANS_A) != 0, tb_ = (flags & VKG_TRANS_B) != 0;
  struct matmul_pc pc = {.M = M, .N = N, .K = Ka, .has_bias = bias != VKG_NONE};
  /* A stored (M, K) row-major, or (K, M) when transposed. */
  pc.a_sm = ta_ ? 1 : Ka;
  pc.a_sk = ta_ ? M : 1;
  pc.a_sb = a_batched ? M * Ka : 0;
  pc.b_sk = tb_ ? 1 : N;
  pc.b_sn = tb_ ? Ka : 1;
  pc.b_sb = b_batched ? Ka * N : 0;
  uint32_t spec[7];
  /* The CPU kernel loops K/4 times per invocation; lavapipe ends loops after 65535 iterations. */
  int gpu = vkg__gpu_kernels(g->ctx) || Ka / 4 > 60000;
  if (gpu)
    gpu_tiles(g->ctx, spec);
  else
    cpu_spec(&pc, spec);
  uint32_t bm = spec[1] * spec[3], bn = spec[0] * spec[4];
  /* Without a bias, bind the output in its place; the shader never reads it. */
  vkg_t bind[4] = {a, b, bias != VKG_NONE ? bias : a, out};
  /* The CPU kernel takes row blocks along x (see the shader), the GPU kernel column blocks. */
  uint32_t gn = vkg__ceil_div((uint64_t)N, bn), gm = vkg__ceil_div((uint64_t)M, bm);
  return vkg__dispatch(g, gpu ? "matmul" : "matmul_reg", spec, gpu ? 6 : 7, 4, bind, 1u << 3, &pc, sizeof pc,
                       gpu ? gn : gm, gpu ? gm : gn, batch);
}
