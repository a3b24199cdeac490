#include "mathbench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/util/jsonio.h"
#include "mathans.h"

static const char *const NAMES[GC_MB_N_FORMATS] = {
    [GC_MB_AUTO] = "auto",       [GC_MB_GSM8K] = "gsm8k",       [GC_MB_MATH] = "math",
    [GC_MB_MATH500] = "math500", [GC_MB_GSM_HARD] = "gsm-hard", [GC_MB_SVAMP] = "svamp",
    [GC_MB_ASDIV] = "asdiv",     [GC_MB_MAWPS] = "mawps"};

int gc_mb_format_parse(const char *name) {
    if (!name) return GC_MB_AUTO;
    for (int f = 0; f < GC_MB_N_FORMATS; f++)
        if (!strcmp(name, NAMES[f])) return f;
    return -1;
}

const char *gc_mb_format_name(gc_mb_format f) {
    return f >= 0 && f < GC_MB_N_FORMATS ? NAMES[f] : "?";
}

void gc_mb_free(gc_mb_set *s) {
    for (int i = 0; s->it && i < s->n; i++)
        free(s->it[i].question), free(s->it[i].answer);
    free(s->it);
    memset(s, 0, sizeof *s);
}

/* the format a line's keys announce (GC_MB_AUTO when none fits) */
static gc_mb_format detect(const cJSON *j) {
#define HAS(k) (cJSON_GetObjectItemCaseSensitive(j, k) != NULL)
    if (HAS("Body") && HAS("Answer")) return GC_MB_SVAMP;
    if (HAS("body") && HAS("answer")) return GC_MB_ASDIV;
    if (HAS("problem") && HAS("answer")) return GC_MB_MATH500;
    if (HAS("problem") && HAS("solution")) return GC_MB_MATH;
    if (HAS("input") && HAS("code") && HAS("target")) return GC_MB_GSM_HARD;
    if (HAS("input") && HAS("target")) return GC_MB_MAWPS;
    if (HAS("question") && HAS("answer")) return GC_MB_GSM8K;
#undef HAS
    return GC_MB_AUTO;
}

/* a number as the shortest positional text that reads back as it (no exponent: answers are
 * compared as written digits) */
static char *number_text(double v) {
    char buf[400];
    for (int decimals = 0; decimals <= 20; decimals++) {
        snprintf(buf, sizeof buf, "%.*f", decimals, v);
        if (strtod(buf, NULL) == v) break;
    }
    return strdup(buf);
}

typedef struct {
    const char *path;
    int allow_skips, cap;
    gc_mb_set *out;
} load_ctx;

static const char *str_of(const cJSON *j, const char *key) {
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, key));
}

/* question and answer of one line, or the name of what is missing (*bad) */
static void read_item(const cJSON *j, gc_mb_format f, char **q, char **a, const char **bad) {
    const char *qk = NULL, *ak = NULL, *q2 = NULL; /* question key, answer key, question part 2 */
    int numeric = 0;
    switch (f) {
    case GC_MB_GSM8K:
        qk = "question", ak = "answer";
        break;
    case GC_MB_MATH:
        qk = "problem", ak = "solution";
        break;
    case GC_MB_MATH500:
        qk = "problem", ak = "answer";
        break;
    case GC_MB_GSM_HARD:
    case GC_MB_MAWPS:
        qk = "input", ak = "target", numeric = 1;
        break;
    case GC_MB_SVAMP:
        qk = "Body", q2 = "Question", ak = "Answer", numeric = 1;
        break;
    case GC_MB_ASDIV:
        qk = "body", q2 = "question", ak = "answer";
        break;
    default:
        *bad = "the format (no known set of keys)";
        return;
    }
    const char *qs = str_of(j, qk), *qs2 = q2 ? str_of(j, q2) : "";
    const cJSON *ae = cJSON_GetObjectItemCaseSensitive(j, ak);
    if (!qs || !qs2) {
        *bad = !qs ? qk : q2;
        return;
    }
    if (numeric ? !cJSON_IsNumber(ae) : !cJSON_IsString(ae)) {
        *bad = ak;
        return;
    }
    char ans[1024] = "";
    if (numeric) {
        *a = number_text(ae->valuedouble);
    } else if (f == GC_MB_GSM8K) {
        if (gc_ma_extract(ae->valuestring, ans, sizeof ans) != GC_MA_HASHES || !ans[0]) {
            *bad = "answer (no \"#### <answer>\" line)";
            return;
        }
        char norm[1024];
        gc_ma_normalize(ans, norm, sizeof norm); /* "1,234" -> "1234" */
        *a = strdup(norm);
    } else if (f == GC_MB_MATH) {
        if (!gc_ma_last_boxed(ae->valuestring, ans, sizeof ans) || !ans[0]) {
            *bad = "solution (no \\boxed{} answer)";
            return;
        }
        *a = strdup(ans);
    } else if (f == GC_MB_ASDIV) {
        snprintf(ans, sizeof ans, "%s", ae->valuestring);
        char *paren = strstr(ans, " (");
        if (paren) *paren = 0; /* "9 (apples)" */
        *a = strdup(ans);
    } else {
        *a = strdup(ae->valuestring);
    }
    size_t n = strlen(qs) + strlen(qs2) + 2;
    *q = malloc(n);
    if (*q) snprintf(*q, n, "%s%s%s", qs, q2 ? " " : "", qs2);
}

static gc_status add_item(const cJSON *j, int line, void *ctx) {
    load_ctx *k = ctx;
    gc_mb_set *out = k->out;
    if (out->format == GC_MB_AUTO) out->format = detect(j);
    char *q = NULL, *a = NULL;
    const char *bad = NULL;
    read_item(j, out->format, &q, &a, &bad);
    if (bad) {
        free(q), free(a);
        if (k->allow_skips && out->format != GC_MB_AUTO) {
            out->skipped++;
            return GC_OK;
        }
        return gc_fail(GC_ERR_FORMAT, "%s:%d: %s: %s missing or malformed", k->path, line,
                       gc_mb_format_name(out->format), bad);
    }
    if (q && a && out->n == k->cap) {
        int cap = k->cap ? 2 * k->cap : 1024;
        gc_mb_item *it = realloc(out->it, sizeof *it * (size_t)cap);
        if (it) out->it = it, k->cap = cap;
    }
    if (!q || !a || out->n == k->cap) {
        free(q), free(a);
        return gc_fail(GC_ERR_NOMEM, "%s:%d: out of memory", k->path, line);
    }
    out->it[out->n++] = (gc_mb_item){q, a};
    return GC_OK;
}

gc_status gc_mb_load(const char *path, gc_mb_format format, int allow_skips, gc_mb_set *out) {
    memset(out, 0, sizeof *out);
    if (format < 0 || format >= GC_MB_N_FORMATS)
        return gc_fail(GC_ERR_ARG, "%s: unknown benchmark format %d", path, (int)format);
    out->format = format;
    load_ctx k = {path, allow_skips, 0, out};
    gc_status s = gc_jsonl_each(path, add_item, &k);
    if (s == GC_OK && out->n == 0) s = gc_fail(GC_ERR_FORMAT, "%s: no problems", path);
    if (s != GC_OK) gc_mb_free(out);
    return s;
}
