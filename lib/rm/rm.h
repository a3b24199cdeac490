/* rm: reward models: a head (linear, or the ablation's MLP) on the final hidden state at the last
 * token, the Bradley-Terry preference loss, the goal-conditioned contrastive loss of PAPER.md
 * section 1, the goal state and Q-values of section 2.
 *
 * A training batch holds P pairs as 2P sequences, (chosen_0, rejected_0, chosen_1, ...), each a
 * prompt followed by a response whose last token is where the reward is read. Response positions
 * of sequence b are [prompt_len[b], len[b]).
 *
 * Contrastive loss, per pair, K draws: positives take a source and a goal in the chosen response
 * with source <= goal (two uniform fractions, sorted); negatives take a source in the chosen
 * response and a goal anywhere in the rejected one. Similarity sigma(cos(h_a, h_b)).
 *   pairs "ordered": the K drawn (source, goal) pairs are scored (the paper's text);
 *   pairs "all":     all K x K source-goal combinations are scored (the authors' code).
 * Ablations (PAPER.md section 1): positions "late" draws every fraction from the second half of
 * the response instead of all of it; goal sampling "single" draws one goal per pair and kind
 * (positive sources then fall uniformly between the response start and that goal), "averaged"
 * averages the K goal states into one goal vector per pair and kind (K similarities, either
 * pairs mode; the gradient reaches each goal position with weight 1/K).
 *   reduction "log_of_mean": L = -log(mean_pos sim) - log(1 - mean_neg sim) over the batch
 *                            (the authors' code); "mean_of_log": the mean of per-pair logs.
 * Total loss L_pref + lambda * L_con; lambda = 0 is the baseline RM.
 *
 * Ownership: gc_rm owns its trunk model and head (gc_rm_free). Position draws and the losses are
 * separate pure functions so the gradient can be checked by finite differences.
 */
#ifndef GC_RM_H
#define GC_RM_H

#include <stdint.h>

#include "lib/util/base.h"
#include "lib/model/model.h"
#include "lib/model/optim.h"
#include "lib/util/rng.h"

typedef enum { GC_PAIRS_ALL, GC_PAIRS_ORDERED } gc_pairs_mode;
typedef enum { GC_RED_LOG_OF_MEAN, GC_RED_MEAN_OF_LOG } gc_con_reduction;
/* where sources and goals are drawn: anywhere in the response, or in its second half */
typedef enum { GC_POS_UNIFORM, GC_POS_LATE } gc_con_positions;
/* goals per pair: K random positions; one position shared by the K sources; or the K random
 * positions' hidden states averaged into one goal vector */
typedef enum { GC_GOAL_RANDOM, GC_GOAL_SINGLE, GC_GOAL_AVERAGED } gc_goal_sampling;

typedef struct {
    float lambda; /* weight of the contrastive loss; 0 = baseline */
    int K;        /* draws per pair (16) */
    gc_pairs_mode pairs;
    gc_con_reduction reduction;
    gc_con_positions positions;
    gc_goal_sampling goal_sampling;
} gc_con_config;

/* Drawn positions for one batch: for pair p and draw k, index p * K + k. */
typedef struct {
    int P, K;
    int32_t *pos_src, *pos_goal; /* (P * K) positions in the chosen sequence */
    int32_t *neg_src, *neg_goal; /* (P * K) source in chosen, goal in rejected */
} gc_con_draws;

gc_status gc_con_draws_init(gc_con_draws *d, int P, int K);
void gc_con_draws_free(gc_con_draws *d);
/* Draws positions for P pairs of sequences laid out as in the header comment. */
void gc_con_draw(gc_con_draws *d, const gc_con_config *c, const int *prompt_len, const int *len,
                 gc_rng *rng);

/* Contrastive loss over hidden states h (2P, T, D); adds scale * dL/dh into dh (may be NULL).
 * Returns the loss in *loss; *mean_pos and *mean_neg (may be NULL) get the mean similarities. */
gc_status gc_con_loss(const float *h, int T, int D, const gc_con_draws *d, const gc_con_config *c,
                      float scale, double *loss, float *dh, double *mean_pos, double *mean_neg);

/* Preference loss over rewards r (2P): mean -log sigmoid(r_chosen - r_rejected). dr (may be NULL)
 * receives dL/dr. *acc (may be NULL) gets the fraction of pairs with r_chosen > r_rejected. */
double gc_pref_loss(const float *r, int P, float *dr, double *acc);

/* The reward head: linear (r = w . h, no bias), or the MLP of the paper's ablation
 * h -> D/2 -> D/2 -> D -> 1 with ReLU after each hidden layer and biases throughout. */
typedef enum { GC_HEAD_LINEAR, GC_HEAD_MLP } gc_head_kind;

typedef struct {
    gc_model model;
    gc_head_kind head_kind;
    size_t n_head; /* head parameters: D (linear) or gc_rm_head_size(GC_HEAD_MLP, D) */
    float *head;   /* (n_head) */
    float *dhead;  /* (n_head) */
    gc_adamw opt, head_opt;
    int has_opt;
} gc_rm;

size_t gc_rm_head_size(gc_head_kind kind, int D);
/* Takes ownership of an initialised model (the policy's weights); a linear head ~ N(0, 1/D), an
 * MLP head He-initialised with zero biases, from seed. */
gc_status gc_rm_init(gc_rm *rm, gc_model *trunk, gc_head_kind kind, uint64_t seed);
void gc_rm_free(gc_rm *rm);
gc_status gc_rm_save(gc_rm *rm, const char *ckpt_path, const char *head_path);
gc_status gc_rm_load(gc_rm *rm, const char *ckpt_path, const char *head_path);
/* A reward model's whole training state in directory dir, for checkpoints: <name>.ckpt (the
 * trunk, with its AdamW moments once it has them) and <name>.hstate (head kind and weights, with
 * the head's AdamW state), both CRC-checked. Loading puts the state into rm, initialised with the
 * same shape and head kind, on whatever backend it runs; a file of another shape or kind, damaged
 * or cut short, is an error naming it (rm is then partly overwritten: start over). */
gc_status gc_rm_save_train(gc_rm *rm, const char *dir, const char *name);
gc_status gc_rm_load_train(gc_rm *rm, const char *dir, const char *name);

/* Reward of one final hidden state h (D). */
float gc_rm_reward(const gc_rm *rm, const float *h);
/* The reward of h, adding g * dr/dh into dh (D) and g * dr/dhead into dparams (n_head). */
double gc_rm_head_grad(const gc_rm *rm, const float *h, double g, float *dh, float *dparams);
/* Rewards of B sequences (B, T) whose reward tokens are at len[b] - 1: out (B). Hidden states
 * stay in rm->model.hf. */
gc_status gc_rm_score(gc_rm *rm, const int32_t *tokens, int B, int T, const int *len, float *out);

typedef struct {
    float loss, pref, con, acc, mean_pos, mean_neg;
} gc_rm_step_stats;

/* The gradient of L_pref + lambda * L_con on P pairs (2P sequences of length T) with respect to
 * the trunk (rm->model's gradient) and the head (rm->dhead); the contrastive positions are drawn
 * from rng. st (may be NULL) gets the losses. */
gc_status gc_rm_grad(gc_rm *rm, const int32_t *tokens, int P, int T, const int *prompt_len,
                     const int *len, const gc_con_config *c, gc_rng *rng, gc_rm_step_stats *st);

/* gc_rm_grad for gradient accumulation over micro-batches: adds scale x the gradient into the
 * trunk's and head's gradient, set to zero first when `first` (scale 1 and first: gc_rm_grad,
 * bit for bit). Each micro-batch's losses are its own (the contrastive loss's log_of_mean
 * reduction averages within it), as when each GPU of a data-parallel run computes its share. */
gc_status gc_rm_grad_acc(gc_rm *rm, const int32_t *tokens, int P, int T, const int *prompt_len,
                         const int *len, const gc_con_config *c, gc_rng *rng, float scale,
                         int first, gc_rm_step_stats *st);

/* The optimiser settings of one step: AdamW (the first step creates the moments; every step
 * uses its own settings) after clipping the global norm of the trunk's and head's gradient. */
typedef struct {
    float lr, clip; /* clip <= 0: no clipping */
    float weight_decay, beta1, beta2, eps;
    float trunk_lr_scale; /* the trunk learns at lr * this (0: frozen, a linear probe), the head
                             at lr */
} gc_rm_optim;
#define GC_RM_OPTIM_DEFAULT(lr_, clip_, wd_)                                                       \
    ((gc_rm_optim){(lr_), (clip_), (wd_), 0.9f, 0.95f, 1e-8f, 1.0f})

/* One update from the gradient already in rm->model and rm->dhead (any loss: gc_rm_grad's, or a
 * critic's value loss): clipping of the global norm, AdamW on trunk and head. */
gc_status gc_rm_update(gc_rm *rm, const gc_rm_optim *o);
/* gc_rm_update's clipping alone: the trunk's and head's gradients scaled together so that their
 * global norm is at most clip (<= 0: unchanged), by torch's rule (gc_clip_factor). */
gc_status gc_rm_clip_grads(gc_rm *rm, float clip);

/* One optimisation step on P pairs: gc_rm_grad, then gc_rm_update. */
gc_status gc_rm_step(gc_rm *rm, const int32_t *tokens, int P, int T, const int *prompt_len,
                     const int *len, const gc_con_config *c, gc_rng *rng, const gc_rm_optim *o,
                     gc_rm_step_stats *st);

/* Goal state: accumulate the final hidden state at the last token of n sequences, then divide. */
typedef struct {
    int D;
    double *sum; /* (D) */
    int64_t count;
} gc_goal;
gc_status gc_goal_init(gc_goal *g, int D);
void gc_goal_add(gc_goal *g, const float *h);
/* Writes the mean (D); GC_ERR_ARG when nothing was added. */
gc_status gc_goal_mean(const gc_goal *g, float *out);
void gc_goal_free(gc_goal *g);

/* The mean of the reward model's final hidden state over positions [from, len) of one sequence
 * seq (len tokens, from < len): out (D). The representation guided decoding compares with a goal
 * state (lib/policy/beam.h) and the prototypes it is built from. */
gc_status gc_rm_pool(gc_rm *rm, const int32_t *seq, int len, int from, float *out);

/* Q-value cos(h, goal) of one hidden state. */
float gc_qvalue(const float *h, const float *goal, int D);

#endif
