/* graph: the second mini-scale domain: find the path from a start node to a goal node in a graph
 * given in the prompt, a task in which checking a path is easier than finding it.
 *
 * The graph is a "star": d branches leave the start node, each a chain of L edges; the goal is the
 * last node of one branch. Nodes are distinct lowercase letters, drawn per problem; the edges are
 * listed in a random order. Finding the path needs the branch that leads to the goal, known only
 * by chaining back from the goal through L edges (next-token predictors are known to find this
 * hard: Bachmann and Nagarajan, "The pitfalls of next-token prediction", 2024); checking a path
 * needs each step to be an edge of the prompt and the last node to be the goal.
 *
 *   Go from s to g. Roads: qr sx yg xy sp pq. Which way?
 *   sx
 *   xy
 *   yg
 *   #### sxyg
 *
 * An edge is written as its two letters, in the prompt and in the solution's lines alike, so that
 * following an edge is the lookup a transformer's induction heads do (the token after the earlier
 * occurrence of the current one); with a separator between the letters ("x>y") a 0.2M-parameter
 * policy did not learn the lookup in 4,000 SFT steps.
 *
 * Splits (d branches, L edges per branch):
 *   graph-train  d 2-3, L 2-4, phrasing A
 *   graph-easy   d 2,   L 2-3                     (in distribution, easier)
 *   graph-hard   d 3,   L 3-4                     (in distribution, harder)
 *   graph-wide   d 4-5, L 2-3: more branches than training       (out of distribution)
 *   graph-long   d 2-3, L 5-6: longer chains than training        (out of distribution)
 *   graph-para   d 2-3, L 2-4, phrasing B ("Start at s and reach g. Links: ... What is the
 *                route?"), never used in training (out of distribution)
 */
#ifndef GC_GRAPH_H
#define GC_GRAPH_H

#include "lib/tasks/task.h"
#include "lib/util/rng.h"

/* The problem of a graph split (GC_GRAPH_TRAIN ... GC_GRAPH_PARA) that rng draws (gc_task_generate
 * seeds it per problem and hands over p zeroed, its split set). */
void gc_graph_generate(gc_split split, gc_rng *rng, gc_problem *p);

/* A wrong path: a branch other than the goal's, walked to its end; with probability 1/2 one more,
 * made-up step from its last node to the goal (an edge the prompt lacks). The answer line names
 * the nodes walked; drawn from rng (gc_task_corrupt seeds it and hands over out empty). */
void gc_graph_corrupt(const gc_problem *p, gc_rng *rng, char *out);

#endif
