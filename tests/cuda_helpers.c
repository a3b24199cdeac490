#include "cuda_helpers.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/util/rng.h"

gc_cuda *ch_open_or_skip(void) {
    char why[256];
    gc_cuda *c;
    if (gc_cuda_devices(why, sizeof why) > 0) {
        cr_assert_eq(gc_cuda_open(&c), GC_OK, "%s", gc_last_error());
        return c;
    }
    if (gc_cuda_open_emulated(&c) != GC_OK) cr_skip_test("%s", gc_last_error());
    return c;
}

float *ch_randn(size_t n, uint64_t seed, float scale) {
    float *x = malloc(sizeof(float) * n);
    cr_assert(x);
    gc_rng r;
    gc_rng_init(&r, seed, 1);
    for (size_t i = 0; i < n; i++)
        x[i] = scale * gc_rng_normal(&r);
    return x;
}

float *ch_up(gc_cuda *c, const float *host, size_t n) {
    float *d = gc_cuda_alloc(c, sizeof(float) * n);
    cr_assert(d, "%s", gc_last_error());
    cr_assert_eq(gc_cuda_upload(c, d, host, sizeof(float) * n), GC_OK, "%s", gc_last_error());
    return d;
}

double ch_rel_err(const float *a, const float *b, size_t n) {
    double e = 0, scale = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        e = d > e || isnan(d) ? d : e;
        scale = fmax(scale, fabs(b[i]));
    }
    return e / scale;
}

void ch_expect_close(gc_cuda *c, const float *dev, const float *want, size_t n, double tol,
                     const char *fmt, ...) {
    float *got = malloc(sizeof(float) * n);
    cr_assert(got);
    cr_assert_eq(gc_cuda_download(c, got, dev, sizeof(float) * n), GC_OK, "%s", gc_last_error());
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    double e = ch_rel_err(got, want, n);
    cr_expect(e <= tol, "%s: error %g > tolerance %g", what, e, tol);
    free(got);
}
