#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

gc_status gc_adamw_init(gc_adamw *o, size_t n, float beta1, float beta2, float eps,
                        float weight_decay) {
    memset(o, 0, sizeof *o);
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0 && weight_decay >= 0))
        return gc_fail(GC_ERR_ARG, "adamw: bad hyper-parameters (betas %g %g, eps %g, wd %g)",
                       beta1, beta2, eps, weight_decay);
    o->m = gc_calloc(n, sizeof(float));
    o->v = gc_calloc(n, sizeof(float));
    if (!o->m || !o->v) {
        gc_adamw_free(o);
        return GC_ERR_NOMEM;
    }
    o->n = n;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    return GC_OK;
}

void gc_adamw_free(gc_adamw *o) {
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

void gc_adamw_update(float *params, float *m, float *v, const float *grads, size_t n, float lr,
                     float beta1, float beta2, float eps, float weight_decay, int decay,
                     int64_t step) {
    float bc1 = 1.0f - powf(beta1, (float)step);
    float bc2_sqrt = sqrtf(1.0f - powf(beta2, (float)step));
    float step_size = lr / bc1;
    float dec = decay ? 1.0f - lr * weight_decay : 1.0f;
    GC_PAR_FOR(
        n, for (size_t i = 0; i < n; i++) {
            float g = grads[i];
            float mi = m[i] = beta1 * m[i] + (1.0f - beta1) * g;
            float vi = v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
            float denom = sqrtf(vi) / bc2_sqrt + eps;
            params[i] = params[i] * dec - step_size * mi / denom;
        });
}

void gc_adamw_step(gc_adamw *o, float *params, const float *grads, const gc_tensor_info *tensors,
                   int ntensors, float lr) {
    o->step++;
    for (int t = 0; t < ntensors; t++) {
        size_t a = tensors[t].offset;
        gc_adamw_update(params + a, o->m + a, o->v + a, grads + a, tensors[t].size, lr, o->beta1,
                        o->beta2, o->eps, o->weight_decay, tensors[t].decay, o->step);
    }
}

float gc_lr_cosine(int64_t step, int64_t total, int64_t warmup, float lr_max, float lr_min) {
    if (warmup > 0 && step < warmup) return lr_max * (float)(step + 1) / (float)warmup;
    if (total <= warmup) return lr_max;
    double frac = (double)(step - warmup) / (double)(total - warmup);
    if (frac > 1) frac = 1;
    return lr_min + (lr_max - lr_min) * 0.5f * (float)(1.0 + cos(M_PI * frac));
}

/* the clipping rule of torch.nn.utils.clip_grad_norm_: the factor for a gradient of this norm */
float gc_clip_factor(double norm, float max_norm) {
    float n = (float)norm;
    return max_norm > 0 && n > max_norm ? max_norm / (n + 1e-6f) : 1.0f;
}

float gc_clip_grad_norm(float *grads, size_t n, float max_norm) {
    float norm = (float)sqrt(gc_ops_sumsq(grads, n)), s = gc_clip_factor(norm, max_norm);
    if (s != 1.0f) {
        GC_PAR_FOR(n, for (size_t i = 0; i < n; i++) grads[i] *= s;);
    }
    return norm;
}

gc_status gc_model_clip_grads(gc_model *m, float max_norm, float *norm) {
    double ss;
    GC_TRY(gc_model_grad_sumsq(m, &ss));
    float n = (float)sqrt(ss), k = gc_clip_factor(n, max_norm);
    if (k != 1.0f) GC_TRY(gc_model_scale_grads(m, k));
    if (norm) *norm = n;
    return GC_OK;
}
