#include "dpo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* checks the batch layout against the model and the forward's shape */
static gc_status check_batch(const gc_model *m, int B, int T, const int *prompt_len,
                             const int *len) {
    for (int b = 0; b < B; b++)
        if (prompt_len[b] < 1 || len[b] <= prompt_len[b] || len[b] > T)
            return gc_fail(GC_ERR_ARG,
                           "dpo: sequence %d has prompt %d and length %d (need 1 <= prompt < "
                           "length <= %d)",
                           b, prompt_len[b], len[b], T);
    (void)m;
    return GC_OK;
}

/* log-softmax of one row at index k, in double */
double gc_row_logprob(const float *row, int V, int k, double *z_out, float *mx_out) {
    float mx = row[0];
    for (int v = 1; v < V; v++)
        mx = row[v] > mx ? row[v] : mx;
    double z = 0;
    for (int v = 0; v < V; v++)
        z += exp((double)row[v] - mx);
    if (z_out) *z_out = z;
    if (mx_out) *mx_out = mx;
    return (double)row[k] - mx - log(z);
}

void gc_row_logprob_grad(const float *row, int V, int k, double g, float *drow) {
    double z;
    float mx;
    gc_row_logprob(row, V, k, &z, &mx);
    for (int v = 0; v < V; v++)
        drow[v] = (float)(-g * exp((double)row[v] - mx) / z);
    drow[k] += (float)g;
}

/* the response log-probabilities from the host logits of the last forward */
static void seq_logprob_from_logits(const gc_model *m, const int32_t *tokens, int B, int T,
                                    const int *prompt_len, const int *len, int norm, double *out) {
    int V = m->cfg.vocab_size;
    for (int b = 0; b < B; b++) {
        double sum = 0;
        for (int t = prompt_len[b]; t < len[b]; t++) /* row t - 1 predicts token t */
            sum += gc_row_logprob(m->logits + ((size_t)b * T + t - 1) * V, V,
                                  tokens[(size_t)b * T + t], NULL, NULL);
        out[b] = norm ? sum / (len[b] - prompt_len[b]) : sum;
    }
}

gc_status gc_seq_logprob(gc_model *m, const int32_t *tokens, int B, int T, const int *prompt_len,
                         const int *len, int norm, double *out) {
    GC_TRY(check_batch(m, B, T, prompt_len, len));
    GC_TRY(gc_model_forward_len(m, tokens, B, T, len, GC_LOGITS_HOST));
    seq_logprob_from_logits(m, tokens, B, T, prompt_len, len, norm, out);
    return GC_OK;
}

/* -log sigmoid(z), stable */
static double softplus_neg(double z) {
    return z > 0 ? log1p(exp(-z)) : -z + log1p(exp(z));
}

double gc_dpo_loss(const double *pi, const double *ref, int P, double beta, double *dpi,
                   double *acc) {
    double loss = 0, right = 0;
    for (int p = 0; p < P; p++) {
        double z = beta * ((pi[2 * p] - ref[2 * p]) - (pi[2 * p + 1] - ref[2 * p + 1]));
        loss += softplus_neg(z) / P;
        right += (z > 0) + 0.5 * (z == 0);
        if (dpi) {
            double s = 1.0 / (1.0 + exp(z)); /* sigmoid(-z) = -d softplus(-z) / dz */
            dpi[2 * p] = -beta * s / P;
            dpi[2 * p + 1] = beta * s / P;
        }
    }
    if (acc) *acc = P ? right / P : 0;
    return loss;
}

gc_status gc_dpo_grad(gc_model *m, const int32_t *tokens, int P, int T, const int *prompt_len,
                      const int *len, const double *ref, double beta, int norm, gc_dpo_stats *st) {
    return gc_dpo_grad_acc(m, tokens, P, T, prompt_len, len, ref, beta, norm, 1.0, 1, st);
}

gc_status gc_dpo_grad_acc(gc_model *m, const int32_t *tokens, int P, int T, const int *prompt_len,
                          const int *len, const double *ref, double beta, int norm, double weight,
                          int zero, gc_dpo_stats *st) {
    int B = 2 * P, V = m->cfg.vocab_size;
    if (P <= 0) return gc_fail(GC_ERR_ARG, "dpo: no pairs");
    if (!(beta > 0)) return gc_fail(GC_ERR_ARG, "dpo: beta must be positive, got %g", beta);
    double *pi = gc_malloc(sizeof(double) * B), *dpi = gc_malloc(sizeof(double) * B);
    float *dl = gc_calloc((size_t)B * T * V, sizeof(float));
    gc_status s = pi && dpi && dl ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_seq_logprob(m, tokens, B, T, prompt_len, len, norm, pi);
    double acc = 0, loss = 0;
    if (s == GC_OK) {
        loss = gc_dpo_loss(pi, ref, P, beta, dpi, &acc);
        for (int b = 0; b < B; b++) { /* d pi_b / d logits = onehot - softmax on its rows */
            double g = weight * (norm ? dpi[b] / (len[b] - prompt_len[b]) : dpi[b]);
            for (int t = prompt_len[b]; t < len[b]; t++) {
                size_t row = (size_t)b * T + t - 1;
                gc_row_logprob_grad(m->logits + row * V, V, tokens[(size_t)b * T + t], g,
                                    dl + row * V);
            }
        }
        s = gc_model_logits_grad(m, dl);
    }
    if (s == GC_OK && zero) s = gc_model_zero_grad(m);
    if (s == GC_OK) s = gc_model_backward(m, NULL);
    if (s == GC_OK && st) {
        double margin = 0;
        for (int p = 0; p < P; p++)
            margin += ((pi[2 * p] - ref[2 * p]) - (pi[2 * p + 1] - ref[2 * p + 1])) / P;
        *st = (gc_dpo_stats){loss, acc, margin};
    }
    free(pi), free(dpi), free(dl);
    return s;
}

gc_status gc_dpo_step(gc_model *m, gc_adamw *opt, const int32_t *tokens, int P, int T,
                      const int *prompt_len, const int *len, const double *ref, double beta,
                      int norm, float lr, float clip, gc_dpo_stats *st) {
    GC_TRY(gc_dpo_grad(m, tokens, P, T, prompt_len, len, ref, beta, norm, st));
    GC_TRY(gc_model_clip_grads(m, clip, NULL));
    return gc_model_adamw(m, opt, lr);
}
