// The body of matmul_rows.comp and qkv_rows.comp: out (M, N) = a (M, K) b for few rows M (a decoding
// batch), with an epilogue. Each element of b is read once in all: an invocation owns output columns
// and computes them for every row, the rows in chunks of MR (a specialization constant: 1, 2, 4 or 8,
// at most M) kept in registers. Every invocation reads the same a values (the cache broadcasts them):
// no shared memory and no barriers, so workgroups are small and the columns spread over many. VEC
// (a specialization constant) picks the loads: 0, one column and one b value per step; 1 (b (K, N) with
// N % 4 == 0), four adjacent columns from one vec4 of b; 2 (b (N, K) transposed, K % 4 == 0), one
// column, four k from one vec4 of b and of a. Each column accumulates in k order with fma whatever
// the loads, so every variant gives the same result. The including shader declares bindings a and
// a4 (A), b and b4 (B), bias (C), the push-constant fields M, N, K, b_sk, b_sn, has_bias, and defines
// store(m, n, value). With ROWS_LN defined it also declares gamma, gamma4, beta, beta4 and pc.eps, and
// a is layer-normalized on the fly (see layernorm_fwd.comp's one-invocation-per-row arithmetic, which
// this repeats operation for operation: each invocation computes its rows' mean and rstd).
layout(constant_id = 3) const uint MR = 8;
layout(constant_id = 4) const uint VEC = 0;

void store(uint m, uint n, float v);

#ifdef ROWS_LN
// Row statistics of a row starting at base: its first value x0, mean - x0 and rstd.
vec3 ln_stats(uint base) {
  const float x0 = a[base], invC = 1.0 / float(pc.K);
  float dmean, rstd;
  if (pc.K % 4u == 0u) {
    const uint b4 = base / 4u, n = pc.K / 4u;
    vec4 s = vec4(0.0);
    for (uint i = 0; i < n; i++) s += a4[b4 + i] - x0;
    dmean = ((s.x + s.y) + (s.z + s.w)) * invC;
    vec4 q = vec4(0.0);
    for (uint i = 0; i < n; i++) {
      vec4 d = (a4[b4 + i] - x0) - dmean;
      q += d * d;
    }
    rstd = 1.0 / sqrt(((q.x + q.y) + (q.z + q.w)) * invC + pc.eps);
  } else {
    float s = 0.0;
    for (uint i = 0; i < pc.K; i++) s += a[base + i] - x0;
    dmean = s * invC;
    float q = 0.0;
    for (uint i = 0; i < pc.K; i++) {
      float d = (a[base + i] - x0) - dmean;
      q += d * d;
    }
    rstd = 1.0 / sqrt(q * invC + pc.eps);
  }
  return vec3(x0, dmean, rstd);
}
#define A_AT(r, k) ((((a[arow[r] + (k)] - st[r].x) - st[r].y) * st[r].z) * gamma[k] + beta[k])
#define A4_AT(r, k4) ((((a4[arow[r] / 4u + (k4)] - st[r].x) - st[r].y) * st[r].z) * gamma4[k4] + beta4[k4])
#else
#define A_AT(r, k) a[arow[r] + (k)]
#define A4_AT(r, k4) a4[arow[r] / 4u + (k4)]
#endif

void rows_main() {
  const uint id = linear_id();
  const uint n = VEC == 1 ? 4u * id : id; // the (first) column
  if (n >= pc.N) return;
  vec4 bb = vec4(0.0);
  if (pc.has_bias != 0u) {
    bb.x = bias[n];
    if (VEC == 1) bb.yzw = vec3(bias[n + 1u], bias[n + 2u], bias[n + 3u]);
  }
  for (uint m0 = 0; m0 < pc.M; m0 += MR) {
    vec4 acc[MR];
    [[unroll]] for (uint r = 0; r < MR; r++) acc[r] = vec4(0.0);
    // Rows past M read row M - 1 again (in bounds) and are not stored.
    uint arow[MR];
    [[unroll]] for (uint r = 0; r < MR; r++) arow[r] = min(m0 + r, pc.M - 1u) * pc.K;
#ifdef ROWS_LN
    vec3 st[MR];
    [[unroll]] for (uint r = 0; r < MR; r++) st[r] = ln_stats(arow[r]);
#endif
    if (VEC == 1) {
      const uint n4 = n / 4u, N4 = pc.N / 4u;
      for (uint k = 0; k < pc.K; k++) {
        vec4 bv = b4[k * N4 + n4];
        [[unroll]] for (uint r = 0; r < MR; r++) acc[r] = fma(vec4(A_AT(r, k)), bv, acc[r]);
      }
    } else if (VEC == 2) {
      const uint K4 = pc.K / 4u, bo = n * K4;
      for (uint k4 = 0; k4 < K4; k4++) {
        vec4 bv = b4[bo + k4];
        [[unroll]] for (uint r = 0; r < MR; r++) {
          vec4 av = A4_AT(r, k4);
          float s = acc[r].x;
          s = fma(av.x, bv.x, s);
          s = fma(av.y, bv.y, s);
          s = fma(av.z, bv.z, s);
          acc[r].x = fma(av.w, bv.w, s);
        }
      }
    } else {
      const uint bo = n * pc.b_sn;
      for (uint k = 0; k < pc.K; k++) {
        float bv = b[k * pc.b_sk + bo];
        [[unroll]] for (uint r = 0; r < MR; r++) acc[r].x = fma(A_AT(r, k), bv, acc[r].x);
      }
    }
    [[unroll]] for (uint r = 0; r < MR; r++) {
      if (m0 + r >= pc.M) continue;
      store(m0 + r, n, acc[r].x + bb.x);
      if (VEC == 1) {
        store(m0 + r, n + 1u, acc[r].y + bb.y);
        store(m0 + r, n + 2u, acc[r].z + bb.z);
        store(m0 + r, n + 3u, acc[r].w + bb.w);
      }
    }
  }
}
