/* The decoding matmul: each output a fused multiply-add chain over k in order, whatever the
 * number of rows (ops.h, gc_ops_linear_rows). BLAS packs the whole weight matrix on every call,
 * which for one row costs more than the multiply-adds themselves, and rounds a row by a blocking
 * that may depend on the other rows; this kernel transposes 64 weight rows at a time into a panel
 * (in, 64) and runs the input rows over it, six rows by two vectors of eight outputs per tile, or
 * one row by all eight vectors. */
#include "ops.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

void gc_ops_linear_rows_ref(float *y, int ldy, const float *res, const float *x, const float *W,
                            int N, int in, int out) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < out; o++) {
            const float *xn = x + (size_t)n * in, *wo = W + (size_t)o * in;
            float s = 0.0f;
            for (int k = 0; k < in; k++)
                s = fmaf(xn[k], wo[k], s);
            y[(size_t)n * ldy + o] = res ? res[(size_t)n * out + o] + s : s;
        }
}

#if defined(__AVX2__) && defined(__FMA__)

enum { PW = 64 }; /* outputs per panel: eight vectors of eight */

/* panel (in, PW) = W rows o0 .. o0+m-1 (m <= PW) transposed; lanes past m are zero */
static void make_panel(float *panel, const float *W, int o0, int m, int in) {
    for (int g = 0; g < PW / 8; g++) {
        int og = o0 + 8 * g, mg = m - 8 * g < 0 ? 0 : m - 8 * g > 8 ? 8 : m - 8 * g;
        float *pg = panel + 8 * g;
        int k = 0;
        if (mg == 8)
            for (; k + 8 <= in; k += 8) { /* 8 x 8 transposition in registers */
                __m256 r[8], t[8];
                for (int j = 0; j < 8; j++)
                    r[j] = _mm256_loadu_ps(W + (size_t)(og + j) * in + k);
                for (int j = 0; j < 8; j += 2) {
                    t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
                    t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
                }
                for (int j = 0; j < 8; j += 4) {
                    r[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
                    r[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xEE);
                    r[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
                    r[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xEE);
                }
                /* now r[c] (c < 4) holds column c of rows 0-3 in its low half and column c + 4
                 * in its high half; r[c + 4] the same for rows 4-7 */
                for (int c = 0; c < 4; c++) {
                    _mm256_storeu_ps(pg + (size_t)(k + c) * PW,
                                     _mm256_permute2f128_ps(r[c], r[c + 4], 0x20));
                    _mm256_storeu_ps(pg + (size_t)(k + c + 4) * PW,
                                     _mm256_permute2f128_ps(r[c], r[c + 4], 0x31));
                }
            }
        for (; k < in; k++)
            for (int j = 0; j < 8; j++)
                pg[(size_t)k * PW + j] = j < mg ? W[(size_t)(og + j) * in + k] : 0.0f;
    }
}

/* y rows [n0, n0+R), outputs o0 + [8 c0, 8 (c0 + C)) clipped to m, = acc (row r's vector c at
 * acc[r * stride + c]), plus res when given */
static void put(float *y, int ldy, const float *res, int out, int n0, int R, int o0, int m, int c0,
                int C, const __m256 *acc, int stride) {
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            int j0 = 8 * (c0 + c);
            float *yr = y + (size_t)(n0 + r) * ldy + o0 + j0;
            const float *rr = res ? res + (size_t)(n0 + r) * out + o0 + j0 : NULL;
            __m256 a = acc[r * stride + c];
            if (j0 + 8 <= m) { /* a whole vector: res + a, lane by lane */
                _mm256_storeu_ps(yr, rr ? _mm256_add_ps(_mm256_loadu_ps(rr), a) : a);
                continue;
            }
            float v[8];
            _mm256_storeu_ps(v, a);
            for (int j = 0; j < m - j0; j++)
                yr[j] = rr ? rr[j] + v[j] : v[j];
        }
}

/* R (1..6) rows by two vectors: twelve chains, the most that AVX2's sixteen registers hold
 * beside the two weight vectors and a broadcast; with fewer rows the last one is computed again in
 * the spare chains, which put never stores */
static void tile_6x2(__m256 *acc, const float *panel, const float *x, int R, int in, int c0) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    __m256 a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    const float *xr[6];
    for (int r = 0; r < 6; r++)
        xr[r] = x + (size_t)(r < R ? r : R - 1) * in;
    const float *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3], *x4 = xr[4], *x5 = xr[5];
    const float *p = panel + 8 * c0;
    for (int k = 0; k < in; k++, p += PW) {
        __m256 w0 = _mm256_loadu_ps(p), w1 = _mm256_loadu_ps(p + 8), b;
        b = _mm256_broadcast_ss(x0 + k), a0 = _mm256_fmadd_ps(b, w0, a0);
        a1 = _mm256_fmadd_ps(b, w1, a1);
        b = _mm256_broadcast_ss(x1 + k), a2 = _mm256_fmadd_ps(b, w0, a2);
        a3 = _mm256_fmadd_ps(b, w1, a3);
        b = _mm256_broadcast_ss(x2 + k), a4 = _mm256_fmadd_ps(b, w0, a4);
        a5 = _mm256_fmadd_ps(b, w1, a5);
        b = _mm256_broadcast_ss(x3 + k), a6 = _mm256_fmadd_ps(b, w0, a6);
        a7 = _mm256_fmadd_ps(b, w1, a7);
        b = _mm256_broadcast_ss(x4 + k), a8 = _mm256_fmadd_ps(b, w0, a8);
        a9 = _mm256_fmadd_ps(b, w1, a9);
        b = _mm256_broadcast_ss(x5 + k), a10 = _mm256_fmadd_ps(b, w0, a10);
        a11 = _mm256_fmadd_ps(b, w1, a11);
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5;
    acc[6] = a6, acc[7] = a7, acc[8] = a8, acc[9] = a9, acc[10] = a10, acc[11] = a11;
}

/* one row by eight vectors */
static void tile_1x8(__m256 *acc, const float *panel, const float *x, int in) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    const float *p = panel;
    for (int k = 0; k < in; k++, p += PW) {
        __m256 b = _mm256_broadcast_ss(x + k);
        a0 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p), a0);
        a1 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p + 8), a1);
        a2 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p + 16), a2);
        a3 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p + 24), a3);
        a4 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p + 32), a4);
        a5 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p + 40), a5);
        a6 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p + 48), a6);
        a7 = _mm256_fmadd_ps(b, _mm256_loadu_ps(p + 56), a7);
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
    acc[4] = a4, acc[5] = a5, acc[6] = a6, acc[7] = a7;
}

/* rows [n0, n1) of y over every output block of PW */
static void run_rows(float *y, int ldy, const float *res, const float *x, const float *W, int n0,
                     int n1, int in, int out) {
    if (n0 >= n1) return;
    float *panel = malloc(sizeof(float) * PW * (size_t)in); /* (in, PW) */
    if (!panel) abort();
    __m256 acc[12];
    for (int o0 = 0; o0 < out; o0 += PW) {
        int m = out - o0 < PW ? out - o0 : PW, nv = (m + 7) / 8;
        make_panel(panel, W, o0, m, in);
        for (int n = n0; n < n1; n += 6) {
            int R = n1 - n < 6 ? n1 - n : 6;
            if (R == 1) { /* one row (a batch of one): all eight vectors at once */
                tile_1x8(acc, panel, x + (size_t)n * in, in);
                put(y, ldy, res, out, n, 1, o0, m, 0, nv, acc, 8);
                continue;
            }
            for (int c0 = 0; c0 < nv; c0 += 2) {
                tile_6x2(acc, panel, x + (size_t)n * in, R, in, c0);
                put(y, ldy, res, out, n, R, o0, m, c0, c0 + 1 < nv ? 2 : 1, acc, 2);
            }
        }
    }
    free(panel);
}

void gc_ops_linear_rows(float *y, int ldy, const float *res, const float *x, const float *W, int N,
                        int in, int out) {
    /* threads take rows in chunks of six; a thread wakes for no less than ~256k multiply-adds */
    if (N < 12 || !gc_par((size_t)N * in * out / 8) || omp_in_parallel()) {
        run_rows(y, ldy, res, x, W, 0, N, in, out); /* no region to start */
        return;
    }
    int chunks = (N + 5) / 6;
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int c0 = (int)((long)chunks * t / nt), c1 = (int)((long)chunks * (t + 1) / nt);
        run_rows(y, ldy, res, x, W, 6 * c0, 6 * c1 < N ? 6 * c1 : N, in, out);
    }
}

#else /* no AVX2 and FMA: the reference, rows in parallel */

void gc_ops_linear_rows(float *y, int ldy, const float *res, const float *x, const float *W, int N,
                        int in, int out) {
    GC_PAR_FOR((size_t)N * in * out,
               for (int n = 0; n < N; n++) gc_ops_linear_rows_ref(
                   y + (size_t)n * ldy, ldy, res ? res + (size_t)n * out : NULL, x + (size_t)n * in,
                   W, 1, in, out););
}

#endif
