// Shared by every shader. Conventions:
//  - specialization constants 0, 1, 2 are the workgroup size x, y, z; 3 and up are the shader's own;
//  - shapes and strides come in push constants (at most 128 bytes), declared std430;
//  - 1-D launches may spread over (x, y) workgroups when they need more than 65535 groups.
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

// Linear index of this invocation in a 1-D launch split over (x, y) workgroups.
uint linear_id() {
  return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
}

// -inf, the identity of max (a function, since bit casts are not constant expressions everywhere).
float neg_inf() { return uintBitsToFloat(0xff800000u); }
