#version 450
// FMA throughput: each invocation runs 8 independent vec4 FMA chains (enough independent work to hide
// the FMA latency on CPUs and GPUs alike) for pc.iters rounds of 16, then writes one value so that the
// compiler cannot drop the work. Used by 'vkgen bench peak'; flops = invocations * iters * 16 * 8 * 4 * 2.
#include "common.glsl"

layout(std430, binding = 0) writeonly buffer O { float o[]; };
layout(push_constant, std430) uniform PC {
  uint iters;  // at most 65535 (lavapipe ends longer loops)
  float m, c;  // x <- x * m + c: |m| < 1 keeps the chains finite
} pc;

void main() {
  uint id = linear_id();
  float s = float(id & 255u) * 1e-3;
  vec4 a0 = vec4(s), a1 = a0 + 1.0, a2 = a0 + 2.0, a3 = a0 + 3.0;
  vec4 a4 = a0 + 4.0, a5 = a0 + 5.0, a6 = a0 + 6.0, a7 = a0 + 7.0;
  vec4 m = vec4(pc.m), c = vec4(pc.c);
  for (uint i = 0; i < pc.iters; i++) {
    [[unroll]] for (uint r = 0; r < 16; r++) {
      a0 = fma(a0, m, c), a1 = fma(a1, m, c), a2 = fma(a2, m, c), a3 = fma(a3, m, c);
      a4 = fma(a4, m, c), a5 = fma(a5, m, c), a6 = fma(a6, m, c), a7 = fma(a7, m, c);
    }
  }
  vec4 t = (a0 + a1) + (a2 + a3) + (a4 + a5) + (a6 + a7);
  o[id] = t.x + t.y + t.z + t.w;
}
