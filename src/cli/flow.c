/* vkgen train|sample|eval|bench flow: the normalizing flow (Glow / RealNVP) of src/models/flow.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "models/flow.h"
#include "nn/data.h"
#include "nn/fid.h"
#include "nn/progress.h"

/* A loaded model: its config, parameters and layout. */
struct loaded {
  struct flow_config c;
  struct nn_params p;
  struct flow_net net;
};

/* Loads weights (default: the flow.safetensors asset); prints the error and returns 0 on failure. */
static int load(vkg_ctx *ctx, const char *weights, const char *doing, struct loaded *m) {
  char path[4096];
  memset(m, 0, sizeof *m);
  nn_params_init(&m->p, ctx);
  if (!weights) {
    if (!cli_asset("flow.safetensors", path, sizeof path)) {
      cli_error("%s: no default flow weights (assets/flow.safetensors was not found)", doing);
      fprintf(stderr, "hint: train one with 'vkgen train flow' and pass --weights runs/flow/flow.safetensors\n");
      return 0;
    }
    weights = path;
  }
  if (flow_load(ctx, weights, &m->c, &m->p, &m->net)) {
    cli_vkg_error(doing);
    return 0;
  }
  return 1;
}

static void unload(struct loaded *m) {
  flow_net_free(&m->net);
  nn_params_free(&m->p);
}

/* The test images of the model's data (Fashion-MNIST's test split or the held-out tenth of --data);
 * train too when asked (FID's floor). */
static int test_images(const char *data_dir, const struct flow_config *c, const char *doing, struct vkg_images *test,
                       struct vkg_images *train) {
  if (!cli_data_fits(data_dir, c->size, c->channels, doing)) return 0;
  if (flow_data_load(data_dir, c, 0, train, test)) {
    cli_vkg_error(doing);
    return 0;
  }
  return 1;
}

// ---- pictures ----

/* 2n test images chosen by seed: pairs (x, inverse(forward(x))) with --reconstruct, or the ends of
 * n walks through eps with --interpolate (cols images each, both ends real images decoded exactly). */
static vkg_status picture(struct flow_net *net, const struct vkg_images *test, int n, int cols, int interpolate,
                          uint32_t seed, const char *out) {
  const struct flow_config *c = &net->c;
  size_t D = (size_t)flow_dims(c);
  int pick = interpolate ? 2 * n : n, per = interpolate ? cols : 2;
  uint32_t *perm = malloc(sizeof *perm * (size_t)test->n);
  float *x = malloc(sizeof *x * (size_t)pick * D), *e = malloc(sizeof *e * (size_t)pick * D);
  float *walk = malloc(sizeof *walk * (size_t)n * per * D), *img = malloc(sizeof *img * (size_t)n * per * D);
  vkg_status s = perm && x && e && walk && img ? VKG_OK : VKG_ERR_OOM;
  if (!s) {
    vkg_shuffle(perm, (size_t)test->n, seed, 0);
    for (int i = 0; i < pick; i++)
      memcpy(x + (size_t)i * D, test->pixels + (size_t)perm[i] * D, D * sizeof *x);
    s = flow_encode(net, x, pick, e);
  }
  for (int r = 0; !s && r < n; r++)
    for (int k = 0; k < per; k++) {
      /* reconstruct: column 0 the image itself, column 1 decode(encode(x)); interpolate: a straight
       * line in eps from one test image's latents to another's */
      float t = interpolate ? (float)k / (float)(cols - 1) : 0;
      const float *a = e + (size_t)(interpolate ? 2 * r : r) * D, *b = interpolate ? a + D : a;
      for (size_t j = 0; j < D; j++)
        walk[((size_t)r * per + k) * D + j] = (1 - t) * a[j] + t * b[j];
    }
  if (!s) s = flow_decode(net, walk, n * per, img);
  if (!s && !interpolate)
    for (int r = 0; r < n; r++)
      memcpy(img + (size_t)(2 * r) * D, x + (size_t)r * D, D * sizeof *x);
  if (!s) s = vkg_png_grid(out, img, n * per, c->channels, c->size, c->size, interpolate ? cols : 2 * (n < 8 ? n : 8));
  free(perm), free(x), free(e), free(walk), free(img);
  return s;
}

/* The note for samples whose inverse pass overflowed (their non-finite pixels are drawn black). */
static void nonfinite_note(int bad, int n, double temperature) {
  if (bad > 0)
    fprintf(stderr,
            "note: %d of %d samples overflowed in the inverse pass at temperature %g (their non-finite pixels are 0);"
            " a lower --temperature avoids it\n",
            bad, n, temperature);
}

static vkg_status write_samples(struct flow_net *net, int n, uint32_t seed, float temperature, const char *out) {
  const struct flow_config *c = &net->c;
  float *img = malloc(sizeof *img * (size_t)n * flow_dims(c));
  int bad = 0;
  struct nn_progress pg;
  nn_progress_start(&pg, "sample", 0, n, "images", 0);
  vkg_status s = img ? flow_sample(net, n, seed, temperature, img, &bad, &pg) : VKG_ERR_OOM;
  if (!s) nn_progress_end(&pg, NULL);
  nn_progress_break(&pg);
  if (!s) nonfinite_note(bad, n, temperature);
  if (!s) s = vkg_png_grid(out, img, n, c->channels, c->size, c->size, (int)ceil(sqrt((double)n)));
  free(img);
  return s;
}

// ---- vkgen sample flow ----

int sample_flow(int argc, char **argv) {
  struct cli_common c = {0};
  const char *out = NULL, *weights = NULL, *data_dir = NULL;
  long n = 64, seed = 1, cols = 10;
  double temperature = 0.7;
  int reconstruct = 0, interpolate = 0;
  const struct cli_opt opts[] = {
      {"-n", CLI_INT, &n, 1, 4096, "images, pairs or rows"},
      {"-o", CLI_STR, &out, 0, 0, "output PNG (default samples.png, reconstructions.png or interpolations.png)",
       " FILE"},
      {"--seed", CLI_INT, &seed, 0, 4294967295.0, "noise and the choice of test images (same seed, same PNG)"},
      {"--temperature", CLI_NUM, &temperature, 0, 10, "eps ~ N(0, T^2): below 1 trades variety for cleaner images",
       " T"},
      {"--weights", CLI_STR, &weights, 0, 0, "weights from 'vkgen train flow' (default assets/flow.safetensors)",
       " FILE"},
      {"--reconstruct", CLI_FLAG, &reconstruct, 0, 0, "test images beside inverse(forward(x))"},
      {"--interpolate", CLI_FLAG, &interpolate, 0, 0, "walks between pairs of test images through z, one per row"},
      {"--cols", CLI_INT, &cols, 2, 64, "with --interpolate: images per walk"},
      {"--data", CLI_STR, &data_dir, 0, 0, "test images: Fashion-MNIST files, or the folder of images trained on",
       " DIR"},
      {0}};
  int r = cli_parse(argc, argv, "sample flow",
                    "usage: vkgen sample flow [-n N] [-o FILE] [--seed S] [--temperature T] [--weights FILE]\n"
                    "                         [--reconstruct | --interpolate]\n\n"
                    "Runs the flow's inverse pass from eps ~ N(0, T^2 I) into a PNG grid of N images.\n"
                    "--reconstruct shows N test images, each beside inverse(forward(x)) (exact up to float\n"
                    "rounding: a flow encodes images without loss). --interpolate draws N rows, each a straight\n"
                    "walk through the latents between two test images.\n",
                    opts, &c, NULL, NULL);
  if (r) return r < 0;
  if (reconstruct && interpolate) return cli_error("sample flow: choose one of --reconstruct and --interpolate");
  if (!out) out = reconstruct ? "reconstructions.png" : interpolate ? "interpolations.png" : "samples.png";
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct loaded m;
  struct vkg_images test = {0};
  int rc = 1;
  if (!load(ctx, weights, "sample flow", &m)) goto done;
  if ((reconstruct || interpolate) && !test_images(data_dir, &m.c, "sample flow", &test, NULL)) goto done;
  long need = interpolate ? 2 * n : n;
  if ((reconstruct || interpolate) && need > test.n) {
    rc = cli_error("sample flow: -n %ld needs %ld test images, but there are %d", n, need, test.n);
  } else if (reconstruct || interpolate) {
    if (picture(&m.net, &test, (int)n, (int)cols, interpolate, (uint32_t)seed, out))
      rc = cli_vkg_error("sample flow");
    else if (reconstruct)
      fprintf(cli_msgs(out), "wrote %s: %ld test images, each beside inverse(forward(x))\n", out, n), rc = 0;
    else
      fprintf(cli_msgs(out), "wrote %s: %ld walks of %ld steps between test images\n", out, n, cols), rc = 0;
  } else {
    if (write_samples(&m.net, (int)n, (uint32_t)seed, (float)temperature, out))
      rc = cli_vkg_error("sample flow");
    else
      fprintf(cli_msgs(out), "wrote %s: %ld samples at temperature %g\n", out, n, temperature), rc = 0;
  }
done:
  vkg_images_free(&test);
  unload(&m);
  return cli_ctx_done(ctx, rc);
}

// ---- vkgen eval flow ----

int eval_flow(int argc, char **argv) {
  struct cli_common c = {0};
  const char *weights = NULL, *data_dir = NULL, *clf = NULL;
  long n = 0, iw = 1, seed = 1, fid_n = 1000;
  double temperature = 0.7;
  int no_fid = 0;
  const struct cli_opt opts[] = {
      {"--weights", CLI_STR, &weights, 0, 0, "weights from 'vkgen train flow' (default assets/flow.safetensors)",
       " FILE"},
      {"-n", CLI_INT, &n, 1, 100000000, "test images (default: all of them)"},
      {"--iw", CLI_INT, &iw, 1, 1000, "dequantization draws per image, importance-weighted", " K"},
      {"--seed", CLI_INT, &seed, 0, 4294967295.0, "dequantization noise and samples"},
      {"--fid-n", CLI_INT, &fid_n, 2, 100000, "images for FID (samples, and as many test images)"},
      {"--temperature", CLI_NUM, &temperature, 0, 10, "of the samples for FID (as sample flow's default)", " T"},
      {"--classifier", CLI_STR, &clf, 0, 0, "FID features (default assets/classifier.safetensors)", " FILE"},
      {"--no-fid", CLI_FLAG, &no_fid, 0, 0, "skip FID"},
      {"--data", CLI_STR, &data_dir, 0, 0, "Fashion-MNIST files, or the folder of images trained on", " DIR"},
      {0}};
  int r =
      cli_parse(argc, argv, "eval flow",
                "usage: vkgen eval flow [--weights FILE] [-n N] [--iw K] [--json]\n\n"
                "Measures a trained flow on the test set (Fashion-MNIST's, or the held-out tenth of --data):\n"
                "  bits/dim: the exact log-density of the dequantized image y = (k + u) / 256, u ~ U[0, 1)^D, turned\n"
                "            into -log2 P(k) / D <= (-log p(y) + D log 256) / (D ln 2): an upper bound on the\n"
                "            discrete images' bits/dim (dequantization bound), averaged over K draws of u;\n"
                "  --iw K:   the importance-weighted bound -log2((1/K) sum_k p(y_k) / 256^D) / D from the same K\n"
                "            draws, tighter than the single-draw one as K grows;\n"
                "  FID:      --fid-n samples (temperature T) against as many test images, with the Fashion-MNIST\n"
                "            classifier's features, and the floor: training images against the same test images.\n"
                "--json: one JSON object.\n",
                opts, &c, NULL, NULL);
  if (r) return r < 0;
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct loaded m;
  struct vkg_images test = {0}, train = {0};
  float *gen = NULL;
  int rc = 1;
  struct cli_fid fid;
  cli_fid_setup(&fid, clf, no_fid, 0, "eval flow");
  if (!load(ctx, weights, "eval flow", &m)) goto done;
  if (!test_images(data_dir, &m.c, "eval flow", &test, fid.classifier ? &train : NULL)) goto done;
  if (n == 0 || n > test.n) {
    if (n > test.n) fprintf(stderr, "note: -n %ld is more than the %d test images; using all of them\n", n, test.n);
    n = test.n;
  }
  struct flow_eval e;
  double t0 = nn_now();
  struct nn_progress pg;
  nn_progress_start(&pg, "bits/dim", 0, n, "images", 0);
  if (flow_evaluate(&m.net, &test, (int)n, (int)iw, (uint32_t)seed, &e, &pg)) {
    nn_progress_break(&pg);
    rc = cli_vkg_error("eval flow");
    goto done;
  }
  nn_progress_end(&pg, NULL);
  nn_progress_break(&pg);
  double t_eval = nn_now() - t0;
  int nonfinite = 0;
  cli_fid_count(&fid, fid_n, test.n, train.n);
  if (fid.n) {
    gen = malloc(sizeof *gen * (size_t)fid.n * flow_dims(&m.c));
    struct nn_progress pg;
    nn_progress_start(&pg, "sample", 0, fid.n, "images", 0);
    vkg_status s =
        gen ? flow_sample(&m.net, fid.n, (uint32_t)seed, (float)temperature, gen, &nonfinite, &pg) : VKG_ERR_OOM;
    if (!s) nn_progress_end(&pg, NULL);
    nn_progress_break(&pg);
    if (!s) s = cli_fid_run(ctx, &fid, gen, &test, &train);
    if (s) {
      rc = cli_vkg_error("eval flow: FID");
      goto done;
    }
  }
  if (c.json) {
    printf("{\"model\": \"flow\", \"n\": %d, \"iw\": %d, \"bits_per_dim\": %.6f, \"iw_bits_per_dim\": %.6f", e.n,
           e.samples, e.bpd, e.iw_bpd);
    cli_fid_report(&fid, 1, 0);
    if (fid.n) printf(", \"temperature\": %g, \"nonfinite_samples\": %d", temperature, nonfinite);
    printf("}\n");
  } else {
    const struct flow_config *fc = &m.c;
    printf("flow (%d levels x %d steps, width %d, %s, %dx%d, %d channel%s) on %d test images:\n", fc->levels, fc->depth,
           fc->width, fc->preprocess, fc->size, fc->size, fc->channels, fc->channels == 1 ? "" : "s", e.n);
    printf("  bits/dim                         %10.4f (upper bound: uniform dequantization, %d draw%s)\n", e.bpd,
           e.samples, e.samples == 1 ? "" : "s averaged");
    if (e.samples > 1)
      printf("  bits/dim, importance-weighted    %10.4f (upper bound, %d draws)\n", e.iw_bpd, e.samples);
    cli_fid_report(&fid, 0, 30);
    if (fid.n) printf("  %-30s %12.2g\n", "sampling temperature", temperature);
    if (nonfinite)
      printf("  %-30s %12d of %d (non-finite pixels drawn as 0)\n", "samples that overflowed", nonfinite, fid.n);
    fprintf(stderr, "(%.1f s for the bits/dim)\n", t_eval);
  }
  rc = 0;
done:
  free(gen);
  vkg_images_free(&test);
  vkg_images_free(&train);
  unload(&m);
  return cli_ctx_done(ctx, rc);
}

// ---- vkgen bench flow ----

/* Sampled images per second at batch B: the recorded inverse pass, images read back, best of reps
 * runs after a warm-up. */
static vkg_status bench_sampling(struct flow_net *net, int B, int reps, double *ips) {
  struct flow_sampler *f;
  vkg_status s = flow_sampler_create(net, B, &f);
  float *img = s ? NULL : malloc(sizeof *img * (size_t)B * flow_dims(&net->c));
  if (!s && !img) s = VKG_ERR_OOM;
  double best = INFINITY;
  for (int r = -1; !s && r < reps; r++) {
    double t0 = nn_now();
    s = flow_sampler_run(f, (uint32_t)(r + 2), 1.0f, img, NULL);
    if (r >= 0 && nn_now() - t0 < best) best = nn_now() - t0;
  }
  if (!s) *ips = B / best;
  free(img);
  flow_sampler_destroy(f);
  return s;
}

int bench_flow(int argc, char **argv) {
  struct cli_common c = {0};
  struct flow_opts fo = flow_opts_default();
  long batch = 32, steps = 5;
  int r =
      cli_bench_parse(cli_family_find("flow"), argc, argv,
                      "usage: vkgen bench flow [options]\n\n"
                      "Times sampling (the inverse pass from eps ~ N(0, I), images read back) at batch 64 and 1024\n"
                      "as images/s (best of 3 runs), and training (forward, backward, Adam; two steps in flight) as\n"
                      "images/s, for the default architecture or the one given below, with freshly initialized\n"
                      "weights on random images (speed does not depend on them). --json: one JSON object.\n",
                      NULL, &c, &fo.arch, &batch, &steps);
  if (r) return r < 0;
  fo.batch = (int)batch;
  fo.synthetic = fo.batch > 256 ? fo.batch : 256; /* random images: the actnorm init reads up to 256 */
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct nn_model *m;
  if (flow_create(ctx, &fo, &m)) return cli_ctx_done(ctx, cli_vkg_error("bench flow"));
  const struct vkg_device_info *dev = vkg_ctx_device(ctx);
  static const int batches[2] = {64, 1024};
  double ips[2] = {0}, tips = 0;
  vkg_status s = VKG_OK;
  const struct flow_config *a = &fo.arch;
  if (!c.json)
    printf("device: %s\nflow %d levels x %d steps, width %d, %dx%d, %d channel%s\n", dev->name, a->levels, a->depth,
           a->width, a->size, a->size, a->channels, a->channels == 1 ? "" : "s");
  for (int k = 0; k < 2 && !s; k++) {
    s = bench_sampling(flow_model_net(m), batches[k], 3, &ips[k]);
    if (!s && !c.json) printf("%-10s batch %5d %12.1f images/s\n", "sampling", batches[k], ips[k]);
    fflush(stdout);
  }
  double sps = 0;
  if (!s) s = cli_bench_train(m, (int)steps, &sps);
  tips = sps * (double)batch;
  if (!s && !c.json) printf("%-10s batch %5ld %12.1f images/s\n", "training", batch, tips);
  if (!s && c.json) {
    char config[512];
    nn_cfg_json(&flow_cfg, a, config, sizeof config);
    printf("{\"device\": \"%s\", \"model\": \"flow\", \"config\": %s, \"sampling\": [{\"batch\": 64, "
           "\"images_per_s\": %.3f}, {\"batch\": 1024, \"images_per_s\": %.3f}], \"training\": {\"batch\": %ld, "
           "\"steps\": %ld, \"images_per_s\": %.3f}}\n",
           dev->name, config, ips[0], ips[1], batch, steps, tips);
  }
  int rc = s ? cli_vkg_error("bench flow") : 0;
  flow_destroy(m);
  return cli_ctx_done(ctx, rc);
}
