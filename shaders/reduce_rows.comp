#version 450
// Reduces rows of x (rows, n), one workgroup per (row, segment): the workgroup folds elements
// [s * seg, min(n, (s + 1) * seg)) of its row and writes one value to o[row * nseg + s]. With one
// segment that is the whole row; longer rows are cut into segments by the launcher and the partial
// results reduced again, so no invocation loops more than seg / WG times (lavapipe, for one, stops
// every loop of an invocation after 65535 iterations in all).
// Each invocation first folds a strided part of the segment, with Kahan-compensated sums so that
// rows of 10^5 and more stay accurate; the workgroup then combines its partial results pairwise
// through shared memory.
#include "common.glsl"

layout(constant_id = 3) const uint OP = 0; // 0 sum, 1 mean, 2 max (enum vkg_reduce_op)
const uint WG = gl_WorkGroupSize.x;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };
layout(push_constant, std430) uniform PC {
  uint rows, n;
  uint seg, nseg; // segment length and segments per row
  float count;    // the mean divides by this (the length of the original rows)
} pc;

shared float part[WG];

void main() {
  // Workgroups past 65535 spread over (x, y); the test is uniform over the workgroup, so the early
  // return cannot split a barrier.
  const uint w = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (w >= pc.rows * pc.nseg) return;
  const uint tid = gl_LocalInvocationID.x, row = w / pc.nseg, s = w % pc.nseg;
  const uint base = row * pc.n, begin = s * pc.seg, end = min(pc.n, begin + pc.seg);

  float r;
  if (OP == 2) {
    r = uintBitsToFloat(0xff800000u); // -inf: the identity of max
    for (uint j = begin + tid; j < end; j += WG) r = max(r, x[base + j]);
  } else {
    // precise keeps the compiler from folding the compensation away.
    precise float acc = 0.0, c = 0.0;
    for (uint j = begin + tid; j < end; j += WG) {
      precise float y = x[base + j] - c;
      precise float t = acc + y;
      c = (t - acc) - y;
      acc = t;
    }
    r = acc - c;
  }
  part[tid] = r;
  barrier();

  // Pairwise tree; the first step folds any invocations beyond the largest power of two <= WG.
  uint half_ = 1;
  while (half_ * 2 <= WG) half_ *= 2;
  if (half_ < WG) {
    if (tid < WG - half_) part[tid] = OP == 2 ? max(part[tid], part[tid + half_]) : part[tid] + part[tid + half_];
    barrier();
  }
  for (uint k = half_ / 2; k > 0; k /= 2) {
    if (tid < k) part[tid] = OP == 2 ? max(part[tid], part[tid + k]) : part[tid] + part[tid + k];
    barrier();
  }
  if (tid == 0) o[w] = OP == 1 ? part[0] / pc.count : part[0];
}
