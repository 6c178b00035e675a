#version 450
// Backward of max, step 2: dx = dy of the line at the line's first maximal element (found by
// reduce_max_bwd_arg), 0 elsewhere. One invocation per element of x, viewed as (outer, n, inner).
#include "common.glsl"

layout(std430, binding = 0) readonly buffer A { uint arg[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) writeonly buffer DX { float dx[]; };
layout(push_constant, std430) uniform PC {
  uint total, n, inner;
} pc;

void main() {
  const uint i = linear_id();
  if (i >= pc.total) return;
  const uint o = i / (pc.n * pc.inner), r = i - o * pc.n * pc.inner, j = r / pc.inner;
  const uint line = o * pc.inner + (r - j * pc.inner);
  dx[i] = arg[line] == j ? dy[line] : 0.0;
}
