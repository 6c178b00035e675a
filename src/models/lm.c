/* Code shared by the text families (see lm.h): config, the family table, loading and saving, the
 * fortunes corpus, training windows for nn_train, validation loss, and the recorded K-step decoder.
 * Shape letters: B batch, T time, V vocabulary, K unrolled decoding steps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "models/gpt.h"
#include "models/lm.h"
#include "models/rnn.h"
#include "nn/progress.h"
#include "nn/weights.h"

// ---- families ----

/* The registered text families: gpt (gpt.c), lstm and gru (rnn.c). */
static const struct lm_family *const families[] = {
    &lm_family_gpt,
    &lm_family_lstm,
    &lm_family_gru,
    NULL,
};

const struct lm_family *lm_family_find(const char *name) {
  for (int i = 0; families[i]; i++)
    if (!strcmp(families[i]->name, name)) return families[i];
  vkg__fail(VKG_ERR_ARG, "'%s' is not a text model", name);
  vkg__hint("text models: gpt, lstm, gru");
  return NULL;
}

// ---- config ----

/* The architecture tables: gpt's, and the RNNs' (which have no heads, MLP or LayerNorm, so those
 * stay 0 and are not options). vocab follows the tokenizer; family is fixed by the table. */
static vkg_status check_config(const void *cfg) {
  const struct lm_config *c = cfg;
  if (!strcmp(c->family, "gpt")) {
    if (c->heads < 1 || c->dim % c->heads)
      return vkg__fail(VKG_ERR_ARG, "gpt config: dim %d must be a multiple of heads %d", c->dim, c->heads);
    if (c->mlp < 1 || !(c->ln_eps > 0))
      return vkg__fail(VKG_ERR_ARG, "gpt config: mlp %d must be positive and ln_eps %g above 0", c->mlp,
                       (double)c->ln_eps);
  }
  if (!strcmp(c->tokenizer, "bytes") && c->vocab != 256)
    return vkg__fail(VKG_ERR_ARG, "%s config: the bytes tokenizer has 256 tokens, not %d", c->family, c->vocab);
  return VKG_OK;
}
#define I(...) NN_CFG_INT_F(struct lm_config, __VA_ARGS__)
#define LM_FIELDS(fam, rnn_only)                                                                                       \
  {.key = "family",                                                                                                    \
   .type = NN_CFG_STR,                                                                                                 \
   .offset = offsetof(struct lm_config, family),                                                                       \
   .size = sizeof(((struct lm_config *)0)->family),                                                                    \
   .set = fam,                                                                                                         \
   .def_str = fam,                                                                                                     \
   .help = "the family",                                                                                               \
   .flags = NN_CFG_NOCLI},                                                                                             \
      NN_CFG_STR_F(struct lm_config, tokenizer, "bytes", "bytes,gpt2",                                                 \
                   "bytes, or gpt2 (GPT-2's BPE; needs its vocab.json and merges.txt)"),                               \
      {.key = "vocab",                                                                                                 \
       .type = NN_CFG_INT,                                                                                             \
       .offset = offsetof(struct lm_config, vocab),                                                                    \
       .size = sizeof(int),                                                                                            \
       .def = 256,                                                                                                     \
       .lo = 1,                                                                                                        \
       .hi = 1 << 20,                                                                                                  \
       .help = "vocabulary (follows the tokenizer)",                                                                   \
       .flags = NN_CFG_NOCLI},                                                                                         \
      I(layers, 4, 1, 256, NULL, "layers"), I(dim, 128, 1, 16384, NULL, "width"),                                      \
      {.key = "heads",                                                                                                 \
       .type = NN_CFG_INT,                                                                                             \
       .offset = offsetof(struct lm_config, heads),                                                                    \
       .size = sizeof(int),                                                                                            \
       .def = rnn_only ? 0 : 4,                                                                                        \
       .lo = 0,                                                                                                        \
       .hi = 1024,                                                                                                     \
       .help = "attention heads",                                                                                      \
       .flags = rnn_only ? NN_CFG_NOCLI : 0},                                                                          \
      I(context, 128, 1, 65536, NULL, rnn_only ? "training window in tokens" : "positions (the KV cache length)"),     \
      {.key = "tied",                                                                                                  \
       .type = NN_CFG_INT,                                                                                             \
       .offset = offsetof(struct lm_config, tied),                                                                     \
       .size = sizeof(int),                                                                                            \
       .lo = 0,                                                                                                        \
       .hi = 1,                                                                                                        \
       .help = "the output head is the token embedding (default: its own matrix)",                                     \
       .flags = NN_CFG_FLAG,                                                                                           \
       .flag_value = 1},                                                                                               \
      {.key = "mlp",                                                                                                   \
       .type = NN_CFG_INT,                                                                                             \
       .offset = offsetof(struct lm_config, mlp),                                                                      \
       .size = sizeof(int),                                                                                            \
       .def = rnn_only ? 0 : 512,                                                                                      \
       .lo = 0,                                                                                                        \
       .hi = 1 << 20,                                                                                                  \
       .help = "MLP width (default 4 * dim)",                                                                          \
       .flags = rnn_only ? NN_CFG_NOCLI : 0},                                                                          \
  {                                                                                                                    \
    .key = "ln_eps", .type = NN_CFG_FLOAT, .offset = offsetof(struct lm_config, ln_eps), .size = sizeof(float),        \
    .def = 1e-5, .lo = 0, .hi = 1, .help = "LayerNorm epsilon", .flags = rnn_only ? NN_CFG_NOCLI : 0,                  \
    .value_name = "X"                                                                                                  \
  }
static const struct nn_cfg_field gpt_fields[] = {LM_FIELDS("gpt", 0)};
static const struct nn_cfg_field lstm_fields[] = {LM_FIELDS("lstm", 1)};
static const struct nn_cfg_field gru_fields[] = {LM_FIELDS("gru", 1)};
#undef I
#undef LM_FIELDS
#define N (int)(sizeof gpt_fields / sizeof gpt_fields[0])
/* The vocabulary follows the tokenizer; GPT's MLP width is 4 * dim unless --mlp is given. */
static void derive(void *cfg, unsigned long given) {
  struct lm_config *c = cfg;
  c->vocab = !strcmp(c->tokenizer, "bytes") ? 256 : 50257;
  int mlp = -1;
  for (int k = 0; k < N; k++)
    if (!strcmp(gpt_fields[k].key, "mlp")) mlp = k;
  if (c->mlp && !(given >> mlp & 1)) c->mlp = 4 * c->dim;
}
const struct nn_cfg lm_cfg_gpt = {"gpt", gpt_fields, N, sizeof(struct lm_config), check_config, derive};
const struct nn_cfg lm_cfg_lstm = {"lstm", lstm_fields, N, sizeof(struct lm_config), check_config, derive};
const struct nn_cfg lm_cfg_gru = {"gru", gru_fields, N, sizeof(struct lm_config), check_config, derive};
#undef N

const struct nn_cfg *lm_cfg(const char *family) {
  return !strcmp(family, "gpt") ? &lm_cfg_gpt : !strcmp(family, "lstm") ? &lm_cfg_lstm : &lm_cfg_gru;
}

struct lm_config lm_config_default(const char *family) {
  struct lm_config c = {0};
  nn_cfg_defaults(lm_cfg(family), &c);
  return c;
}

vkg_status lm_config_check(const struct lm_config *c) { return nn_cfg_check(lm_cfg(c->family), c); }

// ---- models ----

vkg_status lm_tokenizer_make(const char *name, vkg_tokenizer **out) {
  *out = NULL;
  if (!strcmp(name, "bytes")) return vkg_tokenizer_bytes(out);
  if (strcmp(name, "gpt2")) return vkg__fail(VKG_ERR_ARG, "unknown tokenizer '%s' (bytes or gpt2)", name);
  const char *env = getenv("VKGEN_GPT2_TOKENIZER_DIR"), *home = getenv("HOME");
  char dirs[2][4096], vocab[8300], merges[8300];
  /* The dirs are short paths; the large buffers keep -Wformat-truncation quiet. */
  int nd = 0;
  if (env && *env) snprintf(dirs[nd++], sizeof dirs[0], "%s", env);
  if (home && *home) snprintf(dirs[nd++], sizeof dirs[0], "%s/.cache/vkgen/gpt2-tokenizer", home);
  for (int i = 0; i < nd; i++) {
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dirs[i]);
    snprintf(merges, sizeof merges, "%s/merges.txt", dirs[i]);
    if (access(vocab, R_OK) == 0 && access(merges, R_OK) == 0) return vkg_tokenizer_gpt2(vocab, merges, out);
  }
  vkg__fail(VKG_ERR_IO, "GPT-2's tokenizer files (vocab.json, merges.txt) are not in $VKGEN_GPT2_TOKENIZER_DIR or "
                        "~/.cache/vkgen/gpt2-tokenizer");
  vkg__hint("fetch them with tests/fetch-gpt2-tokenizer.sh, or use --tokenizer bytes");
  return VKG_ERR_IO;
}

/* lm_create, checking each parameter against the weights file `expect` (may be NULL) as it is made. */
static vkg_status create(vkg_ctx *ctx, const struct lm_config *cfg, vkg_tokenizer *tok, uint64_t seed,
                         const vkg_st *expect, const char *path, struct lm **out) {
  *out = NULL;
  vkg_status s = lm_config_check(cfg);
  const struct lm_family *fam = s ? NULL : lm_family_find(cfg->family);
  struct lm *m = fam ? calloc(1, sizeof *m) : NULL;
  if (!m) {
    vkg_tokenizer_free(tok);
    return s ? s : fam ? vkg__fail(VKG_ERR_OOM, "out of host memory") : VKG_ERR_UNSUPPORTED;
  }
  m->fam = fam;
  m->cfg = *cfg;
  m->tok = tok;
  nn_params_init(&m->params, ctx);
  if (expect) nn_params_expect(&m->params, expect, path);
  if (!m->tok) s = lm_tokenizer_make(cfg->tokenizer, &m->tok);
  if (!s && vkg_tokenizer_vocab(m->tok) > cfg->vocab)
    s = vkg__fail(VKG_ERR_ARG, "the %s tokenizer has %d tokens, more than the model's vocabulary of %d", cfg->tokenizer,
                  vkg_tokenizer_vocab(m->tok), cfg->vocab);
  if (!s) s = fam->create(m, seed);
  if (s) {
    lm_destroy(m);
    return s;
  }
  *out = m;
  return VKG_OK;
}

vkg_status lm_create(vkg_ctx *ctx, const struct lm_config *cfg, vkg_tokenizer *tok, uint64_t seed, struct lm **out) {
  return create(ctx, cfg, tok, seed, NULL, NULL, out);
}

void lm_destroy(struct lm *m) {
  if (!m) return;
  if (m->fam && m->fam->destroy) m->fam->destroy(m);
  nn_params_free(&m->params);
  vkg_tokenizer_free(m->tok);
  free(m);
}

static int is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

vkg_status lm_load(vkg_ctx *ctx, const char *path, const char *family, struct lm **out) {
  *out = NULL;
  if (is_dir(path)) {
    if (family && strcmp(family, "gpt")) {
      vkg__fail(VKG_ERR_ARG, "'%s' is a directory; only gpt reads Hugging Face checkpoint directories", path);
      vkg__hint("pass the %s.safetensors written by 'vkgen train %s'", family, family);
      return VKG_ERR_ARG;
    }
    return gpt_load_hf(ctx, path, out);
  }
  /* Without a family, the file's own model says which text family it is. */
  if (!family) {
    vkg_st *st;
    vkg_status s = vkg_st_open(path, &st);
    if (s) return s;
    const char *model = vkg_st_metadata(st, "model");
    family =
        model && (!strcmp(model, "lstm") || !strcmp(model, "gru")) ? (!strcmp(model, "lstm") ? "lstm" : "gru") : "gpt";
    vkg_st_close(st);
  }
  struct lm_config c = {0};
  vkg_st *st;
  vkg_status s = nn_weights_open(path, family, lm_cfg(family), &c, &st);
  if (s) return s;
  struct lm *m = NULL;
  s = create(ctx, &c, NULL, 0, st, path, &m);
  if (!s) s = nn_weights_load(&m->params, st, path);
  vkg_st_close(st);
  if (s) {
    lm_destroy(m);
    return s;
  }
  *out = m;
  return VKG_OK;
}

vkg_status lm_save(struct lm *m, const char *path) {
  return nn_weights_save(path, m->fam->name, lm_cfg(m->fam->name), &m->cfg, &m->params);
}

// ---- corpus ----

vkg_status lm_start_tokens(const vkg_tokenizer *tok, int32_t **ids, size_t *n) {
  int32_t eot = vkg_tokenizer_token(tok, "<|endoftext|>", 13);
  if (eot >= 0) {
    *ids = malloc(sizeof **ids);
    if (!*ids) return vkg__fail(VKG_ERR_OOM, "out of host memory");
    (*ids)[0] = eot;
    *n = 1;
    return VKG_OK;
  }
  return vkg_tokenize(tok, "%\n", 2, ids, n);
}

// ---- evaluation ----

vkg_status lm_logits(struct lm *m, const int32_t *ids, int B, int T, float *logits) {
  vkg_graph *g;
  vkg_status s = vkg_graph_create(m->params.ctx, &g);
  if (s) return s;
  vkg_t *p = malloc(sizeof *p * (size_t)(m->params.n + 1));
  nn_bind_all(g, &m->params, -1, p);
  int shape[2] = {B, T};
  vkg_t x = vkg_input(g, "ids", VKG_I32, 2, shape);
  vkg_t out = m->fam->forward(m, g, p, x);
  vkg_output(g, out);
  free(p);
  s = vkg_graph_compile(g);
  if (!s) s = vkg_graph_write_i32(g, x, ids, (size_t)B * T);
  if (!s) s = vkg_graph_run(g);
  if (!s) s = vkg_graph_read(g, out, logits, (size_t)B * T * m->cfg.vocab);
  vkg_graph_destroy(g);
  return s;
}

vkg_status lm_nll(struct lm *m, const int32_t *tokens, size_t n, int batch, double *nats, size_t *count,
                  struct nn_progress *pg) {
  *nats = 0, *count = 0;
  const int T = m->cfg.context, B = batch;
  if (n < 2) return VKG_OK;
  vkg_graph *g;
  vkg_status s = vkg_graph_create(m->params.ctx, &g);
  if (s) return s;
  vkg_t *p = malloc(sizeof *p * (size_t)(m->params.n + 1));
  nn_bind_all(g, &m->params, -1, p);
  int shape[2] = {B, T};
  vkg_t x = vkg_input_streamed(g, "ids", VKG_I32, 2, shape), y = vkg_input_streamed(g, "labels", VKG_I32, 2, shape);
  vkg_t loss = vkg_cross_entropy_loss(g, m->fam->forward(m, g, p, x), y, -1);
  vkg_output(g, loss);
  free(p);
  s = vkg_graph_compile(g);
  int32_t *xb = malloc(sizeof *xb * (size_t)B * T), *yb = malloc(sizeof *yb * (size_t)B * T);
  if (!s && (!xb || !yb)) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  /* Windows start every T tokens; each predicts tokens start+1 .. start+T, the last one fewer
   * (its missing labels are ignored). */
  size_t start = 0;
  while (!s && start + 1 < n) {
    size_t valid = 0;
    for (int b = 0; b < B; b++) {
      for (int t = 0; t < T; t++) {
        size_t i = start + (size_t)t;
        int ok = i + 1 < n;
        xb[b * T + t] = i < n ? tokens[i] : 0;
        yb[b * T + t] = ok ? tokens[i + 1] : -1;
        valid += (size_t)ok;
      }
      if (start + 1 < n) start += (size_t)T;
    }
    float l = 0;
    s = vkg_graph_write_i32(g, x, xb, (size_t)B * T);
    if (!s) s = vkg_graph_write_i32(g, y, yb, (size_t)B * T);
    if (!s) s = vkg_graph_run(g);
    if (!s) s = vkg_graph_read(g, loss, &l, 1);
    *nats += (double)l * (double)valid;
    *count += valid;
    if (!s && pg) nn_progress_update(pg, (long)(start < n ? start : n), NULL);
  }
  free(xb);
  free(yb);
  vkg_graph_destroy(g);
  return s;
}

// ---- training glue (nn_model) ----

struct lm_nn {
  struct nn_model m;
  struct lm *lm;
  struct nn_text_data corpus;
  struct lm_train_opts o;
  vkg_t x, y;
  int32_t *xbuf, *ybuf;
  int own; /* lm_model_destroy destroys the lm too (the family hooks' models) */
};

static vkg_t build_loss(struct nn_model *m, vkg_graph *g, const vkg_t *ids, int phase) {
  (void)phase;
  struct lm_nn *n = m->self;
  int shape[2] = {m->batch, n->lm->cfg.context};
  n->x = vkg_input_streamed(g, "ids", VKG_I32, 2, shape);
  n->y = vkg_input_streamed(g, "labels", VKG_I32, 2, shape);
  return vkg_cross_entropy_loss(g, n->lm->fam->forward(n->lm, g, ids, n->x), n->y, -1);
}

static vkg_status write_batch(struct nn_model *m, vkg_graph *g, int phase, const uint32_t *idx) {
  (void)phase;
  struct lm_nn *n = m->self;
  const int T = n->lm->cfg.context;
  for (int b = 0; b < m->batch; b++) {
    const int32_t *w = n->corpus.train + (size_t)idx[b] * (size_t)T; /* window idx: tokens [idx T, idx T + T] */
    memcpy(n->xbuf + (size_t)b * T, w, sizeof *w * (size_t)T);
    memcpy(n->ybuf + (size_t)b * T, w + 1, sizeof *w * (size_t)T);
  }
  vkg_status s = vkg_graph_write_i32(g, n->x, n->xbuf, (size_t)m->batch * T);
  return s ? s : vkg_graph_write_i32(g, n->y, n->ybuf, (size_t)m->batch * T);
}

static vkg_status evaluate(struct nn_model *m, int *count, const char **names, double *values) {
  struct lm_nn *n = m->self;
  size_t want = n->o.val_tokens ? n->o.val_tokens : 16384;
  size_t nv = n->corpus.nval < want ? n->corpus.nval : want;
  double nats;
  size_t predicted;
  vkg_status s = lm_nll(n->lm, n->corpus.val, nv, m->batch, &nats, &predicted, NULL);
  if (s) return s;
  /* Nats per byte of text: the predicted tokens 1 .. nv-1 decode to this many bytes. */
  char *text;
  size_t bytes;
  if ((s = vkg_detokenize(n->lm->tok, n->corpus.val + 1, nv - 1, &text, &bytes))) return s;
  free(text);
  double per_token = nats / (double)(predicted ? predicted : 1);
  names[0] = "val_loss", values[0] = nats / (double)(bytes ? bytes : 1);
  names[1] = "val_ppl", values[1] = exp(per_token);
  names[2] = "val_loss_token", values[2] = per_token;
  *count = 3;
  return VKG_OK;
}

vkg_status lm_model_create(struct lm *lm, const struct lm_train_opts *o, struct nn_model **out) {
  *out = NULL;
  struct lm_nn *n = calloc(1, sizeof *n);
  if (!n) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  n->lm = lm;
  n->o = *o;
  struct nn_model *m = &n->m;
  m->name = lm->fam->name;
  m->self = n;
  m->batch = o->batch;
  m->build_loss = build_loss;
  m->write_batch = write_batch;
  m->evaluate = evaluate;
  m->params = lm->params; /* shares the lm's tensors; lm_destroy frees them */
  nn_cfg_json(lm_cfg(lm->fam->name), &lm->cfg, m->config, sizeof m->config);
  const size_t T = (size_t)lm->cfg.context;
  vkg_status s = VKG_OK;
  if (o->synthetic > 0) {
    struct nn_text_data *c = &n->corpus;
    c->ntrain = (size_t)o->synthetic * T + 1;
    if (!(c->train = malloc(sizeof *c->train * c->ntrain))) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
    for (size_t i = 0; !s && i < c->ntrain; i++)
      c->train[i] = (int32_t)(nn_mix(7, (uint64_t)i) % (uint64_t)lm->cfg.vocab);
  } else {
    s = nn_text_data_load(o->data_dir, lm->tok, &n->corpus);
  }
  if (!s) {
    m->n_train = n->corpus.ntrain > T ? (n->corpus.ntrain - 1) / T : 0;
    if (o->limit > 0 && o->limit < m->n_train) m->n_train = o->limit;
    if (m->n_train < (size_t)o->batch) {
      s = vkg__fail(VKG_ERR_ARG, "the training text has %zu windows of %zu tokens, fewer than a batch of %d",
                    m->n_train, T + 1, o->batch);
      vkg__hint("lower --batch or --context, or raise --limit / use a larger corpus");
    }
  }
  n->xbuf = malloc(sizeof *n->xbuf * (size_t)o->batch * T);
  n->ybuf = malloc(sizeof *n->ybuf * (size_t)o->batch * T);
  if (!s && (!n->xbuf || !n->ybuf)) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  if (s) {
    lm_model_destroy(m);
    return s;
  }
  *out = m;
  return VKG_OK;
}

void lm_model_destroy(struct nn_model *m) {
  if (!m) return;
  struct lm_nn *n = m->self;
  nn_text_data_free(&n->corpus);
  free(n->xbuf);
  free(n->ybuf);
  if (n->own) lm_destroy(n->lm);
  free(n);
}

// ---- the families' hooks ----

/* The options of training only (nn_create_opts.train). */
struct lm_train {
  int val_tokens;
};
#define F(...) NN_CFG_INT_F(struct lm_train, __VA_ARGS__)
static const struct nn_cfg_field train_fields[] = {
    F(val_tokens, 16384, 2, 100000000, NULL, "validation tokens per evaluation")};
#undef F
static const struct nn_cfg train_cfg = {"text training", train_fields, 1, sizeof(struct lm_train), NULL, NULL};

/* A model for the training loop owning its lm. */
static vkg_status model_of(struct lm *lm, const struct nn_create_opts *o, struct nn_model **m) {
  struct lm_train_opts lo = {.batch = o->batch, .limit = o->limit, .data_dir = o->data_dir, .synthetic = o->synthetic};
  if (o->train) lo.val_tokens = (size_t)((const struct lm_train *)o->train)->val_tokens;
  vkg_status s = lm_model_create(lm, &lo, m);
  if (s)
    lm_destroy(lm);
  else
    ((struct lm_nn *)(*m)->self)->own = 1;
  return s;
}

static vkg_status create_hook(vkg_ctx *ctx, const void *cfg, const struct nn_create_opts *o, struct nn_model **m) {
  *m = NULL;
  if (o->expect)
    return vkg__fail(VKG_ERR_ARG, "%s: load text weights with lm_load", ((const struct lm_config *)cfg)->family);
  struct lm *lm;
  vkg_status s = lm_create(ctx, cfg, NULL, o->seed, &lm);
  return s ? s : model_of(lm, o, m);
}

/* --init DIR: a Hugging Face GPT-2 directory, loaded as 'sample gpt --weights DIR' loads it. */
static vkg_status create_from(vkg_ctx *ctx, const char *dir, const struct nn_create_opts *o, struct nn_model **m) {
  *m = NULL;
  struct lm *lm;
  vkg_status s = lm_load(ctx, dir, "gpt", &lm);
  return s ? s : model_of(lm, o, m);
}

#define ABOUT(fam)                                                                                                     \
  "Trains a " fam " language model on the Debian fortunes (or a directory of fortune files with --data DIR;\n"         \
  "every 20th fortune held out for validation). The loss is the cross-entropy of the next token; after\n"              \
  "each epoch val_loss (nats per byte of text), val_ppl (per-token perplexity) and val_loss_token."
const struct nn_family_ops lm_ops_gpt = {
    .create = create_hook,
    .destroy = lm_model_destroy,
    .about =
        ABOUT("GPT") "\n--init also takes a Hugging Face GPT-2 directory (config.json, model.safetensors, vocab.json,\n"
                     "merges.txt): fine-tuning starts from its weights, architecture and tokenizer.",
    .train_cfg = &train_cfg,
    .create_from = create_from};
const struct nn_family_ops lm_ops_lstm = {
    .create = create_hook, .destroy = lm_model_destroy, .about = ABOUT("LSTM"), .train_cfg = &train_cfg};
const struct nn_family_ops lm_ops_gru = {
    .create = create_hook, .destroy = lm_model_destroy, .about = ABOUT("GRU"), .train_cfg = &train_cfg};
#undef ABOUT

// ---- decoding ----

vkg_status lm_decoder_create(struct lm *m, int batch, int max_len, int unroll, int keep_logits,
                             struct lm_decoder **out) {
  *out = NULL;
  int K = unroll > 0 ? unroll : 8;
  if (batch < 1 || max_len < 2 || K > (int)(sizeof((struct lm_decoder *)0)->logits / sizeof(vkg_t)))
    return vkg__fail(VKG_ERR_ARG,
                     "decoder: batch %d, length %d, unroll %d (need batch >= 1, length >= 2, unroll <= 64)", batch,
                     max_len, K);
  struct lm_decoder *d = calloc(1, sizeof *d);
  if (!d) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  d->m = m, d->batch = batch, d->max_len = max_len, d->unroll = K, d->keep_logits = keep_logits;
  vkg_status s = m->fam->dec_init(m, d);
  int ts[2] = {batch, max_len};
  if (!s) s = vkg_tensor_create(m->params.ctx, VKG_I32, 2, ts, &d->tokens);
  if (!s) s = vkg_graph_create(m->params.ctx, &d->g);
  if (s) {
    lm_decoder_destroy(d);
    return s;
  }
  vkg_graph *g = d->g;
  d->pos_slot = vkg_scalar(g, "pos");
  d->plen_slot = vkg_scalar(g, "prompt_len");
  d->seed_slot = vkg_scalar(g, "seed");
  d->temp_slot = vkg_scalar(g, "temperature");
  d->topk_slot = vkg_scalar(g, "top_k");
  d->topp_slot = vkg_scalar(g, "top_p");
  vkg_t *p = malloc(sizeof *p * (size_t)(m->params.n + 1));
  nn_bind_all(g, &m->params, -1, p);
  vkg_t tok = vkg_bind(g, d->tokens); // (B, max_len)
  /* K steps in one graph: step k reads the token at pos + k, and its draw becomes the token at
   * pos + k + 1 unless that position still belongs to the prompt. */
  int s2[2] = {batch, 1};
  for (int k = 0; k < K; k++) {
    vkg_t ids = vkg_gather_at(g, tok, 1, d->pos_slot, k, 1); // (B, 1)
    vkg_t logits = m->fam->step(m, d, g, p, ids, k);         // (B, V)
    if (keep_logits) vkg_output(g, logits);
    d->logits[k] = logits;
    vkg_t next = vkg_sample_logits_p(g, logits, d->seed_slot, d->temp_slot, d->topk_slot, d->topp_slot); // (B)
    tok = vkg_scatter_at(g, tok, vkg_reshape(g, next, 2, s2), 1, d->pos_slot, k + 1, d->plen_slot);
  }
  free(p);
  s = vkg_graph_compile(g);
  if (s) {
    lm_decoder_destroy(d);
    return s;
  }
  *out = d;
  return VKG_OK;
}

void lm_decoder_destroy(struct lm_decoder *d) {
  if (!d) return;
  vkg_graph_destroy(d->g);
  if (d->m->fam->dec_free) d->m->fam->dec_free(d->m, d);
  for (int i = 0; i < d->nstate; i++)
    vkg_tensor_destroy(d->state_t[i]);
  vkg_tensor_destroy(d->tokens);
  free(d);
}

vkg_status lm_decoder_start(struct lm_decoder *d, const int32_t *ids, int n, int per_row, const struct lm_sampling *s) {
  if (n < 1 || n > d->max_len)
    return vkg__fail(VKG_ERR_ARG, "a prompt of %d tokens does not fit %d positions", n, d->max_len);
  int V = d->m->cfg.vocab;
  for (int i = 0; i < n * (per_row ? d->batch : 1); i++)
    if (ids[i] < 0 || ids[i] >= V)
      return vkg__fail(VKG_ERR_ARG, "prompt token %d is outside the vocabulary of %d", ids[i], V);
  size_t total = (size_t)d->batch * d->max_len;
  int32_t *t = calloc(total, sizeof *t);
  if (!t) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (int b = 0; b < d->batch; b++)
    memcpy(t + (size_t)b * d->max_len, ids + (per_row ? (size_t)b * n : 0), sizeof *t * (size_t)n);
  vkg_status st = vkg_tensor_upload(d->tokens, t, sizeof *t * total);
  free(t);
  d->pos = 0, d->plen = n, d->s = *s;
  if (!st && d->m->fam->dec_reset) st = d->m->fam->dec_reset(d->m, d);
  return st;
}

vkg_status lm_decoder_step(struct lm_decoder *d) {
  vkg_graph *g = d->g;
  vkg_graph_set_u32(g, d->pos_slot, (uint32_t)d->pos);
  vkg_graph_set_u32(g, d->plen_slot, (uint32_t)d->plen);
  vkg_graph_set_u32(g, d->seed_slot, (uint32_t)nn_mix(d->s.seed, (uint64_t)d->pos));
  vkg_graph_set_f32(g, d->temp_slot, d->s.temperature);
  vkg_graph_set_u32(g, d->topk_slot, (uint32_t)(d->s.top_k > 0 ? d->s.top_k : 0));
  vkg_graph_set_f32(g, d->topp_slot, d->s.top_p > 0 ? d->s.top_p : 1.0f);
  vkg_status s = vkg_graph_run(g);
  if (!s) d->pos += d->unroll;
  return s;
}

vkg_status lm_decoder_tokens(struct lm_decoder *d, int32_t *out) {
  return vkg_tensor_download(d->tokens, out, sizeof *out * (size_t)d->batch * d->max_len);
}

vkg_status lm_decoder_logits(struct lm_decoder *d, int k, float *out) {
  if (!d->keep_logits || k < 0 || k >= d->unroll)
    return vkg__fail(VKG_ERR_ARG, "decoder logits of step %d not kept", k);
  return vkg_graph_read(d->g, d->logits[k], out, (size_t)d->batch * d->m->cfg.vocab);
}
