/* The CPU backend (backend.h): lib/model/ops.c on host memory. Each op is its ops.c twin; the
 * residual connection is the matmul followed by the addition, and decoding's attention stores the
 * step's keys and values before attending. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "ops.h"
#include "optim.h"

_Static_assert(sizeof(int) == sizeof(int32_t), "lengths pass to ops.c as they are");

static void *cpu_alloc(const gc_backend *be, size_t bytes) {
    (void)be;
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) gc_fail(GC_ERR_NOMEM, "out of memory (%zu bytes)", bytes);
    return p;
}

static void cpu_free(const gc_backend *be, void *p) {
    (void)be;
    free(p);
}

static gc_status cpu_copy(const gc_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
    return GC_OK;
}

static gc_status cpu_zero(const gc_backend *be, void *p, size_t bytes) {
    (void)be;
    if (bytes) memset(p, 0, bytes);
    return GC_OK;
}

static gc_status cpu_embedding(const gc_backend *be, float *out, const float *emb,
                               const int32_t *tokens, int N, int D) {
    (void)be;
    gc_ops_embedding(out, emb, tokens, N, D);
    return GC_OK;
}

static gc_status cpu_embedding_backward(const gc_backend *be, float *demb, int V, const float *dout,
                                        const int32_t *tokens, int N, int D) {
    (void)be, (void)V;
    gc_ops_embedding_backward(demb, dout, tokens, N, D);
    return GC_OK;
}

static gc_status cpu_rmsnorm(const gc_backend *be, float *y, float *rstd, const float *x,
                             const float *w, int N, int D, float eps) {
    (void)be;
    gc_ops_rmsnorm(y, rstd, x, w, N, D, eps);
    return GC_OK;
}

static gc_status cpu_rmsnorm_backward(const gc_backend *be, float *dx, int dx_acc, float *dw,
                                      const float *dy, const float *x, const float *w,
                                      const float *rstd, int N, int D) {
    (void)be;
    gc_ops_rmsnorm_backward(dx, dx_acc, dw, dy, x, w, rstd, N, D);
    return GC_OK;
}

static gc_status cpu_linear(const gc_backend *be, float *y, int ldy, const float *x, const float *W,
                            const void *Wb, int N, int in, int out) {
    (void)be, (void)Wb;
    gc_ops_linear(y, ldy, x, W, N, in, out);
    return GC_OK;
}

static gc_status cpu_linear_residual(const gc_backend *be, float *y, const float *res,
                                     const float *x, const float *W, const void *Wb, int N, int in,
                                     int out) {
    (void)be, (void)Wb;
    gc_ops_linear_residual(y, res, x, W, N, in, out);
    return GC_OK;
}

static gc_status cpu_decode_linear(const gc_backend *be, float *y, int ldy, const float *res,
                                   const float *x, const float *W, const void *Wb, int N, int in,
                                   int out) {
    (void)be, (void)Wb;
    gc_ops_linear_rows(y, ldy, res, x, W, N, in, out);
    return GC_OK;
}

static gc_status cpu_linear_backward(const gc_backend *be, float *dx, int dx_acc, float *dW,
                                     const float *dy, int ldy, const float *x, const float *W,
                                     const void *Wb, int N, int in, int out) {
    (void)be, (void)Wb;
    gc_ops_linear_backward(dx, dx_acc, dW, dy, ldy, x, W, N, in, out);
    return GC_OK;
}

static gc_status cpu_rope(const gc_backend *be, float *x, int ld, int off, int nheads, int hs,
                          int N, int T, const float *cos_t, const float *sin_t, int inverse,
                          const int32_t *pos) {
    (void)be;
    if (pos && inverse) return gc_fail(GC_ERR_ARG, "rope: the inverse rotation takes no positions");
    if (pos)
        gc_ops_rope_at(x, ld, off, nheads, hs, N, pos, cos_t, sin_t);
    else
        gc_ops_rope(x, ld, off, nheads, hs, N, T, cos_t, sin_t, inverse);
    return GC_OK;
}

static gc_status cpu_attention(const gc_backend *be, float *out, void *att, const float *qkv, int B,
                               int T, int nh, int nkv, int hs, const int32_t *len) {
    (void)be;
    gc_ops_attention(out, att, qkv, B, T, nh, nkv, hs, (const int *)len);
    return GC_OK;
}

static gc_status cpu_attention_backward(const gc_backend *be, float *dqkv, const float *dout,
                                        const void *att, const float *qkv, int B, int T, int nh,
                                        int nkv, int hs, const int32_t *len) {
    (void)be;
    gc_ops_attention_backward(dqkv, dout, att, qkv, B, T, nh, nkv, hs, (const int *)len);
    return GC_OK;
}

static gc_status cpu_decode_attention(const gc_backend *be, float *out, float *scores, float *k,
                                      float *v, const float *qkv, const int32_t *pos,
                                      const uint8_t *active, int B, int Tm, int nh, int nkv,
                                      int hs) {
    (void)be;
    gc_ops_kv_store(k, v, qkv, B, Tm, nh, nkv, hs, pos);
    gc_ops_attention_decode(out, scores, qkv, k, v, B, Tm, nh, nkv, hs, pos, active);
    return GC_OK;
}

static gc_status cpu_swiglu(const gc_backend *be, float *g, const float *a13, int N, int H) {
    (void)be;
    gc_ops_swiglu(g, a13, N, H);
    return GC_OK;
}

static gc_status cpu_swiglu_backward(const gc_backend *be, float *da13, const float *dg,
                                     const float *a13, int N, int H) {
    (void)be;
    gc_ops_swiglu_backward(da13, dg, a13, N, H);
    return GC_OK;
}

static gc_status cpu_add(const gc_backend *be, float *y, const float *x, size_t n) {
    (void)be;
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
    return GC_OK;
}

static gc_status cpu_cross_entropy(const gc_backend *be, float *dlogits, const float *logits,
                                   const int32_t *targets, int N, int V, float scale, double *sum) {
    (void)be;
    return gc_ops_cross_entropy(dlogits, logits, targets, N, V, scale, sum);
}

static gc_status cpu_sumsq(const gc_backend *be, const float *x, size_t n, double *out) {
    (void)be;
    *out = gc_ops_sumsq(x, n);
    return GC_OK;
}

static gc_status cpu_scale(const gc_backend *be, float *x, size_t n, float k) {
    (void)be;
    GC_PAR_FOR(n, for (size_t i = 0; i < n; i++) x[i] *= k;);
    return GC_OK;
}

static gc_status cpu_adamw(const gc_backend *be, float *p, float *m, float *v, const float *g,
                           size_t n, float lr, float beta1, float beta2, float eps,
                           float weight_decay, int decay, int64_t step) {
    (void)be;
    gc_adamw_update(p, m, v, g, n, lr, beta1, beta2, eps, weight_decay, decay, step);
    return GC_OK;
}

static const gc_backend cpu = {
    .name = "cpu",
    .precision = "fp32",
    .host = 1,
    .att_bytes = sizeof(float),
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .copy = cpu_copy,
    .zero = cpu_zero,
    .embedding = cpu_embedding,
    .embedding_backward = cpu_embedding_backward,
    .rmsnorm = cpu_rmsnorm,
    .rmsnorm_backward = cpu_rmsnorm_backward,
    .linear = cpu_linear,
    .linear_residual = cpu_linear_residual,
    .decode_linear = cpu_decode_linear,
    .linear_backward = cpu_linear_backward,
    .rope = cpu_rope,
    .attention = cpu_attention,
    .attention_backward = cpu_attention_backward,
    .decode_attention = cpu_decode_attention,
    .swiglu = cpu_swiglu,
    .swiglu_backward = cpu_swiglu_backward,
    .add = cpu_add,
    .cross_entropy = cpu_cross_entropy,
    .sumsq = cpu_sumsq,
    .scale = cpu_scale,
    .adamw = cpu_adamw,
};

const gc_backend *gc_backend_cpu(void) {
    return &cpu;
}
