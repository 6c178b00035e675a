/* vkgen train|sample|eval|bench pixelcnn: the gated PixelCNN of src/models/pixelcnn.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "models/pixelcnn.h"
#include "nn/data.h"
#include "nn/fid.h"
#include "nn/progress.h"

/* The weights (default: the shipped assets/pixelcnn.safetensors); 0 after printing the error. */
static int load(vkg_ctx *ctx, const char *weights, const char *cmd, struct pixelcnn_config *c, struct nn_params *p) {
  char path[4096];
  nn_params_init(p, ctx);
  if (!(weights = cli_weights("pixelcnn", weights, path, sizeof path))) return 0;
  if (pixelcnn_load(ctx, weights, c, p)) return !cli_vkg_error(cmd);
  return 1;
}

/* The test images of the model's data (Fashion-MNIST's test split, or the held-out tenth of --data) and,
 * if train is not NULL, the training images. */
static int load_test(const char *dir, const struct pixelcnn_config *c, const char *cmd, struct pixelcnn_data *test,
                     struct pixelcnn_data *train) {
  if (!cli_data_fits(dir, c->size, c->channels, cmd)) return 0;
  if (pixelcnn_data_load(dir, c, 0, train, test)) return !cli_vkg_error(cmd);
  if (c->classes && !test->labels) {
    pixelcnn_data_free(test);
    if (train) pixelcnn_data_free(train);
    return !cli_error("%s: the model is conditional, and the images of '%s' have no class labels", cmd, dir);
  }
  return 1;
}

// ---- vkgen sample pixelcnn ----

/* n test images chosen by seed, each beside the completion of its bottom half. */
static vkg_status complete(const struct pixelcnn_config *c, const struct nn_params *p, const struct pixelcnn_data *t,
                           int n, float temp, uint32_t seed, const char *out) {
  const size_t P = (size_t)c->channels * c->size * c->size;
  const int B = n < 64 ? n : 64;
  uint32_t *perm = malloc(sizeof *perm * (size_t)t->n);
  uint8_t *given = malloc((size_t)B * P);
  int32_t *y = calloc((size_t)B, sizeof *y);
  float *grid = malloc(sizeof *grid * 2 * (size_t)n * P), *done = malloc(sizeof *done * (size_t)B * P);
  struct pixelcnn_sampler *sm = NULL;
  vkg_status s = perm && given && y && grid && done ? VKG_OK : VKG_ERR_OOM;
  if (!s) s = pixelcnn_sampler_create(c, p, B, c->size, &sm);
  if (!s) vkg_shuffle(perm, (size_t)t->n, seed, 0);
  for (int start = 0; !s && start < n; start += B) {
    int m = n - start < B ? n - start : B;
    for (int i = 0; i < B; i++) { /* a short last batch repeats its first image */
      uint32_t k = perm[start + (i < m ? i : 0)];
      memcpy(given + (size_t)i * P, t->levels + (size_t)k * P, P);
      y[i] = t->labels ? t->labels[k] : 0;
      for (size_t j = 0; i < m && j < P; j++)
        grid[(size_t)(2 * (start + i)) * P + j] = t->levels[(size_t)k * P + j] / 255.0f;
    }
    s = pixelcnn_sampler_run(sm, given, c->size / 2, y, temp, (uint32_t)(seed + start), done);
    for (int i = 0; !s && i < m; i++)
      memcpy(grid + (size_t)(2 * (start + i) + 1) * P, done + (size_t)i * P, sizeof *done * P);
  }
  if (!s) s = vkg_png_grid(out, grid, 2 * n, c->channels, c->size, c->size, 2 * (n < 8 ? n : 8));
  pixelcnn_sampler_destroy(sm);
  free(perm);
  free(given);
  free(y);
  free(grid);
  free(done);
  return s;
}

int sample_pixelcnn(int argc, char **argv) {
  struct cli_common c = {0};
  const char *out = NULL, *weights = NULL, *data_dir = NULL;
  long n = 16, seed = 1, cls = -1;
  double temp = 1;
  int completion = 0;
  const struct cli_opt opts[] = {
      {"-n", CLI_INT, &n, 1, 4096, "images (with --complete: test images)"},
      {"-o", CLI_STR, &out, 0, 0, "output PNG (default samples.png, or completions.png)", " FILE"},
      {"--seed", CLI_INT, &seed, 0, 4294967295.0, "draws and the choice of test images (same seed, same PNG)"},
      {"--temperature", CLI_NUM, &temp, 0.01, 100, "divides the logits before each draw"},
      {"--class", CLI_INT, &cls, -1, 999,
       "conditional models: the class of every image (-1: image i has class i mod "
       "classes)"},
      {"--weights", CLI_STR, &weights, 0, 0,
       "weights from 'vkgen train pixelcnn' (default assets/pixelcnn.safetensors)", " FILE"},
      {"--complete", CLI_FLAG, &completion, 0, 0, "fill the bottom half of test images given their top half"},
      {"--data", CLI_STR, &data_dir, 0, 0, "with --complete: Fashion-MNIST files, or the folder trained on", " DIR"},
      {0}};
  int r = cli_parse(argc, argv, "sample pixelcnn",
                    "usage: vkgen sample pixelcnn [-n N] [-o FILE] [--seed S] [--temperature T] [--complete]\n\n"
                    "Draws every sub-pixel in raster order (R -> G -> B within a pixel) from the model's softmax,\n"
                    "on the GPU: each pixel is a full forward pass per channel and a draw, recorded a row of pixels\n"
                    "per submission. --complete shows N test images, each beside a completion of its bottom half\n"
                    "drawn given its top half.\n",
                    opts, &c, NULL, NULL);
  if (r) return r < 0;
  if (!out) out = completion ? "completions.png" : "samples.png";
  if (data_dir && !completion) return cli_error("sample pixelcnn: --data goes with --complete");
  if (!cli_out_dir_ok(out)) return 1;
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct pixelcnn_config cfg;
  struct nn_params p;
  struct pixelcnn_data test = {0};
  int rc = 1;
  float *img = NULL;
  int32_t *y = NULL;
  if (!load(ctx, weights, "sample pixelcnn", &cfg, &p)) goto done;
  if (cls >= 0 && cls >= cfg.classes) {
    rc = cfg.classes ? cli_error("sample pixelcnn: --class %ld is not one of the model's %d classes", cls, cfg.classes)
                     : cli_error("sample pixelcnn: --class needs a conditional model, and this one is not");
    goto done;
  }
  double t0 = nn_now();
  vkg_status s;
  if (completion) {
    if (!load_test(data_dir, &cfg, "sample pixelcnn", &test, NULL)) goto done;
    if (n > test.n) {
      rc = cli_error("sample pixelcnn: -n %ld is more than the %d test images", n, test.n);
      goto done;
    }
    s = complete(&cfg, &p, &test, (int)n, (float)temp, (uint32_t)seed, out);
  } else {
    size_t P = (size_t)cfg.channels * cfg.size * cfg.size;
    img = malloc(sizeof *img * (size_t)n * P);
    y = cfg.classes ? malloc(sizeof *y * (size_t)n) : NULL;
    for (long i = 0; y && i < n; i++)
      y[i] = (int32_t)(cls >= 0 ? cls : i % cfg.classes);
    struct nn_progress pg;
    nn_progress_start(&pg, "sample", 0, n * cfg.size * cfg.size, "pixels", 0);
    s = img ? pixelcnn_sample(&cfg, &p, (int)n, (float)temp, (uint32_t)seed, y, img, &pg) : VKG_ERR_OOM;
    if (!s) nn_progress_end(&pg, NULL);
    nn_progress_break(&pg);
    if (!s) s = vkg_png_grid(out, img, (int)n, cfg.channels, cfg.size, cfg.size, (int)ceil(sqrt((double)n)));
  }
  if (s) {
    rc = cli_vkg_error("sample pixelcnn");
    goto done;
  }
  fprintf(cli_msgs(out), "wrote %s: %ld %s in %.1f s\n", out, n,
          completion ? "test images, each beside a completion of its bottom half" : "samples", nn_now() - t0);
  rc = 0;
done:
  free(img);
  free(y);
  pixelcnn_data_free(&test);
  nn_params_free(&p);
  return cli_ctx_done(ctx, rc);
}

// ---- vkgen eval pixelcnn ----

int eval_pixelcnn(int argc, char **argv) {
  struct cli_common c = {0};
  const char *weights = NULL, *data_dir = NULL, *clf = NULL;
  long n = 0, fid_n = 0, seed = 1;
  const struct cli_opt opts[] = {
      {"--weights", CLI_STR, &weights, 0, 0,
       "weights from 'vkgen train pixelcnn' (default assets/pixelcnn.safetensors)", " FILE"},
      {"-n", CLI_INT, &n, 1, 100000000, "test images for the NLL (default: all of them)"},
      {"--fid", CLI_INT, &fid_n, 0, 100000,
       "samples for FID against as many test images (0: no FID; sampling is a "
       "full forward pass per sub-pixel)"},
      {"--seed", CLI_INT, &seed, 0, 4294967295.0, "the draws of the FID samples"},
      {"--classifier", CLI_STR, &clf, 0, 0, "FID features (default assets/classifier.safetensors)", " FILE"},
      {"--data", CLI_STR, &data_dir, 0, 0, "Fashion-MNIST files, or the folder of images trained on", " DIR"},
      {0}};
  int r = cli_parse(argc, argv, "eval pixelcnn",
                    "usage: vkgen eval pixelcnn [--weights FILE] [-n N] [--fid N] [--json]\n\n"
                    "The exact negative log-likelihood of the test set (Fashion-MNIST's, or the held-out tenth of\n"
                    "--data) in bits per sub-pixel (bits/dim) and nats per image, and with --fid N the FID of N\n"
                    "samples against N test images on the Fashion-MNIST classifier's features.\n"
                    "--json: one JSON object.\n",
                    opts, &c, NULL, NULL);
  if (r) return r < 0;
  struct cli_fid fid; /* only with --fid N: sampling is slow */
  if (!cli_fid_setup(&fid, clf, !fid_n, 1, "eval pixelcnn")) return 1;
  if (!fid_n) fid.skipped = " (pass --fid N to sample N images for it)";
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct pixelcnn_config cfg;
  struct nn_params p;
  struct pixelcnn_data test = {0}, train = {0};
  float *gen = NULL;
  int rc = 1;
  if (!load(ctx, weights, "eval pixelcnn", &cfg, &p) ||
      !load_test(data_dir, &cfg, "eval pixelcnn", &test, fid_n ? &train : NULL))
    goto done;
  if (n == 0 || n > test.n) n = test.n;
  const int D = cfg.channels * cfg.size * cfg.size;
  double nats, t0 = nn_now();
  struct nn_progress pg;
  nn_progress_start(&pg, "likelihood", 0, n, "images", 0);
  int bad = pixelcnn_evaluate(&cfg, &p, &test, (int)n, &nats, &pg) != VKG_OK;
  if (!bad) nn_progress_end(&pg, NULL);
  nn_progress_break(&pg);
  if (bad) {
    rc = cli_vkg_error("eval pixelcnn");
    goto done;
  }
  double t_nll = nn_now() - t0;
  cli_fid_count(&fid, fid_n, test.n, train.n);
  if (fid.n) {
    gen = malloc(sizeof *gen * (size_t)fid.n * D);
    struct nn_progress pg;
    nn_progress_start(&pg, "sample", 0, (long)fid.n * cfg.size * cfg.size, "pixels", 0);
    vkg_status s = gen ? pixelcnn_sample(&cfg, &p, fid.n, 1, (uint32_t)seed, NULL, gen, &pg) : VKG_ERR_OOM;
    if (!s) nn_progress_end(&pg, NULL);
    nn_progress_break(&pg);
    if (!s) s = cli_fid_run(ctx, &fid, gen, &test.im, &train.im);
    if (s) {
      rc = cli_vkg_error("eval pixelcnn: FID");
      goto done;
    }
  }
  double bpd = nats / D / log(2.0);
  if (c.json) {
    printf("{\"model\": \"pixelcnn\", \"n\": %ld, \"bits_per_dim\": %.6f, \"nats_per_image\": %.4f", n, bpd, nats);
    cli_fid_report(&fid, 1, 0);
    printf("}\n");
  } else {
    printf("PixelCNN (%d layers, width %d, kernel %d, %dx%d, %d channel%s%s) on %ld test images:\n", cfg.layers,
           cfg.width, cfg.kernel, cfg.size, cfg.size, cfg.channels, cfg.channels == 1 ? "" : "s",
           cfg.classes ? ", conditional" : "", n);
    printf("  negative log-likelihood   %10.4f bits/dim\n", bpd);
    printf("                            %10.2f nats/image\n", nats);
    cli_fid_report(&fid, 0, 24);
    fprintf(stderr, "(%.1f s for the likelihood)\n", t_nll);
  }
  rc = 0;
done:
  free(gen);
  pixelcnn_data_free(&test);
  pixelcnn_data_free(&train);
  nn_params_free(&p);
  return cli_ctx_done(ctx, rc);
}

// ---- vkgen bench pixelcnn ----

/* Sampled images per second at batch B: `runs` timed sampler runs of one row of pixels each, after a
 * warm-up run, scaled to the S runs of a whole image. */
static vkg_status time_sampling(const struct pixelcnn_config *c, const struct nn_params *p, int B, int runs,
                                double *ips) {
  struct pixelcnn_sampler *sm;
  vkg_status s = pixelcnn_sampler_create(c, p, B, c->size, &sm);
  if (s) return s;
  /* keep_rows S - r leaves r rows to draw, so a run of the sampler is timed r rows at a time. */
  size_t P = (size_t)c->channels * c->size * c->size;
  uint8_t *given = calloc((size_t)B * P, 1);
  int32_t *y = calloc((size_t)B, sizeof *y);
  float *img = malloc(sizeof *img * (size_t)B * P);
  s = given && y && img ? pixelcnn_sampler_run(sm, given, c->size - 1, y, 1, 0, img) : VKG_ERR_OOM;
  double t0 = nn_now();
  if (!s) s = pixelcnn_sampler_run(sm, given, c->size - runs, y, 1, 1, img);
  if (!s) *ips = B / ((nn_now() - t0) / runs * c->size);
  free(given);
  free(y);
  free(img);
  pixelcnn_sampler_destroy(sm);
  return s;
}

/* Training images per second: the training loop's step (cli_bench_train) on random images. */
static vkg_status time_training(vkg_ctx *ctx, const struct pixelcnn_config *c, int B, int steps, double *ips) {
  struct pixelcnn_opts o = pixelcnn_opts_default();
  o.arch = *c, o.batch = B, o.synthetic = B;
  struct nn_model *m;
  vkg_status s = pixelcnn_create(ctx, &o, &m);
  double sps = 0;
  if (!s) s = cli_bench_train(m, steps, &sps);
  if (!s) *ips = sps * B;
  pixelcnn_destroy(m);
  return s;
}

int bench_pixelcnn(int argc, char **argv) {
  struct cli_common c = {0};
  struct pixelcnn_config cfg;
  long batch = 32, steps = 5, runs = 1, big = 64;
  const struct cli_opt opts[] = {{"--rows", CLI_INT, &runs, 1, 64, "rows of pixels sampled in the timed sampling runs"},
                                 {"--sample-batch", CLI_INT, &big, 1, 4096, "the larger sampling batch"},
                                 {0}};
  int r =
      cli_bench_parse(cli_family_find("pixelcnn"), argc, argv,
                      "usage: vkgen bench pixelcnn [options]\n\n"
                      "Times sampling at batch 1 and --sample-batch (default 64) in images/s, from a warm-up row and\n"
                      "--rows timed rows of pixels scaled to a whole image, and training (forward, backward, Adam;\n"
                      "two steps in flight) in images/s, for the default architecture or the one given below, with\n"
                      "fresh weights (speed does not depend on them). --json: one JSON object.\n",
                      opts, &c, &cfg, &batch, &steps);
  if (r) return r < 0;
  if (runs > cfg.size - 1) return cli_error("bench pixelcnn: --rows %ld leaves no warm-up row of %d", runs, cfg.size);
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct nn_params p;
  nn_params_init(&p, ctx);
  if (pixelcnn_params_create(&p, &cfg, 1)) {
    nn_params_free(&p);
    return cli_ctx_done(ctx, cli_vkg_error("bench pixelcnn"));
  }
  const char *dev = vkg_ctx_device(ctx)->name;
  int batches[2] = {1, (int)big};
  double ips[2] = {0, 0}, train = 0;
  char config[512];
  nn_cfg_json(&pixelcnn_cfg, &cfg, config, sizeof config);
  if (!c.json) printf("device: %s\nPixelCNN %s\n", dev, config);
  vkg_status s = VKG_OK;
  for (int k = 0; k < 2 && !s; k++) {
    s = time_sampling(&cfg, &p, batches[k], (int)runs, &ips[k]);
    if (!s && !c.json) printf("sampling  batch %5d  %10.4f images/s\n", batches[k], ips[k]);
    fflush(stdout);
  }
  if (!s) s = time_training(ctx, &cfg, (int)batch, (int)steps, &train);
  if (!s && !c.json) printf("training  batch %5ld  %10.2f images/s\n", batch, train);
  if (!s && c.json)
    printf("{\"device\": \"%s\", \"model\": \"pixelcnn\", \"config\": %s, \"sampling\": [{\"batch\": 1, "
           "\"images_per_s\": %.6f}, {\"batch\": %d, \"images_per_s\": %.6f}], \"training\": {\"batch\": %ld, "
           "\"images_per_s\": %.4f}}\n",
           dev, config, ips[0], batches[1], ips[1], batch, train);
  int rc = s ? cli_vkg_error("bench pixelcnn") : 0;
  nn_params_free(&p);
  return cli_ctx_done(ctx, rc);
}
