/* Gradients of conv2d, conv_transpose2d and conv1d with respect to x, w and bias: each checked by
 * central finite differences of the double-precision reference and on the GPU against the reference
 * backward (tests/gradcheck.h). Shapes cover strides 1-3 with rows and columns the stride leaves
 * unread, padding 0-2, dilation, groups (depthwise too, and both conv2d kernels), non-square kernels
 * and images, output padding, causal conv1d, plus a few larger cases for the split weight-gradient
 * reduction and the channel chunks of the transposed launch.
 * Shape letters: B batch, C input channels, O output channels, H W height width, K kernel, T time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "check/ref_conv.h"

/* One case: the op, its reference geometry, and what the builder needs beyond it. */
enum op { CONV2D, CONVT2D, CONV1D };
struct conv_case {
  enum op op;
  struct ref_conv p;
  int bias;
  int out_pad_h, out_pad_w; /* conv_transpose2d */
  int pad, causal;          /* conv1d: as passed to vkg_conv1d (p.pad_l is what it means) */
};

static void conv_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct conv_case *k = op->user;
  const double *bias = k->bias ? in[2] : NULL;
  if (k->op == CONVT2D)
    ref_conv_transpose2d_f64(y, in[0], in[1], bias, &k->p);
  else
    ref_conv2d_f64(y, in[0], in[1], bias, &k->p);
}

static void conv_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct conv_case *k = op->user;
  double *gb = k->bias ? gin[2] : NULL;
  if (k->op == CONVT2D)
    ref_conv_transpose2d_bwd(gin[0], gin[1], gb, gy, in[0], in[1], &k->p);
  else
    ref_conv2d_bwd(gin[0], gin[1], gb, gy, in[0], in[1], &k->p);
}

static vkg_t conv_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  const struct conv_case *k = op->user;
  const struct ref_conv *p = &k->p;
  vkg_t bias = k->bias ? in[2] : VKG_NONE;
  if (k->op == CONV1D) return vkg_conv1d(g, in[0], in[1], bias, p->stride_w, k->pad, p->dil_w, p->groups, k->causal);
  struct vkg_conv2d_desc d = {.stride_h = p->stride_h,
                              .stride_w = p->stride_w,
                              .pad_h = p->pad_t,
                              .pad_w = p->pad_l,
                              .dil_h = p->dil_h,
                              .dil_w = p->dil_w,
                              .out_pad_h = k->out_pad_h,
                              .out_pad_w = k->out_pad_w,
                              .groups = p->groups};
  return k->op == CONV2D ? vkg_conv2d(g, in[0], in[1], bias, &d) : vkg_conv_transpose2d(g, in[0], in[1], bias, &d);
}

/* Runs gc_check on k; frozen_x / frozen_w leave that input out of the check (for inputs too large
 * for finite differences: the remaining ones still take the same backward path). */
static void check(vkg_ctx *ctx, struct conv_case k, int frozen_x, int frozen_w) {
  const struct ref_conv *p = &k.p;
  char name[200];
  const char *opname = k.op == CONV2D ? "conv2d" : k.op == CONVT2D ? "conv_transpose2d" : "conv1d";
  if (k.op == CONV1D)
    snprintf(name, sizeof name, "%s backward x(%d,%d,%d) K %d stride %d pad %d dil %d groups %d causal %d bias %d",
             opname, p->B, p->C, p->W, p->KW, p->stride_w, k.pad, p->dil_w, p->groups, k.causal, k.bias);
  else
    snprintf(name, sizeof name,
             "%s backward x(%d,%d,%d,%d) O %d K %dx%d stride %d,%d pad %d,%d dil %d,%d out_pad %d,%d groups %d "
             "bias %d -> %dx%d",
             opname, p->B, p->C, p->H, p->W, p->O, p->KH, p->KW, p->stride_h, p->stride_w, p->pad_t, p->pad_l, p->dil_h,
             p->dil_w, k.out_pad_h, k.out_pad_w, p->groups, k.bias, p->OH, p->OW);
  struct gc_op op = {
      .name = name, .nin = k.bias ? 3 : 2, .user = &k, .fwd = conv_fwd, .bwd = conv_bwd, .build = conv_build};
  op.no_grad[0] = frozen_x;
  op.no_grad[1] = frozen_w;
  int wc = k.op == CONVT2D ? p->C : p->O, wg = k.op == CONVT2D ? p->O / p->groups : p->C / p->groups;
  if (k.op == CONV1D) {
    op.ndim[0] = op.ndim[1] = 3;
    memcpy(op.shape[0], (int[]){p->B, p->C, p->W}, 3 * sizeof(int));
    memcpy(op.shape[1], (int[]){wc, wg, p->KW}, 3 * sizeof(int));
  } else {
    op.ndim[0] = op.ndim[1] = 4;
    memcpy(op.shape[0], (int[]){p->B, p->C, p->H, p->W}, 4 * sizeof(int));
    memcpy(op.shape[1], (int[]){wc, wg, p->KH, p->KW}, 4 * sizeof(int));
  }
  op.ndim[2] = 1;
  op.shape[2][0] = p->O;
  op.lo[1] = -0.5f, op.hi[1] = 0.5f;
  /* The loss is linear in each input, so central differences are exact for any step; a wide one
   * keeps rounding in the (large) sums of big cases well below the tolerance. */
  op.fd_eps = 1e-3;
  op.out_n = (size_t)p->B * p->O * p->OH * p->OW;
  gc_check(ctx, &op);
}

// ---- conv2d ----

/* B C H W O KH KW sh sw ph pw dh dw groups bias */
static struct conv_case conv2d_case(const int *v) {
  struct conv_case k = {.op = CONV2D, .bias = v[14]};
  k.p = (struct ref_conv){.B = v[0],
                          .C = v[1],
                          .H = v[2],
                          .W = v[3],
                          .O = v[4],
                          .KH = v[5],
                          .KW = v[6],
                          .stride_h = v[7],
                          .stride_w = v[8],
                          .pad_t = v[9],
                          .pad_l = v[10],
                          .dil_h = v[11],
                          .dil_w = v[12],
                          .groups = v[13]};
  k.p.OH = ref_conv_out(k.p.H, k.p.KH, k.p.stride_h, k.p.pad_t, k.p.dil_h);
  k.p.OW = ref_conv_out(k.p.W, k.p.KW, k.p.stride_w, k.p.pad_l, k.p.dil_w);
  return k;
}

static void conv2d_cases(vkg_ctx *ctx) {
  static const int cases[][15] = {
      /* B  C   H   W   O  KH KW sh sw ph pw dh dw groups bias */
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0},
      {1, 2, 1, 1, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* only the centre tap sees data */
      {2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* odd 7x5 image */
      {3, 2, 8, 7, 3, 3, 2, 2, 2, 0, 1, 1, 1, 1, 1},  /* stride 2 leaves the last row unread */
      {2, 3, 8, 7, 5, 3, 2, 3, 3, 1, 0, 1, 1, 1, 0},  /* stride 3, rows and columns unread */
      {1, 2, 9, 7, 3, 3, 3, 1, 2, 2, 1, 2, 2, 1, 1},  /* dilation 2 */
      {2, 3, 7, 5, 8, 5, 3, 2, 1, 2, 1, 1, 2, 1, 1},  /* non-square kernel, mixed stride and dilation */
      {2, 3, 8, 8, 8, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1},  /* DCGAN-style downsampling */
      {2, 7, 5, 3, 13, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1}, /* 1x1 */
      {1, 3, 5, 5, 21, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0}, /* wide GEMM tiles (Og > 16) */
      {2, 4, 6, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},  /* groups 2, Og 3: direct kernel */
      {1, 4, 5, 5, 12, 3, 3, 2, 1, 1, 0, 1, 1, 2, 1}, /* groups 2, Og 6: GEMM */
      {2, 5, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5, 1},  /* depthwise */
      {1, 3, 9, 9, 6, 3, 3, 2, 2, 2, 2, 2, 2, 3, 0},  /* depthwise x2, stride and dilation 2 */
      {3, 4, 7, 7, 4, 2, 3, 3, 2, 2, 0, 2, 1, 4, 1},  /* depthwise, stride 3, pad 2 */
      {1, 2, 2, 3, 2, 5, 5, 1, 1, 2, 2, 1, 1, 1, 1},  /* kernel larger than the image */
      {2, 13, 4, 4, 7, 3, 3, 1, 1, 0, 1, 1, 1, 1, 1}, /* K = 117 weights per output channel */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check(ctx, conv2d_case(cases[i]), 0, 0);

  /* 2 x 128 x 128 pixels per weight: the weight gradient splits the pixels into chunks whose partial
   * sums a reduce adds. x (32768 values) is left out of the finite differences. */
  check(ctx, conv2d_case((const int[]){2, 2, 128, 128, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1}), 1, 0);
  /* A larger image with mixed strides and dilations, one chunk of 8880 pixels. */
  check(ctx, conv2d_case((const int[]){1, 3, 150, 120, 4, 3, 2, 2, 1, 0, 1, 1, 2, 1, 0}), 1, 0);
  /* 700 output channels, 5x5 taps: the input gradient sums its channels in two launches. w (17500
   * values) is left out of the finite differences. */
  check(ctx, conv2d_case((const int[]){1, 1, 5, 5, 700, 5, 5, 1, 1, 2, 2, 1, 1, 1, 1}), 0, 1);
}

// ---- conv_transpose2d ----

/* B C H W O KH KW sh sw ph pw dh dw oph opw groups bias */
static struct conv_case convt_case(const int *v) {
  struct conv_case k = {.op = CONVT2D, .bias = v[16], .out_pad_h = v[13], .out_pad_w = v[14]};
  k.p = (struct ref_conv){.B = v[0],
                          .C = v[1],
                          .H = v[2],
                          .W = v[3],
                          .O = v[4],
                          .KH = v[5],
                          .KW = v[6],
                          .stride_h = v[7],
                          .stride_w = v[8],
                          .pad_t = v[9],
                          .pad_l = v[10],
                          .dil_h = v[11],
                          .dil_w = v[12],
                          .groups = v[15]};
  k.p.OH = ref_conv_transpose_out(k.p.H, k.p.KH, k.p.stride_h, k.p.pad_t, k.p.dil_h, k.out_pad_h);
  k.p.OW = ref_conv_transpose_out(k.p.W, k.p.KW, k.p.stride_w, k.p.pad_l, k.p.dil_w, k.out_pad_w);
  return k;
}

static void convt_cases(vkg_ctx *ctx) {
  static const int cases[][17] = {
      /* B  C  H  W  O  KH KW sh sw ph pw dh dw oph opw groups bias */
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0},
      {2, 5, 1, 1, 4, 4, 4, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1},  /* DCGAN's first layer: 1x1 -> 4x4 */
      {2, 4, 4, 4, 3, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1},  /* DCGAN upsampling: 4x4 -> 8x8 */
      {1, 6, 7, 7, 2, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0, 1, 0},  /* DCGAN upsampling: 7x7 -> 14x14 */
      {2, 3, 5, 4, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1},  /* output padding */
      {1, 2, 3, 4, 3, 3, 2, 3, 3, 0, 1, 1, 1, 2, 1, 1, 0},  /* stride 3, output padding 2, non-square */
      {3, 2, 5, 3, 3, 2, 3, 1, 2, 1, 0, 2, 1, 1, 0, 1, 1},  /* output padding below the dilation */
      {2, 4, 3, 5, 6, 3, 3, 2, 1, 1, 0, 1, 1, 1, 0, 2, 1},  /* groups 2 */
      {1, 3, 4, 5, 3, 3, 3, 2, 2, 1, 1, 2, 2, 1, 1, 3, 1},  /* depthwise, dilation 2 */
      {1, 12, 3, 3, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 1}, /* input gradient via the conv2d GEMM */
      {2, 3, 7, 5, 5, 5, 3, 1, 1, 2, 1, 1, 1, 0, 0, 1, 1},  /* stride 1, 7x5 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check(ctx, convt_case(cases[i]), 0, 0);
  /* 8 x 64 x 64 input pixels per weight (the sum runs over the input here): the split weight
   * gradient. */
  check(ctx, convt_case((const int[]){8, 1, 64, 64, 2, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1}), 1, 0);
  /* 700 input channels, 5x5 taps: the forward sums its channels in two launches. */
  check(ctx, convt_case((const int[]){1, 700, 2, 2, 1, 5, 5, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1}), 0, 1);
}

/* The forward of that last case against the reference too: the gradient checks only see the
 * gradients, and the second launch must add to the first. */
static void convt_chunked_forward(vkg_ctx *ctx) {
  struct conv_case k = convt_case((const int[]){2, 700, 3, 2, 3, 5, 5, 1, 2, 1, 2, 1, 1, 0, 1, 1, 1});
  const struct ref_conv *p = &k.p;
  const char *what = "conv_transpose2d forward over 700 channels in two launches";
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  float *xh, *wh, *bh;
  vkg_t x = th_input(g, 4, (int[]){p->B, p->C, p->H, p->W}, -1, 1, &xh);
  vkg_t w = th_input(g, 4, (int[]){p->C, p->O, p->KH, p->KW}, -0.5f, 0.5f, &wh);
  vkg_t b = th_input(g, 1, (int[]){p->O}, -1, 1, &bh);
  struct gc_op op = {.user = &k};
  vkg_t y = conv_build(g, &op, (vkg_t[]){x, w, b});
  vkg_output(g, y);
  size_t n = (size_t)p->B * p->O * p->OH * p->OW;
  float *got = th_alloc(n), *ref = th_alloc(n);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), what) && th_ok(th_run(g), what) &&
      th_ok(vkg_graph_read(g, y, got, n), what)) {
    ref_conv_transpose2d(ref, xh, wh, bh, p->B, p->C, p->H, p->W, p->O, p->KH, p->KW, p->OH, p->OW, p->stride_h,
                         p->stride_w, p->pad_t, p->pad_l, p->dil_h, p->dil_w, p->groups);
    th_close(what, got, ref, n, 1e-4f, 1e-4f);
  }
  free(got);
  free(ref);
  vkg_graph_destroy(g);
}

// ---- conv1d ----

/* B C T O K stride pad dil groups causal bias */
static struct conv_case conv1d_case(const int *v) {
  struct conv_case k = {.op = CONV1D, .bias = v[10], .pad = v[6], .causal = v[9]};
  int T = v[2], K = v[4], stride = v[5], dil = v[7], span = dil * (K - 1) + 1;
  int pad_l = k.causal ? span - 1 : k.pad, pad_r = k.causal ? 0 : k.pad;
  k.p = (struct ref_conv){.B = v[0],
                          .C = v[1],
                          .H = 1,
                          .W = T,
                          .O = v[3],
                          .KH = 1,
                          .KW = K,
                          .OH = 1,
                          .OW = (T + pad_l + pad_r - span) / stride + 1,
                          .stride_h = 1,
                          .stride_w = stride,
                          .pad_t = 0,
                          .pad_l = pad_l,
                          .dil_h = 1,
                          .dil_w = dil,
                          .groups = v[8]};
  return k;
}

static void conv1d_cases(vkg_ctx *ctx) {
  static const int cases[][11] = {
      /* B  C   T  O  K  stride pad dil groups causal bias */
      {2, 3, 13, 4, 3, 1, 0, 1, 1, 1, 1}, /* causal, dilation 1, 2, 4 */
      {2, 3, 13, 4, 3, 1, 0, 2, 1, 1, 1}, {1, 3, 17, 5, 2, 1, 0, 4, 1, 1, 0},
      {2, 2, 29, 6, 3, 1, 0, 4, 1, 1, 1}, /* causal, Og 6: GEMM */
      {2, 4, 15, 3, 3, 2, 0, 2, 1, 1, 1}, /* causal, strided */
      {1, 6, 13, 9, 4, 2, 0, 2, 3, 1, 1}, /* causal, strided, grouped */
      {2, 4, 16, 4, 2, 1, 0, 4, 4, 1, 1}, /* causal depthwise, WaveNet-style */
      {1, 2, 3, 3, 5, 1, 0, 1, 1, 1, 1},  /* causal with the kernel longer than T */
      {3, 2, 13, 5, 4, 3, 1, 1, 1, 0, 1}, /* strided, the last steps unread */
      {2, 3, 7, 2, 3, 2, 2, 2, 1, 0, 0},  /* padded, dilated, strided */
      {1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check(ctx, conv1d_case(cases[i]), 0, 0);
  /* A long sequence: split weight gradient. */
  check(ctx, conv1d_case((const int[]){4, 2, 20000, 3, 3, 1, 0, 2, 1, 1, 1}), 1, 0);
}

// ---- in a network ----

/* conv2d -> tanh -> conv_transpose2d back to the input's shape, through a mean squared error against
 * a target, with w1, w2 and b2 trained and x frozen: the gradients flow through both convolutions
 * and the loss; checked against the chain rule on the host. */
static void chain(vkg_ctx *ctx) {
  const char *what = "conv2d -> tanh -> conv_transpose2d -> mse: gradient of w1";
  const int B = 2, C = 3, H = 9, W = 7, O = 4;
  struct ref_conv c1 = {B, C, H, W, O, 3, 3, 5, 4, 2, 2, 1, 1, 1, 1, 1};
  struct ref_conv c2 = {B, O, 5, 4, C, 3, 3, H, W, 2, 2, 1, 1, 1, 1, 1}; /* out_pad (0, 0) gives 9x7 */
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  float *xh, *w1h, *w2h, *b2h, *th;
  vkg_t x = th_input(g, 4, (int[]){B, C, H, W}, -1, 1, &xh);
  vkg_t t = th_input(g, 4, (int[]){B, C, H, W}, -1, 1, &th);
  vkg_t w1 = th_input(g, 4, (int[]){O, C, 3, 3}, -0.5f, 0.5f, &w1h);
  vkg_t w2 = th_input(g, 4, (int[]){O, C, 3, 3}, -0.5f, 0.5f, &w2h);
  vkg_t b2 = th_input(g, 1, (int[]){C}, -0.5f, 0.5f, &b2h);
  vkg_requires_grad(g, w1);
  vkg_requires_grad(g, w2);
  vkg_requires_grad(g, b2);
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  d.stride_h = d.stride_w = 2, d.pad_h = d.pad_w = 1;
  vkg_t h = vkg_unary(g, VKG_TANH, vkg_conv2d(g, x, w1, VKG_NONE, &d), 0, 0);
  vkg_t y = vkg_conv_transpose2d(g, h, w2, b2, &d);
  vkg_t loss = vkg_mse_loss(g, y, t);
  vkg_backward(g, loss);
  vkg_t gw1 = vkg_grad(g, w1);
  th_check(vkg_grad(g, x) == VKG_NONE, "frozen x gets no gradient");
  vkg_output(g, gw1);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), what) && th_ok(th_run(g), what)) {
    size_t nx = (size_t)B * C * H * W, nh = (size_t)B * O * 5 * 4, nw = (size_t)O * C * 9;
    double *xd = malloc(nx * sizeof *xd), *w1d = malloc(nw * sizeof *xd), *w2d = malloc(nw * sizeof *xd);
    double *b2d = malloc(C * sizeof *xd), *a = malloc(nh * sizeof *xd), *yd = malloc(nx * sizeof *xd);
    double *gy = malloc(nx * sizeof *xd), *gh = calloc(nh, sizeof *xd), *gw = calloc(nw, sizeof *xd);
    for (size_t i = 0; i < nx; i++)
      xd[i] = xh[i];
    for (size_t i = 0; i < nw; i++)
      w1d[i] = w1h[i], w2d[i] = w2h[i];
    for (int i = 0; i < C; i++)
      b2d[i] = b2h[i];
    ref_conv2d_f64(a, xd, w1d, NULL, &c1);
    for (size_t i = 0; i < nh; i++)
      a[i] = tanh(a[i]);
    ref_conv_transpose2d_f64(yd, a, w2d, b2d, &c2);
    for (size_t i = 0; i < nx; i++)
      gy[i] = 2 * (yd[i] - th[i]) / (double)nx;
    ref_conv_transpose2d_bwd(gh, NULL, NULL, gy, a, w2d, &c2);
    for (size_t i = 0; i < nh; i++)
      gh[i] *= 1 - a[i] * a[i];
    ref_conv2d_bwd(NULL, gw, NULL, gh, xd, w1d, &c1);
    float *got = th_alloc(nw), *ref = th_alloc(nw);
    for (size_t i = 0; i < nw; i++)
      ref[i] = (float)gw[i];
    if (th_ok(vkg_graph_read(g, gw1, got, nw), what)) th_close(what, got, ref, nw, 1e-7f, 1e-3f);
    free(got), free(ref), free(xd), free(w1d), free(w2d), free(b2d), free(a), free(yd), free(gy), free(gh), free(gw);
  }
  vkg_graph_destroy(g);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(11);
  conv2d_cases(ctx);
  convt_cases(ctx);
  convt_chunked_forward(ctx);
  conv1d_cases(ctx);
  chain(ctx);
  return th_finish(ctx);
}
