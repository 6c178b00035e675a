// Copies a block between two tensors viewed as rows: row r, element j of the block is read at
// x[r * src_stride + src_off + j] and written at o[r * dst_stride + dst_off + j], for rows of len
// elements. With x seen as (outer, n_src, inner) this reads a slice along the middle axis
// (src_off = start * inner); with o seen as (outer, n_dst, inner) it writes an input of a concat
// into its part of the output (dst_off = offset * inner). Shared by copy_slice.comp (32-bit
// elements) and copy_slice_f16.comp; ELEM is the element type.

layout(std430, binding = 0) readonly buffer X { ELEM x[]; };
layout(std430, binding = 1) writeonly buffer O { ELEM o[]; };
layout(push_constant, std430) uniform PC {
  uint total, len;
  uint src_stride, src_off;
  uint dst_stride, dst_off;
} pc;

void main() {
  const uint i = linear_id();
  if (i >= pc.total) return;
  const uint r = i / pc.len, j = i % pc.len;
  o[r * pc.dst_stride + pc.dst_off + j] = x[r * pc.src_stride + pc.src_off + j];
}
