/* task: the mini-scale reasoning domains behind one interface: seeded problems with a question, a
 * reference solution of one line per step and a final "#### <answer>" line, an exact checker, and
 * a corrupter that writes a plausible wrong solution.
 *
 * Two domains (DESIGN.md, "The mini-scale domains"; docs/math-domain.md, docs/graph-domain.md):
 *   arith  GSM8K-style arithmetic word problems (lib/tasks/arith.h); the answer is a number
 *   graph  a path from a start node to a goal node in a graph given in the prompt, where checking
 *          a path is easier than finding it (lib/tasks/graph.h); the answer is the path's nodes
 * Each domain has a training split and evaluation splits; an experiment's evaluation splits all
 * belong to one domain, whose training split gives its training problems.
 * Problem i of a split is a pure function of (split, seed, i).
 *
 * Answers are int64: arith's are the number; graph's encode the node letters a-z in base 27
 * (gc_task_extract), at most GC_TASK_PATH letters, so two answers are equal exactly when their
 * texts are. Nothing here allocates except gc_task_make_sets.
 */
#ifndef GC_TASK_H
#define GC_TASK_H

#include <stdint.h>

#include "lib/util/base.h"

typedef enum { GC_DOMAIN_ARITH, GC_DOMAIN_GRAPH, GC_NDOMAINS } gc_domain;

/* The enum's values enter the problems' random streams: append, never reorder. */
typedef enum {
    GC_ARITH_TRAIN,
    GC_ARITH_EASY,
    GC_ARITH_HARD,
    GC_ARITH_BIG,
    GC_ARITH_LONG,
    GC_ARITH_PARA,
    GC_GRAPH_TRAIN,
    GC_GRAPH_EASY,
    GC_GRAPH_HARD,
    GC_GRAPH_WIDE,
    GC_GRAPH_LONG,
    GC_GRAPH_PARA,
    GC_TASK_NSPLITS
} gc_split;

#define GC_TASK_TEXT 1024
#define GC_TASK_PATH 11 /* letters of a graph answer: 27^11 < 2^53, exact in JSON numbers */

typedef struct {
    char question[GC_TASK_TEXT]; /* ends with "?\n" */
    char solution[GC_TASK_TEXT]; /* one line per step, then "#### <answer>\n" */
    int64_t answer;
    int steps;
    gc_split split; /* the split it was drawn from */
} gc_problem;

const char *gc_task_split_name(gc_split s);
/* Split by name ("train", "arith-easy", "graph-train", ...); -1 when unknown. */
int gc_task_split_parse(const char *name);
gc_domain gc_task_domain(gc_split s);
const char *gc_task_domain_name(gc_domain d);
/* The training split of a domain. */
gc_split gc_task_train_split(gc_domain d);
/* 1 when s is a domain's training split. */
int gc_task_is_train(gc_split s);
/* 1 when s is an in-distribution evaluation split (its domain's easy and hard splits). */
int gc_task_in_distribution(gc_split s);

/* Problem `index` of `split` under `seed`. */
void gc_task_generate(gc_split split, uint64_t seed, int64_t index, gc_problem *p);

/* A plausible wrong solution of p, deterministic in (p, seed), written into out (GC_TASK_TEXT
 * bytes): arith slips one calculation and carries the wrong value forward; graph walks a wrong
 * branch (see graph.h). Its answer can, rarely, still be right: callers check. */
void gc_task_corrupt(const gc_problem *p, uint64_t seed, char *out);

/* The answer after the last "####" in text: a number, or a path of letters a-z; returns 0 when
 * there is none or it is malformed. */
int gc_task_extract(const char *text, int64_t *answer);
/* 1 when text's extracted answer equals answer. */
int gc_task_check(const char *text, int64_t answer);

/* Evaluation problems (eval_n of each split, split-major) and n_train training problems of the
 * splits' domain from `seed`, skipping any training problem whose question equals an evaluation
 * question. The splits must belong to one domain (GC_ERR_ARG otherwise). Caller
 * frees *train and *eval. */
gc_status gc_task_make_sets(uint64_t seed, int n_train, int eval_n, const int *splits, int n_splits,
                            gc_problem **train, gc_problem **eval);

/* 64-bit FNV-1a of a string (used to keep evaluation questions out of training). */
uint64_t gc_task_hash(const char *s);

/* Appends formatted text to buf (GC_TASK_TEXT bytes), never past its end. */
void gc_task_append(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
