/* arrays: stage outputs too large for JSON, as typed arrays in one binary file (full.h). */
#include <stdlib.h>
#include <string.h>

#include "full.h"

static const char MAGIC[8] = {'G', 'C', 'R', 'M', 'A', 'R', 'R', '1'};

gc_status full_arrays_write(const char *path, const full_array *a, int n) {
    gc_atomic_file af;
    GC_TRY(gc_atomic_open(&af, path));
    gc_status s = gc_atomic_write(&af, MAGIC, sizeof MAGIC);
    for (int i = 0; s == GC_OK && i < n; i++) {
        char type = a[i].type;
        int64_t len = a[i].n;
        s = gc_atomic_write(&af, &type, 1);
        if (s == GC_OK) s = gc_atomic_write(&af, &len, sizeof len);
        if (s == GC_OK && len) s = gc_atomic_write(&af, a[i].data, (size_t)len * 4);
    }
    if (s == GC_OK) s = gc_atomic_write_crc(&af);
    if (s != GC_OK) {
        gc_atomic_abort(&af);
        return s;
    }
    return gc_atomic_commit(&af);
}

gc_status full_arrays_read(const char *path, full_array *a, int n) {
    char *buf = NULL;
    size_t size = 0;
    for (int i = 0; i < n; i++)
        a[i].data = NULL;
    GC_TRY(gc_read_file(path, &buf, &size));
    gc_status s = GC_OK;
    if (size < sizeof MAGIC + 4 || memcmp(buf, MAGIC, sizeof MAGIC) ||
        !gc_crc_trailer_ok(buf, size))
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: not a complete gcrm arrays file (damaged or cut short: delete the stage "
                    "directory to recompute)",
                    path);
    size_t at = sizeof MAGIC, end = size - 4;
    for (int i = 0; s == GC_OK && i < n; i++) {
        int64_t len;
        if (end - at < 9) {
            s = gc_fail(GC_ERR_FORMAT, "%s: %d arrays expected, %d found", path, n, i);
            break;
        }
        char type = buf[at];
        memcpy(&len, buf + at + 1, sizeof len);
        at += 9;
        if (type != a[i].type || len < 0 || (uint64_t)len > (end - at) / 4) {
            s = gc_fail(GC_ERR_FORMAT, "%s: array %d is not the %c array expected", path, i,
                        a[i].type);
            break;
        }
        a[i].n = len;
        if (!(a[i].data = gc_malloc((size_t)(len ? len : 1) * 4))) {
            s = GC_ERR_NOMEM;
            break;
        }
        memcpy(a[i].data, buf + at, (size_t)len * 4);
        at += (size_t)len * 4;
    }
    if (s == GC_OK && at != end) s = gc_fail(GC_ERR_FORMAT, "%s: bytes after the arrays", path);
    if (s != GC_OK)
        for (int i = 0; i < n; i++)
            free(a[i].data), a[i].data = NULL;
    free(buf);
    return s;
}
