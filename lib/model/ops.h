/* ops: the CPU primitives the model calls, fp32, OpenMP across rows, matmuls through BLAS.
 *
 * Contract: every function works on caller-owned buffers; only the attention backward and the
 * cross-entropy allocate (and free) scratch. Shapes are given in the comments, row-major.
 * "acc" in a name means the result is added to the output. Results do not depend on the order in
 * which threads run: reductions over rows use a fixed partition, so equal inputs and thread counts
 * give bitwise-equal outputs. gc_ops_matmul_ref is the naive reference the BLAS path is checked
 * against.
 */
#ifndef GC_OPS_H
#define GC_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util/base.h"

/* y (N, out) = x (N, in) W^T, W (out, in); y has row stride ldy (>= out). */
void gc_ops_linear(float *y, int ldy, const float *x, const float *W, int N, int in, int out);
/* y (N, out) = x W^T + res (N, out), y and res distinct. */
void gc_ops_linear_residual(float *y, const float *res, const float *x, const float *W, int N,
                            int in, int out);
/* Backward of gc_ops_linear: dx (N, in) (+)= dy W (accumulate when dx_acc), dW (out, in) += dy^T x.
 * dy has row stride ldy. Either dx or dW may be NULL to skip it. */
void gc_ops_linear_backward(float *dx, int dx_acc, float *dW, const float *dy, int ldy,
                            const float *x, const float *W, int N, int in, int out);
/* Seconds spent in BLAS matmuls (gc_ops_linear and its backward) since the last reset; calls
 * made from the main thread only, outside parallel regions. */
double gc_ops_matmul_seconds(void);
void gc_ops_matmul_seconds_reset(void);

/* The decoding matmul (lib/model/ops_rows.c): y (N, out; row stride ldy) = x (N, in) W^T, plus
 * res (N, out) when res is not NULL, where every output is the fused multiply-add chain
 * s = fma(x[k], W[o][k], s) over k = 0 .. in-1 from s = 0, then res + s. That order is the
 * definition, so a row's bits do not depend on N, on the other rows, on the thread count or on the
 * machine (fmaf is exact wherever it runs): one sequence decodes the same alone as in a batch.
 * Without BLAS's packing of W on every call, it is several times faster than gc_ops_linear for a
 * few rows. gc_ops_linear_rows_ref is the scalar loop the fast path equals bit for bit. */
void gc_ops_linear_rows(float *y, int ldy, const float *res, const float *x, const float *W, int N,
                        int in, int out);
void gc_ops_linear_rows_ref(float *y, int ldy, const float *res, const float *x, const float *W,
                            int N, int in, int out);

/* Naive triple loop with double accumulation: C (M, N) = A (M, K) B^T, B (N, K). */
void gc_ops_matmul_ref(float *C, const float *A, const float *B, int M, int N, int K);

/* y = x * rstd * w per row; rstd (N) saved. x, y (N, D). */
void gc_ops_rmsnorm(float *y, float *rstd, const float *x, const float *w, int N, int D, float eps);
/* dx (+)= (acc) d(rmsnorm)/dx, dw += sum over rows. */
void gc_ops_rmsnorm_backward(float *dx, int dx_acc, float *dw, const float *dy, const float *x,
                             const float *w, const float *rstd, int N, int D);

/* Rotary embedding in place on heads of size hs packed in rows of x (rows of stride ld, nheads
 * heads starting at column off), positions t = row % T. inverse=1 applies the transpose (backward).
 */
void gc_ops_rope(float *x, int ld, int off, int nheads, int hs, int N, int T, const float *cos_t,
                 const float *sin_t, int inverse);

/* Rotary positions by explicit position: row n (of N, stride ld) has nheads heads of size hs from
 * column off, rotated for position pos[n]; the arithmetic of gc_ops_rope's forward rotation. */
void gc_ops_rope_at(float *x, int ld, int off, int nheads, int hs, int N, const int32_t *pos,
                    const float *cos_t, const float *sin_t);

/* KV-cache decoding. The cache of one layer holds each kv head's keys transposed,
 * k (B, nkv, hs, Tm), and the values as rows, v (B, Tm, KV). gc_ops_kv_store writes each row's k
 * and v (columns [D, D+KV) and [D+KV, D+2KV) of qkv (B, D + 2 KV)) at its position;
 * gc_ops_attention_decode attends each row's q (columns [0, D)) over cache positions
 * [0, pos[b]] with grouped-query heads: out (B, D), scores (B, nh, Tm) workspace. Rows with
 * active[b] == 0 (active may be NULL) get zeros and no work. Each output is a fixed-order sum
 * (ops.c), so a row's bits depend neither on the batch nor on the thread count. */
void gc_ops_kv_store(float *k, float *v, const float *qkv, int B, int Tm, int nh, int nkv, int hs,
                     const int32_t *pos);
void gc_ops_attention_decode(float *out, float *scores, const float *qkv, const float *k,
                             const float *v, int B, int Tm, int nh, int nkv, int hs,
                             const int32_t *pos, const uint8_t *active);

/* Causal attention. qkv (B*T, D + 2 KV) with q at [0,D), k at [D, D+KV), v at [D+KV, D+2KV);
 * out (B*T, D). len (B) or NULL: sequence b occupies rows [0, len[b]) and the rest is padding,
 * whose output rows are zero (NULL: every row counts). att (B, nh, T, T) holds the probabilities
 * att[b, h, t, j] for t < len[b], j <= t; its other entries are workspace. */
void gc_ops_attention(float *out, float *att, const float *qkv, int B, int T, int nh, int nkv,
                      int hs, const int *len);
/* dqkv (B*T, D + 2KV) = gradient wrt qkv (overwritten; zero on padding rows), same len. */
void gc_ops_attention_backward(float *dqkv, const float *dout, const float *att, const float *qkv,
                               int B, int T, int nh, int nkv, int hs, const int *len);
/* Naive loop references of the two above (same contracts), for the tests. */
void gc_ops_attention_ref(float *out, float *att, const float *qkv, int B, int T, int nh, int nkv,
                          int hs, const int *len);
void gc_ops_attention_backward_ref(float *dqkv, const float *dout, const float *att,
                                   const float *qkv, int B, int T, int nh, int nkv, int hs,
                                   const int *len);

/* g (N, H) = silu(a13[:, :H]) * a13[:, H:]; a13 (N, 2H). The exponential is gc_expf
 * (lib/model/fastexp.h, vectorised); the _ref versions use libm's expf and are the references
 * the tests hold these to (within a few ulp). The attention softmax and its decoding variant use
 * gc_expf too; gc_ops_attention_ref keeps libm's. */
void gc_ops_swiglu(float *g, const float *a13, int N, int H);
void gc_ops_swiglu_backward(float *da13, const float *dg, const float *a13, int N, int H);
void gc_ops_swiglu_ref(float *g, const float *a13, int N, int H);
void gc_ops_swiglu_backward_ref(float *da13, const float *dg, const float *a13, int N, int H);

/* Row-wise cross-entropy: *sum = the sum of -log softmax(logits)[target] over rows with target
 * >= 0 (NaN or infinite when the logits are: the caller judges), and dlogits = scale * (softmax -
 * onehot) (zero rows for ignored targets). GC_ERR_NOMEM when its scratch cannot be allocated. */
gc_status gc_ops_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int N,
                               int V, float scale, double *sum);
/* The reference: both exponentials in double through libm. The fast path above is within a few
 * ulp of it (tests/test_core.c states the tolerances). */
gc_status gc_ops_cross_entropy_ref(float *dlogits, const float *logits, const int32_t *targets,
                                   int N, int V, float scale, double *sum);

/* out (N, D) = emb[tokens]. */
void gc_ops_embedding(float *out, const float *emb, const int32_t *tokens, int N, int D);
void gc_ops_embedding_backward(float *demb, const float *dout, const int32_t *tokens, int N, int D);

/* Sum of squares in double with a fixed reduction order. */
double gc_ops_sumsq(const float *x, size_t n);

#endif
