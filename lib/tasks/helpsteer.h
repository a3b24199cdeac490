/* helpsteer: NVIDIA's HelpSteer data set (JSONL, plain or gzip: one object per line with string
 * "prompt" and "response" and integer ratings 0-4 "helpfulness", "correctness", "coherence",
 * "complexity", "verbosity"), the prompts and prototype examples of guided decoding (PAPER.md
 * section 5: goal states from responses rated high on an attribute; table3b at full scale takes
 * its prompts from the validation file).
 *
 * A malformed line (not an object, a field missing or of another type, a rating outside 0-4) is an
 * error naming the file and line, or, with allow_skips, a skipped line counted in `skipped`.
 * Ownership: gc_helpsteer_set owns its strings (gc_helpsteer_free).
 */
#ifndef GC_HELPSTEER_H
#define GC_HELPSTEER_H

#include "lib/util/base.h"

enum {
    GC_HS_HELPFULNESS,
    GC_HS_CORRECTNESS,
    GC_HS_COHERENCE,
    GC_HS_COMPLEXITY,
    GC_HS_VERBOSITY,
    GC_HS_ATTRIBUTES
};

typedef struct {
    char *prompt, *response;
    int rating[GC_HS_ATTRIBUTES]; /* 0-4 */
} gc_helpsteer_item;

typedef struct {
    gc_helpsteer_item *it; /* (n) in file order */
    int n;
    int skipped; /* malformed lines skipped (allow_skips) */
} gc_helpsteer_set;

gc_status gc_helpsteer_load(const char *path, int allow_skips, gc_helpsteer_set *out);
void gc_helpsteer_free(gc_helpsteer_set *s);

/* The attribute's index by name ("helpfulness", ...), -1 when unknown. */
int gc_helpsteer_attribute(const char *name);
const char *gc_helpsteer_attribute_name(int a);

/* Indices (into s->it) of the items rated at least min_rating on attribute a, in file order:
 * out (s->n); returns their count (the prototype examples of a goal state). */
int gc_helpsteer_rated(const gc_helpsteer_set *s, int a, int min_rating, int *out);

/* Indices of the first item of each distinct prompt, in file order: out (s->n); returns their
 * count (the validation prompts, each once). */
int gc_helpsteer_prompts(const gc_helpsteer_set *s, int *out);

#endif
