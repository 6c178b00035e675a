/* The GPT decoder: training forward, KV-cache decoding step, and Hugging Face GPT-2 checkpoints.
 * Shape letters: B batch, T time, C channels (dim), NH heads, D = C / NH head size, V vocabulary,
 * L layers, F the MLP width. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "models/gpt.h"

/* Parameter order: the embeddings, 12 per block, then ln_f and (untied) lm_head. */
enum { P_WTE, P_WPE, P_BLOCKS };
enum {
  B_LN1_W,
  B_LN1_B,
  B_ATTN_W,
  B_ATTN_B,
  B_PROJ_W,
  B_PROJ_B,
  B_LN2_W,
  B_LN2_B,
  B_FC_W,
  B_FC_B,
  B_FCP_W,
  B_FCP_B,
  B_N
};
#define P_LNF_W(L) (P_BLOCKS + B_N * (L))
#define P_LNF_B(L) (P_LNF_W(L) + 1)
#define P_HEAD(L) (P_LNF_W(L) + 2)

// ---- parameters ----

/* N(mean, std) on the host from a seed (Box-Muller on splitmix64 words), as HF's GPT-2 init. */
static vkg_status init_normal(vkg_tensor *t, float std, uint64_t seed) {
  size_t n = vkg_tensor_numel(t);
  float *x = malloc(sizeof *x * n);
  if (!x) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (size_t i = 0; i < n; i += 2) {
    uint64_t a = nn_mix(seed, 2 * i), b = nn_mix(seed, 2 * i + 1);
    double u1 = ((double)(a >> 11) + 1.0) / 9007199254740993.0, u2 = (double)(b >> 11) / 9007199254740992.0;
    double r = sqrt(-2.0 * log(u1));
    x[i] = (float)(std * r * cos(2 * M_PI * u2));
    if (i + 1 < n) x[i + 1] = (float)(std * r * sin(2 * M_PI * u2));
  }
  vkg_status s = vkg_tensor_upload_f32(t, x, n);
  free(x);
  return s;
}

// ---- token embeddings larger than one storage buffer ----
/* A shader sees at most maxStorageBufferRange bytes of a buffer (128 MiB on lavapipe; GPT-2's wte is
 * 154 MB, GPT-2 1.5B's 321 MB). A larger wte (and an untied lm_head) is used through row blocks: views
 * of the one parameter's memory, each small enough to bind. The lookup is the sum of the blocks'
 * lookups (a block gives zeros for ids outside it, so the sum is exact) and the output head the
 * concatenation of the blocks' products along the vocabulary. The parameter stays one tensor, so
 * weights files and checkpoints keep the single name "wte.weight". Only inference: training a split
 * table is refused. $VKGEN_GPT_WTE_CHUNK_ROWS forces blocks of that many rows (tests). */
struct gpt_self {
  int rows; /* rows per block; 0: the tables fit one buffer and no blocks are used */
  int nblk;
  vkg_tensor **wte, **head; /* nblk views of wte.weight and of lm_head.weight (NULL when tied) */
};

static size_t gcd(size_t a, size_t b) { return b ? gcd(b, a % b) : a; }

/* Rows per block for a (V, C) f32 table: 0 if it fits one binding, else as many rows as fit, rounded
 * down to a multiple of 64 (and of what keeps every block's offset aligned for a descriptor). */
static int block_rows(const vkg_ctx *ctx, int V, int C) {
  size_t limit = ctx->props.limits.maxStorageBufferRange, row = (size_t)C * sizeof(float);
  size_t align = ctx->props.limits.minStorageBufferOffsetAlignment;
  size_t step = align > 1 ? align / gcd(align, row) : 1, rows = limit / row / 64 * 64;
  const char *env = getenv("VKGEN_GPT_WTE_CHUNK_ROWS");
  if (env && atoi(env) > 0 && (size_t)atoi(env) < rows) rows = (size_t)atoi(env);
  rows -= rows % step;
  if (rows < step) rows = step; /* C so large that one aligned step exceeds the limit: the guard reports it */
  return rows >= (size_t)V ? 0 : (int)rows;
}

static void gpt_destroy(struct lm *m) {
  struct gpt_self *st = m->self;
  if (!st) return;
  for (int k = 0; k < st->nblk; k++) {
    if (st->wte) vkg_tensor_destroy(st->wte[k]);
    if (st->head) vkg_tensor_destroy(st->head[k]);
  }
  free(st->wte);
  free(st->head);
  free(st);
  m->self = NULL;
}

/* Makes the row-block views when wte does not fit one binding (after the parameters exist). */
static vkg_status make_blocks(struct lm *m) {
  const struct lm_config *c = &m->cfg;
  struct gpt_self *st = calloc(1, sizeof *st);
  if (!st) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  m->self = st;
  st->rows = block_rows(m->params.ctx, c->vocab, c->dim);
  if (!st->rows) return VKG_OK;
  st->nblk = (c->vocab + st->rows - 1) / st->rows;
  st->wte = calloc((size_t)st->nblk, sizeof *st->wte);
  if (!c->tied) st->head = calloc((size_t)st->nblk, sizeof *st->head);
  if (!st->wte || (!c->tied && !st->head)) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (int k = 0; k < st->nblk; k++) {
    int first = k * st->rows, rows = c->vocab - first < st->rows ? c->vocab - first : st->rows;
    vkg_status s = vkg__tensor_rows(m->params.t[P_WTE], first, rows, &st->wte[k]);
    if (!s && !c->tied) s = vkg__tensor_rows(m->params.t[P_HEAD(c->layers)], first, rows, &st->head[k]);
    if (s) return s;
  }
  return VKG_OK;
}

static vkg_status gpt_create(struct lm *m, uint64_t seed) {
  const struct lm_config *c = &m->cfg;
  int C = c->dim, F = c->mlp, V = c->vocab, L = c->layers;
  struct nn_params *p = &m->params;
  /* HF's init: weights N(0, 0.02), the residual projections N(0, 0.02 / sqrt(2L)), biases 0,
   * LayerNorms 1 and 0. */
  const float std = 0.02f, proj_std = 0.02f / sqrtf(2.0f * (float)L);
  struct spec {
    char name[64];
    int ndim, shape[2];
    float std; /* > 0: normal; else the constant -std */
  };
  int n = P_HEAD(L) + !c->tied, k = 0;
  struct spec *sp = calloc((size_t)n, sizeof *sp);
  if (!sp) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  sp[k++] = (struct spec){"wte.weight", 2, {V, C}, std};
  sp[k++] = (struct spec){"wpe.weight", 2, {c->context, C}, 0.01f};
  for (int l = 0; l < L; l++) {
    struct {
      const char *name;
      int ndim, s0, s1;
      float std;
    } b[B_N] = {{"ln_1.weight", 1, C, 0, -1},
                {"ln_1.bias", 1, C, 0, 0},
                {"attn.c_attn.weight", 2, C, 3 * C, std},
                {"attn.c_attn.bias", 1, 3 * C, 0, 0},
                {"attn.c_proj.weight", 2, C, C, proj_std},
                {"attn.c_proj.bias", 1, C, 0, 0},
                {"ln_2.weight", 1, C, 0, -1},
                {"ln_2.bias", 1, C, 0, 0},
                {"mlp.c_fc.weight", 2, C, F, std},
                {"mlp.c_fc.bias", 1, F, 0, 0},
                {"mlp.c_proj.weight", 2, F, C, proj_std},
                {"mlp.c_proj.bias", 1, C, 0, 0}};
    for (int j = 0; j < B_N; j++) {
      snprintf(sp[k].name, sizeof sp[k].name, "h.%d.%s", l, b[j].name);
      sp[k].ndim = b[j].ndim, sp[k].shape[0] = b[j].s0, sp[k].shape[1] = b[j].s1, sp[k].std = b[j].std;
      k++;
    }
  }
  sp[k++] = (struct spec){"ln_f.weight", 1, {C, 0}, -1};
  sp[k++] = (struct spec){"ln_f.bias", 1, {C, 0}, 0};
  if (!c->tied) sp[k++] = (struct spec){"lm_head.weight", 2, {V, C}, std};
  VKG_ASSERT(k == n);
  vkg_status s = VKG_OK;
  for (int i = 0; i < n && !s; i++) {
    vkg_tensor *t = nn_param(p, sp[i].name, 1, sp[i].ndim, sp[i].shape);
    if (!t)
      s = VKG_ERR_OOM;
    else
      s = sp[i].std > 0 ? init_normal(t, sp[i].std, nn_mix(seed, (uint64_t)i)) : nn_init_const(t, -sp[i].std);
  }
  free(sp);
  return s ? s : make_blocks(m);
}

// ---- forward ----

/* x (B, T, in) times w (in, out) (or w^T with VKG_TRANS_B) plus b, as one (B T, in) matrix: the tiled
 * matmul then fills its row tiles across the batch. Decoding (few rows, T = 1) uses matmul_rows,
 * which reads w once instead of once per 64-row tile. */
static vkg_t linear(vkg_graph *g, vkg_t x, vkg_t w, vkg_t b, unsigned flags, int decoding) {
  int B = vkg_dim(g, x, 0), T = vkg_dim(g, x, 1), in = vkg_dim(g, x, 2);
  int s2[2] = {B * T, in};
  vkg_t x2 = vkg_reshape(g, x, 2, s2);
  vkg_t y = decoding ? vkg_matmul_rows(g, x2, w, b, flags) : vkg_matmul(g, x2, w, b, flags);
  int s3[3] = {B, T, vkg_dim(g, y, 1)};
  return vkg_reshape(g, y, 3, s3);
}

/* x (B, T, C) -> (B, NH, T, D): split the channels into heads. */
static vkg_t heads(vkg_graph *g, vkg_t x, int NH) {
  int B = vkg_dim(g, x, 0), T = vkg_dim(g, x, 1), C = vkg_dim(g, x, 2);
  int s4[4] = {B, T, NH, C / NH}, perm[4] = {0, 2, 1, 3};
  return vkg_permute(g, vkg_reshape(g, x, 4, s4), perm);
}

/* (B, NH, T, D) -> (B, T, C): the heads side by side again. */
static vkg_t merge_heads(vkg_graph *g, vkg_t x) {
  int B = vkg_dim(g, x, 0), NH = vkg_dim(g, x, 1), T = vkg_dim(g, x, 2), D = vkg_dim(g, x, 3);
  int s3[3] = {B, T, NH * D}, perm[4] = {0, 2, 1, 3};
  return vkg_reshape(g, vkg_permute(g, x, perm), 3, s3);
}

/* Decoding state: one K and one V cache per layer, (B, NH, max_len, D), bound once per graph. */
struct gpt_dec {
  vkg_t *kc, *vc; /* ids in the decoder's graph (VKG_NONE until bound) */
};

/* One decoding step (T = 1) of block l on x (B, C) at position pos + k through the layer's KV cache, in
 * 6 dispatches: with one position, splitting (B, 1, C) into heads (B, NH, 1, D) and merging them back
 * moves nothing, so they are reshapes; the QKV projection writes this position's key and value into the
 * caches itself (vkg_qkv_cached); bias, GELU and the residual adds ride in the epilogues of the row
 * matmuls, and the MLP's layernorm in the prologue of its first. */
static vkg_t block_step(struct lm *m, vkg_graph *g, const vkg_t *p, vkg_t x, int l, struct lm_decoder *d, int k) {
  const struct lm_config *c = &m->cfg;
  const vkg_t *b = p + P_BLOCKS + B_N * l;
  struct gpt_dec *st = d->state;
  int B = vkg_dim(g, x, 0), C = c->dim, s2[2] = {B, C};
  vkg_t h = vkg_layernorm(g, x, b[B_LN1_W], b[B_LN1_B], c->ln_eps);
  vkg_t q = vkg_qkv_cached(g, h, b[B_ATTN_W], b[B_ATTN_B], st->kc[l], st->vc[l], d->pos_slot, k, 0);
  /* Attend over positions [0, pos + k]; the caches' ids order the reads after the QKV pass's writes. */
  vkg_t a = vkg_attention_cached(g, q, st->kc[l], st->vc[l], 0, d->pos_slot, k + 1); // (B, NH, 1, D)
  x = vkg_matmul_rows_fused(g, vkg_reshape(g, a, 2, s2), b[B_PROJ_W], b[B_PROJ_B], x, 0);
  h = vkg_layernorm_matmul_rows(g, x, b[B_LN2_W], b[B_LN2_B], c->ln_eps, b[B_FC_W], b[B_FC_B], VKG_NONE,
                                VKG_ROWS_GELU_TANH); // (B, F)
  return vkg_matmul_rows_fused(g, h, b[B_FCP_W], b[B_FCP_B], x, 0);
}

/* One block on x (B, T, C): full causal attention over the T positions (training and evaluation). */
static vkg_t block(struct lm *m, vkg_graph *g, const vkg_t *p, vkg_t x, int l) {
  const struct lm_config *c = &m->cfg;
  const vkg_t *b = p + P_BLOCKS + B_N * l;
  int C = c->dim;
  const int decoding = 0;
  // ---- attention ----
  vkg_t h = vkg_layernorm(g, x, b[B_LN1_W], b[B_LN1_B], c->ln_eps);
  vkg_t qkv = linear(g, h, b[B_ATTN_W], b[B_ATTN_B], 0, decoding); // (B, T, 3C)
  vkg_t q = heads(g, vkg_slice(g, qkv, 2, 0, C), c->heads);        // (B, NH, T, D)
  vkg_t kk = heads(g, vkg_slice(g, qkv, 2, C, 2 * C), c->heads);
  vkg_t v = heads(g, vkg_slice(g, qkv, 2, 2 * C, 3 * C), c->heads);
  vkg_t a = vkg_attention(g, q, kk, v, 0, 1);
  x = vkg_binary(g, VKG_ADD, x, linear(g, merge_heads(g, a), b[B_PROJ_W], b[B_PROJ_B], 0, decoding));
  // ---- MLP ----
  h = vkg_layernorm(g, x, b[B_LN2_W], b[B_LN2_B], c->ln_eps);
  h = vkg_unary(g, VKG_GELU_TANH, linear(g, h, b[B_FC_W], b[B_FC_B], 0, decoding), 0, 0); // (B, T, F)
  return vkg_binary(g, VKG_ADD, x, linear(g, h, b[B_FCP_W], b[B_FCP_B], 0, decoding));
}

/* Split tables are for inference only: their gradients would need the whole table in one binding. */
static int refuse_training(struct lm *m, vkg_graph *g, const vkg_t *p) {
  const struct lm_config *c = &m->cfg;
  vkg_t w = p[P_WTE], h = c->tied ? w : p[P_HEAD(c->layers)];
  if (!vkg__t(g, w)->requires_grad && !vkg__t(g, h)->requires_grad) return 0;
  const struct gpt_self *st = m->self;
  size_t bytes = (size_t)c->vocab * (size_t)c->dim * sizeof(float);
  uint32_t limit = g->ctx->props.limits.maxStorageBufferRange;
  char why[160];
  if (bytes > limit)
    snprintf(why, sizeof why, "is %zu bytes, over this device's maxStorageBufferRange of %u bytes, so it", bytes,
             limit);
  else
    snprintf(why, sizeof why, "(%zu bytes) is split because $VKGEN_GPT_WTE_CHUNK_ROWS is set; it", bytes);
  vkg__begin(g, "gpt");
  vkg__bad(g, VKG_ERR_UNSUPPORTED,
           "the token embedding (%d, %d) %s is used in blocks of %d rows, which support inference only, not training",
           c->vocab, c->dim, why, st->rows);
  return 1;
}

/* The token embedding of ids (B, T) -> (B, T, C): one lookup, or the sum of the row blocks' lookups. */
static vkg_t embed(struct lm *m, vkg_graph *g, const vkg_t *p, vkg_t ids) {
  const struct gpt_self *st = m->self;
  if (!st || !st->rows) return vkg_embedding(g, p[P_WTE], ids);
  if (refuse_training(m, g, p)) return VKG_NONE;
  vkg_t x = VKG_NONE;
  for (int k = 0; k < st->nblk; k++) {
    vkg_t e = vkg_embedding_rows(g, vkg_bind(g, st->wte[k]), ids, k * st->rows);
    x = k ? vkg_binary(g, VKG_ADD, x, e) : e;
  }
  return x;
}

/* The final LayerNorm and the output head: x (B, T, C) -> logits (B, T, V). */
static vkg_t head(struct lm *m, vkg_graph *g, const vkg_t *p, vkg_t x, int decoding) {
  const struct lm_config *c = &m->cfg;
  const struct gpt_self *st = m->self;
  int L = c->layers;
  if (decoding && (!st || !st->rows)) { /* the final layernorm in the head's row matmul: x (B, 1, C) */
    int B = vkg_dim(g, x, 0), s2[2] = {B, c->dim}, s3[3] = {B, 1, c->vocab};
    vkg_t y = vkg_layernorm_matmul_rows(g, vkg_reshape(g, x, 2, s2), p[P_LNF_W(L)], p[P_LNF_B(L)], c->ln_eps,
                                        c->tied ? p[P_WTE] : p[P_HEAD(L)], VKG_NONE, VKG_NONE, VKG_TRANS_B);
    return vkg_reshape(g, y, 3, s3);
  }
  x = vkg_layernorm(g, x, p[P_LNF_W(L)], p[P_LNF_B(L)], c->ln_eps);
  if (!st || !st->rows) return linear(g, x, c->tied ? p[P_WTE] : p[P_HEAD(L)], VKG_NONE, VKG_TRANS_B, decoding);
  if (refuse_training(m, g, p)) return VKG_NONE;
  vkg_t *parts = malloc(sizeof *parts * (size_t)st->nblk); // each (B, T, rows of its block)
  if (!parts) return vkg__bad(g, VKG_ERR_OOM, "out of host memory"), VKG_NONE;
  for (int k = 0; k < st->nblk; k++)
    parts[k] = linear(g, x, vkg_bind(g, c->tied ? st->wte[k] : st->head[k]), VKG_NONE, VKG_TRANS_B, decoding);
  vkg_t y = vkg_concat(g, st->nblk, parts, 2);
  free(parts);
  return y;
}

static vkg_t gpt_forward(struct lm *m, vkg_graph *g, const vkg_t *p, vkg_t ids) {
  int T = vkg_dim(g, ids, 1);
  vkg_t x = embed(m, g, p, ids); // (B, T, C)
  x = vkg_binary(g, VKG_ADD, x, vkg_slice(g, p[P_WPE], 0, 0, T));
  for (int l = 0; l < m->cfg.layers; l++)
    x = block(m, g, p, x, l);
  return head(m, g, p, x, 0);
}

// ---- decoding ----

static vkg_status gpt_dec_init(struct lm *m, struct lm_decoder *d) {
  const struct lm_config *c = &m->cfg;
  int L = c->layers;
  if (d->max_len > c->context)
    return vkg__fail(VKG_ERR_ARG, "gpt: %d positions asked for, the model has %d", d->max_len, c->context);
  struct gpt_dec *st = calloc(1, sizeof *st);
  if (!st) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  st->kc = malloc(sizeof *st->kc * (size_t)L);
  st->vc = malloc(sizeof *st->vc * (size_t)L);
  d->state = st;
  if (!st->kc || !st->vc) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  if (2 * L > (int)(sizeof d->state_t / sizeof d->state_t[0]))
    return vkg__fail(VKG_ERR_ARG, "gpt: %d layers is over the decoder's limit of %d", L,
                     (int)(sizeof d->state_t / sizeof d->state_t[0]) / 2);
  int shape[4] = {d->batch, c->heads, d->max_len, c->dim / c->heads};
  size_t n = vkg__numel(shape, 4);
  float *zero = calloc(n, sizeof *zero);
  if (!zero) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_status s = VKG_OK;
  for (int i = 0; i < 2 * L && !s; i++) {
    s = vkg_tensor_create(m->params.ctx, VKG_F32, 4, shape, &d->state_t[i]);
    if (!s) d->nstate = i + 1;
    /* Zeros rather than leftover memory: only the valid prefix is ever read, but a cache of
     * finite values keeps a bug there from turning into NaNs. */
    if (!s) s = vkg_tensor_upload_f32(d->state_t[i], zero, n);
  }
  free(zero);
  for (int l = 0; l < L; l++)
    st->kc[l] = st->vc[l] = VKG_NONE;
  return s;
}

static void gpt_dec_free(struct lm *m, struct lm_decoder *d) {
  struct gpt_dec *st = d->state;
  if (!st) return;
  free(st->kc);
  free(st->vc);
  free(st);
  d->state = NULL;
}

static vkg_t gpt_step(struct lm *m, struct lm_decoder *d, vkg_graph *g, const vkg_t *p, vkg_t ids, int k) {
  struct gpt_dec *st = d->state;
  int L = m->cfg.layers, B = d->batch, V = m->cfg.vocab;
  if (st->kc[0] == VKG_NONE)
    for (int l = 0; l < L; l++)
      st->kc[l] = vkg_bind(g, d->state_t[2 * l]), st->vc[l] = vkg_bind(g, d->state_t[2 * l + 1]);
  vkg_t x = embed(m, g, p, ids); // (B, 1, C)
  x = vkg_binary(g, VKG_ADD, x, vkg_gather_at(g, p[P_WPE], 0, d->pos_slot, k, 1));
  int C = m->cfg.dim, rows[2] = {B, C}, s3[3] = {B, 1, C};
  x = vkg_reshape(g, x, 2, rows);
  for (int l = 0; l < L; l++)
    x = block_step(m, g, p, x, l, d, k);
  int s2[2] = {B, V};
  return vkg_reshape(g, head(m, g, p, vkg_reshape(g, x, 3, s3), 1), 2, s2);
}

const struct lm_family lm_family_gpt = {
    .name = "gpt",
    .create = gpt_create,
    .destroy = gpt_destroy,
    .forward = gpt_forward,
    .dec_init = gpt_dec_init,
    .dec_free = gpt_dec_free,
    .step = gpt_step,
};

// ---- Hugging Face GPT-2 checkpoints ----

/* The integer `key` of config.json within [lo, hi]; 0 with an error if absent or out of range. */
static int json_int(const cJSON *cfg, const char *key, const char *alt, int lo, int hi, const char *path,
                    vkg_status *s) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
  if (!v && alt) v = cJSON_GetObjectItemCaseSensitive(cfg, alt);
  if (*s) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi || v->valuedouble != (int)v->valuedouble) {
    *s = vkg__fail(VKG_ERR_FORMAT, "'%s': \"%s\" must be a whole number from %d to %d", path, key, lo, hi);
    vkg__hint("a GPT-2 config.json has n_embd, n_layer, n_head, n_positions and vocab_size");
    return 0;
  }
  return (int)v->valuedouble;
}

vkg_status gpt_load_hf(vkg_ctx *ctx, const char *dir, struct lm **out) {
  *out = NULL;
  char path[4096], vocab[4096], merges[4096], weights[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
  snprintf(merges, sizeof merges, "%s/merges.txt", dir);
  snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
  FILE *f = fopen(path, "rb");
  if (!f) {
    vkg__fail(VKG_ERR_IO, "'%s' has no config.json", dir);
    vkg__hint("--weights DIR must be a Hugging Face GPT-2 directory (config.json, model.safetensors, vocab.json, "
              "merges.txt), or a vkgen .safetensors file");
    return VKG_ERR_IO;
  }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = len > 0 && len < (1 << 24) ? malloc((size_t)len + 1) : NULL;
  size_t got = text ? fread(text, 1, (size_t)len, f) : 0;
  fclose(f);
  if (text) text[got] = 0;
  cJSON *cfg = text ? cJSON_Parse(text) : NULL;
  free(text);
  vkg_status s = VKG_OK;
  if (!cJSON_IsObject(cfg)) {
    cJSON_Delete(cfg);
    vkg__fail(VKG_ERR_FORMAT, "'%s' is not valid JSON", path);
    vkg__hint("re-download the checkpoint's config.json");
    return VKG_ERR_FORMAT;
  }
  struct lm_config c = lm_config_default("gpt");
  snprintf(c.tokenizer, sizeof c.tokenizer, "gpt2");
  c.dim = json_int(cfg, "n_embd", NULL, 1, 1 << 16, path, &s);
  c.layers = json_int(cfg, "n_layer", NULL, 1, 1024, path, &s);
  c.heads = json_int(cfg, "n_head", NULL, 1, 1024, path, &s);
  c.context = json_int(cfg, "n_positions", "n_ctx", 1, 1 << 20, path, &s);
  c.vocab = json_int(cfg, "vocab_size", NULL, 1, 1 << 24, path, &s);
  c.tied = 1;
  /* n_inner is null (4 * n_embd) in GPT-2's own configs. */
  const cJSON *inner = cJSON_GetObjectItemCaseSensitive(cfg, "n_inner");
  c.mlp = inner && !cJSON_IsNull(inner) ? json_int(cfg, "n_inner", NULL, 1, 1 << 20, path, &s) : 4 * c.dim;
  const cJSON *eps = cJSON_GetObjectItemCaseSensitive(cfg, "layer_norm_epsilon");
  c.ln_eps = cJSON_IsNumber(eps) ? (float)eps->valuedouble : 1e-5f;
  const cJSON *act = cJSON_GetObjectItemCaseSensitive(cfg, "activation_function");
  if (!s && cJSON_IsString(act) && strcmp(act->valuestring, "gelu_new") &&
      strcmp(act->valuestring, "gelu_pytorch_tanh")) {
    s = vkg__fail(VKG_ERR_UNSUPPORTED, "'%s': activation_function \"%s\" is not supported (only gelu_new)", path,
                  act->valuestring);
    vkg__hint("vkgen runs GPT-2 checkpoints, whose MLP uses the tanh GELU (gelu_new)");
  }
  const cJSON *tie = cJSON_GetObjectItemCaseSensitive(cfg, "tie_word_embeddings");
  if (cJSON_IsFalse(tie)) c.tied = 0;
  cJSON_Delete(cfg);
  if (!s && (s = lm_config_check(&c))) vkg__hint("'%s' describes no valid GPT-2", path);
  if (s) return s;

  vkg_tokenizer *tok = NULL;
  if ((s = vkg_tokenizer_gpt2(vocab, merges, &tok))) {
    if (!*vkg_last_hint()) vkg__hint("the checkpoint directory needs GPT-2's vocab.json and merges.txt");
    return s;
  }
  if (vkg_tokenizer_vocab(tok) > c.vocab) {
    s = vkg__fail(VKG_ERR_FORMAT, "'%s' has %d tokens, but config.json says vocab_size %d", vocab,
                  vkg_tokenizer_vocab(tok), c.vocab);
    vkg__hint("the tokenizer files do not belong to this checkpoint");
    vkg_tokenizer_free(tok);
    return s;
  }
  vkg_st *st;
  if ((s = vkg_st_open(weights, &st))) {
    vkg_tokenizer_free(tok);
    if (s == VKG_ERR_IO) vkg__hint("a Hugging Face GPT-2 directory holds its weights in model.safetensors");
    return s;
  }
  /* Checkpoints saved from GPT2LMHeadModel prefix the transformer's tensors; GPT2Model's do not. */
  const char *prefix = vkg_st_find(st, "transformer.wte.weight") >= 0 ? "transformer." : "";
  if (!c.tied && vkg_st_find(st, "lm_head.weight") < 0) c.tied = 1;
  struct lm *m = NULL;
  s = lm_create(ctx, &c, tok, 0, &m);
  if (!s) {
    for (int i = 0; i < m->params.n && !s; i++) {
      char name[160];
      const char *pre = strcmp(m->params.names[i], "lm_head.weight") ? prefix : "";
      snprintf(name, sizeof name, "%s%s", pre, m->params.names[i]);
      s = vkg_st_load_tensor(st, name, m->params.t[i]);
    }
    /* Every tensor of the file must be one of the model's (a config with fewer layers than the file
     * would otherwise load the first layers and drop the rest); the attention-mask buffers that
     * Hugging Face saves with some checkpoints are not parameters. */
    for (int i = 0; i < vkg_st_count(st) && !s; i++) {
      const char *name = vkg_st_name(st, i),
                 *own = strncmp(name, prefix, strlen(prefix)) ? name : name + strlen(prefix);
      const char *dot = strrchr(name, '.');
      int mask = dot && strstr(name, ".attn.") && (!strcmp(dot, ".bias") || !strcmp(dot, ".masked_bias")) &&
                 nn_param_index(&m->params, own) < 0;
      if (!mask && nn_param_index(&m->params, own) < 0)
        s = vkg__fail(VKG_ERR_FORMAT, "'%s' holds tensor '%.100s' that a GPT-2 of config.json does not use", weights,
                      name);
    }
    if (s)
      vkg__hint("config.json (n_embd %d, n_layer %d, n_head %d, n_positions %d, vocab_size %d) and "
                "model.safetensors disagree, or the file is incomplete",
                c.dim, c.layers, c.heads, c.context, c.vocab);
  }
  vkg_st_close(st);
  if (s) {
    lm_destroy(m);
    return s;
  }
  *out = m;
  return VKG_OK;
}
