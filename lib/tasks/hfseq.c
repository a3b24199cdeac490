/* hfseq: see hfseq.h. */
#include "hfseq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/model/chat_template.h"
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

/* the EOS id: tokenizer_config.json's eos_token (c->eos_text), else config.json's eos_token_id */
static gc_status find_eos(gc_hfseq *c) {
    char path[4096];
    if (c->eos_text) {
        c->eos = gc_hf_tok_id(c->tok, c->eos_text);
        if (c->eos < 0)
            return gc_fail(GC_ERR_FORMAT,
                           "%s/tokenizer_config.json: eos_token \"%s\" is not a token of "
                           "tokenizer.json",
                           c->dir, c->eos_text);
        return GC_OK;
    }
    snprintf(path, sizeof path, "%s/config.json", c->dir);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    const cJSON *e = gc_json_get(j, "eos_token_id");
    if (cJSON_IsArray(e)) e = e->child;
    double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
    cJSON_Delete(j);
    if (!(v >= 0 && v < gc_hf_tok_vocab_size(c->tok) && v == (int32_t)v))
        return gc_fail(GC_ERR_FORMAT,
                       "%s: eos_token_id: expected a token id of tokenizer.json (and no "
                       "tokenizer_config.json names eos_token)",
                       path);
    c->eos = (int32_t)v;
    return GC_OK;
}

gc_status gc_hfseq_open(const char *dir, gc_hfseq *out) {
    memset(out, 0, sizeof *out);
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    GC_TRY(gc_hf_tok_load(path, &out->tok));
    out->dir = strdup(dir);
    gc_status s = out->dir ? GC_OK : GC_ERR_NOMEM;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (s == GC_OK && access(path, F_OK) == 0)
        s = gc_tokenizer_config_load(dir, &out->chat_template, &out->bos_text, &out->eos_text);
    if (s == GC_OK) s = find_eos(out);
    if (s != GC_OK) gc_hfseq_close(out);
    return s;
}

void gc_hfseq_close(gc_hfseq *c) {
    gc_hf_tok_free(c->tok);
    free(c->dir), free(c->bos_text), free(c->eos_text), free(c->chat_template);
    memset(c, 0, sizeof *c);
}

gc_status gc_hfseq_chat(const gc_hfseq *c, const cJSON *messages, const char *answer, char **prompt,
                        char **response) {
    *prompt = *response = NULL;
    if (!c->chat_template)
        return gc_fail(GC_ERR_CONFIG,
                       "%s/tokenizer_config.json: no chat_template to format "
                       "conversations with",
                       c->dir);
    char name[4096];
    snprintf(name, sizeof name, "%s/tokenizer_config.json", c->dir);
    gc_chat_vars v = {c->bos_text, c->eos_text, 1, NULL};
    GC_TRY(gc_chat_render(name, c->chat_template, messages, &v, prompt));
    cJSON *all = cJSON_Duplicate(messages, 1), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddStringToObject(m, "content", answer);
    cJSON_AddItemToArray(all, m);
    char *full = NULL;
    v.add_generation_prompt = 0;
    gc_status s = gc_chat_render(name, c->chat_template, all, &v, &full);
    cJSON_Delete(all);
    size_t np = strlen(*prompt);
    if (s == GC_OK && strncmp(full, *prompt, np))
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: chat_template: the conversation rendered with its answer does not start "
                    "with the conversation rendered with the generation prompt, so the answer's "
                    "tokens cannot be told apart",
                    name);
    if (s == GC_OK && !(*response = strdup(full + np))) s = GC_ERR_NOMEM;
    free(full);
    if (s != GC_OK) free(*prompt), *prompt = NULL;
    return s;
}

/* a text that writes its own BOS gets no second one */
static int with_specials(const gc_hfseq *c, const char *text) {
    return !(c->bos_text && *c->bos_text && !strncmp(text, c->bos_text, strlen(c->bos_text)));
}

gc_status gc_hfseq_prompt_ids(const gc_hfseq *c, const char *prompt, int32_t **ids, int *n) {
    return gc_hf_tok_encode(c->tok, prompt, with_specials(c, prompt), ids, n);
}

gc_status gc_hfseq_prompt_tokens(const gc_hfseq *c, const char *prompt, int *n) {
    int32_t *ids = NULL;
    gc_status s = gc_hfseq_prompt_ids(c, prompt, &ids, n);
    free(ids);
    return s;
}

gc_status gc_hfseq_encode(const gc_hfseq *c, const char *prompt, int prompt_tokens,
                          const char *response, int max_len, int32_t *out, int *len,
                          int *prompt_len, int *truncated) {
    if (max_len < 2) return gc_fail(GC_ERR_ARG, "hfseq: max_len %d < 2", max_len);
    size_t np = strlen(prompt), nr = strlen(response);
    char *text = gc_malloc(np + nr + 1);
    if (!text) return GC_ERR_NOMEM;
    memcpy(text, prompt, np);
    memcpy(text + np, response, nr + 1);
    int32_t *ids = NULL;
    int n = 0, npr = prompt_tokens;
    gc_status s = gc_hf_tok_encode(c->tok, text, with_specials(c, text), &ids, &n);
    free(text);
    if (s == GC_OK && npr < 0) s = gc_hfseq_prompt_tokens(c, prompt, &npr);
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
