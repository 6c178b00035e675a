#version 450
// Layer normalization over the last axis, one workgroup per row:
//   y = (x - mean) * rstd * gamma + beta,  rstd = 1 / sqrt(var + eps),
// with the biased variance (divided by C, as PyTorch does). The variance is a second pass over
// (x - mean)^2 rather than E[x^2] - mean^2, which would cancel badly when |mean| >> std.
// Per-row mean and rstd go to `stats` (rows, 2) for the backward pass.
#include "common.glsl"
#include "reduce_wg.glsl"

// 1: one invocation per row (the CPU-device kernel: no barriers, each lane streams its own row);
// 2: the same with vec4 loads (C % 4 == 0). 0: one workgroup per row.
layout(constant_id = 3) const uint ROWWISE = 0;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer G { float gamma[]; };
layout(std430, binding = 1) readonly buffer G4 { vec4 gamma4[]; };
layout(std430, binding = 2) readonly buffer Bt { float beta[]; };
layout(std430, binding = 2) readonly buffer Bt4 { vec4 beta4[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 3) writeonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 4) writeonly buffer S { float stats[]; };
layout(push_constant, std430) uniform PC {
  uint rows, C, has_gamma, has_beta;
  float eps;
} pc;

// The same arithmetic as main's, one invocation per row.
void rowwise() {
  const uint row = linear_id();
  if (row >= pc.rows) return;
  const uint base = row * pc.C;
  const float x0 = x[base], invC = 1.0 / float(pc.C);
  float dmean, rstd;
  if (ROWWISE == 2) {
    const uint b4 = base / 4, n = pc.C / 4;
    vec4 s = vec4(0.0);
    for (uint i = 0; i < n; i++) s += x4[b4 + i] - x0;
    dmean = ((s.x + s.y) + (s.z + s.w)) * invC;
    vec4 q = vec4(0.0);
    for (uint i = 0; i < n; i++) {
      vec4 d = (x4[b4 + i] - x0) - dmean;
      q += d * d;
    }
    rstd = 1.0 / sqrt(((q.x + q.y) + (q.z + q.w)) * invC + pc.eps);
    for (uint i = 0; i < n; i++) {
      vec4 v = ((x4[b4 + i] - x0) - dmean) * rstd;
      if (pc.has_gamma != 0) v *= gamma4[i];
      if (pc.has_beta != 0) v += beta4[i];
      y4[b4 + i] = v;
    }
  } else {
    float s = 0.0;
    for (uint i = 0; i < pc.C; i++) s += x[base + i] - x0;
    dmean = s * invC;
    float q = 0.0;
    for (uint i = 0; i < pc.C; i++) {
      float d = (x[base + i] - x0) - dmean;
      q += d * d;
    }
    rstd = 1.0 / sqrt(q * invC + pc.eps);
    for (uint i = 0; i < pc.C; i++) {
      float v = ((x[base + i] - x0) - dmean) * rstd;
      if (pc.has_gamma != 0) v *= gamma[i];
      if (pc.has_beta != 0) v += beta[i];
      y[base + i] = v;
    }
  }
  stats[2 * row] = x0 + dmean;
  stats[2 * row + 1] = rstd;
}

void main() {
  if (ROWWISE != 0) {
    rowwise();
    return;
  }
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= pc.rows) return; // uniform: the whole workgroup leaves
  const uint base = row * pc.C, tid = gl_LocalInvocationIndex;

  // Work on d = x - x0, x0 the row's first value: when |mean| >> std the sums then hold small
  // numbers and keep their precision, and x - x0 is exact for values near x0.
  const float x0 = x[base];
  float s = 0.0;
  for (uint i = tid; i < pc.C; i += WG_N) s += x[base + i] - x0;
  const float dmean = wg_sum(s) / float(pc.C); // mean - x0

  float q = 0.0;
  for (uint i = tid; i < pc.C; i += WG_N) {
    float d = (x[base + i] - x0) - dmean;
    q += d * d;
  }
  const float rstd = 1.0 / sqrt(wg_sum(q) / float(pc.C) + pc.eps);

  for (uint i = tid; i < pc.C; i += WG_N) {
    float v = ((x[base + i] - x0) - dmean) * rstd;
    if (pc.has_gamma != 0) v *= gamma[i];
    if (pc.has_beta != 0) v += beta[i];
    y[base + i] = v;
  }
  if (tid == 0) {
    stats[2 * row] = x0 + dmean;
    stats[2 * row + 1] = rstd;
  }
}
