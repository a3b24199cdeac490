/* The hh pipeline's data stage, hh-tokens (hh.h): the pairs of the data file, split into prompt
 * and responses and tokenised for the model's context (lib/tasks/hh.h), in tokens.bin:
 *   "GCHHTOK1" | u32 n | u32 L | i32 len (2n) | i32 prompt_len (2n) | i32 tokens (2n x L) | u32
 *   crc32 of all before
 * Row 2i is pair i's chosen sequence, row 2i + 1 its rejected one; unused positions hold 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/ckpt.h"
#include "lib/model/tokenizer.h"
#include "lib/tasks/hh.h"
#include "lib/util/jsonio.h"
#include "hh.h"

#define TOK_MAGIC "GCHHTOK1"

void hh_tokens_free(hh_tokens *t) {
    free(t->tok), free(t->len), free(t->plen);
    memset(t, 0, sizeof *t);
}

static gc_status tokens_alloc(hh_tokens *t, int n, int L) {
    t->n = n, t->L = L;
    t->tok = gc_calloc((size_t)2 * n * L, sizeof(int32_t));
    t->len = gc_malloc(sizeof(int) * 2 * (size_t)n);
    t->plen = gc_malloc(sizeof(int) * 2 * (size_t)n);
    if (t->tok && t->len && t->plen) return GC_OK;
    hh_tokens_free(t);
    return GC_ERR_NOMEM;
}

/* the vocabulary size and context of the trunk's checkpoint */
static gc_status trunk_shape(const hh_ctx *h, int *vocab, int *seq_len) {
    char path[RP_PATH];
    hh_data_path(h, h->model.checkpoint, path);
    gc_model m;
    GC_TRY(gc_ckpt_load_any(path, &m));
    *vocab = m.cfg.vocab_size, *seq_len = m.cfg.seq_len;
    gc_model_free(&m);
    return GC_OK;
}

static gc_status compute_tokens(rp_stage *st, void *ctx) {
    hh_ctx *h = ctx;
    int vocab, seq_len, L = (int)h->model.context;
    GC_TRY(trunk_shape(h, &vocab, &seq_len));
    if (L > seq_len)
        return gc_fail(GC_ERR_CONFIG, "%s: model.context %d exceeds the model's seq_len %d",
                       h->r->cfg.path, L, seq_len);
    char path[RP_PATH];
    hh_data_path(h, h->model.tokenizer, path);
    gc_tokenizer t;
    GC_TRY(gc_tokenizer_load(&t, path, vocab));
    hh_data_path(h, h->data.file, path);
    gc_hh_set set;
    gc_status s = gc_hh_load(path, &set);
    if (s != GC_OK) {
        gc_tokenizer_free(&t);
        return s;
    }
    int n = h->data.pairs > 0 && h->data.pairs < set.n ? (int)h->data.pairs : set.n;
    hh_tokens tk = {0};
    s = tokens_alloc(&tk, n, L);
    int prompt_cut = 0, response_cut = 0, failed = 0;
    uint8_t *cut = gc_calloc((size_t)2 * n + 1, 1); /* (2n) 1: the sequence lost tokens */
    if (!cut) s = GC_ERR_NOMEM;
    gc_log_info("hh: tokenising %d pairs for a context of %d tokens", n, L);
#pragma omp parallel for schedule(dynamic, 8) reduction(+ : prompt_cut, response_cut, failed)
    for (int k = 0; k < (s == GC_OK ? 2 * n : 0); k++) {
        const gc_hh_pair *p = &set.p[k / 2];
        gc_hh_tokens info;
        if (gc_hh_encode(&t, p->prompt, k % 2 ? p->rejected : p->chosen, L, tk.tok + (size_t)k * L,
                         &info) != GC_OK) {
            failed++;
            continue;
        }
        tk.len[k] = info.len, tk.plen[k] = info.prompt_len;
        prompt_cut += info.prompt_cut > 0, response_cut += info.response_cut > 0;
        cut[k] = info.prompt_cut > 0 || info.response_cut > 0;
    }
    int pairs_cut = 0;
    for (int i = 0; s == GC_OK && i < n; i++)
        pairs_cut += cut[2 * i] || cut[2 * i + 1];
    free(cut);
    if (s == GC_OK && failed)
        s = gc_fail(GC_ERR_ARG, "%s: %d sequences did not encode", path, failed);
    gc_tokenizer_free(&t);
    st->info = cJSON_CreateObject();
    cJSON_AddNumberToObject(st->info, "pairs", n);
    cJSON_AddNumberToObject(st->info, "pairs_in_file", set.n);
    cJSON_AddNumberToObject(st->info, "no_shared_prompt", set.no_shared_prompt);
    cJSON_AddNumberToObject(st->info, "context", L);
    cJSON_AddNumberToObject(st->info, "sequences_prompt_cut", prompt_cut);
    cJSON_AddNumberToObject(st->info, "sequences_response_cut", response_cut);
    cJSON_AddNumberToObject(st->info, "pairs_cut", pairs_cut);
    gc_hh_free(&set);
    rp_stage_file(st, "tokens.bin", path);
    gc_atomic_file af = {0};
    if (s == GC_OK) s = gc_atomic_open(&af, path);
    if (s == GC_OK) {
        uint32_t hdr[2] = {(uint32_t)n, (uint32_t)L};
        gc_atomic_write(&af, TOK_MAGIC, 8);
        gc_atomic_write(&af, hdr, sizeof hdr);
        gc_atomic_write(&af, tk.len, sizeof(int) * 2 * (size_t)n);
        gc_atomic_write(&af, tk.plen, sizeof(int) * 2 * (size_t)n);
        gc_atomic_write(&af, tk.tok, sizeof(int32_t) * 2 * (size_t)n * L);
        gc_atomic_write_crc(&af);
        s = gc_atomic_commit(&af);
    }
    hh_tokens_free(&tk);
    gc_log_info("hh: %d of %d sequences lose the start of their prompt, %d the end of their "
                "response (%d of %d pairs touched)",
                prompt_cut, 2 * n, response_cut, pairs_cut, n);
    return s;
}

static gc_status load_tokens(const rp_stage *st, void *ctx) {
    hh_ctx *h = ctx;
    char path[RP_PATH];
    rp_stage_file(st, "tokens.bin", path);
    char *data;
    size_t size;
    GC_TRY(gc_read_file(path, &data, &size));
    uint32_t hdr[2] = {0, 0};
    if (size >= 16) memcpy(hdr, data + 8, sizeof hdr);
    size_t n = hdr[0], L = hdr[1];
    gc_status s = GC_OK;
    if (size < 20 || memcmp(data, TOK_MAGIC, 8) || n == 0 || L == 0 || n > (1u << 24) ||
        L > (1u << 20) || size != 16 + 4 * (4 * n + 2 * n * L) + 4 ||
        !gc_crc_trailer_ok(data, size))
        s = gc_fail(GC_ERR_FORMAT, "%s: not a complete tokens file (delete the stage to recompute)",
                    path);
    if (s == GC_OK) s = tokens_alloc(&h->tk, (int)n, (int)L);
    if (s == GC_OK) {
        const char *q = data + 16;
        memcpy(h->tk.len, q, 8 * n), q += 8 * n;
        memcpy(h->tk.plen, q, 8 * n), q += 8 * n;
        memcpy(h->tk.tok, q, 8 * n * L);
        for (size_t k = 0; k < 2 * n && s == GC_OK; k++)
            if (h->tk.len[k] < 2 || h->tk.len[k] > (int)L || h->tk.plen[k] < 1 ||
                h->tk.plen[k] > h->tk.len[k] - 1) /* an empty response keeps its EOS */
                s = gc_fail(GC_ERR_FORMAT, "%s: sequence %zu has lengths %d / %d", path, k,
                            h->tk.plen[k], h->tk.len[k]);
    }
    free(data);
    if (s == GC_OK) {
        char ip[RP_PATH];
        rp_stage_file(st, "info.json", ip);
        s = gc_json_read(ip, &h->tk_info);
    }
    return s;
}

static const rp_stage_def TOKENS = {"hh-tokens", __FILE__, compute_tokens, load_tokens};

gc_status hh_stage_tokens(hh_ctx *h) {
    char path[RP_PATH];
    hh_data_path(h, h->data.file, path);
    char *data;
    size_t size;
    GC_TRY(gc_read_file(path, &data, &size)); /* the file's identity goes into the key */
    char crc[16];
    snprintf(crc, sizeof crc, "%08x", gc_crc32(data, size));
    free(data);
    cJSON *k = cJSON_CreateObject();
    cJSON_AddStringToObject(k, "file", h->data.file);
    cJSON_AddStringToObject(k, "file_crc32", crc);
    cJSON_AddNumberToObject(k, "file_bytes", (double)size);
    cJSON_AddNumberToObject(k, "pairs", (double)h->data.pairs);
    cJSON_AddStringToObject(k, "checkpoint", h->model.checkpoint);
    cJSON_AddStringToObject(k, "tokenizer", h->model.tokenizer);
    cJSON_AddNumberToObject(k, "context", (double)h->model.context);
    return rp_stage_run(h->r, &TOKENS, "hh-tokens", k, NULL, 0, h, &h->tk_stage);
}
