/* full: the full-scale driver: the checks before any work, the stages in order, the analysis
 * (full.h). */
#include "full.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/model/backend.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/hh/hh.h"
#include "replicate/math/analyses.h"
#include "replicate/runner/results.h"

static const char *const VARIANTS[2] = {"baseline", "goal"};

/* the variant index of a name, -1 for any other */
static int variant_of(const char *name) {
    for (int v = 0; v < 2; v++)
        if (!strcmp(name, VARIANTS[v])) return v;
    return -1;
}

static int has_variant(const pl_stage *st, int v) {
    for (const cJSON *e = st->variants ? st->variants->child : NULL; e; e = e->next)
        if (variant_of(e->valuestring) == v) return 1;
    return 0;
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
    if (!(hh && !r->analysis[0]) &&
        !(!strcmp(r->pipeline, "math") && (!r->analysis[0] || !strcmp(r->analysis, "auroc"))))
        ADD("analysis '%s' of pipeline '%s': not built at full scale yet (the full scale runs "
            "fig2's auroc analysis and table3a's accuracy)",
            r->analysis[0] ? r->analysis : "(default)", r->pipeline);
    int n_score = 0;
    for (int i = 0; i < p->n_stages; i++) {
        const pl_stage *st = &p->stages[i];
        static const char *const kinds[] = {"train", "score", "generate", "ppo", "beam"};
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
        int d = pl_find_data(p, st->data);
        if (d < 0)
            ADD("stage '%s': data '%s': the full scale reads a data set of \"data\"", st->name,
                st->data);
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
            if (variant_of(e->valuestring) < 0)
                ADD("stage '%s': variant '%s': the full scale knows baseline and goal", st->name,
                    e->valuestring);
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
        if (st->kind == PL_SCORE && (!has_variant(st, 0) || !has_variant(st, 1) || !st->per_seed))
            ADD("stage '%s': the analysis compares the baseline and goal variants of every seed "
                "(both variants, per_seed true)",
                st->name);
        n_score += st->kind == PL_SCORE;
    }
    if (n_score != 1) ADD("the analysis reads one score stage; this scale has %d", n_score);
#undef ADD
    return count;
}

typedef struct {
    rp_stage **inst; /* (2 * seeds) instance of variant v, seed k at v * seeds + k - 1 */
    full_data data;
} stage_runs;

static gc_status run_stage(rp_run *r, const pl_plan *p, int i, stage_runs *all, float **rewards) {
    const pl_stage *st = &p->stages[i];
    stage_runs *sr = &all[i];
    int t = st->kind == PL_SCORE ? pl_find_stage(p, st->model) : -1;
    const pl_model *m = &p->models[pl_find_model(p, t >= 0 ? p->stages[t].model : st->model)];
    sr->data = (full_data){
        m, &p->data[pl_find_data(p, st->data)], (int)st->max_len, st->kind == PL_TRAIN, 0, {0}};
    sr->inst = gc_calloc((size_t)2 * r->seeds, sizeof(rp_stage *));
    if (!sr->inst) return GC_ERR_NOMEM;
    const full_seqs *items = NULL;
    if (st->kind == PL_SCORE) GC_TRY(full_data_get(&sr->data, &items));
    int seeds = st->per_seed ? r->seeds : 1;
    for (int v = 0; v < 2; v++) {
        if (!has_variant(st, v)) continue;
        for (int k = 1; k <= seeds; k++) {
            full_job job = {p, i, v, k, m, &sr->data, NULL, NULL};
            char name[96];
            snprintf(name, sizeof name, "%s-%s-seed%d", st->name, VARIANTS[v], k);
            rp_stage *in[1] = {NULL};
            int n_in = 0;
            if (t >= 0) {
                job.rm = in[0] = all[t].inst[v * r->seeds + k - 1];
                n_in = 1;
                job.rewards = rewards[v * r->seeds + k - 1] =
                    gc_malloc(sizeof(float) * (size_t)(items->n_seq ? items->n_seq : 1));
                if (!job.rewards) return GC_ERR_NOMEM;
            }
            GC_TRY(rp_stage_run(r, st->kind == PL_TRAIN ? &FULL_TRAIN : &FULL_SCORE, name,
                                full_stage_config(&job), in, n_in, &job,
                                &sr->inst[v * r->seeds + k - 1]));
        }
    }
    return GC_OK;
}

/* the reward models' training summaries (each train instance's info.json) */
static void add_training(const rp_run *r, const pl_plan *p, const stage_runs *all, cJSON *res) {
    cJSON *a = cJSON_AddArrayToObject(res, "reward_models");
    for (int i = 0; i < p->n_stages; i++)
        for (int k = 0; p->stages[i].kind == PL_TRAIN && k < 2 * r->seeds; k++) {
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

static gc_status analyse(rp_run *r, const pl_plan *p, stage_runs *all, float **rewards) {
    int sc = 0;
    while (p->stages[sc].kind != PL_SCORE)
        sc++;
    const full_seqs *items = &all[sc].data.s;
    const pl_stage *st = &p->stages[sc];
    if (!strcmp(r->pipeline, "hh")) return analyse_hh(r, p, all, items, rewards);
    int seeds = r->seeds;
    float **scores[2] = {rewards, rewards + seeds};
    math_auroc_vars vs = {VARIANTS, 2, 0, 1, seeds};
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
    float **rewards = gc_calloc((size_t)2 * r->seeds, sizeof(float *));
    gc_status s = all && rewards ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < p.n_stages; i++)
        s = run_stage(r, &p, i, all, rewards);
    if (s == GC_OK) s = analyse(r, &p, all, rewards);
    rp_print_times(r);
    for (int i = 0; all && i < p.n_stages; i++) {
        free(all[i].inst);
        full_seqs_free(&all[i].data.s);
    }
    for (int k = 0; rewards && k < 2 * r->seeds; k++)
        free(rewards[k]);
    free(all), free(rewards);
    pl_free(&p);
    return s;
}
