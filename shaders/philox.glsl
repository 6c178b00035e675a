// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based generator, so every invocation computes its own numbers from (counter, key) with no
// state carried between invocations or runs. tests/ref_random.c is the plain-C twin of this file.
//
// How vkgen uses it: key = (seed, 0), where seed comes from a u32 scalar slot at run time; counter =
// (block, stream, 0, 0), where stream is a per-op id handed out in op creation order (0, 1, 2, ...
// within a graph) so two random ops of one graph never share numbers.

const uint PHILOX_M0 = 0xD2511F53u; // round multipliers
const uint PHILOX_M1 = 0xCD9E8D57u;
const uint PHILOX_W0 = 0x9E3779B9u; // key increments (golden ratio, sqrt(3) - 1)
const uint PHILOX_W1 = 0xBB67AE85u;

// One round: two 32x32 -> 64-bit products, their high halves mixed with the other words and the key.
uvec4 philox_round(uvec4 c, uvec2 k) {
  uint hi0, lo0, hi1, lo1;
  umulExtended(PHILOX_M0, c.x, hi0, lo0);
  umulExtended(PHILOX_M1, c.z, hi1, lo1);
  return uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
}

// Ten rounds, the key bumped (Weyl sequence) between rounds.
uvec4 philox4x32_10(uvec4 ctr, uvec2 key) {
  [[unroll]] for (int r = 0; r < 10; r++) {
    if (r > 0) key += uvec2(PHILOX_W0, PHILOX_W1);
    ctr = philox_round(ctr, key);
  }
  return ctr;
}

// u32 -> float in [0, 1): the top 24 bits, so every value is exact in fp32 and 1.0 never occurs.
float philox_u01(uint x) { return float(x >> 8) * (1.0 / 16777216.0); }

// u32 -> float in (0, 1]: safe to take the log of.
float philox_u01_open0(uint x) { return float((x >> 8) + 1u) * (1.0 / 16777216.0); }

// -log(u) for u = philox_u01_open0(x), accurate relative to its own size. Near u = 1 a plain log()
// loses most digits (its error is absolute, about 1e-7, while -log(u) is tiny), and Box-Muller takes
// the sqrt of it, so there the series -log(1 - t) = t + t^2/2 + ... on the exact t = 1 - u is used.
float philox_neg_log_open0(uint x) {
  float t = float(0xffffffu - (x >> 8)) * (1.0 / 16777216.0); // 1 - u, exact
  if (t >= 0.0625) return -log(1.0 - t);
  // For t < 1/16 the first dropped term, t^9 / 9, is below 1e-10 of the sum.
  return t * (1.0 + t * (1.0 / 2.0 + t * (1.0 / 3.0 + t * (1.0 / 4.0 + t * (1.0 / 5.0 + t * (1.0 / 6.0 +
             t * (1.0 / 7.0 + t * (1.0 / 8.0))))))));
}
