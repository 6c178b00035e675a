/* Weights files, written and read once for every family: a safetensors file whose metadata holds
 * format ("vkgen-weights", or "vkgen-checkpoint" for the training loop's checkpoints, which add the
 * optimizer state), model (the family's name) and config (its config table's JSON), and whose
 * tensors are the model's parameters under their names.
 *
 * Reading checks the file against the model it is meant for, before the model is built: another
 * family's file, a config that does not parse or is out of range, a tensor the model needs but the
 * file lacks, a shape that differs, and a tensor in the file that the model does not use are each an
 * error naming the file and the field or tensor. Parameters are checked one by one as the family
 * declares them (nn_params_expect), so a config claiming more layers than the file holds fails at the
 * first missing tensor instead of after allocating them all. */
#ifndef VKGEN_NN_WEIGHTS_H
#define VKGEN_NN_WEIGHTS_H
#include "nn/config.h"
#include "nn/nn.h"

/* Writes p as a weights file of `model` with cfg (through table c) as its config; atomically. */
vkg_status nn_weights_save(const char *path, const char *model, const struct nn_cfg *c, const void *cfg,
                           const struct nn_params *p);
/* Adds the metadata format/model/config to w (the training loop's checkpoints use it too). */
vkg_status nn_weights_metadata(vkg_st_writer *w, const char *format, const char *model, const struct nn_cfg *c,
                               const void *cfg);

/* Opens a weights file or checkpoint of `model` and parses its config into cfg (table c). *st stays
 * open for nn_weights_load; close it with vkg_st_close. Errors (VKG_ERR_FORMAT for a file that is not
 * one of model's, VKG_ERR_IO for one that cannot be read) name the file and come with a hint. */
vkg_status nn_weights_open(const char *path, const char *model, const struct nn_cfg *c, void *cfg, vkg_st **st);

/* From now on, nn_param(p, ...) checks each new parameter against st (path for messages) before
 * allocating it: the tensor must be in the file with the same shape. */
void nn_params_expect(struct nn_params *p, const vkg_st *st, const char *path);
/* Loads every parameter of p from st, then refuses a tensor of st that p does not have (a checkpoint's
 * optimizer state "optim.*" aside). */
vkg_status nn_weights_load(struct nn_params *p, const vkg_st *st, const char *path);
/* nn_param's check (internal): VKG_ERR_FORMAT naming the tensor if st lacks it or has another shape. */
vkg_status nn__param_expected(const struct nn_params *p, const char *name, int ndim, const int *shape);
#endif
