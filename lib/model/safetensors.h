/* safetensors: Hugging Face's safetensors files, read memory-mapped and written, single or
 * sharded through model.safetensors.index.json.
 *
 * Format: u64 little-endian N | N bytes of a JSON object header | the data. Each header key but
 * "__metadata__" (an object of strings) names a tensor {"dtype": "F32"|"F16"|"BF16",
 * "shape": [non-negative integers], "data_offsets": [begin, end]} with offsets into the data.
 * Opening checks everything before any tensor is used: the header's size against the file, that
 * it is an object, each field's type, the dtype known, end - begin equal to the shape's element
 * count times the element size, offsets within the data, no two tensors overlapping and no hole
 * (the format's own rule: the data is exactly the tensors), names unique; any failure names the
 * file and the tensor. Tensors are converted to fp32 on read (bf16: the top half of an fp32;
 * fp16: IEEE half, subnormals included).
 *
 * A directory holds model.safetensors, or model.safetensors.index.json whose "weight_map" names
 * each tensor's shard (a file in the same directory); every shard is opened and checked, a tensor
 * the map puts in a shard that lacks it, or that two shards hold, is an error.
 *
 * Writing: fp32 or bf16 (round to nearest even), tensors in the order given, through a temporary
 * file renamed into place. Ownership: gc_st_file maps its file until gc_st_close; gc_st_set owns
 * its files; tensor views point into the mapping.
 */
#ifndef GC_SAFETENSORS_H
#define GC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util/base.h"

typedef enum { GC_ST_F32, GC_ST_F16, GC_ST_BF16 } gc_st_dtype;

#define GC_ST_MAX_DIMS 4
#define GC_ST_NAME 160

typedef struct {
    char name[GC_ST_NAME];
    gc_st_dtype dtype;
    int ndim;
    int64_t shape[GC_ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data; /* into the mapping */
    size_t nbytes;
} gc_st_tensor;

typedef struct {
    char path[1024];
    void *map;
    size_t size;
    gc_st_tensor *t; /* (n) in header order */
    int n;
} gc_st_file;

gc_status gc_st_open(const char *path, gc_st_file *f);
void gc_st_close(gc_st_file *f);
const gc_st_tensor *gc_st_find(const gc_st_file *f, const char *name);
/* The tensor's elements as fp32: out (numel). */
void gc_st_to_f32(const gc_st_tensor *t, float *out);

/* One checkpoint: a directory's single file or its shards. */
typedef struct {
    gc_st_file *files; /* (n_files) */
    int n_files;
} gc_st_set;

gc_status gc_st_open_dir(const char *dir, gc_st_set *s);
void gc_st_set_close(gc_st_set *s);
/* The tensor named `name` and (may be NULL) its file; NULL when no file holds it. */
const gc_st_tensor *gc_st_set_find(const gc_st_set *s, const char *name, const gc_st_file **file);

/* A tensor to write: fp32 data of the given shape. */
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[GC_ST_MAX_DIMS];
    const float *data;
} gc_st_out;

/* Writes n tensors as dtype (GC_ST_F32 or GC_ST_BF16) with "__metadata__" pairs meta (2 * n_meta
 * strings: key, value; may be NULL). */
gc_status gc_st_write(const char *path, const gc_st_out *t, int n, gc_st_dtype dtype,
                      const char *const *meta, int n_meta);

/* bf16 and fp16 conversions (exposed for tests). */
float gc_bf16_to_f32(uint16_t h);
uint16_t gc_f32_to_bf16(float x);
float gc_f16_to_f32(uint16_t h);

#endif
