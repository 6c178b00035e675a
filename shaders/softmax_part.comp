#version 450
// First pass of the split-row softmax (CPU devices, long rows): one invocation per (row, chunk) of
// CHUNK values writes the chunk's max m_c and the sum s_c of e^(x - m_c); softmax_split.comp folds a
// row's chunks into its max M = max m_c and sum S = sum s_c e^(m_c - M). An invocation streams its
// own chunk twice (max, then sum; the second read comes from the cache) with vec4 loads: a chunk of
// a row whose length is not a multiple of 4 starts and ends inside a vec4, so the few values before
// the first and after the last whole vec4 are read one by one. No barrier anywhere.
#include "common.glsl"

layout(constant_id = 3) const uint CHUNK = 1024; // values per chunk

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer P { vec2 part[]; }; // (rows, nchunk) of (m_c, s_c)
layout(push_constant, std430) uniform PC {
  uint rows, C, nchunk;
} pc;

float hmax(vec4 v) { return max(max(v.x, v.y), max(v.z, v.w)); }

void main() {
  const uint id = linear_id();
  if (id >= pc.rows * pc.nchunk) return;
  const uint row = id / pc.nchunk, chunk = id % pc.nchunk;
  // The chunk's values are x[s, e); x4[a4, e4) are the whole vec4s inside it (a4 >= e4: none).
  const uint s = row * pc.C + chunk * CHUNK, e = min(s + CHUNK, (row + 1) * pc.C);
  const uint a4 = (s + 3) / 4, e4 = e / 4, a = min(a4 * 4, e), b = max(e4 * 4, a);
  vec4 m4 = vec4(neg_inf());
  for (uint i = a4; i < e4; i++) m4 = max(m4, x4[i]);
  float m = hmax(m4);
  for (uint i = s; i < a; i++) m = max(m, x[i]);
  for (uint i = b; i < e; i++) m = max(m, x[i]);
  vec4 s4 = vec4(0.0);
  for (uint i = a4; i < e4; i++) s4 += exp(x4[i] - m);
  float sum = (s4.x + s4.y) + (s4.z + s4.w);
  for (uint i = s; i < a; i++) sum += exp(x[i] - m);
  for (uint i = b; i < e; i++) sum += exp(x[i] - m);
  part[id] = vec2(m, sum);
}
