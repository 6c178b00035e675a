/* The device's peaks (cli/peak.c): what 'vkgen bench ops' reports each case's fraction of. */
#ifndef VKGEN_CLI_PEAK_H
#define VKGEN_CLI_PEAK_H
#include "vkgen.h"

struct bench_peak {
  double fma_gflops; /* fp32, vec4 FMA chains */
  double copy_gbs;   /* read + written bytes per second of a vec4 copy */
  double copy_bytes; /* bytes the copy moved per run */
};
/* Measures both peaks on ctx's device (about a second). Returns 0, or nonzero with the library's
 * last error set. */
int bench_peak_measure(vkg_ctx *ctx, struct bench_peak *p);
/* 'vkgen bench peak': measures and prints them (table or JSON); returns the exit code. */
int bench_peak_cmd(vkg_ctx *ctx, int json);
#endif
