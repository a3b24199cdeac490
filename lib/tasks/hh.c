#include "hh.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/util/jsonio.h"

int gc_hh_split(const char *chosen, const char *rejected, gc_hh_pair *out) {
    size_t cue = strlen(GC_HH_ASSISTANT), end = 0;
    int shared = 0;
    /* the last assistant cue of chosen whose dialogue up to it rejected shares */
    for (const char *q = strstr(chosen, GC_HH_ASSISTANT); q; q = strstr(q + 1, GC_HH_ASSISTANT)) {
        size_t e = (size_t)(q - chosen) + cue;
        if (!strncmp(chosen, rejected, e)) end = e, shared = 1;
    }
    const char *rc = chosen + end, *rr = rejected + end;
    if (shared && *rc == ' ') rc++;
    if (shared && *rr == ' ') rr++;
    out->prompt = strndup(chosen, end);
    out->chosen = strdup(rc);
    out->rejected = strdup(rr);
    return shared;
}

#define GC_HH_HUMAN "\n\nHuman:"

/* the next cue at or after p: *human set when it is a Human cue; NULL when none */
static const char *next_cue(const char *p, int *human) {
    const char *h = strstr(p, GC_HH_HUMAN), *a = strstr(p, GC_HH_ASSISTANT);
    *human = h && (!a || h < a);
    return *human ? h : a;
}

static void add_message(cJSON *msgs, const char *role, const char *text, size_t n) {
    if (n && *text == ' ') text++, n--;
    char *t = strndup(text, n);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", t ? t : "");
    cJSON_AddItemToArray(msgs, m);
    free(t);
}

cJSON *gc_hh_messages(const char *prompt) {
    cJSON *msgs = cJSON_CreateArray();
    int human;
    const char *c = next_cue(prompt, &human);
    if (!c) c = prompt + strlen(prompt);
    if (c > prompt) add_message(msgs, "user", prompt, (size_t)(c - prompt));
    while (*c) {
        int h2;
        const char *body = c + strlen(human ? GC_HH_HUMAN : GC_HH_ASSISTANT);
        const char *next = next_cue(body, &h2);
        const char *end = next ? next : body + strlen(body);
        if (next || human || end > body + (*body == ' ')) /* not the final, empty cue */
            add_message(msgs, human ? "user" : "assistant", body, (size_t)(end - body));
        if (!next) break;
        c = next, human = h2;
    }
    return msgs;
}

void gc_hh_free(gc_hh_set *s) {
    for (int i = 0; s->p && i < s->n; i++)
        free(s->p[i].prompt), free(s->p[i].chosen), free(s->p[i].rejected);
    free(s->p);
    memset(s, 0, sizeof *s);
}

typedef struct {
    const char *path;
    gc_hh_set *out;
    int cap;
} load_ctx;

static gc_status add_pair(const cJSON *j, int line, void *ctx) {
    load_ctx *k = ctx;
    gc_hh_set *out = k->out;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "chosen");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "rejected");
    if (!cJSON_IsString(c) || !cJSON_IsString(r))
        return gc_fail(GC_ERR_FORMAT,
                       "%s:%d: expected a JSON object with string \"chosen\" and \"rejected\"",
                       k->path, line);
    if (out->n == k->cap) {
        int cap = k->cap ? 2 * k->cap : 1024;
        gc_hh_pair *p = realloc(out->p, sizeof *p * cap);
        if (!p) return GC_ERR_NOMEM;
        out->p = p, k->cap = cap;
    }
    gc_hh_pair *p = &out->p[out->n++];
    out->no_shared_prompt += !gc_hh_split(c->valuestring, r->valuestring, p);
    return p->prompt && p->chosen && p->rejected ? GC_OK : GC_ERR_NOMEM;
}

gc_status gc_hh_load(const char *path, gc_hh_set *out) {
    memset(out, 0, sizeof *out);
    load_ctx k = {path, out, 0};
    gc_status s = gc_jsonl_each(path, add_pair, &k);
    if (s == GC_OK && out->n == 0) s = gc_fail(GC_ERR_FORMAT, "%s: no pairs", path);
    if (s != GC_OK) gc_hh_free(out);
    return s;
}

gc_status gc_hh_encode(const gc_tokenizer *t, const char *prompt, const char *response, int L,
                       int32_t *out, gc_hh_tokens *info) {
    memset(info, 0, sizeof *info);
    if (L < GC_HH_MIN_PROMPT + 3)
        return gc_fail(GC_ERR_ARG, "hh: context %d is shorter than %d", L, GC_HH_MIN_PROMPT + 3);
    size_t lp = strlen(prompt), lr = strlen(response);
    int32_t *pt = gc_malloc(sizeof(int32_t) * (lp + 3)),
            *rt = gc_malloc(sizeof(int32_t) * (lr + 3));
    int np = 0, nr = 0;
    gc_status s = pt && rt ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK && lp) s = gc_tokenizer_encode(t, prompt, 0, 0, pt, &np);
    if (s == GC_OK && lr) s = gc_tokenizer_encode(t, response, 0, 0, rt, &nr);
    if (s == GC_OK) {
        int room = L - 2;     /* BOS and EOS */
        if (np + nr > room) { /* the prompt's start goes first, then the response's end */
            int keep = np < GC_HH_MIN_PROMPT ? np : GC_HH_MIN_PROMPT;
            if (room - nr > keep) keep = room - nr;
            info->prompt_cut = np - keep;
            if (keep + nr > room) info->response_cut = keep + nr - room;
        }
        int kp = np - info->prompt_cut, kr = nr - info->response_cut;
        out[0] = GC_TOK_BOS;
        memcpy(out + 1, pt + info->prompt_cut, sizeof(int32_t) * kp);
        memcpy(out + 1 + kp, rt, sizeof(int32_t) * kr);
        out[1 + kp + kr] = GC_TOK_EOS;
        info->prompt_len = 1 + kp, info->len = kp + kr + 2;
    }
    free(pt), free(rt);
    return s;
}
