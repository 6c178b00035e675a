/* Loss curves as a PNG: each phase's training loss per step (lines) and the validation loss per epoch
 * (dots), on a canvas with axes and numeric tick labels in a small built-in 5x7 font. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image_write.h>

#include "internal.h"
#include "nn/train.h"

enum { W = 720, H = 400, LEFT = 70, RIGHT = 20, TOP = 30, BOTTOM = 40 };

struct canvas {
  uint8_t px[H][W][3];
};

static void dot(struct canvas *c, int x, int y, const uint8_t *rgb) {
  if (x >= 0 && x < W && y >= 0 && y < H) memcpy(c->px[y][x], rgb, 3);
}

static void line(struct canvas *c, int x0, int y0, int x1, int y1, const uint8_t *rgb) {
  int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
  for (;;) { /* Bresenham */
    dot(c, x0, y0, rgb);
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

/* 5x7 glyphs, one byte per row (low 5 bits, bit 4 leftmost), for the characters the plot writes. */
static const struct {
  char ch;
  uint8_t rows[7];
} font[] = {
    {'0', {14, 17, 19, 21, 25, 17, 14}}, {'1', {4, 12, 4, 4, 4, 4, 14}},    {'2', {14, 17, 1, 2, 4, 8, 31}},
    {'3', {30, 1, 1, 14, 1, 1, 30}},     {'4', {2, 6, 10, 18, 31, 2, 2}},   {'5', {31, 16, 30, 1, 1, 17, 14}},
    {'6', {6, 8, 16, 30, 17, 17, 14}},   {'7', {31, 1, 2, 4, 8, 8, 8}},     {'8', {14, 17, 17, 14, 17, 17, 14}},
    {'9', {14, 17, 17, 15, 1, 2, 12}},   {'.', {0, 0, 0, 0, 0, 12, 12}},    {'-', {0, 0, 0, 31, 0, 0, 0}},
    {'e', {0, 0, 14, 17, 31, 16, 14}},   {'a', {0, 0, 14, 1, 15, 17, 15}},  {'i', {4, 0, 12, 4, 4, 4, 14}},
    {'l', {12, 4, 4, 4, 4, 4, 14}},      {'n', {0, 0, 22, 25, 17, 17, 17}}, {'o', {0, 0, 14, 17, 17, 17, 14}},
    {'p', {0, 0, 30, 17, 30, 16, 16}},   {'r', {0, 0, 22, 25, 16, 16, 16}}, {'s', {0, 0, 15, 16, 14, 1, 30}},
    {'t', {8, 8, 28, 8, 8, 9, 6}},       {'v', {0, 0, 17, 17, 17, 10, 4}},  {'k', {16, 16, 18, 20, 24, 20, 18}},
    {'(', {2, 4, 8, 8, 8, 4, 2}},        {')', {8, 4, 2, 2, 2, 4, 8}},      {'d', {1, 1, 13, 19, 17, 19, 13}},
    {'g', {0, 0, 15, 17, 15, 1, 14}},    {'c', {0, 0, 14, 16, 16, 17, 14}}, {'h', {16, 16, 22, 25, 17, 17, 17}},
};

static void text(struct canvas *c, int x, int y, const char *s, const uint8_t *rgb) {
  for (; *s; s++, x += 6)
    for (size_t k = 0; k < sizeof font / sizeof font[0]; k++)
      if (font[k].ch == *s)
        for (int r = 0; r < 7; r++)
          for (int b = 0; b < 5; b++)
            if (font[k].rows[r] & (16 >> b)) dot(c, x + b, y + r, rgb);
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about n ticks over span. */
static double nice_step(double span, int n) {
  double raw = span / n, p = pow(10, floor(log10(raw))), m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

struct png_buf {
  unsigned char *data;
  size_t n, cap;
};
static void png_sink(void *ctx, void *data, int size) {
  struct png_buf *b = ctx;
  if (b->n + (size_t)size > b->cap) {
    b->cap = 2 * (b->n + (size_t)size);
    b->data = realloc(b->data, b->cap);
  }
  memcpy(b->data + b->n, data, (size_t)size);
  b->n += (size_t)size;
}

vkg_status nn_plot(const char *path, const struct nn_curve *curves, int ncurves) {
  return nn_plot_x(path, curves, ncurves, "step");
}

vkg_status nn_plot_x(const char *path, const struct nn_curve *curves, int ncurves, const char *xlabel) {
  struct canvas *c = malloc(sizeof *c);
  if (!c) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  memset(c, 255, sizeof *c);
  static const uint8_t black[3] = {0, 0, 0}, grey[3] = {225, 225, 225};
  static const uint8_t colors[4][3] = {{31, 100, 200}, {200, 40, 40}, {40, 150, 60}, {230, 110, 20}};
  /* Ranges over the finite values of every curve. */
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (int k = 0; k < ncurves; k++)
    for (int i = 0; i < curves[k].n; i++)
      if (isfinite(curves[k].y[i])) {
        x0 = fmin(x0, curves[k].x[i]), x1 = fmax(x1, curves[k].x[i]);
        y0 = fmin(y0, curves[k].y[i]), y1 = fmax(y1, curves[k].y[i]);
      }
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 - x0 < 1) x1 = x0 + 1;
  if (y1 - y0 < 1e-6) y0 -= 0.5, y1 += 0.5;
  double ypad = 0.05 * (y1 - y0);
  y0 -= ypad, y1 += ypad;
  int pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
#define PX(v) (LEFT + (int)lround(((v)-x0) / (x1 - x0) * pw))
#define PY(v) (TOP + ph - (int)lround(((v)-y0) / (y1 - y0) * ph))
  char label[64];
  double ys = nice_step(y1 - y0, 6), xs = nice_step(x1 - x0, 8);
  for (double v = ceil(y0 / ys) * ys; v <= y1; v += ys) {
    line(c, LEFT, PY(v), W - RIGHT, PY(v), grey);
    snprintf(label, sizeof label, "%.4g", fabs(v) < ys * 1e-6 ? 0.0 : v);
    text(c, LEFT - 8 - 6 * (int)strlen(label), PY(v) - 3, label, black);
  }
  for (double v = ceil(x0 / xs) * xs; v <= x1; v += xs) {
    line(c, PX(v), TOP, PX(v), TOP + ph, grey);
    snprintf(label, sizeof label, "%.0f", v);
    text(c, PX(v) - 3 * (int)strlen(label), TOP + ph + 8, label, black);
  }
  line(c, LEFT, TOP, LEFT, TOP + ph, black);
  line(c, LEFT, TOP + ph, W - RIGHT, TOP + ph, black);
  text(c, LEFT + pw / 2 - 3 * (int)strlen(xlabel), H - 14, xlabel, black);
  int lx = LEFT;
  for (int k = 0; k < ncurves; k++) {
    const struct nn_curve *cv = &curves[k];
    const uint8_t *col = colors[k % 4];
    /* Legend: underscores read better as spaces. */
    snprintf(label, sizeof label, "%s", cv->label);
    for (char *q = label; *q; q++)
      if (*q == '_') *q = ' ';
    text(c, lx, 10, label, col);
    lx += 6 * (int)strlen(label) + 18;
    for (int i = 0; i < cv->n; i++) {
      if (!isfinite(cv->y[i])) continue;
      if (cv->dots)
        for (int dy = -2; dy <= 2; dy++)
          for (int dx = -2; dx <= 2; dx++)
            dot(c, PX(cv->x[i]) + dx, PY(cv->y[i]) + dy, col);
      else if (i > 0 && isfinite(cv->y[i - 1]))
        line(c, PX(cv->x[i - 1]), PY(cv->y[i - 1]), PX(cv->x[i]), PY(cv->y[i]), col);
    }
  }
#undef PX
#undef PY
  struct png_buf b = {0};
  int ok = stbi_write_png_to_func(png_sink, &b, W, H, 3, c, W * 3);
  free(c);
  vkg_status s = ok ? vkg__write_file(path, b.data, b.n) : vkg__fail(VKG_ERR_IO, "encoding %s failed", path);
  free(b.data);
  return s;
}
