/* vkgen train|sample|eval|bench vae: the convolutional VAE of src/models/vae.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "nn/progress.h"
#include "models/vae.h"
#include "nn/data.h"
#include "nn/fid.h"

// ---- shared pieces ----

/* Loads weights (default: the vae.safetensors asset); prints the error and returns 0 on failure. */
static int load_weights(vkg_ctx *ctx, const char *weights, const char *doing, struct vae_config *c,
                        struct nn_params *p) {
  char path[4096];
  if (!(weights = cli_weights("vae", weights, path, sizeof path))) {
    nn_params_init(p, ctx);
    return 0;
  }
  if (vae_load(ctx, weights, c, p)) {
    cli_vkg_error(doing);
    return 0;
  }
  return 1;
}

/* Test images for a config: the Fashion-MNIST test split, or the held-out tenth of --data. */
static int load_test(const char *data_dir, const struct vae_config *c, const char *doing, struct vkg_images *test,
                     struct vkg_images *train) {
  if (!cli_data_fits(data_dir, c->size, c->channels, doing)) return 0;
  if (vae_data_load(data_dir, c, 0, train, test)) {
    cli_vkg_error(doing);
    return 0;
  }
  return 1;
}

// ---- pictures ----

/* Writes n test images chosen by seed, each followed by its reconstruction decode(mu), up to 8 pairs a
 * row (n <= test->n). */
static vkg_status write_reconstructions(const struct vae_config *c, const struct nn_params *p,
                                        const struct vkg_images *test, int n, uint32_t seed, const char *out) {
  size_t P = (size_t)c->channels * c->size * c->size;
  uint32_t *perm = malloc(sizeof *perm * (size_t)test->n);
  float *x = malloc(sizeof *x * (size_t)n * P), *mu = malloc(sizeof *mu * (size_t)n * c->z);
  float *rec = malloc(sizeof *rec * (size_t)n * P), *grid = malloc(sizeof *grid * 2 * (size_t)n * P);
  vkg_status s = perm && x && mu && rec && grid ? VKG_OK : VKG_ERR_OOM;
  if (!s) {
    vkg_shuffle(perm, (size_t)test->n, seed, 0);
    for (int i = 0; i < n; i++)
      memcpy(x + (size_t)i * P, test->pixels + (size_t)perm[i] * P, P * sizeof *x);
    s = vae_encode_mu(c, p, x, n, mu);
  }
  if (!s) s = vae_decode_z(c, p, mu, n, rec);
  for (int i = 0; !s && i < n; i++) {
    memcpy(grid + (size_t)(2 * i) * P, x + (size_t)i * P, P * sizeof *x);
    memcpy(grid + (size_t)(2 * i + 1) * P, rec + (size_t)i * P, P * sizeof *x);
  }
  if (!s) s = vkg_png_grid(out, grid, 2 * n, c->channels, c->size, c->size, 2 * (n < 8 ? n : 8));
  free(perm);
  free(x);
  free(mu);
  free(rec);
  free(grid);
  return s;
}

/* Writes n samples sigmoid(decode(z)), z ~ N(0, I) from seed, in a square grid. */
static vkg_status write_samples(const struct vae_config *c, const struct nn_params *p, int n, uint32_t seed,
                                const char *out) {
  float *img = malloc(sizeof *img * (size_t)n * c->channels * c->size * c->size);
  vkg_status s = img ? vae_sample(c, p, n, seed, img) : VKG_ERR_OOM;
  if (!s) s = vkg_png_grid(out, img, n, c->channels, c->size, c->size, (int)ceil(sqrt((double)n)));
  free(img);
  return s;
}

/* n rows, each decoding `cols` points evenly spaced on the line between two latent points: the mu of
 * two test images chosen by seed, or (prior) two draws of z ~ N(0, I). */
static int do_interpolate(const struct vae_config *c, const struct nn_params *p, const struct vkg_images *test, int n,
                          int cols, int prior, uint32_t seed, const char *out) {
  const int Z = c->z;
  size_t P = (size_t)c->channels * c->size * c->size;
  float *ends = malloc(sizeof *ends * 2 * (size_t)n * Z), *z = malloc(sizeof *z * (size_t)n * cols * Z);
  float *img = malloc(sizeof *img * (size_t)n * cols * P);
  vkg_status s;
  if (prior) {
    s = nn_prior(p->ctx, 2 * n, Z, seed, ends);
  } else if (2 * n > test->n) {
    free(ends);
    free(z);
    free(img);
    return cli_error("sample vae: --interpolate -n %d needs %d test images, but there are %d", n, 2 * n, test->n);
  } else {
    uint32_t *perm = malloc(sizeof *perm * (size_t)test->n);
    float *x = malloc(sizeof *x * 2 * (size_t)n * P);
    vkg_shuffle(perm, (size_t)test->n, seed, 0);
    for (int i = 0; i < 2 * n; i++)
      memcpy(x + (size_t)i * P, test->pixels + (size_t)perm[i] * P, P * sizeof *x);
    s = vae_encode_mu(c, p, x, 2 * n, ends);
    free(perm);
    free(x);
  }
  /* Row r walks from ends[2r] to ends[2r + 1]. */
  for (int r = 0; !s && r < n; r++)
    for (int k = 0; k < cols; k++) {
      float t = (float)k / (float)(cols - 1);
      const float *a = ends + (size_t)(2 * r) * Z, *b = a + Z;
      for (int j = 0; j < Z; j++)
        z[((size_t)r * cols + k) * Z + j] = (1 - t) * a[j] + t * b[j];
    }
  if (!s) s = vae_decode_z(c, p, z, n * cols, img);
  if (!s) s = vkg_png_grid(out, img, n * cols, c->channels, c->size, c->size, cols);
  free(ends);
  free(z);
  free(img);
  if (s) return cli_vkg_error("sample vae");
  fprintf(cli_msgs(out), "wrote %s: %d walk%s of %d steps between %s\n", out, n, n == 1 ? "" : "s", cols,
          prior ? "random latent points" : "the encodings of test images");
  return 0;
}

// ---- vkgen train vae ----

/* After the generic training's samples.png: 16 test images beside their reconstructions. */
int vae_pictures(struct nn_model *m, const char *out_dir, int quiet) {
  char recs[4096];
  snprintf(recs, sizeof recs, "%s/reconstructions.png", out_dir);
  const struct vkg_images *test = vae_test_images(m);
  if (write_reconstructions(vae_model_config(m), &m->params, test, test->n < 16 ? test->n : 16, 0, recs))
    return cli_vkg_error("train vae: writing reconstructions");
  if (!quiet) fprintf(stderr, "wrote %s\n", recs);
  return 0;
}

// ---- vkgen sample vae ----

int sample_vae(int argc, char **argv) {
  struct cli_common c = {0};
  const char *out = NULL, *weights = NULL, *data_dir = NULL;
  long n = 64, seed = 1, cols = 10;
  int reconstruct = 0, interpolate = 0, prior = 0;
  const struct cli_opt opts[] = {
      {"-n", CLI_INT, &n, 1, 4096, "images, pairs or rows"},
      {"-o", CLI_STR, &out, 0, 0, "output PNG (default samples.png, reconstructions.png or interpolations.png)",
       " FILE"},
      {"--seed", CLI_INT, &seed, 0, 4294967295.0, "noise and the choice of test images (same seed, same PNG)"},
      {"--weights", CLI_STR, &weights, 0, 0, "weights from 'vkgen train vae' (default assets/vae.safetensors)",
       " FILE"},
      {"--reconstruct", CLI_FLAG, &reconstruct, 0, 0, "test images beside their reconstructions"},
      {"--interpolate", CLI_FLAG, &interpolate, 0, 0, "latent walks, one per row"},
      {"--prior", CLI_FLAG, &prior, 0, 0, "with --interpolate: walk between random latent points"},
      {"--cols", CLI_INT, &cols, 2, 64, "with --interpolate: images per walk"},
      {"--data", CLI_STR, &data_dir, 0, 0, "test images: Fashion-MNIST files, or the folder of images trained on",
       " DIR"},
      {0}};
  int r = cli_parse(argc, argv, "sample vae",
                    "usage: vkgen sample vae [-n N] [-o FILE] [--seed S] [--weights FILE] [--reconstruct | "
                    "--interpolate]\n\n"
                    "Decodes z ~ N(0, I) into a PNG grid of N images. --reconstruct shows N test images, each beside\n"
                    "its reconstruction decode(mu). --interpolate draws N rows, each walking in a straight line\n"
                    "through latent space between the encodings of two test images (with --prior: two z ~ N(0, I)).\n",
                    opts, &c, NULL, NULL);
  if (r) return r < 0;
  if (reconstruct && interpolate) return cli_error("sample vae: choose one of --reconstruct and --interpolate");
  if (prior && !interpolate) return cli_error("sample vae: --prior goes with --interpolate");
  if (!out) out = reconstruct ? "reconstructions.png" : interpolate ? "interpolations.png" : "samples.png";
  if (!cli_out_dir_ok(out)) return 1;
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct vae_config cfg;
  struct nn_params p;
  struct vkg_images test = {0};
  int rc = 1;
  if (!load_weights(ctx, weights, "sample vae", &cfg, &p)) goto done;
  if ((reconstruct || (interpolate && !prior)) && !load_test(data_dir, &cfg, "sample vae", &test, NULL)) goto done;
  if (reconstruct && n > test.n) {
    rc = cli_error("sample vae: -n %ld is more than the %d test images", n, test.n);
  } else if (reconstruct) {
    if (write_reconstructions(&cfg, &p, &test, (int)n, (uint32_t)seed, out))
      rc = cli_vkg_error("sample vae");
    else
      fprintf(cli_msgs(out), "wrote %s: %ld test images, each beside its reconstruction\n", out, n), rc = 0;
  } else if (interpolate) {
    rc = do_interpolate(&cfg, &p, &test, (int)n, (int)cols, prior, (uint32_t)seed, out);
  } else {
    if (write_samples(&cfg, &p, (int)n, (uint32_t)seed, out))
      rc = cli_vkg_error("sample vae");
    else
      fprintf(cli_msgs(out), "wrote %s: %ld samples\n", out, n), rc = 0;
  }
done:
  vkg_images_free(&test);
  nn_params_free(&p);
  return cli_ctx_done(ctx, rc);
}

// ---- vkgen eval vae ----

int eval_vae(int argc, char **argv) {
  struct cli_common c = {0};
  const char *weights = NULL, *data_dir = NULL, *clf = NULL;
  long n = 0, samples = 1, seed = 1;
  int no_fid = 0;
  const struct cli_opt opts[] = {
      {"--weights", CLI_STR, &weights, 0, 0, "weights from 'vkgen train vae' (default assets/vae.safetensors)",
       " FILE"},
      {"-n", CLI_INT, &n, 1, 100000000, "test images (default: all of them)"},
      {"--samples", CLI_INT, &samples, 1, 1000, "noise samples per image for the ELBO", " K"},
      {"--seed", CLI_INT, &seed, 0, 4294967295.0, "noise"},
      {"--classifier", CLI_STR, &clf, 0, 0, "FID features (default assets/classifier.safetensors)", " FILE"},
      {"--no-fid", CLI_FLAG, &no_fid, 0, 0, "skip FID"},
      {"--data", CLI_STR, &data_dir, 0, 0, "Fashion-MNIST files, or the folder of images trained on", " DIR"},
      {0}};
  int r =
      cli_parse(argc, argv, "eval vae",
                "usage: vkgen eval vae [--weights FILE] [-n N] [--samples K] [--json]\n\n"
                "Measures a trained VAE on the test set (Fashion-MNIST's, or the held-out tenth of --data):\n"
                "  reconstruction: the Bernoulli NLL of each image under decode(mu) in nats per image, and the\n"
                "                  mean squared error per pixel of sigmoid(decode(mu));\n"
                "  negative ELBO:  reconstruction NLL under decode(z), z ~ q(z|x), plus KL(q(z|x) || N(0, I)),\n"
                "                  in nats per image, averaged over K noise samples per image; with K > 1 also the\n"
                "                  importance-weighted bound on -log p(x) from the same samples;\n"
                "  FID:            N samples against N test images, with the Fashion-MNIST classifier's features,\n"
                "                  and the floor: N training images against the same test images.\n"
                "--json: one JSON object.\n",
                opts, &c, NULL, NULL);
  if (r) return r < 0;
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct vae_config cfg;
  struct nn_params p;
  struct vkg_images test = {0}, train = {0};
  float *gen = NULL;
  int rc = 1;
  struct cli_fid fid;
  cli_fid_setup(&fid, clf, no_fid, 0, "eval vae");
  if (!load_weights(ctx, weights, "eval vae", &cfg, &p)) goto done;
  if (!load_test(data_dir, &cfg, "eval vae", &test, fid.classifier ? &train : NULL)) goto done;
  if (n == 0 || n > test.n) {
    if (n > test.n) fprintf(stderr, "note: -n %ld is more than the %d test images; using all of them\n", n, test.n);
    n = test.n;
  }
  struct vae_eval e;
  double t0 = nn_now();
  if (vae_evaluate(&cfg, &p, &test, (int)n, (int)samples, (uint32_t)seed, &e, 1)) {
    rc = cli_vkg_error("eval vae");
    goto done;
  }
  const double got[6] = {e.rec_bce, e.mse, e.kl, e.rec_z, e.neg_elbo, e.iw_nll};
  for (int i = 0; i < 6; i++)
    if (!isfinite(got[i])) { /* never printed as a number */
      cli_error("eval vae: the weights '%s' give %s metrics", weights ? weights : "vae.safetensors",
                isnan(got[i]) ? "NaN" : "infinite");
      fputs("hint: the weights are damaged or the model diverged\n", stderr);
      goto done;
    }
  double t_eval = nn_now() - t0;
  cli_fid_count(&fid, n, test.n, train.n);
  if (fid.n) {
    gen = malloc(sizeof *gen * (size_t)fid.n * cfg.channels * cfg.size * cfg.size);
    vkg_status s = gen ? vae_sample(&cfg, &p, fid.n, (uint32_t)seed, gen) : VKG_ERR_OOM;
    if (!s) s = cli_fid_run(ctx, &fid, gen, &test, &train);
    if (s) {
      rc = s == VKG_ERR_OOM && !gen ? cli_error("eval vae: out of host memory for %d images", fid.n)
                                    : cli_vkg_error("eval vae: FID");
      goto done;
    }
  }
  if (c.json) {
    printf("{\"model\": \"vae\", \"n\": %d, \"samples\": %d, \"rec_bce_nats\": %.6f, \"mse_per_pixel\": %.8f, "
           "\"kl_nats\": %.6f, \"rec_z_bce_nats\": %.6f, \"neg_elbo_nats\": %.6f, \"iw_nll_nats\": %.6f",
           e.n, e.samples, e.rec_bce, e.mse, e.kl, e.rec_z, e.neg_elbo, e.iw_nll);
    cli_fid_report(&fid, 1, 0);
    printf("}\n");
  } else {
    printf("VAE (z %d, width %d, %dx%d, %d channel%s) on %d test images:\n", cfg.z, cfg.w, cfg.size, cfg.size,
           cfg.channels, cfg.channels == 1 ? "" : "s", e.n);
    printf("  reconstruction BCE, decode(mu)   %10.3f nats/image\n", e.rec_bce);
    printf("  reconstruction MSE, decode(mu)   %10.6f per pixel\n", e.mse);
    printf("  KL(q(z|x) || N(0, I))            %10.3f nats/image\n", e.kl);
    printf("  reconstruction BCE, z ~ q(z|x)   %10.3f nats/image\n", e.rec_z);
    printf("  negative ELBO                    %10.3f nats/image (%d noise sample%s per image)\n", e.neg_elbo,
           e.samples, e.samples == 1 ? "" : "s");
    if (e.samples > 1)
      printf("  -log p(x), importance-weighted   %10.3f nats/image (upper bound, %d samples)\n", e.iw_nll, e.samples);
    cli_fid_report(&fid, 0, 30);
    fprintf(stderr, "(%.1f s for the reconstruction and ELBO)\n", t_eval);
  }
  rc = 0;
done:
  free(gen);
  vkg_images_free(&test);
  vkg_images_free(&train);
  nn_params_free(&p);
  return cli_ctx_done(ctx, rc);
}

// ---- vkgen bench vae ----

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median wall-clock milliseconds of `reps` runs of a sampling graph of batch B, after a warm-up run. */
static vkg_status bench_sampling(const struct vae_config *c, const struct nn_params *p, int B, int reps, double *ms) {
  vkg_graph *g;
  vkg_status s = vkg_graph_create(p->ctx, &g);
  if (s) return s;
  vkg_t ids[VAE_NPARAM];
  nn_bind_all(g, p, -1, ids);
  int slot = vkg_scalar(g, "seed"), zs[2] = {B, c->z};
  vkg_t img = vkg_unary(g, VKG_SIGMOID, vae_decode(g, c, ids, vkg_random_normal(g, 2, zs, slot, 0, 1)), 0, 0);
  vkg_output(g, img);
  size_t P = (size_t)c->channels * c->size * c->size;
  float *buf = malloc(sizeof *buf * (size_t)B * P);
  s = vkg_graph_compile(g);
  double t[16];
  for (int r = -1; !s && r < reps; r++) {
    double t0 = nn_now();
    s = vkg_graph_set_u32(g, slot, (uint32_t)(r + 1));
    if (!s) s = vkg_graph_run(g);
    if (!s) s = vkg_graph_read(g, img, buf, (size_t)B * P); /* the images reach the host, as in sampling */
    if (r >= 0) t[r] = (nn_now() - t0) * 1e3;
  }
  if (!s) {
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    *ms = t[reps / 2];
  }
  free(buf);
  vkg_graph_destroy(g);
  return s;
}

int bench_vae(int argc, char **argv) {
  struct cli_common c = {0};
  struct vae_config cfg;
  long batch = 32, steps = 10;
  int r = cli_bench_parse(cli_family_find("vae"), argc, argv,
                          "usage: vkgen bench vae [options]\n\n"
                          "Times sampling (decode z ~ N(0, I) and read the images back) at batch 1, 64 and 1024 as\n"
                          "images/s (median of 3 runs), and training (forward, backward, Adam; two steps in flight)\n"
                          "as steps/s, for the default architecture or the one given below, with fresh weights (speed\n"
                          "does not depend on them). --json: one JSON object.\n",
                          NULL, &c, &cfg, &batch, &steps);
  if (r) return r < 0;
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct nn_params p;
  int rc = 1;
  nn_params_init(&p, ctx);
  if (vae_params_create(&p, &cfg, 1)) {
    nn_params_free(&p);
    return cli_ctx_done(ctx, cli_vkg_error("bench vae"));
  }
  const struct vkg_device_info *dev = vkg_ctx_device(ctx);
  static const int batches[3] = {1, 64, 1024};
  double ms[3], sps = 0;
  vkg_status s = VKG_OK;
  if (!c.json)
    printf("device: %s\nVAE z %d, width %d, %dx%d, %d channel%s\n%-10s %8s %12s %12s\n", dev->name, cfg.z, cfg.w,
           cfg.size, cfg.size, cfg.channels, cfg.channels == 1 ? "" : "s", "", "batch", "ms", "per second");
  for (int k = 0; k < 3 && !s; k++) {
    s = bench_sampling(&cfg, &p, batches[k], 3, &ms[k]);
    if (!s && !c.json)
      printf("%-10s %8d %12.3f %9.1f img\n", "sampling", batches[k], ms[k], batches[k] / (ms[k] * 1e-3));
    fflush(stdout);
  }
  if (!s) s = family_bench_train(cli_family_find("vae"), ctx, &cfg, (int)batch, (int)steps, &sps);
  if (!s && !c.json)
    printf("%-10s %8ld %12.3f %9.2f steps (%.1f img)\n", "training", batch, 1e3 / sps, sps, sps * batch);
  if (!s && c.json) {
    char config[256];
    nn_cfg_json(&vae_cfg, &cfg, config, sizeof config);
    printf("{\"device\": \"%s\", \"model\": \"vae\", \"config\": %s, \"sampling\": [", dev->name, config);
    for (int k = 0; k < 3; k++)
      printf("%s{\"batch\": %d, \"ms\": %.4f, \"images_per_s\": %.3f}", k ? ", " : "", batches[k], ms[k],
             batches[k] / (ms[k] * 1e-3));
    printf("], \"training\": {\"batch\": %ld, \"steps\": %ld, \"steps_per_s\": %.4f, \"images_per_s\": %.3f}}\n", batch,
           steps, sps, sps * batch);
  }
  rc = s ? cli_vkg_error("bench vae") : 0;
  nn_params_free(&p);
  return cli_ctx_done(ctx, rc);
}
