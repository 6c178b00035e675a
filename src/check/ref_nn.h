/* Plain-C references for softmax, layernorm, batchnorm, embedding and attention, forward and
 * backward. Shape letters as in vkgen.h; S is the product of batchnorm's spatial dims.
 *
 * Each op is computed once, in double precision (the *_d functions); the float versions used by
 * the forward tests convert their arguments and call them. The backward references (*_bwd), also
 * in double, ADD their gradients to the arrays given (NULL: that gradient is not wanted); they are
 * written from the derivatives, independently of the GPU's way of computing them. */
#ifndef VKGEN_REF_NN_H
#define VKGEN_REF_NN_H
#include <stdint.h>

/* y (rows, C) = softmax or, with log_, log-softmax of each row of x (rows, C). */
void ref_softmax(float *y, const float *x, int rows, int C, int log_);
void ref_softmax_d(double *y, const double *x, int rows, int C, int log_);
/* dx (rows, C) += gradient of softmax / log-softmax at x given dy (rows, C). */
void ref_softmax_bwd(double *dx, const double *x, const double *dy, int rows, int C, int log_);
/* The mean cross-entropy of logits x (rows, C) with labels (rows; as doubles), over the rows whose label
 * is in [0, C) and not ignore (0 when none is); dx (rows, C) += its gradient times gy. */
double ref_cross_entropy_d(const double *x, const double *labels, int rows, int C, int ignore);
void ref_cross_entropy_bwd(double *dx, const double *x, const double *labels, double gy, int rows, int C, int ignore);

/* y (rows, C) = layernorm of each row; gamma, beta (C) or NULL; mean, rstd (rows) or NULL. */
void ref_layernorm(float *y, float *mean, float *rstd, const float *x, const float *gamma, const float *beta, int rows,
                   int C, float eps);
void ref_layernorm_d(double *y, double *mean, double *rstd, const double *x, const double *gamma, const double *beta,
                     int rows, int C, double eps);
/* dx (rows, C), dgamma, dbeta (C) += gradients of layernorm given dy (rows, C); gamma may be NULL. */
void ref_layernorm_bwd(double *dx, double *dgamma, double *dbeta, const double *x, const double *gamma,
                       const double *dy, int rows, int C, double eps);

/* y (B, C, S) = batchnorm of x (B, C, S). training: batch statistics, and when run_mean/run_var are
 * not NULL they are updated in place (momentum, unbiased variance); mean, rstd (C) get the batch
 * statistics when not NULL. Inference: normalizes with run_mean/run_var. gamma, beta (C) or NULL. */
void ref_batchnorm(float *y, float *mean, float *rstd, float *run_mean, float *run_var, const float *x,
                   const float *gamma, const float *beta, int B, int C, int S, float momentum, float eps, int training);
void ref_batchnorm_d(double *y, double *mean, double *rstd, double *run_mean, double *run_var, const double *x,
                     const double *gamma, const double *beta, int B, int C, int S, double momentum, double eps,
                     int training);
/* dx (B, C, S), dgamma, dbeta (C) += gradients of batchnorm given dy (B, C, S). training: through the
 * batch statistics; inference: run_mean/run_var are constants. The running-statistics update is not
 * differentiated. gamma may be NULL. */
void ref_batchnorm_bwd(double *dx, double *dgamma, double *dbeta, const double *x, const double *gamma,
                       const double *run_mean, const double *run_var, const double *dy, int B, int C, int S, double eps,
                       int training);

/* out (n, C) = table (V, C) rows picked by ids (n); out-of-range ids give zeros. */
void ref_embedding(float *out, const float *table, const int32_t *ids, int n, int V, int C);
void ref_embedding_d(double *out, const double *table, const int32_t *ids, int n, int V, int C);
/* dtable (V, C) += the rows of dy (n, C) added up by id; out-of-range ids add nothing. */
void ref_embedding_bwd(double *dtable, const int32_t *ids, const double *dy, int n, int V, int C);

/* o (B, NH, Tq, Dv), lse (B, NH, Tq) or NULL from q (B, NH, Tq, D), k (B, NH, Tk, D), v (B, NH, Tk, Dv).
 * scale <= 0 means 1/sqrt(D); causal: query i at position Tk - Tq + i sees keys at positions <= it. */
void ref_attention(float *o, float *lse, const float *q, const float *k, const float *v, int B, int NH, int Tq, int Tk,
                   int D, int Dv, float scale, int causal);
void ref_attention_d(double *o, double *lse, const double *q, const double *k, const double *v, int B, int NH, int Tq,
                     int Tk, int D, int Dv, double scale, int causal);
/* dq, dk, dv (shaped as q, k, v) += gradients of attention given dO (B, NH, Tq, Dv). */
void ref_attention_bwd(double *dq, double *dk, double *dv, const double *q, const double *k, const double *v,
                       const double *dO, int B, int NH, int Tq, int Tk, int D, int Dv, double scale, int causal);
#endif
