#version 450
// Embedding backward, second pass: the runs of equal ids that cross segment edges (see
// embedding_bwd_seg). The segment where such a run begins adds its own partial sum (tail) and the
// heads of the following segments the run reaches, in order, and writes the row of dtable.
// One invocation per (segment, column).
#include "common.glsl"

layout(std430, binding = 0) readonly buffer Pr { uvec2 pairs[]; };
layout(std430, binding = 1) readonly buffer H { float head[]; };
layout(std430, binding = 2) readonly buffer T { float tail[]; };
layout(std430, binding = 3) writeonly buffer DT { float dtable[]; };
layout(push_constant, std430) uniform PC {
  uint V, C, P, L, nseg;
} pc;

void main() {
  const uint id = linear_id();
  if (id >= pc.nseg * pc.C) return;
  const uint s = id / pc.C, c = id - s * pc.C, p0 = s * pc.L, p1 = p0 + pc.L;
  if (p1 >= pc.P) return;
  const uint v = pairs[p1 - 1].x;
  if (v >= pc.V || pairs[p1].x != v) return; // the last run ends in this segment
  if (pairs[p0].x == v && p0 > 0 && pairs[p0 - 1].x == v) return; // it began in an earlier segment
  float acc = tail[id];
  for (uint s2 = s + 1; s2 < pc.nseg; s2++) {
    acc += head[s2 * pc.C + c];
    const uint q1 = (s2 + 1) * pc.L;
    if (q1 >= pc.P || pairs[q1].x != v || pairs[q1 - 1].x != v) break; // the run ends in segment s2
  }
  dtable[v * pc.C + c] = acc;
}
