/* replicate/full: the full-scale executor, end to end on stand-ins made here: the pretrained
 * stories260K and its tokenizer in Hugging Face's layout (tools/hf_export.py --tokenizer) and
 * small OpenMath-style files (a question per item; correct solutions share words the incorrect
 * ones lack, so the reward models have something to learn). A fig2-shaped experiment file runs at
 * full scale: reward models trained with micro-batch accumulation, every prediction scored, the
 * AUROC analysis per file and pooled with the verdict; a second run is cached, a run in another
 * root without activation recomputation gives the same stages byte for byte, a run killed after
 * every checkpoint resumes to the same bytes. What the executor cannot run is refused before any
 * work, by name. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include <zlib.h>

#include "helpers.h"
#include "lib/stats/stats.h"
#include "lib/util/jsonio.h"
#include "replicate/full/full.h"

/* the experiment's stages; %s: extra keys of the train stage (",\"key\": value...", its
 * "recompute" among them), then extra stages */
static const char RUNNABLE[] = ",\"recompute\": true";
static const char EXPERIMENT[] =
    "{\"experiment\": \"fig2\", \"pipeline\": \"math\", \"claim\": \"fig2\", \"seeds\": 2,\n"
    " \"scales\": {\"full\": {\n"
    "  \"models\": {\"math\": {\"path\": \"models/s260\", \"prompt\": \"Question: {question}\\n"
    "Answer: \",\n"
    "     \"shape\": {\"dim\": 64, \"hidden_dim\": 172, \"n_layers\": 5, \"n_heads\": 8, "
    "\"n_kv_heads\": 4, \"vocab_size\": 512}}},\n"
    "  \"data\": {\"pairs\": {\"files\": [\"data/pairs/train.jsonl\"], \"format\": \"openmath\", "
    "\"examples\": 96, \"mean_tokens\": 40},\n"
    "           \"eval\": {\"files\": [\"data/eval/gsm8k/output-greedy.jsonl\", "
    "\"data/eval/svamp/output-greedy.jsonl\"], \"format\": \"openmath\", \"examples\": 60, "
    "\"mean_tokens\": 40}},\n"
    "  \"stages\": {\n"
    "   \"rm\": {\"kind\": \"train\", \"model\": \"math\", \"data\": \"pairs\", \"loss\": "
    "\"preference\", \"sequences\": 2, \"variants\": [\"baseline\", \"goal\"], \"per_seed\": true, "
    "\"epochs\": 2, \"batch\": 8, \"micro_batch\": 3, \"lr\": 1e-3, \"warmup_ratio\": 0.1, "
    "\"max_len\": 64, \"lambda\": 0.5, \"K\": 4, \"precision\": \"fp32\"%s},\n"
    "   \"score-eval\": {\"kind\": \"score\", \"model\": \"rm\", \"data\": \"eval\", \"variants\": "
    "[\"baseline\", \"goal\"], \"per_seed\": true, \"max_len\": 64, \"micro_batch\": 4}%s\n"
    "  }}}}\n";

static const char *const NAMES[] = {"Lily", "Tom", "Ben", "Sue", "Max", "Amy"};
static const char *const THINGS[] = {"ball", "cat", "dog", "toy", "cake"};

static void item(FILE *f, int i, int good, int k, const char *key) {
    fprintf(f,
            "{\"question\": \"%s had a %s number %d. What did %s do?\", \"%s\": \"%s was %s the "
            "%s %d.\", \"expected_answer\": \"1\", \"predicted_answer\": \"%s\", "
            "\"is_correct\": %s}\n",
            NAMES[i % 6], THINGS[i % 5], i, NAMES[i % 6], key, NAMES[i % 6],
            good ? "happy and shared" : "sad and broke", THINGS[i % 5], k, good ? "1" : "2",
            good ? "true" : "false");
}

/* The stand-in full-scale root (NULL: python3 or stories260K missing, the test skips) and the
 * experiment file with the extra keys, under it. */
static char *standin(const char *train_extra, const char *stage_extra, char **file) {
    /* one thread per run: the suite runs two tests at once on two cores, and OpenMP regions
     * oversubscribed crawl (every run of a test has the same thread count, so the same bits) */
    setenv("OMP_NUM_THREADS", "1", 1);
    char model[1024], tok[1024];
    if (!th_data_file(model, sizeof model, "models/stories260K/stories260K.bin") ||
        !th_data_file(tok, sizeof tok, "models/stories260K/tok512.bin") ||
        system("python3 -c 'import json, struct' >/dev/null 2>&1") != 0)
        return NULL;
    char *root = th_tmp_path("fullroot"), cmd[4096], p[1200];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/data/pairs %s/data/eval/gsm8k %s/data/eval/svamp && python3 "
             "tools/hf_export.py %s %s/models/s260 --tokenizer %s",
             root, root, root, model, root, tok);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(p, sizeof p, "%s/data/pairs/train.jsonl", root);
    FILE *f = fopen(p, "w");
    for (int i = 0; i < 48; i++)
        for (int k = 0; k < 2; k++)
            item(f, i, 1, k, "generated_solution"), item(f, i, 0, k, "generated_solution");
    fclose(f);
    for (int g = 0; g < 2; g++) {
        snprintf(p, sizeof p, "%s/data/eval/%s/output-greedy.jsonl", root, g ? "svamp" : "gsm8k");
        f = fopen(p, "w");
        for (int i = 0; i < 48; i++) /* 24 of each class, in a mixed order */
            item(f, 100 * (g + 1) + i, (i * 7 + g) % 4 < 2, 0, "generation");
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/fig2-standin.json", root);
    f = fopen(p, "w");
    fprintf(f, EXPERIMENT, train_extra, stage_extra);
    fclose(f);
    *file = strdup(p);
    return root;
}

static int run_full(const char *file, const char *root, const char *runs, char **out, char **err) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s run %s --scale full --full-root %s --root %s", th_replicate_bin(),
             file, root, runs);
    return th_run(cmd, out, NULL, err);
}

Test(full, fig2_standin_trains_scores_and_judges, .timeout = 300) {
    char *file = NULL, *root = standin(RUNNABLE, "", &file);
    if (!root) cr_skip_test("stories260K or python3 not found (GCRM_DATA %s)", th_data_dir());
    char runs[1200], runs2[1200], path[1400];
    snprintf(runs, sizeof runs, "%s/runs", root);
    snprintf(runs2, sizeof runs2, "%s/runs2", root);
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_full(file, root, runs, &out, &err), 0, "%s", err);
    cr_expect(strstr(err, "96 pairs over 48 questions"), "%s", err);
    cr_expect(strstr(out, "gsm8k") && strstr(out, "svamp") && strstr(out, "verdict:"), "%s", out);
    snprintf(path, sizeof path, "%s/fig2/full/results.json", runs);
    cJSON *res = NULL;
    cr_assert_eq(gc_json_read(path, &res), GC_OK, "%s", gc_last_error());
    const cJSON *splits = gc_json_get(res, "splits");
    cr_assert_eq(cJSON_GetArraySize(splits), 2);
    cr_expect_str_eq(cJSON_GetStringValue(gc_json_get(splits->child, "split")), "gsm8k");
    cr_expect_eq(gc_json_num(splits->child, "n", 0), 48);
    cr_expect_eq(gc_json_num(splits->child, "n_correct", 0), 24);
    /* the reward models learn the stand-in's signal: their pooled AUROC is far above chance */
    const cJSON *pooled = gc_json_get(res, "pooled");
    for (int v = 0; v < 2; v++) {
        const cJSON *a = gc_json_get(gc_json_get(pooled, v ? "goal" : "baseline"), "auroc");
        cr_assert_eq(cJSON_GetArraySize(a), 2, "one AUROC per seed");
        for (const cJSON *e = a->child; e; e = e->next)
            cr_expect_gt(e->valuedouble, 0.8, "%s AUROC %g", v ? "goal" : "baseline",
                         e->valuedouble);
    }
    cr_expect(gc_json_get(gc_json_get(res, "verdict"), "verdict"), "a verdict is recorded");
    cr_expect_eq(cJSON_GetArraySize(gc_json_get(res, "reward_models")), 4);
    cr_expect_str_eq(cJSON_GetStringValue(gc_json_get(res, "scale")), "full");
    cJSON_Delete(res);
    /* every training step is in the curve: 96 pairs in batches of 8, 2 epochs */
    snprintf(path, sizeof path, "%s/cache", runs);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "ls -d %s/cache/rm-goal-seed1-*", runs);
    char *dir = NULL;
    cr_assert_eq(th_run(cmd, &dir, NULL, NULL), 0);
    dir[strcspn(dir, "\n")] = 0;
    snprintf(path, sizeof path, "%s/curve.json", dir);
    cJSON *curve = NULL;
    cr_assert_eq(gc_json_read(path, &curve), GC_OK, "%s", gc_last_error());
    cr_expect_eq(cJSON_GetArraySize(curve), 24);
    cJSON_Delete(curve);
    free(dir), free(out), free(err);
    /* again: everything cached */
    cr_assert_eq(run_full(file, root, runs, &out, &err), 0, "%s", err);
    cr_expect_eq(th_count_rerun(err, "rm-"), 0, "%s", err);
    cr_expect_eq(th_count_rerun(err, "score-"), 0, "%s", err);
    cr_expect(!strstr(err, "tokenizing pairs") && !strstr(err, "pairs over"),
              "a cached run does not read the training pairs:\n%s", err);
    free(out), free(err);
    /* another root, without activation recomputation: the same stages, byte for byte */
    char file2[1400];
    snprintf(file2, sizeof file2, "%s/no-recompute.json", root);
    snprintf(cmd, sizeof cmd, "sed 's/\"recompute\": true/\"recompute\": false/' %s > %s", file,
             file2);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(run_full(file2, root, runs2, &out, &err), 0, "%s", err);
    free(out), free(err);
    char ca[1300], cb[1300], why[512] = "";
    snprintf(ca, sizeof ca, "%s/cache", runs);
    snprintf(cb, sizeof cb, "%s/cache", runs2);
    cr_expect(th_same_stages(ca, cb, why, sizeof why), "%s", why);
    /* killed after every checkpoint and resumed: the same bytes again */
    th_expect_full_resume(file, root, runs, "runs3", (const char *const[]){"rm-goal-seed2", NULL},
                          8);
    th_rm_tree(root);
    free(root), free(file);
}

/* what the executor does not run is refused before any work, every problem named */
Test(full, refuses_what_it_cannot_run_by_name, .timeout = 120) {
    char *file = NULL,
         *root = standin(RUNNABLE,
                         ",\"ppo\": {\"kind\": \"ppo\", \"model\": "
                         "\"math\", \"scorer\": \"rm\", \"data\": "
                         "\"eval\", \"rollout\": 8, \"train_batch\": 8, "
                         "\"episodes\": 1, \"max_new\": 8, "
                         "\"mean_new_tokens\": 8, \"actor_lr\": 1e-6, "
                         "\"critic_lr\": 1e-6}, \"score-more\": {\"kind\": \"score\", "
                         "\"model\": \"rm\", \"data\": \"eval\", "
                         "\"variants\": [\"goal\"], \"max_len\": 64}",
                         &file);
    if (!root) cr_skip_test("stories260K or python3 not found (GCRM_DATA %s)", th_data_dir());
    char runs[1200], cmd[2600];
    snprintf(runs, sizeof runs, "%s/runs", root);
    snprintf(cmd, sizeof cmd, "rm %s/data/eval/svamp/output-greedy.jsonl", root);
    cr_assert_eq(system(cmd), 0);
    char *out = NULL, *err = NULL;
    cr_expect_eq(run_full(file, root, runs, &out, &err), 1);
    cr_expect(strstr(err, "cannot run here"), "%s", err);
    cr_expect(strstr(err, "data 'eval': 1 of 2 file(s) missing") && strstr(err, "svamp"), "%s",
              err);
    cr_expect(strstr(err, "stage 'ppo' (kind ppo): not one of the default analysis's stages"), "%s",
              err);
    cr_expect(strstr(err, "stage 'score-more': the analysis compares the baseline and goal") &&
                  strstr(err, "one score stage; this scale has 2"),
              "%s", err);
    cr_expect(!strstr(err, "tokenizing"), "nothing ran:\n%s", err);
    free(out), free(err);
    /* on the CUDA backend (its host emulation here), a precision other than the train stage's */
    snprintf(cmd, sizeof cmd,
             "GCRM_CUDA_EMULATE=1 %s run %s --scale full --full-root %s --root %s --device cuda "
             "--precision bf16",
             th_replicate_bin(), file, root, runs);
    int rc = th_run(cmd, &out, NULL, &err);
    if (!strstr(err, "no usable CUDA device") && !strstr(err, "without CUDA")) {
        cr_expect_eq(rc, 1);
        cr_expect(strstr(err, "stage 'rm' trains in fp32: run with --precision fp32"), "%s", err);
    }
    free(out), free(err);
    th_rm_tree(runs);
    th_rm_tree(root);
    free(root), free(file);
}

/* a malformed data line stops the run naming the file and line; a missing tokenizer is named
 * before any work */
Test(full, bad_inputs_are_named, .timeout = 120) {
    char *file = NULL, *root = standin(RUNNABLE, "", &file);
    if (!root) cr_skip_test("stories260K or python3 not found (GCRM_DATA %s)", th_data_dir());
    char runs[1200], p[1200];
    snprintf(runs, sizeof runs, "%s/runs", root);
    snprintf(p, sizeof p, "%s/data/pairs/train.jsonl", root);
    FILE *f = fopen(p, "a");
    fprintf(f, "{\"question\": \"q\", \"generated_solution\": 3}\n");
    fclose(f);
    char *out = NULL, *err = NULL;
    cr_expect_eq(run_full(file, root, runs, &out, &err), 1);
    cr_expect(strstr(err, "train.jsonl:193") && strstr(err, "generated_solution"), "%s", err);
    free(out), free(err);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "sed -i '$d' %s", p);
    cr_assert_eq(system(cmd), 0);
    snprintf(p, sizeof p, "%s/models/s260/tokenizer.json", root);
    cr_assert_eq(remove(p), 0);
    cr_expect_eq(run_full(file, root, runs, &out, &err), 1);
    cr_expect(strstr(err, "cannot run here") && strstr(err, "no tokenizer.json"), "%s", err);
    free(out), free(err);
    th_rm_tree(root);
    free(root), free(file);
}

/* table3a at full scale on stand-ins: Helpful-Harmless pairs of the shared test file (40 to
 * train on, 16 held out), formatted by a chat template the test gives the exported stories260K
 * (its BOS written by the template), reward models trained and both sides of every held-out pair
 * scored; the accuracy analysis */
Test(full, table3a_standin_through_a_chat_template, .timeout = 300) {
    char *file = NULL, *root = standin(RUNNABLE, "", &file), hh[1024];
    if (!root) cr_skip_test("stories260K or python3 not found (GCRM_DATA %s)", th_data_dir());
    if (!th_data_file(hh, sizeof hh, "hh-rlhf/harmless-base-test.jsonl.gz"))
        cr_skip_test("no Helpful-Harmless file under %s", th_data_dir());
    char p[1400], cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/data/hh", root);
    cr_assert_eq(system(cmd), 0);
    gzFile z = gzopen(hh, "rb");
    static char line[1 << 16];
    const char *names[3] = {"train-a", "train-b", "test"};
    int counts[3] = {24, 16, 16};
    for (int f = 0; f < 3; f++) {
        snprintf(p, sizeof p, "%s/data/hh/%s.jsonl", root, names[f]);
        FILE *o = fopen(p, "w");
        for (int i = 0; i < counts[f] && gzgets(z, line, sizeof line); i++)
            fputs(line, o);
        fclose(o);
    }
    gzclose(z);
    /* a chat template that writes the BOS itself */
    snprintf(p, sizeof p, "%s/models/s260", root);
    th_add_chat_template(p);
    snprintf(p, sizeof p, "%s/table3a-standin.json", root);
    FILE *f = fopen(p, "w");
    fprintf(
        f,
        "{\"experiment\": \"table3a\", \"pipeline\": \"hh\", \"claim\": \"table3a\", \"seeds\": "
        "2,\n"
        " \"scales\": {\"full\": {\n"
        "  \"models\": {\"llama3\": {\"path\": \"models/s260\", \"chat\": true, \"shape\": "
        "{\"dim\": 64, \"hidden_dim\": 172, \"n_layers\": 5, \"n_heads\": 8, \"n_kv_heads\": 4, "
        "\"vocab_size\": 512}}},\n"
        "  \"data\": {\"hh-train\": {\"files\": [\"data/hh/train-a.jsonl\", "
        "\"data/hh/train-b.jsonl\"], \"format\": \"hh\", \"examples\": 40, \"mean_tokens\": 200},\n"
        "           \"hh-test\": {\"files\": [\"data/hh/test.jsonl\"], \"format\": \"hh\", "
        "\"examples\": 16, \"mean_tokens\": 200}},\n"
        "  \"stages\": {\n"
        "   \"rm\": {\"kind\": \"train\", \"model\": \"llama3\", \"data\": \"hh-train\", \"loss\": "
        "\"preference\", \"sequences\": 2, \"variants\": [\"baseline\", \"goal\"], \"per_seed\": "
        "true, \"epochs\": 1, \"batch\": 8, \"micro_batch\": 4, \"lr\": 1e-3, \"warmup_ratio\": "
        "0.1, \"max_len\": 96, \"lambda\": 0.5, \"K\": 4, \"precision\": \"fp32\", "
        "\"recompute\": true},\n"
        "   \"score-test\": {\"kind\": \"score\", \"model\": \"rm\", \"data\": \"hh-test\", "
        "\"variants\": [\"baseline\", \"goal\"], \"per_seed\": true, \"sequences\": 2, "
        "\"max_len\": 96}\n"
        "  }}}}\n");
    fclose(f);
    char runs[1400];
    snprintf(runs, sizeof runs, "%s/runs-hh", root);
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_full(p, root, runs, &out, &err), 0, "%s", err);
    cr_expect(strstr(err, "40 pairs in 2 files") && strstr(err, "16 pairs in 1 files"), "%s", err);
    cr_expect(strstr(out, "pairwise accuracy on 16 held-out"), "%s", out);
    free(out), free(err);
    snprintf(p, sizeof p, "%s/table3a/full/results.json", runs);
    cJSON *res = NULL;
    cr_assert_eq(gc_json_read(p, &res), GC_OK, "%s", gc_last_error());
    cr_expect_eq(gc_json_num(res, "pairs", 0), 16);
    for (int v = 0; v < 2; v++) {
        const cJSON *a = gc_json_get(
            gc_json_get(gc_json_get(res, "accuracy"), v ? "goal" : "baseline"), "per_seed");
        cr_assert_eq(cJSON_GetArraySize(a), 2, "one accuracy per seed");
        for (const cJSON *e = a->child; e; e = e->next)
            cr_expect(e->valuedouble >= 0 && e->valuedouble <= 1);
    }
    cr_expect_eq(cJSON_GetArraySize(gc_json_get(res, "mcnemar")), 2);
    cr_expect_eq(cJSON_GetArraySize(gc_json_get(res, "reward_models")), 4);
    cr_expect(gc_json_get(gc_json_get(res, "verdict"), "verdict"), "a verdict is recorded");
    cJSON_Delete(res);
    th_rm_tree(root);
    free(root), free(file);
}

/* ---- fig3 and table1: solutions sampled at full scale ---- */

/* fig3- and table1-shaped files on stand-ins: reward models trained as fig2's; a policy that
 * answers every question "\nA: 1" or "\nA: 2" with even odds (tests/ref/hf_bigram.py: stories260K's
 * shape and tokenizer, a bigram wiring) samples 4 solutions for each of 16 GSM8k-style questions
 * in two files (answers 1 or 2); the solutions are scored token by token. %s: the analysis
 * ("partial" or "vote"), its claim, then its section */
/* the sampling stand-ins' models (stories260K for the reward models, the bigram policy) and the
 * preference pairs, the start of their experiment files' full scale */
#define STANDIN_MODELS_AND_PAIRS                                                                   \
    "  \"models\": {\"math\": {\"path\": \"models/s260\", \"prompt\": \"Question: {question}\\n"   \
    "Answer.\", \"shape\": {\"dim\": 64, \"hidden_dim\": 172, \"n_layers\": 5, \"n_heads\": 8, "   \
    "\"n_kv_heads\": 4, \"vocab_size\": 512}},\n"                                                  \
    "    \"policy\": {\"path\": \"models/bigram\", \"prompt\": \"Question: "                       \
    "{question}\\nAnswer.\", "                                                                     \
    "\"shape\": {\"dim\": 64, \"hidden_dim\": 172, \"n_layers\": 5, \"n_heads\": 8, "              \
    "\"n_kv_heads\": 4, \"vocab_size\": 512}}},\n"                                                 \
    "  \"data\": {\"pairs\": {\"files\": [\"data/pairs/train.jsonl\"], \"format\": \"openmath\", " \
    "\"examples\": 96, \"mean_tokens\": 40},\n"

static const char SAMPLING[] =
    "{\"experiment\": \"%s\", \"pipeline\": \"math\", \"claim\": \"%s\", \"analysis\": \"%s\", "
    "\"seeds\": 2,\n"
    " \"scales\": {\"full\": {\n" STANDIN_MODELS_AND_PAIRS
    "    \"questions\": {\"files\": [{\"path\": \"data/q/gsm8k/test.jsonl\", \"format\": "
    "\"gsm8k\"}, {\"path\": \"data/q/svamp/test.jsonl\", \"format\": \"gsm8k\"}], \"examples\": "
    "16, \"mean_tokens\": 20}},\n"
    "  \"stages\": {\n"
    "   \"rm\": {\"kind\": \"train\", \"model\": \"math\", \"data\": \"pairs\", \"loss\": "
    "\"preference\", \"sequences\": 2, \"variants\": [\"baseline\", \"goal\"], \"per_seed\": true, "
    "\"epochs\": 2, \"batch\": 8, \"micro_batch\": 3, \"lr\": 1e-3, \"warmup_ratio\": 0.1, "
    "\"max_len\": 64, \"lambda\": 0.5, \"K\": 4, \"precision\": \"fp32\", \"recompute\": true},\n"
    "   \"sample\": {\"kind\": \"generate\", \"model\": \"policy\", \"data\": \"questions\", "
    "\"samples\": 4, \"max_new\": 16, \"mean_new_tokens\": 6, \"micro_batch\": 5},\n"
    "   \"score-samples\": {\"kind\": \"score\", \"model\": \"rm\", \"data\": \"sample\", "
    "\"variants\": [\"baseline\", \"goal\"], \"per_seed\": true, \"max_len\": 64, "
    "\"micro_batch\": 4}\n"
    "  },\n"
    "  %s\n"
    " }}}\n";

/* writes root/fig3.json and root/table1.json (vote: tau as given, skip 4: only the digit is
 * watched, so that solutions of one question differ) */
static void sampling_files(const char *root, const char *tau) {
    static const char *const kinds[2][3] = {{"fig3", "fig3", "partial"},
                                            {"table1", "table1", "vote"}};
    for (int k = 0; k < 2; k++) {
        char section[400], p[1400];
        if (k)
            snprintf(section, sizeof section,
                     "\"vote\": {\"tau\": %s, \"skip\": 4, \"taus\": [-0.5, 0.5], "
                     "\"tau_quantiles\": [0.5], \"bootstrap\": 200, \"online_questions\": 4}",
                     tau);
        else
            snprintf(section, sizeof section, "\"partial\": {\"points\": 5, \"bootstrap\": 200}");
        snprintf(p, sizeof p, "%s/%s.json", root, kinds[k][0]);
        FILE *f = fopen(p, "w");
        fprintf(f, SAMPLING, kinds[k][0], kinds[k][1], kinds[k][2], section);
        fclose(f);
    }
}

/* the sampling stand-in's root with fig3.json and table1.json (tau 0) in it; skips the test
 * when stories260K or python3 is missing */
static char *sampling_standin(void) {
    char *file = NULL, *root = standin(RUNNABLE, "", &file);
    if (!root) cr_skip_test("stories260K or python3 not found (GCRM_DATA %s)", th_data_dir());
    free(file);
    char cmd[4096], p[1400];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/data/q/gsm8k %s/data/q/svamp && python3 tests/ref/hf_bigram.py "
             "%s/models/s260 %s/models/bigram",
             root, root, root, root);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    for (int g = 0; g < 2; g++) {
        snprintf(p, sizeof p, "%s/data/q/%s/test.jsonl", root, g ? "svamp" : "gsm8k");
        FILE *f = fopen(p, "w");
        for (int i = 0; i < 8; i++)
            fprintf(f,
                    "{\"question\": \"%s has %d %ss. How many?\", \"answer\": \"Count.\\n#### "
                    "%d\"}\n",
                    NAMES[(i + g) % 6], i + 3 * g, THINGS[i % 5], (i + g) % 3 ? 1 : 2);
        fclose(f);
    }
    sampling_files(root, "0.0");
    return root;
}

/* the sampled solutions of samples.jsonl: answer (1 or 2) and label, question-major */
static int read_samples(const char *dir, int *answer, int *correct, int cap) {
    char p[2200];
    snprintf(p, sizeof p, "%s/samples.jsonl", dir);
    FILE *f = fopen(p, "r");
    cr_assert(f, "%s", p);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < cap) {
        cJSON *o = cJSON_Parse(line);
        cr_assert(o, "%s", line);
        const char *g = cJSON_GetStringValue(gc_json_get(o, "generation"));
        cr_assert(g && (!strcmp(g, "\nA: 1") || !strcmp(g, "\nA: 2")), "generation '%s'",
                  g ? g : "(none)");
        answer[n] = g[4] - '0';
        const char *ref = cJSON_GetStringValue(gc_json_get(o, "expected_answer"));
        correct[n] = cJSON_IsTrue(gc_json_get(o, "is_correct"));
        cr_expect_eq(correct[n], answer[n] == atoi(ref), "line %d: graded %d, answer %d of %s",
                     n + 1, correct[n], answer[n], ref);
        cr_expect_eq(gc_json_num(o, "answer_class", -2), correct[n] ? 0 : 1);
        cJSON_Delete(o);
        n++;
    }
    fclose(f);
    return n;
}

/* the arrays of a stage's qscores.bin (the test's own reader of the documented layout) */
static void read_qscores(const char *dir, float **arr, int64_t *len) {
    char p[2200], *buf = NULL;
    size_t size = 0;
    snprintf(p, sizeof p, "%s/qscores.bin", dir);
    cr_assert_eq(gc_read_file(p, &buf, &size), GC_OK, "%s", p);
    cr_assert(size > 12 && !memcmp(buf, "GCRMARR1", 8));
    size_t at = 8;
    for (int i = 0; i < 5; i++) {
        memcpy(&len[i], buf + at + 1, 8);
        arr[i] = malloc(4 * (size_t)(len[i] + 1));
        memcpy(arr[i], buf + at + 9, 4 * (size_t)len[i]);
        at += 9 + 4 * (size_t)len[i];
    }
    cr_assert_eq(at + 4, size);
    free(buf);
}

/* every stage of run root a's cache is in b's, byte for byte; then the stand-in root goes (and
 * its path is freed) */
static void expect_same_caches_and_clean(const char *a, const char *b, char *root) {
    char ca[1400], cb[1400], why[512] = "";
    snprintf(ca, sizeof ca, "%s/cache", a);
    snprintf(cb, sizeof cb, "%s/cache", b);
    cr_expect(th_same_stages(ca, cb, why, sizeof why), "%s", why);
    th_rm_tree(root);
    free(root);
}

/* The test's own vote over 16 questions x 4 solutions of 6 generated tokens: each cut at its
 * first record low below tau; survivors vote (all of them when none survives, nothing then
 * saved or filtered); a tie counts as the expected value of a random pick. */
typedef struct {
    double acc;
    int filtered;
    long gen, saved;
} test_vote;

static test_vote vote_by_hand(double tau, const int *n_low, const int64_t *off, const int *low_j,
                              const float *low_q, const int *answer, const int *correct) {
    test_vote v = {0};
    for (int q = 0; q < 16; q++) {
        int cut[4], surv = 0, votes[3] = {0, 0, 0};
        for (int i = 0; i < 4; i++) {
            int k = q * 4 + i;
            cut[i] = -1;
            for (int l = 0; l < n_low[k] && cut[i] < 0; l++)
                if (low_q[off[k] + l] < (float)tau) cut[i] = low_j[off[k] + l];
            surv += cut[i] < 0;
            v.gen += 6; /* "\n", "A", ":", " ", the digit, EOS */
        }
        for (int i = 0; i < 4; i++) {
            if (surv && cut[i] >= 0) {
                v.filtered++, v.saved += 6 - (cut[i] + 1);
                continue;
            }
            votes[answer[q * 4 + i]]++;
        }
        int right = 0; /* the right answer: a correct solution's, else the other digit */
        for (int i = 0; i < 4; i++)
            if (correct[q * 4 + i]) right = answer[q * 4 + i];
        if (!right) right = 3 - answer[q * 4];
        int other = 3 - right;
        v.acc += (votes[right] > votes[other] ? 1 : votes[right] == votes[other] ? 0.5 : 0) / 16;
    }
    return v;
}

Test(full, fig3_and_table1_standins_sample_score_and_vote, .timeout = 300) {
    char *root = sampling_standin();
    char runs[1200], file[1300], path[1400];
    snprintf(runs, sizeof runs, "%s/runs", root);
    snprintf(file, sizeof file, "%s/fig3.json", root);
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_full(file, root, runs, &out, &err), 0, "%s", err);
    cr_expect(strstr(out, "AUROC on partial generations (64 solutions") && strstr(out, "verdict:"),
              "%s", out);
    free(out), free(err);
    /* the solutions: graded as their reference says, both answers drawn */
    char *sdir = th_stage_dir(runs, "sample");
    int answer[64], correct[64], n = read_samples(sdir, answer, correct, 64), n_correct = 0,
                                 ones = 0;
    cr_assert_eq(n, 64);
    for (int i = 0; i < n; i++)
        n_correct += correct[i], ones += answer[i] == 1;
    cr_expect(ones > 8 && ones < 56, "%d of 64 answers are 1", ones);
    snprintf(path, sizeof path, "%s/fig3/full/results.json", runs);
    cJSON *res = NULL;
    cr_assert_eq(gc_json_read(path, &res), GC_OK, "%s", gc_last_error());
    const cJSON *pr = gc_json_get(res, "partial");
    cr_expect_eq(gc_json_num(pr, "n", 0), 64);
    cr_expect_eq(gc_json_num(pr, "n_correct", 0), n_correct);
    /* p = 1 reads the final reward: each seed's AUROC there is that of the score stage's
     * rewards.json */
    for (int seed = 1; seed <= 2; seed++) {
        char pre[64];
        snprintf(pre, sizeof pre, "score-samples-goal-seed%d", seed);
        char *dir = th_stage_dir(runs, pre);
        snprintf(path, sizeof path, "%s/rewards.json", dir);
        cJSON *rw = th_read_json(dir, "rewards.json");
        double x[64], auc = 0;
        float r[64];
        cr_assert_eq(gc_json_floats(path, rw, "reward", r, 64), GC_OK);
        for (int i = 0; i < 64; i++)
            x[i] = r[i];
        gc_stats_auroc(x, correct, 64, &auc);
        const cJSON *c = gc_json_get(pr, "curves");
        const cJSON *goal_reward = NULL;
        for (const cJSON *e = c ? c->child : NULL; e; e = e->next)
            if (!strcmp(cJSON_GetStringValue(gc_json_get(e, "variant")), "goal") &&
                !strcmp(cJSON_GetStringValue(gc_json_get(e, "score")), "reward"))
                goal_reward = e;
        cr_assert(goal_reward);
        const cJSON *per = cJSON_GetArrayItem(gc_json_get(goal_reward, "per_seed"), seed - 1);
        cr_expect_float_eq(cJSON_GetArrayItem(per, 4)->valuedouble, auc, 1e-12,
                           "seed %d: %g against %g", seed, cJSON_GetArrayItem(per, 4)->valuedouble,
                           auc);
        cJSON_Delete(rw);
        free(dir);
    }
    cJSON_Delete(res);
    /* a group the sampled questions do not have, named after the (cached) stages */
    char nope[1400];
    snprintf(nope, sizeof nope, "%s/nope.json", root);
    snprintf(path, sizeof path,
             "sed 's/\"points\": 5/\"points\": 5, \"splits\": [\"gsm8k\", \"nope\"]/' %s > %s",
             file, nope);
    cr_assert_eq(system(path), 0);
    cr_expect_eq(run_full(nope, root, runs, &out, &err), 1);
    cr_expect(strstr(err, "'nope' is not a group of the sampled questions"), "%s", err);
    free(out), free(err);
    /* table1 on the same stages: the reward models and the solutions are cached */
    snprintf(file, sizeof file, "%s/table1.json", root);
    cr_assert_eq(run_full(file, root, runs, &out, &err), 0, "%s", err);
    cr_expect_eq(th_count_rerun(err, "rm-"), 0, "%s", err);
    cr_expect_eq(th_count_rerun(err, "sample "), 0, "%s", err);
    cr_expect(strstr(out, "majority voting, 16 questions x 4 solutions"), "%s", out);
    free(out), free(err);
    /* rerun with tau at the median of the goal seed-1 RM's minimum Q-values, so that about half
     * the solutions are cut, and check that seed's vote against the test's own */
    char *qdir = th_stage_dir(runs, "score-samples-goal-seed1");
    float *arr[5];
    int64_t len[5];
    read_qscores(qdir, arr, len);
    cr_assert_eq(len[2], 64);
    const int *n_low = (const int *)arr[2], *low_j = (const int *)arr[3];
    const float *low_q = arr[4];
    float mins[64];
    int64_t off[64], at = 0;
    for (int i = 0; i < 64; i++) {
        off[i] = at, at += n_low[i];
        cr_assert_gt(n_low[i], 0, "solution %d has a Q-value at its digit", i);
        mins[i] = low_q[off[i] + n_low[i] - 1];
    }
    /* tau: the midpoint between two minimum Q-values that cuts the most solutions the vote
     * counts as filtered (a question whose solutions are all cut votes with all of them) */
    test_vote best = {0};
    double tau = 0;
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < 64; k++) {
            if (!(mins[k] > mins[i])) continue;
            double t = 0.5 * ((double)mins[i] + mins[k]);
            test_vote v = vote_by_hand(t, n_low, off, low_j, low_q, answer, correct);
            if (v.filtered > best.filtered) best = v, tau = t;
        }
    cr_assert_gt(best.filtered, 0, "some tau cuts a solution whose question keeps others");
    char taus[64];
    snprintf(taus, sizeof taus, "%.9g", tau);
    sampling_files(root, taus);
    cr_assert_eq(run_full(file, root, runs, &out, &err), 0, "%s", err);
    cr_expect_eq(th_count_rerun(err, "score-samples"), 0, "the cut is the analysis's: %s", err);
    free(out), free(err);
    test_vote mine = vote_by_hand(tau, n_low, off, low_j, low_q, answer, correct);
    double acc = mine.acc;
    int filtered = mine.filtered;
    long gen = mine.gen, saved = mine.saved;
    snprintf(path, sizeof path, "%s/table1/full/results.json", runs);
    cr_assert_eq(gc_json_read(path, &res), GC_OK, "%s", gc_last_error());
    const cJSON *vars = gc_json_get(gc_json_get(res, "vote"), "variants"), *goal = NULL;
    for (const cJSON *e = vars ? vars->child : NULL; e; e = e->next)
        if (!strcmp(cJSON_GetStringValue(gc_json_get(e, "variant")), "goal")) goal = e;
    cr_assert(goal);
    double got_acc =
        cJSON_GetArrayItem(gc_json_get(gc_json_get(goal, "accuracy"), "per_seed"), 0)->valuedouble;
    double got_filt =
        cJSON_GetArrayItem(gc_json_get(gc_json_get(goal, "filtered_pct"), "per_seed"), 0)
            ->valuedouble;
    double got_saved =
        cJSON_GetArrayItem(gc_json_get(gc_json_get(goal, "saved_pct"), "per_seed"), 0)->valuedouble;
    cr_expect_float_eq(got_acc, acc, 1e-12, "accuracy %g against %g", got_acc, acc);
    cr_expect_float_eq(got_filt, 100.0 * filtered / 64, 1e-9, "filtered %g against %d", got_filt,
                       filtered);
    cr_expect_float_eq(got_saved, 100.0 * saved / gen, 1e-9, "saved %g against %ld of %ld",
                       got_saved, saved, gen);
    /* online: the first 4 questions sampled again with the seed-1 reward model watching; the
     * same streams, so the same solutions up to each cut, which the offline Q-values predict */
    const cJSON *on = gc_json_get(goal, "online");
    cr_assert(on, "an online run");
    long online_tokens = 0;
    for (int k = 0; k < 16; k++) {
        int cut = -1;
        for (int l = 0; l < n_low[k] && cut < 0; l++)
            if (low_q[off[k] + l] < (float)tau) cut = low_j[off[k] + l];
        online_tokens += cut < 0 ? 6 : cut + 1;
    }
    cr_expect_eq(gc_json_num(on, "tokens_unfiltered", 0), 16 * 6);
    cr_expect_eq(gc_json_num(on, "tokens_filtered", 0), online_tokens);
    cr_expect(cJSON_IsTrue(gc_json_get(on, "filtered_are_prefixes")));
    cr_expect_eq(gc_json_num(on, "cut_agreement_with_offline", 0), 1);
    cJSON_Delete(res);
    for (int i = 0; i < 5; i++)
        free(arr[i]);
    free(qdir), free(sdir);
    /* killed after every checkpoint and resumed: the same stages, byte for byte */
    char runs3[1300], extra[2600], resumed[4096] = "";
    snprintf(runs3, sizeof runs3, "%s/runs3", root);
    snprintf(extra, sizeof extra, "--scale full --full-root %s", root);
    th_run_killed_after_every_checkpoint(file, runs3, extra, resumed, sizeof resumed);
    cr_expect(strstr(resumed, "sample"), "the sampling stage was killed and resumed: %s", resumed);
    expect_same_caches_and_clean(runs3, runs, root);
}

/* what the sampling stages cannot run is refused before any work, by name */
Test(full, sampling_refusals_name_what_is_wrong, .timeout = 120) {
    char *root = sampling_standin();
    char runs[1200], file[1300], cmd[4096];
    snprintf(runs, sizeof runs, "%s/runs", root);
    snprintf(file, sizeof file, "%s/fig3.json", root);
    static const struct {
        const char *sed, *frag1, *frag2;
        int table1; /* edit table1.json instead of fig3.json */
    } cases[] = {
        /* a generate stage on solution files, not benchmark questions */
        {"s/\"data\": \"questions\", \"samples\"/\"data\": \"pairs\", \"samples\"/",
         "stage 'sample': data 'pairs' has openmath files", "math benchmark files", 0},
        /* the per-token analysis on a score stage of a data set */
        {"s/\"data\": \"sample\", \"variants\"/\"data\": \"pairs\", \"variants\"/",
         "reads per-token scores of sampled solutions", "must be a generate stage", 0},
        /* a generate stage with variants */
        {"s/\"samples\": 4,/\"samples\": 4, \"per_seed\": true,/", "stage 'sample'", "samples once",
         0},
        /* an analysis setting out of range, and a mini-scale key that the full scale has not */
        {"s/\"points\": 5/\"points\": 2/", "scales.full.partial.points", "", 0},
        {"s/\"points\": 5/\"points\": 5, \"online_questions\": 3/", "online_questions", "unknown",
         0},
        {"s/\"points\": 5/\"points\": 5, \"splits\": \"gsm8k\"/", "scales.full.partial.splits", "",
         0},
        {"s/\"points\": 5/\"points\": 5, \"splits\": [3]/", "scales.full.partial.splits",
         "group names", 0},
        /* the vote section's keys */
        {"s/\"bootstrap\": 200,/\"bootstrap\": 200, \"goal\": \"first\",/", "scales.full.vote.goal",
         "last|random", 1},
        {"s/\"online_questions\": 4/\"online_questions\": -1/", "scales.full.vote.online_questions",
         "", 1},
        {"s/\"taus\": \\[-0.5, 0.5\\]/\"taus\": [2]/", "scales.full.vote.taus", "", 1},
        {"s/\"tau_quantiles\": \\[0.5\\]/\"tau_quantiles\": [1]/", "scales.full.vote.tau_quantiles",
         "", 1},
    };
    char *out = NULL, *err = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char bad[1400];
        snprintf(bad, sizeof bad, "%s/bad%zu.json", root, i);
        snprintf(cmd, sizeof cmd, "sed '%s' %s/%s.json > %s", cases[i].sed, root,
                 cases[i].table1 ? "table1" : "fig3", bad);
        cr_assert_eq(system(cmd), 0);
        cr_expect_eq(run_full(bad, root, runs, &out, &err), 1, "case %zu", i);
        cr_expect(strstr(err, cases[i].frag1) && strstr(err, cases[i].frag2), "case %zu: %s", i,
                  err);
        cr_expect(!strstr(err, "tokenizing") && !strstr(err, "solutions for each"),
                  "case %zu: nothing ran:\n%s", i, err);
        free(out), free(err);
    }
    /* reward models whose tokenizer is not the sampling model's */
    snprintf(cmd, sizeof cmd, "echo ' ' >> %s/models/bigram/tokenizer.json", root);
    cr_assert_eq(system(cmd), 0);
    cr_expect_eq(run_full(file, root, runs, &out, &err), 1);
    cr_expect(strstr(err, "tokenizer.json files differ") && strstr(err, "'score-samples'"), "%s",
              err);
    free(out), free(err);
    th_rm_tree(root);
    free(root);
}

/* the binary stage outputs: read back as written; a damaged, short or foreign file is named */
Test(full, arrays_round_trip_and_refuse_damage) {
    char *path = th_tmp_path("arrays.bin");
    int32_t ints[5] = {3, -1, 0, 7, 2147483647};
    float floats[3] = {0.5f, -2.25f, 1e-30f};
    full_array a[3] = {{'i', 5, ints}, {'f', 3, floats}, {'i', 0, ints}};
    cr_assert_eq(full_arrays_write(path, a, 3), GC_OK, "%s", gc_last_error());
    full_array b[3] = {{'i', 0, NULL}, {'f', 0, NULL}, {'i', 0, NULL}};
    cr_assert_eq(full_arrays_read(path, b, 3), GC_OK, "%s", gc_last_error());
    cr_expect_eq(b[0].n, 5);
    cr_expect_eq(b[1].n, 3);
    cr_expect_eq(b[2].n, 0);
    cr_expect_arr_eq(b[0].data, ints, sizeof ints);
    cr_expect_arr_eq(b[1].data, floats, sizeof floats);
    for (int i = 0; i < 3; i++)
        free(b[i].data);
    /* another layout than the reader's */
    full_array c[3] = {{'f', 0, NULL}, {'f', 0, NULL}, {'i', 0, NULL}};
    cr_expect_neq(full_arrays_read(path, c, 3), GC_OK);
    cr_expect(strstr(gc_last_error(), path) && strstr(gc_last_error(), "array 0"), "%s",
              gc_last_error());
    cr_expect_null(c[0].data);
    full_array d[4] = {{'i', 0, NULL}, {'f', 0, NULL}, {'i', 0, NULL}, {'i', 0, NULL}};
    cr_expect_neq(full_arrays_read(path, d, 4), GC_OK);
    cr_expect(strstr(gc_last_error(), "4 arrays expected"), "%s", gc_last_error());
    /* one byte changed, then cut short: the checksum */
    char *buf = NULL;
    size_t size = 0;
    cr_assert_eq(gc_read_file(path, &buf, &size), GC_OK);
    buf[20] ^= 1;
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, size, f);
    fclose(f);
    cr_expect_neq(full_arrays_read(path, b, 3), GC_OK);
    cr_expect(strstr(gc_last_error(), "damaged or cut short"), "%s", gc_last_error());
    buf[20] ^= 1;
    f = fopen(path, "wb");
    fwrite(buf, 1, size - 7, f);
    fclose(f);
    cr_expect_neq(full_arrays_read(path, b, 3), GC_OK);
    cr_expect(strstr(gc_last_error(), path), "%s", gc_last_error());
    free(buf);
    remove(path);
    free(path);
}

/* the ablations at full scale on the sampling stand-in: seven reward-model variants through
 * fig3's analysis, and table1's vote with the goal state of a random response token */
Test(full, ablation_variants_and_random_goal_token, .timeout = 300) {
    char *root = sampling_standin();
    char runs[1200], cmd[4096], file[1400], path[1500];
    snprintf(runs, sizeof runs, "%s/runs", root);
    snprintf(file, sizeof file, "%s/ablations.json", root);
    snprintf(
        cmd, sizeof cmd,
        "sed 's/\"variants\": \\[\"baseline\", \"goal\"\\]/\"variants\": [\"baseline\", "
        "\"goal\", \"ordered\", \"late\", \"single-goal\", \"averaged-goal\", \"mlp-head\"]/g' "
        "%s/fig3.json > %s",
        root, file);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_full(file, root, runs, &out, &err), 0, "%s", err);
    free(out), free(err);
    snprintf(path, sizeof path, "%s/fig3/full/results.json", runs);
    cJSON *res = NULL;
    cr_assert_eq(gc_json_read(path, &res), GC_OK, "%s", gc_last_error());
    const cJSON *curves = gc_json_get(gc_json_get(res, "partial"), "curves");
    cr_expect_eq(cJSON_GetArraySize(curves), 14, "7 variants x (reward, q)");
    static const char *const order[7] = {"baseline",    "goal",          "ordered", "late",
                                         "single-goal", "averaged-goal", "mlp-head"};
    for (int v = 0; v < 7; v++)
        cr_expect_str_eq(
            cJSON_GetStringValue(gc_json_get(cJSON_GetArrayItem(curves, v), "variant")), order[v]);
    cr_expect_eq(cJSON_GetArraySize(gc_json_get(res, "reward_models")), 14);
    cJSON_Delete(res);
    /* the MLP head's file holds more than the linear head's D weights */
    char *lin = th_stage_dir(runs, "rm-goal-seed1"), *mlp = th_stage_dir(runs, "rm-mlp-head-seed1");
    char a[2200], b[2200];
    snprintf(a, sizeof a, "%s/rm.head", lin);
    snprintf(b, sizeof b, "%s/rm.head", mlp);
    struct stat sa, sb;
    cr_assert(stat(a, &sa) == 0 && stat(b, &sb) == 0);
    cr_expect_gt(sb.st_size, 10 * sa.st_size, "%lld against %lld bytes", (long long)sb.st_size,
                 (long long)sa.st_size);
    snprintf(a, sizeof a, "%s/goal_random.json", lin);
    cr_expect_eq(access(a, F_OK), 0, "%s", a);
    free(lin), free(mlp);
    /* table1's vote, goal-conditioned reward models, the random-token goal state */
    snprintf(file, sizeof file, "%s/goal-token.json", root);
    snprintf(cmd, sizeof cmd,
             "sed 's/\"variants\": \\[\"baseline\", \"goal\"\\], \"per_seed\": true, \"max_len\": "
             "64, \"micro_batch\": 4/\"variants\": [\"goal\"], \"per_seed\": true, \"max_len\": "
             "64, \"micro_batch\": 4/; s/\"bootstrap\": 200,/\"bootstrap\": 200, \"goal\": "
             "\"random\",/' %s/table1.json > %s",
             root, file);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    cr_assert_eq(run_full(file, root, runs, &out, &err), 0, "%s", err);
    cr_expect_eq(th_count_rerun(err, "rm-"), 0, "%s", err);
    cr_expect_eq(th_count_rerun(err, "score-samples-goal"), 2, "its own scoring: %s", err);
    free(out), free(err);
    snprintf(path, sizeof path, "%s/table1/full/results.json", runs);
    cr_assert_eq(gc_json_read(path, &res), GC_OK, "%s", gc_last_error());
    const cJSON *vr = gc_json_get(res, "vote");
    cr_expect_str_eq(cJSON_GetStringValue(gc_json_get(vr, "goal_token")), "random");
    cr_expect_eq(cJSON_GetArraySize(gc_json_get(vr, "variants")), 1);
    cJSON_Delete(res);
    th_rm_tree(root);
    free(root);
}

/* several processes on one cache (one per GPU, say) share a stage's instances: each instance is
 * computed once, by one of them, and the cache holds the bytes of a run alone */
Test(full, processes_on_one_cache_share_the_instances, .timeout = 300) {
    char *root = sampling_standin();
    char cmd[8192], file[1300];
    snprintf(file, sizeof file, "%s/fig3.json", root);
    const char *bin = th_replicate_bin();
    /* one thread each: the same arithmetic in every process, and no oversubscription */
    snprintf(cmd, sizeof cmd,
             "export OMP_NUM_THREADS=1; %s run %s --scale full --full-root %s --root %s/alone "
             ">%s/alone.log 2>&1",
             bin, file, root, root, root);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd,
             "export OMP_NUM_THREADS=1; %s run %s --scale full --full-root %s --root %s/shared "
             ">%s/p1.log 2>&1 & a=$!; %s run %s --scale full --full-root %s --root %s/shared "
             ">%s/p2.log 2>&1 & b=$!; wait $a; ra=$?; wait $b; rb=$?; exit $((ra | rb))",
             bin, file, root, root, root, bin, file, root, root, root);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    /* every instance computed ("no" in a stage table) by exactly one of the two */
    char p[1400];
    int computed = 0, instances = 0;
    for (int k = 1; k <= 2; k++) {
        snprintf(p, sizeof p, "%s/p%d.log", root, k);
        char *log = th_read_text(p);
        for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
            char name[128], hash[32], cached[8];
            if (sscanf(line, "%127s %31s %7s", name, hash, cached) == 3 && strlen(hash) == 16 &&
                (!strncmp(name, "rm-", 3) || !strncmp(name, "score-", 6) ||
                 !strcmp(name, "sample")))
                computed += !strcmp(cached, "no"), instances++;
        }
        free(log);
    }
    cr_expect_eq(instances, 2 * 9, "each process lists the 9 instances");
    cr_expect_eq(computed, 9, "each of the 9 instances computed once");
    char ra[1400], rb[1400];
    snprintf(ra, sizeof ra, "%s/shared", root);
    snprintf(rb, sizeof rb, "%s/alone", root);
    expect_same_caches_and_clean(ra, rb, root);
}

/* file at full scale with one seed on the CPU, then on the CUDA backend in fp32 (its host
 * emulation here, a GPU where there is one), into root/<tag>cpu and root/<tag>cuda (runs); skips
 * the test when there is no CUDA backend */
static void run_cpu_and_cuda(const char *file, const char *root, const char *tag,
                             char runs[2][1400]) {
    setenv("GCRM_CUDA_EMULATE", "1", 0); /* a real GPU when there is one */
    for (int dev = 0; dev < 2; dev++) {
        char cmd[4096], *out = NULL, *err = NULL;
        snprintf(runs[dev], 1400, "%s/%s%s", root, tag, dev ? "cuda" : "cpu");
        snprintf(cmd, sizeof cmd, "%s run %s --scale full --full-root %s --root %s --seeds 1 %s",
                 th_replicate_bin(), file, root, runs[dev],
                 dev ? "--device cuda --precision fp32" : "");
        int rc = th_run(cmd, &out, NULL, &err);
        if (dev && rc != 0 && strstr(err, "CUDA")) {
            th_rm_tree(root);
            cr_skip_test("no CUDA backend: %s", err);
        }
        cr_assert_eq(rc, 0, "%s", err);
        free(out), free(err);
    }
}

/* the full scale's sampling on the CUDA backend (its host emulation here, a GPU where there is
 * one), fp32: the same solutions token for token as on the CPU, rewards and Q-values close */
Test(full, sampling_on_the_cuda_backend_matches_the_cpu, .timeout = 300) {
    char *root = sampling_standin();
    char file[1300], cmd[4096], runs[2][1400];
    snprintf(file, sizeof file, "%s/table1.json", root);
    run_cpu_and_cuda(file, root, "", runs);
    char *s0 = th_stage_dir(runs[0], "sample"), *s1 = th_stage_dir(runs[1], "sample");
    snprintf(cmd, sizeof cmd, "cmp %s/samples.bin %s/samples.bin", s0, s1);
    cr_expect_eq(system(cmd), 0, "the same solutions: %s", cmd);
    cJSON *res[2];
    for (int dev = 0; dev < 2; dev++) {
        char path[1500];
        snprintf(path, sizeof path, "%s/table1/full/results.json", runs[dev]);
        cr_assert_eq(gc_json_read(path, &res[dev]), GC_OK, "%s", gc_last_error());
    }
    cr_expect(strstr(cJSON_GetStringValue(gc_json_get(res[1], "device")), "cuda"));
    /* the goal RM's minimum-Q AUROC and the sweep's quantile thresholds: Q-values through the
     * trained models, fp32 on both backends */
    const cJSON *v[2];
    for (int dev = 0; dev < 2; dev++) {
        v[dev] = NULL;
        for (const cJSON *e = gc_json_get(gc_json_get(res[dev], "vote"), "variants")->child; e;
             e = e->next)
            if (!strcmp(cJSON_GetStringValue(gc_json_get(e, "variant")), "goal")) v[dev] = e;
        cr_assert(v[dev]);
    }
    const cJSON *s[2] = {gc_json_get(v[0], "sweep"), gc_json_get(v[1], "sweep")};
    cr_assert_eq(cJSON_GetArraySize(s[0]), cJSON_GetArraySize(s[1]));
    for (int i = 0; i < cJSON_GetArraySize(s[0]); i++) {
        double a = gc_json_num(cJSON_GetArrayItem(s[0], i), "tau", NAN),
               b = gc_json_num(cJSON_GetArrayItem(s[1], i), "tau", NAN);
        cr_expect(fabs(a - b) < 1e-4, "sweep point %d: tau %g on the CPU, %g on CUDA", i, a, b);
    }
    const cJSON *on[2] = {gc_json_get(v[0], "online"), gc_json_get(v[1], "online")};
    cr_expect_eq(gc_json_num(on[0], "tokens_filtered", -1),
                 gc_json_num(on[1], "tokens_filtered", -2), "the online cuts");
    cJSON_Delete(res[0]), cJSON_Delete(res[1]);
    free(s0), free(s1);
    th_rm_tree(root);
    free(root);
}

/* ---- table2: DPO, PPO and the policies' evaluation at full scale ---- */

/* table2-shaped file on the sampling stand-in: reward models as fig3's (one epoch) and their
 * AUROC over fig2's prediction files; the bigram policy trained with DPO on the pairs and with PPO
 * against each reward model (its pretraining term on the pairs' correct solutions); every policy's
 * greedy answer to each of the 16 questions. */
static const char TABLE2[] =
    "{\"experiment\": \"table2\", \"pipeline\": \"math\", \"claim\": \"table2\", \"analysis\": "
    "\"table2\", \"seeds\": 2,\n"
    " \"scales\": {\"full\": {\n" STANDIN_MODELS_AND_PAIRS
    "    \"eval\": {\"files\": [\"data/eval/gsm8k/output-greedy.jsonl\", "
    "\"data/eval/svamp/output-greedy.jsonl\"], \"format\": \"openmath\", \"examples\": 96, "
    "\"mean_tokens\": 40},\n"
    "    \"questions\": {\"files\": [{\"path\": \"data/q/gsm8k/test.jsonl\", \"format\": "
    "\"gsm8k\"}, {\"path\": \"data/q/svamp/test.jsonl\", \"format\": \"gsm8k\"}], \"examples\": "
    "16, \"mean_tokens\": 20}},\n"
    "  \"stages\": {\n"
    "   \"rm\": {\"kind\": \"train\", \"model\": \"math\", \"data\": \"pairs\", \"loss\": "
    "\"preference\", \"sequences\": 2, \"variants\": [\"baseline\", \"goal\"], \"per_seed\": true, "
    "\"epochs\": 1, \"batch\": 8, \"micro_batch\": 3, \"lr\": 1e-3, \"warmup_ratio\": 0.1, "
    "\"max_len\": 64, \"lambda\": 0.5, \"K\": 4, \"precision\": \"fp32\", \"recompute\": true},\n"
    "   \"score-eval\": {\"kind\": \"score\", \"model\": \"rm\", \"data\": \"eval\", \"variants\": "
    "[\"baseline\", \"goal\"], \"per_seed\": true, \"max_len\": 64, \"micro_batch\": 4},\n"
    "   \"dpo\": {\"kind\": \"train\", \"model\": \"policy\", \"data\": \"pairs\", \"loss\": "
    "\"dpo\", \"per_seed\": true, \"epochs\": 1, \"batch\": 16, \"micro_batch\": 5, \"lr\": 1e-3, "
    "\"max_len\": 64, \"precision\": \"fp32\", \"beta\": 0.1},\n"
    "   \"ppo\": {\"kind\": \"ppo\", \"model\": \"policy\", \"scorer\": \"rm\", \"data\": "
    "\"questions\", \"variants\": [\"baseline\", \"goal\"], \"per_seed\": true, \"rollout\": 8, "
    "\"train_batch\": 4, \"episodes\": 1, \"max_new\": 8, \"mean_new_tokens\": 6, \"actor_lr\": "
    "1e-4, \"critic_lr\": 1e-4, \"kl_init\": 0.02, \"ptx_coef\": 0.05, \"ptx_data\": \"pairs\", "
    "\"ptx_batch\": 2, \"gamma\": 1.0},\n"
    "   \"eval-policies\": {\"kind\": \"generate\", \"model\": \"policy\", \"data\": "
    "\"questions\", \"variants\": [\"sft\", \"dpo\", \"ppo-baseline\", \"ppo-goal\"], "
    "\"per_seed\": true, \"samples\": 1, \"max_new\": 8, \"mean_new_tokens\": 6, \"temperature\": "
    "0, \"micro_batch\": 6}\n"
    "  }}}}\n";

static char *table2_file(const char *root, const char *name) {
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", root, name);
    FILE *f = fopen(p, "w");
    fputs(TABLE2, f);
    fclose(f);
    return strdup(p);
}

/* the accuracy of an evaluation instance's greedy answers: per group (gsm8k 0, svamp 1) and all */
static void instance_accuracy(const char *runs, const char *prefix, double acc[3]) {
    char *dir = th_stage_dir(runs, prefix), p[2400];
    snprintf(p, sizeof p, "%s/samples.jsonl", dir);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f, "%s", p);
    static char line[1 << 14];
    int n[3] = {0}, right[3] = {0};
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        int g = !strcmp(gc_json_str(o, "dataset"), "svamp"),
            ok = cJSON_IsTrue(gc_json_get(o, "is_correct"));
        n[g]++, right[g] += ok, n[2]++, right[2] += ok;
        cJSON_Delete(o);
    }
    fclose(f);
    cr_assert_eq(n[2], 16, "%s: 16 questions, one answer each", dir);
    for (int k = 0; k < 3; k++)
        acc[k] = (double)right[k] / n[k];
    free(dir);
}

static double per_seed(const cJSON *o, int k) {
    const cJSON *e = cJSON_GetArrayItem(gc_json_get(o, "per_seed"), k);
    cr_assert_not_null(e, "no per_seed[%d] in %s", k, o ? o->string : "(missing)");
    return e->valuedouble;
}

Test(full, table2_standin_dpo_ppo_and_the_policies, .timeout = 600) {
    char *root = sampling_standin();
    char *file = table2_file(root, "table2.json"), runs[1400];
    snprintf(runs, sizeof runs, "%s/runs-t2", root);
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_full(file, root, runs, &out, &err), 0, "%s", err);
    cr_expect(strstr(out, "table2: greedy accuracy"), "%s", out);
    free(out), free(err);
    char p[1600];
    snprintf(p, sizeof p, "%s/table2/full/results.json", runs);
    cJSON *res = NULL;
    cr_assert_eq(gc_json_read(p, &res), GC_OK, "%s", gc_last_error());
    /* every policy's accuracy is what its instance's graded answers say */
    double sft[3];
    instance_accuracy(runs, "eval-policies-sft", sft);
    static const char *const arms[3][2] = {{"dpo", "eval-policies-dpo-seed"},
                                           {"ppo_baseline", "eval-policies-ppo-baseline-seed"},
                                           {"ppo_goal", "eval-policies-ppo-goal-seed"}};
    const cJSON *splits = gc_json_get(res, "splits"), *avg = gc_json_get(res, "average");
    cr_assert_eq(cJSON_GetArraySize(splits), 2);
    cr_expect_str_eq(gc_json_str(cJSON_GetArrayItem(splits, 0), "split"), "gsm8k");
    cr_expect_str_eq(gc_json_str(cJSON_GetArrayItem(splits, 1), "split"), "svamp");
    cr_expect(cJSON_IsTrue(gc_json_get(cJSON_GetArrayItem(splits, 0), "in_distribution")));
    cr_expect(cJSON_IsFalse(gc_json_get(cJSON_GetArrayItem(splits, 1), "in_distribution")));
    for (int g = 0; g < 3; g++)
        cr_expect_float_eq(gc_json_num(g < 2 ? cJSON_GetArrayItem(splits, g) : avg, "sft", NAN),
                           sft[g], 1e-12);
    double acc[3][2][3];
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < 2; k++) {
            char pre[96];
            snprintf(pre, sizeof pre, "%s%d", arms[a][1], k + 1);
            instance_accuracy(runs, pre, acc[a][k]);
            for (int g = 0; g < 3; g++) {
                const cJSON *o =
                    gc_json_get(g < 2 ? cJSON_GetArrayItem(splits, g) : avg, arms[a][0]);
                cr_expect_float_eq(per_seed(o, k), acc[a][k][g], 1e-12, "%s seed %d group %d",
                                   arms[a][0], k + 1, g);
            }
        }
    /* PPO goal - baseline paired by seed; DPO - PPO goal in and out of distribution */
    const cJSON *d = gc_json_get(res, "ppo_goal_minus_baseline");
    for (int k = 0; k < 2; k++) {
        cr_expect_float_eq(per_seed(d, k), acc[2][k][2] - acc[1][k][2], 1e-12);
        cr_expect_float_eq(
            per_seed(gc_json_get(gc_json_get(res, "dpo_minus_ppo_goal"), "in_distribution"), k),
            acc[0][k][0] - acc[2][k][0], 1e-12);
        cr_expect_float_eq(
            per_seed(gc_json_get(gc_json_get(res, "dpo_minus_ppo_goal"), "out_of_distribution"), k),
            acc[0][k][1] - acc[2][k][1], 1e-12);
    }
    cr_expect_eq(gc_json_num(d, "seeds", 0), 2);
    /* the reward models' AUROC, the training curves */
    for (int v = 0; v < 2; v++)
        for (int k = 0; k < 2; k++) {
            double auc =
                per_seed(gc_json_get(gc_json_get(res, "rm_auroc"), v ? "goal" : "baseline"), k);
            cr_expect(auc >= 0 && auc <= 1, "auroc %g", auc);
        }
    const cJSON *pt = gc_json_get(res, "ppo_training");
    cr_assert_eq(cJSON_GetArraySize(pt), 4, "two variants x two seeds");
    for (const cJSON *e = pt->child; e; e = e->next)
        cr_expect_eq(cJSON_GetArraySize(gc_json_get(e, "iterations")), 2,
                     "16 questions, 8 a rollout");
    const cJSON *dt = gc_json_get(res, "dpo_training");
    cr_assert_eq(cJSON_GetArraySize(dt), 2);
    cr_expect(gc_json_get(gc_json_get(res, "verdict"), "verdict"), "a verdict is recorded");
    cJSON_Delete(res);
    /* DPO's first step: the policy is its reference, so every pair's z is 0: loss log 2, no
     * margin; the policy directory is a Hugging Face model with the reference beside it */
    for (int k = 1; k <= 2; k++) {
        char pre[32];
        snprintf(pre, sizeof pre, "dpo-seed%d", k);
        char *dir = th_stage_dir(runs, pre);
        cJSON *c = th_read_json(dir, "curve.json");
        cr_assert_eq(cJSON_GetArraySize(c), 6, "96 pairs in batches of 16");
        const cJSON *s1 = cJSON_GetArrayItem(c, 0);
        cr_expect_float_eq(gc_json_num(s1, "train_loss", NAN), log(2.0), 1e-4);
        cr_expect_float_eq(gc_json_num(s1, "margin", NAN), 0, 1e-4);
        cJSON_Delete(c);
        static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json",
                                            "reference.bin"};
        for (int f = 0; f < 4; f++) {
            snprintf(p, sizeof p, "%s/%s", dir, files[f]);
            cr_expect_eq(access(p, F_OK), 0, "%s", p);
        }
        free(dir);
    }
    /* killed after every checkpoint and resumed: the same stages, byte for byte */
    th_expect_full_resume(file, root, runs, "runs-t2-killed",
                          (const char *const[]){"dpo-seed2", "ppo-goal-seed2", NULL}, 8);
    /* refused by name before any work: the file with one piece replaced */
    static const char *const bad[][3] = {
        {"\"loss\": \"dpo\",", "\"loss\": \"dpo\", \"variants\": [\"goal\"],",
         "a DPO stage has no variants"},
        {"\"ptx_data\": \"pairs\"", "\"ptx_data\": \"questions\"",
         "needs ptx_data, a data set of OpenMath"},
        {"\"ppo-goal\"]", "\"ppo-ordered\"]", "variant 'ppo-ordered' is none of"},
        {"[\"sft\", ", "[", "the evaluation needs the \"sft\" policy"},
        {"\"samples\": 1,", "\"samples\": 2,", "one greedy solution per question"},
        {"\"scorer\": \"rm\"", "\"scorer\": \"dpo\"", "PPO trains against a preference"},
    };
    char text[8192], edited[8192], bp[1400];
    snprintf(text, sizeof text, "%s", TABLE2);
    snprintf(bp, sizeof bp, "%s/table2-bad.json", root);
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        char *at = strstr(text, bad[b][0]);
        cr_assert_not_null(at, "%s", bad[b][0]);
        snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - text), text, bad[b][1],
                 at + strlen(bad[b][0]));
        cr_assert_eq(th_write_file(bp, edited, strlen(edited)), 0);
        cr_expect_neq(run_full(bp, root, runs, &out, &err), 0, "%s", bad[b][2]);
        cr_expect(strstr(err, bad[b][2]), "expected '%s' in: %s", bad[b][2], err);
        free(out), free(err);
    }
    th_rm_tree(root);
    free(root), free(file);
}

/* table2's DPO on the CUDA backend in fp32 (its host emulation in the suite, a GPU where there is
 * one): every step's loss, pair accuracy and margin as on the CPU within 1e-4, and the DPO
 * policy's greedy answers the same (one seed, no PPO stage) */
Test(full, table2_dpo_on_the_cuda_backend_matches_the_cpu, .timeout = 300) {
    char *root = sampling_standin();
    char text[8192], edited[8192], file[1400];
    snprintf(text, sizeof text, "%s", TABLE2);
    char *a = strstr(text, "   \"ppo\": {"), *b = strstr(text, "   \"eval-policies\"");
    cr_assert(a && b);
    snprintf(edited, sizeof edited, "%.*s%s", (int)(a - text), text, b);
    char *v = strstr(edited, ", \"ppo-baseline\", \"ppo-goal\"]");
    cr_assert_not_null(v);
    memmove(v, v + strlen(", \"ppo-baseline\", \"ppo-goal\""),
            strlen(v + strlen(", \"ppo-baseline\", \"ppo-goal\"")) + 1);
    snprintf(file, sizeof file, "%s/table2-dpo.json", root);
    cr_assert_eq(th_write_file(file, edited, strlen(edited)), 0);
    char runs[2][1400];
    run_cpu_and_cuda(file, root, "t2-", runs);
    for (int dev = 0; dev < 2; dev++) { /* without a PPO stage the results say so */
        char path[1500];
        snprintf(path, sizeof path, "%s/table2/full/results.json", runs[dev]);
        cJSON *res = NULL;
        cr_assert_eq(gc_json_read(path, &res), GC_OK, "%s", gc_last_error());
        cr_expect(strstr(gc_json_str(res, "not_built"), "the PPO arms"), "%s", path);
        cJSON_Delete(res);
    }
    cJSON *c[2];
    for (int dev = 0; dev < 2; dev++) {
        char *d = th_stage_dir(runs[dev], "dpo-seed1");
        c[dev] = th_read_json(d, "curve.json");
        free(d);
    }
    cr_assert_eq(cJSON_GetArraySize(c[0]), cJSON_GetArraySize(c[1]));
    static const char *const keys[] = {"train_loss", "train_accuracy", "margin"};
    for (int t = 0; t < cJSON_GetArraySize(c[0]); t++)
        for (int k = 0; k < 3; k++) {
            double x0 = gc_json_num(cJSON_GetArrayItem(c[0], t), keys[k], NAN),
                   x1 = gc_json_num(cJSON_GetArrayItem(c[1], t), keys[k], NAN);
            cr_expect(fabs(x0 - x1) <= 1e-4, "step %d %s: cpu %.8f, cuda %.8f", t + 1, keys[k], x0,
                      x1);
        }
    cJSON_Delete(c[0]), cJSON_Delete(c[1]);
    double acc[2][3];
    for (int dev = 0; dev < 2; dev++)
        instance_accuracy(runs[dev], "eval-policies-dpo-seed1", acc[dev]);
    for (int g = 0; g < 3; g++)
        cr_expect_float_eq(acc[0][g], acc[1][g], 1e-12, "group %d", g);
    th_rm_tree(root);
    free(root);
}
