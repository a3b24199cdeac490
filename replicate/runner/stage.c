#include "stage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/model/backend.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "ckpt.h"
#include "manifest.h"

/* build/gen/srchash.c (tools/srchash.sh): {source, hash} pairs, "lib" first, {0, 0} last */
extern const char *const rp_source_hashes[][2];

void rp_hash_hex(const char *s, char out[17]) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static int cmp_key(const void *a, const void *b) {
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

cJSON *rp_canonical(const cJSON *j) {
    if (!j) return cJSON_CreateNull();
    if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) return cJSON_Duplicate(j, 0);
    int n = cJSON_GetArraySize(j);
    const cJSON **items = malloc(sizeof(cJSON *) * (size_t)(n ? n : 1));
    if (!items) return NULL;
    int k = 0;
    for (const cJSON *e = j->child; e; e = e->next)
        items[k++] = e;
    cJSON *out = cJSON_IsObject(j) ? cJSON_CreateObject() : cJSON_CreateArray();
    if (cJSON_IsObject(j)) qsort(items, (size_t)n, sizeof(cJSON *), cmp_key);
    for (int i = 0; out && i < n; i++) {
        cJSON *c = rp_canonical(items[i]);
        if (!c) {
            cJSON_Delete(out), out = NULL;
            break;
        }
        if (cJSON_IsObject(j))
            cJSON_AddItemToObject(out, items[i]->string, c);
        else
            cJSON_AddItemToArray(out, c);
    }
    free(items);
    return out;
}

const char *rp_code_version(const char *source) {
    static char cache[64][2][RP_PATH]; /* source, its version */
    static int n_cache;
    for (int i = 0; i < n_cache; i++)
        if (!strcmp(cache[i][0], source)) return cache[i][1];
    const char *own = NULL;
    for (int i = 1; rp_source_hashes[i][0]; i++)
        if (!strcmp(rp_source_hashes[i][0], source)) own = rp_source_hashes[i][1];
    if (!own) {
        gc_fail(GC_ERR_ARG, "runner: no source hash for %s (rebuild: make)", source);
        return NULL;
    }
    if (n_cache == 64) {
        gc_fail(GC_ERR_ARG, "runner: more than 64 stage sources");
        return NULL;
    }
    snprintf(cache[n_cache][0], RP_PATH, "%s", source);
    snprintf(cache[n_cache][1], RP_PATH, "%s-%s", rp_source_hashes[0][1], own);
    return cache[n_cache++][1];
}

gc_status rp_stage_key(const char *kind, const char *code, const cJSON *config,
                       const char *const *inputs, int n_inputs, const char *device, char out[17]) {
    cJSON *k = cJSON_CreateObject();
    cJSON_AddStringToObject(k, RS_STAGE, kind);
    cJSON_AddStringToObject(k, "code", code);
    cJSON_AddItemToObject(k, "config", rp_canonical(config));
    cJSON *in = cJSON_AddArrayToObject(k, "inputs");
    for (int i = 0; i < n_inputs; i++)
        cJSON_AddItemToArray(in, cJSON_CreateString(inputs[i]));
    if (device) cJSON_AddStringToObject(k, RS_DEVICE, device);
    char *text = cJSON_PrintUnformatted(k);
    cJSON_Delete(k);
    if (!text) return gc_fail(GC_ERR_NOMEM, "runner: cannot hash stage %s", kind);
    rp_hash_hex(text, out);
    free(text);
    return GC_OK;
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

/* rm -r of a directory of plain files and directories of plain files (what checkpoints hold) */
gc_status rp_remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT) return GC_OK;
        if (errno == ENOTDIR && unlink(path) == 0) return GC_OK;
        return gc_fail(GC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    gc_status s = GC_OK;
    for (struct dirent *e; s == GC_OK && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[RP_PATH];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat sb;
        if (lstat(sub, &sb) != 0)
            s = gc_fail(GC_ERR_IO, "%s: %s", sub, strerror(errno));
        else if (S_ISDIR(sb.st_mode))
            s = rp_remove_tree(sub);
        else if (unlink(sub) != 0)
            s = gc_fail(GC_ERR_IO, "%s: cannot remove: %s", sub, strerror(errno));
    }
    closedir(d);
    if (s == GC_OK && rmdir(path) != 0)
        s = gc_fail(GC_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return s;
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

void rp_stage_file(const rp_stage *st, const char *file, char out[RP_PATH]) {
    snprintf(out, RP_PATH, "%s/%s", st->dir, file);
}

/* a new stage owned by the run */
static rp_stage *add_stage(rp_run *r) {
    if (r->n_stages == r->cap_stages) {
        int cap = r->cap_stages ? 2 * r->cap_stages : 32;
        rp_stage **s = realloc(r->stages, sizeof(rp_stage *) * (size_t)cap);
        if (!s) return gc_fail(GC_ERR_NOMEM, "runner: out of memory for stages"), NULL;
        r->stages = s, r->cap_stages = cap;
    }
    rp_stage *st = gc_calloc(1, sizeof *st);
    if (st) r->stages[r->n_stages++] = st;
    return st;
}

/* writes info.json (when compute left one) and the DONE marker */
static gc_status close_stage(rp_stage *st) {
    char path[RP_PATH];
    if (st->info) {
        rp_stage_file(st, "info.json", path);
        gc_status s = gc_json_write(path, st->info);
        cJSON_Delete(st->info), st->info = NULL;
        GC_TRY(s);
    }
    return rp_manifest_write(st->dir, st->hash); /* DONE, with every output's size and CRC */
}

/* whether the stage is cached and sound: complete and verified (a damaged one is an error);
 * one written before checksums, or named by --rerun, is computed again */
static gc_status cached_and_sound(rp_run *r, const rp_stage *st, int *cached) {
    *cached = 0;
    for (int i = 0; i < RP_MAX_RERUN && r->opt.rerun[i]; i++)
        if (!strcmp(r->opt.rerun[i], st->name)) return r->rerun_hit |= 1u << i, GC_OK;
    if (r->opt.force) return GC_OK;
    rp_stage_state state;
    GC_TRY(rp_manifest_state(st->dir, &state, NULL));
    if (state == RP_STAGE_LEGACY)
        gc_log_info("run: stage %s was cached without checksums: computing it again", st->name);
    if (state != RP_STAGE_COMPLETE) return GC_OK;
    GC_TRY(rp_manifest_verify(st->dir, st->name));
    *cached = 1;
    return GC_OK;
}

/* The stage's lock: flock on <dir>.lock beside its directory. One run computes a stage while
 * others that need it wait, then reuse it; the kernel drops the lock of a process that dies, so
 * a later run takes the stage over. Returns the descriptor (closing it unlocks). */
static gc_status stage_lock(const rp_stage *st, int *fd, int *busy) {
    char path[RP_PATH + 8];
    snprintf(path, sizeof path, "%s.lock", st->dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0)
        return gc_fail(GC_ERR_IO, "%s: cannot open the stage's lock: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) == 0) return GC_OK;
    if (errno != EWOULDBLOCK) {
        close(*fd);
        return gc_fail(GC_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
    }
    if (busy) { /* the caller does something else meanwhile */
        close(*fd);
        *fd = -1, *busy = 1;
        return GC_OK;
    }
    gc_log_info("run: waiting for stage %s: another run is computing it", st->name);
    int rc;
    while ((rc = flock(*fd, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        close(*fd);
        return gc_fail(GC_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
    }
    return GC_OK;
}

static gc_status stage_run(rp_run *r, const rp_stage_def *def, const char *name, cJSON *config,
                           rp_stage *const *inputs, int n_inputs, void *ctx, rp_stage **out,
                           int *busy) {
    const char *in_keys[16];
    const char *code = rp_code_version(def->source);
    gc_status s = code ? GC_OK : GC_ERR_ARG;
    if (s == GC_OK && n_inputs > 16)
        s = gc_fail(GC_ERR_ARG, "runner: stage %s reads more than 16 stages", name);
    for (int i = 0; s == GC_OK && i < n_inputs; i++)
        in_keys[i] = inputs[i]->hash;
    char dev[32];
    snprintf(dev, sizeof dev, "%s/%s", r->opt.device, r->opt.precision);
    rp_stage *st = s == GC_OK ? add_stage(r) : NULL; /* a GPU run rounds otherwise: its own cache */
    if (s == GC_OK && !st) s = GC_ERR_NOMEM;
    if (s == GC_OK)
        s = rp_stage_key(def->kind, code, config, in_keys, n_inputs,
                         strcmp(r->opt.device, "cpu") ? dev : NULL, st->hash);
    cJSON_Delete(config);
    GC_TRY(s);
    snprintf(st->name, sizeof st->name, "%s", name);
    char base[96];
    snprintf(base, sizeof base, "%s", name);
    for (char *p = base; *p; p++)
        if (*p == '/' || *p == ' ') *p = '_';
    snprintf(st->dir, sizeof st->dir, "%s/cache/%s-%s", r->opt.root, base, st->hash);
    st->t0 = gc_now();
    GC_TRY(cached_and_sound(r, st, &st->cached));
    if (!st->cached) { /* under the stage's lock: another run may be computing it */
        char cache[RP_PATH];
        snprintf(cache, sizeof cache, "%s/cache", r->opt.root);
        GC_TRY(rp_mkdirs(cache));
        int fd;
        GC_TRY(stage_lock(st, &fd, busy));
        if (fd < 0) { /* busy: forget the instance, the caller comes back for it */
            free(st);
            r->n_stages--;
            if (out) *out = NULL;
            return GC_OK;
        }
        st->t0 = gc_now();
        s = cached_and_sound(r, st, &st->cached); /* it may have finished while we waited */
        if (s == GC_OK && !st->cached) {
            st->ckpt_every = r->opt.checkpoint_every > 0 ? r->opt.checkpoint_every : 60;
            s = rp_mkdirs(st->dir);
            if (s == GC_OK) s = empty_dir(st->dir);
            if (s == GC_OK && r->opt.force) s = rp_ckpt_clear(st);
            if (s == GC_OK) s = def->compute(st, ctx);
            if (s != GC_OK && s != GC_ERR_STOPPED && st->ckpt_resumed)
                s = gc_fail(s,
                            "%s (the stage resumed from %s.ckpt: delete it, or run with --force, "
                            "to start the stage over)",
                            gc_last_error(), st->dir);
            rp_ckpt_leave(st);
            if (s == GC_OK) s = close_stage(st);
            if (s == GC_OK) s = rp_ckpt_clear(st); /* done: its checkpoints are spent */
            cJSON_Delete(st->info), st->info = NULL;
        }
        close(fd);
        GC_TRY(s);
    }
    st->wall = st->cached ? 0 : gc_now() - st->t0;
    if (def->load) GC_TRY(def->load(st, ctx));
    if (out) *out = st;
    return GC_OK;
}

gc_status rp_stage_run(rp_run *r, const rp_stage_def *def, const char *name, cJSON *config,
                       rp_stage *const *inputs, int n_inputs, void *ctx, rp_stage **out) {
    return stage_run(r, def, name, config, inputs, n_inputs, ctx, out, NULL);
}

gc_status rp_stage_try(rp_run *r, const rp_stage_def *def, const char *name, cJSON *config,
                       rp_stage *const *inputs, int n_inputs, void *ctx, rp_stage **out,
                       int *busy) {
    *busy = 0;
    return stage_run(r, def, name, config, inputs, n_inputs, ctx, out, busy);
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
    cJSON_AddStringToObject(m, RS_EXPERIMENT, r->experiment);
    cJSON_AddStringToObject(m, RS_FILE, r->opt.file);
    cJSON_AddStringToObject(m, RS_COMMIT, rp_commit());
    cJSON_AddStringToObject(m, RS_CONFIG_HASH, r->config_hash);
    cJSON_AddStringToObject(m, RS_SCALE, r->opt.scale);
    cJSON *seeds = cJSON_AddArrayToObject(m, RS_SEEDS);
    for (int s = 1; s <= r->seeds; s++)
        cJSON_AddItemToArray(seeds, cJSON_CreateNumber(s));
    cJSON_AddStringToObject(m, RS_DEVICE, gc_device_describe());
    cJSON_AddStringToObject(m, RS_PRECISION,
                            strcmp(r->opt.device, "cpu") ? r->opt.precision : "fp32");
    cJSON_AddNumberToObject(m, RS_THREADS, omp_get_max_threads());
    cJSON_AddNumberToObject(m, RS_WALL_S, gc_now() - r->t0);
    cJSON *stages = cJSON_AddArrayToObject(m, RS_STAGES);
    for (int i = 0; i < r->n_stages; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, RS_STAGE, r->stages[i]->name);
        cJSON_AddStringToObject(s, RS_HASH, r->stages[i]->hash);
        cJSON_AddBoolToObject(s, RS_CACHED, r->stages[i]->cached);
        cJSON_AddNumberToObject(s, RS_WALL_S, r->stages[i]->wall);
        cJSON_AddItemToArray(stages, s);
    }
    return m;
}

void rp_print_times(const rp_run *r) {
    fprintf(stderr, "\n%-28s %-16s %8s %10s\n", "stage", "hash", "cached", "seconds");
    double total = 0;
    for (int i = 0; i < r->n_stages; i++) {
        const rp_stage *s = r->stages[i];
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

void rp_run_free(rp_run *r) {
    for (int i = 0; i < r->n_stages; i++)
        free(r->stages[i]);
    free(r->stages);
    r->stages = NULL, r->n_stages = r->cap_stages = 0;
    gc_config_free(&r->cfg);
}
