/* Reverse-mode autodiff over the graph. Every op node records its inputs, outputs, attributes and a
 * backward function; vkg_backward walks the nodes in reverse and asks each one on a path from a
 * requires_grad leaf to the loss for its input gradients, summing contributions to tensors that are
 * used more than once. The backward ops are ordinary graph ops, so the whole training step (forward,
 * backward, optimizer) is recorded into one command buffer. */
#include <string.h>

#include "internal.h"

void vkg__node_io(vkg_graph *g, int nin, const vkg_t *in, int nout, const vkg_t *out, const void *attrs,
                  size_t attr_size, vkg_backward_fn backward) {
  if (g->err || g->cur_node < 0) return;
  VKG_ASSERT(nin <= VKG_NODE_MAX_IN && nout <= VKG_NODE_MAX_OUT && attr_size <= VKG_NODE_ATTR);
  struct vkg_node *n = &g->nodes[g->cur_node];
  n->nin = nin;
  n->nout = nout;
  for (int i = 0; i < nin; i++)
    n->in[i] = in[i];
  for (int i = 0; i < nout; i++)
    n->out[i] = out[i];
  if (attr_size) memcpy(n->attrs, attrs, attr_size);
  n->backward = backward;
}

void vkg_requires_grad(vkg_graph *g, vkg_t t) {
  if (vkg__check(g, 1, &t)) return;
  VKG_T(g, t)->requires_grad = 1;
}

int vkg__wants_grad(const vkg_graph *g, vkg_t t) { return t >= 0 && t < g->ngrads && g->needed[t]; }

vkg_t vkg_grad(const vkg_graph *g, vkg_t t) {
  if (!g->grads || t < 0 || t >= g->ngrads) return VKG_NONE;
  return g->grads[t];
}

vkg_t vkg__sum_to(vkg_graph *g, vkg_t x, int ndim, const int *shape) {
  if (g->err) return VKG_NONE;
  const struct vkg_gtensor *tx = vkg__t(g, x);
  int n = tx->ndim, xs[VKG_MAX_DIMS];
  memcpy(xs, tx->shape, sizeof xs);
  if (ndim == n && memcmp(xs, shape, sizeof(int) * (size_t)n) == 0) return x;
  /* Reduce (keeping dims) every axis the target lacks or holds as 1, then reshape to the target. */
  for (int i = 0; i < n; i++) {
    int ti = i - (n - ndim);
    int target = ti < 0 ? 1 : shape[ti];
    if (xs[i] != target) {
      VKG_ASSERT(target == 1);
      x = vkg_reduce(g, VKG_REDUCE_SUM, x, i, 1);
      xs[i] = 1;
    }
  }
  return vkg_reshape(g, x, ndim, shape);
}

/* Adds contribution c to the gradient slot of t. */
static void accumulate(vkg_graph *g, vkg_t t, vkg_t c, const char *op) {
  const struct vkg_gtensor *tt = vkg__t(g, t), *tc = vkg__t(g, c);
  if (tt->ndim != tc->ndim || memcmp(tt->shape, tc->shape, sizeof(int) * (size_t)tt->ndim)) {
    char a[96], b[96];
    vkg__bad(g, VKG_ERR_SHAPE, "backward of %s gave a gradient of shape %s for an input of shape %s", op,
             vkg__shape_str(tc->shape, tc->ndim, a, sizeof a), vkg__shape_str(tt->shape, tt->ndim, b, sizeof b));
    return;
  }
  g->grads[t] = g->grads[t] == VKG_NONE ? c : vkg_binary(g, VKG_ADD, g->grads[t], c);
}

void vkg_backward(vkg_graph *g, vkg_t loss) {
  if (vkg__check(g, 1, &loss)) return;
  g->cur_node = -1; /* errors below are the backward's own, not the last op's */
  if (g->grads) {
    vkg__bad(g, VKG_ERR_ARG, "vkg_backward may be called once per graph");
    return;
  }
  const struct vkg_gtensor *tl = vkg__t(g, loss);
  if (vkg__numel(tl->shape, tl->ndim) != 1 || tl->dtype != VKG_F32) {
    char s[96];
    vkg__bad(g, VKG_ERR_SHAPE, "backward: the loss must be one f32 value, got %s %s", vkg_dtype_str(tl->dtype),
             vkg__shape_str(tl->shape, tl->ndim, s, sizeof s));
    return;
  }
  int nt = g->nt, nn = g->nnodes;
  g->ngrads = nt;
  g->grads = malloc(sizeof *g->grads * (size_t)nt);
  g->needed = calloc((size_t)nt, 1);
  for (int i = 0; i < nt; i++) {
    g->grads[i] = VKG_NONE;
    g->needed[i] = VKG_T(g, i)->requires_grad;
  }
  /* Forward: a node's outputs need gradients when any of its inputs does. */
  for (int k = 0; k < nn; k++) {
    const struct vkg_node *n = &g->nodes[k];
    int any = 0;
    for (int i = 0; i < n->nin; i++)
      any |= n->in[i] >= 0 && g->needed[n->in[i]];
    if (any)
      for (int i = 0; i < n->nout; i++)
        if (n->out[i] >= 0) g->needed[n->out[i]] = 1;
  }
  if (!g->needed[loss]) {
    vkg__bad(g, VKG_ERR_ARG, "backward: the loss does not depend on any tensor marked with vkg_requires_grad");
    return;
  }
  /* Ops that recorded no inputs/outputs (vkg__node_io) may not sit on a gradient path: their
   * dispatches' bindings say what they read and wrote. */
  for (int k = 0; k < nn; k++) {
    const struct vkg_node *n = &g->nodes[k];
    if (n->nin || n->nout) continue;
    int reads_needed = 0;
    for (int d = n->first_dispatch; d < n->first_dispatch + n->ndispatch; d++)
      for (int j = 0; j < g->d[d].nbind; j++)
        reads_needed |= !g->d[d].writes[j] && g->needed[g->d[d].bind[j]];
    if (reads_needed) {
      vkg__bad(g, VKG_ERR_UNSUPPORTED, "backward: op %s has no gradient", n->op);
      return;
    }
  }
  int lshape[VKG_MAX_DIMS], lnd = tl->ndim; /* copied: making tensors may move g->t */
  memcpy(lshape, tl->shape, sizeof lshape);
  vkg__begin(g, "backward");
  g->grads[loss] = vkg_full(g, lnd, lshape, 1.0f);
  for (int k = nn - 1; k >= 0 && !g->err; k--) {
    struct vkg_node n = g->nodes[k]; /* a copy: backward ops append nodes */
    vkg_t gout[VKG_NODE_MAX_OUT], gin[VKG_NODE_MAX_IN];
    int any_out = 0, any_in = 0;
    for (int i = 0; i < n.nout; i++) {
      gout[i] = n.out[i] >= 0 && n.out[i] < nt ? g->grads[n.out[i]] : VKG_NONE;
      any_out |= gout[i] != VKG_NONE;
    }
    for (int i = 0; i < n.nin; i++) {
      gin[i] = VKG_NONE;
      any_in |= n.in[i] >= 0 && g->needed[n.in[i]];
    }
    if (!any_out || !any_in) continue;
    if (!n.backward) {
      vkg__bad(g, VKG_ERR_UNSUPPORTED, "backward: op %s has no gradient", n.op);
      return;
    }
    n.backward(g, &n, gout, gin);
    for (int i = 0; i < n.nin && !g->err; i++)
      if (gin[i] != VKG_NONE && n.in[i] >= 0 && g->needed[n.in[i]]) accumulate(g, n.in[i], gin[i], n.op);
  }
}
