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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <zlib.h>

#include "helpers.h"
#include "lib/util/jsonio.h"

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
    char runs3[1300], extra[2600], resumed[4096] = "";
    snprintf(runs3, sizeof runs3, "%s/runs3", root);
    snprintf(extra, sizeof extra, "--scale full --full-root %s", root);
    int n = th_run_killed_after_every_checkpoint(file, runs3, extra, resumed, sizeof resumed);
    cr_expect_gt(n, 8, "the run was killed at its checkpoints (%d runs)", n);
    cr_expect(strstr(resumed, "rm-goal-seed2"), "resumed: %s", resumed);
    char cc[1400];
    snprintf(cc, sizeof cc, "%s/cache", runs3);
    cr_expect(th_same_stages(ca, cc, why, sizeof why), "%s", why);
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
    cr_expect(strstr(err, "stage 'ppo' (kind ppo): not built"), "%s", err);
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
    snprintf(p, sizeof p, "%s/models/s260/tokenizer_config.json", root);
    cJSON *tc = NULL;
    cr_assert_eq(gc_json_read(p, &tc), GC_OK, "%s", gc_last_error());
    cJSON_AddStringToObject(tc, "chat_template",
                            "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ "
                            "m['content'] }}\n{% endfor %}{% if add_generation_prompt "
                            "%}assistant:{% endif %}");
    cr_assert_eq(gc_json_write(p, tc), GC_OK);
    cJSON_Delete(tc);
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
