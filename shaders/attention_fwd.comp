#version 450
// Scaled dot-product attention, forward, for q (B, NH, Tq, D), k (B, NH, Tk, D), v (B, NH, Tk, Dv):
//   o = softmax(scale * q k^T, masked) v,  lse = log of each row's softmax denominator.
// A workgroup computes a BQ x DVB tile of o for one (batch, head): BQ query rows, DVB output columns.
// It walks the keys in chunks of BK with an "online softmax": each row keeps a running max m and sum
// l, and the accumulated output is rescaled by exp(m_old - m_new) whenever the max grows, so no
// buffer grows with Tk and any number of keys works.
// Per chunk: S = Q K^T as a small matmul (WX x WY invocations, each a TM x TN register block, the
// head dim staged through shared memory DK at a time); one invocation per row turns its scores into
// probabilities; then O += P V with each invocation holding a TM x NJ register block of O.
// Rows and columns of a register block are strided by WY and WX, as in matmul.comp.
#include "common.glsl"

layout(constant_id = 3) const uint DK = 32;  // head dims staged per step
layout(constant_id = 4) const uint DVB = 64; // output columns per workgroup (a multiple of WX)
const uint WX = gl_WorkGroupSize.x, WY = gl_WorkGroupSize.y;
const uint TM = 4, TN = 4;
const uint BQ = WY * TM, BK = WX * TN, NJ = DVB / WX;
const uint SP = BK + 1; // row pitch of Ss, padded so a row's owner and its neighbours use other banks

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) writeonly buffer L { float lse[]; };
layout(push_constant, std430) uniform PC {
  uint NH, Tq, Tk, D, Dv;
  uint ndvb; // column blocks per row block: ceil(Dv / DVB)
  float scale;
  uint causal;
} pc;

shared float Qs[DK * BQ];  // [d][row], pre-multiplied by scale
shared float Ks[DK * BK];  // [d][key]
shared float Ss[BQ * SP];  // [row][key]: scores, then probabilities
shared float Vs[BK * DVB]; // [key][column]
shared float As[BQ];       // per-row rescale factor of the current chunk
shared float Ls[BQ];       // final per-row sums, for the epilogue

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint tid = ty * WX + tx, nthreads = WX * WY;
  const uint qb = gl_WorkGroupID.x / pc.ndvb, db = gl_WorkGroupID.x - qb * pc.ndvb;
  const uint q0 = qb * BQ, c0 = db * DVB, bh = gl_WorkGroupID.z * pc.NH + gl_WorkGroupID.y;
  const float NEG_INF = uintBitsToFloat(0xff800000u);

  // Keys the block needs: [0, kend). Causal query i stands at position Tk - Tq + i (the launcher
  // ensures Tq <= Tk then) and sees keys up to it. kend is uniform, so the loop may hold barriers.
  const uint kend = pc.causal != 0 ? pc.Tk - pc.Tq + min(q0 + BQ, pc.Tq) : pc.Tk;

  // Running max and sum of row `tid`, kept by its owner invocation (tid < BQ).
  float m = NEG_INF, l = 0.0;
  float acc[TM][NJ];
  [[unroll]] for (uint i = 0; i < TM; i++)
    [[unroll]] for (uint j = 0; j < NJ; j++) acc[i][j] = 0.0;

  for (uint k0 = 0; k0 < kend; k0 += BK) {
    // ---- S = (scale * Q) K^T for this chunk ----
    float s[TM][TN];
    [[unroll]] for (uint i = 0; i < TM; i++)
      [[unroll]] for (uint j = 0; j < TN; j++) s[i][j] = 0.0;
    for (uint d0 = 0; d0 < pc.D; d0 += DK) {
      // Consecutive invocations read consecutive head dims, so global reads coalesce.
      for (uint e = tid; e < DK * BQ; e += nthreads) {
        uint r = e / DK, dd = e - r * DK, qi = q0 + r, d = d0 + dd;
        Qs[dd * BQ + r] = (qi < pc.Tq && d < pc.D) ? q[(bh * pc.Tq + qi) * pc.D + d] * pc.scale : 0.0;
      }
      for (uint e = tid; e < DK * BK; e += nthreads) {
        uint kk = e / DK, dd = e - kk * DK, key = k0 + kk, d = d0 + dd;
        Ks[dd * BK + kk] = (key < kend && d < pc.D) ? k[(bh * pc.Tk + key) * pc.D + d] : 0.0;
      }
      barrier();
      for (uint dd = 0; dd < DK; dd++) {
        float ra[TM], rb[TN];
        [[unroll]] for (uint i = 0; i < TM; i++) ra[i] = Qs[dd * BQ + ty + WY * i];
        [[unroll]] for (uint j = 0; j < TN; j++) rb[j] = Ks[dd * BK + tx + WX * j];
        [[unroll]] for (uint i = 0; i < TM; i++)
          [[unroll]] for (uint j = 0; j < TN; j++) s[i][j] = fma(ra[i], rb[j], s[i][j]);
      }
      barrier();
    }

    // ---- mask, publish the scores, stage the chunk of V ----
    [[unroll]] for (uint i = 0; i < TM; i++) {
      const uint r = ty + WY * i;
      // Row r sees keys below `limit`; padding rows past Tq see the whole chunk range (never written).
      const uint limit = pc.causal != 0 ? min(pc.Tk - pc.Tq + q0 + r + 1, kend) : kend;
      [[unroll]] for (uint j = 0; j < TN; j++) {
        const uint kk = tx + WX * j;
        Ss[r * SP + kk] = k0 + kk < limit ? s[i][j] : NEG_INF;
      }
    }
    for (uint e = tid; e < BK * DVB; e += nthreads) {
      uint kk = e / DVB, cc = e - kk * DVB, key = k0 + kk, c = c0 + cc;
      Vs[e] = (key < kend && c < pc.Dv) ? v[(bh * pc.Tk + key) * pc.Dv + c] : 0.0;
    }
    barrier();

    // ---- one invocation per row: scores -> probabilities, running max and sum ----
    if (tid < BQ) {
      float mc = NEG_INF;
      for (uint kk = 0; kk < BK; kk++) mc = max(mc, Ss[tid * SP + kk]);
      // Key 0 is in the first chunk and every row sees it, so mn is finite from the first chunk on.
      const float mn = max(m, mc);
      const float alpha = m == NEG_INF ? 0.0 : exp(m - mn);
      float lc = 0.0;
      for (uint kk = 0; kk < BK; kk++) {
        const float sv = Ss[tid * SP + kk];
        const float p = sv == NEG_INF ? 0.0 : exp(sv - mn); // masked keys weigh exactly 0
        Ss[tid * SP + kk] = p;
        lc += p;
      }
      l = l * alpha + lc;
      m = mn;
      As[tid] = alpha;
    }
    barrier();

    // ---- O = alpha * O + P V ----
    [[unroll]] for (uint i = 0; i < TM; i++) {
      const float a = As[ty + WY * i];
      [[unroll]] for (uint j = 0; j < NJ; j++) acc[i][j] *= a;
    }
    for (uint kk = 0; kk < BK; kk++) {
      float pr[TM], vr[NJ];
      [[unroll]] for (uint i = 0; i < TM; i++) pr[i] = Ss[(ty + WY * i) * SP + kk];
      [[unroll]] for (uint j = 0; j < NJ; j++) vr[j] = Vs[kk * DVB + tx + WX * j];
      [[unroll]] for (uint i = 0; i < TM; i++)
        [[unroll]] for (uint j = 0; j < NJ; j++) acc[i][j] = fma(pr[i], vr[j], acc[i][j]);
    }
    // No barrier here: Ss, Vs and As are next written after the next chunk's head-dim barriers,
    // by which time every invocation has finished reading them.
  }

  // ---- epilogue: divide by the row sums, write o and (once per row) lse ----
  if (tid < BQ) {
    Ls[tid] = l;
    if (db == 0 && q0 + tid < pc.Tq) lse[bh * pc.Tq + q0 + tid] = m + log(l);
  }
  barrier();
  [[unroll]] for (uint i = 0; i < TM; i++) {
    const uint r = ty + WY * i, qi = q0 + r;
    if (qi >= pc.Tq) continue;
    const float inv = 1.0 / Ls[r];
    [[unroll]] for (uint j = 0; j < NJ; j++) {
      const uint c = c0 + tx + WX * j;
      if (c < pc.Dv) o[(bh * pc.Tq + qi) * pc.Dv + c] = acc[i][j] * inv;
    }
  }
}
