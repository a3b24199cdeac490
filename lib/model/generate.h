/* generate: autoregressive text generation with the KV cache.
 *
 * Contract: gc_generate_text runs one sequence: BOS, the encoded prompt (if any), then up to
 * `steps` positions in total (prompt included, as llama2.c counts them), sampling each new token
 * with the caller's sampler and writing each piece's bytes to out as it is produced. Generation
 * stops early when BOS is sampled (llama2.c's rule), or at the model's seq_len. Nothing is
 * allocated beyond the call.
 */
#ifndef GC_GENERATE_H
#define GC_GENERATE_H

#include <stdio.h>

#include "lib/util/base.h"
#include "lib/util/rng.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

/* *n_generated (may be NULL) receives the number of sampled tokens. */
gc_status gc_generate_text(gc_model *m, const gc_tokenizer *tok, gc_sampler *sampler,
                           const char *prompt, int steps, FILE *out, int *n_generated);

/* Watches a batched generation: called after every decode step, before the next tokens are
 * sampled, with the tokens just fed (tok, pos: B) and the rows decoded (active: B). Setting
 * stop[b] = 1 ends sequence b now: the token just fed stays its last. The final sampled token of
 * a sequence (EOS, or the one that reaches max_T) is never fed, so never watched. */
typedef struct {
    gc_status (*fn)(void *ctx, const int32_t *tok, const int32_t *pos, const uint8_t *active,
                    uint8_t *stop);
    void *ctx;
} gc_gen_monitor;

/* Batched sampling with the KV cache. B sequences, each a prompt (prompt_len[b] tokens, BOS
 * included) continued until `eos` is sampled (kept in the output) or max_T tokens in all.
 * seq: (B, max_T) caller-owned, receives prompt then response; len[b] its total length.
 * rngs: one stream per sequence (may be NULL for greedy samplers).
 * hidden: optional (B, max_T, D) receiving the final hidden state at every position.
 * monitor: optional (NULL = none). */
gc_status gc_generate_batch(gc_model *m, gc_sampler *sampler, gc_rng *rngs, int B,
                            const int32_t *const *prompts, const int *prompt_len, int max_T,
                            int32_t eos, int32_t *seq, int *len, float *hidden,
                            const gc_gen_monitor *monitor);

#endif
