/* WaveNet (van den Oord et al. 2016): an autoregressive model of audio as 256 mu-law classes per
 * sample, p(x_t+1 | x_<=t) from a stack of causal dilated convolutions.
 *
 *   h = embed(x)                                  (B, R, T)  the 1x1 conv of the one-hot input
 *   for each layer l (dilation d_l = 1, 2, 4, ..., max_dilation, repeated `stacks` times):
 *     z = conv1d(h, dil_l, kernel 2, dilation d_l, causal) [+ cond_l[class]]   (B, 2D, T)
 *     u = tanh(z[:D]) * sigmoid(z[D:])            (B, D, T)  the gated unit
 *     skip += conv1x1(u, skip_l)                  (B, S, T)
 *     h = h + conv1x1(u, res_l)                   (B, R, T)  (not in the last layer: unused)
 *   logits = conv1x1(relu(conv1x1(relu(skip), out1)), out2)   (B, 256, T)
 * Output t predicts the class of sample t + 1 and sees inputs 0..t only; its receptive field is
 * 1 + stacks * (2 max_dilation - 1) samples. Optional global conditioning adds a learned vector per
 * class (the first-level folder of the data) to every layer's z.
 * Shape letters: B batch, T time, R residual channels, D gate channels, S skip channels, Q classes
 * (256), L layers, N conditioning classes. */
#ifndef VKGEN_WAVENET_H
#define VKGEN_WAVENET_H
#include "nn/config.h"
#include "nn/data.h"
#include "nn/train.h"

#define WAVENET_Q 256          /* mu-law classes */
#define WAVENET_MAX_LAYERS 128 /* stacks x log2(max_dilation) + 1 at most */

struct wavenet_config {
  int rate;                 /* samples per second of the model's audio */
  int stacks, max_dilation; /* dilations 1, 2, ..., max_dilation (a power of 2), `stacks` times */
  int residual, gate, skip; /* R, D, S */
  int classes;              /* N: 0 for an unconditional model */
};
extern const struct nn_cfg wavenet_cfg;
struct wavenet_config wavenet_config_default(void);
int wavenet_layers(const struct wavenet_config *c);
int wavenet_dilation(const struct wavenet_config *c, int layer);
/* 1 + sum of the dilations: how many inputs output t depends on (t and the RF - 1 before it). */
int wavenet_receptive_field(const struct wavenet_config *c);
/* "N layers, receptive field R samples = X ms at Y Hz" into out. */
void wavenet_describe(const struct wavenet_config *c, char *out, size_t n);

/* Parameter indices in nn_params order (ids of nn_bind_all index them). -1 where absent. */
struct wavenet_ids {
  int embed;
  int dil_w[WAVENET_MAX_LAYERS], dil_b[WAVENET_MAX_LAYERS], cond[WAVENET_MAX_LAYERS];
  int res_w[WAVENET_MAX_LAYERS], res_b[WAVENET_MAX_LAYERS], skip_w[WAVENET_MAX_LAYERS], skip_b[WAVENET_MAX_LAYERS];
  int out1_w, out1_b, out2_w, out2_b;
};
/* Declares (and, if initialize, initializes from seed with PyTorch's default uniform(+-1/sqrt(fan_in))
 * for convolutions and biases, uniform(+-sqrt 3), unit variance, for the embeddings) the parameters in p. */
vkg_status wavenet_params(struct nn_params *p, const struct wavenet_config *c, int initialize, uint64_t seed,
                          struct wavenet_ids *ids);

/* x i32 (B, T) classes, cond i32 (B) or VKG_NONE -> logits (B, T, Q); p: the params bound in g. */
vkg_t wavenet_logits(vkg_graph *g, const struct wavenet_config *c, const struct wavenet_ids *w, const vkg_t *p, vkg_t x,
                     vkg_t cond);

// ---- data ----

/* Windows: each predicts T consecutive samples of one clip, with the receptive field's RF - 1
 * samples before them as context (inputs before the clip's start are the silence class, and no
 * label falls outside the clip). */
struct wavenet_window {
  int clip;
  size_t start; /* the first predicted sample's input position, relative to the clip */
};
/* Tiles the training (test = 0) or test clips into windows of T predictions; *out malloc'd. */
vkg_status wavenet_windows(const struct nn_audio_data *d, int test, int T, struct wavenet_window **out, size_t *n);
/* One window's input classes (RF - 1 + T) and labels (same length; -1 where nothing is predicted). */
void wavenet_window_fill(const struct nn_audio_data *d, const struct wavenet_window *w, int rf, int T, int32_t *x,
                         int32_t *y);

// ---- training ----

struct wavenet_opts {
  struct wavenet_config arch;
  int batch, window; /* windows per batch; predicted samples per window */
  const char *data_dir;
  int conditional; /* condition on the first-level folder (arch.classes from the data) */
  size_t limit;    /* > 0: at most this many training windows */
  int synthetic;   /* > 0: this many clips of random classes instead of a dataset (benchmarks) */
  uint64_t seed;
};
struct wavenet_opts wavenet_opts_default(void);
/* Loads the data and makes the parameters. The loop's loss is the mean NLL in nats per predicted
 * sample; after each epoch val_loss is that of (up to 64) test windows, val_bits the same in bits. */
vkg_status wavenet_create(vkg_ctx *ctx, const struct wavenet_opts *o, struct nn_model **out);
/* The options of training only (nn_create_opts.train of the family's create hook). */
struct wavenet_train {
  int window;      /* predicted samples per window */
  int conditional; /* condition on the first-level folder */
};
/* The family's hooks (create from a wavenet_config and a wavenet_train, the receptive field). */
extern const struct nn_family_ops wavenet_ops;
void wavenet_destroy(struct nn_model *m);
const struct nn_audio_data *wavenet_model_data(const struct nn_model *m);

// ---- a trained model ----

vkg_status wavenet_load(vkg_ctx *ctx, const char *path, struct wavenet_config *c, struct nn_params *p,
                        struct wavenet_ids *ids);
vkg_status wavenet_save(const char *path, const struct wavenet_config *c, const struct nn_params *p);

struct nn_progress;
/* The NLL of the test clips of d (max_windows > 0: only the first that many windows of T) in nats per
 * sample; *count gets the samples scored. pg (may be NULL): its total becomes the windows scored,
 * and it is advanced as they are. */
vkg_status wavenet_test_nll(const struct wavenet_config *c, const struct nn_params *p, const struct wavenet_ids *ids,
                            const struct nn_audio_data *d, int T, size_t max_windows, double *nats, size_t *count,
                            struct nn_progress *pg);

// ---- generation: Fast WaveNet (Paine et al. 2016) ----

/* One graph of K unrolled steps for B rows, recorded once. Step t reads input tok[t] (tok[0] is the
 * silence class, tok[t + 1] = x_t) and gives the logits of x_t; sampling happens on the GPU. Each
 * layer keeps a queue of its past inputs, (B, R, d + K) for dilation d, so a step costs one kernel-2
 * convolution per layer on (input t - d, input t) instead of a recompute of the receptive field; after
 * the K steps the last d inputs move to the front for the next submission. */
struct wavenet_gen;
vkg_status wavenet_gen_create(const struct wavenet_config *c, const struct nn_params *p, const struct wavenet_ids *ids,
                              int B, int K, int keep_logits, struct wavenet_gen **out);
void wavenet_gen_destroy(struct wavenet_gen *g);
/* Progress of wavenet_generate (steps per row; NULL: none). */
void wavenet_gen_progress(struct wavenet_gen *g, struct nn_progress *pg);
/* n samples per row into out (B, n): x_t for t < n_forced is forced[b * n_forced + t] (a prime, not
 * drawn), the rest drawn at `temperature` (<= 0: the most likely class) with seeds from seed. cls (B)
 * the rows' classes (NULL for an unconditional model). logits (B, n, Q) or NULL: the logits of every
 * step (needs keep_logits). */
vkg_status wavenet_generate(struct wavenet_gen *g, size_t n, const int32_t *forced, size_t n_forced, const int32_t *cls,
                            uint32_t seed, float temperature, int32_t *out, float *logits);
#endif
