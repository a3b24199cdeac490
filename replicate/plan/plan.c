/* plan (plan.h): reading the full-scale section, and the memory and time estimates. */
#include "plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/model/hf.h"
#include "lib/tasks/hfseq.h"
#include "replicate/hh/hh.h"

#define F GC_CFG_FIELD

/* ---- hardware ---- */

static const pl_hardware GPUS[] = {
    /* datasheet figures: bf16 dense tensor-core peak, HBM bandwidth, memory */
    {"a100-80gb", 1, 312e12, 2.039e12, 80e9},
    {"h100-80gb", 1, 989e12, 3.35e12, 80e9},
    {"h200", 1, 989e12, 4.8e12, 141e9},
};

gc_status pl_hardware_parse(const char *text, pl_hardware *out) {
    int count = 1;
    const char *name = text, *x = strchr(text, 'x');
    if (x && x > text && strspn(text, "0123456789") == (size_t)(x - text)) {
        count = atoi(text);
        name = x + 1;
    }
    for (size_t i = 0; i < sizeof GPUS / sizeof GPUS[0]; i++)
        if (!strcmp(name, GPUS[i].name) && count >= 1 && count <= 4096) {
            *out = GPUS[i];
            out->count = count;
            return GC_OK;
        }
    return gc_fail(GC_ERR_ARG,
                   "--hardware %s: expected COUNTxGPU with GPU a100-80gb, h100-80gb or h200 "
                   "(e.g. 8xa100-80gb, 1xh200)",
                   text);
}

/* ---- reading ---- */

typedef struct {
    char path[GC_CFG_STRLEN];
    const cJSON *shape;
    const char *prompt;
    int chat;
} model_fields;
static const gc_cfg_field model_f[] = {
    F(model_fields, path, GC_CFG_STRING, 1, 0, 0, NULL),
    F(model_fields, shape, GC_CFG_OBJECT, 1, 0, 0, NULL),
    F(model_fields, prompt, GC_CFG_TEXT, 0, 0, 0, NULL),
    F(model_fields, chat, GC_CFG_BOOL, 0, 0, 0, NULL),
};

typedef struct {
    int64_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size;
} shape_fields;
static const gc_cfg_field shape_f[] = {
    F(shape_fields, dim, GC_CFG_INT, 1, 1, 65536, NULL),
    F(shape_fields, hidden_dim, GC_CFG_INT, 1, 1, 262144, NULL),
    F(shape_fields, n_layers, GC_CFG_INT, 1, 1, 1024, NULL),
    F(shape_fields, n_heads, GC_CFG_INT, 1, 1, 1024, NULL),
    F(shape_fields, n_kv_heads, GC_CFG_INT, 1, 1, 1024, NULL),
    F(shape_fields, vocab_size, GC_CFG_INT, 1, 1, 1 << 24, NULL),
};

#define FORMATS                                                                                    \
    "openmath|hh|helpsteer|gsm8k|math|math500|gsm-hard|svamp|asdiv|mawps|algebra222|mathqa"
const char *const PL_FORMAT_NAMES[] = {"openmath", "hh",      "helpsteer",  "gsm8k",
                                       "math",     "math500", "gsm-hard",   "svamp",
                                       "asdiv",    "mawps",   "algebra222", "mathqa"};
typedef struct {
    const cJSON *files;
    int format; /* -1: each file names its own */
    int64_t examples, min_rating, first;
    double mean_tokens;
} data_fields;
static const gc_cfg_field data_f[] = {
    F(data_fields, files, GC_CFG_ARRAY, 1, 0, 0, NULL),
    F(data_fields, format, GC_CFG_ENUM, 0, 0, 0, FORMATS),
    F(data_fields, examples, GC_CFG_INT, 1, 1, 1e10, NULL),
    F(data_fields, mean_tokens, GC_CFG_FLOAT, 1, 1, 1e6, NULL),
    F(data_fields, min_rating, GC_CFG_INT, 0, 0, 4, NULL),
    F(data_fields, first, GC_CFG_INT, 0, 0, 1e10, NULL),
};

typedef struct {
    char path[GC_CFG_STRLEN];
    int format;
} file_fields;
static const gc_cfg_field file_f[] = {
    F(file_fields, path, GC_CFG_STRING, 1, 0, 0, NULL),
    F(file_fields, format, GC_CFG_ENUM, 1, 0, 0, FORMATS),
};

typedef struct {
    int kind;
    char model[GC_CFG_STRLEN], data[GC_CFG_STRLEN], scorer[GC_CFG_STRLEN], ptx_data[GC_CFG_STRLEN];
    const cJSON *variants;
    int per_seed;
    pl_stage s; /* the numbers, read in place */
} stage_fields;

#define KINDS "train|score|generate|ppo|beam"
#define COMMON                                                                                     \
    F(stage_fields, kind, GC_CFG_ENUM, 1, 0, 0, KINDS),                                            \
        F(stage_fields, model, GC_CFG_STRING, 1, 0, 0, NULL),                                      \
        F(stage_fields, data, GC_CFG_STRING, 1, 0, 0, NULL),                                       \
        F(stage_fields, variants, GC_CFG_ARRAY, 0, 0, 0, NULL),                                    \
        F(stage_fields, per_seed, GC_CFG_BOOL, 0, 0, 0, NULL)
#define S(k, type, req, lo, hi, ch)                                                                \
    { #k, type, offsetof(stage_fields, s.k), req, lo, hi, ch }

static const gc_cfg_field train_f[] = {
    COMMON,
    S(loss, GC_CFG_ENUM, 1, 0, 0, "preference|dpo|sft"),
    S(beta, GC_CFG_FLOAT, 0, 1e-6, 1e3, NULL),
    S(sequences, GC_CFG_INT, 0, 1, 64, NULL),
    S(examples, GC_CFG_INT, 0, 1, 1e10, NULL),
    S(epochs, GC_CFG_INT, 1, 1, 1000, NULL),
    S(batch, GC_CFG_INT, 1, 1, 1 << 20, NULL),
    S(micro_batch, GC_CFG_INT, 0, 1, 1 << 20, NULL),
    S(lr, GC_CFG_FLOAT, 1, 1e-12, 1, NULL),
    S(lr_min, GC_CFG_FLOAT, 0, 0, 1, NULL),
    S(warmup_ratio, GC_CFG_FLOAT, 0, 0, 1, NULL),
    S(schedule, GC_CFG_ENUM, 0, 0, 0, "cosine|constant"),
    S(beta1, GC_CFG_FLOAT, 0, 0, 1, NULL),
    S(beta2, GC_CFG_FLOAT, 0, 0, 1, NULL),
    S(weight_decay, GC_CFG_FLOAT, 0, 0, 10, NULL),
    S(clip, GC_CFG_FLOAT, 0, 0, 1e6, NULL),
    S(max_len, GC_CFG_INT, 1, 16, 1 << 20, NULL),
    S(lambda, GC_CFG_FLOAT, 0, 0, 100, NULL),
    S(K, GC_CFG_INT, 0, 1, 1024, NULL),
    S(precision, GC_CFG_ENUM, 0, 0, 0, "bf16|tf32|fp32"),
    S(recompute, GC_CFG_BOOL, 0, 0, 0, NULL),
};
static const gc_cfg_field score_f[] = {
    COMMON,
    S(sequences, GC_CFG_INT, 0, 1, 64, NULL),
    S(max_len, GC_CFG_INT, 1, 16, 1 << 20, NULL),
    S(micro_batch, GC_CFG_INT, 0, 1, 1 << 20, NULL),
};
static const gc_cfg_field generate_f[] = {
    COMMON,
    S(samples, GC_CFG_INT, 1, 1, 1e6, NULL),
    S(max_new, GC_CFG_INT, 1, 1, 1 << 20, NULL),
    S(mean_new_tokens, GC_CFG_FLOAT, 1, 1, 1 << 20, NULL),
    S(temperature, GC_CFG_FLOAT, 0, 0, 10, NULL),
    S(top_p, GC_CFG_FLOAT, 0, 1e-3, 1, NULL),
    S(seed, GC_CFG_INT, 0, 0, 1e12, NULL),
    S(micro_batch, GC_CFG_INT, 0, 1, 1 << 20, NULL),
};
static const gc_cfg_field ppo_f[] = {
    COMMON,
    F(stage_fields, scorer, GC_CFG_STRING, 1, 0, 0, NULL),
    S(rollout, GC_CFG_INT, 1, 1, 1 << 20, NULL),
    S(train_batch, GC_CFG_INT, 1, 1, 1 << 20, NULL),
    S(episodes, GC_CFG_INT, 1, 1, 1000, NULL),
    S(max_new, GC_CFG_INT, 1, 1, 1 << 20, NULL),
    S(mean_new_tokens, GC_CFG_FLOAT, 1, 1, 1 << 20, NULL),
    S(actor_lr, GC_CFG_FLOAT, 1, 1e-12, 1, NULL),
    S(critic_lr, GC_CFG_FLOAT, 1, 1e-12, 1, NULL),
    S(kl_init, GC_CFG_FLOAT, 0, 0, 100, NULL),
    S(ptx_coef, GC_CFG_FLOAT, 0, 0, 100, NULL),
    F(stage_fields, ptx_data, GC_CFG_STRING, 0, 0, 0, NULL),
    S(ptx_batch, GC_CFG_INT, 0, 1, 1 << 16, NULL),
    S(gamma, GC_CFG_FLOAT, 0, 0, 1, NULL),
};
static const gc_cfg_field beam_f[] = {
    COMMON,
    F(stage_fields, scorer, GC_CFG_STRING, 0, 0, 0, NULL),
    S(beam, GC_CFG_INT, 1, 1, 1024, NULL),
    S(samples, GC_CFG_INT, 1, 1, 1024, NULL),
    S(step_tokens, GC_CFG_INT, 1, 1, 1 << 16, NULL),
    S(max_steps, GC_CFG_INT, 1, 1, 1 << 16, NULL),
    S(examples, GC_CFG_INT, 0, 1, 1e10, NULL),
    S(max_len, GC_CFG_INT, 0, 16, 1 << 20, NULL),
    S(micro_batch, GC_CFG_INT, 0, 1, 1 << 20, NULL),
    S(temperature, GC_CFG_FLOAT, 0, 1e-3, 10, NULL),
    S(top_p, GC_CFG_FLOAT, 0, 1e-3, 1, NULL),
    S(lp_weight, GC_CFG_FLOAT, 0, 0, 100, NULL),
    S(goal_weight, GC_CFG_FLOAT, 0, 0, 100, NULL),
};
#undef S
#undef COMMON

static const struct {
    const gc_cfg_field *f;
    int n;
} KIND_FIELDS[] = {
    [PL_TRAIN] = {train_f, GC_CFG_COUNT(train_f)},
    [PL_SCORE] = {score_f, GC_CFG_COUNT(score_f)},
    [PL_GENERATE] = {generate_f, GC_CFG_COUNT(generate_f)},
    [PL_PPO] = {ppo_f, GC_CFG_COUNT(ppo_f)},
    [PL_BEAM] = {beam_f, GC_CFG_COUNT(beam_f)},
};
static const char *const KIND_NAMES[] = {"train", "score", "generate", "ppo", "beam"};

void pl_free(pl_plan *p) {
    for (int i = 0; p->data && i < p->n_data; i++)
        free(p->data[i].files);
    free(p->models), free(p->data), free(p->stages);
    memset(p, 0, sizeof *p);
}

static int exists(const char *path) {
    return access(path, F_OK) == 0;
}

/* a path of the file: absolute, "shared:REL" (the project's data directory, as the mini scale
 * reads it), or relative to the full-scale root */
static void under_root(const char *root, const char *rel, char out[RP_PATH]) {
    if (!strncmp(rel, "shared:", 7))
        hh_data_path(NULL, rel + 7, out);
    else if (rel[0] == '/')
        snprintf(out, RP_PATH, "%s", rel);
    else
        snprintf(out, RP_PATH, "%s/%s", root, rel);
}

static gc_status read_model(const rp_run *r, const char *root, const cJSON *obj, const char *at,
                            pl_model *m) {
    model_fields mf = {0};
    GC_TRY(gc_config_read(&r->cfg, obj, at, model_f, GC_CFG_COUNT(model_f), &mf));
    char sat[160];
    snprintf(sat, sizeof sat, "%s.shape", at);
    shape_fields sf = {0};
    GC_TRY(gc_config_read(&r->cfg, mf.shape, sat, shape_f, GC_CFG_COUNT(shape_f), &sf));
    m->shape = (gc_model_config){.dim = (int32_t)sf.dim,
                                 .hidden_dim = (int32_t)sf.hidden_dim,
                                 .n_layers = (int32_t)sf.n_layers,
                                 .n_heads = (int32_t)sf.n_heads,
                                 .n_kv_heads = (int32_t)sf.n_kv_heads,
                                 .vocab_size = (int32_t)sf.vocab_size,
                                 .seq_len = 2048,
                                 .tied = 0,
                                 .norm_eps = 1e-5f,
                                 .rope_theta = 10000.0f};
    if (gc_model_config_check(&m->shape) != GC_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", gc_last_error());
        return gc_config_fail(&r->cfg, sat, "%s", msg);
    }
    if (mf.prompt && !gc_hfseq_template_ok(mf.prompt)) {
        char pat[192];
        snprintf(pat, sizeof pat, "%s.prompt", at);
        return gc_config_fail(&r->cfg, pat, "expected a template with \"{question}\" once");
    }
    m->prompt = mf.prompt;
    m->chat = mf.chat;
    under_root(root, mf.path, m->path);
    char f[RP_PATH + 40], g[RP_PATH + 40];
    snprintf(f, sizeof f, "%s/config.json", m->path);
    if (exists(f)) { /* the real file wins over the published shape */
        GC_TRY(gc_hf_config(m->path, 2048, &m->shape));
        m->has_config = 1;
    }
    snprintf(g, sizeof g, "%s/model.safetensors", m->path);
    int weights = exists(g);
    snprintf(g, sizeof g, "%s/model.safetensors.index.json", m->path);
    m->present = m->has_config && (weights || exists(g));
    return GC_OK;
}

static gc_status read_data(const rp_run *r, const char *root, const cJSON *obj, const char *at,
                           pl_data *d) {
    data_fields df = {.format = -1};
    GC_TRY(gc_config_read(&r->cfg, obj, at, data_f, GC_CFG_COUNT(data_f), &df));
    d->examples = df.examples;
    d->mean_tokens = df.mean_tokens;
    d->min_rating = (int)df.min_rating, d->first = df.first;
    char fat[160];
    snprintf(fat, sizeof fat, "%s.files", at);
    if (!cJSON_GetArraySize(df.files))
        return gc_config_fail(&r->cfg, fat, "expected at least one file");
    d->files = gc_calloc((size_t)cJSON_GetArraySize(df.files), sizeof(pl_file));
    if (!d->files) return GC_ERR_NOMEM;
    int i = 0;
    for (const cJSON *e = df.files->child; e; e = e->next, i++) {
        file_fields ff = {.format = df.format};
        char eat[192];
        snprintf(eat, sizeof eat, "%s[%d]", fat, i);
        if (cJSON_IsString(e))
            snprintf(ff.path, sizeof ff.path, "%s", e->valuestring);
        else if (cJSON_IsObject(e))
            GC_TRY(gc_config_read(&r->cfg, e, eat, file_f, GC_CFG_COUNT(file_f), &ff));
        else
            return gc_config_fail(&r->cfg, eat, "expected a path or {\"path\", \"format\"}");
        if (ff.format < 0)
            return gc_config_fail(&r->cfg, eat,
                                  "no format: give the data set's \"format\" or the file's");
        char *p = d->files[d->n_files].path;
        under_root(root, ff.path, p);
        d->files[d->n_files].format = ff.format;
        d->n_files++;
        if (!exists(p) && d->n_missing++ == 0) snprintf(d->first_missing, RP_PATH, "%s", p);
    }
    return GC_OK;
}

static int find_model(const pl_plan *p, const char *name) {
    for (int i = 0; i < p->n_models; i++)
        if (!strcmp(p->models[i].name, name)) return i;
    return -1;
}
static int find_data(const pl_plan *p, const char *name) {
    for (int i = 0; i < p->n_data; i++)
        if (!strcmp(p->data[i].name, name)) return i;
    return -1;
}
static int find_stage(const pl_plan *p, const char *name, int before) {
    for (int i = 0; i < before; i++)
        if (!strcmp(p->stages[i].name, name)) return i;
    return -1;
}

static gc_status read_stage(const rp_run *r, pl_plan *p, const cJSON *obj, const char *at,
                            pl_stage *st) {
    char kat[160];
    snprintf(kat, sizeof kat, "%s.kind", at);
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "kind"));
    int k = -1;
    for (int i = 0; kind && i < 5; i++)
        if (!strcmp(kind, KIND_NAMES[i])) k = i;
    if (k < 0) return gc_config_fail(&r->cfg, kat, "expected one of %s", KINDS);
    stage_fields sf = {.s = {.sequences = 1,
                             .micro_batch = k == PL_SCORE      ? 8
                                            : k == PL_GENERATE ? 16
                                            : k == PL_BEAM     ? 8
                                                               : 1,
                             .max_len = k == PL_BEAM ? 2048 : 0,
                             .lp_weight = 1.0,
                             .beta = 0.1,
                             .ptx_batch = 8,
                             .goal_weight = 1.0,
                             .warmup_ratio = 0,
                             .beta1 = 0.9,
                             .beta2 = 0.95,
                             .clip = 1.0,
                             .lambda = 0.5,
                             .K = 16,
                             .recompute = 1,
                             .gamma = 1.0,
                             .temperature = 1.0,
                             .top_p = 1.0,
                             .seed = 1}};
    GC_TRY(gc_config_read(&r->cfg, obj, at, KIND_FIELDS[k].f, KIND_FIELDS[k].n, &sf));
    snprintf(sf.s.name, sizeof sf.s.name, "%s", st->name);
    *st = sf.s;
    st->kind = sf.kind;
    st->per_seed = sf.per_seed;
    st->variants = sf.variants;
    snprintf(st->model, sizeof st->model, "%s", sf.model);
    snprintf(st->data, sizeof st->data, "%s", sf.data);
    snprintf(st->scorer, sizeof st->scorer, "%s", sf.scorer);
    char path[160];
    snprintf(st->ptx_data, sizeof st->ptx_data, "%s", sf.ptx_data);
    if (st->ptx_data[0] && find_data(p, st->ptx_data) < 0) {
        snprintf(path, sizeof path, "%s.ptx_data", at);
        return gc_config_fail(&r->cfg, path, "\"%s\" is not a data set under \"data\"",
                              st->ptx_data);
    }
    int idx = (int)(st - p->stages);
    /* a model: one of "models", or a train stage before this one (its trained model) */
    const char *who[2] = {st->model, st->scorer};
    const char *key[2] = {"model", "scorer"};
    for (int w = 0; w < 2; w++) {
        if (!who[w][0]) continue;
        int t = find_stage(p, who[w], idx);
        if (find_model(p, who[w]) < 0 && (t < 0 || p->stages[t].kind != PL_TRAIN)) {
            snprintf(path, sizeof path, "%s.%s", at, key[w]);
            return gc_config_fail(&r->cfg, path,
                                  "\"%s\" is neither a model under \"models\" nor a train "
                                  "stage before this one",
                                  who[w]);
        }
    }
    if (find_data(p, st->data) < 0 && find_stage(p, st->data, idx) < 0) {
        snprintf(path, sizeof path, "%s.data", at);
        return gc_config_fail(&r->cfg, path,
                              "\"%s\" is neither a data set under \"data\" nor a stage before "
                              "this one",
                              st->data);
    }
    int nv = 1;
    if (st->variants) {
        nv = cJSON_GetArraySize(st->variants);
        for (const cJSON *e = st->variants->child; e; e = e->next)
            if (!cJSON_IsString(e)) nv = 0;
        if (nv < 1) {
            snprintf(path, sizeof path, "%s.variants", at);
            return gc_config_fail(&r->cfg, path, "expected a non-empty array of names");
        }
    }
    st->runs = nv * (st->per_seed ? r->seeds : 1);
    /* table2's evaluation answers with the "sft" policy once, whatever the seeds */
    for (const cJSON *e =
             st->kind == PL_GENERATE && st->per_seed && st->variants ? st->variants->child : NULL;
         e; e = e->next)
        if (!strcmp(e->valuestring, "sft")) st->runs -= r->seeds - 1;
    return GC_OK;
}

/* the readers of the three sections' members, each appending one item named by its key */
typedef gc_status (*member_reader)(const rp_run *r, const char *root, pl_plan *p, const cJSON *obj,
                                   const char *at);
static gc_status add_model(const rp_run *r, const char *root, pl_plan *p, const cJSON *obj,
                           const char *at) {
    pl_model *m = &p->models[p->n_models++];
    snprintf(m->name, sizeof m->name, "%s", obj->string);
    return read_model(r, root, obj, at, m);
}
static gc_status add_data(const rp_run *r, const char *root, pl_plan *p, const cJSON *obj,
                          const char *at) {
    pl_data *d = &p->data[p->n_data++];
    snprintf(d->name, sizeof d->name, "%s", obj->string);
    return read_data(r, root, obj, at, d);
}
static gc_status add_stage(const rp_run *r, const char *root, pl_plan *p, const cJSON *obj,
                           const char *at) {
    (void)root;
    pl_stage *st = &p->stages[p->n_stages++];
    snprintf(st->name, sizeof st->name, "%s", obj->string);
    return read_stage(r, p, obj, at, st);
}
static const member_reader READERS[3] = {add_model, add_data, add_stage};

gc_status pl_read(const rp_run *r, const char *root, pl_plan *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->root, sizeof out->root, "%s", root);
    const cJSON *sc = r->scale_cfg;
    for (const cJSON *e = sc->child; e; e = e->next)
        if (strcmp(e->string, "models") && strcmp(e->string, "data") &&
            strcmp(e->string, "stages") && !(r->analysis[0] && !strcmp(e->string, r->analysis))) {
            char path[160];
            snprintf(path, sizeof path, "%s.%s", r->scale_path, e->string);
            return gc_config_fail(&r->cfg, path, "unknown key (known keys: models data stages%s%s)",
                                  r->analysis[0] ? " " : "", r->analysis);
        }
    const char *secs[3] = {"models", "data", "stages"};
    const cJSON *sec[3];
    for (int i = 0; i < 3; i++) {
        char path[160];
        snprintf(path, sizeof path, "%s.%s", r->scale_path, secs[i]);
        sec[i] = cJSON_GetObjectItemCaseSensitive(sc, secs[i]);
        if (!cJSON_IsObject(sec[i]) || !sec[i]->child)
            return gc_config_fail(&r->cfg, path, "expected a non-empty object");
    }
    int n[3] = {cJSON_GetArraySize(sec[0]), cJSON_GetArraySize(sec[1]), cJSON_GetArraySize(sec[2])};
    out->models = gc_calloc((size_t)n[0], sizeof(pl_model));
    out->data = gc_calloc((size_t)n[1], sizeof(pl_data));
    out->stages = gc_calloc((size_t)n[2], sizeof(pl_stage));
    if (!out->models || !out->data || !out->stages) {
        pl_free(out);
        return GC_ERR_NOMEM;
    }
    gc_status s = GC_OK;
    for (int k = 0; k < 3; k++)
        for (const cJSON *e = sec[k]->child; s == GC_OK && e; e = e->next) {
            char at[160];
            snprintf(at, sizeof at, "%s.%s.%s", r->scale_path, secs[k], e->string);
            s = READERS[k](r, root, out, e, at);
        }
    if (s != GC_OK) pl_free(out);
    return s;
}

int pl_find_model(const pl_plan *p, const char *name) {
    return find_model(p, name);
}
int pl_find_data(const pl_plan *p, const char *name) {
    return find_data(p, name);
}
int pl_find_stage(const pl_plan *p, const char *name) {
    return find_stage(p, name, p->n_stages);
}

/* ---- estimates ---- */

/* the shape behind a model name: a model, or the model a train stage trains */
static const gc_model_config *shape_of(const pl_plan *p, const char *name) {
    int m = find_model(p, name);
    if (m >= 0) return &p->models[m].shape;
    int t = find_stage(p, name, p->n_stages);
    return t >= 0 ? shape_of(p, p->stages[t].model) : NULL;
}

/* examples and mean tokens per example of a data name: a data set, or a stage's output
 * (a generate stage: examples x samples solutions of prompt + mean_new_tokens) */
static void size_of(const pl_plan *p, const char *name, double *examples, double *tokens) {
    int d = find_data(p, name);
    if (d >= 0) {
        *examples = (double)p->data[d].examples, *tokens = p->data[d].mean_tokens;
        return;
    }
    const pl_stage *g = &p->stages[find_stage(p, name, p->n_stages)];
    size_of(p, g->data, examples, tokens);
    if (g->kind == PL_GENERATE) {
        *examples *= (double)g->samples * g->runs;
        *tokens += g->mean_new_tokens;
    }
}

typedef struct {
    double n;               /* all parameters */
    double n_mat;           /* matmul parameters of the trunk */
    double kv_tok;          /* fp32 KV cache bytes per token */
    double act_tok, act_in; /* fp32 activation bytes per token per layer: saved, layer input */
    const gc_model_config *c;
} dims;

static dims dims_of(const gc_model_config *c) {
    gc_tensor_info t[GC_N_TENSORS];
    dims d = {0};
    d.c = c;
    d.n = (double)gc_model_tensors(c, t);
    double D = c->dim, H = c->hidden_dim, L = c->n_layers, hs = D / c->n_heads;
    double KV = c->n_kv_heads * hs;
    d.n_mat = L * (D * (D + 2 * KV) + D * D + 3 * D * H);
    d.kv_tok = 2 * L * KV * 4;
    d.act_tok = 4 * (6 * D + 2 * KV + 3 * H);
    d.act_in = 4 * D;
    return d;
}

/* fp32 activations of one sequence of T tokens in training (probabilities T x T per head) */
static double train_act(const dims *d, double T, int recompute, int logits) {
    double L = d->c->n_layers, probs = 4.0 * d->c->n_heads * T * T;
    double layer = T * d->act_tok + probs;
    double a = recompute ? L * T * d->act_in + layer : L * layer;
    return a + (logits ? 2 * 4.0 * T * d->c->vocab_size : 0);
}

/* fp32 weights, gradients and the bf16 copy on every rank; AdamW moments sharded */
static void train_state(const dims *d, int ranks, pl_estimate *e) {
    e->weights += 6 * d->n;
    e->grads += 4 * d->n;
    e->optim += 8 * d->n / ranks;
}

pl_estimate pl_stage_estimate(const pl_plan *p, int i, const pl_hardware *hw, double mfu) {
    const pl_stage *st = &p->stages[i];
    pl_estimate e = {0};
    dims d = dims_of(shape_of(p, st->model));
    double G = hw->count, peak = hw->peak_flops * mfu, usable = 0.95 * hw->memory;
    double L = d.c->n_layers, D = d.c->dim;
    double ex, tok;
    size_of(p, st->data, &ex, &tok);
    e.params = d.n;
    switch (st->kind) {
    case PL_TRAIN: {
        if (st->examples) ex = (double)st->examples;
        double T = fmin(tok, (double)st->max_len);
        int logits = st->loss != 0; /* dpo and sft read the classifier */
        e.tokens = ex * st->sequences * T * st->epochs * st->runs;
        double per_tok = (st->recompute ? 8 : 6) * (d.n_mat + (logits ? D * d.c->vocab_size : 0)) +
                         (st->recompute ? 8 : 6) * L * T * D;
        /* dpo: the reference log-probabilities, one forward pass before training (gcrm
         * computes them once and keeps no reference model resident) */
        double ref =
            st->loss == 1 ? e.tokens / st->epochs * 2 * (d.n_mat + D * d.c->vocab_size) : 0;
        /* preference: the goal state, one forward pass over the chosen sequences after
         * training */
        double goal = st->loss == 0 ? ex * T * st->runs * 2 * d.n_mat : 0;
        e.flops = e.tokens * per_tok + ref + goal;
        train_state(&d, hw->count, &e);
        e.act = (double)st->sequences * st->micro_batch *
                train_act(&d, (double)st->max_len, st->recompute, logits);
        e.seconds = e.flops / (G * peak);
        break;
    }
    case PL_SCORE: {
        double T = fmin(tok, (double)st->max_len);
        e.tokens = ex * st->sequences * T * st->runs;
        e.flops = e.tokens * (2 * d.n_mat + 2 * L * T * D);
        e.weights = 6 * d.n;
        e.act = (double)st->micro_batch *
                ((double)st->max_len * d.act_tok + 4.0 * d.c->n_heads * st->max_len * st->max_len);
        e.seconds = e.flops / (G * peak);
        break;
    }
    case PL_GENERATE:
    case PL_PPO:
    case PL_BEAM: {
        /* sequences, their prompt and new tokens, and the longest a sequence gets */
        double seqs, newt, longest;
        if (st->kind == PL_GENERATE)
            seqs = ex * st->samples, newt = st->mean_new_tokens, longest = tok + st->max_new;
        else if (st->kind == PL_PPO)
            seqs = ex * st->episodes, newt = st->mean_new_tokens, longest = tok + st->max_new;
        else
            seqs = ex * st->beam * st->samples, newt = (double)st->step_tokens * st->max_steps,
            longest = tok + newt;
        seqs *= st->runs;
        /* the scorer: ppo's reward model (its shape is the critic's too), beam's when it has one */
        dims c = st->scorer[0] ? dims_of(shape_of(p, st->scorer)) : (dims){0};
        e.weights = 6 * d.n + 6 * c.n; /* the generator (ppo: its reference) and the scorer read */
        if (st->kind == PL_PPO) {      /* actor and critic train */
            train_state(&d, hw->count, &e);
            train_state(&c, hw->count, &e);
            e.act = train_act(&d, longest, 1, 1);
        }
        double kv_seq = d.kv_tok * longest;
        double room = usable - e.weights - e.grads - e.optim - e.act;
        double per_gpu = ceil(seqs / G);
        e.batch = room > kv_seq ? (int)fmin(fmin(floor(room / kv_seq), 1024), per_gpu) : 0;
        e.fit_batch = e.batch;
        /* the full executor's generate stage decodes micro_batch sequences at once, its beam
         * stage micro_batch prompts' beam x samples candidates */
        if (st->kind == PL_GENERATE && st->micro_batch < e.batch) e.batch = (int)st->micro_batch;
        double beam_batch = (double)st->micro_batch * st->beam * st->samples;
        if (st->kind == PL_BEAM && beam_batch < e.batch) e.batch = (int)beam_batch;
        e.kv = e.batch * kv_seq;
        e.tokens = seqs * (tok + newt);
        /* prefill at the MFU; each decode step reads the bf16 weights and the KV cache */
        double prefill = seqs * tok * 2 * d.n_mat;
        double decode = seqs * newt * (2 * d.n_mat + 2 * L * (tok + newt / 2) * D);
        e.flops = prefill + decode;
        if (e.batch > 0) {
            double steps = ceil(per_gpu / e.batch) * newt;
            double step_bytes = 2 * d.n + e.batch * d.kv_tok * (tok + newt / 2);
            double step_flops = e.batch * (2 * d.n_mat + 2 * L * (tok + newt / 2) * D);
            e.seconds =
                prefill / (G * peak) + steps * fmax(step_bytes / hw->bandwidth, step_flops / peak);
        }
        /* beam: the scorer reads every candidate; ppo: the reference, the reward model and the
         * critic read the rollouts, and the actor and the critic train on them */
        double extra = seqs * (tok + newt) *
                       (st->kind == PL_PPO ? 2 * d.n_mat + 4 * c.n_mat + 8 * (d.n_mat + c.n_mat)
                                           : 2 * c.n_mat);
        e.flops += extra;
        e.seconds += extra / (G * peak);
        break;
    }
    }
    e.memory = e.weights + e.grads + e.optim + e.act + e.kv;
    int decodes = st->kind == PL_GENERATE || st->kind == PL_PPO || st->kind == PL_BEAM;
    e.fits = e.memory <= usable && (!decodes || e.batch > 0);
    if (decodes && e.batch == 0) e.seconds = NAN; /* not one sequence fits: no time to give */
    return e;
}

/* ---- printing ---- */

static void human_time(double s, char *out, size_t cap) {
    if (!isfinite(s))
        snprintf(out, cap, "-");
    else if (s < 120)
        snprintf(out, cap, "%.0f s", s);
    else if (s < 7200)
        snprintf(out, cap, "%.0f min", s / 60);
    else if (s < 3 * 86400)
        snprintf(out, cap, "%.1f h", s / 3600);
    else
        snprintf(out, cap, "%.1f d", s / 86400);
}

int pl_print(FILE *f, const rp_run *r, const pl_plan *p, const pl_hardware *hw, double mfu) {
    int problems = 0;
    fprintf(f,
            "plan: %s at full scale, %d seed(s), on %d x %s (bf16 %.0f TFLOP/s, %.2f TB/s, %.0f GB"
            " each; 95%% usable), at %.1f%% MFU\n",
            r->experiment, r->seeds, hw->count, hw->name, hw->peak_flops / 1e12,
            hw->bandwidth / 1e12, hw->memory / 1e9, 100 * mfu);
    fprintf(f, "\ninputs under %s:\n", p->root);
    for (int i = 0; i < p->n_models; i++) {
        const pl_model *m = &p->models[i];
        fprintf(f, "  model %-10s %-8s %s (%.2fB parameters, shape from %s)\n", m->name,
                m->present ? "present" : "MISSING", m->path, dims_of(&m->shape).n / 1e9,
                m->has_config ? "its config.json" : "the experiment file");
        problems += !m->present;
    }
    for (int i = 0; i < p->n_data; i++) {
        const pl_data *d = &p->data[i];
        if (d->n_missing)
            fprintf(f, "  data  %-10s MISSING  %d of %d file(s), first %s\n", d->name, d->n_missing,
                    d->n_files, d->first_missing);
        else
            fprintf(f, "  data  %-10s present  %d file(s)\n", d->name, d->n_files);
        problems += d->n_missing > 0;
    }
    fprintf(f, "\n%-14s %-8s %4s %9s %12s | %8s %8s %8s %8s %8s %9s | %-4s %10s\n", "stage", "kind",
            "runs", "params", "tokens", "weights", "grads", "adamw", "activ.", "kv", "GB/GPU",
            "fits", "time");
    double total = 0;
    int unfit = 0;
    for (int i = 0; i < p->n_stages; i++) {
        const pl_stage *st = &p->stages[i];
        pl_estimate e = pl_stage_estimate(p, i, hw, mfu);
        char t[32];
        human_time(e.seconds, t, sizeof t);
        char fits[16];
        snprintf(fits, sizeof fits, "%s", e.fits ? "yes" : "NO");
        fprintf(f, "%-14s %-8s %4d %8.2fB %12.3g | %8.1f %8.1f %8.1f %8.1f %8.1f %9.1f | %-4s %10s",
                st->name, KIND_NAMES[st->kind], st->runs, e.params / 1e9, e.tokens, e.weights / 1e9,
                e.grads / 1e9, e.optim / 1e9, e.act / 1e9, e.kv / 1e9, e.memory / 1e9, fits, t);
        if (e.batch && e.batch < e.fit_batch)
            fprintf(f, "  (batch %d; %d fit)", e.batch, e.fit_batch);
        else if (e.batch)
            fprintf(f, "  (batch %d)", e.batch);
        fputc('\n', f);
        if (isfinite(e.seconds)) total += e.seconds;
        if (!e.fits) unfit++, problems++;
    }
    char t[32];
    human_time(total, t, sizeof t);
    fprintf(f, "\ntotal: %s", t);
    if (unfit)
        fprintf(f,
                " (%d stage(s) do not fit in %.0f GB per GPU as gcrm lays them out: more GPUs "
                "shard only the AdamW moments)",
                unfit, hw->memory / 1e9);
    fputc('\n', f);
    if (hw->count > 1) { /* what the executor does with the GPUs today: one instance on each */
        pl_hardware one = *hw;
        one.count = 1;
        double shared = 0;
        int unfit1 = 0;
        for (int i = 0; i < p->n_stages; i++) {
            pl_estimate e = pl_stage_estimate(p, i, &one, mfu);
            int runs = p->stages[i].runs > 0 ? p->stages[i].runs : 1;
            if (isfinite(e.seconds)) shared += e.seconds / runs * ceil((double)runs / hw->count);
            unfit1 += !e.fits;
        }
        human_time(shared, t, sizeof t);
        fprintf(f,
                "the executor today runs one stage instance per GPU (a process per GPU sharing "
                "one cache, docs/full-scale.md), so on %d GPUs: %s, each GPU holding one "
                "instance as on one GPU (%d stage(s) do not fit that way)\n",
                hw->count, t, unfit1);
    }
    fputs("Estimates from datasheet peaks and gcrm's memory layout (replicate/plan/plan.h), "
          "not measurements.\n",
          f);
    return problems;
}
