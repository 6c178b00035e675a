#version 450
// One plain SGD step (no momentum, so no buffer binding) for one parameter; the update is in
// sgd_step.glsl.
#include "common.glsl"

layout(std430, binding = 0) buffer Param { float p[]; };
layout(std430, binding = 1) readonly buffer Grad { float grad[]; };
layout(std430, binding = 2) readonly buffer S { uint scal[]; }; // the graph's per-run scalars
layout(std430, binding = 3) readonly buffer Norm { float norm[]; };

#include "sgd_step.glsl"

float momentum_update(uint i, float g) { return g; }

void main() { sgd_main(); }
