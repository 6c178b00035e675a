#version 450
// Transposed 2-D convolution (the gradient of conv2d with respect to its input), as in PyTorch's
// ConvTranspose2d with w (C, Og, KH, KW). Each invocation gathers one output element, so no two
// invocations write the same place and no atomics are needed:
//   out[b, o, oh, ow] = bias[o] + sum over c in o's group and taps (kh, kw) with
//                       oh + pad_h - kh*dil_h = ih*stride_h, 0 <= ih < H (and likewise for w)
//                       of x[b, c, ih, iw] * w[c, o % Og, kh, kw].
// The tap tests sit outside the channel loop, so their cost is spread over Cg multiply-adds.
// Wide groups are summed in several launches over channel ranges [c_lo, c_hi) of the group, each
// adding to what the previous ones wrote, so that no invocation loops too long.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };      // (B, C, H, W)
layout(std430, binding = 1) readonly buffer Wt { float w[]; };     // (C, Og, KH, KW)
layout(std430, binding = 2) readonly buffer Bias { float bias[]; }; // (O)
layout(std430, binding = 3) buffer Out { float o[]; };             // (B, O, OH, OW)
layout(push_constant, std430) uniform PC {
  uint total;               // B*O*OH*OW
  uint C, H, W;
  uint O, OH, OW;
  uint KH, KW;
  uint stride_h, stride_w, dil_h, dil_w;
  uint pad_h, pad_w;
  uint Cg, Og;              // input and output channels per group
  uint has_bias;
  uint c_lo, c_hi;          // the channels of each group this launch sums; c_lo > 0 adds to o
} pc;

void main() {
  uint i = linear_id();
  if (i >= pc.total) return;
  uint ow = i % pc.OW, t = i / pc.OW, oh = t % pc.OH;
  t /= pc.OH;
  uint oc = t % pc.O, b = t / pc.O;
  uint g = oc / pc.Og, ol = oc % pc.Og;
  uint c0 = g * pc.Cg, hw = pc.H * pc.W, khw = pc.KH * pc.KW;
  uint x_base = (b * pc.C + c0 + pc.c_lo) * hw;
  // Consecutive input channels of the group sit Og*KH*KW weights apart.
  uint w_base = ((c0 + pc.c_lo) * pc.Og + ol) * khw, w_step = pc.Og * khw;

  float acc = 0.0;
  for (uint kh = 0; kh < pc.KH; kh++) {
    // th falls as kh rises, so once it is negative no later tap reaches this row.
    int th = int(oh + pc.pad_h) - int(kh * pc.dil_h);
    if (th < 0) break;
    if (uint(th) % pc.stride_h != 0) continue;
    uint ih = uint(th) / pc.stride_h;
    if (ih >= pc.H) continue;
    for (uint kw = 0; kw < pc.KW; kw++) {
      int tw = int(ow + pc.pad_w) - int(kw * pc.dil_w);
      if (tw < 0) break;
      if (uint(tw) % pc.stride_w != 0) continue;
      uint iw = uint(tw) / pc.stride_w;
      if (iw >= pc.W) continue;
      uint xi = x_base + ih * pc.W + iw, wi = w_base + kh * pc.KW + kw;
      for (uint c = pc.c_lo; c < pc.c_hi; c++, xi += hw, wi += w_step) acc = fma(x[xi], w[wi], acc);
    }
  }
  if (pc.c_lo != 0) acc += o[i];
  o[i] = acc + (pc.has_bias != 0 ? bias[oc] : 0.0);
}
