/* lib/tasks/hh: splitting Helpful-Harmless dialogues into prompt and responses, loading the gzip
 * with its errors named by line, and the left-truncation rule; on the real harmless-base file and
 * the stories260K tokenizer when ../shared/data is there. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "helpers.h"
#include "lib/tasks/hh.h"

static char *write_gz(const char *tag, const char *text, size_t cut) {
    char *path = th_tmp_path(tag);
    gzFile f = gzopen(path, "wb");
    cr_assert(f);
    gzputs(f, text);
    gzclose(f);
    if (cut) { /* keep all but the last `cut` bytes of the compressed file */
        char *data;
        size_t n;
        cr_assert_eq(gc_read_file(path, &data, &n), GC_OK);
        cr_assert_eq(th_write_file(path, data, n - cut), 0);
        free(data);
    }
    return path;
}

Test(hh, splits_at_the_last_shared_assistant_cue) {
    gc_hh_pair p;
    cr_expect(gc_hh_split("\n\nHuman: hi\n\nAssistant: Hello!\n\nHuman: help\n\nAssistant: Sure.",
                          "\n\nHuman: hi\n\nAssistant: Hello!\n\nHuman: help\n\nAssistant: No.",
                          &p));
    cr_expect_str_eq(p.prompt, "\n\nHuman: hi\n\nAssistant: Hello!\n\nHuman: help\n\nAssistant:");
    cr_expect_str_eq(p.chosen, "Sure.");
    cr_expect_str_eq(p.rejected, "No.");
    free(p.prompt), free(p.chosen), free(p.rejected);
    /* the last cues differ (chosen has one more turn): the last shared one */
    cr_expect(gc_hh_split("\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant: d",
                          "\n\nHuman: a\n\nAssistant: x", &p));
    cr_expect_str_eq(p.prompt, "\n\nHuman: a\n\nAssistant:");
    cr_expect_str_eq(p.chosen, "b\n\nHuman: c\n\nAssistant: d");
    cr_expect_str_eq(p.rejected, "x");
    free(p.prompt), free(p.chosen), free(p.rejected);
    cr_expect(!gc_hh_split("\n\nHuman: a\n\nAssistant: b", "\n\nHuman: z\n\nAssistant: b", &p));
    cr_expect_str_eq(p.prompt, "");
    cr_expect_str_eq(p.chosen, "\n\nHuman: a\n\nAssistant: b");
    free(p.prompt), free(p.chosen), free(p.rejected);
}

Test(hh, loads_gzip_and_names_the_bad_line) {
    char *ok = write_gz("hh-ok.jsonl.gz",
                        "{\"chosen\": \"\\n\\nHuman: q\\n\\nAssistant: yes\", \"rejected\": "
                        "\"\\n\\nHuman: q\\n\\nAssistant: no\"}\n"
                        "{\"chosen\": \"A\", \"rejected\": \"B\"}\n",
                        0);
    gc_hh_set s;
    cr_assert_eq(gc_hh_load(ok, &s), GC_OK, "%s", gc_last_error());
    cr_expect_eq(s.n, 2);
    cr_expect_eq(s.no_shared_prompt, 1);
    cr_expect_str_eq(s.p[0].chosen, "yes");
    gc_hh_free(&s);
    const char *bad[] = {
        "{\"chosen\": \"a\", \"rejected\": \"b\"}\n{\"chosen\": \"a\"}\n",
        "{\"chosen\": \"a\", \"rejected\": \"b\"}\nnot json\n",
        "{\"chosen\": \"a\", \"rejected\": \"b\"}\n{\"chosen\": 1, \"rejected\": \"b\"}\n"};
    for (int i = 0; i < 3; i++) {
        char *path = write_gz("hh-bad.jsonl.gz", bad[i], 0), want[1100];
        cr_expect_eq(gc_hh_load(path, &s), GC_ERR_FORMAT, "case %d", i);
        snprintf(want, sizeof want, "%s:2:", path);
        cr_expect(strstr(gc_last_error(), want), "case %d: %s", i, gc_last_error());
        cr_expect_null(s.p, "nothing kept");
        remove(path), free(path);
    }
    /* a gzip cut short: an error naming the file, never a silently shorter data set */
    char *lines = calloc(1, 200000), *w = lines;
    for (int i = 0; i < 2000; i++)
        w += sprintf(w, "{\"chosen\": \"c%d\", \"rejected\": \"r%d\"}\n", i, i * 7);
    char *cut = write_gz("hh-cut.jsonl.gz", lines, 100);
    cr_expect_neq(gc_hh_load(cut, &s), GC_OK);
    cr_expect(strstr(gc_last_error(), cut), "%s", gc_last_error());
    char *empty = write_gz("hh-empty.jsonl.gz", "", 0);
    cr_expect_eq(gc_hh_load(empty, &s), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "no pairs"), "%s", gc_last_error());
    cr_expect_eq(gc_hh_load("/nonexistent/hh.jsonl.gz", &s), GC_ERR_IO);
    remove(ok), remove(cut), remove(empty);
    free(ok), free(cut), free(empty), free(lines);
}

Test(hh, real_pairs_encode_within_the_context) {
    char path[1024], tokp[1024];
    if (!th_data_file(path, sizeof path, "hh-rlhf/harmless-base-test.jsonl.gz") ||
        !th_data_file(tokp, sizeof tokp, "models/stories260K/tok512.bin"))
        cr_skip_test("hh-rlhf or tok512.bin not found under %s", th_data_dir());
    gc_hh_set s;
    cr_assert_eq(gc_hh_load(path, &s), GC_OK, "%s", gc_last_error());
    cr_expect_eq(s.n, 2312, "the harmless-base test split");
    cr_expect_eq(s.no_shared_prompt, 0);
    gc_tokenizer t;
    cr_assert_eq(gc_tokenizer_load(&t, tokp, 512), GC_OK, "%s", gc_last_error());
    enum { L = 512 };
    int32_t seq[L], whole[8192];
    int prompt_cut = 0, response_cut = 0, seen = 0;
    for (int i = 0; i < s.n; i += 8, seen++) { /* every 8th pair: the tokenizer is slow */
        for (int side = 0; side < 2; side++) {
            const char *resp = side ? s.p[i].rejected : s.p[i].chosen;
            gc_hh_tokens k;
            cr_assert_eq(gc_hh_encode(&t, s.p[i].prompt, resp, L, seq, &k), GC_OK);
            cr_assert_leq(k.len, L);
            cr_assert_eq(seq[0], GC_TOK_BOS);
            cr_assert_eq(seq[k.len - 1], GC_TOK_EOS);
            cr_assert_geq(k.prompt_len - 1, k.prompt_cut ? GC_HH_MIN_PROMPT : 0);
            prompt_cut += k.prompt_cut > 0, response_cut += k.response_cut > 0;
            int nr = 0;
            cr_assert_eq(gc_tokenizer_encode(&t, resp, 0, 0, whole, &nr), GC_OK);
            /* the response's tokens as encoded alone, cut only at its end */
            cr_assert_eq(k.len - 1 - k.prompt_len, nr - k.response_cut);
            cr_assert(!memcmp(seq + k.prompt_len, whole, sizeof(int32_t) * (nr - k.response_cut)),
                      "pair %d side %d", i, side);
        }
    }
    /* the numbers docs state for 3a's truncation rule at stories260K's context */
    cr_log_info("hh: of %d sequences, %d had their prompt cut and %d their response cut", 2 * seen,
                prompt_cut, response_cut);
    cr_expect_gt(prompt_cut, 0);
    cr_expect_lt(response_cut, prompt_cut);
    gc_tokenizer_free(&t);
    gc_hh_free(&s);
}
