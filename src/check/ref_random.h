/* Plain-C references for the random ops: Philox-4x32-10, the uniform and normal fills built on it,
 * and the token sampler. They follow the conventions of src/ops/random.c: key = (seed, 0), counter =
 * (block, stream, 0, 0); fills use block = element / 4 and word element % 4; the sampler uses block
 * = row and word 0. Shape letters: V vocabulary. */
#ifndef VKGEN_REF_RANDOM_H
#define VKGEN_REF_RANDOM_H
#include <stddef.h>
#include <stdint.h>

/* out = Philox-4x32-10(counter ctr, key key). */
void ref_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* The raw word that element e of a fill (or row e of a sampler, with word 0) gets. */
uint32_t ref_random_word(uint32_t seed, uint32_t stream, uint32_t block, int word);
/* Top 24 bits as a float in [0, 1), and (those + 1) / 2^24 in (0, 1]. */
float ref_u01(uint32_t x);
float ref_u01_open0(uint32_t x);
/* The fills, exactly as the shader computes them (uniform: bit-exact; normal: in double). */
void ref_random_uniform(float *out, size_t n, uint32_t seed, uint32_t stream, float lo, float hi);
void ref_random_normal(float *out, size_t n, uint32_t seed, uint32_t stream, float mean, float std);
/* The u a sampler row draws. */
float ref_sample_u(uint32_t seed, uint32_t stream, uint32_t row);

/* keep[i] = 1 for the top_k largest logits (0 or >= V: all): those above the k-th largest value,
 * then those equal to it in index order until k are kept. Returns the number kept. */
int ref_topk_keep(const float *x, int V, unsigned top_k, unsigned char *keep);
/* Draws from logits x (V) with u in [0, 1): temperature <= 0 is argmax (ties -> lowest index);
 * otherwise the first kept index whose cumulative weight exp((x_i - max) / T) (1 for x_i == max)
 * exceeds u * total, in double. w (V, or NULL) gets the weights, 0 for tokens not kept. */
int ref_sample(const float *x, int V, float temperature, unsigned top_k, double u, double *w);
#endif
