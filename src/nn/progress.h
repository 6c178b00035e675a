/* Progress of anything that can run longer than a couple of seconds (training, sampling, FID): once
 * 2 seconds have passed, at the first step after that, a bar with the rate and the time left on a
 * terminal (redrawn at most 5 times a second), or on a log (stderr not a terminal) a plain line, then
 * one every 10 seconds and one at the end, so logs stay readable. Work done within 2 seconds shows
 * nothing (the environment variable VKGEN_PROGRESS_AFTER sets another delay in seconds; 0 shows
 * progress of any length, as tests do). A caller can force a draw at the next update by setting .last to -1e30
 * (training does at its first step and at each loss read-back). Everything goes to stderr. */
#ifndef VKGEN_PROGRESS_H
#define VKGEN_PROGRESS_H

struct nn_progress {
  char what[48], unit[16];
  long total, done;
  double t0, last;
  long done0;           /* done at start (a resumed run): the rate counts only this run's work */
  int tty, quiet, open; /* open: a bar is drawn on the current terminal line */
  int shown;            /* something was drawn (work under 2 seconds shows nothing) */
};
/* Starts counting `total` units of `unit` ("steps", "images") from `done` (0 unless resuming). */
void nn_progress_start(struct nn_progress *p, const char *what, long done, long total, const char *unit, int quiet);
/* Sets the count done; draws if it is time to. extra (may be NULL) is
 * shown after the rate, e.g. the loss. */
void nn_progress_update(struct nn_progress *p, long done, const char *extra);
/* Ends the bar's line on a terminal before other output (a later update draws it again). */
void nn_progress_break(struct nn_progress *p);
/* The final state (done == total, or where it stopped), then a newline. */
void nn_progress_end(struct nn_progress *p, const char *extra);
/* Seconds as m:ss or XhYYm ("?" if not finite). */
void nn_fmt_time(char *buf, unsigned long n, double seconds);
double nn_now(void); /* monotonic seconds */
#endif
