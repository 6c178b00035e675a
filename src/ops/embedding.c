/* Embedding lookup: table (V, C) f32, ids i32 of any shape -> (ids..., C). Shape letters: V
 * vocabulary, C channels, N the number of ids, P the sort length (a power of two >= N). */
#include <stdint.h>
#include <string.h>

#include "internal.h"

struct embedding_pc {
  uint32_t n, V, C;
  int32_t first; /* the table's first row (a block of a larger table) */
};
_Static_assert(sizeof(struct embedding_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct embedding_sort_pc {
  uint32_t N, V, P, k, j;
};
_Static_assert(sizeof(struct embedding_sort_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

struct embedding_seg_pc {
  uint32_t V, C, P, L, nseg;
};
_Static_assert(sizeof(struct embedding_seg_pc) <= VKG_PC_MAX, "push constants over 128 bytes");

/* ---- backward ----
 * dtable (V, C) is a scatter-add of the rows of dy by id. Adding with float atomics would make the
 * result depend on timing; instead the (id, index) pairs are sorted (a bitonic sort: O(P log^2 P)
 * work in about log^2(P / E) / 2 dispatches), so the rows with one id lie together in index order,
 * and fixed segments of the sorted order are summed (embedding_bwd_seg.comp, then
 * embedding_bwd_join.comp for ids whose run crosses segments). Every addition happens in a fixed
 * order: the same inputs give the same bits on every run. Out-of-range ids sort last and add nothing;
 * ids are not differentiable. */

/* The most ids one backward can take: positions and segment counts then fit in 32 bits. */
#define EMB_MAX_IDS (1u << 30)

static void embedding_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  vkg_t table = n->in[0], ids = n->in[1], dy = gout[0];
  if (!vkg__wants_grad(g, table)) return;
  vkg__begin(g, "embedding backward");
  const struct vkg_gtensor *tt = vkg__t(g, table), *ti = vkg__t(g, ids);
  int V = tt->shape[0], C = tt->shape[1];
  size_t N = vkg__numel(ti->shape, ti->ndim);
  if (N > EMB_MAX_IDS) {
    vkg__bad(g, VKG_ERR_UNSUPPORTED, "the backward takes at most %u ids; got %zu", EMB_MAX_IDS, N);
    return;
  }
  uint32_t wg = vkg__wg1d(g->ctx), E = 2 * wg, P = E, gx, gy, spec[4] = {wg, 1, 1, 0};
  while (P < N)
    P *= 2;
  int pshape[2] = {(int)P, 2};
  vkg_t pairs = vkg__new(g, VKG_I32, 2, pshape);
  if (pairs < 0) return;

  /* Sort: blocks of E in shared memory, then per stage k > E the steps with distance >= E over the
   * whole array and the rest inside blocks again. */
  struct embedding_sort_pc sp = {(uint32_t)N, (uint32_t)V, P, 0, 0};
  vkg_t sbind[2] = {ids, pairs};
  vkg__grid1d(P / E, 1, &gx, &gy); /* one workgroup per block */
  if (vkg__dispatch(g, "embedding_bwd_sort", spec, 4, 2, sbind, 1u << 1, &sp, sizeof sp, gx, gy, 1)) return;
  for (uint32_t k = 2 * E; k <= P; k *= 2) {
    sp.k = k;
    spec[3] = 1;
    vkg__grid1d(P / 2, wg, &gx, &gy);
    for (uint32_t j = k / 2; j >= E; j /= 2) {
      sp.j = j;
      if (vkg__dispatch(g, "embedding_bwd_sort", spec, 4, 2, sbind, 1u << 1, &sp, sizeof sp, gx, gy, 1)) return;
    }
    spec[3] = 2;
    vkg__grid1d(P / E, 1, &gx, &gy);
    if (vkg__dispatch(g, "embedding_bwd_sort", spec, 4, 2, sbind, 1u << 1, &sp, sizeof sp, gx, gy, 1)) return;
  }

  /* Segments of L sorted positions: at least 256, and at most 32768 segments, so neither the walk
   * over a segment nor the walk over segments runs long. */
  uint32_t L = P >> 15 > 256 ? P >> 15 : 256;
  if (L > P) L = P;
  struct embedding_seg_pc pc = {(uint32_t)V, (uint32_t)C, P, L, P / L};
  if ((uint64_t)pc.nseg * (uint32_t)C > UINT32_MAX) {
    vkg__bad(g, VKG_ERR_UNSUPPORTED, "the backward of %zu ids over %d channels needs more than 2^32 invocations", N, C);
    return;
  }
  int tshape[2] = {V, C}, hshape[2] = {(int)pc.nseg, C};
  vkg_t dtable = vkg_full(g, 2, tshape, 0.0f); /* rows of ids that never occur stay 0 */
  vkg__begin(g, "embedding backward");
  vkg_t head = vkg__new(g, VKG_F32, 2, hshape), tail = vkg__new(g, VKG_F32, 2, hshape);
  if (dtable < 0 || head < 0 || tail < 0) return;
  uint32_t spec3[3] = {wg, 1, 1};
  vkg__grid1d((uint64_t)pc.nseg * (uint32_t)C, wg, &gx, &gy);
  vkg_t abind[5] = {pairs, dy, dtable, head, tail};
  if (vkg__dispatch(g, "embedding_bwd_seg", spec3, 3, 5, abind, (1u << 2) | (1u << 3) | (1u << 4), &pc, sizeof pc, gx,
                    gy, 1))
    return;
  vkg_t bbind[4] = {pairs, head, tail, dtable};
  if (vkg__dispatch(g, "embedding_bwd_join", spec3, 3, 4, bbind, 1u << 3, &pc, sizeof pc, gx, gy, 1)) return;
  gin[0] = dtable;
}

/* A block of rows (first != 0) has no gradient: its backward would have to sort ids shifted by first.
 * Only inference splits a table into blocks, so say so instead of computing something wrong. */
static void embedding_rows_backward(vkg_graph *g, const struct vkg_node *n, const vkg_t *gout, vkg_t *gin) {
  (void)gout, (void)gin;
  if (!vkg__wants_grad(g, n->in[0])) return;
  int first;
  memcpy(&first, n->attrs, sizeof first);
  vkg__begin(g, "embedding backward");
  vkg__bad(g, VKG_ERR_UNSUPPORTED,
           "the gradient of an embedding of a block of rows starting at row %d is not supported (only first = 0)",
           first);
}

vkg_t vkg_embedding_rows(vkg_graph *g, vkg_t table, vkg_t ids, int first) {
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
                    vkg__shape_str(tt->shape, tt->ndim, s1, sizeof s1),
                    vkg__shape_str(ti->shape, ti->ndim, s2, sizeof s2), VKG_MAX_DIMS - 1),
           VKG_NONE;
  int V = tt->shape[0], C = tt->shape[1], shape[VKG_MAX_DIMS], ndim = ti->ndim + 1;
  if (first < 0 || (int64_t)first + V > INT32_MAX)
    return vkg__bad(g, VKG_ERR_ARG, "first row %d of a table of %d rows must be >= 0 and leave ids below 2^31", first,
                    V),
           VKG_NONE;
  memcpy(shape, ti->shape, sizeof(int) * (size_t)ti->ndim);
  shape[ndim - 1] = C;
  vkg_t out = vkg__new(g, VKG_F32, ndim, shape);
  if (out < 0) return VKG_NONE;
  struct embedding_pc pc = {(uint32_t)vkg__numel(shape, ndim), (uint32_t)V, (uint32_t)C, first};
  uint32_t wg = vkg__wg1d(g->ctx), gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d(pc.n, wg, &gx, &gy);
  vkg_t bind[3] = {table, ids, out};
  if (vkg__dispatch(g, "embedding_fwd", spec, 3, 3, bind, 1u << 2, &pc, sizeof pc, gx, gy, 1)) return VKG_NONE;
  vkg__node_io(g, 2, args, 1, &out, &first, sizeof first, first ? embedding_rows_backward : embedding_backward);
  return out;
}

vkg_t vkg_embedding(vkg_graph *g, vkg_t table, vkg_t ids) { return vkg_embedding_rows(g, table, ids, 0); }
