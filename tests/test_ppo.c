/* PPO's arithmetic (lib/policy/ppo.h) against OpenRLHF's formulas in PyTorch
 * (tests/ref/ppo_oracle.py -> fixtures): per-token rewards with the KL penalty, GAE, masked
 * whitening, running moments, the clipped policy surrogate and value loss with their gradients;
 * plus the adaptive KL controller's direction and bounds.
 *
 * Tolerances: inputs are rounded to float on the way in, so 1e-5 relative (1e-6 absolute on
 * gradients of order 1 / n); the running moments, computed in double from doubles, 1e-12. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "lib/policy/ppo.h"
#include "lib/util/jsonio.h"

static cJSON *oracle(void) {
    cJSON *j;
    cr_assert_eq(gc_json_read("tests/fixtures/ppo_oracle.json", &j), GC_OK, "%s", gc_last_error());
    return j;
}

static int floats(const cJSON *j, const char *key, float *out, int cap) {
    int n = 0;
    for (const cJSON *e = cJSON_GetObjectItem(j, key)->child; e && n < cap; e = e->next)
        out[n++] = (float)e->valuedouble;
    return n;
}

static void expect_close(const float *got, const float *want, int n, double tol, const char *what) {
    for (int i = 0; i < n; i++)
        cr_expect_leq(fabs((double)got[i] - want[i]), tol * fmax(1.0, fabs(want[i])),
                      "%s[%d]: %g vs %g", what, i, got[i], want[i]);
}

Test(ppo, rewards_and_gae_match_openrlhf) {
    cJSON *j = oracle();
    float lp[16], lr[16], v[16], rw[16], adv[16], ret[16], want[16];
    int T = floats(j, "logp", lp, 16);
    floats(j, "logp_ref", lr, 16), floats(j, "values", v, 16);
    gc_ppo_rewards(lp, lr, T, gc_json_num(j, "kl_coef", 0), gc_json_num(j, "score", 0), rw);
    floats(j, "rewards", want, 16);
    expect_close(rw, want, T, 1e-5, "reward");
    floats(j, "rewards", rw, 16); /* GAE from the oracle's rewards */
    gc_ppo_gae(rw, v, T, gc_json_num(j, "gamma", 0), gc_json_num(j, "lam", 0), adv, ret);
    floats(j, "adv", want, 16);
    expect_close(adv, want, T, 1e-5, "advantage");
    floats(j, "ret", want, 16);
    expect_close(ret, want, T, 1e-5, "return");
    cJSON_Delete(j);
}

Test(ppo, whitening_and_running_moments_match) {
    cJSON *j = oracle();
    float x[64], m[64], want[64];
    int n = floats(j, "x", x, 64);
    floats(j, "mask", m, 64), floats(j, "white", want, 64);
    uint8_t mask[64];
    for (int i = 0; i < n; i++)
        mask[i] = m[i] != 0;
    gc_ppo_whiten(x, mask, (size_t)n);
    expect_close(x, want, n, 1e-5, "whitened");
    gc_moments mo;
    gc_moments_init(&mo);
    for (const cJSON *b = cJSON_GetObjectItem(j, "batches")->child; b; b = b->next) {
        double xs[16];
        int k = 0;
        for (const cJSON *e = b->child; e; e = e->next)
            xs[k++] = e->valuedouble;
        gc_moments_update(&mo, xs, (size_t)k);
    }
    cr_expect_float_eq(mo.mean, gc_json_num(j, "m_mean", NAN), 1e-12);
    cr_expect_float_eq(mo.var, gc_json_num(j, "m_var", NAN), 1e-12);
    cr_expect_float_eq(gc_moments_normalize(&mo, mo.mean), 0.0, 1e-12);
    cJSON_Delete(j);
}

Test(ppo, clipped_losses_and_gradients_match) {
    cJSON *j = oracle();
    float m[64], lo[64], ln[64], a[64], g[64], want[64];
    int n = floats(j, "mask", m, 64);
    uint8_t mask[64];
    for (int i = 0; i < n; i++)
        mask[i] = m[i] != 0;
    floats(j, "lp_old", lo, 64), floats(j, "lp_new", ln, 64), floats(j, "a", a, 64);
    double clipfrac, kl;
    double pl =
        gc_ppo_policy_loss(ln, lo, a, mask, (size_t)n, gc_json_num(j, "eps", 0), g, &clipfrac, &kl);
    cr_expect_float_eq(pl, gc_json_num(j, "policy_loss", NAN), 1e-5);
    cr_expect_float_eq(clipfrac, gc_json_num(j, "clipfrac", NAN), 1e-12);
    cr_expect_gt(clipfrac, 0, "the fixture clips some ratios");
    cr_expect_gt(kl, 0);
    floats(j, "policy_grad", want, 64);
    expect_close(g, want, n, 1e-5, "dL/dlogp");
    float v[64], vo[64], r[64];
    floats(j, "v", v, 64), floats(j, "v_old", vo, 64), floats(j, "r", r, 64);
    double vl = gc_ppo_value_loss(v, vo, r, mask, (size_t)n, gc_json_num(j, "eps_v", 0), g);
    cr_expect_float_eq(vl, gc_json_num(j, "value_loss", NAN), 1e-5);
    floats(j, "value_grad", want, 64);
    expect_close(g, want, n, 1e-5, "dL/dv");
    for (int i = 0; i < n; i++)
        if (!mask[i]) cr_expect_eq(g[i], 0.0f, "a masked token has no gradient");
    cJSON_Delete(j);
}

Test(ppo, adaptive_kl_moves_toward_its_target) {
    double up = gc_ppo_kl_adapt(0.02, 0.5, 0.1, 10000, 512); /* KL far above: clamp at +20% */
    cr_expect_float_eq(up, 0.02 * (1 + 0.2 * 512 / 10000.0), 1e-15);
    double down = gc_ppo_kl_adapt(0.02, 0.05, 0.1, 10000, 512);
    cr_expect_lt(down, 0.02);
    cr_expect_float_eq(gc_ppo_kl_adapt(0.02, 0.1, 0.1, 10000, 512), 0.02, 1e-15);
}
