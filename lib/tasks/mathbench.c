#include "mathbench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "lib/util/csvio.h"
#include "lib/util/jsonio.h"
#include "mathans.h"

static const char *const NAMES[GC_MB_N_FORMATS] = {
    [GC_MB_AUTO] = "auto",       [GC_MB_GSM8K] = "gsm8k",       [GC_MB_MATH] = "math",
    [GC_MB_MATH500] = "math500", [GC_MB_GSM_HARD] = "gsm-hard", [GC_MB_SVAMP] = "svamp",
    [GC_MB_ASDIV] = "asdiv",     [GC_MB_MAWPS] = "mawps",       [GC_MB_ALGEBRA222] = "algebra222",
    [GC_MB_MATHQA] = "mathqa"};

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

/* one problem read (q, a) or found malformed (bad names what): kept, counted as a skip, or the
 * error naming the file and `where` (":<line>" or ": element <i>") */
static gc_status keep(load_ctx *k, char *q, char *a, const char *bad, const char *where) {
    gc_mb_set *out = k->out;
    if (bad) {
        free(q), free(a);
        if (k->allow_skips && out->format != GC_MB_AUTO) {
            out->skipped++;
            return GC_OK;
        }
        return gc_fail(GC_ERR_FORMAT, "%s%s: %s: %s missing or malformed", k->path, where,
                       gc_mb_format_name(out->format), bad);
    }
    if (q && a && out->n == k->cap) {
        int cap = k->cap ? 2 * k->cap : 1024;
        gc_mb_item *it = realloc(out->it, sizeof *it * (size_t)cap);
        if (it) out->it = it, k->cap = cap;
    }
    if (!q || !a || out->n == k->cap) {
        free(q), free(a);
        return gc_fail(GC_ERR_NOMEM, "%s%s: out of memory", k->path, where);
    }
    out->it[out->n++] = (gc_mb_item){q, a};
    return GC_OK;
}

static gc_status add_item(const cJSON *j, int line, void *ctx) {
    load_ctx *k = ctx;
    if (k->out->format == GC_MB_AUTO) k->out->format = detect(j);
    char *q = NULL, *a = NULL, where[32];
    const char *bad = NULL;
    read_item(j, k->out->format, &q, &a, &bad);
    snprintf(where, sizeof where, ":%d", line);
    return keep(k, q, a, bad, where);
}

/* ---- algebra222: CSV ---- */

typedef struct {
    load_ctx *k;
    int question, answer, width; /* the two columns' indexes, the header's field count */
} csv_ctx;

/* the whole of text as a finite number (spaces around it allowed) */
static int whole_number(const char *text, double *v) {
    char *end;
    *v = strtod(text, &end);
    while (*end == ' ' || *end == '\t' || *end == '\r')
        end++;
    return end != text && !*end && isfinite(*v);
}

static gc_status add_row(char *const *field, int n, int line, void *ctx) {
    csv_ctx *c = ctx;
    if (c->width == 0) { /* the header */
        c->width = n;
        for (int i = 0; i < n; i++) {
            if (!strcmp(field[i], "question")) c->question = i;
            if (!strcmp(field[i], "final_answer")) c->answer = i;
        }
        if (c->question < 0 || c->answer < 0)
            return gc_fail(GC_ERR_FORMAT, "%s:%d: algebra222: the header names no column '%s'",
                           c->k->path, line, c->question < 0 ? "question" : "final_answer");
        return GC_OK;
    }
    char *q = NULL, *a = NULL, where[32];
    const char *bad = NULL;
    double v;
    if (n != c->width)
        bad = "a field (not as many as the header's)";
    else if (!field[c->question][0])
        bad = "question";
    else if (!whole_number(field[c->answer], &v))
        bad = "final_answer (a number)";
    else
        q = strdup(field[c->question]), a = number_text(v);
    snprintf(where, sizeof where, ":%d", line);
    return keep(c->k, q, a, bad, where);
}

/* ---- MathQA: one JSON array ---- */

/* where option `letter`'s marker ("<letter> )") starts in opts, at a field's start (the string's,
 * or after a comma, a bracket or a quote); NULL when absent */
static const char *option_marker(const char *opts, char letter) {
    for (const char *p = strchr(opts, letter); p; p = strchr(p + 1, letter)) {
        const char *after = p + 1;
        while (*after == ' ')
            after++;
        if (*after != ')') continue;
        const char *before = p;
        while (before > opts && before[-1] == ' ')
            before--;
        if (before == opts || strchr(",['\"", before[-1])) return p;
    }
    return NULL;
}

/* the text of option `letter` (a..e) in MathQA's options string, trimmed of the separators
 * around it; NULL when there is none */
static char *mathqa_option(const char *opts, char letter) {
    const char *m = option_marker(opts, letter);
    if (!m) return NULL;
    const char *from = strchr(m, ')') + 1, *to = NULL;
    for (char next = (char)(letter + 1); !to && next <= 'e'; next++)
        to = option_marker(from, next);
    if (!to) to = from + strlen(from);
    while (*from == ' ' || *from == '\'' || *from == '"')
        from++;
    while (to > from && strchr(" ,'\"]", to[-1]))
        to--;
    if (to <= from) return NULL;
    char *out = malloc((size_t)(to - from) + 1);
    if (out) memcpy(out, from, (size_t)(to - from)), out[to - from] = 0;
    return out;
}

/* a list of "a ) 38" strings joined by " , " (a new string), or NULL when o is not a list of
 * strings */
static char *join_options(const cJSON *o) {
    size_t n = 1;
    for (const cJSON *e = o->child; e; e = e->next) {
        if (!cJSON_IsString(e)) return NULL;
        n += strlen(e->valuestring) + 3;
    }
    char *out = malloc(n);
    if (!out) return NULL;
    out[0] = 0;
    for (const cJSON *e = o->child; e; e = e->next) {
        if (e != o->child) strcat(out, " , ");
        strcat(out, e->valuestring);
    }
    return out;
}

static void read_mathqa(const cJSON *j, char **q, char **a, const char **bad) {
    const char *problem = str_of(j, "Problem"), *correct = str_of(j, "correct");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "options");
    char *joined = cJSON_IsArray(o) ? join_options(o) : NULL;
    const char *opts = cJSON_IsString(o) ? o->valuestring : joined;
    if (!problem || !problem[0]) {
        *bad = "Problem";
    } else if (!opts || !opts[0]) {
        *bad = "options";
    } else if (!correct || strlen(correct) != 1 || correct[0] < 'a' || correct[0] > 'e') {
        *bad = "correct (a letter a-e)";
    } else if (!(*a = mathqa_option(opts, correct[0]))) {
        *bad = "options (no option for the letter 'correct' names)";
    } else {
        size_t n = strlen(problem) + strlen(opts) + 16;
        *q = malloc(n);
        if (*q) snprintf(*q, n, "%s\nOptions: %s", problem, opts);
    }
    free(joined);
}

static gc_status load_mathqa(load_ctx *k) {
    cJSON *root = NULL;
    GC_TRY(gc_json_read(k->path, &root));
    gc_status s = cJSON_IsArray(root)
                      ? GC_OK
                      : gc_fail(GC_ERR_FORMAT, "%s: mathqa: not a JSON array of problems", k->path);
    int i = 0;
    for (const cJSON *e = s == GC_OK ? root->child : NULL; e && s == GC_OK; e = e->next, i++) {
        char *q = NULL, *a = NULL, where[48];
        const char *bad = NULL;
        if (cJSON_IsObject(e))
            read_mathqa(e, &q, &a, &bad);
        else
            bad = "the problem (not a JSON object)";
        snprintf(where, sizeof where, ": element %d", i);
        s = keep(k, q, a, bad, where);
    }
    cJSON_Delete(root);
    return s;
}

/* the format a file announces before its first line is read: algebra222 by its name, MathQA by
 * its opening bracket; GC_MB_AUTO for JSONL (decided by the keys) */
static gc_mb_format detect_file(const char *path) {
    size_t n = strlen(path);
    if ((n >= 4 && !strcmp(path + n - 4, ".csv")) || (n >= 7 && !strcmp(path + n - 7, ".csv.gz")))
        return GC_MB_ALGEBRA222;
    gzFile f = gzopen(path, "rb");
    int c = ' ';
    while (f && (c == ' ' || c == '\t' || c == '\r' || c == '\n'))
        c = gzgetc(f);
    if (f) gzclose(f);
    return c == '[' ? GC_MB_MATHQA : GC_MB_AUTO;
}

gc_status gc_mb_load(const char *path, gc_mb_format format, int allow_skips, gc_mb_set *out) {
    memset(out, 0, sizeof *out);
    if (format < 0 || format >= GC_MB_N_FORMATS)
        return gc_fail(GC_ERR_ARG, "%s: unknown benchmark format %d", path, (int)format);
    if (format == GC_MB_AUTO) format = detect_file(path);
    out->format = format;
    load_ctx k = {path, allow_skips, 0, out};
    gc_status s;
    if (format == GC_MB_ALGEBRA222) {
        csv_ctx c = {&k, -1, -1, 0};
        s = gc_csv_each(path, add_row, &c);
        if (s == GC_OK && c.width == 0) s = gc_fail(GC_ERR_FORMAT, "%s: no header", path);
    } else if (format == GC_MB_MATHQA) {
        s = load_mathqa(&k);
    } else {
        s = gc_jsonl_each(path, add_item, &k);
    }
    if (s == GC_OK && out->n == 0) s = gc_fail(GC_ERR_FORMAT, "%s: no problems", path);
    if (s != GC_OK) gc_mb_free(out);
    return s;
}
