#include "helpers.h"

#include <cjson/cJSON.h>

#include "lib/util/config.h"

#include <dirent.h>
#include <ftw.h>
#include <glob.h>

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util/base.h"
#include "lib/util/jsonio.h"
#include "lib/util/rng.h"
#include "replicate/claims/verdict.h"
#include "replicate/runner/manifest.h"

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

void th_fill_normal(float *x, size_t n, float scale, gc_rng *r) {
    for (size_t i = 0; i < n; i++)
        x[i] = scale * gc_rng_normal(r);
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

void th_twin_rms(gc_rm *a, gc_rm *b, uint64_t weights, uint64_t head_seed) {
    gc_model_config c = th_tiny_config(0);
    gc_model ma, mb;
    cr_assert_eq(gc_model_init(&ma, &c), GC_OK);
    cr_assert_eq(gc_model_init(&mb, &c), GC_OK);
    th_init_weights(&ma, weights), th_init_weights(&mb, weights);
    cr_assert_eq(gc_rm_init(a, &ma, GC_HEAD_LINEAR, head_seed), GC_OK);
    cr_assert_eq(gc_rm_init(b, &mb, GC_HEAD_LINEAR, head_seed), GC_OK);
}

/* runs `replicate run FILE --scale smoke --root ROOT extra`; returns the exit code */
int th_run_smoke(const char *file, const char *root, const char *extra, char **out, char **err) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s run %s --scale smoke --root %s %s", th_replicate_bin(), file,
             root, extra ? extra : "");
    return th_run(cmd, out, NULL, err);
}

void th_smoke_cpu_and_cuda(const char *experiment, const char *name, cJSON **cpu, cJSON **cuda) {
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("GCRM_CUDA_EMULATE", "1", 0); /* a real GPU when there is one */
    char *root[2] = {th_tmp_path("smoke-cpu"), th_tmp_path("smoke-cuda")}, *out = NULL, *err = NULL;
    cr_assert_eq(th_run_smoke(experiment, root[0], "--seeds 1", &out, &err), 0, "%s", err);
    free(out), free(err);
    int rc = th_run_smoke(experiment, root[1], "--seeds 1 --device cuda", &out, &err);
    if (rc != 0 && strstr(err, "CUDA")) {
        th_rm_tree(root[0]), th_rm_tree(root[1]);
        cr_skip_test("no CUDA backend: %s", err);
    }
    cr_assert_eq(rc, 0, "%s", err);
    free(out), free(err);
    cJSON **res[2] = {cpu, cuda};
    for (int i = 0; i < 2; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s/smoke/results.json", root[i], name);
        cr_assert_eq(gc_json_read(path, res[i]), GC_OK, "%s", gc_last_error());
        th_rm_tree(root[i]);
        free(root[i]);
    }
    cr_expect(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(*cuda, "device")), "cuda"),
              "the second run is on the CUDA backend");
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

/* The item at a dotted path ("scales.smoke.rm.variants[3].head"), created (as an object member)
 * when its parent exists and it does not; a null value deletes the key. NULL when a parent is
 * missing. */
static cJSON *at_path(cJSON *root, const char *keypath, cJSON *value) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", keypath);
    cJSON *node = root;
    for (char *seg = strtok(buf, "."); seg;) {
        char *next = strtok(NULL, ".");
        char *br = strchr(seg, '[');
        int idx = -1;
        if (br) *br = 0, idx = atoi(br + 1);
        cJSON *child = cJSON_GetObjectItemCaseSensitive(node, seg);
        if (idx >= 0) {
            if (!next) { /* replace an array element */
                cJSON *old = cJSON_GetArrayItem(child, idx);
                if (!old) return NULL;
                cJSON_ReplaceItemViaPointer(child, old, value);
                return value;
            }
            child = cJSON_GetArrayItem(child, idx);
        } else if (!next) {
            if (cJSON_IsNull(value)) { /* null deletes the key, as in a layer */
                cJSON_Delete(value);
                cJSON_DeleteItemFromObjectCaseSensitive(node, seg);
                return node;
            }
            if (child)
                cJSON_ReplaceItemInObjectCaseSensitive(node, seg, value);
            else
                cJSON_AddItemToObject(node, seg, value);
            return value;
        }
        if (!child) return NULL;
        node = child, seg = next;
    }
    return NULL;
}

char *th_experiment_with(const char *experiment, const char *keypath, const char *json) {
    gc_config c;
    cr_assert_eq(gc_config_load(&c, experiment), GC_OK, "%s", gc_last_error());
    if (keypath) {
        cJSON *v = cJSON_Parse(json);
        cr_assert_not_null(v, "bad JSON value in the test: %s", json);
        cr_assert_not_null(at_path(c.root, keypath, v), "no parent for %s in %s", keypath,
                           experiment);
    }
    char *text = cJSON_Print(c.root), *file = th_tmp_path("experiment.json");
    cr_assert_eq(th_write_file(file, text, strlen(text)), 0);
    free(text);
    gc_config_free(&c);
    return file;
}

/* runs a bad experiment file and expects exit 1 with both fragments in the error */
static void expect_rejected(const char *file, const char *what, const char *frag1,
                            const char *frag2) {
    char *root = th_tmp_path("badroot"), *err = NULL;
    int rc = th_run_smoke(file, root, NULL, NULL, &err);
    cr_expect_eq(rc, 1, "%s was accepted (rc %d)", what, rc);
    cr_expect(err && strstr(err, frag1), "%s: expected '%s' in: %s", what, frag1, err);
    cr_expect(err && strstr(err, frag2), "%s: expected '%s' in: %s", what, frag2, err);
    th_rm_tree(root);
    free(err), free(root);
}

void th_expect_bad_experiment(const char *experiment, const char *keypath, const char *json,
                              const char *frag1, const char *frag2) {
    char *file = th_experiment_with(experiment, keypath, json), what[640];
    snprintf(what, sizeof what, "%s with %s = %s", experiment, keypath, json);
    expect_rejected(file, what, frag1, frag2);
    remove(file), free(file);
}

void th_expect_bad_experiment_text(const char *text, const char *frag1, const char *frag2) {
    char *file = th_tmp_path("bad.json");
    cr_assert_eq(th_write_file(file, text, strlen(text)), 0);
    expect_rejected(file, text, frag1, frag2);
    remove(file), free(file);
}

char *th_read_text(const char *path) {
    char *buf = calloc(1, 1 << 20);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        buf[n] = 0;
        fclose(f);
    }
    return buf;
}

/* Files that record wall times: a stage's info.json, and online.json (the online vote's two
 * decodings timed in one process); DONE records their sizes and checksums. */
static int timed(const char *name) {
    return !strcmp(name, "info.json") || !strcmp(name, "online.json") || !strcmp(name, "DONE");
}

/* text without its lines that hold "wall" or name a timed file */
static char *without_wall(const char *path) {
    char *t = th_read_text(path), *o = calloc(1, strlen(t) + 1), *w = o;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n"))
        if (!strstr(line, "wall") && !strstr(line, "info.json") && !strstr(line, "online.json"))
            w += sprintf(w, "%s\n", line);
    free(t);
    return o;
}

/* 1 when every file of every stage directory of cache a is byte for byte in cache b */
int th_same_stages(const char *a, const char *b, char *why, size_t cap) {
    DIR *d = opendir(a);
    cr_assert(d, "%s", a);
    int same = 1, n = 0;
    for (struct dirent *e; same && (e = readdir(d));) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".lock")) continue;
        char da[1024], db[1024];
        snprintf(da, sizeof da, "%s/%s", a, e->d_name);
        snprintf(db, sizeof db, "%s/%s", b, e->d_name);
        DIR *s = opendir(da);
        if (!s) continue;
        for (struct dirent *f; same && (f = readdir(s));) {
            if (f->d_name[0] == '.') continue;
            char fa[2100], fb[2100], cmd[4300];
            snprintf(fa, sizeof fa, "%s/%s", da, f->d_name);
            snprintf(fb, sizeof fb, "%s/%s", db, f->d_name);
            snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", fa, fb);
            int differ;
            if (timed(f->d_name)) {
                /* but the wall time */
                char *ta = without_wall(fa), *tb = without_wall(fb);
                differ = strcmp(ta, tb) != 0;
                free(ta), free(tb);
            } else {
                differ = system(cmd) != 0;
            }
            if (differ) same = 0, snprintf(why, cap, "%s differs from %s", fb, fa);
            n++;
        }
        closedir(s);
    }
    closedir(d);
    cr_expect_gt(n, 10, "the stages' files were compared");
    return same;
}

/* the number of checkpoint directories (<stage>.ckpt) in a cache, and the largest step in them */
int th_checkpoints(const char *cache, long *step) {
    DIR *d = opendir(cache);
    int n = 0;
    *step = -1;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strstr(e->d_name, ".ckpt")) continue;
        n++;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", cache, e->d_name);
        DIR *s = opendir(p);
        for (struct dirent *f; s && (f = readdir(s));) {
            long k;
            if (sscanf(f->d_name, "step-%ld", &k) == 1 && k > *step) *step = k;
        }
        if (s) closedir(s);
    }
    if (d) closedir(d);
    return n;
}

void th_rerecord(const char *root, const char *name) {
    char pattern[1024];
    snprintf(pattern, sizeof pattern, "%s/cache/%s-????????????????", root, name);
    glob_t g;
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0, "%s", pattern);
    const char *dir = g.gl_pathv[0];
    cr_assert_eq(rp_manifest_write(dir, dir + strlen(dir) - 16), GC_OK, "%s", gc_last_error());
    globfree(&g);
}

int th_run_killed_after_every_checkpoint(const char *file, const char *root, const char *extra,
                                         char *resumed, size_t cap) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "GCRM_KILL_AFTER_CHECKPOINTS=1 %s run %s --scale smoke --root %s "
             "--checkpoint-every 0.001 %s",
             th_replicate_bin(), file, root, extra ? extra : "");
    size_t used = strlen(resumed);
    for (int runs = 1; runs <= 300; runs++) {
        char *out = NULL, *err = NULL;
        int rc = th_run(cmd, &out, NULL, &err);
        for (const char *p = err; (p = strstr(p, "run: ")); p += 5) {
            char name[128];
            if (sscanf(p, "run: %127s resumes from its checkpoint", name) == 1 &&
                strstr(p, "resumes") == p + 5 + strlen(name) + 1 && used + strlen(name) + 2 < cap)
                used += (size_t)sprintf(resumed + used, "%s\n", name);
        }
        free(out), free(err);
        if (rc == 0) return runs;
    }
    cr_assert_fail("the run did not complete in 300 tries");
    return 0;
}

void th_add_chat_template(const char *model_dir) {
    char p[1200];
    snprintf(p, sizeof p, "%s/tokenizer_config.json", model_dir);
    cJSON *tc = NULL;
    cr_assert_eq(gc_json_read(p, &tc), GC_OK, "%s", gc_last_error());
    cJSON_AddStringToObject(tc, "chat_template",
                            "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ "
                            "m['content'] }}\n{% endfor %}{% if add_generation_prompt "
                            "%}assistant:{% endif %}");
    cr_assert_eq(gc_json_write(p, tc), GC_OK);
    cJSON_Delete(tc);
}

char *th_stage_dir(const char *runs, const char *prefix) {
    char cmd[2048], *dir = NULL;
    snprintf(cmd, sizeof cmd, "ls -dt %s/cache/%s-*[0-9a-f]", runs, prefix);
    cr_assert_eq(th_run(cmd, &dir, NULL, NULL), 0, "%s", cmd);
    dir[strcspn(dir, "\n")] = 0;
    cr_assert(dir[0], "%s: nothing", cmd);
    return dir;
}

cJSON *th_read_json(const char *dir, const char *file) {
    char p[2400];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    cJSON *o = NULL;
    cr_assert_eq(gc_json_read(p, &o), GC_OK, "%s", gc_last_error());
    return o;
}

void th_expect_full_resume(const char *file, const char *root, const char *runs, const char *into,
                           const char *const *want, int min_runs) {
    char dir[1400], extra[1400], resumed[8192] = "", ca[1500], cc[1500], why[512] = "";
    snprintf(dir, sizeof dir, "%s/%s", root, into);
    snprintf(extra, sizeof extra, "--scale full --full-root %s", root);
    int n = th_run_killed_after_every_checkpoint(file, dir, extra, resumed, sizeof resumed);
    cr_expect_gt(n, min_runs, "the run was killed at its checkpoints (%d runs)", n);
    for (int k = 0; want[k]; k++)
        cr_expect(strstr(resumed, want[k]), "%s was not resumed; resumed: %s", want[k], resumed);
    snprintf(ca, sizeof ca, "%s/cache", runs);
    snprintf(cc, sizeof cc, "%s/cache", dir);
    cr_expect(th_same_stages(ca, cc, why, sizeof why), "%s", why);
}

gc_status th_beam_by_logprob(void *ctx, const int32_t *seq, int prefix_len, int len, double lp_sum,
                             double *score) {
    (void)ctx, (void)seq, (void)prefix_len, (void)len;
    *score = lp_sum;
    return GC_OK;
}

cJSON *th_claim(const char *id) {
    cJSON *doc, *c = NULL;
    cr_assert_eq(claims_load("results/published.json", &doc), GC_OK, "%s", gc_last_error());
    for (const cJSON *e = cJSON_GetObjectItem(doc, "claims")->child; e; e = e->next)
        if (!strcmp(cJSON_GetObjectItem(e, "id")->valuestring, id)) c = cJSON_Duplicate(e, 1);
    cJSON_Delete(doc);
    cr_assert_not_null(c, "claim %s", id);
    return c;
}
