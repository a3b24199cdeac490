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
    int used; /* words of buf already consumed (4 = empty) */
} gc_rng;

void gc_rng_init(gc_rng *r, uint64_t seed, uint64_t stream);

/* What a stream is drawn for. Every stream id is gc_rng_stream(purpose, index): the purpose in
 * the top 8 bits, an index (a tensor, a problem, a sequence, a step) in the low 56, so draws for
 * two purposes never coincide, whatever their indices and seeds. */
typedef enum {
    GC_STREAM_INIT = 1,        /* model weights, per tensor */
    GC_STREAM_PROBLEM,         /* arith problems, per (split << 40 | index) */
    GC_STREAM_CORRUPT,         /* a solution's slip, per hash of its question */
    GC_STREAM_SAMPLE,          /* sampling a response, per sequence (question * samples + i) */
    GC_STREAM_SAMPLER,         /* the interactive sampler (replicate generate) */
    GC_STREAM_SFT_BATCH,       /* supervised fine-tuning batches, per step */
    GC_STREAM_LM_BATCH,        /* language-model windows, per step */
    GC_STREAM_RM_HEAD,         /* a reward head's initial weights */
    GC_STREAM_RM_TRAIN,        /* a reward model's batch order and contrastive draws, per variant */
    GC_STREAM_GOAL_TOKEN,      /* the goal-token ablation's drawn position, per item */
    GC_STREAM_BOOTSTRAP_AUROC, /* bootstrap resamples of an AUROC */
    GC_STREAM_BOOTSTRAP_MEAN,  /* bootstrap resamples of a mean */
    GC_STREAM_GROW,            /* the blocks a grown model adds (gc_model_grow) */
    GC_STREAM_DPO,             /* DPO batch order, per seed */
    GC_STREAM_PPO_ROLLOUT,     /* a PPO rollout's response, per (iteration * batch + sequence) */
    GC_STREAM_PPO_ORDER,       /* a PPO rollout's minibatch order, per iteration */
    GC_STREAM_PPO_PTX,         /* PPO's pretraining-loss batches, per actor update */
    GC_STREAM_FOLDS,           /* the assignment of items to cross-validation folds */
    GC_STREAM_BEAM,            /* a beam search's candidate steps, per (step, beam, sample) */
    GC_STREAM_JUDGE_ORDER,     /* the side a judged response is shown on, per comparison */
} gc_stream_purpose;

static inline uint64_t gc_rng_stream(gc_stream_purpose purpose, uint64_t index) {
    return ((uint64_t)purpose << 56) | (index & ((1ull << 56) - 1));
}
uint32_t gc_rng_u32(gc_rng *r);
/* Uniform in [0, 1) with 24 bits of resolution (exactly representable as float). */
float gc_rng_uniform(gc_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint32_t gc_rng_below(gc_rng *r, uint32_t n);
/* Standard normal (Box-Muller on two uniforms). */
float gc_rng_normal(gc_rng *r);

#endif
