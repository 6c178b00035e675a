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

struct lm_config lm_config_default(const char *family) {
  struct lm_config c = {.vocab = 256, .layers = 4, .dim = 128, .context = 128, .ln_eps = 1e-5f};
  snprintf(c.family, sizeof c.family, "%s", family);
  snprintf(c.tokenizer, sizeof c.tokenizer, "bytes");
  if (!strcmp(family, "gpt")) c.heads = 4, c.mlp = 4 * c.dim;
  return c;
}

vkg_status lm_config_check(const struct lm_config *c) {
  int gpt = !strcmp(c->family, "gpt");
  if (c->vocab < 1 || c->layers < 1 || c->dim < 1 || c->context < 1)
    return vkg__fail(VKG_ERR_ARG, "%s: vocab %d, layers %d, dim %d and context %d must all be positive", c->family,
                     c->vocab, c->layers, c->dim, c->context);
  if (gpt && (c->heads < 1 || c->dim % c->heads))
    return vkg__fail(VKG_ERR_ARG, "gpt: dim %d must be a multiple of heads %d", c->dim, c->heads);
  if (gpt && (c->mlp < 1 || !(c->ln_eps > 0)))
    return vkg__fail(VKG_ERR_ARG, "gpt: mlp width %d must be positive and ln_eps %g above 0", c->mlp,
                     (double)c->ln_eps);
  if (strcmp(c->tokenizer, "bytes") && strcmp(c->tokenizer, "gpt2"))
    return vkg__fail(VKG_ERR_ARG, "tokenizer '%s' is neither bytes nor gpt2", c->tokenizer);
  return VKG_OK;
}

void lm_config_json(const struct lm_config *c, char *out, size_t n) {
  snprintf(out, n,
           "{\"family\": \"%s\", \"tokenizer\": \"%s\", \"vocab\": %d, \"layers\": %d, \"dim\": %d, \"heads\": %d, "
           "\"context\": %d, \"tied\": %d, \"mlp\": %d, \"ln_eps\": %.9g}",
           c->family, c->tokenizer, c->vocab, c->layers, c->dim, c->heads, c->context, c->tied, c->mlp,
           (double)c->ln_eps);
}

vkg_status lm_config_parse(const char *json, struct lm_config *c) {
  cJSON *j = json ? cJSON_Parse(json) : NULL;
  const cJSON *fam = cJSON_GetObjectItemCaseSensitive(j, "family"),
              *tok = cJSON_GetObjectItemCaseSensitive(j, "tokenizer");
  int ok = cJSON_IsString(fam) && cJSON_IsString(tok) && strlen(fam->valuestring) < sizeof c->family &&
           strlen(tok->valuestring) < sizeof c->tokenizer;
  if (ok) {
    *c = lm_config_default(fam->valuestring);
    snprintf(c->tokenizer, sizeof c->tokenizer, "%s", tok->valuestring);
    struct {
      const char *key;
      int *dst;
    } ints[] = {{"vocab", &c->vocab},     {"layers", &c->layers}, {"dim", &c->dim}, {"heads", &c->heads},
                {"context", &c->context}, {"tied", &c->tied},     {"mlp", &c->mlp}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && ok; i++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, ints[i].key);
      ok = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= (1 << 24);
      if (ok) *ints[i].dst = (int)v->valuedouble;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "ln_eps");
    if (ok && cJSON_IsNumber(eps)) c->ln_eps = (float)eps->valuedouble;
  }
  cJSON_Delete(j);
  if (!ok) return vkg__fail(VKG_ERR_FORMAT, "bad text-model config '%s'", json ? json : "(none)");
  return VKG_OK;
}

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

vkg_status lm_create(vkg_ctx *ctx, const struct lm_config *cfg, vkg_tokenizer *tok, uint64_t seed, struct lm **out) {
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
  const char *want = family ? family : "text";
  if (is_dir(path)) {
    if (family && strcmp(family, "gpt")) {
      vkg__fail(VKG_ERR_ARG, "'%s' is a directory; only gpt reads Hugging Face checkpoint directories", path);
      vkg__hint("pass the %s.safetensors written by 'vkgen train %s'", family, family);
      return VKG_ERR_ARG;
    }
    return gpt_load_hf(ctx, path, out);
  }
  vkg_st *st;
  vkg_status s = vkg_st_open(path, &st);
  if (s) {
    if (s == VKG_ERR_IO)
      vkg__hint("train one with 'vkgen train %s' or pass --weights FILE|DIR", family ? family : "gpt");
    return s;
  }
  const char *model = vkg_st_metadata(st, "model"), *config = vkg_st_metadata(st, "config");
  struct lm_config c;
  if (!model || !config) {
    s = vkg__fail(VKG_ERR_FORMAT, "'%s' is not a vkgen weights file (its metadata lacks model/config)", path);
    vkg__hint("use the %s.safetensors written by 'vkgen train %s', or a Hugging Face GPT-2 directory", want,
              family ? family : "gpt");
  } else if (family ? strcmp(model, family) != 0
                    : (strcmp(model, "gpt") && strcmp(model, "lstm") && strcmp(model, "gru"))) {
    s = vkg__fail(VKG_ERR_FORMAT, "weights '%s' are for a %s model, not %s", path, model, want);
    vkg__hint("pass weights written by 'vkgen train %s'", family ? family : "gpt");
  } else if ((s = lm_config_parse(config, &c)) || (strcmp(c.family, model) && (s = VKG_ERR_FORMAT))) {
    vkg__fail(VKG_ERR_FORMAT, "weights '%s': bad %s config '%s'", path, model, config);
    vkg__hint("the file is corrupt or from another program; train the model again");
  }
  struct lm *m = NULL;
  if (!s) s = lm_create(ctx, &c, NULL, 0, &m);
  if (!s && (s = nn_params_load(&m->params, st, "")))
    vkg__hint("the weights file does not match its own config; it is corrupt: train the model again");
  vkg_st_close(st);
  if (s) {
    lm_destroy(m);
    return s;
  }
  *out = m;
  return VKG_OK;
}

vkg_status lm_save(struct lm *m, const char *path) {
  char cfg[1024];
  lm_config_json(&m->cfg, cfg, sizeof cfg);
  vkg_st_writer *w = vkg_st_writer_create();
  if (!w) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_status s = nn_params_save(&m->params, w, "");
  if (!s) s = vkg_st_add_metadata(w, "format", "vkgen-weights");
  if (!s) s = vkg_st_add_metadata(w, "model", m->fam->name);
  if (!s) s = vkg_st_add_metadata(w, "config", cfg);
  if (!s) s = vkg_st_write(w, path);
  vkg_st_writer_destroy(w);
  return s;
}

// ---- corpus ----

struct buf {
  char *p;
  size_t n, cap;
};
static int buf_add(struct buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (b->n + n + 1 > cap)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return 0;
    b->p = p, b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
  return 1;
}

vkg_status lm_corpus_load(const char *dir, const vkg_tokenizer *tok, struct lm_corpus *c) {
  memset(c, 0, sizeof *c);
  struct vkg_text text;
  vkg_status s = vkg_text_load(dir, &text);
  if (s) return s;
  struct buf tr = {0}, va = {0};
  int cap_texts = 0, index = 0, oom = 0;
  /* A fortune is the lines up to a line holding only "%". */
  size_t start = 0, i = 0;
  while (i <= text.n && !oom) {
    size_t e = i;
    while (e < text.n && text.bytes[e] != '\n')
      e++;
    size_t ll = e - i;
    int sep = (ll == 1 && text.bytes[i] == '%') || (ll == 2 && text.bytes[i] == '%' && text.bytes[i + 1] == '\r');
    int end = e >= text.n;
    if (sep || end) {
      size_t fend = sep ? i : text.n;
      size_t len = fend > start ? fend - start : 0;
      const char *f = text.bytes + start;
      int blank = 1;
      for (size_t k = 0; k < len; k++)
        blank &= f[k] == ' ' || f[k] == '\n' || f[k] == '\t' || f[k] == '\r';
      if (!blank) {
        int held = index++ % 20 == 19; /* every 20th fortune is held out */
        struct buf *b = held ? &va : &tr;
        oom |= !buf_add(b, f, len) || !buf_add(b, "%\n", 2);
        if (held && !oom) {
          if (c->nval_texts == cap_texts) {
            cap_texts = cap_texts ? 2 * cap_texts : 256;
            char **nt = realloc(c->val_texts, sizeof *nt * (size_t)cap_texts);
            if (!nt) {
              oom = 1;
              break;
            }
            c->val_texts = nt;
          }
          char *copy = malloc(len + 1);
          if (!copy)
            oom = 1;
          else {
            memcpy(copy, f, len);
            copy[len] = 0;
            c->val_texts[c->nval_texts++] = copy;
          }
        }
      }
      start = e + 1;
    }
    if (end) break;
    i = e + 1;
  }
  vkg_text_free(&text);
  if (oom)
    s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  else if (!tr.n || !va.n) {
    s = vkg__fail(VKG_ERR_FORMAT, "the corpus in '%s' has too few fortunes for a validation split (needs 20 or more)",
                  dir ? dir : VKG_FORTUNES_DIR);
    vkg__hint("fortunes are separated by lines holding only '%%'; point --data at a directory of fortune files");
  }
  if (!s) s = vkg_tokenize(tok, tr.p, tr.n, &c->train, &c->ntrain);
  if (!s) s = vkg_tokenize(tok, va.p, va.n, &c->val, &c->nval);
  c->val_bytes = va.n;
  free(tr.p);
  free(va.p);
  if (s) lm_corpus_free(c);
  return s;
}

void lm_corpus_free(struct lm_corpus *c) {
  free(c->train);
  free(c->val);
  for (int i = 0; i < c->nval_texts; i++)
    free(c->val_texts[i]);
  free(c->val_texts);
  memset(c, 0, sizeof *c);
}

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

vkg_status lm_nll(struct lm *m, const int32_t *tokens, size_t n, int batch, double *nats, size_t *count) {
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
  struct lm_corpus corpus;
  struct lm_train_opts o;
  vkg_t x, y;
  int32_t *xbuf, *ybuf;
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
  vkg_status s = lm_nll(n->lm, n->corpus.val, nv, m->batch, &nats, &predicted);
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
  lm_config_json(&lm->cfg, m->config, sizeof m->config);
  vkg_status s = lm_corpus_load(o->data_dir, lm->tok, &n->corpus);
  const size_t T = (size_t)lm->cfg.context;
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
  lm_corpus_free(&n->corpus);
  free(n->xbuf);
  free(n->ybuf);
  free(n);
}

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
