/* Plain-C references for the optimizers: PyTorch's documented algorithms (torch.optim.SGD, Adam,
 * AdamW; torch.nn.utils.clip_grad_norm_) in double precision. */
#ifndef VKGEN_REF_OPTIM_H
#define VKGEN_REF_OPTIM_H
#include <stddef.h>

#include "vkgen.h"

/* One step over n parameters p[i] (numel[i] values each) with gradients grad[i], at learning rate
 * lr and step number step (counting from 1). State: s1[i] is SGD's momentum buffer or Adam's
 * exp_avg, s2[i] Adam's exp_avg_sq (unused arrays may be NULL); all start at zero. When
 * d->clip_norm > 0 every gradient is first scaled by min(1, clip_norm / (norm + 1e-6)). Returns
 * the global L2 norm of the gradients before clipping. */
double ref_optim_step(const struct vkg_optim_desc *d, int n, const size_t *numel, double *const *p,
                      const double *const *grad, double *const *s1, double *const *s2, double lr, long step);
#endif
