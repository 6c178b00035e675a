#version 450
// Attention backward, the elementwise step between the matmuls of the launcher, one invocation per
// score of (B, NH, Tq, Tk):
//   P  = exp(scale * S - lse)          the forward's probabilities, rebuilt from the saved lse
//   dS = P * (dP - Dsum) * scale       the gradient of the raw scores q.k (scale folded in)
// with S = q k^T, dP = dO v^T and Dsum = rowsum(dO * O). Keys a causal query does not see get 0.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer Sc { float s[]; };
layout(std430, binding = 1) readonly buffer L { float lse[]; };
layout(std430, binding = 2) readonly buffer DPb { float dp[]; };
layout(std430, binding = 3) readonly buffer Ds { float dsum[]; };
layout(std430, binding = 4) writeonly buffer Pb { float p[]; };
layout(std430, binding = 5) writeonly buffer DSb { float ds[]; };
layout(push_constant, std430) uniform PC {
  uint n, Tq, Tk, causal;
  float scale;
  uint want_p, want_ds; // which outputs to write (the others hold stand-ins)
} pc;

void main() {
  const uint i = linear_id();
  if (i >= pc.n) return;
  const uint row = i / pc.Tk, key = i - row * pc.Tk, qi = row % pc.Tq;
  // Causal query qi stands at position Tk - Tq + qi (the launcher ensures Tq <= Tk then).
  const bool seen = pc.causal == 0 || key <= pc.Tk - pc.Tq + qi;
  const float prob = seen ? exp(s[i] * pc.scale - lse[row]) : 0.0;
  if (pc.want_p != 0) p[i] = prob;
  if (pc.want_ds != 0) ds[i] = prob * (dp[i] - dsum[row]) * pc.scale;
}
