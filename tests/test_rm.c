/* Reward-model losses: the contrastive loss and its gradient against finite differences (both
 * pair modes, both reductions), the preference loss by hand, position draws, goal state and
 * Q-values, and a reward model that learns to rank. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rm/rm.h"
#include "lib/util/rng.h"
#include "helpers.h"

enum { P = 3, T = 9, D = 6, K = 4 };

static const gc_con_config DEFAULT_CON = {.lambda = 1, .K = K};

static void setup(float *h, int *plen, int *len, gc_con_draws *d, const gc_con_config *c) {
    gc_rng r;
    gc_rng_init(&r, 42, 1);
    for (int i = 0; i < 2 * P * T * D; i++)
        h[i] = gc_rng_normal(&r);
    for (int b = 0; b < 2 * P; b++)
        plen[b] = 2 + b % 3, len[b] = T - b % 2;
    cr_assert_eq(gc_con_draws_init(d, P, K), GC_OK);
    gc_con_draw(d, c, plen, len, &r);
}

static void check_grad_of(gc_con_config c) {
    gc_pairs_mode pairs = c.pairs;
    gc_con_reduction red = c.reduction;
    float h[2 * P * T * D], dh[2 * P * T * D];
    int plen[2 * P], len[2 * P];
    gc_con_draws d;
    setup(h, plen, len, &d, &c);
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
    cr_expect_lt(err / scale, 2e-3,
                 "pairs %d reduction %d positions %d goals %d: relative "
                 "gradient error %g",
                 pairs, red, c.positions, c.goal_sampling, err / scale);
    gc_con_draws_free(&d);
}

static void check_grad(gc_pairs_mode pairs, gc_con_reduction red) {
    check_grad_of((gc_con_config){.lambda = 1, .K = K, .pairs = pairs, .reduction = red});
}

Test(contrastive, gradient_all_log_of_mean) {
    check_grad(GC_PAIRS_ALL, GC_RED_LOG_OF_MEAN);
}
Test(contrastive, gradient_ordered_log_of_mean) {
    check_grad(GC_PAIRS_ORDERED, GC_RED_LOG_OF_MEAN);
}
Test(contrastive, gradient_all_mean_of_log) {
    check_grad(GC_PAIRS_ALL, GC_RED_MEAN_OF_LOG);
}
Test(contrastive, gradient_ordered_mean_of_log) {
    check_grad(GC_PAIRS_ORDERED, GC_RED_MEAN_OF_LOG);
}

/* the ablation switches: averaged goals (both pair modes), a single goal, late positions */
Test(contrastive, gradient_averaged_goals_all) {
    check_grad_of((gc_con_config){.lambda = 1, .K = K, .goal_sampling = GC_GOAL_AVERAGED});
}
Test(contrastive, gradient_averaged_goals_ordered_mean_of_log) {
    check_grad_of((gc_con_config){.lambda = 1,
                                  .K = K,
                                  .pairs = GC_PAIRS_ORDERED,
                                  .reduction = GC_RED_MEAN_OF_LOG,
                                  .goal_sampling = GC_GOAL_AVERAGED});
}
Test(contrastive, gradient_single_goal_late_positions) {
    check_grad_of((gc_con_config){
        .lambda = 1, .K = K, .positions = GC_POS_LATE, .goal_sampling = GC_GOAL_SINGLE});
}

/* averaged goals by hand: one pair, K = 2, the goal vector is the mean of two states */
Test(contrastive, averaged_goal_value_by_hand) {
    enum { T2 = 4, D2 = 2 };
    float h[2 * T2 * D2] = {0};
    /* chosen: positions 1..3 = (1,0), (0,1), (1,1); rejected: position 2 = (-1, 0) */
    h[1 * D2] = 1, h[2 * D2 + 1] = 1, h[3 * D2] = 1, h[3 * D2 + 1] = 1;
    h[(T2 + 2) * D2] = -1;
    gc_con_draws d;
    cr_assert_eq(gc_con_draws_init(&d, 1, 2), GC_OK);
    d.pos_src[0] = 1, d.pos_src[1] = 1, d.pos_goal[0] = 2, d.pos_goal[1] = 3;
    d.neg_src[0] = 3, d.neg_src[1] = 3, d.neg_goal[0] = 2, d.neg_goal[1] = 2;
    gc_con_config c = {.lambda = 1, .K = 2, .goal_sampling = GC_GOAL_AVERAGED};
    double loss, mp, mn;
    cr_assert_eq(gc_con_loss(h, T2, D2, &d, &c, 1.0f, &loss, NULL, &mp, &mn), GC_OK);
    /* positive goal = mean((0,1), (1,1)) = (0.5, 1); source (1,0): cos = 0.5 / sqrt(1.25) */
    double sp = 1 / (1 + exp(-0.5 / sqrt(1.25)));
    /* negative goal = (-1, 0); source (1,1): cos = -1 / sqrt(2) */
    double sn = 1 / (1 + exp(1 / sqrt(2.0)));
    cr_expect_float_eq(mp, sp, 1e-6);
    cr_expect_float_eq(mn, sn, 1e-6);
    cr_expect_float_eq(loss, -log(sp) - log(1 - sn), 1e-6);
    gc_con_draws_free(&d);
}

Test(contrastive, ablation_draws) {
    float h[2 * P * T * D];
    int plen[2 * P], len[2 * P];
    gc_con_draws d;
    gc_con_config late = {.lambda = 1, .K = K, .positions = GC_POS_LATE};
    setup(h, plen, len, &d, &late);
    for (int p = 0; p < P; p++)
        for (int k = 0; k < K; k++) {
            int i = p * K + k, mid = plen[2 * p] + (len[2 * p] - plen[2 * p]) / 2;
            int rmid = plen[2 * p + 1] + (len[2 * p + 1] - plen[2 * p + 1]) / 2;
            cr_assert(d.pos_src[i] >= mid && d.neg_src[i] >= mid, "late source in the first half");
            cr_assert(d.neg_goal[i] >= rmid && d.neg_goal[i] < len[2 * p + 1]);
            cr_assert(d.pos_src[i] <= d.pos_goal[i]);
        }
    gc_con_draws_free(&d);
    gc_con_config single = {.lambda = 1, .K = K, .goal_sampling = GC_GOAL_SINGLE};
    setup(h, plen, len, &d, &single);
    for (int p = 0; p < P; p++)
        for (int k = 0; k < K; k++) {
            int i = p * K + k;
            cr_assert_eq(d.pos_goal[i], d.pos_goal[p * K], "one positive goal per pair");
            cr_assert_eq(d.neg_goal[i], d.neg_goal[p * K], "one negative goal per pair");
            cr_assert(d.pos_src[i] <= d.pos_goal[i] && d.pos_src[i] >= plen[2 * p]);
        }
    gc_con_draws_free(&d);
}

Test(contrastive, draws_respect_the_rules) {
    float h[2 * P * T * D];
    int plen[2 * P], len[2 * P];
    gc_con_draws d;
    setup(h, plen, len, &d, &DEFAULT_CON);
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
    setup(h, plen, len, &d, &DEFAULT_CON);
    for (int i = 0; i < 2 * P * T * D; i++)
        h[i] = 0.5f;
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
static void learns_to_rank(float lambda, gc_head_kind head) {
    gc_model_config cfg = th_tiny_config(1);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &cfg), GC_OK);
    th_init_weights(&m, 4);
    gc_rm rm;
    cr_assert_eq(gc_rm_init(&rm, &m, head, 1), GC_OK);
    enum { PP = 4, TT = 8 };
    int32_t tok[2 * PP * TT];
    int plen[2 * PP], len[2 * PP];
    gc_rng r;
    gc_rng_init(&r, 5, 5);
    gc_con_config c = {
        .lambda = lambda, .K = 4, .pairs = GC_PAIRS_ALL, .reduction = GC_RED_LOG_OF_MEAN};
    gc_rm_step_stats st = {0};
    for (int step = 0; step < 60; step++) {
        for (int b = 0; b < 2 * PP; b++) {
            for (int t = 0; t < TT; t++)
                tok[b * TT + t] = 8 + (int32_t)gc_rng_below(&r, 10);
            plen[b] = 3, len[b] = TT;
            tok[b * TT + TT - 1] = b % 2 ? 7 : 5;
        }
        gc_rm_optim opt = GC_RM_OPTIM_DEFAULT(3e-3f, 1.0f, 0.0f);
        cr_assert_eq(gc_rm_step(&rm, tok, PP, TT, plen, len, &c, &r, &opt, &st), GC_OK, "%s",
                     gc_last_error());
    }
    cr_expect_gt(st.acc, 0.99f, "lambda %g: pair accuracy %g after 60 steps", lambda, st.acc);
    cr_expect_lt(st.pref, 0.3f, "lambda %g: preference loss %g", lambda, st.pref);
    char *ck = th_tmp_path("rm.ckpt"), *hd = th_tmp_path("rm.head");
    cr_assert_eq(gc_rm_save(&rm, ck, hd), GC_OK);
    float r1[2 * PP], r2[2 * PP];
    cr_assert_eq(gc_rm_score(&rm, tok, 2 * PP, TT, len, r1), GC_OK);
    gc_rm back;
    cr_assert_eq(gc_rm_load(&back, ck, hd), GC_OK, "%s", gc_last_error());
    cr_expect_eq(back.head_kind, head, "the head kind survives a reload");
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

Test(reward_model, baseline_learns_to_rank) {
    learns_to_rank(0.0f, GC_HEAD_LINEAR);
}
Test(reward_model, goal_conditioned_learns_to_rank) {
    learns_to_rank(0.5f, GC_HEAD_LINEAR);
}
Test(reward_model, mlp_head_learns_to_rank) {
    learns_to_rank(0.5f, GC_HEAD_MLP);
}

/* The MLP head's gradient, with respect to its input and to every parameter, against central
 * differences of its (double-precision) reward. */
Test(reward_model, mlp_head_gradient) {
    gc_model_config cfg = th_tiny_config(1);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &cfg), GC_OK);
    gc_rm rm;
    cr_assert_eq(gc_rm_init(&rm, &m, GC_HEAD_MLP, 3), GC_OK);
    int W = cfg.dim;
    cr_assert_eq(rm.n_head,
                 (size_t)(W / 2 * W + W / 2 + W / 2 * W / 2 + W / 2 + W * W / 2 + W + W + 1));
    gc_rng r;
    gc_rng_init(&r, 8, 8);
    for (size_t i = 0; i < rm.n_head; i++)
        rm.head[i] += 0.1f * gc_rng_normal(&r); /* biases too */
    float h[64], dh[64] = {0};
    for (int i = 0; i < W; i++)
        h[i] = gc_rng_normal(&r);
    float *dp = calloc(rm.n_head, sizeof(float));
    double g = 0.7;
    gc_rm_head_grad(&rm, h, g, dh, dp);
    /* central differences at two steps: a coordinate whose two estimates disagree straddles a
     * ReLU kink, where finite differences say nothing; at most 5% may */
    double err = 0, scale = 0;
    int kinks = 0;
    for (size_t k = 0; k < W + rm.n_head; k++) {
        float *x = k < (size_t)W ? &h[k] : &rm.head[k - W], keep = *x;
        double fd[2];
        for (int j = 0; j < 2; j++) {
            float step = j ? 5e-4f : 1e-3f;
            *x = keep + step;
            double up = gc_rm_head_grad(&rm, h, 0, NULL, NULL);
            *x = keep - step;
            double dn = gc_rm_head_grad(&rm, h, 0, NULL, NULL);
            *x = keep;
            fd[j] = g * (up - dn) / ((double)(keep + step) - (double)(keep - step));
        }
        if (fabs(fd[0] - fd[1]) > 1e-2 * fmax(fabs(fd[0]), 1e-3)) {
            kinks++;
            continue;
        }
        double an = k < (size_t)W ? dh[k] : dp[k - W];
        err = fmax(err, fabs(fd[1] - an)), scale = fmax(scale, fabs(fd[1]));
    }
    cr_expect_leq(kinks, (int)((W + rm.n_head) / 20), "%d coordinates at ReLU kinks", kinks);
    cr_expect_lt(err / scale, 1e-3, "MLP head gradient: relative error %g", err / scale);
    free(dp);
    gc_rm_free(&rm);
}

#include "lib/tasks/mathpipe.h"

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
        for (int t = 0; t < np + nr; t++)
            tgt[t] = t >= np - 1 && t < np + nr - 1 ? tok[t + 1] : -1;
        float ce;
        cr_assert_eq(gc_model_forward(&m, tok, 1, np + nr, 1), GC_OK);
        cr_assert_eq(gc_model_ce_loss(&m, tgt, 1.0f, &ce), GC_OK);
        cr_expect_float_eq(lp[i], -ce, 1e-5, "item %d: log-prob %g, -CE %g", i, lp[i], -ce);
    }
    gc_model_free(&m);
}

/* ---- the whole reward-model gradient against a double-precision oracle ---- */

#include "ref_model.h"

static double sigmoid_d(double x) {
    return 1.0 / (1.0 + exp(-x));
}

static double cos_d(const double *a, const double *b, int W) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < W; i++)
        ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
    return ab / ((sqrt(aa) + 1e-12) * (sqrt(bb) + 1e-12));
}

/* L = L_pref + lambda * L_con written from PAPER.md section 1 in double precision: the reference
 * decoder's final hidden states hf (2P, T, D), a linear head w at each sequence's last token, the
 * Bradley-Terry loss over (chosen, rejected) pairs, and the contrastive loss of "ordered" pairs
 * reduced as "log of mean" over the given draws. */
static double ref_rm_loss(const gc_model_config *c, const double *params, const double *w,
                          const int32_t *tok, int NP, int NT, const gc_con_draws *d, double lambda,
                          double *hf) {
    int W = c->dim, B = 2 * NP;
    int32_t *tgt = calloc((size_t)B * NT, sizeof(int32_t));
    ref_model_loss(c, params, tok, tgt, B, NT, 0.0, NULL, NULL, hf);
    free(tgt);
    double pref = 0;
    for (int p = 0; p < NP; p++) {
        double r[2] = {0, 0};
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < W; i++)
                r[s] += w[i] * hf[((size_t)(2 * p + s) * NT + NT - 1) * W + i];
        pref += -log(sigmoid_d(r[0] - r[1])) / NP;
    }
    double mean_pos = 0, mean_neg = 0;
    int n = NP * d->K;
    for (int p = 0; p < NP; p++)
        for (int k = 0; k < d->K; k++) {
            size_t i = (size_t)p * d->K + k;
            const double *ch = hf + (size_t)(2 * p) * NT * W,
                         *rj = hf + (size_t)(2 * p + 1) * NT * W;
            mean_pos += sigmoid_d(cos_d(ch + d->pos_src[i] * W, ch + d->pos_goal[i] * W, W)) / n;
            mean_neg += sigmoid_d(cos_d(ch + d->neg_src[i] * W, rj + d->neg_goal[i] * W, W)) / n;
        }
    return pref + lambda * (-log(mean_pos) - log(1.0 - mean_neg));
}

/* gc_rm_grad's gradient of the trunk and the head against central differences of the oracle, at
 * two contrastive weights: a sign or a scale error where lambda enters cannot pass both. */
static void rm_gradient_at(float lambda) {
    enum { PP = 2, TT = 8 };
    gc_model_config cfg = th_tiny_config(0);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &cfg), GC_OK);
    th_init_weights(&m, 21);
    gc_rm rm;
    cr_assert_eq(gc_rm_init(&rm, &m, GC_HEAD_LINEAR, 5), GC_OK);
    gc_rng r;
    gc_rng_init(&r, 31, 2);
    for (size_t i = 0; i < rm.n_head; i++)
        rm.head[i] = 0.5f * gc_rng_normal(&r);
    int32_t tok[2 * PP * TT];
    int plen[2 * PP], len[2 * PP];
    for (int b = 0; b < 2 * PP; b++) {
        plen[b] = 2 + b % 2, len[b] = TT;
        for (int t = 0; t < TT; t++)
            tok[b * TT + t] = (int32_t)gc_rng_below(&r, (uint32_t)cfg.vocab_size);
    }
    gc_con_config con = {
        .lambda = lambda, .K = 3, .pairs = GC_PAIRS_ORDERED, .reduction = GC_RED_LOG_OF_MEAN};
    gc_rng draw_rng, again;
    gc_rng_init(&draw_rng, 9, 9), gc_rng_init(&again, 9, 9);
    gc_rm_step_stats st;
    cr_assert_eq(gc_rm_grad(&rm, tok, PP, TT, plen, len, &con, &draw_rng, &st), GC_OK, "%s",
                 gc_last_error());
    gc_con_draws d;
    cr_assert_eq(gc_con_draws_init(&d, PP, con.K), GC_OK);
    gc_con_draw(&d, &con, plen, len, &again); /* the draws gc_rm_grad made */
    size_t np = rm.model.n_params;
    double *p = malloc(sizeof(double) * np), *w = malloc(sizeof(double) * rm.n_head);
    double *hf = malloc(sizeof(double) * 2 * PP * TT * cfg.dim);
    for (size_t i = 0; i < np; i++)
        p[i] = rm.model.params[i];
    for (size_t i = 0; i < rm.n_head; i++)
        w[i] = rm.head[i];
    double l0 = ref_rm_loss(&cfg, p, w, tok, PP, TT, &d, lambda, hf);
    cr_expect_float_eq(l0, st.loss, 1e-4 * fabs(l0), "loss %g, oracle %g", st.loss, l0);
    const double h = 1e-5;
    gc_rng pick;
    gc_rng_init(&pick, 77, 4);
    for (int ti = 0; ti <= GC_N_TENSORS; ti++) { /* every trunk tensor, then the head */
        int head = ti == GC_N_TENSORS;
        size_t size = head ? rm.n_head : rm.model.tensors[ti].size;
        if (size == 0) continue;
        double *x = head ? w : p + rm.model.tensors[ti].offset;
        const float *an = head ? rm.dhead : rm.model.grads + rm.model.tensors[ti].offset;
        double scale = 0, err = 0;
        for (int s = 0; s < 16; s++) {
            size_t i = size <= 16 ? (size_t)s % size : gc_rng_below(&pick, (uint32_t)size);
            double keep = x[i];
            x[i] = keep + h;
            double lp = ref_rm_loss(&cfg, p, w, tok, PP, TT, &d, lambda, hf);
            x[i] = keep - h;
            double lm = ref_rm_loss(&cfg, p, w, tok, PP, TT, &d, lambda, hf);
            x[i] = keep;
            double fd = (lp - lm) / (2 * h);
            scale = fmax(scale, fabs(fd)), err = fmax(err, fabs(fd - an[i]));
        }
        const char *name = head ? "head" : rm.model.tensors[ti].name;
        if (scale < 1e-9) { /* the output classifier: a reward model does not use it */
            cr_expect_lt(err, 1e-9, "lambda %g tensor %s: a gradient where the loss is flat",
                         lambda, name);
            cr_expect_str_eq(name, "cls", "only the classifier may carry no gradient");
            continue;
        }
        cr_expect_lt(err / scale, 1e-3, "lambda %g tensor %s: relative error %g", lambda, name,
                     err / scale);
    }
    gc_con_draws_free(&d);
    free(p), free(w), free(hf);
    gc_rm_free(&rm);
}

Test(reward_model, whole_gradient_at_lambda_half) {
    rm_gradient_at(0.5f);
}
Test(reward_model, whole_gradient_at_lambda_two) {
    rm_gradient_at(2.0f);
}

/* gradient accumulation: two micro-batches of one pair, each weighted 1/2, give the gradient of
 * the batch of two pairs (mean_of_log: the batch loss is the mean of the pairs'; the draws are
 * the same, pair by pair, from one stream) */
Test(reward_model, micro_batches_accumulate_the_batch_gradient) {
    enum { PP = 2, TT = 8 };
    gc_model_config cfg = th_tiny_config(0);
    gc_rm a, b;
    th_twin_rms(&a, &b, 21, 5);
    gc_rng r;
    gc_rng_init(&r, 31, 2);
    int32_t tok[2 * PP * TT];
    int plen[2 * PP], len[2 * PP];
    for (int i = 0; i < 2 * PP; i++) {
        plen[i] = 2 + i % 2, len[i] = TT;
        for (int t = 0; t < TT; t++)
            tok[i * TT + t] = (int32_t)gc_rng_below(&r, (uint32_t)cfg.vocab_size);
    }
    gc_con_config con = {
        .lambda = 0.5f, .K = 3, .pairs = GC_PAIRS_ALL, .reduction = GC_RED_MEAN_OF_LOG};
    gc_rng ra, rb;
    gc_rng_init(&ra, 9, 9), gc_rng_init(&rb, 9, 9);
    gc_rm_step_stats st;
    cr_assert_eq(gc_rm_grad(&a, tok, PP, TT, plen, len, &con, &ra, &st), GC_OK);
    for (int p = 0; p < PP; p++)
        cr_assert_eq(gc_rm_grad_acc(&b, tok + 2 * p * TT, 1, TT, plen + 2 * p, len + 2 * p, &con,
                                    &rb, 0.5f, p == 0, &st),
                     GC_OK, "%s", gc_last_error());
    double scale = 0, err = 0;
    for (size_t i = 0; i < a.model.n_params; i++)
        scale = fmax(scale, fabs(a.model.grads[i])),
        err = fmax(err, fabs(a.model.grads[i] - b.model.grads[i]));
    for (size_t i = 0; i < a.n_head; i++)
        scale = fmax(scale, fabs(a.dhead[i])), err = fmax(err, fabs(a.dhead[i] - b.dhead[i]));
    cr_assert_gt(scale, 1e-4);
    /* fp32 sums in another order: observed ~1e-7 of the scale */
    cr_expect_lt(err / scale, 1e-5, "relative difference %g", err / scale);
    gc_rm_free(&a), gc_rm_free(&b);
}
