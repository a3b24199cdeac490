/* Checkpoints: the bytes as a gcrm checkpoint or a llama2.c one (gc_ckpt_load_any picks by the
 * first bytes), with and without optimiser state, and as a PPO trainer state directory's files. */
#include "fuzz.h"

#include "lib/model/ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("ckpt", data, size);
    gc_model m;
    if (gc_ckpt_load_any(path, &m) == GC_OK) gc_model_free(&m);
    gc_adamw opt;
    int has = 0;
    if (gc_ckpt_load(path, &m, &opt, &has) == GC_OK) {
        if (has) gc_adamw_free(&opt);
        gc_model_free(&m);
    }
    return 0;
}
