#include "seqset.h"

#include <stdlib.h>
#include <string.h>

#include "optim.h"
#include "lib/util/rng.h"

gc_status gc_seqset_init(gc_seqset *s, int n, int max_len) {
    memset(s, 0, sizeof *s);
    if (n <= 0 || max_len <= 1) return gc_fail(GC_ERR_ARG, "seqset: bad size %d x %d", n, max_len);
    size_t cells = (size_t)n * max_len;
    s->tokens = gc_calloc(cells, sizeof(int32_t));
    s->targets = gc_malloc(cells * sizeof(int32_t));
    s->len = gc_calloc((size_t)n, sizeof(int));
    s->prompt_len = gc_calloc((size_t)n, sizeof(int));
    if (!s->tokens || !s->targets || !s->len || !s->prompt_len) {
        gc_seqset_free(s);
        return GC_ERR_NOMEM;
    }
    for (size_t i = 0; i < cells; i++)
        s->targets[i] = -1;
    s->n = n;
    s->max_len = max_len;
    return GC_OK;
}

void gc_seqset_free(gc_seqset *s) {
    free(s->tokens), free(s->targets), free(s->len), free(s->prompt_len);
    memset(s, 0, sizeof *s);
}

gc_status gc_seqset_set(gc_seqset *s, int i, const int32_t *prompt, int np, const int32_t *resp,
                        int nr) {
    if (i < 0 || i >= s->n || np < 1 || nr < 1 || np + nr > s->max_len)
        return gc_fail(GC_ERR_ARG, "seqset: sequence %d of %d + %d tokens does not fit %d", i, np,
                       nr, s->max_len);
    int32_t *tok = s->tokens + (size_t)i * s->max_len, *tgt = s->targets + (size_t)i * s->max_len;
    memcpy(tok, prompt, sizeof(int32_t) * np);
    memcpy(tok + np, resp, sizeof(int32_t) * nr);
    for (int t = 0; t < s->max_len; t++)
        tgt[t] = -1;
    for (int t = np - 1; t < np + nr - 1; t++)
        tgt[t] = tok[t + 1]; /* predict the response */
    s->len[i] = np + nr;
    s->prompt_len[i] = np;
    return GC_OK;
}

void gc_seqset_batch(const gc_seqset *d, gc_rng *r, int B, int *idx, int32_t *tok, int32_t *tgt,
                     int *len, int *T_out) {
    int T = 0;
    for (int b = 0; b < B; b++) {
        idx[b] = (int)gc_rng_below(r, (uint32_t)d->n);
        len[b] = d->len[idx[b]];
        if (len[b] > T) T = len[b];
    }
    T = (T + 7) / 8 * 8;
    if (T > d->max_len) T = d->max_len;
    for (int b = 0; b < B; b++) {
        memcpy(tok + (size_t)b * T, d->tokens + (size_t)idx[b] * d->max_len, sizeof(int32_t) * T);
        memcpy(tgt + (size_t)b * T, d->targets + (size_t)idx[b] * d->max_len, sizeof(int32_t) * T);
    }
    *T_out = T;
}

gc_status gc_sft_train(gc_model *m, const gc_seqset *data, const gc_sft_config *cfg,
                       float *last_loss) {
    if (cfg->steps <= 0 || cfg->batch <= 0)
        return gc_fail(GC_ERR_ARG, "sft: steps and batch must be positive");
    const gc_sft_state *from = cfg->resume;
    if (from && (from->opt.n != m->n_params || from->opt.step < 0 || from->opt.step > cfg->steps))
        return gc_fail(GC_ERR_ARG,
                       "sft: a saved state of %zu parameters at step %lld does not "
                       "continue this run (%zu parameters, %d steps)",
                       from->opt.n, (long long)from->opt.step, m->n_params, cfg->steps);
    gc_sft_state st = {0};
    GC_TRY(gc_adamw_init(&st.opt, m->n_params, 0.9f, 0.95f, 1e-8f, cfg->weight_decay));
    if (from) {
        memcpy(st.opt.m, from->opt.m, sizeof(float) * m->n_params);
        memcpy(st.opt.v, from->opt.v, sizeof(float) * m->n_params);
        st.opt.step = from->opt.step;
        st.tail = from->tail, st.window = from->window, st.tail_n = from->tail_n;
    }
    int B = cfg->batch;
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)B * data->max_len);
    int32_t *tgt = gc_malloc(sizeof(int32_t) * (size_t)B * data->max_len);
    int *idx = gc_malloc(sizeof(int) * (size_t)B), *len = gc_malloc(sizeof(int) * (size_t)B);
    gc_status s = tok && tgt && idx && len ? GC_OK : GC_ERR_NOMEM;
    int tail_from = cfg->steps - (cfg->steps + 9) / 10;
    gc_progress prog;
    gc_progress_init(&prog, "sft", cfg->steps);
    for (int step = (int)st.opt.step; s == GC_OK && step < cfg->steps; step++) {
        gc_rng r;
        gc_rng_init(&r, cfg->seed, gc_rng_stream(GC_STREAM_SFT_BATCH, (uint64_t)step));
        int T = 0;
        gc_seqset_batch(data, &r, B, idx, tok, tgt, len, &T);
        if (T > m->cfg.seq_len) {
            s = gc_fail(GC_ERR_ARG, "sft: sequences of %d tokens exceed seq_len %d", T,
                        m->cfg.seq_len);
            break;
        }
        float loss;
        s = gc_lm_step(m, &st.opt, &cfg->sched, tok, tgt, B, T, len, &loss, NULL);
        if (step >= tail_from) st.tail += loss, st.tail_n++;
        st.window += loss;
        if (cfg->log_every > 0 && (step + 1) % cfg->log_every == 0) {
            gc_log_info("sft: step %d loss %.4f", step + 1, st.window / cfg->log_every);
            st.window = 0;
        }
        gc_progress_update(&prog, step + 1);
        if (s == GC_OK && cfg->on_step)
            s = cfg->on_step(cfg->on_step_ctx, m, &st, step + 1 == cfg->steps);
    }
    gc_progress_end(&prog);
    if (last_loss) *last_loss = st.tail_n ? (float)(st.tail / st.tail_n) : 0.0f;
    free(tok), free(tgt), free(idx), free(len);
    gc_adamw_free(&st.opt);
    return s;
}
