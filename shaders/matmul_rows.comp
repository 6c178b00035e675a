#version 450
// out (M, N) = act(a (M, K) b + bias) + res for few rows M (a decoding batch): the matmul, its bias,
// the tanh GELU and a residual add in one pass (see matmul_rows.glsl). b is (K, N), or (N, K) read
// transposed through its strides.
#include "common.glsl"
#include "activations.glsl"

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 1) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) readonly buffer C { float bias[]; };
layout(std430, binding = 3) readonly buffer R { float res[]; };
layout(std430, binding = 4) writeonly buffer O { float o[]; };
layout(push_constant, std430) uniform PC {
  uint M, N, K;
  uint b_sk, b_sn; // b[k, n] = b[k * b_sk + n * b_sn] (b_sn = K when b is transposed)
  uint has_bias;
  uint act;     // 0: none, 1: tanh GELU (as unary.comp's gelu_tanh)
  uint has_res; // add res (M, N) after the activation
} pc;

#include "matmul_rows.glsl"

void store(uint m, uint n, float v) {
  if (pc.act == 1u) v = 0.5 * v * (1.0 + tanh_safe(0.79788456080286536 * (v + 0.044715 * v * v * v)));
  uint i = m * pc.N + n;
  o[i] = pc.has_res != 0u ? res[i] + v : v;
}

void main() { rows_main(); }
