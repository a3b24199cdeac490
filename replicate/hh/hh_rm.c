/* The hh pipeline's reward-model stage, hh-rm-<variant>-seed<k>-fold<f> (hh.h): the pretrained
 * trunk with a new linear head (seeded by k), trained on the pairs of every other fold with the
 * variant's loss (baseline: preference loss; goal: plus lambda times the contrastive loss), then
 * the rewards of its own fold's pairs, in rewards.json {pair, chosen, rejected}; or, as
 * hh-rm-<variant>-seed<k>-all, trained on every pair with the model itself as the output (rm.ckpt,
 * rm.head: gc_rm_save), for guided decoding (table3b). Checkpoints as the math reward models'
 * (runner/loop.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/ckpt.h"
#include "lib/model/train.h"
#include "lib/tasks/mathpipe.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/runner/ckpt.h"
#include "replicate/runner/loop.h"
#include "hh.h"

typedef struct {
    hh_ctx *h;
    int variant, seed, fold;
} rm_job;

/* the pairs of fold f (in) or of every other fold (!in), in pair order; returns their count.
 * f < 0: every pair (!in), none (in) */
static int fold_items(const hh_ctx *h, int f, int in, int *items) {
    int n = 0;
    for (int i = 0; i < h->tk.n; i++)
        if ((f >= 0 && h->fold[i] == f) == in) items[n++] = i;
    return n;
}

/* rows (of tk) into tok (nb, *T) at stride *T = the longest, with their lengths */
static void pack_rows(const hh_tokens *tk, const int *rows, int nb, int32_t *tok, int *plen,
                      int *len, int *T) {
    *T = 0;
    for (int b = 0; b < nb; b++)
        if (tk->len[rows[b]] > *T) *T = tk->len[rows[b]];
    for (int b = 0; b < nb; b++) {
        const int32_t *src = tk->tok + (size_t)rows[b] * tk->L;
        memcpy(tok + (size_t)b * *T, src, sizeof(int32_t) * *T);
        plen[b] = tk->plen[rows[b]], len[b] = tk->len[rows[b]];
    }
}

enum { EP_ACC, EP_LOSS, N_SUMS };

/* trains rm on the pairs items (n) as the stage's loop; the curve's rows go into curve */
static gc_status train(rp_stage *st, const rm_job *job, gc_rm *rm, const int *items, int n,
                       cJSON **curve) {
    const hh_ctx *h = job->h;
    const hh_rm_cfg *c = &h->rm;
    int P = (int)c->batch, L = h->tk.L, per_epoch = (n + P - 1) / P;
    int steps = per_epoch * (int)c->epochs;
    gc_con_config con = {.lambda = 0, .K = (int)c->K};
    if (job->variant == HH_GOAL)
        con = (gc_con_config){(float)c->lambda,        (int)c->K,
                              (gc_pairs_mode)c->pairs, (gc_con_reduction)c->reduction,
                              GC_POS_UNIFORM,          GC_GOAL_RANDOM};
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)2 * P * L);
    int *plen = gc_malloc(sizeof(int) * 2 * P), *len = gc_malloc(sizeof(int) * 2 * P);
    int *rows = gc_malloc(sizeof(int) * 2 * P), *order = gc_malloc(sizeof(int) * (n ? n : 1));
    int *perm = gc_malloc(sizeof(int) * (per_epoch ? per_epoch : 1));
    int *lens = gc_malloc(sizeof(int) * (n ? n : 1));
    gc_status s = tok && plen && len && rows && order && perm && lens ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < n; i++) {
        int a = h->tk.len[2 * items[i]], b = h->tk.len[2 * items[i] + 1];
        lens[i] = a > b ? a : b;
    }
    gc_rng rng;
    gc_rng_init(&rng, (uint64_t)job->seed,
                gc_rng_stream(GC_STREAM_RM_TRAIN, (uint64_t)(job->variant * 4096 + job->fold)));
    double sum[N_SUMS] = {0};
    rp_rm_loop k = {rm, {&rng, order, n, perm, per_epoch, sum, N_SUMS, curve}};
    int start = 0;
    if (s == GC_OK) s = rp_loop_start(st, rp_rm_loop_load, &k, &start);
    gc_progress prog;
    gc_progress_init(&prog, st->name, steps);
    for (int step = start; s == GC_OK && step < steps; step++) {
        int first, nb, T = 0;
        int ep_end = rp_loop_batch(&k.loop, step, P, lens, &first, &nb);
        for (int b = 0; b < nb; b++)
            rows[2 * b] = 2 * items[order[first + b]], rows[2 * b + 1] = rows[2 * b] + 1;
        pack_rows(&h->tk, rows, 2 * nb, tok, plen, len, &T);
        gc_rm_optim o = GC_RM_OPTIM_DEFAULT(
            gc_lr_cosine(step, steps, (int)c->warmup, (float)c->lr, (float)c->lr_min),
            (float)c->clip, (float)c->weight_decay);
        gc_rm_step_stats rs;
        s = gc_rm_step(rm, tok, nb, T, plen, len, &con, &rng, &o, &rs);
        sum[EP_ACC] += rs.acc, sum[EP_LOSS] += rs.loss;
        if (s == GC_OK && ep_end) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, RS_EPOCH, step / per_epoch + 1);
            cJSON_AddNumberToObject(e, RS_TRAIN_ACCURACY, sum[EP_ACC] / per_epoch);
            cJSON_AddNumberToObject(e, RS_TRAIN_LOSS, sum[EP_LOSS] / per_epoch);
            cJSON_AddItemToArray(*curve, e);
            gc_log_info("%s epoch %d: train accuracy %.3f, loss %.4f", st->name,
                        step / per_epoch + 1, sum[EP_ACC] / per_epoch, sum[EP_LOSS] / per_epoch);
            sum[EP_ACC] = sum[EP_LOSS] = 0;
        }
        gc_progress_update(&prog, step + 1);
        if (s == GC_OK && rp_ckpt_due(st, step + 1 == steps))
            s = rp_ckpt_write(st, step + 1, rp_rm_loop_save, &k);
    }
    gc_progress_end(&prog);
    free(tok), free(plen), free(len), free(rows), free(order), free(perm), free(lens);
    return s;
}

enum { SCORE_BATCH = 32 };

/* the rewards of both sequences of the pairs items (n): out (2n) */
static gc_status score(const hh_ctx *h, gc_rm *rm, const int *items, int n, float *out) {
    int L = h->tk.L;
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)SCORE_BATCH * L);
    int plen[SCORE_BATCH], len[SCORE_BATCH], rows[SCORE_BATCH];
    gc_status s = tok ? GC_OK : GC_ERR_NOMEM;
    for (int first = 0; s == GC_OK && first < 2 * n; first += SCORE_BATCH) {
        int nb = 2 * n - first < SCORE_BATCH ? 2 * n - first : SCORE_BATCH, T = 0;
        for (int b = 0; b < nb; b++)
            rows[b] = 2 * items[(first + b) / 2] + (first + b) % 2;
        pack_rows(&h->tk, rows, nb, tok, plen, len, &T);
        s = gc_rm_score(rm, tok, nb, T, len, out + first);
    }
    free(tok);
    return s;
}

static gc_status compute_rm(rp_stage *st, void *ctx) {
    rm_job *job = ctx;
    hh_ctx *h = job->h;
    char path[RP_PATH];
    hh_data_path(h, h->model.checkpoint, path);
    gc_model m;
    GC_TRY(gc_ckpt_load_any(path, &m));
    gc_rm rm;
    gc_status s = gc_rm_init(&rm, &m, GC_HEAD_LINEAR, (uint64_t)job->seed);
    if (s != GC_OK) {
        gc_model_free(&m);
        return s;
    }
    int *items = gc_malloc(sizeof(int) * (size_t)h->tk.n);
    float *rew = gc_malloc(sizeof(float) * 2 * (size_t)h->tk.n);
    cJSON *curve = cJSON_CreateArray();
    if (!items || !rew) s = GC_ERR_NOMEM;
    int ntr = s == GC_OK ? fold_items(h, job->fold, 0, items) : 0;
    gc_log_info("%s: %zu parameters, %d training pairs", st->name, rm.model.n_params, ntr);
    if (s == GC_OK) s = train(st, job, &rm, items, ntr, &curve);
    if (s == GC_OK && job->fold < 0) { /* trained on every pair: the model itself is the output */
        char head[RP_PATH];
        rp_stage_file(st, "rm.ckpt", path);
        rp_stage_file(st, "rm.head", head);
        s = gc_rm_save(&rm, path, head);
        st->info = cJSON_CreateObject();
        cJSON_AddNumberToObject(st->info, "training_pairs", ntr);
        cJSON_AddItemToObject(st->info, RS_EPOCHS, curve);
        gc_rm_free(&rm);
        free(items), free(rew);
        return s;
    }
    int nte = s == GC_OK ? fold_items(h, job->fold, 1, items) : 0;
    if (s == GC_OK) s = score(h, &rm, items, nte, rew);
    gc_rm_free(&rm);
    if (s == GC_OK) {
        cJSON *j = cJSON_CreateObject(), *pa = cJSON_AddArrayToObject(j, "pair");
        cJSON *ca = cJSON_AddArrayToObject(j, "chosen"),
              *ra = cJSON_AddArrayToObject(j, "rejected");
        int right = 0;
        for (int i = 0; i < nte; i++) {
            cJSON_AddItemToArray(pa, cJSON_CreateNumber(items[i]));
            cJSON_AddItemToArray(ca, cJSON_CreateNumber(rew[2 * i]));
            cJSON_AddItemToArray(ra, cJSON_CreateNumber(rew[2 * i + 1]));
            right += rew[2 * i] > rew[2 * i + 1];
        }
        rp_stage_file(st, "rewards.json", path);
        s = gc_json_write(path, j);
        cJSON_Delete(j);
        st->info = cJSON_CreateObject();
        cJSON_AddNumberToObject(st->info, "training_pairs", ntr);
        cJSON_AddNumberToObject(st->info, "scored_pairs", nte);
        cJSON_AddNumberToObject(st->info, "fold_accuracy", nte ? (double)right / nte : NAN);
        cJSON_AddItemToObject(st->info, RS_EPOCHS, curve);
        curve = NULL;
        gc_log_info("%s: accuracy %.3f on its fold's %d pairs", st->name,
                    nte ? (double)right / nte : NAN, nte);
    }
    cJSON_Delete(curve);
    free(items), free(rew);
    return s;
}

static gc_status load_rm_rewards(const rp_stage *st, void *ctx) {
    rm_job *job = ctx;
    hh_ctx *h = job->h;
    char path[RP_PATH];
    rp_stage_file(st, "rewards.json", path);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    const cJSON *pa = gc_json_get(j, "pair");
    int n = cJSON_GetArraySize(pa);
    float *out = h->reward + ((size_t)job->variant * h->r->seeds + job->seed - 1) * 2 * h->tk.n;
    float *c = gc_malloc(sizeof(float) * (n ? n : 1)), *r = gc_malloc(sizeof(float) * (n ? n : 1));
    gc_status s = c && r ? gc_json_floats(path, j, "chosen", c, (size_t)n) : GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_json_floats(path, j, "rejected", r, (size_t)n);
    int i = 0;
    for (const cJSON *e = pa ? pa->child : NULL; s == GC_OK && e; e = e->next, i++) {
        int p = -1;
        if (!gc_json_int_in(e, 0, h->tk.n - 1, &p) || h->fold[p] != job->fold)
            s = gc_fail(GC_ERR_FORMAT, "%s: pair %d is not of fold %d", path, p, job->fold);
        else
            out[2 * p] = c[i], out[2 * p + 1] = r[i];
    }
    free(c), free(r);
    cJSON_Delete(j);
    return s;
}

static const rp_stage_def HH_RM = {"hh-rm", __FILE__, compute_rm, load_rm_rewards};
static const rp_stage_def HH_RM_ALL = {"hh-rm-all", __FILE__, compute_rm, NULL};

gc_status hh_stage_rm(hh_ctx *h, int variant, int seed, int f) {
    return hh_stage_rm_at(h, variant, seed, f, NULL);
}

gc_status hh_stage_rm_at(hh_ctx *h, int variant, int seed, int f, rp_stage **out) {
    cJSON *k = gc_config_to_json(hh_rm_fields, hh_rm_n_fields, &h->rm);
    static const char *const contrastive[] = {"lambda", "K", "pairs", "reduction"};
    for (int i = 0; variant != HH_GOAL && i < 4; i++) /* they touch the goal variant only */
        cJSON_DeleteItemFromObjectCaseSensitive(k, contrastive[i]);
    cJSON_AddStringToObject(k, "variant", variant == HH_GOAL ? "goal" : "baseline");
    cJSON_AddNumberToObject(k, "seed", seed);
    if (f >= 0) {
        cJSON_AddNumberToObject(k, "fold", f);
        cJSON_AddNumberToObject(k, "folds", (double)h->data.folds);
        cJSON_AddNumberToObject(k, "split_seed", (double)h->data.split_seed);
    }
    cJSON_AddStringToObject(k, "checkpoint", h->model.checkpoint);
    char name[96], fold[16] = "all";
    if (f >= 0) snprintf(fold, sizeof fold, "fold%d", f);
    snprintf(name, sizeof name, "hh-rm-%s-seed%d-%s", variant == HH_GOAL ? "goal" : "baseline",
             seed, fold);
    rm_job job = {h, variant, seed, f};
    return rp_stage_run(h->r, f >= 0 ? &HH_RM : &HH_RM_ALL, name, k, &h->tk_stage, 1, &job, out);
}
