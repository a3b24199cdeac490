/* gcrm-dp-check: a small language model trained data-parallel (lib/dist/dist.h) for the test that
 * one rank and two ranks (mpirun -np 2) give the same weights bit for bit (tests/test_dist.c).
 *   gcrm-dp-check --parts P [--steps S] [--out FILE]
 * D 32, H 64, 2 layers, 4 heads / 2 kv heads, vocabulary 40, sequences of 16, a global batch of 8
 * windows of a seeded random token stream drawn per step (gc_lm_batch), clipping at 1.0, AdamW
 * sharded across the ranks. Rank 0 writes the final parameters (raw fp32) to FILE and prints one
 * line per step: the loss, and the world's size and this rank's optimizer slice. */
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
    const gc_flag flags[] = {{"parts", GC_FLAG_INT, &parts, 1, 64, NULL, 0},
                             {"steps", GC_FLAG_INT, &steps, 1, 1000, NULL, 0},
                             {"out", GC_FLAG_STRING, &out, 0, 0, NULL, 0}};
    int rc = gc_flags_parse("gcrm-dp-check", argc, argv, flags, 3, NULL, 0, NULL);
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
    for (long step = 0; s == GC_OK && step < steps; step++) {
        float loss;
        s = gc_lm_batch(data, N_DATA, B, T, 99, step, tokens, targets);
        if (s == GC_OK)
            s = gc_dist_lm_step(&d, &m, &z, &tree, tokens, targets, B, T, (int)parts, 1.0f, 3e-3f,
                                &loss);
        if (s == GC_OK && d.rank == 0)
            printf("step %ld loss %.9g world %d slice %zu of %zu\n", step, (double)loss, d.size,
                   z.hi - z.lo, m.n_params);
    }
    if (s == GC_OK && d.rank == 0 && out) {
        gc_atomic_file af;
        s = gc_atomic_open(&af, out);
        if (s == GC_OK) s = gc_atomic_write(&af, m.params, sizeof(float) * m.n_params);
        if (s == GC_OK) s = gc_atomic_commit(&af);
    }
    if (s != GC_OK) fprintf(stderr, "gcrm-dp-check (rank %d): %s\n", d.rank, gc_last_error());
    gc_tree_free(&tree);
    gc_zero1_free(&z);
    gc_model_free(&m);
    gc_dist_finalize(&d);
    return s == GC_OK ? 0 : 1;
}
