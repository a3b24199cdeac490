/* math: the math pipeline's shared parts, for its analyses (replicate/auroc.c: fig2,
 * replicate/partial.c: fig3, replicate/vote.c: table1).
 *
 * rp_run_math (math.c) reads the scale's configuration, runs the shared stages (policy, pairs,
 * evaluation solutions, one reward model per variant and seed) and hands a math_ctx to the
 * experiment's analysis ("analysis" in the experiment file), which runs its own stages and
 * writes results.json, <experiment>.dat and the plot through math_finish.
 */
#ifndef RP_MATH_H
#define RP_MATH_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "../lib/arith.h"
#include "../lib/model.h"
#include "../lib/rm.h"
#include "runner.h"

#define STAGE_VERSION 1 /* bump when a stage's code changes its output */
#define MAX_SPLITS 8
#define MAX_VARIANTS 8

typedef struct {
    int64_t seed, train_questions, eval_questions;
    const cJSON *splits;
} data_cfg;

typedef struct {
    const cJSON *model;
    int64_t steps, batch, warmup, seed;
    double lr, lr_min, clip;
} policy_cfg;

typedef struct {
    int64_t questions, samples, max_pairs, seed;
    double temperature, top_p;
    int source; /* 0 policy samples, 1 reference solution vs a corrupted copy */
} pairs_cfg;

typedef struct {
    const cJSON *variants; /* the reward models to train (math.c read_variants) */
    int64_t epochs, batch, warmup, K;
    double lr, lr_min, clip, weight_decay, lambda;
    int pairs, reduction, positions, goal_sampling, head;
} rm_cfg;

typedef struct {
    double temperature, top_p;
    int64_t samples, max_len;
    int source; /* 0 policy solutions, 1 reference and corrupted solutions (smoke tests) */
} eval_cfg;

typedef enum { MATH_AUROC, MATH_PARTIAL, MATH_VOTE } math_analysis; /* the experiment's "analysis" */

typedef struct {
    data_cfg data;
    policy_cfg policy;
    pairs_cfg pairs;
    rm_cfg rm;
    eval_cfg eval;
    gc_model_config model;
    int splits[MAX_SPLITS], n_splits;
    char variant_names[MAX_VARIANTS][32];
    int variant_con[MAX_VARIANTS]; /* 1 = goal-conditioned (lambda > 0) */
    gc_con_config variant_cfg[MAX_VARIANTS]; /* the contrastive settings each is trained with */
    const cJSON *variant_json[MAX_VARIANTS]; /* an ablation's object (its overrides), else NULL */
    int variant_head[MAX_VARIANTS];          /* gc_head_kind */
    int n_variants;
    const cJSON *partial; /* the scale's "partial" section (analysis "partial"), else NULL */
    const cJSON *vote;    /* the scale's "vote" section (analysis "vote"), else NULL */
} math_cfg;


typedef struct {
    gc_arith_problem *p;
    int n;
} problem_set;


typedef struct {
    const char *path;   /* the file being read, for messages */
    int n, cap;
    char **a, **b, **c; /* pairs: prompt, chosen, rejected; solutions: split, question, response */
    int *flag;          /* solutions: correct */
} text_table;


typedef struct {
    rp_run *r;
    math_cfg c;
    problem_set train, eval;
    rp_stage *pol, *pst, *est;          /* policy, pairs, evaluation solutions */
    rp_stage *rm[MAX_VARIANTS][64];     /* [variant][seed - 1] */
    text_table pairs, sol;              /* pairs: prompt, chosen, rejected; sol: see text_table */
    int base, goal;                     /* variant indices of "baseline" and "goal" */
} math_ctx;

/* The k-th variant in report order: baseline, goal, then the ablations in file order. */
int math_variant_order(const math_ctx *m, int k);

/* Marks a stage complete with its info document, which it frees. */
gc_status math_close_with(rp_run *r, rp_stage *st, cJSON *info);
/* Loads the policy, the reward model a rm-* stage saved, and its goal state (goal.json, D). */
gc_status math_load_policy(const math_ctx *m, gc_model *pm);
gc_status math_load_rm(const rp_stage *rmst, gc_rm *rm);
gc_status math_read_goal(const rp_stage *rmst, int D, float *goal);
/* Writes goal (D) with a sentence saying what it is to the stage's goal.json. */
gc_status math_write_goal(const rp_stage *st, const float *goal, int D, const char *what);
/* Items of the evaluation solutions whose split is one of names (a JSON array of strings, or
 * NULL for every item): idx (sol.n) gets their indices; returns how many. */
int math_select(const math_ctx *m, const cJSON *names, int *idx);
/* Checks that names (at config key `key`) is a non-empty array of names from data.splits. */
gc_status math_check_splits(const math_ctx *m, const cJSON *names, const char *key);

/* Writes <experiment>.dat for the plot from the results document. */
typedef gc_status (*math_dat_fn)(const char *path, const cJSON *results, const math_ctx *m);
/* Adds the verdict to results, writes results.json and the plot data, draws the plot with
 * plots/<experiment>.gp and prints the table (print may be NULL). Takes ownership of results. */
gc_status math_finish(math_ctx *m, cJSON *results, math_dat_fn dat,
                      void (*print)(const cJSON *results, FILE *f));

gc_status math_analyse_auroc(math_ctx *m);   /* fig2: AUROC of the final reward */
gc_status math_analyse_partial(math_ctx *m); /* fig3: AUROC on partial generations */
gc_status math_analyse_vote(math_ctx *m);    /* table1: majority voting with Q-value filtering */

#endif
