/* matmul against the plain-C reference: awkward shapes, transposes, bias, batch broadcasting. */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "check/ref_basic.h"

static void check(vkg_ctx *ctx, int batch, int M, int N, int K, int ta, int tb, int use_bias, int a_batched,
                  int b_batched) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int as[3] = {batch, ta ? K : M, ta ? M : K}, bs[3] = {batch, tb ? N : K, tb ? K : N}, cs[1] = {N};
  float *a, *b, *bias = NULL;
  vkg_t A = th_input(g, a_batched ? 3 : 2, a_batched ? as : as + 1, -1, 1, &a);
  vkg_t B = th_input(g, b_batched ? 3 : 2, b_batched ? bs : bs + 1, -1, 1, &b);
  vkg_t C = use_bias ? th_input(g, 1, cs, -1, 1, &bias) : VKG_NONE;
  vkg_t out = vkg_matmul(g, A, B, C, (ta ? VKG_TRANS_A : 0) | (tb ? VKG_TRANS_B : 0));
  vkg_output(g, out);
  char what[160];
  int ob = (a_batched || b_batched) ? batch : 1;
  snprintf(what, sizeof what, "matmul batch=%d M=%d N=%d K=%d ta=%d tb=%d bias=%d a_b=%d b_b=%d", ob, M, N, K, ta, tb,
           use_bias, a_batched, b_batched);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), what) && th_ok(th_run(g), what)) {
    size_t n = (size_t)ob * M * N;
    float *got = th_alloc(n), *ref = th_alloc(n);
    th_ok(vkg_graph_read(g, out, got, n), what);
    ref_matmul(ref, a, b, bias, ob, M, N, K, ta, tb, a_batched, b_batched);
    th_close(what, got, ref, n, 1e-5f, 1e-4f);
    free(got);
    free(ref);
  }
  vkg_graph_destroy(g);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(1);
  static const int sizes[][3] = {{1, 1, 1},
                                 {7, 13, 5},
                                 {13, 7, 127},
                                 {64, 64, 64},
                                 {65, 63, 17},
                                 {127, 1, 33},
                                 {3, 200, 70},
                                 /* multiples of 4 that are not multiples of the tiles: the vec4 paths */
                                 {4, 4, 4},
                                 {12, 20, 36},
                                 {68, 132, 44},
                                 {8, 4, 12}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    for (int t = 0; t < 4; t++)
      check(ctx, 1, sizes[i][0], sizes[i][1], sizes[i][2], t & 1, t >> 1, i % 2, 0, 0);
  /* batches: both batched, and each operand broadcast */
  check(ctx, 3, 7, 13, 9, 0, 0, 1, 1, 1);
  check(ctx, 5, 17, 3, 31, 1, 0, 0, 1, 0);
  check(ctx, 4, 9, 66, 8, 0, 1, 1, 0, 1);
  check(ctx, 2, 70, 70, 129, 1, 1, 0, 1, 1);
  check(ctx, 3, 12, 20, 16, 0, 0, 1, 1, 1);
  check(ctx, 2, 20, 12, 8, 1, 1, 1, 1, 0);

  /* shape errors are reported, not crashed on */
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int s1[2] = {3, 4}, s2[2] = {5, 6};
  vkg_t a = vkg_input(g, "a", VKG_F32, 2, s1), b = vkg_input(g, "b", VKG_F32, 2, s2);
  vkg_t c = vkg_matmul(g, a, b, VKG_NONE, 0);
  th_check(c == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_SHAPE, "inner-dim mismatch is a shape error: %s",
           vkg_last_error());
  vkg_graph_destroy(g);
  return th_finish(ctx);
}
