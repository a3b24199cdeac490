#include "verdict.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"

static void add_reason(cJSON *reasons, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_reason(cJSON *reasons, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cJSON_AddItemToArray(reasons, cJSON_CreateString(buf));
}

/* The instrument's precondition, when the check names one ("baseline_min_auroc"): the baseline
 * reward model verifies, i.e. the lower end of the 95% CI over seeds of its AUROC (read from `o`,
 * which holds mean, lo, hi) lies above that value. Returns 1 when the check can measure; else adds
 * the reason. */
static int baseline_verifies(const cJSON *check, const cJSON *o, const char *where,
                             cJSON *reasons) {
    double min_lo = gc_json_num(check, "baseline_min_auroc", NAN);
    if (isnan(min_lo)) return 1;
    double lo = gc_json_num(o, RS_LO, NAN);
    if (lo > min_lo) return 1;
    add_reason(reasons,
               "precondition: the baseline RM does not verify (%s: AUROC %.3f [%.3f, %.3f], "
               "needs the lower bound above %.2f), so the check cannot measure the effect",
               where, gc_json_num(o, RS_MEAN, NAN), lo, gc_json_num(o, RS_HI, NAN), min_lo);
    return 0;
}

/* PASS or FAIL when the check could measure, else INCONCLUSIVE */
static const char *verdict_word(int measurable, int pass) {
    return !measurable ? "INCONCLUSIVE" : pass ? "PASS" : "FAIL";
}

/* rule "auroc_delta": goal-conditioned minus baseline AUROC */
static gc_status verdict_auroc_delta(const cJSON *check, const cJSON *results, cJSON *v) {
    double alpha = gc_json_num(check, "alpha", 0.05),
           min_frac = gc_json_num(check, "min_seed_fraction", 0.8);
    const cJSON *every = gc_json_get(check, "every_split_positive");
    int need_every = !every || cJSON_IsTrue(every);
    cJSON *reasons = cJSON_AddArrayToObject(v, RS_REASONS);
    int pass = 1, evaluated = 0;
    double max_split = -INFINITY;
    const char *max_name = "";
    for (const cJSON *g = gc_json_get(results, RS_SPLITS) ? gc_json_get(results, RS_SPLITS)->child
                                                          : NULL;
         g; g = g->next) {
        const char *name = cJSON_GetStringValue(gc_json_get(g, RS_SPLIT));
        const cJSON *d = gc_json_get(g, RS_DELTA);
        if (!d) {
            add_reason(reasons, "%s: not evaluated (%s)", name ? name : "?",
                       cJSON_GetStringValue(gc_json_get(g, RS_ERROR))
                           ? cJSON_GetStringValue(gc_json_get(g, RS_ERROR))
                           : "no AUROC");
            continue;
        }
        evaluated++;
        double m = gc_json_num(d, RS_MEAN, 0);
        if (m > max_split) max_split = m, max_name = name ? name : "?";
        if (need_every && !(m > 0)) {
            pass = 0;
            add_reason(reasons, "%s: mean AUROC difference %+.4f is not > 0", name, m);
        }
    }
    int measurable = evaluated > 0;
    if (!evaluated) add_reason(reasons, "no split has both classes: nothing to measure");
    const cJSON *pooled = gc_json_get(results, RS_POOLED), *pd = gc_json_get(pooled, RS_DELTA),
                *dl = gc_json_get(pooled, RS_DELONG);
    double p = gc_json_num(dl, RS_P, 1), diff = gc_json_num(dl, RS_DIFF, 0);
    measurable &= baseline_verifies(check, gc_json_get(pooled, RS_BASELINE), "all splits", reasons);
    if (!pd || !dl) {
        pass = 0;
        add_reason(reasons, "pooled: no AUROC over all splits");
    } else {
        if (!(diff > 0 && p < alpha)) {
            pass = 0;
            add_reason(reasons, "pooled DeLong: difference %+.4f, p = %.3g (need > 0 and p < %g)",
                       diff, p, alpha);
        }
        double frac = gc_json_num(pd, RS_SEEDS_POSITIVE, 0) / fmax(1, gc_json_num(pd, RS_SEEDS, 1));
        if (frac < min_frac) {
            pass = 0;
            add_reason(reasons, "pooled difference positive in %.0f of %.0f seeds (need %.0f%%)",
                       gc_json_num(pd, RS_SEEDS_POSITIVE, 0), gc_json_num(pd, RS_SEEDS, 0),
                       100 * min_frac);
        }
    }
    cJSON_AddStringToObject(v, RS_VERDICT, verdict_word(measurable, pass));
    cJSON_AddNumberToObject(v, RS_MEASURED, gc_json_num(pd, RS_MEAN, NAN));
    cJSON_AddNumberToObject(v, RS_LO, gc_json_num(pd, RS_LO, NAN));
    cJSON_AddNumberToObject(v, RS_HI, gc_json_num(pd, RS_HI, NAN));
    cJSON_AddStringToObject(v, RS_MEASURED_WHAT,
                            "pooled AUROC difference, mean over seeds [95% CI]");
    if (isfinite(max_split)) {
        cJSON_AddNumberToObject(v, RS_MAX_SPLIT_DELTA, max_split);
        cJSON_AddStringToObject(v, RS_MAX_SPLIT, max_name);
    }
    cJSON_AddStringToObject(v, RS_TEST, "DeLong (pooled, seed-averaged)");
    cJSON_AddNumberToObject(v, RS_P, p);
    char sum[256];
    snprintf(sum, sizeof sum, "%+.3f [%+.3f, %+.3f]; largest split %s %+.3f",
             gc_json_num(pd, RS_MEAN, NAN), gc_json_num(pd, RS_LO, NAN),
             gc_json_num(pd, RS_HI, NAN), isfinite(max_split) ? max_name : "-", max_split);
    cJSON_AddStringToObject(v, RS_SUMMARY, sum);
    return GC_OK;
}

/* rule "rises_with_p": an AUROC-vs-p curve of the partial-generation analysis rises */
static gc_status verdict_rises_with_p(const cJSON *check, const cJSON *results, cJSON *v) {
    const char *variant = cJSON_GetStringValue(gc_json_get(check, RS_VARIANT));
    const char *score = cJSON_GetStringValue(gc_json_get(check, RS_SCORE));
    double min_rho = gc_json_num(check, "min_spearman", 0.8);
    double min_frac = gc_json_num(check, "min_seed_fraction", 0.8);
    cJSON *reasons = cJSON_AddArrayToObject(v, RS_REASONS);
    const cJSON *curves = gc_json_get(gc_json_get(results, RS_PARTIAL), RS_CURVES), *c = NULL;
    for (const cJSON *e = curves ? curves->child : NULL; e && !c; e = e->next) {
        const char *ev = cJSON_GetStringValue(gc_json_get(e, RS_VARIANT));
        const char *es = cJSON_GetStringValue(gc_json_get(e, RS_SCORE));
        if (ev && es && variant && score && !strcmp(ev, variant) && !strcmp(es, score)) c = e;
    }
    int pass = c != NULL;
    double rho = gc_json_num(c, RS_SPEARMAN, NAN);
    double rising = gc_json_num(c, RS_SEEDS_RISING, 0), seeds = gc_json_num(c, RS_SEEDS, 1);
    if (!c)
        add_reason(reasons, "no curve for variant %s, score %s", variant ? variant : "?",
                   score ? score : "?");
    if (c && !(rho >= min_rho)) {
        pass = 0;
        add_reason(reasons, "Spearman(p, mean AUROC) %.3f is below %.2f", rho, min_rho);
    }
    if (c && rising / fmax(1, seeds) < min_frac) {
        pass = 0;
        add_reason(reasons, "AUROC at p = 1 above p = 0.1 in %.0f of %.0f seeds (need %.0f%%)",
                   rising, seeds, 100 * min_frac);
    }
    const cJSON *mean = gc_json_get(c, RS_MEAN);
    int P = cJSON_GetArraySize(mean);
    double a1 = P ? cJSON_GetArrayItem(mean, P - 1)->valuedouble : NAN;
    double a01 = P ? cJSON_GetArrayItem(mean, (int)lround(0.1 * (P - 1)))->valuedouble : NAN;
    /* the precondition reads the baseline's curve of the same score at p = 1 (its final AUROC) */
    const cJSON *base = NULL;
    for (const cJSON *e = curves ? curves->child : NULL; e && !base; e = e->next) {
        const char *ev = cJSON_GetStringValue(gc_json_get(e, RS_VARIANT));
        const char *es = cJSON_GetStringValue(gc_json_get(e, RS_SCORE));
        if (ev && es && score && !strcmp(ev, RS_BASELINE) && !strcmp(es, score)) base = e;
    }
    cJSON *at1 = cJSON_CreateObject();
    static const char *const stats[] = {RS_MEAN, RS_LO, RS_HI};
    for (int k = 0; k < 3; k++) {
        const cJSON *arr = gc_json_get(base, stats[k]);
        int n = cJSON_GetArraySize(arr);
        cJSON_AddNumberToObject(at1, stats[k], n ? gc_json_at(arr, n - 1) : NAN);
    }
    int measurable = baseline_verifies(check, at1, "its curve at p = 1", reasons);
    cJSON_Delete(at1);
    cJSON_AddStringToObject(v, RS_VERDICT, verdict_word(measurable, pass));
    cJSON_AddNumberToObject(v, RS_MEASURED, rho);
    cJSON_AddStringToObject(v, RS_MEASURED_WHAT,
                            "Spearman correlation of p and the seed-mean AUROC");
    cJSON_AddStringToObject(v, RS_TEST, "Spearman trend + seed count");
    cJSON_AddNumberToObject(v, RS_P, NAN);
    char sum[256];
    snprintf(sum, sizeof sum,
             "%s %s: Spearman %+.3f; AUROC %.3f at p = 0.1, %.3f at p = 1; "
             "rising in %.0f/%.0f seeds",
             variant ? variant : "?", score ? score : "?", rho, a01, a1, rising, seeds);
    cJSON_AddStringToObject(v, RS_SUMMARY, sum);
    return GC_OK;
}

/* rule "filter_saves": Q-value filtering in majority voting saves tokens without a significant
 * accuracy loss */
static gc_status verdict_filter_saves(const cJSON *check, const cJSON *results, cJSON *v) {
    const char *variant = cJSON_GetStringValue(gc_json_get(check, RS_VARIANT));
    double min_saved = gc_json_num(check, "min_saved_pct", 10),
           alpha = gc_json_num(check, "alpha", 0.05);
    cJSON *reasons = cJSON_AddArrayToObject(v, RS_REASONS);
    const cJSON *vars = gc_json_get(gc_json_get(results, RS_VOTE), RS_VARIANTS), *c = NULL;
    for (const cJSON *e = vars ? vars->child : NULL; e && !c; e = e->next) {
        const char *ev = cJSON_GetStringValue(gc_json_get(e, RS_VARIANT));
        if (ev && variant && !strcmp(ev, variant)) c = e;
    }
    int pass = c != NULL;
    if (!c) add_reason(reasons, "no voting results for variant %s", variant ? variant : "?");
    const cJSON *sv = gc_json_get(c, RS_SAVED_PCT), *tp = gc_json_get(c, RS_TTEST_PAIRED);
    const cJSON *acc = gc_json_get(c, RS_ACCURACY);
    double saved = gc_json_num(sv, RS_MEAN, NAN), diff = gc_json_num(tp, RS_MEAN_DIFF, NAN);
    double p = gc_json_num(tp, RS_P, NAN);
    if (c && !(saved >= min_saved)) {
        pass = 0;
        add_reason(reasons, "tokens saved %.1f%% (mean over seeds) is below %.0f%%", saved,
                   min_saved);
    }
    if (c && diff < 0 && p < alpha) {
        pass = 0;
        add_reason(reasons,
                   "proportion of correct voters drops by %.3f with filtering, paired "
                   "p = %.3g < %g",
                   -diff, p, alpha);
    }
    if (c && !isfinite(p)) add_reason(reasons, "paired t-test undefined (no variation)");
    cJSON_AddStringToObject(v, RS_VERDICT, pass ? "PASS" : "FAIL");
    cJSON_AddNumberToObject(v, RS_MEASURED, saved);
    cJSON_AddNumberToObject(v, RS_LO, gc_json_num(sv, RS_LO, NAN));
    cJSON_AddNumberToObject(v, RS_HI, gc_json_num(sv, RS_HI, NAN));
    cJSON_AddStringToObject(v, RS_MEASURED_WHAT, "% of generated tokens saved, mean over seeds");
    cJSON_AddStringToObject(v, RS_TEST, "paired t-test (per-question share of correct voters)");
    cJSON_AddNumberToObject(v, RS_P, p);
    char sum[256];
    snprintf(
        sum, sizeof sum,
        "%s RM: %.1f%% tokens saved [%.1f, %.1f]; voting accuracy %.3f "
        "(unfiltered %.3f); voters' correct share %+.3f",
        variant ? variant : "?", saved, gc_json_num(sv, RS_LO, NAN), gc_json_num(sv, RS_HI, NAN),
        gc_json_num(acc, RS_MEAN, NAN),
        gc_json_num(gc_json_get(gc_json_get(results, RS_VOTE), RS_UNFILTERED), RS_ACCURACY, NAN),
        diff);
    cJSON_AddStringToObject(v, RS_SUMMARY, sum);
    return GC_OK;
}

gc_status claims_verdict(const cJSON *claim, const cJSON *results, const char *claims_path,
                         cJSON **out) {
    const cJSON *check = gc_json_get(claim, "mini_check");
    const char *rule = cJSON_GetStringValue(gc_json_get(check, "rule"));
    const char *id = cJSON_GetStringValue(gc_json_get(claim, "id"));
    if (!rule)
        return gc_fail(GC_ERR_FORMAT, "%s: claim %s has no mini_check.rule", claims_path,
                       id ? id : "?");
    const cJSON *min_auroc = gc_json_get(check, "baseline_min_auroc");
    if (min_auroc &&
        !(cJSON_IsNumber(min_auroc) && min_auroc->valuedouble >= 0 && min_auroc->valuedouble < 1))
        return gc_fail(GC_ERR_FORMAT,
                       "%s: claim %s: mini_check.baseline_min_auroc must be a number in [0, 1)",
                       claims_path, id ? id : "?");
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, RS_CLAIM, id ? id : "?");
    gc_status s;
    if (!strcmp(rule, "auroc_delta"))
        s = verdict_auroc_delta(check, results, v);
    else if (!strcmp(rule, "rises_with_p"))
        s = verdict_rises_with_p(check, results, v);
    else if (!strcmp(rule, "filter_saves"))
        s = verdict_filter_saves(check, results, v);
    else
        s = gc_fail(GC_ERR_FORMAT, "%s: claim %s: unknown rule '%s'", claims_path, id, rule);
    if (s != GC_OK) {
        cJSON_Delete(v);
        return s;
    }
    *out = v;
    return GC_OK;
}

gc_status claims_load(const char *path, cJSON **doc) {
    GC_TRY(gc_json_read(path, doc));
    if (!cJSON_IsArray(gc_json_get(*doc, "claims"))) {
        cJSON_Delete(*doc);
        return gc_fail(GC_ERR_FORMAT, "%s: expected an array 'claims'", path);
    }
    return GC_OK;
}

gc_status claims_verdict_for(const char *claims_path, const char *experiment, const cJSON *results,
                             cJSON **out) {
    *out = NULL;
    cJSON *doc;
    GC_TRY(claims_load(claims_path, &doc));
    gc_status s = GC_OK;
    for (const cJSON *c = gc_json_get(doc, "claims")->child; c; c = c->next) {
        const char *e = cJSON_GetStringValue(gc_json_get(c, RS_EXPERIMENT));
        if (e && !strcmp(e, experiment)) {
            if (gc_json_get(c, "mini_check")) s = claims_verdict(c, results, claims_path, out);
            break; /* a claim without a check (the ablations) gets no verdict */
        }
    }
    cJSON_Delete(doc);
    return s;
}
