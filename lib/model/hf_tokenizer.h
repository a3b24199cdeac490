/* hf_tokenizer: Hugging Face tokenizer.json files of the two BPE families the paper's models use,
 * read as data: byte-level BPE with a regex pre-tokenizer (Llama 3) and SentencePiece-style BPE
 * with byte fallback (Llama 2, CodeLlama, Mistral).
 *
 * What a file may hold (anything else is an error naming the file and the key):
 *   model: {"type": "BPE", vocab {piece: id}, merges ["a b" or [a, b]], unk_token, byte_fallback,
 *     fuse_unk, ignore_merges (a word already in the vocabulary is not merged), dropout null,
 *     continuing_subword_prefix / end_of_word_suffix null}
 *   normalizer: null, or Prepend / Replace (a String pattern) / Sequence of them
 *   pre_tokenizer: null, or Split (a Regex pattern, behaviour Isolated), ByteLevel (bytes as
 *     GPT-2's printable characters; use_regex: GPT-2's own split first; add_prefix_space), or a
 *     Sequence of them; patterns run through PCRE2 in UTF mode with Unicode properties
 *   post_processor: null, ByteLevel, TemplateProcessing (its "single" template: special tokens
 *     around the sequence) or a Sequence of them
 *   decoder: ByteLevel, or a Sequence of Replace / ByteFallback / Fuse / Strip
 *   added_tokens: [{id, content, special, ...}]: split out of the text before anything else
 *     (the longest at each position), never normalised or merged.
 * Encoding: added tokens split out; each other span normalised, pre-tokenised into words, each
 * word merged by BPE (the adjacent pair of lowest merge rank first, the leftmost on a tie), each
 * symbol looked up; a symbol not in the vocabulary becomes its bytes' <0xXX> tokens (byte
 * fallback) or the unknown token (consecutive ones fused when fuse_unk); with add_special the
 * post-processor's special tokens are added. Decoding applies the decoder to the tokens' pieces.
 *
 * Ownership: gc_hf_tok owns everything it read; encode and decode return malloc'd arrays.
 */
#ifndef GC_HF_TOKENIZER_H
#define GC_HF_TOKENIZER_H

#include <stdint.h>

#include "lib/util/base.h"

typedef struct gc_hf_tok gc_hf_tok;

gc_status gc_hf_tok_load(const char *path, gc_hf_tok **out);
void gc_hf_tok_free(gc_hf_tok *t);
int gc_hf_tok_vocab_size(const gc_hf_tok *t); /* the largest id + 1 */
/* The id of an exact piece (vocabulary or added token), -1 when absent. */
int32_t gc_hf_tok_id(const gc_hf_tok *t, const char *piece);
/* *ids (malloc'd, *n of them) of text (UTF-8, NUL-terminated). */
gc_status gc_hf_tok_encode(const gc_hf_tok *t, const char *text, int add_special, int32_t **ids,
                           int *n);
/* *text (malloc'd) of n ids; skip_special drops the added tokens marked special. */
gc_status gc_hf_tok_decode(const gc_hf_tok *t, const int32_t *ids, int n, int skip_special,
                           char **text);

#endif
