/* flags: the command-line flags of every program (replicate's subcommands and the benchmarks).
 *
 * A program declares its flags in a table (name without "--", type, destination, range or
 * choices); gc_flags_parse reads "--name value" or "--name=value" (and "--name" alone for a
 * switch) in any order,
 * checks each value, and collects the other arguments as positionals. A usage error (unknown
 * flag, missing or bad value, too many positionals) prints "PROG: message" naming the flag and
 * its accepted values, then "Try 'PROG --help'.", and returns 2: the exit code of a usage error.
 * gc_flag_value checks one value the same way (replicate's getopt-based subcommands use it).
 * Destinations are the caller's; strings point into argv.
 */
#ifndef GC_FLAGS_H
#define GC_FLAGS_H

#include <stddef.h>

typedef enum {
    GC_FLAG_INT,    /* long *, in [lo, hi] */
    GC_FLAG_FLOAT,  /* double *, finite, in [lo, hi] */
    GC_FLAG_STRING, /* const char ** */
    GC_FLAG_CHOICE, /* char[cap]: one of choices "a|b|c" */
    GC_FLAG_SWITCH, /* int *: set to 1 when the flag is given (takes no value) */
    GC_FLAG_LIST,   /* const char *[cap]: each use fills the next NULL slot, at most cap uses */
} gc_flag_type;

typedef struct {
    const char *name;
    gc_flag_type type;
    void *dest;
    double lo, hi;       /* INT, FLOAT */
    const char *choices; /* CHOICE */
    size_t cap;          /* CHOICE: bytes at dest; LIST: entries at dest */
} gc_flag;

/* Prints "PROG: <message>" and the --help hint to stderr; returns 2. */
int gc_flags_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Checks text as the value of flag f and stores it: 0, or a usage error (2). */
int gc_flag_value(const char *prog, const gc_flag *f, const char *text);
/* Parses argv[1..argc): flags by the table (a program's --help is a SWITCH of its table), the
 * rest into pos (at most max_pos; *n_pos gets the count; pos may be NULL when max_pos is 0).
 * 0, or a usage error (2). */
int gc_flags_parse(const char *prog, int argc, char **argv, const gc_flag *flags, int n_flags,
                   const char **pos, int max_pos, int *n_pos);

#endif
