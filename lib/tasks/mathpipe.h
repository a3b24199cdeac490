/* mathpipe: the math domain's model-side operations on text: prompts and responses as character
 * tokens, supervised fine-tuning data, batched solution sampling with the KV cache, and scoring
 * (prompt, response) pairs with a reward model.
 *
 * Conventions: a prompt is BOS + question; a response is the solution text + EOS. Every response
 * ends in EOS when it is scored, in training and in evaluation alike, and the reward is read there
 * (PAPER.md section 6: the authors' code appends EOS in training only; this harness does not copy
 * that). Texts are caller-owned; gc_math_sample returns malloc'd strings the caller frees.
 */
#ifndef GC_MATHPIPE_H
#define GC_MATHPIPE_H

#include <stdint.h>

#include "lib/util/base.h"
#include "lib/model/model.h"
#include "lib/rm/rm.h"
#include "lib/tasks/task.h"
#include "lib/util/rng.h"

/* Tokens of BOS + question (returns count, or -1 with an error recorded). */
int gc_math_prompt(const char *question, int32_t *out, int cap);
/* Tokens of response text + EOS. */
int gc_math_response(const char *text, int32_t *out, int cap);

/* A sampling run that can stop and resume (a stage's checkpoints): on entry out[0, done) (and
 * cut[0, done) when filtering) hold the items of an earlier run and tokens their generated
 * tokens; after each batch, after_batch (may be NULL) gets the items done so far, the tokens and
 * whether that was the last batch; a non-OK return ends the run with it (out is then freed, as on
 * any failure). done must be 0, the total, or a multiple of the batch: the batches, and so every
 * result, are those of one uninterrupted run. */
typedef struct {
    int done;
    int64_t tokens;
    gc_status (*after_batch)(void *ctx, int done, int64_t tokens, int last);
    void *ctx;
} gc_sample_resume;

typedef struct {
    float temperature; /* 0 = greedy */
    float top_p;
    uint64_t seed;            /* sequence i of question q draws from gc_rng_stream(GC_STREAM_SAMPLE,
                               * q * samples + i) under this seed */
    int max_len;              /* prompt + response tokens, the EOS appended for scoring included */
    int batch;                /* sequences decoded together */
    gc_sample_resume *resume; /* NULL: from the start, in one go */
} gc_sample_config;

/* Samples `samples` responses for each of n questions: out[q * samples + i] (malloc'd text,
 * without EOS). *n_tokens (may be NULL) gets the number of generated tokens. */
gc_status gc_math_sample(gc_model *m, const char *const *questions, int n, int samples,
                         const gc_sample_config *c, char **out, int64_t *n_tokens);

/* Q-value filtering while sampling (PAPER.md section 4, online): the reward model decodes
 * alongside the policy; a solution stops at its first response token j >= skip whose Q-value
 * cos(h_j, goal) is below tau. */
typedef struct {
    gc_rm *rm;
    const float *goal; /* (D) */
    float tau;
    int skip;
} gc_qfilter;

/* The reward model watching a batched generation (gc_generate_batch's monitor, ctx a gc_qwatch):
 * its own KV cache decodes every token the policy is fed; a sequence whose response token
 * j >= skip has a Q-value below tau is stopped there, with cut[b] = j (-1: not cut). Init for
 * batches of at most B sequences of max_T tokens; gc_qwatch_batch before each batch (nb rows,
 * their prompt lengths, borrowed until the next call). */
typedef struct {
    const gc_qfilter *f;
    gc_kvcache kc;
    const int *plen; /* (B) prompt lengths of the current batch */
    int *cut;        /* (B) response-token index of the cut, -1 none */
} gc_qwatch;
gc_status gc_qwatch_init(gc_qwatch *w, const gc_qfilter *f, int B, int max_T);
void gc_qwatch_batch(gc_qwatch *w, int nb, const int *plen);
gc_status gc_qwatch_step(void *ctx, const int32_t *tok, const int32_t *pos, const uint8_t *active,
                         uint8_t *stop);
void gc_qwatch_free(gc_qwatch *w);

/* gc_math_sample with online filtering: cut (n * samples) gets each solution's cut index (-1 =
 * not cut); a cut solution's text ends with the token at its cut. The tokens sampled are the
 * unfiltered ones up to the cut (same streams). */
gc_status gc_math_sample_filtered(gc_model *m, const gc_qfilter *f, const char *const *questions,
                                  int n, int samples, const gc_sample_config *c, char **out,
                                  int *cut, int64_t *n_tokens);

/* Rewards of n (question, response) pairs, scored in batches: out (n). When goal is not NULL,
 * the final hidden state at each response's last token is added to it (the goal state of
 * PAPER.md section 2 is their mean over preferred responses). */
gc_status gc_math_score(gc_rm *rm, const char *const *questions, const char *const *responses,
                        int n, int max_len, int batch, float *out, gc_goal *goal);

/* Called once per item with a model's final hidden states h (len, D) of the item's prompt +
 * response (+ EOS), its tokens tok (len) and, when asked for, its logits (len, V), else NULL:
 * the response occupies positions [prompt_len, len). The pointers are valid during the call
 * only. A non-OK return stops the walk and is returned. */
typedef gc_status (*gc_math_hidden_fn)(void *ctx, int item, const float *h, const float *logits,
                                       const int32_t *tok, int prompt_len, int len);
/* Runs model m (a policy, or a reward model's trunk) over n (question, response) items in
 * batches and hands each item to fn, in item order. */
gc_status gc_math_hidden_each(gc_model *m, int want_logits, const char *const *questions,
                              const char *const *responses, int n, int max_len, int batch,
                              gc_math_hidden_fn fn, void *ctx);
/* Mean log-probability under model m of each response's tokens (its EOS included) after its
 * question: out (n). The policy's own confidence, a reference score for the reward models. */
gc_status gc_math_logprob(gc_model *m, const char *const *questions, const char *const *responses,
                          int n, int max_len, int batch, float *out);
/* The same mean into mean (n), and into min_result (n) the lowest log-probability of a token of a
 * computed result, where a slip would be: in arith a digit after '=' or on the "####" line; in
 * graph a step's new node (a line's second letter) or a letter on the "####" line. The mean when
 * a response has none. */
gc_status gc_math_logprob_stats(gc_model *m, const char *const *questions,
                                const char *const *responses, int n, int max_len, int batch,
                                gc_domain domain, float *mean, float *min_result);

/* Preference pairs in batches (the reward models' and DPO's): the order of one epoch over n pairs
 * in batches of P: a fresh shuffle; then, within windows of 8 batches, pairs sorted by len (n) so
 * a batch pads little; then the n_batches batches themselves in random order (batch_perm). */
void gc_math_pair_order(gc_rng *rng, int n, int P, const int *len, int *order, int *batch_perm,
                        int n_batches);
/* Packs the nb pairs items (nb) as 2 nb sequences (chosen, rejected, ...) of prompt + response +
 * EOS into tok (2 nb, *T) with *T the longest; plen, len (2 nb) their prompt and total lengths;
 * tmp (L) scratch; tok holds 2 nb * L on entry. */
gc_status gc_math_pack_pairs(const char *const *prompt, const char *const *chosen,
                             const char *const *rejected, const int *items, int nb, int L,
                             int32_t *tok, int32_t *tmp, int *plen, int *len, int *T);

/* The SFT set of n problems: prompt = question, response = reference solution + EOS, each within
 * L tokens (GC_ERR_CONFIG naming the problem otherwise). Caller frees out (gc_seqset_free). */
struct gc_seqset_s;
gc_status gc_math_sft_set(const gc_problem *p, int n, int L, struct gc_seqset_s *out);

#endif
