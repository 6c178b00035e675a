#version 450
// Weight gradient of a 2-D convolution (conv2d, conv1d as H = 1, and conv_transpose2d with the roles
// of its input and output swapped, see src/ops/conv.c):
//   dw[g*Og + m, k] = sum over n = (b, oh, ow) of dy[b, g*Og + m, oh, ow] * xcol[k, n]
// with k = (c, kh, kw) and xcol[k, n] = x[b, g*Cg + c, oh*stride_h - pad_t + kh*dil_h,
// ow*stride_w - pad_l + kw*dil_w] (0 outside), the same gather as conv2d.comp.
// Each weight element sums over all B*OH*OW output pixels, which can be far more than one invocation
// may loop over, so the sum is split three ways: a micro-tile of TM x TN weights per invocation
// (each gathered x and dy value feeds several products), WX invocations of a workgroup (the x axis)
// taking every WX-th pixel of the micro-tile's share, and gl_WorkGroupID.z picking which chunk of
// pixels the workgroup covers (each chunk writes its own partial sums; the launcher adds them).
// The WY invocation rows of a workgroup hold WY different micro-tiles.
#include "common.glsl"

layout(constant_id = 3) const uint TM = 4; // output channels per micro-tile
layout(constant_id = 4) const uint TN = 4; // k (c, kh, kw) per micro-tile
const uint WX = gl_WorkGroupSize.x, WY = gl_WorkGroupSize.y;
// Puts a tap of a k past the end far outside the image, so it reads as zero through the bounds test.
const int FAR = 1 << 29;

layout(std430, binding = 0) readonly buffer X { float x[]; };    // (B, C, H, W)
layout(std430, binding = 1) readonly buffer Dy { float dy[]; };  // (B, O, OH, OW)
layout(std430, binding = 2) writeonly buffer Dw { float dw[]; }; // (splits, O, Cg, KH, KW)
layout(push_constant, std430) uniform PC {
  uint C, H, W;             // image channels (all groups), height, width
  uint O, OH, OW;           // gradient channels (all groups), height, width
  uint KH, KW;
  uint stride_h, stride_w, dil_h, dil_w;
  int pad_t, pad_l;         // zero rows above and columns left of the image
  uint Cg, Og;              // image and gradient channels per group
  uint K;                   // Cg*KH*KW
  uint N;                   // B*OH*OW pixels summed over
  uint mtiles, ktiles;      // micro-tiles per group along m and along k
  uint tiles;               // groups*mtiles*ktiles
  uint chunk;               // pixels per split (gl_WorkGroupID.z)
} pc;

// The partial sums of the WX invocations of a row are added through shared memory, RC values of
// each micro-tile per round, so the buffer stays small whatever TM x TN is.
const uint RC = 4;
shared float red[RC * WY * WX];

void main() {
  const uint lane = gl_LocalInvocationID.x, row = gl_LocalInvocationID.y;
  const uint tile = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * WY + row;
  // Rows past the last tile still take part in the barriers below; they just sum nothing.
  const bool live = tile < pc.tiles;
  const uint kt = tile % pc.ktiles, mt = (tile / pc.ktiles) % pc.mtiles, g = tile / (pc.ktiles * pc.mtiles);
  const uint m0 = mt * TM, k0 = kt * TN;
  const uint hw = pc.H * pc.W, ohw = pc.OH * pc.OW, khw = pc.KH * pc.KW;

  // Everything about this invocation's k and m that does not depend on the pixel.
  uint k_off[TN];
  int k_dh[TN], k_dw[TN];
  [[unroll]] for (uint j = 0; j < TN; j++) {
    uint k = k0 + j, r = k % khw;
    bool ok = k < pc.K;
    k_off[j] = ok ? (g * pc.Cg + k / khw) * hw : 0;
    k_dh[j] = ok ? int((r / pc.KW) * pc.dil_h) : FAR;
    k_dw[j] = int((r % pc.KW) * pc.dil_w);
  }
  // Channels past Og read a real channel (the last one) and are never written.
  uint m_off[TM];
  [[unroll]] for (uint i = 0; i < TM; i++) m_off[i] = (g * pc.Og + min(m0 + i, pc.Og - 1)) * ohw;

  float acc[TM][TN];
  [[unroll]] for (uint i = 0; i < TM; i++)
    [[unroll]] for (uint j = 0; j < TN; j++) acc[i][j] = 0.0;

  const uint n_begin = gl_WorkGroupID.z * pc.chunk, n_end = min(pc.N, n_begin + pc.chunk);
  // Neighbouring lanes take neighbouring pixels, so their reads of dy and x stay close together.
  for (uint n = n_begin + lane; live && n < n_end; n += WX) {
    uint b = n / ohw, p = n - b * ohw, oh = p / pc.OW, ow = p - oh * pc.OW;
    int ih0 = int(oh * pc.stride_h) - pc.pad_t, iw0 = int(ow * pc.stride_w) - pc.pad_l;
    uint x_base = b * pc.C * hw, dy_base = b * pc.O * ohw + p;
    float xv[TN];
    [[unroll]] for (uint j = 0; j < TN; j++) {
      int ih = ih0 + k_dh[j], iw = iw0 + k_dw[j];
      xv[j] = 0.0;
      if (uint(ih) < pc.H && uint(iw) < pc.W) xv[j] = x[x_base + k_off[j] + uint(ih) * pc.W + uint(iw)];
    }
    [[unroll]] for (uint i = 0; i < TM; i++) {
      float d = dy[dy_base + m_off[i]];
      [[unroll]] for (uint j = 0; j < TN; j++) acc[i][j] = fma(d, xv[j], acc[i][j]);
    }
  }

  // Tree sums over the lanes of each row (WX is a power of two), RC accumulators at a time.
  const uint split_off = gl_WorkGroupID.z * pc.O * pc.K;
  [[unroll]] for (uint r0 = 0; r0 < TM * TN; r0 += RC) {
    [[unroll]] for (uint r = 0; r < RC; r++) {
      float v = 0.0; // the last round may hold fewer than RC accumulators
      if (r0 + r < TM * TN) v = acc[(r0 + r) / TN][(r0 + r) % TN];
      red[(r * WY + row) * WX + lane] = v;
    }
    barrier();
    for (uint s = WX / 2; s > 0; s /= 2) {
      if (lane < s)
        [[unroll]] for (uint r = 0; r < RC; r++) red[(r * WY + row) * WX + lane] += red[(r * WY + row) * WX + lane + s];
      barrier();
    }
    if (live && lane == 0) {
      [[unroll]] for (uint r = 0; r < RC; r++) {
        uint e = r0 + r, m = m0 + e / TN, k = k0 + e % TN;
        if (e < TM * TN && m < pc.Og && k < pc.K) dw[split_off + (g * pc.Og + m) * pc.K + k] = red[(r * WY + row) * WX];
      }
    }
    // The next round overwrites red only after lane 0 has read this round's sums.
    barrier();
  }
}
