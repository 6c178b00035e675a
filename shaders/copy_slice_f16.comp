#version 450
// Block copy for slice and concat on f16 tensors (raw 16-bit copies; a separate module because
// 16-bit storage is an optional device feature that the 32-bit shader must not require).
#extension GL_EXT_shader_16bit_storage : require
#include "common.glsl"
#define ELEM uint16_t
#include "copy_slice_body.glsl"
