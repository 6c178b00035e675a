/* Training options shared by every family, and 'vkgen train classifier'. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "models/models.h"
#include "nn/dist.h"
#include "nn/step.h"
#include "nn/weights.h"

int cli_float(const char *opt, const char *s, double lo, double hi, double *out) {
  char *end;
  double v = s ? strtod(s, &end) : 0;
  if (!s || !*s || *end || !(v >= lo && v <= hi)) {
    cli_error("%s expects a number from %g to %g, got '%s'", opt, lo, hi, s ? s : "");
    return 0;
  }
  *out = v;
  return 1;
}

/* Under mpirun each rank builds its model for its share of the global batch (the check that --batch
 * divides evenly comes in cli_train_run, with the message). */
static void set_batch(struct cli_train *t, int global) {
  int ranks = nn_dist_size();
  t->global_batch = global;
  t->batch = global / ranks > 0 ? global / ranks : 1;
}

void cli_train_defaults(struct cli_train *t, const char *family) {
  static char out[256];
  memset(t, 0, sizeof *t);
  /* Join an MPI job (a no-op when not started by mpirun); a build without MPI refuses several ranks. */
  if (nn_dist_init()) {
    cli_vkg_error("train");
    exit(1);
  }
  t->fam = cli_family_find(family);
  snprintf(out, sizeof out, "runs/%s", family);
  t->o = (struct nn_train_opts){.epochs = t->fam->epochs, .seed = 1, .out_dir = out, .log_every = 50};
  t->o.lr = (struct vkg_lr_schedule){.lr = (float)t->fam->lr};
  t->optim = VKG_ADAM;
  set_batch(t, t->fam->batch);
  t->o.quiet = !cli_train_writes(); /* one progress for the job: rank 0's */
  t->beta1 = t->fam->beta1;
  t->clip = t->fam->clip;
}

void cli_train_help(FILE *f, const struct cli_train *d) {
  fprintf(f,
          "  --epochs N        passes over the training set (default %d)\n"
          "  --steps N         stop after N steps instead\n"
          "  --minutes M       also stop at the first step ending M minutes after training started\n"
          "  --batch N         batch size (default %d; under mpirun the global batch, split over the ranks)\n"
          "  --lr X            peak learning rate (default %g)\n"
          "  --warmup N        linear warmup steps (default 0)\n"
          "  --cosine          cosine decay to 0 over the run (default: constant)\n"
          "  --optim NAME      adam, adamw or sgd (default adam)\n"
          "  --beta1 X         Adam's beta1 (default %g)\n",
          d->o.epochs, d->global_batch, (double)d->o.lr.lr, d->beta1);
  if (d->clip > 0)
    fprintf(f, "  --clip X          clip the global gradient norm to X (default %g; 0: off)\n", d->clip);
  else
    fputs("  --clip X          clip the global gradient norm to X (default: off)\n", f);
  fputs("  --seed N          initialization, data order and noise (default 1)\n"
        "  --out DIR         output directory (default runs/<model>)\n"
        "  --resume          continue the run in --out from its checkpoint\n"
        "  --init WEIGHTS    start from these weights (their architecture) with a fresh optimizer\n"
        "  --save-dtype T    the final weights' precision: f32 (default), f16 or bf16 (half the\n"
        "                    size; checkpoints stay f32)\n"
        "  --log-every N     read the loss back every N steps (default 50)\n"
        "  --checkpoint-every N  checkpoint every N steps, or at each epoch's end and every N seconds\n"
        "                    (90s) or minutes (5m); default 5m. Ctrl-C or SIGTERM also writes one\n"
        "                    after the current step\n"
        "  --limit N         use only the first N training examples\n"
        "  --data DIR        dataset directory (default: the Debian package's)\n"
        "  --quiet           no progress output\n"
        "  --device D        device index or name\n"
        "  --watch [DIR]     hot-reload edited shaders from DIR (default: the source tree's shaders/)\n",
        f);
}

int cli_train_opt(struct cli_train *t, int argc, char **argv, int i) {
  int used = cli_common_opt(&t->c, argc, argv, i);
  if (used) return used;
  const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
  long n;
  double x;
  static const char *with_value[] = {
      "--epochs",     "--steps",   "--batch", "--lr",        "--warmup",     "--optim", "--clip", "--beta1",
      "--init",       "--seed",    "--out",   "--log-every", "--ckpt-every", "--limit", "--data", "--checkpoint-every",
      "--save-dtype", "--minutes", NULL};
  int takes = 0;
  for (int k = 0; with_value[k]; k++)
    takes |= !strcmp(a, with_value[k]);
  if (takes && !v) {
    cli_error("%s needs a value", a);
    return -1;
  }
  if (!strcmp(a, "--epochs")) {
    if (!cli_int(a, v, 1, 100000, &n)) return -1;
    t->o.epochs = (int)n;
  } else if (!strcmp(a, "--steps")) {
    if (!cli_int(a, v, 1, 1000000000, &n)) return -1;
    t->o.steps = n;
  } else if (!strcmp(a, "--minutes")) {
    if (!cli_float(a, v, 1e-6, 1e7, &x)) return -1;
    t->o.max_seconds = 60 * x;
  } else if (!strcmp(a, "--batch")) {
    if (!cli_int(a, v, 1, 65536, &n)) return -1;
    set_batch(t, (int)n);
  } else if (!strcmp(a, "--lr")) {
    if (!cli_float(a, v, 0, 1e12, &x)) return -1;
    t->o.lr.lr = (float)x;
  } else if (!strcmp(a, "--warmup")) {
    if (!cli_int(a, v, 0, 1000000000, &n)) return -1;
    t->o.lr.warmup = (int)n;
  } else if (!strcmp(a, "--optim")) {
    if (!strcmp(v, "adam"))
      t->optim = VKG_ADAM;
    else if (!strcmp(v, "adamw"))
      t->optim = VKG_ADAMW;
    else if (!strcmp(v, "sgd"))
      t->optim = VKG_SGD;
    else {
      cli_error("--optim expects adam, adamw or sgd, got '%s'", v);
      return -1;
    }
  } else if (!strcmp(a, "--init")) {
    t->init = t->o.init = v;
  } else if (!strcmp(a, "--save-dtype")) {
    static const char *names[][2] = {{"f32", "F32"}, {"f16", "F16"}, {"bf16", "BF16"}};
    t->o.save_dtype = NULL;
    for (int k = 0; k < 3; k++)
      if (!strcmp(v, names[k][0])) t->o.save_dtype = names[k][1];
    if (!t->o.save_dtype) {
      cli_error("--save-dtype expects f32, f16 or bf16, got '%s'", v);
      return -1;
    }
  } else if (!strcmp(a, "--beta1")) {
    if (!cli_float(a, v, 0, 0.999999, &t->beta1)) return -1;
  } else if (!strcmp(a, "--clip")) {
    if (!cli_float(a, v, 0, 1e9, &t->clip)) return -1;
  } else if (!strcmp(a, "--seed")) {
    if (!cli_int(a, v, 0, 2147483647, &n)) return -1;
    t->o.seed = (uint64_t)n;
  } else if (!strcmp(a, "--out")) {
    t->o.out_dir = v;
  } else if (!strcmp(a, "--log-every")) {
    if (!cli_int(a, v, 1, 100000, &n)) return -1;
    t->o.log_every = (int)n;
  } else if (!strcmp(a, "--checkpoint-every") || !strcmp(a, "--ckpt-every")) { /* the short name is older */
    /* N steps, or a duration: 90s, 5m */
    char *end;
    double d = v ? strtod(v, &end) : 0;
    int unit = v && *v && (!strcmp(end, "s") || !strcmp(end, "m")), steps = v && *v && !*end && d == (long)d;
    if (!(unit || steps) || !(d >= (unit ? 0.001 : 1) && d <= 1e9)) {
      cli_error("%s expects a number of steps (N >= 1) or a duration (90s, 5m), got '%s'", a, v ? v : "");
      return -1;
    }
    t->o.ckpt_every = steps ? (int)d : 0, t->o.ckpt_seconds = unit ? d * (*end == 'm' ? 60 : 1) : 0;
  } else if (!strcmp(a, "--limit")) {
    if (!cli_int(a, v, 1, 100000000, &n)) return -1;
    t->limit = (size_t)n;
  } else if (!strcmp(a, "--data")) {
    t->data_dir = v;
  } else if (!strcmp(a, "--cosine")) {
    t->cosine = 1;
    return 1;
  } else if (!strcmp(a, "--resume")) {
    t->o.resume = 1;
    return 1;
  } else if (!strcmp(a, "--quiet")) {
    t->o.quiet = 1;
    return 1;
  } else {
    return 0;
  }
  return 2;
}

int cli_train_init_config(struct cli_train *t, void *cfg) {
  if (!t->init) return 1;
  if (t->o.resume) return !cli_error("--init and --resume exclude each other (a resumed run has its own weights)");
  const struct nn_cfg *c = t->fam->cfg;
  char *file = calloc(3, c->size), *def = file ? file + c->size : NULL, *one = file ? def + c->size : NULL;
  if (!file) return !cli_error("out of host memory");
  vkg_st *st;
  int ok = !nn_weights_open(t->init, t->fam->name, c, file, &st);
  if (!ok) cli_vkg_error("train --init");
  if (ok) vkg_st_close(st);
  /* An architecture option given with --init (one that differs from the default) must be the file's. */
  nn_cfg_defaults(c, def);
  for (int i = 0; ok && i < c->n; i++) {
    size_t off = c->fields[i].offset, sz = c->fields[i].size; /* every field states its size */
    const char *v = (const char *)cfg + off;
    if (!memcmp(v, def + off, sz) || !memcmp(v, file + off, sz)) continue;
    memcpy(one, file, c->size);
    memcpy(one + off, v, sz);
    char diff[256];
    nn_cfg_diff(c, file, one, diff, sizeof diff);
    cli_error("--init: the weights '%s' have another architecture than the options ask for (%s)", t->init, diff);
    fputs("hint: leave out the architecture options: they come from the --init weights\n", stderr);
    ok = 0;
  }
  if (ok) memcpy(cfg, file, c->size);
  free(file);
  return ok;
}

struct nn_create_opts cli_train_create_opts(const struct cli_train *t) {
  return (struct nn_create_opts){.batch = t->batch, .limit = t->limit, .data_dir = t->data_dir, .seed = t->o.seed};
}

int cli_train_run(struct cli_train *t, struct nn_model *m) {
  int ranks = nn_dist_size();
  if (ranks > 1 && (t->global_batch % ranks || m->batch * ranks != t->global_batch)) {
    cli_error("train %s: --batch %d is not divisible by the %d ranks of this MPI job", m->name, t->global_batch, ranks);
    fprintf(stderr, "hint: --batch is the global batch, split evenly over the ranks: pass a multiple of %d\n", ranks);
    return 1; /* every rank finds this, so every rank exits */
  }
  t->o.optim = vkg_optim_desc_default(t->optim);
  if (t->optim != VKG_SGD) t->o.optim.beta1 = (float)t->beta1;
  t->o.optim.clip_norm = (float)t->clip;
  long spe = (long)(m->n_train / ((size_t)m->batch * (size_t)ranks));
  long total = t->o.steps > 0 ? t->o.steps : (long)t->o.epochs * spe;
  if (t->cosine) t->o.lr.total = (int)total;
  vkg_status s = nn_train(m, &t->o);
  if (s) {
    cli_vkg_error("train");
    nn_dist_abort(1); /* the other ranks would wait for this one forever */
    return 1;
  }
  int sig = nn_train_stopped_by(); /* SIGINT 130, SIGTERM 143, as a shell reports them */
  return sig ? 128 + sig : 0;
}

int cli_train_writes(void) { return nn_dist_rank() == 0; }

vkg_status cli_bench_train(struct nn_model *m, int steps, double *steps_per_s) {
  struct cli_train t;
  cli_train_defaults(&t, m->name);
  struct vkg_optim_desc od = vkg_optim_desc_default(t.optim);
  od.beta1 = (float)t.beta1;
  od.clip_norm = (float)t.clip;
  return nn_step_bench(m, &od, t.o.lr.lr, steps, steps_per_s);
}
