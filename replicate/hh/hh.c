/* The hh pipeline (hh.h): configuration, folds, the stages, and table3a's analysis. */
#include "hh.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/stats/stats.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/runner/results.h"

#define F GC_CFG_FIELD

static const gc_cfg_field data_f[] = {
    F(hh_data_cfg, file, GC_CFG_STRING, 1, 0, 0, NULL),
    F(hh_data_cfg, pairs, GC_CFG_INT, 0, 0, 1e7, NULL),
    F(hh_data_cfg, folds, GC_CFG_INT, 1, 2, 100, NULL),
    F(hh_data_cfg, split_seed, GC_CFG_INT, 0, 0, 1e12, NULL),
};
static const gc_cfg_field model_f[] = {
    F(hh_model_cfg, checkpoint, GC_CFG_STRING, 1, 0, 0, NULL),
    F(hh_model_cfg, tokenizer, GC_CFG_STRING, 1, 0, 0, NULL),
    F(hh_model_cfg, context, GC_CFG_INT, 1, 19, 1 << 20, NULL),
};
const gc_cfg_field hh_rm_fields[] = {
    F(hh_rm_cfg, epochs, GC_CFG_INT, 1, 1, 1000, NULL),
    F(hh_rm_cfg, batch, GC_CFG_INT, 1, 1, 4096, NULL),
    F(hh_rm_cfg, warmup, GC_CFG_INT, 0, 0, 1e6, NULL),
    F(hh_rm_cfg, K, GC_CFG_INT, 0, 1, 1024, NULL),
    F(hh_rm_cfg, lr, GC_CFG_FLOAT, 1, 1e-8, 1, NULL),
    F(hh_rm_cfg, lr_min, GC_CFG_FLOAT, 0, 0, 1, NULL),
    F(hh_rm_cfg, clip, GC_CFG_FLOAT, 0, 0, 1e6, NULL),
    F(hh_rm_cfg, weight_decay, GC_CFG_FLOAT, 0, 0, 10, NULL),
    F(hh_rm_cfg, lambda, GC_CFG_FLOAT, 0, 1e-6, 100, NULL),
    F(hh_rm_cfg, pairs, GC_CFG_ENUM, 0, 0, 0, "all|ordered"),
    F(hh_rm_cfg, reduction, GC_CFG_ENUM, 0, 0, 0, "log_of_mean|mean_of_log"),
};
const size_t hh_rm_n_fields = GC_CFG_COUNT(hh_rm_fields);

void hh_data_path(const hh_ctx *h, const char *rel, char out[RP_PATH]) {
    (void)h;
    const char *env = getenv("GCRM_DATA");
    if (rel[0] == '/')
        snprintf(out, RP_PATH, "%s", rel);
    else if (env && *env)
        snprintf(out, RP_PATH, "%s/%s", env, rel);
    else
        snprintf(out, RP_PATH, "%s/../shared/data/%s", rp_repo_dir(), rel);
}

/* the data section of a reward model trained on every pair (no folds) */
static const gc_cfg_field data_all_f[] = {
    F(hh_data_cfg, file, GC_CFG_STRING, 1, 0, 0, NULL),
    F(hh_data_cfg, pairs, GC_CFG_INT, 0, 0, 1e7, NULL),
};

gc_status hh_read_sections(hh_ctx *h, const cJSON *obj, const char *at, int folds) {
    const gc_config *cf = &h->r->cfg;
    static const char *const sections[] = {"data", "model", "rm"};
    for (const cJSON *sec = obj->child; sec; sec = sec->next) {
        int ok = 0;
        for (int i = 0; i < 3; i++)
            ok |= !strcmp(sec->string, sections[i]);
        char path[128];
        snprintf(path, sizeof path, "%s.%s", at, sec->string);
        if (!ok) return gc_config_fail(cf, path, "unknown key (known keys: data model rm)");
    }
    const gc_cfg_field *f[3] = {folds ? data_f : data_all_f, model_f, hh_rm_fields};
    size_t nf[3] = {folds ? GC_CFG_COUNT(data_f) : GC_CFG_COUNT(data_all_f), GC_CFG_COUNT(model_f),
                    hh_rm_n_fields};
    void *dst[3] = {&h->data, &h->model, &h->rm};
    h->data = (hh_data_cfg){.split_seed = 1, .folds = 1};
    h->rm = (hh_rm_cfg){.K = 16, .lambda = 0.5, .clip = 1.0};
    for (int i = 0; i < 3; i++) {
        const cJSON *sec = cJSON_GetObjectItemCaseSensitive(obj, sections[i]);
        char path[128];
        snprintf(path, sizeof path, "%s.%s", at, sections[i]);
        if (!sec) return gc_config_fail(cf, at, "missing required key '%s'", sections[i]);
        GC_TRY(gc_config_read(cf, sec, path, f[i], nf[i], dst[i]));
    }
    return GC_OK;
}

gc_status hh_check_files(const hh_ctx *h) {
    const char *files[3] = {h->data.file, h->model.checkpoint, h->model.tokenizer};
    for (int i = 0; i < 3; i++) {
        char path[RP_PATH];
        hh_data_path(h, files[i], path);
        if (access(path, R_OK) != 0)
            return gc_fail(GC_ERR_IO,
                           "%s: cannot read %s (data files are found under GCRM_DATA, default "
                           "../shared/data beside the repository; see its README.md)",
                           h->r->cfg.path, path);
    }
    return GC_OK;
}

/* each pair's fold: a permutation drawn from split_seed, cut into folds of equal size (+-1) */
static gc_status assign_folds(hh_ctx *h) {
    int n = h->tk.n, k = (int)h->data.folds;
    if (n < 2 * k)
        return gc_fail(GC_ERR_CONFIG, "%s: %d pairs cannot fill %d folds", h->r->cfg.path, n, k);
    int *perm = gc_malloc(sizeof(int) * n);
    h->fold = gc_malloc(sizeof(int) * n);
    if (!perm || !h->fold) {
        free(perm);
        return GC_ERR_NOMEM;
    }
    gc_rng rng;
    gc_rng_init(&rng, (uint64_t)h->data.split_seed, gc_rng_stream(GC_STREAM_FOLDS, 0));
    for (int i = 0; i < n; i++)
        perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)gc_rng_below(&rng, (uint32_t)i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int i = 0; i < n; i++)
        h->fold[perm[i]] = (int)((int64_t)i * k / n);
    free(perm);
    return GC_OK;
}

/* ---- analysis ---- */

static const char *const VARIANT[HH_VARIANTS] = {RS_BASELINE, RS_GOAL};
enum { BOOT_REPS = 2000, BOOT_SEED = 3 };

/* 1 when the chosen response outscores the rejected one, 1/2 on a tie */
static double right(const float *rew, int i) {
    return rew[2 * i] > rew[2 * i + 1] ? 1.0 : rew[2 * i] == rew[2 * i + 1] ? 0.5 : 0.0;
}

cJSON *hh_accuracy(const rp_run *r, int n, const float *const *reward) {
    int S = r->seeds;
    cJSON *res = rp_metadata(r);
    cJSON_AddNumberToObject(res, "pairs", n);
    double *mean[HH_VARIANTS], acc[HH_VARIANTS][64], *diff = gc_malloc(sizeof(double) * n);
    mean[0] = gc_calloc((size_t)n, sizeof(double)), mean[1] = gc_calloc((size_t)n, sizeof(double));
    if (!diff || !mean[0] || !mean[1]) {
        free(diff), free(mean[0]), free(mean[1]);
        cJSON_Delete(res);
        return NULL;
    }
    cJSON *accj = cJSON_AddObjectToObject(res, RS_ACCURACY);
    for (int v = 0; v < HH_VARIANTS; v++) {
        for (int s = 0; s < S; s++) {
            const float *rew = reward[v * S + s];
            acc[v][s] = 0;
            for (int i = 0; i < n; i++) {
                double x = right(rew, i);
                acc[v][s] += x / n, mean[v][i] += x / S;
            }
        }
        cJSON *o = rp_summary(acc[v], S);
        double lo, hi; /* over pairs: the seed-averaged accuracy */
        gc_stats_mean_bootstrap(mean[v], (size_t)n, BOOT_REPS, BOOT_SEED, 0.95, &lo, &hi);
        cJSON_AddNumberToObject(o, "pairs_lo", lo);
        cJSON_AddNumberToObject(o, "pairs_hi", hi);
        cJSON_AddItemToObject(accj, VARIANT[v], o);
    }
    double d = 0, lo, hi, p;
    for (int i = 0; i < n; i++)
        diff[i] = mean[HH_GOAL][i] - mean[HH_BASELINE][i], d += diff[i] / n;
    gc_stats_paired_bootstrap(diff, (size_t)n, BOOT_REPS, BOOT_SEED, 0.95, &lo, &hi, &p);
    cJSON *dj = cJSON_AddObjectToObject(res, RS_DIFF);
    cJSON_AddNumberToObject(dj, RS_MEAN, d);
    cJSON_AddNumberToObject(dj, RS_LO, lo);
    cJSON_AddNumberToObject(dj, RS_HI, hi);
    cJSON_AddNumberToObject(dj, RS_P, p);
    cJSON_AddNumberToObject(dj, RS_SE, (hi - lo) / (2 * gc_stats_norm_quantile(0.975)));
    cJSON_AddStringToObject(dj, RS_TEST,
                            "paired bootstrap over pairs of the seed-averaged accuracy difference "
                            "(goal - baseline)");
    cJSON *mc = cJSON_AddArrayToObject(res, "mcnemar");
    for (int s = 0; s < S; s++) {
        const float *rb = reward[s], *rg = reward[S + s];
        int b = 0, c = 0; /* only the goal RM right; only the baseline right */
        for (int i = 0; i < n; i++) {
            int g = right(rg, i) == 1.0, k = right(rb, i) == 1.0;
            b += g && !k, c += k && !g;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "seed", s + 1);
        cJSON_AddNumberToObject(o, "goal_only", b);
        cJSON_AddNumberToObject(o, "baseline_only", c);
        cJSON_AddNumberToObject(o, RS_P, gc_stats_mcnemar_exact(b, c));
        cJSON_AddItemToArray(mc, o);
    }
    free(diff), free(mean[0]), free(mean[1]);
    return res;
}

/* the k-fold run's results: hh_accuracy with the folds and the tokens' truncation counts */
static cJSON *analyse(const hh_ctx *h) {
    int S = h->r->seeds, n = h->tk.n;
    const float *rew[HH_VARIANTS * 64];
    for (int k = 0; k < HH_VARIANTS * S; k++)
        rew[k] = h->reward + (size_t)k * 2 * n;
    cJSON *res = hh_accuracy(h->r, n, rew);
    if (!res) return NULL;
    cJSON_AddNumberToObject(res, "folds", (double)h->data.folds);
    cJSON_AddNumberToObject(res, "split_seed", (double)h->data.split_seed);
    cJSON_AddItemToObject(res, "tokens", cJSON_Duplicate(h->tk_info, 1));
    return res;
}

gc_status hh_write_dat(const char *path, const cJSON *results, const void *ctx) {
    (void)ctx;
    FILE *f = fopen(path, "w");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot write", path);
    fprintf(f, "# pairwise accuracy per reward model: mean over seeds, 95%% CI over pairs\n"
               "variant mean lo hi\n");
    for (int v = 0; v < HH_VARIANTS; v++) {
        const cJSON *o = gc_json_get(gc_json_get(results, RS_ACCURACY), VARIANT[v]);
        fprintf(f, "%s %.5f %.5f %.5f\n", v ? "goal-conditioned" : "baseline",
                gc_json_num(o, RS_MEAN, NAN), gc_json_num(o, "pairs_lo", NAN),
                gc_json_num(o, "pairs_hi", NAN));
    }
    if (fclose(f) != 0) return gc_fail(GC_ERR_IO, "%s: write failed", path);
    return GC_OK;
}

void hh_print(const cJSON *r, FILE *f) {
    if (gc_json_get(r, "folds"))
        fprintf(f, "\ntable3a: pairwise accuracy on %.0f Helpful-Harmless pairs, %.0f-fold\n",
                gc_json_num(r, "pairs", NAN), gc_json_num(r, "folds", NAN));
    else
        fprintf(f, "\ntable3a: pairwise accuracy on %.0f held-out Helpful-Harmless pairs\n",
                gc_json_num(r, "pairs", NAN));
    for (int v = 0; v < HH_VARIANTS; v++) {
        const cJSON *o = gc_json_get(gc_json_get(r, RS_ACCURACY), VARIANT[v]);
        fprintf(f, "  %-17s %.4f  [%.4f, %.4f] over pairs\n", v ? "goal-conditioned" : "baseline",
                gc_json_num(o, RS_MEAN, NAN), gc_json_num(o, "pairs_lo", NAN),
                gc_json_num(o, "pairs_hi", NAN));
    }
    const cJSON *d = gc_json_get(r, RS_DIFF);
    fprintf(f, "  goal - baseline    %+.4f [%+.4f, %+.4f], paired bootstrap p = %.3g\n",
            gc_json_num(d, RS_MEAN, NAN), gc_json_num(d, RS_LO, NAN), gc_json_num(d, RS_HI, NAN),
            gc_json_num(d, RS_P, NAN));
}

gc_status hh_run(rp_run *r) {
    hh_ctx h = {.r = r};
    gc_status s = hh_read_sections(&h, r->scale_cfg, r->scale_path, 1);
    if (s == GC_OK) s = hh_check_files(&h);
    if (s == GC_OK) s = hh_stage_tokens(&h);
    if (s == GC_OK) s = assign_folds(&h);
    if (s == GC_OK) {
        h.reward = gc_calloc((size_t)HH_VARIANTS * r->seeds * 2 * h.tk.n, sizeof(float));
        if (!h.reward) s = GC_ERR_NOMEM;
    }
    for (int seed = 1; seed <= r->seeds && s == GC_OK; seed++)
        for (int v = 0; v < HH_VARIANTS && s == GC_OK; v++)
            for (int f = 0; f < h.data.folds && s == GC_OK; f++)
                s = hh_stage_rm(&h, v, seed, f);
    cJSON *res = s == GC_OK ? analyse(&h) : NULL;
    if (s == GC_OK && !res) s = GC_ERR_NOMEM;
    if (s == GC_OK) s = rp_finish(r, res, hh_write_dat, &h, NULL, hh_print);
    rp_print_times(r);
    hh_tokens_free(&h.tk);
    cJSON_Delete(h.tk_info);
    free(h.fold), free(h.reward);
    return s;
}
