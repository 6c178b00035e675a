// Workgroup-wide reductions through shared memory: a plain tree, no subgroup operations, so they
// work on every device and for any workgroup size (powers of two or not).
// Every invocation of the workgroup must call them, in uniform control flow (they hold barriers).
// They end with a barrier, so calls may follow one another with no barrier in between.

const uint WG_N = gl_WorkGroupSize.x * gl_WorkGroupSize.y * gl_WorkGroupSize.z;
shared float wg_red[WG_N];

// The largest power of two <= WG_N: the tree folds the remainder onto it first.
uint wg_pow2() {
  uint p = 1;
  while (2 * p <= WG_N) p *= 2;
  return p;
}

float wg_sum(float v) {
  const uint tid = gl_LocalInvocationIndex, p = wg_pow2();
  wg_red[tid] = v;
  barrier();
  if (tid + p < WG_N) wg_red[tid] += wg_red[tid + p];
  barrier();
  for (uint s = p / 2; s > 0; s /= 2) {
    if (tid < s) wg_red[tid] += wg_red[tid + s];
    barrier();
  }
  float r = wg_red[0];
  barrier(); // everyone has read the result before the next call overwrites it
  return r;
}

float wg_max(float v) {
  const uint tid = gl_LocalInvocationIndex, p = wg_pow2();
  wg_red[tid] = v;
  barrier();
  if (tid + p < WG_N) wg_red[tid] = max(wg_red[tid], wg_red[tid + p]);
  barrier();
  for (uint s = p / 2; s > 0; s /= 2) {
    if (tid < s) wg_red[tid] = max(wg_red[tid], wg_red[tid + s]);
    barrier();
  }
  float r = wg_red[0];
  barrier();
  return r;
}
