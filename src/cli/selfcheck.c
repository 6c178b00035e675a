/* vkgen selfcheck: runs every test case of the op table (src/check/op_cases.c) once on the chosen
 * device and compares each result with the op's plain-C reference, so a user can see in a few seconds
 * whether a driver computes correctly. One line per op; the cases that differ are listed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check/op_cases.h"
#include "cli.h"

int cmd_selfcheck(int argc, char **argv) {
  struct cli_common c = {0};
  for (int i = 1; i < argc;) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: vkgen selfcheck [--device D]\n\nRuns the test cases of every op on the device and compares each "
             "with the op's\nplain-C reference; exits non-zero if any differs.\nops: %s\n",
             opc_names());
      return 0;
    }
    int used = cli_common_opt(&c, argc, argv, i);
    if (used < 0) return 1;
    if (used == 0) return cli_error("selfcheck: unknown option '%s'", argv[i]);
    i += used;
  }
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct opc_limits lim = opc_limits_of(ctx);
  printf("device: %s\n", vkg_ctx_device(ctx)->name);
  int nops, total = 0, fails = 0;
  const struct opc_op *ops = opc_ops(&nops);
  for (int i = 0; i < nops; i++) {
    struct opc cs;
    int n = 0, bad = 0;
    double worst = 0;
    char failed[4][80];
    for (int k = 0; opc_case(&ops[i], k, 0, &lim, &cs); k++) {
      struct opc_run r;
      double err = 0;
      int pass = 0;
      vkg_status s = opc_run_init(&r, ctx, &cs, (uint64_t)k + 1, 1);
      if (!s) {
        s = opc_run_check(&r, &err, &pass);
        opc_run_release(&r);
      }
      if (s) {
        char doing[128];
        snprintf(doing, sizeof doing, "selfcheck %s %s", ops[i].name, cs.label);
        cli_vkg_error(doing);
        return cli_ctx_done(ctx, 1);
      }
      if (!pass && bad < 4) snprintf(failed[bad], sizeof failed[bad], "%s", cs.label);
      bad += !pass;
      if (!(err <= worst)) worst = isnan(err) ? INFINITY : err;
      n++;
    }
    printf("  %-18s %2d case%s %s  (max error %.2g)\n", ops[i].name, n, n == 1 ? " " : "s", bad ? "FAIL" : "ok  ",
           worst);
    for (int j = 0; j < bad && j < 4; j++)
      printf("    differs: %s\n", failed[j]);
    total += n, fails += bad;
  }
  printf("selfcheck: %d of %d cases match the reference\n", total - fails, total);
  return cli_ctx_done(ctx, fails ? 1 : 0);
}
