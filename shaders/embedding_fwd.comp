#version 450
// out[n, c] = table[ids[n] - first, c]: the table holds rows [first, first + V) of the vocabulary (a
// block of a table too large for one buffer; first is 0 otherwise), and ids outside them give a row of
// zeros. One invocation per output element, so neighbouring invocations copy neighbouring words of a
// table row.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer T { float table[]; };
layout(std430, binding = 1) readonly buffer I { int ids[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant, std430) uniform PC {
  uint n, V, C; // n = number of ids * C
  int first;
} pc;

void main() {
  const uint i = linear_id();
  if (i >= pc.n) return;
  const uint row = i / pc.C, c = i - row * pc.C;
  // Compare before subtracting: first >= 0, so id - first cannot overflow once id >= first.
  const int id = ids[row];
  o[i] = (id >= pc.first && uint(id - pc.first) < pc.V) ? table[uint(id - pc.first) * pc.C + c] : 0.0;
}
