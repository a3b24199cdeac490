#include "diagnostics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/stats/stats.h"
#include "lib/tasks/mathpipe.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/runner/results.h"

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
        gc_arith_problem *p = &d->p[d->n];
        gc_arith_generate(GC_ARITH_TRAIN, (uint64_t)m->c.data.seed, i, p);
        int clash = 0; /* never an evaluation question */
        for (int k = 0; k < m->eval.n && !clash; k++)
            clash = !strcmp(m->eval.p[k].question, p->question);
        gc_arith_corrupt(p, (uint64_t)i, d->bad[d->n]);
        if (clash || gc_arith_check(d->bad[d->n], p->answer)) continue;
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

/* ---- the run's curves ---- */

static gc_status write_dat(const char *path, const cJSON *rows) {
    FILE *f = fopen(path, "w");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot write", path);
    fprintf(f,
            "# reward-model training curves, one block per RM (gnuplot index); columns by name\n");
    int block = 0;
    for (const cJSON *r = rows->child; r; r = r->next, block++) {
        /* the seventh column's header names the RM, for the plot's legend */
        fprintf(f, "%s%s %s %s %s %s %s %s-seed%.0f\n", block ? "\n\n" : "", RS_EPOCH,
                RS_TRAIN_ACCURACY, RS_TRAIN_LOSS, RS_HELDOUT_ACCURACY, RS_HELDOUT_LOSS,
                RS_HELDOUT_AUROC, cJSON_GetStringValue(gc_json_get(r, RS_VARIANT)),
                gc_json_num(r, "seed", 0));
        for (const cJSON *e = gc_json_get(r, RS_EPOCHS)->child; e; e = e->next)
            fprintf(f, "%.0f %.5f %.5f %.5f %.5f %.5f %s-seed%.0f\n", gc_json_num(e, RS_EPOCH, 0),
                    gc_json_num(e, RS_TRAIN_ACCURACY, NAN), gc_json_num(e, RS_TRAIN_LOSS, NAN),
                    gc_json_num(e, RS_HELDOUT_ACCURACY, NAN), gc_json_num(e, RS_HELDOUT_LOSS, NAN),
                    gc_json_num(e, RS_HELDOUT_AUROC, NAN),
                    cJSON_GetStringValue(gc_json_get(r, RS_VARIANT)), gc_json_num(r, "seed", 0));
    }
    if (fclose(f) != 0) return gc_fail(GC_ERR_IO, "%s: write failed", path);
    return GC_OK;
}

gc_status math_rm_training(const math_ctx *m, cJSON *results) {
    cJSON *rows = cJSON_AddArrayToObject(results, RS_RM_TRAINING);
    for (int k = 0; k < m->c.n_variants; k++) {
        int v = math_variant_order(m, k);
        for (int seed = 1; seed <= m->r->seeds; seed++) {
            char path[RP_PATH];
            rp_stage_file(math_rm_stage(m, v, seed), "diagnostics.json", path);
            cJSON *d = NULL;
            GC_TRY(gc_json_read(path, &d));
            cJSON *row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, RS_VARIANT, m->c.variant[v].name);
            cJSON_AddNumberToObject(row, "seed", seed);
            cJSON_AddItemToObject(row, RS_EPOCHS, cJSON_Duplicate(gc_json_get(d, RS_EPOCHS), 1));
            cJSON_AddItemToArray(rows, row);
            cJSON_Delete(d);
        }
    }
    char dir[RP_PATH], dat[RP_PATH + 64], name[160];
    rp_result_dir(m->r, dir);
    GC_TRY(rp_mkdirs(dir));
    snprintf(name, sizeof name, "%s-rm-training", m->r->experiment);
    snprintf(dat, sizeof dat, "%s/%s.dat", dir, name);
    GC_TRY(write_dat(dat, rows));
    rp_plot("rm-training", dir, name, NULL);
    return GC_OK;
}
