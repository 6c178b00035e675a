#version 450
// Batch statistics of one channel per workgroup, for x (B, C, S) with S the product of the spatial
// dims: mean and biased variance over the B * S values of the channel (two passes, as in
// layernorm_fwd). Writes stats (C, 2) = (mean, rstd) and, when asked, updates the running
// statistics in place with PyTorch's rule, which uses the unbiased variance:
//   running = (1 - momentum) * running + momentum * batch_stat.
#include "common.glsl"
#include "reduce_wg.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer St { float stats[]; };
layout(std430, binding = 2) buffer RM { float run_mean[]; };
layout(std430, binding = 3) buffer RV { float run_var[]; };
layout(push_constant, std430) uniform PC {
  uint B, C, S, update;
  float momentum, eps;
} pc;

void main() {
  const uint c = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (c >= pc.C) return; // uniform: the whole workgroup leaves
  const uint n = pc.B * pc.S, tid = gl_LocalInvocationIndex;

  // Sums of d = x - x0 (x0 the channel's first value), which keep their precision when
  // |mean| >> std; see layernorm_fwd.
  const float x0 = x[c * pc.S];
  float s = 0.0;
  for (uint e = tid; e < n; e += WG_N) {
    uint b = e / pc.S;
    s += x[(b * pc.C + c) * pc.S + (e - b * pc.S)] - x0;
  }
  const float dmean = wg_sum(s) / float(n); // mean - x0
  const float mean = x0 + dmean;

  float q = 0.0;
  for (uint e = tid; e < n; e += WG_N) {
    uint b = e / pc.S;
    float d = (x[(b * pc.C + c) * pc.S + (e - b * pc.S)] - x0) - dmean;
    q += d * d;
  }
  const float m2 = wg_sum(q); // sum of squared deviations

  if (tid == 0) {
    stats[2 * c] = mean;
    stats[2 * c + 1] = 1.0 / sqrt(m2 / float(n) + pc.eps);
    if (pc.update != 0) {
      // The launcher guarantees n > 1 in training mode, so n - 1 is never 0.
      run_mean[c] = (1.0 - pc.momentum) * run_mean[c] + pc.momentum * mean;
      run_var[c] = (1.0 - pc.momentum) * run_var[c] + pc.momentum * (m2 / float(n - 1));
    }
  }
}
