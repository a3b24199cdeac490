/* hfseq: (prompt, response) token sequences for models with a Hugging Face tokenizer (the full
 * scale's), and the prompt templates that turn a question into a prompt.
 *
 * A template holds "{question}" exactly once; the prompt is the template with the question in its
 * place. A sequence is encode(prompt + response) with the tokenizer's special tokens (its
 * post-processor: BOS for the Llama families), then EOS, where the reward is read (every response
 * ends in EOS, in training and in evaluation, as lib/tasks/mathpipe.h's do). Its prompt length is
 * the token count of encode(prompt) with the special tokens: one joint encoding, as OpenRLHF's
 * reward-model data sets compute it, so the tokens at the boundary are the ones the model reads.
 * A sequence longer than max_len is cut to max_len - 1 tokens and EOS appended (OpenRLHF's rule);
 * the prompt length is then at most len - 1, so the EOS always counts as response. A text that
 * starts with the BOS token's text (tokenizer_config.json's "bos_token": a chat template that
 * writes it, as Llama 3's does) is encoded without the special tokens, so the BOS is not doubled.
 *
 * Conversations (gc_hfseq_chat): the prompt is the model's chat template (tokenizer_config.json's
 * "chat_template", lib/model/chat_template.h) rendered over the messages with the generation
 * prompt; the response is what the rendering of the messages followed by the answer as an
 * assistant message adds to it (an error naming the directory when it does not start with the
 * prompt's rendering).
 *
 * EOS is tokenizer_config.json's "eos_token" (a string or {"content": ...}) when the model
 * directory has that file and it names one, else config.json's "eos_token_id" (a number, or the
 * first of a list); either must name a token of tokenizer.json.
 */
#ifndef GC_HFSEQ_H
#define GC_HFSEQ_H

#include <stdint.h>

#include "lib/model/hf_tokenizer.h"
#include "lib/util/base.h"

#include <cjson/cJSON.h>

typedef struct {
    gc_hf_tok *tok;
    int32_t eos;
    char *dir;
    char *bos_text;      /* tokenizer_config.json's bos_token, or NULL */
    char *eos_text;      /* its eos_token, or NULL */
    char *chat_template; /* its chat_template, or NULL */
} gc_hfseq;

/* 1 when tmpl holds "{question}" exactly once. */
int gc_hfseq_template_ok(const char *tmpl);
/* The prompt (malloc'd) of a question; NULL tmpl: the question itself. */
char *gc_hfseq_prompt(const char *tmpl, const char *question);

/* Reads dir/tokenizer.json and the EOS token; errors name the file and key. */
gc_status gc_hfseq_open(const char *dir, gc_hfseq *out);
void gc_hfseq_close(gc_hfseq *c);

/* The prompt and the response (malloc'd) of a conversation (messages: a JSON array of {"role",
 * "content"}) and its answer; an error naming the directory when the model has no chat template. */
gc_status gc_hfseq_chat(const gc_hfseq *c, const cJSON *messages, const char *answer, char **prompt,
                        char **response);

/* encode(prompt) with the special tokens, as a sequence starting with it holds it: *ids
 * (malloc'd, *n of them); what a generation continues. */
gc_status gc_hfseq_prompt_ids(const gc_hfseq *c, const char *prompt, int32_t **ids, int *n);
/* The token count of encode(prompt) with the special tokens (the prompt length of every sequence
 * that starts with it: compute it once for the answers of one prompt). */
gc_status gc_hfseq_prompt_tokens(const gc_hfseq *c, const char *prompt, int *n);
/* The sequence of prompt + response: out (max_len >= 2) gets *len tokens, *prompt_len the
 * prompt's (prompt_tokens, gc_hfseq_prompt_tokens's count, or < 0 to count here); *truncated
 * (may be NULL) is set to 1 when the sequence was cut, else left alone. */
gc_status gc_hfseq_encode(const gc_hfseq *c, const char *prompt, int prompt_tokens,
                          const char *response, int max_len, int32_t *out, int *len,
                          int *prompt_len, int *truncated);

#endif
