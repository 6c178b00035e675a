#version 450
// Embedding backward, first pass: dtable[v] is the sum of the rows of dy whose id is v. Over the
// sorted (key, index) pairs (embedding_bwd_sort) the ids equal to v form one run, so each
// invocation takes one column c of one segment of L sorted positions and sums the runs in it, in
// index order. A run wholly inside the segment is final and is written to dtable. A run that
// reaches over the segment's edges leaves partial sums instead: head[s] for the part of the
// segment's first run that began in an earlier segment, tail[s] for a run that begins here and
// goes on into the next segment; embedding_bwd_join adds those up. The order of every addition is
// fixed, so the result is the same on every run.
#include "common.glsl"

layout(std430, binding = 0) readonly buffer Pr { uvec2 pairs[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) writeonly buffer DT { float dtable[]; };
layout(std430, binding = 3) writeonly buffer H { float head[]; };
layout(std430, binding = 4) writeonly buffer T { float tail[]; };
layout(push_constant, std430) uniform PC {
  uint V, C, P, L, nseg;
} pc;

// Stores the sum of the run of key v that covers [start, end) of segment [p0, p1).
void emit(uint id, uint v, float acc, bool at_start, bool at_end, uint p0, uint p1) {
  const uint c = id % pc.C;
  if (at_start && p0 > 0 && pairs[p0 - 1].x == v)
    head[id] = acc;
  else if (at_end && p1 < pc.P && pairs[p1].x == v)
    tail[id] = acc;
  else
    dtable[v * pc.C + c] = acc;
}

void main() {
  const uint id = linear_id();
  if (id >= pc.nseg * pc.C) return;
  const uint s = id / pc.C, c = id - s * pc.C, p0 = s * pc.L, p1 = p0 + pc.L;
  uint v = pairs[p0].x, start = p0;
  if (v >= pc.V) return; // only out-of-range ids and padding from here on
  float acc = 0.0;
  for (uint p = p0; p < p1; p++) {
    const uvec2 e = pairs[p];
    if (e.x != v) {
      emit(id, v, acc, start == p0, false, p0, p1);
      if (e.x >= pc.V) return;
      v = e.x;
      start = p;
      acc = 0.0;
    }
    acc += dy[e.y * pc.C + c];
  }
  emit(id, v, acc, start == p0, true, p0, p1);
}
