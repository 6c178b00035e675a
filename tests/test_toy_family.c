/* A toy family, written only here, to show (and keep true) what adding a family takes: a config table,
 * parameters made by nn_param, a loss for the shared training loop, a sampler, and one registration
 * line. Everything else is generic: 'vkgen train|sample|eval|bench toy' run through vkg_cli_main with
 * the shared options, training loop, weights files (checked against the config), PNG grids and FID.
 *
 * The toy models each pixel of a Fashion-MNIST image as an independent Bernoulli variable with a
 * learned logit l: NLL per image = sum over pixels of softplus(l) - l x (the cross-entropy of grey
 * values x in [0, 1]). Its optimum is known in closed form, sigmoid(l) = the training set's mean
 * pixel, so the test checks that training through the generic command reaches it. Shape letters:
 * B batch, C channels, S image side, P = C S S pixels. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "harness.h"
#include "nn/config.h"
#include "nn/data.h"
#include "nn/train.h"
#include "nn/weights.h"

// ---- the family: config table, parameters, loss, sampler ----

struct toy_config {
  int size, channels; /* S, C */
};
static const struct nn_cfg_field toy_fields[] = {
    NN_CFG_INT_F(struct toy_config, size, 28, 4, 64, NULL, "image side in pixels"),
    NN_CFG_INT_F(struct toy_config, channels, 1, 1, 3, NULL, "1 (grey) or 3 (RGB)"),
};
static const struct nn_cfg toy_cfg = {"toy", toy_fields, 2, sizeof(struct toy_config), NULL};

struct toy {
  struct nn_model m;
  struct toy_config c;
  struct vkg_images train, test;
  vkg_tensor *logits; /* (C, S, S) */
  vkg_t x;            /* the streamed batch (B, C, S, S) */
  float *xbuf;
  vkg_graph *val; /* the evaluation graph, made on first use */
  vkg_t val_x, val_loss;
  int nval;
};

static int pixels(const struct toy_config *c) { return c->channels * c->size * c->size; }

/* The mean NLL per image of x (B, P) under logits l (P): sum softplus(l) - mean_b sum_p l x. */
static vkg_t nll(vkg_graph *g, vkg_t x, vkg_t l, int P) {
  int row[2] = {1, P};
  vkg_t lr = vkg_reshape(g, l, 2, row);
  vkg_t norm = vkg_reduce(g, VKG_REDUCE_SUM, vkg_unary(g, VKG_SOFTPLUS, lr, 0, 0), 1, 0); /* (1) */
  vkg_t lx = vkg_reduce(g, VKG_REDUCE_SUM, vkg_binary(g, VKG_MUL, x, lr), 1, 0);          /* (B) */
  return vkg_binary(g, VKG_SUB, norm, vkg_reduce(g, VKG_REDUCE_MEAN, lx, 0, 1));
}

static vkg_t build_loss(struct nn_model *m, vkg_graph *g, const vkg_t *ids, int phase) {
  (void)phase;
  struct toy *t = m->self;
  int xs[2] = {m->batch, pixels(&t->c)};
  t->x = vkg_input_streamed(g, "x", VKG_F32, 2, xs);
  return nll(g, t->x, ids[0], xs[1]);
}

static vkg_status write_batch(struct nn_model *m, vkg_graph *g, int phase, const uint32_t *idx) {
  (void)phase;
  struct toy *t = m->self;
  size_t P = (size_t)pixels(&t->c);
  for (int i = 0; i < m->batch; i++)
    memcpy(t->xbuf + (size_t)i * P, t->train.pixels + (size_t)idx[i] * P, sizeof(float) * P);
  return vkg_graph_write(g, t->x, t->xbuf, (size_t)m->batch * P);
}

/* The NLL of (up to 1000) test images, through a graph of its own. */
static vkg_status evaluate(struct nn_model *m, int *n, const char **names, double *values) {
  struct toy *t = m->self;
  int P = pixels(&t->c);
  vkg_status s = VKG_OK;
  if (!t->val) {
    vkg_t ids[1];
    t->nval = t->test.n < 1000 ? t->test.n : 1000;
    s = vkg_graph_create(m->params.ctx, &t->val);
    if (s) return s;
    nn_bind_all(t->val, &m->params, -1, ids);
    int xs[2] = {t->nval, P};
    t->val_x = vkg_input(t->val, "x", VKG_F32, 2, xs);
    t->val_loss = nll(t->val, t->val_x, ids[0], P);
    vkg_output(t->val, t->val_loss);
    s = vkg_graph_compile(t->val);
  }
  float l = 0;
  if (!s) s = vkg_graph_write(t->val, t->val_x, t->test.pixels, (size_t)t->nval * P);
  if (!s) s = vkg_graph_run(t->val);
  if (!s) s = vkg_graph_read(t->val, t->val_loss, &l, 1);
  names[0] = "val_loss", values[0] = l, *n = 1;
  return s;
}

static void toy_destroy(struct nn_model *m) {
  struct toy *t = m->self;
  vkg_graph_destroy(t->val);
  nn_params_free(&m->params);
  vkg_images_free(&t->train);
  vkg_images_free(&t->test);
  free(t->xbuf), free(t);
}

static vkg_status toy_create(vkg_ctx *ctx, const void *cfg, const struct nn_create_opts *o, struct nn_model **out) {
  struct toy *t = calloc(1, sizeof *t);
  t->c = *(const struct toy_config *)cfg;
  struct nn_model *m = &t->m;
  *out = m;
  nn_params_init(&m->params, ctx);
  if (o->expect) nn_params_expect(&m->params, o->expect, o->expect_path);
  m->name = "toy", m->self = t, m->batch = o->batch;
  m->build_loss = build_loss, m->write_batch = write_batch, m->evaluate = evaluate;
  nn_cfg_json(&toy_cfg, &t->c, m->config, sizeof m->config);
  int shape[3] = {t->c.channels, t->c.size, t->c.size};
  vkg_status s =
      (t->logits = nn_param(&m->params, "logits", 1, 3, shape)) ? nn_init_const(t->logits, 0) : m->params.err;
  if (!s) s = nn_image_data_load(o->data_dir, t->c.size, t->c.channels, o->synthetic, o->seed, &t->train, &t->test);
  if (!s && (t->train.c != t->c.channels || t->train.h != t->c.size))
    s = VKG_ERR_ARG; /* Fashion-MNIST is 28x28 grey: other geometries need --data DIR */
  m->n_train = o->limit && o->limit < (size_t)t->train.n ? o->limit : (size_t)t->train.n;
  if (!s) t->xbuf = malloc(sizeof(float) * (size_t)o->batch * pixels(&t->c));
  if (s) {
    toy_destroy(m);
    *out = NULL;
  }
  return s;
}

static void toy_image_shape(const struct nn_model *m, int *c, int *h, int *w) {
  const struct toy *t = m->self;
  *c = t->c.channels, *h = *w = t->c.size;
}

/* Image i: pixel p is 1 with probability sigmoid(l_p), drawn from the shared prior's z as u = Phi(z). */
static vkg_status toy_sample(struct nn_model *m, int n, uint32_t seed, float *images) {
  struct toy *t = m->self;
  int P = pixels(&t->c);
  float *l = malloc(sizeof *l * (size_t)P), *z = malloc(sizeof *z * (size_t)n * P);
  vkg_status s = vkg_tensor_download_f32(t->logits, l, (size_t)P);
  if (!s) s = nn_prior(m->params.ctx, n, P, seed, z);
  for (size_t i = 0; !s && i < (size_t)n * P; i++)
    images[i] = 0.5 * erfc(-z[i] / sqrt(2.0)) < 1 / (1 + exp(-l[i % (size_t)P])) ? 1.0f : 0.0f;
  free(l), free(z);
  return s;
}

static const struct nn_family_ops toy_ops = {toy_create, toy_destroy, toy_image_shape, toy_sample};
static const struct cli_family toy_family = {"toy",    "per-pixel Bernoulli toy on Fashion-MNIST",
                                             "image",  "a PNG grid",
                                             &toy_cfg, 1,
                                             64,       0.05,
                                             0.9,      0,
                                             NULL,     NULL,
                                             NULL,     NULL,
                                             &toy_ops};

// ---- the checks ----

/* Runs vkgen with args, standard output into out (NULL: discarded); returns the exit code. */
static int vkgen(const char *out, const char *args) {
  char buf[8192], *argv[32];
  snprintf(buf, sizeof buf, "vkgen %s", args);
  int argc = 0;
  for (char *tok = strtok(buf, " "); tok && argc < 31; tok = strtok(NULL, " "))
    argv[argc++] = tok;
  argv[argc] = NULL;
  fflush(stdout);
  int saved = dup(1), fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 1);
  close(fd);
  int rc = vkg_cli_main(argc, argv);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  return rc;
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_check(cli_family_register(&toy_family) == 0, "the toy family registers");
  th_check(cli_family_register(&toy_family) != 0, "a second family of the same name is refused");
  char args[8192], *help = th_tmppath("help");
  th_check(vkgen(help, "train toy --help") == 0, "train toy --help");
  char *text = th_read_file(help, NULL);
  th_check(text && strstr(text, "--size N") && strstr(text, "--lr X") && strstr(text, "default 0.05"),
           "train toy --help lists the config table's options and the family's defaults");
  free(text);

  // ---- train through the generic command ----
  const char *run = th_tmppath("run");
  snprintf(args, sizeof args, "train toy --steps 150 --batch 64 --limit 4096 --log-every 50 --quiet --out %s", run);
  th_check(vkgen(NULL, args) == 0, "vkgen %s", args);
  char weights[4096];
  snprintf(weights, sizeof weights, "%s/toy.safetensors", run);
  th_check(access(weights, R_OK) == 0 && access(th_tmppath("run/samples.png"), R_OK) == 0,
           "training wrote the weights and a grid of samples");

  /* The optimum in closed form on the images trained on (the first 4096), and the test NLL under it. */
  struct vkg_images tr, te;
  th_ok(nn_image_data_load(NULL, 28, 1, 0, 0, &tr, &te), "load Fashion-MNIST");
  enum { P = 784, NT = 4096 };
  double mean[P] = {0}, best = 0, init = 0;
  for (int i = 0; i < NT; i++)
    for (int p = 0; p < P; p++)
      mean[p] += tr.pixels[(size_t)i * P + p] / NT;
  int nval = te.n < 1000 ? te.n : 1000;
  for (int i = 0; i < nval; i++)
    for (int p = 0; p < P; p++) {
      double x = te.pixels[(size_t)i * P + p], q = fmin(fmax(mean[p], 1e-6), 1 - 1e-6);
      best -= (x * log(q) + (1 - x) * log(1 - q)) / nval;
      init += log(2.0) / nval;
    }

  // ---- eval: the family's metric through the generic command, checked in C ----
  char *out = th_tmppath("eval.json");
  snprintf(args, sizeof args, "eval toy --weights %s --no-fid --json", weights);
  th_check(vkgen(out, args) == 0, "vkgen %s", args);
  text = th_read_file(out, NULL);
  double val = NAN;
  const char *v = text ? strstr(text, "\"val_loss\": ") : NULL;
  if (v) val = strtod(v + 12, NULL);
  th_check(val < init - 100 && val - best < 0.02 * fabs(best),
           "test NLL %.2f nats/image is within 2%% of the optimum %.2f (untrained: %.2f)", val, best, init);
  free(text);

  /* The loaded logits give that NLL computed here. */
  struct vkg_st *st;
  double fit = 0;
  float *l = th_alloc(P);
  if (th_ok(vkg_st_open(weights, &st), "open the weights")) {
    vkg_tensor *t = NULL;
    int shape[3] = {1, 28, 28};
    th_ok(vkg_tensor_create(ctx, VKG_F32, 3, shape, &t), "a tensor for the logits");
    if (t && th_ok(vkg_st_load_tensor(st, "logits", t), "read the logits"))
      th_ok(vkg_tensor_download_f32(t, l, P), "download");
    vkg_tensor_destroy(t);
    vkg_st_close(st);
  }
  for (int i = 0; i < nval; i++)
    for (int p = 0; p < P; p++) {
      double x = te.pixels[(size_t)i * P + p], sp = l[p] > 0 ? l[p] + log1p(exp(-l[p])) : log1p(exp(l[p]));
      fit += (sp - l[p] * x) / nval;
    }
  th_check(fabs(val - fit) < 1e-4 * fabs(fit) + 1e-3, "eval's NLL %.4f is the C value %.4f", val, fit);

  // ---- sample: a PNG of the asked size; the samples' mean brightness is the model's ----
  out = th_tmppath("samples.png");
  snprintf(args, sizeof args, "sample toy --weights %s -n 300 --seed 4 --cols 20 -o %s", weights, out);
  th_check(vkgen(NULL, args) == 0, "vkgen %s", args);
  struct vkg_images png = {0};
  if (th_ok(vkg_image_load(out, &png), "read the grid"))
    th_check(png.w == 20 * 30 + 2 && png.h == 15 * 30 + 2, "a grid of 20 x 15 images (%dx%d pixels)", png.w, png.h);
  double bright = 0, model = 0;
  size_t on = 0;
  for (size_t i = 0; i < (size_t)png.h * png.w; i++) /* the first channel; the gaps are dark */
    on += png.pixels[i] > 0.5f;
  for (int p = 0; p < P; p++)
    model += 1 / (1 + exp(-l[p]));
  bright = (double)on / 300;
  th_check(fabs(bright - model) < 0.05 * model, "lit pixels per sample %.1f, expected %.1f", bright, model);
  vkg_images_free(&png);

  // ---- a config that disagrees with the file is refused by tensor name ----
  out = th_tmppath("err");
  snprintf(args, sizeof args, "train toy --init %s --size 20 --steps 1 --out %s", weights, th_tmppath("run2"));
  th_check(vkgen(NULL, args) != 0, "--init with another --size is refused");

  // ---- bench through the generic command ----
  out = th_tmppath("bench.json");
  th_check(vkgen(out, "bench toy --steps 2 --json") == 0, "bench toy");
  text = th_read_file(out, NULL);
  th_check(text && strstr(text, "\"steps_per_s\": ") && strstr(text, "\"images_per_s\": "),
           "bench toy reports sampling and training rates: %s", text ? text : "");
  free(text);
  free(l);
  vkg_images_free(&tr);
  vkg_images_free(&te);
  return th_finish(ctx);
}
