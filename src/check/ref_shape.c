#include "ref_shape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t numel(const int *shape, int ndim) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)shape[i];
  return n;
}

/* Row-major offset of the multi-index c in shape. */
static size_t offset(const int *c, const int *shape, int ndim) {
  size_t off = 0;
  for (int i = 0; i < ndim; i++)
    off = off * (size_t)shape[i] + (size_t)c[i];
  return off;
}

/* Multi-index of the flat offset e in shape. */
static void coords(size_t e, const int *shape, int ndim, int *c) {
  for (int i = ndim - 1; i >= 0; i--) {
    c[i] = (int)(e % (size_t)shape[i]);
    e /= (size_t)shape[i];
  }
}

// ---- reductions ----

void ref_reduce_d(double *out, double *mag, const double *x, int outer, int n, int inner, vkg_reduce_op op) {
  for (int o = 0; o < outer; o++)
    for (int k = 0; k < inner; k++) {
      const double *p = x + (size_t)o * n * inner + k;
      double s = 0, a = 0, m = -INFINITY;
      for (int j = 0; j < n; j++) {
        double v = p[(size_t)j * inner];
        s += v;
        a += fabs(v);
        if (v > m) m = v;
      }
      out[(size_t)o * inner + k] = op == VKG_REDUCE_MAX ? m : op == VKG_REDUCE_MEAN ? s / n : s;
      if (mag) mag[(size_t)o * inner + k] = op == VKG_REDUCE_MAX ? fabs(m) : op == VKG_REDUCE_MEAN ? a / n : a;
    }
}

void ref_reduce_bwd(double *gx, const double *x, const double *gy, int outer, int n, int inner, vkg_reduce_op op) {
  for (int o = 0; o < outer; o++)
    for (int k = 0; k < inner; k++) {
      const double *p = x + (size_t)o * n * inner + k;
      int best = 0; /* max: the whole gradient goes to the first maximal element */
      for (int j = 1; j < n; j++)
        if (p[(size_t)j * inner] > p[(size_t)best * inner]) best = j;
      double g = gy[(size_t)o * inner + k];
      for (int j = 0; j < n; j++)
        gx[((size_t)o * n + j) * inner + k] += op == VKG_REDUCE_MAX    ? (j == best ? g : 0)
                                               : op == VKG_REDUCE_MEAN ? g / n
                                                                       : g;
    }
}

void ref_reduce(float *out, float *mag, const float *x, int outer, int n, int inner, vkg_reduce_op op) {
  size_t nx = (size_t)outer * n * inner, no = (size_t)outer * inner;
  double *xd = malloc((nx ? nx : 1) * sizeof(double)), *od = malloc((no ? no : 1) * sizeof(double)),
         *md = malloc((no ? no : 1) * sizeof(double));
  if (!xd || !od || !md) abort();
  for (size_t i = 0; i < nx; i++)
    xd[i] = x[i];
  ref_reduce_d(od, md, xd, outer, n, inner, op);
  for (size_t i = 0; i < no; i++) {
    out[i] = (float)od[i];
    if (mag) mag[i] = (float)md[i];
  }
  free(xd), free(od), free(md);
}

// ---- copies: each is an index map, shared by the word copies and the double forward and backward ----

size_t ref_permute_map(size_t *src, int ndim, const int *shape, const int *perm) {
  int oshape[VKG_MAX_DIMS], oc[VKG_MAX_DIMS], xc[VKG_MAX_DIMS];
  for (int i = 0; i < ndim; i++)
    oshape[i] = shape[perm[i]];
  size_t n = numel(shape, ndim);
  for (size_t e = 0; e < n; e++) {
    coords(e, oshape, ndim, oc);
    for (int i = 0; i < ndim; i++)
      xc[perm[i]] = oc[i];
    src[e] = offset(xc, shape, ndim);
  }
  return n;
}

size_t ref_concat_map(int *src_in, size_t *src, int n, const int (*shapes)[VKG_MAX_DIMS], int ndim, int axis) {
  int oshape[VKG_MAX_DIMS], c[VKG_MAX_DIMS];
  memcpy(oshape, shapes[0], sizeof oshape);
  oshape[axis] = 0;
  for (int k = 0; k < n; k++)
    oshape[axis] += shapes[k][axis];
  size_t total = numel(oshape, ndim);
  for (size_t e = 0; e < total; e++) {
    coords(e, oshape, ndim, c);
    int k = 0;
    while (c[axis] >= shapes[k][axis])
      c[axis] -= shapes[k++][axis];
    src_in[e] = k;
    src[e] = offset(c, shapes[k], ndim);
  }
  return total;
}

size_t ref_slice_map(size_t *src, int ndim, const int *shape, int axis, int start, int end) {
  int oshape[VKG_MAX_DIMS], c[VKG_MAX_DIMS];
  memcpy(oshape, shape, sizeof(int) * (size_t)ndim);
  oshape[axis] = end - start;
  size_t total = numel(oshape, ndim);
  for (size_t e = 0; e < total; e++) {
    coords(e, oshape, ndim, c);
    c[axis] += start;
    src[e] = offset(c, shape, ndim);
  }
  return total;
}

static size_t *map_alloc(size_t n) {
  size_t *m = malloc((n ? n : 1) * sizeof *m);
  if (!m) abort();
  return m;
}

void ref_permute(uint32_t *out, const uint32_t *x, int ndim, const int *shape, const int *perm) {
  size_t *src = map_alloc(numel(shape, ndim)), n = ref_permute_map(src, ndim, shape, perm);
  for (size_t e = 0; e < n; e++)
    out[e] = x[src[e]];
  free(src);
}

void ref_concat(uint32_t *out, int n, const uint32_t *const *xs, const int (*shapes)[VKG_MAX_DIMS], int ndim,
                int axis) {
  size_t total = 0;
  for (int k = 0; k < n; k++)
    total += numel(shapes[k], ndim);
  size_t *src = map_alloc(total);
  int *src_in = malloc((total ? total : 1) * sizeof *src_in);
  if (!src_in) abort();
  ref_concat_map(src_in, src, n, shapes, ndim, axis);
  for (size_t e = 0; e < total; e++)
    out[e] = xs[src_in[e]][src[e]];
  free(src), free(src_in);
}

void ref_slice(uint32_t *out, const uint32_t *x, int ndim, const int *shape, int axis, int start, int end) {
  size_t *src = map_alloc(numel(shape, ndim)), n = ref_slice_map(src, ndim, shape, axis, start, end);
  for (size_t e = 0; e < n; e++)
    out[e] = x[src[e]];
  free(src);
}

uint16_t ref_f32_to_f16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  if (isnan(f)) return sign | 0x7e00u;
  double a = fabs((double)f);
  if (isinf(f) || a >= 65520.0) return sign | 0x7c00u; /* 65520 is halfway to 2^16: ties go to inf */
  /* Round a to a multiple of the f16 spacing at its exponent (2^-24 throughout the subnormals);
   * a / q is exact in double, and nearbyint rounds halfway cases to even. */
  int k;
  frexp(a, &k);
  int e = k - 1 < -14 ? -14 : k - 1;
  double q = ldexp(1.0, e - 10), r = nearbyint(a / q) * q;
  if (r < ldexp(1.0, -14)) return sign | (uint16_t)(r / ldexp(1.0, -24)); /* subnormal or zero */
  frexp(r, &k);                                                           /* rounding may have moved r up an exponent */
  e = k - 1;
  return sign | (uint16_t)((e + 15) << 10) | (uint16_t)((r / ldexp(1.0, e) - 1.0) * 1024.0);
}

uint32_t ref_f16_to_f32_bits(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (e == 31) return sign | 0x7f800000u | (man << 13);
  float v = e == 0 ? (float)ldexp((double)man, -24) : (float)ldexp(1024.0 + man, (int)e - 25);
  uint32_t u;
  memcpy(&u, &v, 4);
  return sign | u;
}

uint32_t ref_round_f16_bits(float f) { return ref_f16_to_f32_bits(ref_f32_to_f16(f)); }
