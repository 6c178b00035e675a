/* Plain-C references for matmul and the elementwise ops, forward and backward, in double precision.
 * Shape letters as in vkgen.h. The float versions used by forward tests convert and call the double
 * ones, so each op is computed in one place. Backward references ADD their gradients to the arrays
 * given (NULL: that gradient is not wanted); they are written from the derivatives, independently of
 * the GPU's way of computing them. */
#ifndef VKGEN_REF_BASIC_H
#define VKGEN_REF_BASIC_H
#include <stddef.h>

#include "vkgen.h"

// ---- matmul ----

/* c (batch, M, N) = a (batch|1, M, K or K, M) * b (batch|1, K, N or N, K) + bias (N) or NULL.
 * a_batched / b_batched: 0 if the operand repeats for every batch entry. */
void ref_matmul_d(double *c, const double *a, const double *b, const double *bias, int batch, int M, int N, int K,
                  int trans_a, int trans_b, int a_batched, int b_batched);
/* ga, gb, gbias (shaped as a, b, bias) += gradients of sum(c * gc). */
void ref_matmul_bwd(double *ga, double *gb, double *gbias, const double *a, const double *b, const double *gc,
                    int batch, int M, int N, int K, int trans_a, int trans_b, int a_batched, int b_batched);
void ref_matmul(float *c, const float *a, const float *b, const float *bias, int batch, int M, int N, int K,
                int trans_a, int trans_b, int a_batched, int b_batched);

// ---- elementwise ----

double ref_unop_d(vkg_unop op, double x, double alpha, double beta);
/* d op(x) / dx */
double ref_unop_grad(vkg_unop op, double x, double alpha);
float ref_unop(vkg_unop op, float x, float alpha, float beta);

/* maximum / minimum pick x on ties, and so does their gradient. */
double ref_binop_d(vkg_binop op, double x, double y);
/* *gx, *gy = the partial derivatives of x (op) y. */
void ref_binop_grad(vkg_binop op, double x, double y, double *gx, double *gy);
float ref_binop(vkg_binop op, float x, float y);

/* NumPy broadcasting of shapes a (and_ dims) and b (bnd dims): the output shape goes to oshape, its
 * ndim is returned. */
int ref_broadcast_shape(int *oshape, const int *ashape, int and_, const int *bshape, int bnd);
/* The index in an operand of shape s (nd dims) of output element e (output shape os, ond dims). */
size_t ref_broadcast_index(size_t e, const int *os, int ond, const int *s, int nd);
/* out = a (op) b with broadcasting; returns the output ndim (its shape goes to oshape). */
int ref_binary_d(vkg_binop op, double *out, int *oshape, const double *a, const int *ashape, int and_, const double *b,
                 const int *bshape, int bnd);
/* ga (a's shape), gb (b's shape) += gradients of sum(out * gout); broadcast dims are summed. */
void ref_binary_bwd(vkg_binop op, double *ga, double *gb, const double *a, const int *ashape, int and_, const double *b,
                    const int *bshape, int bnd, const double *gout);
int ref_binary(vkg_binop op, float *out, int *oshape, const float *a, const int *ashape, int and_, const float *b,
               const int *bshape, int bnd);
#endif
