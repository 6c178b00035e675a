#version 450
// Backward of softmax and log-softmax over the last axis, from the saved output y, one workgroup per
// row (two passes over the row, so rows of any length work):
//   softmax:      dx = y * (dy - sum(dy * y))
//   log-softmax:  dx = dy - exp(y) * sum(dy)
// Both follow from the Jacobian of softmax, diag(p) - p p^T, with p = y or p = exp(y).
#include "common.glsl"
#include "reduce_wg.glsl"

layout(constant_id = 3) const uint LOG = 0; // 1: log-softmax

layout(std430, binding = 0) readonly buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) writeonly buffer DX { float dx[]; };
layout(push_constant, std430) uniform PC {
  uint rows, C;
} pc;

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= pc.rows) return; // uniform: the whole workgroup leaves
  const uint base = row * pc.C, tid = gl_LocalInvocationIndex;

  float s = 0.0;
  for (uint i = tid; i < pc.C; i += WG_N) s += LOG != 0 ? dy[base + i] : dy[base + i] * y[base + i];
  s = wg_sum(s);

  for (uint i = tid; i < pc.C; i += WG_N) {
    const float yi = y[base + i], gi = dy[base + i];
    dx[base + i] = LOG != 0 ? gi - exp(yi) * s : yi * (gi - s);
  }
}
