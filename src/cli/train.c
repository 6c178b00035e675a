/* vkgen train <model>: trains a model family with the shared loop (progress, metrics, checkpoints). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "models/models.h"

static void usage(FILE *f) {
  fputs("usage: vkgen train classifier [options]\n"
        "\n"
        "Trains the Fashion-MNIST classifier (the feature network for FID). Writes into --out:\n"
        "checkpoint.safetensors (resumable), metrics.jsonl, loss.png and classifier.safetensors.\n"
        "\n"
        "options:\n"
        "  --epochs N        passes over the training set (default 3)\n"
        "  --steps N         stop after N steps instead\n"
        "  --batch N         batch size (default 64)\n"
        "  --lr X            peak learning rate (default 0.001)\n"
        "  --warmup N        linear warmup steps (default 0)\n"
        "  --cosine          cosine decay to 0 over the run (default: constant)\n"
        "  --optim NAME      adam, adamw or sgd (default adam)\n"
        "  --clip X          clip the global gradient norm to X (default: off)\n"
        "  --seed N          initialization and data order (default 1)\n"
        "  --out DIR         output directory (default runs/classifier)\n"
        "  --resume          continue the run in --out from its checkpoint\n"
        "  --log-every N     read the loss back every N steps (default 50)\n"
        "  --ckpt-every N    checkpoint every N steps (default: every epoch)\n"
        "  --limit N         use only the first N training images\n"
        "  --data DIR        Fashion-MNIST directory (default " VKG_FASHION_MNIST_DIR ")\n"
        "  --quiet           no progress output\n"
        "  --device D        device index or name\n",
        f);
}

/* Parses a float option strictly. */
static int parse_float(const char *opt, const char *s, double lo, double hi, double *out) {
  char *end;
  double v = s ? strtod(s, &end) : 0;
  if (!s || !*s || *end || !(v >= lo && v <= hi)) {
    cli_error("%s expects a number from %g to %g, got '%s'", opt, lo, hi, s ? s : "");
    return 0;
  }
  *out = v;
  return 1;
}

int cmd_train(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "classifier") != 0) {
    cli_error("train: unknown model '%s'", argv[1]);
    fputs("hint: models that can be trained: classifier\n", stderr);
    return 1;
  }
  struct cli_common c = {0};
  struct classifier_opts co = classifier_opts_default();
  struct nn_train_opts o = {.epochs = 3, .seed = 1, .out_dir = "runs/classifier", .log_every = 50};
  o.lr = (struct vkg_lr_schedule){.lr = 1e-3f};
  vkg_optim_kind kind = VKG_ADAM;
  int cosine = 0;
  double clip = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    long n;
    double x;
#define NEED_VALUE                                                                                                     \
  if (!v) return cli_error("%s needs a value (see 'vkgen train --help')", a);                                         \
  i++;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--epochs")) {
      NEED_VALUE if (!cli_int(a, v, 1, 100000, &n)) return 1;
      o.epochs = (int)n;
    } else if (!strcmp(a, "--steps")) {
      NEED_VALUE if (!cli_int(a, v, 1, 1000000000, &n)) return 1;
      o.steps = n;
    } else if (!strcmp(a, "--batch")) {
      NEED_VALUE if (!cli_int(a, v, 1, 65536, &n)) return 1;
      co.batch = (int)n;
    } else if (!strcmp(a, "--lr")) {
      NEED_VALUE if (!parse_float(a, v, 0, 1e12, &x)) return 1;
      o.lr.lr = (float)x;
    } else if (!strcmp(a, "--warmup")) {
      NEED_VALUE if (!cli_int(a, v, 0, 1000000000, &n)) return 1;
      o.lr.warmup = (int)n;
    } else if (!strcmp(a, "--cosine")) {
      cosine = 1;
    } else if (!strcmp(a, "--optim")) {
      NEED_VALUE if (!strcmp(v, "adam")) kind = VKG_ADAM;
      else if (!strcmp(v, "adamw")) kind = VKG_ADAMW;
      else if (!strcmp(v, "sgd")) kind = VKG_SGD;
      else return cli_error("--optim expects adam, adamw or sgd, got '%s'", v);
    } else if (!strcmp(a, "--clip")) {
      NEED_VALUE if (!parse_float(a, v, 0, 1e9, &clip)) return 1;
    } else if (!strcmp(a, "--seed")) {
      NEED_VALUE if (!cli_int(a, v, 0, 2147483647, &n)) return 1;
      o.seed = co.seed = (uint64_t)n;
    } else if (!strcmp(a, "--out")) {
      NEED_VALUE o.out_dir = v;
    } else if (!strcmp(a, "--resume")) {
      o.resume = 1;
    } else if (!strcmp(a, "--log-every")) {
      NEED_VALUE if (!cli_int(a, v, 1, 100000, &n)) return 1;
      o.log_every = (int)n;
    } else if (!strcmp(a, "--ckpt-every")) {
      NEED_VALUE if (!cli_int(a, v, 1, 1000000000, &n)) return 1;
      o.ckpt_every = (int)n;
    } else if (!strcmp(a, "--limit")) {
      NEED_VALUE if (!cli_int(a, v, 1, 100000000, &n)) return 1;
      co.limit = (size_t)n;
    } else if (!strcmp(a, "--data")) {
      NEED_VALUE co.data_dir = v;
    } else if (!strcmp(a, "--quiet")) {
      o.quiet = 1;
    } else if (!strcmp(a, "--device")) {
      NEED_VALUE c.device = v;
    } else {
      return cli_error("train: unknown option '%s' (see 'vkgen train --help')", a);
    }
#undef NEED_VALUE
  }
  o.optim = vkg_optim_desc_default(kind);
  o.optim.clip_norm = (float)clip;
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) return 1;
  struct nn_model *m;
  vkg_status s = classifier_create(ctx, &co, &m);
  if (!s) {
    long spe = (long)(m->n_train / (size_t)m->batch);
    long total = o.steps > 0 ? o.steps : (long)o.epochs * spe;
    if (cosine) o.lr.total = (int)total;
    s = nn_train(m, &o);
    classifier_destroy(m);
  }
  if (s) cli_vkg_error("train");
  return cli_ctx_done(ctx, s ? 1 : 0);
}
