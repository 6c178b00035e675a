#version 450
// softmax or log-softmax over the last axis: one workgroup per row, three passes over the row
// (max, sum of exponentials, write) so rows of any length work. Subtracting the row max keeps every
// exponent <= 0, so large logits cannot overflow.
#include "common.glsl"
#include "reduce_wg.glsl"

layout(constant_id = 3) const uint LOG = 0; // 1: log-softmax
// 1: one invocation per row (the CPU-device kernel: no barriers, each lane streams its own row);
// 2: the same with vec4 loads (C % 4 == 0). 0: one workgroup per row.
layout(constant_id = 4) const uint ROWWISE = 0;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };
layout(push_constant, std430) uniform PC {
  uint rows, C;
} pc;

float hmax(vec4 v) { return max(max(v.x, v.y), max(v.z, v.w)); }

void rowwise() {
  const uint row = linear_id();
  if (row >= pc.rows) return;
  if (ROWWISE == 2) {
    const uint base = row * pc.C / 4, n = pc.C / 4;
    vec4 m4 = vec4(neg_inf());
    for (uint i = 0; i < n; i++) m4 = max(m4, x4[base + i]);
    const float m = hmax(m4);
    vec4 s4 = vec4(0.0);
    for (uint i = 0; i < n; i++) s4 += exp(x4[base + i] - m);
    const float s = (s4.x + s4.y) + (s4.z + s4.w);
    if (LOG != 0) {
      const float shift = m + log(s);
      for (uint i = 0; i < n; i++) y4[base + i] = x4[base + i] - shift;
    } else {
      const float inv = 1.0 / s;
      for (uint i = 0; i < n; i++) y4[base + i] = exp(x4[base + i] - m) * inv;
    }
    return;
  }
  const uint base = row * pc.C;
  float m = neg_inf();
  for (uint i = 0; i < pc.C; i++) m = max(m, x[base + i]);
  float s = 0.0;
  for (uint i = 0; i < pc.C; i++) s += exp(x[base + i] - m);
  if (LOG != 0) {
    const float shift = m + log(s);
    for (uint i = 0; i < pc.C; i++) y[base + i] = x[base + i] - shift;
  } else {
    const float inv = 1.0 / s;
    for (uint i = 0; i < pc.C; i++) y[base + i] = exp(x[base + i] - m) * inv;
  }
}

void main() {
  if (ROWWISE != 0) {
    rowwise();
    return;
  }
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
