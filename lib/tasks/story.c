#include "story.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_word_byte(unsigned char c) {
    return c < 128 && (isalnum(c) || c == '\'');
}

static int is_vowel(unsigned char c) {
    return strchr("aeiouy", tolower(c)) != NULL;
}

int gc_story_syllables(const char *w, int len) {
    int groups = 0, letters = 0, prev = 0;
    for (int i = 0; i < len; i++) {
        unsigned char c = (unsigned char)w[i];
        if (!isalpha(c)) {
            prev = 0;
            continue;
        }
        letters++;
        int v = is_vowel(c);
        groups += v && !prev;
        prev = v;
    }
    if (!letters) return 1;
    /* the last letters: a final silent 'e' ("make"), but not consonant + "le" ("little") */
    int end = len;
    while (end > 0 && !isalpha((unsigned char)w[end - 1]))
        end--;
    if (groups > 1 && end >= 2 && tolower((unsigned char)w[end - 1]) == 'e' &&
        !is_vowel((unsigned char)w[end - 2])) {
        int le = tolower((unsigned char)w[end - 2]) == 'l' && end >= 3 &&
                 !is_vowel((unsigned char)w[end - 3]);
        if (!le) groups--;
    }
    return groups > 0 ? groups : 1;
}

/* the FNV-1a hash of a word bigram, lower-cased */
static uint64_t bigram_hash(const char *const *w, const int *len) {
    uint64_t h = 1469598103934665603ull;
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < len[k]; i++)
            h = (h ^ (uint64_t)tolower((unsigned char)w[k][i])) * 1099511628211ull;
        h = (h ^ 0x20) * 1099511628211ull;
    }
    return h;
}

static int same_word(const char *a, int na, const char *b, int nb) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return 0;
    return 1;
}

void gc_story_count(const char *text, gc_story_counts *out) {
    memset(out, 0, sizeof *out);
    size_t n = strlen(text);
    /* words: start and length; at most one per two bytes */
    size_t cap = n / 2 + 1;
    const char **ws = gc_malloc(sizeof(char *) * cap);
    int *wl = gc_malloc(sizeof(int) * cap);
    uint64_t *th = gc_malloc(sizeof(uint64_t) * cap);
    if (!ws || !wl || !th) { /* counts stay 0: the text scores NAN */
        free(ws), free(wl), free(th);
        return;
    }
    int words = 0, open = 0; /* open: words since the last sentence end */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)text[i];
        if (is_word_byte(c)) {
            size_t j = i, an = 0;
            while (j < n && is_word_byte((unsigned char)text[j]))
                an += isalnum((unsigned char)text[j++]) != 0;
            if (an) {
                ws[words] = text + i, wl[words] = (int)(j - i);
                out->syllables += gc_story_syllables(text + i, (int)(j - i));
                words++, open = 1;
            }
            i = j;
        } else if (c == '.' || c == '!' || c == '?') {
            while (i < n && strchr(".!?", text[i]))
                i++;
            out->sentences += open, open = 0;
        } else {
            i++;
        }
    }
    out->sentences += open;
    out->words = words;
    out->bigrams = words >= 2 ? words - 1 : 0;
    for (int t = 0; t < out->bigrams; t++) {
        th[t] = bigram_hash(ws + t, wl + t);
        int seen = 0;
        for (int u = 0; u < t && !seen; u++)
            seen = th[u] == th[t] && same_word(ws[u], wl[u], ws[t], wl[t]) &&
                   same_word(ws[u + 1], wl[u + 1], ws[t + 1], wl[t + 1]);
        out->distinct_bigrams += !seen;
    }
    free(ws), free(wl), free(th);
}

double gc_story_score(const char *text, int attribute) {
    gc_story_counts c;
    gc_story_count(text, &c);
    if (!c.words) return NAN;
    if (attribute == GC_STORY_COMPLEXITY)
        return 0.39 * c.words / c.sentences + 11.8 * c.syllables / c.words - 15.59;
    if (attribute == GC_STORY_COHERENCE)
        return c.bigrams ? (double)c.distinct_bigrams / c.bigrams : 1.0;
    return NAN;
}

static const char *const NAMES[GC_STORY_ATTRIBUTES] = {"complexity", "coherence"};

const char *gc_story_attribute_name(int a) {
    return a >= 0 && a < GC_STORY_ATTRIBUTES ? NAMES[a] : "?";
}

int gc_story_attribute(const char *name) {
    for (int a = 0; a < GC_STORY_ATTRIBUTES; a++)
        if (!strcmp(name, NAMES[a])) return a;
    return -1;
}
