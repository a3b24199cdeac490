/* full_table2: table2 at full scale (full.h): the policy trained with DPO on the preference pairs
 * and with PPO against each reward model, every policy's greedy solutions of the benchmarks, and
 * the mini scale's table2 statistics (PAPER.md section 3). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/ckpt.h"
#include "lib/model/hf.h"
#include "lib/model/seqset.h"
#include "lib/policy/dpo.h"
#include "lib/policy/ppo_trainer.h"
#include "lib/stats/stats.h"
#include "lib/tasks/hfseq.h"
#include "lib/tasks/mathans.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/math/analyses.h"
#include "replicate/math/pipeline.h"
#include "replicate/runner/ckpt.h"
#include "replicate/runner/loop.h"
#include "replicate/runner/results.h"
#include "full.h"

enum { NV = FULL_N_VARIANTS };

/* ---- which stage is which ---- */

static int is_dpo(const pl_stage *st) {
    return st->kind == PL_TRAIN && st->loss == 1;
}

static int is_eval(const rp_run *r, const pl_stage *st) {
    return !strcmp(r->analysis, "table2") && st->kind == PL_GENERATE && st->variants;
}

int full_table2_owns(const rp_run *r, const pl_stage *st) {
    return !strcmp(r->analysis, "table2") && (is_dpo(st) || st->kind == PL_PPO || is_eval(r, st));
}

/* A policy of the evaluation stage by its variant's name: "sft" (the model itself), the name of
 * a DPO stage, or "<ppo stage>-<its variant>". *stage gets the stage's index (-1: sft), *v the
 * PPO variant (FULL_VARIANTS) or 0; returns 0 when the name is none of these. */
static int policy_of(const pl_plan *p, const char *name, int *stage, int *v) {
    *stage = -1, *v = 0;
    if (!strcmp(name, "sft")) return 1;
    int t = pl_find_stage(p, name);
    if (t >= 0 && is_dpo(&p->stages[t])) return *stage = t, 1;
    for (int i = 0; i < p->n_stages; i++) {
        const pl_stage *st = &p->stages[i];
        size_t k = strlen(st->name);
        if (st->kind != PL_PPO || strncmp(name, st->name, k) || name[k] != '-') continue;
        int fv = full_variant_of(name + k + 1), idx[NV];
        const char *names[NV];
        int nv = full_stage_variants(st, idx, names);
        for (int j = 0; j < nv; j++)
            if (idx[j] == fv) return *stage = i, *v = fv, 1;
    }
    return 0;
}

static int bench_files(const pl_data *d) {
    for (int f = 0; f < d->n_files; f++) {
        int fm = d->files[f].format;
        if (fm == PL_OPENMATH || fm == PL_HH || fm == PL_HELPSTEER) return 0;
    }
    return 1;
}

static int openmath_files(const pl_data *d) {
    for (int f = 0; f < d->n_files; f++)
        if (d->files[f].format != PL_OPENMATH) return 0;
    return 1;
}

int full_table2_problems(const rp_run *r, const pl_plan *p, char *msg, size_t cap) {
    size_t n = strlen(msg);
    int count = 0, n_eval = 0;
#define ADD(...)                                                                                   \
    (count++, n += (size_t)snprintf(msg + n, n < cap ? cap - n : 0, "\n  - " __VA_ARGS__))
    for (int i = 0; i < p->n_stages; i++) {
        const pl_stage *st = &p->stages[i];
        if (!full_table2_owns(r, st)) continue;
        int d = pl_find_data(p, st->data);
        if (!st->per_seed)
            ADD("stage '%s': table2 trains and evaluates per seed (per_seed true)", st->name);
        if (pl_find_model(p, st->model) < 0)
            ADD("stage '%s': model '%s': the policy starts from a model of \"models\"", st->name,
                st->model);
        if (d < 0) {
            ADD("stage '%s': data '%s': not a data set of \"data\"", st->name, st->data);
            continue;
        }
        if (is_dpo(st)) {
            if (st->variants) ADD("stage '%s': a DPO stage has no variants", st->name);
            if (!openmath_files(&p->data[d]))
                ADD("stage '%s': data '%s': DPO trains on OpenMath-style solution files (openmath)",
                    st->name, st->data);
        } else if (st->kind == PL_PPO) {
            int t = pl_find_stage(p, st->scorer);
            if (t < 0 || p->stages[t].kind != PL_TRAIN || p->stages[t].loss != 0) {
                ADD("stage '%s': scorer '%s': PPO trains against a preference train stage's reward "
                    "models",
                    st->name, st->scorer);
            } else {
                int idx[NV];
                const char *names[NV];
                int nv = full_stage_variants(st, idx, names),
                    ok = nv == (st->variants ? cJSON_GetArraySize(st->variants) : 0);
                int have[NV] = {0}, theirs[NV];
                int nt = full_stage_variants(&p->stages[t], theirs, names);
                for (int j = 0; j < nt; j++)
                    have[theirs[j]] = 1;
                for (int j = 0; j < nv; j++)
                    ok &= have[idx[j]];
                if (!ok)
                    ADD("stage '%s': variants must be reward-model variants stage '%s' trains",
                        st->name, st->scorer);
                if (!full_same_tokenizer(p, st->model, p->stages[t].model))
                    ADD("stage '%s': the reward models of stage '%s' read other tokens than model "
                        "'%s' writes (their tokenizer.json files differ)",
                        st->name, st->scorer, st->model);
                if (!p->stages[t].per_seed)
                    ADD("stage '%s': scorer '%s' must train per seed", st->name, st->scorer);
            }
            if (!bench_files(&p->data[d]))
                ADD("stage '%s': data '%s': PPO's prompts are math benchmark questions (gsm8k, "
                    "math, mathqa, ...)",
                    st->name, st->data);
            int x = st->ptx_data[0] ? pl_find_data(p, st->ptx_data) : -1;
            if (st->ptx_coef > 0 && (x < 0 || !openmath_files(&p->data[x])))
                ADD("stage '%s': ptx_coef %g needs ptx_data, a data set of OpenMath-style solution "
                    "files (its correct solutions are the pretraining term's)",
                    st->name, st->ptx_coef);
        } else {
            n_eval++;
            if (!bench_files(&p->data[d]))
                ADD("stage '%s': data '%s': the policies answer math benchmark files", st->name,
                    st->data);
            int sft = 0;
            for (const cJSON *e = st->variants->child; e; e = e->next) {
                int t, v;
                if (!cJSON_IsString(e) || !policy_of(p, e->valuestring, &t, &v))
                    ADD("stage '%s': variant '%s' is none of sft, a DPO stage, or a PPO stage and "
                        "one of its variants (<stage>-<variant>)",
                        st->name, cJSON_IsString(e) ? e->valuestring : "?");
                else
                    sft |= t < 0;
            }
            if (!sft) ADD("stage '%s': the evaluation needs the \"sft\" policy", st->name);
            if (st->samples != 1)
                ADD("stage '%s': table2 grades one greedy solution per question (samples 1)",
                    st->name);
        }
    }
    if (r->seeds > 64) ADD("table2 takes at most 64 seeds, not %d", r->seeds);
    if (n_eval != 1)
        ADD("table2 reads one evaluation stage (generate, with the policies as variants); this "
            "scale has %d",
            n_eval);
#undef ADD
    return count;
}

/* ---- DPO ---- */

/* the stage's checkpoint: the mini scale's (the policy with its optimiser, the loop's state) and
 * the reference log-probabilities */
typedef struct {
    math_dpo_ckpt base;
    float *ref; /* (2n): pair i's chosen at 2i, rejected at 2i + 1 */
    int n2;
} dpo_ckpt;

static gc_status read_reference(const char *path, float *ref, int n2) {
    full_array a = {'f', 0, NULL};
    GC_TRY(full_arrays_read(path, &a, 1));
    gc_status s =
        a.n == n2 ? GC_OK : gc_fail(GC_ERR_FORMAT, "%s: not %d log-probabilities", path, n2);
    if (s == GC_OK) memcpy(ref, a.data, sizeof(float) * (size_t)n2);
    free(a.data);
    return s;
}

static gc_status write_reference(const char *dir, const dpo_ckpt *k) {
    char path[RP_PATH + 40];
    snprintf(path, sizeof path, "%s/reference.bin", dir);
    full_array a = {'f', k->n2, k->ref};
    return full_arrays_write(path, &a, 1);
}

static gc_status save_dpo(const char *dir, void *ctx) {
    dpo_ckpt *k = ctx;
    GC_TRY(math_dpo_save(dir, &k->base));
    return write_reference(dir, k);
}

static gc_status load_dpo(const char *dir, void *ctx) {
    dpo_ckpt *k = ctx;
    char path[RP_PATH + 40];
    GC_TRY(math_dpo_load(dir, &k->base));
    snprintf(path, sizeof path, "%s/reference.bin", dir);
    return read_reference(path, k->ref, k->n2);
}

enum { D_LOSS, D_ACC, D_MARGIN, N_DSUMS };

static gc_status compute_dpo(rp_stage *st, void *ctx) {
    full_job *j = ctx;
    const pl_stage *ps = &j->p->stages[j->stage];
    const full_seqs *d;
    GC_TRY(full_data_get(j->data, &d));
    int L = (int)ps->max_len, P = (int)ps->batch, M = (int)ps->micro_batch, n = d->n;
    if (ps->examples > 0 && ps->examples < n) n = (int)ps->examples;
    int per_epoch = (n + P - 1) / P, steps = per_epoch * (int)ps->epochs;
    int warmup = (int)ceil(ps->warmup_ratio * steps);
    gc_model pm;
    GC_TRY(gc_hf_load(j->model->path, L, &pm));
    gc_model_set_recompute(&pm, ps->recompute);
    gc_adamw opt;
    gc_status s = gc_adamw_init(&opt, pm.n_params, (float)ps->beta1, (float)ps->beta2, 1e-8f,
                                (float)ps->weight_decay);
    int *subset = full_subset(d->n, n), *order = gc_malloc(sizeof(int) * (size_t)n);
    int *perm = gc_malloc(sizeof(int) * (size_t)per_epoch), *lens = gc_malloc(sizeof(int) * n);
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)2 * M * L);
    int *which = gc_malloc(sizeof(int) * 2 * M), *len = gc_malloc(sizeof(int) * 2 * M),
        *plen = gc_malloc(sizeof(int) * 2 * M);
    float *ref = gc_malloc(sizeof(float) * 2 * (size_t)n);
    double *refd = gc_malloc(sizeof(double) * 2 * M), *lp = gc_malloc(sizeof(double) * 2 * M);
    if (s == GC_OK &&
        !(subset && order && perm && lens && tok && which && len && plen && ref && refd && lp))
        s = GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < n; i++) {
        int c = d->len[2 * subset[i]], r = d->len[2 * subset[i] + 1];
        lens[i] = c > r ? c : r;
    }
    gc_rng rng;
    gc_rng_init(&rng, (uint64_t)j->seed, gc_rng_stream(GC_STREAM_DPO, 0));
    double sum[N_DSUMS] = {0};
    cJSON *curve = cJSON_CreateArray(), *epochs = cJSON_CreateArray();
    dpo_ckpt k = {{&pm, &opt, {&rng, order, n, perm, per_epoch, sum, N_DSUMS, &curve}}, ref, 2 * n};
    int start = 0;
    if (s == GC_OK) s = rp_loop_start(st, load_dpo, &k, &start);
    /* the reference: the starting policy's log-probabilities of every pair, once (a checkpoint
     * holds them) */
    for (int a = 0; s == GC_OK && start == 0 && a < n; a += M) {
        int m = n - a < M ? n - a : M;
        for (int i = 0; i < m; i++)
            which[2 * i] = 2 * subset[a + i], which[2 * i + 1] = 2 * subset[a + i] + 1;
        int T = full_pack(d, which, 2 * m, tok, len, plen);
        s = gc_seq_logprob(&pm, tok, 2 * m, T, plen, len, 0, lp);
        for (int i = 0; s == GC_OK && i < 2 * m; i++)
            ref[2 * a + i] = (float)lp[i];
    }
    if (s == GC_OK && start == 0)
        gc_log_info("%s: %d pairs, %d steps of %d (micro-batches of %d), beta %g", st->name, n,
                    steps, P, M, ps->beta);
    gc_progress prog;
    gc_progress_init(&prog, st->name, steps);
    for (int step = start; s == GC_OK && step < steps; step++) {
        int first, nb;
        rp_loop_batch(&k.base.loop, step, P, lens, &first, &nb);
        double x[N_DSUMS] = {0};
        for (int a = 0; s == GC_OK && a < nb; a += M) {
            int m = nb - a < M ? nb - a : M;
            for (int i = 0; i < m; i++) {
                int q = order[first + a + i];
                which[2 * i] = 2 * subset[q], which[2 * i + 1] = 2 * subset[q] + 1;
                refd[2 * i] = ref[2 * q], refd[2 * i + 1] = ref[2 * q + 1];
            }
            int T = full_pack(d, which, 2 * m, tok, len, plen);
            gc_dpo_stats ds = {0};
            double w = (double)m / nb;
            s = gc_dpo_grad_acc(&pm, tok, m, T, plen, len, refd, ps->beta, 0, w, a == 0, &ds);
            x[D_LOSS] += w * ds.loss, x[D_ACC] += w * ds.acc, x[D_MARGIN] += w * ds.margin;
        }
        float lr = full_lr(ps, step, steps, warmup);
        if (s == GC_OK) s = gc_model_clip_grads(&pm, (float)ps->clip, NULL);
        if (s == GC_OK) s = gc_model_adamw(&pm, &opt, lr);
        if (s != GC_OK) break;
        cJSON *row = cJSON_CreateObject();
        cJSON_AddNumberToObject(row, "step", step + 1);
        cJSON_AddNumberToObject(row, "lr", lr);
        cJSON_AddNumberToObject(row, RS_TRAIN_LOSS, x[D_LOSS]);
        cJSON_AddNumberToObject(row, RS_TRAIN_ACCURACY, x[D_ACC]);
        cJSON_AddNumberToObject(row, RS_MARGIN, x[D_MARGIN]);
        cJSON_AddItemToArray(curve, row);
        gc_progress_update(&prog, step + 1);
        if (rp_ckpt_due(st, step + 1 == steps)) s = rp_ckpt_write(st, step + 1, save_dpo, &k);
    }
    gc_progress_end(&prog);
    /* each epoch's means of the steps' loss, pair accuracy and log-ratio margin */
    for (int e = 0; s == GC_OK && e < (int)ps->epochs; e++) {
        double m[N_DSUMS] = {0};
        static const char *const keys[N_DSUMS] = {RS_TRAIN_LOSS, RS_TRAIN_ACCURACY, RS_MARGIN};
        for (int t = e * per_epoch; t < (e + 1) * per_epoch; t++)
            for (int q = 0; q < N_DSUMS; q++)
                m[q] += gc_json_num(cJSON_GetArrayItem(curve, t), keys[q], NAN) / per_epoch;
        cJSON *row = cJSON_CreateObject();
        cJSON_AddNumberToObject(row, RS_EPOCH, e + 1);
        for (int q = 0; q < N_DSUMS; q++)
            cJSON_AddNumberToObject(row, keys[q], m[q]);
        cJSON_AddItemToArray(epochs, row);
    }
    char path[RP_PATH];
    rp_stage_file(st, "curve.json", path);
    if (s == GC_OK) s = gc_json_write(path, curve);
    if (s == GC_OK) s = write_reference(st->dir, &k);
    if (s == GC_OK) s = full_save_policy(st, &pm, j->model);
    if (s == GC_OK) {
        st->info = cJSON_CreateObject();
        cJSON_AddNumberToObject(st->info, "steps", steps);
        cJSON_AddNumberToObject(st->info, "pairs", n);
        cJSON_AddNumberToObject(st->info, "sequences_cut_to_max_len", d->truncated);
        cJSON_AddItemToObject(st->info, RS_EPOCHS, epochs);
        epochs = NULL;
    }
    cJSON_Delete(curve), cJSON_Delete(epochs);
    gc_adamw_free(&opt);
    gc_model_free(&pm);
    free(subset), free(order), free(perm), free(lens), free(tok), free(which), free(len),
        free(plen), free(ref), free(refd), free(lp);
    return s;
}

static const rp_stage_def FULL_DPO = {"full-dpo", __FILE__, compute_dpo, NULL};

/* ---- PPO ---- */

typedef struct {
    const pl_plan *p;
    int stage, variant, seed;
    const pl_model *model;
    const rp_stage *rm; /* the reward model: the scorer, and the critic's first weights */
    full_data *ptx;     /* the pretraining term's solutions, or NULL */
} ppo_job;

/* The scorer: the reward model's reward at each sequence's last token; on the side, whether each
 * response's final answer is its question's reference (the rollout's accuracy). */
typedef struct {
    gc_rm *rm;
    const gc_hfseq *c;
    const full_questions *qs;
    const int *q; /* (rollout) this iteration's questions */
    int right, total;
} ppo_scorer;

static gc_status ppo_score(void *ctx, int first, const int32_t *tokens, int B, int T,
                           const int *prompt_len, const int *len, float *out) {
    ppo_scorer *sc = ctx;
    for (int b = 0; b < B; b++) {
        const int32_t *r = tokens + (size_t)b * T + prompt_len[b];
        int k = len[b] - prompt_len[b];
        if (k > 0 && r[k - 1] == sc->c->eos) k--;
        char *text = NULL, ans[512];
        /* a model whose vocabulary outgrows its tokenizer may draw an id without a piece: such a
         * response has no answer to read */
        if (gc_hf_tok_decode(sc->c->tok, r, k, 1, &text) == GC_OK)
            sc->right += gc_ma_extract(text, ans, sizeof ans) != GC_MA_NONE &&
                         gc_ma_equal(ans, sc->qs->answer[sc->q[first + b]]);
        sc->total++;
        free(text);
    }
    return gc_rm_score(sc->rm, tokens, B, T, len, out);
}

/* the pretraining term's set: the correct solutions of the ptx data, prompt and response, cut to
 * L tokens (the actor's context; one whose prompt leaves no room is left out) */
static gc_status ptx_set(full_data *fd, int L, gc_seqset *out) {
    const full_seqs *d;
    GC_TRY(full_data_get(fd, &d));
    int n = 0;
    for (int i = 0; i < d->n; i++)
        n += d->correct[i] && d->plen[i] < L - 1;
    if (n == 0)
        return gc_fail(GC_ERR_FORMAT, "data '%s': no correct solution fits in %d tokens",
                       fd->data->name, L);
    GC_TRY(gc_seqset_init(out, n, L));
    for (int i = 0, k = 0; i < d->n; i++) {
        if (!d->correct[i] || d->plen[i] >= L - 1) continue;
        int len = d->len[i] < L ? d->len[i] : L;
        GC_TRY(gc_seqset_set(out, k++, d->seq[i], d->plen[i], d->seq[i] + d->plen[i],
                             len - d->plen[i]));
    }
    return GC_OK;
}

static gc_status compute_ppo(rp_stage *st, void *ctx) {
    ppo_job *j = ctx;
    const pl_stage *ps = &j->p->stages[j->stage];
    full_questions qs = {0};
    full_samples pr = {0};
    gc_hfseq c = {0};
    gc_model actor, ref;
    gc_rm scorer, critic;
    int have[4] = {0};
    gc_status s = full_load_questions(&j->p->data[pl_find_data(j->p, ps->data)], &qs, &pr);
    if (s == GC_OK && qs.n == 0) s = gc_fail(GC_ERR_FORMAT, "data '%s': no questions", ps->data);
    if (s == GC_OK) s = gc_hfseq_open(j->model->path, &c);
    if (s == GC_OK) s = full_encode_prompts(&c, j->model, &qs, &pr);
    int maxp = 0;
    for (int q = 0; s == GC_OK && q < pr.n_q; q++)
        maxp = pr.plen[q] > maxp ? pr.plen[q] : maxp;
    int L = maxp + (int)ps->max_new, n = (int)ps->rollout;
    if (s == GC_OK) s = gc_hf_load(j->model->path, L, &actor), have[0] = s == GC_OK;
    if (s == GC_OK) s = gc_hf_load(j->model->path, L, &ref), have[1] = s == GC_OK;
    if (s == GC_OK) s = math_load_rm(j->rm, &scorer), have[2] = s == GC_OK;
    if (s == GC_OK) s = math_load_rm(j->rm, &critic), have[3] = s == GC_OK;
    if (s == GC_OK && actor.cfg.seq_len < L)
        s = gc_fail(GC_ERR_CONFIG,
                    "stage '%s': a prompt of %d tokens and %d new need %d, the "
                    "model's context is %d",
                    ps->name, maxp, (int)ps->max_new, L, actor.cfg.seq_len);
    gc_ppo_config cfg = {.minibatch = (int)ps->train_batch,
                         .epochs = 1,
                         .max_len = L,
                         .eos = c.eos,
                         .temperature = 1.0f,
                         .top_p = 1.0f,
                         .clip_eps = 0.2,
                         .value_clip = 0.2,
                         .gamma = ps->gamma,
                         .lambda = 0.95,
                         .kl_init = ps->kl_init,
                         .kl_target = 0,
                         .kl_horizon = 10000,
                         .lr_actor = (float)ps->actor_lr,
                         .lr_critic = (float)ps->critic_lr,
                         .grad_clip = 1.0f,
                         .normalize_reward = 1,
                         .seed = (uint64_t)j->seed};
    gc_seqset ptx = {0};
    if (s == GC_OK && ps->ptx_coef > 0) {
        s = ptx_set(j->ptx, L, &ptx);
        if (s == GC_OK)
            cfg.ptx_data = &ptx, cfg.ptx_batch = (int)ps->ptx_batch, cfg.ptx_coef = ps->ptx_coef;
    }
    gc_ppo ppo = {0};
    if (s == GC_OK) s = gc_ppo_init(&ppo, &actor, &ref, &critic, &cfg);
    int iters = (int)ps->episodes * ((qs.n + n - 1) / (n ? n : 1));
    const int32_t **prompts = gc_malloc(sizeof(int32_t *) * (size_t)n);
    int *plen = gc_malloc(sizeof(int) * (size_t)n), *qi = gc_malloc(sizeof(int) * (size_t)n);
    ppo_scorer sc = {&scorer, &c, &qs, qi, 0, 0};
    if (s == GC_OK && !(prompts && plen && qi)) s = GC_ERR_NOMEM;
    cJSON *curve = NULL;
    int start = 0; /* a killed run's state and curve */
    if (s == GC_OK) s = math_ppo_resume(st, &ppo, iters, &curve, &start);
    if (!curve) curve = cJSON_CreateArray();
    if (s == GC_OK)
        gc_log_info("%s: %d iterations of %d prompts (%d questions, %d episode(s))", st->name,
                    iters, n, qs.n, (int)ps->episodes);
    gc_progress prog;
    gc_progress_init(&prog, st->name, iters);
    for (int it = start; s == GC_OK && it < iters; it++) {
        for (int i = 0; i < n; i++) { /* the questions in order, wrapping around */
            qi[i] = (int)(((int64_t)it * n + i) % qs.n);
            prompts[i] = pr.prompt + pr.poff[qi[i]], plen[i] = pr.plen[qi[i]];
        }
        gc_ppo_stats pst = {0};
        sc.right = sc.total = 0;
        s = gc_ppo_iteration(&ppo, &cfg, prompts, plen, n, ppo_score, &sc, &pst);
        if (s != GC_OK) break;
        double acc = sc.total ? (double)sc.right / sc.total : NAN;
        cJSON_AddItemToArray(curve, math_ppo_row(it + 1, &pst, acc));
        gc_log_info("%s iteration %d/%d: reward %.3f, KL %.3f, rollout accuracy %.3f", st->name,
                    it + 1, iters, pst.score, pst.kl, acc);
        gc_progress_update(&prog, it + 1);
        math_ppo_ckpt k = {&ppo, curve};
        if (rp_ckpt_due(st, it + 1 == iters)) s = rp_ckpt_write(st, it + 1, math_ppo_save, &k);
    }
    gc_progress_end(&prog);
    char path[RP_PATH];
    rp_stage_file(st, "curve.json", path);
    if (s == GC_OK) s = gc_json_write(path, curve);
    if (s == GC_OK) s = full_save_policy(st, &actor, j->model);
    if (s == GC_OK) {
        st->info = cJSON_CreateObject();
        cJSON_AddNumberToObject(st->info, "iterations", iters);
        cJSON_AddNumberToObject(st->info, "questions", qs.n);
    }
    cJSON_Delete(curve);
    gc_ppo_free(&ppo);
    if (cfg.ptx_data) gc_seqset_free(&ptx);
    free(prompts), free(plen), free(qi);
    if (have[3]) gc_rm_free(&critic);
    if (have[2]) gc_rm_free(&scorer);
    if (have[1]) gc_model_free(&ref);
    if (have[0]) gc_model_free(&actor);
    gc_hfseq_close(&c);
    full_questions_free(&qs);
    full_samples_free(&pr);
    return s;
}

static const rp_stage_def FULL_PPO = {"full-ppo", __FILE__, compute_ppo, NULL};

/* ---- the driver's part ---- */

gc_status full_table2_stage(rp_run *r, const pl_plan *p, int i, full_stage_runs *all) {
    const pl_stage *st = &p->stages[i];
    full_stage_runs *sr = &all[i];
    int S = r->seeds, nv = is_eval(r, st) ? cJSON_GetArraySize(st->variants) : NV;
    const pl_model *m = &p->models[pl_find_model(p, st->model)];
    sr->inst = gc_calloc((size_t)nv * S, sizeof(rp_stage *));
    if (!sr->inst) return GC_ERR_NOMEM;
    const pl_data *d = &p->data[pl_find_data(p, st->data)];
    if (is_dpo(st)) {
        sr->data = (full_data){m, d, (int)st->max_len, 1, 0, {0}, NULL, 0};
        for (int k = 1; k <= S; k++) {
            full_job job = {p, i, 0, k, m, &sr->data, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
            char name[96];
            snprintf(name, sizeof name, "%s-seed%d", st->name, k);
            GC_TRY(rp_stage_run(r, &FULL_DPO, name, full_stage_config(&job), NULL, 0, &job,
                                &sr->inst[k - 1]));
        }
        return GC_OK;
    }
    if (st->kind == PL_PPO) {
        int t = pl_find_stage(p, st->scorer),
            x = st->ptx_data[0] ? pl_find_data(p, st->ptx_data) : -1;
        /* the pretraining term's solutions, tokenized for the policy once for every instance, as
         * long as the reward models' training sequences at most */
        sr->data =
            (full_data){m, x >= 0 ? &p->data[x] : d, (int)p->stages[t].max_len, 0, 0, {0}, NULL, 0};
        full_data prompts = {m, d, 0, 0, 0, {0}, NULL, 0};
        int idx[NV];
        const char *names[NV];
        int n = full_stage_variants(st, idx, names);
        for (int a = 0; a < n; a++)
            for (int k = 1; k <= S; k++) {
                int at = idx[a] * S + k - 1;
                ppo_job job = {p, i, idx[a], k, m, all[t].inst[at], x >= 0 ? &sr->data : NULL};
                cJSON *key = full_stage_config(&(full_job){p, i, idx[a], k, m, &prompts, NULL, NULL,
                                                           NULL, NULL, NULL, NULL, NULL});
                char name[96];
                snprintf(name, sizeof name, "%s-%s-seed%d", st->name, FULL_VARIANTS[idx[a]].name,
                         k);
                rp_stage *in[1] = {all[t].inst[at]};
                GC_TRY(rp_stage_run(r, &FULL_PPO, name, key, in, 1, &job, &sr->inst[at]));
            }
        return GC_OK;
    }
    /* the evaluation: every policy's greedy solutions */
    sr->policy = gc_calloc((size_t)nv * S, sizeof(full_samples));
    if (!sr->policy) return GC_ERR_NOMEM;
    sr->n_policy = nv * S;
    int vi = 0;
    for (const cJSON *e = st->variants->child; e; e = e->next, vi++) {
        int t, v;
        policy_of(p, e->valuestring, &t, &v);
        for (int k = 1; k <= (t < 0 ? 1 : S); k++) { /* the SFT policy is every seed's */
            int at = vi * S + k - 1;
            const rp_stage *src =
                t < 0 ? NULL : all[t].inst[is_dpo(&p->stages[t]) ? k - 1 : v * S + k - 1];
            full_samples *fs = &sr->policy[at];
            fs->M = (int)st->samples;
            full_job job = {p,
                            i,
                            0,
                            k,
                            m,
                            NULL,
                            NULL,
                            NULL,
                            NULL,
                            fs,
                            d,
                            e->valuestring,
                            src ? src->dir : NULL};
            char name[128];
            if (t < 0)
                snprintf(name, sizeof name, "%s-sft", st->name);
            else
                snprintf(name, sizeof name, "%s-%s-seed%d", st->name, e->valuestring, k);
            rp_stage *in[1] = {(rp_stage *)src};
            GC_TRY(rp_stage_run(r, &FULL_GENERATE, name, full_stage_config(&job), in, src ? 1 : 0,
                                &job, &sr->inst[at]));
        }
    }
    return GC_OK;
}

/* ---- the analysis ---- */

/* the arms of the results (the mini scale's keys), after the SFT policy */
static const char *const ARM_KEYS[3] = {RS_DPO, RS_PPO_BASELINE, RS_PPO_GOAL};

static int in_distribution(const char *group) {
    return !strcmp(group, "gsm8k") || !strcmp(group, "math");
}

/* accuracy over the questions of group g (-1: all; -2: in distribution; -3: out) */
static double accuracy(const full_samples *s, int g) {
    int n = 0, right = 0;
    for (int q = 0; q < s->n_q; q++) {
        const char *name = s->group_name[s->qgroup[q]];
        int in = g >= 0    ? s->qgroup[q] == g
                 : g == -1 ? 1
                 : g == -2 ? in_distribution(name)
                           : !in_distribution(name);
        if (in) n++, right += s->cls[q * s->M] == 0;
    }
    return n ? (double)right / n : NAN;
}

/* the PPO arms' difference per question of group g (seed-averaged), paired bootstrap (the mini
 * scale's, seeded by the group's index as the mini scale's by its split's) */
static cJSON *paired_diff(const full_samples *base, const full_samples *goal, int S, int g) {
    int nq = base[0].n_q, n = 0;
    double *x = gc_malloc(sizeof(double) * (size_t)(nq ? nq : 1));
    if (!x) return NULL;
    for (int q = 0; q < nq; q++) {
        if (base[0].qgroup[q] != g) continue;
        x[n] = 0;
        for (int k = 0; k < S; k++)
            x[n] += (double)((goal[k].cls[q] == 0) - (base[k].cls[q] == 0)) / S;
        n++;
    }
    cJSON *o = math_paired_questions(x, n, 1 + (uint64_t)g);
    free(x);
    return o;
}

gc_status full_table2_analyse(rp_run *r, const pl_plan *p, const full_stage_runs *all,
                              float **rewards, const full_seqs *items, const pl_stage *score) {
    int S = r->seeds, ev = -1, dpo = -1, ppo = -1;
    for (int i = 0; i < p->n_stages; i++) {
        if (is_eval(r, &p->stages[i])) ev = i;
        if (is_dpo(&p->stages[i])) dpo = i;
        if (p->stages[i].kind == PL_PPO) ppo = i;
    }
    const pl_stage *est = &p->stages[ev];
    /* the arms' solutions: sft, then DPO, PPO baseline, PPO goal per seed (NULL: not run) */
    const full_samples *sft = NULL, *arm[3] = {NULL, NULL, NULL};
    int vi = 0;
    for (const cJSON *e = est->variants->child; e; e = e->next, vi++) {
        int t, v;
        policy_of(p, e->valuestring, &t, &v);
        const full_samples *fs = &all[ev].policy[vi * S];
        if (t < 0)
            sft = fs;
        else if (is_dpo(&p->stages[t]))
            arm[0] = fs;
        else if (v == 0)
            arm[1] = fs;
        else if (v == 1)
            arm[2] = fs;
    }
    int ppo_arms = arm[1] && arm[2];
    cJSON *res = rp_metadata(r), *splits = cJSON_AddArrayToObject(res, RS_SPLITS);
    for (int g = -1; g < sft->n_groups; g++) {
        cJSON *o = g < 0 ? cJSON_AddObjectToObject(res, RS_AVERAGE) : cJSON_CreateObject();
        cJSON_AddStringToObject(o, RS_SPLIT, g < 0 ? "average" : sft->group_name[g]);
        int n = 0;
        for (int q = 0; q < sft->n_q; q++)
            n += g < 0 || sft->qgroup[q] == g;
        cJSON_AddNumberToObject(o, RS_N, n);
        cJSON_AddNumberToObject(o, RS_SFT, accuracy(sft, g));
        for (int a = 0; a < 3; a++) {
            if (!arm[a]) continue;
            double acc[64];
            for (int k = 0; k < S && k < 64; k++)
                acc[k] = accuracy(&arm[a][k], g);
            cJSON_AddItemToObject(o, ARM_KEYS[a], rp_summary(acc, S));
        }
        if (g >= 0 && ppo_arms)
            cJSON_AddItemToObject(o, RS_PPO_DIFF, paired_diff(arm[1], arm[2], S, g));
        if (g >= 0) {
            cJSON_AddBoolToObject(o, RS_IN_DISTRIBUTION, in_distribution(sft->group_name[g]));
            cJSON_AddItemToArray(splits, o);
        }
    }
    cJSON_AddStringToObject(res, "average_weighting",
                            "every question once: the benchmarks weighted by their size, as the "
                            "paper averages");
    if (ppo_arms) { /* paired by seed: the two arms share the seed's pairs and policy */
        double g1[64], b1[64], diff[64];
        for (int k = 0; k < S && k < 64; k++)
            g1[k] = accuracy(&arm[2][k], -1), b1[k] = accuracy(&arm[1][k], -1),
            diff[k] = g1[k] - b1[k];
        cJSON *d = rp_summary(diff, S);
        gc_ttest tt = {.p = NAN};
        if (S >= 2) gc_stats_ttest_paired(g1, b1, (size_t)S, &tt);
        cJSON_AddNumberToObject(d, RS_SD, math_sample_sd(diff, S));
        cJSON_AddNumberToObject(d, RS_SEEDS, S);
        cJSON_AddStringToObject(d, RS_TEST, "paired t-test over seeds");
        cJSON_AddNumberToObject(d, RS_P, tt.p);
        cJSON_AddItemToObject(res, RS_PPO_DIFF, d);
    }
    if (ppo_arms && arm[0]) {
        cJSON *o = cJSON_AddObjectToObject(res, RS_DPO_VS_PPO);
        for (int part = 0; part < 2; part++) {
            double x[64];
            int any = 0;
            for (int q = 0; q < sft->n_q; q++)
                any |= in_distribution(sft->group_name[sft->qgroup[q]]) == !part;
            for (int k = 0; k < S && k < 64; k++)
                x[k] = accuracy(&arm[0][k], -2 - part) - accuracy(&arm[2][k], -2 - part);
            if (any) cJSON_AddItemToObject(o, part ? RS_OOD : RS_ID, rp_summary(x, S));
        }
    }
    /* the reward models' AUROC over the score stage's items (the baseline verifies) */
    cJSON *ra = cJSON_AddObjectToObject(res, RS_RM_AUROC);
    double *x = gc_malloc(sizeof(double) * (size_t)(items->n ? items->n : 1));
    gc_status s = x ? GC_OK : GC_ERR_NOMEM;
    for (int v = 0; s == GC_OK && v < 2; v++) {
        double auc[64];
        for (int k = 0; k < S && k < 64; k++) {
            const float *rw = rewards[v * S + k];
            for (int i = 0; rw && i < items->n; i++)
                x[i] = rw[i];
            if (!rw || gc_stats_auroc(x, items->correct, (size_t)items->n, &auc[k]) != GC_OK)
                auc[k] = NAN;
        }
        cJSON_AddItemToObject(ra, FULL_VARIANTS[v].name, rp_summary(auc, S));
    }
    free(x);
    cJSON_AddStringToObject(ra, "items", score->name);
    /* the training curves */
    cJSON *dt = cJSON_AddArrayToObject(res, RS_DPO_TRAINING),
          *pt = cJSON_AddArrayToObject(res, RS_PPO_TRAINING);
    for (int k = 1; dpo >= 0 && k <= S; k++) {
        char path[RP_PATH];
        cJSON *info = NULL, *c = cJSON_CreateObject();
        rp_stage_file(all[dpo].inst[k - 1], "info.json", path);
        cJSON_AddNumberToObject(c, "seed", k);
        if (gc_json_read(path, &info) == GC_OK && gc_json_get(info, RS_EPOCHS))
            cJSON_AddItemToObject(c, RS_EPOCHS, cJSON_Duplicate(gc_json_get(info, RS_EPOCHS), 1));
        cJSON_Delete(info);
        cJSON_AddItemToArray(dt, c);
    }
    for (int v = 0; ppo >= 0 && v < NV; v++)
        for (int k = 1; k <= S; k++) {
            const rp_stage *in = all[ppo].inst[v * S + k - 1];
            if (!in) continue;
            char path[RP_PATH];
            cJSON *its = NULL, *c = cJSON_CreateObject();
            rp_stage_file(in, "curve.json", path);
            if (s == GC_OK) s = gc_json_read(path, &its);
            cJSON_AddStringToObject(c, RS_VARIANT, FULL_VARIANTS[v].name);
            cJSON_AddNumberToObject(c, "seed", k);
            if (its) math_table2_summarise_run(its, c);
            cJSON_AddItemToObject(c, "iterations", its ? its : cJSON_CreateArray());
            cJSON_AddItemToArray(pt, c);
        }
    if (s == GC_OK && ppo >= 0) s = math_table2_ppo_curves(r, pt);
    if (!ppo_arms)
        cJSON_AddStringToObject(res, RS_NOT_BUILT,
                                "the PPO arms (the evaluation has no <ppo>-baseline and "
                                "<ppo>-goal policies)");
    if (s != GC_OK) {
        cJSON_Delete(res);
        return s;
    }
    return rp_finish(r, res, math_table2_write_dat, NULL, NULL, math_table2_print);
}
