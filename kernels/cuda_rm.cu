/* cuda_rm: the reward model's losses on device buffers (kernels/cuda_api.h): the linear reward head
 * and its backward, the Bradley-Terry preference loss, and the cosine similarities of the
 * goal-conditioned contrastive loss with their gradient; the arithmetic of lib/rm/rm.c (doubles
 * where it uses doubles). The reductions over pairs (log of mean, mean of log) are scalars of the
 * similarities, left to the caller. */
#include <math.h>
#include <string.h>

#include "cuda_internal.h"

extern "C" gc_status gc_cuda_reward_head(gc_cuda *c, float *r, const float *h, const float *w,
                                         const int32_t *rows, int B, int D) {
    PROFILE(c, "reward_head");
    return each(c, (size_t)B, [=] __host__ __device__(size_t b) {
        const float *x = h + (size_t)rows[b] * D;
        double s = 0;
        for (int i = 0; i < D; i++)
            s += (double)x[i] * w[i];
        r[b] = (float)s;
    });
}

extern "C" gc_status gc_cuda_reward_head_backward(gc_cuda *c, float *dh, float *dw, const float *dr,
                                                  const float *h, const float *w,
                                                  const int32_t *rows, int B, int D) {
    PROFILE(c, "reward_head_backward");
    /* rows are distinct */
    GC_TRY(each(c, (size_t)B * D, [=] __host__ __device__(size_t i) {
        size_t b = i / D, k = i % D;
        dh[(size_t)rows[b] * D + k] += dr[b] * w[k];
    }));
    /* the batch in order */
    return each(c, (size_t)D, [=] __host__ __device__(size_t k) {
        float acc = dw[k];
        for (int b = 0; b < B; b++)
            acc += dr[b] * h[(size_t)rows[b] * D + k];
        dw[k] = acc;
    });
}

extern "C" gc_status gc_cuda_pref_loss(gc_cuda *c, float *dr, double *loss, double *acc,
                                       const float *r, int P) {
    PROFILE(c, "pref_loss");
    double *part = (double *)scratch(c, SCR_ROWS, sizeof(double) * 2 * (P > 0 ? P : 1));
    if (!part) return GC_ERR_DEVICE;
    GC_TRY(each(c, (size_t)P, [=] __host__ __device__(size_t p) {
        double delta = (double)r[2 * p] - r[2 * p + 1];
        /* -log sigmoid(delta), computed stably */
        part[2 * p] = (delta > 0 ? log1p(exp(-delta)) : -delta + log1p(exp(delta))) / P;
        part[2 * p + 1] = delta > 0;
        double g = -(1.0 - 1.0 / (1.0 + exp(-delta))) / P;
        dr[2 * p] = (float)g;
        dr[2 * p + 1] = (float)-g;
    }));
    double *h = (double *)malloc(sizeof(double) * 2 * (P > 0 ? P : 1));
    if (!h) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    gc_status s = gc_cuda_download(c, h, part, sizeof(double) * 2 * P);
    double l = 0, right = 0;
    for (int p = 0; p < P; p++)
        l += h[2 * p], right += h[2 * p + 1];
    free(h);
    *loss = l;
    if (acc) *acc = P ? right / P : 0;
    return s;
}

/* the pairs' row indices (host) on the device: a (Q) then b (Q) */
static const int32_t *upload_pairs(gc_cuda *c, const int32_t *a, const int32_t *b, int Q) {
    int32_t *d = (int32_t *)scratch(c, SCR_INDEX, sizeof(int32_t) * 2 * (Q > 0 ? Q : 1));
    if (!d || gc_cuda_upload(c, d, a, sizeof(int32_t) * Q) != GC_OK ||
        gc_cuda_upload(c, d + Q, b, sizeof(int32_t) * Q) != GC_OK)
        return NULL;
    return d;
}

/* per pair: cos, |a|, |b| in double (stats, 3 Q) */
static gc_status pair_stats(gc_cuda *c, double *st, const float *h, const int32_t *ab, int Q,
                            int D) {
    return each(c, (size_t)Q, [=] __host__ __device__(size_t q) {
        const float *x = h + (size_t)ab[q] * D, *y = h + (size_t)ab[Q + q] * D;
        double xx = 0, yy = 0, xy = 0;
        for (int i = 0; i < D; i++)
            xx += (double)x[i] * x[i], yy += (double)y[i] * y[i], xy += (double)x[i] * y[i];
        double na = sqrt(xx) + 1e-12, nb = sqrt(yy) + 1e-12;
        st[3 * q] = xy / (na * nb), st[3 * q + 1] = na, st[3 * q + 2] = nb;
    });
}

extern "C" gc_status gc_cuda_cosine_pairs(gc_cuda *c, double *sim, const float *h, const int32_t *a,
                                          const int32_t *b, int Q, int D) {
    PROFILE(c, "cosine_pairs");
    const int32_t *ab = upload_pairs(c, a, b, Q);
    double *st = (double *)scratch(c, SCR_ROWS, sizeof(double) * 3 * (Q > 0 ? Q : 1));
    if (!ab || !st) return GC_ERR_DEVICE;
    GC_TRY(pair_stats(c, st, h, ab, Q, D));
    double *hs = (double *)malloc(sizeof(double) * 3 * (Q > 0 ? Q : 1));
    if (!hs) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    gc_status s = gc_cuda_download(c, hs, st, sizeof(double) * 3 * Q);
    for (int q = 0; q < Q; q++)
        sim[q] = 1.0 / (1.0 + exp(-hs[3 * q]));
    free(hs);
    return s;
}

extern "C" gc_status gc_cuda_cosine_pairs_backward(gc_cuda *c, float *dh, const float *h,
                                                   const int32_t *a, const int32_t *b,
                                                   const double *g, int Q, int D) {
    PROFILE(c, "cosine_pairs_backward");
    /* the rows touched, each with its (pair, end) entries in pair order, end a before end b: the
     * order in which lib/rm/rm.c adds them (one writer per element) */
    int32_t rows = 0;
    for (int q = 0; q < Q; q++)
        rows = a[q] + 1 > rows ? a[q] + 1 : rows, rows = b[q] + 1 > rows ? b[q] + 1 : rows;
    size_t n_idx = (size_t)rows + 1 + 2 * (size_t)Q;
    int32_t *idx = (int32_t *)calloc(n_idx, sizeof(int32_t));
    int32_t *fill = (int32_t *)malloc(sizeof(int32_t) * (rows > 0 ? rows : 1));
    if (!idx || !fill) {
        free(idx), free(fill);
        return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    }
    int32_t *off = idx, *ent = idx + rows + 1; /* entry e = 2 q + end */
    for (int q = 0; q < Q; q++)
        off[a[q] + 1]++, off[b[q] + 1]++;
    for (int r = 0; r < rows; r++)
        off[r + 1] += off[r];
    memcpy(fill, off, sizeof(int32_t) * rows);
    for (int q = 0; q < Q; q++)
        ent[fill[a[q]]++] = 2 * q, ent[fill[b[q]]++] = 2 * q + 1;
    free(fill);
    const int32_t *ab = upload_pairs(c, a, b, Q);
    int32_t *didx = (int32_t *)scratch(c, SCR_SMALL,
                                       sizeof(int32_t) * n_idx + sizeof(double) * (Q > 0 ? Q : 1));
    double *st = (double *)scratch(c, SCR_ROWS, sizeof(double) * 3 * (Q > 0 ? Q : 1));
    gc_status s = ab && didx && st ? GC_OK : GC_ERR_DEVICE;
    double *dg = (double *)(didx + n_idx + (n_idx & 1)); /* 8-byte aligned after the index */
    if (s == GC_OK) s = gc_cuda_upload(c, didx, idx, sizeof(int32_t) * n_idx);
    if (s == GC_OK) s = gc_cuda_upload(c, dg, g, sizeof(double) * Q);
    free(idx);
    GC_TRY(s);
    GC_TRY(pair_stats(c, st, h, ab, Q, D));
    const int32_t *doff = didx, *dent = didx + rows + 1;
    return each(c, (size_t)rows * D, [=] __host__ __device__(size_t i) {
        size_t r = i / D;
        int k = (int)(i % D);
        float acc = dh[i];
        for (int32_t e = doff[r]; e < doff[r + 1]; e++) {
            int q = dent[e] >> 1, end = dent[e] & 1;
            double cs = st[3 * q], na = st[3 * q + 1], nb = st[3 * q + 2];
            const float *x = h + (size_t)ab[q] * D, *y = h + (size_t)ab[Q + q] * D;
            acc += end ? (float)(dg[q] * (x[k] / (na * nb) - cs * y[k] / (nb * nb)))
                       : (float)(dg[q] * (y[k] / (na * nb) - cs * x[k] / (na * na)));
        }
        dh[i] = acc;
    });
}
