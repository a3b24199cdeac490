/* cuda: the CUDA path, first slice — device discovery and the fp32 ops of a training step (matmul,
 * embedding, RoPE, RMSNorm, SwiGLU, cross-entropy, causal attention, each with its backward,
 * AdamW, sampling) checked against the CPU reference (lib/ops.h, lib/optim.h, lib/sampler.h). Built from kernels/cuda.cu when nvcc is found; otherwise
 * kernels/cuda_none.c provides the same functions, which report that the build has no CUDA.
 *
 * Contract: the ops take and return host buffers with the shapes of their CPU twins in lib/ops.h
 * (they copy in, compute on the device and copy back): the parity layer the tests compare. A
 * training path that keeps tensors on the device is the next step (issue tracker), not this file.
 * Matmuls go through cuBLAS; `tf32` allows TF32 tensor-core math (about 1e-3 relative error)
 * instead of full fp32. Every function returns GC_OK or an error with a message (gc_last_error).
 */
#ifndef GC_CUDA_H
#define GC_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/base.h"

/* Number of usable CUDA devices; 0 with the reason written to why (cap bytes) when there is none
 * (no driver, no device, or a build without CUDA). */
int gc_cuda_devices(char *why, size_t cap);
/* Name and memory of device 0 into buf, for logs. */
gc_status gc_cuda_describe(char *buf, size_t cap);

typedef struct gc_cuda gc_cuda;
/* Opens device 0 with a cuBLAS handle; a clear error when no device is usable. */
gc_status gc_cuda_open(gc_cuda **out);
/* A handle that needs no GPU: every op runs its kernel's per-thread code (a __host__ __device__
 * body) on the host over every thread index, so the kernels' indexing and arithmetic are checked
 * anywhere; the matmul, which is cuBLAS on a device, runs a naive one-thread-per-output body. */
gc_status gc_cuda_open_emulated(gc_cuda **out);
void gc_cuda_close(gc_cuda *c);

/* y (N, out) = x (N, in) W^T, W (out, in) (gc_ops_linear with ldy = out). */
gc_status gc_cuda_linear(gc_cuda *c, float *y, const float *x, const float *W, int N, int in,
                         int out, int tf32);
/* Its backward (gc_ops_linear_backward with ldy = out): dx (N, in) = dy W, overwritten; dW (out,
 * in) += dy^T x (accumulated, as the CPU path does, so a tied classifier adds into the embedding). */
gc_status gc_cuda_linear_backward(gc_cuda *c, float *dx, float *dW, const float *dy, const float *x,
                                  const float *W, int N, int in, int out);
/* demb (V, D) += the rows of dout (N, D) at their tokens (gc_ops_embedding_backward). */
gc_status gc_cuda_embedding_backward(gc_cuda *c, float *demb, int V, const float *dout,
                                     const int32_t *tokens, int N, int D);
/* y = x * rstd * w per row, rstd (N) saved (gc_ops_rmsnorm). */
gc_status gc_cuda_rmsnorm(gc_cuda *c, float *y, float *rstd, const float *x, const float *w, int N,
                          int D, float eps);
/* g (N, H) = silu(a13[:, :H]) * a13[:, H:] (gc_ops_swiglu). */
gc_status gc_cuda_swiglu(gc_cuda *c, float *g, const float *a13, int N, int H);
/* Backward passes (gc_ops_rmsnorm_backward with dx overwritten and dw overwritten, and
 * gc_ops_swiglu_backward). */
gc_status gc_cuda_rmsnorm_backward(gc_cuda *c, float *dx, float *dw, const float *dy,
                                   const float *x, const float *w, const float *rstd, int N, int D);
gc_status gc_cuda_swiglu_backward(gc_cuda *c, float *da13, const float *dg, const float *a13, int N,
                                  int H);
/* Cross-entropy (gc_ops_cross_entropy): *sum = sum over rows with target >= 0 of -log softmax,
 * dlogits = scale * (softmax - onehot), zero rows for ignored targets. */
gc_status gc_cuda_cross_entropy(gc_cuda *c, float *dlogits, double *sum, const float *logits,
                                const int32_t *targets, int N, int V, float scale);
/* out (N, D) = emb[tokens] (gc_ops_embedding). */
gc_status gc_cuda_embedding(gc_cuda *c, float *out, const float *emb, int V, const int32_t *tokens,
                            int N, int D);
/* Rotary embedding in place (gc_ops_rope, same arguments; cos_t, sin_t (T, hs / 2)). */
gc_status gc_cuda_rope(gc_cuda *c, float *x, int ld, int off, int nheads, int hs, int N, int T,
                       const float *cos_t, const float *sin_t, int inverse);
/* One AdamW update of one tensor (gc_adamw_step's arithmetic for one tensor): params, m, v (n)
 * updated in place; step is the update number after this one (1 for the first); decay 0 or 1. */
gc_status gc_cuda_adamw(gc_cuda *c, float *params, float *m, float *v, const float *grads, size_t n,
                        float lr, float beta1, float beta2, float eps, float weight_decay,
                        int decay, int64_t step);
/* One token per row of logits (B, V), as gc_sampler_sample_rng: greedy when temperature is 0,
 * else inverse-CDF sampling at that temperature, within the nucleus of mass top_p when top_p < 1,
 * with the uniform u[b] (drawn by the caller from the row's stream); allowed (V) or NULL masks the
 * vocabulary. */
gc_status gc_cuda_sample(gc_cuda *c, int32_t *out, const float *logits, int B, int V,
                         float temperature, float top_p, const float *u, const uint8_t *allowed);
/* Causal attention forward (gc_ops_attention with len = NULL): out (B*T, D) from qkv. */
gc_status gc_cuda_attention(gc_cuda *c, float *out, const float *qkv, int B, int T, int nh,
                            int nkv, int hs);
/* Its backward (gc_ops_attention_backward, len = NULL): dqkv (B*T, D + 2KV) from dout (B*T, D);
 * the probabilities are recomputed from qkv rather than stored. */
gc_status gc_cuda_attention_backward(gc_cuda *c, float *dqkv, const float *dout, const float *qkv,
                                     int B, int T, int nh, int nkv, int hs);

#endif
