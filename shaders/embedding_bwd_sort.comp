#version 450
// Bitonic sort of (key, index) pairs for the embedding backward, ascending by key, then index.
// key = ids[index] for ids in [0, V), and V for ids out of range and for the padding up to P (a power
// of two), so those sort last and are skipped. Indices are unique, so the order is total and the
// sorted result is the same on every run.
// MODE 0: make the pairs and sort each block of E = 2 * WG of them in shared memory (every stage
//         k <= E, directions alternating between blocks as the next stages need);
// MODE 1: one compare-exchange step (stage k, distance j >= E) over the whole array;
// MODE 2: the remaining steps j = E/2 .. 1 of stage k inside each block, in shared memory.
#include "common.glsl"

layout(constant_id = 3) const uint MODE = 0;

layout(std430, binding = 0) readonly buffer I { int ids[]; };
layout(std430, binding = 1) buffer Pr { uvec2 pairs[]; };
layout(push_constant, std430) uniform PC {
  uint N, V, P, k, j;
} pc;

const uint WG = gl_WorkGroupSize.x, E = 2 * WG;
shared uvec2 blk[E];

bool less(uvec2 a, uvec2 b) { return a.x < b.x || (a.x == b.x && a.y < b.y); }

uvec2 make_pair(uint p) {
  uint key = pc.V;
  if (p < pc.N) {
    const int id = ids[p];
    if (id >= 0 && uint(id) < pc.V) key = uint(id);
  }
  return uvec2(key, p);
}

// Steps j = jstart .. 1 of stage k on the block at global position base. Pair (i, i + j) sorts
// ascending where bit k of the global position is 0, descending where it is 1.
void local_steps(uint base, uint k, uint jstart) {
  const uint t = gl_LocalInvocationID.x;
  for (uint j = jstart; j > 0; j >>= 1) {
    const uint i = (t / j) * 2 * j + (t % j), l = i + j;
    const bool asc = ((base + i) & k) == 0;
    const uvec2 a = blk[i], b = blk[l];
    if (less(b, a) == asc) {
      blk[i] = b;
      blk[l] = a;
    }
    barrier();
  }
}

void main() {
  if (MODE == 1) {
    const uint t = linear_id();
    if (t >= pc.P / 2) return;
    const uint i = (t / pc.j) * 2 * pc.j + (t % pc.j), l = i + pc.j;
    const bool asc = (i & pc.k) == 0;
    const uvec2 a = pairs[i], b = pairs[l];
    if (less(b, a) == asc) {
      pairs[i] = b;
      pairs[l] = a;
    }
    return;
  }
  const uint block = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x, t = gl_LocalInvocationID.x;
  if (block * E >= pc.P) return; // uniform: the whole workgroup leaves
  const uint base = block * E;
  blk[t] = MODE == 0 ? make_pair(base + t) : pairs[base + t];
  blk[t + WG] = MODE == 0 ? make_pair(base + t + WG) : pairs[base + t + WG];
  barrier();
  if (MODE == 0)
    for (uint k = 2; k <= E; k *= 2) local_steps(base, k, k / 2);
  else
    local_steps(base, pc.k, E / 2);
  pairs[base + t] = blk[t];
  pairs[base + t + WG] = blk[t + WG];
}
