#version 450
// One Adam or AdamW step for one parameter, as torch.optim.Adam / AdamW (no AMSGrad):
//   g = grad * clip_scale;  Adam: g += wd * p;  AdamW: p *= 1 - lr * wd;
//   m += (1 - beta1) (g - m);  v = beta2 v + (1 - beta2) g^2;
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
// clip_scale = min(1, clip / (norm + 1e-6)) when clipping (torch.nn.utils.clip_grad_norm_). lr and
// the step t (counting from 1; 0 is taken as 1) are read at run time from the scalars.
#include "common.glsl"

layout(constant_id = 3) const uint DECOUPLED = 0; // 1: AdamW's decoupled weight decay

layout(std430, binding = 0) buffer Param { float p[]; };
layout(std430, binding = 1) readonly buffer Grad { float grad[]; };
layout(std430, binding = 2) buffer M { float m[]; };
layout(std430, binding = 3) buffer V { float v[]; };
layout(std430, binding = 4) readonly buffer S { uint scal[]; }; // the graph's per-run scalars
layout(std430, binding = 5) readonly buffer Norm { float norm[]; };
layout(push_constant, std430) uniform PC {
  uint n, lr_slot, step_slot, pad;
  float one_minus_beta1, beta2, one_minus_beta2, eps, wd, clip; // clip <= 0: no clipping
  float log_beta1, log_beta2; // log(beta) computed in double on the host (-inf for beta 0)
} pc;

// 1 - beta^t = 1 - e^y with y = t log(beta) <= 0. Near y = 0 (beta2 = 0.999 at small t gives
// 1 - beta^t ~ 1e-3) subtracting from 1 would lose several digits, so a short series of
// -expm1(y) is used there instead.
float one_minus_pow(float log_beta, float t) {
  const float y = t * log_beta;
  if (y > -0.125) return -y * (1.0 + y * (0.5 + y * (1.0 / 6.0 + y * (1.0 / 24.0 + y * (1.0 / 120.0)))));
  return 1.0 - exp(y);
}

void main() {
  const uint i = linear_id();
  if (i >= pc.n) return;
  const float lr = uintBitsToFloat(scal[pc.lr_slot]);
  const float t = float(max(scal[pc.step_slot], 1u));
  float g = grad[i];
  if (pc.clip > 0.0) g *= min(1.0, pc.clip / (norm[0] + 1e-6));
  float x = p[i];
  if (DECOUPLED != 0) x *= 1.0 - lr * pc.wd;
  else if (pc.wd != 0.0) g += pc.wd * x;
  float mi = m[i], vi = v[i];
  mi += pc.one_minus_beta1 * (g - mi);
  vi = pc.beta2 * vi + pc.one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  const float step_size = lr / one_minus_pow(pc.log_beta1, t);
  const float denom = sqrt(vi) / sqrt(one_minus_pow(pc.log_beta2, t)) + pc.eps;
  p[i] = x - step_size * (mi / denom);
}
