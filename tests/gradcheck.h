/* Gradient checks shared by the backward tests.
 *
 * An op under test is described by its inputs' shapes, a plain-C forward and backward in double
 * precision, and a function that builds the same op on a graph. For a fixed random r the loss is
 * L = sum_j y_j r_j, so dL/dy = r. gc_check() then
 *   1. checks the C backward against central finite differences of the C forward (double), and
 *   2. builds L on the GPU, runs vkg_backward, and checks every input's gradient against the C backward
 *      evaluated at the same (float-rounded) inputs.
 * Both must pass; each records one result with the harness. */
#ifndef VKGEN_GRADCHECK_H
#define VKGEN_GRADCHECK_H
#include "harness.h"

#define GC_MAX_IN 8

struct gc_op {
  const char *name;
  int nin;
  int ndim[GC_MAX_IN];
  int shape[GC_MAX_IN][VKG_MAX_DIMS];
  int is_int[GC_MAX_IN];  /* i32 inputs (ids): not differentiated, filled with ints in [0, int_hi) */
  int no_grad[GC_MAX_IN]; /* differentiable in principle but not checked (e.g. running stats) */
  int int_hi[GC_MAX_IN];
  float lo[GC_MAX_IN], hi[GC_MAX_IN]; /* input value ranges (default [-1, 1)) */
  size_t out_n;                       /* elements of the output */
  const void *user;                   /* op attributes for the callbacks */
  /* y = f(in); in[i] holds the input values (ints as doubles) */
  void (*fwd)(const struct gc_op *op, double *const *in, double *y);
  /* gin[i] += dL/din[i] given gy = dL/dy; gin arrays are zeroed by the caller */
  void (*bwd)(const struct gc_op *op, double *const *in, const double *gy, double **gin);
  /* builds the op on g from the input tensors; returns its output */
  vkg_t (*build)(vkg_graph *g, const struct gc_op *op, const vkg_t *in);
  double fd_eps;    /* finite-difference step (default 1e-6) */
  double fd_tol;    /* C backward vs finite differences: atol = rtol (default 1e-6) */
  float atol, rtol; /* GPU vs C backward (default 1e-4, 1e-3) */
};

/* Runs both checks for op; returns 1 if both passed. */
int gc_check(vkg_ctx *ctx, const struct gc_op *op);
/* Element count of input i. */
size_t gc_numel(const struct gc_op *op, int i);

/* Attention's gradients against the C references (check/ref_nn.c) for q (B, NH, Tq, D), k (B, NH, Tk, D),
 * v (B, NH, Tk, Dv) (scale 0: 1/sqrt(D)); frozen: bit i set freezes input i (q, k, v), so only the
 * other gradients are made. Returns 1 if the checks passed. */
struct gc_attention {
  int B, NH, Tq, Tk, D, Dv, causal;
  float scale;
};
int gc_check_attention(vkg_ctx *ctx, struct gc_attention a, unsigned frozen);
#endif
