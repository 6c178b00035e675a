#version 450
// Draws one token per row of logits (B, V): one workgroup per row.
//
//  1. Row max and its lowest index (the greedy answer; also the shift that keeps exp() in range).
//  2. Top-k: the k-th largest logit, found exactly by radix select on order-preserving u32 keys
//     (4 passes over 8-bit digits, a 256-bin histogram in shared memory). Tokens above it are kept,
//     and tokens equal to it in index order until k are kept.
//  2b. Top-p (when its slot is set and p < 1): the largest key threshold t such that the kept
//     tokens with key >= t hold at least p of the kept weight, found bit by bit from the top (32
//     passes, each a weight sum over the row); tokens below t are dropped.
//  3. Weights w_i = exp((x_i - max) / T) of the kept tokens, summed per thread over a contiguous
//     index range, prefixed over threads; u comes from Philox with counter (row, stream, 0, 0) and
//     the first index whose cumulative weight exceeds u * total is drawn. Only the thread whose range
//     holds that crossing scans its range again.
//
// Tokens equal to the row max get weight exactly 1 (not exp(x - max)), so a row of +inf logits, or a
// row that is all -inf, draws among its maximal tokens instead of producing NaN.
#include "common.glsl"
#include "philox.glsl"

layout(std430, binding = 0) readonly buffer S { uint scal[]; }; // the graph's per-run scalars
layout(std430, binding = 1) readonly buffer X { float x[]; };   // (B, V)
layout(std430, binding = 2) writeonly buffer O { int o[]; };    // (B)
layout(push_constant, std430) uniform PC {
  uint B, V, stream;
  uint seed_slot, temp_slot, topk_slot; // 0xffffffff: the default (seed 0, T = 1, all tokens)
  uint topp_slot;                       // 0xffffffff: no top-p
} pc;

const uint NONE = 0xffffffffu;
const uint WG = gl_WorkGroupSize.x;

shared uint hist[256];
shared float sh_f[WG];
shared uint sh_u[WG];
shared uint sh_prefix, sh_krem, sh_pick, sh_last;
shared float sh_target;

// Order-preserving map float -> uint: larger floats give larger keys (negative floats are flipped).
// -0 maps to the key of +0, since the two compare equal.
uint fkey(float f) {
  uint b = f == 0.0 ? 0u : floatBitsToUint(f);
  return (b & 0x80000000u) != 0u ? ~b : (b | 0x80000000u);
}

void main() {
  uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= pc.B) return; // the whole workgroup leaves together
  uint tid = gl_LocalInvocationID.x, V = pc.V, base = row * V;
  float T = pc.temp_slot == NONE ? 1.0 : uintBitsToFloat(scal[pc.temp_slot]);
  uint k = pc.topk_slot == NONE ? 0u : scal[pc.topk_slot];
  if (k == 0u || k > V) k = V;
  // This thread's contiguous range [lo, hi) of the row.
  uint chunk = (V + WG - 1u) / WG, lo = min(tid * chunk, V), hi = min(lo + chunk, V);

  // ---- 1. max and argmax (ties -> lowest index) ----
  float m = 0.0;
  uint mi = NONE;
  for (uint i = lo; i < hi; i++) {
    float v = x[base + i];
    if (mi == NONE || v > m) {
      m = v;
      mi = i;
    }
  }
  sh_f[tid] = m;
  sh_u[tid] = mi;
  barrier();
  uint p2 = 1u;
  while (p2 < WG) p2 <<= 1;
  for (uint s = p2 >> 1; s > 0u; s >>= 1) {
    if (tid < s && tid + s < WG) {
      float bv = sh_f[tid + s];
      uint bi = sh_u[tid + s];
      if (bi != NONE && (sh_u[tid] == NONE || bv > sh_f[tid] || (bv == sh_f[tid] && bi < sh_u[tid]))) {
        sh_f[tid] = bv;
        sh_u[tid] = bi;
      }
    }
    barrier();
  }
  float M = sh_f[0];
  uint amax = sh_u[0];
  // T <= 0 (or NaN) is greedy.
  if (!(T > 0.0)) {
    if (tid == 0u) o[row] = int(amax);
    return;
  }
  barrier(); // everyone has read sh_f[0] before it is reused

  // ---- 2. top-k threshold by radix select ----
  uint thr = 0u, eq_keep = NONE, eq_seen = 0u;
  bool all = k >= V;
  if (!all) {
    uint prefix = 0u, hmask = 0u, krem = k;
    for (int pass = 0; pass < 4; pass++) {
      uint shift = uint(24 - 8 * pass);
      for (uint b = tid; b < 256u; b += WG) hist[b] = 0u;
      barrier();
      for (uint i = tid; i < V; i += WG) {
        uint key = fkey(x[base + i]);
        if ((key & hmask) == prefix) atomicAdd(hist[(key >> shift) & 255u], 1u);
      }
      barrier();
      // Walk the digits from the top until the bins cover krem more tokens: the k-th largest has that digit.
      if (tid == 0u) {
        uint cum = 0u;
        for (int d = 255; d >= 0; d--) {
          uint c = hist[d];
          if (cum + c >= krem) {
            sh_prefix = prefix | (uint(d) << shift);
            sh_krem = krem - cum;
            break;
          }
          cum += c;
        }
      }
      barrier();
      prefix = sh_prefix;
      krem = sh_krem;
      hmask = (hmask >> 8) | 0xff000000u;
    }
    thr = prefix;  // the key of the k-th largest logit
    eq_keep = krem; // how many tokens equal to it are kept, in index order
    // Tokens equal to the threshold in earlier threads' ranges come first.
    uint eqc = 0u;
    for (uint i = lo; i < hi; i++) eqc += fkey(x[base + i]) == thr ? 1u : 0u;
    sh_u[tid] = eqc;
    barrier();
    if (tid == 0u) {
      uint run = 0u;
      for (uint t = 0u; t < WG; t++) {
        uint c = sh_u[t];
        sh_u[t] = run;
        run += c;
      }
    }
    barrier();
    eq_seen = sh_u[tid];
  }

  // ---- 2b. top-p threshold on the keys, by bisection over their bits ----
  uint pthr = 0u;
  float P_ = pc.topp_slot == NONE ? 1.0 : uintBitsToFloat(scal[pc.topp_slot]);
  if (P_ < 1.0) {
    float total = 0.0, target = 0.0;
    for (int bit = -1; bit < 32; bit++) {
      // Pass -1 sums every kept weight; pass b tries setting bit 31 - b of the threshold.
      uint cand = bit < 0 ? 0u : pthr | (1u << uint(31 - bit));
      float s = 0.0;
      uint seen = eq_seen;
      for (uint i = lo; i < hi; i++) {
        float v = x[base + i];
        uint key = fkey(v);
        bool keep = all || key > thr || (key == thr && seen++ < eq_keep);
        if (keep && key >= cand) s += v == M ? 1.0 : exp((v - M) / T);
      }
      sh_f[tid] = s;
      barrier();
      for (uint st = p2 >> 1; st > 0u; st >>= 1) {
        if (tid < st && tid + st < WG) sh_f[tid] += sh_f[tid + st];
        barrier();
      }
      float sum = sh_f[0];
      barrier(); // everyone has read sh_f[0] before the next pass writes it
      if (bit < 0) {
        total = sum;
        // p <= 0 (or NaN) still keeps the largest tokens: their weight 1 meets any tiny target.
        target = max(P_ * total, 1e-30);
      } else if (sum >= target) {
        pthr = cand;
      }
    }
  }

  // ---- 3. weights, prefix over threads, and the draw ----
  if (tid == 0u) {
    sh_pick = NONE;
    sh_last = 0u;
  }
  precise float s = 0.0;
  uint last = 0u, seen = eq_seen;
  bool any = false;
  for (uint i = lo; i < hi; i++) {
    float v = x[base + i];
    uint key = fkey(v);
    bool keep = (all || key > thr || (key == thr && seen++ < eq_keep)) && key >= pthr;
    precise float w = keep ? (v == M ? 1.0 : exp((v - M) / T)) : 0.0;
    s += w;
    if (w > 0.0) {
      last = i;
      any = true;
    }
  }
  sh_f[tid] = s;
  barrier();
  if (any) atomicMax(sh_last, last);
  if (tid == 0u) {
    precise float run = 0.0;
    for (uint t = 0u; t < WG; t++) {
      float c = sh_f[t];
      sh_f[t] = run;
      run += c;
    }
    uint seed = pc.seed_slot == NONE ? 0u : scal[pc.seed_slot];
    uint bits = philox4x32_10(uvec4(row, pc.stream, 0u, 0u), uvec2(seed, 0u)).x;
    precise float target = philox_u01(bits) * run;
    sh_target = target;
  }
  barrier();
  precise float P = sh_f[tid];
  float target = sh_target;
  precise float end = P + s;
  if (P <= target && target < end) {
    // Same loop, same order, same roundings as above, so the running sum reaches P + s here too.
    precise float r = 0.0;
    seen = eq_seen;
    for (uint i = lo; i < hi; i++) {
      float v = x[base + i];
      uint key = fkey(v);
      bool keep = (all || key > thr || (key == thr && seen++ < eq_keep)) && key >= pthr;
      precise float w = keep ? (v == M ? 1.0 : exp((v - M) / T)) : 0.0;
      r += w;
      precise float c = P + r;
      if (c > target) {
        sh_pick = i;
        break;
      }
    }
  }
  barrier();
  // Rounding could in principle leave target >= total; then the last token with weight wins.
  if (tid == 0u) o[row] = int(sh_pick != NONE ? sh_pick : sh_last);
}
