/* Plain-C references for the convolutions and their gradients, in double. Shape letters as in vkgen.h,
 * plus O output channels and OH OW output height and width. */
#ifndef VKGEN_REF_CONV_H
#define VKGEN_REF_CONV_H

/* The sizes of one convolution, in the op's own terms: x (B, C, H, W) -> y (B, O, OH, OW).
 * conv2d: w (O, C/groups, KH, KW); pad_t / pad_l are the zero rows above / columns left of x, and the
 * output size is given, so any padding below and right follows from it (conv1d's causal padding too).
 * conv_transpose2d: w (C, O/groups, KH, KW); pad_t / pad_l are its pad_h / pad_w (output padding only
 * shows in OH OW). */
struct ref_conv {
  int B, C, H, W, O, KH, KW, OH, OW;
  int stride_h, stride_w, pad_t, pad_l, dil_h, dil_w, groups;
};

/* y = conv2d(x, w) + bias (O) or NULL. */
void ref_conv2d_f64(double *y, const double *x, const double *w, const double *bias, const struct ref_conv *p);
/* Adds the gradients of sum(y * gy) to gx (x's shape), gw (w's shape) and gb (O); any may be NULL. */
void ref_conv2d_bwd(double *gx, double *gw, double *gb, const double *gy, const double *x, const double *w,
                    const struct ref_conv *p);
/* y = conv_transpose2d(x, w) + bias, computed by scattering each input element (the opposite
 * direction from the shader). */
void ref_conv_transpose2d_f64(double *y, const double *x, const double *w, const double *bias,
                              const struct ref_conv *p);
void ref_conv_transpose2d_bwd(double *gx, double *gw, double *gb, const double *gy, const double *x, const double *w,
                              const struct ref_conv *p);

/* float versions of the forwards for the forward tests (same arguments as the fields above). */
void ref_conv2d(float *out, const float *x, const float *w, const float *bias, int B, int C, int H, int W, int O,
                int KH, int KW, int OH, int OW, int stride_h, int stride_w, int pad_t, int pad_l, int dil_h, int dil_w,
                int groups);
void ref_conv_transpose2d(float *out, const float *x, const float *w, const float *bias, int B, int C, int H, int W,
                          int O, int KH, int KW, int OH, int OW, int stride_h, int stride_w, int pad_h, int pad_w,
                          int dil_h, int dil_w, int groups);

/* Output size of conv2d along one axis (PyTorch's formula with symmetric padding). */
int ref_conv_out(int in, int k, int stride, int pad, int dil);
/* Output size of conv_transpose2d along one axis. */
int ref_conv_transpose_out(int in, int k, int stride, int pad, int dil, int out_pad);
#endif
