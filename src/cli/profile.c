/* vkgen profile FAMILY [train|sample]: GPU time of every dispatch of a family's training step or of its
 * sampling (a text family's decoding, an image family's sampling), grouped by op and shader, with
 * FLOPs, bytes and the dispatches, barriers and submissions per unit of work (vkg_profile_start). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "internal.h" /* vkg__write_file: the trace is written atomically */
#include "models/lm.h"
#include "nn/progress.h"
#include "nn/step.h"

/* One unit of work, run again and again: a training step, a decoder submission or a sampling call. */
struct prof_job {
  vkg_status (*run)(struct prof_job *j);
  double units;     /* units per run (tokens of a submission, images of a call, 1 step) */
  const char *unit; /* "training step", "token", ... */
  struct nn_step st;
  uint32_t *idx;
  long step;
  struct lm_decoder *dec;
  struct lm_sampling sp;
  struct nn_model *m;
  const struct nn_family_ops *ops;
  int images;
  float *im;
};

static vkg_status run_train(struct prof_job *j) {
  vkg_status s = nn_step_run(&j->st, j->idx, 1e-4f, ++j->step, 1);
  return s ? s : nn_step_wait(&j->st);
}

static vkg_status run_decode(struct prof_job *j) {
  struct lm_decoder *d = j->dec;
  if (d->pos + d->unroll >= d->max_len) { /* the context is full: start over from one token */
    int32_t first = 0;
    vkg_status s = lm_decoder_start(d, &first, 1, 0, &j->sp);
    if (s) return s;
  }
  return lm_decoder_step(d);
}

static vkg_status run_images(struct prof_job *j) { return j->ops->sample_images(j->m, j->images, 1, j->im); }

// ---- the table ----

struct prof_group {
  char op[32], shader[64];
  double count, ms, flops, bytes;
};

static int by_time(const void *pa, const void *pb) {
  const struct prof_group *a = pa, *b = pb;
  if (a->ms != b->ms) return a->ms < b->ms ? 1 : -1;
  if (a->count != b->count) return a->count < b->count ? 1 : -1;
  int c = strcmp(a->op, b->op);
  return c ? c : strcmp(a->shader, b->shader);
}

/* Groups p's dispatches by op and shader (sorted by time, then count); *n groups. */
static struct prof_group *group(const struct vkg_profile *p, int *n) {
  struct prof_group *gr = calloc((size_t)p->ndispatches + 1, sizeof *gr);
  *n = 0;
  for (int i = 0; gr && i < p->ndispatches; i++) {
    const struct vkg_profile_dispatch *d = &p->d[i];
    int k = 0;
    while (k < *n && (strcmp(gr[k].op, d->op) || strcmp(gr[k].shader, d->shader)))
      k++;
    if (k == *n) {
      snprintf(gr[k].op, sizeof gr[k].op, "%s", d->op);
      snprintf(gr[k].shader, sizeof gr[k].shader, "%s", d->shader);
      (*n)++;
    }
    gr[k].count++;
    gr[k].ms += d->ms > 0 ? d->ms : 0;
    gr[k].flops += d->flops;
    gr[k].bytes += d->bytes;
  }
  if (gr) qsort(gr, (size_t)*n, sizeof *gr, by_time);
  return gr;
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++)
    if (*s == '"' || *s == '\\')
      fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s >= 0x20)
      fputc(*s, f);
  fputc('"', f);
}

/* Chrome trace-event JSON: one complete event ("ph": "X") per dispatch, microseconds, one thread per
 * graph; written atomically. */
static vkg_status write_trace(const char *path, const struct vkg_profile *p) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  fputs("{\"displayTimeUnit\": \"ms\", \"traceEvents\": [", f);
  for (int i = 0; i < p->ndispatches; i++) {
    const struct vkg_profile_dispatch *d = &p->d[i];
    const struct vkg_profile_run *r = &p->runs[d->run];
    fprintf(f, "%s\n{\"name\": ", i ? "," : "");
    json_str(f, d->op);
    fputs(", \"cat\": ", f);
    json_str(f, d->shader);
    fprintf(f,
            ", \"ph\": \"X\", \"pid\": 1, \"tid\": %d, \"ts\": %.3f, \"dur\": %.3f, \"args\": {\"run\": %d, "
            "\"index\": %d, \"groups\": [%u, %u, %u], \"flops\": %.0f, \"bytes\": %.0f}}",
            r->graph + 1, d->start_ms * 1e3, d->ms * 1e3, d->run, d->index, d->groups[0], d->groups[1], d->groups[2],
            d->flops, d->bytes);
  }
  fputs("\n]}\n", f);
  if (fclose(f)) {
    free(buf);
    return vkg__fail(VKG_ERR_OOM, "out of host memory");
  }
  vkg_status s = vkg__write_file(path, buf, len);
  free(buf);
  return s;
}

/* Prints the profile of `runs` runs of j (measured: wall ms per unit of the same runs unprofiled). */
static void report(const char *family, const char *what, const struct prof_job *j, long runs,
                   const struct vkg_profile *p, double measured, const char *device, int json) {
  double units = j->units * (double)runs, gpu = 0, barriers = 0, sum = 0;
  for (int i = 0; i < p->nruns; i++) {
    gpu += p->runs[i].ms > 0 ? p->runs[i].ms : 0;
    barriers += p->runs[i].barriers;
  }
  int n;
  struct prof_group *gr = group(p, &n);
  for (int k = 0; k < n; k++)
    sum += gr[k].ms;
  gpu /= units, sum /= units;
  double per_d = p->ndispatches / units, per_b = barriers / units, per_s = p->nruns / units;
  if (json) {
    printf("{\"device\": ");
    json_str(stdout, device);
    printf(", \"model\": \"%s\", \"what\": \"%s\", \"unit\": \"%s\", \"units\": %.0f, \"timestamps\": %s, "
           "\"measured_ms\": %.6f, \"gpu_ms\": %.6f, \"dispatch_ms\": %.6f, \"dispatches\": %.3f, \"barriers\": %.3f, "
           "\"submissions\": %.4f, \"groups\": [",
           family, what, j->unit, units, p->timestamps ? "true" : "false", measured, gpu, sum, per_d, per_b, per_s);
    for (int k = 0; k < n; k++) {
      const struct prof_group *g = &gr[k];
      double ms = g->ms / units;
      printf("%s\n  {\"op\": ", k ? "," : "");
      json_str(stdout, g->op);
      printf(", \"shader\": ");
      json_str(stdout, g->shader);
      printf(", \"count\": %.3f, \"total_ms\": %.6f, \"mean_ms\": %.6f, \"share\": %.5f, \"flops\": %.0f, "
             "\"bytes\": %.0f, \"gflops\": %.4f, \"gbs\": %.4f}",
             g->count / units, ms, g->ms / g->count, gpu > 0 ? ms / gpu : 0, g->flops / units, g->bytes / units,
             g->ms > 0 ? g->flops / (g->ms * 1e6) : 0, g->ms > 0 ? g->bytes / (g->ms * 1e6) : 0);
    }
    printf("\n]}\n");
    free(gr);
    return;
  }
  printf("device: %s\n%s %s: %.0f %s%s profiled (%ld runs)\n", device, family, what, units, j->unit,
         units == 1 ? "" : "s", runs);
  printf("per %s: %.2f dispatches, %.2f barriers, %.3f submissions; %.3f ms measured (wall, unprofiled)\n", j->unit,
         per_d, per_b, per_s, measured);
  if (!p->timestamps) {
    printf("note: this device's queue has no timestamps: counts only, no times\n");
  } else
    printf("GPU time per %s: %.3f ms profiled (dispatches one at a time), of which dispatches %.3f ms (%.1f%%)\n",
           j->unit, gpu, sum, gpu > 0 ? 100 * sum / gpu : 0);
  printf("%-22s %-24s %8s %10s %10s %7s %10s %10s %9s %8s\n", "op", "shader", "count", "total ms", "mean ms", "share",
         "MFLOP", "MB", "GFLOP/s", "GB/s");
  for (int k = 0; k < n; k++) {
    const struct prof_group *g = &gr[k];
    double ms = g->ms / units;
    char fl[32] = "-", gf[32] = "-";
    if (g->flops > 0) {
      snprintf(fl, sizeof fl, "%.3f", g->flops / units / 1e6);
      if (g->ms > 0) snprintf(gf, sizeof gf, "%.2f", g->flops / (g->ms * 1e6));
    }
    if (p->timestamps)
      printf("%-22s %-24s %8.2f %10.4f %10.4f %6.1f%% %10s %10.3f %9s %8.2f\n", g->op, g->shader, g->count / units, ms,
             g->ms / g->count, gpu > 0 ? 100 * ms / gpu : 0, fl, g->bytes / units / 1e6, gf,
             g->ms > 0 ? g->bytes / (g->ms * 1e6) : 0);
    else
      printf("%-22s %-24s %8.2f %10s %10s %7s %10s %10.3f %9s %8s\n", g->op, g->shader, g->count / units, "-", "-", "-",
             fl, g->bytes / units / 1e6, "-", "-");
  }
  if (p->timestamps)
    printf("%-22s %-24s %8s %10.4f %10s %6.1f%%\n", "(between dispatches)", "barriers, copies", "", gpu - sum, "",
           gpu > 0 ? 100 * (gpu - sum) / gpu : 0);
  free(gr);
}

// ---- the command ----

int cmd_profile(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    FILE *out = argc < 2 ? stderr : stdout;
    fputs("usage: vkgen profile FAMILY [train|sample] [--batch N] [--runs N] [--unroll K] [--json] [--trace FILE]\n\n"
          "Times every dispatch of a family's training step (train, the default) or its sampling (sample: a text\n"
          "family's decoding, an image family's sampling) with GPU timestamps, and prints them grouped by op and\n"
          "shader: count, total and mean ms, share of the step, FLOPs and bytes, GFLOP/s and GB/s, with the\n"
          "dispatches, barriers and submissions per training step, generated token or image. Run\n"
          "'vkgen profile FAMILY --help' for the options. Families: every one for train; sample: the text\n"
          "families and the image families with a sampling hook (gan, vae, flow).\n",
          out);
    return argc < 2 ? 2 : 0;
  }
  const char *family = argv[1];
  const struct cli_family *f = cli_family_find(family);
  int text = f && !strcmp(f->modality, "text");
  if (!f || (!text && !(f->ops && f->ops->create))) {
    cli_error("profile: no profile for the model '%s'", family);
    fputs("hint: models:", stderr);
    for (int i = 0; (f = cli_family_at(i)); i++)
      if (!strcmp(f->modality, "text") || (f->ops && f->ops->create)) fprintf(stderr, " %s", f->name);
    fputc('\n', stderr);
    return 1;
  }
  const char *what = "train";
  int a0 = 1; /* argv[a0] is the family; options follow */
  if (argc > 2 && argv[2][0] != '-') {
    what = argv[2];
    a0 = 2;
    if (strcmp(what, "train") && strcmp(what, "sample"))
      return cli_error("profile %s: say 'train' or 'sample', not '%s'", family, what);
  }
  int sample = !strcmp(what, "sample");
  if (sample && !text && !f->ops->sample_images) return cli_error("profile: the %s model cannot be sampled", family);
  struct cli_common c = {0};
  long batch = sample ? 1 : f->batch, runs = 3, unroll = 8;
  const char *trace = NULL, *weights = NULL;
  char cmd[64], usage[512];
  snprintf(cmd, sizeof cmd, "profile %s", family);
  snprintf(usage, sizeof usage,
           "usage: vkgen profile %s [train|sample] [options] [architecture]\n\n"
           "Per-dispatch GPU times of %s's %s, grouped by op and shader (see 'vkgen profile --help').\n",
           family, family, sample ? "sampling" : "training step");
  const struct cli_opt opts[] = {
      {"--batch", CLI_INT, &batch, 1, 65536, "training batch, or rows (images) sampled at once"},
      {"--runs", CLI_INT, &runs, 1, 1000, "profiled runs (training steps, decoder submissions, sampling calls)"},
      {"--unroll", CLI_INT, &unroll, 1, 64, "decoding steps per submission (text families)"},
      {"--weights", CLI_STR, &weights, 0, 0, "text families: these weights (default: the shipped model if any)",
       " FILE"},
      {"--trace", CLI_STR, &trace, 0, 0, "also write Chrome trace-event JSON (one event per dispatch) to FILE",
       " FILE"},
      {0}};
  struct lm_config lcfg = text ? lm_config_default(family) : (struct lm_config){0};
  void *cfg = text ? (void *)&lcfg : calloc(1, f->cfg->size);
  if (!cfg) return cli_error("out of host memory");
  if (!text) nn_cfg_defaults(f->cfg, cfg);
  int r = cli_parse(argc - a0, argv + a0, cmd, usage, opts, &c, f->cfg, cfg);
  int arch = cli_arch_given(f->cfg, argc - a0, argv + a0);
  if (!r && text && arch && !weights) nn_cfg_derive(f->cfg, cfg, argc - a0, argv + a0);
  if (r || nn_cfg_check(f->cfg, cfg)) {
    if (!text) free(cfg);
    return r ? r < 0 : cli_vkg_error(cmd);
  }
  if (weights && !text) {
    free(cfg);
    return cli_error("profile %s: --weights is for the text families (gpt, lstm, gru)", family);
  }
  if (trace && !cli_out_dir_ok(trace)) {
    if (!text) free(cfg);
    return 1;
  }
  vkg_ctx *ctx = cli_ctx(&c);
  if (!ctx) {
    if (!text) free(cfg);
    return 1;
  }
  struct prof_job j = {0};
  struct lm *lm = NULL;
  vkg_status s = VKG_OK;
  char buf[4096], file[64];
  if (text) {
    snprintf(file, sizeof file, "%s.safetensors", family);
    if (!weights && !arch && cli_asset(file, buf, sizeof buf)) weights = buf;
    s = weights ? lm_load(ctx, weights, family, &lm) : lm_create(ctx, &lcfg, NULL, 1, &lm);
  }
  if (!s && sample && text) {
    s = lm_decoder_create(lm, (int)batch, lm->cfg.context, (int)unroll, 0, &j.dec);
    j.sp = (struct lm_sampling){.temperature = 1, .top_p = 1, .seed = 1};
    int32_t first = 0;
    if (!s) s = lm_decoder_start(j.dec, &first, 1, 0, &j.sp);
    j.run = run_decode, j.units = (double)unroll, j.unit = batch == 1 ? "token" : "decoding step";
  } else if (!s) {
    struct nn_create_opts o = {.batch = (int)batch, .seed = 1, .synthetic = (int)batch};
    struct lm_train_opts lo = {.batch = (int)batch, .synthetic = (int)batch};
    s = text ? lm_model_create(lm, &lo, &j.m) : f->ops->create(ctx, cfg, &o, &j.m);
    j.ops = f->ops;
    if (!s && sample) {
      int ch, h, w;
      f->ops->image_shape(j.m, &ch, &h, &w);
      j.images = (int)batch;
      j.im = malloc(sizeof *j.im * (size_t)batch * ch * h * w);
      if (!j.im) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
      j.run = run_images, j.units = (double)batch, j.unit = "image";
    } else if (!s) {
      struct cli_train t;
      cli_train_defaults(&t, j.m->name);
      struct vkg_optim_desc od = vkg_optim_desc_default(t.optim);
      od.beta1 = (float)t.beta1;
      od.clip_norm = (float)t.clip;
      s = nn_step_create(j.m, &od, 1, &j.st);
      j.idx = s ? NULL : malloc(sizeof *j.idx * (size_t)j.m->batch);
      for (int i = 0; j.idx && i < j.m->batch; i++)
        j.idx[i] = (uint32_t)i;
      if (!s && !j.idx) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
      j.run = run_train, j.units = 1, j.unit = "training step";
    }
  }
  /* A warm-up run, the same runs unprofiled (wall time), then profiled. */
  double measured = 0;
  struct vkg_profile p = {0};
  if (!s) s = j.run(&j);
  if (!s) {
    double t0 = nn_now();
    for (long k = 0; k < runs && !s; k++)
      s = j.run(&j);
    measured = (nn_now() - t0) * 1e3 / (j.units * (double)runs);
  }
  if (!s) s = vkg_profile_start(ctx);
  if (!s) {
    for (long k = 0; k < runs && !s; k++)
      s = j.run(&j);
    vkg_status s2 = vkg_profile_stop(ctx, &p);
    if (!s) s = s2;
  }
  int rc = 0;
  if (!s && trace && !p.timestamps) {
    rc = cli_error("profile: this device's queue has no timestamps: no trace to write to '%s'", trace);
  } else if (!s && trace)
    s = write_trace(trace, &p);
  if (s)
    rc = cli_vkg_error(cmd);
  else if (!rc)
    report(family, what, &j, runs, &p, measured, vkg_ctx_device(ctx)->name, c.json);
  if (!rc && trace && !c.json) printf("wrote %s (%d trace events)\n", trace, p.ndispatches);
  vkg_profile_free(&p);
  if (j.dec) lm_decoder_destroy(j.dec);
  if (j.st.m) nn_step_destroy(&j.st);
  free(j.idx);
  free(j.im);
  if (j.m) (text ? lm_model_destroy : f->ops->destroy)(j.m);
  if (lm) lm_destroy(lm);
  if (!text) free(cfg);
  return cli_ctx_done(ctx, rc);
}
