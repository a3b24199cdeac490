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
 *     writes them in Hugging Face's layout), curve.json (every step's lr, loss, accuracy).
 *   score: every item of OpenMath-style prediction files (the question through the scoring
 *     model's prompt template, the generation, its correctness label) scored by each variant and
 *     seed's reward model (instance "<stage>-<variant>-seed<k>"), rewards.json.
 *   analysis "auroc" (fig2): per file (named by its directory: data/openmath-greedy/gsm8k/...
 *     is "gsm8k") and pooled, the mini scale's AUROC statistics (math/analyses.h), the verdict by
 *     the claim's rule.
 *   table3a (pipeline "hh"): the same two stage kinds on Helpful-Harmless pairs (lib/tasks/hh.h),
 *     through the model's chat template when its "chat" key is true (lib/tasks/hfseq.h), both
 *     sides of every test pair scored; the mini scale's accuracy analysis (hh/hh.h).
 *     "recompute": activation recomputation (gc_model_set_recompute: the same bits, less
 *     memory, one more forward pass), so it is not part of the cache key.
 * Refused up front, by name: missing inputs (a model's tokenizer.json among them), other stage
 * kinds and losses, other data formats for these stages, other analyses, variants other than
 * baseline and goal, a --precision other than the train stages' on a GPU.
 * A stage's cache key covers its settings, the variant and seed, the prompt template, and each
 * input file's path, size and modification time (a changed file reruns what reads it).
 */
#ifndef RP_FULL_H
#define RP_FULL_H

#include "lib/util/base.h"
#include "replicate/plan/plan.h"
#include "replicate/runner/stage.h"

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

/* A data set's sequences for one model: pairs (train) or items (score), made on first use (a
 * cached stage needs none). */
typedef struct {
    const pl_model *model;
    const pl_data *data;
    int max_len, pairs, ready;
    full_seqs s;
} full_data;
gc_status full_data_get(full_data *fd, const full_seqs **out);

typedef struct {
    const pl_plan *p;
    int stage;             /* index in p->stages */
    int variant, seed;     /* 0 baseline, 1 goal; seed 1-based */
    const pl_model *model; /* the base model */
    full_data *data;       /* pairs (train) or items (score) */
    const rp_stage *rm;    /* score: the train stage instance it reads */
    float *rewards;        /* score: (items) */
} full_job;

extern const rp_stage_def FULL_TRAIN, FULL_SCORE;

/* The canonical configuration of one instance (the stage's settings, variant, seed, model and
 * data fingerprints). */
cJSON *full_stage_config(const full_job *j);

#endif
