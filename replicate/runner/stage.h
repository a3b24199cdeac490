/* stage: the runner's core. A run executes one experiment file at one scale as a sequence of
 * stages; each stage's output is cached and shared by every experiment that needs it.
 *
 * A stage is declared once (rp_stage_def: its kind, the source file that defines it, its run
 * function and its reader) and run as instances (rp_stage_run) with a resolved, typed
 * configuration and the stages it reads. Its key is the FNV-1a 64 hash of the canonical JSON
 *   {"stage": kind, "code": code version, "config": config, "inputs": [input keys], "device": ...}
 * where config is built by the caller from typed fields with every default applied and objects'
 * keys sorted (rp_canonical), so reordering keys in an experiment file or writing a default out
 * changes nothing; the code version hashes the library's sources (lib/, kernels/) and the source
 * file that defines the stage, as compiled into this binary, so changing the numerics reruns
 * what they touch. The instance's output lives in <root>/cache/<instance>-<key>/; it is complete
 * only when its DONE file exists: an incomplete directory (a killed run) is emptied and the stage
 * runs again, so a killed run resumes from the last completed stage. DONE records every output's
 * size and checksum, verified whenever the stage is reused (manifest.h).
 *
 * rp_stage_run is the one "cached ? read : compute, write, close" path: compute writes the
 * outputs into the stage's directory (and may leave an info document in st->info), the runner
 * writes info.json and DONE, then load reads the outputs back, the same way for a fresh and a
 * cached stage. The run owns its stages (no fixed number); pointers to them stay valid until
 * rp_run_free.
 */
#ifndef RP_STAGE_H
#define RP_STAGE_H

#include <cjson/cJSON.h>

#include "lib/util/base.h"
#include "lib/util/config.h"

#define RP_PATH 1024
#define RP_MAX_RERUN 16

typedef struct {
    const char *file;   /* experiment file */
    char scale[16];     /* smoke | mini | full */
    int seeds;          /* 0 = the file's default */
    char root[RP_PATH]; /* results/runs */
    int force;          /* rerun every stage */
    char device[8];     /* cpu | cuda: --device, else the file's "device", else cpu */
    char precision[8];  /* fp32 | tf32 | bf16 (cuda only): --precision, the file's, fp32 */
    const char *rerun[RP_MAX_RERUN]; /* stage instances to compute again (--rerun), NULL-ended */
    double checkpoint_every;         /* seconds between a long stage's checkpoints (ckpt.h); 0: the
                                        file's "checkpoint_every", else 60 */
} rp_options;

typedef struct rp_stage {
    char name[96]; /* the instance: "rm-goal-seed2" */
    char hash[17]; /* its key */
    char dir[RP_PATH];
    int cached;
    double t0, wall;
    cJSON *info; /* set by compute: written to info.json by the runner, then freed */
    /* checkpoints inside the stage (ckpt.h) */
    double ckpt_every; /* seconds between checkpoints */
    double ckpt_t;     /* when the stage started or last checkpointed */
    int ckpt_on;       /* the stage checkpoints: signals stop it cleanly */
    int ckpt_resumed;  /* it resumed from a checkpoint */
} rp_stage;

typedef struct rp_stage_def {
    const char *kind;   /* "policy", "rm", "score": hashed into the key */
    const char *source; /* __FILE__ of the code that defines it: its code version (with lib/ and
                           kernels/); code in other files of replicate/ that shapes a stage's
                           outputs belongs in this file, or a change to it would not rerun the
                           stage */
    /* Writes the outputs into st->dir (rp_stage_file); ctx is the caller's. */
    gc_status (*compute)(rp_stage *st, void *ctx);
    /* Reads the outputs back into ctx (fresh or cached); NULL when users open the files. */
    gc_status (*load)(const rp_stage *st, void *ctx);
} rp_stage_def;

typedef struct {
    rp_options opt;
    gc_config cfg;          /* the experiment file (layers merged) */
    const cJSON *scale_cfg; /* the selected scale's object */
    char scale_path[64];    /* "scales.mini", for messages */
    char experiment[64];
    char plot[64]; /* the plot script, plots/<plot>.gp (the file's "plot", else experiment) */
    char pipeline[32];
    char analysis[32];    /* the file's "analysis" (the pipeline's default when absent) */
    char config_hash[17]; /* hash of the canonical resolved scale object */
    int seeds;
    double t0;
    unsigned rerun_hit; /* bit i: opt.rerun[i] named a stage of this run */
    rp_stage **stages;  /* (n_stages) in the order they were met */
    int n_stages, cap_stages;
} rp_run;

/* FNV-1a 64 of a string, as 16 hex digits. */
void rp_hash_hex(const char *s, char out[17]);
/* A copy of j with every object's keys sorted (recursively): the canonical form keys hash. */
cJSON *rp_canonical(const cJSON *j);
/* The code version of a source file compiled into this binary: the hash of the library's
 * sources and that file's. NULL (with an error) for a file the build did not record. */
const char *rp_code_version(const char *source);
/* The key of a stage: see the contract above. device NULL for the CPU. */
gc_status rp_stage_key(const char *kind, const char *code, const cJSON *config,
                       const char *const *inputs, int n_inputs, const char *device, char out[17]);

/* Runs or reuses the stage instance `name` of def: config (consumed; may be NULL) is its resolved
 * configuration, inputs (n_inputs) the stages it reads. On success *out (may be NULL) is the
 * instance, complete and loaded. */
gc_status rp_stage_run(rp_run *r, const rp_stage_def *def, const char *name, cJSON *config,
                       rp_stage *const *inputs, int n_inputs, void *ctx, rp_stage **out);
/* rp_stage_run, except that when another process holds the instance's lock (it is computing it)
 * the call returns at once with *busy = 1, nothing run and *out NULL: a caller with other
 * instances to run comes back for it later with rp_stage_run, which waits and reuses it. So
 * several processes on one cache (one per GPU) share a stage's instances between them. */
gc_status rp_stage_try(rp_run *r, const rp_stage_def *def, const char *name, cJSON *config,
                       rp_stage *const *inputs, int n_inputs, void *ctx, rp_stage **out, int *busy);
/* Path of a file inside a stage's directory. */
void rp_stage_file(const rp_stage *st, const char *file, char out[RP_PATH]);

/* Metadata every result file records: commit, config hash, seeds, scale, device, threads, wall,
 * the stages with their keys. */
cJSON *rp_metadata(const rp_run *r);
/* The per-stage time table, printed to stderr. */
void rp_print_times(const rp_run *r);
/* The output directory for this experiment and scale: <root>/<experiment>/<scale>. */
void rp_result_dir(const rp_run *r, char out[RP_PATH]);
/* mkdir -p */
gc_status rp_mkdirs(const char *path);
/* rm -r of a file or a directory tree (missing is fine); errors name the path. */
gc_status rp_remove_tree(const char *path);
/* The current git commit (short), or "unknown". */
const char *rp_commit(void);
/* Frees the stages and the configuration. */
void rp_run_free(rp_run *r);

#endif
