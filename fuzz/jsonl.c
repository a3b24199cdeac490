/* JSONL data sets: the bytes as a JSONL file read line by line (gc_jsonl_each: plain, or gzip
 * when the bytes are one), each object's fields read as the data set readers read them (numbers,
 * strings, arrays of numbers); as a Helpful-Harmless file (gc_hh_load), split into prompts and
 * responses; as a HelpSteer file (gc_helpsteer_load, strict and skipping malformed lines); as an
 * OpenMathInstruct-1 or prediction file (gc_om_load, both ways), with its preference pairs; as a
 * math benchmark (gc_mb_load, the format detected, both ways), and as the two benchmarks that are
 * no JSONL: algebra222's CSV (lib/util/csvio.h) and MathQA's one JSON array. */
#include "fuzz.h"

#include <cjson/cJSON.h>

#include "lib/tasks/helpsteer.h"
#include "lib/tasks/mathbench.h"
#include "lib/tasks/openmath.h"
#include "lib/tasks/hh.h"
#include "lib/util/jsonio.h"

static gc_status visit(const cJSON *obj, int line, void *ctx) {
    double *sum = ctx;
    *sum += line + gc_json_num(obj, "score", 0) + gc_json_num(obj, "label", 0);
    const char *q = cJSON_GetStringValue(gc_json_get(obj, "question"));
    if (q) *sum += (double)strlen(q);
    const cJSON *a = gc_json_get(obj, "pred_score");
    for (const cJSON *e = cJSON_IsArray(a) ? a->child : NULL; e; e = e->next)
        *sum += cJSON_IsNumber(e) ? e->valuedouble : 0;
    return line > 1000 ? gc_fail(GC_ERR_FORMAT, "enough") : GC_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("jsonl", data, size);
    double sum = 0;
    (void)gc_jsonl_each(path, visit, &sum);
    gc_hh_set hh;
    if (gc_hh_load(path, &hh) == GC_OK) gc_hh_free(&hh);
    for (int skip = 0; skip < 2; skip++) {
        gc_helpsteer_set hs;
        if (gc_helpsteer_load(path, skip, &hs) == GC_OK) {
            int *idx = malloc(sizeof(int) * (size_t)hs.n);
            if (idx) (void)gc_helpsteer_prompts(&hs, idx), free(idx);
            gc_helpsteer_free(&hs);
        }
        gc_om_set om;
        if (gc_om_load(path, skip, &om) == GC_OK) {
            int *c = malloc(sizeof(int) * (size_t)om.n), *r = malloc(sizeof(int) * (size_t)om.n);
            if (c && r) (void)gc_om_pairs(&om, 2, c, r, om.n, NULL);
            free(c), free(r);
            gc_om_free(&om);
        }
        const gc_mb_format forms[] = {GC_MB_AUTO, GC_MB_ALGEBRA222, GC_MB_MATHQA}; /* CSV, array */
        for (int f = 0; f < 3; f++) {
            gc_mb_set mb;
            if (gc_mb_load(path, forms[f], skip, &mb) == GC_OK) gc_mb_free(&mb);
        }
    }
    return 0;
}
