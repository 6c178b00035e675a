#version 450
// Cross-entropy per row of logits (rows, C): one workgroup per row computes the row max m, the sum
// s of e^(x - m), and then
//   loss_r = log-sum-exp - x[label] = (m - x[label]) + log(s),
// with the max subtracted first so that logits of any size neither overflow nor lose the label's
// term to rounding. Rows whose label is ignore_index or outside [0, C) write loss 0 and valid 0;
// the mean pass divides by the number of valid rows. lse_r is kept for the backward.
#include "common.glsl"
#include "reduce_wg.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer L { int labels[]; };
layout(std430, binding = 2) writeonly buffer RL { float rowloss[]; };
layout(std430, binding = 3) writeonly buffer RV { float rowvalid[]; };
layout(std430, binding = 4) writeonly buffer LSE { float lse[]; };
layout(push_constant, std430) uniform PC {
  uint rows, C;
  int ignore_index;
} pc;

void main() {
  // Rows may spread over (x, y) workgroups; the test is uniform, so the whole group leaves together.
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= pc.rows) return;
  const uint base = row * pc.C, tid = gl_LocalInvocationIndex;
  const int label = labels[row];
  // The label is the same for the whole workgroup, so skipping an ignored row keeps the barriers
  // of the reductions below in uniform control flow.
  if (label == pc.ignore_index || label < 0 || uint(label) >= pc.C) {
    if (tid == 0) {
      rowloss[row] = 0.0;
      rowvalid[row] = 0.0;
      lse[row] = 0.0;
    }
    return;
  }

  float m = neg_inf();
  for (uint i = tid; i < pc.C; i += WG_N) m = max(m, x[base + i]);
  m = wg_max(m);

  float s = 0.0;
  for (uint i = tid; i < pc.C; i += WG_N) s += exp(x[base + i] - m);
  s = wg_sum(s);

  if (tid == 0) {
    const float ls = log(s);
    rowloss[row] = (m - x[base + uint(label)]) + ls;
    rowvalid[row] = 1.0;
    lse[row] = m + ls;
  }
}
