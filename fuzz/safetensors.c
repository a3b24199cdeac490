/* Hugging Face files: the bytes as a safetensors file through gc_st_open (every tensor read as
 * fp32 when it opens), and as a config.json beside the tiny model's tensors through gc_hf_load. */
#include "fuzz.h"

#include <sys/stat.h>

#include "lib/model/hf.h"
#include "lib/model/safetensors.h"

static char dir[256], cfg[300];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    snprintf(dir, sizeof dir, "/tmp/gcrm-fuzz-%ld-hf", (long)getpid());
    mkdir(dir, 0755);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp tests/fixtures/hf_tiny/model.safetensors %s/", dir);
    if (system(cmd) != 0) abort(); /* run from the repository's root */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gc_st_file f;
    if (gc_st_open(fuzz_file("st", data, size), &f) == GC_OK) {
        for (int i = 0; i < f.n; i++) {
            float *x = malloc(sizeof(float) * (size_t)(f.t[i].numel ? f.t[i].numel : 1));
            if (!x) abort();
            gc_st_to_f32(&f.t[i], x);
            free(x);
        }
        gc_st_close(&f);
    }
    fuzz_write(cfg, data, size);
    gc_model m;
    if (gc_hf_load(dir, 64, &m) == GC_OK) gc_model_free(&m);
    return 0;
}
