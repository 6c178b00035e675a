/* A small convolutional classifier for 28x28 Fashion-MNIST images. It is the first model trained by
 * the shared loop, and its hidden layer gives the features that FID is computed on.
 * Shape letters: B batch, C channels, H W height width. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "models/models.h"

#define NPARAM 11 /* conv1 2, conv2 1, bn 4, fc1 2, fc2 2 */
#include "nn/progress.h"
#include "nn/weights.h"

/* The layers' parameters (indices into the params, and so into a graph's ids). */
struct layers {
  struct nn_layer conv1; /* w (c1, 1, 5, 5), b (c1) */
  struct nn_layer conv2; /* w (c2, c1, 5, 5), no bias: the batchnorm after it cancels one */
  struct nn_layer bn;    /* (c2): scale, shift, running mean and variance */
  struct nn_layer fc1;   /* w (hidden, c2 * 7 * 7), b (hidden): the features */
  struct nn_layer fc2;   /* w (10, hidden), b (10) */
};

struct classifier {
  struct nn_model m;
  struct classifier_opts o;
  struct layers L;
  struct vkg_images train, test;
  vkg_t x, y;  /* streamed inputs of the training graph */
  float *xbuf; /* (B, 1, 28, 28) staging on the host */
  int32_t *ybuf;
  /* The inference graph of classifier_features, built on first use: batch ib, input ix, outputs. */
  vkg_graph *ig;
  int ib;
  vkg_t ix, ifeat, ilogits;
  float *ibuf; /* (ib, 1, 28, 28) padded last batch */
};

/* The architecture table (c1, c2, hidden are fields of the options). */
#define F(...) NN_CFG_INT_F(struct classifier_opts, __VA_ARGS__)
static const struct nn_cfg_field classifier_fields[] = {
    F(c1, 16, 1, 1024, NULL, "channels of the first convolution"),
    F(c2, 32, 1, 1024, NULL, "channels of the second convolution"),
    F(hidden, 64, 1, 16384, NULL, "size of the hidden layer (the FID features)"),
};
#undef F
const struct nn_cfg classifier_cfg = {"classifier", classifier_fields,
                                      sizeof classifier_fields / sizeof classifier_fields[0],
                                      sizeof(struct classifier_opts), NULL};

struct classifier_opts classifier_opts_default(void) {
  struct classifier_opts o = {0};
  nn_cfg_defaults(&classifier_cfg, &o);
  o.batch = 64, o.seed = 1;
  return o;
}

/* ---- forward ---- */

/* x (B, 1, 28, 28) -> logits (B, 10); *features gets the hidden layer (B, hidden). */
static vkg_t forward(struct classifier *c, vkg_graph *g, const vkg_t *p, vkg_t x, int training, vkg_t *features) {
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  d.stride_h = d.stride_w = 2;
  d.pad_h = d.pad_w = 2;
  const struct layers *L = &c->L;
  vkg_t h = vkg_unary(g, VKG_RELU, vkg_conv2d(g, x, p[L->conv1.w], p[L->conv1.b], &d), 0, 0); // (B, c1, 14, 14)
  h = vkg_conv2d(g, h, p[L->conv2.w], VKG_NONE, &d);                                          // (B, c2, 7, 7)
  h = vkg_batchnorm(g, h, p[L->bn.w], p[L->bn.b], p[L->bn.mean], p[L->bn.var], 0.1f, 1e-5f, training);
  h = vkg_unary(g, VKG_RELU, h, 0, 0);
  int flat[2] = {vkg_dim(g, x, 0), c->o.c2 * 7 * 7};
  h = vkg_unary(g, VKG_RELU, nn_linear(g, vkg_reshape(g, h, 2, flat), p[L->fc1.w], p[L->fc1.b]), 0, 0); // (B, hidden)
  if (features) *features = h;
  return nn_linear(g, h, p[L->fc2.w], p[L->fc2.b]); // (B, 10)
}

static vkg_t build_loss(struct nn_model *m, vkg_graph *g, const vkg_t *ids, int phase) {
  (void)phase;
  struct classifier *c = m->self;
  int xs[4] = {m->batch, 1, 28, 28}, ys[1] = {m->batch};
  c->x = vkg_input_streamed(g, "images", VKG_F32, 4, xs);
  c->y = vkg_input_streamed(g, "labels", VKG_I32, 1, ys);
  return vkg_cross_entropy_loss(g, forward(c, g, ids, c->x, 1, NULL), c->y, -100);
}

static vkg_status write_batch(struct nn_model *m, vkg_graph *g, int phase, const uint32_t *idx) {
  (void)phase;
  struct classifier *c = m->self;
  const size_t img = 28 * 28;
  for (int i = 0; i < m->batch; i++) {
    memcpy(c->xbuf + (size_t)i * img, c->train.pixels + (size_t)idx[i] * img, img * sizeof(float));
    c->ybuf[i] = c->train.labels[idx[i]];
  }
  vkg_status s = vkg_graph_write(g, c->x, c->xbuf, (size_t)m->batch * img);
  return s ? s : vkg_graph_write_i32(g, c->y, c->ybuf, (size_t)m->batch);
}

/* Test-set loss and accuracy with batchnorm in inference mode, in batches of up to 500. */
static vkg_status evaluate(struct nn_model *m, int *n, const char **names, double *values) {
  struct classifier *c = m->self;
  int B = c->test.n < 500 ? c->test.n : 500;
  vkg_graph *g;
  vkg_status s = vkg_graph_create(m->params.ctx, &g);
  if (s) return s;
  vkg_t p[NPARAM];
  nn_bind_all(g, &m->params, -1, p);
  int xs[4] = {B, 1, 28, 28}, ys[1] = {B};
  vkg_t x = vkg_input_streamed(g, "images", VKG_F32, 4, xs), y = vkg_input_streamed(g, "labels", VKG_I32, 1, ys);
  vkg_t logits = forward(c, g, p, x, 0, NULL);
  vkg_t loss = vkg_cross_entropy_loss(g, logits, y, -100);
  vkg_output(g, logits);
  vkg_output(g, loss);
  s = vkg_graph_compile(g);
  double total_loss = 0;
  long correct = 0, seen = 0;
  float *lg = malloc(sizeof *lg * (size_t)B * 10);
  int32_t *lab = malloc(sizeof *lab * (size_t)B);
  for (int start = 0; !s && start + B <= c->test.n; start += B) {
    for (int i = 0; i < B; i++)
      lab[i] = c->test.labels[start + i];
    float l;
    s = vkg_graph_write(g, x, c->test.pixels + (size_t)start * 784, (size_t)B * 784);
    if (!s) s = vkg_graph_write_i32(g, y, lab, (size_t)B);
    if (!s) s = vkg_graph_run(g);
    if (!s) s = vkg_graph_read(g, logits, lg, (size_t)B * 10);
    if (!s) s = vkg_graph_read(g, loss, &l, 1);
    for (int i = 0; !s && i < B; i++) {
      int best = 0;
      for (int k = 1; k < 10; k++)
        if (lg[i * 10 + k] > lg[i * 10 + best]) best = k;
      correct += best == lab[i];
    }
    total_loss += (double)l * B;
    seen += B;
  }
  free(lg);
  free(lab);
  vkg_graph_destroy(g);
  if (s) return s;
  names[0] = "val_loss", values[0] = total_loss / (double)seen;
  names[1] = "val_accuracy", values[1] = (double)correct / (double)seen;
  *n = 2;
  return VKG_OK;
}

/* ---- construction ---- */

vkg_status classifier_create(vkg_ctx *ctx, const struct classifier_opts *o, struct nn_model **out) {
  *out = NULL;
  vkg_status s = nn_cfg_check(&classifier_cfg, o);
  if (s) return s;
  if (o->batch < 1) return vkg__fail(VKG_ERR_ARG, "classifier: batch %d must be positive", o->batch);
  struct classifier *c = calloc(1, sizeof *c);
  c->o = *o;
  struct nn_model *m = &c->m;
  m->name = "classifier";
  m->self = c;
  m->batch = o->batch;
  m->build_loss = build_loss;
  m->write_batch = write_batch;
  m->evaluate = evaluate;
  nn_cfg_json(&classifier_cfg, o, m->config, sizeof m->config);
  s = o->no_data ? VKG_OK : vkg_fashion_mnist_load(o->data_dir, "train", &c->train);
  if (!s && !o->no_data) s = vkg_fashion_mnist_load(o->data_dir, "test", &c->test);
  if (s) {
    classifier_destroy(m);
    return s;
  }
  m->n_train = o->limit > 0 && o->limit < (size_t)c->train.n ? o->limit : (size_t)c->train.n;
  c->xbuf = malloc(sizeof *c->xbuf * (size_t)o->batch * 784);
  c->ybuf = malloc(sizeof *c->ybuf * (size_t)o->batch);

  /* PyTorch's default init (uniform(+-1/sqrt(fan_in)); batchnorm 1 and 0), each tensor from its index. */
  nn_params_init_seeded(&m->params, ctx, o->seed);
  struct nn_params *p = &m->params;
  if (o->expect) nn_params_expect(p, o->expect, o->expect_path);
  struct layers *L = &c->L;
  L->conv1 = nn_conv2d_params(p, "conv1", 1, o->c1, 5, 5, 1);
  L->conv2 = nn_conv2d_params(p, "conv2", o->c1, o->c2, 5, 5, 0);
  L->bn = nn_batchnorm_params(p, "bn", o->c2);
  L->fc1 = nn_linear_params(p, "fc1", o->c2 * 49, o->hidden, 1);
  L->fc2 = nn_linear_params(p, "fc2", o->hidden, 10, 1);
  s = p->err;
  if (s) {
    classifier_destroy(m);
    return s;
  }
  *out = m;
  return VKG_OK;
}

void classifier_destroy(struct nn_model *m) {
  if (!m) return;
  struct classifier *c = m->self;
  vkg_graph_destroy(c->ig);
  free(c->ibuf);
  nn_params_free(&m->params);
  vkg_images_free(&c->train);
  vkg_images_free(&c->test);
  free(c->xbuf);
  free(c->ybuf);
  free(c);
}

/* The family's create hook: cfg is the architecture (a classifier_opts), the rest comes from o. */
static vkg_status create_hook(vkg_ctx *ctx, const void *cfg, const struct nn_create_opts *o, struct nn_model **m) {
  struct classifier_opts co = *(const struct classifier_opts *)cfg;
  co.batch = o->batch, co.limit = o->limit, co.data_dir = o->data_dir, co.seed = o->seed;
  co.expect = o->expect, co.expect_path = o->expect_path;
  return classifier_create(ctx, &co, m);
}

const struct nn_family_ops classifier_ops = {
    .create = create_hook,
    .destroy = classifier_destroy,
    .about = "Trains the Fashion-MNIST classifier whose hidden layer gives the features of FID (and of every\n"
             "image family's eval). The loss is the cross-entropy of the 10 classes; after each epoch val_loss\n"
             "and val_accuracy are those of the test set."};

// ---- inference ----

vkg_status classifier_load(vkg_ctx *ctx, const char *weights, struct nn_model **out) {
  *out = NULL;
  struct classifier_opts o = classifier_opts_default();
  vkg_st *st;
  vkg_status s = nn_weights_open(weights, "classifier", &classifier_cfg, &o, &st);
  if (s) {
    if (s == VKG_ERR_FORMAT) vkg__hint("FID needs the Fashion-MNIST classifier's weights (classifier.safetensors)");
    return s;
  }
  o.no_data = 1;
  o.expect = st, o.expect_path = weights;
  struct nn_model *m = NULL;
  s = classifier_create(ctx, &o, &m);
  if (!s) s = nn_weights_load(&m->params, st, weights);
  vkg_st_close(st);
  if (s) {
    classifier_destroy(m);
    return s;
  }
  *out = m;
  return VKG_OK;
}

int classifier_feature_dim(const struct nn_model *m) { return ((const struct classifier *)m->self)->o.hidden; }

/* (Re)builds the inference graph for batches of B images. */
static vkg_status build_inference(struct classifier *c, int B) {
  vkg_graph_destroy(c->ig);
  free(c->ibuf);
  c->ig = NULL;
  c->ib = 0;
  c->ibuf = calloc((size_t)B * 784, sizeof *c->ibuf);
  if (!c->ibuf) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_graph *g;
  vkg_status s = vkg_graph_create(c->m.params.ctx, &g);
  if (s) return s;
  vkg_t p[NPARAM];
  nn_bind_all(g, &c->m.params, -1, p);
  int xs[4] = {B, 1, 28, 28};
  c->ix = vkg_input_streamed(g, "images", VKG_F32, 4, xs);
  c->ilogits = forward(c, g, p, c->ix, 0, &c->ifeat);
  vkg_output(g, c->ifeat);
  vkg_output(g, c->ilogits);
  s = vkg_graph_compile(g);
  if (s) {
    vkg_graph_destroy(g);
    return s;
  }
  c->ig = g, c->ib = B;
  return VKG_OK;
}

vkg_status classifier_features(struct nn_model *m, const float *images, int n, float *features, float *logits,
                               struct nn_progress *pg) {
  struct classifier *c = m->self;
  enum { MAX_BATCH = 256 };
  if (n < 1) return vkg__fail(VKG_ERR_ARG, "classifier_features: %d images", n);
  int want = n < MAX_BATCH ? n : MAX_BATCH;
  vkg_status s = VKG_OK;
  if (!c->ig || c->ib < want) s = build_inference(c, want);
  const int B = c->ib, H = c->o.hidden;
  float *feat = malloc(sizeof *feat * (size_t)B * H), *lg = malloc(sizeof *lg * (size_t)B * 10);
  if (!s && (!feat || !lg)) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (int start = 0; !s && start < n; start += B) {
    int k = n - start < B ? n - start : B; /* the last batch is padded with blank images */
    const float *x = images + (size_t)start * 784;
    if (k < B) {
      memcpy(c->ibuf, x, sizeof *x * (size_t)k * 784);
      x = c->ibuf;
    }
    s = vkg_graph_write(c->ig, c->ix, x, (size_t)B * 784);
    if (!s) s = vkg_graph_run(c->ig);
    if (!s && features) s = vkg_graph_read(c->ig, c->ifeat, feat, (size_t)B * H);
    if (!s && logits) s = vkg_graph_read(c->ig, c->ilogits, lg, (size_t)B * 10);
    if (!s && features) memcpy(features + (size_t)start * H, feat, sizeof *feat * (size_t)k * H);
    if (!s && logits) memcpy(logits + (size_t)start * 10, lg, sizeof *lg * (size_t)k * 10);
    if (!s && pg) nn_progress_update(pg, pg->done + k, NULL);
  }
  free(feat);
  free(lg);
  return s;
}

vkg_status classifier_accuracy(struct nn_model *m, const struct vkg_images *set, double *accuracy) {
  if (set->n < 1 || set->c != 1 || set->h != 28 || set->w != 28 || !set->labels)
    return vkg__fail(VKG_ERR_ARG, "classifier_accuracy needs labelled 28x28 grayscale images (got %d of %dx%dx%d%s)",
                     set->n, set->c, set->h, set->w, set->labels ? "" : ", no labels");
  float *lg = malloc(sizeof *lg * (size_t)set->n * 10);
  if (!lg) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_status s = classifier_features(m, set->pixels, set->n, NULL, lg, NULL);
  long correct = 0;
  for (int i = 0; !s && i < set->n; i++) {
    int best = 0;
    for (int k = 1; k < 10; k++)
      if (lg[i * 10 + k] > lg[i * 10 + best]) best = k;
    correct += best == set->labels[i];
  }
  free(lg);
  if (!s) *accuracy = (double)correct / set->n;
  return s;
}

vkg_status classifier_save(struct nn_model *m, const char *path) {
  return nn_weights_save(path, "classifier", &classifier_cfg, &((struct classifier *)m->self)->o, &m->params);
}
