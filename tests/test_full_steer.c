/* table3b at full scale on stand-ins: the pretrained stories260K in Hugging Face's layout with a
 * chat template, Helpful-Harmless pairs of the shared test file for the goal-conditioned reward
 * models, HelpSteer-style files made here (ratings chosen so that the prototype's selection
 * shows), and an LLM judge served on the loopback address whose verdicts follow a rule of the
 * responses' lengths that does not depend on the side a response is shown on. The experiment
 * runs end to end: prototype, SFT model (a Hugging Face directory), both beam arms on the same
 * prompts (a too-long prompt skipped), the judge stages; every verdict is checked against the
 * rule applied to the arms' responses, so the side swapping is undone right; a run killed after
 * every checkpoint (the beam stages' between micro-batches, the judge's between prompts) resumes
 * to the same bytes; a second run reads
 * everything from the cache (the judge is not asked again); what cannot run is refused by name. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include <zlib.h>

#include "helpers.h"
#include "http_stub.h"
#include "lib/util/jsonio.h"

static const char *const ATTR[4] = {"helpfulness", "correctness", "coherence", "complexity"};

/* the judge's rule: helpfulness and complexity prefer the longer response, correctness and
 * coherence the shorter; equal lengths tie. +1: a wins, -1: b wins, 0: a tie */
static int rule(const char *attr, size_t a, size_t b) {
    int longer = !strcmp(attr, "helpfulness") || !strcmp(attr, "complexity");
    if (a == b) return 0;
    return (a > b) == longer ? 1 : -1;
}

/* the text between from and the first `to` after it (malloc'd), or NULL */
static char *between(const char *s, const char *from, const char *to, const char **end) {
    const char *a = strstr(s, from);
    if (!a) return NULL;
    a += strlen(from);
    const char *b = strstr(a, to);
    if (!b) return NULL;
    if (end) *end = b;
    return strndup(a, (size_t)(b - a));
}

static void judge_answer(int c, const char *request) {
    cJSON *req = cJSON_Parse(th_http_body(request));
    const cJSON *msg = cJSON_GetArrayItem(cJSON_GetObjectItem(req, "messages"), 0);
    const char *q = cJSON_GetStringValue(cJSON_GetObjectItem(msg, "content")), *end = NULL;
    char *attr = q ? between(q, "on one attribute: ", ".\n", NULL) : NULL;
    char *a = q ? between(q, "[Response A]\n", "\n\n[Response B]\n", &end) : NULL;
    char *b = end ? between(end, "[Response B]\n", "\n\nWhich response is better", NULL) : NULL;
    if (!attr || !a || !b) {
        th_http_reply(c, 400, "{\"error\": \"not a pairwise prompt\"}");
    } else {
        int w = rule(attr, strlen(a), strlen(b));
        th_http_answer(c, w > 0   ? "A is better.\\nVerdict: A"
                          : w < 0 ? "Verdict: B"
                                  : "Verdict: tie");
    }
    free(attr), free(a), free(b);
    cJSON_Delete(req);
}

static pid_t g_server = -1;
static int g_port;
static void start(void) {
    g_server = th_http_start(judge_answer, &g_port);
}
static void stop(void) {
    if (g_server > 0) th_http_stop(g_server);
    g_server = -1;
}

static const char EXPERIMENT[] =
    "{\"experiment\": \"table3b\", \"pipeline\": \"math\", \"analysis\": \"steer\", \"claim\": "
    "\"table3b\", \"seeds\": 2,\n"
    " \"scales\": {\"full\": {\n"
    "  \"models\": {\"llama3\": {\"path\": \"models/s260\", \"chat\": true, \"shape\": {\"dim\": "
    "64, \"hidden_dim\": 172, \"n_layers\": 5, \"n_heads\": 8, \"n_kv_heads\": 4, "
    "\"vocab_size\": 512}}},\n"
    "  \"data\": {\"hh-train\": {\"files\": [\"data/hh/train.jsonl\"], \"format\": \"hh\", "
    "\"examples\": 40, \"mean_tokens\": 200},\n"
    "    \"hs-proto\": {\"files\": [\"data/helpsteer/train.jsonl\"], \"format\": \"helpsteer\", "
    "\"examples\": 4, \"mean_tokens\": 60, \"min_rating\": 3, \"first\": 4},\n"
    "    \"hs-val\": {\"files\": [\"data/helpsteer/validation.jsonl\"], \"format\": "
    "\"helpsteer\", \"examples\": 8, \"mean_tokens\": 40}},\n"
    "  \"stages\": {\n"
    "   \"rm-goal\": {\"kind\": \"train\", \"model\": \"llama3\", \"data\": \"hh-train\", "
    "\"loss\": \"preference\", \"sequences\": 2, \"variants\": [\"goal\"], \"per_seed\": true, "
    "\"epochs\": 1, \"batch\": 8, \"micro_batch\": 4, \"lr\": 1e-3, \"warmup_ratio\": 0.1, "
    "\"max_len\": 96, \"lambda\": 0.5, \"K\": 4, \"precision\": \"fp32\"},\n"
    "   \"prototype\": {\"kind\": \"score\", \"model\": \"rm-goal\", \"variants\": [\"goal\"], "
    "\"data\": \"hs-proto\", \"per_seed\": true, \"max_len\": 96},\n"
    "   \"sft\": {\"kind\": \"train\", \"model\": \"llama3\", \"data\": \"hs-proto\", \"loss\": "
    "\"sft\", \"per_seed\": true, \"epochs\": 2, \"batch\": 2, \"lr\": 1e-3, \"max_len\": 96, "
    "\"precision\": \"fp32\"},\n"
    "   \"guided\": {\"kind\": \"beam\", \"model\": \"llama3\", \"scorer\": \"rm-goal\", \"data\": "
    "\"hs-val\", \"per_seed\": true, \"examples\": 5, \"beam\": 2, \"samples\": 2, "
    "\"step_tokens\": 8, \"max_steps\": 3, \"max_len\": 72, \"micro_batch\": 3},\n"
    "   \"sft-guided\": {\"kind\": \"beam\", \"model\": \"sft\", \"data\": \"hs-val\", "
    "\"per_seed\": true, \"examples\": 5, \"beam\": 2, \"samples\": 2, \"step_tokens\": %d, "
    "\"max_steps\": 3, \"max_len\": 72, \"micro_batch\": 3}},\n"
    "  \"steer\": {\"votes\": 3, \"concurrency\": 4}}}}\n";

static void helpsteer_line(FILE *f, const char *prompt, const char *response, int r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "prompt", prompt);
    cJSON_AddStringToObject(o, "response", response);
    for (int a = 0; a < 4; a++) /* ratings r, r, r, r - (a == 3): complexity decides */
        cJSON_AddNumberToObject(o, ATTR[a], a == 3 ? r - 1 : r);
    cJSON_AddNumberToObject(o, "verbosity", 2);
    char *t = cJSON_PrintUnformatted(o);
    fprintf(f, "%s\n", t);
    free(t);
    cJSON_Delete(o);
}

/* the stand-in root (NULL when stories260K, the HH file or python3 is missing) */
static char *steer_root(void) {
    setenv("OMP_NUM_THREADS", "1", 1);
    char model[1024], tok[1024], hh[1024];
    if (!th_data_file(model, sizeof model, "models/stories260K/stories260K.bin") ||
        !th_data_file(tok, sizeof tok, "models/stories260K/tok512.bin") ||
        !th_data_file(hh, sizeof hh, "hh-rlhf/harmless-base-test.jsonl.gz") ||
        system("python3 -c 'import json, struct' >/dev/null 2>&1") != 0)
        return NULL;
    char *root = th_tmp_path("steerroot"), cmd[4096], p[1200];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/data/hh %s/data/helpsteer && python3 tools/hf_export.py %s "
             "%s/models/s260 --tokenizer %s",
             root, root, model, root, tok);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(p, sizeof p, "%s/models/s260", root);
    th_add_chat_template(p);
    gzFile z = gzopen(hh, "rb");
    static char line[1 << 16];
    snprintf(p, sizeof p, "%s/data/hh/train.jsonl", root);
    FILE *f = fopen(p, "w");
    for (int i = 0; i < 40 && gzgets(z, line, sizeof line); i++)
        fputs(line, f);
    fclose(f);
    gzclose(z);
    /* ten training items; those rated 3 or more on all four attributes: 1, 2, 4, 5, 7, 8 */
    static const int rating[10] = {3, 4, 4, 2, 4, 5, 1, 4, 5, 3};
    snprintf(p, sizeof p, "%s/data/helpsteer/train.jsonl", root);
    f = fopen(p, "w");
    for (int i = 0; i < 10; i++) {
        char q[128], r[256];
        snprintf(q, sizeof q, "Tell me a story about a cat number %d.", i);
        snprintf(r, sizeof r,
                 "Once upon a time there was a cat. It was number %d and it was happy.", i);
        helpsteer_line(f, q, r, rating[i] > 4 ? 4 : rating[i]);
    }
    fclose(f);
    /* eight validation items over six prompts; the third is too long for the beam's room */
    snprintf(p, sizeof p, "%s/data/helpsteer/validation.jsonl", root);
    f = fopen(p, "w");
    static char longp[4096];
    longp[0] = 0;
    for (int k = 0; k < 30; k++)
        strcat(longp, "The little dog ran to the park and played with a red ball. ");
    const char *prompts[8] = {"Tell me about Lily.",   "Tell me about Lily.",
                              "Write about Tom.",      longp,
                              "A story about a tree.", "A story about a tree.",
                              "What did Ben see?",     "Tell me about the sea."};
    for (int i = 0; i < 8; i++)
        helpsteer_line(f, prompts[i], "Once upon a time.", 1);
    fclose(f);
    return root;
}

static char *write_experiment(const char *root, const char *name, int step_tokens) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", root, name);
    FILE *f = fopen(p, "w");
    fprintf(f, EXPERIMENT, step_tokens);
    fclose(f);
    return strdup(p);
}

static int run(const char *file, const char *root, const char *runs, char **out, char **err) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s run %s --scale full --full-root %s --root %s", th_replicate_bin(),
             file, root, runs);
    return th_run(cmd, out, NULL, err);
}

Test(full_steer, table3b_standin_prototype_sft_beams_and_judge, .init = start, .fini = stop,
     .timeout = 600) {
    char *root = steer_root();
    if (!root)
        cr_skip_test("stories260K, the HH file or python3 not found under %s", th_data_dir());
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", g_port);
    setenv("GCRM_JUDGE_URL", url, 1);
    setenv("GCRM_JUDGE_MODEL", "length-rule", 1);
    char *file = write_experiment(root, "table3b-standin.json", 8), runs[1400];
    snprintf(runs, sizeof runs, "%s/runs", root);
    char *out = NULL, *err = NULL;
    int rc = run(file, root, runs, &out, &err);
    if (rc != 0 && strstr(err, "no libcurl")) cr_skip_test("built without libcurl: %s", err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect(strstr(err, "4 of 10 items kept"), "the prototype's selection: %s", err);
    cr_expect(strstr(out, "table3b"), "%s", out);
    free(out), free(err);

    /* the prototype: 4 examples; the SFT model a Hugging Face directory with its tokenizer */
    for (int k = 1; k <= 2; k++) {
        char pre[64];
        snprintf(pre, sizeof pre, "prototype-goal-seed%d", k);
        char *d = th_stage_dir(runs, pre);
        cJSON *info = th_read_json(d, "info.json");
        cr_expect_eq(gc_json_num(info, "examples", 0), 4);
        cJSON_Delete(info);
        cJSON *proto = th_read_json(d, "prototype.json");
        cr_expect_eq(cJSON_GetArraySize(gc_json_get(proto, "goal")), 64, "a 64-wide prototype");
        cJSON_Delete(proto);
        free(d);
        snprintf(pre, sizeof pre, "sft-seed%d", k);
        d = th_stage_dir(runs, pre);
        static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json"};
        for (int f = 0; f < 3; f++) {
            char p[2400];
            snprintf(p, sizeof p, "%s/%s", d, files[f]);
            cr_expect_eq(access(p, F_OK), 0, "%s", p);
        }
        free(d);
    }

    /* every verdict is the rule on the two arms' responses, whichever side each was shown on */
    int wins[4] = {0}, losses[4] = {0}, ties[4] = {0}, shown[2] = {0};
    for (int k = 1; k <= 2; k++) {
        char pre[64];
        snprintf(pre, sizeof pre, "guided-seed%d", k);
        char *gd = th_stage_dir(runs, pre);
        snprintf(pre, sizeof pre, "sft-guided-seed%d", k);
        char *bd = th_stage_dir(runs, pre);
        snprintf(pre, sizeof pre, "judge-seed%d", k);
        char *jd = th_stage_dir(runs, pre);
        cJSON *g = th_read_json(gd, "responses.json"), *b = th_read_json(bd, "responses.json");
        cJSON *v = th_read_json(jd, "verdicts.json"), *ginfo = th_read_json(gd, "info.json");
        cr_expect_eq(gc_json_num(ginfo, "prompts_skipped_too_long", -1), 1);
        const cJSON *gp = gc_json_get(g, "prompt"), *gt = gc_json_get(g, "text"),
                    *bt = gc_json_get(b, "text");
        cr_assert_eq(cJSON_GetArraySize(gp), 4, "the first 5 distinct prompts, one too long");
        cr_expect_str_eq(cJSON_GetArrayItem(gp, 0)->valuestring, "Tell me about Lily.");
        cr_expect_str_eq(cJSON_GetArrayItem(gp, 2)->valuestring, "A story about a tree.");
        cr_assert_eq(cJSON_GetArraySize(bt), 4);
        cr_assert_eq(gc_json_num(v, "prompts", 0), 4);
        const cJSON *oc = gc_json_get(v, "outcome"), *gf = gc_json_get(v, "guided_first");
        cr_assert_eq(cJSON_GetArraySize(oc), 16);
        for (int p = 0; p < 4; p++)
            for (int a = 0; a < 4; a++) {
                size_t lg = strlen(cJSON_GetArrayItem(gt, p)->valuestring),
                       lb = strlen(cJSON_GetArrayItem(bt, p)->valuestring);
                int want = rule(ATTR[a], lg, lb), got = cJSON_GetArrayItem(oc, p * 4 + a)->valueint;
                cr_expect_eq(got, want, "seed %d prompt %d %s: %d, the rule says %d", k, p, ATTR[a],
                             got, want);
                wins[a] += want > 0, losses[a] += want < 0, ties[a] += want == 0;
                shown[cJSON_GetArrayItem(gf, p * 4 + a)->valueint != 0]++;
            }
        cJSON_Delete(g), cJSON_Delete(b), cJSON_Delete(v), cJSON_Delete(ginfo);
        free(gd), free(bd), free(jd);
    }
    cr_expect(shown[0] > 0 && shown[1] > 0, "guided shown first %d times, second %d", shown[1],
              shown[0]);

    char p[1600];
    snprintf(p, sizeof p, "%s/table3b/full/results.json", runs);
    cJSON *res = NULL;
    cr_assert_eq(gc_json_read(p, &res), GC_OK, "%s", gc_last_error());
    const cJSON *at = gc_json_get(res, "attributes");
    cr_assert_eq(cJSON_GetArraySize(at), 4);
    int a = 0;
    for (const cJSON *o = at->child; o; o = o->next, a++) {
        cr_expect_str_eq(gc_json_str(o, "name"), ATTR[a]);
        cr_expect_eq(gc_json_num(o, "wins", -1), wins[a], "%s", ATTR[a]);
        cr_expect_eq(gc_json_num(o, "losses", -1), losses[a], "%s", ATTR[a]);
        cr_expect_eq(gc_json_num(o, "ties", -1), ties[a], "%s", ATTR[a]);
        cr_expect_eq(gc_json_num(o, "prompts", 0), 4);
        cr_expect_eq(gc_json_num(o, "seeds", 0), 2);
        cr_expect(strstr(gc_json_str(o, "judge"), "length-rule"));
    }
    cr_expect(gc_json_get(gc_json_get(res, "verdict"), "verdict"), "a verdict is recorded");
    cJSON_Delete(res);

    /* killed after every checkpoint (the judge's among them) and resumed: the same bytes */
    th_expect_full_resume(file, root, runs, "runs3",
                          (const char *const[]){"judge-seed2", "sft-guided-seed2", NULL}, 8);

    /* the judge gone: a second run reads every stage from the cache */
    stop();
    cr_assert_eq(run(file, root, runs, &out, &err), 0, "%s", err);
    cr_expect_eq(th_count_rerun(err, "judge-seed"), 0, "%s", err);
    free(out), free(err);

    /* refused before any work: no judge configured; arms that decode differently */
    unsetenv("GCRM_JUDGE_URL");
    cr_expect_neq(run(file, root, runs, &out, &err), 0);
    cr_expect(strstr(err, "GCRM_JUDGE_URL"), "%s", err);
    free(out), free(err);
    setenv("GCRM_JUDGE_URL", url, 1);
    char *bad = write_experiment(root, "table3b-bad.json", 4);
    cr_expect_neq(run(bad, root, runs, &out, &err), 0);
    cr_expect(strstr(err, "must decode the same prompts alike"), "%s", err);
    free(out), free(err), free(bad);
    unsetenv("GCRM_JUDGE_URL"), unsetenv("GCRM_JUDGE_MODEL");
    th_rm_tree(root);
    free(root), free(file);
}

/* the experiment with `from` replaced by `to` (once), run: it must fail naming `want` */
static void expect_refused(const char *root, const char *from, const char *to, const char *want) {
    char text[8192], p[1200], runs[1200];
    snprintf(text, sizeof text, EXPERIMENT, 8);
    char *at = strstr(text, from);
    cr_assert_not_null(at, "'%s' is not in the experiment", from);
    char edited[8192];
    snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    snprintf(p, sizeof p, "%s/refused.json", root);
    cr_assert_eq(th_write_file(p, edited, strlen(edited)), 0);
    snprintf(runs, sizeof runs, "%s/runs-refused", root);
    char *out = NULL, *err = NULL;
    cr_expect_neq(run(p, root, runs, &out, &err), 0, "%s -> %s ran", from, to);
    cr_expect(strstr(err, want), "%s -> %s: expected '%s' in: %s", from, to, want, err);
    free(out), free(err);
}

Test(full_steer, bad_inputs_are_named, .timeout = 300) {
    char *root = steer_root();
    if (!root)
        cr_skip_test("stories260K, the HH file or python3 not found under %s", th_data_dir());
    setenv("GCRM_JUDGE_URL", "http://127.0.0.1:9/v1/chat/completions", 1);
    setenv("GCRM_JUDGE_MODEL", "nobody", 1);
    /* keys out of range, named with their path */
    expect_refused(root, "\"min_rating\": 3", "\"min_rating\": 5", "hs-proto.min_rating");
    expect_refused(root, "\"micro_batch\": 3}", "\"micro_batch\": 3, \"lp_weight\": -1}",
                   "lp_weight");
    expect_refused(root, "\"concurrency\": 4", "\"concurrency\": 0", "steer.concurrency");
    expect_refused(root, "\"votes\": 3", "\"votes\": 3, \"judge\": 1", "steer.judge");
    /* stages that do not make a steer analysis */
    expect_refused(root, "\"scorer\": \"rm-goal\"", "\"scorer\": \"sft\"",
                   "guidance reads a preference train stage");
    expect_refused(root, "\"variants\": [\"goal\"], \"data\": \"hs-proto\"",
                   "\"variants\": [\"baseline\"], \"data\": \"hs-proto\"",
                   "variants must be stage 'rm-goal''s one variant");
    expect_refused(root, "\"data\": \"hh-train\"", "\"data\": \"hs-proto\"",
                   "has helpsteer files: this stage reads hh files");
    expect_refused(root, "\"scorer\": \"rm-goal\", ", "",
                   "one guided by a scorer and one (the baseline) without");
    /* no item rated high enough: the data set named, after the reward models trained */
    expect_refused(root, "\"min_rating\": 3", "\"min_rating\": 4",
                   "data 'hs-proto': none of its 10 items is rated at least 4");
    /* a malformed HelpSteer line: its file and line */
    char p[1200];
    snprintf(p, sizeof p, "%s/data/helpsteer/validation.jsonl", root);
    FILE *f = fopen(p, "a");
    fprintf(f, "{\"prompt\": \"x\", \"response\": \"y\", \"helpfulness\": \"high\"}\n");
    fclose(f);
    expect_refused(root, "\"votes\": 3", "\"votes\": 2", "validation.jsonl:9");
    unsetenv("GCRM_JUDGE_URL"), unsetenv("GCRM_JUDGE_MODEL");
    th_rm_tree(root);
    free(root);
}
