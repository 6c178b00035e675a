// Shared by the attention backward shaders (attention_bwd_kv.comp: dk and dv; attention_bwd_q.comp:
// dq). With S = q k^T, P = softmax(scale * S) (masked), O = P v and the forward's saved
// lse = log of each row's softmax denominator:
//   P  = exp(scale * S - lse)                   rebuilt per tile, never stored whole
//   dP = dO v^T,  dS = P * (dP - Dsum) * scale  with Dsum = rowsum(dO * O), from the launcher
//   dv = P^T dO,  dk = dS^T q,  dq = dS k.
// att_tile() rebuilds the BQ x BK tile of P and dS for query rows [q0, q0 + BQ) and keys
// [k0, k0 + BK) in registers: WX x WY invocations, each a TM x TN block whose rows are strided by WY
// and keys by WX (as in attention_fwd.comp); the head dims are staged through shared memory DK at a
// time. BQ == BK: the key blocks of attention_bwd_kv use the row layout. The launcher takes 8 x 8
// invocations with 4 x 4 blocks on every device. Rows, keys and dims past the shapes, and keys a causal query does not see, give P = dS = 0.
#include "common.glsl"

layout(constant_id = 3) const uint DK = 32; // head dims staged per step
layout(constant_id = 4) const uint CB = 64; // output columns per workgroup (a multiple of WX)
layout(constant_id = 5) const uint TM = 4;  // rows of an invocation's register block (WY * TM == WX * TN)
layout(constant_id = 6) const uint TN = 4;  // keys of it
const uint WX = gl_WorkGroupSize.x, WY = gl_WorkGroupSize.y;
const uint BQ = WY * TM, BK = WX * TN, NJ = CB / WX;
const uint SP = BK + 1; // row pitch of the [row][key] tiles in shared memory

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) readonly buffer DO { float dO[]; };
layout(std430, binding = 4) readonly buffer L { float lse[]; };
layout(std430, binding = 5) readonly buffer DS { float dsum[]; }; // stands in for lse when !want_ds
layout(push_constant, std430) uniform PC {
  uint NH, Tq, Tk, D, Dv;
  uint ncb; // column blocks per row or key block: ceil(width / CB)
  float scale;
  uint causal;
  uint want_ds; // 0: only P is needed (dv alone), so dP and dS are skipped
} pc;

shared float Xs[DK * BQ]; // [d][row]: q, then dO
shared float Ys[DK * BK]; // [d][key]: k, then v

// p and ds of the tile (q0, k0) for batch-head bh. Holds barriers: call in uniform control flow.
// Leaves Xs and Ys free (the last barrier follows their last read).
void att_tile(uint bh, uint q0, uint k0, out float p[TM][TN], out float ds[TM][TN]) {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint tid = ty * WX + tx, nthreads = WX * WY;
  float s[TM][TN];
  [[unroll]] for (uint i = 0; i < TM; i++)
    [[unroll]] for (uint j = 0; j < TN; j++) s[i][j] = 0.0;
  for (uint d0 = 0; d0 < pc.D; d0 += DK) {
    for (uint e = tid; e < DK * BQ; e += nthreads) {
      uint r = e / DK, dd = e - r * DK, qi = q0 + r, d = d0 + dd;
      Xs[dd * BQ + r] = (qi < pc.Tq && d < pc.D) ? q[(bh * pc.Tq + qi) * pc.D + d] : 0.0;
    }
    for (uint e = tid; e < DK * BK; e += nthreads) {
      uint kk = e / DK, dd = e - kk * DK, key = k0 + kk, d = d0 + dd;
      Ys[dd * BK + kk] = (key < pc.Tk && d < pc.D) ? k[(bh * pc.Tk + key) * pc.D + d] : 0.0;
    }
    barrier();
    for (uint dd = 0; dd < DK; dd++) {
      float ra[TM], rb[TN];
      [[unroll]] for (uint i = 0; i < TM; i++) ra[i] = Xs[dd * BQ + ty + WY * i];
      [[unroll]] for (uint j = 0; j < TN; j++) rb[j] = Ys[dd * BK + tx + WX * j];
      [[unroll]] for (uint i = 0; i < TM; i++)
        [[unroll]] for (uint j = 0; j < TN; j++) s[i][j] = fma(ra[i], rb[j], s[i][j]);
    }
    barrier();
  }
  float dp[TM][TN];
  [[unroll]] for (uint i = 0; i < TM; i++)
    [[unroll]] for (uint j = 0; j < TN; j++) dp[i][j] = 0.0;
  if (pc.want_ds != 0) {
    for (uint d0 = 0; d0 < pc.Dv; d0 += DK) {
      for (uint e = tid; e < DK * BQ; e += nthreads) {
        uint r = e / DK, dd = e - r * DK, qi = q0 + r, d = d0 + dd;
        Xs[dd * BQ + r] = (qi < pc.Tq && d < pc.Dv) ? dO[(bh * pc.Tq + qi) * pc.Dv + d] : 0.0;
      }
      for (uint e = tid; e < DK * BK; e += nthreads) {
        uint kk = e / DK, dd = e - kk * DK, key = k0 + kk, d = d0 + dd;
        Ys[dd * BK + kk] = (key < pc.Tk && d < pc.Dv) ? v[(bh * pc.Tk + key) * pc.Dv + d] : 0.0;
      }
      barrier();
      for (uint dd = 0; dd < DK; dd++) {
        float ra[TM], rb[TN];
        [[unroll]] for (uint i = 0; i < TM; i++) ra[i] = Xs[dd * BQ + ty + WY * i];
        [[unroll]] for (uint j = 0; j < TN; j++) rb[j] = Ys[dd * BK + tx + WX * j];
        [[unroll]] for (uint i = 0; i < TM; i++)
          [[unroll]] for (uint j = 0; j < TN; j++) dp[i][j] = fma(ra[i], rb[j], dp[i][j]);
      }
      barrier();
    }
  }
  [[unroll]] for (uint i = 0; i < TM; i++) {
    const uint qi = q0 + ty + WY * i;
    // Causal query qi stands at position Tk - Tq + qi (the launcher ensures Tq <= Tk then).
    const uint limit = qi >= pc.Tq ? 0 : pc.causal != 0 ? pc.Tk - pc.Tq + qi + 1 : pc.Tk;
    const float l = qi < pc.Tq ? lse[bh * pc.Tq + qi] : 0.0;
    const float ds0 = qi < pc.Tq && pc.want_ds != 0 ? dsum[bh * pc.Tq + qi] : 0.0;
    [[unroll]] for (uint j = 0; j < TN; j++) {
      const uint key = k0 + tx + WX * j;
      const float pv = key < limit ? exp(s[i][j] * pc.scale - l) : 0.0;
      p[i][j] = pv;
      ds[i][j] = pv * (dp[i][j] - ds0) * pc.scale;
    }
  }
}
