/* Building graphs: tensors, the sticky build error, op nodes and their dispatches, scalars, views. */
#include <stdarg.h>
#include <string.h>

#include "internal.h"

vkg_status vkg_graph_create(vkg_ctx *ctx, vkg_graph **out) {
  vkg_graph *g = calloc(1, sizeof *g);
  if (!g) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  g->ctx = ctx;
  g->scalars = VKG_NONE;
  g->cur_node = -1;
  *out = g;
  return VKG_OK;
}

void vkg__graph_release(vkg_graph *g); /* compile.c: Vulkan objects of a compiled graph */

void vkg_graph_destroy(vkg_graph *g) {
  if (!g) return;
  vkg__graph_release(g);
  for (int i = 0; i * VKG_TCHUNK < g->cap_t; i++)
    free(g->tchunks[i]);
  free(g->tchunks);
  free(g->d);
  free(g->nodes);
  free(g->grads);
  free(g->needed);
  free(g);
}

vkg_status vkg_graph_status(const vkg_graph *g) { return g->err; }

int vkg__bad(vkg_graph *g, vkg_status s, const char *fmt, ...) {
  if (g->err) return 1; /* keep the first error: later ones are usually its consequences */
  char msg[sizeof g->errmsg - 64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (g->cur_node >= 0)
    snprintf(g->errmsg, sizeof g->errmsg, "%s: %s", g->nodes[g->cur_node].op, msg);
  else
    snprintf(g->errmsg, sizeof g->errmsg, "%s", msg);
  g->err = s;
  vkg__fail(s, "%s", g->errmsg);
  return 1;
}

int vkg__check(vkg_graph *g, int n, const vkg_t *ids) {
  if (g->err) return 1;
  if (g->compiled) return vkg__bad(g, VKG_ERR_ARG, "the graph is already compiled; ops cannot be added");
  for (int i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= g->nt)
      return vkg__bad(g, VKG_ERR_ARG, "argument %d is not a tensor of this graph", i + 1);
  return 0;
}

vkg_t vkg__root(const vkg_graph *g, vkg_t t) {
  while (VKG_T(g, t)->kind == VKG_KIND_VIEW)
    t = VKG_T(g, t)->base;
  return t;
}

const struct vkg_gtensor *vkg__t(const vkg_graph *g, vkg_t t) {
  VKG_ASSERT(t >= 0 && t < g->nt);
  return VKG_T(g, t);
}

static vkg_t add_tensor(vkg_graph *g, enum vkg_tensor_kind kind, vkg_dtype dtype, int ndim, const int *shape,
                        const char *name) {
  if (ndim < 0 || ndim > VKG_MAX_DIMS) {
    vkg__bad(g, VKG_ERR_SHAPE, "a tensor of %d dims (at most %d)", ndim, VKG_MAX_DIMS);
    return VKG_NONE;
  }
  for (int i = 0; i < ndim; i++)
    if (shape[i] <= 0) {
      char sh[96];
      vkg__bad(g, VKG_ERR_SHAPE, "shape %s%s%s has a dim <= 0", vkg__shape_str(shape, ndim, sh, sizeof sh),
               name ? " of " : "", name ? name : "");
      return VKG_NONE;
    }
  if (vkg__numel(shape, ndim) * vkg_dtype_size(dtype) > ((size_t)1 << 32) - 4) {
    vkg__bad(g, VKG_ERR_SHAPE, "a tensor of %zu elements is over the 4 GiB a shader can index",
             vkg__numel(shape, ndim));
    return VKG_NONE;
  }
  if (dtype == VKG_F16 && !g->ctx->fp16_enabled) {
    vkg__bad(g, VKG_ERR_UNSUPPORTED, "device '%s' has no fp16 storage buffers", g->ctx->info.name);
    return VKG_NONE;
  }
  if (g->nt == g->cap_t) { /* a new chunk; existing tensors never move */
    int nchunks = g->cap_t / VKG_TCHUNK;
    g->tchunks = realloc(g->tchunks, sizeof *g->tchunks * (size_t)(nchunks + 1));
    g->tchunks[nchunks] = malloc(sizeof **g->tchunks * VKG_TCHUNK);
    g->cap_t += VKG_TCHUNK;
  }
  struct vkg_gtensor *t = VKG_T(g, g->nt);
  memset(t, 0, sizeof *t);
  t->dtype = dtype;
  t->ndim = ndim;
  memcpy(t->shape, shape, sizeof(int) * (size_t)ndim);
  t->kind = kind;
  t->base = VKG_NONE;
  t->first = t->last = -1;
  snprintf(t->name, sizeof t->name, "%s", name ? name : "");
  return g->nt++;
}

vkg_t vkg__new(vkg_graph *g, vkg_dtype dtype, int ndim, const int *shape) {
  if (g->err) return VKG_NONE;
  return add_tensor(g, VKG_KIND_INTERMEDIATE, dtype, ndim, shape, NULL);
}

vkg_t vkg_input(vkg_graph *g, const char *name, vkg_dtype dtype, int ndim, const int *shape) {
  if (vkg__check(g, 0, NULL)) return VKG_NONE;
  return add_tensor(g, VKG_KIND_INPUT, dtype, ndim, shape, name);
}

vkg_t vkg_input_streamed(vkg_graph *g, const char *name, vkg_dtype dtype, int ndim, const int *shape) {
  if (vkg__check(g, 0, NULL)) return VKG_NONE;
  return add_tensor(g, VKG_KIND_STREAMED, dtype, ndim, shape, name);
}

vkg_t vkg_bind(vkg_graph *g, vkg_tensor *bt) {
  if (vkg__check(g, 0, NULL)) return VKG_NONE;
  if (!bt || bt->ctx != g->ctx) {
    vkg__bad(g, VKG_ERR_ARG, "vkg_bind: the tensor belongs to another context");
    return VKG_NONE;
  }
  vkg_t t = add_tensor(g, VKG_KIND_BOUND, bt->dtype, bt->ndim, bt->shape, NULL);
  if (t >= 0) VKG_T(g, t)->bound = bt;
  return t;
}

void vkg_output(vkg_graph *g, vkg_t t) {
  if (vkg__check(g, 1, &t)) return;
  t = vkg__root(g, t);
  if (VKG_T(g, t)->kind == VKG_KIND_INTERMEDIATE) VKG_T(g, t)->kind = VKG_KIND_OUTPUT;
}

int vkg_ndim(const vkg_graph *g, vkg_t t) { return t >= 0 && t < g->nt ? VKG_T(g, t)->ndim : 0; }
int vkg_dim(const vkg_graph *g, vkg_t t, int axis) {
  if (t < 0 || t >= g->nt) return 0;
  axis = vkg__axis(axis, VKG_T(g, t)->ndim);
  return axis < 0 ? 0 : VKG_T(g, t)->shape[axis];
}
vkg_dtype vkg_type(const vkg_graph *g, vkg_t t) { return t >= 0 && t < g->nt ? VKG_T(g, t)->dtype : VKG_F32; }
size_t vkg_numel(const vkg_graph *g, vkg_t t) {
  return t >= 0 && t < g->nt ? vkg__numel(VKG_T(g, t)->shape, VKG_T(g, t)->ndim) : 0;
}

// ---- op nodes and dispatches ----

void vkg__begin(vkg_graph *g, const char *op) {
  if (g->nnodes == g->cap_nodes) {
    g->cap_nodes = g->cap_nodes ? 2 * g->cap_nodes : 64;
    g->nodes = realloc(g->nodes, sizeof *g->nodes * (size_t)g->cap_nodes);
  }
  struct vkg_node *n = &g->nodes[g->nnodes];
  memset(n, 0, sizeof *n);
  snprintf(n->op, sizeof n->op, "%s", op);
  n->first_dispatch = g->nd;
  g->cur_node = g->nnodes++;
}

int vkg__dispatch(vkg_graph *g, const char *shader, const uint32_t *spec, int nspec, int nbind, const vkg_t *bind,
                  unsigned writes_mask, const void *pc, uint32_t pc_size, uint32_t gx, uint32_t gy, uint32_t gz) {
  if (g->err) return 1;
  VKG_ASSERT(pc_size <= VKG_PC_MAX && pc_size % 4 == 0 && nbind <= VKG_MAX_BINDINGS && g->cur_node >= 0);
  const VkPhysicalDeviceLimits *lim = &g->ctx->props.limits;
  if (gx == 0 || gy == 0 || gz == 0) return 0; /* nothing to do */
  if (gx > lim->maxComputeWorkGroupCount[0] || gy > lim->maxComputeWorkGroupCount[1] ||
      gz > lim->maxComputeWorkGroupCount[2])
    return vkg__bad(g, VKG_ERR_SHAPE, "shader %s needs %u x %u x %u workgroups, over the device's limit", shader, gx,
                    gy, gz);
  struct vkg_pipeline *p;
  vkg_status s = vkg__pipeline(g->ctx, shader, spec, nspec, nbind, &p);
  if (s) return vkg__bad(g, s, "%s", vkg_last_error());
  if (g->nd == g->cap_d) {
    g->cap_d = g->cap_d ? 2 * g->cap_d : 64;
    g->d = realloc(g->d, sizeof *g->d * (size_t)g->cap_d);
  }
  struct vkg_dispatch *d = &g->d[g->nd++];
  memset(d, 0, sizeof *d);
  d->pipe = p;
  d->nbind = nbind;
  for (int i = 0; i < nbind; i++) {
    VKG_ASSERT(bind[i] >= 0 && bind[i] < g->nt);
    d->bind[i] = bind[i];
    d->writes[i] = (writes_mask >> i) & 1u;
  }
  if (pc_size) memcpy(d->pc, pc, pc_size);
  d->pc_size = pc_size;
  d->groups[0] = gx;
  d->groups[1] = gy;
  d->groups[2] = gz;
  d->node = g->cur_node;
  g->nodes[g->cur_node].ndispatch++;
  return 0;
}

void vkg__grid1d(uint64_t n, uint32_t wg, uint32_t *gx, uint32_t *gy) {
  uint64_t groups = (n + wg - 1) / wg;
  if (groups <= 65535) {
    *gx = (uint32_t)groups;
    *gy = 1;
  } else {
    *gx = 65535;
    *gy = (uint32_t)((groups + 65534) / 65535);
  }
}

// ---- per-run scalars ----

vkg_t vkg__scalars(vkg_graph *g) {
  if (g->scalars == VKG_NONE && !g->err) {
    int shape[1] = {VKG_MAX_SCALARS};
    g->scalars = add_tensor(g, VKG_KIND_SCALARS, VKG_F32, 1, shape, "scalars");
  }
  return g->scalars;
}

int vkg_scalar(vkg_graph *g, const char *name) {
  for (int i = 0; i < g->nscalars; i++)
    if (strcmp(g->scalar_names[i], name) == 0) return i;
  if (g->nscalars == VKG_MAX_SCALARS) {
    vkg__bad(g, VKG_ERR_ARG, "more than %d scalar slots", VKG_MAX_SCALARS);
    return -1;
  }
  if (g->compiled) {
    vkg__bad(g, VKG_ERR_ARG, "scalar '%s' made after compile: no shader reads it", name);
    return -1;
  }
  vkg__scalars(g);
  snprintf(g->scalar_names[g->nscalars], sizeof g->scalar_names[0], "%s", name);
  return g->nscalars++;
}

vkg_status vkg_graph_set_f32(vkg_graph *g, int slot, float v) {
  if (slot < 0 || slot >= g->nscalars) return vkg__fail(VKG_ERR_ARG, "scalar slot %d does not exist", slot);
  memcpy(&g->scalar_vals[slot], &v, 4);
  return VKG_OK;
}

vkg_status vkg_graph_set_u32(vkg_graph *g, int slot, uint32_t v) {
  if (slot < 0 || slot >= g->nscalars) return vkg__fail(VKG_ERR_ARG, "scalar slot %d does not exist", slot);
  g->scalar_vals[slot] = v;
  return VKG_OK;
}

// ---- views ----

/* The gradient of a reshape is the output gradient viewed in the input's shape. */
static void reshape_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  const struct vkg_gtensor *tx = vkg__t(g, n->in[0]);
  int shape[VKG_MAX_DIMS], nd = tx->ndim;
  memcpy(shape, tx->shape, sizeof shape);
  gin[0] = vkg_reshape(g, gout[0], nd, shape);
}

vkg_t vkg_reshape(vkg_graph *g, vkg_t x, int ndim, const int *shape) {
  if (vkg__check(g, 1, &x)) return VKG_NONE;
  vkg__begin(g, "reshape");
  const struct vkg_gtensor *src = VKG_T(g, x);
  char a[96], b[96];
  if (ndim < 1 || ndim > VKG_MAX_DIMS) {
    vkg__bad(g, VKG_ERR_SHAPE, "reshape to %d dims (1 to %d allowed)", ndim, VKG_MAX_DIMS);
    return VKG_NONE;
  }
  int s[VKG_MAX_DIMS], infer = -1;
  size_t known = 1, n = vkg__numel(src->shape, src->ndim);
  for (int i = 0; i < ndim; i++) {
    s[i] = shape[i];
    if (shape[i] == -1 && infer < 0)
      infer = i;
    else if (shape[i] <= 0) {
      vkg__bad(g, VKG_ERR_SHAPE, "reshape %s to %s: bad dim %d", vkg__shape_str(src->shape, src->ndim, a, sizeof a),
               vkg__shape_str(shape, ndim, b, sizeof b), shape[i]);
      return VKG_NONE;
    } else
      known *= (size_t)shape[i];
  }
  if (infer >= 0 && known && n % known == 0) s[infer] = (int)(n / known);
  if (vkg__numel(s, ndim) != n || (infer >= 0 && (known == 0 || n % known))) {
    vkg__bad(g, VKG_ERR_SHAPE, "reshape %s (%zu elements) to %s", vkg__shape_str(src->shape, src->ndim, a, sizeof a), n,
             vkg__shape_str(shape, ndim, b, sizeof b));
    return VKG_NONE;
  }
  vkg_t base = vkg__root(g, x);
  vkg_dtype dt = src->dtype;
  vkg_t t = add_tensor(g, VKG_KIND_VIEW, dt, ndim, s, NULL);
  if (t < 0) return VKG_NONE;
  VKG_T(g, t)->base = base;
  vkg__node_io(g, 1, &x, 1, &t, NULL, 0, reshape_backward);
  return t;
}
