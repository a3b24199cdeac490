/* ppo_trainer: the PPO loop (OpenRLHF-style, the paper's PPO: PAPER.md section 3) on the
 * arithmetic of lib/policy/ppo.h: sample, score, compute advantages, update actor and critic.
 *
 * One iteration (gc_ppo_iteration) on n prompts:
 *   1. rollout: one response per prompt, sampled by batched KV-cache decoding at the configured
 *      temperature; sequence i of iteration k draws from its own stream
 *      (GC_STREAM_PPO_ROLLOUT, k * n + i), so a rollout is a pure function of (weights, seed,
 *      k) whatever the thread count;
 *   2. scoring: the caller's scorer gives each full sequence one score (a reward model's reward at
 *      its last token); with normalize_reward, scores are normalised by running moments updated
 *      with this rollout first (gc_moments; part of the trainer's state);
 *   3. per action (response token j at position t = prompt_len + j, drawn from the logits of row
 *      t - 1): the actor's and the frozen reference's log-probabilities and the critic's value
 *      V_j = head(h_{t-1}) (the state the action was taken in); rewards with the KL penalty,
 *      GAE, returns; advantages whitened over the rollout's actions;
 *   4. `epochs` passes over the rollout in minibatches of `minibatch` sequences (order from
 *      GC_STREAM_PPO_ORDER, per iteration): the clipped surrogate through the actor's logits
 *      (plus, optionally, ptx_coef x the SFT cross-entropy of a batch of ptx_data, the paper's
 *      pretraining loss term), the clipped value loss through the critic's value head and trunk;
 *      each model's gradient clipped to grad_clip, then one AdamW step each;
 *   5. the KL coefficient: fixed (kl_target <= 0) or adapted (gc_ppo_kl_adapt) from the mean
 *      per-sequence KL of the rollout.
 * The critic is a gc_rm (trunk + linear head: the value head), initialised by the caller, for
 * example from the reward model as the paper's scripts do. Models and scorer are the caller's; the
 * trainer owns the actor's optimiser state, the moments, the KL coefficient and the iteration
 * count.
 *
 * Checkpoints: gc_ppo_save writes everything an iteration depends on besides the configuration
 * and the frozen reference (the actor and its AdamW moments, the critic's trunk, head and both
 * AdamW states, the reward moments, the KL coefficient, the iteration count) into a directory;
 * gc_ppo_load restores it into a trainer freshly initialised on models of the same shapes, so a
 * run resumed at iteration k continues bitwise as the uninterrupted run (rollout streams are keyed
 * by the iteration). The files are written atomically one by one; making the set atomic (write a
 * temporary directory, then rename it) is the caller's.
 */
#ifndef GC_PPO_TRAINER_H
#define GC_PPO_TRAINER_H

#include <stdint.h>

#include "lib/model/model.h"
#include "lib/model/optim.h"
#include "lib/policy/ppo.h"
#include "lib/rm/rm.h"
#include "lib/util/base.h"

/* Scores B sequences (B, T) of the rollout, its sequences first .. first + B - 1 (prompt i of the
 * iteration is sequence i): sequence b is tokens [0, len[b]) of its row, its response from
 * prompt_len[b]. out (B). */
typedef gc_status (*gc_ppo_score_fn)(void *ctx, int first, const int32_t *tokens, int B, int T,
                                     const int *prompt_len, const int *len, float *out);

typedef struct {
    int minibatch;            /* sequences per update */
    int epochs;               /* passes over each rollout */
    int max_len;              /* prompt + response tokens of a rollout sequence */
    int32_t eos;              /* ends a response (kept in it) */
    float temperature, top_p; /* sampling */
    double clip_eps;          /* policy ratio clipping (0.2) */
    double value_clip;        /* value clipping around the rollout's values (0.2) */
    double gamma, lambda;     /* GAE (1, 0.95) */
    double kl_init;           /* the KL coefficient at the start (0.02 in the paper's scripts) */
    double kl_target;         /* <= 0: fixed coefficient; else the adaptive controller's target */
    double kl_horizon;        /* the adaptive controller's horizon, in samples (10000) */
    float lr_actor, lr_critic;
    float grad_clip;      /* global norm per model; <= 0: none */
    int normalize_reward; /* 1: scores normalised by running moments */
    uint64_t seed;        /* rollouts, minibatch order, pretraining batches */
    /* the pretraining (SFT) loss term: each actor update adds ptx_coef x the cross-entropy of
     * ptx_batch sequences of ptx_data (drawn per update from GC_STREAM_PPO_PTX); NULL: none */
    const struct gc_seqset_s *ptx_data;
    int ptx_batch;
    double ptx_coef;
} gc_ppo_config;

typedef struct {
    gc_model *actor; /* trained in place */
    gc_model *ref;   /* frozen reference policy: never updated */
    gc_rm *critic;   /* trained in place: value head = the rm's linear head */
    gc_adamw actor_opt;
    gc_moments moments; /* of the raw scores */
    double kl_coef;
    int64_t iter; /* iterations done */
} gc_ppo;

typedef struct {
    double score;   /* mean raw score of the rollout */
    double kl;      /* mean per-sequence KL(actor || ref) of the rollout (sum over tokens) */
    double kl_coef; /* the coefficient used for this rollout's rewards */
    double policy_loss, value_loss, clipfrac, approx_kl; /* means over the updates */
    double response_len;                                 /* mean response tokens */
} gc_ppo_stats;

/* The critic must have a linear head and the actor's and reference's configurations must match;
 * the reference's forward passes use its activations, so no one else may use it meanwhile. */
gc_status gc_ppo_init(gc_ppo *p, gc_model *actor, gc_model *ref, gc_rm *critic,
                      const gc_ppo_config *c);
void gc_ppo_free(gc_ppo *p);

/* One iteration on n prompts (prompt i: prompt_len[i] tokens, BOS first). st (may be NULL). */
gc_status gc_ppo_iteration(gc_ppo *p, const gc_ppo_config *c, const int32_t *const *prompts,
                           const int *prompt_len, int n, gc_ppo_score_fn score, void *score_ctx,
                           gc_ppo_stats *st);

/* Writes actor.ckpt (with its AdamW moments), the critic's training state (critic.ckpt and
 * critic.hstate, gc_rm_save_train) and ppo.state into dir (which must exist). */
gc_status gc_ppo_save(gc_ppo *p, const char *dir);
/* Restores a state written by gc_ppo_save into p (gc_ppo_init done, before or after passes on any
 * backend): a file that is missing, corrupted or made for other shapes is an error naming it, and
 * then p's models may hold part of the state (discard them). */
gc_status gc_ppo_load(gc_ppo *p, const char *dir);

#endif
