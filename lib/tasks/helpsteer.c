#include "helpsteer.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/util/jsonio.h"

static const char *const NAMES[GC_HS_ATTRIBUTES] = {"helpfulness", "correctness", "coherence",
                                                    "complexity", "verbosity"};

int gc_helpsteer_attribute(const char *name) {
    for (int a = 0; a < GC_HS_ATTRIBUTES; a++)
        if (!strcmp(name, NAMES[a])) return a;
    return -1;
}

const char *gc_helpsteer_attribute_name(int a) {
    return a >= 0 && a < GC_HS_ATTRIBUTES ? NAMES[a] : "?";
}

void gc_helpsteer_free(gc_helpsteer_set *s) {
    for (int i = 0; s->it && i < s->n; i++)
        free(s->it[i].prompt), free(s->it[i].response);
    free(s->it);
    memset(s, 0, sizeof *s);
}

typedef struct {
    const char *path;
    int allow_skips, cap;
    gc_helpsteer_set *out;
} load_ctx;

static gc_status add_item(const cJSON *j, int line, void *ctx) {
    load_ctx *k = ctx;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "response");
    gc_helpsteer_item it = {0};
    const char *bad = !cJSON_IsString(p) ? "prompt" : !cJSON_IsString(r) ? "response" : NULL;
    for (int a = 0; a < GC_HS_ATTRIBUTES && !bad; a++) {
        if (!gc_json_int_in(cJSON_GetObjectItemCaseSensitive(j, NAMES[a]), 0, 4, &it.rating[a]))
            bad = NAMES[a];
    }
    if (bad) {
        if (k->allow_skips) {
            k->out->skipped++;
            return GC_OK;
        }
        return gc_fail(GC_ERR_FORMAT, "%s:%d: \"%s\" missing or malformed (%s)", k->path, line, bad,
                       strcmp(bad, "prompt") && strcmp(bad, "response") ? "an integer 0-4"
                                                                        : "a string");
    }
    gc_helpsteer_set *out = k->out;
    if (out->n == k->cap) {
        int cap = k->cap ? 2 * k->cap : 1024;
        gc_helpsteer_item *a = realloc(out->it, sizeof *a * cap);
        if (!a) return GC_ERR_NOMEM;
        out->it = a, k->cap = cap;
    }
    it.prompt = strdup(p->valuestring), it.response = strdup(r->valuestring);
    out->it[out->n++] = it;
    return it.prompt && it.response ? GC_OK : GC_ERR_NOMEM;
}

gc_status gc_helpsteer_load(const char *path, int allow_skips, gc_helpsteer_set *out) {
    memset(out, 0, sizeof *out);
    load_ctx k = {path, allow_skips, 0, out};
    gc_status s = gc_jsonl_each(path, add_item, &k);
    if (s == GC_OK && out->n == 0) s = gc_fail(GC_ERR_FORMAT, "%s: no items", path);
    if (s != GC_OK) gc_helpsteer_free(out);
    return s;
}

int gc_helpsteer_rated(const gc_helpsteer_set *s, int a, int min_rating, int *out) {
    int n = 0;
    for (int i = 0; a >= 0 && a < GC_HS_ATTRIBUTES && i < s->n; i++)
        if (s->it[i].rating[a] >= min_rating) out[n++] = i;
    return n;
}

int gc_helpsteer_prompts(const gc_helpsteer_set *s, int *out) {
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        int seen = 0;
        for (int u = 0; u < n && !seen; u++) /* quadratic: validation sets hold ~1,800 prompts */
            seen = !strcmp(s->it[out[u]].prompt, s->it[i].prompt);
        if (!seen) out[n++] = i;
    }
    return n;
}
