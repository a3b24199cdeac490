#include "model_json.h"

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

typedef struct {
    int64_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    int tied;
    double norm_eps, rope_theta;
} model_fields;

#define INT(k, lo, hi)                                                                             \
    { #k, GC_CFG_INT, offsetof(model_fields, k), 1, lo, hi, NULL }
static const gc_cfg_field fields[] = {
    INT(dim, 2, 65536),
    INT(hidden_dim, 1, 262144),
    INT(n_layers, 1, 1024),
    INT(n_heads, 1, 1024),
    INT(n_kv_heads, 1, 1024),
    INT(vocab_size, 1, 1 << 24),
    INT(seq_len, 1, 1 << 20),
    {"tied", GC_CFG_BOOL, offsetof(model_fields, tied), 0, 0, 0, NULL},
    {"norm_eps", GC_CFG_FLOAT, offsetof(model_fields, norm_eps), 0, 1e-12, 0.1, NULL},
    {"rope_theta", GC_CFG_FLOAT, offsetof(model_fields, rope_theta), 0, 2, 1e9, NULL},
};
#undef INT

gc_status gc_model_config_read(const gc_config *c, const cJSON *obj, const char *objpath,
                               gc_model_config *out) {
    model_fields f = {.tied = 1, .norm_eps = 1e-5, .rope_theta = 10000.0};
    GC_TRY(gc_config_read(c, obj, objpath, fields, GC_CFG_COUNT(fields), &f));
    gc_model_config m = {.dim = (int32_t)f.dim,
                         .hidden_dim = (int32_t)f.hidden_dim,
                         .n_layers = (int32_t)f.n_layers,
                         .n_heads = (int32_t)f.n_heads,
                         .n_kv_heads = (int32_t)f.n_kv_heads,
                         .vocab_size = (int32_t)f.vocab_size,
                         .seq_len = (int32_t)f.seq_len,
                         .tied = f.tied,
                         .norm_eps = (float)f.norm_eps,
                         .rope_theta = (float)f.rope_theta};
    if (gc_model_config_check(&m) != GC_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", gc_last_error());
        return gc_config_fail(c, objpath, "%s", msg);
    }
    *out = m;
    return GC_OK;
}

cJSON *gc_model_config_json(const gc_model_config *m) {
    model_fields f = {m->dim,        m->hidden_dim, m->n_layers, m->n_heads,  m->n_kv_heads,
                      m->vocab_size, m->seq_len,    m->tied,     m->norm_eps, m->rope_theta};
    return gc_config_to_json(fields, GC_CFG_COUNT(fields), &f);
}
