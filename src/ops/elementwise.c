/* Elementwise ops: binary arithmetic with NumPy broadcasting, and unary activations. */
#include <string.h>

#include "internal.h"

struct binary_pc {
  uint32_t n, ndim, op, pad;
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

vkg_t vkg_binary(vkg_graph *g, vkg_binop op, vkg_t a, vkg_t b) {
  vkg_t ids[2] = {a, b};
  if (vkg__check(g, 2, ids)) return VKG_NONE;
  vkg__begin(g, (unsigned)op < 7 ? binop_names[op] : "binary");
  if ((unsigned)op > VKG_POW) return vkg__bad(g, VKG_ERR_ARG, "unknown binary op %d", (int)op), VKG_NONE;
  const struct vkg_gtensor *ta = vkg__t(g, a), *tb = vkg__t(g, b);
  if (ta->dtype != VKG_F32 || tb->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "operands must be f32 (got %s and %s); use vkg_cast", vkg_dtype_str(ta->dtype),
                    vkg_dtype_str(tb->dtype)), VKG_NONE;
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
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gx, &gy);
  vkg_t bind[3] = {a, b, out};
  if (vkg__dispatch(g, "binary", spec, 3, 3, bind, 1u << 2, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  return out;
}

struct unary_pc {
  uint32_t n, op;
  float alpha, beta;
};

static const char *unop_names[VKG_UNOP_COUNT] = {"relu", "leaky_relu", "gelu", "gelu_tanh", "tanh", "sigmoid", "silu",
                                                 "softplus", "exp", "log", "neg", "abs", "sqrt", "square", "affine"};

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
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gx, &gy);
  vkg_t bind[2] = {x, out};
  if (vkg__dispatch(g, "unary", spec, 3, 2, bind, 1u << 1, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  return out;
}
