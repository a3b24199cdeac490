#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "lib/util/base.h"

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "replicate %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'replicate %s --help'.\n", cmd);
    va_end(ap);
    return 2;
}

int cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return cli_usage_error(cmd, "bad value '%s' for --%s (an integer in [%ld, %ld])", s, flag,
                               lo, hi);
    *out = v;
    return 0;
}

int cli_parse_float(const char *cmd, const char *flag, const char *s, double lo, double hi,
                    double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return cli_usage_error(cmd, "bad value '%s' for --%s (a number in [%g, %g])", s, flag, lo,
                               hi);
    *out = v;
    return 0;
}

int cli_runtime_error(const char *cmd) {
    fprintf(stderr, "replicate %s: error: %s\n", cmd, gc_last_error());
    return 1;
}

int cli_parse_choice(const char *cmd, const char *flag, const char *s, const char *choices,
                     char *out, size_t cap) {
    size_t n = strlen(s);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|'), *end = bar ? bar : p + strlen(p);
        if ((size_t)(end - p) == n && !strncmp(p, s, n) && n < cap) {
            memcpy(out, s, n + 1);
            return 0;
        }
        p = bar ? bar + 1 : end;
    }
    return cli_usage_error(cmd, "bad value '%s' for --%s (%s)", s, flag, choices);
}
