/* optim: AdamW (decoupled weight decay), cosine learning-rate schedule with linear warm-up, and
 * global gradient-norm clipping.
 *
 * Contract: gc_adamw owns its moment buffers m and v (n floats each; gc_adamw_free releases
 * them). Weight decay applies to the tensors whose table entry has decay = 1. The update follows
 * torch.optim.AdamW exactly (bias-corrected moments, eps added to the corrected sqrt(v)), so the
 * PyTorch oracle can check it step by step.
 */
#ifndef GC_OPTIM_H
#define GC_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util/base.h"
#include "model.h"

typedef struct gc_adamw_s {
    float beta1, beta2, eps, weight_decay;
    int64_t step; /* updates done */
    size_t n;
    float *m, *v; /* (n) first and second moments */
} gc_adamw;

gc_status gc_adamw_init(gc_adamw *o, size_t n, float beta1, float beta2, float eps,
                        float weight_decay);
void gc_adamw_free(gc_adamw *o);
/* One update of n elements (params, moments m and v, grads) at learning rate lr, the update
 * number `step` (1 = the first); decay = 1 applies the weight decay. */
void gc_adamw_update(float *params, float *m, float *v, const float *grads, size_t n, float lr,
                     float beta1, float beta2, float eps, float weight_decay, int decay,
                     int64_t step);
/* One update of params (n) from grads (n) at learning rate lr; tensors give the decay mask. */
void gc_adamw_step(gc_adamw *o, float *params, const float *grads, const gc_tensor_info *tensors,
                   int ntensors, float lr);

/* One update of the model's parameters from its gradient, on its backend (gc_adamw_step's
 * arithmetic, tensor by tensor; lib/model/model.c). */
gc_status gc_model_adamw(gc_model *m, gc_adamw *o, float lr);
/* Global gradient-norm clipping of the model's gradient (gc_clip_grad_norm's rule); *norm (may be
 * NULL) receives the norm before clipping. */
gc_status gc_model_clip_grads(gc_model *m, float max_norm, float *norm);

/* Cosine decay from lr_max to lr_min over total steps after `warmup` linear warm-up steps
 * (step counts from 0; warm-up reaches lr_max at step warmup-1... as lr_max * (step+1)/warmup). */
float gc_lr_cosine(int64_t step, int64_t total, int64_t warmup, float lr_max, float lr_min);

/* The factor that clips a gradient of global norm `norm` to max_norm: max_norm / (norm + 1e-6)
 * when max_norm > 0 and norm exceeds it, else 1 (torch.nn.utils.clip_grad_norm_'s rule). */
float gc_clip_factor(double norm, float max_norm);

/* Global L2 norm of grads (n); when max_norm > 0 and the norm exceeds it, scales grads by
 * max_norm / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_ does. Returns the norm before. */
float gc_clip_grad_norm(float *grads, size_t n, float max_norm);

#endif
