/* Test harness: a validated context, seeded random data, tolerance checks, and the closing line.
 * Every test program ends with th_finish(), which fails the test on any mismatch or any
 * validation-layer message. */
#ifndef VKGEN_TEST_HARNESS_H
#define VKGEN_TEST_HARNESS_H
#include <stddef.h>
#include <stdint.h>

#include "vkgen.h"

/* A context on $VKGEN_DEVICE (or the default device) with the validation layer on. */
vkg_ctx *th_ctx(void);
/* Prints "N passed, N failed", destroys ctx, returns the exit code (nonzero on any failure or any
 * validation message). */
int th_finish(vkg_ctx *ctx);

/* Deterministic random numbers (xorshift64*), reseeded by th_seed. */
void th_seed(uint64_t s);
float th_uniform(float lo, float hi);
float th_normal(void);
void th_fill(float *x, size_t n, float lo, float hi);
float *th_alloc(size_t n); /* calloc that aborts on failure */

/* Records one check: |got - ref| <= atol + rtol * |ref| for every element (NaN never passes).
 * Prints the worst element on failure. Returns 1 if it passed. */
int th_close(const char *what, const float *got, const float *ref, size_t n, float atol, float rtol);
/* Records a yes/no check with a message. */
int th_check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Checks a call's status is VKG_OK (prints vkg_last_error otherwise). */
int th_ok(vkg_status s, const char *what);

/* A fresh temporary directory for this test program, made on first use and removed with everything
 * in it by th_finish(). */
const char *th_tmpdir(void);
/* th_tmpdir()/name, in one of 8 rotating buffers. */
char *th_tmppath(const char *name);
/* Runs a PyTorch twin, `/usr/bin/python3 TOOL MODE ARG`, as one check named `what`; when Debian's
 * python3-torch (or numpy) is missing, says so and checks nothing. */
void th_twin(const char *tool, const char *mode, const char *arg, const char *what);
/* A whole file in a malloc'd buffer with a NUL after it (*n gets its size if n is not NULL);
 * NULL if it cannot be opened. */
void *th_read_file(const char *path, size_t *n);
/* Writes a whole file, or ends the test program with a message. */
void th_write_file(const char *path, const void *data, size_t n);

/* Poisons the graph's computed tensors with NaN, then runs it. */
vkg_status th_run(vkg_graph *g);

/* A graph input filled with random values in [lo, hi); *host gets the host copy, which the harness
 * owns and frees in th_finish(). */
vkg_t th_input(vkg_graph *g, int ndim, const int *shape, float lo, float hi, float **host);
/* Writes the random host data of every th_input made in g (after compile). */
vkg_status th_write_inputs(vkg_graph *g);
#endif
