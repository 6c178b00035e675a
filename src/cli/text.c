/* 'vkgen train|sample|eval|bench gpt|lstm|gru': the text families, all through the lm interface
 * (src/models/lm.h). Sampling replays one recorded graph of K decoding steps per submission and
 * streams the text as it comes, holding back a partial UTF-8 sequence until it is complete. */
#include <math.h>
#include <float.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "cli.h"
#include "nn/progress.h"
#include "models/lm.h"

/* Fills the family's defaults into c and checks that the family is built. */
static int family_ok(const char *family, const char *verb) {
  if (lm_family_find(family)) return 1;
  cli_vkg_error(verb);
  return 0;
}

// ---- sampling options shared by sample and eval ----

struct sample_opts {
  struct cli_common c;
  const char *weights;
  struct lm_sampling s;
  long n, batch, unroll;
  double temperature, top_p; /* as parsed; into s by sampling_done */
  long top_k, seed;
};

/* The sampling options of sample and eval, appended to a cli_parse table at o; returns how many. */
static int sampling_opts(struct sample_opts *so, struct cli_opt *o) {
  const struct cli_opt t[] = {
      {"--weights", CLI_STR, &so->weights, 0, 0,
       "vkgen weights, or (gpt) a Hugging Face GPT-2 directory (default: the shipped model)", " FILE"},
      {"--temperature", CLI_NUM, &so->temperature, 0, 100, "divides the logits (0: greedy)", " X"},
      {"--top-k", CLI_INT, &so->top_k, 0, 100000000, "keep the N most likely tokens (0: all)"},
      {"--top-p", CLI_NUM, &so->top_p, 0, 1, "keep the most likely tokens holding X of the probability (1: all)", " X"},
      {"--seed", CLI_INT, &so->seed, 0, 2147483647, "sampling seed (the same seed gives the same text)"},
      {"--unroll", CLI_INT, &so->unroll, 1, 64, "decoding steps recorded per submission"},
  };
  memcpy(o, t, sizeof t);
  return (int)(sizeof t / sizeof t[0]);
}

static struct sample_opts sample_defaults(long n, long batch) {
  return (struct sample_opts){.n = n, .batch = batch, .unroll = 8, .temperature = 1, .top_p = 1, .seed = 1};
}

/* After cli_parse: the parsed values into so->s; 0 after an error. */
static int sampling_done(struct sample_opts *so) {
  if (!(so->top_p > 0)) {
    cli_error("--top-p expects a number in (0, 1], got %g", so->top_p);
    fputs("hint: 0.9 keeps the most probable tokens holding 90% of the probability; 1 keeps all\n", stderr);
    return 0;
  }
  so->s.temperature = (float)so->temperature;
  so->s.top_k = (int)so->top_k;
  /* 1e-300 must not round to 0, which means "off": it is the smallest nucleus (greedy) */
  so->s.top_p = so->top_p < FLT_MIN ? FLT_MIN : (float)so->top_p;
  so->s.seed = (uint64_t)so->seed;
  return 1;
}

/* Loads the model named by so->weights or the family's default. */
static struct lm *load_model(vkg_ctx *ctx, const char *family, struct sample_opts *so, const char *verb) {
  char buf[4096];
  if (!so->weights && !(so->weights = cli_weights(family, NULL, buf, sizeof buf))) return NULL;
  struct lm *m;
  if (lm_load(ctx, so->weights, family, &m)) {
    cli_vkg_error(verb);
    return NULL;
  }
  if (so->weights == buf) so->weights = NULL; /* buf goes out of scope */
  return m;
}

/* Bytes at the end of s[0..n) that start a UTF-8 sequence not yet complete (0 to 3). */
static size_t utf8_pending(const char *s, size_t n) {
  for (size_t back = 1; back <= 3 && back <= n; back++) {
    unsigned char c = (unsigned char)s[n - back];
    if ((c & 0xc0) == 0x80) continue; /* a continuation byte: look further back */
    size_t need = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

// ---- sample ----

static int sample_text(int argc, char **argv) {
  const char *family = argv[0];
  struct sample_opts so = sample_defaults(200, 1);
  const char *prompt = "";
  struct cli_opt opts[16] = {
      {"--prompt", CLI_STR, &prompt, 0, 0, "the text to continue (default: the start of a new fortune)", " TEXT"},
      {"-n", CLI_INT, &so.n, 1, 1000000, "tokens to generate (gpt slides its context window)"},
      {"--batch", CLI_INT, &so.batch, 1, 1024, "independent samples"},
  };
  sampling_opts(&so, opts + 3);
  char cmd[64], usage[400];
  snprintf(cmd, sizeof cmd, "sample %s", family);
  snprintf(usage, sizeof usage,
           "usage: vkgen sample %s [--prompt TEXT] [-n TOKENS] [options]\n\n"
           "Continues --prompt by -n tokens, streaming the text to stdout. With --batch B > 1, prints B samples\n"
           "one after the other.\n",
           family);
  int r = cli_parse(argc, argv, cmd, usage, opts, &so.c, NULL, NULL);
  if (r) return r < 0;
  if (!sampling_done(&so)) return 1;
  if (!family_ok(family, "sample")) return 1;
  vkg_ctx *ctx = cli_ctx(&so.c);
  if (!ctx) return 1;
  struct lm *m = load_model(ctx, family, &so, "sample");
  if (!m) return cli_ctx_done(ctx, 1);
  int rc = 0;
  int32_t *ids = NULL;
  size_t np = 0;
  int shown = 1; /* the prompt is printed as given; the start tokens of an empty prompt are not */
  vkg_status s = *prompt ? vkg_tokenize(m->tok, prompt, strlen(prompt), &ids, &np) : lm_start_tokens(m->tok, &ids, &np);
  if (!*prompt) shown = 0;
  /* GPT attends over at most its context: past it, generation goes on from the last half-context of
   * tokens (a sliding window, re-read from position 0). The RNNs carry their state and have no limit. */
  const int gpt = !strcmp(family, "gpt"), C = m->cfg.context, V = m->cfg.vocab;
  if (s) {
    rc = cli_vkg_error("sample: the prompt");
  } else if (gpt && (long)np >= C) {
    rc = cli_error("the prompt is %zu tokens, as long as the model's context of %d or longer", np, C);
    fprintf(stderr, "hint: shorten --prompt to at most %d tokens\n", C - 1);
  } else {
    for (size_t i = 0; i < np && !rc; i++)
      if (ids[i] < 0 || ids[i] >= V) {
        rc = cli_error("prompt token %d is outside the model's vocabulary of %d", ids[i], V);
        fputs("hint: the model's tokenizer and its weights disagree; check --weights\n", stderr);
      }
  }
  struct lm_decoder *d = NULL;
  const int B = (int)so.batch, total = (int)np + (int)so.n;
  const int len = gpt && total > C ? C : total; /* decoder positions */
  /* all: (B, total) every token so far; tok: (B, len) the decoder's window, whose position 0 is all[base]. */
  int32_t *all = rc ? NULL : malloc(sizeof *all * (size_t)B * total);
  int32_t *tok = rc ? NULL : malloc(sizeof *tok * (size_t)B * len);
  for (int b = 0; all && b < B; b++)
    memcpy(all + (size_t)b * total, ids, sizeof *all * np);
  if (!rc && (!all || !tok)) rc = cli_error("out of host memory for %d tokens", total);
  if (!rc && (lm_decoder_create(m, B, len, (int)so.unroll, 0, &d) || lm_decoder_start(d, ids, (int)np, 0, &so.s)))
    rc = cli_vkg_error("sample");
  char *pend = NULL; /* bytes not yet printed (row 0 when streaming) */
  size_t npend = 0;
  if (!rc && B == 1 && shown) fputs(prompt, stdout), fflush(stdout);
  int base = 0, known = (int)np, done = (int)np; /* all[0, known) is filled; all[0, done) of row 0 printed */
  /* Streaming one sample to a terminal shows its own progress; otherwise a bar or log lines do. */
  struct nn_progress pg;
  nn_progress_start(&pg, "sample", 0, total - (int)np, "tokens", B == 1 && isatty(1));
  for (int window = 1; !rc && known < total;) {
    if (lm_decoder_step(d) || lm_decoder_tokens(d, tok)) {
      rc = cli_vkg_error("sample");
      break;
    }
    int have = d->pos + 1 < len ? d->pos + 1 : len; /* the window's tokens [0, have) are known */
    if (base + have > total) have = total - base;
    for (int b = 0; b < B && base + have > known; b++)
      memcpy(all + (size_t)b * total + known, tok + (size_t)b * len + (known - base),
             sizeof *all * (size_t)(base + have - known));
    if (base + have > known) known = base + have;
    nn_progress_update(&pg, known - (int)np, NULL);
    if (known < total && have == len) {
      /* The window is full: continue from its last half, with a seed of its own. */
      int keep = len / 2;
      int32_t *last = malloc(sizeof *last * (size_t)B * keep);
      for (int b = 0; last && b < B; b++)
        memcpy(last + (size_t)b * keep, all + (size_t)b * total + known - keep, sizeof *last * (size_t)keep);
      struct lm_sampling sw = so.s;
      sw.seed = so.s.seed + 0x9E3779B97F4A7C15ull * (uint64_t)window++;
      if (!last || lm_decoder_start(d, last, keep, 1, &sw)) rc = cli_vkg_error("sample");
      free(last);
      base = known - keep;
    }
    if (B != 1 || known <= done) continue;
    char *text;
    size_t tn;
    if (vkg_detokenize(m->tok, all + done, (size_t)(known - done), &text, &tn)) {
      rc = cli_vkg_error("sample");
      break;
    }
    pend = realloc(pend, npend + tn + 1);
    memcpy(pend + npend, text, tn);
    npend += tn;
    free(text);
    done = known;
    size_t hold = known == total ? 0 : utf8_pending(pend, npend);
    fwrite(pend, 1, npend - hold, stdout);
    fflush(stdout);
    memmove(pend, pend + npend - hold, hold);
    npend = hold;
  }
  if (!rc) nn_progress_end(&pg, NULL);
  nn_progress_break(&pg);
  if (!rc && B == 1) fputc('\n', stdout);
  for (int b = 0; !rc && B > 1 && b < B; b++) {
    char *text;
    size_t tn;
    int from = shown ? 0 : (int)np;
    if (vkg_detokenize(m->tok, all + (size_t)b * total + from, (size_t)(total - from), &text, &tn)) {
      rc = cli_vkg_error("sample");
      break;
    }
    printf("=== sample %d ===\n", b + 1);
    fwrite(text, 1, tn, stdout);
    fputc('\n', stdout);
    free(text);
  }
  fflush(stdout);
  free(pend);
  free(tok);
  free(all);
  free(ids);
  lm_decoder_destroy(d);
  lm_destroy(m);
  return cli_ctx_done(ctx, rc);
}

// ---- eval ----

static int eval_text(int argc, char **argv) {
  const char *family = argv[0];
  struct sample_opts so = sample_defaults(16, 8);
  const char *data = NULL;
  long val_tokens = 16384;
  struct cli_opt opts[16] = {
      {"-n", CLI_INT, &so.n, 1, 1000000, "continuations for BLEU (at least 2)"},
      {"--batch", CLI_INT, &so.batch, 1, 1024, "batch of the loss evaluation"},
      {"--val-tokens", CLI_INT, &val_tokens, 2, 100000000, "validation tokens"},
      {"--data", CLI_STR, &data, 0, 0, "the fortunes directory (default: the Debian package's)", " DIR"},
  };
  sampling_opts(&so, opts + 4);
  char cmd[64], usage[512];
  snprintf(cmd, sizeof cmd, "eval %s", family);
  snprintf(usage, sizeof usage,
           "usage: vkgen eval %s [options]\n\n"
           "On the held-out fortunes (every 20th): validation loss (nats per byte) and perplexity (per token);\n"
           "corpus BLEU-4 of sampled continuations (prompt: the start of a held-out fortune, reference: its\n"
           "rest) and self-BLEU-4 of those continuations (lower: more diverse). --json: one JSON object.\n",
           family);
  int r = cli_parse(argc, argv, cmd, usage, opts, &so.c, NULL, NULL);
  if (r) return r < 0;
  if (!sampling_done(&so)) return 1;
  if (so.n < 2) return cli_error("-n %ld: self-BLEU needs at least 2 continuations", so.n);
  if (!family_ok(family, "eval")) return 1;
  vkg_ctx *ctx = cli_ctx(&so.c);
  if (!ctx) return 1;
  struct lm *m = load_model(ctx, family, &so, "eval");
  if (!m) return cli_ctx_done(ctx, 1);
  struct nn_text_data corpus;
  int rc = 0;
  if (nn_text_data_load(data, m->tok, &corpus)) {
    lm_destroy(m);
    return cli_ctx_done(ctx, cli_vkg_error("eval"));
  }
  // ---- validation loss ----
  size_t nv = corpus.nval < (size_t)val_tokens ? corpus.nval : (size_t)val_tokens, count = 0, bytes = 0;
  double nats = 0;
  char *text = NULL;
  struct nn_progress pg;
  nn_progress_start(&pg, "validation", 0, (long)nv, "tokens", 0);
  if (lm_nll(m, corpus.val, nv, (int)so.batch, &nats, &count, &pg) ||
      vkg_detokenize(m->tok, corpus.val + 1, nv - 1, &text, &bytes))
    rc = cli_vkg_error("eval");
  if (!rc) nn_progress_end(&pg, NULL);
  nn_progress_break(&pg);
  free(text);
  double per_byte = nats / (double)(bytes ? bytes : 1), per_token = nats / (double)(count ? count : 1);
  if (!rc && !isfinite(nats)) { /* never printed as a number */
    rc = cli_error("eval %s: the validation loss of '%s' is %s", family, so.weights, isnan(nats) ? "NaN" : "infinite");
    fputs("hint: the weights are damaged or the model diverged\n", stderr);
  }
  // ---- continuations of held-out fortunes ----
  /* Prompt: the first P tokens of a held-out fortune with at least P + 8; reference: the rest, up to
   * N tokens (N also bounds the generated length). */
  const int C = m->cfg.context, P = C / 4 < 32 ? (C / 4 > 1 ? C / 4 : 1) : 32;
  const int N = C - P < 96 ? C - P : 96;
  int n = 0, want = (int)so.n;
  int32_t *prompts = malloc(sizeof *prompts * (size_t)want * P);
  char **refs = calloc((size_t)want, sizeof *refs), **hyps = calloc((size_t)want, sizeof *hyps);
  for (int i = 0; !rc && i < corpus.nval_texts && n < want; i++) {
    int32_t *t;
    size_t nt;
    const char *f = corpus.val_texts[i];
    if (vkg_tokenize(m->tok, f, strlen(f), &t, &nt)) {
      rc = cli_vkg_error("eval");
      break;
    }
    if ((int)nt >= P + 8) {
      size_t rl;
      memcpy(prompts + (size_t)n * P, t, sizeof *t * P);
      vkg_detokenize(m->tok, t + P, nt - P < (size_t)N ? nt - P : (size_t)N, &refs[n], &rl);
      n++;
    }
    free(t);
  }
  double bleu = 0, self = 0;
  if (!rc && n < 2) rc = cli_error("the held-out fortunes hold only %d long enough for a %d-token prompt", n, P);
  struct lm_decoder *d = NULL;
  int32_t *tok = NULL;
  if (!rc && (lm_decoder_create(m, n, P + N, (int)so.unroll, 0, &d) || lm_decoder_start(d, prompts, P, 1, &so.s)))
    rc = cli_vkg_error("eval");
  if (!rc) tok = malloc(sizeof *tok * (size_t)n * (P + N));
  const int pos0 = rc ? 0 : d->pos; /* decoding steps run from pos0 to P + N - 1 */
  nn_progress_start(&pg, "continuations", 0, P + N - 1 - pos0, "steps", 0);
  while (!rc && d->pos < P + N - 1) {
    if (lm_decoder_step(d)) rc = cli_vkg_error("eval");
    nn_progress_update(&pg, d->pos < P + N - 1 ? d->pos - pos0 : P + N - 1 - pos0, NULL);
  }
  if (!rc) nn_progress_end(&pg, NULL);
  nn_progress_break(&pg);
  if (!rc && lm_decoder_tokens(d, tok)) rc = cli_vkg_error("eval");
  for (int b = 0; !rc && b < n; b++) {
    size_t hl;
    if (vkg_detokenize(m->tok, tok + (size_t)b * (P + N) + P, (size_t)N, &hyps[b], &hl)) rc = cli_vkg_error("eval");
    /* A continuation ends where the model ends the fortune. */
    char *end = hyps[b] ? strstr(hyps[b], "%\n") : NULL;
    if (end) *end = 0;
  }
  if (!rc && (vkg_bleu_text((const char *const *)hyps, (const char *const *)refs, n, &bleu) ||
              vkg_self_bleu_text((const char *const *)hyps, n, &self)))
    rc = cli_vkg_error("eval");
  if (!rc) {
    char cfg[512];
    nn_cfg_json(lm_cfg(m->fam->name), &m->cfg, cfg, sizeof cfg);
    if (so.c.json)
      printf("{\"model\": \"%s\", \"config\": %s, \"val_tokens\": %zu, \"val_bytes\": %zu, \"val_loss\": %.6f, "
             "\"val_ppl\": %.4f, \"val_loss_token\": %.6f, \"bleu\": %.6f, \"self_bleu\": %.6f, \"samples\": %d, "
             "\"prompt_tokens\": %d, \"max_new_tokens\": %d}\n",
             m->fam->name, cfg, count, bytes, per_byte, exp(per_token), per_token, bleu, self, n, P, N);
    else {
      printf("model: %s %s\n", m->fam->name, cfg);
      printf("validation (%zu tokens, %zu bytes of held-out fortunes):\n", count, bytes);
      printf("  loss        %.4f nats/byte (%.3f bits/byte)\n", per_byte, per_byte / log(2));
      printf("  perplexity  %.3f per token (%.4f nats/token)\n", exp(per_token), per_token);
      printf("continuations (%d held-out fortunes, %d-token prompts, up to %d new tokens, T %.2g, top-k %d, top-p "
             "%.2g):\n",
             n, P, N, (double)so.s.temperature, so.s.top_k, (double)so.s.top_p);
      printf("  BLEU-4      %.4f against the fortunes' real endings\n", bleu);
      printf("  self-BLEU-4 %.4f among the continuations (lower: more diverse)\n", self);
    }
  }
  for (int i = 0; i < want; i++)
    free(refs[i]), free(hyps[i]);
  free(refs), free(hyps), free(prompts), free(tok);
  lm_decoder_destroy(d);
  nn_text_data_free(&corpus);
  lm_destroy(m);
  return cli_ctx_done(ctx, rc);
}

// ---- bench ----

/* Decoding tokens/s at batch B: every position of the context, K steps per submission. */
static vkg_status bench_decode(struct lm *m, int B, int positions, double *tok_s) {
  struct lm_decoder *d;
  vkg_status s = lm_decoder_create(m, B, positions, 8, 0, &d);
  if (s) return s;
  int32_t first = 0;
  struct lm_sampling sp = {.temperature = 1, .top_p = 1, .seed = 1};
  s = lm_decoder_start(d, &first, 1, 0, &sp);
  if (!s) s = lm_decoder_step(d); /* warm-up */
  if (!s) s = lm_decoder_start(d, &first, 1, 0, &sp);
  double t0 = nn_now();
  int fed = 0;
  while (!s && d->pos < positions - 1) {
    s = lm_decoder_step(d);
    fed += d->unroll;
  }
  double el = nn_now() - t0;
  *tok_s = (double)B * fed / (el > 0 ? el : 1e-9);
  lm_decoder_destroy(d);
  return s;
}

/* Training tokens/s: the training loop's step on windows of random tokens of the model's context. */
static vkg_status bench_train(struct lm *m, int B, int steps, double *tok_s) {
  struct lm_train_opts o = {.batch = B, .synthetic = B};
  struct nn_model *nm;
  vkg_status s = lm_model_create(m, &o, &nm);
  double sps = 0;
  if (!s) s = cli_bench_train(nm, steps, &sps);
  *tok_s = sps * B * m->cfg.context;
  lm_model_destroy(nm);
  return s;
}

static int bench_text(int argc, char **argv) {
  const char *family = argv[0];
  struct cli_common c = {0};
  const char *weights = NULL;
  struct lm_config cfg = lm_config_default(family);
  int arch_given = 0, quick = 0;
  long batch = 16, steps = 3;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int used = cli_common_opt(&c, argc, argv, i);
    if (!used) used = cli_arch_opt(lm_cfg(family), &cfg, argc, argv, i), arch_given |= used > 0;
    if (used < 0) return 1;
    if (used) {
      i += used - 1;
      continue;
    }
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
      printf("usage: vkgen bench %s [--weights FILE|DIR] [--batch N] [--steps N] [--quick] [--json] [architecture]\n\n"
             "Decoding tokens/s at batch 1 and 16 (KV cache / recurrent state, 8 steps per submission, over the\n"
             "whole context) and training tokens/s (forward, backward, Adam) at --batch windows of the context.\n"
             "  --weights FILE|DIR  time this model (default: assets/%s.safetensors, else an untrained default)\n"
             "  --batch N           training batch (default 16)\n"
             "  --steps N           timed training steps (default 3, after a warm-up)\n"
             "  --quick             decode 16 positions and train 1 step (a smoke test)\n"
             "  --json              one JSON object\n",
             family, family);
      nn_cfg_help(lm_cfg(family), stdout);
      return 0;
    }
    if (!strcmp(o, "--json")) {
      c.json = 1;
      continue;
    }
    if (!strcmp(o, "--quick")) {
      quick = 1;
      continue;
    }
    if (!strcmp(o, "--weights") || !strcmp(o, "--batch") || !strcmp(o, "--steps")) {
      if (!v) return cli_error("%s needs a value", o);
      if (!strcmp(o, "--weights"))
        weights = v;
      else if (!strcmp(o, "--batch")) {
        if (!cli_int(o, v, 1, 4096, &batch)) return 1;
      } else if (!cli_int(o, v, 1, 100000, &steps))
        return 1;
      i++;
      continue;
    }
    return cli_error("bench %s: unknown option '%s' (see 'vkgen bench %s --help')", family, o, family);
  }
  nn_cfg_derive(lm_cfg(family), &cfg, argc, argv);
  if (!family_ok(family, "bench")) return 1;
  char buf[4096], file[64];
  snprintf(file, sizeof file, "%s.safetensors", family);
  if (!weights && !arch_given && cli_asset(file, buf, sizeof buf)) weights = buf;
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct lm *m;
  vkg_status s = weights ? lm_load(ctx, weights, family, &m) : lm_create(ctx, &cfg, NULL, 1, &m);
  if (s) return cli_ctx_done(ctx, cli_vkg_error("bench"));
  int positions = quick ? (m->cfg.context < 16 ? m->cfg.context : 16) : m->cfg.context;
  if (quick) steps = 1;
  double dec1 = 0, dec16 = 0, train = 0;
  s = bench_decode(m, 1, positions, &dec1);
  if (!s) s = bench_decode(m, 16, positions, &dec16);
  if (!s) s = bench_train(m, (int)batch, (int)steps, &train);
  int rc = 0;
  if (s)
    rc = cli_vkg_error("bench");
  else {
    char js[512];
    nn_cfg_json(lm_cfg(m->fam->name), &m->cfg, js, sizeof js);
    const struct vkg_device_info *dev = vkg_ctx_device(ctx);
    size_t nparam = 0;
    for (int i = 0; i < m->params.n; i++)
      nparam += vkg_tensor_numel(m->params.t[i]);
    if (c.json)
      printf("{\"device\": \"%s\", \"model\": \"%s\", \"config\": %s, \"params\": %zu, \"decode_positions\": %d, "
             "\"decode_tokens_per_s_b1\": %.2f, \"decode_tokens_per_s_b16\": %.2f, \"train_batch\": %ld, "
             "\"train_tokens_per_s\": %.2f, \"train_steps_per_s\": %.4f}\n",
             dev->name, m->fam->name, js, nparam, positions, dec1, dec16, batch, train,
             train / ((double)batch * m->cfg.context));
    else
      printf("device: %s\nmodel: %s %s (%zu parameters, %s)\n"
             "decoding   batch 1:  %10.1f tokens/s\ndecoding   batch 16: %10.1f tokens/s\n"
             "training   batch %ld x %d tokens: %10.1f tokens/s (%.3f steps/s)\n",
             dev->name, m->fam->name, js, nparam, weights ? weights : "untrained", dec1, dec16, batch, m->cfg.context,
             train, train / ((double)batch * m->cfg.context));
  }
  lm_destroy(m);
  return cli_ctx_done(ctx, rc);
}

// ---- entry points (cli/family.c) ----

int sample_text_family(int argc, char **argv) { return sample_text(argc, argv); }
int eval_text_family(int argc, char **argv) { return eval_text(argc, argv); }
int bench_text_family(int argc, char **argv) { return bench_text(argc, argv); }
