#version 450
// 2-D convolution computed directly, one invocation per output element. The launcher picks it over
// the implicit GEMM of conv2d.comp when a group has few output channels (depthwise above all): a GEMM
// tile would then reuse each gathered input only a few times and spend most of its time on shared
// memory and barriers. Same bindings and push constants as conv2d.comp.
#include "common.glsl"
#include "conv2d_io.glsl"

void main() {
  uint i = linear_id();
  uint ohw = pc.OH * pc.OW;
  if (i >= pc.N * pc.O) return;
  uint p = i % ohw, t = i / ohw, oc = t % pc.O, b = t / pc.O;
  uint oh = p / pc.OW, ow = p % pc.OW, g = oc / pc.Og;
  int ih0 = int(oh * pc.stride_h) - pc.pad_t, iw0 = int(ow * pc.stride_w) - pc.pad_l;
  uint hw = pc.H * pc.W, khw = pc.KH * pc.KW;
  uint x_base = (b * pc.C + g * pc.Cg) * hw, w_base = oc * pc.K;

  // Taps outside, channels inside: the bounds tests run once per tap rather than once per product.
  float acc = 0.0;
  for (uint kh = 0; kh < pc.KH; kh++) {
    int ih = ih0 + int(kh * pc.dil_h);
    if (uint(ih) >= pc.H) continue;
    for (uint kw = 0; kw < pc.KW; kw++) {
      int iw = iw0 + int(kw * pc.dil_w);
      if (uint(iw) >= pc.W) continue;
      uint xi = x_base + uint(ih) * pc.W + uint(iw), wi = w_base + kh * pc.KW + kw;
      for (uint c = 0; c < pc.Cg; c++, xi += hw, wi += khw) acc = fma(x[xi], w[wi], acc);
    }
  }
  o[i] = acc + (pc.has_bias != 0 ? bias[oc] : 0.0);
}
