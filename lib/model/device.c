/* The process's device (backend.h): the CPU, or the CUDA backend loaded from libgcrm_cuda.so. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"

/* the plugin's entry points (kernels/cuda_plugin.c) */
typedef gc_status (*plugin_open_fn)(const char *precision, const gc_backend **be, char *desc,
                                    size_t cap);
typedef void (*plugin_close_fn)(void);

static struct {
    void *lib;
    const gc_backend *be;
    plugin_close_fn close;
    char desc[320];
} dev;

/* GCRM_CUDA_PLUGIN, else libgcrm_cuda.so in the executable's directory */
static void plugin_path(char *out, size_t cap) {
    const char *env = getenv("GCRM_CUDA_PLUGIN");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return;
    }
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(out, cap, "%s/libgcrm_cuda.so", slash ? exe : ".");
}

gc_status gc_device_open(const char *device, const char *precision) {
    gc_device_close();
    if (!strcmp(device, "cpu")) return GC_OK;
    if (strcmp(device, "cuda"))
        return gc_fail(GC_ERR_ARG, "unknown device '%s' (expected cpu or cuda)", device);
    char path[1100];
    plugin_path(path, sizeof path);
    /* never unmapped: the CUDA libraries keep process-wide state (and their allocations stay
     * reachable) */
    dev.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!dev.lib)
        return gc_fail(GC_ERR_DEVICE,
                       "cuda: cannot load the CUDA backend %s: %s (a build "
                       "without nvcc has none; install the CUDA toolkit and rebuild)",
                       path, dlerror());
    plugin_open_fn open = (plugin_open_fn)dlsym(dev.lib, "gc_cuda_plugin_open");
    dev.close = (plugin_close_fn)dlsym(dev.lib, "gc_cuda_plugin_close");
    if (!open || !dev.close) {
        dlclose(dev.lib);
        dev.lib = NULL;
        return gc_fail(GC_ERR_DEVICE, "cuda: %s is not a gcrm CUDA backend", path);
    }
    gc_status s = open(precision ? precision : "fp32", &dev.be, dev.desc, sizeof dev.desc);
    if (s != GC_OK) {
        dlclose(dev.lib);
        memset(&dev, 0, sizeof dev);
    }
    return s;
}

const gc_backend *gc_device_backend(void) {
    return dev.be ? dev.be : gc_backend_cpu();
}

const char *gc_device_describe(void) {
    return dev.be ? dev.desc : "cpu";
}

void gc_device_close(void) {
    if (dev.close) dev.close();
    if (dev.lib) dlclose(dev.lib);
    memset(&dev, 0, sizeof dev);
}
