#include "arith.h"

#include <stdio.h>
#include <string.h>

#include "lib/util/rng.h"

static const char *NAMES[] = {"Ann", "Ben", "Cara", "Dan", "Eva", "Finn", "Gia",  "Hal",
                              "Ivy", "Jon", "Kim",  "Leo", "Mia", "Ned",  "Olga", "Pete"};
static const int FEMALE[] = {1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0};
static const char *OBJECTS[] = {"apples", "pens",    "books", "coins", "cards",    "shells",
                                "stamps", "marbles", "cups",  "eggs",  "stickers", "beads"};

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

typedef struct {
    int steps_lo, steps_hi;
    int64_t start_lo, start_hi; /* first quantity */
    int64_t add_lo, add_hi;     /* operands of + and - */
    int mul_lo, mul_hi;         /* multipliers and divisors; 0 = no * or / */
    int64_t cap;                /* running value stays <= cap */
    int phrasing;               /* 0 = set A, 1 = set B */
} split_spec;

static const split_spec SPECS[GC_ARITH_PARA + 1] = {
    [GC_ARITH_TRAIN] = {2, 6, 2, 40, 1, 9, 2, 3, 99, 0},
    [GC_ARITH_EASY] = {2, 3, 2, 20, 1, 9, 0, 0, 99, 0},
    [GC_ARITH_HARD] = {4, 6, 10, 40, 1, 9, 2, 3, 99, 0},
    [GC_ARITH_BIG] = {2, 4, 100, 300, 1, 9, 2, 3, 999, 0},
    [GC_ARITH_LONG] = {7, 9, 2, 40, 1, 9, 2, 3, 99, 0},
    [GC_ARITH_PARA] = {2, 5, 2, 40, 1, 9, 2, 3, 99, 1},
};

static int64_t uniform(gc_rng *r, int64_t lo, int64_t hi) {
    return lo + (int64_t)gc_rng_below(r, (uint32_t)(hi - lo + 1));
}

static void phrase(char *q, int set, int op, int variant, int64_t b, const char *pro) {
    long long x = (long long)b;
    if (set == 0) {
        switch (op) {
        case OP_ADD:
            if (variant)
                gc_task_append(q, " %s buys %lld.", pro, x);
            else
                gc_task_append(q, " %s gets %lld more.", pro, x);
            break;
        case OP_SUB:
            if (variant)
                gc_task_append(q, " %s gives %lld away.", pro, x);
            else
                gc_task_append(q, " %s loses %lld.", pro, x);
            break;
        case OP_MUL:
            if (variant)
                gc_task_append(q, " It grows %lld times.", x);
            else
                gc_task_append(q, " %s gets %lld times as many.", pro, x);
            break;
        default:
            if (variant)
                gc_task_append(q, " %s keeps 1 of %lld equal parts.", pro, x);
            else
                gc_task_append(q, " %s splits them %lld ways and keeps 1.", pro, x);
            break;
        }
    } else {
        switch (op) {
        case OP_ADD:
            gc_task_append(q, " A friend adds %lld more.", x);
            break;
        case OP_SUB:
            gc_task_append(q, " Then %lld of them are lost.", x);
            break;
        case OP_MUL:
            gc_task_append(q, " Later the number is multiplied by %lld.", x);
            break;
        default:
            gc_task_append(q, " Then the number is divided by %lld.", x);
            break;
        }
    }
}

void gc_arith_generate(gc_split split, gc_rng *rng, gc_problem *p) {
    const split_spec *s = &SPECS[split];
    gc_rng r = *rng;
    int who_i = (int)gc_rng_below(&r, 16);
    const char *who = NAMES[who_i];
    const char *pro = FEMALE[who_i] ? "She" : "He";
    const char *obj = OBJECTS[gc_rng_below(&r, 12)];
    int steps = (int)uniform(&r, s->steps_lo, s->steps_hi);
    int64_t v = uniform(&r, s->start_lo, s->start_hi);
    if (s->phrasing == 0)
        gc_task_append(p->question, "%s has %lld %s.", who, (long long)v, obj);
    else
        gc_task_append(p->question, "There are %lld %s in %s's bag.", (long long)v, obj, who);
    for (int k = 0; k < steps; k++) {
        int ops = s->mul_hi ? 4 : 2, op = 0;
        int64_t b = 0, next = 0;
        for (int tries = 0; tries < 64; tries++) {
            op = (int)gc_rng_below(&r, (uint32_t)ops);
            if (op == OP_ADD) {
                b = uniform(&r, s->add_lo, s->add_hi);
                next = v + b;
                if (next <= s->cap) break;
            } else if (op == OP_SUB) {
                b = uniform(&r, s->add_lo, s->add_hi);
                next = v - b;
                if (next >= 1) break;
            } else if (op == OP_MUL) {
                b = uniform(&r, s->mul_lo, s->mul_hi);
                next = v * b;
                if (next <= s->cap) break;
            } else {
                b = uniform(&r, s->mul_lo, s->mul_hi);
                next = v / b;
                if (v % b == 0 && next >= 1) break;
            }
            op = -1;
        }
        if (op < 0) { /* nothing fitted: a small subtraction or addition always does */
            op = v > 1 ? OP_SUB : OP_ADD;
            b = 1;
            next = op == OP_SUB ? v - 1 : v + 1;
        }
        /* the sentence goes into the question; the solution restates it, then calculates */
        char sentence[GC_TASK_TEXT] = "";
        phrase(sentence, s->phrasing, op, (int)gc_rng_below(&r, 2), b, pro);
        gc_task_append(p->question, "%s", sentence);
        size_t sl = strlen(sentence);
        if (sl && sentence[sl - 1] == '.') sentence[sl - 1] = 0;
        static const char SYM[] = "+-*/";
        gc_task_append(p->solution, "%s: %lld%c%lld=%lld\n", sentence + 1, (long long)v, SYM[op],
                       (long long)b, (long long)next);
        v = next;
    }
    if (s->phrasing == 0)
        gc_task_append(p->question, " How many %s now?\n", obj);
    else
        gc_task_append(p->question, " How many %s are in the bag at the end?\n", obj);
    gc_task_append(p->solution, "#### %lld\n", (long long)v);
    p->answer = v;
    p->steps = steps;
}

void gc_arith_corrupt(const gc_problem *p, gc_rng *rng, char *out) {
    gc_rng r = *rng;
    int slip_line = (int)gc_rng_below(&r, (uint32_t)p->steps);
    int64_t slip = 1 + (int64_t)gc_rng_below(&r, 9);
    out[0] = 0;
    const char *line = p->solution;
    int64_t carried = 0;
    for (int k = 0; k < p->steps; k++) {
        long long a, b, res;
        char op;
        const char *calc = strstr(line, ": ");
        if (!calc || sscanf(calc + 2, "%lld%c%lld=%lld", &a, &op, &b, &res) != 4) break;
        gc_task_append(out, "%.*s", (int)(calc + 2 - line), line); /* the restated sentence, kept */
        if (k > 0) a = carried;
        res = op == '+' ? a + b : op == '-' ? a - b : op == '*' ? a * b : (b ? a / b : a);
        if (k == slip_line) res += (res > slip && gc_rng_below(&r, 2)) ? -slip : slip;
        carried = res;
        gc_task_append(out, "%lld%c%lld=%lld\n", a, op, b, res);
        line = strchr(line, '\n');
        if (!line) break;
        line++;
    }
    gc_task_append(out, "#### %lld\n", (long long)carried);
}
