/* lib/stats against scikit-learn and SciPy (tests/ref/stats_oracle.py -> fixtures), plus small
 * hand-checked cases and edge cases. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "lib/util/base.h"
#include "lib/stats/stats.h"

static cJSON *load_oracle(void) {
    char *text;
    cr_assert_eq(gc_read_file("tests/fixtures/stats_oracle.json", &text, NULL), GC_OK,
                 "run make fixtures");
    cJSON *j = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(j);
    return j;
}

static double *doubles(const cJSON *arr, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(arr);
    double *x = malloc(sizeof(double) * *n);
    size_t i = 0;
    for (const cJSON *e = arr->child; e; e = e->next)
        x[i++] = e->valuedouble;
    return x;
}

static double num(const cJSON *o, const char *k) {
    return cJSON_GetObjectItem(o, k)->valuedouble;
}

Test(stats, auroc_and_delong_match_sklearn_scipy) {
    cJSON *j = load_oracle();
    const cJSON *cases = cJSON_GetObjectItem(j, "auroc");
    int k = 0;
    for (const cJSON *c = cases->child; c; c = c->next, k++) {
        size_t n, n1, n2;
        double *lab = doubles(cJSON_GetObjectItem(c, "label"), &n);
        double *s1 = doubles(cJSON_GetObjectItem(c, "s1"), &n1);
        double *s2 = doubles(cJSON_GetObjectItem(c, "s2"), &n2);
        int *y = malloc(sizeof(int) * n);
        for (size_t i = 0; i < n; i++)
            y[i] = (int)lab[i];
        double auc;
        cr_assert_eq(gc_stats_auroc(s1, y, n, &auc), GC_OK);
        cr_expect_float_eq(auc, num(c, "sk_auc1"), 1e-12, "case %d: AUROC %g vs sklearn %g", k, auc,
                           num(c, "sk_auc1"));
        gc_delong d;
        cr_assert_eq(gc_stats_delong(s1, s2, y, n, &d), GC_OK);
        cr_expect_float_eq(d.auc2, num(c, "sk_auc2"), 1e-12, "case %d", k);
        cr_expect_float_eq(d.se1, num(c, "se1"), 1e-10, "case %d: se1 %g vs %g", k, d.se1,
                           num(c, "se1"));
        cr_expect_float_eq(d.se2, num(c, "se2"), 1e-10, "case %d", k);
        cr_expect_float_eq(d.se_diff, num(c, "se_diff"), 1e-10, "case %d", k);
        cr_expect_float_eq(d.z, num(c, "z"), 1e-8, "case %d: z %g vs %g", k, d.z, num(c, "z"));
        cr_expect_float_eq(d.p, num(c, "p"), 1e-9, "case %d: p %g vs %g", k, d.p, num(c, "p"));
        free(lab), free(s1), free(s2), free(y);
    }
    cr_expect_eq(k, 4);
    cJSON_Delete(j);
}

Test(stats, ttests_and_intervals_match_scipy) {
    cJSON *j = load_oracle();
    const cJSON *t = cJSON_GetObjectItem(j, "ttest");
    size_t na, nb, nc;
    double *a = doubles(cJSON_GetObjectItem(t, "a"), &na);
    double *b = doubles(cJSON_GetObjectItem(t, "b"), &nb);
    double *c = doubles(cJSON_GetObjectItem(t, "c"), &nc);
    gc_ttest r;
    cr_assert_eq(gc_stats_ttest_paired(a, b, na, &r), GC_OK);
    cr_expect_float_eq(r.t, num(t, "rel_t"), 1e-10);
    cr_expect_float_eq(r.p, num(t, "rel_p"), 1e-10);
    cr_assert_eq(gc_stats_ttest_ind(a, na, c, nc, 1, &r), GC_OK);
    cr_expect_float_eq(r.t, num(t, "ind_t"), 1e-10);
    cr_expect_float_eq(r.p, num(t, "ind_p"), 1e-10);
    cr_assert_eq(gc_stats_ttest_ind(a, na, c, nc, 0, &r), GC_OK);
    cr_expect_float_eq(r.t, num(t, "welch_t"), 1e-10);
    cr_expect_float_eq(r.p, num(t, "welch_p"), 1e-9);
    gc_summary s;
    cr_assert_eq(gc_stats_summary(a, na, 0.95, &s), GC_OK);
    cr_expect_float_eq(s.mean, num(t, "mean_a"), 1e-12);
    cr_expect_float_eq(s.lo, num(t, "ci_lo"), 1e-10);
    cr_expect_float_eq(s.hi, num(t, "ci_hi"), 1e-10);
    const cJSON *nm = cJSON_GetObjectItem(j, "norm");
    cr_expect_float_eq(gc_stats_norm_quantile(0.975), num(nm, "q975"), 1e-12);
    cr_expect_float_eq(gc_stats_norm_cdf(-1.0), num(nm, "cdf_m1"), 1e-12);
    free(a), free(b), free(c);
    cJSON_Delete(j);
}

Test(stats, correlations_match_scipy) {
    cJSON *j = load_oracle();
    const cJSON *c = cJSON_GetObjectItem(j, "corr");
    size_t n, m;
    double *x = doubles(cJSON_GetObjectItem(c, "x"), &n),
           *y = doubles(cJSON_GetObjectItem(c, "y"), &m);
    cr_assert_eq(n, m);
    cr_expect_float_eq(gc_stats_pearson(x, y, n), num(c, "pearson"), 1e-12);
    cr_expect_float_eq(gc_stats_spearman(x, y, n), num(c, "spearman"), 1e-12,
                       "ties: average ranks");
    double up[4] = {1, 2, 3, 4}, sq[4] = {1, 4, 9, 16};
    cr_expect_float_eq(gc_stats_spearman(up, sq, 4), 1.0, 1e-15, "monotone: rank correlation 1");
    cr_expect(isnan(gc_stats_pearson(up, sq, 1)), "one point: undefined");
    free(x), free(y);
    cJSON_Delete(j);
}

Test(stats, hand_checked_cases) {
    /* 2 positives {0.9, 0.4}, 2 negatives {0.4, 0.1}: pairs (0.9>0.4)(0.9>0.1)(0.4=0.4)(0.4>0.1)
     * = 1 + 1 + 0.5 + 1 = 3.5 of 4 */
    double s[] = {0.9, 0.4, 0.4, 0.1};
    int y[] = {1, 1, 0, 0};
    double auc;
    cr_assert_eq(gc_stats_auroc(s, y, 4, &auc), GC_OK);
    cr_expect_float_eq(auc, 0.875, 1e-15);
    double perfect[] = {3, 4, 1, 2};
    cr_assert_eq(gc_stats_auroc(perfect, y, 4, &auc), GC_OK);
    cr_expect_float_eq(auc, 1.0, 1e-15);
    double flat[] = {1, 1, 1, 1};
    cr_assert_eq(gc_stats_auroc(flat, y, 4, &auc), GC_OK);
    cr_expect_float_eq(auc, 0.5, 1e-15);
    gc_delong d;
    cr_assert_eq(gc_stats_delong(s, s, y, 4, &d), GC_OK);
    cr_expect_float_eq(d.diff, 0.0, 1e-15);
    cr_expect_float_eq(d.p, 1.0, 1e-15, "identical scores: p = 1");
    double lo, hi;
    cr_assert_eq(gc_stats_auroc_bootstrap(s, y, 4, 200, 1, 0.95, &lo, &hi), GC_OK);
    cr_expect(lo <= 0.875 + 1e-9 && hi >= 0.5 && lo <= hi, "bootstrap CI [%g, %g]", lo, hi);
    double x[] = {1, 2, 3, 4, 5};
    cr_assert_eq(gc_stats_mean_bootstrap(x, 5, 1000, 2, 0.95, &lo, &hi), GC_OK);
    cr_expect(lo >= 1 && hi <= 5 && lo < 3 && hi > 3, "mean CI [%g, %g]", lo, hi);
}

Test(stats, edge_cases_are_clear_errors) {
    double s[] = {0.1, 0.2, 0.3};
    int one_class[] = {1, 1, 1}, bad[] = {1, 2, 0};
    double auc;
    cr_expect_eq(gc_stats_auroc(s, one_class, 3, &auc), GC_ERR_ARG);
    cr_expect(strstr(gc_last_error(), "both classes") != NULL, "%s", gc_last_error());
    cr_expect_eq(gc_stats_auroc(s, bad, 3, &auc), GC_ERR_ARG);
    cr_expect(strstr(gc_last_error(), "not 0 or 1") != NULL, "%s", gc_last_error());
    double nan_s[] = {0.1, NAN, 0.3};
    int y[] = {1, 0, 1};
    cr_expect_eq(gc_stats_auroc(nan_s, y, 3, &auc), GC_ERR_ARG);
    gc_ttest t;
    cr_expect_eq(gc_stats_ttest_paired(s, s, 1, &t), GC_ERR_ARG);
    gc_summary sm;
    cr_expect_eq(gc_stats_summary(s, 0, 0.95, &sm), GC_ERR_ARG);
    cr_assert_eq(gc_stats_summary(s, 1, 0.95, &sm), GC_OK);
    cr_expect(sm.lo == sm.hi && sm.mean == 0.1);
}

/* power of a two-sided z test at alpha 0.05 for an effect delta with standard error *sigma */
static double z_power(double delta, const void *ctx) {
    double sigma = *(const double *)ctx;
    return gc_stats_norm_cdf(delta / sigma - gc_stats_norm_quantile(0.975));
}

/* a step at 0 (a deterministic rule: any positive effect passes) */
static double step(double delta, const void *ctx) {
    (void)ctx;
    return delta > 0 ? 1.0 : 0.5;
}

static double never(double delta, const void *ctx) {
    (void)delta, (void)ctx;
    return 0.5;
}

Test(stats, power_analysis_matches_scipy) {
    cJSON *j = load_oracle();
    const cJSON *pw = cJSON_GetObjectItem(j, "power"), *e;
    cr_assert_not_null(pw, "the fixture predates the power cases (make fixtures)");
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(pw, "binom")) {
        int n = (int)num(e, "n"), k = (int)num(e, "k");
        cr_expect_float_eq(gc_stats_binom_tail(n, k, num(e, "p")), num(e, "sf"), 1e-12,
                           "P(X >= %d), n %d", k, n);
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(pw, "t"))
        cr_expect_float_eq(gc_stats_t_quantile(num(e, "p"), num(e, "df")), num(e, "q"), 1e-9);
    cr_expect_float_eq(gc_stats_binom_tail(4, 0, 0.3), 1.0, 0);
    cr_expect_float_eq(gc_stats_binom_tail(4, 5, 0.3), 0.0, 0);
    double sigma = num(pw, "z_sigma");
    cr_expect_float_eq(gc_stats_detectable(z_power, &sigma, 0.8, 1.0), num(pw, "z_detectable"),
                       1e-6, "the textbook minimum detectable effect");
    cr_expect(isinf(gc_stats_detectable(never, NULL, 0.8, 1.0)), "no effect reaches 80%%");
    /* a step at 0 ends (it once looped forever once the interval reached the smallest double) */
    cr_expect_leq(gc_stats_detectable(step, NULL, 0.8, 1.0), 1e-6);
    cJSON_Delete(j);
}

Test(stats, one_sided_t_tests_and_the_t_cdf_match_scipy) {
    cJSON *j = load_oracle();
    const cJSON *o = cJSON_GetObjectItem(j, "onesided"), *e;
    cr_assert_not_null(o, "the fixture predates the one-sided cases (make fixtures)");
    double x[16];
    int n = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(o, "x")) x[n++] = e->valuedouble;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(o, "cases")) {
        double mu = num(e, "mu");
        int side = (int)num(e, "side");
        cr_expect_float_eq(gc_stats_ttest_1samp_p(x, (size_t)n, mu, side), num(e, "p"), 1e-10,
                           "mu %g side %d", mu, side);
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(o, "tcdf"))
        cr_expect_float_eq(gc_stats_t_cdf(num(e, "x"), num(e, "df")), num(e, "cdf"), 1e-10);
    cr_expect(isnan(gc_stats_ttest_1samp_p(x, 1, 0, 1)), "one value: no test");
    double same[3] = {0.1, 0.1, 0.1};
    cr_expect(isnan(gc_stats_ttest_1samp_p(same, 3, 0, 1)), "no spread: no test");
    cJSON_Delete(j);
}

Test(stats, paired_bootstrap) {
    double pos[40], sym[40];
    for (int i = 0; i < 40; i++)
        pos[i] = 0.5 + 0.01 * (i % 5), sym[i] = (i % 2 ? 1.0 : -1.0) * (1 + i / 2);
    double lo, hi, p, lo2, hi2;
    cr_assert_eq(gc_stats_paired_bootstrap(pos, 40, 1000, 3, 0.95, &lo, &hi, &p), GC_OK);
    cr_expect(lo > 0.5 && hi < 0.55 && p == 0, "all positive: CI [%g, %g], p %g", lo, hi, p);
    cr_assert_eq(gc_stats_paired_bootstrap(sym, 40, 1000, 3, 0.95, &lo, &hi, &p), GC_OK);
    cr_expect(lo < 0 && hi > 0 && p > 0.5, "centred: CI [%g, %g], p %g", lo, hi, p);
    cr_assert_eq(gc_stats_mean_bootstrap(sym, 40, 1000, 3, 0.95, &lo2, &hi2), GC_OK);
    cr_expect(lo == lo2 && hi == hi2, "the same resamples as the mean's bootstrap");
    cr_expect_eq(gc_stats_paired_bootstrap(sym, 0, 1000, 3, 0.95, &lo, &hi, &p), GC_ERR_ARG);
}

Test(stats, exact_mcnemar_matches_scipy_binomtest) {
    cJSON *j = load_oracle(), *e;
    const cJSON *cases = cJSON_GetObjectItem(j, "mcnemar");
    cr_assert_gt(cJSON_GetArraySize(cases), 0, "the fixture predates McNemar (make fixtures)");
    cJSON_ArrayForEach(e, cases) {
        int b = (int)num(e, "b"), c = (int)num(e, "c");
        cr_expect_float_eq(gc_stats_mcnemar_exact(b, c), num(e, "p"), 1e-12, "b %d c %d", b, c);
        cr_expect_float_eq(gc_stats_mcnemar_exact(c, b), num(e, "p"), 1e-12, "symmetric");
    }
    cr_expect_float_eq(gc_stats_mcnemar_exact(0, 0), 1.0, 0, "no discordant pair");
    cr_expect(isnan(gc_stats_mcnemar_exact(-1, 3)));
    cJSON_Delete(j);
}
