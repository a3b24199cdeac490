#include "arith.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/rng.h"

#include <stdlib.h>

static const char *SPLIT_NAMES[GC_ARITH_NSPLITS] = {"train",     "arith-easy", "arith-hard",
                                                    "arith-big", "arith-long", "arith-para"};

const char *gc_arith_split_name(gc_arith_split s) {
    return s >= 0 && s < GC_ARITH_NSPLITS ? SPLIT_NAMES[s] : "?";
}

int gc_arith_split_parse(const char *name) {
    for (int i = 0; i < GC_ARITH_NSPLITS; i++)
        if (!strcmp(name, SPLIT_NAMES[i])) return i;
    return -1;
}

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

static const split_spec SPECS[GC_ARITH_NSPLITS] = {
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

/* appends formatted text, never past the buffer */
static void add(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(char *buf, const char *fmt, ...) {
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, GC_ARITH_TEXT - n, fmt, ap);
    va_end(ap);
}

static void phrase(char *q, int set, int op, int variant, int64_t b, const char *pro) {
    long long x = (long long)b;
    if (set == 0) {
        switch (op) {
        case OP_ADD:
            if (variant)
                add(q, " %s buys %lld.", pro, x);
            else
                add(q, " %s gets %lld more.", pro, x);
            break;
        case OP_SUB:
            if (variant)
                add(q, " %s gives %lld away.", pro, x);
            else
                add(q, " %s loses %lld.", pro, x);
            break;
        case OP_MUL:
            if (variant)
                add(q, " It grows %lld times.", x);
            else
                add(q, " %s gets %lld times as many.", pro, x);
            break;
        default:
            if (variant)
                add(q, " %s keeps 1 of %lld equal parts.", pro, x);
            else
                add(q, " %s splits them %lld ways and keeps 1.", pro, x);
            break;
        }
    } else {
        switch (op) {
        case OP_ADD:
            add(q, " A friend adds %lld more.", x);
            break;
        case OP_SUB:
            add(q, " Then %lld of them are lost.", x);
            break;
        case OP_MUL:
            add(q, " Later the number is multiplied by %lld.", x);
            break;
        default:
            add(q, " Then the number is divided by %lld.", x);
            break;
        }
    }
}

void gc_arith_generate(gc_arith_split split, uint64_t seed, int64_t index, gc_arith_problem *p) {
    const split_spec *s = &SPECS[split];
    gc_rng r;
    gc_rng_init(&r, seed,
                gc_rng_stream(GC_STREAM_PROBLEM, ((uint64_t)split << 40) ^ (uint64_t)index));
    memset(p, 0, sizeof *p);
    int who_i = (int)gc_rng_below(&r, 16);
    const char *who = NAMES[who_i];
    const char *pro = FEMALE[who_i] ? "She" : "He";
    const char *obj = OBJECTS[gc_rng_below(&r, 12)];
    int steps = (int)uniform(&r, s->steps_lo, s->steps_hi);
    int64_t v = uniform(&r, s->start_lo, s->start_hi);
    if (s->phrasing == 0)
        add(p->question, "%s has %lld %s.", who, (long long)v, obj);
    else
        add(p->question, "There are %lld %s in %s's bag.", (long long)v, obj, who);
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
        char sentence[GC_ARITH_TEXT] = "";
        phrase(sentence, s->phrasing, op, (int)gc_rng_below(&r, 2), b, pro);
        add(p->question, "%s", sentence);
        size_t sl = strlen(sentence);
        if (sl && sentence[sl - 1] == '.') sentence[sl - 1] = 0;
        static const char SYM[] = "+-*/";
        add(p->solution, "%s: %lld%c%lld=%lld\n", sentence + 1, (long long)v, SYM[op], (long long)b,
            (long long)next);
        v = next;
    }
    if (s->phrasing == 0)
        add(p->question, " How many %s now?\n", obj);
    else
        add(p->question, " How many %s are in the bag at the end?\n", obj);
    add(p->solution, "#### %lld\n", (long long)v);
    p->answer = v;
    p->steps = steps;
}

void gc_arith_corrupt(const gc_arith_problem *p, uint64_t seed, char *out) {
    gc_rng r;
    gc_rng_init(&r, seed, gc_rng_stream(GC_STREAM_CORRUPT, gc_arith_hash(p->question)));
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
        add(out, "%.*s", (int)(calc + 2 - line), line); /* the restated sentence, kept */
        if (k > 0) a = carried;
        res = op == '+' ? a + b : op == '-' ? a - b : op == '*' ? a * b : (b ? a / b : a);
        if (k == slip_line) res += (res > slip && gc_rng_below(&r, 2)) ? -slip : slip;
        carried = res;
        add(out, "%lld%c%lld=%lld\n", a, op, b, res);
        line = strchr(line, '\n');
        if (!line) break;
        line++;
    }
    add(out, "#### %lld\n", (long long)carried);
}

int gc_arith_extract(const char *text, int64_t *answer) {
    const char *last = NULL;
    for (const char *p = strstr(text, "####"); p; p = strstr(p + 4, "####"))
        last = p;
    if (!last) return 0;
    const char *p = last + 4;
    while (*p == ' ')
        p++;
    int neg = 0;
    if (*p == '-') neg = 1, p++;
    if (*p < '0' || *p > '9') return 0;
    int64_t v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (++digits > 15) return 0;
        v = v * 10 + (*p - '0');
    }
    if (*p && *p != '\n' && *p != ' ') return 0;
    *answer = neg ? -v : v;
    return 1;
}

int gc_arith_check(const char *text, int64_t answer) {
    int64_t got;
    return gc_arith_extract(text, &got) && got == answer;
}

uint64_t gc_arith_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

gc_status gc_arith_make_sets(uint64_t seed, int n_train, int eval_n, const int *splits,
                             int n_splits, gc_arith_problem **train, gc_arith_problem **eval) {
    int ne = eval_n * n_splits;
    *eval = gc_malloc(sizeof(gc_arith_problem) * (size_t)(ne > 0 ? ne : 1));
    *train = gc_malloc(sizeof(gc_arith_problem) * (size_t)(n_train > 0 ? n_train : 1));
    uint64_t *hashes = gc_malloc(sizeof(uint64_t) * (size_t)(ne > 0 ? ne : 1));
    if (!*eval || !*train || !hashes) {
        free(*eval), free(*train), free(hashes);
        *eval = *train = NULL;
        return GC_ERR_NOMEM;
    }
    for (int s = 0; s < n_splits; s++)
        for (int i = 0; i < eval_n; i++) {
            gc_arith_problem *p = &(*eval)[s * eval_n + i];
            gc_arith_generate(splits[s], seed, i, p);
            hashes[s * eval_n + i] = gc_arith_hash(p->question);
        }
    qsort(hashes, (size_t)ne, sizeof(uint64_t), cmp_u64);
    int64_t index = 0;
    for (int i = 0; i < n_train; index++) {
        gc_arith_generate(GC_ARITH_TRAIN, seed, index, &(*train)[i]);
        uint64_t h = gc_arith_hash((*train)[i].question);
        if (ne > 0 && bsearch(&h, hashes, (size_t)ne, sizeof(uint64_t), cmp_u64)) continue;
        i++;
    }
    free(hashes);
    return GC_OK;
}
