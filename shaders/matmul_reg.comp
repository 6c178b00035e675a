#version 450
// C[b] = opA(A[b]) (M x K) * opB(B[b]) (K x N) (+ bias), fp32: the register-blocked kernel for CPU
// devices (lavapipe). No shared memory and no barriers: each invocation computes a TM x TN block of C
// (TM consecutive rows, TN consecutive columns) straight from the operands, four k at a time.
//
// Why this shape on a CPU device: lavapipe runs 8 invocations as the lanes of one SIMD register, and
// every buffer (or shared-memory) load whose address differs between lanes becomes a loop over the
// lanes, costing tens of FMAs. So the kernel keeps as many accumulators as it can (TM x TN, spilled
// to the stack if need be, which is cheap) and loads operands as vec4 where the layout allows: one
// vec4 load moves four values for one trip through that loop.
//
// A_VEC / B_VEC say how each operand is read (the launcher checks alignment):
//   A_VEC 0: scalar loads; 1: vec4 along k (A row-major, K % 4 == 0); 2: vec4 along m (A transposed,
//   M % 4 == 0). B_VEC 0: scalar; 1: vec4 along n (B row-major, N % 4 == 0); 2: vec4 along k (B
//   transposed, K % 4 == 0).
// Out-of-range rows and columns are clamped to the last valid one for loading (no branch in the loop)
// and not stored; k past K reads as 0.
#include "common.glsl"

layout(constant_id = 3) const uint TM = 8;  // rows per invocation, a multiple of 4
layout(constant_id = 4) const uint TN = 8;  // columns per invocation, a multiple of 4
layout(constant_id = 5) const uint A_VEC = 0;
layout(constant_id = 6) const uint B_VEC = 0;
const uint TN4 = TN / 4;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer Bb { float b[]; };
layout(std430, binding = 1) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer C { float c[]; };
layout(push_constant, std430) uniform PC {
  uint M, N, K;
  uint a_sm, a_sk, a_sb;  // element strides of A along m, k and batch
  uint b_sk, b_sn, b_sb;  // of B along k, n and batch
  uint has_bias;
} pc;

void main() {
  // Workgroups walk down the rows first (x is the row block): neighbouring workgroups, which the
  // driver runs one after another, then read the same panel of B while it is still in cache.
  const uint m0 = (gl_WorkGroupID.x * gl_WorkGroupSize.y + gl_LocalInvocationID.y) * TM;
  const uint n0 = (gl_WorkGroupID.y * gl_WorkGroupSize.x + gl_LocalInvocationID.x) * TN;
  const uint batch = gl_WorkGroupID.z;
  if (m0 >= pc.M || n0 >= pc.N) return;  // a whole block past the edge (uniform per invocation)
  const uint a_base = batch * pc.a_sb, b_base = batch * pc.b_sb;
  const uint K = pc.K;

  // Row and column offsets of this block in A and B, clamped to the matrix.
  uint arow[TM], bcol[TN];
  [[unroll]] for (uint i = 0; i < TM; i++) arow[i] = a_base + min(m0 + i, pc.M - 1) * pc.a_sm;
  [[unroll]] for (uint j = 0; j < TN; j++) bcol[j] = b_base + min(n0 + j, pc.N - 1) * pc.b_sn;
  // For vec4 along m / n: the block's first row / column, clamped so that whole vec4s stay inside.
  const uint am4 = min(m0, pc.M - 4), bn4 = min(n0, pc.N - 4);

  vec4 acc[TM][TN4];
  [[unroll]] for (uint i = 0; i < TM; i++)
    [[unroll]] for (uint j = 0; j < TN4; j++) acc[i][j] = vec4(0.0);

  // Lavapipe ends a shader's loops after 65535 iterations in all: the launcher keeps K / 4 below that.
  {
    for (uint k0 = 0; k0 < K; k0 += 4) {
      vec4 ra[TM];      // A[m0 + i][k0 .. k0+3]
      vec4 rb[4][TN4];  // B[k0 + kk][n0 .. n0+TN-1]
      if (A_VEC == 1) {
        [[unroll]] for (uint i = 0; i < TM; i++) ra[i] = a4[(arow[i] + k0) >> 2];
      } else if (A_VEC == 2) {
        [[unroll]] for (uint kk = 0; kk < 4; kk++) {
          uint k = min(k0 + kk, K - 1);
          bvec4 in_k = bvec4(k0 + kk < K);
          [[unroll]] for (uint i4 = 0; i4 < TM / 4; i4++) {
            vec4 v = mix(vec4(0.0), a4[(a_base + min(am4 + 4 * i4, pc.M - 4) + k * pc.a_sk) >> 2], in_k);
            ra[4 * i4 + 0][kk] = v.x, ra[4 * i4 + 1][kk] = v.y, ra[4 * i4 + 2][kk] = v.z, ra[4 * i4 + 3][kk] = v.w;
          }
        }
      } else {
        [[unroll]] for (uint kk = 0; kk < 4; kk++) {
          uint k = min(k0 + kk, K - 1);
          bool in_k = k0 + kk < K;
          [[unroll]] for (uint i = 0; i < TM; i++) {
            float v = a[arow[i] + k * pc.a_sk];
            ra[i][kk] = in_k ? v : 0.0;
          }
        }
      }
      if (B_VEC == 1) {
        [[unroll]] for (uint kk = 0; kk < 4; kk++) {
          uint k = min(k0 + kk, K - 1);
          bvec4 in_k = bvec4(k0 + kk < K);
          [[unroll]] for (uint j = 0; j < TN4; j++)
            rb[kk][j] = mix(vec4(0.0), b4[(b_base + k * pc.b_sk + min(bn4 + 4 * j, pc.N - 4)) >> 2], in_k);
        }
      } else if (B_VEC == 2) {
        [[unroll]] for (uint j = 0; j < TN; j++) {
          vec4 v = b4[(bcol[j] + k0) >> 2];
          rb[0][j / 4][j % 4] = v.x, rb[1][j / 4][j % 4] = v.y, rb[2][j / 4][j % 4] = v.z, rb[3][j / 4][j % 4] = v.w;
        }
      } else {
        [[unroll]] for (uint kk = 0; kk < 4; kk++) {
          uint k = min(k0 + kk, K - 1);
          bool in_k = k0 + kk < K;
          [[unroll]] for (uint j = 0; j < TN; j++) {
            float v = b[bcol[j] + k * pc.b_sk];
            rb[kk][j / 4][j % 4] = in_k ? v : 0.0;
          }
        }
      }
      [[unroll]] for (uint kk = 0; kk < 4; kk++)
        [[unroll]] for (uint i = 0; i < TM; i++)
          [[unroll]] for (uint j = 0; j < TN4; j++) acc[i][j] = fma(vec4(ra[i][kk]), rb[kk][j], acc[i][j]);
    }
  }

  const uint c_base = batch * pc.M * pc.N;
  [[unroll]] for (uint i = 0; i < TM; i++) {
    uint m = m0 + i;
    if (m >= pc.M) break;
    [[unroll]] for (uint j = 0; j < TN; j++) {
      uint n = n0 + j;
      if (n >= pc.N) break;
      c[c_base + m * pc.N + n] = acc[i][j / 4][j % 4] + (pc.has_bias != 0 ? bias[n] : 0.0);
    }
  }
}
