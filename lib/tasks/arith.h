/* arith: the mini-scale math domain's generator: seeded GSM8K-style multi-step arithmetic word
 * problems (used through lib/tasks/task.h).
 *
 * A problem is a short story ("Ann has 12 pens. She gets 5 more. ...") whose quantity changes
 * step by step, and a solution that restates each step and calculates it, one line per step
 * ("She gets 5 more: 12+5=17"), ending in "#### <answer>". Splits:
 *   train       2-6 steps, + - * /, operands 1-9, values up to 99, phrasing set A
 *   arith-easy  2-3 steps, start up to 20, + and - only               (in distribution, easier)
 *   arith-hard  4-6 steps, products and exact division                 (in distribution, harder)
 *   arith-big   2-4 steps, 3-digit values (100-999)                    (out of distribution)
 *   arith-long  7-9 steps, more than any training problem              (out of distribution)
 *   arith-para  2-5 steps, phrasing set B, never used in training      (out of distribution)
 */
#ifndef GC_ARITH_H
#define GC_ARITH_H

#include "lib/tasks/task.h"
#include "lib/util/rng.h"

/* The problem of an arith split (GC_ARITH_TRAIN ... GC_ARITH_PARA) that rng draws (gc_task_generate
 * seeds it per problem and hands over p zeroed, its split set). */
void gc_arith_generate(gc_split split, gc_rng *rng, gc_problem *p);

/* A plausible wrong solution: one calculation's result is off by 1-9 (a slip), and every later
 * line carries the wrong value forward correctly, so the final answer is wrong; drawn from rng
 * (gc_task_corrupt seeds it and hands over out empty). */
void gc_arith_corrupt(const gc_problem *p, gc_rng *rng, char *out);

#endif
