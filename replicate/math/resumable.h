/* resumable: checkpoints of the math stages' long loops (replicate/runner/ckpt.h), so that a
 * stage killed at any moment resumes from its last checkpoint and ends bitwise as an
 * uninterrupted run.
 *
 * math_sample_ckpt: gc_math_sample inside stage st. The checkpoint (samples.json: items done,
 * their generated tokens and texts) is written after a batch once the run's interval has passed;
 * a rerun starts at the next batch. Every item draws from its own stream and batches stay those of
 * one run, so the texts are the same.
 *
 * math_loop: what a training loop over preference pairs holds besides its model and optimiser,
 * saved beside them: the random stream, this epoch's pair order and batch order, running sums
 * (kept as their bits) and the training curve so far.
 */
#ifndef RP_MATH_RESUMABLE_H
#define RP_MATH_RESUMABLE_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "lib/tasks/mathpipe.h"
#include "lib/util/rng.h"
#include "replicate/runner/stage.h"

/* gc_math_sample(pm, qs, n, samples, c, out, n_tokens) resumed from and checkpointed into st's
 * checkpoints (c->resume must be NULL). */
gc_status math_sample_ckpt(rp_stage *st, gc_model *pm, const char *const *qs, int n, int samples,
                           const gc_sample_config *c, char **out, int64_t *n_tokens);

typedef struct {
    gc_rng *rng;
    int *order; /* (n) this epoch's pair order */
    int n;
    int *perm; /* (per_epoch) this epoch's batch order */
    int per_epoch;
    double *sums; /* (n_sums) running sums */
    int n_sums;
    cJSON **curve; /* the curve so far; replaced by the saved one on load */
} math_loop;

/* Writes the loop's state into a checkpoint's directory (dir/loop.json) / reads it back into l,
 * whose arrays have the sizes it was saved with; another size or a damaged file is an error
 * naming the file. */
gc_status math_loop_save(const math_loop *l, const char *dir);
gc_status math_loop_load(math_loop *l, const char *dir);

#endif
