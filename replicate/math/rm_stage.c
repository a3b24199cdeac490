/* rm_stage: the reward-model stage of the math pipeline (rm-<variant>-seed<k>): a reward model
 * initialised from the policy (optionally with rm.extra_layers new blocks on top, identity at the
 * start), trained on the preference pairs with its variant's loss, its training curve on the
 * held-out corruption set (math/diagnostics.h), its checkpoint, head and goal state. In its own
 * file so that its code version is its own: changing how reward models train reruns them, not
 * the policy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/optim.h"
#include "lib/model/train.h"
#include "lib/rm/rm.h"
#include "lib/stats/stats.h"
#include "lib/tasks/task.h"
#include "lib/tasks/mathpipe.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "diagnostics.h"
#include "pipeline.h"
#include "replicate/runner/ckpt.h"
#include "replicate/runner/loop.h"
#include "resumable.h"

/* ---- the held-out synthetic-corruption set and the training curve (diagnostics.h) ---- */

enum { DIAG_FIRST = 1000000000 }; /* the first problem index of the set */

void diag_free(diag_set *d) {
    free(d->p), free(d->bad), free(d->q), free(d->good), free(d->badp), free(d->rg), free(d->rb);
    memset(d, 0, sizeof *d);
}

gc_status diag_init(const math_ctx *m, diag_set *d) {
    memset(d, 0, sizeof *d);
    int want = (int)m->c.rm.diagnostics;
    if (!want) return GC_OK;
    d->p = gc_malloc(sizeof *d->p * want);
    d->bad = gc_malloc(sizeof *d->bad * want);
    d->q = gc_malloc(sizeof(char *) * want);
    d->good = gc_malloc(sizeof(char *) * want);
    d->badp = gc_malloc(sizeof(char *) * want);
    d->rg = gc_malloc(sizeof(float) * want);
    d->rb = gc_malloc(sizeof(float) * want);
    if (!d->p || !d->bad || !d->q || !d->good || !d->badp || !d->rg || !d->rb) {
        diag_free(d);
        return GC_ERR_NOMEM;
    }
    for (int64_t i = DIAG_FIRST; d->n < want; i++) {
        gc_problem *p = &d->p[d->n];
        gc_task_generate(gc_task_train_split(gc_task_domain(m->c.splits[0])),
                         (uint64_t)m->c.data.seed, i, p);
        int clash = 0; /* never an evaluation question */
        for (int k = 0; k < m->eval.n && !clash; k++)
            clash = !strcmp(m->eval.p[k].question, p->question);
        gc_task_corrupt(p, (uint64_t)i, d->bad[d->n]);
        if (clash || gc_task_check(d->bad[d->n], p->answer)) continue;
        d->n++;
    }
    for (int k = 0; k < d->n; k++)
        d->q[k] = d->p[k].question, d->good[k] = d->p[k].solution, d->badp[k] = d->bad[k];
    return GC_OK;
}

/* One epoch's row of the training curve: its training accuracy and loss (means over its steps)
 * and, on the held-out set, pair accuracy, preference loss and the AUROC of the reward as a
 * classifier of reference (1) against corrupted (0) solutions. */
gc_status diag_epoch(const math_ctx *m, const char *name, gc_rm *rm, diag_set *d, int epoch,
                     double acc, double loss, cJSON *rows) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToArray(rows, e);
    cJSON_AddNumberToObject(e, RS_EPOCH, epoch);
    cJSON_AddNumberToObject(e, RS_TRAIN_ACCURACY, acc);
    cJSON_AddNumberToObject(e, RS_TRAIN_LOSS, loss);
    if (!d->n) return GC_OK;
    int L = (int)m->c.eval.max_len, B = 32;
    GC_TRY(gc_math_score(rm, d->q, d->good, d->n, L, B, d->rg, NULL));
    GC_TRY(gc_math_score(rm, d->q, d->badp, d->n, L, B, d->rb, NULL));
    double hacc = 0, hloss = 0;
    double *sc = gc_malloc(sizeof(double) * 2 * d->n);
    int *y = gc_malloc(sizeof(int) * 2 * d->n);
    if (!sc || !y) {
        free(sc), free(y);
        return GC_ERR_NOMEM;
    }
    for (int k = 0; k < d->n; k++) {
        double diff = (double)d->rg[k] - d->rb[k];
        hacc += (diff > 0) + 0.5 * (diff == 0);
        hloss += diff > 0 ? log1p(exp(-diff)) : -diff + log1p(exp(diff)); /* -log sigmoid */
        sc[k] = d->rg[k], y[k] = 1;
        sc[d->n + k] = d->rb[k], y[d->n + k] = 0;
    }
    double auc = NAN;
    gc_stats_auroc(sc, y, (size_t)2 * d->n, &auc);
    free(sc), free(y);
    cJSON_AddNumberToObject(e, RS_HELDOUT_ACCURACY, hacc / d->n);
    cJSON_AddNumberToObject(e, RS_HELDOUT_LOSS, hloss / d->n);
    cJSON_AddNumberToObject(e, RS_HELDOUT_AUROC, auc);
    gc_log_info("%s epoch %d: train accuracy %.3f, loss %.4f; held-out corruption pairs: accuracy "
                "%.3f, loss %.4f, AUROC %.3f",
                name, epoch, acc, loss, hacc / d->n, hloss / d->n, auc);
    return GC_OK;
}

/* ---- training ---- */

static gc_status write_rm_goal(const rp_stage *st, gc_rm *rm, const math_pairs *pairs, int L) {
    int n = pairs->n, D = rm->model.cfg.dim;
    gc_goal goal = {0};
    float *rew = gc_malloc(sizeof(float) * (n > 0 ? n : 1)), *gvec = gc_malloc(sizeof(float) * D);
    gc_status s = rew && gvec ? gc_goal_init(&goal, D) : GC_ERR_NOMEM;
    if (s == GC_OK)
        s = gc_math_score(rm, (const char *const *)pairs->prompt,
                          (const char *const *)pairs->chosen, n, L, 32, rew, &goal);
    if (s == GC_OK) s = gc_goal_mean(&goal, gvec);
    if (s == GC_OK)
        s = math_write_goal(st, gvec, D,
                            "mean final hidden state at the last token (EOS) of the "
                            "preferred responses of the training pairs");
    gc_goal_free(&goal);
    free(rew), free(gvec);
    return s;
}

/* running sums of the training loop */
enum { TAIL_ACC, TAIL_LOSS, TAIL_N, EP_ACC, EP_LOSS, N_SUMS };

static gc_status compute_rm(rp_stage *st, void *ctx) {
    const math_rm_job *job = ctx;
    math_ctx *m = job->m;
    const math_cfg *c = &m->c;
    const math_variant *mv = &c->variant[job->variant];
    const math_pairs *pairs = &m->pairs;
    gc_model pm;
    GC_TRY(math_load_policy(m, &pm));
    if (c->rm.extra_layers > 0) { /* new blocks on the policy's trunk, identity at the start */
        gc_model grown;
        gc_status g = gc_model_grow(&pm, (int)c->rm.extra_layers, (uint64_t)job->seed, &grown);
        gc_model_free(&pm);
        GC_TRY(g);
        pm = grown;
    }
    gc_rm rm;
    gc_status s = gc_rm_init(&rm, &pm, (gc_head_kind)mv->head, (uint64_t)job->seed);
    if (s != GC_OK) {
        gc_model_free(&pm);
        return s;
    }
    int P = (int)c->rm.batch, L = (int)c->eval.max_len, n = pairs->n;
    int steps_per_epoch = (n + P - 1) / P, steps = steps_per_epoch * (int)c->rm.epochs;
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)2 * P * L),
            *tmp = gc_malloc(sizeof(int32_t) * L);
    int *plen = gc_malloc(sizeof(int) * 2 * P), *len = gc_malloc(sizeof(int) * 2 * P);
    int *order = gc_malloc(sizeof(int) * (n > 0 ? n : 1));
    int *plen_chars = gc_malloc(sizeof(int) * (n > 0 ? n : 1));
    int *batch_perm = gc_malloc(sizeof(int) * (steps_per_epoch > 0 ? steps_per_epoch : 1));
    if (!tok || !tmp || !plen || !len || !order || !plen_chars || !batch_perm) s = GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < n; i++) { /* characters = tokens in this domain */
        size_t lc = strlen(pairs->chosen[i]), lr = strlen(pairs->rejected[i]);
        plen_chars[i] = (int)(strlen(pairs->prompt[i]) + (lc > lr ? lc : lr));
    }
    gc_rng rng;
    gc_rng_init(&rng, (uint64_t)job->seed,
                gc_rng_stream(GC_STREAM_RM_TRAIN, (uint64_t)job->variant));
    gc_schedule sched = {(float)c->rm.lr, (float)c->rm.lr_min, c->rm.warmup, steps,
                         (float)c->rm.clip};
    double sum[N_SUMS] = {0};
    diag_set diag;
    cJSON *curve = cJSON_CreateArray();
    if (s == GC_OK)
        s = diag_init(m, &diag);
    else
        memset(&diag, 0, sizeof diag);
    rp_rm_loop k = {&rm, {&rng, order, n, batch_perm, steps_per_epoch, sum, N_SUMS, &curve}};
    int start = 0;
    if (s == GC_OK) s = rp_loop_start(st, rp_rm_loop_load, &k, &start);
    if (s == GC_OK && !st->ckpt_resumed)
        s = diag_epoch(m, st->name, &rm, &diag, 0, NAN, NAN, curve); /* before training */
    gc_progress prog;
    gc_progress_init(&prog, st->name, steps);
    for (int step = start; s == GC_OK && step < steps; step++) {
        int first, nb, T = 0;
        int ep_end = rp_loop_batch(&k.loop, step, P, plen_chars, &first, &nb);
        s = gc_math_pack_pairs(
            (const char *const *)pairs->prompt, (const char *const *)pairs->chosen,
            (const char *const *)pairs->rejected, order + first, nb, L, tok, tmp, plen, len, &T);
        if (s != GC_OK) break;
        gc_rm_step_stats rs;
        float lr = gc_lr_cosine(step, sched.total, sched.warmup, sched.lr_max, sched.lr_min);
        gc_rm_optim opt = GC_RM_OPTIM_DEFAULT(lr, sched.clip, (float)c->rm.weight_decay);
        opt.trunk_lr_scale = (float)c->rm.trunk_lr_scale;
        s = gc_rm_step(&rm, tok, nb, T, plen, len, &mv->con, &rng, &opt, &rs);
        if (step >= steps - steps_per_epoch)
            sum[TAIL_ACC] += rs.acc, sum[TAIL_LOSS] += rs.loss, sum[TAIL_N]++;
        sum[EP_ACC] += rs.acc, sum[EP_LOSS] += rs.loss;
        if (s == GC_OK && ep_end) {
            s = diag_epoch(m, st->name, &rm, &diag, step / steps_per_epoch + 1,
                           sum[EP_ACC] / steps_per_epoch, sum[EP_LOSS] / steps_per_epoch, curve);
            sum[EP_ACC] = sum[EP_LOSS] = 0;
        }
        gc_progress_update(&prog, step + 1);
        if (s == GC_OK && rp_ckpt_due(st, step + 1 == steps))
            s = rp_ckpt_write(st, step + 1, rp_rm_loop_save, &k);
    }
    gc_progress_end(&prog);
    diag_free(&diag);
    char dp[RP_PATH];
    rp_stage_file(st, "diagnostics.json", dp);
    cJSON *dj = cJSON_CreateObject();
    cJSON_AddNumberToObject(dj, "heldout_problems", (double)m->c.rm.diagnostics);
    cJSON_AddStringToObject(dj, "heldout",
                            "training-split problems from index 1e9 on (never trained on): "
                            "reference solution vs a corrupted copy");
    cJSON_AddItemToObject(dj, RS_EPOCHS, curve);
    if (s == GC_OK) s = gc_json_write(dp, dj);
    cJSON_Delete(dj);
    free(tok), free(tmp), free(plen), free(len), free(order), free(plen_chars), free(batch_perm);
    char ck[RP_PATH], hd[RP_PATH];
    rp_stage_file(st, "rm.ckpt", ck);
    rp_stage_file(st, "rm.head", hd);
    if (s == GC_OK) s = gc_rm_save(&rm, ck, hd);
    if (s == GC_OK) s = write_rm_goal(st, &rm, pairs, L);
    gc_rm_free(&rm);
    GC_TRY(s);
    st->info = cJSON_CreateObject();
    cJSON_AddNumberToObject(st->info, "steps", steps);
    double tn = sum[TAIL_N];
    cJSON_AddNumberToObject(st->info, "last_epoch_train_accuracy", tn ? sum[TAIL_ACC] / tn : 0);
    cJSON_AddNumberToObject(st->info, "last_epoch_loss", tn ? sum[TAIL_LOSS] / tn : 0);
    return GC_OK;
}

const rp_stage_def MATH_REWARD_MODEL = {"rm", __FILE__, compute_rm, NULL};
