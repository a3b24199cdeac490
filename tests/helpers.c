#include "helpers.h"

#include <ftw.h>

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/base.h"
#include "../lib/jsonio.h"
#include "../lib/rng.h"

const char *th_data_dir(void) {
    const char *d = getenv("GCRM_DATA");
    return d && *d ? d : "../shared/data";
}

int th_data_file(char *buf, size_t cap, const char *rel) {
    snprintf(buf, cap, "%s/%s", th_data_dir(), rel);
    struct stat st;
    return stat(buf, &st) == 0;
}

const char *th_replicate_bin(void) {
    const char *b = getenv("GCRM_BIN");
    return b && *b ? b : "build/replicate";
}

static char *slurp(const char *path, size_t *len) {
    char *data = NULL;
    size_t n = 0;
    if (gc_read_file(path, &data, &n) != GC_OK) return NULL;
    if (len) *len = n;
    return data;
}

int th_run(const char *cmd, char **out, size_t *out_len, char **err) {
    char *o = th_tmp_path("out"), *e = th_tmp_path("err");
    size_t n = strlen(cmd) + strlen(o) + strlen(e) + 32;
    char *full = malloc(n);
    snprintf(full, n, "%s >%s 2>%s </dev/null", cmd, o, e);
    int st = system(full);
    free(full);
    if (out) *out = slurp(o, out_len);
    if (err) *err = slurp(e, NULL);
    remove(o);
    remove(e);
    free(o);
    free(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

char *th_tmp_path(const char *tag) {
    static int counter;
    char *p = malloc(256);
    snprintf(p, 256, "/tmp/gcrm-test-%ld-%d-%s", (long)getpid(), counter++, tag);
    return p;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    remove(path); /* keep going: remove what can be removed */
    return 0;
}

void th_rm_tree(const char *path) {
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int th_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) != 0 || w != n ? -1 : 0;
}

gc_model_config th_tiny_config(int tied) {
    gc_model_config c = {.dim = 16,
                         .hidden_dim = 24,
                         .n_layers = 2,
                         .n_heads = 4,
                         .n_kv_heads = 2,
                         .vocab_size = 19,
                         .seq_len = 8,
                         .tied = tied,
                         .norm_eps = 1e-5f,
                         .rope_theta = 10000.0f};
    return c;
}

void th_init_weights(gc_model *m, uint64_t seed) {
    gc_rng r;
    gc_rng_init(&r, seed, 7);
    for (int t = 0; t < GC_N_TENSORS; t++) {
        float *x = m->params + m->tensors[t].offset;
        for (size_t i = 0; i < m->tensors[t].size; i++)
            x[i] = m->tensors[t].decay ? 0.3f * gc_rng_normal(&r) : 1.0f + 0.2f * gc_rng_normal(&r);
    }
}

/* runs `replicate run FILE --scale smoke --root ROOT extra`; returns the exit code */
int th_run_smoke(const char *file, const char *root, const char *extra, char **out, char **err) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s run %s --scale smoke --root %s %s", th_replicate_bin(), file,
             root, extra ? extra : "");
    return th_run(cmd, out, NULL, err);
}

/* number of stages reported as run (not cached) in a run's stderr table */
int th_count_rerun(const char *err, const char *prefix) {
    int n = 0;
    for (const char *p = err; (p = strstr(p, "\n")); p++) {
        char name[64], hash[32], cached[8];
        if (sscanf(p + 1, "%63s %31s %7s", name, hash, cached) == 3 && strlen(hash) == 16 &&
            !strcmp(cached, "no") && !strncmp(name, prefix, strlen(prefix)))
            n++;
    }
    return n;
}

void th_expect_bad_experiment_in(const char *experiment, const char *from, const char *to,
                                 const char *frag1, const char *frag2) {
    char *text;
    cr_assert_eq(gc_read_file(experiment, &text, NULL), GC_OK);
    char *at = strstr(text, from);
    cr_assert_not_null(at, "fixture text '%s' not found", from);
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *bad = malloc(n);
    snprintf(bad, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    char *file = th_tmp_path("bad.json"), *root = th_tmp_path("badroot");
    cr_assert_eq(th_write_file(file, bad, strlen(bad)), 0);
    char *err = NULL;
    int rc = th_run_smoke(file, root, NULL, NULL, &err);
    cr_expect_eq(rc, 1, "'%s' -> '%s' was accepted (rc %d)", from, to, rc);
    cr_expect(err && strstr(err, frag1), "expected '%s' in: %s", frag1, err);
    cr_expect(err && strstr(err, frag2), "expected '%s' in: %s", frag2, err);
    th_rm_tree(root);
    free(err), free(text), free(bad), remove(file), free(file), free(root);
}
