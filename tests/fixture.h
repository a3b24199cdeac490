/* fixture: reader for the binary fixtures written by the scripts in tests/ref.
 * Records: u32 name length, name, zero padding to a multiple of 4, u32 kind (0 f32, 1 i32),
 * u32 count, data (little-endian), so every payload is 4-byte aligned. */
#ifndef GC_FIXTURE_H
#define GC_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;
    size_t size;
} th_fixture;

int th_fixture_load(th_fixture *f, const char *path); /* 0 on success */
void th_fixture_free(th_fixture *f);
/* Pointer to the record's data and its count; NULL when absent or of another kind. */
const float *th_fixture_f32(const th_fixture *f, const char *name, size_t *count);
const int32_t *th_fixture_i32(const th_fixture *f, const char *name, size_t *count);

#endif
