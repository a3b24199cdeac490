/* table2: the policy trained three ways (PAPER.md section 3). Stages: dpo-ref (the SFT policy's
 * log-probabilities of every preference pair's responses: the frozen reference, computed once),
 * dpo-seed<k> (the SFT policy trained with DPO on the same pairs the reward models train on),
 * ppo-<baseline|goal>-seed<k> (the SFT policy trained with PPO, lib/policy/ppo_trainer.h, against
 * that seed's reward model, its critic initialised from the same reward model, the SFT policy as
 * the frozen reference; prompts are the training questions in order), and sft-greedy; each policy
 * stage ends with the greedy solutions of every evaluation question. The analysis reports greedy
 * accuracy per split and on average (the splits are the same size) for the SFT policy and each arm
 * (mean and 95% CI over seeds), the PPO difference goal - baseline paired by seed, and the DPO and
 * PPO training curves. Without a table2.ppo section the PPO arms are not run (the results say so).
 * Plot: plots/table2.gp.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/ckpt.h"
#include "lib/model/seqset.h"
#include "lib/policy/dpo.h"
#include "lib/policy/ppo_trainer.h"
#include "lib/tasks/chartok.h"
#include "lib/stats/stats.h"
#include "lib/tasks/task.h"
#include "lib/tasks/mathpipe.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/runner/ckpt.h"
#include "replicate/runner/results.h"
#include "analyses.h"
#include "diagnostics.h"
#include "replicate/runner/loop.h"
#include "resumable.h"

typedef struct {
    int64_t epochs, batch, warmup;
    double lr, lr_min, clip, beta;
    int norm;
} dpo_cfg;

#define F(field, type, req, lo, hi)                                                                \
    { #field, type, offsetof(dpo_cfg, field), req, lo, hi, NULL }
static const gc_cfg_field dpo_f[] = {
    F(epochs, GC_CFG_INT, 1, 1, 1000),
    F(batch, GC_CFG_INT, 1, 1, 4096),
    F(warmup, GC_CFG_INT, 0, 0, 1e6),
    F(lr, GC_CFG_FLOAT, 1, 1e-9, 1),
    F(lr_min, GC_CFG_FLOAT, 0, 0, 1),
    F(clip, GC_CFG_FLOAT, 0, 0, 1e6),
    F(beta, GC_CFG_FLOAT, 1, 1e-6, 1e3),
    {"length_normalised", GC_CFG_BOOL, offsetof(dpo_cfg, norm), 0, 0, 1, NULL},
};
#undef F

typedef struct {
    int64_t iterations, rollout, minibatch, epochs, ptx_batch;
    double lr_actor, lr_critic, clip_eps, value_clip, gamma, lambda, kl_init, kl_target, kl_horizon,
        temperature, grad_clip, ptx_coef;
    int normalize_reward;
} ppo_cfg;

#define F(field, type, req, lo, hi)                                                                \
    { #field, type, offsetof(ppo_cfg, field), req, lo, hi, NULL }
static const gc_cfg_field ppo_f[] = {
    F(iterations, GC_CFG_INT, 1, 1, 1e6),
    F(rollout, GC_CFG_INT, 1, 1, 4096),
    F(minibatch, GC_CFG_INT, 1, 1, 4096),
    F(epochs, GC_CFG_INT, 0, 1, 100),
    F(lr_actor, GC_CFG_FLOAT, 1, 1e-9, 1),
    F(lr_critic, GC_CFG_FLOAT, 1, 1e-9, 1),
    F(clip_eps, GC_CFG_FLOAT, 0, 1e-6, 10),
    F(value_clip, GC_CFG_FLOAT, 0, 1e-6, 1e6),
    F(gamma, GC_CFG_FLOAT, 0, 0, 1),
    F(lambda, GC_CFG_FLOAT, 0, 0, 1),
    F(kl_init, GC_CFG_FLOAT, 0, 0, 100),
    F(kl_target, GC_CFG_FLOAT, 0, 0, 100),
    F(kl_horizon, GC_CFG_FLOAT, 0, 1, 1e9),
    F(temperature, GC_CFG_FLOAT, 0, 1e-3, 10),
    F(grad_clip, GC_CFG_FLOAT, 0, 0, 1e6),
    F(ptx_coef, GC_CFG_FLOAT, 0, 0, 100),
    F(ptx_batch, GC_CFG_INT, 0, 1, 4096),
    {"normalize_reward", GC_CFG_BOOL, offsetof(ppo_cfg, normalize_reward), 0, 0, 1, NULL},
};
#undef F

typedef struct {
    const cJSON *dpo, *ppo;
} table2_cfg;
static const gc_cfg_field table2_f[] = {
    {"dpo", GC_CFG_OBJECT, offsetof(table2_cfg, dpo), 1, 0, 0, NULL},
    {"ppo", GC_CFG_OBJECT, offsetof(table2_cfg, ppo), 0, 0, 0, NULL},
};

typedef struct {
    math_ctx *m;
    const dpo_cfg *dc;
    double *ref; /* (2 * pairs.n): chosen, rejected of each pair */
    int seed;
    int *correct; /* (eval.n) the DPO policy's greedy solutions, right or not */
    cJSON *curve; /* loaded: the training curve */
} dpo_job;

enum { DPO_BATCH_MAX = 4096 };

/* the pairs' sequences in batches of P, in order (items = identity) or in a given order */
typedef struct {
    int32_t *tok, *tmp;
    int *plen, *len;
} pair_buf;

static gc_status pair_buf_init(pair_buf *b, int P, int L) {
    b->tok = gc_malloc(sizeof(int32_t) * (size_t)2 * P * L);
    b->tmp = gc_malloc(sizeof(int32_t) * (size_t)L);
    b->plen = gc_malloc(sizeof(int) * 2 * P);
    b->len = gc_malloc(sizeof(int) * 2 * P);
    return b->tok && b->tmp && b->plen && b->len ? GC_OK : GC_ERR_NOMEM;
}

static void pair_buf_free(pair_buf *b) {
    free(b->tok), free(b->tmp), free(b->plen), free(b->len);
}

static gc_status pack(const math_pairs *pr, const int *items, int nb, int L, pair_buf *b, int *T) {
    return gc_math_pack_pairs((const char *const *)pr->prompt, (const char *const *)pr->chosen,
                              (const char *const *)pr->rejected, items, nb, L, b->tok, b->tmp,
                              b->plen, b->len, T);
}

/* ---- greedy solutions of every evaluation question ---- */

/* Decodes every evaluation question greedily with pm (freed here) and writes <file>: correct (0/1
 * per question, split-major) and the responses, plus the training curve (may be NULL); with
 * checkpoints of the decoding when ckpt (a stage whose only long loop it is). */
static gc_status write_greedy(rp_stage *st, math_ctx *m, gc_model *pm, cJSON *curve,
                              const char *file, int ckpt) {
    const problem_set *ev = &m->eval;
    int n = ev->n ? ev->n : 1;
    const char **qs = gc_malloc(sizeof(char *) * n);
    char **texts = gc_calloc((size_t)n, sizeof(char *));
    gc_status s = qs && texts ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < ev->n; i++)
        qs[i] = ev->p[i].question;
    gc_sample_config sc = {0.0f, 1.0f, 0xE7A1, (int)m->c.eval.max_len, 64, NULL};
    if (s == GC_OK)
        s = ckpt ? math_sample_ckpt(st, pm, qs, ev->n, 1, &sc, texts, NULL)
                 : gc_math_sample(pm, qs, ev->n, 1, &sc, texts, NULL);
    gc_model_free(pm);
    cJSON *j = cJSON_CreateObject(), *ok = cJSON_AddArrayToObject(j, "correct");
    cJSON *resp = cJSON_AddArrayToObject(j, "response");
    for (int i = 0; s == GC_OK && i < ev->n; i++) {
        cJSON_AddItemToArray(ok, cJSON_CreateNumber(gc_task_check(texts[i], ev->p[i].answer)));
        cJSON_AddItemToArray(resp, cJSON_CreateString(texts[i]));
    }
    cJSON_AddItemToObject(j, RS_EPOCHS, curve ? curve : cJSON_CreateArray());
    for (int i = 0; texts && i < ev->n; i++)
        free(texts[i]);
    free(texts), free(qs);
    char path[RP_PATH];
    rp_stage_file(st, file, path);
    if (s == GC_OK) s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

/* reads <file>'s correct flags into job->correct and its curve into job->curve */
static gc_status read_greedy(const rp_stage *st, dpo_job *job, const char *file) {
    char path[RP_PATH];
    rp_stage_file(st, file, path);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    const cJSON *ok = gc_json_get(j, "correct");
    int n = job->m->eval.n;
    gc_status s = cJSON_GetArraySize(ok) == n
                      ? GC_OK
                      : gc_fail(GC_ERR_FORMAT, "%s: expected %d evaluation results", path, n);
    for (int i = 0; s == GC_OK && i < n; i++)
        job->correct[i] = gc_json_at(ok, i) != 0;
    if (s == GC_OK) job->curve = cJSON_Duplicate(gc_json_get(j, RS_EPOCHS), 1);
    cJSON_Delete(j);
    return s;
}

/* The end of a training stage whose run so far returned s: the policy's checkpoint, then its
 * greedy solutions and training curve in <file>; pm and curve are consumed either way. */
static gc_status finish_policy(rp_stage *st, math_ctx *m, gc_model *pm, gc_status s, cJSON *curve,
                               const char *file) {
    char path[RP_PATH];
    rp_stage_file(st, "policy.ckpt", path);
    if (s == GC_OK) s = gc_ckpt_save(path, pm, NULL);
    if (s != GC_OK) {
        gc_model_free(pm);
        cJSON_Delete(curve);
        return s;
    }
    return write_greedy(st, m, pm, curve, file, 0);
}

static gc_status compute_sft(rp_stage *st, void *ctx) {
    dpo_job *job = ctx;
    gc_model pm;
    GC_TRY(math_load_policy(job->m, &pm));
    return write_greedy(st, job->m, &pm, NULL, "greedy.json", 1);
}

static gc_status load_sft(const rp_stage *st, void *ctx) {
    return read_greedy(st, ctx, "greedy.json");
}

static const rp_stage_def SFT_GREEDY = {"sft-greedy", __FILE__, compute_sft, load_sft};

/* ---- stage: the reference log-probabilities ---- */

static gc_status compute_ref(rp_stage *st, void *ctx) {
    dpo_job *job = ctx;
    math_ctx *m = job->m;
    const math_pairs *pr = &m->pairs;
    int n = pr->n, P = 16, L = (int)m->c.eval.max_len;
    gc_model pm;
    GC_TRY(math_load_policy(m, &pm));
    pair_buf b;
    int *items = gc_malloc(sizeof(int) * P);
    gc_status s = pair_buf_init(&b, P, L);
    if (s == GC_OK && !items) s = GC_ERR_NOMEM;
    for (int first = 0; s == GC_OK && first < n; first += P) {
        int nb = n - first < P ? n - first : P, T = 0;
        for (int k = 0; k < nb; k++)
            items[k] = first + k;
        s = pack(pr, items, nb, L, &b, &T);
        if (s == GC_OK)
            s = gc_seq_logprob(&pm, b.tok, 2 * nb, T, b.plen, b.len, job->dc->norm,
                               job->ref + 2 * first);
    }
    gc_model_free(&pm);
    pair_buf_free(&b);
    free(items);
    GC_TRY(s);
    cJSON *j = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(j, "logprob");
    for (int i = 0; i < 2 * n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(job->ref[i]));
    cJSON_AddStringToObject(j, "layout", "pair i: [2i] chosen, [2i + 1] rejected");
    char path[RP_PATH];
    rp_stage_file(st, "reference.json", path);
    s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

static gc_status load_ref(const rp_stage *st, void *ctx) {
    dpo_job *job = ctx;
    char path[RP_PATH];
    rp_stage_file(st, "reference.json", path);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    const cJSON *a = gc_json_get(j, "logprob");
    gc_status s = cJSON_GetArraySize(a) == 2 * job->m->pairs.n
                      ? GC_OK
                      : gc_fail(GC_ERR_FORMAT, "%s: expected %d log-probabilities", path,
                                2 * job->m->pairs.n);
    for (int i = 0; s == GC_OK && i < 2 * job->m->pairs.n; i++)
        job->ref[i] = gc_json_at(a, i);
    cJSON_Delete(j);
    return s;
}

static const rp_stage_def DPO_REF = {"dpo-ref", __FILE__, compute_ref, load_ref};

/* ---- stage: a DPO policy ---- */

gc_status math_dpo_save(const char *dir, void *ctx) {
    math_dpo_ckpt *k = ctx;
    char path[RP_PATH + 16];
    snprintf(path, sizeof path, "%s/policy.ckpt", dir);
    GC_TRY(gc_ckpt_save(path, k->pm, k->opt));
    return rp_loop_save(&k->loop, dir);
}

gc_status math_dpo_load(const char *dir, void *ctx) {
    math_dpo_ckpt *k = ctx;
    char path[RP_PATH + 16];
    snprintf(path, sizeof path, "%s/policy.ckpt", dir);
    GC_TRY(gc_ckpt_restore(path, k->pm, k->opt));
    return rp_loop_load(&k->loop, dir);
}

enum { E_LOSS, E_ACC, E_MARGIN, N_EPOCH_SUMS };

static gc_status compute_dpo(rp_stage *st, void *ctx) {
    dpo_job *job = ctx;
    math_ctx *m = job->m;
    const dpo_cfg *dc = job->dc;
    const math_pairs *pr = &m->pairs;
    int n = pr->n, P = (int)dc->batch, L = (int)m->c.eval.max_len;
    int per_epoch = (n + P - 1) / P, steps = per_epoch * (int)dc->epochs;
    gc_model pm;
    GC_TRY(math_load_policy(m, &pm));
    gc_adamw opt;
    gc_status s = gc_adamw_init(&opt, pm.n_params, 0.9f, 0.95f, 1e-8f, 0.0f);
    pair_buf b = {0};
    int *order = gc_malloc(sizeof(int) * (n ? n : 1)), *lens = gc_malloc(sizeof(int) * (n ? n : 1));
    int *perm = gc_malloc(sizeof(int) * (per_epoch ? per_epoch : 1));
    double *ref = gc_malloc(sizeof(double) * 2 * P);
    if (s == GC_OK) s = pair_buf_init(&b, P, L);
    if (s == GC_OK && !(order && lens && perm && ref)) s = GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < n; i++) {
        size_t lc = strlen(pr->chosen[i]), lr = strlen(pr->rejected[i]);
        lens[i] = (int)(strlen(pr->prompt[i]) + (lc > lr ? lc : lr));
    }
    gc_rng rng;
    gc_rng_init(&rng, (uint64_t)job->seed, gc_rng_stream(GC_STREAM_DPO, 0));
    cJSON *curve = cJSON_CreateArray();
    double e[N_EPOCH_SUMS] = {0};
    math_dpo_ckpt ck = {&pm, &opt, {&rng, order, n, perm, per_epoch, e, N_EPOCH_SUMS, &curve}};
    int start = 0;
    if (s == GC_OK) s = rp_loop_start(st, math_dpo_load, &ck, &start);
    gc_progress prog;
    gc_progress_init(&prog, st->name, steps);
    for (int step = start; s == GC_OK && step < steps; step++) {
        int first, nb, T = 0;
        int ep_end = rp_loop_batch(&ck.loop, step, P, lens, &first, &nb);
        s = pack(pr, order + first, nb, L, &b, &T);
        for (int i = 0; s == GC_OK && i < nb; i++)
            ref[2 * i] = job->ref[2 * order[first + i]],
                    ref[2 * i + 1] = job->ref[2 * order[first + i] + 1];
        float lr = gc_lr_cosine(step, steps, dc->warmup, (float)dc->lr, (float)dc->lr_min);
        gc_dpo_stats ds = {0};
        if (s == GC_OK)
            s = gc_dpo_step(&pm, &opt, b.tok, nb, T, b.plen, b.len, ref, dc->beta, dc->norm, lr,
                            (float)dc->clip, &ds);
        e[E_LOSS] += ds.loss / per_epoch, e[E_ACC] += ds.acc / per_epoch,
            e[E_MARGIN] += ds.margin / per_epoch;
        if (s == GC_OK && ep_end) {
            cJSON *row = cJSON_CreateObject();
            cJSON_AddNumberToObject(row, RS_EPOCH, step / per_epoch + 1);
            cJSON_AddNumberToObject(row, RS_TRAIN_LOSS, e[E_LOSS]);
            cJSON_AddNumberToObject(row, RS_TRAIN_ACCURACY, e[E_ACC]);
            cJSON_AddNumberToObject(row, RS_MARGIN, e[E_MARGIN]);
            cJSON_AddItemToArray(curve, row);
            gc_log_info("%s epoch %d: loss %.4f, pair accuracy %.3f, log-ratio margin %.3f",
                        st->name, step / per_epoch + 1, e[E_LOSS], e[E_ACC], e[E_MARGIN]);
            e[E_LOSS] = e[E_ACC] = e[E_MARGIN] = 0;
        }
        gc_progress_update(&prog, step + 1);
        if (s == GC_OK && rp_ckpt_due(st, step + 1 == steps))
            s = rp_ckpt_write(st, step + 1, math_dpo_save, &ck);
    }
    gc_progress_end(&prog);
    pair_buf_free(&b);
    free(order), free(lens), free(perm), free(ref);
    gc_adamw_free(&opt);
    return finish_policy(st, m, &pm, s, curve, "dpo.json");
}

static gc_status load_dpo(const rp_stage *st, void *ctx) {
    return read_greedy(st, ctx, "dpo.json");
}

static const rp_stage_def DPO_POLICY = {"dpo", __FILE__, compute_dpo, load_dpo};

/* ---- stage: a PPO policy against one reward model ---- */

typedef struct {
    math_ctx *m;
    const ppo_cfg *pc;
    const rp_stage *rmst; /* the reward model: the scorer, and the critic's initial weights */
    int seed;
    int *correct;
    cJSON *curve;
} ppo_job;

/* The PPO stage's scorer: the reward model's reward at each sequence's last token; on the side,
 * whether each sampled response solves its training question (the rollout's accuracy). */
typedef struct {
    gc_rm *rm;
    const gc_problem *const *problem; /* (rollout) this iteration's questions */
    int right, total;
    char *buf; /* (max_len + 1) */
} ppo_scorer;

static gc_status rm_scorer(void *ctx, int first, const int32_t *tokens, int B, int T,
                           const int *prompt_len, const int *len, float *out) {
    ppo_scorer *sc = ctx;
    for (int b = 0; b < B; b++) {
        gc_chartok_decode(tokens + (size_t)b * T + prompt_len[b], len[b] - prompt_len[b], sc->buf,
                          (size_t)T + 1);
        sc->right += gc_task_check(sc->buf, sc->problem[first + b]->answer);
        sc->total++;
    }
    return gc_rm_score(sc->rm, tokens, B, T, len, out);
}

gc_status math_ppo_save(const char *dir, void *ctx) {
    math_ppo_ckpt *k = ctx;
    char path[RP_PATH + 16];
    GC_TRY(gc_ppo_save(k->ppo, dir));
    snprintf(path, sizeof path, "%s/curve.json", dir);
    return gc_json_write(path, k->curve);
}

gc_status math_ppo_resume(rp_stage *st, gc_ppo *ppo, int64_t iterations, cJSON **curve,
                          int *start) {
    char kdir[RP_PATH], kpath[RP_PATH + 16];
    *curve = NULL, *start = 0;
    if (rp_ckpt_latest(st, kdir) < 0) {
        *curve = cJSON_CreateArray();
        return GC_OK;
    }
    GC_TRY(gc_ppo_load(ppo, kdir));
    snprintf(kpath, sizeof kpath, "%s/curve.json", kdir);
    GC_TRY(gc_json_read(kpath, curve));
    if (!cJSON_IsArray(*curve) || cJSON_GetArraySize(*curve) != ppo->iter || ppo->iter > iterations)
        return gc_fail(GC_ERR_FORMAT, "%s: does not hold the curve of %lld iterations", kpath,
                       (long long)ppo->iter);
    *start = (int)ppo->iter;
    return GC_OK;
}

cJSON *math_ppo_row(int iteration, const gc_ppo_stats *ps, double accuracy) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "iteration", iteration);
    cJSON_AddNumberToObject(e, RS_PPO_SCORE, ps->score);
    cJSON_AddNumberToObject(e, RS_PPO_KL, ps->kl);
    cJSON_AddNumberToObject(e, RS_PPO_KL_COEF, ps->kl_coef);
    cJSON_AddNumberToObject(e, RS_PPO_POLICY_LOSS, ps->policy_loss);
    cJSON_AddNumberToObject(e, RS_PPO_VALUE_LOSS, ps->value_loss);
    cJSON_AddNumberToObject(e, RS_PPO_CLIPFRAC, ps->clipfrac);
    cJSON_AddNumberToObject(e, RS_PPO_RESPONSE_LEN, ps->response_len);
    cJSON_AddNumberToObject(e, RS_PPO_ACCURACY, accuracy);
    return e;
}

static gc_status compute_ppo(rp_stage *st, void *ctx) {
    ppo_job *job = ctx;
    math_ctx *m = job->m;
    const ppo_cfg *pc = job->pc;
    int L = (int)m->c.eval.max_len, n = (int)pc->rollout;
    gc_model actor, ref;
    gc_rm scorer = {0}, critic = {0};
    GC_TRY(math_load_policy(m, &actor));
    gc_status s = math_load_policy(m, &ref);
    int ref_ok = s == GC_OK, scorer_ok = 0, critic_ok = 0;
    if (s == GC_OK) s = math_load_rm(job->rmst, &scorer), scorer_ok = s == GC_OK;
    if (s == GC_OK) s = math_load_rm(job->rmst, &critic), critic_ok = s == GC_OK;
    gc_ppo_config c = {.minibatch = (int)pc->minibatch,
                       .epochs = (int)pc->epochs,
                       .max_len = L,
                       .eos = GC_CHAR_EOS,
                       .temperature = (float)pc->temperature,
                       .top_p = 1.0f,
                       .clip_eps = pc->clip_eps,
                       .value_clip = pc->value_clip,
                       .gamma = pc->gamma,
                       .lambda = pc->lambda,
                       .kl_init = pc->kl_init,
                       .kl_target = pc->kl_target,
                       .kl_horizon = pc->kl_horizon,
                       .lr_actor = (float)pc->lr_actor,
                       .lr_critic = (float)pc->lr_critic,
                       .grad_clip = (float)pc->grad_clip,
                       .normalize_reward = pc->normalize_reward,
                       .seed = (uint64_t)job->seed};
    /* the pretraining term's data: the SFT set the policy was trained on */
    gc_seqset ptx = {0};
    if (s == GC_OK && pc->ptx_coef > 0) {
        s = gc_math_sft_set(m->train.p, m->train.n, m->c.model.seq_len, &ptx);
        if (s == GC_OK)
            c.ptx_data = &ptx, c.ptx_batch = (int)pc->ptx_batch, c.ptx_coef = pc->ptx_coef;
    }
    gc_ppo ppo = {0};
    if (s == GC_OK) s = gc_ppo_init(&ppo, &actor, &ref, &critic, &c);
    /* prompts: the training questions in order, rollout after rollout, wrapping around */
    int32_t *ptok = gc_malloc(sizeof(int32_t) * (size_t)n * L);
    const int32_t **prompts = gc_malloc(sizeof(int32_t *) * n);
    int *plen = gc_malloc(sizeof(int) * n);
    const gc_problem **probs = gc_malloc(sizeof(gc_problem *) * n);
    ppo_scorer sc = {&scorer, probs, 0, 0, gc_malloc((size_t)L + 1)};
    if (s == GC_OK && !(ptok && prompts && plen && probs && sc.buf)) s = GC_ERR_NOMEM;
    cJSON *curve = NULL;
    int start = 0; /* a killed run's checkpoint: the trainer's state and the curve up to it */
    if (s == GC_OK) s = math_ppo_resume(st, &ppo, pc->iterations, &curve, &start);
    if (!curve) curve = cJSON_CreateArray();
    gc_progress prog;
    gc_progress_init(&prog, st->name, (int)pc->iterations);
    for (int it = start; s == GC_OK && it < pc->iterations; it++) {
        for (int i = 0; s == GC_OK && i < n; i++) {
            const gc_problem *q = &m->train.p[((int64_t)it * n + i) % m->train.n];
            probs[i] = q;
            prompts[i] = ptok + (size_t)i * L;
            plen[i] = gc_math_prompt(q->question, ptok + (size_t)i * L, L - 1);
            if (plen[i] < 0)
                s = gc_fail(GC_ERR_CONFIG, "%s: a training question needs more than %d tokens",
                            m->r->cfg.path, L - 1);
        }
        gc_ppo_stats ps = {0};
        sc.right = sc.total = 0;
        double t0 = gc_now();
        if (s == GC_OK) s = gc_ppo_iteration(&ppo, &c, prompts, plen, n, rm_scorer, &sc, &ps);
        double acc = sc.total ? (double)sc.right / sc.total : NAN, dt = gc_now() - t0;
        if (s == GC_OK) {
            cJSON_AddItemToArray(curve, math_ppo_row(it + 1, &ps, acc));
            gc_log_info("%s iteration %d/%d: reward %.3f, KL %.3f, rollout accuracy %.3f, "
                        "response %.0f tokens, %.0f tokens/s",
                        st->name, it + 1, (int)pc->iterations, ps.score, ps.kl, acc,
                        ps.response_len, ps.response_len * n / dt);
        }
        gc_progress_update(&prog, it + 1);
        math_ppo_ckpt k = {&ppo, curve};
        if (s == GC_OK && rp_ckpt_due(st, it + 1 == pc->iterations))
            s = rp_ckpt_write(st, it + 1, math_ppo_save, &k);
    }
    gc_progress_end(&prog);
    gc_ppo_free(&ppo);
    if (c.ptx_data) gc_seqset_free(&ptx);
    free(ptok), free(prompts), free(plen), free(probs), free(sc.buf);
    if (scorer_ok) gc_rm_free(&scorer);
    if (critic_ok) gc_rm_free(&critic);
    if (ref_ok) gc_model_free(&ref);
    return finish_policy(st, m, &actor, s, curve, "ppo.json");
}

static gc_status load_ppo(const rp_stage *st, void *ctx) {
    ppo_job *job = ctx;
    dpo_job dj = {job->m, NULL, NULL, 0, job->correct, NULL};
    GC_TRY(read_greedy(st, &dj, "ppo.json"));
    job->curve = dj.curve;
    return GC_OK;
}

static const rp_stage_def PPO_POLICY = {"ppo", __FILE__, compute_ppo, load_ppo};

/* ---- the analysis ---- */

/* the arms of the table, in column order: results key and label */
static const char *const ARMS[][2] = {{RS_DPO, "DPO"},
                                      {RS_PPO_BASELINE, "PPO, baseline RM"},
                                      {RS_PPO_GOAL, "PPO, goal-conditioned RM"}};
enum { N_ARMS = 3 };

gc_status math_table2_write_dat(const char *path, const cJSON *results, const void *ctx) {
    (void)ctx;
    FILE *f = fopen(path, "w");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot write", path);
    fprintf(f, "# greedy accuracy per split (NaN: arm not run); columns by name\n%s %s", RS_SPLIT,
            RS_SFT);
    for (int a = 0; a < N_ARMS; a++)
        fprintf(f, " %s_%s %s_%s %s_%s", ARMS[a][0], RS_MEAN, ARMS[a][0], RS_LO, ARMS[a][0], RS_HI);
    fprintf(f, "\n");
    for (const cJSON *g = gc_json_get(results, RS_SPLITS)->child; g; g = g->next) {
        fprintf(f, "%s %.5f", cJSON_GetStringValue(gc_json_get(g, RS_SPLIT)),
                gc_json_num(g, RS_SFT, NAN));
        for (int a = 0; a < N_ARMS; a++) {
            const cJSON *d = gc_json_get(g, ARMS[a][0]);
            fprintf(f, " %.5f %.5f %.5f", gc_json_num(d, RS_MEAN, NAN), gc_json_num(d, RS_LO, NAN),
                    gc_json_num(d, RS_HI, NAN));
        }
        fprintf(f, "\n");
    }
    if (fclose(f) != 0) return gc_fail(GC_ERR_IO, "%s: write failed", path);
    return GC_OK;
}

static void print_row(const cJSON *g, FILE *f) {
    fprintf(f, "  %-11s SFT %.3f", cJSON_GetStringValue(gc_json_get(g, RS_SPLIT)),
            gc_json_num(g, RS_SFT, NAN));
    for (int a = 0; a < N_ARMS; a++) {
        const cJSON *d = gc_json_get(g, ARMS[a][0]);
        if (d)
            fprintf(f, "   %s %.3f [%.3f, %.3f]", ARMS[a][1], gc_json_num(d, RS_MEAN, NAN),
                    gc_json_num(d, RS_LO, NAN), gc_json_num(d, RS_HI, NAN));
    }
    fprintf(f, "\n");
}

void math_table2_print(const cJSON *r, FILE *f) {
    fprintf(f, "\ntable2: greedy accuracy (mean [95%% CI over seeds])\n");
    for (const cJSON *g = gc_json_get(r, RS_SPLITS)->child; g; g = g->next)
        print_row(g, f);
    print_row(gc_json_get(r, RS_AVERAGE), f);
    const cJSON *d = gc_json_get(r, RS_PPO_DIFF);
    if (d)
        fprintf(f, "  PPO goal-conditioned - baseline, average over splits: %+.3f [%+.3f, %+.3f]\n",
                gc_json_num(d, RS_MEAN, NAN), gc_json_num(d, RS_LO, NAN),
                gc_json_num(d, RS_HI, NAN));
    const cJSON *g = gc_json_get(r, RS_DPO_VS_PPO);
    for (int k = 0; g && k < 2; k++) {
        const cJSON *o = gc_json_get(g, k ? RS_OOD : RS_ID);
        if (o)
            fprintf(f, "  DPO - PPO goal-conditioned, %s splits: %+.3f [%+.3f, %+.3f]\n",
                    k ? "out-of-distribution" : "in-distribution", gc_json_num(o, RS_MEAN, NAN),
                    gc_json_num(o, RS_LO, NAN), gc_json_num(o, RS_HI, NAN));
    }
    const char *nb = cJSON_GetStringValue(gc_json_get(r, RS_NOT_BUILT));
    if (nb) fprintf(f, "  not run: %s\n", nb);
}

/* The accuracy of each seed's greedy solutions (correct: seeds x ne) on split sp (per questions
 * each) into acc (seeds); adds each to avg[k] / n_splits. */
static void split_accuracy(const int *correct, int seeds, int ne, int sp, int per, int n_splits,
                           double *acc, double *avg) {
    for (int k = 0; k < seeds; k++) {
        int r = 0;
        for (int q = 0; q < per; q++)
            r += correct[(size_t)k * ne + sp * per + q];
        acc[k] = (double)r / per;
        avg[k] += acc[k] / n_splits;
    }
}

/* Per split, PPO with the goal-conditioned RM minus PPO with the baseline RM, paired by question:
 * each question's correctness averaged over seeds, the mean difference with a percentile
 * bootstrap over questions (BOOT_REPS resamples) for its CI and two-sided p-value. */
enum { BOOT_REPS = 2000 };

cJSON *math_paired_questions(const double *d, int n, uint64_t seed) {
    double m = 0, lo = NAN, hi = NAN, p = NAN;
    for (int q = 0; q < n; q++)
        m += d[q] / n;
    if (n > 0) gc_stats_paired_bootstrap(d, (size_t)n, BOOT_REPS, seed, 0.95, &lo, &hi, &p);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, RS_MEAN, m);
    cJSON_AddNumberToObject(o, RS_LO, lo);
    cJSON_AddNumberToObject(o, RS_HI, hi);
    cJSON_AddNumberToObject(o, RS_P, p);
    cJSON_AddStringToObject(o, RS_TEST, "paired bootstrap over questions (seed-averaged)");
    return o;
}

static cJSON *split_paired_bootstrap(const int *base, const int *goal, int seeds, int ne, int sp,
                                     int per) {
    double *d = gc_malloc(sizeof(double) * (per ? per : 1));
    if (!d) return NULL;
    for (int q = 0; q < per; q++) {
        d[q] = 0;
        for (int k = 0; k < seeds; k++)
            d[q] += (double)(goal[(size_t)k * ne + sp * per + q] -
                             base[(size_t)k * ne + sp * per + q]) /
                    seeds;
    }
    cJSON *o = math_paired_questions(d, per, 1 + (uint64_t)sp);
    free(d);
    return o;
}

/* A PPO run's start and end (means over its first and last RUN_ENDS iterations) of the reward
 * model's score and the rollout's accuracy, its last KL, and the reward-hacking flag: the score
 * rose while the accuracy fell. */
enum { RUN_ENDS = 3 };

static double mean_of(const cJSON *its, int from, int to, const char *key) {
    double sum = 0;
    int n = 0;
    for (int i = from; i < to; i++) {
        double x = gc_json_num(cJSON_GetArrayItem(its, i), key, NAN);
        if (isfinite(x)) sum += x, n++;
    }
    return n ? sum / n : NAN;
}

void math_table2_summarise_run(const cJSON *its, cJSON *out) {
    int n = cJSON_GetArraySize(its), k = n < RUN_ENDS ? n : RUN_ENDS;
    double r0 = mean_of(its, 0, k, RS_PPO_SCORE), r1 = mean_of(its, n - k, n, RS_PPO_SCORE);
    double a0 = mean_of(its, 0, k, RS_PPO_ACCURACY), a1 = mean_of(its, n - k, n, RS_PPO_ACCURACY);
    cJSON_AddNumberToObject(out, RS_REWARD_START, r0);
    cJSON_AddNumberToObject(out, RS_REWARD_END, r1);
    cJSON_AddNumberToObject(out, RS_ACCURACY_START, a0);
    cJSON_AddNumberToObject(out, RS_ACCURACY_END, a1);
    cJSON_AddNumberToObject(out, RS_KL_END, mean_of(its, n - 1, n, RS_PPO_KL));
    cJSON_AddBoolToObject(out, RS_REWARD_HACKING, r1 > r0 && a1 < a0);
}

gc_status math_table2_ppo_curves(const rp_run *r, const cJSON *runs) {
    char dir[RP_PATH], dat[RP_PATH + 64], name[160];
    rp_result_dir(r, dir);
    GC_TRY(rp_mkdirs(dir));
    snprintf(name, sizeof name, "%s-ppo", r->experiment);
    snprintf(dat, sizeof dat, "%s/%s.dat", dir, name);
    FILE *f = fopen(dat, "w");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot write", dat);
    fprintf(f, "# PPO training curves, one block per run (gnuplot index); columns by name\n");
    int block = 0;
    for (const cJSON *u = runs->child; u; u = u->next, block++) {
        const char *v = cJSON_GetStringValue(gc_json_get(u, RS_VARIANT));
        double seed = gc_json_num(u, "seed", 0);
        fprintf(f, "%siteration %s %s %s %s ppo-%s-seed%.0f\n", block ? "\n\n" : "", RS_PPO_SCORE,
                RS_PPO_KL, RS_PPO_ACCURACY, RS_PPO_RESPONSE_LEN, v ? v : "?", seed);
        for (const cJSON *e = gc_json_get(u, "iterations")->child; e; e = e->next)
            fprintf(f, "%.0f %.5f %.5f %.5f %.2f ppo-%s-seed%.0f\n", gc_json_num(e, "iteration", 0),
                    gc_json_num(e, RS_PPO_SCORE, NAN), gc_json_num(e, RS_PPO_KL, NAN),
                    gc_json_num(e, RS_PPO_ACCURACY, NAN), gc_json_num(e, RS_PPO_RESPONSE_LEN, NAN),
                    v ? v : "?", seed);
    }
    if (fclose(f) != 0) return gc_fail(GC_ERR_IO, "%s: write failed", dat);
    rp_plot("table2-ppo", dir, name, NULL);
    return GC_OK;
}

double math_sample_sd(const double *x, int n) {
    if (n < 2) return 0;
    double m = 0, v = 0;
    for (int i = 0; i < n; i++)
        m += x[i] / n;
    for (int i = 0; i < n; i++)
        v += (x[i] - m) * (x[i] - m) / (n - 1);
    return sqrt(v);
}

/* The AUROC of a reward model's rewards over every evaluation solution (stage score-*). */
static gc_status pooled_auroc(math_ctx *m, const rp_stage *rmst, double *auc) {
    int n = m->sol.n;
    float *r = gc_malloc(sizeof(float) * (n ? n : 1));
    double *x = gc_malloc(sizeof(double) * (n ? n : 1));
    gc_status s = r && x ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK) s = math_score_solutions(m, rmst, r);
    for (int i = 0; s == GC_OK && i < n; i++)
        x[i] = r[i];
    if (s == GC_OK && gc_stats_auroc(x, m->sol.correct, (size_t)n, auc) != GC_OK) *auc = NAN;
    free(r), free(x);
    return s;
}

gc_status math_analyse_table2(math_ctx *m, const cJSON *section, const char *path) {
    const gc_config *cf = &m->r->cfg;
    table2_cfg tc = {0};
    GC_TRY(gc_config_read(cf, section, path, table2_f, GC_CFG_COUNT(table2_f), &tc));
    char dpath[160];
    snprintf(dpath, sizeof dpath, "%s.dpo", path);
    dpo_cfg dc = {.warmup = 0, .clip = 1.0, .lr_min = 0};
    GC_TRY(gc_config_read(cf, tc.dpo, dpath, dpo_f, GC_CFG_COUNT(dpo_f), &dc));
    if (dc.batch > DPO_BATCH_MAX) dc.batch = DPO_BATCH_MAX;
    ppo_cfg pc = {.epochs = 1,
                  .clip_eps = 0.2,
                  .value_clip = 0.2,
                  .gamma = 1.0,
                  .lambda = 0.95,
                  .kl_init = 0.02,
                  .kl_target = 0,
                  .kl_horizon = 10000,
                  .temperature = 1.0,
                  .grad_clip = 1.0,
                  .ptx_coef = 0,
                  .ptx_batch = 8,
                  .normalize_reward = 1};
    if (tc.ppo) {
        snprintf(dpath, sizeof dpath, "%s.ppo", path);
        GC_TRY(gc_config_read(cf, tc.ppo, dpath, ppo_f, GC_CFG_COUNT(ppo_f), &pc));
    }
    int seeds = m->r->seeds, ne = m->eval.n;
    if (seeds > 64) return gc_config_fail(cf, "seeds", "table2 takes at most 64 seeds");
    dpo_job job = {m, &dc,  gc_malloc(sizeof(double) * 2 * (m->pairs.n ? m->pairs.n : 1)),
                   0, NULL, NULL};
    /* greedy results per arm and seed: DPO, PPO baseline, PPO goal */
    int *correct = gc_malloc(sizeof(int) * (size_t)N_ARMS * seeds * (ne ? ne : 1));
    cJSON *curves = cJSON_CreateArray(), *ppo_curves = cJSON_CreateArray();
    gc_status s = job.ref && correct ? GC_OK : GC_ERR_NOMEM;
    cJSON *kref = cJSON_CreateObject();
    cJSON_AddBoolToObject(kref, "length_normalised", dc.norm);
    cJSON_AddNumberToObject(kref, "max_len", (double)m->c.eval.max_len);
    /* the evaluation solutions' stage is an input for its key: the evaluation set and settings */
    rp_stage *refst = NULL, *in[4] = {m->pol, m->pst, NULL, m->est};
    if (s == GC_OK)
        s = rp_stage_run(m->r, &DPO_REF, "dpo-ref", kref, in, 2, &job, &refst);
    else
        cJSON_Delete(kref);
    in[2] = refst;
    int *sft_ok = gc_malloc(sizeof(int) * (ne ? ne : 1));
    if (s == GC_OK && !sft_ok) s = GC_ERR_NOMEM;
    job.correct = sft_ok;
    rp_stage *sft_in[2] = {m->pol, m->est};
    if (s == GC_OK) s = rp_stage_run(m->r, &SFT_GREEDY, "sft-greedy", NULL, sft_in, 2, &job, NULL);
    cJSON_Delete(job.curve);
    for (int k = 1; s == GC_OK && k <= seeds; k++) {
        cJSON *key = gc_config_to_json(dpo_f, GC_CFG_COUNT(dpo_f), &dc);
        cJSON_AddNumberToObject(key, "seed", k);
        cJSON_AddNumberToObject(key, "max_len", (double)m->c.eval.max_len);
        char name[64];
        snprintf(name, sizeof name, "dpo-seed%d", k);
        job.seed = k, job.correct = correct + (size_t)(k - 1) * ne, job.curve = NULL;
        s = rp_stage_run(m->r, &DPO_POLICY, name, key, in, 4, &job, NULL);
        if (s == GC_OK) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "seed", k);
            cJSON_AddItemToObject(c, RS_EPOCHS, job.curve ? job.curve : cJSON_CreateArray());
            cJSON_AddItemToArray(curves, c);
        }
    }
    /* the PPO arms: the SFT policy trained against each reward model of each seed */
    const int arm_variant[2] = {m->c.base, m->c.goal};
    for (int a = 0; tc.ppo && s == GC_OK && a < 2; a++)
        for (int k = 1; s == GC_OK && k <= seeds; k++) {
            const math_variant *mv = &m->c.variant[arm_variant[a]];
            ppo_job pj = {m,
                          &pc,
                          math_rm_stage(m, arm_variant[a], k),
                          k,
                          correct + ((size_t)(a + 1) * seeds + k - 1) * ne,
                          NULL};
            cJSON *key = gc_config_to_json(ppo_f, GC_CFG_COUNT(ppo_f), &pc);
            cJSON_AddNumberToObject(key, "seed", k);
            cJSON_AddNumberToObject(key, "max_len", (double)m->c.eval.max_len);
            char name[64];
            snprintf(name, sizeof name, "ppo-%s-seed%d", mv->name, k);
            rp_stage *pin[3] = {m->pol, (rp_stage *)pj.rmst, m->est};
            s = rp_stage_run(m->r, &PPO_POLICY, name, key, pin, 3, &pj, NULL);
            if (s == GC_OK) {
                cJSON *c = cJSON_CreateObject();
                cJSON_AddStringToObject(c, RS_VARIANT, mv->name);
                cJSON_AddNumberToObject(c, "seed", k);
                cJSON *it = pj.curve ? pj.curve : cJSON_CreateArray();
                math_table2_summarise_run(it, c);
                cJSON_AddItemToObject(c, "iterations", it);
                cJSON_AddItemToArray(ppo_curves, c);
            }
        }
    cJSON *results = s == GC_OK ? rp_metadata(m->r) : NULL;
    if (results) {
        cJSON *splits = cJSON_AddArrayToObject(results, RS_SPLITS);
        int per = (int)m->c.data.eval_questions, n_arms = tc.ppo ? N_ARMS : 1;
        double avg_sft = 0, avg[N_ARMS][64] = {{0}};
        /* per seed, the DPO arm minus the PPO arm with the goal-conditioned RM, averaged over the
         * in-distribution and over the out-of-distribution splits */
        double dpo_gap[2][64] = {{0}};
        int n_part[2] = {0, 0};
        for (int sp = 0; sp < m->c.n_splits; sp++)
            n_part[!gc_task_in_distribution(m->c.splits[sp])]++;
        for (int sp = 0; sp < m->c.n_splits; sp++) {
            int right = 0;
            for (int q = 0; q < per; q++)
                right += sft_ok[sp * per + q];
            double sft = (double)right / per;
            avg_sft += sft / m->c.n_splits;
            cJSON *g = cJSON_CreateObject();
            cJSON_AddStringToObject(g, RS_SPLIT, gc_task_split_name(m->c.splits[sp]));
            cJSON_AddNumberToObject(g, RS_N, per);
            cJSON_AddNumberToObject(g, RS_SFT, sft);
            double acc[N_ARMS][64];
            for (int a = 0; a < n_arms; a++) {
                split_accuracy(correct + (size_t)a * seeds * ne, seeds, ne, sp, per, m->c.n_splits,
                               acc[a], avg[a]);
                cJSON_AddItemToObject(g, ARMS[a][0], rp_summary(acc[a], seeds));
            }
            if (tc.ppo)
                cJSON_AddItemToObject(g, RS_PPO_DIFF,
                                      split_paired_bootstrap(correct + (size_t)seeds * ne,
                                                             correct + (size_t)2 * seeds * ne,
                                                             seeds, ne, sp, per));
            int part = !gc_task_in_distribution(m->c.splits[sp]);
            cJSON_AddBoolToObject(g, RS_IN_DISTRIBUTION, !part);
            for (int k = 0; tc.ppo && k < seeds; k++)
                dpo_gap[part][k] += (acc[0][k] - acc[2][k]) / n_part[part];
            cJSON_AddItemToArray(splits, g);
        }
        cJSON *av = cJSON_AddObjectToObject(results, RS_AVERAGE);
        cJSON_AddStringToObject(av, RS_SPLIT, "average");
        cJSON_AddNumberToObject(av, RS_SFT, avg_sft);
        for (int a = 0; a < n_arms; a++)
            cJSON_AddItemToObject(av, ARMS[a][0], rp_summary(avg[a], seeds));
        if (tc.ppo) { /* paired by seed: the two arms share the seed's policy and pairs */
            double diff[64];
            for (int k = 0; k < seeds; k++)
                diff[k] = avg[2][k] - avg[1][k];
            cJSON *d = rp_summary(diff, seeds);
            gc_ttest tt = {.p = NAN};
            if (seeds >= 2) gc_stats_ttest_paired(avg[2], avg[1], (size_t)seeds, &tt);
            cJSON_AddNumberToObject(d, RS_SD, math_sample_sd(diff, seeds));
            cJSON_AddNumberToObject(d, RS_SEEDS, seeds);
            cJSON_AddStringToObject(d, RS_TEST, "paired t-test over seeds");
            cJSON_AddNumberToObject(d, RS_P, tt.p);
            cJSON_AddItemToObject(results, RS_PPO_DIFF, d);
        }
        if (tc.ppo) {
            cJSON *o = cJSON_AddObjectToObject(results, RS_DPO_VS_PPO);
            if (n_part[0]) cJSON_AddItemToObject(o, RS_ID, rp_summary(dpo_gap[0], seeds));
            if (n_part[1]) cJSON_AddItemToObject(o, RS_OOD, rp_summary(dpo_gap[1], seeds));
        }
        /* the reward models the PPO arms train against: AUROC of their rewards over every
         * evaluation solution (the claim check's precondition: the baseline RM verifies) */
        cJSON *ra = cJSON_AddObjectToObject(results, RS_RM_AUROC);
        for (int a = 0; s == GC_OK && a < 2; a++) {
            double auc[64];
            for (int k = 1; s == GC_OK && k <= seeds; k++)
                s = pooled_auroc(m, math_rm_stage(m, arm_variant[a], k), &auc[k - 1]);
            if (s == GC_OK)
                cJSON_AddItemToObject(ra, m->c.variant[arm_variant[a]].name,
                                      rp_summary(auc, seeds));
        }
        if (s == GC_OK && tc.ppo) s = math_table2_ppo_curves(m->r, ppo_curves);
        cJSON_AddItemToObject(results, RS_DPO_TRAINING, curves);
        cJSON_AddItemToObject(results, RS_PPO_TRAINING, ppo_curves);
        curves = ppo_curves = NULL;
        if (!tc.ppo)
            cJSON_AddStringToObject(results, RS_NOT_BUILT,
                                    "the PPO arms (the experiment file has no table2.ppo)");
        if (s == GC_OK)
            s = math_finish(m, results, math_table2_write_dat, NULL, math_table2_print);
        else
            cJSON_Delete(results);
    }
    cJSON_Delete(curves);
    cJSON_Delete(ppo_curves);
    free(job.ref), free(correct), free(sft_ok);
    return s;
}
