/* cuda_backend: the CUDA backend of lib/model/backend.h — its memory functions and ops are the
 * kernels of kernels/cuda_api.h on device buffers, at the backend's precision. The layer sequence
 * is lib/model/model.c's; this file only binds the table. The residual connection is a copy of the
 * residual followed by the matmul accumulating into it (cuBLAS beta = 1). At BF16 the model keeps
 * a bf16 shadow of its parameters (shadow = 1) and the attention probabilities are stored in bf16
 * (att_bytes = 2). */
#include <string.h>

extern "C" {
#include "lib/model/backend.h"
}
#include "cuda_internal.h"

struct cuda_be {
    gc_backend be; /* first: the backend pointer is the struct's */
    gc_cuda *c;
    gc_precision p;
};

static gc_cuda *H(const gc_backend *be) {
    return ((const cuda_be *)be)->c;
}

static gc_precision PR(const gc_backend *be) {
    return ((const cuda_be *)be)->p;
}

static void *b_alloc(const gc_backend *be, size_t bytes) {
    return gc_cuda_alloc(H(be), bytes);
}

static void b_free(const gc_backend *be, void *p) {
    gc_cuda_free(H(be), p);
}

static gc_status b_upload(const gc_backend *be, void *dst, const void *host, size_t bytes) {
    return gc_cuda_upload(H(be), dst, host, bytes);
}

static gc_status b_download(const gc_backend *be, void *host, const void *src, size_t bytes) {
    return gc_cuda_download(H(be), host, src, bytes);
}

static gc_status b_copy(const gc_backend *be, void *dst, const void *src, size_t bytes) {
    return gc_cuda_copy(H(be), dst, src, bytes);
}

static gc_status b_zero(const gc_backend *be, void *p, size_t bytes) {
    return gc_cuda_zero(H(be), p, bytes);
}

static gc_status b_to_bf16(const gc_backend *be, void *dst, const float *src, size_t n) {
    return gc_cuda_to_bf16(H(be), (uint16_t *)dst, src, n);
}

static gc_status b_embedding(const gc_backend *be, float *out, const float *emb,
                             const int32_t *tokens, int N, int D) {
    return gc_cuda_embedding(H(be), out, emb, tokens, N, D);
}

static gc_status b_embedding_backward(const gc_backend *be, float *demb, int V, const float *dout,
                                      const int32_t *tokens_host, int N, int D) {
    return gc_cuda_embedding_backward(H(be), demb, V, dout, tokens_host, N, D);
}

static gc_status b_rmsnorm(const gc_backend *be, float *y, float *rstd, const float *x,
                           const float *w, int N, int D, float eps) {
    return gc_cuda_rmsnorm(H(be), y, rstd, x, w, N, D, eps);
}

static gc_status b_rmsnorm_backward(const gc_backend *be, float *dx, int dx_acc, float *dw,
                                    const float *dy, const float *x, const float *w,
                                    const float *rstd, int N, int D) {
    return gc_cuda_rmsnorm_backward(H(be), dx, dx_acc, dw, dy, x, w, rstd, N, D);
}

static gc_status b_linear(const gc_backend *be, float *y, int ldy, const float *x, const float *W,
                          const void *Wb, int N, int in, int out) {
    return gc_cuda_linear(H(be), PR(be), y, ldy, 0, x, W, (const uint16_t *)Wb, N, in, out);
}

static gc_status b_linear_residual(const gc_backend *be, float *y, const float *res, const float *x,
                                   const float *W, const void *Wb, int N, int in, int out) {
    GC_TRY(gc_cuda_copy(H(be), y, res, sizeof(float) * (size_t)N * out));
    return gc_cuda_linear(H(be), PR(be), y, out, 1, x, W, (const uint16_t *)Wb, N, in, out);
}

static gc_status b_linear_backward(const gc_backend *be, float *dx, int dx_acc, float *dW,
                                   const float *dy, int ldy, const float *x, const float *W,
                                   const void *Wb, int N, int in, int out) {
    return gc_cuda_linear_backward(H(be), PR(be), dx, dx_acc, dW, dy, ldy, x, W,
                                   (const uint16_t *)Wb, N, in, out);
}

static gc_status b_rope(const gc_backend *be, float *x, int ld, int off, int nheads, int hs, int N,
                        int T, const float *cos_t, const float *sin_t, int inverse,
                        const int32_t *pos) {
    return gc_cuda_rope(H(be), x, ld, off, nheads, hs, N, T, cos_t, sin_t, inverse, pos);
}

static gc_status b_attention(const gc_backend *be, float *out, void *att, const float *qkv, int B,
                             int T, int nh, int nkv, int hs, const int32_t *len) {
    return gc_cuda_attention(H(be), PR(be), out, att, qkv, B, T, nh, nkv, hs, len);
}

/* padding rows have zero probabilities (gc_cuda_attention), so no lengths are needed */
static gc_status b_attention_backward(const gc_backend *be, float *dqkv, const float *dout,
                                      const void *att, const float *qkv, int B, int T, int nh,
                                      int nkv, int hs, const int32_t *len) {
    (void)len;
    return gc_cuda_attention_backward(H(be), PR(be), dqkv, dout, att, qkv, B, T, nh, nkv, hs);
}

static gc_status b_decode_attention(const gc_backend *be, float *out, float *scores, float *k,
                                    float *v, const float *qkv, const int32_t *pos,
                                    const uint8_t *active, int B, int Tm, int nh, int nkv, int hs) {
    (void)scores;
    return gc_cuda_decode_attention(H(be), out, k, v, qkv, pos, active, B, Tm, nh, nkv, hs);
}

static gc_status b_swiglu(const gc_backend *be, float *g, const float *a13, int N, int Hd) {
    return gc_cuda_swiglu(H(be), g, a13, N, Hd);
}

static gc_status b_swiglu_backward(const gc_backend *be, float *da13, const float *dg,
                                   const float *a13, int N, int Hd) {
    return gc_cuda_swiglu_backward(H(be), da13, dg, a13, N, Hd);
}

static gc_status b_add(const gc_backend *be, float *y, const float *x, size_t n) {
    return gc_cuda_add(H(be), y, x, n);
}

static gc_status b_cross_entropy(const gc_backend *be, float *dlogits, const float *logits,
                                 const int32_t *targets, int N, int V, float scale, double *sum) {
    return gc_cuda_cross_entropy(H(be), dlogits, sum, logits, targets, N, V, scale);
}

static gc_status b_sumsq(const gc_backend *be, const float *x, size_t n, double *out) {
    return gc_cuda_sumsq(H(be), x, n, out);
}

static gc_status b_scale(const gc_backend *be, float *x, size_t n, float k) {
    return gc_cuda_scale(H(be), x, n, k);
}

static gc_status b_adamw(const gc_backend *be, float *p, float *m, float *v, const float *g,
                         size_t n, float lr, float beta1, float beta2, float eps,
                         float weight_decay, int decay, int64_t step) {
    return gc_cuda_adamw(H(be), p, m, v, g, n, lr, beta1, beta2, eps, weight_decay, decay, step);
}

static gc_backend table(gc_precision p) {
    gc_backend b;
    memset(&b, 0, sizeof b);
    b.host = 0;
    b.shadow = p == GC_PREC_BF16;
    b.att_bytes = p == GC_PREC_BF16 ? 2 : 4;
    b.alloc = b_alloc, b.free = b_free, b.upload = b_upload, b.download = b_download;
    b.copy = b_copy, b.zero = b_zero, b.to_bf16 = b_to_bf16;
    b.embedding = b_embedding, b.embedding_backward = b_embedding_backward;
    b.rmsnorm = b_rmsnorm, b.rmsnorm_backward = b_rmsnorm_backward;
    b.linear = b_linear, b.linear_residual = b_linear_residual;
    b.linear_backward = b_linear_backward, b.rope = b_rope;
    b.attention = b_attention, b.attention_backward = b_attention_backward;
    b.decode_attention = b_decode_attention;
    b.swiglu = b_swiglu, b.swiglu_backward = b_swiglu_backward, b.add = b_add;
    b.cross_entropy = b_cross_entropy, b.sumsq = b_sumsq, b.scale = b_scale, b.adamw = b_adamw;
    return b;
}

extern "C" gc_status gc_cuda_backend(gc_cuda *c, gc_precision p, const gc_backend **out) {
    if ((unsigned)p > GC_PREC_BF16)
        return gc_fail(GC_ERR_ARG, "cuda: unknown precision %d", (int)p);
    if (!c->backends[p]) {
        cuda_be *b = (cuda_be *)calloc(1, sizeof *b);
        if (!b) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
        b->be = table(p);
        b->c = c;
        b->p = p;
        b->be.ctx = b;
        b->be.name = c->emulate ? "cuda-emulated" : "cuda";
        b->be.precision = gc_precision_name(p);
        c->backends[p] = b;
    }
    *out = &((cuda_be *)c->backends[p])->be;
    return GC_OK;
}

void gc_cuda_backends_free(gc_cuda *c) {
    for (void *&b : c->backends)
        free(b), b = NULL;
}
