// The SGD update shared by sgd_step.comp (with a momentum buffer) and sgd_plain_step.comp (without),
// as torch.optim.SGD (dampening 0, no Nesterov):
//   g = grad * clip_scale;  g += wd * p;  buf = momentum * buf + g;  p -= lr * buf  (or lr * g
// without momentum). A zero buffer makes the first step's buf equal g, as PyTorch's first step.
// clip_scale = min(1, clip / (norm + 1e-6)) when clipping (torch.nn.utils.clip_grad_norm_), with
// the global gradient norm computed earlier on the GPU. lr is read at run time from the scalars.
// The includer declares p, grad, scal and norm before including this, and defines momentum_update.
layout(push_constant, std430) uniform PC {
  uint n, lr_slot;
  float momentum, wd, clip; // clip <= 0: no clipping
} pc;

// Returns the step direction for element i with gradient g (buf, or g itself without momentum).
float momentum_update(uint i, float g);

void sgd_main() {
  const uint i = linear_id();
  if (i >= pc.n) return;
  const float lr = uintBitsToFloat(scal[pc.lr_slot]);
  float g = grad[i];
  if (pc.clip > 0.0) g *= min(1.0, pc.clip / (norm[0] + 1e-6));
  const float x = p[i];
  if (pc.wd != 0.0) g += pc.wd * x;
  p[i] = x - lr * momentum_update(i, g);
}
