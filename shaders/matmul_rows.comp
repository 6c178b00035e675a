#version 450
// out (M, N) = a (M, K) b (+ bias) for few rows M (a decoding batch). Each invocation owns one output
// column n and computes it for every row, so each element of b is read once in all; the rows go in
// chunks of MR kept in registers, and the chunk of a is staged through shared memory KT values of k
// at a time (all invocations read the same a values, so shared memory broadcasts them).
#include "common.glsl"

const uint MR = 8, KT = 128;
const uint WG = gl_WorkGroupSize.x;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer C { float bias[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(push_constant, std430) uniform PC {
  uint M, N, K;
  uint b_sk, b_sn; // b[k, n] = b[k * b_sk + n * b_sn] (b_sn = K when b is transposed)
  uint has_bias;
} pc;

shared float as_[MR * KT]; // [row][k] of the current chunk

void main() {
  // Columns past N still take part in the staging and barriers, and write nothing.
  const uint n = linear_id(), tid = gl_LocalInvocationID.x;
  const bool live = n < pc.N;
  for (uint m0 = 0; m0 < pc.M; m0 += MR) {
    float acc[MR];
    [[unroll]] for (uint r = 0; r < MR; r++) acc[r] = 0.0;
    for (uint k0 = 0; k0 < pc.K; k0 += KT) {
      for (uint e = tid; e < MR * KT; e += WG) {
        uint r = e / KT, kk = e - r * KT, m = m0 + r, k = k0 + kk;
        as_[e] = (m < pc.M && k < pc.K) ? a[m * pc.K + k] : 0.0;
      }
      barrier();
      if (live) {
        uint kend = min(KT, pc.K - k0);
        for (uint kk = 0; kk < kend; kk++) {
          float bv = b[(k0 + kk) * pc.b_sk + n * pc.b_sn];
          [[unroll]] for (uint r = 0; r < MR; r++) acc[r] = fma(as_[r * KT + kk], bv, acc[r]);
        }
      }
      barrier();
    }
    if (live) {
      float bb = pc.has_bias != 0u ? bias[n] : 0.0;
      [[unroll]] for (uint r = 0; r < MR; r++)
        if (m0 + r < pc.M) o[(m0 + r) * pc.N + n] = acc[r] + bb;
    }
  }
}
