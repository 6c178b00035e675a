#version 450
// LSTM recurrence over time steps [t0, t1) of one batch row per workgroup (see rnn.glsl):
//   a = gx_t + b_hh + W_hh h_{t-1};  i, f, o = sigmoid, g = tanh of a's four blocks;
//   c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t).
// Saves the activations (i, f, g, o) for the backward. h_{t-1} lives in shared memory, double
// buffered so that one barrier per step separates the reads of h_{t-1} from the writes of h_t.
#include "common.glsl"
#include "rnn.glsl"

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

shared float sh[2 * HP];

void main() {
  const uint b = rnn_row(), tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  if (b >= pc.B) return;  // uniform over the workgroup
  const uint H = pc.H, B = pc.B, G = 4 * H;

  // h_{t0-1}: the initial state, or the last step of the previous launch.
  for (uint k = tid; k < HP; k += WG) {
    float v = 0.0;
    if (k < H) {
      if (pc.t0 > 0) v = hs[((pc.t0 - 1) * B + b) * H + k];
      else if (pc.has_h0 != 0) v = h0[b * H + k];
    }
    sh[k] = v;
    sh[HP + k] = 0.0;  // the other buffer's padding stays zero
  }
  barrier();

  uint cur = 0;
  for (uint t = pc.t0; t < pc.t1; t++) {
    const uint row = t * B + b;
    for (uint k = tid; k < H; k += WG) {
      vec4 a = vec4(0.0);
      for (uint j0 = 0; j0 < H; j0 += 4) {
        [[unroll]] for (uint jj = 0; jj < 4; jj++) {
          const uint j = min(j0 + jj, H - 1);
          const float hv = sh[cur * HP + j0 + jj];
          a.x = fma(w[k * H + j], hv, a.x);
          a.y = fma(w[(H + k) * H + j], hv, a.y);
          a.z = fma(w[(2 * H + k) * H + j], hv, a.z);
          a.w = fma(w[(3 * H + k) * H + j], hv, a.w);
        }
      }
      a += vec4(gx[row * G + k], gx[row * G + H + k], gx[row * G + 2 * H + k], gx[row * G + 3 * H + k]);
      if (pc.has_bias != 0) a += vec4(bh[k], bh[H + k], bh[2 * H + k], bh[3 * H + k]);
      const float ig = sigmoid(a.x), fg = sigmoid(a.y), gg = tanh_safe(a.z), og = sigmoid(a.w);
      // c_{t-1}: this invocation wrote it itself, or it is the initial state / the previous launch's.
      float cp = 0.0;
      if (t > 0) cp = cs[(row - B) * H + k];
      else if (pc.has_c0 != 0) cp = c0[b * H + k];
      const float c = fg * cp + ig * gg, h = og * tanh_safe(c);
      gs[row * G + k] = ig;
      gs[row * G + H + k] = fg;
      gs[row * G + 2 * H + k] = gg;
      gs[row * G + 3 * H + k] = og;
      cs[row * H + k] = c;
      hs[row * H + k] = h;
      sh[(1 - cur) * HP + k] = h;
    }
    barrier();
    cur = 1 - cur;
  }
}
