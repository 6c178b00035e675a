/* Helpers shared by the vkgen subcommands (declared in cli.h): error lines, common options, opening
 * and closing the context, strict number parsing, and architecture options from a family's table. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "nn/dist.h"

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

/* Under mpirun with no --device and no $VKGEN_DEVICE: the ranks of a machine take turns over its
 * devices of the best type (discrete GPUs, else integrated, ...), rank r on device r mod count. */
static const char *rank_device(char *buf, size_t n) {
  if (nn_dist_size() == 1 || getenv("VKGEN_DEVICE")) return NULL;
  struct vkg_device_info info[16];
  int count = 0;
  if (vkg_enumerate_devices(info, 16, &count) || count < 1) return NULL;
  static const char *order[] = {"discrete", "integrated", "virtual", "cpu", "other"};
  for (int o = 0; o < 5; o++) {
    int idx[16], k = 0;
    for (int i = 0; i < count && i < 16; i++)
      if (!strcmp(info[i].type, order[o])) idx[k++] = info[i].index;
    if (k) {
      snprintf(buf, n, "%d", idx[nn_dist_local_rank() % k]);
      return buf;
    }
  }
  return NULL;
}

vkg_ctx *cli_ctx(const struct cli_common *c) {
  struct vkg_ctx_desc d = vkg_ctx_desc_default();
  char dev[16];
  d.device = c->device ? c->device : rank_device(dev, sizeof dev);
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

int cli_arch_opt(const struct nn_cfg *c, void *cfg, int argc, char **argv, int i) {
  int used = nn_cfg_opt(c, cfg, argc, argv, i);
  if (used < 0) cli_vkg_error(NULL);
  return used;
}

int cli_arch_given(const struct nn_cfg *c, int argc, char **argv) {
  void *scratch = calloc(1, c->size);
  int given = 0;
  for (int i = 1; scratch && i < argc && !given; i++)
    given = nn_cfg_opt(c, scratch, argc, argv, i) > 0;
  free(scratch);
  return given;
}

// ---- option tables ----

/* The entry of opts named `name`, or NULL. */
static const struct cli_opt *find_opt(const struct cli_opt *opts, const char *name) {
  for (; opts && opts->name; opts++)
    if (!strcmp(opts->name, name)) return opts;
  return NULL;
}

static void opt_help(FILE *f, const struct cli_opt *o) {
  char name[48];
  const char *value = o->kind == CLI_FLAG ? "" : o->kind == CLI_STR ? " X" : " N";
  if (o->value_name) value = o->value_name;
  snprintf(name, sizeof name, "%s%s%s", o->name, *value && *value != ' ' ? " " : "", value);
  fprintf(f, "  %-18s%s", name, o->help);
  if (!strstr(o->help, "default")) {
    if (o->kind == CLI_INT && *(long *)o->dst) fprintf(f, " (default %ld)", *(long *)o->dst);
    if (o->kind == CLI_NUM) fprintf(f, " (default %g)", *(double *)o->dst);
    if (o->kind == CLI_STR && *(const char **)o->dst) fprintf(f, " (default %s)", *(const char **)o->dst);
  }
  fputc('\n', f);
}

int cli_parse(int argc, char **argv, const char *cmd, const char *usage, const struct cli_opt *opts,
              struct cli_common *c, const struct nn_cfg *arch, void *arch_cfg) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      puts("\noptions:");
      for (const struct cli_opt *o = opts; o && o->name; o++)
        opt_help(stdout, o);
      puts("  --device D        device index, part of its name, cpu or gpu");
      if (arch) {
        puts("\narchitecture (of a new model; weights files carry their own):");
        nn_cfg_help(arch, stdout);
      }
      return 1;
    }
    int used = cli_common_opt(c, argc, argv, i);
    if (!used && !strcmp(a, "--json") && !find_opt(opts, a)) c->json = used = 1;
    if (!used && arch) used = cli_arch_opt(arch, arch_cfg, argc, argv, i);
    if (used < 0) return -1;
    if (used) {
      i += used - 1;
      continue;
    }
    const struct cli_opt *o = find_opt(opts, a);
    if (!o) {
      cli_error("%s: unknown option '%s' (see 'vkgen %s --help')", cmd, a, cmd);
      return -1;
    }
    if (o->kind == CLI_FLAG) {
      *(int *)o->dst = 1;
      continue;
    }
    const char *v = i + 1 < argc ? argv[++i] : NULL;
    if (!v) {
      cli_error("%s needs a value", a);
      return -1;
    }
    if (o->kind == CLI_STR)
      *(const char **)o->dst = v;
    else if (o->kind == CLI_INT && !cli_int(a, v, (long)o->lo, (long)o->hi, o->dst))
      return -1;
    else if (o->kind == CLI_NUM && !cli_float(a, v, o->lo, o->hi, o->dst))
      return -1;
  }
  return 0;
}

const char *cli_weights(const char *family, const char *given, char *buf, size_t n) {
  if (given) {
    /* A bare name that is not a file here names a shipped model: emoji-gan -> assets/emoji-gan.safetensors. */
    if (access(given, F_OK) != 0 && !strchr(given, '/')) {
      char file[256];
      snprintf(file, sizeof file, "%s.safetensors", given);
      if (cli_asset(given, buf, n) || cli_asset(file, buf, n)) return buf;
    }
    return given;
  }
  char file[64];
  snprintf(file, sizeof file, "%s.safetensors", family);
  if (cli_asset(file, buf, n)) return buf;
  cli_error("no default %s weights: assets/%s is absent", family, file);
  fprintf(stderr, "hint: train a model with 'vkgen train %s' and pass --weights runs/%s/%s%s\n", family, family, file,
          strcmp(family, "gpt") ? "" : ", or pass a Hugging Face GPT-2 directory");
  return NULL;
}

int cli_out_dir_ok(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return 1; /* "file" or "/file" */
  *slash = 0;
  struct stat st;
  if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 1;
  cli_error("cannot write '%s': the directory '%s' does not exist", path, dir);
  fprintf(stderr, "hint: create it first (mkdir -p '%s') or choose another -o\n", dir);
  return 0;
}
