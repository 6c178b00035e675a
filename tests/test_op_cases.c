/* Every case of the op table (src/check/op_cases.c) against its plain-C reference: the forward of each
 * test case on the GPU, and for ops with a gradient the backward reference against finite differences
 * and the GPU's backward against it (gradcheck.c). The same cases are what `vkgen selfcheck`, `vkgen
 * dev` and `vkgen bench ops` run. Also: every op has test cases, and its bench cases build. */
#include <stdio.h>
#include <string.h>

#include "check/op_cases.h"
#include "gradcheck.h"

/* The gradient check reads the case through its callbacks. */
static void g_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct opc *c = op->user;
  c->op->fwd(c, in, y, op->out_n);
}
static void g_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct opc *c = op->user;
  c->op->bwd(c, in, gy, gin, op->out_n);
}
static vkg_t g_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  const struct opc *c = op->user;
  return c->op->build(g, c, in);
}

static void grad_check(vkg_ctx *ctx, const struct opc *c, size_t out_n) {
  char name[128];
  snprintf(name, sizeof name, "%s %s backward", c->op->name, c->label);
  struct gc_op op = {.name = name,
                     .nin = c->nin,
                     .out_n = out_n,
                     .user = c,
                     .fwd = g_fwd,
                     .bwd = g_bwd,
                     .build = g_build,
                     .fd_eps = c->fd_eps};
  for (int i = 0; i < c->nin; i++) {
    op.ndim[i] = c->in[i].ndim;
    memcpy(op.shape[i], c->in[i].shape, sizeof op.shape[i]);
    op.is_int[i] = c->in[i].dtype == VKG_I32;
    op.int_hi[i] = (int)c->in[i].hi;
    op.no_grad[i] = c->in[i].no_grad;
    op.lo[i] = c->in[i].lo, op.hi[i] = c->in[i].hi;
  }
  gc_check(ctx, &op);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  struct opc_limits lim = opc_limits_of(ctx);
  int nops;
  const struct opc_op *ops = opc_ops(&nops);
  for (int i = 0; i < nops; i++) {
    int k = 0;
    struct opc c;
    for (; opc_case(&ops[i], k, 0, &lim, &c); k++) {
      struct opc_run r;
      char what[160];
      snprintf(what, sizeof what, "%s %s", ops[i].name, c.label);
      if (!th_ok(opc_run_init(&r, ctx, &c, (uint64_t)k + 1, 1), what)) continue;
      double err;
      int pass;
      if (th_ok(opc_run_check(&r, &err, &pass), what))
        th_check(pass, "%s: matches the reference (max error %.3g, atol %g rtol %g)", what, err, c.atol, c.rtol);
      size_t out_n = r.nout, nin = 0;
      opc_run_release(&r);
      for (int j = 0; j < c.nin; j++)
        nin += opc_numel(&c.in[j]);
      /* Finite differences cost two forwards per input element: large cases check the forward only. */
      if (ops[i].bwd && nin <= 6000 && nin * out_n <= 4000000) grad_check(ctx, &c, out_n);
    }
    th_check(k >= 1, "%s has test cases (%d)", ops[i].name, k);
    /* The bench sizes describe themselves and build (the smallest also runs). */
    for (int s = 0; s < 3; s++) {
      th_check(opc_case(&ops[i], 0, ops[i].sizes[s], &lim, &c) && c.label[0] && c.bytes > 0,
               "%s bench size %d: a case with a label and bytes", ops[i].name, ops[i].sizes[s]);
    }
  }
  th_check(opc_find("matmul") && !opc_find("nonsense"), "ops are found by name");
  return th_finish(ctx);
}
