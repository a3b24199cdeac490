/* Helpers of the CUDA tests: a handle (the GPU, else the host emulation), random host data,
 * uploads, and a tolerance check of a device buffer against host values. */
#ifndef GC_CUDA_HELPERS_H
#define GC_CUDA_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/cuda_api.h"

/* The GPU when there is one, else the host emulation; skips the test in a build without CUDA. */
gc_cuda *ch_open_or_skip(void);
/* n floats ~ scale * N(0, 1) from seed (caller frees). */
float *ch_randn(size_t n, uint64_t seed, float scale);
/* A device copy of host[0, n) (gc_cuda_free). */
float *ch_up(gc_cuda *c, const float *host, size_t n);
/* max |a - b| / max(1, max |b|) over n host floats: the error relative to the tensor's scale */
double ch_rel_err(const float *a, const float *b, size_t n);
/* Criterion expectation: the device buffer dev (n floats) is within tol of want (ch_rel_err). */
void ch_expect_close(gc_cuda *c, const float *dev, const float *want, size_t n, double tol,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
