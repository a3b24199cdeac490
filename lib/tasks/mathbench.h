/* mathbench: the math benchmarks the paper evaluates on, read from their public releases (JSONL,
 * plain or gzip), as question + reference answer (the text gc_ma_equal compares against):
 *
 *   gsm8k     {"question", "answer"}: the answer after the last "####", thousands commas dropped
 *   math      {"problem", "solution"}: the last \boxed{} of the solution (Hendrycks' MATH)
 *   math500   {"problem", "answer"}
 *   gsm-hard  {"input", "target"}: target a number
 *   svamp     {"Body", "Question", "Answer"}: question = Body + " " + Question; Answer a number
 *   asdiv     {"body", "question", "answer"}: question = body + " " + question; the answer
 *             without its unit in parentheses ("9 (apples)" -> "9")
 *   mawps     {"input", "target"}: target a number
 *   algebra222  CSV (lib/util/csvio.h) with a header naming the columns "question" and
 *             "final_answer" (a number), the release of He-Yueya et al.'s algebra222.csv
 *   mathqa    one JSON array (MathQA's train.json / dev.json / test.json) of {"Problem",
 *             "options", "correct"}: question = Problem + "\nOptions: " + options; answer = the
 *             text of the option the letter `correct` names, from either form of options that
 *             the release mixes ("a ) 38 , b ) 27.675 , ..." or "['a ) 38', 'b ) 27.675', ...]")
 *
 * A number is kept as the shortest positional text that reads back as it (145.0 -> "145",
 * -9867630.0 -> "-9867630"). A malformed line
 * (missing or mistyped field, no answer to find) is an error naming the file, line and field (for
 * MathQA, the element of the array), or, with allow_skips, a counted skip. gc_mb_format_parse reads
 * the names above; "auto" (or NULL) takes the format from the file: a name ending in .csv or
 * .csv.gz is algebra222, a file that opens with '[' MathQA, else the first line's keys.
 * Ownership: gc_mb_set owns its strings (gc_mb_free).
 */
#ifndef GC_MATHBENCH_H
#define GC_MATHBENCH_H

#include "lib/util/base.h"

typedef enum {
    GC_MB_AUTO,
    GC_MB_GSM8K,
    GC_MB_MATH,
    GC_MB_MATH500,
    GC_MB_GSM_HARD,
    GC_MB_SVAMP,
    GC_MB_ASDIV,
    GC_MB_MAWPS,
    GC_MB_ALGEBRA222,
    GC_MB_MATHQA,
    GC_MB_N_FORMATS
} gc_mb_format;

typedef struct {
    char *question, *answer;
} gc_mb_item;

typedef struct {
    gc_mb_item *it; /* (n) in file order */
    int n;
    int skipped; /* malformed lines skipped (allow_skips) */
    gc_mb_format format;
} gc_mb_set;

/* The format named name ("gsm8k", ..., "auto"); -1 when unknown. */
int gc_mb_format_parse(const char *name);
const char *gc_mb_format_name(gc_mb_format f);
gc_status gc_mb_load(const char *path, gc_mb_format format, int allow_skips, gc_mb_set *out);
void gc_mb_free(gc_mb_set *s);

#endif
