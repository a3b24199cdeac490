/* Bad input never crashes: truncated, corrupted, foreign and wrong-version checkpoints and
 * tokenizers, malformed and ill-typed configs, bad command lines. Each gives a non-zero status and
 * a message that names the file and the line, key or flag. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/base.h"
#include "lib/model/ckpt.h"
#include "lib/util/config.h"
#include "lib/model/model_json.h"
#include "lib/model/tokenizer.h"
#include "helpers.h"

static char *saved_tiny_ckpt(size_t *size) {
    gc_model_config c = th_tiny_config(0);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &c), GC_OK);
    th_init_weights(&m, 1);
    char *path = th_tmp_path("tiny.ckpt");
    cr_assert_eq(gc_ckpt_save(path, &m, NULL), GC_OK, "%s", gc_last_error());
    gc_model_free(&m);
    char *data;
    cr_assert_eq(gc_read_file(path, &data, size), GC_OK);
    remove(path);
    free(path);
    return data;
}

/* Loads bytes written to a temp file; expects failure with a message naming the file and `what`. */
static void expect_ckpt_error(const char *bytes, size_t n, const char *what) {
    char *path = th_tmp_path("bad.ckpt");
    cr_assert_eq(th_write_file(path, bytes, n), 0);
    gc_model m;
    gc_status s = gc_ckpt_load_any(path, &m);
    cr_expect_neq(s, GC_OK, "%s: loaded without error", what);
    cr_expect(strstr(gc_last_error(), path) != NULL, "%s: message does not name the file: %s", what,
              gc_last_error());
    cr_expect(strstr(gc_last_error(), what) != NULL, "expected '%s' in: %s", what, gc_last_error());
    remove(path);
    free(path);
}

Test(bad_input, checkpoint_roundtrip_then_damage) {
    size_t n;
    char *good = saved_tiny_ckpt(&n);
    char *path = th_tmp_path("good.ckpt");
    cr_assert_eq(th_write_file(path, good, n), 0);
    gc_model m;
    cr_assert_eq(gc_ckpt_load(path, &m, NULL, NULL), GC_OK, "%s", gc_last_error());
    gc_model_free(&m);
    remove(path);
    free(path);

    char *bad = malloc(n);
    size_t cuts[] = {0, 5, 12, 60, 200, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        /* a cut inside the magic reads as a foreign file; later cuts as truncation */
        expect_ckpt_error(good, cuts[i], cuts[i] < 8 ? "llama2.c" : "truncated");
    }
    memcpy(bad, good, n);
    bad[n / 2] ^= 0x40; /* one flipped bit in the weights */
    expect_ckpt_error(bad, n, "checksum");
    memcpy(bad, good, n);
    bad[0] = 'X';
    expect_ckpt_error(bad, n, "llama2.c"); /* not our magic: tried as llama2.c, which rejects it */
    memcpy(bad, good, n);
    bad[8] = 99; /* version */
    expect_ckpt_error(bad, n, "version");
    memcpy(bad, good, n);
    int32_t huge = -5;
    memcpy(bad + 12, &huge, 4); /* dim */
    expect_ckpt_error(bad, n, "dim");
    memcpy(bad, good, n);
    bad[8 + 4 + 40 + 4] = 'q'; /* first tensor name */
    expect_ckpt_error(bad, n, "does not match");
    free(bad);
    free(good);
}

Test(bad_input, llama2c_real_checkpoint_truncated_and_extended) {
    char model[1024];
    if (!th_data_file(model, sizeof model, "models/stories260K/stories260K.bin"))
        cr_skip_test("stories260K.bin not found under %s (set GCRM_DATA)", th_data_dir());
    char *data;
    size_t n;
    cr_assert_eq(gc_read_file(model, &data, &n), GC_OK);
    expect_ckpt_error(data, n - 4, "truncated");
    expect_ckpt_error(data, n / 3, "truncated");
    char *longer = malloc(n + 8);
    memcpy(longer, data, n);
    memset(longer + n, 0, 8);
    expect_ckpt_error(longer, n + 8, "implies");
    free(longer);
    free(data);
}

Test(bad_input, llama2c_garbage) {
    int32_t hdr[7] = {64, 172, 5, 8, 3, 512, 512}; /* 8 heads do not divide into 3 kv heads */
    expect_ckpt_error((const char *)hdr, sizeof hdr, "n_kv_heads");
    expect_ckpt_error("hello world, this is not a model at all", 39, "llama2.c");
    expect_ckpt_error("", 0, "too short");
    gc_model m;
    cr_expect_eq(gc_ckpt_load_any("/nonexistent/x.bin", &m), GC_ERR_IO);
    cr_expect(strstr(gc_last_error(), "/nonexistent/x.bin") != NULL);
}

Test(bad_input, tokenizer_files) {
    char tok[1024];
    if (!th_data_file(tok, sizeof tok, "models/stories260K/tok512.bin"))
        cr_skip_test("tok512.bin not found under %s", th_data_dir());
    char *data;
    size_t n;
    cr_assert_eq(gc_read_file(tok, &data, &n), GC_OK);
    gc_tokenizer t;
    cr_assert_eq(gc_tokenizer_load(&t, tok, 512), GC_OK, "%s", gc_last_error());
    gc_tokenizer_free(&t);
    cr_expect_eq(gc_tokenizer_load(&t, tok, 511), GC_ERR_FORMAT, "wrong vocabulary size accepted");
    cr_expect(strstr(gc_last_error(), "does not match") != NULL, "%s", gc_last_error());
    cr_expect_eq(gc_tokenizer_load(&t, tok, 513), GC_ERR_FORMAT);
    char *path = th_tmp_path("tok.bin");
    size_t cuts[] = {0, 3, 10, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        cr_assert_eq(th_write_file(path, data, cuts[i]), 0);
        cr_expect_eq(gc_tokenizer_load(&t, path, 512), GC_ERR_FORMAT, "cut at %zu", cuts[i]);
        cr_expect(strstr(gc_last_error(), path) != NULL, "%s", gc_last_error());
    }
    int32_t bad_len = -7;
    memcpy(data + 4 + 4, &bad_len, 4); /* first token's length */
    cr_assert_eq(th_write_file(path, data, n), 0);
    cr_expect_eq(gc_tokenizer_load(&t, path, 512), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "token 0") != NULL, "%s", gc_last_error());
    remove(path);
    free(path);
    free(data);
}

/* Parses text as a config and reads its "model" object; expects failure mentioning each of the
 * fragments (file name, line, key). */
static void expect_config_error(const char *text, const char *frag1, const char *frag2) {
    gc_config c;
    gc_status s = gc_config_parse(&c, "exp.json", text);
    if (s == GC_OK) {
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(c.root, "model");
        gc_model_config mc;
        s = model ? gc_model_config_read(&c, model, "model", &mc)
                  : gc_fail(GC_ERR_CONFIG, "exp.json: no model");
        gc_config_free(&c);
    }
    cr_expect_eq(s, GC_ERR_CONFIG, "accepted: %s", text);
    cr_expect(strstr(gc_last_error(), frag1) != NULL, "'%s' not in: %s", frag1, gc_last_error());
    cr_expect(strstr(gc_last_error(), frag2) != NULL, "'%s' not in: %s", frag2, gc_last_error());
}

#define GOOD_MODEL                                                                                 \
    "\"dim\": 16, \"hidden_dim\": 24, \"n_layers\": 2, \"n_heads\": 4, \"n_kv_heads\": 2,\n"       \
    "\"vocab_size\": 19, \"seq_len\": 8"

Test(bad_input, configs) {
    gc_config c;
    cr_assert_eq(gc_config_parse(&c, "exp.json", "{\"model\": {" GOOD_MODEL "}}"), GC_OK);
    gc_model_config mc;
    cr_assert_eq(gc_model_config_read(&c, cJSON_GetObjectItem(c.root, "model"), "model", &mc),
                 GC_OK, "%s", gc_last_error());
    cr_expect_eq(mc.dim, 16);
    cr_expect_eq(mc.tied, 1);
    cr_expect_float_eq(mc.norm_eps, 1e-5f, 1e-12);
    gc_config_free(&c);

    expect_config_error("{\"model\": {\n\"dim\": 16,,\n}}", "exp.json:2:", "syntax");
    expect_config_error("[1, 2]", "exp.json:1", "object");
    expect_config_error("{\"model\": {" GOOD_MODEL ",\n\"dimm\": 3}}", "exp.json:3:", "model.dimm");
    expect_config_error("{\"model\": {" GOOD_MODEL ",\n\"tied\": \"yes\"}}",
                        "exp.json:3:", "model.tied");
    expect_config_error("{\"model\": {\n" GOOD_MODEL ",\n\"norm_eps\": 5}}",
                        "exp.json:4:", "out of range");
    expect_config_error("{\"model\": {\"dim\": 16.5, \"hidden_dim\": 24}}", "model.dim", "integer");
    expect_config_error("{\"model\": {\"dim\": 16, \"hidden_dim\": 24}}", "missing", "n_layers");
    expect_config_error("{\"model\": {" GOOD_MODEL ", \"seq_len\": 9}}", "model.seq_len", "twice");
    expect_config_error("{\"model\": {\"dim\": 16, \"hidden_dim\": 24, \"n_layers\": 2, "
                        "\"n_heads\": 4, \"n_kv_heads\": 3, \"vocab_size\": 19, \"seq_len\": 8}}",
                        "exp.json:1", "n_kv_heads");
    expect_config_error("{\"model\": 3}", "model", "object");
    cr_expect_eq(gc_config_load(&c, "/nonexistent/exp.json"), GC_ERR_IO);
    cr_expect(strstr(gc_last_error(), "/nonexistent/exp.json") != NULL);
}

Test(bad_input, enum_and_string_fields) {
    typedef struct {
        int mode;
        char name[GC_CFG_STRLEN];
    } opts;
    static const gc_cfg_field fields[] = {
        {"pairs", GC_CFG_ENUM, offsetof(opts, mode), 1, 0, 0, "all|ordered"},
        {"name", GC_CFG_STRING, offsetof(opts, name), 0, 0, 0, NULL},
    };
    gc_config c;
    opts o = {0};
    cr_assert_eq(gc_config_parse(&c, "f.json", "{\"pairs\": \"ordered\", \"name\": \"x\"}"), GC_OK);
    cr_assert_eq(gc_config_read(&c, c.root, "", fields, 2, &o), GC_OK, "%s", gc_last_error());
    cr_expect_eq(o.mode, 1);
    cr_expect_str_eq(o.name, "x");
    gc_config_free(&c);
    cr_assert_eq(gc_config_parse(&c, "f.json", "{\n\"pairs\": \"some\"}"), GC_OK);
    cr_expect_eq(gc_config_read(&c, c.root, "", fields, 2, &o), GC_ERR_CONFIG);
    cr_expect(strstr(gc_last_error(), "f.json:2: key 'pairs'") != NULL, "%s", gc_last_error());
    cr_expect(strstr(gc_last_error(), "all|ordered") != NULL);
    gc_config_free(&c);
}

/* Runs replicate with args; expects exit code rc and stderr containing frag. */
static void expect_cli(const char *args, int rc, const char *frag) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s", th_replicate_bin(), args);
    char *err = NULL;
    int got = th_run(cmd, NULL, NULL, &err);
    cr_expect_eq(got, rc, "'%s' exited %d, expected %d: %s", args, got, rc, err ? err : "");
    cr_expect(err && strstr(err, frag) != NULL, "'%s': expected '%s' in: %s", args, frag,
              err ? err : "");
    free(err);
}

Test(bad_input, command_line) {
    expect_cli("generate --checkpoint x.bin --bogus 3", 2, "unknown option '--bogus'");
    expect_cli("generate --checkpoint x.bin --steps ten", 2, "--steps");
    expect_cli("generate --checkpoint x.bin --steps 0", 2, "--steps");
    expect_cli("generate --checkpoint x.bin --temperature -1", 2, "--temperature");
    expect_cli("generate --checkpoint x.bin --top-p 1.5", 2, "--top-p");
    expect_cli("generate --checkpoint", 2, "needs a value");
    expect_cli("generate", 2, "--checkpoint is required");
    expect_cli("generate --checkpoint x.bin extra", 2, "unexpected argument 'extra'");
    expect_cli("generate --checkpoint x.bin --device tpu", 2, "--device");
    expect_cli("generate --checkpoint x.bin --device cuda --precision fp16", 2, "--precision");
    expect_cli("run experiments/fig2.json --precision", 2, "needs a value");
    expect_cli("frobnicate", 2, "unknown command 'frobnicate'");
    expect_cli("", 2, "usage");
    expect_cli("generate --checkpoint /nonexistent/m.bin", 1, "/nonexistent/m.bin");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --help", th_replicate_bin());
    char *out = NULL;
    cr_expect_eq(th_run(cmd, &out, NULL, NULL), 0);
    cr_expect(out && strstr(out, "generate") != NULL);
    free(out);
    snprintf(cmd, sizeof cmd, "%s generate --help", th_replicate_bin());
    cr_expect_eq(th_run(cmd, &out, NULL, NULL), 0);
    cr_expect(out && strstr(out, "--top-p") != NULL);
    free(out);
}

Test(bad_input, atomic_write_leaves_nothing_on_failure) {
    gc_model_config c = th_tiny_config(1);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &c), GC_OK);
    cr_expect_eq(gc_ckpt_save("/nonexistent-dir/m.ckpt", &m, NULL), GC_ERR_IO);
    cr_expect(strstr(gc_last_error(), "/nonexistent-dir/m.ckpt") != NULL, "%s", gc_last_error());
    char *path = th_tmp_path("abort.ckpt");
    gc_atomic_file af;
    cr_assert_eq(gc_atomic_open(&af, path), GC_OK);
    gc_atomic_write(&af, "partial", 7);
    char *tmp = strdup(af.tmp_path);
    gc_atomic_abort(&af);
    FILE *f = fopen(path, "rb"), *g = fopen(tmp, "rb");
    cr_expect_null(f, "an aborted write left the final file");
    cr_expect_null(g, "an aborted write left its temp file");
    if (f) fclose(f);
    if (g) fclose(g);
    free(tmp), free(path);
    gc_model_free(&m);
}

/* ---- the shared flag parser (replicate, gcrm-bench, gcrm-bench-gpu) ---- */

#include "lib/util/flags.h"

/* the usage errors it prints go to a captured stderr */
Test(flags, table_parse_values_switches_and_errors, .init = cr_redirect_stderr) {
    long n = 3;
    double x = 0;
    const char *s = NULL, *pos[2];
    char choice[8] = "a";
    int sw = 0, np = -1;
    const gc_flag flags[] = {{"n", GC_FLAG_INT, &n, 1, 10, NULL, 0},
                             {"x", GC_FLAG_FLOAT, &x, 0, 1, NULL, 0},
                             {"s", GC_FLAG_STRING, &s, 0, 0, NULL, 0},
                             {"c", GC_FLAG_CHOICE, choice, 0, 0, "a|bb", sizeof choice},
                             {"on", GC_FLAG_SWITCH, &sw, 0, 0, NULL, 0}};
    char *ok[] = {"prog", "file", "--n", "7", "--on", "--x", "0.5", "--s", "hi", "--c", "bb"};
    cr_assert_eq(gc_flags_parse("prog", 11, ok, flags, 5, pos, 2, &np), 0);
    cr_expect_eq(n, 7);
    cr_expect_float_eq(x, 0.5, 1e-12);
    cr_expect_str_eq(s, "hi");
    cr_expect_str_eq(choice, "bb");
    cr_expect_eq(sw, 1);
    cr_expect_eq(np, 1);
    cr_expect_str_eq(pos[0], "file");
    char *bad_int[] = {"prog", "--n", "11"}, *bad_num[] = {"prog", "--x", "nan"};
    char *bad_choice[] = {"prog", "--c", "c"}, *unknown[] = {"prog", "--m", "1"};
    char *missing[] = {"prog", "--n"}, *extra[] = {"prog", "a", "b", "c"};
    cr_expect_eq(gc_flags_parse("prog", 3, bad_int, flags, 5, pos, 2, &np), 2);
    cr_expect_eq(gc_flags_parse("prog", 3, bad_num, flags, 5, pos, 2, &np), 2);
    cr_expect_eq(gc_flags_parse("prog", 3, bad_choice, flags, 5, pos, 2, &np), 2);
    cr_expect_eq(gc_flags_parse("prog", 3, unknown, flags, 5, pos, 2, &np), 2);
    cr_expect_eq(gc_flags_parse("prog", 2, missing, flags, 5, pos, 2, &np), 2);
    cr_expect_eq(gc_flags_parse("prog", 4, extra, flags, 5, pos, 2, &np), 2);
}

Test(flags, benchmark_flags_are_checked) {
    const char *bin = getenv("GCRM_BENCH");
    static const char *const bad[][2] = {{"train --steps 0", "--steps"},
                                         {"train --dim x", "--dim"},
                                         {"train --colour 1", "'--colour'"},
                                         {"sgemm --size -5", "--size"},
                                         {"generate --steps", "needs a value"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cmd[512], *out = NULL, *err = NULL;
        snprintf(cmd, sizeof cmd, "%s %s", bin && *bin ? bin : "build/gcrm-bench", bad[i][0]);
        cr_expect_eq(th_run(cmd, &out, NULL, &err), 2, "%s", bad[i][0]);
        cr_expect(err && strstr(err, bad[i][1]), "%s: %s", bad[i][0], err);
        cr_expect(out && !*out, "%s printed results: %s", bad[i][0], out);
        free(out), free(err);
    }
}

/* The keys added with the pilots, the reward-model levers and table2: out of range, wrong type or
 * unknown, each an error naming the key; a plot name that is not a file name. */
/* the checkpoint interval: the experiment file's key and the flag */
Test(bad_input, checkpoint_interval) {
    th_expect_bad_experiment("experiments/fig2.json", "checkpoint_every", "0", "checkpoint_every",
                             "out of range");
    th_expect_bad_experiment("experiments/fig2.json", "checkpoint_every", "\"often\"",
                             "checkpoint_every", "number");
    char cmd[1024], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "%s run experiments/fig2.json --checkpoint-every 0",
             th_replicate_bin());
    cr_expect_eq(th_run(cmd, &out, NULL, &err), 2, "a usage error");
    cr_expect(strstr(err, "checkpoint-every"), "%s", err);
    free(out), free(err);
}

Test(bad_input, pilot_lever_and_table2_keys) {
    const char *f2 = "experiments/fig2.json", *t2 = "experiments/table2.json";
    th_expect_bad_experiment(f2, "scales.smoke.rm.extra_layers", "17",
                             "scales.smoke.rm.extra_layers", "out of range");
    th_expect_bad_experiment(f2, "scales.smoke.rm.trunk_lr_scale", "1.5",
                             "scales.smoke.rm.trunk_lr_scale", "out of range");
    th_expect_bad_experiment(f2, "scales.smoke.rm.diagnostics", "\"many\"",
                             "scales.smoke.rm.diagnostics", "");
    th_expect_bad_experiment(f2, "scales.smoke.pairs.reference_questions", "-1",
                             "scales.smoke.pairs.reference_questions", "out of range");
    th_expect_bad_experiment(f2, "plot", "\"../etc\"", "plot", "lower-case");
    th_expect_bad_experiment(f2, "description", "7", "description", "string");
    th_expect_bad_experiment(t2, "scales.smoke.table2.dpo.beta", "0",
                             "scales.smoke.table2.dpo.beta", "out of range");
    th_expect_bad_experiment(t2, "scales.smoke.table2.dpo.bata", "0.1",
                             "scales.smoke.table2.dpo.bata", "unknown key");
    th_expect_bad_experiment(t2, "scales.smoke.table2.dpo", "null", "dpo", "missing");
    th_expect_bad_experiment(t2, "scales.smoke.table2.dpo.length_normalised", "1",
                             "length_normalised", "");
    th_expect_bad_experiment(t2, "scales.smoke.table2.ppo.clip_eps", "0",
                             "scales.smoke.table2.ppo.clip_eps", "out of range");
    th_expect_bad_experiment(t2, "scales.smoke.table2.ppo.gamma", "1.5",
                             "scales.smoke.table2.ppo.gamma", "out of range");
    th_expect_bad_experiment(t2, "scales.smoke.table2.ppo.kl_coef", "0.1",
                             "scales.smoke.table2.ppo.kl_coef", "unknown key");
    th_expect_bad_experiment(t2, "scales.smoke.table2.ppo.rollout", "\"32\"",
                             "scales.smoke.table2.ppo.rollout", "");
    th_expect_bad_experiment(t2, "scales.smoke.table2.ppo.iterations", "null", "iterations",
                             "missing");
}

/* The graph domain's splits: a mix of domains, or a training split, is an error naming the key. */
Test(bad_input, splits_of_one_domain) {
    const char *f2 = "experiments/fig2.json";
    th_expect_bad_experiment(f2, "scales.smoke.data.splits", "[\"graph-easy\", \"arith-easy\"]",
                             "scales.smoke.data.splits", "arith domain");
    th_expect_bad_experiment(f2, "scales.smoke.data.splits", "[\"graph-train\"]",
                             "scales.smoke.data.splits", "graph-train");
}
