/* Plain-C references for reductions, shape ops and f32 <-> f16 conversion. Shapes are row-major;
 * the copy references move raw 32-bit words, so they serve f32, i32 and (widened) f16 data alike. */
#ifndef VKGEN_REF_SHAPE_H
#define VKGEN_REF_SHAPE_H
#include <stddef.h>
#include <stdint.h>

#include "vkgen.h"

/* out (outer, inner) = op over n of x (outer, n, inner), accumulated in double. mag (outer, inner),
 * or NULL, gets the scale that rounding errors grow with: sum |x| (divided by n for the mean), or
 * |max| for max. */
void ref_reduce(float *out, float *mag, const float *x, int outer, int n, int inner, vkg_reduce_op op);
void ref_reduce_d(double *out, double *mag, const double *x, int outer, int n, int inner, vkg_reduce_op op);
/* gx (outer, n, inner) += the gradient of sum(out * gy); max sends it to the first maximal element. */
void ref_reduce_bwd(double *gx, const double *x, const double *gy, int outer, int n, int inner, vkg_reduce_op op);

/* The copy ops as index maps: output element e is element src[e] of the input (of input src_in[e]
 * for concat). Each returns the output's element count. The copies below, and the double forward
 * (y[e] = x[src[e]]) and backward (gx[src[e]] += gy[e]) of the op table and the tests, use them. */
size_t ref_permute_map(size_t *src, int ndim, const int *shape, const int *perm);
size_t ref_concat_map(int *src_in, size_t *src, int n, const int (*shapes)[VKG_MAX_DIMS], int ndim, int axis);
size_t ref_slice_map(size_t *src, int ndim, const int *shape, int axis, int start, int end);
/* out = x (shape, ndim dims) with its dims reordered: out dim i is x dim perm[i]. */
void ref_permute(uint32_t *out, const uint32_t *x, int ndim, const int *shape, const int *perm);
/* out = the n tensors xs[k], of shapes shapes[k] (ndim dims each, equal except along axis), joined
 * along axis. */
void ref_concat(uint32_t *out, int n, const uint32_t *const *xs, const int (*shapes)[VKG_MAX_DIMS], int ndim, int axis);
/* out = x[..., start:end, ...] along axis (0 <= start < end <= shape[axis]). */
void ref_slice(uint32_t *out, const uint32_t *x, int ndim, const int *shape, int axis, int start, int end);
/* f32 -> f16 bits, rounding to nearest even (computed in double arithmetic, independently of the
 * library's bit manipulation); NaN becomes the quiet NaN 0x7e00 with the input's sign. */
uint16_t ref_f32_to_f16(float f);
/* f16 bits -> f32 bits, exact; a NaN keeps its payload in the top mantissa bits. */
uint32_t ref_f16_to_f32_bits(uint16_t h);
/* f as rounded through f16 (the value an f16 tensor written from f32 holds), as f32 bits. */
uint32_t ref_round_f16_bits(float f);
#endif
