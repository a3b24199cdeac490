#include "runner.h"

#include "../lib/backend.h"

#include <dirent.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/jsonio.h"

void rp_hash_hex(const char *s, char out[17]) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

gc_status rp_mkdirs(const char *path) {
    char buf[RP_PATH];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return gc_fail(GC_ERR_IO, "%s: cannot create: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return gc_fail(GC_ERR_IO, "%s: cannot create: %s", buf, strerror(errno));
    return GC_OK;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* removes the plain files of a stage directory (stages write no subdirectories) */
static gc_status empty_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return gc_fail(GC_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    gc_status s = GC_OK;
    for (struct dirent *e; s == GC_OK && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[RP_PATH];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0)
            s = gc_fail(GC_ERR_IO, "%s: cannot remove a stale file: %s", path, strerror(errno));
    }
    closedir(d);
    return s;
}

gc_status rp_stage_open(rp_run *r, const char *name, const cJSON *key, rp_stage **out) {
    if (r->n_stages >= (int)(sizeof r->stages / sizeof r->stages[0]))
        return gc_fail(GC_ERR_ARG, "runner: too many stages");
    rp_stage *st = &r->stages[r->n_stages++];
    memset(st, 0, sizeof *st);
    snprintf(st->name, sizeof st->name, "%s", name);
    cJSON *k = cJSON_Duplicate(key, 1);
    cJSON_AddStringToObject(k, "stage", name);
    if (strcmp(r->opt.device, "cpu")) { /* a GPU run computes with other rounding: its own cache */
        char dev[32];
        snprintf(dev, sizeof dev, "%s/%s", r->opt.device, r->opt.precision);
        cJSON_AddStringToObject(k, "device", dev);
    }
    char *text = cJSON_PrintUnformatted(k);
    cJSON_Delete(k);
    if (!text) return gc_fail(GC_ERR_NOMEM, "runner: cannot hash stage %s", name);
    rp_hash_hex(text, st->hash);
    free(text);
    char base[64];
    snprintf(base, sizeof base, "%s", name);
    for (char *p = base; *p; p++)
        if (*p == '/' || *p == ' ') *p = '_';
    char dir[RP_PATH];
    snprintf(dir, sizeof dir, "%s/cache/%s-%s", r->opt.root, base, st->hash);
    memcpy(st->dir, dir, sizeof dir);
    char done[RP_PATH];
    rp_stage_file(st, "DONE", done);
    st->t0 = gc_now();
    if (!r->opt.force && file_exists(done)) { /* complete already: nothing to close */
        st->cached = 1;
        st->wall = 0;
        return *out = st, GC_OK;
    }
    GC_TRY(rp_mkdirs(st->dir));
    GC_TRY(empty_dir(st->dir));
    *out = st;
    return GC_OK;
}

void rp_stage_file(const rp_stage *st, const char *file, char out[RP_PATH]) {
    snprintf(out, RP_PATH, "%s/%s", st->dir, file);
}

gc_status rp_stage_close(rp_run *r, rp_stage *st, const cJSON *info) {
    (void)r;
    st->wall = gc_now() - st->t0;
    char path[RP_PATH];
    if (info) {
        rp_stage_file(st, "info.json", path);
        GC_TRY(gc_json_write(path, info));
    }
    rp_stage_file(st, "DONE", path);
    gc_atomic_file af;
    GC_TRY(gc_atomic_open(&af, path));
    gc_atomic_write(&af, st->hash, 16);
    return gc_atomic_commit(&af);
}

const char *rp_commit(void) {
    static char commit[64];
    if (commit[0]) return commit;
    snprintf(commit, sizeof commit, "unknown");
    FILE *p = popen("git rev-parse --short HEAD 2>/dev/null", "r");
    if (p) {
        char buf[64] = {0};
        if (fgets(buf, sizeof buf, p) && buf[0]) {
            buf[strcspn(buf, "\n")] = 0;
            snprintf(commit, sizeof commit, "%s", buf);
        }
        pclose(p);
        FILE *d = popen("git status --porcelain --untracked-files=no 2>/dev/null", "r");
        if (d) {
            if (fgetc(d) != EOF && strcmp(commit, "unknown") != 0)
                strncat(commit, "-dirty", sizeof commit - strlen(commit) - 1);
            pclose(d);
        }
    }
    return commit;
}

cJSON *rp_metadata(const rp_run *r) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "experiment", r->experiment);
    cJSON_AddStringToObject(m, "file", r->opt.file);
    cJSON_AddStringToObject(m, "commit", rp_commit());
    cJSON_AddStringToObject(m, "config_hash", r->config_hash);
    cJSON_AddStringToObject(m, "scale", r->opt.scale);
    cJSON *seeds = cJSON_AddArrayToObject(m, "seeds");
    for (int s = 1; s <= r->seeds; s++) cJSON_AddItemToArray(seeds, cJSON_CreateNumber(s));
    cJSON_AddStringToObject(m, "device", gc_device_describe());
    cJSON_AddStringToObject(m, "precision", strcmp(r->opt.device, "cpu") ? r->opt.precision : "fp32");
    cJSON_AddNumberToObject(m, "threads", omp_get_max_threads());
    cJSON_AddNumberToObject(m, "wall_s", gc_now() - r->t0);
    cJSON *stages = cJSON_AddArrayToObject(m, "stages");
    for (int i = 0; i < r->n_stages; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "stage", r->stages[i].name);
        cJSON_AddStringToObject(s, "hash", r->stages[i].hash);
        cJSON_AddBoolToObject(s, "cached", r->stages[i].cached);
        cJSON_AddNumberToObject(s, "wall_s", r->stages[i].wall);
        cJSON_AddItemToArray(stages, s);
    }
    return m;
}

void rp_print_times(const rp_run *r) {
    fprintf(stderr, "\n%-28s %-16s %8s %10s\n", "stage", "hash", "cached", "seconds");
    double total = 0;
    for (int i = 0; i < r->n_stages; i++) {
        const rp_stage *s = &r->stages[i];
        fprintf(stderr, "%-28s %-16s %8s %10.1f\n", s->name, s->hash, s->cached ? "yes" : "no",
                s->wall);
        total += s->wall;
    }
    fprintf(stderr, "%-28s %-16s %8s %10.1f   (wall %.1f s)\n\n", "total", "", "", total,
            gc_now() - r->t0);
}

void rp_result_dir(const rp_run *r, char out[RP_PATH]) {
    snprintf(out, RP_PATH, "%s/%s/%s", r->opt.root, r->experiment, r->opt.scale);
}
