#include "model.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "lib/util/rng.h"

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

gc_status gc_model_init(gc_model *m, const gc_model_config *cfg) {
    memset(m, 0, sizeof *m);
    GC_TRY(gc_model_config_check(cfg));
    m->cfg = *cfg;
    m->be = gc_device_backend(); /* the process's device (--device); NULL: the CPU */
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
    int hs = cfg->dim / cfg->n_heads;
    for (int t = 0; t < cfg->seq_len; t++)
        for (int i = 0; i < half; i++) {
            /* as llama2.c: frequency theta^(-2i/hs), angle computed in fp32 */
            float freq = 1.0f / powf(cfg->rope_theta, (float)(2 * i) / (float)hs);
            float ang = (float)t * freq;
            m->rope_cos[(size_t)t * half + i] = cosf(ang);
            m->rope_sin[(size_t)t * half + i] = sinf(ang);
        }
    return GC_OK;
}

void gc_model_free(gc_model *m) {
    if (m->be && m->dev) m->be->release(m->be, m);
    free(m->params);
    free(m->grads);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->arena);
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

/* ---- activation arena ---- */

/* Slices the arena for (B, T); grows it only when the shape needs more than it holds. */
static gc_status ensure_acts(gc_model *m, int B, int T) {
    if (m->arena && m->acts.B == B && m->acts.T == T) return GC_OK;
    const gc_model_config *c = &m->cfg;
    size_t N = (size_t)B * T, D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size;
    size_t KV = (size_t)c->n_kv_heads * (D / c->n_heads), QKV = D + 2 * KV, nh = c->n_heads;
    struct {
        float **ptr;
        size_t n;
    } plan[] = {
        {&m->acts.res, (L + 1) * N * D},
        {&m->acts.h1, L * N * D},
        {&m->acts.xn1, L * N * D},
        {&m->acts.rstd1, L * N},
        {&m->acts.qkv, L * N * QKV},
        {&m->acts.att, L * B * nh * T * T},
        {&m->acts.ao, L * N * D},
        {&m->acts.xn2, L * N * D},
        {&m->acts.rstd2, L * N},
        {&m->acts.a13, L * N * 2 * H},
        {&m->acts.g, L * N * H},
        {&m->acts.hf, N * D},
        {&m->acts.rstdf, N},
        {&m->acts.logits, N * V},
        {&m->acts.dlogits, N * V},
        {&m->acts.d_res, N * D},
        {&m->acts.d_xn, N * D},
        {&m->acts.d_qkv, N * QKV},
        {&m->acts.d_ao, N * D},
        {&m->acts.d_a13, N * 2 * H},
        {&m->acts.d_g, N * H},
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++)
        total += plan[i].n;
    if (total > m->arena_floats) {
        free(m->arena);
        m->arena = gc_malloc(sizeof(float) * total);
        if (!m->arena) {
            m->arena_floats = 0;
            m->acts.B = m->acts.T = 0;
            return GC_ERR_NOMEM;
        }
        m->arena_floats = total;
    }
    float *p = m->arena;
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        *plan[i].ptr = p;
        p += plan[i].n;
    }
    m->acts.B = B;
    m->acts.T = T;
    return GC_OK;
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
    if (B <= 0 || T <= 0 || T > c->seq_len)
        return gc_fail(GC_ERR_ARG, "forward: bad shape B=%d T=%d (seq_len %d)", B, T, c->seq_len);
    for (int b = 0; len && b < B; b++)
        if (len[b] < 1 || len[b] > T)
            return gc_fail(GC_ERR_ARG, "forward: length %d of sequence %d outside [1, %d]", len[b],
                           b, T);
    int N = B * T, D = c->dim, H = c->hidden_dim, L = c->n_layers, nh = c->n_heads;
    int nkv = c->n_kv_heads, hs = D / nh, KV = nkv * hs, QKV = D + 2 * KV;
    for (int n = 0; n < N; n++)
        if (tokens[n] < 0 || tokens[n] >= c->vocab_size)
            return gc_fail(GC_ERR_ARG, "forward: token %d at %d outside [0, %d)", tokens[n], n,
                           c->vocab_size);
    m->last_tokens = tokens;
    m->logits_ready = m->ce_ready = 0;
    int *lens = realloc(m->lens, sizeof(int) * (size_t)B);
    if (!lens) return gc_fail(GC_ERR_NOMEM, "forward: out of memory");
    m->lens = lens;
    const int *len_copy = len ? memcpy(m->lens, len, sizeof(int) * B) : NULL;
    if (m->be) {
        m->acts.len = len_copy;
        m->acts.B = B, m->acts.T = T;
        GC_TRY(m->be->forward(m->be, m, tokens, B, T, len, want_logits));
        m->logits_ready = want_logits != GC_LOGITS_NONE;
        return GC_OK;
    }
    GC_TRY(ensure_acts(m, B, T));
    gc_acts *a = &m->acts;
    a->len = len_copy;

    gc_ops_embedding(a->res, m->p.x[GC_T_EMB], tokens, N, D);
    for (int l = 0; l < L; l++) {
        float *res = a->res + (size_t)l * N * D, *res_out = res + (size_t)N * D;
        float *h1 = a->h1 + (size_t)l * N * D, *xn1 = a->xn1 + (size_t)l * N * D;
        float *qkv = a->qkv + (size_t)l * N * QKV, *att = a->att + (size_t)l * B * nh * T * T;
        float *ao = a->ao + (size_t)l * N * D, *xn2 = a->xn2 + (size_t)l * N * D;
        float *a13 = a->a13 + (size_t)l * N * 2 * H, *g = a->g + (size_t)l * N * H;
        gc_layer_params w = gc_model_layer(&m->p, c, l);

        /* attention block: h1 = res + wo attention(rope(wqkv rmsnorm(res))) */
        gc_ops_rmsnorm(xn1, a->rstd1 + (size_t)l * N, res, w.attn_norm, N, D, c->norm_eps);
        gc_ops_linear(qkv, QKV, xn1, w.wqkv, N, D, QKV);
        gc_ops_rope(qkv, QKV, 0, nh, hs, N, T, m->rope_cos, m->rope_sin, 0);
        gc_ops_rope(qkv, QKV, D, nkv, hs, N, T, m->rope_cos, m->rope_sin, 0);
        gc_ops_attention(ao, att, qkv, B, T, nh, nkv, hs, a->len);
        gc_ops_linear(h1, D, ao, w.wo, N, D, D);
        for (size_t i = 0; i < (size_t)N * D; i++)
            h1[i] += res[i];

        /* MLP block: res_out = h1 + w2 swiglu(w13 rmsnorm(h1)) */
        gc_ops_rmsnorm(xn2, a->rstd2 + (size_t)l * N, h1, w.ffn_norm, N, D, c->norm_eps);
        gc_ops_linear(a13, 2 * H, xn2, w.w13, N, D, 2 * H);
        gc_ops_swiglu(g, a13, N, H);
        gc_ops_linear(res_out, D, g, w.w2, N, H, D);
        for (size_t i = 0; i < (size_t)N * D; i++)
            res_out[i] += h1[i];
    }
    gc_ops_rmsnorm(a->hf, a->rstdf, a->res + (size_t)L * N * D, m->p.x[GC_T_FINAL_NORM], N, D,
                   c->norm_eps);
    if (want_logits) {
        gc_ops_linear(a->logits, c->vocab_size, a->hf, m->p.x[GC_T_CLS], N, D, c->vocab_size);
        m->logits_ready = 1;
    }
    return GC_OK;
}

gc_status gc_model_ce_loss(gc_model *m, const int32_t *targets, float weight, float *loss) {
    if (!m->logits_ready) return gc_fail(GC_ERR_ARG, "ce_loss: forward was run without logits");
    int N = m->acts.B * m->acts.T, V = m->cfg.vocab_size, count = 0;
    for (int n = 0; n < N; n++) {
        if (targets[n] >= V || targets[n] < -1)
            return gc_fail(GC_ERR_ARG, "ce_loss: target %d at %d outside [-1, %d)", targets[n], n,
                           V);
        if (m->acts.len && targets[n] >= 0 && n % m->acts.T >= m->acts.len[n / m->acts.T])
            return gc_fail(GC_ERR_ARG, "ce_loss: target %d at padding position %d", targets[n], n);
        count += targets[n] >= 0;
    }
    float scale = count ? weight / (float)count : 0.0f;
    double sum;
    if (m->be)
        GC_TRY(m->be->ce_loss(m->be, m, targets, scale, &sum));
    else
        GC_TRY(gc_ops_cross_entropy(m->acts.dlogits, m->acts.logits, targets, N, V, scale, &sum));
    if (!isfinite(sum))
        return gc_fail(GC_ERR_NUMERIC,
                       "ce_loss: the loss is %g: the run diverged (lower the "
                       "learning rate, or clip gradients)",
                       sum);
    *loss = count ? (float)(sum / count) : 0.0f;
    m->ce_ready = 1;
    return GC_OK;
}

gc_status gc_model_zero_grad(gc_model *m) {
    if (m->be) return m->be->zero_grad(m->be, m);
    if (!m->grads) {
        m->grads = gc_calloc(m->n_params, sizeof(float));
        if (!m->grads) return GC_ERR_NOMEM;
        set_ptrs(&m->g, m->grads, m->tensors, m->cfg.tied);
    }
    memset(m->grads, 0, sizeof(float) * m->n_params);
    return GC_OK;
}

gc_status gc_model_set_backend(gc_model *m, const gc_backend *be) {
    gc_status s = GC_OK;
    if (m->be && m->dev) { /* leaving a device: its parameters are the current ones */
        s = m->be->sync(m->be, m, NULL);
        m->be->release(m->be, m);
    }
    m->be = be;
    return s;
}

gc_status gc_model_sync(gc_model *m, struct gc_adamw_s *opt) {
    return m->be && m->dev ? m->be->sync(m->be, m, opt) : GC_OK;
}

gc_status gc_model_sync_grads(gc_model *m) {
    if (!m->be) return GC_OK;
    if (!m->grads) {
        m->grads = gc_calloc(m->n_params, sizeof(float));
        if (!m->grads) return GC_ERR_NOMEM;
        set_ptrs(&m->g, m->grads, m->tensors, m->cfg.tied);
    }
    return m->be->sync_grads(m->be, m);
}

gc_status gc_model_grad_sumsq(gc_model *m, double *out) {
    if (m->be) return m->be->grad_sumsq(m->be, m, out);
    if (!m->grads) return gc_fail(GC_ERR_ARG, "grad_sumsq: the model has no gradient");
    *out = gc_ops_sumsq(m->grads, m->n_params);
    return GC_OK;
}

gc_status gc_model_scale_grads(gc_model *m, float k) {
    if (m->be) return m->be->scale_grads(m->be, m, k);
    if (!m->grads) return gc_fail(GC_ERR_ARG, "scale_grads: the model has no gradient");
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < m->n_params; i++)
        m->grads[i] *= k;
    return GC_OK;
}

/* ---- backward ---- */

gc_status gc_model_backward(gc_model *m, const float *dhidden) {
    const gc_model_config *c = &m->cfg;
    if (!m->last_tokens) return gc_fail(GC_ERR_ARG, "backward: no forward to undo");
    if (m->be) return m->be->backward(m->be, m, dhidden);
    if (!m->arena) return gc_fail(GC_ERR_ARG, "backward: no forward to undo");
    if (!m->grads) GC_TRY(gc_model_zero_grad(m));
    gc_acts *a = &m->acts;
    int B = a->B, T = a->T, N = B * T, D = c->dim, H = c->hidden_dim, L = c->n_layers;
    int nh = c->n_heads, nkv = c->n_kv_heads, hs = D / nh, KV = nkv * hs, QKV = D + 2 * KV;
    int V = c->vocab_size;

    /* gradient on the final hidden states: classifier path plus the caller's dhidden */
    float *dhf = a->d_xn;
    if (m->ce_ready)
        gc_ops_linear_backward(dhf, 0, m->g.x[GC_T_CLS], a->dlogits, V, a->hf, m->p.x[GC_T_CLS], N,
                               D, V);
    else
        memset(dhf, 0, sizeof(float) * (size_t)N * D);
    if (dhidden)
        for (size_t i = 0; i < (size_t)N * D; i++)
            dhf[i] += dhidden[i];
    gc_ops_rmsnorm_backward(a->d_res, 0, m->g.x[GC_T_FINAL_NORM], dhf, a->res + (size_t)L * N * D,
                            m->p.x[GC_T_FINAL_NORM], a->rstdf, N, D);

    for (int l = L - 1; l >= 0; l--) {
        float *res = a->res + (size_t)l * N * D, *h1 = a->h1 + (size_t)l * N * D;
        float *xn1 = a->xn1 + (size_t)l * N * D, *qkv = a->qkv + (size_t)l * N * QKV;
        float *att = a->att + (size_t)l * B * nh * T * T, *ao = a->ao + (size_t)l * N * D;
        float *xn2 = a->xn2 + (size_t)l * N * D, *a13 = a->a13 + (size_t)l * N * 2 * H;
        float *g = a->g + (size_t)l * N * H;
        gc_layer_params w = gc_model_layer(&m->p, c, l), dw = gc_model_layer(&m->g, c, l);

        /* MLP: res_out = h1 + w2 g; d_res holds d(res_out) and becomes d(h1) */
        gc_ops_linear_backward(a->d_g, 0, dw.w2, a->d_res, D, g, w.w2, N, H, D);
        gc_ops_swiglu_backward(a->d_a13, a->d_g, a13, N, H);
        gc_ops_linear_backward(a->d_xn, 0, dw.w13, a->d_a13, 2 * H, xn2, w.w13, N, D, 2 * H);
        gc_ops_rmsnorm_backward(a->d_res, 1, dw.ffn_norm, a->d_xn, h1, w.ffn_norm,
                                a->rstd2 + (size_t)l * N, N, D);
        /* attention: h1 = res + wo ao; d_res becomes d(res) */
        gc_ops_linear_backward(a->d_ao, 0, dw.wo, a->d_res, D, ao, w.wo, N, D, D);
        gc_ops_attention_backward(a->d_qkv, a->d_ao, att, qkv, B, T, nh, nkv, hs, a->len);
        gc_ops_rope(a->d_qkv, QKV, 0, nh, hs, N, T, m->rope_cos, m->rope_sin, 1);
        gc_ops_rope(a->d_qkv, QKV, D, nkv, hs, N, T, m->rope_cos, m->rope_sin, 1);
        gc_ops_linear_backward(a->d_xn, 0, dw.wqkv, a->d_qkv, QKV, xn1, w.wqkv, N, D, QKV);
        gc_ops_rmsnorm_backward(a->d_res, 1, dw.attn_norm, a->d_xn, res, w.attn_norm,
                                a->rstd1 + (size_t)l * N, N, D);
    }
    gc_ops_embedding_backward(m->g.x[GC_T_EMB], a->d_res, m->last_tokens, N, D);
    return GC_OK;
}

/* ---- KV-cache decoding ---- */

gc_status gc_kvcache_init(gc_kvcache *c, const gc_model_config *cfg, int B, int max_T) {
    memset(c, 0, sizeof *c);
    if (B <= 0 || max_T <= 0 || max_T > cfg->seq_len)
        return gc_fail(GC_ERR_ARG, "kvcache: bad size B=%d max_T=%d (seq_len %d)", B, max_T,
                       cfg->seq_len);
    size_t D = cfg->dim, H = cfg->hidden_dim, L = cfg->n_layers;
    size_t KV = (size_t)cfg->n_kv_heads * (D / cfg->n_heads);
    c->B = B;
    c->max_T = max_T;
    c->k = gc_calloc(L * B * max_T * KV, sizeof(float));
    c->v = gc_calloc(L * B * max_T * KV, sizeof(float));
    c->x = gc_malloc(sizeof(float) * B * D);
    c->xn = gc_malloc(sizeof(float) * B * D);
    c->qkv = gc_malloc(sizeof(float) * B * (D + 2 * KV));
    c->ao = gc_malloc(sizeof(float) * B * D);
    c->a13 = gc_malloc(sizeof(float) * B * 2 * H);
    c->g = gc_malloc(sizeof(float) * B * H);
    c->scores = gc_malloc(sizeof(float) * B * cfg->n_heads * max_T);
    c->hf = gc_malloc(sizeof(float) * B * D);
    c->logits = gc_malloc(sizeof(float) * B * cfg->vocab_size);
    if (!c->k || !c->v || !c->x || !c->xn || !c->qkv || !c->ao || !c->a13 || !c->g || !c->scores ||
        !c->hf || !c->logits) {
        gc_kvcache_free(c);
        return GC_ERR_NOMEM;
    }
    return GC_OK;
}

void gc_kvcache_free(gc_kvcache *c) {
    if (c->be && c->dev) c->be->kv_release(c->be, c);
    float *bufs[] = {c->k,   c->v, c->x,      c->xn, c->qkv,   c->ao,
                     c->a13, c->g, c->scores, c->hf, c->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    memset(c, 0, sizeof *c);
}

gc_status gc_model_decode(gc_model *m, gc_kvcache *kc, const int32_t *token, const int32_t *pos) {
    const gc_model_config *c = &m->cfg;
    int B = kc->B, D = c->dim, H = c->hidden_dim, L = c->n_layers, nh = c->n_heads;
    int nkv = c->n_kv_heads, hs = D / nh, KV = nkv * hs, QKV = D + 2 * KV;
    int Tm = kc->max_T;
    for (int b = 0; b < B; b++) {
        if (token[b] < 0 || token[b] >= c->vocab_size)
            return gc_fail(GC_ERR_ARG, "decode: token %d outside [0, %d)", token[b], c->vocab_size);
        if (pos[b] < 0 || pos[b] >= Tm)
            return gc_fail(GC_ERR_ARG, "decode: position %d outside the cache [0, %d)", pos[b], Tm);
    }
    if (m->be) return m->be->decode(m->be, m, kc, token, pos);
    float rstd[B];
    gc_ops_embedding(kc->x, m->p.x[GC_T_EMB], token, B, D);
    for (int l = 0; l < L; l++) {
        gc_layer_params w = gc_model_layer(&m->p, c, l);
        float *k_l = kc->k + (size_t)l * B * Tm * KV, *v_l = kc->v + (size_t)l * B * Tm * KV;

        /* attention block over the cache: the forward's ops at each sequence's position */
        gc_ops_rmsnorm(kc->xn, rstd, kc->x, w.attn_norm, B, D, c->norm_eps);
        gc_ops_linear(kc->qkv, QKV, kc->xn, w.wqkv, B, D, QKV);
        gc_ops_rope_at(kc->qkv, QKV, 0, nh + nkv, hs, B, pos, m->rope_cos, m->rope_sin);
        gc_ops_kv_store(k_l, v_l, kc->qkv, B, Tm, D, KV, pos);
        gc_ops_attention_decode(kc->ao, kc->scores, kc->qkv, k_l, v_l, B, Tm, nh, nkv, hs, pos,
                                kc->active);
        gc_ops_linear(kc->xn, D, kc->ao, w.wo, B, D, D);
        for (int i = 0; i < B * D; i++)
            kc->x[i] += kc->xn[i];

        /* MLP block */
        gc_ops_rmsnorm(kc->xn, rstd, kc->x, w.ffn_norm, B, D, c->norm_eps);
        gc_ops_linear(kc->a13, 2 * H, kc->xn, w.w13, B, D, 2 * H);
        gc_ops_swiglu(kc->g, kc->a13, B, H);
        gc_ops_linear(kc->xn, D, kc->g, w.w2, B, H, D);
        for (int i = 0; i < B * D; i++)
            kc->x[i] += kc->xn[i];
    }
    gc_ops_rmsnorm(kc->hf, rstd, kc->x, m->p.x[GC_T_FINAL_NORM], B, D, c->norm_eps);
    gc_ops_linear(kc->logits, c->vocab_size, kc->hf, m->p.x[GC_T_CLS], B, D, c->vocab_size);
    return GC_OK;
}
