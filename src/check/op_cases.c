/* The op-case table (see op_cases.h): for each op, its test shapes and bench sizes (make), how it is
 * built on a graph (build), and its reference (fwd, bwd) from the ref_*.c files of this directory.
 * Shape letters as in vkgen.h; p[] and f[] are each op's attributes, named at the top of its section. */
#include "op_cases.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_basic.h"
#include "ref_conv.h"
#include "ref_nn.h"
#include "ref_random.h"
#include "ref_shape.h"

// ---- helpers for the entries ----

static void label(struct opc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void label(struct opc *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->label, sizeof c->label, fmt, ap);
  va_end(ap);
}

/* Adds an input of ndim dims (the sizes follow) with values in [lo, hi). */
static struct opc_input *add_in(struct opc *c, vkg_dtype dt, float lo, float hi, int ndim, ...) {
  struct opc_input *in = &c->in[c->nin++];
  in->dtype = dt, in->lo = lo, in->hi = hi, in->ndim = ndim;
  va_list ap;
  va_start(ap, ndim);
  for (int i = 0; i < ndim; i++)
    in->shape[i] = va_arg(ap, int);
  va_end(ap);
  return in;
}

size_t opc_numel(const struct opc_input *in) {
  size_t n = 1;
  for (int i = 0; i < in->ndim; i++)
    n *= (size_t)in->shape[i];
  return n;
}

/* Scratch arrays for references that take floats or raw words: freed by the caller. */
static float *to_f(const double *x, size_t n) {
  float *f = malloc((n ? n : 1) * sizeof(float));
  if (!f) abort();
  for (size_t i = 0; i < n; i++)
    f[i] = x ? (float)x[i] : 0.0f;
  return f;
}
static void from_f(double *y, const float *f, size_t n) {
  for (size_t i = 0; i < n; i++)
    y[i] = f[i];
}

/* Sets c->p from row k of the op's test table t, or to the bench row given after it when size > 0.
 * Returns 0 when there is no row k. */
static int pick(struct opc *c, int k, int size, const int *rows, int n, int cols, const int *bench) {
  if (!size && k >= n) return 0;
  memcpy(c->p, size ? bench : rows + (size_t)k * cols, sizeof(int) * (size_t)cols);
  return 1;
}
#define PICK(c, k, size, t, ...)                                                                                       \
  pick(c, k, size, &t[0][0], (int)(sizeof t / sizeof t[0]), (int)(sizeof t[0] / sizeof t[0][0]),                       \
       (const int[sizeof t[0] / sizeof t[0][0]]){__VA_ARGS__})

// ---- matmul: p = {batch, M, K, N, flags, bias, a_batched, b_batched} ----

static int matmul_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const int t[][8] = {{1, 1, 1, 1, 0, 0, 0, 0},
                             {1, 7, 13, 5, 0, 1, 0, 0},
                             {1, 33, 65, 17, VKG_TRANS_A, 0, 0, 0},
                             {1, 31, 17, 129, VKG_TRANS_B, 1, 0, 0},
                             {1, 127, 3, 67, VKG_TRANS_A | VKG_TRANS_B, 1, 0, 0},
                             {3, 13, 7, 11, 0, 1, 1, 0},
                             {2, 5, 9, 7, VKG_TRANS_B, 0, 1, 1}};
  if (!PICK(c, k, size, t, 1, size, size, size, 0, 0, 0, 0)) return 0;
  int B = c->p[0], M = c->p[1], K = c->p[2], N = c->p[3], ta = (c->p[4] & VKG_TRANS_A) != 0,
      tb = (c->p[4] & VKG_TRANS_B) != 0;
  if (c->p[6])
    add_in(c, VKG_F32, -1, 1, 3, B, ta ? K : M, ta ? M : K);
  else
    add_in(c, VKG_F32, -1, 1, 2, ta ? K : M, ta ? M : K);
  if (c->p[7])
    add_in(c, VKG_F32, -1, 1, 3, B, tb ? N : K, tb ? K : N);
  else
    add_in(c, VKG_F32, -1, 1, 2, tb ? N : K, tb ? K : N);
  if (c->p[5]) add_in(c, VKG_F32, -1, 1, 1, N);
  char batch[48] = "";
  if (B > 1)
    snprintf(batch, sizeof batch, "batch %d%s%s: ", B, c->p[6] ? "" : " (a shared)", c->p[7] ? "" : " (b shared)");
  label(c, "%s%dx%d @ %dx%d%s%s%s", batch, M, K, K, N, c->p[5] ? " +bias" : "", ta ? " transA" : "",
        tb ? " transB" : "");
  c->atol = 1e-5, c->rtol = 1e-4;
  c->flops = 2.0 * B * M * N * K;
  c->bytes = 4.0 * ((double)M * K + (double)K * N + (double)B * M * N);
  return 1;
}
static vkg_t matmul_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  return vkg_matmul(g, in[0], in[1], c->p[5] ? in[2] : VKG_NONE, (unsigned)c->p[4]);
}
static int mm_batch(const struct opc *c) { return c->p[6] || c->p[7] ? c->p[0] : 1; }
static void matmul_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  ref_matmul_d(y, in[0], in[1], c->p[5] ? in[2] : NULL, mm_batch(c), c->p[1], c->p[3], c->p[2],
               (c->p[4] & VKG_TRANS_A) != 0, (c->p[4] & VKG_TRANS_B) != 0, c->p[6], c->p[7]);
}
static void matmul_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  ref_matmul_bwd(gin[0], gin[1], c->p[5] ? gin[2] : NULL, in[0], in[1], gy, mm_batch(c), c->p[1], c->p[3], c->p[2],
                 (c->p[4] & VKG_TRANS_A) != 0, (c->p[4] & VKG_TRANS_B) != 0, c->p[6], c->p[7]);
}

// ---- unary: p = {op}, f = {alpha, beta}; x is in[0] ----

static const char *const unop_names[] = {"relu",    "leaky_relu", "gelu",     "gelu_tanh", "tanh",
                                         "sigmoid", "silu",       "softplus", "exp",       "log",
                                         "neg",     "abs",        "sqrt",     "square",    "affine"};
_Static_assert(sizeof unop_names / sizeof unop_names[0] == VKG_UNOP_COUNT, "a name for every unary op");

static int unary_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  /* Every op on (7, 13), then GELU on a length that is not a multiple of any workgroup size. */
  int op = size ? VKG_GELU : k < VKG_UNOP_COUNT ? k : VKG_GELU;
  if (!size && k > VKG_UNOP_COUNT) return 0;
  int positive = op == VKG_LOG || op == VKG_SQRT;
  float lo = positive ? 0.2f : -3, hi = 3;
  if (size)
    add_in(c, VKG_F32, lo, hi, 1, size);
  else if (k < VKG_UNOP_COUNT)
    add_in(c, VKG_F32, lo, hi, 2, 7, 13);
  else
    add_in(c, VKG_F32, lo, hi, 1, 4099);
  c->p[0] = op;
  c->f[0] = op == VKG_LEAKY_RELU ? 0.1f : 1.5f, c->f[1] = -0.5f;
  label(c, "%s (%zu)", unop_names[op], opc_numel(&c->in[0]));
  c->atol = 2e-6, c->rtol = 2e-5;
  c->bytes = 2.0 * 4 * (double)opc_numel(&c->in[0]);
  return 1;
}
static vkg_t unary_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  return vkg_unary(g, (vkg_unop)c->p[0], in[0], c->f[0], c->f[1]);
}
static void unary_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  for (size_t i = 0; i < n; i++)
    y[i] = ref_unop_d((vkg_unop)c->p[0], in[0][i], c->f[0], c->f[1]);
}
static void unary_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  for (size_t i = 0; i < n; i++)
    gin[0][i] += gy[i] * ref_unop_grad((vkg_unop)c->p[0], in[0][i], c->f[0]);
}

// ---- binary, broadcasting: p = {op}; a, b are in[0], in[1] ----

static int binary_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const char *names[] = {"add", "sub", "mul", "div", "maximum", "minimum", "pow"};
  int nops = VKG_POW + 1;
  /* Inputs in [0.5, 2) keep div and pow smooth. */
  if (size) {
    c->p[0] = VKG_ADD;
    add_in(c, VKG_F32, 0.5f, 2, 1, size);
    add_in(c, VKG_F32, 0.5f, 2, 1, size);
  } else if (k < nops) { /* every op on a (3, 1, 37) and b (5, 37) broadcast to (3, 5, 37) */
    c->p[0] = k;
    add_in(c, VKG_F32, 0.5f, 2, 3, 3, 1, 37);
    add_in(c, VKG_F32, 0.5f, 2, 2, 5, 37);
  } else if (k == nops) { /* a scalar-like operand on the left */
    c->p[0] = VKG_MUL;
    add_in(c, VKG_F32, 0.5f, 2, 1, 1);
    add_in(c, VKG_F32, 0.5f, 2, 2, 7, 13);
  } else if (k == nops + 1) { /* both operands broadcast */
    c->p[0] = VKG_SUB;
    add_in(c, VKG_F32, 0.5f, 2, 2, 13, 1);
    add_in(c, VKG_F32, 0.5f, 2, 3, 2, 1, 127);
  } else
    return 0;
  char a[32] = "", b[32] = "";
  for (int i = 0; i < c->in[0].ndim; i++)
    snprintf(a + strlen(a), sizeof a - strlen(a), "%s%d", i ? "," : "", c->in[0].shape[i]);
  for (int i = 0; i < c->in[1].ndim; i++)
    snprintf(b + strlen(b), sizeof b - strlen(b), "%s%d", i ? "," : "", c->in[1].shape[i]);
  label(c, "%s (%s) . (%s)", names[c->p[0]], a, b);
  c->atol = 1e-6, c->rtol = 1e-5;
  size_t na = opc_numel(&c->in[0]), nb = opc_numel(&c->in[1]), no = na > nb ? na : nb;
  c->bytes = 4.0 * (double)(na + nb + no);
  return 1;
}
static vkg_t binary_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  return vkg_binary(g, (vkg_binop)c->p[0], in[0], in[1]);
}
static void binary_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  int os[VKG_MAX_DIMS];
  ref_binary_d((vkg_binop)c->p[0], y, os, in[0], c->in[0].shape, c->in[0].ndim, in[1], c->in[1].shape, c->in[1].ndim);
}
static void binary_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  ref_binary_bwd((vkg_binop)c->p[0], gin[0], gin[1], in[0], c->in[0].shape, c->in[0].ndim, in[1], c->in[1].shape,
                 c->in[1].ndim, gy);
}

// ---- conv2d and conv_transpose2d: p = {B, C, H, W, O, K, stride, pad, dilation, groups, out_pad, bias} ----
// conv2d: x (B, C, H, W), w (O, C/groups, K, K); conv_transpose2d: w (C, O/groups, K, K), out_pad

static void conv_bytes(struct opc *c, size_t out_n) {
  double n = (double)out_n;
  for (int i = 0; i < c->nin; i++)
    n += (double)opc_numel(&c->in[i]);
  c->bytes = 4.0 * n;
}

static struct ref_conv conv_geom(const struct opc *c, int transposed) {
  const int *p = c->p;
  struct ref_conv r = {.B = p[0], .C = p[1], .H = p[2], .W = p[3], .O = p[4], .KH = p[5], .KW = p[5]};
  r.stride_h = r.stride_w = p[6], r.pad_t = r.pad_l = p[7], r.dil_h = r.dil_w = p[8], r.groups = p[9];
  if (transposed) {
    r.OH = ref_conv_transpose_out(r.H, r.KH, r.stride_h, r.pad_t, r.dil_h, p[10]);
    r.OW = ref_conv_transpose_out(r.W, r.KW, r.stride_w, r.pad_l, r.dil_w, p[10]);
  } else {
    r.OH = ref_conv_out(r.H, r.KH, r.stride_h, r.pad_t, r.dil_h);
    r.OW = ref_conv_out(r.W, r.KW, r.stride_w, r.pad_l, r.dil_w);
  }
  return r;
}

/* The inputs, label, tolerances and cost of a case whose p is set. */
static int conv_case(struct opc *c, int transposed) {
  struct ref_conv r = conv_geom(c, transposed);
  int wo = transposed ? r.C : r.O, wi = transposed ? r.O / r.groups : r.C / r.groups;
  add_in(c, VKG_F32, -1, 1, 4, r.B, r.C, r.H, r.W);
  add_in(c, VKG_F32, -0.5f, 0.5f, 4, wo, wi, r.KH, r.KW);
  if (c->p[11]) add_in(c, VKG_F32, -1, 1, 1, r.O);
  char op[16] = "";
  if (c->p[10]) snprintf(op, sizeof op, " op%d", c->p[10]);
  label(c, "x(%d,%d,%d,%d) w(%d,%d,%d,%d) s%d p%d d%d g%d%s%s -> %dx%d", r.B, r.C, r.H, r.W, wo, wi, r.KH, r.KW,
        r.stride_h, r.pad_t, r.dil_h, r.groups, op, c->p[11] ? " +bias" : "", r.OH, r.OW);
  c->atol = 1e-5, c->rtol = 1e-4, c->fd_eps = 1e-3;
  /* A multiply-add per tap: per output for conv2d, per input for the transposed one. */
  c->flops = 2.0 * r.B *
             (transposed ? (double)r.C * r.H * r.W * (r.O / r.groups) : (double)r.O * r.OH * r.OW * (r.C / r.groups)) *
             r.KH * r.KW;
  conv_bytes(c, (size_t)r.B * r.O * r.OH * r.OW);
  return 1;
}

static struct vkg_conv2d_desc conv_desc(const struct opc *c) {
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  d.stride_h = d.stride_w = c->p[6];
  d.pad_h = d.pad_w = c->p[7];
  d.dil_h = d.dil_w = c->p[8];
  d.groups = c->p[9];
  d.out_pad_h = d.out_pad_w = c->p[10];
  return d;
}

static int conv2d_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const int t[][12] = {{1, 1, 5, 5, 1, 3, 1, 0, 1, 1, 0, 0},  {2, 3, 13, 11, 5, 3, 2, 1, 1, 1, 0, 1},
                              {2, 4, 9, 9, 6, 3, 1, 2, 2, 2, 0, 1},  {1, 7, 8, 7, 3, 1, 1, 0, 1, 1, 0, 1},
                              {2, 6, 7, 13, 6, 3, 1, 1, 1, 6, 0, 1}, {1, 3, 28, 28, 65, 4, 2, 1, 1, 1, 0, 1}};
  return PICK(c, k, size, t, size, 64, 28, 28, 64, 3, 1, 1, 1, 1, 0, 0) && conv_case(c, 0);
}
static vkg_t conv2d_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  struct vkg_conv2d_desc d = conv_desc(c);
  return vkg_conv2d(g, in[0], in[1], c->p[11] ? in[2] : VKG_NONE, &d);
}
static void conv2d_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  struct ref_conv r = conv_geom(c, 0);
  ref_conv2d_f64(y, in[0], in[1], c->p[11] ? in[2] : NULL, &r);
}
static void conv2d_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  struct ref_conv r = conv_geom(c, 0);
  ref_conv2d_bwd(gin[0], gin[1], c->p[11] ? gin[2] : NULL, gy, in[0], in[1], &r);
}

static int convt_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const int t[][12] = {{1, 1, 3, 3, 1, 3, 1, 0, 1, 1, 0, 0},
                              {2, 3, 5, 4, 4, 4, 2, 1, 1, 1, 0, 1},
                              {2, 4, 3, 5, 6, 3, 2, 1, 2, 2, 1, 1},
                              {1, 5, 7, 7, 3, 5, 3, 2, 1, 1, 2, 0}};
  return PICK(c, k, size, t, size, 64, 14, 14, 32, 4, 2, 1, 1, 1, 0, 0) && conv_case(c, 1);
}
static vkg_t convt_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  struct vkg_conv2d_desc d = conv_desc(c);
  return vkg_conv_transpose2d(g, in[0], in[1], c->p[11] ? in[2] : VKG_NONE, &d);
}
static void convt_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  struct ref_conv r = conv_geom(c, 1);
  ref_conv_transpose2d_f64(y, in[0], in[1], c->p[11] ? in[2] : NULL, &r);
}
static void convt_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  struct ref_conv r = conv_geom(c, 1);
  ref_conv_transpose2d_bwd(gin[0], gin[1], c->p[11] ? gin[2] : NULL, gy, in[0], in[1], &r);
}

// ---- conv1d: p = {B, C, T, O, K, stride, pad, dilation, groups, causal, bias} ----

/* conv1d is conv2d with H = 1; causal pads dilation * (K - 1) on the left only. */
static struct ref_conv conv1d_geom(const struct opc *c) {
  const int *p = c->p;
  struct ref_conv r = {.B = p[0], .C = p[1], .H = 1, .W = p[2], .O = p[3], .KH = 1, .KW = p[4], .OH = 1};
  r.stride_h = 1, r.stride_w = p[5], r.dil_h = 1, r.dil_w = p[7], r.groups = p[8], r.pad_t = 0;
  int left = p[9] ? p[7] * (p[4] - 1) : p[6], right = p[9] ? 0 : p[6];
  r.pad_l = left;
  r.OW = (r.W + left + right - r.dil_w * (r.KW - 1) - 1) / r.stride_w + 1;
  return r;
}
static int conv1d_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const int t[][11] = {{2, 3, 13, 5, 3, 1, 1, 1, 1, 0, 1},
                              {1, 4, 17, 4, 2, 1, 0, 4, 1, 1, 0},
                              {2, 4, 7, 6, 3, 2, 1, 1, 2, 0, 1},
                              {1, 1, 127, 1, 5, 1, 0, 2, 1, 1, 1}};
  if (!PICK(c, k, size, t, size, 64, 4096, 64, 2, 1, 0, 8, 1, 1, 0)) return 0;
  struct ref_conv r = conv1d_geom(c);
  add_in(c, VKG_F32, -1, 1, 3, r.B, r.C, r.W);
  add_in(c, VKG_F32, -0.5f, 0.5f, 3, r.O, r.C / r.groups, r.KW);
  if (c->p[10]) add_in(c, VKG_F32, -1, 1, 1, r.O);
  char pad[16];
  snprintf(pad, sizeof pad, c->p[9] ? "causal" : "p%d", c->p[6]);
  label(c, "x(%d,%d,%d) w(%d,%d,%d) s%d %s d%d g%d%s", r.B, r.C, r.W, r.O, r.C / r.groups, r.KW, r.stride_w, pad,
        r.dil_w, r.groups, c->p[10] ? " +bias" : "");
  c->atol = 1e-5, c->rtol = 1e-4, c->fd_eps = 1e-3;
  c->flops = 2.0 * r.B * r.O * r.OW * (double)(r.C / r.groups) * r.KW;
  conv_bytes(c, (size_t)r.B * r.O * r.OW);
  return 1;
}
static vkg_t conv1d_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  const int *p = c->p;
  return vkg_conv1d(g, in[0], in[1], p[10] ? in[2] : VKG_NONE, p[5], p[6], p[7], p[8], p[9]);
}
static void conv1d_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  struct ref_conv r = conv1d_geom(c);
  ref_conv2d_f64(y, in[0], in[1], c->p[10] ? in[2] : NULL, &r);
}
static void conv1d_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  struct ref_conv r = conv1d_geom(c);
  ref_conv2d_bwd(gin[0], gin[1], c->p[10] ? gin[2] : NULL, gy, in[0], in[1], &r);
}

// ---- attention: p = {B, NH, Tq, Tk, D, Dv, causal}, f = {scale (0: 1/sqrt(D))} ----

static int attention_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const int t[][7] = {{1, 1, 6, 6, 8, 8, 1},
                             {2, 3, 7, 13, 5, 5, 0},
                             {1, 2, 1, 17, 16, 8, 1},
                             {1, 1, 5, 9, 7, 3, 1},
                             {2, 1, 33, 33, 64, 64, 1}};
  if (!PICK(c, k, size, t, 4, 8, size, size, 64, 64, 1)) return 0;
  const int *p = c->p;
  add_in(c, VKG_F32, -1, 1, 4, p[0], p[1], p[2], p[4]);
  add_in(c, VKG_F32, -1, 1, 4, p[0], p[1], p[3], p[4]);
  add_in(c, VKG_F32, -1, 1, 4, p[0], p[1], p[3], p[5]);
  label(c, "B=%d NH=%d Tq=%d Tk=%d D=%d Dv=%d%s", p[0], p[1], p[2], p[3], p[4], p[5], p[6] ? " causal" : "");
  c->atol = 2e-5, c->rtol = 1e-4;
  double pairs = (double)p[2] * p[3] * (p[6] && p[2] == p[3] ? 0.5 : 1); /* causal masks about half */
  c->flops = 2.0 * p[0] * p[1] * pairs * (p[4] + p[5]);
  c->bytes = 4.0 * p[0] * p[1] * ((double)p[2] * (p[4] + p[5]) + (double)p[3] * (p[4] + p[5]));
  return 1;
}
static vkg_t attention_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  return vkg_attention(g, in[0], in[1], in[2], c->f[0], c->p[6]);
}
static void attention_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  const int *p = c->p;
  ref_attention_d(y, NULL, in[0], in[1], in[2], p[0], p[1], p[2], p[3], p[4], p[5], c->f[0], p[6]);
}
static void attention_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  const int *p = c->p;
  ref_attention_bwd(gin[0], gin[1], gin[2], in[0], in[1], in[2], gy, p[0], p[1], p[2], p[3], p[4], p[5], c->f[0], p[6]);
}

// ---- attention_grad: attention's forward and backward together (the vector-Jacobian product).
// Inputs q, k, v and r, the gradient of the output; the output is dq, dk, dv flattened one after
// another. p and f as attention's. ----

static int attention_grad_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const int t[][7] = {{1, 1, 1, 1, 1, 1, 0},     {2, 3, 7, 13, 5, 3, 0},   {1, 2, 13, 13, 16, 16, 1},
                             {1, 1, 127, 127, 5, 3, 1}, {1, 1, 9, 40, 70, 33, 1}, {1, 1, 40, 37, 3, 2, 0}};
  if (!PICK(c, k, size, t, 2, 4, size, size, 64, 64, 1)) return 0;
  const int *p = c->p;
  add_in(c, VKG_F32, -2, 2, 4, p[0], p[1], p[2], p[4]);
  add_in(c, VKG_F32, -2, 2, 4, p[0], p[1], p[3], p[4]);
  add_in(c, VKG_F32, -1, 1, 4, p[0], p[1], p[3], p[5]);
  add_in(c, VKG_F32, -1, 1, 4, p[0], p[1], p[2], p[5])->no_grad = 1;
  label(c, "B=%d NH=%d Tq=%d Tk=%d D=%d Dv=%d%s fwd+bwd", p[0], p[1], p[2], p[3], p[4], p[5], p[6] ? " causal" : "");
  c->atol = 1e-4, c->rtol = 1e-3;
  double pairs = (double)p[2] * p[3] * (p[6] && p[2] == p[3] ? 0.5 : 1);
  /* forward q k^T and P v; backward q k^T again, dO v^T, P^T dO, dS^T q and dS k */
  c->flops = 2.0 * p[0] * p[1] * pairs * (4.0 * p[4] + 3.0 * p[5]);
  c->bytes = 8.0 * p[0] * p[1] * ((double)p[2] * (p[4] + p[5]) + (double)p[3] * (p[4] + p[5]));
  return 1;
}
static vkg_t attention_grad_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  for (int i = 0; i < 3; i++)
    vkg_requires_grad(g, in[i]);
  vkg_t o = vkg_attention(g, in[0], in[1], in[2], c->f[0], c->p[6]);
  int n = (int)opc_numel(&c->in[3]);
  vkg_backward(g, vkg_reduce(g, VKG_REDUCE_SUM, vkg_reshape(g, vkg_binary(g, VKG_MUL, o, in[3]), 1, &n), 0, 0));
  vkg_t parts[3];
  for (int i = 0; i < 3; i++) {
    int m = (int)opc_numel(&c->in[i]);
    parts[i] = vkg_reshape(g, vkg_grad(g, in[i]), 1, &m);
  }
  return vkg_concat(g, 3, parts, 0);
}
static void attention_grad_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  const int *p = c->p;
  size_t nq = opc_numel(&c->in[0]), nk = opc_numel(&c->in[1]);
  memset(y, 0, n * sizeof *y);
  ref_attention_bwd(y, y + nq, y + nq + nk, in[0], in[1], in[2], in[3], p[0], p[1], p[2], p[3], p[4], p[5], c->f[0],
                    p[6]);
}

// ---- layernorm over the last axis: p = {rows, C, affine}, f = {eps} ----

static int layernorm_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const int t[][3] = {{1, 1, 0}, {7, 13, 1}, {5, 1000, 1}, {3, 4097, 0}, {2, 127, 1}};
  if (!PICK(c, k, size, t, size, 768, 1)) return 0;
  int R = c->p[0], C = c->p[1];
  add_in(c, VKG_F32, -3, 5, 2, R, C);
  if (c->p[2]) {
    add_in(c, VKG_F32, 0.5f, 1.5f, 1, C);
    add_in(c, VKG_F32, -1, 1, 1, C);
  }
  c->f[0] = 1e-5f;
  label(c, "(%d, %d)%s", R, C, c->p[2] ? " gamma beta" : "");
  c->atol = 1e-5, c->rtol = 1e-4;
  c->bytes = 2.0 * 4 * R * C;
  return 1;
}
static vkg_t layernorm_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  return vkg_layernorm(g, in[0], c->p[2] ? in[1] : VKG_NONE, c->p[2] ? in[2] : VKG_NONE, c->f[0]);
}
static void layernorm_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  ref_layernorm_d(y, NULL, NULL, in[0], c->p[2] ? in[1] : NULL, c->p[2] ? in[2] : NULL, c->p[0], c->p[1], c->f[0]);
}
static void layernorm_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  ref_layernorm_bwd(gin[0], c->p[2] ? gin[1] : NULL, c->p[2] ? gin[2] : NULL, in[0], c->p[2] ? in[1] : NULL, gy,
                    c->p[0], c->p[1], c->f[0]);
}

// ---- batchnorm over axis 1: p = {B, C, H, W, training, affine}, f = {eps}; x (B, C, H, W), or
// (B, C) when H = 0; inference reads running mean and variance inputs ----

static int batchnorm_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const int t[][6] = {{2, 3, 5, 7, 1, 1}, {4, 5, 0, 0, 1, 0}, {3, 2, 4, 4, 0, 1}, {1, 4, 3, 1, 1, 1}};
  if (!PICK(c, k, size, t, size, 64, 28, 28, 1, 1)) return 0;
  const int *p = c->p;
  if (p[2])
    add_in(c, VKG_F32, -2, 3, 4, p[0], p[1], p[2], p[3]);
  else
    add_in(c, VKG_F32, -2, 3, 2, p[0], p[1]);
  if (p[5]) {
    add_in(c, VKG_F32, 0.5f, 1.5f, 1, p[1]);
    add_in(c, VKG_F32, -1, 1, 1, p[1]);
  }
  if (!p[4]) { /* running statistics: constants of the inference graph */
    add_in(c, VKG_F32, -1, 1, 1, p[1])->no_grad = 1;
    add_in(c, VKG_F32, 0.5f, 2, 1, p[1])->no_grad = 1;
  }
  c->f[0] = 1e-5f;
  if (p[2])
    label(c, "(%d, %d, %d, %d) %s%s", p[0], p[1], p[2], p[3], p[4] ? "train" : "inference", p[5] ? " gamma beta" : "");
  else
    label(c, "(%d, %d) %s%s", p[0], p[1], p[4] ? "train" : "inference", p[5] ? " gamma beta" : "");
  c->atol = 1e-5, c->rtol = 1e-4;
  c->bytes = 3.0 * 4 * (double)opc_numel(&c->in[0]); /* read for the statistics, read and written to normalize */
  return 1;
}
static int bn_spatial(const struct opc *c) { return c->p[2] ? c->p[2] * c->p[3] : 1; }
static vkg_t batchnorm_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  int a = c->p[5], train = c->p[4];
  return vkg_batchnorm(g, in[0], a ? in[1] : VKG_NONE, a ? in[2] : VKG_NONE, train ? VKG_NONE : in[1 + 2 * a],
                       train ? VKG_NONE : in[2 + 2 * a], 0.1f, c->f[0], train);
}
static void batchnorm_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  int a = c->p[5], train = c->p[4];
  ref_batchnorm_d(y, NULL, NULL, train ? NULL : in[1 + 2 * a], train ? NULL : in[2 + 2 * a], in[0], a ? in[1] : NULL,
                  a ? in[2] : NULL, c->p[0], c->p[1], bn_spatial(c), 0.1, c->f[0], train);
}
static void batchnorm_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  int a = c->p[5], train = c->p[4];
  ref_batchnorm_bwd(gin[0], a ? gin[1] : NULL, a ? gin[2] : NULL, in[0], a ? in[1] : NULL, train ? NULL : in[1 + 2 * a],
                    train ? NULL : in[2 + 2 * a], gy, c->p[0], c->p[1], bn_spatial(c), c->f[0], train);
}

// ---- softmax over the last axis: p = {rows, C, log} ----

static int softmax_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  /* Rows over 20000 values take the split-row kernels on CPU devices: odd lengths (chunks that start
   * and end inside a vec4), a multiple of 4, and a last chunk of a few values. */
  static const int t[][3] = {{1, 1, 0},   {7, 13, 0},    {5, 1000, 0},  {3, 4097, 0},  {7, 13, 1},   {3, 4097, 1},
                             {2, 127, 1}, {3, 50257, 0}, {5, 70001, 1}, {2, 80000, 0}, {1, 24579, 1}};
  if (!PICK(c, k, size, t, 64, size, 0)) return 0;
  add_in(c, VKG_F32, -8, 8, 2, c->p[0], c->p[1]);
  label(c, "%s (%d, %d)", c->p[2] ? "log_softmax" : "softmax", c->p[0], c->p[1]);
  c->atol = c->p[2] ? 1e-5 : 1e-6, c->rtol = 1e-5;
  c->bytes = 2.0 * 4 * c->p[0] * (double)c->p[1];
  return 1;
}
static vkg_t softmax_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  return c->p[2] ? vkg_log_softmax(g, in[0]) : vkg_softmax(g, in[0]);
}
static void softmax_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  ref_softmax_d(y, in[0], c->p[0], c->p[1], c->p[2]);
}
static void softmax_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  ref_softmax_bwd(gin[0], in[0], gy, c->p[0], c->p[1], c->p[2]);
}

// ---- cross-entropy (mean over the rows), labels ignored at -1: p = {rows, C} ----

static int ce_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  /* Long odd rows like GPT-2's 50257-token vocabulary, a multiple of 4, and short rows. */
  static const int t[][2] = {{1, 1}, {7, 13}, {5, 1000}, {2, 127}, {3, 50257}, {2, 40000}, {4, 4097}};
  if (!PICK(c, k, size, t, 64, size)) return 0;
  add_in(c, VKG_F32, -8, 8, 2, c->p[0], c->p[1]);
  /* Labels from -1 (ignored) to C (out of range, also ignored); rows of one get their only label. */
  add_in(c, VKG_I32, c->p[0] > 1 ? -1 : 0, c->p[0] > 1 ? (float)c->p[1] + 1 : (float)c->p[1], 1, c->p[0]);
  label(c, "(%d, %d)", c->p[0], c->p[1]);
  c->atol = 1e-5, c->rtol = 1e-5;
  c->bytes = 4.0 * c->p[0] * (double)c->p[1];
  return 1;
}
static vkg_t ce_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  return vkg_cross_entropy_loss(g, in[0], in[1], -1);
}
static void ce_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  y[0] = ref_cross_entropy_d(in[0], in[1], c->p[0], c->p[1], -1);
}
static void ce_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  ref_cross_entropy_bwd(gin[0], in[0], in[1], gy[0], c->p[0], c->p[1], -1);
}

// ---- embedding: p = {V, C, n}; table (V, C), ids (n) with some out of range ----

static int embedding_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const int t[][3] = {{1, 1, 1}, {13, 7, 29}, {50, 129, 3}, {300, 64, 257}};
  if (size) {
    /* GPT-2's vocabulary; a device whose binding limit is under its 154 MB gets the rows that fit. */
    int V = 50257, C = 768;
    uint64_t fit = lim && lim->max_binding ? lim->max_binding / ((uint64_t)C * 4) : (uint64_t)V;
    if (fit < (uint64_t)V) {
      snprintf(c->note, sizeof c->note, "table of %d rows (%d x %d f32 is over the device's %llu-byte binding limit)",
               (int)fit, V, C, (unsigned long long)lim->max_binding);
      V = (int)fit;
    }
    int p[3] = {V, C, size};
    memcpy(c->p, p, sizeof p);
  } else if (k < (int)(sizeof t / sizeof t[0]))
    memcpy(c->p, t[k], sizeof t[k]);
  else
    return 0;
  int V = c->p[0], C = c->p[1], n = c->p[2];
  add_in(c, VKG_F32, -1, 1, 2, V, C);
  add_in(c, VKG_I32, size ? 0 : -2, size ? (float)V : (float)V + 3, 1, n);
  label(c, "%d ids, table %dx%d", n, V, C);
  c->atol = c->rtol = 0; /* a copy */
  c->bytes = 2.0 * 4 * n * (double)C;
  return 1;
}
static vkg_t embedding_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  return vkg_embedding(g, in[0], in[1]);
}
static int32_t *ids_of(const double *x, int n) {
  int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
  if (!ids) abort();
  for (int i = 0; i < n; i++)
    ids[i] = (int32_t)x[i];
  return ids;
}
static void embedding_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  int32_t *ids = ids_of(in[1], c->p[2]);
  ref_embedding_d(y, in[0], ids, c->p[2], c->p[0], c->p[1]);
  free(ids);
}
static void embedding_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  int32_t *ids = ids_of(in[1], c->p[2]);
  ref_embedding_bwd(gin[0], ids, gy, c->p[2], c->p[0], c->p[1]);
  free(ids);
}

// ---- reduce: p = {op, axis, keepdim}; x is in[0] ----

static int reduce_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const char *names[] = {"sum", "mean", "max"};
  if (size) {
    c->p[0] = VKG_REDUCE_SUM, c->p[1] = -1;
    add_in(c, VKG_F32, -1, 1, 2, size, 4096);
  } else if (k == 0) {
    c->p[0] = VKG_REDUCE_SUM, c->p[1] = 1;
    add_in(c, VKG_F32, -1, 1, 3, 3, 7, 5);
  } else if (k == 1) {
    c->p[0] = VKG_REDUCE_MEAN, c->p[1] = -1, c->p[2] = 1;
    add_in(c, VKG_F32, -1, 1, 2, 13, 127);
  } else if (k == 2) {
    c->p[0] = VKG_REDUCE_MAX, c->p[1] = 0;
    add_in(c, VKG_F32, -1, 1, 3, 7, 3, 2);
  } else if (k == 3) {
    c->p[0] = VKG_REDUCE_SUM, c->p[1] = -1;
    add_in(c, VKG_F32, -1, 1, 2, 2, 70001); /* longer than one pass */
  } else
    return 0;
  char s[48] = "";
  for (int i = 0; i < c->in[0].ndim; i++)
    snprintf(s + strlen(s), sizeof s - strlen(s), "%s%d", i ? "," : "", c->in[0].shape[i]);
  label(c, "%s (%s) over axis %d%s", names[c->p[0]], s, c->p[1], c->p[2] ? " keepdim" : "");
  c->atol = 1e-5, c->rtol = 1e-5;
  c->bytes = 4.0 * (double)opc_numel(&c->in[0]);
  return 1;
}
static vkg_t reduce_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  return vkg_reduce(g, (vkg_reduce_op)c->p[0], in[0], c->p[1], c->p[2]);
}
/* x seen as (outer, n, inner) around the reduced axis. */
static void reduce_dims(const struct opc *c, int *outer, int *n, int *inner) {
  const struct opc_input *x = &c->in[0];
  int ax = c->p[1] < 0 ? c->p[1] + x->ndim : c->p[1];
  *outer = *inner = 1, *n = x->shape[ax];
  for (int i = 0; i < ax; i++)
    *outer *= x->shape[i];
  for (int i = ax + 1; i < x->ndim; i++)
    *inner *= x->shape[i];
}
static void reduce_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  int o, r, i;
  reduce_dims(c, &o, &r, &i);
  ref_reduce_d(y, NULL, in[0], o, r, i, (vkg_reduce_op)c->p[0]);
}
static void reduce_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  int o, r, i;
  reduce_dims(c, &o, &r, &i);
  ref_reduce_bwd(gin[0], in[0], gy, o, r, i, (vkg_reduce_op)c->p[0]);
}

// ---- permute: p = the permutation; x is in[0] ----

static int permute_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const int perms[][4] = {{1, 0}, {0, 2, 1}, {3, 1, 0, 2}, {2, 0, 1}};
  if (size) {
    int p[4] = {0, 2, 1, 3};
    memcpy(c->p, p, sizeof p);
    add_in(c, VKG_F32, -1, 1, 4, 8, size, 12, 64);
  } else if (k == 0)
    add_in(c, VKG_F32, -1, 1, 2, 7, 13);
  else if (k == 1)
    add_in(c, VKG_F32, -1, 1, 3, 3, 7, 5);
  else if (k == 2)
    add_in(c, VKG_F32, -1, 1, 4, 2, 3, 4, 5);
  else if (k == 3)
    add_in(c, VKG_F32, -1, 1, 3, 1, 127, 3);
  else
    return 0;
  if (!size) memcpy(c->p, perms[k], sizeof perms[k]);
  char s[48] = "", q[32] = "";
  for (int i = 0; i < c->in[0].ndim; i++) {
    snprintf(s + strlen(s), sizeof s - strlen(s), "%s%d", i ? "," : "", c->in[0].shape[i]);
    snprintf(q + strlen(q), sizeof q - strlen(q), "%s%d", i ? "," : "", c->p[i]);
  }
  label(c, "(%s) -> (%s)", s, q);
  c->atol = c->rtol = 0;
  c->bytes = 2.0 * 4 * (double)opc_numel(&c->in[0]);
  return 1;
}
static vkg_t permute_build(vkg_graph *g, const struct opc *c, const vkg_t *in) { return vkg_permute(g, in[0], c->p); }
/* The copy ops' references are index maps (ref_shape.c): y[e] = x[src[e]], gx[src[e]] += gy[e]. */
static size_t *map_of(size_t n) {
  size_t *m = malloc((n ? n : 1) * sizeof *m);
  if (!m) abort();
  return m;
}
static void permute_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  size_t *src = map_of(n);
  ref_permute_map(src, c->in[0].ndim, c->in[0].shape, c->p);
  for (size_t e = 0; e < n; e++)
    y[e] = in[0][src[e]];
  free(src);
}
static void permute_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  size_t *src = map_of(n);
  ref_permute_map(src, c->in[0].ndim, c->in[0].shape, c->p);
  for (size_t e = 0; e < n; e++)
    gin[0][src[e]] += gy[e];
  free(src);
}

// ---- concat: p = {axis}; the inputs are joined in order ----

static int concat_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  if (size) {
    c->p[0] = 1;
    add_in(c, VKG_F32, -1, 1, 2, size, 1024);
    add_in(c, VKG_F32, -1, 1, 2, size, 1024);
  } else if (k == 0) {
    c->p[0] = 1;
    add_in(c, VKG_F32, -1, 1, 2, 3, 5);
    add_in(c, VKG_F32, -1, 1, 2, 3, 7);
  } else if (k == 1) {
    c->p[0] = 0;
    add_in(c, VKG_F32, -1, 1, 3, 2, 3, 4);
    add_in(c, VKG_F32, -1, 1, 3, 1, 3, 4);
    add_in(c, VKG_F32, -1, 1, 3, 3, 3, 4);
  } else if (k == 2) {
    c->p[0] = 2;
    add_in(c, VKG_F32, -1, 1, 3, 2, 13, 1);
    add_in(c, VKG_F32, -1, 1, 3, 2, 13, 127);
  } else
    return 0;
  char s[72] = "";
  for (int i = 0; i < c->nin; i++) {
    snprintf(s + strlen(s), sizeof s - strlen(s), "%s(", i ? " + " : "");
    for (int d = 0; d < c->in[i].ndim; d++)
      snprintf(s + strlen(s), sizeof s - strlen(s), "%s%d", d ? "," : "", c->in[i].shape[d]);
    snprintf(s + strlen(s), sizeof s - strlen(s), ")");
  }
  label(c, "%s on axis %d", s, c->p[0]);
  c->atol = c->rtol = 0;
  double n = 0;
  for (int i = 0; i < c->nin; i++)
    n += (double)opc_numel(&c->in[i]);
  c->bytes = 2.0 * 4 * n;
  return 1;
}
static vkg_t concat_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  return vkg_concat(g, c->nin, in, c->p[0]);
}
static int *concat_map(const struct opc *c, size_t *src, size_t n) {
  int shapes[OPC_MAX_IN][VKG_MAX_DIMS], *src_in = malloc((n ? n : 1) * sizeof *src_in);
  if (!src_in) abort();
  for (int i = 0; i < c->nin; i++)
    memcpy(shapes[i], c->in[i].shape, sizeof shapes[i]);
  ref_concat_map(src_in, src, c->nin, (const int(*)[VKG_MAX_DIMS])shapes, c->in[0].ndim, c->p[0]);
  return src_in;
}
static void concat_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  size_t *src = map_of(n);
  int *src_in = concat_map(c, src, n);
  for (size_t e = 0; e < n; e++)
    y[e] = in[src_in[e]][src[e]];
  free(src), free(src_in);
}
static void concat_bwd(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n) {
  size_t *src = map_of(n);
  int *src_in = concat_map(c, src, n);
  for (size_t e = 0; e < n; e++)
    gin[src_in[e]][src[e]] += gy[e];
  free(src), free(src_in);
}

// ---- random fills: p = {normal, n, seed}, f = {lo or mean, hi or std}; no inputs ----

static int random_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const struct {
    int normal, n, seed;
    float a, b;
  } t[] = {{0, 4099, 77, -2, 3}, {0, 1, 0, 0, 1}, {1, 1000, 5, 0.5f, 2}, {1, 13, 0xdeadbeef, 0, 1}};
  if (size) {
    c->p[0] = 1, c->p[1] = size, c->p[2] = 1, c->f[0] = 0, c->f[1] = 1;
  } else if (k < (int)(sizeof t / sizeof t[0])) {
    c->p[0] = t[k].normal, c->p[1] = t[k].n, c->p[2] = t[k].seed, c->f[0] = t[k].a, c->f[1] = t[k].b;
  } else
    return 0;
  label(c, "%s %d, seed %u, %g %g", c->p[0] ? "normal" : "uniform", c->p[1], (unsigned)c->p[2], c->f[0], c->f[1]);
  /* Uniform is bit-exact; the normal's |z| reaches ~5.7, so its absolute tolerance scales with std. */
  c->atol = c->p[0] ? 1e-5 * (c->f[1] > 1 ? c->f[1] : 1) : 0, c->rtol = c->p[0] ? 1e-6 : 0;
  c->bytes = 4.0 * c->p[1];
  return 1;
}
static vkg_t random_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  int seed = vkg_scalar(g, "seed"), n = c->p[1];
  vkg_graph_set_u32(g, seed, (uint32_t)c->p[2]);
  return c->p[0] ? vkg_random_normal(g, 1, &n, seed, c->f[0], c->f[1])
                 : vkg_random_uniform(g, 1, &n, seed, c->f[0], c->f[1]);
}
static void random_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  float *out = to_f(NULL, n);
  /* The graph's first random op draws from stream 0. */
  if (c->p[0])
    ref_random_normal(out, n, (uint32_t)c->p[2], 0, c->f[0], c->f[1]);
  else
    ref_random_uniform(out, n, (uint32_t)c->p[2], 0, c->f[0], c->f[1]);
  from_f(y, out, n);
  free(out);
}

// ---- token sampling: p = {B, V, top_k, seed}, f = {temperature (0: greedy)}; logits (B, V) ----

static int sample_make(struct opc *c, int k, int size, const struct opc_limits *lim) {
  static const struct {
    int B, V, top_k, seed;
    float temp;
  } t[] = {{3, 37, 0, 1, 0}, {1, 50257, 0, 2, 0}, {4, 101, 5, 3, 0.8f}, {2, 1000, 0, 4, 1.3f}};
  if (size) {
    c->p[0] = size, c->p[1] = 50257, c->p[2] = 40, c->p[3] = 1, c->f[0] = 0.8f;
  } else if (k < (int)(sizeof t / sizeof t[0])) {
    c->p[0] = t[k].B, c->p[1] = t[k].V, c->p[2] = t[k].top_k, c->p[3] = t[k].seed, c->f[0] = t[k].temp;
  } else
    return 0;
  add_in(c, VKG_F32, -4, 4, 2, c->p[0], c->p[1]);
  c->out_i32 = 1;
  if (c->f[0] > 0)
    label(c, "%dx%d temperature %g top-k %d", c->p[0], c->p[1], c->f[0], c->p[2]);
  else
    label(c, "%dx%d greedy", c->p[0], c->p[1]);
  c->atol = c->rtol = 0; /* token ids */
  c->bytes = 4.0 * c->p[0] * (double)c->p[1];
  return 1;
}
static vkg_t sample_build(vkg_graph *g, const struct opc *c, const vkg_t *in) {
  int seed = vkg_scalar(g, "seed"), temp = vkg_scalar(g, "temperature"), top_k = vkg_scalar(g, "top_k");
  vkg_graph_set_u32(g, seed, (uint32_t)c->p[3]);
  vkg_graph_set_f32(g, temp, c->f[0]);
  vkg_graph_set_u32(g, top_k, (uint32_t)c->p[2]);
  return vkg_sample_logits(g, in[0], seed, temp, top_k);
}
static void sample_fwd(const struct opc *c, double *const *in, double *y, size_t n) {
  int V = c->p[1];
  float *x = to_f(in[0], (size_t)c->p[0] * V);
  /* The sampler is the graph's first random op (stream 0); row r draws u from block r. */
  for (int r = 0; r < c->p[0]; r++)
    y[r] = ref_sample(x + (size_t)r * V, V, c->f[0], (unsigned)c->p[2], ref_sample_u((uint32_t)c->p[3], 0, (uint32_t)r),
                      NULL);
  free(x);
}

// ---- the table ----

static const struct opc_op ops[] = {
    {"matmul", "matmul.comp", {128, 512, 1024}, matmul_make, matmul_build, matmul_fwd, matmul_bwd},
    {"conv2d",
     "conv2d.comp, conv2d_direct.comp, conv2d_io.glsl",
     {1, 8, 32},
     conv2d_make,
     conv2d_build,
     conv2d_fwd,
     conv2d_bwd},
    {"conv_transpose2d", "conv_transpose2d.comp", {1, 8, 32}, convt_make, convt_build, convt_fwd, convt_bwd},
    {"conv1d",
     "conv2d.comp, conv2d_direct.comp, conv2d_io.glsl",
     {1, 4, 8},
     conv1d_make,
     conv1d_build,
     conv1d_fwd,
     conv1d_bwd},
    {"attention", "attention_fwd.comp", {64, 256, 1024}, attention_make, attention_build, attention_fwd, attention_bwd},
    {"attention_grad",
     "attention_bwd_kv.comp, attention_bwd_q.comp, attention_bwd.glsl",
     {64, 256, 1024},
     attention_grad_make,
     attention_grad_build,
     attention_grad_fwd,
     NULL},
    {"layernorm",
     "layernorm_fwd.comp",
     {64, 1024, 8192},
     layernorm_make,
     layernorm_build,
     layernorm_fwd,
     layernorm_bwd},
    {"batchnorm",
     "batchnorm_stats.comp, batchnorm_fwd.comp",
     {1, 8, 32},
     batchnorm_make,
     batchnorm_build,
     batchnorm_fwd,
     batchnorm_bwd},
    {"softmax", "softmax_fwd.comp", {1024, 8192, 50257}, softmax_make, softmax_build, softmax_fwd, softmax_bwd},
    {"cross_entropy",
     "cross_entropy_fwd.comp, cross_entropy_mean.comp",
     {1024, 8192, 50257},
     ce_make,
     ce_build,
     ce_fwd,
     ce_bwd},
    {"embedding",
     "embedding_fwd.comp",
     {64, 1024, 8192},
     embedding_make,
     embedding_build,
     embedding_fwd,
     embedding_bwd},
    {"binary", "binary.comp", {1 << 16, 1 << 20, 1 << 24}, binary_make, binary_build, binary_fwd, binary_bwd},
    {"unary",
     "unary.comp, activations.glsl",
     {1 << 16, 1 << 20, 1 << 24},
     unary_make,
     unary_build,
     unary_fwd,
     unary_bwd},
    {"reduce",
     "reduce_rows.comp, reduce_axis.comp",
     {16, 256, 2048},
     reduce_make,
     reduce_build,
     reduce_fwd,
     reduce_bwd},
    {"permute", "permute.comp", {64, 256, 1024}, permute_make, permute_build, permute_fwd, permute_bwd},
    {"concat", "copy_slice.comp", {64, 1024, 8192}, concat_make, concat_build, concat_fwd, concat_bwd},
    {"random", "random_fill.comp", {1 << 16, 1 << 20, 1 << 24}, random_make, random_build, random_fwd, NULL},
    {"sample", "sample_logits.comp", {1, 16, 64}, sample_make, sample_build, sample_fwd, NULL},
};
#define NOPS (int)(sizeof ops / sizeof ops[0])

const struct opc_op *opc_ops(int *count) {
  *count = NOPS;
  return ops;
}

const struct opc_op *opc_find(const char *name) {
  for (int i = 0; name && i < NOPS; i++)
    if (!strcmp(ops[i].name, name)) return &ops[i];
  return NULL;
}

const char *opc_names(void) {
  static char s[512];
  if (!s[0])
    for (int i = 0; i < NOPS; i++)
      snprintf(s + strlen(s), sizeof s - strlen(s), "%s%s", i ? ", " : "", ops[i].name);
  return s;
}

int opc_case(const struct opc_op *op, int k, int size, const struct opc_limits *lim, struct opc *c) {
  memset(c, 0, sizeof *c);
  c->op = op;
  c->atol = c->rtol = 1e-5;
  return op->make(c, k, size, lim);
}
