/* vkgen dev OP: the loop for shader authors. Builds a few graphs holding OP at awkward shapes (plus
 * one larger shape for timing), compiled once, with the context watching the shader sources; every
 * time a shader is saved the library reloads it (re-recording these graphs) and this re-runs every
 * case against a plain-C reference, printing the max error and the GPU time. Ctrl-C exits;
 * --once checks once and exits with status 1 if any case is off. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

// ---- random data ----

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(float lo, float hi) {
  rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
  return lo + (hi - lo) * (float)((rng * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;
}

// ---- one case: a compiled graph, its inputs, and the reference output ----

#define MAX_IN 4
#define MAX_CASES 24
struct dcase {
  char label[64];
  vkg_graph *g;
  int nin;
  vkg_t in[MAX_IN];
  float *host[MAX_IN];
  size_t n_in[MAX_IN];
  vkg_t out;
  size_t nout;
  float *got;
  double *ref;
  double atol, rtol;
};

struct dev {
  vkg_ctx *ctx;
  struct dcase c[MAX_CASES];
  int n;
  int failed_build;
};

static struct dcase *new_case(struct dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static struct dcase *new_case(struct dev *d, const char *fmt, ...) {
  if (d->n == MAX_CASES) return NULL;
  struct dcase *c = &d->c[d->n];
  memset(c, 0, sizeof *c);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->label, sizeof c->label, fmt, ap);
  va_end(ap);
  if (vkg_graph_create(d->ctx, &c->g)) return NULL;
  c->atol = c->rtol = 1e-5;
  d->n++;
  return c;
}

/* A random input of the case (values in [lo, hi)). */
static const float *input(struct dcase *c, int ndim, const int *shape, float lo, float hi) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)shape[i];
  int k = c->nin++;
  c->in[k] = vkg_input(c->g, "x", VKG_F32, ndim, shape);
  c->host[k] = malloc(n * sizeof(float));
  c->n_in[k] = n;
  for (size_t i = 0; c->host[k] && i < n; i++)
    c->host[k][i] = frand(lo, hi);
  return c->host[k];
}

/* Marks out as the result, compiles, uploads the inputs, and makes room for the reference. */
static double *finish(struct dev *d, struct dcase *c, vkg_t out) {
  c->out = out;
  vkg_output(c->g, out);
  if (vkg_graph_compile(c->g)) {
    cli_vkg_error(c->label);
    d->failed_build = 1;
    return NULL;
  }
  for (int i = 0; i < c->nin; i++)
    if (vkg_graph_write(c->g, c->in[i], c->host[i], c->n_in[i])) {
      cli_vkg_error(c->label);
      d->failed_build = 1;
      return NULL;
    }
  c->nout = vkg_numel(c->g, out);
  c->got = malloc(c->nout * sizeof(float));
  c->ref = calloc(c->nout, sizeof(double));
  if (!c->got || !c->ref) d->failed_build = 1;
  return c->ref;
}

// ---- matmul ----

static void dev_matmul(struct dev *d) {
  static const struct {
    int m, k, n, bias;
    unsigned flags;
  } s[] = {{1, 1, 1, 0, 0},
           {7, 13, 5, 1, 0},
           {33, 65, 17, 0, VKG_TRANS_A},
           {31, 17, 129, 1, VKG_TRANS_B},
           {256, 256, 256, 1, 0}};
  for (size_t t = 0; t < sizeof s / sizeof s[0]; t++) {
    int M = s[t].m, K = s[t].k, N = s[t].n;
    int ta = (s[t].flags & VKG_TRANS_A) != 0, tb = (s[t].flags & VKG_TRANS_B) != 0;
    struct dcase *c = new_case(d, "%dx%d @ %dx%d%s%s%s", M, K, K, N, s[t].bias ? " +bias" : "", ta ? " transA" : "",
                               tb ? " transB" : "");
    if (!c) return;
    int as[2] = {ta ? K : M, ta ? M : K}, bs[2] = {tb ? N : K, tb ? K : N}, ns[1] = {N};
    const float *a = input(c, 2, as, -1, 1), *b = input(c, 2, bs, -1, 1);
    const float *bias = s[t].bias ? input(c, 1, ns, -1, 1) : NULL;
    double *ref = finish(d, c, vkg_matmul(c->g, c->in[0], c->in[1], bias ? c->in[2] : VKG_NONE, s[t].flags));
    if (!ref) return;
    c->atol = c->rtol = 1e-4;
    for (int m = 0; m < M; m++)
      for (int n = 0; n < N; n++) {
        double acc = bias ? bias[n] : 0;
        for (int k = 0; k < K; k++)
          acc += (double)(ta ? a[k * M + m] : a[m * K + k]) * (tb ? b[n * K + k] : b[k * N + n]);
        ref[m * N + n] = acc;
      }
  }
}

// ---- elementwise ----

static double unary_ref(vkg_unop op, double x, double alpha, double beta) {
  switch (op) {
  case VKG_RELU: return x > 0 ? x : 0;
  case VKG_LEAKY_RELU: return x >= 0 ? x : alpha * x;
  case VKG_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
  case VKG_GELU_TANH: return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
  case VKG_TANH: return tanh(x);
  case VKG_SIGMOID: return 1 / (1 + exp(-x));
  case VKG_SILU: return x / (1 + exp(-x));
  case VKG_SOFTPLUS: return log1p(exp(x));
  case VKG_EXP: return exp(x);
  case VKG_LOG: return log(x);
  case VKG_NEG: return -x;
  case VKG_ABS: return fabs(x);
  case VKG_SQRT: return sqrt(x);
  case VKG_SQUARE: return x * x;
  case VKG_AFFINE: return alpha * x + beta;
  default: return NAN;
  }
}

static void dev_unary(struct dev *d) {
  static const char *names[] = {"relu", "leaky_relu", "gelu", "gelu_tanh", "tanh", "sigmoid", "silu",  "softplus",
                                "exp",  "log",        "neg",  "abs",       "sqrt", "square",  "affine"};
  for (int op = 0; op < VKG_UNOP_COUNT; op++) {
    int n = op == VKG_RELU ? 1 << 20 : 4099; /* relu also times a larger launch */
    struct dcase *c = new_case(d, "%-10s (%d)", names[op], n);
    if (!c) return;
    int positive = op == VKG_LOG || op == VKG_SQRT;
    const float *x = input(c, 1, &n, positive ? 0.01f : -3, 3);
    float alpha = op == VKG_LEAKY_RELU ? 0.1f : 1.5f, beta = -0.5f;
    double *ref = finish(d, c, vkg_unary(c->g, (vkg_unop)op, c->in[0], alpha, beta));
    if (!ref) return;
    for (int i = 0; i < n; i++)
      ref[i] = unary_ref((vkg_unop)op, x[i], alpha, beta);
  }
}

static void dev_binary(struct dev *d) {
  static const char *names[] = {"add", "sub", "mul", "div", "maximum", "minimum", "pow"};
  for (int op = VKG_ADD; op <= VKG_POW; op++) {
    /* a (3, 1, 37) and b (5, 37) broadcast to (3, 5, 37). */
    struct dcase *c = new_case(d, "%-8s (3,1,37) . (5,37)", names[op]);
    if (!c) return;
    int as[3] = {3, 1, 37}, bs[2] = {5, 37};
    const float *a = input(c, 3, as, op == VKG_POW ? 0.1f : -2, 2), *b = input(c, 2, bs, 0.5f, 2);
    double *ref = finish(d, c, vkg_binary(c->g, (vkg_binop)op, c->in[0], c->in[1]));
    if (!ref) return;
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 5; j++)
        for (int k = 0; k < 37; k++) {
          double x = a[i * 37 + k], y = b[j * 37 + k], r;
          switch (op) {
          case VKG_ADD: r = x + y; break;
          case VKG_SUB: r = x - y; break;
          case VKG_MUL: r = x * y; break;
          case VKG_DIV: r = x / y; break;
          case VKG_MAXIMUM: r = x > y ? x : y; break;
          case VKG_MINIMUM: r = x < y ? x : y; break;
          default: r = pow(x, y); break;
          }
          ref[(i * 5 + j) * 37 + k] = r;
        }
  }
  int n = 1 << 20;
  struct dcase *c = new_case(d, "add      (%d) . (%d)", n, n);
  if (!c) return;
  const float *a = input(c, 1, &n, -1, 1), *b = input(c, 1, &n, -1, 1);
  double *ref = finish(d, c, vkg_binary(c->g, VKG_ADD, c->in[0], c->in[1]));
  for (int i = 0; ref && i < n; i++)
    ref[i] = (double)a[i] + b[i];
}

// ---- softmax and layernorm (rows of the last axis) ----

static void dev_softmax(struct dev *d) {
  static const int s[][2] = {{1, 1}, {7, 13}, {5, 1000}, {3, 4097}, {64, 4096}};
  for (int log_sm = 0; log_sm < 2; log_sm++)
    for (size_t t = 0; t < sizeof s / sizeof s[0]; t++) {
      int R = s[t][0], C = s[t][1], sh[2] = {R, C};
      struct dcase *c = new_case(d, "%s (%d, %d)", log_sm ? "log_softmax" : "softmax", R, C);
      if (!c) return;
      const float *x = input(c, 2, sh, -8, 8);
      double *ref = finish(d, c, log_sm ? vkg_log_softmax(c->g, c->in[0]) : vkg_softmax(c->g, c->in[0]));
      if (!ref) return;
      c->atol = log_sm ? 1e-5 : 1e-6;
      for (int r = 0; r < R; r++) {
        const float *row = x + (size_t)r * C;
        double mx = row[0], sum = 0;
        for (int i = 1; i < C; i++)
          mx = row[i] > mx ? row[i] : mx;
        for (int i = 0; i < C; i++)
          sum += exp(row[i] - mx);
        for (int i = 0; i < C; i++)
          ref[(size_t)r * C + i] = log_sm ? row[i] - mx - log(sum) : exp(row[i] - mx) / sum;
      }
    }
}

static void dev_layernorm(struct dev *d) {
  static const int s[][3] = {{1, 1, 0}, {7, 13, 1}, {5, 1000, 1}, {3, 4097, 0}, {256, 768, 1}};
  for (size_t t = 0; t < sizeof s / sizeof s[0]; t++) {
    int R = s[t][0], C = s[t][1], affine = s[t][2], sh[2] = {R, C};
    struct dcase *c = new_case(d, "(%d, %d)%s", R, C, affine ? " gamma beta" : "");
    if (!c) return;
    const float *x = input(c, 2, sh, -3, 5);
    const float *gm = affine ? input(c, 1, &C, 0.5f, 1.5f) : NULL, *bt = affine ? input(c, 1, &C, -1, 1) : NULL;
    const float eps = 1e-5f;
    double *ref =
        finish(d, c, vkg_layernorm(c->g, c->in[0], affine ? c->in[1] : VKG_NONE, affine ? c->in[2] : VKG_NONE, eps));
    if (!ref) return;
    c->atol = c->rtol = 1e-4;
    for (int r = 0; r < R; r++) {
      const float *row = x + (size_t)r * C;
      double mean = 0, var = 0;
      for (int i = 0; i < C; i++)
        mean += row[i];
      mean /= C;
      for (int i = 0; i < C; i++)
        var += (row[i] - mean) * (row[i] - mean);
      var /= C;
      for (int i = 0; i < C; i++) {
        double y = (row[i] - mean) / sqrt(var + eps);
        ref[(size_t)r * C + i] = affine ? y * gm[i] + bt[i] : y;
      }
    }
  }
}

// ---- conv2d ----

static void dev_conv2d(struct dev *d) {
  /* B, C, H, W, O, K, stride, pad, dilation, groups, bias */
  static const int s[][11] = {{1, 1, 5, 5, 1, 3, 1, 0, 1, 1, 0},
                              {2, 3, 13, 11, 5, 3, 2, 1, 1, 1, 1},
                              {2, 4, 9, 9, 6, 3, 1, 2, 2, 2, 1},
                              {1, 7, 8, 7, 3, 1, 1, 0, 1, 1, 1},
                              {4, 16, 28, 28, 16, 3, 1, 1, 1, 1, 1}};
  for (size_t t = 0; t < sizeof s / sizeof s[0]; t++) {
    int B = s[t][0], C = s[t][1], H = s[t][2], W = s[t][3], O = s[t][4], K = s[t][5], st = s[t][6], pd = s[t][7],
        dl = s[t][8], G = s[t][9];
    struct dcase *c =
        new_case(d, "x(%d,%d,%d,%d) w(%d,%d,%d,%d) s%d p%d d%d g%d", B, C, H, W, O, C / G, K, K, st, pd, dl, G);
    if (!c) return;
    int xs[4] = {B, C, H, W}, ws[4] = {O, C / G, K, K};
    const float *x = input(c, 4, xs, -1, 1), *w = input(c, 4, ws, -1, 1);
    const float *bias = s[t][10] ? input(c, 1, &O, -1, 1) : NULL;
    struct vkg_conv2d_desc cd = vkg_conv2d_desc_default();
    cd.stride_h = cd.stride_w = st;
    cd.pad_h = cd.pad_w = pd;
    cd.dil_h = cd.dil_w = dl;
    cd.groups = G;
    double *ref = finish(d, c, vkg_conv2d(c->g, c->in[0], c->in[1], bias ? c->in[2] : VKG_NONE, &cd));
    if (!ref) return;
    c->atol = c->rtol = 1e-4;
    int OH = (H + 2 * pd - dl * (K - 1) - 1) / st + 1, OW = (W + 2 * pd - dl * (K - 1) - 1) / st + 1;
    int cg = C / G, og = O / G;
    for (int b = 0; b < B; b++)
      for (int o = 0; o < O; o++)
        for (int oy = 0; oy < OH; oy++)
          for (int ox = 0; ox < OW; ox++) {
            double acc = bias ? bias[o] : 0;
            int g = o / og;
            for (int ci = 0; ci < cg; ci++)
              for (int ky = 0; ky < K; ky++)
                for (int kx = 0; kx < K; kx++) {
                  int iy = oy * st - pd + ky * dl, ix = ox * st - pd + kx * dl;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  acc += (double)x[((size_t)(b * C + g * cg + ci) * H + iy) * W + ix] *
                         w[((size_t)(o * cg + ci) * K + ky) * K + kx];
                }
            ref[((size_t)(b * O + o) * OH + oy) * OW + ox] = acc;
          }
  }
}

static const struct {
  const char *op, *shaders;
  void (*build)(struct dev *d);
} ops[] = {
    {"matmul", "matmul.comp", dev_matmul},
    {"unary", "unary.comp, activations.glsl", dev_unary},
    {"binary", "binary.comp", dev_binary},
    {"softmax", "softmax_fwd.comp", dev_softmax},
    {"layernorm", "layernorm_fwd.comp", dev_layernorm},
    {"conv2d", "conv2d.comp, conv2d_direct.comp, conv2d_io.glsl", dev_conv2d},
};
#define NOPS (int)(sizeof ops / sizeof ops[0])

// ---- checking ----

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Runs every case once against its reference and times it; prints one line each. Returns the
 * number of cases that are off. */
static int check_all(struct dev *d, const char *op) {
  time_t now = time(NULL);
  char stamp[16];
  strftime(stamp, sizeof stamp, "%H:%M:%S", localtime(&now));
  printf("[%s] %s: %d case%s\n", stamp, op, d->n, d->n == 1 ? "" : "s");
  int bad = 0;
  for (int i = 0; i < d->n; i++) {
    struct dcase *c = &d->c[i];
    double err = 0, worst_excess = -1;
    int ok = vkg_graph_poison(c->g) == VKG_OK && vkg_graph_run(c->g) == VKG_OK &&
             vkg_graph_read(c->g, c->out, c->got, c->nout) == VKG_OK;
    if (!ok) {
      printf("  %-44s error: %s\n", c->label, vkg_last_error());
      bad++;
      continue;
    }
    for (size_t k = 0; k < c->nout; k++) {
      double e = fabs((double)c->got[k] - c->ref[k]), tol = c->atol + c->rtol * fabs(c->ref[k]);
      if (!(e <= tol)) worst_excess = isnan(e) ? INFINITY : fmax(worst_excess, e - tol);
      if (!(e <= err)) err = isnan(e) ? INFINITY : e;
    }
    double t[3];
    int nt = 0;
    for (; nt < 3; nt++)
      if (vkg_graph_run_timed(c->g, &t[nt])) break;
    qsort(t, (size_t)nt, sizeof t[0], cmp_double);
    int pass = worst_excess < 0;
    bad += !pass;
    printf("  %-44s max err %-9.2e %-4s %9.3f ms\n", c->label, err, pass ? "ok" : "FAIL", nt ? t[nt / 2] : NAN);
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
        "  OP            matmul, unary, binary, softmax, layernorm or conv2d\n"
        "  --watch DIR   shader sources to compile and watch (default: the source tree's shaders/)\n"
        "  --once        check once and exit (status 1 if any case is off)\n"
        "  --device D    device index or name\n",
        f);
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
  int k = 0;
  while (op && k < NOPS && strcmp(ops[k].op, op))
    k++;
  if (!op || k == NOPS) {
    cli_error("dev: %s '%s'", op ? "no op named" : "say which op to work on, e.g. 'vkgen dev matmul'", op ? op : "");
    fputs("hint: ops: matmul, unary, binary, softmax, layernorm, conv2d\n", stderr);
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
  struct dev d = {.ctx = ctx};
  ops[k].build(&d);
  int rc = 1;
  if (!d.failed_build) {
    if (!once)
      printf("vkgen dev %s: edit %s (and what they include) in %s; each save re-runs the cases. Ctrl-C exits.\n",
             ops[k].op, ops[k].shaders, c.watch);
    rc = check_all(&d, ops[k].op) ? 1 : 0;
    if (!once) {
      struct sigaction sa = {.sa_handler = on_sigint};
      sigemptyset(&sa.sa_mask);
      sigaction(SIGINT, &sa, NULL);
      sigaction(SIGTERM, &sa, NULL);
      while (!stop) {
        /* A refused edit was printed by the library; the previous code still runs, so re-check only
         * when something was reloaded. */
        if (vkg_ctx_poll_shaders(ctx) > 0) rc = check_all(&d, ops[k].op) ? 1 : 0;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
      }
      rc = 0;
    }
  }
  for (int i = 0; i < d.n; i++) {
    vkg_graph_destroy(d.c[i].g);
    for (int j = 0; j < d.c[i].nin; j++)
      free(d.c[i].host[j]);
    free(d.c[i].got);
    free(d.c[i].ref);
  }
  return cli_ctx_done(ctx, rc);
}
