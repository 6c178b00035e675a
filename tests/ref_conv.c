#include "ref_conv.h"

#include <stdlib.h>

int ref_conv_out(int in, int k, int stride, int pad, int dil) { return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1; }

int ref_conv_transpose_out(int in, int k, int stride, int pad, int dil, int out_pad) {
  return (in - 1) * stride - 2 * pad + dil * (k - 1) + out_pad + 1;
}

void ref_conv2d(float *out, const float *x, const float *w, const float *bias, int B, int C, int H, int W, int O,
                int KH, int KW, int OH, int OW, int stride_h, int stride_w, int pad_t, int pad_l, int dil_h,
                int dil_w, int groups) {
  int Cg = C / groups, Og = O / groups;
  for (int b = 0; b < B; b++)
    for (int o = 0; o < O; o++) {
      int g = o / Og;
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          double s = bias ? bias[o] : 0.0;
          for (int c = 0; c < Cg; c++) {
            int ci = g * Cg + c;
            for (int kh = 0; kh < KH; kh++) {
              int ih = oh * stride_h - pad_t + kh * dil_h;
              if (ih < 0 || ih >= H) continue;
              for (int kw = 0; kw < KW; kw++) {
                int iw = ow * stride_w - pad_l + kw * dil_w;
                if (iw < 0 || iw >= W) continue;
                s += (double)x[(((size_t)b * C + ci) * H + ih) * W + iw] *
                     w[(((size_t)o * Cg + c) * KH + kh) * KW + kw];
              }
            }
          }
          out[(((size_t)b * O + o) * OH + oh) * OW + ow] = (float)s;
        }
    }
}

void ref_conv_transpose2d(float *out, const float *x, const float *w, const float *bias, int B, int C, int H,
                          int W, int O, int KH, int KW, int OH, int OW, int stride_h, int stride_w, int pad_h,
                          int pad_w, int dil_h, int dil_w, int groups) {
  int Cg = C / groups, Og = O / groups;
  size_t n = (size_t)B * O * OH * OW;
  double *acc = calloc(n ? n : 1, sizeof *acc);
  if (!acc) abort();
  for (int b = 0; b < B; b++)
    for (int o = 0; o < O; o++)
      for (size_t p = 0; p < (size_t)OH * OW; p++) acc[((size_t)b * O + o) * OH * OW + p] = bias ? bias[o] : 0.0;
  /* Each input element adds its products to every output position its taps land on. */
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++) {
      int g = c / Cg;
      for (int ih = 0; ih < H; ih++)
        for (int iw = 0; iw < W; iw++) {
          double v = x[(((size_t)b * C + c) * H + ih) * W + iw];
          for (int ol = 0; ol < Og; ol++) {
            int o = g * Og + ol;
            for (int kh = 0; kh < KH; kh++) {
              int oh = ih * stride_h - pad_h + kh * dil_h;
              if (oh < 0 || oh >= OH) continue;
              for (int kw = 0; kw < KW; kw++) {
                int ow = iw * stride_w - pad_w + kw * dil_w;
                if (ow < 0 || ow >= OW) continue;
                acc[(((size_t)b * O + o) * OH + oh) * OW + ow] += v * w[(((size_t)c * Og + ol) * KH + kh) * KW + kw];
              }
            }
          }
        }
    }
  for (size_t i = 0; i < n; i++) out[i] = (float)acc[i];
  free(acc);
}
