/* The entry points of libgcrm_cuda.so, which commands load on demand (lib/model/device.c) so that
 * CPU runs never load the CUDA libraries. One process-wide handle on device 0; GCRM_CUDA_EMULATE=1
 * opens the host emulation instead (kernels/cuda_api.h), so the whole path runs on any machine. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cuda_api.h"

static gc_cuda *handle;

gc_status gc_cuda_plugin_open(const char *precision, const gc_backend **be, char *desc, size_t cap);
void gc_cuda_plugin_close(void);

gc_status gc_cuda_plugin_open(const char *precision, const gc_backend **be, char *desc,
                              size_t cap) {
    gc_precision p;
    GC_TRY(gc_precision_parse(precision, &p));
    const char *emu = getenv("GCRM_CUDA_EMULATE");
    int emulate = emu && *emu && *emu != '0';
    char what[256] = "host emulation of the CUDA kernels";
    if (!handle) GC_TRY(emulate ? gc_cuda_open_emulated(&handle) : gc_cuda_open(&handle));
    if (!emulate) GC_TRY(gc_cuda_describe(what, sizeof what));
    snprintf(desc, cap, "cuda (%s, %s)", what, gc_precision_name(p));
    return gc_cuda_backend(handle, p, be);
}

void gc_cuda_plugin_close(void) {
    gc_cuda_close(handle);
    handle = NULL;
}
