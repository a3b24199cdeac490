/* replicate plan and the full scale (replicate/plan/plan.h): every experiment file's full
 * section reads and plans; the memory and time of each kind of stage against the formulas worked
 * by hand on a small model; bad sections named by key; inputs found present when a root holds
 * them (the tiny Hugging Face model standing in for the paper's); `replicate run --scale full`
 * refusing with everything that is missing. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers.h"
#include "replicate/cli.h"
#include "replicate/plan/plan.h"

static const char *const EXPERIMENTS[] = {"fig2",    "fig3",    "table1",    "table2",
                                          "table3a", "table3b", "ablations", "ablation-goal-token"};

/* `replicate plan FILE extra`; returns the exit status */
static int plan(const char *file, const char *extra, char **out, char **err) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s plan %s %s", th_replicate_bin(), file, extra ? extra : "");
    return th_run(cmd, out, NULL, err);
}

Test(plan, every_experiment_plans_its_full_scale) {
    char *root = th_tmp_path("full-empty");
    cr_assert_eq(mkdir(root, 0755), 0);
    for (size_t i = 0; i < sizeof EXPERIMENTS / sizeof EXPERIMENTS[0]; i++) {
        char file[128], extra[512];
        snprintf(file, sizeof file, "experiments/%s.json", EXPERIMENTS[i]);
        snprintf(extra, sizeof extra, "--full-root %s", root);
        for (int h = 0; h < 2; h++) {
            char *out, *err;
            int rc = plan(file, h ? "--hardware 1xh200" : extra, &out, &err);
            cr_expect_eq(rc, 0, "%s: exit %d: %s", file, rc, err);
            cr_expect(strstr(out, "MISSING"), "%s: the missing inputs said", file);
            cr_expect(strstr(out, h ? "1 x h200" : "8 x a100-80gb"), "%s: the hardware", file);
            cr_expect(strstr(out, "ready to run: no"), "%s", file);
            /* on several GPUs, what the executor does with them today */
            cr_expect((strstr(out, "one stage instance per GPU") == NULL) == h, "%s: %s", file,
                      out);
            free(out), free(err);
        }
    }
    /* the stages each file declares, with their runs (seeds x variants) */
    char *out, *err;
    cr_assert_eq(plan("experiments/table2.json", NULL, &out, &err), 0, "%s", err);
    cr_expect(strstr(out, "\nrm             train       8 "), "4 seeds x 2 variants:\n%s", out);
    cr_expect(strstr(out, "\nppo            ppo         8 "), "%s", out);
    cr_expect(strstr(out, "\neval-policies  generate   13 "), "sft once, 3 policies x 4 seeds:\n%s",
              out);
    free(out), free(err);
    cr_assert_eq(plan("experiments/table3b.json", NULL, &out, &err), 0, "%s", err);
    cr_expect(strstr(out, "\nguided ") && strstr(out, "\nsft-guided ") && !strstr(out, "\nrm "),
              "table3b drops the math stages it extends:\n%s", out);
    cr_expect(strstr(out, "8.03B"), "Llama 3 8B's parameters from its shape:\n%s", out);
    free(out), free(err);
    th_rm_tree(root);
    free(root);
}

/* a small model's full section, written out and read back through the runner's opening */
static const char SMALL[] =
    "{\"experiment\": \"tiny\", \"pipeline\": \"math\", \"seeds\": 2, \"scales\": {\"full\": {\n"
    " \"models\": {\"m\": {\"path\": \"nowhere\", \"shape\": {\"dim\": 64, \"hidden_dim\": 128,\n"
    "   \"n_layers\": 2, \"n_heads\": 4, \"n_kv_heads\": 2, \"vocab_size\": 100}}},\n"
    " \"data\": {\"d\": {\"files\": [\"x.jsonl\"], \"format\": \"openmath\", \"examples\": 1000,\n"
    "   \"mean_tokens\": 20}},\n"
    " \"stages\": {\n"
    "  \"t\": {\"kind\": \"train\", \"model\": \"m\", \"data\": \"d\", \"loss\": \"preference\",\n"
    "        \"sequences\": 2, \"variants\": [\"a\", \"b\"], \"per_seed\": true, \"epochs\": 3,\n"
    "        \"batch\": 8, \"lr\": 1e-5, \"max_len\": 32},\n"
    "  \"s\": {\"kind\": \"score\", \"model\": \"t\", \"data\": \"d\", \"max_len\": 32},\n"
    "  \"g\": {\"kind\": \"generate\", \"model\": \"m\", \"data\": \"d\", \"samples\": 4, "
    "\"micro_batch\": 600,\n"
    "        \"max_new\": 12, \"mean_new_tokens\": 10},\n"
    "  \"b\": {\"kind\": \"beam\", \"model\": \"m\", \"data\": \"d\", \"beam\": 2, \"samples\": "
    "3,\n"
    "        \"step_tokens\": 5, \"max_steps\": 2, \"micro_batch\": 10}}}}}\n";

typedef struct {
    rp_run r;
    pl_plan p;
    char *file;
} opened;

static void open_small(opened *o) {
    memset(o, 0, sizeof *o);
    o->file = th_tmp_path("small.json");
    cr_assert_eq(th_write_file(o->file, SMALL, strlen(SMALL)), 0);
    o->r.opt.file = o->file;
    snprintf(o->r.opt.scale, sizeof o->r.opt.scale, "full");
    gc_status (*run)(rp_run *) = NULL;
    cr_assert_eq(cli_open_experiment(&o->r, &run), GC_OK, "%s", gc_last_error());
    cr_assert_eq(pl_read(&o->r, "/nonexistent", &o->p), GC_OK, "%s", gc_last_error());
}

static void close_small(opened *o) {
    pl_free(&o->p);
    rp_run_free(&o->r);
    remove(o->file);
    free(o->file);
}

Test(plan, estimates_follow_the_formulas) {
    opened o;
    open_small(&o);
    cr_assert_eq(o.p.n_stages, 4);
    pl_hardware hw;
    cr_assert_eq(pl_hardware_parse("8xa100-80gb", &hw), GC_OK);
    double mfu = 0.5, G = 8, peak = 312e12 * mfu;
    /* D 64, H 128, L 2, 4 heads of 16, KV 32, V 100, untied:
     * per layer 64 + 128*64 + 64*64 + 64 + 256*64 + 64*128 = 36992; N = 2*36992 + 2*6400 + 64 */
    double N = 2 * 36992 + 2 * 6400 + 64, n_mat = 2 * (64 * 128 + 64 * 64 + 3 * 64 * 128);
    cr_assert_float_eq(N, 86848, 0);
    /* train: 2 variants x 2 seeds; 1000 pairs x 2 sequences x min(20, 32) tokens x 3 epochs */
    pl_estimate t = pl_stage_estimate(&o.p, 0, &hw, mfu);
    cr_expect_float_eq(t.params, N, 0);
    double tokens = 4.0 * 1000 * 2 * 20 * 3;
    cr_expect_float_eq(t.tokens, tokens, 1e-9 * tokens);
    /* recompute by default; then the goal state, a forward pass over each run's 1000 chosen
     * sequences */
    double flops = tokens * (8 * n_mat + 8 * 2 * 20 * 64) + 4.0 * 1000 * 20 * 2 * n_mat;
    cr_expect_float_eq(t.flops, flops, 1e-9 * flops);
    cr_expect_float_eq(t.seconds, flops / (G * peak), 1e-9 * t.seconds);
    cr_expect_float_eq(t.weights, 6 * N, 1e-6);
    cr_expect_float_eq(t.grads, 4 * N, 1e-6);
    cr_expect_float_eq(t.optim, 8 * N / G, 1e-6);
    /* per sequence: layer inputs 2 x 32 x 64 floats; one layer's 32 x (6*64 + 2*32 + 3*128)
     * floats and the 4 heads' 32 x 32 probabilities; a micro-batch of one pair is two sequences */
    double act = 2 * 4.0 * (2 * 32 * 64 + 32 * (6 * 64 + 2 * 32 + 3 * 128) + 4 * 32 * 32);
    cr_expect_float_eq(t.act, act, 1e-6);
    cr_expect(t.fits);
    /* score: the trained model, one run, 1000 x 20 tokens read */
    pl_estimate s = pl_stage_estimate(&o.p, 1, &hw, mfu);
    cr_expect_float_eq(s.tokens, 20000, 1e-9);
    cr_expect_float_eq(s.flops, 20000 * (2 * n_mat + 2 * 2 * 20 * 64), 1e-3);
    cr_expect_float_eq(s.weights, 6 * N, 1e-6);
    cr_expect_float_eq(s.grads + s.optim, 0, 0);
    /* generate: 4000 sequences of 20 + 10 tokens, a KV cache of 2 x L x KV fp32 per position of
     * the longest (32); 500 sequences per GPU fit at once */
    pl_estimate g = pl_stage_estimate(&o.p, 2, &hw, mfu);
    cr_expect_eq(g.batch, 500, "micro_batch 600, 500 fit: %d", g.batch);
    cr_expect_eq(g.fit_batch, 500);
    o.p.stages[2].micro_batch = 100; /* fewer than fit: the stage's batch, and its time */
    pl_estimate g100 = pl_stage_estimate(&o.p, 2, &hw, mfu);
    cr_expect_eq(g100.batch, 100);
    cr_expect_eq(g100.fit_batch, 500);
    cr_expect_gt(g100.seconds, g.seconds);
    o.p.stages[2].micro_batch = 600;
    cr_expect_float_eq(g.kv, 500.0 * 2 * 2 * 32 * 4 * 32, 1e-6);
    cr_expect_float_eq(g.tokens, 4000.0 * 30, 1e-9);
    double prefill = 4000.0 * 20 * 2 * n_mat;
    double step_bytes = 2 * N + 500.0 * 2 * 2 * 32 * 4 * 25,
           step_flops = 500 * (2 * n_mat + 2 * 2 * 25 * 64);
    double secs = prefill / (G * peak) + 10 * fmax(step_bytes / 2.039e12, step_flops / peak);
    cr_expect_float_eq(g.seconds, secs, 1e-9 * secs);
    /* beam: micro_batch prompts' beam x samples candidates decode at once, fewer than fit */
    pl_estimate b = pl_stage_estimate(&o.p, 3, &hw, mfu);
    cr_expect_eq(b.batch, 10 * 2 * 3, "%d", b.batch);
    cr_expect_gt(b.fit_batch, b.batch);
    cr_expect_float_eq(b.tokens, 1000.0 * 2 * 3 * (20 + 5 * 2), 1e-9);
    /* memory past a GPU: the same model on a tenth of a byte */
    hw.memory = 1e3;
    cr_expect_not(pl_stage_estimate(&o.p, 0, &hw, mfu).fits);
    pl_estimate none = pl_stage_estimate(&o.p, 2, &hw, mfu);
    cr_expect(!none.fits && none.batch == 0 && isnan(none.seconds));
    close_small(&o);
}

Test(plan, hardware_names) {
    pl_hardware hw;
    cr_expect_eq(pl_hardware_parse("1xh200", &hw), GC_OK);
    cr_expect(hw.count == 1 && hw.memory == 141e9);
    cr_expect_eq(pl_hardware_parse("h100-80gb", &hw), GC_OK);
    cr_expect(hw.count == 1 && hw.peak_flops == 989e12);
    cr_expect_eq(pl_hardware_parse("16xa100-80gb", &hw), GC_OK);
    cr_expect_eq(hw.count, 16);
    static const char *const bad[] = {"0xh200", "8xv100", "x", "8x", "-1xh200", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_neq(pl_hardware_parse(bad[i], &hw), GC_OK, "'%s' accepted", bad[i]);
    char *out, *err;
    cr_expect_eq(plan("experiments/fig2.json", "--hardware 8xv100", &out, &err), 2);
    cr_expect(strstr(err, "a100-80gb"), "%s", err);
    free(out), free(err);
}

#define F2 "experiments/fig2.json"
#define F3 "experiments/fig3.json"
#define T1 "experiments/table1.json"
Test(plan, bad_sections_are_named_by_key) {
    static const struct {
        const char *file, *key, *json, *frag;
    } bad[] = {
        {F2, "scales.full.stages.rm.samples", "3", "scales.full.stages.rm.samples"},
        {F2, "scales.full.stages.rm.kind", "\"fly\"", "scales.full.stages.rm.kind"},
        {F2, "scales.full.stages.score-eval.model", "\"nope\"", "\"nope\" is neither a model"},
        {F2, "scales.full.stages.score-eval.data", "\"later\"", "\"later\" is neither a data set"},
        {F2, "scales.full.stages.rm.variants", "[]", "scales.full.stages.rm.variants"},
        {F2, "scales.full.stages.rm.lr", "2", "scales.full.stages.rm.lr"},
        {F2, "scales.full.data.eval.files", "[3]", "scales.full.data.eval.files[0]"},
        {F2, "scales.full.data.eval.files", "[{\"path\": \"x\"}]", "format"},
        {F2, "scales.full.data.eval.format", "\"csv\"", "scales.full.data.eval.format"},
        {F2, "scales.full.models.math.shape.n_heads", "3", "scales.full.models.math.shape"},
        {F2, "scales.full.models.math.path", "7", "scales.full.models.math.path"},
        {F2, "scales.full.extra", "1", "unknown key"},
        {F2, "scales.full.stages", "{}", "scales.full.stages"},
        {F2, "scales.full.models.math.prompt", "\"no slot\"", "\"{question}\" once"},
        {F2, "scales.full.models.math.prompt", "\"{question} {question}\"",
         "scales.full.models.math.prompt"},
        {F2, "scales.full.models.math.prompt", "3", "scales.full.models.math.prompt"},
        {F2, "scales.full.models.math.chat", "\"yes\"", "scales.full.models.math.chat"},
        {F2, "scales.full.stages.rm.micro_batch", "0", "scales.full.stages.rm.micro_batch"},
        {F2, "scales.full.stages.rm.lr_min", "-1", "scales.full.stages.rm.lr_min"},
        {F2, "scales.full.stages.score-eval.micro_batch", "2.5",
         "scales.full.stages.score-eval.micro_batch"},
        /* a generate stage's sampling settings */
        {F3, "scales.full.stages.sample.temperature", "-1",
         "scales.full.stages.sample.temperature"},
        {F3, "scales.full.stages.sample.top_p", "0", "scales.full.stages.sample.top_p"},
        {F3, "scales.full.stages.sample.seed", "-2", "scales.full.stages.sample.seed"},
        {F3, "scales.full.stages.sample.micro_batch", "0", "scales.full.stages.sample.micro_batch"},
        {T1, "scales.full.stages.sample.samples", "\"50\"", "scales.full.stages.sample.samples"},
        /* table3b's HelpSteer selection and beam settings */
        {"experiments/table3b.json", "scales.full.data.helpsteer-prototype.min_rating", "5",
         "scales.full.data.helpsteer-prototype.min_rating"},
        {"experiments/table3b.json", "scales.full.data.helpsteer-prototype.first", "-1",
         "scales.full.data.helpsteer-prototype.first"},
        {"experiments/table3b.json", "scales.full.stages.guided.lp_weight", "-1",
         "scales.full.stages.guided.lp_weight"},
        {"experiments/table3b.json", "scales.full.stages.guided.max_len", "8",
         "scales.full.stages.guided.max_len"},
        {"experiments/table3b.json", "scales.full.stages.sft-guided.top_p", "2",
         "scales.full.stages.sft-guided.top_p"},
        /* table2's DPO beta and PPO pretraining term */
        {"experiments/table2.json", "scales.full.stages.dpo.beta", "0",
         "scales.full.stages.dpo.beta"},
        {"experiments/table2.json", "scales.full.stages.ppo.ptx_data", "\"nowhere\"",
         "\"nowhere\" is not a data set"},
        {"experiments/table2.json", "scales.full.stages.ppo.ptx_batch", "0",
         "scales.full.stages.ppo.ptx_batch"},
        /* an analysis section only beside its own analysis */
        {F2, "scales.full.vote", "{}", "unknown key (known keys: models data stages)"},
        {F3, "scales.full.vote", "{}", "known keys: models data stages partial"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *file = th_experiment_with(bad[i].file, bad[i].key, bad[i].json);
        char *out, *err;
        int rc = plan(file, NULL, &out, &err);
        cr_expect_eq(rc, 1, "%s = %s: exit %d", bad[i].key, bad[i].json, rc);
        cr_expect(strstr(err, file) && strstr(err, bad[i].frag), "%s = %s: expected '%s' in: %s",
                  bad[i].key, bad[i].json, bad[i].frag, err);
        free(out), free(err);
        remove(file);
        free(file);
    }
}
#undef F2
#undef F3
#undef T1

/* a root holding the inputs: the tiny Hugging Face model under the paper model's name, and the
 * data files (empty: the plan checks presence, the loaders their contents) */
static char *root_with_inputs(void) {
    char *root = th_tmp_path("full-root");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "set -e; r=%s; m=$r/models/OpenMath-CodeLlama-7b-Python-hf; mkdir -p $m; "
             "cp tests/fixtures/hf_tiny/config.json tests/fixtures/hf_tiny/model.safetensors $m/; "
             "for d in correct_solutions incorrect_solutions; do mkdir -p "
             "$r/data/openmathinstruct-1/$d; : > $r/data/openmathinstruct-1/$d/train.jsonl; done; "
             "for s in gsm8k math algebra222 gsm-hard asdiv mawps svamp; do mkdir -p "
             "$r/data/openmath-greedy/$s; : > $r/data/openmath-greedy/$s/output-greedy.jsonl; done",
             root);
    cr_assert_eq(system(cmd), 0);
    return root;
}

Test(plan, inputs_present_under_a_root) {
    char *root = root_with_inputs(), extra[1024];
    snprintf(extra, sizeof extra, "--full-root %s", root);
    char *out, *err;
    cr_assert_eq(plan("experiments/fig2.json", extra, &out, &err), 0, "%s", err);
    cr_expect(!strstr(out, "MISSING"), "every input present:\n%s", out);
    cr_expect(strstr(out, "shape from its config.json"), "the real config.json wins:\n%s", out);
    cr_expect(strstr(out, "0.00B"), "the tiny model's parameters:\n%s", out);
    cr_expect(strstr(out, "no tokenizer.json") && strstr(out, "ready to run: no"), "%s", out);
    free(out), free(err);
    /* with a tokenizer too, the tiny model fits: ready */
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "echo '{}' > %s/models/OpenMath-CodeLlama-7b-Python-hf/tokenizer.json", root);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(plan("experiments/fig2.json", extra, &out, &err), 0, "%s", err);
    cr_expect(strstr(out, "ready to run: yes"), "%s", out);
    free(out), free(err);
    /* table2 (every experiment's stages run at full scale): only its missing inputs */
    cr_assert_eq(plan("experiments/table2.json", extra, &out, &err), 0, "%s", err);
    cr_expect(strstr(out, "data 'ppo-prompts'") && !strstr(out, "not built") &&
                  strstr(out, "ready to run: no"),
              "%s", out);
    free(out), free(err);
    th_rm_tree(root);
    free(root);
}

Test(plan, run_at_full_scale_says_what_is_missing) {
    char *root = th_tmp_path("full-none"), *runs = th_tmp_path("full-runs");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "GCRM_FULL_ROOT=%s %s run experiments/fig2.json --scale full --root %s", root,
             th_replicate_bin(), runs);
    char *out, *err;
    cr_expect_eq(th_run(cmd, &out, NULL, &err), 1);
    cr_expect(strstr(err, "model 'math'") && strstr(err, "OpenMath-CodeLlama-7b-Python-hf"), "%s",
              err);
    cr_expect(strstr(err, "data 'pairs': 2 of 2 file(s) missing"), "%s", err);
    cr_expect(strstr(err, "data 'eval': 7 of 7"), "%s", err);
    cr_expect(!strstr(err, "not built"), "fig2's stages are built:\n%s", err);
    struct stat sb;
    cr_expect_neq(stat(runs, &sb), 0, "nothing written before the refusal");
    free(out), free(err);
    /* with the inputs in place, only the missing tokenizer remains */
    char *full = root_with_inputs();
    snprintf(cmd, sizeof cmd,
             "GCRM_FULL_ROOT=%s %s run experiments/fig2.json --scale full --root %s", full,
             th_replicate_bin(), runs);
    cr_expect_eq(th_run(cmd, &out, NULL, &err), 1);
    cr_expect(!strstr(err, "data '") && !strstr(err, "weights"), "%s", err);
    cr_expect(strstr(err, "model 'math': no tokenizer.json"), "%s", err);
    free(out), free(err);
    th_rm_tree(full);
    free(full), free(root), free(runs);
}
