/* runner: executes experiment files: scale selection, stage caching, timing, result metadata.
 *
 * A stage's output lives in <root>/cache/<name>-<hash>/, where hash is a 64-bit FNV-1a of the
 * stage's key (its configuration, its code version and the hashes of the stages it reads). The
 * directory is complete only when its DONE file exists; an incomplete directory (a killed run) is
 * emptied and the stage runs again, so a killed run resumes from the last completed stage and a
 * changed key reruns only the stages that depend on it.
 */
#ifndef GC_RUNNER_H
#define GC_RUNNER_H

#include <cjson/cJSON.h>

#include "../lib/base.h"
#include "../lib/config.h"

#define RP_PATH 1024

typedef struct {
    const char *file;       /* experiment file */
    char scale[16];         /* smoke | mini | full */
    int seeds;              /* 0 = the file's default */
    char root[RP_PATH];     /* results/runs */
    int force;              /* rerun every stage */
    char device[8];         /* cpu | cuda: --device, else the file's "device", else cpu */
    char precision[8];      /* fp32 | tf32 | bf16 (cuda only): --precision, the file's, fp32 */
} rp_options;

typedef struct {
    char name[64];
    char hash[17];
    char dir[RP_PATH];
    int cached;
    double t0, wall;
} rp_stage;

typedef struct {
    rp_options opt;
    gc_config cfg;          /* the experiment file */
    const cJSON *scale_cfg; /* the selected scale's object */
    char scale_path[64];    /* "scales.mini", for messages */
    char experiment[64];
    char config_hash[17];
    int seeds;
    int analysis;           /* the file's "analysis": index into "auroc|partial|vote" (math.h) */
    double t0;
    rp_stage stages[64];
    int n_stages;
} rp_run;

/* FNV-1a 64 of a string, as 16 hex digits. */
void rp_hash_hex(const char *s, char out[17]);

/* Opens a stage: hashes key (a JSON object; the runner adds the stage name), sets up its directory
 * and says whether a completed copy exists (st->cached): such a stage is finished as it is, and
 * only a stage that runs is closed with rp_stage_close. */
gc_status rp_stage_open(rp_run *r, const char *name, const cJSON *key, rp_stage **st);
/* Marks the stage complete: writes info (may be NULL) to info.json, then the DONE marker. */
gc_status rp_stage_close(rp_run *r, rp_stage *st, const cJSON *info);
/* Path of a file inside a stage's directory. */
void rp_stage_file(const rp_stage *st, const char *file, char out[RP_PATH]);

/* Metadata every result file records: commit, config hash, seeds, scale, device, threads, wall. */
cJSON *rp_metadata(const rp_run *r);
/* The per-stage time table, printed to stderr. */
void rp_print_times(const rp_run *r);
/* The output directory for this experiment and scale: <root>/<experiment>/<scale>. */
void rp_result_dir(const rp_run *r, char out[RP_PATH]);
/* mkdir -p */
gc_status rp_mkdirs(const char *path);

/* The current git commit (short), or "unknown". */
const char *rp_commit(void);

/* Experiment entry points (one per pipeline). */
gc_status rp_run_math(rp_run *r);

#endif
