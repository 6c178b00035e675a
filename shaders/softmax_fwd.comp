#version 450
// softmax or log-softmax over the last axis: one workgroup per row, three passes over the row
// (max, sum of exponentials, write) so rows of any length work. Subtracting the row max keeps every
// exponent <= 0, so large logits cannot overflow.
#include "common.glsl"
#include "reduce_wg.glsl"

layout(constant_id = 3) const uint LOG = 0; // 1: log-softmax

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant, std430) uniform PC {
  uint rows, C;
} pc;

void main() {
  // Rows may spread over (x, y) workgroups; the test is uniform, so the whole group leaves together.
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= pc.rows) return;
  const uint base = row * pc.C, tid = gl_LocalInvocationIndex;

  float m = neg_inf();
  for (uint i = tid; i < pc.C; i += WG_N) m = max(m, x[base + i]);
  m = wg_max(m);

  float s = 0.0;
  for (uint i = tid; i < pc.C; i += WG_N) s += exp(x[base + i] - m);
  s = wg_sum(s);

  if (LOG != 0) {
    // log(e^(x-m) / s) = x - m - log(s): no exp, so tiny probabilities keep their precision.
    const float shift = m + log(s);
    for (uint i = tid; i < pc.C; i += WG_N) y[base + i] = x[base + i] - shift;
  } else {
    const float inv = 1.0 / s;
    for (uint i = tid; i < pc.C; i += WG_N) y[base + i] = exp(x[base + i] - m) * inv;
  }
}
