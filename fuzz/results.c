/* Cached and recorded result files: the bytes as a results.json judged by every claim's rule of
 * results/published.json (as `replicate check` and `report` do), and as a stage's DONE marker
 * (its manifest read and verified). Run from the repository's root. */
#include "fuzz.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>

#include "lib/util/jsonio.h"
#include "replicate/claims/verdict.h"
#include "replicate/runner/manifest.h"

static cJSON *claims;
static char dir[256], done[300];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    if (gc_json_read("results/published.json", &claims) != GC_OK) abort();
    snprintf(dir, sizeof dir, "/tmp/gcrm-fuzz-%ld-stage", (long)getpid());
    mkdir(dir, 0755);
    snprintf(done, sizeof done, "%s/DONE", dir);
    char out[300];
    snprintf(out, sizeof out, "%s/out.bin", dir);
    fuzz_write(out, (const uint8_t *)"outputs", 7);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    cJSON *r = cJSON_Parse(text);
    if (r) {
        for (const cJSON *c = gc_json_get(claims, "claims")->child; c; c = c->next) {
            cJSON *v = NULL;
            if (claims_verdict(c, r, "published.json", &v) == GC_OK) cJSON_Delete(v);
        }
        cJSON_Delete(r);
    }
    free(text);
    fuzz_write(done, data, size);
    rp_stage_state st;
    uint64_t bytes;
    if (rp_manifest_state(dir, &st, &bytes) == GC_OK && st == RP_STAGE_COMPLETE)
        (void)rp_manifest_verify(dir, "fuzz");
    return 0;
}
