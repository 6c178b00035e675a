/* Language models: the interface every text family (gpt, lstm, gru) implements, their shared config,
 * and the code they share (lm.c): the fortunes corpus with a held-out validation split, tokenizers,
 * training windows, the nn_model glue for the training loop, validation loss, loading weights, and
 * the decoder that replays one recorded graph of K unrolled steps with sampling on the GPU.
 *
 * Shape letters: B batch, T time (tokens), C channels (dim), V vocabulary, L layers, NH heads.
 *
 * How a family plugs in (see gpt.c for a complete one):
 *  - create() adds its parameters to m->params (the names saved in weights files) and initializes
 *    them from a seed; m->cfg is already filled and checked for the shared fields.
 *  - forward() builds logits (B, T, V) for token ids (B, T) on any graph: the training loss and the
 *    full-sequence evaluation both use it. Position t may only depend on ids [0, t].
 *  - The decoder calls dec_init() once (allocate per-sequence state as vkg_tensors sized for
 *    d->batch rows and d->max_len positions: GPT's KV cache, an RNN's h/c), dec_reset() before each
 *    new prompt (may be NULL: GPT needs no reset since the cache's valid length comes from the
 *    position), then step() K times while building one graph: step k reads ids (B, 1) of position
 *    pos + k (pos = the u32 scalar d->pos_slot, read at run time), updates the state in place
 *    (vkg_scatter_at into the bound state tensors; with pos_slot -1 it writes at a fixed offset) and
 *    returns logits (B, V). dec_free() releases the state.
 * Register a family in lm_families[] (lm.c). */
#ifndef VKGEN_LM_H
#define VKGEN_LM_H
#include "nn/config.h"
#include "nn/data.h"
#include "nn/train.h"

// ---- the shared config (saved as the JSON "config" of weights files) ----

struct lm_config {
  char family[16];    /* "gpt", "lstm", "gru" */
  char tokenizer[16]; /* "bytes" (V = 256) or "gpt2" (GPT-2's BPE, V = 50257) */
  int vocab;          /* V */
  int layers, dim;    /* L, C (an RNN's hidden size) */
  int heads;          /* NH (GPT; 0 for RNNs) */
  int context;        /* GPT: positions (the KV cache length); RNN: training window T */
  int tied;           /* 1: the output head is the token embedding (transposed) */
  int mlp;            /* GPT: hidden width of the MLP (default 4 * dim) */
  float ln_eps;       /* GPT: LayerNorm epsilon (1e-5) */
};
/* The config tables (nn/config.h) of gpt, lstm and gru: JSON, checks, options and help. */
extern const struct nn_cfg lm_cfg_gpt, lm_cfg_lstm, lm_cfg_gru;
const struct nn_cfg *lm_cfg(const char *family); /* one of them (gru for an unknown name) */
/* A family's defaults (byte tokenizer, 4 layers, dim 128, 4 heads, context 128, untied). */
struct lm_config lm_config_default(const char *family);
/* VKG_ERR_ARG naming the bad field (e.g. dim not a multiple of heads). */
vkg_status lm_config_check(const struct lm_config *c);

// ---- a model and the family interface ----

struct lm_family;
struct lm_decoder;

struct lm {
  const struct lm_family *fam;
  struct lm_config cfg;
  struct nn_params params;
  vkg_tokenizer *tok; /* set by lm_load / lm_create_for_training (owned by the lm) */
  void *self;         /* the family's own state */
};

struct lm_family {
  const char *name;
  /* Adds and initializes the parameters (deterministic from seed). */
  vkg_status (*create)(struct lm *m, uint64_t seed);
  void (*destroy)(struct lm *m); /* frees m->self only (may be NULL) */
  /* logits (B, T, V) for ids i32 (B, T); p: every param of m->params bound in g, in order. */
  vkg_t (*forward)(struct lm *m, vkg_graph *g, const vkg_t *p, vkg_t ids);
  /* Decoding state (see the top of this file). dec_reset may be NULL. */
  vkg_status (*dec_init)(struct lm *m, struct lm_decoder *d);
  vkg_status (*dec_reset)(struct lm *m, struct lm_decoder *d);
  void (*dec_free)(struct lm *m, struct lm_decoder *d);
  vkg_t (*step)(struct lm *m, struct lm_decoder *d, vkg_graph *g, const vkg_t *p, vkg_t ids, int k);
};
/* The registered families; NULL (with an error naming the family and a hint) for an unknown or
 * not-yet-built one. */
const struct lm_family *lm_family_find(const char *name);

/* A fresh model with initialized parameters for cfg (checked); tok may be NULL (then it is made from
 * cfg.tokenizer). Takes ownership of tok. */
vkg_status lm_create(vkg_ctx *ctx, const struct lm_config *cfg, vkg_tokenizer *tok, uint64_t seed, struct lm **out);
/* From a vkgen weights file or checkpoint of this family (family NULL: any text family), or, for gpt,
 * a Hugging Face GPT-2 directory (config.json, model.safetensors, vocab.json, merges.txt). Errors
 * name the file and say what to do ("weights 'X' are for a gan model, not gpt"). */
vkg_status lm_load(vkg_ctx *ctx, const char *path, const char *family, struct lm **out);
/* Writes a weights file (metadata format/model/config). */
vkg_status lm_save(struct lm *m, const char *path);
void lm_destroy(struct lm *m);
/* The tokenizer named by cfg->tokenizer ("gpt2": vocab.json + merges.txt from $VKGEN_GPT2_TOKENIZER_DIR,
 * ~/.cache/vkgen/gpt2-tokenizer or assets/gpt2-tokenizer). */
vkg_status lm_tokenizer_make(const char *name, vkg_tokenizer **out);

// ---- the corpus ----

/* The text a sequence starts from when the prompt is empty: "<|endoftext|>" if the tokenizer has it,
 * else "%\n" (the end of a fortune). *n gets its token count; ids is malloc'd. */
vkg_status lm_start_tokens(const vkg_tokenizer *tok, int32_t **ids, size_t *n);

// ---- training (nn_train) and evaluation ----

struct lm_train_opts {
  int batch;
  size_t limit;      /* > 0: only the first `limit` training windows */
  size_t val_tokens; /* validation tokens per evaluation (0: 16384) */
  const char *data_dir;
  int synthetic; /* > 0: this many windows of random tokens instead of a corpus (benchmarks) */
};
/* An nn_model whose examples are the non-overlapping windows of T + 1 training tokens; the loss is
 * the mean cross-entropy of next-token prediction; evaluate() reports val_loss (nats per byte of
 * text), val_ppl (its exp), val_loss_token (nats per token). */
vkg_status lm_model_create(struct lm *lm, const struct lm_train_opts *o, struct nn_model **out);
void lm_model_destroy(struct nn_model *m); /* not the lm (unless made by the family hooks below) */
/* The families' hooks for the generic commands (training from a config, gpt also from a Hugging Face
 * directory; the model owns its lm): nn_create_opts.train is a struct of their train_cfg (val_tokens). */
extern const struct nn_family_ops lm_ops_gpt, lm_ops_lstm, lm_ops_gru;
/* Validation over tokens[0..n): total nats and the number of predicted tokens, in windows of the
 * model's context (T) and batch B. pg (may be NULL) is advanced by the tokens done. */
struct nn_progress;
vkg_status lm_nll(struct lm *m, const int32_t *tokens, size_t n, int batch, double *nats, size_t *count,
                  struct nn_progress *pg);
/* Logits (B, T, V) for ids (B, T) through the full forward (a graph built and freed per call). */
vkg_status lm_logits(struct lm *m, const int32_t *ids, int B, int T, float *logits);

// ---- decoding ----

struct lm_sampling {
  float temperature; /* <= 0: greedy */
  int top_k;         /* 0: all */
  float top_p;       /* (0, 1]; 1: all */
  uint64_t seed;
};
struct lm_decoder {
  struct lm *m;
  int batch, max_len, unroll; /* B rows, positions [0, max_len), K steps per submission */
  vkg_graph *g;
  vkg_tensor *tokens; /* i32 (B, max_len): the prompt, then what was sampled */
  int pos_slot, plen_slot, seed_slot, temp_slot, topk_slot, topp_slot;
  vkg_t logits[64]; /* (B, V) of each unrolled step when keep_logits */
  int keep_logits;
  int pos;  /* the next position to feed */
  int plen; /* prompt length */
  struct lm_sampling s;
  void *state; /* the family's (dec_init) */
  int nstate;
  vkg_tensor *state_t[256]; /* the family's state tensors (freed by lm_decoder_destroy) */
};
/* Records the K-step graph once. unroll 0 picks a default (8). keep_logits: keep each step's logits
 * readable (tests; lm_decoder_logits). */
vkg_status lm_decoder_create(struct lm *m, int batch, int max_len, int unroll, int keep_logits,
                             struct lm_decoder **out);
void lm_decoder_destroy(struct lm_decoder *d);
/* Starts B prompts of n tokens (1 <= n <= max_len; ids checked against the vocabulary); position 0
 * is fed next. per_row 0: every row gets ids[0..n); per_row 1: ids is (B, n), one prompt per row. */
vkg_status lm_decoder_start(struct lm_decoder *d, const int32_t *ids, int n, int per_row, const struct lm_sampling *s);
/* One submission: feeds positions pos .. pos + K - 1. Afterwards tokens (B, max_len) holds every
 * token up to position min(pos + K, max_len - 1) (read with lm_decoder_tokens). */
vkg_status lm_decoder_step(struct lm_decoder *d);
vkg_status lm_decoder_tokens(struct lm_decoder *d, int32_t *out /* (B, max_len) */);
/* Logits (B, V) of unrolled step k of the last submission (keep_logits only). */
vkg_status lm_decoder_logits(struct lm_decoder *d, int k, float *out);
#endif
