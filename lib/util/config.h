/* config: typed reader over cJSON.
 *
 * Contract: a gc_config owns the file's text and its parsed cJSON tree (freed by gc_config_free).
 * gc_config_read() fills a caller-owned struct from one JSON object according to a schema of
 * fields (type, range, required, offset into the struct). Fields absent from the object keep the
 * value the caller put there (the default). Every failure names the file, the key's dotted path
 * and the line where it appears: syntax errors (line and column), unknown keys (with the list of
 * known ones), wrong types, out-of-range values, unknown enum choices, missing required keys.
 *
 * Layers: a file whose top level has "extends": "other.json" (a path relative to the file) is
 * laid over that file: objects merge key by key, recursively; any other value (arrays included)
 * replaces the base's; null deletes the base's key. c->root is the merged tree, without
 * "extends"; c->base is the layer below (owned, itself possibly layered). Messages name the file
 * that holds the key: the topmost layer that writes it. A key written twice in one object is an
 * error in every layer.
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
    GC_CFG_TEXT,   /* const char *: a string of any length, borrowed from the document */
} gc_cfg_type;

typedef struct {
    const char *key;
    gc_cfg_type type;
    size_t offset; /* offsetof(dest struct, member) */
    int required;
    double min, max;     /* INT and FLOAT */
    const char *choices; /* ENUM */
} gc_cfg_field;
/* A field named as member k of struct T: GC_CFG_FIELD(T, k, GC_CFG_INT, required, min, max, NULL)
 */
#define GC_CFG_FIELD(T, k, type, req, lo, hi, ch)                                                  \
    { #k, type, offsetof(T, k), req, lo, hi, ch }

typedef struct gc_config {
    char *path; /* file name used in messages */
    char *text;
    cJSON *root;            /* the merged tree */
    struct gc_config *base; /* the layer this file extends, or NULL */
} gc_config;

gc_status gc_config_load(gc_config *c, const char *path);
/* Parse text already in memory; name is used in messages. */
gc_status gc_config_parse(gc_config *c, const char *name, const char *text);
void gc_config_free(gc_config *c);

/* Read obj (found at dotted path objpath, "" for the root) into dest according to fields. */
gc_status gc_config_read(const gc_config *c, const cJSON *obj, const char *objpath,
                         const gc_cfg_field *fields, int nfields, void *dest);

/* The number of fields of a static schema table. */
#define GC_CFG_COUNT(fields) ((int)(sizeof(fields) / sizeof((fields)[0])))

/* Line of the key in the topmost layer that writes it, and that layer's file (may be NULL);
 * 0 and the top file when no layer does. */
int gc_config_where(const gc_config *c, const char *keypath, const char **file);
/* Records "FILE:LINE: key 'KEYPATH': message" (FILE and LINE from gc_config_where; "FILE:1:
 * message" for the empty path) and returns GC_ERR_CONFIG. */
gc_status gc_config_fail(const gc_config *c, const char *keypath, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The typed values of src (a struct read by gc_config_read with these fields) as a JSON object,
 * one key per field in table order, defaults included: ENUMs as their names, OBJECT and ARRAY
 * fields copied (null when absent). What a cache key hashes: the same values give the same
 * document however the file spelled them. Caller deletes. */
cJSON *gc_config_to_json(const gc_cfg_field *fields, int nfields, const void *src);

/* Lays over onto base (see Layers above): base is modified, over is only read. */
void gc_json_merge(cJSON *base, const cJSON *over);

#endif
