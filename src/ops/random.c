/* Random numbers and token sampling, both from Philox-4x32-10 (shaders/philox.glsl).
 *
 * Every random op takes the next stream id of its graph (g->rng_streams: 0, 1, 2, ... in op creation
 * order) and uses key = (seed, 0), counter = (block, stream, 0, 0); the seed is read at run time from
 * a u32 scalar slot, so a new seed needs vkg_graph_set_u32 and no recompile. random_fill makes one
 * Philox call per 4 consecutive elements (block = element / 4); sample_logits makes one per row
 * (block = row) and uses its first word. Shape letters: B rows, V vocabulary. */
#include <math.h>
#include <string.h>

#include "internal.h"

#define NO_SLOT 0xffffffffu

/* A scalar slot as the shaders take it: -1 becomes NO_SLOT; anything else must exist. */
static int slot_arg(vkg_graph *g, int slot, const char *what, uint32_t *out) {
  if (slot == -1) {
    *out = NO_SLOT;
    return 0;
  }
  if (slot < 0 || slot >= g->nscalars)
    return vkg__bad(g, VKG_ERR_ARG, "%s slot %d is not a scalar of this graph (it has %d; -1 for the default)", what,
                    slot, g->nscalars);
  *out = (uint32_t)slot;
  return 0;
}

// ---- random_uniform / random_normal ----

struct random_pc {
  uint32_t n, stream, seed_slot, normal;
  float a, b, below, pad;
};
_Static_assert(sizeof(struct random_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

void vkg__graph_rng_shard(vkg_graph *g, int index, int count) {
  g->rng_shard = index, g->rng_shards = count > 1 ? count : 0;
}

static vkg_t random_fill(vkg_graph *g, const char *op, int ndim, const int *shape, int seed_slot, int normal, float a,
                         float b) {
  if (vkg__check(g, 0, NULL)) return VKG_NONE;
  if (g->rng_shards > 1 && ndim >= 1 && shape) { /* draw the whole batch's rows, keep this shard's */
    int full[VKG_MAX_DIMS], k = g->rng_shards, B = shape[0];
    memcpy(full, shape, sizeof *full * (size_t)(ndim < VKG_MAX_DIMS ? ndim : VKG_MAX_DIMS));
    full[0] = B * k;
    g->rng_shards = 0;
    vkg_t all = random_fill(g, op, ndim, full, seed_slot, normal, a, b);
    g->rng_shards = k;
    return vkg_slice(g, all, 0, g->rng_shard * B, g->rng_shard * B + B);
  }
  vkg__begin(g, op);
  if (ndim < 0 || ndim > VKG_MAX_DIMS || (ndim > 0 && !shape))
    return vkg__bad(g, VKG_ERR_SHAPE, "a shape of %d dims (0 to %d allowed)", ndim, VKG_MAX_DIMS), VKG_NONE;
  if (!normal && !(isfinite(a) && isfinite(b) && a <= b))
    return vkg__bad(g, VKG_ERR_ARG, "range [%g, %g) must be finite with lo <= hi", a, b), VKG_NONE;
  if (normal && !(isfinite(a) && isfinite(b) && b >= 0))
    return vkg__bad(g, VKG_ERR_ARG, "mean %g and std %g must be finite, std >= 0", a, b), VKG_NONE;
  struct random_pc pc = {.normal = (uint32_t)normal, .a = a, .b = b};
  if (slot_arg(g, seed_slot, "seed", &pc.seed_slot)) return VKG_NONE;
  /* lo + (hi - lo) * u can round up to hi; the shader clamps to the float just below it. */
  pc.below = normal ? 0.0f : nextafterf(b, -INFINITY);
  vkg_t sc = vkg__scalars(g);
  vkg_t out = vkg__new(g, VKG_F32, ndim, shape);
  if (sc < 0 || out < 0) return VKG_NONE;
  size_t n = vkg__numel(shape, ndim);
  pc.n = (uint32_t)n;
  pc.stream = g->rng_streams++;
  /* One invocation per 4 elements. */
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d((n + 3) / 4, wg, &gx, &gy);
  vkg_t bind[2] = {sc, out};
  if (vkg__dispatch(g, "random_fill", spec, 3, 2, bind, 1u << 1, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg__node_io(g, 0, NULL, 1, &out, NULL, 0, NULL); /* no inputs, so nothing to differentiate */
  return out;
}

vkg_t vkg_random_uniform(vkg_graph *g, int ndim, const int *shape, int seed_slot, float lo, float hi) {
  return random_fill(g, "random_uniform", ndim, shape, seed_slot, 0, lo, hi);
}

vkg_t vkg_random_normal(vkg_graph *g, int ndim, const int *shape, int seed_slot, float mean, float std) {
  return random_fill(g, "random_normal", ndim, shape, seed_slot, 1, mean, std);
}

// ---- sample_logits ----

struct sample_pc {
  uint32_t B, V, stream;
  uint32_t seed_slot, temp_slot, topk_slot, topp_slot;
};
_Static_assert(sizeof(struct sample_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

vkg_t vkg_sample_logits(vkg_graph *g, vkg_t logits, int seed_slot, int temperature_slot, int top_k_slot) {
  return vkg_sample_logits_p(g, logits, seed_slot, temperature_slot, top_k_slot, -1);
}

vkg_t vkg_sample_logits_p(vkg_graph *g, vkg_t logits, int seed_slot, int temperature_slot, int top_k_slot,
                          int top_p_slot) {
  if (vkg__check(g, 1, &logits)) return VKG_NONE;
  vkg__begin(g, "sample_logits");
  const struct vkg_gtensor *tx = vkg__t(g, logits);
  char s1[96];
  if (tx->dtype != VKG_F32)
    return vkg__bad(g, VKG_ERR_ARG, "logits must be f32 (got %s); use vkg_cast", vkg_dtype_str(tx->dtype)), VKG_NONE;
  if (tx->ndim != 2)
    return vkg__bad(g, VKG_ERR_SHAPE, "logits %s must be (B, V)", vkg__shape_str(tx->shape, tx->ndim, s1, sizeof s1)),
           VKG_NONE;
  struct sample_pc pc = {.B = (uint32_t)tx->shape[0], .V = (uint32_t)tx->shape[1]};
  if (slot_arg(g, seed_slot, "seed", &pc.seed_slot) || slot_arg(g, temperature_slot, "temperature", &pc.temp_slot) ||
      slot_arg(g, top_k_slot, "top_k", &pc.topk_slot) || slot_arg(g, top_p_slot, "top_p", &pc.topp_slot))
    return VKG_NONE;
  vkg_t sc = vkg__scalars(g);
  int oshape[1] = {tx->shape[0]};
  vkg_t out = vkg__new(g, VKG_I32, 1, oshape);
  if (sc < 0 || out < 0) return VKG_NONE;
  pc.stream = g->rng_streams++;
  /* One workgroup per row; rows past 65535 spill into y. */
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.B, 1, &gx, &gy);
  vkg_t bind[3] = {sc, logits, out};
  if (vkg__dispatch(g, "sample_logits", spec, 3, 3, bind, 1u << 2, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  /* A draw has no gradient: asking for one through it is an error from vkg_backward. */
  vkg__node_io(g, 1, &logits, 1, &out, NULL, 0, NULL);
  return out;
}
