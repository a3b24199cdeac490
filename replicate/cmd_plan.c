/* replicate plan: what an experiment file's full scale needs before any of it runs: its inputs
 * (present or missing), each stage's memory per GPU and time on the chosen hardware
 * (plan/plan.h). */
#include <stdlib.h>
#include <string.h>

#include "lib/util/flags.h"
#include "cli.h"
#include "full/full.h"
#include "plan/plan.h"
#include "runner/results.h"

static const char PLAN_HELP[] =
    "usage: replicate plan EXPERIMENT.json [--scale full] [--hardware COUNTxGPU] [--mfu M]\n"
    "                      [--seeds N] [--full-root DIR]\n\n"
    "Prints, before any work, what the experiment's paper-scale run needs: each model and data\n"
    "file (present or missing under the full-scale root), and each stage's runs, tokens, memory\n"
    "per GPU (weights, gradients, AdamW moments, activations, KV cache) and estimated time.\n"
    "  --hardware H   the GPUs: 8xa100-80gb (default, the paper's), 1xh200, 8xh100-80gb, ...\n"
    "  --mfu M        the share of the bf16 peak matmuls reach (default 0.232, gcrm's measured\n"
    "                 MFU at 1.1B parameters on an H200, docs/cuda.md)\n"
    "  --seeds N      reward-model seeds (default: the file's 'seeds')\n"
    "  --full-root D  where the models and data are (default $GCRM_FULL_ROOT, else ../full\n"
    "                 beside the repository; docs/full-scale.md lists what goes there)\n";

const char *cli_full_root(void) {
    static char root[RP_PATH];
    const char *env = getenv("GCRM_FULL_ROOT");
    if (env && *env)
        snprintf(root, sizeof root, "%s", env);
    else
        snprintf(root, sizeof root, "%s/../full", rp_repo_dir());
    return root;
}

int cmd_plan(int argc, char **argv) {
    rp_run r;
    memset(&r, 0, sizeof r);
    char scale[16] = "full", hardware[64] = "8xa100-80gb";
    const char *pos[2] = {0}, *root = NULL, *hw_text = hardware;
    long seeds = 0;
    double mfu = 0.232;
    int help = 0;
    const gc_flag flags[] = {
        {"scale", GC_FLAG_CHOICE, scale, 0, 0, "full", sizeof scale},
        {"hardware", GC_FLAG_STRING, &hw_text, 0, 0, NULL, 0},
        {"mfu", GC_FLAG_FLOAT, &mfu, 0.001, 1, NULL, 0},
        {"seeds", GC_FLAG_INT, &seeds, 1, 64, NULL, 0},
        {"full-root", GC_FLAG_STRING, &root, 0, 0, NULL, 0},
        {"help", GC_FLAG_SWITCH, &help, 0, 0, NULL, 0},
    };
    int n_pos = 0, rc = gc_flags_parse("replicate plan", argc, argv, flags,
                                       (int)(sizeof flags / sizeof flags[0]), pos, 2, &n_pos);
    if (rc) return rc;
    if (help) return fputs(PLAN_HELP, stdout), 0;
    if (n_pos != 1)
        return cli_usage_error("plan", n_pos ? "expected one experiment file"
                                             : "missing the experiment file");
    pl_hardware hw;
    if (pl_hardware_parse(hw_text, &hw) != GC_OK)
        return cli_usage_error("plan", "%s", gc_last_error());
    r.opt.file = pos[0];
    r.opt.seeds = (int)seeds;
    snprintf(r.opt.scale, sizeof r.opt.scale, "%s", scale);
    gc_status (*run)(rp_run *) = NULL;
    pl_plan p = {0};
    gc_status s = cli_open_experiment(&r, &run);
    if (s == GC_OK) s = pl_read(&r, root ? root : cli_full_root(), &p);
    if (s == GC_OK) {
        int problems = pl_print(stdout, &r, &p, &hw, mfu);
        char msg[8192];
        int more = full_problems(&r, &p, FULL_MISSING | FULL_UNBUILT, msg, sizeof msg);
        if (more) printf("what `replicate run --scale full` would refuse:%s\n", msg);
        printf("ready to run: %s\n", problems || more
                                         ? "no (see above)"
                                         : "yes, on this hardware (replicate run --scale full)");
    }
    pl_free(&p);
    rp_run_free(&r);
    return s == GC_OK ? 0 : cli_runtime_error("plan");
}
