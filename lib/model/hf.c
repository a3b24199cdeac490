#include "hf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "lib/util/jsonio.h"

/* the item at key, which may name a member of an object member ("rope_scaling.factor") */
static const cJSON *lookup(const cJSON *j, const char *key) {
    const char *dot = strchr(key, '.');
    if (!dot) return cJSON_GetObjectItemCaseSensitive(j, key);
    char head[64];
    snprintf(head, sizeof head, "%.*s", (int)(dot - key), key);
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, head), dot + 1);
}

/* an integer field of config.json in [lo, hi]; absent: def (def < 0: required) */
static gc_status cfg_int(const char *path, const cJSON *j, const char *key, int64_t lo, int64_t hi,
                         int64_t def, int32_t *out) {
    const cJSON *e = lookup(j, key);
    if (!e || cJSON_IsNull(e)) {
        if (def < 0) return gc_fail(GC_ERR_FORMAT, "%s: missing required key '%s'", path, key);
        *out = (int32_t)def;
        return GC_OK;
    }
    double v = cJSON_IsNumber(e) ? e->valuedouble : NAN;
    if (!(v >= (double)lo && v <= (double)hi) || v != floor(v))
        return gc_fail(GC_ERR_FORMAT, "%s: key '%s': expected an integer in [%lld, %lld]", path,
                       key, (long long)lo, (long long)hi);
    *out = (int32_t)v;
    return GC_OK;
}

static gc_status cfg_num(const char *path, const cJSON *j, const char *key, double lo, double hi,
                         double def, float *out) {
    const cJSON *e = lookup(j, key);
    if (!e || cJSON_IsNull(e)) {
        if (isnan(def)) return gc_fail(GC_ERR_FORMAT, "%s: missing required key '%s'", path, key);
        *out = (float)def;
        return GC_OK;
    }
    if (!cJSON_IsNumber(e) || !(e->valuedouble > lo && e->valuedouble <= hi))
        return gc_fail(GC_ERR_FORMAT, "%s: key '%s': expected a number in (%g, %g]", path, key, lo,
                       hi);
    *out = (float)e->valuedouble;
    return GC_OK;
}

/* rope_scaling: absent, null or "default": none; "linear" (factor); "llama3" (factor,
 * low_freq_factor, high_freq_factor, original_max_position_embeddings); others refused by name */
static gc_status rope_scaling(const char *path, const cJSON *j, gc_model_config *c) {
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    if (!rs || cJSON_IsNull(rs)) return GC_OK;
    if (!cJSON_IsObject(rs))
        return gc_fail(GC_ERR_FORMAT, "%s: key 'rope_scaling': expected an object or null", path);
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rs, "rope_type"));
    if (!kind) kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rs, "type"));
    if (!kind)
        return gc_fail(GC_ERR_FORMAT, "%s: key 'rope_scaling.rope_type': missing (a string)", path);
    if (!strcmp(kind, "default")) return GC_OK;
    if (!strcmp(kind, "linear"))
        c->rope_scaling = GC_ROPE_LINEAR;
    else if (!strcmp(kind, "llama3"))
        c->rope_scaling = GC_ROPE_LLAMA3;
    else
        return gc_fail(GC_ERR_FORMAT,
                       "%s: key 'rope_scaling': \"%s\" frequency scaling is not supported "
                       "(default, linear, llama3)",
                       path, kind);
    GC_TRY(cfg_num(path, j, "rope_scaling.factor", 0, 1e6, NAN, &c->rope_factor));
    if (c->rope_factor < 1)
        return gc_fail(GC_ERR_FORMAT, "%s: key 'rope_scaling.factor': %g is below 1", path,
                       (double)c->rope_factor);
    if (c->rope_scaling != GC_ROPE_LLAMA3) return GC_OK;
    GC_TRY(cfg_num(path, j, "rope_scaling.low_freq_factor", 0, 1e6, NAN, &c->rope_low_freq));
    GC_TRY(cfg_num(path, j, "rope_scaling.high_freq_factor", 0, 1e6, NAN, &c->rope_high_freq));
    if (c->rope_high_freq <= c->rope_low_freq)
        return gc_fail(GC_ERR_FORMAT,
                       "%s: key 'rope_scaling.high_freq_factor': %g is not above "
                       "low_freq_factor %g",
                       path, (double)c->rope_high_freq, (double)c->rope_low_freq);
    return cfg_int(path, j, "rope_scaling.original_max_position_embeddings", 1, 1 << 24, -1,
                   &c->rope_orig_len);
}

gc_status gc_hf_config(const char *dir, int max_seq_len, gc_model_config *out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    gc_status s = GC_OK;
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "model_type"));
    if (!type || (strcmp(type, "llama") && strcmp(type, "mistral")))
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: key 'model_type': \"%s\" is not a Llama-family model "
                    "(llama, mistral)",
                    path, type ? type : "(missing)");
    const char *act = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "hidden_act"));
    if (s == GC_OK && act && strcmp(act, "silu"))
        s = gc_fail(GC_ERR_FORMAT, "%s: key 'hidden_act': \"%s\" is not supported (silu)", path,
                    act);
    gc_model_config c = {0};
    if (s == GC_OK) s = rope_scaling(path, j, &c);
    int32_t max_pos = 0;
    if (s == GC_OK) s = cfg_int(path, j, "hidden_size", 1, 1 << 16, -1, &c.dim);
    if (s == GC_OK) s = cfg_int(path, j, "intermediate_size", 1, 1 << 18, -1, &c.hidden_dim);
    if (s == GC_OK) s = cfg_int(path, j, "num_hidden_layers", 1, 1024, -1, &c.n_layers);
    if (s == GC_OK) s = cfg_int(path, j, "num_attention_heads", 1, 1024, -1, &c.n_heads);
    if (s == GC_OK) s = cfg_int(path, j, "num_key_value_heads", 1, 1024, c.n_heads, &c.n_kv_heads);
    if (s == GC_OK) s = cfg_int(path, j, "vocab_size", 1, 1 << 24, -1, &c.vocab_size);
    if (s == GC_OK) s = cfg_int(path, j, "max_position_embeddings", 1, 1 << 24, -1, &max_pos);
    if (s == GC_OK) s = cfg_num(path, j, "rms_norm_eps", 0, 1, 1e-6, &c.norm_eps);
    if (s == GC_OK) s = cfg_num(path, j, "rope_theta", 0, 1e12, 10000.0, &c.rope_theta);
    if (s == GC_OK && c.dim % c.n_heads)
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: key 'num_attention_heads': %d does not divide hidden_size "
                    "%d",
                    path, c.n_heads, c.dim);
    if (s == GC_OK && c.n_heads % c.n_kv_heads)
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: key 'num_key_value_heads': %d does not divide "
                    "num_attention_heads %d",
                    path, c.n_kv_heads, c.n_heads);
    int32_t head_dim = 0;
    if (s == GC_OK) s = cfg_int(path, j, "head_dim", 1, 1 << 16, 0, &head_dim);
    if (s == GC_OK && head_dim && head_dim * c.n_heads != c.dim)
        s = gc_fail(GC_ERR_FORMAT, "%s: key 'head_dim': %d heads of %d are not hidden_size %d",
                    path, c.n_heads, head_dim, c.dim);
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(j, "tie_word_embeddings");
    if (s == GC_OK && tie && !cJSON_IsBool(tie))
        s = gc_fail(GC_ERR_FORMAT, "%s: key 'tie_word_embeddings': expected true or false", path);
    c.tied = cJSON_IsTrue(tie);
    c.seq_len = max_seq_len > 0 && max_seq_len < max_pos ? max_seq_len : max_pos;
    cJSON_Delete(j);
    if (s == GC_OK && gc_model_config_check(&c) != GC_OK)
        s = gc_fail(GC_ERR_FORMAT, "%s: %s", path, gc_last_error());
    if (s == GC_OK) *out = c;
    return s;
}

/* HF row of original row r (within one head of hs rows) and back */
static size_t hf_row(size_t r, size_t hs) {
    return (r % 2) * (hs / 2) + r / 2;
}

/* rows (n_heads * hs, D): dst[perm(r)] = src[r] (to_hf), or dst[r] = src[perm(r)] */
static void permute_heads(float *dst, const float *src, int n_heads, size_t hs, size_t D,
                          int to_hf) {
    for (int h = 0; h < n_heads; h++)
        for (size_t r = 0; r < hs; r++) {
            size_t a = h * hs + r, b = h * hs + hf_row(r, hs);
            memcpy(dst + (to_hf ? b : a) * D, src + (to_hf ? a : b) * D, sizeof(float) * D);
        }
}

typedef struct {
    const gc_st_set *set;
    const char *dir;
} src;

/* tensor `name` of shape (r, c) (c 0: a vector of r) as fp32 into out (NULL: only checked) */
static gc_status fetch(const src *S, const char *name, int64_t r, int64_t c, float *out) {
    const gc_st_file *f = NULL;
    const gc_st_tensor *t = gc_st_set_find(S->set, name, &f);
    if (!t) return gc_fail(GC_ERR_FORMAT, "%s: no tensor '%s'", S->dir, name);
    int ok =
        c ? t->ndim == 2 && t->shape[0] == r && t->shape[1] == c : t->ndim == 1 && t->shape[0] == r;
    if (!ok)
        return gc_fail(GC_ERR_FORMAT,
                       "%s: tensor '%s' has shape [%lld%s%lld], config.json implies [%lld%s%lld]",
                       f->path, name, (long long)t->shape[0], t->ndim > 1 ? ", " : "",
                       t->ndim > 1 ? (long long)t->shape[1] : 0LL, (long long)r, c ? ", " : "",
                       (long long)c);
    if (out) gc_st_to_f32(t, out);
    return GC_OK;
}

/* every tensor of c's model from S into m's parameters (m NULL: only their shapes checked) */
static gc_status fetch_all(const src *S, const gc_model_config *c, gc_model *m, float *tmp) {
    size_t D = c->dim, H = c->hidden_dim, V = c->vocab_size, hs = D / c->n_heads;
    size_t KV = c->n_kv_heads * hs, QKV = D + 2 * KV;
#define P(k, off) (m ? m->p.x[k] + (off) : NULL)
    GC_TRY(fetch(S, "model.embed_tokens.weight", V, D, P(GC_T_EMB, 0)));
    GC_TRY(fetch(S, "model.norm.weight", D, 0, P(GC_T_FINAL_NORM, 0)));
    if (!c->tied) GC_TRY(fetch(S, "lm_head.weight", V, D, P(GC_T_CLS, 0)));
    for (size_t l = 0; l < (size_t)c->n_layers; l++) {
        char n[GC_ST_NAME];
        float *qkv = P(GC_T_WQKV, l * QKV * D), *w13 = P(GC_T_W13, l * 2 * H * D);
        float *t = m ? tmp : NULL;
#define LAYER(suffix) (snprintf(n, sizeof n, "model.layers.%zu.%s.weight", l, suffix), n)
        GC_TRY(fetch(S, LAYER("input_layernorm"), D, 0, P(GC_T_ATTN_NORM, l * D)));
        GC_TRY(fetch(S, LAYER("self_attn.q_proj"), D, D, t));
        if (m) permute_heads(qkv, tmp, c->n_heads, hs, D, 0);
        GC_TRY(fetch(S, LAYER("self_attn.k_proj"), KV, D, t));
        if (m) permute_heads(qkv + D * D, tmp, c->n_kv_heads, hs, D, 0);
        GC_TRY(fetch(S, LAYER("self_attn.v_proj"), KV, D, m ? qkv + (D + KV) * D : NULL));
        GC_TRY(fetch(S, LAYER("self_attn.o_proj"), D, D, P(GC_T_WO, l * D * D)));
        GC_TRY(fetch(S, LAYER("post_attention_layernorm"), D, 0, P(GC_T_FFN_NORM, l * D)));
        GC_TRY(fetch(S, LAYER("mlp.gate_proj"), H, D, w13));
        GC_TRY(fetch(S, LAYER("mlp.up_proj"), H, D, m ? w13 + H * D : NULL));
        GC_TRY(fetch(S, LAYER("mlp.down_proj"), D, H, P(GC_T_W2, l * D * H)));
#undef LAYER
    }
#undef P
    return GC_OK;
}

gc_status gc_hf_load(const char *dir, int max_seq_len, gc_model *m) {
    memset(m, 0, sizeof *m);
    gc_model_config c;
    GC_TRY(gc_hf_config(dir, max_seq_len, &c));
    gc_st_set set;
    GC_TRY(gc_st_open_dir(dir, &set));
    src S = {&set, dir};
    /* the files against the config before anything the config sizes is allocated */
    gc_status s = fetch_all(&S, &c, NULL, NULL);
    int held = 0, expected = 3 + 9 * c.n_layers - (c.tied ? 1 : 0);
    for (int i = 0; i < set.n_files; i++)
        for (int k = 0; k < set.files[i].n; k++)
            held += strcmp(set.files[i].t[k].name, "score.weight") &&
                    strcmp(set.files[i].t[k].name, "goal_state");
    if (s == GC_OK && held != expected)
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: %d tensors where a Llama model of this config has %d "
                    "(another architecture, or tied embeddings stored twice)",
                    dir, held, expected);
    size_t D = c.dim, H = c.hidden_dim;
    float *tmp = s == GC_OK ? gc_malloc(sizeof(float) * (D > H ? D : H) * D) : NULL;
    if (s == GC_OK && !tmp) s = GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_model_init(m, &c);
    if (s == GC_OK) s = fetch_all(&S, &c, m, tmp);
    free(tmp);
    gc_st_set_close(&set);
    if (s != GC_OK) gc_model_free(m);
    return s;
}

/* ---- saving ---- */

/* a float as the shortest decimal that reads back as it (1e-05, not 9.99999974737875e-06) */
static double shortest(float x) {
    char buf[32];
    for (int digits = 6; digits < 10; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)x);
        if ((float)strtod(buf, NULL) == x) break;
    }
    return strtod(buf, NULL);
}

static gc_status write_config(const char *dir, const gc_model_config *c, int rm) {
    cJSON *j = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(
        arch, cJSON_CreateString(rm ? "LlamaForSequenceClassification" : "LlamaForCausalLM"));
    cJSON_AddStringToObject(j, "model_type", "llama");
    cJSON_AddNumberToObject(j, "hidden_size", c->dim);
    cJSON_AddNumberToObject(j, "intermediate_size", c->hidden_dim);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->seq_len);
    cJSON_AddNumberToObject(j, "rms_norm_eps", shortest(c->norm_eps));
    cJSON_AddNumberToObject(j, "rope_theta", shortest(c->rope_theta));
    if (c->rope_scaling == GC_ROPE_NONE) {
        cJSON_AddNullToObject(j, "rope_scaling");
    } else {
        cJSON *rs = cJSON_AddObjectToObject(j, "rope_scaling");
        int llama3 = c->rope_scaling == GC_ROPE_LLAMA3;
        cJSON_AddStringToObject(rs, "rope_type", llama3 ? "llama3" : "linear");
        cJSON_AddNumberToObject(rs, "factor", shortest(c->rope_factor));
        if (llama3) {
            cJSON_AddNumberToObject(rs, "low_freq_factor", shortest(c->rope_low_freq));
            cJSON_AddNumberToObject(rs, "high_freq_factor", shortest(c->rope_high_freq));
            cJSON_AddNumberToObject(rs, "original_max_position_embeddings", c->rope_orig_len);
        }
    }
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tied);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddNumberToObject(j, "bos_token_id", 1);
    cJSON_AddNumberToObject(j, "eos_token_id", 2);
    cJSON_AddStringToObject(j, "torch_dtype", "float32");
    if (rm) cJSON_AddNumberToObject(j, "num_labels", 1);
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    gc_status s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

static gc_status save(const char *dir, gc_model *m, const float *score, const float *goal,
                      gc_st_dtype dtype) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return gc_fail(GC_ERR_IO, "%s: cannot create the directory", dir);
    GC_TRY(gc_model_sync(m, NULL));
    const gc_model_config *c = &m->cfg;
    size_t D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size, hs = D / c->n_heads;
    size_t KV = c->n_kv_heads * hs, QKV = D + 2 * KV;
    int n = 0, cap = 5 + 9 * (int)L;
    gc_st_out *t = gc_calloc((size_t)cap, sizeof(gc_st_out));
    char(*names)[GC_ST_NAME] = gc_calloc((size_t)cap, GC_ST_NAME);
    float *qk = gc_malloc(sizeof(float) * L * (D + KV) * D); /* q, k of each layer in HF order */
    if (!t || !names || !qk) {
        free(t), free(names), free(qk);
        return GC_ERR_NOMEM;
    }
#define ADD(nm, p, r, cc)                                                                          \
    do {                                                                                           \
        snprintf(names[n], GC_ST_NAME, "%s", nm);                                                  \
        t[n] = (gc_st_out){names[n], (cc) ? 2 : 1, {(int64_t)(r), (int64_t)(cc)}, (p)};            \
        n++;                                                                                       \
    } while (0)
    ADD("model.embed_tokens.weight", m->p.x[GC_T_EMB], V, D);
    for (size_t l = 0; l < L; l++) {
        const float *qkv = m->p.x[GC_T_WQKV] + l * QKV * D, *w13 = m->p.x[GC_T_W13] + l * 2 * H * D;
        float *q = qk + l * (D + KV) * D, *k = q + D * D;
        permute_heads(q, qkv, c->n_heads, hs, D, 1);
        permute_heads(k, qkv + D * D, c->n_kv_heads, hs, D, 1);
        char nm[GC_ST_NAME];
#define LAYER(suffix) (snprintf(nm, sizeof nm, "model.layers.%zu.%s.weight", l, suffix), nm)
        ADD(LAYER("input_layernorm"), m->p.x[GC_T_ATTN_NORM] + l * D, D, 0);
        ADD(LAYER("self_attn.q_proj"), q, D, D);
        ADD(LAYER("self_attn.k_proj"), k, KV, D);
        ADD(LAYER("self_attn.v_proj"), qkv + (D + KV) * D, KV, D);
        ADD(LAYER("self_attn.o_proj"), m->p.x[GC_T_WO] + l * D * D, D, D);
        ADD(LAYER("post_attention_layernorm"), m->p.x[GC_T_FFN_NORM] + l * D, D, 0);
        ADD(LAYER("mlp.gate_proj"), w13, H, D);
        ADD(LAYER("mlp.up_proj"), w13 + H * D, H, D);
        ADD(LAYER("mlp.down_proj"), m->p.x[GC_T_W2] + l * D * H, D, H);
#undef LAYER
    }
    ADD("model.norm.weight", m->p.x[GC_T_FINAL_NORM], D, 0);
    if (!c->tied && !score) ADD("lm_head.weight", m->p.x[GC_T_CLS], V, D);
    if (score) ADD("score.weight", score, 1, D);
    if (goal) ADD("goal_state", goal, D, 0);
#undef ADD
    static const char *const meta[] = {"format", "pt"};
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    gc_status s = gc_st_write(path, t, n, dtype, meta, 1);
    if (s == GC_OK) s = write_config(dir, c, score != NULL);
    free(t), free(names), free(qk);
    return s;
}

gc_status gc_hf_save(const char *dir, gc_model *m, gc_st_dtype dtype) {
    return save(dir, m, NULL, NULL, dtype);
}

gc_status gc_hf_save_rm(const char *dir, gc_rm *rm, const float *goal, gc_st_dtype dtype) {
    if (rm->head_kind != GC_HEAD_LINEAR)
        return gc_fail(GC_ERR_ARG,
                       "%s: only a linear reward head has a Hugging Face layout "
                       "(LlamaForSequenceClassification's score)",
                       dir);
    return save(dir, &rm->model, rm->head, goal, dtype);
}
