/* The DCGAN family (see gan.h for the architecture and the losses).
 * Shape letters: B batch, Z latent size, E class-embedding size, C channels, S image side,
 * H W height width, F the discriminator's flattened features. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "nn/data.h"
#include "models/gan.h"
#include "nn/weights.h"

#define MAX_STAGES 4
#define SAMPLE_BATCH 256

/* The stage plan and every layer's parameters (indices into the params, and so into a graph's ids;
 * n stages, E = embed, F = dc[n-1] * s0 * s0, C channels). */
struct layout {
  int stages, s0;                     /* n up/down-sampling stages; the side of the smallest feature map */
  int gc[MAX_STAGES], dc[MAX_STAGES]; /* channels of G's and D's feature maps per stage */
  struct nn_layer g_embed;            /* (classes, E), conditional models */
  struct nn_layer g_fc;               /* w (gc[0] * s0 * s0, z + E), no bias (a batchnorm follows) */
  struct nn_layer g_bn[MAX_STAGES];   /* (gc[i]) */
  struct nn_layer g_up[MAX_STAGES];   /* i >= 1: w (gc[i-1], gc[i], 4, 4), transposed, no bias */
  struct nn_layer g_out;              /* w (gc[n-1], C, 4, 4) transposed, b (C) */
  struct nn_layer d_conv[MAX_STAGES]; /* w (dc[i], dc[i-1] or C, 4, 4); b (dc[0]) for i = 0 only */
  struct nn_layer d_bn[MAX_STAGES];   /* i >= 1: (dc[i]) */
  struct nn_layer d_fc;               /* w (1, F), b (1) */
  struct nn_layer d_embed;            /* (classes, F): the projection, conditional models */
};

struct gan {
  struct nn_model m;
  struct gan_arch a;
  struct layout L;
  struct vkg_images data; /* [0, 1], at the data's own size */
  vkg_t x[2], y[2];       /* streamed inputs of each phase's training graph (VKG_NONE if unused) */
  float *xbuf;            /* (B, C, S, S) staging, in [-1, 1] */
  int32_t *ybuf;          /* (B) */
  struct gan_sampler *sampler;
};

enum { PHASE_D, PHASE_G };
enum { GROUP_D = 0, GROUP_G = 1 };

struct gan_sampler {
  struct nn_model *m;
  vkg_graph *g;
  int batch;
  vkg_t z, y, img;
  float *zbuf, *ibuf;
  int32_t *ybuf;
};

// ---- architecture ----

/* The architecture table: the weights' JSON config, its checks, and the CLI's architecture options. */
static vkg_status check_arch(const void *cfg) {
  const struct gan_arch *a = cfg;
  if (a->classes > 0 && a->embed < 1)
    return vkg__fail(VKG_ERR_ARG, "gan config: a conditional model needs a class embedding (embed >= 1), got %d",
                     a->embed);
  return VKG_OK;
}
#define F(...) NN_CFG_INT_F(struct gan_arch, __VA_ARGS__)
static const struct nn_cfg_field gan_fields[] = {
    F(size, 28, 28, 64, "28,32,64", "image side in pixels"),
    F(channels, 1, 1, 3, "1,3", "1 (gray) or 3 (RGB)"),
    F(z, 64, 1, 4096, NULL, "latent size"),
    F(width, 8, 1, 1024, NULL, "base channel count w; G starts at w*2^n channels"),
    {.key = "classes",
     .type = NN_CFG_INT,
     .offset = offsetof(struct gan_arch, classes),
     .size = sizeof(int),
     .lo = 0,
     .hi = 1000,
     .help = "condition G and D on the 10 Fashion-MNIST classes",
     .flags = NN_CFG_FLAG,
     .flag_value = 10,
     .opt = "conditional"},
    F(embed, 16, 0, 4096, NULL, "G's class-embedding size (conditional models)"),
};
#undef F
const struct nn_cfg gan_cfg = {"gan", gan_fields, sizeof gan_fields / sizeof gan_fields[0], sizeof(struct gan_arch),
                               check_arch};

struct gan_arch gan_arch_default(void) {
  struct gan_arch a = {0};
  nn_cfg_defaults(&gan_cfg, &a);
  return a;
}

const struct gan_arch *gan_arch_of(const struct nn_model *m) { return &((const struct gan *)m->self)->a; }

// ---- parameters ----

/* Host N(mean, std) from a seed (Box-Muller on splitmix64 pairs), reproducible on every machine. */
static vkg_status init_normal(vkg_tensor *t, float mean, float std, uint64_t seed) {
  size_t n = vkg_tensor_numel(t);
  float *v = malloc(n * sizeof *v + 1);
  if (!v) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (size_t i = 0; i < n; i++) {
    double u1 = ((double)(nn_mix(seed, 2 * i) >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0, 1] */
    double u2 = (double)(nn_mix(seed, 2 * i + 1) >> 11) * (1.0 / 9007199254740992.0);
    v[i] = (float)(mean + std * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
  }
  vkg_status s = vkg_tensor_upload_f32(t, v, n);
  free(v);
  return s;
}

/* DCGAN's initialization, by the parameter's name: running variances 1, biases and running means 0,
 * batchnorm scales N(1, 0.02), G's class embedding N(0, 1), every other weight N(0, 0.02); tensor i
 * from nn_mix(seed, i + 1). */
static vkg_status init_dcgan(struct nn_params *p, uint64_t seed) {
  vkg_status s = VKG_OK;
  for (int i = 0; i < p->n && !s; i++) {
    const char *name = p->names[i], *dot = strrchr(name, '.');
    uint64_t si = nn_mix(seed, (uint64_t)i + 1);
    if (!strcmp(dot, ".running_var"))
      s = nn_init_const(p->t[i], 1);
    else if (!strcmp(dot, ".running_mean") || !strcmp(dot, ".bias"))
      s = nn_init_const(p->t[i], 0);
    else if (strstr(name, ".bn"))
      s = init_normal(p->t[i], 1, 0.02f, si);
    else
      s = init_normal(p->t[i], 0, !strcmp(name, "g.embed.weight") ? 1 : 0.02f, si);
  }
  return s;
}

/* The stage plan of an image size, then every parameter in a fixed order: D's (group 0), then G's
 * (group 1); initialized as in DCGAN when asked. */
static vkg_status make_params(struct gan *gn, int initialize, uint64_t seed) {
  const struct gan_arch *a = &gn->a;
  struct layout *L = &gn->L;
  memset(L, -1, sizeof *L);
  L->stages = a->size == 28 ? 2 : a->size == 32 ? 3 : 4;
  L->s0 = a->size >> L->stages;
  int n = L->stages, w = a->width, s0 = L->s0;
  for (int i = 0; i < n; i++) {
    L->gc[i] = w << (n - i);
    L->dc[i] = w << i;
  }
  struct nn_params *p = &gn->m.params;
  char name[64];

  // ---- discriminator ----
  nn_params_set_group(p, GROUP_D);
  int F = L->dc[n - 1] * s0 * s0;
  for (int i = 0; i < n; i++) {
    snprintf(name, sizeof name, "d.conv%d", i);
    /* Only the first layer keeps its bias: a batchnorm follows every other. */
    L->d_conv[i] = nn_conv2d_params(p, name, i ? L->dc[i - 1] : a->channels, L->dc[i], 4, 4, i == 0);
    snprintf(name, sizeof name, "d.bn%d", i);
    if (i) L->d_bn[i] = nn_batchnorm_params(p, name, L->dc[i]);
  }
  L->d_fc = nn_linear_params(p, "d.fc", F, 1, 1);
  if (a->classes) L->d_embed = nn_embedding_params(p, "d.embed", a->classes, F);

  // ---- generator ----
  nn_params_set_group(p, GROUP_G);
  if (a->classes) L->g_embed = nn_embedding_params(p, "g.embed", a->classes, a->embed);
  L->g_fc = nn_linear_params(p, "g.fc", a->z + (a->classes ? a->embed : 0), L->gc[0] * s0 * s0, 0);
  L->g_bn[0] = nn_batchnorm_params(p, "g.bn0", L->gc[0]);
  for (int i = 1; i < n; i++) {
    snprintf(name, sizeof name, "g.up%d", i);
    L->g_up[i] = nn_conv_transpose2d_params(p, name, L->gc[i - 1], L->gc[i], 4, 4, 0);
    snprintf(name, sizeof name, "g.bn%d", i);
    L->g_bn[i] = nn_batchnorm_params(p, name, L->gc[i]);
  }
  L->g_out = nn_conv_transpose2d_params(p, "g.out", L->gc[n - 1], a->channels, 4, 4, 1);
  nn_params_set_group(p, 0);
  return p->err ? p->err : initialize ? init_dcgan(p, seed) : VKG_OK;
}

// ---- forward ----

static vkg_t batchnorm(vkg_graph *g, const vkg_t *p, const struct nn_layer *l, vkg_t x, enum gan_mode mode) {
  /* Inference reads the running statistics; training updates them only when asked. */
  int stats = mode != GAN_TRAIN;
  return vkg_batchnorm(g, x, p[l->w], p[l->b], stats ? p[l->mean] : VKG_NONE, stats ? p[l->var] : VKG_NONE, 0.1f, 1e-5f,
                       mode != GAN_INFER);
}

/* k4 s2 p1: doubles (transposed) or halves (strided) the side. */
static struct vkg_conv2d_desc k4s2p1(void) {
  struct vkg_conv2d_desc d = vkg_conv2d_desc_default();
  d.stride_h = d.stride_w = 2;
  d.pad_h = d.pad_w = 1;
  return d;
}

vkg_t gan_generator(struct nn_model *m, vkg_graph *g, const vkg_t *p, vkg_t z, vkg_t labels, enum gan_mode mode) {
  const struct gan *gn = m->self;
  const struct layout *L = &gn->L;
  int B = vkg_dim(g, z, 0), s0 = L->s0;
  struct vkg_conv2d_desc d = k4s2p1();
  vkg_t in = z; // (B, Z)
  if (gn->a.classes) {
    vkg_t parts[2] = {z, vkg_embedding(g, p[L->g_embed.w], labels)}; // (B, E)
    in = vkg_concat(g, 2, parts, 1);                                 // (B, Z + E)
  }
  int fm[4] = {B, L->gc[0], s0, s0};
  vkg_t h = vkg_reshape(g, nn_linear(g, in, p[L->g_fc.w], VKG_NONE), 4, fm); // (B, gc0, s0, s0)
  h = vkg_unary(g, VKG_RELU, batchnorm(g, p, &L->g_bn[0], h, mode), 0, 0);
  for (int i = 1; i < L->stages; i++) {
    h = vkg_conv_transpose2d(g, h, p[L->g_up[i].w], VKG_NONE, &d); // (B, gc[i], s0 2^i, s0 2^i)
    h = vkg_unary(g, VKG_RELU, batchnorm(g, p, &L->g_bn[i], h, mode), 0, 0);
  }
  h = vkg_conv_transpose2d(g, h, p[L->g_out.w], p[L->g_out.b], &d); // (B, C, S, S)
  return vkg_unary(g, VKG_TANH, h, 0, 0);
}

vkg_t gan_discriminator(struct nn_model *m, vkg_graph *g, const vkg_t *p, vkg_t x, vkg_t labels, enum gan_mode mode) {
  const struct gan *gn = m->self;
  const struct layout *L = &gn->L;
  struct vkg_conv2d_desc d = k4s2p1();
  vkg_t h = x; // (B, C, S, S)
  for (int i = 0; i < L->stages; i++) {
    vkg_t b = L->d_conv[i].b < 0 ? VKG_NONE : p[L->d_conv[i].b];
    h = vkg_conv2d(g, h, p[L->d_conv[i].w], b, &d); // (B, dc[i], S / 2^(i+1), ...)
    if (i) h = batchnorm(g, p, &L->d_bn[i], h, mode);
    h = vkg_unary(g, VKG_LEAKY_RELU, h, 0.2f, 0);
  }
  int flat[2] = {vkg_dim(g, x, 0), L->dc[L->stages - 1] * L->s0 * L->s0};
  h = vkg_reshape(g, h, 2, flat);                            // (B, F)
  vkg_t logit = nn_linear(g, h, p[L->d_fc.w], p[L->d_fc.b]); // (B, 1)
  if (gn->a.classes) {
    /* Projection: the class embedding's inner product with the features adds to the logit. */
    vkg_t e = vkg_embedding(g, p[L->d_embed.w], labels);                            // (B, F)
    vkg_t proj = vkg_reduce(g, VKG_REDUCE_SUM, vkg_binary(g, VKG_MUL, e, h), 1, 1); // (B, 1)
    logit = vkg_binary(g, VKG_ADD, logit, proj);
  }
  return logit;
}

// ---- training ----

static vkg_t build_loss(struct nn_model *m, vkg_graph *g, const vkg_t *ids, int phase) {
  struct gan *gn = m->self;
  const struct gan_arch *a = &gn->a;
  int B = m->batch, xs[4] = {B, a->channels, a->size, a->size}, ys[1] = {B}, zs[2] = {B, a->z}, ls[2] = {B, 1};
  vkg_t y = a->classes ? vkg_input_streamed(g, "labels", VKG_I32, 1, ys) : VKG_NONE;
  gn->y[phase] = y;
  gn->x[phase] = VKG_NONE;
  /* Fakes are conditioned on the batch's own labels, so every class is drawn as often as it occurs. */
  vkg_t z = vkg_random_normal(g, 2, zs, vkg_scalar(g, "seed"), 0, 1); // (B, Z)
  if (phase == PHASE_D) {
    gn->x[phase] = vkg_input_streamed(g, "images", VKG_F32, 4, xs);
    /* G is frozen here (its params have no requires_grad), so no gradient flows into it; its
     * running statistics are updated only in the G phase. */
    vkg_t fake = gan_generator(m, g, ids, z, y, GAN_TRAIN);
    vkg_t real_logits = gan_discriminator(m, g, ids, gn->x[phase], y, GAN_TRAIN_UPDATE);
    vkg_t fake_logits = gan_discriminator(m, g, ids, fake, y, GAN_TRAIN);
    return vkg_binary(g, VKG_ADD, vkg_bce_logits_loss(g, real_logits, vkg_full(g, 2, ls, 1.0f)),
                      vkg_bce_logits_loss(g, fake_logits, vkg_full(g, 2, ls, 0.0f)));
  }
  /* Non-saturating: G maximizes log D(G(z)) instead of minimizing log(1 - D(G(z))). */
  vkg_t fake = gan_generator(m, g, ids, z, y, GAN_TRAIN_UPDATE);
  return vkg_bce_logits_loss(g, gan_discriminator(m, g, ids, fake, y, GAN_TRAIN), vkg_full(g, 2, ls, 1.0f));
}

/* Copies image k of the data into dst (C, S, S) in [-1, 1]: a smaller image is scaled up by the
 * largest whole factor that fits (nearest neighbour) and centred on a black border; gray is replicated
 * into 3 channels. */
static void place_image(const struct gan *gn, size_t k, float *dst) {
  const struct vkg_images *im = &gn->data;
  int S = gn->a.size, C = gn->a.channels, f = S / im->h, pad = (S - f * im->h) / 2;
  for (int c = 0; c < C; c++) {
    const float *src = im->pixels + ((size_t)k * im->c + (im->c == C ? c : 0)) * im->h * im->w;
    float *out = dst + (size_t)c * S * S;
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        int sy = y - pad, sx = x - pad;
        int inside = sy >= 0 && sx >= 0 && sy < f * im->h && sx < f * im->w;
        out[y * S + x] = inside ? 2.0f * src[(sy / f) * im->w + sx / f] - 1.0f : -1.0f;
      }
  }
}

static vkg_status write_batch(struct nn_model *m, vkg_graph *g, int phase, const uint32_t *idx) {
  struct gan *gn = m->self;
  size_t img = (size_t)gn->a.channels * gn->a.size * gn->a.size;
  vkg_status s = VKG_OK;
  if (gn->x[phase] != VKG_NONE) {
    for (int i = 0; i < m->batch; i++)
      place_image(gn, idx[i], gn->xbuf + (size_t)i * img);
    s = vkg_graph_write(g, gn->x[phase], gn->xbuf, (size_t)m->batch * img);
  }
  if (!s && gn->y[phase] != VKG_NONE) {
    for (int i = 0; i < m->batch; i++)
      gn->ybuf[i] = gn->data.labels[idx[i]];
    s = vkg_graph_write_i32(g, gn->y[phase], gn->ybuf, (size_t)m->batch);
  }
  return s;
}

// ---- construction ----

static struct gan *new_gan(vkg_ctx *ctx, const struct gan_arch *a) {
  struct gan *gn = calloc(1, sizeof *gn);
  if (!gn) return NULL;
  gn->a = *a;
  if (!gn->a.classes) gn->a.embed = 0; /* unused: written as 0 */
  nn_params_init(&gn->m.params, ctx);
  gn->m.name = "gan";
  gn->m.self = gn;
  gn->m.nphases = 2;
  gn->m.phases[PHASE_D] = (struct nn_phase){"d", GROUP_D};
  gn->m.phases[PHASE_G] = (struct nn_phase){"g", GROUP_G};
  gn->m.build_loss = build_loss;
  gn->m.write_batch = write_batch;
  gn->x[0] = gn->x[1] = gn->y[0] = gn->y[1] = VKG_NONE;
  nn_cfg_json(&gan_cfg, &gn->a, gn->m.config, sizeof gn->m.config);
  return gn;
}

/* Fashion-MNIST if dir is NULL or holds its IDX files, else a folder of images at the model's size
 * (all of it for training), or random images for benchmarks. */
static vkg_status load_data(struct gan *gn, const struct nn_create_opts *o) {
  const struct gan_arch *a = &gn->a;
  if (a->classes && o->synthetic <= 0 && !nn_data_is_fashion(o->data_dir)) {
    vkg__fail(VKG_ERR_ARG, "a conditional GAN needs labelled data, and the images of '%s' have no labels", o->data_dir);
    vkg__hint("train a conditional model on Fashion-MNIST (no --data), or drop --conditional");
    return VKG_ERR_ARG;
  }
  vkg_status s = nn_image_data_load(o->data_dir, a->size, a->channels, o->synthetic, o->seed, &gn->data, NULL);
  for (int i = 0; !s && o->synthetic > 0 && a->classes && i < gn->data.n; i++)
    gn->data.labels[i] = (uint8_t)(i % a->classes);
  if (s) return s;
  const struct vkg_images *im = &gn->data;
  if (im->h != im->w || im->h > a->size || (im->c != 1 && im->c != a->channels)) {
    vkg__fail(VKG_ERR_ARG, "images of %dx%dx%d do not fit a %d-pixel model of %d channel%s", im->c, im->h, im->w,
              a->size, a->channels, a->channels == 1 ? "" : "s");
    vkg__hint("choose --size and --channels to match the data");
    return VKG_ERR_ARG;
  }
  if (a->classes) {
    for (int i = 0; i < im->n && im->labels; i++)
      if (im->labels[i] >= a->classes) {
        vkg__fail(VKG_ERR_ARG, "image %d has label %d, but the model has %d classes", i, im->labels[i], a->classes);
        return VKG_ERR_ARG;
      }
    if (!im->labels) return vkg__fail(VKG_ERR_ARG, "a conditional GAN needs labelled data");
  }
  return VKG_OK;
}

vkg_status gan_create(vkg_ctx *ctx, const void *cfg, const struct nn_create_opts *o, struct nn_model **out) {
  const struct gan_arch *arch = cfg;
  *out = NULL;
  vkg_status s = nn_cfg_check(&gan_cfg, arch);
  if (s) return s;
  if (o->batch < 2)
    return vkg__fail(VKG_ERR_ARG, "gan: a batch of %d is too small (batchnorm needs at least 2)", o->batch);
  struct gan *gn = new_gan(ctx, arch);
  if (!gn) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  struct nn_model *m = &gn->m;
  m->batch = o->batch;
  s = load_data(gn, o);
  if (!s) {
    m->n_train = o->limit > 0 && o->limit < (size_t)gn->data.n ? o->limit : (size_t)gn->data.n;
    gn->xbuf = malloc(sizeof *gn->xbuf * (size_t)o->batch * arch->channels * arch->size * arch->size);
    gn->ybuf = malloc(sizeof *gn->ybuf * (size_t)o->batch);
    if (!gn->xbuf || !gn->ybuf) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  }
  if (!s && o->expect) nn_params_expect(&m->params, o->expect, o->expect_path);
  if (!s) s = make_params(gn, !o->expect, o->seed);
  if (s) {
    gan_destroy(m);
    return s;
  }
  *out = m;
  return VKG_OK;
}

vkg_status gan_load(vkg_ctx *ctx, const char *weights, struct nn_model **out) {
  *out = NULL;
  vkg_st *st;
  struct gan_arch a;
  vkg_status s = nn_weights_open(weights, "gan", &gan_cfg, &a, &st);
  if (s) return s;
  struct gan *gn = new_gan(ctx, &a);
  if (!gn) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  if (!s) {
    nn_params_expect(&gn->m.params, st, weights);
    s = make_params(gn, 0, 0);
  }
  if (!s) s = nn_weights_load(&gn->m.params, st, weights);
  vkg_st_close(st);
  if (s) {
    if (gn) gan_destroy(&gn->m);
    return s;
  }
  gn->m.batch = 1;
  *out = &gn->m;
  return VKG_OK;
}

vkg_status gan_save(struct nn_model *m, const char *path) {
  return nn_weights_save(path, "gan", &gan_cfg, gan_arch_of(m), &m->params);
}

void gan_destroy(struct nn_model *m) {
  if (!m) return;
  struct gan *gn = m->self;
  gan_sampler_destroy(gn->sampler);
  nn_params_free(&m->params);
  vkg_images_free(&gn->data);
  free(gn->xbuf);
  free(gn->ybuf);
  free(gn);
}

// ---- sampling ----

vkg_status gan_sampler_create(struct nn_model *m, int batch, struct gan_sampler **out) {
  *out = NULL;
  const struct gan *gn = m->self;
  const struct gan_arch *a = &gn->a;
  if (batch < 1) return vkg__fail(VKG_ERR_ARG, "gan sampler: batch %d, expected at least 1", batch);
  struct gan_sampler *sp = calloc(1, sizeof *sp);
  if (!sp) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  sp->m = m;
  sp->batch = batch;
  size_t img = (size_t)a->channels * a->size * a->size;
  sp->zbuf = calloc((size_t)batch * a->z, sizeof *sp->zbuf);
  sp->ybuf = calloc((size_t)batch, sizeof *sp->ybuf);
  sp->ibuf = malloc(sizeof *sp->ibuf * (size_t)batch * img);
  vkg_status s = sp->zbuf && sp->ybuf && sp->ibuf
                     ? vkg_graph_create(m->params.ctx, &sp->g)
                     : vkg__fail(VKG_ERR_OOM, "out of host memory for a batch of %d", batch);
  if (!s) {
    vkg_graph *g = sp->g;
    vkg_t *ids = malloc(sizeof *ids * (size_t)m->params.n);
    nn_bind_all(g, &m->params, -1, ids);
    int zs[2] = {batch, a->z}, ys[1] = {batch};
    sp->z = vkg_input_streamed(g, "z", VKG_F32, 2, zs);
    sp->y = a->classes ? vkg_input_streamed(g, "labels", VKG_I32, 1, ys) : VKG_NONE;
    /* tanh's [-1, 1] back to [0, 1] for the PNG. */
    sp->img = vkg_unary(g, VKG_AFFINE, gan_generator(m, g, ids, sp->z, sp->y, GAN_INFER), 0.5f, 0.5f);
    vkg_output(g, sp->img);
    free(ids);
    s = vkg_graph_compile(g);
  }
  if (s) {
    gan_sampler_destroy(sp);
    return s;
  }
  *out = sp;
  return VKG_OK;
}

void gan_sampler_destroy(struct gan_sampler *s) {
  if (!s) return;
  vkg_graph_destroy(s->g);
  free(s->zbuf);
  free(s->ybuf);
  free(s->ibuf);
  free(s);
}

vkg_status gan_sampler_run(struct gan_sampler *sp, const float *z, const int32_t *labels, int n, float *images,
                           double *gpu_ms) {
  const struct gan_arch *a = &((const struct gan *)sp->m->self)->a;
  size_t img = (size_t)a->channels * a->size * a->size, B = (size_t)sp->batch;
  if (a->classes && !labels) return vkg__fail(VKG_ERR_ARG, "a conditional GAN needs a label per sample");
  if (gpu_ms) *gpu_ms = 0;
  vkg_status s = VKG_OK;
  for (size_t start = 0; start < (size_t)n && !s; start += B) {
    size_t k = (size_t)n - start < B ? (size_t)n - start : B;
    /* The last batch is padded with zero latents and label 0; their images are dropped. */
    memcpy(sp->zbuf, z + start * a->z, sizeof *z * k * a->z);
    memset(sp->zbuf + k * a->z, 0, sizeof *z * (B - k) * a->z);
    s = vkg_graph_write(sp->g, sp->z, sp->zbuf, B * a->z);
    if (!s && a->classes) {
      for (size_t i = 0; i < B; i++)
        sp->ybuf[i] = i < k ? labels[start + i] : 0;
      s = vkg_graph_write_i32(sp->g, sp->y, sp->ybuf, B);
    }
    double ms = 0;
    if (!s) s = gpu_ms ? vkg_graph_run_timed(sp->g, &ms) : vkg_graph_run(sp->g);
    if (gpu_ms) *gpu_ms += ms;
    if (!s && k == B)
      s = vkg_graph_read(sp->g, sp->img, images + start * img, B * img);
    else if (!s) {
      s = vkg_graph_read(sp->g, sp->img, sp->ibuf, B * img);
      memcpy(images + start * img, sp->ibuf, sizeof *images * k * img);
    }
  }
  return s;
}

vkg_status gan_generate(struct nn_model *m, const float *z, const int32_t *labels, int n, float *images) {
  struct gan *gn = m->self;
  if (n < 1) return vkg__fail(VKG_ERR_ARG, "gan_generate: n = %d, expected at least 1", n);
  int batch = n < SAMPLE_BATCH ? n : SAMPLE_BATCH;
  if (gn->sampler && gn->sampler->batch != batch) {
    gan_sampler_destroy(gn->sampler);
    gn->sampler = NULL;
  }
  vkg_status s = gn->sampler ? VKG_OK : gan_sampler_create(m, batch, &gn->sampler);
  return s ? s : gan_sampler_run(gn->sampler, z, labels, n, images, NULL);
}

void gan_slerp(const float *a, const float *b, int dim, float t, float *out) {
  double na = 0, nb = 0, dot = 0;
  for (int i = 0; i < dim; i++)
    na += (double)a[i] * a[i], nb += (double)b[i] * b[i], dot += (double)a[i] * b[i];
  double c = na > 0 && nb > 0 ? dot / sqrt(na * nb) : 1.0;
  c = c > 1 ? 1 : c < -1 ? -1 : c;
  double omega = acos(c), so = sin(omega);
  double wa = 1 - t, wb = t;
  if (so > 1e-6) wa = sin((1 - t) * omega) / so, wb = sin(t * omega) / so;
  for (int i = 0; i < dim; i++)
    out[i] = (float)(wa * a[i] + wb * b[i]);
}

static void image_shape(const struct nn_model *m, int *c, int *h, int *w) {
  const struct gan_arch *a = gan_arch_of(m);
  *c = a->channels, *h = *w = a->size;
}

/* n images from the prior drawn from seed; a conditional model's image i is of class i mod classes. */
static vkg_status sample_images(struct nn_model *m, int n, uint32_t seed, float *images) {
  const struct gan_arch *a = gan_arch_of(m);
  float *z = malloc(sizeof *z * (size_t)n * a->z);
  int32_t *y = a->classes ? malloc(sizeof *y * (size_t)n) : NULL;
  vkg_status s = z && (y || !a->classes) ? nn_prior(m->params.ctx, n, a->z, seed, z)
                                         : vkg__fail(VKG_ERR_OOM, "out of host memory for %d latents", n);
  for (int i = 0; y && i < n; i++)
    y[i] = i % a->classes;
  if (!s) s = gan_generate(m, z, y, n, images);
  free(z), free(y);
  return s;
}

/* A conditional model's grid has a column per class. */
static int grid_cols(const struct nn_model *m) { return gan_arch_of(m)->classes; }

const struct nn_family_ops gan_ops = {
    .create = gan_create,
    .destroy = gan_destroy,
    .image_shape = image_shape,
    .sample_images = sample_images,
    .grid_cols = grid_cols,
    .about = "Trains a DCGAN on Fashion-MNIST (or on a folder of images with --data DIR; 28-pixel Fashion-MNIST\n"
             "is padded to 32 or scaled 2x and padded to 64): the discriminator's step (real vs generated),\n"
             "then the generator's (non-saturating loss), for every batch; metrics.jsonl has loss_d and loss_g.\n"
             "--conditional conditions both on the Fashion-MNIST classes. batchnorm needs --batch 2 or more."};
