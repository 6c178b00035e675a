#version 450
// out = a (op) b with broadcasting. The launcher merges dims, so ndim is small; a stride of 0
// repeats an operand along that dim.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant, std430) uniform PC {
  uint n, ndim, op, pad;
  uint shape[6];
  uint sa[6];
  uint sb[6];
} pc;

void main() {
  uint i = linear_id();
  if (i >= pc.n) return;
  uint rem = i, ia = 0, ib = 0;
  for (int d = int(pc.ndim) - 1; d >= 0; d--) {
    uint c = rem % pc.shape[d];
    rem /= pc.shape[d];
    ia += c * pc.sa[d];
    ib += c * pc.sb[d];
  }
  float x = a[ia], y = b[ib], r;
  switch (pc.op) {
  case 0: r = x + y; break;
  case 1: r = x - y; break;
  case 2: r = x * y; break;
  case 3: r = x / y; break;
  case 4: r = max(x, y); break;
  case 5: r = min(x, y); break;
  default: r = pow(x, y); break;
  }
  o[i] = r;
}
