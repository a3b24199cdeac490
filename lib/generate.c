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
