/* ckpt: checkpoints inside a stage, so that a long stage killed at any moment resumes from its
 * last checkpoint and ends bitwise as an uninterrupted run (with the same thread count).
 *
 * A stage's checkpoints live beside its directory, in <dir>.ckpt/step-<n>/ (a rerun empties the
 * stage's directory, never this one). Each is written into a temporary directory that is then
 * renamed, so a kill leaves either the previous checkpoint or the new one, both complete; older
 * ones are removed after the rename. The runner removes the whole <dir>.ckpt once the stage is
 * done, and at the start of a --force run.
 *
 * Use, in a stage's compute:
 *   int64_t k = rp_ckpt_latest(st, dir);       // -1: start from scratch, else restore from dir
 *   for (step = k + 1 ...) {
 *       ... one step ...
 *       if (rp_ckpt_due(st, step == last)) GC_TRY(rp_ckpt_write(st, step, save, ctx));
 *   }
 * rp_ckpt_due is true when the run's interval (replicate run --checkpoint-every SECONDS, else the
 * experiment file's "checkpoint_every", else 60 s) has passed since the last one, or a stop was
 * asked for. SIGINT and SIGTERM during such a stage ask for a stop: the stage writes its
 * checkpoint at the next step and rp_ckpt_write returns GC_ERR_STOPPED with a message saying how
 * to resume; outside such a stage they act as usual. A second signal ends the process at once.
 *
 * For tests: GCRM_KILL_AFTER_CHECKPOINTS=k makes the process kill itself with SIGKILL right after
 * its k-th checkpoint.
 */
#ifndef RP_CKPT_H
#define RP_CKPT_H

#include <stdint.h>

#include "lib/util/base.h"
#include "stage.h"

/* Installs the SIGINT / SIGTERM handlers (replicate run does, once). */
void rp_ckpt_signals(void);
/* The latest complete checkpoint's step, its directory in dir; -1 when there is none. Marks the
 * stage as one that checkpoints (signals now stop it cleanly). */
int64_t rp_ckpt_latest(rp_stage *st, char dir[RP_PATH]);
/* Whether to write a checkpoint now: the interval has passed or a stop was asked for; never at
 * the last step (done: the stage's outputs follow). */
int rp_ckpt_due(const rp_stage *st, int last);
/* Writes checkpoint `step`: save fills an empty directory, then it is published. After a stop
 * request, returns GC_ERR_STOPPED once the checkpoint is safe. */
gc_status rp_ckpt_write(rp_stage *st, int64_t step, gc_status (*save)(const char *dir, void *ctx),
                        void *ctx);
/* Removes the stage's checkpoints (done, or --force). */
gc_status rp_ckpt_clear(rp_stage *st);
/* The stage's compute has returned (its checkpoints stay for the next run). */
void rp_ckpt_leave(rp_stage *st);

#endif
