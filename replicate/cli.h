/* cli: helpers shared by the replicate subcommands: usage errors (exit 2, naming the flag),
 * checked numeric flag parsing, runtime errors (exit 1, the library's message). */
#ifndef GC_CLI_H
#define GC_CLI_H

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Return 0 and set *out, or print a usage error and return 2. */
int cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
int cli_parse_float(const char *cmd, const char *flag, const char *s, double lo, double hi,
                    double *out);
int cli_runtime_error(const char *cmd);
/* s must be one of choices ("a|b|c"): copied into out (cap bytes) and 0, or a usage error (2). */
int cli_parse_choice(const char *cmd, const char *flag, const char *s, const char *choices,
                     char *out, size_t cap);
#define CLI_DEVICES "cpu|cuda"
#define CLI_PRECISIONS "fp32|tf32|bf16"

/* Subcommands. */
int cmd_generate(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_eval_scores(int argc, char **argv);

/* Prepare getopt_long for a subcommand's argv (quiet, restartable). Returns 0. */
static inline int cli_getopt_reset(void) {
    optind = 1;
    opterr = 0;
    return 0;
}

/* Usage error for getopt_long's '?' (unknown flag) or ':' (missing value). */
static inline int cli_bad_option(const char *cmd, char **argv, int c) {
    const char *flag = argv[optind - 1];
    if (c == ':') return cli_usage_error(cmd, "option '%s' needs a value", flag);
    return cli_usage_error(cmd, "unknown option '%s'", flag);
}

#endif
