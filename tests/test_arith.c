/* The arith domain: determinism, the checker, corrupted solutions, splits' definitions, and that
 * no evaluation question appears in training. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "lib/tasks/arith.h"
#include "lib/tasks/chartok.h"

/* replays a solution's lines and checks each calculation and the final answer */
static int solution_is_consistent(const gc_problem *p) {
    const char *line = p->solution;
    long long prev = 0;
    for (int k = 0; k < p->steps; k++) {
        long long a, b, r;
        char op;
        const char *calc = strstr(line, ": ");
        if (!calc || sscanf(calc + 2, "%lld%c%lld=%lld", &a, &op, &b, &r) != 4) return 0;
        if (k > 0 && a != prev) return 0;
        long long want = op == '+' ? a + b : op == '-' ? a - b : op == '*' ? a * b : a / b;
        if (op == '/' && a % b) return 0;
        if (r != want) return 0;
        prev = r;
        line = strchr(line, '\n') + 1;
    }
    return gc_task_check(p->solution, p->answer) && prev == p->answer;
}

Test(arith, problems_are_deterministic_and_correct) {
    for (int split = 0; split <= GC_ARITH_PARA; split++)
        for (int i = 0; i < 300; i++) {
            gc_problem a, b;
            gc_task_generate(split, 7, i, &a);
            gc_task_generate(split, 7, i, &b);
            cr_assert_str_eq(a.question, b.question);
            cr_assert(solution_is_consistent(&a), "%s %d:\n%s%s", gc_task_split_name(split), i,
                      a.question, a.solution);
            cr_assert(a.answer >= 1, "answers stay positive");
            int32_t ids[2 * GC_TASK_TEXT];
            int n = 0;
            cr_assert_eq(gc_chartok_encode(a.question, ids, 2 * GC_TASK_TEXT, &n), GC_OK);
        }
    gc_problem a, b;
    gc_task_generate(GC_ARITH_TRAIN, 7, 0, &a);
    gc_task_generate(GC_ARITH_TRAIN, 8, 0, &b);
    cr_expect_str_neq(a.question, b.question, "the seed changes the problems");
}

Test(arith, splits_follow_their_definitions) {
    for (int i = 0; i < 200; i++) {
        gc_problem p;
        gc_task_generate(GC_ARITH_EASY, 3, i, &p);
        cr_assert(p.steps >= 2 && p.steps <= 3);
        cr_assert(!strchr(p.solution, '*') && !strchr(p.solution, '/'), "easy uses + and - only");
        gc_task_generate(GC_ARITH_HARD, 3, i, &p);
        cr_assert(p.steps >= 4 && p.steps <= 6);
        gc_task_generate(GC_ARITH_LONG, 3, i, &p);
        cr_assert(p.steps >= 7, "long has more steps than any training problem");
        gc_task_generate(GC_ARITH_BIG, 3, i, &p);
        long long first;
        cr_assert(sscanf(strstr(p.solution, ": ") + 2, "%lld", &first) == 1 && first >= 100,
                  "big starts >= 100");
        gc_task_generate(GC_ARITH_PARA, 3, i, &p);
        cr_assert(strstr(p.question, "bag"), "para uses phrasing set B");
        gc_task_generate(GC_ARITH_TRAIN, 3, i, &p);
        cr_assert(p.steps >= 2 && p.steps <= 6);
        cr_assert(!strstr(p.question, "bag"), "training never uses phrasing set B");
    }
}

Test(arith, checker_and_extraction) {
    int64_t v;
    cr_expect(gc_task_extract("1+2=3\n#### 3\n", &v) && v == 3);
    cr_expect(gc_task_extract("#### 1\n#### 42", &v) && v == 42, "the last #### counts");
    cr_expect(gc_task_extract("####  -7\n", &v) && v == -7);
    cr_expect(!gc_task_extract("no answer here", &v));
    cr_expect(!gc_task_extract("#### X", &v));
    cr_expect(!gc_task_extract("#### 12abc", &v), "trailing garbage is not an answer");
    cr_expect(!gc_task_extract("#### 12345678901234567890", &v), "overlong numbers rejected");
    cr_expect(gc_task_check("#### 5\n", 5));
    cr_expect(!gc_task_check("#### 5\n", 6));
    cr_expect(!gc_task_check("", 0));
}

Test(arith, corrupted_solutions_are_wrong_but_well_formed) {
    int wrong = 0, total = 0;
    for (int split = 0; split <= GC_ARITH_PARA; split++)
        for (int i = 0; i < 100; i++, total++) {
            gc_problem p;
            char bad[GC_TASK_TEXT];
            gc_task_generate(split, 5, i, &p);
            gc_task_corrupt(&p, 9, bad);
            int64_t v;
            cr_assert(gc_task_extract(bad, &v), "corrupted solution has an answer: %s", bad);
            wrong += v != p.answer;
        }
    /* a slip can cancel out only through a later exact division's rounding */
    cr_expect_gt(wrong, total * 95 / 100, "only %d of %d corrupted solutions are wrong", wrong,
                 total);
}

Test(arith, no_evaluation_question_in_training) {
    int splits[] = {GC_ARITH_EASY, GC_ARITH_HARD, GC_ARITH_BIG, GC_ARITH_LONG, GC_ARITH_PARA};
    gc_problem *train, *eval;
    int nt = 20000, ne = 200;
    cr_assert_eq(gc_task_make_sets(1, nt, ne, splits, 5, &train, &eval), GC_OK);
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < 5 * ne; j++)
            cr_assert_str_neq(train[i].question, eval[j].question, "eval question %d in training",
                              j);
    free(train), free(eval);
    /* the exclusion itself: evaluate on the training distribution with the same seed, so the
     * first training problems are evaluation problems and must be skipped */
    int same[] = {GC_ARITH_TRAIN};
    cr_assert_eq(gc_task_make_sets(1, 500, 50, same, 1, &train, &eval), GC_OK);
    for (int i = 0; i < 500; i++)
        for (int j = 0; j < 50; j++)
            cr_assert_str_neq(train[i].question, eval[j].question, "collision %d/%d kept", i, j);
    free(train), free(eval);
}
