/* The runner's stage keys and the experiment files' layers: keys come from meaning (typed
 * configuration, inputs, code version), not from how a file spells it; "extends" layers merge as
 * documented and their errors name the file that holds the key. Concurrent runs share the cache;
 * a damaged cached stage is an error, never a wrong number, and `replicate cache` tends it. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "lib/util/base.h"
#include "lib/util/config.h"
#include "lib/util/jsonio.h"
#include "replicate/runner/stage.h"
#include "helpers.h"

extern const char *const rp_source_hashes[][2];

static void key_of(const char *code, const char *config, const char *in0, char out[17]) {
    cJSON *c = cJSON_Parse(config);
    const char *inputs[1] = {in0};
    cr_assert_eq(rp_stage_key("rm", code, c, inputs, in0 ? 1 : 0, NULL, out), GC_OK);
    cJSON_Delete(c);
}

Test(stage, key_depends_on_meaning_only) {
    char a[17], b[17], c[17], d[17], e[17];
    key_of("v1", "{\"lr\": 0.003, \"model\": {\"dim\": 32, \"tied\": true}}", "abc", a);
    key_of("v1", "{\"model\": {\"tied\": true, \"dim\": 32}, \"lr\": 3e-3}", "abc", b);
    cr_expect_str_eq(a, b, "key order and number spelling must not change the key");
    key_of("v2", "{\"lr\": 0.003, \"model\": {\"dim\": 32, \"tied\": true}}", "abc", c);
    cr_expect_str_neq(a, c, "a new code version must change the key");
    key_of("v1", "{\"lr\": 0.003, \"model\": {\"dim\": 32, \"tied\": true}}", "abd", d);
    cr_expect_str_neq(a, d, "another input must change the key");
    key_of("v1", "{\"lr\": 0.004, \"model\": {\"dim\": 32, \"tied\": true}}", "abc", e);
    cr_expect_str_neq(a, e, "another value must change the key");
}

/* The code version compiled in is the hash of the sources as they are now: a change to lib/
 * rebuilds the binary with a new version, and every stage key changes with it. */
Test(stage, code_version_hashes_the_current_sources) {
    char *out = NULL, *err = NULL;
    cr_assert_eq(th_run("tools/srchash.sh", &out, NULL, &err), 0, "%s", err);
    char want[64];
    snprintf(want, sizeof want, "{\"lib\", \"%s\"}", rp_source_hashes[0][1]);
    cr_expect(strstr(out, want) != NULL, "the build's library hash %s is stale:\n%s",
              rp_source_hashes[0][1], out);
    const char *v = rp_code_version("replicate/math/pipeline.c");
    cr_assert_not_null(v, "%s", gc_last_error());
    cr_expect(strstr(v, rp_source_hashes[0][1]) == v, "the version starts with the library's");
    cr_expect_null(rp_code_version("replicate/nonexistent.c"));
    cr_expect(strstr(gc_last_error(), "replicate/nonexistent.c") != NULL);
    free(out), free(err);
}

/* every object's keys in reverse order, recursively */
static cJSON *reversed(const cJSON *j) {
    if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) return cJSON_Duplicate(j, 1);
    cJSON *o = cJSON_IsObject(j) ? cJSON_CreateObject() : cJSON_CreateArray();
    int n = cJSON_GetArraySize(j);
    for (int i = n - 1; i >= 0; i--) {
        const cJSON *e = cJSON_GetArrayItem(j, cJSON_IsObject(j) ? i : n - 1 - i);
        if (cJSON_IsObject(j))
            cJSON_AddItemToObject(o, e->string, reversed(e));
        else
            cJSON_AddItemToArray(o, reversed(e));
    }
    return o;
}

Test(stage, reordered_or_defaulted_files_reuse_every_stage, .timeout = 300) {
    char *root = th_tmp_path("runs"), *out = NULL, *err = NULL;
    cr_assert_eq(th_run_smoke("experiments/table1.json", root, "--seeds 1", &out, &err), 0, "%s",
                 err);
    cr_expect_gt(th_count_rerun(err, ""), 0);
    free(out), free(err);
    /* the same experiment with every key in reverse order */
    gc_config c;
    cr_assert_eq(gc_config_load(&c, "experiments/table1.json"), GC_OK, "%s", gc_last_error());
    cJSON *rev = reversed(c.root);
    char *text = cJSON_Print(rev), *file = th_tmp_path("reversed.json");
    cr_assert_eq(th_write_file(file, text, strlen(text)), 0);
    cr_assert_eq(th_run_smoke(file, root, "--seeds 1", &out, &err), 0, "%s", err);
    cr_expect_eq(th_count_rerun(err, ""), 0, "reordered keys reran stages:\n%s", err);
    free(out), free(err), free(text), cJSON_Delete(rev), gc_config_free(&c);
    remove(file), free(file);
    /* defaults written out: they are the values the schema would apply */
    static const char *const defaults[][2] = {
        {"scales.smoke.eval.top_p", "1.0"},
        {"scales.smoke.eval.temperature", "0"},
        {"scales.smoke.policy.clip", "1"},
        {"scales.smoke.policy.model.tied", "true"},
        {"scales.smoke.policy.model.rope_theta", "1e4"},
        {"scales.smoke.rm.clip", "1.0"},
        {"scales.smoke.rm.head", "\"linear\""},
        {"scales.smoke.vote.top_p", "1"},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        file = th_experiment_with("experiments/table1.json", defaults[i][0], defaults[i][1]);
        cr_assert_eq(th_run_smoke(file, root, "--seeds 1", &out, &err), 0, "%s", err);
        cr_expect_eq(th_count_rerun(err, ""), 0, "writing the default %s = %s reran stages:\n%s",
                     defaults[i][0], defaults[i][1], err);
        free(out), free(err), remove(file), free(file);
    }
    /* and a real change still reruns */
    file = th_experiment_with("experiments/table1.json", "scales.smoke.vote.skip", "4");
    cr_assert_eq(th_run_smoke(file, root, "--seeds 1", &out, &err), 0, "%s", err);
    cr_expect_eq(th_count_rerun(err, "qlows"), 2, "skip reruns the Q-value lows:\n%s", err);
    cr_expect_eq(th_count_rerun(err, "rm-"), 0);
    free(out), free(err), remove(file), free(file);
    th_rm_tree(root);
    free(root);
}

/* ---- layers ---- */

static char *write_tmp(const char *tag, const char *text) {
    char *p = th_tmp_path(tag);
    cr_assert_eq(th_write_file(p, text, strlen(text)), 0);
    return p;
}

Test(config, extends_merges_objects_replaces_values_and_deletes_null) {
    char *base = write_tmp("base.json", "{\"a\": 1, \"o\": {\"x\": 1, \"y\": [1, 2], \"z\": 3},\n"
                                        " \"keep\": \"b\"}\n");
    char text[1024];
    const char *slash = strrchr(base, '/');
    snprintf(text, sizeof text,
             "{\"extends\": \"%s\", \"a\": 2,\n \"o\": {\"y\": [3], \"z\": null, "
             "\"w\": 4}}\n",
             slash + 1);
    char *top = write_tmp("top.json", text);
    gc_config c;
    cr_assert_eq(gc_config_load(&c, top), GC_OK, "%s", gc_last_error());
    char *got = cJSON_PrintUnformatted(c.root);
    cr_expect_str_eq(got, "{\"a\":2,\"o\":{\"x\":1,\"y\":[3],\"w\":4},\"keep\":\"b\"}");
    cr_expect_null(cJSON_GetObjectItem(c.root, "extends"));
    const char *file = NULL;
    cr_expect_eq(gc_config_where(&c, "o.x", &file), 1);
    cr_expect_str_eq(file, base, "o.x is written by the base only");
    cr_expect_eq(gc_config_where(&c, "o.w", &file), 2);
    cr_expect_str_eq(file, top);
    free(got), gc_config_free(&c);
    remove(base), remove(top), free(base), free(top);
}

Test(config, bad_layers_are_errors_naming_the_file) {
    gc_config c;
    char *self = th_tmp_path("self.json"), text[1024];
    snprintf(text, sizeof text, "{\"extends\": \"%s\"}", strrchr(self, '/') + 1);
    cr_assert_eq(th_write_file(self, text, strlen(text)), 0);
    cr_expect_eq(gc_config_load(&c, self), GC_ERR_CONFIG, "a file that extends itself");
    cr_expect(strstr(gc_last_error(), "cycle") != NULL, "%s", gc_last_error());
    char *missing = write_tmp("m.json", "{\n\"extends\": \"no-such-base.json\"}");
    cr_expect_neq(gc_config_load(&c, missing), GC_OK);
    cr_expect(strstr(gc_last_error(), missing) && strstr(gc_last_error(), ":2:") &&
                  strstr(gc_last_error(), "no-such-base.json"),
              "%s", gc_last_error());
    char *num = write_tmp("n.json", "{\"extends\": 3}");
    cr_expect_eq(gc_config_load(&c, num), GC_ERR_CONFIG);
    cr_expect(strstr(gc_last_error(), "key 'extends'") != NULL, "%s", gc_last_error());
    char *dup = write_tmp("d.json", "{\"o\": {\"a\": 1,\n \"a\": 2}}");
    cr_expect_eq(gc_config_load(&c, dup), GC_ERR_CONFIG);
    cr_expect(strstr(gc_last_error(), "o.a") && strstr(gc_last_error(), "twice"), "%s",
              gc_last_error());
    remove(self), remove(missing), remove(num), remove(dup);
    free(self), free(missing), free(num), free(dup);
}

/* An experiment layered over experiments/fig2.json: an error in the top file names it; an error
 * the top file introduces into a section the base defines still names the top file's line. */
Test(config, experiment_layer_errors_name_their_file) {
    char *cwd = realpath(".", NULL), text[2048];
    snprintf(text, sizeof text,
             "{\"extends\": \"%s/experiments/fig2.json\",\n \"scales\": {\"smoke\":"
             " {\"rm\":\n {\"K\": -1}}}}\n",
             cwd);
    th_expect_bad_experiment_text(text, "bad.json:3: key 'scales.smoke.rm.K'", "out of range");
    snprintf(text, sizeof text,
             "{\"extends\": \"%s/experiments/fig2.json\",\n \"scales\": {\"smoke\":"
             " {\"policy\": {\"steps\": 2}}}}\n",
             cwd);
    /* a valid layer: --print-config shows the merged value and the base's others */
    char *file = write_tmp("ok.json", text), cmd[2048], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "%s run %s --print-config", th_replicate_bin(), file);
    cr_assert_eq(th_run(cmd, &out, NULL, &err), 0, "%s", err);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "not JSON: %s", out);
    const cJSON *pol = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "scales"), "smoke"), "policy");
    cr_expect_eq(gc_json_num(pol, "steps", 0), 2);
    cr_expect_eq(gc_json_num(pol, "batch", 0), 4, "the base's batch survives the layer");
    cr_expect_str_eq(gc_json_str(j, "experiment"), "fig2");
    cJSON_Delete(j), free(out), free(err), remove(file), free(file), free(cwd);
    /* --print-config of a file that is not there: an error naming it */
    snprintf(cmd, sizeof cmd, "%s run /nonexistent/x.json --print-config", th_replicate_bin());
    cr_expect_eq(th_run(cmd, &out, NULL, &err), 1);
    cr_expect(err && strstr(err, "/nonexistent/x.json"), "%s", err);
    free(out), free(err);
}

/* One cache, two runs at once: fig2 and fig3 share the policy, pairs, evaluation solutions and
 * reward models; started together on one root, each shared stage is computed by exactly one of
 * them (the other waits on the stage's lock and reuses it). */
Test(stage, concurrent_runs_compute_each_shared_stage_once, .timeout = 180) {
    char *root = th_tmp_path("concurrent"), cmd[4096];
    char *e1 = th_tmp_path("e1.txt"), *e2 = th_tmp_path("e2.txt");
    snprintf(cmd, sizeof cmd,
             "(%s run experiments/fig2.json --scale smoke --seeds 1 --root %s >/dev/null 2>%s & "
             "%s run experiments/fig3.json --scale smoke --seeds 1 --root %s >/dev/null 2>%s; "
             "wait)",
             th_replicate_bin(), root, e1, th_replicate_bin(), root, e2);
    cr_assert_eq(th_run(cmd, NULL, NULL, NULL), 0);
    char *t1 = NULL, *t2 = NULL;
    cr_assert_eq(gc_read_file(e1, &t1, NULL), GC_OK);
    cr_assert_eq(gc_read_file(e2, &t2, NULL), GC_OK);
    static const char *const shared[] = {"policy", "pairs", "eval-solutions", "rm-baseline-seed1",
                                         "rm-goal-seed1"};
    for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++) {
        int n = th_count_rerun(t1, shared[i]) + th_count_rerun(t2, shared[i]);
        cr_expect_eq(n, 1, "stage %s computed %d times by the two runs:\n%s\n---\n%s", shared[i], n,
                     t1, t2);
    }
    /* (whether one of them had to wait depends on scheduling; when it did, it said so) */
    if (!strstr(t1, "waiting for stage") && !strstr(t2, "waiting for stage"))
        cr_log_info(
            "neither run waited: one finished the shared stages before the other needed them");
    free(t1), free(t2);
    remove(e1), remove(e2), free(e1), free(e2);
    th_rm_tree(root);
    free(root);
}

/* the first stage directory in root's cache whose name starts with prefix (caller frees) */
static char *stage_dir(const char *root, const char *prefix) {
    char cache[1024];
    snprintf(cache, sizeof cache, "%s/cache", root);
    DIR *d = opendir(cache);
    cr_assert(d, "%s", cache);
    char *found = NULL;
    size_t n = strlen(prefix);
    for (struct dirent *e; !found && (e = readdir(d));)
        if (!strncmp(e->d_name, prefix, n) && e->d_name[n] == '-' && strlen(e->d_name) == n + 17) {
            found = malloc(2048);
            snprintf(found, 2048, "%s/%s", cache, e->d_name);
        }
    closedir(d);
    cr_assert(found, "no stage %s in %s", prefix, cache);
    return found;
}

/* A verified cache: DONE records every output's size and checksum; a truncated or altered file
 * in a cached stage is an error naming it and the way out, `--rerun STAGE` recomputes it, a DONE
 * from before checksums is recomputed, and `replicate cache` lists, verifies and prunes. */
Test(stage, damaged_cache_is_an_error_and_rerun_repairs_it, .timeout = 180) {
    setenv("OMP_NUM_THREADS", "1", 1);
    char *root = th_tmp_path("verify"), *out = NULL, *err = NULL, cmd[2048], path[2100];
    cr_assert_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1", &out, &err), 0, "%s",
                 err);
    free(out), free(err);
    snprintf(cmd, sizeof cmd, "%s cache verify --root %s", th_replicate_bin(), root);
    cr_expect_eq(th_run(cmd, &out, NULL, &err), 0, "%s%s", out, err);
    cr_expect(strstr(out, "rm-goal-seed1") && strstr(out, "ok"), "%s", out);
    free(out), free(err);

    /* one byte more in a reward model's file */
    char *rm = stage_dir(root, "rm-goal-seed1");
    snprintf(path, sizeof path, "%s/rm.head", rm);
    FILE *f = fopen(path, "ab");
    cr_assert(f);
    fputc(0, f);
    fclose(f);
    cr_expect_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1", &out, &err), 1);
    cr_expect(strstr(err, "rm.head") && strstr(err, "--rerun rm-goal-seed1"), "%s", err);
    free(out), free(err);
    snprintf(cmd, sizeof cmd, "%s cache verify --root %s", th_replicate_bin(), root);
    cr_expect_eq(th_run(cmd, &out, NULL, &err), 1, "verify finds it");
    cr_expect(strstr(out, "DAMAGED"), "%s", out);
    free(out), free(err);
    cr_assert_eq(
        th_run_smoke("experiments/fig2.json", root, "--seeds 1 --rerun rm-goal-seed1", &out, &err),
        0, "%s", err);
    cr_expect_eq(th_count_rerun(err, ""), 1, "only the named stage reruns:\n%s", err);
    cr_expect_eq(th_count_rerun(err, "rm-goal-seed1"), 1, "%s", err);
    free(out), free(err);

    /* the same size, one byte changed: the checksum tells */
    char *pol = stage_dir(root, "policy");
    snprintf(path, sizeof path, "%s/policy.ckpt", pol);
    f = fopen(path, "r+b");
    cr_assert(f);
    fseek(f, 200, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 200, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
    cr_expect_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1", &out, &err), 1);
    cr_expect(strstr(err, "policy.ckpt") && strstr(err, "checksum"), "%s", err);
    free(out), free(err);
    f = fopen(path, "r+b");
    fseek(f, 200, SEEK_SET);
    fputc(c, f); /* repaired by hand */
    fclose(f);

    /* a DONE from before checksums: that stage is computed again */
    char *pairs = stage_dir(root, "pairs");
    snprintf(path, sizeof path, "%s/DONE", pairs);
    const char *key = pairs + strlen(pairs) - 16;
    cr_assert_eq(th_write_file(path, key, 16), 0);
    cr_assert_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1", &out, &err), 0, "%s",
                 err);
    cr_expect(strstr(err, "without checksums"), "%s", err);
    cr_expect_eq(th_count_rerun(err, "pairs"), 1, "%s", err);
    free(out), free(err);

    /* a marker that is neither format, an unknown --rerun name, a bad cache subcommand */
    char *sc = stage_dir(root, "score-goal-seed1");
    snprintf(path, sizeof path, "%s/DONE", sc);
    cr_assert_eq(th_write_file(path, "garbage\n", 8), 0);
    cr_expect_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1", &out, &err), 1);
    cr_expect(strstr(err, "DONE: not a stage marker"), "%s", err);
    free(out), free(err);
    cr_assert_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1 --rerun score-goal-seed1",
                              &out, &err),
                 0, "--rerun repairs it: %s", err);
    free(out), free(err);
    cr_expect_eq(
        th_run_smoke("experiments/fig2.json", root, "--seeds 1 --rerun no-such-stage", &out, &err),
        1);
    cr_expect(strstr(err, "--rerun no-such-stage: no stage"), "%s", err);
    free(out), free(err), free(sc);
    snprintf(cmd, sizeof cmd, "%s cache tidy --root %s", th_replicate_bin(), root);
    cr_expect_eq(th_run(cmd, &out, NULL, &err), 2, "a usage error");
    cr_expect(strstr(err, "list, verify, gc"), "%s", err);
    free(out), free(err);

    /* gc: an unreferenced stage goes (with its lock), the recorded run's stay */
    snprintf(path, sizeof path, "%s/cache/old-0123456789abcdef", root);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && echo x > %s/out.bin && touch %s.lock", path, path,
             path);
    cr_assert_eq(th_run(cmd, NULL, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s cache gc --dry-run --root %s", th_replicate_bin(), root);
    cr_expect_eq(th_run(cmd, &out, NULL, &err), 0);
    cr_expect(strstr(out, "would remove old") && strstr(out, "would remove 1 of"), "%s", out);
    free(out), free(err);
    snprintf(cmd, sizeof cmd, "(%s cache gc --root %s && %s cache list --root %s)",
             th_replicate_bin(), root, th_replicate_bin(), root);
    cr_expect_eq(th_run(cmd, &out, NULL, &err), 0);
    const char *listing = strstr(out, "removed 1 of");
    cr_expect(listing && !strstr(listing, "\nold "), "gone from the listing: %s", out);
    cr_expect(strstr(out, "rm-goal-seed1") && strstr(out, "complete"), "%s", out);
    struct stat sb;
    snprintf(cmd, sizeof cmd, "%s.lock", path);
    cr_expect_neq(stat(path, &sb), 0, "removed");
    cr_expect_neq(stat(cmd, &sb), 0, "its lock too");
    free(out), free(err);
    cr_assert_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1", &out, &err), 0, "%s",
                 err);
    cr_expect_eq(th_count_rerun(err, ""), 0, "everything the run needs is still cached:\n%s", err);
    free(out), free(err);
    free(rm), free(pol), free(pairs);
    th_rm_tree(root);
    free(root);
}
