#version 450
// Backward of layer normalization, one workgroup per row, from the saved per-row (mean, rstd):
// with xhat = (x - mean) * rstd and g = dy * gamma,
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
// (the two means remove the parts of g that moving the row's mean and scale would undo).
// It also writes dyx = dy * xhat, whose column sums over the rows are dgamma; the launcher sums them
// with vkg_reduce, which splits long columns over passes.
#include "common.glsl"
#include "reduce_wg.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer St { float stats[]; };
layout(std430, binding = 2) readonly buffer G { float gamma[]; };
layout(std430, binding = 3) readonly buffer DY { float dy[]; };
layout(std430, binding = 4) writeonly buffer DX { float dx[]; };
layout(std430, binding = 5) writeonly buffer DYX { float dyx[]; };
layout(push_constant, std430) uniform PC {
  uint rows, C, has_gamma;
  uint want_dx, want_dyx; // which outputs to write (the other binding holds a stand-in)
} pc;

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= pc.rows) return; // uniform: the whole workgroup leaves
  const uint base = row * pc.C, tid = gl_LocalInvocationIndex;
  const float mean = stats[2 * row], rstd = stats[2 * row + 1];

  if (pc.want_dx != 0) {
    float a = 0.0, b = 0.0;
    for (uint i = tid; i < pc.C; i += WG_N) {
      const float g = pc.has_gamma != 0 ? dy[base + i] * gamma[i] : dy[base + i];
      a += g;
      b += g * (x[base + i] - mean) * rstd;
    }
    const float ma = wg_sum(a) / float(pc.C), mb = wg_sum(b) / float(pc.C);
    for (uint i = tid; i < pc.C; i += WG_N) {
      const float g = pc.has_gamma != 0 ? dy[base + i] * gamma[i] : dy[base + i];
      dx[base + i] = rstd * (g - ma - (x[base + i] - mean) * rstd * mb);
    }
  }
  if (pc.want_dyx != 0)
    for (uint i = tid; i < pc.C; i += WG_N) dyx[base + i] = dy[base + i] * (x[base + i] - mean) * rstd;
}
