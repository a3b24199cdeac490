/* pilot: the instrument's checks before any claim is judged (`make pilot`, docs/pilots.md). For a
 * candidate recipe (an experiment file with "analysis": "pilot") it measures
 *   G0  what the policy itself knows: the AUROC of its own token log-probability statistics (the
 *       mean over the response; the minimum over the digits of each computed result) as
 *       classifiers of correct greedy solutions, per split, and their pair accuracy and AUROC on
 *       the held-out reference-vs-corrupted set (math/diagnostics.h);
 *   G1  the baseline reward model's accuracy and AUROC on that held-out set (its last epoch);
 *   G2  the baseline reward model's AUROC on the greedy solutions, per split (mean over seeds);
 * beside the policy's accuracy and class counts per split. Plot: plots/pilot.gp.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/stats/stats.h"
#include "lib/tasks/mathpipe.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/runner/results.h"
#include "analyses.h"
#include "diagnostics.h"

/* ---- stage: the policy's log-probability statistics of the evaluation solutions ---- */

typedef struct {
    math_ctx *m;
    float *mean, *low; /* (sol.n) */
} lp_job;

static gc_status compute_lp(rp_stage *st, void *ctx) {
    lp_job *job = ctx;
    const math_solutions *sol = &job->m->sol;
    gc_model pm;
    GC_TRY(math_load_policy(job->m, &pm));
    gc_status s = gc_math_logprob_stats(
        &pm, (const char *const *)sol->question, (const char *const *)sol->response, sol->n,
        (int)job->m->c.eval.max_len, 32, gc_task_domain(job->m->c.splits[0]), job->mean, job->low);
    gc_model_free(&pm);
    GC_TRY(s);
    char path[RP_PATH];
    rp_stage_file(st, "logprob.json", path);
    cJSON *j = cJSON_CreateObject();
    gc_json_add_floats(j, "mean", job->mean, (size_t)sol->n);
    gc_json_add_floats(j, "min_result_digit", job->low, (size_t)sol->n);
    s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

static gc_status load_lp(const rp_stage *st, void *ctx) {
    lp_job *job = ctx;
    char path[RP_PATH];
    rp_stage_file(st, "logprob.json", path);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    size_t n = (size_t)job->m->sol.n;
    gc_status s = gc_json_floats(path, j, "mean", job->mean, n);
    if (s == GC_OK) s = gc_json_floats(path, j, "min_result_digit", job->low, n);
    cJSON_Delete(j);
    return s;
}

static const rp_stage_def LOGPROB_STATS = {"logprob-stats", __FILE__, compute_lp, load_lp};

/* ---- the measures ---- */

/* AUROC of score over the items idx (n) with the solutions' labels; NAN with one class */
static double auroc_of(const math_solutions *sol, const float *score, const int *idx, int n) {
    double *sc = gc_malloc(sizeof(double) * (n ? n : 1));
    int *y = gc_malloc(sizeof(int) * (n ? n : 1));
    double auc = NAN;
    if (sc && y) {
        for (int i = 0; i < n; i++)
            sc[i] = score[idx[i]], y[i] = sol->correct[idx[i]];
        if (gc_stats_auroc(sc, y, (size_t)n, &auc) != GC_OK) auc = NAN;
    }
    free(sc), free(y);
    return auc;
}

/* pair accuracy and AUROC of a score on the held-out set: good (n) against bad (n) */
static void pair_measures(const float *good, const float *bad, int n, cJSON *o) {
    double acc = 0, auc = NAN;
    double *sc = gc_malloc(sizeof(double) * 2 * (n ? n : 1));
    int *y = gc_malloc(sizeof(int) * 2 * (n ? n : 1));
    for (int k = 0; sc && y && k < n; k++) {
        acc += (good[k] > bad[k]) + 0.5 * (good[k] == bad[k]);
        sc[k] = good[k], y[k] = 1, sc[n + k] = bad[k], y[n + k] = 0;
    }
    if (sc && y && n && gc_stats_auroc(sc, y, (size_t)2 * n, &auc) != GC_OK) auc = NAN;
    free(sc), free(y);
    cJSON_AddNumberToObject(o, RS_ACCURACY, n ? acc / n : NAN);
    cJSON_AddNumberToObject(o, RS_AUROC, auc);
}

/* G0 on the held-out set: the policy's two statistics of the reference and corrupted solutions */
static gc_status heldout_policy(math_ctx *m, cJSON *out) {
    diag_set d;
    GC_TRY(diag_init(m, &d));
    if (!d.n) {
        diag_free(&d);
        return GC_OK;
    }
    gc_model pm = {0};
    gc_status s = math_load_policy(m, &pm);
    float *gm = gc_malloc(sizeof(float) * d.n), *gl = gc_malloc(sizeof(float) * d.n);
    float *bm = gc_malloc(sizeof(float) * d.n), *bl = gc_malloc(sizeof(float) * d.n);
    if (s == GC_OK && !(gm && gl && bm && bl)) s = GC_ERR_NOMEM;
    int L = (int)m->c.eval.max_len;
    gc_domain dom = gc_task_domain(m->c.splits[0]);
    if (s == GC_OK) s = gc_math_logprob_stats(&pm, d.q, d.good, d.n, L, 32, dom, gm, gl);
    if (s == GC_OK) s = gc_math_logprob_stats(&pm, d.q, d.badp, d.n, L, 32, dom, bm, bl);
    if (s == GC_OK) {
        cJSON_AddNumberToObject(out, RS_N, d.n);
        pair_measures(gm, bm, d.n, cJSON_AddObjectToObject(out, RS_G0_MEAN));
        pair_measures(gl, bl, d.n, cJSON_AddObjectToObject(out, RS_G0_MIN));
    }
    if (pm.params) gc_model_free(&pm);
    free(gm), free(gl), free(bm), free(bl);
    diag_free(&d);
    return s;
}

/* G1: the last epoch of each seed's baseline curve (rm_training), mean over seeds */
static void heldout_rm(const math_ctx *m, const cJSON *results, cJSON *out) {
    double acc = 0, auc = 0;
    int n = 0;
    const cJSON *rows = gc_json_get(results, RS_RM_TRAINING);
    for (const cJSON *r = rows ? rows->child : NULL; r; r = r->next) {
        const char *v = cJSON_GetStringValue(gc_json_get(r, RS_VARIANT));
        const cJSON *ep = gc_json_get(r, RS_EPOCHS);
        int k = cJSON_GetArraySize(ep);
        if (!v || strcmp(v, m->c.variant[m->c.base].name) || !k) continue;
        const cJSON *last = cJSON_GetArrayItem(ep, k - 1);
        acc += gc_json_num(last, RS_HELDOUT_ACCURACY, NAN);
        auc += gc_json_num(last, RS_HELDOUT_AUROC, NAN);
        n++;
    }
    cJSON_AddNumberToObject(out, RS_ACCURACY, n ? acc / n : NAN);
    cJSON_AddNumberToObject(out, RS_AUROC, n ? auc / n : NAN);
}

static gc_status write_dat(const char *path, const cJSON *results, const void *ctx) {
    (void)ctx;
    FILE *f = fopen(path, "w");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot write", path);
    fprintf(f, "# pilot measures per split; columns by name\n%s %s %s %s %s\n", RS_SPLIT,
            RS_POLICY_ACCURACY, RS_G0_MEAN, RS_G0_MIN, RS_G2);
    for (const cJSON *g = gc_json_get(results, RS_SPLITS)->child; g; g = g->next)
        fprintf(f, "%s %.5f %.5f %.5f %.5f\n", cJSON_GetStringValue(gc_json_get(g, RS_SPLIT)),
                gc_json_num(g, RS_POLICY_ACCURACY, NAN), gc_json_num(g, RS_G0_MEAN, NAN),
                gc_json_num(g, RS_G0_MIN, NAN), gc_json_num(g, RS_G2, NAN));
    if (fclose(f) != 0) return gc_fail(GC_ERR_IO, "%s: write failed", path);
    return GC_OK;
}

static void print_pilot(const cJSON *r, FILE *f) {
    fprintf(f, "\npilot: AUROC as a classifier of correct greedy solutions\n");
    fprintf(f, "%-11s %5s %5s %8s %12s %12s %14s\n", "split", "n", "right", "accuracy",
            "G0 mean lp", "G0 min lp", "G2 baseline RM");
    for (const cJSON *g = gc_json_get(r, RS_SPLITS)->child; g; g = g->next)
        fprintf(f, "%-11s %5.0f %5.0f %8.3f %12.3f %12.3f %14.3f\n",
                cJSON_GetStringValue(gc_json_get(g, RS_SPLIT)), gc_json_num(g, RS_N, NAN),
                gc_json_num(g, RS_N_CORRECT, NAN), gc_json_num(g, RS_POLICY_ACCURACY, NAN),
                gc_json_num(g, RS_G0_MEAN, NAN), gc_json_num(g, RS_G0_MIN, NAN),
                gc_json_num(g, RS_G2, NAN));
    const cJSON *h = gc_json_get(r, RS_HELDOUT);
    fprintf(f,
            "held-out reference vs corrupted (%.0f pairs): pair accuracy / AUROC\n"
            "  G0 mean lp %.3f / %.3f; G0 min lp %.3f / %.3f; G1 baseline RM %.3f / %.3f\n",
            gc_json_num(h, RS_N, NAN), gc_json_num(gc_json_get(h, RS_G0_MEAN), RS_ACCURACY, NAN),
            gc_json_num(gc_json_get(h, RS_G0_MEAN), RS_AUROC, NAN),
            gc_json_num(gc_json_get(h, RS_G0_MIN), RS_ACCURACY, NAN),
            gc_json_num(gc_json_get(h, RS_G0_MIN), RS_AUROC, NAN),
            gc_json_num(gc_json_get(h, RS_G1), RS_ACCURACY, NAN),
            gc_json_num(gc_json_get(h, RS_G1), RS_AUROC, NAN));
}

gc_status math_analyse_pilot(math_ctx *m, const cJSON *section, const char *path) {
    (void)section, (void)path;
    const math_solutions *sol = &m->sol;
    int seeds = m->r->seeds, n = sol->n ? sol->n : 1;
    float *mean = gc_malloc(sizeof(float) * n), *low = gc_malloc(sizeof(float) * n);
    float *rw = gc_malloc(sizeof(float) * n * seeds);
    int *idx = gc_malloc(sizeof(int) * n);
    gc_status s = mean && low && rw && idx ? GC_OK : GC_ERR_NOMEM;
    lp_job job = {m, mean, low};
    rp_stage *in[2] = {m->pol, m->est};
    if (s == GC_OK)
        s = rp_stage_run(m->r, &LOGPROB_STATS, "logprob-stats", NULL, in, 2, &job, NULL);
    for (int k = 1; s == GC_OK && k <= seeds; k++)
        s = math_score_solutions(m, math_rm_stage(m, m->c.base, k), rw + (size_t)(k - 1) * n);
    cJSON *results = s == GC_OK ? rp_metadata(m->r) : NULL;
    if (results) {
        cJSON *splits = cJSON_AddArrayToObject(results, RS_SPLITS);
        for (int sp = 0; sp < m->c.n_splits; sp++) {
            const char *name = gc_task_split_name(m->c.splits[sp]);
            int k = 0, right = 0;
            for (int i = 0; i < sol->n; i++)
                if (!strcmp(sol->split[i], name)) idx[k++] = i, right += sol->correct[i];
            cJSON *g = cJSON_CreateObject();
            cJSON_AddItemToArray(splits, g);
            cJSON_AddStringToObject(g, RS_SPLIT, name);
            cJSON_AddNumberToObject(g, RS_N, k);
            cJSON_AddNumberToObject(g, RS_N_CORRECT, right);
            cJSON_AddNumberToObject(g, RS_POLICY_ACCURACY, k ? (double)right / k : NAN);
            cJSON_AddNumberToObject(g, RS_G0_MEAN, auroc_of(sol, mean, idx, k));
            cJSON_AddNumberToObject(g, RS_G0_MIN, auroc_of(sol, low, idx, k));
            double g2 = 0;
            for (int j = 0; j < seeds; j++)
                g2 += auroc_of(sol, rw + (size_t)j * n, idx, k) / seeds;
            cJSON_AddNumberToObject(g, RS_G2, g2);
        }
        s = math_rm_training(m, results);
        cJSON *h = cJSON_AddObjectToObject(results, RS_HELDOUT);
        if (s == GC_OK) s = heldout_policy(m, h);
        heldout_rm(m, results, cJSON_AddObjectToObject(h, RS_G1));
        if (s == GC_OK)
            s = math_finish(m, results, write_dat, NULL, print_pilot);
        else
            cJSON_Delete(results);
    }
    free(mean), free(low), free(rw), free(idx);
    return s;
}
