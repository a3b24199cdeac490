/* full: the full-scale driver: the checks before any work, the stages in order, the analysis
 * (full.h). */
#include "full.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/model/backend.h"
#include "lib/tasks/hfseq.h"
#include "lib/util/config.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/hh/hh.h"
#include "replicate/math/analyses.h"
#include "replicate/runner/results.h"

enum { NV = FULL_N_VARIANTS };

static int has_variant(const pl_stage *st, int v) {
    for (const cJSON *e = st->variants ? st->variants->child : NULL; e; e = e->next)
        if (full_variant_of(e->valuestring) == v) return 1;
    return 0;
}

/* the variants of a stage in FULL_VARIANTS's order (the report's): their indices and names */
static int stage_variants(const pl_stage *st, int *idx, const char **names) {
    int n = 0;
    for (int v = 0; v < NV; v++)
        if (has_variant(st, v)) idx[n] = v, names[n++] = FULL_VARIANTS[v].name;
    return n;
}

/* Whether models a and b (names of "models") share one tokenizer: the same model, or identical
 * tokenizer.json files (models not yet present: assumed, their absence is reported apart). */
static int same_tokenizer(const pl_plan *p, const char *a, const char *b) {
    int ia = pl_find_model(p, a), ib = pl_find_model(p, b);
    if (ia == ib) return 1;
    if (ia < 0 || ib < 0) return 0;
    if (!p->models[ia].present || !p->models[ib].present) return 1;
    char pa[RP_PATH + 32], pb[RP_PATH + 32];
    snprintf(pa, sizeof pa, "%s/tokenizer.json", p->models[ia].path);
    snprintf(pb, sizeof pb, "%s/tokenizer.json", p->models[ib].path);
    char *da = NULL, *db = NULL;
    size_t na = 0, nb = 0;
    int same = gc_read_file(pa, &da, &na) == GC_OK && gc_read_file(pb, &db, &nb) == GC_OK &&
               na == nb && !memcmp(da, db, na);
    free(da), free(db);
    return same;
}

int full_problems(const rp_run *r, const pl_plan *p, int which, char *msg, size_t cap) {
    size_t n = 0;
    int count = 0;
    if (cap) msg[0] = 0;
#define ADD(...)                                                                                   \
    (count++, n += (size_t)snprintf(msg + n, n < cap ? cap - n : 0, "\n  - " __VA_ARGS__))
    for (int i = 0; (which & FULL_MISSING) && i < p->n_models; i++)
        if (!p->models[i].present)
            ADD("model '%s': no config.json with safetensors weights in %s", p->models[i].name,
                p->models[i].path);
    for (int i = 0; (which & FULL_MISSING) && i < p->n_models; i++) {
        char tok[RP_PATH + 32];
        snprintf(tok, sizeof tok, "%s/tokenizer.json", p->models[i].path);
        if (p->models[i].present && access(tok, F_OK) != 0)
            ADD("model '%s': no tokenizer.json in %s", p->models[i].name, p->models[i].path);
    }
    for (int i = 0; (which & FULL_MISSING) && i < p->n_data; i++)
        if (p->data[i].n_missing)
            ADD("data '%s': %d of %d file(s) missing, the first %s", p->data[i].name,
                p->data[i].n_missing, p->data[i].n_files, p->data[i].first_missing);
    if (!(which & FULL_UNBUILT)) return count;
    int hh = !strcmp(r->pipeline, "hh"), want = hh ? PL_HH : PL_OPENMATH;
    int per_token = !hh && (!strcmp(r->analysis, "partial") || !strcmp(r->analysis, "vote"));
    if (!(hh && !r->analysis[0]) &&
        !(!strcmp(r->pipeline, "math") &&
          (!r->analysis[0] || !strcmp(r->analysis, "auroc") || per_token)))
        ADD("analysis '%s' of pipeline '%s': not built at full scale yet (the full scale runs "
            "fig2's auroc, fig3's partial, table1's vote and table3a's accuracy)",
            r->analysis[0] ? r->analysis : "(default)", r->pipeline);
    int n_score = 0;
    for (int i = 0; i < p->n_stages; i++) {
        const pl_stage *st = &p->stages[i];
        static const char *const kinds[] = {"train", "score", "generate", "ppo", "beam"};
        if (st->kind == PL_GENERATE) {
            int d = pl_find_data(p, st->data);
            if (pl_find_model(p, st->model) < 0)
                ADD("stage '%s': model '%s': the full scale samples from a model of \"models\"",
                    st->name, st->model);
            if (d < 0)
                ADD("stage '%s': data '%s': the full scale samples for a data set of \"data\"",
                    st->name, st->data);
            for (int f = 0; d >= 0 && f < p->data[d].n_files; f++) {
                int fm = p->data[d].files[f].format;
                if (fm == PL_OPENMATH || fm == PL_HH || fm == PL_HELPSTEER) {
                    ADD("stage '%s': data '%s' has %s files: the full scale samples solutions "
                        "for math benchmark files (gsm8k, math, ...)",
                        st->name, st->data, PL_FORMAT_NAMES[fm]);
                    break;
                }
            }
            if (st->per_seed || (st->variants && cJSON_GetArraySize(st->variants) > 1))
                ADD("stage '%s': the full scale samples once (no variants, per_seed false)",
                    st->name);
            continue;
        }
        if (st->kind != PL_TRAIN && st->kind != PL_SCORE) {
            ADD("stage '%s' (kind %s): not built at full scale yet", st->name, kinds[st->kind]);
            continue;
        }
        if (st->kind == PL_TRAIN && st->loss != 0) {
            ADD("stage '%s': loss %s: not built at full scale yet (preference is)", st->name,
                st->loss == 1 ? "dpo" : "sft");
            continue;
        }
        static const char *const precisions[] = {"bf16", "tf32", "fp32"}; /* plan.c's order */
        const char *want_p = precisions[st->precision];
        if (st->kind == PL_TRAIN && !strcmp(r->opt.device, "cuda") &&
            strcmp(r->opt.precision, want_p))
            ADD("stage '%s' trains in %s: run with --precision %s", st->name, want_p, want_p);
        int m = pl_find_model(p, st->model), t = pl_find_stage(p, st->model);
        if (st->kind == PL_TRAIN && m < 0)
            ADD("stage '%s': model '%s': the full scale trains a model of \"models\"", st->name,
                st->model);
        if (st->kind == PL_SCORE && (t < 0 || p->stages[t].kind != PL_TRAIN))
            ADD("stage '%s': model '%s': the full scale scores with a train stage's models",
                st->name, st->model);
        int d = pl_find_data(p, st->data), g = pl_find_stage(p, st->data);
        int from_gen = st->kind == PL_SCORE && d < 0 && g >= 0 && p->stages[g].kind == PL_GENERATE;
        if (d < 0 && !from_gen)
            ADD("stage '%s': data '%s': the full scale %s a data set of \"data\"%s", st->name,
                st->data, st->kind == PL_SCORE ? "scores" : "trains on",
                st->kind == PL_SCORE ? " or a generate stage's solutions" : "");
        if (from_gen && t >= 0 && !same_tokenizer(p, p->stages[t].model, p->stages[g].model))
            ADD("stage '%s': the reward models of stage '%s' start from model '%s', the solutions "
                "of stage '%s' come from model '%s', and their tokenizer.json files differ: the "
                "full scale scores sampled solutions' tokens as they are, so both need one "
                "tokenizer",
                st->name, st->model, p->stages[t].model, st->data, p->stages[g].model);
        if (st->kind == PL_SCORE && per_token && !from_gen)
            ADD("stage '%s': the %s analysis reads per-token scores of sampled solutions: its "
                "data must be a generate stage",
                st->name, r->analysis);
        for (int f = 0; d >= 0 && f < p->data[d].n_files; f++)
            if (p->data[d].files[f].format != want) {
                ADD("stage '%s': data '%s' has %s files: the full scale's %s stages read %s "
                    "files",
                    st->name, st->data, PL_FORMAT_NAMES[p->data[d].files[f].format], r->pipeline,
                    PL_FORMAT_NAMES[want]);
                break;
            }
        const cJSON *vs = st->variants;
        if (!vs) ADD("stage '%s': no \"variants\" (baseline, goal)", st->name);
        for (const cJSON *e = vs ? vs->child : NULL; e; e = e->next) {
            int v = full_variant_of(e->valuestring);
            if (v < 0)
                ADD("stage '%s': variant '%s': the full scale knows baseline, goal, ordered, late, "
                    "single-goal, averaged-goal and mlp-head",
                    st->name, e->valuestring);
            if (v > 1 && hh)
                ADD("stage '%s': variant '%s': the Helpful-Harmless analysis compares baseline "
                    "and goal only",
                    st->name, e->valuestring);
            int found = 0;
            for (const cJSON *x = t >= 0 && st->kind == PL_SCORE ? p->stages[t].variants->child
                                                                 : NULL;
                 x; x = x->next)
                found |= !strcmp(x->valuestring, e->valuestring);
            if (st->kind == PL_SCORE && t >= 0 && p->stages[t].variants && !found)
                ADD("stage '%s': variant '%s' is not one stage '%s' trains", st->name,
                    e->valuestring, st->model);
        }
        if (st->kind == PL_SCORE && t >= 0 && st->per_seed != p->stages[t].per_seed)
            ADD("stage '%s': per_seed must be stage '%s''s", st->name, st->model);
        int vote = !strcmp(r->analysis, "vote");
        if (st->kind == PL_SCORE && !vote &&
            (!has_variant(st, 0) || !has_variant(st, 1) || !st->per_seed))
            ADD("stage '%s': the analysis compares the baseline and goal variants of every seed "
                "(both variants, per_seed true)",
                st->name);
        if (st->kind == PL_SCORE && vote && !st->per_seed)
            ADD("stage '%s': the vote analysis filters with every seed's reward models (per_seed "
                "true)",
                st->name);
        n_score += st->kind == PL_SCORE;
    }
    if (n_score != 1) ADD("the analysis reads one score stage; this scale has %d", n_score);
#undef ADD
    return count;
}

typedef struct {
    rp_stage **inst; /* (NV * seeds) instance of variant v, seed k at v * seeds + k - 1; a
                      * generate stage's one at 0 */
    full_data data;
    full_samples samples; /* generate: its solutions */
} stage_runs;

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

static const gc_cfg_field partial_f[] = {
    {"points", GC_CFG_INT, offsetof(full_analysis, points), 0, 3, 101, NULL},
    {"bootstrap", GC_CFG_INT, offsetof(full_analysis, bootstrap), 0, 100, 100000, NULL},
    {"splits", GC_CFG_ARRAY, offsetof(full_analysis, splits), 0, 0, 0, NULL},
};
static const gc_cfg_field vote_f[] = {
    {"tau", GC_CFG_FLOAT, offsetof(full_analysis, tau), 0, -1, 1, NULL},
    {"skip", GC_CFG_INT, offsetof(full_analysis, skip), 0, 0, 1 << 20, NULL},
    {"taus", GC_CFG_ARRAY, offsetof(full_analysis, taus), 0, 0, 0, NULL},
    {"tau_quantiles", GC_CFG_ARRAY, offsetof(full_analysis, quantiles), 0, 0, 0, NULL},
    {"bootstrap", GC_CFG_INT, offsetof(full_analysis, bootstrap), 0, 100, 100000, NULL},
    {"goal", GC_CFG_ENUM, offsetof(full_analysis, goal), 0, 0, 0, "last|random"},
    {"online_questions", GC_CFG_INT, offsetof(full_analysis, online_questions), 0, 0, 1e6, NULL},
};

/* Reads the analysis's section (defaults: 11 points, 1000 resamples, tau 0, skip 5). */
static gc_status read_analysis(const rp_run *r, full_analysis *a) {
    *a = (full_analysis){.points = 11, .bootstrap = 1000, .skip = 5};
    int partial = !strcmp(r->analysis, "partial"), vote = !strcmp(r->analysis, "vote");
    if (!partial && !vote) return GC_OK;
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(r->scale_cfg, r->analysis);
    if (!sec) return GC_OK;
    char at[160];
    snprintf(at, sizeof at, "%s.%s", r->scale_path, r->analysis);
    if (partial) {
        GC_TRY(gc_config_read(&r->cfg, sec, at, partial_f, GC_CFG_COUNT(partial_f), a));
        int ok = !a->splits || cJSON_GetArraySize(a->splits) > 0;
        for (const cJSON *e = a->splits ? a->splits->child : NULL; e && ok; e = e->next)
            ok = cJSON_IsString(e);
        char key[200];
        snprintf(key, sizeof key, "%s.splits", at);
        return ok ? GC_OK
                  : gc_config_fail(&r->cfg, key,
                                   "expected a non-empty array of group names (a data file's "
                                   "directory: gsm8k, math, ...)");
    }
    GC_TRY(gc_config_read(&r->cfg, sec, at, vote_f, GC_CFG_COUNT(vote_f), a));
    char key[200];
    snprintf(key, sizeof key, "%s.taus", at);
    GC_TRY(math_read_points(&r->cfg, a->taus, key, -1, 1, 0, a->tau_list, &a->n_taus));
    snprintf(key, sizeof key, "%s.tau_quantiles", at);
    return math_read_points(&r->cfg, a->quantiles, key, 0, 1, 1, a->q_list, &a->n_q);
}

static gc_status run_generate(rp_run *r, const pl_plan *p, int i, stage_runs *sr) {
    const pl_stage *st = &p->stages[i];
    sr->inst = gc_calloc(1, sizeof(rp_stage *));
    if (!sr->inst) return GC_ERR_NOMEM;
    sr->samples.M = (int)st->samples;
    full_job job = {p,
                    i,
                    0,
                    1,
                    &p->models[pl_find_model(p, st->model)],
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    &sr->samples,
                    &p->data[pl_find_data(p, st->data)]};
    int busy = 0; /* another process samples: wait for it (nothing else can run meanwhile) */
    GC_TRY(rp_stage_try(r, &FULL_GENERATE, st->name, full_stage_config(&job), NULL, 0, &job,
                        &sr->inst[0], &busy));
    return busy ? rp_stage_run(r, &FULL_GENERATE, st->name, full_stage_config(&job), NULL, 0, &job,
                               &sr->inst[0])
                : GC_OK;
}

static gc_status run_stage(rp_run *r, const pl_plan *p, int i, stage_runs *all, float **rewards,
                           const full_analysis *fa, full_qscores *qs) {
    const pl_stage *st = &p->stages[i];
    stage_runs *sr = &all[i];
    if (st->kind == PL_GENERATE) return run_generate(r, p, i, sr);
    int t = st->kind == PL_SCORE ? pl_find_stage(p, st->model) : -1;
    const pl_model *m = &p->models[pl_find_model(p, t >= 0 ? p->stages[t].model : st->model)];
    int d = pl_find_data(p, st->data), g = d < 0 ? pl_find_stage(p, st->data) : -1;
    sr->data = (full_data){m,
                           d >= 0 ? &p->data[d] : NULL,
                           (int)st->max_len,
                           st->kind == PL_TRAIN,
                           0,
                           {0},
                           g >= 0 ? &all[g].samples : NULL,
                           0};
    if (g >= 0) { /* the sampling model's EOS ends every scored solution */
        gc_hfseq c;
        GC_TRY(gc_hfseq_open(m->path, &c));
        sr->data.eos = c.eos;
        gc_hfseq_close(&c);
    }
    sr->inst = gc_calloc((size_t)NV * r->seeds, sizeof(rp_stage *));
    if (!sr->inst) return GC_ERR_NOMEM;
    const full_seqs *items = NULL;
    if (st->kind == PL_SCORE) GC_TRY(full_data_get(&sr->data, &items));
    int seeds = st->per_seed ? r->seeds : 1, deferred = 0;
    /* two passes: the first skips the instances another process is computing (several processes
     * on one cache share the instances), the second waits for them and reads them */
    for (int pass = 0; pass < 2; pass++)
        for (int v = 0; v < NV; v++) {
            if (!has_variant(st, v)) continue;
            for (int k = 1; k <= seeds; k++) {
                int at = v * r->seeds + k - 1;
                if (pass && sr->inst[at]) continue;
                if (pass && !deferred) break;
                full_job job = {p, i, v, k, m, &sr->data, NULL, NULL, NULL, NULL, NULL};
                char name[96];
                snprintf(name, sizeof name, "%s-%s-seed%d", st->name, FULL_VARIANTS[v].name, k);
                rp_stage *in[2] = {NULL, NULL};
                int n_in = 0;
                if (t >= 0) {
                    job.rm = in[n_in++] = all[t].inst[at];
                    size_t n = (size_t)(items->n_seq ? items->n_seq : 1);
                    if (!rewards[at] && !(rewards[at] = gc_malloc(sizeof(float) * n)))
                        return GC_ERR_NOMEM;
                    job.rewards = rewards[at];
                    if (g >= 0) { /* the sampled solutions' per-token scores */
                        in[n_in++] = all[g].inst[0];
                        full_qscores *q = job.qs = &qs[at];
                        if (!q->reward) {
                            q->P = (int)fa->points, q->skip = (int)fa->skip, q->goal = fa->goal;
                            q->reward = gc_malloc(sizeof(float) * n * q->P);
                            q->q = gc_malloc(sizeof(float) * n * q->P);
                            if (!q->reward || !q->q) return GC_ERR_NOMEM;
                            GC_TRY(math_qlows_init(&q->lows, items->n_seq));
                        }
                    }
                }
                const rp_stage_def *def = st->kind == PL_TRAIN ? &FULL_TRAIN : &FULL_SCORE;
                int busy = 0;
                if (pass)
                    GC_TRY(rp_stage_run(r, def, name, full_stage_config(&job), in, n_in, &job,
                                        &sr->inst[at]));
                else
                    GC_TRY(rp_stage_try(r, def, name, full_stage_config(&job), in, n_in, &job,
                                        &sr->inst[at], &busy));
                deferred += busy;
            }
        }
    return GC_OK;
}

/* the reward models' training summaries (each train instance's info.json) */
static void add_training(const rp_run *r, const pl_plan *p, const stage_runs *all, cJSON *res) {
    cJSON *a = cJSON_AddArrayToObject(res, "reward_models");
    for (int i = 0; i < p->n_stages; i++)
        for (int k = 0; p->stages[i].kind == PL_TRAIN && k < NV * r->seeds; k++) {
            const rp_stage *st = all[i].inst ? all[i].inst[k] : NULL;
            if (!st) continue;
            char path[RP_PATH];
            rp_stage_file(st, "info.json", path);
            cJSON *info = NULL, *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "stage", st->name);
            if (gc_json_read(path, &info) == GC_OK) {
                static const char *const keys[] = {"steps", "pairs", "last_epoch_train_accuracy",
                                                   "last_epoch_loss", "sequences_cut_to_max_len"};
                for (size_t q = 0; q < sizeof keys / sizeof keys[0]; q++)
                    if (gc_json_get(info, keys[q]))
                        cJSON_AddNumberToObject(o, keys[q], gc_json_num(info, keys[q], 0));
                cJSON_Delete(info);
            }
            cJSON_AddItemToArray(a, o);
        }
}

/* table3a: pairwise accuracy of every held-out pair (the score stage scored both sides) */
static gc_status analyse_hh(rp_run *r, const pl_plan *p, const stage_runs *all,
                            const full_seqs *pairs, float **rewards) {
    cJSON *res = hh_accuracy(r, pairs->n, (const float *const *)rewards);
    if (!res) return GC_ERR_NOMEM;
    cJSON_AddNumberToObject(res, "sequences_cut_to_max_len", pairs->truncated);
    add_training(r, p, all, res);
    return rp_finish(r, res, hh_write_dat, NULL, NULL, hh_print);
}

/* fig3: AUROC of the sampled solutions' prefix scores (math/analyses.h) over the chosen groups */
static gc_status analyse_partial(rp_run *r, const pl_plan *p, const stage_runs *all,
                                 const pl_stage *st, const full_seqs *items, const full_qscores *qs,
                                 const full_analysis *fa) {
    int n = 0, pos = 0, P = (int)fa->points, seeds = r->seeds, vi[NV];
    const char *names[NV];
    int nv = stage_variants(st, vi, names), ns = nv * seeds;
    int *idx = gc_malloc(sizeof(int) * (size_t)(items->n ? items->n : 1));
    int *y = gc_malloc(sizeof(int) * (size_t)(items->n ? items->n : 1));
    /* reward then q, each [v * seeds + k] over the stage's variants */
    float **sc = gc_calloc((size_t)2 * ns, sizeof(float *));
    gc_status s = idx && y && sc ? GC_OK : GC_ERR_NOMEM;
    for (const cJSON *e = fa->splits ? fa->splits->child : NULL; s == GC_OK && e; e = e->next) {
        int found = 0;
        for (int g = 0; g < items->n_groups; g++)
            found |= !strcmp(e->valuestring, items->group_name[g]);
        if (!found)
            s = gc_fail(GC_ERR_CONFIG,
                        "%s: %s.partial.splits: '%s' is not a group of the sampled "
                        "questions (a data file's directory)",
                        r->cfg.path, r->scale_path, e->valuestring);
    }
    for (int i = 0; s == GC_OK && i < items->n; i++) {
        int in = !fa->splits;
        for (const cJSON *e = fa->splits ? fa->splits->child : NULL; e && !in; e = e->next)
            in = !strcmp(e->valuestring, items->group_name[items->group[i]]);
        if (in) y[n] = items->correct[i], pos += y[n], idx[n++] = i;
    }
    if (s == GC_OK && (pos == 0 || pos == n))
        s = gc_fail(GC_ERR_ARG,
                    "partial: the %d sampled solutions of the chosen groups are all %s: "
                    "no AUROC",
                    n, pos ? "correct" : "incorrect");
    for (int k = 0; s == GC_OK && k < ns; k++) {
        const full_qscores *q = &qs[vi[k / seeds] * seeds + k % seeds];
        sc[k] = gc_malloc(sizeof(float) * (size_t)(n ? n : 1) * P);
        sc[ns + k] = gc_malloc(sizeof(float) * (size_t)(n ? n : 1) * P);
        if (!sc[k] || !sc[ns + k]) {
            s = GC_ERR_NOMEM;
            break;
        }
        for (int i = 0; i < n; i++) {
            memcpy(sc[k] + (size_t)i * P, q->reward + (size_t)idx[i] * P, sizeof(float) * P);
            memcpy(sc[ns + k] + (size_t)i * P, q->q + (size_t)idx[i] * P, sizeof(float) * P);
        }
    }
    if (s == GC_OK) {
        math_partial_in in = {n, P, seeds, nv, names, y, sc, sc + ns, fa->bootstrap, fa->splits};
        cJSON *res = rp_metadata(r);
        char vars[512];
        math_partial_results(&in, res, vars, sizeof vars);
        add_training(r, p, all, res);
        s = rp_finish(r, res, math_partial_plot_data, NULL, vars, math_partial_print);
    }
    for (int k = 0; sc && k < 2 * ns; k++)
        free(sc[k]);
    free(sc), free(idx), free(y);
    return s;
}

/* table1: majority voting over the sampled solutions with and without Q-value filtering */
static gc_status analyse_vote(rp_run *r, const pl_plan *p, stage_runs *all, const pl_stage *st,
                              const full_samples *sm, const pl_stage *gen, const full_qscores *qs,
                              const full_analysis *fa) {
    int seeds = r->seeds, total = sm->n_q * sm->M, vi[NV];
    const char *names[NV];
    int nv = stage_variants(st, vi, names);
    int64_t *answer = gc_calloc((size_t)(sm->n_q ? sm->n_q : 1), sizeof(int64_t));
    gc_vote_sample *smp = gc_calloc((size_t)(total ? total : 1), sizeof(gc_vote_sample));
    math_qlows *lows = gc_calloc((size_t)nv * seeds, sizeof(math_qlows));
    gc_status s = answer && smp && lows ? GC_OK : GC_ERR_NOMEM;
    for (int k = 0; s == GC_OK && k < total; k++) /* the reference's class is 0 */
        smp[k] = (gc_vote_sample){sm->glen[k], sm->cls[k] >= 0, sm->cls[k], -1};
    for (int k = 0; s == GC_OK && k < nv * seeds; k++)
        lows[k] = qs[vi[k / seeds] * seeds + k % seeds].lows; /* borrowed */
    /* online: the first questions sampled again with each variant's seed-1 reward model
     * watching */
    cJSON *online[NV] = {0};
    int t = pl_find_stage(p, st->model), g = pl_find_stage(p, st->data);
    int nq = fa->online_questions < sm->n_q ? (int)fa->online_questions : sm->n_q;
    for (int k = 0; s == GC_OK && nq > 0 && k < nv; k++) {
        full_online_job job = {gen,
                               sm,
                               &p->models[pl_find_model(p, gen->model)],
                               all[t].inst[vi[k] * seeds],
                               fa->goal,
                               (int)fa->skip,
                               nq,
                               fa->tau,
                               NULL};
        cJSON *key = cJSON_CreateObject();
        cJSON_AddNumberToObject(key, "online_questions", nq);
        cJSON_AddNumberToObject(key, "tau", fa->tau);
        cJSON_AddNumberToObject(key, "skip", (double)fa->skip);
        cJSON_AddNumberToObject(key, "goal", fa->goal);
        char name[96];
        snprintf(name, sizeof name, "online-%s", names[k]);
        rp_stage *in[2] = {all[g].inst[0], all[t].inst[vi[k] * seeds]};
        s = rp_stage_run(r, &FULL_ONLINE, name, key, in, 2, &job, NULL);
        online[k] = job.doc;
    }
    if (s == GC_OK) {
        math_vote_in in = {fa->tau,
                           gen->temperature,
                           fa->skip,
                           fa->bootstrap,
                           fa->tau_list,
                           fa->n_taus,
                           fa->q_list,
                           fa->n_q,
                           fa->goal ? "random" : "last",
                           NULL,
                           seeds,
                           nv,
                           names,
                           lows,
                           nq > 0 ? online : NULL};
        math_vote_set v = {sm->n_q, sm->M, answer, smp};
        cJSON *res = rp_metadata(r);
        char vars[512];
        s = math_vote_results(&in, &v, res, vars, sizeof vars);
        add_training(r, p, all, res);
        if (s == GC_OK)
            s = rp_finish(r, res, math_vote_plot_data, NULL, vars, math_vote_print);
        else
            cJSON_Delete(res);
    }
    for (int k = 0; k < NV; k++)
        cJSON_Delete(online[k]);
    free(answer), free(smp), free(lows);
    return s;
}

static gc_status analyse(rp_run *r, const pl_plan *p, stage_runs *all, float **rewards,
                         const full_qscores *qs, const full_analysis *fa) {
    int sc = 0;
    while (p->stages[sc].kind != PL_SCORE)
        sc++;
    const full_seqs *items = &all[sc].data.s;
    const pl_stage *st = &p->stages[sc];
    if (!strcmp(r->pipeline, "hh")) return analyse_hh(r, p, all, items, rewards);
    if (!strcmp(r->analysis, "partial")) return analyse_partial(r, p, all, st, items, qs, fa);
    if (!strcmp(r->analysis, "vote")) {
        int g = pl_find_stage(p, st->data);
        return analyse_vote(r, p, all, st, &all[g].samples, &p->stages[g], qs, fa);
    }
    int seeds = r->seeds, vi[NV];
    const char *names[NV];
    int nv = stage_variants(st, vi, names);
    float **scores[NV];
    for (int k = 0; k < nv; k++)
        scores[k] = rewards + vi[k] * seeds;
    math_auroc_vars vs = {names, nv, 0, 1, seeds}; /* baseline and goal come first */
    int *idx = gc_malloc(sizeof(int) * (size_t)(items->n ? items->n : 1));
    if (!idx) return GC_ERR_NOMEM;
    cJSON *res = rp_metadata(r);
    cJSON *acc = cJSON_AddObjectToObject(res, RS_POLICY_ACCURACY);
    cJSON *splits = cJSON_AddArrayToObject(res, RS_SPLITS);
    for (int g = 0; g < items->n_groups; g++) {
        int n = 0, right = 0;
        for (int i = 0; i < items->n; i++)
            if (items->group[i] == g) idx[n++] = i, right += items->correct[i];
        cJSON_AddNumberToObject(acc, items->group_name[g], n ? (double)right / n : 0);
        cJSON_AddItemToArray(splits, math_auroc_group(items->group_name[g], items->correct, idx, n,
                                                      (float *const *const *)scores, NULL, &vs));
    }
    for (int i = 0; i < items->n; i++)
        idx[i] = i;
    cJSON_AddItemToObject(res, RS_POOLED,
                          math_auroc_group("all", items->correct, idx, items->n,
                                           (float *const *const *)scores, NULL, &vs));
    cJSON_AddStringToObject(res, "policy_logprob",
                            "not computed at full scale (the predictions' generator is not run)");
    add_training(r, p, all, res);
    free(idx);
    const pl_stage *tr = &p->stages[pl_find_stage(p, st->model)];
    char vars[128];
    snprintf(vars, sizeof vars, "lambda='%g'", tr->lambda);
    return rp_finish(r, res, math_auroc_plot_data, &vs, vars, math_auroc_print);
}

gc_status full_run(rp_run *r, const char *root) {
    pl_plan p;
    full_analysis fa;
    GC_TRY(read_analysis(r, &fa));
    GC_TRY(pl_read(r, root, &p));
    char msg[8192];
    if (full_problems(r, &p, FULL_MISSING | FULL_UNBUILT, msg, sizeof msg)) {
        gc_status s =
            gc_fail(GC_ERR_CONFIG, "%s at full scale cannot run here:%s", r->cfg.path, msg);
        pl_free(&p);
        return s;
    }
    if (strcmp(r->opt.device, "cuda"))
        gc_log_warn("full scale on the CPU: every stage runs, in fp32, at CPU speed "
                    "(`replicate plan %s` sizes it for GPUs)",
                    r->opt.file);
    stage_runs *all = gc_calloc((size_t)p.n_stages, sizeof(stage_runs));
    float **rewards = gc_calloc((size_t)NV * r->seeds, sizeof(float *));
    full_qscores *qs = gc_calloc((size_t)NV * r->seeds, sizeof(full_qscores));
    gc_status s = all && rewards && qs ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < p.n_stages; i++)
        s = run_stage(r, &p, i, all, rewards, &fa, qs);
    if (s == GC_OK) s = analyse(r, &p, all, rewards, qs, &fa);
    rp_print_times(r);
    for (int i = 0; all && i < p.n_stages; i++) {
        free(all[i].inst);
        full_seqs_free(&all[i].data.s);
        full_samples_free(&all[i].samples);
    }
    for (int k = 0; rewards && k < NV * r->seeds; k++)
        free(rewards[k]);
    for (int k = 0; qs && k < NV * r->seeds; k++)
        free(qs[k].reward), free(qs[k].q), math_qlows_free(&qs[k].lows);
    free(all), free(rewards), free(qs);
    pl_free(&p);
    return s;
}
