/* Plain-C references for the convolutions (double accumulation). Shape letters as in vkgen.h, plus
 * O output channels and OH OW output height and width. */
#ifndef VKGEN_REF_CONV_H
#define VKGEN_REF_CONV_H

/* out (B, O, OH, OW) = conv of x (B, C, H, W) with w (O, C/groups, KH, KW) + bias (O) or NULL.
 * pad_t / pad_l: zero rows above / columns left of x; the output size is given, so any padding below
 * and right follows from it (this expresses conv1d's causal padding too). */
void ref_conv2d(float *out, const float *x, const float *w, const float *bias, int B, int C, int H, int W, int O,
                int KH, int KW, int OH, int OW, int stride_h, int stride_w, int pad_t, int pad_l, int dil_h,
                int dil_w, int groups);
/* Output size of conv2d along one axis (PyTorch's formula with symmetric padding). */
int ref_conv_out(int in, int k, int stride, int pad, int dil);

/* out (B, O, OH, OW) = transposed conv of x (B, C, H, W) with w (C, O/groups, KH, KW) + bias, computed
 * by scattering each input element (the opposite direction from the shader). */
void ref_conv_transpose2d(float *out, const float *x, const float *w, const float *bias, int B, int C, int H,
                          int W, int O, int KH, int KW, int OH, int OW, int stride_h, int stride_w, int pad_h,
                          int pad_w, int dil_h, int dil_w, int groups);
/* Output size of conv_transpose2d along one axis. */
int ref_conv_transpose_out(int in, int k, int stride, int pad, int dil, int out_pad);
#endif
