/* vkgen dev OP: the loop for shader authors. Builds the op table's cases of OP (src/check/op_cases.c:
 * its awkward test shapes plus its first bench size, for timing), compiled once, with the context
 * watching the shader sources; every time a shader is saved the library reloads it (re-recording
 * these graphs) and this re-runs every case against the op's plain-C reference, printing the max
 * error and the GPU time. Ctrl-C exits;
 * --once checks once and exits with status 1 if any case is off. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check/op_cases.h"
#include "cli.h"

#define MAX_CASES 32

/* The op's test cases from the op table, and its first bench size (the timed, larger one), each a
 * compiled graph with its inputs written and its reference computed once. */
struct dev {
  struct opc_run c[MAX_CASES];
  int n;
};

static int build_cases(struct dev *d, vkg_ctx *ctx, const struct opc_op *op) {
  struct opc_limits lim = opc_limits_of(ctx);
  struct opc cs;
  for (int k = 0; d->n < MAX_CASES; k++) {
    int more = opc_case(op, k, 0, &lim, &cs);
    if (!more) { /* the last one: the timed size */
      if (!opc_case(op, 0, op->sizes[0], &lim, &cs)) break;
    }
    if (opc_run_init(&d->c[d->n], ctx, &cs, (uint64_t)k + 1, 1)) {
      char doing[128];
      snprintf(doing, sizeof doing, "dev %s %s", op->name, cs.label);
      cli_vkg_error(doing);
      return 0;
    }
    d->n++;
    if (!more) break;
  }
  return 1;
}

// ---- checking ----

/* Runs every case once against its reference and times it; prints one line each. Returns the
 * number of cases that are off. */
static int check_all(struct dev *d, const char *op) {
  time_t now = time(NULL);
  char stamp[16];
  strftime(stamp, sizeof stamp, "%H:%M:%S", localtime(&now));
  printf("[%s] %s: %d case%s\n", stamp, op, d->n, d->n == 1 ? "" : "s");
  int bad = 0;
  for (int i = 0; i < d->n; i++) {
    struct opc_run *c = &d->c[i];
    double err = 0, ms = NAN;
    int pass = 0;
    if (opc_run_check(c, &err, &pass) || opc_run_time(c, 3, &ms)) {
      printf("  %-44s error: %s\n", c->c.label, vkg_last_error());
      bad++;
      continue;
    }
    bad += !pass;
    printf("  %-44s max err %-9.2e %-4s %9.3f ms\n", c->c.label, err, pass ? "ok" : "FAIL", ms);
  }
  if (bad)
    printf("  %d of %d cases FAILED\n", bad, d->n);
  else
    printf("  all %d cases match the reference\n", d->n);
  fflush(stdout);
  return bad;
}

static volatile sig_atomic_t stop;
static void on_sigint(int sig) {
  (void)sig;
  stop = 1;
}

static void usage(FILE *f) {
  fputs("usage: vkgen dev OP [--watch DIR] [--once] [--device D]\n"
        "\n"
        "The loop for shader authors: runs OP at a few awkward shapes (and one larger, timed shape)\n"
        "against a plain-C reference, then again every time a shader is saved, printing each case's\n"
        "max error and GPU time. Shaders are compiled from DIR; an edit that does not compile or that\n"
        "changes a shader's interface is shown with file:line and the previous code keeps running.\n"
        "Ctrl-C exits.\n"
        "\n"
        "  OP            an op of the op table (see below)\n"
        "  --watch DIR   shader sources to compile and watch (default: the source tree's shaders/)\n"
        "  --once        check once and exit (status 1 if any case is off)\n"
        "  --device D    device index or name\n",
        f);
  fprintf(f, "\nops: %s\n", opc_names());
}

int cmd_dev(int argc, char **argv) {
  struct cli_common c = {0};
  const char *op = NULL;
  int once = 0;
  for (int i = 1; i < argc; i++) {
    int used = cli_common_opt(&c, argc, argv, i);
    if (used < 0) return 1;
    if (used) {
      i += used - 1;
      continue;
    }
    if (!strcmp(argv[i], "--once"))
      once = 1;
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (argv[i][0] != '-' && !op)
      op = argv[i];
    else
      return cli_error("dev: unknown option '%s' (see 'vkgen dev --help')", argv[i]);
  }
  const struct opc_op *entry = opc_find(op);
  if (!entry) {
    cli_error("dev: %s '%s'", op ? "no op named" : "say which op to work on, e.g. 'vkgen dev matmul'", op ? op : "");
    fprintf(stderr, "hint: ops: %s\n", opc_names());
    return 1;
  }
  if (!c.watch) { /* dev always compiles from the sources */
#ifdef VKGEN_SOURCE_SHADERS
    c.watch = VKGEN_SOURCE_SHADERS;
#else
    c.watch = "shaders";
#endif
  }
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  static struct dev d;
  int rc = 1;
  if (build_cases(&d, ctx, entry)) {
    if (!once)
      printf("vkgen dev %s: edit %s (and what they include) in %s; each save re-runs the cases. Ctrl-C exits.\n",
             entry->name, entry->shaders, c.watch);
    rc = check_all(&d, entry->name) ? 1 : 0;
    if (!once) {
      struct sigaction sa = {.sa_handler = on_sigint};
      sigemptyset(&sa.sa_mask);
      sigaction(SIGINT, &sa, NULL);
      sigaction(SIGTERM, &sa, NULL);
      while (!stop) {
        /* A refused edit was printed by the library; the previous code still runs, so re-check only
         * when something was reloaded. */
        if (vkg_ctx_poll_shaders(ctx) > 0) rc = check_all(&d, entry->name) ? 1 : 0;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
      }
      rc = 0;
    }
  }
  for (int i = 0; i < d.n; i++)
    opc_run_release(&d.c[i]);
  return cli_ctx_done(ctx, rc);
}
