/* rng: counter-based random numbers (Philox 4x32-10, Salmon et al. 2011).
 *
 * Contract: a draw is a pure function of (seed, stream, counter), so any device can reproduce any
 * draw without shared state, and streams with different ids are independent. gc_rng is a small
 * value type holding (seed, stream, counter, buffered block); it owns no memory. Same seed and
 * stream give the same sequence on every platform.
 */
#ifndef GC_RNG_H
#define GC_RNG_H

#include <stdint.h>

/* One Philox 4x32-10 block: counter (4 words) and key (2 words) -> 4 random words. */
void gc_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

typedef struct {
    uint64_t seed;
    uint64_t stream;
    uint64_t counter; /* index of the next 4-word block */
    uint32_t buf[4];
    int used;         /* words of buf already consumed (4 = empty) */
} gc_rng;

void gc_rng_init(gc_rng *r, uint64_t seed, uint64_t stream);
uint32_t gc_rng_u32(gc_rng *r);
/* Uniform in [0, 1) with 24 bits of resolution (exactly representable as float). */
float gc_rng_uniform(gc_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint32_t gc_rng_below(gc_rng *r, uint32_t n);
/* Standard normal (Box-Muller on two uniforms). */
float gc_rng_normal(gc_rng *r);

#endif
