#version 450
// Attention's materialized backward (CPU devices): one invocation per query row turns dP = dO v^T
// into the gradient of the raw scores, dS = scale * P * (dP - sum_j P dP). The row sum equals
// rowsum(dO * O) since O = P v, so no pass over O is needed. Hidden (causal) keys have P = 0 and so
// dS = 0. vec4 loads where Tk % 4 == 0.
#include "common.glsl"

layout(constant_id = 3) const uint VEC4 = 0;

layout(std430, binding = 0) readonly buffer P { float p[]; };
layout(std430, binding = 0) readonly buffer P4 { vec4 p4[]; };
layout(std430, binding = 1) readonly buffer DP { float dp[]; };
layout(std430, binding = 1) readonly buffer DP4 { vec4 dp4[]; };
layout(std430, binding = 2) writeonly buffer DS { float ds[]; };
layout(std430, binding = 2) writeonly buffer DS4 { vec4 ds4[]; };
layout(push_constant, std430) uniform PC {
  uint rows, Tk;
  float scale;
} pc;

void main() {
  const uint row = linear_id();
  if (row >= pc.rows) return;
  if (VEC4 != 0) {
    const uint b = row * pc.Tk / 4, t4 = pc.Tk / 4;
    vec4 s4 = vec4(0.0);
    for (uint j = 0; j < t4; j++) s4 += p4[b + j] * dp4[b + j];
    const float sum = (s4.x + s4.y) + (s4.z + s4.w);
    for (uint j = 0; j < t4; j++) ds4[b + j] = pc.scale * p4[b + j] * (dp4[b + j] - sum);
    return;
  }
  const uint b = row * pc.Tk;
  float sum = 0.0;
  for (uint j = 0; j < pc.Tk; j++) sum += p[b + j] * dp[b + j];
  for (uint j = 0; j < pc.Tk; j++) ds[b + j] = pc.scale * p[b + j] * (dp[b + j] - sum);
}
