/* The convolutional VAE: an encoder q(z|x) = N(mu, exp(logvar)), a decoder p(x|z) with a Bernoulli
 * likelihood on every pixel, trained by minimizing the negative ELBO in nats per image:
 *   -ELBO(x) = sum over pixels of BCE(decode(z), x) + KL(q(z|x) || N(0, I)),  z = mu + exp(logvar/2) eps.
 * Architecture (S the image size, a multiple of 4; c channels; w width; Z latent size):
 *   encoder: conv c->w k4 s2 p1, ReLU, conv w->2w k4 s2 p1, ReLU, linear 2w*(S/4)^2 -> 2Z (mu, logvar)
 *   decoder: linear Z -> 2w*(S/4)^2, ReLU, convT 2w->w k4 s2 p1, ReLU, convT w->c k4 s2 p1 (logits)
 * Shape letters: B batch, C channels (c), S image size, Z latent size, K samples per image. */
#ifndef VKGEN_VAE_H
#define VKGEN_VAE_H
#include "nn/config.h"
#include "nn/train.h"

struct vae_config {
  int z, w;           /* latent size, width of the first convolution (the second has 2w) */
  int size, channels; /* images (channels, size, size): size 28, 32 or 64 (any multiple of 4 works) */
};
/* Its table (nn/config.h): the JSON config of weights files ({"z": 16, "w": 16, "size": 28,
 * "channels": 1}), checks, options and help. */
extern const struct nn_cfg vae_cfg;
struct vae_config vae_config_default(void); /* z 16, w 16, 28x28 grey (Fashion-MNIST) */

/* Parameters in this order (ids of nn_bind_all index them). */
enum vae_param {
  VAE_E1_W,
  VAE_E1_B,
  VAE_E2_W,
  VAE_E2_B,
  VAE_EFC_W,
  VAE_EFC_B,
  VAE_DFC_W,
  VAE_DFC_B,
  VAE_D1_W,
  VAE_D1_B,
  VAE_D2_W,
  VAE_D2_B,
  VAE_NPARAM
};
/* Makes the parameters in p (an empty set from nn_params_init) with the layer helpers: PyTorch's
 * default initialization from seed, in the order of enum vae_param. */
vkg_status vae_params_create(struct nn_params *p, const struct vae_config *c, uint64_t seed);

// ---- graph pieces (p: the parameters bound in g, in vae_param order) ----

/* x (B, C, S, S) -> mu, logvar (B, Z). */
void vae_encode(vkg_graph *g, const struct vae_config *c, const vkg_t *p, vkg_t x, vkg_t *mu, vkg_t *logvar);
/* z (N, Z) -> logits (N, C, S, S). */
vkg_t vae_decode(vkg_graph *g, const struct vae_config *c, const vkg_t *p, vkg_t z);
/* The training loss: the negative ELBO in nats per image, averaged over the batch, with the noise eps
 * (B, Z) given (the model draws it with vkg_random_normal; a test can feed its own). *rec and *kl (may
 * be NULL) get its two parts, also per image: the Bernoulli reconstruction term and the KL. */
vkg_t vae_neg_elbo(vkg_graph *g, const struct vae_config *c, const vkg_t *p, vkg_t x, vkg_t eps, vkg_t *rec, vkg_t *kl);

// ---- data ----

/* The training and test images for a config: Fashion-MNIST (dir NULL, or a directory holding its IDX
 * files; needs size 28 and 1 channel), else the image folder dir resized to the config's size and
 * channels, every 10th image held out as the test set (nn_image_data_load); synthetic > 0: that many
 * random images. train may be NULL. */
vkg_status vae_data_load(const char *dir, const struct vae_config *c, int synthetic, struct vkg_images *train,
                         struct vkg_images *test);

// ---- training (nn_model for the shared loop) ----

/* Loads the data, makes and initializes the parameters. The loop's loss is the negative ELBO (nats per
 * image); after each epoch val_loss is the negative ELBO on (up to 1000) test images with fixed noise,
 * plus val_rec_bce and val_kl. */
vkg_status vae_create(vkg_ctx *ctx, const void *cfg /* struct vae_config */, const struct nn_create_opts *o,
                      struct nn_model **out);
/* Its model hooks for the family table (vae_create, vae_destroy, the image shape, vae_sample). */
extern const struct nn_family_ops vae_ops;
void vae_destroy(struct nn_model *m);
/* The model's test images (Fashion-MNIST's test split or the held-out tenth of a folder). */
const struct vkg_images *vae_test_images(const struct nn_model *m);
const struct vae_config *vae_model_config(const struct nn_model *m); /* its architecture */

// ---- a trained model ----

/* Loads a weights file (or training checkpoint) of a vae model: the architecture comes from its
 * config; errors name the file (another family's weights, a missing tensor, a shape mismatch). p is
 * initialized here; free it with nn_params_free. */
vkg_status vae_load(vkg_ctx *ctx, const char *path, struct vae_config *c, struct nn_params *p);
/* Writes p as a weights file (format vkgen-weights, model vae, config). */
vkg_status vae_save(const char *path, const struct vae_config *c, const struct nn_params *p);

/* n images (n, C, S, S) in [0, 1]: sigmoid(decode(z)), z ~ N(0, I) drawn on the GPU from seed. The
 * same seed gives the same images; a larger n keeps the first images of a smaller one. */
vkg_status vae_sample(const struct vae_config *c, const struct nn_params *p, int n, uint32_t seed, float *out);
/* (The prior z ~ N(0, I) of vae_sample for n <= 256 is nn_prior, nn/nn.h.) */
/* mu (n, Z) of images x (n, C, S, S). */
vkg_status vae_encode_mu(const struct vae_config *c, const struct nn_params *p, const float *x, int n, float *mu);
/* sigmoid(decode(z)) (n, C, S, S) of z (n, Z). */
vkg_status vae_decode_z(const struct vae_config *c, const struct nn_params *p, const float *z, int n, float *out);

/* Test-set measures, per image in nats unless said otherwise. */
struct vae_eval {
  int n, samples;  /* images, noise samples per image for the ELBO */
  double rec_bce;  /* Bernoulli NLL of x under decode(mu), summed over pixels */
  double mse;      /* mean squared error per pixel of sigmoid(decode(mu)) */
  double kl;       /* KL(q(z|x) || N(0, I)) */
  double rec_z;    /* Bernoulli NLL under decode(z), z ~ q(z|x), averaged over the samples */
  double neg_elbo; /* rec_z + kl */
  double iw_nll;   /* -log mean_k p(x|z_k) p(z_k) / q(z_k|x) over the K samples: the importance-weighted
                      bound (IWAE) on -log p(x), tighter than -ELBO as K grows; a single-sample -ELBO
                      estimate for K = 1 */
};
/* Measures the first n images of im (n <= im->n) with `samples` (>= 1) draws of z per image from seed;
 * progress: show progress on stderr when it takes more than 2 s (nn/progress.h). */
vkg_status vae_evaluate(const struct vae_config *c, const struct nn_params *p, const struct vkg_images *im, int n,
                        int samples, uint32_t seed, struct vae_eval *out, int progress);
#endif
