#version 450
// The QKV projection of one decoding step with the KV-cache write: y (M, 3C) = a (M, K) b + bias, whose
// columns [0, C) are the query, stored as q (M, C) (that is (M, NH, 1, D): heads are whole columns),
// and whose columns [C, 2C) and [2C, 3C) are the key and value of heads h = j / D, stored at position
// pos = scal[pos_slot] + offset of the caches (M, NH, Tmax, D) (see matmul_rows.glsl). A position
// outside [0, Tmax) is dropped, as scatter_at does.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 1) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) readonly buffer C_ { float bias[]; };
layout(std430, binding = 3) readonly buffer S { uint scal[]; };
layout(std430, binding = 4) writeonly buffer Q { float q[]; };
layout(std430, binding = 5) writeonly buffer KC { float kc[]; };
layout(std430, binding = 6) writeonly buffer VC { float vc[]; };
layout(push_constant, std430) uniform PC {
  uint M, N, K;
  uint b_sk, b_sn;
  uint has_bias;
  uint C, NH, D, Tmax;
  uint pos_slot; // 0xffffffff: position 0
  int offset;
} pc;

#include "matmul_rows.glsl"

void store(uint m, uint n, float v) {
  if (n < pc.C) {
    q[m * pc.C + n] = v;
    return;
  }
  int pos = (pc.pos_slot == 0xffffffffu ? 0 : int(scal[pc.pos_slot])) + pc.offset;
  if (pos < 0 || pos >= int(pc.Tmax)) return;
  uint j = n < 2u * pc.C ? n - pc.C : n - 2u * pc.C, h = j / pc.D, d = j - h * pc.D;
  uint i = ((m * pc.NH + h) * pc.Tmax + uint(pos)) * pc.D + d;
  if (n < 2u * pc.C)
    kc[i] = v;
  else
    vc[i] = v;
}

void main() { rows_main(); }
