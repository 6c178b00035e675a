/* Convolutions: conv2d, conv_transpose2d and conv1d, with PyTorch's semantics, and their gradients.
 * Shape letters: B batch, C input channels, O output channels, H W input height and width, OH OW output
 * height and width, KH KW kernel height and width, T time; Cg = C/groups, Og = O/groups.
 * conv2d and conv1d share one launcher (conv1d is a conv2d with H = 1) and two shaders: an implicit GEMM,
 * and a direct kernel for groups with few output channels. Both take top/left padding and the output
 * size explicitly, which is how conv1d's causal (left-only) padding fits. conv_transpose2d gathers each
 * output element from the taps that reach it.
 *
 * Every launch is described by one conv2d geometry (struct conv_geom): an image side (B, C, H, W), a
 * kernel w (O, Cg, KH, KW) and an output side (B, O, OH, OW). conv2d maps the image side to the output
 * side; a transposed convolution maps the output side back to the image side with the same w, so a
 * conv_transpose2d is stored as the conv2d geometry whose image side is its output. The three launches
 * then give the forward ops and both backward passes:
 *   conv2d_launch      image -> output side   conv2d forward, conv_transpose2d's input gradient
 *   convt_launch       output -> image side   conv_transpose2d forward, conv2d's input gradient
 *   bwd_weight_launch  image x output -> w    the weight gradient of both
 * Because sizes are explicit on both sides, the input gradient always has exactly the input's shape,
 * whatever rows and columns the forward's stride rounding left unread (they get zero gradient). */
#include <string.h>

#include "internal.h"

struct vkg_conv2d_desc vkg_conv2d_desc_default(void) {
  return (struct vkg_conv2d_desc){.stride_h = 1,
                                  .stride_w = 1,
                                  .pad_h = 0,
                                  .pad_w = 0,
                                  .dil_h = 1,
                                  .dil_w = 1,
                                  .out_pad_h = 0,
                                  .out_pad_w = 0,
                                  .groups = 1};
}

// ---- geometry, and the conv2d launch (conv2d, conv1d, conv_transpose2d's input gradient) ----

/* The sizes of one conv2d geometry, every one already checked (see the top of the file). Saved as the
 * node's attributes for the backward. */
struct conv_geom {
  int B, C, H, W, O, OH, OW, KH, KW;
  int stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, groups;
};

/* The geometry as the conv2d shaders and conv2d_bwd_weight.comp take it, at the start of their push
 * constants (all 32-bit, so the nested struct lays out like the GLSL block's flat fields). */
struct conv_pc_geom {
  uint32_t C, H, W;
  uint32_t O, OH, OW;
  uint32_t KH, KW;
  uint32_t stride_h, stride_w, dil_h, dil_w;
  int32_t pad_t, pad_l;
  uint32_t Cg, Og;
};

static struct conv_pc_geom pc_geom(const struct conv_geom *c) {
  return (struct conv_pc_geom){
      .C = (uint32_t)c->C,
      .H = (uint32_t)c->H,
      .W = (uint32_t)c->W,
      .O = (uint32_t)c->O,
      .OH = (uint32_t)c->OH,
      .OW = (uint32_t)c->OW,
      .KH = (uint32_t)c->KH,
      .KW = (uint32_t)c->KW,
      .stride_h = (uint32_t)c->stride_h,
      .stride_w = (uint32_t)c->stride_w,
      .dil_h = (uint32_t)c->dil_h,
      .dil_w = (uint32_t)c->dil_w,
      .pad_t = c->pad_t,
      .pad_l = c->pad_l,
      .Cg = (uint32_t)(c->C / c->groups),
      .Og = (uint32_t)(c->O / c->groups),
  };
}

struct conv2d_pc {
  struct conv_pc_geom geom;
  uint32_t N, K;
  uint32_t mtiles;
  uint32_t has_bias;
};
_Static_assert(sizeof(struct conv2d_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Groups with at most this many output channels use the direct kernel (see conv2d_direct.comp). */
#define DIRECT_MAX_OG 4

/* Tile shapes for the implicit GEMM by output channels per group: wide square tiles when there are
 * many, short wide ones when there are few, so that most of each tile holds real outputs.
 * spec: workgroup x, y, z, then TM, TN, TK as in conv2d.comp. */
static void conv2d_tiles(const vkg_ctx *ctx, int Og, uint32_t spec[6]) {
  if (Og > 16) {
    spec[0] = 16, spec[1] = 16, spec[3] = 4, spec[4] = 4, spec[5] = 16; /* 64 x 64 */
  } else {
    spec[0] = 64, spec[1] = 4, spec[3] = 4, spec[4] = 2, spec[5] = 16; /* 16 x 128 */
  }
  spec[2] = 1;
  /* Shared memory: the A and B tiles, three words per tile column and six per tile row (doubled). */
  for (;;) {
    uint32_t bm = spec[1] * spec[3], bn = spec[0] * spec[4];
    uint32_t bytes = 4 * (spec[5] * (bm + bn) + 3 * bn + 6 * spec[5]);
    if (bytes <= ctx->info.shared_memory || spec[5] == 1) break;
    spec[5] /= 2;
  }
}

// ---- the CPU-device kernel: one register-blocked implicit GEMM for all three launches ----

/* Push constants of conv_gemm.comp, whose header describes the generic GEMM they define. */
struct conv_gemm_pc {
  uint32_t M, N, K, D1, D0, N1, N0;
  uint32_t a_off, a_g, a_sm, as2, as1, as0;
  uint32_t b_g, ns2, bs2, SHT, SWD;
  int32_t ns1, noff1, bs1, ns0, noff0, bs0;
  uint32_t c_off, c_g, c_split, c_sm, cn2, cn1, cn0;
  uint32_t kchunk;
};
_Static_assert(sizeof(struct conv_gemm_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

enum { GEMM_FWD, GEMM_TRANSPOSED, GEMM_WEIGHT };

/* Records one conv_gemm.comp dispatch for pc (sizes, strides and offsets filled in). Returns 0, 1 with
 * the error recorded, or -1 (nothing recorded) when the grid does not fit. */
static int conv_gemm_dispatch(vkg_graph *g, struct conv_gemm_pc *pc, const struct conv_geom *c, uint32_t splits,
                              const vkg_t bind[4], int has_bias) {
  if (pc->K == 0) pc->D1 = pc->D0 = 1; /* no taps: the result is the bias (or 0); avoids a division by 0 */
  pc->kchunk = splits > 1 ? (vkg__ceil_div(pc->K, splits) + 3) / 4 * 4 : pc->K;
  /* An invocation loops kchunk/4 times, and lavapipe ends a shader's loops after 65535 iterations. */
  if (pc->kchunk / 4 > 60000) return -1;
  /* vec4 loads of A along k: k .. k+3 must be contiguous in A and start on a multiple of 4. */
  int contiguous = pc->as2 == pc->D1 * pc->D0 && pc->as1 == pc->D0 && pc->as0 == 1;
  int a_vec = pc->a_off % 4 == 0 && pc->a_g % 4 == 0 && pc->a_sm % 4 == 0 && pc->kchunk % 4 == 0 &&
              (contiguous ? pc->K % 4 == 0
                          : (pc->D1 * pc->D0) % 4 == 0 && pc->as2 % 4 == 0 && pc->as1 == pc->D0 && pc->as0 == 1);
  /* 16 rows per invocation where there are that many: the gathered B values are the expensive loads
   * (scalar, with bounds checks), and each is reused for TM rows. */
  uint32_t tm = pc->M >= 16 ? 16 : pc->M >= 8 ? 8 : pc->M >= 4 ? 4 : pc->M >= 2 ? 2 : 1;
  uint32_t wy = pc->M > tm && tm < 16 ? 2 : 1;
  uint32_t spec[8] = {8, wy, 1, tm, 8, (uint32_t)a_vec, (uint32_t)has_bias, (uint32_t)c->groups};
  uint64_t gy = ((uint64_t)pc->N + 63) / 64, gz = (uint64_t)c->groups * splits;
  if (gy > 65535 || gz > 65535) return -1;
  return vkg__dispatch(g, "conv_gemm", spec, 8, 4, bind, 1u << 3, pc, sizeof *pc, vkg__ceil_div(pc->M, tm * wy),
                       (uint32_t)gy, (uint32_t)gz)
             ? 1
             : 0;
}

static int gcd(int a, int b) { return b ? gcd(b, a % b) : a; }

/* Records conv_gemm.comp for one launch of geometry c (see the file's top): a is read as the GEMM's A
 * (the weights; dy for GEMM_WEIGHT), b is gathered as its B, out gets the result. For GEMM_WEIGHT,
 * splits > 1 writes that many partial sums, (splits, O*Cg*KH*KW). Returns 0, 1 (error recorded), or -1
 * without recording anything when the grid does not fit (the caller then uses the GPU kernel). */
static int conv_gemm(vkg_graph *g, int mode, vkg_t a, vkg_t b, vkg_t bias, vkg_t out, const struct conv_geom *c,
                     uint32_t splits) {
  uint32_t Cg = (uint32_t)(c->C / c->groups), Og = (uint32_t)(c->O / c->groups);
  uint32_t KHW = (uint32_t)(c->KH * c->KW), HW = (uint32_t)(c->H * c->W), OHW = (uint32_t)(c->OH * c->OW);
  uint32_t B = (uint32_t)c->B, C = (uint32_t)c->C, O = (uint32_t)c->O;
  vkg_t bind[4] = {a, b, bias != VKG_NONE ? bias : a, out};
  struct conv_gemm_pc pc = {.as0 = 1, .cn0 = 1};
  if (mode == GEMM_FWD) {
    pc.M = Og, pc.N = B * OHW, pc.K = Cg * KHW, pc.D1 = (uint32_t)c->KH, pc.D0 = (uint32_t)c->KW;
    pc.N1 = (uint32_t)c->OH, pc.N0 = (uint32_t)c->OW;
    pc.a_g = Og * pc.K, pc.a_sm = pc.K, pc.as2 = KHW, pc.as1 = (uint32_t)c->KW;
    pc.b_g = Cg * HW, pc.ns2 = C * HW, pc.bs2 = HW, pc.SHT = (uint32_t)c->H, pc.SWD = (uint32_t)c->W;
    pc.ns1 = c->stride_h, pc.noff1 = -c->pad_t, pc.bs1 = c->dil_h;
    pc.ns0 = c->stride_w, pc.noff0 = -c->pad_l, pc.bs0 = c->dil_w;
    pc.c_g = Og * OHW, pc.c_sm = OHW, pc.cn2 = O * OHW, pc.cn1 = (uint32_t)c->OW;
    return conv_gemm_dispatch(g, &pc, c, 1, bind, bias != VKG_NONE);
  }
  if (mode == GEMM_WEIGHT) {
    pc.M = Og, pc.N = Cg * KHW, pc.K = B * OHW, pc.D1 = (uint32_t)c->OH, pc.D0 = (uint32_t)c->OW;
    pc.N1 = (uint32_t)c->KH, pc.N0 = (uint32_t)c->KW;
    pc.a_g = Og * OHW, pc.a_sm = OHW, pc.as2 = O * OHW, pc.as1 = (uint32_t)c->OW;
    pc.b_g = Cg * HW, pc.ns2 = HW, pc.bs2 = C * HW, pc.SHT = (uint32_t)c->H, pc.SWD = (uint32_t)c->W;
    pc.ns1 = c->dil_h, pc.noff1 = -c->pad_t, pc.bs1 = c->stride_h;
    pc.ns0 = c->dil_w, pc.noff0 = -c->pad_l, pc.bs0 = c->stride_w;
    pc.c_g = Og * Cg * KHW, pc.c_sm = Cg * KHW, pc.cn2 = KHW, pc.cn1 = (uint32_t)c->KW;
    pc.c_split = O * Cg * KHW;
    return conv_gemm_dispatch(g, &pc, c, splits, bind, 0);
  }
  /* The image side from the output side, one launch per stride phase (py, px): image rows
   * iy = py + stride_h*n1 are reached from output row oy through tap ky exactly when
   * iy + pad_t - ky*dil_h = oy*stride_h, which for this phase holds for the taps ky = ky0 + step*t
   * (step = stride_h / gcd(stride_h, dil_h)), at oy = (py + pad_t - ky0*dil_h)/stride_h + n1 - t*step*dil_h/stride_h.
   * So each phase is a dense GEMM over only the taps that land: no FMA on taps that miss. */
  int steps[2] = {c->stride_h / gcd(c->stride_h, c->dil_h), c->stride_w / gcd(c->stride_w, c->dil_w)};
  for (int py = 0; py < c->stride_h && py < c->H; py++)
    for (int px = 0; px < c->stride_w && px < c->W; px++) {
      int first[2] = {-1, -1}, count[2] = {0, 0}, phase[2] = {py, px}, pad[2] = {c->pad_t, c->pad_l};
      int kern[2] = {c->KH, c->KW}, dil[2] = {c->dil_h, c->dil_w}, stride[2] = {c->stride_h, c->stride_w};
      int off[2] = {0, 0}, tstep[2] = {0, 0};
      for (int d = 0; d < 2; d++) {
        for (int k = 0; k < kern[d] && first[d] < 0; k++)
          if (((phase[d] + pad[d] - k * dil[d]) % stride[d] + stride[d]) % stride[d] == 0) first[d] = k;
        if (first[d] >= 0) {
          count[d] = (kern[d] - first[d] + steps[d] - 1) / steps[d];
          off[d] = (phase[d] + pad[d] - first[d] * dil[d]) / stride[d];
          tstep[d] = steps[d] * dil[d] / stride[d];
        }
      }
      uint32_t n1 = (uint32_t)((c->H - py + c->stride_h - 1) / c->stride_h);
      uint32_t n0 = (uint32_t)((c->W - px + c->stride_w - 1) / c->stride_w);
      pc.M = Cg, pc.N = B * n1 * n0, pc.K = Og * (uint32_t)count[0] * (uint32_t)count[1];
      pc.D1 = (uint32_t)count[0], pc.D0 = (uint32_t)count[1], pc.N1 = n1, pc.N0 = n0;
      pc.a_off = first[0] < 0 || first[1] < 0 ? 0 : (uint32_t)(first[0] * c->KW + first[1]);
      pc.a_g = Og * Cg * KHW, pc.a_sm = KHW, pc.as2 = Cg * KHW;
      pc.as1 = (uint32_t)(steps[0] * c->KW), pc.as0 = (uint32_t)steps[1];
      pc.b_g = Og * OHW, pc.ns2 = O * OHW, pc.bs2 = OHW, pc.SHT = (uint32_t)c->OH, pc.SWD = (uint32_t)c->OW;
      pc.ns1 = 1, pc.noff1 = off[0], pc.bs1 = -tstep[0];
      pc.ns0 = 1, pc.noff0 = off[1], pc.bs0 = -tstep[1];
      pc.c_off = (uint32_t)(py * c->W + px), pc.c_g = Cg * HW, pc.c_sm = HW, pc.cn2 = C * HW;
      pc.cn1 = (uint32_t)(c->stride_h * c->W), pc.cn0 = (uint32_t)c->stride_w;
      int r = conv_gemm_dispatch(g, &pc, c, 1, bind, bias != VKG_NONE);
      if (r) return r; /* a later phase cannot fail to fit where the first fitted, so -1 comes first */
    }
  return 0;
}

/* Records the conv2d dispatch and returns out, whose shape (ndim, shape) the caller gives. */
static vkg_t conv2d_launch(vkg_graph *g, vkg_t x, vkg_t w, vkg_t bias, const struct conv_geom *c, int ndim,
                           const int *shape) {
  /* The shader's row and column arithmetic is in 32-bit ints with a sentinel at 2^29. */
  int64_t reach_h = (int64_t)(c->OH - 1) * c->stride_h + (int64_t)c->dil_h * (c->KH - 1) + c->pad_t;
  int64_t reach_w = (int64_t)(c->OW - 1) * c->stride_w + (int64_t)c->dil_w * (c->KW - 1) + c->pad_l;
  if (reach_h > (1 << 28) || reach_w > (1 << 28) || c->H > (1 << 28) || c->W > (1 << 28))
    return vkg__bad(g, VKG_ERR_SHAPE, "padding, stride and dilation reach %lldx%lld, over the 2^28 a shader indexes",
                    (long long)reach_h, (long long)reach_w),
           VKG_NONE;
  vkg_t out = vkg__new(g, VKG_F32, ndim, shape);
  if (out < 0) return VKG_NONE;
  int Cg = c->C / c->groups, Og = c->O / c->groups;
  struct conv2d_pc pc = {
      .geom = pc_geom(c),
      .N = (uint32_t)((uint64_t)c->B * (uint64_t)c->OH * (uint64_t)c->OW),
      .K = (uint32_t)Cg * (uint32_t)c->KH * (uint32_t)c->KW,
      .has_bias = bias != VKG_NONE,
  };
  if (!vkg__gpu_kernels(g->ctx) && Og > DIRECT_MAX_OG) {
    int r = conv_gemm(g, GEMM_FWD, w, x, bias, out, c, 1);
    if (r > 0) return VKG_NONE;
    if (r == 0) return out;
  }
  /* Without a bias, bind x in its place; the shader never reads it. */
  vkg_t bind[4] = {x, w, bias != VKG_NONE ? bias : x, out};
  if (Og <= DIRECT_MAX_OG) {
    uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
    vkg__grid1d((uint64_t)pc.N * pc.geom.O, wg, &gx, &gy);
    if (vkg__dispatch(g, "conv2d_direct", spec, 3, 4, bind, 1u << 3, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
    return out;
  }
  uint32_t spec[6];
  conv2d_tiles(g->ctx, Og, spec);
  uint32_t bm = spec[1] * spec[3], bn = spec[0] * spec[4];
  pc.mtiles = vkg__ceil_div((uint64_t)Og, bm);
  uint32_t gx, gy, gz = pc.mtiles * (uint32_t)c->groups;
  vkg__grid1d(pc.N, bn, &gx, &gy);
  if (vkg__dispatch(g, "conv2d", spec, 6, 4, bind, 1u << 3, &pc, sizeof pc, gx, gy, gz)) return VKG_NONE;
  return out;
}

// ---- transposed launch: output side -> image side ----

struct conv_transpose2d_pc {
  uint32_t total;
  uint32_t C, H, W;
  uint32_t O, OH, OW;
  uint32_t KH, KW;
  uint32_t stride_h, stride_w, dil_h, dil_w;
  uint32_t pad_h, pad_w;
  uint32_t Cg, Og;
  uint32_t has_bias;
  uint32_t c_lo, c_hi;
};
_Static_assert(sizeof(struct conv_transpose2d_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Loop iterations one invocation of a gathering shader may run: lavapipe silently ends a shader's
 * loops after 65535 iterations in all, so wide groups are summed in several launches. */
#define MAX_LOOP_ITERS 16384

/* Records conv_transpose2d.comp for geometry c: reads src (B, O, OH, OW), writes and returns the
 * image-side tensor (B, C, H, W), whose shape (ndim, shape) the caller gives; bias (C) or VKG_NONE.
 * In the shader's own terms (a ConvTranspose2d) its input is c's output side and its output c's
 * image side, so the two sides swap in the push constants. */
static vkg_t convt_launch(vkg_graph *g, vkg_t src, vkg_t w, vkg_t bias, const struct conv_geom *c, int ndim,
                          const int *shape) {
  vkg_t out = vkg__new(g, VKG_F32, ndim, shape);
  if (out < 0) return VKG_NONE;
  if (!vkg__gpu_kernels(g->ctx)) {
    int r = conv_gemm(g, GEMM_TRANSPOSED, w, src, bias, out, c, 1);
    if (r > 0) return VKG_NONE;
    if (r == 0) return out;
  }
  int Cg = c->C / c->groups, Og = c->O / c->groups;
  struct conv_transpose2d_pc pc = {
      .total = (uint32_t)((uint64_t)c->B * (uint64_t)c->C * (uint64_t)c->H * (uint64_t)c->W),
      .C = (uint32_t)c->O,
      .H = (uint32_t)c->OH,
      .W = (uint32_t)c->OW,
      .O = (uint32_t)c->C,
      .OH = (uint32_t)c->H,
      .OW = (uint32_t)c->W,
      .KH = (uint32_t)c->KH,
      .KW = (uint32_t)c->KW,
      .stride_h = (uint32_t)c->stride_h,
      .stride_w = (uint32_t)c->stride_w,
      .dil_h = (uint32_t)c->dil_h,
      .dil_w = (uint32_t)c->dil_w,
      .pad_h = (uint32_t)c->pad_t,
      .pad_w = (uint32_t)c->pad_l,
      .Cg = (uint32_t)Og,
      .Og = (uint32_t)Cg,
  };
  /* Per invocation: KH + KH*KW tap iterations, and the channel loop for every tap that lands. */
  uint64_t taps = (uint64_t)c->KH * (uint64_t)c->KW, chunk = 1;
  if (taps + (uint64_t)c->KH < MAX_LOOP_ITERS) chunk = (MAX_LOOP_ITERS - taps - (uint64_t)c->KH) / taps;
  if (chunk < 1) chunk = 1;
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.total, wg, &gx, &gy);
  vkg_t bind[4] = {src, w, bias != VKG_NONE ? bias : src, out};
  for (uint64_t lo = 0; lo < (uint64_t)Og; lo += chunk) {
    pc.c_lo = (uint32_t)lo;
    pc.c_hi = (uint32_t)(lo + chunk < (uint64_t)Og ? lo + chunk : (uint64_t)Og);
    pc.has_bias = lo == 0 && bias != VKG_NONE; /* added once, by the launch that starts the sum */
    if (vkg__dispatch(g, "conv_transpose2d", spec, 3, 4, bind, 1u << 3, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  }
  return out;
}

// ---- weight gradient: image x output side -> w ----

struct conv2d_bwd_weight_pc {
  struct conv_pc_geom geom;
  uint32_t K, N;
  uint32_t mtiles, ktiles, tiles;
  uint32_t chunk;
};
_Static_assert(sizeof(struct conv2d_bwd_weight_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Pixels per invocation of conv2d_bwd_weight.comp at most (it loops once per pixel). */
#define BWD_WEIGHT_MAX_ITERS 4096

/* The gradient of w (O, Cg, KH, KW) for geometry c from the image-side tensor img (B, C, H, W) and the
 * output-side gradient dy (B, O, OH, OW); the result has the shape (ndim, shape) the caller gives.
 * Every weight sums over B*OH*OW pixels: each workgroup row takes a micro-tile of weights, its lanes
 * share the pixels, and when that is still too many pixels per lane (or too few workgroups to fill the
 * device) the pixels are split into chunks whose partial sums a reduce adds. */
static vkg_t bwd_weight_launch(vkg_graph *g, vkg_t img, vkg_t dy, const struct conv_geom *c, int ndim,
                               const int *shape) {
  int Cg = c->C / c->groups, Og = c->O / c->groups;
  uint64_t K = (uint64_t)Cg * (uint64_t)c->KH * (uint64_t)c->KW;
  uint64_t N = (uint64_t)c->B * (uint64_t)c->OH * (uint64_t)c->OW;
  if (!vkg__gpu_kernels(g->ctx)) {
    /* The GEMM's k is the B*OH*OW pixels: when the weights make few register blocks, split k so
     * that every core gets work, and sum the partial results. */
    uint64_t blocks = (((uint64_t)Og + 7) / 8) * ((K + 7) / 8) * (uint64_t)c->groups, splits = 1;
    while ((blocks * splits < 256 && N / (splits * 2) >= 1024) || N / splits > 4 * 60000)
      splits *= 2;
    int part_shape[2] = {(int)splits, (int)(K * (uint64_t)c->O)};
    vkg_t out = splits == 1 ? vkg__new(g, VKG_F32, ndim, shape) : vkg__new(g, VKG_F32, 2, part_shape);
    if (out < 0) return VKG_NONE;
    int r = conv_gemm(g, GEMM_WEIGHT, dy, img, VKG_NONE, out, c, (uint32_t)splits);
    if (r > 0) return VKG_NONE;
    if (r == 0) return splits == 1 ? out : vkg_reshape(g, vkg_reduce(g, VKG_REDUCE_SUM, out, 0, 0), ndim, shape);
  }
  /* Micro-tiles no larger than the group, so a depthwise kernel (Og = 1) wastes nothing along m. */
  uint32_t tm = Og >= 4 ? 4 : Og >= 2 ? 2 : 1, tn = K >= 4 ? 4 : K >= 2 ? 2 : 1;
  uint64_t mtiles = ((uint64_t)Og + tm - 1) / tm, ktiles = (K + tn - 1) / tn;
  uint64_t tiles = (uint64_t)c->groups * mtiles * ktiles;
  /* Lanes per micro-tile (a power of two for the tree sum): enough that each loops a while, few
   * enough that small images do not leave most of them idle. */
  uint32_t wg = vkg__wg1d(g->ctx), wx = 4;
  while (wx < 64 && (uint64_t)wx * 16 < N)
    wx *= 2;
  while (wx > wg && wx > 1)
    wx /= 2;
  uint32_t wy = wg / wx;
  uint64_t nwg = (tiles + wy - 1) / wy, per_lane = (N + wx - 1) / wx;
  uint64_t splits = (per_lane + BWD_WEIGHT_MAX_ITERS - 1) / BWD_WEIGHT_MAX_ITERS;
  /* Few workgroups with long sums: split further (keeping >= 256 pixels per lane) to use the device. */
  if (nwg * splits < 64 && per_lane >= 512) {
    uint64_t want = (64 + nwg - 1) / nwg, most = per_lane / 256;
    uint64_t more = want < most ? want : most;
    if (more > splits) splits = more;
  }
  uint64_t chunk = (N + splits - 1) / splits;
  splits = (N + chunk - 1) / chunk;
  if (tiles > 0xffffffffu || N > 0xffffffffu || splits > 65535)
    return vkg__bad(g, VKG_ERR_SHAPE, "weight gradient over %llu pixels for %llu weights is too large",
                    (unsigned long long)N, (unsigned long long)(K * (uint64_t)c->O)),
           VKG_NONE;
  struct conv2d_bwd_weight_pc pc = {
      .geom = pc_geom(c),
      .K = (uint32_t)K,
      .N = (uint32_t)N,
      .mtiles = (uint32_t)mtiles,
      .ktiles = (uint32_t)ktiles,
      .tiles = (uint32_t)tiles,
      .chunk = (uint32_t)chunk,
  };
  /* One chunk writes w's shape directly; several write rows of a (splits, O*K) scratch. */
  int part_shape[2] = {(int)splits, (int)(K * (uint64_t)c->O)};
  vkg_t out = splits == 1 ? vkg__new(g, VKG_F32, ndim, shape) : vkg__new(g, VKG_F32, 2, part_shape);
  if (out < 0) return VKG_NONE;
  uint32_t gx, gy, spec[5] = {wx, wy, 1, tm, tn};
  vkg__grid1d(nwg, 1, &gx, &gy);
  vkg_t bind[3] = {img, dy, out};
  if (vkg__dispatch(g, "conv2d_bwd_weight", spec, 5, 3, bind, 1u << 2, &pc, sizeof pc, gx, gy, (uint32_t)splits))
    return VKG_NONE;
  if (splits == 1) return out;
  return vkg_reshape(g, vkg_reduce(g, VKG_REDUCE_SUM, out, 0, 0), ndim, shape);
}

// ---- backward ----
/* conv2d (and conv1d) of geometry c:   dx = convt(dy, w),  dw = bwd_weight(x, dy);
 * conv_transpose2d of geometry c:      dx = conv2d(dy, w), dw = bwd_weight(dy, x);
 * and the bias gradient is dy summed over batch and pixels. */

/* Copies the shape of t into shape (VKG_MAX_DIMS ints); returns its ndim. */
static int shape_of(vkg_graph *g, vkg_t t, int *shape) {
  const struct vkg_gtensor *tt = vkg__t(g, t);
  memcpy(shape, tt->shape, sizeof(int) * VKG_MAX_DIMS);
  return tt->ndim;
}

/* dbias (bias's shape) = dy (B, ch, pixels) summed over B and pixels. */
static vkg_t bias_grad(vkg_graph *g, vkg_t dy, int B, int ch, int pixels, vkg_t bias) {
  int bshape[VKG_MAX_DIMS], bnd = shape_of(g, bias, bshape);
  int s3[3] = {B, ch, pixels}, s2[2] = {B, ch};
  vkg_t r = vkg_reshape(g, dy, 3, s3);
  r = pixels > 1 ? vkg_reduce(g, VKG_REDUCE_SUM, r, 2, 0) : vkg_reshape(g, r, 2, s2);
  if (B > 1) r = vkg_reduce(g, VKG_REDUCE_SUM, r, 0, 0);
  return vkg_reshape(g, r, bnd, bshape);
}

/* Starts a node named after the forward op and the part of its backward, e.g. conv2d_bwd_weight. */
static void begin_part(vkg_graph *g, const struct vkg_node *n, const char *part) {
  char name[sizeof n->op + 16];
  snprintf(name, sizeof name, "%s_%s", n->op, part);
  vkg__begin(g, name);
}

/* The node's attributes: the geometry, and whether the op was the transposed convolution. */
struct conv_attrs {
  struct conv_geom c;
  int transposed;
};

static void conv_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  struct conv_attrs a;
  memcpy(&a, n->attrs, sizeof a);
  const struct conv_geom *c = &a.c;
  vkg_t x = n->in[0], w = n->in[1], bias = n->in[2], dy = gout[0];
  int shape[VKG_MAX_DIMS], nd;
  if (vkg__wants_grad(g, x)) {
    nd = shape_of(g, x, shape);
    begin_part(g, n, "bwd_input");
    gin[0] =
        a.transposed ? conv2d_launch(g, dy, w, VKG_NONE, c, nd, shape) : convt_launch(g, dy, w, VKG_NONE, c, nd, shape);
  }
  if (vkg__wants_grad(g, w)) {
    nd = shape_of(g, w, shape);
    begin_part(g, n, "bwd_weight");
    gin[1] = a.transposed ? bwd_weight_launch(g, dy, x, c, nd, shape) : bwd_weight_launch(g, x, dy, c, nd, shape);
  }
  if (bias != VKG_NONE && vkg__wants_grad(g, bias))
    gin[2] = a.transposed ? bias_grad(g, dy, c->B, c->C, c->H * c->W, bias)
                          : bias_grad(g, dy, c->B, c->O, c->OH * c->OW, bias);
}

/* Checks that x, w (and bias) are f32 and bias holds O values; 1 (error recorded) if not. */
static int check_types(vkg_graph *g, vkg_t x, vkg_t w, vkg_t bias, int O) {
  const struct vkg_gtensor *tx = vkg__t(g, x), *tw = vkg__t(g, w);
  char s1[96];
  if (tx->dtype != VKG_F32 || tw->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "x and w must be f32 (got %s and %s); use vkg_cast", vkg_dtype_str(tx->dtype),
                    vkg_dtype_str(tw->dtype));
  if (bias != VKG_NONE) {
    const struct vkg_gtensor *tb = vkg__t(g, bias);
    if (tb->dtype != VKG_F32)
      return vkg__bad(g, VKG_ERR_ARG, "bias must be f32 (got %s); use vkg_cast", vkg_dtype_str(tb->dtype));
    if (vkg__numel(tb->shape, tb->ndim) != (size_t)O)
      return vkg__bad(g, VKG_ERR_SHAPE, "bias %s must hold one value per output channel, O = %d",
                      vkg__shape_str(tb->shape, tb->ndim, s1, sizeof s1), O);
  }
  return 0;
}

/* Checks the groups split of x's C channels, w's O output channels and w's Cg = C/groups input
 * channels (dim 1 of w). */
static int check_groups(vkg_graph *g, const struct vkg_gtensor *tx, const struct vkg_gtensor *tw, int groups) {
  char s1[96], s2[96];
  int C = tx->shape[1], O = tw->shape[0];
  vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1);
  vkg__shape_str(tw->shape, tw->ndim, s2, sizeof s2);
  if (C % groups)
    return vkg__bad(g, VKG_ERR_SHAPE, "x %s: C = %d input channels do not split into %d groups", s1, C, groups);
  if (O % groups)
    return vkg__bad(g, VKG_ERR_SHAPE, "w %s: O = %d output channels do not split into %d groups", s2, O, groups);
  if (tw->shape[1] != C / groups)
    return vkg__bad(g, VKG_ERR_SHAPE,
                    "w %s has %d input channels per group, but x %s with %d group%s needs C/groups = %d", s2,
                    tw->shape[1], s1, groups, groups == 1 ? "" : "s", C / groups);
  return 0;
}

// ---- conv2d ----

vkg_t vkg_conv2d(vkg_graph *g, vkg_t x, vkg_t w, vkg_t bias, const struct vkg_conv2d_desc *d) {
  vkg_t ids[3] = {x, w, bias};
  if (vkg__check(g, bias == VKG_NONE ? 2 : 3, ids)) return VKG_NONE;
  vkg__begin(g, "conv2d");
  struct vkg_conv2d_desc dd = d ? *d : vkg_conv2d_desc_default();
  if (dd.stride_h < 1 || dd.stride_w < 1 || dd.dil_h < 1 || dd.dil_w < 1 || dd.pad_h < 0 || dd.pad_w < 0 ||
      dd.groups < 1)
    return vkg__bad(g, VKG_ERR_ARG,
                    "stride (%d, %d), dilation (%d, %d) and groups %d must be >= 1, padding (%d, %d) >= 0", dd.stride_h,
                    dd.stride_w, dd.dil_h, dd.dil_w, dd.groups, dd.pad_h, dd.pad_w),
           VKG_NONE;
  const struct vkg_gtensor *tx = vkg__t(g, x), *tw = vkg__t(g, w);
  char s1[96], s2[96];
  if (tx->ndim != 4 || tw->ndim != 4)
    return vkg__bad(g, VKG_ERR_SHAPE, "x %s must be (B, C, H, W) and w %s (O, C/groups, KH, KW)",
                    vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1),
                    vkg__shape_str(tw->shape, tw->ndim, s2, sizeof s2)),
           VKG_NONE;
  if (check_groups(g, tx, tw, dd.groups) || check_types(g, x, w, bias, tw->shape[0])) return VKG_NONE;
  struct conv_geom c = {.B = tx->shape[0],
                        .C = tx->shape[1],
                        .H = tx->shape[2],
                        .W = tx->shape[3],
                        .O = tw->shape[0],
                        .KH = tw->shape[2],
                        .KW = tw->shape[3],
                        .stride_h = dd.stride_h,
                        .stride_w = dd.stride_w,
                        .dil_h = dd.dil_h,
                        .dil_w = dd.dil_w,
                        .pad_t = dd.pad_h,
                        .pad_l = dd.pad_w,
                        .groups = dd.groups};
  /* The dilated kernel must fit in the padded input, else there is no output position. */
  int64_t span_h = (int64_t)c.dil_h * (c.KH - 1) + 1, span_w = (int64_t)c.dil_w * (c.KW - 1) + 1;
  int64_t in_h = (int64_t)c.H + 2 * (int64_t)c.pad_t, in_w = (int64_t)c.W + 2 * (int64_t)c.pad_l;
  if (span_h > in_h || span_w > in_w)
    return vkg__bad(g, VKG_ERR_SHAPE,
                    "kernel %dx%d with dilation (%d, %d) spans %lldx%lld, larger than the padded input %lldx%lld "
                    "(x %s, pad (%d, %d))",
                    c.KH, c.KW, c.dil_h, c.dil_w, (long long)span_h, (long long)span_w, (long long)in_h,
                    (long long)in_w, vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1), c.pad_t, c.pad_l),
           VKG_NONE;
  c.OH = (int)((in_h - span_h) / c.stride_h + 1);
  c.OW = (int)((in_w - span_w) / c.stride_w + 1);
  int shape[4] = {c.B, c.O, c.OH, c.OW};
  vkg_t out = conv2d_launch(g, x, w, bias, &c, 4, shape);
  vkg_t in[3] = {x, w, bias};
  struct conv_attrs a = {c, 0};
  vkg__node_io(g, 3, in, 1, &out, &a, sizeof a, conv_backward);
  return out;
}

// ---- conv1d ----

vkg_t vkg_conv1d(vkg_graph *g, vkg_t x, vkg_t w, vkg_t bias, int stride, int pad, int dilation, int groups,
                 int causal) {
  vkg_t ids[3] = {x, w, bias};
  if (vkg__check(g, bias == VKG_NONE ? 2 : 3, ids)) return VKG_NONE;
  vkg__begin(g, "conv1d");
  if (stride < 1 || dilation < 1 || groups < 1 || (!causal && pad < 0))
    return vkg__bad(g, VKG_ERR_ARG, "stride %d, dilation %d and groups %d must be >= 1, padding %d >= 0", stride,
                    dilation, groups, pad),
           VKG_NONE;
  const struct vkg_gtensor *tx = vkg__t(g, x), *tw = vkg__t(g, w);
  char s1[96], s2[96];
  if (tx->ndim != 3 || tw->ndim != 3)
    return vkg__bad(g, VKG_ERR_SHAPE, "x %s must be (B, C, T) and w %s (O, C/groups, K)",
                    vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1),
                    vkg__shape_str(tw->shape, tw->ndim, s2, sizeof s2)),
           VKG_NONE;
  if (check_groups(g, tx, tw, groups) || check_types(g, x, w, bias, tw->shape[0])) return VKG_NONE;
  int T = tx->shape[2], K = tw->shape[2];
  int64_t span = (int64_t)dilation * (K - 1) + 1;
  /* Causal: all the padding goes on the left, so output t sees inputs t - dilation*(K-1) .. t. */
  int64_t pad_l = causal ? span - 1 : pad, pad_r = causal ? 0 : pad;
  if (pad_l > 0x3fffffff)
    return vkg__bad(g, VKG_ERR_SHAPE, "kernel %d with dilation %d is too wide", K, dilation), VKG_NONE;
  int64_t in_t = T + pad_l + pad_r;
  if (span > in_t)
    return vkg__bad(g, VKG_ERR_SHAPE,
                    "kernel %d with dilation %d spans %lld, longer than the padded input %lld (x %s, pad %d)", K,
                    dilation, (long long)span, (long long)in_t, vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1),
                    pad),
           VKG_NONE;
  struct conv_geom c = {.B = tx->shape[0],
                        .C = tx->shape[1],
                        .H = 1,
                        .W = T,
                        .O = tw->shape[0],
                        .OH = 1,
                        .OW = (int)((in_t - span) / stride + 1),
                        .KH = 1,
                        .KW = K,
                        .stride_h = 1,
                        .stride_w = stride,
                        .dil_h = 1,
                        .dil_w = dilation,
                        .pad_t = 0,
                        .pad_l = (int)pad_l,
                        .groups = groups};
  int shape[3] = {c.B, c.O, c.OW};
  vkg_t out = conv2d_launch(g, x, w, bias, &c, 3, shape);
  vkg_t in[3] = {x, w, bias};
  struct conv_attrs a = {c, 0};
  vkg__node_io(g, 3, in, 1, &out, &a, sizeof a, conv_backward);
  return out;
}

// ---- conv_transpose2d ----

vkg_t vkg_conv_transpose2d(vkg_graph *g, vkg_t x, vkg_t w, vkg_t bias, const struct vkg_conv2d_desc *d) {
  vkg_t ids[3] = {x, w, bias};
  if (vkg__check(g, bias == VKG_NONE ? 2 : 3, ids)) return VKG_NONE;
  vkg__begin(g, "conv_transpose2d");
  struct vkg_conv2d_desc dd = d ? *d : vkg_conv2d_desc_default();
  if (dd.stride_h < 1 || dd.stride_w < 1 || dd.dil_h < 1 || dd.dil_w < 1 || dd.pad_h < 0 || dd.pad_w < 0 ||
      dd.out_pad_h < 0 || dd.out_pad_w < 0 || dd.groups < 1)
    return vkg__bad(g, VKG_ERR_ARG,
                    "stride (%d, %d), dilation (%d, %d) and groups %d must be >= 1, padding (%d, %d) and output "
                    "padding (%d, %d) >= 0",
                    dd.stride_h, dd.stride_w, dd.dil_h, dd.dil_w, dd.groups, dd.pad_h, dd.pad_w, dd.out_pad_h,
                    dd.out_pad_w),
           VKG_NONE;
  /* As PyTorch: output padding only resolves which of several input sizes the output belongs to. */
  if ((dd.out_pad_h >= dd.stride_h && dd.out_pad_h >= dd.dil_h) ||
      (dd.out_pad_w >= dd.stride_w && dd.out_pad_w >= dd.dil_w))
    return vkg__bad(g, VKG_ERR_ARG,
                    "output padding (%d, %d) must be smaller than either stride (%d, %d) or dilation (%d, %d)",
                    dd.out_pad_h, dd.out_pad_w, dd.stride_h, dd.stride_w, dd.dil_h, dd.dil_w),
           VKG_NONE;
  const struct vkg_gtensor *tx = vkg__t(g, x), *tw = vkg__t(g, w);
  char s1[96], s2[96];
  vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1);
  vkg__shape_str(tw->shape, tw->ndim, s2, sizeof s2);
  if (tx->ndim != 4 || tw->ndim != 4)
    return vkg__bad(g, VKG_ERR_SHAPE, "x %s must be (B, C, H, W) and w %s (C, O/groups, KH, KW)", s1, s2), VKG_NONE;
  int C = tx->shape[1], groups = dd.groups;
  if (tw->shape[0] != C)
    return vkg__bad(g, VKG_ERR_SHAPE, "w %s must start with the C = %d input channels of x %s", s2, C, s1), VKG_NONE;
  if (C % groups)
    return vkg__bad(g, VKG_ERR_SHAPE, "x %s: C = %d input channels do not split into %d groups", s1, C, groups),
           VKG_NONE;
  int64_t O64 = (int64_t)tw->shape[1] * groups;
  if (O64 > 0x7fffffff)
    return vkg__bad(g, VKG_ERR_SHAPE, "w %s with %d groups gives too many output channels", s2, groups), VKG_NONE;
  int O = (int)O64;
  if (check_types(g, x, w, bias, O)) return VKG_NONE;
  int H = tx->shape[2], W = tx->shape[3], KH = tw->shape[2], KW = tw->shape[3];
  int64_t oh = (int64_t)(H - 1) * dd.stride_h - 2 * (int64_t)dd.pad_h + (int64_t)dd.dil_h * (KH - 1) + dd.out_pad_h + 1;
  int64_t ow = (int64_t)(W - 1) * dd.stride_w - 2 * (int64_t)dd.pad_w + (int64_t)dd.dil_w * (KW - 1) + dd.out_pad_w + 1;
  if (oh < 1 || ow < 1 || oh + dd.pad_h > (1 << 30) || ow + dd.pad_w > (1 << 30))
    return vkg__bad(g, VKG_ERR_SHAPE,
                    "x %s, w %s with stride (%d, %d), padding (%d, %d), dilation (%d, %d) and output padding (%d, "
                    "%d) give an output of %lldx%lld",
                    s1, s2, dd.stride_h, dd.stride_w, dd.pad_h, dd.pad_w, dd.dil_h, dd.dil_w, dd.out_pad_h,
                    dd.out_pad_w, (long long)oh, (long long)ow),
           VKG_NONE;
  /* As a conv2d geometry, the image side is this op's output and the output side its input x. */
  struct conv_geom c = {.B = tx->shape[0],
                        .C = O,
                        .H = (int)oh,
                        .W = (int)ow,
                        .O = C,
                        .OH = H,
                        .OW = W,
                        .KH = KH,
                        .KW = KW,
                        .stride_h = dd.stride_h,
                        .stride_w = dd.stride_w,
                        .dil_h = dd.dil_h,
                        .dil_w = dd.dil_w,
                        .pad_t = dd.pad_h,
                        .pad_l = dd.pad_w,
                        .groups = groups};
  int shape[4] = {c.B, O, (int)oh, (int)ow};
  vkg_t out = convt_launch(g, x, w, bias, &c, 4, shape);
  vkg_t in[3] = {x, w, bias};
  struct conv_attrs a = {c, 1};
  vkg__node_io(g, 3, in, 1, &out, &a, sizeof a, conv_backward);
  return out;
}
