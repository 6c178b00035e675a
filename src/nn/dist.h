/* Data-parallel training over MPI: one process ("rank") per GPU, each with its own device and its
 * slice of every global batch; the gradients are averaged through host memory with MPI_Allreduce
 * before every optimizer step, so every rank applies the same update and holds the same weights.
 * Rank 0 alone writes files and progress (docs/MULTI_GPU.md).
 *
 * Without MPI built in, or when the process was not started by mpirun, there is one rank and every
 * function here is a no-op, so the single-process path is unchanged. */
#ifndef VKGEN_NN_DIST_H
#define VKGEN_NN_DIST_H
#include <stddef.h>
#include <stdint.h>

#include "vkgen.h"

/* 1 when this binary was built with MPI. */
int nn_dist_built(void);
/* Joins the MPI job when the process was started by mpirun (MPI_Init; MPI_Finalize at exit); alone it
 * does nothing. A build without MPI started by mpirun with several processes is refused (each would
 * train alone and write the same files). Call it once before anything else of this file; later calls
 * return the first call's status. */
vkg_status nn_dist_init(void);
int nn_dist_size(void);       /* ranks in the job: 1 when not distributed */
int nn_dist_rank(void);       /* 0 .. size - 1 */
int nn_dist_local_rank(void); /* this rank's number among the ranks on its machine */
/* x[0..n) becomes the mean over the ranks of every rank's x (MPI_Allreduce sum, then / size). */
vkg_status nn_dist_mean(float *x, size_t n);
/* x[0..n) becomes the maximum over the ranks. */
vkg_status nn_dist_max(int *x, int n);
/* Rank 0's bytes to every rank. */
vkg_status nn_dist_bcast(void *buf, size_t bytes);
/* Waits until every rank got here, sleeping rather than spinning (MPI's blocking calls poll with the
 * CPU): for the other ranks while rank 0 evaluates or writes files, which on a CPU device (lavapipe)
 * would otherwise share the cores with the spinning ranks. */
vkg_status nn_dist_barrier(void);
/* Every rank's v into all[0..size). */
vkg_status nn_dist_gather_u64(uint64_t v, uint64_t *all);
/* Ends the whole job (MPI_Abort) after this rank failed, so that no other rank waits for it forever.
 * Returns only when not distributed. */
void nn_dist_abort(int code);
#endif
