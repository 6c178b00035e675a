/* Fast WaveNet generation (see wavenet.h): K steps unrolled in one recorded graph, per-layer queues of
 * past inputs in persistent tensors, sampling on the GPU. Shape letters: B batch, K steps per
 * submission, R residual, D gate, S skip channels, Q classes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "models/wavenet.h"
#include "nn/progress.h"

struct wavenet_gen {
  struct wavenet_config c;
  int B, K, L, keep;
  vkg_graph *g;
  vkg_tensor *queue[WAVENET_MAX_LAYERS]; /* (B, R, d_l + K): inputs t - d_l .. t + K - 1 of layer l */
  vkg_t tok, cls, lg, tok_out, lg_out;
  int seed_slot, temp_slot, lo_slot;
  int32_t *tb;            /* (B, K + 1) host copy of the chunk's inputs */
  struct nn_progress *pg; /* advanced by the steps done, or NULL */
};

void wavenet_gen_progress(struct wavenet_gen *w, struct nn_progress *pg) { w->pg = pg; }

static vkg_t conv1x1(vkg_graph *g, vkg_t x, vkg_t w, vkg_t b) { return vkg_conv1d(g, x, w, b, 1, 0, 1, 1, 0); }

/* The graph: K steps, then the queues' shift. */
static void build(struct wavenet_gen *w, const struct wavenet_ids *ids, const vkg_t *p, const vkg_t *q) {
  vkg_graph *g = w->g;
  const struct wavenet_config *c = &w->c;
  int B = w->B, K = w->K, R = c->residual, D = c->gate;
  int ts[2] = {B, K + 1}, cs[1] = {B}, hs[3] = {B, R, 1}, ls[3] = {B, K, WAVENET_Q}, qs[2] = {B, WAVENET_Q};
  int one[2] = {B, 1}, lone[3] = {B, 1, WAVENET_Q};
  w->tok = vkg_input(g, "tok", VKG_I32, 2, ts);
  w->seed_slot = vkg_scalar(g, "seed"), w->temp_slot = vkg_scalar(g, "temperature"), w->lo_slot = vkg_scalar(g, "lo");
  vkg_t bias[WAVENET_MAX_LAYERS]; /* the class's vector per layer, (B, 2D, 1), once per submission */
  if (c->classes) {
    w->cls = vkg_input(g, "class", VKG_I32, 1, cs);
    for (int l = 0; l < w->L; l++) {
      int es[3] = {B, 2 * D, 1};
      bias[l] = vkg_reshape(g, vkg_embedding(g, p[ids->cond[l]], w->cls), 3, es);
    }
  }
  vkg_t qid[WAVENET_MAX_LAYERS], tok = w->tok, lg = VKG_NONE;
  for (int l = 0; l < w->L; l++)
    qid[l] = q[l];
  if (w->keep) lg = w->lg = vkg_input(g, "logits", VKG_F32, 3, ls);
  for (int k = 0; k < K; k++) {
    vkg_t h = vkg_reshape(g, vkg_embedding(g, p[ids->embed], vkg_slice(g, tok, 1, k, k + 1)), 3, hs); // (B, R, 1)
    vkg_t skip = VKG_NONE;
    for (int l = 0; l < w->L; l++) {
      int d = wavenet_dilation(c, l);
      /* The kernel-2 dilated convolution at t sees input t - d (from the queue) and input t. */
      vkg_t pair[2] = {vkg_slice(g, qid[l], 2, k, k + 1), h};
      vkg_t z = vkg_conv1d(g, vkg_concat(g, 2, pair, 2), p[ids->dil_w[l]], p[ids->dil_b[l]], 1, 0, 1, 1, 0);
      qid[l] = vkg_scatter_at(g, qid[l], h, 2, -1, d + k, -1); /* input t joins the queue */
      if (c->classes) z = vkg_binary(g, VKG_ADD, z, bias[l]);
      vkg_t u = vkg_binary(g, VKG_MUL, vkg_unary(g, VKG_TANH, vkg_slice(g, z, 1, 0, D), 0, 0),
                           vkg_unary(g, VKG_SIGMOID, vkg_slice(g, z, 1, D, 2 * D), 0, 0)); // (B, D, 1)
      vkg_t sk = conv1x1(g, u, p[ids->skip_w[l]], p[ids->skip_b[l]]);
      skip = skip == VKG_NONE ? sk : vkg_binary(g, VKG_ADD, skip, sk);
      if (l < w->L - 1) h = vkg_binary(g, VKG_ADD, h, conv1x1(g, u, p[ids->res_w[l]], p[ids->res_b[l]]));
    }
    vkg_t o = conv1x1(g, vkg_unary(g, VKG_RELU, skip, 0, 0), p[ids->out1_w], p[ids->out1_b]);
    o = vkg_reshape(g, conv1x1(g, vkg_unary(g, VKG_RELU, o, 0, 0), p[ids->out2_w], p[ids->out2_b]), 2, qs); // (B, Q)
    if (w->keep) lg = vkg_scatter_at(g, lg, vkg_reshape(g, o, 3, lone), 1, -1, k, -1);
    vkg_t draw = vkg_sample_logits(g, o, w->seed_slot, w->temp_slot, -1); // (B)
    /* The draw becomes input t + 1, unless that position holds a forced (prime) sample. */
    tok = vkg_scatter_at(g, tok, vkg_reshape(g, draw, 2, one), 1, -1, k + 1, w->lo_slot);
  }
  /* The queues' last d inputs move to the front for the next K steps. */
  for (int l = 0; l < w->L; l++) {
    int d = wavenet_dilation(c, l);
    vkg_t keep = vkg_unary(g, VKG_AFFINE, vkg_slice(g, qid[l], 2, K, K + d), 1, 0);
    vkg_output(g, vkg_scatter_at(g, qid[l], keep, 2, -1, 0, -1)); /* kept: nothing else reads it */
  }
  w->tok_out = tok, w->lg_out = lg;
  vkg_output(g, tok);
  if (w->keep) vkg_output(g, lg);
}

vkg_status wavenet_gen_create(const struct wavenet_config *c, const struct nn_params *p, const struct wavenet_ids *ids,
                              int B, int K, int keep_logits, struct wavenet_gen **out) {
  *out = NULL;
  if (B < 1 || K < 1) return vkg__fail(VKG_ERR_ARG, "wavenet generator: batch and steps must be positive");
  struct wavenet_gen *w = calloc(1, sizeof *w);
  vkg_t *pid = calloc((size_t)p->n, sizeof *pid);
  if (!w || !pid) {
    free(w), free(pid);
    return vkg__fail(VKG_ERR_OOM, "out of host memory");
  }
  w->c = *c, w->B = B, w->K = K, w->L = wavenet_layers(c), w->keep = keep_logits;
  w->tb = calloc((size_t)B * (size_t)(K + 1), sizeof *w->tb);
  vkg_status s = w->tb ? VKG_OK : vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_t q[WAVENET_MAX_LAYERS];
  if (!s) s = vkg_graph_create(p->ctx, &w->g);
  for (int l = 0; l < w->L && !s; l++) {
    int qs[3] = {B, c->residual, wavenet_dilation(c, l) + K};
    s = vkg_tensor_create(p->ctx, VKG_F32, 3, qs, &w->queue[l]);
    if (!s) q[l] = vkg_bind(w->g, w->queue[l]);
  }
  if (!s) {
    nn_bind_all(w->g, p, -1, pid);
    build(w, ids, pid, q);
    s = vkg_graph_compile(w->g);
  }
  free(pid);
  if (s) {
    wavenet_gen_destroy(w);
    return s;
  }
  *out = w;
  return VKG_OK;
}

void wavenet_gen_destroy(struct wavenet_gen *w) {
  if (!w) return;
  vkg_graph_destroy(w->g);
  for (int l = 0; l < w->L; l++)
    vkg_tensor_destroy(w->queue[l]);
  free(w->tb);
  free(w);
}

vkg_status wavenet_generate(struct wavenet_gen *w, size_t n, const int32_t *forced, size_t n_forced, const int32_t *cls,
                            uint32_t seed, float temperature, int32_t *out, float *logits) {
  int B = w->B, K = w->K;
  if (logits && !w->keep) return vkg__fail(VKG_ERR_ARG, "wavenet_generate: logits asked of a generator without them");
  if (w->c.classes && !cls) return vkg__fail(VKG_ERR_ARG, "wavenet_generate: a conditional model needs classes");
  if (n_forced > n) n_forced = n;
  vkg_status s = VKG_OK;
  /* Empty queues: the zero padding of the causal convolutions before the first input. */
  for (int l = 0; l < w->L && !s; l++) {
    size_t m = vkg_tensor_numel(w->queue[l]);
    float *z = calloc(m, sizeof *z);
    s = z ? vkg_tensor_upload_f32(w->queue[l], z, m) : vkg__fail(VKG_ERR_OOM, "out of host memory");
    free(z);
  }
  if (!s && w->c.classes) s = vkg_graph_write_i32(w->g, w->cls, cls, (size_t)B);
  if (!s) s = vkg_graph_set_f32(w->g, w->temp_slot, temperature);
  float *lg = logits ? malloc(sizeof *lg * (size_t)B * K * WAVENET_Q) : NULL;
  if (logits && !lg) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  size_t W = (size_t)K + 1;
  for (int b = 0; b < B; b++)
    w->tb[b * W] = WAVENET_Q / 2; /* tok[0]: silence */
  for (size_t t0 = 0; t0 < n && !s; t0 += (size_t)K) {
    /* Chunk inputs tok[t0 .. t0 + K]: tok[t0] is known; forced samples x_t = tok[t + 1] follow. */
    size_t lo = 1;
    for (size_t j = 1; j <= (size_t)K; j++) {
      size_t t = t0 + j - 1; /* x_t */
      if (t < n_forced) {
        for (int b = 0; b < B; b++)
          w->tb[b * W + j] = forced[(size_t)b * n_forced + t];
        lo = j + 1;
      } else
        for (int b = 0; b < B; b++)
          w->tb[b * W + j] = 0;
    }
    s = vkg_graph_write_i32(w->g, w->tok, w->tb, (size_t)B * W);
    if (!s) s = vkg_graph_set_u32(w->g, w->lo_slot, (uint32_t)lo);
    if (!s) s = vkg_graph_set_u32(w->g, w->seed_slot, (uint32_t)nn_mix(seed, t0));
    if (!s) s = vkg_graph_run(w->g);
    if (!s) s = vkg_graph_read_i32(w->g, w->tok_out, w->tb, (size_t)B * W);
    if (!s && lg) s = vkg_graph_read(w->g, w->lg_out, lg, (size_t)B * K * WAVENET_Q);
    for (size_t j = 1; j <= (size_t)K && !s && t0 + j - 1 < n; j++)
      for (int b = 0; b < B; b++) {
        out[(size_t)b * n + t0 + j - 1] = w->tb[b * W + j];
        if (lg)
          memcpy(logits + ((size_t)b * n + t0 + j - 1) * WAVENET_Q, lg + ((size_t)b * K + j - 1) * WAVENET_Q,
                 sizeof *lg * WAVENET_Q);
      }
    for (int b = 0; b < B; b++)
      w->tb[b * W] = w->tb[b * W + K]; /* the last input carries over */
    if (w->pg) nn_progress_update(w->pg, (long)(t0 + (size_t)K < n ? t0 + (size_t)K : n), NULL);
  }
  free(lg);
  return s;
}
