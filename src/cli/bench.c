/* vkgen bench ops: GPU time of each op at a few sizes, as GFLOP/s (compute-bound ops) or GB/s
 * (memory-bound ops). The ops and their sizes are the op-case table's (src/check/op_cases.c). Each
 * case is a graph holding that one op, compiled once and replayed; the time is the median of several
 * runs, from GPU timestamps where the device has them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/op_cases.h"
#include "cli.h"
#include "peak.h"

/* Times one case: the median of 5 runs after a warm-up. A case the device cannot hold (a tensor over
 * its binding limit, or out of memory) is skipped with a note, not counted as a failure. Returns 1 if
 * timed, 0 if skipped, -1 on an error. */
static int time_case(vkg_ctx *ctx, const struct opc *c, double *ms, size_t *arena, char *why, size_t n) {
  struct opc_run r;
  vkg_status s = opc_run_init(&r, ctx, c, 1, 0);
  if (s == VKG_ERR_UNSUPPORTED || s == VKG_ERR_OOM) {
    snprintf(why, n, "%s", vkg_last_error());
    return 0;
  }
  if (!s) {
    struct vkg_graph_stats st;
    vkg_graph_stats(r.g, &st);
    *arena = st.arena_bytes;
    s = opc_run_time(&r, 5, ms);
    opc_run_release(&r);
  }
  if (s) snprintf(why, n, "%s", vkg_last_error());
  return s ? -1 : 1;
}

/* A string as a JSON string body (quotes and backslashes escaped, control characters dropped). */
static void json_str(const char *s) {
  for (; *s; s++)
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s >= 0x20)
      putchar(*s);
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
           "  --no-peak   skip measuring the peaks (no fractions printed)\n"
           "  --op NAME   only this op (matmul, conv2d, attention, softmax, ...; see 'vkgen dev --help')\n"
           "  --quick     only the smallest size of each op\n"
           "A size the device cannot hold is made smaller to fit, or skipped, with a note line.\n"
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
  if (only && !opc_find(only)) {
    cli_error("bench: no op named '%s' (see 'vkgen bench --help')", only);
    fprintf(stderr, "hint: ops: %s\n", opc_names());
    return 1;
  }
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  const struct vkg_device_info *dev = vkg_ctx_device(ctx);
  struct opc_limits lim = opc_limits_of(ctx);
  struct bench_peak peak = {0};
  /* Peaks the device cannot measure (their buffers do not fit) leave the fractions out, with a note. */
  char peak_note[600] = "";
  if (!no_peak && bench_peak_measure(ctx, &peak)) {
    if (!strstr(vkg_last_error(), "out of device memory")) return cli_ctx_done(ctx, cli_vkg_error("bench peak"));
    snprintf(peak_note, sizeof peak_note, "peaks not measured: %s", vkg_last_error());
    peak = (struct bench_peak){0};
  }
  if (c.json) {
    printf("{\"device\": \"");
    json_str(dev->name);
    printf("\", \"fma_gflops\": %.3f, \"copy_gbs\": %.3f, \"results\": [", peak.fma_gflops, peak.copy_gbs);
  } else
    printf("device: %s (%s timing); peaks: %.2f GFLOP/s FMA, %.2f GB/s copy\n%-18s %-48s %10s %12s %12s\n", dev->name,
           dev->timestamps ? "GPU timestamp" : "wall-clock", peak.fma_gflops, peak.copy_gbs, "op", "shape", "ms",
           "throughput", "of peak");
  if (peak_note[0] && !c.json) printf("  note: %s\n", peak_note);
  int first = 1, failures = 0, nops;
  const struct opc_op *ops = opc_ops(&nops);
  for (int i = 0; i < nops; i++) {
    if (only && strcmp(ops[i].name, only)) continue;
    for (int k = 0; k < (quick ? 1 : 3); k++) {
      struct opc bc;
      opc_case(&ops[i], 0, ops[i].sizes[k], &lim, &bc);
      double ms = 0;
      size_t arena = 0;
      char why[512] = "";
      int timed = time_case(ctx, &bc, &ms, &arena, why, sizeof why);
      if (timed < 0) {
        fprintf(stderr, "error: bench %s %s: %s\n", bc.op->name, bc.label, why);
        failures++;
        continue;
      }
      /* A resized case says so; a skipped one says why. */
      const char *note = timed ? bc.note : why;
      /* Fraction of the roof that bounds the case: FMA for compute-bound ops, copy for the rest. */
      double gflops = timed && bc.flops ? bc.flops / (ms * 1e6) : 0, gbs = timed ? bc.bytes / (ms * 1e6) : 0;
      double fma_frac = peak.fma_gflops > 0 ? gflops / peak.fma_gflops : 0;
      double copy_frac = peak.copy_gbs > 0 ? gbs / peak.copy_gbs : 0;
      if (c.json) {
        printf("%s\n  {\"op\": \"%s\", \"shape\": \"", first ? "" : ",", bc.op->name);
        json_str(bc.label);
        printf("\"");
        if (timed)
          printf(", \"ms\": %.4f, \"gflops\": %.3f, \"gbs\": %.3f, \"fma_peak_frac\": %.4f, \"copy_peak_frac\": %.4f, "
                 "\"arena_mib\": %.3f",
                 ms, gflops, gbs, bc.flops ? fma_frac : 0.0, copy_frac, (double)arena / (1 << 20));
        else
          printf(", \"skipped\": true");
        if (note[0]) {
          printf(", \"note\": \"");
          json_str(note);
          printf("\"");
        }
        printf("}");
      } else {
        if (!timed)
          printf("%-18s %-48s %10s %12s\n", bc.op->name, bc.label, "-", "skipped");
        else if (bc.flops)
          printf("%-18s %-48s %10.3f %8.2f GFLOP/s %11.1f%%\n", bc.op->name, bc.label, ms, gflops, 100 * fma_frac);
        else
          printf("%-18s %-48s %10.3f %8.2f GB/s    %11.1f%%\n", bc.op->name, bc.label, ms, gbs, 100 * copy_frac);
        if (note[0]) printf("  note: %s\n", note);
      }
      fflush(stdout);
      first = 0;
    }
  }
  if (c.json) printf("\n]}\n");
  return cli_ctx_done(ctx, failures ? 1 : 0);
}
