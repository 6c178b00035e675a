/* Building blocks for models: named parameter sets with PyTorch's default initialization, layers
 * written as graph ops, and the training loop (train.c). Internal to vkgen (the CLI uses it). */
#ifndef VKGEN_NN_H
#define VKGEN_NN_H
#include "vkgen.h"

// ---- parameter sets ----

/* Named tensors in a fixed order. Trainable ones get gradients and optimizer state; the others
 * (batchnorm running statistics) are state that is saved but not trained. */
struct nn_params {
  vkg_ctx *ctx;
  int n, cap;
  char (*names)[64];
  vkg_tensor **t;
  uint8_t *trainable;
  uint8_t *group; /* training phase group of each param (0 unless set; see train.h) */
  int ntrain, cur_group;
  const vkg_st *expect;    /* set by nn_params_expect (weights.h): new params are checked against it */
  const char *expect_path; /* its file name, for messages */
  vkg_status err;          /* why the last nn_param failed */
  /* Layer helpers below initialize what they declare when init is set (nn_params_init_seeded), each
   * tensor from nn_mix(seed, its index). */
  int init;
  uint64_t seed;
};
void nn_params_init(struct nn_params *p, vkg_ctx *ctx);
/* The same, and the layer helpers initialize every tensor they declare from seed. */
void nn_params_init_seeded(struct nn_params *p, vkg_ctx *ctx, uint64_t seed);
void nn_params_free(struct nn_params *p);
/* Adds a tensor; returns NULL (with the error set, and its status in p->err) on failure. */
vkg_tensor *nn_param(struct nn_params *p, const char *name, int trainable, int ndim, const int *shape);
int nn_param_index(const struct nn_params *p, const char *name);
/* Trainable tensors of one group in order (for an optimizer); *n gets their count. Caller frees. */
vkg_tensor **nn_trainable(const struct nn_params *p, int group, int *n);
/* Sets the group of every param added from now on (0 at first). */
void nn_params_set_group(struct nn_params *p, int group);

/* Initialization on the host from a seed (reproducible): uniform(-b, b) with b = 1/sqrt(fan_in), which
 * is PyTorch's default for Linear and Conv weights and biases. */
vkg_status nn_init_uniform(vkg_tensor *t, float bound, uint64_t seed);
vkg_status nn_init_const(vkg_tensor *t, float value);

/* Adds every parameter to w (under prefix+name). */
vkg_status nn_params_save(const struct nn_params *p, vkg_st_writer *w, const char *prefix);
/* The same, floating-point tensors stored as dtype ("F32", "F16", "BF16"; NULL: their own). */
vkg_status nn_params_save_as(const struct nn_params *p, vkg_st_writer *w, const char *prefix, const char *dtype);
/* Loads every parameter from st (prefix+name); errors name the file, the tensor and the shapes. */
vkg_status nn_params_load(const struct nn_params *p, const vkg_st *st, const char *prefix);

// ---- layers' parameters ----

/* A layer's parameters, declared by one helper with PyTorch's names ("NAME.weight", "NAME.bias", a
 * batchnorm's "NAME.running_mean" and "NAME.running_var") and shapes, as their indices in the set (what
 * the ids of nn_bind_all are indexed by; -1 where absent). A model keeps its layers as named fields with
 * shape comments and reads a graph's tensors as ids[layer.w]; blocks repeat in loops. In a seeded set
 * each tensor starts as PyTorch initializes that layer, drawn from nn_mix(seed, its index): weights and
 * biases uniform(+-1/sqrt(fan_in)) (a transposed convolution's fan_in from the weight's second dimension,
 * its output channels, as in PyTorch), a norm's scale 1 and shift 0, running mean 0 and variance 1.
 * After a failure the indices are -1 and p->err says why; the next helper then does nothing. */
struct nn_layer {
  int w, b;      /* weight; bias (-1 without one) */
  int mean, var; /* a batchnorm's running statistics (not trainable) */
};
/* w (out, in), b (out). */
struct nn_layer nn_linear_params(struct nn_params *p, const char *name, int in, int out, int bias);
/* w (out, in, kh, kw), b (out). */
struct nn_layer nn_conv2d_params(struct nn_params *p, const char *name, int in, int out, int kh, int kw, int bias);
/* w (in, out, kh, kw), b (out). */
struct nn_layer nn_conv_transpose2d_params(struct nn_params *p, const char *name, int in, int out, int kh, int kw,
                                           int bias);
/* w (out, in, k), b (out). */
struct nn_layer nn_conv1d_params(struct nn_params *p, const char *name, int in, int out, int k, int bias);
/* w (c) scale, b (c) shift, mean and var (c) running statistics. */
struct nn_layer nn_batchnorm_params(struct nn_params *p, const char *name, int c);
/* w (c) scale, b (c) shift. */
struct nn_layer nn_layernorm_params(struct nn_params *p, const char *name, int c);
/* w (n, dim), uniform(+-sqrt 3): unit variance, as the embeddings of WaveNet and the RNNs start. */
struct nn_layer nn_embedding_params(struct nn_params *p, const char *name, int n, int dim);
/* A tensor of no standard layer (e.g. a per-class bias), by name: declared and, in a seeded set,
 * initialized uniform(+-bound) if bound > 0, else to the constant -bound. Its index, or -1. */
int nn_param_seeded(struct nn_params *p, const char *name, int trainable, int ndim, const int *shape, float bound);

// ---- layers (each builds ops on g from tensors bound in g) ----

/* Binds every parameter into g (ids[i] for p->t[i]); trainable ones of group `train_group` get
 * requires_grad (-1: none, for inference graphs). */
void nn_bind_all(vkg_graph *g, const struct nn_params *p, int train_group, vkg_t *ids);
/* x (..., in) @ W^T + b with W (out, in) as in PyTorch's Linear. */
vkg_t nn_linear(vkg_graph *g, vkg_t x, vkg_t w, vkg_t b);

/* n latent vectors (n, Z) ~ N(0, 1) drawn on the device (Philox, the same on any device): row i depends
 * only on (seed, i), so the first k rows of n are the k rows of a smaller n. The prior of every
 * latent-variable family (GAN, VAE). */
vkg_status nn_prior(vkg_ctx *ctx, int n, int Z, uint32_t seed, float *z);

/* A 64-bit mix of two values (splitmix64), for deriving seeds. */
uint64_t nn_mix(uint64_t a, uint64_t b);
#endif
