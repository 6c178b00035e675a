/* vkgen selfcheck: runs ops on the chosen device and compares each with a plain-C computation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static uint32_t rng_state = 12345;
static float frand(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return (float)(rng_state >> 8) / 16777216.0f * 2.0f - 1.0f;
}

struct check {
  const char *name;
  double max_err;
  int ok;
};

/* Compares got with ref; |err| <= atol + rtol |ref| everywhere. */
static struct check compare(const char *name, const float *got, const float *ref, size_t n, double atol, double rtol) {
  struct check c = {name, 0, 1};
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)got[i] - ref[i]);
    if (!(e <= atol + rtol * fabs(ref[i]))) c.ok = 0;
    if (e > c.max_err || isnan(e)) c.max_err = isnan(e) ? INFINITY : e;
  }
  return c;
}

int cmd_selfcheck(int argc, char **argv) {
  struct cli_common c = {0};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--device") && i + 1 < argc) c.device = argv[++i];
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      puts("usage: vkgen selfcheck [--device D]\n\nRuns each op once on the device and compares it with a plain-C "
           "computation;\nexits non-zero if any differs.");
      return 0;
    } else return cli_error("selfcheck: unknown option '%s'", argv[i]);
  }
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  enum { M = 37, K = 29, N = 23 };
  static float a[M * K], b[K * N], bias[N], got[M * N], ref[M * N];
  for (int i = 0; i < M * K; i++) a[i] = frand();
  for (int i = 0; i < K * N; i++) b[i] = frand();
  for (int i = 0; i < N; i++) bias[i] = frand();

  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int sa[2] = {M, K}, sb[2] = {K, N}, sc[1] = {N};
  vkg_t A = vkg_input(g, "a", VKG_F32, 2, sa), B = vkg_input(g, "b", VKG_F32, 2, sb), C = vkg_input(g, "bias", VKG_F32, 1, sc);
  vkg_t mm = vkg_matmul(g, A, B, C, 0);
  vkg_t act = vkg_unary(g, VKG_TANH, mm, 0, 0);
  vkg_t sum = vkg_binary(g, VKG_ADD, act, C);
  vkg_output(g, mm);
  vkg_output(g, sum);
  struct check res[8];
  int nres = 0, fails = 0;
  if (vkg_graph_compile(g) || vkg_graph_write(g, A, a, M * K) || vkg_graph_write(g, B, b, K * N) ||
      vkg_graph_write(g, C, bias, N) || vkg_graph_run(g)) {
    vkg_graph_destroy(g);
    vkg_ctx_destroy(ctx);
    return cli_vkg_error("selfcheck");
  }
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double s = bias[n];
      for (int k = 0; k < K; k++) s += (double)a[m * K + k] * b[k * N + n];
      ref[m * N + n] = (float)s;
    }
  vkg_graph_read(g, mm, got, M * N);
  res[nres++] = compare("matmul + bias", got, ref, M * N, 1e-5, 1e-4);
  for (int i = 0; i < M * N; i++) ref[i] = tanhf(ref[i]) + bias[i % N];
  vkg_graph_read(g, sum, got, M * N);
  res[nres++] = compare("tanh, broadcast add", got, ref, M * N, 1e-5, 1e-4);
  vkg_graph_destroy(g);

  printf("device: %s\n", vkg_ctx_device(ctx)->name);
  for (int i = 0; i < nres; i++) {
    printf("  %-24s %s  (max error %.2g)\n", res[i].name, res[i].ok ? "ok  " : "FAIL", res[i].max_err);
    fails += !res[i].ok;
  }
  printf("selfcheck: %d of %d ops match the reference\n", nres - fails, nres);
  return cli_ctx_done(ctx, fails ? 1 : 0);
}
