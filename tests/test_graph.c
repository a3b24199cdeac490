/* The graph domain: determinism, paths that are real and reach the goal, the splits'
 * definitions, corrupted paths that are wrong, path answers, and the task interface's rules
 * (one domain per experiment, no evaluation question in training). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "lib/tasks/chartok.h"
#include "lib/tasks/graph.h"

/* the question's edges: each pair of adjacent letters in the words after its ':', up to the '.' */
static int count_edges_where(const char *q, char from, char to) {
    int n = 0;
    for (const char *c = strchr(q, ':') + 1; *c && *c != '.'; c++)
        if (c[0] >= 'a' && c[0] <= 'z' && c[1] >= 'a' && c[1] <= 'z')
            n += (from == 0 || c[0] == from) && (to == 0 || c[1] == to);
    return n;
}

static int has_edge(const char *q, char a, char b) {
    return count_edges_where(q, a, b) > 0;
}
static int count_edges(const char *q, char from) {
    return count_edges_where(q, from, 0);
}

/* start and goal named in the question ("Go from s to g." or "Start at s and reach g") */
static void ends(const char *q, char *start, char *goal) {
    if (!strncmp(q, "Go from ", 8)) { /* "Go from s to g." */
        *start = q[8], *goal = q[13];
    } else { /* "Start at s and reach g." */
        cr_assert(!strncmp(q, "Start at ", 9), "%s", q);
        *start = q[9], *goal = q[21];
    }
}

/* the steps "xy" of a solution; returns how many are edges of q, and the walk's letters */
static int walk(const char *q, const char *sol, char *nodes, int *n_nodes, int *n_steps) {
    int real = 0;
    *n_nodes = *n_steps = 0;
    for (const char *l = sol; *l && strncmp(l, "####", 4); l = strchr(l, '\n') + 1) {
        cr_assert(l[0] >= 'a' && l[1] >= 'a' && l[2] == '\n', "a step line is xy: %s", sol);
        if (*n_nodes == 0) nodes[(*n_nodes)++] = l[0];
        cr_assert_eq(nodes[*n_nodes - 1], l[0], "steps chain: %s", sol);
        nodes[(*n_nodes)++] = l[1];
        real += has_edge(q, l[0], l[1]);
        (*n_steps)++;
    }
    return real;
}

Test(graph, problems_are_deterministic_real_paths_to_the_goal) {
    for (int split = GC_GRAPH_TRAIN; split <= GC_GRAPH_PARA; split++)
        for (int i = 0; i < 300; i++) {
            gc_problem a, b;
            gc_task_generate(split, 7, i, &a);
            gc_task_generate(split, 7, i, &b);
            cr_assert_str_eq(a.question, b.question);
            cr_assert_str_eq(a.solution, b.solution);
            cr_assert_eq(a.split, split);
            char start, goal, nodes[32];
            int n, steps;
            ends(a.question, &start, &goal);
            cr_assert_eq(walk(a.question, a.solution, nodes, &n, &steps), a.steps,
                         "every step is an edge of the prompt:\n%s%s", a.question, a.solution);
            cr_assert_eq(steps, a.steps);
            cr_assert(nodes[0] == start && nodes[n - 1] == goal, "%s%s", a.question, a.solution);
            for (int x = 0; x < n; x++)
                for (int y = x + 1; y < n; y++)
                    cr_assert_neq(nodes[x], nodes[y], "a path visits each node once");
            cr_assert(gc_task_check(a.solution, a.answer));
            cr_assert(strlen(a.question) > 2 &&
                      !strcmp(a.question + strlen(a.question) - 2, "?\n"));
            int32_t ids[2 * GC_TASK_TEXT];
            int nt = 0;
            cr_assert_eq(gc_chartok_encode(a.question, ids, 2 * GC_TASK_TEXT, &nt), GC_OK);
        }
    gc_problem a, b;
    gc_task_generate(GC_GRAPH_TRAIN, 7, 0, &a);
    gc_task_generate(GC_GRAPH_TRAIN, 8, 0, &b);
    cr_expect_str_neq(a.question, b.question, "the seed changes the problems");
}

Test(graph, splits_follow_their_definitions) {
    for (int i = 0; i < 300; i++) {
        gc_problem p;
        char s, g;
        /* d branches of L edges: d*L edges, d of them from the start */
        struct {
            gc_split split;
            int d_lo, d_hi, l_lo, l_hi;
        } want[] = {{GC_GRAPH_TRAIN, 2, 3, 2, 4}, {GC_GRAPH_EASY, 2, 2, 2, 3},
                    {GC_GRAPH_HARD, 3, 3, 3, 4},  {GC_GRAPH_WIDE, 4, 5, 2, 3},
                    {GC_GRAPH_LONG, 2, 3, 5, 6},  {GC_GRAPH_PARA, 2, 3, 2, 4}};
        for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
            gc_task_generate(want[k].split, 3, i, &p);
            ends(p.question, &s, &g);
            int d = count_edges(p.question, s), L = p.steps;
            cr_assert(d >= want[k].d_lo && d <= want[k].d_hi, "%s: %d branches",
                      gc_task_split_name(want[k].split), d);
            cr_assert(L >= want[k].l_lo && L <= want[k].l_hi, "%s: %d steps",
                      gc_task_split_name(want[k].split), L);
            cr_assert_eq(count_edges(p.question, 0), d * L);
            int para = strstr(p.question, "Start at") != NULL;
            cr_assert_eq(para, want[k].split == GC_GRAPH_PARA, "phrasing set B only in graph-para");
        }
    }
}

Test(graph, corrupted_paths_are_wrong_and_well_formed) {
    int made_up = 0, total = 0;
    for (int split = GC_GRAPH_TRAIN; split <= GC_GRAPH_PARA; split++)
        for (int i = 0; i < 100; i++, total++) {
            gc_problem p;
            char bad[GC_TASK_TEXT], nodes[32], s, g;
            gc_task_generate(split, 5, i, &p);
            gc_task_corrupt(&p, 9, bad);
            int64_t v;
            cr_assert(gc_task_extract(bad, &v), "a corrupted path has an answer: %s", bad);
            cr_assert_neq(v, p.answer, "a corrupted path is wrong:\n%s%s", p.question, bad);
            int n, steps, real = walk(p.question, bad, nodes, &n, &steps);
            ends(p.question, &s, &g);
            cr_assert_eq(nodes[0], s, "it starts at the start");
            cr_assert_neq(nodes[1], p.solution[1], "it takes another branch");
            cr_assert(real == steps || (real == steps - 1 && nodes[n - 1] == g),
                      "every step real but a made-up last one onto the goal:\n%s%s", p.question,
                      bad);
            made_up += real < steps;
            char again[GC_TASK_TEXT];
            gc_task_corrupt(&p, 9, again);
            cr_assert_str_eq(bad, again, "deterministic in (problem, seed)");
        }
    cr_expect(made_up > total / 4 && made_up < 3 * total / 4, "%d of %d end on a made-up step",
              made_up, total);
}

Test(graph, path_answers) {
    int64_t a, b;
    cr_assert(gc_task_extract("s>x\nx>g\n#### sxg\n", &a));
    cr_assert(gc_task_extract("#### sxg", &b) && a == b);
    cr_assert(gc_task_extract("#### sxh\n", &b) && a != b);
    cr_assert(gc_task_extract("#### sx\n", &b) && a != b, "a prefix is another answer");
    cr_expect(!gc_task_extract("#### sx1\n", &b), "letters then digits: malformed");
    cr_expect(!gc_task_extract("#### abcdefghijkl\n", &b), "more than GC_TASK_PATH letters");
    cr_expect(gc_task_extract("#### abcdefghijk\n", &b) && b < (1ll << 53),
              "the longest path is exact in a JSON number");
}

Test(graph, one_domain_per_set_and_no_evaluation_question_in_training) {
    gc_problem *train, *eval;
    int mixed[] = {GC_GRAPH_EASY, GC_ARITH_EASY};
    cr_assert_eq(gc_task_make_sets(1, 10, 10, mixed, 2, &train, &eval), GC_ERR_ARG);
    cr_assert(!train && !eval);
    int splits[] = {GC_GRAPH_EASY, GC_GRAPH_HARD, GC_GRAPH_WIDE, GC_GRAPH_LONG, GC_GRAPH_PARA};
    cr_assert_eq(gc_task_make_sets(1, 4000, 100, splits, 5, &train, &eval), GC_OK);
    for (int i = 0; i < 4000; i++) {
        cr_assert_eq(train[i].split, GC_GRAPH_TRAIN, "training problems of the splits' domain");
        for (int j = 0; j < 500; j++)
            cr_assert_str_neq(train[i].question, eval[j].question);
    }
    free(train), free(eval);
    int same[] = {GC_GRAPH_TRAIN};
    cr_assert_eq(gc_task_make_sets(1, 300, 50, same, 1, &train, &eval), GC_OK);
    for (int i = 0; i < 300; i++)
        for (int j = 0; j < 50; j++)
            cr_assert_str_neq(train[i].question, eval[j].question, "collision %d/%d kept", i, j);
    free(train), free(eval);
}
