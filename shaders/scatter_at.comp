#version 450
// dst[..., pos + offset + j, ...] = src[..., j, ...] along one axis, in place: dst seen as
// (outer, A, inner) and src as (outer, J, inner). pos (and the optional lower bound lo) come from
// scalar slots at run time. Positions outside [max(lo, 0), A) are left alone, so a prompt below lo
// is never overwritten and a write past the end of a cache is dropped. Raw 32-bit words: f32 or i32.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer S { uint scal[]; };
layout(std430, binding = 1) readonly buffer X { uint src[]; };
layout(std430, binding = 2) writeonly buffer O { uint dst[]; };
layout(push_constant, std430) uniform PC {
  uint n, A, inner, J;
  int offset;
  uint pos_slot, lo_slot; // 0xffffffff: position 0, no lower bound
} pc;

void main() {
  uint i = linear_id();
  if (i >= pc.n) return;
  uint in_ = i % pc.inner, rest = i / pc.inner, j = rest % pc.J, outer = rest / pc.J;
  int pos = (pc.pos_slot == 0xffffffffu ? 0 : int(scal[pc.pos_slot])) + pc.offset + int(j);
  int lo = pc.lo_slot == 0xffffffffu ? 0 : int(scal[pc.lo_slot]);
  if (pos < max(lo, 0) || pos >= int(pc.A)) return;
  dst[(outer * pc.A + uint(pos)) * pc.inner + in_] = src[i];
}
