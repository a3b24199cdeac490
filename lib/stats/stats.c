#include "stats.h"

#include <gsl/gsl_statistics_double.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include "lib/util/rng.h"

double gc_stats_norm_cdf(double x) {
    return gsl_cdf_ugaussian_P(x);
}
double gc_stats_norm_quantile(double p) {
    return gsl_cdf_ugaussian_Pinv(p);
}

static gc_status count_classes(const int *label, size_t n, size_t *npos, size_t *nneg) {
    size_t p = 0;
    *npos = *nneg = 0;
    for (size_t i = 0; i < n; i++) {
        if (label[i] != 0 && label[i] != 1)
            return gc_fail(GC_ERR_ARG, "stats: label %d at %zu is not 0 or 1", label[i], i);
        p += label[i];
    }
    *npos = p;
    *nneg = n - p;
    if (p == 0 || p == n)
        return gc_fail(GC_ERR_ARG, "stats: AUROC needs both classes, but all %zu labels are %d", n,
                       p ? 1 : 0);
    return GC_OK;
}

typedef struct {
    double v;
    size_t i;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    double x = ((const keyed *)a)->v, y = ((const keyed *)b)->v;
    return x < y ? -1 : x > y;
}

/* Mid-ranks (1-based, ties averaged) of v (n) into rank (n). */
static gc_status midranks(const double *v, size_t n, double *rank) {
    keyed *k = gc_malloc(sizeof(keyed) * (n ? n : 1));
    if (!k) return GC_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (isnan(v[i])) {
            free(k);
            return gc_fail(GC_ERR_ARG, "stats: score %zu is NaN", i);
        }
        k[i].v = v[i], k[i].i = i;
    }
    qsort(k, n, sizeof(keyed), cmp_keyed);
    for (size_t a = 0; a < n;) {
        size_t b = a;
        while (b + 1 < n && k[b + 1].v == k[a].v)
            b++;
        double r = 0.5 * (double)(a + b) + 1.0;
        for (size_t j = a; j <= b; j++)
            rank[k[j].i] = r;
        a = b + 1;
    }
    free(k);
    return GC_OK;
}

gc_status gc_stats_auroc(const double *score, const int *label, size_t n, double *auc) {
    size_t np, nn;
    GC_TRY(count_classes(label, n, &np, &nn));
    double *rank = gc_malloc(sizeof(double) * n);
    if (!rank) return GC_ERR_NOMEM;
    gc_status s = midranks(score, n, rank);
    if (s == GC_OK) {
        double rsum = 0;
        for (size_t i = 0; i < n; i++)
            if (label[i]) rsum += rank[i];
        *auc = (rsum - (double)np * (np + 1) / 2.0) / ((double)np * nn);
    }
    free(rank);
    return s;
}

/* DeLong structural components of one score: v10 (np) over positives, v01 (nn) over negatives. */
static gc_status components(const double *score, const int *label, size_t n, size_t np, size_t nn,
                            double *v10, double *v01, double *auc) {
    double *all = gc_malloc(sizeof(double) * n), *sub = gc_malloc(sizeof(double) * n);
    double *rall = gc_malloc(sizeof(double) * n), *rpos = gc_malloc(sizeof(double) * n);
    double *rneg = gc_malloc(sizeof(double) * n);
    gc_status s = all && sub && rall && rpos && rneg ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK) s = midranks(score, n, rall);
    size_t a = 0, b = 0;
    if (s == GC_OK) {
        for (size_t i = 0; i < n; i++)
            if (label[i])
                all[a++] = score[i];
            else
                sub[b++] = score[i];
        s = midranks(all, np, rpos);
    }
    if (s == GC_OK) s = midranks(sub, nn, rneg);
    if (s == GC_OK) {
        a = b = 0;
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            if (label[i]) {
                /* negatives ranked below this positive (ties count one half) */
                v10[a] = (rall[i] - rpos[a]) / (double)nn;
                sum += v10[a++];
            } else {
                v01[b] = 1.0 - (rall[i] - rneg[b]) / (double)np;
                b++;
            }
        }
        *auc = sum / (double)np;
    }
    free(all), free(sub), free(rall), free(rpos), free(rneg);
    return s;
}

static double cov(const double *x, const double *y, size_t n) {
    double mx = 0, my = 0, c = 0;
    for (size_t i = 0; i < n; i++)
        mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    for (size_t i = 0; i < n; i++)
        c += (x[i] - mx) * (y[i] - my);
    return n > 1 ? c / (double)(n - 1) : 0.0;
}

gc_status gc_stats_delong(const double *score1, const double *score2, const int *label, size_t n,
                          gc_delong *out) {
    size_t np, nn;
    memset(out, 0, sizeof *out);
    GC_TRY(count_classes(label, n, &np, &nn));
    double *v10a = gc_malloc(sizeof(double) * np), *v01a = gc_malloc(sizeof(double) * nn);
    double *v10b = gc_malloc(sizeof(double) * np), *v01b = gc_malloc(sizeof(double) * nn);
    gc_status s = v10a && v01a && v10b && v01b ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK) s = components(score1, label, n, np, nn, v10a, v01a, &out->auc1);
    if (s == GC_OK && score2) s = components(score2, label, n, np, nn, v10b, v01b, &out->auc2);
    if (s == GC_OK) {
        double z975 = gc_stats_norm_quantile(0.975);
        double var1 = cov(v10a, v10a, np) / np + cov(v01a, v01a, nn) / nn;
        out->se1 = sqrt(var1);
        if (!score2) {
            out->lo = fmax(0.0, out->auc1 - z975 * out->se1);
            out->hi = fmin(1.0, out->auc1 + z975 * out->se1);
        } else {
            double var2 = cov(v10b, v10b, np) / np + cov(v01b, v01b, nn) / nn;
            double c12 = cov(v10a, v10b, np) / np + cov(v01a, v01b, nn) / nn;
            double vd = var1 + var2 - 2 * c12;
            out->se2 = sqrt(var2);
            out->diff = out->auc1 - out->auc2;
            out->se_diff = vd > 0 ? sqrt(vd) : 0.0;
            if (out->se_diff > 0) {
                out->z = out->diff / out->se_diff;
                out->p = 2.0 * gsl_cdf_ugaussian_Q(fabs(out->z));
            } else {
                out->z = 0;
                out->p = out->diff == 0 ? 1.0 : 0.0;
            }
            out->lo = out->diff - z975 * out->se_diff;
            out->hi = out->diff + z975 * out->se_diff;
        }
    }
    free(v10a), free(v01a), free(v10b), free(v01b);
    return s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* percentile interval of sorted values */
static void percentile_ci(double *vals, int reps, double level, double *lo, double *hi) {
    qsort(vals, (size_t)reps, sizeof(double), cmp_double);
    double a = (1.0 - level) / 2.0;
    int i = (int)floor(a * (reps - 1)), j = (int)ceil((1.0 - a) * (reps - 1));
    *lo = vals[i];
    *hi = vals[j];
}

gc_status gc_stats_auroc_bootstrap(const double *score, const int *label, size_t n, int reps,
                                   uint64_t seed, double level, double *lo, double *hi) {
    size_t np, nn;
    GC_TRY(count_classes(label, n, &np, &nn));
    if (reps < 10 || n > UINT32_MAX)
        return gc_fail(GC_ERR_ARG, "bootstrap: need >= 10 resamples and < 2^32 items");
    double *vals = gc_malloc(sizeof(double) * reps), *s = gc_malloc(sizeof(double) * n);
    int *l = gc_malloc(sizeof(int) * n);
    if (!vals || !s || !l) {
        free(vals), free(s), free(l);
        return GC_ERR_NOMEM;
    }
    gc_rng r;
    gc_rng_init(&r, seed, gc_rng_stream(GC_STREAM_BOOTSTRAP_AUROC, 0));
    gc_status st = GC_OK;
    for (int k = 0; k < reps && st == GC_OK; k++) {
        size_t pos;
        do {
            pos = 0;
            for (size_t i = 0; i < n; i++) {
                size_t j = gc_rng_below(&r, (uint32_t)n);
                s[i] = score[j], l[i] = label[j];
                pos += (size_t)l[i];
            }
        } while (pos == 0 || pos == n);
        st = gc_stats_auroc(s, l, n, &vals[k]);
    }
    if (st == GC_OK) percentile_ci(vals, reps, level, lo, hi);
    free(vals), free(s), free(l);
    return st;
}

/* reps resampled means of x (vals) */
static gc_status resampled_means(const double *x, size_t n, int reps, uint64_t seed,
                                 double **vals) {
    if (n == 0 || reps < 10 || n > UINT32_MAX)
        return gc_fail(GC_ERR_ARG, "bootstrap: need data and >= 10 resamples");
    *vals = gc_malloc(sizeof(double) * reps);
    if (!*vals) return GC_ERR_NOMEM;
    gc_rng r;
    gc_rng_init(&r, seed, gc_rng_stream(GC_STREAM_BOOTSTRAP_MEAN, 0));
    for (int k = 0; k < reps; k++) {
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += x[gc_rng_below(&r, (uint32_t)n)];
        (*vals)[k] = sum / (double)n;
    }
    return GC_OK;
}

gc_status gc_stats_mean_bootstrap(const double *x, size_t n, int reps, uint64_t seed, double level,
                                  double *lo, double *hi) {
    double *vals;
    GC_TRY(resampled_means(x, n, reps, seed, &vals));
    percentile_ci(vals, reps, level, lo, hi);
    free(vals);
    return GC_OK;
}

gc_status gc_stats_paired_bootstrap(const double *x, size_t n, int reps, uint64_t seed,
                                    double level, double *lo, double *hi, double *p) {
    double *vals;
    GC_TRY(resampled_means(x, n, reps, seed, &vals));
    int le = 0, ge = 0;
    for (int k = 0; k < reps; k++)
        le += vals[k] <= 0, ge += vals[k] >= 0;
    *p = fmin(1.0, 2.0 * (le < ge ? le : ge) / reps);
    percentile_ci(vals, reps, level, lo, hi);
    free(vals);
    return GC_OK;
}

double gc_stats_ttest_1samp_p(const double *x, size_t n, double mu, int side) {
    if (n < 2) return NAN;
    double m = 0, ss = 0;
    int spread = 0;
    for (size_t i = 0; i < n; i++)
        m += x[i], spread |= x[i] != x[0];
    if (!spread) return NAN;
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    double se = sqrt(ss / (double)(n - 1) / (double)n);
    if (!(se > 0)) return NAN;
    double t = (m - mu) / se;
    return side > 0 ? gsl_cdf_tdist_Q(t, (double)(n - 1)) : gsl_cdf_tdist_P(t, (double)(n - 1));
}

gc_status gc_stats_summary(const double *x, size_t n, double level, gc_summary *out) {
    memset(out, 0, sizeof *out);
    if (n == 0) return gc_fail(GC_ERR_ARG, "summary: no values");
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m += x[i];
    m /= (double)n;
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    out->n = n;
    out->mean = m;
    out->sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
    double half =
        n > 1 ? gsl_cdf_tdist_Pinv(0.5 + level / 2.0, (double)(n - 1)) * out->sd / sqrt((double)n)
              : 0.0;
    out->lo = m - half;
    out->hi = m + half;
    return GC_OK;
}

static void finish_t(gc_ttest *out) {
    if (isfinite(out->t))
        out->p = 2.0 * gsl_cdf_tdist_Q(fabs(out->t), out->df);
    else
        out->p = out->mean_diff == 0 ? 1.0 : 0.0;
}

gc_status gc_stats_ttest_paired(const double *a, const double *b, size_t n, gc_ttest *out) {
    memset(out, 0, sizeof *out);
    if (n < 2) return gc_fail(GC_ERR_ARG, "paired t-test: need at least 2 pairs, got %zu", n);
    double *d = gc_malloc(sizeof(double) * n);
    if (!d) return GC_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        d[i] = a[i] - b[i];
    gc_summary s;
    gc_stats_summary(d, n, 0.95, &s);
    free(d);
    out->mean_diff = s.mean;
    out->df = (double)(n - 1);
    out->t = s.sd > 0 ? s.mean / (s.sd / sqrt((double)n)) : (s.mean == 0 ? 0 : INFINITY);
    finish_t(out);
    return GC_OK;
}

gc_status gc_stats_ttest_ind(const double *a, size_t na, const double *b, size_t nb, int equal_var,
                             gc_ttest *out) {
    memset(out, 0, sizeof *out);
    if (na < 2 || nb < 2) return gc_fail(GC_ERR_ARG, "t-test: need at least 2 values per group");
    gc_summary sa, sb;
    gc_stats_summary(a, na, 0.95, &sa);
    gc_stats_summary(b, nb, 0.95, &sb);
    double va = sa.sd * sa.sd, vb = sb.sd * sb.sd, se;
    out->mean_diff = sa.mean - sb.mean;
    if (equal_var) {
        out->df = (double)(na + nb - 2);
        double sp = ((na - 1) * va + (nb - 1) * vb) / out->df;
        se = sqrt(sp * (1.0 / na + 1.0 / nb));
    } else {
        double qa = va / na, qb = vb / nb;
        se = sqrt(qa + qb);
        out->df = (qa + qb) * (qa + qb) / (qa * qa / (na - 1) + qb * qb / (nb - 1));
    }
    out->t = se > 0 ? out->mean_diff / se : (out->mean_diff == 0 ? 0 : INFINITY);
    finish_t(out);
    return GC_OK;
}

double gc_stats_pearson(const double *x, const double *y, size_t n) {
    return n >= 2 ? gsl_stats_correlation(x, 1, y, 1, n) : NAN;
}

double gc_stats_spearman(const double *x, const double *y, size_t n) {
    double *work = n >= 2 ? malloc(sizeof(double) * 2 * n) : NULL;
    double r = work ? gsl_stats_spearman(x, 1, y, 1, n, work) : NAN;
    free(work);
    return r;
}

double gc_stats_t_quantile(double p, double df) {
    return gsl_cdf_tdist_Pinv(p, df);
}

double gc_stats_t_cdf(double x, double df) {
    return gsl_cdf_tdist_P(x, df);
}

double gc_stats_binom_tail(int n, int k, double p) {
    if (k <= 0) return 1.0;
    if (k > n) return 0.0;
    return gsl_cdf_binomial_Q((unsigned)(k - 1), p, (unsigned)n);
}

double gc_stats_mcnemar_exact(int b, int c) {
    if (b < 0 || c < 0) return NAN;
    if (b + c == 0) return 1.0;
    double p = 2.0 * gsl_cdf_binomial_P((unsigned)(b < c ? b : c), 0.5, (unsigned)(b + c));
    return p < 1.0 ? p : 1.0;
}

double gc_stats_detectable(double (*power)(double delta, const void *ctx), const void *ctx,
                           double target, double hi) {
    if (!(power(hi, ctx) >= target)) return INFINITY;
    double lo = 0, tol = 1e-6 * (hi > 0 ? hi : 1); /* absolute: a step at 0 must end too */
    if (power(lo, ctx) >= target) return 0;
    while (hi - lo > tol) {
        double mid = 0.5 * (lo + hi);
        if (power(mid, ctx) >= target)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}
