/* RNG known answers, sampler, BLAS matmul vs the naive reference, KV-cache decoding vs the full
 * forward, learning-rate schedule. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <omp.h>

#include "lib/model/fastexp.h"
#include "lib/model/model.h"
#include "lib/model/ops.h"
#include "lib/model/optim.h"
#include "lib/util/rng.h"
#include "lib/model/sampler.h"
#include "helpers.h"

Test(rng, philox_known_answers) {
    /* Random123's published known-answer vectors for philox4x32-10 */
    struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint32_t out[4];
        gc_philox4x32(kat[i].ctr, kat[i].key, out);
        for (int j = 0; j < 4; j++)
            cr_expect_eq(out[j], kat[i].out[j], "vector %zu word %d: %08x != %08x", i, j, out[j],
                         kat[i].out[j]);
    }
}

Test(rng, streams_are_reproducible_and_distinct) {
    gc_rng a, b, c;
    gc_rng_init(&a, 5, 1);
    gc_rng_init(&b, 5, 1);
    gc_rng_init(&c, 5, 2);
    int same_ac = 0;
    double mean = 0, var = 0;
    for (int i = 0; i < 20000; i++) {
        uint32_t x = gc_rng_u32(&a), y = gc_rng_u32(&b), z = gc_rng_u32(&c);
        cr_assert_eq(x, y);
        same_ac += x == z;
        float u = gc_rng_normal(&a);
        gc_rng_normal(&b);
        mean += u / 20000.0;
        var += (double)u * u / 20000.0;
    }
    cr_expect_lt(same_ac, 3, "streams 1 and 2 agree too often");
    cr_expect_lt(fabs(mean), 0.03, "normal mean %g", mean);
    cr_expect_lt(fabs(var - 1), 0.05, "normal variance %g", var);
    for (int i = 0; i < 1000; i++) {
        float u = gc_rng_uniform(&a);
        cr_assert(u >= 0 && u < 1);
        cr_assert_lt(gc_rng_below(&a, 7), 7u);
    }
}

Test(ops, blas_matmul_matches_reference) {
    int M = 37, N = 53, K = 29;
    float *A = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * N * K);
    float *C = malloc(sizeof(float) * M * N), *R = malloc(sizeof(float) * M * N);
    gc_rng r;
    gc_rng_init(&r, 1, 1);
    th_fill_normal(A, (size_t)M * K, 1.0f, &r);
    th_fill_normal(W, (size_t)N * K, 1.0f, &r);
    gc_ops_linear(C, N, A, W, M, K, N);
    gc_ops_matmul_ref(R, A, W, M, N, K);
    for (int i = 0; i < M * N; i++)
        cr_assert_lt(fabs(C[i] - R[i]), 1e-4, "element %d", i);
    free(A), free(W), free(C), free(R);
}

/* the forward with its rows split among the threads (enough rows for every thread to get a block)
 * and with the residual accumulated by the GEMM: against the double-precision loop, each output
 * within 1e-5 of the sum of |x W| (K = 67 products); the same bits on a second call; the output
 * stride honoured (columns past out untouched). Two threads, whatever the machine's count. */
Test(ops, linear_forward_row_split_matches_reference) {
    enum { M = 613, K = 67, N = 45, LD = 51 };
    omp_set_num_threads(2);
    float *A = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * N * K);
    float *C = malloc(sizeof(float) * M * LD), *C2 = malloc(sizeof(float) * M * LD);
    float *R = malloc(sizeof(float) * M * N), *Y = malloc(sizeof(float) * M * N);
    float *res = malloc(sizeof(float) * M * N), *Y2 = malloc(sizeof(float) * M * N);
    gc_rng r;
    gc_rng_init(&r, 2, 2);
    th_fill_normal(A, (size_t)M * K, 1.0f, &r);
    th_fill_normal(W, (size_t)N * K, 1.0f, &r);
    th_fill_normal(res, (size_t)M * N, 1.0f, &r);
    for (int i = 0; i < M * LD; i++)
        C[i] = C2[i] = -7.0f;
    gc_ops_linear(C, LD, A, W, M, K, N);
    gc_ops_linear_residual(Y, res, A, W, M, K, N);
    gc_ops_matmul_ref(R, A, W, M, N, K);
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double mag = 0;
            for (int k = 0; k < K; k++)
                mag += fabs((double)A[m * K + k] * W[n * K + k]);
            float tol = (float)(1e-5 * mag);
            cr_assert_leq(fabsf(C[m * LD + n] - R[m * N + n]), tol, "row %d col %d", m, n);
            cr_assert_leq(fabsf(Y[m * N + n] - (R[m * N + n] + res[m * N + n])),
                          tol + 1e-6f * fabsf(res[m * N + n]), "residual row %d col %d", m, n);
        }
        for (int n = N; n < LD; n++)
            cr_assert_eq(C[m * LD + n], -7.0f, "stride column %d of row %d written", n, m);
    }
    gc_ops_linear(C2, LD, A, W, M, K, N);
    gc_ops_linear_residual(Y2, res, A, W, M, K, N);
    cr_expect(!memcmp(C, C2, sizeof(float) * M * LD), "a second forward differs");
    cr_expect(!memcmp(Y, Y2, sizeof(float) * M * N), "a second residual forward differs");
    free(A), free(W), free(C), free(C2), free(R), free(Y), free(res), free(Y2);
}

Test(sampler, greedy_temperature_top_p) {
    float logits[5] = {0.1f, 2.0f, 2.0f, -1.0f, 0.5f};
    gc_sampler s;
    cr_assert_eq(gc_sampler_init(&s, 5, 0.0f, 1.0f, 1), GC_OK);
    cr_expect_eq(gc_sampler_sample(&s, logits), 1, "greedy takes the first maximum");
    gc_sampler_free(&s);
    /* top-p 0.5 keeps only the two tied maxima */
    cr_assert_eq(gc_sampler_init(&s, 5, 1.0f, 0.5f, 3), GC_OK);
    int counts[5] = {0};
    for (int i = 0; i < 2000; i++)
        counts[gc_sampler_sample(&s, logits)]++;
    cr_expect_eq(counts[0] + counts[3] + counts[4], 0, "top-p let a tail token through");
    cr_expect(counts[1] > 850 && counts[2] > 850, "tied tokens drawn %d and %d times", counts[1],
              counts[2]);
    gc_sampler_free(&s);
    /* temperature 1, no truncation: frequencies follow softmax */
    cr_assert_eq(gc_sampler_init(&s, 5, 1.0f, 1.0f, 4), GC_OK);
    memset(counts, 0, sizeof counts);
    int draws = 20000;
    for (int i = 0; i < draws; i++)
        counts[gc_sampler_sample(&s, logits)]++;
    double z = 0;
    for (int i = 0; i < 5; i++)
        z += exp(logits[i]);
    for (int i = 0; i < 5; i++) {
        double p = exp(logits[i]) / z, sd = sqrt(p * (1 - p) / draws);
        cr_expect_lt(fabs((double)counts[i] / draws - p), 5 * sd, "token %d", i);
    }
    gc_sampler_free(&s);
    /* a vocabulary mask: masked tokens are never drawn, greedy or sampled */
    uint8_t allowed[5] = {1, 0, 0, 1, 1};
    cr_assert_eq(gc_sampler_init(&s, 5, 1.0f, 1.0f, 5), GC_OK);
    s.allowed = allowed;
    for (int i = 0; i < 2000; i++) {
        int32_t t = gc_sampler_sample(&s, logits);
        cr_assert(allowed[t], "masked token %d drawn", t);
    }
    s.temperature = 0.0f;
    cr_expect_eq(gc_sampler_sample(&s, logits), 4, "greedy takes the best allowed token");
    gc_sampler_free(&s);
    cr_expect_neq(gc_sampler_init(&s, 5, -1.0f, 1.0f, 1), GC_OK);
    cr_expect_neq(gc_sampler_init(&s, 5, 1.0f, 0.0f, 1), GC_OK);
}

Test(decode, kv_cache_matches_full_forward) {
    gc_model_config c = th_tiny_config(0);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &c), GC_OK);
    th_init_weights(&m, 3);
    enum { B = 3, T = 8 };
    int32_t tok[B * T];
    gc_rng r;
    gc_rng_init(&r, 8, 8);
    for (int i = 0; i < B * T; i++)
        tok[i] = (int32_t)gc_rng_below(&r, (uint32_t)c.vocab_size);
    cr_assert_eq(gc_model_forward(&m, tok, B, T, 1), GC_OK);
    gc_kvcache kc;
    cr_assert_eq(gc_kvcache_init(&kc, &c, B, T), GC_OK);
    for (int t = 0; t < T; t++) {
        int32_t step_tok[B], pos[B];
        for (int b = 0; b < B; b++)
            step_tok[b] = tok[b * T + t], pos[b] = t;
        cr_assert_eq(gc_model_decode(&m, &kc, step_tok, pos), GC_OK);
        for (int b = 0; b < B; b++) {
            const float *full = m.logits + (size_t)(b * T + t) * c.vocab_size;
            const float *hf = m.hf + (size_t)(b * T + t) * c.dim;
            for (int v = 0; v < c.vocab_size; v++)
                cr_assert_lt(fabsf(full[v] - kc.logits[b * c.vocab_size + v]), 1e-4,
                             "b %d t %d v %d", b, t, v);
            for (int d = 0; d < c.dim; d++)
                cr_assert_lt(fabsf(hf[d] - kc.hf[b * c.dim + d]), 1e-5);
        }
    }
    int32_t bad_pos[B] = {0, 0, T}, zero[B] = {0};
    cr_expect_eq(gc_model_decode(&m, &kc, zero, bad_pos), GC_ERR_ARG, "position past the cache");
    gc_kvcache_free(&kc);
    gc_model_free(&m);
}

Test(optim, cosine_schedule_and_clipping) {
    cr_expect_float_eq(gc_lr_cosine(0, 100, 10, 1.0f, 0.1f), 0.1f, 1e-6);
    cr_expect_float_eq(gc_lr_cosine(9, 100, 10, 1.0f, 0.1f), 1.0f, 1e-6);
    cr_expect_float_eq(gc_lr_cosine(10, 100, 10, 1.0f, 0.1f), 1.0f, 1e-6);
    cr_expect_float_eq(gc_lr_cosine(55, 100, 10, 1.0f, 0.1f), 0.55f, 1e-6);
    cr_expect_float_eq(gc_lr_cosine(100, 100, 10, 1.0f, 0.1f), 0.1f, 1e-6);
    float g[4] = {3, 0, 4, 0};
    cr_expect_float_eq(gc_clip_grad_norm(g, 4, 1.0f), 5.0f, 1e-6);
    cr_expect_float_eq(g[0], 0.6f, 1e-5);
    cr_expect_float_eq(g[2], 0.8f, 1e-5);
    float h[2] = {0.3f, 0.4f};
    gc_clip_grad_norm(h, 2, 1.0f);
    cr_expect_eq(h[0], 0.3f, "a norm under the limit is left alone");
}

/* The tiled GEMM path equals the loop reference, for full and for padded batches (len). */
static void check_attention(const int *len) {
    enum { B = 2, T = 150, NH = 4, NKV = 2, HS = 8 }; /* T spans three row tiles, one partial */
    int D = NH * HS, LD = D + 2 * NKV * HS;
    float *qkv = malloc(sizeof(float) * B * T * LD), *dout = malloc(sizeof(float) * B * T * D);
    float *o1 = malloc(sizeof(float) * B * T * D), *o2 = malloc(sizeof(float) * B * T * D);
    float *a1 = malloc(sizeof(float) * B * NH * T * T),
          *a2 = malloc(sizeof(float) * B * NH * T * T);
    float *d1 = malloc(sizeof(float) * B * T * LD), *d2 = malloc(sizeof(float) * B * T * LD);
    gc_rng r;
    gc_rng_init(&r, 12, 1);
    th_fill_normal(qkv, (size_t)B * T * LD, 1.0f, &r);
    th_fill_normal(dout, (size_t)B * T * D, 1.0f, &r);
    for (int b = 0; len && b < B; b++) /* the gradient arriving at padding rows is zero */
        memset(dout + ((size_t)b * T + len[b]) * D, 0, sizeof(float) * (T - len[b]) * D);
    gc_ops_attention(o1, a1, qkv, B, T, NH, NKV, HS, len);
    gc_ops_attention_ref(o2, a2, qkv, B, T, NH, NKV, HS, len);
    for (int i = 0; i < B * T * D; i++)
        cr_assert_lt(fabsf(o1[i] - o2[i]), 1e-5, "out %d", i);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < (len ? len[b] : T); t++)
                for (int j = 0; j <= t; j++) {
                    size_t i = (((size_t)b * NH + h) * T + t) * T + j;
                    cr_assert_lt(fabsf(a1[i] - a2[i]), 1e-6, "att %zu", i);
                }
    gc_ops_attention_backward(d1, dout, a1, qkv, B, T, NH, NKV, HS, len);
    gc_ops_attention_backward_ref(d2, dout, a2, qkv, B, T, NH, NKV, HS, len);
    for (int i = 0; i < B * T * LD; i++)
        cr_assert_lt(fabsf(d1[i] - d2[i]), 1e-5, "dqkv %d", i);
    for (int b = 0; len && b < B; b++)
        for (size_t i = ((size_t)b * T + len[b]) * LD; i < (size_t)(b + 1) * T * LD; i++) {
            cr_assert_eq(d1[i], 0.0f, "padding gradient %zu", i);
            cr_assert_eq(o1[i / LD * D + i % LD % D], 0.0f, "padding output %zu", i);
        }
    free(qkv), free(dout), free(o1), free(o2), free(a1), free(a2), free(d1), free(d2);
}

Test(ops, attention_gemm_path_matches_loop_reference) {
    check_attention(NULL);
    int len[2] = {77, 150};
    check_attention(len);
}

/* A padded batch run with its lengths gives the real positions the hidden states, loss and
 * parameter gradients the same batch gets without them (padding targets are -1 either way). */
Test(model, padded_batch_with_lengths_matches_full_attention) {
    gc_model_config c = th_tiny_config(0);
    c.seq_len = 16;
    enum { B = 3, T = 16 };
    int len[B] = {16, 9, 1};
    int32_t tok[B * T], tgt[B * T];
    gc_rng r;
    gc_rng_init(&r, 5, 5);
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int32_t)gc_rng_below(&r, (uint32_t)c.vocab_size);
        tgt[i] = i % T < len[i / T] ? (int32_t)gc_rng_below(&r, (uint32_t)c.vocab_size) : -1;
    }
    gc_model m[2];
    float loss[2], *grads[2];
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(gc_model_init(&m[k], &c), GC_OK);
        th_init_weights(&m[k], 4);
        cr_assert_eq(gc_model_forward_len(&m[k], tok, B, T, k ? len : NULL, 1), GC_OK);
        cr_assert_eq(gc_model_ce_loss(&m[k], tgt, 1.0f, &loss[k]), GC_OK);
        gc_model_zero_grad(&m[k]);
        cr_assert_eq(gc_model_backward(&m[k], NULL), GC_OK);
        grads[k] = m[k].grads;
    }
    cr_assert_float_eq(loss[0], loss[1], 1e-5);
    for (int b = 0; b < B; b++)
        for (size_t i = (size_t)b * T * c.dim; i < ((size_t)b * T + len[b]) * c.dim; i++)
            cr_assert_lt(fabsf(m[0].hf[i] - m[1].hf[i]), 1e-5, "hidden %zu", i);
    for (size_t i = 0; i < m[0].n_params; i++)
        cr_assert_lt(fabsf(grads[0][i] - grads[1][i]), 1e-5f * (1 + fabsf(grads[0][i])), "grad %zu",
                     i);
    tgt[T + 12] = 3; /* a target at a padding position is refused */
    cr_assert_neq(gc_model_ce_loss(&m[1], tgt, 1.0f, &loss[1]), GC_OK);
    int bad[B] = {16, 0, 1};
    cr_assert_neq(gc_model_forward_len(&m[1], tok, B, T, bad, 0), GC_OK);
    gc_model_free(&m[0]), gc_model_free(&m[1]);
}

#include "lib/model/generate.h"

/* Batched generation (prompts of different lengths, per-sequence RNG streams) gives each
 * sequence exactly what generating it alone gives, greedy and sampled. */
Test(decode, batched_generation_matches_one_at_a_time) {
    gc_model_config c = th_tiny_config(1);
    c.seq_len = 24;
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &c), GC_OK);
    th_init_weights(&m, 21);
    int32_t p0[] = {1, 5, 6}, p1[] = {1, 7}, p2[] = {1, 8, 9, 10, 11};
    const int32_t *prompts[] = {p0, p1, p2};
    int plen[] = {3, 2, 5};
    enum { L = 20 };
    for (int temp = 0; temp <= 1; temp++) {
        gc_sampler s;
        cr_assert_eq(gc_sampler_init(&s, c.vocab_size, temp ? 1.0f : 0.0f, 1.0f, 3), GC_OK);
        int32_t all[3 * L], one[L];
        int len_all[3], len_one;
        gc_rng rngs[3];
        for (int b = 0; b < 3; b++)
            gc_rng_init(&rngs[b], 77, (uint64_t)b);
        float *hid = malloc(sizeof(float) * 3 * L * c.dim);
        cr_assert_eq(
            gc_generate_batch(&m, &s, rngs, 3, prompts, plen, L, 2, all, len_all, hid, NULL), GC_OK,
            "%s", gc_last_error());
        for (int b = 0; b < 3; b++) {
            gc_rng r1;
            gc_rng_init(&r1, 77, (uint64_t)b);
            cr_assert_eq(gc_generate_batch(&m, &s, &r1, 1, &prompts[b], &plen[b], L, 2, one,
                                           &len_one, NULL, NULL),
                         GC_OK);
            cr_assert_eq(len_one, len_all[b], "temp %d seq %d: length %d alone, %d batched", temp,
                         b, len_one, len_all[b]);
            cr_assert_eq(memcmp(one, all + b * L, sizeof(int32_t) * len_one), 0,
                         "temp %d seq %d differs when batched", temp, b);
            cr_assert_eq(memcmp(one, prompts[b], sizeof(int32_t) * plen[b]), 0, "prompt kept");
        }
        /* the hidden state at the last token equals a full forward's */
        cr_assert_eq(gc_model_forward(&m, all, 1, len_all[0], 0), GC_OK);
        for (int d = 0; d < c.dim; d++)
            cr_assert_lt(
                fabsf(m.hf[(len_all[0] - 1) * c.dim + d] - hid[(len_all[0] - 1) * c.dim + d]),
                1e-4);
        free(hid);
        gc_sampler_free(&s);
    }
    gc_model_free(&m);
}

/* gc_model_grow: the new blocks start as the identity, so the grown model's hidden states and
 * logits are bitwise the source's; the new blocks' output projections get a gradient (they can
 * learn); a bad count is an error. */
Test(model, growing_adds_identity_blocks) {
    gc_model_config cfg = th_tiny_config(0);
    gc_model a, g;
    cr_assert_eq(gc_model_init(&a, &cfg), GC_OK);
    th_init_weights(&a, 12);
    cr_assert_eq(gc_model_grow(&a, 2, 3, &g), GC_OK, "%s", gc_last_error());
    cr_expect_eq(g.cfg.n_layers, cfg.n_layers + 2);
    enum { BB = 2, TT = 6 };
    int32_t tok[BB * TT], tgt[BB * TT];
    for (int i = 0; i < BB * TT; i++)
        tok[i] = (i * 7 + 3) % cfg.vocab_size, tgt[i] = (i * 5 + 1) % cfg.vocab_size;
    cr_assert_eq(gc_model_forward(&a, tok, BB, TT, GC_LOGITS_HOST), GC_OK);
    cr_assert_eq(gc_model_forward(&g, tok, BB, TT, GC_LOGITS_HOST), GC_OK);
    cr_expect_eq(memcmp(a.hf, g.hf, sizeof(float) * BB * TT * cfg.dim), 0, "hidden states");
    cr_expect_eq(memcmp(a.logits, g.logits, sizeof(float) * BB * TT * cfg.vocab_size), 0, "logits");
    float loss;
    cr_assert_eq(gc_model_ce_loss(&g, tgt, 1.0f, &loss), GC_OK);
    cr_assert_eq(gc_model_zero_grad(&g), GC_OK);
    cr_assert_eq(gc_model_backward(&g, NULL), GC_OK);
    gc_layer_params dw = gc_model_layer(&g.g, &g.cfg, cfg.n_layers + 1);
    double s = 0;
    for (int i = 0; i < cfg.dim * cfg.hidden_dim; i++)
        s += fabs(dw.w2[i]);
    cr_expect_gt(s, 0, "the new block's w2 learns");
    gc_model bad;
    cr_expect_eq(gc_model_grow(&a, -1, 3, &bad), GC_ERR_ARG);
    gc_model_free(&a), gc_model_free(&g);
}

/* gc_expf (lib/model/fastexp.h) against libm's expf: within 1 ulp over the whole normal range
 * (every 2^-10 step), and the edges: 0 below it, +inf above, NaN through */
Test(ops, fast_exp_is_within_one_ulp_of_libm) {
    double worst = 0;
    for (float x = -87.33f; x < 88.72f; x += 1.0f / 1024) {
        float a = expf(x), b = gc_expf(x);
        double ulp = nextafterf(a, INFINITY) - a;
        double u = fabs((double)a - b) / ulp;
        if (u > worst) worst = u;
    }
    cr_expect_leq(worst, 1.0, "largest difference %g ulp", worst);
    cr_expect_eq(gc_expf(0.0f), 1.0f);
    cr_expect_eq(gc_expf(-100.0f), 0.0f);
    cr_expect_eq(gc_expf(-INFINITY), 0.0f);
    cr_expect(isinf(gc_expf(100.0f)) && gc_expf(100.0f) > 0);
    cr_expect(isnan(gc_expf(NAN)));
}

/* the SwiGLU fast path (gc_expf) against its libm reference: a few ulp, relative to the values
 * that enter each output; the same bits twice */
Test(ops, swiglu_fast_path_matches_reference) {
    enum { N = 37, H = 53 };
    float a[N * 2 * H], dg[N * H], g0[N * H], g1[N * H], d0[N * 2 * H], d1[N * 2 * H], again[N * H];
    gc_rng r;
    gc_rng_init(&r, 5, 5);
    th_fill_normal(a, (size_t)N * 2 * H, 6.0f, &r);
    th_fill_normal(dg, (size_t)N * H, 1.0f, &r);
    gc_ops_swiglu(g1, a, N, H);
    gc_ops_swiglu_ref(g0, a, N, H);
    gc_ops_swiglu_backward(d1, dg, a, N, H);
    gc_ops_swiglu_backward_ref(d0, dg, a, N, H);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < H; i++) {
            int k = n * H + i;
            float x = a[n * 2 * H + i], up = a[n * 2 * H + H + i];
            float scale = fabsf(x * up) + 1e-30f;
            cr_assert_leq(fabsf(g0[k] - g1[k]), 4e-7f * scale, "g %d: %g vs %g", k, g0[k], g1[k]);
            float s1 = fabsf(dg[k] * up) * (1 + fabsf(x)), s3 = fabsf(dg[k] * x);
            cr_assert_leq(fabsf(d0[n * 2 * H + i] - d1[n * 2 * H + i]), 8e-7f * s1 + 1e-30f);
            cr_assert_leq(fabsf(d0[n * 2 * H + H + i] - d1[n * 2 * H + H + i]),
                          4e-7f * s3 + 1e-30f);
        }
    gc_ops_swiglu(again, a, N, H);
    cr_expect(!memcmp(again, g1, sizeof g1));
}

/* the cross-entropy's fast path (gc_expf, its sum in double) against the libm reference: the loss
 * within 1e-6 relative, each gradient within 4 ulp of scale (softmax <= 1) plus a few ulp of
 * itself; ignored rows zero; logits spread wide enough that some exponentials underflow; the
 * same bits twice and at one thread */
Test(ops, cross_entropy_fast_path_matches_reference) {
    enum { N = 29, V = 203 };
    static float l[N * V], d0[N * V], d1[N * V], again[N * V];
    int32_t t[N];
    gc_rng r;
    gc_rng_init(&r, 6, 6);
    for (int n = 0; n < N; n++) {
        th_fill_normal(l + n * V, V, n % 3 == 0 ? 40.0f : 3.0f, &r);
        t[n] = n % 7 == 3 ? -1 : (int32_t)(gc_rng_u32(&r) % V);
    }
    const float scale = 0.37f;
    double s0, s1, s2;
    cr_assert_eq(gc_ops_cross_entropy_ref(d0, l, t, N, V, scale, &s0), GC_OK);
    cr_assert_eq(gc_ops_cross_entropy(d1, l, t, N, V, scale, &s1), GC_OK);
    cr_assert(fabs(s0 - s1) <= 1e-6 * fabs(s0), "loss %.9g vs %.9g", s0, s1);
    for (int k = 0; k < N * V; k++) {
        float tol = 4 * FLT_EPSILON * scale + 4 * FLT_EPSILON * fabsf(d0[k]);
        cr_assert_leq(fabsf(d0[k] - d1[k]), tol, "dlogits %d: %g vs %g", k, d0[k], d1[k]);
        if (t[k / V] < 0) cr_assert_eq(d1[k], 0.0f);
    }
    cr_assert_eq(gc_ops_cross_entropy(again, l, t, N, V, scale, &s2), GC_OK);
    cr_expect(s2 == s1 && !memcmp(again, d1, sizeof again), "a second call differs");
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    cr_assert_eq(gc_ops_cross_entropy(again, l, t, N, V, scale, &s2), GC_OK);
    omp_set_num_threads(nt);
    cr_expect(s2 == s1 && !memcmp(again, d1, sizeof again), "one thread differs from %d", nt);
}

/* the linear backward (its two GEMMs side by side at two threads) against the double-precision
 * loop reference, and the same bits on a second call */
Test(ops, linear_backward_matches_reference_and_repeats) {
    enum { N = 512, IN = 96, OUT = 160 }; /* big enough for OpenBLAS to use its threads */
    float *dy = malloc(sizeof(float) * N * OUT), *x = malloc(sizeof(float) * N * IN),
          *W = malloc(sizeof(float) * OUT * IN), *Wt = malloc(sizeof(float) * OUT * IN);
    float *dyt = malloc(sizeof(float) * N * OUT), *xt = malloc(sizeof(float) * N * IN);
    float *dx[2], *dW[2], *rx = malloc(sizeof(float) * N * IN),
                          *rW = malloc(sizeof(float) * OUT * IN);
    gc_rng r;
    gc_rng_init(&r, 3, 3);
    th_fill_normal(dy, (size_t)N * OUT, 1.0f, &r);
    th_fill_normal(x, (size_t)N * IN, 1.0f, &r);
    th_fill_normal(W, (size_t)OUT * IN, 1.0f, &r);
    for (int k = 0; k < 2; k++) {
        dx[k] = calloc(N * IN, sizeof(float)), dW[k] = calloc(OUT * IN, sizeof(float));
        gc_ops_linear_backward(dx[k], 0, dW[k], dy, OUT, x, W, N, IN, OUT);
    }
    /* references: dx = dy W (W^T as the B operand), dW = dy^T x */
    for (int o = 0; o < OUT; o++)
        for (int i = 0; i < IN; i++)
            Wt[i * OUT + o] = W[o * IN + i];
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < OUT; o++)
            dyt[o * N + n] = dy[n * OUT + o];
        for (int i = 0; i < IN; i++)
            xt[i * N + n] = x[n * IN + i];
    }
    gc_ops_matmul_ref(rx, dy, Wt, N, IN, OUT);
    gc_ops_matmul_ref(rW, dyt, xt, OUT, IN, N);
    for (int i = 0; i < N * IN; i++)
        cr_assert_lt(fabsf(dx[0][i] - rx[i]), 1e-4f, "dx %d: %g vs %g", i, dx[0][i], rx[i]);
    for (int i = 0; i < OUT * IN; i++)
        cr_assert_lt(fabsf(dW[0][i] - rW[i]), 5e-4f, "dW %d: %g vs %g", i, dW[0][i], rW[i]);
    cr_expect(!memcmp(dx[0], dx[1], sizeof(float) * N * IN), "dx repeats");
    cr_expect(!memcmp(dW[0], dW[1], sizeof(float) * OUT * IN), "dW repeats");
    for (int k = 0; k < 2; k++)
        free(dx[k]), free(dW[k]);
    free(dy), free(x), free(W), free(Wt), free(dyt), free(xt), free(rx), free(rW);
}

/* The decoding matmul: bit for bit its scalar fma-chain reference on every shape the blocking
 * cuts differently (rows 1..13 around the six-row tiles, outputs around the 8-wide vectors,
 * inputs around the 8 x 8 transpositions), with and without the residual, with a row stride wider
 * than the output; the same bits for a row alone as in a batch, and at 1 and 2 threads; within 1e-5
 * relative of the double-precision loop. */
Test(ops, decode_linear_rows_match_fma_reference_bitwise) {
    enum { NMAX = 13, IMAX = 70, OMAX = 37, LD = OMAX + 3 };
    float *x = malloc(sizeof(float) * NMAX * IMAX), *W = malloc(sizeof(float) * OMAX * IMAX);
    float *res = malloc(sizeof(float) * NMAX * OMAX), *dbl = malloc(sizeof(float) * NMAX * OMAX);
    float *y = malloc(sizeof(float) * NMAX * LD), *want = malloc(sizeof(float) * NMAX * LD);
    float one[LD];
    gc_rng r;
    gc_rng_init(&r, 5, 5);
    th_fill_normal(x, (size_t)NMAX * IMAX, 1.0f, &r);
    th_fill_normal(W, (size_t)OMAX * IMAX, 1.0f, &r);
    th_fill_normal(res, (size_t)NMAX * OMAX, 1.0f, &r);
    const int ns[] = {1, 2, 3, 4, 5, 6, 7, 9, 10, 13}, ins[] = {1, 7, 8, 9, 16, 64, 70},
              outs[] = {1, 7, 8, 9, 16, 37};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof ins / sizeof ins[0]; b++)
            for (size_t c = 0; c < sizeof outs / sizeof outs[0]; c++)
                for (int withres = 0; withres < 2; withres++) {
                    int N = ns[a], IN = ins[b], OUT = outs[c];
                    const float *rp = withres ? res : NULL;
                    memset(y, 0xff, sizeof(float) * NMAX * LD); /* NaN bits: untouched stays NaN */
                    memset(want, 0xff, sizeof(float) * NMAX * LD);
                    gc_ops_linear_rows(y, LD, rp, x, W, N, IN, OUT);
                    gc_ops_linear_rows_ref(want, LD, rp, x, W, N, IN, OUT);
                    cr_assert(!memcmp(y, want, sizeof(float) * NMAX * LD),
                              "N %d in %d out %d res %d: fast path differs from the reference", N,
                              IN, OUT, withres);
                    gc_ops_linear_rows(one, LD, rp ? rp + (size_t)(N - 1) * OUT : NULL,
                                       x + (size_t)(N - 1) * IN, W, 1, IN, OUT);
                    cr_assert(!memcmp(one, y + (size_t)(N - 1) * LD, sizeof(float) * OUT),
                              "N %d in %d out %d: the last row alone differs", N, IN, OUT);
                }
    enum { N = 9, IN = 64, OUT = 37 };
    gc_ops_matmul_ref(dbl, x, W, N, OUT, IN);
    gc_ops_linear_rows(y, OUT, NULL, x, W, N, IN, OUT);
    for (int i = 0; i < N * OUT; i++)
        cr_assert_lt(fabsf(y[i] - dbl[i]), 1e-5f * (1.0f + fabsf(dbl[i])) * 8, "element %d", i);
    free(x), free(W), free(res), free(dbl), free(y), free(want);
}

/* Big enough to start threads: the same bits at 1 and 2 threads. */
Test(ops, decode_linear_rows_thread_count_invariant) {
    enum { N = 64, IN = 128, OUT = 344 };
    float *x = malloc(sizeof(float) * N * IN), *W = malloc(sizeof(float) * OUT * IN);
    float *y1 = malloc(sizeof(float) * N * OUT), *y2 = malloc(sizeof(float) * N * OUT);
    gc_rng r;
    gc_rng_init(&r, 6, 6);
    th_fill_normal(x, (size_t)N * IN, 1.0f, &r);
    th_fill_normal(W, (size_t)OUT * IN, 1.0f, &r);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    gc_ops_linear_rows(y1, OUT, NULL, x, W, N, IN, OUT);
    omp_set_num_threads(2);
    gc_ops_linear_rows(y2, OUT, NULL, x, W, N, IN, OUT);
    omp_set_num_threads(threads);
    cr_expect(!memcmp(y1, y2, sizeof(float) * N * OUT), "1 and 2 threads differ");
    free(x), free(W), free(y1), free(y2);
}
