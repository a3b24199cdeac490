/* backend_prof: a backend that times another one's ops (backend.h), for the per-op profiles of
 * `make bench`: each op call is forwarded to the inner backend and its wall time added to the op's
 * total (the CPU's ops are synchronous, so that time is the op's; a GPU backend's would need its
 * own synchronisation and is profiled by kernels/cuda_api.h's gc_cuda_profile instead). Memory
 * functions are forwarded untimed. Results are the inner backend's, bit for bit.
 *
 * Ownership: gc_backend_prof owns nothing of the inner backend; it must outlive the models set on
 * it (gc_model_set_backend).
 */
#ifndef GC_BACKEND_PROF_H
#define GC_BACKEND_PROF_H

#include <stdint.h>

#include "backend.h"

enum {
    GC_PROF_EMBEDDING,
    GC_PROF_EMBEDDING_BACKWARD,
    GC_PROF_RMSNORM,
    GC_PROF_RMSNORM_BACKWARD,
    GC_PROF_LINEAR,
    GC_PROF_LINEAR_RESIDUAL,
    GC_PROF_LINEAR_BACKWARD,
    GC_PROF_ROPE,
    GC_PROF_ATTENTION,
    GC_PROF_ATTENTION_BACKWARD,
    GC_PROF_DECODE_ATTENTION,
    GC_PROF_DECODE_LINEAR,
    GC_PROF_SWIGLU,
    GC_PROF_SWIGLU_BACKWARD,
    GC_PROF_ADD,
    GC_PROF_CROSS_ENTROPY,
    GC_PROF_SUMSQ,
    GC_PROF_SCALE,
    GC_PROF_ADAMW,
    GC_PROF_OPS
};

typedef struct {
    gc_backend be;           /* the timing backend: give &prof.be to gc_model_set_backend */
    const gc_backend *in;    /* the backend that computes */
    double sec[GC_PROF_OPS]; /* wall seconds per op since the last reset */
    int64_t calls[GC_PROF_OPS];
} gc_backend_prof;

void gc_backend_prof_init(gc_backend_prof *p, const gc_backend *inner);
void gc_backend_prof_reset(gc_backend_prof *p);
const char *gc_backend_prof_name(int op);

#endif
