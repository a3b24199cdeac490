/* ckpt: the project's checkpoint format and the llama2.c importer.
 *
 * Format (little-endian), versions 1 and 2:
 *   "GCRMCKPT" | u32 version | gc_model_config fields (8 x i32, 2 x f32; version 2 adds the
 *   rotary scaling: i32 kind, f32 factor, f32 low_freq, f32 high_freq, i32 orig_len) | u32
 * n_tensors | n_tensors x { char name[24] | i32 ndim | i32 shape[3] | u64 offset | u64 size }
 * (floats) | u64 optim_step | u32 has_optim | f32 beta1, beta2, eps, weight_decay | params
 * (n_params f32) | [adam m (n_params f32) | adam v (n_params f32)] | u32 crc32 of all before. The
 * loader checks magic, version, config sense, the tensor table against the config, the exact file
 * size and the checksum, and names the file and the problem on any mismatch. Saving writes a
 * temporary file and renames it, so a killed save never leaves a complete-looking partial file.
 *
 * Ownership: gc_ckpt_load initialises *m (and *opt when given and the file holds optimizer state);
 * the caller frees them with gc_model_free / gc_adamw_free. On failure nothing is left allocated.
 */
#ifndef GC_CKPT_H
#define GC_CKPT_H

#include "lib/util/base.h"
#include "model.h"
#include "optim.h"

/* version 2 adds rotary scaling to the config; files of models without it stay version 1 */
#define GC_CKPT_VERSION 2

/* With a backend, first brings the parameters (and opt's moments) back to the host (gc_model_sync).
 */
gc_status gc_ckpt_save(const char *path, gc_model *m, gc_adamw *opt);
/* opt may be NULL; *has_optim (may be NULL) tells whether optimizer state was restored. */
gc_status gc_ckpt_load(const char *path, gc_model *m, gc_adamw *opt, int *has_optim);

/* Puts the checkpoint at path into m, an initialised model of the same shape, on whatever backend
 * m runs; with opt (not NULL, initialised for m) also the file's optimiser state, which it must
 * hold. A file of another shape, or without the optimiser state asked for, is an error naming it.
 */
gc_status gc_ckpt_restore(const char *path, gc_model *m, gc_adamw *opt);

/* llama2.c checkpoint (stories260K.bin): 7 x i32 header, then fp32 weights (see
 * ../shared/data/README.md). Tied when vocab_size > 0. Exact-size checked. */
gc_status gc_ckpt_import_llama2c(const char *path, gc_model *m);

/* Loads either format, chosen by the file's first bytes; a directory is a Hugging Face model
 * (lib/model/hf.h: config.json and safetensors). */
gc_status gc_ckpt_load_any(const char *path, gc_model *m);

#endif
