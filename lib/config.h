/* config: typed reader over cJSON.
 *
 * Contract: a gc_config owns the file's text and its parsed cJSON tree (freed by gc_config_free).
 * gc_config_read() fills a caller-owned struct from one JSON object according to a schema of
 * fields (type, range, required, offset into the struct). Fields absent from the object keep the
 * value the caller put there (the default). Every failure names the file, the key's dotted path
 * and the line where it appears: syntax errors (line and column), unknown keys (with the list of
 * known ones), wrong types, out-of-range values, unknown enum choices, missing required keys.
 */
#ifndef GC_CONFIG_H
#define GC_CONFIG_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "base.h"

#define GC_CFG_STRLEN 256

typedef enum {
    GC_CFG_INT,    /* int64_t  in [min, max]; JSON number that is an exact integer */
    GC_CFG_FLOAT,  /* double   in [min, max] */
    GC_CFG_BOOL,   /* int, 0 or 1; JSON true/false */
    GC_CFG_STRING, /* char[GC_CFG_STRLEN] */
    GC_CFG_ENUM,   /* int, index into choices ("a|b|c") */
    GC_CFG_OBJECT, /* const cJSON *: a nested object, read later by its own schema */
    GC_CFG_ARRAY,  /* const cJSON *: an array, its elements checked by the caller */
} gc_cfg_type;

typedef struct {
    const char *key;
    gc_cfg_type type;
    size_t offset; /* offsetof(dest struct, member) */
    int required;
    double min, max;     /* INT and FLOAT */
    const char *choices; /* ENUM */
} gc_cfg_field;

typedef struct {
    char *path; /* file name used in messages */
    char *text;
    cJSON *root;
} gc_config;

gc_status gc_config_load(gc_config *c, const char *path);
/* Parse text already in memory; name is used in messages. */
gc_status gc_config_parse(gc_config *c, const char *name, const char *text);
void gc_config_free(gc_config *c);

/* Read obj (found at dotted path objpath, "" for the root) into dest according to fields. */
gc_status gc_config_read(const gc_config *c, const cJSON *obj, const char *objpath,
                         const gc_cfg_field *fields, int nfields, void *dest);

/* 1-based line of the key at a dotted path ("model.dim"), 0 when it cannot be found. */
int gc_config_line(const gc_config *c, const char *keypath);

#endif
