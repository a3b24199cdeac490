#include "base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

static _Thread_local char g_err[2048];

const char *gc_status_str(gc_status s) {
    switch (s) {
    case GC_OK:
        return "ok";
    case GC_ERR_IO:
        return "I/O error";
    case GC_ERR_NOMEM:
        return "out of memory";
    case GC_ERR_FORMAT:
        return "malformed input";
    case GC_ERR_CONFIG:
        return "configuration error";
    case GC_ERR_ARG:
        return "bad argument";
    case GC_ERR_DEVICE:
        return "device unavailable";
    case GC_ERR_NUMERIC:
        return "not a finite number";
    case GC_ERR_STOPPED:
        return "stopped";
    }
    return "unknown status";
}

gc_status gc_fail(gc_status s, const char *fmt, ...) {
    char buf[sizeof g_err]; /* arguments may quote the previous message */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(g_err, buf, sizeof g_err);
    return s;
}

const char *gc_last_error(void) {
    return g_err;
}

void *gc_malloc_at(size_t bytes, const char *file, int line) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        gc_fail(GC_ERR_NOMEM, "%s:%d: cannot allocate %zu bytes (hint: reduce batch or model size)",
                file, line, bytes);
    return p;
}

void *gc_calloc_at(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) gc_fail(GC_ERR_NOMEM, "%s:%d: cannot allocate %zu x %zu bytes", file, line, n, size);
    return p;
}

gc_status gc_read_file(const char *path, char **data, size_t *size) {
    *data = NULL;
    if (size) *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = gc_malloc(cap);
    if (!buf) {
        fclose(f);
        return GC_ERR_NOMEM;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return gc_fail(GC_ERR_NOMEM, "%s: file too large to read into memory", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return gc_fail(GC_ERR_IO, "%s: read error", path);
    }
    buf[n] = 0;
    *data = buf;
    if (size) *size = n;
    return GC_OK;
}

gc_status gc_atomic_open(gc_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t len = strlen(path);
    af->path = gc_malloc(len + 1);
    af->tmp_path = gc_malloc(len + 32);
    if (!af->path || !af->tmp_path) {
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af); /* a later abort finds nothing to free */
        return GC_ERR_NOMEM;
    }
    memcpy(af->path, path, len + 1);
    af->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    snprintf(af->tmp_path, len + 32, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp_path, "wb");
    if (!af->f) {
        gc_status s = gc_fail(GC_ERR_IO, "%s: cannot create: %s", af->tmp_path, strerror(errno));
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af); /* a later abort finds nothing to free */
        return s;
    }
    return GC_OK;
}

gc_status gc_atomic_write(gc_atomic_file *af, const void *data, size_t bytes) {
    if (af->failed) return GC_ERR_IO;
    if (bytes && fwrite(data, 1, bytes, af->f) != bytes) {
        af->failed = 1;
        return gc_fail(GC_ERR_IO, "%s: write failed: %s", af->tmp_path, strerror(errno));
    }
    af->crc = (uint32_t)crc32_z(af->crc, (const Bytef *)data, bytes);
    return GC_OK;
}

gc_status gc_atomic_write_crc(gc_atomic_file *af) {
    uint32_t c = af->crc;
    return gc_atomic_write(af, &c, sizeof c);
}

uint32_t gc_crc32(const void *data, size_t size) {
    return (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)data, size);
}

int gc_crc_trailer_ok(const void *data, size_t size) {
    uint32_t stored;
    if (size < sizeof stored) return 0;
    memcpy(&stored, (const char *)data + size - sizeof stored, sizeof stored);
    return stored == gc_crc32(data, size - sizeof stored);
}

static void atomic_free(gc_atomic_file *af) {
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    af->f = NULL;
}

void gc_atomic_abort(gc_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp_path) remove(af->tmp_path);
    atomic_free(af);
}

gc_status gc_atomic_commit(gc_atomic_file *af) {
    if (af->failed) {
        gc_atomic_abort(af);
        return GC_ERR_IO;
    }
    int bad = fflush(af->f) != 0 || fsync(fileno(af->f)) != 0;
    bad |= fclose(af->f) != 0;
    af->f = NULL;
    if (bad || rename(af->tmp_path, af->path) != 0) {
        gc_status s =
            gc_fail(GC_ERR_IO, "%s: cannot finish writing: %s", af->path, strerror(errno));
        remove(af->tmp_path);
        atomic_free(af);
        return s;
    }
    atomic_free(af);
    return GC_OK;
}

static int log_level(void) {
    const char *s = getenv("GC_LOG_LEVEL");
    return s ? atoi(s) : 1;
}

void gc_log_info(const char *fmt, ...) {
    if (log_level() < 1) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("[gcrm] ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void gc_log_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("[gcrm] warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

double gc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void gc_progress_init(gc_progress *p, const char *label, int64_t total) {
    p->label = label;
    p->total = total > 0 ? total : 1;
    p->done = 0;
    p->t0 = gc_now();
    p->last_draw = 0;
    p->enabled = isatty(fileno(stderr)) && log_level() >= 1;
}

void gc_progress_update(gc_progress *p, int64_t done) {
    p->done = done;
    if (!p->enabled) return;
    double now = gc_now();
    if (now - p->last_draw < 0.1 && done < p->total) return;
    p->last_draw = now;
    int width = 30, filled = (int)(width * (double)done / (double)p->total);
    if (filled > width) filled = width;
    double el = now - p->t0, eta = done > 0 ? el * (double)(p->total - done) / (double)done : 0;
    fprintf(stderr, "\r%-12s [", p->label);
    for (int i = 0; i < width; i++)
        fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %lld/%lld %.1fs eta %.1fs ", (long long)done, (long long)p->total, el, eta);
    fflush(stderr);
}

void gc_progress_end(gc_progress *p) {
    if (!p->enabled) return;
    gc_progress_update(p, p->total);
    fputc('\n', stderr);
}

void gc_blas_select_kernels(char **argv) {
    if (getenv("OPENBLAS_CORETYPE") || getenv("GCRM_NO_BLAS_SELECT")) return;
    const char *core = NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        core = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        core = "Haswell";
    if (!core) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("GCRM_NO_BLAS_SELECT", "1", 1); /* never loop */
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the default kernels */
}
