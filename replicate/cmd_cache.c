/* replicate cache list|verify|gc: the stage cache under <root>/cache.
 *
 * list    each stage directory: instance, key, state (complete, unverifiable, incomplete, being
 *         computed), bytes, and whether a recorded run (<root>/<experiment>/<scale>/results.json)
 *         uses it
 * verify  every complete stage's files against the sizes and checksums of its DONE; exit 1 when
 *         one is damaged, naming it
 * gc      removes the stages no recorded run uses (with their locks and checkpoints), except one
 *         being computed (its lock is held); --dry-run lists them with their sizes instead; exit 1
 *         when one could not be removed
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/flags.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "cli.h"
#include "runner/manifest.h"
#include "runner/stage.h"

static const char CACHE_HELP[] =
    "usage: replicate cache list|verify|gc [--root DIR] [--dry-run]\n\n"
    "The stage cache under DIR/cache (default results/runs/cache).\n"
    "  list     every stage: name, key, state, size, whether a recorded run uses it\n"
    "  verify   check every complete stage's files against the sizes and checksums in its DONE\n"
    "           (exit 1 when one is damaged)\n"
    "  gc       remove the stages that no recorded run (DIR/<experiment>/<scale>/results.json)\n"
    "           uses, with their locks and checkpoints; a stage being computed is kept\n"
    "  --dry-run  (gc) list what would be removed and how much space it frees\n";

/* the keys of the stages the recorded runs under root use */
typedef struct {
    char (*keys)[17];
    int n, cap;
} keyset;

static void add_key(keyset *k, const char *key) {
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        char(*g)[17] = realloc(k->keys, sizeof *k->keys * (size_t)k->cap);
        if (!g) return;
        k->keys = g;
    }
    snprintf(k->keys[k->n++], 17, "%s", key);
}

static int has_key(const keyset *k, const char *key) {
    for (int i = 0; i < k->n; i++)
        if (!strcmp(k->keys[i], key)) return 1;
    return 0;
}

static void recorded_keys(const char *root, keyset *k) {
    DIR *d = opendir(root);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "cache")) continue;
        static const char *const scales[] = {"smoke", "mini", "full"};
        for (int s = 0; s < 3; s++) {
            char path[RP_PATH * 2];
            snprintf(path, sizeof path, "%s/%s/%s/results.json", root, e->d_name, scales[s]);
            struct stat sb;
            cJSON *r;
            if (stat(path, &sb) != 0 || gc_json_read(path, &r) != GC_OK) continue;
            const cJSON *st = gc_json_get(r, RS_STAGES);
            for (const cJSON *x = st ? st->child : NULL; x; x = x->next) {
                const char *h = cJSON_GetStringValue(gc_json_get(x, "hash"));
                if (h) add_key(k, h);
            }
            cJSON_Delete(r);
        }
    }
    if (d) closedir(d);
}

/* 1 when another process holds the stage's lock (it is computing the stage) */
static int in_use(const char *dir) {
    char path[RP_PATH + 8];
    snprintf(path, sizeof path, "%s.lock", dir);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return 0;
    int busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return busy;
}

static uint64_t dir_bytes(const char *dir) {
    uint64_t n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[RP_PATH * 2];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (e->d_name[0] != '.' && stat(p, &sb) == 0)
            n += S_ISDIR(sb.st_mode) ? dir_bytes(p) : (uint64_t)sb.st_size;
    }
    if (d) closedir(d);
    return n;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_cache(int argc, char **argv) {
    const char *root = "results/runs", *pos[2] = {0};
    int help = 0, dry = 0, n_pos = 0;
    const gc_flag flags[] = {
        {"root", GC_FLAG_STRING, &root, 0, 0, NULL, 0},
        {"dry-run", GC_FLAG_SWITCH, &dry, 0, 0, NULL, 0},
        {"help", GC_FLAG_SWITCH, &help, 0, 0, NULL, 0},
    };
    int rc = gc_flags_parse("replicate cache", argc, argv, flags,
                            (int)(sizeof flags / sizeof flags[0]), pos, 2, &n_pos);
    if (rc) return rc;
    if (help) return fputs(CACHE_HELP, stdout), 0;
    const char *what = n_pos == 1 ? pos[0] : NULL;
    if (!what || (strcmp(what, "list") && strcmp(what, "verify") && strcmp(what, "gc")))
        return cli_usage_error("cache", "expected one of list, verify, gc");
    char cache[RP_PATH];
    snprintf(cache, sizeof cache, "%s/cache", root);
    DIR *d = opendir(cache);
    if (!d) {
        if (errno == ENOENT) return printf("no cache under %s\n", root), 0;
        fprintf(stderr, "replicate cache: error: %s: %s\n", cache, strerror(errno));
        return 1;
    }
    char **names = NULL;
    int n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char p[RP_PATH * 2];
        snprintf(p, sizeof p, "%s/%s", cache, e->d_name);
        struct stat sb;
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 18 || e->d_name[len - 17] != '-' || stat(p, &sb) != 0 ||
            !S_ISDIR(sb.st_mode))
            continue; /* locks, checkpoint directories and anything else */
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **g = realloc(names, sizeof(char *) * (size_t)cap);
            if (!g) break;
            names = g;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof(char *), cmp_name);
    keyset used = {0};
    recorded_keys(root, &used);
    int bad = 0, removed = 0;
    uint64_t total = 0, freed = 0;
    if (!strcmp(what, "list"))
        printf("%-34s %-16s %-12s %12s  %s\n", "stage", "key", "state", "bytes", "recorded run");
    for (int i = 0; i < n; i++) {
        char dir[RP_PATH * 2], inst[RP_PATH];
        snprintf(dir, sizeof dir, "%s/%s", cache, names[i]);
        size_t len = strlen(names[i]);
        const char *key = names[i] + len - 16;
        snprintf(inst, sizeof inst, "%.*s", (int)(len - 17), names[i]);
        rp_stage_state state = RP_STAGE_INCOMPLETE;
        uint64_t bytes = dir_bytes(dir);
        int busy = in_use(dir), ok = rp_manifest_state(dir, &state, NULL) == GC_OK;
        total += bytes;
        const char *label = !ok                          ? "bad marker"
                            : busy                       ? "computing"
                            : state == RP_STAGE_COMPLETE ? "complete"
                            : state == RP_STAGE_LEGACY   ? "unverifiable"
                                                         : "incomplete";
        if (!strcmp(what, "list")) {
            printf("%-34s %-16s %-12s %12" PRIu64 "  %s\n", inst, key, label, bytes,
                   has_key(&used, key) ? "yes" : "no");
        } else if (!strcmp(what, "verify")) {
            if (state != RP_STAGE_COMPLETE || busy) {
                printf("%-34s %s (not verified)\n", inst, label);
            } else if (rp_manifest_verify(dir, inst) != GC_OK) {
                printf("%-34s DAMAGED: %s\n", inst, gc_last_error());
                bad = 1;
            } else {
                printf("%-34s ok\n", inst);
            }
        } else if (!has_key(&used, key) && !busy) {
            printf("%s %-34s %-16s %12" PRIu64 " bytes\n", dry ? "would remove" : "removing", inst,
                   key, bytes);
            freed += bytes, removed++;
            static const char *const with[] = {"", ".lock", ".ckpt"};
            for (int w = 0; !dry && w < 3; w++) {
                char p[RP_PATH * 2 + 8];
                snprintf(p, sizeof p, "%s%s", dir, with[w]);
                if (rp_remove_tree(p) != GC_OK) {
                    fprintf(stderr, "replicate cache: error: %s\n", gc_last_error());
                    bad = 1;
                }
            }
        }
        free(names[i]);
    }
    free(names);
    free(used.keys);
    if (!strcmp(what, "list"))
        printf("%d stages, %" PRIu64 " bytes; %d keys used by recorded runs\n", n, total, used.n);
    if (!strcmp(what, "gc"))
        printf("%s %d of %d stages, %" PRIu64 " bytes\n", dry ? "would remove" : "removed", removed,
               n, freed);
    return bad;
}
