/* The llama2.c tokenizer on tok512.bin: lookups, BPE merges, byte fallback, decode rules. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/base.h"
#include "lib/model/tokenizer.h"
#include "helpers.h"

static gc_tokenizer tok;

static void load(void) {
    char path[1024];
    if (!th_data_file(path, sizeof path, "models/stories260K/tok512.bin"))
        cr_skip_test("tok512.bin not found under %s", th_data_dir());
    cr_assert_eq(gc_tokenizer_load(&tok, path, 512), GC_OK, "%s", gc_last_error());
}

static void unload(void) {
    gc_tokenizer_free(&tok);
}

/* decode ids[1..n) after BOS into buf */
static size_t decode(const int32_t *ids, int n, char *buf) {
    size_t at = 0;
    for (int i = 1; i < n; i++) {
        char bb[2];
        size_t len;
        const char *p = gc_tokenizer_piece(&tok, ids[i - 1], ids[i], bb, &len);
        memcpy(buf + at, p, len);
        at += len;
    }
    buf[at] = 0;
    return at;
}

Test(tokenizer, roundtrip_and_merges, .init = load, .fini = unload) {
    const char *texts[] = {"Once upon a time, there was a little girl named Lily.",
                           "She said, \"I want to play!\"\nThe end.", "a", "  two  spaces",
                           "caf\xc3\xa9 \xe2\x98\x83 emoji"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t ids[256];
        int n;
        cr_assert_eq(gc_tokenizer_encode(&tok, texts[i], 1, 0, ids, &n), GC_OK);
        cr_assert_eq(ids[0], GC_TOK_BOS);
        char buf[1024];
        decode(ids, n, buf);
        cr_expect_str_eq(buf, texts[i], "roundtrip of text %zu", i);
        for (int k = 0; k < n; k++)
            cr_assert(ids[k] >= 0 && ids[k] < 512);
    }
    int32_t ids[128];
    int n;
    const char *s = "Once upon a time, there was a little girl named Lily.";
    cr_assert_eq(gc_tokenizer_encode(&tok, s, 1, 1, ids, &n), GC_OK);
    cr_expect_lt(n, (int)strlen(s) / 2, "BPE merged too little: %d tokens", n);
    cr_expect_eq(ids[n - 1], GC_TOK_EOS);
    /* the dummy prefix: " Once" is one piece in this vocabulary, and greedy merging finds it */
    int32_t once = gc_tokenizer_lookup(&tok, " Once", 5);
    cr_assert_geq(once, 0);
    cr_expect_eq(ids[1], once);
}

Test(tokenizer, byte_fallback_and_pieces, .init = load, .fini = unload) {
    /* a snowman is not in a 512-token vocabulary: three raw-byte tokens (byte + 3) */
    int32_t ids[16];
    int n;
    cr_assert_eq(gc_tokenizer_encode(&tok, "\xe2\x98\x83", 0, 0, ids, &n), GC_OK);
    cr_assert_eq(n, 4, "expected prefix + 3 byte tokens, got %d", n);
    cr_expect_eq(ids[1], 0xe2 + 3);
    cr_expect_eq(ids[2], 0x98 + 3);
    cr_expect_eq(ids[3], 0x83 + 3);
    char bb[2];
    size_t len;
    const char *p = gc_tokenizer_piece(&tok, 5, 0xe2 + 3, bb, &len);
    cr_expect(len == 1 && (unsigned char)p[0] == 0xe2, "<0xE2> decodes to the raw byte");
    int32_t sp_once = gc_tokenizer_lookup(&tok, " Once", 5);
    p = gc_tokenizer_piece(&tok, GC_TOK_BOS, sp_once, bb, &len);
    cr_expect(len == 4 && memcmp(p, "Once", 4) == 0, "leading space dropped after BOS");
    p = gc_tokenizer_piece(&tok, 100, sp_once, bb, &len);
    cr_expect(len == 5 && memcmp(p, " Once", 5) == 0, "space kept elsewhere");
    cr_expect_eq(gc_tokenizer_lookup(&tok, "no such piece at all", 20), -1);
    int32_t empty[4];
    cr_assert_eq(gc_tokenizer_encode(&tok, "", 1, 0, empty, &n), GC_OK);
    cr_expect_eq(n, 1, "empty text is BOS alone (no dummy prefix)");
}
