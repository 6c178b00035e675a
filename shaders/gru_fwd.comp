#version 450
// GRU recurrence over time steps [t0, t1) of one batch row per workgroup (see rnn.glsl):
//   (ar, az, an) = W_hh h_{t-1} + b_hh;  r = sigmoid(gx_r + ar), z = sigmoid(gx_z + az),
//   n = tanh(gx_n + r * an);  h_t = (1 - z) * n + z * h_{t-1}.
// Saves (r, z, n, an) for the backward. h_{t-1} lives in shared memory, double buffered so that one
// barrier per step separates the reads of h_{t-1} from the writes of h_t.
#include "common.glsl"
#include "rnn.glsl"

layout(std430, binding = 0) readonly buffer GX { float gx[]; };  // (T, B, 3H)
layout(std430, binding = 1) readonly buffer W { float w[]; };    // (3H, H)
layout(std430, binding = 2) readonly buffer BH { float bh[]; };  // (3H)
layout(std430, binding = 3) readonly buffer H0 { float h0[]; };  // (B, H)
layout(std430, binding = 4) buffer HS { float hs[]; };           // (T, B, H)
layout(std430, binding = 5) writeonly buffer GS { float gs[]; }; // (T, B, 4H)
layout(push_constant, std430) uniform PC {
  uint T, B, H, t0, t1, has_bias, has_h0, pad;
} pc;

shared float sh[2 * HP];

void main() {
  const uint b = rnn_row(), tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  if (b >= pc.B) return;  // uniform over the workgroup
  const uint H = pc.H, B = pc.B, G = 3 * H;

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
      vec3 a = vec3(0.0);
      for (uint j0 = 0; j0 < H; j0 += 4) {
        [[unroll]] for (uint jj = 0; jj < 4; jj++) {
          const uint j = min(j0 + jj, H - 1);
          const float hv = sh[cur * HP + j0 + jj];
          a.x = fma(w[k * H + j], hv, a.x);
          a.y = fma(w[(H + k) * H + j], hv, a.y);
          a.z = fma(w[(2 * H + k) * H + j], hv, a.z);
        }
      }
      if (pc.has_bias != 0) a += vec3(bh[k], bh[H + k], bh[2 * H + k]);
      const float r = sigmoid(gx[row * G + k] + a.x), z = sigmoid(gx[row * G + H + k] + a.y);
      const float n = tanh_safe(gx[row * G + 2 * H + k] + r * a.z);
      const float h = (1.0 - z) * n + z * sh[cur * HP + k];
      gs[row * 4 * H + k] = r;
      gs[row * 4 * H + H + k] = z;
      gs[row * 4 * H + 2 * H + k] = n;
      gs[row * 4 * H + 3 * H + k] = a.z;
      hs[row * H + k] = h;
      sh[(1 - cur) * HP + k] = h;
    }
    barrier();
    cur = 1 - cur;
  }
}
