#version 450
// 2-D convolution (also 1-D, as H = 1) as an implicit GEMM, one GEMM per group g:
//   out[b, g*Og + m, oh, ow] = bias[g*Og + m] + sum_k w[g*Og + m, k] * xcol[k, (b, oh, ow)]
// where k = (c, kh, kw) runs over Cg*KH*KW and xcol is gathered from x on the fly (no im2col buffer):
//   xcol[k, n] = x[b, g*Cg + c, oh*stride_h - pad_t + kh*dil_h, ow*stride_w - pad_l + kw*dil_w], 0 outside.
// Tiling follows matmul.comp: a workgroup computes BM output channels x BN output pixels (all batches
// flattened into the pixel axis, so small images still fill a tile) through shared tiles of depth TK,
// each invocation keeping TM x TN accumulators. Padding is given per side (top, left) and the output
// size explicitly, so the launcher can express asymmetric (causal) padding.
#include "common.glsl"

layout(constant_id = 3) const uint TM = 4;
layout(constant_id = 4) const uint TN = 4;
layout(constant_id = 5) const uint TK = 16;
const uint WX = gl_WorkGroupSize.x, WY = gl_WorkGroupSize.y;
const uint BM = WY * TM, BN = WX * TN;
// An offset that puts a gathered row far outside the image, so padding tails of the K and N axes
// need no separate test: they read as zero through the ordinary bounds check.
const int FAR = 1 << 29;

#include "conv2d_io.glsl"

shared float As[TK * BM];  // [k][m]
shared float Bs[TK * BN];  // [k][n]
// Per output pixel of the tile: offset of its (b, first channel of the group) image, and the input
// row and column of its top-left tap.
shared uint col_base[BN];
shared int col_ih[BN], col_iw[BN];
// Per k of a tile (double-buffered, so the next tile's entries are filled during this tile's loads):
// channel offset and the tap's row and column displacement.
shared uint k_off[2 * TK];
shared int k_dh[2 * TK], k_dw[2 * TK];

// Decodes k = (c, kh, kw) once per tile instead of once per gathered element.
void k_info(uint k0, uint buf, uint tid, uint nthreads) {
  for (uint kk = tid; kk < TK; kk += nthreads) {
    uint k = k0 + kk, s = buf * TK + kk;
    if (k < pc.K) {
      uint khw = pc.KH * pc.KW, r = k % khw;
      k_off[s] = (k / khw) * pc.H * pc.W;
      k_dh[s] = int((r / pc.KW) * pc.dil_h);
      k_dw[s] = int((r % pc.KW) * pc.dil_w);
    } else {
      k_off[s] = 0;
      k_dh[s] = FAR;
      k_dw[s] = 0;
    }
  }
}

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint tid = ty * WX + tx, nthreads = WX * WY;
  // Pixel tiles may spread over (x, y) workgroups; the whole workgroup leaves together, so the
  // barriers below stay in uniform control flow.
  const uint n0 = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * BN;
  if (n0 >= pc.N) return;
  const uint g = gl_WorkGroupID.z / pc.mtiles, m0 = (gl_WorkGroupID.z % pc.mtiles) * BM;
  const uint ohw = pc.OH * pc.OW;

  for (uint nn = tid; nn < BN; nn += nthreads) {
    uint n = n0 + nn;
    if (n < pc.N) {
      uint b = n / ohw, p = n % ohw, oh = p / pc.OW, ow = p % pc.OW;
      col_base[nn] = (b * pc.C + g * pc.Cg) * pc.H * pc.W;
      col_ih[nn] = int(oh * pc.stride_h) - pc.pad_t;
      col_iw[nn] = int(ow * pc.stride_w) - pc.pad_l;
    } else {
      col_base[nn] = 0;
      col_ih[nn] = FAR;
      col_iw[nn] = 0;
    }
  }
  k_info(0, 0, tid, nthreads);
  barrier();

  float acc[TM][TN];
  [[unroll]] for (uint i = 0; i < TM; i++)
    [[unroll]] for (uint j = 0; j < TN; j++) acc[i][j] = 0.0;

  const uint w_base = g * pc.Og * pc.K;
  uint buf = 0;
  for (uint k0 = 0; k0 < pc.K; k0 += TK, buf ^= 1u) {
    // Weights are contiguous along k: consecutive invocations read consecutive k.
    for (uint e = tid; e < TK * BM; e += nthreads) {
      uint mm = e / TK, kk = e % TK, m = m0 + mm, k = k0 + kk;
      As[kk * BM + mm] = (m < pc.Og && k < pc.K) ? w[w_base + m * pc.K + k] : 0.0;
    }
    // Input gather: consecutive invocations take neighbouring output pixels, so reads stay close.
    for (uint e = tid; e < TK * BN; e += nthreads) {
      uint kk = e / BN, nn = e % BN, s = buf * TK + kk;
      int ih = col_ih[nn] + k_dh[s], iw = col_iw[nn] + k_dw[s];
      float v = 0.0;
      if (uint(ih) < pc.H && uint(iw) < pc.W) v = x[col_base[nn] + k_off[s] + uint(ih) * pc.W + uint(iw)];
      Bs[kk * BN + nn] = v;
    }
    // The other buffer was last read before the previous iteration's two barriers.
    if (k0 + TK < pc.K) k_info(k0 + TK, buf ^ 1u, tid, nthreads);
    barrier();
    [[unroll]] for (uint kk = 0; kk < TK; kk++) {
      float ra[TM], rb[TN];
      [[unroll]] for (uint i = 0; i < TM; i++) ra[i] = As[kk * BM + ty + WY * i];
      [[unroll]] for (uint j = 0; j < TN; j++) rb[j] = Bs[kk * BN + tx + WX * j];
      [[unroll]] for (uint i = 0; i < TM; i++)
        [[unroll]] for (uint j = 0; j < TN; j++) acc[i][j] = fma(ra[i], rb[j], acc[i][j]);
    }
    barrier();
  }

  [[unroll]] for (uint j = 0; j < TN; j++) {
    uint n = n0 + tx + WX * j;
    if (n >= pc.N) continue;
    uint b = n / ohw, p = n % ohw;
    [[unroll]] for (uint i = 0; i < TM; i++) {
      uint m = m0 + ty + WY * i;
      if (m >= pc.Og) continue;
      uint oc = g * pc.Og + m;
      o[(b * pc.O + oc) * ohw + p] = acc[i][j] + (pc.has_bias != 0 ? bias[oc] : 0.0);
    }
  }
}
