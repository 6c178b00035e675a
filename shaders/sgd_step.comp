#version 450
// One SGD step with momentum for one parameter; the update is in sgd_step.glsl.
#include "common.glsl"

layout(std430, binding = 0) buffer Param { float p[]; };
layout(std430, binding = 1) readonly buffer Grad { float grad[]; };
layout(std430, binding = 2) buffer Buf { float buf[]; };
layout(std430, binding = 3) readonly buffer S { uint scal[]; }; // the graph's per-run scalars
layout(std430, binding = 4) readonly buffer Norm { float norm[]; };

#include "sgd_step.glsl"

float momentum_update(uint i, float g) {
  const float b = pc.momentum * buf[i] + g;
  buf[i] = b;
  return b;
}

void main() { sgd_main(); }
