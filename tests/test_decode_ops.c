/* The decoding ops against plain-C references (tests/ref_lm.c): gather_at and scatter_at (f32 and
 * i32, every axis, positions from a scalar slot, out-of-range and below-the-lower-bound positions,
 * writes that persist across runs), attention_cached (valid lengths 1 .. Tmax and past it, fewer
 * keys than queries, D and Dv from 1 to 200, several chunks of keys), and top-p sampling (the drawn
 * token lies in the reference's kept set, matches the reference draw, p = 1 equals vkg_sample_logits
 * exactly, tiny p is greedy), matmul_rows (few rows, b plain or transposed, with and without bias,
 * K and N past one tile; scalar and vec4 loads; fused with the tanh GELU and a residual, and with the
 * layernorm of a as prologue), qkv_cached (the query and the
 * KV-cache rows it writes over two runs, positions at the end, past it and below 0); shape errors. Shape letters: B
 * batch, NH heads, Tq queries, Tmax cache length, D head size, V vocabulary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "check/ref_lm.h"
#include "check/ref_random.h"

/* x of shape (outer, A, inner) as an input of dtype dt. */
static void gather_case(vkg_ctx *ctx, vkg_dtype dt, int ndim, const int *shape, int axis, int pos, int offset,
                        int len) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int slot = vkg_scalar(g, "pos");
  vkg_t x = vkg_input(g, "x", dt, ndim, shape);
  vkg_t o = vkg_gather_at(g, x, axis, slot, offset, len);
  vkg_output(g, o);
  int ax = axis < 0 ? axis + ndim : axis, outer = 1, inner = 1;
  for (int i = 0; i < ax; i++)
    outer *= shape[i];
  for (int i = ax + 1; i < ndim; i++)
    inner *= shape[i];
  size_t n = (size_t)outer * shape[ax] * inner, no = (size_t)outer * len * inner;
  char what[160];
  snprintf(what, sizeof what, "gather_at %s axis %d of A=%d at %d+%d len %d", vkg_dtype_str(dt), axis, shape[ax], pos,
           offset, len);
  uint32_t *xs = malloc(4 * n), *ref = malloc(4 * no), *got = malloc(4 * no);
  float *xf = malloc(4 * n);
  int32_t *xi = malloc(4 * n);
  for (size_t i = 0; i < n; i++) {
    xf[i] = th_uniform(-5, 5);
    xi[i] = (int32_t)(th_uniform(0, 1) * 100000) + 1; /* nonzero, so a skipped copy shows */
    if (dt == VKG_F32)
      memcpy(&xs[i], &xf[i], 4);
    else
      memcpy(&xs[i], &xi[i], 4);
  }
  ref_gather_at(ref, xs, outer, shape[ax], inner, pos + offset, len);
  if (th_ok(vkg_graph_compile(g), what)) {
    vkg_graph_set_u32(g, slot, (uint32_t)pos);
    vkg_status s = dt == VKG_F32 ? vkg_graph_write(g, x, xf, n) : vkg_graph_write_i32(g, x, xi, n);
    if (th_ok(s, what) && th_ok(th_run(g), what)) {
      if (dt == VKG_F32)
        s = vkg_graph_read(g, o, (float *)got, no);
      else
        s = vkg_graph_read_i32(g, o, (int32_t *)got, no);
      th_check(!s && memcmp(got, ref, 4 * no) == 0 && vkg_dim(g, o, ax) == len, "%s: exact copy", what);
    }
  }
  free(xs), free(ref), free(got), free(xf), free(xi);
  vkg_graph_destroy(g);
}

/* dst (outer, A, inner) i32 input; two runs at two positions, the second on top of the first. */
static void scatter_case(vkg_ctx *ctx, int outer, int A, int inner, int J, int pos1, int pos2, int offset, int lo) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int slot = vkg_scalar(g, "pos"), lslot = lo >= 0 ? vkg_scalar(g, "lo") : -1;
  int ds[3] = {outer, A, inner}, ss[3] = {outer, J, inner};
  vkg_t dst = vkg_input(g, "dst", VKG_I32, 3, ds), src = vkg_input(g, "src", VKG_I32, 3, ss);
  vkg_t r = vkg_scatter_at(g, dst, src, 1, slot, offset, lslot);
  char what[160];
  snprintf(what, sizeof what, "scatter_at (%d, %d, %d) <- J=%d at %d then %d (+%d), lo %d", outer, A, inner, J, pos1,
           pos2, offset, lo);
  th_check(r == dst, "%s returns dst", what);
  size_t nd = (size_t)outer * A * inner, ns = (size_t)outer * J * inner;
  int32_t *d0 = malloc(4 * nd), *s0 = malloc(4 * ns), *got = malloc(4 * nd);
  uint32_t *ref = malloc(4 * nd);
  for (size_t i = 0; i < nd; i++)
    d0[i] = -(int32_t)i - 1;
  for (size_t i = 0; i < ns; i++)
    s0[i] = (int32_t)i + 1;
  memcpy(ref, d0, 4 * nd);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(vkg_graph_write_i32(g, dst, d0, nd), what) &&
      th_ok(vkg_graph_write_i32(g, src, s0, ns), what)) {
    int ok = 1;
    for (int run = 0; run < 2 && ok; run++) {
      int pos = run ? pos2 : pos1;
      vkg_graph_set_u32(g, slot, (uint32_t)pos);
      if (lslot >= 0) vkg_graph_set_u32(g, lslot, (uint32_t)lo);
      ok = th_ok(th_run(g), what);
      ref_scatter_at(ref, (const uint32_t *)s0, outer, A, inner, J, pos + offset, lo);
    }
    if (ok && th_ok(vkg_graph_read_i32(g, dst, got, nd), what))
      th_check(memcmp(got, ref, 4 * nd) == 0, "%s: dst after two runs", what);
  }
  free(d0), free(s0), free(got), free(ref);
  vkg_graph_destroy(g);
}

static void attention_case(vkg_ctx *ctx, int B, int NH, int Tq, int Tmax, int D, int Dv, int pos, int offset) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int slot = vkg_scalar(g, "len");
  int qs[4] = {B, NH, Tq, D}, ks[4] = {B, NH, Tmax, D}, vs[4] = {B, NH, Tmax, Dv};
  float *q, *k, *v;
  vkg_t Q = th_input(g, 4, qs, -2, 2, &q), K = th_input(g, 4, ks, -2, 2, &k), V = th_input(g, 4, vs, -1, 1, &v);
  vkg_t o = vkg_attention_cached(g, Q, K, V, 0, slot, offset);
  vkg_output(g, o);
  int L = pos + offset < Tmax ? pos + offset : Tmax;
  char what[160];
  snprintf(what, sizeof what, "attention_cached B=%d NH=%d Tq=%d Tmax=%d D=%d Dv=%d L=%d+%d", B, NH, Tq, Tmax, D, Dv,
           pos, offset);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), what)) {
    vkg_graph_set_u32(g, slot, (uint32_t)pos);
    size_t n = (size_t)B * NH * Tq * Dv;
    float *got = th_alloc(n), *ref = th_alloc(n);
    ref_attention_cached(ref, q, k, v, B, NH, Tq, Tmax, D, Dv, 0, L);
    if (th_ok(th_run(g), what) && th_ok(vkg_graph_read(g, o, got, n), what)) th_close(what, got, ref, n, 2e-5f, 1e-4f);
    free(got), free(ref);
  }
  vkg_graph_destroy(g);
}

/* a (M, K) times b (K, N) (or (N, K) when trans) plus bias c (or none) in double precision: y (M, N). */
static void rows_ref(double *y, const float *a, const float *b, const float *c, int M, int K, int N, int trans) {
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double acc = c ? c[n] : 0;
      for (int k = 0; k < K; k++)
        acc += (double)a[(size_t)m * K + k] * b[trans ? (size_t)n * K + k : (size_t)k * N + n];
      y[(size_t)m * N + n] = acc;
    }
}

/* matmul_rows (fused: with the tanh GELU and a residual) against a double-precision loop: a (M, K),
 * b (K, N) or (N, K) transposed, bias, residual (M, N). */
static void rows_case_ln(vkg_ctx *ctx, int M, int K, int N, int trans, int with_bias, int gelu, int with_res, int ln) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int as[2] = {M, K}, bs[2] = {trans ? N : K, trans ? K : N}, cs[1] = {N}, rs[2] = {M, N}, ks[1] = {K};
  float *a, *b, *c = NULL, *r = NULL, *gam = NULL, *bet = NULL;
  /* Rows far from zero with a small spread: the layernorm must not cancel them away. */
  vkg_t A = th_input(g, 2, as, ln ? 40 : -1, ln ? 42 : 1, &a), Bm = th_input(g, 2, bs, -1, 1, &b);
  vkg_t C = with_bias ? th_input(g, 1, cs, -1, 1, &c) : VKG_NONE;
  vkg_t R = with_res ? th_input(g, 2, rs, -3, 3, &r) : VKG_NONE;
  vkg_t Gm = ln ? th_input(g, 1, ks, 0.5f, 1.5f, &gam) : VKG_NONE, Bt = ln ? th_input(g, 1, ks, -1, 1, &bet) : VKG_NONE;
  unsigned flags = (trans ? VKG_TRANS_B : 0) | (gelu ? VKG_ROWS_GELU_TANH : 0);
  const float eps = 1e-5f;
  vkg_t o = ln                 ? vkg_layernorm_matmul_rows(g, A, Gm, Bt, eps, Bm, C, R, flags)
            : gelu || with_res ? vkg_matmul_rows_fused(g, A, Bm, C, R, flags)
                               : vkg_matmul_rows(g, A, Bm, C, flags);
  vkg_output(g, o);
  char what[128];
  snprintf(what, sizeof what, "%smatmul_rows M=%d K=%d N=%d%s%s%s%s", ln ? "layernorm_" : "", M, K, N,
           trans ? " b^T" : "", with_bias ? " +bias" : "", gelu ? " gelu" : "", with_res ? " +res" : "");
  if (ln) { /* the reference works on the normalized rows: double precision, biased variance */
    float *x = malloc(sizeof *x * (size_t)M * K);
    for (int m = 0; m < M; m++) {
      double mean = 0, var = 0;
      for (int k = 0; k < K; k++)
        mean += a[(size_t)m * K + k];
      mean /= K;
      for (int k = 0; k < K; k++)
        var += (a[(size_t)m * K + k] - mean) * (a[(size_t)m * K + k] - mean);
      double rstd = 1 / sqrt(var / K + eps);
      for (int k = 0; k < K; k++)
        x[(size_t)m * K + k] = (float)((a[(size_t)m * K + k] - mean) * rstd * gam[k] + bet[k]);
    }
    a = x; /* th_input keeps its own copy of the data to upload */
  }
  if (th_ok(vkg_graph_compile(g), what) && th_ok(vkg_graph_poison(g), what) && th_ok(th_write_inputs(g), what) &&
      th_ok(th_run(g), what)) {
    float *got = th_alloc((size_t)M * N), *ref = th_alloc((size_t)M * N);
    double *y = malloc(sizeof *y * (size_t)M * N);
    rows_ref(y, a, b, c, M, K, N, trans);
    for (size_t i = 0; i < (size_t)M * N; i++) {
      double v = y[i];
      if (gelu) v = 0.5 * v * (1 + tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)));
      ref[i] = (float)(v + (r ? r[i] : 0));
    }
    /* The normalization rounds the rows of a to float first: a looser absolute tolerance. */
    if (th_ok(vkg_graph_read(g, o, got, (size_t)M * N), what))
      th_close(what, got, ref, (size_t)M * N, ln ? 1e-4f * sqrtf((float)K) : 1e-5f, 1e-4f);
    free(got), free(ref), free(y);
  }
  if (ln) free(a);
  vkg_graph_destroy(g);
}

static void rows_case_fused(vkg_ctx *ctx, int M, int K, int N, int trans, int with_bias, int gelu, int with_res) {
  rows_case_ln(ctx, M, K, N, trans, with_bias, gelu, with_res, 0);
}

static void rows_case(vkg_ctx *ctx, int M, int K, int N, int trans, int with_bias) {
  rows_case_fused(ctx, M, K, N, trans, with_bias, 0, 0);
}

/* qkv_cached against the reference: x (M, K) w (K, 3C) (or transposed) + bias; q (M, NH, 1, D) and the
 * caches (M, NH, Tmax, D) after two runs at positions pos and pos2 (+ offset each): written rows hold
 * the key and value columns, every other row keeps its initial value; a position outside [0, Tmax) is
 * dropped. */
static void qkv_case(vkg_ctx *ctx, int M, int K, int NH, int D, int Tmax, int trans, int with_bias, int pos, int pos2,
                     int offset) {
  int C = NH * D, N = 3 * C;
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int xs[2] = {M, K}, ws[2] = {trans ? N : K, trans ? K : N}, bs[1] = {N}, cs[4] = {M, NH, Tmax, D};
  float *x, *w, *bias = NULL;
  vkg_t X = th_input(g, 2, xs, -1, 1, &x), W = th_input(g, 2, ws, -1, 1, &w); /* first: th_input's ids */
  vkg_t Bv = with_bias ? th_input(g, 1, bs, -1, 1, &bias) : VKG_NONE;
  int slot = vkg_scalar(g, "pos");
  vkg_t kc = vkg_input(g, "kc", VKG_F32, 4, cs), vc = vkg_input(g, "vc", VKG_F32, 4, cs);
  vkg_t q = vkg_qkv_cached(g, X, W, Bv, kc, vc, slot, offset, trans ? VKG_TRANS_B : 0);
  vkg_output(g, q);
  char what[160];
  snprintf(what, sizeof what, "qkv_cached M=%d K=%d NH=%d D=%d Tmax=%d%s%s at %d, %d (+%d)", M, K, NH, D, Tmax,
           trans ? " w^T" : "", with_bias ? " +bias" : "", pos, pos2, offset);
  size_t nc = (size_t)M * NH * Tmax * D;
  float *k0 = th_alloc(nc), *v0 = th_alloc(nc), *kref = th_alloc(nc), *vref = th_alloc(nc);
  float *kgot = th_alloc(nc), *vgot = th_alloc(nc), *qgot = th_alloc((size_t)M * C), *qref = th_alloc((size_t)M * C);
  for (size_t i = 0; i < nc; i++)
    k0[i] = kref[i] = th_uniform(-9, -8), v0[i] = vref[i] = th_uniform(8, 9); /* unlike any projection */
  double *y = malloc(sizeof *y * (size_t)M * N);
  int ok = th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), what) &&
           th_ok(vkg_graph_write(g, kc, k0, nc), what) && th_ok(vkg_graph_write(g, vc, v0, nc), what);
  for (int run = 0; run < 2 && ok; run++) {
    int p = run ? pos2 : pos;
    if (run) { /* another x for the second position (th_write_inputs uploads x itself) */
      for (int i = 0; i < M * K; i++)
        x[i] = 0.5f - x[i];
      ok = th_ok(th_write_inputs(g), what);
      if (!ok) break;
    }
    vkg_graph_set_u32(g, slot, (uint32_t)p);
    ok = th_ok(th_run(g), what);
    if (!ok) break;
    rows_ref(y, x, w, bias, M, K, N, trans);
    int t = p + offset;
    for (int m = 0; m < M; m++) {
      for (int n = 0; n < C; n++)
        qref[(size_t)m * C + n] = (float)y[(size_t)m * N + n];
      for (int h = 0; h < NH && t >= 0 && t < Tmax; h++)
        for (int d = 0; d < D; d++) {
          size_t i = (((size_t)m * NH + h) * Tmax + t) * D + d;
          kref[i] = (float)y[(size_t)m * N + C + h * D + d];
          vref[i] = (float)y[(size_t)m * N + 2 * C + h * D + d];
        }
    }
    char w2[200];
    snprintf(w2, sizeof w2, "%s: run %d q", what, run);
    if (th_ok(vkg_graph_read(g, q, qgot, (size_t)M * C), w2)) th_close(w2, qgot, qref, (size_t)M * C, 1e-5f, 1e-4f);
    snprintf(w2, sizeof w2, "%s: run %d k cache", what, run);
    if (th_ok(vkg_graph_read(g, kc, kgot, nc), w2)) th_close(w2, kgot, kref, nc, 1e-5f, 1e-4f);
    snprintf(w2, sizeof w2, "%s: run %d v cache", what, run);
    if (th_ok(vkg_graph_read(g, vc, vgot, nc), w2)) th_close(w2, vgot, vref, nc, 1e-5f, 1e-4f);
    th_check(vkg_dim(g, q, 1) == NH && vkg_dim(g, q, 2) == 1 && vkg_dim(g, q, 3) == D, "%s: q is (M, NH, 1, D)", what);
  }
  free(y), free(k0), free(v0), free(kref), free(vref), free(kgot), free(vgot), free(qgot), free(qref);
  vkg_graph_destroy(g);
}

/* Top-p: B rows of V logits. */
static void topp_case(vkg_ctx *ctx, int B, int V, float T, unsigned k, float p, uint32_t seed) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int sh[2] = {B, V};
  vkg_t x = vkg_input(g, "logits", VKG_F32, 2, sh);
  int ss = vkg_scalar(g, "seed"), ts = vkg_scalar(g, "temperature"), ks = vkg_scalar(g, "top_k"),
      ps = vkg_scalar(g, "top_p");
  vkg_t o = vkg_sample_logits_p(g, x, ss, ts, ks, ps);
  vkg_output(g, o);
  char what[160];
  snprintf(what, sizeof what, "top-p B=%d V=%d T=%g k=%u p=%g", B, V, T, k, p);
  float *lg = th_alloc((size_t)B * V);
  for (int i = 0; i < B * V; i++)
    lg[i] = 3 * th_normal();
  int32_t *got = malloc(sizeof *got * (size_t)B);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(vkg_graph_write(g, x, lg, (size_t)B * V), what)) {
    vkg_graph_set_u32(g, ss, seed);
    vkg_graph_set_f32(g, ts, T);
    vkg_graph_set_u32(g, ks, k);
    vkg_graph_set_f32(g, ps, p);
    if (th_ok(th_run(g), what) && th_ok(vkg_graph_read_i32(g, o, got, (size_t)B), what)) {
      double *w = malloc(sizeof *w * (size_t)V), *wk = malloc(sizeof *wk * (size_t)V);
      unsigned char *lo = malloc((size_t)V), *hi = malloc((size_t)V);
      int outside = 0, differ = 0;
      for (int r = 0; r < B; r++) {
        const float *xr = lg + (size_t)r * V;
        ref_sample(xr, V, T, k, 0.0, w); /* the top-k weights */
        /* The kept set, and the same with p nudged either way: a row at a rounding boundary may go
         * either way, but never outside the larger set. */
        ref_topp_keep(w, V, p * (1 - 1e-5), lo);
        ref_topp_keep(w, V, p * (1 + 1e-5), hi);
        int g_ = got[r];
        if (g_ < 0 || g_ >= V || !(lo[g_] || hi[g_])) {
          outside++;
          continue;
        }
        /* The reference draw among the kept set with the row's u. */
        unsigned char *keep = malloc((size_t)V);
        ref_topp_keep(w, V, p, keep);
        double total = 0, cum = 0, u = ref_sample_u(seed, 0, (uint32_t)r);
        for (int i = 0; i < V; i++)
          total += wk[i] = keep[i] ? w[i] : 0;
        int pick = -1;
        for (int i = 0; i < V && pick < 0; i++)
          if ((cum += wk[i]) > u * total) pick = i;
        differ += pick != g_;
        free(keep);
      }
      th_check(outside == 0, "%s: every draw in the kept set (%d outside)", what, outside);
      th_check(differ <= B / 50, "%s: draws equal the reference's (%d of %d differ at rounding boundaries)", what,
               differ, B);
      free(w), free(wk), free(lo), free(hi);
    }
  }
  free(lg), free(got);
  vkg_graph_destroy(g);
}

/* p = 1 gives vkg_sample_logits's tokens exactly; p tiny gives the argmax. */
static void topp_edges(vkg_ctx *ctx) {
  const int B = 33, V = 1000;
  float *lg = th_alloc((size_t)B * V);
  for (int i = 0; i < B * V; i++)
    lg[i] = 2 * th_normal();
  int32_t a[33], b[33], c[33];
  for (int which = 0; which < 3; which++) {
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    int sh[2] = {B, V};
    vkg_t x = vkg_input(g, "logits", VKG_F32, 2, sh);
    int ss = vkg_scalar(g, "seed"), ps = vkg_scalar(g, "top_p");
    vkg_t o = which == 0 ? vkg_sample_logits(g, x, ss, -1, -1) : vkg_sample_logits_p(g, x, ss, -1, -1, ps);
    vkg_output(g, o);
    if (th_ok(vkg_graph_compile(g), "top-p edges") && th_ok(vkg_graph_write(g, x, lg, (size_t)B * V), "write")) {
      vkg_graph_set_u32(g, ss, 77);
      if (which) vkg_graph_set_f32(g, ps, which == 1 ? 1.0f : 1e-9f);
      th_ok(th_run(g), "run");
      th_ok(vkg_graph_read_i32(g, o, which == 0 ? a : which == 1 ? b : c, (size_t)B), "read");
    }
    vkg_graph_destroy(g);
  }
  th_check(memcmp(a, b, sizeof a) == 0, "top_p = 1 draws exactly what vkg_sample_logits draws");
  int greedy = 1;
  for (int r = 0; r < B; r++) {
    int am = 0;
    for (int i = 1; i < V; i++)
      if (lg[r * V + i] > lg[r * V + am]) am = i;
    greedy &= c[r] == am;
  }
  th_check(greedy, "top_p = 1e-9 keeps only the argmax");
  free(lg);
}

static void errors(vkg_ctx *ctx) {
  vkg_graph *g;
  int s3[3] = {2, 5, 3}, s3b[3] = {2, 2, 4}, s4[4] = {1, 2, 3, 8}, s4k[4] = {1, 2, 10, 7};
  /* gather_at on a bad axis */
  vkg_graph_create(ctx, &g);
  vkg_t x = vkg_input(g, "x", VKG_F32, 3, s3);
  th_check(vkg_gather_at(g, x, 3, -1, 0, 1) == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_SHAPE &&
               strstr(vkg_last_error(), "(2, 5, 3)"),
           "gather_at axis 3 of a 3-D tensor is a shape error naming the shape: %s", vkg_last_error());
  vkg_graph_destroy(g);
  /* scatter_at with other dims unequal */
  vkg_graph_create(ctx, &g);
  x = vkg_input(g, "x", VKG_F32, 3, s3);
  vkg_t y = vkg_input(g, "y", VKG_F32, 3, s3b);
  th_check(vkg_scatter_at(g, x, y, 1, -1, 0, -1) == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_SHAPE &&
               strstr(vkg_last_error(), "(2, 2, 4)"),
           "scatter_at of (2, 2, 4) into (2, 5, 3) is a shape error: %s", vkg_last_error());
  vkg_graph_destroy(g);
  /* scatter_at into an intermediate */
  vkg_graph_create(ctx, &g);
  x = vkg_input(g, "x", VKG_F32, 3, s3);
  vkg_t t = vkg_unary(g, VKG_NEG, x, 0, 0);
  th_check(vkg_scatter_at(g, t, x, 1, -1, 0, -1) == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_ARG,
           "scatter_at into a computed tensor is refused: %s", vkg_last_error());
  vkg_graph_destroy(g);
  /* attention_cached with D of k unlike q's */
  vkg_graph_create(ctx, &g);
  vkg_t q = vkg_input(g, "q", VKG_F32, 4, s4), k = vkg_input(g, "k", VKG_F32, 4, s4k);
  th_check(vkg_attention_cached(g, q, k, k, 0, -1, 1) == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_SHAPE &&
               strstr(vkg_last_error(), "(1, 2, 10, 7)"),
           "attention_cached with k (1, 2, 10, 7) for q (1, 2, 3, 8) is a shape error: %s", vkg_last_error());
  vkg_graph_destroy(g);
  /* matmul_rows with inner dims that differ */
  vkg_graph_create(ctx, &g);
  int ma[2] = {3, 7}, mb[2] = {8, 5};
  vkg_t A = vkg_input(g, "a", VKG_F32, 2, ma), Bm = vkg_input(g, "b", VKG_F32, 2, mb);
  th_check(vkg_matmul_rows(g, A, Bm, VKG_NONE, 0) == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_SHAPE &&
               strstr(vkg_last_error(), "(3, 7)") && strstr(vkg_last_error(), "(8, 5)"),
           "matmul_rows (3, 7) x (8, 5) is a shape error: %s", vkg_last_error());
  vkg_graph_destroy(g);
  /* qkv_cached with caches that do not fit the projection, and into a computed tensor */
  vkg_graph_create(ctx, &g);
  int xa[2] = {2, 4}, wa[2] = {4, 12}, ca[4] = {2, 2, 8, 3}, cb[4] = {2, 2, 8, 2};
  A = vkg_input(g, "x", VKG_F32, 2, xa), Bm = vkg_input(g, "w", VKG_F32, 2, wa);
  vkg_t kc = vkg_input(g, "kc", VKG_F32, 4, ca);
  th_check(vkg_qkv_cached(g, A, Bm, VKG_NONE, kc, kc, -1, 0, 0) == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_SHAPE &&
               strstr(vkg_last_error(), "(2, 2, 8, 3)"),
           "qkv_cached of 12 columns into caches (2, 2, 8, 3) is a shape error: %s", vkg_last_error());
  vkg_graph_destroy(g);
  vkg_graph_create(ctx, &g);
  A = vkg_input(g, "x", VKG_F32, 2, xa), Bm = vkg_input(g, "w", VKG_F32, 2, wa);
  kc = vkg_unary(g, VKG_NEG, vkg_input(g, "kc", VKG_F32, 4, cb), 0, 0);
  th_check(vkg_qkv_cached(g, A, Bm, VKG_NONE, kc, kc, -1, 0, 0) == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_ARG,
           "qkv_cached into a computed tensor is refused: %s", vkg_last_error());
  vkg_graph_destroy(g);
  /* a fused matmul_rows with a residual of another size */
  vkg_graph_create(ctx, &g);
  A = vkg_input(g, "a", VKG_F32, 2, xa), Bm = vkg_input(g, "b", VKG_F32, 2, wa);
  th_check(vkg_matmul_rows_fused(g, A, Bm, VKG_NONE, A, 0) == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_SHAPE &&
               strstr(vkg_last_error(), "residual (2, 4)"),
           "matmul_rows (2, 4) x (4, 12) with a residual (2, 4) is a shape error: %s", vkg_last_error());
  vkg_graph_destroy(g);
  /* a slot that does not exist */
  vkg_graph_create(ctx, &g);
  x = vkg_input(g, "x", VKG_F32, 3, s3);
  th_check(vkg_gather_at(g, x, 1, 5, 0, 1) == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_ARG,
           "gather_at with a missing scalar slot is refused: %s", vkg_last_error());
  vkg_graph_destroy(g);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(11);
  int a[3] = {3, 13, 7}, b[2] = {2, 127}, c[2] = {300, 7}, d[1] = {1}, e[2] = {5, 1};
  gather_case(ctx, VKG_F32, 3, a, 1, 5, 2, 4);
  gather_case(ctx, VKG_F32, 3, a, 1, 10, 0, 5); /* runs past the end: zeros */
  gather_case(ctx, VKG_F32, 3, a, -1, 0, 6, 1);
  gather_case(ctx, VKG_I32, 2, b, 1, 126, 0, 1);
  gather_case(ctx, VKG_I32, 2, b, 1, 0, 0, 127);
  gather_case(ctx, VKG_F32, 2, c, 0, 299, 0, 1);
  gather_case(ctx, VKG_F32, 2, c, 0, 17, 3, 13);
  gather_case(ctx, VKG_I32, 1, d, 0, 0, 0, 1);
  gather_case(ctx, VKG_I32, 2, e, 1, 0, 0, 1);
  scatter_case(ctx, 1, 1, 1, 1, 0, 0, 0, -1);
  scatter_case(ctx, 2, 13, 7, 1, 3, 4, 1, -1);
  scatter_case(ctx, 3, 20, 5, 4, 0, 18, 0, -1); /* the second write runs past the end */
  scatter_case(ctx, 4, 127, 1, 1, 2, 9, 1, 5);  /* the first lies below lo */
  scatter_case(ctx, 2, 64, 33, 7, 30, 60, 0, 0);
  attention_case(ctx, 1, 1, 1, 1, 1, 1, 0, 1);
  attention_case(ctx, 2, 3, 1, 37, 13, 7, 19, 1);
  attention_case(ctx, 1, 2, 3, 40, 64, 64, 35, 5);
  attention_case(ctx, 1, 1, 4, 10, 8, 8, 2, 0);      /* fewer keys than queries: early rows are zero */
  attention_case(ctx, 1, 2, 1, 300, 64, 64, 299, 1); /* several chunks of keys */
  attention_case(ctx, 2, 1, 2, 50, 200, 130, 60, 0); /* past Tmax: all keys; wide heads */
  attention_case(ctx, 1, 1, 1, 16, 7, 13, 0, 0);     /* no valid key: zeros */
  rows_case(ctx, 1, 1, 1, 0, 0);
  rows_case(ctx, 1, 128, 384, 0, 1);
  rows_case(ctx, 7, 13, 127, 1, 1);
  rows_case(ctx, 16, 300, 257, 0, 1);  /* K over one staged tile, N over one workgroup */
  rows_case(ctx, 13, 129, 1000, 1, 0); /* rows past one register chunk */
  rows_case_fused(ctx, 1, 1, 1, 0, 1, 1, 1);
  rows_case_fused(ctx, 1, 128, 512, 0, 1, 1, 0); /* GPT's MLP: bias and GELU */
  rows_case_fused(ctx, 1, 512, 128, 0, 1, 0, 1); /* and its projection: bias and residual */
  rows_case_fused(ctx, 3, 13, 7, 1, 0, 1, 1);
  rows_case_fused(ctx, 7, 127, 65, 0, 1, 0, 1);
  rows_case_fused(ctx, 13, 33, 129, 1, 1, 1, 1); /* rows past one register chunk */
  rows_case_fused(ctx, 2, 7, 300, 0, 0, 1, 0);
  rows_case_fused(ctx, 5, 128, 257, 1, 0, 0, 0); /* b^T read as vec4 along k, rows past M in the chunk */
  rows_case_fused(ctx, 1, 4, 3, 1, 1, 1, 1);
  rows_case_fused(ctx, 9, 8, 12, 0, 1, 0, 1);    /* vec4 columns, two row chunks */
  rows_case_ln(ctx, 1, 128, 512, 0, 1, 1, 0, 1); /* GPT's MLP with its layernorm */
  rows_case_ln(ctx, 1, 128, 256, 1, 0, 0, 0, 1); /* and its head (the final layernorm, b^T) */
  rows_case_ln(ctx, 1, 1, 1, 0, 1, 1, 1, 1);     /* one value per row: the normalized row is beta */
  rows_case_ln(ctx, 3, 13, 7, 1, 1, 0, 1, 1);    /* K % 4 != 0: scalar statistics */
  rows_case_ln(ctx, 13, 33, 129, 0, 0, 1, 1, 1);
  rows_case_ln(ctx, 9, 20, 12, 0, 1, 0, 0, 1); /* vec4 columns and statistics, two row chunks */
  qkv_case(ctx, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0);
  qkv_case(ctx, 1, 128, 4, 32, 128, 0, 1, 5, 6, 0);  /* the shipped GPT's shapes */
  qkv_case(ctx, 3, 13, 3, 7, 17, 1, 1, 2, 16, 0);    /* the last position */
  qkv_case(ctx, 2, 7, 2, 13, 9, 0, 1, 4, 9, 3);      /* offset; the second write falls past Tmax */
  qkv_case(ctx, 13, 33, 1, 5, 4, 1, 0, 0, 3, 0);     /* rows past one register chunk */
  qkv_case(ctx, 5, 64, 5, 1, 127, 0, 1, 126, 0, -1); /* negative offset: position -1 is dropped */
  qkv_case(ctx, 2, 12, 2, 3, 5, 1, 1, 1, 4, 0);      /* w^T read as vec4 along k */
  qkv_case(ctx, 3, 20, 2, 2, 6, 0, 0, 5, 2, 0);      /* vec4 columns across the q, k, v boundaries */
  topp_case(ctx, 64, 50, 1.0f, 0, 0.9f, 1);
  topp_case(ctx, 64, 1000, 0.7f, 0, 0.5f, 2);
  topp_case(ctx, 32, 127, 1.3f, 10, 0.8f, 3);
  topp_case(ctx, 16, 7, 1.0f, 0, 0.3f, 4);
  topp_edges(ctx);
  errors(ctx);
  return th_finish(ctx);
}
