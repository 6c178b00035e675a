#version 450
// Attention backward, dk and dv (see attention_bwd.glsl for the math). A workgroup owns BK keys and
// CB columns of both dk (columns of D) and dv (columns of Dv) for one (batch, head), and walks the
// query blocks that see those keys: per block it rebuilds P and dS in registers (att_tile), publishes
// them to shared memory with the block's rows of dO and q, and accumulates
//   dv[key][c] += sum_r P[r][key] dO[r][c],  dk[key][c] += sum_r dS[r][key] q[r][c]
// in a TM x NJ register block per invocation (keys strided by WY, columns by WX). No buffer grows
// with Tq or Tk, and each output element has one writer: no atomics.
#include "attention_bwd.glsl"

layout(std430, binding = 6) writeonly buffer DK_ { float dk[]; };
layout(std430, binding = 7) writeonly buffer DV_ { float dv[]; };

shared float Ps[BQ * SP];  // [row][key]
shared float Gs[BQ * SP];  // [row][key]: dS
shared float Os[BQ * CB];  // [row][column]: dO
shared float Qc[BQ * CB];  // [row][column]: q

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint tid = ty * WX + tx, nthreads = WX * WY;
  const uint kb = gl_WorkGroupID.x / pc.ncb, cb = gl_WorkGroupID.x - kb * pc.ncb;
  const uint k0 = kb * BK, c0 = cb * CB, bh = gl_WorkGroupID.z * pc.NH + gl_WorkGroupID.y;

  // Causal query i sees keys up to Tk - Tq + i: the first query block that sees key k0 (uniform).
  const uint off = pc.Tk - pc.Tq;
  const uint qstart = pc.causal != 0 && k0 > off ? (k0 - off) / BQ * BQ : 0;

  float adk[TM][NJ], adv[TM][NJ];
  [[unroll]] for (uint i = 0; i < TM; i++)
    [[unroll]] for (uint j = 0; j < NJ; j++) adk[i][j] = 0.0, adv[i][j] = 0.0;

  for (uint q0 = qstart; q0 < pc.Tq; q0 += BQ) {
    float p[TM][TN], ds[TM][TN];
    att_tile(bh, q0, k0, p, ds);
    [[unroll]] for (uint i = 0; i < TM; i++)
      [[unroll]] for (uint j = 0; j < TN; j++) {
        const uint at = (ty + WY * i) * SP + tx + WX * j;
        Ps[at] = p[i][j];
        Gs[at] = ds[i][j];
      }
    for (uint e = tid; e < BQ * CB; e += nthreads) {
      uint r = e / CB, cc = e - r * CB, qi = q0 + r, c = c0 + cc;
      Os[e] = (qi < pc.Tq && c < pc.Dv) ? dO[(bh * pc.Tq + qi) * pc.Dv + c] : 0.0;
      Qc[e] = (qi < pc.Tq && c < pc.D) ? q[(bh * pc.Tq + qi) * pc.D + c] : 0.0;
    }
    barrier();
    for (uint r = 0; r < BQ; r++) {
      float pr[TM], gr[TM], orow[NJ], qrow[NJ];
      [[unroll]] for (uint i = 0; i < TM; i++) pr[i] = Ps[r * SP + ty + WY * i], gr[i] = Gs[r * SP + ty + WY * i];
      [[unroll]] for (uint j = 0; j < NJ; j++) orow[j] = Os[r * CB + tx + WX * j], qrow[j] = Qc[r * CB + tx + WX * j];
      [[unroll]] for (uint i = 0; i < TM; i++)
        [[unroll]] for (uint j = 0; j < NJ; j++) {
          adv[i][j] = fma(pr[i], orow[j], adv[i][j]);
          adk[i][j] = fma(gr[i], qrow[j], adk[i][j]);
        }
    }
    // No barrier here: Ps, Gs, Os and Qc are next written after att_tile's barriers.
  }

  [[unroll]] for (uint i = 0; i < TM; i++) {
    const uint key = k0 + ty + WY * i;
    if (key >= pc.Tk) continue;
    [[unroll]] for (uint j = 0; j < NJ; j++) {
      const uint c = c0 + tx + WX * j;
      if (c < pc.D) dk[(bh * pc.Tk + key) * pc.D + c] = adk[i][j];
      if (c < pc.Dv) dv[(bh * pc.Tk + key) * pc.Dv + c] = adv[i][j];
    }
  }
}
