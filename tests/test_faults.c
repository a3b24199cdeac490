/* Resource faults, on fig2 at smoke scale: a file-size limit hit while writing a checkpoint (as a
 * full disk or quota would), a cache directory that cannot be created, a results directory that
 * cannot be written, and an allocation that cannot be met each end the run with a clear error
 * (exit 1), leave no complete-looking stage or result, and a rerun once the cause is gone
 * recovers, reusing what was complete. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers.h"

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* whether any stage directory in root's cache whose name starts with prefix holds DONE */
static int stage_done(const char *root, const char *prefix) {
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "ls %s/cache/%s-*/DONE 2>/dev/null | wc -l", root, prefix);
    th_run(cmd, &out, NULL, NULL);
    int n = out ? atoi(out) : 0;
    free(out);
    return n > 0;
}

Test(faults, a_file_size_limit_while_writing_is_an_error_and_a_rerun_recovers, .timeout = 120) {
    setenv("OMP_NUM_THREADS", "1", 1);
    char *root = th_tmp_path("fsize"), cmd[2048], *out = NULL, *err = NULL, path[1100];
    /* 40 blocks (20 KiB under sh's 512-byte blocks, 40 KiB under bash's): the smoke policy's
     * 54 KB checkpoint cannot be written */
    snprintf(cmd, sizeof cmd,
             "ulimit -f 40; %s run experiments/fig2.json --scale smoke --seeds 1 --root %s",
             th_replicate_bin(), root);
    cr_expect_eq(th_run(cmd, &out, NULL, &err), 1, "a clean error, not a signal: %s", err);
    cr_expect(strstr(err, "policy.ckpt") && strstr(err, "File too large"), "%s", err);
    free(out), free(err);
    cr_expect(!stage_done(root, "policy"), "no complete-looking policy stage");
    snprintf(path, sizeof path, "%s/fig2/smoke/results.json", root);
    cr_expect(!exists(path), "no results");
    cr_assert_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1", &out, &err), 0, "%s",
                 err);
    cr_expect(exists(path));
    free(out), free(err);
    th_rm_tree(root);
    free(root);
}

Test(faults, an_unwritable_cache_or_results_directory_is_an_error, .timeout = 120) {
    setenv("OMP_NUM_THREADS", "1", 1);
    char *root = th_tmp_path("unwritable"), *out = NULL, *err = NULL, path[1100];
    cr_assert_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1", &out, &err), 0, "%s",
                 err);
    free(out), free(err);
    /* results: <root>/fig2 is a file, so <root>/fig2/smoke cannot be made */
    snprintf(path, sizeof path, "%s/fig2", root);
    th_rm_tree(path);
    cr_assert_eq(th_write_file(path, "x", 1), 0);
    cr_expect_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1", &out, &err), 1);
    cr_expect(strstr(err, path) != NULL, "the error names %s: %s", path, err);
    free(out), free(err);
    remove(path);
    cr_assert_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1", &out, &err), 0, "%s",
                 err);
    cr_expect_eq(th_count_rerun(err, ""), 0, "the stages were complete: all reused\n%s", err);
    free(out), free(err);
    /* the cache: <root2>/cache is a file */
    char *root2 = th_tmp_path("nocache");
    snprintf(path, sizeof path, "mkdir -p %s && echo x > %s/cache", root2, root2);
    cr_assert_eq(th_run(path, NULL, NULL, NULL), 0);
    cr_expect_eq(th_run_smoke("experiments/fig2.json", root2, "--seeds 1", &out, &err), 1);
    snprintf(path, sizeof path, "%s/cache", root2);
    cr_expect(strstr(err, path) != NULL, "the error names %s: %s", path, err);
    free(out), free(err);
    th_rm_tree(root), th_rm_tree(root2);
    free(root), free(root2);
}

Test(faults, an_allocation_that_cannot_be_met_is_an_error, .timeout = 120) {
    /* AddressSanitizer reserves terabytes of shadow memory at start: no address-space limit */
    if (getenv("GCRM_ASAN")) cr_skip_test("ulimit -v cannot hold an AddressSanitizer build");
    /* a policy of 2,048 x 8 layers (2.1 G floats per copy) under a 600 MB address-space limit */
    char *file = th_experiment_with("experiments/fig2.json", "scales.smoke.policy.model",
                                    "{\"dim\": 2048, \"hidden_dim\": 8192, \"n_layers\": 8, "
                                    "\"n_heads\": 16, \"n_kv_heads\": 16, \"vocab_size\": 128, "
                                    "\"seq_len\": 576}");
    char *root = th_tmp_path("oom"), cmd[2048], *out = NULL, *err = NULL, path[1100];
    snprintf(cmd, sizeof cmd, "ulimit -v 600000; %s run %s --scale smoke --seeds 1 --root %s",
             th_replicate_bin(), file, root);
    cr_expect_eq(th_run(cmd, &out, NULL, &err), 1, "a clean error: %s", err);
    cr_expect(strstr(err, "cannot allocate"), "%s", err);
    cr_expect(!stage_done(root, "policy"));
    snprintf(path, sizeof path, "%s/fig2/smoke/results.json", root);
    cr_expect(!exists(path));
    free(out), free(err);
    th_rm_tree(root);
    remove(file);
    free(root), free(file);
}
