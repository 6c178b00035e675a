#version 450
// Attention's materialized path (CPU devices), between the two matmuls: one invocation per query
// row turns its raw scores s = q k^T (Tk) into probabilities p = exp(scale * s - lse), 0 for the
// keys a causal mask hides, and writes the row's lse = log sum exp(scale * s) over the visible keys.
// Query i (of Tq) sees keys [0, Tk - Tq + i] when causal. No shared memory, no barriers; vec4 loads
// where Tk % 4 == 0.
#include "common.glsl"

layout(constant_id = 3) const uint VEC4 = 0;

layout(std430, binding = 0) readonly buffer S { float s[]; };
layout(std430, binding = 0) readonly buffer S4 { vec4 s4[]; };
layout(std430, binding = 1) writeonly buffer P { float p[]; };
layout(std430, binding = 1) writeonly buffer P4 { vec4 p4[]; };
layout(std430, binding = 2) writeonly buffer L { float lse[]; };
layout(push_constant, std430) uniform PC {
  uint rows, Tq, Tk;
  float scale;
  uint causal;
} pc;

void main() {
  const uint row = linear_id();
  if (row >= pc.rows) return;
  const uint n = pc.causal != 0 ? pc.Tk - pc.Tq + row % pc.Tq + 1 : pc.Tk; // visible keys [0, n)
  const float sc = pc.scale;
  float m = neg_inf(), l = 0.0;
  if (VEC4 != 0) {
    const uint b = row * pc.Tk / 4, n4 = (n + 3) / 4, t4 = pc.Tk / 4;
    const vec4 ninf = vec4(neg_inf());
    // Lanes of the last vec4 at or past n are masked to -inf (exp gives 0).
    vec4 m4 = ninf;
    for (uint j = 0; j < n4; j++) {
      const vec4 v = s4[b + j] * sc;
      m4 = max(m4, mix(v, ninf, greaterThanEqual(uvec4(4 * j) + uvec4(0, 1, 2, 3), uvec4(n))));
    }
    m = max(max(m4.x, m4.y), max(m4.z, m4.w));
    vec4 l4 = vec4(0.0);
    for (uint j = 0; j < n4; j++) {
      const vec4 e = exp(s4[b + j] * sc - m);
      l4 += mix(e, vec4(0.0), greaterThanEqual(uvec4(4 * j) + uvec4(0, 1, 2, 3), uvec4(n)));
    }
    l = (l4.x + l4.y) + (l4.z + l4.w);
    const float lse_r = m + log(l);
    for (uint j = 0; j < t4; j++) {
      const vec4 e = exp(s4[b + j] * sc - lse_r);
      p4[b + j] = mix(e, vec4(0.0), greaterThanEqual(uvec4(4 * j) + uvec4(0, 1, 2, 3), uvec4(n)));
    }
    lse[row] = lse_r;
    return;
  }
  const uint b = row * pc.Tk;
  for (uint j = 0; j < n; j++) m = max(m, s[b + j] * sc);
  for (uint j = 0; j < n; j++) l += exp(s[b + j] * sc - m);
  const float lse_r = m + log(l);
  for (uint j = 0; j < pc.Tk; j++) p[b + j] = j < n ? exp(s[b + j] * sc - lse_r) : 0.0;
  lse[row] = lse_r;
}
