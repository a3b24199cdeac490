/* cuda_ops: the model's ops on device buffers (kernels/cuda_api.h): embedding, RMSNorm, rotary
 * positions, SwiGLU, cross-entropy, causal attention through batched GEMMs, decoding attention and
 * sampling. Each kernel is one per-element (or per-row) body; see cuda_internal.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_internal.h"

extern "C" gc_status gc_cuda_embedding(gc_cuda *c, float *out, const float *emb,
                                       const int32_t *tokens, int N, int D) {
    PROFILE(c, "embedding");
    return each(c, (size_t)N * D, [=] __host__ __device__(size_t i) {
        out[i] = emb[(size_t)tokens[i / D] * D + i % D];
    });
}

extern "C" gc_status gc_cuda_embedding_backward(gc_cuda *c, float *demb, int V, const float *dout,
                                                const int32_t *tokens_host, int N, int D) {
    PROFILE(c, "embedding_backward");
    /* the rows of each token in increasing order (a counting sort on the host): off (V + 1) then
     * rows (N); one thread per element of demb sums its token's rows in that order */
    int32_t *idx = (int32_t *)calloc((size_t)V + 1 + N, sizeof(int32_t));
    if (!idx) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    int32_t *off = idx, *rows = idx + V + 1;
    for (int n = 0; n < N; n++)
        off[tokens_host[n] + 1]++;
    for (int v = 0; v < V; v++)
        off[v + 1] += off[v];
    int32_t *fill = (int32_t *)malloc(sizeof(int32_t) * V);
    if (!fill) {
        free(idx);
        return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    }
    memcpy(fill, off, sizeof(int32_t) * V);
    for (int n = 0; n < N; n++)
        rows[fill[tokens_host[n]]++] = n;
    free(fill);
    size_t bytes = sizeof(int32_t) * ((size_t)V + 1 + N);
    int32_t *d = (int32_t *)scratch(c, SCR_INDEX, bytes);
    gc_status s = d ? gc_cuda_upload(c, d, idx, bytes) : GC_ERR_DEVICE;
    free(idx);
    GC_TRY(s);
    const int32_t *doff = d, *drows = d + V + 1;
    return each(c, (size_t)V * D, [=] __host__ __device__(size_t i) {
        size_t v = i / D, col = i % D;
        float acc = 0.0f;
        for (int32_t k = doff[v]; k < doff[v + 1]; k++)
            acc += dout[(size_t)drows[k] * D + col];
        if (doff[v + 1] > doff[v]) demb[i] += acc;
    });
}

/* the two folds of lanes() */
#define SUM [] __host__ __device__(float a, float b) { return a + b; }
#define SUMD [] __host__ __device__(double a, double b) { return a + b; }
#define MAX [] __host__ __device__(float a, float b) { return fmaxf(a, b); }

extern "C" gc_status gc_cuda_rmsnorm(gc_cuda *c, float *y, float *rstd, const float *x,
                                     const float *w, int N, int D, float eps) {
    PROFILE(c, "rmsnorm");
    float *part = (float *)scratch(c, SCR_LANES, sizeof(float) * (size_t)N * LANES);
    if (!part) return GC_ERR_DEVICE;
    GC_TRY(lanes(
        c, part, (size_t)N, [=] __host__ __device__(size_t) { return D; },
        [=] __host__ __device__(size_t r, int j) { return x[r * D + j] * x[r * D + j]; }, SUM,
        0.0f));
    GC_TRY(each(c, (size_t)N, [=] __host__ __device__(size_t r) {
        float s = 0.0f;
        for (int l = 0; l < LANES; l++)
            s += part[r * LANES + l];
        rstd[r] = 1.0f / sqrtf(s / (float)D + eps);
    }));
    return each(c, (size_t)N * D,
                [=] __host__ __device__(size_t i) { y[i] = x[i] * rstd[i / D] * w[i % D]; });
}

enum { NORM_CHUNK = 128 }; /* rows per partial sum of the weight gradient */

extern "C" gc_status gc_cuda_rmsnorm_backward(gc_cuda *c, float *dx, int dx_acc, float *dw,
                                              const float *dy, const float *x, const float *w,
                                              const float *rstd, int N, int D) {
    PROFILE(c, "rmsnorm_backward");
    /* dx = r w dy - r^3 (sum_i dy w x) / D x, the row's dot product folded by lanes */
    float *lp = (float *)scratch(c, SCR_LANES, sizeof(float) * (size_t)N * LANES);
    if (!lp) return GC_ERR_DEVICE;
    GC_TRY(lanes(
        c, lp, (size_t)N, [=] __host__ __device__(size_t) { return D; },
        [=] __host__ __device__(size_t r, int j) { return dy[r * D + j] * w[j] * x[r * D + j]; },
        SUM, 0.0f));
    /* the row's coefficient k */
    GC_TRY(each(c, (size_t)N, [=] __host__ __device__(size_t r) {
        float dot = 0.0f, rs = rstd[r];
        for (int l = 0; l < LANES; l++)
            dot += lp[r * LANES + l];
        lp[r * LANES] = rs * rs * rs * dot / (float)D;
    }));
    GC_TRY(each(c, (size_t)N * D, [=] __host__ __device__(size_t i) {
        size_t r = i / D;
        float g = rstd[r] * w[i % D] * dy[i] - lp[r * LANES] * x[i];
        dx[i] = dx_acc ? dx[i] + g : g;
    }));
    /* dw: partial sums over chunks of rows (one thread per chunk and column), then the chunks in
     * order (one thread per column) */
    int chunks = (N + NORM_CHUNK - 1) / NORM_CHUNK;
    float *part = (float *)scratch(c, SCR_ROWS, sizeof(float) * (size_t)chunks * D);
    if (!part) return GC_ERR_DEVICE;
    GC_TRY(each(c, (size_t)chunks * D, [=] __host__ __device__(size_t i) {
        int k = (int)(i / D), col = (int)(i % D),
            end = (k + 1) * NORM_CHUNK < N ? (k + 1) * NORM_CHUNK : N;
        float acc = 0.0f;
        for (int n = k * NORM_CHUNK; n < end; n++)
            acc += dy[(size_t)n * D + col] * x[(size_t)n * D + col] * rstd[n];
        part[i] = acc;
    }));
    return each(c, (size_t)D, [=] __host__ __device__(size_t col) {
        float acc = 0.0f;
        for (int k = 0; k < chunks; k++)
            acc += part[(size_t)k * D + col];
        dw[col] += acc;
    });
}

extern "C" gc_status gc_cuda_rope(gc_cuda *c, float *x, int ld, int off, int nheads, int hs, int N,
                                  int T, const float *cos_t, const float *sin_t, int inverse,
                                  const int32_t *pos) {
    PROFILE(c, "rope");
    int half = hs / 2;
    float sgn = inverse ? -1.0f : 1.0f;
    return each(c, (size_t)N * nheads * half, [=] __host__ __device__(size_t i) {
        int p = (int)(i % half), h = (int)((i / half) % nheads);
        size_t n = i / ((size_t)half * nheads);
        int t = pos ? pos[n] : (int)(n % T);
        float *v = x + n * ld + off + h * hs;
        float cs = cos_t[(size_t)t * half + p], sn = sgn * sin_t[(size_t)t * half + p];
        float v0 = v[2 * p], v1 = v[2 * p + 1];
        v[2 * p] = v0 * cs - v1 * sn;
        v[2 * p + 1] = v0 * sn + v1 * cs;
    });
}

extern "C" gc_status gc_cuda_swiglu(gc_cuda *c, float *g, const float *a13, int N, int H) {
    PROFILE(c, "swiglu");
    return each(c, (size_t)N * H, [=] __host__ __device__(size_t i) {
        size_t n = i / H, h = i % H;
        float a = a13[n * 2 * H + h], b = a13[n * 2 * H + H + h];
        g[i] = a / (1.0f + expf(-a)) * b;
    });
}

extern "C" gc_status gc_cuda_swiglu_backward(gc_cuda *c, float *da13, const float *dg,
                                             const float *a13, int N, int H) {
    PROFILE(c, "swiglu_backward");
    return each(c, (size_t)N * H, [=] __host__ __device__(size_t i) {
        size_t n = i / H, h = i % H;
        float x = a13[n * 2 * H + h], u = a13[n * 2 * H + H + h], s = 1.0f / (1.0f + expf(-x));
        da13[n * 2 * H + h] = dg[i] * u * s * (1.0f + x * (1.0f - s));
        da13[n * 2 * H + H + h] = dg[i] * x * s;
    });
}

/* per row: the max, the sum of exponentials in double (as the CPU path), then the gradient per
 * element; folds by lanes() */
extern "C" gc_status gc_cuda_cross_entropy(gc_cuda *c, float *dlogits, double *sum,
                                           const float *logits, const int32_t *targets, int N,
                                           int V, float scale) {
    PROFILE(c, "cross_entropy");
    double *rl = (double *)scratch(c, SCR_ROWS, sizeof(double) * (N > 0 ? N : 1) * 2);
    float *pmax = (float *)scratch(c, SCR_LANES, sizeof(float) * (size_t)N * LANES);
    double *psum = (double *)scratch(c, SCR_LANES2, sizeof(double) * (size_t)N * LANES);
    if (!rl || !pmax || !psum) return GC_ERR_DEVICE;
    double *lse = rl + N; /* (N) log-sum-exp per row */
    auto cols = [=] __host__ __device__(size_t r) { return targets[r] < 0 ? 0 : V; };
    GC_TRY(lanes(
        c, pmax, (size_t)N, cols,
        [=] __host__ __device__(size_t r, int j) { return logits[r * V + j]; }, MAX, -INFINITY));
    GC_TRY(each(c, (size_t)N, [=] __host__ __device__(size_t r) {
        float mx = pmax[r * LANES];
        for (int l = 1; l < LANES; l++)
            mx = fmaxf(mx, pmax[r * LANES + l]);
        pmax[r * LANES] = mx;
    }));
    GC_TRY(lanes(
        c, psum, (size_t)N, cols,
        [=] __host__ __device__(size_t r, int j) {
            return exp((double)(logits[r * V + j] - pmax[r * LANES]));
        },
        SUMD, 0.0));
    GC_TRY(each(c, (size_t)N, [=] __host__ __device__(size_t r) {
        int t = targets[r];
        if (t < 0) {
            rl[r] = 0, lse[r] = 0;
            return;
        }
        double s = 0;
        for (int l = 0; l < LANES; l++)
            s += psum[r * LANES + l];
        lse[r] = (double)pmax[r * LANES] + log(s);
        rl[r] = lse[r] - (double)logits[r * V + t];
    }));
    GC_TRY(each(c, (size_t)N * V, [=] __host__ __device__(size_t i) {
        size_t r = i / V;
        int t = targets[r], j = (int)(i % V);
        dlogits[i] =
            t < 0 ? 0.0f : scale * (float)exp((double)logits[i] - lse[r]) - (j == t ? scale : 0.0f);
    }));
    return sum_in_order(c, rl, (size_t)N, sum); /* in row order, as the CPU path */
}

/* ---- attention ---- */

/* q, k, v (B, nh, T, hs) from qkv (B*T, D + 2KV); k and v repeated over each group of query heads
 */
static gc_status split_heads(gc_cuda *c, float *q, float *k, float *v, const float *qkv, int B,
                             int T, int nh, int nkv, int hs) {
    int D = nh * hs, KV = nkv * hs, ld = D + 2 * KV, grp = nh / nkv;
    return each(c, (size_t)B * nh * T * hs, [=] __host__ __device__(size_t i) {
        int e = (int)(i % hs), t = (int)((i / hs) % T), h = (int)((i / ((size_t)hs * T)) % nh);
        size_t b = i / ((size_t)hs * T * nh), row = b * T + t;
        const float *r = qkv + row * ld;
        q[i] = r[h * hs + e];
        k[i] = r[D + (h / grp) * hs + e];
        v[i] = r[D + KV + (h / grp) * hs + e];
    });
}

/* out (B*T, D) from heads (B, nh, T, hs) */
static gc_status merge_heads(gc_cuda *c, float *out, const float *heads, int B, int T, int nh,
                             int hs) {
    int D = nh * hs;
    return each(c, (size_t)B * T * D, [=] __host__ __device__(size_t i) {
        size_t row = i / D;
        int col = (int)(i % D), h = col / hs, e = col % hs, t = (int)(row % T);
        size_t b = row / T;
        out[i] = heads[((b * nh + h) * T + t) * hs + e];
    });
}

/* probabilities as stored: fp32, or bf16 at BF16 precision (the matmuls read them as they are) */
__host__ __device__ inline float load_p(const float *p, size_t i) {
    return p[i];
}
__host__ __device__ inline float load_p(const uint16_t *p, size_t i) {
    return from_bf16(p[i]);
}
__host__ __device__ inline void store_p(float *p, size_t i, float v) {
    p[i] = v;
}
__host__ __device__ inline void store_p(uint16_t *p, size_t i, float v) {
    p[i] = to_bf16(v);
}

/* a running softmax normaliser: the max so far and the sum of exp(x - max) */
struct maxsum {
    float m, s;
};
__host__ __device__ inline maxsum merge(maxsum a, maxsum b) {
    if (a.m == -INFINITY) return b;
    if (b.m == -INFINITY) return a;
    float m = fmaxf(a.m, b.m);
    return maxsum{m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

template <class TP>
static gc_status attention_t(gc_cuda *c, gc_precision p, float *out, TP *att, const float *qkv,
                             int B, int T, int nh, int nkv, int hs, const int32_t *len) {
    size_t n = (size_t)B * nh * T * hs, bytes = sizeof(float) * n, rows = (size_t)B * nh * T;
    float *q = (float *)scratch(c, SCR_Q, bytes), *k = (float *)scratch(c, SCR_K, bytes);
    float *v = (float *)scratch(c, SCR_V, bytes), *o = (float *)scratch(c, SCR_O, bytes);
    float *S = (float *)scratch(c, SCR_DP, sizeof(float) * rows * T);
    maxsum *ms = (maxsum *)scratch(c, SCR_LANES, sizeof(maxsum) * rows * LANES);
    if (!q || !k || !v || !o || !S || !ms) return GC_ERR_DEVICE;
    GC_TRY(split_heads(c, q, k, v, qkv, B, T, nh, nkv, hs));
    long long sh = (long long)T * hs, ss = (long long)T * T;
    float scale = 1.0f / sqrtf((float)hs);
    /* scores S (B nh, T, T) = scale q k^T */
    GC_TRY(gc_cuda_gemm(c, p, 0, 1, T, T, hs, scale, q, hs, sh, k, hs, sh, 0.0f, S, T, ss, B * nh));
    /* causal softmax per row over keys j <= t, one read of S for the normaliser (online max and
     * sum per lane, merged in lane order); rows past a sequence's length are zero */
    auto keys = [=] __host__ __device__(size_t r) {
        int t = (int)(r % T), b = (int)(r / ((size_t)nh * T));
        return len && t >= len[b] ? 0 : t + 1;
    };
    GC_TRY(lanes(
        c, ms, rows, keys,
        [=] __host__ __device__(size_t r, int j) {
            return maxsum{S[r * T + j], 1.0f};
        },
        [] __host__ __device__(maxsum a, maxsum b) { return merge(a, b); },
        maxsum{-INFINITY, 0.0f}));
    GC_TRY(each(c, rows, [=] __host__ __device__(size_t r) {
        maxsum a = ms[r * LANES];
        for (int l = 1; l < LANES; l++)
            a = merge(a, ms[r * LANES + l]);
        ms[r * LANES] = maxsum{a.m, 1.0f / a.s};
    }));
    GC_TRY(each(c, rows * T, [=] __host__ __device__(size_t i) {
        size_t r = i / T;
        int j = (int)(i % T);
        maxsum a = ms[r * LANES];
        store_p(att, i, j < keys(r) ? expf(S[i] - a.m) * a.s : 0.0f);
    }));
    /* o (B nh, T, hs) = P v */
    GC_TRY(gc_cuda_gemm_ex(c, p, 0, 0, T, hs, T, 1.0f, gc_operand{att, sizeof(TP) == 2}, T, ss,
                           gc_operand{v, 0}, hs, sh, 0.0f, o, hs, sh, B * nh));
    return merge_heads(c, out, o, B, T, nh, hs);
}

extern "C" gc_status gc_cuda_attention(gc_cuda *c, gc_precision p, float *out, void *att,
                                       const float *qkv, int B, int T, int nh, int nkv, int hs,
                                       const int32_t *len) {
    PROFILE(c, "attention");
    if (p == GC_PREC_BF16)
        return attention_t(c, p, out, (uint16_t *)att, qkv, B, T, nh, nkv, hs, len);
    return attention_t(c, p, out, (float *)att, qkv, B, T, nh, nkv, hs, len);
}

template <class TP>
static gc_status attention_backward_t(gc_cuda *c, gc_precision p, float *dqkv, const float *dout,
                                      const TP *att, const float *qkv, int B, int T, int nh,
                                      int nkv, int hs) {
    size_t n = (size_t)B * nh * T * hs, bytes = sizeof(float) * n, rows = (size_t)B * nh * T;
    float *q = (float *)scratch(c, SCR_Q, bytes), *k = (float *)scratch(c, SCR_K, bytes);
    float *v = (float *)scratch(c, SCR_V, bytes), *dO = (float *)scratch(c, SCR_O, bytes);
    float *dq = (float *)scratch(c, SCR_DQ, bytes), *dk = (float *)scratch(c, SCR_DK, bytes);
    float *dv = (float *)scratch(c, SCR_DV, bytes);
    float *dp = (float *)scratch(c, SCR_DP, sizeof(float) * rows * T);
    /* dS in the probabilities' type: in place over dP for fp32, its own buffer for bf16 */
    TP *ds = sizeof(TP) == 4 ? (TP *)dp : (TP *)scratch(c, SCR_DS, sizeof(TP) * rows * T);
    float *pd = (float *)scratch(c, SCR_LANES, sizeof(float) * rows * LANES);
    if (!q || !k || !v || !dO || !dq || !dk || !dv || !dp || !ds || !pd) return GC_ERR_DEVICE;
    GC_TRY(split_heads(c, q, k, v, qkv, B, T, nh, nkv, hs));
    int D = nh * hs, KV = nkv * hs, ld = D + 2 * KV, grp = nh / nkv;
    /* dO (B, nh, T, hs) */
    GC_TRY(each(c, n, [=] __host__ __device__(size_t i) {
        int e = (int)(i % hs), t = (int)((i / hs) % T), h = (int)((i / ((size_t)hs * T)) % nh);
        size_t b = i / ((size_t)hs * T * nh);
        dO[i] = dout[(b * T + t) * D + h * hs + e];
    }));
    long long sh = (long long)T * hs, ss = (long long)T * T;
    float scale = 1.0f / sqrtf((float)hs);
    gc_operand P{att, sizeof(TP) == 2}, dS{ds, sizeof(TP) == 2};
    /* dP = dO v^T, then dS = P (dP - sum_j P dP) scale per row */
    GC_TRY(
        gc_cuda_gemm(c, p, 0, 1, T, T, hs, 1.0f, dO, hs, sh, v, hs, sh, 0.0f, dp, T, ss, B * nh));
    GC_TRY(lanes(
        c, pd, rows, [=] __host__ __device__(size_t) { return T; },
        [=] __host__ __device__(size_t r, int j) { return load_p(att, r * T + j) * dp[r * T + j]; },
        SUM, 0.0f));
    GC_TRY(each(c, rows, [=] __host__ __device__(size_t r) {
        float d = 0.0f;
        for (int l = 0; l < LANES; l++)
            d += pd[r * LANES + l];
        pd[r * LANES] = d;
    }));
    GC_TRY(each(c, rows * T, [=] __host__ __device__(size_t i) {
        float pi = load_p(att, i);
        store_p(ds, i, pi * (dp[i] - pd[(i / T) * LANES]) * scale);
    }));
    /* dq = dS k, dk = dS^T q, dv = P^T dO */
    GC_TRY(gc_cuda_gemm_ex(c, p, 0, 0, T, hs, T, 1.0f, dS, T, ss, gc_operand{k, 0}, hs, sh, 0.0f,
                           dq, hs, sh, B * nh));
    GC_TRY(gc_cuda_gemm_ex(c, p, 1, 0, T, hs, T, 1.0f, dS, T, ss, gc_operand{q, 0}, hs, sh, 0.0f,
                           dk, hs, sh, B * nh));
    GC_TRY(gc_cuda_gemm_ex(c, p, 1, 0, T, hs, T, 1.0f, P, T, ss, gc_operand{dO, 0}, hs, sh, 0.0f,
                           dv, hs, sh, B * nh));
    /* back to rows; each key/value head sums its group's query heads in order */
    return each(c, (size_t)B * T * ld, [=] __host__ __device__(size_t i) {
        size_t row = i / ld, b = row / T;
        int col = (int)(i % ld), t = (int)(row % T);
        if (col < D) {
            dqkv[i] = dq[((b * nh + col / hs) * T + t) * hs + col % hs];
            return;
        }
        const float *src = col < D + KV ? dk : dv;
        int kc = (col - D) % KV, kh = kc / hs, e = kc % hs;
        float acc = 0.0f;
        for (int g = 0; g < grp; g++)
            acc += src[((b * nh + kh * grp + g) * T + t) * hs + e];
        dqkv[i] = acc;
    });
}

extern "C" gc_status gc_cuda_attention_backward(gc_cuda *c, gc_precision p, float *dqkv,
                                                const float *dout, const void *att,
                                                const float *qkv, int B, int T, int nh, int nkv,
                                                int hs) {
    PROFILE(c, "attention_backward");
    if (p == GC_PREC_BF16)
        return attention_backward_t(c, p, dqkv, dout, (const uint16_t *)att, qkv, B, T, nh, nkv,
                                    hs);
    return attention_backward_t(c, p, dqkv, dout, (const float *)att, qkv, B, T, nh, nkv, hs);
}

extern "C" gc_status gc_cuda_decode_attention(gc_cuda *c, float *o, float *kc, float *vc,
                                              const float *qkv, const int32_t *pos,
                                              const uint8_t *active, int B, int maxT, int nh,
                                              int nkv, int hs) {
    PROFILE(c, "decode_attention");
    int D = nh * hs, KV = nkv * hs, ld = D + 2 * KV, grp = nh / nkv;
    GC_TRY(each(c, (size_t)B * KV, [=] __host__ __device__(size_t i) {
        size_t b = i / KV, e = i % KV, at = (b * maxT + pos[b]) * KV + e;
        kc[at] = qkv[b * ld + D + e];
        vc[at] = qkv[b * ld + D + KV + e];
    }));
    float *sc = (float *)scratch(c, SCR_DP, sizeof(float) * (size_t)B * nh * maxT);
    if (!sc) return GC_ERR_DEVICE;
    float scale = 1.0f / sqrtf((float)hs);
    return each(c, (size_t)B * nh, [=] __host__ __device__(size_t i) {
        size_t b = i / nh;
        int h = (int)(i % nh);
        float *out = o + b * D + h * hs;
        if (active && !active[b]) {
            for (int e = 0; e < hs; e++)
                out[e] = 0.0f;
            return;
        }
        const float *q = qkv + b * ld + h * hs;
        const float *kb = kc + b * maxT * KV + (h / grp) * hs,
                    *vb = vc + b * maxT * KV + (h / grp) * hs;
        float *p = sc + i * maxT, mx = -INFINITY, sum = 0.0f;
        for (int j = 0; j <= pos[b]; j++) {
            float s = 0.0f;
            for (int e = 0; e < hs; e++)
                s += q[e] * kb[(size_t)j * KV + e];
            p[j] = s * scale;
            mx = fmaxf(mx, p[j]);
        }
        for (int j = 0; j <= pos[b]; j++)
            sum += p[j] = expf(p[j] - mx);
        float inv = 1.0f / sum;
        for (int e = 0; e < hs; e++)
            out[e] = 0.0f;
        for (int j = 0; j <= pos[b]; j++)
            for (int e = 0; e < hs; e++)
                out[e] += p[j] * inv * vb[(size_t)j * KV + e];
    });
}
