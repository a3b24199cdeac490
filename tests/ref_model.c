#include "ref_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void rmsnorm(double *y, const double *x, const double *w, int D, double eps) {
    double ss = 0;
    for (int i = 0; i < D; i++)
        ss += x[i] * x[i];
    double r = 1.0 / sqrt(ss / D + eps);
    for (int i = 0; i < D; i++)
        y[i] = x[i] * r * w[i];
}

/* y (out) = W (out, in) x (in) */
static void matvec(double *y, const double *W, const double *x, int out, int in) {
    for (int o = 0; o < out; o++) {
        double s = 0;
        for (int i = 0; i < in; i++)
            s += W[(size_t)o * in + i] * x[i];
        y[o] = s;
    }
}

static void rope(double *v, int hs, int t, double theta) {
    for (int i = 0; i < hs / 2; i++) {
        double freq = pow(theta, -2.0 * i / hs), c = cos(t * freq), s = sin(t * freq);
        double a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = a * c - b * s;
        v[2 * i + 1] = a * s + b * c;
    }
}

double ref_model_loss(const gc_model_config *c, const double *params, const int32_t *tokens,
                      const int32_t *targets, int B, int T, double ce_weight, const double *R,
                      double *logits_out, double *hf_out) {
    gc_tensor_info t[GC_N_TENSORS];
    gc_model_tensors(c, t);
    int D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size, nh = c->n_heads;
    int nkv = c->n_kv_heads, hs = D / nh, KV = nkv * hs, QKV = D + 2 * KV;
    const double *emb = params + t[GC_T_EMB].offset;
    const double *cls = c->tied ? emb : params + t[GC_T_CLS].offset;
    double *x = calloc((size_t)T * D, sizeof(double)), *xn = calloc(D, sizeof(double));
    double *q = calloc((size_t)T * D, sizeof(double)), *k = calloc((size_t)T * KV, sizeof(double));
    double *v = calloc((size_t)T * KV, sizeof(double)), *qkv = calloc(QKV, sizeof(double));
    double *ao = calloc(D, sizeof(double)), *tmp = calloc(D, sizeof(double));
    double *a13 = calloc(2 * H, sizeof(double)), *g = calloc(H, sizeof(double));
    double *p = calloc(T, sizeof(double)), *lg = calloc(V, sizeof(double));
    double total = 0;
    int count = 0;
    for (int n = 0; n < B * T; n++)
        count += targets && targets[n] >= 0;
    for (int b = 0; b < B; b++) {
        for (int s = 0; s < T; s++)
            memcpy(x + (size_t)s * D, emb + (size_t)tokens[b * T + s] * D, sizeof(double) * D);
        for (int l = 0; l < L; l++) {
            const double *wqkv = params + t[GC_T_WQKV].offset + (size_t)l * QKV * D;
            const double *wo = params + t[GC_T_WO].offset + (size_t)l * D * D;
            const double *w13 = params + t[GC_T_W13].offset + (size_t)l * 2 * H * D;
            const double *w2 = params + t[GC_T_W2].offset + (size_t)l * D * H;
            const double *an = params + t[GC_T_ATTN_NORM].offset + (size_t)l * D;
            const double *fn = params + t[GC_T_FFN_NORM].offset + (size_t)l * D;
            for (int s = 0; s < T; s++) {
                rmsnorm(xn, x + (size_t)s * D, an, D, c->norm_eps);
                matvec(qkv, wqkv, xn, QKV, D);
                for (int h = 0; h < nh; h++)
                    rope(qkv + h * hs, hs, s, c->rope_theta);
                for (int h = 0; h < nkv; h++)
                    rope(qkv + D + h * hs, hs, s, c->rope_theta);
                memcpy(q + (size_t)s * D, qkv, sizeof(double) * D);
                memcpy(k + (size_t)s * KV, qkv + D, sizeof(double) * KV);
                memcpy(v + (size_t)s * KV, qkv + D + KV, sizeof(double) * KV);
            }
            for (int s = 0; s < T; s++) { /* causal attention, then wo, residual */
                for (int h = 0; h < nh; h++) {
                    int kh = h / (nh / nkv);
                    double mx = -INFINITY, sum = 0;
                    for (int j = 0; j <= s; j++) {
                        double d = 0;
                        for (int i = 0; i < hs; i++)
                            d += q[(size_t)s * D + h * hs + i] * k[(size_t)j * KV + kh * hs + i];
                        p[j] = d / sqrt((double)hs);
                        if (p[j] > mx) mx = p[j];
                    }
                    for (int j = 0; j <= s; j++)
                        sum += (p[j] = exp(p[j] - mx));
                    for (int i = 0; i < hs; i++) {
                        double o = 0;
                        for (int j = 0; j <= s; j++)
                            o += p[j] / sum * v[(size_t)j * KV + kh * hs + i];
                        ao[h * hs + i] = o;
                    }
                }
                matvec(tmp, wo, ao, D, D);
                for (int i = 0; i < D; i++)
                    x[(size_t)s * D + i] += tmp[i];
            }
            for (int s = 0; s < T; s++) { /* SwiGLU MLP */
                rmsnorm(xn, x + (size_t)s * D, fn, D, c->norm_eps);
                matvec(a13, w13, xn, 2 * H, D);
                for (int i = 0; i < H; i++)
                    g[i] = a13[i] / (1 + exp(-a13[i])) * a13[H + i];
                matvec(tmp, w2, g, D, H);
                for (int i = 0; i < D; i++)
                    x[(size_t)s * D + i] += tmp[i];
            }
        }
        for (int s = 0; s < T; s++) {
            int n = b * T + s;
            rmsnorm(xn, x + (size_t)s * D, params + t[GC_T_FINAL_NORM].offset, D, c->norm_eps);
            if (hf_out) memcpy(hf_out + (size_t)n * D, xn, sizeof(double) * D);
            if (R)
                for (int i = 0; i < D; i++)
                    total += R[(size_t)n * D + i] * xn[i];
            matvec(lg, cls, xn, V, D);
            if (logits_out) memcpy(logits_out + (size_t)n * V, lg, sizeof(double) * V);
            if (targets && targets[n] >= 0 && ce_weight != 0) {
                double mx = lg[0], sum = 0;
                for (int i = 1; i < V; i++)
                    mx = lg[i] > mx ? lg[i] : mx;
                for (int i = 0; i < V; i++)
                    sum += exp(lg[i] - mx);
                total += ce_weight * (mx + log(sum) - lg[targets[n]]) / count;
            }
        }
    }
    free(x), free(xn), free(q), free(k), free(v), free(qkv), free(ao), free(tmp);
    free(a13), free(g), free(p), free(lg);
    return total;
}
