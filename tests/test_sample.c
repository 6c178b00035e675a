/* sample_logits against the plain-C sampler fed the same u (Philox word 0 of counter (row, 0, 0, 0),
 * key (seed, 0); the op is the graph's first random op, so its stream is 0). Greedy must equal the
 * argmax exactly and top-k picks must lie in the reference's kept set exactly. A sampled index must
 * equal the reference's, except where u * total lies within float rounding of a cumulative boundary
 * (a relative 1e-5 of the total, counted and printed), where the neighbouring token across that
 * boundary is accepted too. Temperature, top-k and seed change through scalars on one compiled graph.
 * Frequencies over 4096 rows of identical logits are checked against the softmax. Shape letters: B
 * rows, V vocabulary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "check/ref_random.h"

/* A graph that samples logits (B, V), with seed, temperature and top-k slots. */
struct sampler {
  vkg_graph *g;
  vkg_t logits, out;
  int seed, temp, topk;
  int B, V;
};

static int sampler_make(vkg_ctx *ctx, struct sampler *s, int B, int V) {
  memset(s, 0, sizeof *s);
  s->B = B, s->V = V;
  vkg_graph_create(ctx, &s->g);
  int shape[2] = {B, V};
  s->logits = vkg_input(s->g, "logits", VKG_F32, 2, shape);
  s->seed = vkg_scalar(s->g, "seed");
  s->temp = vkg_scalar(s->g, "temperature");
  s->topk = vkg_scalar(s->g, "top_k");
  s->out = vkg_sample_logits(s->g, s->logits, s->seed, s->temp, s->topk);
  vkg_output(s->g, s->out);
  return th_ok(vkg_graph_compile(s->g), "sampler compile");
}

/* Runs with the given settings; got (B) gets the token ids. */
static int sampler_run(struct sampler *s, const float *x, uint32_t seed, float T, uint32_t k, int32_t *got) {
  vkg_graph_set_u32(s->g, s->seed, seed);
  vkg_graph_set_f32(s->g, s->temp, T);
  vkg_graph_set_u32(s->g, s->topk, k);
  return th_ok(vkg_graph_write(s->g, s->logits, x, (size_t)s->B * s->V), "write logits") &&
         th_ok(th_run(s->g), "run") && th_ok(vkg_graph_read_i32(s->g, s->out, got, (size_t)s->B), "read tokens");
}

static int boundary_hits; /* rows accepted only through the rounding allowance */

/* Is got an honest draw for this row? Exact match with the reference, or the neighbour across the
 * boundary when the target lies within float rounding of it. */
static int row_ok(const float *x, int V, float T, uint32_t k, double u, int got, char *why, size_t nwhy) {
  double *w = malloc(sizeof *w * (size_t)V);
  int ref = ref_sample(x, V, T, k, u, w);
  int ok = got == ref;
  if (!ok && got >= 0 && got < V && w[got] > 0 && T > 0) {
    double total = 0, before = 0;
    for (int i = 0; i < V; i++)
      total += w[i];
    for (int i = 0; i < ref; i++)
      before += w[i];
    double target = u * total, eps = 1e-5 * total;
    /* The nearest positive-weight tokens on either side of ref. */
    int prev = ref - 1, next = ref + 1;
    while (prev >= 0 && w[prev] == 0)
      prev--;
    while (next < V && w[next] == 0)
      next++;
    if (got == prev && fabs(target - before) <= eps) ok = 1;
    if (got == next && fabs(target - (before + w[ref])) <= eps) ok = 1;
    if (ok) boundary_hits++;
  }
  if (!ok) snprintf(why, nwhy, "got %d, reference %d (u %.9f)", got, ref, u);
  free(w);
  return ok;
}

/* Every row against the reference for one setting. */
static void check_rows(struct sampler *s, const float *x, uint32_t seed, float T, uint32_t k, const char *label) {
  int32_t *got = malloc(sizeof *got * (size_t)s->B);
  char what[160];
  snprintf(what, sizeof what, "%s B=%d V=%d T=%g top_k=%u seed=%u", label, s->B, s->V, T, k, seed);
  if (sampler_run(s, x, seed, T, k, got)) {
    int bad = -1;
    char why[128] = "";
    unsigned char *keep = malloc((size_t)s->V);
    for (int r = 0; r < s->B && bad < 0; r++) {
      const float *row = x + (size_t)r * s->V;
      double u = ref_sample_u(seed, 0, (uint32_t)r);
      if (!row_ok(row, s->V, T, k, u, got[r], why, sizeof why)) bad = r;
      /* Top-k: never a token outside the kept set (exact: the GPU selects by integer keys). */
      if (bad < 0 && T > 0 && k > 0 && k < (uint32_t)s->V) {
        ref_topk_keep(row, s->V, k, keep);
        int above = 0;
        for (int i = 0; i < s->V; i++)
          above += row[i] > row[got[r]];
        if (!keep[got[r]] || above >= (int)k) {
          bad = r;
          snprintf(why, sizeof why, "token %d is outside the top %u (%d logits above it)", got[r], k, above);
        }
      }
    }
    free(keep);
    if (bad >= 0)
      th_check(0, "%s: row %d: %s", what, bad, why);
    else
      th_check(1, "%s: every row matches the reference", what);
  }
  free(got);
}

// ---- against the reference on awkward shapes, settings changed through scalars ----

static void shapes(vkg_ctx *ctx) {
  static const int cases[][2] = {{3, 1}, {5, 7}, {9, 13}, {4, 127}, {2, 300}, {3, 50257}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int B = cases[c][0], V = cases[c][1];
    struct sampler s;
    if (sampler_make(ctx, &s, B, V)) {
      float *x = th_alloc((size_t)B * V);
      th_fill(x, (size_t)B * V, -6, 6);
      const uint32_t ks[] = {0, 1, 3, 40, (uint32_t)V, (uint32_t)V + 5};
      const float Ts[] = {1.0f, 0.7f, 2.5f};
      for (int t = 0; t < 3; t++)
        for (int k = 0; k < 6; k++)
          check_rows(&s, x, 1234u + (uint32_t)(t * 6 + k), Ts[t], ks[k], "sample");
      /* Greedy, whatever top-k says. */
      check_rows(&s, x, 5, 0.0f, 0, "greedy");
      check_rows(&s, x, 5, 0.0f, 3, "greedy");
      if (V == 1) {
        int32_t got[3];
        int all0 = 1;
        for (uint32_t seed = 0; seed < 20; seed++) {
          sampler_run(&s, x, seed, 1.0f, 0, got);
          for (int r = 0; r < B; r++)
            all0 &= got[r] == 0;
        }
        th_check(all0, "V=1: always token 0 (20 seeds)");
      }
      free(x);
    }
    vkg_graph_destroy(s.g);
  }
}

// ---- special rows: ties, -inf, huge and infinite logits ----

static void special(vkg_ctx *ctx) {
  enum { B = 8, V = 13 };
  struct sampler s;
  if (!sampler_make(ctx, &s, B, V)) {
    vkg_graph_destroy(s.g);
    return;
  }
  float x[B][V];
  th_fill(&x[0][0], (size_t)B * V, -3, 3);
  for (int i = 0; i < V; i++) {
    x[0][i] = 0.5f;                              /* all tied */
    x[1][i] = i % 3 ? -INFINITY : (float)i;      /* some -inf */
    x[2][i] = -INFINITY;                         /* all -inf */
    x[3][i] = i % 2 ? 1e30f : -1e30f;            /* huge */
    x[4][i] = i % 4 == 0 ? 3e38f : -3e38f;       /* near the float limits: differences overflow */
    x[5][i] = i == 6 || i == 9 ? INFINITY : 1.f; /* +inf */
  }
  x[6][V - 1] = 100; /* one dominant logit at the end */
  for (int i = 0; i < V; i++)
    x[7][i] = (float)(i % 4); /* ties at the top-k threshold */
  x[7][0] = x[7][4] = -0.0f;  /* -0 and +0 are one value for top-k */
  x[7][8] = x[7][12] = 0.0f;
  const uint32_t ks[] = {0, 1, 2, 3, 5, 11};
  const float Ts[] = {1.0f, 0.3f, 4.0f, 0.0f};
  for (int t = 0; t < 4; t++)
    for (int k = 0; k < 6; k++)
      for (uint32_t seed = 0; seed < 4; seed++)
        check_rows(&s, &x[0][0], seed, Ts[t], ks[k], "special rows");

  /* All tied with top-k 3: only tokens 0, 1, 2 may come, and over many seeds each does. */
  int32_t got[B];
  int seen[V] = {0}, outside = 0;
  for (uint32_t seed = 0; seed < 64; seed++) {
    sampler_run(&s, &x[0][0], seed, 1.0f, 3, got);
    if (got[0] >= 0 && got[0] < V) seen[got[0]]++;
    outside += got[0] > 2;
  }
  th_check(!outside && seen[0] && seen[1] && seen[2], "tied row, top-k 3: tokens 0..2 only (%d %d %d), none outside",
           seen[0], seen[1], seen[2]);
  vkg_graph_destroy(s.g);
}

// ---- empirical frequencies against softmax probabilities ----

static void frequencies(vkg_ctx *ctx, float T, uint32_t k) {
  enum { B = 4096, V = 10 };
  static const float logits[V] = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 2.5f, 0.0f, -2.0f, 1.5f, 2.2f};
  struct sampler s;
  if (sampler_make(ctx, &s, B, V)) {
    float *x = th_alloc((size_t)B * V);
    for (int r = 0; r < B; r++)
      memcpy(x + (size_t)r * V, logits, sizeof logits);
    int32_t *got = malloc(sizeof *got * B);
    if (sampler_run(&s, x, 77, T, k, got)) {
      double p[V], total = 0, chi2 = 0, worst = 0;
      unsigned char keep[V];
      ref_topk_keep(logits, V, k, keep);
      for (int i = 0; i < V; i++)
        total += p[i] = keep[i] ? exp((logits[i] - 3.0) / T) : 0;
      int count[V] = {0}, bad = 0, df = -1;
      for (int r = 0; r < B; r++) {
        if (got[r] < 0 || got[r] >= V || !keep[got[r]])
          bad++;
        else
          count[got[r]]++;
      }
      for (int i = 0; i < V; i++) {
        p[i] /= total;
        if (p[i] == 0) continue;
        double e = B * p[i], sd = sqrt(B * p[i] * (1 - p[i])), z = fabs(count[i] - e) / sd;
        chi2 += (count[i] - e) * (count[i] - e) / e;
        if (z > worst) worst = z;
        df++;
      }
      /* Each count within 4 sd of its expectation; chi-square under its 0.1% critical value
       * (at most 27.9 for 9 degrees of freedom, 16.3 for 3). */
      double crit = df == 9 ? 27.88 : df == 3 ? 16.27 : 1e9;
      th_check(!bad && worst < 4 && chi2 < crit,
               "frequencies of %d draws, T=%g top_k=%u: worst count %.2f sd off, chi2 %.2f (%d dof), %d outside", B, T,
               k, worst, chi2, df, bad);
    }
    free(got);
    free(x);
  }
  vkg_graph_destroy(s.g);
}

// ---- more than 65535 rows: the grid spills into y ----

static void many_rows(vkg_ctx *ctx) {
  enum { B = 70001, V = 5 };
  struct sampler s;
  if (sampler_make(ctx, &s, B, V)) {
    float *x = th_alloc((size_t)B * V);
    th_fill(x, (size_t)B * V, -2, 2);
    check_rows(&s, x, 9, 0.8f, 2, "many rows");
    free(x);
  }
  vkg_graph_destroy(s.g);
}

// ---- a new seed changes the draws ----

static void seeds(vkg_ctx *ctx) {
  enum { B = 64, V = 100 };
  struct sampler s;
  if (sampler_make(ctx, &s, B, V)) {
    float *x = th_alloc((size_t)B * V);
    th_fill(x, (size_t)B * V, -1, 1);
    int32_t a[B], b[B], c[B];
    sampler_run(&s, x, 1, 1.0f, 0, a);
    sampler_run(&s, x, 1, 1.0f, 0, b);
    sampler_run(&s, x, 2, 1.0f, 0, c);
    th_check(!memcmp(a, b, sizeof a), "same seed, two runs: the same tokens");
    th_check(memcmp(a, c, sizeof a) != 0, "another seed through vkg_graph_set_u32: other tokens");
    free(x);
  }
  vkg_graph_destroy(s.g);
}

// ---- defaults (slots -1) and errors ----

static void defaults_and_errors(vkg_ctx *ctx) {
  enum { B = 6, V = 33 };
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int shape[2] = {B, V};
  float *x;
  vkg_t in = th_input(g, 2, shape, -2, 2, &x);
  vkg_t out = vkg_sample_logits(g, in, -1, -1, -1);
  vkg_output(g, out);
  int32_t got[B];
  if (th_ok(vkg_graph_compile(g), "defaults") && th_ok(th_write_inputs(g), "defaults") &&
      th_ok(th_run(g), "defaults") && th_ok(vkg_graph_read_i32(g, out, got, B), "defaults")) {
    int bad = -1;
    char why[128];
    for (int r = 0; r < B && bad < 0; r++)
      if (!row_ok(x + r * V, V, 1.0f, 0, ref_sample_u(0, 0, (uint32_t)r), got[r], why, sizeof why)) bad = r;
    th_check(bad < 0, "slots -1: seed 0, T 1, all tokens%s%s", bad < 0 ? "" : ": ", bad < 0 ? "" : why);
  }
  vkg_graph_destroy(g);

  vkg_graph_create(ctx, &g);
  int s1[1] = {V};
  in = vkg_input(g, "x", VKG_F32, 1, s1);
  out = vkg_sample_logits(g, in, -1, -1, -1);
  th_check(out == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_SHAPE, "1-D logits are a shape error: %s",
           vkg_last_error());
  vkg_graph_destroy(g);

  vkg_graph_create(ctx, &g);
  in = vkg_input(g, "x", VKG_F32, 2, shape);
  out = vkg_sample_logits(g, in, -1, 7, -1);
  th_check(out == VKG_NONE && vkg_graph_compile(g) == VKG_ERR_ARG, "a temperature slot that does not exist: %s",
           vkg_last_error());
  vkg_graph_destroy(g);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(3);
  shapes(ctx);
  special(ctx);
  frequencies(ctx, 1.0f, 0);
  frequencies(ctx, 0.5f, 4);
  frequencies(ctx, 2.0f, 0);
  many_rows(ctx);
  seeds(ctx);
  defaults_and_errors(ctx);
  th_check(1, "%d row(s) accepted through the rounding allowance at a cumulative boundary", boundary_hits);
  return th_finish(ctx);
}
