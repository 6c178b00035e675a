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
  /* With several ranks (nn/dist.h) a phase is two graphs around the host's allreduce: g holds the
   * forward pass, the loss and the backward pass and gathers the gradients into one bucket `grads`
   * (ngrad values); og takes the averaged bucket as its streamed input `grads_in` and holds the
   * optimizer and the gradient-norm history. With one rank og is NULL and g holds everything. */
  vkg_graph *og;
  vkg_t grads, grads_in;
  size_t ngrad;
  int og_lr, og_step;
};

struct nn_step {
  struct nn_model *m;
  int nph, hist_n;
  int ranks;     /* nn_dist_size() when created */
  float *bucket; /* ranks > 1: the host copy of a phase's gradients, averaged in place */
  size_t nbuf;   /* ranks > 1: values of the non-trainable params (batchnorm's running statistics), */
  float *buf;    /* which each rank's forward pass updates with its own batch: rank 0's are sent to all */
  struct nn_step_phase ph[NN_MAX_PHASES];
};

/* Records m's step with optimizer od (the same for every phase); the histories keep hist_n steps. */
vkg_status nn_step_create(struct nn_model *m, const struct vkg_optim_desc *od, int hist_n, struct nn_step *st);
/* Writes the batch of example indices idx[0..batch) and starts every phase, one after the other, with
 * the learning rate lr, the 1-based step number and a noise seed per phase drawn from (seed, step,
 * phase). Returns without waiting: two steps can be in flight. With several ranks it is collective:
 * each phase's gradients are averaged over the ranks before its optimizer runs (idx is this rank's
 * slice of the global batch, and its noise the slice of the global batch's noise). */
vkg_status nn_step_run(struct nn_step *st, const uint32_t *idx, float lr, long step, uint64_t seed);
/* Waits for every phase's last run. */
vkg_status nn_step_wait(struct nn_step *st);
/* Reads every phase's loss and gradient-norm histories: loss and norm get nph * hist_n values (phase p's
 * at p * hist_n). With several ranks it is collective and the losses are the means over the ranks. */
vkg_status nn_step_read(struct nn_step *st, float *loss, float *norm);
void nn_step_destroy(struct nn_step *st);

/* Steps per second of m's step with od at learning rate lr: one warm-up step, then `steps` timed
 * steps on the batch of examples 0 .. batch-1, two in flight (the training loop's pace). */
vkg_status nn_step_bench(struct nn_model *m, const struct vkg_optim_desc *od, float lr, int steps, double *steps_per_s);
#endif
