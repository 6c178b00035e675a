/* random_uniform / random_normal against the plain-C Philox reference: known-answer vectors, bit-exact
 * uniforms on awkward shapes, seeds changed per run through a scalar, separate streams for separate
 * ops, normals within 1e-5 of a double-precision Box-Muller, and sample statistics. Stream ids are
 * handed out in op creation order, so the first random op of a graph has stream 0, the next 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "check/ref_random.h"

/* Bit-for-bit equality of n floats; prints the first difference. */
static int same_bits(const char *what, const float *got, const float *ref, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (memcmp(&got[i], &ref[i], sizeof(float)) != 0)
      return th_check(0, "%s: element %zu of %zu is %.9g, reference %.9g", what, i, n, got[i], ref[i]);
  return th_check(1, "%s: all %zu values bit-exact", what, n);
}

static int differ(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) != 0; }

// ---- Philox known answers (Random123's kat_vectors, philox4x32 10 lines) ----

static void known_answers(void) {
  static const uint32_t kat[3][10] = {
      {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
       0x6d5451fd},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
       0x24126ea1},
  };
  for (int v = 0; v < 3; v++) {
    uint32_t out[4];
    ref_philox4x32_10(kat[v], kat[v] + 4, out);
    th_check(memcmp(out, kat[v] + 6, sizeof out) == 0, "Philox4x32-10 known answer %d: %08x %08x %08x %08x", v, out[0],
             out[1], out[2], out[3]);
  }
}

// ---- uniform: exact bits on awkward shapes, default and scalar seeds ----

static void uniform_exact(vkg_ctx *ctx, int ndim, const int *shape, int use_seed, uint32_t seed, float lo, float hi) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int slot = use_seed ? vkg_scalar(g, "seed") : -1;
  vkg_t u = vkg_random_uniform(g, ndim, shape, slot, lo, hi);
  vkg_output(g, u);
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)shape[i];
  char what[160];
  snprintf(what, sizeof what, "uniform n=%zu ndim=%d seed=%s%u [%g, %g)", n, ndim, use_seed ? "" : "default ",
           use_seed ? seed : 0u, lo, hi);
  if (use_seed) vkg_graph_set_u32(g, slot, seed);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_run(g), what)) {
    float *got = th_alloc(n), *ref = th_alloc(n);
    th_ok(vkg_graph_read(g, u, got, n), what);
    ref_random_uniform(ref, n, use_seed ? seed : 0u, 0, lo, hi);
    if (same_bits(what, got, ref, n)) {
      int inside = 1;
      for (size_t i = 0; i < n; i++)
        inside &= got[i] >= lo && got[i] < hi;
      th_check(inside, "%s: every value in [lo, hi)", what);
    }
    free(got);
    free(ref);
  }
  vkg_graph_destroy(g);
}

// ---- per-run seeds and streams ----

/* One graph, two uniforms and a normal on one seed slot: streams 0, 1, 2. Runs twice on one seed,
 * then on another seed without recompiling, then on the first again. */
static void seeds_and_streams(vkg_ctx *ctx) {
  const int shape[2] = {13, 77};
  const size_t n = 13 * 77;
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int slot = vkg_scalar(g, "seed");
  vkg_t a = vkg_random_uniform(g, 2, shape, slot, 0, 1);
  vkg_t b = vkg_random_uniform(g, 2, shape, slot, 0, 1);
  vkg_t c = vkg_random_normal(g, 2, shape, slot, 0, 1);
  vkg_output(g, a);
  vkg_output(g, b);
  vkg_output(g, c);
  if (!th_ok(vkg_graph_compile(g), "seeds graph")) {
    vkg_graph_destroy(g);
    return;
  }
  float *ga[4], *gb = th_alloc(n), *gc = th_alloc(n), *ref = th_alloc(n);
  const uint32_t seeds[4] = {7, 7, 0xdeadbeef, 7};
  for (int r = 0; r < 4; r++) {
    ga[r] = th_alloc(n);
    vkg_graph_set_u32(g, slot, seeds[r]);
    th_ok(th_run(g), "seeds run");
    vkg_graph_read(g, a, ga[r], n);
    vkg_graph_read(g, b, gb, n);
    vkg_graph_read(g, c, gc, n);
    char what[96];
    snprintf(what, sizeof what, "run %d seed %#x: op 1 (stream 0)", r, seeds[r]);
    ref_random_uniform(ref, n, seeds[r], 0, 0, 1);
    same_bits(what, ga[r], ref, n);
    snprintf(what, sizeof what, "run %d seed %#x: op 2 (stream 1)", r, seeds[r]);
    ref_random_uniform(ref, n, seeds[r], 1, 0, 1);
    same_bits(what, gb, ref, n);
    th_check(differ(ga[r], gb, n), "run %d: two uniform ops of one graph differ", r);
    snprintf(what, sizeof what, "run %d seed %#x: op 3 normal (stream 2)", r, seeds[r]);
    ref_random_normal(ref, n, seeds[r], 2, 0, 1);
    th_close(what, gc, ref, n, 1e-5f, 1e-5f);
  }
  th_check(!differ(ga[0], ga[1], n), "same seed, two runs: identical");
  th_check(differ(ga[1], ga[2], n), "new seed through vkg_graph_set_u32: different numbers");
  th_check(!differ(ga[0], ga[3], n), "the first seed again: the first numbers again");
  for (int r = 0; r < 4; r++)
    free(ga[r]);
  free(gb);
  free(gc);
  free(ref);
  vkg_graph_destroy(g);
}

// ---- normal: against the double-precision reference, and statistics ----

static void normal_ref(vkg_ctx *ctx, int ndim, const int *shape, uint32_t seed, float mean, float std) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int slot = vkg_scalar(g, "seed");
  vkg_t z = vkg_random_normal(g, ndim, shape, slot, mean, std);
  vkg_output(g, z);
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)shape[i];
  char what[128];
  snprintf(what, sizeof what, "normal n=%zu seed=%u mean=%g std=%g", n, seed, mean, std);
  vkg_graph_set_u32(g, slot, seed);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_run(g), what)) {
    float *got = th_alloc(n), *ref = th_alloc(n);
    th_ok(vkg_graph_read(g, z, got, n), what);
    ref_random_normal(ref, n, seed, 0, mean, std);
    /* |z| reaches ~5.7, so 1e-5 absolute on z scales with std. */
    th_close(what, got, ref, n, 1e-5f * (std > 1 ? std : 1), 1e-6f);
    free(got);
    free(ref);
  }
  vkg_graph_destroy(g);
}

static void statistics(vkg_ctx *ctx) {
  const int shape[1] = {100000};
  const size_t n = 100000;
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int slot = vkg_scalar(g, "seed");
  vkg_t u = vkg_random_uniform(g, 1, shape, slot, -1, 3);
  vkg_t z = vkg_random_normal(g, 1, shape, slot, 0.5f, 2.0f);
  vkg_output(g, u);
  vkg_output(g, z);
  vkg_graph_set_u32(g, slot, 2024);
  if (th_ok(vkg_graph_compile(g), "stats") && th_ok(th_run(g), "stats")) {
    float *gu = th_alloc(n), *gz = th_alloc(n);
    vkg_graph_read(g, u, gu, n);
    vkg_graph_read(g, z, gz, n);
    double su = 0, su2 = 0, sz = 0, sz2 = 0, sz4 = 0;
    size_t within1 = 0;
    for (size_t i = 0; i < n; i++) {
      su += gu[i], su2 += (double)gu[i] * gu[i];
      double d = gz[i] - 0.5;
      sz += d, sz2 += d * d, sz4 += d * d * d * d;
      within1 += fabs(d) < 2.0;
    }
    double mu = su / n, vu = su2 / n - mu * mu, mz = sz / n + 0.5, vz = sz2 / n - (sz / n) * (sz / n);
    /* 4-sigma bounds. Uniform on [-1, 3): mean 1, var 16/12, var of the sample variance (m4 - var^2)/n
     * with m4 = 4^4/80. Normal(0.5, 2): the sample mean has sd 2/sqrt(n), the sample sd about
     * 2/sqrt(2n); P(|z - mean| < std) = 0.682689 with sd sqrt(p(1-p)/n). */
    double var_u = 16.0 / 12, m4_u = 256.0 / 80;
    th_check(fabs(mu - 1) < 4 * sqrt(var_u / n), "uniform [-1, 3) mean %.5f (want 1 +- %.4f)", mu, 4 * sqrt(var_u / n));
    th_check(fabs(vu - var_u) < 4 * sqrt((m4_u - var_u * var_u) / n), "uniform variance %.5f (want %.5f +- %.4f)", vu,
             var_u, 4 * sqrt((m4_u - var_u * var_u) / n));
    th_check(fabs(mz - 0.5) < 4 * 2 / sqrt(n), "normal mean %.5f (want 0.5 +- %.4f)", mz, 4 * 2 / sqrt(n));
    th_check(fabs(sqrt(vz) - 2) < 4 * 2 / sqrt(2.0 * n), "normal std %.5f (want 2 +- %.4f)", sqrt(vz),
             4 * 2 / sqrt(2.0 * n));
    double k4 = sz4 / n / (vz * vz); /* kurtosis 3, sd about sqrt(24/n) */
    th_check(fabs(k4 - 3) < 4 * sqrt(24.0 / n), "normal kurtosis %.4f (want 3 +- %.4f)", k4, 4 * sqrt(24.0 / n));
    double p1 = 0.682689492137, f1 = (double)within1 / n;
    th_check(fabs(f1 - p1) < 4 * sqrt(p1 * (1 - p1) / n), "normal: fraction within one std %.5f (want %.5f)", f1, p1);
    free(gu);
    free(gz);
  }
  vkg_graph_destroy(g);
}

// ---- bad arguments ----

static void errors(vkg_ctx *ctx) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int bad[2] = {4, 0};
  vkg_t t = vkg_random_uniform(g, 2, bad, -1, 0, 1);
  th_check(t == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_SHAPE, "a dim of 0 is a shape error: %s", vkg_last_error());
  vkg_graph_destroy(g);

  vkg_graph_create(ctx, &g);
  int s[1] = {5};
  t = vkg_random_normal(g, 1, s, 3, 0, 1);
  th_check(t == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_ARG, "a seed slot that does not exist: %s",
           vkg_last_error());
  vkg_graph_destroy(g);

  vkg_graph_create(ctx, &g);
  t = vkg_random_uniform(g, 1, s, -1, 2, 1);
  th_check(t == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_ARG, "lo > hi: %s", vkg_last_error());
  vkg_graph_destroy(g);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  known_answers();
  static const int sizes[] = {1, 7, 13, 127, 100003};
  for (int i = 0; i < 5; i++) {
    uniform_exact(ctx, 1, &sizes[i], 0, 0, 0, 1);
    uniform_exact(ctx, 1, &sizes[i], 1, 0x9e3779b9u + (uint32_t)i, -2.5f, 3.0f);
    normal_ref(ctx, 1, &sizes[i], 11u + (uint32_t)i, 0, 1);
  }
  const int s3[3] = {3, 5, 7};
  uniform_exact(ctx, 3, s3, 1, 42, -1e-3f, 1e-3f);
  normal_ref(ctx, 3, s3, 42, -3, 2.5f);
  normal_ref(ctx, 1, &sizes[4], 99, 10, 0.01f);
  seeds_and_streams(ctx);
  statistics(ctx);
  errors(ctx);
  return th_finish(ctx);
}
