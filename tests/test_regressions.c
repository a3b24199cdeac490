/* Regression tests for defects a code review or a fuzz harness found; each failed before its
 * fix. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/base.h"
#include "lib/util/config.h"
#include "lib/util/jsonio.h"
#include "lib/tasks/helpsteer.h"
#include "lib/model/ckpt.h"
#include "lib/model/model.h"
#include "lib/rm/rm.h"
#include "replicate/claims/verdict.h"
#include "helpers.h"

/* A failed atomic open left freed paths behind, so a later abort freed them again; an abort of
 * a struct that was never opened read garbage. */
Test(regression, atomic_abort_after_a_failed_open_is_safe) {
    gc_atomic_file af;
    cr_assert_eq(gc_atomic_open(&af, "/nonexistent-dir/x/out.json"), GC_ERR_IO);
    cr_expect_null(af.path);
    cr_expect_null(af.tmp_path);
    gc_atomic_abort(&af); /* nothing to free: no double free */
    gc_atomic_file never = {0};
    gc_atomic_abort(&never);
}

/* A diverged run's NaN loss was reported as "out of memory". */
Test(regression, nan_loss_is_reported_as_divergence) {
    gc_model_config c = th_tiny_config(1);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &c), GC_OK);
    th_init_weights(&m, 3);
    m.params[m.tensors[0].offset] = NAN; /* one embedding weight */
    int32_t tok[8] = {0, 1, 2, 3, 4, 5, 6, 7}, tgt[8] = {1, 2, 3, 4, 5, 6, 7, 0};
    cr_assert_eq(gc_model_forward(&m, tok, 1, 8, 1), GC_OK);
    float loss;
    gc_status s = gc_model_ce_loss(&m, tgt, 1.0f, &loss);
    cr_expect_eq(s, GC_ERR_NUMERIC);
    cr_expect(strstr(gc_last_error(), "diverged") != NULL, "%s", gc_last_error());
    cr_expect(strstr(gc_last_error(), "memory") == NULL, "%s", gc_last_error());
    gc_model_free(&m);
}

/* The reward-model step read weight decay (and AdamW's betas) once, on its first call, and
 * hard-coded the betas; now every call's settings apply to its own update. */
Test(regression, rm_step_honours_each_calls_optimiser_settings) {
    enum { PP = 2, TT = 8 };
    gc_model_config cfg = th_tiny_config(1);
    gc_rm rm[3];
    int32_t tok[2 * PP * TT];
    int plen[2 * PP], len[2 * PP];
    for (int b = 0; b < 2 * PP; b++) {
        plen[b] = 3, len[b] = TT;
        for (int t = 0; t < TT; t++)
            tok[b * TT + t] = (b * 7 + t * 3) % cfg.vocab_size;
    }
    gc_con_config con = {.lambda = 0, .K = 2};
    for (int k = 0; k < 3; k++) {
        gc_model m;
        cr_assert_eq(gc_model_init(&m, &cfg), GC_OK);
        th_init_weights(&m, 5);
        cr_assert_eq(gc_rm_init(&rm[k], &m, GC_HEAD_LINEAR, 1), GC_OK);
        gc_rng r;
        gc_rng_init(&r, 1, 1);
        gc_rm_optim first = GC_RM_OPTIM_DEFAULT(1e-2f, 0.0f, 0.0f);
        cr_assert_eq(gc_rm_step(&rm[k], tok, PP, TT, plen, len, &con, &r, &first, NULL), GC_OK);
        gc_rm_optim second = first;
        if (k == 1) second.weight_decay = 0.5f; /* decay from the second step on */
        if (k == 2) second.beta2 = 0.5f;
        cr_assert_eq(gc_rm_step(&rm[k], tok, PP, TT, plen, len, &con, &r, &second, NULL), GC_OK);
    }
    size_t n = rm[0].model.n_params, diff_wd = 0, diff_b2 = 0;
    for (size_t i = 0; i < n; i++) {
        diff_wd += rm[0].model.params[i] != rm[1].model.params[i];
        diff_b2 += rm[0].model.params[i] != rm[2].model.params[i];
    }
    cr_expect_gt(diff_wd, n / 4, "weight decay given on the second step changed %zu of %zu",
                 diff_wd, n);
    cr_expect_gt(diff_b2, n / 4, "beta2 given on the second step changed %zu of %zu", diff_b2, n);
    for (int k = 0; k < 3; k++)
        gc_rm_free(&rm[k]);
}

/* The claims file and the plot scripts were opened relative to the working directory: run from
 * elsewhere, every stage ran and then results.json was never written. */
Test(regression, runs_from_another_directory_find_the_repository, .timeout = 60) {
    char *cwd = realpath(".", NULL), *root = th_tmp_path("runs"), cmd[4096], *out = NULL,
         *err = NULL;
    const char *bin = th_replicate_bin();
    snprintf(cmd, sizeof cmd,
             "cd /tmp && %s%s%s run %s/experiments/fig2.json --scale smoke "
             "--seeds 1 --root %s",
             bin[0] == '/' ? "" : cwd, bin[0] == '/' ? "" : "/", bin, cwd, root);
    cr_assert_eq(th_run(cmd, &out, NULL, &err), 0, "%s", err);
    char path[1024];
    snprintf(path, sizeof path, "%s/fig2/smoke/results.json", root);
    struct stat st;
    cr_expect_eq(stat(path, &st), 0, "no results.json when run from /tmp");
    free(out), free(err);
    /* a repository without the claims file: an error before any stage runs */
    char *empty = th_tmp_path("norepo"), *root2 = th_tmp_path("runs2");
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && GCRM_REPO=%s %s run experiments/fig2.json --scale smoke "
             "--root %s",
             empty, empty, th_replicate_bin(), root2);
    cr_expect_eq(th_run(cmd, &out, NULL, &err), 1);
    cr_expect(err && strstr(err, empty) && strstr(err, "published.json"), "%s", err);
    cr_expect_neq(stat(root2, &st), 0, "stages ran before the missing file was noticed");
    th_rm_tree(root), th_rm_tree(empty);
    free(out), free(err), free(cwd), free(root), free(empty), free(root2);
}

/* Schemas were read with hard-coded field counts, so the last field of a table was never read:
 * the last field of each of them is checked here. */
Test(regression, every_schema_field_is_read) {
    th_expect_bad_experiment("experiments/fig2.json", "precision", "\"fp8\"", "key 'precision'",
                             "fp32|tf32|bf16");
    th_expect_bad_experiment("experiments/fig2.json", "scales.smoke.rm.head", "\"tree\"",
                             "scales.smoke.rm.head", "linear|mlp");
    th_expect_bad_experiment("experiments/fig2.json", "scales.smoke.eval.source", "\"oracle\"",
                             "scales.smoke.eval.source", "policy|reference");
    th_expect_bad_experiment("experiments/fig2.json", "scales.smoke.pairs.source", "\"oracle\"",
                             "scales.smoke.pairs.source", "policy|reference");
    th_expect_bad_experiment("experiments/fig2.json", "scales.smoke.policy.clip", "-1",
                             "scales.smoke.policy.clip", "out of range");
    th_expect_bad_experiment("experiments/fig2.json", "scales.smoke.data.splits", "[]",
                             "scales.smoke.data.splits", "1 to");
}

/* A stage whose input failed to load aborted an atomic file it had never opened. */
Test(regression, a_stage_failing_before_its_output_opens_is_a_clean_error, .timeout = 60) {
    char *root = th_tmp_path("runs"), *out = NULL, *err = NULL, cmd[2048];
    cr_assert_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1", &out, &err), 0, "%s",
                 err);
    free(out), free(err);
    snprintf(cmd, sizeof cmd, "truncate -s 100 %s/cache/policy-*/policy.ckpt", root);
    cr_assert_eq(system(cmd), 0);
    /* sampled evaluation solutions: a new eval-solutions stage, which loads the policy */
    char *file =
        th_experiment_with("experiments/fig2.json", "scales.smoke.eval.source", "\"policy\"");
    int rc = th_run_smoke(file, root, "--seeds 1", &out, &err);
    cr_expect_eq(rc, 1, "rc %d (a crash is not a clean error)", rc);
    cr_expect(err && strstr(err, "policy.ckpt"), "the error names the file: %s", err);
    th_rm_tree(root);
    free(out), free(err), remove(file), free(file), free(root);
}

#include "lib/util/rng.h"

/* Streams were bare indices: tensor 3's initial weights, problem 3 and sample 3 drew the same
 * numbers when their seeds coincided. A stream id now carries its purpose. */
Test(regression, streams_of_different_purposes_never_coincide) {
    for (int a = GC_STREAM_INIT; a <= GC_STREAM_BOOTSTRAP_MEAN; a++)
        for (int b = GC_STREAM_INIT; b <= GC_STREAM_BOOTSTRAP_MEAN; b++)
            for (uint64_t i = 0; i < 64 && a != b; i++)
                for (uint64_t j = 0; j < 64; j++)
                    cr_assert_neq(gc_rng_stream(a, i), gc_rng_stream(b, j));
    gc_rng init, sample;
    gc_rng_init(&init, 1, gc_rng_stream(GC_STREAM_INIT, 3));
    gc_rng_init(&sample, 1, gc_rng_stream(GC_STREAM_SAMPLE, 3));
    cr_expect_neq(gc_rng_u32(&init), gc_rng_u32(&sample));
}

/* An experiment file that extends the base without a description of its own inherits the base's
 * long one: descriptions are text of any length, not a fixed buffer ("string too long" before). A
 * pilot with rm.extra_layers runs end to end at smoke scale. */
Test(regressions, long_inherited_description_and_a_grown_reward_model, .timeout = 120) {
    char *dir = th_tmp_path("grow"), file[1200], cwd[1024], text[2048];
    cr_assert(getcwd(cwd, sizeof cwd));
    mkdir(dir, 0755);
    snprintf(file, sizeof file, "%s/grow.json", dir);
    snprintf(text, sizeof text,
             "{\"experiment\": \"grow-smoke\", \"extends\": \"%s/experiments/base/math.json\", "
             "\"analysis\": \"pilot\", \"plot\": \"pilot\", \"seeds\": 1, \"scales\": {\"smoke\": "
             "{\"rm\": {\"extra_layers\": 1}}}}",
             cwd);
    cr_assert_eq(th_write_file(file, text, strlen(text)), 0);
    char *out = NULL, *err = NULL;
    cr_expect_eq(th_run_smoke(file, dir, NULL, &out, &err), 0, "%s", err);
    cr_expect(out && strstr(out, "G2 baseline RM"), "the pilot's table:\n%s", out);
    free(out), free(err);
    th_rm_tree(dir);
    free(dir);
}

/* found by fuzz/ckpt.c: a llama2.c header whose vocabulary size is INT32_MIN (negative means
 * untied) was negated, an overflow; now it is a malformed checkpoint like any other */
Test(regression, llama2c_vocab_of_int32_min_is_malformed) {
    int32_t h[7] = {64, 128, 1, 4, 4, INT32_MIN, 32};
    char *path = th_tmp_path("int-min.bin");
    cr_assert_eq(th_write_file(path, h, sizeof h), 0);
    gc_model m;
    cr_expect_eq(gc_ckpt_import_llama2c(path, &m), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "not a llama2.c checkpoint"), "%s", gc_last_error());
    cr_expect_eq(gc_ckpt_load_any(path, &m), GC_ERR_FORMAT);
    remove(path), free(path);
}

/* found by fuzz/config.c: a control byte where JSON allows whitespace (cJSON skips every byte up
 * to 32) sent the scanner that finds a key's line for error messages into an endless loop */
Test(regression, a_control_byte_as_whitespace_still_locates_keys, .timeout = 10) {
    gc_config c;
    cr_assert_eq(
        gc_config_parse(&c, "ctl.json",
                        "{\"a\": [\x19 {\"b\": 1, \"e\": 2}, 3],\n \"c\": {\"d\": \"x\"}}"),
        GC_OK, "%s", gc_last_error());
    cr_expect_eq(gc_config_fail(&c, "c.d", "bad"), GC_ERR_CONFIG);
    cr_expect(strstr(gc_last_error(), "ctl.json:2: key 'c.d'"), "%s", gc_last_error());
    cr_expect_eq(gc_config_fail(&c, "nowhere.x", "bad"), GC_ERR_CONFIG, "not found: no line");
    gc_config_free(&c);
}

/* found by fuzz/results.c: a results file with a seed count beyond int (5.2e12) was converted to
 * int for the power analysis, undefined behaviour (UBSan in make test-asan stops on it); every
 * claim's rule must judge such a file */
Test(regression, a_huge_seed_count_in_results_is_judged_not_converted) {
    cJSON *claims;
    cr_assert_eq(claims_load("results/published.json", &claims), GC_OK, "%s", gc_last_error());
    cJSON *r = cJSON_Parse("{\"experiment\": \"fig2\", \"pooled\": {\"delta\": {\"mean\": 0.01, "
                           "\"seeds\": 5.2e12, \"sd\": 0.1, \"seeds_positive\": 1e300}, "
                           "\"delong\": {\"p\": 0.5, \"diff\": 0.01, \"se\": 0.04}}, "
                           "\"ppo_goal_minus_baseline\": {\"mean\": 0.1, \"seeds\": 1e19, "
                           "\"p\": 0.5, \"sd\": 0.1}}");
    cr_assert_not_null(r);
    for (const cJSON *c = cJSON_GetObjectItem(claims, "claims")->child; c; c = c->next) {
        cJSON *v = NULL;
        if (!cJSON_GetObjectItem(c, "mini_check")) continue;
        cr_expect_eq(claims_verdict(c, r, "published.json", &v), GC_OK, "%s", gc_last_error());
        cr_expect_not_null(cJSON_GetStringValue(cJSON_GetObjectItem(v, "verdict")));
        cJSON_Delete(v);
    }
    cJSON_Delete(r), cJSON_Delete(claims);
}

/* found by fuzz/jsonl.c: a HelpSteer rating of 1.1e121 was converted to int before its range was
 * checked, undefined behaviour (UBSan stops on it); the same conversion read a checkpoint's
 * integers and a reward file's pair indices. Now every such integer is range-checked first
 * (gc_json_int_in). */
Test(regression, a_huge_integer_in_a_data_set_is_malformed_not_converted) {
    char *path = th_tmp_path("hs-huge.jsonl");
    const char *text =
        "{\"prompt\": \"p\", \"response\": \"r\", \"helpfulness\": 1.1e121, "
        "\"correctness\": 1, \"coherence\": 1, \"complexity\": 1, \"verbosity\": 1}\n";
    cr_assert_eq(th_write_file(path, text, strlen(text)), 0);
    gc_helpsteer_set s;
    cr_expect_eq(gc_helpsteer_load(path, 0, &s), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), ":1: \"helpfulness\""), "%s", gc_last_error());
    remove(path), free(path);
    int v = 7;
    cJSON *big = cJSON_CreateNumber(1e300), *neg = cJSON_CreateNumber(-3),
          *frac = cJSON_CreateNumber(2.5);
    cr_expect(!gc_json_int_in(big, INT_MIN, INT_MAX, &v) && v == 7);
    cr_expect(!gc_json_int_in(neg, 0, 4, &v) && !gc_json_int_in(frac, 0, 4, &v));
    cJSON *ok = cJSON_CreateNumber(3);
    cr_expect(gc_json_int_in(ok, 0, 4, &v) && v == 3);
    cJSON_Delete(big), cJSON_Delete(neg), cJSON_Delete(frac), cJSON_Delete(ok);
}
