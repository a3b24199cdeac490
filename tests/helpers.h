/* Test helpers: data location, tiny model configs, subprocess capture, temp files. */
#ifndef GC_TEST_HELPERS_H
#define GC_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/model/model.h"
#include "lib/rm/rm.h"
#include "lib/util/rng.h"

struct cJSON;

/* GCRM_DATA or ../shared/data. */
const char *th_data_dir(void);
/* Full path of a data file in buf; returns 1 when it exists. */
int th_data_file(char *buf, size_t cap, const char *rel);
/* The replicate binary (GCRM_BIN or build/replicate). */
const char *th_replicate_bin(void);

/* Runs a shell command; captures stdout and stderr (caller frees); returns the exit status. */
int th_run(const char *cmd, char **out, size_t *out_len, char **err);

/* Runs `replicate run FILE --scale smoke --root ROOT extra`; returns the exit code. */
int th_run_smoke(const char *file, const char *root, const char *extra, char **out, char **err);
/* Runs experiment (whose results land under <root>/<name>/smoke) at smoke scale with one seed on
 * the CPU and on the CUDA backend (a GPU, else the host emulation: GCRM_CUDA_EMULATE), one thread,
 * each from a fresh root; returns both results.json (caller deletes), the roots removed. Skips the
 * test when the build has no CUDA backend. */
void th_smoke_cpu_and_cuda(const char *experiment, const char *name, struct cJSON **cpu,
                           struct cJSON **cuda);
/* Number of stages a run's stderr time table reports as run (not cached) whose name starts with
 * prefix. */
int th_count_rerun(const char *err, const char *prefix);
/* The experiment file as resolved (its layers merged), with the value at keypath (dotted, with
 * [i] for array elements; created when its parent exists) set to the JSON text json, written to
 * a new temp file whose path is returned (caller removes and frees). keypath NULL: unchanged. */
char *th_experiment_with(const char *experiment, const char *keypath, const char *json);
/* Runs th_experiment_with's file at smoke scale and expects exit 1 with both fragments in the
 * error (Criterion assertions). */
void th_expect_bad_experiment(const char *experiment, const char *keypath, const char *json,
                              const char *frag1, const char *frag2);
/* The same for a file holding text as it is (syntax errors). */
void th_expect_bad_experiment_text(const char *text, const char *frag1, const char *frag2);

/* A unique temp path under /tmp (caller frees). */
char *th_tmp_path(const char *tag);
/* Removes a file or a directory tree (a test's run root); missing is fine. */
void th_rm_tree(const char *path);
/* Writes bytes to path; returns 0 on success. */
int th_write_file(const char *path, const void *data, size_t n);

/* Tiny config used by the numerical tests: D 16, H 24, L 2, 4 heads / 2 kv heads, V 19, seq 8. */
gc_model_config th_tiny_config(int tied);
/* Random weights of O(0.3) and norms near 1 so every path carries signal. */
void th_init_weights(gc_model *m, uint64_t seed);
/* x[0 .. n) = scale * standard normal draws from r, in order. */
void th_fill_normal(float *x, size_t n, float scale, gc_rng *r);
/* Two identical tiny reward models (th_tiny_config(0) trunks from th_init_weights(weights), linear
 * heads from head_seed), asserting each step. */
void th_twin_rms(gc_rm *a, gc_rm *b, uint64_t weights, uint64_t head_seed);

/* Gives a Hugging Face model directory's tokenizer_config.json a small chat template that writes
 * the BOS itself: "<bos>role: content\n" per message, then "assistant:" as the generation prompt
 * (the full-scale chat stand-ins). */
void th_add_chat_template(const char *model_dir);

/* A file's text (at most 1 MiB; empty when unreadable; caller frees). */
char *th_read_text(const char *path);
/* 1 when every file of every stage directory of cache a is byte for byte in cache b (info.json
 * and online.json but their lines that record wall time, DONE but its lines for those two); else
 * 0 with the first difference in why. Criterion expects more than 10 files compared. */
int th_same_stages(const char *a, const char *b, char *why, size_t cap);
/* The number of checkpoint directories (<stage>.ckpt) in a cache; *step the largest step in
 * them (-1: none). */
int th_checkpoints(const char *cache, long *step);

/* Rewrites the DONE of root's stage `name` (its first instance) for the files it now holds: a
 * test's stand-in for a stage that wrote a malformed file, which the readers must refuse. */
void th_rerecord(const char *root, const char *name);

/* Runs file at smoke scale (with extra flags) into root, killed right after every checkpoint it
 * writes (GCRM_KILL_AFTER_CHECKPOINTS=1) and rerun until it completes; the stages that resumed go
 * into `resumed` (a line each). Returns the runs. */
int th_run_killed_after_every_checkpoint(const char *file, const char *root, const char *extra,
                                         char *resumed, size_t cap);

/* The newest stage directory of runs' cache whose name starts with prefix- (malloc'd; fails the
 * test when there is none), and a JSON file of a directory, read (fails the test otherwise; the
 * caller deletes it). */
char *th_stage_dir(const char *runs, const char *prefix);
struct cJSON *th_read_json(const char *dir, const char *file);

/* th_run_killed_after_every_checkpoint at full scale (--full-root root) into directory `into`
 * (created under root), then the expectations of the full-scale tests: more than min_runs runs,
 * every stage of want (NULL-terminated) among the resumed ones, and every stage of the cache of
 * runs (an uninterrupted run's root) byte for byte in the resumed run's cache. */
void th_expect_full_resume(const char *file, const char *root, const char *runs, const char *into,
                           const char *const *want, int min_runs);

/* A beam-search step score (lib/policy/beam.h): the step's log-probability, so that a beam's score
 * is its sequence's log-probability. */
gc_status th_beam_by_logprob(void *ctx, const int32_t *seq, int prefix_len, int len, double lp_sum,
                             double *score);

/* A copy of claim `id` of results/published.json (the caller deletes it); fails the test when the
 * file or the claim is missing. */
struct cJSON *th_claim(const char *id);

#endif
