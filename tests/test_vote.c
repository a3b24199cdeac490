/* Majority voting with Q-value filtering on hand-made cases: ties, the "no answer" bucket, no
 * survivors (fallback to all), token accounting, and cuts from record lows. */
#include <criterion/criterion.h>

#include "lib/rm/vote.h"

static gc_vote_sample smp(int64_t answer, int n_gen, int cut) {
    return (gc_vote_sample){.n_gen = n_gen, .has_answer = 1, .answer = answer, .cut = cut};
}

Test(vote, ties_count_by_expected_value) {
    gc_vote_sample s[5] = {smp(3, 10, -1), smp(3, 10, -1), smp(4, 10, -1), smp(4, 10, -1),
                           smp(5, 10, -1)};
    gc_vote_result r;
    gc_vote_question(s, 5, 3, &r);
    cr_expect_float_eq(r.correct, 0.5, 1e-12, "3 and 4 tie: half a correct answer");
    cr_expect_float_eq(r.prop_correct, 0.4, 1e-12);
    cr_expect_eq(r.voters, 5);
    cr_expect_eq(r.filtered, 0);
    cr_expect_eq(r.saved, 0);
    cr_expect_eq(r.generated, 50);
    gc_vote_question(s, 5, 5, &r);
    cr_expect_float_eq(r.correct, 0.0, 1e-12, "a minority answer loses");
    s[4] = smp(3, 10, -1);
    gc_vote_question(s, 5, 3, &r);
    cr_expect_float_eq(r.correct, 1.0, 1e-12, "3 beats 4 by 3 to 2");
}

Test(vote, filtering_and_token_accounting) {
    /* the two right answers are cut: the survivors vote 4 */
    gc_vote_sample s[5] = {smp(3, 10, 3), smp(3, 20, 0), smp(4, 10, -1), smp(4, 12, -1),
                           smp(5, 8, -1)};
    gc_vote_result r;
    gc_vote_question(s, 5, 3, &r);
    cr_expect_float_eq(r.correct, 0.0, 1e-12);
    cr_expect_eq(r.voters, 3);
    cr_expect_eq(r.filtered, 2);
    cr_expect_eq(r.generated, 60);
    cr_expect_eq(r.saved, (10 - 4) + (20 - 1), "tokens after each cut are saved");
    cr_expect_float_eq(r.prop_correct, 0.0, 1e-12);
    /* nobody survives: all vote, nothing saved or filtered */
    for (int i = 0; i < 5; i++)
        s[i].cut = 1;
    gc_vote_question(s, 5, 3, &r);
    cr_expect_eq(r.voters, 5);
    cr_expect_eq(r.filtered, 0);
    cr_expect_eq(r.saved, 0);
    cr_expect_float_eq(r.correct, 0.5, 1e-12, "fallback to all: 3 and 4 tie");
}

Test(vote, no_answer_is_a_bucket_that_is_never_right) {
    gc_vote_sample s[5] = {smp(0, 5, -1), smp(0, 5, -1), smp(0, 5, -1), smp(3, 5, -1),
                           smp(3, 5, -1)};
    for (int i = 0; i < 3; i++)
        s[i].has_answer = 0;
    gc_vote_result r;
    gc_vote_question(s, 5, 0, &r);
    cr_expect_float_eq(r.correct, 0.0, 1e-12, "three unreadable answers outvote two 3s");
    cr_expect_float_eq(r.prop_correct, 0.0, 1e-12, "an unreadable answer never matches, even 0");
    gc_vote_question(s, 5, 3, &r);
    cr_expect_float_eq(r.correct, 0.0, 1e-12);
    cr_expect_float_eq(r.prop_correct, 0.4, 1e-12);
}

Test(vote, cuts_from_record_lows) {
    float q[7] = {0.9f, 0.1f, 0.5f, 0.6f, 0.3f, 0.4f, -0.2f};
    int lj[7];
    float lq[7];
    int n = gc_vote_record_lows(q, 7, 2, lj, lq);
    cr_assert_eq(n, 3, "lows at 2, 4, 6 (index 1 is skipped)");
    cr_expect(lj[0] == 2 && lj[1] == 4 && lj[2] == 6);
    cr_expect_eq(gc_vote_cut(lj, lq, n, 0.0f), 6);
    cr_expect_eq(gc_vote_cut(lj, lq, n, 0.4f), 4);
    cr_expect_eq(gc_vote_cut(lj, lq, n, 0.55f), 2);
    cr_expect_eq(gc_vote_cut(lj, lq, n, -0.5f), -1, "nothing below: survives");
    /* the cut from lows equals the first index >= skip below tau, for any tau */
    for (float tau = -1.0f; tau <= 1.0f; tau += 0.05f) {
        int want = -1;
        for (int j = 2; j < 7 && want < 0; j++)
            if (q[j] < tau) want = j;
        cr_expect_eq(gc_vote_cut(lj, lq, n, tau), want, "tau %g", tau);
    }
    cr_expect_eq(gc_vote_record_lows(q, 2, 5, lj, lq), 0, "all skipped");
}

/* ---- table1 at smoke scale ---- */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/util/base.h"
#include "lib/stats/stats.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/verdict.h"
#include "helpers.h"

static const cJSON *item(const cJSON *o, const char *k) {
    return cJSON_GetObjectItem(o, k);
}

Test(vote, table1_smoke_end_to_end_online_matches_offline, .timeout = 120) {
    char *root = th_tmp_path("runs1");
    char *out = NULL, *err = NULL;
    cr_assert_eq(th_run_smoke("experiments/fig2.json", root, "--seeds 2", &out, &err), 0, "%s",
                 err);
    free(out), free(err);
    cr_assert_eq(th_run_smoke("experiments/table1.json", root, "--seeds 2", &out, &err), 0, "%s",
                 err);
    cr_expect_eq(th_count_rerun(err, ""), 1 + 4 + 2,
                 "table1 adds its samples, 2 x 2 Q-value scans and 2 online runs:\n%s", err);
    cr_expect(strstr(out, "verdict:") != NULL);
    free(out), free(err);
    char path[1024];
    snprintf(path, sizeof path, "%s/table1/smoke/results.json", root);
    cJSON *r;
    cr_assert_eq(gc_json_read(path, &r), GC_OK);
    const cJSON *vr = item(r, "vote"), *vars = item(vr, "variants");
    cr_assert_eq(cJSON_GetArraySize(vars), 2);
    cr_expect_eq(item(vr, "samples")->valueint, 4);
    for (const cJSON *v = vars->child; v; v = v->next) {
        cr_expect_eq(cJSON_GetArraySize(item(v, "sweep")), 3 + 2, "3 taus and 2 quantiles");
        const cJSON *q50 = cJSON_GetArrayItem(item(v, "sweep"), 4);
        cr_expect_float_eq(item(q50, "quantile")->valuedouble, 0.5, 1e-12);
        for (const cJSON *e = item(v, "sweep")->child; e; e = e->next) {
            double sv = item(e, "saved_pct")->valuedouble, f = item(e, "filtered_pct")->valuedouble;
            cr_expect(sv >= 0 && sv <= 100 && f >= 0 && f <= 100, "saved %g filtered %g", sv, f);
            cr_expect(sv == 0 || f > 0, "tokens saved only by cutting solutions");
        }
        const cJSON *on = item(v, "online");
        cr_assert_not_null(on, "online run missing");
        cr_expect(cJSON_IsTrue(item(on, "filtered_are_prefixes")),
                  "online solutions are prefixes of the unfiltered ones");
        cr_expect_float_eq(item(on, "cut_agreement_with_offline")->valuedouble, 1.0, 1e-12,
                           "the online cuts are the offline ones");
        cr_expect_leq(item(on, "tokens_filtered")->valuedouble,
                      item(on, "tokens_unfiltered")->valuedouble);
    }
    cJSON_Delete(r);
    /* a malformed Q-value file (recorded as the stage's output) is an error naming it, not a
     * crash */
    snprintf(path, sizeof path,
             "echo '{\"lows\": [[1, 0.5]]}' > $(ls %s/cache/qlows-goal-seed1-*/lows.json)", root);
    cr_assert_eq(system(path), 0);
    th_rerecord(root, "qlows-goal-seed1"); /* as if the stage had written it */
    cr_expect_eq(th_run_smoke("experiments/table1.json", root, "--seeds 2", &out, &err), 1,
                 "a truncated lows.json was accepted");
    cr_expect(err && strstr(err, "lows.json") && strstr(err, "'lows'"), "%s", err);
    free(out), free(err);
    snprintf(path, sizeof path, "%s/table1/smoke/table1.dat", root);
    char *dat;
    cr_assert_eq(gc_read_file(path, &dat, NULL), GC_OK);
    int lines = 0;
    for (char *p = dat; (p = strchr(p, '\n')); p++)
        lines++;
    cr_expect_eq(lines, 2 + 5, "a header and one row per sweep point");
    free(dat);
    snprintf(path, sizeof path, "rm -rf %s", root);
    cr_expect_eq(system(path), 0);
    th_rm_tree(root);
    free(root);
}

Test(vote, bad_vote_sections) {
    const char *f = "experiments/table1.json";
    th_expect_bad_experiment(f, "scales.smoke.vote.taus", "[-0.5, 2]", "scales.smoke.vote.taus",
                             "[-1, 1]");
    th_expect_bad_experiment(f, "scales.smoke.vote.tau_quantiles", "[0, 0.5]",
                             "scales.smoke.vote.tau_quantiles", "(0, 1)");
    th_expect_bad_experiment(f, "scales.smoke.vote.samples", "0", "scales.smoke.vote.samples",
                             "out of range");
    th_expect_bad_experiment(f, "scales.smoke.vote.skipp", "5", "scales.smoke.vote.skipp",
                             "unknown key");
    th_expect_bad_experiment(f, "analysis", "\"auroc\"", "vote", "analysis");
    th_expect_bad_experiment(f, "scales.smoke.vote.variants", "[\"goal\", \"best\"]",
                             "scales.smoke.vote.variants", "variant names");
    th_expect_bad_experiment(f, "scales.smoke.vote.goal", "\"first\"", "scales.smoke.vote.goal",
                             "last|random");
    th_expect_bad_experiment(f, "scales.smoke.vote.taus", "0.5", "scales.smoke.vote.taus",
                             "expected an array");
}

static cJSON *vote_results(double saved, double diff, double p) {
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"vote\": {\"unfiltered\": {\"accuracy\": 0.6}, \"variants\": ["
             "{\"variant\": \"goal\", \"saved_pct\": {\"mean\": %g, \"lo\": 0, \"hi\": 50}, "
             "\"accuracy\": {\"mean\": 0.6}, \"ttest_paired\": {\"mean_diff\": %g, \"p\": %g}}]}}",
             saved, diff, p);
    return cJSON_Parse(buf);
}

Test(verdict, filter_saves_rule) {
    cJSON *c = cJSON_Parse("{\"id\": \"table1\", \"mini_check\": {\"rule\": \"filter_saves\", "
                           "\"variant\": \"goal\", \"min_saved_pct\": 10, \"alpha\": 0.05}}");
    struct {
        double saved, diff, p;
        const char *want, *why;
    } cases[] = {
        {30, -0.01, 0.4, "PASS", "a non-significant drop keeps accuracy"},
        {30, 0.02, 0.001, "PASS", "a significant gain is no loss"},
        {30, -0.05, 0.01, "FAIL", "a significant drop fails"},
        {5, 0.0, 1.0, "FAIL", "5% saved is below 10%"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *r = vote_results(cases[i].saved, cases[i].diff, cases[i].p), *v;
        cr_assert_eq(claims_verdict(c, r, "published.json", &v), GC_OK, "%s", gc_last_error());
        cr_expect_str_eq(cJSON_GetStringValue(item(v, "verdict")), cases[i].want, "%s",
                         cases[i].why);
        cJSON_Delete(v), cJSON_Delete(r);
    }
    cJSON_Delete(c);
}

/* table1's preconditions: the Q-values must classify samples (min_q_auroc), and a PASS needs a
 * paired test that could see a drop of max_detectable_drop; too few tokens saved fails either
 * way once the Q-values work. */
Test(verdict, filter_saves_needs_working_q_values_and_power) {
    cJSON *c = cJSON_Parse("{\"id\": \"table1\", \"mini_check\": {\"rule\": \"filter_saves\", "
                           "\"variant\": \"goal\", \"min_saved_pct\": 10, \"alpha\": 0.05, "
                           "\"min_q_auroc\": 0.6, \"max_detectable_drop\": 0.05}}");
    struct {
        double saved, q_lo, t;
        const char *want, *why;
    } cases[] = {
        {30, 0.7, -1.0, "PASS", "working Q-values, a test that sees 5 points"},
        {30, 0.55, -1.0, "INCONCLUSIVE", "Q-values at chance cannot judge"},
        {5, 0.55, -1.0, "INCONCLUSIVE", "nor can they fail the claim"},
        {5, 0.7, -0.05, "FAIL", "too few tokens saved, whatever the power"},
        {30, 0.7, -0.05, "INCONCLUSIVE", "se 0.2: the test could not see a 5-point drop"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[1024];
        snprintf(buf, sizeof buf,
                 "{\"vote\": {\"unfiltered\": {\"accuracy\": 0.6}, \"variants\": [{\"variant\": "
                 "\"goal\", \"saved_pct\": {\"mean\": %g, \"lo\": 0, \"hi\": 50}, \"accuracy\": "
                 "{\"mean\": 0.6}, \"min_q_auroc\": {\"mean\": 0.7, \"lo\": %g, \"hi\": 0.8}, "
                 "\"ttest_paired\": {\"mean_diff\": -0.01, \"t\": %g, \"df\": 199, \"p\": 0.6}}]}}",
                 cases[i].saved, cases[i].q_lo, cases[i].t);
        cJSON *r = cJSON_Parse(buf), *v;
        cr_assert_eq(claims_verdict(c, r, "published.json", &v), GC_OK, "%s", gc_last_error());
        cr_expect_str_eq(cJSON_GetStringValue(item(v, "verdict")), cases[i].want, "%s",
                         cases[i].why);
        double se = 0.01 / fabs(cases[i].t);
        cr_expect_float_eq(gc_json_num(item(v, "power"), "detectable", 0),
                           se * (gc_stats_t_quantile(0.975, 199) + gc_stats_t_quantile(0.8, 199)),
                           1e-9, "the paired test's smallest detectable drop");
        cJSON_Delete(v), cJSON_Delete(r);
    }
    cJSON_Delete(c);
}
