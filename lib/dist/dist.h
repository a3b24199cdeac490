/* dist: data-parallel training across processes, launched by mpirun (OpenMPI; one process per GPU
 * or per CPU socket), with results that do not depend on how many processes share the work.
 *
 * World: gc_dist_init joins MPI when the process was started by mpirun (and gcrm was built with
 * MPI), else it is rank 0 of a world of 1; collectives go through MPI on CPUs (NCCL on GPUs is the
 * CUDA backend's part, not built yet). Never a home-made transport.
 *
 * Gradients: a step's global batch is cut into P equal parts (P a power of two, a multiple of the
 * world size W, itself a power of two); rank r computes parts [r P/W, (r+1) P/W). The step's
 * gradient is the pairwise sum of the part gradients over a fixed binary tree, ((g0 + g1) + (g2 +
 * g3)) for P = 4: each rank sums its block's subtree as its parts complete (gc_tree), then the W
 * block sums are reduce-scattered up the rest of the tree (rank r sums slice r of every block, in
 * tree order) and the summed slices gathered (gc_dist_tree_sum): about 2n floats of buffers per
 * rank, whatever W. The tree is the same for every W, so 1 rank and W ranks produce the same bits
 * (at the same thread count per rank); the data order is a function of the step alone.
 *
 * Optimizer state (ZeRO stage 1): rank r keeps AdamW's moments for the parameter slice
 * [r n / W, (r+1) n / W) only (gc_zero1), updates that slice, and the updated slices are gathered
 * into every rank's parameters. AdamW is elementwise, so the parameters equal the unsharded
 * update's bit for bit.
 *
 * Ownership: gc_tree and gc_zero1 own their buffers (their _free). Errors name the MPI call.
 */
#ifndef GC_DIST_H
#define GC_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "lib/model/model.h"
#include "lib/rm/rm.h"
#include "lib/util/base.h"

typedef struct {
    int rank, size;
    int mpi; /* 1: MPI was initialised here (finalised by gc_dist_finalize) */
} gc_dist;

/* Joins the mpirun world when there is one; rank 0 of 1 otherwise. */
gc_status gc_dist_init(gc_dist *d);
void gc_dist_finalize(gc_dist *d);
/* 1 when this build can join an MPI world. */
int gc_dist_has_mpi(void);

/* Pairwise summation of equal-sized vectors in the order they are pushed: after 2^k pushes the
 * result is the full binary tree's sum. */
typedef struct {
    size_t n;
    float **level;           /* level[i]: a pending sum of 2^i pushes, or NULL */
    int levels, pushes, cap; /* cap: the most pushes allowed */
} gc_tree;

/* A tree for up to max_pushes vectors of n floats. */
gc_status gc_tree_init(gc_tree *t, size_t n, int max_pushes);
void gc_tree_free(gc_tree *t);
/* Adds x (n) to the tree (x is copied). */
gc_status gc_tree_push(gc_tree *t, const float *x);
/* The sum of every push (a power of two of them) into out (n). */
gc_status gc_tree_result(const gc_tree *t, float *out);
/* Empties the tree for the next sum. */
void gc_tree_reset(gc_tree *t);

/* block (n): this rank's subtree sum; on return every rank holds the sum of all W blocks up the
 * tree (rank order). */
gc_status gc_dist_tree_sum(const gc_dist *d, float *block, size_t n);
/* The slice [lo, hi) of n elements that rank r of W owns. */
void gc_dist_slice(size_t n, int r, int W, size_t *lo, size_t *hi);
/* Every rank's slice of x (n) gathered into every rank's x. */
gc_status gc_dist_gather_slices(const gc_dist *d, float *x, size_t n);

/* AdamW with its moments sharded across the world (ZeRO stage 1). */
typedef struct {
    size_t lo, hi; /* this rank's parameter slice */
    float *m, *v;  /* (hi - lo) moments */
    int64_t step;  /* updates done */
    float beta1, beta2, eps, weight_decay;
} gc_zero1;

gc_status gc_zero1_init(gc_zero1 *z, const gc_dist *d, size_t n, float beta1, float beta2,
                        float eps, float weight_decay);
void gc_zero1_free(gc_zero1 *z);
/* One AdamW update of this rank's slice of params from grads (both n, the model's tensor table
 * giving which elements decay), then the slices gathered into every rank's params. */
gc_status gc_zero1_step(gc_zero1 *z, const gc_dist *d, float *params, const float *grads,
                        const gc_tensor_info *tensors, int ntensors, size_t n, float lr);

/* One data-parallel language-model step on the host model m: the global batch tokens/targets
 * (B, T) in P parts of B/P rows, this rank's parts forward and backward (each part's loss weighted
 * 1/P), the tree sum over the world, gradient-norm clipping at clip (0: none), and the sharded
 * AdamW update at lr. *loss (may be NULL) gets the mean loss over the global batch. */
gc_status gc_dist_lm_step(const gc_dist *d, gc_model *m, gc_zero1 *z, gc_tree *tree,
                          const int32_t *tokens, const int32_t *targets, int B, int T, int P,
                          float clip, float lr, float *loss);

/* One data-parallel reward-model step (lib/rm/rm.h): P pairs (2P sequences (2P, T) in rm.h's
 * layout, with prompt_len and len (2P)) in `parts` parts of P/parts pairs; part p's contrastive
 * positions are drawn from a copy of rngs[p] (parts of them: the caller makes them a function of
 * the step and the part, so the draws do not depend on the world). This rank's parts each give
 * their gradient of the part's loss (weighted 1/parts, gc_rm_grad_acc); trunk and head gradients
 * and the losses are summed over the tree; then the global norm is clipped (o->clip), the trunk
 * updated by the sharded AdamW z at lr * trunk_lr_scale and the head by head_opt (replicated:
 * every rank makes the same update), with o's betas, eps and weight decay. tree: n_params floats,
 * room for parts / world pushes. With one part and one rank it is gc_rm_step, bit for bit. st (may
 * be NULL) gets the mean of the parts' losses. */
gc_status gc_dist_rm_step(const gc_dist *d, gc_rm *rm, gc_zero1 *z, gc_adamw *head_opt,
                          gc_tree *tree, const int32_t *tokens, int P, int T, const int *prompt_len,
                          const int *len, const gc_con_config *c, const gc_rng *rngs, int parts,
                          const gc_rm_optim *o, gc_rm_step_stats *st);

#endif
