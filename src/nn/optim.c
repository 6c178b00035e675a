/* Optimizers (SGD with momentum, Adam, AdamW), global gradient-norm clipping, and learning-rate
 * schedules.
 *
 * The optimizer owns its state tensors (zeroed at creation) so that state persists across runs and
 * graphs. vkg_optim_apply appends to a graph, after vkg_backward:
 *   1. the global gradient norm: partial sums of squares of every gradient (optim_sumsq.comp, up to
 *      7 gradients per dispatch), summed by vkg_reduce and square-rooted by vkg_unary;
 *   2. one in-place update dispatch per parameter (sgd_step.comp, sgd_plain_step.comp without
 *      momentum, or adam_step.comp), which reads the norm for clipping and the learning rate and
 *      step from the graph's scalars "lr" and "step", so a schedule only sets scalars between runs.
 *      The updates touch disjoint memory, so they run with no barrier between them. */
#include <math.h>
#include <string.h>

#include "internal.h"

struct vkg_optim {
  vkg_ctx *ctx;
  struct vkg_optim_desc d;
  int n;
  vkg_tensor **params;
  int nstate, per_param; /* state tensors: per_param for each parameter, parameter-major */
  vkg_tensor **state;
  char (*names)[48];
};

struct vkg_optim_desc vkg_optim_desc_default(vkg_optim_kind kind) {
  /* torch.optim defaults; lr has no default there either and comes from the "lr" scalar here. */
  struct vkg_optim_desc d = {.kind = kind, .momentum = 0, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
  d.weight_decay = kind == VKG_ADAMW ? 0.01f : 0.0f;
  return d;
}

static const char *kind_name(vkg_optim_kind k) {
  return k == VKG_SGD ? "SGD" : k == VKG_ADAM ? "Adam" : k == VKG_ADAMW ? "AdamW" : "?";
}

/* Checks the description; VKG_OK or VKG_ERR_ARG with a message naming the field. */
static vkg_status check_desc(const struct vkg_optim_desc *d) {
  if ((unsigned)d->kind > VKG_ADAMW) return vkg__fail(VKG_ERR_ARG, "optimizer: unknown kind %d", (int)d->kind);
  const char *k = kind_name(d->kind);
  if (!(d->weight_decay >= 0) || isinf(d->weight_decay))
    return vkg__fail(VKG_ERR_ARG, "%s: weight_decay %g must be finite and >= 0", k, (double)d->weight_decay);
  if (!(d->clip_norm >= 0) || isinf(d->clip_norm))
    return vkg__fail(VKG_ERR_ARG, "%s: clip_norm %g must be finite and >= 0 (0: no clipping)", k, (double)d->clip_norm);
  if (d->kind == VKG_SGD) {
    if (!(d->momentum >= 0) || isinf(d->momentum))
      return vkg__fail(VKG_ERR_ARG, "SGD: momentum %g must be finite and >= 0", (double)d->momentum);
    return VKG_OK;
  }
  if (!(d->beta1 >= 0 && d->beta1 < 1) || !(d->beta2 >= 0 && d->beta2 < 1))
    return vkg__fail(VKG_ERR_ARG, "%s: betas (%g, %g) must be in [0, 1)", k, (double)d->beta1, (double)d->beta2);
  if (!(d->eps >= 0) || isinf(d->eps))
    return vkg__fail(VKG_ERR_ARG, "%s: eps %g must be finite and >= 0", k, (double)d->eps);
  return VKG_OK;
}

vkg_status vkg_optim_create(vkg_ctx *ctx, const struct vkg_optim_desc *d, int n, vkg_tensor *const *params,
                            vkg_optim **out) {
  if (!out) return vkg__fail(VKG_ERR_ARG, "vkg_optim_create: out is NULL");
  *out = NULL;
  if (!ctx || !d || !params || n < 1)
    return vkg__fail(VKG_ERR_ARG,
                     "vkg_optim_create: needs a context, a description and at least one parameter "
                     "(got n = %d)",
                     n);
  vkg_status s = check_desc(d);
  if (s) return s;
  for (int i = 0; i < n; i++) {
    if (!params[i] || params[i]->ctx != ctx)
      return vkg__fail(VKG_ERR_ARG, "%s: parameter %d is %s", kind_name(d->kind), i,
                       params[i] ? "from another context" : "NULL");
    if (params[i]->dtype != VKG_F32) {
      vkg__fail(VKG_ERR_ARG, "%s: parameter %d is %s; optimizers update f32 parameters", kind_name(d->kind), i,
                vkg_dtype_str(params[i]->dtype));
      vkg__hint("keep an f32 master copy of the weights and vkg_cast it to f16 for the forward pass");
      return VKG_ERR_ARG;
    }
    for (int j = 0; j < i; j++)
      if (params[j] == params[i])
        return vkg__fail(VKG_ERR_ARG, "%s: parameters %d and %d are the same tensor; list each once",
                         kind_name(d->kind), j, i);
  }

  vkg_optim *o = calloc(1, sizeof *o);
  if (!o) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  o->ctx = ctx;
  o->d = *d;
  o->n = n;
  o->per_param = d->kind == VKG_SGD ? (d->momentum > 0 ? 1 : 0) : 2;
  o->nstate = n * o->per_param;
  o->params = malloc(sizeof *o->params * (size_t)n);
  o->state = calloc((size_t)(o->nstate ? o->nstate : 1), sizeof *o->state);
  o->names = calloc((size_t)(o->nstate ? o->nstate : 1), sizeof *o->names);
  if (!o->params || !o->state || !o->names) {
    vkg_optim_destroy(o);
    return vkg__fail(VKG_ERR_OOM, "out of host memory");
  }
  memcpy(o->params, params, sizeof *o->params * (size_t)n);

  /* Zeroed state: one buffer of zeros as large as the largest parameter serves every upload. */
  size_t maxn = 0;
  for (int i = 0; i < n; i++)
    if (vkg_tensor_numel(params[i]) > maxn) maxn = vkg_tensor_numel(params[i]);
  float *zeros = o->nstate ? calloc(maxn, sizeof *zeros) : NULL;
  if (o->nstate && !zeros) {
    vkg_optim_destroy(o);
    return vkg__fail(VKG_ERR_OOM, "out of host memory for %zu zeros", maxn);
  }
  static const char *sgd_names[] = {"momentum_buffer"}, *adam_names[] = {"exp_avg", "exp_avg_sq"};
  for (int i = 0; i < n && !s; i++)
    for (int j = 0; j < o->per_param && !s; j++) {
      int k = i * o->per_param + j;
      snprintf(o->names[k], sizeof o->names[k], "%d.%s", i, d->kind == VKG_SGD ? sgd_names[j] : adam_names[j]);
      s = vkg_tensor_create(ctx, VKG_F32, params[i]->ndim, params[i]->shape, &o->state[k]);
      if (!s) s = vkg_tensor_upload_f32(o->state[k], zeros, vkg_tensor_numel(params[i]));
    }
  free(zeros);
  if (s) {
    vkg_optim_destroy(o);
    return s;
  }
  *out = o;
  return VKG_OK;
}

void vkg_optim_destroy(vkg_optim *o) {
  if (!o) return;
  for (int k = 0; o->state && k < o->nstate; k++)
    vkg_tensor_destroy(o->state[k]);
  free(o->state);
  free(o->names);
  free(o->params);
  free(o);
}

int vkg_optim_state_count(const vkg_optim *o) { return o ? o->nstate : 0; }

vkg_tensor *vkg_optim_state(const vkg_optim *o, int i, const char **name) {
  if (!o || i < 0 || i >= o->nstate) {
    if (name) *name = NULL;
    return NULL;
  }
  if (name) *name = o->names[i];
  return o->state[i];
}

// ---- the global gradient norm ----

struct sumsq_pc {
  uint32_t ngrad, seg, out_off, pad;
  uint32_t n[7];
  uint32_t start[8];
};
_Static_assert(sizeof(struct sumsq_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Elements per workgroup of optim_sumsq, as a multiple of its workgroup size: every invocation
 * folds at most this many values, far below lavapipe's 65535 loop iterations. */
#define SUMSQ_ITERS 32

/* The L2 norm over all n gradients as a (1,) tensor. */
static vkg_t global_norm(vkg_graph *g, int n, const vkg_t *grads) {
  uint32_t wg = vkg__wg1d(g->ctx), seg = wg * SUMSQ_ITERS;
  uint64_t total = 0;
  for (int i = 0; i < n; i++)
    total += vkg__ceil_div(vkg_numel(g, grads[i]), seg);
  if (total > INT32_MAX)
    return vkg__bad(g, VKG_ERR_SHAPE, "%llu gradient segments", (unsigned long long)total), VKG_NONE;
  int pshape[1] = {(int)total};
  vkg_t parts = vkg__new(g, VKG_F32, 1, pshape);
  if (parts < 0) return VKG_NONE;
  uint32_t off = 0;
  for (int i0 = 0; i0 < n; i0 += 7) {
    struct sumsq_pc pc = {.seg = seg, .out_off = off};
    vkg_t bind[8];
    int k = 0;
    for (; k < 7 && i0 + k < n; k++) {
      bind[k] = grads[i0 + k];
      pc.n[k] = (uint32_t)vkg_numel(g, grads[i0 + k]);
      pc.start[k + 1] = pc.start[k] + vkg__ceil_div(pc.n[k], seg);
    }
    pc.ngrad = (uint32_t)k;
    for (int j = k; j < 7; j++)
      bind[j] = bind[0]; /* unused bindings: read-only repeats, never read */
    bind[7] = parts;
    uint32_t gx, gy, spec[3] = {wg, 1, 1};
    vkg__grid1d(pc.start[k], 1, &gx, &gy); /* one workgroup per segment */
    if (vkg__dispatch(g, "optim_sumsq", spec, 3, 8, bind, 1u << 7, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
    off += pc.start[k];
  }
  vkg__node_io(g, 0, NULL, 1, &parts, NULL, 0, NULL);
  return vkg_unary(g, VKG_SQRT, vkg_reduce(g, VKG_REDUCE_SUM, parts, 0, 0), 0, 0);
}

// ---- updates ----

struct sgd_pc {
  uint32_t n, lr_slot;
  float momentum, wd, clip;
};
_Static_assert(sizeof(struct sgd_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct adam_pc {
  uint32_t n, lr_slot, step_slot, pad;
  float one_minus_beta1, beta2, one_minus_beta2, eps, wd, clip;
  float log_beta1, log_beta2;
};
_Static_assert(sizeof(struct adam_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* Checks param_ids[i] (bound as the optimizer's parameter i) and, when grads is given, its gradient. */
static int check_param(vkg_graph *g, const vkg_optim *o, const vkg_t *param_ids, int i, const vkg_t *grads) {
  vkg_t p = param_ids[i];
  if (p < 0 || p >= g->nt)
    return vkg__bad(g, VKG_ERR_ARG, "param_ids[%d] = %d is not a tensor of this graph", i, (int)p);
  const struct vkg_gtensor *tp = vkg__t(g, p);
  if (tp->kind != VKG_KIND_BOUND || tp->bound != o->params[i])
    return vkg__bad(g, VKG_ERR_ARG, "param_ids[%d] must be the optimizer's parameter %d bound with vkg_bind", i, i);
  if (!grads) return 0;
  if (grads[i] == VKG_NONE) {
    char s[96];
    return vkg__bad(g, VKG_ERR_ARG,
                    "parameter %d %s has no gradient: mark it with vkg_requires_grad before vkg_backward, "
                    "and make the loss depend on it",
                    i, vkg__shape_str(tp->shape, tp->ndim, s, sizeof s));
  }
  if (grads[i] < 0 || grads[i] >= g->nt)
    return vkg__bad(g, VKG_ERR_ARG, "the gradient %d of parameter %d is not a tensor of this graph", (int)grads[i], i);
  const struct vkg_gtensor *tg = vkg__t(g, grads[i]);
  if (tg->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "the gradient of parameter %d is %s, not f32", i, vkg_dtype_str(tg->dtype));
  if (vkg__numel(tg->shape, tg->ndim) != vkg__numel(tp->shape, tp->ndim))
    return vkg__bad(g, VKG_ERR_SHAPE, "the gradient of parameter %d has %zu values, the parameter %zu", i,
                    vkg__numel(tg->shape, tg->ndim), vkg__numel(tp->shape, tp->ndim));
  return 0;
}

static vkg_t apply_updates(vkg_graph *g, vkg_optim *o, const vkg_t *param_ids, const vkg_t *grads);

vkg_t vkg_optim_apply(vkg_graph *g, vkg_optim *o, const vkg_t *param_ids) {
  if (vkg__check(g, 0, NULL)) return VKG_NONE;
  vkg__begin(g, "optim_apply");
  if (!o || !param_ids) return vkg__bad(g, VKG_ERR_ARG, "needs an optimizer and its parameters' ids"), VKG_NONE;
  if (o->ctx != g->ctx) return vkg__bad(g, VKG_ERR_ARG, "the optimizer belongs to another context"), VKG_NONE;
  if (!g->grads) {
    vkg__bad(g, VKG_ERR_ARG, "no gradients: call vkg_backward(loss) before vkg_optim_apply");
    return VKG_NONE;
  }
  vkg_t *grads = malloc(sizeof *grads * (size_t)o->n);
  if (!grads) return vkg__bad(g, VKG_ERR_OOM, "out of host memory"), VKG_NONE;
  for (int i = 0; i < o->n; i++) {
    if (check_param(g, o, param_ids, i, NULL)) break;
    grads[i] = vkg_grad(g, param_ids[i]);
    if (check_param(g, o, param_ids, i, grads)) break;
  }
  vkg_t norm = g->err ? VKG_NONE : apply_updates(g, o, param_ids, grads);
  free(grads);
  return norm;
}

vkg_t vkg__optim_apply_grads(vkg_graph *g, vkg_optim *o, const vkg_t *param_ids, const vkg_t *grads) {
  if (vkg__check(g, 0, NULL)) return VKG_NONE;
  vkg__begin(g, "optim_apply");
  if (!o || !param_ids || !grads)
    return vkg__bad(g, VKG_ERR_ARG, "needs an optimizer, its parameters' ids and their gradients"), VKG_NONE;
  if (o->ctx != g->ctx) return vkg__bad(g, VKG_ERR_ARG, "the optimizer belongs to another context"), VKG_NONE;
  for (int i = 0; i < o->n; i++)
    if (check_param(g, o, param_ids, i, grads)) return VKG_NONE;
  return apply_updates(g, o, param_ids, grads);
}

/* The global norm and one update dispatch per parameter, from the checked gradients grads[i]. */
static vkg_t apply_updates(vkg_graph *g, vkg_optim *o, const vkg_t *param_ids, const vkg_t *grads) {
  vkg_t norm = global_norm(g, o->n, grads);
  int lr_slot = vkg_scalar(g, "lr"), step_slot = vkg_scalar(g, "step");
  vkg_t sc = vkg__scalars(g);
  if (g->err) return VKG_NONE;

  const struct vkg_optim_desc *d = &o->d;
  vkg__begin(g, d->kind == VKG_SGD ? "sgd_step" : d->kind == VKG_ADAM ? "adam_step" : "adamw_step");
  uint32_t wg = vkg__wg1d(g->ctx), spec[3] = {wg, 1, 1};
  for (int i = 0; i < o->n && !g->err; i++) {
    uint32_t n = (uint32_t)vkg_numel(g, param_ids[i]), gx, gy;
    vkg__grid1d(n, wg, &gx, &gy);
    if (d->kind == VKG_SGD) {
      struct sgd_pc pc = {n, (uint32_t)lr_slot, d->momentum, d->weight_decay, d->clip_norm};
      if (o->per_param == 1) { /* with a momentum buffer */
        vkg_t buf = vkg_bind(g, o->state[i]);
        if (buf < 0) break;
        vkg_t bind[5] = {param_ids[i], grads[i], buf, sc, norm};
        vkg__dispatch(g, "sgd_step", spec, 3, 5, bind, 1u | (1u << 2), &pc, sizeof pc, gx, gy, 1);
      } else {
        vkg_t bind[4] = {param_ids[i], grads[i], sc, norm};
        vkg__dispatch(g, "sgd_plain_step", spec, 3, 4, bind, 1u, &pc, sizeof pc, gx, gy, 1);
      }
    } else {
      vkg_t m = vkg_bind(g, o->state[2 * i]), v = vkg_bind(g, o->state[2 * i + 1]);
      if (m < 0 || v < 0) break;
      /* The constants PyTorch derives in double precision are derived in double here too. */
      struct adam_pc pc = {n,
                           (uint32_t)lr_slot,
                           (uint32_t)step_slot,
                           0,
                           (float)(1.0 - (double)d->beta1),
                           d->beta2,
                           (float)(1.0 - (double)d->beta2),
                           d->eps,
                           d->weight_decay,
                           d->clip_norm,
                           (float)log((double)d->beta1),
                           (float)log((double)d->beta2)};
      uint32_t aspec[4] = {wg, 1, 1, d->kind == VKG_ADAMW};
      vkg_t bind[6] = {param_ids[i], grads[i], m, v, sc, norm};
      vkg__dispatch(g, "adam_step", aspec, 4, 6, bind, 1u | (1u << 2) | (1u << 3), &pc, sizeof pc, gx, gy, 1);
    }
  }
  if (g->err) return VKG_NONE;
  vkg__node_io(g, 0, NULL, 0, NULL, NULL, 0, NULL);
  return norm;
}

// ---- learning-rate schedules ----

float vkg_lr_at(const struct vkg_lr_schedule *s, long step) {
  if (!s) return 0.0f;
  if (step < 1) step = 1;
  double lr = s->lr, min_lr = s->min_lr;
  if (s->warmup > 0 && step <= s->warmup) return (float)(lr * (double)step / (double)s->warmup);
  if (s->total <= 0) return (float)lr;
  if (step >= s->total) return (float)min_lr;
  /* Cosine from lr just after warmup to min_lr at step `total`. */
  long w = s->warmup > 0 ? s->warmup : 0;
  if (s->total <= w) return (float)min_lr;
  double frac = (double)(step - w) / (double)(s->total - w);
  return (float)(min_lr + 0.5 * (lr - min_lr) * (1.0 + cos(M_PI * frac)));
}
