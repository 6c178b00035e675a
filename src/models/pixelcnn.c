/* The gated PixelCNN (see pixelcnn.h): its config table, parameters and masks, the two stacks as graph
 * ops, the exact NLL, the model for the shared training loop, and sampling in raster order on the GPU.
 * Shape letters: B batch, C image channels, S image side, p width, q head width, P = C*S*S sub-pixels
 * per image, K pixels unrolled per sampling run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "models/pixelcnn.h"
#include "nn/progress.h"
#include "nn/data.h"
#include "nn/weights.h"

#define LEVELS 256
#define EVAL_CHUNK 64    /* images per evaluation run */
#define SAMPLE_CHUNK 64  /* images per sampling graph */
#define SAMPLE_UNROLL 28 /* pixels per sampling run: one row of a Fashion-MNIST image */

// ---- configuration ----

static vkg_status check_config(const void *cfg) {
  const struct pixelcnn_config *c = cfg;
  if (c->kernel % 2 == 0)
    return vkg__fail(VKG_ERR_ARG, "pixelcnn config: the kernel size must be odd (got %d)", c->kernel);
  if (c->channels == 3 && (c->width % 3 || c->out_width % 3))
    return vkg__fail(VKG_ERR_ARG,
                     "pixelcnn config: a colour model splits its channels into R, G and B groups, so width and "
                     "out_width must be multiples of 3 (got %d and %d)",
                     c->width, c->out_width);
  return VKG_OK;
}
#define F(...) NN_CFG_INT_F(struct pixelcnn_config, __VA_ARGS__)
static const struct nn_cfg_field pixelcnn_fields[] = {
    F(size, 28, 4, 64, NULL, "image side (Fashion-MNIST: 28; image folders: 28, 32 or 64)"),
    F(channels, 1, 1, 3, "1,3", "1 (gray) or 3 (RGB, sampled R -> G -> B)"),
    F(layers, 6, 1, PIXELCNN_MAX_LAYERS, NULL, "gated layers"),
    F(width, 24, 1, 1024, NULL, "channels of the vertical and horizontal stacks (a multiple of 3 for RGB)"),
    F(kernel, 3, 1, 15, NULL, "kernel size k (odd): vertical (k/2+1) x k, horizontal 1 x (k/2+1)"),
    F(dilation_cycle, 1, 1, 8, NULL, "layer l dilates by 2^(l mod N); 1: no dilation"),
    F(out_width, 48, 3, 4096, NULL, "channels of the output head (a multiple of 3 for RGB)"),
    {.key = "classes",
     .type = NN_CFG_INT,
     .offset = offsetof(struct pixelcnn_config, classes),
     .size = sizeof(int),
     .lo = 0,
     .hi = 1000,
     .help = "condition every layer on the 10 Fashion-MNIST classes",
     .flags = NN_CFG_FLAG,
     .flag_value = 10,
     .opt = "conditional"},
};
#undef F
const struct nn_cfg pixelcnn_cfg = {"pixelcnn", pixelcnn_fields, sizeof pixelcnn_fields / sizeof pixelcnn_fields[0],
                                    sizeof(struct pixelcnn_config), check_config};

struct pixelcnn_config pixelcnn_config_default(void) {
  struct pixelcnn_config c = {0};
  nn_cfg_defaults(&pixelcnn_cfg, &c);
  return c;
}

int pixelcnn_dilation(const struct pixelcnn_config *c, int l) { return 1 << (l % c->dilation_cycle); }

static int subpixels(const struct pixelcnn_config *c) { return c->channels * c->size * c->size; }

// ---- parameters ----

vkg_status pixelcnn_params_create(struct nn_params *p, const struct pixelcnn_config *c, uint64_t seed) {
  vkg_status s = nn_cfg_check(&pixelcnn_cfg, c);
  if (s) return s;
  const int P = c->width, P2 = 2 * c->width, C = c->channels, k = c->kernel, kh = k / 2 + 1, Q = c->out_width;
  p->init = 1, p->seed = seed; /* PyTorch's default init, each tensor from its index */
  char name[64];
  for (int l = 0; l < c->layers && !p->err; l++) {
    int in = l == 0 ? C : P;
#define NAME(part) (snprintf(name, sizeof name, "layers.%d.%s", l, part), name)
    nn_conv2d_params(p, NAME("v_conv"), in, P2, kh, k, 1); /* w (2p, in, k/2+1, k) */
    nn_conv2d_params(p, NAME("h_conv"), in, P2, 1, kh, 1); /* w (2p, in, 1, k/2+1) */
    nn_conv2d_params(p, NAME("v_to_h"), P2, P2, 1, 1, 1);  /* w (2p, 2p, 1, 1) */
    /* The last layer's horizontal output is only its skip. */
    if (l + 1 < c->layers) nn_conv2d_params(p, NAME("h_res"), P, P, 1, 1, 1); /* w (p, p, 1, 1) */
    nn_conv2d_params(p, NAME("skip"), P, P, 1, 1, 1);                         /* w (p, p, 1, 1) */
    /* Class biases (classes, 2p). The last layer's vertical output feeds nothing but its own horizontal
     * stack (through v_to_h, before the gate), so it has none. */
    int cs[2] = {c->classes, P2};
    float cb = c->classes ? 1 / sqrtf((float)c->classes) : 0;
    if (c->classes && l + 1 < c->layers) nn_param_seeded(p, NAME("v_cond.weight"), 1, 2, cs, cb);
    if (c->classes) nn_param_seeded(p, NAME("h_cond.weight"), 1, 2, cs, cb);
#undef NAME
  }
  nn_conv2d_params(p, "out1", P, Q, 1, 1, 1);          /* w (q, p, 1, 1) */
  nn_conv2d_params(p, "out2", Q, C * LEVELS, 1, 1, 1); /* w (C*256, q, 1, 1) */
  return p->err;
}

// ---- masks ----

/* The colour group (0 = R, 1 = G, 2 = B) of channel i of n channels. n is C (the image), C*256 (the
 * logits: 256 per channel), p or q (C equal groups), or 2p (the gate's two halves, each split alike). */
static int group(int i, int n, int C, int width) {
  if (C == 1) return 0;
  if (n == 2 * width) i %= width, n = width;
  return i / (n / C);
}

void pixelcnn_mask(int O, int I, int taps, int channels, int mask_a, int gate_out, float *out) {
  for (int o = 0; o < O; o++)
    for (int i = 0; i < I; i++)
      for (int t = 0; t < taps; t++) {
        float v = 1;
        if (t == taps - 1) { /* the centre tap: the current pixel */
          int go = group(o, O, channels, gate_out ? O / 2 : 0), gi = group(i, I, channels, 0);
          v = mask_a ? gi < go : gi <= go;
        }
        out[((size_t)o * I + i) * taps + t] = v;
      }
}

static vkg_status make_mask(vkg_ctx *ctx, int O, int I, int taps, int C, int mask_a, int gate_out, vkg_tensor **t) {
  int shape[4] = {O, I, 1, taps};
  float *m = malloc(sizeof *m * (size_t)O * I * taps);
  if (!m) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  pixelcnn_mask(O, I, taps, C, mask_a, gate_out, m);
  vkg_status s = vkg_tensor_create(ctx, VKG_F32, 4, shape, t);
  if (!s) s = vkg_tensor_upload_f32(*t, m, (size_t)O * I * taps);
  free(m);
  return s;
}

vkg_status pixelcnn_consts_create(vkg_ctx *ctx, const struct pixelcnn_config *c, struct pixelcnn_consts *k) {
  memset(k, 0, sizeof *k);
  const int P = c->width, C = c->channels, kh = c->kernel / 2 + 1;
  vkg_status s = make_mask(ctx, 2 * P, C, kh, C, 1, 1, &k->mask_h_first);
  if (!s) s = make_mask(ctx, 2 * P, P, kh, C, 0, 1, &k->mask_h);
  if (!s) s = make_mask(ctx, P, P, 1, C, 0, 0, &k->mask_pp);
  if (!s) s = make_mask(ctx, c->out_width, P, 1, C, 0, 0, &k->mask_out1);
  if (!s) s = make_mask(ctx, C * LEVELS, c->out_width, 1, C, 0, 0, &k->mask_out2);
  int ls[2] = {LEVELS, 1};
  float lv[LEVELS];
  for (int v = 0; v < LEVELS; v++)
    lv[v] = 2.0f * (float)v / 255.0f - 1.0f; /* the network sees levels in [-1, 1] */
  if (!s) s = vkg_tensor_create(ctx, VKG_F32, 2, ls, &k->levels);
  if (!s) s = vkg_tensor_upload_f32(k->levels, lv, LEVELS);
  if (s) pixelcnn_consts_free(k);
  return s;
}

void pixelcnn_consts_free(struct pixelcnn_consts *k) {
  vkg_tensor_destroy(k->mask_h_first);
  vkg_tensor_destroy(k->mask_h);
  vkg_tensor_destroy(k->mask_pp);
  vkg_tensor_destroy(k->mask_out1);
  vkg_tensor_destroy(k->mask_out2);
  vkg_tensor_destroy(k->levels);
  memset(k, 0, sizeof *k);
}

// ---- forward ----

void pixelcnn_weights(vkg_graph *g, const struct pixelcnn_config *c, const vkg_t *ids, const struct pixelcnn_consts *k,
                      struct pixelcnn_w *w) {
  vkg_t m_first = vkg_bind(g, k->mask_h_first), m_h = vkg_bind(g, k->mask_h), m_pp = vkg_bind(g, k->mask_pp);
  const vkg_t *q = ids;
  /* In params order (pixelcnn_params_create). */
  for (int l = 0; l < c->layers; l++) {
    struct pixelcnn_layer_w *L = &w->l[l];
    L->v_w = *q++, L->v_b = *q++;
    L->h_w = vkg_binary(g, VKG_MUL, *q++, l == 0 ? m_first : m_h), L->h_b = *q++;
    L->vh_w = *q++, L->vh_b = *q++; /* the shifted vertical stack sees no part of the current pixel */
    L->res_w = L->res_b = VKG_NONE;
    if (l + 1 < c->layers) L->res_w = vkg_binary(g, VKG_MUL, *q++, m_pp), L->res_b = *q++;
    L->skip_w = vkg_binary(g, VKG_MUL, *q++, m_pp), L->skip_b = *q++;
    L->v_cond = c->classes && l + 1 < c->layers ? *q++ : VKG_NONE;
    L->h_cond = c->classes ? *q++ : VKG_NONE;
  }
  w->out1_w = vkg_binary(g, VKG_MUL, q[0], vkg_bind(g, k->mask_out1)), w->out1_b = q[1];
  w->out2_w = vkg_binary(g, VKG_MUL, q[2], vkg_bind(g, k->mask_out2)), w->out2_b = q[3];
  w->levels = vkg_bind(g, k->levels);
}

/* tanh(a[:, :p]) * sigmoid(a[:, p:]) of a (B, 2p, S, S) -> (B, p, S, S). */
static vkg_t gate(vkg_graph *g, vkg_t a, int p) {
  vkg_t t = vkg_unary(g, VKG_TANH, vkg_slice(g, a, 1, 0, p), 0, 0);
  return vkg_binary(g, VKG_MUL, t, vkg_unary(g, VKG_SIGMOID, vkg_slice(g, a, 1, p, 2 * p), 0, 0));
}

/* A per-class bias: table (classes, 2p) looked up for labels (B) -> (B, 2p, 1, 1). */
static vkg_t class_bias(vkg_graph *g, vkg_t table, vkg_t labels) {
  int B = vkg_dim(g, labels, 0), s[4] = {B, vkg_dim(g, table, 1), 1, 1};
  return vkg_reshape(g, vkg_embedding(g, table, labels), 4, s);
}

static vkg_t conv1x1(vkg_graph *g, vkg_t x, vkg_t w, vkg_t b) {
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  return vkg_conv2d(g, x, w, b, &d);
}

vkg_t pixelcnn_logits(vkg_graph *g, const struct pixelcnn_config *c, const struct pixelcnn_w *w, vkg_t x,
                      vkg_t labels) {
  const int B = vkg_dim(g, x, 0), C = c->channels, S = c->size, P = c->width, kh = c->kernel / 2 + 1;
  int xs[4] = {B, C, S, S};
  vkg_t in = vkg_reshape(g, vkg_embedding(g, w->levels, x), 4, xs); // (B, C, S, S) in [-1, 1]
  vkg_t v = in, h = in, skip = VKG_NONE;
  for (int l = 0; l < c->layers; l++) {
    const struct pixelcnn_layer_w *L = &w->l[l];
    const int d = pixelcnn_dilation(c, l), e = d * (kh - 1); /* e: the kernel's reach above / to the left */
    /* Vertical: padding e + 1 above and below makes output row r cover input rows r - e - 1 .. r - 1, so
     * rows 1..S are the causal window "rows <= i" of row i, and rows 0..S-1 the same shifted down one
     * row ("rows < i"), which is what the horizontal stack may see. */
    struct vkg_conv2d_desc dv = vkg_conv2d_desc_default();
    dv.pad_h = e + 1, dv.pad_w = d * (c->kernel / 2), dv.dil_h = dv.dil_w = d;
    vkg_t vo = vkg_conv2d(g, v, L->v_w, L->v_b, &dv); // (B, 2p, S + e + 2, S)
    vkg_t vc = vkg_slice(g, vo, 2, 1, S + 1);         // (B, 2p, S, S): rows <= i
    vkg_t vs = vkg_slice(g, vo, 2, 0, S);             // (B, 2p, S, S): rows < i
    /* Horizontal: padding e on the left and right, and the first S columns are "columns <= j". */
    struct vkg_conv2d_desc dh = vkg_conv2d_desc_default();
    dh.pad_w = e, dh.dil_h = dh.dil_w = d;
    vkg_t ho = vkg_slice(g, vkg_conv2d(g, h, L->h_w, L->h_b, &dh), 3, 0, S); // (B, 2p, S, S)
    ho = vkg_binary(g, VKG_ADD, ho, conv1x1(g, vs, L->vh_w, L->vh_b));
    if (c->classes) ho = vkg_binary(g, VKG_ADD, ho, class_bias(g, L->h_cond, labels));
    if (l + 1 < c->layers) { /* the last layer's vertical output would feed nothing */
      if (c->classes) vc = vkg_binary(g, VKG_ADD, vc, class_bias(g, L->v_cond, labels));
      v = gate(g, vc, P); // (B, p, S, S)
    }
    vkg_t hg = gate(g, ho, P); // (B, p, S, S)
    if (l + 1 < c->layers) {
      vkg_t r = conv1x1(g, hg, L->res_w, L->res_b);  // (B, p, S, S)
      h = l == 0 ? r : vkg_binary(g, VKG_ADD, h, r); /* the first layer's input has C channels */
    }
    vkg_t sk = conv1x1(g, hg, L->skip_w, L->skip_b); // (B, p, S, S)
    skip = l == 0 ? sk : vkg_binary(g, VKG_ADD, skip, sk);
  }
  vkg_t o = vkg_unary(g, VKG_RELU, skip, 0, 0);
  o = vkg_unary(g, VKG_RELU, conv1x1(g, o, w->out1_w, w->out1_b), 0, 0); // (B, q, S, S)
  o = conv1x1(g, o, w->out2_w, w->out2_b);                               // (B, C*256, S, S)
  int ls[5] = {B, C, LEVELS, S, S};
  return vkg_reshape(g, o, 5, ls);
}

vkg_t pixelcnn_nll(vkg_graph *g, const struct pixelcnn_config *c, const struct pixelcnn_w *w, vkg_t x, vkg_t labels) {
  static const int perm[5] = {0, 1, 3, 4, 2};
  vkg_t logits = vkg_permute(g, pixelcnn_logits(g, c, w, x, labels), perm); // (B, C, S, S, 256)
  return vkg_cross_entropy_loss(g, logits, x, -1);
}

// ---- data ----

static vkg_status to_levels(struct pixelcnn_data *d) {
  size_t P = (size_t)d->c * d->s * d->s;
  d->levels = malloc((size_t)d->n * P + 1);
  if (!d->levels) return vkg__fail(VKG_ERR_OOM, "out of host memory for %d images", d->n);
  for (size_t i = 0; i < (size_t)d->n * P; i++) {
    float v = d->im.pixels[i] * 255.0f + 0.5f;
    d->levels[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
  }
  d->labels = d->im.labels;
  return VKG_OK;
}

vkg_status pixelcnn_data_load(const char *dir, const struct pixelcnn_config *c, int synthetic,
                              struct pixelcnn_data *train, struct pixelcnn_data *test) {
  struct pixelcnn_data *d[2] = {train, test};
  for (int i = 0; i < 2; i++)
    if (d[i]) memset(d[i], 0, sizeof *d[i]);
  if (synthetic <= 0 && nn_data_is_fashion(dir) && (c->size != 28 || c->channels != 1)) {
    vkg__fail(VKG_ERR_ARG, "Fashion-MNIST images are 28x28 with 1 channel, but this PixelCNN is for %dx%d with %d",
              c->size, c->size, c->channels);
    vkg__hint("pass --data DIR with a folder of your images for other sizes");
    return VKG_ERR_ARG;
  }
  vkg_status s =
      nn_image_data_load(dir, c->size, c->channels, synthetic, 1, train ? &train->im : NULL, test ? &test->im : NULL);
  for (int i = 0; i < 2 && !s; i++)
    if (d[i]) {
      d[i]->n = d[i]->im.n, d[i]->c = c->channels, d[i]->s = c->size;
      s = to_levels(d[i]);
    }
  if (s)
    for (int i = 0; i < 2; i++)
      if (d[i]) pixelcnn_data_free(d[i]);
  return s;
}

void pixelcnn_data_free(struct pixelcnn_data *d) {
  vkg_images_free(&d->im);
  free(d->levels);
  memset(d, 0, sizeof *d);
}

// ---- the model for the training loop ----

struct pixelcnn {
  struct nn_model m;
  struct pixelcnn_opts o;
  struct pixelcnn_consts k;
  struct pixelcnn_data train, test;
  vkg_t x, y;           /* streamed levels and class labels of the training graph */
  int32_t *xbuf, *ybuf; /* (B, C, S, S), (B) */
};

struct pixelcnn_opts pixelcnn_opts_default(void) {
  return (struct pixelcnn_opts){.arch = pixelcnn_config_default(), .batch = 32, .seed = 1, .eval_images = 1000};
}

static vkg_t build_loss(struct nn_model *m, vkg_graph *g, const vkg_t *ids, int phase) {
  (void)phase;
  struct pixelcnn *pc = m->self;
  const struct pixelcnn_config *c = &pc->o.arch;
  int xs[4] = {m->batch, c->channels, c->size, c->size}, ys[1] = {m->batch};
  pc->x = vkg_input_streamed(g, "levels", VKG_I32, 4, xs);
  pc->y = c->classes ? vkg_input_streamed(g, "labels", VKG_I32, 1, ys) : VKG_NONE;
  struct pixelcnn_w *w = malloc(sizeof *w);
  if (!w) return VKG_NONE;
  pixelcnn_weights(g, c, ids, &pc->k, w);
  vkg_t loss = pixelcnn_nll(g, c, w, pc->x, pc->y);
  free(w);
  return loss;
}

static vkg_status write_batch(struct nn_model *m, vkg_graph *g, int phase, const uint32_t *idx) {
  (void)phase;
  struct pixelcnn *pc = m->self;
  size_t P = (size_t)subpixels(&pc->o.arch);
  for (int i = 0; i < m->batch; i++) {
    const uint8_t *src = pc->train.levels + (size_t)idx[i] * P;
    for (size_t j = 0; j < P; j++)
      pc->xbuf[(size_t)i * P + j] = src[j];
    if (pc->ybuf) pc->ybuf[i] = pc->train.labels[idx[i]];
  }
  vkg_status s = vkg_graph_write_i32(g, pc->x, pc->xbuf, (size_t)m->batch * P);
  if (!s && pc->ybuf) s = vkg_graph_write_i32(g, pc->y, pc->ybuf, (size_t)m->batch);
  return s;
}

static vkg_status evaluate(struct nn_model *m, int *n, const char **names, double *values) {
  struct pixelcnn *pc = m->self;
  int k = pc->test.n < pc->o.eval_images ? pc->test.n : pc->o.eval_images;
  double nats;
  vkg_status s = pixelcnn_evaluate(&pc->o.arch, &m->params, &pc->test, k, &nats, NULL);
  if (s) return s;
  double per_dim = nats / subpixels(&pc->o.arch);
  names[0] = "val_loss", values[0] = per_dim;
  names[1] = "val_bits_per_dim", values[1] = per_dim / log(2.0);
  *n = 2;
  return VKG_OK;
}

vkg_status pixelcnn_create(vkg_ctx *ctx, const struct pixelcnn_opts *o, struct nn_model **out) {
  *out = NULL;
  vkg_status s = nn_cfg_check(&pixelcnn_cfg, &o->arch);
  if (s) return s;
  if (o->batch < 1) return vkg__fail(VKG_ERR_ARG, "the batch size must be positive (got %d)", o->batch);
  struct pixelcnn *pc = calloc(1, sizeof *pc);
  if (!pc) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  pc->o = *o;
  if (pc->o.eval_images < 1) pc->o.eval_images = 1000;
  struct nn_model *m = &pc->m;
  m->name = "pixelcnn";
  m->self = pc;
  m->batch = o->batch;
  m->build_loss = build_loss;
  m->write_batch = write_batch;
  m->evaluate = evaluate;
  nn_cfg_json(&pixelcnn_cfg, &o->arch, m->config, sizeof m->config);
  nn_params_init(&m->params, ctx);
  s = pixelcnn_data_load(o->data_dir, &o->arch, o->synthetic, &pc->train, &pc->test);
  if (!s && o->arch.classes && !pc->train.labels) {
    s = vkg__fail(VKG_ERR_ARG, "a conditional PixelCNN needs labelled data, and the images of '%s' have no labels",
                  o->data_dir ? o->data_dir : "?");
    vkg__hint("train a conditional model on Fashion-MNIST (no --data), or drop --conditional");
  }
  if (!s) {
    m->n_train = o->limit > 0 && o->limit < (size_t)pc->train.n ? o->limit : (size_t)pc->train.n;
    pc->xbuf = malloc(sizeof *pc->xbuf * (size_t)o->batch * (size_t)subpixels(&o->arch));
    pc->ybuf = o->arch.classes ? malloc(sizeof *pc->ybuf * (size_t)o->batch) : NULL;
    if (!pc->xbuf || (o->arch.classes && !pc->ybuf))
      s = vkg__fail(VKG_ERR_OOM, "out of host memory for a batch of %d images", o->batch);
  }
  if (!s) s = pixelcnn_params_create(&m->params, &o->arch, o->seed);
  if (!s) s = pixelcnn_consts_create(ctx, &o->arch, &pc->k);
  if (s) {
    pixelcnn_destroy(m);
    return s;
  }
  *out = m;
  return VKG_OK;
}

/* The family's hooks: the options of the shared loop and the image shape (sampling has its own
 * command: a whole image is one forward pass per sub-pixel). */
static vkg_status create_hook(vkg_ctx *ctx, const void *cfg, const struct nn_create_opts *o, struct nn_model **m) {
  *m = NULL;
  if (o->expect) return vkg__fail(VKG_ERR_ARG, "pixelcnn weights are loaded with pixelcnn_load");
  struct pixelcnn_opts po = pixelcnn_opts_default();
  po.arch = *(const struct pixelcnn_config *)cfg;
  po.batch = o->batch, po.limit = o->limit, po.data_dir = o->data_dir, po.seed = o->seed, po.synthetic = o->synthetic;
  return pixelcnn_create(ctx, &po, m);
}

static void image_shape(const struct nn_model *m, int *c, int *h, int *w) {
  const struct pixelcnn *pc = m->self;
  *c = pc->o.arch.channels, *h = *w = pc->o.arch.size;
}

const struct nn_family_ops pixelcnn_ops = {
    create_hook, pixelcnn_destroy, image_shape, NULL,
    "Trains the gated PixelCNN on Fashion-MNIST, or on a folder of images with --data DIR (every 10th\n"
    "image held out). The loss is the exact negative log-likelihood in nats per sub-pixel; after each\n"
    "epoch val_loss is that of up to 1000 test images, with val_bits_per_dim. Sample with 'vkgen sample\n"
    "pixelcnn --weights OUT/pixelcnn.safetensors'."};

const struct pixelcnn_data *pixelcnn_test_data(const struct nn_model *m) {
  return &((const struct pixelcnn *)m->self)->test;
}

void pixelcnn_destroy(struct nn_model *m) {
  if (!m) return;
  struct pixelcnn *pc = m->self;
  nn_params_free(&m->params);
  pixelcnn_consts_free(&pc->k);
  pixelcnn_data_free(&pc->train);
  pixelcnn_data_free(&pc->test);
  free(pc->xbuf);
  free(pc->ybuf);
  free(pc);
}

// ---- weights files ----

vkg_status pixelcnn_load(vkg_ctx *ctx, const char *path, struct pixelcnn_config *c, struct nn_params *p) {
  nn_params_init(p, ctx);
  vkg_st *st;
  vkg_status s = nn_weights_open(path, "pixelcnn", &pixelcnn_cfg, c, &st);
  if (s) return s;
  nn_params_expect(p, st, path);
  s = pixelcnn_params_create(p, c, 0);
  if (!s) s = nn_weights_load(p, st, path);
  vkg_st_close(st);
  if (s) nn_params_free(p);
  return s;
}

vkg_status pixelcnn_save(const char *path, const struct pixelcnn_config *c, const struct nn_params *p) {
  return nn_weights_save(path, "pixelcnn", &pixelcnn_cfg, c, p);
}

// ---- inference ----

/* A graph over the bound parameters and constants of c; w gets the weights as the forward pass uses them. */
static vkg_status inference_graph(const struct pixelcnn_config *c, const struct nn_params *p,
                                  const struct pixelcnn_consts *k, vkg_graph **g, struct pixelcnn_w *w) {
  vkg_status s = vkg_graph_create(p->ctx, g);
  if (s) return s;
  vkg_t *ids = malloc(sizeof *ids * (size_t)(p->n + 1));
  if (!ids) {
    vkg_graph_destroy(*g);
    return vkg__fail(VKG_ERR_OOM, "out of host memory");
  }
  nn_bind_all(*g, p, -1, ids);
  pixelcnn_weights(*g, c, ids, k, w);
  free(ids);
  return VKG_OK;
}

vkg_status pixelcnn_evaluate(const struct pixelcnn_config *c, const struct nn_params *p, const struct pixelcnn_data *d,
                             int n, double *nats_per_image, struct nn_progress *pg) {
  if (n < 1 || n > d->n) return vkg__fail(VKG_ERR_ARG, "pixelcnn_evaluate: bad n %d (of %d images)", n, d->n);
  if (d->c != c->channels || d->s != c->size)
    return vkg__fail(VKG_ERR_SHAPE, "the test images are %dx%d with %d channels, but the PixelCNN is for %dx%d with %d",
                     d->s, d->s, d->c, c->size, c->size, c->channels);
  if (c->classes && !d->labels) return vkg__fail(VKG_ERR_ARG, "a conditional PixelCNN needs labelled test images");
  const int B = n < EVAL_CHUNK ? n : EVAL_CHUNK, P = subpixels(c);
  struct pixelcnn_consts k;
  vkg_status s = pixelcnn_consts_create(p->ctx, c, &k);
  if (s) return s;
  struct pixelcnn_w *w = malloc(sizeof *w);
  vkg_graph *g = NULL;
  s = w ? inference_graph(c, p, &k, &g, w) : vkg__fail(VKG_ERR_OOM, "out of host memory");
  int xs[4] = {B, c->channels, c->size, c->size}, ys[1] = {B};
  vkg_t x = VKG_NONE, y = VKG_NONE, loss = VKG_NONE;
  if (!s) {
    x = vkg_input(g, "levels", VKG_I32, 4, xs);
    y = c->classes ? vkg_input(g, "labels", VKG_I32, 1, ys) : VKG_NONE;
    loss = pixelcnn_nll(g, c, w, x, y);
    vkg_output(g, loss);
    s = vkg_graph_compile(g);
  }
  int32_t *xb = malloc(sizeof *xb * (size_t)B * P), *yb = calloc((size_t)B, sizeof *yb);
  if (!s && (!xb || !yb)) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  double total = 0;
  for (int start = 0; !s && start < n; start += B) {
    int m = n - start < B ? n - start : B;
    /* A short last chunk pads with the ignored level -1, so the mean is over its real sub-pixels. */
    for (size_t i = 0; i < (size_t)B * P; i++)
      xb[i] = i < (size_t)m * P ? d->levels[(size_t)start * P + i] : -1;
    for (int i = 0; i < B; i++)
      yb[i] = i < m && d->labels ? d->labels[start + i] : 0;
    s = vkg_graph_write_i32(g, x, xb, (size_t)B * P);
    if (!s && c->classes) s = vkg_graph_write_i32(g, y, yb, (size_t)B);
    if (!s) s = vkg_graph_run(g);
    float v;
    if (!s) s = vkg_graph_read(g, loss, &v, 1);
    total += (double)v * m * P;
    if (!s && pg) nn_progress_update(pg, start + m, NULL);
  }
  free(xb);
  free(yb);
  free(w);
  vkg_graph_destroy(g);
  pixelcnn_consts_free(&k);
  if (!s) *nats_per_image = total / n;
  return s;
}

// ---- sampling ----

struct pixelcnn_sampler {
  struct pixelcnn_config c;
  struct pixelcnn_consts k;
  int batch, unroll;
  vkg_tensor *image;  /* i32 (B, S*S*C): levels in raster order, channels innermost */
  vkg_tensor *labels; /* i32 (B), conditional models */
  vkg_graph *g;
  int pix_slot, sub_slot, lo_slot, seed_slot, temp_slot;
  struct nn_progress *pg; /* advanced by pixels drawn (pg_images per position), or NULL */
  int pg_images;
};

void pixelcnn_sampler_destroy(struct pixelcnn_sampler *s) {
  if (!s) return;
  vkg_graph_destroy(s->g);
  vkg_tensor_destroy(s->image);
  vkg_tensor_destroy(s->labels);
  pixelcnn_consts_free(&s->k);
  free(s);
}

vkg_status pixelcnn_sampler_create(const struct pixelcnn_config *c, const struct nn_params *p, int batch, int unroll,
                                   struct pixelcnn_sampler **out) {
  *out = NULL;
  const int S = c->size, C = c->channels;
  if (batch < 1 || unroll < 1 || unroll > S * S)
    return vkg__fail(VKG_ERR_ARG, "pixelcnn sampler: batch %d, unroll %d (need batch >= 1, 1 <= unroll <= %d)", batch,
                     unroll, S * S);
  struct pixelcnn_sampler *sm = calloc(1, sizeof *sm);
  struct pixelcnn_w *w = malloc(sizeof *w);
  if (!sm || !w) {
    free(sm);
    free(w);
    return vkg__fail(VKG_ERR_OOM, "out of host memory");
  }
  sm->c = *c, sm->batch = batch, sm->unroll = unroll;
  int is[2] = {batch, S * S * C}, ys[1] = {batch};
  vkg_status s = pixelcnn_consts_create(p->ctx, c, &sm->k);
  if (!s) s = vkg_tensor_create(p->ctx, VKG_I32, 2, is, &sm->image);
  if (!s && c->classes) s = vkg_tensor_create(p->ctx, VKG_I32, 1, ys, &sm->labels);
  if (!s) s = inference_graph(c, p, &sm->k, &sm->g, w);
  if (s) {
    free(w);
    pixelcnn_sampler_destroy(sm);
    return s;
  }
  vkg_graph *g = sm->g;
  sm->pix_slot = vkg_scalar(g, "pixel");
  sm->sub_slot = vkg_scalar(g, "subpixel");
  sm->lo_slot = vkg_scalar(g, "keep");
  sm->seed_slot = vkg_scalar(g, "seed");
  sm->temp_slot = vkg_scalar(g, "temperature");
  vkg_t img = vkg_bind(g, sm->image);
  vkg_t y = c->classes ? vkg_bind(g, sm->labels) : VKG_NONE;
  /* Sub-pixel c of pixel pos + k: a whole forward pass over the image as it stands, the logits of that
   * sub-pixel, a draw, and its write into the image, which the next forward pass reads. */
  static const int nchw[4] = {0, 3, 1, 2};
  int hwc[4] = {batch, S, S, C}, flat[4] = {batch, C, LEVELS, S * S}, row[2] = {batch, LEVELS}, one[2] = {batch, 1};
  for (int k = 0; k < unroll; k++)
    for (int ch = 0; ch < C; ch++) {
      vkg_t x = vkg_permute(g, vkg_reshape(g, img, 4, hwc), nchw);                                  // (B, C, S, S)
      vkg_t lg = vkg_reshape(g, pixelcnn_logits(g, c, w, x, y), 4, flat);                           // (B, C, 256, S*S)
      lg = vkg_gather_at(g, vkg_slice(g, lg, 1, ch, ch + 1), 3, sm->pix_slot, k, 1);                // (B, 1, 256, 1)
      vkg_t v = vkg_sample_logits(g, vkg_reshape(g, lg, 2, row), sm->seed_slot, sm->temp_slot, -1); // (B)
      img = vkg_scatter_at(g, img, vkg_reshape(g, v, 2, one), 1, sm->sub_slot, k * C + ch, sm->lo_slot);
    }
  free(w);
  s = vkg_graph_compile(g);
  if (s) {
    pixelcnn_sampler_destroy(sm);
    return s;
  }
  *out = sm;
  return VKG_OK;
}

vkg_status pixelcnn_sampler_run(struct pixelcnn_sampler *sm, const uint8_t *given, int keep_rows, const int32_t *labels,
                                float temperature, uint32_t seed, float *images) {
  const int B = sm->batch, S = sm->c.size, C = sm->c.channels, K = sm->unroll;
  const size_t P = (size_t)S * S * C;
  if (keep_rows < 0 || keep_rows > S || (keep_rows > 0 && !given) || !(temperature >= 0))
    return vkg__fail(VKG_ERR_ARG, "pixelcnn sampling: keep_rows %d of %d, temperature %g", keep_rows, S,
                     (double)temperature);
  if (sm->c.classes && !labels) return vkg__fail(VKG_ERR_ARG, "a conditional PixelCNN needs class labels to sample");
  int32_t *buf = calloc((size_t)B * P, sizeof *buf);
  if (!buf) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  /* The image buffer holds channels innermost (raster order of sub-pixels); given is (B, C, S, S). */
  for (int b = 0; b < B && keep_rows; b++)
    for (int ch = 0; ch < C; ch++)
      for (int i = 0; i < keep_rows * S; i++)
        buf[(size_t)b * P + (size_t)i * C + ch] = given[(size_t)b * P + (size_t)ch * S * S + i];
  vkg_status s = vkg_tensor_upload(sm->image, buf, sizeof *buf * (size_t)B * P);
  if (!s && sm->c.classes) s = vkg_tensor_upload(sm->labels, labels, sizeof *labels * (size_t)B);
  vkg_graph *g = sm->g;
  if (!s) s = vkg_graph_set_u32(g, sm->lo_slot, (uint32_t)(keep_rows * S * C));
  if (!s) s = vkg_graph_set_f32(g, sm->temp_slot, temperature);
  /* The runs are queued two at a time (the scalars are staged per run): no host round trip per pixel. */
  for (int pos = keep_rows * S; !s && pos < S * S; pos += K) {
    s = vkg_graph_set_u32(g, sm->pix_slot, (uint32_t)pos);
    if (!s) s = vkg_graph_set_u32(g, sm->sub_slot, (uint32_t)pos * (uint32_t)C);
    if (!s) s = vkg_graph_set_u32(g, sm->seed_slot, (uint32_t)nn_mix(seed, (uint64_t)pos));
    if (!s) s = vkg_graph_run_async(g); /* waits for the run before the previous one */
    if (!s && sm->pg)
      nn_progress_update(sm->pg, sm->pg->done + (long)sm->pg_images * (S * S - pos < K ? S * S - pos : K), NULL);
  }
  if (!s) s = vkg_graph_wait(g);
  if (!s) s = vkg_tensor_download(sm->image, buf, sizeof *buf * (size_t)B * P);
  for (int b = 0; !s && b < B; b++)
    for (int ch = 0; ch < C; ch++)
      for (int i = 0; i < S * S; i++)
        images[(size_t)b * P + (size_t)ch * S * S + i] = (float)buf[(size_t)b * P + (size_t)i * C + ch] / 255.0f;
  free(buf);
  return s;
}

vkg_status pixelcnn_sample(const struct pixelcnn_config *c, const struct nn_params *p, int n, float temperature,
                           uint32_t seed, const int32_t *labels, float *images, struct nn_progress *pg) {
  if (n < 1) return vkg__fail(VKG_ERR_ARG, "pixelcnn_sample: n must be positive (got %d)", n);
  const int B = n < SAMPLE_CHUNK ? n : SAMPLE_CHUNK, S = c->size;
  const size_t P = (size_t)subpixels(c);
  struct pixelcnn_sampler *sm;
  vkg_status s = pixelcnn_sampler_create(c, p, B, S * S < SAMPLE_UNROLL ? S * S : SAMPLE_UNROLL, &sm);
  if (s) return s;
  float *buf = malloc(sizeof *buf * (size_t)B * P);
  int32_t *yb = calloc((size_t)B, sizeof *yb);
  if (!buf || !yb) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  sm->pg = pg;
  for (int k = 0, start = 0; !s && start < n; k++, start += B) {
    int m = n - start < B ? n - start : B;
    sm->pg_images = m;
    for (int i = 0; i < B && c->classes; i++)
      yb[i] = labels && i < m ? labels[start + i] : (start + i) % c->classes;
    s = pixelcnn_sampler_run(sm, NULL, 0, yb, temperature, k == 0 ? seed : (uint32_t)nn_mix(seed, (uint64_t)k), buf);
    if (!s) memcpy(images + (size_t)start * P, buf, sizeof *buf * (size_t)m * P);
  }
  free(buf);
  free(yb);
  pixelcnn_sampler_destroy(sm);
  return s;
}
