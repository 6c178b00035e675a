#version 450
// Convolutions as an implicit GEMM for CPU devices (lavapipe), register-blocked like matmul_reg.comp:
// each invocation computes a TM x TN block of C = A B for one group g, with no shared memory, four k
// at a time. One shader serves the three launches of src/ops/conv.c through a generic description
// (all in the push constants), with k = (k2, k1, k0) of sizes (K / (D1 D0), D1, D0) and columns
// n = (n2, n1, n0) of sizes (N / (N1 N0), N1, N0):
//   A[m][k] = a[a_off + a_g g + a_sm m + as2 k2 + as1 k1 + as0 k0]            (weights, or dy)
//   B[k][n] = b[b_g g + ns2 n2 + bs2 k2 + y SWD + x], with
//             y = ns1 n1 + noff1 + bs1 k1, x = ns0 n0 + noff0 + bs0 k0, 0 unless 0 <= y < SHT and
//             0 <= x < SWD  (the gathered image)
//   c[c_off + c_g g + c_split s + c_sm m + cn2 n2 + cn1 n1 + cn0 n0] = sum_k A B (+ bias[g M + m])
// The launcher maps conv2d's forward (m = out channel, n = (b, oy, ox), k = (c, ky, kx)), its input
// gradient / conv_transpose2d (m = image channel, n = (b, iy, ix), k = (o, ky, kx)) and its weight
// gradient (m = out channel, n = (c, ky, kx),
// k = (b, oy, ox), optionally split over s along k into partial sums) onto it. A strided transposed
// convolution is launched once per phase (image rows iy = py + stride*n1, and likewise columns), over
// only the taps that reach that phase, so no FMA is spent on taps that miss.
#include "common.glsl"

layout(constant_id = 3) const uint TM = 8;     // rows per invocation (16 when there are that many)
layout(constant_id = 4) const uint TN = 8;     // columns per invocation, a multiple of 4
layout(constant_id = 5) const uint A_VEC = 0;  // 1: A is read as vec4 along k (the launcher checks alignment)
layout(constant_id = 6) const uint HAS_BIAS = 0;
layout(constant_id = 7) const uint GROUPS = 1;
const uint TN4 = TN / 4;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer Bb { float b[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer C { float c[]; };
layout(push_constant, std430) uniform PC {
  uint M, N, K, D1, D0, N1, N0;
  uint a_off, a_g, a_sm, as2, as1, as0;
  uint b_g, ns2, bs2, SHT, SWD;
  int ns1, noff1, bs1, ns0, noff0, bs0;
  uint c_off, c_g, c_split, c_sm, cn2, cn1, cn0;
  uint kchunk;
} pc;

void main() {
  const uint m0 = (gl_WorkGroupID.x * gl_WorkGroupSize.y + gl_LocalInvocationID.y) * TM;
  const uint nb = (gl_WorkGroupID.y * gl_WorkGroupSize.x + gl_LocalInvocationID.x) * TN;
  const uint g = gl_WorkGroupID.z % GROUPS, s = gl_WorkGroupID.z / GROUPS;
  if (m0 >= pc.M || nb >= pc.N) return;
  const uint kbeg = s * pc.kchunk, kend = min(pc.K, kbeg + pc.kchunk);

  // Rows of A, and the gathered image's column terms, clamped to the matrix.
  uint arow[TM];
  [[unroll]] for (uint i = 0; i < TM; i++) arow[i] = pc.a_off + g * pc.a_g + min(m0 + i, pc.M - 1) * pc.a_sm;
  uint nbase[TN];
  int ny[TN], nx[TN];
  [[unroll]] for (uint j = 0; j < TN; j++) {
    uint n = min(nb + j, pc.N - 1), n1n0 = pc.N1 * pc.N0;
    uint n2 = n / n1n0, r = n - n2 * n1n0, n1 = r / pc.N0, n0 = r - n1 * pc.N0;
    nbase[j] = g * pc.b_g + n2 * pc.ns2;
    ny[j] = pc.ns1 * int(n1) + pc.noff1;
    nx[j] = pc.ns0 * int(n0) + pc.noff0;
  }

  vec4 acc[TM][TN4];
  [[unroll]] for (uint i = 0; i < TM; i++)
    [[unroll]] for (uint j = 0; j < TN4; j++) acc[i][j] = vec4(0.0);

  // k = (k2, k1, k0), advanced one step at a time (no division in the loop).
  const uint d1d0 = pc.D1 * pc.D0;
  uint k2 = kbeg / d1d0, kr = kbeg - k2 * d1d0, k1 = kr / pc.D0, k0 = kr - k1 * pc.D0;
  // Lavapipe ends a shader's loops after 65535 iterations in all: the launcher keeps kchunk / 4 below
  // that (splitting k where it must).
  {
    const uint kstop = kend;
    for (uint k = kbeg; k < kstop; k += 4) {
      float ra[4][TM];
      vec4 rb[4][TN4];
      if (A_VEC == 1) {
        // k .. k+3 lie in one k2 and are contiguous (the launcher checks D1 D0 % 4 == 0 and alignment).
        uint off = k2 * pc.as2 + k1 * pc.as1 + k0;  // as0 is 1 here
        [[unroll]] for (uint i = 0; i < TM; i++) {
          vec4 v = a4[(arow[i] + off) >> 2];
          ra[0][i] = v.x, ra[1][i] = v.y, ra[2][i] = v.z, ra[3][i] = v.w;
        }
      }
      [[unroll]] for (uint kk = 0; kk < 4; kk++) {
        bool in_k = k + kk < kstop;
        if (A_VEC != 1) {
          uint off = k2 * pc.as2 + k1 * pc.as1 + k0 * pc.as0;
          [[unroll]] for (uint i = 0; i < TM; i++) {
            float v = a[arow[i] + (in_k ? off : 0)];
            ra[kk][i] = in_k ? v : 0.0;
          }
        }
        uint kb = k2 * pc.bs2;
        int ky = int(k1) * pc.bs1, kx = int(k0) * pc.bs0;
        [[unroll]] for (uint j = 0; j < TN; j++) {
          int y = ny[j] + ky, x = nx[j] + kx;
          bool ok = in_k && y >= 0 && x >= 0 && uint(y) < pc.SHT && uint(x) < pc.SWD;
          float v = b[ok ? nbase[j] + kb + uint(y) * pc.SWD + uint(x) : 0];
          rb[kk][j / 4][j % 4] = ok ? v : 0.0;
        }
        // Next k.
        k0++;
        bool w0 = k0 == pc.D0;
        k0 = w0 ? 0 : k0;
        k1 += w0 ? 1 : 0;
        bool w1 = k1 == pc.D1;
        k1 = w1 ? 0 : k1;
        k2 += w1 ? 1 : 0;
      }
      [[unroll]] for (uint kk = 0; kk < 4; kk++)
        [[unroll]] for (uint i = 0; i < TM; i++)
          [[unroll]] for (uint j = 0; j < TN4; j++) acc[i][j] = fma(vec4(ra[kk][i]), rb[kk][j], acc[i][j]);
    }
  }

  const uint c_base = pc.c_off + g * pc.c_g + s * pc.c_split;
  [[unroll]] for (uint j = 0; j < TN; j++) {
    uint n = nb + j;
    if (n >= pc.N) break;
    uint n1n0 = pc.N1 * pc.N0, n2 = n / n1n0, r = n - n2 * n1n0, n1 = r / pc.N0, n0 = r - n1 * pc.N0;
    uint cn = c_base + n2 * pc.cn2 + n1 * pc.cn1 + n0 * pc.cn0;
    [[unroll]] for (uint i = 0; i < TM; i++) {
      uint m = m0 + i;
      if (m >= pc.M) break;
      c[cn + m * pc.c_sm] = acc[i][j / 4][j % 4] + (HAS_BIAS != 0 ? bias[g * pc.M + m] : 0.0);
    }
  }
}
