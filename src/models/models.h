/* Model families. Each builds an nn_model (train.h) from options and data. */
#ifndef VKGEN_MODELS_H
#define VKGEN_MODELS_H
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
};
struct classifier_opts classifier_opts_default(void);
/* Loads the data, makes and initializes the parameters. */
vkg_status classifier_create(vkg_ctx *ctx, const struct classifier_opts *o, struct nn_model **out);
void classifier_destroy(struct nn_model *m);
#endif
