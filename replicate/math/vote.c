/* vote: the table1 analysis, majority voting with Q-value filtering (PAPER.md section 4).
 *
 * Stages:
 *   vote-samples          M solutions per evaluation question of the chosen splits, sampled by
 *                         the policy (offline: every solution runs to its end)
 *   qlows-<variant>-seed<k>  per solution, the record lows of its Q-values cos(h_j, g) over its
 *                         generated tokens from `skip` on, under that reward model (lib/rm/vote.h):
 *                         enough to find the cut for any tau
 *   online-<variant>      the first online_questions questions sampled twice in one process,
 *                         plainly and with the seed-1 reward model watching and stopping each
 *                         solution at its cut: the wall time and tokens the filter really saves
 * Analysis, per variant and seed, at the configured tau and over the tau sweep: majority-vote
 * accuracy with and without filtering, % of solutions filtered, % of generated tokens saved;
 * tests on the per-question proportion of correct voters (filtered: averaged over seeds) against
 * the unfiltered one: Student's unpaired t-test (the authors' choice), the paired t-test, and a
 * percentile bootstrap CI of the paired mean difference. Online: the measured savings, and how
 * often the online cut equals the offline one.
 *
 * Scale section "vote": splits (default every split), samples (M), temperature, top_p, seed,
 * tau, skip, taus (sweep points on the cosine scale), tau_quantiles (sweep points where tau is
 * the q-quantile of each RM's per-solution minimum Q-value, so that a share q of the solutions
 * is cut: comparable across RMs whose Q-values live on different ranges), online_questions (0 =
 * no online run), bootstrap, variants (the
 * reward models to filter with; default all), goal ("last":
 * the reward model's goal state; "random": the ablation's goal from a random response token,
 * stage goalrand-*).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/config.h"
#include "lib/util/jsonio.h"
#include "lib/tasks/mathpipe.h"
#include "lib/stats/stats.h"
#include "lib/rm/vote.h"
#include "replicate/claims/claims.h"
#include "replicate/runner/results.h"
#include "analyses.h"
#include "diagnostics.h"
#include "resumable.h"
#include "replicate/claims/schema.h"

#define MAX_TAUS MATH_MAX_TAUS

typedef struct {
    int64_t samples, seed, skip, online_questions, bootstrap;
    double temperature, top_p, tau;
    int goal; /* 0: the goal state from the last token, 1: from a random response token */
    const cJSON *splits, *taus, *quantiles, *variants;
    double tau_list[MAX_TAUS], q_list[MAX_TAUS]; /* the sweep: absolute taus, then quantiles */
    int n_taus, n_q;
} vote_cfg;

static const gc_cfg_field vote_f[] = {
    {"samples", GC_CFG_INT, offsetof(vote_cfg, samples), 1, 1, 1024, NULL},
    {"seed", GC_CFG_INT, offsetof(vote_cfg, seed), 0, 0, 1e12, NULL},
    {"skip", GC_CFG_INT, offsetof(vote_cfg, skip), 0, 0, 1 << 20, NULL},
    {"online_questions", GC_CFG_INT, offsetof(vote_cfg, online_questions), 0, 0, 1e6, NULL},
    {"bootstrap", GC_CFG_INT, offsetof(vote_cfg, bootstrap), 0, 100, 100000, NULL},
    {"temperature", GC_CFG_FLOAT, offsetof(vote_cfg, temperature), 1, 1e-3, 10, NULL},
    {"top_p", GC_CFG_FLOAT, offsetof(vote_cfg, top_p), 0, 1e-3, 1, NULL},
    {"tau", GC_CFG_FLOAT, offsetof(vote_cfg, tau), 0, -1, 1, NULL},
    {"goal", GC_CFG_ENUM, offsetof(vote_cfg, goal), 0, 0, 0, "last|random"},
    {"splits", GC_CFG_ARRAY, offsetof(vote_cfg, splits), 0, 0, 0, NULL},
    {"taus", GC_CFG_ARRAY, offsetof(vote_cfg, taus), 0, 0, 0, NULL},
    {"tau_quantiles", GC_CFG_ARRAY, offsetof(vote_cfg, quantiles), 0, 0, 0, NULL},
    {"variants", GC_CFG_ARRAY, offsetof(vote_cfg, variants), 0, 0, 0, NULL},
};

gc_status math_read_points(const gc_config *cf, const cJSON *a, const char *key, double lo,
                           double hi, int open, double *out, int *n) {
    int ok = !a || cJSON_GetArraySize(a) <= MAX_TAUS;
    for (const cJSON *e = ok && a ? a->child : NULL; e && ok; e = e->next) {
        double v = e->valuedouble;
        ok = cJSON_IsNumber(e) && (open ? v > lo && v < hi : v >= lo && v <= hi);
        out[(*n)++] = v;
    }
    if (!ok)
        return gc_config_fail(cf, key, "expected an array of at most %d numbers in %s%g, %g%s",
                              MAX_TAUS, open ? "(" : "[", lo, hi, open ? ")" : "]");
    return GC_OK;
}

static gc_status read_vote(const math_ctx *m, const cJSON *section, const char *path,
                           vote_cfg *vc) {
    const gc_config *cf = &m->r->cfg;
    char key[160];
    *vc = (vote_cfg){.seed = 1, .skip = 5, .bootstrap = 1000, .top_p = 1.0, .tau = 0.0};
    GC_TRY(gc_config_read(cf, section, path, vote_f, GC_CFG_COUNT(vote_f), vc));
    if (vc->splits) {
        snprintf(key, sizeof key, "%s.splits", path);
        GC_TRY(math_check_splits(m, vc->splits, key));
    }
    snprintf(key, sizeof key, "%s.variants", path);
    int okv = !vc->variants || cJSON_GetArraySize(vc->variants) > 0;
    for (const cJSON *e = okv && vc->variants ? vc->variants->child : NULL; e && okv; e = e->next) {
        okv = 0;
        for (int k = 0; k < m->c.n_variants && cJSON_IsString(e); k++)
            okv |= !strcmp(e->valuestring, m->c.variant[k].name);
    }
    if (!okv) return gc_config_fail(cf, key, "expected an array of reward-model variant names");
    snprintf(key, sizeof key, "%s.taus", path);
    GC_TRY(math_read_points(cf, vc->taus, key, -1, 1, 0, vc->tau_list, &vc->n_taus));
    snprintf(key, sizeof key, "%s.tau_quantiles", path);
    return math_read_points(cf, vc->quantiles, key, 0, 1, 1, vc->q_list, &vc->n_q);
}

/* The typed vote section without the keys that only the analysis reads (the sweep, the
 * bootstrap): what a sampling or filtering stage's key hashes. */
static cJSON *vote_key(const vote_cfg *vc) {
    cJSON *k = gc_config_to_json(vote_f, GC_CFG_COUNT(vote_f), vc);
    cJSON_DeleteItemFromObjectCaseSensitive(k, "taus");
    cJSON_DeleteItemFromObjectCaseSensitive(k, "tau_quantiles");
    cJSON_DeleteItemFromObjectCaseSensitive(k, "bootstrap");
    return k;
}

/* Whether the vote analysis covers variant v (vote.variants; default all). */
static int vote_covers(const math_ctx *m, const vote_cfg *vc, int v) {
    if (!vc->variants) return 1;
    for (const cJSON *e = vc->variants->child; e; e = e->next)
        if (!strcmp(e->valuestring, m->c.variant[v].name)) return 1;
    return 0;
}

/* ---- the solutions ---- */

typedef struct {
    int n_q, M;            /* questions, samples each */
    const char **question; /* (n_q) */
    int64_t *answer;       /* (n_q) */
    char **text;           /* (n_q * M) responses */
    gc_vote_sample *smp;   /* (n_q * M) answers and generated tokens; cut set per use */
    int *plen;             /* (n_q) prompt tokens */
    int max_len;
} vote_set;

gc_status math_qlows_init(math_qlows *l, int n) {
    *l = (math_qlows){.n = n};
    l->n_low = gc_calloc((size_t)(n ? n : 1), sizeof(int));
    l->off = gc_calloc((size_t)(n ? n : 1), sizeof(int64_t));
    return l->n_low && l->off ? GC_OK : GC_ERR_NOMEM;
}

gc_status math_qlows_add(math_qlows *l, int item, const int *j, const float *q, int k) {
    if (l->used + k > l->cap) {
        int64_t cap = l->cap * 2 > l->used + k ? l->cap * 2 : l->used + k + 1024;
        int *nj = realloc(l->low_j, sizeof(int) * (size_t)cap);
        if (nj) l->low_j = nj;
        float *nq = realloc(l->low_q, sizeof(float) * (size_t)cap);
        if (nq) l->low_q = nq;
        if (!nj || !nq) return gc_fail(GC_ERR_NOMEM, "Q-value lows: out of memory");
        l->cap = cap;
    }
    l->off[item] = l->used, l->n_low[item] = k;
    if (k == 0) return GC_OK; /* nothing to copy (and the arrays may not exist yet) */
    memcpy(l->low_j + l->used, j, sizeof(int) * (size_t)k);
    memcpy(l->low_q + l->used, q, sizeof(float) * (size_t)k);
    l->used += k;
    return GC_OK;
}

void math_qlows_free(math_qlows *l) {
    free(l->n_low), free(l->off), free(l->low_j), free(l->low_q);
    memset(l, 0, sizeof *l);
}

int math_qlows_cut(const math_qlows *l, int item, float tau) {
    return gc_vote_cut(l->low_j + l->off[item], l->low_q + l->off[item], l->n_low[item], tau);
}

static void vote_set_free(vote_set *v) {
    for (int i = 0; v->text && i < v->n_q * v->M; i++)
        free(v->text[i]);
    free(v->question), free(v->answer), free(v->text), free(v->smp), free(v->plen);
    memset(v, 0, sizeof *v);
}

/* Generated tokens of a response as sampled with max_len: its text, plus the EOS unless the
 * sample stopped at the length limit (gc_math_sample leaves one token for the EOS). */
static int generated_tokens(int plen, int n_text, int max_len) {
    return n_text + (plen + n_text < max_len - 1);
}

typedef struct {
    math_ctx *m;
    const vote_cfg *vc;
    const int *qidx;
    vote_set *v;
} samples_job;

static gc_status compute_samples(rp_stage *st, void *ctx) {
    samples_job *job = ctx;
    vote_set *v = job->v;
    const vote_cfg *vc = job->vc;
    gc_model pm;
    GC_TRY(math_load_policy(job->m, &pm));
    gc_sample_config sc = {
        (float)vc->temperature, (float)vc->top_p, (uint64_t)vc->seed, v->max_len, 64, NULL};
    gc_log_info("vote: sampling %d solutions for each of %d questions", v->M, v->n_q);
    int64_t ntok = 0;
    gc_status s = math_sample_ckpt(st, &pm, (const char *const *)v->question, v->n_q, v->M, &sc,
                                   v->text, &ntok);
    gc_model_free(&pm);
    GC_TRY(s);
    int total = v->n_q * v->M;
    char path[RP_PATH];
    rp_stage_file(st, "samples.json", path);
    cJSON *j = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(j, "response");
    cJSON *qs = cJSON_AddArrayToObject(j, "question_index");
    for (int i = 0; i < total; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v->text[i]));
    for (int q = 0; q < v->n_q; q++)
        cJSON_AddItemToArray(qs, cJSON_CreateNumber(job->qidx[q]));
    cJSON_AddStringToObject(j, "layout", "question-major: response[q * samples + i]");
    s = gc_json_write(path, j);
    cJSON_Delete(j);
    for (int i = 0; i < total; i++)
        free(v->text[i]), v->text[i] = NULL; /* load reads them back */
    GC_TRY(s);
    st->info = cJSON_CreateObject();
    cJSON_AddNumberToObject(st->info, "generated_tokens", (double)ntok);
    cJSON_AddNumberToObject(st->info, RS_WALL_S, gc_now() - st->t0);
    return GC_OK;
}

/* Reads the array `key` of a stage's JSON file, which must hold one entry per solution (total),
 * handing entry k to fn; an error naming the file when it holds another number. */
static gc_status read_per_solution(const rp_stage *st, const char *file, const char *key, int total,
                                   void (*fn)(const cJSON *e, int k, void *ctx), void *ctx) {
    char path[RP_PATH];
    rp_stage_file(st, file, path);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, key);
    int k = 0;
    for (const cJSON *e = cJSON_IsArray(a) ? a->child : NULL; e && k < total; e = e->next)
        fn(e, k++, ctx);
    gc_status s = GC_OK;
    if (k != total || cJSON_GetArraySize(a) != total)
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: '%s' should hold %d solutions (delete the cache directory to "
                    "recompute)",
                    path, key, total);
    cJSON_Delete(j);
    return s;
}

static void sample_entry(const cJSON *e, int k, void *ctx) {
    ((vote_set *)ctx)->text[k] = strdup(cJSON_IsString(e) ? e->valuestring : "");
}

static gc_status load_samples(const rp_stage *st, void *ctx) {
    vote_set *v = ((samples_job *)ctx)->v;
    return read_per_solution(st, "samples.json", "response", v->n_q * v->M, sample_entry, v);
}

static const rp_stage_def SAMPLES = {"vote-samples", __FILE__, compute_samples, load_samples};

static gc_status stage_samples(math_ctx *m, const vote_cfg *vc, const int *qidx, vote_set *v,
                               rp_stage **out) {
    cJSON *key = cJSON_CreateObject();
    cJSON_AddItemToObject(key, RS_SPLITS,
                          vc->splits ? cJSON_Duplicate(vc->splits, 1) : cJSON_CreateNull());
    cJSON_AddNumberToObject(key, RS_SAMPLES, (double)vc->samples);
    cJSON_AddNumberToObject(key, RS_TEMPERATURE, vc->temperature);
    cJSON_AddNumberToObject(key, "top_p", vc->top_p);
    cJSON_AddNumberToObject(key, "seed", (double)vc->seed);
    cJSON_AddNumberToObject(key, "max_len", (double)m->c.eval.max_len);
    samples_job job = {m, vc, qidx, v};
    return rp_stage_run(m->r, &SAMPLES, "vote-samples", key, &m->pol, 1, &job, out);
}

/* ---- the goal-state ablation: built from a random response token ---- */

typedef struct {
    uint64_t seed;
    gc_goal *g;
} goal_ctx;

static gc_status goal_item(void *ctx, int item, const float *h, const float *logits,
                           const int32_t *tok, int prompt_len, int len) {
    (void)logits, (void)tok;
    goal_ctx *gc = ctx;
    gc_rng r;
    gc_rng_init(&r, gc->seed, gc_rng_stream(GC_STREAM_GOAL_TOKEN, (uint64_t)item));
    int n = len - prompt_len;
    gc_goal_add(gc->g, h + (size_t)(prompt_len + (int)gc_rng_below(&r, (uint32_t)n)) * gc->g->D);
    return GC_OK;
}

typedef struct {
    math_ctx *m;
    const rp_stage *rmst;
    const vote_cfg *vc;
} goalrand_job;

static gc_status compute_goalrand(rp_stage *st, void *ctx) {
    goalrand_job *job = ctx;
    math_ctx *m = job->m;
    gc_rm rm;
    GC_TRY(math_load_rm(job->rmst, &rm));
    int D = rm.model.cfg.dim;
    float *goal = gc_malloc(sizeof(float) * D);
    gc_goal g = {0};
    gc_status s = goal ? gc_goal_init(&g, D) : GC_ERR_NOMEM;
    goal_ctx gcx = {(uint64_t)job->vc->seed, &g};
    if (s == GC_OK)
        s = gc_math_hidden_each(&rm.model, 0, (const char *const *)m->pairs.prompt,
                                (const char *const *)m->pairs.chosen, m->pairs.n,
                                (int)m->c.eval.max_len, 32, goal_item, &gcx);
    if (s == GC_OK) s = gc_goal_mean(&g, goal);
    if (s == GC_OK)
        s = math_write_goal(st, goal, D,
                            "mean final hidden state at one uniformly drawn response "
                            "token of each preferred training response");
    gc_goal_free(&g);
    free(goal);
    gc_rm_free(&rm);
    return s;
}

static const rp_stage_def GOALRAND = {"goalrand", __FILE__, compute_goalrand, NULL};

/* The stage whose goal.json the filter uses for reward model rmst: the rm stage's own (last
 * token), or, for the ablation, the mean over the preferred training responses of the hidden
 * state at one uniformly drawn response token each (stage goalrand-*, seeded by the vote seed). */
static gc_status goal_stage(math_ctx *m, const rp_stage *rmst, const vote_cfg *vc, rp_stage **out) {
    if (vc->goal == 0) return *out = (rp_stage *)rmst, GC_OK;
    char name[96];
    snprintf(name, sizeof name, "goalrand-%s", rmst->name + 3);
    cJSON *key = cJSON_CreateObject();
    cJSON_AddNumberToObject(key, "seed", (double)vc->seed);
    goalrand_job job = {m, rmst, vc};
    rp_stage *in[2] = {(rp_stage *)rmst, m->pst};
    return rp_stage_run(m->r, &GOALRAND, name, key, in, 2, &job, out);
}

/* ---- Q-value record lows under one reward model ---- */

typedef struct {
    math_qlows ql;
    int cap, skip, max_len;
    const gc_rm *rm;
    const float *goal;
    float *q, *low_q; /* (cap) scratch */
    int *low_j;       /* (cap) scratch */
    int failed;       /* loading ran out of memory */
} lows;

static gc_status lows_item(void *ctx, int item, const float *h, const float *logits,
                           const int32_t *tok, int prompt_len, int len) {
    (void)logits, (void)tok;
    lows *l = ctx;
    int D = l->rm->model.cfg.dim, n_text = len - prompt_len - 1;
    /* watched tokens: every sampled one but the last (lib/model/generate.h) */
    int n_watch = generated_tokens(prompt_len, n_text, l->max_len) - 1;
    for (int j = 0; j < n_watch; j++)
        l->q[j] = gc_qvalue(h + (size_t)(prompt_len + j) * D, l->goal, D);
    int k = gc_vote_record_lows(l->q, n_watch, l->skip, l->low_j, l->low_q);
    return math_qlows_add(&l->ql, item, l->low_j, l->low_q, k);
}

typedef struct {
    const rp_stage *rmst, *goalst;
    const vote_set *v;
    lows *l;
} lows_job;

static gc_status compute_lows(rp_stage *st, void *ctx) {
    lows_job *job = ctx;
    const vote_set *v = job->v;
    lows *l = job->l;
    int total = v->n_q * v->M;
    gc_rm rm;
    GC_TRY(math_load_rm(job->rmst, &rm));
    float *goal = gc_malloc(sizeof(float) * rm.model.cfg.dim);
    const char **qs = gc_malloc(sizeof(char *) * (total ? total : 1));
    gc_status s = goal && qs ? math_read_goal(job->goalst, rm.model.cfg.dim, goal) : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < total; i++)
        qs[i] = v->question[i / v->M];
    l->rm = &rm, l->goal = goal;
    if (s == GC_OK)
        s = gc_math_hidden_each(&rm.model, 0, qs, (const char *const *)v->text, total, v->max_len,
                                32, lows_item, l);
    l->rm = NULL, l->goal = NULL;
    gc_rm_free(&rm);
    free(goal), free(qs);
    GC_TRY(s);
    char path[RP_PATH];
    rp_stage_file(st, "lows.json", path);
    cJSON *j = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(j, "lows");
    cJSON_AddStringToObject(j, "layout",
                            "per solution (question-major): [j0, q0, j1, q1, ...], "
                            "the record lows of its Q-values from skip on");
    for (int k = 0; k < total; k++) {
        cJSON *e = cJSON_CreateArray();
        for (int i = 0; i < l->ql.n_low[k]; i++) {
            cJSON_AddItemToArray(e, cJSON_CreateNumber(l->ql.low_j[l->ql.off[k] + i]));
            cJSON_AddItemToArray(e, cJSON_CreateNumber(l->ql.low_q[l->ql.off[k] + i]));
        }
        cJSON_AddItemToArray(a, e);
    }
    s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

static void lows_entry(const cJSON *e, int k, void *ctx) {
    lows *l = ctx;
    int i = 0;
    for (const cJSON *x = e->child; x && x->next && i < l->cap; x = x->next->next, i++)
        l->low_j[i] = x->valueint, l->low_q[i] = (float)x->next->valuedouble;
    if (math_qlows_add(&l->ql, k, l->low_j, l->low_q, i) != GC_OK) l->failed = 1;
}

static gc_status load_lows(const rp_stage *st, void *ctx) {
    lows_job *job = ctx;
    job->l->ql.used = 0; /* read over what the computation put there */
    GC_TRY(read_per_solution(st, "lows.json", "lows", job->v->n_q * job->v->M, lows_entry, job->l));
    return job->l->failed ? GC_ERR_NOMEM : GC_OK;
}

static const rp_stage_def LOWS = {"qlows", __FILE__, compute_lows, load_lows};

static gc_status stage_lows(math_ctx *m, const rp_stage *rmst, const rp_stage *samples,
                            const vote_cfg *vc, const vote_set *v, lows *l) {
    rp_stage *goalst;
    GC_TRY(goal_stage(m, rmst, vc, &goalst));
    char name[96];
    snprintf(name, sizeof name, "qlows-%s", rmst->name + 3);
    cJSON *key = cJSON_CreateObject();
    cJSON_AddNumberToObject(key, RS_SKIP, (double)vc->skip);
    lows_job job = {rmst, goalst, v, l};
    rp_stage *in[3] = {(rp_stage *)rmst, (rp_stage *)samples, goalst};
    return rp_stage_run(m->r, &LOWS, name, key, in, 3, &job, NULL);
}

/* ---- online filtering ---- */

typedef struct {
    math_ctx *m;
    const rp_stage *rmst, *goalst;
    const vote_cfg *vc;
    const vote_set *v;
    int variant;
    cJSON *doc; /* online.json, read back */
} online_job;

static gc_status compute_online(rp_stage *st, void *ctx) {
    online_job *job = ctx;
    math_ctx *m = job->m;
    const vote_cfg *vc = job->vc;
    const vote_set *v = job->v;
    int nq = (int)(vc->online_questions < v->n_q ? vc->online_questions : v->n_q), n = nq * v->M;
    gc_model pm;
    GC_TRY(math_load_policy(m, &pm));
    gc_rm rm;
    gc_status s = math_load_rm(job->rmst, &rm);
    if (s != GC_OK) {
        gc_model_free(&pm);
        return s;
    }
    float *goal = gc_malloc(sizeof(float) * rm.model.cfg.dim);
    char **t0 = gc_calloc((size_t)(n ? n : 1), sizeof(char *));
    char **t1 = gc_calloc((size_t)(n ? n : 1), sizeof(char *));
    int *cut = gc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    s = goal && t0 && t1 && cut ? math_read_goal(job->goalst, rm.model.cfg.dim, goal)
                                : GC_ERR_NOMEM;
    gc_sample_config sc = {
        (float)vc->temperature, (float)vc->top_p, (uint64_t)vc->seed, v->max_len, 64, NULL};
    gc_qfilter f = {&rm, goal, (float)vc->tau, (int)vc->skip};
    int64_t tok0 = 0, tok1 = 0;
    double w0 = 0, w1 = 0;
    gc_log_info("vote: online filtering with the %s RM on %d questions",
                m->c.variant[job->variant].name, nq);
    if (s == GC_OK) {
        double t = gc_now();
        s = gc_math_sample(&pm, (const char *const *)v->question, nq, v->M, &sc, t0, &tok0);
        w0 = gc_now() - t;
    }
    if (s == GC_OK) {
        double t = gc_now();
        s = gc_math_sample_filtered(&pm, &f, (const char *const *)v->question, nq, v->M, &sc, t1,
                                    cut, &tok1);
        w1 = gc_now() - t;
    }
    int prefix_ok = 1;
    for (int i = 0; s == GC_OK && i < n; i++)
        prefix_ok &= !strncmp(t0[i], t1[i], strlen(t1[i])); /* same streams: a prefix */
    if (s == GC_OK) {
        char path[RP_PATH];
        rp_stage_file(st, "online.json", path);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, RS_QUESTIONS, nq);
        cJSON_AddNumberToObject(j, RS_WALL_S_UNFILTERED, w0);
        cJSON_AddNumberToObject(j, RS_WALL_S_FILTERED, w1);
        cJSON_AddNumberToObject(j, RS_TOKENS_UNFILTERED, (double)tok0);
        cJSON_AddNumberToObject(j, RS_TOKENS_FILTERED, (double)tok1);
        cJSON_AddBoolToObject(j, RS_FILTERED_ARE_PREFIXES, prefix_ok);
        cJSON *c = cJSON_AddArrayToObject(j, RS_CUT);
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(c, cJSON_CreateNumber(cut[i]));
        s = gc_json_write(path, j);
        cJSON_Delete(j);
    }
    for (int i = 0; i < n; i++)
        free(t0 ? t0[i] : NULL), free(t1 ? t1[i] : NULL);
    free(t0), free(t1), free(cut), free(goal);
    gc_rm_free(&rm);
    gc_model_free(&pm);
    return s;
}

static gc_status load_online(const rp_stage *st, void *ctx) {
    char path[RP_PATH];
    rp_stage_file(st, "online.json", path);
    return gc_json_read(path, &((online_job *)ctx)->doc);
}

static const rp_stage_def ONLINE = {"online", __FILE__, compute_online, load_online};

/* The first online_questions questions sampled twice in one process, plainly and with the seed-1
 * reward model of the variant stopping each solution at its cut; *out: online.json. */
static gc_status stage_online(math_ctx *m, int variant, const vote_cfg *vc, const vote_set *v,
                              cJSON **out) {
    const rp_stage *rmst = math_rm_stage(m, variant, 1);
    rp_stage *goalst;
    GC_TRY(goal_stage(m, rmst, vc, &goalst));
    char name[96];
    snprintf(name, sizeof name, "online-%s", m->c.variant[variant].name);
    cJSON *key = vote_key(vc);
    cJSON_AddNumberToObject(key, "max_len", v->max_len);
    online_job job = {m, rmst, goalst, vc, v, variant, NULL};
    rp_stage *in[3] = {m->pol, (rp_stage *)rmst, goalst};
    GC_TRY(rp_stage_run(m->r, &ONLINE, name, key, in, 3, &job, NULL));
    *out = job.doc;
    return GC_OK;
}

/* ---- analysis ---- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The threshold that cuts a share q of the solutions: the q-quantile of their minimum Q-values
 * (from skip on; a solution without any counts as +infinity, never cut). */
static double tau_at_quantile(const math_qlows *l, double q) {
    int total = l->n;
    double *mins = malloc(sizeof(double) * (total ? total : 1));
    if (!mins) return NAN;
    for (int k = 0; k < total; k++)
        mins[k] = l->n_low[k] ? l->low_q[l->off[k] + l->n_low[k] - 1] : INFINITY;
    qsort(mins, (size_t)total, sizeof(double), cmp_double);
    double pos = q * (total - 1), lo = mins[(int)floor(pos)], hi = mins[(int)ceil(pos)];
    double tau = lo + (pos - floor(pos)) * (hi - lo);
    free(mins);
    return nextafter(tau, INFINITY); /* cut Q < tau: the quantile itself is cut */
}

typedef struct {
    double accuracy, filtered_pct, saved_pct;
} vote_summary;

/* Votes every question with the cuts for tau (tau = NAN: no filtering); prop (n_q) may be NULL. */
static vote_summary vote_all(const math_vote_set *v, const math_qlows *l, double tau,
                             double *prop) {
    int64_t gen = 0, saved = 0;
    int filtered = 0;
    double acc = 0;
    for (int q = 0; q < v->n_q; q++) {
        gc_vote_sample *s = v->smp + (size_t)q * v->M;
        for (int i = 0; i < v->M; i++)
            s[i].cut = isnan(tau) ? -1 : math_qlows_cut(l, q * v->M + i, (float)tau);
        gc_vote_result r;
        gc_vote_question(s, v->M, v->answer[q], &r);
        acc += r.correct, gen += r.generated, saved += r.saved, filtered += r.filtered;
        if (prop) prop[q] = r.prop_correct;
    }
    return (vote_summary){acc / v->n_q, 100.0 * filtered / (v->n_q * v->M),
                          gen ? 100.0 * saved / gen : 0};
}

static cJSON *ttest_json(const gc_ttest *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, RS_MEAN_DIFF, t->mean_diff);
    cJSON_AddNumberToObject(o, RS_T, t->t);
    cJSON_AddNumberToObject(o, RS_DF, t->df);
    cJSON_AddNumberToObject(o, RS_P, t->p);
    return o;
}

/* The instrument's quality: AUROC of each sample's minimum Q-value (from skip on; none: 2, above
 * any cosine) as a classifier of correct samples, per seed; NAN when one class is missing. */
static void min_q_auroc(const math_vote_set *v, const math_qlows *l, int seeds, double *auc) {
    int total = v->n_q * v->M;
    double *sc = gc_malloc(sizeof(double) * (total ? total : 1));
    int *y = gc_malloc(sizeof(int) * (total ? total : 1));
    for (int s = 0; s < seeds; s++) {
        auc[s] = NAN;
        if (!sc || !y) continue;
        for (int k = 0; k < total; k++) {
            const math_qlows *ls = &l[s];
            sc[k] = ls->n_low[k] ? ls->low_q[ls->off[k] + ls->n_low[k] - 1] : 2.0;
            y[k] = v->smp[k].has_answer && v->smp[k].answer == v->answer[k / v->M];
        }
        if (gc_stats_auroc(sc, y, (size_t)total, &auc[s]) != GC_OK) auc[s] = NAN;
    }
    free(sc), free(y);
}

static cJSON *analyse_variant(const math_vote_in *in, int variant, const math_vote_set *v,
                              const double *prop0, cJSON *online) {
    int seeds = in->seeds, nq = v->n_q;
    const math_qlows *l = in->lows + variant * seeds;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, RS_VARIANT, in->names[variant]);
    double acc[64], filt[64], saved[64];
    double *prop = gc_calloc((size_t)nq, sizeof(double)), *one = gc_malloc(sizeof(double) * nq);
    double *diff = gc_malloc(sizeof(double) * nq);
    for (int s = 0; s < seeds; s++) {
        vote_summary vs = vote_all(v, &l[s], in->tau, one);
        acc[s] = vs.accuracy, filt[s] = vs.filtered_pct, saved[s] = vs.saved_pct;
        for (int q = 0; q < nq; q++)
            prop[q] += one[q] / seeds;
    }
    cJSON_AddItemToObject(o, RS_ACCURACY, rp_summary(acc, seeds));
    cJSON_AddItemToObject(o, RS_FILTERED_PCT, rp_summary(filt, seeds));
    cJSON_AddItemToObject(o, RS_SAVED_PCT, rp_summary(saved, seeds));
    double qa[64];
    min_q_auroc(v, l, seeds, qa);
    if (!isnan(qa[0])) cJSON_AddItemToObject(o, RS_MIN_Q_AUROC, rp_summary(qa, seeds));
    gc_ttest ti, tp;
    gc_stats_ttest_ind(prop, (size_t)nq, prop0, (size_t)nq, 1, &ti);
    gc_stats_ttest_paired(prop, prop0, (size_t)nq, &tp);
    cJSON_AddItemToObject(o, RS_TTEST_UNPAIRED, ttest_json(&ti));
    cJSON_AddItemToObject(o, RS_TTEST_PAIRED, ttest_json(&tp));
    for (int q = 0; q < nq; q++)
        diff[q] = prop[q] - prop0[q];
    double blo, bhi;
    gc_stats_mean_bootstrap(diff, (size_t)nq, (int)in->bootstrap, 0x701E, 0.95, &blo, &bhi);
    cJSON *b = cJSON_AddObjectToObject(o, RS_BOOTSTRAP_PAIRED);
    cJSON_AddNumberToObject(b, RS_MEAN_DIFF, tp.mean_diff);
    cJSON_AddNumberToObject(b, RS_LO, blo);
    cJSON_AddNumberToObject(b, RS_HI, bhi);
    cJSON *sw = cJSON_AddArrayToObject(o, RS_SWEEP);
    for (int t = 0; t < in->n_taus + in->n_quantiles; t++) {
        int quant = t >= in->n_taus;
        double a = 0, f = 0, sv = 0, tau_mean = 0;
        for (int s = 0; s < seeds; s++) {
            double tau =
                quant ? tau_at_quantile(&l[s], in->quantiles[t - in->n_taus]) : in->taus[t];
            vote_summary vs = vote_all(v, &l[s], tau, NULL);
            a += vs.accuracy / seeds, f += vs.filtered_pct / seeds, sv += vs.saved_pct / seeds;
            tau_mean += tau / seeds;
        }
        cJSON *e = cJSON_CreateObject();
        if (quant) cJSON_AddNumberToObject(e, RS_QUANTILE, in->quantiles[t - in->n_taus]);
        cJSON_AddNumberToObject(e, RS_TAU, tau_mean);
        cJSON_AddNumberToObject(e, RS_ACCURACY, a);
        cJSON_AddNumberToObject(e, RS_FILTERED_PCT, f);
        cJSON_AddNumberToObject(e, RS_SAVED_PCT, sv);
        cJSON_AddItemToArray(sw, e);
    }
    if (online) {
        /* the online cuts against the offline ones of the same (seed-1) reward model */
        const cJSON *cut = cJSON_GetObjectItem(online, RS_CUT);
        int n = cJSON_GetArraySize(cut), same = 0;
        for (int i = 0; i < n; i++)
            same +=
                math_qlows_cut(&l[0], i, (float)in->tau) == cJSON_GetArrayItem(cut, i)->valueint;
        cJSON_AddNumberToObject(online, RS_CUT_AGREEMENT_WITH_OFFLINE, n ? (double)same / n : 1);
        double w0 = cJSON_GetObjectItem(online, RS_WALL_S_UNFILTERED)->valuedouble;
        double w1 = cJSON_GetObjectItem(online, RS_WALL_S_FILTERED)->valuedouble;
        double k0 = cJSON_GetObjectItem(online, RS_TOKENS_UNFILTERED)->valuedouble;
        double k1 = cJSON_GetObjectItem(online, RS_TOKENS_FILTERED)->valuedouble;
        cJSON_AddNumberToObject(online, RS_WALL_SAVED_PCT, w0 > 0 ? 100 * (1 - w1 / w0) : 0);
        cJSON_AddNumberToObject(online, RS_TOKENS_SAVED_PCT, k0 > 0 ? 100 * (1 - k1 / k0) : 0);
        cJSON_DeleteItemFromObject(online, RS_CUT);
        cJSON_AddItemToObject(o, RS_ONLINE, online);
    }
    free(prop), free(one), free(diff);
    return o;
}

gc_status math_vote_results(const math_vote_in *in, const math_vote_set *v, cJSON *results,
                            char *vars, size_t cap) {
    double *prop0 = gc_malloc(sizeof(double) * (v->n_q ? v->n_q : 1));
    if (!prop0) return GC_ERR_NOMEM;
    vote_summary base = vote_all(v, NULL, NAN, prop0);
    cJSON *vr = cJSON_AddObjectToObject(results, RS_VOTE);
    cJSON_AddItemToObject(vr, RS_SPLITS,
                          in->splits ? cJSON_Duplicate(in->splits, 1) : cJSON_CreateString("all"));
    cJSON_AddNumberToObject(vr, RS_QUESTIONS, v->n_q);
    cJSON_AddNumberToObject(vr, RS_SAMPLES, v->M);
    cJSON_AddNumberToObject(vr, RS_TEMPERATURE, in->temperature);
    cJSON_AddNumberToObject(vr, RS_TAU, in->tau);
    cJSON_AddNumberToObject(vr, RS_SKIP, (double)in->skip);
    cJSON_AddStringToObject(vr, RS_GOAL_TOKEN, in->goal_token);
    cJSON_AddStringToObject(vr, RS_TIE_RULE, "expected value under a uniform random tie-break");
    cJSON *u = cJSON_AddObjectToObject(vr, RS_UNFILTERED);
    cJSON_AddNumberToObject(u, RS_ACCURACY, base.accuracy);
    double mp = 0;
    for (int q = 0; q < v->n_q; q++)
        mp += prop0[q] / v->n_q;
    cJSON_AddNumberToObject(u, RS_PROP_CORRECT, mp);
    cJSON *arr = cJSON_AddArrayToObject(vr, RS_VARIANTS);
    snprintf(vars, cap, "names='"); /* the variants filtered with, in the columns' order */
    for (int k = 0; k < in->n_variants; k++) {
        cJSON_AddItemToArray(arr,
                             analyse_variant(in, k, v, prop0, in->online ? in->online[k] : NULL));
        if (in->online) in->online[k] = NULL;
        snprintf(vars + strlen(vars), cap - strlen(vars), "%s%s", k ? " " : "", in->names[k]);
    }
    strncat(vars, "'", cap - strlen(vars) - 1);
    free(prop0);
    return GC_OK;
}

gc_status math_vote_plot_data(const char *path, const cJSON *results, const void *ctx) {
    (void)ctx;
    const cJSON *vr = cJSON_GetObjectItem(results, RS_VOTE),
                *vars = cJSON_GetObjectItem(vr, RS_VARIANTS);
    FILE *f = fopen(path, "w");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot write", path);
    fprintf(f, "# one row per sweep point (tau=T, or qQ: tau at the Q-quantile of the solutions' "
               "minimum Q-value): per variant the tokens saved %% and the voting accuracy, then "
               "the unfiltered accuracy; columns by name\npoint");
    for (const cJSON *v = vars->child; v; v = v->next)
        fprintf(f, " %s_%s %s_%s", cJSON_GetObjectItem(v, RS_VARIANT)->valuestring, RS_SAVED_PCT,
                cJSON_GetObjectItem(v, RS_VARIANT)->valuestring, RS_ACCURACY);
    fprintf(f, " %s_%s\n", RS_UNFILTERED, RS_ACCURACY);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(vars->child, RS_SWEEP));
    double acc0 =
        cJSON_GetObjectItem(cJSON_GetObjectItem(vr, RS_UNFILTERED), RS_ACCURACY)->valuedouble;
    for (int i = 0; i < n; i++) {
        const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(vars->child, RS_SWEEP), i);
        if (cJSON_GetObjectItem(p0, RS_QUANTILE))
            fprintf(f, "q%.2f", cJSON_GetObjectItem(p0, RS_QUANTILE)->valuedouble);
        else
            fprintf(f, "tau=%.2f", cJSON_GetObjectItem(p0, RS_TAU)->valuedouble);
        for (const cJSON *v = vars->child; v; v = v->next) {
            const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(v, RS_SWEEP), i);
            fprintf(f, " %.4f %.5f", cJSON_GetObjectItem(e, RS_SAVED_PCT)->valuedouble,
                    cJSON_GetObjectItem(e, RS_ACCURACY)->valuedouble);
        }
        fprintf(f, " %.5f\n", acc0);
    }
    return fclose(f) == 0 ? GC_OK : gc_fail(GC_ERR_IO, "%s: write failed", path);
}

/* o's centre (key `mid`), lo and hi, NaN where missing */
static void summary3(const cJSON *o, const char *mid, double out[3]) {
    out[0] = gc_json_num(o, mid, NAN);
    out[1] = gc_json_num(o, RS_LO, NAN);
    out[2] = gc_json_num(o, RS_HI, NAN);
}

void math_vote_print(const cJSON *results, FILE *f) {
    const cJSON *vr = cJSON_GetObjectItem(results, RS_VOTE);
    fprintf(f,
            "\nmajority voting, %d questions x %d solutions, tau %.2f (cosine), first %d tokens "
            "ignored, goal state from the %s token\nunfiltered accuracy %.3f\n",
            (int)gc_json_num(vr, RS_QUESTIONS, NAN), (int)gc_json_num(vr, RS_SAMPLES, NAN),
            gc_json_num(vr, RS_TAU, NAN), (int)gc_json_num(vr, RS_SKIP, NAN),
            cJSON_GetStringValue(cJSON_GetObjectItem(vr, RS_GOAL_TOKEN)),
            gc_json_num(gc_json_get(vr, RS_UNFILTERED), RS_ACCURACY, NAN));
    fprintf(f, "%-9s %-22s %-20s %-20s %-26s %9s %9s\n", "RM", "accuracy [CI]", "filtered %",
            "tokens saved %", "paired diff [bootstrap CI]", "p paired", "p unpair");
    for (const cJSON *v = cJSON_GetObjectItem(vr, RS_VARIANTS)->child; v; v = v->next) {
        double acc[3], filt[3], saved[3], diff[3];
        summary3(gc_json_get(v, RS_ACCURACY), RS_MEAN, acc);
        summary3(gc_json_get(v, RS_FILTERED_PCT), RS_MEAN, filt);
        summary3(gc_json_get(v, RS_SAVED_PCT), RS_MEAN, saved);
        summary3(gc_json_get(v, RS_BOOTSTRAP_PAIRED), RS_MEAN_DIFF, diff);
        fprintf(f,
                "%-9s %.3f [%.3f, %.3f]   %5.1f [%5.1f, %5.1f]  %5.1f [%5.1f, %5.1f]  "
                "%+.3f [%+.3f, %+.3f]    %9.3g %9.3g\n",
                cJSON_GetObjectItem(v, RS_VARIANT)->valuestring, acc[0], acc[1], acc[2], filt[0],
                filt[1], filt[2], saved[0], saved[1], saved[2], diff[0], diff[1], diff[2],
                gc_json_num(gc_json_get(v, RS_TTEST_PAIRED), RS_P, NAN),
                gc_json_num(gc_json_get(v, RS_TTEST_UNPAIRED), RS_P, NAN));
        const cJSON *on = cJSON_GetObjectItem(v, RS_ONLINE);
        if (on)
            fprintf(f,
                    "          online (seed 1, %d questions): tokens saved %.1f%%, wall time "
                    "saved %.1f%%, cuts equal to offline %.1f%%\n",
                    (int)gc_json_num(on, RS_QUESTIONS, NAN),
                    gc_json_num(on, RS_TOKENS_SAVED_PCT, NAN),
                    gc_json_num(on, RS_WALL_SAVED_PCT, NAN),
                    100 * gc_json_num(on, RS_CUT_AGREEMENT_WITH_OFFLINE, NAN));
    }
    claims_print_verdict(results, f);
}

gc_status math_analyse_vote(math_ctx *m, const cJSON *section, const char *path) {
    vote_cfg vc;
    GC_TRY(read_vote(m, section, path, &vc));
    int seeds = m->r->seeds, ne = (int)m->c.data.eval_questions;
    vote_set v = {0};
    v.M = (int)vc.samples;
    v.max_len = (int)m->c.eval.max_len;
    int *qidx = gc_malloc(sizeof(int) * m->eval.n);
    gc_status s = qidx ? GC_OK : GC_ERR_NOMEM;
    for (int q = 0; s == GC_OK && q < m->eval.n; q++) {
        const char *split = gc_task_split_name(m->c.splits[q / ne]);
        int in = !vc.splits;
        for (const cJSON *e = vc.splits ? vc.splits->child : NULL; e && !in; e = e->next)
            in = !strcmp(e->valuestring, split);
        if (in) qidx[v.n_q++] = q;
    }
    int total = v.n_q * v.M, cap = v.max_len;
    v.question = gc_malloc(sizeof(char *) * (v.n_q ? v.n_q : 1));
    v.answer = gc_malloc(sizeof(int64_t) * (v.n_q ? v.n_q : 1));
    v.plen = gc_malloc(sizeof(int) * (v.n_q ? v.n_q : 1));
    v.text = gc_calloc((size_t)(total ? total : 1), sizeof(char *));
    v.smp = gc_calloc((size_t)(total ? total : 1), sizeof(gc_vote_sample));
    lows *l = gc_calloc((size_t)MAX_VARIANTS * seeds, sizeof(lows));
    if (s == GC_OK && !(v.question && v.answer && v.plen && v.text && v.smp && l)) s = GC_ERR_NOMEM;
    int32_t *tmp = gc_malloc(sizeof(int32_t) * cap);
    if (s == GC_OK && !tmp) s = GC_ERR_NOMEM;
    for (int q = 0; s == GC_OK && q < v.n_q; q++) {
        v.question[q] = m->eval.p[qidx[q]].question;
        v.answer[q] = m->eval.p[qidx[q]].answer;
        v.plen[q] = gc_math_prompt(v.question[q], tmp, cap);
    }
    rp_stage *samples_stage = NULL;
    if (s == GC_OK) s = stage_samples(m, &vc, qidx, &v, &samples_stage);
    for (int k = 0; s == GC_OK && k < total; k++) { /* answers and generated tokens */
        gc_vote_sample *sm = &v.smp[k];
        sm->has_answer = gc_task_extract(v.text[k], &sm->answer);
        int nt = gc_math_response(v.text[k], tmp, cap) - 1;
        sm->n_gen = generated_tokens(v.plen[k / v.M], nt < 0 ? 0 : nt, v.max_len);
        sm->cut = -1;
    }
    for (int var = 0; s == GC_OK && var < m->c.n_variants; var++)
        for (int seed = 0; s == GC_OK && vote_covers(m, &vc, var) && seed < seeds; seed++) {
            lows *lw = &l[var * seeds + seed];
            *lw = (lows){.cap = cap, .skip = (int)vc.skip, .max_len = v.max_len};
            lw->q = gc_malloc(sizeof(float) * cap);
            lw->low_q = gc_malloc(sizeof(float) * cap);
            lw->low_j = gc_malloc(sizeof(int) * cap);
            s = lw->q && lw->low_q && lw->low_j ? math_qlows_init(&lw->ql, total) : GC_ERR_NOMEM;
            if (s == GC_OK)
                s = stage_lows(m, math_rm_stage(m, var, seed + 1), samples_stage, &vc, &v, lw);
        }
    cJSON *online[MAX_VARIANTS] = {0};
    for (int var = 0; s == GC_OK && vc.online_questions > 0 && var < m->c.n_variants; var++)
        if (vote_covers(m, &vc, var)) s = stage_online(m, var, &vc, &v, &online[var]);
    if (s == GC_OK) {
        /* the variants filtered with, in the report's order */
        const char *names[MAX_VARIANTS];
        math_qlows ql[MAX_VARIANTS * 64];
        cJSON *on[MAX_VARIANTS] = {0};
        int nv = 0;
        for (int k = 0; k < m->c.n_variants; k++) {
            int var = math_variant_order(m, k);
            if (!vote_covers(m, &vc, var)) continue;
            names[nv] = m->c.variant[var].name;
            for (int seed = 0; seed < seeds; seed++)
                ql[nv * seeds + seed] = l[var * seeds + seed].ql;
            on[nv++] = online[var], online[var] = NULL;
        }
        math_vote_in in = {vc.tau,
                           vc.temperature,
                           vc.skip,
                           vc.bootstrap,
                           vc.tau_list,
                           vc.n_taus,
                           vc.q_list,
                           vc.n_q,
                           vc.goal ? "random" : "last",
                           vc.splits,
                           seeds,
                           nv,
                           names,
                           ql,
                           on};
        math_vote_set vs = {v.n_q, v.M, v.answer, v.smp};
        cJSON *results = rp_metadata(m->r);
        char pv[512];
        s = math_vote_results(&in, &vs, results, pv, sizeof pv);
        for (int k = 0; k < nv; k++)
            cJSON_Delete(on[k]);
        if (s == GC_OK)
            s = math_finish(m, results, math_vote_plot_data, pv, math_vote_print);
        else
            cJSON_Delete(results);
    }
    for (int i = 0; i < MAX_VARIANTS; i++)
        cJSON_Delete(online[i]);
    for (int i = 0; l && i < MAX_VARIANTS * seeds; i++)
        math_qlows_free(&l[i].ql), free(l[i].q), free(l[i].low_q), free(l[i].low_j);
    free(l), free(tmp), free(qidx);
    vote_set_free(&v);
    return s;
}
