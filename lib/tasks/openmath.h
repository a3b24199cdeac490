/* openmath: NVIDIA's OpenMathInstruct-1 solutions (the paper's math reward-model training data)
 * and OpenMath-style greedy test predictions (fig2 at full scale), both JSONL (plain or gzip), one
 * solution per line, and the preference pairs built from them.
 *
 * A line is an object with string "question", the solution text as string "generated_solution"
 * (OpenMathInstruct-1) or "generation" (NeMo-Skills prediction files), string "expected_answer"
 * (a number is accepted and kept as written), "predicted_answer" (a string, a number or null:
 * no answer found), and the label as boolean "is_correct" (or "symbolic_correct"); optional
 * strings "dataset" (gsm8k, math, ...) and "generation_type". A malformed line is an error naming
 * the file and line and the field, or, with allow_skips, a counted skip.
 *
 * Pairs (gc_om_pairs): per question, in the order questions first appear, the k-th correct with
 * the k-th incorrect solution (each side in file order, the shorter side cycling) for k up to the
 * larger side's count or max_per_question; questions with only one kind give none.
 * Ownership: gc_om_set owns its strings (gc_om_free).
 */
#ifndef GC_OPENMATH_H
#define GC_OPENMATH_H

#include "lib/util/base.h"

typedef struct {
    char *question, *solution, *expected, *predicted; /* predicted: NULL when none was found */
    char *dataset;                                    /* "" when absent */
    int correct;
} gc_om_item;

typedef struct {
    gc_om_item *it; /* (n) in file order */
    int n;
    int skipped; /* malformed lines skipped (allow_skips) */
} gc_om_set;

gc_status gc_om_load(const char *path, int allow_skips, gc_om_set *out);
void gc_om_free(gc_om_set *s);

/* The pairs (chosen[i], rejected[i]: item indices; each array holds up to cap); returns their
 * count, or -1 (an error recorded) when out of memory. *questions (may be NULL) gets how many
 * questions gave pairs. */
int gc_om_pairs(const gc_om_set *s, int max_per_question, int *chosen, int *rejected, int cap,
                int *questions);

#endif
