/* Plain-C references for the LSTM and GRU recurrences (vkg_lstm, vkg_gru), in double precision.
 * Shape letters: T time, B batch, H hidden size. gx is gates_x (T, B, G*H) with G = 4 (i, f, g, o) for
 * the LSTM and 3 (r, z, n) for the GRU, w is w_hh (G*H, H), bias b_hh (G*H); bias, h0 and c0 (B, H)
 * may be NULL (zeros). Backward functions ADD the gradients of the loss into every non-NULL gradient
 * argument, given dhs = dL/dhs and (LSTM) dcs = dL/dcs, either of which may be NULL (zero). */
#ifndef VKGEN_REF_RNN_H
#define VKGEN_REF_RNN_H

/* hs, cs (T, B, H) */
void ref_lstm_fwd(double *hs, double *cs, const double *gx, const double *w, const double *bias, const double *h0,
                  const double *c0, int T, int B, int H);
void ref_lstm_bwd(double *dgx, double *dw, double *dbias, double *dh0, double *dc0, const double *gx, const double *w,
                  const double *bias, const double *h0, const double *c0, const double *dhs, const double *dcs, int T,
                  int B, int H);
/* hs (T, B, H) */
void ref_gru_fwd(double *hs, const double *gx, const double *w, const double *bias, const double *h0, int T, int B,
                 int H);
void ref_gru_bwd(double *dgx, double *dw, double *dbias, double *dh0, const double *gx, const double *w,
                 const double *bias, const double *h0, const double *dhs, int T, int B, int H);
#endif
