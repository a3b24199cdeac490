#include "safetensors.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

enum { MAX_HEADER = 100 << 20 }; /* the format's own limit on the header */

float gc_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

uint16_t gc_f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if (isnan(x)) return (uint16_t)((u >> 16) | 0x40); /* stays a NaN */
    u += 0x7fff + ((u >> 16) & 1);                     /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

float gc_f16_to_f32(uint16_t h) {
    int sign = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float x = e == 0    ? ldexpf((float)m, -24)
              : e == 31 ? (m ? NAN : INFINITY)
                        : ldexpf((float)(m | 0x400), e - 25);
    return sign ? -x : x;
}

static size_t dtype_size(gc_st_dtype d) {
    return d == GC_ST_F32 ? 4 : 2;
}

void gc_st_to_f32(const gc_st_tensor *t, float *out) {
    const uint8_t *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        if (t->dtype == GC_ST_F32) {
            memcpy(&out[i], p + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = t->dtype == GC_ST_BF16 ? gc_bf16_to_f32(h) : gc_f16_to_f32(h);
        }
    }
}

void gc_st_close(gc_st_file *f) {
    if (f->map) munmap(f->map, f->size);
    free(f->t);
    memset(f, 0, sizeof *f);
}

/* an exact non-negative integer below 2^53 */
static int json_index(const cJSON *e, int64_t *out) {
    if (!cJSON_IsNumber(e)) return 0;
    double v = e->valuedouble;
    if (!(v >= 0 && v < 9007199254740992.0) || v != floor(v)) return 0;
    *out = (int64_t)v;
    return 1;
}

static int by_offset(const void *a, const void *b) {
    const gc_st_tensor *x = *(const gc_st_tensor *const *)a, *y = *(const gc_st_tensor *const *)b;
    return (x->data > y->data) - (x->data < y->data);
}

/* one header entry into t; data is the data section (size bytes) */
static gc_status parse_entry(const char *path, const cJSON *e, const uint8_t *data, size_t size,
                             gc_st_tensor *t) {
    const char *name = e->string;
    if (strlen(name) >= GC_ST_NAME)
        return gc_fail(GC_ERR_FORMAT, "%s: tensor name '%.40s...' is longer than %d bytes", path,
                       name, GC_ST_NAME - 1);
    snprintf(t->name, sizeof t->name, "%s", name);
    if (!cJSON_IsObject(e))
        return gc_fail(GC_ERR_FORMAT, "%s: tensor '%s': expected an object", path, name);
    int known = 0;
    for (const cJSON *k = e->child; k; k = k->next, known++)
        if (strcmp(k->string, "dtype") && strcmp(k->string, "shape") &&
            strcmp(k->string, "data_offsets"))
            return gc_fail(GC_ERR_FORMAT, "%s: tensor '%s': unknown field '%s'", path, name,
                           k->string);
    const char *dt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "dtype"));
    if (!dt) return gc_fail(GC_ERR_FORMAT, "%s: tensor '%s': 'dtype' must be a string", path, name);
    if (!strcmp(dt, "F32"))
        t->dtype = GC_ST_F32;
    else if (!strcmp(dt, "F16"))
        t->dtype = GC_ST_F16;
    else if (!strcmp(dt, "BF16"))
        t->dtype = GC_ST_BF16;
    else
        return gc_fail(GC_ERR_FORMAT,
                       "%s: tensor '%s': dtype '%s' is not supported (F32, F16 or BF16)", path,
                       name, dt);
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    int nd = cJSON_GetArraySize(shape);
    if (!cJSON_IsArray(shape) || nd > GC_ST_MAX_DIMS)
        return gc_fail(GC_ERR_FORMAT,
                       "%s: tensor '%s': 'shape' must be an array of at most %d "
                       "sizes",
                       path, name, GC_ST_MAX_DIMS);
    t->ndim = nd, t->numel = 1;
    int i = 0;
    for (const cJSON *s = shape->child; s; s = s->next, i++) {
        if (!json_index(s, &t->shape[i]) || t->shape[i] > ((int64_t)1 << 40))
            return gc_fail(GC_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a size", path, name,
                           i);
        if (t->shape[i] && t->numel > ((int64_t)1 << 50) / t->shape[i])
            return gc_fail(GC_ERR_FORMAT, "%s: tensor '%s': too many elements", path, name);
        t->numel *= t->shape[i];
    }
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    int64_t b = 0, en = 0;
    if (cJSON_GetArraySize(off) != 2 || !json_index(cJSON_GetArrayItem(off, 0), &b) ||
        !json_index(cJSON_GetArrayItem(off, 1), &en) || b > en)
        return gc_fail(GC_ERR_FORMAT,
                       "%s: tensor '%s': 'data_offsets' must be [begin, end] with begin <= end",
                       path, name);
    if ((uint64_t)en > size)
        return gc_fail(GC_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%lld, %lld] run past the data (%zu bytes; "
                       "the file is cut short or the header is wrong)",
                       path, name, (long long)b, (long long)en, size);
    if ((uint64_t)(en - b) != (uint64_t)t->numel * dtype_size(t->dtype))
        return gc_fail(GC_ERR_FORMAT, "%s: tensor '%s': %lld bytes for %lld elements of %s", path,
                       name, (long long)(en - b), (long long)t->numel, dt);
    t->data = data + b, t->nbytes = (size_t)(en - b);
    (void)known;
    return GC_OK;
}

gc_status gc_st_open(const char *path, gc_st_file *f) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return gc_fail(GC_ERR_IO, "%s: cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 8) {
        close(fd);
        return gc_fail(GC_ERR_FORMAT,
                       "%s: not a safetensors file (shorter than its 8-byte header "
                       "size)",
                       path);
    }
    f->size = (size_t)st.st_size;
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return gc_fail(GC_ERR_IO, "%s: cannot map %zu bytes", path, f->size);
    }
    const uint8_t *p = f->map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | p[i];
    gc_status s = GC_OK;
    if (n < 2 || n > MAX_HEADER || n > f->size - 8)
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: header size %llu does not fit the file's %zu bytes (not a safetensors "
                    "file, or cut short)",
                    path, (unsigned long long)n, f->size);
    cJSON *h = s == GC_OK ? cJSON_ParseWithLength((const char *)p + 8, (size_t)n) : NULL;
    if (s == GC_OK && !cJSON_IsObject(h))
        s = gc_fail(GC_ERR_FORMAT, "%s: the header is not a JSON object", path);
    if (s != GC_OK) cJSON_Delete(h), h = NULL;
    int count = 0;
    for (const cJSON *e = h ? h->child : NULL; e; e = e->next)
        count += strcmp(e->string, "__metadata__") != 0;
    if (s == GC_OK) {
        f->t = gc_calloc((size_t)(count ? count : 1), sizeof(gc_st_tensor));
        if (!f->t) s = GC_ERR_NOMEM;
    }
    const uint8_t *data = s == GC_OK ? p + 8 + n : p; /* n fits the file only when s is OK */
    size_t dsize = s == GC_OK ? f->size - 8 - (size_t)n : 0;
    for (const cJSON *e = h ? h->child : NULL; s == GC_OK && e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            for (const cJSON *k = e->child; k && s == GC_OK; k = k->next)
                if (!cJSON_IsString(k))
                    s = gc_fail(GC_ERR_FORMAT, "%s: __metadata__.%s must be a string", path,
                                k->string);
            if (!cJSON_IsObject(e))
                s = gc_fail(GC_ERR_FORMAT, "%s: __metadata__ must be an object", path);
            continue;
        }
        for (int k = 0; k < f->n && s == GC_OK; k++)
            if (!strcmp(f->t[k].name, e->string))
                s = gc_fail(GC_ERR_FORMAT, "%s: tensor '%s' appears twice", path, e->string);
        if (s == GC_OK) s = parse_entry(path, e, data, dsize, &f->t[f->n]);
        if (s == GC_OK) f->n++;
    }
    cJSON_Delete(h);
    /* the tensors tile the data: sorted by offset, each begins where the last ended */
    const gc_st_tensor **order = s == GC_OK ? gc_malloc(sizeof(void *) * (f->n ? f->n : 1)) : NULL;
    if (s == GC_OK && !order) s = GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < f->n; i++)
        order[i] = &f->t[i];
    if (s == GC_OK) qsort(order, (size_t)f->n, sizeof(void *), by_offset);
    const uint8_t *at = data;
    for (int i = 0; s == GC_OK && i < f->n; i++) {
        if (order[i]->data != at)
            s = gc_fail(GC_ERR_FORMAT, "%s: tensor '%s' %s", path, order[i]->name,
                        order[i]->data < at ? "overlaps the tensor before it"
                                            : "leaves a hole in the data before it");
        at = order[i]->data + order[i]->nbytes;
    }
    if (s == GC_OK && at != data + dsize)
        s = gc_fail(GC_ERR_FORMAT, "%s: %zu bytes after the last tensor", path,
                    (size_t)(data + dsize - at));
    free(order);
    if (s != GC_OK) gc_st_close(f);
    return s;
}

const gc_st_tensor *gc_st_find(const gc_st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

void gc_st_set_close(gc_st_set *s) {
    for (int i = 0; i < s->n_files; i++)
        gc_st_close(&s->files[i]);
    free(s->files);
    memset(s, 0, sizeof *s);
}

const gc_st_tensor *gc_st_set_find(const gc_st_set *s, const char *name, const gc_st_file **file) {
    for (int i = 0; i < s->n_files; i++) {
        const gc_st_tensor *t = gc_st_find(&s->files[i], name);
        if (t) {
            if (file) *file = &s->files[i];
            return t;
        }
    }
    return NULL;
}

static gc_status open_index(const char *dir, const char *index, gc_st_set *s) {
    char *text;
    size_t n;
    GC_TRY(gc_read_file(index, &text, &n));
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
    gc_status st =
        cJSON_IsObject(wm) && wm->child
            ? GC_OK
            : gc_fail(GC_ERR_FORMAT, "%s: expected a non-empty object 'weight_map'", index);
    int cap = 0;
    for (const cJSON *e = wm ? wm->child : NULL; e; e = e->next)
        cap++;
    s->files = st == GC_OK ? gc_calloc((size_t)cap, sizeof(gc_st_file)) : NULL;
    if (st == GC_OK && !s->files) st = GC_ERR_NOMEM;
    /* the shards, each once, in the order the map first names them */
    for (const cJSON *e = wm ? wm->child : NULL; st == GC_OK && e; e = e->next) {
        const char *shard = cJSON_GetStringValue(e);
        if (!shard || strchr(shard, '/') || !strcmp(shard, "..")) {
            st = gc_fail(GC_ERR_FORMAT, "%s: weight_map.%s must name a file in %s", index,
                         e->string, dir);
            break;
        }
        int seen = 0;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, shard);
        for (int i = 0; i < s->n_files && !seen; i++)
            seen = !strcmp(s->files[i].path, path);
        if (!seen) {
            st = gc_st_open(path, &s->files[s->n_files]);
            if (st == GC_OK) s->n_files++;
        }
    }
    /* every mapped tensor in its shard and nowhere else; nothing the map leaves out */
    int mapped = 0;
    for (const cJSON *e = wm ? wm->child : NULL; st == GC_OK && e; e = e->next, mapped++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->valuestring);
        const gc_st_file *where = NULL;
        int holders = 0;
        for (int i = 0; i < s->n_files; i++)
            if (gc_st_find(&s->files[i], e->string)) holders++, where = &s->files[i];
        if (holders != 1 || strcmp(where->path, path))
            st = gc_fail(GC_ERR_FORMAT,
                         "%s: tensor '%s' is mapped to %s but %d shard(s) hold it%s%s", index,
                         e->string, e->valuestring, holders, holders ? ": " : "",
                         holders ? where->path : "");
    }
    int held = 0;
    for (int i = 0; i < s->n_files; i++)
        held += s->files[i].n;
    if (st == GC_OK && held != mapped)
        st = gc_fail(GC_ERR_FORMAT, "%s: the shards hold %d tensors, the weight_map names %d",
                     index, held, mapped);
    cJSON_Delete(j);
    return st;
}

gc_status gc_st_open_dir(const char *dir, gc_st_set *s) {
    memset(s, 0, sizeof *s);
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    gc_status st;
    if (access(path, R_OK) == 0) {
        st = open_index(dir, path, s);
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        s->files = gc_calloc(1, sizeof(gc_st_file));
        st = s->files ? gc_st_open(path, &s->files[0]) : GC_ERR_NOMEM;
        if (st == GC_OK) s->n_files = 1;
    }
    if (st != GC_OK) gc_st_set_close(s);
    return st;
}

gc_status gc_st_write(const char *path, const gc_st_out *t, int n, gc_st_dtype dtype,
                      const char *const *meta, int n_meta) {
    if (dtype == GC_ST_F16)
        return gc_fail(GC_ERR_ARG, "%s: writing F16 is not supported (F32 or BF16)", path);
    size_t es = dtype_size(dtype), off = 0;
    cJSON *h = cJSON_CreateObject();
    if (n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(h, "__metadata__");
        for (int i = 0; i < n_meta; i++)
            cJSON_AddStringToObject(m, meta[2 * i], meta[2 * i + 1]);
    }
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, t[i].name);
        cJSON_AddStringToObject(e, "dtype", dtype == GC_ST_F32 ? "F32" : "BF16");
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        int64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
            numel *= t[i].shape[d];
        }
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        off += (size_t)numel * es;
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
    }
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!text) return gc_fail(GC_ERR_NOMEM, "%s: out of memory for the header", path);
    size_t hn = strlen(text), pad = (8 - hn % 8) % 8; /* the data starts 8-byte aligned */
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)(hn + pad) >> (8 * i));
    gc_atomic_file af;
    gc_status s = gc_atomic_open(&af, path);
    if (s == GC_OK) s = gc_atomic_write(&af, len8, 8);
    if (s == GC_OK) s = gc_atomic_write(&af, text, hn);
    if (s == GC_OK && pad) s = gc_atomic_write(&af, "        ", pad);
    free(text);
    for (int i = 0; s == GC_OK && i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++)
            numel *= t[i].shape[d];
        if (dtype == GC_ST_F32) {
            s = gc_atomic_write(&af, t[i].data, (size_t)numel * 4);
            continue;
        }
        uint16_t buf[4096];
        for (int64_t k = 0; s == GC_OK && k < numel; k += 4096) {
            int m = numel - k < 4096 ? (int)(numel - k) : 4096;
            for (int j = 0; j < m; j++)
                buf[j] = gc_f32_to_bf16(t[i].data[k + j]);
            s = gc_atomic_write(&af, buf, sizeof(uint16_t) * m);
        }
    }
    if (s == GC_OK) return gc_atomic_commit(&af);
    gc_atomic_abort(&af);
    return s;
}
