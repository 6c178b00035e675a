// Shared by the LSTM and GRU shaders (lstm_fwd, lstm_bwd, gru_fwd, gru_bwd).
//
// Each workgroup owns one batch row and walks the time steps [t0, t1) of it. Invocation tid owns the
// hidden units k = tid, tid + WG, ... and is the only one that reads or writes their per-unit values
// (cell state, gate activations, carried gradients), so only the vector shared by the whole row (the
// hidden state going forward, the gate gradients going backward) passes through shared memory, with
// one barrier per step. Matrix-vector loops take four columns per iteration to keep the loop count
// low (lavapipe ends a shader's loops after 65535 iterations in all; the launcher splits t so that no
// invocation gets near that). Shared vectors are padded with zeros to HP, a multiple of 4, and matrix
// reads clamp the index so that the padding columns multiply a real weight by zero.
#include "activations.glsl"

layout(constant_id = 3) const uint HP = 4;  // H rounded up to a multiple of 4

// The batch row of this workgroup (rows past 65535 spill into y).
uint rnn_row() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }
