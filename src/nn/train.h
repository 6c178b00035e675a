/* The training loop shared by every model family: batches in a seeded order, the recorded step
 * (forward, backward, optimizer) replayed per batch, the loss read back every few steps, progress,
 * a metrics log, a loss plot, and atomic checkpoints that --resume continues exactly. */
#ifndef VKGEN_TRAIN_H
#define VKGEN_TRAIN_H
#include "nn/nn.h"

/* What a model family provides to the loop. */
struct nn_model {
  const char *name;        /* "classifier", "gan", ... (checked on resume) */
  char config[1024];       /* the architecture as JSON (saved in checkpoints, checked on resume) */
  struct nn_params params;
  int batch;
  size_t n_train;          /* examples per epoch */
  void *self;
  /* Builds the forward pass and loss on g (ids: the bound params, in params order); returns the loss. */
  vkg_t (*build_loss)(struct nn_model *m, vkg_graph *g, const vkg_t *ids);
  /* Writes the streamed inputs of one batch (example indices idx[0..batch)). */
  vkg_status (*write_batch)(struct nn_model *m, vkg_graph *g, const uint32_t *idx);
  /* After each epoch (may be NULL): up to 4 named metrics; the first, if named "val_loss", is plotted. */
  vkg_status (*evaluate)(struct nn_model *m, int *n, const char **names, double *values);
};

struct nn_train_opts {
  int epochs;
  long steps;              /* > 0: stop after this many steps instead of epochs */
  struct vkg_lr_schedule lr;
  struct vkg_optim_desc optim;
  uint64_t seed;
  const char *out_dir;
  int resume;
  int log_every;           /* read the loss back every this many steps */
  int ckpt_every;          /* checkpoint every this many steps (0: at each epoch end) */
  int quiet;
};

/* Runs (or resumes) training; writes DIR/checkpoint.safetensors, DIR/metrics.jsonl, DIR/loss.png and
 * at the end DIR/<name>.safetensors (weights only). */
vkg_status nn_train(struct nn_model *m, const struct nn_train_opts *o);

struct nn_curve {
  int n;
  const double *x, *y;
};
vkg_status nn_plot(const char *path, const struct nn_curve *train, const struct nn_curve *val);
#endif
