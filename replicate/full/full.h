/* full: the paper-scale ("full") executor. `replicate run EXPERIMENT --scale full` reads the
 * scale's models, data and stages (replicate/plan/plan.h), checks before any work that every input
 * is present and every stage is one this executor runs (one error listing everything that is not),
 * then runs the stages in the order written, each cached like the other scales' (runner/stage.h),
 * and the experiment's analysis, with the claim's verdict (runner/results.h).
 *
 * What runs today, on the CPU or on a GPU (--device cuda, --precision as the stages ask):
 *   train, loss "preference": one reward model per variant and seed (instance
 *     "<stage>-<variant>-seed<k>"), its trunk the model directory's weights (Hugging Face layout),
 *     a linear head drawn from the seed, trained on preference pairs built from OpenMath-style
 *     solution files (lib/tasks/openmath.h: per question, correct against incorrect), each pair
 *     two sequences of the model's prompt template + solution + EOS (lib/tasks/hfseq.h). Variant
 *     "baseline" has lambda 0, "goal" the stage's lambda and K (contrastive pairs "all",
 *     reduction "log_of_mean": the authors' code, lib/rm/rm.h). The global batch of `batch`
 *     pairs is accumulated over micro-batches of `micro_batch` pairs (gc_rm_grad_acc); AdamW with
 *     the stage's betas, weight decay and clip; cosine schedule from lr to lr_min after
 *     ceil(warmup_ratio x steps) warm-up steps (or constant). Checkpoints as the mini stages' (a
 *     killed run resumes bitwise). Outputs: rm.ckpt and rm.head (`replicate export --rm-stage`
 *     writes them in Hugging Face's layout), goal.json (the goal state: the mean final hidden
 *     state at the last token of the chosen sequences it trained on), goal_random.json (the
 *     ablation's: at one uniformly drawn response token of each), curve.json (every step's lr,
 *     loss, accuracy). Variants: FULL_VARIANTS (below).
 *   generate (full_generate.c): `samples` solutions per question of math benchmark files
 *     (gsm8k, math, ...), sampled from a model of "models" at the stage's temperature, top_p and
 *     seed (solution k's tokens from its own stream), at most max_new tokens each, decoded
 *     micro_batch at a time; each graded against its question's reference answer
 *     (lib/tasks/mathans.h). One instance, named as the stage. Outputs: samples.bin (tokens,
 *     answer classes) and samples.jsonl (an OpenMath-style prediction file of the solutions).
 *   score: every item of OpenMath-style prediction files (the question through the scoring
 *     model's prompt template, the generation, its correctness label), or every solution of a
 *     generate stage (its tokens as sampled, the reward models' tokenizer being the sampling
 *     model's), scored by each variant and seed's reward model (instance
 *     "<stage>-<variant>-seed<k>"), rewards.json; for a generate stage's solutions also
 *     qscores.bin (full_qscores: the reward and Q-value at P fractions of each response and the
 *     Q-values' record lows from `skip` on, P and skip from the analysis's section).
 *   analysis "auroc" (fig2): per file (named by its directory: data/openmath-greedy/gsm8k/...
 *     is "gsm8k") and pooled, the mini scale's AUROC statistics (math/analyses.h), the verdict by
 *     the claim's rule.
 *   analysis "partial" (fig3): the sampled solutions' prefix scores, the mini scale's curves
 *     (math_partial_results); section "partial": points, bootstrap, splits (the groups: the
 *     files' directories).
 *   analysis "vote" (table1): majority voting over each question's solutions with and without
 *     Q-value filtering (math_vote_results; answers in one class when gc_ma_equal says so, the
 *     reference's class right); section "vote": tau, skip, taus, tau_quantiles, bootstrap, goal
 *     ("last", or "random": the goal state of one random response token per chosen training
 *     sequence, goal_random.json of the train stage), online_questions (stage online-<variant>,
 *     full_online.c: the first questions sampled again with the seed-1 reward model watching);
 *     any of the score stage's variants, baseline and goal not required.
 *   table3a (pipeline "hh"): the same two stage kinds on Helpful-Harmless pairs (lib/tasks/hh.h),
 *     through the model's chat template when its "chat" key is true (lib/tasks/hfseq.h), both
 *     sides of every test pair scored; the mini scale's accuracy analysis (hh/hh.h).
 *     "recompute": activation recomputation (gc_model_set_recompute: the same bits, less
 *     memory, one more forward pass), so it is not part of the cache key.
 *   table2 (analysis "table2", full_table2.c): fig2's reward models and score stage; train loss
 *     "dpo": the policy trained with DPO on the preference pairs (the starting policy's
 *     log-probabilities the reference, gc_dpo_grad_acc over micro-batches), its stage directory a
 *     Hugging Face model; ppo: the policy trained with PPO against each variant's reward model
 *     (lib/policy/ppo_trainer.h; prompts from math benchmark files, the pretraining term on
 *     ptx_data's correct solutions); a generate stage whose variants are the policies (sft, the
 *     DPO stage, <ppo stage>-<variant>): each answers every question greedily; the mini scale's
 *     table2 statistics with the benchmark-size-weighted average.
 *   table3b (analysis "steer", full_steer.c): a goal-conditioned Helpful-Harmless reward model per
 *     seed (train, one variant); score on HelpSteer items (the kept ones, plan.h's min_rating and
 *     first): the prototype, the mean of the reward model's state pooled over each response
 *     (prototype.json); train loss "sft": the generator fine-tuned on the same items
 *     (gc_sft_train), its stage directory a Hugging Face model; two beam stages over the distinct
 *     HelpSteer prompts (lib/policy/beam.h), one guided by a reward model and its prototype, one
 *     (the baseline) by its generator's log-probability alone, decoding the same prompts alike;
 *     the analysis judges each prompt's two responses pairwise per attribute with the LLM judge
 *     of the environment (lib/judge/judge.h; stage judge-seed<k>, checkpointed per prompt, the
 *     side each arm is shown on a coin per comparison) and reports the mini scale's net win
 *     rates (steer_net_win).
 * Refused up front, by name: missing inputs (a model's tokenizer.json among them; for table3b the
 * judge's URL and model), other stage
 * kinds and losses, other data formats for these stages, other analyses, variants other than
 * FULL_VARIANTS (baseline and goal only for Helpful-Harmless), an analysis other than vote
 * without both baseline and goal, a generate stage with variants, a score stage of sampled
 * solutions whose reward models have another tokenizer, a partial or vote analysis whose score
 * stage does not read sampled solutions, a --precision other than the train stages' on a GPU. A
 * stage's cache key covers its settings, the variant and seed, the prompt template, and each input
 * file's path, size and modification time (a changed file reruns what reads it).
 */
#ifndef RP_FULL_H
#define RP_FULL_H

#include "lib/util/base.h"
#include "lib/tasks/helpsteer.h"
#include "lib/tasks/hfseq.h"
#include "lib/tasks/mathbench.h"
#include "lib/tasks/mathpipe.h"
#include "replicate/math/analyses.h"
#include "replicate/plan/plan.h"
#include "replicate/runner/stage.h"

/* The reward-model variants the full scale trains, by name (a stage's "variants"): "baseline"
 * (lambda 0), "goal" (the stage's lambda and K, contrastive pairs "all", reduction
 * "log_of_mean", uniform positions, K random goals, a linear head: the authors' code), and the
 * paper's ablations of the goal variant, each changing one setting as the mini scale's
 * experiments/ablations.json does: "ordered" (pairs ordered), "late" (positions late),
 * "single-goal" and "averaged-goal" (goal sampling), "mlp-head" (the MLP head). */
typedef struct {
    const char *name;
    int contrastive;                           /* 0: lambda 0 */
    int pairs, positions, goal_sampling, head; /* gc_pairs_mode, ..., gc_head_kind */
} full_variant;
enum { FULL_N_VARIANTS = 7 };
extern const full_variant FULL_VARIANTS[FULL_N_VARIANTS];
int full_variant_of(const char *name); /* its index, -1 for any other */

/* Runs r (opened at scale "full") with its inputs under root. */
gc_status full_run(rp_run *r, const char *root);

/* What keeps r's plan p from running, a "\n  - " line each into msg (cap bytes); returns how many.
 * FULL_MISSING: inputs that are not there; FULL_UNBUILT: what the executor does not run. */
enum { FULL_MISSING = 1, FULL_UNBUILT = 2 };
int full_problems(const rp_run *r, const pl_plan *p, int which, char *msg, size_t cap);

/* ---- the stages (full_stages.c) ---- */

/* Tokenized preference pairs or scored items, made once per run from a data set's files. */
typedef struct {
    int n, n_seq;  /* examples; sequences (2n for pairs, n for items) */
    int32_t **seq; /* (n_seq) tokens: pairs store chosen at 2i, rejected at 2i + 1 */
    int *len, *plen;
    int truncated; /* sequences cut to max_len */
    int *correct;  /* items: (n) labels */
    int *group;    /* items: (n) index of the file (the group) */
    int n_groups;
    char (*group_name)[64]; /* (n_groups) */
} full_seqs;
void full_seqs_free(full_seqs *s);
/* The group of a data file: its directory's name (data/openmath-greedy/gsm8k/x.jsonl: gsm8k). */
void full_group_name(const char *path, char out[64]);

/* Solutions sampled by a generate stage: M per question, as token ids of the sampling model. */
typedef struct {
    int n_q, M;
    int *plen;       /* (n_q) prompt tokens, the tokenizer's special tokens (BOS) included */
    int32_t *prompt; /* the prompts' tokens, concatenated: question q's at poff[q] */
    int64_t *poff;   /* (n_q) */
    int *glen;       /* (n_q * M) generated tokens, a final EOS included when one was sampled */
    int32_t *gen;    /* the generated tokens, concatenated: solution k's at goff[k] */
    int64_t *goff;   /* (n_q * M); solution k = q * M + i is question q's i-th */
    int *cls;        /* (n_q * M) final answer's class among the question's answers: -1 none
                      * found, 0 equivalent to the reference (correct), 1, 2, ... the others in
                      * order of first appearance (lib/tasks/mathans.h's equivalence) */
    int *qgroup;     /* (n_q) the file each question comes from */
    int n_groups;
    char (*group_name)[64]; /* (n_groups) */
} full_samples;
void full_samples_free(full_samples *s);

/* A data set's sequences for one model: pairs (train) or items (score), made on first use (a
 * cached stage needs none). With samples (a generate stage's output) the items are its
 * solutions: prompt + generated tokens, an EOS appended unless the last one is the EOS. */
typedef struct {
    const pl_model *model;
    const pl_data *data;
    int max_len, pairs, ready;
    full_seqs s;
    const full_samples *samples;
    int32_t eos; /* samples: the model's EOS */
} full_data;
gc_status full_data_get(full_data *fd, const full_seqs **out);

/* Per-token scores of sampled solutions under one reward model (a score stage whose data is a
 * generate stage's): at P fractions p = i / (P - 1) of each response (k = max(1, round(p * n))
 * of its n response tokens, EOS counted, scored at the k-th) the reward and the Q-value
 * cos(h, g) with the reward model's goal state g (item-major, (n, P)); and the record lows of
 * the Q-values over every generated token but a final EOS, from `skip` on (lib/rm/vote.h). */
typedef struct {
    int P, skip;
    int goal; /* the goal state: 0 the last token's (goal.json), 1 a random response token's */
    float *reward, *q; /* (items, P) */
    math_qlows lows;
} full_qscores;

typedef struct {
    const pl_plan *p;
    int stage;                /* index in p->stages */
    int variant, seed;        /* 0 baseline, 1 goal; seed 1-based */
    const pl_model *model;    /* the base model */
    full_data *data;          /* pairs (train) or items (score) */
    const rp_stage *rm;       /* score: the train stage instance it reads */
    float *rewards;           /* score: (items) */
    full_qscores *qs;         /* score of samples: the per-token scores, else NULL */
    full_samples *samples;    /* generate: its output */
    const pl_data *questions; /* generate: the questions' data set */
    const char *policy;       /* generate: the policy's name (a variant of table2's evaluation) */
    const char *weights;      /* generate: a directory of the policy's weights (Hugging Face
                               * layout; the tokenizer is the model's), or NULL: the model's */
} full_job;

extern const rp_stage_def FULL_TRAIN, FULL_SCORE, FULL_GENERATE;

/* table1's online run (full_online.c): the first `questions` questions of a generate stage's
 * solutions sampled plainly and with the reward model rm watching (its goal state `goal`, 0 the
 * last token's, 1 a random token's; cut at Q < tau from response token skip on). doc: the
 * loaded online.json (the caller deletes it). */
typedef struct {
    const pl_stage *gen;         /* the generate stage's settings */
    const full_samples *samples; /* its prompts */
    const pl_model *policy;
    const rp_stage *rm;
    int goal, skip, questions;
    double tau;
    cJSON *doc;
} full_online_job;
extern const rp_stage_def FULL_ONLINE;

/* Solutions as sampled: glen (total) and the concatenated tokens; with a filter, cut (total)
 * each solution's cut (-1 none). done and n_gen count what is there (a resumed run's). */
typedef struct {
    int *glen;    /* (total), caller-owned */
    int32_t *gen; /* malloc'd, grown */
    int *cut;     /* (total), caller-owned, or NULL */
    int done;
    int64_t n_gen, cap;
} full_sampled;
/* Samples solutions [p->done, total) of s's questions (solution k = q * s->M + i, its own stream
 * under ps's seed; ps's temperature, top_p, max_new and micro_batch) from model m, which stops at
 * eos; ids from vocab_tok on are never drawn. With filter (may be NULL) the reward model watches
 * and stops each solution at its cut (lib/tasks/mathpipe.h's gc_qwatch). With st (may be NULL)
 * it resumes from the stage's checkpoint and writes checkpoints after whole batches. */
gc_status full_sample(gc_model *m, const pl_stage *ps, const full_samples *s, int total,
                      int32_t eos, int vocab_tok, const gc_qfilter *filter, rp_stage *st,
                      full_sampled *p);
/* Sequences which[0, n) of d packed as rows of tok (n, T), T the longest; len (n) and plen (n,
 * may be NULL) their lengths. Returns T. Padding repeats a row's last token; nothing reads it. */
int full_pack(const full_seqs *d, const int *which, int n, int32_t *tok, int *len, int *plen);
/* A train stage's learning rate at step (0-based) of steps: cosine from lr to lr_min after warmup
 * linear steps, or constant after them (its "schedule"). */
float full_lr(const pl_stage *ps, int step, int steps, int warmup);
/* [{path, size, mtime, format}] of d's files (NULL: []), for a stage's key. */
cJSON *full_data_fingerprint(const pl_data *d);
/* Whether models a and b (names of "models") share one tokenizer: the same model, or identical
 * tokenizer.json files (models not yet present: assumed, their absence is reported apart). */
int full_same_tokenizer(const pl_plan *p, const char *a, const char *b);
/* The training examples of a stage with an "examples" subset: indices 0 .. n_all - 1 in a seeded
 * shuffle shared by every variant, seed and stage (the first n are the subset; n >= n_all: all,
 * in order). malloc'd; NULL when out of memory. */
int *full_subset(int n_all, int n);
/* A trained policy (SFT, DPO, PPO) as its stage's directory: m in Hugging Face's layout (fp32)
 * with the base model's tokenizer.json and tokenizer_config.json (when present), a whole model
 * Hugging Face tooling and the generate stage load. */
gc_status full_save_policy(const rp_stage *st, gc_model *m, const pl_model *base);
/* The kept items of a HelpSteer data set: every file's items in order (all owns them), those rated
 * at least d->min_rating on helpfulness, correctness, coherence and complexity, the first
 * d->first of them (0: all): *kept (malloc'd) their n indices; none kept is an error naming the
 * data set. */
gc_status full_helpsteer(const pl_data *d, gc_helpsteer_set *all, int **kept, int *n);
/* [{"role": "user", "content": text}] (the caller deletes it) */
cJSON *full_user_message(const char *text);
/* The questions of math benchmark files (lib/tasks/mathbench.h): every file of a data set in
 * order. */
typedef struct {
    int n;
    char **question, **answer; /* (n) borrowed from sets */
    gc_mb_set *sets;           /* (files) */
    int n_sets;
} full_questions;
/* Loads d's files into q; out gets n_q, qgroup and the group names (each file's directory). */
gc_status full_load_questions(const pl_data *d, full_questions *q, full_samples *out);
void full_questions_free(full_questions *q);
/* s->plen, prompt and poff: each question through pm's prompt template, encoded with the
 * tokenizer's special tokens. */
gc_status full_encode_prompts(const gc_hfseq *c, const pl_model *pm, const full_questions *qs,
                              full_samples *s);
/* Goal state k (0 the last token's, 1 a random response token's) of a train instance. */
gc_status full_read_goal(const rp_stage *st, int k, int D, float *goal);

/* ---- stage outputs too large for JSON (arrays.c) ---- */

/* Typed arrays in one binary file: "GCRMARR1", then per array its type ('i' int32, 'f' float32),
 * its length (int64) and its elements, little-endian; a CRC-32 trailer. Written through a
 * temporary file and a rename; read back whole, each array's type checked and its data
 * malloc'd, a damaged or short file an error naming it. */
typedef struct {
    char type;
    int64_t n;
    void *data;
} full_array;
gc_status full_arrays_write(const char *path, const full_array *a, int n);
gc_status full_arrays_read(const char *path, full_array *a, int n);

/* The canonical configuration of one instance (the stage's settings, variant, seed, model and
 * data fingerprints). */
cJSON *full_stage_config(const full_job *j);

/* ---- the driver's state and the analyses (full.c, full_analyses.c) ---- */

/* One stage's runs: its instances, the data it reads, a generate stage's solutions. */
typedef struct {
    rp_stage **inst; /* (FULL_N_VARIANTS * seeds) instance of variant v, seed k at
                      * v * seeds + k - 1; a generate stage's one at 0 */
    full_data data;
    full_samples samples; /* generate: its solutions */
    full_samples *policy; /* table2's evaluation: (variants * seeds) each policy's solutions, the
                           * variant's i-th at i * seeds + k - 1 (sft: at k = 1 only) */
    int n_policy;
} full_stage_runs;

/* the analysis's settings at full scale (its section of the scale, with the mini scale's keys
 * that apply) */
typedef struct {
    int64_t points, bootstrap, skip, online_questions;
    double tau;
    int goal; /* vote: 0 the last token's goal state, 1 a random response token's */
    const cJSON *splits, *taus, *quantiles;
    double tau_list[MATH_MAX_TAUS], q_list[MATH_MAX_TAUS];
    int n_taus, n_q;
} full_analysis;
/* Reads the analysis's section of r's scale (defaults: 11 points, 1000 resamples, tau 0, skip 5,
 * the last token's goal state, no online run); errors name the file and key. */
gc_status full_read_analysis(const rp_run *r, full_analysis *a);

/* The variants of a stage in FULL_VARIANTS's order (the report's): their indices and names
 * (FULL_N_VARIANTS each); returns how many. */
int full_stage_variants(const pl_stage *st, int *idx, const char **names);

/* The run's analysis over every stage's runs (all: p->n_stages), the score stage's rewards
 * ([v * seeds + k]) and per-token scores; writes the results and the verdict. */
gc_status full_analyse(rp_run *r, const pl_plan *p, full_stage_runs *all, float **rewards,
                       const full_qscores *qs, const full_analysis *fa);

/* ---- table3b: the steer analysis (full_steer.c) ---- */

enum { FULL_JUDGED = 4 }; /* helpfulness, correctness, coherence, complexity */

typedef struct {
    const pl_plan *p;
    int stage, seed;
    const pl_model *model;      /* the base model: trained (sft), or the generator's */
    full_data *data;            /* prototype, sft: the kept HelpSteer items */
    const rp_stage *rm, *proto; /* prototype: rm; beam: the scorer and its prototype, or NULL */
    const rp_stage *gen;        /* beam: the sft instance whose model generates, or NULL */
} full_steer_job;

/* What keeps the steer analysis of plan p from running, appended to msg as full_problems does
 * (the judge's configuration among the missing inputs); returns how many. */
int full_steer_problems(const rp_run *r, const pl_plan *p, int which, char *msg, size_t cap);
/* Runs stage i of a steer analysis (a preference train stage runs as the other analyses'):
 * instances "<stage>-<variant>-seed<k>" (prototype) or "<stage>-seed<k>" at all[i].inst[v * seeds
 * + k - 1] (v: the reward model's variant, else 0). */
gc_status full_steer_stage(rp_run *r, const pl_plan *p, int i, full_stage_runs *all);
/* Checks the scale's "steer" section: the judge's votes (5), temperature (0) and concurrency (8
 * requests at once; not part of any key); errors name the file and key. */
gc_status full_steer_check(const rp_run *r);
/* The judge stages (judge-seed<k>) over both beam stages' responses and the results. */
gc_status full_steer_analyse(rp_run *r, const pl_plan *p, const full_stage_runs *all);

/* ---- table2 (full_table2.c) ---- */

/* Whether stage st of r is one table2's executor runs: DPO (train, loss dpo), PPO, and the
 * evaluation (a generate stage whose variants are the policies: "sft", a DPO stage's name,
 * "<ppo stage>-<variant>"). */
int full_table2_owns(const rp_run *r, const pl_stage *st);
/* What keeps those stages from running, appended to msg; returns how many. */
int full_table2_problems(const rp_run *r, const pl_plan *p, char *msg, size_t cap);
/* Runs stage i (one of those): instances "<stage>-seed<k>" (DPO, at k - 1),
 * "<stage>-<variant>-seed<k>" (PPO, at v * seeds + k - 1), "<stage>-sft" and
 * "<stage>-<policy>-seed<k>" (the evaluation, its solutions in all[i].policy). */
gc_status full_table2_stage(rp_run *r, const pl_plan *p, int i, full_stage_runs *all);
/* The table2 results from the evaluation's solutions, the training curves, and the reward models'
 * AUROC over the score stage's items (rewards [v * seeds + k - 1]). */
gc_status full_table2_analyse(rp_run *r, const pl_plan *p, const full_stage_runs *all,
                              float **rewards, const full_seqs *items, const pl_stage *score);

#endif
