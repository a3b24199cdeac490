/* replicate: the gcrm command-line interface.
 *
 * Subcommands are listed in COMMANDS below; each reads its flags with lib/util/flags.h. Usage
 * errors (unknown flag, bad value, missing argument) print a message naming the flag and exit 2;
 * runtime failures print the library's error and exit 1.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "lib/util/base.h"
#include "cli.h"

/* ---- dispatch ---- */

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} COMMANDS[] = {
    {"run", cmd_run, "run an experiment file (stages cached, resumable)"},
    {"check", cmd_check, "one row per paper claim: published, measured, test, verdict"},
    {"report", cmd_report, "rewrite the claims table of REPRODUCE.md"},
    {"eval-scores", cmd_eval_scores, "AUROC with CIs (and DeLong) for scores in any JSONL file"},
    {"generate", cmd_generate, "generate text from a checkpoint (gcrm or llama2.c)"},
    {"cache", cmd_cache, "list, verify or prune the stage cache"},
    {"export", cmd_export, "write a model or reward model in Hugging Face's layout"},
    {"plan", cmd_plan, "memory and time of an experiment's full scale, before it runs"},
};

static void print_help(FILE *f) {
    fputs("usage: replicate COMMAND [OPTIONS]\n\n"
          "gcrm: goal-conditioned reward models, reproduced end to end.\n\ncommands:\n",
          f);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fputs("\n'replicate COMMAND --help' describes a command's options.\n", f);
}

int main(int argc, char **argv) {
    gc_blas_select_kernels(argv);
    /* a file-size limit (a full quota) makes writes fail with EFBIG, reported as errors, instead
     * of killing the process mid-write */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_help(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "replicate: unknown command '%s'\n\n", argv[1]);
    print_help(stderr);
    return 2;
}
