/* Progress bars and progress lines (see progress.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nn/progress.h"

double nn_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void nn_fmt_time(char *buf, unsigned long n, double s) {
  if (!isfinite(s) || s < 0)
    snprintf(buf, n, "?");
  else if (s < 3600)
    snprintf(buf, n, "%d:%02d", (int)s / 60, (int)s % 60);
  else
    snprintf(buf, n, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

void nn_progress_start(struct nn_progress *p, const char *what, long done, long total, const char *unit, int quiet) {
  memset(p, 0, sizeof *p);
  snprintf(p->what, sizeof p->what, "%s", what);
  snprintf(p->unit, sizeof p->unit, "%s", unit);
  p->total = total > 0 ? total : 1;
  p->done = p->done0 = done;
  p->t0 = nn_now();
  p->tty = isatty(2);
  /* Nothing for work done within 2 seconds (VKGEN_PROGRESS_AFTER: another delay, 0 to always show). */
  const char *env = getenv("VKGEN_PROGRESS_AFTER");
  double after = env && *env ? atof(env) : 2.0;
  p->last = p->t0 - (p->tty ? 0.2 : 10.0) + (after >= 0 ? after : 2.0);
  p->quiet = quiet;
}

static void draw(struct nn_progress *p, const char *extra, int final) {
  double el = nn_now() - p->t0, rate = (double)(p->done - p->done0) / (el > 1e-9 ? el : 1e-9);
  char eta[32], rs[48], one[16];
  snprintf(one, sizeof one, "%s", p->unit); /* "step" from "steps", for "12.5 s/step" */
  size_t l = strlen(one);
  if (l > 1 && one[l - 1] == 's') one[l - 1] = 0;
  if (p->done == p->done0)
    snprintf(rs, sizeof rs, "- %s/s", p->unit);
  else if (rate >= 1)
    snprintf(rs, sizeof rs, "%.1f %s/s", rate, p->unit);
  else
    snprintf(rs, sizeof rs, "%.1f s/%s", 1 / rate, one);
  if (final)
    nn_fmt_time(eta, sizeof eta, el);
  else
    nn_fmt_time(eta, sizeof eta, p->done > p->done0 ? (double)(p->total - p->done) / rate : NAN);
  const char *x = extra ? extra : "", *sep = *x ? "  " : "";
  if (p->tty) {
    enum { W = 24 };
    int filled = (int)(W * (double)p->done / (double)p->total);
    char bar[W + 1];
    for (int i = 0; i < W; i++)
      bar[i] = i < filled ? '#' : '.';
    bar[W] = 0;
    fprintf(stderr, "\r\033[K%s [%s] %ld/%ld %s%s%s  %s  %s %s", p->what, bar, p->done, p->total, p->unit, sep, x, rs,
            final ? "took" : "ETA", eta);
    p->open = !final;
    if (final) fputc('\n', stderr);
    p->shown = 1;
  } else {
    fprintf(stderr, "%s: %ld/%ld %s%s%s  %s  %s %s\n", p->what, p->done, p->total, p->unit, sep, x, rs,
            final ? "took" : "ETA", eta);
    p->shown = 1;
  }
  fflush(stderr);
}

void nn_progress_update(struct nn_progress *p, long done, const char *extra) {
  p->done = done;
  if (p->quiet) return;
  double t = nn_now(), every = p->tty ? 0.2 : 10.0;
  if (t - p->last < every) return;
  p->last = t;
  draw(p, extra, 0);
}

void nn_progress_break(struct nn_progress *p) {
  if (p->open) fputc('\n', stderr), fflush(stderr);
  p->open = 0;
  p->last = -1e30; /* redraw at the next update */
}

void nn_progress_end(struct nn_progress *p, const char *extra) {
  if (p->quiet || !p->shown) return; /* work too short to have shown progress needs no summary */
  draw(p, extra, 1);
}
