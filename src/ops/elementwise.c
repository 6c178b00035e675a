/* Elementwise ops: binary arithmetic with NumPy broadcasting, and unary activations. */
#include <string.h>

#include "internal.h"

struct binary_pc {
  uint32_t n, ndim, op, which; /* which: the operand a backward dispatch differentiates */
  uint32_t shape[6], sa[6], sb[6];
};
_Static_assert(sizeof(struct binary_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

static const char *binop_names[] = {"add", "sub", "mul", "div", "maximum", "minimum", "pow"};

/* Broadcast shapes a and b (aligned at the last dim) into out; 0 if they do not broadcast. */
static int broadcast(const struct vkg_gtensor *a, const struct vkg_gtensor *b, int *out, int *ndim) {
  int n = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int i = 0; i < n; i++) {
    int da = i < n - a->ndim ? 1 : a->shape[i - (n - a->ndim)];
    int db = i < n - b->ndim ? 1 : b->shape[i - (n - b->ndim)];
    if (da != db && da != 1 && db != 1) return 0;
    out[i] = da > db ? da : db;
  }
  *ndim = n;
  return 1;
}

/* Element strides of x as seen from an output of shape out (0 along broadcast dims). */
static void bstrides(const struct vkg_gtensor *x, const int *out, int n, uint32_t *s) {
  uint32_t st = 1;
  for (int i = n - 1; i >= 0; i--) {
    int xi = i - (n - x->ndim);
    int dim = xi < 0 ? 1 : x->shape[xi];
    s[i] = (dim == 1 && out[i] != 1) ? 0 : st;
    st *= (uint32_t)dim;
  }
}

/* ---- backward ----
 * Each operand's gradient is computed at the output's shape by binary_bwd.comp (which reuses the
 * forward's merged dims and strides, saved as the node's attributes) and summed back to the operand's
 * shape over the dims it was broadcast along. */
static void binary_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  struct binary_pc pc;
  memcpy(&pc, n->attrs, sizeof pc);
  const struct vkg_gtensor *to = vkg__t(g, n->out[0]);
  int oshape[VKG_MAX_DIMS], ond = to->ndim;
  memcpy(oshape, to->shape, sizeof oshape);
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gx, &gy);
  for (int w = 0; w < 2; w++) {
    if (!vkg__wants_grad(g, n->in[w])) continue;
    vkg_t full = vkg__new(g, VKG_F32, ond, oshape);
    if (full < 0) return;
    pc.which = (uint32_t)w;
    vkg_t bind[4] = {n->in[0], n->in[1], gout[0], full};
    if (vkg__dispatch(g, "binary_bwd", spec, 3, 4, bind, 1u << 3, &pc, sizeof pc, gx, gy, 1)) return;
    const struct vkg_gtensor *ti = vkg__t(g, n->in[w]);
    int ishape[VKG_MAX_DIMS], ind = ti->ndim;
    memcpy(ishape, ti->shape, sizeof ishape);
    gin[w] = vkg__sum_to(g, full, ind, ishape);
  }
}

vkg_t vkg_binary(vkg_graph *g, vkg_binop op, vkg_t a, vkg_t b) {
  vkg_t ids[2] = {a, b};
  if (vkg__check(g, 2, ids)) return VKG_NONE;
  vkg__begin(g, (unsigned)op < 7 ? binop_names[op] : "binary");
  if ((unsigned)op > VKG_POW) return vkg__bad(g, VKG_ERR_ARG, "unknown binary op %d", (int)op), VKG_NONE;
  const struct vkg_gtensor *ta = vkg__t(g, a), *tb = vkg__t(g, b);
  if (ta->dtype != VKG_F32 || tb->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "operands must be f32 (got %s and %s); use vkg_cast", vkg_dtype_str(ta->dtype),
                    vkg_dtype_str(tb->dtype)),
           VKG_NONE;
  int shape[VKG_MAX_DIMS], n;
  if (!broadcast(ta, tb, shape, &n)) {
    char s1[96], s2[96];
    vkg__bad(g, VKG_ERR_SHAPE, "shapes %s and %s do not broadcast", vkg__shape_str(ta->shape, ta->ndim, s1, sizeof s1),
             vkg__shape_str(tb->shape, tb->ndim, s2, sizeof s2));
    return VKG_NONE;
  }
  struct binary_pc pc = {.n = (uint32_t)vkg__numel(shape, n), .op = (uint32_t)op};
  uint32_t sa[6], sb[6];
  bstrides(ta, shape, n, sa);
  bstrides(tb, shape, n, sb);
  /* Merge neighbouring dims that both operands walk contiguously, so the shader loops less. */
  int m = 0;
  for (int i = 0; i < n; i++) {
    if (shape[i] == 1) continue;
    if (m > 0 && pc.sa[m - 1] == sa[i] * (uint32_t)shape[i] && pc.sb[m - 1] == sb[i] * (uint32_t)shape[i]) {
      pc.shape[m - 1] *= (uint32_t)shape[i];
      pc.sa[m - 1] = sa[i];
      pc.sb[m - 1] = sb[i];
      continue;
    }
    pc.shape[m] = (uint32_t)shape[i];
    pc.sa[m] = sa[i];
    pc.sb[m] = sb[i];
    m++;
  }
  pc.ndim = (uint32_t)m;
  vkg_t out = vkg__new(g, VKG_F32, n, shape);
  if (out < 0) return VKG_NONE;
  /* One vec4 per invocation when neither operand broadcasts (one merged dim walked by both). */
  uint32_t vec = pc.ndim == 1 && pc.sa[0] == 1 && pc.sb[0] == 1 && pc.n % 4 == 0;
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[5] = {wg, 1, 1, (uint32_t)op, vec};
  vkg__grid1d(vec ? pc.n / 4 : pc.n, wg, &gx, &gy);
  vkg_t bind[3] = {a, b, out};
  if (vkg__dispatch(g, "binary", spec, 5, 3, bind, 1u << 2, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg__node_io(g, 2, ids, 1, &out, &pc, sizeof pc, binary_backward);
  return out;
}

struct unary_pc {
  uint32_t n, op;
  float alpha, beta;
};

static const char *unop_names[VKG_UNOP_COUNT] = {"relu",    "leaky_relu", "gelu",     "gelu_tanh", "tanh",
                                                 "sigmoid", "silu",       "softplus", "exp",       "log",
                                                 "neg",     "abs",        "sqrt",     "square",    "affine"};

/* gx = gy * f'(x), one dispatch of unary_bwd.comp with the forward's push constants. */
static void unary_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  struct unary_pc pc;
  memcpy(&pc, n->attrs, sizeof pc);
  const struct vkg_gtensor *tx = vkg__t(g, n->in[0]);
  int shape[VKG_MAX_DIMS];
  memcpy(shape, tx->shape, sizeof shape);
  vkg_t gx = vkg__new(g, VKG_F32, tx->ndim, shape);
  if (gx < 0) return;
  uint32_t wg = vkg__wg1d(g->ctx), gxs, gys, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gxs, &gys);
  vkg_t bind[3] = {n->in[0], gout[0], gx};
  if (vkg__dispatch(g, "unary_bwd", spec, 3, 3, bind, 1u << 2, &pc, sizeof pc, gxs, gys, 1)) return;
  gin[0] = gx;
}

vkg_t vkg_unary(vkg_graph *g, vkg_unop op, vkg_t x, float alpha, float beta) {
  if (vkg__check(g, 1, &x)) return VKG_NONE;
  vkg__begin(g, (unsigned)op < VKG_UNOP_COUNT ? unop_names[op] : "unary");
  if ((unsigned)op >= VKG_UNOP_COUNT) return vkg__bad(g, VKG_ERR_ARG, "unknown unary op %d", (int)op), VKG_NONE;
  const struct vkg_gtensor *tx = vkg__t(g, x);
  if (tx->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "input must be f32 (got %s); use vkg_cast", vkg_dtype_str(tx->dtype)), VKG_NONE;
  int shape[VKG_MAX_DIMS], ndim = tx->ndim;
  memcpy(shape, tx->shape, sizeof shape);
  vkg_t out = vkg__new(g, VKG_F32, ndim, shape);
  if (out < 0) return VKG_NONE;
  struct unary_pc pc = {(uint32_t)vkg__numel(shape, ndim), (uint32_t)op, alpha, beta};
  uint32_t vec = pc.n % 4 == 0; /* one vec4 per invocation */
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[5] = {wg, 1, 1, (uint32_t)op, vec};
  vkg__grid1d(vec ? pc.n / 4 : pc.n, wg, &gx, &gy);
  vkg_t bind[2] = {x, out};
  if (vkg__dispatch(g, "unary", spec, 5, 2, bind, 1u << 1, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg__node_io(g, 1, &x, 1, &out, &pc, sizeof pc, unary_backward);
  return out;
}

vkg_t vkg_full(vkg_graph *g, int ndim, const int *shape, float value) {
  if (vkg__check(g, 0, NULL)) return VKG_NONE;
  vkg__begin(g, "full");
  vkg_t out = vkg__new(g, VKG_F32, ndim, shape);
  if (out < 0) return VKG_NONE;
  struct {
    uint32_t n;
    float value;
  } pc = {(uint32_t)vkg__numel(shape, ndim), value};
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gx, &gy);
  if (vkg__dispatch(g, "fill", spec, 3, 1, &out, 1u, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg__node_io(g, 0, NULL, 1, &out, NULL, 0, NULL);
  return out;
}

vkg_t vkg_history(vkg_graph *g, vkg_t x, int n, int step_slot) {
  if (vkg__check(g, 1, &x)) return VKG_NONE;
  vkg__begin(g, "history");
  const struct vkg_gtensor *tx = vkg__t(g, x);
  if (vkg__numel(tx->shape, tx->ndim) != 1 || tx->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_SHAPE, "history records one f32 value per run"), VKG_NONE;
  if (n < 1 || step_slot < 0 || step_slot >= g->nscalars)
    return vkg__bad(g, VKG_ERR_ARG, "history needs n >= 1 (got %d) and a scalar slot for the step", n), VKG_NONE;
  int shape[1] = {n};
  vkg_t hist = vkg__new(g, VKG_F32, 1, shape);
  if (hist < 0) return VKG_NONE;
  vkg_output(g, hist); /* own memory, kept across runs */
  struct {
    uint32_t n, step_slot;
  } pc = {(uint32_t)n, (uint32_t)step_slot};
  uint32_t spec[3] = {1, 1, 1}; /* one value: a single invocation is the whole job */
  vkg_t bind[3] = {x, vkg__scalars(g), hist};
  if (vkg__dispatch(g, "history", spec, 3, 3, bind, 1u << 2, &pc, sizeof pc, 1, 1, 1)) return VKG_NONE;
  vkg__node_io(g, 1, &x, 1, &hist, NULL, 0, NULL);
  return hist;
}
