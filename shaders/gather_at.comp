#version 450
// out = x[..., pos + offset + j, ...] along one axis, x seen as (outer, A, inner) and out as
// (outer, len, inner); pos comes from a scalar slot at run time, so one recorded graph reads any
// position. Positions outside [0, A) read as zero. Values are copied as raw 32-bit words, so f32
// and i32 tensors both work.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer S { uint scal[]; };
layout(std430, binding = 1) readonly buffer X { uint x[]; };
layout(std430, binding = 2) writeonly buffer O { uint o[]; };
layout(push_constant, std430) uniform PC {
  uint n, A, inner, len;
  int offset;
  uint pos_slot; // 0xffffffff: position 0
} pc;

void main() {
  uint i = linear_id();
  if (i >= pc.n) return;
  uint in_ = i % pc.inner, rest = i / pc.inner, j = rest % pc.len, outer = rest / pc.len;
  int pos = (pc.pos_slot == 0xffffffffu ? 0 : int(scal[pc.pos_slot])) + pc.offset + int(j);
  o[i] = (pos >= 0 && pos < int(pc.A)) ? x[(outer * pc.A + uint(pos)) * pc.inner + in_] : 0u;
}
