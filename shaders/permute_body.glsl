// out[i] = x[src(i)] for a permutation of dims, shared by the 32-bit (permute.comp) and 16-bit
// (permute_f16.comp) shaders; ELEM is the element type. The launcher drops dims of size 1 and merges
// output dims that stay neighbours in x, so ndim is often smaller than the tensor's.

layout(std430, binding = 0) readonly buffer X { ELEM x[]; };
layout(std430, binding = 1) writeonly buffer O { ELEM o[]; };
layout(push_constant, std430) uniform PC {
  uint n, ndim;
  uint shape[6];  // output dims (merged)
  uint stride[6]; // element stride in x of each output dim
} pc;

void main() {
  const uint i = linear_id();
  if (i >= pc.n) return;
  uint rem = i, src = 0;
  for (int d = int(pc.ndim) - 1; d >= 0; d--) {
    src += (rem % pc.shape[d]) * pc.stride[d];
    rem /= pc.shape[d];
  }
  o[i] = x[src];
}
