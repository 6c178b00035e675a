/* The LSTM and GRU language models (src/models/rnn.c), each family in turn, with 2 layers of 24:
 *   - decoding with h/c carried in bound state tensors gives, at every position, the full forward's
 *     logits (relative error <= 1e-4 of max |logit|) and greedy tokens equal to its argmax, for 1 and
 *     several steps per submission, 1 and 3 rows, and state carried across submissions;
 *   - a fixed seed samples the same tokens twice, another seed other tokens;
 *   - 40 training steps on a tiny corpus lower the loss; the loop's weights file loads back with
 *     identical logits; a vkgen weights file of the other family is refused with a clear error.
 * Shape letters: B batch, T time, V vocabulary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "check/ref_lm.h"
#include "models/lm.h"

/* Decodes greedily from a prompt with K steps per submission and checks every step's logits and
 * token against the full forward of the resulting sequence (which starts from a zero state too). */
static void decoding(vkg_ctx *ctx, struct lm *m, int B, int K, int plen, int T) {
  const int V = m->cfg.vocab;
  char what[128];
  snprintf(what, sizeof what, "%s decoding B=%d K=%d prompt %d", m->fam->name, B, K, plen);
  struct lm_decoder *d;
  if (!th_ok(lm_decoder_create(m, B, T, K, 1, &d), what)) return;
  int32_t *prompt = malloc(sizeof *prompt * (size_t)B * plen), *tokens = malloc(sizeof *tokens * (size_t)B * T);
  for (int i = 0; i < B * plen; i++)
    prompt[i] = (i * 37 + 11) % V;
  struct lm_sampling s = {.temperature = 0, .top_p = 1, .seed = 5};
  float *step = th_alloc((size_t)B * T * V), *lk = th_alloc((size_t)B * V), *full = th_alloc((size_t)B * T * V);
  /* Twice: the second prompt must start from a reset state, not the first one's leftovers. */
  for (int round = 0; round < 2; round++) {
    int ok = th_ok(lm_decoder_start(d, prompt, plen, 1, &s), what);
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
    if (!ok) break;
    struct ref_decode_check r = ref_decode_check(tokens, prompt, plen, step, full, B, T, V);
    th_check(r.same_prompt, "%s (round %d): the prompt is kept", what, round);
    th_check(r.err <= 1e-4, "%s (round %d): step logits equal the full forward's (relative error %.3g)", what, round,
             r.err);
    th_check(r.greedy, "%s (round %d): greedy tokens equal the full forward's argmax at every position", what, round);
  }
  free(prompt), free(tokens), free(step), free(lk), free(full);
  lm_decoder_destroy(d);
}

static void sampling_determinism(vkg_ctx *ctx, struct lm *m) {
  const int T = 24, B = 3;
  int32_t a[3 * 24], b[3 * 24], c[3 * 24];
  int32_t prompt[2] = {5, 77};
  for (int run = 0; run < 3; run++) {
    struct lm_decoder *d;
    if (!th_ok(lm_decoder_create(m, B, T, 4, 0, &d), "decoder")) return;
    struct lm_sampling s = {.temperature = 1.0f, .top_k = 50, .top_p = 0.95f, .seed = run == 2 ? 8 : 7};
    int ok = th_ok(lm_decoder_start(d, prompt, 2, 0, &s), "start");
    while (ok && d->pos < T - 1)
      ok = th_ok(lm_decoder_step(d), "step");
    if (ok) th_ok(lm_decoder_tokens(d, run == 0 ? a : run == 1 ? b : c), "tokens");
    lm_decoder_destroy(d);
  }
  th_check(memcmp(a, b, sizeof a) == 0, "%s: the same seed samples the same tokens", m->fam->name);
  th_check(memcmp(a, c, sizeof a) != 0, "%s: another seed samples other tokens", m->fam->name);
  th_check(memcmp(a, a + T, sizeof *a * (size_t)T) != 0, "%s: rows of a batch sample independently", m->fam->name);
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

static void training(vkg_ctx *ctx, const char *family) {
  struct lm_config c = lm_config_default(family);
  c.layers = 2, c.dim = 32, c.context = 16;
  struct lm *m;
  char what[96];
  snprintf(what, sizeof what, "create a tiny %s", family);
  if (!th_ok(lm_create(ctx, &c, NULL, 3, &m), what)) return;
  struct lm_train_opts o = {.batch = 8, .data_dir = tiny_corpus(), .val_tokens = 512};
  struct nn_model *nm;
  if (th_ok(lm_model_create(m, &o, &nm), "the training model")) {
    char dir[64];
    snprintf(dir, sizeof dir, "run-%s", family);
    struct nn_train_opts t = {
        .epochs = 1, .steps = 40, .seed = 1, .out_dir = th_tmppath(dir), .log_every = 5, .quiet = 1};
    t.lr = (struct vkg_lr_schedule){.lr = 1e-2f};
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
      th_check(first > 0 && last < 0.6 * first, "%s: 40 steps lower the training loss (%.3f -> %.3f)", family, first,
               last);
      th_check(val > 0 && val < 5.6, "%s: an epoch end reports val_loss in nats per byte (%.3f)", family, val);
      free(log);
      /* The weights file of the loop loads as a model of the same family and config. */
      snprintf(path, sizeof path, "%s/%s.safetensors", t.out_dir, family);
      struct lm *back;
      if (th_ok(lm_load(ctx, path, family, &back), "load the trained weights")) {
        int32_t ids[16];
        for (int i = 0; i < 16; i++)
          ids[i] = "The cat number 3"[i];
        float *a = th_alloc(16 * 256), *b = th_alloc(16 * 256);
        th_check(back->cfg.layers == 2 && back->cfg.dim == 32 && back->fam == m->fam, "%s: the config comes back",
                 family);
        if (th_ok(lm_logits(m, ids, 1, 16, a), "logits") && th_ok(lm_logits(back, ids, 1, 16, b), "logits"))
          th_check(memcmp(a, b, sizeof *a * 16 * 256) == 0, "%s: save/load round trip: identical logits", family);
        free(a), free(b);
        lm_destroy(back);
      }
      /* The other recurrent family refuses these weights. */
      const char *other = strcmp(family, "lstm") ? "lstm" : "gru";
      struct lm *wrong = NULL;
      vkg_status s = lm_load(ctx, path, other, &wrong);
      char want[64];
      snprintf(want, sizeof want, "are for a %s model, not %s", family, other);
      th_check(s && wrong == NULL && strstr(vkg_last_error(), want) && *vkg_last_hint(),
               "%s weights loaded as %s: %s (hint: %s)", family, other, vkg_last_error(), vkg_last_hint());
    }
    lm_model_destroy(nm);
  }
  lm_destroy(m);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(5);
  static const char *families[2] = {"lstm", "gru"};
  for (int f = 0; f < 2; f++) {
    struct lm_config c = lm_config_default(families[f]);
    c.layers = 2, c.dim = 24, c.context = 16;
    struct lm *m;
    char what[64];
    snprintf(what, sizeof what, "create a %s", families[f]);
    if (th_ok(lm_create(ctx, &c, NULL, 11, &m), what)) {
      th_check(m->params.n == 1 + 4 * 2 + 2, "%s: embedding, 4 tensors per layer, head weight and bias (%d)",
               families[f], m->params.n);
      decoding(ctx, m, 1, 1, 1, 12);
      decoding(ctx, m, 3, 5, 13, 20);
      decoding(ctx, m, 2, 8, 3, 20);
      sampling_determinism(ctx, m);
      lm_destroy(m);
    }
    training(ctx, families[f]);
  }
  return th_finish(ctx);
}
