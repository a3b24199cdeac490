/* cuda_core: the handle (device or emulated), device memory, scratch slots, the cuBLAS matmuls in
 * three precisions, and the optimiser's elementwise ops (kernels/cuda_api.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_internal.h"

extern "C" int gc_cuda_devices(char *why, size_t cap) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        if (why && cap) snprintf(why, cap, "no usable CUDA device: %s", cudaGetErrorString(e));
        return 0;
    }
    if (n == 0 && why && cap) snprintf(why, cap, "no CUDA device on this machine");
    return n;
}

extern "C" gc_status gc_cuda_describe(char *buf, size_t cap) {
    cudaDeviceProp p;
    CU_TRY(cudaGetDeviceProperties(&p, 0));
    snprintf(buf, cap, "%s, %.1f GiB, compute capability %d.%d, %d SMs", p.name,
             (double)p.totalGlobalMem / (1 << 30), p.major, p.minor, p.multiProcessorCount);
    return GC_OK;
}

static const char *const prec_names[] = {"fp32", "tf32", "bf16"};

extern "C" const char *gc_precision_name(gc_precision p) {
    return (unsigned)p < 3 ? prec_names[p] : "?";
}

extern "C" gc_status gc_precision_parse(const char *name, gc_precision *out) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, prec_names[i]) == 0) {
            *out = (gc_precision)i;
            return GC_OK;
        }
    return gc_fail(GC_ERR_ARG, "unknown precision '%s' (expected fp32, tf32 or bf16)", name);
}

extern "C" gc_status gc_cuda_open(gc_cuda **out) {
    *out = NULL;
    char why[256];
    if (gc_cuda_devices(why, sizeof why) == 0) return gc_fail(GC_ERR_DEVICE, "%s", why);
    CU_TRY(cudaSetDevice(0));
    gc_cuda *c = (gc_cuda *)calloc(1, sizeof *c);
    if (!c) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    if (cudaStreamCreate(&c->stream) != cudaSuccess) {
        free(c);
        return gc_fail(GC_ERR_DEVICE, "cuda: cannot create a stream");
    }
    if (cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS ||
        cublasSetStream(c->blas, c->stream) != CUBLAS_STATUS_SUCCESS) {
        cudaStreamDestroy(c->stream);
        free(c);
        return gc_fail(GC_ERR_DEVICE, "cuda: cublasCreate failed");
    }
    *out = c;
    return GC_OK;
}

extern "C" gc_status gc_cuda_open_emulated(gc_cuda **out) {
    *out = (gc_cuda *)calloc(1, sizeof **out);
    if (!*out) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    (*out)->emulate = 1;
    return GC_OK;
}

void gc_cuda_backends_free(gc_cuda *c); /* cuda_backend.cu */

extern "C" void gc_cuda_close(gc_cuda *c) {
    if (!c) return;
    gc_cuda_backends_free(c);
    for (int i = 0; i < N_SCR; i++)
        gc_cuda_free(c, c->scr[i]);
    if (!c->emulate) {
        cublasDestroy(c->blas);
        cudaStreamDestroy(c->stream);
    }
    free(c);
}

extern "C" int gc_cuda_is_emulated(const gc_cuda *c) {
    return c->emulate;
}

extern "C" void gc_cuda_profile(gc_cuda *c, int on) {
    if (on && !c->profile) c->n_prof = 0, c->depth = 0;
    c->profile = on;
}

extern "C" int gc_cuda_profile_read(const gc_cuda *c, const char **names, double *seconds,
                                    long *calls, int cap) {
    int n = c->n_prof < cap ? c->n_prof : cap;
    for (int i = 0; i < n; i++)
        names[i] = c->prof[i].name, seconds[i] = c->prof[i].seconds, calls[i] = c->prof[i].calls;
    return n;
}

/* ---- memory ---- */

extern "C" void *gc_cuda_alloc(gc_cuda *c, size_t bytes) {
    void *p = NULL;
    if (bytes == 0) bytes = 1;
    if (c->emulate) {
        p = calloc(1, bytes);
        if (!p) gc_fail(GC_ERR_NOMEM, "cuda emulation: cannot allocate %zu bytes", bytes);
        return p;
    }
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaSuccess) e = cudaMemsetAsync(p, 0, bytes, c->stream);
    if (e != cudaSuccess) {
        gc_fail(GC_ERR_DEVICE, "cuda: cannot allocate %zu bytes: %s", bytes, cudaGetErrorString(e));
        if (p) cudaFree(p);
        return NULL;
    }
    return p;
}

extern "C" void gc_cuda_free(gc_cuda *c, void *p) {
    if (!p) return;
    if (c->emulate)
        free(p);
    else
        cudaFree(p);
}

static gc_status copy(gc_cuda *c, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    if (bytes == 0) return GC_OK;
    if (c->emulate) {
        memmove(dst, src, bytes);
        return GC_OK;
    }
    CU_TRY(cudaMemcpyAsync(dst, src, bytes, kind, c->stream));
    if (kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyHostToDevice)
        CU_TRY(cudaStreamSynchronize(c->stream)); /* the host buffer is the caller's again */
    return GC_OK;
}

extern "C" gc_status gc_cuda_upload(gc_cuda *c, void *dev, const void *host, size_t bytes) {
    PROFILE(c, "upload");
    return copy(c, dev, host, bytes, cudaMemcpyHostToDevice);
}

extern "C" gc_status gc_cuda_download(gc_cuda *c, void *host, const void *dev, size_t bytes) {
    PROFILE(c, "download");
    return copy(c, host, dev, bytes, cudaMemcpyDeviceToHost);
}

extern "C" gc_status gc_cuda_copy(gc_cuda *c, void *dst, const void *src, size_t bytes) {
    PROFILE(c, "copy");
    return copy(c, dst, src, bytes, cudaMemcpyDeviceToDevice);
}

extern "C" gc_status gc_cuda_zero(gc_cuda *c, void *dev, size_t bytes) {
    PROFILE(c, "zero");
    if (c->emulate) {
        memset(dev, 0, bytes);
        return GC_OK;
    }
    CU_TRY(cudaMemsetAsync(dev, 0, bytes, c->stream));
    return GC_OK;
}

extern "C" gc_status gc_cuda_sync(gc_cuda *c) {
    if (!c->emulate) CU_TRY(cudaStreamSynchronize(c->stream));
    return GC_OK;
}

gc_status sum_in_order(gc_cuda *c, const double *d, size_t n, double *out) {
    double *h = (double *)malloc(sizeof(double) * (n ? n : 1));
    if (!h) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    gc_status s = gc_cuda_download(c, h, d, sizeof(double) * n);
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += h[i];
    free(h);
    *out = total;
    return s;
}

void *scratch(gc_cuda *c, int slot, size_t bytes) {
    if (c->scr_bytes[slot] >= bytes && c->scr[slot]) return c->scr[slot];
    gc_cuda_free(c, c->scr[slot]);
    c->scr_bytes[slot] = 0;
    c->scr[slot] = gc_cuda_alloc(c, bytes + bytes / 8); /* some room to grow into */
    if (c->scr[slot]) c->scr_bytes[slot] = bytes + bytes / 8;
    return c->scr[slot];
}

/* ---- matmuls ---- */

/* the naive matmul the emulation runs in cuBLAS's place: one output element per index */
template <class TA, class TB>
static gc_status gemm_emulated(gc_cuda *c, int tA, int tB, int M, int N, int K, float alpha,
                               const TA *A, int lda, long long sA, const TB *B, int ldb,
                               long long sB, float beta, float *C, int ldc, long long sC,
                               int batch) {
    for (int b = 0; b < batch; b++) {
        const TA *a = A + b * sA;
        const TB *bb = B + b * sB;
        float *cc = C + b * sC;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float s = 0.0f;
                for (int k = 0; k < K; k++) {
                    TA x = tA ? a[(size_t)k * lda + i] : a[(size_t)i * lda + k];
                    TB y = tB ? bb[(size_t)j * ldb + k] : bb[(size_t)k * ldb + j];
                    s += to_float(x) * to_float(y);
                }
                float *o = cc + (size_t)i * ldc + j;
                *o = beta == 0.0f ? alpha * s : alpha * s + beta * *o;
            }
    }
    (void)c;
    return GC_OK;
}

/* extent in elements of a row-major operand of `rows` rows, row stride ld, over the batch */
static size_t extent(int rows, int ld, long long stride, int batch) {
    return (size_t)(batch - 1) * (size_t)stride + (size_t)rows * ld;
}

extern "C" gc_status gc_cuda_to_bf16(gc_cuda *c, uint16_t *dst, const float *src, size_t n) {
    PROFILE(c, "to_bf16");
    return each(c, n, [=] __host__ __device__(size_t i) { dst[i] = to_bf16(src[i]); });
}

/* the operand as cuBLAS will read it: at BF16, a bf16 copy in scratch slot `slot` unless it is one
 */
static const void *as_input(gc_cuda *c, gc_precision p, gc_operand x, size_t n, int slot) {
    if (p != GC_PREC_BF16 || x.bf16) return x.p;
    uint16_t *h = (uint16_t *)scratch(c, slot, n * 2);
    if (h && gc_cuda_to_bf16(c, h, (const float *)x.p, n) != GC_OK) return NULL;
    return h;
}

extern "C" gc_status gc_cuda_gemm_ex(gc_cuda *c, gc_precision p, int transA, int transB, int M,
                                     int N, int K, float alpha, gc_operand A, int lda,
                                     long long strideA, gc_operand B, int ldb, long long strideB,
                                     float beta, float *C, int ldc, long long strideC, int batch) {
    PROFILE(c, "gemm_ex");
    if (M <= 0 || N <= 0 || batch <= 0) return GC_OK;
    if ((A.bf16 || B.bf16) && p != GC_PREC_BF16)
        return gc_fail(GC_ERR_ARG, "cuda: a bf16 operand needs bf16 precision");
    const void *a = as_input(c, p, A, extent(transA ? K : M, lda, strideA, batch), SCR_CAST_A);
    const void *b = as_input(c, p, B, extent(transB ? N : K, ldb, strideB, batch), SCR_CAST_B);
    if (!a || !b) return GC_ERR_DEVICE;
    if (c->emulate) {
        if (p == GC_PREC_BF16)
            return gemm_emulated(c, transA, transB, M, N, K, alpha, (const bf16_bits *)a, lda,
                                 strideA, (const bf16_bits *)b, ldb, strideB, beta, C, ldc, strideC,
                                 batch);
        return gemm_emulated(c, transA, transB, M, N, K, alpha, (const float *)a, lda, strideA,
                             (const float *)b, ldb, strideB, beta, C, ldc, strideC, batch);
    }
    /* row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a row-major buffer read
     * column-major is its transpose: pass B first, with the same transpose flags */
    cudaDataType_t in = p == GC_PREC_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    cublasComputeType_t ct = p == GC_PREC_FP32   ? CUBLAS_COMPUTE_32F_PEDANTIC
                             : p == GC_PREC_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                 : CUBLAS_COMPUTE_32F;
    cublasStatus_t st = cublasGemmStridedBatchedEx(
        c->blas, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
        &alpha, b, in, ldb, strideB, a, in, lda, strideA, &beta, C, CUDA_R_32F, ldc, strideC, batch,
        ct, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
        return gc_fail(GC_ERR_DEVICE,
                       "cuda: cublasGemmStridedBatchedEx (%s, %dx%dx%d, batch %d) failed: %d",
                       gc_precision_name(p), M, N, K, batch, (int)st);
    return GC_OK;
}

extern "C" gc_status gc_cuda_gemm(gc_cuda *c, gc_precision p, int transA, int transB, int M, int N,
                                  int K, float alpha, const float *A, int lda, long long strideA,
                                  const float *B, int ldb, long long strideB, float beta, float *C,
                                  int ldc, long long strideC, int batch) {
    return gc_cuda_gemm_ex(c, p, transA, transB, M, N, K, alpha, gc_operand{A, 0}, lda, strideA,
                           gc_operand{B, 0}, ldb, strideB, beta, C, ldc, strideC, batch);
}

/* W, or its bf16 shadow when there is one and the precision is BF16 */
static gc_operand weight(gc_precision p, const float *W, const uint16_t *Wb) {
    return p == GC_PREC_BF16 && Wb ? gc_operand{Wb, 1} : gc_operand{W, 0};
}

extern "C" gc_status gc_cuda_linear(gc_cuda *c, gc_precision p, float *y, int ldy, int acc,
                                    const float *x, const float *W, const uint16_t *Wb, int N,
                                    int in, int out) {
    PROFILE(c, "linear");
    return gc_cuda_gemm_ex(c, p, 0, 1, N, out, in, 1.0f, gc_operand{x, 0}, in, 0, weight(p, W, Wb),
                           in, 0, acc ? 1.0f : 0.0f, y, ldy, 0, 1);
}

extern "C" gc_status gc_cuda_linear_backward(gc_cuda *c, gc_precision p, float *dx, int dx_acc,
                                             float *dW, const float *dy, int ldy, const float *x,
                                             const float *W, const uint16_t *Wb, int N, int in,
                                             int out) {
    PROFILE(c, "linear_backward");
    if (dx) /* dx (N, in) = dy (N, out) W (out, in) */
        GC_TRY(gc_cuda_gemm_ex(c, p, 0, 0, N, in, out, 1.0f, gc_operand{dy, 0}, ldy, 0,
                               weight(p, W, Wb), in, 0, dx_acc ? 1.0f : 0.0f, dx, in, 0, 1));
    if (dW) /* dW (out, in) += dy^T (out, N) x (N, in) */
        GC_TRY(
            gc_cuda_gemm(c, p, 1, 0, out, in, N, 1.0f, dy, ldy, 0, x, in, 0, 1.0f, dW, in, 0, 1));
    return GC_OK;
}

/* ---- optimiser ---- */

extern "C" gc_status gc_cuda_adamw(gc_cuda *c, float *params, float *m, float *v,
                                   const float *grads, size_t n, float lr, float beta1, float beta2,
                                   float eps, float weight_decay, int decay, int64_t step) {
    PROFILE(c, "adamw");
    /* the scalars exactly as gc_adamw_step computes them, on the host */
    float bc1 = 1.0f - powf(beta1, (float)step), bc2_sqrt = sqrtf(1.0f - powf(beta2, (float)step));
    float dec = decay ? 1.0f - lr * weight_decay : 1.0f, step_size = lr / bc1;
    return each(c, n, [=] __host__ __device__(size_t i) {
        float g = grads[i];
        float mi = m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        params[i] = params[i] * dec - step_size * mi / denom;
    });
}

enum { SUMSQ_PARTS = 1 << 16 }; /* partial sums: thread k takes elements k, k + parts, ... */

extern "C" gc_status gc_cuda_sumsq(gc_cuda *c, const float *x, size_t n, double *out) {
    PROFILE(c, "sumsq");
    size_t parts = n < SUMSQ_PARTS ? n : SUMSQ_PARTS;
    double *d = (double *)scratch(c, SCR_ROWS, sizeof(double) * (parts ? parts : 1));
    if (!d) return GC_ERR_DEVICE;
    /* consecutive threads, consecutive x */
    GC_TRY(each(c, parts, [=] __host__ __device__(size_t k) {
        double s = 0;
        for (size_t i = k; i < n; i += parts)
            s += (double)x[i] * x[i];
        d[k] = s;
    }));
    return sum_in_order(c, d, parts, out);
}

extern "C" gc_status gc_cuda_scale(gc_cuda *c, float *x, size_t n, float k) {
    PROFILE(c, "scale");
    return each(c, n, [=] __host__ __device__(size_t i) { x[i] *= k; });
}

extern "C" gc_status gc_cuda_add(gc_cuda *c, float *y, const float *x, size_t n) {
    PROFILE(c, "add");
    return each(c, n, [=] __host__ __device__(size_t i) { y[i] += x[i]; });
}
