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
    int emulate; /* gc_cuda_open_emulated: per-thread kernel code run on the host */
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

extern "C" gc_status gc_cuda_open_emulated(gc_cuda **out) {
    *out = (gc_cuda *)calloc(1, sizeof **out);
    if (!*out) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    (*out)->emulate = 1;
    return GC_OK;
}

extern "C" void gc_cuda_close(gc_cuda *c) {
    if (!c) return;
    if (!c->emulate) cublasDestroy(c->blas);
    free(c);
}



/* device buffers of one call, freed together */
struct dbufs {
    void *p[8];
    int n;
    ~dbufs() {
        for (int i = 0; i < n; i++) cudaFree(p[i]);
    }
    float *alloc(size_t count) { return (float *)bytes(count * sizeof(float)); }
    void *bytes(size_t size) {
        void *q = NULL;
        if (n == 8 || cudaMalloc(&q, size) != cudaSuccess) return NULL;
        return p[n++] = q;
    }
};

#define D_ALLOC(var, count)                                                                        \
    float *var = bufs.alloc(count);                                                                \
    if (!var) return gc_fail(GC_ERR_DEVICE, "cuda: cannot allocate %zu floats", (size_t)(count))

/* the naive matmul the emulation runs in cuBLAS's place: one thread per output element */
__host__ __device__ void linear_body(size_t i, float *y, const float *x, const float *W, int in,
                                     int out) {
    size_t n = i / out, o = i % out;
    float s = 0.0f;
    for (int k = 0; k < in; k++) s += x[n * in + k] * W[o * in + k];
    y[i] = s;
}

extern "C" gc_status gc_cuda_linear(gc_cuda *c, float *y, const float *x, const float *W, int N,
                                    int in, int out, int tf32) {
    if (c->emulate) {
        for (size_t i = 0; i < (size_t)N * out; i++) linear_body(i, y, x, W, in, out);
        return GC_OK;
    }
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

/* one thread per row (simple first; a block-reduction version can be checked against it) */
__host__ __device__ void rmsnorm_body(size_t row, float *y, float *rstd, const float *x,
                                      const float *w, int D, float eps) {
    const float *xr = x + row * D;
    float s = 0.0f;
    for (int i = 0; i < D; i++) s += xr[i] * xr[i];
    float r = 1.0f / sqrtf(s / (float)D + eps);
    rstd[row] = r;
    for (int i = 0; i < D; i++) y[row * D + i] = xr[i] * r * w[i];
}

__global__ void rmsnorm_kernel(float *y, float *rstd, const float *x, const float *w, size_t N,
                               int D, float eps) {
    size_t row = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (row < N) rmsnorm_body(row, y, rstd, x, w, D, eps);
}

extern "C" gc_status gc_cuda_rmsnorm(gc_cuda *c, float *y, float *rstd, const float *x,
                                     const float *w, int N, int D, float eps) {
    if (c->emulate) {
        for (int n = 0; n < N; n++) rmsnorm_body((size_t)n, y, rstd, x, w, D, eps);
        return GC_OK;
    }
    dbufs bufs = {};
    D_ALLOC(dx, (size_t)N * D);
    D_ALLOC(dw, (size_t)D);
    D_ALLOC(dy, (size_t)N * D);
    D_ALLOC(dr, (size_t)N);
    CU_TRY(cudaMemcpy(dx, x, sizeof(float) * N * D, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dw, w, sizeof(float) * D, cudaMemcpyHostToDevice));
    rmsnorm_kernel<<<(N + 127) / 128, 128>>>(dy, dr, dx, dw, (size_t)N, D, eps);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(y, dy, sizeof(float) * N * D, cudaMemcpyDeviceToHost));
    CU_TRY(cudaMemcpy(rstd, dr, sizeof(float) * N, cudaMemcpyDeviceToHost));
    return GC_OK;
}

__host__ __device__ void swiglu_body(size_t i, float *g, const float *a13, size_t N, int H) {
    size_t n = i / H, h = i % H;
    float a = a13[n * 2 * H + h], b = a13[n * 2 * H + H + h];
    g[i] = a / (1.0f + expf(-a)) * b;
}

__global__ void swiglu_kernel(float *g, const float *a13, size_t N, int H) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * H) swiglu_body(i, g, a13, N, H);
}

extern "C" gc_status gc_cuda_swiglu(gc_cuda *c, float *g, const float *a13, int N, int H) {
    size_t n = (size_t)N * H;
    if (c->emulate) {
        for (size_t i = 0; i < n; i++) swiglu_body(i, g, a13, (size_t)N, H);
        return GC_OK;
    }
    dbufs bufs = {};
    D_ALLOC(da, 2 * n);
    D_ALLOC(dg, n);
    CU_TRY(cudaMemcpy(da, a13, sizeof(float) * 2 * n, cudaMemcpyHostToDevice));
    swiglu_kernel<<<(unsigned)((n + 255) / 256), 256>>>(dg, da, (size_t)N, H);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(g, dg, sizeof(float) * n, cudaMemcpyDeviceToHost));
    return GC_OK;
}

/* dx: one thread per row; dw: one thread per column summing the rows in order */
__host__ __device__ void rmsnorm_dx_body(size_t row, float *dx, const float *dy, const float *x,
                                         const float *w, const float *rstd, int D) {
    const float *xr = x + row * D, *dyr = dy + row * D;
    float dot = 0.0f;
    for (int i = 0; i < D; i++) dot += dyr[i] * w[i] * xr[i];
    float r = rstd[row], kk = r * r * r * dot / (float)D;
    for (int i = 0; i < D; i++) dx[row * D + i] = r * w[i] * dyr[i] - kk * xr[i];
}

__global__ void rmsnorm_dx_kernel(float *dx, const float *dy, const float *x, const float *w,
                                  const float *rstd, size_t N, int D) {
    size_t row = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (row < N) rmsnorm_dx_body(row, dx, dy, x, w, rstd, D);
}

__host__ __device__ void rmsnorm_dw_body(int col, float *dw, const float *dy, const float *x,
                                         const float *rstd, int N, int D) {
    float acc = 0.0f;
    for (int n = 0; n < N; n++) acc += dy[(size_t)n * D + col] * x[(size_t)n * D + col] * rstd[n];
    dw[col] = acc;
}

__global__ void rmsnorm_dw_kernel(float *dw, const float *dy, const float *x, const float *rstd,
                                  int N, int D) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col < D) rmsnorm_dw_body(col, dw, dy, x, rstd, N, D);
}

extern "C" gc_status gc_cuda_rmsnorm_backward(gc_cuda *c, float *dx, float *dw, const float *dy,
                                              const float *x, const float *w, const float *rstd,
                                              int N, int D) {
    if (c->emulate) {
        for (int n = 0; n < N; n++) rmsnorm_dx_body((size_t)n, dx, dy, x, w, rstd, D);
        for (int col = 0; col < D; col++) rmsnorm_dw_body(col, dw, dy, x, rstd, N, D);
        return GC_OK;
    }
    dbufs bufs = {};
    size_t nd = (size_t)N * D;
    D_ALLOC(ddy, nd);
    D_ALLOC(dxx, nd);
    D_ALLOC(dww, (size_t)D);
    D_ALLOC(dr, (size_t)N);
    D_ALLOC(ddx, nd);
    D_ALLOC(ddw, (size_t)D);
    CU_TRY(cudaMemcpy(ddy, dy, sizeof(float) * nd, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dxx, x, sizeof(float) * nd, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dww, w, sizeof(float) * D, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dr, rstd, sizeof(float) * N, cudaMemcpyHostToDevice));
    rmsnorm_dx_kernel<<<(N + 127) / 128, 128>>>(ddx, ddy, dxx, dww, dr, (size_t)N, D);
    rmsnorm_dw_kernel<<<(D + 255) / 256, 256>>>(ddw, ddy, dxx, dr, N, D);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(dx, ddx, sizeof(float) * nd, cudaMemcpyDeviceToHost));
    CU_TRY(cudaMemcpy(dw, ddw, sizeof(float) * D, cudaMemcpyDeviceToHost));
    return GC_OK;
}

__host__ __device__ void swiglu_backward_body(size_t i, float *da13, const float *dg,
                                              const float *a13, size_t N, int H) {
    size_t n = i / H, h = i % H;
    float x = a13[n * 2 * H + h], u = a13[n * 2 * H + H + h], s = 1.0f / (1.0f + expf(-x));
    da13[n * 2 * H + h] = dg[i] * u * s * (1.0f + x * (1.0f - s));
    da13[n * 2 * H + H + h] = dg[i] * x * s;
}

__global__ void swiglu_backward_kernel(float *da13, const float *dg, const float *a13, size_t N,
                                       int H) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * H) swiglu_backward_body(i, da13, dg, a13, N, H);
}

extern "C" gc_status gc_cuda_swiglu_backward(gc_cuda *c, float *da13, const float *dg,
                                             const float *a13, int N, int H) {
    size_t n = (size_t)N * H;
    if (c->emulate) {
        for (size_t i = 0; i < n; i++) swiglu_backward_body(i, da13, dg, a13, (size_t)N, H);
        return GC_OK;
    }
    dbufs bufs = {};
    D_ALLOC(da, 2 * n);
    D_ALLOC(ddg, n);
    D_ALLOC(dout, 2 * n);
    CU_TRY(cudaMemcpy(da, a13, sizeof(float) * 2 * n, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(ddg, dg, sizeof(float) * n, cudaMemcpyHostToDevice));
    swiglu_backward_kernel<<<(unsigned)((n + 255) / 256), 256>>>(dout, ddg, da, (size_t)N, H);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(da13, dout, sizeof(float) * 2 * n, cudaMemcpyDeviceToHost));
    return GC_OK;
}

/* one thread per row: max, the sum of exponentials in double (as the CPU path), the gradient */
__host__ __device__ void cross_entropy_body(size_t row, float *dl, double *row_loss, const float *l,
                                            const int32_t *t, int V, float scale) {
    const float *lr = l + row * V;
    float *dr = dl + row * V;
    if (t[row] < 0) {
        for (int i = 0; i < V; i++) dr[i] = 0.0f;
        row_loss[row] = 0;
        return;
    }
    float mx = lr[0];
    for (int i = 1; i < V; i++) mx = lr[i] > mx ? lr[i] : mx;
    double s = 0;
    for (int i = 0; i < V; i++) s += exp((double)(lr[i] - mx));
    double lse = (double)mx + log(s);
    for (int i = 0; i < V; i++) dr[i] = scale * (float)exp((double)lr[i] - lse);
    dr[t[row]] -= scale;
    row_loss[row] = lse - (double)lr[t[row]];
}

__global__ void cross_entropy_kernel(float *dl, double *row_loss, const float *l, const int32_t *t,
                                     size_t N, int V, float scale) {
    size_t row = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (row < N) cross_entropy_body(row, dl, row_loss, l, t, V, scale);
}

extern "C" gc_status gc_cuda_cross_entropy(gc_cuda *c, float *dlogits, double *sum,
                                           const float *logits, const int32_t *targets, int N,
                                           int V, float scale) {
    if (c->emulate) {
        double *rl = (double *)malloc(sizeof(double) * (N > 0 ? N : 1)), total = 0;
        if (!rl) return gc_fail(GC_ERR_NOMEM, "cuda emulation: out of memory");
        for (int n = 0; n < N; n++) cross_entropy_body((size_t)n, dlogits, rl, logits, targets, V, scale);
        for (int n = 0; n < N; n++) total += rl[n];
        free(rl);
        *sum = total;
        return GC_OK;
    }
    dbufs bufs = {};
    size_t nv = (size_t)N * V;
    D_ALLOC(dl, nv);
    D_ALLOC(dd, nv);
    int32_t *dt = (int32_t *)bufs.bytes(sizeof(int32_t) * N);
    double *drl = (double *)bufs.bytes(sizeof(double) * N);
    if (!dt || !drl) return gc_fail(GC_ERR_DEVICE, "cuda: cannot allocate %d rows", N);
    CU_TRY(cudaMemcpy(dl, logits, sizeof(float) * nv, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dt, targets, sizeof(int32_t) * N, cudaMemcpyHostToDevice));
    cross_entropy_kernel<<<(N + 127) / 128, 128>>>(dd, drl, dl, dt, (size_t)N, V, scale);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(dlogits, dd, sizeof(float) * nv, cudaMemcpyDeviceToHost));
    double *rl = (double *)malloc(sizeof(double) * N);
    if (!rl) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    cudaError_t e = cudaMemcpy(rl, drl, sizeof(double) * N, cudaMemcpyDeviceToHost);
    double total = 0;
    for (int n = 0; n < N; n++) total += rl[n]; /* in row order, as the CPU path */
    free(rl);
    if (e != cudaSuccess) return gc_fail(GC_ERR_DEVICE, "cuda: %s", cudaGetErrorString(e));
    *sum = total;
    return GC_OK;
}

/* naive causal attention: one thread per (b, h, t), two passes over the keys (max, then the
 * normalised weighted sum); the reference the tiled kernel will be checked against */
__host__ __device__ void attention_body(int idx, float *out, const float *qkv, int B, int T, int nh,
                                        int nkv, int hs) {
    int t = idx % T, h = (idx / T) % nh, b = idx / (T * nh);
    int D = nh * hs, KV = nkv * hs, ld = D + 2 * KV, grp = nh / nkv;
    const float *q = qkv + ((size_t)b * T + t) * ld + h * hs;
    int ko = D + (h / grp) * hs, vo = ko + KV;
    float scale = 1.0f / sqrtf((float)hs), mx = -INFINITY;
    for (int j = 0; j <= t; j++) {
        const float *k = qkv + ((size_t)b * T + j) * ld + ko;
        float s = 0.0f;
        for (int i = 0; i < hs; i++) s += q[i] * k[i];
        mx = fmaxf(mx, s * scale);
    }
    float *o = out + ((size_t)b * T + t) * D + h * hs, sum = 0.0f;
    for (int i = 0; i < hs; i++) o[i] = 0.0f;
    for (int j = 0; j <= t; j++) {
        const float *k = qkv + ((size_t)b * T + j) * ld + ko, *v = qkv + ((size_t)b * T + j) * ld + vo;
        float s = 0.0f;
        for (int i = 0; i < hs; i++) s += q[i] * k[i];
        float p = expf(s * scale - mx);
        sum += p;
        for (int i = 0; i < hs; i++) o[i] += p * v[i];
    }
    for (int i = 0; i < hs; i++) o[i] /= sum;
}

__global__ void attention_kernel(float *out, const float *qkv, int B, int T, int nh, int nkv,
                                 int hs) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < B * nh * T) attention_body(idx, out, qkv, B, T, nh, nkv, hs);
}

extern "C" gc_status gc_cuda_attention(gc_cuda *c, float *out, const float *qkv, int B, int T,
                                       int nh, int nkv, int hs) {
    if (c->emulate) {
        for (int i = 0; i < B * nh * T; i++) attention_body(i, out, qkv, B, T, nh, nkv, hs);
        return GC_OK;
    }
    dbufs bufs = {};
    int D = nh * hs, ld = D + 2 * nkv * hs;
    D_ALLOC(dq, (size_t)B * T * ld);
    D_ALLOC(dout, (size_t)B * T * D);
    CU_TRY(cudaMemcpy(dq, qkv, sizeof(float) * B * T * ld, cudaMemcpyHostToDevice));
    int n = B * nh * T;
    attention_kernel<<<(n + 127) / 128, 128>>>(dout, dq, B, T, nh, nkv, hs);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(out, dout, sizeof(float) * B * T * D, cudaMemcpyDeviceToHost));
    return GC_OK;
}

__host__ __device__ void embedding_body(size_t i, float *out, const float *emb, const int32_t *tok,
                                        int D) {
    out[i] = emb[(size_t)tok[i / D] * D + i % D];
}

__global__ void embedding_kernel(float *out, const float *emb, const int32_t *tok, size_t N, int D) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * D) embedding_body(i, out, emb, tok, D);
}

extern "C" gc_status gc_cuda_embedding(gc_cuda *c, float *out, const float *emb, int V,
                                       const int32_t *tokens, int N, int D) {
    for (int i = 0; i < N; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return gc_fail(GC_ERR_ARG, "cuda: token %d at %d outside [0, %d)", tokens[i], i, V);
    size_t nd = (size_t)N * D;
    if (c->emulate) {
        for (size_t i = 0; i < nd; i++) embedding_body(i, out, emb, tokens, D);
        return GC_OK;
    }
    dbufs bufs = {};
    D_ALLOC(de, (size_t)V * D);
    D_ALLOC(dout, nd);
    int32_t *dt = (int32_t *)bufs.bytes(sizeof(int32_t) * N);
    if (!dt) return gc_fail(GC_ERR_DEVICE, "cuda: cannot allocate %d tokens", N);
    CU_TRY(cudaMemcpy(de, emb, sizeof(float) * V * D, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dt, tokens, sizeof(int32_t) * N, cudaMemcpyHostToDevice));
    embedding_kernel<<<(unsigned)((nd + 255) / 256), 256>>>(dout, de, dt, (size_t)N, D);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(out, dout, sizeof(float) * nd, cudaMemcpyDeviceToHost));
    return GC_OK;
}

/* one thread per (row, head, pair) */
__host__ __device__ void rope_body(size_t i, float *x, int ld, int off, int nheads, int hs, int T,
                                   const float *cos_t, const float *sin_t, float sgn) {
    int half = hs / 2;
    int p = (int)(i % half), h = (int)((i / half) % nheads);
    size_t n = i / ((size_t)half * nheads);
    int t = (int)(n % T);
    float *v = x + n * ld + off + h * hs;
    float c = cos_t[(size_t)t * half + p], s = sgn * sin_t[(size_t)t * half + p];
    float v0 = v[2 * p], v1 = v[2 * p + 1];
    v[2 * p] = v0 * c - v1 * s;
    v[2 * p + 1] = v0 * s + v1 * c;
}

__global__ void rope_kernel(float *x, int ld, int off, int nheads, int hs, size_t N, int T,
                            const float *cos_t, const float *sin_t, float sgn) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * nheads * (hs / 2)) rope_body(i, x, ld, off, nheads, hs, T, cos_t, sin_t, sgn);
}

extern "C" gc_status gc_cuda_rope(gc_cuda *c, float *x, int ld, int off, int nheads, int hs, int N,
                                  int T, const float *cos_t, const float *sin_t, int inverse) {
    if (c->emulate) {
        for (size_t i = 0; i < (size_t)N * nheads * (hs / 2); i++)
            rope_body(i, x, ld, off, nheads, hs, T, cos_t, sin_t, inverse ? -1.0f : 1.0f);
        return GC_OK;
    }
    dbufs bufs = {};
    size_t nx = (size_t)N * ld, nt = (size_t)T * (hs / 2);
    D_ALLOC(dx, nx);
    D_ALLOC(dc, nt);
    D_ALLOC(ds, nt);
    CU_TRY(cudaMemcpy(dx, x, sizeof(float) * nx, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dc, cos_t, sizeof(float) * nt, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(ds, sin_t, sizeof(float) * nt, cudaMemcpyHostToDevice));
    size_t work = (size_t)N * nheads * (hs / 2);
    rope_kernel<<<(unsigned)((work + 255) / 256), 256>>>(dx, ld, off, nheads, hs, (size_t)N, T, dc,
                                                          ds, inverse ? -1.0f : 1.0f);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(x, dx, sizeof(float) * nx, cudaMemcpyDeviceToHost));
    return GC_OK;
}

__host__ __device__ void adamw_body(size_t i, float *p, float *m, float *v, const float *g,
                                    float b1, float b2, float eps, float decay, float step_size,
                                    float bc2_sqrt) {
    float gi = g[i];
    float mi = m[i] = b1 * m[i] + (1.0f - b1) * gi;
    float vi = v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
    float denom = sqrtf(vi) / bc2_sqrt + eps;
    p[i] = p[i] * decay - step_size * mi / denom;
}

__global__ void adamw_kernel(float *p, float *m, float *v, const float *g, size_t n, float b1,
                             float b2, float eps, float decay, float step_size, float bc2_sqrt) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) adamw_body(i, p, m, v, g, b1, b2, eps, decay, step_size, bc2_sqrt);
}

extern "C" gc_status gc_cuda_adamw(gc_cuda *c, float *params, float *m, float *v,
                                   const float *grads, size_t n, float lr, float beta1, float beta2,
                                   float eps, float weight_decay, int decay, int64_t step) {
    /* the scalars exactly as gc_adamw_step computes them, on the host */
    float bc1 = 1.0f - powf(beta1, (float)step), bc2_sqrt = sqrtf(1.0f - powf(beta2, (float)step));
    float dec = decay ? 1.0f - lr * weight_decay : 1.0f;
    if (c->emulate) {
        for (size_t i = 0; i < n; i++)
            adamw_body(i, params, m, v, grads, beta1, beta2, eps, dec, lr / bc1, bc2_sqrt);
        return GC_OK;
    }
    dbufs bufs = {};
    D_ALLOC(dp, n);
    D_ALLOC(dm, n);
    D_ALLOC(dv, n);
    D_ALLOC(dg, n);
    CU_TRY(cudaMemcpy(dp, params, sizeof(float) * n, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dm, m, sizeof(float) * n, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dv, v, sizeof(float) * n, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dg, grads, sizeof(float) * n, cudaMemcpyHostToDevice));
    adamw_kernel<<<(unsigned)((n + 255) / 256), 256>>>(dp, dm, dv, dg, n, beta1, beta2, eps, dec,
                                                        lr / bc1, bc2_sqrt);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(params, dp, sizeof(float) * n, cudaMemcpyDeviceToHost));
    CU_TRY(cudaMemcpy(m, dm, sizeof(float) * n, cudaMemcpyDeviceToHost));
    CU_TRY(cudaMemcpy(v, dv, sizeof(float) * n, cudaMemcpyDeviceToHost));
    return GC_OK;
}

/* Attention backward, naive, in two passes with the probabilities recomputed:
 * pass 1, one thread per (b, h, t): lse_t of the scores, D_t = dO_t . o_t (= sum_j p_tj dp_tj),
 *   and dq_t = scale * sum_j ds_tj k_j with ds_tj = p_tj (dO_t . v_j - D_t);
 * pass 2, one thread per (b, kv head, j): dk_j = scale * sum over queries t >= j and the heads of
 *   the group of ds_tj q_t, dv_j = the same sum of p_tj dO_t. Each output has one writer. */
__host__ __device__ float att_score(const float *qkv, int ld, size_t qrow, size_t krow, int qo, int ko, int hs) {
    const float *q = qkv + qrow * ld + qo, *k = qkv + krow * ld + ko;
    float s = 0.0f;
    for (int i = 0; i < hs; i++) s += q[i] * k[i];
    return s;
}

__host__ __device__ void attention_bwd_q_body(int idx, float *dqkv, float *lse, float *Dt,
                                              const float *dout, const float *qkv, int B, int T,
                                              int nh, int nkv, int hs) {
    int t = idx % T, h = (idx / T) % nh, b = idx / (T * nh);
    int D = nh * hs, KV = nkv * hs, ld = D + 2 * KV, grp = nh / nkv;
    int qo = h * hs, ko = D + (h / grp) * hs, vo = ko + KV;
    size_t row = (size_t)b * T + t;
    float scale = 1.0f / sqrtf((float)hs), mx = -INFINITY, sum = 0.0f;
    for (int j = 0; j <= t; j++) mx = fmaxf(mx, scale * att_score(qkv, ld, row, (size_t)b * T + j, qo, ko, hs));
    for (int j = 0; j <= t; j++) sum += expf(scale * att_score(qkv, ld, row, (size_t)b * T + j, qo, ko, hs) - mx);
    float l = mx + logf(sum);
    const float *dO = dout + row * D + qo;
    /* D_t = sum_j p_tj (dO . v_j) */
    float d = 0.0f;
    for (int j = 0; j <= t; j++) {
        size_t kr = (size_t)b * T + j;
        float p = expf(scale * att_score(qkv, ld, row, kr, qo, ko, hs) - l), dp = 0.0f;
        for (int i = 0; i < hs; i++) dp += dO[i] * qkv[kr * ld + vo + i];
        d += p * dp;
    }
    float *dq = dqkv + row * ld + qo;
    for (int i = 0; i < hs; i++) dq[i] = 0.0f;
    for (int j = 0; j <= t; j++) {
        size_t kr = (size_t)b * T + j;
        float p = expf(scale * att_score(qkv, ld, row, kr, qo, ko, hs) - l), dp = 0.0f;
        for (int i = 0; i < hs; i++) dp += dO[i] * qkv[kr * ld + vo + i];
        float ds = p * (dp - d) * scale;
        for (int i = 0; i < hs; i++) dq[i] += ds * qkv[kr * ld + ko + i];
    }
    lse[idx] = l, Dt[idx] = d;
}

__host__ __device__ void attention_bwd_kv_body(int idx, float *dqkv, const float *lse,
                                               const float *Dt, const float *dout, const float *qkv,
                                               int B, int T, int nh, int nkv, int hs) {
    int j = idx % T, kh = (idx / T) % nkv, b = idx / (T * nkv);
    int D = nh * hs, KV = nkv * hs, ld = D + 2 * KV, grp = nh / nkv;
    int ko = D + kh * hs, vo = ko + KV;
    size_t kr = (size_t)b * T + j;
    float scale = 1.0f / sqrtf((float)hs);
    float *dk = dqkv + kr * ld + ko, *dv = dqkv + kr * ld + vo;
    for (int i = 0; i < hs; i++) dk[i] = 0.0f, dv[i] = 0.0f;
    for (int h = kh * grp; h < (kh + 1) * grp; h++)
        for (int t = j; t < T; t++) {
            size_t row = (size_t)b * T + t;
            int stat = (b * nh + h) * T + t;
            float p = expf(scale * att_score(qkv, ld, row, kr, h * hs, ko, hs) - lse[stat]);
            const float *dO = dout + row * D + h * hs, *q = qkv + row * ld + h * hs;
            float dp = 0.0f;
            for (int i = 0; i < hs; i++) dp += dO[i] * qkv[kr * ld + vo + i];
            float ds = p * (dp - Dt[stat]) * scale;
            for (int i = 0; i < hs; i++) dv[i] += p * dO[i], dk[i] += ds * q[i];
        }
}

static gc_status emulate_attention_backward(float *dqkv, const float *dout, const float *qkv, int B,
                                            int T, int nh, int nkv, int hs) {
    size_t ns = (size_t)B * nh * T;
    float *lse = (float *)malloc(sizeof(float) * ns), *Dt = (float *)malloc(sizeof(float) * ns);
    if (!lse || !Dt) {
        free(lse), free(Dt);
        return gc_fail(GC_ERR_NOMEM, "cuda emulation: out of memory");
    }
    for (int i = 0; i < B * nh * T; i++)
        attention_bwd_q_body(i, dqkv, lse, Dt, dout, qkv, B, T, nh, nkv, hs);
    for (int i = 0; i < B * nkv * T; i++)
        attention_bwd_kv_body(i, dqkv, lse, Dt, dout, qkv, B, T, nh, nkv, hs);
    free(lse), free(Dt);
    return GC_OK;
}

__global__ void attention_bwd_q_kernel(float *dqkv, float *lse, float *Dt, const float *dout,
                                       const float *qkv, int B, int T, int nh, int nkv, int hs) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < B * nh * T) attention_bwd_q_body(idx, dqkv, lse, Dt, dout, qkv, B, T, nh, nkv, hs);
}

__global__ void attention_bwd_kv_kernel(float *dqkv, const float *lse, const float *Dt,
                                        const float *dout, const float *qkv, int B, int T, int nh,
                                        int nkv, int hs) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < B * nkv * T) attention_bwd_kv_body(idx, dqkv, lse, Dt, dout, qkv, B, T, nh, nkv, hs);
}

extern "C" gc_status gc_cuda_attention_backward(gc_cuda *c, float *dqkv, const float *dout,
                                                const float *qkv, int B, int T, int nh, int nkv,
                                                int hs) {
    if (c->emulate) return emulate_attention_backward(dqkv, dout, qkv, B, T, nh, nkv, hs);
    dbufs bufs = {};
    int D = nh * hs, ld = D + 2 * nkv * hs;
    size_t nq = (size_t)B * T * ld, no = (size_t)B * T * D, ns = (size_t)B * nh * T;
    D_ALLOC(dq, nq);
    D_ALLOC(ddo, no);
    D_ALLOC(dd, nq);
    D_ALLOC(dl, ns);
    D_ALLOC(dD, ns);
    CU_TRY(cudaMemcpy(dq, qkv, sizeof(float) * nq, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(ddo, dout, sizeof(float) * no, cudaMemcpyHostToDevice));
    attention_bwd_q_kernel<<<(unsigned)((ns + 127) / 128), 128>>>(dd, dl, dD, ddo, dq, B, T, nh, nkv, hs);
    size_t nk = (size_t)B * nkv * T;
    attention_bwd_kv_kernel<<<(unsigned)((nk + 127) / 128), 128>>>(dd, dl, dD, ddo, dq, B, T, nh, nkv, hs);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(dqkv, dd, sizeof(float) * nq, cudaMemcpyDeviceToHost));
    return GC_OK;
}


/* linear backward: dx one thread per (n, i); dW one thread per (o, i), accumulating */
__host__ __device__ void linear_dx_body(size_t idx, float *dx, const float *dy, const float *W,
                                        int in, int out) {
    size_t n = idx / in, i = idx % in;
    float s = 0.0f;
    for (int o = 0; o < out; o++) s += dy[n * out + o] * W[(size_t)o * in + i];
    dx[idx] = s;
}

__host__ __device__ void linear_dw_body(size_t idx, float *dW, const float *dy, const float *x,
                                        int N, int in, int out) {
    size_t o = idx / in, i = idx % in;
    float s = 0.0f;
    for (int n = 0; n < N; n++) s += dy[(size_t)n * out + o] * x[(size_t)n * in + i];
    dW[idx] += s;
}

extern "C" gc_status gc_cuda_linear_backward(gc_cuda *c, float *dx, float *dW, const float *dy,
                                             const float *x, const float *W, int N, int in,
                                             int out) {
    if (c->emulate) {
        for (size_t i = 0; i < (size_t)N * in; i++) linear_dx_body(i, dx, dy, W, in, out);
        for (size_t i = 0; i < (size_t)out * in; i++) linear_dw_body(i, dW, dy, x, N, in, out);
        return GC_OK;
    }
    dbufs bufs = {};
    D_ALLOC(ddy, (size_t)N * out);
    D_ALLOC(dxx, (size_t)N * in);
    D_ALLOC(dww, (size_t)out * in);
    D_ALLOC(ddx, (size_t)N * in);
    D_ALLOC(ddw, (size_t)out * in);
    CU_TRY(cudaMemcpy(ddy, dy, sizeof(float) * N * out, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dxx, x, sizeof(float) * N * in, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dww, W, sizeof(float) * out * in, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(ddw, dW, sizeof(float) * out * in, cudaMemcpyHostToDevice));
    cublasSetMathMode(c->blas, CUBLAS_PEDANTIC_MATH);
    const float one = 1.0f, zero = 0.0f;
    /* row-major dx (N, in) = dy (N, out) W (out, in): column-major dx^T (in x N) = W^T dy^T */
    if (cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, in, N, out, &one, dww, in, ddy, out, &zero,
                    ddx, in) != CUBLAS_STATUS_SUCCESS)
        return gc_fail(GC_ERR_DEVICE, "cuda: cublasSgemm (dx) failed");
    /* row-major dW (out, in) += dy^T (out, N) x (N, in): column-major dW^T (in x out) += x^T dy */
    if (cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, N, &one, dxx, in, ddy, out, &one,
                    ddw, in) != CUBLAS_STATUS_SUCCESS)
        return gc_fail(GC_ERR_DEVICE, "cuda: cublasSgemm (dW) failed");
    CU_TRY(cudaMemcpy(dx, ddx, sizeof(float) * N * in, cudaMemcpyDeviceToHost));
    CU_TRY(cudaMemcpy(dW, ddw, sizeof(float) * out * in, cudaMemcpyDeviceToHost));
    return GC_OK;
}

/* embedding backward: one thread per (vocabulary row, column), summing its tokens in order (one
 * writer per element: no atomics, deterministic) */
__host__ __device__ void embedding_bwd_body(size_t idx, float *demb, const float *dout,
                                            const int32_t *tok, int N, int D) {
    int v = (int)(idx / D), d = (int)(idx % D);
    float s = 0.0f;
    for (int n = 0; n < N; n++)
        if (tok[n] == v) s += dout[(size_t)n * D + d];
    demb[idx] += s;
}

__global__ void embedding_bwd_kernel(float *demb, const float *dout, const int32_t *tok, size_t VD,
                                     int N, int D) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < VD) embedding_bwd_body(i, demb, dout, tok, N, D);
}

extern "C" gc_status gc_cuda_embedding_backward(gc_cuda *c, float *demb, int V, const float *dout,
                                                const int32_t *tokens, int N, int D) {
    size_t vd = (size_t)V * D;
    if (c->emulate) {
        for (size_t i = 0; i < vd; i++) embedding_bwd_body(i, demb, dout, tokens, N, D);
        return GC_OK;
    }
    dbufs bufs = {};
    D_ALLOC(de, vd);
    D_ALLOC(dd, (size_t)N * D);
    int32_t *dt = (int32_t *)bufs.bytes(sizeof(int32_t) * N);
    if (!dt) return gc_fail(GC_ERR_DEVICE, "cuda: cannot allocate %d tokens", N);
    CU_TRY(cudaMemcpy(de, demb, sizeof(float) * vd, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dd, dout, sizeof(float) * N * D, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(dt, tokens, sizeof(int32_t) * N, cudaMemcpyHostToDevice));
    embedding_bwd_kernel<<<(unsigned)((vd + 255) / 256), 256>>>(de, dd, dt, vd, N, D);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(demb, de, sizeof(float) * vd, cudaMemcpyDeviceToHost));
    return GC_OK;
}

/* sampling: one thread per row, the CPU sampler's arithmetic step for step (probabilities as
 * floats, their sum and the CDF in double) */
__host__ __device__ float sample_prob(const float *l, int i, float mx, float temp, double sum,
                                      const uint8_t *allowed) {
    float e = allowed && !allowed[i] ? 0.0f : expf((l[i] - mx) / temp);
    return (float)(e / sum);
}

/* top_p < 1: the tokens in decreasing probability (ties: lower index first) until their mass
 * reaches top_p, then u scaled to that mass; order (V) is the row's scratch */
__host__ __device__ int nucleus_pick(const float *l, int V, float mx, float temp, double sum,
                                     const uint8_t *allowed, float top_p, float u, int32_t *order) {
    for (int i = 0; i < V; i++) order[i] = i;
    for (int i = 1; i < V; i++) { /* insertion sort by probability, descending, stable */
        int32_t k = order[i];
        float pk = sample_prob(l, k, mx, temp, sum, allowed);
        int j = i - 1;
        while (j >= 0 && sample_prob(l, order[j], mx, temp, sum, allowed) < pk) order[j + 1] = order[j], j--;
        order[j + 1] = k;
    }
    double mass = 0;
    int last = V - 1;
    for (int i = 0; i < V; i++) {
        mass += sample_prob(l, order[i], mx, temp, sum, allowed);
        if (mass >= top_p) {
            last = i;
            break;
        }
    }
    double target = u * mass, cdf = 0;
    for (int i = 0; i <= last; i++) {
        cdf += sample_prob(l, order[i], mx, temp, sum, allowed);
        if (target < cdf) return order[i];
    }
    return order[last];
}

__host__ __device__ void sample_body(int b, int32_t *out, const float *logits, int V, float temp,
                                     float top_p, const float *u, const uint8_t *allowed,
                                     int32_t *scratch) {
    const float *l = logits + (size_t)b * V;
    int best = -1;
    for (int i = 0; i < V; i++)
        if ((!allowed || allowed[i]) && (best < 0 || l[i] > l[best])) best = i;
    if (temp == 0.0f || best < 0) {
        out[b] = best < 0 ? 0 : best;
        return;
    }
    float mx = l[best];
    double sum = 0;
    for (int i = 0; i < V; i++) sum += allowed && !allowed[i] ? 0.0f : expf((l[i] - mx) / temp);
    if (top_p < 1.0f) {
        out[b] = nucleus_pick(l, V, mx, temp, sum, allowed, top_p, u[b], scratch + (size_t)b * V);
        return;
    }
    double cdf = 0;
    int last = 0;
    for (int i = 0; i < V; i++) {
        float e = allowed && !allowed[i] ? 0.0f : expf((l[i] - mx) / temp);
        float p = (float)(e / sum);
        if (p > 0) last = i;
        cdf += p;
        if (u[b] < cdf) {
            out[b] = i;
            return;
        }
    }
    out[b] = last;
}

__global__ void sample_kernel(int32_t *out, const float *logits, int B, int V, float temp,
                              float top_p, const float *u, const uint8_t *allowed, int32_t *scratch) {
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b < B) sample_body(b, out, logits, V, temp, top_p, u, allowed, scratch);
}

extern "C" gc_status gc_cuda_sample(gc_cuda *c, int32_t *out, const float *logits, int B, int V,
                                    float temperature, float top_p, const float *u,
                                    const uint8_t *allowed) {
    if (c->emulate) {
        int32_t *scratch = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * V);
        if (!scratch) return gc_fail(GC_ERR_NOMEM, "cuda emulation: out of memory");
        for (int b = 0; b < B; b++)
            sample_body(b, out, logits, V, temperature, top_p, u, allowed, scratch);
        free(scratch);
        return GC_OK;
    }
    dbufs bufs = {};
    D_ALLOC(dl, (size_t)B * V);
    D_ALLOC(du, (size_t)B);
    int32_t *dout = (int32_t *)bufs.bytes(sizeof(int32_t) * B);
    int32_t *dscr = (int32_t *)bufs.bytes(sizeof(int32_t) * (size_t)B * V);
    uint8_t *da = allowed ? (uint8_t *)bufs.bytes((size_t)V) : NULL;
    if (!dout || !dscr || (allowed && !da))
        return gc_fail(GC_ERR_DEVICE, "cuda: cannot allocate %d rows", B);
    CU_TRY(cudaMemcpy(dl, logits, sizeof(float) * B * V, cudaMemcpyHostToDevice));
    CU_TRY(cudaMemcpy(du, u, sizeof(float) * B, cudaMemcpyHostToDevice));
    if (allowed) CU_TRY(cudaMemcpy(da, allowed, (size_t)V, cudaMemcpyHostToDevice));
    sample_kernel<<<(B + 127) / 128, 128>>>(dout, dl, B, V, temperature, top_p, du, da, dscr);
    CU_TRY(cudaGetLastError());
    CU_TRY(cudaMemcpy(out, dout, sizeof(int32_t) * B, cudaMemcpyDeviceToHost));
    return GC_OK;
}
