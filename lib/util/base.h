/* base: status codes, error messages, checked allocation and I/O, logging, progress, timing.
 *
 * Contract: library functions return gc_status; on failure they record a human-readable message
 * (naming the file, line, key or source location involved, plus a hint where one helps) with
 * gc_fail(), readable through gc_last_error() until the next failure on the same thread. Only the
 * CLI prints errors and exits. gc_malloc/gc_calloc return NULL after recording an error; the caller
 * owns and frees (free()) what they return. Logging and the progress bar write to stderr; the
 * progress bar draws only when stderr is a terminal.
 */
#ifndef GC_BASE_H
#define GC_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    GC_OK = 0,
    GC_ERR_IO,      /* open/read/write/rename failed */
    GC_ERR_NOMEM,   /* allocation failed */
    GC_ERR_FORMAT,  /* malformed file: wrong magic, version, size, checksum, syntax */
    GC_ERR_CONFIG,  /* config key unknown, ill-typed or out of range */
    GC_ERR_ARG,     /* bad argument to a library call */
    GC_ERR_DEVICE,  /* requested device not available */
    GC_ERR_NUMERIC, /* a computation gave NaN or infinity (a diverged run) */
    GC_ERR_STOPPED, /* stopped on request (a signal) with its state saved to resume */
} gc_status;

const char *gc_status_str(gc_status s);

/* Record a failure message (printf-style) and return s. */
gc_status gc_fail(gc_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The message of the last failure on this thread ("" when none). */
const char *gc_last_error(void);

/* Propagate a non-OK status. */
/* Whether a parallel loop over `work` elements is worth its threads: starting an OpenMP region
 * costs microseconds, more than a small op's whole work (one decoding step of a small model), so
 * the CPU ops run below GC_PAR_MIN_WORK on the calling thread. Every region so guarded computes
 * the same bits on one thread as on many (rows and blocks are independent). */
#define GC_PAR_MIN_WORK 32768
static inline int gc_par(size_t work) {
    return work >= GC_PAR_MIN_WORK;
}

/* A for statement (the variadic argument) run by an OpenMP team, its iterations split statically,
 * when gc_par(work) holds, else on the calling thread without entering OpenMP at all: libgomp
 * starts a region even where an if clause makes it serial, and ends it with a futex system call
 * (1.2 us measured on this project's 2-core machine), more than a decoding step's RMSNorm or
 * rotation costs. The iterations must be independent, so both ways compute the same bits.
 * Directives inside the statement are written _Pragma("omp simd ..."). */
#define GC_PRAGMA(x) _Pragma(#x)
#define GC_PAR_FOR(work, ...) GC_PAR_FOR_CLAUSES(work, , __VA_ARGS__)
/* the same for `depth` nested loops collapsed into one iteration space */
#define GC_PAR_FOR_COLLAPSE(work, depth, ...) GC_PAR_FOR_CLAUSES(work, collapse(depth), __VA_ARGS__)
#define GC_PAR_FOR_CLAUSES(work, clauses, ...)                                                     \
    do {                                                                                           \
        if (gc_par(work)) {                                                                        \
            GC_PRAGMA(omp parallel for schedule(static) clauses)                                   \
            __VA_ARGS__                                                                            \
        } else {                                                                                   \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    } while (0)

#define GC_TRY(expr)                                                                               \
    do {                                                                                           \
        gc_status gc_try_s_ = (expr);                                                              \
        if (gc_try_s_ != GC_OK) return gc_try_s_;                                                  \
    } while (0)

void *gc_malloc_at(size_t bytes, const char *file, int line);
void *gc_calloc_at(size_t n, size_t size, const char *file, int line);
#define gc_malloc(bytes) gc_malloc_at((bytes), __FILE__, __LINE__)
#define gc_calloc(n, size) gc_calloc_at((n), (size), __FILE__, __LINE__)

/* Read a whole file into a NUL-terminated buffer (caller frees). */
gc_status gc_read_file(const char *path, char **data, size_t *size);

/* Atomic write: data goes to "<path>.tmp.<pid>", is flushed and renamed over path. After a
 * failed open the struct is zeroed, and gc_atomic_abort on a zeroed struct does nothing, so
 * callers may abort whatever happened (initialise with {0} when the open may be skipped). */
typedef struct {
    FILE *f;
    char *path;
    char *tmp_path;
    int failed;
    uint32_t crc; /* zlib's CRC-32 of the bytes written so far */
} gc_atomic_file;
gc_status gc_atomic_open(gc_atomic_file *af, const char *path);
gc_status gc_atomic_write(gc_atomic_file *af, const void *data, size_t bytes);
gc_status gc_atomic_commit(gc_atomic_file *af); /* fflush, fsync, rename; frees af */
void gc_atomic_abort(gc_atomic_file *af);       /* remove the temp file; frees af */
/* Appends the CRC-32 of everything written so far (4 bytes, little-endian): the trailer of the
 * project's binary files, which gc_crc_trailer_ok checks on a whole file read back. */
gc_status gc_atomic_write_crc(gc_atomic_file *af);
uint32_t gc_crc32(const void *data, size_t size); /* zlib's CRC-32 of a buffer */
int gc_crc_trailer_ok(const void *data, size_t size);

/* Logging to stderr; GC_LOG_LEVEL=0 silences info. */
void gc_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void gc_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct {
    const char *label;
    int64_t total;
    int64_t done;
    double t0;
    double last_draw;
    int enabled;
} gc_progress;
void gc_progress_init(gc_progress *p, const char *label, int64_t total);
void gc_progress_update(gc_progress *p, int64_t done);
void gc_progress_end(gc_progress *p);

/* OpenBLAS 0.3.21 (Debian 12) does not recognise recent x86 CPUs and falls back to its slowest
 * (Prescott) kernels. When OPENBLAS_CORETYPE is unset and the CPU has AVX-512 (SkylakeX kernels)
 * or AVX2 (Haswell kernels), set it and re-execute the program so the library reads it at load.
 * A value already in the environment is always kept. Call first thing in main(). */
void gc_blas_select_kernels(char **argv);

/* Monotonic wall clock in seconds. */
double gc_now(void);

#endif
