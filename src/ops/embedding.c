/* Embedding lookup: table (V, C) f32, ids i32 of any shape -> (ids..., C). Shape letters: V
 * vocabulary, C channels. */
#include <string.h>

#include "internal.h"

struct embedding_pc {
  uint32_t n, V, C;
};
_Static_assert(sizeof(struct embedding_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

vkg_t vkg_embedding(vkg_graph *g, vkg_t table, vkg_t ids) {
  vkg_t args[2] = {table, ids};
  if (vkg__check(g, 2, args)) return VKG_NONE;
  vkg__begin(g, "embedding");
  const struct vkg_gtensor *tt = vkg__t(g, table), *ti = vkg__t(g, ids);
  char s1[96], s2[96];
  if (tt->dtype != VKG_F32 || ti->dtype != VKG_I32)
    return vkg__bad(g, VKG_ERR_ARG, "table must be f32 and ids i32 (got %s and %s)", vkg_dtype_str(tt->dtype),
                    vkg_dtype_str(ti->dtype)),
           VKG_NONE;
  if (tt->ndim != 2 || ti->ndim + 1 > VKG_MAX_DIMS)
    return vkg__bad(g, VKG_ERR_SHAPE, "table %s must be (V, C) and ids %s have at most %d dims",
                    vkg__shape_str(tt->shape, tt->ndim, s1, sizeof s1), vkg__shape_str(ti->shape, ti->ndim, s2, sizeof s2),
                    VKG_MAX_DIMS - 1),
           VKG_NONE;
  int V = tt->shape[0], C = tt->shape[1], shape[VKG_MAX_DIMS], ndim = ti->ndim + 1;
  memcpy(shape, ti->shape, sizeof(int) * (size_t)ti->ndim);
  shape[ndim - 1] = C;
  vkg_t out = vkg__new(g, VKG_F32, ndim, shape);
  if (out < 0) return VKG_NONE;
  struct embedding_pc pc = {(uint32_t)vkg__numel(shape, ndim), (uint32_t)V, (uint32_t)C};
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gx, &gy);
  vkg_t bind[3] = {table, ids, out};
  if (vkg__dispatch(g, "embedding_fwd", spec, 3, 3, bind, 1u << 2, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg__node_io(g, 2, args, 1, &out, NULL, 0, NULL); /* no backward yet */
  return out;
}
