/* Losses: mse, bce-with-logits, cross-entropy and the Gaussian KL against double-precision C
 * references (forward: awkward shapes, a larger case, large logits of +-100, ignored and
 * out-of-range labels, every label ignored, C = 1, a row of C = 50257, more rows than one pass of
 * the cross-entropy's mean folds), their gradients by gradcheck (finite differences in double, then
 * the GPU), the gradient of a C = 50257 row against the C backward, and shape errors. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "internal.h" /* vkg__shape_str */
#include "check/ref_nn.h"

enum loss_kind { MSE, BCE, KL, CE };
static const char *kind_names[] = {"mse_loss", "bce_logits_loss", "gaussian_kl_loss", "cross_entropy_loss"};

// ---- references (double) ----
// Each takes the two inputs a, b of n values; the cross-entropy reads a as logits (rows, C) and b as
// labels (rows), and B is the KL's batch (its first dim).

struct loss_desc {
  enum loss_kind kind;
  size_t n;            /* elements of the first input */
  int B;               /* KL: batch */
  int rows, C, ignore; /* CE */
};

static double ref_loss(const struct loss_desc *d, const double *a, const double *b) {
  double s = 0;
  switch (d->kind) {
  case MSE:
    for (size_t i = 0; i < d->n; i++)
      s += (a[i] - b[i]) * (a[i] - b[i]);
    return s / (double)d->n;
  case BCE:
    for (size_t i = 0; i < d->n; i++)
      s += fmax(a[i], 0) + log1p(exp(-fabs(a[i]))) - a[i] * b[i];
    return s / (double)d->n;
  case KL:
    for (size_t i = 0; i < d->n; i++)
      s += 1 + b[i] - a[i] * a[i] - exp(b[i]);
    return -0.5 * s / d->B;
  default: return ref_cross_entropy_d(a, b, d->rows, d->C, d->ignore);
  }
}

/* ga, gb += dL/da, dL/db for dL/dloss = gy (gb NULL for the cross-entropy's labels). */
static void ref_loss_grad(const struct loss_desc *d, const double *a, const double *b, double gy, double *ga,
                          double *gb) {
  switch (d->kind) {
  case MSE:
    for (size_t i = 0; i < d->n; i++) {
      double e = 2 * (a[i] - b[i]) / (double)d->n * gy;
      ga[i] += e, gb[i] -= e;
    }
    return;
  case BCE:
    for (size_t i = 0; i < d->n; i++) {
      ga[i] += (1 / (1 + exp(-a[i])) - b[i]) / (double)d->n * gy;
      gb[i] -= a[i] / (double)d->n * gy;
    }
    return;
  case KL:
    for (size_t i = 0; i < d->n; i++) {
      ga[i] += a[i] / d->B * gy;
      gb[i] += 0.5 * (exp(b[i]) - 1) / d->B * gy;
    }
    return;
  default: ref_cross_entropy_bwd(ga, a, b, gy, d->rows, d->C, d->ignore);
  }
}

static vkg_t build_loss(vkg_graph *g, const struct loss_desc *d, vkg_t a, vkg_t b) {
  switch (d->kind) {
  case MSE: return vkg_mse_loss(g, a, b);
  case BCE: return vkg_bce_logits_loss(g, a, b);
  case KL: return vkg_gaussian_kl_loss(g, a, b);
  default: return vkg_cross_entropy_loss(g, a, b, d->ignore);
  }
}

// ---- forward ----

/* Runs the loss on host inputs a (float) and b (float, or labels for CE) of shapes sa, sb and
 * checks the value against the reference. */
static void forward(vkg_ctx *ctx, const struct loss_desc *d, int nda, const int *sa, const float *a, int ndb,
                    const int *sb, const float *b, const int32_t *labels, const char *what) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t ta = vkg_input(g, "a", VKG_F32, nda, sa), tb = vkg_input(g, "b", d->kind == CE ? VKG_I32 : VKG_F32, ndb, sb);
  vkg_t y = build_loss(g, d, ta, tb);
  vkg_output(g, y);
  size_t nb = d->kind == CE ? (size_t)d->rows : d->n;
  int ok = th_ok(vkg_graph_compile(g), what) && th_ok(vkg_graph_write(g, ta, a, d->n), what);
  if (ok && d->kind == CE)
    ok = th_ok(vkg_graph_write_i32(g, tb, labels, nb), what);
  else if (ok)
    ok = th_ok(vkg_graph_write(g, tb, b, nb), what);
  if (ok && th_ok(th_run(g), what)) {
    double *da = malloc(d->n * sizeof *da), *db = malloc(nb * sizeof *db);
    for (size_t i = 0; i < d->n; i++)
      da[i] = a[i];
    for (size_t i = 0; i < nb; i++)
      db[i] = d->kind == CE ? labels[i] : b[i];
    float got = NAN, ref = (float)ref_loss(d, da, db);
    th_check(vkg_ndim(g, y) == 1 && vkg_dim(g, y, 0) == 1, "%s: the loss has shape (1,)", what);
    if (th_ok(vkg_graph_read(g, y, &got, 1), what)) th_close(what, &got, &ref, 1, 1e-5f, 2e-5f);
    free(da);
    free(db);
  }
  vkg_graph_destroy(g);
}

/* mse, bce or KL on random inputs of shape (ndim, shape); a in [lo, hi). */
static void elementwise_loss(vkg_ctx *ctx, enum loss_kind kind, int ndim, const int *shape, float lo, float hi) {
  struct loss_desc d = {.kind = kind, .n = 1, .B = shape[0]};
  for (int i = 0; i < ndim; i++)
    d.n *= (size_t)shape[i];
  float *a = th_alloc(d.n), *b = th_alloc(d.n);
  th_fill(a, d.n, lo, hi);
  if (kind == BCE)
    for (size_t i = 0; i < d.n; i++)
      b[i] = i % 3 == 0 ? (float)(i % 2) : th_uniform(0, 1); /* hard and soft */
  else
    th_fill(b, d.n, kind == KL ? -3 : lo, kind == KL ? 2 : hi);
  char what[128], sh[64];
  snprintf(what, sizeof what, "%s %s, a in [%g, %g)", kind_names[kind], vkg__shape_str(shape, ndim, sh, sizeof sh), lo,
           hi);
  forward(ctx, &d, ndim, shape, a, ndim, shape, b, NULL, what);
  free(a);
  free(b);
}

/* Cross-entropy on logits (rows, C) in [-range, range) with labels from label(r). */
static void ce_forward(vkg_ctx *ctx, int rows, int C, float range, int ignore, int32_t (*label)(int r, int C),
                       const char *desc) {
  struct loss_desc d = {.kind = CE, .n = (size_t)rows * C, .rows = rows, .C = C, .ignore = ignore};
  float *a = th_alloc(d.n);
  th_fill(a, d.n, -range, range);
  int32_t *l = malloc(sizeof *l * (size_t)rows);
  for (int r = 0; r < rows; r++)
    l[r] = label(r, C);
  int sa[2] = {rows, C}, sb[1] = {rows};
  char what[160];
  snprintf(what, sizeof what, "cross_entropy (%d, %d), logits in [-%g, %g), %s", rows, C, range, range, desc);
  forward(ctx, &d, 2, sa, a, 1, sb, NULL, l, what);
  free(a);
  free(l);
}

static int32_t label_random(int r, int C) { return (int32_t)th_uniform(0, (float)C); }
/* Every fifth row ignored, some out of range (negative, C, far above), the rest random. */
static int32_t label_mixed(int r, int C) {
  switch (r % 5) {
  case 0: return -100;
  case 1: return r % 2 ? -3 : C + (r % 7);
  default: return (int32_t)th_uniform(0, (float)C);
  }
}
static int32_t label_ignored(int r, int C) { return r % 2 ? -100 : C; }

// ---- gradients ----

static void gc_fwd(const struct gc_op *op, double *const *in, double *y) { y[0] = ref_loss(op->user, in[0], in[1]); }
static void gc_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct loss_desc *d = op->user;
  ref_loss_grad(d, in[0], in[1], gy[0], gin[0], d->kind == CE ? NULL : gin[1]);
}
static vkg_t gc_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  return build_loss(g, op->user, in[0], in[1]);
}

static void grad_elementwise(vkg_ctx *ctx, enum loss_kind kind, int ndim, const int *shape) {
  struct loss_desc d = {.kind = kind, .n = 1, .B = shape[0]};
  for (int i = 0; i < ndim; i++)
    d.n *= (size_t)shape[i];
  char name[96], sh[64];
  snprintf(name, sizeof name, "%s %s backward", kind_names[kind], vkg__shape_str(shape, ndim, sh, sizeof sh));
  struct gc_op op = {.name = name,
                     .nin = 2,
                     .ndim = {ndim, ndim},
                     .out_n = 1,
                     .user = &d,
                     .fwd = gc_fwd,
                     .bwd = gc_bwd,
                     .build = gc_build};
  memcpy(op.shape[0], shape, sizeof(int) * (size_t)ndim);
  memcpy(op.shape[1], shape, sizeof(int) * (size_t)ndim);
  if (kind == BCE) op.lo[0] = -4, op.hi[0] = 4, op.lo[1] = 0, op.hi[1] = 1;
  if (kind == KL) op.lo[1] = -2, op.hi[1] = 1.5f;
  gc_check(ctx, &op);
}

/* Logits (lead..., C), labels in [0, C + 2) so some are out of range, and ignore_index 1. */
static void grad_ce(vkg_ctx *ctx, int nlead, const int *lead, int C) {
  struct loss_desc d = {.kind = CE, .rows = 1, .C = C, .ignore = 1};
  struct gc_op op = {.nin = 2,
                     .out_n = 1,
                     .user = &d,
                     .fwd = gc_fwd,
                     .bwd = gc_bwd,
                     .build = gc_build,
                     .is_int = {0, 1},
                     .int_hi = {0, C + 2},
                     .lo = {-3},
                     .hi = {3}};
  for (int i = 0; i < nlead; i++)
    d.rows *= lead[i];
  d.n = (size_t)d.rows * C;
  op.ndim[0] = nlead + 1, op.ndim[1] = nlead;
  for (int i = 0; i < nlead; i++)
    op.shape[0][i] = op.shape[1][i] = lead[i];
  op.shape[0][nlead] = C;
  if (nlead == 0) op.ndim[1] = 1, op.shape[1][0] = 1; /* a single row (C) takes labels (1,) */
  char name[96], sh[64];
  snprintf(name, sizeof name, "cross_entropy %s backward", vkg__shape_str(op.shape[0], op.ndim[0], sh, sizeof sh));
  op.name = name;
  gc_check(ctx, &op);
}

/* One row of C = 50257 (GPT-2's vocabulary) and a second, ignored row: the GPU gradient against the
 * C backward (finite differences over 10^5 logits would take too long). */
static void grad_ce_large(vkg_ctx *ctx) {
  const int rows = 2, C = 50257;
  struct loss_desc d = {.kind = CE, .n = (size_t)rows * C, .rows = rows, .C = C, .ignore = -100};
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int sa[2] = {rows, C}, sb[1] = {rows};
  vkg_t x = vkg_input(g, "logits", VKG_F32, 2, sa), l = vkg_input(g, "labels", VKG_I32, 1, sb);
  vkg_requires_grad(g, x);
  vkg_t y = vkg_cross_entropy_loss(g, x, l, -100);
  vkg_t ys = vkg_unary(g, VKG_AFFINE, y, 0.75f, 0); /* an upstream gradient other than 1 */
  vkg_backward(g, ys);
  vkg_t gx = vkg_grad(g, x);
  vkg_output(g, gx);
  vkg_output(g, y);
  const char *what = "cross_entropy (2, 50257) gradient, one row ignored";
  float *a = th_alloc(d.n);
  th_fill(a, d.n, -10, 10);
  int32_t lab[2] = {31337, -100};
  if (th_ok(vkg_graph_compile(g), what) && th_ok(vkg_graph_write(g, x, a, d.n), what) &&
      th_ok(vkg_graph_write_i32(g, l, lab, 2), what) && th_ok(th_run(g), what)) {
    double *da = malloc(d.n * sizeof *da), *ga = calloc(d.n, sizeof *ga), db[2] = {lab[0], lab[1]};
    for (size_t i = 0; i < d.n; i++)
      da[i] = a[i];
    ref_loss_grad(&d, da, db, 0.75, ga, NULL);
    float *got = th_alloc(d.n), *ref = th_alloc(d.n);
    for (size_t i = 0; i < d.n; i++)
      ref[i] = (float)ga[i];
    if (th_ok(vkg_graph_read(g, gx, got, d.n), what)) th_close(what, got, ref, d.n, 1e-7f, 1e-4f);
    float gl = NAN, rl = (float)ref_loss(&d, da, db);
    if (th_ok(vkg_graph_read(g, y, &gl, 1), what)) th_close("cross_entropy (2, 50257) loss", &gl, &rl, 1, 1e-5f, 1e-5f);
    free(da);
    free(ga);
    free(got);
    free(ref);
  }
  free(a);
  vkg_graph_destroy(g);
}

// ---- shape errors ----

static void expect_error(vkg_ctx *ctx, const char *what, vkg_t (*build)(vkg_graph *g), vkg_status want,
                         const char *needle) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t y = build(g);
  vkg_status s = vkg_graph_compile(g);
  th_check(y == VKG_NONE && s == want && strstr(vkg_last_error(), needle), "%s gives %s: %s", what,
           vkg_status_str(want), vkg_last_error());
  vkg_graph_destroy(g);
}

static vkg_t bad_mse(vkg_graph *g) {
  int a[2] = {4, 8}, b[2] = {8, 4};
  return vkg_mse_loss(g, vkg_input(g, "a", VKG_F32, 2, a), vkg_input(g, "b", VKG_F32, 2, b));
}
static vkg_t bad_bce(vkg_graph *g) {
  int a[2] = {4, 8}, b[1] = {8}; /* broadcastable, but a loss takes matching shapes */
  return vkg_bce_logits_loss(g, vkg_input(g, "a", VKG_F32, 2, a), vkg_input(g, "b", VKG_F32, 1, b));
}
static vkg_t bad_kl(vkg_graph *g) {
  int a[2] = {4, 8}, b[2] = {4, 7};
  return vkg_gaussian_kl_loss(g, vkg_input(g, "mu", VKG_F32, 2, a), vkg_input(g, "logvar", VKG_F32, 2, b));
}
static vkg_t bad_ce_labels(vkg_graph *g) {
  int a[3] = {2, 3, 10}, b[2] = {3, 2};
  return vkg_cross_entropy_loss(g, vkg_input(g, "x", VKG_F32, 3, a), vkg_input(g, "l", VKG_I32, 2, b), -100);
}
static vkg_t bad_ce_rank(vkg_graph *g) {
  int a[2] = {6, 10}, b[2] = {6, 1};
  return vkg_cross_entropy_loss(g, vkg_input(g, "x", VKG_F32, 2, a), vkg_input(g, "l", VKG_I32, 2, b), -100);
}
static vkg_t bad_ce_dtype(vkg_graph *g) {
  int a[2] = {6, 10}, b[1] = {6};
  return vkg_cross_entropy_loss(g, vkg_input(g, "x", VKG_F32, 2, a), vkg_input(g, "l", VKG_F32, 1, b), -100);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(11);

  int s1[1] = {1}, s7x13[2] = {7, 13}, s127[1] = {127}, s3d[3] = {3, 5, 11}, big[2] = {300, 1031};
  for (int k = MSE; k <= KL; k++) {
    elementwise_loss(ctx, k, 1, s1, -2, 2);
    elementwise_loss(ctx, k, 2, s7x13, -2, 2);
    elementwise_loss(ctx, k, 1, s127, -2, 2);
    elementwise_loss(ctx, k, 3, s3d, -2, 2);
    elementwise_loss(ctx, k, 2, big, -2, 2);
  }
  elementwise_loss(ctx, BCE, 2, s7x13, -100, 100); /* softplus must not overflow */
  elementwise_loss(ctx, BCE, 2, big, -100, 100);

  ce_forward(ctx, 1, 1, 3, -100, label_random, "C = 1");
  ce_forward(ctx, 7, 1, 3, -100, label_random, "C = 1");
  ce_forward(ctx, 13, 7, 3, -100, label_random, "random labels");
  ce_forward(ctx, 127, 13, 100, -100, label_random, "large logits");
  ce_forward(ctx, 127, 13, 100, -100, label_mixed, "ignored and out-of-range labels");
  ce_forward(ctx, 33, 257, 5, 3, label_mixed, "ignore_index 3 and out-of-range labels");
  ce_forward(ctx, 9, 13, 3, -100, label_ignored, "every label ignored or out of range (loss 0)");
  ce_forward(ctx, 3, 50257, 20, -100, label_mixed, "GPT-2 vocabulary, one row ignored");
  ce_forward(ctx, 40000, 3, 4, -100, label_mixed, "rows over three mean segments");

  grad_elementwise(ctx, MSE, 2, s7x13);
  grad_elementwise(ctx, MSE, 1, s1);
  grad_elementwise(ctx, BCE, 2, s7x13);
  grad_elementwise(ctx, BCE, 3, s3d);
  grad_elementwise(ctx, KL, 2, s7x13);
  grad_elementwise(ctx, KL, 3, s3d);
  int l13[1] = {13}, l3x5[2] = {3, 5}, l7[1] = {7};
  grad_ce(ctx, 1, l13, 7);
  grad_ce(ctx, 2, l3x5, 11);
  grad_ce(ctx, 0, NULL, 13);
  grad_ce(ctx, 1, l7, 1);
  grad_ce(ctx, 1, l7, 127);
  grad_ce_large(ctx);

  expect_error(ctx, "mse_loss of (4, 8) and (8, 4)", bad_mse, VKG_ERR_SHAPE, "(4, 8)");
  expect_error(ctx, "bce_logits_loss of (4, 8) and (8)", bad_bce, VKG_ERR_SHAPE, "same shape");
  expect_error(ctx, "gaussian_kl_loss of (4, 8) and (4, 7)", bad_kl, VKG_ERR_SHAPE, "(4, 7)");
  expect_error(ctx, "cross_entropy of (2, 3, 10) with labels (3, 2)", bad_ce_labels, VKG_ERR_SHAPE, "(3, 2)");
  expect_error(ctx, "cross_entropy of (6, 10) with labels (6, 1)", bad_ce_rank, VKG_ERR_SHAPE, "(6, 1)");
  expect_error(ctx, "cross_entropy with f32 labels", bad_ce_dtype, VKG_ERR_ARG, "i32");
  return th_finish(ctx);
}
