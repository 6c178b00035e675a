/* The model families as library calls (vkg_family_run): the same code as 'vkgen VERB FAMILY ...',
 * run in the caller's process. The commands print their results and errors; here stdout can be
 * captured into memory, and the error and hint lines written to stderr are taken out of the stream
 * and returned through vkg_last_error() / vkg_last_hint(), so a caller (the Python module) gets them
 * as values. The commands write through the stdout and stderr variables, which glibc lets us point at
 * other streams for the length of the call. */
#define _GNU_SOURCE /* fopencookie, open_memstream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli.h"
#include "internal.h"

int vkg_family_count(void) {
  int n = 0;
  while (cli_family_at(n))
    n++;
  return n;
}

const char *vkg_family_name(int i) { return i >= 0 && i < vkg_family_count() ? cli_family_at(i)->name : NULL; }
const char *vkg_family_summary(int i) { return i >= 0 && i < vkg_family_count() ? cli_family_at(i)->summary : NULL; }

int vkg_asset_path(const char *file, char *out, size_t n) {
  if (!file || !out || !n) return 0;
  return cli_asset(file, out, n);
}

// ---- stderr filter: error and hint lines are kept, the rest goes on to the real stderr ----

struct err_filter {
  FILE *to;        /* the real stderr */
  char line[1024]; /* the current line (longer lines pass through in pieces) */
  size_t n;
  char error[1024], hint[512];
  int errors; /* error lines seen */
};

/* A complete line (ending in '\n' or '\r', or a full buffer): keep it or pass it on. */
static void filter_line(struct err_filter *f) {
  static const char err[] = "error: ", hint[] = "hint: ";
  size_t n = f->n;
  f->n = 0;
  size_t body = n && (f->line[n - 1] == '\n' || f->line[n - 1] == '\r') ? n - 1 : n;
  if (n > sizeof err - 1 && !memcmp(f->line, err, sizeof err - 1)) {
    /* The first error line is the message; later ones (e.g. the validation layer's count) are added. */
    size_t used = strlen(f->error);
    if (used + 3 < sizeof f->error)
      snprintf(f->error + used, sizeof f->error - used, "%s%.*s", f->errors ? "; " : "", (int)(body - (sizeof err - 1)),
               f->line + sizeof err - 1);
    f->errors++;
    return;
  }
  if (f->errors && !f->hint[0] && n > sizeof hint - 1 && !memcmp(f->line, hint, sizeof hint - 1)) {
    snprintf(f->hint, sizeof f->hint, "%.*s", (int)(body - (sizeof hint - 1)), f->line + sizeof hint - 1);
    return;
  }
  fwrite(f->line, 1, n, f->to);
}

static ssize_t filter_write(void *cookie, const char *buf, size_t size) {
  struct err_filter *f = cookie;
  for (size_t i = 0; i < size; i++) {
    f->line[f->n++] = buf[i];
    if (buf[i] == '\n' || buf[i] == '\r' || f->n == sizeof f->line) filter_line(f);
  }
  fflush(f->to);
  return (ssize_t)size;
}

static int filter_close(void *cookie) {
  struct err_filter *f = cookie;
  if (f->n) filter_line(f);
  fflush(f->to);
  return 0;
}

// ---- running a family's command ----

vkg_status vkg_family_run(const char *verb, const char *family, int argc, const char *const *args, char **out) {
  if (out) *out = NULL;
  vkg_status s = VKG_OK;
  if (!verb || (strcmp(verb, "train") && strcmp(verb, "sample") && strcmp(verb, "eval") && strcmp(verb, "bench")))
    s = vkg__fail(VKG_ERR_ARG, "vkg_family_run: verb must be train, sample, eval or bench, got '%s'",
                  verb ? verb : "(null)");
  else if (!family || !*family)
    s = vkg__fail(VKG_ERR_ARG, "vkg_family_run: no family given");
  else if (argc < 0 || (argc > 0 && !args))
    s = vkg__fail(VKG_ERR_ARG, "vkg_family_run: %d arguments without an array", argc);
  for (int i = 0; !s && i < argc; i++)
    if (!args[i]) s = vkg__fail(VKG_ERR_ARG, "vkg_family_run: argument %d is NULL", i);
  if (s) {
    if (out) *out = calloc(1, 1);
    return s;
  }

  /* argv as the command sees it: {verb, family, args...}, in writable copies, with --opt=value split
   * into --opt value as vkg_cli_main does. */
  int n = argc + 2;
  char **argv = calloc((size_t)(2 * n) + 1, sizeof *argv);
  int copied = argv != NULL, k = 0;
  for (int i = 0; copied && i < n; i++) {
    const char *a = i == 0 ? verb : i == 1 ? family : args[i - 2];
    const char *eq = i >= 2 && !strncmp(a, "--", 2) ? strchr(a, '=') : NULL;
    copied = (argv[k++] = eq ? strndup(a, (size_t)(eq - a)) : strdup(a)) != NULL;
    if (copied && eq) copied = (argv[k++] = strdup(eq + 1)) != NULL;
  }
  n = k;
  struct err_filter *filter = calloc(1, sizeof *filter);
  char *captured = NULL;
  size_t captured_len = 0;
  FILE *cap = out && copied ? open_memstream(&captured, &captured_len) : NULL;
  FILE *err = copied && filter ? fopencookie(filter, "w",
                                             (cookie_io_functions_t){
                                                 .write = filter_write,
                                                 .close = filter_close,
                                             })
                               : NULL;
  if (!copied || !filter || !err || (out && !cap)) {
    s = vkg__fail(VKG_ERR_OOM, "vkg_family_run: out of host memory");
  } else {
    setvbuf(err, NULL, _IONBF, 0);
    filter->to = stderr;
    FILE *old_out = stdout, *old_err = stderr;
    fflush(stdout);
    fflush(stderr);
    if (cap) stdout = cap;
    stderr = err;
    vkg__clear_error();
    int rc = cmd_family(verb, n, argv);
    vkg_status last = vkg__last_status();
    fflush(stdout);
    stdout = old_out;
    stderr = old_err;
    fclose(err); /* passes on a last unfinished line */
    err = NULL;
    if (rc) {
      /* Command-line problems (bad options, missing files named by the command) have no library
       * status: they count as bad arguments. */
      s = last ? last : VKG_ERR_ARG;
      if (filter->errors)
        vkg__fail(s, "%s", filter->error);
      else
        vkg__fail(s, "vkgen %s %s failed (exit code %d)", verb, family, rc);
      if (filter->hint[0]) vkg__hint("%s", filter->hint);
    } else {
      vkg__clear_error();
    }
  }
  if (err) fclose(err);
  if (cap) fclose(cap); /* sets captured */
  if (out)
    *out = captured ? captured : calloc(1, 1);
  else
    free(captured);
  for (int i = 0; argv && i < n; i++)
    free(argv[i]);
  free(argv);
  free(filter);
  return s;
}
