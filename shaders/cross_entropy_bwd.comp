#version 450
// Gradient of the mean cross-entropy with respect to the logits (rows, C), one invocation per
// logit: (softmax(x_r)[c] - [c == label_r]) * gy / count, where softmax comes from the row's saved
// log-sum-exp. Rows whose label is ignored (or out of range) get 0; their saved values are not read,
// so nothing undefined can leak into them.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer L { int labels[]; };
layout(std430, binding = 2) readonly buffer LSE { float lse[]; };
layout(std430, binding = 3) readonly buffer N { float count[]; };
layout(std430, binding = 4) readonly buffer GY { float gy[]; };
layout(std430, binding = 5) writeonly buffer GX { float gx[]; };
layout(push_constant, std430) uniform PC {
  uint n, C;
  int ignore_index;
} pc;

void main() {
  const uint i = linear_id();
  if (i >= pc.n) return;
  const uint row = i / pc.C, c = i % pc.C;
  const int label = labels[row];
  if (label == pc.ignore_index || label < 0 || uint(label) >= pc.C) {
    gx[i] = 0.0;
    return;
  }
  // A valid row means count >= 1.
  const float p = exp(x[i] - lse[row]);
  gx[i] = (p - (uint(label) == c ? 1.0 : 0.0)) * (gy[0] / count[0]);
}
