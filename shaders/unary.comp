#version 450
// out = f(x) elementwise; op numbers follow enum vkg_unop in vkgen.h. The op is a specialization
// constant (the driver drops the other cases); with VEC 1 (n % 4 == 0) each invocation does a vec4.
#include "common.glsl"
#include "activations.glsl"

layout(constant_id = 3) const uint OP = 0;
layout(constant_id = 4) const uint VEC = 0;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };
layout(std430, binding = 1) writeonly buffer O4 { vec4 o4[]; };
layout(push_constant, std430) uniform PC {
  uint n, op;
  float alpha, beta;
} pc;

// The op on one value (defined below main, so that declarations added above main reach it too).
float f(float v);

void main() {
  uint i = linear_id();
  if (VEC == 1) {
    if (i < pc.n / 4) {
      vec4 v = x4[i];
      o4[i] = vec4(f(v.x), f(v.y), f(v.z), f(v.w));
    }
    return;
  }
  if (i < pc.n) o[i] = f(x[i]);
}

float f(float v) {
  float r;
  switch (OP) {
  case 0: r = max(v, 0.0); break;                                          // relu
  case 1: r = v >= 0.0 ? v : pc.alpha * v; break;                          // leaky relu
  case 2: r = 0.5 * v * (1.0 + erf_approx(v * 0.70710678118654752)); break; // gelu (erf)
  case 3: r = 0.5 * v * (1.0 + tanh_safe(0.79788456080286536 * (v + 0.044715 * v * v * v))); break;
  case 4: r = tanh_safe(v); break;
  case 5: r = sigmoid(v); break;
  case 6: r = v * sigmoid(v); break;                                       // silu
  case 7: r = softplus(v); break;
  case 8: r = exp(v); break;
  case 9: r = log(v); break;
  case 10: r = -v; break;
  case 11: r = abs(v); break;
  case 12: r = sqrt(v); break;
  case 13: r = v * v; break;
  default: r = pc.alpha * v + pc.beta; break;                             // affine
  }
  return r;
}
