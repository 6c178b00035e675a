#version 450
// GRU backward through time over steps [t0, t1) of one batch row per workgroup, walking t down (see
// rnn.glsl). With dh the gradient reaching h_t (from the output and from step t+1):
//   dn = dh (1 - z),  da_n = dn (1 - n^2)          (gates_x n-block)
//   dz = dh (h_{t-1} - n),  da_z = dz z (1 - z)
//   da_r = da_n an r (1 - r),  dan = da_n r        (an = W_hn h_{t-1} + b_hn, the hidden n-block)
// gates_x gets (da_r, da_z, da_n) in dgx; the hidden projection gets (da_r, da_z, dan) in dgh (the
// gradient of b_hh per step; dW_hh is one matmul by the launcher); step t-1 receives
// dh z + W_hh^T dgh. carry (B, H) holds the gradient reaching h_{t0-1} when a launch ends, for the
// launch of the earlier steps; after the last launch (t0 = 0) it is dh0.
#include "common.glsl"
#include "rnn.glsl"

// 2: the gate gradients are double buffered (one barrier per step); 1 when shared memory is short.
layout(constant_id = 4) const uint NBUF = 2;

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

shared float da[NBUF * 3 * HP];  // [buffer][gate][HP]

void main() {
  const uint b = rnn_row(), tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  if (b >= pc.B) return;  // uniform over the workgroup
  const uint H = pc.H, B = pc.B, G = 3 * H;
  const uint hrow = b * H;

  // Nothing flows back into the last step.
  if (pc.t1 == pc.T)
    for (uint k = tid; k < H; k += WG) carry[hrow + k] = 0.0;
  for (uint i = tid; i < NBUF * 3 * HP; i += WG) da[i] = 0.0;
  barrier();

  uint cur = 0;
  for (uint t = pc.t1; t-- > pc.t0;) {
    const uint row = t * B + b, sb = cur * 3 * HP;
    for (uint k = tid; k < H; k += WG) {
      float dh = carry[hrow + k];
      if (pc.has_dh != 0) dh += dhs[row * H + k];
      const float r = gs[row * 4 * H + k], z = gs[row * 4 * H + H + k];
      const float n = gs[row * 4 * H + 2 * H + k], an = gs[row * 4 * H + 3 * H + k];
      float hp = 0.0;
      if (t > 0) hp = hs[(row - B) * H + k];
      else if (pc.has_h0 != 0) hp = h0[b * H + k];
      const float dn = dh * (1.0 - z) * (1.0 - n * n);
      const float dz = dh * (hp - n) * z * (1.0 - z);
      const float dr = dn * an * r * (1.0 - r), dan = dn * r;
      dgx[row * G + k] = dr;
      dgx[row * G + H + k] = dz;
      dgx[row * G + 2 * H + k] = dn;
      dgh[row * G + k] = dr;
      dgh[row * G + H + k] = dz;
      dgh[row * G + 2 * H + k] = dan;
      da[sb + k] = dr;
      da[sb + HP + k] = dz;
      da[sb + 2 * HP + k] = dan;
      carry[hrow + k] = dh * z;  // the direct path h_{t-1} -> h_t
    }
    barrier();
    // Plus column k of W_hh times the three hidden-side gate gradients.
    for (uint k = tid; k < H; k += WG) {
      float acc = 0.0;
      for (uint m0 = 0; m0 < H; m0 += 4) {
        [[unroll]] for (uint mm = 0; mm < 4; mm++) {
          const uint m = min(m0 + mm, H - 1), s = sb + m0 + mm;
          acc = fma(w[m * H + k], da[s], acc);
          acc = fma(w[(H + m) * H + k], da[s + HP], acc);
          acc = fma(w[(2 * H + m) * H + k], da[s + 2 * HP], acc);
        }
      }
      carry[hrow + k] += acc;
    }
    if (NBUF == 1) barrier();  // the next step overwrites the buffer just read
    cur = NBUF - 1 - cur;
  }
}
