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

#include "lib/policy/ppo_trainer.h"
#include "lib/rm/vote.h"
#include "pipeline.h"
#include "replicate/runner/loop.h"

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

/* table2's pieces, shared with the full scale (replicate/full/full_table2.c): the results' plot
 * data and table (rp_finish's hooks), a PPO run's summary (the means of its first and last 3
 * iterations of the reward model's score and the rollout accuracy, its last KL, the reward-hacking
 * flag: the score rose while the accuracy fell) and the runs' training curves with their plot;
 * the sample standard deviation (0 when n < 2). */
gc_status math_table2_write_dat(const char *path, const cJSON *results, const void *ctx);
void math_table2_print(const cJSON *r, FILE *f);
void math_table2_summarise_run(const cJSON *its, cJSON *out);
gc_status math_table2_ppo_curves(const rp_run *r, const cJSON *runs);
double math_sample_sd(const double *x, int n);
/* {mean, lo, hi, p, test}: the mean of per-question differences d (n; each averaged over seeds)
 * with a percentile paired bootstrap over questions under seed (its CI and two-sided p). */
cJSON *math_paired_questions(const double *d, int n, uint64_t seed);
/* A PPO stage's checkpoint (rp_ckpt_write's save: the trainer's state and the curve so far), the
 * resumption of a killed run (*curve the saved one or a new array, *start the iterations done; a
 * curve that is not the state's is an error naming it), and one iteration's curve row. */
typedef struct {
    gc_ppo *ppo;
    const cJSON *curve;
} math_ppo_ckpt;
gc_status math_ppo_save(const char *dir, void *ctx);
gc_status math_ppo_resume(rp_stage *st, gc_ppo *ppo, int64_t iterations, cJSON **curve, int *start);
cJSON *math_ppo_row(int iteration, const gc_ppo_stats *ps, double accuracy);
/* A DPO stage's checkpoint: the policy with its optimiser (policy.ckpt) and the loop's state
 * (rp_ckpt_write's save and rp_loop_start's load). */
typedef struct {
    gc_model *pm;
    gc_adamw *opt;
    rp_loop loop;
} math_dpo_ckpt;
gc_status math_dpo_save(const char *dir, void *ctx);
gc_status math_dpo_load(const char *dir, void *ctx);

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

/* The fig3 analysis's statistics, shared with the full scale: n solutions labelled y (n), scored
 * after each of P fractions p = i / (P - 1) of their response tokens by the reward (reward) and
 * the Q-value (q) of each variant and seed ([v * seeds + seed], (n, P) item-major); variants in
 * the curves' order. math_partial_results adds the "partial" object to results and writes the
 * plot's variables (names='...') into vars. */
typedef struct {
    int n, P, seeds, n_variants;
    const char *const *names; /* (n_variants) */
    const int *y;             /* (n) */
    float *const *reward, *const *q;
    int64_t bootstrap;
    const cJSON *splits; /* recorded as given; NULL: "all" */
} math_partial_in;
void math_partial_results(const math_partial_in *in, cJSON *results, char *vars, size_t cap);
gc_status math_partial_plot_data(const char *path, const cJSON *results, const void *ctx);
void math_partial_print(const cJSON *results, FILE *f);

/* Q-value record lows of n solutions (lib/rm/vote.h), solution k's n_low[k] of them at off[k]:
 * enough to find any threshold's cut. Added in solution order (math_qlows_add). */
typedef struct {
    int n;
    int *n_low;   /* (n) */
    int64_t *off; /* (n) */
    int *low_j;   /* (used) response-token index */
    float *low_q; /* (used) Q-value */
    int64_t used, cap;
} math_qlows;
gc_status math_qlows_init(math_qlows *l, int n);
gc_status math_qlows_add(math_qlows *l, int item, const int *j, const float *q, int k);
int math_qlows_cut(const math_qlows *l, int item, float tau); /* gc_vote_cut's */
void math_qlows_free(math_qlows *l);

/* The table1 analysis's statistics, shared with the full scale: n_q questions with M samples
 * each (answers and generated tokens; the reference answer of question q is answer[q]), the
 * Q-value lows of each variant and seed under its reward model ([v * seeds + seed]), the
 * threshold, the sweep (absolute taus, then quantiles of the minimum Q-value), and per variant
 * the online run's document or NULL (online may be NULL; math_vote_results takes them and sets
 * the entries to NULL). Adds the "vote" object to results; vars gets the plot's names='...'. */
typedef struct {
    int n_q, M;
    const int64_t *answer; /* (n_q) */
    gc_vote_sample *smp;   /* (n_q * M); cut set per use */
} math_vote_set;
typedef struct {
    double tau, temperature;
    int64_t skip, bootstrap;
    const double *taus;
    int n_taus;
    const double *quantiles;
    int n_quantiles;
    const char *goal_token; /* "last" or "random" */
    const cJSON *splits;    /* recorded as given; NULL: "all" */
    int seeds, n_variants;
    const char *const *names; /* (n_variants) in the report's order */
    const math_qlows *lows;   /* (n_variants * seeds) */
    cJSON **online;           /* (n_variants) or NULL */
} math_vote_in;
/* Reads the numbers of the array a (NULL: none) at key into out (at most MATH_MAX_TAUS, each in
 * (lo, hi) when open, else [lo, hi]), appending at *n; an error naming the key otherwise. */
#define MATH_MAX_TAUS 32
gc_status math_read_points(const gc_config *cf, const cJSON *a, const char *key, double lo,
                           double hi, int open, double *out, int *n);
gc_status math_vote_results(const math_vote_in *in, const math_vote_set *v, cJSON *results,
                            char *vars, size_t cap);
gc_status math_vote_plot_data(const char *path, const cJSON *results, const void *ctx);
void math_vote_print(const cJSON *results, FILE *f);

/* Runs the math pipeline with the run's analysis (r->analysis; "" = auroc). */
gc_status math_run(rp_run *r);

#endif
