/* sampler: next-token choice from logits: greedy (temperature 0), temperature, nucleus (top-p).
 *
 * Contract: gc_sampler owns a scratch buffer of vocab_size entries (gc_sampler_free releases it)
 * and a counter-based RNG stream, so a seed fixes every draw. Greedy returns the first index of
 * the maximum, as llama2.c does. gc_sampler_sample does not modify the logits.
 */
#ifndef GC_SAMPLER_H
#define GC_SAMPLER_H

#include <stdint.h>

#include "lib/util/base.h"
#include "lib/util/rng.h"

typedef struct {
    int32_t vocab_size;
    float temperature; /* 0 = greedy */
    float top_p;       /* in (0, 1]; 1 = no truncation */
    gc_rng rng;
    float *probs;           /* (vocab_size) scratch */
    int32_t *order;         /* (vocab_size) scratch */
    const uint8_t *allowed; /* (vocab_size) or NULL: tokens with 0 are never drawn (borrowed) */
} gc_sampler;

gc_status gc_sampler_init(gc_sampler *s, int32_t vocab_size, float temperature, float top_p,
                          uint64_t seed);
void gc_sampler_free(gc_sampler *s);
int32_t gc_sampler_sample(gc_sampler *s, const float *logits);
/* The same with the caller's RNG stream (one stream per sequence keeps batched sampling
 * independent of batch composition). */
int32_t gc_sampler_sample_rng(gc_sampler *s, const float *logits, gc_rng *rng);
int32_t gc_argmax(const float *x, int32_t n);

#endif
