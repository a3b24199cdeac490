/* backend: where a model's passes run, as a table of memory functions and ops. lib/model/model.c
 * owns the layer sequence of the forward pass, the backward pass and KV-cache decoding, written
 * once over this table; a backend supplies the ops (embedding, RMSNorm, linear, rotary positions,
 * attention, SwiGLU, cross-entropy, AdamW, ...) on buffers in its memory. The CPU backend
 * (lib/model/backend_cpu.c) wraps lib/model/ops.c; the CUDA backend (kernels/cuda_backend.cu)
 * wraps the kernels of kernels/cuda_api.h. Commands load CUDA on demand (gc_device_open), so CPU
 * runs never load the CUDA libraries.
 *
 * Contract:
 * - model.c checks every argument (shapes, token ids, lengths, targets) before calling an op; ops
 *   report only failures of the backend itself (memory, device errors).
 * - Every buffer an op takes lives in the backend's memory (alloc), except where a comment says
 *   host. A backend with host = 1 uses plain host memory: the model then uses its host parameters,
 *   gradient and optimiser moments in place and copies nothing. Otherwise the model uploads its
 *   parameters on first use and keeps them, the gradient, the optimiser's moments and the
 *   activations resident; only what a caller reads crosses back (model.h, gc_model_sync).
 * - Each op has the contract of its CPU twin in lib/model/ops.h. linear_residual is
 *   y = res + x W^T (y and res distinct), the residual connection as one op, so that a backend may
 *   fuse the addition into the matmul. Wb is W's bf16 shadow when the backend reads one
 *   (shadow = 1: the model keeps a bf16 copy of its parameters, refreshed by to_bf16 after every
 *   upload and update), else NULL.
 * - Ops run in the order called; download waits for them.
 */
#ifndef GC_BACKEND_H
#define GC_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util/base.h"

typedef struct gc_backend gc_backend;
struct gc_backend {
    const char *name;      /* "cpu", "cuda" or "cuda-emulated" */
    const char *precision; /* "fp32" | "tf32" | "bf16" */
    void *ctx;
    int host;         /* 1: buffers are host memory, used in place */
    int shadow;       /* 1: matmuls read a bf16 shadow of the parameters */
    size_t att_bytes; /* bytes per stored attention probability (4; 2 when stored in bf16) */

    /* ---- memory ---- */
    void *(*alloc)(const gc_backend *be, size_t bytes); /* zeroed; NULL with the error recorded */
    void (*free)(const gc_backend *be, void *p);
    gc_status (*upload)(const gc_backend *be, void *dst, const void *host, size_t bytes);
    gc_status (*download)(const gc_backend *be, void *host, const void *src, size_t bytes);
    gc_status (*copy)(const gc_backend *be, void *dst, const void *src, size_t bytes);
    gc_status (*zero)(const gc_backend *be, void *p, size_t bytes);
    /* dst (n, bf16 as uint16) = src (n) rounded to nearest even; NULL when shadow = 0 */
    gc_status (*to_bf16)(const gc_backend *be, void *dst, const float *src, size_t n);

    /* ---- ops (lib/model/ops.h's contracts) ---- */
    /* out (N, D) = emb[tokens] */
    gc_status (*embedding)(const gc_backend *be, float *out, const float *emb,
                           const int32_t *tokens, int N, int D);
    /* demb (V, D) += the rows of dout (N, D) at their tokens; tokens on the HOST */
    gc_status (*embedding_backward)(const gc_backend *be, float *demb, int V, const float *dout,
                                    const int32_t *tokens_host, int N, int D);
    gc_status (*rmsnorm)(const gc_backend *be, float *y, float *rstd, const float *x,
                         const float *w, int N, int D, float eps);
    gc_status (*rmsnorm_backward)(const gc_backend *be, float *dx, int dx_acc, float *dw,
                                  const float *dy, const float *x, const float *w,
                                  const float *rstd, int N, int D);
    /* y (N, out; row stride ldy) = x (N, in) W^T */
    gc_status (*linear)(const gc_backend *be, float *y, int ldy, const float *x, const float *W,
                        const void *Wb, int N, int in, int out);
    /* y (N, out) = res (N, out) + x (N, in) W^T */
    gc_status (*linear_residual)(const gc_backend *be, float *y, const float *res, const float *x,
                                 const float *W, const void *Wb, int N, int in, int out);
    /* optional (NULL: linear and linear_residual serve): the matmuls of a decoding step,
     * y (N, out; row stride ldy) = x (N, in) W^T, plus res (N, out) when res is not NULL, each
     * row's bits independent of N and of the other rows (ops.h, gc_ops_linear_rows), so that a
     * sequence decodes the same alone as in a batch */
    gc_status (*decode_linear)(const gc_backend *be, float *y, int ldy, const float *res,
                               const float *x, const float *W, const void *Wb, int N, int in,
                               int out);
    gc_status (*linear_backward)(const gc_backend *be, float *dx, int dx_acc, float *dW,
                                 const float *dy, int ldy, const float *x, const float *W,
                                 const void *Wb, int N, int in, int out);
    /* rotary positions in place; pos (N) gives each row's position (forward rotation only), or
     * NULL for t = row % T */
    gc_status (*rope)(const gc_backend *be, float *x, int ld, int off, int nheads, int hs, int N,
                      int T, const float *cos_t, const float *sin_t, int inverse,
                      const int32_t *pos);
    /* att: L = 1 layer of (B, nh, T, T) probabilities, att_bytes each; len (B) or NULL */
    gc_status (*attention)(const gc_backend *be, float *out, void *att, const float *qkv, int B,
                           int T, int nh, int nkv, int hs, const int32_t *len);
    gc_status (*attention_backward)(const gc_backend *be, float *dqkv, const float *dout,
                                    const void *att, const float *qkv, int B, int T, int nh,
                                    int nkv, int hs, const int32_t *len);
    /* one decoding step of one layer: stores each row's k and v of qkv (B, D + 2 KV) at pos[b] in
     * the caches k, v (B * Tm * KV floats each, laid out as the backend likes: the CPU keeps keys
     * transposed, ops.h), then out (B, D) = its query's attention over positions [0, pos[b]];
     * scores (B, nh, Tm) workspace; rows with active[b] == 0 (active may be NULL) get zeros */
    gc_status (*decode_attention)(const gc_backend *be, float *out, float *scores, float *k,
                                  float *v, const float *qkv, const int32_t *pos,
                                  const uint8_t *active, int B, int Tm, int nh, int nkv, int hs);
    gc_status (*swiglu)(const gc_backend *be, float *g, const float *a13, int N, int H);
    gc_status (*swiglu_backward)(const gc_backend *be, float *da13, const float *dg,
                                 const float *a13, int N, int H);
    /* y (n) += x (n) */
    gc_status (*add)(const gc_backend *be, float *y, const float *x, size_t n);
    /* *sum (host): the sum of the rows' cross-entropies (targets >= 0), dlogits = scale * dCE */
    gc_status (*cross_entropy)(const gc_backend *be, float *dlogits, const float *logits,
                               const int32_t *targets, int N, int V, float scale, double *sum);
    /* *out (host) = sum of squares in double, fixed order */
    gc_status (*sumsq)(const gc_backend *be, const float *x, size_t n, double *out);
    gc_status (*scale)(const gc_backend *be, float *x, size_t n, float k);
    /* one AdamW update of n elements (gc_adamw_update's arithmetic); step counts this update */
    gc_status (*adamw)(const gc_backend *be, float *p, float *m, float *v, const float *g, size_t n,
                       float lr, float beta1, float beta2, float eps, float weight_decay, int decay,
                       int64_t step);
};

/* The CPU backend: lib/model/ops.c on host memory, OpenMP and BLAS. */
const gc_backend *gc_backend_cpu(void);

/* want values of gc_model_forward_len (model.h): no logits; logits on the host; logits for the
 * loss only (on a host backend the last two are the same) */
enum { GC_LOGITS_NONE = 0, GC_LOGITS_HOST = 1, GC_LOGITS_DEVICE = 2 };

/* The process's device, chosen by --device: "cpu" or "cuda" (loads the CUDA backend from
 * libgcrm_cuda.so beside the executable, at the given precision). Models created afterwards use it
 * (gc_device_backend). A clear error when cuda is asked for and no GPU is usable, or the build has
 * no CUDA. */
gc_status gc_device_open(const char *device, const char *precision);
/* The opened backend: the CPU's unless cuda was opened. */
const gc_backend *gc_device_backend(void);
/* "cpu", or "cuda (<device description>, <precision>)" for result files. */
const char *gc_device_describe(void);
void gc_device_close(void);

#endif
