/* The op cases: one table that says, for every op, how to build it on a graph, its plain-C reference
 * (forward, and backward where the op has a gradient), the small awkward shapes it is tested on, the
 * sizes it is timed at, tolerances, FLOPs and bytes. The tests (tests/test_op_cases.c), `vkgen
 * selfcheck`, `vkgen dev OP` and `vkgen bench ops` all read it, so an op has exactly one reference
 * and one list of cases. Adding an op: its shaders and launcher, one entry in op_cases.c (make,
 * build, fwd, bwd), and its reference in a ref_*.c of this directory.
 *
 * The references work in double: inputs are the float values written to the GPU (i32 inputs as whole
 * numbers), and a backward ADDS the gradients of sum(y * gy) into gin[i] (NULL: not wanted). */
#ifndef VKGEN_OP_CASES_H
#define VKGEN_OP_CASES_H
#include <stddef.h>
#include <stdint.h>

#include "vkgen.h"

#define OPC_MAX_IN 5

struct opc_input {
  vkg_dtype dtype; /* VKG_F32, or VKG_I32 for ids (filled with whole numbers in [lo, hi)) */
  int ndim, shape[VKG_MAX_DIMS];
  float lo, hi; /* random values in [lo, hi) */
  int no_grad;  /* an f32 input the gradient check leaves out (e.g. running statistics) */
};

/* What a device allows, for cases that resize themselves to fit. */
struct opc_limits {
  uint64_t max_binding;   /* maxStorageBufferRange: the largest tensor one op may bind */
  uint64_t device_memory; /* the largest device-local heap */
};

struct opc_op;

/* One case of an op. p and f are the op's own attributes (their meaning is written by each op). */
struct opc {
  const struct opc_op *op;
  char label[80]; /* shapes and attributes, for people */
  char note[128]; /* why a bench case was resized to fit the device (empty if it was not) */
  int nin;
  struct opc_input in[OPC_MAX_IN];
  int p[12];
  float f[4];
  int out_i32;         /* the output is i32 (token ids) */
  double atol, rtol;   /* forward: |got - ref| <= atol + rtol |ref| */
  double fd_eps;       /* gradient check's finite-difference step (0: its default) */
  double flops, bytes; /* per run, for bench ops; flops 0: the op is memory-bound (report GB/s) */
};

struct opc_op {
  const char *name;
  const char *shaders; /* the shaders `vkgen dev` asks you to edit */
  int sizes[3];        /* bench sizes (what a size means is the op's); the first is --quick's */
  /* Fills c with test case k (size 0; returns 0 when there is no case k) or the bench case of that
   * size (k unused), resized to fit lim when the device is too small (with a note). */
  int (*make)(struct opc *c, int k, int size, const struct opc_limits *lim);
  /* Builds the op on g from the inputs; returns its output. May set scalars. */
  vkg_t (*build)(vkg_graph *g, const struct opc *c, const vkg_t *in);
  /* y = op(in) in double; n is y's element count. */
  void (*fwd)(const struct opc *c, double *const *in, double *y, size_t n);
  /* gin[i] += d sum(y * gy) / d in[i]; NULL: the op has no gradient. */
  void (*bwd)(const struct opc *c, double *const *in, const double *gy, double **gin, size_t n);
};

/* The table, and an op by name (NULL if none). */
const struct opc_op *opc_ops(int *count);
const struct opc_op *opc_find(const char *name);
/* The names of all ops, comma-separated, for help and hints. */
const char *opc_names(void);
struct opc_limits opc_limits_of(const vkg_ctx *ctx);
/* Test case k of op (0 past the last), or its bench case of that size. */
int opc_case(const struct opc_op *op, int k, int size, const struct opc_limits *lim, struct opc *c);
size_t opc_numel(const struct opc_input *in);

/* A case built on a compiled graph with random inputs written, and (optionally) its reference. */
struct opc_run {
  struct opc c;
  vkg_graph *g;
  vkg_t in[OPC_MAX_IN], out;
  float *host[OPC_MAX_IN]; /* the input values written (ids as whole numbers) */
  size_t nout;
  double *ref; /* the reference output, or NULL */
  float *got;
};

/* Builds and compiles the case, writes random inputs drawn from seed and, if with_ref, computes the
 * reference. On failure r holds nothing to release and vkg_last_error() says why: VKG_ERR_UNSUPPORTED
 * when a tensor is over the device's binding limit, VKG_ERR_OOM when memory runs out. */
vkg_status opc_run_init(struct opc_run *r, vkg_ctx *ctx, const struct opc *c, uint64_t seed, int with_ref);
/* Poisons the graph, runs it and compares the output with the reference: *max_err is the largest
 * |got - ref| (infinite for NaN), *pass whether every element is within tolerance. */
vkg_status opc_run_check(struct opc_run *r, double *max_err, int *pass);
/* The median milliseconds of reps timed runs (GPU timestamps where the device has them). */
vkg_status opc_run_time(struct opc_run *r, int reps, double *ms);
void opc_run_release(struct opc_run *r);
#endif
