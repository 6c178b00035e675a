/* Recurrent layers: the LSTM and GRU recurrences over a whole sequence, forward and backward through
 * time. Shape letters: T time, B batch, H hidden size, G gates (4 for the LSTM: i, f, g, o; 3 for the
 * GRU: r, z, n), GH = G * H.
 *
 * The caller projects the inputs of every step at once (gates_x = x W_ih^T + b_ih, one big matmul);
 * these ops run what cannot be batched over time. Each of lstm_fwd / gru_fwd / lstm_bwd / gru_bwd
 * loops over t inside one workgroup per batch row (shaders/rnn.glsl), or, on CPU devices, per block
 * of rows (the *_blk variants, shaders/rnn_blk.glsl; see struct rnn_plan). A sequence is split into
 * a few launches of consecutive steps only to keep each invocation's loop count below lavapipe's
 * silent limit of 65535 iterations; the state passes between launches through the output (forward)
 * or a carry tensor (backward). The backward's weight gradient is one matmul over all steps.
 *
 * The node (vkg__node_io) keeps, after the result out[0] = hs (T, B, H):
 *   LSTM: out[1] = cs (T, B, H), the cell states (a result too: vkg_lstm's c_seq), and
 *         out[2] = gates (T, B, 4H), the activations i, f, g, o;
 *   GRU:  out[1] = gates (T, B, 4H): r, z, n and an = W_hn h_{t-1} + b_hn.
 * Inputs are in[] = {gates_x, w_hh, b_hh, h0, c0} (VKG_NONE where absent; the GRU has no c0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct rnn_pc {
  uint32_t T, B, H, t0, t1;
  uint32_t f0, f1, f2; /* forward: has_bias, has_h0, has_c0; backward: has_dh, has_dc / has_h0, has_c0 */
};
_Static_assert(sizeof(struct rnn_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Loop iterations one invocation may run in a launch: lavapipe silently stops a shader's loops after
 * 65535 in all. The counts in plan() round up and this leaves a margin on top. */
#define MAX_ITERS 40000

/* Launch geometry shared by the forward and backward of one layer. Two kernel variants:
 *  - rows (lstm_fwd.comp ...): one workgroup per batch row, an invocation per hidden unit; what GPUs
 *    want;
 *  - blocks (lstm_fwd_blk.comp ...): a block of rows per workgroup, each weight load serving every
 *    row of the block; what CPU devices (lavapipe) want, where every memory load is a loop over the
 *    SIMD lanes (5 to 10 times faster there).
 * CPU devices get blocks, others rows; $VKGEN_RNN_KERNEL=rows|blocks overrides. The tests run both
 * on CPU devices and rows alone on GPUs, whose drivers may refuse the block kernels' private arrays. */
struct rnn_plan {
  int blk;               /* 1: the block kernels */
  uint32_t wg, hp, nbuf; /* workgroup size, H padded to a multiple of 4, shared buffers (backward) */
  uint32_t rb;           /* batch rows per workgroup (blocks) */
  uint32_t uw, cache;    /* units per invocation and whether their weights stay private (blocks) */
  uint32_t steps;        /* time steps per launch */
  uint32_t gx, gy;       /* workgroups: one per batch row or block */
  uint32_t spec[8];
  int nspec;
};

static int use_blocks(const vkg_ctx *ctx) {
  const char *k = getenv("VKGEN_RNN_KERNEL");
  if (k && !strcmp(k, "rows")) return 0;
  if (k && !strcmp(k, "blocks")) return 1;
  return !strcmp(ctx->info.type, "cpu");
}

/* Plans the launches; 0 and an error in g if the device cannot run this H. */
static int plan(vkg_graph *g, int T, int B, int H, int G, struct rnn_plan *p) {
  memset(p, 0, sizeof *p);
  p->blk = use_blocks(g->ctx);
  p->hp = (uint32_t)(H + 3) / 4 * 4;
  uint32_t shared = g->ctx->props.limits.maxComputeSharedMemorySize;
  /* The backward keeps the G gate gradients of a step (of every row of a block) in shared memory,
   * twice if it fits. */
  if ((uint64_t)G * p->hp * 4u > shared) {
    vkg__bad(g, VKG_ERR_UNSUPPORTED,
             "hidden size H = %d needs %u bytes of shared memory for the backward; device '%s' has %u (H up to %u "
             "fits)",
             H, G * p->hp * 4u, g->ctx->info.name, shared, shared / (4u * G) / 4u * 4u);
    return 0;
  }
  uint32_t units, per_step;
  if (!p->blk) {
    p->wg = vkg__wg_rows(g->ctx, (size_t)H);
    p->rb = 1;
    p->nbuf = 2u * G * p->hp * 4u <= shared ? 2 : 1;
    /* Per step, an invocation runs its units, each with a matrix-vector loop of hp / 4 iterations,
     * plus a few bookkeeping iterations. */
    units = vkg__ceil_div((uint64_t)H, p->wg);
    per_step = units * (p->hp / 4 + 2) + 2;
  } else {
    /* Few invocations (more only for wide layers, to keep each one's loops short), up to 8 rows
     * per block as shared memory and the private copy (G * rb * hp values) allow. */
    p->wg = 8;
    while (p->wg < 64 && p->wg * 16 < (uint32_t)H)
      p->wg *= 2;
    p->rb = B < 8 ? (uint32_t)B : 8;
    while (p->rb > 1 && (p->rb * G * p->hp * 4u > shared || p->rb * G * p->hp > 8192))
      p->rb--;
    p->nbuf = 2u * p->rb * G * p->hp * 4u <= shared ? 2 : 1;
    /* Per step (the backward's loops, the longer): per unit the rows twice and the matrix-vector
     * loop of hp / 4 iterations, and the copy of the shared vector. The loops over the rows of a
     * block inside the matrix-vector loop are unrolled by the driver (RB is a specialization
     * constant), so they are not counted; test_rnn checks launches near the limit. */
    units = vkg__ceil_div((uint64_t)H, p->wg);
    per_step = p->rb * G * p->hp / 4 + units * (p->hp / 4 + 2 * p->rb + 3) + 4;
    /* Private weights cost one load of every weight per launch instead of per step: worth it when
     * they fit (16384 values per invocation) and a launch still covers several steps. */
    uint32_t preload = units * G * (p->hp / 4 + 1) + units * (G + 1) + 2;
    p->uw = units;
    p->cache = (uint64_t)units * G * p->hp <= 16384 && preload + 2 * per_step <= MAX_ITERS && T > 1;
    if (p->cache)
      p->steps = (MAX_ITERS - preload) / per_step;
    else
      p->uw = 1;
  }
  if (!p->cache) p->steps = MAX_ITERS / per_step;
  if (p->steps < 1) p->steps = 1;
  if (p->steps > (uint32_t)T) p->steps = (uint32_t)T;
  vkg__grid1d(vkg__ceil_div((uint64_t)B, p->rb), 1, &p->gx, &p->gy);
  /* Specialization: workgroup size, hp, then (blocks) rb, uw, cache, then the backward's nbuf. */
  p->spec[0] = p->wg, p->spec[1] = p->spec[2] = 1, p->spec[3] = p->hp;
  p->nspec = 4;
  if (p->blk) p->spec[p->nspec++] = p->rb, p->spec[p->nspec++] = p->uw, p->spec[p->nspec++] = p->cache;
  p->spec[p->nspec] = p->nbuf; /* only the backward passes it (nspec + 1) */
  return 1;
}

/* The shader of a kernel for the plan's variant ("lstm_fwd" or "lstm_fwd_blk"). */
static const char *shader_name(const struct rnn_plan *p, const char *base, char *buf, size_t n) {
  snprintf(buf, n, "%s%s", base, p->blk ? "_blk" : "");
  return buf;
}

/* 1 if t is absent, else whether it is an f32 tensor of exactly the given shape. */
static int fits(const vkg_graph *g, vkg_t t, int ndim, const int *shape) {
  if (t == VKG_NONE) return 1;
  const struct vkg_gtensor *x = vkg__t(g, t);
  return x->dtype == VKG_F32 && x->ndim == ndim && memcmp(x->shape, shape, sizeof(int) * (size_t)ndim) == 0;
}

/* Checks the operands' shapes; fills T, B, H. Returns 0 after recording an error. */
static int check_shapes(vkg_graph *g, const char *op, int G, vkg_t gx, vkg_t w, vkg_t bias, vkg_t h0, vkg_t c0, int *T,
                        int *B, int *H) {
  const struct vkg_gtensor *tx = vkg__t(g, gx), *tw = vkg__t(g, w);
  char s1[96], s2[96], s3[96], s4[96], s5[96];
  vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1);
  vkg__shape_str(tw->shape, tw->ndim, s2, sizeof s2);
  snprintf(s3, sizeof s3, "none");
  snprintf(s4, sizeof s4, "none");
  snprintf(s5, sizeof s5, "none");
  if (bias != VKG_NONE) vkg__shape_str(vkg__t(g, bias)->shape, vkg__t(g, bias)->ndim, s3, sizeof s3);
  if (h0 != VKG_NONE) vkg__shape_str(vkg__t(g, h0)->shape, vkg__t(g, h0)->ndim, s4, sizeof s4);
  if (c0 != VKG_NONE) vkg__shape_str(vkg__t(g, c0)->shape, vkg__t(g, c0)->ndim, s5, sizeof s5);
  vkg_t all[5] = {gx, w, bias, h0, c0};
  for (int i = 0; i < 5; i++)
    if (all[i] != VKG_NONE && vkg__t(g, all[i])->dtype != VKG_F32)
      return vkg__bad(g, VKG_ERR_ARG, "%s operands must be f32 (operand %d is %s); use vkg_cast", op, i,
                      vkg_dtype_str(vkg__t(g, all[i])->dtype)),
             0;
  int ok = tx->ndim == 3 && tw->ndim == 2 && tx->shape[2] % G == 0 && tx->shape[2] > 0;
  int H_ = ok ? tx->shape[2] / G : 0, B_ = ok ? tx->shape[1] : 0;
  int wshape[2] = {G * H_, H_}, bshape[1] = {G * H_}, sshape[2] = {B_, H_};
  ok = ok && fits(g, w, 2, wshape) && fits(g, bias, 1, bshape) && fits(g, h0, 2, sshape) && fits(g, c0, 2, sshape);
  if (!ok)
    return vkg__bad(g, VKG_ERR_SHAPE,
                    "gates_x %s, w_hh %s, b_hh %s, h0 %s%s%s do not fit: want gates_x (T, B, %d*H), w_hh (%d*H, "
                    "H), b_hh (%d*H), h0 (B, H)%s",
                    s1, s2, s3, s4, G == 4 ? ", c0 " : "", G == 4 ? s5 : "", G, G, G, G == 4 ? ", c0 (B, H)" : ""),
           0;
  if ((uint64_t)vkg__numel(tx->shape, 3) / (uint64_t)G * 4u > UINT32_MAX)
    return vkg__bad(g, VKG_ERR_SHAPE, "gates_x %s is too large (over 2^32 saved values)", s1), 0;
  *T = tx->shape[0];
  *B = B_;
  *H = H_;
  return 1;
}

/* h_{t-1} for every t, (T, B, H): h0 (zeros when absent) followed by hs without its last step. */
static vkg_t previous_states(vkg_graph *g, vkg_t hs, vkg_t h0, int T, int B, int H) {
  int one[3] = {1, B, H};
  vkg_t first = h0 != VKG_NONE ? vkg_reshape(g, h0, 3, one) : vkg_full(g, 3, one, 0.0f);
  if (T == 1) return first;
  vkg_t parts[2] = {first, vkg_slice(g, hs, 0, 0, T - 1)};
  return vkg_concat(g, 2, parts, 0);
}

/* The gradients of w_hh and b_hh from the hidden-side gate gradients dgh (T, B, GH):
 * dW_hh = sum over t and b of dgh^T h_{t-1}, db_hh = sum of dgh. */
static void weight_grads(vkg_graph *g, const struct vkg_node *n, vkg_t dgh, int T, int B, int H, int G, vkg_t *gin) {
  vkg_t hs = n->out[0], w = n->in[1], bias = n->in[2], h0 = n->in[3];
  int rows[2] = {T * B, G * H}, hrows[2] = {T * B, H};
  vkg_t d2 = vkg_reshape(g, dgh, 2, rows);
  if (vkg__wants_grad(g, w))
    gin[1] = vkg_matmul(g, d2, vkg_reshape(g, previous_states(g, hs, h0, T, B, H), 2, hrows), VKG_NONE, VKG_TRANS_A);
  if (bias != VKG_NONE && vkg__wants_grad(g, bias)) gin[2] = vkg_reduce(g, VKG_REDUCE_SUM, d2, 0, 0);
}

// ---- LSTM ----

/* ---- backward ----
 * lstm_bwd walks the steps down (in launches of plan.steps, latest first), giving the gate gradients
 * dg (T, B, 4H), which are those of gates_x and, summed, of b_hh; and dh0, dc0 in the carry. */
static void lstm_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  vkg_t gx = n->in[0], w = n->in[1], h0 = n->in[3], c0 = n->in[4];
  vkg_t cs = n->out[1], gates = n->out[2], dhs = gout[0], dcs = gout[1];
  vkg__begin(g, "lstm backward");
  const struct vkg_gtensor *tx = vkg__t(g, gx);
  int T = tx->shape[0], B = tx->shape[1], H = tx->shape[2] / 4;
  struct rnn_plan p;
  if (!plan(g, T, B, H, 4, &p)) return;
  int gshape[3] = {T, B, 4 * H}, cshape[3] = {2, B, H};
  vkg_t dg = vkg__new(g, VKG_F32, 3, gshape), carry = vkg__new(g, VKG_F32, 3, cshape);
  if (dg < 0 || carry < 0) return;
  /* Absent operands are stood in for by read-only tensors the shader then does not read. */
  vkg_t bind[8] = {dhs != VKG_NONE ? dhs : gates,
                   dcs != VKG_NONE ? dcs : gates,
                   gates,
                   cs,
                   c0 != VKG_NONE ? c0 : gates,
                   w,
                   dg,
                   carry};
  char sh[32];
  shader_name(&p, "lstm_bwd", sh, sizeof sh);
  for (uint32_t t1 = (uint32_t)T; t1 > 0;) {
    uint32_t t0 = t1 > p.steps ? t1 - p.steps : 0;
    struct rnn_pc pc = {(uint32_t)T, (uint32_t)B,     (uint32_t)H,     t0,
                        t1,          dhs != VKG_NONE, dcs != VKG_NONE, c0 != VKG_NONE};
    if (vkg__dispatch(g, sh, p.spec, p.nspec + 1, 8, bind, (1u << 6) | (1u << 7), &pc, sizeof pc, p.gx, p.gy, 1))
      return;
    t1 = t0;
  }
  if (vkg__wants_grad(g, gx)) gin[0] = dg;
  int sshape[2] = {B, H};
  if (h0 != VKG_NONE && vkg__wants_grad(g, h0)) gin[3] = vkg_reshape(g, vkg_slice(g, carry, 0, 0, 1), 2, sshape);
  if (c0 != VKG_NONE && vkg__wants_grad(g, c0)) gin[4] = vkg_reshape(g, vkg_slice(g, carry, 0, 1, 2), 2, sshape);
  weight_grads(g, n, dg, T, B, H, 4, gin);
}

vkg_t vkg_lstm(vkg_graph *g, vkg_t gates_x, vkg_t w_hh, vkg_t b_hh, vkg_t h0, vkg_t c0, vkg_t *c_seq) {
  if (c_seq) *c_seq = VKG_NONE;
  vkg_t all[5] = {gates_x, w_hh, b_hh, h0, c0}, ids[5];
  int nid = 0;
  for (int i = 0; i < 5; i++)
    if (i < 2 || all[i] != VKG_NONE) ids[nid++] = all[i];
  if (vkg__check(g, nid, ids)) return VKG_NONE;
  vkg__begin(g, "lstm");
  int T, B, H;
  if (!check_shapes(g, "lstm", 4, gates_x, w_hh, b_hh, h0, c0, &T, &B, &H)) return VKG_NONE;
  struct rnn_plan p;
  if (!plan(g, T, B, H, 4, &p)) return VKG_NONE;
  int hshape[3] = {T, B, H}, gshape[3] = {T, B, 4 * H};
  vkg_t hs = vkg__new(g, VKG_F32, 3, hshape), cs = vkg__new(g, VKG_F32, 3, hshape);
  vkg_t gates = vkg__new(g, VKG_F32, 3, gshape);
  if (hs < 0 || cs < 0 || gates < 0) return VKG_NONE;
  vkg_t bind[8] = {gates_x,
                   w_hh,
                   b_hh != VKG_NONE ? b_hh : gates_x,
                   h0 != VKG_NONE ? h0 : gates_x,
                   c0 != VKG_NONE ? c0 : gates_x,
                   hs,
                   cs,
                   gates};
  char sh[32];
  shader_name(&p, "lstm_fwd", sh, sizeof sh);
  for (uint32_t t0 = 0; t0 < (uint32_t)T; t0 += p.steps) {
    uint32_t t1 = t0 + p.steps < (uint32_t)T ? t0 + p.steps : (uint32_t)T;
    struct rnn_pc pc = {(uint32_t)T, (uint32_t)B,      (uint32_t)H,    t0,
                        t1,          b_hh != VKG_NONE, h0 != VKG_NONE, c0 != VKG_NONE};
    if (vkg__dispatch(g, sh, p.spec, p.nspec, 8, bind, (1u << 5) | (1u << 6) | (1u << 7), &pc, sizeof pc, p.gx, p.gy,
                      1))
      return VKG_NONE;
  }
  vkg_t outs[3] = {hs, cs, gates};
  vkg__node_io(g, 5, all, 3, outs, NULL, 0, lstm_backward);
  if (c_seq) *c_seq = cs;
  return hs;
}

// ---- GRU ----

/* ---- backward ----
 * gru_bwd walks the steps down (in launches of plan.steps, latest first), giving the gradients of
 * gates_x, dgx (T, B, 3H), and of the hidden projection W_hh h_{t-1} + b_hh, dgh (T, B, 3H), which
 * differ in the n block (r scales the hidden part); and dh0 in the carry. */
static void gru_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  vkg_t gx = n->in[0], w = n->in[1], h0 = n->in[3];
  vkg_t hs = n->out[0], gates = n->out[1], dhs = gout[0];
  if (dhs == VKG_NONE) return; /* the saved gates are not results: only hs carries a gradient */
  vkg__begin(g, "gru backward");
  const struct vkg_gtensor *tx = vkg__t(g, gx);
  int T = tx->shape[0], B = tx->shape[1], H = tx->shape[2] / 3;
  struct rnn_plan p;
  if (!plan(g, T, B, H, 3, &p)) return;
  int gshape[3] = {T, B, 3 * H}, cshape[2] = {B, H};
  vkg_t dgx = vkg__new(g, VKG_F32, 3, gshape), dgh = vkg__new(g, VKG_F32, 3, gshape);
  vkg_t carry = vkg__new(g, VKG_F32, 2, cshape);
  if (dgx < 0 || dgh < 0 || carry < 0) return;
  vkg_t bind[8] = {dhs, gates, hs, h0 != VKG_NONE ? h0 : gates, w, dgx, dgh, carry};
  char sh[32];
  shader_name(&p, "gru_bwd", sh, sizeof sh);
  for (uint32_t t1 = (uint32_t)T; t1 > 0;) {
    uint32_t t0 = t1 > p.steps ? t1 - p.steps : 0;
    struct rnn_pc pc = {(uint32_t)T, (uint32_t)B, (uint32_t)H, t0, t1, 1, h0 != VKG_NONE, 0};
    if (vkg__dispatch(g, sh, p.spec, p.nspec + 1, 8, bind, (1u << 5) | (1u << 6) | (1u << 7), &pc, sizeof pc, p.gx,
                      p.gy, 1))
      return;
    t1 = t0;
  }
  if (vkg__wants_grad(g, gx)) gin[0] = dgx;
  if (h0 != VKG_NONE && vkg__wants_grad(g, h0)) gin[3] = carry;
  weight_grads(g, n, dgh, T, B, H, 3, gin);
}

vkg_t vkg_gru(vkg_graph *g, vkg_t gates_x, vkg_t w_hh, vkg_t b_hh, vkg_t h0) {
  vkg_t all[4] = {gates_x, w_hh, b_hh, h0}, ids[4];
  int nid = 0;
  for (int i = 0; i < 4; i++)
    if (i < 2 || all[i] != VKG_NONE) ids[nid++] = all[i];
  if (vkg__check(g, nid, ids)) return VKG_NONE;
  vkg__begin(g, "gru");
  int T, B, H;
  if (!check_shapes(g, "gru", 3, gates_x, w_hh, b_hh, h0, VKG_NONE, &T, &B, &H)) return VKG_NONE;
  struct rnn_plan p;
  if (!plan(g, T, B, H, 3, &p)) return VKG_NONE;
  int hshape[3] = {T, B, H}, gshape[3] = {T, B, 4 * H};
  vkg_t hs = vkg__new(g, VKG_F32, 3, hshape), gates = vkg__new(g, VKG_F32, 3, gshape);
  if (hs < 0 || gates < 0) return VKG_NONE;
  vkg_t bind[6] = {gates_x, w_hh, b_hh != VKG_NONE ? b_hh : gates_x, h0 != VKG_NONE ? h0 : gates_x, hs, gates};
  char sh[32];
  shader_name(&p, "gru_fwd", sh, sizeof sh);
  for (uint32_t t0 = 0; t0 < (uint32_t)T; t0 += p.steps) {
    uint32_t t1 = t0 + p.steps < (uint32_t)T ? t0 + p.steps : (uint32_t)T;
    struct rnn_pc pc = {(uint32_t)T, (uint32_t)B, (uint32_t)H, t0, t1, b_hh != VKG_NONE, h0 != VKG_NONE, 0};
    if (vkg__dispatch(g, sh, p.spec, p.nspec, 6, bind, (1u << 4) | (1u << 5), &pc, sizeof pc, p.gx, p.gy, 1))
      return VKG_NONE;
  }
  vkg_t outs[2] = {hs, gates};
  vkg__node_io(g, 4, all, 2, outs, NULL, 0, gru_backward);
  return hs;
}
