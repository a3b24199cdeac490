#include "ppo.h"

#include <math.h>

void gc_ppo_rewards(const float *logp, const float *logp_ref, int T, double kl_coef, double score,
                    float *out) {
    for (int t = 0; t < T; t++)
        out[t] = (float)(-kl_coef * ((double)logp[t] - logp_ref[t]) + (t == T - 1 ? score : 0));
}

void gc_ppo_gae(const float *rewards, const float *values, int T, double gamma, double lambda,
                float *adv, float *ret) {
    double last = 0;
    for (int t = T - 1; t >= 0; t--) {
        double next = t + 1 < T ? values[t + 1] : 0.0;
        double delta = rewards[t] + gamma * next - values[t];
        last = delta + gamma * lambda * last;
        adv[t] = (float)last;
        ret[t] = (float)(last + values[t]);
    }
}

void gc_ppo_whiten(float *x, const uint8_t *mask, size_t n) {
    double sum = 0, cnt = 0;
    for (size_t i = 0; i < n; i++)
        if (!mask || mask[i]) sum += x[i], cnt++;
    if (cnt == 0) return;
    double mean = sum / cnt, var = 0;
    for (size_t i = 0; i < n; i++)
        if (!mask || mask[i]) var += (x[i] - mean) * (x[i] - mean);
    double sd = sqrt(var / cnt);
    for (size_t i = 0; i < n; i++)
        if (!mask || mask[i]) x[i] = (float)((x[i] - mean) / (sd + 1e-8));
}

void gc_moments_init(gc_moments *m) {
    m->mean = 0, m->var = 1, m->count = 1e-24;
}

void gc_moments_update(gc_moments *m, const double *x, size_t n) {
    if (n == 0) return;
    double bm = 0, bv = 0;
    for (size_t i = 0; i < n; i++)
        bm += x[i] / n;
    for (size_t i = 0; i < n; i++)
        bv += (x[i] - bm) * (x[i] - bm) / n;
    double tot = m->count + n, delta = bm - m->mean;
    double m2 = m->var * m->count + bv * n + delta * delta * m->count * n / tot;
    m->mean += delta * n / tot;
    m->var = m2 / tot;
    m->count = tot;
}

double gc_moments_normalize(const gc_moments *m, double x) {
    return (x - m->mean) / sqrt(m->var + 1e-8);
}

double gc_ppo_policy_loss(const float *logp_new, const float *logp_old, const float *adv,
                          const uint8_t *mask, size_t n, double eps, float *dlogp, double *clipfrac,
                          double *approx_kl) {
    double loss = 0, cnt = 0, clipped = 0, kl = 0;
    for (size_t i = 0; i < n; i++)
        cnt += !mask || mask[i];
    for (size_t i = 0; i < n; i++) {
        if (dlogp) dlogp[i] = 0;
        if (mask && !mask[i]) continue;
        double d = (double)logp_new[i] - logp_old[i], rho = exp(d), a = adv[i];
        double rc = fmin(fmax(rho, 1 - eps), 1 + eps);
        double s1 = rho * a, s2 = rc * a;
        loss += -fmin(s1, s2) / cnt;
        clipped += rc != rho;
        kl += 0.5 * d * d / cnt;
        /* the unclipped term carries the gradient when it is the smaller one (or they tie) */
        if (dlogp) dlogp[i] = (float)(s1 <= s2 ? -a * rho / cnt : 0.0);
    }
    if (clipfrac) *clipfrac = cnt ? clipped / cnt : 0;
    if (approx_kl) *approx_kl = kl;
    return loss;
}

double gc_ppo_value_loss(const float *values, const float *old_values, const float *returns,
                         const uint8_t *mask, size_t n, double eps, float *dv) {
    double loss = 0, cnt = 0;
    for (size_t i = 0; i < n; i++)
        cnt += !mask || mask[i];
    for (size_t i = 0; i < n; i++) {
        if (dv) dv[i] = 0;
        if (mask && !mask[i]) continue;
        double v = values[i], vo = old_values[i], r = returns[i];
        double step = fmin(fmax(v - vo, -eps), eps), vc = vo + step;
        double s1 = (vc - r) * (vc - r), s2 = (v - r) * (v - r);
        loss += 0.5 * fmax(s1, s2) / cnt;
        if (!dv) continue;
        /* the larger term carries the gradient; the clipped one moves with v only inside the
         * clip range */
        int inside = fabs(v - vo) < eps;
        dv[i] = (float)(s1 > s2 ? (inside ? (vc - r) / cnt : 0.0) : (v - r) / cnt);
    }
    return loss;
}

double gc_ppo_kl_adapt(double kl_coef, double kl, double target, double horizon, double n_steps) {
    double err = fmin(fmax(kl / target - 1, -0.2), 0.2);
    return kl_coef * (1 + err * n_steps / horizon);
}
