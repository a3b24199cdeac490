/* CUDA op parity: every op of kernels/cuda_api.h against its CPU twin in lib/model/ops.h (or
 * lib/model/optim.h), forward and backward, on device buffers. On a GPU every
 * test runs there. Without one (CI) the kernels' per-element bodies run on the host
 * (gc_cuda_open_emulated) and are checked all the same; the matmuls, cuBLAS on a device, are a
 * naive body there. In a build without nvcc every test skips, saying why.
 *
 * Tolerances (max |got - want| / max(1, max |want|): relative to the tensor's scale), per
 * precision of the matmuls involved:
 *   fp32: 1e-5 for single ops (1e-4 for the attention backward, a chain of four matmuls);
 *   tf32: 5e-3 on a GPU (the emulation computes TF32 as fp32);
 *   bf16: 3e-2 (operands rounded to 8-bit mantissas, fp32 accumulation);
 *   non-matmul ops (norms, rope, SwiGLU, AdamW): 1e-5; the embedding is a copy: exact;
 *   cross-entropy: the loss sum to 1e-9 relative (double on both sides), dlogits 1e-6. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_api.h"
#include "lib/model/ops.h"
#include "lib/model/optim.h"
#include "lib/util/rng.h"
#include "cuda_helpers.h"
#include "helpers.h"

static const double TOL[3] = {1e-5, 5e-3, 3e-2}; /* fp32, tf32, bf16 matmuls */

Test(cuda, without_a_device_the_errors_say_why) {
    char why[256];
    if (gc_cuda_devices(why, sizeof why) > 0) cr_skip_test("a CUDA device is present");
    cr_expect(why[0] != 0, "no reason given");
    gc_cuda *c;
    cr_expect_eq(gc_cuda_open(&c), GC_ERR_DEVICE);
    cr_expect(gc_last_error()[0] != 0);
}

Test(cuda, precision_names_round_trip) {
    gc_precision p;
    for (int i = 0; i < 3; i++) {
        if (gc_precision_parse(gc_precision_name((gc_precision)i), &p) != GC_OK)
            cr_skip_test("%s", gc_last_error()); /* a build without CUDA */
        cr_expect_eq(p, (gc_precision)i);
    }
    cr_expect_eq(gc_precision_parse("fp16", &p), GC_ERR_ARG);
    cr_expect(strstr(gc_last_error(), "fp16") != NULL, "%s", gc_last_error());
}

/* the linear layer and its backward, in each precision */
Test(cuda, linear_matches_cpu) {
    gc_cuda *c = ch_open_or_skip();
    enum { N = 67, IN = 96, OUT = 130 }; /* odd sizes: no tile divides them */
    float *x = ch_randn(N * IN, 1, 1.0f), *W = ch_randn(OUT * IN, 2, 0.1f);
    float *dy = ch_randn(N * OUT, 3, 1.0f), *dx0 = ch_randn(N * IN, 4, 1.0f);
    float *dW0 = ch_randn(OUT * IN, 5, 1.0f);
    float *y0 = malloc(sizeof(float) * N * OUT), *dxw = malloc(sizeof(float) * N * IN);
    float *dWw = malloc(sizeof(float) * OUT * IN);
    gc_ops_linear(y0, OUT, x, W, N, IN, OUT);
    memcpy(dxw, dx0, sizeof(float) * N * IN), memcpy(dWw, dW0, sizeof(float) * OUT * IN);
    gc_ops_linear_backward(dxw, 1, dWw, dy, OUT, x, W, N, IN, OUT); /* dx accumulated too */
    float *dxd = ch_up(c, x, N * IN), *dWd = ch_up(c, W, OUT * IN), *dyd = ch_up(c, dy, N * OUT);
    for (int p = 0; p < 3; p++) {
        float *yd = ch_up(c, y0, N * OUT); /* overwritten */
        float *gx = ch_up(c, dx0, N * IN), *gW = ch_up(c, dW0, OUT * IN);
        cr_assert_eq(gc_cuda_linear(c, p, yd, OUT, 0, dxd, dWd, NULL, N, IN, OUT), GC_OK, "%s",
                     gc_last_error());
        cr_assert_eq(gc_cuda_linear_backward(c, p, gx, 1, gW, dyd, OUT, dxd, dWd, NULL, N, IN, OUT),
                     GC_OK, "%s", gc_last_error());
        ch_expect_close(c, yd, y0, N * OUT, TOL[p], "linear %s", gc_precision_name(p));
        ch_expect_close(c, gx, dxw, N * IN, TOL[p], "linear dx %s", gc_precision_name(p));
        ch_expect_close(c, gW, dWw, OUT * IN, TOL[p], "linear dW %s", gc_precision_name(p));
        gc_cuda_free(c, yd), gc_cuda_free(c, gx), gc_cuda_free(c, gW);
    }
    gc_cuda_free(c, dxd), gc_cuda_free(c, dWd), gc_cuda_free(c, dyd);
    free(x), free(W), free(dy), free(dx0), free(dW0), free(y0), free(dxw), free(dWw);
    gc_cuda_close(c);
}

/* the batched GEMM with every transpose combination against a naive double-precision product */
Test(cuda, batched_gemm_transposes_match_reference) {
    gc_cuda *c = ch_open_or_skip();
    enum { BATCH = 3, M = 13, N = 17, K = 11 };
    float *A = ch_randn(BATCH * M * K, 6, 1.0f), *B = ch_randn(BATCH * K * N, 7, 1.0f);
    float *C0 = ch_randn(BATCH * M * N, 8, 1.0f), *want = malloc(sizeof(float) * BATCH * M * N);
    float *Ad = ch_up(c, A, BATCH * M * K), *Bd = ch_up(c, B, BATCH * K * N);
    for (int tA = 0; tA < 2; tA++)
        for (int tB = 0; tB < 2; tB++) {
            int lda = tA ? M : K, ldb = tB ? K : N;
            for (int b = 0; b < BATCH; b++)
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double s = 0;
                        for (int k = 0; k < K; k++)
                            s += (double)A[b * M * K + (tA ? k * lda + i : i * lda + k)] *
                                 B[b * K * N + (tB ? j * ldb + k : k * ldb + j)];
                        size_t o = (size_t)b * M * N + i * N + j;
                        want[o] = (float)(0.5 * s + 2.0 * C0[o]);
                    }
            float *Cd = ch_up(c, C0, BATCH * M * N);
            cr_assert_eq(gc_cuda_gemm(c, GC_PREC_FP32, tA, tB, M, N, K, 0.5f, Ad, lda, M * K, Bd,
                                      ldb, K * N, 2.0f, Cd, N, M * N, BATCH),
                         GC_OK, "%s", gc_last_error());
            ch_expect_close(c, Cd, want, BATCH * M * N, 1e-5, "gemm tA %d tB %d", tA, tB);
            gc_cuda_free(c, Cd);
        }
    gc_cuda_free(c, Ad), gc_cuda_free(c, Bd);
    free(A), free(B), free(C0), free(want);
    gc_cuda_close(c);
}

Test(cuda, rmsnorm_swiglu_and_their_backward_passes_match_cpu) {
    gc_cuda *c = ch_open_or_skip();
    enum { N = 300, D = 96, H = 171 }; /* N spans several row chunks of the weight gradient */
    float *x = ch_randn(N * D, 3, 2.0f), *w = ch_randn(D, 4, 1.0f), *dy = ch_randn(N * D, 8, 1.0f);
    float *y0 = malloc(sizeof(float) * N * D), r0[N];
    gc_ops_rmsnorm(y0, r0, x, w, N, D, 1e-5f);
    float *dx0 = ch_randn(N * D, 9, 1.0f), *dw0 = ch_randn(D, 10, 1.0f);
    float *xd = ch_up(c, x, N * D), *wd = ch_up(c, w, D), *dyd = ch_up(c, dy, N * D);
    float *yd = ch_up(c, y0, N * D), *rd = ch_up(c, r0, N);
    float *dxd = ch_up(c, dx0, N * D), *dwd = ch_up(c, dw0, D);
    gc_ops_rmsnorm_backward(dx0, 1, dw0, dy, x, w, r0, N, D);
    cr_assert_eq(gc_cuda_rmsnorm(c, yd, rd, xd, wd, N, D, 1e-5f), GC_OK, "%s", gc_last_error());
    cr_assert_eq(gc_cuda_rmsnorm_backward(c, dxd, 1, dwd, dyd, xd, wd, rd, N, D), GC_OK);
    ch_expect_close(c, yd, y0, N * D, 1e-5, "rmsnorm");
    ch_expect_close(c, rd, r0, N, 1e-5, "rstd");
    ch_expect_close(c, dxd, dx0, N * D, 1e-5, "rmsnorm dx (accumulated)");
    ch_expect_close(c, dwd, dw0, D, 1e-4, "rmsnorm dw (accumulated)");
    float *a = ch_randn(N * 2 * H, 11, 3.0f), *dg = ch_randn(N * H, 12, 1.0f);
    float *g0 = malloc(sizeof(float) * N * H), *da0 = malloc(sizeof(float) * N * 2 * H);
    gc_ops_swiglu(g0, a, N, H);
    gc_ops_swiglu_backward(da0, dg, a, N, H);
    float *ad = ch_up(c, a, N * 2 * H), *dgd = ch_up(c, dg, N * H);
    float *gd = ch_up(c, g0, N * H), *dad = ch_up(c, da0, N * 2 * H);
    cr_assert_eq(gc_cuda_swiglu(c, gd, ad, N, H), GC_OK);
    cr_assert_eq(gc_cuda_swiglu_backward(c, dad, dgd, ad, N, H), GC_OK);
    ch_expect_close(c, gd, g0, N * H, 1e-5, "swiglu");
    ch_expect_close(c, dad, da0, N * 2 * H, 1e-5, "swiglu backward");
    float *bufs[] = {xd, wd, dyd, yd, rd, dxd, dwd, ad, dgd, gd, dad};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        gc_cuda_free(c, bufs[i]);
    free(x), free(w), free(dy), free(y0), free(dx0), free(dw0), free(a), free(dg), free(g0),
        free(da0);
    gc_cuda_close(c);
}

Test(cuda, cross_entropy_matches_cpu) {
    gc_cuda *c = ch_open_or_skip();
    enum { N = 41, V = 1000 };
    float *l = ch_randn(N * V, 11, 4.0f);
    int32_t t[N];
    for (int n = 0; n < N; n++)
        t[n] = n % 7 == 3 ? -1 : (n * 37) % V; /* some ignored rows */
    float *d0 = malloc(sizeof(float) * N * V);
    double s0 = 0, s1 = 0;
    cr_assert_eq(gc_ops_cross_entropy(d0, l, t, N, V, 0.25f, &s0), GC_OK);
    float *ld = ch_up(c, l, N * V), *dd = ch_up(c, l, N * V);
    int32_t *td = gc_cuda_alloc(c, sizeof t);
    cr_assert_eq(gc_cuda_upload(c, td, t, sizeof t), GC_OK);
    cr_assert_eq(gc_cuda_cross_entropy(c, dd, &s1, ld, td, N, V, 0.25f), GC_OK, "%s",
                 gc_last_error());
    cr_expect_lt(fabs(s1 - s0) / s0, 1e-9, "loss sum %.12g vs %.12g", s1, s0);
    ch_expect_close(c, dd, d0, N * V, 1e-6, "dlogits");
    gc_cuda_free(c, ld), gc_cuda_free(c, dd), gc_cuda_free(c, td);
    free(l), free(d0);
    gc_cuda_close(c);
}

/* causal attention through batched GEMMs, GQA, padded sequences, in each precision */
Test(cuda, causal_attention_matches_cpu) {
    gc_cuda *c = ch_open_or_skip();
    enum { B = 3, T = 70, NH = 4, NKV = 2, HS = 16 };
    int D = NH * HS, LD = D + 2 * NKV * HS, len[B] = {70, 41, 1};
    int32_t len32[B] = {70, 41, 1};
    float *qkv = ch_randn(B * T * LD, 12, 1.0f), *dout = ch_randn(B * T * D, 16, 1.0f);
    float *o0 = malloc(sizeof(float) * B * T * D), *att = malloc(sizeof(float) * B * NH * T * T);
    float *d0 = malloc(sizeof(float) * B * T * LD);
    for (int padded = 0; padded < 2; padded++) {
        gc_ops_attention(o0, att, qkv, B, T, NH, NKV, HS, padded ? len : NULL);
        for (int b = 0; b < B; b++) /* dout on padding rows is ignored by the CPU path: zero it */
            for (int t = padded ? len[b] : T; t < T; t++)
                memset(dout + ((size_t)b * T + t) * D, 0, sizeof(float) * D);
        gc_ops_attention_backward(d0, dout, att, qkv, B, T, NH, NKV, HS, padded ? len : NULL);
        float *qd = ch_up(c, qkv, B * T * LD), *dod = ch_up(c, dout, B * T * D);
        float *od = gc_cuda_alloc(c, sizeof(float) * B * T * D);
        float *ad = gc_cuda_alloc(c, sizeof(float) * B * NH * T * T);
        float *dd = gc_cuda_alloc(c, sizeof(float) * B * T * LD);
        int32_t *ld = gc_cuda_alloc(c, sizeof len32);
        cr_assert_eq(gc_cuda_upload(c, ld, len32, sizeof len32), GC_OK);
        for (int p = 0; p < 3; p++) {
            cr_assert_eq(gc_cuda_attention(c, p, od, ad, qd, B, T, NH, NKV, HS, padded ? ld : NULL),
                         GC_OK, "%s", gc_last_error());
            cr_assert_eq(gc_cuda_attention_backward(c, p, dd, dod, ad, qd, B, T, NH, NKV, HS),
                         GC_OK, "%s", gc_last_error());
            ch_expect_close(c, od, o0, B * T * D, TOL[p], "attention %s padded %d",
                            gc_precision_name(p), padded);
            ch_expect_close(c, dd, d0, B * T * LD, p ? TOL[p] : 1e-4,
                            "attention backward %s padded %d", gc_precision_name(p), padded);
        }
        gc_cuda_free(c, qd), gc_cuda_free(c, dod), gc_cuda_free(c, od), gc_cuda_free(c, ad);
        gc_cuda_free(c, dd), gc_cuda_free(c, ld);
    }
    free(qkv), free(o0), free(att), free(dout), free(d0);
    gc_cuda_close(c);
}

Test(cuda, embedding_rope_and_adamw_match_cpu) {
    gc_cuda *c = ch_open_or_skip();
    enum { V = 50, N = 24, T = 8, D = 32, NH = 4, HS = 8 };
    float *emb = ch_randn(V * D, 13, 1.0f), *dout = ch_randn(N * D, 17, 1.0f);
    int32_t tok[N], pos[N];
    for (int i = 0; i < N; i++)
        tok[i] = (i * 7) % 11, pos[i] = (i * 5) % T; /* repeated tokens */
    float *e0 = malloc(sizeof(float) * N * D), *demb0 = ch_randn(V * D, 18, 1.0f);
    gc_ops_embedding(e0, emb, tok, N, D);
    float *embd = ch_up(c, emb, V * D), *ed = gc_cuda_alloc(c, sizeof(float) * N * D);
    float *dod = ch_up(c, dout, N * D), *dembd = ch_up(c, demb0, V * D);
    int32_t *tokd = gc_cuda_alloc(c, sizeof tok), *posd = gc_cuda_alloc(c, sizeof pos);
    cr_assert_eq(gc_cuda_upload(c, tokd, tok, sizeof tok), GC_OK);
    cr_assert_eq(gc_cuda_upload(c, posd, pos, sizeof pos), GC_OK);
    cr_assert_eq(gc_cuda_embedding(c, ed, embd, tokd, N, D), GC_OK, "%s", gc_last_error());
    ch_expect_close(c, ed, e0, N * D, 0.0, "embedding is a copy");
    gc_ops_embedding_backward(demb0, dout, tok, N, D);
    cr_assert_eq(gc_cuda_embedding_backward(c, dembd, V, dod, tok, N, D), GC_OK, "%s",
                 gc_last_error());
    ch_expect_close(c, dembd, demb0, V * D, 1e-6, "embedding backward (accumulated)");
    float cs[T * HS / 2], sn[T * HS / 2];
    for (int t = 0; t < T; t++)
        for (int i = 0; i < HS / 2; i++) {
            float f = t * powf(10000.0f, -2.0f * i / HS);
            cs[t * HS / 2 + i] = cosf(f), sn[t * HS / 2 + i] = sinf(f);
        }
    float *csd = ch_up(c, cs, T * HS / 2), *snd = ch_up(c, sn, T * HS / 2);
    for (int inv = 0; inv < 2; inv++)
        for (int bypos = 0; bypos < 2; bypos++) {
            float *x0 = ch_randn(N * (D + 8), 14, 1.0f), *xd = ch_up(c, x0, N * (D + 8));
            if (bypos) /* explicit positions: row n at pos[n], checked row by row on the CPU */
                for (int n = 0; n < N; n++)
                    gc_ops_rope(x0 + (size_t)n * (D + 8), D + 8, 8, NH, HS, 1, 1,
                                cs + pos[n] * HS / 2, sn + pos[n] * HS / 2, inv);
            else
                gc_ops_rope(x0, D + 8, 8, NH, HS, N, T, cs, sn, inv);
            cr_assert_eq(
                gc_cuda_rope(c, xd, D + 8, 8, NH, HS, N, T, csd, snd, inv, bypos ? posd : NULL),
                GC_OK, "%s", gc_last_error());
            ch_expect_close(c, xd, x0, N * (D + 8), 1e-6, "rope (inverse %d, positions %d)", inv,
                            bypos);
            gc_cuda_free(c, xd), free(x0);
        }
    /* three AdamW steps of one decayed tensor against gc_adamw_step */
    enum { P = 1000 };
    float *p0 = ch_randn(P, 15, 1.0f), *zero = calloc(P, sizeof(float));
    float *pd = ch_up(c, p0, P), *md = ch_up(c, zero, P), *vd = ch_up(c, zero, P);
    gc_adamw o;
    cr_assert_eq(gc_adamw_init(&o, P, 0.9f, 0.95f, 1e-8f, 0.1f), GC_OK);
    gc_tensor_info ti = {"w", 1, {P, 0, 0}, 0, P, 1};
    for (int step = 1; step <= 3; step++) {
        float *g = ch_randn(P, 100 + step, 1.0f), *gd = ch_up(c, g, P);
        gc_adamw_step(&o, p0, g, &ti, 1, 1e-2f);
        cr_assert_eq(gc_cuda_adamw(c, pd, md, vd, gd, P, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1, step),
                     GC_OK, "%s", gc_last_error());
        free(g), gc_cuda_free(c, gd);
    }
    ch_expect_close(c, pd, p0, P, 1e-6, "AdamW params");
    ch_expect_close(c, md, o.m, P, 1e-6, "AdamW m");
    ch_expect_close(c, vd, o.v, P, 1e-6, "AdamW v");
    double ss;
    cr_assert_eq(gc_cuda_sumsq(c, pd, P, &ss), GC_OK);
    cr_expect_lt(fabs(ss - gc_ops_sumsq(p0, P)) / ss, 1e-6, "sum of squares");
    gc_adamw_free(&o);
    float *bufs[] = {embd, ed, dod, dembd, csd, snd, pd, md, vd};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        gc_cuda_free(c, bufs[i]);
    gc_cuda_free(c, tokd), gc_cuda_free(c, posd);
    free(emb), free(dout), free(e0), free(demb0), free(p0), free(zero);
    gc_cuda_close(c);
}
