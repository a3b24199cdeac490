/* jsonio: reading and atomically writing JSON documents and JSON Lines files.
 *
 * Contract: gc_json_read returns a cJSON tree the caller deletes (cJSON_Delete); errors name the
 * file and line. gc_json_write writes pretty JSON through a temporary file and a rename.
 * gc_jsonl_each calls fn for each non-empty line's parsed object (deleted after the call) and
 * stops at the first error, naming the file and line; a gzip file is read as it is (zlib), and
 * one cut short or damaged is an error, never fewer lines.
 */
#ifndef GC_JSONIO_H
#define GC_JSONIO_H

#include <cjson/cJSON.h>

#include "base.h"

gc_status gc_json_read(const char *path, cJSON **out);
gc_status gc_json_write(const char *path, const cJSON *doc);
gc_status gc_jsonl_each(const char *path, gc_status (*fn)(const cJSON *obj, int line, void *ctx),
                        void *ctx);

/* Reads the array `key` of the object root, from file path (for messages), into out: exactly n
 * numbers, else GC_ERR_FORMAT naming the file, the key and the count expected. */
gc_status gc_json_floats(const char *path, const cJSON *root, const char *key, float *out,
                         size_t n);
/* Adds the array `key` of the n values x to obj. */
void gc_json_add_floats(cJSON *obj, const char *key, const float *x, size_t n);

/* Accessors that tolerate a missing object or key: the number (else def), the item (else NULL),
 * the string (else NULL). */
double gc_json_num(const cJSON *o, const char *k, double def);
const cJSON *gc_json_get(const cJSON *o, const char *k);
const char *gc_json_str(const cJSON *o, const char *k);
/* Whether e is a number holding an integer in [lo, hi] (checked before any conversion: a huge
 * value must not overflow an int); then *out gets it. */
int gc_json_int_in(const cJSON *e, int lo, int hi, int *out);
/* The i-th number of an array, else NaN. */
double gc_json_at(const cJSON *arr, int i);

/* Appends one compact JSON line to an open atomic file. */
gc_status gc_jsonl_append(gc_atomic_file *af, const cJSON *obj);

#endif
