/* Binary ops with broadcasting and unary activations against the plain-C reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "check/ref_basic.h"

static void binary(vkg_ctx *ctx, vkg_binop op, int and_, const int *as, int bnd, const int *bs) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  float *a, *b;
  /* positive operands keep pow and div well defined */
  vkg_t A = th_input(g, and_, as, 0.5f, 2, &a), B = th_input(g, bnd, bs, 0.5f, 2, &b);
  vkg_t out = vkg_binary(g, op, A, B);
  vkg_output(g, out);
  char what[128];
  snprintf(what, sizeof what, "binary op %d, %dd x %dd", (int)op, and_, bnd);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), what) && th_ok(th_run(g), what)) {
    size_t n = vkg_numel(g, out);
    float *got = th_alloc(n), *ref = th_alloc(n);
    int os[VKG_MAX_DIMS];
    int ond = ref_binary(op, ref, os, a, as, and_, b, bs, bnd);
    int same = ond == vkg_ndim(g, out);
    for (int i = 0; i < ond && same; i++)
      same = os[i] == vkg_dim(g, out, i);
    th_check(same, "%s: output shape", what);
    th_ok(vkg_graph_read(g, out, got, n), what);
    th_close(what, got, ref, n, 1e-6f, 1e-5f);
    free(got);
    free(ref);
  }
  vkg_graph_destroy(g);
}

static void unary(vkg_ctx *ctx, vkg_unop op, float lo, float hi, float alpha, float beta) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int shape[3] = {3, 7, 13};
  float *x;
  vkg_t X = th_input(g, 3, shape, lo, hi, &x);
  vkg_t out = vkg_unary(g, op, X, alpha, beta);
  vkg_output(g, out);
  char what[64];
  snprintf(what, sizeof what, "unary op %d on [%g, %g)", (int)op, lo, hi);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), what) && th_ok(th_run(g), what)) {
    size_t n = 3 * 7 * 13;
    float got[3 * 7 * 13], ref[3 * 7 * 13];
    th_ok(vkg_graph_read(g, out, got, n), what);
    for (size_t i = 0; i < n; i++)
      ref[i] = ref_unop(op, x[i], alpha, beta);
    th_close(what, got, ref, n, 2e-6f, 2e-5f);
  }
  vkg_graph_destroy(g);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(2);
  int s1[1] = {127}, s2[2] = {7, 13}, s3[3] = {2, 7, 13}, s4[2] = {1, 13}, s5[3] = {2, 1, 13}, s6[2] = {7, 1},
      s0[1] = {1}, s7[4] = {3, 1, 5, 1}, s8[3] = {4, 1, 6};
  for (int op = VKG_ADD; op <= VKG_POW; op++)
    binary(ctx, (vkg_binop)op, 1, s1, 1, s1);
  binary(ctx, VKG_ADD, 3, s3, 2, s4); /* row broadcast */
  binary(ctx, VKG_MUL, 2, s6, 3, s5); /* both sides broadcast */
  binary(ctx, VKG_SUB, 1, s0, 3, s3); /* scalar */
  binary(ctx, VKG_DIV, 4, s7, 3, s8); /* (3,1,5,1) x (4,1,6) -> (3,4,5,6) */
  binary(ctx, VKG_MAXIMUM, 2, s2, 2, s2);

  for (int op = 0; op < VKG_UNOP_COUNT; op++) {
    int positive = op == VKG_LOG || op == VKG_SQRT;
    unary(ctx, (vkg_unop)op, positive ? 0.01f : -6, 6, 0.2f, 0.5f);
  }
  unary(ctx, VKG_TANH, -60, 60, 0, 0); /* saturation without overflow */
  unary(ctx, VKG_SIGMOID, -100, 100, 0, 0);
  unary(ctx, VKG_SOFTPLUS, -100, 100, 0, 0);

  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t a = vkg_input(g, "a", VKG_F32, 2, s2), b = vkg_input(g, "b", VKG_F32, 3, s8);
  th_check(vkg_binary(g, VKG_ADD, a, b) == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_SHAPE,
           "non-broadcastable shapes are a shape error: %s", vkg_last_error());
  vkg_graph_destroy(g);
  return th_finish(ctx);
}
