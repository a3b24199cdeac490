/* vote: majority voting over sampled solutions, with and without Q-value filtering (PAPER.md
 * section 4), as pure functions over per-sample summaries.
 *
 * Filtering: a solution's Q-values Q_j = cos(h_j, g) over its generated tokens j = 0, 1, ...
 * (the final EOS excluded: sampling stops there), the first `skip` ignored. The solution is cut
 * at the first j >= skip with Q_j < tau (tau on the cosine scale); the tokens after j count as
 * saved. Only the record lows of Q (each j whose Q_j is below every earlier one, from skip on)
 * are needed to find the cut for any tau: it is the first record low below tau.
 *
 * Voting: survivors vote with their final answers ("no answer" is a bucket of its own and is
 * never right); when no solution survives, all M vote and nothing counts as saved or filtered.
 * Ties are scored by their expected value under a uniform random tie-break: a question whose
 * top answers tie k ways, the right one among them, counts 1/k correct. (The authors' code breaks
 * ties toward the correct answer, which overstates accuracy.)
 */
#ifndef GC_VOTE_H
#define GC_VOTE_H

#include <stdint.h>

typedef struct {
    int n_gen;      /* generated tokens (response and its EOS) */
    int has_answer; /* a final answer could be read */
    int64_t answer;
    int cut; /* response-token index of the cut, -1 = survives (see gc_vote_cut) */
} gc_vote_sample;

typedef struct {
    double correct;       /* vote correctness in [0, 1] (fractional on ties) */
    double prop_correct;  /* share of the voters whose answer is right */
    int voters, filtered; /* filtered: cut samples (0 when none survived) */
    int64_t generated, saved;
} gc_vote_result;

/* Record lows of q (n values) from index skip on: writes their indices and values (at most n)
 * and returns how many. */
int gc_vote_record_lows(const float *q, int n, int skip, int *low_j, float *low_q);
/* The cut for threshold tau from record lows: the index of the first low below tau, or -1. */
int gc_vote_cut(const int *low_j, const float *low_q, int n_lows, float tau);
/* One question's vote over M samples whose cut fields are set (all -1 = no filtering). */
void gc_vote_question(const gc_vote_sample *s, int M, int64_t answer, gc_vote_result *out);

#endif
