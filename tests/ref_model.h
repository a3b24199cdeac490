/* ref_model: an independent, naive double-precision forward of the gcrm decoder, written from
 * the specification (../shared/data/README.md) with plain loops: the oracle for the fp32 forward
 * and, through central finite differences, for the analytic backward. */
#ifndef GC_REF_MODEL_H
#define GC_REF_MODEL_H

#include <stdint.h>

#include "lib/model/model.h"

/* params: (n_params) in the layout of gc_model_tensors. Returns
 *   ce_weight * mean CE(targets) + sum_{n,d} R[n,d] * hf[n,d]
 * and, when logits/hf are not NULL, writes them ((B*T, V) and (B*T, D)). R may be NULL. */
double ref_model_loss(const gc_model_config *c, const double *params, const int32_t *tokens,
                      const int32_t *targets, int B, int T, double ce_weight, const double *R,
                      double *logits, double *hf);

#endif
