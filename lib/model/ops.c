#include "ops.h"

#include "fastexp.h"
#include "lib/util/base.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- matmul ---- */

static double g_matmul_seconds;
double gc_ops_matmul_seconds(void) {
    return g_matmul_seconds;
}
void gc_ops_matmul_seconds_reset(void) {
    g_matmul_seconds = 0;
}

/* The forward splits its rows among the threads, one single-threaded GEMM per block (OpenBLAS's
 * OpenMP build does not nest), when every thread gets GC_ROWS_PER_THREAD rows or more: OpenBLAS's
 * own split of such a call synchronises its threads inside the GEMM, which on the ~1M model's
 * shapes (2048 rows, 128-344 inputs) cost about a sixth of the forward's matmul time (docs/core.md,
 * "BLAS kernels", has the profile). Below that many rows each thread would pack all of W for a
 * few rows, so OpenBLAS threads the call. A block's rows come out of the same kernel as
 * the whole call's, but OpenBLAS may round a block differently from another split: the bits
 * depend on the thread count (the contract), not on the run. The residual, when given, is copied
 * into the block and the GEMM accumulates onto it: one pass over y fewer than zeroing y (OpenBLAS
 * clears C for beta 0), multiplying, then adding. */
#define GC_ROWS_PER_THREAD 256

static void linear_block(float *y, int ldy, const float *res, const float *x, const float *W,
                         int n0, int n1, int in, int out) {
    if (res) /* the GEMM accumulates onto the residual (beta 1: OpenBLAS skips its pass over y) */
        for (int n = n0; n < n1; n++)
            memcpy(y + (size_t)n * ldy, res + (size_t)n * out, sizeof(float) * (size_t)out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n1 - n0, out, in, 1.0f,
                x + (size_t)n0 * in, in, W, in, res ? 1.0f : 0.0f, y + (size_t)n0 * ldy, ldy);
}

static void linear_split(float *y, int ldy, const float *res, const float *x, const float *W, int N,
                         int in, int out) {
    double t0 = gc_now();
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nt > 1 && N / nt >= GC_ROWS_PER_THREAD) {
#pragma omp parallel num_threads(nt)
        {
            int i = omp_get_thread_num();
            linear_block(y, ldy, res, x, W, (int)((long)N * i / nt), (int)((long)N * (i + 1) / nt),
                         in, out);
        }
    } else
        linear_block(y, ldy, res, x, W, 0, N, in, out);
    g_matmul_seconds += gc_now() - t0;
}

void gc_ops_linear(float *y, int ldy, const float *x, const float *W, int N, int in, int out) {
    linear_split(y, ldy, NULL, x, W, N, in, out);
}

void gc_ops_linear_residual(float *y, const float *res, const float *x, const float *W, int N,
                            int in, int out) {
    linear_split(y, out, res, x, W, N, in, out);
}

/* With two threads, the two GEMMs of a linear layer's backward (the same multiply-adds each) run
 * side by side, one thread each, instead of one after the other on both threads: measured here
 * (2 cores), 11% more training tokens/s for the ~1M model and 8% for the ~19M one. With more
 * threads they keep every thread each (OpenBLAS's OpenMP build does not nest, so side by side
 * would leave the rest idle). OpenBLAS rounds a GEMM on one thread differently from one split
 * over two, so the bits depend on the thread count, as the contract allows; for a given count they
 * are the same on every run (tests/test_core.c). */

void gc_ops_linear_backward(float *dx, int dx_acc, float *dW, const float *dy, int ldy,
                            const float *x, const float *W, int N, int in, int out) {
    double t0 = gc_now();
    int side = dx && dW && omp_get_max_threads() == 2 && !omp_in_parallel();
#pragma omp parallel sections num_threads(2) if (side)
    {
#pragma omp section
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, out, 1.0f, dy, ldy, W, in,
                        dx_acc ? 1.0f : 0.0f, dx, in);
#pragma omp section
        if (dW)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, N, 1.0f, dy, ldy, x, in,
                        1.0f, dW, in);
    }
    g_matmul_seconds += gc_now() - t0;
}

void gc_ops_matmul_ref(float *C, const float *A, const float *B, int M, int N, int K) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)A[(size_t)i * K + k] * B[(size_t)j * K + k];
            C[(size_t)i * N + j] = (float)acc;
        }
}

/* ---- RMSNorm ---- */

void gc_ops_rmsnorm(float *y, float *rstd, const float *x, const float *w, int N, int D,
                    float eps) {
    GC_PAR_FOR((size_t)N * D, for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D;
        float *yr = y + (size_t)n * D;
        float ss = 0.0f;
        _Pragma("omp simd reduction(+ : ss)") for (int i = 0; i < D; i++) ss += xr[i] * xr[i];
        float r = 1.0f / sqrtf(ss / (float)D + eps);
        rstd[n] = r;
        for (int i = 0; i < D; i++)
            yr[i] = xr[i] * r * w[i];
    });
}

#define COL_BLOCK 16

void gc_ops_rmsnorm_backward(float *dx, int dx_acc, float *dw, const float *dy, const float *x,
                             const float *w, const float *rstd, int N, int D) {
    /* dw: parallel over column blocks, rows summed in order (deterministic at any thread count) */
    int nblk = (D + COL_BLOCK - 1) / COL_BLOCK;
    GC_PAR_FOR((size_t)N * D, for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * COL_BLOCK, c1 = c0 + COL_BLOCK < D ? c0 + COL_BLOCK : D;
        float acc[COL_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const float *xr = x + (size_t)n * D, *dyr = dy + (size_t)n * D;
            for (int c = c0; c < c1; c++)
                acc[c - c0] += dyr[c] * xr[c] * rstd[n];
        }
        for (int c = c0; c < c1; c++)
            dw[c] += acc[c - c0];
    });
    GC_PAR_FOR((size_t)N * D, for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D, *dyr = dy + (size_t)n * D;
        float *dxr = dx + (size_t)n * D;
        float r = rstd[n], dot = 0.0f;
        _Pragma("omp simd reduction(+ : dot)") for (int i = 0; i < D; i++) dot +=
            dyr[i] * w[i] * xr[i];
        float k = r * r * r * dot / (float)D;
        for (int i = 0; i < D; i++) {
            float v = r * w[i] * dyr[i] - k * xr[i];
            dxr[i] = dx_acc ? dxr[i] + v : v;
        }
    });
}

/* ---- rotary ---- */

/* one row's heads rotated for the position whose tables are c, s (half each); sgn -1 inverts */
static void rope_row(float *row, int nheads, int hs, const float *c, const float *s, float sgn) {
    int half = hs / 2;
    for (int h = 0; h < nheads; h++) {
        float *v = row + h * hs;
        for (int i = 0; i < half; i++) {
            float v0 = v[2 * i], v1 = v[2 * i + 1], si = sgn * s[i];
            v[2 * i] = v0 * c[i] - v1 * si;
            v[2 * i + 1] = v0 * si + v1 * c[i];
        }
    }
}

void gc_ops_rope(float *x, int ld, int off, int nheads, int hs, int N, int T, const float *cos_t,
                 const float *sin_t, int inverse) {
    size_t half = (size_t)hs / 2;
    GC_PAR_FOR((size_t)N * nheads * hs,
               for (int n = 0; n < N; n++)
                   rope_row(x + (size_t)n * ld + off, nheads, hs, cos_t + (size_t)(n % T) * half,
                            sin_t + (size_t)(n % T) * half, inverse ? -1.0f : 1.0f););
}

void gc_ops_rope_at(float *x, int ld, int off, int nheads, int hs, int N, const int32_t *pos,
                    const float *cos_t, const float *sin_t) {
    size_t half = (size_t)hs / 2;
    GC_PAR_FOR((size_t)N * nheads * hs,
               for (int n = 0; n < N; n++)
                   rope_row(x + (size_t)n * ld + off, nheads, hs, cos_t + (size_t)pos[n] * half,
                            sin_t + (size_t)pos[n] * half, 1.0f););
}

/* ---- KV-cache decoding ---- */

/* The CPU's cache keeps each kv head's keys transposed, kt (B, nkv, hs, Tm), so that a query's
 * scores over eight positions are one vector of eight independent sums; values stay as rows,
 * v (B, Tm, KV). */
void gc_ops_kv_store(float *k, float *v, const float *qkv, int B, int Tm, int nh, int nkv, int hs,
                     const int32_t *pos) {
    int D = nh * hs, KV = nkv * hs;
    for (int b = 0; b < B; b++) {
        const float *row = qkv + (size_t)b * (D + 2 * KV);
        for (int c = 0; c < KV; c++) /* column c = kv head c / hs, dimension c % hs */
            k[((size_t)b * KV + c) * Tm + pos[b]] = row[D + c];
        memcpy(v + ((size_t)b * Tm + pos[b]) * KV, row + D + KV, sizeof(float) * KV);
    }
}

/* One query head over positions [0, P]: kt (hs, Tm) its kv head's keys, v rows of stride KV,
 * p (P + 1) workspace. Each score is the sum over i in order of q[i] k[i][j]; the softmax sums in
 * position order; each output element the sum over positions in order. Eight positions (scores)
 * and eight dimensions (outputs) at a time in fixed-size local arrays, which the compiler keeps in
 * vector registers. */
static void decode_head(float *o, float *p, const float *q, const float *kt, const float *v, int Tm,
                        int KV, int hs, int P, float scale) {
    enum { W = 8 };
    int j = 0;
    for (; j + W <= P + 1; j += W) {
        float acc[W] = {0};
        for (int i = 0; i < hs; i++)
            for (int jj = 0; jj < W; jj++)
                acc[jj] += q[i] * kt[(size_t)i * Tm + j + jj];
        for (int jj = 0; jj < W; jj++)
            p[j + jj] = acc[jj] * scale;
    }
    for (; j <= P; j++) {
        float acc = 0.0f;
        for (int i = 0; i < hs; i++)
            acc += q[i] * kt[(size_t)i * Tm + j];
        p[j] = acc * scale;
    }
    float mx = -INFINITY, sum = 0.0f;
    for (j = 0; j <= P; j++)
        mx = p[j] > mx ? p[j] : mx;
    _Pragma("omp simd") for (j = 0; j <= P; j++) p[j] = gc_expf(p[j] - mx);
    for (j = 0; j <= P; j++)
        sum += p[j];
    float inv = 1.0f / sum;
    int i0 = 0;
    for (; i0 + W <= hs; i0 += W) {
        float acc[W] = {0};
        for (j = 0; j <= P; j++) {
            const float *vj = v + (size_t)j * KV + i0;
            float pj = p[j] * inv;
            for (int ii = 0; ii < W; ii++)
                acc[ii] += pj * vj[ii];
        }
        for (int ii = 0; ii < W; ii++)
            o[i0 + ii] = acc[ii];
    }
    for (; i0 < hs; i0++) {
        float acc = 0.0f;
        for (j = 0; j <= P; j++)
            acc += p[j] * inv * v[(size_t)j * KV + i0];
        o[i0] = acc;
    }
}

void gc_ops_attention_decode(float *out, float *scores, const float *qkv, const float *k,
                             const float *v, int B, int Tm, int nh, int nkv, int hs,
                             const int32_t *pos, const uint8_t *active) {
    int D = nh * hs, KV = nkv * hs, QKV = D + 2 * KV, grp = nh / nkv;
    float scale = 1.0f / sqrtf((float)hs);
    size_t work = 0; /* multiply-adds: two per cached position and dimension */
    for (int b = 0; b < B; b++)
        work += (size_t)2 * nh * hs * (pos[b] + 1);
    GC_PAR_FOR_COLLAPSE(
        work, 2, for (int b = 0; b < B; b++) for (int h = 0; h < nh; h++) {
            float *o = out + (size_t)b * D + h * hs;
            if (active && !active[b]) { /* finished: no attention to pay for */
                memset(o, 0, sizeof(float) * hs);
                continue;
            }
            int kh = h / grp;
            decode_head(o, scores + ((size_t)b * nh + h) * Tm, qkv + (size_t)b * QKV + h * hs,
                        k + ((size_t)b * KV + (size_t)kh * hs) * Tm,
                        v + (size_t)b * Tm * KV + (size_t)kh * hs, Tm, KV, hs, pos[b], scale);
        });
}

/* ---- causal attention ---- */

void gc_ops_attention_ref(float *out, float *att, const float *qkv, int B, int T, int nh, int nkv,
                          int hs, const int *len) {
    int D = nh * hs, KV = nkv * hs, ld = D + 2 * KV, grp = nh / nkv;
    float scale = 1.0f / sqrtf((float)hs);
    GC_PAR_FOR_COLLAPSE(
        (size_t)B * nh * T * T * hs, 3,
        for (int b = 0; b < B; b++) for (int h = 0; h < nh; h++) for (int t = 0; t < T; t++) {
            const float *q = qkv + (size_t)(b * T + t) * ld + h * hs;
            float *p = att + (((size_t)b * nh + h) * T + t) * T;
            int kvo = D + (h / grp) * hs;
            if (len && t >= len[b]) { /* padding: zero output */
                memset(out + (size_t)(b * T + t) * D + h * hs, 0, sizeof(float) * hs);
                continue;
            }
            float mx = -INFINITY;
            for (int j = 0; j <= t; j++) {
                const float *k = qkv + (size_t)(b * T + j) * ld + kvo;
                float s = 0.0f;
                _Pragma("omp simd reduction(+ : s)") for (int i = 0; i < hs; i++) s += q[i] * k[i];
                s *= scale;
                p[j] = s;
                if (s > mx) mx = s;
            }
            float sum = 0.0f;
            for (int j = 0; j <= t; j++) {
                p[j] = expf(p[j] - mx);
                sum += p[j];
            }
            float inv = 1.0f / sum;
            for (int j = 0; j <= t; j++)
                p[j] *= inv;
            float *o = out + (size_t)(b * T + t) * D + h * hs;
            for (int i = 0; i < hs; i++)
                o[i] = 0.0f;
            for (int j = 0; j <= t; j++) {
                const float *v = qkv + (size_t)(b * T + j) * ld + kvo + KV;
                float pj = p[j];
                _Pragma("omp simd") for (int i = 0; i < hs; i++) o[i] += pj * v[i];
            }
        });
}

void gc_ops_attention_backward_ref(float *dqkv, const float *dout, const float *att,
                                   const float *qkv, int B, int T, int nh, int nkv, int hs,
                                   const int *len) {
    int D = nh * hs, KV = nkv * hs, ld = D + 2 * KV, grp = nh / nkv;
    float scale = 1.0f / sqrtf((float)hs);
    memset(dqkv, 0, sizeof(float) * (size_t)B * T * ld);
    /* one (batch, kv head) per task: the dk, dv it accumulates belong to it alone */
    GC_PAR_FOR_COLLAPSE((size_t)B * nkv * T * T * hs, 2,
                        for (int b = 0; b < B; b++) for (int kh = 0; kh < nkv; kh++) {
                            float dp[T]; /* T <= seq_len: a few KiB of stack */
                            int ko = D + kh * hs, vo = D + KV + kh * hs;
                            int Tb = len ? len[b] : T;
                            for (int h = kh * grp; h < (kh + 1) * grp; h++)
                                for (int t = 0; t < Tb; t++) {
                                    const float *p = att + (((size_t)b * nh + h) * T + t) * T;
                                    const float *dO = dout + (size_t)(b * T + t) * D + h * hs;
                                    const float *q = qkv + (size_t)(b * T + t) * ld + h * hs;
                                    float *dq = dqkv + (size_t)(b * T + t) * ld + h * hs;
                                    float dsum = 0.0f;
                                    for (int j = 0; j <= t; j++) {
                                        const float *v = qkv + (size_t)(b * T + j) * ld + vo;
                                        float *dv = dqkv + (size_t)(b * T + j) * ld + vo;
                                        float s = 0.0f, pj = p[j];
                                        _Pragma("omp simd reduction(+ : s)") for (int i = 0; i < hs;
                                                                                  i++) {
                                            s += dO[i] * v[i];
                                            dv[i] += pj * dO[i];
                                        }
                                        dp[j] = s;
                                        dsum += pj * s;
                                    }
                                    for (int j = 0; j <= t; j++) {
                                        float ds = p[j] * (dp[j] - dsum) * scale;
                                        const float *k = qkv + (size_t)(b * T + j) * ld + ko;
                                        float *dk = dqkv + (size_t)(b * T + j) * ld + ko;
                                        _Pragma("omp simd") for (int i = 0; i < hs; i++) {
                                            dq[i] += ds * k[i];
                                            dk[i] += ds * q[i];
                                        }
                                    }
                                }
                        });
}

/* Fast path: per (batch, head) GEMMs. Scores S = Q K^T (the upper triangle is computed and
 * discarded), causal softmax by rows, O = P V. GEMMs run single-threaded inside the parallel
 * loop (OpenBLAS's OpenMP build does not nest). */
/* The fast path works in row tiles of GC_ATT_TILE queries: tile [r0, r1) only meets keys
 * [0, r1), so the score GEMMs skip most of the masked upper triangle (about half the work at
 * long T), and padding rows (t >= len[b]) cost nothing. Within a tile, entries right of the
 * diagonal are zeros (the backward's GEMMs read them). */
#define GC_ATT_TILE 64

void gc_ops_attention(float *out, float *att, const float *qkv, int B, int T, int nh, int nkv,
                      int hs, const int *len) {
    int D = nh * hs, KV = nkv * hs, ld = D + 2 * KV, grp = nh / nkv;
    float scale = 1.0f / sqrtf((float)hs);
    GC_PAR_FOR_COLLAPSE(
        (size_t)B * nh * T * T * hs, 2, for (int b = 0; b < B; b++) for (int h = 0; h < nh; h++) {
            const float *q = qkv + (size_t)b * T * ld + h * hs;
            const float *k = qkv + (size_t)b * T * ld + D + (h / grp) * hs;
            const float *v = k + KV;
            float *p = att + ((size_t)b * nh + h) * T * T;
            int Tb = len ? len[b] : T;
            for (int t = Tb; t < T; t++) /* padding: zero output */
                memset(out + ((size_t)b * T + t) * D + h * hs, 0, sizeof(float) * hs);
            for (int r0 = 0; r0 < Tb; r0 += GC_ATT_TILE) {
                int r1 = r0 + GC_ATT_TILE < Tb ? r0 + GC_ATT_TILE : Tb, R = r1 - r0;
                float *pt = p + (size_t)r0 * T; /* rows [r0, r1), keys [0, r1) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, r1, hs, scale,
                            q + (size_t)r0 * ld, ld, k, ld, 0.0f, pt, T);
                for (int t = r0; t < r1; t++) {
                    float *row = p + (size_t)t * T, mx = -INFINITY, sum = 0.0f;
                    _Pragma("omp simd reduction(max : mx)") for (int j = 0; j <= t; j++) mx =
                        row[j] > mx ? row[j] : mx;
                    /* the sum in vector lanes: a fixed order for one build, so the same bits on
                     * every run and thread count */
                    _Pragma("omp simd reduction(+ : sum)") for (int j = 0; j <= t; j++) {
                        float e = gc_expf(row[j] - mx);
                        row[j] = e;
                        sum += e;
                    }
                    float inv = 1.0f / sum;
                    _Pragma("omp simd") for (int j = 0; j <= t; j++) row[j] *= inv;
                    memset(row + t + 1, 0, sizeof(float) * (size_t)(r1 - t - 1));
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, hs, r1, 1.0f, pt, T, v,
                            ld, 0.0f, out + ((size_t)b * T + r0) * D + h * hs, D);
            }
        });
}

void gc_ops_attention_backward(float *dqkv, const float *dout, const float *att, const float *qkv,
                               int B, int T, int nh, int nkv, int hs, const int *len) {
    int D = nh * hs, KV = nkv * hs, ld = D + 2 * KV, grp = nh / nkv;
    float scale = 1.0f / sqrtf((float)hs);
    int nthreads = omp_get_max_threads();
    int tile = GC_ATT_TILE < T ? GC_ATT_TILE : T;
    float *scratch = malloc(sizeof(float) * (size_t)tile * T * nthreads);
    if (!scratch) { /* no room for the score tiles: the loop version needs none */
        gc_ops_attention_backward_ref(dqkv, dout, att, qkv, B, T, nh, nkv, hs, len);
        return;
    }
    /* one (batch, kv head) per task: the dk and dv it accumulates have one writer, and it clears
     * them (and its heads' dq rows past the length; the GEMMs write the others) itself, in
     * parallel and while they are about to be used */
    GC_PAR_FOR_COLLAPSE(
        (size_t)B * nkv * T * T * hs, 2,
        for (int b = 0; b < B; b++) for (int kh = 0; kh < nkv; kh++) {
            float *ds = scratch + (size_t)omp_get_thread_num() * tile * T; /* (R, r1), ld T */
            const float *k = qkv + (size_t)b * T * ld + D + kh * hs, *v = k + KV;
            float *dk = dqkv + (size_t)b * T * ld + D + kh * hs, *dv = dk + KV;
            for (int t = 0; t < T; t++) {
                memset(dk + (size_t)t * ld, 0, sizeof(float) * hs);
                memset(dv + (size_t)t * ld, 0, sizeof(float) * hs);
                if (t >= (len ? len[b] : T))
                    memset(dqkv + ((size_t)b * T + t) * ld + kh * grp * hs, 0,
                           sizeof(float) * hs * grp);
            }
            for (int h = kh * grp; h < (kh + 1) * grp; h++) {
                const float *p = att + ((size_t)b * nh + h) * T * T;
                const float *dO = dout + (size_t)b * T * D + h * hs;
                const float *q = qkv + (size_t)b * T * ld + h * hs;
                float *dq = dqkv + (size_t)b * T * ld + h * hs;
                int Tb = len ? len[b] : T;
                for (int r0 = 0; r0 < Tb; r0 += GC_ATT_TILE) {
                    int r1 = r0 + GC_ATT_TILE < Tb ? r0 + GC_ATT_TILE : Tb, R = r1 - r0;
                    const float *pt = p + (size_t)r0 * T;
                    const float *dOt = dO + (size_t)r0 * D;
                    /* dV[0:r1] += P_t^T dO_t;  dP_t = dO_t V[0:r1]^T */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hs, R, 1.0f, pt, T,
                                dOt, D, 1.0f, dv, ld);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, r1, hs, 1.0f, dOt, D, v,
                                ld, 0.0f, ds, T);
                    /* dS = P * (dP - rowsum(P * dP)) * scale, causal */
                    for (int t = r0; t < r1; t++) {
                        const float *pr = p + (size_t)t * T;
                        float *dr = ds + (size_t)(t - r0) * T, dot = 0.0f;
                        _Pragma("omp simd reduction(+ : dot)") for (int j = 0; j <= t; j++) dot +=
                            pr[j] * dr[j];
                        _Pragma("omp simd") for (int j = 0; j <= t; j++) dr[j] =
                            pr[j] * (dr[j] - dot) * scale;
                        for (int j = t + 1; j < r1; j++)
                            dr[j] = 0.0f;
                    }
                    /* dQ_t = dS_t K[0:r1];  dK[0:r1] += dS_t^T Q_t */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, hs, r1, 1.0f, ds, T,
                                k, ld, 0.0f, dq + (size_t)r0 * ld, ld);
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hs, R, 1.0f, ds, T,
                                q + (size_t)r0 * ld, ld, 1.0f, dk, ld);
                }
            }
        });
    free(scratch);
}

/* ---- SwiGLU ---- */

/* The SwiGLU pair, written once for both exponentials: gc_expf (vectorised, the fast path) and
 * libm's expf (the reference). A macro, not a function pointer: OpenMP outlines the loop body,
 * where a pointer would stay an indirect call per element. */
#define GC_SWIGLU(name, EXP)                                                                       \
    void name(float *g, const float *a13, int N, int H) {                                          \
        GC_PAR_FOR((size_t)N *H, for (int n = 0; n < N; n++) {                                     \
            const float *a1 = a13 + (size_t)n * 2 * H, *a3 = a1 + H;                               \
            float *gr = g + (size_t)n * H;                                                         \
            _Pragma("omp simd") for (int i = 0; i < H; i++) {                                      \
                float x = a1[i];                                                                   \
                gr[i] = x / (1.0f + EXP(-x)) * a3[i];                                              \
            }                                                                                      \
        });                                                                                        \
    }
#define GC_SWIGLU_BACKWARD(name, EXP)                                                              \
    void name(float *da13, const float *dg, const float *a13, int N, int H) {                      \
        GC_PAR_FOR((size_t)N *H, for (int n = 0; n < N; n++) {                                     \
            const float *a1 = a13 + (size_t)n * 2 * H, *a3 = a1 + H, *dgr = dg + (size_t)n * H;    \
            float *d1 = da13 + (size_t)n * 2 * H, *d3 = d1 + H;                                    \
            _Pragma("omp simd") for (int i = 0; i < H; i++) {                                      \
                float x = a1[i], s = 1.0f / (1.0f + EXP(-x)), silu = x * s;                        \
                d1[i] = dgr[i] * a3[i] * s * (1.0f + x * (1.0f - s));                              \
                d3[i] = dgr[i] * silu;                                                             \
            }                                                                                      \
        });                                                                                        \
    }
GC_SWIGLU(gc_ops_swiglu, gc_expf)
GC_SWIGLU(gc_ops_swiglu_ref, expf)
GC_SWIGLU_BACKWARD(gc_ops_swiglu_backward, gc_expf)
GC_SWIGLU_BACKWARD(gc_ops_swiglu_backward_ref, expf)

/* ---- cross-entropy ---- */

/* One row: d = scale * softmax(l) (the one-hot part is the caller's), returns logsumexp(l).
 * The reference takes both exponentials in double through libm; the fast path takes e^(l - max)
 * once in fp32 (gc_expf, vectorised), sums it in double and scales it by 1 / sum: within a few
 * ulp of the reference (tests/test_core.c), in a fixed order, so the same bits on every run. */
static double ce_row_ref(float *d, const float *l, int V, float scale) {
    float mx = l[0];
    for (int i = 1; i < V; i++)
        mx = l[i] > mx ? l[i] : mx;
    double sum = 0;
    for (int i = 0; i < V; i++)
        sum += exp((double)(l[i] - mx));
    double lse = (double)mx + log(sum);
    for (int i = 0; i < V; i++)
        d[i] = scale * (float)exp((double)l[i] - lse);
    return lse;
}

static double ce_row_fast(float *d, const float *l, int V, float scale) {
    float mx = l[0];
#pragma omp simd reduction(max : mx)
    for (int i = 1; i < V; i++)
        mx = l[i] > mx ? l[i] : mx;
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < V; i++) {
        float e = gc_expf(l[i] - mx);
        d[i] = e;
        sum += e;
    }
    float f = (float)(scale / sum);
#pragma omp simd
    for (int i = 0; i < V; i++)
        d[i] *= f;
    return (double)mx + log(sum);
}

/* The loop over rows, written once for both row functions (a macro for the reason GC_SWIGLU is). */
#define GC_CROSS_ENTROPY(name, ROW)                                                                \
    gc_status name(float *dlogits, const float *logits, const int32_t *targets, int N, int V,      \
                   float scale, double *sum_out) {                                                 \
        double *row_loss = gc_malloc(sizeof(double) * (size_t)(N > 0 ? N : 1));                    \
        if (!row_loss) return GC_ERR_NOMEM;                                                        \
        GC_PAR_FOR((size_t)N *V, for (int n = 0; n < N; n++) {                                     \
            const float *l = logits + (size_t)n * V;                                               \
            float *d = dlogits + (size_t)n * V;                                                    \
            if (targets[n] < 0) {                                                                  \
                memset(d, 0, sizeof(float) * (size_t)V);                                           \
                row_loss[n] = 0;                                                                   \
                continue;                                                                          \
            }                                                                                      \
            double lse = ROW(d, l, V, scale);                                                      \
            d[targets[n]] -= scale;                                                                \
            row_loss[n] = lse - (double)l[targets[n]];                                             \
        });                                                                                        \
        double total = 0;                                                                          \
        for (int n = 0; n < N; n++)                                                                \
            total += row_loss[n];                                                                  \
        free(row_loss);                                                                            \
        *sum_out = total;                                                                          \
        return GC_OK;                                                                              \
    }
GC_CROSS_ENTROPY(gc_ops_cross_entropy, ce_row_fast)
GC_CROSS_ENTROPY(gc_ops_cross_entropy_ref, ce_row_ref)

/* ---- embedding ---- */

void gc_ops_embedding(float *out, const float *emb, const int32_t *tokens, int N, int D) {
    GC_PAR_FOR((size_t)N * D,
               for (int n = 0; n < N; n++) memcpy(out + (size_t)n * D, emb + (size_t)tokens[n] * D,
                                                  sizeof(float) * (size_t)D););
}

void gc_ops_embedding_backward(float *demb, const float *dout, const int32_t *tokens, int N,
                               int D) {
    /* rows in order: repeated tokens accumulate in a fixed order */
    for (int n = 0; n < N; n++) {
        float *e = demb + (size_t)tokens[n] * D;
        const float *d = dout + (size_t)n * D;
        for (int i = 0; i < D; i++)
            e[i] += d[i];
    }
}

double gc_ops_sumsq(const float *x, size_t n) {
    enum { CHUNKS = 64 };
    double part[CHUNKS];
    size_t per = (n + CHUNKS - 1) / CHUNKS;
    GC_PAR_FOR(
        n, for (int c = 0; c < CHUNKS; c++) {
            size_t a = (size_t)c * per, b = a + per < n ? a + per : n;
            double s = 0;
            for (size_t i = a; i < b; i++)
                s += (double)x[i] * x[i];
            part[c] = s;
        });
    double total = 0;
    for (int c = 0; c < CHUNKS; c++)
        total += part[c];
    return total;
}
