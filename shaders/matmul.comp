#version 450
// C[b] = A[b] (M x K) * B[b] (K x N) (+ bias), fp32 accumulation.
// Each workgroup computes a BM x BN tile of C (BM = WY*TM, BN = WX*TN) through shared-memory tiles of
// depth TK; each invocation keeps TM x TN accumulators in registers, at rows ty + WY*i and columns
// tx + WX*j (strided, so neighbouring invocations read neighbouring shared-memory words).
// Operand layouts come as element strides, so transposed operands need no copy.
#include "common.glsl"

layout(constant_id = 3) const uint TM = 4;
layout(constant_id = 4) const uint TN = 4;
layout(constant_id = 5) const uint TK = 16;
const uint WX = gl_WorkGroupSize.x, WY = gl_WorkGroupSize.y;
const uint BM = WY * TM, BN = WX * TN;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer Bb { float b[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer C { float c[]; };
layout(push_constant, std430) uniform PC {
  uint M, N, K;
  uint a_sm, a_sk, a_sb;  // element strides of A along m, k and batch
  uint b_sk, b_sn, b_sb;  // of B along k, n and batch
  uint has_bias;
} pc;

shared float As[TK * BM];  // [k][m]
shared float Bs[TK * BN];  // [k][n]

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint tid = ty * WX + tx, nthreads = WX * WY;
  const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN, batch = gl_WorkGroupID.z;
  const uint a_base = batch * pc.a_sb, b_base = batch * pc.b_sb;

  float acc[TM][TN];
  [[unroll]] for (uint i = 0; i < TM; i++)
    [[unroll]] for (uint j = 0; j < TN; j++) acc[i][j] = 0.0;

  // Load order follows the operand's contiguous axis so global reads coalesce.
  const bool a_k_contig = pc.a_sk == 1, b_n_contig = pc.b_sn == 1;

  for (uint k0 = 0; k0 < pc.K; k0 += TK) {
    for (uint e = tid; e < TK * BM; e += nthreads) {
      uint kk, mm;
      if (a_k_contig) { mm = e / TK; kk = e % TK; } else { kk = e / BM; mm = e % BM; }
      uint m = m0 + mm, k = k0 + kk;
      As[kk * BM + mm] = (m < pc.M && k < pc.K) ? a[a_base + m * pc.a_sm + k * pc.a_sk] : 0.0;
    }
    for (uint e = tid; e < TK * BN; e += nthreads) {
      uint kk, nn;
      if (b_n_contig) { kk = e / BN; nn = e % BN; } else { nn = e / TK; kk = e % TK; }
      uint n = n0 + nn, k = k0 + kk;
      Bs[kk * BN + nn] = (n < pc.N && k < pc.K) ? b[b_base + k * pc.b_sk + n * pc.b_sn] : 0.0;
    }
    barrier();
    [[unroll]] for (uint kk = 0; kk < TK; kk++) {
      float ra[TM], rb[TN];
      [[unroll]] for (uint i = 0; i < TM; i++) ra[i] = As[kk * BM + ty + WY * i];
      [[unroll]] for (uint j = 0; j < TN; j++) rb[j] = Bs[kk * BN + tx + WX * j];
      [[unroll]] for (uint i = 0; i < TM; i++)
        [[unroll]] for (uint j = 0; j < TN; j++) acc[i][j] = fma(ra[i], rb[j], acc[i][j]);
    }
    barrier();
  }

  const uint c_base = batch * pc.M * pc.N;
  [[unroll]] for (uint i = 0; i < TM; i++) {
    uint m = m0 + ty + WY * i;
    if (m >= pc.M) continue;
    [[unroll]] for (uint j = 0; j < TN; j++) {
      uint n = n0 + tx + WX * j;
      if (n >= pc.N) continue;
      c[c_base + m * pc.N + n] = acc[i][j] + (pc.has_bias != 0 ? bias[n] : 0.0);
    }
  }
}
