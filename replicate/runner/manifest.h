/* manifest: what a complete stage holds, recorded in its DONE marker and verified when read.
 *
 * DONE (text, written atomically after every output):
 *   gcrm-stage 2
 *   key <16 hex digits>
 *   file <name> <bytes> <crc32, 8 hex digits>      (one line per output file, sorted by name)
 * A cached stage is verified before it is used: a missing, resized or altered file is an error
 * that names it and says how to recompute the stage (delete its directory, or
 * `replicate run --rerun <stage>`), never a silently wrong number. A DONE of the first format
 * (the key alone, written before checksums) cannot be verified: the runner recomputes that stage.
 */
#ifndef RP_MANIFEST_H
#define RP_MANIFEST_H

#include <stdint.h>

#include "lib/util/base.h"

/* Writes dir/DONE for the files now in dir (every plain file but DONE itself). */
gc_status rp_manifest_write(const char *dir, const char *key);

typedef enum {
    RP_STAGE_INCOMPLETE, /* no DONE: never finished, or killed */
    RP_STAGE_LEGACY,     /* DONE without checksums */
    RP_STAGE_COMPLETE,   /* DONE with checksums */
} rp_stage_state;

/* The state of the stage directory dir and, when complete, its outputs' total bytes (may be
 * NULL). A DONE that is neither format is an error naming it. */
gc_status rp_manifest_state(const char *dir, rp_stage_state *state, uint64_t *bytes);
/* Checks every file DONE lists against its size and checksum; name is the stage's name for the
 * message (the directory's when NULL). */
gc_status rp_manifest_verify(const char *dir, const char *name);

#endif
