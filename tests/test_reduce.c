/* vkg_reduce (sum, mean, max) against the plain-C reference: awkward shapes, every axis (also
 * negative), keepdim both ways, long rows (both kernels: a workgroup per row and a thread per
 * output), reshape views as inputs, backward of sum, mean and max (finite differences and GPU,
 * through tests/gradcheck.h; max also with ties and on long lines), and bad arguments. Sums and
 * means must be within 1e-5 + 1e-5 * sum|x| (the magnitude that rounding errors scale with); max
 * must be exact. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "harness.h"
#include "check/ref_shape.h"

static const char *op_names[] = {"sum", "mean", "max"};

/* Compares got with ref within atol + rtol * mag (mag per element); exact when atol = rtol = 0. */
static void close_mag(const char *what, const float *got, const float *ref, const float *mag, size_t n, float atol,
                      float rtol) {
  size_t bad = 0, worst = 0;
  double worst_ex = -1, max_err = 0;
  for (size_t i = 0; i < n; i++) {
    double err = fabs((double)got[i] - ref[i]), tol = atol + rtol * (double)mag[i];
    if (!(err <= tol)) {
      double ex = isnan(err) ? INFINITY : err - tol;
      if (ex > worst_ex) worst_ex = ex, worst = i;
      bad++;
    }
    if (err > max_err) max_err = err;
  }
  if (bad)
    th_check(0, "%s: %zu of %zu values differ; worst at %zu: got %.9g, want %.9g (magnitude %.3g)", what, bad, n, worst,
             got[worst], ref[worst], mag[worst]);
  else
    th_check(1, "%s (n=%zu, max err %.3g)", what, n, max_err);
}

/* Expected output shape of reducing shape over ax. */
static int out_shape(const int *shape, int ndim, int ax, int keepdim, int *out) {
  int m = 0;
  for (int i = 0; i < ndim; i++)
    if (i != ax)
      out[m++] = shape[i];
    else if (keepdim)
      out[m++] = 1;
  if (m == 0) out[m++] = 1; /* a 1-D tensor reduced without keepdim gives (1,) */
  return m;
}

/* One graph with sum, mean and max of x (ndim, shape) over axis, x uniform in [lo, hi). When view_ndim
 * is nonzero, x is made with shape view_src and reshaped to shape before the reduction. */
static void check(vkg_ctx *ctx, int ndim, const int *shape, int axis, int keepdim, float lo, float hi, int view_ndim,
                  const int *view_src) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  /* The inputs are made here rather than with th_input, which remembers at most 256 per program. */
  vkg_t in = view_ndim ? vkg_input(g, "x", VKG_F32, view_ndim, view_src) : vkg_input(g, "x", VKG_F32, ndim, shape);
  if (view_ndim) in = vkg_reshape(g, in, ndim, shape);
  vkg_t out[3];
  for (int op = 0; op < 3; op++) {
    out[op] = vkg_reduce(g, (vkg_reduce_op)op, in, axis, keepdim);
    vkg_output(g, out[op]);
  }
  int ax = axis < 0 ? axis + ndim : axis, outer = 1, inner = 1, n = shape[ax];
  for (int i = 0; i < ax; i++)
    outer *= shape[i];
  for (int i = ax + 1; i < ndim; i++)
    inner *= shape[i];
  char sh[64] = "", what[160];
  for (int i = 0; i < ndim; i++)
    snprintf(sh + strlen(sh), sizeof sh - strlen(sh), "%s%d", i ? "," : "", shape[i]);
  size_t nx = (size_t)outer * n * inner;
  float *x = th_alloc(nx);
  th_fill(x, nx, lo, hi);
  if (th_ok(vkg_graph_compile(g), "compile") && th_ok(vkg_graph_write(g, in, x, nx), "write") &&
      th_ok(th_run(g), "run")) {
    size_t m = (size_t)outer * inner;
    float *got = th_alloc(m), *ref = th_alloc(m), *mag = th_alloc(m);
    int es[VKG_MAX_DIMS], en = out_shape(shape, ndim, ax, keepdim, es);
    for (int op = 0; op < 3; op++) {
      snprintf(what, sizeof what, "%s (%s)%s axis=%d keepdim=%d in [%g,%g)", op_names[op], sh, view_ndim ? " view" : "",
               axis, keepdim, lo, hi);
      int shape_ok = vkg_ndim(g, out[op]) == en;
      for (int i = 0; shape_ok && i < en; i++)
        shape_ok = vkg_dim(g, out[op], i) == es[i];
      if (!th_check(shape_ok, "%s: result shape", what)) continue;
      if (!th_ok(vkg_graph_read(g, out[op], got, m), what)) continue;
      ref_reduce(ref, mag, x, outer, n, inner, (vkg_reduce_op)op);
      if (op == VKG_REDUCE_MAX)
        close_mag(what, got, ref, mag, m, 0, 0);
      else
        close_mag(what, got, ref, mag, m, 1e-5f, 1e-5f);
    }
    free(got);
    free(ref);
    free(mag);
  }
  free(x);
  vkg_graph_destroy(g);
}

/* Every axis of shape, positive and negative, keepdim both ways. */
static void all_axes(vkg_ctx *ctx, int ndim, const int *shape) {
  for (int ax = -ndim; ax < ndim; ax++)
    for (int kd = 0; kd < 2; kd++)
      check(ctx, ndim, shape, ax, kd, -1, 1, 0, NULL);
}

/* A graph with one reduction of an input (dt, shape): compile must report want. */
static void expect_error(vkg_ctx *ctx, vkg_status want, const char *what, vkg_dtype dt, int ndim, const int *shape,
                         int op, int axis) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t x = vkg_input(g, "x", dt, ndim, shape);
  vkg_t r = vkg_reduce(g, (vkg_reduce_op)op, x, axis, 0);
  vkg_status s = vkg_graph_compile(g);
  th_check(r == VKG_NONE && s == want, "%s gives %s: %s", what, vkg_status_str(want), vkg_last_error());
  vkg_graph_destroy(g);
}

// ---- backward ----

struct red {
  vkg_reduce_op op;
  int axis, keepdim, outer, n, inner;
};

static void red_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct red *r = op->user;
  ref_reduce_d(y, NULL, in[0], r->outer, r->n, r->inner, r->op);
}
static void red_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct red *r = op->user;
  ref_reduce_bwd(gin[0], in[0], gy, r->outer, r->n, r->inner, r->op);
}
static vkg_t red_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  const struct red *r = op->user;
  return vkg_reduce(g, r->op, in[0], r->axis, r->keepdim);
}

/* Gradients of sum, mean and max over axis of shape, checked by finite differences and on the GPU
 * (random inputs have no ties, so max is differentiable there). */
static void check_grad(vkg_ctx *ctx, vkg_reduce_op o, int ndim, const int *shape, int axis, int keepdim) {
  int ax = axis < 0 ? axis + ndim : axis;
  struct red r = {o, axis, keepdim, 1, shape[ax], 1};
  for (int i = 0; i < ax; i++)
    r.outer *= shape[i];
  for (int i = ax + 1; i < ndim; i++)
    r.inner *= shape[i];
  char name[96], sh[48] = "";
  for (int i = 0; i < ndim; i++)
    snprintf(sh + strlen(sh), sizeof sh - strlen(sh), "%s%d", i ? "," : "", shape[i]);
  snprintf(name, sizeof name, "%s (%s) axis=%d keepdim=%d backward", op_names[o], sh, axis, keepdim);
  struct gc_op op = {.name = name,
                     .nin = 1,
                     .ndim = {ndim},
                     .out_n = (size_t)r.outer * r.inner,
                     .user = &r,
                     .fwd = red_fwd,
                     .bwd = red_bwd,
                     .build = red_build};
  memcpy(op.shape[0], shape, sizeof(int) * (size_t)ndim);
  gc_check(ctx, &op);
}

/* Ties: the gradient of max goes to the first maximal element of each line only. x (4, 3) reduced
 * over axis 0, loss = sum of the maxima. */
static void max_ties(vkg_ctx *ctx) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int s[2] = {4, 3};
  vkg_t x = vkg_input(g, "x", VKG_F32, 2, s);
  vkg_requires_grad(g, x);
  vkg_backward(g, vkg_reduce(g, VKG_REDUCE_SUM, vkg_reduce(g, VKG_REDUCE_MAX, x, 0, 0), 0, 0));
  vkg_t gx = vkg_grad(g, x);
  vkg_output(g, gx);
  /* columns: max 5 at rows 1 and 3; -2 everywhere; max 0 at rows 2 and 3 (with -0) */
  const float xh[12] = {1, -2, -1, 5, -2, -3, 2, -2, 0, 5, -2, -0.0f};
  const float ref[12] = {0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0};
  float got[12];
  if (th_ok(vkg_graph_compile(g), "max ties") && th_ok(vkg_graph_write(g, x, xh, 12), "max ties") &&
      th_ok(th_run(g), "max ties") && th_ok(vkg_graph_read(g, gx, got, 12), "max ties"))
    th_close("max backward with ties: all of the gradient to the first maximal element", got, ref, 12, 0, 0);
  vkg_graph_destroy(g);
}

/* A line longer than a shader loop may run: (2, 100003) over axis 1, the max placed at known spots
 * (twice in row 1, so the first must win). */
static void max_long(vkg_ctx *ctx) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int s[2] = {2, 100003}, col[2] = {2, 1}, row[2] = {1, 2};
  size_t n = 2 * 100003;
  vkg_t x = vkg_input(g, "x", VKG_F32, 2, s), w = vkg_input(g, "w", VKG_F32, 2, col);
  vkg_requires_grad(g, x);
  vkg_t m = vkg_reshape(g, vkg_reduce(g, VKG_REDUCE_MAX, x, 1, 0), 2, row);
  vkg_backward(g, vkg_matmul(g, m, w, VKG_NONE, 0)); /* loss = 3 max(row 0) - 2 max(row 1) */
  vkg_t gx = vkg_grad(g, x);
  vkg_output(g, gx);
  float *xh = th_alloc(n), *got = th_alloc(n), *ref = th_alloc(n), wh[2] = {3, -2};
  th_fill(xh, n, -1, 1);
  xh[99999] = 2;
  xh[100003 + 70001] = xh[100003 + 90000] = 1.5f;
  ref[99999] = 3;
  ref[100003 + 70001] = -2;
  if (th_ok(vkg_graph_compile(g), "max long") && th_ok(vkg_graph_write(g, x, xh, n), "max long") &&
      th_ok(vkg_graph_write(g, w, wh, 2), "max long") && th_ok(th_run(g), "max long") &&
      th_ok(vkg_graph_read(g, gx, got, n), "max long"))
    th_close("max backward over lines of 100003", got, ref, n, 0, 0);
  free(xh), free(got), free(ref);
  vkg_graph_destroy(g);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(3);

  /* 1-D: the result of keepdim=0 is (1,). 127 and 100003 take the workgroup-per-row kernel, the
   * short ones the thread-per-output kernel. */
  static const int lens[] = {1, 7, 13, 63, 64, 65, 127, 257, 100003};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
    for (int kd = 0; kd < 2; kd++)
      check(ctx, 1, &lens[i], kd ? 0 : -1, kd, -1, 1, 0, NULL);

  /* Every axis of awkward 2-D to 6-D shapes. */
  static const int s2a[] = {7, 13}, s2b[] = {13, 127}, s2c[] = {1, 1}, s3a[] = {7, 13, 5}, s3b[] = {1, 127, 1};
  static const int s4[] = {3, 1, 65, 7}, s6[] = {2, 3, 4, 5, 6, 7};
  all_axes(ctx, 2, s2a);
  all_axes(ctx, 2, s2b);
  all_axes(ctx, 2, s2c);
  all_axes(ctx, 3, s3a);
  all_axes(ctx, 3, s3b);
  all_axes(ctx, 4, s4);
  all_axes(ctx, 6, s6);

  /* Long rows, many rows, long columns. Reductions of more than 4096 steps per invocation run in
   * passes over segments: (70000, 64) over axis 0 takes 18 segments and (2, 5000, 3) over axis 1
   * two; a row of 4500000 takes 5 workgroup segments of 256 * 4096. */
  static const int l1[] = {3, 100003}, l2[] = {300, 257}, l3[] = {70000, 64}, l4[] = {2, 5000, 3}, l5[] = {4500000};
  check(ctx, 1, l5, 0, 1, -1, 1, 0, NULL);
  check(ctx, 3, l4, 1, 0, -1, 1, 0, NULL);
  check(ctx, 3, l4, -2, 1, 0, 1, 0, NULL);
  for (int ax = 0; ax < 2; ax++)
    check(ctx, 2, l1, ax, 0, -1, 1, 0, NULL);
  check(ctx, 2, l2, -1, 1, -1, 1, 0, NULL);
  check(ctx, 2, l2, 0, 0, -1, 1, 0, NULL);
  check(ctx, 2, l3, 1, 0, -1, 1, 0, NULL); /* 70000 workgroups: spread over (x, y) */
  check(ctx, 2, l3, 0, 1, -1, 1, 0, NULL);
  /* A large positive offset (sums near 1e8: compensated summation keeps them accurate) and all
   * negative values (max must not return its -inf starting value or 0). */
  check(ctx, 1, &lens[8], 0, 0, 1000, 1001, 0, NULL);
  check(ctx, 2, l1, -1, 1, -5, -1, 0, NULL);
  check(ctx, 2, s2b, 0, 0, -5, -1, 0, NULL);

  /* Reshape views as inputs: (6, 35) seen as (6, 5, 7), and (4, 30) seen as (120,). */
  static const int v_src[] = {6, 35}, v_shape[] = {6, 5, 7}, f_src[] = {4, 30}, f_shape[] = {120};
  for (int ax = -3; ax < 3; ax++)
    check(ctx, 3, v_shape, ax, ax & 1, -1, 1, 2, v_src);
  check(ctx, 1, f_shape, 0, 0, -1, 1, 2, f_src);

  /* A reduction feeding a reshape feeding a reduction: sum over axis 1 of (7, 13, 5) with keepdim,
   * viewed as (7, 5), then max over the last axis. */
  {
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    float *x;
    vkg_t in = th_input(g, 3, s3a, -1, 1, &x);
    int v[2] = {7, 5};
    vkg_t r = vkg_reduce(g, VKG_REDUCE_MAX, vkg_reshape(g, vkg_reduce(g, VKG_REDUCE_SUM, in, 1, 1), 2, v), -1, 0);
    vkg_output(g, r);
    if (th_ok(vkg_graph_compile(g), "chain") && th_ok(th_write_inputs(g), "chain") && th_ok(th_run(g), "chain")) {
      float got[7], s[35], ref[7], mag[35];
      th_ok(vkg_graph_read(g, r, got, 7), "chain read");
      ref_reduce(s, mag, x, 7, 13, 5, VKG_REDUCE_SUM);
      ref_reduce(ref, NULL, s, 7, 5, 1, VKG_REDUCE_MAX);
      for (int i = 0; i < 7; i++)
        mag[i] = 13; /* |each sum| <= 13 */
      close_mag("sum(axis 1, keepdim) -> reshape (7, 5) -> max(axis -1)", got, ref, mag, 7, 1e-5f, 1e-5f);
    }
    vkg_graph_destroy(g);
  }

  /* Backward of sum, mean and max. */
  static const int g3[] = {3, 4, 5}, g1[] = {13};
  for (int ax = -3; ax < 3; ax++)
    check_grad(ctx, ax & 1 ? VKG_REDUCE_MEAN : VKG_REDUCE_SUM, 3, g3, ax, ax < 0);
  check_grad(ctx, VKG_REDUCE_SUM, 1, g1, 0, 0);
  check_grad(ctx, VKG_REDUCE_MEAN, 1, g1, -1, 1);
  check_grad(ctx, VKG_REDUCE_MEAN, 2, (int[]){2, 130}, 1, 0); /* the workgroup-per-row kernel */
  for (int ax = -3; ax < 3; ax++)
    check_grad(ctx, VKG_REDUCE_MAX, 3, g3, ax, ax & 1);
  check_grad(ctx, VKG_REDUCE_MAX, 1, g1, 0, 0);
  check_grad(ctx, VKG_REDUCE_MAX, 2, (int[]){2, 130}, 1, 0);
  max_ties(ctx);
  max_long(ctx);

  /* Bad arguments. */
  static const int e2[] = {3, 4};
  expect_error(ctx, VKG_ERR_SHAPE, "axis 2 of a 2-D tensor", VKG_F32, 2, e2, VKG_REDUCE_SUM, 2);
  expect_error(ctx, VKG_ERR_SHAPE, "axis -3 of a 2-D tensor", VKG_F32, 2, e2, VKG_REDUCE_MAX, -3);
  expect_error(ctx, VKG_ERR_ARG, "an i32 input", VKG_I32, 2, e2, VKG_REDUCE_SUM, 0);
  expect_error(ctx, VKG_ERR_ARG, "an unknown op", VKG_F32, 2, e2, 7, 0);
  return th_finish(ctx);
}
