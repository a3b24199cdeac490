/* fuzz: what the libFuzzer harnesses share. Each harness (fuzz/<name>.c) feeds one parser of
 * external input the fuzzer's bytes; parsers that read files get them through fuzz_file. A harness
 * fails only by a sanitizer report or a crash: every error status is a valid answer to bad input.
 * Built and run by `make fuzz` (build-fuzz/, clang with -fsanitize=fuzzer,address,undefined);
 * seed corpora come from real files (tools/fuzz-seeds.sh). */
#ifndef GC_FUZZ_H
#define GC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util/base.h"

/* Writes data to path (aborts when it cannot: the harness, not the parser, failed). */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
}

/* Writes data to this process's scratch file `tag` (in /dev/shm when there is one: memory, not
 * disk) and returns its path (static storage). */
static inline const char *fuzz_file(const char *tag, const uint8_t *data, size_t size) {
    static char path[256];
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/gcrm-fuzz-%ld-%s", dir, (long)getpid(), tag);
    fuzz_write(path, data, size);
    return path;
}

/* The bytes as a NUL-terminated string (caller frees). */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    char *t = malloc(size + 1);
    if (!t) abort();
    memcpy(t, data, size);
    t[size] = 0;
    return t;
}

#endif
