/* hh: the Helpful-Harmless pipeline (table3a, PAPER.md section 3): preference pairs from
 * hh-rlhf, reward models on a pretrained trunk (stories260K at mini scale) and the pairwise
 * accuracy of the baseline against the goal-conditioned reward model, k-fold cross-validated so
 * that every pair is scored once per seed by a model that never trained on it.
 *
 * Stages: hh-tokens (every pair split and tokenised with the left truncation of lib/tasks/hh.h)
 * -> per variant (baseline: lambda 0; goal), seed and fold: hh-rm-<variant>-seed<k>-fold<f>
 * (the pretrained trunk with a new head, trained on the other folds' pairs; the rewards of its
 * own fold's pairs) -> the analysis (accuracy per seed, exact McNemar per seed, a paired bootstrap
 * over pairs of the seed-averaged difference, the baseline's precondition and the power).
 *
 * Scale object keys (each checked; unknown keys are errors):
 *   data:  file (relative to GCRM_DATA, default ../shared/data beside the repository), pairs
 *          (the first n of the file; 0: all), folds, split_seed
 *   model: checkpoint, tokenizer (llama2.c files relative to GCRM_DATA), context (tokens of
 *          prompt + response, at most the model's seq_len)
 *   rm:    epochs, batch (pairs), lr, lr_min, warmup, clip, weight_decay, lambda, K, pairs,
 *          reduction (the contrastive settings of the goal variant, lib/rm/rm.h)
 */
#ifndef RP_HH_H
#define RP_HH_H

#include <stdint.h>
#include <stdio.h>

#include "lib/rm/rm.h"
#include "replicate/runner/stage.h"

typedef struct {
    char file[GC_CFG_STRLEN];
    int64_t pairs, folds, split_seed;
} hh_data_cfg;

typedef struct {
    char checkpoint[GC_CFG_STRLEN], tokenizer[GC_CFG_STRLEN];
    int64_t context;
} hh_model_cfg;

typedef struct {
    int64_t epochs, batch, warmup, K;
    double lr, lr_min, clip, weight_decay, lambda;
    int pairs, reduction;
} hh_rm_cfg;

/* the tokenised pairs: pair i's chosen sequence is row 2i, its rejected one row 2i + 1 */
typedef struct {
    int n, L;
    int32_t *tok; /* (2n, L) */
    int *len;     /* (2n) tokens, BOS and EOS included */
    int *plen;    /* (2n) BOS + prompt tokens: the response starts here */
} hh_tokens;

enum { HH_BASELINE, HH_GOAL, HH_VARIANTS };

typedef struct {
    rp_run *r;
    hh_data_cfg data;
    hh_model_cfg model;
    hh_rm_cfg rm;
    char data_dir[RP_PATH];
    hh_tokens tk;
    rp_stage *tk_stage; /* hh-tokens */
    cJSON *tk_info;     /* the tokens stage's info: truncation counts */
    int *fold;          /* (n) each pair's fold */
    float *reward;      /* (HH_VARIANTS, seeds, 2n) each sequence's reward from its fold's model */
} hh_ctx;

/* The rm section's fields (hh.c), read from the experiment file and hashed by the reward-model
 * stages. */
extern const gc_cfg_field hh_rm_fields[];
extern const size_t hh_rm_n_fields;

/* A data file's path: GCRM_DATA/<rel> (absolute rel as is). */
void hh_data_path(const hh_ctx *h, const char *rel, char out[RP_PATH]);

/* The stages (hh_data.c, hh_rm.c). */
gc_status hh_stage_tokens(hh_ctx *h);
/* Trains the fold-f model of a variant and seed, or reads it back; fills its fold's rewards. */
gc_status hh_stage_rm(hh_ctx *h, int variant, int seed, int f);
/* The same; f = -1: the model trained on every pair, saved as rm.ckpt and rm.head in its stage
 * (*out, may be NULL: the stage). */
gc_status hh_stage_rm_at(hh_ctx *h, int variant, int seed, int f, rp_stage **out);

/* Reads the sections data, model and rm of obj (at dotted path `at`) into h (h->r set): with
 * folds, data takes folds and split_seed (table3a); without, only file and pairs (a model trained
 * on every pair). Unknown keys are errors naming the file and key. */
gc_status hh_read_sections(hh_ctx *h, const cJSON *obj, const char *at, int folds);
/* Fails, naming the path and GCRM_DATA, unless the data file, checkpoint and tokenizer exist. */
gc_status hh_check_files(const hh_ctx *h);
void hh_tokens_free(hh_tokens *t);

/* The analysis, shared with the full scale: the results document (rp_metadata and "pairs") with
 * each variant's pairwise accuracy per seed (its CI over seeds, and over pairs of the
 * seed-averaged one), the goal - baseline difference with a paired bootstrap over pairs, exact
 * McNemar per seed; reward[v * seeds + s] holds the 2n rewards (chosen, rejected, ...) of variant
 * v (HH_BASELINE, HH_GOAL) and seed s + 1. NULL when out of memory. */
cJSON *hh_accuracy(const rp_run *r, int n, const float *const *reward);
/* The plot's data (rp_dat_fn) and the printed table. */
gc_status hh_write_dat(const char *path, const cJSON *results, const void *ctx);
void hh_print(const cJSON *results, FILE *f);

/* The pipeline: replicate run of an experiment file with "pipeline": "hh". */
gc_status hh_run(rp_run *r);

#endif
