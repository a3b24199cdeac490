/* Growing a model in depth: a trained trunk plus new transformer blocks that start as the
 * identity (model.h, gc_model_grow). */
#include <math.h>
#include <string.h>

#include "model.h"
#include "lib/util/rng.h"

gc_status gc_model_grow(const gc_model *src, int extra, uint64_t seed, gc_model *out) {
    if (extra < 0 || extra > 64)
        return gc_fail(GC_ERR_ARG, "grow: %d extra layers (0 to 64)", extra);
    gc_model_config c = src->cfg;
    c.n_layers += extra;
    GC_TRY(gc_model_init(out, &c));
    const gc_model_config *sc = &src->cfg;
    size_t D = c.dim, H = c.hidden_dim, KV = (size_t)c.n_kv_heads * (D / c.n_heads);
    /* the trunk's tensors: whole ones copied, per-layer ones into layers [0, L) */
    for (int t = 0; t < GC_N_TENSORS; t++) {
        const gc_tensor_info *a = &src->tensors[t], *b = &out->tensors[t];
        memcpy(out->params + b->offset, src->params + a->offset, sizeof(float) * a->size);
    }
    /* new layers L .. L + extra - 1: norms at 1, input projections small and random, output
     * projections wo and w2 zero, so each new block adds nothing to the residual stream until it
     * learns to */
    gc_rng r;
    gc_rng_init(&r, seed, gc_rng_stream(GC_STREAM_GROW, 0));
    for (int l = sc->n_layers; l < c.n_layers; l++) {
        gc_layer_params w = gc_model_layer(&out->p, &c, l);
        for (size_t i = 0; i < D; i++)
            w.attn_norm[i] = w.ffn_norm[i] = 1.0f;
        for (size_t i = 0; i < (D + 2 * KV) * D; i++)
            w.wqkv[i] = 0.02f * gc_rng_normal(&r);
        for (size_t i = 0; i < 2 * H * D; i++)
            w.w13[i] = 0.02f * gc_rng_normal(&r);
        memset(w.wo, 0, sizeof(float) * D * D);
        memset(w.w2, 0, sizeof(float) * D * H);
    }
    return GC_OK;
}
