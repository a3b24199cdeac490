#include "jsonio.h"

#include <errno.h>
#include <zlib.h>

#include <math.h>

#include <stdlib.h>
#include <string.h>

gc_status gc_json_read(const char *path, cJSON **out) {
    char *text;
    *out = NULL;
    GC_TRY(gc_read_file(path, &text, NULL));
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(text, &end, 1);
    if (!j) {
        int line = 1;
        for (const char *p = text; end && p < end; p++)
            line += *p == '\n';
        free(text);
        return gc_fail(GC_ERR_FORMAT, "%s:%d: JSON syntax error", path, line);
    }
    free(text);
    *out = j;
    return GC_OK;
}

gc_status gc_json_write(const char *path, const cJSON *doc) {
    char *text = cJSON_Print(doc);
    if (!text) return gc_fail(GC_ERR_NOMEM, "%s: cannot serialise JSON", path);
    gc_atomic_file af;
    gc_status s = gc_atomic_open(&af, path);
    if (s == GC_OK) {
        gc_atomic_write(&af, text, strlen(text));
        gc_atomic_write(&af, "\n", 1);
        s = gc_atomic_commit(&af);
    }
    free(text);
    return s;
}

gc_status gc_jsonl_append(gc_atomic_file *af, const cJSON *obj) {
    char *text = cJSON_PrintUnformatted(obj);
    if (!text) return gc_fail(GC_ERR_NOMEM, "%s: cannot serialise JSON", af->path);
    gc_status s = gc_atomic_write(af, text, strlen(text));
    if (s == GC_OK) s = gc_atomic_write(af, "\n", 1);
    free(text);
    return s;
}

/* the next line of f into *buf (grown as needed, without its newline): 1, 0 at the end, -1 out
 * of memory */
static int read_line(gzFile f, char **buf, size_t *cap) {
    size_t n = 0;
    for (;;) {
        if (n + 2 > *cap) {
            size_t c = *cap ? *cap * 2 : 65536;
            char *b = realloc(*buf, c);
            if (!b) return -1;
            *buf = b, *cap = c;
        }
        if (!gzgets(f, *buf + n, (int)(*cap - n))) return n > 0;
        n += strlen(*buf + n);
        if (n && (*buf)[n - 1] == '\n') {
            (*buf)[n - 1] = 0;
            return 1;
        }
    }
}

gc_status gc_jsonl_each(const char *path, gc_status (*fn)(const cJSON *obj, int line, void *ctx),
                        void *ctx) {
    gzFile f = gzopen(path, "rb"); /* plain files read through as they are */
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *text = NULL;
    size_t cap = 0;
    gc_status s = GC_OK;
    int line = 0, r;
    while (s == GC_OK && (r = read_line(f, &text, &cap)) > 0) {
        line++;
        char *q = text;
        while (*q == ' ' || *q == '\t' || *q == '\r')
            q++;
        if (!*q) continue;
        cJSON *obj = cJSON_Parse(q);
        if (!obj || !cJSON_IsObject(obj))
            s = gc_fail(GC_ERR_FORMAT, "%s:%d: not a JSON object", path, line);
        else
            s = fn(obj, line, ctx);
        cJSON_Delete(obj);
    }
    int zerr = Z_OK;
    const char *zmsg = gzerror(f, &zerr);
    if (s == GC_OK && r < 0) s = GC_ERR_NOMEM;
    if (s == GC_OK && zerr != Z_OK && zerr != Z_STREAM_END) /* a gzip cut short, or damaged */
        s = gc_fail(GC_ERR_IO, "%s: after line %d: %s", path, line, zmsg);
    gzclose(f);
    free(text);
    return s;
}

gc_status gc_json_floats(const char *path, const cJSON *root, const char *key, float *out,
                         size_t n) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    int got = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    int ok = got >= 0 && (size_t)got == n;
    size_t k = 0;
    for (const cJSON *e = ok ? a->child : NULL; e && ok; e = e->next)
        if ((ok = cJSON_IsNumber(e))) out[k++] = (float)e->valuedouble;
    if (ok) return GC_OK;
    if (got < 0)
        return gc_fail(GC_ERR_FORMAT,
                       "%s: no array '%s' (delete the cache directory to "
                       "recompute)",
                       path, key);
    return gc_fail(GC_ERR_FORMAT,
                   "%s: '%s' holds %d entries, %zu numbers expected (delete the "
                   "cache directory to recompute)",
                   path, key, got, n);
}

void gc_json_add_floats(cJSON *obj, const char *key, const float *x, size_t n) {
    cJSON *a = cJSON_AddArrayToObject(obj, key);
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
}

double gc_json_num(const cJSON *o, const char *k, double def) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

const cJSON *gc_json_get(const cJSON *o, const char *k) {
    return o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

const char *gc_json_str(const cJSON *o, const char *k) {
    return cJSON_GetStringValue(gc_json_get(o, k));
}

int gc_json_int_in(const cJSON *e, int lo, int hi, int *out) {
    if (!cJSON_IsNumber(e)) return 0;
    double v = e->valuedouble;
    if (!(v >= lo && v <= hi) || v != floor(v)) return 0;
    *out = (int)v;
    return 1;
}

double gc_json_at(const cJSON *arr, int i) {
    const cJSON *e = cJSON_GetArrayItem(arr, i);
    return cJSON_IsNumber(e) ? e->valuedouble : NAN;
}
