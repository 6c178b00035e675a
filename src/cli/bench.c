/* vkgen bench ops: GPU time of each op at a few sizes, as GFLOP/s (compute-bound ops) or GB/s
 * (memory-bound ops). Each case is a graph holding that one op, compiled once and replayed; the time
 * is the median of several runs, from GPU timestamps where the device has them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "peak.h"

/* A case builds its op into g and says how much work one run does. */
struct bench_case {
  const char *op;
  char shape[64];
  double flops, bytes; /* per run; flops 0 means report GB/s */
};

typedef int (*builder)(vkg_graph *g, int size, struct bench_case *c);

static vkg_t in(vkg_graph *g, int ndim, const int *shape) { return vkg_input(g, "x", VKG_F32, ndim, shape); }

static int b_matmul(vkg_graph *g, int n, struct bench_case *c) {
  int s[2] = {n, n};
  vkg_t y = vkg_matmul(g, in(g, 2, s), in(g, 2, s), VKG_NONE, 0);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "%dx%d @ %dx%d", n, n, n, n);
  c->flops = 2.0 * n * n * n;
  c->bytes = 3.0 * 4 * n * n;
  return y != VKG_NONE;
}

static int b_conv2d(vkg_graph *g, int n, struct bench_case *c) {
  int xs[4] = {n, 64, 28, 28}, ws[4] = {64, 64, 3, 3};
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  d.pad_h = d.pad_w = 1;
  vkg_t y = vkg_conv2d(g, in(g, 4, xs), in(g, 4, ws), VKG_NONE, &d);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "B=%d 64x28x28 k3 -> 64", n);
  c->flops = 2.0 * n * 64 * 28 * 28 * 64 * 9;
  c->bytes = 4.0 * (2.0 * n * 64 * 28 * 28 + 64 * 64 * 9);
  return y != VKG_NONE;
}

static int b_conv_t2d(vkg_graph *g, int n, struct bench_case *c) {
  int xs[4] = {n, 64, 14, 14}, ws[4] = {64, 32, 4, 4};
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  d.stride_h = d.stride_w = 2;
  d.pad_h = d.pad_w = 1;
  vkg_t y = vkg_conv_transpose2d(g, in(g, 4, xs), in(g, 4, ws), VKG_NONE, &d);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "B=%d 64x14x14 k4 s2 -> 32x28x28", n);
  c->flops = 2.0 * n * 64 * 14 * 14 * 32 * 16;
  c->bytes = 4.0 * (n * 64 * 14 * 14 + n * 32 * 28 * 28 + 64 * 32 * 16);
  return y != VKG_NONE;
}

static int b_conv1d(vkg_graph *g, int n, struct bench_case *c) {
  int xs[3] = {n, 64, 4096}, ws[3] = {64, 64, 2};
  vkg_t y = vkg_conv1d(g, in(g, 3, xs), in(g, 3, ws), VKG_NONE, 1, 0, 8, 1, 1);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "B=%d 64x4096 k2 dil8 causal", n);
  c->flops = 2.0 * n * 64 * 4096 * 64 * 2;
  c->bytes = 4.0 * 2 * n * 64 * 4096;
  return y != VKG_NONE;
}

static int b_attention(vkg_graph *g, int t, struct bench_case *c) {
  int s[4] = {4, 8, t, 64};
  vkg_t y = vkg_attention(g, in(g, 4, s), in(g, 4, s), in(g, 4, s), 0, 1);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "B=4 NH=8 T=%d D=64 causal", t);
  c->flops = 4.0 * 4 * 8 * (double)t * t * 64 / 2; /* QK^T and PV, half masked */
  c->bytes = 4.0 * 4 * 4 * 8 * t * 64;
  return y != VKG_NONE;
}

static int b_layernorm(vkg_graph *g, int rows, struct bench_case *c) {
  int s[2] = {rows, 768}, p[1] = {768};
  vkg_t y = vkg_layernorm(g, in(g, 2, s), in(g, 1, p), in(g, 1, p), 1e-5f);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "%dx768", rows);
  c->bytes = 2.0 * 4 * rows * 768;
  return y != VKG_NONE;
}

static int b_batchnorm(vkg_graph *g, int n, struct bench_case *c) {
  int s[4] = {n, 64, 28, 28}, p[1] = {64};
  vkg_t y = vkg_batchnorm(g, in(g, 4, s), in(g, 1, p), in(g, 1, p), VKG_NONE, VKG_NONE, 0.1f, 1e-5f, 1);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "B=%d 64x28x28 train", n);
  c->bytes = 3.0 * 4 * n * 64 * 28 * 28; /* read for stats, read and write to normalize */
  return y != VKG_NONE;
}

static int b_softmax(vkg_graph *g, int v, struct bench_case *c) {
  int s[2] = {64, v};
  vkg_t y = vkg_softmax(g, in(g, 2, s));
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "64x%d", v);
  c->bytes = 2.0 * 4 * 64 * v;
  return y != VKG_NONE;
}

static int b_embedding(vkg_graph *g, int n, struct bench_case *c) {
  int ts[2] = {50257, 768}, is[1] = {n};
  vkg_t y = vkg_embedding(g, in(g, 2, ts), vkg_input(g, "ids", VKG_I32, 1, is));
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "%d ids, 50257x768", n);
  c->bytes = 2.0 * 4 * n * 768;
  return y != VKG_NONE;
}

static int b_binary(vkg_graph *g, int n, struct bench_case *c) {
  int s[1] = {n};
  vkg_t y = vkg_binary(g, VKG_ADD, in(g, 1, s), in(g, 1, s));
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "%d", n);
  c->bytes = 3.0 * 4 * n;
  return y != VKG_NONE;
}

static int b_unary(vkg_graph *g, int n, struct bench_case *c) {
  int s[1] = {n};
  vkg_t y = vkg_unary(g, VKG_GELU, in(g, 1, s), 0, 0);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "gelu %d", n);
  c->bytes = 2.0 * 4 * n;
  return y != VKG_NONE;
}

static int b_reduce(vkg_graph *g, int n, struct bench_case *c) {
  int s[2] = {n, 4096};
  vkg_t y = vkg_reduce(g, VKG_REDUCE_SUM, in(g, 2, s), -1, 0);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "sum %dx4096 over last", n);
  c->bytes = 4.0 * n * 4096;
  return y != VKG_NONE;
}

static int b_permute(vkg_graph *g, int t, struct bench_case *c) {
  int s[4] = {8, t, 12, 64}, perm[4] = {0, 2, 1, 3};
  vkg_t y = vkg_permute(g, in(g, 4, s), perm);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "(8,%d,12,64) -> (0,2,1,3)", t);
  c->bytes = 2.0 * 4 * 8 * t * 12 * 64;
  return y != VKG_NONE;
}

static int b_concat(vkg_graph *g, int n, struct bench_case *c) {
  int s[2] = {n, 1024};
  vkg_t xs[2] = {in(g, 2, s), in(g, 2, s)};
  vkg_t y = vkg_concat(g, 2, xs, 1);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "2 x %dx1024 on axis 1", n);
  c->bytes = 4.0 * 4 * n * 1024;
  return y != VKG_NONE;
}

static int b_random(vkg_graph *g, int n, struct bench_case *c) {
  int s[1] = {n};
  vkg_t y = vkg_random_normal(g, 1, s, vkg_scalar(g, "seed"), 0, 1);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "normal %d", n);
  c->bytes = 4.0 * n;
  return y != VKG_NONE;
}

static int b_sample(vkg_graph *g, int b, struct bench_case *c) {
  int s[2] = {b, 50257};
  vkg_t y =
      vkg_sample_logits(g, in(g, 2, s), vkg_scalar(g, "seed"), vkg_scalar(g, "temperature"), vkg_scalar(g, "top_k"));
  vkg_graph_set_f32(g, vkg_scalar(g, "temperature"), 0.8f);
  vkg_graph_set_u32(g, vkg_scalar(g, "top_k"), 40);
  vkg_output(g, y);
  snprintf(c->shape, sizeof c->shape, "%dx50257 top-k 40", b);
  c->bytes = 4.0 * b * 50257;
  return y != VKG_NONE;
}

static const struct {
  const char *op;
  builder build;
  int sizes[3];
} cases[] = {
    {"matmul", b_matmul, {128, 512, 1024}},
    {"conv2d", b_conv2d, {1, 8, 32}},
    {"conv_transpose2d", b_conv_t2d, {1, 8, 32}},
    {"conv1d", b_conv1d, {1, 4, 8}},
    {"attention", b_attention, {64, 256, 1024}},
    {"layernorm", b_layernorm, {64, 1024, 8192}},
    {"batchnorm", b_batchnorm, {1, 8, 32}},
    {"softmax", b_softmax, {1024, 8192, 50257}},
    {"embedding", b_embedding, {64, 1024, 8192}},
    {"binary", b_binary, {1 << 16, 1 << 20, 1 << 24}},
    {"unary", b_unary, {1 << 16, 1 << 20, 1 << 24}},
    {"reduce", b_reduce, {16, 256, 2048}},
    {"permute", b_permute, {64, 256, 1024}},
    {"concat", b_concat, {64, 1024, 8192}},
    {"random", b_random, {1 << 16, 1 << 20, 1 << 24}},
    {"sample", b_sample, {1, 16, 64}},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Runs one case: returns the median milliseconds of `reps` timed runs after a warm-up, or < 0. */
static double run_case(vkg_ctx *ctx, int i, int size, struct bench_case *c) {
  vkg_graph *g;
  if (vkg_graph_create(ctx, &g)) return -1;
  c->op = cases[i].op;
  c->flops = c->bytes = 0;
  double ms = -1;
  if (cases[i].build(g, size, c) && vkg_graph_compile(g) == VKG_OK && vkg_graph_run(g) == VKG_OK) {
    double t[5];
    int reps = 5, ok = 1;
    for (int r = 0; r < reps && ok; r++)
      ok = vkg_graph_run_timed(g, &t[r]) == VKG_OK;
    if (ok) {
      qsort(t, (size_t)reps, sizeof t[0], cmp_double);
      ms = t[reps / 2];
    }
  }
  vkg_graph_destroy(g);
  return ms;
}

int cmd_bench(int argc, char **argv) {
  struct cli_common c = {0};
  const char *what = NULL, *only = NULL;
  int quick = 0, no_peak = 0;
  for (int i = 1; i < argc; i++) {
    int used = cli_common_opt(&c, argc, argv, i); /* --device, --watch */
    if (used < 0) return 1;
    if (used)
      i += used - 1;
    else if (!strcmp(argv[i], "--json"))
      c.json = 1;
    else if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--no-peak"))
      no_peak = 1;
    else if (!strcmp(argv[i], "--op") && i + 1 < argc)
      only = argv[++i];
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      puts("usage: vkgen bench ops [--op NAME] [--quick] [--no-peak] [--json] [--device D] [--watch [DIR]]\n"
           "       vkgen bench peak [--json] [--device D]\n\n"
           "bench ops times each op at three sizes on the device (median of 5 runs, GPU timestamps where\n"
           "available) and prints GFLOP/s for compute-bound ops, GB/s for memory-bound ones, each also as\n"
           "a fraction of the device's peak (FMA throughput, copy bandwidth) measured first.\n"
           "bench peak measures only those peaks.\n"
           "  --op NAME   only this op (matmul, conv2d, attention, softmax, ...)\n"
           "  --quick     only the smallest size of each op\n"
           "  --no-peak   skip measuring the peaks (no fractions printed)\n"
           "  --json      one JSON array instead of a table\n"
           "  --watch [DIR]  compile shaders from DIR and hot-reload them when edited");
      return 0;
    } else if (argv[i][0] != '-' && !what)
      what = argv[i];
    else
      return cli_error("bench: unknown option '%s' (see 'vkgen bench --help')", argv[i]);
  }
  if (what && !strcmp(what, "peak")) {
    vkg_ctx *ctx = cli_ctx(&c);
    return ctx ? cli_ctx_done(ctx, bench_peak_cmd(ctx, c.json)) : 1;
  }
  if (!what || strcmp(what, "ops") != 0)
    return cli_error("bench: say what to time: 'vkgen bench ops' or 'vkgen bench peak' (got '%s')", what ? what : "");
  int found = !only;
  for (int i = 0; i < NCASES && !found; i++)
    found = !strcmp(cases[i].op, only);
  if (!found) return cli_error("bench: no op named '%s' (see 'vkgen bench --help')", only);
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  const struct vkg_device_info *dev = vkg_ctx_device(ctx);
  struct bench_peak peak = {0};
  if (!no_peak && bench_peak_measure(ctx, &peak)) return cli_ctx_done(ctx, cli_vkg_error("bench peak"));
  if (c.json)
    printf("{\"device\": \"%s\", \"fma_gflops\": %.3f, \"copy_gbs\": %.3f, \"results\": [", dev->name, peak.fma_gflops,
           peak.copy_gbs);
  else
    printf("device: %s (%s timing); peaks: %.2f GFLOP/s FMA, %.2f GB/s copy\n%-18s %-34s %10s %12s %12s\n", dev->name,
           dev->timestamps ? "GPU timestamp" : "wall-clock", peak.fma_gflops, peak.copy_gbs, "op", "shape", "ms",
           "throughput", "of peak");
  int first = 1, failures = 0;
  for (int i = 0; i < NCASES; i++) {
    if (only && strcmp(cases[i].op, only)) continue;
    for (int k = 0; k < (quick ? 1 : 3); k++) {
      struct bench_case bc;
      double ms = run_case(ctx, i, cases[i].sizes[k], &bc);
      if (ms < 0) {
        fprintf(stderr, "error: bench %s %s: %s\n", cases[i].op, bc.shape, vkg_last_error());
        failures++;
        continue;
      }
      double gflops = bc.flops / (ms * 1e6), gbs = bc.bytes / (ms * 1e6);
      /* Fraction of the roof that bounds the case: FMA for compute-bound ops, copy for the rest. */
      double fma_frac = peak.fma_gflops > 0 ? gflops / peak.fma_gflops : 0;
      double copy_frac = peak.copy_gbs > 0 ? gbs / peak.copy_gbs : 0;
      if (c.json)
        printf("%s\n  {\"op\": \"%s\", \"shape\": \"%s\", \"ms\": %.4f, \"gflops\": %.3f, \"gbs\": %.3f, "
               "\"fma_peak_frac\": %.4f, \"copy_peak_frac\": %.4f}",
               first ? "" : ",", bc.op, bc.shape, ms, bc.flops ? gflops : 0.0, gbs, bc.flops ? fma_frac : 0.0,
               copy_frac);
      else if (bc.flops)
        printf("%-18s %-34s %10.3f %8.2f GFLOP/s %11.1f%%\n", bc.op, bc.shape, ms, gflops, 100 * fma_frac);
      else
        printf("%-18s %-34s %10.3f %8.2f GB/s    %11.1f%%\n", bc.op, bc.shape, ms, gbs, 100 * copy_frac);
      fflush(stdout);
      first = 0;
    }
  }
  if (c.json) printf("\n]}\n");
  return cli_ctx_done(ctx, failures ? 1 : 0);
}
