// Shared by the block variants of the LSTM and GRU shaders (lstm_fwd_blk, lstm_bwd_blk, gru_fwd_blk,
// gru_bwd_blk), used on CPU devices such as lavapipe.
//
// There every load from a storage buffer or shared memory costs a loop over the SIMD lanes, while
// private arrays indexed by a loop counter (the same for every invocation) are plain vector loads.
// So these kernels trade loads for arithmetic: a workgroup of WL invocations owns a block of RB
// batch rows; each step, every invocation copies the block's shared vector (h_{t-1}, or the gate
// gradients going backward) into a private array once, and each weight it loads then serves all RB
// rows. Invocation `lane` owns the hidden units k = lane, lane + WL, ... for every row of the block.
// Where they fit, an invocation's weights stay in a private array across the steps of a launch too.
// The math, the saved tensors and the launches over t are those of the per-row kernels (rnn.glsl).
#include "activations.glsl"

layout(constant_id = 3) const uint HP = 4;  // H rounded up to a multiple of 4
layout(constant_id = 4) const uint RB = 1;  // batch rows per workgroup
// CACHE 1: each invocation keeps the weights of its UW units in a private array for the whole launch
// (loaded once instead of once per step); 0 (wide layers, whose copies would be large): read them
// from the buffer every step. UW is then 1 and the array unused.
layout(constant_id = 5) const uint UW = 1;
layout(constant_id = 6) const uint CACHE = 0;

// The first batch row of this workgroup's block (blocks past 65535 spill into y).
uint blk_row0() { return (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * RB; }
