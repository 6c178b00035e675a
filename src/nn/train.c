/* The training loop. One graph holds the whole step (forward, loss, backward, optimizer, and a
 * history of the loss); it is recorded once and replayed for every batch with two runs in flight,
 * while the host stages the next batch. The loss history is read back every log_every steps, which is
 * the only host synchronization in steady state. Checkpoints hold the parameters, the optimizer state,
 * the step and the seed, so a resumed run replays the same batches and gives the same losses. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "nn/dist.h"
#include "nn/progress.h"
#include "nn/step.h"
#include "nn/train.h"
#include "nn/weights.h"

struct curve {
  double *x, *y;
  int n, cap;
};

static void curve_add(struct curve *c, double x, double y) {
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 256;
    c->x = realloc(c->x, sizeof *c->x * (size_t)c->cap);
    c->y = realloc(c->y, sizeof *c->y * (size_t)c->cap);
  }
  c->x[c->n] = x;
  c->y[c->n++] = y;
}

/* What the loop keeps of each phase besides its recorded step: metric names and the loss curve. */
struct phase_run {
  char loss_name[40], norm_name[40];
  struct curve curve;
};

struct run {
  struct nn_model *m;
  const struct nn_train_opts *o;
  vkg_ctx *ctx;
  struct nn_step st;
  struct phase_run ph[NN_MAX_PHASES];
  int nph, hist_n;
  /* Data parallelism (nn/dist.h): `ranks` processes each run m->batch examples of every global batch
   * of `gbatch`; rank 0 alone (writer) writes files and progress. One rank: writer, gbatch = batch. */
  int ranks, rank, writer, quiet, gbatch;
  int stop; /* several ranks: the signal that stops them all, agreed on after each step */
  long step, total, spe, logged, last_ckpt, step0;
  uint64_t seed;
  struct curve val;
  char ckpt[4096], metrics[4096], plot[4096], weights[4096];
  struct nn_progress pg;
  char losses[200];  /* the last losses read, shown with the progress */
  double t_ckpt;     /* when the last checkpoint was written (or the run started) */
  double t0, t_read; /* when training started (less the time before a resume), and the losses were read last */
  double t_resumed;  /* the training time logged before --resume */
  double t_start;    /* when this process started training (--minutes) */
};

// ---- interruption ----

/* SIGINT or SIGTERM during training: the first one lets the current step finish, then the loop
 * writes a checkpoint and nn_train returns (nn_train_stopped_by() says which signal); a second one
 * exits at once, removing a checkpoint being written, so the previous one stays whole. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
  if (stop_signal) {
    vkg__atomic_unlink_in_flight();
    _exit(128 + sig);
  }
  stop_signal = sig;
  static const char msg[] = "\nvkgen: stopping after this step to write a checkpoint (interrupt again to stop at "
                            "once, keeping the previous checkpoint)\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
}

int nn_train_stopped_by(void) { return stop_signal; }

static vkg_status mkdirs(const char *dir) {
  char p[4096];
  snprintf(p, sizeof p, "%s", dir);
  for (char *s = p + 1;; s++) {
    if (*s == '/' || *s == 0) {
      char c = *s;
      *s = 0;
      if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        vkg__fail(VKG_ERR_IO, "cannot create directory '%s': %s", p, strerror(errno));
        vkg__hint("choose an --out directory you can write to");
        return VKG_ERR_IO;
      }
      *s = c;
      if (!c) break;
    }
  }
  return VKG_OK;
}

// ---- checkpoints ----

/* The checkpoint name of optimizer state i of phase p: "optim.<state>" for a single phase, else
 * "optim.<phase>.<state>". */
static vkg_tensor *optim_state(const struct run *r, int p, int i, char *full, size_t n) {
  const char *name;
  vkg_tensor *t = vkg_optim_state(r->st.ph[p].opt, i, &name);
  if (r->nph == 1)
    snprintf(full, n, "optim.%s", name);
  else
    snprintf(full, n, "optim.%s.%s", r->m->phases[p].name, name);
  return t;
}

/* The settings a resumed run must share with the checkpoint's run to give the losses an uninterrupted
 * run would: optimizer, its hyperparameters, batch and learning-rate schedule (the run's length may
 * change: --steps and --epochs say where to stop). */
static void train_settings(const struct run *r, char *out, size_t n) {
  static const char *kinds[] = {[VKG_SGD] = "sgd", [VKG_ADAM] = "adam", [VKG_ADAMW] = "adamw"};
  const struct vkg_optim_desc *d = &r->o->optim;
  snprintf(out, n,
           "optim %s, batch %d, lr %.7g, warmup %d, %s schedule, momentum %.7g, beta1 %.7g, beta2 %.7g, eps %.7g, "
           "weight decay %.7g, clip %.7g",
           kinds[d->kind], r->gbatch, (double)r->o->lr.lr, r->o->lr.warmup, r->o->lr.total ? "cosine" : "constant",
           (double)d->momentum, (double)d->beta1, (double)d->beta2, (double)d->eps, (double)d->weight_decay,
           (double)d->clip_norm);
}

/* Where settings a and b (train_settings) first differ, as "batch 16 vs 32"; 0 if they are equal. */
static int settings_diff(const char *a, const char *b, char *out, size_t n) {
  while (*a || *b) {
    const char *ea = strchr(a, ','), *eb = strchr(b, ',');
    size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
    if (la != lb || strncmp(a, b, la)) {
      const char *va = memchr(a, ' ', la), *vb = memchr(b, ' ', lb);
      if (!va || !vb) va = a - 1, vb = b - 1;
      snprintf(out, n, "%.*s: %.*s in the checkpoint, %.*s here", (int)(va - a), a, (int)(la - (size_t)(va - a) - 1),
               va + 1, (int)(lb - (size_t)(vb - b) - 1), vb + 1);
      return 1;
    }
    a += la + (ea ? 2 : 0);
    b += lb + (eb ? 2 : 0);
  }
  return 0;
}

static vkg_status save_checkpoint(struct run *r) {
  if (!r->writer) {
    r->last_ckpt = r->step;
    return VKG_OK;
  }
  vkg_st_writer *w = vkg_st_writer_create();
  if (!w) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_status s = nn_params_save(&r->m->params, w, "");
  for (int p = 0; p < r->nph; p++)
    for (int i = 0; !s && i < vkg_optim_state_count(r->st.ph[p].opt); i++) {
      char full[160];
      vkg_tensor *t = optim_state(r, p, i, full, sizeof full);
      s = vkg_st_add_tensor(w, full, t);
    }
  char step[32], seed[32];
  snprintf(step, sizeof step, "%ld", r->step);
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
  if (!s) s = vkg_st_add_metadata(w, "format", "vkgen-checkpoint");
  if (!s) s = vkg_st_add_metadata(w, "model", r->m->name);
  if (!s) s = vkg_st_add_metadata(w, "config", r->m->config);
  if (!s) s = vkg_st_add_metadata(w, "step", step);
  if (!s) s = vkg_st_add_metadata(w, "seed", seed);
  char settings[512];
  train_settings(r, settings, sizeof settings);
  if (!s) s = vkg_st_add_metadata(w, "training", settings);
  if (!s) s = vkg_st_write(w, r->ckpt);
  vkg_st_writer_destroy(w);
  if (!s) r->last_ckpt = r->step, r->t_ckpt = nn_now();
  return s;
}

static vkg_status save_weights(struct run *r) {
  if (!r->writer) return VKG_OK;
  vkg_st_writer *w = vkg_st_writer_create();
  if (!w) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_status s = nn_params_save_as(&r->m->params, w, "", r->o->save_dtype);
  if (!s) s = vkg_st_add_metadata(w, "format", "vkgen-weights");
  if (!s) s = vkg_st_add_metadata(w, "model", r->m->name);
  if (!s) s = vkg_st_add_metadata(w, "config", r->m->config);
  if (!s) s = vkg_st_write(w, r->weights);
  vkg_st_writer_destroy(w);
  return s;
}

/* Reads a metrics log back: the lines up to `upto` are kept (and rewritten), for the curves. */
static vkg_status reload_metrics(struct run *r, long upto) {
  FILE *f = fopen(r->metrics, "r");
  if (!f) return VKG_OK;
  size_t cap = 1 << 16, n = 0;
  char *kept = malloc(cap), line[1024];
  while (fgets(line, sizeof line, f)) {
    long step;
    double v;
    const char *p = strstr(line, "\"step\": ");
    if (!p || sscanf(p, "\"step\": %ld", &step) != 1 || step > upto) continue;
    for (int k = 0; k < r->nph; k++) {
      char key[64];
      snprintf(key, sizeof key, "\"%s\": ", r->ph[k].loss_name);
      if ((p = strstr(line, key)) && sscanf(p + strlen(key), "%lf", &v) == 1)
        curve_add(&r->ph[k].curve, (double)step, v);
    }
    if ((p = strstr(line, "\"val_loss\": ")) && sscanf(p, "\"val_loss\": %lf", &v) == 1)
      curve_add(&r->val, (double)step, v);
    if ((p = strstr(line, "\"time\": ")) && sscanf(p, "\"time\": %lf", &v) == 1) r->t_resumed = v;
    size_t l = strlen(line);
    if (n + l + 1 > cap) kept = realloc(kept, cap = 2 * (n + l + 1));
    memcpy(kept + n, line, l);
    n += l;
  }
  fclose(f);
  vkg_status s = vkg__write_file(r->metrics, kept, n);
  free(kept);
  return s;
}

static vkg_status resume(struct run *r) {
  vkg_st *st;
  vkg_status s = vkg_st_open(r->ckpt, &st);
  if (s) return s;
  const char *fmt = vkg_st_metadata(st, "format"), *model = vkg_st_metadata(st, "model");
  const char *config = vkg_st_metadata(st, "config"), *step = vkg_st_metadata(st, "step");
  const char *seed = vkg_st_metadata(st, "seed");
  if (!fmt || strcmp(fmt, "vkgen-checkpoint") != 0 || !model || !config || !step || !seed) {
    s = vkg__fail(VKG_ERR_FORMAT, "'%s' is not a vkgen training checkpoint (its metadata lacks format/model/step)",
                  r->ckpt);
  } else if (strcmp(model, r->m->name) != 0) {
    s = vkg__fail(VKG_ERR_ARG, "checkpoint '%s' is of a %s model, not %s", r->ckpt, model, r->m->name);
    vkg__hint("resume with 'vkgen train %s', or choose another --out", model);
  } else if (strcmp(config, r->m->config) != 0) {
    s = vkg__fail(VKG_ERR_ARG, "checkpoint '%s' has architecture %s, but this run asks for %s", r->ckpt, config,
                  r->m->config);
    vkg__hint("resume with the architecture options the run started with, or choose another --out");
  }
  /* The optimizer, batch and schedule must be the run's too (checkpoints before this check have none). */
  const char *had = vkg_st_metadata(st, "training");
  char now[512], diff[256];
  train_settings(r, now, sizeof now);
  if (!s && had && settings_diff(had, now, diff, sizeof diff)) {
    s = vkg__fail(VKG_ERR_ARG, "--resume: checkpoint '%s' was trained with other settings (%s)", r->ckpt, diff);
    vkg__hint("resume with the options the run started with (the checkpoint's: %s), or choose another --out", had);
  }
  if (!s) s = nn_params_load(&r->m->params, st, "");
  for (int p = 0; p < r->nph; p++)
    for (int i = 0; !s && i < vkg_optim_state_count(r->st.ph[p].opt); i++) {
      char full[160];
      vkg_tensor *t = optim_state(r, p, i, full, sizeof full);
      s = vkg_st_load_tensor(st, full, t);
    }
  if (!s) {
    r->step = r->last_ckpt = strtol(step, NULL, 10);
    uint64_t ck_seed = strtoull(seed, NULL, 10);
    if (ck_seed != r->seed && !r->quiet)
      fprintf(stderr, "note: continuing with the checkpoint's seed %llu\n", (unsigned long long)ck_seed);
    r->seed = ck_seed;
  }
  vkg_st_close(st);
  if (!s) s = reload_metrics(r, r->step);
  return s;
}

/* --init: the parameters of a weights file of the same model and config; the optimizer starts fresh. */
static vkg_status load_init(struct run *r) {
  vkg_st *st;
  vkg_status s = vkg_st_open(r->o->init, &st);
  if (s) return s;
  const char *model = vkg_st_metadata(st, "model"), *config = vkg_st_metadata(st, "config");
  if (!model || strcmp(model, r->m->name)) {
    s = vkg__fail(VKG_ERR_FORMAT, "--init: '%s' holds %s%.64s weights, not %s", r->o->init, model ? "" : "no vkgen ",
                  model ? model : "", r->m->name);
    vkg__hint("pass weights written by 'vkgen train %s'", r->m->name);
  } else if (!config || strcmp(config, r->m->config)) {
    s = vkg__fail(VKG_ERR_ARG, "--init: '%s' has architecture %.300s, but this run builds %s", r->o->init,
                  config ? config : "(none)", r->m->config);
    vkg__hint("leave out the architecture options: they come from the --init weights");
  } else {
    s = nn_weights_load(&r->m->params, st, r->o->init);
  }
  vkg_st_close(st);
  return s;
}

// ---- progress ----

/* Sets the text shown with the progress: epoch and each phase's loss at the last read-back. */
static void set_losses(struct run *r, const float *loss, size_t stride) {
  long epoch = (r->step - 1) / r->spe + 1, epochs = (r->total + r->spe - 1) / r->spe;
  int l = snprintf(r->losses, sizeof r->losses, "epoch %ld/%ld", epoch, epochs);
  for (int p = 0; p < r->nph && l < (int)sizeof r->losses; p++)
    l += snprintf(r->losses + l, sizeof r->losses - (size_t)l, "  %s %.4f", r->ph[p].loss_name,
                  (double)loss[(size_t)p * stride]);
}

static vkg_status append_metrics(struct run *r, const char *line) {
  if (!r->writer) return VKG_OK;
  FILE *f = fopen(r->metrics, "a");
  if (!f) {
    vkg__fail(VKG_ERR_IO, "cannot append to '%s': %s", r->metrics, strerror(errno));
    return VKG_ERR_IO;
  }
  fputs(line, f);
  int bad = fclose(f) != 0;
  return bad ? vkg__fail(VKG_ERR_IO, "cannot write '%s'", r->metrics) : VKG_OK;
}

/* Reads every phase's loss and gradient-norm histories and logs each step since the last read. */
static vkg_status read_losses(struct run *r) {
  size_t hn = (size_t)r->hist_n;
  float *loss = malloc(sizeof *loss * hn * (size_t)r->nph), *norm = malloc(sizeof *norm * hn * (size_t)r->nph);
  vkg_status s = loss && norm ? nn_step_read(&r->st, loss, norm) : vkg__fail(VKG_ERR_OOM, "out of host memory");
  /* "time": wall seconds of training (a resumed run's go on from the time logged before). The
   * losses of several steps are read at once, so the steps between two reads get times spread evenly
   * between them. */
  double now = nn_now(), dt = r->step > r->logged ? (now - r->t_read) / (double)(r->step - r->logged) : 0;
  for (long k = r->logged + 1; !s && k <= r->step; k++) {
    char line[512];
    int l = snprintf(line, sizeof line, "{\"step\": %ld, \"epoch\": %ld, \"time\": %.3f", k, (k - 1) / r->spe + 1,
                     r->t_read - r->t0 + dt * (double)(k - r->logged));
    for (int p = 0; p < r->nph && !s; p++) {
      double lv = loss[p * hn + (size_t)(k - 1) % hn], gn = norm[p * hn + (size_t)(k - 1) % hn];
      if (!isfinite(lv)) {
        s = vkg__fail(VKG_ERR_NUMERIC, "the %s became %s at step %ld (epoch %ld)",
                      r->nph > 1 ? r->ph[p].loss_name : "loss", isnan(lv) ? "NaN" : "infinite", k,
                      (k - 1) / r->spe + 1);
        if (r->last_ckpt > 0)
          vkg__hint("the last good checkpoint '%s' (step %ld) is kept; resume from it with a lower --lr", r->ckpt,
                    r->last_ckpt);
        else
          vkg__hint("no checkpoint was written yet; try a lower --lr");
        break;
      }
      l += snprintf(line + l, sizeof line - (size_t)l, ", \"%s\": %.7g, \"%s\": %.6g", r->ph[p].loss_name, lv,
                    r->ph[p].norm_name, gn);
      curve_add(&r->ph[p].curve, (double)k, lv);
    }
    if (s) break;
    snprintf(line + l, sizeof line - (size_t)l, ", \"lr\": %.6g}\n", vkg_lr_at(&r->o->lr, k));
    s = append_metrics(r, line);
  }
  if (!s) {
    r->logged = r->step;
    r->t_read = now;
    set_losses(r, loss + (size_t)(r->step - 1) % hn, hn);
    if (r->step == r->step0 + 1) r->pg.last = -1e30; /* the first step shows at once */
    nn_progress_update(&r->pg, r->step, r->losses);
  }
  free(loss);
  free(norm);
  return s;
}

static vkg_status evaluate(struct run *r) {
  if (!r->m->evaluate || !r->writer) return VKG_OK; /* other ranks hold the same weights */
  int n = 0;
  const char *names[4];
  double v[4];
  vkg_status s = r->m->evaluate(r->m, &n, names, v);
  if (s) return s;
  for (int i = 0; i < n && i < 4; i++)
    if (!isfinite(v[i])) { /* never printed or logged as a number */
      vkg__fail(VKG_ERR_NUMERIC, "the validation %s became %s at step %ld", names[i], isnan(v[i]) ? "NaN" : "infinite",
                r->step);
      vkg__hint(r->last_ckpt > 0 ? "the last good checkpoint is kept; resume from it with a lower --lr"
                                 : "no checkpoint was written yet; try a lower --lr");
      return VKG_ERR_NUMERIC;
    }
  char line[512];
  int l = snprintf(line, sizeof line, "{\"step\": %ld, \"epoch\": %ld", r->step, (r->step - 1) / r->spe + 1);
  for (int i = 0; i < n && i < 4; i++)
    l += snprintf(line + l, sizeof line - (size_t)l, ", \"%s\": %.7g", names[i], v[i]);
  snprintf(line + l, sizeof line - (size_t)l, "}\n");
  if (n && strcmp(names[0], "val_loss") == 0) curve_add(&r->val, (double)r->step, v[0]);
  if (!r->quiet) {
    nn_progress_break(&r->pg);
    if (r->step % r->spe == 0)
      fprintf(stderr, "epoch %ld:", r->step / r->spe);
    else /* a run ended by --steps within an epoch */
      fprintf(stderr, "step %ld:", r->step);
    for (int i = 0; i < n && i < 4; i++)
      fprintf(stderr, " %s %.4f", names[i], v[i]);
    fputc('\n', stderr);
  }
  return append_metrics(r, line);
}

static vkg_status write_plot(struct run *r) {
  if (!r->writer) return VKG_OK;
  struct nn_curve c[NN_MAX_PHASES + 1];
  for (int p = 0; p < r->nph; p++)
    c[p] = (struct nn_curve){r->ph[p].loss_name, r->ph[p].curve.n, r->ph[p].curve.x, r->ph[p].curve.y, 0};
  c[r->nph] = (struct nn_curve){"val_loss", r->val.n, r->val.x, r->val.y, 1};
  return nn_plot(r->plot, c, r->nph + (r->val.n > 0));
}

// ---- the loop ----

/* Phase p's metric names: "loss" and "grad_norm" for a single phase, else "loss_<name>" and "grad_norm_<name>". */
static void name_phase(struct run *r, int p) {
  struct phase_run *ph = &r->ph[p];
  const char *name = r->m->nphases ? r->m->phases[p].name : "";
  snprintf(ph->loss_name, sizeof ph->loss_name, "loss%s%s", r->nph == 1 ? "" : "_", r->nph == 1 ? "" : name);
  snprintf(ph->norm_name, sizeof ph->norm_name, "grad_norm%s%s", r->nph == 1 ? "" : "_", r->nph == 1 ? "" : name);
}

// ---- data parallelism ----

/* Every parameter, every optimizer state tensor, the step and the seed from rank 0 to the others, so
 * that all start from the state rank 0 initialized, resumed or loaded (--init). */
static vkg_status sync_state(struct run *r) {
  vkg_status s = VKG_OK;
  int64_t hdr[3] = {r->step, (int64_t)r->seed, r->last_ckpt};
  if ((s = nn_dist_bcast(hdr, sizeof hdr))) return s;
  r->step = hdr[0], r->seed = (uint64_t)hdr[1], r->last_ckpt = hdr[2];
  int n = r->m->params.n;
  for (int p = 0; p < r->nph; p++)
    n += vkg_optim_state_count(r->st.ph[p].opt);
  for (int i = 0; i < n && !s; i++) {
    vkg_tensor *t;
    if (i < r->m->params.n) {
      t = r->m->params.t[i];
    } else {
      int k = i - r->m->params.n, p = 0;
      while (k >= vkg_optim_state_count(r->st.ph[p].opt))
        k -= vkg_optim_state_count(r->st.ph[p++].opt);
      t = vkg_optim_state(r->st.ph[p].opt, k, NULL);
    }
    size_t c = vkg_tensor_numel(t);
    float *buf = malloc(sizeof *buf * c);
    if (!buf) return vkg__fail(VKG_ERR_OOM, "out of host memory");
    if (r->writer) s = vkg_tensor_download_f32(t, buf, c);
    if (!s) s = nn_dist_bcast(buf, sizeof *buf * c);
    if (!s && !r->writer) s = vkg_tensor_upload_f32(t, buf, c);
    free(buf);
  }
  return s;
}

/* After the last step (and, with $VKGEN_MPI_CHECK_STEPS=1, after every step): every rank must hold the
 * weights rank 0 holds (a 64-bit FNV-1a hash of their bytes, compared across the ranks). say: print
 * the agreement. */
static vkg_status check_same_weights(struct run *r, int say) {
  uint64_t h = 1469598103934665603ull;
  vkg_status s = VKG_OK;
  for (int i = 0; i < r->m->params.n && !s; i++) {
    size_t c = vkg_tensor_numel(r->m->params.t[i]);
    float *buf = malloc(sizeof *buf * c);
    if (!buf) return vkg__fail(VKG_ERR_OOM, "out of host memory");
    s = vkg_tensor_download_f32(r->m->params.t[i], buf, c);
    for (size_t b = 0; !s && b < sizeof *buf * c; b++)
      h = (h ^ ((const unsigned char *)buf)[b]) * 1099511628211ull;
    free(buf);
  }
  uint64_t *all = malloc(sizeof *all * (size_t)r->ranks);
  if (!s && !all) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  if (!s) s = nn_dist_gather_u64(h, all);
  for (int k = 1; !s && k < r->ranks; k++)
    if (all[k] != all[0])
      s = vkg__fail(VKG_ERR_NUMERIC, "rank %d ended with other weights than rank 0 (checksum %016llx vs %016llx)", k,
                    (unsigned long long)all[k], (unsigned long long)all[0]);
  if (!s && r->writer && !r->quiet && say)
    fprintf(stderr, "the %d ranks hold the same weights (checksum %016llx)\n", r->ranks, (unsigned long long)all[0]);
  free(all);
  return s;
}

/* Runs every phase once on the batch of step r->step + 1. */
static vkg_status run_step(struct run *r, const uint32_t *idx) {
  idx += (size_t)r->rank * (size_t)r->m->batch; /* this rank's slice of the global batch */
  long next = r->step + 1;
  return nn_step_run(&r->st, idx, vkg_lr_at(&r->o->lr, next), next, r->seed);
}

static vkg_status train(struct nn_model *m, const struct nn_train_opts *o);

vkg_status nn_train(struct nn_model *m, const struct nn_train_opts *o) {
  struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART}, old_int, old_term;
  sigemptyset(&sa.sa_mask);
  stop_signal = 0;
  /* A SIGINT ignored at start (a background job of a shell without job control) stays ignored. */
  sigaction(SIGINT, NULL, &old_int);
  if (old_int.sa_handler != SIG_IGN) sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, &old_term);
  vkg_status s = train(m, o);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  return s;
}

static vkg_status train(struct nn_model *m, const struct nn_train_opts *o) {
  struct run r = {.m = m, .o = o, .ctx = m->params.ctx, .seed = o->seed};
  r.ranks = nn_dist_size(), r.rank = nn_dist_rank(), r.writer = r.rank == 0;
  r.quiet = o->quiet || !r.writer, r.gbatch = m->batch * r.ranks;
  r.spe = (long)(m->n_train / (size_t)r.gbatch);
  if (r.spe < 1)
    return vkg__fail(VKG_ERR_ARG, "a batch of %d is larger than the %zu training examples", r.gbatch, m->n_train);
  r.total = o->steps > 0 ? o->steps : (long)o->epochs * r.spe;
  vkg_status s = r.writer ? mkdirs(o->out_dir) : VKG_OK;
  if (s) return s;
  snprintf(r.ckpt, sizeof r.ckpt, "%s/checkpoint.safetensors", o->out_dir);
  snprintf(r.metrics, sizeof r.metrics, "%s/metrics.jsonl", o->out_dir);
  snprintf(r.plot, sizeof r.plot, "%s/loss.png", o->out_dir);
  snprintf(r.weights, sizeof r.weights, "%s/%s.safetensors", o->out_dir, m->name);
  if (r.writer && !o->resume && access(r.ckpt, F_OK) == 0) {
    vkg__fail(VKG_ERR_ARG, "'%s' already exists", r.ckpt);
    vkg__hint("pass --resume to continue that run, or choose another --out directory");
    return VKG_ERR_ARG;
  }
  if (r.writer && o->resume && access(r.ckpt, F_OK) != 0) {
    vkg__fail(VKG_ERR_IO, "--resume: there is no checkpoint '%s'", r.ckpt);
    vkg__hint("start the run without --resume, or point --out at the run's directory");
    return VKG_ERR_IO;
  }
  r.nph = m->nphases ? m->nphases : 1;
  r.hist_n = o->log_every > 0 ? o->log_every : 1;
  for (int p = 0; p < r.nph; p++)
    name_phase(&r, p);
  s = nn_step_create(m, &o->optim, r.hist_n, &r.st);
  if (!s && r.writer && o->resume) s = resume(&r);
  if (!s && r.writer && !o->resume && o->init) s = load_init(&r);
  if (!s && r.writer && !o->resume) s = vkg__write_file(r.metrics, "", 0);
  if (!s && r.ranks > 1) s = sync_state(&r);
  uint32_t *perm = malloc(sizeof *perm * (m->n_train + 1));
  long epoch = -1;
  r.logged = r.step;
  r.step0 = r.step;
  r.t_ckpt = r.t_read = nn_now();
  r.t0 = r.t_read - r.t_resumed; /* a resumed run's times go on from its log's */
  r.t_start = r.t_read;
  if (!s && !r.quiet)
    fprintf(stderr, "training %s: %ld steps (%ld per epoch, batch %d%s)%s\n", m->name, r.total, r.spe, r.gbatch,
            r.ranks > 1 ? ", split over the ranks" : "", r.step ? ", resumed" : "");
  if (!s && !r.quiet && r.ranks > 1)
    fprintf(stderr, "data parallel: %d ranks, %d examples each per step\n", r.ranks, m->batch);
  nn_progress_start(&r.pg, "train", r.step, r.total, "steps", r.quiet);
  /* One rank stops when a signal came; several when they agreed on one (never one rank alone). */
#define STOPPED (r.ranks > 1 ? r.stop : stop_signal)
  const char *cs_env = getenv("VKGEN_MPI_CHECK_STEPS"); /* tests: compare the ranks' weights after every step */
  int check_steps = cs_env && atoi(cs_env) > 0;
  while (!s && r.step < r.total && !STOPPED) {
    long e = r.step / r.spe;
    if (e != epoch) vkg_shuffle(perm, m->n_train, r.seed, (uint64_t)(epoch = e));
    if ((s = run_step(&r, perm + (size_t)(r.step % r.spe) * (size_t)r.gbatch))) break;
    r.step++;
    /* --minutes (of this process's training): the step ending past the limit ends the run as its last
     * step would. */
    int time_up = o->max_seconds > 0 && nn_now() - r.t_start >= o->max_seconds;
    int epoch_end = r.step % r.spe == 0, first = r.step == r.step0 + 1;
    /* Checkpoints: every --checkpoint-every steps, else at each epoch's end and whenever
     * NN_CHECKPOINT_SECONDS have passed, so an interruption loses minutes of work, not an epoch. */
    const double every_s = o->ckpt_seconds > 0 ? o->ckpt_seconds : NN_CHECKPOINT_SECONDS;
    int due = o->ckpt_every > 0 ? r.step % o->ckpt_every == 0 : epoch_end || nn_now() - r.t_ckpt >= every_s;
    if (r.ranks > 1) { /* the ranks agree: a signal to one stops all, and rank 0's clock says when */
      int agree[3] = {stop_signal, r.writer && due, r.writer && time_up};
      if ((s = nn_dist_max(agree, 3))) break;
      r.stop = agree[0];
      if (r.stop && !stop_signal) stop_signal = r.stop;
      due = o->ckpt_every > 0 ? due : epoch_end || agree[1];
      time_up = agree[2];
    }
    if (time_up) r.total = r.step;
    int last = r.step == r.total;
    if (r.ranks > 1 && check_steps && ((s = nn_step_wait(&r.st)) || (s = check_same_weights(&r, 0)))) break;
    if (r.step % r.hist_n == 0 || epoch_end || last || first || due) {
      if ((s = read_losses(&r))) break;
      if ((epoch_end || last) && (s = evaluate(&r))) break; /* a run ended by --steps evaluates too */
      if ((last || due) && ((s = save_checkpoint(&r)) || (s = write_plot(&r)))) break;
      if ((epoch_end || last || due) && (s = nn_dist_barrier())) break; /* rank 0 evaluated and wrote */
    } else {
      nn_progress_update(&r.pg, r.step, r.losses);
    }
  }
  if (!s && r.step < r.total && STOPPED) { /* interrupted: keep this step's work */
    if (r.step > r.logged) s = read_losses(&r);
    if (!s && r.last_ckpt != r.step) s = save_checkpoint(&r);
    if (!s) s = write_plot(&r);
    nn_progress_break(&r.pg);
    if (!s && r.writer)
      fprintf(stderr, "interrupted (%s) at step %ld of %ld: wrote the checkpoint %s; continue with --resume\n",
              STOPPED == SIGINT ? "SIGINT" : "SIGTERM", r.step, r.total, r.ckpt);
#undef STOPPED
  }
  if (!s && r.step == r.total) {
    nn_progress_end(&r.pg, r.losses);
    s = save_weights(&r);
  }
  if (!s && r.step == r.total && r.ranks > 1 && !(s = nn_dist_barrier())) s = check_same_weights(&r, 1);
  if (!s && r.step == r.total && !r.quiet)
    fprintf(stderr, "wrote %s, %s, %s and %s\n", r.weights, r.ckpt, r.metrics, r.plot);
  if (s) nn_progress_break(&r.pg);
  free(perm);
  nn_step_destroy(&r.st);
  for (int p = 0; p < r.nph; p++) {
    free(r.ph[p].curve.x);
    free(r.ph[p].curve.y);
  }
  free(r.val.x);
  free(r.val.y);
  return s;
}
