/* lib/tasks/openmath: OpenMathInstruct-1 solutions and NeMo-Skills-style greedy predictions in
 * their public JSONL layouts (plain and gzip), the pairs rule worked by hand, malformed lines named
 * by file and line or skipped and counted. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "helpers.h"
#include "lib/tasks/openmath.h"

/* q1: 2 correct (lines 1, 3), 3 wrong (2, 4, 5); q2: only correct; q3: 1 correct, 1 wrong */
static const char OMI[] =
    "{\"question\": \"q1\", \"generated_solution\": \"s1\", \"expected_answer\": \"4\", "
    "\"predicted_answer\": \"4\", \"is_correct\": true, \"error_message\": \"\", "
    "\"generation_type\": \"masked_reference_solution\", \"dataset\": \"gsm8k\"}\n"
    "{\"question\": \"q1\", \"generated_solution\": \"s2\", \"expected_answer\": \"4\", "
    "\"predicted_answer\": \"5\", \"is_correct\": false, \"dataset\": \"gsm8k\"}\n"
    "{\"question\": \"q2\", \"generated_solution\": \"s3\", \"expected_answer\": 7, "
    "\"predicted_answer\": 7, \"is_correct\": true, \"dataset\": \"math\"}\n"
    "{\"question\": \"q1\", \"generated_solution\": \"s4\", \"expected_answer\": \"4\", "
    "\"predicted_answer\": \"4\", \"is_correct\": true}\n"
    "\n"
    "{\"question\": \"q3\", \"generated_solution\": \"s5\", \"expected_answer\": "
    "\"\\\\frac{1}{2}\", "
    "\"predicted_answer\": null, \"is_correct\": false}\n"
    "{\"question\": \"q1\", \"generated_solution\": \"s6\", \"expected_answer\": \"4\", "
    "\"predicted_answer\": \"3\", \"is_correct\": false}\n"
    "{\"question\": \"q1\", \"generated_solution\": \"s7\", \"expected_answer\": \"4\", "
    "\"predicted_answer\": \"2\", \"is_correct\": false}\n"
    "{\"question\": \"q3\", \"generation\": \"s8\", \"expected_answer\": \"0.5\", "
    "\"predicted_answer\": \"1/2\", \"symbolic_correct\": true}\n";

static int item_named(const gc_om_set *s, const char *sol) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->it[i].solution, sol)) return i;
    return -1;
}

Test(openmath, loads_both_layouts_and_pairs_by_question) {
    char *plain = th_tmp_path("omi.jsonl"), *zipped = th_tmp_path("omi.jsonl.gz");
    cr_assert_eq(th_write_file(plain, OMI, strlen(OMI)), 0);
    gzFile f = gzopen(zipped, "wb");
    cr_assert(f);
    gzputs(f, OMI);
    gzclose(f);
    for (int z = 0; z < 2; z++) {
        gc_om_set s;
        cr_assert_eq(gc_om_load(z ? zipped : plain, 0, &s), GC_OK, "%s", gc_last_error());
        cr_assert_eq(s.n, 8);
        cr_expect_str_eq(s.it[2].expected, "7", "a number kept as written");
        cr_expect_null(s.it[4].predicted, "null: no answer found");
        cr_expect_str_eq(s.it[4].expected, "\\frac{1}{2}");
        cr_expect_str_eq(s.it[0].dataset, "gsm8k");
        cr_expect_str_eq(s.it[3].dataset, "");
        cr_expect(s.it[7].correct, "symbolic_correct read as the label");
        int c[16], r[16], nq = 0;
        int n = gc_om_pairs(&s, 0, c, r, 16, &nq);
        /* q1: max(2, 3) = 3 pairs: (s1, s2), (s4, s6), (s1, s7); q3: (s8, s5) */
        cr_assert_eq(n, 4);
        cr_expect_eq(nq, 2);
        const char *want[4][2] = {{"s1", "s2"}, {"s4", "s6"}, {"s1", "s7"}, {"s8", "s5"}};
        for (int i = 0; i < 4; i++) {
            cr_expect_eq(c[i], item_named(&s, want[i][0]), "pair %d chosen", i);
            cr_expect_eq(r[i], item_named(&s, want[i][1]), "pair %d rejected", i);
        }
        cr_expect_eq(gc_om_pairs(&s, 2, c, r, 16, NULL), 3, "at most 2 per question");
        cr_expect_eq(gc_om_pairs(&s, 0, c, r, 2, NULL), 2, "at most cap");
        gc_om_free(&s);
    }
    free(plain), free(zipped);
}

Test(openmath, malformed_lines_are_named_or_skipped) {
    static const struct {
        const char *line, *frag;
    } bad[] = {
        {"{\"generated_solution\": \"s\", \"expected_answer\": \"1\", \"is_correct\": true}",
         "question"},
        {"{\"question\": \"q\", \"expected_answer\": \"1\", \"is_correct\": true}",
         "generated_solution or generation"},
        {"{\"question\": \"q\", \"generation\": \"s\", \"expected_answer\": [1], \"is_correct\": "
         "true}",
         "expected_answer"},
        {"{\"question\": \"q\", \"generation\": \"s\", \"expected_answer\": \"1\", "
         "\"predicted_answer\": {}, \"is_correct\": true}",
         "predicted_answer"},
        {"{\"question\": \"q\", \"generation\": \"s\", \"expected_answer\": \"1\", \"is_correct\": "
         "1}",
         "is_correct"},
        {"{\"question\": \"q\", \"generation\": \"s\", \"expected_answer\": \"1\", \"is_correct\": "
         "true, \"dataset\": 3}",
         "dataset"},
    };
    const char *good = "{\"question\": \"q\", \"generation\": \"s\", \"expected_answer\": \"1\", "
                       "\"is_correct\": true}\n";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024], *path = th_tmp_path("om-bad.jsonl");
        snprintf(text, sizeof text, "%s%s\n%s", good, bad[i].line, good);
        cr_assert_eq(th_write_file(path, text, strlen(text)), 0);
        gc_om_set s;
        cr_expect_eq(gc_om_load(path, 0, &s), GC_ERR_FORMAT, "accepted: %s", bad[i].line);
        char where[1100];
        snprintf(where, sizeof where, "%s:2:", path);
        cr_expect(strstr(gc_last_error(), where) && strstr(gc_last_error(), bad[i].frag),
                  "expected '%s' and '%s' in: %s", where, bad[i].frag, gc_last_error());
        cr_assert_eq(gc_om_load(path, 1, &s), GC_OK, "%s", gc_last_error());
        cr_expect_eq(s.n, 2);
        cr_expect_eq(s.skipped, 1);
        gc_om_free(&s);
        free(path);
    }
    gc_om_set s;
    char *empty = th_tmp_path("om-empty.jsonl");
    cr_assert_eq(th_write_file(empty, "\n", 1), 0);
    cr_expect_eq(gc_om_load(empty, 0, &s), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "no solutions"), "%s", gc_last_error());
    cr_expect_neq(gc_om_load("/nonexistent/omi.jsonl", 0, &s), GC_OK);
    free(empty);
}
