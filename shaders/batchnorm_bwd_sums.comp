#version 450
// Per-channel sums for the batchnorm backward, for x (B, C, S) with S the product of the spatial dims:
//   part[c, seg, 0] = sum dy,  part[c, seg, 1] = sum dy * xhat,  xhat = (x - mean[c]) * rstd[c],
// over one segment of the channel's B * S values per workgroup. Segments keep every invocation's
// loop short however large the batch; the launcher sums the segments' partial results when there are
// several. mean and rstd are the batch statistics (training) or come from the running statistics.
#include "common.glsl"
#include "reduce_wg.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer MA { float stat_a[]; }; // stats (C, 2), or running_mean
layout(std430, binding = 2) readonly buffer MB { float stat_b[]; }; // stats (C, 2), or running_var
layout(std430, binding = 3) readonly buffer DY { float dy[]; };
layout(std430, binding = 4) writeonly buffer P { float part[]; }; // (C, nseg, 2)
layout(push_constant, std430) uniform PC {
  uint B, C, S, nseg, seg, training;
  float eps;
} pc;

void main() {
  const uint wid = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (wid >= pc.C * pc.nseg) return; // uniform: the whole workgroup leaves
  const uint c = wid / pc.nseg, sg = wid - c * pc.nseg, tid = gl_LocalInvocationIndex;
  const uint n = pc.B * pc.S, e0 = sg * pc.seg, e1 = min(e0 + pc.seg, n);
  float mean, rstd;
  if (pc.training != 0) {
    mean = stat_a[2 * c];
    rstd = stat_b[2 * c + 1];
  } else {
    mean = stat_a[c];
    rstd = 1.0 / sqrt(stat_b[c] + pc.eps);
  }

  float s = 0.0, t = 0.0;
  for (uint e = e0 + tid; e < e1; e += WG_N) {
    const uint b = e / pc.S, i = (b * pc.C + c) * pc.S + (e - b * pc.S);
    s += dy[i];
    t += dy[i] * (x[i] - mean) * rstd;
  }
  s = wg_sum(s);
  t = wg_sum(t);
  if (tid == 0) {
    part[2 * wid] = s;
    part[2 * wid + 1] = t;
  }
}
