#include "mathpipe.h"

#include "lib/model/seqset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chartok.h"
#include "lib/model/generate.h"
#include "lib/model/sampler.h"

int gc_math_prompt(const char *question, int32_t *out, int cap) {
    int n = 0;
    if (cap < 1) return -1;
    out[n++] = GC_CHAR_BOS;
    return gc_chartok_encode(question, out, cap, &n) == GC_OK ? n : -1;
}

int gc_math_response(const char *text, int32_t *out, int cap) {
    int n = 0;
    if (gc_chartok_encode(text, out, cap - 1, &n) != GC_OK) return -1;
    out[n++] = GC_CHAR_EOS;
    return n;
}

gc_status gc_qwatch_init(gc_qwatch *w, const gc_qfilter *f, int B, int max_T) {
    *w = (gc_qwatch){f, {0}, NULL, gc_malloc(sizeof(int) * (B > 0 ? B : 1))};
    if (!w->cut) return GC_ERR_NOMEM;
    gc_status s = gc_kvcache_init(&w->kc, &f->rm->model.cfg, B, max_T);
    if (s != GC_OK) free(w->cut), w->cut = NULL;
    return s;
}

void gc_qwatch_batch(gc_qwatch *w, int nb, const int *plen) {
    w->kc.B = nb; /* the watcher decodes the batch's rows only */
    w->plen = plen;
    for (int b = 0; b < nb; b++)
        w->cut[b] = -1;
}

void gc_qwatch_free(gc_qwatch *w) {
    if (w->cut) gc_kvcache_free(&w->kc);
    free(w->cut);
    memset(w, 0, sizeof *w);
}

gc_status gc_qwatch_step(void *ctx, const int32_t *tok, const int32_t *pos, const uint8_t *active,
                         uint8_t *stop) {
    gc_qwatch *w = ctx;
    gc_model *rm = &w->f->rm->model;
    w->kc.active = active;
    GC_TRY(gc_model_decode(rm, &w->kc, tok, pos));
    int D = rm->cfg.dim;
    for (int b = 0; b < w->kc.B; b++) {
        int j = pos[b] - w->plen[b]; /* response-token index of the token just fed */
        if (!active[b] || j < w->f->skip || w->cut[b] >= 0) continue;
        if (gc_qvalue(w->kc.hf + (size_t)b * D, w->f->goal, D) < w->f->tau)
            w->cut[b] = j, stop[b] = 1;
    }
    return GC_OK;
}

static gc_status sample_impl(gc_model *m, const char *const *questions, int n, int samples,
                             const gc_sample_config *c, const gc_qfilter *filter, char **out,
                             int *cut, int64_t *n_tokens) {
    int total = n * samples, B = c->batch > 0 ? c->batch : 64, L = c->max_len;
    gc_sample_resume *rs = c->resume;
    int first = rs ? rs->done : 0;
    int64_t gen = rs ? rs->tokens : 0;
    if (first < 0 || first > total || (first % B && first != total))
        return gc_fail(GC_ERR_ARG, "sample: cannot resume after %d of %d items in batches of %d",
                       first, total, B);
    if (L > m->cfg.seq_len) L = m->cfg.seq_len;
    L -= 1; /* room for the EOS every scored response ends with */
    gc_sampler smp;
    GC_TRY(gc_sampler_init(&smp, m->cfg.vocab_size, c->temperature, c->top_p, c->seed));
    if (m->cfg.vocab_size == GC_CHAR_VOCAB) smp.allowed = gc_chartok_allowed(); /* text only */
    int32_t *prompts = gc_malloc(sizeof(int32_t) * (size_t)B * L);
    int32_t *seq = gc_malloc(sizeof(int32_t) * (size_t)B * L);
    int32_t **pp = gc_malloc(sizeof(int32_t *) * B);
    int *plen = gc_malloc(sizeof(int) * B), *len = gc_malloc(sizeof(int) * B);
    gc_rng *rngs = gc_malloc(sizeof(gc_rng) * B);
    char *buf = gc_malloc((size_t)L + 1);
    gc_status s = prompts && seq && pp && plen && len && rngs && buf ? GC_OK : GC_ERR_NOMEM;
    gc_qwatch w = {0};
    gc_gen_monitor mon = {gc_qwatch_step, &w};
    if (s == GC_OK && filter) s = gc_qwatch_init(&w, filter, B, L);
    for (int i = first; i < total; i++)
        out[i] = NULL;
    gc_progress prog;
    gc_progress_init(&prog, "sample", total);
    for (int start = first; s == GC_OK && start < total; start += B) {
        int nb = total - start < B ? total - start : B;
        for (int b = 0; b < nb; b++) {
            int q = (start + b) / samples;
            pp[b] = prompts + (size_t)b * L;
            plen[b] = gc_math_prompt(questions[q], pp[b], L - 1);
            if (plen[b] < 0) {
                s = gc_fail(GC_ERR_ARG, "sample: question %d does not fit %d tokens: %s", q, L,
                            gc_last_error());
                break;
            }
            gc_rng_init(&rngs[b], c->seed, gc_rng_stream(GC_STREAM_SAMPLE, (uint64_t)(start + b)));
        }
        if (s != GC_OK) break;
        if (filter) gc_qwatch_batch(&w, nb, plen);
        s = gc_generate_batch(m, &smp, rngs, nb, (const int32_t *const *)pp, plen, L, GC_CHAR_EOS,
                              seq, len, NULL, filter ? &mon : NULL);
        for (int b = 0; filter && cut && b < nb; b++)
            cut[start + b] = w.cut[b];
        for (int b = 0; s == GC_OK && b < nb; b++) {
            gc_chartok_decode(seq + (size_t)b * L + plen[b], len[b] - plen[b], buf, (size_t)L + 1);
            gen += len[b] - plen[b];
            size_t sl = strlen(buf);
            out[start + b] = gc_malloc(sl + 1);
            if (!out[start + b])
                s = GC_ERR_NOMEM;
            else
                memcpy(out[start + b], buf, sl + 1);
        }
        gc_progress_update(&prog, start + nb);
        if (s == GC_OK && rs && rs->after_batch)
            s = rs->after_batch(rs->ctx, start + nb, gen, start + nb == total);
    }
    gc_progress_end(&prog);
    if (s != GC_OK)
        for (int i = 0; i < total; i++)
            free(out[i]), out[i] = NULL;
    if (n_tokens) *n_tokens = gen;
    free(prompts), free(seq), free(pp), free(plen), free(len), free(rngs), free(buf);
    if (filter) gc_qwatch_free(&w);
    gc_sampler_free(&smp);
    return s;
}

gc_status gc_math_sample(gc_model *m, const char *const *questions, int n, int samples,
                         const gc_sample_config *c, char **out, int64_t *n_tokens) {
    return sample_impl(m, questions, n, samples, c, NULL, out, NULL, n_tokens);
}

gc_status gc_math_sample_filtered(gc_model *m, const gc_qfilter *f, const char *const *questions,
                                  int n, int samples, const gc_sample_config *c, char **out,
                                  int *cut, int64_t *n_tokens) {
    return sample_impl(m, questions, n, samples, c, f, out, cut, n_tokens);
}

gc_status gc_math_hidden_each(gc_model *m, int want_logits, const char *const *questions,
                              const char *const *responses, int n, int max_len, int batch,
                              gc_math_hidden_fn fn, void *ctx) {
    int B = batch > 0 ? batch : 32, L = max_len, D = m->cfg.dim, V = m->cfg.vocab_size;
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)B * L),
            *tmp = gc_malloc(sizeof(int32_t) * L);
    int *len = gc_malloc(sizeof(int) * B), *plen = gc_malloc(sizeof(int) * B);
    gc_status s = tok && tmp && len && plen ? GC_OK : GC_ERR_NOMEM;
    for (int start = 0; s == GC_OK && start < n; start += B) {
        int nb = n - start < B ? n - start : B, T = 0;
        memset(tok, 0, sizeof(int32_t) * (size_t)B * L);
        for (int b = 0; b < nb && s == GC_OK; b++) {
            int np = gc_math_prompt(questions[start + b], tok + (size_t)b * L, L);
            int nr = np < 0 ? -1 : gc_math_response(responses[start + b], tmp, L - np);
            if (nr < 0) {
                s = gc_fail(GC_ERR_ARG, "score: item %d does not fit %d tokens", start + b, L);
                break;
            }
            memcpy(tok + (size_t)b * L + np, tmp, sizeof(int32_t) * nr);
            plen[b] = np, len[b] = np + nr;
            if (len[b] > T) T = len[b];
        }
        if (s != GC_OK) break;
        /* compact rows to stride T */
        for (int b = 1; b < nb; b++)
            memmove(tok + (size_t)b * T, tok + (size_t)b * L, sizeof(int32_t) * T);
        s = gc_model_forward_len(m, tok, nb, T, len, want_logits);
        for (int b = 0; s == GC_OK && b < nb; b++)
            s = fn(ctx, start + b, m->hf + (size_t)b * T * D,
                   want_logits ? m->logits + (size_t)b * T * V : NULL, tok + (size_t)b * T, plen[b],
                   len[b]);
    }
    free(tok), free(tmp), free(len), free(plen);
    return s;
}

typedef struct {
    const gc_rm *rm;
    float *out;
    gc_goal *goal;
} score_ctx;

static gc_status score_item(void *ctx, int item, const float *h, const float *logits,
                            const int32_t *tok, int prompt_len, int len) {
    (void)logits, (void)tok, (void)prompt_len;
    score_ctx *sc = ctx;
    const float *last = h + (size_t)(len - 1) * sc->rm->model.cfg.dim;
    sc->out[item] = gc_rm_reward(sc->rm, last);
    if (sc->goal) gc_goal_add(sc->goal, last);
    return GC_OK;
}

gc_status gc_math_score(gc_rm *rm, const char *const *questions, const char *const *responses,
                        int n, int max_len, int batch, float *out, gc_goal *goal) {
    score_ctx sc = {rm, out, goal};
    return gc_math_hidden_each(&rm->model, 0, questions, responses, n, max_len, batch, score_item,
                               &sc);
}

typedef struct {
    int V;
    float *mean, *min_result; /* (n) each; min_result may be NULL */
    gc_domain domain;         /* which tokens are computed results (min_result) */
} logprob_ctx;

static gc_status logprob_item(void *ctx, int item, const float *h, const float *logits,
                              const int32_t *tok, int prompt_len, int len) {
    (void)h;
    logprob_ctx *lc = ctx;
    double sum = 0, low = INFINITY;
    /* a computed result: arith's digits after '=' or on the "####" line; graph's new node of a
     * step (a line's second letter) or the letters on the "####" line */
    int in_result = 0, col = 0; /* col: the predicted token's column in its line */
    for (int t = prompt_len - 1; t < len - 1; t++) { /* position t predicts token t + 1 */
        const float *row = logits + (size_t)t * lc->V;
        float mx = row[0];
        for (int v = 1; v < lc->V; v++)
            mx = row[v] > mx ? row[v] : mx;
        double z = 0;
        for (int v = 0; v < lc->V; v++)
            z += exp((double)row[v] - mx);
        double lp = (double)row[tok[t + 1]] - mx - log(z);
        sum += lp;
        int32_t c = tok[t + 1];
        int computed;
        if (lc->domain == GC_DOMAIN_GRAPH) {
            if (c == '#') in_result = 1;
            computed = c >= 'a' && c <= 'z' && (in_result || col == 1);
        } else {
            if (c == '=' || c == '#') in_result = 1;
            computed = in_result && c >= '0' && c <= '9';
        }
        if (c == '\n') in_result = 0;
        col = c == '\n' ? 0 : col + 1;
        if (computed && lp < low) low = lp;
    }
    double mean = sum / (len - prompt_len);
    lc->mean[item] = (float)mean;
    if (lc->min_result) lc->min_result[item] = (float)(isfinite(low) ? low : mean);
    return GC_OK;
}

gc_status gc_math_logprob(gc_model *m, const char *const *questions, const char *const *responses,
                          int n, int max_len, int batch, float *out) {
    logprob_ctx lc = {m->cfg.vocab_size, out, NULL, GC_DOMAIN_ARITH};
    return gc_math_hidden_each(m, 1, questions, responses, n, max_len, batch, logprob_item, &lc);
}

gc_status gc_math_logprob_stats(gc_model *m, const char *const *questions,
                                const char *const *responses, int n, int max_len, int batch,
                                gc_domain domain, float *mean, float *min_result) {
    logprob_ctx lc = {m->cfg.vocab_size, mean, min_result, domain};
    return gc_math_hidden_each(m, 1, questions, responses, n, max_len, batch, logprob_item, &lc);
}

/* ---- preference pairs in batches ---- */

/* The order of one epoch: a fresh shuffle; then, within windows of 8 batches, pairs sorted by
 * length so a batch pads little; then the batches themselves in random order. */
void gc_math_pair_order(gc_rng *rng, int n, int P, const int *len, int *order, int *batch_perm,
                        int n_batches) {
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)gc_rng_below(rng, (uint32_t)(i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (int w = 0; w < n; w += 8 * P) {
        int end = w + 8 * P < n ? w + 8 * P : n;
        for (int i = w + 1; i < end; i++) { /* insertion sort: windows are small */
            int pk = order[i], j = i - 1;
            while (j >= w && len[order[j]] > len[pk])
                order[j + 1] = order[j], j--;
            order[j + 1] = pk;
        }
    }
    for (int i = 0; i < n_batches; i++)
        batch_perm[i] = i;
    for (int i = n_batches - 1; i > 0; i--) {
        int j = (int)gc_rng_below(rng, (uint32_t)(i + 1)), t = batch_perm[i];
        batch_perm[i] = batch_perm[j], batch_perm[j] = t;
    }
}

/* Tokens of the batch's nb pairs (chosen, rejected interleaved) packed to the longest, T. */
gc_status gc_math_pack_pairs(const char *const *prompt, const char *const *chosen,
                             const char *const *rejected, const int *items, int nb, int L,
                             int32_t *tok, int32_t *tmp, int *plen, int *len, int *T) {
    *T = 0;
    memset(tok, 0, sizeof(int32_t) * (size_t)2 * nb * L);
    for (int b = 0; b < 2 * nb; b++) {
        int i = items[b / 2];
        int32_t *row = tok + (size_t)b * L;
        int np = gc_math_prompt(prompt[i], row, L);
        int nr = np < 0 ? -1 : gc_math_response(b % 2 ? rejected[i] : chosen[i], tmp, L - np);
        if (nr < 0) return gc_fail(GC_ERR_ARG, "pairs: pair %d does not fit %d tokens", i, L);
        memcpy(row + np, tmp, sizeof(int32_t) * nr);
        plen[b] = np, len[b] = np + nr;
        if (len[b] > *T) *T = len[b];
    }
    for (int b = 1; b < 2 * nb; b++)
        memmove(tok + (size_t)b * *T, tok + (size_t)b * L, sizeof(int32_t) * *T);
    return GC_OK;
}

/* The goal state: mean final hidden state at the last token of the preferred responses. */

gc_status gc_math_sft_set(const gc_problem *p, int n, int L, gc_seqset *out) {
    GC_TRY(gc_seqset_init(out, n, L));
    int32_t *pr = gc_malloc(sizeof(int32_t) * L), *rs = gc_malloc(sizeof(int32_t) * L);
    gc_status s = pr && rs ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < n; i++) {
        int np = gc_math_prompt(p[i].question, pr, L);
        int nr = np < 0 ? -1 : gc_math_response(p[i].solution, rs, L);
        if (np < 0 || nr < 0 || np + nr > L) {
            s = gc_fail(GC_ERR_CONFIG, "problem %d needs more than %d tokens", i, L);
            break;
        }
        s = gc_seqset_set(out, i, pr, np, rs, nr);
    }
    free(pr), free(rs);
    if (s != GC_OK) gc_seqset_free(out);
    return s;
}
