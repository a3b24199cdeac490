#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "lib/util/base.h"
#include "lib/util/flags.h"

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    char prog[64], msg[1024];
    snprintf(prog, sizeof prog, "replicate %s", cmd);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gc_flags_usage_error(prog, "%s", msg);
}

/* one value through the shared flag parser (lib/util/flags.h), under "replicate CMD" */
static int value(const char *cmd, const gc_flag *f, const char *s) {
    char prog[64];
    snprintf(prog, sizeof prog, "replicate %s", cmd);
    return gc_flag_value(prog, f, s);
}

int cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out) {
    gc_flag f = {flag, GC_FLAG_INT, out, (double)lo, (double)hi, NULL, 0};
    return value(cmd, &f, s);
}

int cli_parse_float(const char *cmd, const char *flag, const char *s, double lo, double hi,
                    double *out) {
    gc_flag f = {flag, GC_FLAG_FLOAT, out, lo, hi, NULL, 0};
    return value(cmd, &f, s);
}

int cli_runtime_error(const char *cmd) {
    fprintf(stderr, "replicate %s: error: %s\n", cmd, gc_last_error());
    return 1;
}

int cli_parse_choice(const char *cmd, const char *flag, const char *s, const char *choices,
                     char *out, size_t cap) {
    gc_flag f = {flag, GC_FLAG_CHOICE, out, 0, 0, choices, cap};
    return value(cmd, &f, s);
}
