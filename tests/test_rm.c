/* Reward-model losses: the contrastive loss and its gradient against finite differences (both
 * pair modes, both reductions), the preference loss by hand, position draws, goal state and
 * Q-values, and a reward model that learns to rank. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/rm.h"
#include "../lib/rng.h"
#include "helpers.h"

enum { P = 3, T = 9, D = 6, K = 4 };

static void setup(float *h, int *plen, int *len, gc_con_draws *d) {
    gc_rng r;
    gc_rng_init(&r, 42, 1);
    for (int i = 0; i < 2 * P * T * D; i++) h[i] = gc_rng_normal(&r);
    for (int b = 0; b < 2 * P; b++) plen[b] = 2 + b % 3, len[b] = T - b % 2;
    cr_assert_eq(gc_con_draws_init(d, P, K), GC_OK);
    gc_con_draw(d, plen, len, &r);
}

static void check_grad(gc_pairs_mode pairs, gc_con_reduction red) {
    float h[2 * P * T * D], dh[2 * P * T * D];
    int plen[2 * P], len[2 * P];
    gc_con_draws d;
    setup(h, plen, len, &d);
    gc_con_config c = {.lambda = 1, .K = K, .pairs = pairs, .reduction = red};
    double loss;
    memset(dh, 0, sizeof dh);
    cr_assert_eq(gc_con_loss(h, T, D, &d, &c, 1.0f, &loss, dh, NULL, NULL), GC_OK);
    cr_assert(isfinite(loss) && loss > 0);
    double scale = 0, err = 0;
    int touched = 0;
    for (int i = 0; i < 2 * P * T * D; i++) {
        float keep = h[i];
        double lp, lm, step = 1e-2; /* fp32 hidden states: a larger step, still O(step^2) */
        h[i] = keep + (float)step;
        gc_con_loss(h, T, D, &d, &c, 1.0f, &lp, NULL, NULL, NULL);
        h[i] = keep - (float)step;
        gc_con_loss(h, T, D, &d, &c, 1.0f, &lm, NULL, NULL, NULL);
        h[i] = keep;
        double fd = (lp - lm) / (2 * step);
        scale = fmax(scale, fabs(fd));
        err = fmax(err, fabs(fd - dh[i]));
        touched += dh[i] != 0;
    }
    cr_assert_gt(touched, D * 4, "the gradient reaches too few hidden states (%d)", touched);
    /* central differences with step 1e-2 on a smooth function: error O(1e-4) of the scale */
    cr_expect_lt(err / scale, 2e-3, "pairs %d reduction %d: relative gradient error %g", pairs,
                 red, err / scale);
    gc_con_draws_free(&d);
}

Test(contrastive, gradient_all_log_of_mean) { check_grad(GC_PAIRS_ALL, GC_RED_LOG_OF_MEAN); }
Test(contrastive, gradient_ordered_log_of_mean) { check_grad(GC_PAIRS_ORDERED, GC_RED_LOG_OF_MEAN); }
Test(contrastive, gradient_all_mean_of_log) { check_grad(GC_PAIRS_ALL, GC_RED_MEAN_OF_LOG); }
Test(contrastive, gradient_ordered_mean_of_log) { check_grad(GC_PAIRS_ORDERED, GC_RED_MEAN_OF_LOG); }

Test(contrastive, draws_respect_the_rules) {
    float h[2 * P * T * D];
    int plen[2 * P], len[2 * P];
    gc_con_draws d;
    setup(h, plen, len, &d);
    for (int p = 0; p < P; p++)
        for (int k = 0; k < K; k++) {
            int i = p * K + k;
            cr_assert(d.pos_src[i] <= d.pos_goal[i], "source after goal");
            cr_assert(d.pos_src[i] >= plen[2 * p] && d.pos_goal[i] < len[2 * p]);
            cr_assert(d.neg_src[i] >= plen[2 * p] && d.neg_src[i] < len[2 * p]);
            cr_assert(d.neg_goal[i] >= plen[2 * p + 1] && d.neg_goal[i] < len[2 * p + 1]);
        }
    gc_con_draws_free(&d);
}

Test(contrastive, identical_states_give_the_known_value) {
    /* every hidden state equal: cos = 1 for all pairs, sim = sigmoid(1) on both sides:
     * L = -log s - log(1 - s) */
    float h[2 * P * T * D];
    int plen[2 * P], len[2 * P];
    gc_con_draws d;
    setup(h, plen, len, &d);
    for (int i = 0; i < 2 * P * T * D; i++) h[i] = 0.5f;
    gc_con_config c = {.lambda = 1, .K = K, .pairs = GC_PAIRS_ALL, .reduction = GC_RED_LOG_OF_MEAN};
    double loss, mp, mn;
    cr_assert_eq(gc_con_loss(h, T, D, &d, &c, 1.0f, &loss, NULL, &mp, &mn), GC_OK);
    double s = 1.0 / (1.0 + exp(-1.0));
    cr_expect_float_eq(loss, -log(s) - log(1 - s), 1e-9);
    cr_expect_float_eq(mp, s, 1e-9);
    cr_expect_float_eq(mn, s, 1e-9);
    gc_con_draws_free(&d);
}

Test(preference, loss_gradient_accuracy) {
    float r[4] = {2.0f, 0.0f, -1.0f, 0.5f}, dr[4];
    double acc;
    double l = gc_pref_loss(r, 2, dr, &acc);
    double want = (log1p(exp(-2.0)) + log1p(exp(1.5))) / 2;
    cr_expect_float_eq(l, want, 1e-12);
    cr_expect_float_eq(acc, 0.5, 1e-12);
    cr_expect_float_eq(dr[0], -(1 - 1 / (1 + exp(-2.0))) / 2, 1e-7);
    cr_expect_float_eq(dr[1], -dr[0], 1e-7);
    cr_expect_float_eq(dr[2], -(1 - 1 / (1 + exp(1.5))) / 2, 1e-7);
    float big[2] = {-800.0f, 800.0f};
    cr_expect(isfinite(gc_pref_loss(big, 1, NULL, NULL)), "no overflow for large margins");
}

Test(goal, mean_and_qvalues) {
    gc_goal g;
    cr_assert_eq(gc_goal_init(&g, 3), GC_OK);
    float out[3];
    cr_expect_eq(gc_goal_mean(&g, out), GC_ERR_ARG, "empty goal state is an error");
    float a[3] = {1, 0, 0}, b[3] = {0, 1, 0};
    gc_goal_add(&g, a);
    gc_goal_add(&g, b);
    cr_assert_eq(gc_goal_mean(&g, out), GC_OK);
    cr_expect_float_eq(out[0], 0.5f, 1e-7);
    cr_expect_float_eq(gc_qvalue(a, out, 3), (float)(1 / sqrt(2.0)), 1e-6);
    float c[3] = {-1, -1, 0};
    cr_expect_float_eq(gc_qvalue(c, out, 3), -1.0f, 1e-6);
    gc_goal_free(&g);
}

/* A reward model on the tiny decoder learns to prefer sequences ending in token 5 over 7. */
static void learns_to_rank(float lambda) {
    gc_model_config cfg = th_tiny_config(1);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &cfg), GC_OK);
    th_init_weights(&m, 4);
    gc_rm rm;
    cr_assert_eq(gc_rm_init(&rm, &m, 1), GC_OK);
    enum { PP = 4, TT = 8 };
    int32_t tok[2 * PP * TT];
    int plen[2 * PP], len[2 * PP];
    gc_rng r;
    gc_rng_init(&r, 5, 5);
    gc_con_config c = {.lambda = lambda, .K = 4, .pairs = GC_PAIRS_ALL,
                       .reduction = GC_RED_LOG_OF_MEAN};
    gc_rm_step_stats st = {0};
    for (int step = 0; step < 60; step++) {
        for (int b = 0; b < 2 * PP; b++) {
            for (int t = 0; t < TT; t++) tok[b * TT + t] = 8 + (int32_t)gc_rng_below(&r, 10);
            plen[b] = 3, len[b] = TT;
            tok[b * TT + TT - 1] = b % 2 ? 7 : 5;
        }
        cr_assert_eq(gc_rm_step(&rm, tok, PP, TT, plen, len, &c, &r, 3e-3f, 1.0f, 0.0f, &st),
                     GC_OK, "%s", gc_last_error());
    }
    cr_expect_gt(st.acc, 0.99f, "lambda %g: pair accuracy %g after 60 steps", lambda, st.acc);
    cr_expect_lt(st.pref, 0.3f, "lambda %g: preference loss %g", lambda, st.pref);
    char *ck = th_tmp_path("rm.ckpt"), *hd = th_tmp_path("rm.head");
    cr_assert_eq(gc_rm_save(&rm, ck, hd), GC_OK);
    float r1[2 * PP], r2[2 * PP];
    cr_assert_eq(gc_rm_score(&rm, tok, 2 * PP, TT, len, r1), GC_OK);
    gc_rm back;
    cr_assert_eq(gc_rm_load(&back, ck, hd), GC_OK, "%s", gc_last_error());
    cr_assert_eq(gc_rm_score(&back, tok, 2 * PP, TT, len, r2), GC_OK);
    cr_expect_eq(memcmp(r1, r2, sizeof r1), 0, "a saved and reloaded RM scores differently");
    FILE *f = fopen(hd, "r+b");
    fseek(f, 14, SEEK_SET);
    fputc(0x7f, f);
    fclose(f);
    gc_rm bad;
    cr_expect_eq(gc_rm_load(&bad, ck, hd), GC_ERR_FORMAT, "a corrupted head loads");
    remove(ck), remove(hd);
    free(ck), free(hd);
    gc_rm_free(&back);
    gc_rm_free(&rm);
}

Test(reward_model, baseline_learns_to_rank) { learns_to_rank(0.0f); }
Test(reward_model, goal_conditioned_learns_to_rank) { learns_to_rank(0.5f); }

#include "../lib/mathpipe.h"

/* The policy's mean token log-probability of a response (the reference score of fig2) equals
 * minus the cross-entropy the model's own loss gives on the same response tokens, item by item,
 * in padded batches of mixed lengths. */
Test(mathpipe, logprob_matches_the_cross_entropy) {
    gc_model_config c = th_tiny_config(1);
    c.vocab_size = 128, c.seq_len = 64;
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &c), GC_OK);
    th_init_weights(&m, 9);
    const char *q[3] = {"Ann has 3 apples.", "Bo has 12.", "x"};
    const char *r[3] = {"3+4=7\n#### 7\n", "12-5=7\n#### 7\n", "####"};
    float lp[3];
    cr_assert_eq(gc_math_logprob(&m, q, r, 3, 64, 2, lp), GC_OK, "%s", gc_last_error());
    for (int i = 0; i < 3; i++) {
        int32_t tok[64], tgt[64], resp[64];
        int np = gc_math_prompt(q[i], tok, 64), nr = gc_math_response(r[i], resp, 64 - np);
        memcpy(tok + np, resp, sizeof(int32_t) * nr);
        for (int t = 0; t < np + nr; t++) tgt[t] = t >= np - 1 && t < np + nr - 1 ? tok[t + 1] : -1;
        float ce;
        cr_assert_eq(gc_model_forward(&m, tok, 1, np + nr, 1), GC_OK);
        cr_assert_eq(gc_model_ce_loss(&m, tgt, 1.0f, &ce), GC_OK);
        cr_expect_float_eq(lp[i], -ce, 1e-5, "item %d: log-prob %g, -CE %g", i, lp[i], -ce);
    }
    gc_model_free(&m);
}
