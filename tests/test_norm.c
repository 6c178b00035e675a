/* softmax, log-softmax, layernorm, batchnorm and embedding against the plain-C references:
 * awkward row lengths, large logits, optional gamma/beta, the saved statistics, batchnorm's in-place
 * running-statistics update (input and bound tensors, two runs), out-of-range ids, shape errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h" /* to find the saved statistics among the node's outputs */
#include "check/ref_nn.h"

#define ATOL 1e-5f
#define RTOL 1e-4f

/* A graph input and its random host data (written after compile). */
struct in {
  vkg_t t;
  float *h;
  size_t n;
};

static struct in input(vkg_graph *g, int ndim, const int *shape, float lo, float hi) {
  struct in x = {vkg_input(g, "x", VKG_F32, ndim, shape), NULL, 1};
  for (int i = 0; i < ndim; i++)
    x.n *= (size_t)shape[i];
  x.h = th_alloc(x.n);
  th_fill(x.h, x.n, lo, hi);
  return x;
}

static int write_in(vkg_graph *g, const struct in *x, const char *what) {
  return x->t == VKG_NONE || th_ok(vkg_graph_write(g, x->t, x->h, x->n), what);
}

/* Output i of the last op added to g: outputs past the first are statistics saved for the backward. */
static vkg_t saved(vkg_graph *g, int i) {
  const struct vkg_node *n = &g->nodes[g->nnodes - 1];
  return i < n->nout ? n->out[i] : VKG_NONE;
}

/* Reads n values of t and compares them with ref. */
static void expect(vkg_graph *g, vkg_t t, const float *ref, size_t n, const char *what, float atol, float rtol) {
  float *got = th_alloc(n);
  if (th_ok(vkg_graph_read(g, t, got, n), what)) th_close(what, got, ref, n, atol, rtol);
  free(got);
}

// ---- softmax ----

static void softmax(vkg_ctx *ctx, int ndim, const int *shape, float range) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  struct in x = input(g, ndim, shape, -range, range);
  vkg_t y = vkg_softmax(g, x.t), ly = vkg_log_softmax(g, x.t);
  vkg_output(g, y);
  vkg_output(g, ly);
  int C = shape[ndim - 1], rows = (int)(x.n / (size_t)C);
  char what[128], sh[64];
  vkg__shape_str(shape, ndim, sh, sizeof sh);
  snprintf(what, sizeof what, "softmax %s on [-%g, %g)", sh, range, range);
  if (th_ok(vkg_graph_compile(g), what) && write_in(g, &x, what) && th_ok(th_run(g), what)) {
    float *ref = th_alloc(x.n);
    ref_softmax(ref, x.h, rows, C, 0);
    expect(g, y, ref, x.n, what, ATOL, RTOL);
    ref_softmax(ref, x.h, rows, C, 1);
    snprintf(what, sizeof what, "log_softmax %s on [-%g, %g)", sh, range, range);
    expect(g, ly, ref, x.n, what, ATOL, RTOL);
    free(ref);
  }
  free(x.h);
  vkg_graph_destroy(g);
}

// ---- layernorm ----

static void layernorm(vkg_ctx *ctx, int rows, int C, int use_gamma, int use_beta, float lo, float hi) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int xs[2] = {rows, C}, cs[1] = {C};
  struct in x = input(g, 2, xs, lo, hi), ga = {VKG_NONE}, be = {VKG_NONE};
  if (use_gamma) ga = input(g, 1, cs, 0.5f, 1.5f);
  if (use_beta) be = input(g, 1, cs, -1, 1);
  const float eps = 1e-5f;
  vkg_t y = vkg_layernorm(g, x.t, ga.t, be.t, eps);
  vkg_t stats = y == VKG_NONE ? VKG_NONE : saved(g, 1);
  vkg_output(g, y);
  vkg_output(g, stats);
  char what[128];
  snprintf(what, sizeof what, "layernorm (%d, %d) gamma=%d beta=%d on [%g, %g)", rows, C, use_gamma, use_beta, lo, hi);
  if (th_ok(vkg_graph_compile(g), what) && write_in(g, &x, what) && write_in(g, &ga, what) && write_in(g, &be, what) &&
      th_ok(th_run(g), what)) {
    float *ref = th_alloc(x.n), *mean = th_alloc((size_t)rows), *rstd = th_alloc((size_t)rows);
    ref_layernorm(ref, mean, rstd, x.h, ga.h, be.h, rows, C, eps);
    expect(g, y, ref, x.n, what, ATOL, RTOL);
    /* the saved (rows, 2) statistics: mean, rstd */
    float *st = th_alloc(2 * (size_t)rows), *rs = th_alloc(2 * (size_t)rows);
    for (int r = 0; r < rows; r++)
      rs[2 * r] = mean[r], rs[2 * r + 1] = rstd[r];
    th_check(vkg_ndim(g, stats) == 2 && vkg_dim(g, stats, 0) == rows && vkg_dim(g, stats, 1) == 2,
             "%s: saved stats are (rows, 2)", what);
    snprintf(what + strlen(what), sizeof what - strlen(what), " saved mean/rstd");
    if (th_ok(vkg_graph_read(g, stats, st, 2 * (size_t)rows), what))
      th_close(what, st, rs, 2 * (size_t)rows, ATOL, RTOL);
    free(ref), free(mean), free(rstd), free(st), free(rs);
  }
  free(x.h), free(ga.h), free(be.h);
  vkg_graph_destroy(g);
}

// ---- batchnorm ----

enum { RUN_NONE, RUN_INPUT, RUN_BOUND };

static void batchnorm(vkg_ctx *ctx, int ndim, const int *shape, int training, int running, int use_affine,
                      float momentum, float lo, float hi) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int B = shape[0], C = shape[1], S = 1, cs[1] = {C};
  for (int i = 2; i < ndim; i++)
    S *= shape[i];
  struct in x = input(g, ndim, shape, lo, hi), ga = {VKG_NONE}, be = {VKG_NONE}, rm = {VKG_NONE}, rv = {VKG_NONE};
  if (use_affine) ga = input(g, 1, cs, 0.5f, 1.5f), be = input(g, 1, cs, -1, 1);
  vkg_tensor *brm = NULL, *brv = NULL;
  float *hrm = th_alloc((size_t)C), *hrv = th_alloc((size_t)C);
  th_fill(hrm, (size_t)C, -1, 1);
  th_fill(hrv, (size_t)C, 0.5f, 2);
  if (running == RUN_INPUT) {
    rm = (struct in){vkg_input(g, "running_mean", VKG_F32, 1, cs), hrm, (size_t)C};
    rv = (struct in){vkg_input(g, "running_var", VKG_F32, 1, cs), hrv, (size_t)C};
  } else if (running == RUN_BOUND) {
    vkg_tensor_create(ctx, VKG_F32, 1, cs, &brm);
    vkg_tensor_create(ctx, VKG_F32, 1, cs, &brv);
    vkg_tensor_upload_f32(brm, hrm, (size_t)C);
    vkg_tensor_upload_f32(brv, hrv, (size_t)C);
    rm.t = vkg_bind(g, brm);
    rv.t = vkg_bind(g, brv);
  }
  const float eps = 1e-5f;
  vkg_t y = vkg_batchnorm(g, x.t, ga.t, be.t, rm.t, rv.t, momentum, eps, training);
  vkg_t stats = (y != VKG_NONE && training) ? saved(g, 1) : VKG_NONE;
  vkg_output(g, y);
  if (stats != VKG_NONE) vkg_output(g, stats);
  static const char *run_names[] = {"none", "input", "bound"};
  char what[160], sh[64];
  vkg__shape_str(shape, ndim, sh, sizeof sh);
  snprintf(what, sizeof what, "batchnorm %s %s running=%s affine=%d momentum=%g on [%g, %g)", sh,
           training ? "train" : "eval", run_names[running], use_affine, momentum, lo, hi);
  if (th_ok(vkg_graph_compile(g), what) && write_in(g, &x, what) && write_in(g, &ga, what) && write_in(g, &be, what) &&
      (running != RUN_INPUT || (write_in(g, &rm, what) && write_in(g, &rv, what)))) {
    float *ref = th_alloc(x.n), *mean = th_alloc((size_t)C), *rstd = th_alloc((size_t)C);
    float *got_m = th_alloc((size_t)C), *got_v = th_alloc((size_t)C);
    /* Two runs: each one moves the running statistics again (in place), the output stays the same. */
    for (int run = 1; run <= 2 && th_ok(th_run(g), what); run++) {
      char w[200];
      ref_batchnorm(ref, mean, rstd, running ? hrm : NULL, running ? hrv : NULL, x.h, ga.h, be.h, B, C, S, momentum,
                    eps, training);
      snprintf(w, sizeof w, "%s run %d", what, run);
      expect(g, y, ref, x.n, w, ATOL, RTOL);
      if (stats != VKG_NONE) {
        float *st = th_alloc(2 * (size_t)C), *rs = th_alloc(2 * (size_t)C);
        for (int c = 0; c < C; c++)
          rs[2 * c] = mean[c], rs[2 * c + 1] = rstd[c];
        snprintf(w, sizeof w, "%s run %d saved mean/rstd", what, run);
        expect(g, stats, rs, 2 * (size_t)C, w, ATOL, RTOL);
        free(st), free(rs);
      }
      if (running) {
        if (running == RUN_INPUT) {
          th_ok(vkg_graph_read(g, rm.t, got_m, (size_t)C), what);
          th_ok(vkg_graph_read(g, rv.t, got_v, (size_t)C), what);
        } else {
          th_ok(vkg_tensor_download_f32(brm, got_m, (size_t)C), what);
          th_ok(vkg_tensor_download_f32(brv, got_v, (size_t)C), what);
        }
        snprintf(w, sizeof w, "%s run %d running_mean", what, run);
        th_close(w, got_m, hrm, (size_t)C, ATOL, RTOL);
        snprintf(w, sizeof w, "%s run %d running_var", what, run);
        th_close(w, got_v, hrv, (size_t)C, ATOL, RTOL);
      }
    }
    free(ref), free(mean), free(rstd), free(got_m), free(got_v);
  }
  free(x.h), free(ga.h), free(be.h), free(hrm), free(hrv);
  vkg_graph_destroy(g);
  vkg_tensor_destroy(brm);
  vkg_tensor_destroy(brv);
}

// ---- embedding ----

static void embedding(vkg_ctx *ctx, int V, int C, int ndim, const int *ishape) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int ts[2] = {V, C};
  struct in table = input(g, 2, ts, -1, 1);
  vkg_t ids = vkg_input(g, "ids", VKG_I32, ndim, ishape);
  vkg_t y = vkg_embedding(g, table.t, ids);
  vkg_output(g, y);
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)ishape[i];
  /* Mostly valid ids, with out-of-range ones on both sides, including the extremes. */
  int32_t *hid = malloc(sizeof *hid * n);
  for (size_t i = 0; i < n; i++)
    hid[i] = (int32_t)th_uniform(-3, (float)V + 3);
  if (n > 2) hid[0] = INT32_MIN, hid[1] = INT32_MAX, hid[2] = V;
  char what[128], sh[64];
  vkg__shape_str(ishape, ndim, sh, sizeof sh);
  snprintf(what, sizeof what, "embedding table (%d, %d) ids %s", V, C, sh);
  int shape_ok = vkg_ndim(g, y) == ndim + 1 && vkg_dim(g, y, -1) == C;
  for (int i = 0; i < ndim && shape_ok; i++)
    shape_ok = vkg_dim(g, y, i) == ishape[i];
  th_check(shape_ok, "%s: output is (ids..., C)", what);
  if (th_ok(vkg_graph_compile(g), what) && write_in(g, &table, what) &&
      th_ok(vkg_graph_write_i32(g, ids, hid, n), what) && th_ok(th_run(g), what)) {
    float *ref = th_alloc(n * (size_t)C);
    ref_embedding(ref, table.h, hid, (int)n, V, C);
    expect(g, y, ref, n * (size_t)C, what, 0, 0); /* a copy: exact */
    free(ref);
  }
  free(hid);
  free(table.h);
  vkg_graph_destroy(g);
}

// ---- shape errors ----

/* Builds one bad op with build(g) and checks that compile reports status want. */
static void expect_error(vkg_ctx *ctx, const char *what, vkg_t (*build)(vkg_graph *g), vkg_status want) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t y = build(g);
  vkg_status s = vkg_graph_compile(g);
  th_check(y == VKG_NONE && s == want, "%s gives %s: %s", what, vkg_status_str(want), vkg_last_error());
  vkg_graph_destroy(g);
}

static vkg_t bad_softmax_scalar(vkg_graph *g) {
  int none[1] = {1};
  return vkg_softmax(g, vkg_input(g, "x", VKG_F32, 0, none));
}
static vkg_t bad_layernorm_gamma(vkg_graph *g) {
  int xs[2] = {4, 8}, gs[1] = {7};
  return vkg_layernorm(g, vkg_input(g, "x", VKG_F32, 2, xs), vkg_input(g, "gamma", VKG_F32, 1, gs), VKG_NONE, 1e-5f);
}
static vkg_t bad_layernorm_beta(vkg_graph *g) {
  int xs[3] = {2, 4, 8}, bs[2] = {4, 8};
  return vkg_layernorm(g, vkg_input(g, "x", VKG_F32, 3, xs), VKG_NONE, vkg_input(g, "beta", VKG_F32, 2, bs), 1e-5f);
}
static vkg_t bad_batchnorm_1d(vkg_graph *g) {
  int xs[1] = {8}, cs[1] = {8};
  return vkg_batchnorm(g, vkg_input(g, "x", VKG_F32, 1, xs), VKG_NONE, VKG_NONE, vkg_input(g, "m", VKG_F32, 1, cs),
                       vkg_input(g, "v", VKG_F32, 1, cs), 0.1f, 1e-5f, 0);
}
static vkg_t bad_batchnorm_running(vkg_graph *g) {
  int xs[4] = {2, 3, 4, 4}, cs[1] = {4};
  return vkg_batchnorm(g, vkg_input(g, "x", VKG_F32, 4, xs), VKG_NONE, VKG_NONE, vkg_input(g, "m", VKG_F32, 1, cs),
                       vkg_input(g, "v", VKG_F32, 1, cs), 0.1f, 1e-5f, 1);
}
static vkg_t bad_batchnorm_one_value(vkg_graph *g) {
  int xs[2] = {1, 5};
  return vkg_batchnorm(g, vkg_input(g, "x", VKG_F32, 2, xs), VKG_NONE, VKG_NONE, VKG_NONE, VKG_NONE, 0.1f, 1e-5f, 1);
}
static vkg_t bad_batchnorm_eval_no_running(vkg_graph *g) {
  int xs[2] = {4, 5};
  return vkg_batchnorm(g, vkg_input(g, "x", VKG_F32, 2, xs), VKG_NONE, VKG_NONE, VKG_NONE, VKG_NONE, 0.1f, 1e-5f, 0);
}
static vkg_t bad_embedding_table(vkg_graph *g) {
  int ts[3] = {10, 4, 2}, is[1] = {3};
  return vkg_embedding(g, vkg_input(g, "table", VKG_F32, 3, ts), vkg_input(g, "ids", VKG_I32, 1, is));
}
static vkg_t bad_embedding_ids(vkg_graph *g) {
  int ts[2] = {10, 4}, is[1] = {3};
  return vkg_embedding(g, vkg_input(g, "table", VKG_F32, 2, ts), vkg_input(g, "ids", VKG_F32, 1, is));
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(3);

  /* softmax: rows of 1, short and long rows, a GPT-2-sized vocabulary row, many rows, and rows
   * spread over a 2-D grid of workgroups (more than 65535). */
  static const int rows_c[][2] = {{1, 1}, {5, 1}, {3, 7}, {13, 13}, {2, 127}, {4, 1000}, {300, 33}, {3, 257}};
  for (size_t i = 0; i < sizeof rows_c / sizeof rows_c[0]; i++) {
    softmax(ctx, 2, rows_c[i], 5);
    softmax(ctx, 2, rows_c[i], 80); /* large logits: exp would overflow without the max shift */
  }
  int s3[3] = {2, 3, 17}, vocab[2] = {1, 50257}, many[2] = {70000, 2};
  softmax(ctx, 3, s3, 5);
  softmax(ctx, 2, vocab, 80);
  softmax(ctx, 2, many, 80);

  /* layernorm: every gamma/beta combination on a few shapes, then awkward and large rows */
  for (int gb = 0; gb < 4; gb++) {
    layernorm(ctx, 13, 13, gb & 1, gb >> 1, -2, 2);
    layernorm(ctx, 3, 1000, gb & 1, gb >> 1, -2, 2);
  }
  layernorm(ctx, 1, 1, 1, 1, -2, 2);
  layernorm(ctx, 5, 1, 0, 0, -2, 2);
  layernorm(ctx, 7, 7, 1, 0, -2, 2);
  layernorm(ctx, 4, 127, 0, 1, -2, 2);
  layernorm(ctx, 300, 64, 1, 1, -2, 2);
  layernorm(ctx, 2, 4097, 1, 1, -2, 2);
  layernorm(ctx, 9, 200, 1, 1, 50, 51); /* |mean| >> std: a one-pass variance would cancel */

  /* batchnorm: 2-D, 3-D and 4-D inputs; train and eval; running statistics as inputs or bound
   * tensors, or none */
  int b2[2] = {7, 3}, b2b[2] = {2, 13}, b3[3] = {3, 4, 11}, b4[4] = {2, 3, 5, 7}, b4b[4] = {4, 13, 9, 9},
      b4c[4] = {1, 2, 1, 2};
  batchnorm(ctx, 2, b2, 1, RUN_INPUT, 1, 0.1f, -2, 3);
  batchnorm(ctx, 2, b2b, 1, RUN_BOUND, 0, 0.3f, -2, 3);
  batchnorm(ctx, 2, b2, 1, RUN_NONE, 1, 0.1f, -2, 3);
  batchnorm(ctx, 2, b2, 0, RUN_INPUT, 1, 0.1f, -2, 3);
  batchnorm(ctx, 3, b3, 1, RUN_INPUT, 0, 0.1f, -2, 3);
  batchnorm(ctx, 3, b3, 0, RUN_BOUND, 0, 0.1f, -2, 3);
  batchnorm(ctx, 4, b4, 1, RUN_BOUND, 1, 0.1f, -2, 3);
  batchnorm(ctx, 4, b4, 1, RUN_NONE, 0, 0.1f, -2, 3);
  batchnorm(ctx, 4, b4, 0, RUN_INPUT, 1, 0.1f, -2, 3);
  batchnorm(ctx, 4, b4b, 1, RUN_INPUT, 1, 0.25f, -2, 3);
  batchnorm(ctx, 4, b4b, 0, RUN_BOUND, 1, 0.1f, -2, 3);
  batchnorm(ctx, 4, b4c, 1, RUN_INPUT, 1, 0.1f, -2, 3);
  batchnorm(ctx, 4, b4b, 1, RUN_BOUND, 1, 0.1f, 50, 51); /* |mean| >> std */

  /* embedding */
  int i0[1] = {1}, i1[2] = {3, 5}, i2[3] = {2, 3, 7}, i3[2] = {4, 100};
  embedding(ctx, 1, 1, 1, i0);
  embedding(ctx, 10, 7, 2, i1);
  embedding(ctx, 13, 127, 3, i2);
  embedding(ctx, 1000, 129, 2, i3);
  embedding(ctx, 5, 3, 0, i0); /* a 0-dim id: out is (C) */

  expect_error(ctx, "softmax of a 0-dim tensor", bad_softmax_scalar, VKG_ERR_SHAPE);
  expect_error(ctx, "layernorm with gamma (7) for x (4, 8)", bad_layernorm_gamma, VKG_ERR_SHAPE);
  expect_error(ctx, "layernorm with beta (4, 8) for x (2, 4, 8)", bad_layernorm_beta, VKG_ERR_SHAPE);
  expect_error(ctx, "batchnorm of a 1-D x", bad_batchnorm_1d, VKG_ERR_SHAPE);
  expect_error(ctx, "batchnorm with running stats (4) for C = 3", bad_batchnorm_running, VKG_ERR_SHAPE);
  expect_error(ctx, "batchnorm training on one value per channel", bad_batchnorm_one_value, VKG_ERR_SHAPE);
  expect_error(ctx, "batchnorm inference without running stats", bad_batchnorm_eval_no_running, VKG_ERR_ARG);
  expect_error(ctx, "embedding with a 3-D table", bad_embedding_table, VKG_ERR_SHAPE);
  expect_error(ctx, "embedding with f32 ids", bad_embedding_ids, VKG_ERR_ARG);
  return th_finish(ctx);
}
