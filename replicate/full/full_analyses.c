/* full_analyses: the full scale's analyses (full.h): the analysis's section of the scale, the
 * reward models' training summaries, and fig2's AUROC, fig3's partial curves, table1's vote
 * (with its online runs) and table3a's accuracy, each the mini scale's statistics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/config.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/hh/hh.h"
#include "replicate/math/analyses.h"
#include "replicate/runner/results.h"
#include "full.h"

enum { NV = FULL_N_VARIANTS };

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

gc_status full_read_analysis(const rp_run *r, full_analysis *a) {
    *a = (full_analysis){.points = 11, .bootstrap = 1000, .skip = 5};
    int partial = !strcmp(r->analysis, "partial"), vote = !strcmp(r->analysis, "vote");
    if (!strcmp(r->analysis, "steer")) return full_steer_check(r);
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

/* the reward models' training summaries (each train instance's info.json) */
static void add_training(const rp_run *r, const pl_plan *p, const full_stage_runs *all,
                         cJSON *res) {
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
static gc_status analyse_hh(rp_run *r, const pl_plan *p, const full_stage_runs *all,
                            const full_seqs *pairs, float **rewards) {
    cJSON *res = hh_accuracy(r, pairs->n, (const float *const *)rewards);
    if (!res) return GC_ERR_NOMEM;
    cJSON_AddNumberToObject(res, "sequences_cut_to_max_len", pairs->truncated);
    add_training(r, p, all, res);
    return rp_finish(r, res, hh_write_dat, NULL, NULL, hh_print);
}

/* fig3: AUROC of the sampled solutions' prefix scores (math/analyses.h) over the chosen groups */
static gc_status analyse_partial(rp_run *r, const pl_plan *p, const full_stage_runs *all,
                                 const pl_stage *st, const full_seqs *items, const full_qscores *qs,
                                 const full_analysis *fa) {
    int n = 0, pos = 0, P = (int)fa->points, seeds = r->seeds, vi[NV];
    const char *names[NV];
    int nv = full_stage_variants(st, vi, names), ns = nv * seeds;
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
static gc_status analyse_vote(rp_run *r, const pl_plan *p, full_stage_runs *all, const pl_stage *st,
                              const full_samples *sm, const pl_stage *gen, const full_qscores *qs,
                              const full_analysis *fa) {
    int seeds = r->seeds, total = sm->n_q * sm->M, vi[NV];
    const char *names[NV];
    int nv = full_stage_variants(st, vi, names);
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

gc_status full_analyse(rp_run *r, const pl_plan *p, full_stage_runs *all, float **rewards,
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
    int nv = full_stage_variants(st, vi, names);
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
