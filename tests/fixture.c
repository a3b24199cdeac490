#include "fixture.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util/base.h"

int th_fixture_load(th_fixture *f, const char *path) {
    return gc_read_file(path, &f->data, &f->size) == GC_OK ? 0 : -1;
}

void th_fixture_free(th_fixture *f) {
    free(f->data);
    f->data = NULL;
}

static const void *find(const th_fixture *f, const char *name, uint32_t kind, size_t *count) {
    size_t at = 0, nlen = strlen(name);
    while (at + 4 <= f->size) {
        uint32_t len, k, n;
        memcpy(&len, f->data + at, 4);
        size_t padded = (len + 3u) & ~(size_t)3;
        if (at + 4 + padded + 8 > f->size) return NULL;
        const char *rname = f->data + at + 4;
        memcpy(&k, rname + padded, 4);
        memcpy(&n, rname + padded + 4, 4);
        const char *payload = rname + padded + 8;
        if (payload + (size_t)n * 4 > f->data + f->size) return NULL;
        if (len == nlen && memcmp(rname, name, len) == 0 && k == kind) {
            if (count) *count = n;
            return payload;
        }
        at = (size_t)(payload - f->data) + (size_t)n * 4;
    }
    return NULL;
}

const float *th_fixture_f32(const th_fixture *f, const char *name, size_t *count) {
    return find(f, name, 0, count);
}

const int32_t *th_fixture_i32(const th_fixture *f, const char *name, size_t *count) {
    return find(f, name, 1, count);
}
