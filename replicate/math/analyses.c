#include "analyses.h"

#include <stdio.h>
#include <string.h>

static const math_analysis ANALYSES[] = {
    {/* .name = */ "auroc", /* .section = */ NULL, /* .run = */ math_analyse_auroc},
    {/* .name = */ "partial", /* .section = */ "partial", /* .run = */ math_analyse_partial},
    {/* .name = */ "vote", /* .section = */ "vote", /* .run = */ math_analyse_vote},
    {/* .name = */ "pilot", /* .section = */ NULL, /* .run = */ math_analyse_pilot},
    {/* .name = */ "table2", /* .section = */ "table2", /* .run = */ math_analyse_table2},
    {/* .name = */ "steer", /* .section = */ "steer", /* .run = */ math_analyse_steer},
};

static const char *const SHARED_SECTIONS[] = {"data", "policy", "pairs", "rm", "eval"};

/* The analysis of the run, and the scale object's sections checked against it. */
static gc_status pick(const rp_run *r, const math_analysis **out) {
    const char *name = r->analysis[0] ? r->analysis : "auroc";
    const math_analysis *a = NULL;
    char known[256] = "";
    for (size_t i = 0; i < sizeof ANALYSES / sizeof ANALYSES[0]; i++) {
        if (!strcmp(ANALYSES[i].name, name)) a = &ANALYSES[i];
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? "|" : "",
                 ANALYSES[i].name);
    }
    if (!a) return gc_config_fail(&r->cfg, "analysis", "expected one of \"%s\"", known);
    for (const cJSON *sec = r->scale_cfg->child; sec; sec = sec->next) {
        int ok = a->section && !strcmp(sec->string, a->section);
        for (size_t i = 0; i < sizeof SHARED_SECTIONS / sizeof SHARED_SECTIONS[0]; i++)
            ok |= !strcmp(sec->string, SHARED_SECTIONS[i]);
        char path[128];
        snprintf(path, sizeof path, "%s.%s", r->scale_path, sec->string);
        for (size_t i = 0; !ok && i < sizeof ANALYSES / sizeof ANALYSES[0]; i++)
            if (ANALYSES[i].section && !strcmp(sec->string, ANALYSES[i].section))
                return gc_config_fail(&r->cfg, path,
                                      "the section '%s' goes with \"analysis\": "
                                      "\"%s\" and only with it",
                                      sec->string, ANALYSES[i].name);
        if (!ok)
            return gc_config_fail(&r->cfg, path,
                                  "unknown key (known keys: data policy pairs rm "
                                  "eval%s%s)",
                                  a->section ? " " : "", a->section ? a->section : "");
    }
    for (size_t i = 0; i < sizeof SHARED_SECTIONS / sizeof SHARED_SECTIONS[0]; i++)
        if (!cJSON_GetObjectItemCaseSensitive(r->scale_cfg, SHARED_SECTIONS[i]))
            return gc_config_fail(&r->cfg, r->scale_path, "missing required key '%s'",
                                  SHARED_SECTIONS[i]);
    if (a->section && !cJSON_GetObjectItemCaseSensitive(r->scale_cfg, a->section))
        return gc_config_fail(&r->cfg, r->scale_path,
                              "the analysis \"%s\" needs the section "
                              "'%s'",
                              a->name, a->section);
    *out = a;
    return GC_OK;
}

gc_status math_run(rp_run *r) {
    const math_analysis *a = NULL;
    GC_TRY(pick(r, &a));
    math_ctx m = {.r = r};
    gc_status s = math_prepare(&m);
    char path[128] = "";
    const cJSON *section = a->section ? math_section(&m, a->section, path) : NULL;
    if (s == GC_OK) s = a->run(&m, section, path);
    rp_print_times(r);
    math_ctx_free(&m);
    return s;
}
