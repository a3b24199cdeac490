/* lib/tasks/helpsteer: HelpSteer's JSONL (plain and gzip), ratings, prototype selection, distinct
 * prompts; malformed lines named by file and line, or skipped and counted when allowed. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "helpers.h"
#include "lib/tasks/helpsteer.h"

static const char GOOD[] =
    "{\"prompt\": \"p1\", \"response\": \"r1\", \"helpfulness\": 4, \"correctness\": 3, "
    "\"coherence\": 4, \"complexity\": 1, \"verbosity\": 2}\n"
    "{\"prompt\": \"p1\", \"response\": \"r2\", \"helpfulness\": 1, \"correctness\": 0, "
    "\"coherence\": 2, \"complexity\": 3, \"verbosity\": 0}\n"
    "\n"
    "{\"prompt\": \"p2\", \"response\": \"r3\", \"helpfulness\": 3, \"correctness\": 4, "
    "\"coherence\": 4, \"complexity\": 4, \"verbosity\": 4}\n"
    "{\"prompt\": \"p3\", \"response\": \"r4\", \"helpfulness\": 0, \"correctness\": 1, "
    "\"coherence\": 0, \"complexity\": 0, \"verbosity\": 1}\n";

static char *gz(const char *tag, const char *text) {
    char *path = th_tmp_path(tag);
    gzFile f = gzopen(path, "wb");
    cr_assert(f);
    gzputs(f, text);
    gzclose(f);
    return path;
}

Test(helpsteer, loads_ratings_prototypes_and_prompts) {
    char *plain = th_tmp_path("hs.jsonl"), *zipped = gz("hs.jsonl.gz", GOOD);
    cr_assert_eq(th_write_file(plain, GOOD, strlen(GOOD)), 0);
    for (int k = 0; k < 2; k++) {
        gc_helpsteer_set s;
        cr_assert_eq(gc_helpsteer_load(k ? zipped : plain, 0, &s), GC_OK, "%s", gc_last_error());
        cr_assert_eq(s.n, 4);
        cr_expect_str_eq(s.it[2].response, "r3");
        cr_expect_eq(s.it[2].rating[GC_HS_COMPLEXITY], 4);
        int idx[4];
        int h = gc_helpsteer_attribute("helpfulness");
        cr_expect_eq(gc_helpsteer_rated(&s, h, 3, idx), 2);
        cr_expect(idx[0] == 0 && idx[1] == 2);
        cr_expect_eq(gc_helpsteer_rated(&s, gc_helpsteer_attribute("complexity"), 4, idx), 1);
        cr_expect_eq(gc_helpsteer_prompts(&s, idx), 3);
        cr_expect(idx[0] == 0 && idx[1] == 2 && idx[2] == 3, "first item of each prompt");
        gc_helpsteer_free(&s);
    }
    cr_expect_eq(gc_helpsteer_attribute("verbose"), -1);
    remove(plain), remove(zipped), free(plain), free(zipped);
}

Test(helpsteer, malformed_lines_are_named_or_counted) {
    const char *bad[] = {
        "{\"prompt\": \"p\", \"helpfulness\": 1, \"correctness\": 1, \"coherence\": 1, "
        "\"complexity\": 1, \"verbosity\": 1}\n",
        "{\"prompt\": \"p\", \"response\": \"r\", \"helpfulness\": 5, \"correctness\": 1, "
        "\"coherence\": 1, \"complexity\": 1, \"verbosity\": 1}\n",
        "{\"prompt\": \"p\", \"response\": \"r\", \"helpfulness\": 2.5, \"correctness\": 1, "
        "\"coherence\": 1, \"complexity\": 1, \"verbosity\": 1}\n",
        "[1, 2]\n"};
    const char *what[] = {"\"response\"", "\"helpfulness\"", "\"helpfulness\"",
                          "not a JSON object"};
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(GOOD) + strlen(bad[i]) + 1;
        char *text = malloc(n), *path = th_tmp_path("hs-bad.jsonl"), want[1100];
        snprintf(text, n, "%s%s", GOOD, bad[i]);
        cr_assert_eq(th_write_file(path, text, strlen(text)), 0);
        gc_helpsteer_set s;
        cr_expect_eq(gc_helpsteer_load(path, 0, &s), GC_ERR_FORMAT, "case %d", i);
        snprintf(want, sizeof want, "%s:6:", path);
        cr_expect(strstr(gc_last_error(), want) && strstr(gc_last_error(), what[i]), "case %d: %s",
                  i, gc_last_error());
        cr_expect_null(s.it);
        if (i < 3) { /* a malformed item may be skipped; a line that is not an object may not */
            cr_assert_eq(gc_helpsteer_load(path, 1, &s), GC_OK, "%s", gc_last_error());
            cr_expect(s.n == 4 && s.skipped == 1);
            gc_helpsteer_free(&s);
        }
        remove(path), free(path), free(text);
    }
    gc_helpsteer_set s;
    cr_expect_eq(gc_helpsteer_load("/nonexistent/validation.jsonl.gz", 0, &s), GC_ERR_IO);
    cr_expect(strstr(gc_last_error(), "/nonexistent/validation.jsonl.gz"), "%s", gc_last_error());
    char *empty = th_tmp_path("hs-empty.jsonl");
    cr_assert_eq(th_write_file(empty, "\n", 1), 0);
    cr_expect_eq(gc_helpsteer_load(empty, 0, &s), GC_ERR_FORMAT);
    remove(empty), free(empty);
}
