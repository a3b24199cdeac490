#include "train.h"

#include <string.h>

#include "lib/util/rng.h"

gc_status gc_lm_batch(const int32_t *data, size_t n_data, int B, int T, uint64_t seed, int64_t step,
                      int32_t *tokens, int32_t *targets) {
    if (B <= 0 || T <= 0 || n_data <= (size_t)T)
        return gc_fail(GC_ERR_ARG, "lm_batch: %zu tokens cannot fill windows of %d + 1", n_data, T);
    gc_rng r;
    gc_rng_init(&r, seed, gc_rng_stream(GC_STREAM_LM_BATCH, (uint64_t)step));
    size_t span = n_data - (size_t)T;
    for (int b = 0; b < B; b++) {
        size_t start = span > UINT32_MAX ? (size_t)gc_rng_u32(&r) % span
                                         : (size_t)gc_rng_below(&r, (uint32_t)span);
        memcpy(tokens + (size_t)b * T, data + start, sizeof(int32_t) * (size_t)T);
        memcpy(targets + (size_t)b * T, data + start + 1, sizeof(int32_t) * (size_t)T);
    }
    return GC_OK;
}

gc_status gc_lm_step(gc_model *m, gc_adamw *opt, const gc_schedule *sched, const int32_t *tokens,
                     const int32_t *targets, int B, int T, const int *len, float *loss,
                     float *grad_norm) {
    float l;
    float norm;
    GC_TRY(gc_model_forward_len(m, tokens, B, T, len, GC_LOGITS_DEVICE));
    GC_TRY(gc_model_ce_loss(m, targets, 1.0f, &l));
    GC_TRY(gc_model_zero_grad(m));
    GC_TRY(gc_model_backward(m, NULL));
    GC_TRY(gc_model_clip_grads(m, sched->clip, &norm));
    float lr = gc_lr_cosine(opt->step, sched->total, sched->warmup, sched->lr_max, sched->lr_min);
    GC_TRY(gc_model_adamw(m, opt, lr));
    if (loss) *loss = l;
    if (grad_norm) *grad_norm = norm;
    return GC_OK;
}
