#include "flags.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gc_flags_usage_error(const char *prog, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    va_end(ap);
    return 2;
}

/* index of value in choices "a|b|c", or -1 */
static int choice_index(const char *choices, const char *value) {
    size_t n = strlen(value);
    int k = 0;
    for (const char *p = choices; *p; k++) {
        const char *bar = strchr(p, '|'), *end = bar ? bar : p + strlen(p);
        if ((size_t)(end - p) == n && !strncmp(p, value, n)) return k;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

int gc_flag_value(const char *prog, const gc_flag *f, const char *text) {
    char *end;
    errno = 0;
    switch (f->type) {
    case GC_FLAG_INT: {
        long v = strtol(text, &end, 10);
        if (errno || end == text || *end || v < f->lo || v > f->hi)
            return gc_flags_usage_error(prog,
                                        "bad value '%s' for --%s (an integer in [%.0f, %.0f])",
                                        text, f->name, f->lo, f->hi);
        *(long *)f->dest = v;
        return 0;
    }
    case GC_FLAG_FLOAT: {
        double v = strtod(text, &end);
        if (errno || end == text || *end || !isfinite(v) || v < f->lo || v > f->hi)
            return gc_flags_usage_error(prog, "bad value '%s' for --%s (a number in [%g, %g])",
                                        text, f->name, f->lo, f->hi);
        *(double *)f->dest = v;
        return 0;
    }
    case GC_FLAG_STRING:
        *(const char **)f->dest = text;
        return 0;
    case GC_FLAG_CHOICE:
        if (choice_index(f->choices, text) < 0 || strlen(text) >= f->cap)
            return gc_flags_usage_error(prog, "bad value '%s' for --%s (%s)", text, f->name,
                                        f->choices);
        memcpy(f->dest, text, strlen(text) + 1);
        return 0;
    case GC_FLAG_SWITCH:
        *(int *)f->dest = 1;
        return 0;
    case GC_FLAG_LIST: {
        const char **list = f->dest;
        for (size_t k = 0; k < f->cap; k++)
            if (!list[k]) return list[k] = text, 0;
        return gc_flags_usage_error(prog, "--%s given more than %zu times", f->name, f->cap);
    }
    }
    return gc_flags_usage_error(prog, "--%s: a flag of unknown type", f->name);
}

int gc_flags_parse(const char *prog, int argc, char **argv, const gc_flag *flags, int n_flags,
                   const char **pos, int max_pos, int *n_pos) {
    int np = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) {
            if (np == max_pos) return gc_flags_usage_error(prog, "unexpected argument '%s'", a);
            pos[np++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const gc_flag *f = NULL;
        for (int k = 0; k < n_flags && !f; k++)
            if (strlen(flags[k].name) == len && !strncmp(a + 2, flags[k].name, len)) f = &flags[k];
        if (!f) return gc_flags_usage_error(prog, "unknown option '%.*s'", (int)len + 2, a);
        if (f->type == GC_FLAG_SWITCH) {
            if (eq) return gc_flags_usage_error(prog, "option '--%s' takes no value", f->name);
            *(int *)f->dest = 1;
            continue;
        }
        if (!eq && i + 1 == argc) return gc_flags_usage_error(prog, "option '%s' needs a value", a);
        int rc = gc_flag_value(prog, f, eq ? eq + 1 : argv[++i]);
        if (rc) return rc;
    }
    if (n_pos) *n_pos = np;
    return 0;
}
