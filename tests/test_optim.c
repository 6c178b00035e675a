/* Optimizers against a double-precision C reference of PyTorch's algorithms: 9 parameters (1 to
 * 77100 values, more than one dispatch of the norm's sums of squares) trained for 5 steps of the loss
 * sum_i sum(c_i p_i + p_i^2 / 2), whose gradient c_i + p_i changes as the parameters move. Every
 * step compares all parameters and the returned pre-clip gradient norm; the learning rate (from a
 * warmup + cosine schedule) and the step number change through scalars between runs of one compiled
 * graph. SGD (plain, momentum, weight decay), Adam (L2 weight decay, a large eps) and AdamW, with
 * gradient clipping active and inactive; the state tensors' names and values after the run; the
 * learning-rate schedule; argument errors. Also a small case against numbers from PyTorch itself
 * (tools/optim_reference.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "check/ref_optim.h"

#define NP 9
static const int shapes[NP][3] = {{7}, {13, 5}, {1}, {127}, {33, 129}, {300, 257}, {3, 3}, {8}, {2, 2, 2}};
static const int ndims[NP] = {1, 2, 1, 1, 2, 2, 2, 1, 3};
#define STEPS 5

static size_t numel_of(int i) {
  size_t n = 1;
  for (int d = 0; d < ndims[i]; d++)
    n *= (size_t)shapes[i][d];
  return n;
}

/* loss = sum_i sum(c_i * p_i + 0.5 * p_i^2) over the first np parameters. */
static vkg_t build_loss(vkg_graph *g, int np, const vkg_t *p, const vkg_t *c) {
  vkg_t total = VKG_NONE;
  int flat[1] = {-1};
  for (int i = 0; i < np; i++) {
    vkg_t t = vkg_binary(g, VKG_ADD, vkg_binary(g, VKG_MUL, p[i], c[i]),
                         vkg_unary(g, VKG_AFFINE, vkg_unary(g, VKG_SQUARE, p[i], 0, 0), 0.5f, 0));
    t = vkg_reduce(g, VKG_REDUCE_SUM, vkg_reshape(g, t, 1, flat), 0, 0);
    total = total == VKG_NONE ? t : vkg_binary(g, VKG_ADD, total, t);
  }
  return total;
}

/* Trains with optimizer d for STEPS steps on the GPU and in the reference, comparing every step. */
static void train(vkg_ctx *ctx, const char *name, struct vkg_optim_desc d, const struct vkg_lr_schedule *sched,
                  float c_scale) {
  vkg_tensor *pt[NP] = {0};
  float *init[NP], *c[NP];
  double *rp[NP], *rs1[NP], *rs2[NP], *rg[NP];
  size_t n[NP], total = 0;
  for (int i = 0; i < NP; i++) {
    n[i] = numel_of(i);
    total += n[i];
    init[i] = th_alloc(n[i]);
    c[i] = th_alloc(n[i]);
    th_fill(init[i], n[i], -1, 1);
    th_fill(c[i], n[i], -c_scale, c_scale);
    rp[i] = malloc(n[i] * sizeof(double));
    rg[i] = malloc(n[i] * sizeof(double));
    rs1[i] = calloc(n[i], sizeof(double));
    rs2[i] = calloc(n[i], sizeof(double));
    for (size_t k = 0; k < n[i]; k++)
      rp[i][k] = init[i][k];
    if (!th_ok(vkg_tensor_create(ctx, VKG_F32, ndims[i], shapes[i], &pt[i]), name) ||
        !th_ok(vkg_tensor_upload_f32(pt[i], init[i], n[i]), name))
      goto done;
  }
  vkg_optim *o = NULL;
  if (!th_ok(vkg_optim_create(ctx, &d, NP, pt, &o), name)) goto done;

  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t p[NP], ct[NP];
  for (int i = 0; i < NP; i++) {
    p[i] = vkg_bind(g, pt[i]);
    vkg_requires_grad(g, p[i]);
    char cn[16];
    snprintf(cn, sizeof cn, "c%d", i);
    ct[i] = vkg_input(g, cn, VKG_F32, ndims[i], shapes[i]);
  }
  vkg_backward(g, build_loss(g, NP, p, ct));
  vkg_t norm = vkg_optim_apply(g, o, p);
  vkg_output(g, norm);
  int ok = th_ok(vkg_graph_compile(g), name);
  for (int i = 0; i < NP && ok; i++)
    ok = th_ok(vkg_graph_write(g, ct[i], c[i], n[i]), name);
  int lr_slot = vkg_scalar(g, "lr"), step_slot = vkg_scalar(g, "step");
  float *got = th_alloc(total), *ref = th_alloc(total);
  for (long step = 1; step <= STEPS && ok; step++) {
    float lr = vkg_lr_at(sched, step);
    ok = th_ok(vkg_graph_set_f32(g, lr_slot, lr), name) &&
         th_ok(vkg_graph_set_u32(g, step_slot, (uint32_t)step), name) && th_ok(th_run(g), name);
    if (!ok) break;
    for (int i = 0; i < NP; i++)
      for (size_t k = 0; k < n[i]; k++)
        rg[i][k] = (double)c[i][k] + rp[i][k];
    double rnorm = ref_optim_step(&d, NP, n, rp, (const double *const *)rg, rs1, rs2, lr, step);
    size_t off = 0;
    for (int i = 0; i < NP && ok; i++) {
      ok = th_ok(vkg_tensor_download_f32(pt[i], got + off, n[i]), name);
      for (size_t k = 0; k < n[i]; k++)
        ref[off + k] = (float)rp[i][k];
      off += n[i];
    }
    char what[160];
    snprintf(what, sizeof what, "%s: parameters after step %ld (lr %g)", name, step, (double)lr);
    if (ok) th_close(what, got, ref, total, 1e-6f, 1e-5f);
    float gn = NAN, rn = (float)rnorm;
    snprintf(what, sizeof what, "%s: gradient norm at step %ld", name, step);
    if (ok && th_ok(vkg_graph_read(g, norm, &gn, 1), what)) th_close(what, &gn, &rn, 1, 0, 1e-5f);
  }

  /* The state: names parameter-major, values equal to the reference's. */
  int per = d.kind == VKG_SGD ? (d.momentum > 0) : 2;
  th_check(vkg_optim_state_count(o) == NP * per, "%s: %d state tensors (want %d)", name, vkg_optim_state_count(o),
           NP * per);
  for (int k = 0; k < vkg_optim_state_count(o) && ok; k++) {
    const char *sname = NULL, *want = d.kind == VKG_SGD ? "momentum_buffer" : k % 2 ? "exp_avg_sq" : "exp_avg";
    vkg_tensor *st = vkg_optim_state(o, k, &sname);
    int i = k / per;
    char wname[48], what[160];
    snprintf(wname, sizeof wname, "%d.%s", i, want);
    th_check(st && sname && strcmp(sname, wname) == 0, "%s: state %d is named %s (want %s)", name, k,
             sname ? sname : "(null)", wname);
    if (!st || vkg_tensor_numel(st) != n[i]) continue;
    const double *r = per == 2 && k % 2 ? rs2[i] : rs1[i];
    for (size_t j = 0; j < n[i]; j++)
      ref[j] = (float)r[j];
    snprintf(what, sizeof what, "%s: state %s after %d steps", name, wname, STEPS);
    if (th_ok(vkg_tensor_download_f32(st, got, n[i]), what)) th_close(what, got, ref, n[i], 1e-6f, 1e-5f);
  }
  th_check(vkg_optim_state(o, NP * per, NULL) == NULL && vkg_optim_state(o, -1, NULL) == NULL,
           "%s: state indices out of range give NULL", name);
  free(got);
  free(ref);
  vkg_graph_destroy(g);
  vkg_optim_destroy(o);
done:
  for (int i = 0; i < NP; i++) {
    vkg_tensor_destroy(pt[i]);
    free(init[i]);
    free(c[i]);
    free(rp[i]);
    free(rg[i]);
    free(rs1[i]);
    free(rs2[i]);
  }
}

// ---- PyTorch's own numbers ----

/* Golden values printed by tools/optim_reference.py (torch 1.13): p0 (3,), p1 (2, 2), the loss
 * sum(c * p + p^2 / 2), three steps at lr 0.1, 0.05, 0.02, clip_grad_norm_ before each step when
 * clipping. norms[s] is the pre-clip norm of step s + 1; params the values after step 3. */
static const struct golden {
  const char *name;
  vkg_optim_kind kind;
  float momentum, beta1, beta2, eps, wd, clip;
  float norms[3], params[7];
} goldens[] = {
    {"SGD momentum 0.9, weight decay 0.01, clip 1",
     VKG_SGD,
     0.9f,
     0,
     0,
     0,
     0.01f,
     1.0f,
     {4.82830191f, 4.72640705f, 4.62965822f},
     {0.421367228f, -0.842734456f, 1.86606586f, 0.120392829f, -0.202086329f, 0.180581599f, 0.429972202f}},
    {"SGD weight decay 0.1",
     VKG_SGD,
     0,
     0,
     0,
     0,
     0.1f,
     0,
     {4.82830191f, 4.32654333f, 4.10327864f},
     {0.24995245f, -0.499904901f, 1.56443334f, 0.162915185f, -0.204839632f, -0.0758779123f, 0.490339786f}},
    {"Adam weight decay 0.1",
     VKG_ADAM,
     0,
     0.9f,
     0.999f,
     1e-8f,
     0.1f,
     0,
     {4.82830191f, 4.61654663f, 4.51199389f},
     {0.33022964f, -0.830098271f, 1.83011556f, 0.268046588f, -0.264022559f, 0.130137846f, 0.568974555f}},
    {"Adam clip 1",
     VKG_ADAM,
     0,
     0.9f,
     0.999f,
     1e-8f,
     0,
     1.0f,
     {4.82830191f, 4.61654663f, 4.51195478f},
     {0.330063552f, -0.829975545f, 1.82999074f, 0.268779099f, -0.288074166f, 0.12999928f, 0.569469035f}},
    {"AdamW betas (0.8, 0.99), eps 1e-3, clip 2",
     VKG_ADAMW,
     0,
     0.8f,
     0.99f,
     1e-3f,
     0.01f,
     2.0f,
     {4.82830191f, 4.61486626f, 4.50957298f},
     {0.32962662f, -0.828466237f, 1.82682872f, 0.266892165f, -0.282785296f, 0.129745603f, 0.567687035f}},
};

static void torch_golden(vkg_ctx *ctx, const struct golden *gd) {
  static const float p0[3] = {0.5f, -1.0f, 2.0f}, p1[4] = {0.1f, -0.2f, 0.3f, 0.4f};
  static const float c0[3] = {1.0f, -2.0f, 0.5f}, c1[4] = {-0.5f, 0.25f, 2.0f, -1.0f}, lrs[3] = {0.1f, 0.05f, 0.02f};
  int s0[1] = {3}, s1[2] = {2, 2};
  vkg_tensor *pt[2] = {0};
  vkg_tensor_create(ctx, VKG_F32, 1, s0, &pt[0]);
  vkg_tensor_create(ctx, VKG_F32, 2, s1, &pt[1]);
  vkg_tensor_upload_f32(pt[0], p0, 3);
  vkg_tensor_upload_f32(pt[1], p1, 4);
  struct vkg_optim_desc d = vkg_optim_desc_default(gd->kind);
  d.momentum = gd->momentum, d.weight_decay = gd->wd, d.clip_norm = gd->clip;
  if (gd->kind != VKG_SGD) d.beta1 = gd->beta1, d.beta2 = gd->beta2, d.eps = gd->eps;
  vkg_optim *o = NULL;
  char what[160];
  snprintf(what, sizeof what, "PyTorch golden, %s", gd->name);
  if (th_ok(vkg_optim_create(ctx, &d, 2, pt, &o), what)) {
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    vkg_t p[2] = {vkg_bind(g, pt[0]), vkg_bind(g, pt[1])};
    vkg_t c[2] = {vkg_input(g, "c0", VKG_F32, 1, s0), vkg_input(g, "c1", VKG_F32, 2, s1)};
    vkg_requires_grad(g, p[0]);
    vkg_requires_grad(g, p[1]);
    vkg_backward(g, build_loss(g, 2, p, c));
    vkg_t norm = vkg_optim_apply(g, o, p);
    vkg_output(g, norm);
    int ok = th_ok(vkg_graph_compile(g), what) && th_ok(vkg_graph_write(g, c[0], c0, 3), what) &&
             th_ok(vkg_graph_write(g, c[1], c1, 4), what);
    float norms[3] = {NAN, NAN, NAN}, got[7];
    for (int s = 0; s < 3 && ok; s++)
      ok = th_ok(vkg_graph_set_f32(g, vkg_scalar(g, "lr"), lrs[s]), what) &&
           th_ok(vkg_graph_set_u32(g, vkg_scalar(g, "step"), (uint32_t)s + 1), what) && th_ok(th_run(g), what) &&
           th_ok(vkg_graph_read(g, norm, &norms[s], 1), what);
    if (ok && th_ok(vkg_tensor_download_f32(pt[0], got, 3), what) &&
        th_ok(vkg_tensor_download_f32(pt[1], got + 3, 4), what)) {
      char w2[192];
      snprintf(w2, sizeof w2, "%s: gradient norms of 3 steps", what);
      th_close(w2, norms, gd->norms, 3, 0, 1e-6f);
      snprintf(w2, sizeof w2, "%s: parameters after 3 steps", what);
      th_close(w2, got, gd->params, 7, 1e-6f, 1e-5f);
    }
    vkg_graph_destroy(g);
  }
  vkg_optim_destroy(o);
  vkg_tensor_destroy(pt[0]);
  vkg_tensor_destroy(pt[1]);
}

// ---- learning-rate schedule ----

static void schedule(void) {
  struct vkg_lr_schedule s = {.lr = 1.0f, .warmup = 10, .total = 110, .min_lr = 0.1f};
  struct {
    long step;
    float want;
  } cases[] = {{1, 0.1f}, {5, 0.5f}, {10, 1.0f}, {60, 0.55f}, {110, 0.1f}, {500, 0.1f}};
  int ok = 1;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    float got = vkg_lr_at(&s, cases[i].step);
    if (fabsf(got - cases[i].want) > 1e-6f) {
      fprintf(stderr, "  step %ld: lr %.9g, want %.9g\n", cases[i].step, (double)got, (double)cases[i].want);
      ok = 0;
    }
  }
  /* Cosine: a quarter of the way through the decay, min + (lr - min) (1 + cos(pi / 4)) / 2. */
  double q = 0.1 + 0.9 * 0.5 * (1 + cos(M_PI / 4));
  ok &= fabs(vkg_lr_at(&s, 35) - q) < 1e-6;
  /* Monotone decay after warmup. */
  for (long t = 11; t <= 110; t++)
    ok &= vkg_lr_at(&s, t) <= vkg_lr_at(&s, t - 1);
  th_check(ok, "lr schedule: warmup 10, cosine to min_lr at 110, min_lr after");
  struct vkg_lr_schedule c = {.lr = 0.5f, .warmup = 4, .total = 0, .min_lr = 0.01f};
  th_check(vkg_lr_at(&c, 2) == 0.25f && vkg_lr_at(&c, 4) == 0.5f && vkg_lr_at(&c, 1000) == 0.5f,
           "lr schedule: constant after warmup when total is 0");
  struct vkg_lr_schedule k = {.lr = 0.3f};
  th_check(vkg_lr_at(&k, 1) == 0.3f && vkg_lr_at(&k, 100000) == 0.3f, "lr schedule: no warmup, no decay");
  struct vkg_lr_schedule nw = {.lr = 1.0f, .total = 100, .min_lr = 0.0f};
  th_check(fabsf(vkg_lr_at(&nw, 50) - 0.5f) < 1e-6f && vkg_lr_at(&nw, 100) == 0.0f && vkg_lr_at(&nw, 1) > 0.99f,
           "lr schedule: cosine without warmup");
}

// ---- errors ----

static void defaults(void) {
  struct vkg_optim_desc s = vkg_optim_desc_default(VKG_SGD), a = vkg_optim_desc_default(VKG_ADAM),
                        w = vkg_optim_desc_default(VKG_ADAMW);
  th_check(s.kind == VKG_SGD && s.momentum == 0 && s.weight_decay == 0 && s.clip_norm == 0, "SGD defaults");
  th_check(a.kind == VKG_ADAM && a.beta1 == 0.9f && a.beta2 == 0.999f && a.eps == 1e-8f && a.weight_decay == 0 &&
               a.clip_norm == 0,
           "Adam defaults (0.9, 0.999, 1e-8, wd 0)");
  th_check(w.kind == VKG_ADAMW && w.beta1 == 0.9f && w.beta2 == 0.999f && w.eps == 1e-8f && w.weight_decay == 0.01f,
           "AdamW defaults (0.9, 0.999, 1e-8, wd 0.01)");
}

/* Builds a graph around parameter tensor t with build and checks that compile fails with want. */
static void expect_apply_error(vkg_ctx *ctx, const char *what, vkg_tensor *t, vkg_optim *o, int mode) {
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t p = vkg_bind(g, t), ids[1] = {p};
  int s4[1] = {4};
  vkg_t x = vkg_input(g, "x", VKG_F32, 1, s4);
  vkg_t c[1] = {x};
  if (mode != 2)
    vkg_requires_grad(g, p);
  else
    vkg_requires_grad(g, x);
  if (mode != 0) vkg_backward(g, build_loss(g, 1, mode == 2 ? c : &p, mode == 2 ? &p : c));
  if (mode == 1) ids[0] = x; /* not the bound parameter */
  vkg_t r = vkg_optim_apply(g, o, ids);
  vkg_status s = vkg_graph_compile(g);
  th_check(r == VKG_NONE && s == VKG_ERR_ARG, "%s gives %s: %s", what, vkg_status_str(VKG_ERR_ARG), vkg_last_error());
  vkg_graph_destroy(g);
}

static void errors(vkg_ctx *ctx) {
  int s4[1] = {4};
  vkg_tensor *t, *u;
  vkg_tensor_create(ctx, VKG_F32, 1, s4, &t);
  vkg_tensor_create(ctx, VKG_F32, 1, s4, &u);
  vkg_optim *o = NULL;
  struct vkg_optim_desc d = vkg_optim_desc_default(VKG_ADAM);
  d.beta1 = 1.0f;
  vkg_status s = vkg_optim_create(ctx, &d, 1, &t, &o);
  th_check(s == VKG_ERR_ARG && !o, "Adam with beta1 = 1 gives %s: %s", vkg_status_str(s), vkg_last_error());
  d = vkg_optim_desc_default(VKG_SGD);
  d.momentum = -0.5f;
  s = vkg_optim_create(ctx, &d, 1, &t, &o);
  th_check(s == VKG_ERR_ARG && !o, "SGD with momentum -0.5 gives %s: %s", vkg_status_str(s), vkg_last_error());
  d = vkg_optim_desc_default(VKG_SGD);
  d.clip_norm = NAN;
  s = vkg_optim_create(ctx, &d, 1, &t, &o);
  th_check(s == VKG_ERR_ARG && !o, "clip_norm NaN gives %s: %s", vkg_status_str(s), vkg_last_error());
  vkg_tensor *twice[2] = {t, t};
  d = vkg_optim_desc_default(VKG_ADAMW);
  s = vkg_optim_create(ctx, &d, 2, twice, &o);
  th_check(s == VKG_ERR_ARG && !o, "a parameter listed twice gives %s: %s", vkg_status_str(s), vkg_last_error());
  s = vkg_optim_create(ctx, &d, 0, &t, &o);
  th_check(s == VKG_ERR_ARG && !o, "no parameters gives %s: %s", vkg_status_str(s), vkg_last_error());

  if (th_ok(vkg_optim_create(ctx, &d, 1, &t, &o), "AdamW on one parameter")) {
    expect_apply_error(ctx, "vkg_optim_apply before vkg_backward", t, o, 0);
    expect_apply_error(ctx, "vkg_optim_apply with an input in place of the bound parameter", t, o, 1);
    expect_apply_error(ctx, "vkg_optim_apply on a parameter without a gradient", t, o, 2);
    expect_apply_error(ctx, "vkg_optim_apply with another tensor bound", u, o, 3);
  }
  vkg_optim_destroy(o);
  vkg_tensor_destroy(t);
  vkg_tensor_destroy(u);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(5);
  /* Warmup over 2 steps, then cosine: lr differs at every one of the 5 steps. */
  struct vkg_lr_schedule sgd_lr = {.lr = 0.1f, .warmup = 2, .total = 6, .min_lr = 0.01f};
  struct vkg_lr_schedule adam_lr = {.lr = 0.01f, .warmup = 2, .total = 6, .min_lr = 0.001f};
  /* The gradient norm is about sqrt(81600 * 2 / 3) ~ 230: clip_norm 1 clips, 1e6 does not. */
  struct vkg_optim_desc d = vkg_optim_desc_default(VKG_SGD);
  train(ctx, "SGD", d, &sgd_lr, 1);
  d.momentum = 0.9f;
  train(ctx, "SGD momentum 0.9", d, &sgd_lr, 1);
  d.weight_decay = 0.05f;
  d.clip_norm = 1e6f;
  train(ctx, "SGD momentum 0.9, weight decay 0.05, clip inactive", d, &sgd_lr, 1);
  d.momentum = 0;
  d.clip_norm = 1.0f;
  train(ctx, "SGD weight decay 0.05, clip active", d, &sgd_lr, 1);
  d.momentum = 0.5f;
  d.weight_decay = 0;
  d.clip_norm = 5.0f;
  train(ctx, "SGD momentum 0.5, clip active", d, &sgd_lr, 1);

  d = vkg_optim_desc_default(VKG_ADAM);
  train(ctx, "Adam", d, &adam_lr, 1);
  d.weight_decay = 0.1f;
  d.clip_norm = 1.0f;
  train(ctx, "Adam weight decay 0.1, clip active", d, &adam_lr, 1);
  d.weight_decay = 0;
  d.clip_norm = 0;
  d.eps = 1e-2f;
  train(ctx, "Adam eps 1e-2, gradients near 0", d, &adam_lr, 0.01f);

  d = vkg_optim_desc_default(VKG_ADAMW);
  d.clip_norm = 1e6f;
  train(ctx, "AdamW, clip inactive", d, &adam_lr, 1);
  d.beta1 = 0.8f;
  d.beta2 = 0.99f;
  d.eps = 1e-6f;
  d.weight_decay = 0.5f;
  d.clip_norm = 2.0f;
  train(ctx, "AdamW betas (0.8, 0.99), eps 1e-6, weight decay 0.5, clip active", d, &adam_lr, 1);
  d.beta1 = 0;
  d.clip_norm = 0;
  train(ctx, "AdamW beta1 0", d, &adam_lr, 1);

  for (size_t i = 0; i < sizeof goldens / sizeof *goldens; i++)
    torch_golden(ctx, &goldens[i]);
  schedule();
  defaults();
  errors(ctx);
  return th_finish(ctx);
}
