/* lib/dist: the pairwise tree of part gradients (worked by hand), the sharded AdamW against the
 * unsharded optimizer, a one-rank data-parallel step against gc_lm_step, and the weights after
 * four steps of two MPI ranks (mpirun -np 2 gcrm-dp-check) equal to one rank's bit for bit, for
 * two and four parts. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "lib/dist/dist.h"
#include "lib/model/optim.h"
#include "lib/model/train.h"
#include "lib/util/rng.h"

Test(dist, tree_sums_pairwise_in_push_order) {
    /* values where the order shows: (a + b) + (c + d) != ((a + b) + c) + d in fp32 */
    float a = 1e8f, b = -1e8f, c = 1.0f, d = 1e-8f;
    float x[4][2] = {{a, c}, {b, d}, {c, a}, {d, b}};
    gc_tree t;
    cr_assert_eq(gc_tree_init(&t, 2, 4), GC_OK);
    float out[2];
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(gc_tree_push(&t, x[i]), GC_OK);
        if (i == 2) cr_expect_neq(gc_tree_result(&t, out), GC_OK, "3 pushes: not a power of two");
    }
    cr_assert_eq(gc_tree_result(&t, out), GC_OK, "%s", gc_last_error());
    float want0 = (a + b) + (c + d), want1 = (c + d) + (a + b);
    cr_expect(out[0] == want0 && out[1] == want1, "%.9g %.9g, expected %.9g %.9g", out[0], out[1],
              want0, want1);
    cr_expect_neq(gc_tree_push(&t, x[0]), GC_OK, "a fifth push past the tree's capacity");
    gc_tree_free(&t);
}

Test(dist, one_rank_world_and_slices) {
    gc_dist d;
    cr_assert_eq(gc_dist_init(&d), GC_OK, "%s", gc_last_error());
    cr_expect(d.rank == 0 && d.size == 1, "outside mpirun: rank 0 of 1");
    size_t lo, hi, total = 0;
    for (int r = 0; r < 3; r++) {
        gc_dist_slice(10, r, 3, &lo, &hi);
        cr_expect_eq(lo, total, "slices tile the range");
        total = hi;
    }
    cr_expect_eq(total, 10);
    float g[3] = {1, 2, 3};
    cr_expect_eq(gc_dist_tree_sum(&d, g, 3), GC_OK);
    cr_expect(g[0] == 1 && g[2] == 3, "one rank: unchanged");
    gc_dist_finalize(&d);
}

/* a world of one: the sharded optimizer is the whole optimizer, bit for bit */
Test(dist, zero1_matches_adamw) {
    gc_dist d;
    cr_assert_eq(gc_dist_init(&d), GC_OK);
    gc_model_config c = th_tiny_config(0);
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &c), GC_OK);
    th_init_weights(&m, 3);
    size_t n = m.n_params;
    float *p1 = malloc(sizeof(float) * n), *p2 = malloc(sizeof(float) * n);
    float *g = malloc(sizeof(float) * n);
    memcpy(p1, m.params, sizeof(float) * n), memcpy(p2, m.params, sizeof(float) * n);
    gc_adamw o;
    gc_zero1 z;
    cr_assert_eq(gc_adamw_init(&o, n, 0.9f, 0.95f, 1e-8f, 0.1f), GC_OK);
    cr_assert_eq(gc_zero1_init(&z, &d, n, 0.9f, 0.95f, 1e-8f, 0.1f), GC_OK);
    gc_rng r;
    gc_rng_init(&r, 5, 1);
    for (int step = 0; step < 3; step++) {
        for (size_t i = 0; i < n; i++)
            g[i] = gc_rng_normal(&r);
        gc_adamw_step(&o, p1, g, m.tensors, GC_N_TENSORS, 1e-2f);
        cr_assert_eq(gc_zero1_step(&z, &d, p2, g, m.tensors, GC_N_TENSORS, n, 1e-2f), GC_OK);
    }
    cr_expect(memcmp(p1, p2, sizeof(float) * n) == 0, "the same update, element by element");
    free(p1), free(p2), free(g);
    gc_adamw_free(&o);
    gc_zero1_free(&z);
    gc_model_free(&m);
}

/* one rank, one part: the data-parallel step is gc_lm_step */
Test(dist, one_part_step_is_the_plain_step) {
    gc_dist d;
    cr_assert_eq(gc_dist_init(&d), GC_OK);
    gc_model_config c = th_tiny_config(0);
    gc_model a, b;
    cr_assert_eq(gc_model_init(&a, &c), GC_OK);
    cr_assert_eq(gc_model_init(&b, &c), GC_OK);
    th_init_weights(&a, 9);
    th_init_weights(&b, 9);
    enum { B = 4, N = 500 };
    int T = c.seq_len;
    int32_t data[N], tok[B * 8], tgt[B * 8];
    for (int i = 0; i < N; i++)
        data[i] = (i * 7 + i / 3) % c.vocab_size;
    gc_adamw o;
    gc_zero1 z;
    gc_tree tree;
    cr_assert_eq(gc_adamw_init(&o, a.n_params, 0.9f, 0.95f, 1e-8f, 0.1f), GC_OK);
    cr_assert_eq(gc_zero1_init(&z, &d, b.n_params, 0.9f, 0.95f, 1e-8f, 0.1f), GC_OK);
    cr_assert_eq(gc_tree_init(&tree, b.n_params, 1), GC_OK);
    gc_schedule sch = {1e-2f, 1e-2f, 0, 10, 1.0f};
    for (int step = 0; step < 3; step++) {
        float la, lb;
        cr_assert_eq(gc_lm_batch(data, N, B, T, 4, step, tok, tgt), GC_OK);
        cr_assert_eq(gc_lm_step(&a, &o, &sch, tok, tgt, B, T, NULL, &la, NULL), GC_OK);
        cr_assert_eq(gc_dist_lm_step(&d, &b, &z, &tree, tok, tgt, B, T, 1, 1.0f, 1e-2f, &lb), GC_OK,
                     "%s", gc_last_error());
        cr_expect(la == lb, "step %d: loss %.9g vs %.9g", step, la, lb);
    }
    cr_expect(memcmp(a.params, b.params, sizeof(float) * a.n_params) == 0,
              "the same weights after 3 steps");
    cr_expect_neq(gc_dist_lm_step(&d, &b, &z, &tree, tok, tgt, B, T, 3, 1.0f, 1e-2f, NULL), GC_OK,
                  "3 parts: not a power of two");
    gc_tree_free(&tree);
    gc_zero1_free(&z);
    gc_adamw_free(&o);
    gc_model_free(&a);
    gc_model_free(&b);
}

/* a batch of P pairs for the reward-model steps: random tokens, prompts of 2-3 tokens, the
 * chosen and rejected responses ending in different tokens */
static void rm_batch(int P, int T, int V, uint64_t seed, int32_t *tok, int *plen, int *len) {
    gc_rng r;
    gc_rng_init(&r, seed, 3);
    for (int b = 0; b < 2 * P; b++) {
        plen[b] = 2 + b % 2, len[b] = T - (b / 2) % 2;
        for (int t = 0; t < T; t++)
            tok[b * T + t] = 3 + (int32_t)gc_rng_below(&r, (uint32_t)V - 3);
        tok[b * T + len[b] - 1] = b % 2 ? 1 : 2;
    }
}

/* one rank, one part: the data-parallel reward-model step is gc_rm_step, and the sharded trunk
 * optimizer and the separate head optimizer make gc_rm_update's update */
Test(dist, one_part_rm_step_is_the_plain_step) {
    gc_dist d;
    cr_assert_eq(gc_dist_init(&d), GC_OK);
    gc_model_config c = th_tiny_config(0);
    gc_rm a, b;
    th_twin_rms(&a, &b, 12, 3);
    enum { P = 2, T = 8 };
    int32_t tok[2 * P * T];
    int plen[2 * P], len[2 * P];
    gc_con_config con = {
        .lambda = 0.5f, .K = 3, .pairs = GC_PAIRS_ALL, .reduction = GC_RED_LOG_OF_MEAN};
    gc_rm_optim o = GC_RM_OPTIM_DEFAULT(1e-2f, 0.5f, 0.1f);
    o.trunk_lr_scale = 0.5f;
    gc_zero1 z;
    gc_adamw ho;
    gc_tree tree;
    cr_assert_eq(gc_zero1_init(&z, &d, b.model.n_params, 0.9f, 0.95f, 1e-8f, 0), GC_OK);
    cr_assert_eq(gc_adamw_init(&ho, b.n_head, 0.9f, 0.95f, 1e-8f, 0), GC_OK);
    cr_assert_eq(gc_tree_init(&tree, b.model.n_params, 1), GC_OK);
    for (int step = 0; step < 3; step++) {
        rm_batch(P, T, c.vocab_size, 40 + (uint64_t)step, tok, plen, len);
        gc_rng ra, rb;
        gc_rng_init(&ra, 77, (uint64_t)step), gc_rng_init(&rb, 77, (uint64_t)step);
        gc_rm_step_stats sa, sb;
        cr_assert_eq(gc_rm_step(&a, tok, P, T, plen, len, &con, &ra, &o, &sa), GC_OK);
        cr_assert_eq(
            gc_dist_rm_step(&d, &b, &z, &ho, &tree, tok, P, T, plen, len, &con, &rb, 1, &o, &sb),
            GC_OK, "%s", gc_last_error());
        cr_expect(memcmp(&sa, &sb, sizeof sa) == 0, "step %d: loss %.9g vs %.9g", step, sa.loss,
                  sb.loss);
    }
    cr_expect(memcmp(a.model.params, b.model.params, sizeof(float) * a.model.n_params) == 0,
              "the same trunk after 3 steps");
    cr_expect(memcmp(a.head, b.head, sizeof(float) * a.n_head) == 0, "the same head");
    gc_rng rr[3];
    cr_expect_neq(
        gc_dist_rm_step(&d, &b, &z, &ho, &tree, tok, P, T, plen, len, &con, rr, 3, &o, NULL), GC_OK,
        "3 parts: not a power of two");
    cr_expect_neq(
        gc_dist_rm_step(&d, &b, &z, &ho, &tree, tok, P, T, plen, len, &con, rr, 2, &o, NULL), GC_OK,
        "2 parts on one rank: the tree holds one push");
    gc_adamw other;
    cr_assert_eq(gc_adamw_init(&other, b.n_head + 1, 0.9f, 0.95f, 1e-8f, 0), GC_OK);
    cr_expect_neq(
        gc_dist_rm_step(&d, &b, &z, &other, &tree, tok, P, T, plen, len, &con, rr, 1, &o, NULL),
        GC_OK, "a head optimizer of another size");
    gc_adamw_free(&other);
    gc_tree_free(&tree);
    gc_zero1_free(&z);
    gc_adamw_free(&ho);
    gc_rm_free(&a), gc_rm_free(&b);
}

/* the check program's weights file, and its stdout */
static unsigned char *run_check(const char *launcher, const char *mode, int parts, const char *tag,
                                size_t *n, char **out) {
    const char *bin = getenv("GCRM_DP_CHECK");
    char *path = th_tmp_path(tag), cmd[2048];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s %s %s --parts %d --steps 4 --out %s", launcher,
             bin, mode, parts, path);
    char *err;
    int rc = th_run(cmd, out, NULL, &err);
    cr_assert_eq(rc, 0, "%s: exit %d: %s", cmd, rc, err);
    free(err);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s wrote no %s", cmd, path);
    unsigned char *buf = malloc(1 << 20);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    remove(path);
    free(path);
    return buf;
}

Test(dist, two_mpi_ranks_equal_one_bit_for_bit, .timeout = 120) {
    const char *bin = getenv("GCRM_DP_CHECK");
    if (!bin || !*bin) cr_skip_test("GCRM_DP_CHECK is not set (make test sets it)");
    if (!gc_dist_has_mpi()) cr_skip_test("built without MPI (install libopenmpi-dev, rebuild)");
    /* as root (CI), two ranks on however many cores, and no cross-memory attach between them (it
     * needs ptrace rights some containers deny; shared memory copies instead) */
    const char *mpirun = "OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun --allow-run-as-root "
                         "--oversubscribe -np 2";
    char probe[256], *o, *e;
    snprintf(probe, sizeof probe, "%s true", mpirun);
    if (th_run(probe, &o, NULL, &e) != 0) {
        char why[300];
        snprintf(why, sizeof why, "%s", e);
        free(o), free(e);
        cr_skip_test("mpirun cannot start two ranks here: %s", why);
    }
    free(o), free(e);
    /* the language model and the goal-conditioned reward model (trunk and head) */
    for (int k = 0; k < 4; k++) {
        int parts = 2 << (k % 2);
        const char *mode = k < 2 ? "" : "--rm";
        size_t n1, n2;
        char *out1, *out2;
        unsigned char *w1 = run_check("", mode, parts, "dp1", &n1, &out1);
        unsigned char *w2 = run_check(mpirun, mode, parts, "dp2", &n2, &out2);
        cr_expect(strstr(out1, "world 1 ") && strstr(out2, "world 2 "), "%s\n%s", out1, out2);
        cr_expect(n1 > 10000 && n1 == n2, "%zu and %zu bytes of weights", n1, n2);
        cr_expect(memcmp(w1, w2, n1) == 0, "%s %d parts: two ranks' weights differ from one rank's",
                  mode, parts);
        /* the same losses printed, step by step (after the world's size) */
        cr_expect(strncmp(out1, out2, strcspn(out1, "w")) == 0, "%s\n%s", out1, out2);
        cr_expect(strstr(out2, "slice "), "%s", out2);
        free(w1), free(w2), free(out1), free(out2);
    }
}
