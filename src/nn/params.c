/* Parameter sets: named tensors, initialization, and saving/loading through safetensors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nn/nn.h"
#include "nn/weights.h"

void nn_params_init(struct nn_params *p, vkg_ctx *ctx) {
  memset(p, 0, sizeof *p);
  p->ctx = ctx;
}

void nn_params_init_seeded(struct nn_params *p, vkg_ctx *ctx, uint64_t seed) {
  nn_params_init(p, ctx);
  p->init = 1, p->seed = seed;
}

void nn_params_free(struct nn_params *p) {
  for (int i = 0; i < p->n; i++)
    vkg_tensor_destroy(p->t[i]);
  free(p->names);
  free(p->t);
  free(p->trainable);
  free(p->group);
  memset(p, 0, sizeof *p);
}

vkg_tensor *nn_param(struct nn_params *p, const char *name, int trainable, int ndim, const int *shape) {
  if (p->n == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 16;
    p->names = realloc(p->names, sizeof *p->names * (size_t)p->cap);
    p->t = realloc(p->t, sizeof *p->t * (size_t)p->cap);
    p->trainable = realloc(p->trainable, (size_t)p->cap);
    p->group = realloc(p->group, (size_t)p->cap);
  }
  if (p->expect && (p->err = nn__param_expected(p, name, ndim, shape))) return NULL;
  vkg_tensor *t;
  if ((p->err = vkg_tensor_create(p->ctx, VKG_F32, ndim, shape, &t))) return NULL;
  snprintf(p->names[p->n], sizeof p->names[0], "%s", name);
  p->t[p->n] = t;
  p->trainable[p->n] = (uint8_t)(trainable != 0);
  p->group[p->n] = (uint8_t)p->cur_group;
  p->ntrain += trainable != 0;
  p->n++;
  return t;
}

int nn_param_index(const struct nn_params *p, const char *name) {
  for (int i = 0; i < p->n; i++)
    if (strcmp(p->names[i], name) == 0) return i;
  return -1;
}

vkg_tensor **nn_trainable(const struct nn_params *p, int group, int *n) {
  vkg_tensor **out = malloc(sizeof *out * (size_t)(p->n + 1));
  *n = 0;
  for (int i = 0; i < p->n; i++)
    if (p->trainable[i] && p->group[i] == group) out[(*n)++] = p->t[i];
  return out;
}

void nn_params_set_group(struct nn_params *p, int group) { p->cur_group = group; }

uint64_t nn_mix(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

vkg_status nn_init_uniform(vkg_tensor *t, float bound, uint64_t seed) {
  size_t n = vkg_tensor_numel(t);
  float *v = malloc(n * sizeof *v + 1);
  if (!v) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (size_t i = 0; i < n; i++) {
    double u = (double)(nn_mix(seed, i) >> 11) * (1.0 / 9007199254740992.0); /* [0, 1) */
    v[i] = (float)((2 * u - 1) * bound);
  }
  vkg_status s = vkg_tensor_upload_f32(t, v, n);
  free(v);
  return s;
}

vkg_status nn_init_const(vkg_tensor *t, float value) {
  size_t n = vkg_tensor_numel(t);
  float *v = malloc(n * sizeof *v + 1);
  if (!v) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (size_t i = 0; i < n; i++)
    v[i] = value;
  vkg_status s = vkg_tensor_upload_f32(t, v, n);
  free(v);
  return s;
}

vkg_status nn_params_save(const struct nn_params *p, vkg_st_writer *w, const char *prefix) {
  return nn_params_save_as(p, w, prefix, NULL);
}

vkg_status nn_params_save_as(const struct nn_params *p, vkg_st_writer *w, const char *prefix, const char *dtype) {
  for (int i = 0; i < p->n; i++) {
    char name[160];
    snprintf(name, sizeof name, "%s%s", prefix, p->names[i]);
    int fp = p->t[i]->dtype == VKG_F32 || p->t[i]->dtype == VKG_F16;
    vkg_status s = vkg_st_add_tensor_as(w, name, p->t[i], fp ? dtype : NULL);
    if (s) return s;
  }
  return VKG_OK;
}

vkg_status nn_params_load(const struct nn_params *p, const vkg_st *st, const char *prefix) {
  for (int i = 0; i < p->n; i++) {
    char name[160];
    snprintf(name, sizeof name, "%s%s", prefix, p->names[i]);
    vkg_status s = vkg_st_load_tensor(st, name, p->t[i]);
    if (s) return s;
  }
  return VKG_OK;
}

void nn_bind_all(vkg_graph *g, const struct nn_params *p, int train_group, vkg_t *ids) {
  for (int i = 0; i < p->n; i++) {
    ids[i] = vkg_bind(g, p->t[i]);
    if (train_group >= 0 && p->trainable[i] && p->group[i] == train_group) vkg_requires_grad(g, ids[i]);
  }
}

vkg_t nn_linear(vkg_graph *g, vkg_t x, vkg_t w, vkg_t b) { return vkg_matmul(g, x, w, b, VKG_TRANS_B); }

vkg_status nn_prior(vkg_ctx *ctx, int n, int Z, uint32_t seed, float *z) {
  if (n < 1 || Z < 1)
    return vkg__fail(VKG_ERR_ARG, "nn_prior: n and the latent size must be positive (got %d, %d)", n, Z);
  vkg_graph *g;
  vkg_status s = vkg_graph_create(ctx, &g);
  if (s) return s;
  int slot = vkg_scalar(g, "seed"), zs[2] = {n, Z};
  vkg_t r = vkg_random_normal(g, 2, zs, slot, 0, 1);
  vkg_output(g, r);
  s = vkg_graph_compile(g);
  if (!s) s = vkg_graph_set_u32(g, slot, seed);
  if (!s) s = vkg_graph_run(g);
  if (!s) s = vkg_graph_read(g, r, z, (size_t)n * Z);
  vkg_graph_destroy(g);
  return s;
}

// ---- layers' parameters ----

int nn_param_seeded(struct nn_params *p, const char *name, int trainable, int ndim, const int *shape, float bound) {
  if (p->err) return -1;
  vkg_tensor *t = nn_param(p, name, trainable, ndim, shape);
  if (!t) return -1;
  if (p->init)
    p->err = bound > 0 ? nn_init_uniform(t, bound, nn_mix(p->seed, (uint64_t)p->n - 1)) : nn_init_const(t, -bound);
  return p->err ? -1 : p->n - 1;
}

/* NAME.suffix by nn_param_seeded. */
static int layer_param(struct nn_params *p, const char *name, const char *suffix, int trainable, int ndim,
                       const int *shape, float bound) {
  char full[80];
  snprintf(full, sizeof full, "%s.%s", name, suffix);
  return nn_param_seeded(p, full, trainable, ndim, shape, bound);
}

/* A weight of shape ws and an optional bias of `out`, both uniform(+-1/sqrt(fan_in)). */
static struct nn_layer weighted(struct nn_params *p, const char *name, int ndim, const int *ws, int out, int fan_in,
                                int bias) {
  float bound = 1 / sqrtf((float)fan_in);
  struct nn_layer l = {-1, -1, -1, -1};
  int bs[1] = {out};
  l.w = layer_param(p, name, "weight", 1, ndim, ws, bound);
  if (bias) l.b = layer_param(p, name, "bias", 1, 1, bs, bound);
  if (p->err) l.w = l.b = -1;
  return l;
}

struct nn_layer nn_linear_params(struct nn_params *p, const char *name, int in, int out, int bias) {
  int ws[2] = {out, in};
  return weighted(p, name, 2, ws, out, in, bias);
}

struct nn_layer nn_conv2d_params(struct nn_params *p, const char *name, int in, int out, int kh, int kw, int bias) {
  int ws[4] = {out, in, kh, kw};
  return weighted(p, name, 4, ws, out, in * kh * kw, bias);
}

struct nn_layer nn_conv_transpose2d_params(struct nn_params *p, const char *name, int in, int out, int kh, int kw,
                                           int bias) {
  int ws[4] = {in, out, kh, kw};
  return weighted(p, name, 4, ws, out, out * kh * kw, bias);
}

struct nn_layer nn_conv1d_params(struct nn_params *p, const char *name, int in, int out, int k, int bias) {
  int ws[3] = {out, in, k};
  return weighted(p, name, 3, ws, out, in * k, bias);
}

static struct nn_layer norm(struct nn_params *p, const char *name, int c, int running) {
  int cs[1] = {c};
  struct nn_layer l = {-1, -1, -1, -1};
  l.w = layer_param(p, name, "weight", 1, 1, cs, -1);
  l.b = layer_param(p, name, "bias", 1, 1, cs, 0);
  if (running) {
    l.mean = layer_param(p, name, "running_mean", 0, 1, cs, 0);
    l.var = layer_param(p, name, "running_var", 0, 1, cs, -1);
  }
  if (p->err) l = (struct nn_layer){-1, -1, -1, -1};
  return l;
}

struct nn_layer nn_batchnorm_params(struct nn_params *p, const char *name, int c) {
  return norm(p, name, c, 1);
}

struct nn_layer nn_layernorm_params(struct nn_params *p, const char *name, int c) {
  return norm(p, name, c, 0);
}

struct nn_layer nn_embedding_params(struct nn_params *p, const char *name, int n, int dim) {
  int ws[2] = {n, dim};
  struct nn_layer l = {-1, -1, -1, -1};
  l.w = layer_param(p, name, "weight", 1, 2, ws, sqrtf(3.0f));
  return l;
}
