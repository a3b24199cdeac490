/* resumable: checkpoints of the math stages' sampling (replicate/runner/ckpt.h), so that a stage
 * killed at any moment resumes from its last checkpoint and ends bitwise as an uninterrupted run
 * (training loops keep their state with runner/loop.h).
 *
 * math_sample_ckpt: gc_math_sample inside stage st. The checkpoint (samples.json: items done,
 * their generated tokens and texts) is written after a batch once the run's interval has passed;
 * a rerun starts at the next batch. Every item draws from its own stream and batches stay those of
 * one run, so the texts are the same.
 */
#ifndef RP_MATH_RESUMABLE_H
#define RP_MATH_RESUMABLE_H

#include <stdint.h>

#include "lib/tasks/mathpipe.h"
#include "replicate/runner/stage.h"

/* gc_math_sample(pm, qs, n, samples, c, out, n_tokens) resumed from and checkpointed into st's
 * checkpoints (c->resume must be NULL). */
gc_status math_sample_ckpt(rp_stage *st, gc_model *pm, const char *const *qs, int n, int samples,
                           const gc_sample_config *c, char **out, int64_t *n_tokens);

#endif
