/* vkgen selfcheck: runs every op family once on the chosen device and compares each result with a
 * small plain-C computation, so a user can see in a second whether a driver computes correctly. */
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
static void fill(float *x, int n) {
  for (int i = 0; i < n; i++)
    x[i] = frand();
}

struct check {
  const char *name;
  double max_err;
  int ok;
};
static struct check results[32];
static int nresults;

/* Records got vs ref: |err| <= atol + rtol |ref| everywhere. */
static void compare(const char *name, const float *got, const double *ref, int n, double atol, double rtol) {
  struct check c = {name, 0, 1};
  for (int i = 0; i < n; i++) {
    double e = fabs((double)got[i] - ref[i]);
    if (!(e <= atol + rtol * fabs(ref[i]))) c.ok = 0;
    if (!(e <= c.max_err)) c.max_err = isnan(e) ? INFINITY : e;
  }
  results[nresults++] = c;
}

/* A graph with inputs x[0..nin) of the given shapes and one op; returns 0 on any failure. */
struct one {
  vkg_graph *g;
  vkg_t in[3], out;
};
static int build(vkg_ctx *ctx, struct one *o, int nin, const int ndim[], const int shapes[][4]) {
  if (vkg_graph_create(ctx, &o->g)) return 0;
  for (int i = 0; i < nin; i++)
    o->in[i] = vkg_input(o->g, "x", VKG_F32, ndim[i], shapes[i]);
  return 1;
}
static int run(struct one *o, int nin, float *const *data, const int *counts, float *out, int nout) {
  vkg_output(o->g, o->out);
  int ok = vkg_graph_compile(o->g) == VKG_OK;
  for (int i = 0; ok && i < nin; i++)
    ok = vkg_graph_write(o->g, o->in[i], data[i], (size_t)counts[i]) == VKG_OK;
  ok = ok && vkg_graph_run(o->g) == VKG_OK && vkg_graph_read(o->g, o->out, out, (size_t)nout) == VKG_OK;
  vkg_graph_destroy(o->g);
  return ok;
}

// ---- the checks: small awkward shapes, references written out plainly ----

static int check_matmul(vkg_ctx *ctx) {
  enum { M = 37, K = 29, N = 23 };
  static float a[M * K], b[K * N], bias[N], got[M * N];
  static double ref[M * N];
  fill(a, M * K), fill(b, K * N), fill(bias, N);
  struct one o;
  const int nd[3] = {2, 2, 1}, sh[3][4] = {{M, K}, {K, N}, {N}};
  if (!build(ctx, &o, 3, nd, sh)) return 0;
  o.out = vkg_unary(o.g, VKG_TANH, vkg_matmul(o.g, o.in[0], o.in[1], o.in[2], 0), 0, 0);
  float *d[3] = {a, b, bias};
  int cnt[3] = {M * K, K * N, N};
  if (!run(&o, 3, d, cnt, got, M * N)) return 0;
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double s = bias[n];
      for (int k = 0; k < K; k++)
        s += (double)a[m * K + k] * b[k * N + n];
      ref[m * N + n] = tanh(s);
    }
  compare("matmul + bias, tanh", got, ref, M * N, 1e-5, 1e-4);
  return 1;
}

static int check_conv(vkg_ctx *ctx) {
  enum { B = 2, C = 3, H = 9, W = 7, O = 5, K = 3 };
  static float x[B * C * H * W], w[O * C * K * K], got[B * O * 5 * 4];
  static double ref[B * O * 5 * 4];
  fill(x, B * C * H * W), fill(w, O * C * K * K);
  struct one o;
  const int nd[2] = {4, 4}, sh[2][4] = {{B, C, H, W}, {O, C, K, K}};
  if (!build(ctx, &o, 2, nd, sh)) return 0;
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  d.stride_h = d.stride_w = 2, d.pad_h = d.pad_w = 1; /* 9x7 -> 5x4 */
  o.out = vkg_conv2d(o.g, o.in[0], o.in[1], VKG_NONE, &d);
  float *dd[2] = {x, w};
  int cnt[2] = {B * C * H * W, O * C * K * K};
  if (!run(&o, 2, dd, cnt, got, B * O * 20)) return 0;
  for (int b = 0; b < B; b++)
    for (int oc = 0; oc < O; oc++)
      for (int oy = 0; oy < 5; oy++)
        for (int ox = 0; ox < 4; ox++) {
          double s = 0;
          for (int c = 0; c < C; c++)
            for (int ky = 0; ky < K; ky++)
              for (int kx = 0; kx < K; kx++) {
                int iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                  s += (double)x[((b * C + c) * H + iy) * W + ix] * w[((oc * C + c) * K + ky) * K + kx];
              }
          ref[((b * O + oc) * 5 + oy) * 4 + ox] = s;
        }
  compare("conv2d stride 2 pad 1", got, ref, B * O * 20, 1e-5, 1e-4);
  return 1;
}

static int check_softmax_layernorm(vkg_ctx *ctx) {
  enum { R = 5, N = 131 };
  static float x[R * N], got[R * N];
  static double ref[R * N];
  fill(x, R * N);
  for (int k = 0; k < 2; k++) {
    struct one o;
    const int nd[1] = {2}, sh[1][4] = {{R, N}};
    if (!build(ctx, &o, 1, nd, sh)) return 0;
    o.out = k == 0 ? vkg_softmax(o.g, o.in[0]) : vkg_layernorm(o.g, o.in[0], VKG_NONE, VKG_NONE, 1e-5f);
    float *d[1] = {x};
    int cnt[1] = {R * N};
    if (!run(&o, 1, d, cnt, got, R * N)) return 0;
    for (int r = 0; r < R; r++) {
      const float *row = x + r * N;
      double mx = -INFINITY, sum = 0, mean = 0, var = 0;
      for (int i = 0; i < N; i++)
        mx = fmax(mx, row[i]), mean += row[i] / (double)N;
      for (int i = 0; i < N; i++)
        sum += exp(row[i] - mx), var += (row[i] - mean) * (row[i] - mean) / N;
      for (int i = 0; i < N; i++)
        ref[r * N + i] = k == 0 ? exp(row[i] - mx) / sum : (row[i] - mean) / sqrt(var + 1e-5);
    }
    compare(k == 0 ? "softmax" : "layernorm", got, ref, R * N, 1e-5, 1e-4);
  }
  return 1;
}

static int check_attention(vkg_ctx *ctx) {
  enum { T = 6, D = 8 };
  static float q[T * D], k[T * D], v[T * D], got[T * D];
  static double ref[T * D];
  fill(q, T * D), fill(k, T * D), fill(v, T * D);
  struct one o;
  const int nd[3] = {4, 4, 4}, sh[3][4] = {{1, 1, T, D}, {1, 1, T, D}, {1, 1, T, D}};
  if (!build(ctx, &o, 3, nd, sh)) return 0;
  o.out = vkg_attention(o.g, o.in[0], o.in[1], o.in[2], 0, 1);
  float *d[3] = {q, k, v};
  int cnt[3] = {T * D, T * D, T * D};
  if (!run(&o, 3, d, cnt, got, T * D)) return 0;
  for (int i = 0; i < T; i++) {
    double s[T], mx = -INFINITY, sum = 0;
    for (int j = 0; j <= i; j++) {
      s[j] = 0;
      for (int e = 0; e < D; e++)
        s[j] += (double)q[i * D + e] * k[j * D + e] / sqrt((double)D);
      mx = fmax(mx, s[j]);
    }
    for (int j = 0; j <= i; j++)
      sum += exp(s[j] - mx);
    for (int e = 0; e < D; e++) {
      double acc = 0;
      for (int j = 0; j <= i; j++)
        acc += exp(s[j] - mx) / sum * v[j * D + e];
      ref[i * D + e] = acc;
    }
  }
  compare("causal attention", got, ref, T * D, 1e-5, 1e-4);
  return 1;
}

static int check_reduce_permute(vkg_ctx *ctx) {
  enum { A = 3, B = 7, C = 5 };
  static float x[A * B * C], got[A * C * B];
  static double ref[A * C * B];
  fill(x, A * B * C);
  for (int k = 0; k < 2; k++) {
    struct one o;
    const int nd[1] = {3}, sh[1][4] = {{A, B, C}};
    if (!build(ctx, &o, 1, nd, sh)) return 0;
    int perm[3] = {0, 2, 1};
    o.out = k == 0 ? vkg_reduce(o.g, VKG_REDUCE_SUM, o.in[0], 1, 0) : vkg_permute(o.g, o.in[0], perm);
    float *d[1] = {x};
    int cnt[1] = {A * B * C}, n = k == 0 ? A * C : A * B * C;
    if (!run(&o, 1, d, cnt, got, n)) return 0;
    for (int a = 0; a < A; a++)
      for (int c = 0; c < C; c++) {
        double s = 0;
        for (int b = 0; b < B; b++) {
          s += x[(a * B + b) * C + c];
          if (k == 1) ref[(a * C + c) * B + b] = x[(a * B + b) * C + c];
        }
        if (k == 0) ref[a * C + c] = s;
      }
    compare(k == 0 ? "sum over a middle axis" : "permute", got, ref, n, 1e-5, 1e-5);
  }
  return 1;
}

/* Random numbers: in range and reproducible; greedy sampling picks the argmax. */
static int check_random(vkg_ctx *ctx) {
  enum { N = 4096, V = 37 };
  static float u1[N], u2[N], logits[3 * V];
  float tok[3];
  int32_t itok[3];
  double ref[3];
  for (int rep = 0; rep < 2; rep++) {
    vkg_graph *g;
    if (vkg_graph_create(ctx, &g)) return 0;
    int seed = vkg_scalar(g, "seed"), shape[1] = {N};
    vkg_t u = vkg_random_uniform(g, 1, shape, seed, -2, 3);
    vkg_output(g, u);
    vkg_graph_set_u32(g, seed, 77);
    int ok = !vkg_graph_compile(g) && !vkg_graph_run(g) && !vkg_graph_read(g, u, rep ? u2 : u1, N);
    vkg_graph_destroy(g);
    if (!ok) return 0;
  }
  struct check c = {"random uniform: range, same seed same numbers", 0, memcmp(u1, u2, sizeof u1) == 0};
  double mean = 0;
  for (int i = 0; i < N; i++) {
    c.ok &= u1[i] >= -2 && u1[i] < 3;
    mean += u1[i] / N;
  }
  c.ok &= fabs(mean - 0.5) < 0.1; /* 6 sigma of a mean of 4096 uniforms on [-2, 3) */
  c.max_err = fabs(mean - 0.5);
  results[nresults++] = c;

  fill(logits, 3 * V);
  vkg_graph *g;
  if (vkg_graph_create(ctx, &g)) return 0;
  int sh[2] = {3, V}, temp = vkg_scalar(g, "temperature");
  vkg_t l = vkg_input(g, "logits", VKG_F32, 2, sh);
  vkg_t t = vkg_sample_logits(g, l, vkg_scalar(g, "seed"), temp, -1);
  vkg_output(g, t);
  vkg_graph_set_f32(g, temp, 0); /* greedy */
  int ok = !vkg_graph_compile(g) && !vkg_graph_write(g, l, logits, 3 * V) && !vkg_graph_run(g) &&
           !vkg_graph_read_i32(g, t, itok, 3);
  vkg_graph_destroy(g);
  if (!ok) return 0;
  for (int r = 0; r < 3; r++)
    tok[r] = (float)itok[r];
  for (int r = 0; r < 3; r++) {
    int best = 0;
    for (int i = 1; i < V; i++)
      if (logits[r * V + i] > logits[r * V + best]) best = i;
    ref[r] = best;
  }
  compare("greedy sampling = argmax", tok, ref, 3, 0, 0);
  return 1;
}

int cmd_selfcheck(int argc, char **argv) {
  struct cli_common c = {0};
  for (int i = 1; i < argc;) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      puts("usage: vkgen selfcheck [--device D]\n\nRuns each op family once on the device and compares it with a "
           "plain-C computation;\nexits non-zero if any differs.");
      return 0;
    }
    int used = cli_common_opt(&c, argc, argv, i);
    if (used < 0) return 1;
    if (used == 0) return cli_error("selfcheck: unknown option '%s'", argv[i]);
    i += used;
  }
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  int (*checks[])(vkg_ctx *) = {check_matmul,    check_conv,           check_softmax_layernorm,
                                check_attention, check_reduce_permute, check_random};
  for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
    if (!checks[i](ctx)) {
      cli_vkg_error("selfcheck");
      return cli_ctx_done(ctx, 1);
    }
  printf("device: %s\n", vkg_ctx_device(ctx)->name);
  int fails = 0;
  for (int i = 0; i < nresults; i++) {
    printf("  %-46s %s  (max error %.2g)\n", results[i].name, results[i].ok ? "ok  " : "FAIL", results[i].max_err);
    fails += !results[i].ok;
  }
  printf("selfcheck: %d of %d checks match the reference\n", nresults - fails, nresults);
  return cli_ctx_done(ctx, fails ? 1 : 0);
}
