#version 450
// Input gradient of batch normalization, one invocation per element of x (B, C, S).
// Training (batch statistics, which depend on x): with xhat = (x - mean) * rstd over the channel's
// N = B * S values,
//   dx = gamma * rstd * (dy - sum(dy) / N - xhat * sum(dy * xhat) / N),
// the sums coming from batchnorm_bwd_sums as (C, 2). Inference (running statistics are constants):
//   dx = dy * gamma * rstd.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer MA { float stat_a[]; }; // stats (C, 2), or running_mean
layout(std430, binding = 2) readonly buffer MB { float stat_b[]; }; // stats (C, 2), or running_var
layout(std430, binding = 3) readonly buffer G { float gamma[]; };
layout(std430, binding = 4) readonly buffer Su { float sums[]; }; // (C, 2), training only
layout(std430, binding = 5) readonly buffer DY { float dy[]; };
layout(std430, binding = 6) writeonly buffer DX { float dx[]; };
layout(push_constant, std430) uniform PC {
  uint n, C, S, training, has_gamma;
  float eps, count; // count = B * S
} pc;

void main() {
  const uint i = linear_id();
  if (i >= pc.n) return;
  const uint c = (i / pc.S) % pc.C;
  const float scale = pc.has_gamma != 0 ? gamma[c] : 1.0;
  if (pc.training != 0) {
    const float mean = stat_a[2 * c], rstd = stat_b[2 * c + 1];
    const float xhat = (x[i] - mean) * rstd;
    dx[i] = scale * rstd * (dy[i] - sums[2 * c] / pc.count - xhat * sums[2 * c + 1] / pc.count);
  } else {
    dx[i] = dy[i] * scale / sqrt(stat_b[c] + pc.eps);
  }
}
