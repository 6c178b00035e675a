/* LSTM and GRU (vkg_lstm, vkg_gru), forward and backward through time.
 *   1. Gradients by central finite differences of the double-precision C reference (tests/ref_rnn.c)
 *      and GPU vs C backward (tests/gradcheck.h): T 1, 5; B 1, 3; H 1, 7, 33; with and without b_hh,
 *      h0, c0; the LSTM's output is hs and c_seq together (and each alone), so c_seq's gradient path
 *      is checked too; a batch of 11 rows for two blocks of the CPU kernels;
 *      some cases freeze inputs so only part of the gradients is made.
 *   2. Larger cases vs the C reference, forward (hs, c_seq) and every gradient: H 130 and 300 (more
 *      units than a workgroup has invocations), T 17, and H 600 with T 40, which the launcher splits
 *      into several launches (state passed between them, forward and backward).
 *   3. Two layers chained (the input projection as a matmul in between) vs the C reference.
 *   4. A 2-layer nn.LSTM and nn.GRU from PyTorch (tests/fixtures/rnn_ref.safetensors, made by
 *      tools/rnn_fixture.py): outputs, final states and the gradients of input, weights and initial
 *      states.
 *   5. Bad shapes are VKG_ERR_SHAPE with the shapes in the message.
 * Tolerances: GPU vs C |got - ref| <= 1e-4 + 1e-3 |ref| (2e-4 + 2e-3 for the large cases, whose
 * gradients sum hundreds of float terms); the PyTorch comparison 1e-4 + 1e-3 |ref|. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "check/ref_rnn.h"

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures"
#endif

// ---- 1. finite differences ----

/* Inputs of a case: gates_x, w_hh, then b_hh, h0, c0 where present (index -1 when absent). */
struct rnn_case {
  int lstm, T, B, H;
  int ib, ih, ic;
  int outs; /* LSTM: 0 hs and c_seq (concatenated), 1 hs alone, 2 c_seq alone */
};

static void layout(struct rnn_case *c, int bias, int h0, int c0) {
  int i = 2;
  c->ib = bias ? i++ : -1;
  c->ih = h0 ? i++ : -1;
  c->ic = c->lstm && c0 ? i++ : -1;
}

static double *opt(double *const *in, int i) { return i < 0 ? NULL : in[i]; }
static double *opt_g(double **gin, int i) { return i < 0 ? NULL : gin[i]; }
static vkg_t opt_t(const vkg_t *in, int i) { return i < 0 ? VKG_NONE : in[i]; }

static void rnn_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct rnn_case *c = op->user;
  size_t n = (size_t)c->T * c->B * c->H;
  if (c->lstm) { /* y = (hs, cs), hs or cs */
    double *cs = malloc(sizeof *cs * n), *hs = malloc(sizeof *hs * n);
    ref_lstm_fwd(hs, cs, in[0], in[1], opt(in, c->ib), opt(in, c->ih), opt(in, c->ic), c->T, c->B, c->H);
    if (c->outs != 2) memcpy(y, hs, sizeof *hs * n);
    if (c->outs != 1) memcpy(c->outs ? y : y + n, cs, sizeof *cs * n);
    free(cs), free(hs);
  } else
    ref_gru_fwd(y, in[0], in[1], opt(in, c->ib), opt(in, c->ih), c->T, c->B, c->H);
}
static void rnn_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct rnn_case *c = op->user;
  size_t n = (size_t)c->T * c->B * c->H;
  if (c->lstm)
    ref_lstm_bwd(gin[0], gin[1], opt_g(gin, c->ib), opt_g(gin, c->ih), opt_g(gin, c->ic), in[0], in[1], opt(in, c->ib),
                 opt(in, c->ih), opt(in, c->ic), c->outs == 2 ? NULL : gy,
                 c->outs == 1   ? NULL
                 : c->outs == 2 ? gy
                                : gy + n,
                 c->T, c->B, c->H);
  else
    ref_gru_bwd(gin[0], gin[1], opt_g(gin, c->ib), opt_g(gin, c->ih), in[0], in[1], opt(in, c->ib), opt(in, c->ih), gy,
                c->T, c->B, c->H);
}
static vkg_t rnn_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  const struct rnn_case *c = op->user;
  if (!c->lstm) return vkg_gru(g, in[0], in[1], opt_t(in, c->ib), opt_t(in, c->ih));
  vkg_t cs, hs = vkg_lstm(g, in[0], in[1], opt_t(in, c->ib), opt_t(in, c->ih), opt_t(in, c->ic), &cs);
  if (c->outs) return c->outs == 1 ? hs : cs;
  vkg_t both[2] = {hs, cs};
  return vkg_concat(g, 2, both, 0);
}

/* frozen: a bit mask of inputs that get no gradient; outs as in struct rnn_case. */
static void check_grad_outs(vkg_ctx *ctx, int lstm, int T, int B, int H, int bias, int h0, int c0, unsigned frozen,
                            int outs) {
  struct rnn_case c = {lstm, T, B, H, .outs = outs};
  layout(&c, bias, h0, c0);
  int G = lstm ? 4 : 3;
  char name[160];
  snprintf(name, sizeof name, "%s T=%d B=%d H=%d bias=%d h0=%d c0=%d frozen=%#x%s backward", lstm ? "lstm" : "gru", T,
           B, H, bias, h0, lstm && c0, frozen,
           outs == 1   ? " (hs only)"
           : outs == 2 ? " (c_seq only)"
                       : "");
  struct gc_op op = {.name = name,
                     .nin = 2,
                     .ndim = {3, 2},
                     .shape = {{T, B, G * H}, {G * H, H}},
                     .out_n = (size_t)(lstm && !outs ? 2 : 1) * T * B * H,
                     .user = &c,
                     .fwd = rnn_fwd,
                     .bwd = rnn_bwd,
                     .build = rnn_build};
  op.lo[0] = -2, op.hi[0] = 2;
  op.lo[1] = -0.6f, op.hi[1] = 0.6f;
  if (c.ib >= 0) op.ndim[c.ib] = 1, op.shape[c.ib][0] = G * H, op.nin++;
  if (c.ih >= 0) op.ndim[c.ih] = 2, op.shape[c.ih][0] = B, op.shape[c.ih][1] = H, op.nin++;
  if (c.ic >= 0) op.ndim[c.ic] = 2, op.shape[c.ic][0] = B, op.shape[c.ic][1] = H, op.nin++;
  for (int i = 0; i < op.nin; i++)
    op.no_grad[i] = (frozen >> i) & 1;
  gc_check(ctx, &op);
}

static void check_grad(vkg_ctx *ctx, int lstm, int T, int B, int H, int bias, int h0, int c0, unsigned frozen) {
  check_grad_outs(ctx, lstm, T, B, H, bias, h0, c0, frozen, 0);
}

// ---- 2. larger cases against the C reference ----

static double *to_double(const float *x, size_t n) {
  double *d = malloc(sizeof *d * n);
  for (size_t i = 0; i < n; i++)
    d[i] = x[i];
  return d;
}

static void compare(const char *what, vkg_graph *g, vkg_t t, const double *ref, size_t n, float atol, float rtol) {
  float *got = th_alloc(n), *r = th_alloc(n);
  for (size_t i = 0; i < n; i++)
    r[i] = (float)ref[i];
  if (th_ok(vkg_graph_read(g, t, got, n), what)) th_close(what, got, r, n, atol, rtol);
  free(got);
  free(r);
}

/* Forward and every gradient of L = sum(hs * R) (+ sum(cs * Rc) for the LSTM) against the C reference. */
static void check_large(vkg_ctx *ctx, int lstm, int T, int B, int H) {
  int G = lstm ? 4 : 3;
  char what[160], sub[200];
  snprintf(what, sizeof what, "%s T=%d B=%d H=%d", lstm ? "lstm" : "gru", T, B, H);
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int sx[3] = {T, B, G * H}, sw[2] = {G * H, H}, sb[1] = {G * H}, ss[2] = {B, H}, sh[3] = {T, B, H};
  float *x, *w, *bias, *h0, *c0 = NULL, *r, *rc = NULL;
  vkg_t X = th_input(g, 3, sx, -2, 2, &x), W = th_input(g, 2, sw, -0.15f, 0.15f, &w);
  vkg_t Bv = th_input(g, 1, sb, -0.5f, 0.5f, &bias), H0 = th_input(g, 2, ss, -1, 1, &h0);
  vkg_t C0 = lstm ? th_input(g, 2, ss, -1, 1, &c0) : VKG_NONE;
  vkg_t R = th_input(g, 3, sh, -1, 1, &r), RC = lstm ? th_input(g, 3, sh, -1, 1, &rc) : VKG_NONE;
  vkg_t leaves[5] = {X, W, Bv, H0, C0};
  for (int i = 0; i < (lstm ? 5 : 4); i++)
    vkg_requires_grad(g, leaves[i]);
  vkg_t cs = VKG_NONE, hs = lstm ? vkg_lstm(g, X, W, Bv, H0, C0, &cs) : vkg_gru(g, X, W, Bv, H0);
  vkg_t L = vkg_reduce(g, VKG_REDUCE_SUM, vkg_reshape(g, vkg_binary(g, VKG_MUL, hs, R), 1, (int[]){T * B * H}), 0, 0);
  if (lstm)
    L = vkg_binary(
        g, VKG_ADD, L,
        vkg_reduce(g, VKG_REDUCE_SUM, vkg_reshape(g, vkg_binary(g, VKG_MUL, cs, RC), 1, (int[]){T * B * H}), 0, 0));
  vkg_backward(g, L);
  vkg_t grads[5];
  for (int i = 0; i < (lstm ? 5 : 4); i++)
    vkg_output(g, grads[i] = vkg_grad(g, leaves[i]));
  vkg_output(g, hs);
  if (lstm) vkg_output(g, cs);
  if (!th_ok(vkg_graph_compile(g), what) || !th_ok(th_write_inputs(g), what) || !th_ok(th_run(g), what)) {
    vkg_graph_destroy(g);
    return;
  }
  size_t nx = (size_t)T * B * G * H, nw = (size_t)G * H * H, nh = (size_t)T * B * H, ns = (size_t)B * H;
  double *dx = to_double(x, nx), *dw = to_double(w, nw), *db = to_double(bias, (size_t)G * H);
  double *dh0 = to_double(h0, ns), *dc0 = lstm ? to_double(c0, ns) : NULL;
  double *dr = to_double(r, nh), *drc = lstm ? to_double(rc, nh) : NULL;
  double *hsr = malloc(sizeof(double) * nh), *csr = malloc(sizeof(double) * nh);
  double *gx = calloc(nx, sizeof(double)), *gw = calloc(nw, sizeof(double)),
         *gb = calloc((size_t)G * H, sizeof(double));
  double *gh = calloc(ns, sizeof(double)), *gc = calloc(ns, sizeof(double));
  if (lstm) {
    ref_lstm_fwd(hsr, csr, dx, dw, db, dh0, dc0, T, B, H);
    ref_lstm_bwd(gx, gw, gb, gh, gc, dx, dw, db, dh0, dc0, dr, drc, T, B, H);
  } else {
    ref_gru_fwd(hsr, dx, dw, db, dh0, T, B, H);
    ref_gru_bwd(gx, gw, gb, gh, dx, dw, db, dh0, dr, T, B, H);
  }
  const float at = 2e-4f, rt = 2e-3f;
  snprintf(sub, sizeof sub, "%s: hs", what), compare(sub, g, hs, hsr, nh, 1e-5f, 1e-4f);
  if (lstm) snprintf(sub, sizeof sub, "%s: c_seq", what), compare(sub, g, cs, csr, nh, 1e-5f, 1e-4f);
  snprintf(sub, sizeof sub, "%s: d gates_x", what), compare(sub, g, grads[0], gx, nx, at, rt);
  snprintf(sub, sizeof sub, "%s: d w_hh", what), compare(sub, g, grads[1], gw, nw, at, rt);
  snprintf(sub, sizeof sub, "%s: d b_hh", what), compare(sub, g, grads[2], gb, (size_t)G * H, at, rt);
  snprintf(sub, sizeof sub, "%s: d h0", what), compare(sub, g, grads[3], gh, ns, at, rt);
  if (lstm) snprintf(sub, sizeof sub, "%s: d c0", what), compare(sub, g, grads[4], gc, ns, at, rt);
  free(dx), free(dw), free(db), free(dh0), free(dc0), free(dr), free(drc), free(hsr), free(csr);
  free(gx), free(gw), free(gb), free(gh), free(gc);
  vkg_graph_destroy(g);
}

// ---- 3. two layers chained ----

/* y (rows, N) = a (rows, K) w^T (w is (N, K)) + bias, in double. */
static void linear(double *y, const double *a, const double *w, const double *bias, int rows, int N, int K) {
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < N; j++) {
      double s = bias[j];
      for (int k = 0; k < K; k++)
        s += a[(size_t)i * K + k] * w[(size_t)j * K + k];
      y[(size_t)i * N + j] = s;
    }
}

static void check_two_layers(vkg_ctx *ctx, int lstm, int T, int B, int I, int H) {
  int G = lstm ? 4 : 3;
  char what[128];
  snprintf(what, sizeof what, "two %s layers T=%d B=%d I=%d H=%d", lstm ? "lstm" : "gru", T, B, I, H);
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int sx[2] = {T * B, I}, swi1[2] = {G * H, I}, swi2[2] = {G * H, H}, sw[2] = {G * H, H}, sb[1] = {G * H};
  float *x, *wi[2], *bi[2], *wh[2], *bh[2];
  vkg_t X = th_input(g, 2, sx, -1, 1, &x), in = X, out = VKG_NONE;
  for (int l = 0; l < 2; l++) {
    vkg_t Wi = th_input(g, 2, l ? swi2 : swi1, -0.4f, 0.4f, &wi[l]), Bi = th_input(g, 1, sb, -0.4f, 0.4f, &bi[l]);
    vkg_t Wh = th_input(g, 2, sw, -0.4f, 0.4f, &wh[l]), Bh = th_input(g, 1, sb, -0.4f, 0.4f, &bh[l]);
    vkg_t gx = vkg_reshape(g, vkg_matmul(g, in, Wi, Bi, VKG_TRANS_B), 3, (int[]){T, B, G * H});
    out = lstm ? vkg_lstm(g, gx, Wh, Bh, VKG_NONE, VKG_NONE, NULL) : vkg_gru(g, gx, Wh, Bh, VKG_NONE);
    in = vkg_reshape(g, out, 2, (int[]){T * B, H});
  }
  vkg_output(g, out);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), what) && th_ok(th_run(g), what)) {
    size_t nh = (size_t)T * B * H;
    double *a = to_double(x, (size_t)T * B * I), *gxd = malloc(sizeof(double) * T * B * G * H);
    double *hs = malloc(sizeof(double) * nh), *cs = malloc(sizeof(double) * nh);
    for (int l = 0; l < 2; l++) {
      int K = l ? H : I;
      double *wid = to_double(wi[l], (size_t)G * H * K), *bid = to_double(bi[l], (size_t)G * H);
      double *whd = to_double(wh[l], (size_t)G * H * H), *bhd = to_double(bh[l], (size_t)G * H);
      linear(gxd, a, wid, bid, T * B, G * H, K);
      if (lstm)
        ref_lstm_fwd(hs, cs, gxd, whd, bhd, NULL, NULL, T, B, H);
      else
        ref_gru_fwd(hs, gxd, whd, bhd, NULL, T, B, H);
      free(a);
      a = malloc(sizeof(double) * nh);
      memcpy(a, hs, sizeof(double) * nh);
      free(wid), free(bid), free(whd), free(bhd);
    }
    compare(what, g, out, hs, nh, 1e-5f, 1e-4f);
    free(a), free(gxd), free(hs), free(cs);
  }
  vkg_graph_destroy(g);
}

// ---- 4. PyTorch ----

static size_t numel(int ndim, const int *shape) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)shape[i];
  return n;
}

/* The fixture tensors a graph reads, with their data, written after compile. */
struct fixture_inputs {
  int n;
  vkg_t t[32];
  float *host[32];
  char name[32][48];
};

/* A graph input holding fixture tensor "<kind>.<name>" of the given shape; a leaf when grad is set. */
static vkg_t fixture_input(vkg_graph *g, const vkg_st *st, struct fixture_inputs *fi, const char *kind,
                           const char *name, int grad, int ndim, const int *shape) {
  int i = fi->n++;
  snprintf(fi->name[i], sizeof fi->name[i], "%s.%s", kind, name);
  fi->host[i] = th_alloc(numel(ndim, shape));
  th_ok(vkg_st_read_f32(st, fi->name[i], ndim, shape, fi->host[i]), fi->name[i]);
  fi->t[i] = vkg_input(g, fi->name[i], VKG_F32, ndim, shape);
  if (grad) vkg_requires_grad(g, fi->t[i]);
  return fi->t[i];
}

/* Compares graph tensor t with fixture tensor `name`. */
static void compare_fixture(vkg_graph *g, const vkg_st *st, vkg_t t, const char *name) {
  int shape[VKG_MAX_DIMS], nd = vkg_ndim(g, t);
  for (int i = 0; i < nd; i++)
    shape[i] = vkg_dim(g, t, i);
  size_t n = numel(nd, shape);
  float *want = th_alloc(n), *got = th_alloc(n);
  char what[96];
  snprintf(what, sizeof what, "pytorch %s", name);
  if (th_ok(vkg_st_read_f32(st, name, nd, shape, want), what) && th_ok(vkg_graph_read(g, t, got, n), what))
    th_close(what, got, want, n, 1e-4f, 1e-3f);
  free(want);
  free(got);
}

/* Sum of a * b over all elements. */
static vkg_t dot_all(vkg_graph *g, vkg_t a, vkg_t b) {
  int flat[1] = {(int)vkg_numel(g, a)};
  return vkg_reduce(g, VKG_REDUCE_SUM, vkg_reshape(g, vkg_binary(g, VKG_MUL, a, b), 1, flat), 0, 0);
}

/* The fixture's 2-layer model: per layer, gates_x = x W_ih^T + b_ih as a matmul, then the recurrence
 * from that layer's slice of h0 (and c0); the loss of tools/rnn_fixture.py; every gradient. */
static void check_pytorch(vkg_ctx *ctx, const vkg_st *st, int lstm) {
  const char *kind = lstm ? "lstm" : "gru";
  int T = atoi(vkg_st_metadata(st, "T")), B = atoi(vkg_st_metadata(st, "B")), I = atoi(vkg_st_metadata(st, "I"));
  int H = atoi(vkg_st_metadata(st, "H")), L = atoi(vkg_st_metadata(st, "layers")), G = lstm ? 4 : 3;
  if (!th_check(L >= 1 && L <= 4, "fixture has 1 to 4 layers (%d)", L)) return;
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  struct fixture_inputs fi = {0};
  vkg_t X = fixture_input(g, st, &fi, kind, "x", 1, 3, (int[]){T, B, I});
  vkg_t H0 = fixture_input(g, st, &fi, kind, "h0", 1, 3, (int[]){L, B, H});
  vkg_t C0 = lstm ? fixture_input(g, st, &fi, kind, "c0", 1, 3, (int[]){L, B, H}) : VKG_NONE;
  vkg_t rout = fixture_input(g, st, &fi, kind, "r_out", 0, 3, (int[]){T, B, H});
  vkg_t rh = fixture_input(g, st, &fi, kind, "r_h", 0, 3, (int[]){L, B, H});
  vkg_t rc = lstm ? fixture_input(g, st, &fi, kind, "r_c", 0, 3, (int[]){L, B, H}) : VKG_NONE;
  vkg_t in = vkg_reshape(g, X, 2, (int[]){T * B, I}), y = VKG_NONE, hn[4], cn[4];
  for (int l = 0; l < L; l++) {
    char n[4][32];
    snprintf(n[0], sizeof n[0], "weight_ih_l%d", l), snprintf(n[1], sizeof n[1], "bias_ih_l%d", l);
    snprintf(n[2], sizeof n[2], "weight_hh_l%d", l), snprintf(n[3], sizeof n[3], "bias_hh_l%d", l);
    vkg_t Wi = fixture_input(g, st, &fi, kind, n[0], 1, 2, (int[]){G * H, l ? H : I});
    vkg_t Bi = fixture_input(g, st, &fi, kind, n[1], 1, 1, (int[]){G * H});
    vkg_t Wh = fixture_input(g, st, &fi, kind, n[2], 1, 2, (int[]){G * H, H});
    vkg_t Bh = fixture_input(g, st, &fi, kind, n[3], 1, 1, (int[]){G * H});
    vkg_t gx = vkg_reshape(g, vkg_matmul(g, in, Wi, Bi, VKG_TRANS_B), 3, (int[]){T, B, G * H});
    vkg_t h0 = vkg_reshape(g, vkg_slice(g, H0, 0, l, l + 1), 2, (int[]){B, H}), cs = VKG_NONE;
    vkg_t c0 = lstm ? vkg_reshape(g, vkg_slice(g, C0, 0, l, l + 1), 2, (int[]){B, H}) : VKG_NONE;
    y = lstm ? vkg_lstm(g, gx, Wh, Bh, h0, c0, &cs) : vkg_gru(g, gx, Wh, Bh, h0);
    hn[l] = vkg_slice(g, y, 0, T - 1, T); /* the final states are the last steps */
    if (lstm) cn[l] = vkg_slice(g, cs, 0, T - 1, T);
    in = vkg_reshape(g, y, 2, (int[]){T * B, H});
  }
  vkg_t h_n = vkg_concat(g, L, hn, 0), c_n = lstm ? vkg_concat(g, L, cn, 0) : VKG_NONE;
  vkg_t loss = vkg_binary(g, VKG_ADD, dot_all(g, y, rout), dot_all(g, h_n, rh));
  if (lstm) loss = vkg_binary(g, VKG_ADD, loss, dot_all(g, c_n, rc));
  vkg_backward(g, loss);
  vkg_t grads[32];
  for (int i = 0; i < fi.n; i++)
    if ((grads[i] = vkg_grad(g, fi.t[i])) != VKG_NONE) vkg_output(g, grads[i]);
  vkg_output(g, y);
  vkg_output(g, h_n);
  if (lstm) vkg_output(g, c_n);
  char what[96];
  snprintf(what, sizeof what, "pytorch %s: build and run", kind);
  int ok = th_ok(vkg_graph_compile(g), what);
  for (int i = 0; i < fi.n && ok; i++)
    ok = th_ok(vkg_graph_write(g, fi.t[i], fi.host[i], vkg_numel(g, fi.t[i])), what);
  if (ok && th_ok(th_run(g), what)) {
    char name[96];
    snprintf(name, sizeof name, "%s.out", kind), compare_fixture(g, st, y, name);
    snprintf(name, sizeof name, "%s.h_n", kind), compare_fixture(g, st, h_n, name);
    if (lstm) snprintf(name, sizeof name, "%s.c_n", kind), compare_fixture(g, st, c_n, name);
    for (int i = 0; i < fi.n; i++) {
      if (grads[i] == VKG_NONE) continue;
      snprintf(name, sizeof name, "%s.grad.%s", kind, fi.name[i] + strlen(kind) + 1);
      compare_fixture(g, st, grads[i], name);
    }
  }
  for (int i = 0; i < fi.n; i++)
    free(fi.host[i]);
  vkg_graph_destroy(g);
}

// ---- 5. bad shapes ----

static void check_bad(vkg_ctx *ctx, int lstm, const int *sx, const int *sw, int bias_n, const int *sh0, const int *sc0,
                      const char *what) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t x = vkg_input(g, "x", VKG_F32, sx[0], sx + 1), w = vkg_input(g, "w", VKG_F32, 2, sw);
  vkg_t b = bias_n ? vkg_input(g, "b", VKG_F32, 1, &bias_n) : VKG_NONE;
  vkg_t h0 = sh0 ? vkg_input(g, "h0", VKG_F32, 2, sh0) : VKG_NONE;
  vkg_t c0 = sc0 ? vkg_input(g, "c0", VKG_F32, 2, sc0) : VKG_NONE;
  vkg_t cs = 0, o = lstm ? vkg_lstm(g, x, w, b, h0, c0, &cs) : vkg_gru(g, x, w, b, h0);
  vkg_status s = vkg_graph_compile(g);
  char ws[64];
  snprintf(ws, sizeof ws, "(%d, %d)", sw[0], sw[1]);
  th_check(o == VKG_NONE && (!lstm || cs == VKG_NONE) && s == VKG_ERR_SHAPE && strstr(vkg_last_error(), ws) &&
               strstr(vkg_last_error(), lstm ? "lstm" : "gru"),
           "%s %s is a shape error naming the shapes: %s", lstm ? "lstm" : "gru", what, vkg_last_error());
  vkg_graph_destroy(g);
}

/* Sections 1 to 3 with one kernel variant ($VKGEN_RNN_KERNEL, read when an op is built). */
static void suite(vkg_ctx *ctx, const char *kernel) {
  setenv("VKGEN_RNN_KERNEL", kernel, 1);
  int blocks = !strcmp(kernel, "blocks");
  printf("note: %s kernels\n", kernel);
  for (int lstm = 1; lstm >= 0; lstm--) {
    /* 1. finite differences */
    check_grad(ctx, lstm, 1, 1, 1, 1, 1, 1, 0);
    check_grad(ctx, lstm, 5, 3, 7, 1, 1, 1, 0);
    check_grad(ctx, lstm, 5, 1, 7, 0, 0, 0, 0);
    check_grad(ctx, lstm, 1, 3, 7, 1, 0, 1, 0);
    check_grad(ctx, lstm, 5, 3, 1, 0, 1, 0, 0);
    check_grad(ctx, lstm, 5, 3, 7, 1, 1, 1, 1u | 4u); /* frozen gates_x and b_hh */
    check_grad(ctx, lstm, 5, 3, 7, 1, 1, 1, 2u);      /* frozen w_hh */
    check_grad(ctx, lstm, 3, 2, 33, 1, 1, 1, 0);
    if (blocks) check_grad(ctx, lstm, 3, 11, 7, 1, 1, 1, 0); /* a block of 8 rows and one of 3 */
    if (lstm) check_grad_outs(ctx, 1, 4, 3, 7, 1, 1, 1, 0, 1), check_grad_outs(ctx, 1, 4, 3, 7, 1, 1, 1, 0, 2);
    /* 2. larger, and split into several launches */
    check_large(ctx, lstm, 17, 3, 130);
    check_large(ctx, lstm, 5, 1, 300);
    check_large(ctx, lstm, 1, 1, 130);
    check_large(ctx, lstm, 40, 2, 600);
    /* Past lavapipe's silent limit of 65535 loop iterations per invocation if run in one launch:
     * rows, 80 steps of H = 1000 loop 80 * 4 * 250 = 80000 times; blocks, 100 steps of 8 rows of
     * H = 64 about 100 * 1000 times (the backward). */
    if (blocks)
      check_large(ctx, lstm, 100, 8, 64);
    else
      check_large(ctx, lstm, 80, 1, 1000);
    /* 3. two layers */
    check_two_layers(ctx, lstm, 17, 3, 13, 33);
    check_two_layers(ctx, lstm, 1, 1, 1, 1);
  }
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(7);
  /* The block kernels are made for CPU devices (private arrays a GPU driver may refuse to allocate). */
  if (!strcmp(vkg_ctx_device(ctx)->type, "cpu"))
    suite(ctx, "blocks");
  else
    printf("note: not a CPU device: the block kernels are not tested\n");
  suite(ctx, "rows");
  unsetenv("VKGEN_RNN_KERNEL");
  /* 4. PyTorch */
  vkg_st *st;
  if (th_ok(vkg_st_open(FIXTURE_DIR "/rnn_ref.safetensors", &st), "open the PyTorch fixture")) {
    check_pytorch(ctx, st, 1);
    check_pytorch(ctx, st, 0);
    vkg_st_close(st);
  }
  /* 5. bad shapes: (T, B, G*H) gates_x with G*H not a multiple of G, w_hh, b_hh, h0, c0 of the wrong
   * size, and a 2-D gates_x */
  for (int lstm = 1; lstm >= 0; lstm--) {
    int G = lstm ? 4 : 3, H = 5;
    int x_ok[4] = {3, 4, 2, G * H}, x_odd[4] = {3, 4, 2, G * H + 1}, x_2d[3] = {2, 4, G * H};
    int w_ok[2] = {G * H, H}, w_bad[2] = {G * H, H + 1}, s_ok[2] = {2, H}, s_bad[2] = {3, H};
    check_bad(ctx, lstm, x_odd, w_ok, 0, NULL, NULL, "with gates_x not a multiple of G");
    check_bad(ctx, lstm, x_ok, w_bad, 0, NULL, NULL, "with a wrong w_hh");
    check_bad(ctx, lstm, x_ok, w_ok, G * H + 2, NULL, NULL, "with a wrong b_hh");
    check_bad(ctx, lstm, x_ok, w_ok, 0, s_bad, NULL, "with a wrong h0");
    if (lstm) check_bad(ctx, lstm, x_ok, w_ok, 0, s_ok, s_bad, "with a wrong c0");
    check_bad(ctx, lstm, x_2d, w_ok, 0, NULL, NULL, "with a 2-D gates_x");
  }
  return th_finish(ctx);
}
