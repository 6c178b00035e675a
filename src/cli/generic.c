/* The generic commands of a family: 'vkgen train|sample|eval|bench FAMILY' built on the family's
 * model hooks (struct nn_family_ops), its config table and the shared pieces (the training loop, the
 * weights files, batched sampling with progress, PNG grids, FID). A family that registers hooks and no
 * commands of its own gets all four. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "internal.h"
#include "nn/data.h"
#include "nn/fid.h"
#include "nn/progress.h"
#include "nn/step.h"
#include "nn/weights.h"

#define MAX_SAMPLES 100000
#define CHUNK 256 /* images per sampling call */

/* Loads a weights file of f: config from the file, the model made by create with each parameter checked
 * against the file as it is declared, then the values. data_dir gives the model its test data. */
static vkg_status load_model(vkg_ctx *ctx, const struct cli_family *f, const char *path, const char *data_dir,
                             void *cfg, struct nn_model **m) {
  *m = NULL;
  vkg_st *st;
  vkg_status s = nn_weights_open(path, f->name, f->cfg, cfg, &st);
  if (s) return s;
  struct nn_create_opts o = {.batch = f->batch, .data_dir = data_dir, .seed = 1, .expect = st, .expect_path = path};
  s = f->ops->create(ctx, cfg, &o, m);
  if (!s) s = nn_weights_load(&(*m)->params, st, path);
  vkg_st_close(st);
  if (s && *m) {
    f->ops->destroy(*m);
    *m = NULL;
  }
  return s;
}

/* n images of m from seed into images (n, c, h, w), in chunks, with progress when there are many. */
static vkg_status sample_images(const struct cli_family *f, struct nn_model *m, long n, uint32_t seed, float *images,
                                int quiet) {
  int c, h, w;
  f->ops->image_shape(m, &c, &h, &w);
  size_t P = (size_t)c * h * w;
  struct nn_progress pg;
  nn_progress_start(&pg, "sample", 0, n, "images", quiet || n <= CHUNK);
  vkg_status s = VKG_OK;
  /* Chunk k draws from its own seed, so image i depends only on (seed, i) whatever the chunking. */
  for (long i = 0; i < n && !s; i += CHUNK) {
    int k = n - i < CHUNK ? (int)(n - i) : CHUNK;
    s = f->ops->sample_images(m, k, (uint32_t)nn_mix(seed, (uint64_t)(i / CHUNK)), images + (size_t)i * P);
    nn_progress_update(&pg, i + k, NULL);
  }
  if (!s) nn_progress_end(&pg, NULL);
  nn_progress_break(&pg);
  return s;
}

/* Writes n samples of m as a PNG grid (cols 0: square). */
static vkg_status write_grid(const struct cli_family *f, struct nn_model *m, long n, uint32_t seed, int cols,
                             const char *out, int quiet) {
  int c, h, w;
  f->ops->image_shape(m, &c, &h, &w);
  float *images = malloc(sizeof *images * (size_t)n * c * h * w);
  if (!images) return vkg__fail(VKG_ERR_OOM, "out of host memory for %ld images", n);
  vkg_status s = sample_images(f, m, n, seed, images, quiet);
  if (!s) s = vkg_png_grid(out, images, (int)n, c, h, w, cols ? cols : (int)ceil(sqrt((double)n)));
  free(images);
  return s;
}

// ---- shared by the image families' eval and sample ----

int cli_data_fits(const char *dir, int size, int channels, const char *cmd) {
  if (!nn_data_is_fashion(dir) || (size == 28 && channels == 1)) return 1;
  cli_error("%s: these weights are for %dx%d images with %d channel%s, not Fashion-MNIST", cmd, size, size, channels,
            channels == 1 ? "" : "s");
  fputs("hint: pass --data DIR with the folder of images the model was trained on\n", stderr);
  return 0;
}

int cli_fid_setup(struct cli_fid *f, const char *clf, int no_fid, int required, const char *cmd) {
  memset(f, 0, sizeof *f);
  f->fid = f->floor = NAN;
  f->pr.precision = f->pr.recall = f->pr.floor_precision = f->pr.floor_recall = NAN;
  if (no_fid) {
    f->skipped = "";
  } else if (clf) {
    f->classifier = clf;
  } else if (cli_asset("classifier.safetensors", f->path, sizeof f->path)) {
    f->classifier = f->path;
  } else if (required) {
    cli_error("%s: FID needs the classifier's weights (classifier.safetensors is not in the assets)", cmd);
    fputs("hint: train them with 'vkgen train classifier' and pass --classifier FILE\n", stderr);
    return 0;
  } else {
    f->skipped = " (no classifier weights: train them with 'vkgen train classifier' or pass --classifier)";
  }
  return 1;
}

void cli_fid_count(struct cli_fid *f, long want, int n_test, int n_train) {
  long k = want < n_test ? want : n_test;
  k = k < n_train ? k : n_train;
  f->n = f->classifier && k >= 2 ? (int)k : 0;
  if (f->classifier && k < 2) {
    fprintf(stderr, "note: FID needs at least 2 images in each set; skipped\n");
    f->classifier = NULL, f->skipped = " (fewer than 2 images)";
  }
}

vkg_status cli_fid_run(vkg_ctx *ctx, struct cli_fid *f, const float *gen, const struct vkg_images *test,
                       const struct vkg_images *train) {
  if (!f->n) return VKG_OK;
  struct fid_images gs = {gen, f->n, test->c, test->h, test->w, NULL},
                    ts = {test->pixels, f->n, test->c, test->h, test->w, NULL},
                    rs = {train->pixels, f->n, train->c, train->h, train->w, NULL};
  return fid_eval_pr(ctx, f->classifier, &gs, &ts, &rs, &f->fid, &f->floor, &f->pr);
}

/* A JSON number, or null for NaN (too few images for precision and recall). */
static void json_num(const char *key, double v) {
  if (isfinite(v))
    printf(", \"%s\": %.4f", key, v);
  else
    printf(", \"%s\": null", key);
}

void cli_fid_report(const struct cli_fid *f, int json, int width) {
  if (json && f->n) {
    printf(", \"fid\": %.4f, \"fid_floor\": %.4f, \"fid_n\": %d", f->fid, f->floor, f->n);
    json_num("precision", f->pr.precision), json_num("recall", f->pr.recall);
    json_num("precision_floor", f->pr.floor_precision), json_num("recall_floor", f->pr.floor_recall);
  } else if (json) {
    printf(", \"fid\": null, \"fid_floor\": null, \"fid_n\": 0, \"precision\": null, \"recall\": null, "
           "\"precision_floor\": null, \"recall_floor\": null");
  } else if (f->n) {
    printf("  %-*s %12.3f (%d samples vs %d test images)\n", width, "FID", f->fid, f->n, f->n);
    printf("  %-*s %12.3f (%d training vs the same test images)\n", width, "FID floor", f->floor, f->n);
    if (isfinite(f->pr.precision))
      printf("  %-*s %5.3f / %5.3f (k = %d nearest neighbours; training images: %.3f / %.3f)\n", width,
             "precision / recall", f->pr.precision, f->pr.recall, FID_PR_K, f->pr.floor_precision, f->pr.floor_recall);
  } else {
    printf("  %-*s %12s%s\n", width, "FID", "skipped", f->skipped ? f->skipped : "");
  }
}

// ---- train ----

/* The int field `key` of a config struct (the family's table has it). */
static int *cfg_int(const struct nn_cfg *c, void *cfg, const char *key) {
  for (int i = 0; i < c->n; i++)
    if (!strcmp(c->fields[i].key, key) && c->fields[i].type == NN_CFG_INT)
      return (int *)((char *)cfg + c->fields[i].offset);
  return NULL;
}

/* An image family whose size and channels are options: they then default to the data's. */
static int image_sized(const struct cli_family *f) {
  if (strcmp(f->modality, "image")) return 0;
  int n = 0;
  for (int i = 0; i < f->cfg->n; i++)
    n += f->cfg->fields[i].type == NN_CFG_INT && !(f->cfg->fields[i].flags & NN_CFG_NOCLI) &&
         (!strcmp(f->cfg->fields[i].key, "size") || !strcmp(f->cfg->fields[i].key, "channels"));
  return n == 2;
}

/* Whether the option was given (as --opt value or --opt=value). */
static int given(int argc, char **argv, const char *opt) {
  size_t n = strlen(opt);
  for (int i = 1; i < argc; i++)
    if (!strncmp(argv[i], opt, n) && (argv[i][n] == 0 || argv[i][n] == '=')) return 1;
  return 0;
}

int family_train(const struct cli_family *f, int argc, char **argv) {
  const struct nn_family_ops *ops = f->ops;
  const struct nn_cfg *tc = ops->train_cfg;
  struct cli_train t;
  cli_train_defaults(&t, f->name);
  void *cfg = calloc(1, f->cfg->size), *train = tc ? calloc(1, tc->size) : NULL;
  if (!cfg || (tc && !train)) {
    free(cfg);
    return cli_error("out of host memory");
  }
  nn_cfg_defaults(f->cfg, cfg);
  if (tc) nn_cfg_defaults(tc, train);
  int rc = 0, help = 0;
  for (int i = 1; i < argc && !rc && !help;) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: vkgen train %s [options]\n\n", f->name);
      if (ops->about)
        printf("%s\n", ops->about);
      else
        printf("Trains the %s.\n", f->summary);
      printf("Writes into --out: checkpoint.safetensors (resumable), metrics.jsonl, loss.png,\n%s.safetensors%s.\n",
             f->name, ops->sample_images ? " and samples.png (64 samples)" : "");
      if (image_sized(f)) puts("Image folders default to --size 32 --channels 3.");
      if (f->cfg->n) puts("\narchitecture:");
      nn_cfg_help(f->cfg, stdout);
      puts("\ntraining:");
      if (tc) nn_cfg_help(tc, stdout);
      cli_train_help(stdout, &t);
      help = 1;
      break;
    }
    int used = cli_arch_opt(f->cfg, cfg, argc, argv, i);
    if (!used && tc) used = cli_arch_opt(tc, train, argc, argv, i);
    if (!used) used = cli_train_opt(&t, argc, argv, i);
    if (used < 0) rc = 1;
    if (used == 0)
      rc = cli_error("train %s: unknown option '%s' (see 'vkgen train %s --help')", f->name, argv[i], f->name);
    i += used;
  }
  if (!rc && !help) nn_cfg_derive(f->cfg, cfg, argc, argv);
  /* --init DIR: another format's weights (gpt: Hugging Face GPT-2), which give the architecture. */
  struct stat sb;
  int from = !rc && !help && t.init && ops->create_from && !stat(t.init, &sb) && S_ISDIR(sb.st_mode);
  if (from && t.o.resume)
    rc = cli_error("--init and --resume exclude each other (a resumed run has its own weights)");
  else if (from && cli_arch_given(f->cfg, argc, argv))
    rc =
        cli_error("--init: the architecture comes from the directory '%s'; leave out the architecture options", t.init);
  /* Image folders default to 32x32 RGB, Fashion-MNIST is 28x28 grey (with --init: the file's). */
  if (!rc && !help && image_sized(f) && !t.init) {
    int fashion = nn_data_is_fashion(t.data_dir);
    if (!given(argc, argv, "--size")) *cfg_int(f->cfg, cfg, "size") = fashion ? 28 : 32;
    if (!given(argc, argv, "--channels")) *cfg_int(f->cfg, cfg, "channels") = fashion ? 1 : 3;
  }
  if (!rc && !help && !from && !cli_train_init_config(&t, cfg)) rc = 1;
  if (!rc && !help && (nn_cfg_check(f->cfg, cfg) || (tc && nn_cfg_check(tc, train)))) rc = cli_vkg_error("train");
  vkg_ctx *ctx = rc || help ? NULL : cli_ctx(&t.c);
  if (!rc && !help && !ctx) rc = 1;
  struct nn_model *m = NULL;
  struct nn_create_opts o = cli_train_create_opts(&t);
  o.train = train;
  if (ctx && !rc && (from ? ops->create_from(ctx, t.init, &o, &m) : ops->create(ctx, cfg, &o, &m)))
    rc = cli_vkg_error("train");
  if (from) t.o.init = NULL; /* the weights are in the model already */
  if (m && !rc && ops->describe && !t.o.quiet) {
    char line[256];
    ops->describe(m, line, sizeof line);
    fprintf(stderr, "%s: %s\n", f->name, line);
  }
  if (m && !rc) rc = cli_train_run(&t, m);
  if (m && !rc && ops->sample_images && cli_train_writes()) { /* a look at the result */
    char path[4096];
    snprintf(path, sizeof path, "%s/samples.png", t.o.out_dir);
    int cols = ops->grid_cols ? ops->grid_cols(m) : 0;
    if (write_grid(f, m, 64, 1, cols ? cols : 8, path, 1))
      rc = cli_vkg_error("train: writing samples");
    else if (!t.o.quiet)
      fprintf(stderr, "wrote %s\n", path);
  }
  if (m && !rc && f->pictures && cli_train_writes()) rc = f->pictures(m, t.o.out_dir, t.o.quiet);
  if (m) ops->destroy(m);
  free(cfg), free(train);
  return ctx ? cli_ctx_done(ctx, rc) : rc;
}

// ---- sample ----

int family_sample(const struct cli_family *f, int argc, char **argv) {
  struct cli_common c = {0};
  const char *out = "samples.png", *weights = NULL;
  long n = 64, seed = 1, cols = 0;
  char cmd[64], usage[256];
  snprintf(cmd, sizeof cmd, "sample %s", f->name);
  snprintf(usage, sizeof usage,
           "usage: vkgen sample %s [-n N] [-o FILE] [--seed S] [--cols N] [--weights FILE]\n\n"
           "Draws N images from the %s into one PNG grid.\n",
           f->name, f->name);
  const struct cli_opt opts[] = {
      {"-n", CLI_INT, &n, 1, MAX_SAMPLES, "samples"},
      {"-o", CLI_STR, &out, 0, 0, "output PNG ('-': standard output)", " FILE"},
      {"--seed", CLI_INT, &seed, 0, 4294967295.0, "noise seed"},
      {"--cols", CLI_INT, &cols, 1, 1000, "grid columns (default: square)"},
      {"--weights", CLI_STR, &weights, 0, 0, "weights (default: the shipped model)", " FILE"},
      {0}};
  int r = cli_parse(argc, argv, cmd, usage, opts, &c, NULL, NULL);
  if (r) return r < 0;
  if (!cli_out_dir_ok(out)) return 1;
  char buf[4096];
  if (!(weights = cli_weights(f->name, weights, buf, sizeof buf))) return 1;
  void *cfg = calloc(1, f->cfg->size);
  vkg_ctx *ctx = cfg ? cli_ctx(&c) : NULL;
  if (!ctx) {
    free(cfg);
    return 1;
  }
  struct nn_model *m;
  int rc = 0;
  vkg_status s = load_model(ctx, f, weights, NULL, cfg, &m);
  if (!s && !cols && f->ops->grid_cols) cols = f->ops->grid_cols(m);
  if (s || write_grid(f, m, n, (uint32_t)seed, (int)cols, out, 0))
    rc = cli_vkg_error(cmd);
  else
    fprintf(cli_msgs(out), "wrote %s: %ld samples, seed %ld\n", out, n, seed);
  if (m) f->ops->destroy(m);
  free(cfg);
  return cli_ctx_done(ctx, rc);
}

// ---- eval ----

/* FID of up to n samples of m against as many test images, and the train-vs-test floor. */
static vkg_status eval_fid(vkg_ctx *ctx, const struct cli_family *f, struct nn_model *m, struct cli_fid *fid,
                           const char *data_dir, long n, uint32_t seed) {
  int c, h, w;
  f->ops->image_shape(m, &c, &h, &w);
  struct vkg_images train, test;
  vkg_status s = nn_image_data_load(data_dir, h, c, 0, 0, &train, &test);
  if (s) return s;
  cli_fid_count(fid, n, test.n, train.n);
  float *gen = fid->n ? malloc(sizeof *gen * (size_t)fid->n * c * h * w) : NULL;
  if (fid->n && !gen) s = vkg__fail(VKG_ERR_OOM, "out of host memory for %d images", fid->n);
  if (!s && fid->n) s = sample_images(f, m, fid->n, seed, gen, 0);
  if (!s) s = cli_fid_run(ctx, fid, gen, &test, &train);
  free(gen);
  vkg_images_free(&train);
  vkg_images_free(&test);
  return s;
}

int family_eval(const struct cli_family *f, int argc, char **argv) {
  struct cli_common c = {0};
  const char *weights = NULL, *data = NULL, *clf = NULL;
  long n = 1000, seed = 1;
  int no_fid = 0;
  char cmd[64], usage[320];
  snprintf(cmd, sizeof cmd, "eval %s", f->name);
  snprintf(usage, sizeof usage,
           "usage: vkgen eval %s [--weights FILE] [--data DIR] [-n N] [--json]\n\n"
           "Measures the %s on its test data (the family's metrics)%s. --json: one JSON object.\n",
           f->name, f->name,
           f->ops->sample_images ? ", and the FID of N samples against N test images with\n"
                                   "the train-vs-test floor"
                                 : "");
  const struct cli_opt opts[] = {
      {"--weights", CLI_STR, &weights, 0, 0, "weights (default: the shipped model)", " FILE"},
      {"--data", CLI_STR, &data, 0, 0, "the test data (default: the family's)", " DIR"},
      {"-n", CLI_INT, &n, 2, 100000, "images for FID"},
      {"--seed", CLI_INT, &seed, 0, 4294967295.0, "sampling noise for FID"},
      {"--classifier", CLI_STR, &clf, 0, 0, "FID features (default: the assets' classifier.safetensors)", " FILE"},
      {"--no-fid", CLI_FLAG, &no_fid, 0, 0, "skip FID"},
      {0}};
  int r = cli_parse(argc, argv, cmd, usage, opts, &c, NULL, NULL);
  if (r) return r < 0;
  char buf[4096];
  if (!(weights = cli_weights(f->name, weights, buf, sizeof buf))) return 1;
  int want_fid = f->ops->sample_images != NULL;
  struct cli_fid fid;
  if (!cli_fid_setup(&fid, clf, no_fid || !want_fid, 1, cmd)) return 1;
  void *cfg = calloc(1, f->cfg->size);
  vkg_ctx *ctx = cfg ? cli_ctx(&c) : NULL;
  if (!ctx) {
    free(cfg);
    return 1;
  }
  struct nn_model *m = NULL;
  const char *names[4];
  double values[4];
  int nm = 0;
  vkg_status s = load_model(ctx, f, weights, data, cfg, &m);
  if (!s && m->evaluate) s = m->evaluate(m, &nm, names, values);
  for (int i = 0; !s && i < nm; i++)
    if (!isfinite(values[i])) {
      s = vkg__fail(VKG_ERR_NUMERIC, "the %s of '%s' is %s", names[i], weights, isnan(values[i]) ? "NaN" : "infinite");
      vkg__hint("the weights are damaged or the model diverged");
    }
  if (!s && fid.classifier) s = eval_fid(ctx, f, m, &fid, data, n, (uint32_t)seed);
  int rc = s ? cli_vkg_error(cmd) : 0;
  if (!rc && c.json) {
    printf("{\"model\": \"%s\"", f->name);
    for (int i = 0; i < nm; i++)
      printf(", \"%s\": %.7g", names[i], values[i]);
    if (want_fid) cli_fid_report(&fid, 1, 0);
    printf("}\n");
  } else if (!rc) {
    printf("%s (%s) on its test data:\n", f->name, weights);
    for (int i = 0; i < nm; i++)
      printf("  %-24s %12.5f\n", names[i], values[i]);
    if (want_fid) cli_fid_report(&fid, 0, 24);
  }
  if (m) f->ops->destroy(m);
  free(cfg);
  return cli_ctx_done(ctx, rc);
}

// ---- bench ----

int cli_bench_parse(const struct cli_family *f, int argc, char **argv, const char *usage, const struct cli_opt *extra,
                    struct cli_common *c, void *cfg, long *batch, long *steps) {
  const char *weights = NULL;
  struct cli_opt opts[16] = {
      {"--weights", CLI_STR, &weights, 0, 0, "take the architecture from a weights file", " FILE"},
      {"--batch", CLI_INT, batch, 1, 65536, "training batch"},
      {"--steps", CLI_INT, steps, 1, 100000, "timed training steps, after a warm-up step"},
  };
  for (int i = 0; extra && extra[i].name && i < 12; i++)
    opts[3 + i] = extra[i];
  char cmd[64];
  snprintf(cmd, sizeof cmd, "bench %s", f->name);
  nn_cfg_defaults(f->cfg, cfg);
  int r = cli_parse(argc, argv, cmd, usage, opts, c, f->cfg, cfg);
  if (r) return r;
  if (weights && cli_arch_given(f->cfg, argc, argv)) {
    cli_error("%s: --weights gives the architecture; leave out the architecture options", cmd);
    return -1;
  }
  vkg_st *st = NULL;
  vkg_status s = weights ? nn_weights_open(weights, f->name, f->cfg, cfg, &st) : VKG_OK;
  vkg_st_close(st);
  if (!s) s = nn_cfg_check(f->cfg, cfg);
  return s ? (cli_vkg_error(cmd), -1) : 0;
}

vkg_status family_bench_train(const struct cli_family *f, vkg_ctx *ctx, const void *cfg, int batch, int steps,
                              double *steps_per_s) {
  struct nn_model *m;
  struct nn_create_opts o = {.batch = batch, .seed = 1, .synthetic = batch};
  vkg_status s = f->ops->create(ctx, cfg, &o, &m);
  if (s) return s;
  s = cli_bench_train(m, steps, steps_per_s);
  f->ops->destroy(m);
  return s;
}

int family_bench(const struct cli_family *f, int argc, char **argv) {
  struct cli_common c = {0};
  long batch = f->batch, steps = 5;
  char cmd[64], usage[320];
  snprintf(cmd, sizeof cmd, "bench %s", f->name);
  snprintf(usage, sizeof usage,
           "usage: vkgen bench %s [--batch N] [--steps N] [--json] [architecture]\n\n"
           "Times %straining (the training loop's step, on random data of the model's shape) as steps/s.\n",
           f->name,
           f->ops->sample_images ? "sampling at batch 1 and 64 as images/s (wall time, images on the host), and\n"
                                 : "");
  void *cfg = calloc(1, f->cfg->size);
  if (!cfg) return cli_error("out of host memory");
  int r = cli_bench_parse(f, argc, argv, usage, NULL, &c, cfg, &batch, &steps);
  if (r) {
    free(cfg);
    return r < 0;
  }
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) {
    free(cfg);
    return 1;
  }
  struct nn_model *m = NULL;
  struct nn_create_opts o = {.batch = 1, .seed = 1, .synthetic = 1};
  vkg_status s = f->ops->sample_images ? f->ops->create(ctx, cfg, &o, &m) : VKG_OK;
  static const int batches[2] = {1, 64};
  double ips[2] = {0}, sps = 0;
  for (int k = 0; k < 2 && !s && f->ops->sample_images; k++) {
    int ch, h, w;
    f->ops->image_shape(m, &ch, &h, &w);
    float *im = malloc(sizeof *im * (size_t)batches[k] * ch * h * w);
    s = im ? f->ops->sample_images(m, batches[k], 1, im) : VKG_ERR_OOM; /* warm-up */
    double t0 = nn_now();
    for (int rep = 0; rep < 3 && !s; rep++)
      s = f->ops->sample_images(m, batches[k], (uint32_t)rep + 2, im);
    ips[k] = 3.0 * batches[k] / (nn_now() - t0);
    free(im);
  }
  if (!s) s = family_bench_train(f, ctx, cfg, (int)batch, (int)steps, &sps);
  int rc = s ? cli_vkg_error(cmd) : 0;
  if (!rc) {
    char config[512];
    nn_cfg_json(f->cfg, cfg, config, sizeof config);
    const char *dev = vkg_ctx_device(ctx)->name;
    if (c.json) {
      printf("{\"device\": \"%s\", \"model\": \"%s\", \"config\": %s", dev, f->name, config);
      if (f->ops->sample_images)
        printf(", \"sampling\": [{\"batch\": 1, \"images_per_s\": %.3f}, {\"batch\": 64, \"images_per_s\": %.3f}]",
               ips[0], ips[1]);
      printf(", \"training\": {\"batch\": %ld, \"steps_per_s\": %.4f}}\n", batch, sps);
    } else {
      printf("device: %s\n%s %s\n", dev, f->name, config);
      for (int k = 0; k < 2 && f->ops->sample_images; k++)
        printf("sampling  batch %-5d %10.1f images/s\n", batches[k], ips[k]);
      printf("training  batch %-5ld %10.3f steps/s (%.1f examples/s)\n", batch, sps, sps * batch);
    }
  }
  if (m) f->ops->destroy(m);
  free(cfg);
  return cli_ctx_done(ctx, rc);
}
