/* Plain-C LSTM and GRU references: the recurrence step by step, in double precision. The backward
 * functions rerun the forward to keep the pre-activations of every step, then walk t down. */
#include "ref_rnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* a (B, G*H) = gx_t + bias + h_prev w^T for one step. */
static void hidden_proj(double *a, const double *gxt, const double *w, const double *bias, const double *hprev, int B,
                        int H, int G) {
  for (int b = 0; b < B; b++)
    for (int j = 0; j < G * H; j++) {
      double s = bias ? bias[j] : 0.0;
      if (hprev)
        for (int k = 0; k < H; k++)
          s += w[(size_t)j * H + k] * hprev[(size_t)b * H + k];
      a[(size_t)b * G * H + j] = s + (gxt ? gxt[(size_t)b * G * H + j] : 0.0);
    }
}

// ---- LSTM ----

/* Forward that also keeps the pre-activations a (T, B, 4H) when a is not NULL. */
static void lstm_run(double *hs, double *cs, double *a, const double *gx, const double *w, const double *bias,
                     const double *h0, const double *c0, int T, int B, int H) {
  size_t G = 4 * (size_t)H, BH = (size_t)B * H;
  double *at = malloc(sizeof *at * (size_t)B * G);
  for (int t = 0; t < T; t++) {
    const double *hp = t > 0 ? hs + (t - 1) * BH : h0, *cp = t > 0 ? cs + (t - 1) * BH : c0;
    hidden_proj(at, gx + t * B * G, w, bias, hp, B, H, 4);
    if (a) memcpy(a + t * B * G, at, sizeof *at * (size_t)B * G);
    for (int b = 0; b < B; b++)
      for (int k = 0; k < H; k++) {
        const double *ab = at + b * G;
        double i = sigm(ab[k]), f = sigm(ab[H + k]), gg = tanh(ab[2 * H + k]), o = sigm(ab[3 * H + k]);
        double c = f * (cp ? cp[b * H + k] : 0.0) + i * gg;
        cs[t * BH + b * H + k] = c;
        hs[t * BH + b * H + k] = o * tanh(c);
      }
  }
  free(at);
}

void ref_lstm_fwd(double *hs, double *cs, const double *gx, const double *w, const double *bias, const double *h0,
                  const double *c0, int T, int B, int H) {
  lstm_run(hs, cs, NULL, gx, w, bias, h0, c0, T, B, H);
}

void ref_lstm_bwd(double *dgx, double *dw, double *dbias, double *dh0, double *dc0, const double *gx, const double *w,
                  const double *bias, const double *h0, const double *c0, const double *dhs, const double *dcs, int T,
                  int B, int H) {
  size_t G = 4 * (size_t)H, BH = (size_t)B * H;
  double *hs = malloc(sizeof(double) * T * BH), *cs = malloc(sizeof(double) * T * BH);
  double *a = malloc(sizeof(double) * T * B * G), *da = malloc(sizeof(double) * B * G);
  double *dh = calloc(BH, sizeof(double)), *dc = calloc(BH, sizeof(double)); /* flowing from step t+1 */
  lstm_run(hs, cs, a, gx, w, bias, h0, c0, T, B, H);
  for (int t = T - 1; t >= 0; t--) {
    const double *hp = t > 0 ? hs + (t - 1) * BH : h0, *cp = t > 0 ? cs + (t - 1) * BH : c0;
    for (int b = 0; b < B; b++)
      for (int k = 0; k < H; k++) {
        const double *ab = a + (t * B + b) * G;
        double i = sigm(ab[k]), f = sigm(ab[H + k]), gg = tanh(ab[2 * H + k]), o = sigm(ab[3 * H + k]);
        double c = cs[t * BH + b * H + k], tc = tanh(c), cprev = cp ? cp[b * H + k] : 0.0;
        double dht = dh[b * H + k] + (dhs ? dhs[t * BH + b * H + k] : 0.0);
        double dct = dc[b * H + k] + (dcs ? dcs[t * BH + b * H + k] : 0.0) + dht * o * (1 - tc * tc);
        double *d = da + b * G;
        d[k] = dct * gg * i * (1 - i);
        d[H + k] = dct * cprev * f * (1 - f);
        d[2 * H + k] = dct * i * (1 - gg * gg);
        d[3 * H + k] = dht * tc * o * (1 - o);
        dc[b * H + k] = dct * f;
      }
    for (int b = 0; b < B; b++) {
      for (size_t j = 0; j < G; j++) {
        double d = da[b * G + j];
        if (dgx) dgx[(t * B + b) * G + j] += d;
        if (dbias) dbias[j] += d;
        if (dw && hp)
          for (int k = 0; k < H; k++)
            dw[j * H + k] += d * hp[b * H + k];
      }
      for (int k = 0; k < H; k++) {
        double s = 0;
        for (size_t j = 0; j < G; j++)
          s += w[j * H + k] * da[b * G + j];
        dh[b * H + k] = s;
      }
    }
  }
  for (size_t e = 0; e < BH; e++) {
    if (dh0) dh0[e] += dh[e];
    if (dc0) dc0[e] += dc[e];
  }
  free(hs), free(cs), free(a), free(da), free(dh), free(dc);
}

// ---- GRU ----

/* Forward that also keeps, per step, r, z, n and an = W_hn h_{t-1} + b_hn in s (T, B, 4H). */
static void gru_run(double *hs, double *s, const double *gx, const double *w, const double *bias, const double *h0,
                    int T, int B, int H) {
  size_t G = 3 * (size_t)H, BH = (size_t)B * H;
  double *ah = malloc(sizeof *ah * (size_t)B * G);
  for (int t = 0; t < T; t++) {
    const double *hp = t > 0 ? hs + (t - 1) * BH : h0;
    hidden_proj(ah, NULL, w, bias, hp, B, H, 3); /* the hidden side alone: r scales its n block */
    for (int b = 0; b < B; b++)
      for (int k = 0; k < H; k++) {
        const double *x = gx + (t * B + b) * G, *hh = ah + b * G;
        double r = sigm(x[k] + hh[k]), z = sigm(x[H + k] + hh[H + k]), n = tanh(x[2 * H + k] + r * hh[2 * H + k]);
        hs[t * BH + b * H + k] = (1 - z) * n + z * (hp ? hp[b * H + k] : 0.0);
        if (s) {
          double *st = s + (t * B + b) * 4 * (size_t)H;
          st[k] = r, st[H + k] = z, st[2 * H + k] = n, st[3 * H + k] = hh[2 * H + k];
        }
      }
  }
  free(ah);
}

void ref_gru_fwd(double *hs, const double *gx, const double *w, const double *bias, const double *h0, int T, int B,
                 int H) {
  gru_run(hs, NULL, gx, w, bias, h0, T, B, H);
}

void ref_gru_bwd(double *dgx, double *dw, double *dbias, double *dh0, const double *gx, const double *w,
                 const double *bias, const double *h0, const double *dhs, int T, int B, int H) {
  size_t G = 3 * (size_t)H, BH = (size_t)B * H;
  double *hs = malloc(sizeof(double) * T * BH), *s = malloc(sizeof(double) * T * B * 4 * H);
  double *dx = malloc(sizeof(double) * B * G), *dhh = malloc(sizeof(double) * B * G);
  double *dh = calloc(BH, sizeof(double)); /* flowing from step t+1 */
  gru_run(hs, s, gx, w, bias, h0, T, B, H);
  for (int t = T - 1; t >= 0; t--) {
    const double *hp = t > 0 ? hs + (t - 1) * BH : h0;
    for (int b = 0; b < B; b++)
      for (int k = 0; k < H; k++) {
        const double *st = s + (t * B + b) * 4 * (size_t)H;
        double r = st[k], z = st[H + k], n = st[2 * H + k], an = st[3 * H + k], hprev = hp ? hp[b * H + k] : 0.0;
        double dht = dh[b * H + k] + (dhs ? dhs[t * BH + b * H + k] : 0.0);
        double dn = dht * (1 - z) * (1 - n * n), dz = dht * (hprev - n) * z * (1 - z), dr = dn * an * r * (1 - r);
        dx[b * G + k] = dr, dx[b * G + H + k] = dz, dx[b * G + 2 * H + k] = dn;
        dhh[b * G + k] = dr, dhh[b * G + H + k] = dz, dhh[b * G + 2 * H + k] = dn * r;
        dh[b * H + k] = dht * z;
      }
    for (int b = 0; b < B; b++) {
      for (size_t j = 0; j < G; j++) {
        if (dgx) dgx[(t * B + b) * G + j] += dx[b * G + j];
        if (dbias) dbias[j] += dhh[b * G + j];
        if (dw && hp)
          for (int k = 0; k < H; k++)
            dw[j * H + k] += dhh[b * G + j] * hp[b * H + k];
      }
      for (int k = 0; k < H; k++) {
        double acc = 0;
        for (size_t j = 0; j < G; j++)
          acc += w[j * H + k] * dhh[b * G + j];
        dh[b * H + k] += acc;
      }
    }
  }
  for (size_t e = 0; e < BH; e++)
    if (dh0) dh0[e] += dh[e];
  free(hs), free(s), free(dx), free(dhh), free(dh);
}
