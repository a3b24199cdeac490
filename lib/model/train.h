/* train: language-model training steps on a token stream (pretraining and SFT building block).
 *
 * Contract: gc_lm_batch draws a (B, T) batch of windows from a token array as a pure function of
 * (seed, step), so a run resumed from a checkpoint at step k sees exactly the batches an
 * uninterrupted run sees. gc_lm_step does forward, cross-entropy, backward, gradient clipping and
 * one AdamW update at the scheduled learning rate. Neither allocates beyond the model's arena.
 */
#ifndef GC_TRAIN_H
#define GC_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util/base.h"
#include "model.h"
#include "optim.h"

typedef struct {
    float lr_max, lr_min;
    int64_t warmup, total; /* steps */
    float clip;            /* max gradient norm, 0 = none */
} gc_schedule;

/* tokens, targets: (B, T); targets are the next tokens. Requires n_data > T. */
gc_status gc_lm_batch(const int32_t *data, size_t n_data, int B, int T, uint64_t seed, int64_t step,
                      int32_t *tokens, int32_t *targets);

/* One optimisation step at step index opt->step (0-based). len (B) or NULL: padded batch, as in
 * gc_model_forward_len. *loss and *grad_norm may be NULL. */
gc_status gc_lm_step(gc_model *m, gc_adamw *opt, const gc_schedule *sched, const int32_t *tokens,
                     const int32_t *targets, int B, int T, const int *len, float *loss,
                     float *grad_norm);

#endif
