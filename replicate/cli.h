/* cli: what the replicate subcommands share: usage errors (exit 2, naming the flag; the flags
 * themselves are read by the shared parser, lib/util/flags.h), runtime errors (exit 1, the
 * library's message), and the subcommands' entry points. */
#ifndef GC_CLI_H
#define GC_CLI_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "replicate/runner/stage.h"

/* "replicate CMD: message" and the --help hint on stderr; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "replicate CMD: error: <the library's last error>" on stderr; returns 1. */
int cli_runtime_error(const char *cmd);
#define CLI_DEVICES "cpu|cuda"
#define CLI_PRECISIONS "fp32|tf32|bf16"

/* Opens r->opt.file at r->opt.scale (run's flags already in r->opt): the top-level keys, the
 * pipeline (*run), the scale's section and its hash (cmd_run.c). */
gc_status cli_open_experiment(rp_run *r, gc_status (**run)(rp_run *));
/* The directory that holds the full scale's models and data: $GCRM_FULL_ROOT, else ../full
 * beside the repository. */
const char *cli_full_root(void);

/* Subcommands. */
int cmd_generate(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_eval_scores(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_plan(int argc, char **argv);

#endif
