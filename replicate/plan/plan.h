/* plan: the paper-scale ("full") section of an experiment file, and what running it takes.
 *
 * The section (one schema for every experiment file; "extends" layers merge it key by key):
 *   "models": {NAME: {"path": DIR, "shape": {dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *              vocab_size}, "prompt": TEMPLATE}}: a Hugging Face model directory
 *              (lib/model/hf.h) relative to the full-scale root; the shape, the published
 *              config.json's, is what the plan uses until the directory holds a config.json
 *              (then that file's, which wins); the prompt template the model was trained with
 *              (lib/tasks/hfseq.h; "{question}" once), used when its stages format questions,
 *              "chat": true when dialogues go through the model's chat template
 *   "data":   {NAME: {"files": [PATH or {"path", "format"}...], "format": F, "examples": N,
 *              "mean_tokens": T}}: the public files (relative to the root; "shared:REL" is a
 *              file of the project's data directory, ../shared/data or $GCRM_DATA), their
 *              loader's format (openmath, hh, helpsteer, gsm8k, math, math500, gsm-hard, svamp,
 *              asdiv, mawps, algebra222, mathqa; the set's, or each file's own), and the size
 *              the plan assumes
 *              (examples; mean tokens per example, prompt and response); HelpSteer sets may
 *              keep only the items rated at least "min_rating" (0-4) on helpfulness,
 *              correctness, coherence and complexity, and only the "first" N of those
 *   "stages": {NAME: {"kind": K, ...}}: the work, in the order written; kinds and their keys:
 *     train     model, data (or another stage), variants, per_seed, loss (preference|dpo|sft),
 *               sequences (per example: 2 for a pair), examples (a subset), epochs, batch (the
 *               global batch, in examples), micro_batch (examples per forward pass, default 1;
 *               the batch is accumulated over batch / micro_batch of them), lr, lr_min (the
 *               cosine schedule's floor, default 0), warmup_ratio, schedule (cosine|constant),
 *               beta1, beta2, weight_decay, clip, max_len, lambda, K, precision
 *               (bf16|tf32|fp32), recompute, beta (DPO's, default 0.1)
 *     score     model, data (or a generate stage), variants, per_seed, sequences, max_len,
 *               micro_batch (sequences per forward pass, default 8)
 *     generate  model, data, variants, per_seed, samples, max_new, mean_new_tokens, temperature
 *               (default 1; 0 = greedy), top_p (default 1), seed (the sampling streams', default
 *               1), micro_batch (sequences decoded together, default 16; the plan's time
 *               is for that batch, and it says how many would fit)
 *     ppo       model (the actor), scorer (the reward model, which also starts the critic),
 *               data (the prompts), variants, per_seed, rollout, train_batch, episodes, max_new,
 *               mean_new_tokens, actor_lr, critic_lr, kl_init, ptx_coef, ptx_data (the data set
 *               of the pretraining term: OpenMath solutions, the correct ones), ptx_batch
 *               (sequences per actor update, default 8), gamma
 *     beam      model (the generator), scorer (a reward model; absent: the generator's own
 *               log-probabilities alone), data (the prompts), variants,
 *               per_seed, beam, samples, step_tokens, max_steps, examples (the first N prompts),
 *               max_len (prompt + response tokens, default 2048), micro_batch (prompts decoded
 *               together, default 8), temperature, top_p, lp_weight and goal_weight (the
 *               step score's weights, lib/policy/beam.h; default 1 each)
 *   "variants" names the stage's instances (e.g. ["baseline", "goal"]); "per_seed" repeats them
 *   for each of the file's seeds (but a generate stage's "sft", table2's starting policy, which
 *   answers once).
 *   The experiment's analysis section (its "analysis" name: "partial", "vote") may sit beside
 *   them; replicate/full/full.h reads it, the plan does not.
 * A preference train stage's estimate includes its goal state: one forward pass over the chosen
 * sequences after training.
 * Every key is checked (unknown keys, types, ranges, a model or data set that is not defined),
 * naming the file, line and key, as the runner's sections are.
 *
 * Estimates (pl_estimate), per GPU of the chosen hardware, for gcrm's own layout: a model in
 * training holds fp32 weights, fp32 gradients and a bf16 copy on every rank and its two AdamW
 * moments sharded across the ranks (ZeRO stage 1); activations for one sequence of max_len
 * tokens in fp32 (times the sequences of a micro-batch), with the T x T attention probabilities
 * the kernels materialise, either for all layers or, with recompute, each layer's input plus one
 * layer; a model only read holds fp32
 * weights and the bf16 copy; generation adds an fp32 KV cache per sequence, and the batch is as
 * many sequences as fit (at most what the executor decodes at once: a generate stage's micro_batch,
 * a beam stage's micro_batch x beam x samples). 5% of each GPU is kept for the CUDA context and
 * workspaces. Time: matmul FLOPs (6 per parameter per trained token, 8 with recomputation, 2 per
 * read token; the causal attention's products besides) at the given MFU of the GPU's bf16 peak,
 * and, for decoding, each step reading the weights (bf16) and the KV cache at the memory bandwidth.
 * These are estimates from datasheet peaks, to size a run before it starts, not measurements.
 * On several GPUs pl_print adds what the executor does with them today: one stage instance per
 * GPU (replicate/full/full.h), each stage taking its one-GPU time per instance times the waves
 * of instances the GPUs run, each GPU holding one instance as one GPU would.
 */
#ifndef RP_PLAN_H
#define RP_PLAN_H

#include <stdio.h>

#include "lib/model/model.h"
#include "replicate/runner/stage.h"

typedef struct {
    char name[32];
    int count;         /* GPUs */
    double peak_flops; /* bf16 dense, per GPU */
    double bandwidth;  /* bytes/s, per GPU */
    double memory;     /* bytes, per GPU */
} pl_hardware;

/* "8xa100-80gb", "1xh200", "h100-80gb" (one): the datasheet figures of A100 80GB SXM, H100 SXM
 * and H200 SXM; GC_ERR_ARG naming the choices otherwise. */
gc_status pl_hardware_parse(const char *text, pl_hardware *out);

typedef enum { PL_TRAIN, PL_SCORE, PL_GENERATE, PL_PPO, PL_BEAM } pl_kind;

typedef struct {
    char name[64];
    char path[RP_PATH]; /* resolved under the root */
    const char *prompt; /* the prompt template (the run's configuration owns it), or NULL */
    int chat;           /* conversations go through the model's chat template */
    gc_model_config shape;
    int has_config; /* path/config.json exists and was read */
    int present;    /* config.json and weights (model.safetensors or its index) exist */
} pl_model;

/* The data formats a file can have (a loader each). */
typedef enum {
    PL_OPENMATH,
    PL_HH,
    PL_HELPSTEER,
    PL_GSM8K,
    PL_MATH,
    PL_MATH500,
    PL_GSM_HARD,
    PL_SVAMP,
    PL_ASDIV,
    PL_MAWPS,
    PL_ALGEBRA222,
    PL_MATHQA
} pl_format;
extern const char *const PL_FORMAT_NAMES[];

typedef struct {
    char path[RP_PATH]; /* resolved */
    int format;         /* pl_format */
} pl_file;

typedef struct {
    char name[64];
    int64_t examples;
    double mean_tokens;
    int min_rating; /* helpsteer: keep the items rated at least this on all four judged
                     * attributes (0: every item) */
    int64_t first;  /* the first `first` kept items (0: all) */
    int n_files, n_missing;
    char first_missing[RP_PATH];
    pl_file *files; /* (n_files) */
} pl_data;

typedef struct {
    char name[64];
    int kind;
    char model[64], data[64], scorer[64], ptx_data[64];
    int runs; /* variants x (seeds when per_seed) */
    int64_t sequences, examples, epochs, batch, micro_batch, max_len, samples, max_new, rollout,
        train_batch, episodes, beam, step_tokens, max_steps, K, seed, ptx_batch;
    double mean_new_tokens, temperature, top_p, lr, lr_min, warmup_ratio, beta1, beta2,
        weight_decay, clip, lambda, actor_lr, critic_lr, kl_init, ptx_coef, gamma, lp_weight,
        goal_weight, beta;
    int loss, schedule, precision, recompute, per_seed;
    const cJSON *variants;
} pl_stage;

typedef struct {
    pl_model *models;
    int n_models;
    pl_data *data;
    int n_data;
    pl_stage *stages;
    int n_stages;
    char root[RP_PATH];
} pl_plan;

/* Reads r's scale section (the runner has opened the file at scale "full") with paths under
 * root; checks every key. */
int pl_find_model(const pl_plan *p, const char *name); /* index, or -1 */
int pl_find_data(const pl_plan *p, const char *name);
int pl_find_stage(const pl_plan *p, const char *name); /* among all stages */
gc_status pl_read(const rp_run *r, const char *root, pl_plan *out);
void pl_free(pl_plan *p);

typedef struct {
    double params;                         /* the stage's main model */
    double tokens;                         /* processed, all runs */
    double flops;                          /* all runs */
    double weights, grads, optim, act, kv; /* bytes per GPU */
    double memory;                         /* their sum */
    int batch;                             /* generation: sequences per GPU at once */
    int fit_batch;                         /* generation: the most that fit (batch is at most
                                              that, and a generate stage's micro_batch) */
    int fits;
    double seconds; /* all runs */
} pl_estimate;

/* The estimate of stage i on hw at the given MFU (0 < mfu <= 1). */
pl_estimate pl_stage_estimate(const pl_plan *p, int i, const pl_hardware *hw, double mfu);
/* Prints the inputs (present or missing), the stages with memory and time, and the totals;
 * returns the number of missing inputs plus the stages that do not fit. */
int pl_print(FILE *f, const rp_run *r, const pl_plan *p, const pl_hardware *hw, double mfu);

#endif
