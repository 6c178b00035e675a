/* WaveNet (see wavenet.h): the config table, parameters, the causal forward pass as graph ops, speech
 * data as mu-law windows, the model for the shared training loop, weights files and the test NLL.
 * Shape letters: B batch, T time (window length), R residual, D gate, S skip channels, Q classes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "models/wavenet.h"
#include "nn/progress.h"
#include "nn/weights.h"

// ---- configuration ----

static int is_pow2(int v) { return v > 0 && !(v & (v - 1)); }
static int log2i(int v) {
  int l = 0;
  while ((1 << l) < v)
    l++;
  return l;
}

static vkg_status check_config(const void *cfg) {
  const struct wavenet_config *c = cfg;
  if (!is_pow2(c->max_dilation))
    return vkg__fail(VKG_ERR_ARG, "wavenet config: max_dilation must be a power of 2 (got %d)", c->max_dilation);
  if (wavenet_layers(c) > WAVENET_MAX_LAYERS)
    return vkg__fail(VKG_ERR_ARG, "wavenet config: %d layers (stacks x (log2 max_dilation + 1)), over %d",
                     wavenet_layers(c), WAVENET_MAX_LAYERS);
  return VKG_OK;
}
#define F(...) NN_CFG_INT_F(struct wavenet_config, __VA_ARGS__)
static const struct nn_cfg_field wavenet_fields[] = {
    F(rate, 8000, 1000, 48000, NULL, "samples per second (the data is resampled to it)"),
    F(stacks, 2, 1, 16, NULL, "repeats of the dilation sequence 1, 2, ..., max_dilation"),
    F(max_dilation, 512, 1, 4096, NULL, "the largest dilation, a power of 2"),
    F(residual, 32, 1, 1024, NULL, "residual channels R"),
    F(gate, 32, 1, 1024, NULL, "channels of the gated unit D (the dilated conv makes 2D)"),
    F(skip, 64, 1, 2048, NULL, "skip channels S"),
    {.key = "classes",
     .type = NN_CFG_INT,
     .offset = offsetof(struct wavenet_config, classes),
     .size = sizeof(int),
     .def = 0,
     .lo = 0,
     .hi = 4096,
     .help = "conditioning classes (0: none; set from the data by --conditional)",
     .flags = NN_CFG_NOCLI},
};
#undef F
const struct nn_cfg wavenet_cfg = {"wavenet", wavenet_fields, sizeof wavenet_fields / sizeof wavenet_fields[0],
                                   sizeof(struct wavenet_config), check_config};

struct wavenet_config wavenet_config_default(void) {
  struct wavenet_config c = {0};
  nn_cfg_defaults(&wavenet_cfg, &c);
  return c;
}

int wavenet_layers(const struct wavenet_config *c) { return c->stacks * (log2i(c->max_dilation) + 1); }
int wavenet_dilation(const struct wavenet_config *c, int layer) { return 1 << (layer % (log2i(c->max_dilation) + 1)); }
int wavenet_receptive_field(const struct wavenet_config *c) {
  int rf = 1;
  for (int l = 0; l < wavenet_layers(c); l++)
    rf += wavenet_dilation(c, l); /* kernel 2: each layer reaches d further back */
  return rf;
}

// ---- parameters ----

vkg_status wavenet_params(struct nn_params *p, const struct wavenet_config *c, int initialize, uint64_t seed,
                          struct wavenet_ids *ids) {
  vkg_status s = nn_cfg_check(&wavenet_cfg, c);
  if (s) return s;
  memset(ids, -1, sizeof *ids);
  int R = c->residual, D = c->gate, S = c->skip, Q = WAVENET_Q, L = wavenet_layers(c);
  p->init = initialize, p->seed = seed; /* each tensor from its index */
  char name[64];
  ids->embed = nn_embedding_params(p, "embed", Q, R).w;
  for (int l = 0; l < L && !p->err; l++) {
    snprintf(name, sizeof name, "layers.%d.dil", l);
    struct nn_layer dil = nn_conv1d_params(p, name, R, 2 * D, 2, 1); /* w (2D, R, 2), b (2D) */
    ids->dil_w[l] = dil.w, ids->dil_b[l] = dil.b;
    snprintf(name, sizeof name, "layers.%d.cond", l);
    if (c->classes) ids->cond[l] = nn_embedding_params(p, name, c->classes, 2 * D).w; /* (classes, 2D) */
    if (l < L - 1) { /* the last layer's residual output would go nowhere */
      snprintf(name, sizeof name, "layers.%d.res", l);
      struct nn_layer res = nn_conv1d_params(p, name, D, R, 1, 1); /* w (R, D, 1), b (R) */
      ids->res_w[l] = res.w, ids->res_b[l] = res.b;
    }
    snprintf(name, sizeof name, "layers.%d.skip", l);
    struct nn_layer skip = nn_conv1d_params(p, name, D, S, 1, 1); /* w (S, D, 1), b (S) */
    ids->skip_w[l] = skip.w, ids->skip_b[l] = skip.b;
  }
  struct nn_layer o1 = nn_conv1d_params(p, "out1", S, S, 1, 1), o2 = nn_conv1d_params(p, "out2", S, Q, 1, 1);
  ids->out1_w = o1.w, ids->out1_b = o1.b, ids->out2_w = o2.w, ids->out2_b = o2.b;
  return p->err;
}

// ---- forward ----

static vkg_t conv1x1(vkg_graph *g, vkg_t x, vkg_t w, vkg_t b) { return vkg_conv1d(g, x, w, b, 1, 0, 1, 1, 0); }

vkg_t wavenet_logits(vkg_graph *g, const struct wavenet_config *c, const struct wavenet_ids *w, const vkg_t *p, vkg_t x,
                     vkg_t cond) {
  int D = c->gate, L = wavenet_layers(c);
  static const int to_bct[3] = {0, 2, 1};
  vkg_t h = vkg_permute(g, vkg_embedding(g, p[w->embed], x), to_bct); // (B, R, T)
  vkg_t skip = VKG_NONE;                                              // (B, S, T)
  for (int l = 0; l < L; l++) {
    vkg_t z = vkg_conv1d(g, h, p[w->dil_w[l]], p[w->dil_b[l]], 1, 0, wavenet_dilation(c, l), 1, 1); // (B, 2D, T)
    if (c->classes && cond != VKG_NONE) {
      vkg_t e = vkg_embedding(g, p[w->cond[l]], cond); // (B, 2D)
      int es[3] = {vkg_dim(g, e, 0), 2 * D, 1};
      z = vkg_binary(g, VKG_ADD, z, vkg_reshape(g, e, 3, es));
    }
    vkg_t u = vkg_binary(g, VKG_MUL, vkg_unary(g, VKG_TANH, vkg_slice(g, z, 1, 0, D), 0, 0),
                         vkg_unary(g, VKG_SIGMOID, vkg_slice(g, z, 1, D, 2 * D), 0, 0)); // (B, D, T)
    vkg_t sk = conv1x1(g, u, p[w->skip_w[l]], p[w->skip_b[l]]);
    skip = skip == VKG_NONE ? sk : vkg_binary(g, VKG_ADD, skip, sk);
    if (l < L - 1) h = vkg_binary(g, VKG_ADD, h, conv1x1(g, u, p[w->res_w[l]], p[w->res_b[l]]));
  }
  vkg_t o = conv1x1(g, vkg_unary(g, VKG_RELU, skip, 0, 0), p[w->out1_w], p[w->out1_b]);
  o = conv1x1(g, vkg_unary(g, VKG_RELU, o, 0, 0), p[w->out2_w], p[w->out2_b]); // (B, Q, T)
  return vkg_permute(g, o, to_bct);                                            // (B, T, Q)
}

// ---- data ----

vkg_status wavenet_windows(const struct nn_audio_data *d, int test, int T, struct wavenet_window **out, size_t *n) {
  *out = NULL, *n = 0;
  size_t cap = 0, k = 0;
  struct wavenet_window *v = NULL;
  for (int i = 0; i < d->n_clips; i++) {
    if (nn_data_held_out((size_t)i, NN_DATA_TEST_EVERY) != !!test) continue;
    size_t len = d->start[i + 1] - d->start[i];
    /* Positions 0..len-2 predict the next sample. */
    for (size_t s = 0; s + 1 < len; s += (size_t)T) {
      if (k == cap) {
        cap = cap ? 2 * cap : 1024;
        struct wavenet_window *nv = realloc(v, sizeof *nv * cap);
        if (!nv) {
          free(v);
          return vkg__fail(VKG_ERR_OOM, "out of host memory for the windows");
        }
        v = nv;
      }
      v[k++] = (struct wavenet_window){i, s};
    }
  }
  *out = v, *n = k;
  return VKG_OK;
}

void wavenet_window_fill(const struct nn_audio_data *d, const struct wavenet_window *w, int rf, int T, int32_t *x,
                         int32_t *y) {
  const uint8_t *q = d->q + d->start[w->clip];
  long len = (long)(d->start[w->clip + 1] - d->start[w->clip]), s = (long)w->start;
  for (long j = 0; j < rf - 1 + T; j++) {
    long pos = s - (rf - 1) + j; /* input position in the clip */
    x[j] = pos >= 0 && pos < len ? q[pos] : WAVENET_Q / 2;
    y[j] = pos >= s && pos + 1 < len ? q[pos + 1] : -1;
  }
}

// ---- the model for the shared loop ----

struct wavenet {
  struct nn_model m;
  struct wavenet_opts o;
  struct wavenet_ids ids;
  struct nn_audio_data data;
  struct wavenet_window *win;
  size_t n_win;
  int rf;
  vkg_t x, y, cond;
  int32_t *xb, *yb, *cb;
};

struct wavenet_opts wavenet_opts_default(void) {
  return (struct wavenet_opts){.arch = wavenet_config_default(), .batch = 8, .window = 1000, .seed = 1};
}

static vkg_t build_loss(struct nn_model *m, vkg_graph *g, const vkg_t *ids, int phase) {
  (void)phase;
  struct wavenet *w = m->self;
  int xs[2] = {m->batch, w->rf - 1 + w->o.window}, cs[1] = {m->batch};
  w->x = vkg_input_streamed(g, "x", VKG_I32, 2, xs);
  w->y = vkg_input_streamed(g, "y", VKG_I32, 2, xs);
  w->cond = w->o.arch.classes ? vkg_input_streamed(g, "class", VKG_I32, 1, cs) : VKG_NONE;
  return vkg_cross_entropy_loss(g, wavenet_logits(g, &w->o.arch, &w->ids, ids, w->x, w->cond), w->y, -1);
}

static vkg_status write_batch(struct nn_model *m, vkg_graph *g, int phase, const uint32_t *idx) {
  (void)phase;
  struct wavenet *w = m->self;
  size_t L = (size_t)(w->rf - 1 + w->o.window);
  for (int i = 0; i < m->batch; i++) {
    const struct wavenet_window *win = &w->win[idx[i]];
    wavenet_window_fill(&w->data, win, w->rf, w->o.window, w->xb + i * L, w->yb + i * L);
    w->cb[i] = w->data.label[win->clip];
  }
  vkg_status s = vkg_graph_write_i32(g, w->x, w->xb, (size_t)m->batch * L);
  if (!s) s = vkg_graph_write_i32(g, w->y, w->yb, (size_t)m->batch * L);
  if (!s && w->cond != VKG_NONE) s = vkg_graph_write_i32(g, w->cond, w->cb, (size_t)m->batch);
  return s;
}

static vkg_status evaluate(struct nn_model *m, int *n, const char **names, double *values) {
  struct wavenet *w = m->self;
  double nats;
  size_t count;
  vkg_status s = wavenet_test_nll(&w->o.arch, &m->params, &w->ids, &w->data, w->o.window, 64, &nats, &count, NULL);
  if (s) return s;
  names[0] = "val_loss", values[0] = nats;
  names[1] = "val_bits", values[1] = nats / log(2.0);
  *n = 2;
  return VKG_OK;
}

vkg_status wavenet_create(vkg_ctx *ctx, const struct wavenet_opts *o, struct nn_model **out) {
  *out = NULL;
  if (o->batch < 1 || o->window < 1)
    return vkg__fail(VKG_ERR_ARG, "wavenet: batch and window must be positive (got %d, %d)", o->batch, o->window);
  struct wavenet *w = calloc(1, sizeof *w);
  if (!w) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  w->o = *o;
  struct nn_model *m = &w->m;
  m->name = "wavenet";
  m->self = w;
  m->batch = o->batch;
  m->build_loss = build_loss;
  m->write_batch = write_batch;
  m->evaluate = evaluate;
  nn_params_init(&m->params, ctx);
  vkg_status s = o->synthetic > 0 ? nn_audio_data_synthetic(o->synthetic, (size_t)o->window + 1, o->seed, &w->data)
                                  : nn_audio_data_load(o->data_dir, o->arch.rate, &w->data);
  if (!s && o->conditional) {
    if (w->data.n_classes < 2) {
      s = vkg__fail(VKG_ERR_ARG,
                    "--conditional: the audio folder has %d class (first-level folder); at least 2 "
                    "are needed",
                    w->data.n_classes);
      vkg__hint("put each voice or language in its own folder under --data");
    } else
      w->o.arch.classes = w->data.n_classes;
  }
  if (!o->conditional) w->o.arch.classes = 0;
  if (!s) s = nn_cfg_check(&wavenet_cfg, &w->o.arch);
  w->rf = wavenet_receptive_field(&w->o.arch);
  if (!s) s = wavenet_windows(&w->data, 0, o->window, &w->win, &w->n_win);
  if (!s) {
    m->n_train = o->limit > 0 && o->limit < w->n_win ? o->limit : w->n_win;
    size_t L = (size_t)(w->rf - 1 + o->window) * (size_t)o->batch;
    w->xb = malloc(sizeof *w->xb * L), w->yb = malloc(sizeof *w->yb * L);
    w->cb = malloc(sizeof *w->cb * (size_t)o->batch);
    if (!w->xb || !w->yb || !w->cb) s = vkg__fail(VKG_ERR_OOM, "out of host memory for a batch");
  }
  if (!s) s = wavenet_params(&m->params, &w->o.arch, 1, o->seed, &w->ids);
  nn_cfg_json(&wavenet_cfg, &w->o.arch, m->config, sizeof m->config);
  if (s) {
    wavenet_destroy(m);
    return s;
  }
  *out = m;
  return VKG_OK;
}

// ---- the family's hooks ----

#define F(...) NN_CFG_INT_F(struct wavenet_train, __VA_ARGS__)
static const struct nn_cfg_field train_fields[] = {
    F(window, 1000, 1, 1000000, NULL, "predicted samples per training window"),
    {.key = "conditional",
     .type = NN_CFG_INT,
     .offset = offsetof(struct wavenet_train, conditional),
     .size = sizeof(int),
     .hi = 1,
     .help = "condition on the first-level folder of each file (a voice or language)",
     .flags = NN_CFG_FLAG,
     .flag_value = 1},
};
#undef F
static const struct nn_cfg train_cfg = {"wavenet training", train_fields, 2, sizeof(struct wavenet_train), NULL};

static vkg_status create_hook(vkg_ctx *ctx, const void *cfg, const struct nn_create_opts *o, struct nn_model **m) {
  struct wavenet_opts wo = wavenet_opts_default();
  wo.arch = *(const struct wavenet_config *)cfg;
  if (o->train) {
    const struct wavenet_train *t = o->train;
    wo.window = t->window, wo.conditional = t->conditional;
  }
  wo.conditional |= wo.arch.classes > 0; /* --init of a conditional model */
  wo.batch = o->batch, wo.limit = o->limit, wo.data_dir = o->data_dir, wo.seed = o->seed;
  wo.synthetic = o->synthetic;
  return wavenet_create(ctx, &wo, m);
}

void wavenet_describe(const struct wavenet_config *c, char *out, size_t n) {
  int rf = wavenet_receptive_field(c);
  snprintf(out, n, "%d layers, receptive field %d samples = %.1f ms at %d Hz", wavenet_layers(c), rf,
           1e3 * rf / c->rate, c->rate);
}

static void describe(const struct nn_model *m, char *out, size_t n) {
  wavenet_describe(&((const struct wavenet *)m->self)->o.arch, out, n);
}

const struct nn_family_ops wavenet_ops = {
    .create = create_hook,
    .destroy = wavenet_destroy,
    .train_cfg = &train_cfg,
    .describe = describe,
    .about = "Trains a WaveNet on speech: the WAV files under --data (recursively; default the English prompts of\n"
             "asterisk-core-sounds-en-wav), resampled to --rate, mu-law companded to 256 classes. Every 10th file\n"
             "(in sorted path order) is held out for testing. Each training example is a window of --window\n"
             "predicted samples of one file, with the receptive field's samples before it as context; the windows\n"
             "tile the training files and are visited in a shuffled order each epoch. The loss is the NLL in nats\n"
             "per sample; after each epoch val_loss (nats) and val_bits are those of up to 64 test windows."};

const struct nn_audio_data *wavenet_model_data(const struct nn_model *m) {
  return &((const struct wavenet *)m->self)->data;
}

void wavenet_destroy(struct nn_model *m) {
  if (!m) return;
  struct wavenet *w = m->self;
  nn_params_free(&m->params);
  nn_audio_data_free(&w->data);
  free(w->win), free(w->xb), free(w->yb), free(w->cb);
  free(w);
}

// ---- weights files ----

vkg_status wavenet_load(vkg_ctx *ctx, const char *path, struct wavenet_config *c, struct nn_params *p,
                        struct wavenet_ids *ids) {
  nn_params_init(p, ctx);
  vkg_st *st;
  vkg_status s = nn_weights_open(path, "wavenet", &wavenet_cfg, c, &st);
  if (s) return s;
  nn_params_expect(p, st, path);
  s = wavenet_params(p, c, 0, 0, ids);
  if (!s) s = nn_weights_load(p, st, path);
  vkg_st_close(st);
  if (s) nn_params_free(p);
  return s;
}

vkg_status wavenet_save(const char *path, const struct wavenet_config *c, const struct nn_params *p) {
  return nn_weights_save(path, "wavenet", &wavenet_cfg, c, p);
}

// ---- test NLL ----

vkg_status wavenet_test_nll(const struct wavenet_config *c, const struct nn_params *p, const struct wavenet_ids *ids,
                            const struct nn_audio_data *d, int T, size_t max_windows, double *nats, size_t *count,
                            struct nn_progress *pg) {
  *nats = 0, *count = 0;
  struct wavenet_window *win;
  size_t n;
  vkg_status s = wavenet_windows(d, 1, T, &win, &n);
  if (s) return s;
  if (max_windows && n > max_windows) n = max_windows;
  if (pg) pg->total = n > 0 ? (long)n : 1;
  int B = n < 8 ? (int)n : 8, rf = wavenet_receptive_field(c);
  size_t L = (size_t)(rf - 1 + T);
  vkg_graph *g = NULL;
  int32_t *xb = malloc(sizeof *xb * L * (size_t)B), *yb = malloc(sizeof *yb * L * (size_t)B), cb[8] = {0};
  if (!xb || !yb) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_t *pid = calloc((size_t)p->n, sizeof *pid), x = VKG_NONE, y = VKG_NONE, cond = VKG_NONE, loss = VKG_NONE;
  if (!s && !pid) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  if (!s && B > 0) s = vkg_graph_create(p->ctx, &g);
  if (!s && g) {
    nn_bind_all(g, p, -1, pid);
    int xs[2] = {B, (int)L}, cs[1] = {B};
    x = vkg_input(g, "x", VKG_I32, 2, xs), y = vkg_input(g, "y", VKG_I32, 2, xs);
    if (c->classes) cond = vkg_input(g, "class", VKG_I32, 1, cs);
    loss = vkg_cross_entropy_loss(g, wavenet_logits(g, c, ids, pid, x, cond), y, -1);
    vkg_output(g, loss);
    s = vkg_graph_compile(g);
  }
  double sum = 0;
  size_t total = 0;
  for (size_t i = 0; i < n && !s; i += (size_t)B) {
    size_t valid = 0;
    for (int b = 0; b < B; b++) {
      int32_t *xr = xb + (size_t)b * L, *yr = yb + (size_t)b * L;
      if (i + (size_t)b < n) {
        wavenet_window_fill(d, &win[i + (size_t)b], rf, T, xr, yr);
        cb[b] = d->label[win[i + (size_t)b].clip];
      } else
        for (size_t j = 0; j < L; j++)
          xr[j] = WAVENET_Q / 2, yr[j] = -1;
      for (size_t j = 0; j < L; j++)
        valid += yr[j] >= 0;
    }
    float l = 0;
    s = vkg_graph_write_i32(g, x, xb, L * (size_t)B);
    if (!s) s = vkg_graph_write_i32(g, y, yb, L * (size_t)B);
    if (!s && cond != VKG_NONE) s = vkg_graph_write_i32(g, cond, cb, (size_t)B);
    if (!s) s = vkg_graph_run(g);
    if (!s) s = vkg_graph_read(g, loss, &l, 1);
    sum += (double)l * (double)valid, total += valid; /* the loss is the mean over the valid labels */
    if (!s && pg) nn_progress_update(pg, (long)(i + (size_t)B < n ? i + (size_t)B : n), NULL);
  }
  vkg_graph_destroy(g);
  free(xb), free(yb), free(pid), free(win);
  if (!s && total == 0) s = vkg__fail(VKG_ERR_ARG, "wavenet: the test clips hold no samples to score");
  if (s) return s;
  *nats = sum / (double)total, *count = total;
  return VKG_OK;
}
