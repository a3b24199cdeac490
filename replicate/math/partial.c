/* partial: the fig3 analysis, AUROC on partial generations (PAPER.md section 3).
 *
 * Each evaluation solution of the chosen splits is cut after a fraction p of its response
 * tokens, p = 0, 1/(points-1), ..., 1. The response counts its EOS, so p = 1 reads the final
 * reward of fig2; a prefix holds k = max(1, round(p * n_response)) tokens and is scored at its
 * last token, (a) by the reward head and (b) by the Q-value cos(h, g) with the reward model's
 * goal state g (goal.json of its rm stage). One forward pass per solution gives every prefix:
 * causal attention makes the hidden state at a position independent of what follows.
 *
 * Stage partial-<variant>-seed<k> stores the (item, p) scores; the analysis reports per variant,
 * score and p: the AUROC per seed, its mean with a t-based 95% CI over seeds, and a percentile
 * bootstrap 95% CI over questions of the AUROC of the seed-averaged standardised scores. The trend
 * of each curve: the Spearman correlation between p and the seed-mean AUROC, and the seeds whose
 * AUROC at p = 1 exceeds their AUROC at p = 0.1. Per variant and p, the Pearson correlation of
 * Q-values with rewards over the solutions (mean over seeds; the head ablation's measure).
 *
 * Scale section "partial": splits (array of split names; default all), points (>= 3, default
 * 11), bootstrap (resamples, default 1000).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/config.h"
#include "lib/util/jsonio.h"
#include "lib/tasks/mathpipe.h"
#include "lib/stats/stats.h"
#include "replicate/claims/claims.h"
#include "replicate/runner/results.h"
#include "analyses.h"
#include "diagnostics.h"
#include "replicate/claims/schema.h"

enum { SC_REWARD, SC_Q, N_SCORES };
static const char *const SCORE_NAMES[N_SCORES] = {"reward", "q"};

typedef struct {
    int64_t points, bootstrap;
    const cJSON *splits;
} partial_cfg;

static const gc_cfg_field partial_f[] = {
    {"points", GC_CFG_INT, offsetof(partial_cfg, points), 0, 3, 101, NULL},
    {"bootstrap", GC_CFG_INT, offsetof(partial_cfg, bootstrap), 0, 100, 100000, NULL},
    {"splits", GC_CFG_ARRAY, offsetof(partial_cfg, splits), 0, 0, 0, NULL},
};

static gc_status read_partial(const math_ctx *m, const cJSON *section, const char *path,
                              partial_cfg *pc) {
    *pc = (partial_cfg){.points = 11, .bootstrap = 1000};
    GC_TRY(gc_config_read(&m->r->cfg, section, path, partial_f, GC_CFG_COUNT(partial_f), pc));
    if (!pc->splits) return GC_OK;
    char key[160];
    snprintf(key, sizeof key, "%s.splits", path);
    return math_check_splits(m, pc->splits, key);
}

/* ---- stage: prefix scores of one reward model ---- */

typedef struct {
    const gc_rm *rm;
    const float *goal; /* (D) */
    int points;
    float *score[N_SCORES]; /* (n, points) */
} probe_ctx;

static gc_status probe_item(void *ctx, int item, const float *h, const float *logits,
                            const int32_t *tok, int prompt_len, int len) {
    (void)logits, (void)tok;
    probe_ctx *pc = ctx;
    int D = pc->rm->model.cfg.dim, nr = len - prompt_len;
    for (int i = 0; i < pc->points; i++) {
        double p = (double)i / (pc->points - 1);
        int k = (int)lround(p * nr);
        const float *hp = h + (size_t)(prompt_len + (k < 1 ? 1 : k) - 1) * D;
        pc->score[SC_REWARD][(size_t)item * pc->points + i] = gc_rm_reward(pc->rm, hp);
        pc->score[SC_Q][(size_t)item * pc->points + i] = gc_qvalue(hp, pc->goal, D);
    }
    return GC_OK;
}

typedef struct {
    math_ctx *m;
    const rp_stage *rmst;
    const partial_cfg *pc;
    const int *idx; /* (n) items of the evaluation solutions */
    int n;
    float *const *score; /* [N_SCORES] (n, points) */
} partial_job;

static gc_status compute_partial(rp_stage *st, void *ctx) {
    const partial_job *job = ctx;
    const math_ctx *m = job->m;
    int n = job->n, P = (int)job->pc->points;
    gc_rm rm;
    GC_TRY(math_load_rm(job->rmst, &rm));
    int D = rm.model.cfg.dim;
    float *goal = gc_malloc(sizeof(float) * D);
    const char **qs = gc_malloc(sizeof(char *) * (n ? n : 1));
    const char **rs = gc_malloc(sizeof(char *) * (n ? n : 1));
    gc_status s = goal && qs && rs ? math_read_goal(job->rmst, D, goal) : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < n; i++)
        qs[i] = m->sol.question[job->idx[i]], rs[i] = m->sol.response[job->idx[i]];
    probe_ctx pcx = {&rm, goal, P, {job->score[SC_REWARD], job->score[SC_Q]}};
    if (s == GC_OK)
        s = gc_math_hidden_each(&rm.model, 0, qs, rs, n, (int)m->c.eval.max_len, 32, probe_item,
                                &pcx);
    gc_rm_free(&rm);
    free(goal), free(qs), free(rs);
    GC_TRY(s);
    char path[RP_PATH];
    rp_stage_file(st, "partial.json", path);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "points", P);
    cJSON_AddStringToObject(j, "layout",
                            "item-major: score[item * points + i] at p = i / (points - 1)");
    for (int k = 0; k < N_SCORES; k++)
        gc_json_add_floats(j, SCORE_NAMES[k], job->score[k], (size_t)n * P);
    s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

static gc_status load_partial(const rp_stage *st, void *ctx) {
    const partial_job *job = ctx;
    char path[RP_PATH];
    rp_stage_file(st, "partial.json", path);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    gc_status s = GC_OK;
    for (int k = 0; k < N_SCORES && s == GC_OK; k++)
        s = gc_json_floats(path, j, SCORE_NAMES[k], job->score[k],
                           (size_t)job->n * job->pc->points);
    cJSON_Delete(j);
    return s;
}

static const rp_stage_def PARTIAL = {"partial", __FILE__, compute_partial, load_partial};

/* Fills score[SC_*] (n, points) for the n items idx of the evaluation solutions. */
static gc_status stage_partial(math_ctx *m, const rp_stage *rmst, const partial_cfg *pc,
                               const int *idx, int n, float *const score[N_SCORES]) {
    char name[96];
    snprintf(name, sizeof name, "partial-%s", rmst->name + 3);
    cJSON *key = cJSON_CreateObject();
    cJSON_AddNumberToObject(key, "points", (double)pc->points);
    cJSON_AddItemToObject(key, RS_SPLITS,
                          pc->splits ? cJSON_Duplicate(pc->splits, 1) : cJSON_CreateNull());
    partial_job job = {m, rmst, pc, idx, n, score};
    rp_stage *in[2] = {(rp_stage *)rmst, m->est};
    return rp_stage_run(m->r, &PARTIAL, name, key, in, 2, &job, NULL);
}

/* ---- analysis ---- */

/* One curve: AUROC against p for one variant and score. sc[seed] (n, P). */
static cJSON *curve(const char *variant, int kind, float *const *sc, int seeds, const int *y, int n,
                    int P, int64_t bootstrap) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, RS_VARIANT, variant);
    cJSON_AddStringToObject(o, RS_SCORE, SCORE_NAMES[kind]);
    cJSON *mean = cJSON_AddArrayToObject(o, RS_MEAN), *lo = cJSON_AddArrayToObject(o, RS_LO);
    cJSON *hi = cJSON_AddArrayToObject(o, RS_HI), *per = cJSON_AddArrayToObject(o, RS_PER_SEED);
    cJSON *bm = cJSON_AddArrayToObject(o, RS_BOOT_AUROC),
          *bl = cJSON_AddArrayToObject(o, RS_BOOT_LO);
    cJSON *bh = cJSON_AddArrayToObject(o, RS_BOOT_HI);
    double *x = gc_malloc(sizeof(double) * n), *avg = gc_calloc((size_t)n, sizeof(double));
    double *auc = gc_malloc(sizeof(double) * (size_t)seeds * P),
           *means = gc_malloc(sizeof(double) * P);
    double *ps = gc_malloc(sizeof(double) * P);
    if (!x || !avg || !auc || !means || !ps) {
        free(x), free(avg), free(auc), free(means), free(ps);
        cJSON_AddStringToObject(o, RS_ERROR, "out of memory");
        return o;
    }
    for (int s = 0; s < seeds; s++)
        cJSON_AddItemToArray(per, cJSON_CreateArray());
    for (int i = 0; i < P; i++) {
        memset(avg, 0, sizeof(double) * n);
        for (int s = 0; s < seeds; s++) {
            double mu = 0, var = 0;
            for (int k = 0; k < n; k++)
                x[k] = sc[s][(size_t)k * P + i], mu += x[k] / n;
            for (int k = 0; k < n; k++)
                var += (x[k] - mu) * (x[k] - mu) / n;
            double sd = var > 0 ? sqrt(var) : 1;
            for (int k = 0; k < n; k++)
                avg[k] += (x[k] - mu) / sd / seeds;
            gc_stats_auroc(x, y, (size_t)n, &auc[s * P + i]);
            cJSON_AddItemToArray(cJSON_GetArrayItem(per, s), cJSON_CreateNumber(auc[s * P + i]));
        }
        double a[64];
        for (int s = 0; s < seeds; s++)
            a[s] = auc[s * P + i];
        gc_summary sm;
        gc_stats_summary(a, (size_t)seeds, 0.95, &sm);
        means[i] = sm.mean, ps[i] = (double)i / (P - 1);
        cJSON_AddItemToArray(mean, cJSON_CreateNumber(sm.mean));
        cJSON_AddItemToArray(lo, cJSON_CreateNumber(sm.lo));
        cJSON_AddItemToArray(hi, cJSON_CreateNumber(sm.hi));
        double ba, blo, bhi;
        gc_stats_auroc(avg, y, (size_t)n, &ba);
        gc_stats_auroc_bootstrap(avg, y, (size_t)n, (int)bootstrap, 0xF163 + (uint64_t)i, 0.95,
                                 &blo, &bhi);
        cJSON_AddItemToArray(bm, cJSON_CreateNumber(ba));
        cJSON_AddItemToArray(bl, cJSON_CreateNumber(blo));
        cJSON_AddItemToArray(bh, cJSON_CreateNumber(bhi));
    }
    int i10 = (int)lround(0.1 * (P - 1)), rising = 0;
    for (int s = 0; s < seeds; s++)
        rising += auc[s * P + P - 1] > auc[s * P + i10];
    cJSON_AddNumberToObject(o, RS_SPEARMAN, gc_stats_spearman(ps, means, (size_t)P));
    cJSON_AddNumberToObject(o, RS_SEEDS_RISING, rising);
    cJSON_AddNumberToObject(o, RS_SEEDS, seeds);
    free(x), free(avg), free(auc), free(means), free(ps);
    return o;
}

gc_status math_partial_plot_data(const char *path, const cJSON *results, const void *ctx) {
    (void)ctx;
    const cJSON *pr = cJSON_GetObjectItem(results, RS_PARTIAL);
    const cJSON *pts = cJSON_GetObjectItem(pr, RS_P), *curves = cJSON_GetObjectItem(pr, RS_CURVES);
    FILE *f = fopen(path, "w");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot write", path);
    static const char *cols[] = {RS_MEAN, RS_LO, RS_HI, RS_BOOT_AUROC, RS_BOOT_LO, RS_BOOT_HI};
    fprintf(f,
            "# AUROC against p per curve <variant>_<score>: seed mean and its CI, bootstrap "
            "AUROC and its CI; columns by name\n%s",
            RS_P);
    for (const cJSON *c = curves->child; c; c = c->next)
        for (int k = 0; k < 6; k++)
            fprintf(f, " %s_%s_%s", cJSON_GetObjectItem(c, RS_VARIANT)->valuestring,
                    cJSON_GetObjectItem(c, RS_SCORE)->valuestring, cols[k]);
    fprintf(f, "\n");
    int P = cJSON_GetArraySize(pts);
    for (int i = 0; i < P; i++) {
        fprintf(f, "%.3f", cJSON_GetArrayItem(pts, i)->valuedouble);
        for (const cJSON *c = curves->child; c; c = c->next)
            for (int k = 0; k < 6; k++)
                fprintf(f, " %.5f",
                        cJSON_GetArrayItem(cJSON_GetObjectItem(c, cols[k]), i)->valuedouble);
        fprintf(f, "\n");
    }
    return fclose(f) == 0 ? GC_OK : gc_fail(GC_ERR_IO, "%s: write failed", path);
}

void math_partial_print(const cJSON *results, FILE *f) {
    const cJSON *pr = cJSON_GetObjectItem(results, RS_PARTIAL);
    const cJSON *pts = cJSON_GetObjectItem(pr, RS_P), *curves = cJSON_GetObjectItem(pr, RS_CURVES);
    fprintf(f, "\nAUROC on partial generations (%d solutions, %d correct), seed mean\n%-22s",
            (int)cJSON_GetObjectItem(pr, RS_N)->valuedouble,
            (int)cJSON_GetObjectItem(pr, RS_N_CORRECT)->valuedouble, "p");
    for (const cJSON *p = pts->child; p; p = p->next)
        fprintf(f, " %5.2f", p->valuedouble);
    fprintf(f, "  spearman  rising\n");
    for (const cJSON *c = curves->child; c; c = c->next) {
        char label[40];
        snprintf(label, sizeof label, "%s %s", cJSON_GetObjectItem(c, RS_VARIANT)->valuestring,
                 cJSON_GetObjectItem(c, RS_SCORE)->valuestring);
        fprintf(f, "%-22s", label);
        for (const cJSON *a = cJSON_GetObjectItem(c, RS_MEAN)->child; a; a = a->next)
            fprintf(f, " %5.3f", a->valuedouble);
        fprintf(f, "  %+8.3f  %2.0f/%.0f\n", cJSON_GetObjectItem(c, RS_SPEARMAN)->valuedouble,
                cJSON_GetObjectItem(c, RS_SEEDS_RISING)->valuedouble,
                cJSON_GetObjectItem(c, RS_SEEDS)->valuedouble);
    }
    fprintf(f, "\ncorrelation of Q-values with rewards (Pearson, mean over seeds)\n%-22s", "p");
    for (const cJSON *p = pts->child; p; p = p->next)
        fprintf(f, " %5.2f", p->valuedouble);
    fprintf(f, "\n");
    for (const cJSON *c = cJSON_GetObjectItem(pr, RS_Q_REWARD_CORRELATION)->child; c; c = c->next) {
        fprintf(f, "%-22s", cJSON_GetObjectItem(c, RS_VARIANT)->valuestring);
        for (const cJSON *a = cJSON_GetObjectItem(c, RS_R)->child; a; a = a->next)
            fprintf(f, " %+5.2f", a->valuedouble);
        fprintf(f, "\n");
    }
    claims_print_verdict(results, f);
}

void math_partial_results(const math_partial_in *in, cJSON *results, char *vars, size_t cap) {
    int n = in->n, P = in->P, seeds = in->seeds, pos = 0;
    for (int i = 0; i < n; i++)
        pos += in->y[i];
    cJSON *pr = cJSON_AddObjectToObject(results, RS_PARTIAL);
    cJSON_AddItemToObject(pr, RS_SPLITS,
                          in->splits ? cJSON_Duplicate(in->splits, 1) : cJSON_CreateString("all"));
    cJSON_AddNumberToObject(pr, RS_N, n);
    cJSON_AddNumberToObject(pr, RS_N_CORRECT, pos);
    cJSON_AddStringToObject(pr, RS_PREFIX,
                            "k = max(1, round(p * n_response)) response tokens "
                            "(EOS counted), scored at the k-th");
    cJSON *pts = cJSON_AddArrayToObject(pr, RS_P), *curves = cJSON_AddArrayToObject(pr, RS_CURVES);
    for (int i = 0; i < P; i++)
        cJSON_AddItemToArray(pts, cJSON_CreateNumber((double)i / (P - 1)));
    for (int k = 0; k < N_SCORES; k++)
        for (int v = 0; v < in->n_variants; v++)
            cJSON_AddItemToArray(curves, curve(in->names[v], k,
                                               (k == SC_Q ? in->q : in->reward) + v * seeds, seeds,
                                               in->y, n, P, in->bootstrap));
    /* how closely Q-values track rewards along the generation: Pearson correlation over the
     * solutions at each p, mean over seeds */
    cJSON *corr = cJSON_AddArrayToObject(pr, RS_Q_REWARD_CORRELATION);
    double *a = gc_malloc(sizeof(double) * (n ? n : 1)),
           *b = gc_malloc(sizeof(double) * (n ? n : 1));
    for (int v = 0; a && b && v < in->n_variants; v++) {
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, RS_R);
        cJSON_AddStringToObject(o, RS_VARIANT, in->names[v]);
        for (int i = 0; i < P; i++) {
            double mean_r = 0;
            for (int seed = 0; seed < seeds; seed++) {
                for (int k = 0; k < n; k++)
                    a[k] = in->q[v * seeds + seed][(size_t)k * P + i],
                    b[k] = in->reward[v * seeds + seed][(size_t)k * P + i];
                mean_r += gc_stats_pearson(a, b, (size_t)n) / seeds;
            }
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(mean_r));
        }
        cJSON_AddItemToArray(corr, o);
    }
    free(a), free(b);
    snprintf(vars, cap, "names='"); /* the variants, in the curves' order */
    for (int v = 0; v < in->n_variants; v++)
        snprintf(vars + strlen(vars), cap - strlen(vars), "%s%s", v ? " " : "", in->names[v]);
    strncat(vars, "'", cap - strlen(vars) - 1);
}

gc_status math_analyse_partial(math_ctx *m, const cJSON *section, const char *path) {
    partial_cfg pc;
    GC_TRY(read_partial(m, section, path, &pc));
    int seeds = m->r->seeds, P = (int)pc.points;
    int *idx = gc_malloc(sizeof(int) * (m->sol.n ? m->sol.n : 1));
    if (!idx) return GC_ERR_NOMEM;
    int n = math_select(m, pc.splits, idx), pos = 0;
    int *y = gc_malloc(sizeof(int) * (n ? n : 1));
    float **sc = gc_calloc((size_t)MAX_VARIANTS * N_SCORES * seeds, sizeof(float *));
    gc_status s = y && sc ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < n; i++)
        y[i] = m->sol.correct[idx[i]], pos += y[i];
    if (s == GC_OK && (pos == 0 || pos == n))
        s = gc_fail(GC_ERR_ARG,
                    "partial: the %d solutions of the chosen splits are all %s: no "
                    "AUROC",
                    n, pos ? "correct" : "incorrect");
#define SC(v, k, seed) sc[((v)*N_SCORES + (k)) * seeds + (seed)]
    for (int v = 0; s == GC_OK && v < m->c.n_variants; v++)
        for (int seed = 0; s == GC_OK && seed < seeds; seed++) {
            for (int k = 0; k < N_SCORES && s == GC_OK; k++)
                if (!(SC(v, k, seed) = gc_malloc(sizeof(float) * (size_t)(n ? n : 1) * P)))
                    s = GC_ERR_NOMEM;
            float *const pair[N_SCORES] = {SC(v, SC_REWARD, seed), SC(v, SC_Q, seed)};
            if (s == GC_OK) s = stage_partial(m, math_rm_stage(m, v, seed + 1), &pc, idx, n, pair);
        }
    if (s == GC_OK) {
        const char *names[MAX_VARIANTS];
        float *rw[MAX_VARIANTS * 64], *qv[MAX_VARIANTS * 64];
        for (int v = 0; v < m->c.n_variants; v++) {
            int vv = math_variant_order(m, v);
            names[v] = m->c.variant[vv].name;
            for (int seed = 0; seed < seeds; seed++)
                rw[v * seeds + seed] = SC(vv, SC_REWARD, seed),
                               qv[v * seeds + seed] = SC(vv, SC_Q, seed);
        }
        math_partial_in in = {n, P,  seeds, m->c.n_variants, names,
                              y, rw, qv,    pc.bootstrap,    pc.splits};
        cJSON *results = rp_metadata(m->r);
        char vars[512];
        math_partial_results(&in, results, vars, sizeof vars);
        s = math_finish(m, results, math_partial_plot_data, vars, math_partial_print);
    }
    for (int i = 0; sc && i < MAX_VARIANTS * N_SCORES * seeds; i++)
        free(sc[i]);
#undef SC
    free(sc), free(y), free(idx);
    return s;
}
