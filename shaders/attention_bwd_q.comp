#version 450
// Attention backward, dq (see attention_bwd.glsl for the math). A workgroup owns BQ query rows and
// CB columns of dq for one (batch, head), and walks the key blocks the rows see: per block it
// rebuilds dS in registers (att_tile), publishes it to shared memory with the block's keys, and
// accumulates dq[r][c] += sum_key dS[r][key] k[key][c] in a TM x NJ register block per invocation
// (rows strided by WY, columns by WX).
#include "attention_bwd.glsl"

layout(std430, binding = 6) writeonly buffer DQ_ { float dq[]; };

shared float Gs[BQ * SP]; // [row][key]: dS
shared float Kc[BK * CB]; // [key][column]: k

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint tid = ty * WX + tx, nthreads = WX * WY;
  const uint qb = gl_WorkGroupID.x / pc.ncb, cb = gl_WorkGroupID.x - qb * pc.ncb;
  const uint q0 = qb * BQ, c0 = cb * CB, bh = gl_WorkGroupID.z * pc.NH + gl_WorkGroupID.y;

  // Keys the block sees: [0, kend), as in attention_fwd.comp (uniform).
  const uint kend = pc.causal != 0 ? pc.Tk - pc.Tq + min(q0 + BQ, pc.Tq) : pc.Tk;

  float acc[TM][NJ];
  [[unroll]] for (uint i = 0; i < TM; i++)
    [[unroll]] for (uint j = 0; j < NJ; j++) acc[i][j] = 0.0;

  for (uint k0 = 0; k0 < kend; k0 += BK) {
    float p[TM][TN], ds[TM][TN];
    att_tile(bh, q0, k0, p, ds);
    [[unroll]] for (uint i = 0; i < TM; i++)
      [[unroll]] for (uint j = 0; j < TN; j++) Gs[(ty + WY * i) * SP + tx + WX * j] = ds[i][j];
    for (uint e = tid; e < BK * CB; e += nthreads) {
      uint kk = e / CB, cc = e - kk * CB, key = k0 + kk, c = c0 + cc;
      Kc[e] = (key < pc.Tk && c < pc.D) ? k[(bh * pc.Tk + key) * pc.D + c] : 0.0;
    }
    barrier();
    for (uint kk = 0; kk < BK; kk++) {
      float gr[TM], kr[NJ];
      [[unroll]] for (uint i = 0; i < TM; i++) gr[i] = Gs[(ty + WY * i) * SP + kk];
      [[unroll]] for (uint j = 0; j < NJ; j++) kr[j] = Kc[kk * CB + tx + WX * j];
      [[unroll]] for (uint i = 0; i < TM; i++)
        [[unroll]] for (uint j = 0; j < NJ; j++) acc[i][j] = fma(gr[i], kr[j], acc[i][j]);
    }
    // No barrier here: Gs and Kc are next written after att_tile's barriers.
  }

  [[unroll]] for (uint i = 0; i < TM; i++) {
    const uint qi = q0 + ty + WY * i;
    if (qi >= pc.Tq) continue;
    [[unroll]] for (uint j = 0; j < NJ; j++) {
      const uint c = c0 + tx + WX * j;
      if (c < pc.D) dq[(bh * pc.Tq + qi) * pc.D + c] = acc[i][j];
    }
  }
}
