#include "rng.h"

#include <string.h>

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void gc_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

void gc_rng_init(gc_rng *r, uint64_t seed, uint64_t stream) {
    r->seed = seed;
    r->stream = stream;
    r->counter = 0;
    memset(r->buf, 0, sizeof r->buf); /* unused until the first draw; set, so states compare */
    r->used = 4;
}

uint32_t gc_rng_u32(gc_rng *r) {
    if (r->used >= 4) {
        uint32_t ctr[4] = {(uint32_t)r->counter, (uint32_t)(r->counter >> 32), (uint32_t)r->stream,
                           (uint32_t)(r->stream >> 32)};
        uint32_t key[2] = {(uint32_t)r->seed, (uint32_t)(r->seed >> 32)};
        gc_philox4x32(ctr, key, r->buf);
        r->counter++;
        r->used = 0;
    }
    return r->buf[r->used++];
}

float gc_rng_uniform(gc_rng *r) {
    return (float)(gc_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

uint32_t gc_rng_below(gc_rng *r, uint32_t n) {
    uint32_t limit = UINT32_MAX - UINT32_MAX % n;
    uint32_t x;
    do
        x = gc_rng_u32(r);
    while (x >= limit);
    return x % n;
}

float gc_rng_normal(gc_rng *r) {
    float u1 = gc_rng_uniform(r), u2 = gc_rng_uniform(r);
    double rad = sqrt(-2.0 * log(1.0 - (double)u1)); /* 1-u1 in (0, 1] */
    return (float)(rad * cos(6.283185307179586 * (double)u2));
}
