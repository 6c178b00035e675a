#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/ref_nn.h"

size_t gc_numel(const struct gc_op *op, int i) {
  size_t n = 1;
  for (int d = 0; d < op->ndim[i]; d++)
    n *= (size_t)op->shape[i][d];
  return n;
}

static double loss(const struct gc_op *op, double *const *in, const double *r, double *y) {
  op->fwd(op, in, y);
  double l = 0;
  for (size_t j = 0; j < op->out_n; j++)
    l += y[j] * r[j];
  return l;
}

/* 1. C backward against central differences of the C forward. */
static int check_reference(const struct gc_op *op, double **in, const double *r) {
  double eps = op->fd_eps > 0 ? op->fd_eps : 1e-6, tol = op->fd_tol > 0 ? op->fd_tol : 1e-6;
  double *y = calloc(op->out_n, sizeof *y);
  double *gin[GC_MAX_IN] = {0};
  for (int i = 0; i < op->nin; i++)
    gin[i] = calloc(gc_numel(op, i), sizeof(double));
  op->bwd(op, in, r, gin);
  double worst = 0;
  int ok = 1, wi = 0;
  size_t wk = 0;
  for (int i = 0; i < op->nin; i++) {
    if (op->is_int[i] || op->no_grad[i]) continue;
    for (size_t k = 0; k < gc_numel(op, i); k++) {
      double keep = in[i][k];
      in[i][k] = keep + eps;
      double lp = loss(op, in, r, y);
      in[i][k] = keep - eps;
      double lm = loss(op, in, r, y);
      in[i][k] = keep;
      double fd = (lp - lm) / (2 * eps), err = fabs(fd - gin[i][k]) / (tol + tol * fabs(fd));
      if (!(err <= 1)) ok = 0;
      if (!(err <= worst)) worst = err, wi = i, wk = k;
    }
  }
  char what[160];
  snprintf(what, sizeof what, "%s: C backward matches finite differences (worst %.2f of tolerance)", op->name, worst);
  if (!ok) {
    double keep = in[wi][wk];
    in[wi][wk] = keep + eps;
    double lp = loss(op, in, r, y);
    in[wi][wk] = keep - eps;
    double lm = loss(op, in, r, y);
    in[wi][wk] = keep;
    fprintf(stderr, "  input %d element %zu: backward %.9g, finite difference %.9g\n", wi, wk, gin[wi][wk],
            (lp - lm) / (2 * eps));
  }
  th_check(ok, "%s", what);
  for (int i = 0; i < op->nin; i++)
    free(gin[i]);
  free(y);
  return ok;
}

/* 2. GPU backward against the C backward. */
static int check_gpu(vkg_ctx *ctx, const struct gc_op *op, double *const *in, const double *r) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t x[GC_MAX_IN];
  for (int i = 0; i < op->nin; i++) {
    char name[16];
    snprintf(name, sizeof name, "x%d", i);
    x[i] = vkg_input(g, name, op->is_int[i] ? VKG_I32 : VKG_F32, op->ndim[i], op->shape[i]);
    if (!op->is_int[i] && !op->no_grad[i]) vkg_requires_grad(g, x[i]);
  }
  vkg_t y = op->build(g, op, x);
  int flat[1] = {(int)op->out_n};
  vkg_t R = vkg_input(g, "r", VKG_F32, 1, flat);
  vkg_t L =
      vkg_reduce(g, VKG_REDUCE_SUM, vkg_binary(g, VKG_MUL, vkg_reshape(g, y, 1, flat), R), 0, 0); /* sum_j y_j r_j */
  vkg_backward(g, L);
  vkg_t gx[GC_MAX_IN];
  for (int i = 0; i < op->nin; i++) {
    gx[i] = (op->is_int[i] || op->no_grad[i]) ? VKG_NONE : vkg_grad(g, x[i]);
    if (gx[i] != VKG_NONE) vkg_output(g, gx[i]);
  }
  int ok = th_ok(vkg_graph_compile(g), op->name);
  for (int i = 0; i < op->nin && ok; i++) {
    size_t n = gc_numel(op, i);
    if (op->is_int[i]) {
      int32_t *v = malloc(n * sizeof *v);
      for (size_t k = 0; k < n; k++)
        v[k] = (int32_t)in[i][k];
      ok = th_ok(vkg_graph_write_i32(g, x[i], v, n), op->name);
      free(v);
    } else {
      float *v = th_alloc(n);
      for (size_t k = 0; k < n; k++)
        v[k] = (float)in[i][k];
      ok = th_ok(vkg_graph_write(g, x[i], v, n), op->name);
      free(v);
    }
  }
  if (ok) {
    float *rv = th_alloc(op->out_n);
    for (size_t j = 0; j < op->out_n; j++)
      rv[j] = (float)r[j];
    ok = th_ok(vkg_graph_write(g, R, rv, op->out_n), op->name) && th_ok(th_run(g), op->name);
    free(rv);
  }
  double *gin[GC_MAX_IN] = {0};
  for (int i = 0; i < op->nin; i++)
    gin[i] = calloc(gc_numel(op, i), sizeof(double));
  if (ok) op->bwd(op, in, r, gin);
  for (int i = 0; i < op->nin && ok; i++) {
    if (op->is_int[i] || op->no_grad[i]) continue;
    size_t n = gc_numel(op, i);
    char what[160];
    snprintf(what, sizeof what, "%s: GPU gradient of input %d", op->name, i);
    if (gx[i] == VKG_NONE) {
      ok = th_check(0, "%s: no gradient", what);
      continue;
    }
    float *got = th_alloc(n), *ref = th_alloc(n);
    for (size_t k = 0; k < n; k++)
      ref[k] = (float)gin[i][k];
    ok = th_ok(vkg_graph_read(g, gx[i], got, n), what) &&
         th_close(what, got, ref, n, op->atol > 0 ? op->atol : 1e-4f, op->rtol > 0 ? op->rtol : 1e-3f);
    free(got);
    free(ref);
  }
  for (int i = 0; i < op->nin; i++)
    free(gin[i]);
  vkg_graph_destroy(g);
  return ok;
}

int gc_check(vkg_ctx *ctx, const struct gc_op *op) {
  double *in[GC_MAX_IN] = {0};
  for (int i = 0; i < op->nin; i++) {
    size_t n = gc_numel(op, i);
    in[i] = malloc(n * sizeof(double));
    float lo = op->lo[i], hi = op->hi[i];
    if (lo == 0 && hi == 0) lo = -1, hi = 1;
    for (size_t k = 0; k < n; k++)
      in[i][k] = op->is_int[i] ? (double)(int)th_uniform(0, (float)op->int_hi[i]) : (double)th_uniform(lo, hi);
  }
  double *r = malloc(op->out_n * sizeof *r);
  for (size_t j = 0; j < op->out_n; j++)
    r[j] = th_uniform(-1, 1);
  int ok = check_reference(op, in, r);
  ok &= check_gpu(ctx, op, in, r);
  for (int i = 0; i < op->nin; i++)
    free(in[i]);
  free(r);
  return ok;
}

// ---- attention ----

static void at_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct gc_attention *a = op->user;
  ref_attention_d(y, NULL, in[0], in[1], in[2], a->B, a->NH, a->Tq, a->Tk, a->D, a->Dv, a->scale, a->causal);
}
static void at_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct gc_attention *a = op->user;
  ref_attention_bwd(gin[0], gin[1], gin[2], in[0], in[1], in[2], gy, a->B, a->NH, a->Tq, a->Tk, a->D, a->Dv, a->scale,
                    a->causal);
}
static vkg_t at_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  const struct gc_attention *a = op->user;
  return vkg_attention(g, in[0], in[1], in[2], a->scale, a->causal);
}

int gc_check_attention(vkg_ctx *ctx, struct gc_attention a, unsigned frozen) {
  char name[160];
  snprintf(name, sizeof name, "attention B=%d NH=%d Tq=%d Tk=%d D=%d Dv=%d scale=%g causal=%d frozen=%u backward", a.B,
           a.NH, a.Tq, a.Tk, a.D, a.Dv, a.scale, a.causal, frozen);
  struct gc_op op = {.name = name,
                     .nin = 3,
                     .ndim = {4, 4, 4},
                     .shape = {{a.B, a.NH, a.Tq, a.D}, {a.B, a.NH, a.Tk, a.D}, {a.B, a.NH, a.Tk, a.Dv}},
                     .no_grad = {frozen & 1, (frozen >> 1) & 1, (frozen >> 2) & 1},
                     .lo = {-2, -2, -1},
                     .hi = {2, 2, 1},
                     .out_n = (size_t)a.B * a.NH * a.Tq * a.Dv,
                     .user = &a,
                     .fwd = at_fwd,
                     .bwd = at_bwd,
                     .build = at_build};
  return gc_check(ctx, &op);
}
