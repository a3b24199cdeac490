#include "results.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/stats/stats.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/verdict.h"
#include "replicate/claims/schema.h"

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

const char *rp_repo_dir(void) {
    static char dir[PATH_MAX];
    if (dir[0]) return dir;
    const char *env = getenv("GCRM_REPO");
    if (env && *env) return snprintf(dir, sizeof dir, "%s", env), dir;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        for (int up = 0; up < 2; up++) { /* the executable's directory, then its parent */
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = 0;
        }
        char probe[PATH_MAX + 32];
        snprintf(probe, sizeof probe, "%s/results/published.json", exe);
        if (exists(probe)) return snprintf(dir, sizeof dir, "%s", exe), dir;
    }
    return snprintf(dir, sizeof dir, "."), dir;
}

const char *rp_claims_file(void) {
    static char path[PATH_MAX + 32];
    const char *p = getenv("GCRM_PUBLISHED");
    if (p && *p) return p;
    snprintf(path, sizeof path, "%s/results/published.json", rp_repo_dir());
    return path;
}

static void plot_script(const char *experiment, char *out, size_t cap) {
    snprintf(out, cap, "%s/plots/%s.gp", rp_repo_dir(), experiment);
}

gc_status rp_check_repo(const rp_run *r) {
    char gp[PATH_MAX + 64];
    plot_script(r->plot, gp, sizeof gp);
    if (!exists(rp_claims_file()))
        return gc_fail(GC_ERR_IO,
                       "%s: the claims file is missing (run from the repository, or "
                       "set GCRM_REPO to it)",
                       rp_claims_file());
    if (!exists(gp))
        return gc_fail(GC_ERR_IO,
                       "%s: no plot script for experiment %s (set GCRM_REPO to the "
                       "repository)",
                       gp, r->experiment);
    plot_script("rm-training", gp, sizeof gp);
    if (!exists(gp)) return gc_fail(GC_ERR_IO, "%s: the training-curve plot script is missing", gp);
    return GC_OK;
}

void rp_plot(const char *script, const char *dir, const char *name, const char *vars) {
    char cmd[4 * RP_PATH + PATH_MAX], gp[PATH_MAX + 64];
    plot_script(script, gp, sizeof gp);
    snprintf(cmd, sizeof cmd,
             "command -v gnuplot >/dev/null && gnuplot -e \"datafile='%s/%s.dat'; "
             "outprefix='%s/%s'; %s\" '%s'",
             dir, name, dir, name, vars ? vars : "", gp);
    if (system(cmd) != 0) gc_log_warn("plot: gnuplot failed or is missing; %s.dat is there", name);
}

gc_status rp_finish(rp_run *r, cJSON *results, rp_dat_fn dat, const void *ctx,
                    const char *plot_vars, void (*print)(const cJSON *results, FILE *f)) {
    char dir[RP_PATH], path[RP_PATH + 64];
    rp_result_dir(r, dir);
    gc_status s = rp_mkdirs(dir);
    cJSON *verdict = NULL;
    if (s == GC_OK) s = claims_verdict_for(rp_claims_file(), r->experiment, results, &verdict);
    if (s == GC_OK && verdict) cJSON_AddItemToObject(results, RS_VERDICT, verdict);
    snprintf(path, sizeof path, "%s/results.json", dir);
    if (s == GC_OK) s = gc_json_write(path, results);
    snprintf(path, sizeof path, "%s/%s.dat", dir, r->experiment);
    if (s == GC_OK) s = dat(path, results, ctx);
    if (s == GC_OK) {
        rp_plot(r->plot, dir, r->experiment, plot_vars);
        if (print) print(results, stdout);
        printf("results: %s/results.json, plot: %s/%s.png\n", dir, dir, r->experiment);
    }
    cJSON_Delete(results);
    return s;
}

cJSON *rp_summary(const double *x, int n) {
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, RS_PER_SEED);
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    gc_summary sm;
    gc_stats_summary(x, (size_t)n, 0.95, &sm);
    cJSON_AddNumberToObject(o, RS_MEAN, sm.mean);
    cJSON_AddNumberToObject(o, RS_LO, sm.lo);
    cJSON_AddNumberToObject(o, RS_HI, sm.hi);
    return o;
}
