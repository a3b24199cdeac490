/* cuda: the CUDA path — device discovery, device memory, the ops of a training step and of
 * decoding on device buffers, and the backend (lib/model/backend.h: the op table over which
 * lib/model/model.c runs a gc_model's forward, backward, optimiser and decoding on the GPU). Built
 * from kernels/cuda_*.cu when nvcc is found; otherwise kernels/cuda_none.c provides the same
 * functions, which report that the build has no CUDA.
 *
 * Contract: every pointer an op takes is a device buffer (gc_cuda_alloc) unless its comment says
 * host; shapes are those of the CPU twins in lib/model/ops.h, row-major. Ops are queued on the
 * handle's one stream, in order; gc_cuda_download waits for them. Every function returns GC_OK or
 * an error with a message (gc_last_error).
 *
 * Precision (gc_precision): FP32 runs every matmul in full fp32; TF32 lets cuBLAS use TF32 tensor
 * cores (10-bit mantissa inputs, fp32 accumulation; about 1e-3 relative error); BF16 rounds both
 * matmul operands to bf16 (8-bit mantissa) and accumulates in fp32 — mixed precision: weights,
 * gradients, optimiser moments and the arithmetic of every non-matmul op stay fp32 (master
 * weights); only the attention probabilities and their gradient, which are matmul operands, are
 * stored in bf16.
 *
 * Emulation: gc_cuda_open_emulated gives a handle that needs no GPU. Device buffers are then host
 * memory and every kernel's per-element body runs on the host over every index, so the kernels'
 * indexing and arithmetic — and the whole backend — are checked on any machine (CI); the matmuls,
 * cuBLAS on a device, run a naive body there (bf16 rounding emulated, TF32 computed as fp32).
 */
#ifndef GC_CUDA_H
#define GC_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "lib/model/backend.h"
#include "lib/util/base.h"

/* Number of usable CUDA devices; 0 with the reason written to why (cap bytes) when there is none
 * (no driver, no device, or a build without CUDA). */
int gc_cuda_devices(char *why, size_t cap);
/* Name, memory and compute capability of device 0 into buf, for logs. */
gc_status gc_cuda_describe(char *buf, size_t cap);

typedef struct gc_cuda gc_cuda;
typedef enum { GC_PREC_FP32, GC_PREC_TF32, GC_PREC_BF16 } gc_precision;
/* "fp32" | "tf32" | "bf16" */
const char *gc_precision_name(gc_precision p);
gc_status gc_precision_parse(const char *name, gc_precision *out);

/* Opens device 0 with a cuBLAS handle and a stream; a clear error when no device is usable. */
gc_status gc_cuda_open(gc_cuda **out);
/* A handle that needs no GPU (see Emulation above). */
gc_status gc_cuda_open_emulated(gc_cuda **out);
void gc_cuda_close(gc_cuda *c);
int gc_cuda_is_emulated(const gc_cuda *c);

/* Profiling: while on, every op waits for the device before and after it and adds its wall time to
 * its name (ops called inside another op count in the outer one). on = 1 starts afresh. */
void gc_cuda_profile(gc_cuda *c, int on);
/* The names, seconds and calls recorded (at most cap); returns how many. */
int gc_cuda_profile_read(const gc_cuda *c, const char **names, double *seconds, long *calls,
                         int cap);

/* ---- memory ---- */
/* bytes of device memory, zeroed; NULL (error recorded) when it cannot be had */
void *gc_cuda_alloc(gc_cuda *c, size_t bytes);
void gc_cuda_free(gc_cuda *c, void *p);
gc_status gc_cuda_upload(gc_cuda *c, void *dev, const void *host, size_t bytes);
/* waits for the queued ops, then copies */
gc_status gc_cuda_download(gc_cuda *c, void *host, const void *dev, size_t bytes);
gc_status gc_cuda_copy(gc_cuda *c, void *dst, const void *src, size_t bytes); /* device to device */
gc_status gc_cuda_zero(gc_cuda *c, void *dev, size_t bytes);
gc_status gc_cuda_sync(gc_cuda *c);

/* ---- matmuls (cuBLAS) ---- */
/* Row-major, batched: for each of `batch` problems (operands `stride*` floats apart),
 * C (M, N) = alpha op(A) op(B) + beta C, op(A) (M, K), op(B) (K, N); transX = 1 means the stored X
 * is the transpose of op(X). ldX are row strides. beta = 0 never reads C. */
gc_status gc_cuda_gemm(gc_cuda *c, gc_precision p, int transA, int transB, int M, int N, int K,
                       float alpha, const float *A, int lda, long long strideA, const float *B,
                       int ldb, long long strideB, float beta, float *C, int ldc, long long strideC,
                       int batch);
/* An operand of gc_cuda_gemm_ex: fp32 values (bf16 = 0), or values already rounded to bf16
 * (bf16 = 1: uint16 storage, BF16 precision only; a weight's shadow copy, kept by the backend). */
typedef struct {
    const void *p;
    int bf16;
} gc_operand;
gc_status gc_cuda_gemm_ex(gc_cuda *c, gc_precision p, int transA, int transB, int M, int N, int K,
                          float alpha, gc_operand A, int lda, long long strideA, gc_operand B,
                          int ldb, long long strideB, float beta, float *C, int ldc,
                          long long strideC, int batch);
/* dst (n, bf16 as uint16) = src (n) rounded to nearest even */
gc_status gc_cuda_to_bf16(gc_cuda *c, uint16_t *dst, const float *src, size_t n);
/* y (N, out) = x (N, in) W^T, W (out, in); y row stride ldy; acc = 1 adds into y. Wb: W's bf16
 * shadow (used at BF16 instead of rounding W again), or NULL. */
gc_status gc_cuda_linear(gc_cuda *c, gc_precision p, float *y, int ldy, int acc, const float *x,
                         const float *W, const uint16_t *Wb, int N, int in, int out);
/* Backward (gc_ops_linear_backward): dx (N, in) (+)= dy W (dx_acc), dW (out, in) += dy^T x; dy row
 * stride ldy; either dx or dW may be NULL; Wb as above. */
gc_status gc_cuda_linear_backward(gc_cuda *c, gc_precision p, float *dx, int dx_acc, float *dW,
                                  const float *dy, int ldy, const float *x, const float *W,
                                  const uint16_t *Wb, int N, int in, int out);

/* ---- elementwise and per-row ops ---- */
/* out (N, D) = emb[tokens], tokens (N) on the device, each in [0, V) (checked by the caller). */
gc_status gc_cuda_embedding(gc_cuda *c, float *out, const float *emb, const int32_t *tokens, int N,
                            int D);
/* demb (V, D) += the rows of dout (N, D) at their tokens; tokens (N) on the HOST (the rows of each
 * token are gathered in order on the host: one writer per element, no atomics). */
gc_status gc_cuda_embedding_backward(gc_cuda *c, float *demb, int V, const float *dout,
                                     const int32_t *tokens_host, int N, int D);
/* y = x * rstd * w per row, rstd (N) saved. */
gc_status gc_cuda_rmsnorm(gc_cuda *c, float *y, float *rstd, const float *x, const float *w, int N,
                          int D, float eps);
/* dx (+)= (dx_acc) the input gradient; dw (D) += the weight gradient summed over rows. */
gc_status gc_cuda_rmsnorm_backward(gc_cuda *c, float *dx, int dx_acc, float *dw, const float *dy,
                                   const float *x, const float *w, const float *rstd, int N, int D);
/* Rotary embedding in place (gc_ops_rope's arguments); pos (N) on the device gives each row's
 * position, or NULL for t = row % T. */
gc_status gc_cuda_rope(gc_cuda *c, float *x, int ld, int off, int nheads, int hs, int N, int T,
                       const float *cos_t, const float *sin_t, int inverse, const int32_t *pos);
/* g (N, H) = silu(a13[:, :H]) * a13[:, H:]; and its backward into da13 (N, 2H). */
gc_status gc_cuda_swiglu(gc_cuda *c, float *g, const float *a13, int N, int H);
gc_status gc_cuda_swiglu_backward(gc_cuda *c, float *da13, const float *dg, const float *a13, int N,
                                  int H);
/* y (n) += x (n) */
gc_status gc_cuda_add(gc_cuda *c, float *y, const float *x, size_t n);
/* Cross-entropy (gc_ops_cross_entropy): *sum (host) = sum over rows with target >= 0 of
 * -log softmax, in row order; dlogits = scale * (softmax - onehot), zero rows for ignored targets.
 */
gc_status gc_cuda_cross_entropy(gc_cuda *c, float *dlogits, double *sum, const float *logits,
                                const int32_t *targets, int N, int V, float scale);
/* Causal attention (gc_ops_attention) through batched GEMMs: att (B, nh, T, T) receives the
 * probabilities (zero above the diagonal and on padding rows) in fp32, or in bf16 (uint16) at BF16
 * precision; out (B*T, D) the output; len (B) on the device or NULL. */
gc_status gc_cuda_attention(gc_cuda *c, gc_precision p, float *out, void *att, const float *qkv,
                            int B, int T, int nh, int nkv, int hs, const int32_t *len);
/* Its backward from the saved probabilities (same type): dqkv (B*T, D + 2KV) overwritten. */
gc_status gc_cuda_attention_backward(gc_cuda *c, gc_precision p, float *dqkv, const float *dout,
                                     const void *att, const float *qkv, int B, int T, int nh,
                                     int nkv, int hs);
/* One AdamW update of n elements (gc_adamw_step's arithmetic); step counts this update (1 = the
 * first); decay 0 or 1 applies weight decay. */
gc_status gc_cuda_adamw(gc_cuda *c, float *params, float *m, float *v, const float *grads, size_t n,
                        float lr, float beta1, float beta2, float eps, float weight_decay,
                        int decay, int64_t step);
/* *out (host) = sum of squares of x (n) in double, in a fixed order. */
gc_status gc_cuda_sumsq(gc_cuda *c, const float *x, size_t n, double *out);
gc_status gc_cuda_scale(gc_cuda *c, float *x, size_t n, float k);
/* ---- decoding ---- */
/* Writes the k and v parts of qkv (B, D + 2KV) at positions pos (B) of the caches kc, vc
 * (B, maxT, KV) of one layer, then o (B, D) = attention of each query over positions 0..pos[b];
 * rows with active[b] == 0 (active may be NULL) get zeros. pos and active on the device. */
gc_status gc_cuda_decode_attention(gc_cuda *c, float *o, float *kc, float *vc, const float *qkv,
                                   const int32_t *pos, const uint8_t *active, int B, int maxT,
                                   int nh, int nkv, int hs);

/* ---- backend ---- */
/* The backend (lib/model/backend.h) of handle c at precision p: gc_model_set_backend(m, be) then
 * runs the model's passes on c. The backend borrows c: close c only after every model using it is
 * freed. */
gc_status gc_cuda_backend(gc_cuda *c, gc_precision p, const gc_backend **out);

#endif
