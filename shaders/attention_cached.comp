#version 450
// Causal attention of q (B, NH, Tq, D) over the valid prefix of a KV cache k (B, NH, Tmax, D),
// v (B, NH, Tmax, Dv): L = min(pos + offset, Tmax) keys are valid (pos from a scalar slot at run time)
// and query i, standing at position L - Tq + i, sees keys [0, L - Tq + i]. Decoding calls this with
// Tq = 1 every step, so the cost is one pass over the keys, not a tiled matmul.
// One workgroup per (query, head, batch). Keys go in chunks of WG: each invocation scores one key,
// the chunk's max and sum come from tree reductions in shared memory, and an online softmax (running
// max m and sum l, the output rescaled by exp(m_old - m_new)) lets any number of keys pass through.
// Each invocation owns output columns tid, tid + WG, ...; the output row lives in shared memory.
#include "common.glsl"

layout(constant_id = 3) const uint DMAX = 64;  // D rounded up to a multiple of WG
layout(constant_id = 4) const uint DVMAX = 64; // Dv rounded up to a multiple of WG
const uint WG = gl_WorkGroupSize.x;

layout(std430, binding = 0) readonly buffer S { uint scal[]; };
layout(std430, binding = 1) readonly buffer Q { float q[]; };
layout(std430, binding = 2) readonly buffer K { float k[]; };
layout(std430, binding = 3) readonly buffer V { float v[]; };
layout(std430, binding = 4) writeonly buffer O { float o[]; };
layout(push_constant, std430) uniform PC {
  uint NH, Tq, Tmax, D, Dv;
  float scale;
  uint len_slot; // 0xffffffff: pos 0
  int offset;
} pc;

shared float qs[DMAX];
shared float acc[DVMAX];
shared float ps[WG];
shared float red[WG];

// Tree reduction of red[] (max or sum) over the workgroup; every invocation gets the result.
float reduce_wg(float x, bool is_max) {
  uint tid = gl_LocalInvocationID.x;
  red[tid] = x;
  barrier();
  uint p2 = 1u;
  while (p2 < WG) p2 <<= 1;
  for (uint s = p2 >> 1; s > 0u; s >>= 1) {
    if (tid < s && tid + s < WG) red[tid] = is_max ? max(red[tid], red[tid + s]) : red[tid] + red[tid + s];
    barrier();
  }
  float r = red[0];
  barrier(); // everyone has read red[0] before it is written again
  return r;
}

void main() {
  const uint tid = gl_LocalInvocationID.x, qi = gl_WorkGroupID.x;
  const uint bh = gl_WorkGroupID.z * pc.NH + gl_WorkGroupID.y;
  const float NEG_INF = uintBitsToFloat(0xff800000u);
  int pos = pc.len_slot == 0xffffffffu ? 0 : int(scal[pc.len_slot]);
  int L = clamp(pos + pc.offset, 0, int(pc.Tmax));
  // Keys this query sees: [0, kend). Uniform over the workgroup, so the loop may hold barriers.
  uint kend = uint(clamp(L - int(pc.Tq) + int(qi) + 1, 0, L));

  for (uint d = tid; d < pc.D; d += WG) qs[d] = q[(bh * pc.Tq + qi) * pc.D + d] * pc.scale;
  for (uint d = tid; d < pc.Dv; d += WG) acc[d] = 0.0;
  barrier();

  float m = NEG_INF, l = 0.0;
  for (uint k0 = 0; k0 < kend; k0 += WG) {
    uint key = k0 + tid;
    float s = NEG_INF;
    if (key < kend) {
      s = 0.0;
      uint kb = (bh * pc.Tmax + key) * pc.D;
      for (uint d = 0; d < pc.D; d++) s = fma(qs[d], k[kb + d], s);
    }
    float mn = max(m, reduce_wg(s, true)); // finite: the chunk holds at least one key
    float alpha = m == NEG_INF ? 0.0 : exp(m - mn);
    float p = key < kend ? exp(s - mn) : 0.0;
    ps[tid] = p;
    l = l * alpha + reduce_wg(p, false); // its barriers also publish ps[]
    m = mn;
    uint nk = min(WG, kend - k0);
    for (uint d = tid; d < pc.Dv; d += WG) {
      float a = acc[d] * alpha;
      for (uint j = 0; j < nk; j++) a = fma(ps[j], v[(bh * pc.Tmax + k0 + j) * pc.Dv + d], a);
      acc[d] = a;
    }
    barrier(); // ps[] is rewritten by the next chunk
  }
  float inv = kend == 0u ? 0.0 : 1.0 / l;
  for (uint d = tid; d < pc.Dv; d += WG) o[(bh * pc.Tq + qi) * pc.Dv + d] = acc[d] * inv;
}
