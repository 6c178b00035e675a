#version 450
// Reduces x viewed as (outer, n, inner) over its middle axis: one invocation per output of
// o (outer, nseg, inner), folding elements [s * seg, min(n, (s + 1) * seg)) of the middle axis.
// With one segment that is the whole axis; longer axes are cut into segments by the launcher and
// the partial results reduced again, so no invocation loops more than seg times (lavapipe, for one,
// stops every loop of an invocation after 65535 iterations in all).
// Neighbouring invocations read neighbouring inner elements, so the loads coalesce. Also used for
// short last-axis rows (inner = 1), where a workgroup per row would idle.
#include "common.glsl"

layout(constant_id = 3) const uint OP = 0; // 0 sum, 1 mean, 2 max (enum vkg_reduce_op)

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };
layout(push_constant, std430) uniform PC {
  uint total; // outer * nseg * inner outputs
  uint n, inner;
  uint seg, nseg; // segment length and segments along the axis
  float count;    // the mean divides by this (the length of the original axis)
} pc;

void main() {
  const uint i = linear_id();
  if (i >= pc.total) return;
  const uint k = i % pc.inner, s = (i / pc.inner) % pc.nseg, row = i / (pc.inner * pc.nseg);
  const uint begin = s * pc.seg, end = min(pc.n, begin + pc.seg);
  const uint base = row * pc.n * pc.inner + k;
  float r;
  if (OP == 2) {
    r = uintBitsToFloat(0xff800000u); // -inf: the identity of max
    for (uint j = begin; j < end; j++) r = max(r, x[base + j * pc.inner]);
  } else {
    // Kahan-compensated, as in reduce_rows.comp.
    precise float acc = 0.0, c = 0.0;
    for (uint j = begin; j < end; j++) {
      precise float y = x[base + j * pc.inner] - c;
      precise float t = acc + y;
      c = (t - acc) - y;
      acc = t;
    }
    r = acc - c;
    if (OP == 1) r /= pc.count;
  }
  o[i] = r;
}
