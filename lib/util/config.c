#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = gc_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

gc_status gc_config_parse(gc_config *c, const char *name, const char *text) {
    memset(c, 0, sizeof *c);
    c->path = dup_str(name);
    c->text = dup_str(text);
    if (!c->path || !c->text) {
        gc_config_free(c);
        return GC_ERR_NOMEM;
    }
    const char *end = NULL;
    c->root = cJSON_ParseWithOpts(c->text, &end, 1);
    if (!c->root) {
        const char *at = end ? end : cJSON_GetErrorPtr();
        int line = 1, col = 1;
        for (const char *p = c->text; at && p < at && *p; p++) {
            if (*p == '\n')
                line++, col = 1;
            else
                col++;
        }
        gc_status s = gc_fail(GC_ERR_CONFIG, "%s:%d:%d: JSON syntax error", name, line, col);
        gc_config_free(c);
        return s;
    }
    if (!cJSON_IsObject(c->root)) {
        gc_status s = gc_fail(GC_ERR_CONFIG, "%s:1: the top level must be a JSON object", name);
        gc_config_free(c);
        return s;
    }
    return GC_OK;
}

/* Rejects an object anywhere in the tree that holds the same key twice (a layer's merge would
 * otherwise keep only one of them silently). */
static gc_status check_duplicates(const gc_config *c, const cJSON *o, char *path, size_t plen) {
    int is_obj = cJSON_IsObject(o);
    int idx = 0;
    for (const cJSON *it = o ? o->child : NULL; it; it = it->next, idx++) {
        size_t add =
            is_obj ? (size_t)snprintf(path + plen, 1024 - plen, "%s%s", plen ? "." : "", it->string)
                   : (size_t)snprintf(path + plen, 1024 - plen, "[%d]", idx);
        if (plen + add >= 1024) add = 0;
        for (const cJSON *d = is_obj ? it->next : NULL; d; d = d->next)
            if (!strcmp(d->string, it->string)) return gc_config_fail(c, path, "key given twice");
        GC_TRY(check_duplicates(c, it, path, plen + add));
        path[plen] = 0;
    }
    return GC_OK;
}

void gc_json_merge(cJSON *base, const cJSON *over) {
    for (const cJSON *it = over->child; it; it = it->next) {
        cJSON *have = cJSON_GetObjectItemCaseSensitive(base, it->string);
        if (cJSON_IsNull(it)) {
            cJSON_DeleteItemFromObjectCaseSensitive(base, it->string);
        } else if (cJSON_IsObject(have) && cJSON_IsObject(it)) {
            gc_json_merge(have, it);
        } else {
            cJSON *copy = cJSON_Duplicate(it, 1);
            if (have)
                cJSON_ReplaceItemViaPointer(base, have, copy);
            else
                cJSON_AddItemToObject(base, it->string, copy);
        }
    }
}

#define GC_CFG_MAX_LAYERS 8

static gc_status load_layer(gc_config *c, const char *path, int depth) {
    char *text;
    memset(c, 0, sizeof *c);
    GC_TRY(gc_read_file(path, &text, NULL));
    gc_status s = gc_config_parse(c, path, text);
    free(text);
    GC_TRY(s);
    char dup_path[1024] = {0};
    if ((s = check_duplicates(c, c->root, dup_path, 0)) != GC_OK) {
        gc_config_free(c);
        return s;
    }
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(c->root, "extends");
    if (!ext) return GC_OK;
    if (!cJSON_IsString(ext) || !ext->valuestring[0])
        s = gc_config_fail(c, "extends",
                           "expected "
                           "the path of a file (relative to this one)");
    else if (depth + 1 >= GC_CFG_MAX_LAYERS)
        s = gc_config_fail(c, "extends", "more than %d files extend one another (a cycle?)",
                           GC_CFG_MAX_LAYERS);
    char base_path[2048];
    if (s == GC_OK) {
        const char *slash = strrchr(path, '/');
        if (ext->valuestring[0] == '/' || !slash)
            snprintf(base_path, sizeof base_path, "%s", ext->valuestring);
        else
            snprintf(base_path, sizeof base_path, "%.*s/%s", (int)(slash - path), path,
                     ext->valuestring);
        c->base = gc_malloc(sizeof *c->base);
        s = c->base ? load_layer(c->base, base_path, depth + 1) : GC_ERR_NOMEM;
        if (s != GC_OK) {
            free(c->base), c->base = NULL;
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", gc_last_error());
            s = gc_config_fail(c, "extends", "%s", msg);
        }
    }
    if (s != GC_OK) {
        gc_config_free(c);
        return s;
    }
    /* the merged tree: a copy of the base's, with this file's keys laid over it */
    cJSON *merged = cJSON_Duplicate(c->base->root, 1);
    if (!merged) {
        gc_config_free(c);
        return gc_fail(GC_ERR_NOMEM, "%s: out of memory merging %s", path, base_path);
    }
    cJSON *own = c->root;
    cJSON_DeleteItemFromObjectCaseSensitive(own, "extends");
    gc_json_merge(merged, own);
    cJSON_Delete(own);
    c->root = merged;
    return GC_OK;
}

gc_status gc_config_load(gc_config *c, const char *path) {
    return load_layer(c, path, 0);
}

void gc_config_free(gc_config *c) {
    if (c->base) gc_config_free(c->base), free(c->base);
    if (c->root) cJSON_Delete(c->root);
    free(c->text);
    free(c->path);
    memset(c, 0, sizeof *c);
}

/* ---- locating a key's line: a small scanner over text cJSON already accepted ---- */

typedef struct {
    const char *p;
    int line;
    const char *target; /* dotted path */
    int found;
} scan_state;

/* what cJSON skips: every byte from 1 to 32 */
static void skip_ws(scan_state *s) {
    while (*s->p && (unsigned char)*s->p <= 32) {
        if (*s->p == '\n') s->line++;
        s->p++;
    }
}

/* Copies the raw string (escapes kept verbatim, enough for keys) into buf. */
static void scan_string(scan_state *s, char *buf, size_t cap) {
    size_t n = 0;
    s->p++; /* opening quote */
    while (*s->p && *s->p != '"') {
        if (*s->p == '\\' && s->p[1]) {
            if (buf && n + 1 < cap) buf[n++] = s->p[1];
            s->p += 2;
            continue;
        }
        if (*s->p == '\n') s->line++;
        if (buf && n + 1 < cap) buf[n++] = *s->p;
        s->p++;
    }
    if (*s->p == '"') s->p++;
    if (buf) buf[n] = 0;
}

static void scan_value(scan_state *s, char *path, size_t plen);

static void scan_container(scan_state *s, char *path, size_t plen, int is_obj) {
    s->p++; /* '{' or '[' */
    int idx = 0;
    for (;;) {
        skip_ws(s);
        if (!*s->p || s->found) return;
        const char *start = s->p;
        if (*s->p == (is_obj ? '}' : ']')) {
            s->p++;
            return;
        }
        if (*s->p == ',') {
            s->p++;
            continue;
        }
        size_t add;
        if (is_obj) {
            char key[256];
            int key_line = s->line;
            scan_string(s, key, sizeof key);
            add = (size_t)snprintf(path + plen, 1024 - plen, "%s%s", plen ? "." : "", key);
            if (plen + add < 1024 && strcmp(path, s->target) == 0) {
                s->found = key_line;
                return;
            }
            skip_ws(s);
            if (*s->p == ':') s->p++;
        } else {
            add = (size_t)snprintf(path + plen, 1024 - plen, "[%d]", idx++);
        }
        if (plen + add >= 1024) add = 0;
        scan_value(s, path, plen + add);
        path[plen] = 0;
        if (s->p == start) return; /* stuck on text it does not know: give up the search */
    }
}

static void scan_value(scan_state *s, char *path, size_t plen) {
    skip_ws(s);
    if (*s->p == '{')
        scan_container(s, path, plen, 1);
    else if (*s->p == '[')
        scan_container(s, path, plen, 0);
    else if (*s->p == '"')
        scan_string(s, NULL, 0);
    else
        while (*s->p && *s->p != ',' && *s->p != '}' && *s->p != ']' && *s->p != '\n')
            s->p++;
}

/* 1-based line of the key at a dotted path ("model.dim") in this layer's own text, 0 when it
 * cannot be found there. */
static int line_in(const gc_config *c, const char *keypath) {
    if (!c->text) return 0;
    char path[1024] = {0};
    scan_state s = {c->text, 1, keypath, 0};
    scan_value(&s, path, 0);
    return s.found;
}

int gc_config_where(const gc_config *c, const char *keypath, const char **file) {
    for (const gc_config *l = c; l; l = l->base) {
        int line = line_in(l, keypath);
        if (line > 0) {
            if (file) *file = l->path;
            return line;
        }
    }
    if (file) *file = c->path;
    return 0;
}

gc_status gc_config_fail(const gc_config *c, const char *keypath, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *file;
    int line = gc_config_where(c, keypath, &file);
    if (!keypath[0]) return gc_fail(GC_ERR_CONFIG, "%s:1: %s", file, msg);
    if (line > 0) return gc_fail(GC_ERR_CONFIG, "%s:%d: key '%s': %s", file, line, keypath, msg);
    return gc_fail(GC_ERR_CONFIG, "%s: key '%s': %s", file, keypath, msg);
}

/* ---- typed reading ---- */

static void join_path(char *out, size_t cap, const char *objpath, const char *key) {
    snprintf(out, cap, "%s%s%s", objpath, objpath[0] ? "." : "", key);
}

static gc_status key_error(const gc_config *c, const char *objpath, const char *key,
                           const char *what) {
    char full[1024];
    join_path(full, sizeof full, objpath, key);
    return gc_config_fail(c, full, "%s", what);
}

static int choice_index(const char *choices, const char *value) {
    size_t vlen = strlen(value);
    int idx = 0;
    for (const char *p = choices; *p; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && strncmp(p, value, len) == 0) return idx;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

static gc_status read_field(const gc_config *c, const cJSON *item, const char *objpath,
                            const gc_cfg_field *f, void *dest) {
    char *slot = (char *)dest + f->offset;
    char msg[512];
    switch (f->type) {
    case GC_CFG_INT: {
        double v = item->valuedouble;
        if (!cJSON_IsNumber(item) || v != floor(v) || fabs(v) > 9.0e15)
            return key_error(c, objpath, f->key, "expected an integer");
        if (v < f->min || v > f->max) {
            snprintf(msg, sizeof msg, "value %.0f out of range [%.0f, %.0f]", v, f->min, f->max);
            return key_error(c, objpath, f->key, msg);
        }
        *(int64_t *)slot = (int64_t)v;
        return GC_OK;
    }
    case GC_CFG_FLOAT: {
        if (!cJSON_IsNumber(item)) return key_error(c, objpath, f->key, "expected a number");
        double v = item->valuedouble;
        if (!isfinite(v) || v < f->min || v > f->max) {
            snprintf(msg, sizeof msg, "value %g out of range [%g, %g]", v, f->min, f->max);
            return key_error(c, objpath, f->key, msg);
        }
        *(double *)slot = v;
        return GC_OK;
    }
    case GC_CFG_BOOL:
        if (!cJSON_IsBool(item)) return key_error(c, objpath, f->key, "expected true or false");
        *(int *)slot = cJSON_IsTrue(item) ? 1 : 0;
        return GC_OK;
    case GC_CFG_STRING:
        if (!cJSON_IsString(item)) return key_error(c, objpath, f->key, "expected a string");
        if (strlen(item->valuestring) >= GC_CFG_STRLEN)
            return key_error(c, objpath, f->key, "string too long");
        strcpy(slot, item->valuestring);
        return GC_OK;
    case GC_CFG_ENUM: {
        int idx = cJSON_IsString(item) ? choice_index(f->choices, item->valuestring) : -1;
        if (idx < 0) {
            snprintf(msg, sizeof msg, "expected one of \"%s\"", f->choices);
            return key_error(c, objpath, f->key, msg);
        }
        *(int *)slot = idx;
        return GC_OK;
    }
    case GC_CFG_OBJECT:
        if (!cJSON_IsObject(item)) return key_error(c, objpath, f->key, "expected an object");
        *(const cJSON **)slot = item;
        return GC_OK;
    case GC_CFG_ARRAY:
        if (!cJSON_IsArray(item)) return key_error(c, objpath, f->key, "expected an array");
        *(const cJSON **)slot = item;
        return GC_OK;
    case GC_CFG_TEXT:
        if (!cJSON_IsString(item)) return key_error(c, objpath, f->key, "expected a string");
        *(const char **)slot = item->valuestring;
        return GC_OK;
    }
    return gc_fail(GC_ERR_ARG, "config: bad field type for '%s'", f->key);
}

gc_status gc_config_read(const gc_config *c, const cJSON *obj, const char *objpath,
                         const gc_cfg_field *fields, int nfields, void *dest) {
    if (!cJSON_IsObject(obj)) return key_error(c, "", objpath, "expected an object");
    for (const cJSON *it = obj->child; it; it = it->next) {
        int known = 0;
        for (int i = 0; i < nfields && !known; i++)
            known = strcmp(fields[i].key, it->string) == 0;
        if (!known) {
            char msg[768];
            size_t n = (size_t)snprintf(msg, sizeof msg, "unknown key (known keys:");
            for (int i = 0; i < nfields && n < sizeof msg; i++)
                n += (size_t)snprintf(msg + n, sizeof msg - n, " %s", fields[i].key);
            if (n < sizeof msg) snprintf(msg + n, sizeof msg - n, ")");
            return key_error(c, objpath, it->string, msg);
        }
        for (const cJSON *dup = it->next; dup; dup = dup->next)
            if (strcmp(dup->string, it->string) == 0)
                return key_error(c, objpath, it->string, "key given twice");
    }
    for (int i = 0; i < nfields; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, fields[i].key);
        if (!item) {
            if (fields[i].required) {
                const char *file;
                int line = objpath[0] ? gc_config_where(c, objpath, &file) : (file = c->path, 1);
                return gc_fail(GC_ERR_CONFIG, "%s:%d: missing required key '%s%s%s'", file, line,
                               objpath, objpath[0] ? "." : "", fields[i].key);
            }
            continue;
        }
        GC_TRY(read_field(c, item, objpath, &fields[i], dest));
    }
    return GC_OK;
}

cJSON *gc_config_to_json(const gc_cfg_field *fields, int nfields, const void *src) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < nfields; i++) {
        const gc_cfg_field *f = &fields[i];
        const char *slot = (const char *)src + f->offset;
        cJSON *v = NULL;
        switch (f->type) {
        case GC_CFG_INT:
            v = cJSON_CreateNumber((double)*(const int64_t *)slot);
            break;
        case GC_CFG_FLOAT:
            v = cJSON_CreateNumber(*(const double *)slot);
            break;
        case GC_CFG_BOOL:
            v = cJSON_CreateBool(*(const int *)slot);
            break;
        case GC_CFG_STRING:
            v = cJSON_CreateString(slot);
            break;
        case GC_CFG_ENUM: {
            const char *p = f->choices;
            for (int k = *(const int *)slot; k > 0 && p; k--)
                p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL;
            size_t len = p ? (strchr(p, '|') ? (size_t)(strchr(p, '|') - p) : strlen(p)) : 0;
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)len, p ? p : "");
            v = cJSON_CreateString(name);
            break;
        }
        case GC_CFG_OBJECT:
        case GC_CFG_ARRAY: {
            const cJSON *j = *(const cJSON *const *)slot;
            v = j ? cJSON_Duplicate(j, 1) : cJSON_CreateNull();
            break;
        }
        case GC_CFG_TEXT: {
            const char *t = *(const char *const *)slot;
            v = t ? cJSON_CreateString(t) : cJSON_CreateNull();
            break;
        }
        }
        cJSON_AddItemToObject(o, f->key, v);
    }
    return o;
}
