#include "ref_optim.h"

#include <math.h>

double ref_optim_step(const struct vkg_optim_desc *d, int n, const size_t *numel, double *const *p,
                      const double *const *grad, double *const *s1, double *const *s2, double lr, long step) {
  double sumsq = 0;
  for (int i = 0; i < n; i++)
    for (size_t k = 0; k < numel[i]; k++)
      sumsq += grad[i][k] * grad[i][k];
  double norm = sqrt(sumsq), scale = 1;
  if (d->clip_norm > 0) { /* clip_grad_norm_: clip_coef = max_norm / (norm + 1e-6), clamped to 1 */
    double coef = d->clip_norm / (norm + 1e-6);
    scale = coef < 1 ? coef : 1;
  }
  double wd = d->weight_decay, b1 = d->beta1, b2 = d->beta2;
  double bc1 = 1 - pow(b1, (double)step), bc2 = 1 - pow(b2, (double)step);
  for (int i = 0; i < n; i++)
    for (size_t k = 0; k < numel[i]; k++) {
      double g = grad[i][k] * scale, x = p[i][k];
      if (d->kind == VKG_SGD) {
        if (wd != 0) g += wd * x;
        if (d->momentum > 0) {
          /* buf = momentum * buf + g (dampening 0); on the first step buf = g, which the zero
           * buffer gives as well. */
          s1[i][k] = step == 1 ? g : d->momentum * s1[i][k] + g;
          g = s1[i][k];
        }
        p[i][k] = x - lr * g;
        continue;
      }
      if (d->kind == VKG_ADAMW)
        x *= 1 - lr * wd; /* decoupled weight decay */
      else if (wd != 0)
        g += wd * x; /* Adam: L2 on the gradient */
      s1[i][k] = b1 * s1[i][k] + (1 - b1) * g;
      s2[i][k] = b2 * s2[i][k] + (1 - b2) * g * g;
      double denom = sqrt(s2[i][k]) / sqrt(bc2) + d->eps;
      p[i][k] = x - lr / bc1 * s1[i][k] / denom;
    }
  return norm;
}
