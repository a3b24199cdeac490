/* arith: the mini-scale math domain: seeded GSM8K-style multi-step arithmetic word problems with
 * an exact checker.
 *
 * A problem is a short story ("Ann has 12 pens. She gets 5 more. ...") whose quantity changes
 * step by step, and a solution that restates each step and calculates it, one line per step
 * ("She gets 5 more: 12+5=17"), ending in "#### <answer>".
 * Problem i of a split is a pure function of (split, seed, i). Splits:
 *   train       2-6 steps, + - * /, operands 1-9, values up to 99, phrasing set A
 *   arith-easy  2-3 steps, start up to 20, + and - only               (in distribution, easier)
 *   arith-hard  4-6 steps, products and exact division                 (in distribution, harder)
 *   arith-big   2-4 steps, 3-digit values (100-999)                    (out of distribution)
 *   arith-long  7-9 steps, more than any training problem              (out of distribution)
 *   arith-para  2-5 steps, phrasing set B, never used in training      (out of distribution)
 * Training problems whose question text equals an evaluation question are skipped (see
 * gc_arith_generate_train), so no evaluation question appears in training.
 *
 * Nothing here allocates; strings live in the caller's gc_arith_problem.
 */
#ifndef GC_ARITH_H
#define GC_ARITH_H

#include <stdint.h>

#include "lib/util/base.h"

typedef enum {
    GC_ARITH_TRAIN,
    GC_ARITH_EASY,
    GC_ARITH_HARD,
    GC_ARITH_BIG,
    GC_ARITH_LONG,
    GC_ARITH_PARA,
    GC_ARITH_NSPLITS
} gc_arith_split;

#define GC_ARITH_TEXT 1024

typedef struct {
    char question[GC_ARITH_TEXT]; /* ends with "?\n" */
    char solution[GC_ARITH_TEXT]; /* lines "<step>: a+b=c\n" ..., then "#### n\n" */
    int64_t answer;
    int steps;
} gc_arith_problem;

const char *gc_arith_split_name(gc_arith_split s);
/* Split by name ("train", "arith-easy", ...); -1 when unknown. */
int gc_arith_split_parse(const char *name);

/* Problem `index` of `split` under `seed` (any split, including train). */
void gc_arith_generate(gc_arith_split split, uint64_t seed, int64_t index, gc_arith_problem *p);

/* A plausible wrong solution: one calculation's result is off by 1-9 (a slip), and every later
 * line carries the wrong value forward correctly, so the final answer is wrong. Writes the text
 * into out (GC_ARITH_TEXT bytes). Deterministic in (p, seed). */
void gc_arith_corrupt(const gc_arith_problem *p, uint64_t seed, char *out);

/* The answer after the last "####" in text; returns 0 when there is none or it is malformed. */
int gc_arith_extract(const char *text, int64_t *answer);
/* 1 when text's extracted answer equals answer. */
int gc_arith_check(const char *text, int64_t answer);

/* Evaluation problems (eval_n of each split, split-major) and n_train training problems from
 * `seed`, skipping any training problem whose question equals an evaluation question. Caller
 * frees *train and *eval. */
gc_status gc_arith_make_sets(uint64_t seed, int n_train, int eval_n, const int *splits,
                             int n_splits, gc_arith_problem **train, gc_arith_problem **eval);

/* 64-bit FNV-1a of a string (used to keep evaluation questions out of training). */
uint64_t gc_arith_hash(const char *s);

#endif
