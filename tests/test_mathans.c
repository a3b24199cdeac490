/* lib/tasks/mathans and lib/tasks/mathbench: final-answer extraction, normalisation and
 * equivalence, each rule worked by hand; then against graders that are not ours, on the data in
 * ../shared/data: the extracted answers and correctness flags of 800 MATH responses graded by
 * another harness (qwen-rm-maj), MATH500's own answer field against its solutions' \boxed{}, and
 * the correctness labels of 5,276 GSM8k model solutions; and the benchmark loaders on every
 * public file, with malformed lines named by file and line or skipped and counted; the CSV reader
 * (quoted fields, line breaks in them, line numbers) and the algebra222 (CSV) and MathQA (one JSON
 * array, both forms of its options) loaders on files written here. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "helpers.h"
#include "lib/tasks/mathans.h"
#include "lib/tasks/mathbench.h"
#include "lib/util/jsonio.h"

static void expect_extract(const char *text, gc_ma_kind kind, const char *want) {
    char out[256];
    gc_ma_kind k = gc_ma_extract(text, out, sizeof out);
    cr_expect_eq(k, kind, "kind of [%s]: %d, expected %d", text, k, kind);
    cr_expect_str_eq(out, want, "answer of [%s]", text);
}

Test(mathans, extraction_finds_the_final_answer) {
    expect_extract("so $x = \\boxed{\\frac{1}{2}}$.", GC_MA_BOXED, "\\frac{1}{2}");
    expect_extract("\\boxed{3} then \\boxed{\\{a, b\\}^{2}}", GC_MA_BOXED, "\\{a, b\\}^{2}");
    expect_extract("\\fbox{7} and later \\boxed 12 $", GC_MA_BOXED, "12");
    expect_extract("\\boxed{4} but \\fbox{5}", GC_MA_BOXED, "5");
    expect_extract("3 + 4 = 7\n#### 1,234\n", GC_MA_HASHES, "1,234");
    expect_extract("Thus the answer is $42$. Done.", GC_MA_ANSWER_IS, "42");
    expect_extract("The answer is: 7.5.", GC_MA_ANSWER_IS, "7.5");
    expect_extract("She has 3.\nA: 18\n", GC_MA_A_COLON, "18");
    expect_extract("PLAN A: 3 steps", GC_MA_NONE, ""); /* not at a line's start */
    expect_extract("no answer here", GC_MA_NONE, "");
    expect_extract("\\boxed{unclosed", GC_MA_NONE, "");
    char small[4];
    cr_expect_eq(gc_ma_extract("\\boxed{123456}", small, sizeof small), GC_MA_BOXED);
    cr_expect_str_eq(small, "123", "truncated to fit");
}

static void expect_norm(const char *in, const char *want) {
    char out[256];
    gc_ma_normalize(in, out, sizeof out);
    cr_expect_str_eq(out, want, "normal form of [%s]", in);
}

Test(mathans, normalisation_rules) {
    expect_norm("\\dfrac{3}{4}", "\\frac{3}{4}");
    expect_norm("\\tfrac12", "\\frac{1}{2}");
    expect_norm("\\sqrt3", "\\sqrt{3}");
    expect_norm("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})");
    expect_norm("10\\text{ cm}", "10");
    expect_norm("\\text{(C)}", "(C)");
    expect_norm("\\textbf{Monday}", "Monday");
    expect_norm("45^\\circ", "45");
    expect_norm("90^{\\circ}", "90");
    expect_norm("\\$1,000,000.50", "1000000.50");
    expect_norm("1,2", "1,2"); /* not a thousands number: a list */
    expect_norm("12\\%", "12");
    expect_norm("x = 5", "5");
    expect_norm("y=2x+1", "2x+1");
    expect_norm("a+b=c", "a+b=c"); /* more than two characters before '=': kept */
    expect_norm(".5", "0.5");
    expect_norm("3/4", "\\frac{3}{4}");
    expect_norm("-3/4", "\\frac{-3}{4}");
    expect_norm("7.", "7");
    expect_norm("\\!\\$ 5 \\!", "5");
}

Test(mathans, closed_form_values) {
    static const struct {
        const char *text;
        double v;
    } good[] = {
        {"42", 42},
        {"-0.25", -0.25},
        {"\\frac{1}{2}", 0.5},
        {"\\frac{-3}{4}", -0.75},
        {"2\\sqrt{3}", 3.4641016151377544},
        {"\\sqrt[3]{27}", 3},
        {"3\\pi", 9.42477796076938},
        {"\\frac{\\sqrt{2}}{2}", 0.7071067811865476},
        {"2^{10}", 1024},
        {"2^3\\cdot5", 40},
        {"6\\times7-2", 40},
        {"(1+2)(3+4)", 21},
        {"10\\div4", 2.5},
        {"-2^2", -4},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        double v = 0;
        cr_expect(gc_ma_value(good[i].text, &v), "[%s] reads", good[i].text);
        cr_expect_float_eq(v, good[i].v, 1e-12, "[%s] = %.17g, expected %.17g", good[i].text, v,
                           good[i].v);
    }
    static const char *const bad[] = {"", "x", "2x", "(1,2)", "\\frac{1}", "3+", "\\pix", "1..2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v;
        cr_expect_not(gc_ma_value(bad[i], &v), "[%s] is not a closed-form number", bad[i]);
    }
}

Test(mathans, equivalence_rules) {
    static const struct {
        const char *a, *b;
        int eq;
    } cases[] = {
        {"\\frac{1}{2}", "0.5", 1},
        {"1/2", "\\dfrac12", 1},
        {"2\\sqrt{3}", "\\sqrt{12}", 1},
        {"\\frac{\\sqrt{3}}{2}", "0.8660254", 1}, /* within 1e-4 relative */
        {"\\frac{\\sqrt{3}}{2}", "0.8665", 0},    /* 5.5e-4 off */
        {"120,006", "120000", 0},                 /* whole numbers: exactly */
        {"18.00", "18", 1},
        {"50\\%", "0.5", 1}, /* a percent may stand for its hundredth */
        {"50", "0.5", 0},    /* ... only when written with one */
        {"(1, 2)", "(1,2)", 1},
        {"(1,2)", "[1,2)", 0}, /* an interval's brackets matter */
        {"(\\frac{1}{2}, 3)", "(0.5, 3)", 1},
        {"(1,2,3)", "(1,2)", 0},
        {"2, -3", "2,-3", 1},
        {"2, -3", "-3, 2", 0}, /* in order */
        {"10\\text{ cm}", "10", 1},
        {"x = 5", "5", 1},
        {"\\text{(C)}", "C", 1},
        {"(B)", "C", 0},
        {"x+1", "1+x", 0}, /* nothing symbolic */
        {"\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", 1},
        {"", "0", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_expect_eq(gc_ma_equal(cases[i].a, cases[i].b), cases[i].eq, "[%s] vs [%s]: expected %d",
                     cases[i].a, cases[i].b, cases[i].eq);
        cr_expect_eq(gc_ma_equal(cases[i].b, cases[i].a), cases[i].eq, "symmetric: [%s] vs [%s]",
                     cases[i].b, cases[i].a);
    }
    cr_expect(gc_ma_check("... so she makes $18.\n#### 18", "18"));
    cr_expect_not(gc_ma_check("no final answer", "18"));
}

/* ---- against graders that are not ours ---- */

typedef struct {
    int n, ext_agree, grade_agree;
} qwen_tally;

static gc_status qwen_line(const cJSON *j, int line, void *ctx) {
    qwen_tally *t = ctx;
    const cJSON *code = cJSON_GetObjectItem(j, "code"), *pred = cJSON_GetObjectItem(j, "pred");
    const cJSON *score = cJSON_GetObjectItem(j, "score");
    const char *answer = gc_json_str(j, "answer");
    cr_assert(answer && cJSON_GetArraySize(code) == cJSON_GetArraySize(pred), "line %d", line);
    for (int i = 0; i < cJSON_GetArraySize(code); i++) {
        char got[1024];
        gc_ma_extract(cJSON_GetArrayItem(code, i)->valuestring, got, sizeof got);
        const char *theirs = cJSON_GetArrayItem(pred, i)->valuestring;
        int ext = gc_ma_equal(got, theirs);
        int grade = gc_ma_equal(got, answer) == cJSON_IsTrue(cJSON_GetArrayItem(score, i));
        cr_expect(ext, "line %d response %d: extracted [%s], the other harness [%s]", line, i, got,
                  theirs);
        cr_expect(grade, "line %d response %d: [%s] vs [%s] graded %d against the flag", line, i,
                  got, answer, gc_ma_equal(got, answer));
        t->n++, t->ext_agree += ext, t->grade_agree += grade;
    }
    return GC_OK;
}

Test(mathans, agrees_with_another_harness_on_math_responses) {
    char path[512];
    if (!th_data_file(path, sizeof path, "qwen-rm-maj/math_cot_100.jsonl"))
        cr_skip_test("%s is missing (GCRM_DATA or ../shared/data)", path);
    qwen_tally t = {0};
    cr_assert_eq(gc_jsonl_each(path, qwen_line, &t), GC_OK, "%s", gc_last_error());
    cr_assert_eq(t.n, 800);
    cr_expect_eq(t.ext_agree, 800, "extraction agrees on %d of 800", t.ext_agree);
    cr_expect_eq(t.grade_agree, 800, "grading agrees on %d of 800", t.grade_agree);
}

Test(mathans, math500_solutions_box_their_answer) {
    char path[512];
    if (!th_data_file(path, sizeof path, "math/math500.jsonl"))
        cr_skip_test("%s is missing (GCRM_DATA or ../shared/data)", path);
    gc_mb_set boxed, given;
    cr_assert_eq(gc_mb_load(path, GC_MB_MATH, 0, &boxed), GC_OK, "%s", gc_last_error());
    cr_assert_eq(gc_mb_load(path, GC_MB_MATH500, 0, &given), GC_OK, "%s", gc_last_error());
    cr_assert_eq(boxed.n, 500);
    for (int i = 0; i < boxed.n; i++)
        cr_expect(gc_ma_equal(boxed.it[i].answer, given.it[i].answer),
                  "problem %d: boxed [%s], answer field [%s]", i, boxed.it[i].answer,
                  given.it[i].answer);
    gc_mb_free(&boxed);
    gc_mb_free(&given);
}

typedef struct {
    int n, agree;
} gsm_tally;

static gc_status gsm_line(const cJSON *j, int line, void *ctx) {
    gsm_tally *t = ctx;
    static const char *const models[] = {"6b_finetuning", "6b_verification", "175b_finetuning",
                                         "175b_verification"};
    char gt[256];
    cr_assert_eq(gc_ma_extract(gc_json_str(j, "ground_truth"), gt, sizeof gt), GC_MA_A_COLON);
    for (int m = 0; m < 4; m++) {
        const cJSON *o = cJSON_GetObjectItem(j, models[m]);
        int ours = gc_ma_check(gc_json_str(o, "solution"), gt);
        int label = cJSON_IsTrue(cJSON_GetObjectItem(o, "is_correct"));
        cr_expect_eq(ours, label, "line %d %s: checked %d, labelled %d", line, models[m], ours,
                     label);
        t->n++, t->agree += ours == label;
    }
    return GC_OK;
}

Test(mathans, agrees_with_gsm8k_solution_labels) {
    char path[512];
    if (!th_data_file(path, sizeof path, "gsm8k/example_model_solutions.jsonl"))
        cr_skip_test("%s is missing (GCRM_DATA or ../shared/data)", path);
    gsm_tally t = {0};
    cr_assert_eq(gc_jsonl_each(path, gsm_line, &t), GC_OK, "%s", gc_last_error());
    cr_assert_eq(t.n, 4 * 1319);
    cr_expect_eq(t.agree, t.n, "%d of %d labels agree", t.agree, t.n);
}

/* ---- the benchmark loaders ---- */

Test(mathbench, every_public_file_loads) {
    static const struct {
        const char *file;
        gc_mb_format format;
        int n;
        const char *first_answer;
    } files[] = {
        {"gsm8k/test.jsonl", GC_MB_GSM8K, 1319, "18"},
        {"gsm8k/train.jsonl", GC_MB_GSM8K, 7473, "72"},
        {"math/test.jsonl", GC_MB_MATH, 5000, "2"},
        {"math/math500.jsonl", GC_MB_MATH500, 500, "\\left( 3, \\frac{\\pi}{2} \\right)"},
        {"gsm-hard/test.jsonl", GC_MB_GSM_HARD, 1319, "-9867630"},
        {"svamp/test.jsonl", GC_MB_SVAMP, 1000, "145"},
        {"asdiv/test.jsonl", GC_MB_ASDIV, 2215, "9"},
        {"mawps/test.jsonl", GC_MB_MAWPS, 2065, "43"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        if (!th_data_file(path, sizeof path, files[i].file))
            cr_skip_test("%s is missing (GCRM_DATA or ../shared/data)", path);
        gc_mb_set s;
        cr_assert_eq(gc_mb_load(path, GC_MB_AUTO, 0, &s), GC_OK, "%s", gc_last_error());
        cr_expect_eq(s.format, files[i].format, "%s detected as %s", files[i].file,
                     gc_mb_format_name(s.format));
        cr_expect_eq(s.n, files[i].n, "%s: %d problems", files[i].file, s.n);
        cr_expect_eq(s.skipped, 0);
        cr_expect_str_eq(s.it[0].answer, files[i].first_answer, "%s", files[i].file);
        for (int k = 0; k < s.n; k++)
            cr_expect(s.it[k].question[0] && s.it[k].answer[0], "%s item %d empty", files[i].file,
                      k);
        gc_mb_free(&s);
    }
    char path[512];
    gc_mb_set s;
    if (!th_data_file(path, sizeof path, "svamp/test.jsonl"))
        cr_skip_test("%s is missing (GCRM_DATA or ../shared/data)", path);
    cr_assert_eq(gc_mb_load(path, GC_MB_SVAMP, 0, &s), GC_OK, "%s", gc_last_error());
    cr_expect_str_eq(s.it[0].question,
                     "There are 87 oranges and 290 bananas in Philip's collection. If the bananas "
                     "are organized into 2 groups and oranges are organized into 93 groups How big "
                     "is each group of bananas?",
                     "Body and Question joined by a space");
    gc_mb_free(&s);
}

/* a file (named ...tag) of one good problem and one bad one: an error naming the file, `where` and
 * frag; with skips, the good one kept and the bad one counted */
static void expect_bad_in(const char *tag, const char *text, gc_mb_format f, const char *where,
                          const char *frag) {
    char *p = th_tmp_path(tag);
    cr_assert_eq(th_write_file(p, text, strlen(text)), 0);
    gc_mb_set s;
    cr_expect_neq(gc_mb_load(p, f, 0, &s), GC_OK, "[%s] accepted", text);
    const char *e = gc_last_error();
    cr_expect(strstr(e, p) && strstr(e, where) && strstr(e, frag),
              "expected %s, %s and '%s' in: %s", p, where, frag, e);
    cr_assert_eq(gc_mb_load(p, f, 1, &s), GC_OK, "%s", gc_last_error());
    cr_expect_eq(s.n, 1);
    cr_expect_eq(s.skipped, 1, "the bad problem counted");
    gc_mb_free(&s);
    remove(p);
    free(p);
}

static void expect_bad_line(const char *text, gc_mb_format f, const char *frag) {
    expect_bad_in("bench.jsonl", text, f, ":2:", frag);
}

Test(mathbench, malformed_lines_are_named_or_counted) {
    const char *gsm = "{\"question\": \"q\", \"answer\": \"x\\n#### 3\"}\n";
    char buf[512];
    snprintf(buf, sizeof buf, "%s{\"question\": \"q\", \"answer\": \"no final line\"}\n", gsm);
    expect_bad_line(buf, GC_MB_GSM8K, "####");
    snprintf(buf, sizeof buf, "%s{\"question\": 3, \"answer\": \"#### 3\"}\n", gsm);
    expect_bad_line(buf, GC_MB_GSM8K, "question");
    expect_bad_line("{\"problem\": \"p\", \"solution\": \"\\\\boxed{1}\"}\n"
                    "{\"problem\": \"p\", \"solution\": \"unboxed\"}\n",
                    GC_MB_MATH, "boxed");
    expect_bad_line("{\"Body\": \"b\", \"Question\": \"q\", \"Answer\": 1}\n"
                    "{\"Body\": \"b\", \"Question\": \"q\", \"Answer\": \"1\"}\n",
                    GC_MB_SVAMP, "Answer");
    expect_bad_line("{\"input\": \"i\", \"target\": 2}\n{\"input\": \"i\"}\n", GC_MB_AUTO,
                    "target");
    char *p = th_tmp_path("bench-none.jsonl");
    cr_assert_eq(th_write_file(p, "{\"foo\": 1}\n", 11), 0);
    gc_mb_set s;
    cr_expect_neq(gc_mb_load(p, GC_MB_AUTO, 1, &s), GC_OK, "no known keys: an error even skipping");
    cr_expect(strstr(gc_last_error(), ":1:") && strstr(gc_last_error(), "format"), "%s",
              gc_last_error());
    cr_expect_neq(gc_mb_load("/nonexistent/bench.jsonl", GC_MB_AUTO, 0, &s), GC_OK);
    cr_expect_eq(gc_mb_format_parse("gsm-hard"), GC_MB_GSM_HARD);
    cr_expect_eq(gc_mb_format_parse("gsm9k"), -1);
    free(p);
}

/* ---- CSV (lib/util/csvio.h) and the algebra222 and MathQA loaders ---- */

#include "lib/util/csvio.h"

typedef struct {
    int records, lines[8], fields[8];
    char first[8][64], last[8][64];
} csv_seen;

static gc_status seen_record(char *const *f, int n, int line, void *ctx) {
    csv_seen *s = ctx;
    if (s->records < 8) {
        s->lines[s->records] = line, s->fields[s->records] = n;
        snprintf(s->first[s->records], 64, "%s", n ? f[0] : "");
        snprintf(s->last[s->records], 64, "%s", n ? f[n - 1] : "");
    }
    s->records++;
    return GC_OK;
}

Test(csv, quoted_fields_line_breaks_and_line_numbers) {
    const char *text = "question,final_answer\n"
                       "\"One, two\",3\n"
                       "\"Say \"\"hi\"\"\nthen go\", 4 \n"
                       "\n"
                       "plain,5";
    char *p = th_tmp_path("t.csv");
    cr_assert_eq(th_write_file(p, text, strlen(text)), 0);
    csv_seen s = {0};
    cr_assert_eq(gc_csv_each(p, seen_record, &s), GC_OK, "%s", gc_last_error());
    cr_assert_eq(s.records, 4, "header, three records; the blank line is none");
    cr_expect_str_eq(s.first[1], "One, two");
    cr_expect_str_eq(s.first[2], "Say \"hi\"\nthen go", "doubled quotes, a line break kept");
    cr_expect_str_eq(s.last[2], " 4 ", "spaces around an unquoted field kept");
    cr_expect_str_eq(s.first[3], "plain", "a last record without a line break");
    const int want_lines[] = {1, 2, 3, 6};
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(s.fields[i], 2);
        cr_expect_eq(s.lines[i], want_lines[i], "record %d starts on line %d, not %d", i,
                     want_lines[i], s.lines[i]);
    }
    const char *bad[] = {"a,b\n1,\"open\n2,3\n", "a,b\nx\"y,1\n"};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(th_write_file(p, bad[i], strlen(bad[i])), 0);
        memset(&s, 0, sizeof s);
        cr_expect_neq(gc_csv_each(p, seen_record, &s), GC_OK, "[%s] accepted", bad[i]);
        cr_expect(strstr(gc_last_error(), p) && strstr(gc_last_error(), ":2:"),
                  "file and line 2 in: %s", gc_last_error());
    }
    remove(p);
    free(p);
}

/* text written to a file named ...tag, loaded with the format detected: that format, n problems;
 * the path is the caller's */
static char *load_detected(const char *tag, const char *text, gc_mb_format want, int n,
                           gc_mb_set *s) {
    char *p = th_tmp_path(tag);
    cr_assert_eq(th_write_file(p, text, strlen(text)), 0);
    cr_assert_eq(gc_mb_load(p, GC_MB_AUTO, 0, s), GC_OK, "%s", gc_last_error());
    cr_expect_eq(s->format, want, "%s detected as %s", tag, gc_mb_format_name(s->format));
    cr_assert_eq(s->n, n);
    return p;
}

Test(mathbench, algebra222_csv) {
    const char *text = "question,final_answer\n"
                       "\"A number, doubled, is 12. What is it?\",6.0\n"
                       "\"Twice x is \"\"5\"\".\nFind x.\",2.5\n";
    gc_mb_set s; /* a .csv file is algebra222 */
    char *p = load_detected("algebra222.csv", text, GC_MB_ALGEBRA222, 2, &s);
    cr_expect_str_eq(s.it[0].question, "A number, doubled, is 12. What is it?");
    cr_expect_str_eq(s.it[0].answer, "6", "6.0 written as the shortest number");
    cr_expect_str_eq(s.it[1].question, "Twice x is \"5\".\nFind x.");
    cr_expect_str_eq(s.it[1].answer, "2.5");
    gc_mb_free(&s);
    /* a bad answer on line 3: named, or counted with skips */
    expect_bad_in("bad.csv", "question,final_answer\nq,1\nq,six\n", GC_MB_ALGEBRA222,
                  ":3:", "final_answer");
    expect_bad_in("inf.csv", "question,final_answer\nq,1\nq,inf\n", GC_MB_ALGEBRA222,
                  ":3:", "final_answer");
    const char *short_row = "question,final_answer\nq\n";
    cr_assert_eq(th_write_file(p, short_row, strlen(short_row)), 0);
    cr_expect_neq(gc_mb_load(p, GC_MB_ALGEBRA222, 0, &s), GC_OK, "a row of one field");
    const char *no_col = "question,answer\nq,1\n";
    cr_assert_eq(th_write_file(p, no_col, strlen(no_col)), 0);
    cr_expect_neq(gc_mb_load(p, GC_MB_ALGEBRA222, 1, &s), GC_OK, "no final_answer column");
    cr_expect(strstr(gc_last_error(), ":1:") && strstr(gc_last_error(), "final_answer"), "%s",
              gc_last_error());
    remove(p);
    free(p);
}

Test(mathbench, mathqa_json_array) {
    const char *text =
        "[{\"Problem\": \"the cost of 3 pens is 12 . find the cost of one .\", \"Rationale\": "
        "\"...\", \"options\": \"a ) 38 , b ) 4 , c ) 30 , d ) data inadequate , e ) none of "
        "these\", \"correct\": \"b\"},\n"
        " {\"Problem\": \"what is 1 / 2 of 9 ?\", \"options\": \"['a ) 4.5', 'b ) 3', 'c ) 2', "
        "'d ) 1', 'e ) 0']\", \"correct\": \"a\"},\n"
        " {\"Problem\": \"pick the last\", \"options\": [\"a ) 1\", \"b ) 2\", \"c ) 3\", \"d ) "
        "4\", \"e ) rs . 1 , 200\"], \"correct\": \"e\"}]\n";
    gc_mb_set s; /* a file opening with '[' is MathQA */
    char *p = load_detected("mathqa.json", text, GC_MB_MATHQA, 3, &s);
    cr_expect_str_eq(s.it[0].answer, "4");
    cr_expect_str_eq(s.it[0].question,
                     "the cost of 3 pens is 12 . find the cost of one .\nOptions: a ) 38 , b ) 4 "
                     ", c ) 30 , d ) data inadequate , e ) none of these");
    cr_expect_str_eq(s.it[1].answer, "4.5", "the bracketed form");
    cr_expect_str_eq(s.it[2].answer, "rs . 1 , 200", "a list of options; a comma inside one");
    gc_mb_free(&s);
    expect_bad_in("bad.json",
                  "[{\"Problem\": \"p\", \"options\": \"a ) 1 , b ) 2\", \"correct\": \"a\"},"
                  " {\"Problem\": \"p\", \"options\": \"a ) 1 , b ) 2\", \"correct\": \"f\"}]",
                  GC_MB_MATHQA, "element 1", "correct");
    expect_bad_in(
        "bad2.json",
        "[{\"Problem\": \"p\", \"options\": [\"a ) 1\", \"b ) 2\"], \"correct\": \"b\"}, 3]",
        GC_MB_MATHQA, "element 1", "not a JSON object");
    expect_bad_in("bad3.json",
                  "[{\"Problem\": \"p\", \"options\": \"a ) 1 , b ) 2\", \"correct\": \"b\"},"
                  " {\"Problem\": \"p\", \"options\": [\"a ) 1\", 2], \"correct\": \"a\"}]",
                  GC_MB_MATHQA, "element 1", "options");
    const char *cut = "[{\"Problem\": \"p\", \"options\": \"a ) 1";
    cr_assert_eq(th_write_file(p, cut, strlen(cut)), 0);
    cr_expect_neq(gc_mb_load(p, GC_MB_MATHQA, 1, &s), GC_OK, "a file cut short");
    cr_expect(strstr(gc_last_error(), p), "the file named: %s", gc_last_error());
    const char *missing =
        "[{\"Problem\": \"p\", \"options\": \"a ) 1 , b ) 2\", \"correct\": \"c\"}]";
    cr_assert_eq(th_write_file(p, missing, strlen(missing)), 0);
    cr_expect_neq(gc_mb_load(p, GC_MB_MATHQA, 0, &s), GC_OK, "no option c");
    const char *object = "{\"Problem\": \"p\"}";
    cr_assert_eq(th_write_file(p, object, strlen(object)), 0);
    cr_expect_neq(gc_mb_load(p, GC_MB_MATHQA, 0, &s), GC_OK, "not an array");
    cr_expect(strstr(gc_last_error(), "array"), "%s", gc_last_error());
    cr_expect_eq(gc_mb_format_parse("algebra222"), GC_MB_ALGEBRA222);
    cr_expect_eq(gc_mb_format_parse("mathqa"), GC_MB_MATHQA);
    remove(p);
    free(p);
}
