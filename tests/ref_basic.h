/* Plain-C references for matmul and elementwise ops. Shape letters as in vkgen.h. */
#ifndef VKGEN_REF_BASIC_H
#define VKGEN_REF_BASIC_H
#include "vkgen.h"

/* c (batch, M, N) = a (batch|1, M, K or K, M) * b (batch|1, K, N or N, K) + bias (N) or NULL.
 * a_batched / b_batched: 0 if the operand repeats for every batch entry. */
void ref_matmul(float *c, const float *a, const float *b, const float *bias, int batch, int M, int N, int K,
                int trans_a, int trans_b, int a_batched, int b_batched);
float ref_binop(vkg_binop op, float x, float y);
float ref_unop(vkg_unop op, float x, float alpha, float beta);
/* out = a (op) b with NumPy broadcasting; out shape written to oshape, returns its ndim. */
int ref_binary(vkg_binop op, float *out, int *oshape, const float *a, const int *ashape, int and_, const float *b,
               const int *bshape, int bnd);
#endif
