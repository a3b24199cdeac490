/* CUDA parity: every op of kernels/cuda.h against its CPU twin in lib/ops.h, in fp32 (and the
 * matmul in TF32), with the tolerances stated per test. On a GPU every test runs on it. Without one
 * (CI), the ops whose kernels are per-thread code run that code on the host (gc_cuda_open_emulated)
 * and are checked all the same (the matmul, cuBLAS on a device, is a naive kernel there); in a
 * build without nvcc every test skips, saying why. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/cuda.h"
#include "../lib/ops.h"
#include <stdint.h>
#include "../lib/model.h"
#include "../lib/optim.h"
#include "../lib/rng.h"
#include "../lib/sampler.h"
#include "helpers.h"

/* the GPU when there is one; else, unless need_gpu, the host emulation of the kernels */
static gc_cuda *open_or_skip(int need_gpu) {
    char why[256];
    gc_cuda *c;
    if (gc_cuda_devices(why, sizeof why) > 0) {
        cr_assert_eq(gc_cuda_open(&c), GC_OK, "%s", gc_last_error());
        return c;
    }
    if (need_gpu) cr_skip_test("needs a GPU: %s", why);
    if (gc_cuda_open_emulated(&c) != GC_OK) cr_skip_test("%s", gc_last_error());
    return c;
}

static float *randn(size_t n, uint64_t seed, float scale) {
    float *x = malloc(sizeof(float) * n);
    gc_rng r;
    gc_rng_init(&r, seed, 1);
    for (size_t i = 0; i < n; i++) x[i] = scale * gc_rng_normal(&r);
    return x;
}

/* max |a - b| / max(1, |b|) */
static double rel_err(const float *a, const float *b, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - b[i]) / fmax(1.0, fabs(b[i])));
    return e;
}

Test(cuda, without_a_device_the_errors_say_why) {
    char why[256];
    if (gc_cuda_devices(why, sizeof why) > 0) cr_skip_test("a CUDA device is present");
    cr_expect(why[0] != 0, "no reason given");
    gc_cuda *c;
    cr_expect_eq(gc_cuda_open(&c), GC_ERR_DEVICE);
    cr_expect(gc_last_error()[0] != 0);
}

Test(cuda, linear_matches_cpu) {
    gc_cuda *c = open_or_skip(0);
    enum { N = 67, IN = 96, OUT = 130 }; /* odd sizes: no tile divides them */
    float *x = randn(N * IN, 1, 1.0f), *W = randn(OUT * IN, 2, 0.1f);
    float *y0 = malloc(sizeof(float) * N * OUT), *y1 = malloc(sizeof(float) * N * OUT);
    gc_ops_linear(y0, OUT, x, W, N, IN, OUT);
    cr_assert_eq(gc_cuda_linear(c, y1, x, W, N, IN, OUT, 0), GC_OK, "%s", gc_last_error());
    cr_expect_lt(rel_err(y1, y0, N * OUT), 1e-5, "fp32 matmul: %g", rel_err(y1, y0, N * OUT));
    cr_assert_eq(gc_cuda_linear(c, y1, x, W, N, IN, OUT, 1), GC_OK, "%s", gc_last_error());
    cr_expect_lt(rel_err(y1, y0, N * OUT), 5e-3, "TF32 matmul: %g", rel_err(y1, y0, N * OUT));
    free(x), free(W), free(y0), free(y1);
    gc_cuda_close(c);
}

Test(cuda, rmsnorm_and_swiglu_match_cpu) {
    gc_cuda *c = open_or_skip(0);
    enum { N = 33, D = 200, H = 171 };
    float *x = randn(N * D, 3, 2.0f), *w = randn(D, 4, 1.0f), *a = randn(N * 2 * H, 5, 3.0f);
    float *y0 = malloc(sizeof(float) * N * D), *y1 = malloc(sizeof(float) * N * D);
    float r0[N], r1[N];
    gc_ops_rmsnorm(y0, r0, x, w, N, D, 1e-5f);
    cr_assert_eq(gc_cuda_rmsnorm(c, y1, r1, x, w, N, D, 1e-5f), GC_OK, "%s", gc_last_error());
    cr_expect_lt(rel_err(y1, y0, N * D), 1e-5, "rmsnorm: %g", rel_err(y1, y0, N * D));
    cr_expect_lt(rel_err(r1, r0, N), 1e-5, "rstd: %g", rel_err(r1, r0, N));
    float *g0 = malloc(sizeof(float) * N * H), *g1 = malloc(sizeof(float) * N * H);
    gc_ops_swiglu(g0, a, N, H);
    cr_assert_eq(gc_cuda_swiglu(c, g1, a, N, H), GC_OK, "%s", gc_last_error());
    cr_expect_lt(rel_err(g1, g0, N * H), 1e-5, "swiglu: %g", rel_err(g1, g0, N * H));
    free(x), free(w), free(a), free(y0), free(y1), free(g0), free(g1);
    gc_cuda_close(c);
}

Test(cuda, backward_passes_match_cpu) {
    gc_cuda *c = open_or_skip(0);
    enum { N = 29, D = 160, H = 77 };
    float *x = randn(N * D, 6, 1.5f), *w = randn(D, 7, 1.0f), *dy = randn(N * D, 8, 1.0f);
    float *y = malloc(sizeof(float) * N * D), rstd[N];
    gc_ops_rmsnorm(y, rstd, x, w, N, D, 1e-5f);
    float *dx0 = malloc(sizeof(float) * N * D), *dx1 = malloc(sizeof(float) * N * D);
    float *dw0 = calloc(D, sizeof(float)), *dw1 = malloc(sizeof(float) * D);
    gc_ops_rmsnorm_backward(dx0, 0, dw0, dy, x, w, rstd, N, D);
    cr_assert_eq(gc_cuda_rmsnorm_backward(c, dx1, dw1, dy, x, w, rstd, N, D), GC_OK, "%s",
                 gc_last_error());
    cr_expect_lt(rel_err(dx1, dx0, N * D), 1e-5, "rmsnorm dx: %g", rel_err(dx1, dx0, N * D));
    cr_expect_lt(rel_err(dw1, dw0, D), 1e-5, "rmsnorm dw: %g", rel_err(dw1, dw0, D));
    float *a = randn(N * 2 * H, 9, 3.0f), *dg = randn(N * H, 10, 1.0f);
    float *da0 = malloc(sizeof(float) * N * 2 * H), *da1 = malloc(sizeof(float) * N * 2 * H);
    gc_ops_swiglu_backward(da0, dg, a, N, H);
    cr_assert_eq(gc_cuda_swiglu_backward(c, da1, dg, a, N, H), GC_OK, "%s", gc_last_error());
    cr_expect_lt(rel_err(da1, da0, N * 2 * H), 1e-5, "swiglu backward: %g", rel_err(da1, da0, N * 2 * H));
    free(x), free(w), free(dy), free(y), free(dx0), free(dx1), free(dw0), free(dw1);
    free(a), free(dg), free(da0), free(da1);
    gc_cuda_close(c);
}

Test(cuda, cross_entropy_matches_cpu) {
    gc_cuda *c = open_or_skip(0);
    enum { N = 41, V = 1000 };
    float *l = randn(N * V, 11, 4.0f);
    int32_t t[N];
    for (int n = 0; n < N; n++) t[n] = n % 7 == 3 ? -1 : (n * 37) % V; /* some ignored rows */
    float *d0 = malloc(sizeof(float) * N * V), *d1 = malloc(sizeof(float) * N * V);
    double s0 = gc_ops_cross_entropy(d0, l, t, N, V, 0.25f), s1 = 0;
    cr_assert_eq(gc_cuda_cross_entropy(c, d1, &s1, l, t, N, V, 0.25f), GC_OK, "%s", gc_last_error());
    cr_expect_lt(fabs(s1 - s0) / s0, 1e-9, "loss sum %.12g vs %.12g", s1, s0);
    cr_expect_lt(rel_err(d1, d0, N * V), 1e-6, "dlogits: %g", rel_err(d1, d0, N * V));
    free(l), free(d0), free(d1);
    gc_cuda_close(c);
}

Test(cuda, causal_attention_matches_cpu) {
    gc_cuda *c = open_or_skip(0);
    enum { B = 2, T = 150, NH = 4, NKV = 2, HS = 16 }; /* GQA, several CPU tiles */
    int D = NH * HS, LD = D + 2 * NKV * HS;
    float *qkv = randn(B * T * LD, 12, 1.0f);
    float *o0 = malloc(sizeof(float) * B * T * D), *o1 = malloc(sizeof(float) * B * T * D);
    float *att = malloc(sizeof(float) * B * NH * T * T);
    gc_ops_attention(o0, att, qkv, B, T, NH, NKV, HS, NULL);
    cr_assert_eq(gc_cuda_attention(c, o1, qkv, B, T, NH, NKV, HS), GC_OK, "%s", gc_last_error());
    cr_expect_lt(rel_err(o1, o0, B * T * D), 1e-5, "attention: %g", rel_err(o1, o0, B * T * D));
    float *dout = randn(B * T * D, 16, 1.0f);
    float *d0 = malloc(sizeof(float) * B * T * LD), *d1 = malloc(sizeof(float) * B * T * LD);
    gc_ops_attention_backward(d0, dout, att, qkv, B, T, NH, NKV, HS, NULL);
    cr_assert_eq(gc_cuda_attention_backward(c, d1, dout, qkv, B, T, NH, NKV, HS), GC_OK, "%s",
                 gc_last_error());
    cr_expect_lt(rel_err(d1, d0, B * T * LD), 1e-4, "attention backward: %g", rel_err(d1, d0, B * T * LD));
    free(qkv), free(o0), free(o1), free(att), free(dout), free(d0), free(d1);
    gc_cuda_close(c);
}

Test(cuda, embedding_rope_and_adamw_match_cpu) {
    gc_cuda *c = open_or_skip(0);
    enum { V = 50, N = 24, T = 8, D = 32, NH = 4, HS = 8 };
    float *emb = randn(V * D, 13, 1.0f);
    int32_t tok[N];
    for (int i = 0; i < N; i++) tok[i] = (i * 7) % V;
    float *e0 = malloc(sizeof(float) * N * D), *e1 = malloc(sizeof(float) * N * D);
    gc_ops_embedding(e0, emb, tok, N, D);
    cr_assert_eq(gc_cuda_embedding(c, e1, emb, V, tok, N, D), GC_OK, "%s", gc_last_error());
    cr_expect_eq(rel_err(e1, e0, N * D), 0.0, "embedding is a copy");
    float cs[T * HS / 2], sn[T * HS / 2];
    for (int t = 0; t < T; t++)
        for (int i = 0; i < HS / 2; i++) {
            float f = t * powf(10000.0f, -2.0f * i / HS);
            cs[t * HS / 2 + i] = cosf(f), sn[t * HS / 2 + i] = sinf(f);
        }
    for (int inv = 0; inv < 2; inv++) {
        float *x0 = randn(N * (D + 8), 14, 1.0f), *x1 = malloc(sizeof(float) * N * (D + 8));
        memcpy(x1, x0, sizeof(float) * N * (D + 8));
        gc_ops_rope(x0, D + 8, 8, NH, HS, N, T, cs, sn, inv);
        cr_assert_eq(gc_cuda_rope(c, x1, D + 8, 8, NH, HS, N, T, cs, sn, inv), GC_OK, "%s",
                     gc_last_error());
        cr_expect_lt(rel_err(x1, x0, N * (D + 8)), 1e-6, "rope (inverse %d)", inv);
        free(x0), free(x1);
    }
    /* three AdamW steps of one decayed tensor against gc_adamw_step */
    enum { P = 1000 };
    float *p0 = randn(P, 15, 1.0f), *p1 = malloc(sizeof(float) * P);
    float *m1 = calloc(P, sizeof(float)), *v1 = calloc(P, sizeof(float));
    memcpy(p1, p0, sizeof(float) * P);
    gc_adamw o;
    cr_assert_eq(gc_adamw_init(&o, P, 0.9f, 0.95f, 1e-8f, 0.1f), GC_OK);
    gc_tensor_info ti = {"w", 1, {P, 0, 0}, 0, P, 1};
    for (int step = 1; step <= 3; step++) {
        float *g = randn(P, 100 + step, 1.0f);
        gc_adamw_step(&o, p0, g, &ti, 1, 1e-2f);
        cr_assert_eq(gc_cuda_adamw(c, p1, m1, v1, g, P, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1, step),
                     GC_OK, "%s", gc_last_error());
        free(g);
    }
    cr_expect_lt(rel_err(p1, p0, P), 1e-6, "AdamW params: %g", rel_err(p1, p0, P));
    cr_expect_lt(rel_err(m1, o.m, P), 1e-6, "AdamW m");
    cr_expect_lt(rel_err(v1, o.v, P), 1e-6, "AdamW v");
    gc_adamw_free(&o);
    free(emb), free(e0), free(e1), free(p0), free(p1), free(m1), free(v1);
    gc_cuda_close(c);
}

/* SwiGLU and its backward through the per-thread kernels (on the GPU, or their code on the host) */
Test(cuda, swiglu_kernels_match_cpu) {
    gc_cuda *c = open_or_skip(0);
    enum { N = 19, H = 133 };
    float *a = randn(N * 2 * H, 20, 3.0f), *dg = randn(N * H, 21, 1.0f);
    float *g0 = malloc(sizeof(float) * N * H), *g1 = malloc(sizeof(float) * N * H);
    float *d0 = malloc(sizeof(float) * N * 2 * H), *d1 = malloc(sizeof(float) * N * 2 * H);
    gc_ops_swiglu(g0, a, N, H);
    gc_ops_swiglu_backward(d0, dg, a, N, H);
    cr_assert_eq(gc_cuda_swiglu(c, g1, a, N, H), GC_OK, "%s", gc_last_error());
    cr_assert_eq(gc_cuda_swiglu_backward(c, d1, dg, a, N, H), GC_OK, "%s", gc_last_error());
    cr_expect_lt(rel_err(g1, g0, N * H), 1e-5, "swiglu: %g", rel_err(g1, g0, N * H));
    cr_expect_lt(rel_err(d1, d0, N * 2 * H), 1e-5, "swiglu backward: %g", rel_err(d1, d0, N * 2 * H));
    free(a), free(dg), free(g0), free(g1), free(d0), free(d1);
    gc_cuda_close(c);
}

/* Activations of a forward built from the CUDA ops, kept for its backward. */
typedef struct {
    float *res, *xn1, *qkv, *ao, *h1, *xn2, *a13, *g; /* per layer, as gc_acts */
    float *rstd1, *rstd2, *hf, *rstdf, *logits;
} cuda_acts;

#define LAYER(p, l, n) ((p) + (size_t)(l) * (n))

/* The whole model's forward built from the CUDA ops, as gc_model_forward builds it from lib/ops. */
static void cuda_forward(gc_cuda *c, const gc_model *m, const int32_t *tok, int B, int T,
                         cuda_acts *a) {
    const gc_model_config *cf = &m->cfg;
    int N = B * T, D = cf->dim, H = cf->hidden_dim, nh = cf->n_heads, nkv = cf->n_kv_heads;
    int hs = D / nh, KV = nkv * hs, QKV = D + 2 * KV, V = cf->vocab_size, L = cf->n_layers;
    size_t ND = (size_t)N * D;
    a->res = malloc(sizeof(float) * (L + 1) * ND), a->xn1 = malloc(sizeof(float) * L * ND);
    a->qkv = malloc(sizeof(float) * L * N * QKV), a->ao = malloc(sizeof(float) * L * ND);
    a->h1 = malloc(sizeof(float) * L * ND), a->xn2 = malloc(sizeof(float) * L * ND);
    a->a13 = malloc(sizeof(float) * L * N * 2 * H), a->g = malloc(sizeof(float) * L * N * H);
    a->rstd1 = malloc(sizeof(float) * L * N), a->rstd2 = malloc(sizeof(float) * L * N);
    a->hf = malloc(sizeof(float) * ND), a->rstdf = malloc(sizeof(float) * N);
    a->logits = malloc(sizeof(float) * N * V);
    cr_assert_eq(gc_cuda_embedding(c, a->res, m->p.x[GC_T_EMB], V, tok, N, D), GC_OK);
    for (int l = 0; l < L; l++) {
        float *res = LAYER(a->res, l, ND), *xn1 = LAYER(a->xn1, l, ND), *ao = LAYER(a->ao, l, ND);
        float *qkv = LAYER(a->qkv, l, (size_t)N * QKV), *h1 = LAYER(a->h1, l, ND);
        float *xn2 = LAYER(a->xn2, l, ND), *a13 = LAYER(a->a13, l, (size_t)N * 2 * H);
        float *g = LAYER(a->g, l, (size_t)N * H), *out = LAYER(a->res, l + 1, ND);
        cr_assert_eq(gc_cuda_rmsnorm(c, xn1, a->rstd1 + l * N, res, m->p.x[GC_T_ATTN_NORM] + (size_t)l * D,
                                     N, D, cf->norm_eps), GC_OK);
        cr_assert_eq(gc_cuda_linear(c, qkv, xn1, m->p.x[GC_T_WQKV] + (size_t)l * QKV * D, N, D, QKV, 0),
                     GC_OK, "%s", gc_last_error());
        cr_assert_eq(gc_cuda_rope(c, qkv, QKV, 0, nh, hs, N, T, m->rope_cos, m->rope_sin, 0), GC_OK);
        cr_assert_eq(gc_cuda_rope(c, qkv, QKV, D, nkv, hs, N, T, m->rope_cos, m->rope_sin, 0), GC_OK);
        cr_assert_eq(gc_cuda_attention(c, ao, qkv, B, T, nh, nkv, hs), GC_OK);
        cr_assert_eq(gc_cuda_linear(c, h1, ao, m->p.x[GC_T_WO] + (size_t)l * D * D, N, D, D, 0), GC_OK);
        for (size_t i = 0; i < ND; i++) h1[i] += res[i];
        cr_assert_eq(gc_cuda_rmsnorm(c, xn2, a->rstd2 + l * N, h1, m->p.x[GC_T_FFN_NORM] + (size_t)l * D,
                                     N, D, cf->norm_eps), GC_OK);
        cr_assert_eq(gc_cuda_linear(c, a13, xn2, m->p.x[GC_T_W13] + (size_t)l * 2 * H * D, N, D, 2 * H, 0),
                     GC_OK);
        cr_assert_eq(gc_cuda_swiglu(c, g, a13, N, H), GC_OK);
        cr_assert_eq(gc_cuda_linear(c, out, g, m->p.x[GC_T_W2] + (size_t)l * D * H, N, H, D, 0), GC_OK);
        for (size_t i = 0; i < ND; i++) out[i] += h1[i];
    }
    cr_assert_eq(gc_cuda_rmsnorm(c, a->hf, a->rstdf, LAYER(a->res, L, ND), m->p.x[GC_T_FINAL_NORM], N,
                                 D, cf->norm_eps), GC_OK);
    cr_assert_eq(gc_cuda_linear(c, a->logits, a->hf, m->p.x[GC_T_CLS], N, D, V, 0), GC_OK);
}

/* Its backward from the CUDA ops, as gc_model_backward: the mean cross-entropy over targets >= 0;
 * parameter gradients into grads (laid out as m->grads; a tied classifier adds into the
 * embedding). Returns the loss. */
static double cuda_backward(gc_cuda *c, const gc_model *m, const int32_t *tok, const int32_t *tgt,
                            int B, int T, cuda_acts *a, float *grads) {
    const gc_model_config *cf = &m->cfg;
    int N = B * T, D = cf->dim, H = cf->hidden_dim, nh = cf->n_heads, nkv = cf->n_kv_heads;
    int hs = D / nh, KV = nkv * hs, QKV = D + 2 * KV, V = cf->vocab_size, L = cf->n_layers;
    size_t ND = (size_t)N * D;
    float *G[GC_N_TENSORS];
    for (int k = 0; k < GC_N_TENSORS; k++) G[k] = grads + m->tensors[k].offset;
    if (cf->tied) G[GC_T_CLS] = G[GC_T_EMB];
    int count = 0;
    for (int n = 0; n < N; n++) count += tgt[n] >= 0;
    float *dlogits = malloc(sizeof(float) * N * V), *dres = malloc(sizeof(float) * ND);
    float *dxn = malloc(sizeof(float) * ND), *tmp = malloc(sizeof(float) * ND);
    float *dg = malloc(sizeof(float) * N * H), *da13 = malloc(sizeof(float) * N * 2 * H);
    float *dao = malloc(sizeof(float) * ND), *dqkv = malloc(sizeof(float) * N * QKV);
    double sum;
    cr_assert_eq(gc_cuda_cross_entropy(c, dlogits, &sum, a->logits, tgt, N, V, 1.0f / count), GC_OK);
    cr_assert_eq(gc_cuda_linear_backward(c, dxn, G[GC_T_CLS], dlogits, a->hf, m->p.x[GC_T_CLS], N, D, V),
                 GC_OK);
    float *dw = malloc(sizeof(float) * D);
    cr_assert_eq(gc_cuda_rmsnorm_backward(c, dres, dw, dxn, LAYER(a->res, L, ND),
                                          m->p.x[GC_T_FINAL_NORM], a->rstdf, N, D), GC_OK);
    for (int i = 0; i < D; i++) G[GC_T_FINAL_NORM][i] += dw[i];
    for (int l = L - 1; l >= 0; l--) {
        /* MLP: dres holds d(res_out) and becomes d(h1) */
        cr_assert_eq(gc_cuda_linear_backward(c, dg, G[GC_T_W2] + (size_t)l * D * H, dres,
                                             LAYER(a->g, l, (size_t)N * H),
                                             m->p.x[GC_T_W2] + (size_t)l * D * H, N, H, D), GC_OK);
        cr_assert_eq(gc_cuda_swiglu_backward(c, da13, dg, LAYER(a->a13, l, (size_t)N * 2 * H), N, H), GC_OK);
        cr_assert_eq(gc_cuda_linear_backward(c, dxn, G[GC_T_W13] + (size_t)l * 2 * H * D, da13,
                                             LAYER(a->xn2, l, ND),
                                             m->p.x[GC_T_W13] + (size_t)l * 2 * H * D, N, D, 2 * H), GC_OK);
        cr_assert_eq(gc_cuda_rmsnorm_backward(c, tmp, dw, dxn, LAYER(a->h1, l, ND),
                                              m->p.x[GC_T_FFN_NORM] + (size_t)l * D, a->rstd2 + l * N,
                                              N, D), GC_OK);
        for (size_t i = 0; i < ND; i++) dres[i] += tmp[i];
        for (int i = 0; i < D; i++) G[GC_T_FFN_NORM][(size_t)l * D + i] += dw[i];
        /* attention: dres becomes d(res) */
        cr_assert_eq(gc_cuda_linear_backward(c, dao, G[GC_T_WO] + (size_t)l * D * D, dres,
                                             LAYER(a->ao, l, ND), m->p.x[GC_T_WO] + (size_t)l * D * D,
                                             N, D, D), GC_OK);
        cr_assert_eq(gc_cuda_attention_backward(c, dqkv, dao, LAYER(a->qkv, l, (size_t)N * QKV), B, T,
                                                nh, nkv, hs), GC_OK);
        cr_assert_eq(gc_cuda_rope(c, dqkv, QKV, 0, nh, hs, N, T, m->rope_cos, m->rope_sin, 1), GC_OK);
        cr_assert_eq(gc_cuda_rope(c, dqkv, QKV, D, nkv, hs, N, T, m->rope_cos, m->rope_sin, 1), GC_OK);
        cr_assert_eq(gc_cuda_linear_backward(c, dxn, G[GC_T_WQKV] + (size_t)l * QKV * D, dqkv,
                                             LAYER(a->xn1, l, ND),
                                             m->p.x[GC_T_WQKV] + (size_t)l * QKV * D, N, D, QKV), GC_OK);
        cr_assert_eq(gc_cuda_rmsnorm_backward(c, tmp, dw, dxn, LAYER(a->res, l, ND),
                                              m->p.x[GC_T_ATTN_NORM] + (size_t)l * D, a->rstd1 + l * N,
                                              N, D), GC_OK);
        for (size_t i = 0; i < ND; i++) dres[i] += tmp[i];
        for (int i = 0; i < D; i++) G[GC_T_ATTN_NORM][(size_t)l * D + i] += dw[i];
    }
    cr_assert_eq(gc_cuda_embedding_backward(c, G[GC_T_EMB], V, dres, tok, N, D), GC_OK);
    free(dlogits), free(dres), free(dxn), free(tmp), free(dg), free(da13), free(dao), free(dqkv), free(dw);
    return sum / count;
}

static void cuda_acts_free(cuda_acts *a) {
    free(a->res), free(a->xn1), free(a->qkv), free(a->ao), free(a->h1), free(a->xn2), free(a->a13);
    free(a->g), free(a->rstd1), free(a->rstd2), free(a->hf), free(a->rstdf), free(a->logits);
}

/* A whole forward and backward pass (tied and untied classifier, grouped-query attention) from
 * the CUDA ops gives gc_model_forward's logits, the loss and every parameter gradient of
 * gc_model_backward. */
Test(cuda, whole_model_forward_and_backward_match_cpu) {
    gc_cuda *c = open_or_skip(0);
    for (int tied = 0; tied < 2; tied++) {
        gc_model_config cf = th_tiny_config(tied);
        gc_model m;
        cr_assert_eq(gc_model_init(&m, &cf), GC_OK);
        th_init_weights(&m, 30 + tied);
        enum { B = 3, T = 8 };
        int32_t tok[B * T], tgt[B * T];
        for (int i = 0; i < B * T; i++) {
            tok[i] = (int32_t)((i * 5 + 3) % cf.vocab_size);
            tgt[i] = i % 5 == 0 ? -1 : (int32_t)((i * 7 + 1) % cf.vocab_size);
        }
        float loss;
        cr_assert_eq(gc_model_forward(&m, tok, B, T, 1), GC_OK);
        cr_assert_eq(gc_model_ce_loss(&m, tgt, 1.0f, &loss), GC_OK);
        gc_model_zero_grad(&m);
        cr_assert_eq(gc_model_backward(&m, NULL), GC_OK);
        cuda_acts a;
        cuda_forward(c, &m, tok, B, T, &a);
        double e = rel_err(a.logits, m.acts.logits, (size_t)B * T * cf.vocab_size);
        cr_expect_lt(e, 1e-4, "tied %d: logits differ by %g", tied, e);
        float *grads = calloc(m.n_params, sizeof(float));
        double l2 = cuda_backward(c, &m, tok, tgt, B, T, &a, grads);
        cr_expect_lt(fabs(l2 - loss), 1e-5, "tied %d: loss %g vs %g", tied, l2, loss);
        for (int k = 0; k < GC_N_TENSORS; k++) {
            const gc_tensor_info *ti = &m.tensors[k];
            double ek = rel_err(grads + ti->offset, m.grads + ti->offset, ti->size);
            cr_expect_lt(ek, 1e-4, "tied %d: gradient of %s differs by %g", tied, ti->name, ek);
        }
        free(grads);
        cuda_acts_free(&a);
        gc_model_free(&m);
    }
    gc_cuda_close(c);
}

/* Sampling one token per row, greedy, at temperature 0.8 and with top-p 0.9, with and without a
 * vocabulary mask:
 * the same tokens as gc_sampler_sample_rng given the same uniforms (exactly under the emulation;
 * on a GPU the device expf may move a token that sits on a CDF boundary, so 99% there). */
Test(cuda, sampling_matches_cpu) {
    gc_cuda *c = open_or_skip(0);
    char why[256];
    int on_gpu = gc_cuda_devices(why, sizeof why) > 0;
    enum { B = 500, V = 64 };
    float *lg = randn(B * V, 22, 2.0f), u[B];
    uint8_t allowed[V];
    for (int i = 0; i < V; i++) allowed[i] = i % 3 != 1;
    int32_t want[B], got[B];
    for (int masked = 0; masked < 2; masked++)
        for (int mode = 0; mode < 3; mode++) {
            float temp = mode ? 0.8f : 0.0f, top_p = mode == 2 ? 0.9f : 1.0f;
            gc_sampler s;
            cr_assert_eq(gc_sampler_init(&s, V, temp, top_p, 1), GC_OK);
            s.allowed = masked ? allowed : NULL;
            for (int b = 0; b < B; b++) {
                gc_rng r, r2;
                gc_rng_init(&r, 40, (uint64_t)b);
                r2 = r;
                want[b] = gc_sampler_sample_rng(&s, lg + (size_t)b * V, &r);
                u[b] = gc_rng_uniform(&r2); /* the uniform the CPU sampler drew */
            }
            gc_sampler_free(&s);
            cr_assert_eq(gc_cuda_sample(c, got, lg, B, V, temp, top_p, u, masked ? allowed : NULL),
                         GC_OK, "%s", gc_last_error());
            int same = 0;
            for (int b = 0; b < B; b++) same += got[b] == want[b];
            if (on_gpu)
                cr_expect_geq(same, B * 99 / 100, "temp %g top-p %g mask %d: %d of %d", temp, top_p,
                              masked, same, B);
            else
                cr_expect_eq(same, B, "temp %g top-p %g mask %d: %d of %d equal", temp, top_p,
                             masked, same, B);
        }
    free(lg);
    gc_cuda_close(c);
}
