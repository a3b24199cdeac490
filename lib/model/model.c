#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/rng.h"
#include "optim.h"

gc_status gc_model_config_check(const gc_model_config *c) {
#define REQUIRE(cond, field)                                                                       \
    if (!(cond)) return gc_fail(GC_ERR_ARG, "model config: bad %s (%s)", field, #cond)
    REQUIRE(c->dim > 0 && c->dim <= 65536, "dim");
    REQUIRE(c->hidden_dim > 0 && c->hidden_dim <= 262144, "hidden_dim");
    REQUIRE(c->n_layers > 0 && c->n_layers <= 1024, "n_layers");
    REQUIRE(c->n_heads > 0 && c->dim % c->n_heads == 0, "n_heads");
    REQUIRE((c->dim / c->n_heads) % 2 == 0, "n_heads");
    REQUIRE(c->n_kv_heads > 0 && c->n_heads % c->n_kv_heads == 0, "n_kv_heads");
    REQUIRE(c->vocab_size > 0 && c->vocab_size <= (1 << 24), "vocab_size");
    REQUIRE(c->seq_len > 0 && c->seq_len <= (1 << 20), "seq_len");
    REQUIRE(c->tied == 0 || c->tied == 1, "tied");
    REQUIRE(c->norm_eps > 0 && c->norm_eps < 1, "norm_eps");
    REQUIRE(c->rope_theta > 1, "rope_theta");
    REQUIRE(c->rope_scaling >= GC_ROPE_NONE && c->rope_scaling <= GC_ROPE_LLAMA3, "rope_scaling");
    if (c->rope_scaling != GC_ROPE_NONE)
        REQUIRE(c->rope_factor >= 1 && c->rope_factor <= 1e6, "rope_factor");
    if (c->rope_scaling == GC_ROPE_LLAMA3) {
        REQUIRE(c->rope_low_freq > 0 && c->rope_high_freq > c->rope_low_freq &&
                    c->rope_high_freq <= 1e6,
                "rope_low_freq/rope_high_freq");
        REQUIRE(c->rope_orig_len > 0 && c->rope_orig_len <= (1 << 24), "rope_orig_len");
    }
#undef REQUIRE
    return GC_OK;
}

size_t gc_model_tensors(const gc_model_config *c, gc_tensor_info t[GC_N_TENSORS]) {
    int D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size;
    int KV = c->n_kv_heads * (D / c->n_heads);
    struct {
        const char *name;
        int ndim, s0, s1, s2, decay;
    } spec[GC_N_TENSORS] = {
        [GC_T_EMB] = {"emb", 2, V, D, 0, 1},
        [GC_T_ATTN_NORM] = {"attn_norm", 2, L, D, 0, 0},
        [GC_T_WQKV] = {"wqkv", 3, L, D + 2 * KV, D, 1},
        [GC_T_WO] = {"wo", 3, L, D, D, 1},
        [GC_T_FFN_NORM] = {"ffn_norm", 2, L, D, 0, 0},
        [GC_T_W13] = {"w13", 3, L, 2 * H, D, 1},
        [GC_T_W2] = {"w2", 3, L, D, H, 1},
        [GC_T_FINAL_NORM] = {"final_norm", 1, D, 0, 0, 0},
        [GC_T_CLS] = {"cls", 2, c->tied ? 0 : V, D, 0, 1},
    };
    size_t off = 0;
    for (int i = 0; i < GC_N_TENSORS; i++) {
        t[i].name = spec[i].name;
        t[i].ndim = spec[i].ndim;
        t[i].shape[0] = spec[i].s0;
        t[i].shape[1] = spec[i].s1;
        t[i].shape[2] = spec[i].s2;
        size_t n = 1;
        for (int d = 0; d < spec[i].ndim; d++)
            n *= (size_t)t[i].shape[d];
        t[i].size = n;
        t[i].offset = off;
        t[i].decay = spec[i].decay;
        off += n;
    }
    return off;
}

static void set_ptrs(gc_param_ptrs *p, float *base, const gc_tensor_info *t, int tied) {
    for (int i = 0; i < GC_N_TENSORS; i++)
        p->x[i] = base + t[i].offset;
    if (tied) p->x[GC_T_CLS] = p->x[GC_T_EMB];
}

gc_param_ptrs gc_model_ptrs(const gc_model *m, float *base) {
    gc_param_ptrs p;
    set_ptrs(&p, base, m->tensors, m->cfg.tied);
    return p;
}

float gc_model_rope_freq(const gc_model_config *c, int i) {
    int hs = c->dim / c->n_heads;
    float freq = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)hs);
    if (c->rope_scaling == GC_ROPE_LINEAR) return freq / c->rope_factor;
    if (c->rope_scaling != GC_ROPE_LLAMA3) return freq;
    double wavelen = 2.0 * M_PI / freq;
    double low_wavelen = c->rope_orig_len / (double)c->rope_low_freq;   /* longer: scaled */
    double high_wavelen = c->rope_orig_len / (double)c->rope_high_freq; /* shorter: kept */
    if (wavelen > low_wavelen) return freq / c->rope_factor;
    if (wavelen < high_wavelen) return freq;
    double smooth =
        (c->rope_orig_len / wavelen - c->rope_low_freq) / (c->rope_high_freq - c->rope_low_freq);
    return (float)((1.0 - smooth) * freq / c->rope_factor + smooth * freq);
}

gc_status gc_model_init(gc_model *m, const gc_model_config *cfg) {
    memset(m, 0, sizeof *m);
    GC_TRY(gc_model_config_check(cfg));
    m->cfg = *cfg;
    m->be = gc_device_backend(); /* the process's device (--device) */
    m->n_params = gc_model_tensors(cfg, m->tensors);
    m->params = gc_calloc(m->n_params, sizeof(float));
    int half = cfg->dim / cfg->n_heads / 2;
    m->rope_cos = gc_malloc(sizeof(float) * (size_t)cfg->seq_len * half);
    m->rope_sin = gc_malloc(sizeof(float) * (size_t)cfg->seq_len * half);
    if (!m->params || !m->rope_cos || !m->rope_sin) {
        gc_model_free(m);
        return GC_ERR_NOMEM;
    }
    set_ptrs(&m->p, m->params, m->tensors, cfg->tied);
    for (int t = 0; t < cfg->seq_len; t++)
        for (int i = 0; i < half; i++) {
            float ang = (float)t * gc_model_rope_freq(cfg, i); /* in fp32, as llama2.c */
            m->rope_cos[(size_t)t * half + i] = cosf(ang);
            m->rope_sin[(size_t)t * half + i] = sinf(ang);
        }
    return GC_OK;
}

/* frees the model's state on its backend (nothing of the host's) */
static void release(gc_model *m) {
    const gc_backend *be = m->be;
    gc_resident *r = &m->r;
    be->free(be, r->arena);
    if (!be->host) {
        void *bufs[] = {r->P, r->G, r->M, r->Vm, r->Pb, r->cos_t, r->sin_t};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            be->free(be, bufs[i]);
    }
    free(r->hf_host), free(r->logits_host);
    memset(r, 0, sizeof *r);
    memset(&m->acts, 0, sizeof m->acts);
    m->hf = m->logits = NULL;
    m->logits_ready = m->ce_ready = 0;
}

void gc_model_free(gc_model *m) {
    if (m->be) release(m);
    free(m->params);
    free(m->grads);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->lens);
    memset(m, 0, sizeof *m);
}

void gc_model_init_random(gc_model *m, uint64_t seed) {
    const gc_model_config *c = &m->cfg;
    float out_scale = 1.0f / sqrtf(2.0f * (float)c->n_layers);
    for (int i = 0; i < GC_N_TENSORS; i++) {
        const gc_tensor_info *t = &m->tensors[i];
        float *x = m->params + t->offset;
        gc_rng r;
        gc_rng_init(&r, seed, gc_rng_stream(GC_STREAM_INIT, (uint64_t)i));
        if (!t->decay) {
            for (size_t k = 0; k < t->size; k++)
                x[k] = 1.0f;
            continue;
        }
        float std = 0.02f * ((i == GC_T_WO || i == GC_T_W2) ? out_scale : 1.0f);
        for (size_t k = 0; k < t->size; k++)
            x[k] = std * gc_rng_normal(&r);
    }
}

/* ---- the state on the backend ---- */

/* a buffer of `bytes` on m's backend */
static gc_status balloc(const gc_model *m, void *out, size_t bytes) {
    void *p = m->be->alloc(m->be, bytes);
    *(void **)out = p;
    return p ? GC_OK : gc_fail(GC_ERR_DEVICE, "%s: cannot allocate %zu bytes", m->be->name, bytes);
}

/* the parameters on the backend (uploaded on first use; a host backend uses them in place) */
static gc_status ready(gc_model *m) {
    gc_resident *r = &m->r;
    if (r->ready) return GC_OK;
    const gc_backend *be = m->be;
    size_t np = m->n_params, nr = (size_t)m->cfg.seq_len * (m->cfg.dim / m->cfg.n_heads / 2);
    if (be->host) {
        r->P = m->params, r->G = m->grads;
        r->cos_t = m->rope_cos, r->sin_t = m->rope_sin;
    } else {
        gc_status s = balloc(m, &r->P, sizeof(float) * np);
        if (s == GC_OK) s = balloc(m, &r->cos_t, sizeof(float) * nr);
        if (s == GC_OK) s = balloc(m, &r->sin_t, sizeof(float) * nr);
        if (s == GC_OK) s = be->upload(be, r->P, m->params, sizeof(float) * np);
        if (s == GC_OK) s = be->upload(be, r->cos_t, m->rope_cos, sizeof(float) * nr);
        if (s == GC_OK) s = be->upload(be, r->sin_t, m->rope_sin, sizeof(float) * nr);
        if (s == GC_OK && be->shadow) s = balloc(m, &r->Pb, sizeof(uint16_t) * np);
        if (s == GC_OK && be->shadow) s = be->to_bf16(be, r->Pb, r->P, np);
        if (s != GC_OK) {
            release(m);
            return s;
        }
    }
    r->p = gc_model_ptrs(m, r->P);
    if (r->G) r->g = gc_model_ptrs(m, r->G);
    r->ready = 1;
    return GC_OK;
}

/* the gradient buffer on the backend (the host's m->grads on a host backend) */
static gc_status ensure_grads(gc_model *m) {
    GC_TRY(ready(m));
    gc_resident *r = &m->r;
    if (r->G) return GC_OK;
    if (m->be->host) {
        if (!m->grads && !(m->grads = gc_calloc(m->n_params, sizeof(float)))) return GC_ERR_NOMEM;
        set_ptrs(&m->g, m->grads, m->tensors, m->cfg.tied);
        r->G = m->grads;
    } else {
        GC_TRY(balloc(m, &r->G, sizeof(float) * m->n_params));
    }
    r->g = gc_model_ptrs(m, r->G);
    return GC_OK;
}

/* W's bf16 shadow when the backend reads one (W points into the resident parameters) */
static const void *shadow(const gc_model *m, const float *W) {
    return m->r.Pb ? (const void *)(m->r.Pb + (W - m->r.P)) : NULL;
}

/* Slices the arena for (B, T); grows it only when the shape needs more than it holds. */
static gc_status ensure_acts(gc_model *m, int B, int T) {
    gc_acts *a = &m->acts;
    if (m->r.arena && a->B == B && a->T == T && a->recompute == m->recompute) return GC_OK;
    const gc_model_config *c = &m->cfg;
    size_t N = (size_t)B * T, D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size;
    size_t KV = (size_t)c->n_kv_heads * (D / c->n_heads), QKV = D + 2 * KV, nh = c->n_heads;
    size_t LS = m->recompute ? 1 : L; /* slots of the layers' intermediates */
    size_t att_floats = (LS * B * nh * T * T * m->be->att_bytes + 3) / 4;
    float *att = NULL;
    int32_t *ints = NULL; /* tok (N), tgt (N), len (B) */
    struct {
        float **ptr;
        size_t n;
    } plan[] = {
        {&a->res, (L + 1) * N * D},
        {&a->h1, LS * N * D},
        {&a->xn1, LS * N * D},
        {&a->rstd1, LS * N},
        {&a->qkv, LS * N * QKV},
        {&att, att_floats},
        {&a->ao, LS * N * D},
        {&a->xn2, LS * N * D},
        {&a->rstd2, LS * N},
        {&a->a13, LS * N * 2 * H},
        {&a->g, LS * N * H},
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
        {(float **)&ints, (2 * N + B + 1) * sizeof(int32_t) / sizeof(float)},
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++)
        total += plan[i].n;
    if (sizeof(float) * total > m->r.arena_bytes) {
        m->be->free(m->be, m->r.arena);
        m->r.arena_bytes = 0;
        memset(a, 0, sizeof *a);
        GC_TRY(balloc(m, &m->r.arena, sizeof(float) * total));
        m->r.arena_bytes = sizeof(float) * total;
    }
    float *p = m->r.arena;
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        *plan[i].ptr = p;
        p += plan[i].n;
    }
    a->att = att;
    a->tok = ints, a->tgt = ints + N, a->len = NULL;
    a->B = B, a->T = T, a->recompute = m->recompute;
    return GC_OK;
}

void gc_model_set_recompute(gc_model *m, int on) {
    m->recompute = on != 0;
}

/* Layer l's forward from its input a->res[l] into the intermediates' slot s (l, or 0 when
 * recomputing) and a->res[l + 1]. */
static gc_status layer_forward(gc_model *m, int l, int s) {
    const gc_model_config *c = &m->cfg;
    const gc_backend *be = m->be;
    gc_acts *a = &m->acts;
    int B = a->B, T = a->T, N = B * T, D = c->dim, H = c->hidden_dim, nh = c->n_heads;
    int nkv = c->n_kv_heads, hs = D / nh, KV = nkv * hs, QKV = D + 2 * KV;
    size_t nd = (size_t)N * D;
    float *res = a->res + l * nd, *res_out = res + nd, *h1 = a->h1 + s * nd;
    float *xn1 = a->xn1 + s * nd, *qkv = a->qkv + (size_t)s * N * QKV;
    void *att = (char *)a->att + (size_t)s * B * nh * T * T * be->att_bytes;
    float *ao = a->ao + s * nd, *xn2 = a->xn2 + s * nd;
    float *a13 = a->a13 + (size_t)s * N * 2 * H, *g = a->g + (size_t)s * N * H;
    gc_layer_params w = gc_model_layer(&m->r.p, c, l);

    /* attention block: h1 = res + wo attention(rope(wqkv rmsnorm(res))) */
    GC_TRY(be->rmsnorm(be, xn1, a->rstd1 + (size_t)s * N, res, w.attn_norm, N, D, c->norm_eps));
    GC_TRY(be->linear(be, qkv, QKV, xn1, w.wqkv, shadow(m, w.wqkv), N, D, QKV));
    GC_TRY(be->rope(be, qkv, QKV, 0, nh, hs, N, T, m->r.cos_t, m->r.sin_t, 0, NULL));
    GC_TRY(be->rope(be, qkv, QKV, D, nkv, hs, N, T, m->r.cos_t, m->r.sin_t, 0, NULL));
    GC_TRY(be->attention(be, ao, att, qkv, B, T, nh, nkv, hs, a->len));
    GC_TRY(be->linear_residual(be, h1, res, ao, w.wo, shadow(m, w.wo), N, D, D));

    /* MLP block: res_out = h1 + w2 swiglu(w13 rmsnorm(h1)) */
    GC_TRY(be->rmsnorm(be, xn2, a->rstd2 + (size_t)s * N, h1, w.ffn_norm, N, D, c->norm_eps));
    GC_TRY(be->linear(be, a13, 2 * H, xn2, w.w13, shadow(m, w.w13), N, D, 2 * H));
    GC_TRY(be->swiglu(be, g, a13, N, H));
    return be->linear_residual(be, res_out, h1, g, w.w2, shadow(m, w.w2), N, H, D);
}

/* a host view of n floats at src on the backend: src itself on a host backend, else a copy in the
 * host buffer *buf (grown to hold n) */
static gc_status host_view(const gc_backend *be, float **view, float **buf, size_t *cap,
                           const float *src, size_t n) {
    if (be->host) {
        *view = (float *)src;
        return GC_OK;
    }
    if (*cap < n) {
        free(*buf);
        *buf = gc_malloc(sizeof(float) * n);
        *cap = *buf ? n : 0;
        if (!*buf) return gc_fail(GC_ERR_NOMEM, "out of host memory");
    }
    *view = *buf;
    return be->download(be, *buf, src, sizeof(float) * n);
}

gc_status gc_model_set_backend(gc_model *m, const gc_backend *be) {
    if (!be) be = gc_backend_cpu();
    if (be == m->be) return GC_OK;
    gc_status s = GC_OK;
    if (m->r.ready && !m->be->host) /* leaving a device: its parameters are the current ones */
        s = m->be->download(m->be, m->params, m->r.P, sizeof(float) * m->n_params);
    release(m);
    m->be = be;
    return s;
}

gc_status gc_model_sync(gc_model *m, struct gc_adamw_s *opt) {
    const gc_backend *be = m->be;
    if (be->host || !m->r.ready) return GC_OK;
    size_t bytes = sizeof(float) * m->n_params;
    GC_TRY(be->download(be, m->params, m->r.P, bytes));
    if (opt && m->r.opt == opt) {
        GC_TRY(be->download(be, opt->m, m->r.M, bytes));
        GC_TRY(be->download(be, opt->v, m->r.Vm, bytes));
    }
    return GC_OK;
}

gc_status gc_model_sync_grads(gc_model *m) {
    if (m->be->host) return GC_OK;
    if (!m->r.G) return gc_fail(GC_ERR_ARG, "sync_grads: the model has no gradient");
    if (!m->grads) {
        m->grads = gc_calloc(m->n_params, sizeof(float));
        if (!m->grads) return GC_ERR_NOMEM;
        set_ptrs(&m->g, m->grads, m->tensors, m->cfg.tied);
    }
    return m->be->download(m->be, m->grads, m->r.G, sizeof(float) * m->n_params);
}

gc_status gc_model_zero_grad(gc_model *m) {
    GC_TRY(ensure_grads(m));
    return m->be->zero(m->be, m->r.G, sizeof(float) * m->n_params);
}

gc_status gc_model_grad_sumsq(gc_model *m, double *out) {
    if (!m->r.G) return gc_fail(GC_ERR_ARG, "grad_sumsq: the model has no gradient");
    return m->be->sumsq(m->be, m->r.G, m->n_params, out);
}

gc_status gc_model_scale_grads(gc_model *m, float k) {
    if (!m->r.G) return gc_fail(GC_ERR_ARG, "scale_grads: the model has no gradient");
    return m->be->scale(m->be, m->r.G, m->n_params, k);
}

gc_status gc_model_adamw(gc_model *m, gc_adamw *o, float lr) {
    if (o->n != m->n_params)
        return gc_fail(GC_ERR_ARG, "adamw: optimiser for %zu parameters, model has %zu", o->n,
                       m->n_params);
    if (!m->r.G) return gc_fail(GC_ERR_ARG, "adamw: the model has no gradient");
    const gc_backend *be = m->be;
    gc_resident *r = &m->r;
    size_t bytes = sizeof(float) * m->n_params;
    if (be->host) {
        r->M = o->m, r->Vm = o->v, r->opt = o;
    } else if (r->opt != o) { /* this optimiser's moments (zero, or restored from a checkpoint) */
        if (!r->M) GC_TRY(balloc(m, &r->M, bytes));
        if (!r->Vm) GC_TRY(balloc(m, &r->Vm, bytes));
        GC_TRY(be->upload(be, r->M, o->m, bytes));
        GC_TRY(be->upload(be, r->Vm, o->v, bytes));
        r->opt = o;
    }
    o->step++;
    for (int t = 0; t < GC_N_TENSORS; t++) {
        const gc_tensor_info *ti = &m->tensors[t];
        size_t off = ti->offset;
        GC_TRY(be->adamw(be, r->P + off, r->M + off, r->Vm + off, r->G + off, ti->size, lr,
                         o->beta1, o->beta2, o->eps, o->weight_decay, ti->decay, o->step));
    }
    return r->Pb ? be->to_bf16(be, r->Pb, r->P, m->n_params) : GC_OK;
}

gc_layer_params gc_model_layer(const gc_param_ptrs *p, const gc_model_config *c, int l) {
    size_t D = c->dim, H = c->hidden_dim, KV = (size_t)c->n_kv_heads * (D / c->n_heads);
    gc_layer_params w = {
        .attn_norm = p->x[GC_T_ATTN_NORM] + (size_t)l * D,
        .wqkv = p->x[GC_T_WQKV] + (size_t)l * (D + 2 * KV) * D,
        .wo = p->x[GC_T_WO] + (size_t)l * D * D,
        .ffn_norm = p->x[GC_T_FFN_NORM] + (size_t)l * D,
        .w13 = p->x[GC_T_W13] + (size_t)l * 2 * H * D,
        .w2 = p->x[GC_T_W2] + (size_t)l * D * H,
    };
    return w;
}

/* ---- forward ---- */

gc_status gc_model_forward(gc_model *m, const int32_t *tokens, int B, int T, int want_logits) {
    return gc_model_forward_len(m, tokens, B, T, NULL, want_logits);
}

gc_status gc_model_forward_len(gc_model *m, const int32_t *tokens, int B, int T, const int *len,
                               int want_logits) {
    const gc_model_config *c = &m->cfg;
    const gc_backend *be = m->be;
    if (B <= 0 || T <= 0 || T > c->seq_len)
        return gc_fail(GC_ERR_ARG, "forward: bad shape B=%d T=%d (seq_len %d)", B, T, c->seq_len);
    for (int b = 0; len && b < B; b++)
        if (len[b] < 1 || len[b] > T)
            return gc_fail(GC_ERR_ARG, "forward: length %d of sequence %d outside [1, %d]", len[b],
                           b, T);
    int N = B * T, D = c->dim, L = c->n_layers, V = c->vocab_size;
    for (int n = 0; n < N; n++)
        if (tokens[n] < 0 || tokens[n] >= V)
            return gc_fail(GC_ERR_ARG, "forward: token %d at %d outside [0, %d)", tokens[n], n, V);
    m->last_tokens = tokens;
    m->logits_ready = m->ce_ready = 0;
    if (len) { /* the host copy, for checking targets against the lengths */
        int *lens = realloc(m->lens, sizeof(int) * (size_t)B);
        if (!lens) return gc_fail(GC_ERR_NOMEM, "forward: out of memory");
        m->lens = memcpy(lens, len, sizeof(int) * (size_t)B);
    }
    GC_TRY(ready(m));
    GC_TRY(ensure_acts(m, B, T));
    gc_acts *a = &m->acts;
    int32_t *tok = (int32_t *)a->tok, *lens = a->tgt + N;
    GC_TRY(be->upload(be, tok, tokens, sizeof(int32_t) * N));
    if (len) GC_TRY(be->upload(be, lens, len, sizeof(int32_t) * B));
    a->len = len ? lens : NULL;
    const gc_param_ptrs *P = &m->r.p;
    size_t nd = (size_t)N * D;

    GC_TRY(be->embedding(be, a->res, P->x[GC_T_EMB], tok, N, D));
    for (int l = 0; l < L; l++)
        GC_TRY(layer_forward(m, l, m->recompute ? 0 : l));
    GC_TRY(be->rmsnorm(be, a->hf, a->rstdf, a->res + (size_t)L * nd, P->x[GC_T_FINAL_NORM], N, D,
                       c->norm_eps));
    if (want_logits != GC_LOGITS_NONE) {
        const float *cls = P->x[GC_T_CLS];
        GC_TRY(be->linear(be, a->logits, V, a->hf, cls, shadow(m, cls), N, D, V));
        m->logits_ready = 1;
    }
    gc_resident *r = &m->r;
    m->hf = m->logits = NULL;
    if (want_logits != GC_LOGITS_DEVICE || be->host)
        GC_TRY(host_view(be, &m->hf, &r->hf_host, &r->hf_cap, a->hf, nd));
    if (want_logits == GC_LOGITS_HOST || (be->host && want_logits != GC_LOGITS_NONE))
        GC_TRY(
            host_view(be, &m->logits, &r->logits_host, &r->logits_cap, a->logits, (size_t)N * V));
    return GC_OK;
}

gc_status gc_model_ce_loss(gc_model *m, const int32_t *targets, float weight, float *loss) {
    if (!m->logits_ready) return gc_fail(GC_ERR_ARG, "ce_loss: forward was run without logits");
    const gc_backend *be = m->be;
    gc_acts *a = &m->acts;
    int N = a->B * a->T, V = m->cfg.vocab_size, count = 0;
    const int *len = m->lens;
    for (int n = 0; n < N; n++) {
        if (targets[n] >= V || targets[n] < -1)
            return gc_fail(GC_ERR_ARG, "ce_loss: target %d at %d outside [-1, %d)", targets[n], n,
                           V);
        if (a->len && targets[n] >= 0 && n % a->T >= len[n / a->T])
            return gc_fail(GC_ERR_ARG, "ce_loss: target %d at padding position %d", targets[n], n);
        count += targets[n] >= 0;
    }
    float scale = count ? weight / (float)count : 0.0f;
    double sum;
    GC_TRY(be->upload(be, a->tgt, targets, sizeof(int32_t) * N));
    GC_TRY(be->cross_entropy(be, a->dlogits, a->logits, a->tgt, N, V, scale, &sum));
    if (!isfinite(sum))
        return gc_fail(GC_ERR_NUMERIC,
                       "ce_loss: the loss is %g: the run diverged (lower the "
                       "learning rate, or clip gradients)",
                       sum);
    *loss = count ? (float)(sum / count) : 0.0f;
    m->ce_ready = 1;
    return GC_OK;
}

gc_status gc_model_logits_grad(gc_model *m, const float *dlogits) {
    if (!m->logits_ready) return gc_fail(GC_ERR_ARG, "logits_grad: forward was run without logits");
    size_t n = (size_t)m->acts.B * m->acts.T * m->cfg.vocab_size;
    GC_TRY(m->be->upload(m->be, m->acts.dlogits, dlogits, sizeof(float) * n));
    m->ce_ready = 1;
    return GC_OK;
}

/* ---- backward ---- */

gc_status gc_model_backward(gc_model *m, const float *dhidden) {
    const gc_model_config *c = &m->cfg;
    const gc_backend *be = m->be;
    if (!m->last_tokens || !m->r.arena) return gc_fail(GC_ERR_ARG, "backward: no forward to undo");
    if (!m->r.G) GC_TRY(gc_model_zero_grad(m));
    gc_acts *a = &m->acts;
    int B = a->B, T = a->T, N = B * T, D = c->dim, H = c->hidden_dim, L = c->n_layers;
    int nh = c->n_heads, nkv = c->n_kv_heads, hs = D / nh, KV = nkv * hs, QKV = D + 2 * KV;
    int V = c->vocab_size;
    const gc_param_ptrs *P = &m->r.p, *G = &m->r.g;
    size_t nd = (size_t)N * D;

    /* gradient on the final hidden states: classifier path plus the caller's dhidden */
    float *dhf = a->d_xn;
    if (m->ce_ready)
        GC_TRY(be->linear_backward(be, dhf, 0, G->x[GC_T_CLS], a->dlogits, V, a->hf, P->x[GC_T_CLS],
                                   shadow(m, P->x[GC_T_CLS]), N, D, V));
    else
        GC_TRY(be->zero(be, dhf, sizeof(float) * nd));
    if (dhidden) {
        const float *dh = dhidden;
        if (!be->host) { /* through the scratch d_ao, free until the layers' backward */
            GC_TRY(be->upload(be, a->d_ao, dhidden, sizeof(float) * nd));
            dh = a->d_ao;
        }
        GC_TRY(be->add(be, dhf, dh, nd));
    }
    GC_TRY(be->rmsnorm_backward(be, a->d_res, 0, G->x[GC_T_FINAL_NORM], dhf,
                                a->res + (size_t)L * nd, P->x[GC_T_FINAL_NORM], a->rstdf, N, D));

    for (int l = L - 1; l >= 0; l--) {
        /* recomputing: the slot holds the last layer's intermediates; the others are made again
         * from their saved inputs, by the same kernels, so the bits are the stored ones */
        int s = a->recompute ? 0 : l;
        if (a->recompute && l < L - 1) GC_TRY(layer_forward(m, l, 0));
        float *res = a->res + l * nd, *h1 = a->h1 + s * nd, *xn1 = a->xn1 + s * nd;
        float *qkv = a->qkv + (size_t)s * N * QKV;
        const void *att = (const char *)a->att + (size_t)s * B * nh * T * T * be->att_bytes;
        float *ao = a->ao + s * nd, *xn2 = a->xn2 + s * nd, *a13 = a->a13 + (size_t)s * N * 2 * H;
        float *g = a->g + (size_t)s * N * H;
        gc_layer_params w = gc_model_layer(P, c, l), dw = gc_model_layer(G, c, l);

        /* MLP: res_out = h1 + w2 g; d_res holds d(res_out) and becomes d(h1) */
        GC_TRY(be->linear_backward(be, a->d_g, 0, dw.w2, a->d_res, D, g, w.w2, shadow(m, w.w2), N,
                                   H, D));
        GC_TRY(be->swiglu_backward(be, a->d_a13, a->d_g, a13, N, H));
        GC_TRY(be->linear_backward(be, a->d_xn, 0, dw.w13, a->d_a13, 2 * H, xn2, w.w13,
                                   shadow(m, w.w13), N, D, 2 * H));
        GC_TRY(be->rmsnorm_backward(be, a->d_res, 1, dw.ffn_norm, a->d_xn, h1, w.ffn_norm,
                                    a->rstd2 + (size_t)s * N, N, D));
        /* attention: h1 = res + wo ao; d_res becomes d(res) */
        GC_TRY(be->linear_backward(be, a->d_ao, 0, dw.wo, a->d_res, D, ao, w.wo, shadow(m, w.wo), N,
                                   D, D));
        GC_TRY(be->attention_backward(be, a->d_qkv, a->d_ao, att, qkv, B, T, nh, nkv, hs, a->len));
        GC_TRY(be->rope(be, a->d_qkv, QKV, 0, nh, hs, N, T, m->r.cos_t, m->r.sin_t, 1, NULL));
        GC_TRY(be->rope(be, a->d_qkv, QKV, D, nkv, hs, N, T, m->r.cos_t, m->r.sin_t, 1, NULL));
        GC_TRY(be->linear_backward(be, a->d_xn, 0, dw.wqkv, a->d_qkv, QKV, xn1, w.wqkv,
                                   shadow(m, w.wqkv), N, D, QKV));
        GC_TRY(be->rmsnorm_backward(be, a->d_res, 1, dw.attn_norm, a->d_xn, res, w.attn_norm,
                                    a->rstd1 + (size_t)s * N, N, D));
    }
    return be->embedding_backward(be, G->x[GC_T_EMB], V, a->d_res, m->last_tokens, N, D);
}

/* ---- KV-cache decoding ---- */

/* a cache's buffers on the decoding model's backend */
struct gc_kv_resident {
    const gc_backend *be;
    void *base;
    float *k, *v;       /* (L, B, max_T, KV) */
    float *x, *x2, *xn; /* (B, D) residual stream (x2: the next one), normed input */
    float *qkv;         /* (B, D + 2 KV) */
    float *ao;          /* (B, D) */
    float *a13, *g;     /* (B, 2H), (B, H) */
    float *scores;      /* (B, n_heads, max_T) */
    float *hf, *logits; /* (B, D), (B, V) */
    float *rstd;        /* (B) */
    int32_t *tok, *pos; /* (B), (B) */
    uint8_t *active;    /* (B) */
};

gc_status gc_kvcache_init(gc_kvcache *c, const gc_model_config *cfg, int B, int max_T) {
    memset(c, 0, sizeof *c);
    if (B <= 0 || max_T <= 0 || max_T > cfg->seq_len)
        return gc_fail(GC_ERR_ARG, "kvcache: bad size B=%d max_T=%d (seq_len %d)", B, max_T,
                       cfg->seq_len);
    c->B = B;
    c->max_T = max_T;
    c->hf = gc_malloc(sizeof(float) * B * cfg->dim);
    c->logits = gc_malloc(sizeof(float) * B * cfg->vocab_size);
    if (!c->hf || !c->logits) {
        gc_kvcache_free(c);
        return GC_ERR_NOMEM;
    }
    return GC_OK;
}

void gc_kvcache_free(gc_kvcache *c) {
    if (c->r) {
        c->r->be->free(c->r->be, c->r->base);
        free(c->r);
    }
    free(c->hf), free(c->logits);
    memset(c, 0, sizeof *c);
}

/* the cache on m's backend, created by its first decode */
static gc_status kv_ready(const gc_model *m, gc_kvcache *kc) {
    if (kc->r) {
        if (kc->r->be != m->be)
            return gc_fail(GC_ERR_ARG, "decode: the cache belongs to another backend (%s)",
                           kc->r->be->name);
        return GC_OK;
    }
    const gc_model_config *cf = &m->cfg;
    size_t B = kc->B, Tm = kc->max_T, D = cf->dim, H = cf->hidden_dim, L = cf->n_layers;
    size_t KV = (size_t)cf->n_kv_heads * (D / cf->n_heads), V = cf->vocab_size;
    struct gc_kv_resident *r = gc_calloc(1, sizeof *r);
    if (!r) return GC_ERR_NOMEM;
    struct {
        float **ptr;
        size_t n;
    } plan[] = {
        {&r->k, L * B * Tm * KV},
        {&r->v, L * B * Tm * KV},
        {&r->x, B * D},
        {&r->x2, B * D},
        {&r->xn, B * D},
        {&r->qkv, B * (D + 2 * KV)},
        {&r->ao, B * D},
        {&r->a13, 2 * B * H},
        {&r->g, B * H},
        {&r->scores, B * cf->n_heads * Tm},
        {&r->hf, B * D},
        {&r->logits, B * V},
        {&r->rstd, B},
        {(float **)&r->tok, 3 * B}, /* tok, pos, active */
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++)
        total += plan[i].n;
    r->be = m->be;
    gc_status s = balloc(m, &r->base, sizeof(float) * total);
    if (s != GC_OK) {
        free(r);
        return s;
    }
    float *p = r->base;
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        *plan[i].ptr = p;
        p += plan[i].n;
    }
    r->pos = r->tok + B;
    r->active = (uint8_t *)(r->pos + B);
    kc->r = r;
    return GC_OK;
}

/* a decoding step's matmul: the backend's decode_linear when it has one (a row's bits then do not
 * depend on the batch), else its linear (res NULL, row stride ldy) or linear_residual (ldy = out)
 */
static gc_status dlinear(const gc_model *m, float *y, int ldy, const float *res, const float *x,
                         const float *W, int N, int in, int out) {
    const gc_backend *be = m->be;
    if (be->decode_linear)
        return be->decode_linear(be, y, ldy, res, x, W, shadow(m, W), N, in, out);
    if (res) return be->linear_residual(be, y, res, x, W, shadow(m, W), N, in, out);
    return be->linear(be, y, ldy, x, W, shadow(m, W), N, in, out);
}

gc_status gc_model_decode(gc_model *m, gc_kvcache *kc, const int32_t *token, const int32_t *pos) {
    const gc_model_config *c = &m->cfg;
    const gc_backend *be = m->be;
    int B = kc->B, D = c->dim, H = c->hidden_dim, L = c->n_layers, nh = c->n_heads;
    int nkv = c->n_kv_heads, hs = D / nh, KV = nkv * hs, QKV = D + 2 * KV, V = c->vocab_size;
    int Tm = kc->max_T;
    for (int b = 0; b < B; b++) {
        if (token[b] < 0 || token[b] >= V)
            return gc_fail(GC_ERR_ARG, "decode: token %d outside [0, %d)", token[b], V);
        if (pos[b] < 0 || pos[b] >= Tm)
            return gc_fail(GC_ERR_ARG, "decode: position %d outside the cache [0, %d)", pos[b], Tm);
    }
    GC_TRY(ready(m));
    GC_TRY(kv_ready(m, kc));
    struct gc_kv_resident *r = kc->r;
    GC_TRY(be->upload(be, r->tok, token, sizeof(int32_t) * B));
    GC_TRY(be->upload(be, r->pos, pos, sizeof(int32_t) * B));
    if (kc->active) GC_TRY(be->upload(be, r->active, kc->active, (size_t)B));
    const uint8_t *active = kc->active ? r->active : NULL;
    const gc_param_ptrs *P = &m->r.p;
    float *x = r->x, *x2 = r->x2, *t;

    GC_TRY(be->embedding(be, x, P->x[GC_T_EMB], r->tok, B, D));
    for (int l = 0; l < L; l++) {
        gc_layer_params w = gc_model_layer(P, c, l);
        float *k_l = r->k + (size_t)l * B * Tm * KV, *v_l = r->v + (size_t)l * B * Tm * KV;

        /* attention block over the cache: the forward's ops at each sequence's position (q heads
         * then k heads, contiguous from column 0) */
        GC_TRY(be->rmsnorm(be, r->xn, r->rstd, x, w.attn_norm, B, D, c->norm_eps));
        GC_TRY(dlinear(m, r->qkv, QKV, NULL, r->xn, w.wqkv, B, D, QKV));
        GC_TRY(be->rope(be, r->qkv, QKV, 0, nh + nkv, hs, B, 1, m->r.cos_t, m->r.sin_t, 0, r->pos));
        GC_TRY(be->decode_attention(be, r->ao, r->scores, k_l, v_l, r->qkv, r->pos, active, B, Tm,
                                    nh, nkv, hs));
        GC_TRY(dlinear(m, x2, D, x, r->ao, w.wo, B, D, D));
        t = x, x = x2, x2 = t;

        /* MLP block */
        GC_TRY(be->rmsnorm(be, r->xn, r->rstd, x, w.ffn_norm, B, D, c->norm_eps));
        GC_TRY(dlinear(m, r->a13, 2 * H, NULL, r->xn, w.w13, B, D, 2 * H));
        GC_TRY(be->swiglu(be, r->g, r->a13, B, H));
        GC_TRY(dlinear(m, x2, D, x, r->g, w.w2, B, H, D));
        t = x, x = x2, x2 = t;
    }
    const float *cls = P->x[GC_T_CLS];
    GC_TRY(be->rmsnorm(be, r->hf, r->rstd, x, P->x[GC_T_FINAL_NORM], B, D, c->norm_eps));
    GC_TRY(dlinear(m, r->logits, V, NULL, r->hf, cls, B, D, V));
    GC_TRY(be->download(be, kc->hf, r->hf, sizeof(float) * B * D));
    return be->download(be, kc->logits, r->logits, sizeof(float) * B * V);
}
