#include "generate.h"

#include <stdlib.h>
#include <string.h>

gc_status gc_generate_text(gc_model *m, const gc_tokenizer *tok, gc_sampler *sampler,
                           const char *prompt, int steps, FILE *out, int *n_generated) {
    if (n_generated) *n_generated = 0;
    if (steps <= 0) return gc_fail(GC_ERR_ARG, "generate: steps must be positive, got %d", steps);
    if (steps > m->cfg.seq_len) steps = m->cfg.seq_len;
    const char *text = prompt ? prompt : "";
    int32_t *ptoks = gc_malloc(sizeof(int32_t) * (strlen(text) + 3));
    if (!ptoks) return GC_ERR_NOMEM;
    int np = 0;
    gc_status s = gc_tokenizer_encode(tok, text, 1, 0, ptoks, &np);
    gc_kvcache kc;
    if (s == GC_OK) s = gc_kvcache_init(&kc, &m->cfg, 1, steps);
    if (s != GC_OK) {
        free(ptoks);
        return s;
    }
    int32_t token = ptoks[0];
    int generated = 0;
    for (int32_t pos = 0; pos < steps; pos++) {
        s = gc_model_decode(m, &kc, &token, &pos);
        if (s != GC_OK) break;
        int32_t next;
        if (pos + 1 < np) {
            next = ptoks[pos + 1]; /* still forcing the prompt */
        } else {
            next = gc_sampler_sample(sampler, kc.logits);
            generated++;
        }
        if (next == GC_TOK_BOS) break; /* as llama2.c: BOS delimits sequences */
        char bb[2];
        size_t len;
        const char *piece = gc_tokenizer_piece(tok, token, next, bb, &len);
        if (len && fwrite(piece, 1, len, out) != len) {
            s = gc_fail(GC_ERR_IO, "generate: write to output failed");
            break;
        }
        fflush(out);
        token = next;
    }
    gc_kvcache_free(&kc);
    free(ptoks);
    if (n_generated) *n_generated = generated;
    return s;
}

gc_status gc_generate_batch(gc_model *m, gc_sampler *sampler, gc_rng *rngs, int B,
                            const int32_t *const *prompts, const int *prompt_len, int max_T,
                            int32_t eos, int32_t *seq, int *len, float *hidden,
                            const gc_gen_monitor *monitor) {
    if (B <= 0 || max_T <= 0 || max_T > m->cfg.seq_len)
        return gc_fail(GC_ERR_ARG, "generate: bad batch %d or length %d (seq_len %d)", B, max_T,
                       m->cfg.seq_len);
    for (int b = 0; b < B; b++) {
        if (prompt_len[b] < 1 || prompt_len[b] > max_T)
            return gc_fail(GC_ERR_ARG, "generate: prompt %d has %d tokens (max %d)", b,
                           prompt_len[b], max_T);
        memcpy(seq + (size_t)b * max_T, prompts[b], sizeof(int32_t) * (size_t)prompt_len[b]);
        len[b] = prompt_len[b];
    }
    gc_kvcache kc;
    GC_TRY(gc_kvcache_init(&kc, &m->cfg, B, max_T));
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)B),
            *pos = gc_malloc(sizeof(int32_t) * (size_t)B);
    uint8_t *done = gc_calloc((size_t)B, 1), *active = gc_malloc((size_t)B);
    uint8_t *stop = gc_malloc((size_t)B);
    gc_status s = tok && pos && done && active && stop ? GC_OK : GC_ERR_NOMEM;
    kc.active = active;
    int D = m->cfg.dim, V = m->cfg.vocab_size;
    for (int t = 0; s == GC_OK && t + 1 < max_T; t++) {
        int n_active = 0;
        for (int b = 0; b < B; b++) {
            const int32_t *row = seq + (size_t)b * max_T;
            tok[b] = t < len[b] ? row[t] : row[0]; /* finished rows idle on a harmless token */
            pos[b] = t;
            active[b] = !done[b];
            n_active += !done[b];
        }
        if (!n_active) break;
        s = gc_model_decode(m, &kc, tok, pos);
        if (s == GC_OK && monitor) {
            memset(stop, 0, (size_t)B);
            s = monitor->fn(monitor->ctx, tok, pos, active, stop);
            for (int b = 0; b < B; b++)
                if (active[b] && stop[b] && t + 1 >= len[b]) done[b] = 1; /* not mid-prompt */
        }
        if (s != GC_OK) break;
        for (int b = 0; b < B; b++) {
            if (hidden && t < len[b])
                memcpy(hidden + ((size_t)b * max_T + t) * D, kc.hf + (size_t)b * D,
                       sizeof(float) * D);
            if (done[b] || t + 1 < len[b]) continue; /* finished, or still reading its prompt */
            int32_t next = rngs
                               ? gc_sampler_sample_rng(sampler, kc.logits + (size_t)b * V, &rngs[b])
                               : gc_sampler_sample(sampler, kc.logits + (size_t)b * V);
            seq[(size_t)b * max_T + len[b]++] = next;
            if (next == eos || len[b] >= max_T) done[b] = 1;
        }
    }
    if (hidden && s == GC_OK) { /* the last token of each sequence was never fed: one more step */
        kc.active = NULL;
        for (int b = 0; b < B; b++) {
            tok[b] = seq[(size_t)b * max_T + len[b] - 1];
            pos[b] = len[b] - 1;
        }
        s = gc_model_decode(m, &kc, tok, pos);
        for (int b = 0; s == GC_OK && b < B; b++)
            memcpy(hidden + ((size_t)b * max_T + len[b] - 1) * D, kc.hf + (size_t)b * D,
                   sizeof(float) * D);
    }
    free(tok), free(pos), free(done), free(active), free(stop);
    gc_kvcache_free(&kc);
    return s;
}
