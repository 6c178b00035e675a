/* Running one op case (see op_cases.h): build and compile its graph, write random inputs, compute the
 * reference, compare, time. Shared by the tests, `vkgen selfcheck`, `vkgen dev` and `vkgen bench ops`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "op_cases.h"

struct opc_limits opc_limits_of(const vkg_ctx *ctx) {
  struct opc_limits l = {ctx->props.limits.maxStorageBufferRange, vkg_ctx_device(ctx)->device_memory};
  return l;
}

/* xorshift64*: the inputs of a case depend only on the seed. */
static float uniform(uint64_t *s, float lo, float hi) {
  *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
  return lo + (hi - lo) * (float)((*s * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;
}

void opc_run_release(struct opc_run *r) {
  vkg_graph_destroy(r->g);
  for (int i = 0; i < OPC_MAX_IN; i++)
    free(r->host[i]);
  free(r->ref);
  free(r->got);
  memset(r, 0, sizeof *r);
}

static vkg_status fail(struct opc_run *r, vkg_status s) {
  opc_run_release(r);
  return s;
}

vkg_status opc_run_init(struct opc_run *r, vkg_ctx *ctx, const struct opc *c, uint64_t seed, int with_ref) {
  memset(r, 0, sizeof *r);
  r->c = *c;
  vkg_status s = vkg_graph_create(ctx, &r->g);
  if (s) return s;
  uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < c->nin; i++) {
    const struct opc_input *in = &c->in[i];
    size_t n = opc_numel(in);
    r->in[i] = vkg_input(r->g, "x", in->dtype, in->ndim, in->shape);
    if (!(r->host[i] = malloc((n ? n : 1) * sizeof(float)))) return fail(r, vkg__fail(VKG_ERR_OOM, "op case inputs"));
    for (size_t k = 0; k < n; k++) {
      float v = uniform(&rng, in->lo, in->hi);
      r->host[i][k] = in->dtype == VKG_I32 ? floorf(v) : v;
    }
  }
  r->out = c->op->build(r->g, c, r->in);
  vkg_output(r->g, r->out);
  if ((s = vkg_graph_compile(r->g))) return fail(r, s);
  for (int i = 0; i < c->nin; i++) {
    size_t n = opc_numel(&c->in[i]);
    if (c->in[i].dtype == VKG_I32) {
      int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
      if (!ids) return fail(r, vkg__fail(VKG_ERR_OOM, "op case inputs"));
      for (size_t k = 0; k < n; k++)
        ids[k] = (int32_t)r->host[i][k];
      s = vkg_graph_write_i32(r->g, r->in[i], ids, n);
      free(ids);
    } else
      s = vkg_graph_write(r->g, r->in[i], r->host[i], n);
    if (s) return fail(r, s);
  }
  r->nout = vkg_numel(r->g, r->out);
  if (!(r->got = malloc((r->nout ? r->nout : 1) * sizeof(float))))
    return fail(r, vkg__fail(VKG_ERR_OOM, "op case output"));
  if (with_ref && c->op->fwd) {
    double *in[OPC_MAX_IN] = {0};
    int ok = (r->ref = calloc(r->nout ? r->nout : 1, sizeof(double))) != NULL;
    for (int i = 0; ok && i < c->nin; i++) {
      size_t n = opc_numel(&c->in[i]);
      ok = (in[i] = malloc((n ? n : 1) * sizeof(double))) != NULL;
      for (size_t k = 0; ok && k < n; k++)
        in[i][k] = r->host[i][k];
    }
    if (ok) c->op->fwd(c, in, r->ref, r->nout);
    for (int i = 0; i < c->nin; i++)
      free(in[i]);
    if (!ok) return fail(r, vkg__fail(VKG_ERR_OOM, "op case reference"));
  }
  return VKG_OK;
}

vkg_status opc_run_check(struct opc_run *r, double *max_err, int *pass) {
  *max_err = 0, *pass = 0;
  vkg_status s = vkg_graph_poison(r->g);
  if (!s) s = vkg_graph_run(r->g);
  if (!s && r->c.out_i32) {
    int32_t *ids = malloc((r->nout ? r->nout : 1) * sizeof *ids);
    if (!ids) return vkg__fail(VKG_ERR_OOM, "op case output");
    s = vkg_graph_read_i32(r->g, r->out, ids, r->nout);
    for (size_t k = 0; k < r->nout; k++)
      r->got[k] = (float)ids[k];
    free(ids);
  } else if (!s)
    s = vkg_graph_read(r->g, r->out, r->got, r->nout);
  if (s) return s;
  if (!r->ref) return vkg__fail(VKG_ERR_ARG, "op case %s %s has no reference", r->c.op->name, r->c.label);
  int ok = 1;
  for (size_t k = 0; k < r->nout; k++) {
    double e = fabs((double)r->got[k] - r->ref[k]);
    if (!(e <= r->c.atol + r->c.rtol * fabs(r->ref[k]))) ok = 0;
    if (!(e <= *max_err)) *max_err = isnan(e) ? INFINITY : e;
  }
  *pass = ok;
  return VKG_OK;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

vkg_status opc_run_time(struct opc_run *r, int reps, double *ms) {
  double t[16];
  if (reps < 1) reps = 1;
  if (reps > 16) reps = 16;
  vkg_status s = vkg_graph_run(r->g); /* warm-up */
  for (int i = 0; !s && i < reps; i++)
    s = vkg_graph_run_timed(r->g, &t[i]);
  if (s) return s;
  qsort(t, (size_t)reps, sizeof t[0], cmp_double);
  *ms = t[reps / 2];
  return VKG_OK;
}
