#!/usr/bin/env python3
"""Reference values for lib/stats/stats.c from scikit-learn and SciPy (Debian's python3-sklearn and
python3-scipy), written to tests/fixtures/stats_oracle.json.

AUROC: sklearn.metrics.roc_auc_score. DeLong: written here directly from DeLong, DeLong and
Clarke-Pearson (1988) with the O(n_pos * n_neg) kernel psi (1 above, 1/2 tie, 0 below), an
implementation independent of the mid-rank one in C; p-values from scipy.stats.norm.
t-tests: scipy.stats.ttest_rel and ttest_ind (Student and Welch); t intervals from scipy.stats.t.
Correlations: scipy.stats.pearsonr and spearmanr (ties get average ranks).
Exact McNemar: scipy.stats.binomtest on the discordant pairs (the smaller count of b + c, p 1/2).

Run: /usr/bin/python3 tests/ref/stats_oracle.py tests/fixtures
"""
import json
import sys

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score


def delong(s1, s2, y):
    pos, neg = y == 1, y == 0

    def comps(s):
        x, z = s[pos], s[neg]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        return psi.mean(1), psi.mean(0), psi.mean()

    v10a, v01a, a1 = comps(s1)
    v10b, v01b, a2 = comps(s2)
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    cov = s10 / pos.sum() + s01 / neg.sum()
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z = (a1 - a2) / np.sqrt(var)
    return dict(auc1=a1, auc2=a2, se1=np.sqrt(cov[0, 0]), se2=np.sqrt(cov[1, 1]),
                diff=a1 - a2, se_diff=np.sqrt(var), z=z, p=2 * stats.norm.sf(abs(z)))


def main(outdir):
    rng = np.random.default_rng(20241128)
    cases = []
    for n, ties, sep in [(40, False, 0.8), (200, True, 0.5), (500, True, 0.2), (57, False, 0.0)]:
        y = (rng.random(n) < 0.4).astype(int)
        s1 = rng.normal(size=n) + sep * y
        s2 = 0.6 * s1 + rng.normal(size=n) * 0.8 + 0.3 * sep * y
        if ties:  # coarse scores: many ties within and across classes
            s1, s2 = np.round(s1 * 2) / 2, np.round(s2)
        d = delong(s1, s2, y)
        d["sk_auc1"] = roc_auc_score(y, s1)
        d["sk_auc2"] = roc_auc_score(y, s2)
        cases.append(dict(label=y.tolist(), s1=s1.tolist(), s2=s2.tolist(),
                          **{k: float(v) for k, v in d.items()}))
    a = rng.normal(0.3, 1.0, 25)
    b = a + rng.normal(0.2, 0.5, 25)
    c = rng.normal(0.0, 2.0, 31)
    rel = stats.ttest_rel(a, b)
    ind = stats.ttest_ind(a, c)
    welch = stats.ttest_ind(a, c, equal_var=False)
    m, se = a.mean(), stats.sem(a)
    half = stats.t.ppf(0.975, len(a) - 1) * se
    out = dict(auroc=cases, ttest=dict(
        a=a.tolist(), b=b.tolist(), c=c.tolist(),
        rel_t=float(rel.statistic), rel_p=float(rel.pvalue),
        ind_t=float(ind.statistic), ind_p=float(ind.pvalue),
        welch_t=float(welch.statistic), welch_p=float(welch.pvalue),
        mean_a=float(m), ci_lo=float(m - half), ci_hi=float(m + half)),
        norm=dict(q975=float(stats.norm.ppf(0.975)), cdf_m1=float(stats.norm.cdf(-1.0))))
    x = rng.normal(size=23)  # drawn last: the earlier cases keep their values
    y = np.round(0.5 * x + rng.normal(size=23), 1)  # rounded: ties for the ranks
    out["corr"] = dict(x=x.tolist(), y=y.tolist(), pearson=float(stats.pearsonr(x, y)[0]),
                       spearman=float(stats.spearmanr(x, y)[0]))
    # power analysis: binomial tails, t quantiles, and the smallest effect a two-sided z test at
    # alpha 0.05 detects with 80% power (sigma * (z_0.975 + z_0.8))
    out["power"] = dict(
        binom=[dict(n=n, k=k, p=p, sf=float(stats.binom.sf(k - 1, n, p)))
               for n, k, p in [(3, 3, 0.5), (5, 4, 0.83), (10, 8, 0.6), (7, 1, 0.1)]],
        t=[dict(p=p, df=df, q=float(stats.t.ppf(p, df))) for p, df in [(0.8, 2), (0.975, 199)]],
        z_sigma=0.037,
        z_detectable=float(0.037 * (stats.norm.ppf(0.975) + stats.norm.ppf(0.8))))
    # one-sided one-sample t-tests (TOST and "worse" checks) and the t CDF
    d = rng.normal(0.01, 0.03, 4)  # drawn after the earlier cases: they keep their values
    out["onesided"] = dict(
        x=d.tolist(),
        cases=[dict(mu=mu, side=side, p=float(stats.ttest_1samp(
            d, mu, alternative="greater" if side > 0 else "less").pvalue))
            for mu, side in [(-0.05, 1), (0.05, -1), (0.0, -1), (0.0, 1)]],
        tcdf=[dict(x=x, df=df, cdf=float(stats.t.cdf(x, df)))
              for x, df in [(-2.5, 3), (0.7, 3), (1.9, 12)]])
    # exact McNemar on (b, c) discordant pairs: a two-sided binomial test of min(b, c) of b + c
    out["mcnemar"] = [dict(b=b, c=c, p=float(stats.binomtest(min(b, c), b + c, 0.5).pvalue))
                      for b, c in [(12, 3), (40, 52), (7, 7), (0, 5), (120, 95), (1, 0), (3, 30)]]
    with open(outdir + "/stats_oracle.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
