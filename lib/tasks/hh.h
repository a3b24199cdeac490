/* hh: Anthropic's Helpful-Harmless preference pairs (hh-rlhf: a gzip of JSON lines
 * {"chosen": dialogue, "rejected": dialogue}, each dialogue "\n\nHuman: ...\n\nAssistant: ...").
 *
 * A pair splits into its prompt, the longest start of the two dialogues that they share and that
 * ends with "\n\nAssistant:", and the two responses after it (the final assistant turns, each
 * with its leading space dropped: the tokenizer's dummy prefix stands for it). A pair whose
 * dialogues share no such start keeps an empty prompt and whole dialogues as responses, counted.
 *
 * Tokens of one side for a model of context L: BOS, the prompt, the response, EOS. When that is
 * longer than L, the prompt loses tokens from its left (after the BOS) down to GC_HH_MIN_PROMPT
 * (or what it has); if still too long, the response loses tokens from its right (the EOS stays).
 * The reward is read at the EOS; a reward model sees the end of the conversation and its answer.
 *
 * Ownership: gc_hh_set owns its strings (gc_hh_free). Errors name the file and line.
 */
#ifndef GC_HH_H
#define GC_HH_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "lib/model/tokenizer.h"
#include "lib/util/base.h"

#define GC_HH_ASSISTANT "\n\nAssistant:"
#define GC_HH_MIN_PROMPT 16

typedef struct {
    char *prompt, *chosen, *rejected;
} gc_hh_pair;

typedef struct {
    gc_hh_pair *p; /* (n) in file order */
    int n;
    int no_shared_prompt; /* pairs whose dialogues share no start ending with an assistant cue */
} gc_hh_set;

/* Reads every line of the gzip (or plain) JSONL file at path; a line that is not an object with
 * string "chosen" and "rejected" is an error naming path and line. */
gc_status gc_hh_load(const char *path, gc_hh_set *out);
void gc_hh_free(gc_hh_set *s);

/* Splits one pair's dialogues as the header says into *out (malloc'd strings); returns whether
 * they share a prompt. */
int gc_hh_split(const char *chosen, const char *rejected, gc_hh_pair *out);

/* A prompt's dialogue as chat messages (a JSON array the caller deletes): each "\n\nHuman:" turn a
 * "user" message, each "\n\nAssistant:" turn an "assistant" one, their text without the space
 * after the cue; the prompt's final, empty assistant cue is not a message; text before the first
 * cue is a user message of its own. */
cJSON *gc_hh_messages(const char *prompt);

typedef struct {
    int len;          /* tokens, BOS and EOS included (<= L) */
    int prompt_len;   /* BOS + prompt tokens kept: the response starts here */
    int prompt_cut;   /* prompt tokens dropped from the left */
    int response_cut; /* response tokens dropped from the right */
} gc_hh_tokens;

/* Tokens of prompt + response for context L (>= GC_HH_MIN_PROMPT + 3) into out (L ids). */
gc_status gc_hh_encode(const gc_tokenizer *t, const char *prompt, const char *response, int L,
                       int32_t *out, gc_hh_tokens *info);

#endif
