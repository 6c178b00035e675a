#version 450
// GRU backward through time over steps [t0, t1) for a block of RB batch rows per workgroup, walking t
// down (see rnn_blk.glsl; the math and the carry are gru_bwd.comp's). The block's hidden-side gate
// gradients of a step go through shared memory into a private array, from which each invocation
// forms W_hh^T dgh for its units and every row.
#include "common.glsl"
#include "rnn_blk.glsl"

// 2: the gate gradients are double buffered (one barrier per step); 1 when shared memory is short.
layout(constant_id = 7) const uint NBUF = 2;

layout(std430, binding = 0) readonly buffer DHS { float dhs[]; };  // (T, B, H)
layout(std430, binding = 1) readonly buffer GS { float gs[]; };    // (T, B, 4H) r, z, n, an
layout(std430, binding = 2) readonly buffer HS { float hs[]; };    // (T, B, H)
layout(std430, binding = 3) readonly buffer H0 { float h0[]; };    // (B, H)
layout(std430, binding = 4) readonly buffer W { float w[]; };      // (3H, H)
layout(std430, binding = 5) writeonly buffer DGX { float dgx[]; }; // (T, B, 3H)
layout(std430, binding = 6) writeonly buffer DGH { float dgh[]; }; // (T, B, 3H)
layout(std430, binding = 7) buffer CARRY { float carry[]; };       // (B, H)
layout(push_constant, std430) uniform PC {
  uint T, B, H, t0, t1, has_dh, has_h0, pad;
} pc;

shared float da[NBUF * RB * 3 * HP];  // [buffer][row][gate][HP]

void main() {
  const uint lane = gl_LocalInvocationID.x, WL = gl_WorkGroupSize.x;
  const uint H = pc.H, B = pc.B, G = 3 * H, r0 = blk_row0();
  if (r0 >= B) return;  // uniform over the workgroup
  const uint nrows = min(RB, B - r0);

  // Nothing flows back into the last step. (Each invocation zeroes the carry of its own units.)
  if (pc.t1 == pc.T)
    for (uint k = lane; k < H; k += WL)
      for (uint r = 0; r < nrows; r++) carry[(r0 + r) * H + k] = 0.0;
  for (uint i = lane; i < NBUF * RB * 3 * HP; i += WL) da[i] = 0.0;
  barrier();

  // This invocation's weight columns: wp[(u * G + g) * HP + m] = w[(g * H + m) * H + k], k = lane + WL * u.
  float wp[UW * 3 * HP];
  if (CACHE != 0)
    for (uint u = 0, k = lane; u < UW; u++, k += WL)
      for (uint g = 0; g < 3; g++)
        for (uint m0 = 0; m0 < HP; m0 += 4) {
          [[unroll]] for (uint mm = 0; mm < 4; mm++) {
            const uint m = m0 + mm;
            wp[(u * 3 + g) * HP + m] = k < H && m < H ? w[(g * H + m) * H + k] : 0.0;
          }
        }

  float dap[RB * 3 * HP];
  uint cur = 0;
  for (uint t = pc.t1; t-- > pc.t0;) {
    const uint sb = cur * RB * 3 * HP;
    for (uint k = lane; k < H; k += WL) {
      for (uint r = 0; r < nrows; r++) {
        const uint row = t * B + r0 + r, hrow = (r0 + r) * H;
        float dh = carry[hrow + k];
        if (pc.has_dh != 0) dh += dhs[row * H + k];
        const float rg = gs[row * 4 * H + k], z = gs[row * 4 * H + H + k];
        const float n = gs[row * 4 * H + 2 * H + k], an = gs[row * 4 * H + 3 * H + k];
        float hp = 0.0;
        if (t > 0) hp = hs[(row - B) * H + k];
        else if (pc.has_h0 != 0) hp = h0[hrow + k];
        const float dn = dh * (1.0 - z) * (1.0 - n * n);
        const float dz = dh * (hp - n) * z * (1.0 - z);
        const float dr = dn * an * rg * (1.0 - rg), dan = dn * rg;
        dgx[row * G + k] = dr;
        dgx[row * G + H + k] = dz;
        dgx[row * G + 2 * H + k] = dn;
        dgh[row * G + k] = dr;
        dgh[row * G + H + k] = dz;
        dgh[row * G + 2 * H + k] = dan;
        const uint s = sb + r * 3 * HP + k;
        da[s] = dr;
        da[s + HP] = dz;
        da[s + 2 * HP] = dan;
        carry[hrow + k] = dh * z;  // the direct path h_{t-1} -> h_t
      }
    }
    barrier();
    for (uint i = 0; i < RB * 3 * HP; i += 4) {
      [[unroll]] for (uint ii = 0; ii < 4; ii++) dap[i + ii] = da[sb + i + ii];
    }
    // Plus column k of W_hh times the three hidden-side gate gradients, for every row.
    for (uint u = 0, k = lane; k < H; u++, k += WL) {
      float acc[RB];
      [[unroll]] for (uint r = 0; r < RB; r++) acc[r] = 0.0;
      for (uint m0 = 0; m0 < HP; m0 += 4) {
        [[unroll]] for (uint mm = 0; mm < 4; mm++) {
          const uint m = m0 + mm, mw = min(m, H - 1);
          const uint q = (CACHE != 0 ? u : 0u) * 3 * HP + m;  // in bounds even where unused
          const vec3 wv = CACHE != 0 ? vec3(wp[q], wp[q + HP], wp[q + 2 * HP])
                                     : vec3(w[mw * H + k], w[(H + mw) * H + k], w[(2 * H + mw) * H + k]);
          [[unroll]] for (uint r = 0; r < RB; r++) {
            const uint s = r * 3 * HP + m;
            acc[r] += dot(wv, vec3(dap[s], dap[s + HP], dap[s + 2 * HP]));
          }
        }
      }
      for (uint r = 0; r < nrows; r++) carry[(r0 + r) * H + k] += acc[r];
    }
    if (NBUF == 1) barrier();  // the next step overwrites the buffer just read
    cur = NBUF - 1 - cur;
  }
}
