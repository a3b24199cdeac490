/* ppo: the arithmetic of Proximal Policy Optimisation as OpenRLHF runs it for RLHF (the paper's
 * PPO, PAPER.md section 3): per-token rewards with a KL penalty against the reference policy,
 * generalised advantage estimation, advantage whitening, reward normalisation by running moments,
 * the clipped policy surrogate and the clipped value loss, and the adaptive KL controller. Pure
 * functions on one rollout's arrays; the training loop that samples, scores and updates is built
 * on them.
 *
 * A rollout of one response has T generated tokens (a mask marks the valid ones when responses
 * of a batch are padded to one length). Conventions (OpenRLHF 0.x):
 *   kl_t      = logp_t - logp_ref_t                                  (the k1 estimator)
 *   reward_t  = -kl_coef * kl_t, plus the reward model's score at the last token
 *   delta_t   = reward_t + gamma * V_{t+1} - V_t   (V_T = 0 past the last token)
 *   A_t       = delta_t + gamma * lambda * A_{t+1},   R_t = A_t + V_t
 *   policy    L = mean over valid tokens of -min(rho A, clip(rho, 1 - eps, 1 + eps) A),
 *                 rho = exp(logp_new - logp_old)
 *   value     L = 0.5 * mean over valid tokens of max((V_clip - R)^2, (V - R)^2),
 *                 V_clip = V_old + clip(V - V_old, -eps_v, eps_v)
 */
#ifndef GC_PPO_H
#define GC_PPO_H

#include <stddef.h>
#include <stdint.h>

/* Per-token rewards of one response (T tokens, the last one at T - 1): out (T). */
void gc_ppo_rewards(const float *logp, const float *logp_ref, int T, double kl_coef, double score,
                    float *out);

/* GAE over one response: adv (T) and ret (T) from rewards (T) and values (T). */
void gc_ppo_gae(const float *rewards, const float *values, int T, double gamma, double lambda,
                float *adv, float *ret);

/* Whitens x (n) in place over the entries with mask[i] != 0 (mask NULL: all): (x - mean) /
 * (std + 1e-8), std the population standard deviation, as OpenRLHF's masked_normalize. */
void gc_ppo_whiten(float *x, const uint8_t *mask, size_t n);

/* Running moments (Chan et al.'s parallel update of mean and variance), for reward
 * normalisation; saved with a run so that a resumed run normalises as an uninterrupted one. */
typedef struct {
    double mean, var; /* population variance of everything seen */
    double count;
} gc_moments;
void gc_moments_init(gc_moments *m);
void gc_moments_update(gc_moments *m, const double *x, size_t n);
/* (x - mean) / sqrt(var + 1e-8): the population variance (OpenRLHF divides by the Bessel-corrected
 * standard deviation; the two agree to 1 / count after a few batches) */
double gc_moments_normalize(const gc_moments *m, double x);

/* The clipped surrogate: returns L; dlogp (n) = dL / dlogp_new; *clipfrac (may be NULL) the share
 * of valid tokens whose ratio was clipped; *approx_kl (may be NULL) the mean of
 * 0.5 (logp_new - logp_old)^2. mask NULL: all n valid. */
double gc_ppo_policy_loss(const float *logp_new, const float *logp_old, const float *adv,
                          const uint8_t *mask, size_t n, double eps, float *dlogp, double *clipfrac,
                          double *approx_kl);

/* The clipped value loss: returns L; dv (n) = dL / dvalues. */
double gc_ppo_value_loss(const float *values, const float *old_values, const float *returns,
                         const uint8_t *mask, size_t n, double eps, float *dv);

/* The adaptive KL controller (Ziegler et al. 2019): the coefficient after a rollout whose mean KL
 * was `kl`, aiming at `target` over a horizon of `horizon` samples, `n_steps` samples taken. */
double gc_ppo_kl_adapt(double kl_coef, double kl, double target, double horizon, double n_steps);

#endif
