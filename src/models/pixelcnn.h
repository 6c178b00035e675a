/* The gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders"):
 * an autoregressive model of 8-bit images, p(x) = prod_i p(x_i | x_<i), over sub-pixels in raster order
 * (rows, then columns, then R -> G -> B within a pixel). Every sub-pixel gets a 256-way softmax; the
 * loss is the exact negative log-likelihood, in nats per sub-pixel (bits/dim = nats / ln 2).
 *
 * Two stacks of gated layers, so the receptive field has no blind spot:
 *   vertical stack:   a (k/2+1) x k convolution over the rows at and above the current one;
 *   horizontal stack: a 1 x (k/2+1) convolution over the pixels at and left of the current one, plus a
 *                     1x1 convolution of the vertical stack's features shifted down by one row (so it
 *                     only sees rows strictly above).
 * Each stack's 2p pre-activations go through the gate tanh(a[:p]) * sigmoid(a[p:]) (plus a per-class bias
 * when conditional). The horizontal stack adds a 1x1 residual connection (from layer 1 on, none in the last
 * layer, whose horizontal output only feeds its skip) and a 1x1
 * skip connection; the head is ReLU, 1x1 to q channels, ReLU, 1x1 to C*256 logits.
 *
 * The convolutions of the stacks are cropped: their kernels hold only the taps a causal model may use,
 * and padding plus a slice of the output puts each output over its causal window, so no multiply is
 * spent on taps that a mask would zero. What stays masked is the ordering inside one pixel: the
 * centre tap of the horizontal convolution and the 1x1 convolutions of the horizontal stack and head
 * split their channels into C groups (R, G, B), and output group g may read input group g' only for
 * g' < g (mask A, the first layer's centre tap) or g' <= g (mask B, everything after). Those masks are
 * constant tensors multiplied into the weights once per graph (so gradients are masked too); for grey
 * images mask B is all ones and mask A zeroes the first layer's centre tap.
 *
 * Shape letters: B batch, C image channels, S image side, p width (channels of the stacks), q the
 * head's width, L layers, k kernel size. */
#ifndef VKGEN_PIXELCNN_H
#define VKGEN_PIXELCNN_H
#include "nn/config.h"
#include "nn/train.h"

#define PIXELCNN_MAX_LAYERS 64

struct pixelcnn_config {
  int size, channels; /* images (C, S, S): S 28, 32 or 64 with --data (Fashion-MNIST: 28, 1 channel) */
  int layers;         /* gated layers L */
  int width;          /* p: a multiple of 3 for colour images */
  int kernel;         /* k, odd */
  int dilation_cycle; /* layer l dilates by 2^(l mod n); 1: no dilation */
  int out_width;      /* q: a multiple of 3 for colour images */
  int classes;        /* 0, or the number of classes conditioned on */
};
extern const struct nn_cfg pixelcnn_cfg;
struct pixelcnn_config pixelcnn_config_default(void);
/* Layer l's dilation. */
int pixelcnn_dilation(const struct pixelcnn_config *c, int l);

/* Makes the parameters in p (initialized with nn_params_init), PyTorch's default init from seed:
 * uniform(+-1/sqrt(fan_in)) for every weight and bias, the class tables as a linear layer from a
 * one-hot vector (fan_in = classes). Names: layers.L.{v_conv,h_conv,v_to_h,h_res (not in the last
 * layer),skip}.{weight,bias}, layers.L.{v_cond (not in the last layer),h_cond}.weight (conditional),
 * out1.{weight,bias}, out2.{weight,bias}. */
vkg_status pixelcnn_params_create(struct nn_params *p, const struct pixelcnn_config *c, uint64_t seed);

/* The constant tensors of a config: the masks and the input levels (v -> 2v/255 - 1). */
struct pixelcnn_consts {
  vkg_tensor *mask_h_first; /* (2p, C, 1, k/2+1): the first layer's horizontal kernel, mask A */
  vkg_tensor *mask_h;       /* (2p, p, 1, k/2+1): later horizontal kernels, mask B */
  vkg_tensor *mask_pp;      /* (p, p, 1, 1): residual and skip 1x1s, mask B */
  vkg_tensor *mask_out1;    /* (q, p, 1, 1) */
  vkg_tensor *mask_out2;    /* (C*256, q, 1, 1) */
  vkg_tensor *levels;       /* (256, 1): the network's input value of each level */
};
vkg_status pixelcnn_consts_create(vkg_ctx *ctx, const struct pixelcnn_config *c, struct pixelcnn_consts *k);
void pixelcnn_consts_free(struct pixelcnn_consts *k);
/* The mask of an (O, I, 1, taps) kernel whose last tap is the centre (O*I*taps floats): 1 on every other
 * tap; on the centre, 1 where the output channel's colour group may read the input channel's. mask_a:
 * strictly earlier groups only (the first layer). gate_out: the O outputs are a gate's two halves. */
void pixelcnn_mask(int O, int I, int taps, int channels, int mask_a, int gate_out, float *out);

// ---- the network on a graph ----

/* The weights as the forward pass uses them (masks applied), per layer and for the head. */
struct pixelcnn_layer_w {
  vkg_t v_w, v_b, h_w, h_b, vh_w, vh_b, res_w, res_b, skip_w, skip_b, v_cond, h_cond;
};
struct pixelcnn_w {
  struct pixelcnn_layer_w l[PIXELCNN_MAX_LAYERS];
  vkg_t out1_w, out1_b, out2_w, out2_b;
  vkg_t levels; /* (256, 1) */
};
/* From the parameters bound in g (ids in params order, as nn_bind_all gives them): binds the constants
 * and multiplies the masks in. */
void pixelcnn_weights(vkg_graph *g, const struct pixelcnn_config *c, const vkg_t *ids, const struct pixelcnn_consts *k,
                      struct pixelcnn_w *w);
/* Logits (B, C, 256, S, S) of images given as levels x i32 (B, C, S, S) in [0, 255]; labels i32 (B) or
 * VKG_NONE (unconditional). Logit (b, c, :, i, j) depends only on sub-pixels before (c, i, j). */
vkg_t pixelcnn_logits(vkg_graph *g, const struct pixelcnn_config *c, const struct pixelcnn_w *w, vkg_t x, vkg_t labels);
/* The loss: mean negative log-likelihood in nats per sub-pixel of x (B, C, S, S) levels. */
vkg_t pixelcnn_nll(vkg_graph *g, const struct pixelcnn_config *c, const struct pixelcnn_w *w, vkg_t x, vkg_t labels);

// ---- data ----

/* Training and test images as levels, from nn_image_data_load (Fashion-MNIST, which must fit the config,
 * or an image folder with every 10th image held out; synthetic > 0: that many random images), plus
 * labels (Fashion-MNIST's, or NULL for a folder). train may be NULL. */
struct pixelcnn_data {
  int n, c, s;
  uint8_t *levels;       /* (n, C, S, S) */
  const uint8_t *labels; /* n or NULL (points into im) */
  struct vkg_images im;
};
vkg_status pixelcnn_data_load(const char *dir, const struct pixelcnn_config *c, int synthetic,
                              struct pixelcnn_data *train, struct pixelcnn_data *test);
void pixelcnn_data_free(struct pixelcnn_data *d);

// ---- training (nn_model for the shared loop) ----

struct pixelcnn_opts {
  struct pixelcnn_config arch;
  int batch;
  const char *data_dir;
  size_t limit;
  uint64_t seed;
  int eval_images; /* test images measured after each epoch (default 1000) */
  int synthetic;   /* > 0: this many random images instead of a dataset (benchmarks) */
};
struct pixelcnn_opts pixelcnn_opts_default(void);
/* The loop's loss is the NLL in nats per sub-pixel; after each epoch val_loss is that of the first
 * eval_images test images, plus val_bits_per_dim. */
vkg_status pixelcnn_create(vkg_ctx *ctx, const struct pixelcnn_opts *o, struct nn_model **out);
void pixelcnn_destroy(struct nn_model *m);
/* The family's hooks (create from nn_create_opts, destroy, image shape; no sampler hook). */
extern const struct nn_family_ops pixelcnn_ops;
const struct pixelcnn_data *pixelcnn_test_data(const struct nn_model *m);

// ---- a trained model ----

vkg_status pixelcnn_load(vkg_ctx *ctx, const char *path, struct pixelcnn_config *c, struct nn_params *p);
vkg_status pixelcnn_save(const char *path, const struct pixelcnn_config *c, const struct nn_params *p);

/* The exact NLL of the first n images of d, in nats per image (sum over its sub-pixels), averaged. */
struct nn_progress; /* pg (may be NULL): advanced by the images done */
vkg_status pixelcnn_evaluate(const struct pixelcnn_config *c, const struct nn_params *p, const struct pixelcnn_data *d,
                             int n, double *nats_per_image, struct nn_progress *pg);

/* Sampling: every sub-pixel in raster order on the GPU. A sampler is one recorded graph of `unroll`
 * pixels (each: a full forward pass per channel, a draw from the softmax, the write of the level into
 * the image buffer), replayed S*S/unroll times per batch with no host round trip in between. */
struct pixelcnn_sampler;
vkg_status pixelcnn_sampler_create(const struct pixelcnn_config *c, const struct nn_params *p, int batch, int unroll,
                                   struct pixelcnn_sampler **out);
void pixelcnn_sampler_destroy(struct pixelcnn_sampler *s);
/* Fills a batch (images (B, C, S, S) in [0, 1]): sub-pixels before the first `keep_rows` rows come from
 * `given` (B, C, S, S) levels (may be NULL when keep_rows is 0), the rest are drawn with temperature t
 * (1 is the model's distribution; 0 takes the most probable level) from seed. labels (B) for a conditional model, else
 * NULL. */
vkg_status pixelcnn_sampler_run(struct pixelcnn_sampler *s, const uint8_t *given, int keep_rows, const int32_t *labels,
                                float temperature, uint32_t seed, float *images);
/* n images through samplers of at most 64 images; chunk k uses seed nn_mix(seed, k) (k > 0). labels
 * (n) or NULL (a conditional model then uses i % classes). pg (may be NULL) is advanced by the pixels
 * drawn, n * size^2 in all. */
struct nn_progress;
vkg_status pixelcnn_sample(const struct pixelcnn_config *c, const struct nn_params *p, int n, float temperature,
                           uint32_t seed, const int32_t *labels, float *images, struct nn_progress *pg);
#endif
