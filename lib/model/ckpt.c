#include "ckpt.h"
#include "hf.h"

#include <sys/stat.h>

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

static const char MAGIC[8] = {'G', 'C', 'R', 'M', 'C', 'K', 'P', 'T'};
#define NAME_LEN 24

/* ---- a little byte writer / reader ---- */

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    int oom;
} wbuf;

static void put(wbuf *w, const void *p, size_t n) {
    if (w->oom) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        unsigned char *nb = realloc(w->buf, cap);
        if (!nb) {
            w->oom = 1;
            return;
        }
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}
#define PUT(w, v) put((w), &(v), sizeof(v))

typedef struct {
    const unsigned char *p;
    size_t len, at;
} rbuf;

static int get(rbuf *r, void *out, size_t n) {
    if (r->at + n > r->len) return 0;
    memcpy(out, r->p + r->at, n);
    r->at += n;
    return 1;
}

/* version 2 adds the rotary scaling fields */
static void put_config(wbuf *w, const gc_model_config *c) {
    int32_t ints[8] = {c->dim,        c->hidden_dim, c->n_layers, c->n_heads,
                       c->n_kv_heads, c->vocab_size, c->seq_len,  c->tied};
    put(w, ints, sizeof ints);
    PUT(w, c->norm_eps);
    PUT(w, c->rope_theta);
    if (c->rope_scaling == GC_ROPE_NONE) return; /* version 1 */
    PUT(w, c->rope_scaling);
    PUT(w, c->rope_factor);
    PUT(w, c->rope_low_freq);
    PUT(w, c->rope_high_freq);
    PUT(w, c->rope_orig_len);
}

/* version 1 has no rotary scaling fields (none) */
static int get_config(rbuf *r, uint32_t version, gc_model_config *c) {
    int32_t ints[8];
    memset(c, 0, sizeof *c);
    if (!get(r, ints, sizeof ints)) return 0;
    c->dim = ints[0], c->hidden_dim = ints[1], c->n_layers = ints[2], c->n_heads = ints[3];
    c->n_kv_heads = ints[4], c->vocab_size = ints[5], c->seq_len = ints[6], c->tied = ints[7];
    if (!get(r, &c->norm_eps, 4) || !get(r, &c->rope_theta, 4)) return 0;
    if (version < 2) return 1;
    return get(r, &c->rope_scaling, 4) && get(r, &c->rope_factor, 4) &&
           get(r, &c->rope_low_freq, 4) && get(r, &c->rope_high_freq, 4) &&
           get(r, &c->rope_orig_len, 4);
}

gc_status gc_ckpt_save(const char *path, gc_model *m, gc_adamw *opt) {
    GC_TRY(gc_model_sync(m, opt));
    wbuf w = {0};
    /* the oldest version that holds the config: a model without rotary scaling writes version 1 */
    uint32_t version = m->cfg.rope_scaling == GC_ROPE_NONE ? 1 : GC_CKPT_VERSION;
    uint32_t nt = GC_N_TENSORS;
    put(&w, MAGIC, sizeof MAGIC);
    PUT(&w, version);
    put_config(&w, &m->cfg);
    PUT(&w, nt);
    for (int i = 0; i < GC_N_TENSORS; i++) {
        const gc_tensor_info *t = &m->tensors[i];
        char name[NAME_LEN] = {0};
        strncpy(name, t->name, NAME_LEN - 1);
        uint64_t off = t->offset, size = t->size;
        put(&w, name, NAME_LEN);
        PUT(&w, t->ndim);
        put(&w, t->shape, sizeof t->shape);
        PUT(&w, off);
        PUT(&w, size);
    }
    uint64_t step = opt ? (uint64_t)opt->step : 0;
    uint32_t has = opt != NULL;
    float hyper[4] = {opt ? opt->beta1 : 0, opt ? opt->beta2 : 0, opt ? opt->eps : 0,
                      opt ? opt->weight_decay : 0};
    PUT(&w, step);
    PUT(&w, has);
    put(&w, hyper, sizeof hyper);
    if (w.oom) {
        free(w.buf);
        return gc_fail(GC_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    size_t nbytes = sizeof(float) * m->n_params;
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32_z(crc, w.buf, w.len);
    crc = crc32_z(crc, (const Bytef *)m->params, nbytes);
    if (opt) {
        crc = crc32_z(crc, (const Bytef *)opt->m, nbytes);
        crc = crc32_z(crc, (const Bytef *)opt->v, nbytes);
    }
    uint32_t crc32v = (uint32_t)crc;
    gc_atomic_file af;
    gc_status s = gc_atomic_open(&af, path);
    if (s != GC_OK) {
        free(w.buf);
        return s;
    }
    gc_atomic_write(&af, w.buf, w.len);
    gc_atomic_write(&af, m->params, nbytes);
    if (opt) {
        gc_atomic_write(&af, opt->m, nbytes);
        gc_atomic_write(&af, opt->v, nbytes);
    }
    gc_atomic_write(&af, &crc32v, sizeof crc32v);
    free(w.buf);
    return gc_atomic_commit(&af);
}

gc_status gc_ckpt_load(const char *path, gc_model *m, gc_adamw *opt, int *has_optim) {
    char *data;
    size_t size;
    memset(m, 0, sizeof *m);
    if (has_optim) *has_optim = 0;
    GC_TRY(gc_read_file(path, &data, &size));
    rbuf r = {(const unsigned char *)data, size, 0};
    gc_status s = GC_OK;
    char magic[8];
    uint32_t version = 0, nt = 0;
    gc_model_config cfg;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        s = gc_fail(GC_ERR_FORMAT, __VA_ARGS__);                                                   \
        goto fail;                                                                                 \
    } while (0)
    if (!get(&r, magic, 8) || memcmp(magic, MAGIC, 8) != 0)
        BAD("%s: not a gcrm checkpoint (wrong magic; llama2.c files load with gc_ckpt_load_any)",
            path);
    if (!get(&r, &version, 4)) BAD("%s: truncated header", path);
    if (version < 1 || version > GC_CKPT_VERSION)
        BAD("%s: checkpoint version %u, this build reads versions 1 to %d", path, version,
            GC_CKPT_VERSION);
    if (!get_config(&r, version, &cfg) || !get(&r, &nt, 4)) BAD("%s: truncated header", path);
    if (gc_model_config_check(&cfg) != GC_OK) BAD("%s: %s", path, gc_last_error());
    if (nt != GC_N_TENSORS) BAD("%s: %u tensors, expected %d", path, nt, GC_N_TENSORS);
    gc_tensor_info expect[GC_N_TENSORS];
    size_t n_params = gc_model_tensors(&cfg, expect);
    for (int i = 0; i < GC_N_TENSORS; i++) {
        char name[NAME_LEN];
        int32_t ndim, shape[3];
        uint64_t off, tsize;
        if (!get(&r, name, NAME_LEN) || !get(&r, &ndim, 4) || !get(&r, shape, sizeof shape) ||
            !get(&r, &off, 8) || !get(&r, &tsize, 8))
            BAD("%s: truncated tensor table", path);
        name[NAME_LEN - 1] = 0;
        if (strcmp(name, expect[i].name) != 0 || ndim != expect[i].ndim ||
            memcmp(shape, expect[i].shape, sizeof shape) != 0 || off != expect[i].offset ||
            tsize != expect[i].size)
            BAD("%s: tensor %d ('%s') does not match the config (expected '%s')", path, i, name,
                expect[i].name);
    }
    uint64_t step;
    uint32_t has;
    float hyper[4];
    if (!get(&r, &step, 8) || !get(&r, &has, 4) || !get(&r, hyper, sizeof hyper))
        BAD("%s: truncated header", path);
    if (has > 1) BAD("%s: bad optimizer flag %u", path, has);
    size_t nbytes = sizeof(float) * n_params;
    size_t expect_size = r.at + nbytes * (has ? 3 : 1) + 4;
    if (size != expect_size)
        BAD("%s: file is %zu bytes, the header implies %zu (truncated or corrupted)", path, size,
            expect_size);
    uint32_t stored;
    memcpy(&stored, data + size - 4, 4);
    uLong crc = crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)data, size - 4);
    if ((uint32_t)crc != stored) BAD("%s: checksum mismatch (file corrupted)", path);
    s = gc_model_init(m, &cfg);
    if (s != GC_OK) goto fail;
    memcpy(m->params, data + r.at, nbytes);
    if (has && opt) {
        s = gc_adamw_init(opt, n_params, hyper[0], hyper[1], hyper[2], hyper[3]);
        if (s != GC_OK) {
            gc_model_free(m);
            goto fail;
        }
        memcpy(opt->m, data + r.at + nbytes, nbytes);
        memcpy(opt->v, data + r.at + 2 * nbytes, nbytes);
        opt->step = (int64_t)step;
        if (has_optim) *has_optim = 1;
    }
#undef BAD
fail:
    free(data);
    return s;
}

gc_status gc_ckpt_import_llama2c(const char *path, gc_model *m) {
    char *data;
    size_t size;
    memset(m, 0, sizeof *m);
    GC_TRY(gc_read_file(path, &data, &size));
    gc_status s = GC_OK;
    int32_t h[7];
    if (size < sizeof h) {
        s = gc_fail(GC_ERR_FORMAT, "%s: %zu bytes, too short for a llama2.c header", path, size);
        goto done;
    }
    memcpy(h, data, sizeof h);
    gc_model_config cfg = {.dim = h[0],
                           .hidden_dim = h[1],
                           .n_layers = h[2],
                           .n_heads = h[3],
                           .n_kv_heads = h[4],
                           /* negative: untied (INT32_MIN has no positive twin: rejected below) */
                           .vocab_size = h[5] == INT32_MIN ? 0
                                         : h[5] < 0        ? -h[5]
                                                           : h[5],
                           .seq_len = h[6],
                           .tied = h[5] > 0,
                           .norm_eps = 1e-5f,
                           .rope_theta = 10000.0f};
    if (gc_model_config_check(&cfg) != GC_OK) {
        s = gc_fail(GC_ERR_FORMAT, "%s: not a llama2.c checkpoint: %s", path, gc_last_error());
        goto done;
    }
    size_t D = cfg.dim, H = cfg.hidden_dim, L = cfg.n_layers, V = cfg.vocab_size;
    size_t hs = D / cfg.n_heads, KV = cfg.n_kv_heads * hs, T = cfg.seq_len;
    size_t floats = V * D + L * D + L * D * D + 2 * L * KV * D + L * D * D + L * D + 3 * L * H * D +
                    D + T * hs + (cfg.tied ? 0 : V * D);
    if (size != sizeof h + floats * sizeof(float)) {
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: %zu bytes, but its header (dim %zu, layers %zu, vocab %zu) implies %zu "
                    "(truncated or not a llama2.c checkpoint)",
                    path, size, D, L, V, sizeof h + floats * sizeof(float));
        goto done;
    }
    s = gc_model_init(m, &cfg);
    if (s != GC_OK) goto done;
    const float *f = (const float *)(data + sizeof h);
    const float *emb = f, *attn_norm = emb + V * D, *wq = attn_norm + L * D;
    const float *wk = wq + L * D * D, *wv = wk + L * KV * D, *wo = wv + L * KV * D;
    const float *ffn_norm = wo + L * D * D, *w1 = ffn_norm + L * D, *w2 = w1 + L * H * D;
    const float *w3 = w2 + L * D * H, *final_norm = w3 + L * H * D;
    const float *cls = final_norm + D + T * hs; /* skip the legacy RoPE tables */
    size_t QKV = D + 2 * KV;
    memcpy(m->p.x[GC_T_EMB], emb, sizeof(float) * V * D);
    memcpy(m->p.x[GC_T_ATTN_NORM], attn_norm, sizeof(float) * L * D);
    memcpy(m->p.x[GC_T_WO], wo, sizeof(float) * L * D * D);
    memcpy(m->p.x[GC_T_FFN_NORM], ffn_norm, sizeof(float) * L * D);
    memcpy(m->p.x[GC_T_W2], w2, sizeof(float) * L * D * H);
    memcpy(m->p.x[GC_T_FINAL_NORM], final_norm, sizeof(float) * D);
    for (size_t l = 0; l < L; l++) {
        float *qkv = m->p.x[GC_T_WQKV] + l * QKV * D, *w13 = m->p.x[GC_T_W13] + l * 2 * H * D;
        memcpy(qkv, wq + l * D * D, sizeof(float) * D * D);
        memcpy(qkv + D * D, wk + l * KV * D, sizeof(float) * KV * D);
        memcpy(qkv + (D + KV) * D, wv + l * KV * D, sizeof(float) * KV * D);
        memcpy(w13, w1 + l * H * D, sizeof(float) * H * D);
        memcpy(w13 + H * D, w3 + l * H * D, sizeof(float) * H * D);
    }
    if (!cfg.tied) memcpy(m->p.x[GC_T_CLS], cls, sizeof(float) * V * D);
done:
    free(data);
    return s;
}

gc_status gc_ckpt_restore(const char *path, gc_model *m, gc_adamw *opt) {
    gc_model tmp;
    gc_adamw o = {0};
    int has = 0;
    GC_TRY(gc_ckpt_load(path, &tmp, opt ? &o : NULL, &has));
    gc_status s = GC_OK;
    if (memcmp(&tmp.cfg, &m->cfg, sizeof m->cfg) || tmp.n_params != m->n_params)
        s = gc_fail(GC_ERR_FORMAT, "%s: a model of another shape than the one being trained", path);
    else if (opt && !has)
        s = gc_fail(GC_ERR_FORMAT, "%s: no optimiser state", path);
    const gc_backend *be = m->be;
    if (s == GC_OK) s = gc_model_set_backend(m, NULL); /* releases the device's copy */
    if (s == GC_OK) {
        memcpy(m->params, tmp.params, sizeof(float) * m->n_params);
        if (opt) {
            memcpy(opt->m, o.m, sizeof(float) * o.n);
            memcpy(opt->v, o.v, sizeof(float) * o.n);
            opt->step = o.step, opt->beta1 = o.beta1, opt->beta2 = o.beta2, opt->eps = o.eps;
            opt->weight_decay = o.weight_decay;
        }
        s = gc_model_set_backend(m, be); /* uploads again on first use */
    }
    if (has) gc_adamw_free(&o);
    gc_model_free(&tmp);
    return s;
}

gc_status gc_ckpt_load_any(const char *path, gc_model *m) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return gc_hf_load(path, 0, m);
    FILE *f = fopen(path, "rb");
    if (!f) return gc_ckpt_load(path, m, NULL, NULL); /* reports the open error */
    char magic[8] = {0};
    size_t got = fread(magic, 1, 8, f);
    fclose(f);
    if (got == 8 && memcmp(magic, MAGIC, 8) == 0) return gc_ckpt_load(path, m, NULL, NULL);
    return gc_ckpt_import_llama2c(path, m);
}
