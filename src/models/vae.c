/* The convolutional VAE (see vae.h): its parameters, the encoder and decoder as graph ops, the
 * negative ELBO, the model for the shared training loop, and the inference helpers behind
 * 'vkgen sample|eval vae'. Shape letters: B batch, C channels, S image size, Z latent size, P pixels
 * per image (C*S*S), F the flattened encoder features (2w*(S/4)^2), K noise samples per image. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "nn/data.h"
#include "nn/progress.h"
#include "models/vae.h"
#include "nn/weights.h"

/* Images per graph run in the inference helpers: large enough to keep the device busy, small enough
 * that the activations stay a few tens of MB at 64x64. */
#define VAE_CHUNK 256

// ---- configuration ----

/* The architecture table: the weights' JSON config, its checks, and the CLI's architecture options. */
static vkg_status check_config(const void *cfg) {
  const struct vae_config *c = cfg;
  if (c->size % 4)
    return vkg__fail(VKG_ERR_ARG, "vae config: the image size must be a multiple of 4, e.g. 28, 32 or 64 (got %d)",
                     c->size);
  return VKG_OK;
}
#define F(...) NN_CFG_INT_F(struct vae_config, __VA_ARGS__)
static const struct nn_cfg_field vae_fields[] = {
    F(z, 16, 1, 4096, NULL, "latent size"),
    {.key = "w",
     .type = NN_CFG_INT,
     .offset = offsetof(struct vae_config, w),
     .size = sizeof(int),
     .def = 16,
     .lo = 1,
     .hi = 1024,
     .help = "channels of the first convolution (the second has 2w)",
     .opt = "width"},
    F(size, 28, 4, 512, NULL, "image side, a multiple of 4 (Fashion-MNIST: 28)"),
    F(channels, 1, 1, 3, "1,3", "1 (gray) or 3 (RGB)"),
};
#undef F
const struct nn_cfg vae_cfg = {"vae", vae_fields, sizeof vae_fields / sizeof vae_fields[0], sizeof(struct vae_config),
                               check_config};

struct vae_config vae_config_default(void) {
  struct vae_config c = {0};
  nn_cfg_defaults(&vae_cfg, &c);
  return c;
}

/* The encoder's flattened feature size F = 2w * (S/4)^2. */
static int features(const struct vae_config *c) { return 2 * c->w * (c->size / 4) * (c->size / 4); }
static int pixels(const struct vae_config *c) { return c->channels * c->size * c->size; }

// ---- parameters ----

vkg_status vae_params_create(struct nn_params *p, const struct vae_config *c, uint64_t seed) {
  vkg_status s = nn_cfg_check(&vae_cfg, c);
  if (s) return s;
  int w = c->w, ch = c->channels, Z = c->z, F = features(c), n0 = p->n;
  p->init = 1, p->seed = seed; /* PyTorch's default init, each tensor from its index */
  nn_conv2d_params(p, "enc.conv1", ch, w, 4, 4, 1);
  nn_conv2d_params(p, "enc.conv2", w, 2 * w, 4, 4, 1);
  nn_linear_params(p, "enc.fc", F, 2 * Z, 1);
  nn_linear_params(p, "dec.fc", Z, F, 1);
  nn_conv_transpose2d_params(p, "dec.deconv1", 2 * w, w, 4, 4, 1);
  nn_conv_transpose2d_params(p, "dec.deconv2", w, ch, 4, 4, 1);
  if (!p->err && (n0 || p->n != VAE_NPARAM)) /* the ids of enum vae_param */
    return vkg__fail(VKG_ERR_ARG, "vae_params_create: the set must start empty");
  return p->err;
}

// ---- forward ----

/* Every convolution of the model: kernel 4, stride 2, padding 1, which halves (or, transposed,
 * doubles) the image size exactly. */
static struct vkg_conv2d_desc halving(void) {
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  d.stride_h = d.stride_w = 2;
  d.pad_h = d.pad_w = 1;
  return d;
}

void vae_encode(vkg_graph *g, const struct vae_config *c, const vkg_t *p, vkg_t x, vkg_t *mu, vkg_t *logvar) {
  struct vkg_conv2d_desc d = halving();
  int B = vkg_dim(g, x, 0), flat[2] = {B, features(c)};
  vkg_t h = vkg_unary(g, VKG_RELU, vkg_conv2d(g, x, p[VAE_E1_W], p[VAE_E1_B], &d), 0, 0); // (B, w, S/2, S/2)
  h = vkg_unary(g, VKG_RELU, vkg_conv2d(g, h, p[VAE_E2_W], p[VAE_E2_B], &d), 0, 0);       // (B, 2w, S/4, S/4)
  vkg_t o = nn_linear(g, vkg_reshape(g, h, 2, flat), p[VAE_EFC_W], p[VAE_EFC_B]);         // (B, 2Z)
  *mu = vkg_slice(g, o, 1, 0, c->z);                                                      // (B, Z)
  *logvar = vkg_slice(g, o, 1, c->z, 2 * c->z);                                           // (B, Z)
}

vkg_t vae_decode(vkg_graph *g, const struct vae_config *c, const vkg_t *p, vkg_t z) {
  struct vkg_conv2d_desc d = halving();
  int N = vkg_dim(g, z, 0), grid[4] = {N, 2 * c->w, c->size / 4, c->size / 4};
  vkg_t h = vkg_unary(g, VKG_RELU, nn_linear(g, z, p[VAE_DFC_W], p[VAE_DFC_B]), 0, 0);        // (N, F)
  h = vkg_reshape(g, h, 4, grid);                                                             // (N, 2w, S/4, S/4)
  h = vkg_unary(g, VKG_RELU, vkg_conv_transpose2d(g, h, p[VAE_D1_W], p[VAE_D1_B], &d), 0, 0); // (N, w, S/2, S/2)
  return vkg_conv_transpose2d(g, h, p[VAE_D2_W], p[VAE_D2_B], &d);                            // (N, C, S, S)
}

/* z = mu + exp(logvar / 2) * eps; eps broadcasts against mu (eps may carry leading sample dims). */
static vkg_t reparameterize(vkg_graph *g, vkg_t mu, vkg_t logvar, vkg_t eps) {
  vkg_t std = vkg_unary(g, VKG_EXP, vkg_unary(g, VKG_AFFINE, logvar, 0.5f, 0), 0, 0);
  return vkg_binary(g, VKG_ADD, vkg_binary(g, VKG_MUL, eps, std), mu);
}

vkg_t vae_neg_elbo(vkg_graph *g, const struct vae_config *c, const vkg_t *p, vkg_t x, vkg_t eps, vkg_t *rec,
                   vkg_t *kl) {
  vkg_t mu, logvar;
  vae_encode(g, c, p, x, &mu, &logvar);
  vkg_t logits = vae_decode(g, c, p, reparameterize(g, mu, logvar, eps)); // (B, C, S, S)
  /* The BCE loss is a mean over all B*P elements; times P it is the per-image sum over pixels,
   * averaged over the batch, which is the reconstruction term of the ELBO in nats. */
  vkg_t r = vkg_unary(g, VKG_AFFINE, vkg_bce_logits_loss(g, logits, x), (float)pixels(c), 0);
  vkg_t k = vkg_gaussian_kl_loss(g, mu, logvar); /* summed over Z, averaged over the batch */
  if (rec) *rec = r;
  if (kl) *kl = k;
  return vkg_binary(g, VKG_ADD, r, k);
}

/* Per-row Bernoulli NLL: sum over the last axis of softplus(l) - l * t (t broadcasts). */
static vkg_t bce_rows(vkg_graph *g, vkg_t logits, vkg_t target) {
  vkg_t e = vkg_binary(g, VKG_SUB, vkg_unary(g, VKG_SOFTPLUS, logits, 0, 0), vkg_binary(g, VKG_MUL, logits, target));
  return vkg_reduce(g, VKG_REDUCE_SUM, e, -1, 0);
}

// ---- data ----

vkg_status vae_data_load(const char *dir, const struct vae_config *c, int synthetic, struct vkg_images *train,
                         struct vkg_images *test) {
  if (synthetic <= 0 && nn_data_is_fashion(dir) && (c->size != 28 || c->channels != 1)) {
    vkg__fail(VKG_ERR_ARG, "Fashion-MNIST images are 28x28 with 1 channel, but this VAE is for %dx%d with %d channel%s",
              c->size, c->size, c->channels, c->channels == 1 ? "" : "s");
    vkg__hint("pass --data DIR with a folder of your images for other sizes");
    return VKG_ERR_ARG;
  }
  return nn_image_data_load(dir, c->size, c->channels, synthetic, 1, train, test);
}

// ---- the model for the training loop ----

struct vae_sampler;
static void sampler_free(struct vae_sampler *sm);

struct vae {
  struct nn_model m;
  struct vae_config arch;
  struct vkg_images train, test;
  vkg_t x;                     /* the streamed images of the training graph */
  float *xbuf;                 /* (B, C, S, S) staging on the host */
  struct vae_sampler *sampler; /* the sample_images hook's graph, kept between calls */
};

static vkg_t build_loss(struct nn_model *m, vkg_graph *g, const vkg_t *ids, int phase) {
  (void)phase;
  struct vae *v = m->self;
  const struct vae_config *c = &v->arch;
  int xs[4] = {m->batch, c->channels, c->size, c->size}, es[2] = {m->batch, c->z};
  v->x = vkg_input_streamed(g, "images", VKG_F32, 4, xs);
  /* Fresh noise every step: the loop sets the "seed" slot per step. */
  vkg_t eps = vkg_random_normal(g, 2, es, vkg_scalar(g, "seed"), 0, 1);
  return vae_neg_elbo(g, c, ids, v->x, eps, NULL, NULL);
}

static vkg_status write_batch(struct nn_model *m, vkg_graph *g, int phase, const uint32_t *idx) {
  (void)phase;
  struct vae *v = m->self;
  size_t P = (size_t)pixels(&v->arch);
  for (int i = 0; i < m->batch; i++)
    memcpy(v->xbuf + (size_t)i * P, v->train.pixels + (size_t)idx[i] * P, P * sizeof(float));
  return vkg_graph_write(g, v->x, v->xbuf, (size_t)m->batch * P);
}

/* The negative ELBO of up to 1000 test images with fixed noise, so epochs compare fairly. */
static vkg_status evaluate(struct nn_model *m, int *n, const char **names, double *values) {
  struct vae *v = m->self;
  struct vae_eval e;
  vkg_status s = vae_evaluate(&v->arch, &m->params, &v->test, v->test.n < 1000 ? v->test.n : 1000, 1, 12345, &e, 0);
  if (s) return s;
  names[0] = "val_loss", values[0] = e.neg_elbo;
  names[1] = "val_rec_bce", values[1] = e.rec_bce;
  names[2] = "val_kl", values[2] = e.kl;
  *n = 3;
  return VKG_OK;
}

vkg_status vae_create(vkg_ctx *ctx, const void *cfg, const struct nn_create_opts *o, struct nn_model **out) {
  const struct vae_config *arch = cfg;
  *out = NULL;
  vkg_status s = nn_cfg_check(&vae_cfg, arch);
  if (s) return s;
  if (o->batch < 1) return vkg__fail(VKG_ERR_ARG, "the batch size must be positive (got %d)", o->batch);
  struct vae *v = calloc(1, sizeof *v);
  if (!v) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  v->arch = *arch;
  struct nn_model *m = &v->m;
  m->name = "vae";
  m->self = v;
  m->batch = o->batch;
  m->build_loss = build_loss;
  m->write_batch = write_batch;
  m->evaluate = evaluate;
  nn_cfg_json(&vae_cfg, arch, m->config, sizeof m->config);
  nn_params_init(&m->params, ctx);
  s = vae_data_load(o->data_dir, arch, o->synthetic, &v->train, &v->test);
  if (!s) {
    m->n_train = o->limit > 0 && o->limit < (size_t)v->train.n ? o->limit : (size_t)v->train.n;
    v->xbuf = malloc(sizeof *v->xbuf * (size_t)o->batch * (size_t)pixels(arch));
    if (!v->xbuf) s = vkg__fail(VKG_ERR_OOM, "out of host memory for a batch of %d images", o->batch);
  }
  if (!s && o->expect) nn_params_expect(&m->params, o->expect, o->expect_path);
  if (!s) s = vae_params_create(&m->params, arch, o->seed);
  if (s) {
    vae_destroy(m);
    return s;
  }
  *out = m;
  return VKG_OK;
}

const struct vae_config *vae_model_config(const struct nn_model *m) { return &((const struct vae *)m->self)->arch; }
const struct vkg_images *vae_test_images(const struct nn_model *m) { return &((const struct vae *)m->self)->test; }

void vae_destroy(struct nn_model *m) {
  if (!m) return;
  struct vae *v = m->self;
  if (v->sampler) sampler_free(v->sampler);
  free(v->sampler);
  nn_params_free(&m->params);
  vkg_images_free(&v->train);
  vkg_images_free(&v->test);
  free(v->xbuf);
  free(v);
}

// ---- weights files ----

vkg_status vae_load(vkg_ctx *ctx, const char *path, struct vae_config *c, struct nn_params *p) {
  nn_params_init(p, ctx);
  vkg_st *st;
  vkg_status s = nn_weights_open(path, "vae", &vae_cfg, c, &st);
  if (s) return s;
  nn_params_expect(p, st, path);
  s = vae_params_create(p, c, 0);
  if (!s) s = nn_weights_load(p, st, path);
  vkg_st_close(st);
  if (s) nn_params_free(p);
  return s;
}

vkg_status vae_save(const char *path, const struct vae_config *c, const struct nn_params *p) {
  return nn_weights_save(path, "vae", &vae_cfg, c, p);
}

// ---- inference ----

/* A graph over the bound parameters; ids gets their ids. */
static vkg_status inference_graph(const struct nn_params *p, vkg_graph **g, vkg_t *ids) {
  vkg_status s = vkg_graph_create(p->ctx, g);
  if (!s) nn_bind_all(*g, p, -1, ids);
  return s;
}

/* A recorded sampling graph of batch B: z ~ N(0, I) from the "seed" slot, decoded, through a sigmoid. */
struct vae_sampler {
  vkg_graph *g;
  int B, slot;
  vkg_t img;
  float *buf; /* (B, C, S, S) */
};

static void sampler_free(struct vae_sampler *sm) {
  vkg_graph_destroy(sm->g);
  free(sm->buf);
  memset(sm, 0, sizeof *sm);
}

static vkg_status sampler_create(const struct vae_config *c, const struct nn_params *p, int B, struct vae_sampler *sm) {
  memset(sm, 0, sizeof *sm);
  int zs[2] = {B, c->z};
  vkg_t ids[VAE_NPARAM];
  vkg_status s = inference_graph(p, &sm->g, ids);
  if (s) return s;
  sm->B = B;
  sm->slot = vkg_scalar(sm->g, "seed");
  sm->img =
      vkg_unary(sm->g, VKG_SIGMOID, vae_decode(sm->g, c, ids, vkg_random_normal(sm->g, 2, zs, sm->slot, 0, 1)), 0, 0);
  vkg_output(sm->g, sm->img);
  s = vkg_graph_compile(sm->g);
  sm->buf = s ? NULL : malloc(sizeof *sm->buf * (size_t)B * (size_t)pixels(c));
  if (!s && !sm->buf) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  if (s) sampler_free(sm);
  return s;
}

/* n images in chunks of the sampler's batch. The first chunk uses the seed itself, so n images start
 * with the images of any smaller n. */
static vkg_status sampler_run(const struct vae_config *c, struct vae_sampler *sm, int n, uint32_t seed, float *out) {
  size_t P = (size_t)pixels(c);
  vkg_status s = VKG_OK;
  for (int k = 0, start = 0; !s && start < n; k++, start += sm->B) {
    int m = n - start < sm->B ? n - start : sm->B;
    s = vkg_graph_set_u32(sm->g, sm->slot, k == 0 ? seed : (uint32_t)nn_mix(seed, (uint64_t)k));
    if (!s) s = vkg_graph_run(sm->g);
    if (!s) s = vkg_graph_read(sm->g, sm->img, sm->buf, (size_t)sm->B * P);
    if (!s) memcpy(out + (size_t)start * P, sm->buf, sizeof *sm->buf * (size_t)m * P);
  }
  return s;
}

vkg_status vae_sample(const struct vae_config *c, const struct nn_params *p, int n, uint32_t seed, float *out) {
  if (n < 1) return vkg__fail(VKG_ERR_ARG, "vae_sample: n must be positive (got %d)", n);
  struct vae_sampler sm;
  vkg_status s = sampler_create(c, p, n < VAE_CHUNK ? n : VAE_CHUNK, &sm);
  if (!s) s = sampler_run(c, &sm, n, seed, out);
  sampler_free(&sm);
  return s;
}

/* Runs a one-input, one-output graph over n rows in chunks of B, padding the last chunk with zeros. */
static vkg_status run_rows(vkg_graph *g, vkg_t in, vkg_t out, int B, size_t in_row, size_t out_row, const float *x,
                           int n, float *y) {
  float *xb = calloc((size_t)B * in_row + 1, sizeof *xb), *yb = malloc(sizeof *yb * ((size_t)B * out_row + 1));
  vkg_status s = xb && yb ? VKG_OK : vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (int start = 0; !s && start < n; start += B) {
    int m = n - start < B ? n - start : B;
    memcpy(xb, x + (size_t)start * in_row, sizeof *xb * (size_t)m * in_row);
    memset(xb + (size_t)m * in_row, 0, sizeof *xb * (size_t)(B - m) * in_row);
    s = vkg_graph_write(g, in, xb, (size_t)B * in_row);
    if (!s) s = vkg_graph_run(g);
    if (!s) s = vkg_graph_read(g, out, yb, (size_t)B * out_row);
    if (!s) memcpy(y + (size_t)start * out_row, yb, sizeof *yb * (size_t)m * out_row);
  }
  free(xb);
  free(yb);
  return s;
}

vkg_status vae_encode_mu(const struct vae_config *c, const struct nn_params *p, const float *x, int n, float *mu) {
  if (n < 1) return vkg__fail(VKG_ERR_ARG, "vae_encode_mu: n must be positive (got %d)", n);
  int B = n < VAE_CHUNK ? n : VAE_CHUNK, xs[4] = {B, c->channels, c->size, c->size};
  vkg_graph *g;
  vkg_t ids[VAE_NPARAM], m, lv;
  vkg_status s = inference_graph(p, &g, ids);
  if (s) return s;
  vkg_t x_in = vkg_input(g, "images", VKG_F32, 4, xs);
  vae_encode(g, c, ids, x_in, &m, &lv);
  vkg_output(g, m);
  s = vkg_graph_compile(g);
  if (!s) s = run_rows(g, x_in, m, B, (size_t)pixels(c), (size_t)c->z, x, n, mu);
  vkg_graph_destroy(g);
  return s;
}

vkg_status vae_decode_z(const struct vae_config *c, const struct nn_params *p, const float *z, int n, float *out) {
  if (n < 1) return vkg__fail(VKG_ERR_ARG, "vae_decode_z: n must be positive (got %d)", n);
  int B = n < VAE_CHUNK ? n : VAE_CHUNK, zs[2] = {B, c->z};
  vkg_graph *g;
  vkg_t ids[VAE_NPARAM];
  vkg_status s = inference_graph(p, &g, ids);
  if (s) return s;
  vkg_t z_in = vkg_input(g, "z", VKG_F32, 2, zs);
  vkg_t img = vkg_unary(g, VKG_SIGMOID, vae_decode(g, c, ids, z_in), 0, 0);
  vkg_output(g, img);
  s = vkg_graph_compile(g);
  if (!s) s = run_rows(g, z_in, img, B, (size_t)c->z, (size_t)pixels(c), z, n, out);
  vkg_graph_destroy(g);
  return s;
}

vkg_status vae_evaluate(const struct vae_config *c, const struct nn_params *p, const struct vkg_images *im, int n,
                        int samples, uint32_t seed, struct vae_eval *out, int progress) {
  memset(out, 0, sizeof *out);
  if (n < 1 || n > im->n || samples < 1)
    return vkg__fail(VKG_ERR_ARG, "vae_evaluate: bad n %d (of %d images) or samples %d", n, im->n, samples);
  if (im->c != c->channels || im->h != c->size || im->w != c->size)
    return vkg__fail(VKG_ERR_SHAPE, "the test images are %dx%d with %d channels, but the VAE is for %dx%d with %d",
                     im->h, im->w, im->c, c->size, c->size, c->channels);
  const int K = samples, P = pixels(c), Z = c->z;
  /* One run decodes the mean and K samples of each of B images: keep (K + 1) * B near VAE_CHUNK. */
  int B = VAE_CHUNK / (K + 1);
  if (B < 1) B = 1;
  if (B > n) B = n;
  vkg_graph *g;
  vkg_t ids[VAE_NPARAM], mu, lv;
  vkg_status s = inference_graph(p, &g, ids);
  if (s) return s;
  int slot = vkg_scalar(g, "seed");
  int xs[4] = {B, c->channels, c->size, c->size}, es[3] = {K, B, Z}, m3[3] = {1, B, Z}, zall[2] = {(K + 1) * B, Z};
  int rows[3] = {K + 1, B, P}, t3[3] = {1, B, P};
  vkg_t x = vkg_input(g, "images", VKG_F32, 4, xs);
  vae_encode(g, c, ids, x, &mu, &lv);
  /* Row 0 of the decoded batch is decode(mu); rows 1..K decode z = mu + sigma * eps_k. */
  vkg_t eps = vkg_random_normal(g, 3, es, slot, 0, 1); // (K, B, Z)
  vkg_t zs = reparameterize(g, mu, lv, eps);           // (K, B, Z)
  vkg_t both[2] = {vkg_reshape(g, mu, 3, m3), zs};
  vkg_t z = vkg_reshape(g, vkg_concat(g, 2, both, 0), 2, zall);     // ((K+1) B, Z)
  vkg_t logits = vkg_reshape(g, vae_decode(g, c, ids, z), 3, rows); // (K+1, B, P)
  vkg_t t = vkg_reshape(g, x, 3, t3);                               // (1, B, P)
  vkg_t bce = bce_rows(g, logits, t);                               // (K+1, B)
  vkg_t d = vkg_binary(g, VKG_SUB, vkg_unary(g, VKG_SIGMOID, vkg_slice(g, logits, 0, 0, 1), 0, 0), t);
  vkg_t sse = vkg_reduce(g, VKG_REDUCE_SUM, vkg_unary(g, VKG_SQUARE, d, 0, 0), -1, 0); // (1, B)
  /* KL per image: 0.5 * sum(mu^2 + e^lv - lv - 1), every term >= 0. */
  vkg_t kt = vkg_binary(g, VKG_SUB, vkg_unary(g, VKG_EXP, lv, 0, 0), vkg_unary(g, VKG_AFFINE, lv, 1, 1));
  kt = vkg_binary(g, VKG_ADD, vkg_unary(g, VKG_SQUARE, mu, 0, 0), kt);
  vkg_t kl = vkg_unary(g, VKG_AFFINE, vkg_reduce(g, VKG_REDUCE_SUM, kt, -1, 0), 0.5f, 0); // (B)
  /* log p(z) - log q(z|x) of each sample, for the importance-weighted bound: with z = mu + sigma eps,
   * log q = -0.5 sum(eps^2) - 0.5 sum(lv) - (Z/2) log 2 pi and log p = -0.5 sum(z^2) - (Z/2) log 2 pi. */
  vkg_t lr = vkg_binary(g, VKG_SUB, vkg_unary(g, VKG_SQUARE, eps, 0, 0), vkg_unary(g, VKG_SQUARE, zs, 0, 0));
  lr = vkg_unary(g, VKG_AFFINE, vkg_binary(g, VKG_ADD, lr, lv), 0.5f, 0);
  lr = vkg_reduce(g, VKG_REDUCE_SUM, lr, -1, 0); // (K, B)
  vkg_output(g, bce);
  vkg_output(g, sse);
  vkg_output(g, kl);
  vkg_output(g, lr);
  s = vkg_graph_compile(g);
  float *xb = calloc((size_t)B * P + 1, sizeof *xb), *hb = malloc(sizeof *hb * (size_t)(K + 1) * B);
  float *sb = malloc(sizeof *sb * (size_t)B), *kb = malloc(sizeof *kb * (size_t)B);
  float *lb = malloc(sizeof *lb * (size_t)K * B);
  if (!s && (!xb || !hb || !sb || !kb || !lb)) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  double rec0 = 0, recz = 0, sse_sum = 0, kl_sum = 0, iw = 0;
  struct nn_progress pg;
  nn_progress_start(&pg, "eval", 0, n, "images", !progress);
  for (int k = 0, start = 0; !s && start < n; k++, start += B) {
    int m = n - start < B ? n - start : B;
    nn_progress_update(&pg, start, NULL);
    memcpy(xb, im->pixels + (size_t)start * P, sizeof *xb * (size_t)m * P);
    memset(xb + (size_t)m * P, 0, sizeof *xb * (size_t)(B - m) * P);
    s = vkg_graph_write(g, x, xb, (size_t)B * P);
    if (!s) s = vkg_graph_set_u32(g, slot, (uint32_t)nn_mix(seed, (uint64_t)k));
    if (!s) s = vkg_graph_run(g);
    if (!s) s = vkg_graph_read(g, bce, hb, (size_t)(K + 1) * B);
    if (!s) s = vkg_graph_read(g, sse, sb, (size_t)B);
    if (!s) s = vkg_graph_read(g, kl, kb, (size_t)B);
    if (!s) s = vkg_graph_read(g, lr, lb, (size_t)K * B);
    for (int i = 0; !s && i < m; i++) {
      rec0 += hb[i];
      /* log w_j = log p(x|z_j) + log p(z_j) - log q(z_j|x); -log mean_j w_j by log-sum-exp. */
      double top = -INFINITY;
      for (int j = 0; j < K; j++) {
        double lw = -(double)hb[(size_t)(j + 1) * B + i] + lb[(size_t)j * B + i];
        recz += hb[(size_t)(j + 1) * B + i] / (double)K;
        top = lw > top ? lw : top;
      }
      double sum = 0;
      for (int j = 0; j < K; j++)
        sum += exp(-(double)hb[(size_t)(j + 1) * B + i] + lb[(size_t)j * B + i] - top);
      iw += -(top + log(sum / K));
      sse_sum += sb[i];
      kl_sum += kb[i];
    }
  }
  if (!s) {
    nn_progress_update(&pg, n, NULL);
    nn_progress_end(&pg, NULL);
  }
  nn_progress_break(&pg);
  free(xb);
  free(hb);
  free(sb);
  free(kb);
  free(lb);
  vkg_graph_destroy(g);
  if (s) return s;
  out->n = n, out->samples = K;
  out->rec_bce = rec0 / n;
  out->mse = sse_sum / ((double)n * P);
  out->kl = kl_sum / n;
  out->rec_z = recz / n;
  out->neg_elbo = out->rec_z + out->kl;
  out->iw_nll = iw / n;
  return VKG_OK;
}

static void image_shape(const struct nn_model *m, int *c, int *h, int *w) {
  const struct vae *v = m->self;
  *c = v->arch.channels, *h = *w = v->arch.size;
}

/* As vae_sample, with the sampling graph kept in the model for the next call of the same batch. */
static vkg_status sample_images(struct nn_model *m, int n, uint32_t seed, float *images) {
  struct vae *v = m->self;
  if (n < 1) return vkg__fail(VKG_ERR_ARG, "vae_sample: n must be positive (got %d)", n);
  int B = n < VAE_CHUNK ? n : VAE_CHUNK;
  if (v->sampler && v->sampler->B != B) sampler_free(v->sampler);
  if (!v->sampler && !(v->sampler = calloc(1, sizeof *v->sampler))) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_status s = v->sampler->g ? VKG_OK : sampler_create(&v->arch, &m->params, B, v->sampler);
  return s ? s : sampler_run(&v->arch, v->sampler, n, seed, images);
}

const struct nn_family_ops vae_ops = {
    vae_create, vae_destroy, image_shape, sample_images,
    "Trains the convolutional VAE (Bernoulli likelihood) on Fashion-MNIST, or on a folder of images\n"
    "with --data DIR (every 10th image held out for testing). The loss is the negative ELBO in nats per\n"
    "image; after each epoch val_loss is that of up to 1000 test images. After training, 16 test images\n"
    "beside their reconstructions go to reconstructions.png."};
