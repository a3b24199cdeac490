/* lib/tasks/hh: splitting Helpful-Harmless dialogues into prompt and responses, loading the gzip
 * with its errors named by line, and the left-truncation rule; on the real harmless-base file and
 * the stories260K tokenizer when ../shared/data is there. The table3a pipeline (replicate/hh) at
 * smoke scale: every pair scored once per variant, a run killed after every checkpoint ends
 * bitwise as an uninterrupted one, bad configurations named. */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "helpers.h"
#include "lib/tasks/hh.h"
#include "lib/util/jsonio.h"

static char *write_gz(const char *tag, const char *text, size_t cut) {
    char *path = th_tmp_path(tag);
    gzFile f = gzopen(path, "wb");
    cr_assert(f);
    gzputs(f, text);
    gzclose(f);
    if (cut) { /* keep all but the last `cut` bytes of the compressed file */
        char *data;
        size_t n;
        cr_assert_eq(gc_read_file(path, &data, &n), GC_OK);
        cr_assert_eq(th_write_file(path, data, n - cut), 0);
        free(data);
    }
    return path;
}

Test(hh, splits_at_the_last_shared_assistant_cue) {
    gc_hh_pair p;
    cr_expect(gc_hh_split("\n\nHuman: hi\n\nAssistant: Hello!\n\nHuman: help\n\nAssistant: Sure.",
                          "\n\nHuman: hi\n\nAssistant: Hello!\n\nHuman: help\n\nAssistant: No.",
                          &p));
    cr_expect_str_eq(p.prompt, "\n\nHuman: hi\n\nAssistant: Hello!\n\nHuman: help\n\nAssistant:");
    cr_expect_str_eq(p.chosen, "Sure.");
    cr_expect_str_eq(p.rejected, "No.");
    free(p.prompt), free(p.chosen), free(p.rejected);
    /* the last cues differ (chosen has one more turn): the last shared one */
    cr_expect(gc_hh_split("\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant: d",
                          "\n\nHuman: a\n\nAssistant: x", &p));
    cr_expect_str_eq(p.prompt, "\n\nHuman: a\n\nAssistant:");
    cr_expect_str_eq(p.chosen, "b\n\nHuman: c\n\nAssistant: d");
    cr_expect_str_eq(p.rejected, "x");
    free(p.prompt), free(p.chosen), free(p.rejected);
    cr_expect(!gc_hh_split("\n\nHuman: a\n\nAssistant: b", "\n\nHuman: z\n\nAssistant: b", &p));
    cr_expect_str_eq(p.prompt, "");
    cr_expect_str_eq(p.chosen, "\n\nHuman: a\n\nAssistant: b");
    free(p.prompt), free(p.chosen), free(p.rejected);
}

Test(hh, loads_gzip_and_names_the_bad_line) {
    char *ok = write_gz("hh-ok.jsonl.gz",
                        "{\"chosen\": \"\\n\\nHuman: q\\n\\nAssistant: yes\", \"rejected\": "
                        "\"\\n\\nHuman: q\\n\\nAssistant: no\"}\n"
                        "{\"chosen\": \"A\", \"rejected\": \"B\"}\n",
                        0);
    gc_hh_set s;
    cr_assert_eq(gc_hh_load(ok, &s), GC_OK, "%s", gc_last_error());
    cr_expect_eq(s.n, 2);
    cr_expect_eq(s.no_shared_prompt, 1);
    cr_expect_str_eq(s.p[0].chosen, "yes");
    gc_hh_free(&s);
    const char *bad[] = {
        "{\"chosen\": \"a\", \"rejected\": \"b\"}\n{\"chosen\": \"a\"}\n",
        "{\"chosen\": \"a\", \"rejected\": \"b\"}\nnot json\n",
        "{\"chosen\": \"a\", \"rejected\": \"b\"}\n{\"chosen\": 1, \"rejected\": \"b\"}\n"};
    for (int i = 0; i < 3; i++) {
        char *path = write_gz("hh-bad.jsonl.gz", bad[i], 0), want[1100];
        cr_expect_eq(gc_hh_load(path, &s), GC_ERR_FORMAT, "case %d", i);
        snprintf(want, sizeof want, "%s:2:", path);
        cr_expect(strstr(gc_last_error(), want), "case %d: %s", i, gc_last_error());
        cr_expect_null(s.p, "nothing kept");
        remove(path), free(path);
    }
    /* a gzip cut short: an error naming the file, never a silently shorter data set */
    char *lines = calloc(1, 200000), *w = lines;
    for (int i = 0; i < 2000; i++)
        w += sprintf(w, "{\"chosen\": \"c%d\", \"rejected\": \"r%d\"}\n", i, i * 7);
    char *cut = write_gz("hh-cut.jsonl.gz", lines, 100);
    cr_expect_neq(gc_hh_load(cut, &s), GC_OK);
    cr_expect(strstr(gc_last_error(), cut), "%s", gc_last_error());
    char *empty = write_gz("hh-empty.jsonl.gz", "", 0);
    cr_expect_eq(gc_hh_load(empty, &s), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "no pairs"), "%s", gc_last_error());
    cr_expect_eq(gc_hh_load("/nonexistent/hh.jsonl.gz", &s), GC_ERR_IO);
    remove(ok), remove(cut), remove(empty);
    free(ok), free(cut), free(empty), free(lines);
}

Test(hh, real_pairs_encode_within_the_context) {
    char path[1024], tokp[1024];
    if (!th_data_file(path, sizeof path, "hh-rlhf/harmless-base-test.jsonl.gz") ||
        !th_data_file(tokp, sizeof tokp, "models/stories260K/tok512.bin"))
        cr_skip_test("hh-rlhf or tok512.bin not found under %s", th_data_dir());
    gc_hh_set s;
    cr_assert_eq(gc_hh_load(path, &s), GC_OK, "%s", gc_last_error());
    cr_expect_eq(s.n, 2312, "the harmless-base test split");
    cr_expect_eq(s.no_shared_prompt, 0);
    gc_tokenizer t;
    cr_assert_eq(gc_tokenizer_load(&t, tokp, 512), GC_OK, "%s", gc_last_error());
    enum { L = 512 };
    int32_t seq[L], whole[8192];
    int prompt_cut = 0, response_cut = 0, seen = 0;
    for (int i = 0; i < s.n; i += 8, seen++) { /* every 8th pair: the tokenizer is slow */
        for (int side = 0; side < 2; side++) {
            const char *resp = side ? s.p[i].rejected : s.p[i].chosen;
            gc_hh_tokens k;
            cr_assert_eq(gc_hh_encode(&t, s.p[i].prompt, resp, L, seq, &k), GC_OK);
            cr_assert_leq(k.len, L);
            cr_assert_eq(seq[0], GC_TOK_BOS);
            cr_assert_eq(seq[k.len - 1], GC_TOK_EOS);
            cr_assert_geq(k.prompt_len - 1, k.prompt_cut ? GC_HH_MIN_PROMPT : 0);
            prompt_cut += k.prompt_cut > 0, response_cut += k.response_cut > 0;
            int nr = 0;
            cr_assert_eq(gc_tokenizer_encode(&t, resp, 0, 0, whole, &nr), GC_OK);
            /* the response's tokens as encoded alone, cut only at its end */
            cr_assert_eq(k.len - 1 - k.prompt_len, nr - k.response_cut);
            cr_assert(!memcmp(seq + k.prompt_len, whole, sizeof(int32_t) * (nr - k.response_cut)),
                      "pair %d side %d", i, side);
        }
    }
    /* the numbers docs state for 3a's truncation rule at stories260K's context */
    cr_log_info("hh: of %d sequences, %d had their prompt cut and %d their response cut", 2 * seen,
                prompt_cut, response_cut);
    cr_expect_gt(prompt_cut, 0);
    cr_expect_lt(response_cut, prompt_cut);
    gc_tokenizer_free(&t);
    gc_hh_free(&s);
}

/* the pairs each fold's stage of a variant scored, from its rewards.json: every pair exactly once
 */
static void expect_each_pair_once(const char *cache, const char *variant, int n) {
    int *seen = calloc((size_t)n, sizeof(int));
    char pattern[1200];
    snprintf(pattern, sizeof pattern, "%s/hh-rm-%s-seed1-fold[0-9]-*/rewards.json", cache, variant);
    glob_t g;
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0, "%s", pattern);
    cr_expect_eq(g.gl_pathc, 2, "one stage per fold");
    for (size_t k = 0; k < g.gl_pathc; k++) {
        cJSON *j;
        cr_assert_eq(gc_json_read(g.gl_pathv[k], &j), GC_OK);
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "pair")) {
            int p = (int)e->valuedouble;
            cr_assert(p >= 0 && p < n);
            seen[p]++;
        }
        cJSON_Delete(j);
    }
    for (int i = 0; i < n; i++)
        cr_expect_eq(seen[i], 1, "%s: pair %d scored %d times", variant, i, seen[i]);
    globfree(&g);
    free(seen);
}

Test(hh, table3a_smoke_scores_every_pair_once_and_resumes_bitwise, .timeout = 300) {
    char probe[1024];
    if (!th_data_file(probe, sizeof probe, "hh-rlhf/harmless-base-test.jsonl.gz"))
        cr_skip_test("hh-rlhf not found under %s", th_data_dir());
    setenv("OMP_NUM_THREADS", "1", 1);
    char *a = th_tmp_path("t3a-a"), *b = th_tmp_path("t3a-b"), *out = NULL, *err = NULL;
    cr_assert_eq(th_run_smoke("experiments/table3a.json", a, "--seeds 1", &out, &err), 0, "%s",
                 err);
    cr_expect(strstr(out, "table3a: pairwise accuracy on 48 Helpful-Harmless pairs"), "%s", out);
    free(out), free(err);
    char path[1100], ca[1100], cb[1100], why[4400] = "", resumed[4096] = "";
    snprintf(path, sizeof path, "%s/table3a/smoke/results.json", a);
    cJSON *r;
    cr_assert_eq(gc_json_read(path, &r), GC_OK, "%s", gc_last_error());
    const cJSON *acc = cJSON_GetObjectItem(r, "accuracy");
    for (int v = 0; v < 2; v++) {
        const cJSON *o = cJSON_GetObjectItem(acc, v ? "goal" : "baseline");
        double m = cJSON_GetObjectItem(o, "mean")->valuedouble;
        cr_expect(m >= 0 && m <= 1, "accuracy %f", m);
        cr_expect_leq(cJSON_GetObjectItem(o, "pairs_lo")->valuedouble, m);
        cr_expect_geq(cJSON_GetObjectItem(o, "pairs_hi")->valuedouble, m);
    }
    const cJSON *mc = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "mcnemar"), 0);
    cr_assert_not_null(mc);
    cr_expect_leq(cJSON_GetObjectItem(mc, "goal_only")->valuedouble +
                      cJSON_GetObjectItem(mc, "baseline_only")->valuedouble,
                  48);
    const char *verdict =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "verdict"), "verdict"));
    cr_expect(verdict && (!strcmp(verdict, "PASS") || !strcmp(verdict, "FAIL") ||
                          !strcmp(verdict, "INCONCLUSIVE")),
              "verdict %s", verdict ? verdict : "(none)");
    cr_expect(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "verdict"), "power"), "power reported");
    cJSON_Delete(r);
    snprintf(ca, sizeof ca, "%s/cache", a);
    expect_each_pair_once(ca, "baseline", 48);
    expect_each_pair_once(ca, "goal", 48);
    /* killed after every checkpoint of its reward models' training, rerun to the end */
    int runs = th_run_killed_after_every_checkpoint("experiments/table3a.json", b, "--seeds 1",
                                                    resumed, sizeof resumed);
    cr_expect_gt(runs, 4, "killed at each checkpoint");
    cr_expect(strstr(resumed, "hh-rm-goal-seed1-fold1"), "%s", resumed);
    snprintf(cb, sizeof cb, "%s/cache", b);
    cr_expect(th_same_stages(ca, cb, why, sizeof why), "%s", why);
    th_rm_tree(a), th_rm_tree(b);
    free(a), free(b);
}

Test(hh, bad_table3a_configs_are_named) {
    const char *e = "experiments/table3a.json";
    th_expect_bad_experiment(e, "scales.smoke.data.folds", "1", "scales.smoke.data.folds", "");
    th_expect_bad_experiment(e, "scales.smoke.eval", "{}", "scales.smoke.eval", "unknown key");
    th_expect_bad_experiment(e, "scales.smoke.rm.lr", "\"fast\"", "scales.smoke.rm.lr", "");
    th_expect_bad_experiment(e, "scales.smoke.rm.bogus", "1", "scales.smoke.rm.bogus", "");
    th_expect_bad_experiment(e, "scales.smoke.model.context", "10", "scales.smoke.model.context",
                             "");
    th_expect_bad_experiment(e, "scales.smoke.data.file", "\"hh-rlhf/none.jsonl.gz\"",
                             "cannot read", "none.jsonl.gz");
    char probe[1024];
    if (!th_data_file(probe, sizeof probe, "hh-rlhf/harmless-base-test.jsonl.gz")) return;
    th_expect_bad_experiment(e, "scales.smoke.model.context", "600", "600",
                             "exceeds the model's seq_len 512");
    th_expect_bad_experiment(e, "scales.smoke.data.pairs", "3", "3 pairs cannot fill 2 folds", "");
}

/* the CUDA backend (a GPU, or here the host emulation of its kernels in fp32) ranks the pairs as
 * the CPU does */
Test(hh, table3a_smoke_on_the_cuda_backend_matches_the_cpu, .timeout = 300) {
    char probe[1024];
    if (!th_data_file(probe, sizeof probe, "hh-rlhf/harmless-base-test.jsonl.gz"))
        cr_skip_test("hh-rlhf not found under %s", th_data_dir());
    cJSON *ra, *rb;
    th_smoke_cpu_and_cuda("experiments/table3a.json", "table3a", &ra, &rb);
    for (int v = 0; v < 2; v++) {
        const char *k = v ? "goal" : "baseline";
        double x = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ra, "accuracy"), k),
                                       "mean")
                       ->valuedouble,
               y = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(rb, "accuracy"), k),
                                       "mean")
                       ->valuedouble;
        cr_expect_float_eq(x, y, 1e-12, "%s: cpu %f, cuda %f", k, x, y);
    }
    cJSON_Delete(ra), cJSON_Delete(rb);
}

/* table3a's cached files, damaged in a way their checksums in DONE do not show (the marker written
 * again after the damage): a tokens file cut short and a rewards file naming a pair of another
 * fold are errors naming the file, never wrong numbers */
Test(hh, damaged_table3a_stage_files_are_refused_by_name, .timeout = 120) {
    char probe[1024];
    if (!th_data_file(probe, sizeof probe, "hh-rlhf/harmless-base-test.jsonl.gz"))
        cr_skip_test("hh-rlhf not found under %s", th_data_dir());
    setenv("OMP_NUM_THREADS", "1", 1);
    char *root = th_tmp_path("t3a-bad"), *out = NULL, *err = NULL, cmd[2400];
    cr_assert_eq(th_run_smoke("experiments/table3a.json", root, "--seeds 1", &out, &err), 0, "%s",
                 err);
    free(out), free(err);
    snprintf(cmd, sizeof cmd,
             "f=$(ls %s/cache/hh-tokens-*/tokens.bin); head -c $(($(stat -c %%s $f) - 8)) $f > "
             "$f.cut && mv $f.cut $f",
             root);
    cr_assert_eq(system(cmd), 0);
    th_rerecord(root, "hh-tokens");
    cr_expect_eq(th_run_smoke("experiments/table3a.json", root, "--seeds 1", &out, &err), 1);
    cr_expect(strstr(err, "tokens.bin: not a complete tokens file"), "%s", err);
    free(out), free(err);
    cr_assert_eq(
        th_run_smoke("experiments/table3a.json", root, "--seeds 1 --rerun hh-tokens", &out, &err),
        0, "%s", err);
    free(out), free(err);
    snprintf(cmd, sizeof cmd,
             "f=$(ls %s/cache/hh-rm-goal-seed1-fold0-*/rewards.json); "
             "sed -i '0,/\"pair\":[[:space:]]*\\[[0-9]*/s//\"pair\": [99999/' $f",
             root);
    cr_assert_eq(system(cmd), 0);
    th_rerecord(root, "hh-rm-goal-seed1-fold0");
    cr_expect_eq(th_run_smoke("experiments/table3a.json", root, "--seeds 1", &out, &err), 1);
    cr_expect(strstr(err, "rewards.json") && strstr(err, "is not of fold 0"), "%s", err);
    free(out), free(err);
    th_rm_tree(root), free(root);
}
