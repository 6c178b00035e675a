#version 450
// out (M, N) = act(layernorm(a) (M, K) b + bias) + res for few rows M: matmul_rows.comp with the
// layer normalization of a's rows (over K, gamma and beta of K values, eps) done on the way in, so the
// normalized rows are never stored (see matmul_rows.glsl).
#include "common.glsl"
#include "activations.glsl"

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 1) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) readonly buffer C { float bias[]; };
layout(std430, binding = 3) readonly buffer R { float res[]; };
layout(std430, binding = 4) writeonly buffer O { float o[]; };
layout(std430, binding = 5) readonly buffer G { float gamma[]; };
layout(std430, binding = 5) readonly buffer G4 { vec4 gamma4[]; };
layout(std430, binding = 6) readonly buffer Bt { float beta[]; };
layout(std430, binding = 6) readonly buffer Bt4 { vec4 beta4[]; };
layout(push_constant, std430) uniform PC {
  uint M, N, K;
  uint b_sk, b_sn;
  uint has_bias;
  uint act;
  uint has_res;
  float eps;
} pc;

#define ROWS_LN
#include "matmul_rows.glsl"

void store(uint m, uint n, float v) {
  if (pc.act == 1u) v = 0.5 * v * (1.0 + tanh_safe(0.79788456080286536 * (v + 0.044715 * v * v * v)));
  uint i = m * pc.N + n;
  o[i] = pc.has_res != 0u ? res[i] + v : v;
}

void main() { rows_main(); }
