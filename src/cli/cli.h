/* Shared by the vkgen subcommands. */
#ifndef VKGEN_CLI_H
#define VKGEN_CLI_H
#include "vkgen.h"

/* Options every subcommand takes. */
struct cli_common {
  const char *device; /* --device INDEX|NAME */
  int json;           /* --json */
};

/* Prints "error: <msg>" and, if there is one, "hint: <hint>" to stderr. Returns 1 (the exit code). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the library's last error and hint; returns 1. */
int cli_vkg_error(const char *doing);
/* Opens a context on the chosen device; prints the error and returns NULL on failure. */
vkg_ctx *cli_ctx(const struct cli_common *c);
/* Destroys ctx and returns rc, or 1 if the validation layer reported anything (with a message). */
int cli_ctx_done(vkg_ctx *ctx, int rc);
/* Parses a whole decimal integer in [lo, hi]; prints an error naming opt and returns 0 if bad. */
int cli_int(const char *opt, const char *s, long lo, long hi, long *out);

int cmd_devices(int argc, char **argv);
int cmd_selfcheck(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
#endif
