/* A DCGAN-style GAN (Radford et al. 2015) for 28x28 Fashion-MNIST, or 32/64-pixel images of 1 or 3
 * channels from a folder.
 *
 * Generator: z (B, Z) [+ a class embedding] -> linear -> (B, w*2^n, s0, s0), batchnorm, ReLU, then n-1
 * transposed convolutions (k4 s2 p1, channels halving, batchnorm, ReLU) and a last one to the image
 * channels with tanh: images in [-1, 1]. n = 2 stages from 7x7 for 28 px, 3 from 4x4 for 32 px and 4
 * from 4x4 for 64 px.
 * Discriminator: n strided convolutions (k4 s2 p1, channels w, 2w, 4w, ...) with LeakyReLU 0.2 and
 * batchnorm on all but the first, then linear -> one logit. Conditional models add the projection
 * term <embed(y), features> to the logit (Miyato & Koyama 2018).
 *
 * Training (the shared loop, two phases per batch): "d" minimizes BCE(D(x), 1) + BCE(D(G(z)), 0)
 * over D's parameters (group 0; G is frozen there), then "g" minimizes the non-saturating BCE(D(G(z)), 1)
 * over G's (group 1). Parameters are named "g.*" and "d.*". */
#ifndef VKGEN_GAN_H
#define VKGEN_GAN_H
#include "nn/config.h"
#include "nn/train.h"

/* The architecture; saved as the JSON config of weights files. */
struct gan_arch {
  int size;     /* image side: 28, 32 or 64 */
  int channels; /* 1 or 3 */
  int z;        /* latent size */
  int width;    /* base channel count w */
  int classes;  /* > 0: conditioned on labels 0..classes-1 */
  int embed;    /* size of the generator's class embedding (conditional models) */
};
/* Its table (nn/config.h): JSON config, checks, options and help. */
extern const struct nn_cfg gan_cfg;
struct gan_arch gan_arch_default(void); /* 28 px, 1 channel, z 64, width 8, unconditional */

struct gan_opts {
  struct gan_arch arch;
  int batch;
  const char *data_dir; /* NULL: Fashion-MNIST from the Debian package; a directory holding Fashion-MNIST's
                           IDX files; else a folder of images (vkg_image_folder_load) */
  size_t limit;         /* > 0: only the first `limit` training images */
  uint64_t seed;        /* initialization */
  int synthetic;        /* > 0: this many random images (and labels) instead of a dataset (benchmarks) */
  const vkg_st *expect; /* check the parameters against this file as they are made (nn_params_expect) */
  const char *expect_path;
};
struct gan_opts gan_opts_default(void);

/* A model ready for the training loop: loads the data (28-px Fashion-MNIST is padded to 32 or scaled 2x
 * and padded to 64; gray is replicated for 3 channels), makes and initializes the parameters (DCGAN's
 * N(0, 0.02) weights, batchnorm scales N(1, 0.02), zero biases). */
vkg_status gan_create(vkg_ctx *ctx, const struct gan_opts *o, struct nn_model **out);
/* Its model hooks for the family table (create from a config and nn_create_opts, destroy). */
extern const struct nn_family_ops gan_ops;
/* A model from a weights file or training checkpoint of the 'gan' model (no data: sampling only). Errors
 * name the file: another model, a missing or bad config, missing tensors or shape mismatches. */
vkg_status gan_load(vkg_ctx *ctx, const char *weights, struct nn_model **out);
/* Writes the parameters as a weights file like the training loop's (metadata format/model/config). */
vkg_status gan_save(struct nn_model *m, const char *path);
void gan_destroy(struct nn_model *m);
const struct gan_arch *gan_arch_of(const struct nn_model *m);

// ---- the networks, on any graph (ids: every parameter bound in g, in params order) ----

enum gan_mode {
  GAN_INFER,        /* batchnorm with the running statistics */
  GAN_TRAIN,        /* batch statistics; running statistics left alone */
  GAN_TRAIN_UPDATE, /* batch statistics, and the running statistics updated */
};
/* z (B, Z) and labels i32 (B) (VKG_NONE if unconditional) -> images (B, C, S, S) in [-1, 1]. */
vkg_t gan_generator(struct nn_model *m, vkg_graph *g, const vkg_t *ids, vkg_t z, vkg_t labels, enum gan_mode mode);
/* images (B, C, S, S) and labels -> logits (B, 1). */
vkg_t gan_discriminator(struct nn_model *m, vkg_graph *g, const vkg_t *ids, vkg_t x, vkg_t labels, enum gan_mode mode);

// ---- sampling ----

/* The generator in inference mode as one compiled graph of a fixed batch: latents in, images out. */
struct gan_sampler;
vkg_status gan_sampler_create(struct nn_model *m, int batch, struct gan_sampler **out);
void gan_sampler_destroy(struct gan_sampler *s);
/* n images (n, C, S, S) in [0, 1] from z (n, Z) and labels (n) (NULL if unconditional), in batches
 * (the last one padded). *gpu_ms (may be NULL) gets the summed GPU time of the runs. */
vkg_status gan_sampler_run(struct gan_sampler *s, const float *z, const int32_t *labels, int n, float *images,
                           double *gpu_ms);
/* The same through a sampler of batch min(n, 256) kept in the model. */
vkg_status gan_generate(struct nn_model *m, const float *z, const int32_t *labels, int n, float *images);

/* Spherical interpolation between a and b (dim values) at t in [0, 1]; linear when they are
 * (anti)parallel. */
void gan_slerp(const float *a, const float *b, int dim, float t, float *out);
#endif
