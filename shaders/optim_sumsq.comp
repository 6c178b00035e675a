#version 450
// Sums of squares of up to 7 gradient tensors, the first step of the global gradient norm. Each
// workgroup folds one segment of seg elements of one gradient into one partial sum; the partial
// sums of every gradient land side by side in parts (the launcher then sums them all and takes the
// square root). Workgroups [start[k], start[k + 1]) belong to gradient k. Gradients come in separate
// bindings since a buffer cannot be picked by index without an optional device feature; unused
// bindings repeat the first gradient and are never read.
#include "common.glsl"
#include "reduce_wg.glsl"

layout(std430, binding = 0) readonly buffer G0 { float g0[]; };
layout(std430, binding = 1) readonly buffer G1 { float g1[]; };
layout(std430, binding = 2) readonly buffer G2 { float g2[]; };
layout(std430, binding = 3) readonly buffer G3 { float g3[]; };
layout(std430, binding = 4) readonly buffer G4 { float g4[]; };
layout(std430, binding = 5) readonly buffer G5 { float g5[]; };
layout(std430, binding = 6) readonly buffer G6 { float g6[]; };
layout(std430, binding = 7) writeonly buffer P { float parts[]; };
layout(push_constant, std430) uniform PC {
  uint ngrad, seg, out_off, pad;
  uint n[7];     // elements of each gradient
  uint start[8]; // first workgroup of each gradient; start[ngrad] is the total
} pc;

float load(uint k, uint i) {
  switch (k) {
  case 0: return g0[i];
  case 1: return g1[i];
  case 2: return g2[i];
  case 3: return g3[i];
  case 4: return g4[i];
  case 5: return g5[i];
  default: return g6[i];
  }
}

void main() {
  const uint w = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (w >= pc.start[pc.ngrad]) return; // uniform over the workgroup
  uint k = 0;
  while (k + 1 < pc.ngrad && pc.start[k + 1] <= w) k++;
  const uint tid = gl_LocalInvocationIndex, begin = (w - pc.start[k]) * pc.seg, end = min(pc.n[k], begin + pc.seg);
  float s = 0.0;
  for (uint i = begin + tid; i < end; i += WG_N) {
    const float v = load(k, i);
    s += v * v;
  }
  s = wg_sum(s);
  if (tid == 0) parts[pc.out_off + w] = s;
}
