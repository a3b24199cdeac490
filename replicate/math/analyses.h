/* analyses: the math pipeline's analyses, one per experiment kind, and the pipeline's driver.
 *
 * An experiment file names its analysis ("analysis": auroc (default), partial, vote, pilot,
 * table2, steer); the driver runs the shared stages (math/pipeline.h), then the analysis, which
 * runs its own stages and writes the results (runner/results.h). An analysis with a scale section
 * of its own reads it; the section is required for that analysis and an error for any other. To add
 * one: write its file beside these, declare its function here and add a row to the table in
 * analyses.c.
 */
#ifndef RP_MATH_ANALYSES_H
#define RP_MATH_ANALYSES_H

#include "pipeline.h"

typedef struct {
    const char *name;    /* the experiment file's "analysis" */
    const char *section; /* its scale section ("partial"), or NULL */
    /* section: that object (NULL when the analysis has none), at dotted path `path` */
    gc_status (*run)(math_ctx *m, const cJSON *section, const char *path);
} math_analysis;

gc_status math_analyse_auroc(math_ctx *m, const cJSON *section, const char *path);   /* fig2 */
gc_status math_analyse_partial(math_ctx *m, const cJSON *section, const char *path); /* fig3 */
gc_status math_analyse_vote(math_ctx *m, const cJSON *section, const char *path);    /* table1 */
gc_status math_analyse_pilot(math_ctx *m, const cJSON *section, const char *path);   /* pilots */
gc_status math_analyse_table2(math_ctx *m, const cJSON *section, const char *path);  /* table2 */
gc_status math_analyse_steer(math_ctx *m, const cJSON *section, const char *path);   /* table3b */

/* Rewards (sol.n) of every evaluation solution by the reward model of stage rmst (stage
 * score-<variant>-seed<k>), or with rmst NULL the policy's mean token log-probability (stage
 * logprob-policy). */
gc_status math_score_solutions(math_ctx *m, const rp_stage *rmst, float *rewards);

/* The fig2 analysis's pieces, shared with the full scale (replicate/full/full.h). */
typedef struct {
    const char *const *names; /* (n) the variants' names */
    int n, base, goal;        /* base, goal: indices of "baseline" and "goal" */
    int seeds;
} math_auroc_vars;
/* One group of items (a split, or all of them): AUROC per seed and variant of scores[v][seed][i]
 * for the items idx (n) labelled by correct[i], their summaries over seeds, the goal - baseline
 * difference, DeLong's test on seed-averaged standardised scores, seeds with a positive
 * difference; with ref (may be NULL) the AUROC of that reference score (the policy's
 * log-probability). An object for the results document's "splits". */
cJSON *math_auroc_group(const char *name, const int *correct, const int *idx, int n,
                        float *const *const *scores, const float *ref, const math_auroc_vars *vs);
/* The plot's data file (rp_dat_fn; ctx a math_auroc_vars) and the printed table. */
gc_status math_auroc_plot_data(const char *path, const cJSON *results, const void *ctx);
void math_auroc_print(const cJSON *results, FILE *f);

/* Runs the math pipeline with the run's analysis (r->analysis; "" = auroc). */
gc_status math_run(rp_run *r);

#endif
