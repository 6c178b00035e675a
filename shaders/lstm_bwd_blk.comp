#version 450
// LSTM backward through time over steps [t0, t1) for a block of RB batch rows per workgroup, walking
// t down (see rnn_blk.glsl; the math and the carry are lstm_bwd.comp's). The block's gate gradients
// of a step go through shared memory into a private array, from which each invocation forms
// W_hh^T da for its units and every row.
#include "common.glsl"
#include "rnn_blk.glsl"

// 2: the gate gradients are double buffered (one barrier per step); 1 when shared memory is short.
layout(constant_id = 7) const uint NBUF = 2;

layout(std430, binding = 0) readonly buffer DHS { float dhs[]; };  // (T, B, H)
layout(std430, binding = 1) readonly buffer DCS { float dcs[]; };  // (T, B, H)
layout(std430, binding = 2) readonly buffer GS { float gs[]; };    // (T, B, 4H) i, f, g, o
layout(std430, binding = 3) readonly buffer CS { float cs[]; };    // (T, B, H)
layout(std430, binding = 4) readonly buffer C0 { float c0[]; };    // (B, H)
layout(std430, binding = 5) readonly buffer W { float w[]; };      // (4H, H)
layout(std430, binding = 6) writeonly buffer DG { float dg[]; };   // (T, B, 4H)
layout(std430, binding = 7) buffer CARRY { float carry[]; };       // (2, B, H)
layout(push_constant, std430) uniform PC {
  uint T, B, H, t0, t1, has_dh, has_dc, has_c0;
} pc;

shared float da[NBUF * RB * 4 * HP];  // [buffer][row][gate][HP]

void main() {
  const uint lane = gl_LocalInvocationID.x, WL = gl_WorkGroupSize.x;
  const uint H = pc.H, B = pc.B, G = 4 * H, r0 = blk_row0();
  if (r0 >= B) return;  // uniform over the workgroup
  const uint nrows = min(RB, B - r0);

  // Nothing flows back into the last step. (Each invocation zeroes the carry of its own units.)
  if (pc.t1 == pc.T)
    for (uint k = lane; k < H; k += WL)
      for (uint r = 0; r < nrows; r++) carry[(r0 + r) * H + k] = carry[(B + r0 + r) * H + k] = 0.0;
  for (uint i = lane; i < NBUF * RB * 4 * HP; i += WL) da[i] = 0.0;
  barrier();

  // This invocation's weight columns: wp[(u * G + g) * HP + m] = w[(g * H + m) * H + k], k = lane + WL * u.
  float wp[UW * 4 * HP];
  if (CACHE != 0)
    for (uint u = 0, k = lane; u < UW; u++, k += WL)
      for (uint g = 0; g < 4; g++)
        for (uint m0 = 0; m0 < HP; m0 += 4) {
          [[unroll]] for (uint mm = 0; mm < 4; mm++) {
            const uint m = m0 + mm;
            wp[(u * 4 + g) * HP + m] = k < H && m < H ? w[(g * H + m) * H + k] : 0.0;
          }
        }

  float dap[RB * 4 * HP];
  uint cur = 0;
  for (uint t = pc.t1; t-- > pc.t0;) {
    const uint sb = cur * RB * 4 * HP;
    for (uint k = lane; k < H; k += WL) {
      for (uint r = 0; r < nrows; r++) {
        const uint row = t * B + r0 + r, hrow = (r0 + r) * H, crow = (B + r0 + r) * H;
        float dh = carry[hrow + k], dc = carry[crow + k];
        if (pc.has_dh != 0) dh += dhs[row * H + k];
        if (pc.has_dc != 0) dc += dcs[row * H + k];
        const float ig = gs[row * G + k], fg = gs[row * G + H + k];
        const float gg = gs[row * G + 2 * H + k], og = gs[row * G + 3 * H + k];
        const float tc = tanh_safe(cs[row * H + k]);
        float cp = 0.0;
        if (t > 0) cp = cs[(row - B) * H + k];
        else if (pc.has_c0 != 0) cp = c0[hrow + k];
        dc += dh * og * (1.0 - tc * tc);
        const float di = dc * gg * ig * (1.0 - ig), df = dc * cp * fg * (1.0 - fg);
        const float dgg = dc * ig * (1.0 - gg * gg), dout = dh * tc * og * (1.0 - og);
        dg[row * G + k] = di;
        dg[row * G + H + k] = df;
        dg[row * G + 2 * H + k] = dgg;
        dg[row * G + 3 * H + k] = dout;
        const uint s = sb + r * 4 * HP + k;
        da[s] = di;
        da[s + HP] = df;
        da[s + 2 * HP] = dgg;
        da[s + 3 * HP] = dout;
        carry[crow + k] = dc * fg;
      }
    }
    barrier();
    for (uint i = 0; i < RB * 4 * HP; i += 4) {
      [[unroll]] for (uint ii = 0; ii < 4; ii++) dap[i + ii] = da[sb + i + ii];
    }
    // dh for step t-1: column k of W_hh times the four gate gradients, for every row.
    for (uint u = 0, k = lane; k < H; u++, k += WL) {
      float acc[RB];
      [[unroll]] for (uint r = 0; r < RB; r++) acc[r] = 0.0;
      for (uint m0 = 0; m0 < HP; m0 += 4) {
        [[unroll]] for (uint mm = 0; mm < 4; mm++) {
          const uint m = m0 + mm, mw = min(m, H - 1);
          const uint q = (CACHE != 0 ? u : 0u) * 4 * HP + m;  // in bounds even where unused
          const vec4 wv = CACHE != 0 ? vec4(wp[q], wp[q + HP], wp[q + 2 * HP], wp[q + 3 * HP])
                                     : vec4(w[mw * H + k], w[(H + mw) * H + k], w[(2 * H + mw) * H + k],
                                            w[(3 * H + mw) * H + k]);
          [[unroll]] for (uint r = 0; r < RB; r++) {
            const uint s = r * 4 * HP + m;
            acc[r] += dot(wv, vec4(dap[s], dap[s + HP], dap[s + 2 * HP], dap[s + 3 * HP]));
          }
        }
      }
      for (uint r = 0; r < nrows; r++) carry[(r0 + r) * H + k] = acc[r];
    }
    if (NBUF == 1) barrier();  // the next step overwrites the buffer just read
    cur = NBUF - 1 - cur;
  }
}
