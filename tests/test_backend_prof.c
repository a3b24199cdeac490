/* lib/model/backend_prof: a model trained and decoded on the timing backend computes bit for bit
 * what it computes on the CPU backend, and every op it calls is counted and timed. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"
#include "lib/model/backend_prof.h"
#include "lib/model/model.h"
#include "lib/model/optim.h"
#include "lib/model/train.h"

static float train_two_steps(gc_model *m) {
    gc_adamw opt;
    cr_assert_eq(gc_adamw_init(&opt, m->n_params, 0.9f, 0.95f, 1e-8f, 0.0f), GC_OK);
    enum { B = 2, T = 8 };
    int32_t data[B * T * 4 + 1], tok[B * T], tgt[B * T];
    for (int i = 0; i < B * T * 4 + 1; i++)
        data[i] = (i * 7 + 3) % m->cfg.vocab_size;
    gc_schedule s = {.lr_max = 1e-3f, .lr_min = 1e-4f, .warmup = 1, .total = 10, .clip = 1.0f};
    float loss = 0;
    for (int step = 0; step < 2; step++) {
        gc_lm_batch(data, B * T * 4 + 1, B, T, 1, step, tok, tgt);
        cr_assert_eq(gc_lm_step(m, &opt, &s, tok, tgt, B, T, NULL, &loss, NULL), GC_OK, "%s",
                     gc_last_error());
    }
    gc_adamw_free(&opt);
    return loss;
}

Test(backend_prof, times_every_op_and_changes_no_bit) {
    gc_model_config cfg = th_tiny_config(0);
    gc_model a, b;
    cr_assert_eq(gc_model_init(&a, &cfg), GC_OK);
    cr_assert_eq(gc_model_init(&b, &cfg), GC_OK);
    th_init_weights(&a, 5), th_init_weights(&b, 5);
    gc_backend_prof p;
    gc_backend_prof_init(&p, b.be);
    cr_assert_eq(gc_model_set_backend(&b, &p.be), GC_OK);
    float la = train_two_steps(&a), lb = train_two_steps(&b);
    cr_expect_eq(la, lb, "the same loss, bit for bit");
    cr_expect(!memcmp(a.params, b.params, sizeof(float) * a.n_params), "the same parameters");
    int ops[] = {GC_PROF_EMBEDDING,
                 GC_PROF_RMSNORM,
                 GC_PROF_LINEAR,
                 GC_PROF_ATTENTION,
                 GC_PROF_ATTENTION_BACKWARD,
                 GC_PROF_LINEAR_BACKWARD,
                 GC_PROF_CROSS_ENTROPY,
                 GC_PROF_ADAMW,
                 GC_PROF_SWIGLU_BACKWARD};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        cr_expect_gt(p.calls[ops[i]], 0, "%s called", gc_backend_prof_name(ops[i]));
        cr_expect_geq(p.sec[ops[i]], 0);
    }
    cr_expect_eq(p.calls[GC_PROF_DECODE_ATTENTION], 0, "no decoding in training");
    gc_kvcache kc;
    cr_assert_eq(gc_kvcache_init(&kc, &cfg, 1, 4), GC_OK);
    int32_t t = 1, pos = 0;
    cr_assert_eq(gc_model_decode(&b, &kc, &t, &pos), GC_OK, "%s", gc_last_error());
    cr_expect_eq(p.calls[GC_PROF_DECODE_ATTENTION], cfg.n_layers, "one per layer");
    gc_backend_prof_reset(&p);
    cr_expect_eq(p.calls[GC_PROF_LINEAR], 0);
    cr_expect_str_eq(gc_backend_prof_name(GC_PROF_ADAMW), "adamw");
    gc_kvcache_free(&kc);
    gc_model_free(&a), gc_model_free(&b);
}
