/* The CUDA implementation of kernels/cuda.h: device discovery, cuBLAS matmul, RMSNorm and SwiGLU
 * kernels. C linkage so the C core and tests call it directly. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" {
#include "cuda.h"
}

struct gc_cuda {
    cublasHandle_t blas;
};

#define CU_TRY(call)                                                                               \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return gc_fail(GC_ERR_DEVICE, "cuda: %s: %s", #call, cudaGetErrorString(e_));          \
    } while (0)

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

extern "C" gc_status gc_cuda_open(gc_cuda **out) {
    *out = NULL;
    char why[256];
    if (gc_cuda_devices(why, sizeof why) == 0) return gc_fail(GC_ERR_DEVICE, "%s", why);
    CU_TRY(cudaSetDevice(0));
    gc_cuda *c = (gc_cuda *)calloc(1, sizeof *c);
    if (!c) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    if (cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS) {
        free(c);
        return gc_fail(GC_ERR_DEVICE, "cuda: cublasCreate failed");
    }
    *out = c;
    return GC_OK;
}

extern "C" void gc_cuda_close(gc_cuda *c) {
    if (!c) return;
    cublasDestroy(c->blas);
    free(c);
}

/* device buffers of one call, freed together */
struct dbufs {
    void *p[8];
    int n;
    ~dbufs() {
        for (int i = 0; i < n; i++) cudaFree(p[i]);
    }
    float *alloc(size_t count) {
        void *q = NULL;
        if (n == 8 || cudaMalloc(&q, count * sizeof(float)) != cudaSuccess) return NULL;
        return (float *)(p[n++] = q);
    }
};

#define D_ALLOC(var, count)                                                                        \
    float *var = bufs.alloc(count);                                                                \
    if (!var) return gc_fail(GC_ERR_DEVICE, "cuda: cannot allocate %zu floats", (size_t)(count))

extern "C" gc_status gc_cuda_linear(gc_cuda *c, float *y, const float *x, const float *W, int N,
                                    int in, int out, int tf32) {
    dbufs bufs = {};
    D_ALLOC(dx, (size_t)N * in);
    D_ALLOC(dW, (size_t)out * in);
    D_ALLOC(dy, (size_t)N * out);
    CU_TRY(cudaMemcpy(dx, x, sizeof(float) * N * in, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dW, W, sizeof(float) * out * in, cudaMemcpyHostToDevice));
    cublasSetMathMode(c->blas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH);
    /* row-major y = x W^T is column-major y^T = W x^T: (out x N) = (out x in)(in x N) */
    const float one = 1.0f, zero = 0.0f;
    if (cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, N, in, &one, dW, in, dx, in, &zero, dy,
                    out) != CUBLAS_STATUS_SUCCESS)
        return gc_fail(GC_ERR_DEVICE, "cuda: cublasSgemm failed");
    CU_TRY(cudaMemcpy(y, dy, sizeof(float) * N * out, cudaMemcpyDeviceToHost));
    return GC_OK;
}

/* one block per row: sum of squares by a block reduction, then the scaled row */
__global__ void rmsnorm_kernel(float *y, float *rstd, const float *x, const float *w, int D,
                               float eps) {
    extern __shared__ float part[];
    const float *xr = x + (size_t)blockIdx.x * D;
    float s = 0.0f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) s += xr[i] * xr[i];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k /= 2) {
        if (threadIdx.x < k) part[threadIdx.x] += part[threadIdx.x + k];
        __syncthreads();
    }
    float r = rsqrtf(part[0] / D + eps);
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
    for (int i = threadIdx.x; i < D; i += blockDim.x) y[(size_t)blockIdx.x * D + i] = xr[i] * r * w[i];
}

extern "C" gc_status gc_cuda_rmsnorm(gc_cuda *c, float *y, float *rstd, const float *x,
                                     const float *w, int N, int D, float eps) {
    (void)c;
    dbufs bufs = {};
    D_ALLOC(dx, (size_t)N * D);
    D_ALLOC(dw, (size_t)D);
    D_ALLOC(dy, (size_t)N * D);
    D_ALLOC(dr, (size_t)N);
    CU_TRY(cudaMemcpy(dx, x, sizeof(float) * N * D, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dw, w, sizeof(float) * D, cudaMemcpyHostToDevice));
    const int threads = 256;
    rmsnorm_kernel<<<N, threads, threads * sizeof(float)>>>(dy, dr, dx, dw, D, eps);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(y, dy, sizeof(float) * N * D, cudaMemcpyDeviceToHost));
    CU_TRY(cudaMemcpy(rstd, dr, sizeof(float) * N, cudaMemcpyDeviceToHost));
    return GC_OK;
}

__global__ void swiglu_kernel(float *g, const float *a13, size_t N, int H) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N * H) return;
    size_t n = i / H, h = i % H;
    float a = a13[n * 2 * H + h], b = a13[n * 2 * H + H + h];
    g[i] = a / (1.0f + expf(-a)) * b;
}

extern "C" gc_status gc_cuda_swiglu(gc_cuda *c, float *g, const float *a13, int N, int H) {
    (void)c;
    dbufs bufs = {};
    size_t n = (size_t)N * H;
    D_ALLOC(da, 2 * n);
    D_ALLOC(dg, n);
    CU_TRY(cudaMemcpy(da, a13, sizeof(float) * 2 * n, cudaMemcpyHostToDevice));
    swiglu_kernel<<<(unsigned)((n + 255) / 256), 256>>>(dg, da, (size_t)N, H);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(g, dg, sizeof(float) * n, cudaMemcpyDeviceToHost));
    return GC_OK;
}
