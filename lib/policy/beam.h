/* beam: step-wise beam search (PAPER.md section 5, after Xie et al. 2023's self-evaluation guided
 * decoding), the decoding of guided generation toward a goal state.
 *
 * A step is a chunk of generated text: at most step_tokens new tokens, ending early at step_end
 * (a newline; -1: none) or eos. Each step, every live beam samples `samples` candidate steps
 * (temperature, top_p; candidate k of beam j at step t draws from gc_rng_stream(GC_STREAM_BEAM,
 * (t * beam + j) * samples + k) under seed), batched together in one generation (and with every
 * other prompt's, gc_beam_search_batch); the generator's
 * log-probability of each candidate's tokens is computed by a teacher-forced pass; the caller's
 * hook scores the step (the generator's length-normalised log-probability, the cosine between a
 * reward model's mean-pooled hidden state over the step and a goal state, or a weighted sum:
 * gc_beam_goal_score); a beam's score is the sum of its steps' scores. The pool of candidates and
 * finished beams (ended by eos, or at max_len), identical sequences counted once, is ranked by
 * score (ties: the earlier in pool order, finished beams first, then candidates by beam and
 * sample) and the best `beam` are kept. It stops when every kept beam is finished or after
 * max_steps steps.
 *
 * Ownership: gc_beam_result holds its arrays (gc_beam_result_free). Deterministic for a seed on
 * a given machine and thread count.
 */
#ifndef GC_BEAM_H
#define GC_BEAM_H

#include <stdint.h>

#include "lib/model/model.h"
#include "lib/rm/rm.h"
#include "lib/util/base.h"

typedef struct {
    int beam;        /* beams kept after every step */
    int samples;     /* candidate steps sampled per beam */
    int step_tokens; /* new tokens per step at most */
    int max_steps;
    int max_len;      /* prompt + response tokens at most (<= the model's seq_len) */
    int32_t step_end; /* a token that ends a step once sampled; -1: none */
    int32_t eos;      /* ends a beam (kept in its tokens); -1: none */
    float temperature, top_p;
    uint64_t seed;
} gc_beam_config;

/* The score of one candidate step: seq holds len tokens, the beam's prefix [0, prefix_len) then
 * the step; lp_sum is the generator's log-probability of the step's tokens. */
typedef gc_status (*gc_beam_score_fn)(void *ctx, const int32_t *seq, int prefix_len, int len,
                                      double lp_sum, double *score);

typedef struct {
    int n;              /* beams held, best first (at most beam) */
    int max_len;        /* the stride of seq */
    int32_t *seq;       /* (beam, max_len), 0 after each beam's len */
    int *len;           /* (beam) */
    double *score;      /* (beam) the sum of the steps' scores */
    uint8_t *done;      /* (beam) ended by eos or at max_len */
    int steps;          /* steps taken */
    int64_t candidates; /* candidate steps sampled in all */
} gc_beam_result;

gc_status gc_beam_search(gc_model *m, const int32_t *prompt, int prompt_len,
                         const gc_beam_config *c, gc_beam_score_fn score, void *ctx,
                         gc_beam_result *out);
/* The search for n prompts at once (prompt p: prompt_len[p] tokens), every prompt's live beams
 * sampled in one generation per step: out (n) one result per prompt. Candidate k of beam j of
 * prompt p at step t draws from stream ((p * max_steps + t) * beam + j) * samples + k, so prompt
 * 0 draws as gc_beam_search does; another batch composition may change a result only by the
 * rounding of the batched passes. */
gc_status gc_beam_search_batch(gc_model *m, const int32_t *const *prompts, const int *prompt_len,
                               int n, const gc_beam_config *c, gc_beam_score_fn score, void *ctx,
                               gc_beam_result *out);
void gc_beam_result_free(gc_beam_result *r);

/* The guided-decoding score: lp_weight * (lp_sum / step tokens) + goal_weight * cos(mean over
 * the step's positions of the reward model's final hidden state, goal). rm and goal may be NULL
 * when goal_weight is 0. */
typedef struct {
    gc_rm *rm;
    const float *goal; /* (D of the reward model) */
    double lp_weight, goal_weight;
} gc_beam_goal;
gc_status gc_beam_goal_score(void *ctx, const int32_t *seq, int prefix_len, int len, double lp_sum,
                             double *score);

#endif
