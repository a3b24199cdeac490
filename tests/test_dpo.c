/* DPO (lib/policy/dpo.h): the loss and its gradient against PyTorch (tests/ref/dpo_oracle.py ->
 * fixtures), the whole gradient through the model against central finite differences of a
 * double-precision oracle (tests/ref_model.c), summed and length-normalised, and a toy run in
 * which DPO moves probability toward the chosen responses.
 *
 * Tolerances: the loss and dL/dpi against PyTorch 1e-12 (double on both sides); the model
 * gradient 1e-3 relative to each tensor's largest finite difference (fp32 forward, h = 1e-5). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/policy/dpo.h"
#include "lib/util/jsonio.h"
#include "lib/util/rng.h"
#include "helpers.h"
#include "ref_model.h"

static int doubles(const cJSON *a, double *out, int cap) {
    int n = 0;
    for (const cJSON *e = a ? a->child : NULL; e && n < cap; e = e->next)
        out[n++] = e->valuedouble;
    return n;
}

Test(dpo, loss_and_gradient_match_pytorch) {
    cJSON *j;
    cr_assert_eq(gc_json_read("tests/fixtures/dpo_oracle.json", &j), GC_OK, "%s", gc_last_error());
    int cases = 0;
    for (const cJSON *c = cJSON_GetObjectItem(j, "cases")->child; c; c = c->next, cases++) {
        double pi[64], ref[64], grad[64], dpi[64], acc;
        int P = (int)gc_json_num(c, "P", 0);
        cr_assert_eq(doubles(cJSON_GetObjectItem(c, "pi"), pi, 64), 2 * P);
        doubles(cJSON_GetObjectItem(c, "ref"), ref, 64);
        doubles(cJSON_GetObjectItem(c, "grad"), grad, 64);
        double beta = gc_json_num(c, "beta", 0);
        double loss = gc_dpo_loss(pi, ref, P, beta, dpi, &acc);
        cr_expect_float_eq(loss, gc_json_num(c, "loss", NAN), 1e-12, "P %d beta %g", P, beta);
        cr_expect_float_eq(acc, gc_json_num(c, "acc", NAN), 1e-12);
        for (int b = 0; b < 2 * P; b++)
            cr_expect_float_eq(dpi[b], grad[b], 1e-12, "dL/dpi[%d], P %d", b, P);
    }
    cr_expect_eq(cases, 3);
    cJSON_Delete(j);
}

/* the oracle's DPO loss: response log-probabilities from the double-precision logits */
static double ref_dpo_loss(const gc_model_config *c, const double *p, const int32_t *tok, int P,
                           int T, const int *plen, const double *ref, double beta, int norm,
                           double *logits) {
    int B = 2 * P, V = c->vocab_size;
    int32_t *tgt = calloc((size_t)B * T, sizeof(int32_t));
    ref_model_loss(c, p, tok, tgt, B, T, 0.0, NULL, logits, NULL);
    free(tgt);
    double pi[16];
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int t = plen[b]; t < T; t++) {
            const double *row = logits + ((size_t)b * T + t - 1) * V;
            double mx = row[0], z = 0;
            for (int v = 1; v < V; v++)
                mx = fmax(mx, row[v]);
            for (int v = 0; v < V; v++)
                z += exp(row[v] - mx);
            s += row[tok[b * T + t]] - mx - log(z);
        }
        pi[b] = norm ? s / (T - plen[b]) : s;
    }
    return gc_dpo_loss(pi, ref, P, beta, NULL, NULL);
}

static void dpo_gradient(int norm) {
    enum { PP = 2, TT = 8 };
    gc_model_config cfg = th_tiny_config(0);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &cfg), GC_OK);
    th_init_weights(&m, 23);
    gc_rng r;
    gc_rng_init(&r, 41, 3);
    int32_t tok[2 * PP * TT];
    int plen[2 * PP], len[2 * PP];
    double ref[2 * PP];
    for (int b = 0; b < 2 * PP; b++) {
        plen[b] = 2 + b % 3, len[b] = TT;
        ref[b] = (norm ? -4.0 : -25.0) + gc_rng_normal(&r);
        for (int t = 0; t < TT; t++)
            tok[b * TT + t] = (int32_t)gc_rng_below(&r, (uint32_t)cfg.vocab_size);
    }
    const double beta = 0.7;
    gc_dpo_stats st;
    cr_assert_eq(gc_dpo_grad(&m, tok, PP, TT, plen, len, ref, beta, norm, &st), GC_OK, "%s",
                 gc_last_error());
    size_t np = m.n_params;
    double *p = malloc(sizeof(double) * np);
    double *lg = malloc(sizeof(double) * 2 * PP * TT * cfg.vocab_size);
    for (size_t i = 0; i < np; i++)
        p[i] = m.params[i];
    double l0 = ref_dpo_loss(&cfg, p, tok, PP, TT, plen, ref, beta, norm, lg);
    cr_expect_float_eq(st.loss, l0, 1e-4 * fabs(l0), "loss %g, oracle %g", st.loss, l0);
    const double h = 1e-5;
    gc_rng pick;
    gc_rng_init(&pick, 78, 5);
    for (int ti = 0; ti < GC_N_TENSORS; ti++) {
        size_t size = m.tensors[ti].size;
        if (size == 0) continue;
        double *x = p + m.tensors[ti].offset, scale = 0, err = 0;
        const float *an = m.grads + m.tensors[ti].offset;
        for (int s = 0; s < 16; s++) {
            size_t i = size <= 16 ? (size_t)s % size : gc_rng_below(&pick, (uint32_t)size);
            double keep = x[i];
            x[i] = keep + h;
            double lp = ref_dpo_loss(&cfg, p, tok, PP, TT, plen, ref, beta, norm, lg);
            x[i] = keep - h;
            double lm = ref_dpo_loss(&cfg, p, tok, PP, TT, plen, ref, beta, norm, lg);
            x[i] = keep;
            double fd = (lp - lm) / (2 * h);
            scale = fmax(scale, fabs(fd)), err = fmax(err, fabs(fd - an[i]));
        }
        cr_expect_gt(scale, 1e-9, "norm %d tensor %s: no gradient", norm, m.tensors[ti].name);
        cr_expect_lt(err / scale, 1e-3, "norm %d tensor %s: relative error %g", norm,
                     m.tensors[ti].name, err / scale);
    }
    /* accumulated over two micro-batches of one pair, each weighted 1/2: the same gradient */
    float *whole = malloc(sizeof(float) * np);
    memcpy(whole, m.grads, sizeof(float) * np);
    for (int h2 = 0; h2 < 2; h2++)
        cr_assert_eq(gc_dpo_grad_acc(&m, tok + 2 * h2 * TT, 1, TT, plen + 2 * h2, len + 2 * h2,
                                     ref + 2 * h2, beta, norm, 0.5, h2 == 0, NULL),
                     GC_OK, "%s", gc_last_error());
    double gmax = 0, dmax = 0;
    for (size_t i = 0; i < np; i++)
        gmax = fmax(gmax, fabs(whole[i])), dmax = fmax(dmax, fabs(whole[i] - m.grads[i]));
    cr_expect_lt(dmax, 1e-5 * gmax, "norm %d: accumulated gradient off by %g of %g", norm, dmax,
                 gmax);
    free(whole);
    free(p), free(lg);
    gc_model_free(&m);
}

Test(dpo, whole_gradient_summed) {
    dpo_gradient(0);
}

Test(dpo, whole_gradient_length_normalised) {
    dpo_gradient(1);
}

/* A toy run: the reference is the starting policy, so the margin starts at 0 and the loss at
 * log 2; DPO steps raise the chosen responses' log-probability relative to the rejected ones. */
Test(dpo, moves_probability_toward_chosen) {
    enum { PP = 3, TT = 8 };
    gc_model_config cfg = th_tiny_config(1);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &cfg), GC_OK);
    th_init_weights(&m, 7);
    gc_rng r;
    gc_rng_init(&r, 5, 5);
    int32_t tok[2 * PP * TT];
    int plen[2 * PP], len[2 * PP];
    for (int b = 0; b < 2 * PP; b++) {
        plen[b] = 3, len[b] = TT - (b % 2);
        for (int t = 0; t < TT; t++)
            tok[b * TT + t] = (int32_t)gc_rng_below(&r, (uint32_t)cfg.vocab_size);
    }
    double ref[2 * PP];
    cr_assert_eq(gc_seq_logprob(&m, tok, 2 * PP, TT, plen, len, 0, ref), GC_OK, "%s",
                 gc_last_error());
    gc_adamw opt;
    cr_assert_eq(gc_adamw_init(&opt, m.n_params, 0.9f, 0.95f, 1e-8f, 0.0f), GC_OK);
    gc_dpo_stats first = {0}, st = {0};
    for (int step = 0; step < 25; step++) {
        cr_assert_eq(gc_dpo_step(&m, &opt, tok, PP, TT, plen, len, ref, 0.5, 0, 1e-2f, 1.0f, &st),
                     GC_OK, "%s", gc_last_error());
        if (step == 0) first = st;
    }
    cr_expect_float_eq(first.loss, log(2.0), 1e-6, "the policy starts at the reference");
    cr_expect_float_eq(first.margin, 0.0, 1e-6);
    cr_expect_gt(st.margin, 1.0, "the chosen responses gained log-probability over the rejected");
    cr_expect_lt(st.loss, 0.5, "loss %g", st.loss);
    cr_expect_float_eq(st.acc, 1.0, 1e-12, "every pair ranked right");
    gc_adamw_free(&opt);
    gc_model_free(&m);
}

Test(dpo, bad_batches_are_errors) {
    gc_model_config cfg = th_tiny_config(1);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &cfg), GC_OK);
    int32_t tok[2 * 4] = {1, 2, 3, 4, 1, 2, 3, 4};
    int plen[2] = {1, 4}, len[2] = {4, 4};
    double ref[2] = {0, 0};
    cr_expect_eq(gc_dpo_grad(&m, tok, 1, 4, plen, len, ref, 0.1, 0, NULL), GC_ERR_ARG,
                 "an empty response");
    cr_expect(strstr(gc_last_error(), "sequence 1"), "%s", gc_last_error());
    plen[1] = 2;
    cr_expect_eq(gc_dpo_grad(&m, tok, 1, 4, plen, len, ref, 0.0, 0, NULL), GC_ERR_ARG, "beta 0");
    gc_model_free(&m);
}
