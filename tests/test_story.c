/* lib/tasks/story: the stories' attribute scorers (table3b's exact judges), on texts whose words,
 * sentences, syllables and bigrams are counted by hand in the comments. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "lib/tasks/story.h"

static int syl(const char *w) {
    return gc_story_syllables(w, (int)strlen(w));
}

Test(story, syllables_by_vowel_groups_with_silent_e) {
    cr_expect_eq(syl("the"), 1);       /* e: one group, nothing to drop */
    cr_expect_eq(syl("make"), 1);      /* a, e; the final e is silent */
    cr_expect_eq(syl("little"), 2);    /* i, e; consonant + "le" keeps it */
    cr_expect_eq(syl("table"), 2);     /* a, e; "ble" keeps it */
    cr_expect_eq(syl("beautiful"), 3); /* eau, i, u */
    cr_expect_eq(syl("happy"), 2);     /* a, y */
    cr_expect_eq(syl("queue"), 1);     /* ueue: one group; a vowel before the e */
    cr_expect_eq(syl("Don't"), 1);
    cr_expect_eq(syl("42"), 1);     /* no letters */
    cr_expect_eq(syl("rhythm"), 1); /* y */
    cr_expect_eq(syl("strengths"), 1);
}

Test(story, counts_and_scores) {
    /* 6 words, 2 sentences, 6 syllables; bigrams the-cat, cat-sat, sat-the, the-cat, cat-sat:
     * 5, 3 distinct (case ignored) */
    gc_story_counts c;
    gc_story_count("The cat sat. the cat sat.", &c);
    cr_expect_eq(c.words, 6);
    cr_expect_eq(c.sentences, 2);
    cr_expect_eq(c.syllables, 6);
    cr_expect_eq(c.bigrams, 5);
    cr_expect_eq(c.distinct_bigrams, 3);
    const char *t = "The cat sat. the cat sat.";
    cr_expect_float_eq(gc_story_score(t, GC_STORY_COMPLEXITY), 0.39 * 3 + 11.8 - 15.59, 1e-12);
    cr_expect_float_eq(gc_story_score(t, GC_STORY_COHERENCE), 0.6, 1e-12);

    /* "Wow!!! Is it beautiful? Yes" : 5 words (wow 1, is 1, it 1, beautiful 3, yes 1 = 7
     * syllables), 3 sentences (a run of '!' ends one; the words after the last '?' make one) */
    gc_story_count("Wow!!! Is it beautiful? Yes", &c);
    cr_expect_eq(c.words, 5);
    cr_expect_eq(c.sentences, 3);
    cr_expect_eq(c.syllables, 7);
    cr_expect_float_eq(gc_story_score("Wow!!! Is it beautiful? Yes", GC_STORY_COMPLEXITY),
                       0.39 * 5 / 3 + 11.8 * 7 / 5 - 15.59, 1e-12);
    cr_expect_float_eq(gc_story_score("Wow!!! Is it beautiful? Yes", GC_STORY_COHERENCE), 1.0,
                       1e-12);

    /* non-ASCII bytes and punctuation separate words; a lone apostrophe is no word */
    gc_story_count("caf\xc3\xa9 ' ok, 3 dogs", &c);
    cr_expect_eq(c.words, 4); /* caf, ok, 3, dogs */
    cr_expect_eq(c.sentences, 1);
    cr_expect_float_eq(gc_story_score("a", GC_STORY_COHERENCE), 1.0, 1e-12);
    /* "a b a b c": bigrams a-b, b-a, a-b, b-c: 3 of 4 distinct */
    cr_expect_float_eq(gc_story_score("a b A b c", GC_STORY_COHERENCE), 0.75, 1e-12);
}

Test(story, texts_without_words_score_nan) {
    cr_expect(isnan(gc_story_score("", GC_STORY_COMPLEXITY)));
    cr_expect(isnan(gc_story_score("... !?", GC_STORY_COHERENCE)));
    cr_expect(isnan(gc_story_score("words", 7)));
}

Test(story, attribute_names) {
    cr_expect_eq(gc_story_attribute("complexity"), GC_STORY_COMPLEXITY);
    cr_expect_eq(gc_story_attribute("coherence"), GC_STORY_COHERENCE);
    cr_expect_eq(gc_story_attribute("helpfulness"), -1);
    cr_expect_str_eq(gc_story_attribute_name(GC_STORY_COHERENCE), "coherence");
}
