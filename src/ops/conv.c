/* Convolutions: conv2d, conv_transpose2d and conv1d, with PyTorch's semantics.
 * Shape letters: B batch, C input channels, O output channels, H W input height and width, OH OW output
 * height and width, KH KW kernel height and width, T time; Cg = C/groups, Og = O/groups.
 * conv2d and conv1d share one launcher (conv1d is a conv2d with H = 1) and two shaders: an implicit GEMM,
 * and a direct kernel for groups with few output channels. Both take top/left padding and the output
 * size explicitly, which is how conv1d's causal (left-only) padding fits. conv_transpose2d gathers each output element from the taps that reach it. */
#include <string.h>

#include "internal.h"

struct vkg_conv2d_desc vkg_conv2d_desc_default(void) {
  return (struct vkg_conv2d_desc){
      .stride_h = 1, .stride_w = 1, .pad_h = 0, .pad_w = 0, .dil_h = 1, .dil_w = 1, .out_pad_h = 0, .out_pad_w = 0,
      .groups = 1};
}

// ---- shared by conv2d and conv1d ----

struct conv2d_pc {
  uint32_t C, H, W;
  uint32_t O, OH, OW;
  uint32_t KH, KW;
  uint32_t stride_h, stride_w, dil_h, dil_w;
  int32_t pad_t, pad_l;
  uint32_t Cg, Og;
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

/* The sizes of one conv2d launch, every one already checked. */
struct conv_geom {
  int B, C, H, W, O, OH, OW, KH, KW;
  int stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, groups;
};

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
      .C = (uint32_t)c->C, .H = (uint32_t)c->H, .W = (uint32_t)c->W,
      .O = (uint32_t)c->O, .OH = (uint32_t)c->OH, .OW = (uint32_t)c->OW,
      .KH = (uint32_t)c->KH, .KW = (uint32_t)c->KW,
      .stride_h = (uint32_t)c->stride_h, .stride_w = (uint32_t)c->stride_w,
      .dil_h = (uint32_t)c->dil_h, .dil_w = (uint32_t)c->dil_w,
      .pad_t = c->pad_t, .pad_l = c->pad_l,
      .Cg = (uint32_t)Cg, .Og = (uint32_t)Og,
      .N = (uint32_t)((uint64_t)c->B * (uint64_t)c->OH * (uint64_t)c->OW),
      .K = (uint32_t)Cg * (uint32_t)c->KH * (uint32_t)c->KW,
      .has_bias = bias != VKG_NONE,
  };
  /* Without a bias, bind x in its place; the shader never reads it. */
  vkg_t bind[4] = {x, w, bias != VKG_NONE ? bias : x, out};
  if (Og <= DIRECT_MAX_OG) {
    uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
    vkg__grid1d((uint64_t)pc.N * pc.O, wg, &gx, &gy);
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
                    "stride (%d, %d), dilation (%d, %d) and groups %d must be >= 1, padding (%d, %d) >= 0",
                    dd.stride_h, dd.stride_w, dd.dil_h, dd.dil_w, dd.groups, dd.pad_h, dd.pad_w),
           VKG_NONE;
  const struct vkg_gtensor *tx = vkg__t(g, x), *tw = vkg__t(g, w);
  char s1[96], s2[96];
  if (tx->ndim != 4 || tw->ndim != 4)
    return vkg__bad(g, VKG_ERR_SHAPE, "x %s must be (B, C, H, W) and w %s (O, C/groups, KH, KW)",
                    vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1), vkg__shape_str(tw->shape, tw->ndim, s2, sizeof s2)),
           VKG_NONE;
  if (check_groups(g, tx, tw, dd.groups) || check_types(g, x, w, bias, tw->shape[0])) return VKG_NONE;
  struct conv_geom c = {.B = tx->shape[0], .C = tx->shape[1], .H = tx->shape[2], .W = tx->shape[3],
                        .O = tw->shape[0], .KH = tw->shape[2], .KW = tw->shape[3],
                        .stride_h = dd.stride_h, .stride_w = dd.stride_w, .dil_h = dd.dil_h, .dil_w = dd.dil_w,
                        .pad_t = dd.pad_h, .pad_l = dd.pad_w, .groups = dd.groups};
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
  return conv2d_launch(g, x, w, bias, &c, 4, shape);
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
                    vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1), vkg__shape_str(tw->shape, tw->ndim, s2, sizeof s2)),
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
  struct conv_geom c = {.B = tx->shape[0], .C = tx->shape[1], .H = 1, .W = T, .O = tw->shape[0], .OH = 1,
                        .OW = (int)((in_t - span) / stride + 1), .KH = 1, .KW = K, .stride_h = 1,
                        .stride_w = stride, .dil_h = 1, .dil_w = dilation, .pad_t = 0, .pad_l = (int)pad_l,
                        .groups = groups};
  int shape[3] = {c.B, c.O, c.OW};
  return conv2d_launch(g, x, w, bias, &c, 3, shape);
}

// ---- conv_transpose2d ----

struct conv_transpose2d_pc {
  uint32_t total;
  uint32_t C, H, W;
  uint32_t O, OH, OW;
  uint32_t KH, KW;
  uint32_t stride_h, stride_w, dil_h, dil_w;
  uint32_t pad_h, pad_w;
  uint32_t Cg, Og;
  uint32_t has_bias;
};
_Static_assert(sizeof(struct conv_transpose2d_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

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
    return vkg__bad(g, VKG_ERR_SHAPE, "w %s must start with the C = %d input channels of x %s", s2, C, s1),
           VKG_NONE;
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
  int shape[4] = {tx->shape[0], O, (int)oh, (int)ow}, Og = tw->shape[1];
  /* vkg__new may move the tensor array, so tx and tw are not used past this point. */
  vkg_t out = vkg__new(g, VKG_F32, 4, shape);
  if (out < 0) return VKG_NONE;
  struct conv_transpose2d_pc pc = {
      .total = (uint32_t)vkg__numel(shape, 4),
      .C = (uint32_t)C, .H = (uint32_t)H, .W = (uint32_t)W,
      .O = (uint32_t)O, .OH = (uint32_t)oh, .OW = (uint32_t)ow,
      .KH = (uint32_t)KH, .KW = (uint32_t)KW,
      .stride_h = (uint32_t)dd.stride_h, .stride_w = (uint32_t)dd.stride_w,
      .dil_h = (uint32_t)dd.dil_h, .dil_w = (uint32_t)dd.dil_w,
      .pad_h = (uint32_t)dd.pad_h, .pad_w = (uint32_t)dd.pad_w,
      .Cg = (uint32_t)(C / groups), .Og = (uint32_t)Og,
      .has_bias = bias != VKG_NONE,
  };
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.total, wg, &gx, &gy);
  vkg_t bind[4] = {x, w, bias != VKG_NONE ? bias : x, out};
  if (vkg__dispatch(g, "conv_transpose2d", spec, 3, 4, bind, 1u << 3, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  return out;
}
