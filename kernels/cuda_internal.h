/* cuda_internal: what the kernels' .cu files share (C++ only): the handle, the launcher that runs a
 * per-element body on the device or, in an emulated handle, on the host, and the scratch slots.
 *
 * Contract: a body is a `[=] __host__ __device__ (size_t i)` lambda computing output element (or
 * row) i; it is the whole kernel. each() launches it over [0, n) on the handle's stream, or loops
 * over it on the host when the handle is emulated, so the same arithmetic is checked anywhere.
 * Bodies never race: every output element has one writer (no atomics: results are deterministic).
 * Scratch slots are grow-only buffers owned by the handle, reused by consecutive ops on its one
 * stream; an op may use a slot only until it returns.
 */
#ifndef GC_CUDA_INTERNAL_H
#define GC_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdlib.h>

extern "C" {
#include "kernels/cuda_api.h"
}

enum {
    SCR_CAST_A, /* bf16 copy of a GEMM operand */
    SCR_CAST_B, /* bf16 copy of the other operand */
    SCR_Q,      /* (B, nh, T, hs) attention operands, permuted */
    SCR_K,
    SCR_V,
    SCR_O,  /* (B, nh, T, hs) attention output, or dO in the backward */
    SCR_DQ, /* (B, nh, T, hs) backward results */
    SCR_DK,
    SCR_DV,
    SCR_DP,     /* (B, nh, T, T) fp32: the scores, or the gradient of the probabilities */
    SCR_DS,     /* (B, nh, T, T) bf16: the scores' gradient at BF16 precision */
    SCR_ROWS,   /* per-row doubles: losses, partial sums */
    SCR_INDEX,  /* int32 index lists (the embedding backward) */
    SCR_LANES,  /* per-row lane partials of lanes() */
    SCR_LANES2, /* a second set, when two reductions are live */
    SCR_SMALL,  /* small per-call uploads */
    N_SCR
};

struct gc_cuda {
    cublasHandle_t blas;
    cudaStream_t stream;
    int emulate; /* gc_cuda_open_emulated: per-element bodies run on the host */
    void *scr[N_SCR];
    size_t scr_bytes[N_SCR];
    void *backends[3]; /* gc_cuda_backend's, one per precision, freed with the handle */
    /* gc_cuda_profile: time per op name, outermost ops only (depth counts the nesting) */
    int profile, depth, n_prof;
    struct {
        const char *name;
        double seconds;
        long calls;
    } prof[48];
};

#define CU_TRY(call)                                                                               \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return gc_fail(GC_ERR_DEVICE, "cuda: %s: %s", #call, cudaGetErrorString(e_));          \
    } while (0)

/* While profiling, an op's scope waits for the device at both ends and adds the time to its name
 * (nested ops count in the outermost one). Off, it costs a branch. */
struct prof_scope {
    gc_cuda *c;
    const char *name;
    double t0;
    prof_scope(gc_cuda *c_, const char *name_) : c(c_), name(name_), t0(0) {
        if (c->profile && c->depth++ == 0) {
            gc_cuda_sync(c);
            t0 = gc_now();
        }
    }
    ~prof_scope() {
        if (!c->profile || --c->depth > 0) return;
        gc_cuda_sync(c);
        double dt = gc_now() - t0;
        int i = 0;
        while (i < c->n_prof && c->prof[i].name != name)
            i++;
        if (i == c->n_prof && c->n_prof < (int)(sizeof c->prof / sizeof c->prof[0]))
            c->prof[c->n_prof++] = {name, 0, 0};
        if (i < c->n_prof) c->prof[i].seconds += dt, c->prof[i].calls++;
    }
};
#define PROFILE(c, name) prof_scope prof_scope_((c), (name))

template <class F> __global__ void each_kernel(size_t n, F body) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) body(i);
}

/* body(i) for every i in [0, n) */
template <class F> gc_status each(gc_cuda *c, size_t n, F body) {
    if (n == 0) return GC_OK;
    if (c->emulate) {
        for (size_t i = 0; i < n; i++)
            body(i);
        return GC_OK;
    }
    const unsigned threads = 256;
    each_kernel<<<(unsigned)((n + threads - 1) / threads), threads, 0, c->stream>>>(n, body);
    CU_TRY(cudaGetLastError());
    return GC_OK;
}

/* Row reductions, coalesced: lane l of row r folds f(r, j) over j = l, l + LANES, ... < n(r) with
 * op from init into out[r * LANES + l] (consecutive threads read consecutive columns); a per-row
 * body then folds the LANES partials in order. Deterministic: the fold order is fixed. */
enum { LANES = 32 };
template <class A, class Cnt, class F, class Op>
gc_status lanes(gc_cuda *c, A *out, size_t rows, Cnt n, F f, Op op, A init) {
    return each(c, rows * LANES, [=] __host__ __device__(size_t i) {
        size_t r = i / LANES;
        int end = n(r);
        A acc = init;
        for (int j = (int)(i % LANES); j < end; j += LANES)
            acc = op(acc, (A)f(r, j));
        out[i] = acc;
    });
}

/* *out = the sum of d (n doubles on the device), added on the host in index order */
gc_status sum_in_order(gc_cuda *c, const double *d, size_t n, double *out);

/* scratch slot `slot` holding at least `bytes`; NULL with an error recorded when it cannot grow */
void *scratch(gc_cuda *c, int slot, size_t bytes);

/* bf16 as stored by cuBLAS (CUDA_R_16BF): the top 16 bits of the fp32 pattern, rounded to nearest
 * even (NaN kept quiet) */
__host__ __device__ inline uint16_t to_bf16(float x) {
    union {
        float f;
        uint32_t u;
    } v;
    v.f = x;
    if ((v.u & 0x7f800000u) == 0x7f800000u && (v.u & 0x007fffffu))
        return (uint16_t)((v.u >> 16) | 0x40);
    v.u += 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)(v.u >> 16);
}

__host__ __device__ inline float from_bf16(uint16_t h) {
    union {
        float f;
        uint32_t u;
    } v;
    v.u = (uint32_t)h << 16;
    return v.f;
}

/* a bf16 value as a distinct type, so the emulated matmul reads either operand type */
struct bf16_bits {
    uint16_t bits;
};
__host__ __device__ inline float to_float(float x) {
    return x;
}
__host__ __device__ inline float to_float(bf16_bits x) {
    return from_bf16(x.bits);
}

#endif
