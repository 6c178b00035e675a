/* Autodiff: backward of unary, binary (with broadcasting), matmul (transposes, bias, batch
 * broadcasting) and reshape, each checked against finite differences of a double-precision C
 * reference and on the GPU; gradient accumulation for reused tensors; frozen parameters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "check/ref_basic.h"

// ---- unary ----

struct un {
  vkg_unop op;
  float alpha, beta;
};

static void un_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct un *u = op->user;
  for (size_t i = 0; i < op->out_n; i++)
    y[i] = ref_unop_d(u->op, in[0][i], u->alpha, u->beta);
}
static void un_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct un *u = op->user;
  for (size_t i = 0; i < op->out_n; i++)
    gin[0][i] += gy[i] * ref_unop_grad(u->op, in[0][i], u->alpha);
}
static vkg_t un_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  const struct un *u = op->user;
  return vkg_unary(g, u->op, in[0], u->alpha, u->beta);
}

static void check_unary(vkg_ctx *ctx, vkg_unop o) {
  struct un u = {o, 0.2f, 0.3f};
  char name[48];
  snprintf(name, sizeof name, "unary %d backward", (int)o);
  struct gc_op op = {.name = name,
                     .nin = 1,
                     .ndim = {2},
                     .shape = {{7, 13}},
                     .out_n = 91,
                     .user = &u,
                     .fwd = un_fwd,
                     .bwd = un_bwd,
                     .build = un_build};
  if (o == VKG_LOG || o == VKG_SQRT)
    op.lo[0] = 0.2f, op.hi[0] = 3;
  else
    op.lo[0] = -3, op.hi[0] = 3;
  gc_check(ctx, &op);
}

// ---- binary with broadcasting ----

struct bin {
  vkg_binop op;
};

static void bin_fwd(const struct gc_op *op, double *const *in, double *y) {
  int os[VKG_MAX_DIMS];
  ref_binary_d(((const struct bin *)op->user)->op, y, os, in[0], op->shape[0], op->ndim[0], in[1], op->shape[1],
               op->ndim[1]);
}
static void bin_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  ref_binary_bwd(((const struct bin *)op->user)->op, gin[0], gin[1], in[0], op->shape[0], op->ndim[0], in[1],
                 op->shape[1], op->ndim[1], gy);
}
static vkg_t bin_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  return vkg_binary(g, ((const struct bin *)op->user)->op, in[0], in[1]);
}

static void check_binary(vkg_ctx *ctx, vkg_binop o, int nda, const int *sa, int ndb, const int *sb) {
  struct bin b = {o};
  int os[VKG_MAX_DIMS], ond = ref_broadcast_shape(os, sa, nda, sb, ndb);
  size_t n = 1;
  for (int d = 0; d < ond; d++)
    n *= (size_t)os[d];
  char name[64];
  snprintf(name, sizeof name, "binary %d backward (%dd x %dd)", (int)o, nda, ndb);
  struct gc_op op = {.name = name,
                     .nin = 2,
                     .ndim = {nda, ndb},
                     .out_n = n,
                     .user = &b,
                     .fwd = bin_fwd,
                     .bwd = bin_bwd,
                     .build = bin_build};
  memcpy(op.shape[0], sa, sizeof(int) * (size_t)nda);
  memcpy(op.shape[1], sb, sizeof(int) * (size_t)ndb);
  op.lo[0] = op.lo[1] = 0.5f, op.hi[0] = op.hi[1] = 2; /* div and pow stay smooth */
  gc_check(ctx, &op);
}

// ---- matmul ----

struct mm {
  int batch, M, N, K, ta, tb, bias, a_b, b_b;
};

static void mm_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct mm *m = op->user;
  ref_matmul_d(y, in[0], in[1], m->bias ? in[2] : NULL, (m->a_b || m->b_b) ? m->batch : 1, m->M, m->N, m->K, m->ta,
               m->tb, m->a_b, m->b_b);
}
static void mm_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct mm *m = op->user;
  ref_matmul_bwd(gin[0], gin[1], m->bias ? gin[2] : NULL, in[0], in[1], gy, (m->a_b || m->b_b) ? m->batch : 1, m->M,
                 m->N, m->K, m->ta, m->tb, m->a_b, m->b_b);
}
static vkg_t mm_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  const struct mm *m = op->user;
  return vkg_matmul(g, in[0], in[1], m->bias ? in[2] : VKG_NONE, (m->ta ? VKG_TRANS_A : 0) | (m->tb ? VKG_TRANS_B : 0));
}

static void check_matmul(vkg_ctx *ctx, struct mm m) {
  char name[96];
  snprintf(name, sizeof name, "matmul backward b=%d M=%d N=%d K=%d ta=%d tb=%d bias=%d a_b=%d b_b=%d", m.batch, m.M,
           m.N, m.K, m.ta, m.tb, m.bias, m.a_b, m.b_b);
  struct gc_op op = {.name = name, .nin = m.bias ? 3 : 2, .user = &m, .fwd = mm_fwd, .bwd = mm_bwd, .build = mm_build};
  int *sa = op.shape[0], *sb = op.shape[1];
  op.ndim[0] = m.a_b ? 3 : 2;
  op.ndim[1] = m.b_b ? 3 : 2;
  int o = 0;
  if (m.a_b) sa[o++] = m.batch;
  sa[o] = m.ta ? m.K : m.M, sa[o + 1] = m.ta ? m.M : m.K;
  o = 0;
  if (m.b_b) sb[o++] = m.batch;
  sb[o] = m.tb ? m.N : m.K, sb[o + 1] = m.tb ? m.K : m.N;
  op.ndim[2] = 1;
  op.shape[2][0] = m.N;
  op.out_n = (size_t)((m.a_b || m.b_b) ? m.batch : 1) * m.M * m.N;
  gc_check(ctx, &op);
}

// ---- graph-level behaviour ----

/* y = x * x + tanh(x) uses x three times; frozen w gets no gradient. */
static void reuse_and_freeze(vkg_ctx *ctx) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int s[1] = {13};
  vkg_t x = vkg_input(g, "x", VKG_F32, 1, s), w = vkg_input(g, "w", VKG_F32, 1, s);
  vkg_requires_grad(g, x);
  vkg_t y = vkg_binary(g, VKG_ADD, vkg_binary(g, VKG_MUL, x, x), vkg_unary(g, VKG_TANH, x, 0, 0));
  y = vkg_binary(g, VKG_MUL, y, w);
  int row[2] = {1, 13}, col[2] = {13, 1};
  vkg_t loss = vkg_matmul(g, vkg_reshape(g, y, 2, row), vkg_full(g, 2, col, 1.0f), VKG_NONE, 0);
  vkg_backward(g, loss);
  vkg_t gx = vkg_grad(g, x);
  th_check(vkg_grad(g, w) == VKG_NONE, "a frozen input gets no gradient");
  vkg_output(g, gx);
  if (th_ok(vkg_graph_compile(g), "compile reuse")) {
    float xh[13], wh[13], got[13], ref[13];
    th_fill(xh, 13, -2, 2);
    th_fill(wh, 13, -1, 1);
    vkg_graph_write(g, x, xh, 13);
    vkg_graph_write(g, w, wh, 13);
    th_ok(th_run(g), "run reuse");
    vkg_graph_read(g, gx, got, 13);
    for (int i = 0; i < 13; i++) {
      double t = tanh(xh[i]);
      ref[i] = (float)(wh[i] * (2 * xh[i] + 1 - t * t));
    }
    th_close("gradients of a tensor used three times are summed", got, ref, 13, 1e-5f, 1e-5f);
  }
  vkg_graph_destroy(g);

  vkg_graph_create(ctx, &g);
  x = vkg_input(g, "x", VKG_F32, 1, s);
  vkg_t l = vkg_reduce(g, VKG_REDUCE_SUM, x, 0, 0);
  vkg_backward(g, l);
  th_check(vkg_graph_compile(g) == VKG_ERR_ARG && strstr(vkg_last_error(), "requires_grad"),
           "backward with nothing to differentiate is a clear error: %s", vkg_last_error());
  vkg_graph_destroy(g);

  vkg_graph_create(ctx, &g);
  x = vkg_input(g, "x", VKG_F32, 1, s);
  vkg_requires_grad(g, x);
  vkg_backward(g, vkg_unary(g, VKG_TANH, x, 0, 0));
  th_check(vkg_graph_compile(g) == VKG_ERR_SHAPE && strstr(vkg_last_error(), "one f32 value"),
           "a loss of more than one value is a clear error: %s", vkg_last_error());
  vkg_graph_destroy(g);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(7);
  for (int o = 0; o < VKG_UNOP_COUNT; o++)
    check_unary(ctx, (vkg_unop)o);
  int s7x13[2] = {7, 13}, s13[1] = {13}, s7x1[2] = {7, 1}, s3x1x5[3] = {3, 1, 5}, s4x5[2] = {4, 5}, s1[1] = {1};
  for (int o = VKG_ADD; o <= VKG_POW; o++)
    check_binary(ctx, (vkg_binop)o, 2, s7x13, 2, s7x13);
  check_binary(ctx, VKG_ADD, 2, s7x13, 1, s13);   /* row vector */
  check_binary(ctx, VKG_MUL, 2, s7x1, 1, s13);    /* outer product shape */
  check_binary(ctx, VKG_DIV, 3, s3x1x5, 2, s4x5); /* (3,1,5) x (4,5) -> (3,4,5) */
  check_binary(ctx, VKG_SUB, 1, s1, 2, s7x13);    /* scalar */
  check_binary(ctx, VKG_POW, 2, s7x13, 1, s1);
  struct mm cases[] = {
      {1, 7, 5, 3, 0, 0, 1, 0, 0},  {1, 13, 7, 9, 1, 0, 0, 0, 0}, {1, 5, 11, 6, 0, 1, 1, 0, 0},
      {1, 9, 4, 13, 1, 1, 0, 0, 0}, {3, 5, 4, 6, 0, 0, 1, 1, 1},  {3, 5, 4, 6, 1, 0, 0, 1, 0},
      {4, 3, 7, 5, 0, 1, 1, 0, 1},  {2, 1, 1, 1, 1, 1, 1, 1, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_matmul(ctx, cases[i]);
  reuse_and_freeze(ctx);
  return th_finish(ctx);
}
