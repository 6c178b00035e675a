#version 450
// gx = gy * f'(x) for the unary ops of unary.comp (same op numbers).
#include "common.glsl"
#include "activations.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer GY { float gy[]; };
layout(std430, binding = 2) writeonly buffer GX { float gx[]; };
layout(push_constant, std430) uniform PC {
  uint n, op;
  float alpha, beta;
} pc;

const float INV_SQRT2 = 0.70710678118654752, INV_SQRT_2PI = 0.39894228040143268;

void main() {
  uint i = linear_id();
  if (i >= pc.n) return;
  float v = x[i], d;
  switch (pc.op) {
  case 0: d = v > 0.0 ? 1.0 : 0.0; break;
  case 1: d = v >= 0.0 ? 1.0 : pc.alpha; break;
  case 2: d = 0.5 * (1.0 + erf_approx(v * INV_SQRT2)) + v * INV_SQRT_2PI * exp(-0.5 * v * v); break;
  case 3: {
    // d/dv of 0.5 v (1 + tanh(u)), u = c (v + 0.044715 v^3)
    const float c = 0.79788456080286536;
    float t = tanh_safe(c * (v + 0.044715 * v * v * v));
    d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * v * v);
    break;
  }
  case 4: { float t = tanh_safe(v); d = 1.0 - t * t; break; }
  case 5: { float s = sigmoid(v); d = s * (1.0 - s); break; }
  case 6: { float s = sigmoid(v); d = s * (1.0 + v * (1.0 - s)); break; }
  case 7: d = sigmoid(v); break;
  case 8: d = exp(v); break;
  case 9: d = 1.0 / v; break;
  case 10: d = -1.0; break;
  case 11: d = v > 0.0 ? 1.0 : (v < 0.0 ? -1.0 : 0.0); break;
  case 12: d = 0.5 / sqrt(v); break;
  case 13: d = 2.0 * v; break;
  default: d = pc.alpha; break;
  }
  gx[i] = gy[i] * d;
}
