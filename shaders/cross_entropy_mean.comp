#version 450
// One pass of the cross-entropy's mean: workgroup w folds the (loss, valid) pairs
// [w * seg, min(n, (w + 1) * seg)) into a partial loss sum and a partial count. With one segment
// (FINAL) it writes the mean over the valid rows instead, 0 when no row is valid, and the count,
// which the backward divides by. seg is the workgroup size times a small number, so no invocation
// loops long (lavapipe ends loops after 65535 iterations).
#include "common.glsl"
#include "reduce_wg.glsl"

layout(constant_id = 3) const uint FINAL = 0;

layout(std430, binding = 0) readonly buffer IL { float in_loss[]; };
layout(std430, binding = 1) readonly buffer IV { float in_valid[]; };
layout(std430, binding = 2) writeonly buffer OL { float out_loss[]; };
layout(std430, binding = 3) writeonly buffer OV { float out_valid[]; };
layout(push_constant, std430) uniform PC {
  uint n, seg, nseg;
} pc;

void main() {
  const uint w = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (w >= pc.nseg) return; // uniform over the workgroup
  const uint tid = gl_LocalInvocationIndex, begin = w * pc.seg, end = min(pc.n, begin + pc.seg);
  float l = 0.0, v = 0.0;
  for (uint i = begin + tid; i < end; i += WG_N) {
    l += in_loss[i];
    v += in_valid[i];
  }
  l = wg_sum(l);
  v = wg_sum(v);
  if (tid == 0) {
    out_loss[w] = FINAL != 0 ? (v > 0.0 ? l / v : 0.0) : l;
    out_valid[w] = v;
  }
}
