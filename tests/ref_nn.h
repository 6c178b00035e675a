/* Plain-C references for softmax, layernorm, batchnorm, embedding and attention (double
 * accumulation). Shape letters as in vkgen.h; S is the product of batchnorm's spatial dims. */
#ifndef VKGEN_REF_NN_H
#define VKGEN_REF_NN_H
#include <stdint.h>

/* y (rows, C) = softmax or, with log_, log-softmax of each row of x (rows, C). */
void ref_softmax(float *y, const float *x, int rows, int C, int log_);
/* y (rows, C) = layernorm of each row; gamma, beta (C) or NULL; mean, rstd (rows) or NULL. */
void ref_layernorm(float *y, float *mean, float *rstd, const float *x, const float *gamma, const float *beta, int rows,
                   int C, float eps);
/* y (B, C, S) = batchnorm of x (B, C, S). training: batch statistics, and when run_mean/run_var are
 * not NULL they are updated in place (momentum, unbiased variance); mean, rstd (C) get the batch
 * statistics when not NULL. Inference: normalizes with run_mean/run_var. gamma, beta (C) or NULL. */
void ref_batchnorm(float *y, float *mean, float *rstd, float *run_mean, float *run_var, const float *x,
                   const float *gamma, const float *beta, int B, int C, int S, float momentum, float eps, int training);
/* out (n, C) = table (V, C) rows picked by ids (n); out-of-range ids give zeros. */
void ref_embedding(float *out, const float *table, const int32_t *ids, int n, int V, int C);
/* o (B, NH, Tq, Dv), lse (B, NH, Tq) or NULL from q (B, NH, Tq, D), k (B, NH, Tk, D), v (B, NH, Tk, Dv).
 * scale <= 0 means 1/sqrt(D); causal: query i at position Tk - Tq + i sees keys at positions <= it. */
void ref_attention(float *o, float *lse, const float *q, const float *k, const float *v, int B, int NH, int Tq, int Tk,
                   int D, int Dv, float scale, int causal);
#endif
