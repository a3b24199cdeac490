/* The stories260K golden output: replicate generate, greedy, 200 steps, byte for byte. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_api.h"
#include "lib/util/base.h"
#include "helpers.h"

static void greedy_200(const char *extra) {
    char model[1024], tok[1024], golden[1024];
    if (!th_data_file(model, sizeof model, "models/stories260K/stories260K.bin") ||
        !th_data_file(tok, sizeof tok, "models/stories260K/tok512.bin") ||
        !th_data_file(golden, sizeof golden, "models/stories260K/greedy200.txt"))
        cr_skip_test("stories260K not found under %s (set GCRM_DATA)", th_data_dir());
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s generate --checkpoint %s --tokenizer %s --temperature 0 --steps 200 %s",
             th_replicate_bin(), model, tok, extra);
    char *out = NULL, *err = NULL, *want = NULL;
    size_t out_len = 0, want_len = 0;
    int rc = th_run(cmd, &out, &out_len, &err);
    cr_assert_eq(rc, 0, "replicate generate failed (%d): %s", rc, err ? err : "");
    cr_assert_eq(gc_read_file(golden, &want, &want_len), GC_OK);
    cr_assert_eq(out_len, want_len, "printed %zu bytes, golden has %zu:\n%s", out_len, want_len,
                 out);
    cr_assert(memcmp(out, want, want_len) == 0, "output differs from greedy200.txt:\n%s", out);
    free(out), free(err), free(want);
}

Test(golden, stories260k_greedy_200) {
    greedy_200("");
}

/* the same on the CUDA backend (fp32): on the GPU, or on the host emulation of its kernels */
Test(golden, stories260k_greedy_200_on_cuda) {
    gc_cuda *c;
    if (gc_cuda_open_emulated(&c) != GC_OK) cr_skip_test("%s", gc_last_error());
    gc_cuda_close(c);
    char why[256];
    if (gc_cuda_devices(why, sizeof why) == 0) setenv("GCRM_CUDA_EMULATE", "1", 1);
    greedy_200("--device cuda");
}

Test(golden, default_tokenizer_beside_checkpoint) {
    char model[1024];
    if (!th_data_file(model, sizeof model, "models/stories260K/stories260K.bin"))
        cr_skip_test("stories260K not found under %s", th_data_dir());
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s generate --checkpoint %s --temperature 0.8 --seed 3 --steps 40",
             th_replicate_bin(), model);
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    cr_assert_eq(th_run(cmd, &a, &la, NULL), 0);
    cr_assert_eq(th_run(cmd, &b, &lb, NULL), 0);
    cr_assert_gt(la, 10, "sampling printed almost nothing");
    cr_assert(la == lb && memcmp(a, b, la) == 0, "same seed gave different text");
    free(a), free(b);
}
