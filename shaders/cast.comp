#version 450
// Converts between f32 and f16 on bit patterns with integer arithmetic only, so the result is the
// same on every device: f32 -> f16 rounds to nearest even (overflow gives inf, tiny values give f16
// subnormals or signed zero, NaN gives a quiet NaN of the same sign), f16 -> f32 is exact. Float
// conversion instructions would leave rounding and subnormal flushing to the driver.
// Binding 0 is always the f32 tensor and binding 1 the f16 tensor; DIR says which one is written.
#extension GL_EXT_shader_16bit_storage : require
#include "common.glsl"

layout(constant_id = 3) const uint DIR = 0; // 0: f32 -> f16, 1: f16 -> f32

layout(std430, binding = 0) buffer F32 { uint f32[]; }; // f32 bit patterns
layout(std430, binding = 1) buffer F16 { uint16_t f16[]; };
layout(push_constant, std430) uniform PC {
  uint n;
} pc;

uint f32_to_f16(uint u) {
  const uint sign = (u >> 16) & 0x8000u, e8 = (u >> 23) & 0xffu;
  uint man = u & 0x7fffffu;
  if (e8 == 0xffu) return sign | 0x7c00u | (man != 0u ? 0x200u : 0u); // inf, nan
  const int e = int(e8) - 127 + 15;
  if (e >= 31) return sign | 0x7c00u; // overflow to inf
  if (e <= 0) {
    // Subnormal (or zero): shift the mantissa, with its implicit 1, right by 14 - e and round.
    if (e < -10) return sign;
    man |= 0x800000u;
    const uint shift = uint(14 - e);
    uint h = man >> shift;
    const uint rem = man & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (h & 1u) != 0u)) h++;
    return sign | h;
  }
  uint h = (uint(e) << 10) | (man >> 13);
  const uint rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) h++; // may carry into the exponent: fine
  return sign | h;
}

uint f16_to_f32(uint h) {
  const uint sign = (h & 0x8000u) << 16, e5 = (h >> 10) & 0x1fu;
  uint man = h & 0x3ffu;
  if (e5 == 0u) {
    if (man == 0u) return sign;
    // Subnormal: normalize so the leading 1 lands on bit 10.
    const uint shift = 10u - uint(findMSB(man));
    man <<= shift;
    return sign | ((127u - 15u + 1u - shift) << 23) | ((man & 0x3ffu) << 13);
  }
  if (e5 == 31u) return sign | 0x7f800000u | (man << 13);
  return sign | ((e5 - 15u + 127u) << 23) | (man << 13);
}

void main() {
  const uint i = linear_id();
  if (i >= pc.n) return;
  if (DIR == 0) f16[i] = uint16_t(f32_to_f16(f32[i]));
  else f32[i] = f16_to_f32(uint(f16[i]));
}
