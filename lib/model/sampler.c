#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

gc_status gc_sampler_init(gc_sampler *s, int32_t vocab_size, float temperature, float top_p,
                          uint64_t seed) {
    memset(s, 0, sizeof *s);
    if (vocab_size <= 0) return gc_fail(GC_ERR_ARG, "sampler: bad vocabulary size %d", vocab_size);
    if (!(temperature >= 0 && isfinite(temperature)))
        return gc_fail(GC_ERR_ARG, "sampler: temperature must be >= 0, got %g", temperature);
    if (!(top_p > 0 && top_p <= 1))
        return gc_fail(GC_ERR_ARG, "sampler: top-p must be in (0, 1], got %g", top_p);
    s->probs = gc_malloc(sizeof(float) * (size_t)vocab_size);
    s->order = gc_malloc(sizeof(int32_t) * (size_t)vocab_size);
    if (!s->probs || !s->order) {
        gc_sampler_free(s);
        return GC_ERR_NOMEM;
    }
    s->vocab_size = vocab_size;
    s->temperature = temperature;
    s->top_p = top_p;
    gc_rng_init(&s->rng, seed, gc_rng_stream(GC_STREAM_SAMPLER, 0));
    return GC_OK;
}

void gc_sampler_free(gc_sampler *s) {
    free(s->probs);
    free(s->order);
    memset(s, 0, sizeof *s);
}

int32_t gc_argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int32_t argmax_allowed(const float *x, int32_t n, const uint8_t *allowed) {
    int32_t best = -1;
    for (int32_t i = 0; i < n; i++)
        if (allowed[i] && (best < 0 || x[i] > x[best])) best = i;
    return best < 0 ? gc_argmax(x, n) : best;
}

static const float *g_cmp_probs;
static int cmp_desc(const void *a, const void *b) {
    float pa = g_cmp_probs[*(const int32_t *)a], pb = g_cmp_probs[*(const int32_t *)b];
    if (pa != pb) return pa > pb ? -1 : 1;
    return *(const int32_t *)a - *(const int32_t *)b; /* stable: lower id first */
}

int32_t gc_sampler_sample(gc_sampler *s, const float *logits) {
    return gc_sampler_sample_rng(s, logits, &s->rng);
}

int32_t gc_sampler_sample_rng(gc_sampler *s, const float *logits, gc_rng *rng) {
    int32_t V = s->vocab_size;
    if (s->temperature == 0.0f)
        return s->allowed ? argmax_allowed(logits, V, s->allowed) : gc_argmax(logits, V);
    float mx = logits[s->allowed ? argmax_allowed(logits, V, s->allowed) : gc_argmax(logits, V)];
    double sum = 0;
    for (int32_t i = 0; i < V; i++) {
        s->probs[i] = s->allowed && !s->allowed[i] ? 0.0f : expf((logits[i] - mx) / s->temperature);
        sum += s->probs[i];
    }
    for (int32_t i = 0; i < V; i++)
        s->probs[i] = (float)(s->probs[i] / sum);
    float u = gc_rng_uniform(rng);
    if (s->top_p >= 1.0f) {
        double cdf = 0;
        int32_t last = 0;
        for (int32_t i = 0; i < V; i++) {
            if (s->probs[i] > 0) last = i;
            cdf += s->probs[i];
            if (u < cdf) return i;
        }
        return last; /* rounding left u above the total: the last drawable token */
    }
    /* nucleus: the smallest set of most likely tokens whose mass reaches top_p */
    for (int32_t i = 0; i < V; i++)
        s->order[i] = i;
    g_cmp_probs = s->probs;
    qsort(s->order, (size_t)V, sizeof(int32_t), cmp_desc);
    double mass = 0;
    int32_t last = V - 1;
    for (int32_t i = 0; i < V; i++) {
        mass += s->probs[s->order[i]];
        if (mass >= s->top_p) {
            last = i;
            break;
        }
    }
    double target = u * mass, cdf = 0;
    for (int32_t i = 0; i <= last; i++) {
        cdf += s->probs[s->order[i]];
        if (target < cdf) return s->order[i];
    }
    return s->order[last];
}
