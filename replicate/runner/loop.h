/* loop: what a training loop over preference pairs holds besides its model and optimiser, saved
 * beside them in a stage's checkpoint (ckpt.h): the random stream, this epoch's pair order and
 * batch order, running sums (kept as their bits, so a resumed run adds to the same values) and
 * the training curve so far. With the model and optimiser restored too, a resumed loop continues
 * bitwise as an uninterrupted one.
 */
#ifndef RP_LOOP_H
#define RP_LOOP_H

#include <cjson/cJSON.h>

#include "lib/rm/rm.h"
#include "lib/util/base.h"
#include "lib/util/rng.h"
#include "stage.h"

typedef struct {
    gc_rng *rng;
    int *order; /* (n) this epoch's pair order */
    int n;
    int *perm; /* (per_epoch) this epoch's batch order */
    int per_epoch;
    double *sums; /* (n_sums) running sums */
    int n_sums;
    cJSON **curve; /* the curve so far; replaced by the saved one on load */
} rp_loop;

/* Writes the loop's state into a checkpoint's directory (dir/loop.json) / reads it back into l,
 * whose arrays have the sizes it was saved with; another size or a damaged file is an error
 * naming the file. */
gc_status rp_loop_save(const rp_loop *l, const char *dir);
gc_status rp_loop_load(rp_loop *l, const char *dir);

/* Step `step`'s batch of a loop over l->n pairs in batches of P: a step that opens an epoch first
 * draws the epoch's order (gc_math_pair_order from l->rng, lens the pairs' lengths); the batch is
 * l->order[*first, *first + *nb). Returns 1 when the step closes its epoch. */
int rp_loop_batch(rp_loop *l, int step, int P, const int *lens, int *first, int *nb);

/* The step a stage's training loop starts from: 0, or the step of the stage's last checkpoint,
 * which load(dir, ctx) restores (ckpt.h). */
gc_status rp_loop_start(rp_stage *st, gc_status (*load)(const char *dir, void *ctx), void *ctx,
                        int *step);

/* A reward model's training checkpoint: the model with its optimiser (gc_rm_save_train, as "rm")
 * and the loop's state; save and load take an rp_rm_loop as ctx (rp_ckpt_write's and
 * rp_loop_start's callbacks). */
typedef struct {
    gc_rm *rm;
    rp_loop loop;
} rp_rm_loop;
gc_status rp_rm_loop_save(const char *dir, void *ctx);
gc_status rp_rm_loop_load(const char *dir, void *ctx);

#endif
