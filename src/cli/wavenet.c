/* vkgen train|sample|eval|bench wavenet: thin glue over src/models/wavenet.{h,c} and wavenet_gen.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "nn/progress.h"
#include "models/wavenet.h"
#include "nn/step.h"

/* The receptive field, in samples and milliseconds. */
static void print_rf(FILE *f, const struct wavenet_config *c) {
  char line[256];
  wavenet_describe(c, line, sizeof line);
  fprintf(f, "wavenet: %s\n", line);
}

/* The weights (default: the shipped model) into c, p and ids; 0 after printing an error. */
static int load_weights(vkg_ctx *ctx, const char *weights, const char *doing, struct wavenet_config *c,
                        struct nn_params *p, struct wavenet_ids *ids) {
  char path[4096];
  nn_params_init(p, ctx);
  if (!(weights = cli_weights("wavenet", weights, path, sizeof path))) return 0;
  if (wavenet_load(ctx, weights, c, p, ids)) {
    cli_vkg_error(doing);
    return 0;
  }
  return 1;
}

// ---- vkgen eval wavenet ----

int eval_wavenet(int argc, char **argv) {
  struct cli_common c = {0};
  const char *weights = NULL, *data_dir = NULL;
  long window = 1000, n = 0;
  const struct cli_opt opts[] = {
      {"--weights", CLI_STR, &weights, 0, 0, "weights (default assets/wavenet.safetensors)", " FILE"},
      {"--data", CLI_STR, &data_dir, 0, 0, "the audio folder trained on (default: the English speech)", " DIR"},
      {"--window", CLI_INT, &window, 1, 1000000, "predicted samples per evaluation window"},
      {"-n", CLI_INT, &n, 0, 100000000, "at most this many windows (default 0: all of the test set)"},
      {0}};
  int r = cli_parse(argc, argv, "eval wavenet",
                    "usage: vkgen eval wavenet [--weights FILE] [--data DIR] [--json]\n\n"
                    "The negative log-likelihood of the test set, in bits and nats per sample: every 10th WAV\n"
                    "file of --data in sorted path order (files 10, 20, ...), never seen in training. Each file\n"
                    "is scored from its second sample on; a window's context is the samples before it in the same\n"
                    "file (silence before the file's start), so every sample is predicted from the full receptive\n"
                    "field, as in training. --json: one JSON object.\n",
                    opts, &c, NULL, NULL);
  if (r) return r < 0;
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct wavenet_config cfg;
  struct nn_params p;
  struct wavenet_ids ids;
  struct nn_audio_data d = {0};
  int rc = 1;
  if (!load_weights(ctx, weights, "eval wavenet", &cfg, &p, &ids)) goto done;
  if (nn_audio_data_load(data_dir, cfg.rate, &d)) {
    rc = cli_vkg_error("eval wavenet");
    goto done;
  }
  if (cfg.classes && cfg.classes != d.n_classes) {
    rc = cli_error("eval wavenet: the model has %d classes but the data has %d first-level folders", cfg.classes,
                   d.n_classes);
    goto done;
  }
  double nats, t0 = nn_now();
  size_t count;
  struct nn_progress pg;
  nn_progress_start(&pg, "eval", 0, 1, "windows", 0);
  if (wavenet_test_nll(&cfg, &p, &ids, &d, (int)window, (size_t)n, &nats, &count, &pg)) {
    nn_progress_break(&pg);
    rc = cli_vkg_error("eval wavenet");
    goto done;
  }
  nn_progress_end(&pg, NULL);
  nn_progress_break(&pg);
  double bits = nats / log(2.0), secs = nn_now() - t0;
  if (c.json)
    printf("{\"model\": \"wavenet\", \"test_samples\": %zu, \"nll_bits_per_sample\": %.6f, \"nll_nats_per_sample\": "
           "%.6f, \"rate\": %d, \"seconds\": %.2f}\n",
           count, bits, nats, cfg.rate, secs);
  else {
    print_rf(stdout, &cfg);
    printf("test set: %zu samples (every 10th file of %d)\nNLL: %.4f bits/sample, %.4f nats/sample\n", count, d.n_clips,
           bits, nats);
  }
  rc = 0;
done:
  nn_audio_data_free(&d);
  nn_params_free(&p);
  return cli_ctx_done(ctx, rc);
}

// ---- vkgen sample wavenet ----

#define GEN_STEPS 16 /* samples per submission */

int sample_wavenet(int argc, char **argv) {
  struct cli_common c = {0};
  const char *weights = NULL, *out = "wavenet.wav", *prime = NULL;
  double seconds = 2, temperature = 1;
  long seed = 1, cls = 0;
  const struct cli_opt opts[] = {
      {"--weights", CLI_STR, &weights, 0, 0, "weights (default assets/wavenet.safetensors)", " FILE"},
      {"-o", CLI_STR, &out, 0, 0, "the WAV file to write ('-': standard output)", " FILE"},
      {"--seconds", CLI_NUM, &seconds, 0.001, 3600, "seconds to generate", " S"},
      {"--temperature", CLI_NUM, &temperature, 0, 100, "divides the logits; 0 takes the most likely class", " T"},
      {"--prime", CLI_STR, &prime, 0, 0, "start from this audio (written first, then continued)", " FILE.wav"},
      {"--class", CLI_INT, &cls, 0, 4095, "class (first-level folder, by sorted index) of a conditional model"},
      {"--seed", CLI_INT, &seed, 0, 4294967295.0, "sampling"},
      {0}};
  int r = cli_parse(argc, argv, "sample wavenet",
                    "usage: vkgen sample wavenet [-o FILE.wav] [--seconds S] [--temperature T] [--prime FILE.wav]\n\n"
                    "Generates audio with the Fast WaveNet algorithm: per-layer queues of past activations, so\n"
                    "each sample costs one step per layer; 16 samples per GPU submission, drawn on the GPU. The\n"
                    "generator first runs over a receptive field of silence (or the prime), as training windows\n"
                    "at a file's start see. Writes 16-bit PCM mono at the model's rate, atomically.\n",
                    opts, &c, NULL, NULL);
  if (r) return r < 0;
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct wavenet_config cfg;
  struct nn_params p;
  struct wavenet_ids ids;
  struct vkg_audio pa = {0};
  struct wavenet_gen *gen = NULL;
  int32_t *forced = NULL, *x = NULL;
  float *wav = NULL;
  int rc = 1;
  if (!load_weights(ctx, weights, "sample wavenet", &cfg, &p, &ids)) goto done;
  if (cfg.classes && cls >= cfg.classes) {
    rc = cli_error("sample wavenet: --class %ld, but the model has classes 0 to %d", cls, cfg.classes - 1);
    goto done;
  }
  if (prime && vkg_wav_load(prime, cfg.rate, &pa)) {
    rc = cli_vkg_error("sample wavenet: --prime");
    goto done;
  }
  size_t lead = (size_t)wavenet_receptive_field(&cfg) - 1, gen_n = (size_t)ceil(seconds * cfg.rate);
  size_t nf = lead + pa.n, n = nf + gen_n;
  forced = malloc(sizeof *forced * (nf ? nf : 1)), x = malloc(sizeof *x * n), wav = malloc(sizeof *wav * n);
  uint8_t *q = malloc(pa.n ? pa.n : 1);
  if (!forced || !x || !wav || !q) {
    free(q);
    rc = cli_error("sample wavenet: out of host memory");
    goto done;
  }
  vkg_mulaw_encode(pa.samples, pa.n, q);
  for (size_t i = 0; i < nf; i++)
    forced[i] = i < lead ? WAVENET_Q / 2 : q[i - lead];
  free(q);
  int32_t c32 = (int32_t)cls;
  double t0 = nn_now();
  vkg_status s = wavenet_gen_create(&cfg, &p, &ids, 1, GEN_STEPS, 0, &gen);
  struct nn_progress pg;
  nn_progress_start(&pg, "sample", 0, (long)n, "samples", 0);
  if (!s) wavenet_gen_progress(gen, &pg);
  if (!s)
    s = wavenet_generate(gen, n, forced, nf, cfg.classes ? &c32 : NULL, (uint32_t)seed, (float)temperature, x, NULL);
  if (!s) nn_progress_end(&pg, NULL);
  nn_progress_break(&pg);
  if (s) {
    rc = cli_vkg_error("sample wavenet");
    goto done;
  }
  double secs = nn_now() - t0;
  uint8_t *cl = malloc(n - lead);
  if (!cl) {
    rc = cli_error("sample wavenet: out of host memory");
    goto done;
  }
  for (size_t i = lead; i < n; i++)
    cl[i - lead] = (uint8_t)x[i];
  vkg_mulaw_decode(cl, n - lead, wav);
  free(cl);
  if (vkg_wav_write(out, wav, n - lead, cfg.rate)) {
    rc = cli_vkg_error("sample wavenet");
    goto done;
  }
  FILE *msg = cli_msgs(out);
  fprintf(msg, "wrote %s: %.2f s at %d Hz (%zu prime + %zu generated samples; %.0f samples/s)\n", out,
          (double)(n - lead) / cfg.rate, cfg.rate, pa.n, gen_n, (double)n / secs);
  rc = 0;
done:
  wavenet_gen_destroy(gen);
  free(forced), free(x), free(wav);
  vkg_audio_free(&pa);
  nn_params_free(&p);
  return cli_ctx_done(ctx, rc);
}

// ---- vkgen bench wavenet ----

int bench_wavenet(int argc, char **argv) {
  struct cli_common c = {0};
  struct wavenet_config cfg;
  long batch = 8, window = 1000, steps = 5, samples = 256;
  const struct cli_opt opts[] = {
      {"--window", CLI_INT, &window, 1, 1000000, "predicted samples per training window"},
      {"--samples", CLI_INT, &samples, GEN_STEPS, 10000000, "generated samples per row timed"},
      {0}};
  int r =
      cli_bench_parse(cli_family_find("wavenet"), argc, argv,
                      "usage: vkgen bench wavenet [options]\n\n"
                      "Times generation (Fast WaveNet, 16 samples per submission) at batch 1 and 16 as samples/s and\n"
                      "the real-time factor (generated seconds of audio per second; above 1 is faster than real\n"
                      "time), and training (forward, backward, Adam; two steps in flight) as samples/s. The\n"
                      "architecture is the default or given below, with fresh weights (speed does not depend on\n"
                      "them); --batch is training windows per step. --json: one JSON object.\n",
                      opts, &c, &cfg, &batch, &steps);
  if (r) return r < 0;
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct nn_params p;
  struct wavenet_ids ids;
  nn_params_init(&p, ctx);
  if (wavenet_params(&p, &cfg, 1, 1, &ids)) {
    nn_params_free(&p);
    return cli_ctx_done(ctx, cli_vkg_error("bench wavenet"));
  }
  static const int batches[2] = {1, 16};
  double sps[2] = {0, 0}, train_sps = 0;
  vkg_status s = VKG_OK;
  if (!c.json) {
    printf("device: %s\n", vkg_ctx_device(ctx)->name);
    print_rf(stdout, &cfg);
  }
  int32_t cls[16] = {0};
  for (int k = 0; k < 2 && !s; k++) {
    int B = batches[k];
    struct wavenet_gen *gen = NULL;
    int32_t *x = malloc(sizeof *x * (size_t)B * (size_t)samples);
    s = x ? wavenet_gen_create(&cfg, &p, &ids, B, GEN_STEPS, 0, &gen) : VKG_ERR_OOM;
    /* A warm-up submission, then the timed run. */
    if (!s) s = wavenet_generate(gen, GEN_STEPS, NULL, 0, cfg.classes ? cls : NULL, 1, 1.0f, x, NULL);
    double t0 = nn_now();
    if (!s) s = wavenet_generate(gen, (size_t)samples, NULL, 0, cfg.classes ? cls : NULL, 2, 1.0f, x, NULL);
    if (!s) sps[k] = (double)B * (double)samples / (nn_now() - t0);
    if (!s && !c.json)
      printf("generation  batch %2d  %10.0f samples/s  real-time factor %.3f (per row %.3f)\n", B, sps[k],
             sps[k] / cfg.rate, sps[k] / B / cfg.rate);
    fflush(stdout);
    wavenet_gen_destroy(gen);
    free(x);
  }
  nn_params_free(&p);
  if (!s) {
    struct wavenet_opts wo = wavenet_opts_default();
    wo.arch = cfg, wo.batch = (int)batch, wo.window = (int)window, wo.synthetic = (int)batch;
    wo.conditional = 0;
    struct nn_model *m;
    s = wavenet_create(ctx, &wo, &m);
    if (!s) {
      struct vkg_optim_desc od = vkg_optim_desc_default(VKG_ADAM);
      double steps_per_s = 0;
      s = nn_step_bench(m, &od, 1e-3f, (int)steps, &steps_per_s);
      train_sps = steps_per_s * (double)batch * (double)window;
      wavenet_destroy(m);
    }
    if (!s && !c.json) printf("training    batch %2ld x window %ld  %10.0f samples/s\n", batch, window, train_sps);
  }
  if (s) return cli_ctx_done(ctx, cli_vkg_error("bench wavenet"));
  if (c.json) {
    char config[512];
    nn_cfg_json(&wavenet_cfg, &cfg, config, sizeof config);
    printf("{\"model\": \"wavenet\", \"device\": \"%s\", \"config\": %s, \"generation_samples_per_s\": {\"1\": %.1f, "
           "\"16\": %.1f}, \"real_time_factor\": {\"1\": %.4f, \"16\": %.4f}, \"training_samples_per_s\": %.1f}\n",
           vkg_ctx_device(ctx)->name, config, sps[0], sps[1], sps[0] / cfg.rate, sps[1] / cfg.rate, train_sps);
  }
  return cli_ctx_done(ctx, 0);
}
