/* seqset: a set of token sequences (prompt + response) with next-token targets on the response
 * only, and the supervised fine-tuning loop over it.
 *
 * Ownership: gc_seqset owns its arrays ((n, max_len) each, PAD-filled); gc_seqset_free releases
 * them. gc_sft_train draws each batch as a pure function of (seed, step), pads it to the longest
 * sequence in the batch (rounded up to 8), and trains with AdamW, warm-up + cosine and clipping.
 * A run can be checkpointed after any step and resumed bitwise: the hook receives the loop's whole
 * state (gc_sft_state: the optimiser and the running loss sums; the weights are the model's), and
 * a run given a saved state (with the model's weights of that step) continues from it.
 */
#ifndef GC_SEQSET_H
#define GC_SEQSET_H

#include <stdint.h>

#include "lib/util/base.h"
#include "lib/util/rng.h"
#include "model.h"
#include "train.h"

typedef struct gc_seqset_s {
    int n, max_len;
    int32_t *tokens;  /* (n, max_len) */
    int32_t *targets; /* (n, max_len): next token on response positions, -1 elsewhere */
    int *len;         /* (n) */
    int *prompt_len;  /* (n) */
} gc_seqset;

gc_status gc_seqset_init(gc_seqset *s, int n, int max_len);
void gc_seqset_free(gc_seqset *s);
/* Sequence i = prompt (np tokens) followed by response (nr tokens). */
gc_status gc_seqset_set(gc_seqset *s, int i, const int32_t *prompt, int np, const int32_t *resp,
                        int nr);

/* Draws B sequences of d uniformly with r (idx: B) and packs them to the longest, rounded up to
 * 8 and at most max_len: tok and tgt (B, *T), len (B). */
void gc_seqset_batch(const gc_seqset *d, gc_rng *r, int B, int *idx, int32_t *tok, int32_t *tgt,
                     int *len, int *T);

/* The training loop's state besides the weights. */
typedef struct {
    gc_adamw opt;        /* opt.step = steps done */
    double tail, window; /* loss sums: over the last 10% of steps, over the current log window */
    int tail_n;
} gc_sft_state;

typedef struct {
    int steps, batch;
    gc_schedule sched;
    float weight_decay;
    uint64_t seed;
    int log_every; /* logs the mean loss of every log_every steps (gc_log_info); 0 = never */
    /* called after every step (last = 1 after the final one): may save m and *st (a checkpoint);
     * a non-OK status ends the run with it. NULL: none */
    gc_status (*on_step)(void *ctx, gc_model *m, gc_sft_state *st, int last);
    void *on_step_ctx;
    /* a saved state to continue from (m holds the weights of its step); NULL: from step 0 */
    const gc_sft_state *resume;
} gc_sft_config;

/* Trains m in place; *last_loss (may be NULL) gets the mean loss of the last 10% of steps. */
gc_status gc_sft_train(gc_model *m, const gc_seqset *data, const gc_sft_config *cfg,
                       float *last_loss);

#endif
