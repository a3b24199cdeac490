/* tokenizer: llama2.c's SentencePiece-style BPE tokenizer (tok512.bin and friends).
 *
 * File format: i32 max_token_length, then per token: f32 score, i32 byte length, bytes. Token 1 is
 * BOS, token 2 is EOS; pieces "<0xHH>" stand for raw bytes. Encoding starts from UTF-8 code points
 * (bytes + 3 for code points not in the vocabulary), prepends the dummy-prefix space token for
 * non-empty text, then greedily merges the adjacent pair with the highest-scoring merged piece.
 *
 * Ownership: gc_tokenizer owns its strings; gc_tokenizer_free releases them. Load validates every
 * length against the file size and max_token_length and names the file and token on error.
 */
#ifndef GC_TOKENIZER_H
#define GC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util/base.h"

#define GC_TOK_BOS 1
#define GC_TOK_EOS 2

typedef struct {
    int32_t vocab_size;
    int32_t max_token_length;
    char **vocab;    /* (vocab_size) NUL-terminated pieces */
    int32_t *lens;   /* (vocab_size) byte lengths */
    float *scores;   /* (vocab_size) */
    int32_t *sorted; /* (vocab_size) ids sorted by piece, for lookup */
} gc_tokenizer;

gc_status gc_tokenizer_load(gc_tokenizer *t, const char *path, int32_t vocab_size);
void gc_tokenizer_free(gc_tokenizer *t);
/* Id of an exact piece, -1 when absent. */
int32_t gc_tokenizer_lookup(const gc_tokenizer *t, const char *piece, size_t len);
/* Encodes text; out must hold strlen(text) + 3 ids. */
gc_status gc_tokenizer_encode(const gc_tokenizer *t, const char *text, int bos, int eos,
                              int32_t *out, int *n_out);
/* Bytes of token after prev: drops the leading space after BOS, maps <0xHH> to the byte.
 * Returns a pointer into t or into byte_buf (2 bytes); *len gets the byte count. */
const char *gc_tokenizer_piece(const gc_tokenizer *t, int32_t prev, int32_t token, char byte_buf[2],
                               size_t *len);

#endif
