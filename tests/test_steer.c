/* table3b (replicate/math/steer.c): guided decoding against the SFT baseline at smoke scale, end to
 * end and deterministic, and the same on the CUDA backend; the stories' prototype is the pool's
 * best rated by the judges' own scorers; bad configurations named; the verdict rule "win_rate" on
 * synthetic results (PASS, FAIL, the preconditions, power, malformed claims). */
#include <criterion/criterion.h>
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "helpers.h"
#include "lib/tasks/story.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/verdict.h"

static const char *const T3B = "experiments/table3b.json";

/* the directory of the one cached instance of stage `name` under root's cache */
static void stage_dir(const char *root, const char *name, char *out, size_t cap) {
    char pat[1200];
    snprintf(pat, sizeof pat, "%s/cache/%s-????????????????", root, name); /* not its .lock */
    glob_t g;
    cr_assert_eq(glob(pat, 0, NULL, &g), 0, "no stage %s", pat);
    cr_assert_eq(g.gl_pathc, 1, "%zu instances of %s", g.gl_pathc, name);
    snprintf(out, cap, "%s", g.gl_pathv[0]);
    globfree(&g);
}

/* the pool's scores agree with the scorers, and no example outside the prototype is rated above
 * one inside it (its lowest mid-rank percentile over the attributes) */
static void expect_prototype_is_best_rated(const char *root) {
    char dir[1200], path[1300];
    stage_dir(root, "steer-stories-pool", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/pool.json", dir);
    cJSON *doc;
    cr_assert_eq(gc_json_read(path, &doc), GC_OK, "%s", gc_last_error());
    const cJSON *pool = cJSON_GetObjectItem(doc, "pool"),
                *proto = cJSON_GetObjectItem(doc, "prototype");
    int n = cJSON_GetArraySize(pool);
    cr_assert_gt(n, 0);
    double score[64][GC_STORY_ATTRIBUTES], rating[64];
    cr_assert_leq(n, 64);
    for (int i = 0; i < n; i++) {
        const cJSON *it = cJSON_GetArrayItem(pool, i);
        const char *text = cJSON_GetObjectItem(it, "text")->valuestring;
        for (int a = 0; a < GC_STORY_ATTRIBUTES; a++) {
            score[i][a] = gc_story_score(text, a);
            const cJSON *x = cJSON_GetObjectItem(it, gc_story_attribute_name(a));
            if (isnan(score[i][a]))
                cr_expect(cJSON_IsNull(x), "item %d", i);
            else
                cr_expect_float_eq(x->valuedouble, score[i][a], 1e-9, "item %d", i);
        }
    }
    for (int i = 0; i < n; i++) {
        rating[i] = 1;
        for (int a = 0; a < GC_STORY_ATTRIBUTES; a++) {
            double below = 0, equal = 0;
            for (int k = 0; k < n; k++) {
                double x = score[i][a], y = score[k][a];
                int same = (isnan(x) && isnan(y)) || x == y;
                below += !same && !isnan(x) && (isnan(y) || y < x);
                equal += same && k != i;
            }
            double r = (below + 0.5 * equal) / (n - 1);
            if (r < rating[i]) rating[i] = r;
        }
    }
    int in[64] = {0};
    for (const cJSON *e = proto->child; e; e = e->next)
        in[e->valueint] = 1;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++)
            if (in[i] && !in[k])
                cr_expect_geq(rating[i], rating[k], "prototype %d rated below outsider %d", i, k);
    cJSON_Delete(doc);
}

Test(steer, table3b_smoke_judges_both_settings_and_is_deterministic, .timeout = 300) {
    char probe[1024];
    if (!th_data_file(probe, sizeof probe, "hh-rlhf/harmless-base-test.jsonl.gz") ||
        !th_data_file(probe, sizeof probe, "models/stories260K/stories260K.bin"))
        cr_skip_test("hh-rlhf or stories260K not found under %s", th_data_dir());
    setenv("OMP_NUM_THREADS", "1", 1);
    char *a = th_tmp_path("t3b-a"), *b = th_tmp_path("t3b-b"), *out = NULL, *err = NULL;
    cr_assert_eq(th_run_smoke(T3B, a, "--seeds 1", &out, &err), 0, "%s", err);
    cr_expect(strstr(out, "table3b: guided decoding toward a goal state"), "%s", out);
    cr_expect(strstr(out, "helpfulness: no exact judge"), "%s", out);
    free(out), free(err);
    char path[1200], why[4400] = "";
    snprintf(path, sizeof path, "%s/table3b/smoke/results.json", a);
    cJSON *r;
    cr_assert_eq(gc_json_read(path, &r), GC_OK, "%s", gc_last_error());
    const cJSON *at = cJSON_GetObjectItem(r, "attributes");
    static const char *const names[] = {"complexity", "coherence", "correctness"};
    cr_assert_eq(cJSON_GetArraySize(at), 3);
    for (int i = 0; i < 3; i++) {
        const cJSON *o = cJSON_GetArrayItem(at, i);
        cr_expect_str_eq(cJSON_GetObjectItem(o, "name")->valuestring, names[i]);
        double w = cJSON_GetObjectItem(o, "wins")->valuedouble,
               l = cJSON_GetObjectItem(o, "losses")->valuedouble,
               t = cJSON_GetObjectItem(o, "ties")->valuedouble,
               n = cJSON_GetObjectItem(o, "prompts")->valuedouble,
               net = cJSON_GetObjectItem(o, "mean")->valuedouble;
        cr_expect_eq(w + l + t, n, "%s: every prompt compared once per seed", names[i]);
        cr_expect_float_eq(net, (w - l) / n, 1e-12, "%s: one seed, net = (w - l) / n", names[i]);
        cr_expect_leq(cJSON_GetObjectItem(o, "lo")->valuedouble, net + 1e-12);
        cr_expect_geq(cJSON_GetObjectItem(o, "hi")->valuedouble, net - 1e-12);
        double p = cJSON_GetObjectItem(o, "p")->valuedouble;
        cr_expect(p > 0 && p <= 1, "%s: p %f", names[i], p);
    }
    const cJSON *v = cJSON_GetObjectItem(r, "verdict");
    const char *word = cJSON_GetStringValue(cJSON_GetObjectItem(v, "verdict"));
    cr_expect(word &&
                  (!strcmp(word, "PASS") || !strcmp(word, "FAIL") || !strcmp(word, "INCONCLUSIVE")),
              "verdict %s", word ? word : "(none)");
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(v, "attributes")), 3, "per attribute");
    cJSON_Delete(r);
    /* the guiding reward models are saved whole; the guided arm wrote its goal state */
    char dir[1200];
    stage_dir(a, "hh-rm-goal-seed1-all", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/rm.head", dir);
    cr_expect_eq(access(path, R_OK), 0, "%s", path);
    stage_dir(a, "steer-stories-guided-seed1", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/goal.json", dir);
    cr_expect_eq(access(path, R_OK), 0, "%s", path);
    expect_prototype_is_best_rated(a);
    /* the same seed and thread count give the same stages, byte for byte */
    cr_assert_eq(th_run_smoke(T3B, b, "--seeds 1", &out, &err), 0, "%s", err);
    free(out), free(err);
    char ca[1100], cb[1100];
    snprintf(ca, sizeof ca, "%s/cache", a);
    snprintf(cb, sizeof cb, "%s/cache", b);
    cr_expect(th_same_stages(ca, cb, why, sizeof why), "%s", why);
    /* damaged stage files (DONE written again over the damage) are refused by name: a responses
     * file one response short, then a prototype naming an item outside the pool */
    char cmd[2600];
    snprintf(cmd, sizeof cmd,
             "f=$(ls %s/cache/steer-math-sft-seed1-*/responses.json) && "
             "sed -i '0,/\"text\":[[:space:]]*\\[[[:space:]]*\"[^\"]*\",/s//\"text\": [/' $f",
             a);
    cr_assert_eq(system(cmd), 0);
    th_rerecord(a, "steer-math-sft-seed1");
    cr_expect_eq(th_run_smoke(T3B, a, "--seeds 1", &out, &err), 1);
    cr_expect(strstr(err, "responses.json: expected 4 responses"), "%s", err);
    free(out), free(err);
    cr_assert_eq(th_run_smoke(T3B, a, "--seeds 1 --rerun steer-math-sft-seed1", &out, &err), 0,
                 "%s", err);
    free(out), free(err);
    snprintf(
        cmd, sizeof cmd,
        "f=$(ls %s/cache/steer-stories-pool-*/pool.json) && "
        "sed -i '0,/\"prototype\":[[:space:]]*\\[[[:space:]]*[0-9]*/s//\"prototype\": [999/' $f",
        a);
    cr_assert_eq(system(cmd), 0);
    th_rerecord(a, "steer-stories-pool");
    cr_expect_eq(th_run_smoke(T3B, a, "--seeds 1", &out, &err), 1);
    cr_expect(strstr(err, "pool.json: prototype item 0 is not in the pool"), "%s", err);
    free(out), free(err);
    th_rm_tree(a), th_rm_tree(b);
    free(a), free(b);
}

Test(steer, bad_table3b_configs_are_named) {
    const char *s = "scales.smoke.steer";
    char k[256];
#define BAD(key, json, frag)                                                                       \
    do {                                                                                           \
        snprintf(k, sizeof k, "%s%s", s, key);                                                     \
        th_expect_bad_experiment(T3B, k, json, k, frag);                                           \
    } while (0)
    BAD(".bogus", "1", "unknown key");
    BAD(".stories.beam.beam", "0", "");
    BAD(".math.sft.lr", "\"fast\"", "");
    BAD(".math.questions", "1000", "data.eval_questions");
    BAD(".math.splits", "[\"arith-none\"]", "");
    BAD(".stories.hh.data.folds", "2", "unknown key");
    BAD(".stories.hh.bogus", "{}", "unknown key");
    BAD(".stories.sft", "null", "missing required key");
#undef BAD
    th_expect_bad_experiment(T3B, s, "{}", s, "needs a setting");
    th_expect_bad_experiment(T3B, "scales.smoke.rm.variants", "[\"baseline\"]", "variants", "goal");
}

/* ---- the verdict rule ---- */

/* results with one attribute per (name, net, p, tie share); 300 prompts, 3 seeds */
static cJSON *win_results(int n, const char *const *name, const double *net, const double *p,
                          const double *tie, double proto, double pool) {
    cJSON *r = cJSON_CreateObject(), *at = cJSON_AddArrayToObject(r, "attributes");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", name[i]);
        cJSON_AddStringToObject(o, "setting", "stories");
        cJSON_AddNumberToObject(o, "prompts", 300);
        cJSON_AddNumberToObject(o, "seeds", 3);
        cJSON_AddNumberToObject(o, "mean", net[i]);
        cJSON_AddNumberToObject(o, "lo", net[i] - 0.1);
        cJSON_AddNumberToObject(o, "hi", net[i] + 0.1);
        cJSON_AddNumberToObject(o, "p", p[i]);
        cJSON_AddNumberToObject(o, "tie_rate", tie[i]);
        cJSON_AddNumberToObject(o, "prototype_mean", proto);
        cJSON_AddNumberToObject(o, "pool_mean", pool);
        cJSON_AddItemToArray(at, o);
    }
    return r;
}

static const char *win_verdict(int n, const double *net, const double *p, const double *tie,
                               double proto, double pool) {
    static const char *const names[] = {"complexity", "coherence", "correctness"};
    static char word[32];
    cJSON *c = th_claim("table3b"), *r = win_results(n, names, net, p, tie, proto, pool), *v;
    cr_assert_eq(claims_verdict(c, r, "published.json", &v), GC_OK, "%s", gc_last_error());
    snprintf(word, sizeof word, "%s", cJSON_GetObjectItem(v, "verdict")->valuestring);
    cJSON_Delete(c), cJSON_Delete(r), cJSON_Delete(v);
    return word;
}

Test(verdict, win_rate_rule) {
    double pass[] = {0.3, 0.25, 0.2}, small_p[] = {0.001, 0.002, 0.01}, tie[] = {0.1, 0.2, 0.5};
    cr_expect_str_eq(win_verdict(3, pass, small_p, tie, 5, 3), "PASS");
    double none[] = {0.3, -0.02, 0.2}, mixed_p[] = {0.001, 0.6, 0.01};
    cr_expect_str_eq(win_verdict(3, none, mixed_p, tie, 5, 3), "FAIL",
                     "300 prompts x 3 seeds see +0.165 on coherence: a powered failure");
    double ties[] = {0.1, 0.2, 0.95};
    cr_expect_str_eq(win_verdict(3, pass, small_p, ties, 5, 3), "INCONCLUSIVE",
                     "the judge ties 95% of the comparisons");
    cr_expect_str_eq(win_verdict(3, pass, small_p, tie, 2, 3), "INCONCLUSIVE",
                     "the prototype is not rated above its pool");
    /* one prompt: no power at all, a failing attribute says nothing */
    static const char *const one[] = {"complexity"};
    double z[] = {-0.1}, zp[] = {0.9}, zt[] = {0.5};
    cJSON *c = th_claim("table3b"), *r = win_results(1, one, z, zp, zt, 5, 3), *v;
    cJSON_ReplaceItemInObject(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "attributes"), 0),
                              "prompts", cJSON_CreateNumber(2));
    cr_assert_eq(claims_verdict(c, r, "published.json", &v), GC_OK, "%s", gc_last_error());
    cr_expect_str_eq(cJSON_GetObjectItem(v, "verdict")->valuestring, "INCONCLUSIVE");
    const cJSON *pw =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "attributes"), 0), "power");
    cr_expect_lt(cJSON_GetObjectItem(pw, "power_at_published")->valuedouble, 0.8);
    cJSON_Delete(c), cJSON_Delete(r), cJSON_Delete(v);
    /* results without attributes: judged, not a crash */
    c = th_claim("table3b"), r = cJSON_Parse("{}");
    cr_assert_eq(claims_verdict(c, r, "published.json", &v), GC_OK);
    cr_expect_str_eq(cJSON_GetObjectItem(v, "verdict")->valuestring, "INCONCLUSIVE");
    cJSON_Delete(c), cJSON_Delete(r), cJSON_Delete(v);
}

Test(verdict, win_rate_power_grows_with_the_effect) {
    /* the same attribute at a larger published effect has more power, and 600 prompts detect a
     * smaller effect than 60 */
    static const char *const nm[] = {"complexity"};
    double net[] = {0.0}, p[] = {0.5}, tie[] = {0.3};
    double det[2];
    for (int k = 0; k < 2; k++) {
        cJSON *c = th_claim("table3b"), *r = win_results(1, nm, net, p, tie, 5, 3), *v;
        cJSON_ReplaceItemInObject(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "attributes"), 0),
                                  "prompts", cJSON_CreateNumber(k ? 600 : 60));
        cr_assert_eq(claims_verdict(c, r, "published.json", &v), GC_OK, "%s", gc_last_error());
        const cJSON *pw = cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(v, "attributes"), 0), "power");
        det[k] = cJSON_GetObjectItem(pw, "detectable")->valuedouble;
        double at = cJSON_GetObjectItem(pw, "power_at_published")->valuedouble;
        cr_expect(at >= 0 && at <= 1, "power %f", at);
        cJSON_Delete(c), cJSON_Delete(r), cJSON_Delete(v);
    }
    cr_expect_lt(det[1], det[0], "600 prompts detect %f, 60 prompts %f", det[1], det[0]);
    cr_expect_gt(det[0], 0.05);
    cr_expect_lt(det[0], 0.5);
}

Test(verdict, malformed_win_rate_claims_are_errors) {
    static const char *const bad[] = {"[0.1]", "{\"complexity\": 2}", "{\"complexity\": \"big\"}"};
    static const char *const nm[] = {"complexity"};
    double net[] = {0.2}, p[] = {0.01}, tie[] = {0.3};
    for (int i = 0; i < 3; i++) {
        cJSON *c = th_claim("table3b"), *r = win_results(1, nm, net, p, tie, 5, 3), *v = NULL;
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(c, "mini_check"), "published_effects",
                                  cJSON_Parse(bad[i]));
        cr_expect_eq(claims_verdict(c, r, "published.json", &v), GC_ERR_FORMAT, "%s", bad[i]);
        cr_expect(strstr(gc_last_error(), "published_effects"), "%s", gc_last_error());
        cJSON_Delete(c), cJSON_Delete(r);
    }
    cJSON *c = th_claim("table3b"), *r = win_results(1, nm, net, p, tie, 5, 3), *v = NULL;
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(c, "mini_check"), "max_tie_share",
                              cJSON_CreateNumber(3));
    cr_expect_eq(claims_verdict(c, r, "published.json", &v), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "max_tie_share"), "%s", gc_last_error());
    cJSON_Delete(c), cJSON_Delete(r);
}

/* the CUDA backend (a GPU, or here the host emulation of its kernels in fp32) decodes and judges
 * as the CPU does: the same texts, the same scores */
Test(steer, table3b_smoke_on_the_cuda_backend_matches_the_cpu, .timeout = 300) {
    char probe[1024];
    if (!th_data_file(probe, sizeof probe, "hh-rlhf/harmless-base-test.jsonl.gz") ||
        !th_data_file(probe, sizeof probe, "models/stories260K/stories260K.bin"))
        cr_skip_test("hh-rlhf or stories260K not found under %s", th_data_dir());
    cJSON *ra, *rb;
    th_smoke_cpu_and_cuda(T3B, "table3b", &ra, &rb);
    static const char *const keys[] = {"guided_mean", "sft_mean", "wins", "losses", "ties"};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 5; k++) {
            double x = cJSON_GetObjectItem(
                           cJSON_GetArrayItem(cJSON_GetObjectItem(ra, "attributes"), i), keys[k])
                           ->valuedouble,
                   y = cJSON_GetObjectItem(
                           cJSON_GetArrayItem(cJSON_GetObjectItem(rb, "attributes"), i), keys[k])
                           ->valuedouble;
            cr_expect_float_eq(x, y, 1e-12, "attribute %d %s: cpu %f, cuda %f", i, keys[k], x, y);
        }
    for (int s = 0; s < 2; s++) {
        const char *set = s ? "math" : "stories";
        char *ea =
            cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(ra, set), "examples"));
        char *eb =
            cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(rb, set), "examples"));
        cr_expect_str_eq(ea, eb, "%s: the responses differ", set);
        free(ea), free(eb);
    }
    cJSON_Delete(ra), cJSON_Delete(rb);
}
