/* permute, concat, slice and cast against plain-C references, plus reshape views feeding them.
 * Copies must be bit-exact for f32, i32 and f16 tensors. Casts are checked bit for bit: every f16
 * pattern to f32, and special plus random f32 patterns (ties, subnormals, overflow, inf, NaN) to
 * f16, against an independent reference and against the host conversion of f16 tensors.
 * Backward of each op is checked by finite differences and on the GPU (tests/gradcheck.h).
 * Bad arguments must give VKG_ERR_SHAPE or VKG_ERR_ARG with a message naming the problem. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "harness.h"
#include "internal.h" /* only to switch fp16 off for the unsupported-device check */
#include "check/ref_shape.h"

static size_t numel(const int *shape, int ndim) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)shape[i];
  return n;
}

static const char *shape_str(const int *shape, int ndim, char *buf, size_t n) {
  buf[0] = 0;
  for (int i = 0; i < ndim; i++)
    snprintf(buf + strlen(buf), n - strlen(buf), "%s%d", i ? "," : "", shape[i]);
  return buf;
}

static uint32_t rand_u32(void) {
  uint32_t hi = (uint32_t)th_uniform(0, 16777216.0f), lo = (uint32_t)th_uniform(0, 16777216.0f);
  return (hi << 8) ^ lo;
}

static uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* Random data for a tensor of dtype dt, as the 32-bit words the host reads back: f32 bits, i32
 * values (full 32-bit range, so a float round trip would show), or f32 bits of f16 values. */
static uint32_t *rand_words(vkg_dtype dt, size_t n) {
  uint32_t *w = malloc((n ? n : 1) * 4);
  for (size_t i = 0; i < n; i++) {
    float f = th_uniform(-100, 100);
    w[i] = dt == VKG_I32 ? rand_u32() : dt == VKG_F16 ? ref_round_f16_bits(f) : f2u(f);
  }
  return w;
}

/* f32 and f16 tensors take the words as floats (f16 ones are exact in f16); i32 as integers. */
static vkg_status write_words(vkg_graph *g, vkg_t t, const uint32_t *w, size_t n) {
  if (vkg_type(g, t) == VKG_I32) return vkg_graph_write_i32(g, t, (const int32_t *)w, n);
  float *f = th_alloc(n);
  for (size_t i = 0; i < n; i++)
    f[i] = u2f(w[i]);
  vkg_status s = vkg_graph_write(g, t, f, n);
  free(f);
  return s;
}

static vkg_status read_words(vkg_graph *g, vkg_t t, uint32_t *w, size_t n) {
  if (vkg_type(g, t) == VKG_I32) return vkg_graph_read_i32(g, t, (int32_t *)w, n);
  float *f = th_alloc(n);
  vkg_status s = vkg_graph_read(g, t, f, n);
  for (size_t i = 0; i < n; i++)
    w[i] = f2u(f[i]);
  free(f);
  return s;
}

/* Bit-exact comparison. */
static int same_words(const char *what, const uint32_t *got, const uint32_t *ref, size_t n) {
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < n; i++)
    if (got[i] != ref[i] && !bad++) first = i;
  if (bad)
    return th_check(0, "%s: %zu of %zu values differ; first at %zu: got 0x%08x, want 0x%08x", what, bad, n, first,
                    got[first], ref[first]);
  return th_check(1, "%s (n=%zu, exact)", what, n);
}

static int same_shape(vkg_graph *g, vkg_t t, const int *shape, int ndim, const char *what) {
  int ok = vkg_ndim(g, t) == ndim;
  for (int i = 0; ok && i < ndim; i++)
    ok = vkg_dim(g, t, i) == shape[i];
  return ok ? 1 : th_check(0, "%s: result shape", what);
}

/* Compiles g, writes nin inputs, runs, and reads out (n words) into got. Returns 1 on success. */
static int run(vkg_graph *g, int nin, const vkg_t *in, uint32_t *const *data, vkg_t out, uint32_t *got, size_t n,
               const char *what) {
  if (!th_ok(vkg_graph_compile(g), what)) return 0;
  for (int k = 0; k < nin; k++)
    if (!th_ok(write_words(g, in[k], data[k], vkg_numel(g, in[k])), what)) return 0;
  return th_ok(th_run(g), what) && th_ok(read_words(g, out, got, n), what);
}

// ---- permute ----

static void check_permute(vkg_ctx *ctx, vkg_dtype dt, int ndim, const int *shape, const int *perm) {
  char what[160], s1[64], s2[64];
  snprintf(what, sizeof what, "permute %s (%s) by (%s)", vkg_dtype_str(dt), shape_str(shape, ndim, s1, sizeof s1),
           shape_str(perm, ndim, s2, sizeof s2));
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t x = vkg_input(g, "x", dt, ndim, shape), y = vkg_permute(g, x, perm);
  vkg_output(g, y);
  int p[VKG_MAX_DIMS], oshape[VKG_MAX_DIMS];
  for (int i = 0; i < ndim; i++)
    p[i] = perm[i] < 0 ? perm[i] + ndim : perm[i];
  for (int i = 0; i < ndim; i++)
    oshape[i] = shape[p[i]];
  size_t n = numel(shape, ndim);
  uint32_t *data = rand_words(dt, n), *got = malloc(n * 4), *ref = malloc(n * 4);
  if (same_shape(g, y, oshape, ndim, what) && run(g, 1, &x, &data, y, got, n, what)) {
    ref_permute(ref, data, ndim, shape, p);
    same_words(what, got, ref, n);
  }
  free(data);
  free(got);
  free(ref);
  vkg_graph_destroy(g);
}

/* Next permutation in lexicographic order; 0 after the last. */
static int next_perm(int *p, int n) {
  int i = n - 2;
  while (i >= 0 && p[i] >= p[i + 1])
    i--;
  if (i < 0) return 0;
  int j = n - 1;
  while (p[j] <= p[i])
    j--;
  int t = p[i];
  p[i] = p[j], p[j] = t;
  for (int a = i + 1, b = n - 1; a < b; a++, b--)
    t = p[a], p[a] = p[b], p[b] = t;
  return 1;
}

static void all_perms(vkg_ctx *ctx, vkg_dtype dt, int ndim, const int *shape) {
  int p[VKG_MAX_DIMS];
  for (int i = 0; i < ndim; i++)
    p[i] = i;
  do
    check_permute(ctx, dt, ndim, shape, p);
  while (next_perm(p, ndim));
}

/* Identity, reversal, negative entries and `count` random permutations. */
static void some_perms(vkg_ctx *ctx, vkg_dtype dt, int ndim, const int *shape, int count) {
  int p[VKG_MAX_DIMS];
  for (int i = 0; i < ndim; i++)
    p[i] = i;
  check_permute(ctx, dt, ndim, shape, p);
  for (int i = 0; i < ndim; i++)
    p[i] = ndim - 1 - i;
  check_permute(ctx, dt, ndim, shape, p);
  for (int i = 0; i < ndim; i++)
    p[i] = -1 - i; /* reversal again, counted from the end */
  check_permute(ctx, dt, ndim, shape, p);
  for (int c = 0; c < count; c++) {
    for (int i = 0; i < ndim; i++)
      p[i] = i;
    for (int i = ndim - 1; i > 0; i--) {
      int j = (int)th_uniform(0, (float)(i + 1)), t = p[i];
      if (j > i) j = i;
      p[i] = p[j], p[j] = t;
    }
    check_permute(ctx, dt, ndim, shape, p);
  }
}

// ---- concat ----

static void check_concat(vkg_ctx *ctx, vkg_dtype dt, int n, int ndim, const int *base, int axis, const int *sizes) {
  int ax = axis < 0 ? axis + ndim : axis, shapes[3][VKG_MAX_DIMS], oshape[VKG_MAX_DIMS];
  char what[200], s1[64];
  snprintf(what, sizeof what, "concat %s of %d along axis %d of (%s), sizes", vkg_dtype_str(dt), n, axis,
           shape_str(base, ndim, s1, sizeof s1));
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t xs[3];
  uint32_t *data[3];
  memcpy(oshape, base, sizeof(int) * (size_t)ndim);
  oshape[ax] = 0;
  for (int k = 0; k < n; k++) {
    memcpy(shapes[k], base, sizeof(int) * (size_t)ndim);
    shapes[k][ax] = sizes[k];
    oshape[ax] += sizes[k];
    snprintf(what + strlen(what), sizeof what - strlen(what), " %d", sizes[k]);
    xs[k] = vkg_input(g, "x", dt, ndim, shapes[k]);
    data[k] = rand_words(dt, numel(shapes[k], ndim));
  }
  vkg_t y = vkg_concat(g, n, xs, axis);
  vkg_output(g, y);
  size_t total = numel(oshape, ndim);
  uint32_t *got = malloc(total * 4), *ref = malloc(total * 4);
  if (same_shape(g, y, oshape, ndim, what) && run(g, n, xs, data, y, got, total, what)) {
    ref_concat(ref, n, (const uint32_t *const *)data, (const int(*)[VKG_MAX_DIMS])shapes, ndim, ax);
    same_words(what, got, ref, total);
  }
  for (int k = 0; k < n; k++)
    free(data[k]);
  free(got);
  free(ref);
  vkg_graph_destroy(g);
}

// ---- slice ----

static void check_slice(vkg_ctx *ctx, vkg_dtype dt, int ndim, const int *shape, int axis, int start, int end) {
  int ax = axis < 0 ? axis + ndim : axis, dim = shape[ax];
  int b = start < 0 ? start + dim : start, e = end < 0 ? end + dim : end, oshape[VKG_MAX_DIMS];
  char what[160], s1[64];
  snprintf(what, sizeof what, "slice %s (%s) axis %d [%d, %d)", vkg_dtype_str(dt),
           shape_str(shape, ndim, s1, sizeof s1), axis, start, end);
  memcpy(oshape, shape, sizeof(int) * (size_t)ndim);
  oshape[ax] = e - b;
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t x = vkg_input(g, "x", dt, ndim, shape), y = vkg_slice(g, x, axis, start, end);
  vkg_output(g, y);
  size_t n = numel(oshape, ndim);
  uint32_t *data = rand_words(dt, numel(shape, ndim)), *got = malloc(n * 4), *ref = malloc(n * 4);
  if (same_shape(g, y, oshape, ndim, what) && run(g, 1, &x, &data, y, got, n, what)) {
    ref_slice(ref, data, ndim, shape, ax, b, e);
    same_words(what, got, ref, n);
  }
  free(data);
  free(got);
  free(ref);
  vkg_graph_destroy(g);
}

/* The slices worth trying along an axis of size d: edges, whole, interior, negative bounds. */
static void slices_of(vkg_ctx *ctx, vkg_dtype dt, int ndim, const int *shape, int axis) {
  int d = shape[axis < 0 ? axis + ndim : axis];
  check_slice(ctx, dt, ndim, shape, axis, 0, 1);
  check_slice(ctx, dt, ndim, shape, axis, d - 1, d);
  check_slice(ctx, dt, ndim, shape, axis, 0, d);
  check_slice(ctx, dt, ndim, shape, axis, -1, d);
  check_slice(ctx, dt, ndim, shape, axis, -d, 1);
  if (d > 2) check_slice(ctx, dt, ndim, shape, axis, 1, d - 1);
  if (d >= 3) check_slice(ctx, dt, ndim, shape, axis, -3, -1);
  if (d > 4) check_slice(ctx, dt, ndim, shape, axis, 2, -2);
}

// ---- cast ----

/* Every f16 bit pattern (uploaded raw into a bound tensor, NaN payloads included) cast to f32. */
static void cast_all_f16(vkg_ctx *ctx) {
  int n = 65536;
  uint16_t *h = malloc((size_t)n * 2);
  for (int i = 0; i < n; i++)
    h[i] = (uint16_t)i;
  vkg_tensor *t;
  if (!th_ok(vkg_tensor_create(ctx, VKG_F16, 1, &n, &t), "tensor") ||
      !th_ok(vkg_tensor_upload(t, h, (size_t)n * 2), "upload"))
    return;
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t y = vkg_cast(g, vkg_bind(g, t), VKG_F32);
  vkg_output(g, y);
  uint32_t *got = malloc((size_t)n * 4), *ref = malloc((size_t)n * 4), *host = malloc((size_t)n * 4);
  if (th_ok(vkg_graph_compile(g), "cast f16") && th_ok(th_run(g), "cast f16") &&
      th_ok(vkg_graph_read(g, y, (float *)got, (size_t)n), "read")) {
    for (int i = 0; i < n; i++)
      ref[i] = ref_f16_to_f32_bits(h[i]);
    same_words("cast f16 -> f32, all 65536 patterns, vs reference", got, ref, (size_t)n);
    th_ok(vkg_tensor_download_f32(t, (float *)host, (size_t)n), "download");
    same_words("cast f16 -> f32, all 65536 patterns, vs host conversion", got, host, (size_t)n);
  }
  free(got);
  free(ref);
  free(host);
  free(h);
  vkg_graph_destroy(g);
  vkg_tensor_destroy(t);
}

/* f32 patterns that stress rounding to f16, then random ones. */
static size_t f32_cases(uint32_t *w, size_t cap) {
  static const float specials[] = {0.0f,
                                   -0.0f,
                                   1.0f,
                                   -1.0f,
                                   0.1f,
                                   1.0f / 3,
                                   3.14159265f,
                                   65504.0f,
                                   -65504.0f,
                                   65519.99f,
                                   65520.0f,
                                   -65520.0f,
                                   65536.0f,
                                   1e10f,
                                   -1e30f,
                                   6.103515625e-05f /* 2^-14 */,
                                   5.9604645e-08f /* 2^-24 */,
                                   2.9802322e-08f /* 2^-25: ties to 0 */,
                                   2.9802326e-08f /* just over 2^-25 */,
                                   8.940697e-08f /* 3 * 2^-25: ties to 2^-23 */,
                                   1.4901161e-07f /* 5 * 2^-25: ties to 2^-23 */,
                                   6.1005354e-05f /* 2^-14 - 2^-25 */,
                                   1e-40f,
                                   -1e-40f,
                                   1.17549435e-38f,
                                   1.00048828125f /* 1 + 2^-11: ties to 1 */,
                                   1.00146484375f /* 1 + 3 * 2^-11: ties up */,
                                   2049.0f,
                                   2051.0f,
                                   -2051.0f,
                                   1e-8f};
  size_t n = 0;
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
    w[n++] = f2u(specials[i]);
  static const uint32_t bits[] = {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xffbfffffu,
                                  0x7f7fffffu, 0x00000001u, 0x807fffffu, 0x477fefffu, 0x477ff000u, 0x477ff001u};
  for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
    w[n++] = bits[i];
  /* Exact midpoints between neighbouring f16 values, normal and subnormal: they must round to even. */
  for (int i = 0; i < 4000; i++) {
    uint32_t h = (uint32_t)th_uniform(0, 31743.0f); /* finite positive f16 below the largest */
    double mid = (u2f(ref_f16_to_f32_bits((uint16_t)h)) + (double)u2f(ref_f16_to_f32_bits((uint16_t)(h + 1)))) / 2;
    w[n++] = f2u((float)mid) | (i & 1 ? 0x80000000u : 0);
  }
  /* Random patterns whose exponents lie around the f16 range (subnormal to overflow), then any. */
  while (n < cap - 20000)
    w[n++] = (rand_u32() & 0x807fffffu) | ((uint32_t)th_uniform(98, 146) << 23);
  while (n < cap)
    w[n++] = rand_u32();
  return n;
}

/* f32 -> f16 on the GPU against the reference and against the host's conversion of an f16 input
 * written from the same values; then f16 -> f32 back, on the GPU. */
static void cast_f32_patterns(vkg_ctx *ctx) {
  size_t cap = 200000;
  uint32_t *w = malloc(cap * 4);
  int n = (int)f32_cases(w, cap);
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t x = vkg_input(g, "x", VKG_F32, 1, &n), hx = vkg_input(g, "hx", VKG_F16, 1, &n);
  vkg_t h = vkg_cast(g, x, VKG_F16), r = vkg_cast(g, h, VKG_F32);
  vkg_output(g, h);
  vkg_output(g, r);
  uint32_t *ref = malloc(cap * 4), *got = malloc(cap * 4);
  for (int i = 0; i < n; i++)
    ref[i] = ref_round_f16_bits(u2f(w[i]));
  if (th_ok(vkg_graph_compile(g), "cast f32") && th_ok(write_words(g, x, w, (size_t)n), "write") &&
      th_ok(write_words(g, hx, w, (size_t)n), "write") && th_ok(th_run(g), "run")) {
    /* Reading an f16 tensor widens on the host, which is one-to-one, so comparing the widened words
     * compares the f16 bits. */
    if (th_ok(read_words(g, h, got, (size_t)n), "read"))
      same_words("cast f32 -> f16 (specials, ties, random patterns) vs reference", got, ref, (size_t)n);
    if (th_ok(read_words(g, hx, got, (size_t)n), "read"))
      same_words("host f32 -> f16 conversion of the same values vs reference", got, ref, (size_t)n);
    if (th_ok(read_words(g, r, got, (size_t)n), "read"))
      same_words("cast f32 -> f16 -> f32 round trip vs reference", got, ref, (size_t)n);
  }
  free(w);
  free(ref);
  free(got);
  vkg_graph_destroy(g);
}

/* Casts on reshape views and odd sizes, and casts to the same dtype (plain copies). */
static void cast_views(vkg_ctx *ctx) {
  static const int sizes[][2] = {{1, 1}, {1, 7}, {13, 1}, {7, 13}, {127, 3}};
  for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
    int s[2] = {sizes[c][0], sizes[c][1]}, flat = s[0] * s[1], t[2] = {s[1], s[0]};
    char what[96];
    snprintf(what, sizeof what, "(%d,%d) -> (%d) -> cast f16 -> (%d,%d) -> cast f32", s[0], s[1], flat, t[0], t[1]);
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    vkg_t x = vkg_input(g, "x", VKG_F32, 2, s);
    vkg_t h = vkg_cast(g, vkg_reshape(g, x, 1, &flat), VKG_F16);
    vkg_t y = vkg_cast(g, vkg_reshape(g, h, 2, t), VKG_F32);
    vkg_output(g, y);
    uint32_t *data = rand_words(VKG_F32, (size_t)flat), *got = malloc((size_t)flat * 4),
             *ref = malloc((size_t)flat * 4);
    for (int i = 0; i < flat; i++)
      ref[i] = ref_round_f16_bits(u2f(data[i]));
    if (same_shape(g, y, t, 2, what) && run(g, 1, &x, &data, y, got, (size_t)flat, what))
      same_words(what, got, ref, (size_t)flat);
    free(data);
    free(got);
    free(ref);
    vkg_graph_destroy(g);
  }
  static const vkg_dtype dts[] = {VKG_F32, VKG_F16, VKG_I32};
  for (int d = 0; d < 3; d++) {
    int s[2] = {7, 13};
    char what[64];
    snprintf(what, sizeof what, "cast %s -> %s (a copy)", vkg_dtype_str(dts[d]), vkg_dtype_str(dts[d]));
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    vkg_t x = vkg_input(g, "x", dts[d], 2, s), y = vkg_cast(g, x, dts[d]);
    vkg_output(g, y);
    uint32_t *data = rand_words(dts[d], 91), got[91];
    if (dts[d] == VKG_F32)
      data[0] = 0x7fc00123u, data[1] = 0xff800000u, data[2] = 0x80000000u; /* NaN payload, -inf, -0 */
    if (run(g, 1, &x, &data, y, got, 91, what)) same_words(what, got, data, 91);
    free(data);
    vkg_graph_destroy(g);
  }
}

// ---- reshape views and chains ----

/* x (6, 35) -> view (6, 5, 7) -> permute (2, 0, 1) -> view (7, 30) -> slice [3, -2) along axis 1
 * -> concat with y (7, 4) along axis 1 -> sum over the last axis. */
static void chain(vkg_ctx *ctx) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int xs[2] = {6, 35}, v1[3] = {6, 5, 7}, perm[3] = {2, 0, 1}, v2[2] = {7, 30}, ys[2] = {7, 4};
  vkg_t x = vkg_input(g, "x", VKG_F32, 2, xs), y = vkg_input(g, "y", VKG_F32, 2, ys);
  vkg_t p = vkg_reshape(g, vkg_permute(g, vkg_reshape(g, x, 3, v1), perm), 2, v2);
  vkg_t c = vkg_concat(g, 2, (vkg_t[]){vkg_slice(g, p, 1, 3, -2), y}, 1);
  vkg_t s = vkg_reduce(g, VKG_REDUCE_SUM, c, -1, 0);
  vkg_output(g, c);
  vkg_output(g, s);
  uint32_t *dx = rand_words(VKG_F32, 210), *dy = rand_words(VKG_F32, 28), *data[2] = {dx, dy};
  uint32_t pr[210], sl[7 * 25], ref[7 * 29], got[7 * 29];
  const char *what = "reshape -> permute -> reshape -> slice -> concat";
  if (same_shape(g, c, (int[]){7, 29}, 2, what) && run(g, 2, (vkg_t[]){x, y}, data, c, got, 7 * 29, what)) {
    ref_permute(pr, dx, 3, v1, perm);
    ref_slice(sl, pr, 2, v2, 1, 3, 28);
    ref_concat(ref, 2, (const uint32_t *const[]){sl, dy}, (const int[][VKG_MAX_DIMS]){{7, 25}, {7, 4}}, 2, 1);
    same_words(what, got, ref, 7 * 29);
    float gs[7], rs[7], mag[7], cf[7 * 29];
    for (int i = 0; i < 7 * 29; i++)
      cf[i] = u2f(ref[i]);
    ref_reduce(rs, mag, cf, 7, 29, 1, VKG_REDUCE_SUM);
    int ok = th_ok(vkg_graph_read(g, s, gs, 7), "read");
    for (int i = 0; ok && i < 7; i++)
      ok = fabsf(gs[i] - rs[i]) <= 1e-5f + 1e-5f * mag[i];
    th_check(ok, "... -> sum over the last axis of the concat");
  }
  free(dx);
  free(dy);
  vkg_graph_destroy(g);
}

/* An i32 tensor viewed, permuted and sliced, and an f16 one concatenated with a view of itself. */
static void views_other_dtypes(vkg_ctx *ctx) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int xs[1] = {84}, v[3] = {4, 3, 7}, perm[3] = {1, 2, 0};
  vkg_t x = vkg_input(g, "x", VKG_I32, 1, xs);
  vkg_t y = vkg_slice(g, vkg_permute(g, vkg_reshape(g, x, 3, v), perm), -1, -3, 4);
  vkg_output(g, y);
  uint32_t *dx = rand_words(VKG_I32, 84), pr[84], ref[3 * 7 * 3], got[3 * 7 * 3];
  const char *what = "i32 (84) -> view (4, 3, 7) -> permute (1, 2, 0) -> slice [-3, 4) along -1";
  if (run(g, 1, &x, &dx, y, got, 63, what)) {
    ref_permute(pr, dx, 3, v, perm);
    ref_slice(ref, pr, 3, (int[]){3, 7, 4}, 2, 1, 4);
    same_words(what, got, ref, 63);
  }
  free(dx);
  vkg_graph_destroy(g);

  if (!vkg_ctx_has_fp16(ctx)) return;
  /* f16 (5, 6) viewed as (10, 3), concatenated with h2 (10, 2) along the last axis, then sliced. */
  vkg_graph_create(ctx, &g);
  int hs[2] = {5, 6}, hv[2] = {10, 3}, h2s[2] = {10, 2};
  vkg_t h = vkg_input(g, "h", VKG_F16, 2, hs), h2 = vkg_input(g, "h2", VKG_F16, 2, h2s);
  vkg_t c = vkg_slice(g, vkg_concat(g, 2, (vkg_t[]){vkg_reshape(g, h, 2, hv), h2}, -1), 0, 1, -1);
  vkg_output(g, c);
  uint32_t *dh = rand_words(VKG_F16, 30), *dh2 = rand_words(VKG_F16, 20), *data[2] = {dh, dh2}, cr[50], got2[40],
           ref2[40];
  what = "f16 (5, 6) -> view (10, 3) -> concat with (10, 2) along -1 -> slice [1, -1) along 0";
  if (run(g, 2, (vkg_t[]){h, h2}, data, c, got2, 40, what)) {
    ref_concat(cr, 2, (const uint32_t *const[]){dh, dh2}, (const int[][VKG_MAX_DIMS]){{10, 3}, {10, 2}}, 2, 1);
    ref_slice(ref2, cr, 2, (int[]){10, 5}, 0, 1, 9);
    same_words(what, got2, ref2, 40);
  }
  free(dh);
  free(dh2);
  vkg_graph_destroy(g);
}

// ---- backward ----
/* Each op's C forward and backward go through the reference's index map (src/check/ref_shape.c). */

struct gperm {
  int ndim, shape[VKG_MAX_DIMS], perm[VKG_MAX_DIMS];
};
static void perm_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct gperm *p = op->user;
  size_t *src = malloc(op->out_n * sizeof *src);
  ref_permute_map(src, p->ndim, p->shape, p->perm);
  for (size_t e = 0; e < op->out_n; e++)
    y[e] = in[0][src[e]];
  free(src);
}
static void perm_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct gperm *p = op->user;
  size_t *src = malloc(op->out_n * sizeof *src);
  ref_permute_map(src, p->ndim, p->shape, p->perm);
  for (size_t e = 0; e < op->out_n; e++)
    gin[0][src[e]] += gy[e];
  free(src);
}
static vkg_t perm_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  return vkg_permute(g, in[0], ((const struct gperm *)op->user)->perm);
}

/* concat and slice of tensors of 3 dims; sizes: concat's sizes along the axis, slice's {dim, start, end}. */
struct gcat {
  int n, outer, inner, sizes[3], axis;
};
/* The concat map over the gc_op's input shapes (the axis may be given from the end). */
static void cat_map(const struct gc_op *op, int *src_in, size_t *src) {
  const struct gcat *c = op->user;
  int shapes[3][VKG_MAX_DIMS] = {{0}};
  for (int k = 0; k < c->n; k++)
    memcpy(shapes[k], op->shape[k], sizeof shapes[k]);
  ref_concat_map(src_in, src, c->n, (const int(*)[VKG_MAX_DIMS])shapes, 3, c->axis < 0 ? c->axis + 3 : c->axis);
}
static void cat_fwd(const struct gc_op *op, double *const *in, double *y) {
  size_t *src = malloc(op->out_n * sizeof *src);
  int *src_in = malloc(op->out_n * sizeof *src_in);
  cat_map(op, src_in, src);
  for (size_t e = 0; e < op->out_n; e++)
    y[e] = in[src_in[e]][src[e]];
  free(src), free(src_in);
}
static void cat_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  size_t *src = malloc(op->out_n * sizeof *src);
  int *src_in = malloc(op->out_n * sizeof *src_in);
  cat_map(op, src_in, src);
  for (size_t e = 0; e < op->out_n; e++)
    gin[src_in[e]][src[e]] += gy[e];
  free(src), free(src_in);
}
static vkg_t cat_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  const struct gcat *c = op->user;
  return vkg_concat(g, c->n, in, c->axis);
}
static void sl_fwd(const struct gc_op *op, double *const *in, double *y) {
  const struct gcat *c = op->user;
  size_t *src = malloc(op->out_n * sizeof *src);
  ref_slice_map(src, 3, op->shape[0], c->axis, c->sizes[1], c->sizes[2]);
  for (size_t e = 0; e < op->out_n; e++)
    y[e] = in[0][src[e]];
  free(src);
}
static void sl_bwd(const struct gc_op *op, double *const *in, const double *gy, double **gin) {
  const struct gcat *c = op->user;
  size_t *src = malloc(op->out_n * sizeof *src);
  ref_slice_map(src, 3, op->shape[0], c->axis, c->sizes[1], c->sizes[2]);
  for (size_t e = 0; e < op->out_n; e++)
    gin[0][src[e]] += gy[e];
  free(src);
}
static vkg_t sl_build(vkg_graph *g, const struct gc_op *op, const vkg_t *in) {
  const struct gcat *c = op->user;
  /* the bounds given from the end, to exercise the normalization */
  return vkg_slice(g, in[0], c->axis, c->sizes[1],
                   c->sizes[2] == c->sizes[0] ? c->sizes[0] : c->sizes[2] - c->sizes[0]);
}

static void grad_checks(vkg_ctx *ctx) {
  static const struct gperm perms[] = {{2, {7, 13}, {1, 0}},
                                       {3, {2, 3, 4}, {2, 0, 1}},
                                       {3, {2, 3, 4}, {0, 1, 2}},
                                       {5, {2, 1, 3, 2, 2}, {4, 2, 0, 3, 1}}};
  for (size_t i = 0; i < sizeof perms / sizeof perms[0]; i++) {
    char name[64], s1[32];
    snprintf(name, sizeof name, "permute (%s) backward", shape_str(perms[i].perm, perms[i].ndim, s1, sizeof s1));
    struct gc_op op = {.name = name,
                       .nin = 1,
                       .ndim = {perms[i].ndim},
                       .out_n = numel(perms[i].shape, perms[i].ndim),
                       .user = &perms[i],
                       .fwd = perm_fwd,
                       .bwd = perm_bwd,
                       .build = perm_build};
    memcpy(op.shape[0], perms[i].shape, sizeof perms[i].shape);
    gc_check(ctx, &op);
  }
  /* concat of (3, k, 4) along axis 1 for 1-3 inputs, and along the first and last axes */
  static const int ks[3] = {2, 1, 3};
  for (int n = 1; n <= 3; n++)
    for (int ax = 0; ax < 3; ax++) {
      struct gcat c = {n, ax == 0 ? 1 : ax == 1 ? 3 : 9, ax == 0 ? 12 : ax == 1 ? 4 : 1, {0}, n == 2 ? ax - 3 : ax};
      char name[64];
      snprintf(name, sizeof name, "concat of %d along axis %d backward", n, c.axis);
      struct gc_op op = {.name = name, .nin = n, .user = &c, .fwd = cat_fwd, .bwd = cat_bwd, .build = cat_build};
      size_t total = 0;
      for (int k = 0; k < n; k++) {
        int s[3] = {3, 3, 4};
        s[ax] = c.sizes[k] = ks[k];
        op.ndim[k] = 3;
        memcpy(op.shape[k], s, sizeof s);
        total += numel(s, 3);
      }
      op.out_n = total;
      gc_check(ctx, &op);
    }
  /* slice of (3, 7, 4) along axis 1: interior, at the start, at the end, whole */
  static const int bounds[][2] = {{2, 5}, {0, 3}, {4, 7}, {0, 7}};
  for (size_t i = 0; i < 4; i++) {
    struct gcat c = {1, 3, 4, {7, bounds[i][0], bounds[i][1]}, 1};
    char name[64];
    snprintf(name, sizeof name, "slice [%d, %d) of (3,7,4) along 1 backward", bounds[i][0], bounds[i][1]);
    struct gc_op op = {.name = name,
                       .nin = 1,
                       .ndim = {3},
                       .shape = {{3, 7, 4}},
                       .out_n = (size_t)3 * (bounds[i][1] - bounds[i][0]) * 4,
                       .user = &c,
                       .fwd = sl_fwd,
                       .bwd = sl_bwd,
                       .build = sl_build};
    gc_check(ctx, &op);
  }
  if (!vkg_ctx_has_fp16(ctx)) return;
  /* cast f32 -> f16 -> f32: the gradient flows back through both casts, rounded to f16 on the way. */
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int s[2] = {7, 13};
  vkg_t x = vkg_input(g, "x", VKG_F32, 2, s), r = vkg_input(g, "r", VKG_F32, 2, s);
  vkg_requires_grad(g, x);
  vkg_t y = vkg_cast(g, vkg_cast(g, x, VKG_F16), VKG_F32);
  vkg_t l = vkg_reduce(g, VKG_REDUCE_SUM, vkg_reduce(g, VKG_REDUCE_SUM, vkg_binary(g, VKG_MUL, y, r), -1, 0), 0, 0);
  vkg_backward(g, l);
  vkg_t gx = vkg_grad(g, x);
  vkg_output(g, gx);
  uint32_t *dx = rand_words(VKG_F32, 91), *dr = rand_words(VKG_F32, 91), got[91], ref[91], *data[2] = {dx, dr};
  const char *what = "cast f32 -> f16 -> f32 backward: dL/dx = r rounded to f16";
  if (th_check(gx != VKG_NONE, "cast has a gradient") && run(g, 2, (vkg_t[]){x, r}, data, gx, got, 91, what)) {
    for (int i = 0; i < 91; i++)
      ref[i] = ref_round_f16_bits(u2f(dr[i]));
    same_words(what, got, ref, 91);
  }
  free(dx);
  free(dr);
  vkg_graph_destroy(g);
}

// ---- bad arguments ----

static void expect(vkg_graph *g, vkg_t r, vkg_status want, const char *what) {
  vkg_status s = vkg_graph_compile(g);
  th_check(r == VKG_NONE && s == want, "%s gives %s: %s", what, vkg_status_str(want), vkg_last_error());
  vkg_graph_destroy(g);
}

static vkg_graph *graph_with(vkg_ctx *ctx, vkg_t *x, vkg_dtype dt, int ndim, const int *shape) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  *x = vkg_input(g, "x", dt, ndim, shape);
  return g;
}

static void bad_args(vkg_ctx *ctx) {
  static const int s3[3] = {7, 13, 5}, s3b[3] = {7, 12, 5}, s2[2] = {7, 13};
  vkg_graph *g;
  vkg_t x, y;
  /* permute */
  g = graph_with(ctx, &x, VKG_F32, 3, s3);
  expect(g, vkg_permute(g, x, (int[]){0, 0, 1}), VKG_ERR_SHAPE, "permute by (0, 0, 1)");
  g = graph_with(ctx, &x, VKG_F32, 3, s3);
  expect(g, vkg_permute(g, x, (int[]){0, 1, 3}), VKG_ERR_SHAPE, "permute by (0, 1, 3)");
  g = graph_with(ctx, &x, VKG_F32, 3, s3);
  expect(g, vkg_permute(g, x, (int[]){-4, 1, 2}), VKG_ERR_SHAPE, "permute by (-4, 1, 2)");
  g = graph_with(ctx, &x, VKG_F32, 3, s3);
  expect(g, vkg_permute(g, x, (int[]){2, -1, 0}), VKG_ERR_SHAPE, "permute by (2, -1, 0) (2 twice)");
  g = graph_with(ctx, &x, VKG_F32, 3, s3);
  expect(g, vkg_permute(g, x, NULL), VKG_ERR_ARG, "permute by NULL");
  /* concat */
  g = graph_with(ctx, &x, VKG_F32, 3, s3);
  y = vkg_input(g, "y", VKG_F32, 3, s3b);
  expect(g, vkg_concat(g, 2, (vkg_t[]){x, y}, 0), VKG_ERR_SHAPE, "concat (7,13,5) and (7,12,5) along 0");
  g = graph_with(ctx, &x, VKG_F32, 3, s3);
  y = vkg_input(g, "y", VKG_F32, 3, s3b);
  expect(g, vkg_concat(g, 3, (vkg_t[]){x, x, y}, -1), VKG_ERR_SHAPE, "concat (7,13,5) x2 and (7,12,5) along -1");
  g = graph_with(ctx, &x, VKG_F32, 3, s3);
  y = vkg_input(g, "y", VKG_F32, 2, s2);
  expect(g, vkg_concat(g, 2, (vkg_t[]){x, y}, 0), VKG_ERR_SHAPE, "concat (7,13,5) and (7,13)");
  g = graph_with(ctx, &x, VKG_F32, 3, s3);
  y = vkg_input(g, "y", VKG_I32, 3, s3);
  expect(g, vkg_concat(g, 2, (vkg_t[]){x, y}, 1), VKG_ERR_ARG, "concat f32 and i32");
  g = graph_with(ctx, &x, VKG_F32, 3, s3);
  expect(g, vkg_concat(g, 2, (vkg_t[]){x, x}, 3), VKG_ERR_SHAPE, "concat along axis 3 of 3-D");
  g = graph_with(ctx, &x, VKG_F32, 3, s3);
  expect(g, vkg_concat(g, 2, (vkg_t[]){x, x}, -4), VKG_ERR_SHAPE, "concat along axis -4 of 3-D");
  g = graph_with(ctx, &x, VKG_F32, 3, s3);
  expect(g, vkg_concat(g, 0, (vkg_t[]){x}, 0), VKG_ERR_ARG, "concat of 0 inputs");
  /* slice */
  static const int sl[][3] = {{1, 3, 3},   {1, 5, 2},   {1, 0, 14}, {1, -14, 2}, {1, 13, 14},
                              {1, -1, -1}, {1, 2, -12}, {3, 0, 1},  {-4, 0, 1}};
  for (size_t i = 0; i < sizeof sl / sizeof sl[0]; i++) {
    char what[80];
    snprintf(what, sizeof what, "slice axis %d [%d, %d) of (7,13,5)", sl[i][0], sl[i][1], sl[i][2]);
    g = graph_with(ctx, &x, VKG_F32, 3, s3);
    expect(g, vkg_slice(g, x, sl[i][0], sl[i][1], sl[i][2]), VKG_ERR_SHAPE, what);
  }
  /* cast */
  g = graph_with(ctx, &x, VKG_I32, 2, s2);
  expect(g, vkg_cast(g, x, VKG_F32), VKG_ERR_ARG, "cast i32 -> f32");
  g = graph_with(ctx, &x, VKG_F32, 2, s2);
  expect(g, vkg_cast(g, x, VKG_I32), VKG_ERR_ARG, "cast f32 -> i32");
  g = graph_with(ctx, &x, VKG_F32, 2, s2);
  expect(g, vkg_cast(g, x, (vkg_dtype)7), VKG_ERR_ARG, "cast to dtype 7");
  /* A device without fp16 storage: switch the context's flag off for one graph. */
  int had = ctx->fp16_enabled;
  ctx->fp16_enabled = 0;
  g = graph_with(ctx, &x, VKG_F32, 2, s2);
  expect(g, vkg_cast(g, x, VKG_F16), VKG_ERR_UNSUPPORTED, "cast f32 -> f16 without fp16");
  ctx->fp16_enabled = had;
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(5);
  int fp16 = vkg_ctx_has_fp16(ctx);
  if (!fp16) printf("note: device has no fp16 storage; f16 cases are skipped\n");

  /* permute: all orders of 2-4 dims, some of 5 and 6, 1-D, and a larger transpose */
  static const int p1[] = {13}, p2a[] = {7, 13}, p2b[] = {1, 127}, p2c[] = {300, 257}, p3a[] = {7, 13, 5},
                   p3b[] = {1, 7, 1}, p4a[] = {3, 7, 1, 13}, p4b[] = {2, 3, 4, 5}, p5[] = {2, 3, 1, 5, 7},
                   p6a[] = {2, 3, 4, 1, 5, 3}, p6b[] = {3, 2, 2, 3, 2, 5};
  check_permute(ctx, VKG_F32, 1, p1, (int[]){0});
  check_permute(ctx, VKG_I32, 1, p1, (int[]){-1});
  all_perms(ctx, VKG_F32, 2, p2a);
  all_perms(ctx, VKG_F32, 2, p2b);
  all_perms(ctx, VKG_F32, 2, p2c);
  all_perms(ctx, VKG_F32, 3, p3a);
  all_perms(ctx, VKG_F32, 3, p3b);
  all_perms(ctx, VKG_I32, 3, p3a);
  all_perms(ctx, VKG_F32, 4, p4a);
  all_perms(ctx, VKG_I32, 4, p4b);
  some_perms(ctx, VKG_F32, 5, p5, 8);
  some_perms(ctx, VKG_I32, 5, p5, 3);
  some_perms(ctx, VKG_F32, 6, p6a, 8);
  some_perms(ctx, VKG_F32, 6, p6b, 8);
  some_perms(ctx, VKG_I32, 6, p6b, 3);
  if (fp16) {
    all_perms(ctx, VKG_F16, 2, p2a);
    all_perms(ctx, VKG_F16, 3, p3a);
    all_perms(ctx, VKG_F16, 4, p4b);
    some_perms(ctx, VKG_F16, 6, p6a, 3);
  }

  /* concat: 1, 2 and 3 inputs along every axis of a 3-D shape (sizes 1, 7, 13 in turn) */
  static const int sizes[3][3] = {{1, 7, 13}, {13, 1, 7}, {7, 13, 1}};
  for (int ax = -3; ax < 3; ax++)
    for (int n = 1; n <= 3; n++)
      for (int s = 0; s < 3; s++)
        check_concat(ctx, VKG_F32, n, 3, p3a, ax, sizes[s]);
  for (int ax = 0; ax < 3; ax++) {
    check_concat(ctx, VKG_I32, 3, 3, p3a, ax, sizes[ax]);
    if (fp16) check_concat(ctx, VKG_F16, 3, 3, p3a, ax, sizes[ax]);
    if (fp16) check_concat(ctx, VKG_F16, 2, 3, p3a, ax, (int[]){1, 1}); /* odd f16 runs */
  }
  check_concat(ctx, VKG_F32, 3, 1, p1, 0, (int[]){7, 13, 1});
  check_concat(ctx, VKG_F32, 3, 2, (int[]){127, 1}, -1, (int[]){1000, 3, 1});
  check_concat(ctx, VKG_F32, 2, 2, (int[]){1, 127}, 0, (int[]){1000, 3});
  check_concat(ctx, VKG_I32, 2, 6, p6a, 3, (int[]){2, 3});
  check_concat(ctx, VKG_F32, 3, 6, p6b, -1, (int[]){1, 7, 13});
  {
    /* The same tensor twice. */
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    vkg_t x = vkg_input(g, "x", VKG_F32, 2, p2a), y = vkg_concat(g, 2, (vkg_t[]){x, x}, 1);
    vkg_output(g, y);
    uint32_t *d = rand_words(VKG_F32, 91), got[182], ref[182];
    if (run(g, 1, &x, &d, y, got, 182, "concat (x, x) along 1")) {
      ref_concat(ref, 2, (const uint32_t *const[]){d, d}, (const int[][VKG_MAX_DIMS]){{7, 13}, {7, 13}}, 2, 1);
      same_words("concat (x, x) along 1", got, ref, 182);
    }
    free(d);
    vkg_graph_destroy(g);
  }

  /* slice: every axis (also negative) of a 3-D shape, edges and negative bounds */
  for (int ax = -3; ax < 3; ax++)
    slices_of(ctx, VKG_F32, 3, p3a, ax);
  for (int ax = 0; ax < 3; ax++) {
    slices_of(ctx, VKG_I32, 3, p3a, ax);
    if (fp16) slices_of(ctx, VKG_F16, 3, p3a, ax);
  }
  slices_of(ctx, VKG_F32, 1, p1, 0);
  check_slice(ctx, VKG_F32, 2, (int[]){300, 1000}, 1, 17, 999);
  check_slice(ctx, VKG_F32, 2, (int[]){300, 1000}, 0, -100, 300);
  check_slice(ctx, VKG_I32, 6, p6b, 4, 1, 2);
  /* Over 65535 * 256 elements: the copies spread over (x, y) workgroups. */
  check_slice(ctx, VKG_F32, 1, (int[]){16800000}, 0, 1, -1);
  check_permute(ctx, VKG_I32, 2, (int[]){4100, 4100}, (int[]){1, 0});
  check_slice(ctx, VKG_F32, 6, p6b, -1, -4, -1);

  /* cast */
  if (fp16) {
    cast_all_f16(ctx);
    cast_f32_patterns(ctx);
    cast_views(ctx);
  }

  grad_checks(ctx);
  chain(ctx);
  views_other_dtypes(ctx);
  bad_args(ctx);
  return th_finish(ctx);
}
