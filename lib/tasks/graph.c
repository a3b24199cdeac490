#include "graph.h"

#include <string.h>

#include "lib/util/rng.h"

typedef struct {
    int d_lo, d_hi; /* branches */
    int l_lo, l_hi; /* edges per branch */
    int phrasing;   /* 0 = set A, 1 = set B */
} graph_spec;

static const graph_spec SPECS[GC_TASK_NSPLITS] = {
    [GC_GRAPH_TRAIN] = {2, 3, 2, 4, 0}, [GC_GRAPH_EASY] = {2, 2, 2, 3, 0},
    [GC_GRAPH_HARD] = {3, 3, 3, 4, 0},  [GC_GRAPH_WIDE] = {4, 5, 2, 3, 0},
    [GC_GRAPH_LONG] = {2, 3, 5, 6, 0},  [GC_GRAPH_PARA] = {2, 3, 2, 4, 1},
};

#define MAX_NODES 26
#define MAX_EDGES 25

static int uniform(gc_rng *r, int lo, int hi) {
    return lo + (int)gc_rng_below(r, (uint32_t)(hi - lo + 1));
}

static void shuffle(gc_rng *r, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)gc_rng_below(r, (uint32_t)(i + 1)), t = a[i];
        a[i] = a[j], a[j] = t;
    }
}

/* Appends the path's steps, one "xy" line each, and its answer line. */
static void write_path(char *out, const char *nodes, int n) {
    for (int k = 0; k + 1 < n; k++)
        gc_task_append(out, "%c%c\n", nodes[k], nodes[k + 1]);
    gc_task_append(out, "#### %.*s\n", n, nodes);
}

static int64_t encode(const char *nodes, int n) {
    int64_t v = 0;
    for (int k = 0; k < n; k++)
        v = v * 27 + (nodes[k] - 'a' + 1);
    return v;
}

void gc_graph_generate(gc_split split, gc_rng *rng, gc_problem *p) {
    const graph_spec *s = &SPECS[split];
    gc_rng r = *rng;
    int d = uniform(&r, s->d_lo, s->d_hi), L = uniform(&r, s->l_lo, s->l_hi);
    int letters[MAX_NODES];
    for (int i = 0; i < MAX_NODES; i++)
        letters[i] = 'a' + i;
    shuffle(&r, letters, MAX_NODES);
    /* node 0 is the start; branch b is nodes 1 + b*L ... (b+1)*L, in order */
    int goal_branch = (int)gc_rng_below(&r, (uint32_t)d);
    int from[MAX_EDGES], to[MAX_EDGES], order[MAX_EDGES], n_edges = 0;
    for (int b = 0; b < d; b++)
        for (int k = 0; k < L; k++) {
            from[n_edges] = k == 0 ? 0 : 1 + b * L + k - 1;
            to[n_edges] = 1 + b * L + k;
            order[n_edges] = n_edges;
            n_edges++;
        }
    shuffle(&r, order, n_edges);
    char start = (char)letters[0], goal = (char)letters[(goal_branch + 1) * L];
    if (s->phrasing == 0)
        gc_task_append(p->question, "Go from %c to %c. Roads:", start, goal);
    else
        gc_task_append(p->question, "Start at %c and reach %c. Links:", start, goal);
    for (int e = 0; e < n_edges; e++)
        gc_task_append(p->question, " %c%c", letters[from[order[e]]], letters[to[order[e]]]);
    gc_task_append(p->question, s->phrasing == 0 ? ". Which way?\n" : ". What is the route?\n");
    char path[MAX_NODES];
    path[0] = start;
    for (int k = 0; k < L; k++)
        path[k + 1] = (char)letters[1 + goal_branch * L + k];
    write_path(p->solution, path, L + 1);
    p->answer = encode(path, L + 1);
    p->steps = L;
}

/* The edges "xy" listed in a question (after its first ':', up to the next '.'), as a successor
 * table: next[x] = y, 0 when none. The start node has several successors; first[] keeps them in
 * the order listed. */
static int read_edges(const char *q, char next[128], char *first, int cap, char start) {
    int n_first = 0;
    memset(next, 0, 128);
    const char *c = strchr(q, ':');
    for (c = c ? c + 1 : q + strlen(q); *c && *c != '.'; c++) {
        if (c[0] != ' ' || c[1] < 'a' || c[1] > 'z' || c[2] < 'a' || c[2] > 'z') continue;
        if (c[1] == start) {
            if (n_first < cap) first[n_first++] = c[2];
        } else {
            next[(int)c[1]] = c[2];
        }
    }
    return n_first;
}

void gc_graph_corrupt(const gc_problem *p, gc_rng *rng, char *out) {
    gc_rng r = *rng;
    char start = p->solution[0], right = p->solution[1]; /* "sx\n": the goal branch's first */
    const char *ans = strstr(p->solution, "#### ");
    char goal = ans ? ans[5 + p->steps] : 0;
    char next[128], first[MAX_EDGES];
    int n_first = read_edges(p->question, next, first, MAX_EDGES, start);
    char wrong[MAX_EDGES];
    int n_wrong = 0;
    for (int i = 0; i < n_first; i++)
        if (first[i] != right) wrong[n_wrong++] = first[i];
    if (!n_wrong) { /* one branch only: nothing to confuse it with; end one step short */
        char path[MAX_NODES];
        memcpy(path, ans + 5, (size_t)p->steps);
        write_path(out, path, p->steps);
        return;
    }
    char path[MAX_NODES + 1];
    int n = 0;
    path[n++] = start;
    for (char c = wrong[gc_rng_below(&r, (uint32_t)n_wrong)]; c && n < MAX_NODES; c = next[(int)c])
        path[n++] = c;
    if (gc_rng_below(&r, 2)) path[n++] = goal; /* a made-up last step onto the goal */
    write_path(out, path, n);
}
