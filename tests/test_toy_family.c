/* A toy family, written only here, to show (and keep true) what adding a family takes: a config table,
 * parameters made by nn_param, a loss for the shared training loop, and nothing else. It trains
 * through nn_train (checkpoints, metrics, the evaluate hook), saves and loads through the shared
 * weights module (which checks the file against the config), and samples from the shared prior.
 *
 * The toy is a diagonal Gaussian over D-dimensional points: parameters mu (D) and neg_log_sigma (D) = -log sigma, loss
 * the mean negative log-likelihood per point, 0.5 ((x - mu) / sigma)^2 + log sigma + 0.5 log(2 pi)
 * summed over the D dimensions. Trained on points drawn from a known Gaussian, it must find that
 * Gaussian: its test NLL approaches the true entropy and its samples have the true mean and spread.
 * Shape letters: B batch, D dimensions, N points. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "nn/config.h"
#include "nn/train.h"
#include "nn/weights.h"

// ---- the family: config table, parameters, loss ----

struct toy_config {
  int dim; /* D */
};
static const struct nn_cfg_field toy_fields[] = {
    NN_CFG_INT_F(struct toy_config, dim, 3, 1, 64, NULL, "dimensions of the points"),
};
static const struct nn_cfg toy_cfg = {"toy", toy_fields, 1, sizeof(struct toy_config), NULL};

struct toy {
  struct nn_model m;
  struct toy_config c;
  int mu, neg_log_sigma; /* parameter indices: (D), (D); neg_log_sigma = -log sigma */
  float *data;           /* (N, D) training points, then N_TEST test points */
  int n;
  vkg_t x;        /* the streamed batch (B, D) */
  float *xbuf;    /* (B, D) */
  vkg_graph *val; /* the evaluation graph, made on first use */
  vkg_t val_x, val_loss;
};

#define N_TRAIN 4096
#define N_TEST 1024
static const float true_mu[3] = {1.5f, -2.0f, 0.25f}, true_sigma[3] = {0.5f, 2.0f, 1.0f};

/* loss: the mean NLL per point of x (B, D) under N(mu, diag(sigma^2)). */
static vkg_t nll(vkg_graph *g, vkg_t x, vkg_t mu, vkg_t neg_log_sigma) {
  vkg_t z = vkg_binary(g, VKG_MUL, vkg_binary(g, VKG_SUB, x, mu), vkg_unary(g, VKG_EXP, neg_log_sigma, 0, 0) /* 1/s */);
  vkg_t per_dim =
      vkg_binary(g, VKG_SUB, vkg_unary(g, VKG_SQUARE, z, 0, 0), vkg_unary(g, VKG_AFFINE, neg_log_sigma, 2, 0));
  vkg_t per_point = vkg_reduce(g, VKG_REDUCE_SUM, per_dim, 1, 0); // (B)
  /* 0.5 * (sum (z^2) + 2 sum log sigma) + D/2 log(2 pi); neg_log_sigma is -log sigma. */
  int D = vkg_dim(g, x, 1);
  return vkg_unary(g, VKG_AFFINE, vkg_reduce(g, VKG_REDUCE_MEAN, per_point, 0, 1), 0.5f,
                   0.5f * (float)D * logf(6.283185307f));
}

static vkg_t build_loss(struct nn_model *m, vkg_graph *g, const vkg_t *ids, int phase) {
  struct toy *t = m->self;
  int xs[2] = {m->batch, t->c.dim};
  t->x = vkg_input_streamed(g, "x", VKG_F32, 2, xs);
  return nll(g, t->x, ids[t->mu], ids[t->neg_log_sigma]);
}

static vkg_status write_batch(struct nn_model *m, vkg_graph *g, int phase, const uint32_t *idx) {
  struct toy *t = m->self;
  for (int i = 0; i < m->batch; i++)
    memcpy(t->xbuf + (size_t)i * t->c.dim, t->data + (size_t)idx[i] * t->c.dim, sizeof(float) * (size_t)t->c.dim);
  return vkg_graph_write(g, t->x, t->xbuf, (size_t)m->batch * t->c.dim);
}

/* After each epoch: the NLL of the test points, through a graph of its own. */
static vkg_status evaluate(struct nn_model *m, int *n, const char **names, double *values) {
  struct toy *t = m->self;
  vkg_status s = VKG_OK;
  if (!t->val) {
    vkg_t ids[2];
    s = vkg_graph_create(m->params.ctx, &t->val);
    if (s) return s;
    nn_bind_all(t->val, &m->params, -1, ids);
    int xs[2] = {N_TEST, t->c.dim};
    t->val_x = vkg_input(t->val, "x", VKG_F32, 2, xs);
    t->val_loss = nll(t->val, t->val_x, ids[t->mu], ids[t->neg_log_sigma]);
    vkg_output(t->val, t->val_loss);
    s = vkg_graph_compile(t->val);
  }
  float l = 0;
  if (!s) s = vkg_graph_write(t->val, t->val_x, t->data + (size_t)N_TRAIN * t->c.dim, (size_t)N_TEST * t->c.dim);
  if (!s) s = vkg_graph_run(t->val);
  if (!s) s = vkg_graph_read(t->val, t->val_loss, &l, 1);
  names[0] = "val_loss", values[0] = l, *n = 1;
  return s;
}

/* The parameters, in one place for a new model and for loading one (then checked against the file). */
static vkg_status make_params(struct toy *t, int initialize) {
  int shape[1] = {t->c.dim};
  vkg_tensor *mu = nn_param(&t->m.params, "mu", 1, 1, shape);
  vkg_tensor *ls = mu ? nn_param(&t->m.params, "neg_log_sigma", 1, 1, shape) : NULL;
  if (!ls) return t->m.params.err;
  t->mu = 0, t->neg_log_sigma = 1;
  if (!initialize) return VKG_OK;
  vkg_status s = nn_init_const(mu, 0);
  return s ? s : nn_init_const(ls, 0);
}

static struct toy *toy_new(vkg_ctx *ctx, const struct toy_config *c) {
  struct toy *t = calloc(1, sizeof *t);
  t->c = *c;
  nn_params_init(&t->m.params, ctx);
  t->m.name = "toy";
  t->m.self = t;
  t->m.build_loss = build_loss;
  t->m.write_batch = write_batch;
  t->m.evaluate = evaluate;
  nn_cfg_json(&toy_cfg, c, t->m.config, sizeof t->m.config);
  return t;
}

static void toy_free(struct toy *t) {
  if (!t) return;
  vkg_graph_destroy(t->val);
  nn_params_free(&t->m.params);
  free(t->data), free(t->xbuf), free(t);
}

// ---- the checks ----

int main(void) {
  vkg_ctx *ctx = th_ctx();
  struct toy_config c;
  nn_cfg_defaults(&toy_cfg, &c);
  struct toy *t = toy_new(ctx, &c);
  th_ok(make_params(t, 1), "make the parameters");
  /* Points from the true Gaussian: training, then test. */
  th_seed(11);
  t->n = N_TRAIN;
  t->data = th_alloc((size_t)(N_TRAIN + N_TEST) * c.dim);
  for (int i = 0; i < N_TRAIN + N_TEST; i++)
    for (int d = 0; d < c.dim; d++)
      t->data[i * c.dim + d] = true_mu[d] + true_sigma[d] * th_normal();
  t->m.batch = 64;
  t->m.n_train = N_TRAIN;
  t->xbuf = th_alloc((size_t)t->m.batch * c.dim);

  // ---- training through the shared loop ----
  struct nn_train_opts o = {.epochs = 40, .seed = 1, .out_dir = th_tmppath("run"), .log_every = 64, .quiet = 1};
  o.lr = (struct vkg_lr_schedule){.lr = 0.05f, .total = 40 * N_TRAIN / 64}; /* cosine decay to 0 */
  o.optim = vkg_optim_desc_default(VKG_ADAM);
  th_ok(nn_train(&t->m, &o), "nn_train");
  double entropy = 0; /* the true Gaussian's differential entropy: the best possible NLL */
  for (int d = 0; d < c.dim; d++)
    entropy += 0.5 * log(6.283185307179586 * M_E) + log(true_sigma[d]);
  const char *name;
  double val;
  int nv;
  th_ok(evaluate(&t->m, &nv, &name, &val), "evaluate");
  /* The test points' NLL in double precision: under the trained parameters (the evaluate graph must
   * give it) and under the true ones (the best a model can do on these points, up to fitting noise). */
  float pm[3], pl[3];
  th_ok(vkg_tensor_download_f32(t->m.params.t[0], pm, 3), "read mu");
  th_ok(vkg_tensor_download_f32(t->m.params.t[1], pl, 3), "read neg_log_sigma");
  double fit = 0, best = 0;
  for (int i = N_TRAIN; i < N_TRAIN + N_TEST; i++)
    for (int d = 0; d < c.dim; d++) {
      double x = t->data[i * c.dim + d], zf = (x - pm[d]) * exp(pl[d]), zt = (x - true_mu[d]) / true_sigma[d];
      fit += 0.5 * zf * zf - pl[d] + 0.5 * log(6.283185307179586);
      best += 0.5 * zt * zt + log(true_sigma[d]) + 0.5 * log(6.283185307179586);
    }
  fit /= N_TEST, best /= N_TEST;
  th_check(fabs(val - fit) < 1e-4 * fabs(fit), "the evaluate graph's test NLL %.5f is the C value %.5f", val, fit);
  th_check(val - best < 0.01 && fabs(val - entropy) < 0.1,
           "test NLL %.4f is within 0.01 of the true parameters' %.4f (entropy %.4f)", val, best, entropy);
  char *metrics = th_read_file(th_tmppath("run/metrics.jsonl"), NULL);
  th_check(metrics && strstr(metrics, "\"val_loss\": "), "the loop logged the evaluate hook's val_loss");
  free(metrics);

  // ---- the shared weights file: written by the loop, read back checked against the config ----
  struct toy_config back;
  vkg_st *st;
  struct toy *u = NULL;
  if (th_ok(nn_weights_open(th_tmppath("run/toy.safetensors"), "toy", &toy_cfg, &back, &st), "open the weights")) {
    u = toy_new(ctx, &back);
    nn_params_expect(&u->m.params, st, "toy.safetensors");
    th_ok(make_params(u, 0), "declare the parameters against the file");
    th_ok(nn_weights_load(&u->m.params, st, "toy.safetensors"), "load them");
    vkg_st_close(st);
  }
  float mu[3], ls[3], mu2[3];
  th_ok(vkg_tensor_download_f32(t->m.params.t[0], mu, 3), "read mu");
  th_ok(vkg_tensor_download_f32(t->m.params.t[1], ls, 3), "read neg_log_sigma");
  if (u) th_ok(vkg_tensor_download_f32(u->m.params.t[0], mu2, 3), "read the loaded mu");
  th_check(u && !memcmp(mu, mu2, sizeof mu), "the loaded weights are the trained ones");
  /* A config that asks for more dimensions than the file holds is refused by tensor name. */
  struct toy_config wide = {.dim = 5};
  struct toy *w = toy_new(ctx, &wide);
  if (th_ok(vkg_st_open(th_tmppath("run/toy.safetensors"), &st), "reopen")) {
    nn_params_expect(&w->m.params, st, "toy.safetensors");
    vkg_status s = make_params(w, 0);
    th_check(s == VKG_ERR_FORMAT && strstr(vkg_last_error(), "'mu'") && w->m.params.n == 0,
             "a wider config is refused before allocating: %s", vkg_last_error());
    vkg_st_close(st);
  }

  // ---- sampling from the shared prior: x = mu + sigma z ----
  enum { NS = 20000 };
  float *z = th_alloc((size_t)NS * c.dim);
  th_ok(nn_prior(ctx, NS, c.dim, 5, z), "nn_prior");
  for (int d = 0; d < c.dim; d++) {
    double sum = 0, sq = 0;
    for (int i = 0; i < NS; i++) {
      double x = mu[d] + expf(-ls[d]) * z[i * c.dim + d];
      sum += x, sq += x * x;
    }
    double mean = sum / NS, sd = sqrt(sq / NS - mean * mean);
    th_check(fabs(mean - true_mu[d]) < 0.1 && fabs(sd / true_sigma[d] - 1) < 0.05,
             "samples of dimension %d: mean %.3f (true %.2f), spread %.3f (true %.2f)", d, mean, true_mu[d], sd,
             true_sigma[d]);
  }
  free(z);
  toy_free(w);
  toy_free(u);
  toy_free(t);
  return th_finish(ctx);
}
