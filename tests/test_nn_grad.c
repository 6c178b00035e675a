/* Gradients of softmax, log-softmax, layernorm, batchnorm, embedding and attention. Each case is
 * checked by central finite differences of the double-precision C reference (tests/ref_nn.c) and then
 * on the GPU against the C backward (tests/gradcheck.h), on awkward shapes: rows of 1, 7, 13 and
 * longer than a workgroup; layernorm with and without gamma/beta; batchnorm 2-D to 4-D, training and
 * inference, with and without running statistics; embedding with repeated, out-of-range and
 * negative ids, and enough ids that equal ids cross the sort's blocks and the summing segments;
 * attention with Tq = Tk, Tq < Tk, Tq = 1, Tq > Tk, causal and not, D = 1, Dv != D, several heads and
 * batches. Some cases freeze inputs so only part of an op's gradients is made. The embedding
 * gradient must also be the same bits on every run. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "check/ref_nn.h"

static const float EPS = 1e-5f; /* layernorm and batchnorm eps */

static size_t numel(int ndim, const int *shape) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)shape[i];
  return n;
}

static void shape_name(char *buf, size_t size, int ndim, const int *shape) {
  size_t o = (size_t)snprintf(buf, size, "(");
  for (int i = 0; i < ndim && o < size; i++)
    o += (size_t)snprintf(buf + o, size - o, "%s%d", i ? ", " : "", shape[i]);
  if (o < size) snprintf(buf + o, size - o, ")");
}

// ---- softmax and log-softmax ----

struct sm {
  int rows, C, log_;
};

static void sm_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct sm *s = op->user;
  ref_softmax_d(y, in[0], s->rows, s->C, s->log_);
}
static void sm_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct sm *s = op->user;
  ref_softmax_bwd(gin[0], in[0], gy, s->rows, s->C, s->log_);
}
static vkg_t sm_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  return ((const struct sm *)op->user)->log_ ? vkg_log_softmax(g, in[0]) : vkg_softmax(g, in[0]);
}

static void check_softmax(vkg_ctx *ctx, int ndim, const int *shape, int log_) {
  size_t n = numel(ndim, shape);
  struct sm s = {(int)(n / (size_t)shape[ndim - 1]), shape[ndim - 1], log_};
  char name[96], sh[48];
  shape_name(sh, sizeof sh, ndim, shape);
  snprintf(name, sizeof name, "%s %s backward", log_ ? "log_softmax" : "softmax", sh);
  struct gc_op op = {.name = name,
                     .nin = 1,
                     .ndim = {ndim},
                     .lo = {-3},
                     .hi = {3},
                     .out_n = n,
                     .user = &s,
                     .fwd = sm_fwd,
                     .bwd = sm_bwd,
                     .build = sm_build};
  memcpy(op.shape[0], shape, sizeof(int) * (size_t)ndim);
  gc_check(ctx, &op);
}

// ---- layernorm ----

struct ln {
  int rows, C, gamma, beta; /* inputs: x, then gamma and beta when present */
};

static void ln_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct ln *l = op->user;
  ref_layernorm_d(y, NULL, NULL, in[0], l->gamma ? in[1] : NULL, l->beta ? in[1 + l->gamma] : NULL, l->rows, l->C, EPS);
}
static void ln_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct ln *l = op->user;
  ref_layernorm_bwd(gin[0], l->gamma ? gin[1] : NULL, l->beta ? gin[1 + l->gamma] : NULL, in[0],
                    l->gamma ? in[1] : NULL, gy, l->rows, l->C, EPS);
}
static vkg_t ln_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  const struct ln *l = op->user;
  return vkg_layernorm(g, in[0], l->gamma ? in[1] : VKG_NONE, l->beta ? in[1 + l->gamma] : VKG_NONE, EPS);
}

/* frozen_x: x gets no gradient, so only dgamma/dbeta are made. */
static void check_layernorm(vkg_ctx *ctx, int rows, int C, int gamma, int beta, int frozen_x) {
  struct ln l = {rows, C, gamma, beta};
  char name[96];
  snprintf(name, sizeof name, "layernorm (%d, %d) gamma=%d beta=%d%s backward", rows, C, gamma, beta,
           frozen_x ? " frozen x" : "");
  struct gc_op op = {.name = name,
                     .nin = 1 + gamma + beta,
                     .ndim = {2, 1, 1},
                     .shape = {{rows, C}, {C}, {C}},
                     .no_grad = {frozen_x},
                     .out_n = (size_t)rows * C,
                     .user = &l,
                     .fwd = ln_fwd,
                     .bwd = ln_bwd,
                     .build = ln_build};
  if (gamma) op.lo[1] = 0.5f, op.hi[1] = 1.5f;
  gc_check(ctx, &op);
}

// ---- batchnorm ----

struct bn {
  int B, C, S, affine, running, training; /* inputs: x, [gamma, beta], [running_mean, running_var] */
};

static void bn_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct bn *b = op->user;
  int r = 1 + 2 * b->affine;
  /* The running statistics are read in inference only: the in-place update of training is not part
   * of the function being differentiated. */
  ref_batchnorm_d(y, NULL, NULL, b->training ? NULL : in[r], b->training ? NULL : in[r + 1], in[0],
                  b->affine ? in[1] : NULL, b->affine ? in[2] : NULL, b->B, b->C, b->S, 0.1, EPS, b->training);
}
static void bn_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct bn *b = op->user;
  int r = 1 + 2 * b->affine;
  ref_batchnorm_bwd(gin[0], b->affine ? gin[1] : NULL, b->affine ? gin[2] : NULL, in[0], b->affine ? in[1] : NULL,
                    b->running ? in[r] : NULL, b->running ? in[r + 1] : NULL, gy, b->B, b->C, b->S, EPS, b->training);
}
static vkg_t bn_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  const struct bn *b = op->user;
  int r = 1 + 2 * b->affine;
  return vkg_batchnorm(g, in[0], b->affine ? in[1] : VKG_NONE, b->affine ? in[2] : VKG_NONE,
                       b->running ? in[r] : VKG_NONE, b->running ? in[r + 1] : VKG_NONE, 0.1f, EPS, b->training);
}

static void check_batchnorm(vkg_ctx *ctx, int ndim, const int *shape, int training, int affine, int running,
                            int frozen_x) {
  struct bn b = {
      shape[0], shape[1], (int)(numel(ndim, shape) / ((size_t)shape[0] * shape[1])), affine, running || !training,
      training};
  char name[128], sh[48];
  shape_name(sh, sizeof sh, ndim, shape);
  snprintf(name, sizeof name, "batchnorm %s %s affine=%d running=%d%s backward", sh, training ? "train" : "eval",
           affine, b.running, frozen_x ? " frozen x" : "");
  struct gc_op op = {.name = name,
                     .nin = 1 + 2 * affine + 2 * b.running,
                     .ndim = {ndim},
                     .no_grad = {frozen_x},
                     .out_n = numel(ndim, shape),
                     .user = &b,
                     .fwd = bn_fwd,
                     .bwd = bn_bwd,
                     .build = bn_build};
  memcpy(op.shape[0], shape, sizeof(int) * (size_t)ndim);
  for (int i = 1; i < op.nin; i++)
    op.ndim[i] = 1, op.shape[i][0] = b.C;
  if (affine) op.lo[1] = 0.5f, op.hi[1] = 1.5f;
  if (b.running) {
    int r = 1 + 2 * affine;
    op.no_grad[r] = op.no_grad[r + 1] = 1;    /* constants */
    op.lo[r + 1] = 0.5f, op.hi[r + 1] = 2.0f; /* a variance */
  }
  gc_check(ctx, &op);
}

// ---- embedding ----

struct em {
  int V, C, n;
};

static int32_t *int_ids(const double *d, int n) {
  int32_t *ids = malloc(sizeof *ids * (size_t)n);
  for (int i = 0; i < n; i++)
    ids[i] = (int32_t)d[i];
  return ids;
}
static void em_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct em *e = op->user;
  int32_t *ids = int_ids(in[1], e->n);
  ref_embedding_d(y, in[0], ids, e->n, e->V, e->C);
  free(ids);
}
static void em_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct em *e = op->user;
  int32_t *ids = int_ids(in[1], e->n);
  ref_embedding_bwd(gin[0], ids, gy, e->n, e->V, e->C);
  free(ids);
}
static vkg_t em_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  (void)op;
  return vkg_embedding(g, in[0], in[1]);
}

/* ids (ndim, shape) uniform in [0, id_hi): ids >= V are out of range. */
static void check_embedding(vkg_ctx *ctx, int V, int C, int ndim, const int *shape, int id_hi) {
  int n = (int)numel(ndim, shape);
  struct em e = {V, C, n};
  char name[128], sh[48];
  shape_name(sh, sizeof sh, ndim, shape);
  snprintf(name, sizeof name, "embedding table (%d, %d) ids %s in [0, %d) backward", V, C, sh, id_hi);
  struct gc_op op = {.name = name,
                     .nin = 2,
                     .ndim = {2, ndim},
                     .shape = {{V, C}},
                     .is_int = {0, 1},
                     .int_hi = {0, id_hi},
                     .out_n = (size_t)n * C,
                     .user = &e,
                     .fwd = em_fwd,
                     .bwd = em_bwd,
                     .build = em_build};
  memcpy(op.shape[1], shape, sizeof(int) * (size_t)ndim);
  gc_check(ctx, &op);
}

/* Negative and huge ids (which gradcheck's [0, hi) ids never are), many repeats, and determinism:
 * two runs must give the same bits. */
static void embedding_odd_ids(vkg_ctx *ctx, int V, int C, int n) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int ts[2] = {V, C}, is[1] = {n}, row[2] = {1, n * C}, col[2] = {n * C, 1};
  vkg_t table = vkg_input(g, "table", VKG_F32, 2, ts), ids = vkg_input(g, "ids", VKG_I32, 1, is);
  vkg_t r = vkg_input(g, "r", VKG_F32, 2, col);
  vkg_requires_grad(g, table);
  vkg_t y = vkg_embedding(g, table, ids);
  vkg_backward(g, vkg_matmul(g, vkg_reshape(g, y, 2, row), r, VKG_NONE, 0)); /* dL/dy = r */
  vkg_t gt = vkg_grad(g, table);
  vkg_output(g, gt);
  char what[128];
  snprintf(what, sizeof what, "embedding (%d, %d) with %d ids, some negative or >= V, backward", V, C, n);
  if (th_ok(vkg_graph_compile(g), what)) {
    float *th = th_alloc((size_t)V * C), *rh = th_alloc((size_t)n * C);
    int32_t *ih = malloc(sizeof *ih * (size_t)n);
    th_fill(th, (size_t)V * C, -1, 1);
    th_fill(rh, (size_t)n * C, -1, 1);
    static const int32_t odd[] = {-1, INT_MIN, INT_MAX, -7};
    for (int i = 0; i < n; i++) {
      int u = (int)th_uniform(0, 10);
      ih[i] = u == 0 ? odd[i % 4] : u == 1 ? V + i % 3 : (int32_t)th_uniform(0, (float)V);
    }
    float *got = th_alloc((size_t)V * C), *again = th_alloc((size_t)V * C), *ref = th_alloc((size_t)V * C);
    double *dy = malloc(sizeof *dy * (size_t)n * C), *dt = calloc((size_t)V * C, sizeof *dt);
    for (size_t i = 0; i < (size_t)n * C; i++)
      dy[i] = rh[i];
    ref_embedding_bwd(dt, ih, dy, n, V, C);
    for (size_t i = 0; i < (size_t)V * C; i++)
      ref[i] = (float)dt[i];
    size_t nt = (size_t)V * C;
    if (th_ok(vkg_graph_write(g, table, th, nt), what) && th_ok(vkg_graph_write_i32(g, ids, ih, (size_t)n), what) &&
        th_ok(vkg_graph_write(g, r, rh, (size_t)n * C), what) && th_ok(th_run(g), what) &&
        th_ok(vkg_graph_read(g, gt, got, nt), what) && th_close(what, got, ref, nt, 1e-4f, 1e-4f) &&
        th_ok(th_run(g), what) && th_ok(vkg_graph_read(g, gt, again, nt), what))
      th_check(memcmp(got, again, sizeof *got * nt) == 0, "%s: a second run gives the same bits", what);
    free(th), free(rh), free(ih), free(got), free(again), free(ref), free(dy), free(dt);
  }
  vkg_graph_destroy(g);
}

// ---- large shapes ----

/* Shapes too large for finite differences: only the GPU gradients against the C backward, with
 * loss = sum(y * r) made of reductions (which split long sums over passes). Covers batchnorm with
 * more values per channel than one workgroup sums, layernorm with more rows than one reduction pass
 * takes, softmax with long rows. */
static void check_large(vkg_ctx *ctx, const struct gc_op *op, float atol, float rtol) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t x[GC_MAX_IN], gx[GC_MAX_IN];
  for (int i = 0; i < op->nin; i++) {
    x[i] = vkg_input(g, "x", VKG_F32, op->ndim[i], op->shape[i]);
    if (!op->no_grad[i]) vkg_requires_grad(g, x[i]);
  }
  vkg_t y = op->build(g, op, x);
  int flat[1] = {(int)op->out_n}, ys[VKG_MAX_DIMS], ynd = vkg_ndim(g, y);
  for (int d = 0; d < ynd; d++)
    ys[d] = vkg_dim(g, y, d);
  vkg_t r = vkg_input(g, "r", VKG_F32, ynd, ys);
  vkg_backward(g, vkg_reduce(g, VKG_REDUCE_SUM, vkg_reshape(g, vkg_binary(g, VKG_MUL, y, r), 1, flat), 0, 0));
  for (int i = 0; i < op->nin; i++) {
    gx[i] = op->no_grad[i] ? VKG_NONE : vkg_grad(g, x[i]);
    if (gx[i] != VKG_NONE) vkg_output(g, gx[i]);
  }
  int ok = th_ok(vkg_graph_compile(g), op->name);
  double *in[GC_MAX_IN] = {0}, *gin[GC_MAX_IN] = {0}, *gy = malloc(sizeof *gy * op->out_n);
  float *rh = th_alloc(op->out_n);
  th_fill(rh, op->out_n, -1, 1);
  for (size_t j = 0; j < op->out_n; j++)
    gy[j] = rh[j];
  for (int i = 0; i < op->nin; i++) {
    size_t n = gc_numel(op, i);
    float *v = th_alloc(n), lo = op->lo[i], hi = op->hi[i];
    if (lo == 0 && hi == 0) lo = -1, hi = 1;
    th_fill(v, n, lo, hi);
    in[i] = malloc(sizeof(double) * n);
    gin[i] = calloc(n, sizeof(double));
    for (size_t k = 0; k < n; k++)
      in[i][k] = v[k];
    ok = ok && th_ok(vkg_graph_write(g, x[i], v, n), op->name);
    free(v);
  }
  if (ok && th_ok(vkg_graph_write(g, r, rh, op->out_n), op->name) && th_ok(th_run(g), op->name)) {
    op->bwd(op, in, gy, gin);
    for (int i = 0; i < op->nin; i++) {
      if (op->no_grad[i]) continue;
      size_t n = gc_numel(op, i);
      float *got = th_alloc(n), *ref = th_alloc(n);
      for (size_t k = 0; k < n; k++)
        ref[k] = (float)gin[i][k];
      char what[160];
      snprintf(what, sizeof what, "%s: GPU gradient of input %d", op->name, i);
      if (th_ok(vkg_graph_read(g, gx[i], got, n), what)) th_close(what, got, ref, n, atol, rtol);
      free(got), free(ref);
    }
  }
  for (int i = 0; i < op->nin; i++)
    free(in[i]), free(gin[i]);
  free(gy), free(rh);
  vkg_graph_destroy(g);
}

static void large_cases(vkg_ctx *ctx) {
  /* 360000 values per channel: two segments of batchnorm_bwd_sums, summed by vkg_reduce */
  for (int training = 0; training < 2; training++) {
    struct bn b = {4, 2, 90000, 1, 1, training};
    struct gc_op op = {.name = training ? "batchnorm (4, 2, 300, 300) train, large"
                                        : "batchnorm (4, 2, 300, 300) eval, large",
                       .nin = 5,
                       .ndim = {4, 1, 1, 1, 1},
                       .shape = {{4, 2, 300, 300}, {2}, {2}, {2}, {2}},
                       .no_grad = {0, 0, 0, 1, 1},
                       .lo = {-1, 0.5f, -1, -1, 0.5f},
                       .hi = {1, 1.5f, 1, 1, 2},
                       .out_n = 720000,
                       .user = &b,
                       .bwd = bn_bwd,
                       .build = bn_build};
    check_large(ctx, &op, 1e-3f, 1e-3f);
  }
  /* 70000 rows: dgamma and dbeta sum columns in more than one pass */
  struct ln l = {70000, 3, 1, 1};
  struct gc_op lop = {.name = "layernorm (70000, 3), large",
                      .nin = 3,
                      .ndim = {2, 1, 1},
                      .shape = {{70000, 3}, {3}, {3}},
                      .lo = {-1, 0.5f, -1},
                      .hi = {1, 1.5f, 1},
                      .out_n = 210000,
                      .user = &l,
                      .bwd = ln_bwd,
                      .build = ln_build};
  check_large(ctx, &lop, 1e-3f, 1e-3f);
  for (int log_ = 0; log_ < 2; log_++) {
    struct sm s = {2, 100000, log_};
    struct gc_op sop = {.name = log_ ? "log_softmax (2, 100000), large" : "softmax (2, 100000), large",
                        .nin = 1,
                        .ndim = {2},
                        .shape = {{2, 100000}},
                        .lo = {-3},
                        .hi = {3},
                        .out_n = 200000,
                        .user = &s,
                        .bwd = sm_bwd,
                        .build = sm_build};
    check_large(ctx, &sop, log_ ? 1e-5f : 1e-9f, 1e-3f); /* softmax's dx is ~1e-5 per element */
  }
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(11);

  static const int s1x1[] = {1, 1}, s1x7[] = {1, 7}, s13x1[] = {13, 1}, s7x13[] = {7, 13}, s2x3x13[] = {2, 3, 13};
  static const int s2x300[] = {2, 300};
  for (int log_ = 0; log_ < 2; log_++) {
    check_softmax(ctx, 2, s1x1, log_);
    check_softmax(ctx, 2, s1x7, log_);
    check_softmax(ctx, 2, s13x1, log_);
    check_softmax(ctx, 2, s7x13, log_);
    check_softmax(ctx, 3, s2x3x13, log_);
    check_softmax(ctx, 2, s2x300, log_); /* rows longer than a workgroup */
  }

  /* rows, C, gamma, beta, frozen x */
  check_layernorm(ctx, 1, 7, 1, 1, 0);
  check_layernorm(ctx, 7, 13, 1, 1, 0);
  check_layernorm(ctx, 13, 7, 0, 0, 0);
  check_layernorm(ctx, 13, 1, 1, 1, 0);
  check_layernorm(ctx, 7, 13, 1, 0, 0);
  check_layernorm(ctx, 7, 13, 0, 1, 0);
  check_layernorm(ctx, 2, 300, 1, 1, 0);
  check_layernorm(ctx, 130, 3, 1, 1, 0);
  check_layernorm(ctx, 7, 13, 1, 1, 1);
  check_layernorm(ctx, 7, 13, 0, 1, 1);

  /* shape, training, affine, running statistics, frozen x */
  static const int b7x3[] = {7, 3}, b13x1[] = {13, 1}, b2x13x7[] = {2, 13, 7}, b2x3x4x5[] = {2, 3, 4, 5};
  static const int b3x2x1x7[] = {3, 2, 1, 7}, b1x4x3x3[] = {1, 4, 3, 3};
  check_batchnorm(ctx, 2, b7x3, 1, 1, 0, 0);
  check_batchnorm(ctx, 2, b13x1, 1, 0, 1, 0);
  check_batchnorm(ctx, 3, b2x13x7, 1, 1, 0, 0);
  check_batchnorm(ctx, 4, b2x3x4x5, 1, 1, 1, 0);
  check_batchnorm(ctx, 4, b1x4x3x3, 1, 0, 0, 0);
  check_batchnorm(ctx, 2, b7x3, 0, 1, 1, 0);
  check_batchnorm(ctx, 4, b3x2x1x7, 0, 1, 1, 0);
  check_batchnorm(ctx, 4, b2x3x4x5, 0, 0, 1, 0);
  check_batchnorm(ctx, 4, b2x3x4x5, 1, 1, 0, 1);
  check_batchnorm(ctx, 2, b7x3, 0, 1, 1, 1);

  /* V, C, ids shape, ids in [0, hi) */
  static const int i7[] = {7}, i2x13[] = {2, 13}, i13[] = {13}, i1[] = {1}, i1000[] = {1000}, i3000[] = {3000};
  static const int i2000[] = {2000};
  check_embedding(ctx, 5, 3, 1, i7, 5);    /* repeats */
  check_embedding(ctx, 5, 3, 2, i2x13, 8); /* out of range */
  check_embedding(ctx, 3, 4, 1, i13, 1);   /* all one id */
  check_embedding(ctx, 1, 7, 1, i1, 1);    /* one row */
  check_embedding(ctx, 13, 1, 1, i13, 13);
  check_embedding(ctx, 7, 3, 1, i1000, 9);     /* sorted in two blocks */
  check_embedding(ctx, 40, 2, 1, i3000, 45);   /* runs cross the summing segments */
  check_embedding(ctx, 3, 2, 1, i2000, 1);     /* one run over every segment */
  check_embedding(ctx, 3000, 2, 1, i13, 3000); /* a vocabulary larger than the sort */
  embedding_odd_ids(ctx, 37, 3, 5000);

  /* B, NH, Tq, Tk, D, Dv, causal, scale */
  static const struct gc_attention cases[] = {
      {1, 1, 1, 1, 1, 1, 0, 0}, {1, 1, 7, 7, 4, 4, 0, 0},   {2, 3, 5, 13, 3, 7, 0, 0},  {1, 2, 1, 13, 8, 5, 0, 0},
      {1, 1, 7, 7, 1, 2, 0, 0}, {1, 1, 33, 40, 5, 6, 0, 0}, {2, 2, 7, 13, 13, 1, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int causal = 0; causal < 2; causal++) {
      struct gc_attention a = cases[i];
      a.causal = causal;
      gc_check_attention(ctx, a, 0);
    }
  gc_check_attention(ctx, (struct gc_attention){2, 1, 13, 5, 4, 3, 0, 0}, 0);      /* Tq > Tk (not causal) */
  gc_check_attention(ctx, (struct gc_attention){1, 2, 7, 9, 6, 5, 1, 0.7f}, 0);    /* an explicit scale */
  gc_check_attention(ctx, (struct gc_attention){1, 2, 7, 9, 6, 5, 1, 0}, 1u | 2u); /* dv only */
  gc_check_attention(ctx, (struct gc_attention){1, 2, 7, 9, 6, 5, 0, 0}, 4u);      /* dq and dk only */
  gc_check_attention(ctx, (struct gc_attention){1, 1, 5, 8, 3, 4, 1, 0}, 1u | 4u); /* dk only */
  large_cases(ctx);
  return th_finish(ctx);
}
