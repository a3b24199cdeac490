/* backend: where a model's passes run. A gc_model with no backend (the default) runs on the CPU
 * (lib/model/model.c, lib/model/ops.c); one given a backend (gc_model_set_backend) hands it its
 * forward, cross-entropy, backward, gradient norm, optimiser step and decoding, and keeps its
 * parameters on the backend's device. The CUDA backend is kernels/cuda_api.h's gc_cuda_backend;
 * commands load it on demand (gc_device_open) so that CPU runs never load the CUDA libraries.
 *
 * Contract (what model.c guarantees a backend, and what it promises back):
 * - model.c checks every argument (shapes, token ids, lengths, targets) before calling it.
 * - The host parameters are the source until the model's first call into the backend, which
 *   uploads them; from then on the device copy is current, and host code that reads m->params
 *   (checkpoints, copies) first calls gc_model_sync. Writing host parameters after that point is
 *   not seen by the device.
 * - forward fills the host m->acts.hf (N, D) and, when want == GC_LOGITS_HOST, m->acts.logits
 *   (N, V); with GC_LOGITS_DEVICE (training) the logits stay on the device for the loss and
 *   nothing is copied to the host.
 * - adamw increments o->step and updates with the moments it keeps for o on the device (uploaded
 *   from o->m, o->v on first use); sync copies parameters (and o's moments) back to the host.
 * - decode fills the host kc->hf and kc->logits; the KV cache itself lives on the device.
 */
#ifndef GC_BACKEND_H
#define GC_BACKEND_H

#include <stdint.h>

#include "lib/util/base.h"

struct gc_model_s;
struct gc_adamw_s;
struct gc_kvcache_s;

typedef struct gc_backend {
    const char *name;      /* "cuda" or "cuda-emulated" */
    const char *precision; /* "fp32" | "tf32" | "bf16" */
    void *ctx;
    gc_status (*forward)(const struct gc_backend *be, struct gc_model_s *m, const int32_t *tokens,
                         int B, int T, const int *len, int want);
    /* *sum = sum of the per-row cross-entropies; prepares dlogits = scale * dCE on the device */
    gc_status (*ce_loss)(const struct gc_backend *be, struct gc_model_s *m, const int32_t *targets,
                         float scale, double *sum);
    gc_status (*zero_grad)(const struct gc_backend *be, struct gc_model_s *m);
    gc_status (*backward)(const struct gc_backend *be, struct gc_model_s *m, const float *dhidden);
    gc_status (*grad_sumsq)(const struct gc_backend *be, struct gc_model_s *m, double *out);
    gc_status (*scale_grads)(const struct gc_backend *be, struct gc_model_s *m, float k);
    gc_status (*adamw)(const struct gc_backend *be, struct gc_model_s *m, struct gc_adamw_s *o,
                       float lr);
    gc_status (*sync)(const struct gc_backend *be, struct gc_model_s *m, struct gc_adamw_s *o);
    /* the gradient into the host m->grads (allocated by model.c) */
    gc_status (*sync_grads)(const struct gc_backend *be, struct gc_model_s *m);
    gc_status (*decode)(const struct gc_backend *be, struct gc_model_s *m, struct gc_kvcache_s *kc,
                        const int32_t *token, const int32_t *pos);
    void (*release)(const struct gc_backend *be, struct gc_model_s *m);
    void (*kv_release)(const struct gc_backend *be, struct gc_kvcache_s *kc);
} gc_backend;

/* want values of gc_model_forward_len (model.h): no logits; logits on the host; logits for the
 * loss only (on the CPU the last two are the same) */
enum { GC_LOGITS_NONE = 0, GC_LOGITS_HOST = 1, GC_LOGITS_DEVICE = 2 };

/* The process's device, chosen by --device: "cpu" (no backend) or "cuda" (loads the CUDA backend
 * from libgcrm_cuda.so beside the executable, at the given precision). Models created afterwards
 * by commands use it (gc_device_backend). A clear error when cuda is asked for and no GPU is
 * usable, or the build has no CUDA. */
gc_status gc_device_open(const char *device, const char *precision);
/* The opened backend, NULL for the CPU. */
const gc_backend *gc_device_backend(void);
/* "cpu", or "cuda (<device description>, <precision>)" for result files. */
const char *gc_device_describe(void);
void gc_device_close(void);

#endif
