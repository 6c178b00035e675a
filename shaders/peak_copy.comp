#version 450
// Copy bandwidth: dst[i] = src[i] as vec4, one vec4 per invocation, the access pattern of an
// elementwise kernel. Used by 'vkgen bench peak'; bytes = 2 * 16 * n4.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer S { vec4 src[]; };
layout(std430, binding = 1) writeonly buffer D { vec4 dst[]; };
layout(push_constant, std430) uniform PC {
  uint n4;
} pc;

void main() {
  uint i = linear_id();
  if (i < pc.n4) dst[i] = src[i];
}
