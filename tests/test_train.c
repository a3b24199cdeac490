/* Training behaviour: a tiny model learns a corpus; same seed -> bitwise-identical losses at
 * 1 and at 2 threads; checkpoint at step 10 + resume == uninterrupted run, bit for bit. */
#include <criterion/criterion.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/ckpt.h"
#include "lib/model/model.h"
#include "lib/model/optim.h"
#include "lib/model/seqset.h"
#include "lib/model/train.h"
#include "helpers.h"

static const char CORPUS[] =
    "the cat sat on the mat. the dog ran to the park. a bird sang in the tree. "
    "the cat saw the bird. the dog saw the cat. a fish swam in the pond. ";

/* byte-level corpus: ids are bytes (V = 128) */
static int32_t *corpus_tokens(size_t *n) {
    size_t len = strlen(CORPUS), reps = 8;
    int32_t *t = malloc(sizeof(int32_t) * len * reps);
    for (size_t r = 0; r < reps; r++)
        for (size_t i = 0; i < len; i++)
            t[r * len + i] = (int32_t)CORPUS[i];
    *n = len * reps;
    return t;
}

static gc_model_config small_config(void) {
    gc_model_config c = {.dim = 64,
                         .hidden_dim = 172,
                         .n_layers = 2,
                         .n_heads = 4,
                         .n_kv_heads = 2,
                         .vocab_size = 128,
                         .seq_len = 64,
                         .tied = 1,
                         .norm_eps = 1e-5f,
                         .rope_theta = 10000.0f};
    return c;
}

/* Runs steps [from, to) and records each loss. */
static void run_steps(gc_model *m, gc_adamw *opt, const gc_schedule *s, const int32_t *data,
                      size_t n, int from, int to, float *losses) {
    int B = 8, T = 48;
    int32_t *tok = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    for (int step = from; step < to; step++) {
        cr_assert_eq(gc_lm_batch(data, n, B, T, 2024, step, tok, tgt), GC_OK);
        cr_assert_eq(gc_lm_step(m, opt, s, tok, tgt, B, T, NULL, &losses[step], NULL), GC_OK);
    }
    free(tok), free(tgt);
}

/* A fresh small model (weights from seed) and its AdamW optimizer. */
static void fresh_model(gc_model *m, gc_adamw *opt, uint64_t seed, float weight_decay) {
    gc_model_config c = small_config();
    cr_assert_eq(gc_model_init(m, &c), GC_OK);
    gc_model_init_random(m, seed);
    cr_assert_eq(gc_adamw_init(opt, m->n_params, 0.9f, 0.95f, 1e-8f, weight_decay), GC_OK);
}

static const gc_schedule SCHED = {
    .lr_max = 3e-3f, .lr_min = 3e-4f, .warmup = 10, .total = 300, .clip = 1.0f};

Test(train, tiny_model_learns_corpus) {
    size_t n;
    int32_t *data = corpus_tokens(&n);
    gc_model m;
    gc_adamw opt;
    fresh_model(&m, &opt, 1, 0.0f);
    float *losses = malloc(sizeof(float) * SCHED.total);
    run_steps(&m, &opt, &SCHED, data, n, 0, (int)SCHED.total, losses);
    /* starts near ln(128) = 4.85; a 145-byte repeating corpus is memorised well below 0.3 */
    cr_expect_gt(losses[0], 4.0f, "initial loss %g is not near ln(V)", losses[0]);
    float last = 0;
    for (int i = (int)SCHED.total - 10; i < SCHED.total; i++)
        last += losses[i] / 10;
    cr_expect_lt(last, 0.3f, "mean loss of the last 10 steps %g is not below 0.3", last);
    free(losses), free(data);
    gc_adamw_free(&opt);
    gc_model_free(&m);
}

static void twenty_steps(int threads, float *losses, float **final_params, size_t *np) {
    omp_set_num_threads(threads);
    size_t n;
    int32_t *data = corpus_tokens(&n);
    gc_model m;
    gc_adamw opt;
    fresh_model(&m, &opt, 7, 0.1f);
    run_steps(&m, &opt, &SCHED, data, n, 0, 20, losses);
    *np = m.n_params;
    *final_params = malloc(sizeof(float) * m.n_params);
    memcpy(*final_params, m.params, sizeof(float) * m.n_params);
    free(data);
    gc_adamw_free(&opt);
    gc_model_free(&m);
}

static void check_repeatable(int threads) {
    float a[20], b[20], *pa, *pb;
    size_t na, nb;
    twenty_steps(threads, a, &pa, &na);
    twenty_steps(threads, b, &pb, &nb);
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "losses differ between two runs at %d threads",
                 threads);
    cr_assert(na == nb && memcmp(pa, pb, na * sizeof(float)) == 0,
              "weights differ between two runs at %d threads", threads);
    cr_expect_lt(a[19], a[0], "20 steps did not lower the loss");
    free(pa), free(pb);
}

Test(determinism, bitwise_repeatable_1_thread) {
    check_repeatable(1);
}
Test(determinism, bitwise_repeatable_2_threads) {
    check_repeatable(2);
}

Test(determinism, checkpoint_resume_is_bitwise_identical) {
    size_t n;
    int32_t *data = corpus_tokens(&n);
    float full[20], resumed[20];
    gc_model m;
    gc_adamw opt;
    fresh_model(&m, &opt, 9, 0.1f);
    run_steps(&m, &opt, &SCHED, data, n, 0, 20, full);
    float *want = malloc(sizeof(float) * m.n_params);
    memcpy(want, m.params, sizeof(float) * m.n_params);
    gc_adamw_free(&opt);
    gc_model_free(&m);

    char *path = th_tmp_path("resume.ckpt");
    fresh_model(&m, &opt, 9, 0.1f);
    run_steps(&m, &opt, &SCHED, data, n, 0, 10, resumed);
    cr_assert_eq(gc_ckpt_save(path, &m, &opt), GC_OK, "%s", gc_last_error());
    gc_adamw_free(&opt);
    gc_model_free(&m);

    int has_optim = 0;
    cr_assert_eq(gc_ckpt_load(path, &m, &opt, &has_optim), GC_OK, "%s", gc_last_error());
    cr_assert(has_optim);
    cr_assert_eq(opt.step, 10);
    run_steps(&m, &opt, &SCHED, data, n, 10, 20, resumed);
    cr_assert_eq(memcmp(full, resumed, sizeof full), 0, "resumed losses differ");
    cr_assert_eq(memcmp(want, m.params, sizeof(float) * m.n_params), 0, "resumed weights differ");
    remove(path);
    free(path), free(want), free(data);
    gc_adamw_free(&opt);
    gc_model_free(&m);
}

/* gc_sft_train's checkpoint hook and resume: 12 steps straight, against 11 steps (one inside the
 * last 10% whose losses make the final loss), the state the hook saw then and the weights, a
 * fresh model, the last step: the same bits */
typedef struct {
    int at;
    float *params;
    gc_sft_state saved;
} sft_hook;

static gc_status keep_state(void *ctx, gc_model *m, gc_sft_state *st, int last) {
    sft_hook *h = ctx;
    if (st->opt.step != h->at) return GC_OK;
    memcpy(h->params, m->params, sizeof(float) * m->n_params);
    h->saved = *st;
    h->saved.opt.m = malloc(sizeof(float) * st->opt.n);
    h->saved.opt.v = malloc(sizeof(float) * st->opt.n);
    memcpy(h->saved.opt.m, st->opt.m, sizeof(float) * st->opt.n);
    memcpy(h->saved.opt.v, st->opt.v, sizeof(float) * st->opt.n);
    return last ? GC_OK : GC_ERR_STOPPED; /* as a stop request would */
}

Test(determinism, sft_resumes_from_its_hook_state_bitwise) {
    gc_seqset d;
    cr_assert_eq(gc_seqset_init(&d, 6, 24), GC_OK);
    for (int i = 0; i < 6; i++) {
        int32_t p[4] = {1, (int32_t)(10 + i), 20, 21}, r[8];
        for (int j = 0; j < 8; j++)
            r[j] = (int32_t)(30 + (i * 7 + j * 3) % 40);
        cr_assert_eq(gc_seqset_set(&d, i, p, 4, r, 4 + i % 4), GC_OK);
    }
    gc_sft_config c = {.steps = 12, .batch = 3, .sched = SCHED, .seed = 5};
    gc_model a, b;
    gc_adamw unused;
    fresh_model(&a, &unused, 9, 0.0f);
    gc_adamw_free(&unused);
    float la, lb;
    cr_assert_eq(gc_sft_train(&a, &d, &c, &la), GC_OK, "%s", gc_last_error());
    fresh_model(&b, &unused, 9, 0.0f);
    gc_adamw_free(&unused);
    sft_hook h = {.at = 11, .params = malloc(sizeof(float) * b.n_params)};
    c.on_step = keep_state, c.on_step_ctx = &h;
    cr_assert_eq(gc_sft_train(&b, &d, &c, &lb), GC_ERR_STOPPED, "the hook stops the run");
    gc_model_free(&b);
    fresh_model(&b, &unused, 9, 0.0f); /* the run restarts: weights from the checkpoint */
    gc_adamw_free(&unused);
    memcpy(b.params, h.params, sizeof(float) * b.n_params);
    c.on_step = NULL, c.resume = &h.saved;
    cr_assert_eq(gc_sft_train(&b, &d, &c, &lb), GC_OK, "%s", gc_last_error());
    cr_expect_eq(memcmp(a.params, b.params, sizeof(float) * a.n_params), 0, "weights differ");
    cr_expect_eq(la, lb, "the final loss sums carry over: %g vs %g", la, lb);
    gc_sft_state bad = h.saved;
    bad.opt.step = 13;
    c.resume = &bad;
    cr_expect_eq(gc_sft_train(&b, &d, &c, &lb), GC_ERR_ARG, "a state past the run's end");
    free(h.params), free(h.saved.opt.m), free(h.saved.opt.v);
    gc_model_free(&a), gc_model_free(&b);
    gc_seqset_free(&d);
}
