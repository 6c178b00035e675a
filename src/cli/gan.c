/* vkgen train|sample|eval|bench gan: the DCGAN family (src/models/gan.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "internal.h"
#include "nn/progress.h"
#include "models/gan.h"
#include "models/models.h"
#include "nn/data.h"
#include "nn/fid.h"

#define MAX_SAMPLES 100000

// ---- options shared by the subcommands ----

/* Labels for n samples: `cls` for all, or (cls < 0) cycling through the classes. NULL if unconditional. */
static int32_t *make_labels(const struct gan_arch *a, int n, int cls, int per_row) {
  if (!a->classes) return NULL;
  int32_t *y = malloc(sizeof *y * (size_t)n);
  for (int i = 0; y && i < n; i++)
    y[i] = cls >= 0 ? cls : (per_row > 0 ? i / per_row : i) % a->classes;
  return y;
}

/* Generates n images in chunks, with progress from the first chunk: FID needs thousands. */
static vkg_status cli_generate_with_progress(struct nn_model *m, const float *z, const int32_t *y, long n, int zdim,
                                             size_t img, float *images) {
  enum { CHUNK = 1024 }; /* a multiple of the sampler's batch */
  struct nn_progress pg;
  nn_progress_start(&pg, "generate", 0, n, "images", 0);
  vkg_status s = VKG_OK;
  for (long i = 0; i < n && !s; i += CHUNK) {
    int k = n - i < CHUNK ? (int)(n - i) : CHUNK;
    s = gan_generate(m, z + (size_t)i * zdim, y ? y + i : NULL, k, images + (size_t)i * img);
    nn_progress_update(&pg, i + k, NULL);
  }
  if (!s) nn_progress_end(&pg, NULL);
  nn_progress_break(&pg);
  return s;
}

// ---- vkgen sample gan ----

int sample_gan(int argc, char **argv) {
  struct cli_common c = {0};
  const char *out = "samples.png", *weights = NULL;
  long n = 64, seed = 1, cols = 0, cls = -1;
  int interpolate = 0;
  const struct cli_opt opts[] = {
      {"-n", CLI_INT, &n, 1, MAX_SAMPLES, "samples, or rows with --interpolate"},
      {"-o", CLI_STR, &out, 0, 0, "output PNG", " FILE"},
      {"--seed", CLI_INT, &seed, 0, 4294967295.0, "latent noise seed"},
      {"--weights", CLI_STR, &weights, 0, 0,
       "gan.safetensors from 'vkgen train gan', or a shipped model by name: emoji-gan (64x64 RGB emoji;\n"
       "                    default: the assets' gan.safetensors)",
       " FILE"},
      {"--cols", CLI_INT, &cols, 1, 1000,
       "grid columns (default: square; the classes for a conditional model); with --interpolate,\n"
       "                    images per row (default 8)"},
      {"--class", CLI_INT, &cls, 0, 999, "conditional models: only class K (0-9; default: every class in turn)", " K"},
      {"--interpolate", CLI_FLAG, &interpolate, 0, 0,
       "each row walks between two random latents by spherical interpolation (slerp)"},
      {0}};
  int r = cli_parse(argc, argv, "sample gan",
                    "usage: vkgen sample gan [-n N] [-o FILE] [--seed S] [--weights FILE] [--cols N] [--class K]\n"
                    "                        [--interpolate]\n\n"
                    "Draws N images from the generator (batchnorm in inference mode, batches of up to 256) into one\n"
                    "PNG grid. The same seed gives the same file; sample i depends only on the seed and i.\n",
                    opts, &c, NULL, NULL);
  if (r) return r < 0;
  long steps = cols ? cols : 8; /* images per interpolation row */
  if (interpolate && steps < 2) return cli_error("--cols: an interpolation row needs at least 2 images");
  if (interpolate && n * steps > MAX_SAMPLES)
    return cli_error("--interpolate: %ld rows of %ld images is more than %d images", n, steps, MAX_SAMPLES);
  if (!cli_out_dir_ok(out)) return 1;
  char buf[4096];
  if (!(weights = cli_weights("gan", weights, buf, sizeof buf))) return 1;
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct nn_model *m;
  if (gan_load(ctx, weights, &m)) return cli_ctx_done(ctx, cli_vkg_error("sample gan"));
  const struct gan_arch *a = gan_arch_of(m);
  int rc = 0;
  if (cls >= 0 && !a->classes) {
    rc = cli_error("--class: the GAN in '%s' is not conditional", weights);
    fputs("hint: train one with 'vkgen train gan --conditional', or drop --class\n", stderr);
  } else if (cls >= a->classes && a->classes) {
    rc = cli_error("--class %ld: the GAN in '%s' has classes 0 to %d", cls, weights, a->classes - 1);
  }
  int total = interpolate ? (int)(n * steps) : (int)n, Z = a->z;
  size_t img = (size_t)a->channels * a->size * a->size;
  float *z = malloc(sizeof *z * (size_t)total * Z), *images = malloc(sizeof *images * (size_t)total * img);
  int32_t *y = make_labels(a, total, (int)cls, interpolate ? (int)steps : 0);
  vkg_status s = VKG_OK;
  if (!rc && interpolate) {
    /* Row r walks from latent 2r to latent 2r+1. */
    float *ends = malloc(sizeof *ends * 2 * (size_t)n * Z);
    s = nn_prior(m->params.ctx, 2 * (int)n, gan_arch_of(m)->z, (uint32_t)seed, ends);
    for (long r = 0; !s && r < n; r++)
      for (long k = 0; k < steps; k++)
        gan_slerp(ends + 2 * r * Z, ends + (2 * r + 1) * Z, Z, (float)k / (float)(steps - 1), z + (r * steps + k) * Z);
    free(ends);
  } else if (!rc) {
    s = nn_prior(m->params.ctx, total, gan_arch_of(m)->z, (uint32_t)seed, z);
  }
  if (!rc && !s) s = cli_generate_with_progress(m, z, y, total, a->z, (size_t)a->channels * a->size * a->size, images);
  if (!cols) cols = interpolate ? steps : a->classes && cls < 0 ? a->classes : (long)ceil(sqrt((double)total));
  if (!rc && !s) s = vkg_png_grid(out, images, total, a->channels, a->size, a->size, (int)cols);
  if (!rc && s) rc = cli_vkg_error("sample gan");
  if (!rc)
    fprintf(cli_msgs(out), "wrote %s: %d samples (%s%dx%d), seed %ld\n", out, total, interpolate ? "slerp rows, " : "",
            a->size, a->size, seed);
  free(z), free(images), free(y);
  gan_destroy(m);
  return cli_ctx_done(ctx, rc);
}

// ---- vkgen eval gan ----

/* The fraction of rows of logits (n, 10) whose largest value is at labels[i]. */
static double accuracy(const float *logits, const int32_t *labels, const uint8_t *labels8, int n) {
  long hits = 0;
  for (int i = 0; i < n; i++) {
    int best = 0;
    for (int k = 1; k < 10; k++)
      if (logits[i * 10 + k] > logits[i * 10 + best]) best = k;
    hits += best == (labels ? labels[i] : labels8[i]);
  }
  return (double)hits / n;
}

int eval_gan(int argc, char **argv) {
  struct cli_common c = {0};
  const char *weights = NULL, *clf = NULL, *data = NULL;
  long n = 10000, seed = 1;
  const struct cli_opt opts[] = {
      {"-n", CLI_INT, &n, 2, 60000, "generated images (the test set has 10000)"},
      {"--weights", CLI_STR, &weights, 0, 0, "the GAN (default: the assets' gan.safetensors)", " FILE"},
      {"--classifier", CLI_STR, &clf, 0, 0, "classifier weights (default: the assets' classifier.safetensors)",
       " FILE"},
      {"--seed", CLI_INT, &seed, 0, 4294967295.0, "latent noise seed"},
      {"--data", CLI_STR, &data, 0, 0,
       "reference images: Fashion-MNIST (default: the Debian package's) or the folder trained on", " DIR"},
      {0}};
  int r = cli_parse(argc, argv, "eval gan",
                    "usage: vkgen eval gan [--weights FILE] [-n N] [--classifier FILE] [--seed S] [--json]\n\n"
                    "FID between N generated images and the Fashion-MNIST test set, on the features of the\n"
                    "Fashion-MNIST classifier's hidden layer, and the same FID of N training images (the floor a\n"
                    "perfect generator would reach). Also the classifier's test accuracy and, for a conditional\n"
                    "model, how often the classifier recognizes the class each sample was drawn for. --json: one\n"
                    "JSON object.\n",
                    opts, &c, NULL, NULL);
  if (r) return r < 0;
  char wbuf[4096], cbuf[4096];
  if (!(weights = cli_weights("gan", weights, wbuf, sizeof wbuf))) return 1;
  if (!clf && !(clf = cli_asset("classifier.safetensors", cbuf, sizeof cbuf) ? cbuf : NULL)) {
    cli_error("no classifier weights for FID (classifier.safetensors is not in the assets)");
    fputs(
        "hint: train one with 'vkgen train classifier' and pass --classifier runs/classifier/classifier.safetensors\n",
        stderr);
    return 1;
  }
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct nn_model *m = NULL, *cm = NULL;
  struct vkg_images test = {0}, train = {0};
  float *z = NULL, *images = NULL, *logits = NULL;
  int32_t *y = NULL;
  double acc = -1, cond_acc = -1, fid = 0, floor = 0;
  vkg_status s = gan_load(ctx, weights, &m);
  /* Check the classifier before generating anything. */
  if (!s) s = classifier_load(ctx, clf, &cm);
  if (cm) classifier_destroy(cm);
  if (!s) s = nn_image_data_load(data, gan_arch_of(m)->size, gan_arch_of(m)->channels, 0, 0, &train, &test);
  const struct gan_arch *a = s ? NULL : gan_arch_of(m);
  int nref = n < test.n ? (int)n : test.n, ntr = n < train.n ? (int)n : train.n;
  if (!s) {
    size_t img = (size_t)a->channels * a->size * a->size;
    z = malloc(sizeof *z * (size_t)n * a->z);
    images = malloc(sizeof *images * (size_t)n * img);
    logits = malloc(sizeof *logits * 2 * (size_t)n * 10);
    y = make_labels(a, (int)n, -1, 0);
    s = z && images && logits ? nn_prior(m->params.ctx, (int)n, a->z, (uint32_t)seed, z)
                              : vkg__fail(VKG_ERR_OOM, "out of host memory for %ld images", n);
    s = s ? s : cli_generate_with_progress(m, z, y, n, a->z, img, images);
  }
  /* FID of the generated images against the test set's first nref, and the floor: the training set's
   * first n against the same test images; also the classifier's accuracy on both. */
  if (!s) {
    struct fid_images gen = {images, (int)n, a->channels, a->size, a->size, logits},
                      ref = {test.pixels, nref, test.c, test.h, test.w, logits + (size_t)n * 10},
                      tr = {train.pixels, ntr, train.c, train.h, train.w, NULL};
    s = fid_eval(ctx, clf, &gen, &ref, &tr, &fid, &floor);
  }
  if (!s && a->classes) cond_acc = accuracy(logits, y, NULL, (int)n);
  if (!s && test.labels) acc = accuracy(logits + (size_t)n * 10, NULL, test.labels, nref);
  int rc = s ? cli_vkg_error("eval gan") : 0;
  if (!rc) {
    if (c.json) {
      printf("{\"fid\": %.4f, \"fid_floor\": %.4f, \"n\": %ld, \"n_test\": %d", fid, floor, n, nref);
      if (acc >= 0) printf(", \"classifier_accuracy\": %.4f", acc);
      if (cond_acc >= 0) printf(", \"class_accuracy\": %.4f", cond_acc);
      printf("}\n");
    } else {
      printf("FID (%ld samples vs %d test images): %.3f\n", n, nref, fid);
      printf("FID floor (%d training images vs the same test images): %.3f\n", ntr, floor);
      if (acc >= 0) printf("classifier accuracy on those test images: %.2f%%\n", 100 * acc);
      if (cond_acc >= 0) printf("samples classified as the class they were drawn for: %.2f%%\n", 100 * cond_acc);
    }
  }
  free(z), free(images), free(y), free(logits);
  vkg_images_free(&test);
  vkg_images_free(&train);
  gan_destroy(m);
  return cli_ctx_done(ctx, rc);
}

// ---- vkgen bench gan ----

int bench_gan(int argc, char **argv) {
  struct cli_common c = {0};
  const char *weights = NULL;
  struct gan_arch arch = gan_arch_default();
  long batch = 64, steps = 5;
  const struct cli_opt opts[] = {
      {"--weights", CLI_STR, &weights, 0, 0,
       "time this model (default: the assets' gan.safetensors, else an untrained model of the\n"
       "                    architecture options below)",
       " FILE"},
      {"--batch", CLI_INT, &batch, 2, 4096, "training batch"},
      {"--steps", CLI_INT, &steps, 1, 100000, "timed training steps, after one warm-up step"},
      {0}};
  int r = cli_parse(argc, argv, "bench gan",
                    "usage: vkgen bench gan [--weights FILE] [--batch N] [--steps N] [--json] [architecture]\n\n"
                    "Sampling images/s at batches 1, 64 and 1024 (GPU time of the generator's graph, and wall time\n"
                    "with the host transfers), and training steps/s (both phases) at --batch on random images.\n",
                    opts, &c, &gan_cfg, &arch);
  if (r) return r < 0;
  int arch_given = cli_arch_given(&gan_cfg, argc, argv);
  char buf[4096];
  if (!weights && !arch_given && cli_asset("gan.safetensors", buf, sizeof buf)) weights = buf;
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct nn_model *m = NULL;
  vkg_status s;
  if (weights) {
    s = gan_load(ctx, weights, &m);
  } else {
    struct nn_create_opts o = {.batch = 2, .seed = 1, .synthetic = 2};
    s = gan_create(ctx, &arch, &o, &m);
  }
  if (s) return cli_ctx_done(ctx, cli_vkg_error("bench gan"));
  const struct gan_arch *a = gan_arch_of(m);
  const struct vkg_device_info *dev = vkg_ctx_device(ctx);
  char cfg[256];
  nn_cfg_json(&gan_cfg, a, cfg, sizeof cfg);
  if (c.json)
    printf("{\"device\": \"%s\", \"config\": %s, \"sampling\": [", dev->name, cfg);
  else
    printf("device: %s (%s timing)\nmodel: %s %s\n%-10s %12s %14s %16s\n", dev->name,
           dev->timestamps ? "GPU timestamp" : "wall-clock", weights ? weights : "untrained", cfg, "batch", "ms/batch",
           "images/s", "images/s (wall)");
  static const int batches[3] = {1, 64, 1024};
  size_t img = (size_t)a->channels * a->size * a->size;
  for (int k = 0; k < 3 && !s; k++) {
    int B = batches[k], reps = B >= 1024 ? 2 : 5;
    struct gan_sampler *sp;
    float *z = malloc(sizeof *z * (size_t)B * a->z), *images = malloc(sizeof *images * (size_t)B * img);
    int32_t *y = make_labels(a, B, -1, 0);
    s = gan_sampler_create(m, B, &sp);
    if (!s) s = nn_prior(m->params.ctx, B, gan_arch_of(m)->z, 1, z);
    if (!s) s = gan_sampler_run(sp, z, y, B, images, NULL); /* warm-up */
    double best = INFINITY, t0 = nn_now();
    for (int r = 0; r < reps && !s; r++) {
      double ms;
      s = gan_sampler_run(sp, z, y, B, images, &ms);
      if (ms < best) best = ms;
    }
    double wall = (nn_now() - t0) / reps;
    if (!s && c.json)
      printf("%s\n  {\"batch\": %d, \"ms\": %.3f, \"images_per_s\": %.1f, \"wall_images_per_s\": %.1f}", k ? "," : "",
             B, best, B / (best * 1e-3), B / wall);
    else if (!s)
      printf("%-10d %12.3f %14.1f %16.1f\n", B, best, B / (best * 1e-3), B / wall);
    fflush(stdout);
    gan_sampler_destroy(sp);
    free(z), free(images), free(y);
  }
  double sps = 0;
  if (!s) s = family_bench_train(cli_family_find("gan"), ctx, a, (int)batch, (int)steps, &sps);
  if (!s) {
    if (c.json)
      printf("\n], \"training\": {\"batch\": %ld, \"steps_per_s\": %.3f, \"images_per_s\": %.1f}}\n", batch, sps,
             sps * batch);
    else
      printf("training: %.3f steps/s at batch %ld (%.1f images/s; both phases)\n", sps, batch, sps * batch);
  }
  int rc = s ? cli_vkg_error("bench gan") : 0;
  gan_destroy(m);
  return cli_ctx_done(ctx, rc);
}
