/* hfseq: see hfseq.h. */
#include "hfseq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util/jsonio.h"

static const char SLOT[] = "{question}";

int gc_hfseq_template_ok(const char *tmpl) {
    const char *a = strstr(tmpl, SLOT);
    return a && !strstr(a + 1, SLOT);
}

char *gc_hfseq_prompt(const char *tmpl, const char *question) {
    const char *a = tmpl ? strstr(tmpl, SLOT) : NULL;
    if (tmpl && !a) return NULL;
    if (!tmpl) tmpl = a = SLOT; /* the question alone */
    size_t pre = (size_t)(a - tmpl), q = strlen(question), post = strlen(a + sizeof SLOT - 1);
    char *out = gc_malloc(pre + q + post + 1);
    if (!out) return NULL;
    memcpy(out, tmpl, pre);
    memcpy(out + pre, question, q);
    memcpy(out + pre + q, a + sizeof SLOT - 1, post + 1);
    return out;
}

/* the EOS id: tokenizer_config.json's eos_token, else config.json's eos_token_id */
static gc_status find_eos(const char *dir, const gc_hf_tok *tok, int32_t *eos) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    cJSON *j = NULL;
    if (access(path, F_OK) == 0) {
        GC_TRY(gc_json_read(path, &j));
        const cJSON *e = gc_json_get(j, "eos_token");
        if (cJSON_IsObject(e)) e = gc_json_get(e, "content");
        const char *piece = cJSON_GetStringValue(e);
        *eos = piece ? gc_hf_tok_id(tok, piece) : -1;
        gc_status s = GC_OK;
        if (!piece)
            s = gc_fail(GC_ERR_FORMAT, "%s: eos_token: expected a string", path);
        else if (*eos < 0)
            s = gc_fail(GC_ERR_FORMAT, "%s: eos_token \"%s\" is not a token of tokenizer.json",
                        path, piece);
        cJSON_Delete(j);
        return s;
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    GC_TRY(gc_json_read(path, &j));
    const cJSON *e = gc_json_get(j, "eos_token_id");
    if (cJSON_IsArray(e)) e = e->child;
    double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
    cJSON_Delete(j);
    if (!(v >= 0 && v < gc_hf_tok_vocab_size(tok) && v == (int32_t)v))
        return gc_fail(GC_ERR_FORMAT,
                       "%s: eos_token_id: expected a token id of tokenizer.json (and no "
                       "tokenizer_config.json names eos_token)",
                       path);
    *eos = (int32_t)v;
    return GC_OK;
}

gc_status gc_hfseq_open(const char *dir, gc_hfseq *out) {
    memset(out, 0, sizeof *out);
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    GC_TRY(gc_hf_tok_load(path, &out->tok));
    gc_status s = find_eos(dir, out->tok, &out->eos);
    if (s != GC_OK) gc_hfseq_close(out);
    return s;
}

void gc_hfseq_close(gc_hfseq *c) {
    gc_hf_tok_free(c->tok);
    memset(c, 0, sizeof *c);
}

gc_status gc_hfseq_encode(const gc_hfseq *c, const char *prompt, const char *response, int max_len,
                          int32_t *out, int *len, int *prompt_len, int *truncated) {
    if (max_len < 2) return gc_fail(GC_ERR_ARG, "hfseq: max_len %d < 2", max_len);
    size_t np = strlen(prompt), nr = strlen(response);
    char *text = gc_malloc(np + nr + 1);
    if (!text) return GC_ERR_NOMEM;
    memcpy(text, prompt, np);
    memcpy(text + np, response, nr + 1);
    int32_t *ids = NULL, *pids = NULL;
    int n = 0, npr = 0;
    gc_status s = gc_hf_tok_encode(c->tok, text, 1, &ids, &n);
    if (s == GC_OK) s = gc_hf_tok_encode(c->tok, prompt, 1, &pids, &npr);
    free(text), free(pids);
    if (s != GC_OK) return free(ids), s;
    int keep = n < max_len - 1 ? n : max_len - 1;
    if (keep < n && truncated) *truncated = 1;
    memcpy(out, ids, sizeof(int32_t) * (size_t)keep);
    out[keep] = c->eos;
    *len = keep + 1;
    *prompt_len = npr < *len - 1 ? npr : *len - 1;
    free(ids);
    return GC_OK;
}
