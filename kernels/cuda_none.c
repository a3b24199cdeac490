/* The CUDA entry points of a build without nvcc: each says so (see kernels/cuda_api.h). Opening a
 * handle fails, so the ops below are never reached with one; they exist for the linker. */
#include "kernels/cuda_api.h"

#include <stdio.h>
#include <string.h>

static const char NO_CUDA[] = "this build has no CUDA backend (nvcc was not found when it was "
                              "built; install the CUDA toolkit and rebuild)";

static gc_status no_cuda(void) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

int gc_cuda_devices(char *why, size_t cap) {
    if (why && cap) snprintf(why, cap, "%s", NO_CUDA);
    return 0;
}

gc_status gc_cuda_describe(char *buf, size_t cap) {
    if (buf && cap) buf[0] = 0;
    return no_cuda();
}

const char *gc_precision_name(gc_precision p) {
    return p == GC_PREC_FP32 ? "fp32" : p == GC_PREC_TF32 ? "tf32" : "bf16";
}

gc_status gc_precision_parse(const char *name, gc_precision *out) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, gc_precision_name((gc_precision)i))) {
            *out = (gc_precision)i;
            return GC_OK;
        }
    return gc_fail(GC_ERR_ARG, "unknown precision '%s' (expected fp32, tf32 or bf16)", name);
}

gc_status gc_cuda_open(gc_cuda **out) {
    *out = NULL;
    return no_cuda();
}

gc_status gc_cuda_open_emulated(gc_cuda **out) {
    *out = NULL;
    return no_cuda();
}

void gc_cuda_close(gc_cuda *c) {}

int gc_cuda_is_emulated(const gc_cuda *c) {
    return 0;
}

void *gc_cuda_alloc(gc_cuda *c, size_t bytes) {
    no_cuda();
    return NULL;
}

void gc_cuda_free(gc_cuda *c, void *p) {}

gc_status gc_cuda_upload(gc_cuda *c, void *dev, const void *host, size_t bytes) {
    return no_cuda();
}

gc_status gc_cuda_download(gc_cuda *c, void *host, const void *dev, size_t bytes) {
    return no_cuda();
}

gc_status gc_cuda_copy(gc_cuda *c, void *dst, const void *src, size_t bytes) {
    return no_cuda();
}

gc_status gc_cuda_zero(gc_cuda *c, void *dev, size_t bytes) {
    return no_cuda();
}

gc_status gc_cuda_sync(gc_cuda *c) {
    return no_cuda();
}

gc_status gc_cuda_gemm(gc_cuda *c, gc_precision p, int transA, int transB, int M, int N, int K,
                       float alpha, const float *A, int lda, long long strideA, const float *B,
                       int ldb, long long strideB, float beta, float *C, int ldc, long long strideC,
                       int batch) {
    return no_cuda();
}

gc_status gc_cuda_linear(gc_cuda *c, gc_precision p, float *y, int ldy, int acc, const float *x,
                         const float *W, const uint16_t *Wb, int N, int in, int out) {
    return no_cuda();
}

gc_status gc_cuda_linear_backward(gc_cuda *c, gc_precision p, float *dx, int dx_acc, float *dW,
                                  const float *dy, int ldy, const float *x, const float *W,
                                  const uint16_t *Wb, int N, int in, int out) {
    return no_cuda();
}

gc_status gc_cuda_embedding(gc_cuda *c, float *out, const float *emb, const int32_t *tokens, int N,
                            int D) {
    return no_cuda();
}

gc_status gc_cuda_embedding_backward(gc_cuda *c, float *demb, int V, const float *dout,
                                     const int32_t *tokens_host, int N, int D) {
    return no_cuda();
}

gc_status gc_cuda_rmsnorm(gc_cuda *c, float *y, float *rstd, const float *x, const float *w, int N,
                          int D, float eps) {
    return no_cuda();
}

gc_status gc_cuda_rmsnorm_backward(gc_cuda *c, float *dx, int dx_acc, float *dw, const float *dy,
                                   const float *x, const float *w, const float *rstd, int N,
                                   int D) {
    return no_cuda();
}

gc_status gc_cuda_rope(gc_cuda *c, float *x, int ld, int off, int nheads, int hs, int N, int T,
                       const float *cos_t, const float *sin_t, int inverse, const int32_t *pos) {
    return no_cuda();
}

gc_status gc_cuda_swiglu(gc_cuda *c, float *g, const float *a13, int N, int H) {
    return no_cuda();
}

gc_status gc_cuda_swiglu_backward(gc_cuda *c, float *da13, const float *dg, const float *a13, int N,
                                  int H) {
    return no_cuda();
}

gc_status gc_cuda_add(gc_cuda *c, float *y, const float *x, size_t n) {
    return no_cuda();
}

gc_status gc_cuda_cross_entropy(gc_cuda *c, float *dlogits, double *sum, const float *logits,
                                const int32_t *targets, int N, int V, float scale) {
    return no_cuda();
}

gc_status gc_cuda_attention(gc_cuda *c, gc_precision p, float *out, void *att, const float *qkv,
                            int B, int T, int nh, int nkv, int hs, const int32_t *len) {
    return no_cuda();
}

gc_status gc_cuda_attention_backward(gc_cuda *c, gc_precision p, float *dqkv, const float *dout,
                                     const void *att, const float *qkv, int B, int T, int nh,
                                     int nkv, int hs) {
    return no_cuda();
}

gc_status gc_cuda_adamw(gc_cuda *c, float *params, float *m, float *v, const float *grads, size_t n,
                        float lr, float beta1, float beta2, float eps, float weight_decay,
                        int decay, int64_t step) {
    return no_cuda();
}

gc_status gc_cuda_sumsq(gc_cuda *c, const float *x, size_t n, double *out) {
    return no_cuda();
}

gc_status gc_cuda_scale(gc_cuda *c, float *x, size_t n, float k) {
    return no_cuda();
}

gc_status gc_cuda_decode_attention(gc_cuda *c, float *o, float *kc, float *vc, const float *qkv,
                                   const int32_t *pos, const uint8_t *active, int B, int maxT,
                                   int nh, int nkv, int hs) {
    return no_cuda();
}

gc_status gc_cuda_backend(gc_cuda *c, gc_precision p, const gc_backend **out) {
    *out = NULL;
    return no_cuda();
}

gc_status gc_cuda_gemm_ex(gc_cuda *c, gc_precision p, int transA, int transB, int M, int N, int K,
                          float alpha, gc_operand A, int lda, long long strideA, gc_operand B,
                          int ldb, long long strideB, float beta, float *C, int ldc,
                          long long strideC, int batch) {
    return no_cuda();
}

gc_status gc_cuda_to_bf16(gc_cuda *c, uint16_t *dst, const float *src, size_t n) {
    return no_cuda();
}

void gc_cuda_profile(gc_cuda *c, int on) {}

int gc_cuda_profile_read(const gc_cuda *c, const char **names, double *seconds, long *calls,
                         int cap) {
    return 0;
}
