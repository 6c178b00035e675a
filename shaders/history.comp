#version 450
// hist[(step - 1) % n] = x[0], with step read from the per-run scalars.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer S { uint scalars[]; };
layout(std430, binding = 2) buffer H { float hist[]; };
layout(push_constant, std430) uniform PC {
  uint n, step_slot;
} pc;

void main() {
  if (gl_GlobalInvocationID.x != 0) return;
  uint step = scalars[pc.step_slot];
  hist[(step + pc.n - 1u) % pc.n] = x[0];
}
