/* The normalizing flow: Glow (Kingma and Dhariwal 2018) with RealNVP's multi-scale architecture (Dinh
 * et al. 2017). An invertible map f takes a dequantized image y to latents eps with a tractable
 * Jacobian, so the likelihood is exact:
 *
 *   log p(y) = log N(eps; 0, I) + log|det df/dy|    (the priors' scales are part of the log-det)
 *
 * and sampling is the inverse pass from eps ~ N(0, T^2 I).
 *
 *   y = (k + u) / 256, k the 8-bit pixel, u ~ U[0, 1)^D     uniform dequantization
 *   preprocess: y - 0.5 ("centered") or logit(a + (1 - 2a) y) ("logit"), with its log-det
 *   for each level l < L:
 *     squeeze (C, H, W) -> (4C, H/2, W/2)
 *     K steps of: actnorm -> invertible 1x1 convolution (LU) -> affine coupling
 *     split (l < L-1): half the channels leave as z_l ~ N(mu(rest), exp(logs(rest))), the rest go on
 *   top: z_L ~ N(mu, exp(logs)), mu and logs learned per position (zero at the start)
 *
 * Every latent is returned standardized: eps = (z - mu) exp(-logs), so -sum(logs) joins the log-det
 * and one (B, D) vector eps describes an image exactly (the inverse pass reads the same vector).
 * The discrete log-likelihood is bounded by the dequantized one (Jensen; Theorem 1 of Ho et al. 2019):
 *   -log P(k) <= -log p(y) + D log 256,  bits/dim = that / (D ln 2).
 * Shape letters: B batch, C channels, H W height width, D = C*S*S dims per image. */
#ifndef VKGEN_FLOW_H
#define VKGEN_FLOW_H
#include "nn/config.h"
#include "nn/train.h"

#define FLOW_MAX_LEVELS 5

struct flow_config {
  int size, channels;  /* images (channels, size, size); size divisible by 2^levels */
  int levels, depth;   /* L levels of K steps each */
  int width;           /* hidden channels of the coupling networks */
  char preprocess[16]; /* "centered" or "logit" */
  float alpha;         /* the logit preprocessing's margin a */
};
extern const struct nn_cfg flow_cfg;
struct flow_config flow_config_default(void); /* 28x28 grey, 2 levels of 4 steps, width 32, centered */
int flow_dims(const struct flow_config *c);   /* D = channels * size^2 */

/* Parameter indices of one step (into nn_params). */
struct flow_step_ids {
  int an_bias, an_logs;                   /* actnorm (1, C, 1, 1) each */
  int lower, upper, log_s, perm, sign;    /* 1x1 conv: L, U (C, C), log|s| (C); P (C, C), sign(s) (C) fixed */
  int c1_w, c1_b, c2_w, c2_b, c3_w, c3_b; /* coupling net: 3x3 C/2->w, 1x1 w->w, 3x3 w->C (zero init) */
};

/* The model's layout: where every parameter is, and constant masks per level (not saved). */
struct flow_net {
  struct flow_config c;
  struct nn_params *p;
  struct flow_step_ids *st;                               /* (L*K): level l, step k at l*K + k */
  int split_w[FLOW_MAX_LEVELS], split_b[FLOW_MAX_LEVELS]; /* 3x3 zero-init conv of the split priors */
  int top;                                                /* (1, 2C_L, H_L, W_L): mean and logs of the top prior */
  /* Per level, for building the 1x1 weights: strictly lower / upper masks and the identity (C, C). */
  vkg_tensor *mlower[FLOW_MAX_LEVELS], *mupper[FLOW_MAX_LEVELS], *eye[FLOW_MAX_LEVELS];
  vkg_tensor **winv; /* (L*K) inverse 1x1 weights (C, C), set by flow_prepare_inverse */
};

/* Declares the parameters of c in p (initialized with nn_params_init; p->expect may be set to load) and
 * fills net. Initialization from seed: conv weights PyTorch-uniform, the 1x1 weights a random rotation
 * in LU form, actnorm identity (see flow_actnorm_init), the last coupling and prior convs zero. */
vkg_status flow_net_create(struct flow_net *net, struct nn_params *p, const struct flow_config *c, uint64_t seed);
void flow_net_free(struct flow_net *net);
/* Computes every 1x1 convolution's inverse weight on the host (double precision) from the current
 * parameters, for graphs built with reverse passes. */
vkg_status flow_prepare_inverse(struct flow_net *net);

/* The graph ids of a flow_net's tensors in one graph. */
struct flow_ids {
  vkg_t *p;    /* every parameter */
  vkg_t *winv; /* (L*K), VKG_NONE where not bound */
  vkg_t ml[FLOW_MAX_LEVELS], mu[FLOW_MAX_LEVELS], eye[FLOW_MAX_LEVELS];
};
/* Binds everything (trainable params of group train_group get gradients; -1: none), or takes the
 * parameters' ids from params when the caller bound them (the training loop does); with_inverse binds
 * the inverse weights (flow_prepare_inverse first). Free with flow_ids_free. */
vkg_status flow_bind(vkg_graph *g, const struct flow_net *net, int train_group, int with_inverse, const vkg_t *params,
                     struct flow_ids *ids);
void flow_ids_free(struct flow_ids *ids);

// ---- layers (graph ops; each forward returns its log|det J|, per image (B) or shared (1)) ----

/* y = (x + bias) * exp(logs) per channel; log-det H*W*sum(logs) (1). reverse: x = y exp(-logs) - bias.
 * With stats non-NULL (data-dependent init), bias and logs are replaced by -mean and -log(std) of x
 * over (B, H, W), and stats[0], stats[1] get them (C) for the host to store. */
vkg_t flow_actnorm(vkg_graph *g, vkg_t x, vkg_t bias, vkg_t logs, int reverse, vkg_t *logdet, vkg_t *stats);
/* W = P (L*mlower + I) (U*mupper + diag(sign exp(log_s))) (C, C). */
vkg_t flow_invconv_weight(vkg_graph *g, vkg_t lower, vkg_t upper, vkg_t log_s, vkg_t perm, vkg_t sign, vkg_t ml,
                          vkg_t mu, vkg_t eye);
/* y = W x over channels (a 1x1 convolution); log-det H*W*sum(log_s) (1) when log_s is given. */
vkg_t flow_invconv(vkg_graph *g, vkg_t x, vkg_t w, vkg_t log_s, vkg_t *logdet);
/* Affine coupling: xa, xb the first and second half of the channels; (shift, s) = net(xa),
 * scale = sigmoid(s + 2), yb = (xb + shift) scale (reverse: xb = yb / scale - shift); log-det
 * sum(log scale) (B). w: c1_w, c1_b, c2_w, c2_b, c3_w, c3_b. */
vkg_t flow_coupling(vkg_graph *g, vkg_t x, const vkg_t *w, int reverse, vkg_t *logdet);
/* (B, C, H, W) -> (B, 4C, H/2, W/2): each 2x2 block becomes 4 channels (channel c*4 + 2i + j). */
vkg_t flow_squeeze(vkg_graph *g, vkg_t x);
vkg_t flow_unsqueeze(vkg_graph *g, vkg_t x);
/* Split: x (B, C, H, W) -> z1 = x[:, :C/2] (returned), eps = (x[:, C/2:] - mu) exp(-logs) with
 * (mu, logs) = conv3x3(z1); log-det -sum(logs) (B). */
vkg_t flow_split(vkg_graph *g, vkg_t x, vkg_t w, vkg_t b, vkg_t *eps, vkg_t *logdet);
/* Its inverse: concat(z1, mu + exp(logs) eps). */
vkg_t flow_unsplit(vkg_graph *g, vkg_t z1, vkg_t eps, vkg_t w, vkg_t b);
/* Preprocessing of y in (0, 1): forward gives v and its log-det (B); reverse gives y from v. */
vkg_t flow_preprocess(vkg_graph *g, const struct flow_config *c, vkg_t y, int reverse, vkg_t *logdet);

// ---- the whole model ----

/* y (B, C, S, S) dequantized in (0, 1) -> eps (B, D); *logdet (B) of everything, priors' scales
 * included, so log p(y) = sum(-eps^2/2 - log(2 pi)/2) + logdet. an_stats non-NULL: data-dependent
 * actnorm init mode, an_stats[2*(l*K+k) + {0, 1}] get each actnorm's bias and logs. */
vkg_t flow_forward(vkg_graph *g, const struct flow_net *net, const struct flow_ids *ids, vkg_t y, vkg_t *logdet,
                   vkg_t *an_stats);
/* eps (B, D) -> y (B, C, S, S) (needs the inverse weights). */
vkg_t flow_reverse(vkg_graph *g, const struct flow_net *net, const struct flow_ids *ids, vkg_t eps);
/* Log-likelihood log p(y) in nats per image (B), from pixels x (B, C, S, S) in [0, 1] (multiples of
 * 1/255) and dequantization noise u in [0, 1) of the same shape. */
vkg_t flow_log_likelihood(vkg_graph *g, const struct flow_net *net, const struct flow_ids *ids, vkg_t x, vkg_t u);
/* The training loss: bits/dim of the batch, -(mean log p(y)) / (D ln 2) + 8 (one value). */
vkg_t flow_bpd_loss(vkg_graph *g, const struct flow_net *net, const struct flow_ids *ids, vkg_t x, vkg_t u);

/* Data-dependent actnorm initialization: runs the forward pass over x (n, C, S, S) in [0, 1] with
 * dequantization noise from seed, setting each actnorm so its output has zero mean and unit variance
 * per channel on these images, layer after layer. */
vkg_status flow_actnorm_init(struct flow_net *net, const float *x, int n, uint32_t seed);

// ---- data ----

/* The training and test images for a config (nn_image_data_load): Fashion-MNIST (dir NULL or holding
 * its IDX files; needs 28x28 grey), else the folder dir resized, every 10th image held out;
 * synthetic > 0: that many random images (benchmarks). train may be NULL. */
vkg_status flow_data_load(const char *dir, const struct flow_config *c, int synthetic, struct vkg_images *train,
                          struct vkg_images *test);

// ---- training (nn_model for the shared loop) ----

struct flow_opts {
  struct flow_config arch;
  int batch;
  const char *data_dir; /* see flow_data_load */
  int synthetic;        /* > 0: this many random images instead of a dataset (benchmarks) */
  size_t limit;
  uint64_t seed;
};
struct flow_opts flow_opts_default(void);
/* Loads the data, makes the parameters and runs the data-dependent init on a training batch. The loss
 * is bits/dim; after each epoch val_loss is the bits/dim of (up to 1000) test images. */
vkg_status flow_create(vkg_ctx *ctx, const struct flow_opts *o, struct nn_model **out);
void flow_destroy(struct nn_model *m);
/* The family's hooks (create from nn_create_opts, destroy, image shape, samples at temperature 0.7). */
extern const struct nn_family_ops flow_ops;
struct flow_net *flow_model_net(struct nn_model *m);
const struct vkg_images *flow_test_images(const struct nn_model *m);

// ---- a trained model ----

vkg_status flow_load(vkg_ctx *ctx, const char *path, struct flow_config *c, struct nn_params *p, struct flow_net *net);
vkg_status flow_save(const char *path, const struct flow_net *net);

/* n images (n, C, S, S) in [0, 1] from eps ~ N(0, T^2) (seed; for n <= 128 image i depends only on seed
 * and i). The inverse pass can overflow for latents far from the training data (a coupling divides by
 * its scale): such an image's non-finite pixels become 0, and *nonfinite (may be NULL) counts the
 * images that had any. */
struct nn_progress;
vkg_status flow_sample(struct flow_net *net, int n, uint32_t seed, float temperature, float *out, int *nonfinite,
                       struct nn_progress *pg); /* pg (may be NULL): advanced by the images done */
/* The same pass recorded once for batches of B: each run draws B images (B, C, S, S) in [0, 1]. */
struct flow_sampler;
vkg_status flow_sampler_create(struct flow_net *net, int B, struct flow_sampler **out);
vkg_status flow_sampler_run(struct flow_sampler *f, uint32_t seed, float temperature, float *out, int *nonfinite);
void flow_sampler_destroy(struct flow_sampler *f);
/* eps (n, D) of images x (n, C, S, S) in [0, 1] with the dequantization noise fixed at 1/2 (the
 * center of each pixel's bin), and back: images (n, C, S, S) from eps. */
vkg_status flow_encode(struct flow_net *net, const float *x, int n, float *eps);
vkg_status flow_decode(struct flow_net *net, const float *eps, int n, float *x);

/* Test-set bits/dim: `samples` dequantization draws per image (K); bpd is the mean single-draw bound,
 * iw_bpd the importance-weighted bound -log((1/K) sum_k p(y_k)) (equal for K = 1). */
struct flow_eval {
  int n, samples;
  double bpd, iw_bpd;
};
vkg_status flow_evaluate(struct flow_net *net, const struct vkg_images *im, int n, int samples, uint32_t seed,
                         struct flow_eval *out, struct nn_progress *pg);
#endif
