/* math pipeline: the stages every math experiment shares (fig2, fig3, table1, the ablations).
 *
 * arith problems -> SFT policy (stage "policy") -> preference pairs (stage "pairs") and
 * evaluation solutions (stage "eval-solutions") -> one reward model per variant and seed (stages
 * "rm-<variant>-seed<k>"); then the experiment's analysis (math/analyses.h), which runs its own
 * stages on a math_ctx and writes the results through rp_finish (runner/results.h).
 *
 * Scale object keys (each section is checked by its schema; unknown keys are errors):
 *   data:   seed, train_questions, eval_questions, splits
 *   policy: model {...}, steps, batch, lr, lr_min, warmup, clip, seed
 *   pairs:  source, questions, samples, temperature, top_p, max_pairs_per_question, seed
 *   rm:     variants, epochs, batch, lr, lr_min, warmup, clip, weight_decay, lambda, K, pairs,
 *           reduction, positions, goal_sampling, head
 *   eval:   source, temperature, top_p, samples, max_len
 *   and the analysis's own section, if it has one (partial, vote).
 */
#ifndef RP_MATH_PIPELINE_H
#define RP_MATH_PIPELINE_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "lib/tasks/task.h"
#include "lib/model/model.h"
#include "lib/rm/rm.h"
#include "replicate/runner/stage.h"

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
    int64_t reference_questions; /* reference-vs-corrupted pairs added from the training questions
                                    after `questions` (policy source) */
    double temperature, top_p;
    int source; /* 0 policy samples, 1 reference solution vs a corrupted copy */
} pairs_cfg;

typedef struct {
    const cJSON *variants; /* the reward models to train (see math_variant) */
    int64_t epochs, batch, warmup, K;
    int64_t diagnostics;  /* problems in the held-out synthetic-corruption set (0: none) */
    int64_t extra_layers; /* new transformer blocks on the policy's trunk (gc_model_grow) */
    double lr, lr_min, clip, weight_decay, lambda;
    double trunk_lr_scale; /* the trunk's learning rate relative to the head's (0: frozen) */
    int pairs, reduction, positions, goal_sampling, head;
} rm_cfg;

typedef struct {
    double temperature, top_p;
    int64_t samples, max_len;
    int source; /* 0 policy solutions, 1 reference and corrupted solutions (smoke tests) */
} eval_cfg;

/* One reward model to train: "baseline" (lambda 0), "goal" (the rm section's contrastive
 * settings), or an ablation ({"name": ..., overrides of K, lambda, pairs, reduction, positions,
 * goal_sampling, head}; goal-conditioned). */
typedef struct {
    char name[32];
    int goal_conditioned; /* lambda > 0 */
    gc_con_config con;    /* the contrastive settings it trains with */
    int head;             /* gc_head_kind */
} math_variant;

typedef struct {
    data_cfg data;
    policy_cfg policy;
    pairs_cfg pairs;
    rm_cfg rm;
    eval_cfg eval;
    gc_model_config model;
    int splits[MAX_SPLITS], n_splits;
    math_variant variant[MAX_VARIANTS];
    int n_variants;
    int base, goal; /* indices of "baseline" and "goal" */
} math_cfg;

typedef struct {
    gc_problem *p;
    int n;
} problem_set;

/* The preference pairs (stage "pairs"), as read back from pairs.jsonl. */
typedef struct {
    char path[RP_PATH]; /* the file, for messages */
    int n, cap;
    char **prompt, **chosen, **rejected; /* (n) */
} math_pairs;

/* The evaluation solutions (stage "eval-solutions"), as read back from solutions.jsonl. */
typedef struct {
    char path[RP_PATH]; /* the file, for messages */
    int n, cap;
    char **split, **question, **response; /* (n) */
    int *correct;                         /* (n) */
} math_solutions;

typedef struct {
    rp_run *r;
    math_cfg c;
    problem_set train, eval;
    rp_stage *pol, *pst, *est; /* policy, pairs, evaluation solutions */
    rp_stage **rm; /* (n_variants * seeds): variant v, seed k at rm[v * seeds + k - 1] */
    math_pairs pairs;
    math_solutions sol;
} math_ctx;

/* The reward-model stage (math/rm_stage.c) and the job it runs: variant v, seed k. */
typedef struct {
    math_ctx *m;
    int variant, seed;
} math_rm_job;
extern const rp_stage_def MATH_REWARD_MODEL;

/* The reward-model stage of variant v and seed k (1-based). */
static inline rp_stage *math_rm_stage(const math_ctx *m, int v, int seed) {
    return m->rm[v * m->r->seeds + seed - 1];
}

/* The scale section `name` of the experiment file (NULL when absent) and its dotted path. */
const cJSON *math_section(const math_ctx *m, const char *name, char path[128]);

/* Reads and checks the shared scale sections of m->r's experiment (data, policy, pairs, rm,
 * eval) into m->c without running anything: errors name the file and key (the fuzz harness
 * fuzz/config.c drives it). */
gc_status math_check_config(math_ctx *m);
/* Runs the shared stages of the math pipeline and reads their outputs into m (m->r set). */
gc_status math_prepare(math_ctx *m);
/* Frees what math_prepare read. */
void math_ctx_free(math_ctx *m);

/* The k-th variant in report order: baseline, goal, then the ablations in file order. */
int math_variant_order(const math_ctx *m, int k);

/* Loads the policy, the reward model a rm-* stage saved, and its goal state (goal.json, D). */
gc_status math_load_policy(const math_ctx *m, gc_model *pm);
gc_status math_load_rm(const rp_stage *rmst, gc_rm *rm);
gc_status math_read_goal(const rp_stage *st, int D, float *goal);
/* Writes goal (D) with a sentence saying what it is to the stage's goal.json. */
gc_status math_write_goal(const rp_stage *st, const float *goal, int D, const char *what);
/* The same two with another file of the stage ({"goal": [D numbers], "what": ...}). */
gc_status math_read_goal_file(const rp_stage *st, const char *file, int D, float *goal);
gc_status math_write_goal_file(const rp_stage *st, const char *file, const float *goal, int D,
                               const char *what);
/* Items of the evaluation solutions whose split is one of names (a JSON array of strings, or
 * NULL for every item): idx (sol.n) gets their indices; returns how many. */
int math_select(const math_ctx *m, const cJSON *names, int *idx);
/* Checks that names (at config key `key`) is a non-empty array of names from data.splits. */
gc_status math_check_splits(const math_ctx *m, const cJSON *names, const char *key);

#endif
