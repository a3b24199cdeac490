/* The CUDA entry points of a build without nvcc: each says so (see kernels/cuda.h). */
#include "cuda.h"

#include <stdio.h>

static const char NO_CUDA[] = "this build has no CUDA backend (nvcc was not found when it was "
                              "built; install the CUDA toolkit and rebuild)";

int gc_cuda_devices(char *why, size_t cap) {
    if (why && cap) snprintf(why, cap, "%s", NO_CUDA);
    return 0;
}

gc_status gc_cuda_describe(char *buf, size_t cap) {
    if (buf && cap) buf[0] = 0;
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_open(gc_cuda **out) {
    *out = NULL;
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_open_emulated(gc_cuda **out) {
    *out = NULL;
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

void gc_cuda_close(gc_cuda *c) { (void)c; }

gc_status gc_cuda_linear(gc_cuda *c, float *y, const float *x, const float *W, int N, int in,
                         int out, int tf32) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_rmsnorm(gc_cuda *c, float *y, float *rstd, const float *x, const float *w, int N,
                          int D, float eps) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_swiglu(gc_cuda *c, float *g, const float *a13, int N, int H) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_rmsnorm_backward(gc_cuda *c, float *dx, float *dw, const float *dy,
                                   const float *x, const float *w, const float *rstd, int N, int D) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_swiglu_backward(gc_cuda *c, float *da13, const float *dg, const float *a13, int N,
                                  int H) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_cross_entropy(gc_cuda *c, float *dlogits, double *sum, const float *logits,
                                const int32_t *targets, int N, int V, float scale) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_attention(gc_cuda *c, float *out, const float *qkv, int B, int T, int nh,
                            int nkv, int hs) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_embedding(gc_cuda *c, float *out, const float *emb, int V, const int32_t *tokens,
                            int N, int D) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_rope(gc_cuda *c, float *x, int ld, int off, int nheads, int hs, int N, int T,
                       const float *cos_t, const float *sin_t, int inverse) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_adamw(gc_cuda *c, float *params, float *m, float *v, const float *grads, size_t n,
                        float lr, float beta1, float beta2, float eps, float weight_decay,
                        int decay, int64_t step) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_attention_backward(gc_cuda *c, float *dqkv, const float *dout, const float *qkv,
                                     int B, int T, int nh, int nkv, int hs) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_linear_backward(gc_cuda *c, float *dx, float *dW, const float *dy, const float *x,
                                  const float *W, int N, int in, int out) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_embedding_backward(gc_cuda *c, float *demb, int V, const float *dout,
                                     const int32_t *tokens, int N, int D) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}

gc_status gc_cuda_sample(gc_cuda *c, int32_t *out, const float *logits, int B, int V,
                         float temperature, float top_p, const float *u, const uint8_t *allowed) {
    return gc_fail(GC_ERR_DEVICE, "%s", NO_CUDA);
}
