/* auroc: the fig2 analysis. Each reward model scores every evaluation solution (one score-*
 * stage per model); per split and pooled: AUROC per seed and variant with 95% CIs over seeds,
 * the goal - baseline difference, seeds with a positive difference, and DeLong's test on the
 * seed-averaged standardised rewards. For reference, the AUROC of the policy's own mean token
 * log-probability (stage logprob-policy; DeLong CI): how much of the answer's correctness the
 * policy's confidence already carries. Plot: plots/fig2.gp.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/jsonio.h"
#include "lib/tasks/mathpipe.h"
#include "lib/stats/stats.h"
#include "replicate/claims/claims.h"
#include "replicate/runner/results.h"
#include "analyses.h"
#include "diagnostics.h"
#include "replicate/claims/schema.h"

/* ---- stage: rewards of the evaluation solutions ---- */

/* Scores every evaluation solution: by a reward model (rmst), or, with rmst NULL, by the policy's
 * mean token log-probability (a reference: what the policy itself knows about its solutions). */
typedef struct {
    math_ctx *m;
    const rp_stage *rmst;
    float *rewards; /* (sol.n) */
} score_job;

static gc_status compute_score(rp_stage *st, void *ctx) {
    score_job *job = ctx;
    const math_solutions *sol = &job->m->sol;
    int max_len = (int)job->m->c.eval.max_len;
    gc_status s;
    if (job->rmst) {
        gc_rm rm;
        GC_TRY(math_load_rm(job->rmst, &rm));
        s = gc_math_score(&rm, (const char *const *)sol->question,
                          (const char *const *)sol->response, sol->n, max_len, 32, job->rewards,
                          NULL);
        gc_rm_free(&rm);
    } else {
        gc_model pm;
        GC_TRY(math_load_policy(job->m, &pm));
        s = gc_math_logprob(&pm, (const char *const *)sol->question,
                            (const char *const *)sol->response, sol->n, max_len, 32, job->rewards);
        gc_model_free(&pm);
    }
    GC_TRY(s);
    char path[RP_PATH];
    rp_stage_file(st, "rewards.json", path);
    cJSON *j = cJSON_CreateObject();
    gc_json_add_floats(j, "reward", job->rewards, (size_t)sol->n);
    s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

static gc_status load_score(const rp_stage *st, void *ctx) {
    score_job *job = ctx;
    char path[RP_PATH];
    rp_stage_file(st, "rewards.json", path);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    gc_status s = gc_json_floats(path, j, "reward", job->rewards, (size_t)job->m->sol.n);
    cJSON_Delete(j);
    return s;
}

static const rp_stage_def SCORE = {"score", __FILE__, compute_score, load_score};
static const rp_stage_def LOGPROB = {"logprob", __FILE__, compute_score, load_score};

gc_status math_score_solutions(math_ctx *m, const rp_stage *rmst, float *rewards) {
    score_job job = {m, rmst, rewards};
    char name[96];
    if (rmst) {
        snprintf(name, sizeof name, "score-%s", rmst->name + 3);
        rp_stage *in[2] = {(rp_stage *)rmst, m->est};
        return rp_stage_run(m->r, &SCORE, name, NULL, in, 2, &job, NULL);
    }
    rp_stage *in[2] = {m->pol, m->est};
    return rp_stage_run(m->r, &LOGPROB, "logprob-policy", NULL, in, 2, &job, NULL);
}

/* ---- analysis ---- */

/* Standardised per-seed scores averaged over seeds, per item: the seed ensemble DeLong uses. */
static void seed_average(float *const *scores, int seeds, const int *idx, int n, double *out) {
    for (int i = 0; i < n; i++)
        out[i] = 0;
    for (int s = 0; s < seeds; s++) {
        double m = 0, v = 0;
        for (int i = 0; i < n; i++)
            m += scores[s][idx[i]] / n;
        for (int i = 0; i < n; i++)
            v += (scores[s][idx[i]] - m) * (scores[s][idx[i]] - m) / n;
        double sd = v > 0 ? sqrt(v) : 1;
        for (int i = 0; i < n; i++)
            out[i] += (scores[s][idx[i]] - m) / sd / seeds;
    }
}

cJSON *math_auroc_group(const char *name, const int *correct, const int *idx, int n,
                        float *const *const *scores, const float *ref, const math_auroc_vars *vs) {
    int seeds = vs->seeds;
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, RS_SPLIT, name);
    cJSON_AddNumberToObject(g, RS_N, n);
    int *y = gc_malloc(sizeof(int) * (n ? n : 1)), pos = 0;
    double *sc = gc_malloc(sizeof(double) * (n ? n : 1)),
           *sc2 = gc_malloc(sizeof(double) * (n ? n : 1));
    double auc[MAX_VARIANTS][64], delta[64];
    for (int i = 0; i < n; i++)
        y[i] = correct[idx[i]], pos += y[i];
    cJSON_AddNumberToObject(g, RS_N_CORRECT, pos);
    cJSON_AddNumberToObject(g, RS_POLICY_ACCURACY, n ? (double)pos / n : 0);
    if (pos == 0 || pos == n) {
        cJSON_AddStringToObject(g, RS_ERROR,
                                pos ? "every solution is correct: no AUROC"
                                    : "no solution is correct: no AUROC");
        free(y), free(sc), free(sc2);
        return g;
    }
    int base = vs->base, goal = vs->goal;
    for (int i = 0; ref && i < n; i++)
        sc[i] = ref[idx[i]];
    gc_delong one;
    if (ref && gc_stats_delong(sc, NULL, y, (size_t)n, &one) == GC_OK) {
        cJSON *o = cJSON_AddObjectToObject(g, RS_POLICY_LOGPROB);
        cJSON_AddNumberToObject(o, RS_AUROC, one.auc1);
        cJSON_AddNumberToObject(o, RS_LO, one.lo);
        cJSON_AddNumberToObject(o, RS_HI, one.hi);
    }
    for (int v = 0; v < vs->n; v++) {
        cJSON *vo = cJSON_AddObjectToObject(g, vs->names[v]),
              *arr = cJSON_AddArrayToObject(vo, RS_AUROC);
        for (int s = 0; s < seeds; s++) {
            for (int i = 0; i < n; i++)
                sc[i] = scores[v][s][idx[i]];
            gc_stats_auroc(sc, y, (size_t)n, &auc[v][s]);
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(auc[v][s]));
        }
        gc_summary sm;
        gc_stats_summary(auc[v], (size_t)seeds, 0.95, &sm);
        cJSON_AddNumberToObject(vo, RS_MEAN, sm.mean);
        cJSON_AddNumberToObject(vo, RS_LO, sm.lo);
        cJSON_AddNumberToObject(vo, RS_HI, sm.hi);
    }
    int positive = 0;
    for (int s = 0; s < seeds; s++)
        delta[s] = auc[goal][s] - auc[base][s], positive += delta[s] > 0;
    gc_summary sd;
    gc_stats_summary(delta, (size_t)seeds, 0.95, &sd);
    cJSON *d = cJSON_AddObjectToObject(g, RS_DELTA);
    cJSON_AddNumberToObject(d, RS_MEAN, sd.mean);
    cJSON_AddNumberToObject(d, RS_LO, sd.lo);
    cJSON_AddNumberToObject(d, RS_HI, sd.hi);
    cJSON_AddNumberToObject(d, RS_SD, sd.sd);
    cJSON_AddNumberToObject(d, RS_SEEDS_POSITIVE, positive);
    cJSON_AddNumberToObject(d, RS_SEEDS, seeds);
    seed_average(scores[goal], seeds, idx, n, sc);
    seed_average(scores[base], seeds, idx, n, sc2);
    gc_delong dl;
    if (gc_stats_delong(sc, sc2, y, (size_t)n, &dl) == GC_OK) {
        cJSON *o = cJSON_AddObjectToObject(g, RS_DELONG);
        cJSON_AddStringToObject(o, RS_ON, "seed-averaged standardised rewards");
        cJSON_AddNumberToObject(o, RS_AUROC_GOAL, dl.auc1);
        cJSON_AddNumberToObject(o, RS_AUROC_BASELINE, dl.auc2);
        cJSON_AddNumberToObject(o, RS_DIFF, dl.diff);
        cJSON_AddNumberToObject(o, RS_SE, dl.se_diff);
        cJSON_AddNumberToObject(o, RS_Z, dl.z);
        cJSON_AddNumberToObject(o, RS_P, dl.p);
        cJSON_AddNumberToObject(o, RS_LO, dl.lo);
        cJSON_AddNumberToObject(o, RS_HI, dl.hi);
    }
    free(y), free(sc), free(sc2);
    return g;
}

gc_status math_auroc_plot_data(const char *path, const cJSON *results, const void *ctx) {
    const math_auroc_vars *vs = ctx;
    const cJSON *splits = cJSON_GetObjectItem(results, RS_SPLITS);
    FILE *f = fopen(path, "w");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot write", path);
    const char *base = vs->names[vs->base], *goal = vs->names[vs->goal];
    fprintf(f, "# AUROC per split (mean over seeds and its 95%% CI); columns by name\n%s",
            RS_SPLIT);
    for (int v = 0; v < 2; v++)
        fprintf(f, " %s_%s %s_%s %s_%s", v ? goal : base, RS_MEAN, v ? goal : base, RS_LO,
                v ? goal : base, RS_HI);
    fprintf(f, "\n");
    for (const cJSON *g = splits->child; g; g = g->next) {
        const cJSON *b = cJSON_GetObjectItem(g, base);
        const cJSON *q = cJSON_GetObjectItem(g, goal);
        if (!b || !q) continue;
        fprintf(
            f, "%s %.5f %.5f %.5f %.5f %.5f %.5f\n", cJSON_GetObjectItem(g, RS_SPLIT)->valuestring,
            cJSON_GetObjectItem(b, RS_MEAN)->valuedouble,
            cJSON_GetObjectItem(b, RS_LO)->valuedouble, cJSON_GetObjectItem(b, RS_HI)->valuedouble,
            cJSON_GetObjectItem(q, RS_MEAN)->valuedouble,
            cJSON_GetObjectItem(q, RS_LO)->valuedouble, cJSON_GetObjectItem(q, RS_HI)->valuedouble);
    }
    return fclose(f) == 0 ? GC_OK : gc_fail(GC_ERR_IO, "%s: write failed", path);
}

void math_auroc_print(const cJSON *results, FILE *f) {
    fprintf(f, "\n%-12s %5s %7s  %-24s %-24s %-26s %9s  %s\n", "split", "n", "policy",
            "AUROC baseline [CI]", "AUROC goal-cond. [CI]", "difference [CI] (+seeds)", "DeLong p",
            "policy log-prob AUROC");
    const cJSON *groups[16];
    int ng = 0;
    for (const cJSON *g = gc_json_get(results, RS_SPLITS) ? gc_json_get(results, RS_SPLITS)->child
                                                          : NULL;
         g && ng < 15; g = g->next)
        groups[ng++] = g;
    if (gc_json_get(results, RS_POOLED)) groups[ng++] = gc_json_get(results, RS_POOLED);
    for (int i = 0; i < ng; i++) {
        const cJSON *g = groups[i], *b = gc_json_get(g, RS_BASELINE), *q = gc_json_get(g, RS_GOAL),
                    *d = gc_json_get(g, RS_DELTA);
        fprintf(f, "%-12s %5.0f %6.1f%%  ", cJSON_GetStringValue(gc_json_get(g, RS_SPLIT)),
                gc_json_num(g, RS_N, 0), 100 * gc_json_num(g, RS_POLICY_ACCURACY, 0));
        if (!d) {
            fprintf(f, "%s\n", cJSON_GetStringValue(gc_json_get(g, RS_ERROR)));
            continue;
        }
        const cJSON *lp = gc_json_get(g, RS_POLICY_LOGPROB);
        fprintf(
            f,
            "%.3f [%.3f, %.3f]     %.3f [%.3f, %.3f]     %+.3f [%+.3f, %+.3f] (%.0f/%.0f) %9.3g  "
            "%.3f [%.3f, %.3f]\n",
            gc_json_num(b, RS_MEAN, 0), gc_json_num(b, RS_LO, 0), gc_json_num(b, RS_HI, 0),
            gc_json_num(q, RS_MEAN, 0), gc_json_num(q, RS_LO, 0), gc_json_num(q, RS_HI, 0),
            gc_json_num(d, RS_MEAN, 0), gc_json_num(d, RS_LO, 0), gc_json_num(d, RS_HI, 0),
            gc_json_num(d, RS_SEEDS_POSITIVE, 0), gc_json_num(d, RS_SEEDS, 0),
            gc_json_num(gc_json_get(g, RS_DELONG), RS_P, NAN), gc_json_num(lp, RS_AUROC, NAN),
            gc_json_num(lp, RS_LO, NAN), gc_json_num(lp, RS_HI, NAN));
    }
    /* ablation variants (any variant object besides baseline and goal), per split */
    for (int i = 0, header = 0; i < ng; i++) {
        const cJSON *g = groups[i];
        int first = 1;
        for (const cJSON *x = g->child; x; x = x->next) {
            if (!cJSON_IsObject(x) || !cJSON_IsArray(gc_json_get(x, RS_AUROC)) ||
                !strcmp(x->string, "baseline") || !strcmp(x->string, "goal"))
                continue;
            if (first)
                fprintf(f, "%s%-12s",
                        header++ ? "" : "\nablations (AUROC, mean [95% CI over seeds])\n",
                        cJSON_GetStringValue(gc_json_get(g, RS_SPLIT)));
            fprintf(f, "  %s %.3f [%.3f, %.3f]", x->string, gc_json_num(x, RS_MEAN, 0),
                    gc_json_num(x, RS_LO, 0), gc_json_num(x, RS_HI, 0));
            first = 0;
        }
        if (!first) fprintf(f, "\n");
    }
    claims_print_verdict(results, f);
}

gc_status math_analyse_auroc(math_ctx *m, const cJSON *section, const char *path) {
    (void)section, (void)path;
    rp_run *r = m->r;
    const math_cfg *c = &m->c;
    const math_solutions *sol = &m->sol;
    int seeds = r->seeds;
    float **scores[MAX_VARIANTS] = {0};
    gc_status s = GC_OK;
    for (int v = 0; v < c->n_variants && s == GC_OK; v++) {
        scores[v] = gc_calloc((size_t)seeds, sizeof(float *));
        if (!scores[v]) s = GC_ERR_NOMEM;
        for (int seed = 1; seed <= seeds && s == GC_OK; seed++) {
            scores[v][seed - 1] = gc_malloc(sizeof(float) * (sol->n ? sol->n : 1));
            if (!scores[v][seed - 1])
                s = GC_ERR_NOMEM;
            else
                s = math_score_solutions(m, math_rm_stage(m, v, seed), scores[v][seed - 1]);
        }
    }
    float *ref = gc_malloc(sizeof(float) * (sol->n ? sol->n : 1));
    if (s == GC_OK && !ref) s = GC_ERR_NOMEM;
    if (s == GC_OK) s = math_score_solutions(m, NULL, ref);
    int *idx = s == GC_OK ? gc_malloc(sizeof(int) * (sol->n ? sol->n : 1)) : NULL;
    if (s == GC_OK && !idx) s = GC_ERR_NOMEM;
    const char *names[MAX_VARIANTS];
    for (int v = 0; v < c->n_variants; v++)
        names[v] = c->variant[v].name;
    math_auroc_vars vs = {names, c->n_variants, c->base, c->goal, seeds};
    if (s == GC_OK) {
        cJSON *results = rp_metadata(r);
        cJSON *acc = cJSON_AddObjectToObject(results, RS_POLICY_ACCURACY);
        cJSON *splits = cJSON_AddArrayToObject(results, RS_SPLITS);
        for (int sp = 0; sp < c->n_splits; sp++) {
            const char *name = gc_task_split_name(c->splits[sp]);
            int n = 0, right = 0;
            for (int i = 0; i < sol->n; i++)
                if (!strcmp(sol->split[i], name)) idx[n++] = i, right += sol->correct[i];
            cJSON_AddNumberToObject(acc, name, n ? (double)right / n : 0);
            cJSON_AddItemToArray(splits, math_auroc_group(name, sol->correct, idx, n,
                                                          (float *const *const *)scores, ref, &vs));
        }
        int nall = math_select(m, NULL, idx);
        cJSON_AddItemToObject(results, RS_POOLED,
                              math_auroc_group("all", sol->correct, idx, nall,
                                               (float *const *const *)scores, ref, &vs));
        char vars[128]; /* the legend names the contrastive weight the run used */
        snprintf(vars, sizeof vars, "lambda='%g'", c->variant[c->goal].con.lambda);
        s = math_rm_training(m, results);
        if (s == GC_OK)
            s = rp_finish(r, results, math_auroc_plot_data, &vs, vars, math_auroc_print);
        else
            cJSON_Delete(results);
    }
    free(idx), free(ref);
    for (int v = 0; v < MAX_VARIANTS; v++) {
        for (int k = 0; scores[v] && k < seeds; k++)
            free(scores[v][k]);
        free(scores[v]);
    }
    return s;
}
