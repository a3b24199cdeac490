/* Experiment files: the bytes as an experiment file whose "extends" layers resolve against the
 * repository's experiments/base (a link in the scratch directory), merged by gc_config_load, and
 * its "scales.smoke" object read by the math pipeline's schemas for the shared sections. Run from
 * the repository's root. */
#include "fuzz.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <sys/stat.h>

#include "lib/util/config.h"
#include "replicate/math/pipeline.h"

static char dir[PATH_MAX], file[PATH_MAX + 16];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    char cwd[PATH_MAX / 2], link[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) abort();
    snprintf(dir, sizeof dir, "/tmp/gcrm-fuzz-%ld-config", (long)getpid());
    mkdir(dir, 0755);
    snprintf(link, sizeof link, "%s/base", dir);
    char target[PATH_MAX];
    snprintf(target, sizeof target, "%s/experiments/base", cwd);
    unlink(link);
    if (symlink(target, link) != 0) abort();
    snprintf(file, sizeof file, "%s/exp.json", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write(file, data, size);
    rp_run r;
    memset(&r, 0, sizeof r);
    if (gc_config_load(&r.cfg, file) == GC_OK) {
        const cJSON *scales = cJSON_GetObjectItemCaseSensitive(r.cfg.root, "scales");
        r.scale_cfg = cJSON_GetObjectItemCaseSensitive(scales, "smoke");
        snprintf(r.scale_path, sizeof r.scale_path, "scales.smoke");
        r.seeds = 1;
        if (cJSON_IsObject(r.scale_cfg)) {
            math_ctx m = {.r = &r};
            (void)math_check_config(&m);
            math_ctx_free(&m);
        }
    }
    rp_run_free(&r);
    return 0;
}
