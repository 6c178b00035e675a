#version 450
// Backward of max, step 1: the position of the first maximal element of each reduced line, for x
// viewed as (outer, n, inner) and the forward's result y (outer * inner values).
// MODE 0: arg[line] = n (no position yet), one invocation per line;
// MODE 1: one invocation per element of x; those equal to their line's max take the smallest
//         position with an atomic min, which gives the same answer in any order.
#include "common.glsl"

layout(constant_id = 3) const uint MODE = 0;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Y { float y[]; };
layout(std430, binding = 2) buffer A { uint arg[]; };
layout(push_constant, std430) uniform PC {
  uint total, n, inner; // total: lines (MODE 0) or elements (MODE 1)
} pc;

void main() {
  const uint i = linear_id();
  if (i >= pc.total) return;
  if (MODE == 0) {
    arg[i] = pc.n;
    return;
  }
  const uint o = i / (pc.n * pc.inner), r = i - o * pc.n * pc.inner, j = r / pc.inner;
  const uint line = o * pc.inner + (r - j * pc.inner);
  if (x[i] == y[line]) atomicMin(arg[line], j);
}
