/* Scaled dot-product attention against the plain-C reference: causal and not, Tq == Tk, Tq < Tk
 * (a KV cache, down to Tq = 1), Tq and Tk not multiples of the 32-row / 32-key tiles, D from 1 to
 * 1000, Dv != D (up to 256, and not a multiple of the column block), several heads and batches,
 * large logits; the saved logsumexp; shape errors. The backward (dq, dk, dv) against the C backward,
 * itself checked against finite differences, on shapes that cross the query, key and column blocks.
 * CMakeLists.txt runs this test once more under each VKGEN_KERNELS family. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h" /* to find the saved logsumexp among the node's outputs */
#include "check/ref_nn.h"
#include "gradcheck.h"

#define ATOL 2e-5f
#define RTOL 1e-4f

static void attention(vkg_ctx *ctx, int B, int NH, int Tq, int Tk, int D, int Dv, float scale, int causal,
                      float range) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int qs[4] = {B, NH, Tq, D}, ks[4] = {B, NH, Tk, D}, vs[4] = {B, NH, Tk, Dv};
  float *q, *k, *v;
  vkg_t Q = th_input(g, 4, qs, -range, range, &q), K = th_input(g, 4, ks, -range, range, &k);
  vkg_t V = th_input(g, 4, vs, -1, 1, &v);
  vkg_t o = vkg_attention(g, Q, K, V, scale, causal);
  vkg_t lse = VKG_NONE;
  if (o != VKG_NONE) {
    const struct vkg_node *n = &g->nodes[g->nnodes - 1];
    lse = n->nout > 1 ? n->out[1] : VKG_NONE;
    vkg_output(g, lse);
  }
  vkg_output(g, o);
  char what[160];
  snprintf(what, sizeof what, "attention B=%d NH=%d Tq=%d Tk=%d D=%d Dv=%d scale=%g causal=%d range=%g", B, NH, Tq, Tk,
           D, Dv, scale, causal, range);
  th_check(vkg_ndim(g, o) == 4 && vkg_dim(g, o, 0) == B && vkg_dim(g, o, 1) == NH && vkg_dim(g, o, 2) == Tq &&
               vkg_dim(g, o, 3) == Dv && vkg_ndim(g, lse) == 3 && vkg_dim(g, lse, 2) == Tq,
           "%s: output (B, NH, Tq, Dv), lse (B, NH, Tq)", what);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), what) && th_ok(th_run(g), what)) {
    size_t n = (size_t)B * NH * Tq * Dv, nl = (size_t)B * NH * Tq;
    float *got = th_alloc(n), *ref = th_alloc(n), *got_l = th_alloc(nl), *ref_l = th_alloc(nl);
    ref_attention(ref, ref_l, q, k, v, B, NH, Tq, Tk, D, Dv, scale, causal);
    if (th_ok(vkg_graph_read(g, o, got, n), what)) th_close(what, got, ref, n, ATOL, RTOL);
    snprintf(what + strlen(what), sizeof what - strlen(what), " lse");
    if (th_ok(vkg_graph_read(g, lse, got_l, nl), what)) th_close(what, got_l, ref_l, nl, ATOL, RTOL);
    free(got), free(ref), free(got_l), free(ref_l);
  }
  vkg_graph_destroy(g);
}

/* Builds attention on inputs of the given shapes and checks that compile reports a shape error. */
static void bad_shapes(vkg_ctx *ctx, const int *qs, const int *ks, const int *vs, int kd, int causal,
                       const char *what) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t q = vkg_input(g, "q", VKG_F32, 4, qs), k = vkg_input(g, "k", VKG_F32, kd, ks),
        v = vkg_input(g, "v", VKG_F32, 4, vs);
  vkg_t o = vkg_attention(g, q, k, v, 0, causal);
  vkg_status s = vkg_graph_compile(g);
  th_check(o == VKG_NONE && s == VKG_ERR_SHAPE, "%s is a shape error: %s", what, vkg_last_error());
  vkg_graph_destroy(g);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(4);
  /* B, NH, Tq, Tk, D, Dv */
  static const int cases[][6] = {
      {1, 1, 1, 1, 1, 1},      {1, 1, 7, 7, 64, 64},    {2, 3, 13, 13, 16, 16},   {1, 2, 5, 37, 32, 48},
      {2, 2, 1, 37, 64, 64},   {1, 1, 1, 7, 8, 8},      {1, 1, 300, 300, 64, 64}, {1, 2, 7, 300, 8, 5},
      {2, 1, 7, 7, 1, 3},      {1, 1, 9, 40, 256, 256}, {1, 1, 33, 65, 24, 40},   {3, 1, 1, 1, 4, 4},
      {1, 3, 127, 127, 13, 7}, {2, 2, 17, 130, 64, 32}, {1, 2, 65, 70, 96, 130},  {1, 1, 3, 33, 1000, 3},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int causal = 0; causal < 2; causal++) {
      const int *c = cases[i];
      attention(ctx, c[0], c[1], c[2], c[3], c[4], c[5], 0, causal, 1);
    }
  /* more queries than keys is fine without the causal mask */
  attention(ctx, 1, 2, 9, 1, 4, 4, 0, 0, 1);
  attention(ctx, 2, 1, 40, 7, 16, 9, 0, 0, 1);
  /* an explicit scale, and large logits (scale 1 with D = 64: scores of tens) */
  attention(ctx, 1, 2, 13, 50, 32, 32, 0.3f, 1, 1);
  attention(ctx, 1, 1, 20, 100, 64, 64, 1.0f, 0, 1.5f);
  attention(ctx, 1, 1, 20, 100, 64, 64, 1.0f, 1, 1.5f);

  /* B, NH, Tq, Tk, D, Dv: T = 1, 7, 13, 127 (four query and key blocks); D and Dv past one column
   * block (70: two of 64) and not multiples of the staging step; Tq < Tk; Tq > Tk without the mask */
  static const int bcases[][6] = {
      {1, 1, 1, 1, 1, 1},     {2, 3, 7, 7, 5, 3},    {1, 2, 13, 13, 16, 16}, {1, 1, 1, 13, 8, 5},
      {1, 1, 127, 127, 5, 3}, {1, 1, 9, 40, 70, 33}, {1, 1, 7, 45, 33, 70},  {1, 1, 40, 37, 3, 2},
  };
  for (size_t i = 0; i < sizeof bcases / sizeof bcases[0]; i++)
    for (int causal = 0; causal < 2; causal++) {
      const int *c = bcases[i];
      if (causal && c[2] > c[3]) continue;
      gc_check_attention(ctx, (struct gc_attention){c[0], c[1], c[2], c[3], c[4], c[5], causal, 0}, 0);
    }
  gc_check_attention(ctx, (struct gc_attention){1, 2, 13, 50, 7, 9, 1, 0.3f}, 0); /* an explicit scale */

  int q[4] = {2, 3, 5, 8}, k[4] = {2, 3, 7, 8}, v[4] = {2, 3, 7, 6};
  int kD[4] = {2, 3, 7, 9}, kB[4] = {1, 3, 7, 8}, kH[4] = {2, 2, 7, 8}, vT[4] = {2, 3, 6, 6}, qlong[4] = {2, 3, 9, 8};
  bad_shapes(ctx, q, kD, v, 4, 0, "k head size 9 vs q 8");
  bad_shapes(ctx, q, kB, v, 4, 0, "k batch 1 vs q 2");
  bad_shapes(ctx, q, kH, v, 4, 0, "k heads 2 vs q 3");
  bad_shapes(ctx, q, k, vT, 4, 0, "v with 6 keys vs k 7");
  bad_shapes(ctx, q, k + 1, v, 3, 0, "a 3-D k");
  bad_shapes(ctx, qlong, k, v, 4, 1, "causal with Tq 9 > Tk 7");
  return th_finish(ctx);
}
