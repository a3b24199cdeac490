/* stats: AUROC, DeLong's test for two correlated AUROCs, bootstrap confidence intervals,
 * t-tests and t-based confidence intervals. Distribution functions come from GSL.
 *
 * Contract: inputs are caller-owned arrays; functions allocate scratch internally and free it.
 * Labels are 0/1. AUROC counts ties as one half (the Mann-Whitney statistic). A data set with only
 * one class has no AUROC: GC_ERR_ARG with a message saying which class is missing.
 */
#ifndef GC_STATS_H
#define GC_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util/base.h"

gc_status gc_stats_auroc(const double *score, const int *label, size_t n, double *auc);

typedef struct {
    double auc1, auc2; /* AUROC of each score */
    double se1, se2;   /* DeLong standard errors */
    double diff;       /* auc1 - auc2 */
    double se_diff;
    double z, p;   /* two-sided */
    double lo, hi; /* 95% CI of the difference */
} gc_delong;

/* DeLong, DeLong and Clarke-Pearson (1988): two scores of the same items. score2 may be NULL
 * for a single AUROC (then only auc1, se1, lo/hi of auc1 are set). */
gc_status gc_stats_delong(const double *score1, const double *score2, const int *label, size_t n,
                          gc_delong *out);

/* Percentile bootstrap CI (level e.g. 0.95) of the AUROC, resampling items; resamples with a
 * single class are drawn again. */
gc_status gc_stats_auroc_bootstrap(const double *score, const int *label, size_t n, int reps,
                                   uint64_t seed, double level, double *lo, double *hi);

/* Percentile bootstrap CI of the mean of x. */
gc_status gc_stats_mean_bootstrap(const double *x, size_t n, int reps, uint64_t seed, double level,
                                  double *lo, double *hi);

typedef struct {
    double mean, sd; /* sample mean and standard deviation (n - 1) */
    double lo, hi;   /* t-based CI of the mean */
    size_t n;
} gc_summary;

/* Mean and t-based CI (level e.g. 0.95); n = 1 gives lo = hi = mean. */
gc_status gc_stats_summary(const double *x, size_t n, double level, gc_summary *out);

typedef struct {
    double t, df, p; /* two-sided */
    double mean_diff;
} gc_ttest;

/* Paired t-test of a - b. */
gc_status gc_stats_ttest_paired(const double *a, const double *b, size_t n, gc_ttest *out);
/* Two-sample t-test; equal_var = 1 is Student's (scipy's default), 0 is Welch's. */
gc_status gc_stats_ttest_ind(const double *a, size_t na, const double *b, size_t nb, int equal_var,
                             gc_ttest *out);

/* One-sided one-sample t-test of x (n >= 2) against mu: the p-value of "mean > mu" (side = +1)
 * or "mean < mu" (side = -1); NaN when n < 2 or the values are all equal. Two of them make an
 * equivalence test (TOST): p = max(p(mean > -margin), p(mean < +margin)). */
double gc_stats_ttest_1samp_p(const double *x, size_t n, double mu, int side);

/* Percentile bootstrap of the mean of paired differences x (n): CI at level and the two-sided
 * bootstrap p-value of "mean = 0", 2 min(share of resampled means <= 0, share >= 0) capped at 1
 * (resampling items; the same resamples as gc_stats_mean_bootstrap with the same seed). */
gc_status gc_stats_paired_bootstrap(const double *x, size_t n, int reps, uint64_t seed,
                                    double level, double *lo, double *hi, double *p);

/* Pearson and Spearman (average ranks for ties) correlation of x and y (n >= 2), from GSL. */
double gc_stats_pearson(const double *x, const double *y, size_t n);
double gc_stats_spearman(const double *x, const double *y, size_t n);

/* Standard normal CDF and quantile (GSL). */
double gc_stats_norm_cdf(double x);
double gc_stats_norm_quantile(double p);
/* Student's t quantile and CDF with df degrees of freedom (GSL). */
double gc_stats_t_quantile(double p, double df);
double gc_stats_t_cdf(double x, double df);
/* P(X >= k) for X ~ Binomial(n, p) (GSL); 1 for k <= 0, 0 for k > n. */
double gc_stats_binom_tail(int n, int k, double p);
/* Exact McNemar test of two classifiers on the same items: b items only the first gets right, c
 * only the second. Two-sided p of min(b, c) under Binomial(b + c, 1/2), at most 1; 1 when b + c
 * is 0 (nothing to tell them apart); NaN for negative counts. */
double gc_stats_mcnemar_exact(int b, int c);

/* Power analysis: the smallest effect delta in [0, hi] at which power(delta, ctx) reaches target
 * (power must not decrease with delta), by bisection to 1e-6 of hi; +infinity when even hi falls
 * short. */
double gc_stats_detectable(double (*power)(double delta, const void *ctx), const void *ctx,
                           double target, double hi);

#endif
