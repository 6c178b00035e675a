/* MPI for data-parallel training (nn/dist.h). Only this file calls MPI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "nn/dist.h"

#ifdef VKGEN_HAVE_MPI
#include <mpi.h>
#endif

static int inited, size_ = 1, rank_, local_rank_;
static vkg_status init_status;

/* The size of the job this process was started in by a launcher (Open MPI's mpirun sets
 * OMPI_COMM_WORLD_SIZE; PMIx launchers such as srun set PMIX_RANK), or 0 when it runs alone. */
static int launcher_size(void) {
  const char *s = getenv("OMPI_COMM_WORLD_SIZE");
  if (s && atoi(s) > 0) return atoi(s);
  return getenv("PMIX_RANK") || getenv("PMI_RANK") ? 1 : 0;
}

int nn_dist_built(void) {
#ifdef VKGEN_HAVE_MPI
  return 1;
#else
  return 0;
#endif
}

#ifdef VKGEN_HAVE_MPI
static void finalize(void) {
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

static vkg_status mpi_fail(const char *what, int rc) {
  char msg[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return vkg__fail(VKG_ERR_IO, "rank %d: %s failed: %s", rank_, what, msg);
}
#endif

vkg_status nn_dist_init(void) {
  if (inited) return init_status;
  inited = 1;
  int n = launcher_size();
#ifndef VKGEN_HAVE_MPI
  if (n > 1) {
    init_status = vkg__fail(VKG_ERR_UNSUPPORTED,
                            "this vkgen was built without MPI, but it is one of %d processes started by mpirun", n);
    vkg__hint("install libopenmpi-dev and rebuild (cmake -DVKGEN_MPI=ON) for data-parallel training, or run it "
              "without mpirun");
  }
  return init_status;
#else
  if (n == 0) return VKG_OK; /* alone: no MPI at all */
  int rc = MPI_Init(NULL, NULL);
  if (rc != MPI_SUCCESS) return init_status = mpi_fail("MPI_Init", rc);
  atexit(finalize);
  /* Errors come back as codes (and end in nn_dist_abort with a message) instead of aborting in MPI. */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm local;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_free(&local);
  }
  return VKG_OK;
#endif
}

int nn_dist_size(void) { return size_; }
int nn_dist_rank(void) { return rank_; }
int nn_dist_local_rank(void) { return local_rank_; }

vkg_status nn_dist_mean(float *x, size_t n) {
  if (size_ == 1) return VKG_OK;
#ifdef VKGEN_HAVE_MPI
  /* In chunks: MPI counts are ints. */
  for (size_t done = 0; done < n;) {
    int c = n - done > (1u << 30) ? 1 << 30 : (int)(n - done);
    int rc = MPI_Allreduce(MPI_IN_PLACE, x + done, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail("MPI_Allreduce", rc);
    done += (size_t)c;
  }
  float inv = 1.0f / (float)size_;
  for (size_t i = 0; i < n; i++)
    x[i] *= inv;
#endif
  return VKG_OK;
}

vkg_status nn_dist_max(int *x, int n) {
  if (size_ == 1) return VKG_OK;
#ifdef VKGEN_HAVE_MPI
  int rc = MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return mpi_fail("MPI_Allreduce", rc);
#else
  (void)x, (void)n;
#endif
  return VKG_OK;
}

vkg_status nn_dist_bcast(void *buf, size_t bytes) {
  if (size_ == 1) return VKG_OK;
#ifdef VKGEN_HAVE_MPI
  for (size_t done = 0; done < bytes;) {
    int c = bytes - done > (1u << 30) ? 1 << 30 : (int)(bytes - done);
    int rc = MPI_Bcast((char *)buf + done, c, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail("MPI_Bcast", rc);
    done += (size_t)c;
  }
#else
  (void)buf, (void)bytes;
#endif
  return VKG_OK;
}

vkg_status nn_dist_barrier(void) {
  if (size_ == 1) return VKG_OK;
#ifdef VKGEN_HAVE_MPI
  MPI_Request req;
  int rc = MPI_Ibarrier(MPI_COMM_WORLD, &req), done = 0;
  while (rc == MPI_SUCCESS && !done) {
    rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (!done) nanosleep(&(struct timespec){0, 500000}, NULL); /* 0.5 ms */
  }
  if (rc != MPI_SUCCESS) return mpi_fail("MPI_Ibarrier", rc);
#endif
  return VKG_OK;
}

vkg_status nn_dist_gather_u64(uint64_t v, uint64_t *all) {
  all[0] = v;
  if (size_ == 1) return VKG_OK;
#ifdef VKGEN_HAVE_MPI
  int rc = MPI_Allgather(&v, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return mpi_fail("MPI_Allgather", rc);
#endif
  return VKG_OK;
}

void nn_dist_abort(int code) {
  if (size_ == 1) return;
#ifdef VKGEN_HAVE_MPI
  fprintf(stderr, "error: rank %d of %d failed; ending the job\n", rank_, size_);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
#else
  (void)code;
#endif
  exit(code ? code : 1);
}
