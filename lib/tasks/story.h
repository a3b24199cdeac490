/* story: deterministic attribute scorers for short English stories, the exact judges of table3b's
 * stories setting (PAPER.md section 5 at mini scale; docs/steering.md). Neither reads a model, so
 * no model used for guidance has a hand in the judging.
 *
 * Words are maximal runs of ASCII letters, digits and apostrophes holding at least one letter or
 * digit. A sentence ends at each run of '.', '!' or '?' that follows a word; words after the last
 * such run make one more sentence. Syllables of a word: its groups of consecutive vowels (a, e,
 * i, o, u, y; case ignored), one fewer when the word ends in a silent 'e' (a final 'e' not
 * preceded by 'l' after a consonant, and the word has another vowel group), at least one; a word
 * without letters counts one.
 *
 * complexity: the Flesch-Kincaid grade level, 0.39 * words / sentences + 11.8 * syllables / words
 *   - 15.59 (higher: harder text); NAN for a text without words.
 * coherence: the share of distinct word bigrams (words lower-cased) among all of the text's
 *   bigrams, 1 for a single word (higher: less repetition); NAN without words. Bigrams, not
 *   trigrams: in stories260K's stories of about 70 words a repeated trigram is rare (86% of a
 *   pool of 400 have none), so trigrams would call most pairs of stories a tie.
 * No allocation beyond the call; texts are NUL-terminated UTF-8 (non-ASCII bytes separate words).
 */
#ifndef GC_STORY_H
#define GC_STORY_H

#include "lib/util/base.h"

typedef struct {
    int words, sentences, syllables;
    int bigrams, distinct_bigrams;
} gc_story_counts;

enum { GC_STORY_COMPLEXITY, GC_STORY_COHERENCE, GC_STORY_ATTRIBUTES };

/* The counts above of text. */
void gc_story_count(const char *text, gc_story_counts *out);
/* The syllables of one word of len bytes. */
int gc_story_syllables(const char *word, int len);
/* The attribute's score of text (see above). */
double gc_story_score(const char *text, int attribute);
/* "complexity", "coherence"; the index by name, -1 when unknown. */
const char *gc_story_attribute_name(int attribute);
int gc_story_attribute(const char *name);

#endif
