/* generate: autoregressive text generation with the KV cache.
 *
 * Contract: gc_generate_text runs one sequence: BOS, the encoded prompt (if any), then up to
 * `steps` positions in total (prompt included, as llama2.c counts them), sampling each new token
 * with the caller's sampler and writing each piece's bytes to out as it is produced. Generation
 * stops early when BOS is sampled (llama2.c's rule), or at the model's seq_len. Nothing is allocated beyond the call.
 */
#ifndef GC_GENERATE_H
#define GC_GENERATE_H

#include <stdio.h>

#include "base.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

/* *n_generated (may be NULL) receives the number of sampled tokens. */
gc_status gc_generate_text(gc_model *m, const gc_tokenizer *tok, gc_sampler *sampler,
                           const char *prompt, int steps, FILE *out, int *n_generated);

#endif
