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

int cli_runtime_error(const char *cmd) {
    fprintf(stderr, "replicate %s: error: %s\n", cmd, gc_last_error());
    return 1;
}
