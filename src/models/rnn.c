/* LSTM and GRU language models (see rnn.h): training forward over windows, and the decoding step
 * that carries h (and c) across runs in bound state tensors.
 * Shape letters: B batch, T time (tokens), C hidden size (= embedding size), G gates (4 LSTM, 3 GRU),
 * V vocabulary, L layers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "models/rnn.h"

/* Parameter order: the embedding, 4 per layer, then the head. */
enum { P_EMB, P_LAYERS };
enum { R_W_IH, R_W_HH, R_B_IH, R_B_HH, R_N };
#define P_HEAD_B(L) (P_LAYERS + R_N * (L))
#define P_HEAD_W(L) (P_HEAD_B(L) + 1)

static int is_lstm(const struct lm *m) { return !strcmp(m->fam->name, "lstm"); }
static int gates(const struct lm *m) { return is_lstm(m) ? 4 : 3; }

// ---- parameters ----

/* PyTorch's defaults: every recurrent weight and bias U(-1/sqrt(C), 1/sqrt(C)), the head as a
 * Linear (the same bound, fan-in C), and the embedding with unit variance (PyTorch draws N(0, 1);
 * a uniform of the same variance needs no second sampler). */
static vkg_status rnn_create(struct lm *m, uint64_t seed) {
  const struct lm_config *c = &m->cfg;
  int C = c->dim, V = c->vocab, L = c->layers, G = gates(m);
  struct nn_params *p = &m->params;
  float bound = 1.0f / sqrtf((float)C);
  int emb[2] = {V, C};
  vkg_tensor *t = nn_param(p, "embedding.weight", 1, 2, emb);
  vkg_status s = t ? nn_init_uniform(t, sqrtf(3.0f), nn_mix(seed, 0)) : VKG_ERR_OOM;
  for (int l = 0; l < L && !s; l++) {
    static const char *names[R_N] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    for (int j = 0; j < R_N && !s; j++) {
      char name[64];
      snprintf(name, sizeof name, "rnn.%s_l%d", names[j], l);
      int shape[2] = {G * C, C};
      t = nn_param(p, name, 1, j < R_B_IH ? 2 : 1, shape);
      s = t ? nn_init_uniform(t, bound, nn_mix(seed, (uint64_t)(1 + R_N * l + j))) : VKG_ERR_OOM;
    }
  }
  int hb[1] = {V}, hw[2] = {V, C};
  if (!s) s = (t = nn_param(p, "head.bias", 1, 1, hb)) ? nn_init_uniform(t, bound, nn_mix(seed, 1000001)) : VKG_ERR_OOM;
  if (!s && !c->tied)
    s = (t = nn_param(p, "head.weight", 1, 2, hw)) ? nn_init_uniform(t, bound, nn_mix(seed, 1000002)) : VKG_ERR_OOM;
  return s;
}

// ---- forward ----

#define ROWS_MAX 4 /* decoding batches up to this use matmul_rows */

/* One recurrent layer on x (T, B, C) from state h0 (and c0) (B, C), or zeros when VKG_NONE:
 * gates_x = x W_ih^T + b_ih as one matmul over all T * B rows, then the recurrence. Returns
 * hs (T, B, C); *cs gets the LSTM's cell states (T, B, C). */
static vkg_t layer(struct lm *m, vkg_graph *g, const vkg_t *p, vkg_t x, int l, vkg_t h0, vkg_t c0, vkg_t *cs,
                   int decoding) {
  const vkg_t *r = p + P_LAYERS + R_N * l;
  int T = vkg_dim(g, x, 0), B = vkg_dim(g, x, 1), C = m->cfg.dim, G = gates(m);
  int rows[2] = {T * B, C}, gshape[3] = {T, B, G * C};
  vkg_t x2 = vkg_reshape(g, x, 2, rows);
  /* Decoding a few rows reads each weight once through matmul_rows, not once per row tile (on lavapipe
   * the two are even at 4 rows, and the tiled matmul is about 3x faster at 16). */
  vkg_t gx = decoding && B <= ROWS_MAX ? vkg_matmul_rows(g, x2, r[R_W_IH], r[R_B_IH], VKG_TRANS_B)
                                       : vkg_matmul(g, x2, r[R_W_IH], r[R_B_IH], VKG_TRANS_B);
  gx = vkg_reshape(g, gx, 3, gshape);
  if (is_lstm(m)) return vkg_lstm(g, gx, r[R_W_HH], r[R_B_HH], h0, c0, cs);
  return vkg_gru(g, gx, r[R_W_HH], r[R_B_HH], h0);
}

/* The output head: x (..., C) -> logits (..., V); decoding: x (B, C) through matmul_rows. */
static vkg_t head(struct lm *m, vkg_graph *g, const vkg_t *p, vkg_t x, int decoding) {
  int L = m->cfg.layers;
  vkg_t w = m->cfg.tied ? p[P_EMB] : p[P_HEAD_W(L)];
  if (decoding && vkg_dim(g, x, 0) <= ROWS_MAX) return vkg_matmul_rows(g, x, w, p[P_HEAD_B(L)], VKG_TRANS_B);
  return vkg_matmul(g, x, w, p[P_HEAD_B(L)], VKG_TRANS_B);
}

/* Training and evaluation: every window starts from a zero state (truncated BPTT, see rnn.h). The
 * recurrence runs time-major, so the embedded tokens are permuted to (T, B, C) and the last layer's
 * states back to (B, T, C) before the head. */
static vkg_t rnn_forward(struct lm *m, vkg_graph *g, const vkg_t *p, vkg_t ids) {
  static const int swap[3] = {1, 0, 2};
  vkg_t x = vkg_permute(g, vkg_embedding(g, p[P_EMB], ids), swap); // (T, B, C)
  for (int l = 0; l < m->cfg.layers; l++)
    x = layer(m, g, p, x, l, VKG_NONE, VKG_NONE, NULL, 0);
  return head(m, g, p, vkg_permute(g, x, swap), 0); // (B, T, V)
}

// ---- decoding ----

/* The state of every layer, h then (LSTM) c, (B, C) each: d->state_t[S * l + j] with S = 2 for the
 * LSTM and 1 for the GRU. st[] are their ids in the decoder's graph: the first of a submission's K steps
 * reads the tensors, each step hands its new state to the next as a value, and the last rewrites the
 * tensors in place (vkg_scatter_at) for the next submission. */
struct rnn_dec {
  vkg_t st[256];  /* the bound state tensors */
  vkg_t cur[256]; /* the state after the last step recorded */
  int bound;
};

static int state_per_layer(const struct lm *m) { return is_lstm(m) ? 2 : 1; }

static vkg_status rnn_dec_reset(struct lm *m, struct lm_decoder *d) {
  size_t n = (size_t)d->batch * m->cfg.dim;
  float *zero = calloc(n, sizeof *zero);
  if (!zero) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_status s = VKG_OK;
  for (int i = 0; i < d->nstate && !s; i++)
    s = vkg_tensor_upload_f32(d->state_t[i], zero, n);
  free(zero);
  return s;
}

static vkg_status rnn_dec_init(struct lm *m, struct lm_decoder *d) {
  int S = state_per_layer(m), n = S * m->cfg.layers;
  int max = (int)(sizeof d->state_t / sizeof d->state_t[0]);
  if (n > max)
    return vkg__fail(VKG_ERR_ARG, "%s: %d layers is over the decoder's limit of %d", m->fam->name, m->cfg.layers,
                     max / S);
  struct rnn_dec *st = calloc(1, sizeof *st);
  if (!st) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  d->state = st;
  int shape[2] = {d->batch, m->cfg.dim};
  vkg_status s = VKG_OK;
  for (int i = 0; i < n && !s; i++) {
    s = vkg_tensor_create(m->params.ctx, VKG_F32, 2, shape, &d->state_t[i]);
    if (!s) d->nstate = i + 1;
  }
  return s ? s : rnn_dec_reset(m, d);
}

static void rnn_dec_free(struct lm *m, struct lm_decoder *d) {
  (void)m;
  free(d->state);
  d->state = NULL;
}

/* One token per row: ids (B, 1) -> logits (B, V). Each layer runs one time step from the bound state
 * and writes its new h (and c) back over it. Positions do not matter to an RNN, so the writes use a
 * fixed offset (pos_slot -1). */
static vkg_t rnn_step(struct lm *m, struct lm_decoder *d, vkg_graph *g, const vkg_t *p, vkg_t ids, int k) {
  struct rnn_dec *st = d->state;
  int S = state_per_layer(m), B = d->batch, C = m->cfg.dim;
  if (!st->bound) {
    for (int i = 0; i < d->nstate; i++)
      st->st[i] = st->cur[i] = vkg_bind(g, d->state_t[i]);
    st->bound = 1;
  }
  int seq[3] = {1, B, C}, s2[2] = {B, C};
  vkg_t x = vkg_reshape(g, vkg_embedding(g, p[P_EMB], ids), 3, seq); // (1, B, C)
  for (int l = 0; l < m->cfg.layers; l++) {
    int ih = S * l, ic = S * l + 1;
    vkg_t cs = VKG_NONE;
    x = layer(m, g, p, x, l, st->cur[ih], S > 1 ? st->cur[ic] : VKG_NONE, S > 1 ? &cs : NULL, 1);
    /* The steps of a submission hand the state on as values; the last writes it back for the next. */
    st->cur[ih] = vkg_reshape(g, x, 2, s2);
    if (S > 1) st->cur[ic] = vkg_reshape(g, cs, 2, s2);
    for (int j = ih; k == d->unroll - 1 && j < ih + S; j++)
      vkg_scatter_at(g, st->st[j], st->cur[j], 0, -1, 0, -1);
  }
  return head(m, g, p, vkg_reshape(g, x, 2, s2), 1); // (B, V)
}

/* LSTM and GRU share every hook: the cell is chosen by the config's family. */
#define RNN_FAMILY(fam)                                                                                                \
  {                                                                                                                    \
    .name = fam, .create = rnn_create, .forward = rnn_forward, .dec_init = rnn_dec_init, .dec_reset = rnn_dec_reset,   \
    .dec_free = rnn_dec_free, .step = rnn_step                                                                         \
  }
const struct lm_family lm_family_lstm = RNN_FAMILY("lstm");
const struct lm_family lm_family_gru = RNN_FAMILY("gru");
#undef RNN_FAMILY
