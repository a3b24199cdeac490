/* The backend op table (lib/model/backend.h): each backend fills every entry it promises, the
 * residual-connection op keeps its contract on both backends, a KV cache is tied to the backend
 * that filled it, and the layer sequence exists in lib/model/model.c alone (the backends only bind
 * ops). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_api.h"
#include "lib/model/backend.h"
#include "lib/model/model.h"
#include "lib/model/ops.h"
#include "cuda_helpers.h"
#include "helpers.h"

/* every function of the table, by name; to_bf16 is required only with shadow = 1 */
static void expect_complete(const gc_backend *be) {
    struct {
        const char *name;
        const void *fn;
    } e[] = {
#define E(f) {#f, (const void *)be->f}
        E(alloc),
        E(free),
        E(upload),
        E(download),
        E(copy),
        E(zero),
        E(embedding),
        E(embedding_backward),
        E(rmsnorm),
        E(rmsnorm_backward),
        E(linear),
        E(linear_residual),
        E(linear_backward),
        E(rope),
        E(attention),
        E(attention_backward),
        E(decode_attention),
        E(swiglu),
        E(swiglu_backward),
        E(add),
        E(cross_entropy),
        E(sumsq),
        E(scale),
        E(adamw),
#undef E
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++)
        cr_expect_not_null(e[i].fn, "backend %s (%s) lacks %s", be->name, be->precision, e[i].name);
    if (be->shadow) cr_expect_not_null(be->to_bf16, "backend %s lacks to_bf16", be->name);
    cr_expect(be->att_bytes == 2 || be->att_bytes == 4, "backend %s: att_bytes %zu", be->name,
              be->att_bytes);
    cr_expect_not_null(be->name);
    cr_expect_not_null(be->precision);
}

Test(backend, every_backend_fills_its_table) {
    const gc_backend *cpu = gc_backend_cpu();
    expect_complete(cpu);
    cr_expect(cpu->host, "the CPU backend uses host memory in place");
    cr_expect_eq(gc_device_backend(), cpu, "with no device opened, models run on the CPU");
    gc_cuda *c = ch_open_or_skip();
    for (int p = GC_PREC_FP32; p <= GC_PREC_BF16; p++) {
        const gc_backend *be;
        cr_assert_eq(gc_cuda_backend(c, (gc_precision)p, &be), GC_OK, "%s", gc_last_error());
        expect_complete(be);
        cr_expect_not(be->host);
        cr_expect_eq(be->shadow, p == GC_PREC_BF16);
    }
    gc_cuda_close(c);
}

/* y = res + x W^T on a backend, against ops.c's linear followed by the addition */
static void residual_on(const gc_backend *be, double tol) {
    enum { N = 5, IN = 7, OUT = 6 };
    float *x = ch_randn(N * IN, 1, 1.0f), *W = ch_randn(OUT * IN, 2, 0.5f);
    float *res = ch_randn(N * OUT, 3, 1.0f), want[N * OUT], got[N * OUT];
    gc_ops_linear(want, OUT, x, W, N, IN, OUT);
    for (int i = 0; i < N * OUT; i++)
        want[i] += res[i];
    float *bx = be->alloc(be, sizeof x[0] * N * IN), *bW = be->alloc(be, sizeof W[0] * OUT * IN);
    float *br = be->alloc(be, sizeof res[0] * N * OUT), *by = be->alloc(be, sizeof got);
    cr_assert(bx && bW && br && by, "%s", gc_last_error());
    cr_assert_eq(be->upload(be, bx, x, sizeof x[0] * N * IN), GC_OK);
    cr_assert_eq(be->upload(be, bW, W, sizeof W[0] * OUT * IN), GC_OK);
    cr_assert_eq(be->upload(be, br, res, sizeof res[0] * N * OUT), GC_OK);
    cr_assert_eq(be->linear_residual(be, by, br, bx, bW, NULL, N, IN, OUT), GC_OK, "%s",
                 gc_last_error());
    cr_assert_eq(be->download(be, got, by, sizeof got), GC_OK);
    double err = ch_rel_err(got, want, N * OUT);
    cr_expect_leq(err, tol, "%s: linear_residual off by %g", be->name, err);
    float back[N * OUT];
    cr_assert_eq(be->download(be, back, br, sizeof back), GC_OK);
    cr_expect_eq(memcmp(back, res, sizeof back), 0, "%s: the residual input was written", be->name);
    void *bufs[] = {bx, bW, br, by};
    for (int i = 0; i < 4; i++)
        be->free(be, bufs[i]);
    free(x), free(W), free(res);
}

Test(backend, linear_residual_is_residual_plus_linear) {
    const gc_backend *cpu = gc_backend_cpu();
    residual_on(cpu, 0); /* the CPU op is exactly the two ops.c steps */
    gc_cuda *c = ch_open_or_skip();
    const gc_backend *be;
    cr_assert_eq(gc_cuda_backend(c, GC_PREC_FP32, &be), GC_OK, "%s", gc_last_error());
    residual_on(be, 1e-5);
    gc_cuda_close(c);
}

Test(backend, a_kv_cache_belongs_to_the_backend_that_filled_it) {
    gc_cuda *c = ch_open_or_skip();
    const gc_backend *be;
    cr_assert_eq(gc_cuda_backend(c, GC_PREC_FP32, &be), GC_OK, "%s", gc_last_error());
    gc_model_config cfg = th_tiny_config(1);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &cfg), GC_OK);
    th_init_weights(&m, 5);
    gc_kvcache kc;
    cr_assert_eq(gc_kvcache_init(&kc, &cfg, 1, 4), GC_OK);
    int32_t tok = 1, pos = 0;
    cr_assert_eq(gc_model_decode(&m, &kc, &tok, &pos), GC_OK, "%s", gc_last_error());
    cr_assert_eq(gc_model_set_backend(&m, be), GC_OK, "%s", gc_last_error());
    pos = 1;
    cr_expect_eq(gc_model_decode(&m, &kc, &tok, &pos), GC_ERR_ARG);
    cr_expect(strstr(gc_last_error(), "another backend"), "%s", gc_last_error());
    gc_kvcache_free(&kc);
    gc_model_free(&m);
    gc_cuda_close(c);
}

/* the layer sequence is written once: no backend file loops over layers or names their tensors */
Test(backend, the_layer_sequence_lives_in_model_c_only) {
    const char *files[] = {"kernels/cuda_backend.cu", "kernels/cuda_core.cu", "kernels/cuda_ops.cu",
                           "lib/model/backend_cpu.c", "lib/model/ops.c"};
    const char *marks[] = {"n_layers", "gc_model_layer", "GC_T_WQKV"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        FILE *f = fopen(files[i], "r");
        cr_assert_not_null(f, "%s not found (run from the repository root)", files[i]);
        char line[1024];
        for (int n = 1; fgets(line, sizeof line, f); n++)
            for (size_t k = 0; k < sizeof marks / sizeof marks[0]; k++)
                cr_expect_null(strstr(line, marks[k]),
                               "%s:%d names %s: the layer sequence "
                               "belongs to lib/model/model.c",
                               files[i], n, marks[k]);
        fclose(f);
    }
}
