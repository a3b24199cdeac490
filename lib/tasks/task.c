#include "task.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/tasks/arith.h"
#include "lib/tasks/graph.h"
#include "lib/util/rng.h"

static const struct {
    const char *name;
    gc_domain domain;
} SPLITS[GC_TASK_NSPLITS] = {
    [GC_ARITH_TRAIN] = {"train", GC_DOMAIN_ARITH},
    [GC_ARITH_EASY] = {"arith-easy", GC_DOMAIN_ARITH},
    [GC_ARITH_HARD] = {"arith-hard", GC_DOMAIN_ARITH},
    [GC_ARITH_BIG] = {"arith-big", GC_DOMAIN_ARITH},
    [GC_ARITH_LONG] = {"arith-long", GC_DOMAIN_ARITH},
    [GC_ARITH_PARA] = {"arith-para", GC_DOMAIN_ARITH},
    [GC_GRAPH_TRAIN] = {"graph-train", GC_DOMAIN_GRAPH},
    [GC_GRAPH_EASY] = {"graph-easy", GC_DOMAIN_GRAPH},
    [GC_GRAPH_HARD] = {"graph-hard", GC_DOMAIN_GRAPH},
    [GC_GRAPH_WIDE] = {"graph-wide", GC_DOMAIN_GRAPH},
    [GC_GRAPH_LONG] = {"graph-long", GC_DOMAIN_GRAPH},
    [GC_GRAPH_PARA] = {"graph-para", GC_DOMAIN_GRAPH},
};

const char *gc_task_split_name(gc_split s) {
    return s >= 0 && s < GC_TASK_NSPLITS ? SPLITS[s].name : "?";
}

int gc_task_split_parse(const char *name) {
    for (int i = 0; i < GC_TASK_NSPLITS; i++)
        if (!strcmp(name, SPLITS[i].name)) return i;
    return -1;
}

gc_domain gc_task_domain(gc_split s) {
    return s >= 0 && s < GC_TASK_NSPLITS ? SPLITS[s].domain : GC_DOMAIN_ARITH;
}

const char *gc_task_domain_name(gc_domain d) {
    return d == GC_DOMAIN_GRAPH ? "graph" : "arith";
}

gc_split gc_task_train_split(gc_domain d) {
    return d == GC_DOMAIN_GRAPH ? GC_GRAPH_TRAIN : GC_ARITH_TRAIN;
}

int gc_task_is_train(gc_split s) {
    return s == GC_ARITH_TRAIN || s == GC_GRAPH_TRAIN;
}

int gc_task_in_distribution(gc_split s) {
    return s == GC_ARITH_EASY || s == GC_ARITH_HARD || s == GC_GRAPH_EASY || s == GC_GRAPH_HARD;
}

void gc_task_generate(gc_split split, uint64_t seed, int64_t index, gc_problem *p) {
    gc_rng r;
    gc_rng_init(&r, seed,
                gc_rng_stream(GC_STREAM_PROBLEM, ((uint64_t)split << 40) ^ (uint64_t)index));
    memset(p, 0, sizeof *p);
    p->split = split;
    if (gc_task_domain(split) == GC_DOMAIN_GRAPH)
        gc_graph_generate(split, &r, p);
    else
        gc_arith_generate(split, &r, p);
}

void gc_task_corrupt(const gc_problem *p, uint64_t seed, char *out) {
    gc_rng r;
    gc_rng_init(&r, seed, gc_rng_stream(GC_STREAM_CORRUPT, gc_task_hash(p->question)));
    out[0] = 0;
    if (gc_task_domain(p->split) == GC_DOMAIN_GRAPH)
        gc_graph_corrupt(p, &r, out);
    else
        gc_arith_corrupt(p, &r, out);
}

void gc_task_append(char *buf, const char *fmt, ...) {
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, GC_TASK_TEXT - n, fmt, ap);
    va_end(ap);
}

int gc_task_extract(const char *text, int64_t *answer) {
    const char *last = NULL;
    for (const char *p = strstr(text, "####"); p; p = strstr(p + 4, "####"))
        last = p;
    if (!last) return 0;
    const char *p = last + 4;
    while (*p == ' ')
        p++;
    int64_t v = 0;
    int n = 0;
    if (*p >= 'a' && *p <= 'z') { /* a path: letters in base 27, 'a' = 1 */
        for (; *p >= 'a' && *p <= 'z'; p++) {
            if (++n > GC_TASK_PATH) return 0;
            v = v * 27 + (*p - 'a' + 1);
        }
    } else {
        int neg = 0;
        if (*p == '-') neg = 1, p++;
        if (*p < '0' || *p > '9') return 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (++n > 15) return 0;
            v = v * 10 + (*p - '0');
        }
        if (neg) v = -v;
    }
    if (*p && *p != '\n' && *p != ' ') return 0;
    *answer = v;
    return 1;
}

int gc_task_check(const char *text, int64_t answer) {
    int64_t got;
    return gc_task_extract(text, &got) && got == answer;
}

uint64_t gc_task_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

gc_status gc_task_make_sets(uint64_t seed, int n_train, int eval_n, const int *splits, int n_splits,
                            gc_problem **train, gc_problem **eval) {
    *eval = *train = NULL;
    gc_domain dom = n_splits > 0 ? gc_task_domain(splits[0]) : GC_DOMAIN_ARITH;
    for (int s = 0; s < n_splits; s++)
        if (splits[s] < 0 || splits[s] >= GC_TASK_NSPLITS || gc_task_domain(splits[s]) != dom)
            return GC_ERR_ARG;
    int ne = eval_n * n_splits;
    *eval = gc_malloc(sizeof(gc_problem) * (size_t)(ne > 0 ? ne : 1));
    *train = gc_malloc(sizeof(gc_problem) * (size_t)(n_train > 0 ? n_train : 1));
    uint64_t *hashes = gc_malloc(sizeof(uint64_t) * (size_t)(ne > 0 ? ne : 1));
    if (!*eval || !*train || !hashes) {
        free(*eval), free(*train), free(hashes);
        *eval = *train = NULL;
        return GC_ERR_NOMEM;
    }
    for (int s = 0; s < n_splits; s++)
        for (int i = 0; i < eval_n; i++) {
            gc_problem *p = &(*eval)[s * eval_n + i];
            gc_task_generate(splits[s], seed, i, p);
            hashes[s * eval_n + i] = gc_task_hash(p->question);
        }
    qsort(hashes, (size_t)ne, sizeof(uint64_t), cmp_u64);
    int64_t index = 0;
    for (int i = 0; i < n_train; index++) {
        gc_task_generate(gc_task_train_split(dom), seed, index, &(*train)[i]);
        uint64_t h = gc_task_hash((*train)[i].question);
        if (ne > 0 && bsearch(&h, hashes, (size_t)ne, sizeof(uint64_t), cmp_u64)) continue;
        i++;
    }
    free(hashes);
    return GC_OK;
}
