#version 450
// LSTM forward over time steps [t0, t1) for a block of RB batch rows per workgroup (see rnn_blk.glsl;
// the math is lstm_fwd.comp's). h_{t-1} of the block lives in shared memory, double buffered, and is
// copied into a private array at the start of each step.
#include "common.glsl"
#include "rnn_blk.glsl"

layout(std430, binding = 0) readonly buffer GX { float gx[]; };  // (T, B, 4H)
layout(std430, binding = 1) readonly buffer W { float w[]; };    // (4H, H)
layout(std430, binding = 2) readonly buffer BH { float bh[]; };  // (4H)
layout(std430, binding = 3) readonly buffer H0 { float h0[]; };  // (B, H)
layout(std430, binding = 4) readonly buffer C0 { float c0[]; };  // (B, H)
layout(std430, binding = 5) buffer HS { float hs[]; };           // (T, B, H)
layout(std430, binding = 6) buffer CS { float cs[]; };           // (T, B, H)
layout(std430, binding = 7) writeonly buffer GS { float gs[]; }; // (T, B, 4H)
layout(push_constant, std430) uniform PC {
  uint T, B, H, t0, t1, has_bias, has_h0, has_c0;
} pc;

shared float sh[2 * RB * HP];  // [buffer][row][HP]

void main() {
  const uint lane = gl_LocalInvocationID.x, WL = gl_WorkGroupSize.x;
  const uint H = pc.H, B = pc.B, G = 4 * H, r0 = blk_row0();
  if (r0 >= B) return;  // uniform over the workgroup
  const uint nrows = min(RB, B - r0);

  // h_{t0-1} of every row: the initial state, or the last step of the previous launch.
  for (uint i = lane; i < RB * HP; i += WL) {
    const uint r = i / HP, k = i % HP;
    float v = 0.0;
    if (k < H && r < nrows) {
      if (pc.t0 > 0) v = hs[((pc.t0 - 1) * B + r0 + r) * H + k];
      else if (pc.has_h0 != 0) v = h0[(r0 + r) * H + k];
    }
    sh[i] = v;
    sh[RB * HP + i] = 0.0;  // the other buffer's padding stays zero
  }
  barrier();

  // This invocation's weights: wp[(u * G + g) * HP + j] = w[(g * H + k) * H + j] for unit k = lane + WL * u.
  float wp[UW * 4 * HP];
  if (CACHE != 0)
    for (uint u = 0, k = lane; u < UW; u++, k += WL)
      for (uint g = 0; g < 4; g++)
        for (uint j0 = 0; j0 < HP; j0 += 4) {
          [[unroll]] for (uint jj = 0; jj < 4; jj++) {
            const uint j = j0 + jj;
            wp[(u * 4 + g) * HP + j] = k < H && j < H ? w[(g * H + k) * H + j] : 0.0;
          }
        }

  float hp[RB * HP];
  uint cur = 0;
  for (uint t = pc.t0; t < pc.t1; t++) {
    for (uint i = 0; i < RB * HP; i += 4) {
      [[unroll]] for (uint ii = 0; ii < 4; ii++) hp[i + ii] = sh[cur * RB * HP + i + ii];
    }
    for (uint u = 0, k = lane; k < H; u++, k += WL) {
      vec4 acc[RB];
      [[unroll]] for (uint r = 0; r < RB; r++) acc[r] = vec4(0.0);
      for (uint j0 = 0; j0 < HP; j0 += 4) {
        [[unroll]] for (uint jj = 0; jj < 4; jj++) {
          const uint j = j0 + jj, jw = min(j, H - 1);
          const uint q = (CACHE != 0 ? u : 0u) * 4 * HP + j;  // in bounds even where unused
          const vec4 wv = CACHE != 0 ? vec4(wp[q], wp[q + HP], wp[q + 2 * HP], wp[q + 3 * HP])
                                     : vec4(w[k * H + jw], w[(H + k) * H + jw], w[(2 * H + k) * H + jw],
                                            w[(3 * H + k) * H + jw]);
          [[unroll]] for (uint r = 0; r < RB; r++) acc[r] = fma(wv, vec4(hp[r * HP + j]), acc[r]);
        }
      }
      vec4 bias = vec4(0.0);
      if (pc.has_bias != 0) bias = vec4(bh[k], bh[H + k], bh[2 * H + k], bh[3 * H + k]);
      for (uint r = 0; r < nrows; r++) {
        const uint row = t * B + r0 + r;
        const vec4 a = acc[r] + bias +
                       vec4(gx[row * G + k], gx[row * G + H + k], gx[row * G + 2 * H + k], gx[row * G + 3 * H + k]);
        const float ig = sigmoid(a.x), fg = sigmoid(a.y), gg = tanh_safe(a.z), og = sigmoid(a.w);
        // c_{t-1}: written by this invocation, or the initial state / the previous launch's.
        float cp = 0.0;
        if (t > 0) cp = cs[(row - B) * H + k];
        else if (pc.has_c0 != 0) cp = c0[(r0 + r) * H + k];
        const float c = fg * cp + ig * gg, h = og * tanh_safe(c);
        gs[row * G + k] = ig;
        gs[row * G + H + k] = fg;
        gs[row * G + 2 * H + k] = gg;
        gs[row * G + 3 * H + k] = og;
        cs[row * H + k] = c;
        hs[row * H + k] = h;
        sh[(1 - cur) * RB * HP + r * HP + k] = h;
      }
    }
    barrier();
    cur = 1 - cur;
  }
}
