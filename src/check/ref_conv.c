#include "ref_conv.h"

#include <stdlib.h>

int ref_conv_out(int in, int k, int stride, int pad, int dil) {
  return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

int ref_conv_transpose_out(int in, int k, int stride, int pad, int dil, int out_pad) {
  return (in - 1) * stride - 2 * pad + dil * (k - 1) + out_pad + 1;
}

/* gb[o] += gy summed over batch and pixels; gy (B, O, P). */
static void bias_bwd(double *gb, const double *gy, int B, int O, size_t P) {
  for (int b = 0; b < B; b++)
    for (int o = 0; o < O; o++)
      for (size_t i = 0; i < P; i++)
        gb[o] += gy[((size_t)b * O + o) * P + i];
}

// ---- conv2d ----

/* Visits every product x[xi] * w[wi] that conv2d adds into y[yi], gathering per output element.
 * Forward (y given): y = bias + the sum. Backward (gy given): gx[xi] += gy[yi] * w[wi] and
 * gw[wi] += gy[yi] * x[xi], the two partial derivatives of each product. */
static void conv2d_nest(const struct ref_conv *p, const double *x, const double *w, const double *bias, double *y,
                        const double *gy, double *gx, double *gw) {
  int Cg = p->C / p->groups, Og = p->O / p->groups;
  for (int b = 0; b < p->B; b++)
    for (int o = 0; o < p->O; o++) {
      int g = o / Og;
      for (int oh = 0; oh < p->OH; oh++)
        for (int ow = 0; ow < p->OW; ow++) {
          size_t yi = (((size_t)b * p->O + o) * p->OH + oh) * p->OW + ow;
          double s = bias ? bias[o] : 0.0, d = gy ? gy[yi] : 0.0;
          for (int c = 0; c < Cg; c++) {
            int ci = g * Cg + c;
            for (int kh = 0; kh < p->KH; kh++) {
              int ih = oh * p->stride_h - p->pad_t + kh * p->dil_h;
              if (ih < 0 || ih >= p->H) continue;
              for (int kw = 0; kw < p->KW; kw++) {
                int iw = ow * p->stride_w - p->pad_l + kw * p->dil_w;
                if (iw < 0 || iw >= p->W) continue;
                size_t xi = (((size_t)b * p->C + ci) * p->H + ih) * p->W + iw;
                size_t wi = (((size_t)o * Cg + c) * p->KH + kh) * p->KW + kw;
                s += x[xi] * w[wi];
                if (gx) gx[xi] += d * w[wi];
                if (gw) gw[wi] += d * x[xi];
              }
            }
          }
          if (y) y[yi] = s;
        }
    }
}

void ref_conv2d_f64(double *y, const double *x, const double *w, const double *bias, const struct ref_conv *p) {
  conv2d_nest(p, x, w, bias, y, NULL, NULL, NULL);
}

void ref_conv2d_bwd(double *gx, double *gw, double *gb, const double *gy, const double *x, const double *w,
                    const struct ref_conv *p) {
  if (gx || gw) conv2d_nest(p, x, w, NULL, NULL, gy, gx, gw);
  if (gb) bias_bwd(gb, gy, p->B, p->O, (size_t)p->OH * p->OW);
}

// ---- conv_transpose2d ----

/* Visits every product x[xi] * w[wi] that conv_transpose2d adds into y[yi], scattering each input
 * element to the outputs its taps land on. Forward (y given, already holding the bias): y[yi] +=
 * the product. Backward (gy given): the product's partial derivatives as in conv2d_nest. */
static void convt_nest(const struct ref_conv *p, const double *x, const double *w, double *y, const double *gy,
                       double *gx, double *gw) {
  int Cg = p->C / p->groups, Og = p->O / p->groups;
  for (int b = 0; b < p->B; b++)
    for (int c = 0; c < p->C; c++) {
      int g = c / Cg;
      for (int ih = 0; ih < p->H; ih++)
        for (int iw = 0; iw < p->W; iw++) {
          size_t xi = (((size_t)b * p->C + c) * p->H + ih) * p->W + iw;
          for (int ol = 0; ol < Og; ol++) {
            int o = g * Og + ol;
            for (int kh = 0; kh < p->KH; kh++) {
              int oh = ih * p->stride_h - p->pad_t + kh * p->dil_h;
              if (oh < 0 || oh >= p->OH) continue;
              for (int kw = 0; kw < p->KW; kw++) {
                int ow = iw * p->stride_w - p->pad_l + kw * p->dil_w;
                if (ow < 0 || ow >= p->OW) continue;
                size_t yi = (((size_t)b * p->O + o) * p->OH + oh) * p->OW + ow;
                size_t wi = (((size_t)c * Og + ol) * p->KH + kh) * p->KW + kw;
                if (y) y[yi] += x[xi] * w[wi];
                if (gx) gx[xi] += gy[yi] * w[wi];
                if (gw) gw[wi] += gy[yi] * x[xi];
              }
            }
          }
        }
    }
}

void ref_conv_transpose2d_f64(double *y, const double *x, const double *w, const double *bias,
                              const struct ref_conv *p) {
  size_t P = (size_t)p->OH * p->OW;
  for (int b = 0; b < p->B; b++)
    for (int o = 0; o < p->O; o++)
      for (size_t i = 0; i < P; i++)
        y[((size_t)b * p->O + o) * P + i] = bias ? bias[o] : 0.0;
  convt_nest(p, x, w, y, NULL, NULL, NULL);
}

void ref_conv_transpose2d_bwd(double *gx, double *gw, double *gb, const double *gy, const double *x, const double *w,
                              const struct ref_conv *p) {
  if (gx || gw) convt_nest(p, x, w, NULL, gy, gx, gw);
  if (gb) bias_bwd(gb, gy, p->B, p->O, (size_t)p->OH * p->OW);
}

// ---- float versions of the forwards ----

static double *to_f64(const float *v, size_t n) {
  if (!v) return NULL;
  double *d = malloc((n ? n : 1) * sizeof *d);
  if (!d) abort();
  for (size_t i = 0; i < n; i++)
    d[i] = v[i];
  return d;
}

/* Runs a double forward on float data: x, w and bias converted in, y converted out. */
static void forward_f32(void (*fwd)(double *, const double *, const double *, const double *, const struct ref_conv *),
                        float *out, const float *x, const float *w, const float *bias, size_t wn,
                        const struct ref_conv *p) {
  size_t xn = (size_t)p->B * p->C * p->H * p->W, yn = (size_t)p->B * p->O * p->OH * p->OW;
  double *xd = to_f64(x, xn), *wd = to_f64(w, wn), *bd = to_f64(bias, (size_t)p->O);
  double *yd = malloc((yn ? yn : 1) * sizeof *yd);
  if (!yd) abort();
  fwd(yd, xd, wd, bd, p);
  for (size_t i = 0; i < yn; i++)
    out[i] = (float)yd[i];
  free(xd);
  free(wd);
  free(bd);
  free(yd);
}

void ref_conv2d(float *out, const float *x, const float *w, const float *bias, int B, int C, int H, int W, int O,
                int KH, int KW, int OH, int OW, int stride_h, int stride_w, int pad_t, int pad_l, int dil_h, int dil_w,
                int groups) {
  struct ref_conv p = {B, C, H, W, O, KH, KW, OH, OW, stride_h, stride_w, pad_t, pad_l, dil_h, dil_w, groups};
  forward_f32(ref_conv2d_f64, out, x, w, bias, (size_t)O * (C / groups) * KH * KW, &p);
}

void ref_conv_transpose2d(float *out, const float *x, const float *w, const float *bias, int B, int C, int H, int W,
                          int O, int KH, int KW, int OH, int OW, int stride_h, int stride_w, int pad_h, int pad_w,
                          int dil_h, int dil_w, int groups) {
  struct ref_conv p = {B, C, H, W, O, KH, KW, OH, OW, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups};
  forward_f32(ref_conv_transpose2d_f64, out, x, w, bias, (size_t)C * (O / groups) * KH * KW, &p);
}
