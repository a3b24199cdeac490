#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "stage.h"

#define MAGIC "gcrm-stage 2"

/* size and crc32 of a file */
static gc_status file_sum(const char *path, uint64_t *bytes, uint32_t *crc) {
    FILE *f = fopen(path, "rb");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    unsigned char buf[1 << 16];
    uLong c = crc32(0L, Z_NULL, 0);
    uint64_t n = 0;
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        c = crc32_z(c, buf, k), n += k;
    int bad = ferror(f);
    fclose(f);
    if (bad) return gc_fail(GC_ERR_IO, "%s: read error", path);
    *bytes = n, *crc = (uint32_t)c;
    return GC_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

gc_status rp_manifest_write(const char *dir, const char *key) {
    DIR *d = opendir(dir);
    if (!d) return gc_fail(GC_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    gc_status s = GC_OK;
    for (struct dirent *e; s == GC_OK && (e = readdir(d));) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "DONE") || strstr(e->d_name, ".tmp"))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **g = realloc(names, sizeof(char *) * (size_t)cap);
            if (!g) {
                s = GC_ERR_NOMEM;
                break;
            }
            names = g;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) s = GC_ERR_NOMEM;
        n += s == GC_OK;
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof(char *), cmp_str);
    size_t cap_text = 64 + (size_t)n * (RP_PATH + 64);
    char *text = s == GC_OK ? malloc(cap_text) : NULL;
    if (s == GC_OK && !text) s = GC_ERR_NOMEM;
    size_t at = 0;
    if (s == GC_OK) at += (size_t)snprintf(text, cap_text, MAGIC "\nkey %s\n", key);
    for (int i = 0; s == GC_OK && i < n; i++) {
        char path[RP_PATH];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        uint64_t bytes;
        uint32_t crc;
        s = file_sum(path, &bytes, &crc);
        if (s == GC_OK)
            at += (size_t)snprintf(text + at, cap_text - at, "file %s %" PRIu64 " %08x\n", names[i],
                                   bytes, crc);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (s == GC_OK) {
        char path[RP_PATH];
        snprintf(path, sizeof path, "%s/DONE", dir);
        gc_atomic_file af;
        s = gc_atomic_open(&af, path);
        if (s == GC_OK) gc_atomic_write(&af, text, at);
        if (s == GC_OK) s = gc_atomic_commit(&af);
    }
    free(text);
    return s;
}

static gc_status read_done(const char *dir, char **text, int *found) {
    char path[RP_PATH];
    snprintf(path, sizeof path, "%s/DONE", dir);
    size_t size;
    *found = 0;
    struct stat st;
    if (stat(path, &st) != 0) return GC_OK;
    *found = 1;
    return gc_read_file(path, text, &size);
}

gc_status rp_manifest_state(const char *dir, rp_stage_state *state, uint64_t *bytes) {
    char *text = NULL;
    int found;
    GC_TRY(read_done(dir, &text, &found));
    if (bytes) *bytes = 0;
    if (!found) {
        *state = RP_STAGE_INCOMPLETE;
        return GC_OK;
    }
    gc_status s = GC_OK;
    size_t len = strlen(text);
    if (!strncmp(text, MAGIC "\n", sizeof MAGIC)) {
        *state = RP_STAGE_COMPLETE;
        for (const char *p = strstr(text, "\nfile "); p && bytes; p = strstr(p + 1, "\nfile ")) {
            char name[RP_PATH];
            unsigned long long b;
            if (sscanf(p, "\nfile %1023s %llu", name, &b) == 2) *bytes += b;
        }
    } else if (len == 16 && strspn(text, "0123456789abcdef") == 16) {
        *state = RP_STAGE_LEGACY;
    } else {
        s = gc_fail(GC_ERR_FORMAT, "%s/DONE: not a stage marker; delete the directory %s", dir,
                    dir);
    }
    free(text);
    return s;
}

gc_status rp_manifest_verify(const char *dir, const char *name) {
    char *text = NULL;
    int found;
    GC_TRY(read_done(dir, &text, &found));
    if (!found) return gc_fail(GC_ERR_FORMAT, "%s: incomplete stage (no DONE)", dir);
    const char *who = name ? name : dir;
    char fix[RP_PATH * 2];
    snprintf(fix, sizeof fix, "delete %s, or run again with --rerun %s", dir, who);
    gc_status s = GC_OK;
    if (strncmp(text, MAGIC "\n", sizeof MAGIC))
        s = gc_fail(GC_ERR_FORMAT, "%s/DONE: no checksums to verify (%s)", dir, fix);
    int line = 0;
    for (char *p = text, *nl; s == GC_OK && *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl) break;
        *nl = 0;
        line++;
        if (line <= 2) continue; /* magic, key */
        char file[RP_PATH];
        unsigned long long want;
        unsigned int crc_want;
        if (sscanf(p, "file %1023s %llu %x", file, &want, &crc_want) != 3) {
            s = gc_fail(GC_ERR_FORMAT, "%s/DONE:%d: malformed line (%s)", dir, line, fix);
            break;
        }
        char path[RP_PATH + 8];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        uint64_t bytes;
        uint32_t crc;
        if (file_sum(path, &bytes, &crc) != GC_OK)
            s = gc_fail(GC_ERR_FORMAT, "%s: missing from the cached stage %s (%s)", path, who, fix);
        else if (bytes != want)
            s = gc_fail(GC_ERR_FORMAT,
                        "%s: %" PRIu64 " bytes, but stage %s recorded %llu: the cache is damaged "
                        "(%s)",
                        path, bytes, who, want, fix);
        else if (crc != crc_want)
            s = gc_fail(GC_ERR_FORMAT,
                        "%s: checksum mismatch: the cached stage %s was altered (%s)", path, who,
                        fix);
    }
    free(text);
    return s;
}
