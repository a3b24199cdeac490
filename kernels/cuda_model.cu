/* cuda_model: the CUDA backend of lib/model/backend.h — a gc_model's forward, cross-entropy,
 * backward, gradient norm, AdamW and KV-cache decoding on the device, step for step the computation
 * of lib/model/model.c (same op order, same fused layouts), with parameters, gradients, optimiser
 * moments and activations resident on the device. Only the outputs a caller reads cross to the
 * host. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <vector>

extern "C" {
#include "lib/model/model.h"
#include "lib/model/optim.h"
}
#include "cuda_internal.h"

struct cuda_be {
    gc_backend be; /* first: the backend pointer is the struct's */
    gc_cuda *c;
    gc_precision p;
};

/* device activations for one (B, T), the layout of gc_acts */
struct dev_acts {
    int B, T;
    float *base;      /* every float buffer below, sliced from one allocation */
    size_t cap, icap; /* floats in base, int32s in tok: reallocated only to grow */
    float *res, *h1, *xn1, *rstd1, *qkv, *att, *ao, *xn2, *rstd2, *a13, *g, *hf, *rstdf, *logits,
        *dlogits, *d_res, *d_xn, *d_qkv, *d_ao, *d_a13, *d_g;
    int32_t *tok, *len, *tgt; /* (N), (B), (N) */
};

struct dev_model {
    float *P, *G, *M, *Vm; /* (n_params) parameters, gradient, AdamW moments */
    uint16_t *Pb;          /* (n_params) bf16 shadow of P at BF16 precision, else NULL */
    const gc_adamw *opt;   /* the optimiser whose moments M, Vm hold */
    float *cos_t, *sin_t;  /* (seq_len, hs / 2) */
    dev_acts a;
    float *hf_host, *logits_host; /* host mirrors handed out as m->acts.hf / logits */
    size_t hf_cap, logits_cap;
};

struct dev_cache {
    float *base, *k, *v; /* k, v (L, B, maxT, KV) */
    float *x, *xn, *qkv, *ao, *a13, *g, *hf, *logits, *rstd;
    int32_t *tok, *pos;
    uint8_t *active;
};

static cuda_be *ctx(const gc_backend *be) {
    return (cuda_be *)be;
}

/* tensor t of the parameter-shaped buffer base (the classifier is the embedding when tied) */
static float *tensor(float *base, const gc_model *m, int t) {
    if (t == GC_T_CLS && m->cfg.tied) t = GC_T_EMB;
    return base + m->tensors[t].offset;
}

/* the bf16 shadow of tensor t at element off, or NULL (then the matmul rounds W itself) */
static const uint16_t *wb(const dev_model *d, const gc_model *m, int t, size_t off) {
    if (!d->Pb) return NULL;
    if (t == GC_T_CLS && m->cfg.tied) t = GC_T_EMB;
    return d->Pb + m->tensors[t].offset + off;
}

/* rounds the parameters into their bf16 shadow (after an upload or an update) */
static gc_status refresh_shadow(const gc_backend *be, const gc_model *m, dev_model *d) {
    return d->Pb ? gc_cuda_to_bf16(ctx(be)->c, d->Pb, d->P, m->n_params) : GC_OK;
}

/* bytes per stored attention probability at precision p */
#define PB(p) ((p) == GC_PREC_BF16 ? (size_t)2 : (size_t)4)

/* a matmul's weight argument pair: tensor t at element off, and its bf16 shadow */
#define WEIGHT(t, off) tensor(d->P, m, t) + (off), wb(d, m, t, off)
/* a weight of a layer view over d->P and its bf16 shadow, as gc_cuda_linear takes them */
#define LW(ptr) (ptr), (d->Pb ? d->Pb + ((ptr)-d->P) : NULL)

static void release(const gc_backend *be, gc_model *m) {
    gc_cuda *c = ctx(be)->c;
    dev_model *d = (dev_model *)m->dev;
    if (!d) return;
    float *bufs[] = {d->P, d->G, d->M, d->Vm, d->cos_t, d->sin_t, d->a.base};
    for (float *b : bufs)
        gc_cuda_free(c, b);
    gc_cuda_free(c, d->a.tok), gc_cuda_free(c, d->Pb);
    if (m->acts.hf == d->hf_host) m->acts.hf = NULL;
    if (m->acts.logits == d->logits_host) m->acts.logits = NULL;
    free(d->hf_host), free(d->logits_host);
    free(d);
    m->dev = NULL;
}

/* the model's device state, created (parameters uploaded) on first use */
static gc_status attach(const gc_backend *be, gc_model *m, dev_model **out) {
    if (m->dev) {
        *out = (dev_model *)m->dev;
        return GC_OK;
    }
    gc_cuda *c = ctx(be)->c;
    dev_model *d = (dev_model *)calloc(1, sizeof *d);
    if (!d) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    m->dev = d;
    size_t np = m->n_params, nr = (size_t)m->cfg.seq_len * (m->cfg.dim / m->cfg.n_heads / 2);
    d->P = (float *)gc_cuda_alloc(c, sizeof(float) * np);
    d->cos_t = (float *)gc_cuda_alloc(c, sizeof(float) * nr);
    d->sin_t = (float *)gc_cuda_alloc(c, sizeof(float) * nr);
    gc_status s = d->P && d->cos_t && d->sin_t ? GC_OK : GC_ERR_DEVICE;
    if (s == GC_OK) s = gc_cuda_upload(c, d->P, m->params, sizeof(float) * np);
    if (s == GC_OK) s = gc_cuda_upload(c, d->cos_t, m->rope_cos, sizeof(float) * nr);
    if (s == GC_OK) s = gc_cuda_upload(c, d->sin_t, m->rope_sin, sizeof(float) * nr);
    if (s == GC_OK && ctx(be)->p == GC_PREC_BF16) {
        d->Pb = (uint16_t *)gc_cuda_alloc(c, sizeof(uint16_t) * np);
        s = d->Pb ? refresh_shadow(be, m, d) : GC_ERR_DEVICE;
    }
    if (s != GC_OK) {
        release(be, m);
        return s;
    }
    *out = d;
    return GC_OK;
}

/* the probabilities of layer l: pb bytes each (4, or 2 at BF16), L x (B, nh, T, T) from a->att */
static void *att_layer(const dev_acts *a, const gc_model *m, int l, size_t pb) {
    return (char *)a->att + (size_t)l * a->B * m->cfg.n_heads * a->T * a->T * pb;
}

/* activations for (B, T), sliced from buffers that grow only when a shape needs more than they
 * hold (as the CPU arena); pb: bytes per probability */
static gc_status ensure_acts(gc_cuda *c, const gc_model *m, dev_acts *a, int B, int T, size_t pb) {
    if (a->base && a->B == B && a->T == T) return GC_OK;
    const gc_model_config *cf = &m->cfg;
    size_t N = (size_t)B * T, D = cf->dim, H = cf->hidden_dim, L = cf->n_layers, V = cf->vocab_size;
    size_t KV = (size_t)cf->n_kv_heads * (D / cf->n_heads), QKV = D + 2 * KV, nh = cf->n_heads;
    struct {
        float **ptr;
        size_t n;
    } plan[] = {
        {&a->res, (L + 1) * N * D},
        {&a->h1, L * N * D},
        {&a->xn1, L * N * D},
        {&a->rstd1, L * N},
        {&a->qkv, L * N * QKV},
        {&a->att, (L * B * nh * T * T * pb + 3) / 4},
        {&a->ao, L * N * D},
        {&a->xn2, L * N * D},
        {&a->rstd2, L * N},
        {&a->a13, L * N * 2 * H},
        {&a->g, L * N * H},
        {&a->hf, N * D},
        {&a->rstdf, N},
        {&a->logits, N * V},
        {&a->dlogits, N * V},
        {&a->d_res, N * D},
        {&a->d_xn, N * D},
        {&a->d_qkv, N * QKV},
        {&a->d_ao, N * D},
        {&a->d_a13, N * 2 * H},
        {&a->d_g, N * H},
    };
    size_t total = 0, ints = 2 * N + B;
    for (auto &e : plan)
        total += e.n;
    if (total > a->cap || ints > a->icap) {
        gc_cuda_free(c, a->base), gc_cuda_free(c, a->tok);
        a->base = (float *)gc_cuda_alloc(c, sizeof(float) * total);
        a->tok = (int32_t *)gc_cuda_alloc(c, sizeof(int32_t) * ints);
        a->cap = total, a->icap = ints;
        if (!a->base || !a->tok) {
            gc_cuda_free(c, a->base), gc_cuda_free(c, a->tok);
            memset(a, 0, sizeof *a);
            return GC_ERR_DEVICE;
        }
    }
    float *p = a->base;
    for (auto &e : plan)
        *e.ptr = p, p += e.n;
    a->tgt = a->tok + N;
    a->len = a->tgt + N;
    a->B = B, a->T = T;
    return GC_OK;
}

static gc_status host_mirror(float **buf, size_t *cap, size_t n) {
    if (*cap >= n) return GC_OK;
    free(*buf);
    *buf = (float *)malloc(sizeof(float) * n);
    *cap = *buf ? n : 0;
    return *buf ? GC_OK : gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
}

static gc_status forward(const gc_backend *be, gc_model *m, const int32_t *tokens, int B, int T,
                         const int *len, int want) {
    gc_cuda *c = ctx(be)->c;
    gc_precision pr = ctx(be)->p;
    dev_model *d;
    GC_TRY(attach(be, m, &d));
    GC_TRY(ensure_acts(c, m, &d->a, B, T, PB(pr)));
    dev_acts *a = &d->a;
    const gc_model_config *cf = &m->cfg;
    int N = B * T, D = cf->dim, H = cf->hidden_dim, L = cf->n_layers, nh = cf->n_heads;
    int nkv = cf->n_kv_heads, hs = D / nh, KV = nkv * hs, QKV = D + 2 * KV, V = cf->vocab_size;
    GC_TRY(gc_cuda_upload(c, a->tok, tokens, sizeof(int32_t) * N));
    static_assert(sizeof(int) == sizeof(int32_t), "lengths are uploaded as they are");
    if (len) GC_TRY(gc_cuda_upload(c, a->len, len, sizeof(int32_t) * B));
    float *P = d->P;
    gc_param_ptrs dp = gc_model_ptrs(m, P);
    GC_TRY(gc_cuda_embedding(c, a->res, tensor(P, m, GC_T_EMB), a->tok, N, D));
    for (int l = 0; l < L; l++) {
        gc_layer_params w = gc_model_layer(&dp, cf, l);
        size_t nd = (size_t)N * D;
        float *res = a->res + l * nd, *res_out = res + nd, *h1 = a->h1 + l * nd;
        float *xn1 = a->xn1 + l * nd, *qkv = a->qkv + (size_t)l * N * QKV;
        void *att = att_layer(a, m, l, PB(pr));
        float *ao = a->ao + l * nd;
        float *xn2 = a->xn2 + l * nd, *a13 = a->a13 + (size_t)l * N * 2 * H;
        float *g = a->g + (size_t)l * N * H;
        GC_TRY(gc_cuda_rmsnorm(c, xn1, a->rstd1 + (size_t)l * N, res, w.attn_norm, N, D,
                               cf->norm_eps));
        GC_TRY(gc_cuda_linear(c, pr, qkv, QKV, 0, xn1, LW(w.wqkv), N, D, QKV));
        GC_TRY(gc_cuda_rope(c, qkv, QKV, 0, nh, hs, N, T, d->cos_t, d->sin_t, 0, NULL));
        GC_TRY(gc_cuda_rope(c, qkv, QKV, D, nkv, hs, N, T, d->cos_t, d->sin_t, 0, NULL));
        GC_TRY(gc_cuda_attention(c, pr, ao, att, qkv, B, T, nh, nkv, hs, len ? a->len : NULL));
        GC_TRY(gc_cuda_copy(c, h1, res, sizeof(float) * nd)); /* h1 = res + wo ao */
        GC_TRY(gc_cuda_linear(c, pr, h1, D, 1, ao, LW(w.wo), N, D, D));
        GC_TRY(
            gc_cuda_rmsnorm(c, xn2, a->rstd2 + (size_t)l * N, h1, w.ffn_norm, N, D, cf->norm_eps));
        GC_TRY(gc_cuda_linear(c, pr, a13, 2 * H, 0, xn2, LW(w.w13), N, D, 2 * H));
        GC_TRY(gc_cuda_swiglu(c, g, a13, N, H));
        GC_TRY(gc_cuda_copy(c, res_out, h1, sizeof(float) * nd)); /* res_out = h1 + w2 g */
        GC_TRY(gc_cuda_linear(c, pr, res_out, D, 1, g, LW(w.w2), N, H, D));
    }
    GC_TRY(gc_cuda_rmsnorm(c, a->hf, a->rstdf, a->res + (size_t)L * N * D,
                           tensor(P, m, GC_T_FINAL_NORM), N, D, cf->norm_eps));
    if (want != GC_LOGITS_NONE)
        GC_TRY(gc_cuda_linear(c, pr, a->logits, V, 0, a->hf, WEIGHT(GC_T_CLS, 0), N, D, V));
    if (want != GC_LOGITS_DEVICE) {
        GC_TRY(host_mirror(&d->hf_host, &d->hf_cap, (size_t)N * D));
        GC_TRY(gc_cuda_download(c, d->hf_host, a->hf, sizeof(float) * N * D));
        m->acts.hf = d->hf_host;
    }
    if (want == GC_LOGITS_HOST) {
        GC_TRY(host_mirror(&d->logits_host, &d->logits_cap, (size_t)N * V));
        GC_TRY(gc_cuda_download(c, d->logits_host, a->logits, sizeof(float) * N * V));
        m->acts.logits = d->logits_host;
    }
    return GC_OK;
}

static gc_status ce_loss(const gc_backend *be, gc_model *m, const int32_t *targets, float scale,
                         double *sum) {
    gc_cuda *c = ctx(be)->c;
    dev_model *d = (dev_model *)m->dev;
    int N = d->a.B * d->a.T;
    GC_TRY(gc_cuda_upload(c, d->a.tgt, targets, sizeof(int32_t) * N));
    return gc_cuda_cross_entropy(c, d->a.dlogits, sum, d->a.logits, d->a.tgt, N, m->cfg.vocab_size,
                                 scale);
}

static gc_status zero_grad(const gc_backend *be, gc_model *m) {
    gc_cuda *c = ctx(be)->c;
    dev_model *d;
    GC_TRY(attach(be, m, &d));
    if (!d->G && !(d->G = (float *)gc_cuda_alloc(c, sizeof(float) * m->n_params)))
        return GC_ERR_DEVICE;
    return gc_cuda_zero(c, d->G, sizeof(float) * m->n_params);
}

static gc_status backward(const gc_backend *be, gc_model *m, const float *dhidden) {
    gc_cuda *c = ctx(be)->c;
    gc_precision pr = ctx(be)->p;
    dev_model *d = (dev_model *)m->dev;
    if (!d || !d->a.base) return gc_fail(GC_ERR_ARG, "backward: no forward to undo");
    if (!d->G) GC_TRY(zero_grad(be, m));
    dev_acts *a = &d->a;
    const gc_model_config *cf = &m->cfg;
    int B = a->B, T = a->T, N = B * T, D = cf->dim, H = cf->hidden_dim, L = cf->n_layers;
    int nh = cf->n_heads, nkv = cf->n_kv_heads, hs = D / nh, KV = nkv * hs, QKV = D + 2 * KV;
    int V = cf->vocab_size;
    float *P = d->P, *G = d->G;
    size_t nd = (size_t)N * D;

    /* gradient on the final hidden states: classifier path plus the caller's dhidden */
    float *dhf = a->d_xn;
    if (m->ce_ready)
        GC_TRY(gc_cuda_linear_backward(c, pr, dhf, 0, tensor(G, m, GC_T_CLS), a->dlogits, V, a->hf,
                                       WEIGHT(GC_T_CLS, 0), N, D, V));
    else
        GC_TRY(gc_cuda_zero(c, dhf, sizeof(float) * nd));
    if (dhidden) {
        GC_TRY(gc_cuda_upload(c, a->d_ao, dhidden, sizeof(float) * nd));
        GC_TRY(gc_cuda_add(c, dhf, a->d_ao, nd));
    }
    GC_TRY(gc_cuda_rmsnorm_backward(c, a->d_res, 0, tensor(G, m, GC_T_FINAL_NORM), dhf,
                                    a->res + (size_t)L * nd, tensor(P, m, GC_T_FINAL_NORM),
                                    a->rstdf, N, D));
    gc_param_ptrs dp = gc_model_ptrs(m, P), dg = gc_model_ptrs(m, G);
    for (int l = L - 1; l >= 0; l--) {
        float *res = a->res + l * nd, *h1 = a->h1 + l * nd, *xn1 = a->xn1 + l * nd;
        float *qkv = a->qkv + (size_t)l * N * QKV;
        const void *att = att_layer(a, m, l, PB(pr));
        float *ao = a->ao + l * nd, *xn2 = a->xn2 + l * nd, *a13 = a->a13 + (size_t)l * N * 2 * H;
        float *g = a->g + (size_t)l * N * H;
        gc_layer_params w = gc_model_layer(&dp, cf, l), dw = gc_model_layer(&dg, cf, l);
        /* MLP: res_out = h1 + w2 g; d_res holds d(res_out) and becomes d(h1) */
        GC_TRY(gc_cuda_linear_backward(c, pr, a->d_g, 0, dw.w2, a->d_res, D, g, LW(w.w2), N, H, D));
        GC_TRY(gc_cuda_swiglu_backward(c, a->d_a13, a->d_g, a13, N, H));
        GC_TRY(gc_cuda_linear_backward(c, pr, a->d_xn, 0, dw.w13, a->d_a13, 2 * H, xn2, LW(w.w13),
                                       N, D, 2 * H));
        GC_TRY(gc_cuda_rmsnorm_backward(c, a->d_res, 1, dw.ffn_norm, a->d_xn, h1, w.ffn_norm,
                                        a->rstd2 + (size_t)l * N, N, D));
        /* attention: h1 = res + wo ao; d_res becomes d(res) */
        GC_TRY(
            gc_cuda_linear_backward(c, pr, a->d_ao, 0, dw.wo, a->d_res, D, ao, LW(w.wo), N, D, D));
        GC_TRY(gc_cuda_attention_backward(c, pr, a->d_qkv, a->d_ao, att, qkv, B, T, nh, nkv, hs));
        GC_TRY(gc_cuda_rope(c, a->d_qkv, QKV, 0, nh, hs, N, T, d->cos_t, d->sin_t, 1, NULL));
        GC_TRY(gc_cuda_rope(c, a->d_qkv, QKV, D, nkv, hs, N, T, d->cos_t, d->sin_t, 1, NULL));
        GC_TRY(gc_cuda_linear_backward(c, pr, a->d_xn, 0, dw.wqkv, a->d_qkv, QKV, xn1, LW(w.wqkv),
                                       N, D, QKV));
        GC_TRY(gc_cuda_rmsnorm_backward(c, a->d_res, 1, dw.attn_norm, a->d_xn, res, w.attn_norm,
                                        a->rstd1 + (size_t)l * N, N, D));
    }
    return gc_cuda_embedding_backward(c, tensor(G, m, GC_T_EMB), V, a->d_res, m->last_tokens, N, D);
}

static gc_status grad_sumsq(const gc_backend *be, gc_model *m, double *out) {
    dev_model *d = (dev_model *)m->dev;
    if (!d || !d->G) return gc_fail(GC_ERR_ARG, "grad_sumsq: the model has no gradient");
    return gc_cuda_sumsq(ctx(be)->c, d->G, m->n_params, out);
}

static gc_status scale_grads(const gc_backend *be, gc_model *m, float k) {
    dev_model *d = (dev_model *)m->dev;
    if (!d || !d->G) return gc_fail(GC_ERR_ARG, "scale_grads: the model has no gradient");
    return gc_cuda_scale(ctx(be)->c, d->G, m->n_params, k);
}

static gc_status adamw(const gc_backend *be, gc_model *m, gc_adamw *o, float lr) {
    gc_cuda *c = ctx(be)->c;
    dev_model *d = (dev_model *)m->dev;
    if (!d || !d->G) return gc_fail(GC_ERR_ARG, "adamw: the model has no gradient");
    size_t bytes = sizeof(float) * m->n_params;
    if (!d->M) {
        d->M = (float *)gc_cuda_alloc(c, bytes);
        d->Vm = (float *)gc_cuda_alloc(c, bytes);
        if (!d->M || !d->Vm) return GC_ERR_DEVICE;
    }
    if (d->opt != o) { /* this optimiser's moments (zero, or restored from a checkpoint) */
        GC_TRY(gc_cuda_upload(c, d->M, o->m, bytes));
        GC_TRY(gc_cuda_upload(c, d->Vm, o->v, bytes));
        d->opt = o;
    }
    o->step++;
    for (int t = 0; t < GC_N_TENSORS; t++) {
        const gc_tensor_info *ti = &m->tensors[t];
        size_t off = ti->offset;
        GC_TRY(gc_cuda_adamw(c, d->P + off, d->M + off, d->Vm + off, d->G + off, ti->size, lr,
                             o->beta1, o->beta2, o->eps, o->weight_decay, ti->decay, o->step));
    }
    return refresh_shadow(be, m, d);
}

static gc_status sync(const gc_backend *be, gc_model *m, gc_adamw *o) {
    gc_cuda *c = ctx(be)->c;
    dev_model *d = (dev_model *)m->dev;
    size_t bytes = sizeof(float) * m->n_params;
    GC_TRY(gc_cuda_download(c, m->params, d->P, bytes));
    if (o && d->opt == o) {
        GC_TRY(gc_cuda_download(c, o->m, d->M, bytes));
        GC_TRY(gc_cuda_download(c, o->v, d->Vm, bytes));
    }
    return GC_OK;
}

static gc_status sync_grads(const gc_backend *be, gc_model *m) {
    dev_model *d = (dev_model *)m->dev;
    if (!d || !d->G) return gc_fail(GC_ERR_ARG, "sync_grads: the model has no gradient");
    return gc_cuda_download(ctx(be)->c, m->grads, d->G, sizeof(float) * m->n_params);
}

/* ---- decoding ---- */

static void kv_release(const gc_backend *be, gc_kvcache *kc) {
    dev_cache *k = (dev_cache *)kc->dev;
    if (!k) return;
    gc_cuda *c = ctx(be)->c;
    gc_cuda_free(c, k->base), gc_cuda_free(c, k->tok);
    free(k);
    kc->dev = NULL;
}

static gc_status kv_attach(const gc_backend *be, const gc_model *m, gc_kvcache *kc,
                           dev_cache **out) {
    if (kc->dev) {
        *out = (dev_cache *)kc->dev;
        return GC_OK;
    }
    gc_cuda *c = ctx(be)->c;
    const gc_model_config *cf = &m->cfg;
    size_t B = kc->B, Tm = kc->max_T, D = cf->dim, H = cf->hidden_dim, L = cf->n_layers;
    size_t KV = (size_t)cf->n_kv_heads * (D / cf->n_heads), V = cf->vocab_size;
    dev_cache *k = (dev_cache *)calloc(1, sizeof *k);
    if (!k) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
    size_t total = 2 * L * B * Tm * KV + 4 * B * D + B * (D + 2 * KV) + 3 * B * H + B * V + B;
    k->base = (float *)gc_cuda_alloc(c, sizeof(float) * total);
    k->tok = (int32_t *)gc_cuda_alloc(c, sizeof(int32_t) * 3 * B);
    kc->dev = k;
    kc->be = be;
    if (!k->base || !k->tok) {
        kv_release(be, kc);
        return GC_ERR_DEVICE;
    }
    float *p = k->base;
    k->k = p, p += L * B * Tm * KV;
    k->v = p, p += L * B * Tm * KV;
    k->x = p, p += B * D;
    k->xn = p, p += B * D;
    k->ao = p, p += B * D;
    k->hf = p, p += B * D;
    k->qkv = p, p += B * (D + 2 * KV);
    k->a13 = p, p += 2 * B * H;
    k->g = p, p += B * H;
    k->logits = p, p += B * V;
    k->rstd = p;
    k->pos = k->tok + B;
    k->active = (uint8_t *)(k->pos + B);
    *out = k;
    return GC_OK;
}

static gc_status decode(const gc_backend *be, gc_model *m, gc_kvcache *kc, const int32_t *token,
                        const int32_t *pos) {
    gc_cuda *c = ctx(be)->c;
    gc_precision pr = ctx(be)->p;
    dev_model *d = NULL;
    dev_cache *k = NULL;
    GC_TRY(attach(be, m, &d));
    GC_TRY(kv_attach(be, m, kc, &k));
    const gc_model_config *cf = &m->cfg;
    int B = kc->B, D = cf->dim, H = cf->hidden_dim, L = cf->n_layers, nh = cf->n_heads;
    int nkv = cf->n_kv_heads, hs = D / nh, KV = nkv * hs, QKV = D + 2 * KV, Tm = kc->max_T;
    int V = cf->vocab_size;
    float *P = d->P;
    std::vector<int32_t> tp(token, token + B); /* tokens then positions: one upload per step */
    tp.insert(tp.end(), pos, pos + B);         /* (k->pos follows k->tok) */
    GC_TRY(gc_cuda_upload(c, k->tok, tp.data(), sizeof(int32_t) * 2 * B));
    if (kc->active) GC_TRY(gc_cuda_upload(c, k->active, kc->active, (size_t)B));
    GC_TRY(gc_cuda_embedding(c, k->x, tensor(P, m, GC_T_EMB), k->tok, B, D));
    gc_param_ptrs dp = gc_model_ptrs(m, P);
    for (int l = 0; l < L; l++) {
        gc_layer_params w = gc_model_layer(&dp, cf, l);
        size_t cache = (size_t)l * B * Tm * KV;
        GC_TRY(gc_cuda_rmsnorm(c, k->xn, k->rstd, k->x, w.attn_norm, B, D, cf->norm_eps));
        GC_TRY(gc_cuda_linear(c, pr, k->qkv, QKV, 0, k->xn, LW(w.wqkv), B, D, QKV));
        /* q heads then k heads, contiguous from column 0, at each row's position */
        GC_TRY(gc_cuda_rope(c, k->qkv, QKV, 0, nh + nkv, hs, B, 1, d->cos_t, d->sin_t, 0, k->pos));
        GC_TRY(gc_cuda_decode_attention(c, k->ao, k->k + cache, k->v + cache, k->qkv, k->pos,
                                        kc->active ? k->active : NULL, B, Tm, nh, nkv, hs));
        GC_TRY(gc_cuda_linear(c, pr, k->x, D, 1, k->ao, LW(w.wo), B, D, D));
        GC_TRY(gc_cuda_rmsnorm(c, k->xn, k->rstd, k->x, w.ffn_norm, B, D, cf->norm_eps));
        GC_TRY(gc_cuda_linear(c, pr, k->a13, 2 * H, 0, k->xn, LW(w.w13), B, D, 2 * H));
        GC_TRY(gc_cuda_swiglu(c, k->g, k->a13, B, H));
        GC_TRY(gc_cuda_linear(c, pr, k->x, D, 1, k->g, LW(w.w2), B, H, D));
    }
    GC_TRY(gc_cuda_rmsnorm(c, k->hf, k->rstd, k->x, tensor(P, m, GC_T_FINAL_NORM), B, D,
                           cf->norm_eps));
    GC_TRY(gc_cuda_linear(c, pr, k->logits, V, 0, k->hf, WEIGHT(GC_T_CLS, 0), B, D, V));
    GC_TRY(gc_cuda_download(c, kc->hf, k->hf, sizeof(float) * B * D));
    return gc_cuda_download(c, kc->logits, k->logits, sizeof(float) * B * V);
}

/* the backend's functions, in the order of gc_backend's fields (name, precision and ctx are set per
 * handle and precision below) */
static const gc_backend ops = {NULL,      NULL,       NULL,       forward,     ce_loss,
                               zero_grad, backward,   grad_sumsq, scale_grads, adamw,
                               sync,      sync_grads, decode,     release,     kv_release};

extern "C" gc_status gc_cuda_backend(gc_cuda *c, gc_precision p, const gc_backend **out) {
    if ((unsigned)p > GC_PREC_BF16)
        return gc_fail(GC_ERR_ARG, "cuda: unknown precision %d", (int)p);
    if (!c->backends[p]) {
        cuda_be *b = (cuda_be *)calloc(1, sizeof *b);
        if (!b) return gc_fail(GC_ERR_NOMEM, "cuda: out of host memory");
        b->be = ops;
        b->c = c;
        b->p = p;
        b->be.ctx = b;
        b->be.name = c->emulate ? "cuda-emulated" : "cuda";
        b->be.precision = gc_precision_name(p);
        c->backends[p] = b;
    }
    *out = &((cuda_be *)c->backends[p])->be;
    return GC_OK;
}

void gc_cuda_backends_free(gc_cuda *c) {
    for (void *&b : c->backends)
        free(b), b = NULL;
}
