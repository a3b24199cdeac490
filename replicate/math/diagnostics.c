#include "diagnostics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/runner/results.h"

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
    if (gc_json_get(results, RS_RM_TRAINING)) return GC_OK; /* added already */
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

gc_status math_finish(const math_ctx *m, cJSON *results, rp_dat_fn dat, const char *plot_vars,
                      void (*print)(const cJSON *results, FILE *f)) {
    gc_status s = math_rm_training(m, results);
    if (s != GC_OK) {
        cJSON_Delete(results);
        return s;
    }
    return rp_finish(m->r, results, dat, m, plot_vars, print);
}
