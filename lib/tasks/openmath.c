#include "openmath.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/util/jsonio.h"

void gc_om_free(gc_om_set *s) {
    for (int i = 0; s->it && i < s->n; i++) {
        gc_om_item *t = &s->it[i];
        free(t->question), free(t->solution), free(t->expected), free(t->predicted);
        free(t->dataset);
    }
    free(s->it);
    memset(s, 0, sizeof *s);
}

typedef struct {
    const char *path;
    int allow_skips, cap;
    gc_om_set *out;
} load_ctx;

/* a string field, or a number written as it reads ("%.17g" trimmed by cJSON's own printing) */
static char *text_of(const cJSON *x) {
    if (cJSON_IsString(x)) return strdup(x->valuestring);
    if (cJSON_IsNumber(x)) return cJSON_PrintUnformatted(x);
    return NULL;
}

static gc_status add_item(const cJSON *j, int line, void *ctx) {
    load_ctx *k = ctx;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, "question");
    const cJSON *sol = cJSON_GetObjectItemCaseSensitive(j, "generated_solution");
    if (!sol) sol = cJSON_GetObjectItemCaseSensitive(j, "generation");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expected_answer");
    const cJSON *pred = cJSON_GetObjectItemCaseSensitive(j, "predicted_answer");
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "is_correct");
    if (!ok) ok = cJSON_GetObjectItemCaseSensitive(j, "symbolic_correct");
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(j, "dataset");
    const char *bad =
        !cJSON_IsString(q)                              ? "question (a string)"
        : !cJSON_IsString(sol)                          ? "generated_solution or "
                                                          "generation (a string)"
        : !(cJSON_IsString(exp) || cJSON_IsNumber(exp)) ? "expected_answer (a string "
                                                          "or a number)"
        : pred && !(cJSON_IsString(pred) || cJSON_IsNumber(pred) || cJSON_IsNull(pred))
            ? "predicted_answer (a string, a number or null)"
        : !cJSON_IsBool(ok)         ? "is_correct or symbolic_correct (true/false)"
        : ds && !cJSON_IsString(ds) ? "dataset (a string)"
                                    : NULL;
    if (bad) {
        if (k->allow_skips) {
            k->out->skipped++;
            return GC_OK;
        }
        return gc_fail(GC_ERR_FORMAT, "%s:%d: %s missing or malformed", k->path, line, bad);
    }
    gc_om_set *out = k->out;
    if (out->n == k->cap) {
        int cap = k->cap ? 2 * k->cap : 1024;
        gc_om_item *a = realloc(out->it, sizeof *a * cap);
        if (!a) return gc_fail(GC_ERR_NOMEM, "%s:%d: out of memory", k->path, line);
        out->it = a, k->cap = cap;
    }
    gc_om_item *t = &out->it[out->n++];
    *t = (gc_om_item){strdup(q->valuestring),
                      strdup(sol->valuestring),
                      text_of(exp),
                      pred && !cJSON_IsNull(pred) ? text_of(pred) : NULL,
                      strdup(ds ? ds->valuestring : ""),
                      cJSON_IsTrue(ok)};
    int fine = t->question && t->solution && t->expected && t->dataset &&
               (t->predicted || !pred || cJSON_IsNull(pred));
    return fine ? GC_OK : gc_fail(GC_ERR_NOMEM, "%s:%d: out of memory", k->path, line);
}

gc_status gc_om_load(const char *path, int allow_skips, gc_om_set *out) {
    memset(out, 0, sizeof *out);
    load_ctx k = {path, allow_skips, 0, out};
    gc_status s = gc_jsonl_each(path, add_item, &k);
    if (s == GC_OK && out->n == 0) s = gc_fail(GC_ERR_FORMAT, "%s: no solutions", path);
    if (s != GC_OK) gc_om_free(out);
    return s;
}

static const gc_om_set *g_set; /* the comparator's set (qsort has no context argument) */
#pragma omp threadprivate(g_set)

static int by_question(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    int c = strcmp(g_set->it[i].question, g_set->it[j].question);
    return c ? c : (i > j) - (i < j);
}

static int by_first(const void *a, const void *b) {
    const int *x = a, *y = b; /* (first index, group start, group size) */
    return (x[0] > y[0]) - (x[0] < y[0]);
}

int gc_om_pairs(const gc_om_set *s, int max_per_question, int *chosen, int *rejected, int cap,
                int *questions) {
    int n = s->n, np = 0, nq = 0;
    int *idx = gc_malloc(sizeof(int) * (n ? n : 1)),
        *grp = gc_malloc(sizeof(int) * 3 * (n ? n : 1));
    int *good = gc_malloc(sizeof(int) * (n ? n : 1)), *badi = gc_malloc(sizeof(int) * (n ? n : 1));
    if (!idx || !grp || !good || !badi) {
        free(idx), free(grp), free(good), free(badi);
        return -1;
    }
    for (int i = 0; i < n; i++)
        idx[i] = i;
    g_set = s;
    qsort(idx, (size_t)n, sizeof(int), by_question); /* a question's items together, file order */
    int ng = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && !strcmp(s->it[idx[j]].question, s->it[idx[i]].question))
            j++;
        grp[3 * ng] = idx[i], grp[3 * ng + 1] = i, grp[3 * ng + 2] = j - i, ng++;
        i = j;
    }
    qsort(grp, (size_t)ng, 3 * sizeof(int), by_first); /* questions in order of first appearance */
    for (int g = 0; g < ng; g++) {
        int ngood = 0, nbad = 0;
        for (int k = 0; k < grp[3 * g + 2]; k++) {
            int it = idx[grp[3 * g + 1] + k];
            if (s->it[it].correct)
                good[ngood++] = it;
            else
                badi[nbad++] = it;
        }
        if (!ngood || !nbad) continue;
        int most = ngood > nbad ? ngood : nbad;
        if (max_per_question > 0 && most > max_per_question) most = max_per_question;
        for (int k = 0; k < most && np < cap; k++, np++)
            chosen[np] = good[k % ngood], rejected[np] = badi[k % nbad];
        nq++;
    }
    if (questions) *questions = nq;
    free(idx), free(grp), free(good), free(badi);
    return np;
}
