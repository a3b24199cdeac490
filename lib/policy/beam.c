#include "beam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/generate.h"
#include "lib/model/sampler.h"
#include "lib/util/rng.h"
#include "dpo.h"

/* ends a candidate step: step_end fed, or step_tokens new tokens */
typedef struct {
    int B, step_tokens;
    int32_t step_end;
    const int *plen; /* (B) */
} step_watch;

static gc_status watch(void *ctx, const int32_t *tok, const int32_t *pos, const uint8_t *active,
                       uint8_t *stop) {
    const step_watch *w = ctx;
    for (int b = 0; b < w->B; b++)
        if (active[b] && pos[b] >= w->plen[b] && /* a new token, not the prefix's last */
            ((w->step_end >= 0 && tok[b] == w->step_end) ||
             pos[b] + 1 - w->plen[b] >= w->step_tokens))
            stop[b] = 1;
    return GC_OK;
}

typedef struct {
    const int32_t *seq;
    int len;
    double score;
    uint8_t done;
} entry;

static const entry *g_pool; /* qsort's comparator reads the pool through this (one search at a
                               time per thread: the comparator has no context argument) */
#pragma omp threadprivate(g_pool)

static int by_score(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    double si = g_pool[i].score, sj = g_pool[j].score;
    if (si != sj) return si > sj ? -1 : 1;
    return (i > j) - (i < j);
}

void gc_beam_result_free(gc_beam_result *r) {
    free(r->seq), free(r->len), free(r->score), free(r->done);
    memset(r, 0, sizeof *r);
}

/* prompt p's beams after step t from its pool (np entries; idx scratch of np): the best K */
static void select_beams(gc_beam_result *o, entry *pool, int np, int *idx, int32_t *keep, int K) {
    int L = o->max_len, nu = 0; /* identical sequences count once: the first in pool order */
    for (int i = 0; i < np; i++) {
        int dup = 0;
        for (int u = 0; u < nu && !dup; u++)
            dup = pool[idx[u]].len == pool[i].len &&
                  !memcmp(pool[idx[u]].seq, pool[i].seq, sizeof(int32_t) * pool[i].len);
        if (!dup) idx[nu++] = i;
    }
    g_pool = pool;
    qsort(idx, (size_t)nu, sizeof(int), by_score);
    int kept = nu < K ? nu : K;
    for (int r = 0; r < kept; r++) { /* the pool points into o->seq: copy out first */
        const entry *e = &pool[idx[r]];
        memcpy(keep + (size_t)r * L, e->seq, sizeof(int32_t) * e->len);
        memset(keep + (size_t)r * L + e->len, 0, sizeof(int32_t) * (size_t)(L - e->len));
    }
    for (int r = 0; r < kept; r++) {
        const entry *e = &pool[idx[r]];
        o->len[r] = e->len, o->score[r] = e->score, o->done[r] = e->done;
    }
    memcpy(o->seq, keep, sizeof(int32_t) * (size_t)kept * L);
    o->n = kept;
}

static gc_status result_init(gc_beam_result *o, int K, int L, const int32_t *prompt, int plen) {
    memset(o, 0, sizeof *o);
    o->max_len = L;
    o->seq = gc_calloc((size_t)K * L, sizeof(int32_t)); /* unused positions hold 0 */
    o->len = gc_malloc(sizeof(int) * K);
    o->score = gc_malloc(sizeof(double) * K);
    o->done = gc_malloc(sizeof(uint8_t) * K);
    if (!o->seq || !o->len || !o->score || !o->done) return GC_ERR_NOMEM;
    memcpy(o->seq, prompt, sizeof(int32_t) * plen); /* one beam: the prompt */
    o->len[0] = plen, o->score[0] = 0, o->done[0] = 0, o->n = 1;
    return GC_OK;
}

gc_status gc_beam_search_batch(gc_model *m, const int32_t *const *prompts, const int *prompt_len,
                               int n, const gc_beam_config *c, gc_beam_score_fn score, void *ctx,
                               gc_beam_result *out) {
    int K = c->beam, S = c->samples, L = c->max_len;
    for (int p = 0; p < n; p++)
        memset(&out[p], 0, sizeof out[p]);
    int bad = -1;
    for (int p = 0; p < n && bad < 0; p++)
        if (prompt_len[p] < 1 || prompt_len[p] >= L) bad = p;
    if (n < 1 || K < 1 || S < 1 || c->step_tokens < 1 || c->max_steps < 0 || L > m->cfg.seq_len ||
        bad >= 0)
        return gc_fail(GC_ERR_ARG,
                       "beam search: %d prompt(s) (prompt %d of %d tokens), beam %d, samples %d, "
                       "step_tokens %d, max_steps %d, max_len %d (model seq_len %d)",
                       n, bad, bad >= 0 ? prompt_len[bad] : 0, K, S, c->step_tokens, c->max_steps,
                       L, m->cfg.seq_len);
    int B = n * K * S, P = K + K * S; /* candidates per step; one prompt's pool at most */
    int32_t *gen = gc_malloc(sizeof(int32_t) * (size_t)B * L);
    int32_t *keep = gc_malloc(sizeof(int32_t) * (size_t)K * L);
    const int32_t **pp = gc_malloc(sizeof(int32_t *) * B);
    int *plen = gc_malloc(sizeof(int) * B), *glen = gc_malloc(sizeof(int) * B);
    int *parent = gc_malloc(sizeof(int) * B), *idx = gc_malloc(sizeof(int) * P);
    int *first =
        gc_malloc(sizeof(int) * (n + 1)); /* prompt p's candidates: [first[p], first[p+1]) */
    double *lp = gc_malloc(sizeof(double) * B);
    gc_rng *rngs = gc_malloc(sizeof(gc_rng) * B);
    entry *pool = gc_malloc(sizeof(entry) * P);
    gc_status s = gen && keep && pp && plen && glen && parent && idx && first && lp && rngs && pool
                      ? GC_OK
                      : GC_ERR_NOMEM;
    for (int p = 0; p < n && s == GC_OK; p++)
        s = result_init(&out[p], K, L, prompts[p], prompt_len[p]);
    gc_sampler smp;
    int have_smp = 0;
    if (s == GC_OK) s = gc_sampler_init(&smp, m->cfg.vocab_size, c->temperature, c->top_p, c->seed);
    have_smp = s == GC_OK;
    for (int t = 0; s == GC_OK && t < c->max_steps; t++) {
        int nb = 0, longest = 0;
        for (int p = 0; p < n; p++) { /* every prompt's live beams, sampled together */
            gc_beam_result *o = &out[p];
            first[p] = nb;
            for (int j = 0; j < o->n; j++) {
                if (o->done[j]) continue;
                for (int k = 0; k < S; k++, nb++) {
                    uint64_t id = (((uint64_t)p * c->max_steps + t) * K + j) * S + k;
                    pp[nb] = o->seq + (size_t)j * L, plen[nb] = o->len[j], parent[nb] = j;
                    gc_rng_init(&rngs[nb], c->seed, gc_rng_stream(GC_STREAM_BEAM, id));
                }
                if (o->len[j] > longest) longest = o->len[j];
            }
        }
        first[n] = nb;
        if (nb == 0) break; /* every beam is finished */
        int T = longest + c->step_tokens < L ? longest + c->step_tokens : L;
        step_watch w = {nb, c->step_tokens, c->step_end, plen};
        gc_gen_monitor mon = {watch, &w};
        memset(gen, 0, sizeof(int32_t) * (size_t)nb * T); /* positions past a candidate's end */
        s = gc_generate_batch(m, &smp, rngs, nb, pp, plen, T, c->eos, gen, glen, NULL, &mon);
        if (s == GC_OK) s = gc_seq_logprob(m, gen, nb, T, plen, glen, 0, lp);
        for (int p = 0; s == GC_OK && p < n; p++) {
            gc_beam_result *o = &out[p];
            if (first[p] == first[p + 1]) continue; /* finished: its beams stay */
            o->steps = t + 1, o->candidates += first[p + 1] - first[p];
            int np = 0; /* the pool: finished beams, then the candidates */
            for (int j = 0; j < o->n; j++)
                if (o->done[j])
                    pool[np++] = (entry){o->seq + (size_t)j * L, o->len[j], o->score[j], 1};
            for (int b = first[p]; s == GC_OK && b < first[p + 1]; b++) {
                double sc = 0;
                const int32_t *row = gen + (size_t)b * T;
                s = score(ctx, row, plen[b], glen[b], lp[b], &sc);
                int ended = glen[b] >= L || (c->eos >= 0 && row[glen[b] - 1] == c->eos);
                pool[np++] = (entry){row, glen[b], o->score[parent[b]] + sc, (uint8_t)ended};
            }
            if (s == GC_OK) select_beams(o, pool, np, idx, keep, K);
        }
    }
    if (have_smp) gc_sampler_free(&smp);
    free(gen), free(keep), free(pp), free(plen), free(glen), free(parent), free(idx), free(first);
    free(lp), free(rngs), free(pool);
    for (int p = 0; s != GC_OK && p < n; p++)
        gc_beam_result_free(&out[p]);
    return s;
}

gc_status gc_beam_search(gc_model *m, const int32_t *prompt, int prompt_len,
                         const gc_beam_config *c, gc_beam_score_fn score, void *ctx,
                         gc_beam_result *out) {
    return gc_beam_search_batch(m, &prompt, &prompt_len, 1, c, score, ctx, out);
}

gc_status gc_beam_goal_score(void *ctx, const int32_t *seq, int prefix_len, int len, double lp_sum,
                             double *score) {
    const gc_beam_goal *g = ctx;
    int n = len - prefix_len;
    *score = g->lp_weight * (n > 0 ? lp_sum / n : 0);
    if (g->goal_weight == 0 || n <= 0) return GC_OK;
    int D = g->rm->model.cfg.dim;
    float *mean = gc_malloc(sizeof(float) * D);
    if (!mean) return GC_ERR_NOMEM;
    gc_status s = gc_rm_pool(g->rm, seq, len, prefix_len, mean);
    if (s == GC_OK) *score += g->goal_weight * gc_qvalue(mean, g->goal, D);
    free(mean);
    return s;
}
