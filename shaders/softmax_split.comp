#version 450
// Second pass of the split-row softmax or log-softmax (see softmax_part.comp): one invocation per
// (row, chunk) folds the row's nchunk partials into the row max M and the sum S of e^(x - M), then
// writes its own chunk (whole vec4s as vec4s, the values at its ends one by one, since the vec4
// around them also holds the neighbouring row's values). Every chunk of a row repeats the fold
// (nchunk is small next to CHUNK), so the two passes need one barrier between them and no third.
#include "common.glsl"

layout(constant_id = 3) const uint CHUNK = 1024;
layout(constant_id = 4) const uint LOG = 0; // 1: log-softmax

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer P { vec2 part[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(std430, binding = 2) writeonly buffer Y4 { vec4 y4[]; };
layout(push_constant, std430) uniform PC {
  uint rows, C, nchunk;
} pc;

void main() {
  const uint id = linear_id();
  if (id >= pc.rows * pc.nchunk) return;
  const uint row = id / pc.nchunk, chunk = id % pc.nchunk, p0 = row * pc.nchunk;
  float M = neg_inf();
  for (uint c = 0; c < pc.nchunk; c++) M = max(M, part[p0 + c].x);
  float S = 0.0;
  for (uint c = 0; c < pc.nchunk; c++) {
    const vec2 ms = part[p0 + c];
    S += ms.y * exp(ms.x - M); // a chunk's sum rescaled from its own max to the row's
  }
  // log(e^(x-M) / S) = x - (M + log S): no exp, so tiny probabilities keep their precision.
  const float shift = M + log(S), inv = 1.0 / S;
  const uint s = row * pc.C + chunk * CHUNK, e = min(s + CHUNK, (row + 1) * pc.C);
  const uint a4 = (s + 3) / 4, e4 = e / 4, a = min(a4 * 4, e), b = max(e4 * 4, a);
  for (uint i = a4; i < e4; i++) y4[i] = LOG != 0 ? x4[i] - shift : exp(x4[i] - M) * inv;
  for (uint i = s; i < a; i++) y[i] = LOG != 0 ? x[i] - shift : exp(x[i] - M) * inv;
  for (uint i = b; i < e; i++) y[i] = LOG != 0 ? x[i] - shift : exp(x[i] - M) * inv;
}
