/* model_json: the "model" object of experiment and training files, read with the typed config
 * reader. Keys: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len (integers,
 * required), tied (bool, default true), norm_eps (default 1e-5), rope_theta (default 10000).
 * Errors name the file, line and key; the result also passes gc_model_config_check. */
#ifndef GC_MODEL_JSON_H
#define GC_MODEL_JSON_H

#include "lib/util/config.h"
#include "model.h"

gc_status gc_model_config_read(const gc_config *c, const cJSON *obj, const char *objpath,
                               gc_model_config *out);
/* The typed configuration as the same object, every key present (defaults included): what a
 * cache key hashes. Caller deletes. */
cJSON *gc_model_config_json(const gc_model_config *m);

#endif
