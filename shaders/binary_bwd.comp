#version 450
// The gradient of out = a (op) b with respect to one operand (which = 0: a, 1: b), at the full output
// shape; the launcher then sums it over broadcast dims. Indexing as in binary.comp.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer GY { float gy[]; };
layout(std430, binding = 3) writeonly buffer G { float g[]; };
layout(push_constant, std430) uniform PC {
  uint n, ndim, op, which;
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
  float x = a[ia], y = b[ib], gr = gy[i], r;
  bool wa = pc.which == 0;
  switch (pc.op) {
  case 0: r = gr; break;                                   // add
  case 1: r = wa ? gr : -gr; break;                        // sub
  case 2: r = wa ? gr * y : gr * x; break;                 // mul
  case 3: r = wa ? gr / y : -gr * x / (y * y); break;      // div
  // maximum / minimum: the gradient goes to the operand that was chosen (a on ties)
  case 4: r = (wa ? x >= y : x < y) ? gr : 0.0; break;
  case 5: r = (wa ? x <= y : x > y) ? gr : 0.0; break;
  default: r = wa ? gr * y * pow(x, y - 1.0) : gr * pow(x, y) * log(x); break; // pow
  }
  g[i] = r;
}
