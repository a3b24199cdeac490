/* Forward against the double-precision reference, and the analytic backward against central
 * finite differences of that reference, for every parameter tensor and for the gradient the
 * backward accepts on the final hidden states. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/model.h"
#include "lib/util/rng.h"
#include "helpers.h"
#include "ref_model.h"

#define B 2
#define T 7

static void make_batch(const gc_model_config *c, int32_t *tok, int32_t *tgt) {
    gc_rng r;
    gc_rng_init(&r, 99, 1);
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int32_t)gc_rng_below(&r, (uint32_t)c->vocab_size);
        tgt[i] = (int32_t)gc_rng_below(&r, (uint32_t)c->vocab_size);
    }
    tgt[3] = -1; /* an ignored position */
}

static double *to_double(const float *x, size_t n) {
    double *d = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

Test(forward, matches_double_reference) {
    for (int tied = 0; tied <= 1; tied++) {
        gc_model_config c = th_tiny_config(tied);
        gc_model m;
        cr_assert_eq(gc_model_init(&m, &c), GC_OK);
        th_init_weights(&m, 5);
        int32_t tok[B * T], tgt[B * T];
        make_batch(&c, tok, tgt);
        cr_assert_eq(gc_model_forward(&m, tok, B, T, 1), GC_OK);
        float loss;
        cr_assert_eq(gc_model_ce_loss(&m, tgt, 1.0f, &loss), GC_OK);
        double *p = to_double(m.params, m.n_params);
        double *logits = malloc(sizeof(double) * B * T * c.vocab_size);
        double *hf = malloc(sizeof(double) * B * T * c.dim);
        double ref = ref_model_loss(&c, p, tok, tgt, B, T, 1.0, NULL, logits, hf);
        double max_err = 0;
        for (int i = 0; i < B * T * c.vocab_size; i++)
            max_err = fmax(max_err, fabs(logits[i] - m.logits[i]));
        cr_expect_lt(max_err, 1e-4, "tied=%d: logits differ from the reference by %g", tied,
                     max_err);
        max_err = 0;
        for (int i = 0; i < B * T * c.dim; i++)
            max_err = fmax(max_err, fabs(hf[i] - m.hf[i]));
        cr_expect_lt(max_err, 1e-5, "tied=%d: hidden states differ by %g", tied, max_err);
        cr_expect_lt(fabs(ref - loss), 1e-5, "tied=%d: loss %g vs reference %g", tied, loss, ref);
        free(p), free(logits), free(hf);
        gc_model_free(&m);
    }
}

/* Max over sampled elements of |analytic - fd| / (max |fd| over the tensor's samples). */
static void check_grads(int tied, double ce_weight, int use_R) {
    gc_model_config c = th_tiny_config(tied);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &c), GC_OK);
    th_init_weights(&m, 11 + tied);
    int32_t tok[B * T], tgt[B * T];
    make_batch(&c, tok, tgt);
    double *R = NULL;
    float *Rf = NULL;
    if (use_R) {
        gc_rng r;
        gc_rng_init(&r, 123, 2);
        R = malloc(sizeof(double) * B * T * c.dim);
        Rf = malloc(sizeof(float) * B * T * c.dim);
        for (int i = 0; i < B * T * c.dim; i++)
            Rf[i] = (float)(R[i] = 0.5 * gc_rng_normal(&r));
    }
    cr_assert_eq(gc_model_forward(&m, tok, B, T, ce_weight != 0), GC_OK);
    if (ce_weight != 0) {
        float loss;
        cr_assert_eq(gc_model_ce_loss(&m, tgt, (float)ce_weight, &loss), GC_OK);
    }
    gc_model_zero_grad(&m);
    cr_assert_eq(gc_model_backward(&m, Rf), GC_OK);

    double *p = to_double(m.params, m.n_params);
    const double h = 1e-5;
    gc_rng pick;
    gc_rng_init(&pick, 77, 3);
    for (int ti = 0; ti < GC_N_TENSORS; ti++) {
        const gc_tensor_info *t = &m.tensors[ti];
        if (t->size == 0) continue;
        int samples = t->size < 24 ? (int)t->size : 24;
        double fd[24], an[24], scale = 0, err = 0;
        for (int s = 0; s < samples; s++) {
            size_t i =
                t->offset + (t->size <= 24 ? (size_t)s : gc_rng_below(&pick, (uint32_t)t->size));
            double keep = p[i];
            p[i] = keep + h;
            double lp = ref_model_loss(&c, p, tok, tgt, B, T, ce_weight, R, NULL, NULL);
            p[i] = keep - h;
            double lm = ref_model_loss(&c, p, tok, tgt, B, T, ce_weight, R, NULL, NULL);
            p[i] = keep;
            fd[s] = (lp - lm) / (2 * h);
            an[s] = m.grads[i];
            scale = fmax(scale, fabs(fd[s]));
        }
        cr_assert_gt(scale, 1e-6, "tensor %s: finite differences are all ~0 (untested path)",
                     t->name);
        for (int s = 0; s < samples; s++)
            err = fmax(err, fabs(fd[s] - an[s]) / scale);
        /* fp32 analytic vs double FD: observed <= 2e-6 of the tensor's gradient scale; 1e-4 allowed
         */
        cr_expect_lt(err, 1e-4, "tied=%d ce=%g R=%d tensor %s: relative error %g", tied, ce_weight,
                     use_R, t->name, err);
    }
    free(p), free(R), free(Rf);
    gc_model_free(&m);
}

Test(backward, ce_loss_untied) {
    check_grads(0, 1.0, 0);
}
Test(backward, ce_loss_tied) {
    check_grads(1, 1.0, 0);
}
Test(backward, ce_plus_hidden_gradient) {
    check_grads(0, 0.7, 1);
}
Test(backward, hidden_gradient_only) {
    check_grads(1, 0.0, 1);
}

/* activation recomputation: the same hidden states and gradients, bit for bit, over two steps
 * with padded lengths, CE and a hidden-state gradient; switching it on and off in one model */
Test(backward, recompute_gives_the_same_bits) {
    gc_model_config c = th_tiny_config(0);
    gc_model a, b;
    cr_assert_eq(gc_model_init(&a, &c), GC_OK);
    cr_assert_eq(gc_model_init(&b, &c), GC_OK);
    th_init_weights(&a, 5);
    th_init_weights(&b, 5);
    gc_model_set_recompute(&b, 1);
    int32_t tok[B * T], tgt[B * T];
    make_batch(&c, tok, tgt);
    int len[B] = {T, T - 2};
    for (int t = T - 2; t < T; t++)
        tgt[T + t] = -1;
    float R[B * T * 16];
    gc_rng r;
    gc_rng_init(&r, 8, 1);
    for (int i = 0; i < B * T * c.dim; i++)
        R[i] = gc_rng_normal(&r);
    for (int step = 0; step < 3; step++) {
        if (step == 2) gc_model_set_recompute(&a, 1), gc_model_set_recompute(&b, 0);
        gc_model *ms[2] = {&a, &b};
        for (int k = 0; k < 2; k++) {
            float loss;
            cr_assert_eq(gc_model_forward_len(ms[k], tok, B, T, len, 1), GC_OK);
            cr_assert_eq(gc_model_ce_loss(ms[k], tgt, 1.0f, &loss), GC_OK);
            gc_model_zero_grad(ms[k]);
            cr_assert_eq(gc_model_backward(ms[k], R), GC_OK);
        }
        cr_expect(!memcmp(a.hf, b.hf, sizeof(float) * B * T * c.dim), "step %d: hidden states",
                  step);
        cr_expect(!memcmp(a.grads, b.grads, sizeof(float) * a.n_params), "step %d: gradients",
                  step);
        /* a step of plain SGD so the next step runs on other weights */
        for (size_t i = 0; i < a.n_params; i++)
            a.params[i] -= 0.01f * a.grads[i], b.params[i] -= 0.01f * b.grads[i];
    }
    gc_model_free(&a), gc_model_free(&b);
}
