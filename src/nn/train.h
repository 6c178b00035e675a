/* The training loop shared by every model family: batches in a seeded order, the recorded step
 * (forward, backward, optimizer) replayed per batch, the loss read back every few steps, progress,
 * a metrics log, a loss plot, and atomic checkpoints that --resume continues exactly. */
#ifndef VKGEN_TRAIN_H
#define VKGEN_TRAIN_H
#include "nn/nn.h"

struct nn_cfg;

/* A training phase: one loss, minimized over one group of parameters with its own optimizer. Most
 * models have one phase; a GAN has two (the discriminator's, then the generator's), run one after
 * the other for every batch, each as its own recorded graph. */
#define NN_MAX_PHASES 4
struct nn_phase {
  const char *name; /* metric name: "loss" for a single phase, else "loss_<name>" */
  int group;        /* trains the trainable params whose nn_params group equals this */
};

/* What a model family provides to the loop. */
struct nn_model {
  const char *name;  /* "classifier", "gan", ... (checked on resume) */
  char config[1024]; /* the architecture as JSON (saved in checkpoints, checked on resume) */
  struct nn_params params;
  int batch;
  size_t n_train; /* examples per epoch */
  void *self;
  int nphases; /* 0 means 1 phase named "loss" over group 0 */
  struct nn_phase phases[NN_MAX_PHASES];
  /* Builds phase p's forward pass and loss on g (ids: every param bound in g, in params order, with
   * requires_grad on that phase's group); returns the loss (one value). The per-run scalars "seed",
   * "step" and "lr" exist on g. */
  vkg_t (*build_loss)(struct nn_model *m, vkg_graph *g, const vkg_t *ids, int phase);
  /* Writes phase p's streamed inputs for one batch (example indices idx[0..batch)). */
  vkg_status (*write_batch)(struct nn_model *m, vkg_graph *g, int phase, const uint32_t *idx);
  /* After each epoch (may be NULL): up to 4 named metrics; the first, if named "val_loss", is plotted. */
  vkg_status (*evaluate)(struct nn_model *m, int *n, const char **names, double *values);
};

/* What a family's create hook gets besides its architecture. */
struct nn_create_opts {
  int batch;
  size_t limit;         /* > 0: only the first `limit` training examples */
  const char *data_dir; /* NULL: the family's default data */
  uint64_t seed;        /* initialization */
  int synthetic;        /* > 0: this many random examples instead of a dataset (benchmarks) */
  /* Loading weights: a file the parameters are checked against as they are declared (nn_params_expect
   * right after nn_params_init), and its path for messages; NULL for a new model. */
  const vkg_st *expect;
  const char *expect_path;
  /* The family's training options (a struct of its ops' train_cfg table), NULL: their defaults. */
  const void *train;
};

/* The model-level hooks of a family; src/cli/generic.c builds the commands train, sample, eval and
 * bench on them (and on the family's config table). */
struct nn_family_ops {
  /* A new model of architecture cfg (the family's config struct, already checked), with its training
   * and test data; its evaluate hook measures the test split and names its metrics. */
  vkg_status (*create)(vkg_ctx *ctx, const void *cfg, const struct nn_create_opts *o, struct nn_model **m);
  void (*destroy)(struct nn_model *m);
  /* Image families: the geometry of an image, and n images (n, c, h, w) in [0, 1] drawn from seed,
   * image i depending only on (seed, i). */
  void (*image_shape)(const struct nn_model *m, int *c, int *h, int *w);
  vkg_status (*sample_images)(struct nn_model *m, int n, uint32_t seed, float *images);
  /* What training does, for 'vkgen train FAMILY --help': the data, the loss, what is evaluated (NULL:
   * a generic line). */
  const char *about;
  /* Options of training only, beside the architecture's (e.g. WaveNet's --window): a config table whose
   * struct reaches create as o->train; NULL: none. */
  const struct nn_cfg *train_cfg;
  /* Optional, for --init DIR: a model for training made from a directory of another format's weights
   * (gpt: a Hugging Face GPT-2), its architecture and weights from there. NULL: --init takes vkgen weights. */
  vkg_status (*create_from)(vkg_ctx *ctx, const char *dir, const struct nn_create_opts *o, struct nn_model **m);
  /* Optional: one line on the new model, printed before training starts (e.g. a receptive field). */
  void (*describe)(const struct nn_model *m, char *out, size_t n);
  /* Optional: the columns of a grid of samples (e.g. one per class); NULL: square, 8 after training. */
  int (*grid_cols)(const struct nn_model *m);
};

struct nn_train_opts {
  int epochs;
  long steps; /* > 0: stop after this many steps instead of epochs */
  struct vkg_lr_schedule lr;
  struct vkg_optim_desc optim;
  uint64_t seed;
  const char *out_dir;
  int resume;
  const char *init;    /* start from these weights (same model and config) with a fresh optimizer */
  int log_every;       /* read the loss back every this many steps */
  int ckpt_every;      /* checkpoint every this many steps (0: at each epoch end and every ckpt_seconds) */
  double ckpt_seconds; /* with ckpt_every 0: the time between checkpoints (0: NN_CHECKPOINT_SECONDS) */
  int quiet;
  const char *save_dtype; /* the final weights' float dtype: "F32" (NULL), "F16" or "BF16"; checkpoints stay F32 */
};

#define NN_CHECKPOINT_SECONDS 300 /* the default checkpoint interval bounds the work an interruption loses */

/* Runs (or resumes) training; writes DIR/checkpoint.safetensors, DIR/metrics.jsonl, DIR/loss.png and
 * at the end DIR/<name>.safetensors (weights only). The last step (of --steps or the epochs) is
 * followed by the model's evaluation. SIGINT or SIGTERM stops it after the current step with a
 * checkpoint written, and it returns VKG_OK with nn_train_stopped_by() giving the signal; a second
 * signal exits the process at once (status 128 + signal), the previous checkpoint left whole. */
vkg_status nn_train(struct nn_model *m, const struct nn_train_opts *o);
/* The signal that stopped the last nn_train, or 0 if it ran to its end (or failed). */
int nn_train_stopped_by(void);

/* A labelled curve for nn_plot: a line, or dots. */
struct nn_curve {
  const char *label;
  int n;
  const double *x, *y;
  int dots;
};
vkg_status nn_plot(const char *path, const struct nn_curve *curves, int n);
#endif
