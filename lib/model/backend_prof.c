#include "backend_prof.h"

#include <string.h>

static const char *const NAMES[GC_PROF_OPS] = {"embedding",
                                               "embedding_backward",
                                               "rmsnorm",
                                               "rmsnorm_backward",
                                               "linear",
                                               "linear_residual",
                                               "linear_backward",
                                               "rope",
                                               "attention",
                                               "attention_backward",
                                               "decode_attention",
                                               "decode_linear",
                                               "swiglu",
                                               "swiglu_backward",
                                               "add",
                                               "cross_entropy",
                                               "sumsq",
                                               "scale",
                                               "adamw"};

const char *gc_backend_prof_name(int op) {
    return op >= 0 && op < GC_PROF_OPS ? NAMES[op] : "?";
}

void gc_backend_prof_reset(gc_backend_prof *p) {
    memset(p->sec, 0, sizeof p->sec);
    memset(p->calls, 0, sizeof p->calls);
}

/* the inner backend and the profile of a timing backend */
#define PROF(be) ((gc_backend_prof *)(be)->ctx)

/* a timed forward of op `name` (index `id`) with the arguments after `be` */
#define TIMED(id, name, ...)                                                                       \
    gc_backend_prof *p = PROF(be);                                                                 \
    double t0 = gc_now();                                                                          \
    gc_status s = p->in->name(p->in, __VA_ARGS__);                                                 \
    p->sec[id] += gc_now() - t0, p->calls[id]++;                                                   \
    return s

static void *p_alloc(const gc_backend *be, size_t bytes) {
    return PROF(be)->in->alloc(PROF(be)->in, bytes);
}
static void p_free(const gc_backend *be, void *q) {
    PROF(be)->in->free(PROF(be)->in, q);
}
static gc_status p_upload(const gc_backend *be, void *dst, const void *host, size_t bytes) {
    return PROF(be)->in->upload(PROF(be)->in, dst, host, bytes);
}
static gc_status p_download(const gc_backend *be, void *host, const void *src, size_t bytes) {
    return PROF(be)->in->download(PROF(be)->in, host, src, bytes);
}
static gc_status p_copy(const gc_backend *be, void *dst, const void *src, size_t bytes) {
    return PROF(be)->in->copy(PROF(be)->in, dst, src, bytes);
}
static gc_status p_zero(const gc_backend *be, void *q, size_t bytes) {
    return PROF(be)->in->zero(PROF(be)->in, q, bytes);
}
static gc_status p_to_bf16(const gc_backend *be, void *dst, const float *src, size_t n) {
    return PROF(be)->in->to_bf16(PROF(be)->in, dst, src, n);
}

static gc_status p_embedding(const gc_backend *be, float *out, const float *emb,
                             const int32_t *tokens, int N, int D) {
    TIMED(GC_PROF_EMBEDDING, embedding, out, emb, tokens, N, D);
}
static gc_status p_embedding_backward(const gc_backend *be, float *demb, int V, const float *dout,
                                      const int32_t *tokens_host, int N, int D) {
    TIMED(GC_PROF_EMBEDDING_BACKWARD, embedding_backward, demb, V, dout, tokens_host, N, D);
}
static gc_status p_rmsnorm(const gc_backend *be, float *y, float *rstd, const float *x,
                           const float *w, int N, int D, float eps) {
    TIMED(GC_PROF_RMSNORM, rmsnorm, y, rstd, x, w, N, D, eps);
}
static gc_status p_rmsnorm_backward(const gc_backend *be, float *dx, int dx_acc, float *dw,
                                    const float *dy, const float *x, const float *w,
                                    const float *rstd, int N, int D) {
    TIMED(GC_PROF_RMSNORM_BACKWARD, rmsnorm_backward, dx, dx_acc, dw, dy, x, w, rstd, N, D);
}
static gc_status p_linear(const gc_backend *be, float *y, int ldy, const float *x, const float *W,
                          const void *Wb, int N, int in, int out) {
    TIMED(GC_PROF_LINEAR, linear, y, ldy, x, W, Wb, N, in, out);
}
static gc_status p_linear_residual(const gc_backend *be, float *y, const float *res, const float *x,
                                   const float *W, const void *Wb, int N, int in, int out) {
    TIMED(GC_PROF_LINEAR_RESIDUAL, linear_residual, y, res, x, W, Wb, N, in, out);
}
static gc_status p_linear_backward(const gc_backend *be, float *dx, int dx_acc, float *dW,
                                   const float *dy, int ldy, const float *x, const float *W,
                                   const void *Wb, int N, int in, int out) {
    TIMED(GC_PROF_LINEAR_BACKWARD, linear_backward, dx, dx_acc, dW, dy, ldy, x, W, Wb, N, in, out);
}
static gc_status p_rope(const gc_backend *be, float *x, int ld, int off, int nheads, int hs, int N,
                        int T, const float *cos_t, const float *sin_t, int inverse,
                        const int32_t *pos) {
    TIMED(GC_PROF_ROPE, rope, x, ld, off, nheads, hs, N, T, cos_t, sin_t, inverse, pos);
}
static gc_status p_attention(const gc_backend *be, float *out, void *att, const float *qkv, int B,
                             int T, int nh, int nkv, int hs, const int32_t *len) {
    TIMED(GC_PROF_ATTENTION, attention, out, att, qkv, B, T, nh, nkv, hs, len);
}
static gc_status p_attention_backward(const gc_backend *be, float *dqkv, const float *dout,
                                      const void *att, const float *qkv, int B, int T, int nh,
                                      int nkv, int hs, const int32_t *len) {
    TIMED(GC_PROF_ATTENTION_BACKWARD, attention_backward, dqkv, dout, att, qkv, B, T, nh, nkv, hs,
          len);
}
static gc_status p_decode_attention(const gc_backend *be, float *out, float *scores, float *k,
                                    float *v, const float *qkv, const int32_t *pos,
                                    const uint8_t *active, int B, int Tm, int nh, int nkv, int hs) {
    TIMED(GC_PROF_DECODE_ATTENTION, decode_attention, out, scores, k, v, qkv, pos, active, B, Tm,
          nh, nkv, hs);
}
static gc_status p_decode_linear(const gc_backend *be, float *y, int ldy, const float *res,
                                 const float *x, const float *W, const void *Wb, int N, int in,
                                 int out) {
    TIMED(GC_PROF_DECODE_LINEAR, decode_linear, y, ldy, res, x, W, Wb, N, in, out);
}
static gc_status p_swiglu(const gc_backend *be, float *g, const float *a13, int N, int H) {
    TIMED(GC_PROF_SWIGLU, swiglu, g, a13, N, H);
}
static gc_status p_swiglu_backward(const gc_backend *be, float *da13, const float *dg,
                                   const float *a13, int N, int H) {
    TIMED(GC_PROF_SWIGLU_BACKWARD, swiglu_backward, da13, dg, a13, N, H);
}
static gc_status p_add(const gc_backend *be, float *y, const float *x, size_t n) {
    TIMED(GC_PROF_ADD, add, y, x, n);
}
static gc_status p_cross_entropy(const gc_backend *be, float *dlogits, const float *logits,
                                 const int32_t *targets, int N, int V, float scale, double *sum) {
    TIMED(GC_PROF_CROSS_ENTROPY, cross_entropy, dlogits, logits, targets, N, V, scale, sum);
}
static gc_status p_sumsq(const gc_backend *be, const float *x, size_t n, double *out) {
    TIMED(GC_PROF_SUMSQ, sumsq, x, n, out);
}
static gc_status p_scale(const gc_backend *be, float *x, size_t n, float k) {
    TIMED(GC_PROF_SCALE, scale, x, n, k);
}
static gc_status p_adamw(const gc_backend *be, float *pp, float *m, float *v, const float *g,
                         size_t n, float lr, float beta1, float beta2, float eps,
                         float weight_decay, int decay, int64_t step) {
    TIMED(GC_PROF_ADAMW, adamw, pp, m, v, g, n, lr, beta1, beta2, eps, weight_decay, decay, step);
}

void gc_backend_prof_init(gc_backend_prof *p, const gc_backend *inner) {
    memset(p, 0, sizeof *p);
    p->in = inner;
    p->be = *inner; /* name, precision, host, shadow, att_bytes as the inner backend's */
    p->be.ctx = p;
    p->be.alloc = p_alloc, p->be.free = p_free, p->be.upload = p_upload;
    p->be.download = p_download, p->be.copy = p_copy, p->be.zero = p_zero;
    p->be.to_bf16 = inner->to_bf16 ? p_to_bf16 : NULL;
    p->be.embedding = p_embedding, p->be.embedding_backward = p_embedding_backward;
    p->be.rmsnorm = p_rmsnorm, p->be.rmsnorm_backward = p_rmsnorm_backward;
    p->be.linear = p_linear, p->be.linear_residual = p_linear_residual;
    p->be.linear_backward = p_linear_backward, p->be.rope = p_rope;
    p->be.attention = p_attention, p->be.attention_backward = p_attention_backward;
    p->be.decode_attention = p_decode_attention, p->be.swiglu = p_swiglu;
    p->be.swiglu_backward = p_swiglu_backward, p->be.add = p_add;
    p->be.cross_entropy = p_cross_entropy, p->be.sumsq = p_sumsq, p->be.scale = p_scale;
    p->be.adamw = p_adamw;
    p->be.decode_linear = inner->decode_linear ? p_decode_linear : NULL;
}
