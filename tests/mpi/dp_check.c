/* gcrm-dp-check: a small language model, or a goal-conditioned reward model on the same trunk,
 * trained data-parallel (lib/dist/dist.h) for the test that one rank and two ranks (mpirun -np 2)
 * give the same weights bit for bit (tests/test_dist.c).
 *   gcrm-dp-check --parts P [--steps S] [--out FILE] [--rm]
 * D 32, H 64, 2 layers, 4 heads / 2 kv heads, vocabulary 40, sequences of 16, clipping at 1.0,
 * AdamW sharded across the ranks. Language model: a global batch of 8 windows of a seeded random
 * token stream drawn per step (gc_lm_batch). --rm: a linear reward head on the trunk, 8 pairs of
 * random sequences per step (prompts of 3 tokens, responses ending in a token that tells chosen
 * from rejected), lambda 0.5, K 4, the contrastive positions of part p drawn from a stream of
 * (step, p). Rank 0 writes the final parameters (raw fp32; the trunk, then the head) to FILE and
 * prints one line per step: the loss, and the world's size and this rank's optimizer slice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dist/dist.h"
#include "lib/model/train.h"
#include "lib/util/flags.h"
#include "lib/util/rng.h"

int main(int argc, char **argv) {
    long parts = 1, steps = 4;
    const char *out = NULL;
    int rm_mode = 0;
    const gc_flag flags[] = {{"parts", GC_FLAG_INT, &parts, 1, 64, NULL, 0},
                             {"steps", GC_FLAG_INT, &steps, 1, 1000, NULL, 0},
                             {"out", GC_FLAG_STRING, &out, 0, 0, NULL, 0},
                             {"rm", GC_FLAG_SWITCH, &rm_mode, 0, 0, NULL, 0}};
    int rc = gc_flags_parse("gcrm-dp-check", argc, argv, flags, 4, NULL, 0, NULL);
    if (rc) return rc;
    gc_dist d;
    gc_model m;
    gc_zero1 z;
    gc_tree tree;
    enum { B = 8, T = 16, N_DATA = 4096 };
    gc_model_config c = {.dim = 32,
                         .hidden_dim = 64,
                         .n_layers = 2,
                         .n_heads = 4,
                         .n_kv_heads = 2,
                         .vocab_size = 40,
                         .seq_len = T,
                         .tied = 0,
                         .norm_eps = 1e-5f,
                         .rope_theta = 10000.0f};
    static int32_t data[N_DATA], tokens[B * T], targets[B * T];
    gc_status s = gc_dist_init(&d);
    if (s == GC_OK) s = gc_model_init(&m, &c);
    if (s == GC_OK) s = gc_zero1_init(&z, &d, m.n_params, 0.9f, 0.95f, 1e-8f, 0.1f);
    if (s == GC_OK) s = gc_tree_init(&tree, m.n_params, (int)parts);
    gc_rng r;
    gc_rng_init(&r, 1234, 7);
    for (size_t i = 0; s == GC_OK && i < m.n_params; i++)
        m.params[i] = 0.2f * gc_rng_normal(&r);
    for (int i = 0; i < N_DATA; i++) /* a stream with structure: runs of rising tokens */
        data[i] = (int32_t)((i + gc_rng_below(&r, 3)) % c.vocab_size);
    /* --rm: the reward model takes the trunk over (m then lives in rm.model) */
    gc_rm rm;
    gc_adamw head_opt = {0};
    int has_rm = 0;
    if (s == GC_OK && rm_mode) {
        s = gc_rm_init(&rm, &m, GC_HEAD_LINEAR, 5);
        has_rm = s == GC_OK;
        if (s == GC_OK) s = gc_adamw_init(&head_opt, rm.n_head, 0.9f, 0.95f, 1e-8f, 0);
    }
    gc_model *mp = has_rm ? &rm.model : &m;
    gc_con_config con = {
        .lambda = 0.5f, .K = 4, .pairs = GC_PAIRS_ALL, .reduction = GC_RED_LOG_OF_MEAN};
    gc_rm_optim o = GC_RM_OPTIM_DEFAULT(3e-3f, 1.0f, 0.1f);
    enum { PAIRS = B };
    static int32_t pair_tok[2 * PAIRS * T];
    int plen[2 * PAIRS], len[2 * PAIRS];
    gc_rng rngs[64];
    for (long step = 0; s == GC_OK && step < steps; step++) {
        float loss;
        if (has_rm) {
            gc_rng dr;
            gc_rng_init(&dr, 99, (uint64_t)step);
            for (int b = 0; b < 2 * PAIRS; b++) {
                plen[b] = 3, len[b] = T - (b / 2) % 3;
                for (int t = 0; t < T; t++)
                    pair_tok[b * T + t] =
                        3 + (int32_t)gc_rng_below(&dr, (uint32_t)c.vocab_size - 3);
                pair_tok[b * T + len[b] - 1] = b % 2 ? 1 : 2;
            }
            for (int p = 0; p < parts; p++)
                gc_rng_init(&rngs[p], 4321, (uint64_t)step * 64 + (uint64_t)p);
            gc_rm_step_stats st;
            s = gc_dist_rm_step(&d, &rm, &z, &head_opt, &tree, pair_tok, PAIRS, T, plen, len, &con,
                                rngs, (int)parts, &o, &st);
            loss = st.loss;
        } else {
            s = gc_lm_batch(data, N_DATA, B, T, 99, step, tokens, targets);
            if (s == GC_OK)
                s = gc_dist_lm_step(&d, &m, &z, &tree, tokens, targets, B, T, (int)parts, 1.0f,
                                    3e-3f, &loss);
        }
        if (s == GC_OK && d.rank == 0)
            printf("step %ld loss %.9g world %d slice %zu of %zu\n", step, (double)loss, d.size,
                   z.hi - z.lo, mp->n_params);
    }
    if (s == GC_OK && d.rank == 0 && out) {
        gc_atomic_file af;
        s = gc_atomic_open(&af, out);
        if (s == GC_OK) s = gc_atomic_write(&af, mp->params, sizeof(float) * mp->n_params);
        if (s == GC_OK && has_rm) s = gc_atomic_write(&af, rm.head, sizeof(float) * rm.n_head);
        if (s == GC_OK) s = gc_atomic_commit(&af);
    }
    if (s != GC_OK) fprintf(stderr, "gcrm-dp-check (rank %d): %s\n", d.rank, gc_last_error());
    gc_tree_free(&tree);
    gc_zero1_free(&z);
    gc_adamw_free(&head_opt);
    if (has_rm)
        gc_rm_free(&rm);
    else
        gc_model_free(&m);
    gc_dist_finalize(&d);
    return s == GC_OK ? 0 : 1;
}
