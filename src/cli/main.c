/* vkgen: the command-line tool. Dispatches to a subcommand; each prints one clear error line (and
 * a hint) and exits non-zero on bad input. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Writes s with control characters escaped (\n, \t, \r, \xNN), so a file name holding a newline or
 * an escape sequence cannot split a message line or drive the terminal. */
void cli_put_escaped(FILE *f, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p >= 0x20 && *p != 0x7f)
      fputc(*p, f);
    else if (*p == '\n')
      fputs("\\n", f);
    else if (*p == '\t')
      fputs("\\t", f);
    else if (*p == '\r')
      fputs("\\r", f);
    else
      fprintf(f, "\\x%02x", *p);
  }
}

/* One "error: ..." line (and "hint: ..." if there is one), each escaped as a whole. */
static void error_lines(const char *doing, const char *msg, const char *hint) {
  fputs("error: ", stderr);
  if (doing && *doing) {
    cli_put_escaped(stderr, doing);
    fputs(": ", stderr);
  }
  cli_put_escaped(stderr, msg);
  fputc('\n', stderr);
  if (hint && *hint) {
    fputs("hint: ", stderr);
    cli_put_escaped(stderr, hint);
    fputc('\n', stderr);
  }
}

int cli_error(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  error_lines(NULL, buf, NULL);
  return 1;
}

int cli_vkg_error(const char *doing) {
  error_lines(doing, vkg_last_error(), vkg_last_hint());
  return 1;
}

FILE *cli_msgs(const char *out) {
  if (!out) return stdout;
  if (!strcmp(out, "-")) return stderr;
  struct stat a, b; /* /dev/stdout, /proc/self/fd/1, or the very file stdout was redirected to */
  return stat(out, &a) == 0 && fstat(STDOUT_FILENO, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino ? stderr
                                                                                                             : stdout;
}

int cli_common_opt(struct cli_common *c, int argc, char **argv, int i) {
  if (!strcmp(argv[i], "--device")) {
    if (i + 1 >= argc) {
      cli_error("--device needs an index or a name (see 'vkgen devices')");
      return -1;
    }
    c->device = argv[i + 1];
    return 2;
  }
  if (!strcmp(argv[i], "--watch")) {
    /* The directory is optional: the next argument is taken only if it is not an option. */
    if (i + 1 < argc && argv[i + 1][0] != '-') {
      c->watch = argv[i + 1];
      return 2;
    }
#ifdef VKGEN_SOURCE_SHADERS
    c->watch = VKGEN_SOURCE_SHADERS;
#else
    c->watch = "shaders";
#endif
    return 1;
  }
  return 0;
}

vkg_ctx *cli_ctx(const struct cli_common *c) {
  struct vkg_ctx_desc d = vkg_ctx_desc_default();
  d.device = c->device;
  d.watch_shaders = c->watch;
  vkg_ctx *ctx;
  if (vkg_ctx_create(&d, &ctx)) {
    cli_vkg_error(NULL);
    return NULL;
  }
  return ctx;
}

int cli_ctx_done(vkg_ctx *ctx, int rc) {
  uint32_t n = ctx ? vkg_ctx_validation_messages(ctx) : 0;
  vkg_ctx_destroy(ctx);
  if (n) {
    fprintf(stderr, "error: the Vulkan validation layer reported %u message(s) (shown above)\n", n);
    return 1;
  }
  return rc;
}

int cli_int(const char *opt, const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = s ? strtol(s, &end, 10) : 0;
  if (!s || !*s || *end || errno || v < lo || v > hi) {
    cli_error("%s expects a whole number from %ld to %ld, got '%s'", opt, lo, hi, s ? s : "");
    return 0;
  }
  *out = v;
  return 1;
}

static void usage(FILE *f) {
  fputs("usage: vkgen <command> [options]\n"
        "\n"
        "commands:\n"
        "  devices      list Vulkan devices and their capabilities\n"
        "  selfcheck    run every op once against a plain-C reference on the chosen device\n"
        "  bench ops    time each op at a few sizes (GFLOP/s or GB/s); --json for JSON\n"
        "  train MODEL  train a model (classifier, gan, vae) with checkpoints, metrics and a loss plot\n"
        "  sample MODEL sample from a trained model (gan, vae) into a PNG grid\n"
        "  eval MODEL   measure a trained model (FID; for the VAE also reconstruction and ELBO)\n"
        "  bench MODEL  sampling images/s and training steps/s of a model\n"
        "  dev OP       re-check an op against a plain-C reference on every shader save (hot reload)\n"
        "\n"
        "options for every command:\n"
        "  --device INDEX|NAME   use this device (index or part of its name; also $VKGEN_DEVICE)\n"
        "  --watch [DIR]         (train, sample, bench, dev) hot-reload shaders edited in DIR (default:\n"
        "                        the source tree's shaders/)\n"
        "\n"
        "environment:\n"
        "  VKGEN_DEVICE          default device (as --device)\n"
        "  VKGEN_VALIDATE=1      enable the Khronos validation layer with synchronization validation\n"
        "  VKGEN_PIPELINE_CACHE  pipeline cache file (default ~/.cache/vkgen/); empty disables it\n"
        "\n"
        "Run 'vkgen <command> --help' for the options of a command.\n",
        f);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "devices")) return cmd_devices(argc - 1, argv + 1);
  if (!strcmp(cmd, "selfcheck")) return cmd_selfcheck(argc - 1, argv + 1);
  if (!strcmp(cmd, "dev")) return cmd_dev(argc - 1, argv + 1);
  if (!strcmp(cmd, "bench") && argc > 2 && strcmp(argv[2], "ops") != 0 && argv[2][0] != '-')
    return cmd_family("bench", argc - 1, argv + 1);
  if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
  if (!strcmp(cmd, "train") || !strcmp(cmd, "sample") || !strcmp(cmd, "eval"))
    return cmd_family(cmd, argc - 1, argv + 1);
  cli_error("unknown command '%s'", cmd);
  fputs("hint: run 'vkgen --help' for the list of commands\n", stderr);
  return 2;
}
