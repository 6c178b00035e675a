/* Resampling of float image planes, shared by the image-folder loader and FID's input conversion. */
#ifndef VKGEN_RESAMPLE_H
#define VKGEN_RESAMPLE_H

/* Resizes one plane src (sh, sw) to dst (dh, dw), each axis on its own: area averaging when that axis
 * shrinks (each output pixel is the mean of the source area it covers, partial pixels weighted by the
 * part covered), bilinear interpolation when it grows or keeps its size (sample points at half-pixel
 * centers, x_src = (x + 0.5) * sw / dw - 0.5, clamped to the edge pixels). Returns 0, or -1 when out
 * of host memory. */
int vkg__resize_plane(const float *src, int sh, int sw, float *dst, int dh, int dw);

/* Rec. 601 luma weights, as PIL's convert("L"). */
#define VKG_LUMA_R 0.299f
#define VKG_LUMA_G 0.587f
#define VKG_LUMA_B 0.114f
#endif
