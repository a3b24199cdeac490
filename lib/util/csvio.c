#include "csvio.h"

#include <csv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct {
    const char *path;
    gc_csv_fn fn;
    void *ctx;
    char **field; /* (cap) the current record's fields */
    int n, cap;
    int line;  /* the line being fed */
    int start; /* the line the current record starts on */
    int open;  /* a record has started and not ended */
    gc_status s;
} reader;

static int no_space(unsigned char c) {
    (void)c;
    return 0;
}

/* whether the len bytes at s are only a line break */
static int blank(const char *s, int len) {
    for (int i = 0; i < len; i++)
        if (s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

static void on_field(void *data, size_t len, void *ctx) {
    reader *r = ctx;
    if (r->s != GC_OK) return;
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        char **f = realloc(r->field, sizeof *f * (size_t)cap);
        if (!f) {
            r->s = gc_fail(GC_ERR_NOMEM, "%s:%d: out of memory", r->path, r->start);
            return;
        }
        r->field = f, r->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        r->s = gc_fail(GC_ERR_NOMEM, "%s:%d: out of memory", r->path, r->start);
        return;
    }
    if (len) memcpy(copy, data, len);
    copy[len] = 0;
    r->field[r->n++] = copy;
}

static void clear(reader *r) {
    for (int i = 0; i < r->n; i++)
        free(r->field[i]);
    r->n = 0;
}

static void on_record(int term, void *ctx) {
    (void)term;
    reader *r = ctx;
    if (r->s == GC_OK) r->s = r->fn(r->field, r->n, r->start, r->ctx);
    clear(r);
    r->open = 0;
}

gc_status gc_csv_each(const char *path, gc_csv_fn fn, void *ctx) {
    gzFile f = gzopen(path, "rb");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        gzclose(f);
        return gc_fail(GC_ERR_NOMEM, "%s: out of memory", path);
    }
    csv_set_space_func(&p, no_space); /* no character counts as padding to strip */
    reader r = {path, fn, ctx, NULL, 0, 0, 1, 1, 0, GC_OK};
    char buf[65536];
    int got;
    while (r.s == GC_OK && (got = gzread(f, buf, sizeof buf)) > 0) {
        for (int at = 0; r.s == GC_OK && at < got;) { /* line by line, to know the line number */
            char *nl = memchr(buf + at, '\n', (size_t)(got - at));
            int len = nl ? (int)(nl - (buf + at)) + 1 : got - at;
            if (!r.open && !blank(buf + at, len)) r.open = 1, r.start = r.line;
            if (csv_parse(&p, buf + at, (size_t)len, on_field, on_record, &r) != (size_t)len &&
                r.s == GC_OK)
                r.s = gc_fail(GC_ERR_FORMAT, "%s:%d: malformed CSV: %s", path, r.line,
                              csv_strerror(csv_error(&p)));
            at += len;
            if (nl) r.line++;
        }
    }
    int zerr = Z_OK;
    const char *zmsg = gzerror(f, &zerr);
    if (r.s == GC_OK && zerr != Z_OK && zerr != Z_STREAM_END)
        r.s = gc_fail(GC_ERR_IO, "%s: at line %d: %s", path, r.line, zmsg);
    if (r.s == GC_OK && csv_fini(&p, on_field, on_record, &r) != 0 && r.s == GC_OK)
        r.s = gc_fail(GC_ERR_FORMAT, "%s:%d: malformed CSV: a quoted field does not close", path,
                      r.start);
    clear(&r);
    free(r.field);
    csv_free(&p);
    gzclose(f);
    return r.s;
}
