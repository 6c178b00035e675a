#version 450
// Fills a tensor with uniform or normal random numbers. Invocation i makes one Philox call with
// counter (i, stream, 0, 0) and writes its four words to elements 4i .. 4i+3, so element e always
// gets word e % 4 of block e / 4 whatever the workgroup size.
#include "common.glsl"
#include "philox.glsl"

layout(std430, binding = 0) readonly buffer S { uint scal[]; }; // the graph's per-run scalars
layout(std430, binding = 1) writeonly buffer O { float o[]; };
layout(push_constant, std430) uniform PC {
  uint n, stream, seed_slot, normal; // seed_slot 0xffffffff: seed 0
  float a, b;   // uniform: lo, hi; normal: mean, std
  float below;  // uniform: the largest float below hi, where rounding of lo + (hi - lo) u would reach hi
  uint pad;
} pc;

const float TWO_PI = 6.28318530717958647692;

void main() {
  uint i = linear_id();
  if (i >= (pc.n + 3u) / 4u) return;
  uint seed = pc.seed_slot == 0xffffffffu ? 0u : scal[pc.seed_slot];
  uvec4 r = philox4x32_10(uvec4(i, pc.stream, 0u, 0u), uvec2(seed, 0u));
  vec4 v;
  if (pc.normal == 0u) {
    // precise: no fused multiply-add, so the result is bit-for-bit the C reference's.
    precise vec4 u = vec4(philox_u01(r.x), philox_u01(r.y), philox_u01(r.z), philox_u01(r.w));
    precise vec4 w = pc.a + (pc.b - pc.a) * u;
    v = max(min(w, vec4(pc.below)), vec4(pc.a));
  } else {
    // Box-Muller on the pairs (x, y) and (z, w): each pair gives two independent normals. The
    // uniform under the log is in (0, 1], so the log is finite.
    // The angle is 2 pi (u - 1/2) in [-pi, pi), where sin and cos are most accurate (u - 1/2 is
    // exact), and cos(a + pi) = -cos(a), sin(a + pi) = -sin(a) put the sign back.
    vec2 rad = sqrt(2.0 * vec2(philox_neg_log_open0(r.x), philox_neg_log_open0(r.z)));
    vec2 ang = TWO_PI * (vec2(philox_u01(r.y), philox_u01(r.w)) - 0.5);
    vec4 z = -vec4(rad.x * cos(ang.x), rad.x * sin(ang.x), rad.y * cos(ang.y), rad.y * sin(ang.y));
    v = pc.a + pc.b * z;
  }
  uint e = 4u * i;
  o[e] = v.x;
  if (e + 1u < pc.n) o[e + 1u] = v.y;
  if (e + 2u < pc.n) o[e + 2u] = v.z;
  if (e + 3u < pc.n) o[e + 3u] = v.w;
}
