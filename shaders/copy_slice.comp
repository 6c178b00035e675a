#version 450
// Block copy for slice and concat on 32-bit elements (f32 or i32 copied as raw words).
#include "common.glsl"
#define ELEM uint
#include "copy_slice_body.glsl"
