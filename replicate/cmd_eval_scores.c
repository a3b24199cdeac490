/* replicate eval-scores: AUROC (DeLong and bootstrap CIs) of one or two scores of any JSONL file,
 * and DeLong's test between two scores. A line's label and scores may be single values or
 * aligned arrays (one item per element); a one-element array [x] counts as x, so files such as
 * qwen-rm-maj/math_cot_100.jsonl ("score": [true, ...], "pred_score": [[3.5], ...]) read as is. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/flags.h"
#include "lib/util/jsonio.h"
#include "lib/stats/stats.h"
#include "cli.h"

static const char HELP[] =
    "usage: replicate eval-scores --input FILE.jsonl --label KEY --score KEY [--score KEY2]\n"
    "                             [--bootstrap N] [--seed S]\n\n"
    "AUROC of each score as a classifier of the label (true/false or 1/0), with DeLong's 95% CI\n"
    "and a percentile bootstrap CI (N resamples, default 1000), and DeLong's test of the\n"
    "difference when two scores are given. Values may be arrays aligned item by item.\n";

typedef struct {
    const char *path, *label, *score[2];
    int nscores;
    int *y;
    double *s[2];
    size_t n, cap;
} es_ctx;

/* value -> number: bool, number, or a one-element array of those */
static int as_number(const cJSON *v, double *out) {
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1) v = v->child;
    if (cJSON_IsBool(v)) return *out = cJSON_IsTrue(v), 1;
    if (cJSON_IsNumber(v)) return *out = v->valuedouble, 1;
    if (cJSON_IsString(v)) { /* "True"/"False" as some dumps write them */
        if (!strcmp(v->valuestring, "True") || !strcmp(v->valuestring, "true")) return *out = 1, 1;
        if (!strcmp(v->valuestring, "False") || !strcmp(v->valuestring, "false"))
            return *out = 0, 1;
    }
    return 0;
}

static gc_status push(es_ctx *c, int y, const double *s) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        int *ny = realloc(c->y, sizeof(int) * cap);
        double *n0 = realloc(c->s[0], sizeof(double) * cap),
               *n1 = realloc(c->s[1], sizeof(double) * cap);
        if (ny) c->y = ny;
        if (n0) c->s[0] = n0;
        if (n1) c->s[1] = n1;
        if (!ny || !n0 || !n1) return gc_fail(GC_ERR_NOMEM, "%s: out of memory", c->path);
        c->cap = cap;
    }
    c->y[c->n] = y;
    c->s[0][c->n] = s[0];
    c->s[1][c->n] = s[1];
    c->n++;
    return GC_OK;
}

static gc_status read_line(const cJSON *o, int line, void *ctx) {
    es_ctx *c = ctx;
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(o, c->label), *sc[2] = {0};
    if (!lab) return gc_fail(GC_ERR_FORMAT, "%s:%d: no key '%s'", c->path, line, c->label);
    for (int k = 0; k < c->nscores; k++)
        if (!(sc[k] = cJSON_GetObjectItemCaseSensitive(o, c->score[k])))
            return gc_fail(GC_ERR_FORMAT, "%s:%d: no key '%s'", c->path, line, c->score[k]);
    int items = cJSON_IsArray(lab) ? cJSON_GetArraySize(lab) : 1;
    for (int k = 0; k < c->nscores; k++) {
        int m = cJSON_IsArray(sc[k]) && !(cJSON_GetArraySize(sc[k]) == 1 && !cJSON_IsArray(lab))
                    ? cJSON_GetArraySize(sc[k])
                    : 1;
        if (m != items)
            return gc_fail(GC_ERR_FORMAT, "%s:%d: '%s' has %d items but '%s' has %d", c->path, line,
                           c->label, items, c->score[k], m);
    }
    for (int i = 0; i < items; i++) {
        const cJSON *lv = cJSON_IsArray(lab) ? cJSON_GetArrayItem(lab, i) : lab;
        double yl, s[2] = {0, 0};
        if (!as_number(lv, &yl) || (yl != 0 && yl != 1))
            return gc_fail(GC_ERR_FORMAT, "%s:%d: '%s' item %d is not a 0/1 or true/false label",
                           c->path, line, c->label, i);
        for (int k = 0; k < c->nscores; k++) {
            const cJSON *sv = cJSON_IsArray(lab) ? cJSON_GetArrayItem(sc[k], i) : sc[k];
            if (!as_number(sv, &s[k]) || !isfinite(s[k]))
                return gc_fail(GC_ERR_FORMAT, "%s:%d: '%s' item %d is not a finite number", c->path,
                               line, c->score[k], i);
        }
        GC_TRY(push(c, (int)yl, s));
    }
    return GC_OK;
}

int cmd_eval_scores(int argc, char **argv) {
    es_ctx c = {0};
    long reps = 1000, seed = 1;
    int help = 0;
    const char *scores[2] = {NULL, NULL};
    const gc_flag flags[] = {
        {"input", GC_FLAG_STRING, &c.path, 0, 0, NULL, 0},
        {"label", GC_FLAG_STRING, &c.label, 0, 0, NULL, 0},
        {"score", GC_FLAG_LIST, scores, 0, 0, NULL, 2},
        {"bootstrap", GC_FLAG_INT, &reps, 10, 1000000, NULL, 0},
        {"seed", GC_FLAG_INT, &seed, 0, 0x7fffffffL, NULL, 0},
        {"help", GC_FLAG_SWITCH, &help, 0, 0, NULL, 0},
    };
    int rc = gc_flags_parse("replicate eval-scores", argc, argv, flags,
                            (int)(sizeof flags / sizeof flags[0]), NULL, 0, NULL);
    if (rc) return rc;
    if (help) return fputs(HELP, stdout), 0;
    for (int k = 0; k < 2 && scores[k]; k++)
        c.score[c.nscores++] = scores[k];
    if (!c.path || !c.label || !c.nscores)
        return cli_usage_error("eval-scores", "--input, --label and --score are required");
    gc_status s = gc_jsonl_each(c.path, read_line, &c);
    if (s == GC_OK && c.n == 0) s = gc_fail(GC_ERR_FORMAT, "%s: no items", c.path);
    size_t pos = 0;
    for (size_t i = 0; i < c.n; i++)
        pos += (size_t)c.y[i];
    printf("%s: %zu items, %zu positive ('%s'), %zu negative\n", c.path, c.n, pos, c.label,
           c.n - pos);
    for (int k = 0; s == GC_OK && k < c.nscores; k++) {
        gc_delong d;
        double lo, hi;
        s = gc_stats_delong(c.s[k], NULL, c.y, c.n, &d);
        if (s == GC_OK)
            s = gc_stats_auroc_bootstrap(c.s[k], c.y, c.n, (int)reps, (uint64_t)seed, 0.95, &lo,
                                         &hi);
        if (s == GC_OK)
            printf("  %-20s AUROC %.4f  DeLong 95%% CI [%.4f, %.4f]  bootstrap 95%% CI [%.4f, "
                   "%.4f] (%ld resamples)\n",
                   c.score[k], d.auc1, d.lo, d.hi, lo, hi, reps);
    }
    if (s == GC_OK && c.nscores == 2) {
        gc_delong d;
        s = gc_stats_delong(c.s[0], c.s[1], c.y, c.n, &d);
        if (s == GC_OK)
            printf("  DeLong: %s - %s = %+.4f, 95%% CI [%+.4f, %+.4f], z = %.3f, p = %.4g\n",
                   c.score[0], c.score[1], d.diff, d.lo, d.hi, d.z, d.p);
    }
    free(c.y), free(c.s[0]), free(c.s[1]);
    return s == GC_OK ? 0 : cli_runtime_error("eval-scores");
}
