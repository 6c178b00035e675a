/* vkgen bench peak: the device's fp32 FMA throughput and its copy bandwidth, each measured by a
 * shader (shaders/peak_fma.comp, peak_copy.comp) run as a one-dispatch graph. These are the roofs of
 * the roofline: 'vkgen bench ops' prints every case's throughput as a fraction of them (compute-bound
 * cases of the FMA peak, memory-bound ones of the copy bandwidth).
 *
 * Each measurement first runs a small problem to estimate the speed, then sizes the real one to take
 * about 100 ms, and keeps the best of three timed runs (noise on a shared machine only slows a run). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "internal.h"
#include "peak.h"

struct peak_fma_pc {
  uint32_t iters;
  float m, c;
};
struct peak_copy_pc {
  uint32_t n4;
};

/* Builds, compiles and times one dispatch of the peak shader `shader`; returns the best of `reps`
 * timed runs in milliseconds, or < 0 on failure (the library's last error says why). */
static double time_one(vkg_ctx *ctx, int fma, uint32_t groups, uint32_t wg, uint32_t arg, int reps) {
  vkg_graph *g;
  if (vkg_graph_create(ctx, &g)) return -1;
  double best = -1;
  vkg__begin(g, fma ? "peak_fma" : "peak_copy");
  int n[1] = {(int)(groups * wg * (fma ? 1 : 4))};
  vkg_t src = fma ? VKG_NONE : vkg_input(g, "src", VKG_F32, 1, n);
  vkg_t out = vkg__new(g, VKG_F32, 1, n);
  uint32_t gx, gy, spec[3] = {wg, 1, 1};
  vkg__grid1d((uint64_t)groups * wg, wg, &gx, &gy);
  int bad = out < 0;
  if (!bad && fma) {
    struct peak_fma_pc pc = {arg, 0.999f, 1e-3f};
    bad = vkg__dispatch(g, "peak_fma", spec, 3, 1, &out, 1u, &pc, sizeof pc, gx, gy, 1);
  } else if (!bad) {
    struct peak_copy_pc pc = {groups * wg};
    vkg_t bind[2] = {src, out};
    bad = vkg__dispatch(g, "peak_copy", spec, 3, 2, bind, 2u, &pc, sizeof pc, gx, gy, 1);
  }
  if (!bad) {
    vkg__node_io(g, fma ? 0 : 1, &src, 1, &out, NULL, 0, NULL);
    vkg_output(g, out);
  }
  if (!bad && vkg_graph_compile(g) == VKG_OK && vkg_graph_run(g) == VKG_OK) {
    for (int r = 0; r < reps; r++) {
      double ms;
      if (vkg_graph_run_timed(g, &ms) != VKG_OK) {
        best = -1;
        break;
      }
      if (best < 0 || ms < best) best = ms;
    }
  }
  vkg_graph_destroy(g);
  return best;
}

int bench_peak_measure(vkg_ctx *ctx, struct bench_peak *p) {
  const struct vkg_device_info *dev = vkg_ctx_device(ctx);
  int cpu = !strcmp(dev->type, "cpu");
  memset(p, 0, sizeof *p);
  /* FMA: enough invocations to fill every core (a CPU device) or every SM several times (a GPU). */
  uint32_t wg = 64, groups = cpu ? 256 : 8192, iters = 16;
  double flops_per_iter = (double)groups * wg * 16 * 8 * 4 * 2;
  double ms = time_one(ctx, 1, groups, wg, iters, 1);
  if (ms < 0) return 1;
  double want = iters * 100.0 / (ms > 1e-3 ? ms : 1e-3);
  iters = want > 60000 ? 60000 : want < 16 ? 16 : (uint32_t)want;
  ms = time_one(ctx, 1, groups, wg, iters, 3);
  if (ms < 0) return 1;
  p->fma_gflops = flops_per_iter * iters / (ms * 1e6);
  /* Copy: vec4 per invocation, sized to ~100 ms but within a quarter of device memory (and one
   * storage buffer's range). */
  uint32_t n4 = 1u << 20;
  ms = time_one(ctx, 0, n4 / wg, wg, 0, 1);
  if (ms < 0) return 1;
  double bytes = 2.0 * 16 * n4, want_bytes = bytes * 100.0 / (ms > 1e-3 ? ms : 1e-3);
  double cap = fmin((double)dev->device_memory / 8, 1024.0 * 1024 * 1024);
  if (want_bytes > cap) want_bytes = cap;
  while (2.0 * 16 * n4 * 2 <= want_bytes && n4 < (1u << 26))
    n4 *= 2;
  ms = time_one(ctx, 0, n4 / wg, wg, 0, 3);
  if (ms < 0) return 1;
  p->copy_gbs = 2.0 * 16 * n4 / (ms * 1e6);
  p->copy_bytes = 2.0 * 16 * n4;
  return 0;
}

int bench_peak_cmd(vkg_ctx *ctx, int json) {
  struct bench_peak p;
  if (bench_peak_measure(ctx, &p)) return cli_vkg_error("bench peak");
  const struct vkg_device_info *dev = vkg_ctx_device(ctx);
  if (json)
    printf("{\"device\": \"%s\", \"fma_gflops\": %.3f, \"copy_gbs\": %.3f, \"copy_bytes\": %.0f}\n", dev->name,
           p.fma_gflops, p.copy_gbs, p.copy_bytes);
  else
    printf("device: %s\nfp32 FMA peak   %10.2f GFLOP/s  (vec4 FMA chains)\ncopy bandwidth  %10.2f GB/s     "
           "(vec4 copy, %.0f MiB read + written)\n",
           dev->name, p.fma_gflops, p.copy_gbs, p.copy_bytes / (1024.0 * 1024));
  return 0;
}
