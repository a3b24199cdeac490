#include "hf_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* ---- a string -> id map and a pair -> (rank, id) map, open addressing ---- */

typedef struct {
    char **key;
    int32_t *val;
    size_t cap;
} str_map;

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static gc_status str_map_init(str_map *m, size_t n) {
    m->cap = 16;
    while (m->cap < 2 * n + 16)
        m->cap *= 2;
    m->key = gc_calloc(m->cap, sizeof(char *));
    m->val = gc_malloc(sizeof(int32_t) * m->cap);
    return m->key && m->val ? GC_OK : GC_ERR_NOMEM;
}

static void str_map_free(str_map *m) {
    for (size_t i = 0; m->key && i < m->cap; i++)
        free(m->key[i]);
    free(m->key), free(m->val);
}

/* the slot of key (n bytes): its own, or the empty one it would take */
static size_t str_slot(const str_map *m, const char *key, size_t n) {
    size_t i = fnv(key, n) & (m->cap - 1);
    while (m->key[i] && !(strlen(m->key[i]) == n && !memcmp(m->key[i], key, n)))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int32_t str_get(const str_map *m, const char *key, size_t n) {
    size_t i = str_slot(m, key, n);
    return m->key[i] ? m->val[i] : -1;
}

/* 0: added; 1: already there */
static int str_put(str_map *m, const char *key, int32_t v) {
    size_t n = strlen(key), i = str_slot(m, key, n);
    if (m->key[i]) return 1;
    m->key[i] = strdup(key);
    m->val[i] = v;
    return m->key[i] ? 0 : -1;
}

typedef struct {
    uint64_t *key; /* (a << 32 | b) + 1; 0: empty */
    int32_t *rank, *id;
    size_t cap;
} pair_map;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33;
    return x;
}

static size_t pair_slot(const pair_map *m, uint64_t k) {
    size_t i = mix(k) & (m->cap - 1);
    while (m->key[i] && m->key[i] != k)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int pair_get(const pair_map *m, int32_t a, int32_t b, int32_t *rank, int32_t *id) {
    if (!m->cap || a < 0 || b < 0) return 0;
    size_t i = pair_slot(m, ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1);
    if (!m->key[i]) return 0;
    *rank = m->rank[i], *id = m->id[i];
    return 1;
}

/* ---- the tokenizer ---- */

enum { /* one numbering for every kind of step */
       NORM_PREPEND,
       NORM_REPLACE,
       PRE_SPLIT,
       PRE_BYTELEVEL,
       DEC_BYTELEVEL,
       DEC_REPLACE,
       DEC_BYTEFALLBACK,
       DEC_FUSE,
       DEC_STRIP
};

typedef struct {
    int kind;
    char *a, *b; /* prepend: a; replace: a -> b; strip: a, n_start */
    int n_start, n_stop;
    pcre2_code *re;
    int add_prefix_space, use_regex;
} step;

typedef struct {
    char *content;
    int32_t id;
    int special;
} added;

struct gc_hf_tok {
    char path[1024];
    str_map vocab;    /* pieces of the model's vocabulary */
    char **piece;     /* (n_ids) each id's text (vocabulary or added), NULL for unused ids */
    uint8_t *special; /* (n_ids) */
    int n_ids;
    pair_map merges;
    int32_t unk;
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t byte_id[256]; /* <0xXX> pieces, -1 absent */
    step norm[8], pre[8], dec[8];
    int n_norm, n_pre, n_dec;
    added *add;
    int n_add;
    int32_t prefix[8], suffix[8]; /* the post-processor's single template */
    int n_prefix, n_suffix;
    char byte_char[256][4]; /* GPT-2's printable character of each byte (UTF-8) */
    int16_t char_byte[324]; /* code point -> byte, -1 */
};

static void step_free(step *s) {
    free(s->a), free(s->b);
    if (s->re) pcre2_code_free(s->re);
}

void gc_hf_tok_free(gc_hf_tok *t) {
    if (!t) return;
    str_map_free(&t->vocab);
    for (int i = 0; t->piece && i < t->n_ids; i++)
        free(t->piece[i]);
    free(t->piece), free(t->special);
    free(t->merges.key), free(t->merges.rank), free(t->merges.id);
    for (int i = 0; i < t->n_norm; i++)
        step_free(&t->norm[i]);
    for (int i = 0; i < t->n_pre; i++)
        step_free(&t->pre[i]);
    for (int i = 0; i < t->n_dec; i++)
        step_free(&t->dec[i]);
    for (int i = 0; i < t->n_add; i++)
        free(t->add[i].content);
    free(t->add);
    free(t);
}

int gc_hf_tok_vocab_size(const gc_hf_tok *t) {
    return t->n_ids;
}

static int put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) return out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), 2;
    if (cp < 0x10000)
        return out[0] = (char)(0xe0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
               out[2] = (char)(0x80 | (cp & 0x3f)), 3;
    return out[0] = (char)(0xf0 | cp >> 18), out[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
           out[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), out[3] = (char)(0x80 | (cp & 0x3f)), 4;
}

/* the length of the UTF-8 character at s (1 for a stray byte) */
static int utf8_len(const char *s, size_t left) {
    uint8_t c = (uint8_t)s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if ((size_t)n > left) return 1;
    for (int i = 1; i < n; i++)
        if (((uint8_t)s[i] >> 6) != 2) return 1;
    return n;
}

static uint32_t utf8_cp(const char *s, int n) {
    const uint8_t *u = (const uint8_t *)s;
    if (n == 1) return u[0];
    if (n == 2) return (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f);
    if (n == 3) return (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
    return (uint32_t)(u[0] & 7) << 18 | (uint32_t)(u[1] & 0x3f) << 12 |
           (uint32_t)(u[2] & 0x3f) << 6 | (u[3] & 0x3f);
}

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest for 256 + k */
static void byte_table(gc_hf_tok *t) {
    int k = 0;
    for (int i = 0; i < 324; i++)
        t->char_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        uint32_t cp = printable ? (uint32_t)b : (uint32_t)(256 + k++);
        int n = put_utf8(t->byte_char[b], cp);
        t->byte_char[b][n] = 0;
        t->char_byte[cp] = (int16_t)b;
    }
}

static gc_status fail_key(const gc_hf_tok *t, const char *key, const char *what) {
    return gc_fail(GC_ERR_FORMAT, "%s: key '%s': %s", t->path, key, what);
}

static gc_status compile(const gc_hf_tok *t, const char *key, const char *pattern,
                         pcre2_code **re) {
    int err;
    PCRE2_SIZE off;
    *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err,
                        &off, NULL);
    if (*re) return GC_OK;
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(err, msg, sizeof msg);
    return gc_fail(GC_ERR_FORMAT, "%s: key '%s': the pattern does not compile at %zu: %s", t->path,
                   key, (size_t)off, (char *)msg);
}

static const char GPT2_SPLIT[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* a pattern object {"String": s} or {"Regex": r} */
static const char *pattern_of(const cJSON *p, int *regex) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "String"));
    *regex = !s;
    return s ? s : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "Regex"));
}

/* one step of a normalizer, pre-tokenizer or decoder (kind: 0, 1, 2) into steps */
static gc_status read_step(gc_hf_tok *t, const cJSON *o, const char *key, int kind, step *steps,
                           int *n) {
    if (!o || cJSON_IsNull(o)) return GC_OK;
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "type"));
    if (!type) return fail_key(t, key, "expected an object with a \"type\"");
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, kind == 0   ? "normalizers"
                                                                : kind == 1 ? "pretokenizers"
                                                                            : "decoders");
        for (const cJSON *e = list ? list->child : NULL; e; e = e->next)
            GC_TRY(read_step(t, e, key, kind, steps, n));
        return GC_OK;
    }
    if (*n >= 8) return fail_key(t, key, "more than 8 steps");
    step *s = &steps[*n];
    memset(s, 0, sizeof *s);
    int regex = 0;
    const char *pat = pattern_of(cJSON_GetObjectItemCaseSensitive(o, "pattern"), &regex);
    const char *content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "content"));
    if (kind == 0 && !strcmp(type, "Prepend")) {
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "prepend"));
        if (!p) return fail_key(t, key, "Prepend needs a string \"prepend\"");
        *s = (step){.kind = NORM_PREPEND, .a = strdup(p)};
    } else if ((kind == 0 || kind == 2) && !strcmp(type, "Replace")) {
        if (!pat || regex || !content)
            return fail_key(t, key, "Replace needs a String pattern and a content");
        *s = (step){
            .kind = kind == 0 ? NORM_REPLACE : DEC_REPLACE, .a = strdup(pat), .b = strdup(content)};
    } else if (kind == 1 && !strcmp(type, "Split")) {
        const char *beh = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "behavior"));
        if (!pat || !beh || strcmp(beh, "Isolated") ||
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "invert")))
            return fail_key(t, key,
                            "Split is supported with a pattern, behavior Isolated and "
                            "invert false");
        s->kind = PRE_SPLIT;
        if (regex)
            GC_TRY(compile(t, key, pat, &s->re));
        else { /* a literal: quote it for PCRE2 */
            char q[512];
            snprintf(q, sizeof q, "\\Q%s\\E", pat);
            GC_TRY(compile(t, key, q, &s->re));
        }
    } else if ((kind == 1 || kind == 2) && !strcmp(type, "ByteLevel")) {
        s->kind = kind == 1 ? PRE_BYTELEVEL : DEC_BYTELEVEL;
        s->add_prefix_space = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "add_prefix_space"));
        const cJSON *ur = cJSON_GetObjectItemCaseSensitive(o, "use_regex");
        s->use_regex = !ur || cJSON_IsTrue(ur);
        if (kind == 1 && s->use_regex) GC_TRY(compile(t, key, GPT2_SPLIT, &s->re));
    } else if (kind == 2 && !strcmp(type, "ByteFallback")) {
        s->kind = DEC_BYTEFALLBACK;
    } else if (kind == 2 && !strcmp(type, "Fuse")) {
        s->kind = DEC_FUSE;
    } else if (kind == 2 && !strcmp(type, "Strip")) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "start"),
                    *sp = cJSON_GetObjectItemCaseSensitive(o, "stop");
        if (!content || !cJSON_IsNumber(st) || !cJSON_IsNumber(sp))
            return fail_key(t, key, "Strip needs content, start and stop");
        *s = (step){.kind = DEC_STRIP,
                    .a = strdup(content),
                    .n_start = st->valueint,
                    .n_stop = sp->valueint};
    } else {
        char why[160];
        snprintf(why, sizeof why, "type \"%s\" is not supported", type);
        return fail_key(t, key, why);
    }
    if ((s->kind == NORM_PREPEND || s->kind == NORM_REPLACE || s->kind == DEC_REPLACE ||
         s->kind == DEC_STRIP) &&
        !s->a)
        return GC_ERR_NOMEM;
    ++*n;
    return GC_OK;
}

static gc_status set_piece(gc_hf_tok *t, int32_t id, const char *text) {
    if (id < 0 || id >= t->n_ids)
        return gc_fail(GC_ERR_FORMAT, "%s: id %d out of range", t->path, id);
    free(t->piece[id]);
    t->piece[id] = strdup(text);
    return t->piece[id] ? GC_OK : GC_ERR_NOMEM;
}

static gc_status read_model(gc_hf_tok *t, const cJSON *model) {
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(model, "type"));
    if (!type || strcmp(type, "BPE")) return fail_key(t, "model.type", "only \"BPE\" is supported");
    static const char *const unsupported[] = {"dropout", "continuing_subword_prefix",
                                              "end_of_word_suffix"};
    for (int i = 0; i < 3; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(model, unsupported[i]);
        if (x && !cJSON_IsNull(x)) {
            char k[64];
            snprintf(k, sizeof k, "model.%s", unsupported[i]);
            return fail_key(t, k, "must be null");
        }
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return fail_key(t, "model.vocab", "expected an object");
    int n = 0, max_id = -1;
    for (const cJSON *e = vocab->child; e; e = e->next, n++) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > (1 << 24) ||
            e->valuedouble != (int)e->valuedouble)
            return fail_key(t, "model.vocab", "ids must be integers in [0, 2^24]");
        if (e->valueint > max_id) max_id = e->valueint;
    }
    GC_TRY(str_map_init(&t->vocab, (size_t)n));
    t->n_ids = max_id + 1;
    for (const cJSON *e = vocab->child; e; e = e->next)
        if (str_put(&t->vocab, e->string, e->valueint) != 0)
            return gc_fail(GC_ERR_FORMAT, "%s: model.vocab: piece '%s' appears twice", t->path,
                           e->string);
    t->byte_fallback = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback"));
    t->fuse_unk = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "fuse_unk"));
    t->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
    const char *unk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(model, "unk_token"));
    t->unk = unk ? str_get(&t->vocab, unk, strlen(unk)) : -1;
    for (int b = 0; b < 256; b++) {
        char p[8];
        snprintf(p, sizeof p, "<0x%02X>", b);
        t->byte_id[b] = str_get(&t->vocab, p, strlen(p));
    }
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) return fail_key(t, "model.merges", "expected an array");
    int nm = cJSON_GetArraySize(merges), rank = 0;
    pair_map *pm = &t->merges;
    pm->cap = 16;
    while (pm->cap < 2 * (size_t)nm + 16)
        pm->cap *= 2;
    pm->key = gc_calloc(pm->cap, sizeof(uint64_t));
    pm->rank = gc_malloc(sizeof(int32_t) * pm->cap), pm->id = gc_malloc(sizeof(int32_t) * pm->cap);
    if (!pm->key || !pm->rank || !pm->id) return GC_ERR_NOMEM;
    for (const cJSON *e = merges->child; e; e = e->next, rank++) {
        const char *a = NULL, *b = NULL;
        char buf[1024];
        if (cJSON_IsString(e)) { /* "a b" */
            const char *sp = strchr(e->valuestring, ' ');
            size_t la = sp ? (size_t)(sp - e->valuestring) : 0;
            if (!sp || la >= sizeof buf) {
                snprintf(buf, sizeof buf, "merge %d is not \"a b\"", rank);
                return fail_key(t, "model.merges", buf);
            }
            memcpy(buf, e->valuestring, la), buf[la] = 0;
            a = buf, b = sp + 1;
        } else if (cJSON_GetArraySize(e) == 2) {
            a = cJSON_GetStringValue(cJSON_GetArrayItem(e, 0));
            b = cJSON_GetStringValue(cJSON_GetArrayItem(e, 1));
        }
        if (!a || !b) {
            snprintf(buf, sizeof buf, "merge %d is not \"a b\" or [a, b]", rank);
            return fail_key(t, "model.merges", buf);
        }
        size_t la = strlen(a), lb = strlen(b);
        char *ab = gc_malloc(la + lb + 1);
        if (!ab) return GC_ERR_NOMEM;
        memcpy(ab, a, la), memcpy(ab + la, b, lb + 1);
        int32_t ia = str_get(&t->vocab, a, la), ib = str_get(&t->vocab, b, lb),
                iab = str_get(&t->vocab, ab, la + lb);
        free(ab);
        if (ia < 0 || ib < 0 || iab < 0) {
            snprintf(buf, sizeof buf,
                     "merge %d (\"%.40s\" + \"%.40s\") names a piece outside the "
                     "vocabulary",
                     rank, a, b);
            return fail_key(t, "model.merges", buf);
        }
        size_t i = pair_slot(pm, ((uint64_t)(uint32_t)ia << 32 | (uint32_t)ib) + 1);
        if (!pm->key[i]) /* the first (lowest-rank) merge of a pair counts */
            pm->key[i] = ((uint64_t)(uint32_t)ia << 32 | (uint32_t)ib) + 1, pm->rank[i] = rank,
            pm->id[i] = iab;
    }
    return GC_OK;
}

static gc_status read_added(gc_hf_tok *t, const cJSON *list) {
    int n = cJSON_GetArraySize(list);
    if (list && !cJSON_IsNull(list) && !cJSON_IsArray(list))
        return fail_key(t, "added_tokens", "expected an array");
    t->add = gc_calloc((size_t)(n ? n : 1), sizeof(added));
    if (!t->add) return GC_ERR_NOMEM;
    for (const cJSON *e = list ? list->child : NULL; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "content"));
        if (!cJSON_IsNumber(id) || id->valueint < 0 || id->valueint > (1 << 24) || !c || !*c)
            return fail_key(t, "added_tokens", "each needs an integer id and a non-empty content");
        added *a = &t->add[t->n_add++];
        a->content = strdup(c), a->id = id->valueint;
        a->special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special"));
        if (!a->content) return GC_ERR_NOMEM;
        if (a->id >= t->n_ids) t->n_ids = a->id + 1;
    }
    return GC_OK;
}

/* the post-processor's single template: special tokens before and after the sequence */
static gc_status read_post(gc_hf_tok *t, const cJSON *o) {
    if (!o || cJSON_IsNull(o)) return GC_OK;
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "type"));
    if (!type) return fail_key(t, "post_processor", "expected an object with a \"type\"");
    if (!strcmp(type, "ByteLevel")) return GC_OK; /* offsets only */
    if (!strcmp(type, "Sequence")) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "processors");
        for (const cJSON *e = l ? l->child : NULL; e; e = e->next)
            GC_TRY(read_post(t, e));
        return GC_OK;
    }
    if (strcmp(type, "TemplateProcessing"))
        return fail_key(t, "post_processor", "only TemplateProcessing, ByteLevel or a Sequence");
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(o, "single"),
                *specials = cJSON_GetObjectItemCaseSensitive(o, "special_tokens");
    int after = 0;
    for (const cJSON *e = single ? single->child : NULL; e; e = e->next) {
        if (cJSON_GetObjectItemCaseSensitive(e, "Sequence")) {
            after = 1;
            continue;
        }
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(e, "SpecialToken"), "id"));
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(specials, name ? name : ""), "ids");
        if (!name || !cJSON_IsArray(ids))
            return fail_key(t, "post_processor.single", "a special token without its ids");
        for (const cJSON *i = ids->child; i; i = i->next) {
            int *n = after ? &t->n_suffix : &t->n_prefix;
            if (*n >= 8 || !cJSON_IsNumber(i))
                return fail_key(t, "post_processor.special_tokens", "too many or not integers");
            (after ? t->suffix : t->prefix)[(*n)++] = i->valueint;
        }
    }
    return GC_OK;
}

gc_status gc_hf_tok_load(const char *path, gc_hf_tok **out) {
    *out = NULL;
    char *text;
    size_t n;
    GC_TRY(gc_read_file(path, &text, &n));
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return gc_fail(GC_ERR_FORMAT, "%s: not a JSON object (tokenizer.json)", path);
    }
    gc_hf_tok *t = gc_calloc(1, sizeof *t);
    if (!t) {
        cJSON_Delete(j);
        return GC_ERR_NOMEM;
    }
    snprintf(t->path, sizeof t->path, "%s", path);
    byte_table(t);
    gc_status s = read_model(t, cJSON_GetObjectItemCaseSensitive(j, "model"));
    if (s == GC_OK) s = read_added(t, cJSON_GetObjectItemCaseSensitive(j, "added_tokens"));
    if (s == GC_OK) {
        t->piece = gc_calloc((size_t)t->n_ids, sizeof(char *));
        t->special = gc_calloc((size_t)t->n_ids, 1);
        if (!t->piece || !t->special) s = GC_ERR_NOMEM;
    }
    for (size_t i = 0; s == GC_OK && i < t->vocab.cap; i++)
        if (t->vocab.key[i]) s = set_piece(t, t->vocab.val[i], t->vocab.key[i]);
    for (int i = 0; s == GC_OK && i < t->n_add; i++) {
        s = set_piece(t, t->add[i].id, t->add[i].content);
        t->special[t->add[i].id] = (uint8_t)t->add[i].special;
    }
    if (s == GC_OK)
        s = read_step(t, cJSON_GetObjectItemCaseSensitive(j, "normalizer"), "normalizer", 0,
                      t->norm, &t->n_norm);
    if (s == GC_OK)
        s = read_step(t, cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer"), "pre_tokenizer", 1,
                      t->pre, &t->n_pre);
    if (s == GC_OK)
        s = read_step(t, cJSON_GetObjectItemCaseSensitive(j, "decoder"), "decoder", 2, t->dec,
                      &t->n_dec);
    if (s == GC_OK) s = read_post(t, cJSON_GetObjectItemCaseSensitive(j, "post_processor"));
    cJSON_Delete(j);
    if (s != GC_OK) {
        gc_hf_tok_free(t);
        return s;
    }
    *out = t;
    return GC_OK;
}

int32_t gc_hf_tok_id(const gc_hf_tok *t, const char *piece) {
    for (int i = 0; i < t->n_add; i++)
        if (!strcmp(t->add[i].content, piece)) return t->add[i].id;
    return str_get(&t->vocab, piece, strlen(piece));
}

/* ---- encoding ---- */

typedef struct {
    char *s;
    size_t n, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n + 1)
            c *= 2;
        char *p = realloc(b->s, c);
        if (!p) return -1;
        b->s = p, b->cap = c;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}

typedef struct {
    int32_t *v;
    int n, cap;
} ids;

static int ids_add(ids *x, int32_t id) {
    if (x->n == x->cap) {
        int c = x->cap ? 2 * x->cap : 64;
        int32_t *p = realloc(x->v, sizeof(int32_t) * c);
        if (!p) return -1;
        x->v = p, x->cap = c;
    }
    x->v[x->n++] = id;
    return 0;
}

/* a list of words (strings): the pre-tokenizer's working set */
typedef struct {
    buf *w;
    int n, cap;
} words;

static int words_add(words *x, const char *s, size_t n) {
    if (x->n == x->cap) {
        int c = x->cap ? 2 * x->cap : 16;
        buf *p = realloc(x->w, sizeof(buf) * c);
        if (!p) return -1;
        x->w = p, x->cap = c;
    }
    x->w[x->n] = (buf){0};
    if (buf_add(&x->w[x->n], s, n)) return -1;
    x->n++;
    return 0;
}

static void words_free(words *x) {
    for (int i = 0; i < x->n; i++)
        free(x->w[i].s);
    free(x->w);
    memset(x, 0, sizeof *x);
}

/* replaces every occurrence of a in s by b */
static int replace_all(buf *s, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (!la || !s->n) return 0;
    buf o = {0};
    for (size_t i = 0; i < s->n;) {
        if (i + la <= s->n && !memcmp(s->s + i, a, la)) {
            if (buf_add(&o, b, lb)) return free(o.s), -1;
            i += la;
        } else {
            if (buf_add(&o, s->s + i, 1)) return free(o.s), -1;
            i++;
        }
    }
    if (!o.s && buf_add(&o, "", 0)) return -1;
    free(s->s);
    *s = o;
    return 0;
}

/* the matches of re in s and the gaps between them, in order, into out */
static int split_regex(pcre2_code *re, const char *s, size_t n, words *out) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) return -1;
    size_t at = 0, last = 0;
    int rc = 0;
    while (at <= n && rc == 0) {
        int m = pcre2_match(re, (PCRE2_SPTR)s, n, at, 0, md, NULL);
        if (m < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t b = ov[0], e = ov[1];
        if (b > last) rc |= words_add(out, s + last, b - last);
        if (e > b) rc |= words_add(out, s + b, e - b);
        last = e;
        at = e > b ? e : e + (e < n ? (size_t)utf8_len(s + e, n - e) : 1);
    }
    if (rc == 0 && last < n) rc |= words_add(out, s + last, n - last);
    pcre2_match_data_free(md);
    return rc;
}

/* the BPE ids of one word (its characters as the initial symbols) */
static int bpe_word(const gc_hf_tok *t, const char *w, size_t n, ids *out) {
    int32_t whole = str_get(&t->vocab, w, n);
    if (t->ignore_merges && whole >= 0) return ids_add(out, whole);
    int cap = (int)n + 1, k = 0;
    int32_t *id = malloc(sizeof(int32_t) * cap);
    size_t *beg = malloc(sizeof(size_t) * cap), *len = malloc(sizeof(size_t) * cap);
    if (!id || !beg || !len) return free(id), free(beg), free(len), -1;
    for (size_t i = 0; i < n; k++) {
        int c = utf8_len(w + i, n - i);
        beg[k] = i, len[k] = (size_t)c, id[k] = str_get(&t->vocab, w + i, (size_t)c);
        i += (size_t)c;
    }
    for (;;) { /* the lowest-rank adjacent pair, the leftmost on a tie */
        int best = -1;
        int32_t br = 0, bid = 0;
        for (int i = 0; i + 1 < k; i++) {
            int32_t r, m;
            if (pair_get(&t->merges, id[i], id[i + 1], &r, &m) && (best < 0 || r < br))
                best = i, br = r, bid = m;
        }
        if (best < 0) break;
        id[best] = bid, len[best] += len[best + 1];
        memmove(id + best + 1, id + best + 2, sizeof(int32_t) * (k - best - 2));
        memmove(beg + best + 1, beg + best + 2, sizeof(size_t) * (k - best - 2));
        memmove(len + best + 1, len + best + 2, sizeof(size_t) * (k - best - 2));
        k--;
    }
    int rc = 0, prev_unk = 0;
    for (int i = 0; i < k && rc == 0; i++) {
        if (id[i] >= 0) {
            rc = ids_add(out, id[i]), prev_unk = 0;
            continue;
        }
        int all = t->byte_fallback;
        for (size_t b = 0; all && b < len[i]; b++)
            all = t->byte_id[(uint8_t)w[beg[i] + b]] >= 0;
        if (all) {
            for (size_t b = 0; b < len[i] && rc == 0; b++)
                rc = ids_add(out, t->byte_id[(uint8_t)w[beg[i] + b]]);
            prev_unk = 0;
        } else if (t->unk >= 0) {
            if (!(t->fuse_unk && prev_unk)) rc = ids_add(out, t->unk);
            prev_unk = 1;
        } else {
            rc = -2; /* nothing can stand for it */
        }
    }
    free(id), free(beg), free(len);
    return rc;
}

/* a span of text without added tokens: normalised, pre-tokenised, merged */
static int encode_span(const gc_hf_tok *t, const char *s, size_t n, ids *out) {
    buf b = {0};
    if (buf_add(&b, s, n)) return -1;
    int rc = 0;
    for (int i = 0; i < t->n_norm && rc == 0; i++) {
        const step *st = &t->norm[i];
        if (st->kind == NORM_PREPEND && b.n) {
            buf o = {0};
            rc = buf_add(&o, st->a, strlen(st->a)) || buf_add(&o, b.s, b.n);
            free(b.s);
            b = o;
        } else if (st->kind == NORM_REPLACE) {
            rc = replace_all(&b, st->a, st->b);
        }
    }
    words w = {0};
    if (rc == 0 && b.n) rc = words_add(&w, b.s, b.n);
    free(b.s);
    for (int i = 0; i < t->n_pre && rc == 0; i++) {
        const step *st = &t->pre[i];
        words next = {0};
        for (int k = 0; k < w.n && rc == 0; k++) {
            buf *x = &w.w[k];
            if (st->kind == PRE_SPLIT) {
                rc = split_regex(st->re, x->s, x->n, &next);
                continue;
            }
            buf pre = {0}; /* ByteLevel: a prefix space, the GPT-2 split, bytes as characters */
            if (st->add_prefix_space && k == 0 && x->n && x->s[0] != ' ')
                rc = buf_add(&pre, " ", 1);
            if (rc == 0) rc = buf_add(&pre, x->s, x->n);
            words parts = {0};
            if (rc == 0)
                rc = st->use_regex ? split_regex(st->re, pre.s, pre.n, &parts)
                                   : words_add(&parts, pre.s, pre.n);
            free(pre.s);
            for (int p = 0; p < parts.n && rc == 0; p++) {
                buf m = {0};
                for (size_t c = 0; c < parts.w[p].n && rc == 0; c++) {
                    const char *ch = t->byte_char[(uint8_t)parts.w[p].s[c]];
                    rc = buf_add(&m, ch, strlen(ch));
                }
                if (rc == 0) rc = words_add(&next, m.s, m.n);
                free(m.s);
            }
            words_free(&parts);
        }
        words_free(&w);
        w = next;
    }
    for (int k = 0; k < w.n && rc == 0; k++)
        rc = bpe_word(t, w.w[k].s, w.w[k].n, out);
    words_free(&w);
    return rc;
}

gc_status gc_hf_tok_encode(const gc_hf_tok *t, const char *text, int add_special, int32_t **out,
                           int *n_out) {
    ids x = {0};
    size_t n = strlen(text), span = 0;
    int rc = 0;
    for (int i = 0; add_special && i < t->n_prefix && rc == 0; i++)
        rc = ids_add(&x, t->prefix[i]);
    for (size_t at = 0; at < n && rc == 0;) { /* added tokens: the longest at each position */
        int best = -1;
        size_t bl = 0;
        for (int k = 0; k < t->n_add; k++) {
            size_t l = strlen(t->add[k].content);
            if (l > bl && at + l <= n && !memcmp(text + at, t->add[k].content, l)) best = k, bl = l;
        }
        if (best < 0) {
            at++;
            continue;
        }
        if (at > span) rc = encode_span(t, text + span, at - span, &x);
        if (rc == 0) rc = ids_add(&x, t->add[best].id);
        at += bl, span = at;
    }
    if (rc == 0 && n > span) rc = encode_span(t, text + span, n - span, &x);
    for (int i = 0; add_special && i < t->n_suffix && rc == 0; i++)
        rc = ids_add(&x, t->suffix[i]);
    if (rc) {
        free(x.v);
        return rc == -2 ? gc_fail(GC_ERR_ARG,
                                  "%s: a character of the text has no token (no "
                                  "byte fallback, no unknown token)",
                                  t->path)
                        : gc_fail(GC_ERR_NOMEM, "%s: out of memory encoding", t->path);
    }
    if (!x.v && ids_add(&x, 0) == 0) x.n = 0;
    *out = x.v, *n_out = x.n;
    return GC_OK;
}

/* ---- decoding ---- */

gc_status gc_hf_tok_decode(const gc_hf_tok *t, const int32_t *in, int n, int skip_special,
                           char **text) {
    words w = {0};
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (in[i] < 0 || in[i] >= t->n_ids || !t->piece[in[i]]) {
            words_free(&w);
            return gc_fail(GC_ERR_ARG, "%s: id %d has no piece", t->path, in[i]);
        }
        if (skip_special && t->special[in[i]]) continue;
        rc = words_add(&w, t->piece[in[i]], strlen(t->piece[in[i]]));
    }
    for (int d = 0; d < t->n_dec && rc == 0; d++) {
        const step *st = &t->dec[d];
        if (st->kind == DEC_REPLACE) {
            for (int k = 0; k < w.n && rc == 0; k++)
                rc = replace_all(&w.w[k], st->a, st->b);
        } else if (st->kind == DEC_BYTELEVEL || st->kind == DEC_FUSE) {
            buf all = {0};
            for (int k = 0; k < w.n && rc == 0; k++)
                rc = buf_add(&all, w.w[k].s ? w.w[k].s : "", w.w[k].n);
            if (rc == 0 && st->kind == DEC_BYTELEVEL) { /* characters back to bytes */
                buf o = {0};
                for (size_t c = 0; c < all.n && rc == 0;) {
                    int l = utf8_len(all.s + c, all.n - c);
                    uint32_t cp = utf8_cp(all.s + c, l);
                    if (cp < 324 && t->char_byte[cp] >= 0) {
                        char b = (char)t->char_byte[cp];
                        rc = buf_add(&o, &b, 1);
                    } else {
                        rc = buf_add(&o, all.s + c, (size_t)l);
                    }
                    c += (size_t)l;
                }
                free(all.s);
                all = o;
            }
            words_free(&w);
            if (rc == 0) rc = words_add(&w, all.s ? all.s : "", all.n);
            free(all.s);
        } else if (st->kind == DEC_BYTEFALLBACK) { /* runs of <0xXX> pieces as bytes */
            words o = {0};
            for (int k = 0; k < w.n && rc == 0;) {
                unsigned v;
                if (w.w[k].n == 6 && sscanf(w.w[k].s, "<0x%2X>", &v) == 1) {
                    buf bytes = {0};
                    int k0 = k;
                    for (; k < w.n && w.w[k].n == 6 && sscanf(w.w[k].s, "<0x%2X>", &v) == 1; k++) {
                        char c = (char)v;
                        rc |= buf_add(&bytes, &c, 1);
                    }
                    /* valid UTF-8 as it is; otherwise one U+FFFD per byte */
                    int ok = 1;
                    for (size_t c = 0; c < bytes.n && ok;) {
                        int l = utf8_len(bytes.s + c, bytes.n - c);
                        ok = !(l == 1 && (uint8_t)bytes.s[c] >= 0x80);
                        c += (size_t)l;
                    }
                    if (ok)
                        rc |= words_add(&o, bytes.s, bytes.n);
                    else
                        for (int r = k0; r < k; r++)
                            rc |= words_add(&o, "\xef\xbf\xbd", 3);
                    free(bytes.s);
                } else {
                    rc |= words_add(&o, w.w[k].s, w.w[k].n);
                    k++;
                }
            }
            words_free(&w);
            w = o;
        } else if (st->kind == DEC_STRIP) {
            size_t la = strlen(st->a);
            for (int k = 0; k < w.n; k++) {
                buf *x = &w.w[k];
                for (int r = 0; r < st->n_start && x->n >= la && !memcmp(x->s, st->a, la); r++)
                    memmove(x->s, x->s + la, x->n - la + 1), x->n -= la;
                for (int r = 0;
                     r < st->n_stop && x->n >= la && !memcmp(x->s + x->n - la, st->a, la); r++)
                    x->n -= la, x->s[x->n] = 0;
            }
        }
    }
    buf all = {0};
    for (int k = 0; k < w.n && rc == 0; k++)
        rc = buf_add(&all, w.w[k].s ? w.w[k].s : "", w.w[k].n);
    if (rc == 0 && !all.s) rc = buf_add(&all, "", 0);
    words_free(&w);
    if (rc) {
        free(all.s);
        return gc_fail(GC_ERR_NOMEM, "%s: out of memory decoding", t->path);
    }
    *text = all.s;
    return GC_OK;
}
