/* chartok: the character-level tokenizer of the arithmetic domain.
 *
 * Vocabulary of 128 ids: 0 PAD, 1 BOS, 2 EOS, and each printable ASCII byte (and '\n') as its own
 * value. Other bytes are rejected. Nothing is allocated.
 */
#ifndef GC_CHARTOK_H
#define GC_CHARTOK_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util/base.h"

#define GC_CHAR_VOCAB 128
#define GC_CHAR_PAD 0
#define GC_CHAR_BOS 1
#define GC_CHAR_EOS 2

/* The ids text can hold (printable ASCII and '\n') plus EOS: a sampler mask (GC_CHAR_VOCAB). */
const uint8_t *gc_chartok_allowed(void);

/* Appends the ids of text to out (capacity cap); returns GC_ERR_ARG on a byte outside the
 * vocabulary or when out is full. *n is the running length. */
gc_status gc_chartok_encode(const char *text, int32_t *out, int cap, int *n);
/* Writes the text of ids (stopping at EOS or PAD, skipping BOS) into buf (capacity cap). */
void gc_chartok_decode(const int32_t *ids, int n, char *buf, size_t cap);

#endif
