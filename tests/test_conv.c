/* conv2d, conv_transpose2d and conv1d against the plain-C references: awkward shapes, strides, padding,
 * dilation, groups (depthwise too), output padding, bias; conv1d causality; shape errors.
 * Shape letters: B batch, C input channels, O output channels, H W height width, K kernel, T time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "check/ref_conv.h"

static const float ATOL = 1e-5f, RTOL = 1e-4f;

/* A graph input with random host data in [lo, hi). The harness's th_input keeps a fixed number of
 * inputs per program, and this test makes many graphs, so it keeps its own. */
struct host_in {
  vkg_t t;
  float *data;
  size_t n;
};

static struct host_in input(vkg_graph *g, int ndim, const int *shape, float lo, float hi) {
  struct host_in in = {.n = 1};
  for (int i = 0; i < ndim; i++)
    in.n *= (size_t)shape[i];
  in.data = th_alloc(in.n);
  th_fill(in.data, in.n, lo, hi);
  in.t = vkg_input(g, "in", VKG_F32, ndim, shape);
  return in;
}

/* Compiles g, writes the inputs, runs, and reads n values of out into got; 1 on success. */
static int run(vkg_graph *g, const char *what, struct host_in *ins, int nin, vkg_t out, float *got, size_t n) {
  if (!th_ok(vkg_graph_compile(g), what)) return 0;
  for (int i = 0; i < nin; i++)
    if (ins[i].t != VKG_NONE && !th_ok(vkg_graph_write(g, ins[i].t, ins[i].data, ins[i].n), what)) return 0;
  return th_ok(th_run(g), what) && th_ok(vkg_graph_read(g, out, got, n), what);
}

// ---- conv2d ----

struct c2 {
  int B, C, H, W, O, KH, KW, sh, sw, ph, pw, dh, dw, groups, bias;
};

static void check_conv2d(vkg_ctx *ctx, struct c2 p) {
  char what[200];
  snprintf(what, sizeof what, "conv2d x(%d,%d,%d,%d) w(%d,%d,%d,%d) stride %d,%d pad %d,%d dil %d,%d groups %d bias %d",
           p.B, p.C, p.H, p.W, p.O, p.C / p.groups, p.KH, p.KW, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw, p.groups, p.bias);
  int OH = ref_conv_out(p.H, p.KH, p.sh, p.ph, p.dh), OW = ref_conv_out(p.W, p.KW, p.sw, p.pw, p.dw);
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int xs[4] = {p.B, p.C, p.H, p.W}, ws[4] = {p.O, p.C / p.groups, p.KH, p.KW}, bs[1] = {p.O};
  struct host_in in[3] = {input(g, 4, xs, -1, 1), input(g, 4, ws, -0.5f, 0.5f), {VKG_NONE, NULL, 0}};
  if (p.bias) in[2] = input(g, 1, bs, -1, 1);
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  d.stride_h = p.sh, d.stride_w = p.sw, d.pad_h = p.ph, d.pad_w = p.pw, d.dil_h = p.dh, d.dil_w = p.dw;
  d.groups = p.groups;
  vkg_t out = vkg_conv2d(g, in[0].t, in[1].t, in[2].t, &d);
  vkg_output(g, out);
  th_check(vkg_ndim(g, out) == 4 && vkg_dim(g, out, 0) == p.B && vkg_dim(g, out, 1) == p.O &&
               vkg_dim(g, out, 2) == OH && vkg_dim(g, out, 3) == OW,
           "%s: output shape (%d, %d, %d, %d)", what, p.B, p.O, OH, OW);
  size_t n = (size_t)p.B * p.O * OH * OW;
  float *got = th_alloc(n), *ref = th_alloc(n);
  if (run(g, what, in, 3, out, got, n)) {
    ref_conv2d(ref, in[0].data, in[1].data, in[2].data, p.B, p.C, p.H, p.W, p.O, p.KH, p.KW, OH, OW, p.sh, p.sw, p.ph,
               p.pw, p.dh, p.dw, p.groups);
    th_close(what, got, ref, n, ATOL, RTOL);
  }
  for (int i = 0; i < 3; i++)
    free(in[i].data);
  free(got);
  free(ref);
  vkg_graph_destroy(g);
}

static int pick(const int *v, int n) {
  int i = (int)th_uniform(0, (float)n);
  return v[i < n ? i : n - 1];
}

/* Random configurations from the awkward sizes, skipping those whose kernel does not fit. */
static void sweep_conv2d(vkg_ctx *ctx, int count) {
  static const int Bs[] = {1, 2, 3}, Cs[] = {1, 3, 7}, HWs[] = {1, 7, 13, 28}, Ks[] = {1, 3, 4, 5},
                   Os[] = {1, 2, 5, 8, 21};
  for (int done = 0; done < count;) {
    struct c2 p = {.B = pick(Bs, 3),
                   .C = pick(Cs, 3),
                   .H = pick(HWs, 4),
                   .W = pick(HWs, 4),
                   .O = pick(Os, 5),
                   .KH = pick(Ks, 4),
                   .sh = 1 + (int)th_uniform(0, 3),
                   .sw = 1 + (int)th_uniform(0, 3),
                   .ph = (int)th_uniform(0, 3),
                   .pw = (int)th_uniform(0, 3),
                   .dh = 1 + (int)th_uniform(0, 2),
                   .dw = 1 + (int)th_uniform(0, 2),
                   .bias = th_uniform(0, 1) < 0.5f};
    p.KW = th_uniform(0, 1) < 0.7f ? p.KH : pick(Ks, 4);
    /* Grouped: groups divide C; O becomes a multiple of groups. */
    p.groups = th_uniform(0, 1) < 0.35f && p.C > 1 ? p.C : 1;
    static const int mult[] = {1, 2, 3, 5, 8}; /* output channels per group: direct kernel up to 4, else GEMM */
    if (p.groups > 1) p.O = p.groups * pick(mult, 5);
    if (p.dh * (p.KH - 1) + 1 > p.H + 2 * p.ph || p.dw * (p.KW - 1) + 1 > p.W + 2 * p.pw) continue;
    check_conv2d(ctx, p);
    done++;
  }
}

// ---- conv_transpose2d ----

struct ct2 {
  int B, C, H, W, O, KH, KW, sh, sw, ph, pw, dh, dw, oph, opw, groups, bias;
};

static void check_conv_transpose2d(vkg_ctx *ctx, struct ct2 p) {
  char what[220];
  snprintf(what, sizeof what,
           "conv_transpose2d x(%d,%d,%d,%d) w(%d,%d,%d,%d) stride %d,%d pad %d,%d dil %d,%d out_pad %d,%d groups %d "
           "bias %d",
           p.B, p.C, p.H, p.W, p.C, p.O / p.groups, p.KH, p.KW, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw, p.oph, p.opw,
           p.groups, p.bias);
  int OH = ref_conv_transpose_out(p.H, p.KH, p.sh, p.ph, p.dh, p.oph);
  int OW = ref_conv_transpose_out(p.W, p.KW, p.sw, p.pw, p.dw, p.opw);
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int xs[4] = {p.B, p.C, p.H, p.W}, ws[4] = {p.C, p.O / p.groups, p.KH, p.KW}, bs[1] = {p.O};
  struct host_in in[3] = {input(g, 4, xs, -1, 1), input(g, 4, ws, -0.5f, 0.5f), {VKG_NONE, NULL, 0}};
  if (p.bias) in[2] = input(g, 1, bs, -1, 1);
  struct vkg_conv2d_desc d = {.stride_h = p.sh,
                              .stride_w = p.sw,
                              .pad_h = p.ph,
                              .pad_w = p.pw,
                              .dil_h = p.dh,
                              .dil_w = p.dw,
                              .out_pad_h = p.oph,
                              .out_pad_w = p.opw,
                              .groups = p.groups};
  vkg_t out = vkg_conv_transpose2d(g, in[0].t, in[1].t, in[2].t, &d);
  vkg_output(g, out);
  th_check(vkg_ndim(g, out) == 4 && vkg_dim(g, out, 0) == p.B && vkg_dim(g, out, 1) == p.O &&
               vkg_dim(g, out, 2) == OH && vkg_dim(g, out, 3) == OW,
           "%s: output shape (%d, %d, %d, %d)", what, p.B, p.O, OH, OW);
  size_t n = (size_t)p.B * p.O * OH * OW;
  float *got = th_alloc(n), *ref = th_alloc(n);
  if (run(g, what, in, 3, out, got, n)) {
    ref_conv_transpose2d(ref, in[0].data, in[1].data, in[2].data, p.B, p.C, p.H, p.W, p.O, p.KH, p.KW, OH, OW, p.sh,
                         p.sw, p.ph, p.pw, p.dh, p.dw, p.groups);
    th_close(what, got, ref, n, ATOL, RTOL);
  }
  for (int i = 0; i < 3; i++)
    free(in[i].data);
  free(got);
  free(ref);
  vkg_graph_destroy(g);
}

static void sweep_conv_transpose2d(vkg_ctx *ctx, int count) {
  static const int Bs[] = {1, 2, 3}, Cs[] = {1, 3, 7}, HWs[] = {1, 4, 7, 13}, Ks[] = {1, 3, 4, 5}, Os[] = {1, 2, 5, 8};
  for (int done = 0; done < count;) {
    struct ct2 p = {.B = pick(Bs, 3),
                    .C = pick(Cs, 3),
                    .H = pick(HWs, 4),
                    .W = pick(HWs, 4),
                    .O = pick(Os, 4),
                    .KH = pick(Ks, 4),
                    .sh = 1 + (int)th_uniform(0, 3),
                    .sw = 1 + (int)th_uniform(0, 3),
                    .ph = (int)th_uniform(0, 3),
                    .pw = (int)th_uniform(0, 3),
                    .dh = 1 + (int)th_uniform(0, 2),
                    .dw = 1 + (int)th_uniform(0, 2),
                    .bias = th_uniform(0, 1) < 0.5f};
    p.KW = th_uniform(0, 1) < 0.7f ? p.KH : pick(Ks, 4);
    /* Output padding below stride or dilation, as PyTorch allows. */
    int maxh = p.sh > p.dh ? p.sh : p.dh, maxw = p.sw > p.dw ? p.sw : p.dw;
    p.oph = (int)th_uniform(0, (float)maxh), p.opw = (int)th_uniform(0, (float)maxw);
    p.groups = th_uniform(0, 1) < 0.35f && p.C > 1 ? p.C : 1;
    if (p.groups > 1) p.O = p.groups * (1 + (int)th_uniform(0, 3));
    if (ref_conv_transpose_out(p.H, p.KH, p.sh, p.ph, p.dh, p.oph) < 1 ||
        ref_conv_transpose_out(p.W, p.KW, p.sw, p.pw, p.dw, p.opw) < 1)
      continue;
    check_conv_transpose2d(ctx, p);
    done++;
  }
}

// ---- conv1d ----

struct c1 {
  int B, C, T, O, K, stride, pad, dil, groups, causal, bias;
};

/* Output length and left padding of a conv1d. */
static void conv1d_geom(struct c1 p, int *OT, int *pad_l) {
  int span = p.dil * (p.K - 1) + 1;
  *pad_l = p.causal ? span - 1 : p.pad;
  int in_t = p.T + *pad_l + (p.causal ? 0 : p.pad);
  *OT = (in_t - span) / p.stride + 1;
}

static void check_conv1d(vkg_ctx *ctx, struct c1 p) {
  char what[200];
  snprintf(what, sizeof what, "conv1d x(%d,%d,%d) w(%d,%d,%d) stride %d pad %d dil %d groups %d causal %d bias %d", p.B,
           p.C, p.T, p.O, p.C / p.groups, p.K, p.stride, p.pad, p.dil, p.groups, p.causal, p.bias);
  int OT, pad_l;
  conv1d_geom(p, &OT, &pad_l);
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int xs[3] = {p.B, p.C, p.T}, ws[3] = {p.O, p.C / p.groups, p.K}, bs[1] = {p.O};
  struct host_in in[3] = {input(g, 3, xs, -1, 1), input(g, 3, ws, -0.5f, 0.5f), {VKG_NONE, NULL, 0}};
  if (p.bias) in[2] = input(g, 1, bs, -1, 1);
  vkg_t out = vkg_conv1d(g, in[0].t, in[1].t, in[2].t, p.stride, p.pad, p.dil, p.groups, p.causal);
  vkg_output(g, out);
  th_check(vkg_ndim(g, out) == 3 && vkg_dim(g, out, 0) == p.B && vkg_dim(g, out, 1) == p.O && vkg_dim(g, out, 2) == OT,
           "%s: output shape (%d, %d, %d)", what, p.B, p.O, OT);
  size_t n = (size_t)p.B * p.O * OT;
  float *got = th_alloc(n), *ref = th_alloc(n);
  if (run(g, what, in, 3, out, got, n)) {
    ref_conv2d(ref, in[0].data, in[1].data, in[2].data, p.B, p.C, 1, p.T, p.O, 1, p.K, 1, OT, 1, p.stride, 0, pad_l, 1,
               p.dil, p.groups);
    th_close(what, got, ref, n, ATOL, RTOL);
  }
  for (int i = 0; i < 3; i++)
    free(in[i].data);
  free(got);
  free(ref);
  vkg_graph_destroy(g);
}

/* Changing x at time t0 must leave every output before t0 bit-identical and change some output at or
 * after t0; the changed run must still match the reference. */
static void check_causality(vkg_ctx *ctx, int dil, int K, int stride, int O) {
  const int B = 2, C = 3, T = 29;
  struct c1 p = {B, C, T, O, K, stride, 0, dil, 1, 1, 1};
  int OT, pad_l;
  conv1d_geom(p, &OT, &pad_l);
  char what[120];
  snprintf(what, sizeof what, "conv1d causal dil %d K %d stride %d O %d", dil, K, stride, O);
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int xs[3] = {B, C, T}, ws[3] = {O, C, K}, bs[1] = {O};
  struct host_in in[3] = {input(g, 3, xs, -1, 1), input(g, 3, ws, -0.5f, 0.5f), input(g, 1, bs, -1, 1)};
  vkg_t out = vkg_conv1d(g, in[0].t, in[1].t, in[2].t, stride, 7 /* ignored when causal */, dil, 1, 1);
  vkg_output(g, out);
  th_check(vkg_dim(g, out, 2) == OT && (stride != 1 || OT == T), "%s: output length %d (T = %d)", what,
           vkg_dim(g, out, 2), T);
  size_t n = (size_t)B * O * OT;
  float *y0 = th_alloc(n), *y1 = th_alloc(n), *ref = th_alloc(n);
  if (run(g, what, in, 3, out, y0, n)) {
    static const int t0s[] = {0, 1, 13, 28};
    for (int i = 0; i < 4; i++) {
      int t0 = t0s[i];
      /* Change every channel of every batch at time t0 only. */
      for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
          in[0].data[((size_t)b * C + c) * T + t0] += 1.5f;
      char w2[160];
      snprintf(w2, sizeof w2, "%s, x changed at t = %d", what, t0);
      if (!run(g, w2, in, 3, out, y1, n)) break;
      int before_same = 1, after_changed = 0;
      for (int b = 0; b < B; b++)
        for (int o = 0; o < O; o++)
          for (int t = 0; t < OT; t++) {
            size_t k = ((size_t)b * O + o) * OT + t;
            /* Output t reads inputs up to t*stride. */
            if (t * stride < t0 && memcmp(&y0[k], &y1[k], sizeof(float)) != 0) before_same = 0;
            if (t * stride >= t0 && y0[k] != y1[k]) after_changed = 1;
          }
      int reaches = 0; /* whether some output position sees t0 at all */
      for (int t = 0; t < OT; t++)
        if (t * stride >= t0 && t * stride - dil * (K - 1) <= t0 && (t * stride - t0) % dil == 0) reaches = 1;
      th_check(before_same && (after_changed || !reaches), "%s: outputs before t0 unchanged, later ones changed", w2);
      ref_conv2d(ref, in[0].data, in[1].data, in[2].data, B, C, 1, T, O, 1, K, 1, OT, 1, stride, 0, pad_l, 1, dil, 1);
      th_close(w2, y1, ref, n, ATOL, RTOL);
      memcpy(y0, y1, n * sizeof(float));
    }
  }
  for (int i = 0; i < 3; i++)
    free(in[i].data);
  free(y0);
  free(y1);
  free(ref);
  vkg_graph_destroy(g);
}

// ---- ops chained in one graph ----

/* conv2d then conv_transpose2d (an encoder-decoder step). 59 unused tensors come first so that the
 * transposed conv's output is the graph's 65th tensor: making it grows the tensor array (64 at first)
 * under the launcher, which must not keep using pointers into the old one (ASan builds catch that). */
static void check_chain(vkg_ctx *ctx) {
  const char *what = "conv2d -> conv_transpose2d chain";
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int one[1] = {1};
  for (int i = 0; i < 59; i++)
    vkg_input(g, "pad", VKG_F32, 1, one);
  int xs[4] = {2, 3, 9, 9}, w1s[4] = {8, 3, 3, 3}, w2s[4] = {8, 4, 4, 4}, b2s[1] = {4};
  struct host_in in[4] = {input(g, 4, xs, -1, 1), input(g, 4, w1s, -0.5f, 0.5f), input(g, 4, w2s, -0.5f, 0.5f),
                          input(g, 1, b2s, -1, 1)};
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  d.stride_h = d.stride_w = 2, d.pad_h = d.pad_w = 1;
  vkg_t h = vkg_conv2d(g, in[0].t, in[1].t, VKG_NONE, &d);
  vkg_t y = vkg_conv_transpose2d(g, h, in[2].t, in[3].t, &d);
  vkg_output(g, y);
  size_t nh = 2 * 8 * 5 * 5, ny = 2 * 4 * 10 * 10;
  float *hr = th_alloc(nh), *got = th_alloc(ny), *ref = th_alloc(ny);
  if (th_check(vkg_dim(g, y, 2) == 10 && vkg_dim(g, y, 3) == 10, "%s: output (2, 4, 10, 10)", what) &&
      run(g, what, in, 4, y, got, ny)) {
    ref_conv2d(hr, in[0].data, in[1].data, NULL, 2, 3, 9, 9, 8, 3, 3, 5, 5, 2, 2, 1, 1, 1, 1, 1);
    ref_conv_transpose2d(ref, hr, in[2].data, in[3].data, 2, 8, 5, 5, 4, 4, 4, 10, 10, 2, 2, 1, 1, 1, 1, 1);
    th_close(what, got, ref, ny, ATOL, RTOL);
  }
  for (int i = 0; i < 4; i++)
    free(in[i].data);
  free(hr);
  free(got);
  free(ref);
  vkg_graph_destroy(g);
}

// ---- shape errors ----

enum which { CONV2D, CONVT2D, CONV1D };

/* Builds one op on inputs of the given shapes and expects vkg_graph_compile to fail with status want
 * and a message holding needle. */
static void check_error(vkg_ctx *ctx, enum which op, int xnd, const int *xs, int wnd, const int *ws, int bias_n,
                        struct vkg_conv2d_desc d, int causal, vkg_status want, const char *needle) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t x = vkg_input(g, "x", VKG_F32, xnd, xs), w = vkg_input(g, "w", VKG_F32, wnd, ws), b = VKG_NONE;
  if (bias_n) b = vkg_input(g, "b", VKG_F32, 1, &bias_n);
  vkg_t out = op == CONV2D    ? vkg_conv2d(g, x, w, b, &d)
              : op == CONVT2D ? vkg_conv_transpose2d(g, x, w, b, &d)
                              : vkg_conv1d(g, x, w, b, d.stride_w, d.pad_w, d.dil_w, d.groups, causal);
  /* An op given VKG_NONE passes the failure on. */
  vkg_t next = vkg_conv2d(g, out, w, VKG_NONE, NULL);
  vkg_status s = vkg_graph_compile(g);
  const char *msg = vkg_last_error();
  th_check(out == VKG_NONE && next == VKG_NONE && s == want && strstr(msg, needle) != NULL,
           "error %s (want %s with \"%s\"): %s", vkg_status_str(s), vkg_status_str(want), needle, msg);
  vkg_graph_destroy(g);
}

static void check_errors(vkg_ctx *ctx) {
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  {
    int xs[4] = {1, 3, 8, 8}, ws[4] = {4, 2, 3, 3};
    check_error(ctx, CONV2D, 4, xs, 4, ws, 0, d, 0, VKG_ERR_SHAPE, "input channels per group");
  }
  {
    int xs[4] = {1, 6, 8, 8}, ws[4] = {4, 1, 3, 3};
    d.groups = 4;
    check_error(ctx, CONV2D, 4, xs, 4, ws, 0, d, 0, VKG_ERR_SHAPE, "do not split into 4 groups");
    int ws2[4] = {4, 2, 3, 3};
    d.groups = 3;
    check_error(ctx, CONV2D, 4, xs, 4, ws2, 0, d, 0, VKG_ERR_SHAPE, "O = 4 output channels do not split");
    d.groups = 1;
  }
  {
    int xs[4] = {1, 3, 4, 4}, ws[4] = {2, 3, 7, 7};
    d.pad_h = d.pad_w = 1;
    check_error(ctx, CONV2D, 4, xs, 4, ws, 0, d, 0, VKG_ERR_SHAPE, "larger than the padded input 6x6");
    int ws2[4] = {2, 3, 3, 3};
    d.pad_h = d.pad_w = 0, d.dil_w = 3;
    check_error(ctx, CONV2D, 4, xs, 4, ws2, 0, d, 0, VKG_ERR_SHAPE, "spans 3x7");
    d = vkg_conv2d_desc_default();
    check_error(ctx, CONV2D, 4, xs, 4, ws2, 3, d, 0, VKG_ERR_SHAPE, "bias (3,) must hold one value per output");
    check_error(ctx, CONV2D, 3, xs, 4, ws2, 0, d, 0, VKG_ERR_SHAPE, "must be (B, C, H, W)");
    d.stride_h = 0;
    check_error(ctx, CONV2D, 4, xs, 4, ws2, 0, d, 0, VKG_ERR_ARG, "must be >= 1");
    d = vkg_conv2d_desc_default();
  }
  {
    int xs[4] = {1, 4, 5, 5}, ws[4] = {3, 2, 3, 3};
    check_error(ctx, CONVT2D, 4, xs, 4, ws, 0, d, 0, VKG_ERR_SHAPE, "must start with the C = 4 input channels");
    int ws2[4] = {4, 2, 3, 3};
    d.groups = 3;
    check_error(ctx, CONVT2D, 4, xs, 4, ws2, 0, d, 0, VKG_ERR_SHAPE, "do not split into 3 groups");
    d.groups = 2;
    check_error(ctx, CONVT2D, 4, xs, 4, ws2, 3, d, 0, VKG_ERR_SHAPE, "O = 4");
    d.groups = 1, d.stride_h = 2, d.out_pad_h = 2;
    check_error(ctx, CONVT2D, 4, xs, 4, ws2, 0, d, 0, VKG_ERR_ARG, "smaller than either stride");
    d = vkg_conv2d_desc_default();
    d.pad_h = 4;
    check_error(ctx, CONVT2D, 4, xs, 4, ws2, 0, d, 0, VKG_ERR_SHAPE, "give an output of -1x7");
    d = vkg_conv2d_desc_default();
  }
  {
    int xs[3] = {2, 4, 3}, ws[3] = {5, 3, 2};
    check_error(ctx, CONV1D, 3, xs, 3, ws, 0, d, 0, VKG_ERR_SHAPE, "input channels per group");
    int ws2[3] = {5, 4, 5};
    check_error(ctx, CONV1D, 3, xs, 3, ws2, 0, d, 0, VKG_ERR_SHAPE, "longer than the padded input");
    /* Causal padding always fits the kernel. */
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    vkg_t x = vkg_input(g, "x", VKG_F32, 3, xs), w = vkg_input(g, "w", VKG_F32, 3, ws2);
    vkg_t out = vkg_conv1d(g, x, w, VKG_NONE, 1, 0, 1, 1, 1);
    th_check(out != VKG_NONE && vkg_graph_compile(g) == VKG_OK && vkg_dim(g, out, 2) == 3,
             "conv1d causal K 5 on T 3 gives T outputs: %s", vkg_last_error());
    vkg_graph_destroy(g);
    int ws3[3] = {5, 2, 1};
    d.groups = 3;
    check_error(ctx, CONV1D, 3, xs, 3, ws3, 0, d, 0, VKG_ERR_SHAPE, "do not split into 3 groups");
    check_error(ctx, CONV1D, 4, (int[]){2, 4, 3, 1}, 3, ws3, 0, d, 0, VKG_ERR_SHAPE, "must be (B, C, T)");
    d = vkg_conv2d_desc_default();
  }
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(7);

  struct vkg_conv2d_desc dd = vkg_conv2d_desc_default();
  th_check(dd.stride_h == 1 && dd.stride_w == 1 && dd.pad_h == 0 && dd.pad_w == 0 && dd.dil_h == 1 && dd.dil_w == 1 &&
               dd.out_pad_h == 0 && dd.out_pad_w == 0 && dd.groups == 1,
           "vkg_conv2d_desc_default: stride 1, pad 0, dilation 1, out_pad 0, groups 1");

  /* conv2d: hand-picked edges, then a random sweep. */
  static const struct c2 c2s[] = {
      /* B  C   H   W   O  KH KW sh sw ph pw dh dw groups bias */
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0},
      {1, 1, 1, 1, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* only the centre tap sees data */
      {2, 3, 7, 13, 5, 3, 1, 1, 2, 1, 0, 1, 1, 1, 1}, /* non-square everything */
      {3, 7, 13, 7, 4, 1, 5, 3, 1, 0, 2, 1, 2, 1, 0},
      {1, 3, 28, 28, 8, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1}, /* DCGAN-style downsampling */
      {2, 7, 13, 13, 7, 3, 3, 1, 1, 2, 2, 2, 2, 7, 1}, /* depthwise, dilated */
      {1, 6, 9, 11, 12, 3, 3, 2, 1, 1, 1, 1, 1, 3, 0}, /* groups 3, channel multiplier 4 (direct) */
      {2, 6, 9, 11, 18, 3, 3, 1, 2, 1, 0, 2, 1, 3, 1}, /* groups 3, channel multiplier 6 (GEMM) */
      {2, 8, 7, 7, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  /* two tiles of output channels */
      {1, 10, 5, 5, 40, 5, 5, 1, 1, 2, 2, 1, 1, 2, 1}, /* 20 channels per group, K = 125 */
      {3, 5, 13, 28, 17, 5, 3, 3, 2, 0, 1, 2, 1, 1, 0},
      {1, 16, 4, 4, 16, 3, 3, 1, 1, 1, 1, 1, 1, 16, 1},  /* depthwise, 16 groups */
      {2, 32, 28, 28, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, /* larger: 2 x 64 x 784 outputs, K = 288 */
      {4, 1, 28, 28, 3, 5, 5, 1, 1, 2, 2, 1, 1, 1, 1},   /* many pixel tiles, few channels */
  };
  for (size_t i = 0; i < sizeof c2s / sizeof c2s[0]; i++)
    check_conv2d(ctx, c2s[i]);
  check_conv2d(ctx, (struct c2){1, 3, 8, 8, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1, 1});
  sweep_conv2d(ctx, 150);

  /* conv2d with a NULL desc means the defaults. */
  {
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    int xs[4] = {1, 2, 5, 6}, ws[4] = {3, 2, 2, 3};
    struct host_in in[2] = {input(g, 4, xs, -1, 1), input(g, 4, ws, -1, 1)};
    vkg_t out = vkg_conv2d(g, in[0].t, in[1].t, VKG_NONE, NULL);
    vkg_output(g, out);
    float got[3 * 4 * 4], ref[3 * 4 * 4];
    if (run(g, "conv2d with NULL desc", in, 2, out, got, 48)) {
      ref_conv2d(ref, in[0].data, in[1].data, NULL, 1, 2, 5, 6, 3, 2, 3, 4, 4, 1, 1, 0, 0, 1, 1, 1);
      th_close("conv2d with NULL desc", got, ref, 48, ATOL, RTOL);
    }
    free(in[0].data);
    free(in[1].data);
    vkg_graph_destroy(g);
  }

  /* conv_transpose2d */
  static const struct ct2 ct2s[] = {
      /* B  C  H  W   O  KH KW sh sw ph pw dh dw oph opw groups bias */
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0},
      {1, 3, 1, 1, 8, 4, 4, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1},   /* DCGAN's first layer: 1x1 -> 4x4 */
      {2, 8, 4, 4, 3, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1},   /* DCGAN upsampling: 4x4 -> 8x8 */
      {2, 7, 7, 13, 5, 3, 3, 2, 3, 1, 0, 1, 1, 1, 2, 1, 0},  /* output padding */
      {1, 6, 5, 7, 9, 3, 5, 3, 2, 2, 1, 2, 1, 2, 1, 3, 1},   /* groups 3, dilation, both paddings */
      {3, 4, 6, 6, 4, 3, 3, 2, 2, 1, 1, 2, 2, 1, 1, 4, 1},   /* depthwise, out_pad < dilation */
      {1, 3, 13, 13, 2, 5, 1, 1, 1, 2, 0, 1, 1, 0, 0, 1, 0}, /* stride 1 */
      {1, 2, 3, 3, 2, 2, 2, 3, 3, 0, 0, 2, 2, 1, 0, 1, 1},   /* out_pad 1, stride 3 and dilation 2 */
      {2, 16, 7, 7, 24, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1}, /* larger: 7x7 -> 14x14 */
      {1, 2, 2, 2, 3, 2, 2, 1, 1, 0, 0, 1, 3, 0, 2, 1, 0},   /* out_pad 2 < dilation 3, stride 1 */
  };
  for (size_t i = 0; i < sizeof ct2s / sizeof ct2s[0]; i++)
    check_conv_transpose2d(ctx, ct2s[i]);
  sweep_conv_transpose2d(ctx, 100);

  /* conv1d */
  static const struct c1 c1s[] = {
      /* B  C   T   O  K  stride pad dil groups causal bias */
      {1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0},     {2, 3, 13, 5, 3, 1, 1, 1, 1, 0, 1}, {3, 7, 28, 4, 5, 2, 2, 2, 1, 0, 1},
      {1, 4, 127, 8, 4, 3, 0, 1, 2, 0, 0},   {2, 6, 13, 6, 3, 1, 2, 2, 6, 0, 1}, /* depthwise */
      {1, 1, 7, 1, 5, 1, 0, 1, 1, 1, 0}, /* causal, K > T would not fit without the left padding */
      {2, 3, 29, 5, 2, 1, 0, 1, 1, 1, 1},    {2, 3, 29, 5, 3, 1, 0, 2, 1, 1, 1}, {2, 3, 29, 5, 3, 1, 0, 4, 1, 1, 0},
      {1, 8, 64, 8, 2, 1, 0, 4, 8, 1, 1},    /* causal depthwise, WaveNet-style */
      {3, 6, 31, 9, 4, 2, 0, 2, 3, 1, 1},    /* causal, strided, grouped */
      {2, 32, 300, 48, 3, 1, 0, 2, 1, 1, 1}, /* larger */
  };
  for (size_t i = 0; i < sizeof c1s / sizeof c1s[0]; i++)
    check_conv1d(ctx, c1s[i]);
  static const int dils[] = {1, 2, 4};
  for (int i = 0; i < 3; i++) {
    /* O = 5 takes the implicit GEMM, O = 3 the direct kernel. */
    check_causality(ctx, dils[i], 3, 1, 5);
    check_causality(ctx, dils[i], 3, 1, 3);
    check_causality(ctx, dils[i], 2, 2, 5);
  }

  check_chain(ctx);
  check_errors(ctx);
  return th_finish(ctx);
}
