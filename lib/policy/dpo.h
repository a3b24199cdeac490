/* dpo: Direct Preference Optimisation (Rafailov et al. 2023) of a policy on preference pairs, and
 * the per-sequence response log-probabilities it (and PPO's KL penalty) needs.
 *
 * A batch holds P pairs as 2P sequences (chosen_0, rejected_0, chosen_1, ...), the layout of
 * lib/rm/rm.h: sequence b's response occupies positions [prompt_len[b], len[b]) of its row of
 * tokens (B, T). The sequence log-probability is the sum over the response of
 * log p(token_t | tokens_<t) (norm = 1: the mean, "length-normalised" DPO).
 *
 * Loss per pair, with pi the policy's and ref the frozen reference policy's log-probabilities:
 *   z = beta * ((pi_c - ref_c) - (pi_r - ref_r)),   L = mean over pairs of -log sigmoid(z).
 * Its gradient reaches the logits as g_b * (onehot(token) - softmax) on each response row of
 * sequence b, g_b = dL/dpi_b (divided by the response length when norm = 1), and flows into the
 * trunk through gc_model_logits_grad and gc_model_backward. The reference log-probabilities are
 * computed once (gc_seq_logprob with the reference model) and passed in.
 */
#ifndef GC_DPO_H
#define GC_DPO_H

#include <stdint.h>

#include "lib/model/model.h"
#include "lib/model/optim.h"
#include "lib/util/base.h"

/* log softmax(row)[k] over a row of V logits; *z_out and *mx_out (may be NULL) get the row's
 * partition sum and maximum (softmax_v = exp(row_v - mx) / z). */
double gc_row_logprob(const float *row, int V, int k, double *z_out, float *mx_out);
/* drow (V) = g * d log softmax(row)[k] / d row = g * (onehot(k) - softmax(row)). */
void gc_row_logprob_grad(const float *row, int V, int k, double g, float *drow);

/* out (B): each sequence's response log-probability under m (one forward with host logits). */
gc_status gc_seq_logprob(gc_model *m, const int32_t *tokens, int B, int T, const int *prompt_len,
                         const int *len, int norm, double *out);

/* The loss over P pairs from the policy's pi (2P) and the reference's ref (2P); dpi (2P, may be
 * NULL) gets dL/dpi; *acc (may be NULL) the share of pairs with z > 0 (ties half). */
double gc_dpo_loss(const double *pi, const double *ref, int P, double beta, double *dpi,
                   double *acc);

typedef struct {
    double loss, acc;
    double margin; /* mean of z / beta: the implicit reward margin */
} gc_dpo_stats;

/* Forward, loss and backward on one batch: m's gradient (zeroed first) becomes dL/dparams. */
gc_status gc_dpo_grad(gc_model *m, const int32_t *tokens, int P, int T, const int *prompt_len,
                      const int *len, const double *ref, double beta, int norm, gc_dpo_stats *st);

/* The gradient of weight x the loss of this batch, added to m's (zeroed first when zero): a global
 * batch accumulated over micro-batches of m_i pairs, each weighted m_i / P, has the gradient of
 * the whole batch's loss (the loss is a mean of per-pair terms). */
gc_status gc_dpo_grad_acc(gc_model *m, const int32_t *tokens, int P, int T, const int *prompt_len,
                          const int *len, const double *ref, double beta, int norm, double weight,
                          int zero, gc_dpo_stats *st);

/* gc_dpo_grad, then global-norm clipping (clip <= 0: none) and one AdamW update at lr. */
gc_status gc_dpo_step(gc_model *m, gc_adamw *opt, const int32_t *tokens, int P, int T,
                      const int *prompt_len, const int *len, const double *ref, double beta,
                      int norm, float lr, float clip, gc_dpo_stats *st);

#endif
