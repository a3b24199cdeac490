#include "claims.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/jsonio.h"
#include "replicate/cli.h"
#include "lib/util/flags.h"
#include "replicate/runner/results.h"
#include "report.h"
#include "verdict.h"
#include "replicate/claims/schema.h"

static gc_status load_claims(cJSON **doc) {
    return claims_load(rp_claims_file(), doc);
}

void claims_print_verdict(const cJSON *results, FILE *f) {
    const cJSON *v = gc_json_get(results, RS_VERDICT);
    if (!v) return;
    fprintf(f, "\nverdict: %s\n", cJSON_GetStringValue(gc_json_get(v, RS_VERDICT)));
    for (const cJSON *r = gc_json_get(v, RS_REASONS) ? gc_json_get(v, RS_REASONS)->child : NULL; r;
         r = r->next)
        fprintf(f, "  - %s\n", r->valuestring);
    const cJSON *pw = gc_json_get(v, RS_POWER);
    if (pw)
        fprintf(f, "  - power: detects %.3f with 80%% power (%s)\n",
                gc_json_num(pw, RS_DETECTABLE, NAN),
                cJSON_GetStringValue(gc_json_get(pw, RS_MODEL)));
}

/* ---- check and report ---- */

typedef struct {
    char scale[8];
    const char *root;
} claims_opts;

static int parse_opts(const char *cmd, const char *help, int argc, char **argv, claims_opts *o) {
    char prog[32], scale[8] = "mini";
    snprintf(prog, sizeof prog, "replicate %s", cmd);
    int want_help = 0;
    o->root = "results/runs";
    const gc_flag flags[] = {
        {"scale", GC_FLAG_CHOICE, scale, 0, 0, "smoke|mini|full", sizeof scale},
        {"root", GC_FLAG_STRING, &o->root, 0, 0, NULL, 0},
        {"help", GC_FLAG_SWITCH, &want_help, 0, 0, NULL, 0},
    };
    int rc = gc_flags_parse(prog, argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), NULL, 0,
                            NULL);
    if (rc) return rc;
    if (want_help) return fputs(help, stdout), -1;
    snprintf(o->scale, sizeof o->scale, "%s", scale);
    return 0;
}

typedef struct {
    char id[64], artefact[128], published[512], check_text[512], verdict[16], measured[256],
        test[64], p[32], command[64];
} claim_row;

/* Fills one row per claim; returns the number of rows, or -1 on error. */
static int collect_rows(const claims_opts *o, claim_row *rows, int cap, int *fails) {
    cJSON *doc;
    if (load_claims(&doc) != GC_OK) return -1;
    int n = 0;
    *fails = 0;
    for (const cJSON *c = gc_json_get(doc, "claims")->child; c && n < cap; c = c->next, n++) {
        claim_row *w = &rows[n];
        memset(w, 0, sizeof *w);
        const char *e = cJSON_GetStringValue(gc_json_get(c, RS_EXPERIMENT));
        snprintf(w->id, sizeof w->id, "%s",
                 cJSON_GetStringValue(gc_json_get(c, "id"))
                     ? cJSON_GetStringValue(gc_json_get(c, "id"))
                     : "?");
        snprintf(w->artefact, sizeof w->artefact, "%s",
                 cJSON_GetStringValue(gc_json_get(c, "artefact"))
                     ? cJSON_GetStringValue(gc_json_get(c, "artefact"))
                     : "");
        snprintf(w->published, sizeof w->published, "%s",
                 cJSON_GetStringValue(gc_json_get(c, "published"))
                     ? cJSON_GetStringValue(gc_json_get(c, "published"))
                     : "");
        snprintf(w->check_text, sizeof w->check_text, "%s",
                 cJSON_GetStringValue(gc_json_get(gc_json_get(c, "mini_check"), "text"))
                     ? cJSON_GetStringValue(gc_json_get(gc_json_get(c, "mini_check"), "text"))
                     : "");
        snprintf(w->command, sizeof w->command, "make %s", e ? e : w->id);
        snprintf(w->verdict, sizeof w->verdict, "NOT RUN");
        snprintf(w->measured, sizeof w->measured, "-");
        snprintf(w->test, sizeof w->test, "-");
        snprintf(w->p, sizeof w->p, "-");
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/%s/results.json", o->root, e ? e : w->id, o->scale);
        FILE *f = fopen(path, "r");
        if (f) fclose(f);
        if (!e || !gc_json_get(c, "mini_check") ||
            !cJSON_GetStringValue(gc_json_get(gc_json_get(c, "mini_check"), "rule"))) {
            snprintf(w->measured, sizeof w->measured, "%s",
                     f ? "run; reported as tables in REPRODUCE.md (no direction to check)"
                       : "not implemented yet");
            if (f) snprintf(w->verdict, sizeof w->verdict, "NO CHECK");
            continue;
        }
        cJSON *res;
        if (!f) continue;
        if (gc_json_read(path, &res) != GC_OK) {
            snprintf(w->measured, sizeof w->measured, "unreadable: %s", gc_last_error());
            continue;
        }
        cJSON *v = NULL;
        if (claims_verdict(c, res, rp_claims_file(), &v) == GC_OK) {
            snprintf(w->verdict, sizeof w->verdict, "%s",
                     cJSON_GetStringValue(gc_json_get(v, RS_VERDICT)));
            snprintf(w->measured, sizeof w->measured, "%s",
                     cJSON_GetStringValue(gc_json_get(v, RS_SUMMARY)));
            snprintf(w->test, sizeof w->test, "%s", cJSON_GetStringValue(gc_json_get(v, RS_TEST)));
            if (isfinite(gc_json_num(v, RS_P, NAN)))
                snprintf(w->p, sizeof w->p, "%.3g", gc_json_num(v, RS_P, NAN));
            *fails += !strcmp(w->verdict, "FAIL");
        }
        cJSON_Delete(v);
        cJSON_Delete(res);
    }
    cJSON_Delete(doc);
    return n;
}

static const char CHECK_HELP[] =
    "usage: replicate check [--scale smoke|mini|full] [--root DIR]\n\n"
    "Prints one row per claim of results/published.json: published figure, measured value (mean\n"
    "and 95% CI over seeds), test, p and verdict (PASS / FAIL / INCONCLUSIVE / NOT RUN) for the "
    "runs under DIR\n"
    "(default results/runs) at the scale (default mini). Exits 1 when any claim FAILs.\n";

/* Shared prologue of check and report: options, then one row per claim. Returns -1 to go on,
 * or the exit code (0 after --help). */
static int claim_rows(const char *cmd, const char *help, int argc, char **argv, claims_opts *o,
                      claim_row *rows, int *n, int *fails) {
    int rc = parse_opts(cmd, help, argc, argv, o);
    if (rc) return rc < 0 ? 0 : rc;
    *n = collect_rows(o, rows, 32, fails);
    return *n < 0 ? cli_runtime_error(cmd) : -1;
}

int cmd_check(int argc, char **argv) {
    claims_opts o;
    claim_row rows[32];
    int n, fails, rc = claim_rows("check", CHECK_HELP, argc, argv, &o, rows, &n, &fails);
    if (rc >= 0) return rc;
    printf("%-9s %-12s %-46s %-52s %-30s %-9s\n", "claim", "verdict", "published",
           "measured (pooled, mean [95% CI])", "test", "p");
    for (int i = 0; i < n; i++)
        printf("%-9s %-12s %-46.46s %-52.52s %-30.30s %-9s\n", rows[i].id, rows[i].verdict,
               rows[i].published, rows[i].measured, rows[i].test, rows[i].p);
    return fails ? 1 : 0;
}

static const char REPORT_HELP[] =
    "usage: replicate report [--scale smoke|mini|full] [--root DIR]\n\n"
    "Rewrites the claims table of REPRODUCE.md (between its claims markers) and the measured\n"
    "tables of each experiment (between its results markers) from the runs.\n";

int cmd_report(int argc, char **argv) {
    claims_opts o;
    claim_row rows[32];
    int n, fails, rc = claim_rows("report", REPORT_HELP, argc, argv, &o, rows, &n, &fails);
    if (rc >= 0) return rc;
    char *doc, path[2048];
    snprintf(path, sizeof path, "%s/REPRODUCE.md", rp_repo_dir());
    if (gc_read_file(path, &doc, NULL) != GC_OK) return cli_runtime_error("report");
    if (report_sections(o.root, o.scale, &doc) != GC_OK) {
        free(doc);
        return cli_runtime_error("report");
    }
    const char *BEGIN = "<!-- claims:begin -->", *END = "<!-- claims:end -->";
    char *b = strstr(doc, BEGIN), *e = b ? strstr(b, END) : NULL;
    if (!b || !e) {
        free(doc);
        fprintf(stderr, "replicate report: %s has no %s ... %s markers\n", path, BEGIN, END);
        return 1;
    }
    gc_atomic_file af;
    if (gc_atomic_open(&af, path) != GC_OK) {
        free(doc);
        return cli_runtime_error("report");
    }
    gc_atomic_write(&af, doc, (size_t)(b - doc) + strlen(BEGIN));
    char line[4096];
    snprintf(line, sizeof line,
             "\n| claim | published | check at %s scale | command | measured | test | p | verdict "
             "|\n|---|---|---|---|---|---|---|---|\n",
             o.scale);
    gc_atomic_write(&af, line, strlen(line));
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof line, "| %s (%s) | %s | %s | `%s` | %s | %s | %s | **%s** |\n",
                 rows[i].id, rows[i].artefact, rows[i].published, rows[i].check_text,
                 rows[i].command, rows[i].measured, rows[i].test, rows[i].p, rows[i].verdict);
        gc_atomic_write(&af, line, strlen(line));
    }
    gc_atomic_write(&af, e, strlen(e));
    free(doc);
    if (gc_atomic_commit(&af) != GC_OK) return cli_runtime_error("report");
    printf("report: %s updated (%d claims, %s scale)\n", path, n, o.scale);
    return 0;
}
