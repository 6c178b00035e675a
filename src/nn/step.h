/* One training step of a model, built in one place: for each of its phases a recorded graph holding the
 * forward pass and loss, the backward pass over the phase's parameter group, the optimizer (with its
 * gradient clipping) and histories of the loss and the gradient norm. The training loop (nn_train),
 * every `vkgen bench FAMILY` and the tests replay the same step. */
#ifndef VKGEN_NN_STEP_H
#define VKGEN_NN_STEP_H
#include "nn/train.h"

struct nn_step_phase {
  vkg_graph *g;
  vkg_optim *opt;
  vkg_t loss_hist, norm_hist; /* the last hist_n values, at (step - 1) % hist_n */
  int slot_lr, slot_step, slot_seed;
};

struct nn_step {
  struct nn_model *m;
  int nph, hist_n;
  struct nn_step_phase ph[NN_MAX_PHASES];
};

/* Records m's step with optimizer od (the same for every phase); the histories keep hist_n steps. */
vkg_status nn_step_create(struct nn_model *m, const struct vkg_optim_desc *od, int hist_n, struct nn_step *st);
/* Writes the batch of example indices idx[0..batch) and starts every phase, one after the other, with
 * the learning rate lr, the 1-based step number and a noise seed per phase drawn from (seed, step,
 * phase). Returns without waiting: two steps can be in flight. */
vkg_status nn_step_run(struct nn_step *st, const uint32_t *idx, float lr, long step, uint64_t seed);
/* Waits for every phase's last run. */
vkg_status nn_step_wait(struct nn_step *st);
/* Reads every phase's loss and gradient-norm histories: loss and norm get nph * hist_n values (phase p's
 * at p * hist_n). */
vkg_status nn_step_read(struct nn_step *st, float *loss, float *norm);
void nn_step_destroy(struct nn_step *st);

/* Steps per second of m's step with od at learning rate lr: one warm-up step, then `steps` timed
 * steps on the batch of examples 0 .. batch-1, two in flight (the training loop's pace). */
vkg_status nn_step_bench(struct nn_model *m, const struct vkg_optim_desc *od, float lr, int steps, double *steps_per_s);
#endif
