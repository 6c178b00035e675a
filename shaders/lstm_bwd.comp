#version 450
// LSTM backward through time over steps [t0, t1) of one batch row per workgroup, walking t down
// (see rnn.glsl). With dh the gradient reaching h_t (from the output and from step t+1) and dc the
// one reaching c_t:
//   dc += dh * o * (1 - tanh(c_t)^2)
//   da_i = dc * g * i(1-i),  da_f = dc * c_{t-1} * f(1-f),  da_g = dc * i * (1-g^2),
//   da_o = dh * tanh(c_t) * o(1-o)
// and step t-1 receives dh = W_hh^T da, dc = dc * f. da is written to dg (the gradient of gates_x and
// of b_hh per step); dW_hh is one matmul over all steps, done by the launcher.
// carry (2, B, H) holds the gradients reaching h_{t0-1} and c_{t0-1} when a launch ends, for the
// launch of the earlier steps; after the last launch (t0 = 0) they are dh0 and dc0.
#include "common.glsl"
#include "rnn.glsl"

// 2: the gate gradients are double buffered (one barrier per step); 1 when shared memory is short.
layout(constant_id = 4) const uint NBUF = 2;

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

shared float da[NBUF * 4 * HP];  // [buffer][gate][HP]

void main() {
  const uint b = rnn_row(), tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  if (b >= pc.B) return;  // uniform over the workgroup
  const uint H = pc.H, B = pc.B, G = 4 * H;
  const uint hrow = b * H, crow = (B + b) * H;

  // Nothing flows back into the last step.
  if (pc.t1 == pc.T)
    for (uint k = tid; k < H; k += WG) carry[hrow + k] = carry[crow + k] = 0.0;
  for (uint i = tid; i < NBUF * 4 * HP; i += WG) da[i] = 0.0;
  barrier();

  uint cur = 0;
  for (uint t = pc.t1; t-- > pc.t0;) {
    const uint row = t * B + b, sb = cur * 4 * HP;
    for (uint k = tid; k < H; k += WG) {
      float dh = carry[hrow + k], dc = carry[crow + k];
      if (pc.has_dh != 0) dh += dhs[row * H + k];
      if (pc.has_dc != 0) dc += dcs[row * H + k];
      const float ig = gs[row * G + k], fg = gs[row * G + H + k];
      const float gg = gs[row * G + 2 * H + k], og = gs[row * G + 3 * H + k];
      const float tc = tanh_safe(cs[row * H + k]);
      float cp = 0.0;
      if (t > 0) cp = cs[(row - B) * H + k];
      else if (pc.has_c0 != 0) cp = c0[b * H + k];
      dc += dh * og * (1.0 - tc * tc);
      const float di = dc * gg * ig * (1.0 - ig), df = dc * cp * fg * (1.0 - fg);
      const float dgg = dc * ig * (1.0 - gg * gg), dout = dh * tc * og * (1.0 - og);
      dg[row * G + k] = di;
      dg[row * G + H + k] = df;
      dg[row * G + 2 * H + k] = dgg;
      dg[row * G + 3 * H + k] = dout;
      da[sb + k] = di;
      da[sb + HP + k] = df;
      da[sb + 2 * HP + k] = dgg;
      da[sb + 3 * HP + k] = dout;
      carry[crow + k] = dc * fg;
    }
    barrier();
    // dh for step t-1: column k of W_hh times the four gate gradients.
    for (uint k = tid; k < H; k += WG) {
      float acc = 0.0;
      for (uint m0 = 0; m0 < H; m0 += 4) {
        [[unroll]] for (uint mm = 0; mm < 4; mm++) {
          const uint m = min(m0 + mm, H - 1), s = sb + m0 + mm;
          acc = fma(w[m * H + k], da[s], acc);
          acc = fma(w[(H + m) * H + k], da[s + HP], acc);
          acc = fma(w[(2 * H + m) * H + k], da[s + 2 * HP], acc);
          acc = fma(w[(3 * H + m) * H + k], da[s + 3 * HP], acc);
        }
      }
      carry[hrow + k] = acc;
    }
    if (NBUF == 1) barrier();  // the next step overwrites the buffer just read
    cur = NBUF - 1 - cur;
  }
}
