#include "verdict.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/stats/stats.h"
#include "lib/util/jsonio.h"
#include "lib/util/rng.h"
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

/* The final word: a check that could not measure is INCONCLUSIVE; one that fails while it lacked
 * the power to see the published effect is INCONCLUSIVE too (its FAIL would say nothing). */
static const char *verdict_final(int measurable, int pass, int underpowered) {
    return verdict_word(measurable && (pass || !underpowered), pass);
}

/* ---- power: the smallest effect each check detects with 80% power ---- */

enum { MAX_POWER_SPLITS = 32 };

/* auroc_delta passes when the pooled DeLong test is significant and positive, enough seeds have a
 * positive pooled difference and (every_split) each split's mean difference is positive. For a true
 * difference d: P(DeLong) = Phi(d / se - z_{1-alpha/2}); a seed's difference is positive with
 * probability Phi(d / seed_sd) and the seed rule is a binomial tail; a split's mean is positive
 * with probability Phi(d / se_split). The rules are treated as independent. */
typedef struct {
    double se, z_alpha, seed_sd;
    int seeds, need;
    int n_split;
    double split_se[MAX_POWER_SPLITS];
} delta_power;

/* P(one draw positive) for a true effect d and noise sd (sd 0: the sign of d decides) */
static double positive_prob(double d, double sd) {
    return sd > 0 ? gc_stats_norm_cdf(d / sd) : d > 0 ? 1.0 : 0.5;
}

static double delta_power_fn(double d, const void *ctx) {
    const delta_power *c = ctx;
    double p = c->se > 0 ? gc_stats_norm_cdf(d / c->se - c->z_alpha) : d > 0;
    p *= gc_stats_binom_tail(c->seeds, c->need, positive_prob(d, c->seed_sd));
    for (int k = 0; k < c->n_split; k++)
        p *= positive_prob(d, c->split_se[k]);
    return p;
}

/* the seed rule alone (rises_with_p): enough seeds see a positive difference */
static double seeds_power_fn(double d, const void *ctx) {
    const delta_power *c = ctx;
    return gc_stats_binom_tail(c->seeds, c->need, positive_prob(d, c->seed_sd));
}

/* a count read from results: a number in [lo, hi], else def (a results file is external input:
 * a huge or non-finite value must not overflow an int) */
static int json_count(const cJSON *o, const char *key, int def, int lo, int hi) {
    double x = gc_json_num(o, key, NAN);
    return isfinite(x) && x >= lo && x <= hi ? (int)x : def;
}

static int seeds_needed(double min_frac, int seeds) {
    return (int)ceil(min_frac * seeds - 1e-9);
}

/* Adds {detectable, published_effect, power_at_published, model} under "power"; returns 1 when a
 * published effect is stated and lies below the detectable one. */
static int report_power(cJSON *v, cJSON *reasons, double detectable, double published,
                        double power_at_published, const char *model) {
    cJSON *o = cJSON_AddObjectToObject(v, RS_POWER);
    cJSON_AddNumberToObject(o, RS_DETECTABLE, detectable);
    cJSON_AddNumberToObject(o, RS_PUBLISHED_EFFECT, published);
    cJSON_AddNumberToObject(o, RS_POWER_AT_PUBLISHED, power_at_published);
    cJSON_AddStringToObject(o, RS_MODEL, model);
    if (!(published > 0)) return 0;
    if (detectable <= published) return 0;
    add_reason(reasons,
               "power: the check detects an effect of %.3f with 80%% power, the published effect "
               "%.3f only with %.0f%% (%s), so a FAIL cannot speak against the paper",
               detectable, published, 100 * power_at_published, model);
    return 1;
}

/* the check's "min_class" (when set): a split with fewer of either class is not used */
static int enough_of_each(const cJSON *check, double n, double n_pos) {
    if (!gc_json_get(check, "min_class")) return 1;
    double k = gc_json_num(check, "min_class", 1);
    return n_pos >= k && n - n_pos >= k;
}

/* rule "auroc_delta": goal-conditioned minus baseline AUROC */
static gc_status verdict_auroc_delta(const cJSON *check, const cJSON *results, cJSON *v) {
    double alpha = gc_json_num(check, "alpha", 0.05),
           min_frac = gc_json_num(check, "min_seed_fraction", 0.8);
    const cJSON *every = gc_json_get(check, "every_split_positive");
    int need_every = !every || cJSON_IsTrue(every);
    cJSON *reasons = cJSON_AddArrayToObject(v, RS_REASONS);
    int pass = 1, evaluated = 0;
    double max_split = -INFINITY, split_se[MAX_POWER_SPLITS];
    const char *max_name = "";
    for (const cJSON *g = gc_json_get(results, RS_SPLITS) ? gc_json_get(results, RS_SPLITS)->child
                                                          : NULL;
         g; g = g->next) {
        const char *name = cJSON_GetStringValue(gc_json_get(g, RS_SPLIT));
        const cJSON *d = gc_json_get(g, RS_DELTA);
        double n = gc_json_num(g, RS_N, 0), npos = gc_json_num(g, RS_N_CORRECT, 0);
        if (d && !enough_of_each(check, n, npos)) {
            add_reason(reasons, "%s: not used (%.0f correct, %.0f incorrect; needs %.0f of each)",
                       name ? name : "?", npos, n - npos, gc_json_num(check, "min_class", 1));
            continue;
        }
        if (!d) {
            add_reason(reasons, "%s: not evaluated (%s)", name ? name : "?",
                       cJSON_GetStringValue(gc_json_get(g, RS_ERROR))
                           ? cJSON_GetStringValue(gc_json_get(g, RS_ERROR))
                           : "no AUROC");
            continue;
        }
        if (evaluated < MAX_POWER_SPLITS)
            split_se[evaluated] = gc_json_num(gc_json_get(g, RS_DELONG), RS_SE, NAN);
        evaluated++;
        double m = gc_json_num(d, RS_MEAN, 0);
        if (m > max_split) max_split = m, max_name = name ? name : "?";
        if (need_every && !(m > 0)) {
            pass = 0;
            add_reason(reasons, "%s: mean AUROC difference %+.4f is not > 0", name, m);
        }
    }
    int measurable = evaluated > 0;
    if (!evaluated)
        add_reason(reasons, "no split has enough solutions of each class: nothing to measure");
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
    delta_power pw = {.se = gc_json_num(dl, RS_SE, NAN),
                      .z_alpha = gc_stats_norm_quantile(1 - alpha / 2),
                      .seed_sd = gc_json_num(pd, RS_SD, 0),
                      .seeds = json_count(pd, RS_SEEDS, 1, 1, 4096)};
    pw.need = seeds_needed(min_frac, pw.seeds);
    for (int k = 0; need_every && k < evaluated && k < MAX_POWER_SPLITS; k++)
        if (isfinite(split_se[k])) pw.split_se[pw.n_split++] = split_se[k];
    double published = gc_json_num(check, "published_effect", NAN);
    int under = 0;
    if (isfinite(pw.se)) {
        char model[200];
        snprintf(model, sizeof model,
                 "pooled DeLong SE %.3f, seed SD %.3f over %d seeds, %d splits each positive",
                 pw.se, pw.seed_sd, pw.seeds, pw.n_split);
        under = report_power(v, reasons, gc_stats_detectable(delta_power_fn, &pw, 0.8, 1.0),
                             published, delta_power_fn(published, &pw), model);
    }
    cJSON_AddStringToObject(v, RS_VERDICT, verdict_final(measurable, pass, under));
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

/* rule "ppo_delta" (table2): PPO with the goal-conditioned RM minus PPO with the baseline RM,
 * greedy accuracy averaged over the splits, paired by seed. For a true difference d the paired
 * t-test rejects with probability about Phi(d / se - t_{1 - alpha/2, seeds - 1}), se = seed SD /
 * sqrt(seeds). */
typedef struct {
    double se, t_alpha;
} paired_power;

static double paired_power_fn(double d, const void *ctx) {
    const paired_power *c = ctx;
    return c->se > 0 ? gc_stats_norm_cdf(d / c->se - c->t_alpha) : d > 0;
}

static gc_status verdict_ppo_delta(const cJSON *check, const cJSON *results, cJSON *v) {
    double alpha = gc_json_num(check, "alpha", 0.05);
    cJSON *reasons = cJSON_AddArrayToObject(v, RS_REASONS);
    const cJSON *d = gc_json_get(results, RS_PPO_DIFF);
    int measurable = 1, pass = 1;
    double mean = gc_json_num(d, RS_MEAN, NAN), p = gc_json_num(d, RS_P, NAN),
           sd = gc_json_num(d, RS_SD, NAN), seeds = gc_json_num(d, RS_SEEDS, 0);
    if (!d) {
        measurable = pass = 0;
        add_reason(reasons, "the PPO arms were not run (no %s in the results)", RS_PPO_DIFF);
    } else if (seeds < 2 || !isfinite(p)) {
        measurable = 0;
        add_reason(reasons, "%.0f seed(s): a paired test over seeds needs at least 2", seeds);
    }
    /* every PPO run must have done its job: raised its reward model's score and its rollout
     * accuracy, within the KL bound; a run that did not cannot speak for its reward model */
    double max_kl = gc_json_num(check, "max_kl", INFINITY);
    const cJSON *runs = gc_json_get(results, RS_PPO_TRAINING);
    for (const cJSON *r = runs ? runs->child : NULL; r; r = r->next) {
        const char *var = cJSON_GetStringValue(gc_json_get(r, RS_VARIANT));
        double seed = gc_json_num(r, "seed", 0), r0 = gc_json_num(r, RS_REWARD_START, NAN),
               r1 = gc_json_num(r, RS_REWARD_END, NAN), a0 = gc_json_num(r, RS_ACCURACY_START, NAN),
               a1 = gc_json_num(r, RS_ACCURACY_END, NAN), kl = gc_json_num(r, RS_KL_END, NAN);
        if (!(r1 > r0 && a1 > a0 && kl <= max_kl)) {
            measurable = 0;
            add_reason(reasons,
                       "precondition: PPO against %s seed %.0f: score %.3f -> %.3f, rollout "
                       "accuracy %.3f -> %.3f, KL %.2f (needs both to rise, KL <= %g)%s",
                       var ? var : "?", seed, r0, r1, a0, a1, kl, max_kl,
                       cJSON_IsTrue(gc_json_get(r, RS_REWARD_HACKING)) ? "; reward hacking" : "");
        }
    }
    measurable &=
        baseline_verifies(check, gc_json_get(gc_json_get(results, RS_RM_AUROC), "baseline"),
                          "every evaluation solution", reasons);
    if (d && !(mean > 0 && p < alpha)) {
        pass = 0;
        add_reason(reasons,
                   "PPO goal - baseline: %+.4f, paired t-test p = %.3g (need > 0 and p < %g)", mean,
                   p, alpha);
    }
    /* DPO against PPO with the goal-conditioned RM, per seed: equivalent in distribution within
     * +-dpo_margin (two one-sided t-tests), worse out of distribution (one-sided t-test) */
    double margin = gc_json_num(check, "dpo_margin", NAN);
    const cJSON *dv = gc_json_get(results, RS_DPO_VS_PPO);
    if (isfinite(margin) && d) {
        double x[2][64];
        int n[2] = {0, 0};
        for (int k = 0; k < 2; k++) {
            const cJSON *ps = gc_json_get(gc_json_get(dv, k ? RS_OOD : RS_ID), RS_PER_SEED);
            for (const cJSON *e = ps ? ps->child : NULL; e && n[k] < 64; e = e->next)
                x[k][n[k]++] = e->valuedouble;
        }
        double p_eq = fmax(gc_stats_ttest_1samp_p(x[0], (size_t)n[0], -margin, +1),
                           gc_stats_ttest_1samp_p(x[0], (size_t)n[0], margin, -1));
        double p_ood = gc_stats_ttest_1samp_p(x[1], (size_t)n[1], 0, -1);
        cJSON_AddNumberToObject(v, "dpo_equivalence_p", p_eq);
        cJSON_AddNumberToObject(v, "dpo_worse_ood_p", p_ood);
        if (!(p_eq < alpha)) {
            pass = 0;
            add_reason(reasons,
                       "DPO - PPO goal, in distribution: %+.4f over %d seeds, not shown within "
                       "+-%g (two one-sided t-tests, p = %.3g; need p < %g)",
                       gc_json_num(gc_json_get(dv, RS_ID), RS_MEAN, NAN), n[0], margin, p_eq,
                       alpha);
        }
        if (!(p_ood < alpha)) {
            pass = 0;
            add_reason(reasons,
                       "DPO - PPO goal, out of distribution: %+.4f over %d seeds, not shown below "
                       "0 (one-sided t-test, p = %.3g; need p < %g)",
                       gc_json_num(gc_json_get(dv, RS_OOD), RS_MEAN, NAN), n[1], p_ood, alpha);
        }
    }
    int under = 0;
    if (d && seeds >= 2 && isfinite(sd)) {
        paired_power pw = {sd / sqrt(seeds), gc_stats_t_quantile(1 - alpha / 2, seeds - 1)};
        double published = gc_json_num(check, "published_effect", NAN);
        char model[160];
        snprintf(model, sizeof model, "paired t-test, seed SD %.3f over %.0f seeds", sd, seeds);
        under = report_power(v, reasons, gc_stats_detectable(paired_power_fn, &pw, 0.8, 1.0),
                             published, paired_power_fn(published, &pw), model);
    }
    cJSON_AddStringToObject(v, RS_VERDICT, verdict_final(measurable, pass, under));
    cJSON_AddNumberToObject(v, RS_MEASURED, mean);
    cJSON_AddNumberToObject(v, RS_LO, gc_json_num(d, RS_LO, NAN));
    cJSON_AddNumberToObject(v, RS_HI, gc_json_num(d, RS_HI, NAN));
    cJSON_AddStringToObject(v, RS_MEASURED_WHAT,
                            "greedy accuracy, PPO goal-conditioned RM - PPO baseline RM, average "
                            "over splits, mean over seeds [95% CI]");
    cJSON_AddStringToObject(v, RS_TEST, "paired t-test over seeds");
    cJSON_AddNumberToObject(v, RS_P, p);
    char sum[160];
    if (d)
        snprintf(sum, sizeof sum, "%+.3f [%+.3f, %+.3f]", mean, gc_json_num(d, RS_LO, NAN),
                 gc_json_num(d, RS_HI, NAN));
    else
        snprintf(sum, sizeof sum, "PPO arms not run");
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
    /* power of the seed rule: the rise from p = 0.1 to p = 1 per seed, and its spread */
    const cJSON *per = gc_json_get(c, RS_PER_SEED);
    int ns = cJSON_GetArraySize(per);
    double rise[64];
    int nr = 0;
    for (int k = 0; k < ns && nr < 64; k++) {
        const cJSON *curve = cJSON_GetArrayItem(per, k);
        int np = cJSON_GetArraySize(curve);
        if (np > 1)
            rise[nr++] = gc_json_at(curve, np - 1) - gc_json_at(curve, (int)lround(0.1 * (np - 1)));
    }
    int under = 0;
    if (nr > 0) {
        gc_summary sm;
        gc_stats_summary(rise, (size_t)nr, 0.95, &sm);
        delta_power pw = {.seed_sd = nr > 1 ? sm.sd : 0, .seeds = nr};
        pw.need = seeds_needed(min_frac, nr);
        char model[160];
        snprintf(model, sizeof model,
                 "seed rule only: rise p = 0.1 -> 1, seed SD %.3f over %d seeds", pw.seed_sd, nr);
        double published = gc_json_num(check, "published_effect", NAN);
        under = report_power(v, reasons, gc_stats_detectable(seeds_power_fn, &pw, 0.8, 1.0),
                             published, seeds_power_fn(published, &pw), model);
    }
    cJSON_AddStringToObject(v, RS_VERDICT, verdict_final(measurable, pass, under));
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
    /* preconditions: the Q-values classify samples (the lower end of the 95% CI over seeds of the
     * AUROC of each sample's minimum Q-value), and the paired test could see a drop of
     * max_detectable_drop in the share of correct voters with 80% power */
    double min_q = gc_json_num(check, "min_q_auroc", NAN);
    const cJSON *qa = gc_json_get(c, RS_MIN_Q_AUROC);
    int q_ok = !isfinite(min_q) || gc_json_num(qa, RS_LO, NAN) > min_q;
    if (c && !q_ok)
        add_reason(reasons,
                   "precondition: the %s RM's Q-values do not classify samples (AUROC of the "
                   "minimum Q-value %.3f [%.3f, %.3f], needs the lower bound above %.2f)",
                   variant ? variant : "?", gc_json_num(qa, RS_MEAN, NAN),
                   gc_json_num(qa, RS_LO, NAN), gc_json_num(qa, RS_HI, NAN), min_q);
    double t = gc_json_num(tp, RS_T, NAN), df = gc_json_num(tp, RS_DF, NAN);
    double se = t != 0 && isfinite(t) ? fabs(diff / t) : NAN;
    double drop = isfinite(se) && df > 0
                      ? (gc_stats_t_quantile(1 - alpha / 2, df) + gc_stats_t_quantile(0.8, df)) * se
                      : INFINITY;
    double max_drop = gc_json_num(check, "max_detectable_drop", NAN);
    int power_ok = !isfinite(max_drop) || drop <= max_drop;
    if (c) {
        char model[160];
        snprintf(model, sizeof model,
                 "paired t-test, SE %.4f, df %.0f: the smallest drop in the "
                 "share of correct voters it detects",
                 se, df);
        report_power(v, reasons, drop, NAN, NAN, model);
        if (!power_ok)
            add_reason(reasons,
                       "precondition: the paired test detects a drop of %.3f in the share of "
                       "correct voters with 80%% power, needs %.3f: 'not significantly lower' "
                       "would say nothing",
                       drop, max_drop);
    }
    /* with Q-values that work, too few tokens saved is a FAIL whatever the test's power; a pass
     * needs the power to have seen a drop */
    int saved_fails = c && !(saved >= min_saved);
    int measurable = c && q_ok && (saved_fails || power_ok);
    cJSON_AddStringToObject(v, RS_VERDICT, verdict_word(measurable, pass));
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

/* rule "accuracy_delta" (table3a): pairwise accuracy of the goal-conditioned RM minus the
 * baseline's over the same pairs, each scored once per seed; a paired bootstrap over pairs of the
 * seed-averaged difference. For a true difference d it rejects with probability about
 * Phi(d / se - z_{1 - alpha/2}), se from the bootstrap interval (the z model of delta_power with
 * no seed or split rule). */
static gc_status verdict_accuracy_delta(const cJSON *check, const cJSON *results, cJSON *v) {
    double alpha = gc_json_num(check, "alpha", 0.05);
    cJSON *reasons = cJSON_AddArrayToObject(v, RS_REASONS);
    const cJSON *d = gc_json_get(results, RS_DIFF);
    const cJSON *base = gc_json_get(gc_json_get(results, RS_ACCURACY), RS_BASELINE);
    double mean = gc_json_num(d, RS_MEAN, NAN), p = gc_json_num(d, RS_P, NAN),
           lo = gc_json_num(d, RS_LO, NAN), hi = gc_json_num(d, RS_HI, NAN),
           se = gc_json_num(d, RS_SE, NAN);
    int measurable = d && isfinite(p), pass = measurable && mean > 0 && p < alpha;
    if (!d) add_reason(reasons, "no %s in the results", RS_DIFF);
    double min_acc = gc_json_num(check, "baseline_min_accuracy", NAN),
           blo = gc_json_num(base, "pairs_lo", NAN);
    if (isfinite(min_acc) && !(blo > min_acc)) {
        measurable = 0;
        add_reason(reasons,
                   "precondition: the baseline RM does not verify (pairwise accuracy %.3f [%.3f, "
                   "%.3f] over pairs, needs the lower bound above %.2f), so the check cannot "
                   "measure the effect",
                   gc_json_num(base, RS_MEAN, NAN), blo, gc_json_num(base, "pairs_hi", NAN),
                   min_acc);
    }
    if (d && !pass)
        add_reason(reasons,
                   "goal - baseline: %+.4f [%+.4f, %+.4f], paired bootstrap p = %.3g (need > 0 "
                   "and p < %g)",
                   mean, lo, hi, p, alpha);
    int under = 0;
    if (d && se > 0) {
        delta_power pw = {se, gc_stats_norm_quantile(1 - alpha / 2), 0, 0, 0, 0, {0}};
        double published = gc_json_num(check, "published_effect", NAN);
        char model[160];
        snprintf(model, sizeof model, "paired bootstrap over %.0f pairs, SE %.4f",
                 gc_json_num(results, "pairs", NAN), se);
        under = report_power(v, reasons, gc_stats_detectable(delta_power_fn, &pw, 0.8, 1.0),
                             published, delta_power_fn(published, &pw), model);
    }
    cJSON_AddStringToObject(v, RS_VERDICT, verdict_final(measurable, pass, under));
    cJSON_AddNumberToObject(v, RS_MEASURED, mean);
    cJSON_AddNumberToObject(v, RS_LO, lo);
    cJSON_AddNumberToObject(v, RS_HI, hi);
    cJSON_AddStringToObject(v, RS_MEASURED_WHAT,
                            "pairwise accuracy, goal-conditioned RM - baseline RM, mean over seeds "
                            "[95% CI over pairs]");
    cJSON_AddStringToObject(v, RS_TEST, "paired bootstrap over pairs");
    cJSON_AddNumberToObject(v, RS_P, p);
    char sum[160];
    snprintf(sum, sizeof sum, "%+.3f [%+.3f, %+.3f]", mean, lo, hi);
    cJSON_AddStringToObject(v, RS_SUMMARY, sum);
    return GC_OK;
}

/* rule "win_rate" (table3b): per judged attribute, guided decoding's net win rate over the SFT
 * baseline, an exact one-sided sign test over prompts. Power at a true net win rate d: each
 * comparison a win with probability (1 - t + d) / 2, a loss with (1 - t - d) / 2 and a tie with
 * the observed tie share t; a prompt goes to the arm its seeds' sum favours; the share of
 * WIN_REPS simulated runs (one fixed stream, the same draws for every d) in which the sign test
 * rejects at alpha. */
enum { WIN_REPS = 2000, WIN_SEED = 17 };
typedef struct {
    int n, S;
    double tie, alpha;
} win_power;

static double win_power_fn(double d, const void *ctx) {
    const win_power *w = ctx;
    double pw = (1 - w->tie + d) / 2, pl = (1 - w->tie - d) / 2;
    if (pl < 0) pl = 0;
    gc_rng rng;
    gc_rng_init(&rng, WIN_SEED, gc_rng_stream(GC_STREAM_BOOTSTRAP_MEAN, 0));
    int reject = 0;
    for (int r = 0; r < WIN_REPS; r++) {
        int won = 0, lost = 0;
        for (int p = 0; p < w->n; p++) {
            int sum = 0;
            for (int k = 0; k < w->S; k++) {
                double u = gc_rng_uniform(&rng);
                sum += u < pw ? 1 : u >= 1 - pl ? -1 : 0;
            }
            won += sum > 0, lost += sum < 0;
        }
        reject += gc_stats_binom_tail(won + lost, won, 0.5) < w->alpha;
    }
    return (double)reject / WIN_REPS;
}

static gc_status verdict_win_rate(const cJSON *check, const cJSON *results, const char *claims_path,
                                  const char *id, cJSON *v) {
    double alpha = gc_json_num(check, "alpha", 0.05),
           max_tie = gc_json_num(check, "max_tie_share", 0.9);
    const cJSON *effects = gc_json_get(check, "published_effects");
    if (!cJSON_IsObject(effects))
        return gc_fail(GC_ERR_FORMAT,
                       "%s: claim %s: mini_check.published_effects must be an object of "
                       "attribute: net win rate",
                       claims_path, id);
    for (const cJSON *e = effects->child; e; e = e->next)
        if (!cJSON_IsNumber(e) || !(e->valuedouble > 0 && e->valuedouble < 1))
            return gc_fail(GC_ERR_FORMAT,
                           "%s: claim %s: mini_check.published_effects.%s must be a number in "
                           "(0, 1)",
                           claims_path, id, e->string);
    cJSON *reasons = cJSON_AddArrayToObject(v, RS_REASONS);
    const cJSON *at = gc_json_get(results, "attributes");
    int n_at = 0, all_pass = 1, measurable = 1, under = 0;
    double worst = NAN, worst_lo = NAN, worst_hi = NAN, worst_p = NAN;
    char sum[512] = "";
    cJSON *per = cJSON_AddArrayToObject(v, "attributes");
    for (const cJSON *o = at ? at->child : NULL; o; o = o->next, n_at++) {
        const char *name = gc_json_str(o, "name");
        double net = gc_json_num(o, RS_MEAN, NAN), p = gc_json_num(o, RS_P, NAN),
               lo = gc_json_num(o, RS_LO, NAN), hi = gc_json_num(o, RS_HI, NAN),
               tie = gc_json_num(o, "tie_rate", NAN), proto = gc_json_num(o, "prototype_mean", NAN),
               pool = gc_json_num(o, "pool_mean", NAN);
        double published = gc_json_num(effects, name ? name : "", NAN);
        int pass = net > 0 && p < alpha, ok = isfinite(p);
        if (!(tie <= max_tie)) {
            ok = 0;
            add_reason(reasons,
                       "precondition: %s: %.0f%% of the comparisons are ties (at most %.0f%%): "
                       "the judge cannot tell the arms apart",
                       name, 100 * tie, 100 * max_tie);
        }
        if (isfinite(pool) && !(proto > pool)) {
            ok = 0;
            add_reason(reasons,
                       "precondition: %s: the prototype examples (mean %.3f) are not rated above "
                       "the pool they were chosen from (%.3f): the goal state does not point "
                       "toward the attribute",
                       name, proto, pool);
        }
        win_power wp = {(int)gc_json_num(o, "prompts", 0), (int)gc_json_num(o, "seeds", 0),
                        isfinite(tie) ? tie : 0, alpha};
        double det = wp.n > 0 && wp.S > 0 ? gc_stats_detectable(win_power_fn, &wp, 0.8, 1 - wp.tie)
                                          : INFINITY;
        double pow_pub = isfinite(published) && wp.n > 0 ? win_power_fn(published, &wp) : NAN;
        int weak = isfinite(published) && !(det <= published);
        if (!pass && !weak)
            add_reason(reasons,
                       "%s (%s): net win rate %+.3f [%+.3f, %+.3f], sign test p = %.3g (need > 0 "
                       "and p < %g); powered: the check detects %.3f with 80%% power, the "
                       "published %+.3f with %.0f%%",
                       name, gc_json_str(o, "setting"), net, lo, hi, p, alpha, det, published,
                       100 * pow_pub);
        else if (!pass)
            add_reason(reasons,
                       "%s (%s): net win rate %+.3f [%+.3f, %+.3f], sign test p = %.3g (need > 0 "
                       "and p < %g); underpowered at the published effect",
                       name, gc_json_str(o, "setting"), net, lo, hi, p, alpha);
        if (weak)
            add_reason(reasons,
                       "power: %s: the check detects a net win rate of %.3f with 80%% power, the "
                       "published %.3f only with %.0f%%",
                       name, det, published, 100 * pow_pub);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "name", name ? name : "?");
        cJSON_AddNumberToObject(a, RS_MEASURED, net);
        cJSON_AddNumberToObject(a, RS_P, p);
        cJSON_AddStringToObject(a, RS_VERDICT, verdict_final(ok, pass, weak));
        cJSON *pw = cJSON_AddObjectToObject(a, RS_POWER);
        cJSON_AddNumberToObject(pw, RS_DETECTABLE, det);
        cJSON_AddNumberToObject(pw, RS_PUBLISHED_EFFECT, published);
        cJSON_AddNumberToObject(pw, RS_POWER_AT_PUBLISHED, pow_pub);
        cJSON_AddItemToArray(per, a);
        all_pass &= pass, measurable &= ok, under |= !pass && weak;
        if (!(net >= worst)) worst = net, worst_lo = lo, worst_hi = hi, worst_p = p;
        snprintf(sum + strlen(sum), sizeof sum - strlen(sum), "%s%s %+.3f [%+.3f, %+.3f]",
                 n_at ? "; " : "", name ? name : "?", net, lo, hi);
    }
    if (!n_at) {
        measurable = 0, all_pass = 0;
        add_reason(reasons, "no judged attribute in the results");
    }
    /* any measurable, powered attribute that fails fails the claim */
    int fail_powered = 0;
    for (const cJSON *a = per->child; a; a = a->next)
        fail_powered |= !strcmp(gc_json_str(a, RS_VERDICT), "FAIL");
    const char *word = !n_at                    ? "INCONCLUSIVE"
                       : fail_powered           ? "FAIL"
                       : all_pass && measurable ? "PASS"
                                                : "INCONCLUSIVE";
    (void)under;
    cJSON_AddStringToObject(v, RS_VERDICT, word);
    cJSON_AddNumberToObject(v, RS_MEASURED, worst);
    cJSON_AddNumberToObject(v, RS_LO, worst_lo);
    cJSON_AddNumberToObject(v, RS_HI, worst_hi);
    cJSON_AddStringToObject(v, RS_MEASURED_WHAT,
                            "the lowest net win rate over the judged attributes, guided decoding "
                            "- SFT baseline [95% CI over prompts]");
    cJSON_AddStringToObject(v, RS_TEST, "exact one-sided sign test over prompts, per attribute");
    cJSON_AddNumberToObject(v, RS_P, worst_p);
    cJSON_AddStringToObject(v, RS_SUMMARY, n_at ? sum : "no attribute judged");
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
    /* the numeric settings of the checks and their ranges */
    static const struct {
        const char *key;
        double lo, hi;
    } nums[] = {{"baseline_min_auroc", 0, 1},    {"min_q_auroc", 0, 1},
                {"published_effect", 0, 1},      {"max_detectable_drop", 0, 1},
                {"min_class", 0, 1e9},           {"alpha", 0, 1},
                {"min_seed_fraction", 0, 1},     {"dpo_margin", 0, 1},
                {"baseline_min_accuracy", 0, 1}, {"max_tie_share", 0, 1.0000001}};
    for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
        const cJSON *x = gc_json_get(check, nums[k].key);
        if (x &&
            !(cJSON_IsNumber(x) && x->valuedouble >= nums[k].lo && x->valuedouble < nums[k].hi))
            return gc_fail(GC_ERR_FORMAT,
                           "%s: claim %s: mini_check.%s must be a number in [%g, %g)", claims_path,
                           id ? id : "?", nums[k].key, nums[k].lo, nums[k].hi);
    }
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, RS_CLAIM, id ? id : "?");
    gc_status s;
    if (!strcmp(rule, "auroc_delta"))
        s = verdict_auroc_delta(check, results, v);
    else if (!strcmp(rule, "rises_with_p"))
        s = verdict_rises_with_p(check, results, v);
    else if (!strcmp(rule, "filter_saves"))
        s = verdict_filter_saves(check, results, v);
    else if (!strcmp(rule, "ppo_delta"))
        s = verdict_ppo_delta(check, results, v);
    else if (!strcmp(rule, "accuracy_delta"))
        s = verdict_accuracy_delta(check, results, v);
    else if (!strcmp(rule, "win_rate"))
        s = verdict_win_rate(check, results, claims_path, id ? id : "?", v);
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
