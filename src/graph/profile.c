/* Profiling: per-dispatch GPU times of every run of every graph of a context, collected as the runs
 * complete (see vkg_profile_start in vkgen.h). The recording side (a timestamp pair around each
 * dispatch) is in compile.c; here are turning it on and off, reading the timestamps back, and what
 * each dispatch costs in FLOPs and bytes. */
#include <string.h>

#include "internal.h"

static size_t numel_of(const vkg_graph *g, vkg_t t) {
  const struct vkg_gtensor *x = vkg__t(g, t);
  return vkg__numel(x->shape, x->ndim);
}

double vkg__node_flops(const vkg_graph *g, const struct vkg_node *n) {
  if (n->nout < 1 || n->out[0] == VKG_NONE || n->nin < 2) return 0;
  const struct vkg_gtensor *a = vkg__t(g, n->in[0]), *w = vkg__t(g, n->in[1]);
  double out = (double)numel_of(g, n->out[0]);
  if (!strcmp(n->op, "matmul")) { /* (.., M, K) x (.., K, N): 2 K per output */
    unsigned flags;
    memcpy(&flags, n->attrs, sizeof flags);
    return 2.0 * out * a->shape[a->ndim - 1 - ((flags & VKG_TRANS_A) != 0)];
  }
  if (!strcmp(n->op, "matmul_rows") || !strcmp(n->op, "layernorm_matmul_rows")) return 2.0 * out * a->shape[1];
  if (!strcmp(n->op, "qkv_cached")) return 2.0 * 3 * out * a->shape[1]; /* out is q, a third of the columns */
  if (!strcmp(n->op, "conv2d") || !strcmp(n->op, "conv1d"))             /* w (O, C/groups, kernel...) */
    return 2.0 * out * ((double)numel_of(g, n->in[1]) / w->shape[0]);
  if (!strcmp(n->op, "conv_transpose2d")) /* w (C, O/groups, KH, KW): every input pixel meets O/groups*KH*KW */
    return 2.0 * (double)numel_of(g, n->in[0]) * ((double)numel_of(g, n->in[1]) / w->shape[0]);
  if (!strcmp(n->op, "attention") && n->nin >= 3 && a->ndim == 4) { /* q (B, NH, Tq, D), k (B, NH, Tk, D): dense */
    const struct vkg_gtensor *v = vkg__t(g, n->in[2]);
    return 2.0 * (double)numel_of(g, n->in[0]) / a->shape[3] * w->shape[2] * (a->shape[3] + v->shape[3]);
  }
  if ((!strcmp(n->op, "lstm") || !strcmp(n->op, "gru")) && a->ndim == 3) /* gates_x (T, B, G), w_hh (G, H) */
    return 2.0 * (double)numel_of(g, n->in[0]) / a->shape[2] * (double)numel_of(g, n->in[1]);
  return 0;
}

/* Bytes of every binding of d (a kernel that reads only part of one is counted for all of it). */
static double dispatch_bytes(const vkg_graph *g, const struct vkg_dispatch *d) {
  double b = 0;
  for (int j = 0; j < d->nbind; j++) {
    const struct vkg_gtensor *t = vkg__t(g, d->bind[j]);
    b += (double)vkg__numel(t->shape, t->ndim) * vkg_dtype_size(t->dtype);
  }
  return b;
}

static int grow(void **p, int *cap, int need, size_t size) {
  if (need <= *cap) return 0;
  int c = *cap ? *cap : 64;
  while (c < need)
    c *= 2;
  void *q = realloc(*p, (size_t)c * size);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

void vkg__profile_collect(vkg_graph *g, int slot) {
  vkg_ctx *ctx = g->ctx;
  struct vkg_profile *p = &ctx->prof;
  if (!ctx->profiling) return;
  if (grow((void **)&p->runs, &ctx->cap_prof_runs, p->nruns + 1, sizeof *p->runs) ||
      grow((void **)&p->d, &ctx->cap_prof_d, p->ndispatches + g->nd, sizeof *p->d))
    return; /* out of host memory: this run is left out */
  if (!g->prof_id) g->prof_id = ++ctx->prof_graphs;
  uint64_t *ts = NULL;
  if (g->qpool) {
    ts = malloc(sizeof *ts * g->qper);
    if (!ts || vkGetQueryPoolResults(ctx->device, g->qpool, g->qper * (uint32_t)slot, g->qper, sizeof *ts * g->qper, ts,
                                     sizeof *ts, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) != VK_SUCCESS) {
      free(ts);
      ts = NULL;
    }
  }
  double period = ctx->timestamp_period / 1e6; /* ms per tick */
  if (ts && !ctx->prof_t0) ctx->prof_t0 = ts[0];
    /* Ticks since the first profiled run as ms (a timestamp before it, e.g. of a slower queue, is 0). */
#define MS(t) ((t) > ctx->prof_t0 ? (double)((t)-ctx->prof_t0) * period : 0.0)
  struct vkg_profile_run *r = &p->runs[p->nruns];
  r->graph = g->prof_id - 1;
  r->dispatches = g->nd;
  r->barriers = g->barriers;
  r->start_ms = ts ? MS(ts[0]) : -1;
  r->ms = ts && ts[g->qper - 1] >= ts[0] ? (double)(ts[g->qper - 1] - ts[0]) * period : -1;
  for (int i = 0; i < g->nd; i++) {
    const struct vkg_dispatch *d = &g->d[i];
    struct vkg_profile_dispatch *o = &p->d[p->ndispatches + i];
    memset(o, 0, sizeof *o);
    o->run = p->nruns;
    o->index = i;
    const struct vkg_node *n = d->node >= 0 ? &g->nodes[d->node] : NULL;
    snprintf(o->op, sizeof o->op, "%s", n ? n->op : "?");
    snprintf(o->shader, sizeof o->shader, "%s", d->pipe->shader);
    memcpy(o->groups, d->groups, sizeof o->groups);
    o->bytes = dispatch_bytes(g, d);
    /* A node's FLOPs go to its dispatch with the most workgroups (its main pass; the first if tied). */
    if (n) {
      int best = n->first_dispatch;
      for (int k = n->first_dispatch; k < n->first_dispatch + n->ndispatch; k++)
        if ((uint64_t)g->d[k].groups[0] * g->d[k].groups[1] * g->d[k].groups[2] >
            (uint64_t)g->d[best].groups[0] * g->d[best].groups[1] * g->d[best].groups[2])
          best = k;
      if (best == i) o->flops = vkg__node_flops(g, n);
    }
    uint64_t t0 = ts ? ts[1 + 2 * i] : 0, t1 = ts ? ts[2 + 2 * i] : 0;
    o->start_ms = ts ? MS(t0) : -1;
    o->ms = ts ? (t1 > t0 ? (double)(t1 - t0) * period : 0) : -1;
  }
#undef MS
  free(ts);
  p->timestamps = ctx->info.timestamps;
  p->ndispatches += g->nd;
  p->nruns++;
}

static vkg_status set_all(vkg_ctx *ctx, int on) {
  vkg_status first = VKG_OK;
  for (int i = 0; i < ctx->ngraphs; i++) {
    vkg_status s = vkg__graph_set_profiled(ctx->graphs[i], on);
    if (s && !first) first = s;
  }
  return first;
}

vkg_status vkg_profile_start(vkg_ctx *ctx) {
  vkg__clear_error();
  if (ctx->profiling) return vkg__fail(VKG_ERR_ARG, "profiling is already on");
  for (int i = 0; i < ctx->ngraphs; i++) { /* runs already in flight are not part of the profile */
    vkg_status s = vkg_graph_wait(ctx->graphs[i]);
    if (s) return s;
  }
  vkg_profile_free(&ctx->prof);
  ctx->cap_prof_runs = ctx->cap_prof_d = ctx->prof_graphs = 0;
  ctx->prof_t0 = 0;
  ctx->prof.timestamps = ctx->info.timestamps;
  for (int i = 0; i < ctx->ngraphs; i++)
    ctx->graphs[i]->prof_id = 0;
  ctx->profiling = 1;
  vkg_status s = set_all(ctx, 1);
  if (s) {
    ctx->profiling = 0;
    set_all(ctx, 0);
  }
  return s;
}

vkg_status vkg_profile_stop(vkg_ctx *ctx, struct vkg_profile *out) {
  vkg__clear_error();
  memset(out, 0, sizeof *out);
  if (!ctx->profiling) return vkg__fail(VKG_ERR_ARG, "profiling is not on");
  vkg_status s = set_all(ctx, 0); /* waits for (and so collects) every run in flight first */
  ctx->profiling = 0;
  *out = ctx->prof;
  memset(&ctx->prof, 0, sizeof ctx->prof);
  ctx->cap_prof_runs = ctx->cap_prof_d = 0;
  return s;
}

void vkg_profile_free(struct vkg_profile *p) {
  free(p->runs);
  free(p->d);
  memset(p, 0, sizeof *p);
}
