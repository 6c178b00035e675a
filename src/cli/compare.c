/* vkgen compare: every family side by side. Each family is trained under the same budget (or its
 * weights are taken as they are), evaluated with the shared metrics, sampled and timed on the current
 * device; the report (index.html, report.md, report.json) is written into one directory.
 *
 * The work is done by this program's own commands run as child processes (/proc/self/exe train|eval|
 * sample|bench FAMILY ...), each with its standard output and error in DIR/<family>/: a family that
 * fails is reported as failed, with its error line, and the others go on. What the children cannot
 * give (loss curves of several runs, nearest training images of samples, spectrograms) is computed
 * here from their files. */
#define _GNU_SOURCE /* posix_spawn file actions, strdup */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vulkan/vulkan_core.h>

#include "cli.h"
#include "internal.h"
#include "nn/data.h"
#include "nn/fid.h"
#include "nn/progress.h"
#include "nn/spectrogram.h"
#include "nn/train.h"

extern char **environ;

#define NEAREST 8 /* samples shown beside their nearest training images */

/* What compare was asked for. */
struct opts {
  struct cli_common c;
  const char *out, *families, *weights_dir;
  double budget; /* minutes of training per family (0: none) */
  long steps;    /* training steps per family (0: none) */
  long limit;    /* training examples (0: all) */
  int quick;     /* small evaluations: a smoke test, not numbers to quote */
  const char *cmdline;
};

/* One family's run. */
struct fam {
  const struct cli_family *f;
  char dir[2048], weights[4200];
  int failed;
  char error[600];
  cJSON *obj;          /* its report object */
  cJSON *eval, *bench; /* the children's JSON (owned by obj once added) */
  cJSON *commands;     /* [{phase, command, rc, seconds, log}] */
  cJSON *files;        /* {what: path relative to the report directory} */
};

static int phase_no, phase_total;

// ---- small helpers ----

static char *read_text(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, len = 0;
  char *b = malloc(cap);
  size_t k;
  while (b && (k = fread(b + len, 1, cap - len - 1, f)) > 0)
    if ((len += k) + 1 >= cap) {
      char *g = realloc(b, cap *= 2);
      if (!g) free(b);
      b = g;
    }
  fclose(f);
  if (b) b[len] = 0;
  if (n) *n = len;
  return b;
}

static double num(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A number or null (NaN) in a JSON object. */
static void put_num(cJSON *o, const char *key, double v) {
  if (isfinite(v))
    cJSON_AddNumberToObject(o, key, v);
  else
    cJSON_AddNullToObject(o, key);
}

static int is_empty_dir(const char *path) {
  DIR *d = opendir(path);
  if (!d) return 0;
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)))
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n == 0;
}

// ---- child processes ----

/* A command line being built: argv[0] is "vkgen" in the report and /proc/self/exe when run. */
struct args {
  char *v[48];
  int n;
};
static void arg(struct args *a, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct args *a, const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  char *s = NULL;
  if (a->n < 46 && vasprintf(&s, f, ap) >= 0) a->v[a->n++] = s;
  va_end(ap);
}
static void args_free(struct args *a) {
  for (int i = 0; i < a->n; i++)
    free(a->v[i]);
  a->n = 0;
}

/* The command as a shell would take it (arguments with spaces or quotes in single quotes). */
static char *args_str(const struct args *a) {
  size_t cap = 64;
  for (int i = 0; i < a->n; i++)
    cap += 3 * strlen(a->v[i]) + 3;
  char *s = malloc(cap), *p = s;
  if (!s) return NULL;
  for (int i = 0; i < a->n; i++) {
    const char *v = i ? a->v[i] : "vkgen";
    int plain = *v && strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./,=:+") == strlen(v);
    p += sprintf(p, "%s%s", i ? " " : "", plain ? "" : "'");
    for (; *v; v++)
      p += *v == '\'' ? sprintf(p, "'\\''") : sprintf(p, "%c", *v);
    if (!plain) *p++ = '\'';
    *p = 0;
  }
  return s;
}

/* The last "error: ..." line of a log (with its hint), or its last line. */
static void log_error(const char *log, char *out, size_t n) {
  char *t = read_text(log, NULL);
  snprintf(out, n, "failed (see %.400s)", log);
  if (!t) return;
  char *e = NULL, *p = t;
  while ((p = strstr(p, "error: "))) {
    if (p == t || p[-1] == '\n') e = p;
    p++;
  }
  if (e) {
    char *end = strchr(e, '\n');
    if (end && !strncmp(end + 1, "hint: ", 6)) end = strchr(end + 1, '\n');
    snprintf(out, n, "%.*s", end ? (int)(end - e) : (int)strlen(e), e);
    for (char *q = out; *q; q++)
      if (*q == '\n') *q = ' ';
  }
  free(t);
}

/* Runs this program with a's arguments, standard output into out_path (NULL: into the log too) and
 * standard error into DIR/<family>/<phase>.log; records the command in the family's report. Returns
 * 0 if it exited with status 0; else the family is marked failed with the child's error line. */
static int run(struct fam *fm, const char *phase, const char *what, const char *detail, struct args *a,
               const char *out_path) {
  char log[4200], rel[4200];
  snprintf(log, sizeof log, "%s/%s.log", fm->dir, phase);
  snprintf(rel, sizeof rel, "%s/%s.log", fm->f->name, phase);
  phase_no++;
  fprintf(stderr, "[%d/%d] %s %s%s...", phase_no, phase_total, what, fm->f->name, detail);
  fflush(stderr);
  a->v[a->n] = NULL;
  char *argv0 = a->v[0];
  a->v[0] = "/proc/self/exe";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out_path)
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  else
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  double t0 = nn_now();
  pid_t pid;
  int err = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, a->v, environ), status = 0;
  posix_spawn_file_actions_destroy(&fa);
  a->v[0] = argv0;
  if (!err)
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  double secs = nn_now() - t0;
  int rc = err ? 127 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  cJSON *c = cJSON_CreateObject();
  char *cmd = args_str(a);
  cJSON_AddStringToObject(c, "phase", phase);
  cJSON_AddStringToObject(c, "command", cmd ? cmd : "");
  cJSON_AddNumberToObject(c, "rc", rc);
  cJSON_AddNumberToObject(c, "seconds", round(secs * 100) / 100);
  cJSON_AddStringToObject(c, "log", rel);
  cJSON_AddItemToArray(fm->commands, c);
  free(cmd);
  if (rc) {
    if (err)
      snprintf(fm->error, sizeof fm->error, "%s: cannot start /proc/self/exe: %s", phase, strerror(err));
    else {
      char e[512];
      log_error(log, e, sizeof e);
      snprintf(fm->error, sizeof fm->error, "%s: %s", phase, e);
    }
    fm->failed = 1;
    fprintf(stderr, " failed after %.1f s: %s\n", secs, fm->error);
  } else {
    fprintf(stderr, " done (%.1f s)\n", secs);
  }
  args_free(a);
  return rc;
}

/* Starts a command line: vkgen VERB FAMILY, with --device if one was given. */
static void start(struct args *a, const struct opts *o, const char *verb, const struct fam *fm) {
  a->n = 0;
  arg(a, "vkgen");
  arg(a, "%s", verb);
  arg(a, "%s", fm->f->name);
  if (o->c.device) arg(a, "--device"), arg(a, "%s", o->c.device);
}

/* Parses a child's JSON standard output; NULL (and the family failed) if it printed none. */
static cJSON *child_json(struct fam *fm, const char *path, const char *phase) {
  char *t = read_text(path, NULL);
  cJSON *j = t ? cJSON_Parse(t) : NULL;
  free(t);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    fm->failed = 1;
    snprintf(fm->error, sizeof fm->error, "%s: printed no JSON object (see %s)", phase, path);
    return NULL;
  }
  return j;
}

static void add_file(struct fam *fm, const char *what, const char *name) {
  char rel[4200];
  snprintf(rel, sizeof rel, "%s/%s", fm->f->name, name);
  cJSON_AddStringToObject(fm->files, what, rel);
}

// ---- the phases of one family ----

static int n_fid(const struct opts *o) { return o->quick ? 20 : 1000; }

static void train(struct fam *fm, const struct opts *o) {
  struct args a = {0};
  start(&a, o, "train", fm);
  arg(&a, "--out"), arg(&a, "%s/train", fm->dir);
  arg(&a, "--seed"), arg(&a, "1");
  arg(&a, "--log-every"), arg(&a, "10");
  if (o->steps) arg(&a, "--steps"), arg(&a, "%ld", o->steps);
  if (o->budget > 0) arg(&a, "--steps"), arg(&a, "1000000000"), arg(&a, "--minutes"), arg(&a, "%g", o->budget);
  if (o->limit) arg(&a, "--limit"), arg(&a, "%ld", o->limit);
  char detail[128];
  if (o->budget > 0)
    snprintf(detail, sizeof detail, " (budget %g min)", o->budget);
  else
    snprintf(detail, sizeof detail, " (%ld steps)", o->steps);
  run(fm, "train", "training", detail, &a, NULL);
  snprintf(fm->weights, sizeof fm->weights, "%s/train/%s.safetensors", fm->dir, fm->f->name);
}

static void evaluate(struct fam *fm, const struct opts *o) {
  struct args a = {0};
  start(&a, o, "eval", fm);
  arg(&a, "--weights"), arg(&a, "%s", fm->weights);
  arg(&a, "--json");
  const char *n = fm->f->name;
  if (!strcmp(n, "gan")) {
    arg(&a, "-n"), arg(&a, "%d", n_fid(o));
  } else if (!strcmp(n, "vae")) { /* -n: test images for the ELBO and images for FID */
    arg(&a, "-n"), arg(&a, "%d", n_fid(o));
  } else if (!strcmp(n, "pixelcnn")) {
    arg(&a, "-n"), arg(&a, "%d", o->quick ? 20 : 1000);
    arg(&a, "--fid"), arg(&a, "%d", n_fid(o));
  } else if (!strcmp(n, "flow")) {
    arg(&a, "-n"), arg(&a, "%d", o->quick ? 20 : 1000);
    arg(&a, "--fid-n"), arg(&a, "%d", n_fid(o));
  } else if (!strcmp(fm->f->modality, "text")) {
    arg(&a, "-n"), arg(&a, "%d", o->quick ? 4 : 16);
    arg(&a, "--val-tokens"), arg(&a, "%d", o->quick ? 512 : 16384);
  } else if (!strcmp(n, "wavenet")) {
    arg(&a, "-n"), arg(&a, "%d", o->quick ? 2 : 100);
  }
  char out[4200];
  snprintf(out, sizeof out, "%s/eval.json", fm->dir);
  if (!run(fm, "eval", "evaluating", "", &a, out) && (fm->eval = child_json(fm, out, "eval")))
    cJSON_AddItemToObject(fm->obj, "eval", fm->eval);
}

static void sample(struct fam *fm, const struct opts *o) {
  struct args a = {0};
  start(&a, o, "sample", fm);
  arg(&a, "--weights"), arg(&a, "%s", fm->weights);
  arg(&a, "--seed"), arg(&a, "1");
  char out[4200];
  const char *mod = fm->f->modality;
  if (!strcmp(mod, "image")) {
    /* PixelCNN draws every sub-pixel in turn: fewer images. */
    int n = o->quick || !strcmp(fm->f->name, "pixelcnn") ? 16 : 64;
    snprintf(out, sizeof out, "%s/samples.png", fm->dir);
    arg(&a, "-n"), arg(&a, "%d", n), arg(&a, "-o"), arg(&a, "%s", out);
    if (!strcmp(fm->f->name, "gan") || !strcmp(fm->f->name, "vae")) arg(&a, "--cols"), arg(&a, "%d", n == 16 ? 4 : 8);
    if (!run(fm, "sample", "sampling", "", &a, NULL)) add_file(fm, "samples", "samples.png");
  } else if (!strcmp(mod, "text")) {
    snprintf(out, sizeof out, "%s/samples.txt", fm->dir);
    arg(&a, "-n"), arg(&a, "%d", o->quick ? 32 : 200), arg(&a, "--batch"), arg(&a, "3");
    if (!run(fm, "sample", "sampling", "", &a, out)) add_file(fm, "samples_text", "samples.txt");
  } else {
    snprintf(out, sizeof out, "%s/sample.wav", fm->dir);
    arg(&a, "--seconds"), arg(&a, "%s", o->quick ? "0.1" : "2"), arg(&a, "-o"), arg(&a, "%s", out);
    if (!run(fm, "sample", "sampling", "", &a, NULL)) add_file(fm, "audio", "sample.wav");
  }
}

static void bench(struct fam *fm, const struct opts *o) {
  struct args a = {0};
  start(&a, o, "bench", fm);
  arg(&a, "--weights"), arg(&a, "%s", fm->weights);
  arg(&a, "--json");
  if (!strcmp(fm->f->modality, "text") && o->quick)
    arg(&a, "--quick");
  else
    arg(&a, "--steps"), arg(&a, "%d", o->quick ? 1 : 3);
  char out[4200];
  snprintf(out, sizeof out, "%s/bench.json", fm->dir);
  if (!run(fm, "bench", "timing", "", &a, out) && (fm->bench = child_json(fm, out, "bench")))
    cJSON_AddItemToObject(fm->obj, "bench", fm->bench);
}

// ---- what is computed here ----

/* Parameters in the weights file (every tensor's elements). */
static double count_params(const char *path) {
  vkg_st *st;
  if (vkg_st_open(path, &st)) return NAN;
  double n = 0;
  for (int i = 0; i < vkg_st_count(st); i++) {
    int64_t shape[8];
    int nd = vkg_st_shape(st, i, shape);
    double e = 1;
    for (int d = 0; d < nd; d++)
      e *= (double)shape[d];
    n += e;
  }
  vkg_st_close(st);
  return n;
}

/* The loss curves of the family's training (metrics.jsonl) against steps and against wall time. */
static void loss_plots(struct fam *fm) {
  char path[4200];
  snprintf(path, sizeof path, "%s/train/metrics.jsonl", fm->dir);
  char *t = read_text(path, NULL);
  if (!t) return;
  enum { MAXC = 4 };
  char names[MAXC][32];
  int nc = 0, cap = 0, n[MAXC + 1] = {0};
  double *step[MAXC + 1] = {0}, *time[MAXC + 1] = {0}, *y[MAXC + 1] = {0}, last_time = NAN;
  for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
    cJSON *j = cJSON_Parse(line);
    double s = num(j, "step"), tm = num(j, "time");
    if (isfinite(tm)) last_time = tm;
    for (cJSON *it = j ? j->child : NULL; it; it = it->next) {
      int k = -1;
      if (!strcmp(it->string, "val_loss"))
        k = MAXC; /* dots */
      else if (!strncmp(it->string, "loss", 4)) {
        for (k = 0; k < nc && strcmp(names[k], it->string); k++) {
        }
        if (k == nc && nc < MAXC) snprintf(names[nc++], sizeof names[0], "%s", it->string);
        if (k == MAXC) k = -1;
      }
      if (k < 0 || !cJSON_IsNumber(it)) continue;
      if (n[k] >= cap || !step[k]) {
        cap = cap ? cap : 1024;
        while (n[k] >= cap)
          cap *= 2;
        for (int q = 0; q <= MAXC; q++) {
          step[q] = realloc(step[q], sizeof(double) * cap);
          time[q] = realloc(time[q], sizeof(double) * cap);
          y[q] = realloc(y[q], sizeof(double) * cap);
        }
      }
      step[k][n[k]] = s, time[k][n[k]] = k == MAXC ? last_time : tm, y[k][n[k]++] = it->valuedouble;
    }
    cJSON_Delete(j);
  }
  free(t);
  struct nn_curve cs[MAXC + 1], ct[MAXC + 1];
  int m = 0;
  for (int k = 0; k <= MAXC; k++) {
    if (!n[k]) continue;
    const char *label = k == MAXC ? "val_loss" : names[k];
    cs[m] = (struct nn_curve){label, n[k], step[k], y[k], k == MAXC};
    ct[m++] = (struct nn_curve){label, n[k], time[k], y[k], k == MAXC};
  }
  if (m) {
    snprintf(path, sizeof path, "%s/loss_steps.png", fm->dir);
    if (!nn_plot_x(path, cs, m, "step")) add_file(fm, "loss_steps", "loss_steps.png");
    snprintf(path, sizeof path, "%s/loss_time.png", fm->dir);
    if (!nn_plot_x(path, ct, m, "seconds")) add_file(fm, "loss_time", "loss_time.png");
    /* The last training loss, for the tables. */
    put_num(fm->obj, "final_loss", y[0] ? y[0][n[0] - 1] : NAN);
    put_num(fm->obj, "train_seconds", n[0] ? time[0][n[0] - 1] : NAN);
  }
  for (int q = 0; q <= MAXC; q++)
    free(step[q]), free(time[q]), free(y[q]);
}

/* The first NEAREST samples of the grid beside their nearest training images (Euclidean distance in
 * pixel space), and for reference the same distance for NEAREST test images, which no model saw: a
 * sample much closer to a training image than test images are is a copy. */
static void nearest(struct fam *fm) {
  char path[4200];
  snprintf(path, sizeof path, "%s/samples.png", fm->dir);
  struct vkg_images grid = {0}, train = {0}, test = {0};
  if (vkg_image_load(path, &grid)) return;
  const int S = 28, GAP = 2, D = S * S;
  int cols = (grid.w - GAP) / (S + GAP), rows = (grid.h - GAP) / (S + GAP);
  int k = cols * rows < NEAREST ? cols * rows : NEAREST;
  float *q = malloc(sizeof *q * 2 * (size_t)NEAREST * D), *pairs = malloc(sizeof *pairs * 2 * (size_t)NEAREST * D);
  if (k < 1 || !q || !pairs || nn_image_data_load(NULL, S, 1, 0, 0, &train, &test)) goto done;
  for (int i = 0; i < k; i++) /* channel 0: the grid of a grey model is grey */
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++)
        q[(size_t)i * D + y * S + x] =
            grid.pixels[(size_t)(GAP + (i / cols) * (S + GAP) + y) * grid.w + GAP + (i % cols) * (S + GAP) + x];
  memcpy(q + (size_t)k * D, test.pixels, sizeof *q * (size_t)k * D);
  int idx[2 * NEAREST];
  double dist[2 * NEAREST], ds = 0, dt = 0;
  fid_nearest(q, 2 * k, train.pixels, train.n, D, idx, dist);
  for (int i = 0; i < k; i++) {
    memcpy(pairs + (size_t)(2 * i) * D, q + (size_t)i * D, sizeof *q * D);
    memcpy(pairs + (size_t)(2 * i + 1) * D, train.pixels + (size_t)idx[i] * D, sizeof *q * D);
    ds += dist[i] / k, dt += dist[k + i] / k;
  }
  snprintf(path, sizeof path, "%s/nearest.png", fm->dir);
  if (!vkg_png_grid(path, pairs, 2 * k, 1, S, S, 2)) {
    add_file(fm, "nearest", "nearest.png");
    put_num(fm->obj, "nearest_train_distance", ds);
    put_num(fm->obj, "nearest_train_distance_test", dt);
  }
done:
  free(q), free(pairs);
  vkg_images_free(&grid), vkg_images_free(&train), vkg_images_free(&test);
}

/* The 10th .wav file (sorted by name) of the English speech, for the real spectrogram. */
static int real_clip(char *out, size_t n) {
  struct dirent **list;
  int k = scandir(VKG_SPEECH_EN_DIR, &list, NULL, alphasort), found = 0, seen = 0;
  for (int i = 0; i < k; i++) {
    size_t l = strlen(list[i]->d_name);
    if (!found && l > 4 && !strcmp(list[i]->d_name + l - 4, ".wav") && ++seen == 10) {
      snprintf(out, n, "%s/%s", VKG_SPEECH_EN_DIR, list[i]->d_name);
      found = 1;
    }
    free(list[i]);
  }
  if (k >= 0) free(list);
  return found;
}

static void spectrograms(struct fam *fm) {
  char wav[4200], png[4200];
  snprintf(wav, sizeof wav, "%s/sample.wav", fm->dir);
  struct vkg_audio a = {0};
  int rate = 8000;
  if (!vkg_wav_load(wav, 0, &a)) {
    rate = a.rate;
    snprintf(png, sizeof png, "%s/spectrogram_generated.png", fm->dir);
    if (!nn_spectrogram_write(png, a.samples, a.n)) add_file(fm, "spectrogram_generated", "spectrogram_generated.png");
    vkg_audio_free(&a);
  }
  if (real_clip(wav, sizeof wav) && !vkg_wav_load(wav, rate, &a)) {
    snprintf(png, sizeof png, "%s/spectrogram_real.png", fm->dir);
    if (!nn_spectrogram_write(png, a.samples, a.n)) {
      add_file(fm, "spectrogram_real", "spectrogram_real.png");
      cJSON_AddStringToObject(fm->obj, "real_clip", wav);
    }
    vkg_audio_free(&a);
  }
}

// ---- the family's numbers for the tables ----

/* Sampling images/s at the largest batch timed (wall time where the bench gives both). */
static double bench_images_per_s(const cJSON *b, int *batch) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(b, "sampling"), *e, *best = NULL;
  cJSON_ArrayForEach(e, s) if (!best || num(e, "batch") > num(best, "batch")) best = e;
  if (!best) return NAN;
  *batch = (int)num(best, "batch");
  double w = num(best, "wall_images_per_s");
  return isfinite(w) ? w : num(best, "images_per_s");
}

static void summarize(struct fam *fm) {
  cJSON *s = cJSON_AddObjectToObject(fm->obj, "summary");
  const cJSON *e = fm->eval, *b = fm->bench;
  const char *n = fm->f->name, *mod = fm->f->modality;
  if (!strcmp(mod, "image")) {
    put_num(s, "fid", num(e, "fid"));
    put_num(s, "fid_floor", num(e, "fid_floor"));
    put_num(s, "precision", num(e, "precision"));
    put_num(s, "recall", num(e, "recall"));
    put_num(s, "precision_floor", num(e, "precision_floor"));
    put_num(s, "recall_floor", num(e, "recall_floor"));
    /* bits/dim: PixelCNN's exact; the flow's a dequantization bound; the VAE's negative ELBO over
     * 784 pixels in bits, a bound under its Bernoulli likelihood of [0, 1] pixels (another model of the
     * data than the 256-level one of the other two). */
    double bpd = NAN;
    const char *kind = NULL;
    if (!strcmp(n, "pixelcnn")) bpd = num(e, "bits_per_dim"), kind = "exact (256 levels)";
    if (!strcmp(n, "flow")) bpd = num(e, "bits_per_dim"), kind = "bound (dequantized, 256 levels)";
    if (!strcmp(n, "vae")) bpd = num(e, "neg_elbo_nats") / (784 * log(2.0)), kind = "bound (ELBO, Bernoulli pixels)";
    put_num(s, "bits_per_dim", bpd);
    if (kind) cJSON_AddStringToObject(s, "bits_per_dim_kind", kind);
    int batch = 0;
    put_num(s, "sampling_images_per_s", bench_images_per_s(b, &batch));
    if (batch) cJSON_AddNumberToObject(s, "sampling_batch", batch);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "training");
    double ips = num(t, "images_per_s");
    if (!isfinite(ips)) ips = num(t, "steps_per_s") * num(t, "batch");
    put_num(s, "training_images_per_s", ips);
  } else if (!strcmp(mod, "text")) {
    put_num(s, "val_loss", num(e, "val_loss"));
    put_num(s, "perplexity", num(e, "val_ppl"));
    put_num(s, "bleu", num(e, "bleu"));
    put_num(s, "self_bleu", num(e, "self_bleu"));
    put_num(s, "decode_tokens_per_s_b1", num(b, "decode_tokens_per_s_b1"));
    put_num(s, "decode_tokens_per_s_b16", num(b, "decode_tokens_per_s_b16"));
    put_num(s, "training_tokens_per_s", num(b, "train_tokens_per_s"));
  } else {
    put_num(s, "bits_per_sample", num(e, "nll_bits_per_sample"));
    const cJSON *rtf = cJSON_GetObjectItemCaseSensitive(b, "real_time_factor");
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(b, "generation_samples_per_s");
    put_num(s, "real_time_factor", num(rtf, "1"));
    put_num(s, "real_time_factor_b16", num(rtf, "16"));
    put_num(s, "generation_samples_per_s", num(gen, "1"));
    put_num(s, "training_samples_per_s", num(b, "training_samples_per_s"));
  }
}

static void run_family(struct fam *fm, const struct opts *o) {
  char buf[4096];
  snprintf(fm->dir, sizeof fm->dir, "%s/%s", o->out, fm->f->name);
  fm->obj = cJSON_CreateObject();
  cJSON_AddStringToObject(fm->obj, "name", fm->f->name);
  cJSON_AddStringToObject(fm->obj, "modality", fm->f->modality);
  fm->commands = cJSON_AddArrayToObject(fm->obj, "commands");
  fm->files = cJSON_AddObjectToObject(fm->obj, "files");
  if (mkdir(fm->dir, 0755) && errno != EEXIST) {
    fm->failed = 1;
    snprintf(fm->error, sizeof fm->error, "cannot create '%s': %s", fm->dir, strerror(errno));
  }
  const char *w = NULL;
  if (!fm->failed && (o->budget > 0 || o->steps)) {
    train(fm, o);
    if (!fm->failed) loss_plots(fm);
  } else if (!fm->failed && o->weights_dir) {
    snprintf(fm->weights, sizeof fm->weights, "%s/%s.safetensors", o->weights_dir, fm->f->name);
    if (access(fm->weights, R_OK))
      fm->failed = 1, snprintf(fm->error, sizeof fm->error, "no weights '%s'", fm->weights);
  } else if (!fm->failed) {
    /* The shipped weights (cli_weights prints why there are none: that goes to this run's output). */
    if ((w = cli_weights(fm->f->name, NULL, buf, sizeof buf)))
      snprintf(fm->weights, sizeof fm->weights, "%s", w);
    else
      fm->failed = 1, snprintf(fm->error, sizeof fm->error, "no shipped weights %s.safetensors", fm->f->name);
  }
  if (!fm->failed) {
    cJSON_AddStringToObject(fm->obj, "weights", fm->weights);
    put_num(fm->obj, "params", count_params(fm->weights));
    evaluate(fm, o);
  }
  if (!fm->failed) sample(fm, o);
  if (!fm->failed) bench(fm, o);
  if (!fm->failed && !strcmp(fm->f->modality, "image")) nearest(fm);
  if (!fm->failed && !strcmp(fm->f->modality, "audio")) spectrograms(fm);
  if (!fm->failed) summarize(fm);
  /* Phases skipped after a failure still count, so the numbering ends at the total. */
  int per = o->budget > 0 || o->steps ? 4 : 3;
  phase_no += per - cJSON_GetArraySize(fm->commands);
  cJSON_AddStringToObject(fm->obj, "status", fm->failed ? "failed" : "ok");
  if (fm->failed) cJSON_AddStringToObject(fm->obj, "error", fm->error);
}

// ---- the report ----

/* A growing string. */
struct sb {
  char *s;
  size_t n, cap;
  int oom;
};
static void sb_put(struct sb *b, const char *t, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = 2 * (b->n + n + 1) + 4096;
    char *p = realloc(b->s, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->s = p, b->cap = cap;
  }
  memcpy(b->s + b->n, t, n);
  b->s[b->n += n] = 0;
}
static void sb(struct sb *b, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void sb(struct sb *b, const char *f, ...) {
  va_list a;
  va_start(a, f);
  char *t = NULL;
  int n = vasprintf(&t, f, a);
  va_end(a);
  if (n < 0)
    b->oom = 1;
  else
    sb_put(b, t, (size_t)n);
  free(t);
}
/* Text for HTML (element content and attribute values). */
static void sb_html(struct sb *b, const char *t) {
  for (; *t; t++) {
    const char *e = *t == '<' ? "&lt;" : *t == '>' ? "&gt;" : *t == '&' ? "&amp;" : *t == '"' ? "&quot;" : NULL;
    if (e)
      sb_put(b, e, strlen(e));
    else
      sb_put(b, t, 1);
  }
}

/* The source tree's commit, if the program runs from a build of a git checkout. */
static void source_commit(char *out, size_t n) {
  snprintf(out, n, "unknown");
#ifdef VKGEN_SOURCE_ASSETS
  char cmd[4400];
  snprintf(cmd, sizeof cmd,
           "cd '%s/..' 2>/dev/null && git rev-parse --short=12 HEAD 2>/dev/null && "
           "(git diff --quiet HEAD 2>/dev/null || echo modified)",
           VKGEN_SOURCE_ASSETS);
  FILE *p = popen(cmd, "r");
  if (!p) return;
  char a[64] = "", b[64] = "";
  if (fgets(a, sizeof a, p)) {
    a[strcspn(a, "\n")] = 0;
    if (fgets(b, sizeof b, p)) b[strcspn(b, "\n")] = 0;
    if (*a) snprintf(out, n, "%s%s", a, *b ? " (with uncommitted changes)" : "");
  }
  pclose(p);
#endif
}

/* A table cell's number: "-" when missing. */
static const char *cell(char *buf, size_t n, double v, const char *f) {
  if (!isfinite(v)) return "-";
  snprintf(buf, n, f, v);
  return buf;
}

/* The columns of the three tables: a label and the summary key with its format. */
struct col {
  const char *label, *key, *fmt;
};
static const struct col image_cols[] = {{"params", "params", "%.0f"},
                                        {"FID", "fid", "%.2f"},
                                        {"FID floor", "fid_floor", "%.2f"},
                                        {"precision", "precision", "%.3f"},
                                        {"recall", "recall", "%.3f"},
                                        {"bits/dim", "bits_per_dim", "%.3f"},
                                        {"sampling images/s", "sampling_images_per_s", "%.1f"},
                                        {"training images/s", "training_images_per_s", "%.1f"},
                                        {0}};
static const struct col text_cols[] = {{"params", "params", "%.0f"},
                                       {"val loss (nats/byte)", "val_loss", "%.4f"},
                                       {"perplexity", "perplexity", "%.3f"},
                                       {"BLEU-4", "bleu", "%.4f"},
                                       {"self-BLEU-4", "self_bleu", "%.4f"},
                                       {"decoding tokens/s (batch 1)", "decode_tokens_per_s_b1", "%.1f"},
                                       {"decoding tokens/s (batch 16)", "decode_tokens_per_s_b16", "%.1f"},
                                       {"training tokens/s", "training_tokens_per_s", "%.1f"},
                                       {0}};
static const struct col audio_cols[] = {{"params", "params", "%.0f"},
                                        {"bits/sample", "bits_per_sample", "%.4f"},
                                        {"real-time factor (batch 1)", "real_time_factor", "%.3f"},
                                        {"generation samples/s", "generation_samples_per_s", "%.1f"},
                                        {"training samples/s", "training_samples_per_s", "%.1f"},
                                        {0}};

static double fam_value(const struct fam *fm, const char *key) {
  double v = num(fm->obj, key);
  return isfinite(v) ? v : num(cJSON_GetObjectItemCaseSensitive(fm->obj, "summary"), key);
}

/* One modality's table in Markdown and HTML; returns the number of families in it. */
static int tables(struct sb *md, struct sb *html, const struct fam *fams, int nf, const char *mod,
                  const struct col *cols) {
  int n = 0;
  for (int i = 0; i < nf; i++)
    n += !strcmp(fams[i].f->modality, mod);
  if (!n) return 0;
  sb(md, "| family |");
  sb(html, "<table><tr><th>family</th>");
  for (const struct col *c = cols; c->label; c++) {
    sb(md, " %s |", c->label);
    sb(html, "<th>%s</th>", c->label);
  }
  sb(md, " status |\n|---|");
  sb(html, "<th>status</th></tr>\n");
  for (const struct col *c = cols; c->label; c++)
    sb(md, "---:|");
  sb(md, "---|\n");
  for (int i = 0; i < nf; i++) {
    const struct fam *fm = &fams[i];
    if (strcmp(fm->f->modality, mod)) continue;
    sb(md, "| %s |", fm->f->name);
    sb(html, "<tr><td>%s</td>", fm->f->name);
    for (const struct col *c = cols; c->label; c++) {
      char buf[64];
      const char *v = cell(buf, sizeof buf, fam_value(fm, c->key), c->fmt);
      sb(md, " %s |", v);
      sb(html, "<td class=\"num\">%s</td>", v);
    }
    sb(md, " %s |\n", fm->failed ? "failed" : "ok");
    sb(html, "<td class=\"%s\">%s</td></tr>\n", fm->failed ? "bad" : "ok", fm->failed ? "failed" : "ok");
  }
  sb(md, "\n");
  sb(html, "</table>\n");
  return n;
}

static const char *file_of(const struct fam *fm, const char *what) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(fm->files, what);
  return cJSON_IsString(f) ? f->valuestring : NULL;
}

/* A picture in both reports, if the family has it. */
static void picture(struct sb *md, struct sb *html, const struct fam *fm, const char *what, const char *caption) {
  const char *f = file_of(fm, what);
  if (!f) return;
  sb(md, "![%s: %s](%s)\n\n", fm->f->name, caption, f);
  sb(html, "<figure><img src=\"");
  sb_html(html, f);
  sb(html, "\" alt=\"%s: %s\"><figcaption>%s: %s</figcaption></figure>\n", fm->f->name, caption, fm->f->name, caption);
}

static void failures(struct sb *md, struct sb *html, const struct fam *fams, int nf, const char *mod) {
  for (int i = 0; i < nf; i++)
    if (fams[i].failed && (!mod || !strcmp(fams[i].f->modality, mod))) {
      sb(md, "- **%s failed**: %s\n", fams[i].f->name, fams[i].error);
      sb(html, "<p class=\"bad\"><b>%s failed</b>: ", fams[i].f->name);
      sb_html(html, fams[i].error);
      sb(html, "</p>\n");
    }
  sb(md, "\n");
}

static int write_report(const struct opts *o, struct fam *fams, int nf, const struct vkg_device_info *dev,
                        double seconds) {
  char commit[128], path[4200];
  source_commit(commit, sizeof commit);
  char driver[64];
  snprintf(driver, sizeof driver, "%u.%u.%u (0x%08x)", VK_API_VERSION_MAJOR(dev->driver_version),
           VK_API_VERSION_MINOR(dev->driver_version), VK_API_VERSION_PATCH(dev->driver_version), dev->driver_version);
  char api[32];
  snprintf(api, sizeof api, "%u.%u.%u", VK_API_VERSION_MAJOR(dev->api_version), VK_API_VERSION_MINOR(dev->api_version),
           VK_API_VERSION_PATCH(dev->api_version));
  const char *mode = o->budget > 0    ? "trained (time budget)"
                     : o->steps       ? "trained (steps)"
                     : o->weights_dir ? "weights"
                                      : "shipped weights";
  char how[256];
  if (o->budget > 0)
    snprintf(how, sizeof how, "each family trained for %g minute(s) from scratch%s", o->budget,
             o->limit ? " on a subset" : "");
  else if (o->steps)
    snprintf(how, sizeof how, "each family trained for %ld steps from scratch%s", o->steps,
             o->limit ? " on a subset" : "");
  else if (o->weights_dir)
    snprintf(how, sizeof how, "the weights in %s", o->weights_dir);
  else
    snprintf(how, sizeof how, "the shipped weights (assets/)");

  // ---- report.json ----
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "vkgen", vkg_version());
  cJSON_AddStringToObject(root, "commit", commit);
  cJSON *d = cJSON_AddObjectToObject(root, "device");
  cJSON_AddStringToObject(d, "name", dev->name);
  cJSON_AddStringToObject(d, "type", dev->type ? dev->type : "other");
  cJSON_AddStringToObject(d, "vulkan", api);
  cJSON_AddStringToObject(d, "driver", driver);
  cJSON_AddNumberToObject(d, "memory_bytes", (double)dev->device_memory);
  cJSON_AddStringToObject(root, "mode", mode);
  if (o->budget > 0) cJSON_AddNumberToObject(root, "budget_minutes", o->budget);
  if (o->steps) cJSON_AddNumberToObject(root, "steps", (double)o->steps);
  if (o->limit) cJSON_AddNumberToObject(root, "limit", (double)o->limit);
  cJSON_AddBoolToObject(root, "quick", o->quick);
  cJSON_AddStringToObject(root, "command", o->cmdline);
  cJSON_AddNumberToObject(root, "seconds", round(seconds * 10) / 10);
  cJSON *arr = cJSON_AddArrayToObject(root, "families");
  for (int i = 0; i < nf; i++)
    cJSON_AddItemReferenceToArray(arr, fams[i].obj);
  char *js = cJSON_Print(root);
  cJSON_Delete(root);
  snprintf(path, sizeof path, "%s/report.json", o->out);
  vkg_status st = js ? vkg__write_file(path, js, strlen(js)) : vkg__fail(VKG_ERR_OOM, "out of host memory");
  free(js);
  if (st) return cli_vkg_error("compare: writing the report");

  // ---- report.md and index.html, section by section ----
  struct sb md = {0}, html = {0};
  sb(&md, "# vkgen compare\n\n%s, on %s (%s, Vulkan %s, driver %s, %.1f GiB device memory); vkgen %s, commit %s.\n\n",
     how, dev->name, dev->type ? dev->type : "other", api, driver, dev->device_memory / 1073741824.0, vkg_version(),
     commit);
  if (o->quick) sb(&md, "**--quick**: small evaluation sets; the numbers are rough.\n\n");
  sb(&html, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vkgen compare</title>\n<style>\n"
            "body{font-family:sans-serif;margin:2em;max-width:70em;color:#222}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em}"
            "th{background:#eee}td.num{text-align:right;font-family:monospace}.bad{color:#b00}.ok{color:#070}"
            "figure{display:inline-block;margin:.5em;vertical-align:top}img{image-rendering:pixelated;max-width:100%%}"
            "pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap}code{background:#f6f6f6}\n"
            "</style></head><body>\n<h1>vkgen compare</h1>\n<p>");
  sb_html(&html, how);
  sb(&html, ", on <b>");
  sb_html(&html, dev->name);
  sb(&html, "</b> (%s, Vulkan %s, driver %s, %.1f GiB device memory); vkgen %s, commit %s.</p>\n",
     dev->type ? dev->type : "other", api, driver, dev->device_memory / 1073741824.0, vkg_version(), commit);
  if (o->quick) sb(&html, "<p><b>--quick</b>: small evaluation sets; the numbers are rough.</p>\n");

  /* Images */
  sb(&md, "## Images (Fashion-MNIST)\n\n");
  sb(&html, "<section id=\"images\"><h2>Images (Fashion-MNIST)</h2>\n");
  if (tables(&md, &html, fams, nf, "image", image_cols)) {
    const char *note =
        "FID: samples against as many test images, on the features of vkgen's Fashion-MNIST classifier; the "
        "floor is training images against the same test images (what a perfect generator would get). Precision "
        "and recall: the k-nearest-neighbour manifolds (k = 3) of the test and generated images in the same "
        "features (Kynkaanniemi et al. 2019). bits/dim: PixelCNN's is exact, the flow's a dequantization bound, "
        "the VAE's its negative ELBO in bits over 784 pixels under a Bernoulli likelihood of [0, 1] pixels (a bound "
        "for another model of the data: not comparable with the other two). Sampling images/s at the largest batch "
        "timed; training images/s of the training step. Nearest: the first samples (left) beside their nearest "
        "training images in pixel space (right).";
    sb(&md, "%s\n\n", note);
    sb(&html, "<p>%s</p>\n", note);
    for (int i = 0; i < nf; i++) {
      const struct fam *fm = &fams[i];
      if (strcmp(fm->f->modality, "image") || fm->failed) continue;
      sb(&md, "### %s\n\n", fm->f->name);
      sb(&html, "<h3>%s</h3>\n", fm->f->name);
      double ds = num(fm->obj, "nearest_train_distance"), dt = num(fm->obj, "nearest_train_distance_test");
      if (isfinite(ds)) {
        sb(&md, "Mean distance of the samples shown to their nearest training image: %.3f (test images: %.3f).\n\n", ds,
           dt);
        sb(&html,
           "<p>Mean distance of the samples shown to their nearest training image: %.3f (test images: %.3f).</p>\n", ds,
           dt);
      }
      picture(&md, &html, fm, "samples", "samples");
      picture(&md, &html, fm, "nearest", "samples | nearest training images");
    }
  }
  failures(&md, &html, fams, nf, "image");
  sb(&html, "</section>\n");

  /* Text */
  sb(&md, "## Text (fortunes)\n\n");
  sb(&html, "<section id=\"text\"><h2>Text (fortunes)</h2>\n");
  if (tables(&md, &html, fams, nf, "text", text_cols)) {
    const char *note = "Held-out fortunes (every 20th): loss in nats per byte and perplexity per token; BLEU-4 of "
                       "sampled continuations against the rest of held-out fortunes, and self-BLEU-4 of those "
                       "continuations (lower: more diverse).";
    sb(&md, "%s\n\n", note);
    sb(&html, "<p>%s</p>\n", note);
    for (int i = 0; i < nf; i++) {
      const struct fam *fm = &fams[i];
      const char *f = file_of(fm, "samples_text");
      if (strcmp(fm->f->modality, "text") || !f) continue;
      snprintf(path, sizeof path, "%s/%s", o->out, f);
      size_t n;
      char *t = read_text(path, &n);
      if (!t) continue;
      if (n > 1500) t[1500] = 0; /* a look, not the whole file */
      sb(&md, "### %s samples\n\n", fm->f->name);
      for (char *line = t, *next; line && *line; line = next) { /* indented: a code block whatever the text */
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        sb(&md, "    %s\n", line);
      }
      sb(&md, "\n");
      free(t);
      t = read_text(path, &n);
      if (t && n > 1500) t[1500] = 0;
      sb(&html, "<h3>%s samples</h3>\n<pre>", fm->f->name);
      if (t) sb_html(&html, t);
      sb(&html, "</pre>\n");
      free(t);
    }
  }
  failures(&md, &html, fams, nf, "text");
  sb(&html, "</section>\n");

  /* Audio */
  sb(&md, "## Audio (speech)\n\n");
  sb(&html, "<section id=\"audio\"><h2>Audio (speech)</h2>\n");
  if (tables(&md, &html, fams, nf, "audio", audio_cols)) {
    const char *note = "Bits per sample: the test set's negative log-likelihood of the 256 mu-law classes. Real-time "
                       "factor: seconds of audio generated per second (above 1: faster than real time).";
    sb(&md, "%s\n\n", note);
    sb(&html, "<p>%s</p>\n", note);
    for (int i = 0; i < nf; i++) {
      const struct fam *fm = &fams[i];
      if (strcmp(fm->f->modality, "audio") || fm->failed) continue;
      const char *wav = file_of(fm, "audio");
      if (wav) {
        sb(&md, "Generated clip: [%s](%s)\n\n", wav, wav);
        sb(&html, "<p>Generated clip: <audio controls src=\"");
        sb_html(&html, wav);
        sb(&html, "\"></audio></p>\n");
      }
      picture(&md, &html, fm, "spectrogram_generated", "spectrogram of the generated clip");
      picture(&md, &html, fm, "spectrogram_real", "spectrogram of real speech");
    }
  }
  failures(&md, &html, fams, nf, "audio");
  sb(&html, "</section>\n");

  /* Loss curves */
  sb(&md, "## Training curves\n\n");
  sb(&html, "<section id=\"curves\"><h2>Training curves</h2>\n");
  int curves = 0;
  for (int i = 0; i < nf; i++) {
    const struct fam *fm = &fams[i];
    if (!file_of(fm, "loss_steps")) continue;
    curves++;
    double ts = num(fm->obj, "train_seconds");
    char buf[64], buf2[64];
    sb(&md, "### %s (final loss %s, %s s of training)\n\n", fm->f->name,
       cell(buf, sizeof buf, num(fm->obj, "final_loss"), "%.4f"), cell(buf2, sizeof buf2, ts, "%.1f"));
    sb(&html, "<h3>%s</h3>\n", fm->f->name);
    picture(&md, &html, fm, "loss_steps", "loss against steps");
    picture(&md, &html, fm, "loss_time", "loss against wall time");
  }
  if (!curves) {
    const char *none = "No training in this run (the weights were evaluated as they are).";
    sb(&md, "%s\n\n", none);
    sb(&html, "<p>%s</p>\n", none);
  }
  sb(&html, "</section>\n");

  /* Reproduce */
  sb(&md, "## Reproduce\n\n    %s\n\nThe commands it ran (outputs and logs in each family's directory):\n\n",
     o->cmdline);
  sb(&html, "<section id=\"reproduce\"><h2>Reproduce</h2>\n<pre>");
  sb_html(&html, o->cmdline);
  sb(&html, "</pre>\n<p>The commands it ran (outputs and logs in each family's directory):</p>\n<table>"
            "<tr><th>family</th><th>command</th><th>exit</th><th>seconds</th><th>log</th></tr>\n");
  for (int i = 0; i < nf; i++) {
    const cJSON *c;
    cJSON_ArrayForEach(c, fams[i].commands) {
      const char *cmd = cJSON_GetObjectItemCaseSensitive(c, "command")->valuestring;
      const char *log = cJSON_GetObjectItemCaseSensitive(c, "log")->valuestring;
      sb(&md, "    %s    # exit %.0f, %.1f s\n", cmd, num(c, "rc"), num(c, "seconds"));
      sb(&html, "<tr><td>%s</td><td><code>", fams[i].f->name);
      sb_html(&html, cmd);
      sb(&html, "</code></td><td class=\"num\">%.0f</td><td class=\"num\">%.1f</td><td><a href=\"", num(c, "rc"),
         num(c, "seconds"));
      sb_html(&html, log);
      sb(&html, "\">log</a></td></tr>\n");
    }
  }
  sb(&md, "\nTotal: %.1f s. Machine-readable: report.json.\n", seconds);
  sb(&html,
     "</table>\n<p>Total: %.1f s. Machine-readable: <a href=\"report.json\">report.json</a>, also "
     "<a href=\"report.md\">report.md</a>.</p>\n</section>\n</body></html>\n",
     seconds);

  if (md.oom || html.oom) st = vkg__fail(VKG_ERR_OOM, "out of host memory");
  snprintf(path, sizeof path, "%s/report.md", o->out);
  if (!st) st = vkg__write_file(path, md.s, md.n);
  snprintf(path, sizeof path, "%s/index.html", o->out);
  if (!st) st = vkg__write_file(path, html.s, html.n);
  free(md.s), free(html.s);
  return st ? cli_vkg_error("compare: writing the report") : 0;
}

static const char *all_families = "gan,vae,pixelcnn,flow,gpt,lstm,gru,wavenet";

int cmd_compare(int argc, char **argv) {
  struct opts o = {.families = all_families};
  const struct cli_opt opts[] = {
      {"-o", CLI_STR, &o.out, 0, 0, "the report's directory (new, or empty)", " DIR"},
      {"--budget", CLI_NUM, &o.budget, 0.001, 10000, "train each family for this many minutes", " MINUTES"},
      {"--steps", CLI_INT, &o.steps, 1, 1000000000, "train each family for N steps"},
      {"--families", CLI_STR, &o.families, 0, 0, "which families, comma-separated (default: all)", " LIST"},
      {"--weights", CLI_STR, &o.weights_dir, 0, 0, "evaluate DIR/<family>.safetensors instead of the shipped weights",
       " DIR"},
      {"--limit", CLI_INT, &o.limit, 1, 100000000, "train on only the first N examples"},
      {"--quick", CLI_FLAG, &o.quick, 0, 0, "small evaluation sets (a smoke test; the numbers are rough)"},
      {0}};
  int r = cli_parse(argc, argv, "compare",
                    "usage: vkgen compare [--budget MINUTES | --steps N] [--families LIST] [--weights DIR] -o DIR\n\n"
                    "Every family side by side: trains each under the same budget (--budget or --steps; without\n"
                    "them, evaluates the shipped weights or those in --weights DIR), evaluates it with the shared\n"
                    "metrics, samples it, times it on this device, and writes DIR/index.html (works offline),\n"
                    "DIR/report.md and DIR/report.json. Each step runs as its own vkgen command, with its output\n"
                    "in DIR/<family>/; a family that fails is reported and the others go on.\n",
                    opts, &o.c, NULL, NULL);
  if (r) return r < 0;
  if (!o.out) {
    cli_error("compare: -o DIR is required (the report's directory)");
    fputs("hint: vkgen compare --budget 2 -o report\n", stderr);
    return 1;
  }
  if (o.budget > 0 && o.steps) return cli_error("compare: give --budget or --steps, not both");
  if (o.weights_dir && (o.budget > 0 || o.steps))
    return cli_error("compare: --weights evaluates existing weights; leave out --budget and --steps");
  if (o.limit && !(o.budget > 0 || o.steps))
    return cli_error("compare: --limit limits training: add --budget or --steps");
  /* The families, checked before anything runs. */
  struct fam fams[16];
  int nf = 0;
  char *list = strdup(o.families);
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    const struct cli_family *f = cli_family_find(tok);
    int dup = 0;
    for (int i = 0; i < nf; i++)
      dup |= f && fams[i].f == f;
    if (!f || !strcmp(tok, "classifier") || dup || nf == 16) {
      cli_error(!f || !strcmp(tok, "classifier") ? "compare: --families: no family '%s'"
                                                 : "compare: --families: '%s' is given twice (or too many)",
                tok);
      fprintf(stderr, "hint: families: %s\n", all_families);
      free(list);
      return 1;
    }
    memset(&fams[nf], 0, sizeof fams[nf]);
    fams[nf++].f = f;
  }
  free(list);
  if (!nf) {
    cli_error("compare: --families is empty");
    fprintf(stderr, "hint: families: %s\n", all_families);
    return 1;
  }
  if (strlen(o.out) > 1500) return cli_error("compare: the -o path is too long (%zu bytes)", strlen(o.out));
  if (!cli_out_dir_ok(o.out)) return 1;
  struct stat sbuf;
  if (!stat(o.out, &sbuf) && !(S_ISDIR(sbuf.st_mode) && is_empty_dir(o.out))) {
    cli_error("compare: '%s' exists and is not an empty directory", o.out);
    fputs("hint: give -o a new directory (the report never overwrites another run)\n", stderr);
    return 1;
  }
  /* The device, as the children will see it. */
  vkg_ctx *ctx = cli_ctx(&o.c);
  if (!ctx) return 1;
  struct vkg_device_info dev = *vkg_ctx_device(ctx);
  if (cli_ctx_done(ctx, 0)) return 1;
  if (mkdir(o.out, 0755) && errno != EEXIST)
    return cli_error("compare: cannot create '%s': %s", o.out, strerror(errno));
  /* The command line, for the report. */
  struct args all = {0};
  arg(&all, "vkgen");
  for (int i = 0; i < argc; i++)
    arg(&all, "%s", argv[i]);
  char *cmdline = args_str(&all);
  args_free(&all);
  o.cmdline = cmdline;
  phase_total = nf * (o.budget > 0 || o.steps ? 4 : 3);
  double t0 = nn_now();
  for (int i = 0; i < nf; i++)
    run_family(&fams[i], &o);
  int failed = 0;
  for (int i = 0; i < nf; i++)
    failed += fams[i].failed;
  int rc = write_report(&o, fams, nf, &dev, nn_now() - t0);
  for (int i = 0; i < nf; i++)
    cJSON_Delete(fams[i].obj);
  free(cmdline);
  if (!rc)
    fprintf(stderr, "wrote %s/index.html, %s/report.md and %s/report.json (%d of %d families ok)\n", o.out, o.out,
            o.out, nf - failed, nf);
  /* The report is whole either way; the exit status says whether every family went through. */
  for (int i = 0; i < nf && !rc; i++)
    if (fams[i].failed) {
      rc =
          cli_error("compare: %d of %d families failed, the first: %s: %s", failed, nf, fams[i].f->name, fams[i].error);
      fputs("hint: each failure is in the report with its command and log\n", stderr);
    }
  return rc;
}
