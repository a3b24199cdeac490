/* mathans: final answers of GSM8k- and MATH-style solutions: where the answer is, how it is
 * normalised, and when two answers are equal, as the paper's evaluation grades model solutions
 * (the answer in the last \boxed{}, compared after Hendrycks' MATH normalisation or as numbers).
 *
 * Extraction (gc_ma_extract): the content of the last \boxed{...} or \fbox{...} (nested braces
 * balanced; "\boxed 5" up to the next space or '$'); without one, the rest of the line after the
 * last "####" (GSM8k's reference solutions); else after the last "answer is" (to the end of the
 * line or of the sentence); else after the last "A:" that starts a line (GSM8k's example model
 * solutions). Surrounding spaces, a final '.' and '$' signs are dropped. Returns the kind found
 * (GC_MA_BOXED, GC_MA_HASHES, GC_MA_ANSWER_IS, GC_MA_A_COLON) or GC_MA_NONE (out set to "").
 *
 * Normalisation (gc_ma_normalize), in this order: line breaks, "\!", "\left", "\right", "$",
 * "\$", degree marks (^\circ, ^{\circ}) and percent signs (% and \%) removed; \text{...},
 * \textbf{...}, \mbox{...} and \mathrm{...} unwrapped, except that a trailing unit (a \text{}
 * whose content starts with a space, after something else) is dropped; tfrac and dfrac become
 * frac; a leading "x =" or "k=" (one or two characters before a single '=') dropped; " ." and
 * "{." get their 0; spaces removed; "\sqrt3" -> "\sqrt{3}", "\frac12" -> "\frac{1}{2}"; an
 * integer ratio a/b -> \frac{a}{b}; thousands commas in a plain number removed; a final '.'
 * dropped.
 *
 * Equivalence (gc_ma_equal): the normalised strings are equal; or both read as closed-form
 * numbers (decimals, \frac, a/b, \sqrt and \sqrt[n], \pi, powers, products written with \cdot,
 * \times or juxtaposition, sums, unary signs, parentheses and braces) that are equal when both
 * are whole numbers, else within a relative 1e-4 (absolute 1e-8 near zero), where a side written
 * with a percent sign may also stand for its hundredth; or both are tuples, intervals or plain
 * comma lists with the same brackets whose elements are pairwise equal in order; or one is the
 * letter of a multiple-choice option the other writes as "(X)". Nothing symbolic beyond that: "x+1"
 * and "1+x" differ.
 */
#ifndef GC_MATHANS_H
#define GC_MATHANS_H

#include <stddef.h>

typedef enum { GC_MA_NONE, GC_MA_BOXED, GC_MA_HASHES, GC_MA_ANSWER_IS, GC_MA_A_COLON } gc_ma_kind;

/* The final answer of text into out (cap bytes, truncated to fit). */
gc_ma_kind gc_ma_extract(const char *text, char *out, size_t cap);
/* The content of the last \boxed{} or \fbox{} into out; 0 when there is none. */
int gc_ma_last_boxed(const char *text, char *out, size_t cap);
/* The normalised form of answer into out (cap bytes). */
void gc_ma_normalize(const char *answer, char *out, size_t cap);
/* The value of a normalised closed-form number; 0 when it does not read as one. */
int gc_ma_value(const char *normalized, double *out);
/* 1 when the two answers are equivalent (above), else 0. */
int gc_ma_equal(const char *a, const char *b);
/* 1 when the final answer of solution (gc_ma_extract) is equivalent to reference. */
int gc_ma_check(const char *solution, const char *reference);

#endif
