#version 450
// Permutes the dims of a tensor of 32-bit elements (f32 or i32 copied as raw words).
#include "common.glsl"
#define ELEM uint
#include "permute_body.glsl"
