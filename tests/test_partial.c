/* fig3 (AUROC on partial generations) at smoke scale: it shares every stage with fig2 but its
 * own partial-* stages; at p = 1 its reward curve is fig2's AUROC, seed by seed; its files are
 * complete; bad partial sections are refused; the "rises_with_p" verdict rule on synthetic curves;
 * the experiment files of the math claims agree on their shared sections. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/util/base.h"
#include "lib/util/jsonio.h"
#include "lib/util/config.h"
#include "replicate/claims/verdict.h"
#include "helpers.h"

static const cJSON *item(const cJSON *o, const char *k) {
    return cJSON_GetObjectItem(o, k);
}

Test(partial, fig3_smoke_shares_fig2_stages_and_matches_it_at_p1, .timeout = 120) {
    char *root = th_tmp_path("runs3");
    char *out = NULL, *err = NULL;
    cr_assert_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 2", &out, &err), 0, "%s",
                 err);
    free(out), free(err);
    cr_assert_eq(th_run_smoke("experiments/fig3.json", root, "--seeds 2", &out, &err), 0, "%s",
                 err);
    cr_expect_eq(th_count_rerun(err, ""), 4, "fig3 should only add 2 x 2 partial stages:\n%s", err);
    cr_expect_eq(th_count_rerun(err, "partial-"), 4);
    cr_expect(strstr(out, "verdict:") != NULL);
    free(out), free(err);

    char path[1024];
    cJSON *r2, *r3;
    snprintf(path, sizeof path, "%s/fig2/smoke/results.json", root);
    cr_assert_eq(gc_json_read(path, &r2), GC_OK);
    snprintf(path, sizeof path, "%s/fig3/smoke/results.json", root);
    cr_assert_eq(gc_json_read(path, &r3), GC_OK);
    const cJSON *pr = item(r3, "partial"), *curves = item(pr, "curves");
    cr_assert_eq(cJSON_GetArraySize(curves), 4, "baseline and goal, reward and Q-value");
    cr_assert_eq(cJSON_GetArraySize(item(pr, "p")), 11);
    for (const cJSON *c = curves->child; c; c = c->next) {
        cr_expect_eq(cJSON_GetArraySize(item(c, "per_seed")), 2);
        for (int i = 0; i < 11; i++) {
            double m = cJSON_GetArrayItem(item(c, "boot_auroc"), i)->valuedouble;
            double lo = cJSON_GetArrayItem(item(c, "boot_lo"), i)->valuedouble;
            double hi = cJSON_GetArrayItem(item(c, "boot_hi"), i)->valuedouble;
            cr_expect(lo <= m + 1e-12 && m <= hi + 1e-12 && lo >= 0 && hi <= 1,
                      "bootstrap CI [%g, %g] around %g", lo, hi, m);
        }
    }
    /* a malformed score file (recorded as the stage's output: a damaged one fails its checksum)
     * is an error naming the file and the key */
    char cmd[2048];
    snprintf(
        cmd, sizeof cmd,
        "cp $(ls %s/cache/partial-goal-seed1-*/partial.json) %s/p.bak && "
        "echo '{\"reward\": [0.5], \"q\": []}' > $(ls %s/cache/partial-goal-seed1-*/partial.json)",
        root, root, root);
    cr_assert_eq(system(cmd), 0);
    th_rerecord(root, "partial-goal-seed1"); /* as if the stage had written it */
    cr_expect_eq(th_run_smoke("experiments/fig3.json", root, "--seeds 2", &out, &err), 1,
                 "a truncated partial.json was accepted");
    cr_expect(err && strstr(err, "partial.json") && strstr(err, "'reward' holds 1 entries"), "%s",
              err);
    free(out), free(err);
    snprintf(cmd, sizeof cmd, "cp %s/p.bak $(ls %s/cache/partial-goal-seed1-*/partial.json)", root,
             root);
    cr_assert_eq(system(cmd), 0);
    th_rerecord(root, "partial-goal-seed1");
    /* p = 1 scores the whole response at its EOS, which is fig2's reward: over every split
     * (no "splits" key) fig3's AUROC at p = 1 is fig2's pooled AUROC, seed by seed */
    cJSON_Delete(r3);
    char *file = th_experiment_with("experiments/fig3.json", "scales.smoke.partial.splits", "null");
    cr_assert_eq(th_run_smoke(file, root, "--seeds 2", &out, &err), 0, "%s", err);
    free(out), free(err);
    cr_assert_eq(gc_json_read(path, &r3), GC_OK);
    const cJSON *pooled = item(r2, "pooled");
    for (const cJSON *c = item(item(r3, "partial"), "curves")->child; c; c = c->next) {
        if (strcmp(item(c, "score")->valuestring, "reward")) continue;
        const cJSON *per = item(c, "per_seed");
        const cJSON *want = item(item(pooled, item(c, "variant")->valuestring), "auroc");
        for (int s = 0; s < 2; s++) {
            double got = cJSON_GetArrayItem(cJSON_GetArrayItem(per, s), 10)->valuedouble;
            cr_expect_float_eq(got, cJSON_GetArrayItem(want, s)->valuedouble, 1e-9,
                               "%s seed %d: AUROC at p = 1 %.6f, fig2 %.6f",
                               item(c, "variant")->valuestring, s + 1, got,
                               cJSON_GetArrayItem(want, s)->valuedouble);
        }
    }
    cJSON_Delete(r2), cJSON_Delete(r3);
    snprintf(path, sizeof path, "rm -rf %s %s", root, file);
    cr_expect_eq(system(path), 0);
    th_rm_tree(root);
    free(root), free(file);
}

Test(partial, bad_partial_sections) {
    const char *f3 = "experiments/fig3.json";
    th_expect_bad_experiment(f3, "scales.smoke.partial.points", "2", "scales.smoke.partial.points",
                             "out of range");
    th_expect_bad_experiment(f3, "scales.smoke.partial.pointz", "3", "scales.smoke.partial.pointz",
                             "unknown key");
    th_expect_bad_experiment(f3, "scales.smoke.partial.splits", "[\"arith-hardest\"]",
                             "scales.smoke.partial.splits", "data.splits");
    th_expect_bad_experiment(f3, "analysis", "\"auroc\"", "partial", "analysis");
    th_expect_bad_experiment(f3, "analysis", "\"partiel\"", "key 'analysis'", "auroc|partial");
}

/* The math claims run one pipeline: their experiment files must agree on every shared section,
 * or they would not share (and be comparable through) the cached policy and reward models. */
Test(partial, math_experiments_share_their_sections) {
    const char *files[] = {"experiments/fig2.json", "experiments/fig3.json",
                           "experiments/table1.json", "experiments/ablations.json",
                           "experiments/ablation-goal-token.json"};
    const char *sections[] = {"data", "policy", "pairs", "rm", "eval"};
    enum { NF = sizeof files / sizeof files[0] };
    cJSON *doc[NF];
    for (int f = 0; f < NF; f++) {
        gc_config c;
        cr_assert_eq(gc_config_load(&c, files[f]), GC_OK, "%s", gc_last_error());
        doc[f] = cJSON_Duplicate(c.root, 1);
        gc_config_free(&c);
        for (cJSON *sc = cJSON_GetObjectItem(doc[f], "scales")->child; sc; sc = sc->next)
            cJSON_DeleteItemFromObject(cJSON_GetObjectItem(sc, "rm"),
                                       "variants"); /* the ablations */
        /* the full scale's shared stages, less the ablations' variants */
        cJSON *stages = cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(doc[f], "scales"), "full"), "stages");
        for (cJSON *st = stages ? stages->child : NULL; st; st = st->next)
            cJSON_DeleteItemFromObject(st, "variants");
    }
    for (int f = 1; f < NF; f++)
        for (const cJSON *sc = item(doc[0], "scales")->child; sc; sc = sc->next) {
            const cJSON *other = item(item(doc[f], "scales"), sc->string);
            cr_assert_not_null(other, "%s lacks scale %s", files[f], sc->string);
            if (!strcmp(sc->string, "full")) {
                /* the model, the pairs and the reward models of base/math.json; the sampled
                 * solutions and their scoring of fig3 in every file but fig2, which has its
                 * predictions and their scoring instead */
                static const char *const shared[] = {
                    "models.math",   "data.pairs",           "stages.rm", "data.vote-questions",
                    "stages.sample", "stages.score-samples", "data.eval", "stages.score-eval"};
                const cJSON *ref = item(item(doc[1], "scales"), "full");
                for (int k = 0; k < 8; k++) {
                    char sec[32];
                    snprintf(sec, sizeof sec, "%s", shared[k]);
                    char *dot = strchr(sec, '.');
                    *dot = 0;
                    const cJSON *base = k < 3 ? sc : ref; /* fig2's, or fig3's */
                    const cJSON *a = item(item(base, sec), dot + 1),
                                *b = item(item(other, sec), dot + 1);
                    if (k >= 6) { /* fig2's evaluation: in fig2 only */
                        cr_expect(item(item(sc, sec), dot + 1) && !b, "scale full: %s in %s",
                                  shared[k], files[f]);
                        continue;
                    }
                    cr_expect(a && cJSON_Compare(a, b, 1),
                              "scale full, %s differs between %s and %s", shared[k],
                              k < 3 ? files[0] : files[1], files[f]);
                }
                continue;
            }
            for (int k = 0; k < 5; k++)
                cr_expect(cJSON_Compare(item(sc, sections[k]), item(other, sections[k]), 1),
                          "scale %s, section %s differs between %s and %s", sc->string, sections[k],
                          files[0], files[f]);
        }
    for (int f = 0; f < NF; f++)
        cJSON_Delete(doc[f]);
}

/* ---- the verdict rule ---- */

/* results with a baseline curve and a goal curve of 11 points (mean), Spearman rho */
static cJSON *curve_results(const double *mean, double rho, int rising, int seeds) {
    char buf[2048];
    int n = snprintf(buf, sizeof buf,
                     "{\"partial\": {\"curves\": [{\"variant\": \"baseline\", "
                     "\"score\": \"reward\", \"spearman\": 1, \"seeds_rising\": 3, \"seeds\": 3, "
                     "\"mean\": [0.5, 0.9]}, {\"variant\": \"goal\", \"score\": \"reward\", "
                     "\"spearman\": %g, \"seeds_rising\": %d, \"seeds\": %d, \"mean\": [",
                     rho, rising, seeds);
    for (int i = 0; i < 11; i++)
        n += snprintf(buf + n, sizeof buf - n, "%s%g", i ? ", " : "", mean[i]);
    snprintf(buf + n, sizeof buf - n, "]}]}}");
    return cJSON_Parse(buf);
}

Test(verdict, rises_with_p_rule) {
    cJSON *c = cJSON_Parse("{\"id\": \"fig3\", \"mini_check\": {\"rule\": \"rises_with_p\", "
                           "\"variant\": \"goal\", \"score\": \"reward\", \"min_spearman\": 0.8, "
                           "\"min_seed_fraction\": 0.8}}");
    double up[11] = {.5, .52, .55, .58, .6, .63, .66, .7, .72, .75, .8};
    cJSON *r = curve_results(up, 1.0, 3, 3), *v;
    cr_assert_eq(claims_verdict(c, r, "published.json", &v), GC_OK, "%s", gc_last_error());
    cr_expect_str_eq(cJSON_GetStringValue(item(v, "verdict")), "PASS");
    cr_expect_float_eq(gc_json_num(v, "measured", 0), 1.0, 1e-9);
    cr_expect(strstr(cJSON_GetStringValue(item(v, "summary")), "0.520 at p = 0.1") != NULL, "%s",
              cJSON_GetStringValue(item(v, "summary")));
    cJSON_Delete(v), cJSON_Delete(r);
    r = curve_results(up, 1.0, 2, 3); /* 2 of 3 seeds rising: below 80% */
    cr_assert_eq(claims_verdict(c, r, "published.json", &v), GC_OK);
    cr_expect_str_eq(cJSON_GetStringValue(item(v, "verdict")), "FAIL");
    cJSON_Delete(v), cJSON_Delete(r);
    double flat[11] = {.6, .5, .6, .5, .6, .5, .6, .5, .6, .5, .6};
    r = curve_results(flat, 0.0, 3, 3);
    cr_assert_eq(claims_verdict(c, r, "published.json", &v), GC_OK);
    cr_expect_str_eq(cJSON_GetStringValue(item(v, "verdict")), "FAIL",
                     "a flat curve does not rise");
    cJSON_Delete(v), cJSON_Delete(r);
    /* the precondition: the baseline's curve at p = 1 must clear baseline_min_auroc */
    cJSON_AddNumberToObject(cJSON_GetObjectItem(c, "mini_check"), "baseline_min_auroc", 0.5);
    r = curve_results(up, 1.0, 3, 3);
    cJSON *base = cJSON_GetArrayItem(item(item(r, "partial"), "curves"), 0);
    cJSON_AddItemToObject(base, "lo", cJSON_Parse("[0.4, 0.45]"));
    cJSON_AddItemToObject(base, "hi", cJSON_Parse("[0.6, 0.62]"));
    cr_assert_eq(claims_verdict(c, r, "published.json", &v), GC_OK);
    cr_expect_str_eq(cJSON_GetStringValue(item(v, "verdict")), "INCONCLUSIVE",
                     "a baseline at chance at p = 1 cannot judge the curve");
    cJSON_Delete(v);
    cJSON_ReplaceItemInObject(base, "lo", cJSON_Parse("[0.4, 0.8]"));
    cr_assert_eq(claims_verdict(c, r, "published.json", &v), GC_OK);
    cr_expect_str_eq(cJSON_GetStringValue(item(v, "verdict")), "PASS");
    cJSON_Delete(v), cJSON_Delete(r);
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(c, "mini_check"), "baseline_min_auroc");
    cJSON *missing = cJSON_Parse("{\"partial\": {\"curves\": []}}");
    cr_assert_eq(claims_verdict(c, missing, "published.json", &v), GC_OK);
    cr_expect_str_eq(cJSON_GetStringValue(item(v, "verdict")), "FAIL", "no curve, no pass");
    cJSON_Delete(v), cJSON_Delete(missing), cJSON_Delete(c);
}

/* The ablations at smoke scale: the baseline and goal reward models come from fig2's cache, each
 * ablation trains its own; bad variant lists are refused. */
Test(partial, ablations_smoke_and_bad_variants, .timeout = 180) {
    char *root = th_tmp_path("runsab");
    char *out = NULL, *err = NULL;
    cr_assert_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 1", &out, &err), 0, "%s",
                 err);
    free(out), free(err);
    cr_assert_eq(th_run_smoke("experiments/ablations.json", root, "--seeds 1", &out, &err), 0, "%s",
                 err);
    cr_expect_eq(th_count_rerun(err, "rm-"), 5, "five ablation RMs, baseline and goal cached:\n%s",
                 err);
    cr_expect(strstr(out, "correlation of Q-values with rewards") != NULL);
    free(out), free(err);
    char path[1024];
    snprintf(path, sizeof path, "%s/ablations/smoke/results.json", root);
    cJSON *r;
    cr_assert_eq(gc_json_read(path, &r), GC_OK);
    const cJSON *pr = item(r, "partial");
    cr_expect_eq(cJSON_GetArraySize(item(pr, "curves")), 14, "7 variants x reward and Q-value");
    cr_expect_eq(cJSON_GetArraySize(item(pr, "q_reward_correlation")), 7);
    cr_expect_null(item(r, "verdict"), "the ablations have no published direction to check");
    cJSON_Delete(r);
    cr_assert_eq(
        th_run_smoke("experiments/ablation-goal-token.json", root, "--seeds 1", &out, &err), 0,
        "%s", err);
    cr_expect_eq(th_count_rerun(err, "goalrand-"), 1);
    free(out), free(err);
    snprintf(path, sizeof path, "%s/ablation-goal-token/smoke/results.json", root);
    cr_assert_eq(gc_json_read(path, &r), GC_OK);
    const cJSON *vr = item(r, "vote");
    cr_expect_str_eq(item(vr, "goal_token")->valuestring, "random");
    cr_expect_eq(cJSON_GetArraySize(item(vr, "variants")), 1, "the goal-conditioned RM only");
    cJSON_Delete(r);
    snprintf(path, sizeof path, "rm -rf %s", root);
    cr_expect_eq(system(path), 0);
    th_rm_tree(root);
    free(root);

    const char *f = "experiments/ablations.json";
    const char *v3 = "scales.smoke.rm.variants[3]", *v6 = "scales.smoke.rm.variants[6]";
    th_expect_bad_experiment(f, v3, "{\"name\": \"late\", \"positions\": \"early\"}", "positions",
                             "uniform|late");
    th_expect_bad_experiment(f, v3, "{\"name\": \"ordered\", \"positions\": \"late\"}", "ordered",
                             "twice");
    th_expect_bad_experiment(f, "scales.smoke.rm.variants[1]", "{\"name\": \"second\"}", "variants",
                             "one \"baseline\" and one \"goal\"");
    th_expect_bad_experiment(f, v6, "{\"name\": \"mlp-head\", \"head\": \"mlp\", \"depth\": 3}",
                             "depth", "unknown key");
    th_expect_bad_experiment(f, v6, "\"bigger\"", "bigger", "unknown variant");
    th_expect_bad_experiment(f, v6, "{\"name\": \"mlp-head\", \"head\": \"tree\"}", "head",
                             "linear|mlp");
    th_expect_bad_experiment(f, "scales.smoke.rm.goal_sampling", "\"all\"",
                             "scales.smoke.rm.goal_sampling", "random|single|averaged");
}
