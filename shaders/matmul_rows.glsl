// The body of matmul_rows.comp and qkv_rows.comp: out (M, N) = a (M, K) b for few rows M (a decoding
// batch), with an epilogue. Each invocation owns one output column n and computes it for every row, so
// each element of b is read once in all; the rows go in chunks of MR (a specialization constant: 1, 2,
// 4 or 8, at most M) kept in registers. Every invocation of a workgroup reads the same a values, which
// the cache broadcasts: no shared memory and no barriers, so a workgroup is small and the columns
// spread over many workgroups. The including shader declares bindings a (A), b (B), bias (C) and the
// push-constant fields M, N, K, b_sk, b_sn, has_bias, and defines store(m, n, value).
layout(constant_id = 3) const uint MR = 8;

void store(uint m, uint n, float v);

void rows_main() {
  const uint n = linear_id();
  if (n >= pc.N) return;
  const uint bo = n * pc.b_sn;
  const float bb = pc.has_bias != 0u ? bias[n] : 0.0;
  for (uint m0 = 0; m0 < pc.M; m0 += MR) {
    float acc[MR];
    [[unroll]] for (uint r = 0; r < MR; r++) acc[r] = 0.0;
    // Rows past M read row M - 1 again (in bounds) and are not stored.
    uint arow[MR];
    [[unroll]] for (uint r = 0; r < MR; r++) arow[r] = min(m0 + r, pc.M - 1u) * pc.K;
    for (uint k = 0; k < pc.K; k++) {
      float bv = b[k * pc.b_sk + bo];
      [[unroll]] for (uint r = 0; r < MR; r++) acc[r] = fma(a[arow[r] + k], bv, acc[r]);
    }
    [[unroll]] for (uint r = 0; r < MR; r++)
      if (m0 + r < pc.M) store(m0 + r, n, acc[r] + bb);
  }
}
