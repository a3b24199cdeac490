/* diagnostics: how a reward model learns, epoch by epoch — its training accuracy and loss, and on
 * a fixed held-out synthetic-corruption set its pair accuracy, preference loss and AUROC — and
 * the training curves of a run's reward models in its results (rm_training) and plot
 * (<experiment>-rm-training.png, plots/rm-training.gp).
 */
#ifndef RP_MATH_DIAGNOSTICS_H
#define RP_MATH_DIAGNOSTICS_H

#include <cjson/cJSON.h>

#include "lib/tasks/task.h"
#include "pipeline.h"
#include "replicate/runner/results.h"

/* The held-out synthetic-corruption set: training-split problems past any index the pipeline
 * uses (so neither the policy nor the reward models trained on them), each as its reference
 * solution against a corrupted copy (gc_task_corrupt: in arith one slip carried forward, in graph a
 * wrong branch). */
typedef struct {
    int n;
    gc_problem *p;                  /* (n) */
    char (*bad)[GC_TASK_TEXT];      /* (n) */
    const char **q, **good, **badp; /* (n) views for scoring */
    float *rg, *rb;                 /* (n) rewards of the reference and corrupted solutions */
} diag_set;

/* The set and the epoch rows are defined in math/rm_stage.c, so that they belong to the reward-
 * model stage's code version (a stage's key hashes lib/, kernels/ and its own file only). */
/* The set for m's data seed (rm.diagnostics problems; none when 0). */
gc_status diag_init(const math_ctx *m, diag_set *d);
void diag_free(diag_set *d);
/* Appends epoch `epoch`'s row to rows (acc and loss: NAN before training); logs it as `name`. */
gc_status diag_epoch(const math_ctx *m, const char *name, gc_rm *rm, diag_set *d, int epoch,
                     double acc, double loss, cJSON *rows);

/* Adds every reward model's curve (its stage's diagnostics.json) to results under rm_training:
 * [{variant, seed, epochs: [...]}], writes <experiment>-rm-training.dat beside results.json and
 * draws it. */
gc_status math_rm_training(const math_ctx *m, cJSON *results);
/* The end of every math analysis: the training curves (unless added already), then rp_finish
 * (runner/results.h; ctx = m). Takes ownership of results. */
gc_status math_finish(const math_ctx *m, cJSON *results, rp_dat_fn dat, const char *plot_vars,
                      void (*print)(const cJSON *results, FILE *f));

#endif
