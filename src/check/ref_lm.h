/* Plain-C references for the decoding ops (gather_at, scatter_at, attention_cached) and top-p
 * sampling. A tensor is seen as (outer, A, inner) around its axis. */
#ifndef VKGEN_REF_LM_H
#define VKGEN_REF_LM_H
#include <stddef.h>
#include <stdint.h>

/* out (outer, len, inner) = x (outer, A, inner) at positions at + j; outside [0, A): 0. */
void ref_gather_at(uint32_t *out, const uint32_t *x, int outer, int A, int inner, int at, int len);
/* dst (outer, A, inner) at positions at + j = src (outer, J, inner), for positions in [max(lo, 0), A). */
void ref_scatter_at(uint32_t *dst, const uint32_t *src, int outer, int A, int inner, int J, int at, int lo);
/* Causal attention of q (B, NH, Tq, D) over the first L positions of caches k (B, NH, Tmax, D) and
 * v (B, NH, Tmax, Dv), query i at position L - Tq + i; rows that see no key are zero. */
void ref_attention_cached(float *o, const float *q, const float *k, const float *v, int B, int NH, int Tq, int Tmax,
                          int D, int Dv, float scale, int L);
/* keep[i] for the tokens top-p keeps among weights w (V, 0 = already dropped): those whose weight is
 * >= the largest threshold t with sum(w >= t) >= p * sum(w). Returns the count. */
int ref_topp_keep(const double *w, int V, double p, unsigned char *keep);
/* max |a - b| / max |b| over n values (infinite if any difference is NaN). */
double ref_rel_err(const float *a, const float *b, size_t n);
/* What greedy decoding must agree on with the full forward of the sequence it produced: tokens
 * (B, T) from a prompt (B, plen); step (B, T, V) the logits each decoding step gave for positions
 * 0 .. T-2, full (B, T, V) the full forward's. */
struct ref_decode_check {
  int same_prompt; /* the prompt is kept */
  int greedy;      /* every drawn token is the argmax of the full forward one position earlier */
  double err;      /* max over rows of ref_rel_err(step, full) over positions 0 .. T-2 */
};
struct ref_decode_check ref_decode_check(const int32_t *tokens, const int32_t *prompt, int plen, const float *step,
                                         const float *full, int B, int T, int V);
#endif
