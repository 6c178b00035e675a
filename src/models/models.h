/* Model families. Each builds an nn_model (train.h) from options and data. */
#ifndef VKGEN_MODELS_H
#define VKGEN_MODELS_H
#include "nn/config.h"
#include "nn/train.h"

/* The Fashion-MNIST classifier: conv(1->c1, k5, s2) relu, conv(c1->c2, k5, s2) batchnorm relu,
 * linear(c2*7*7 -> hidden) relu (the features), linear(hidden -> 10). The second conv has no bias:
 * the batchnorm after it cancels one. */
struct classifier_opts {
  int c1, c2, hidden;
  int batch;
  const char *data_dir; /* NULL: the Debian package's directory */
  size_t limit;         /* > 0: use only the first `limit` training images */
  uint64_t seed;        /* initialization */
  int no_data;          /* 1: skip loading the dataset (for inference only; the model cannot be trained) */
  const vkg_st *expect; /* when loading weights: each parameter is checked against this file as it is made */
  const char *expect_path;
};
/* The architecture table (nn/config.h) over c1, c2 and hidden. */
extern const struct nn_cfg classifier_cfg;
struct classifier_opts classifier_opts_default(void);
/* Loads the data, makes and initializes the parameters. */
vkg_status classifier_create(vkg_ctx *ctx, const struct classifier_opts *o, struct nn_model **out);
void classifier_destroy(struct nn_model *m);
extern const struct nn_family_ops classifier_ops; /* the generic train, eval and bench */

// ---- inference (FID features, accuracy) ----

/* Builds the classifier from a weights file (or a training checkpoint) of the 'classifier' model: the
 * architecture comes from the file's config; no dataset is loaded. Errors name the file (wrong model,
 * missing config, tensor shapes) with a hint. Free with classifier_destroy. */
vkg_status classifier_load(vkg_ctx *ctx, const char *weights, struct nn_model **out);
/* The size of the feature vector (the hidden layer). */
int classifier_feature_dim(const struct nn_model *m);
/* Runs n images (n, 1, 28, 28) in [0, 1] through the classifier with batchnorm in inference mode, in
 * batches through one compiled graph (kept in the model): features (n, hidden) and logits (n, 10),
 * either may be NULL. Results do not depend on n or on how images fall into batches. pg (may be NULL)
 * is advanced by the images done. */
struct nn_progress;
vkg_status classifier_features(struct nn_model *m, const float *images, int n, float *features, float *logits,
                               struct nn_progress *pg);
/* Fraction of images of `set` (n, 1, 28, 28, with labels) whose largest logit is their label. */
vkg_status classifier_accuracy(struct nn_model *m, const struct vkg_images *set, double *accuracy);
/* Writes the parameters as a weights file like the training loop's (metadata format/model/config). */
vkg_status classifier_save(struct nn_model *m, const char *path);
#endif
