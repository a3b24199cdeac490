/* replicate run: executes an experiment file at a scale (runner/stage.h) with its pipeline. */
#include <stdlib.h>
#include <string.h>

#include "lib/model/backend.h"
#include "lib/util/flags.h"
#include "lib/util/jsonio.h"
#include "cli.h"
#include "hh/hh.h"
#include "math/analyses.h"
#include "runner/results.h"
#include "runner/ckpt.h"
#include "runner/stage.h"
#include "full/full.h"
#include "plan/plan.h"

/* The pipelines an experiment file can name ("pipeline"): each runs the shared stages of its
 * domain and the file's analysis. */
static const struct {
    const char *name;
    gc_status (*run)(rp_run *r);
} PIPELINES[] = {
    {/* .name = */ "math", /* .run = */ math_run},
    {/* .name = */ "hh", /* .run = */ hh_run},
};

static const char RUN_HELP[] =
    "usage: replicate run EXPERIMENT.json [--scale smoke|mini|full] [--seeds N]\n"
    "                     [--device cpu|cuda] [--precision fp32|tf32|bf16] [--root DIR] "
    "[--force]\n"
    "                     [--rerun STAGE]... [--checkpoint-every SECONDS] [--full-root DIR]\n\n"
    "Runs an experiment file's stages. Each stage's output is cached under DIR/cache (default\n"
    "results/runs/cache) by a hash of its configuration and inputs and is complete only with its\n"
    "DONE marker: a killed run resumes, and changing one key reruns only what depends on it.\n"
    "Results go to DIR/<experiment>/<scale>/results.json with the verdict and the plot.\n"
    "  --scale S    smoke (seconds, for tests), mini (default; a laptop), full (paper scale)\n"
    "  --seeds N    reward-model seeds (default: the file's 'seeds')\n"
    "  --device D   cpu or cuda (default: the file's \"device\", else cpu); cuda runs every\n"
    "               model pass on the GPU and caches its stages apart from CPU runs\n"
    "  --precision P  cuda matmuls: fp32 (default), tf32, or bf16 mixed precision\n"
    "  --force      ignore cached stages (and their checkpoints)\n"
    "  --rerun STAGE  compute this stage instance again (as named in the time table, e.g.\n"
    "               rm-goal-seed2; repeatable), e.g. one whose cached files are damaged\n"
    "  --checkpoint-every S  seconds between checkpoints of a long stage (default: the file's\n"
    "               \"checkpoint_every\", else 60); a killed run resumes from the last one, and\n"
    "               Ctrl-C stops at the next step with a checkpoint written\n"
    "  --full-root D  the full scale's models and data (default $GCRM_FULL_ROOT, else ../full\n"
    "               beside the repository; docs/full-scale.md)\n"
    "  --print-config  print the experiment file as resolved (its \"extends\" layers merged)\n"
    "               and exit\n";

gc_status cli_open_experiment(rp_run *r, gc_status (**run)(rp_run *)) {
    GC_TRY(gc_config_load(&r->cfg, r->opt.file));
    const cJSON *root = r->cfg.root;
    typedef struct {
        char experiment[GC_CFG_STRLEN];
        const char *description, *claim;
        char pipeline[GC_CFG_STRLEN], analysis[GC_CFG_STRLEN], plot[GC_CFG_STRLEN];
        int64_t seeds;
        const cJSON *scales;
        int device, precision;
        double checkpoint_every;
    } top;
    static const gc_cfg_field fields[] = {
        {"experiment", GC_CFG_STRING, offsetof(top, experiment), 1, 0, 0, NULL},
        {"pipeline", GC_CFG_STRING, offsetof(top, pipeline), 1, 0, 0, NULL},
        {"analysis", GC_CFG_STRING, offsetof(top, analysis), 0, 0, 0, NULL},
        {"plot", GC_CFG_STRING, offsetof(top, plot), 0, 0, 0, NULL},
        {"description", GC_CFG_TEXT, offsetof(top, description), 0, 0, 0, NULL},
        {"claim", GC_CFG_TEXT, offsetof(top, claim), 0, 0, 0, NULL},
        {"seeds", GC_CFG_INT, offsetof(top, seeds), 1, 1, 64, NULL},
        {"scales", GC_CFG_OBJECT, offsetof(top, scales), 1, 0, 0, NULL},
        {"device", GC_CFG_ENUM, offsetof(top, device), 0, 0, 0, "cpu|cuda"},
        {"precision", GC_CFG_ENUM, offsetof(top, precision), 0, 0, 0, "fp32|tf32|bf16"},
        {"checkpoint_every", GC_CFG_FLOAT, offsetof(top, checkpoint_every), 0, 1, 86400, NULL},
    };
    top t = {.seeds = 3, .checkpoint_every = 60};
    GC_TRY(gc_config_read(&r->cfg, root, "", fields, GC_CFG_COUNT(fields), &t));
    *run = NULL;
    char known[128] = "";
    for (size_t i = 0; i < sizeof PIPELINES / sizeof PIPELINES[0]; i++) {
        if (!strcmp(t.pipeline, PIPELINES[i].name)) *run = PIPELINES[i].run;
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s\"%s\"", i ? ", " : "",
                 PIPELINES[i].name);
    }
    if (!*run) return gc_config_fail(&r->cfg, "pipeline", "expected %s", known);
    snprintf(r->pipeline, sizeof r->pipeline, "%s", t.pipeline);
    snprintf(r->analysis, sizeof r->analysis, "%s", t.analysis);
    snprintf(r->experiment, sizeof r->experiment, "%s", t.experiment);
    for (const char *p = r->experiment; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return gc_config_fail(&r->cfg, "experiment",
                                  "use lower-case letters, digits, '-' "
                                  "and '_'");
    snprintf(r->plot, sizeof r->plot, "%s", t.plot[0] ? t.plot : t.experiment);
    for (const char *p = r->plot; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return gc_config_fail(&r->cfg, "plot", "use lower-case letters, digits, '-' and '_'");
    r->seeds = r->opt.seeds ? r->opt.seeds : (int)t.seeds;
    if (!(r->opt.checkpoint_every > 0)) r->opt.checkpoint_every = t.checkpoint_every;
    static const char *const devices[] = {"cpu", "cuda"}, *const precisions[] = {"fp32", "tf32",
                                                                                 "bf16"};
    if (!r->opt.device[0]) snprintf(r->opt.device, sizeof r->opt.device, "%s", devices[t.device]);
    if (!r->opt.precision[0])
        snprintf(r->opt.precision, sizeof r->opt.precision, "%s", precisions[t.precision]);
    for (const cJSON *sc = t.scales->child; sc; sc = sc->next)
        if (strcmp(sc->string, "smoke") && strcmp(sc->string, "mini") &&
            strcmp(sc->string, "full")) {
            char path[128];
            snprintf(path, sizeof path, "scales.%s", sc->string);
            return gc_config_fail(&r->cfg, path, "unknown scale (smoke, mini, full)");
        }
    snprintf(r->scale_path, sizeof r->scale_path, "scales.%s", r->opt.scale);
    r->scale_cfg = cJSON_GetObjectItemCaseSensitive(t.scales, r->opt.scale);
    if (!r->scale_cfg)
        return gc_fail(GC_ERR_CONFIG, "%s: no scale '%s' under 'scales'", r->cfg.path,
                       r->opt.scale);
    if (!cJSON_IsObject(r->scale_cfg))
        return gc_config_fail(&r->cfg, r->scale_path, "expected an object");
    cJSON *canon = rp_canonical(r->scale_cfg);
    char *text = canon ? cJSON_PrintUnformatted(canon) : NULL;
    cJSON_Delete(canon);
    if (!text) return GC_ERR_NOMEM;
    rp_hash_hex(text, r->config_hash);
    free(text);
    return GC_OK;
}

int cmd_run(int argc, char **argv) {
    int print_config = 0, help = 0;
    rp_run r;
    memset(&r, 0, sizeof r);
    snprintf(r.opt.scale, sizeof r.opt.scale, "mini");
    const char *root = "results/runs", *pos[2] = {0}, *full_root = NULL;
    long seeds = 0;
    const gc_flag flags[] = {
        {"scale", GC_FLAG_CHOICE, r.opt.scale, 0, 0, "smoke|mini|full", sizeof r.opt.scale},
        {"seeds", GC_FLAG_INT, &seeds, 1, 64, NULL, 0},
        {"device", GC_FLAG_CHOICE, r.opt.device, 0, 0, CLI_DEVICES, sizeof r.opt.device},
        {"precision", GC_FLAG_CHOICE, r.opt.precision, 0, 0, CLI_PRECISIONS,
         sizeof r.opt.precision},
        {"root", GC_FLAG_STRING, &root, 0, 0, NULL, 0},
        {"force", GC_FLAG_SWITCH, &r.opt.force, 0, 0, NULL, 0},
        {"checkpoint-every", GC_FLAG_FLOAT, &r.opt.checkpoint_every, 0.001, 86400, NULL, 0},
        {"rerun", GC_FLAG_LIST, r.opt.rerun, 0, 0, NULL, RP_MAX_RERUN - 1},
        {"full-root", GC_FLAG_STRING, &full_root, 0, 0, NULL, 0},
        {"print-config", GC_FLAG_SWITCH, &print_config, 0, 0, NULL, 0},
        {"help", GC_FLAG_SWITCH, &help, 0, 0, NULL, 0},
    };
    int n_pos = 0, rc = gc_flags_parse("replicate run", argc, argv, flags,
                                       (int)(sizeof flags / sizeof flags[0]), pos, 2, &n_pos);
    if (rc) return rc;
    if (help) return fputs(RUN_HELP, stdout), 0;
    if (n_pos != 1)
        return cli_usage_error("run", n_pos ? "expected one experiment file"
                                            : "missing the experiment file");
    snprintf(r.opt.root, sizeof r.opt.root, "%s", root);
    r.opt.file = pos[0];
    r.opt.seeds = (int)seeds;
    r.t0 = gc_now();
    gc_status (*run)(rp_run *) = NULL;
    if (print_config) {
        gc_status s = gc_config_load(&r.cfg, r.opt.file);
        char *text = s == GC_OK ? cJSON_Print(r.cfg.root) : NULL;
        if (text) printf("%s\n", text);
        free(text);
        rp_run_free(&r);
        return s == GC_OK ? 0 : cli_runtime_error("run");
    }
    gc_status s = cli_open_experiment(&r, &run);
    if (s == GC_OK) s = rp_check_repo(&r);
    if (s == GC_OK && !strcmp(r.opt.device, "cpu") && strcmp(r.opt.precision, "fp32"))
        gc_log_warn("run: precision %s applies to --device cuda; the CPU computes in fp32",
                    r.opt.precision);
    if (s == GC_OK) s = gc_device_open(r.opt.device, r.opt.precision);
    rp_ckpt_signals();
    if (s == GC_OK) {
        /* the commit is read as the run starts (what it runs), not when its results are written */
        gc_log_info("run: %s at %s scale, %d seed(s), device %s, commit %s, cache %s/cache",
                    r.experiment, r.opt.scale, r.seeds, gc_device_describe(), rp_commit(),
                    r.opt.root);
        s = strcmp(r.opt.scale, "full") ? run(&r)
                                        : full_run(&r, full_root ? full_root : cli_full_root());
    }
    for (int i = 0; s == GC_OK && i < RP_MAX_RERUN && r.opt.rerun[i]; i++)
        if (!(r.rerun_hit & 1u << i))
            s = gc_fail(GC_ERR_ARG,
                        "--rerun %s: no stage of this run has that name (the time "
                        "table lists them)",
                        r.opt.rerun[i]);
    gc_device_close();
    rp_run_free(&r);
    if (s == GC_ERR_STOPPED) { /* a signal: the state is saved; 130 as the shell reports SIGINT */
        fprintf(stderr, "replicate run: %s\n", gc_last_error());
        return 130;
    }
    return s == GC_OK ? 0 : cli_runtime_error("run");
}
