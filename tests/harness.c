#define _GNU_SOURCE /* mkdtemp */
#include "harness.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
static uint64_t rng = 0x9E3779B97F4A7C15ull;

vkg_ctx *th_ctx(void) {
  struct vkg_ctx_desc d = vkg_ctx_desc_default();
  d.validate = 1;
  vkg_ctx *ctx;
  vkg_status s = vkg_ctx_create(&d, &ctx);
  if (s) {
    fprintf(stderr, "error: %s\n", vkg_last_error());
    if (*vkg_last_hint()) fprintf(stderr, "hint: %s\n", vkg_last_hint());
    exit(1);
  }
  return ctx;
}

static void free_pending(void);
static void remove_tmpdir(void);

int th_finish(vkg_ctx *ctx) {
  free_pending();
  remove_tmpdir();
  uint32_t msgs = ctx ? vkg_ctx_validation_messages(ctx) : 0;
  int validated = ctx ? vkg_ctx_validation_enabled(ctx) : 0;
  vkg_ctx_destroy(ctx);
  if (msgs) {
    fprintf(stderr, "FAIL: %u validation-layer message(s)\n", msgs);
    failed++;
  }
  if (ctx && !validated) {
    fprintf(stderr, "FAIL: the validation layer was not enabled\n");
    failed++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

void th_seed(uint64_t s) { rng = s * 0x9E3779B97F4A7C15ull + 1; }

static uint64_t next(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1Dull;
}

float th_uniform(float lo, float hi) { return lo + (hi - lo) * (float)((next() >> 40) * (1.0 / 16777216.0)); }

float th_normal(void) {
  double u1 = ((next() >> 11) + 1.0) * (1.0 / 9007199254740993.0), u2 = (next() >> 11) * (1.0 / 9007199254740992.0);
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void th_fill(float *x, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++)
    x[i] = th_uniform(lo, hi);
}

float *th_alloc(size_t n) {
  float *p = calloc(n ? n : 1, sizeof *p);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  return p;
}

int th_close(const char *what, const float *got, const float *ref, size_t n, float atol, float rtol) {
  size_t worst = 0, bad = 0;
  double worst_excess = -1, max_err = 0;
  for (size_t i = 0; i < n; i++) {
    double err = fabs((double)got[i] - (double)ref[i]), tol = atol + rtol * fabs((double)ref[i]);
    if (!(err <= tol)) { /* NaN compares false */
      bad++;
      double ex = isnan(err) ? INFINITY : err - tol;
      if (ex > worst_excess) worst_excess = ex, worst = i;
    }
    if (err > max_err) max_err = err;
  }
  if (bad) {
    fprintf(stderr, "FAIL %s: %zu of %zu values differ; worst at %zu: got %.9g, want %.9g\n", what, bad, n, worst,
            got[worst], ref[worst]);
    failed++;
    return 0;
  }
  printf("ok   %s (n=%zu, max err %.3g)\n", what, n, max_err);
  passed++;
  return 1;
}

int th_check(int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(ok ? stdout : stderr, ok ? "ok   " : "FAIL ");
  vfprintf(ok ? stdout : stderr, fmt, ap);
  fputc('\n', ok ? stdout : stderr);
  va_end(ap);
  if (ok)
    passed++;
  else
    failed++;
  return ok;
}

int th_ok(vkg_status s, const char *what) {
  if (s == VKG_OK) return 1;
  fprintf(stderr, "FAIL %s: %s: %s\n", what, vkg_status_str(s), vkg_last_error());
  failed++;
  return 0;
}

vkg_status th_run(vkg_graph *g) {
  vkg_status s = vkg_graph_poison(g);
  return s ? s : vkg_graph_run(g);
}

/* Random inputs remembered per graph so th_write_inputs can upload them after compile. */
struct pending {
  vkg_graph *g;
  vkg_t t;
  float *host;
  size_t n;
};
static struct pending *pend;
static int npend, cap_pend;

vkg_t th_input(vkg_graph *g, int ndim, const int *shape, float lo, float hi, float **host) {
  char name[32];
  snprintf(name, sizeof name, "in%d", npend);
  vkg_t t = vkg_input(g, name, VKG_F32, ndim, shape);
  /* Ids grow within a graph, so an entry of the same address with an id >= t is from an earlier,
   * destroyed graph that happened to get the same address. */
  for (int i = 0; i < npend; i++)
    if (pend[i].g == g && pend[i].t >= t) pend[i].g = NULL;
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)(shape[i] > 0 ? shape[i] : 1);
  float *x = th_alloc(n);
  th_fill(x, n, lo, hi);
  if (npend == cap_pend) {
    cap_pend = cap_pend ? 2 * cap_pend : 64;
    pend = realloc(pend, sizeof *pend * (size_t)cap_pend);
    if (!pend) {
      fprintf(stderr, "out of memory\n");
      exit(1);
    }
  }
  pend[npend++] = (struct pending){g, t, x, n};
  if (host) *host = x;
  return t;
}

vkg_status th_write_inputs(vkg_graph *g) {
  for (int i = 0; i < npend; i++)
    if (pend[i].g == g && pend[i].t >= 0) {
      vkg_status s = vkg_graph_write(g, pend[i].t, pend[i].host, pend[i].n);
      if (s) return s;
    }
  return VKG_OK;
}

static void free_pending(void) {
  for (int i = 0; i < npend; i++)
    free(pend[i].host);
  free(pend);
  pend = NULL;
  npend = cap_pend = 0;
}

// ---- temporary files ----

static char tmpdir[64];

const char *th_tmpdir(void) {
  if (!tmpdir[0]) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vkgen-test-XXXXXX");
    if (!mkdtemp(tmpdir)) {
      perror("mkdtemp");
      exit(1);
    }
  }
  return tmpdir;
}

char *th_tmppath(const char *name) {
  static char buf[8][512];
  static int k;
  char *p = buf[k++ % 8];
  snprintf(p, sizeof buf[0], "%s/%s", th_tmpdir(), name);
  return p;
}

void *th_read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc(len > 0 ? (size_t)len + 1 : 1);
  size_t got = p && len > 0 ? fread(p, 1, (size_t)len, f) : 0;
  fclose(f);
  if (p) p[got] = 0;
  if (n) *n = got;
  return p;
}

void th_write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    struct stat sb;
    if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
      chmod(p, 0755); /* tests may leave read-only directories behind */
      remove_tree(p);
    } else {
      unlink(p);
    }
  }
  closedir(d);
  rmdir(dir);
}

static void remove_tmpdir(void) {
  if (tmpdir[0]) remove_tree(tmpdir);
  tmpdir[0] = 0;
}

void th_twin(const char *tool, const char *mode, const char *arg, const char *what) {
  if (system("/usr/bin/python3 -c 'import numpy, torch' >/dev/null 2>&1") != 0) {
    printf("note: /usr/bin/python3 with torch and numpy is missing; %s not checked (apt-get install python3-torch)\n",
           what);
    return;
  }
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' %s '%s'", tool, mode, arg);
  fflush(stdout);
  int rc = system(cmd);
  th_check(rc == 0, "%s (exit status %d)", what, rc);
}
