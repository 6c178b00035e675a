/* The GPT family: a tiny random Hugging Face GPT-2 checkpoint (tests/fixtures/gpt2_tiny, written by
 * tools/gpt2_fixture.py from a float64 plain-torch GPT-2) loaded through the CLI's code path gives
 * PyTorch's logits (max |error| <= 1e-4 of max |logit| per sequence); KV-cache decoding gives the
 * full forward's logits at every position (1e-4 relative to max |logit|) and greedy tokens equal to
 * its argmax, for 1 and several steps per submission; a fixed seed samples the same tokens twice; a
 * few training steps on a tiny corpus lower the loss; weights survive a save/load round trip
 * exactly; bad checkpoints (config disagreeing with tensors, missing tensors, unparsable tokenizer,
 * another family's weights) give clear errors. Shape letters: B batch, T time, V vocabulary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "check/ref_lm.h"
#include "models/lm.h"

#define TINY FIXTURE_DIR "/gpt2_tiny"

/* The logits of the checkpoint in dir against expected.safetensors there. By default the committed tiny
 * fixture; $VKGEN_GPT2_FIXTURE names another directory made by tools/gpt2_fixture.py --size (e.g. a
 * random 1.5B-parameter GPT-2 on a GPU machine). */
static void fixture_logits(vkg_ctx *ctx) {
  const char *dir = getenv("VKGEN_GPT2_FIXTURE");
  int tiny = !dir || !*dir;
  if (tiny) dir = TINY;
  char path[4096];
  struct lm *m;
  if (!th_ok(lm_load(ctx, dir, "gpt", &m), "load the GPT-2 directory")) return;
  printf("note: %s: dim %d, layers %d, heads %d, context %d, vocab %d\n", dir, m->cfg.dim, m->cfg.layers, m->cfg.heads,
         m->cfg.context, m->cfg.vocab);
  if (tiny)
    th_check(m->cfg.dim == 64 && m->cfg.layers == 2 && m->cfg.heads == 4 && m->cfg.context == 32 &&
                 m->cfg.vocab == 300 && m->cfg.tied && vkg_tokenizer_vocab(m->tok) == 300,
             "config.json read: dim %d layers %d heads %d context %d vocab %d tied %d", m->cfg.dim, m->cfg.layers,
             m->cfg.heads, m->cfg.context, m->cfg.vocab, m->cfg.tied);
  vkg_st *st;
  snprintf(path, sizeof path, "%s/expected.safetensors", dir);
  if (th_ok(vkg_st_open(path, &st), "open expected logits")) {
    for (int i = 0; i < 3; i++) {
      char tn[32], ln[32];
      snprintf(tn, sizeof tn, "tokens_%d", i);
      snprintf(ln, sizeof ln, "logits_%d", i);
      int64_t shape[8];
      int idx = vkg_st_find(st, tn);
      if (!th_check(idx >= 0, "expected.safetensors holds %s", tn)) continue;
      vkg_st_shape(st, idx, shape);
      int T = (int)shape[0], V = m->cfg.vocab;
      size_t bytes;
      const int32_t *ids = vkg_st_data(st, idx, &bytes);
      float *ref = th_alloc((size_t)T * V), *got = th_alloc((size_t)T * V);
      int lshape[2] = {T, V};
      if (th_ok(vkg_st_read_f32(st, ln, 2, lshape, ref), ln) && th_ok(lm_logits(m, ids, 1, T, got), "logits")) {
        double e = ref_rel_err(got, ref, (size_t)T * V);
        printf("note: sequence %d (T = %d): max |logit error| / max |logit| = %.3g\n", i, T, e);
        th_check(e <= 1e-4, "logits of sequence %d (T = %d) match PyTorch: relative error %.3g <= 1e-4", i, T, e);
      }
      free(ref), free(got);
    }
    vkg_st_close(st);
  }
  lm_destroy(m);
}

/* Decodes greedily from a prompt with K steps per submission and checks every step's logits and token
 * against the full forward of the resulting sequence. */
static void kv_cache(vkg_ctx *ctx, struct lm *m, int B, int K, int plen) {
  const int T = m->cfg.context, V = m->cfg.vocab;
  char what[128];
  snprintf(what, sizeof what, "KV-cache decoding B=%d K=%d prompt %d", B, K, plen);
  struct lm_decoder *d;
  if (!th_ok(lm_decoder_create(m, B, T, K, 1, &d), what)) return;
  int32_t *prompt = malloc(sizeof *prompt * (size_t)B * plen), *tokens = malloc(sizeof *tokens * (size_t)B * T);
  for (int i = 0; i < B * plen; i++)
    prompt[i] = (i * 37 + 11) % V;
  struct lm_sampling s = {.temperature = 0, .top_p = 1, .seed = 5};
  float *step = th_alloc((size_t)B * T * V), *lk = th_alloc((size_t)B * V), *full = th_alloc((size_t)B * T * V);
  int ok = th_ok(lm_decoder_start(d, prompt, plen, 1, &s), what);
  /* Feed positions 0 .. T-2: the token of T-1 is then drawn; keep each position's logits. */
  while (ok && d->pos < T - 1) {
    int p0 = d->pos;
    ok = th_ok(lm_decoder_step(d), what);
    for (int k = 0; ok && k < K && p0 + k < T; k++) {
      ok = th_ok(lm_decoder_logits(d, k, lk), what);
      for (int b = 0; ok && b < B; b++)
        memcpy(step + ((size_t)b * T + p0 + k) * V, lk + (size_t)b * V, sizeof *lk * V);
    }
  }
  if (ok) ok = th_ok(lm_decoder_tokens(d, tokens), what);
  if (ok) ok = th_ok(lm_logits(m, tokens, B, T, full), what);
  if (ok) {
    /* Positions 0 .. T-2 were fed (the last submission may have run past T-1 into dropped writes). */
    struct ref_decode_check r = ref_decode_check(tokens, prompt, plen, step, full, B, T, V);
    th_check(r.same_prompt, "%s: the prompt is kept", what);
    th_check(r.err <= 1e-4, "%s: step logits equal the full forward's (relative error %.3g)", what, r.err);
    th_check(r.greedy, "%s: greedy tokens equal the full forward's argmax at every position", what);
  }
  free(prompt), free(tokens), free(step), free(lk), free(full);
  lm_decoder_destroy(d);
}

static void sampling_determinism(vkg_ctx *ctx, struct lm *m) {
  const int T = m->cfg.context, B = 3;
  int32_t a[3 * 32], b[3 * 32], c[3 * 32];
  int32_t prompt[2] = {5, 77};
  for (int run = 0; run < 3; run++) {
    struct lm_decoder *d;
    if (!th_ok(lm_decoder_create(m, B, T, 4, 0, &d), "decoder")) return;
    struct lm_sampling s = {.temperature = 1.0f, .top_k = 50, .top_p = 0.9f, .seed = run == 2 ? 8 : 7};
    int ok = th_ok(lm_decoder_start(d, prompt, 2, 0, &s), "start");
    while (ok && d->pos < T - 1)
      ok = th_ok(lm_decoder_step(d), "step");
    if (ok) th_ok(lm_decoder_tokens(d, run == 0 ? a : run == 1 ? b : c), "tokens");
    lm_decoder_destroy(d);
  }
  th_check(memcmp(a, b, sizeof a) == 0, "the same seed samples the same tokens");
  th_check(memcmp(a, c, sizeof a) != 0, "another seed samples other tokens");
  th_check(memcmp(a, a + T, sizeof *a * (size_t)T) != 0, "rows of a batch sample independently");
}

/* A tiny corpus of fortunes in a directory. */
static const char *tiny_corpus(void) {
  const char *dir = th_tmppath("fortunes");
  mkdir(dir, 0755);
  char path[512], *text = malloc(1 << 16);
  size_t n = 0;
  for (int i = 0; i < 60; i++)
    n += (size_t)snprintf(text + n, (1 << 16) - n, "The cat number %d sat on the mat.\nIt was happy.\n%%\n", i % 7);
  snprintf(path, sizeof path, "%s/cats", dir);
  th_write_file(path, text, n);
  free(text);
  return dir;
}

static void training(vkg_ctx *ctx) {
  struct lm_config c = lm_config_default("gpt");
  c.layers = 1, c.dim = 32, c.heads = 2, c.context = 16, c.mlp = 64;
  struct lm *m;
  if (!th_ok(lm_create(ctx, &c, NULL, 3, &m), "create a tiny gpt")) return;
  struct lm_train_opts o = {.batch = 8, .data_dir = tiny_corpus(), .val_tokens = 512};
  struct nn_model *nm;
  if (th_ok(lm_model_create(m, &o, &nm), "the training model")) {
    struct nn_train_opts t = {
        .epochs = 1, .steps = 40, .seed = 1, .out_dir = th_tmppath("run"), .log_every = 5, .quiet = 1};
    t.lr = (struct vkg_lr_schedule){.lr = 3e-3f};
    t.optim = vkg_optim_desc_default(VKG_ADAM);
    if (th_ok(nn_train(nm, &t), "train 40 steps")) {
      char path[512];
      snprintf(path, sizeof path, "%s/metrics.jsonl", t.out_dir);
      char *log = th_read_file(path, NULL);
      double first = -1, last = -1, val = -1;
      for (char *p = log; p && (p = strstr(p, "\"loss\": ")); p++) {
        double v = atof(p + 8);
        if (first < 0) first = v;
        last = v;
      }
      char *vp = log ? strstr(log, "\"val_loss\": ") : NULL;
      if (vp) val = atof(vp + 12);
      th_check(first > 0 && last < 0.6 * first, "40 steps lower the training loss (%.3f -> %.3f)", first, last);
      th_check(val > 0 && val < 5.6, "an epoch end reports val_loss in nats per byte (%.3f)", val);
      free(log);
      /* The weights file of the loop loads as a gpt of the same config. */
      snprintf(path, sizeof path, "%s/gpt.safetensors", t.out_dir);
      struct lm *back;
      if (th_ok(lm_load(ctx, path, "gpt", &back), "load the trained weights")) {
        int32_t ids[16];
        for (int i = 0; i < 16; i++)
          ids[i] = "The cat number 3"[i];
        float *a = th_alloc(16 * 256), *b = th_alloc(16 * 256);
        if (th_ok(lm_logits(m, ids, 1, 16, a), "logits") && th_ok(lm_logits(back, ids, 1, 16, b), "logits"))
          th_check(memcmp(a, b, sizeof *a * 16 * 256) == 0, "save/load round trip: identical logits");
        free(a), free(b);
        lm_destroy(back);
      }
    }
    lm_model_destroy(nm);
  }
  lm_destroy(m);
}

/* Copies the fixture to a temporary directory, with one file replaced. */
static const char *broken_copy(const char *name, const char *file, const char *content) {
  const char *dir = th_tmppath(name);
  mkdir(dir, 0755);
  const char *files[] = {"config.json", "model.safetensors", "vocab.json", "merges.txt"};
  for (int i = 0; i < 4; i++) {
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s/%s", TINY, files[i]);
    snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
    size_t n;
    char *data = th_read_file(src, &n);
    if (!strcmp(files[i], file))
      th_write_file(dst, content, strlen(content));
    else
      th_write_file(dst, data, n);
    free(data);
  }
  return dir;
}

static void bad_checkpoints(vkg_ctx *ctx) {
  struct lm *m = NULL;
  char cfg[1024];
  size_t n;
  char *orig = th_read_file(TINY "/config.json", &n);
  /* n_embd 64 -> 48: the tensors disagree. */
  snprintf(cfg, sizeof cfg,
           "{\"n_embd\": 48, \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 32, \"vocab_size\": 300}");
  vkg_status s = lm_load(ctx, broken_copy("wrongcfg", "config.json", cfg), "gpt", &m);
  th_check(s == VKG_ERR_SHAPE || s == VKG_ERR_FORMAT, "a config.json that disagrees with the tensors is an error");
  th_check(strstr(vkg_last_error(), "wte.weight") && strstr(vkg_last_hint(), "config.json"),
           "it names the tensor and blames the config: %s / %s", vkg_last_error(), vkg_last_hint());
  /* More layers than stored: a missing tensor. */
  snprintf(cfg, sizeof cfg,
           "{\"n_embd\": 64, \"n_layer\": 3, \"n_head\": 4, \"n_positions\": 32, \"vocab_size\": 300}");
  s = lm_load(ctx, broken_copy("missing", "config.json", cfg), "gpt", &m);
  th_check(s && strstr(vkg_last_error(), "h.2."), "a missing tensor is named: %s", vkg_last_error());
  /* A tokenizer file that does not parse. */
  s = lm_load(ctx, broken_copy("badvocab", "vocab.json", "{\"a\": 0,"), "gpt", &m);
  th_check(s == VKG_ERR_FORMAT && strstr(vkg_last_error(), "vocab.json"), "an unparsable vocab.json is named: %s",
           vkg_last_error());
  s = lm_load(ctx, broken_copy("badjson", "config.json", "{n_embd"), "gpt", &m);
  th_check(s == VKG_ERR_FORMAT && strstr(vkg_last_error(), "config.json"), "an unparsable config.json: %s",
           vkg_last_error());
  s = lm_load(ctx,
              broken_copy("badhead", "config.json",
                          "{\"n_embd\": 64, \"n_layer\": 2, \"n_head\": 5, "
                          "\"n_positions\": 32, \"vocab_size\": 300}"),
              "gpt", &m);
  th_check(s && strstr(vkg_last_error(), "heads"), "dim not a multiple of heads: %s", vkg_last_error());
  free(orig);
  /* Another family's weights. */
  const char *other = th_tmppath("other.safetensors");
  vkg_st_writer *w = vkg_st_writer_create();
  float one = 1;
  int shape[1] = {1};
  vkg_st_add_f32(w, "x", 1, shape, &one);
  vkg_st_add_metadata(w, "format", "vkgen-weights");
  vkg_st_add_metadata(w, "model", "vae");
  vkg_st_add_metadata(w, "config", "{}");
  vkg_st_write(w, other);
  vkg_st_writer_destroy(w);
  s = lm_load(ctx, other, "gpt", &m);
  th_check(s && strstr(vkg_last_error(), "are for a vae model, not gpt"), "another family's weights: %s",
           vkg_last_error());
  th_check(m == NULL, "no model is returned on errors");
  th_check(lm_family_find("lstm") == NULL || lm_family_find("lstm") != NULL, "lstm lookup does not crash");
}

/* A token embedding used in row blocks, as one larger than a storage-buffer binding is:
 * $VKGEN_GPT_WTE_CHUNK_ROWS=128 splits the tiny fixture's 300 rows into blocks of 128, 128 and 44. The
 * logits still match PyTorch's and the unsplit model's (1e-6 relative), KV-cache decoding still
 * matches the full forward, the weights still save as one "wte.weight", and training is refused with
 * a clear error. */
static void split_embedding(vkg_ctx *ctx) {
  const char *fx = getenv("VKGEN_GPT2_FIXTURE");
  char *fixture = fx ? strdup(fx) : NULL;
  unsetenv("VKGEN_GPT2_FIXTURE"); /* the tiny fixture: 300 rows in blocks of 128 */
  setenv("VKGEN_GPT_WTE_CHUNK_ROWS", "128", 1);
  printf("note: the token embedding in blocks of 128 rows\n");
  fixture_logits(ctx);
  struct lm *m;
  if (th_ok(lm_load(ctx, TINY, NULL, &m), "load the fixture with a split embedding")) {
    kv_cache(ctx, m, 1, 1, 1);
    kv_cache(ctx, m, 2, 8, 5);
    const char *path = th_tmppath("split.safetensors");
    vkg_st *st;
    if (th_ok(lm_save(m, path), "save a split model") && th_ok(vkg_st_open(path, &st), "open it")) {
      int i = vkg_st_find(st, "wte.weight");
      int64_t shape[8];
      th_check(i >= 0 && vkg_st_shape(st, i, shape) == 2 && shape[0] == 300 && shape[1] == 64 &&
                   vkg_st_count(st) == m->params.n,
               "a split model saves one wte.weight (300, 64) among %d tensors", vkg_st_count(st));
      vkg_st_close(st);
      unsetenv("VKGEN_GPT_WTE_CHUNK_ROWS");
      struct lm *back;
      if (th_ok(lm_load(ctx, TINY, "gpt", &back), "load the fixture unsplit")) {
        const int T = 32, V = 300;
        int32_t ids[32];
        for (int t = 0; t < T; t++)
          ids[t] = (t * 97 + 13) % V;
        float *a = th_alloc((size_t)T * V), *b = th_alloc((size_t)T * V);
        if (th_ok(lm_logits(m, ids, 1, T, a), "split logits") && th_ok(lm_logits(back, ids, 1, T, b), "logits")) {
          double e = ref_rel_err(a, b, (size_t)T * V);
          th_check(e <= 1e-6, "split and unsplit logits agree (relative error %.3g)", e);
        }
        free(a), free(b);
        lm_destroy(back);
      }
      setenv("VKGEN_GPT_WTE_CHUNK_ROWS", "128", 1);
    }
    struct lm_train_opts o = {.batch = 2, .data_dir = tiny_corpus(), .val_tokens = 64};
    struct nn_model *nm;
    if (th_ok(lm_model_create(m, &o, &nm), "a training model of a split gpt")) {
      struct nn_train_opts t = {.epochs = 1, .steps = 1, .seed = 1, .out_dir = th_tmppath("split-run"), .quiet = 1};
      t.lr = (struct vkg_lr_schedule){.lr = 1e-3f};
      t.optim = vkg_optim_desc_default(VKG_ADAM);
      vkg_status s = nn_train(nm, &t);
      th_check(s == VKG_ERR_UNSUPPORTED && strstr(vkg_last_error(), "inference only"),
               "training a split embedding is refused: %s", vkg_last_error());
      lm_model_destroy(nm);
    }
    lm_destroy(m);
  }
  unsetenv("VKGEN_GPT_WTE_CHUNK_ROWS");
  if (fixture) setenv("VKGEN_GPT2_FIXTURE", fixture, 1);
  free(fixture);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(5);
  fixture_logits(ctx);
  struct lm *m;
  if (th_ok(lm_load(ctx, TINY, NULL, &m), "load the fixture again")) {
    kv_cache(ctx, m, 1, 1, 1);
    kv_cache(ctx, m, 2, 8, 5);
    kv_cache(ctx, m, 3, 5, 13);
    sampling_determinism(ctx, m);
    lm_destroy(m);
  }
  training(ctx);
  split_embedding(ctx);
  bad_checkpoints(ctx);
  return th_finish(ctx);
}
