#version 450
// out = a (op) b with broadcasting. The launcher merges dims, so ndim is small; a stride of 0
// repeats an operand along that dim. The op is a specialization constant (the driver drops the other
// cases); when both operands are laid out like the output and n % 4 == 0 (VEC 1), each invocation
// does one vec4 with no index arithmetic, the bandwidth-bound case of large tensors.
#include "common.glsl"

layout(constant_id = 3) const uint OP = 0;
layout(constant_id = 4) const uint VEC = 0;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 1) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(std430, binding = 2) writeonly buffer O4 { vec4 o4[]; };
layout(push_constant, std430) uniform PC {
  uint n, ndim, op, pad;
  uint shape[6];
  uint sa[6];
  uint sb[6];
} pc;

vec4 apply(vec4 x, vec4 y) {
  vec4 r;
  switch (OP) {
  case 0: r = x + y; break;
  case 1: r = x - y; break;
  case 2: r = x * y; break;
  case 3: r = x / y; break;
  case 4: r = max(x, y); break;
  case 5: r = min(x, y); break;
  default: r = pow(x, y); break;
  }
  return r;
}

void main() {
  uint i = linear_id();
  if (VEC == 1) {
    if (i < pc.n / 4) o4[i] = apply(a4[i], b4[i]);
    return;
  }
  if (i >= pc.n) return;
  uint rem = i, ia = 0, ib = 0;
  for (int d = int(pc.ndim) - 1; d >= 0; d--) {
    uint c = rem % pc.shape[d];
    rem /= pc.shape[d];
    ia += c * pc.sa[d];
    ib += c * pc.sb[d];
  }
  o[i] = apply(vec4(a[ia]), vec4(b[ib])).x;
}
