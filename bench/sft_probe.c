/* gcrm-sft-probe: does a policy learn a mini domain? Supervised fine-tuning of a fresh model on a
 * domain's training split with the loss printed every --every steps, then greedy accuracy on each
 * of the domain's evaluation splits and a few greedy solutions. A quick instrument for choosing a
 * domain's format and a policy's size before a pilot (docs/pilots.md); it runs the same SFT as
 * the math pipeline's policy stage (batches drawn as a pure function of (seed, step), warm-up,
 * cosine to lr/10, clipping at 1) without the stage cache.
 *
 *   gcrm-sft-probe --domain graph --steps 3000 --lr 5e-3 --dim 64 --layers 4
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/seqset.h"
#include "lib/tasks/mathpipe.h"
#include "lib/tasks/task.h"
#include "lib/util/flags.h"
#include "lib/util/rng.h"

int main(int argc, char **argv) {
    char domain[16] = "graph";
    long steps = 3000, dim = 64, layers = 4, heads = 4, batch = 32, seq = 256, every = 250;
    long n_train = 16000, n_eval = 100, show = 3, seed = 1;
    double lr = 5e-3;
    int help = 0, untied = 0;
    const gc_flag flags[] = {
        {"domain", GC_FLAG_CHOICE, domain, 0, 0, "arith|graph", sizeof domain},
        {"steps", GC_FLAG_INT, &steps, 1, 1e7, NULL, 0},
        {"lr", GC_FLAG_FLOAT, &lr, 1e-6, 1, NULL, 0},
        {"dim", GC_FLAG_INT, &dim, 8, 4096, NULL, 0},
        {"layers", GC_FLAG_INT, &layers, 1, 64, NULL, 0},
        {"heads", GC_FLAG_INT, &heads, 1, 64, NULL, 0},
        {"batch", GC_FLAG_INT, &batch, 1, 4096, NULL, 0},
        {"seq-len", GC_FLAG_INT, &seq, 16, 8192, NULL, 0},
        {"every", GC_FLAG_INT, &every, 1, 1e7, NULL, 0},
        {"train", GC_FLAG_INT, &n_train, 1, 1e7, NULL, 0},
        {"eval", GC_FLAG_INT, &n_eval, 1, 1e5, NULL, 0},
        {"show", GC_FLAG_INT, &show, 0, 100, NULL, 0},
        {"seed", GC_FLAG_INT, &seed, 0, 1e12, NULL, 0},
        {"untied", GC_FLAG_SWITCH, &untied, 0, 0, NULL, 0},
        {"help", GC_FLAG_SWITCH, &help, 0, 0, NULL, 0},
    };
    int rc = gc_flags_parse("gcrm-sft-probe", argc, argv, flags, sizeof flags / sizeof *flags, NULL,
                            0, NULL);
    if (rc) return rc;
    if (help) {
        printf("usage: gcrm-sft-probe [--domain arith|graph] [--steps N] [--lr X] [--dim D]\n"
               "       [--layers L] [--heads H] [--batch B] [--seq-len T] [--every N]\n"
               "       [--train N] [--eval N] [--show N] [--seed S] [--untied]\n"
               "The model is the math pipeline's policy (tied embeddings, hidden 8/3 of dim);\n"
               "--untied gives it a classifier of its own.\n");
        return 0;
    }
    if (dim % heads) return gc_flags_usage_error("gcrm-sft-probe", "--dim must divide by --heads");
    int graph = !strcmp(domain, "graph");
    int splits[5], ns = 5;
    for (int k = 0; k < ns; k++)
        splits[k] = (graph ? GC_GRAPH_EASY : GC_ARITH_EASY) + k;
    gc_problem *train, *eval;
    if (gc_task_make_sets((uint64_t)seed, (int)n_train, (int)n_eval, splits, ns, &train, &eval))
        return 1;
    int L = (int)seq, ne = (int)n_eval;
    gc_seqset data;
    if (gc_math_sft_set(train, (int)n_train, L, &data)) {
        fprintf(stderr, "gcrm-sft-probe: %s\n", gc_last_error());
        return 1;
    }
    gc_model_config mc = {(int32_t)dim,
                          (int32_t)(dim * 8 / 3),
                          (int32_t)layers,
                          (int32_t)heads,
                          (int32_t)heads,
                          128,
                          L,
                          !untied,
                          1e-5f,
                          10000.0f};
    gc_model m;
    if (gc_model_init(&m, &mc)) return 1;
    gc_model_init_random(&m, (uint64_t)seed);
    printf("# %s domain, %zu parameters, %ld steps of %ld, lr %g\n", domain, m.n_params, steps,
           batch, lr);
    gc_sft_config sc = {.steps = (int)steps,
                        .batch = (int)batch,
                        .sched = {(float)lr, (float)lr / 10, 40, steps, 1.0f},
                        .seed = (uint64_t)seed,
                        .log_every = (int)every};
    fflush(stdout);
    if (gc_sft_train(&m, &data, &sc, NULL)) return 1;
    const char **qs = malloc(sizeof(char *) * ns * ne);
    char **out = malloc(sizeof(char *) * ns * ne);
    for (int i = 0; i < ns * ne; i++)
        qs[i] = eval[i].question;
    gc_sample_config gs = {.temperature = 0, .top_p = 1, .seed = 1, .max_len = L - 8, .batch = 32};
    if (gc_math_sample(&m, qs, ns * ne, 1, &gs, out, NULL)) return 1;
    for (int k = 0; k < ns; k++) {
        int ok = 0;
        for (int i = 0; i < ne; i++)
            ok += gc_task_check(out[k * ne + i], eval[k * ne + i].answer);
        printf("%-11s greedy accuracy %.3f (%d of %d)\n", gc_task_split_name(splits[k]),
               ok / (double)ne, ok, ne);
    }
    for (int i = 0; i < show && i < ns; i++)
        printf("--\n%s%s", qs[i * ne + 1], out[i * ne + 1]);
    return 0;
}
