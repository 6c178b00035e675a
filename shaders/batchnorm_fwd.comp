#version 450
// Batch normalization of x (B, C, S), one invocation per element:
//   y = (x - mean[c]) * rstd[c] * gamma[c] + beta[c].
// Training: mean and rstd come from stats (C, 2) made by batchnorm_stats (bound at bindings 1 and 2).
// Inference: from the running statistics, rstd = 1 / sqrt(running_var + eps).
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer MA { float stat_a[]; }; // stats, or running_mean
layout(std430, binding = 2) readonly buffer MB { float stat_b[]; }; // stats, or running_var
layout(std430, binding = 3) readonly buffer G { float gamma[]; };
layout(std430, binding = 4) readonly buffer Bt { float beta[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };
layout(push_constant, std430) uniform PC {
  uint n, C, S, training;
  uint has_gamma, has_beta;
  float eps;
} pc;

void main() {
  const uint i = linear_id();
  if (i >= pc.n) return;
  const uint c = (i / pc.S) % pc.C;
  float mean, rstd;
  if (pc.training != 0) {
    mean = stat_a[2 * c];
    rstd = stat_b[2 * c + 1];
  } else {
    mean = stat_a[c];
    rstd = 1.0 / sqrt(stat_b[c] + pc.eps);
  }
  float v = (x[i] - mean) * rstd;
  if (pc.has_gamma != 0) v *= gamma[c];
  if (pc.has_beta != 0) v += beta[c];
  y[i] = v;
}
