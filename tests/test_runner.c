/* The runner end to end at smoke scale: results and metadata, caching, resume after a kill,
 * rerunning only what a changed key touches, bad experiment files; the verdict logic on
 * synthetic results; eval-scores. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "lib/stats/stats.h"
#include "lib/util/base.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/verdict.h"
#include "helpers.h"

Test(runner, fig2_smoke_end_to_end_cache_and_resume, .timeout = 120) {
    char *root = th_tmp_path("runs");
    char *out = NULL, *err = NULL;
    int rc = th_run_smoke("experiments/fig2.json", root, "--seeds 2", &out, &err);
    cr_assert_eq(rc, 0, "smoke run failed: %s", err);
    cr_expect(strstr(out, "verdict:") != NULL, "no verdict printed:\n%s", out);
    cr_expect_eq(th_count_rerun(err, ""), 3 + 2 * 2 * 2 + 1,
                 "first run should execute every stage:\n%s", err);
    char path[1024];
    snprintf(path, sizeof path, "%s/fig2/smoke/results.json", root);
    cJSON *res;
    cr_assert_eq(gc_json_read(path, &res), GC_OK, "%s", gc_last_error());
    const char *keys[] = {"commit",  "config_hash", "seeds",  "scale",   "device", "wall_s",
                          "threads", "splits",      "pooled", "verdict", "stages"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_expect_not_null(cJSON_GetObjectItem(res, keys[i]), "results.json lacks '%s'", keys[i]);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(res, "splits")), 5);
    cr_expect_str_eq(cJSON_GetObjectItem(res, "scale")->valuestring, "smoke");
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(res, "seeds")), 2);
    const cJSON *v = cJSON_GetObjectItem(res, "verdict");
    const char *verdict = cJSON_GetStringValue(cJSON_GetObjectItem(v, "verdict"));
    cr_expect(verdict && (!strcmp(verdict, "PASS") || !strcmp(verdict, "FAIL") ||
                          !strcmp(verdict, "INCONCLUSIVE")),
              "not a verdict: %s", verdict ? verdict : "(none)");
    /* every RM's training curve: epoch 0 (before training) and one row per epoch, held-out
     * accuracy and AUROC as shares */
    const cJSON *curves = cJSON_GetObjectItem(res, "rm_training");
    cr_expect_eq(cJSON_GetArraySize(curves), 2 * 2, "baseline and goal, two seeds");
    for (const cJSON *c = curves ? curves->child : NULL; c; c = c->next) {
        const cJSON *ep = cJSON_GetObjectItem(c, "epochs");
        cr_expect_eq(cJSON_GetArraySize(ep), 1 + 1, "epoch 0 and the smoke scale's one epoch");
        for (const cJSON *e = ep ? ep->child : NULL; e; e = e->next) {
            double a = gc_json_num(e, "heldout_accuracy", -1),
                   u = gc_json_num(e, "heldout_auroc", -1);
            cr_expect(a >= 0 && a <= 1 && u >= 0 && u <= 1, "held-out accuracy %g, AUROC %g", a, u);
        }
    }
    cJSON_Delete(res);
    snprintf(path, sizeof path, "%s/fig2/smoke/fig2.dat", root);
    struct stat st;
    cr_expect_eq(stat(path, &st), 0, "no plot data");
    snprintf(path, sizeof path, "%s/fig2/smoke/fig2-rm-training.dat", root);
    cr_expect_eq(stat(path, &st), 0, "no training-curve data");
    free(out), free(err);

    /* second run: everything cached */
    rc = th_run_smoke("experiments/fig2.json", root, "--seeds 2", &out, &err);
    cr_assert_eq(rc, 0);
    cr_expect_eq(th_count_rerun(err, ""), 0, "a repeated run recomputed stages:\n%s", err);
    free(out), free(err);

    /* a killed run: a stage directory without its DONE marker is redone, alone */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm %s/cache/rm-goal-seed2-*/DONE", root);
    cr_assert_eq(system(cmd), 0);
    rc = th_run_smoke("experiments/fig2.json", root, "--seeds 2", &out, &err);
    cr_assert_eq(rc, 0);
    cr_expect_eq(th_count_rerun(err, ""), 1, "resume should redo exactly the unfinished stage:\n%s",
                 err);
    cr_expect_eq(th_count_rerun(err, "rm-goal-seed2"), 1);
    free(out), free(err);

    /* a stage that wrote a malformed file (its DONE recording it as written: a damaged file
     * without that is refused by its checksum, test_stage.c) is an error naming the file and
     * line, not a crash */
    snprintf(cmd, sizeof cmd,
             "cp %s/cache/pairs-*/pairs.jsonl %s/pairs.bak && "
             "sed -i '2s/\"chosen\"/\"chosn\"/' %s/cache/pairs-*/pairs.jsonl",
             root, root, root);
    cr_assert_eq(system(cmd), 0);
    th_rerecord(root, "pairs");
    rc = th_run_smoke("experiments/fig2.json", root, "--seeds 2", &out, &err);
    cr_expect_eq(rc, 1, "a damaged pairs.jsonl was accepted");
    cr_expect(err && strstr(err, "pairs.jsonl:2:"), "names file and line: %s", err);
    free(out), free(err);
    snprintf(cmd, sizeof cmd,
             "cp %s/pairs.bak %s/cache/pairs-*/pairs.jsonl && "
             "echo '{\"reward\": [1, 2]}' > $(ls %s/cache/score-goal-seed1-*/rewards.json)",
             root, root, root);
    cr_assert_eq(system(cmd), 0);
    th_rerecord(root, "pairs");
    th_rerecord(root, "score-goal-seed1");
    rc = th_run_smoke("experiments/fig2.json", root, "--seeds 2", &out, &err);
    cr_expect_eq(rc, 1, "a truncated rewards.json was accepted");
    cr_expect(err && strstr(err, "rewards.json") && strstr(err, "holds 2 entries"), "%s", err);
    free(out), free(err);
    snprintf(cmd, sizeof cmd, "rm %s/cache/score-goal-seed1-*/DONE", root);
    cr_assert_eq(system(cmd), 0);

    /* changing lambda reruns the goal-conditioned RMs and their scores only */
    char *file = th_experiment_with("experiments/fig2.json", "scales.smoke.rm.lambda", "0.7");
    rc = th_run_smoke(file, root, "--seeds 2", &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect_eq(th_count_rerun(err, ""), 4, "lambda should rerun 2 RMs + 2 scorings:\n%s", err);
    cr_expect_eq(th_count_rerun(err, "rm-goal"), 2);
    cr_expect_eq(th_count_rerun(err, "rm-baseline"), 0, "the baseline does not depend on lambda");
    free(out), free(err), remove(file), free(file);
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_expect_eq(system(cmd), 0);
    th_rm_tree(root);
    free(root);
}

static void expect_bad_experiment(const char *keypath, const char *json, const char *frag1,
                                  const char *frag2) {
    th_expect_bad_experiment("experiments/fig2.json", keypath, json, frag1, frag2);
}

Test(runner, bad_experiment_files) {
    expect_bad_experiment("pipeline", "\"chess\"", "pipeline", "math");
    expect_bad_experiment("seeds", "\"three\"", "key 'seeds'", "integer");
    expect_bad_experiment("colour", "1", "key 'colour'", "unknown key");
    expect_bad_experiment("scales.smoke.policy.steps", "-4", "scales.smoke.policy.steps",
                          "out of range");
    expect_bad_experiment("scales.smoke.rm.kappa", "2", "scales.smoke.rm.kappa", "unknown key");
    expect_bad_experiment("scales.smoke.rm.pairs", "\"some\"", "scales.smoke.rm.pairs",
                          "all|ordered");
    expect_bad_experiment("scales.smoke.data.splits", "[\"arith-eazy\"]", "arith-eazy",
                          "scales.smoke.data.splits");
    expect_bad_experiment("scales.smok", "{}", "scales.smok", "unknown scale");
    expect_bad_experiment("scales.smoke.data.splits", "\"arith-easy\"", "scales.smoke.data.splits",
                          "expected an array");
    expect_bad_experiment("scales.smoke.rm.variants", "\"goal\"", "scales.smoke.rm.variants",
                          "expected an array");
    expect_bad_experiment("scales.smoke.policy.model.dim", "30", "scales.smoke.policy.model",
                          "n_heads");
    expect_bad_experiment("scales.smoke.colour", "{}", "scales.smoke.colour", "unknown key");
    th_expect_bad_experiment_text("{\"experiment\": \"x\", \"seeds\": 3,\n \"scales\": {\n",
                                  "bad.json:", "syntax");
    char *err = NULL;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s run experiments/fig2.json --scale huge", th_replicate_bin());
    cr_expect_eq(th_run(cmd, NULL, NULL, &err), 2);
    cr_expect(err && strstr(err, "--scale"), "%s", err);
    free(err);
    snprintf(cmd, sizeof cmd, "%s run experiments/fig2.json --scale full --root /tmp/x",
             th_replicate_bin());
    cr_expect_eq(th_run(cmd, NULL, NULL, &err), 1);
    cr_expect(err && strstr(err, "full"), "%s", err);
    free(err);
    snprintf(cmd, sizeof cmd, "%s run experiments/fig2.json --device tpu", th_replicate_bin());
    cr_expect_eq(th_run(cmd, NULL, NULL, &err), 2);
    cr_expect(err && strstr(err, "--device") && strstr(err, "cpu|cuda"), "%s", err);
    free(err);
    snprintf(cmd, sizeof cmd, "%s run experiments/fig2.json --device cuda --precision fp16",
             th_replicate_bin());
    cr_expect_eq(th_run(cmd, NULL, NULL, &err), 2);
    cr_expect(err && strstr(err, "--precision"), "%s", err);
    free(err);
    expect_bad_experiment("device", "\"gpu\"", "key 'device'", "cpu|cuda");
    expect_bad_experiment("precision", "\"fp16\"", "key 'precision'", "fp32|tf32|bf16");
    /* the CUDA plugin missing, or a library that is not one: clear errors naming the file */
    snprintf(
        cmd, sizeof cmd,
        "GCRM_CUDA_PLUGIN=/nonexistent/libgcrm_cuda.so %s run experiments/fig2.json --scale smoke "
        "--root /tmp/x --device cuda",
        th_replicate_bin());
    cr_expect_eq(th_run(cmd, NULL, NULL, &err), 1);
    cr_expect(err && strstr(err, "cannot load the CUDA backend /nonexistent/libgcrm_cuda.so"), "%s",
              err);
    free(err);
    snprintf(cmd, sizeof cmd,
             "GCRM_CUDA_PLUGIN=$(ldconfig -p | awk '/libz.so.1 /{print $NF; exit}') %s run "
             "experiments/fig2.json --scale smoke --root /tmp/x --device cuda",
             th_replicate_bin());
    cr_expect_eq(th_run(cmd, NULL, NULL, &err), 1);
    cr_expect(err && strstr(err, "is not a gcrm CUDA backend"), "%s", err);
    free(err);
    snprintf(cmd, sizeof cmd, "%s run /nonexistent/e.json", th_replicate_bin());
    cr_expect_eq(th_run(cmd, NULL, NULL, &err), 1);
    cr_expect(err && strstr(err, "/nonexistent/e.json"), "%s", err);
    free(err);
}

/* ---- verdict logic on synthetic results ---- */

static cJSON *claim(void) {
    return cJSON_Parse("{\"id\": \"fig2\", \"experiment\": \"fig2\", \"mini_check\": {\"rule\": "
                       "\"auroc_delta\", \"every_split_positive\": true, \"alpha\": 0.05, "
                       "\"min_seed_fraction\": 0.8}}");
}

static cJSON *results(double d1, double d2, double pooled_p, int seeds_pos, int seeds) {
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"splits\": [{\"split\": \"a\", \"delta\": {\"mean\": %g}},"
             "{\"split\": \"b\", \"delta\": {\"mean\": %g}},"
             "{\"split\": \"c\", \"error\": \"no solution is correct: no AUROC\"}],"
             "\"pooled\": {\"delta\": {\"mean\": 0.05, \"lo\": 0.01, \"hi\": 0.09, "
             "\"seeds_positive\": %d, \"seeds\": %d}, \"delong\": {\"diff\": 0.05, \"p\": %g}}}",
             d1, d2, seeds_pos, seeds, pooled_p);
    return cJSON_Parse(buf);
}

static const char *verdict_of(cJSON *c, cJSON *r, cJSON **v) {
    cr_assert_eq(claims_verdict(c, r, "published.json", v), GC_OK, "%s", gc_last_error());
    return cJSON_GetStringValue(cJSON_GetObjectItem(*v, "verdict"));
}

Test(verdict, auroc_delta_rule) {
    cJSON *c = claim(), *v;
    cJSON *r = results(0.02, 0.09, 0.001, 5, 5);
    cr_expect_str_eq(verdict_of(c, r, &v), "PASS");
    cr_expect_float_eq(gc_json_num(v, "max_split_delta", 0), 0.09, 1e-12);
    cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(v, "max_split")), "b");
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(v, "reasons")), 1,
                 "the split without AUROC is reported");
    cJSON_Delete(v), cJSON_Delete(r);
    r = results(-0.01, 0.09, 0.001, 5, 5);
    cr_expect_str_eq(verdict_of(c, r, &v), "FAIL", "a negative split fails the claim");
    cJSON_Delete(v), cJSON_Delete(r);
    r = results(0.02, 0.09, 0.2, 5, 5);
    cr_expect_str_eq(verdict_of(c, r, &v), "FAIL", "p = 0.2 is not significant");
    cJSON_Delete(v), cJSON_Delete(r);
    r = results(0.02, 0.09, 0.001, 3, 5);
    cr_expect_str_eq(verdict_of(c, r, &v), "FAIL", "3 of 5 seeds is below 80%%");
    cJSON_Delete(v), cJSON_Delete(r);
    r = results(0.02, 0.09, 0.001, 4, 5);
    cr_expect_str_eq(verdict_of(c, r, &v), "PASS", "4 of 5 seeds is 80%%");
    cJSON_Delete(v), cJSON_Delete(r);
    cJSON *bad = cJSON_Parse("{\"id\": \"x\", \"mini_check\": {\"rule\": \"vibes\"}}");
    r = results(0.02, 0.09, 0.001, 5, 5);
    cr_expect_eq(claims_verdict(bad, r, "published.json", &v), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "vibes") != NULL);
    cJSON_Delete(bad), cJSON_Delete(r), cJSON_Delete(c);
}

Test(verdict, published_claims_file_is_well_formed) {
    cJSON *doc;
    cr_assert_eq(claims_load("results/published.json", &doc), GC_OK, "%s", gc_last_error());
    int n = 0, with_check = 0;
    for (const cJSON *c = cJSON_GetObjectItem(doc, "claims")->child; c; c = c->next, n++) {
        cr_expect_not_null(cJSON_GetObjectItem(c, "id"));
        cr_expect_not_null(cJSON_GetObjectItem(c, "published"));
        with_check += cJSON_GetObjectItem(c, "mini_check") != NULL;
    }
    cr_expect_eq(n, 7, "one claim per paper artefact");
    cr_expect_geq(with_check, 1);
    cJSON_Delete(doc);
}

/* ---- eval-scores ---- */

Test(eval_scores, qwen_file) {
    char path[1024], cmd[2048];
    char *out = NULL, *err = NULL;
    if (!th_data_file(path, sizeof path, "qwen-rm-maj/math_cot_100.jsonl"))
        cr_skip_test("qwen-rm-maj/math_cot_100.jsonl not found under %s (set GCRM_DATA)",
                     th_data_dir());
    snprintf(cmd, sizeof cmd,
             "%s eval-scores --input %s --label score --score pred_score --bootstrap 200",
             th_replicate_bin(), path);
    cr_assert_eq(th_run(cmd, &out, NULL, &err), 0, "%s", err);
    cr_expect(strstr(out, "800 items") != NULL, "%s", out);
    double auc = 0;
    const char *at = strstr(out, "AUROC ");
    cr_assert(at && sscanf(at, "AUROC %lf", &auc) == 1, "%s", out);
    cr_expect(auc > 0.5 && auc <= 1.0, "a 72B reward model should beat chance: %g", auc);
    free(out), free(err);
}

Test(eval_scores, small_files_and_bad_lines) {
    char cmd[2048];
    char *out = NULL, *err = NULL;
    char *file = th_tmp_path("scores.jsonl");
    const char *good =
        "{\"y\": 1, \"a\": 0.9, \"b\": 0.2}\n{\"y\": 0, \"a\": 0.1, \"b\": 0.5}\n"
        "{\"y\": true, \"a\": [0.8], \"b\": 0.7}\n{\"y\": false, \"a\": 0.3, \"b\": 0.1}\n";
    cr_assert_eq(th_write_file(file, good, strlen(good)), 0);
    snprintf(cmd, sizeof cmd, "%s eval-scores --input %s --label y --score a --score b",
             th_replicate_bin(), file);
    cr_assert_eq(th_run(cmd, &out, NULL, &err), 0, "%s", err);
    cr_expect(strstr(out, "AUROC 1.0000") != NULL, "a separates perfectly:\n%s", out);
    cr_expect(strstr(out, "DeLong: a - b") != NULL, "%s", out);
    free(out), free(err);
    const char *bad = "{\"y\": 1, \"a\": 0.9}\n{\"y\": 2, \"a\": 0.1}\n";
    cr_assert_eq(th_write_file(file, bad, strlen(bad)), 0);
    snprintf(cmd, sizeof cmd, "%s eval-scores --input %s --label y --score a", th_replicate_bin(),
             file);
    cr_expect_eq(th_run(cmd, NULL, NULL, &err), 1);
    cr_expect(err && strstr(err, ":2:") && strstr(err, "'y'"), "names the line and key: %s", err);
    free(err);
    const char *nokey = "{\"y\": 1}\n";
    cr_assert_eq(th_write_file(file, nokey, strlen(nokey)), 0);
    cr_expect_eq(th_run(cmd, NULL, NULL, &err), 1);
    cr_expect(err && strstr(err, ":1: no key 'a'"), "%s", err);
    free(err);
    const char *one = "{\"y\": 1, \"a\": 0.2}\n{\"y\": 1, \"a\": 0.3}\n";
    cr_assert_eq(th_write_file(file, one, strlen(one)), 0);
    cr_expect_eq(th_run(cmd, NULL, NULL, &err), 1);
    cr_expect(err && strstr(err, "both classes"), "one class only: %s", err);
    free(err);
    remove(file), free(file);
}

/* The precondition: with baseline_min_auroc in the check, a baseline RM whose pooled AUROC does
 * not clear it leaves the claim INCONCLUSIVE, whatever the difference; so does a run where no
 * split has both classes. */
Test(verdict, auroc_delta_needs_a_baseline_that_verifies) {
    cJSON *c = claim(), *v;
    cJSON_AddNumberToObject(cJSON_GetObjectItem(c, "mini_check"), "baseline_min_auroc", 0.5);
    cJSON *r = results(0.02, 0.09, 0.001, 5, 5);
    cJSON *pooled = cJSON_GetObjectItem(r, "pooled");
    cJSON_AddItemToObject(pooled, "baseline",
                          cJSON_Parse("{\"mean\": 0.52, \"lo\": 0.47, \"hi\": 0.57}"));
    cr_expect_str_eq(verdict_of(c, r, &v), "INCONCLUSIVE", "a baseline at chance cannot judge");
    const cJSON *why = cJSON_GetObjectItem(v, "reasons");
    int named = 0;
    for (const cJSON *e = why ? why->child : NULL; e; e = e->next)
        named |= strstr(e->valuestring, "precondition") != NULL;
    cr_expect(named, "the reasons name the precondition");
    cJSON_Delete(v);
    cJSON_ReplaceItemInObject(pooled, "baseline",
                              cJSON_Parse("{\"mean\": 0.70, \"lo\": 0.62, \"hi\": 0.78}"));
    cr_expect_str_eq(verdict_of(c, r, &v), "PASS", "a verifying baseline lets the check judge");
    cJSON_Delete(v);
    cJSON_DeleteItemFromObject(pooled, "baseline");
    cr_expect_str_eq(verdict_of(c, r, &v), "INCONCLUSIVE", "no baseline AUROC, no judgement");
    cJSON_Delete(v), cJSON_Delete(r);
    cJSON *none = cJSON_Parse("{\"splits\": [{\"split\": \"a\", \"error\": \"no solution is "
                              "correct: no AUROC\"}]}");
    cr_expect_str_eq(verdict_of(c, none, &v), "INCONCLUSIVE", "no split with both classes");
    cJSON_Delete(v);
    /* a malformed precondition is an error naming the claims file and the key */
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(c, "mini_check"), "baseline_min_auroc",
                              cJSON_CreateString("half"));
    cr_expect_eq(claims_verdict(c, none, "published.json", &v), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "published.json") &&
                  strstr(gc_last_error(), "baseline_min_auroc"),
              "%s", gc_last_error());
    cJSON_Delete(none), cJSON_Delete(c);
}

/* Power: from the run's own noise, the smallest difference the check detects with 80% power. With
 * no seed spread and no per-split rule it is the DeLong test's alone, se (z_0.975 + z_0.8); a
 * check that fails when it could not see the published effect is INCONCLUSIVE, one that passes
 * stays PASS, and one with the power to see it keeps its FAIL. */
static cJSON *powered_results(double se, double sd, double p) {
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"splits\": [{\"split\": \"a\", \"n\": 100, \"n_correct\": 50, \"delta\": "
             "{\"mean\": 0.03}, \"delong\": {\"se\": %g}}],"
             "\"pooled\": {\"delta\": {\"mean\": 0.03, \"lo\": 0.0, \"hi\": 0.06, \"sd\": %g, "
             "\"seeds_positive\": 3, \"seeds\": 3}, \"delong\": {\"diff\": 0.03, \"se\": %g, "
             "\"p\": %g}}}",
             se, sd, se, p);
    return cJSON_Parse(buf);
}

Test(verdict, auroc_delta_reports_its_power) {
    cJSON *c = claim(), *v;
    cJSON *chk = cJSON_GetObjectItem(c, "mini_check");
    cJSON_ReplaceItemInObject(chk, "every_split_positive", cJSON_CreateFalse());
    cJSON_AddNumberToObject(chk, "published_effect", 0.05);
    cJSON *r = powered_results(0.04, 0, 0.3);
    cr_expect_str_eq(verdict_of(c, r, &v), "INCONCLUSIVE", "se 0.04 cannot see 0.05");
    const cJSON *pw = cJSON_GetObjectItem(v, "power");
    cr_assert_not_null(pw);
    double want = 0.04 * (gc_stats_norm_quantile(0.975) + gc_stats_norm_quantile(0.8));
    cr_expect_float_eq(gc_json_num(pw, "detectable", 0), want, 1e-5);
    cr_expect_lt(gc_json_num(pw, "power_at_published", 1), 0.8);
    cJSON_Delete(v), cJSON_Delete(r);
    r = powered_results(0.04, 0, 0.001);
    cr_expect_str_eq(verdict_of(c, r, &v), "PASS", "a significant result passes at any power");
    cJSON_Delete(v), cJSON_Delete(r);
    r = powered_results(0.01, 0, 0.3);
    cr_expect_str_eq(verdict_of(c, r, &v), "FAIL", "se 0.01 sees 0.05: the FAIL stands");
    cJSON_Delete(v), cJSON_Delete(r);
    /* a seed spread lowers the power: with sd 0.05 the three seeds must all be positive */
    r = powered_results(0.01, 0.05, 0.3);
    cr_expect_str_eq(verdict_of(c, r, &v), "INCONCLUSIVE", "seed SD 0.05 over 3 seeds");
    cr_expect_gt(gc_json_num(cJSON_GetObjectItem(v, "power"), "detectable", 0), 0.05);
    cJSON_Delete(v), cJSON_Delete(r);
    /* min_class: a split with too few of a class is not used */
    cJSON_AddNumberToObject(chk, "min_class", 60);
    r = powered_results(0.01, 0, 0.001);
    cr_expect_str_eq(verdict_of(c, r, &v), "INCONCLUSIVE", "no split has 60 of each class");
    cJSON_Delete(v), cJSON_Delete(r), cJSON_Delete(c);
}

/* The power analysis's settings in a claims file: a malformed one is an error naming the file and
 * the key, not a silently ignored precondition. */
Test(verdict, malformed_power_settings_are_errors) {
    static const char *const keys[] = {"min_q_auroc", "published_effect", "max_detectable_drop",
                                       "min_class"};
    cJSON *r = results(0.02, 0.09, 0.001, 5, 5), *v;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        cJSON *c = claim();
        cJSON_AddItemToObject(cJSON_GetObjectItem(c, "mini_check"), keys[k],
                              cJSON_CreateString("much"));
        cr_expect_eq(claims_verdict(c, r, "published.json", &v), GC_ERR_FORMAT, "%s", keys[k]);
        cr_expect(strstr(gc_last_error(), "published.json") && strstr(gc_last_error(), keys[k]),
                  "%s", gc_last_error());
        cJSON_Delete(c);
    }
    cJSON *c = claim();
    cJSON_AddNumberToObject(cJSON_GetObjectItem(c, "mini_check"), "published_effect", 3.0);
    cr_expect_eq(claims_verdict(c, r, "published.json", &v), GC_ERR_FORMAT, "an effect above 1");
    cJSON_Delete(c), cJSON_Delete(r);
}

/* table2's rule: PPO goal - baseline, paired by seed, with the baseline RM's precondition and the
 * paired test's power */
static cJSON *ppo_results_run(double mean, double p, double sd, int seeds, double rm_lo,
                              double acc_end) {
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"ppo_goal_minus_baseline\": {\"mean\": %g, \"lo\": %g, \"hi\": %g, \"sd\": %g, "
             "\"seeds\": %d, \"p\": %g}, \"rm_auroc\": {\"baseline\": {\"mean\": %g, \"lo\": %g, "
             "\"hi\": %g}}, \"ppo_training\": [{\"variant\": \"goal\", \"seed\": 1, "
             "\"reward_start\": 0.1, \"reward_end\": 0.5, \"accuracy_start\": 0.3, "
             "\"accuracy_end\": %g, \"kl_end\": 2, \"reward_hacking\": %s}]}",
             mean, mean - sd, mean + sd, sd, seeds, p, rm_lo + 0.05, rm_lo, rm_lo + 0.1, acc_end,
             acc_end < 0.3 ? "true" : "false");
    return cJSON_Parse(buf);
}

static cJSON *ppo_results(double mean, double p, double sd, int seeds, double rm_lo) {
    return ppo_results_run(mean, p, sd, seeds, rm_lo, 0.4);
}

Test(verdict, ppo_delta_rule) {
    cJSON *c = cJSON_Parse("{\"id\": \"table2\", \"experiment\": \"table2\", \"mini_check\": "
                           "{\"rule\": \"ppo_delta\", \"alpha\": 0.05, \"baseline_min_auroc\": "
                           "0.6, \"published_effect\": 0.017}}");
    cJSON *v, *r = ppo_results(0.03, 0.01, 0.005, 4, 0.7);
    cr_expect_str_eq(verdict_of(c, r, &v), "PASS");
    cJSON_Delete(v), cJSON_Delete(r);
    r = ppo_results(-0.01, 0.04, 0.005, 4, 0.7);
    cr_expect_str_eq(verdict_of(c, r, &v), "FAIL", "a powered check that sees the wrong sign");
    cr_expect_lt(gc_json_num(cJSON_GetObjectItem(v, "power"), "detectable", 1), 0.017);
    cJSON_Delete(v), cJSON_Delete(r);
    r = ppo_results(0.005, 0.6, 0.1, 4, 0.7);
    cr_expect_str_eq(verdict_of(c, r, &v), "INCONCLUSIVE",
                     "a seed SD of 0.1 over 4 seeds cannot see +0.017");
    cJSON_Delete(v), cJSON_Delete(r);
    r = ppo_results(0.03, 0.01, 0.005, 4, 0.55);
    cr_expect_str_eq(verdict_of(c, r, &v), "INCONCLUSIVE", "the baseline RM does not verify");
    cJSON_Delete(v), cJSON_Delete(r);
    r = ppo_results_run(0.03, 0.01, 0.005, 4, 0.7, 0.2);
    cr_expect_str_eq(verdict_of(c, r, &v), "INCONCLUSIVE", "a PPO run lowered its accuracy");
    char *txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(v, "reasons"));
    cr_expect(strstr(txt, "reward hacking") != NULL, "flagged: %s", txt);
    free(txt);
    cJSON_Delete(v), cJSON_Delete(r);
    r = cJSON_Parse("{\"ppo_goal_minus_baseline\": {\"mean\": 0.03, \"seeds\": 1, \"p\": null}, "
                    "\"rm_auroc\": {\"baseline\": {\"lo\": 0.7}}}");
    cr_expect_str_eq(verdict_of(c, r, &v), "INCONCLUSIVE", "one seed has no paired test");
    cJSON_Delete(v), cJSON_Delete(r);
    r = cJSON_Parse("{\"rm_auroc\": {\"baseline\": {\"lo\": 0.7}}}");
    cr_expect_str_eq(verdict_of(c, r, &v), "INCONCLUSIVE", "the PPO arms were not run");
    cJSON_Delete(v), cJSON_Delete(r);
    cJSON_Delete(c);
}

/* the rule's DPO half: equivalent in distribution within dpo_margin, worse out of it */
static cJSON *with_dpo(const char *id, const char *ood) {
    cJSON *r = ppo_results(0.03, 0.01, 0.005, 4, 0.7);
    char buf[256];
    snprintf(buf, sizeof buf,
             "{\"in_distribution\": {\"mean\": 0, \"per_seed\": %s}, \"out_of_distribution\": "
             "{\"mean\": 0, "
             "\"per_seed\": %s}}",
             id, ood);
    cJSON_AddItemToObject(r, "dpo_minus_ppo_goal", cJSON_Parse(buf));
    return r;
}

Test(verdict, ppo_delta_rule_dpo_part) {
    cJSON *c = cJSON_Parse("{\"id\": \"table2\", \"experiment\": \"table2\", \"mini_check\": "
                           "{\"rule\": \"ppo_delta\", \"alpha\": 0.05, \"baseline_min_auroc\": "
                           "0.6, \"published_effect\": 0.017, \"dpo_margin\": 0.05}}");
    cJSON *v, *r = with_dpo("[0.01, -0.01, 0.0, 0.005]", "[-0.1, -0.12, -0.09, -0.11]");
    cr_expect_str_eq(verdict_of(c, r, &v), "PASS");
    cr_expect_lt(gc_json_num(v, "dpo_equivalence_p", 1), 0.05);
    cJSON_Delete(v), cJSON_Delete(r);
    r = with_dpo("[0.2, 0.1, 0.3, 0.15]", "[-0.1, -0.12, -0.09, -0.11]");
    cr_expect_str_eq(verdict_of(c, r, &v), "FAIL", "DPO far above PPO in distribution");
    char *txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(v, "reasons"));
    cr_expect(strstr(txt, "in distribution") != NULL, "%s", txt);
    free(txt);
    cJSON_Delete(v), cJSON_Delete(r);
    r = with_dpo("[0.01, -0.01, 0.0, 0.005]", "[0.1, 0.02, 0.05, 0.04]");
    cr_expect_str_eq(verdict_of(c, r, &v), "FAIL", "DPO not worse out of distribution");
    cJSON_Delete(v), cJSON_Delete(r);
    cJSON_Delete(c);
    c = cJSON_Parse(
        "{\"id\": \"t\", \"mini_check\": {\"rule\": \"ppo_delta\", \"dpo_margin\": 2}}");
    r = with_dpo("[0]", "[0]");
    cr_expect_neq(claims_verdict(c, r, "claims.json", &v), GC_OK, "a margin out of range");
    cJSON_Delete(r), cJSON_Delete(c);
}

/* table3a's rule: pairwise accuracy, goal - baseline, paired bootstrap over pairs, with the
 * baseline's precondition and the power of the bootstrap at the published +0.023 */
static cJSON *acc_results(double base_lo, double mean, double p, double se) {
    char text[512];
    snprintf(text, sizeof text,
             "{\"pairs\": 2312, \"accuracy\": {\"baseline\": {\"mean\": %g, \"pairs_lo\": %g, "
             "\"pairs_hi\": %g}}, \"diff\": {\"mean\": %g, \"lo\": %g, \"hi\": %g, \"p\": %g, "
             "\"se\": %g}}",
             base_lo + 0.02, base_lo, base_lo + 0.04, mean, mean - 1.96 * se, mean + 1.96 * se, p,
             se);
    cJSON *r = cJSON_Parse(text);
    cr_assert_not_null(r);
    return r;
}

static const char *accuracy_verdict(double base_lo, double mean, double p, double se) {
    static char word[32];
    cJSON *c = th_claim("table3a"), *r = acc_results(base_lo, mean, p, se), *v = NULL;
    cr_assert_eq(claims_verdict(c, r, "published.json", &v), GC_OK, "%s", gc_last_error());
    snprintf(word, sizeof word, "%s", cJSON_GetObjectItem(v, "verdict")->valuestring);
    cJSON_Delete(c), cJSON_Delete(r), cJSON_Delete(v);
    return word;
}

Test(verdict, accuracy_delta_rule) {
    cr_expect_str_eq(accuracy_verdict(0.55, 0.03, 0.01, 0.005), "PASS");
    cr_expect_str_eq(accuracy_verdict(0.55, -0.003, 0.52, 0.005), "FAIL", "powered, no effect");
    cr_expect_str_eq(accuracy_verdict(0.55, -0.01, 0.8, 0.05), "INCONCLUSIVE", "underpowered");
    cr_expect_str_eq(accuracy_verdict(0.48, 0.03, 0.01, 0.005), "INCONCLUSIVE",
                     "the baseline does not verify");
    cr_expect_str_eq(accuracy_verdict(0.55, 0.03, 0.2, 0.005), "FAIL", "not significant");
    /* a malformed precondition in the claims file is an error naming the key */
    static const char *const bad[] = {"\"much\"", "2.0"};
    cJSON *r = acc_results(0.55, 0.03, 0.01, 0.005), *v = NULL;
    for (int i = 0; i < 2; i++) {
        cJSON *c = th_claim("table3a");
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(c, "mini_check"), "baseline_min_accuracy",
                                  cJSON_Parse(bad[i]));
        cr_expect_eq(claims_verdict(c, r, "published.json", &v), GC_ERR_FORMAT, "%s", bad[i]);
        cr_expect(strstr(gc_last_error(), "baseline_min_accuracy"), "%s", gc_last_error());
        cJSON_Delete(c);
    }
    /* results without the difference: judged, not a crash */
    cJSON *c = th_claim("table3a"), *empty = cJSON_Parse("{}");
    cr_assert_eq(claims_verdict(c, empty, "published.json", &v), GC_OK);
    cr_expect_str_eq(cJSON_GetObjectItem(v, "verdict")->valuestring, "INCONCLUSIVE");
    cJSON_Delete(v), cJSON_Delete(c), cJSON_Delete(empty), cJSON_Delete(r);
}
