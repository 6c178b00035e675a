#version 450
// out[i] = value.
#include "common.glsl"

layout(std430, binding = 0) writeonly buffer O { float o[]; };
layout(push_constant, std430) uniform PC {
  uint n;
  float value;
} pc;

void main() {
  uint i = linear_id();
  if (i < pc.n) o[i] = pc.value;
}
