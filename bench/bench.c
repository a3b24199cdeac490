/* gcrm-bench: raw measurements for `make bench`, one JSON object per line on stdout.
 *   gcrm-bench sgemm [--size N]                         OpenBLAS sgemm GFLOP/s (best of sizes)
 *   gcrm-bench train --dim D --hidden H --layers L --heads NH --kv-heads NKV --vocab V
 *                    --seq T --batch B [--steps S] [--warmup W]   training tokens/s
 *   gcrm-bench generate --checkpoint FILE [--steps N]  KV-cache decoding tokens/s
 * bench/bench.py runs these next to PyTorch and prints the comparison table. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "lib/model/backend_prof.h"
#include "lib/model/ckpt.h"
#include "lib/model/model.h"
#include "lib/model/ops.h"
#include "lib/model/optim.h"
#include "lib/util/flags.h"
#include "lib/util/rng.h"
#include "lib/model/sampler.h"
#include "lib/model/train.h"

/* Reads a mode's flags (gc_flags_parse); 0, or the usage error's exit code. */
static int parse(const char *mode, int argc, char **argv, const gc_flag *flags, int n) {
    char prog[64];
    snprintf(prog, sizeof prog, "gcrm-bench %s", mode);
    return gc_flags_parse(prog, argc, argv, flags, n, NULL, 0, NULL);
}

/* Best single-call time over repetitions, for each size and both layouts the model uses
 * (x W^T in the forward, dy W and dy^T x in the backward): the machine's practical matmul peak. */
static int bench_sgemm(int argc, char **argv) {
    long sizes[] = {256, 512, 1024, 2048}, only = 0;
    const gc_flag flags[] = {{"size", GC_FLAG_INT, &only, 1, 16384, NULL, 0}};
    int rc = parse("sgemm", argc, argv, flags, 1);
    if (rc) return rc;
    double best = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        long n = only ? only : sizes[s];
        float *A = malloc(sizeof(float) * n * n), *B = malloc(sizeof(float) * n * n);
        float *C = malloc(sizeof(float) * n * n);
        for (long i = 0; i < n * n; i++)
            A[i] = B[i] = (float)(i % 7) * 0.1f;
        int reps = n <= 512 ? 50 : n <= 1024 ? 10 : 4;
        for (int layout = 0; layout < 2; layout++) {
            CBLAS_TRANSPOSE tb = layout ? CblasNoTrans : CblasTrans;
            double fastest = 1e30;
            for (int r = 0; r < reps + 1; r++) {
                double t0 = gc_now();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, n, n, n, 1, A, n, B, n, 0, C, n);
                double dt = gc_now() - t0;
                if (r > 0 && dt < fastest) fastest = dt; /* first call warms up */
            }
            double gf = 2.0 * n * n * n / fastest / 1e9;
            printf("{\"kind\": \"sgemm\", \"n\": %ld, \"layout\": \"%s\", \"gflops\": %.2f}\n", n,
                   layout ? "NN" : "NT", gf);
            if (gf > best) best = gf;
        }
        free(A), free(B), free(C);
    }
    printf("{\"kind\": \"sgemm_peak\", \"gflops\": %.2f, \"threads\": %d}\n", best,
           omp_get_max_threads());
    return 0;
}

/* one JSON line: each op's share of the profiled wall time `total` (seconds), largest first, and
 * what the ops leave (the model's own loops, copies, threading) */
static void print_profile(const char *what, size_t params, const gc_backend_prof *p, double total,
                          int steps) {
    int idx[GC_PROF_OPS], n = 0;
    double ops = 0;
    for (int i = 0; i < GC_PROF_OPS; i++)
        if (p->calls[i]) idx[n++] = i, ops += p->sec[i];
    for (int i = 1; i < n; i++) /* insertion sort by time, largest first */
        for (int j = i; j > 0 && p->sec[idx[j]] > p->sec[idx[j - 1]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1], idx[j - 1] = t;
        }
    printf("{\"kind\": \"profile\", \"what\": \"%s\", \"params\": %zu, \"step_s\": %.6f, "
           "\"shares\": {",
           what, params, total / steps);
    for (int k = 0; k < n; k++)
        printf("%s\"%s\": %.4f", k ? ", " : "", gc_backend_prof_name(idx[k]),
               p->sec[idx[k]] / total);
    printf("%s\"other\": %.4f}, \"threads\": %d}\n", n ? ", " : "", 1 - ops / total,
           omp_get_max_threads());
}

static int bench_train(int argc, char **argv) {
    long dim = 128, hidden = 344, layers = 5, heads = 4, kv_heads = 4, vocab = 512, seq = 128;
    long batch = 16, n_steps = 10, warmup = 2;
    const gc_flag flags[] = {
        {"dim", GC_FLAG_INT, &dim, 2, 65536, NULL, 0},
        {"hidden", GC_FLAG_INT, &hidden, 1, 262144, NULL, 0},
        {"layers", GC_FLAG_INT, &layers, 1, 1024, NULL, 0},
        {"heads", GC_FLAG_INT, &heads, 1, 1024, NULL, 0},
        {"kv-heads", GC_FLAG_INT, &kv_heads, 1, 1024, NULL, 0},
        {"vocab", GC_FLAG_INT, &vocab, 2, 1 << 24, NULL, 0},
        {"seq", GC_FLAG_INT, &seq, 2, 1 << 20, NULL, 0},
        {"batch", GC_FLAG_INT, &batch, 1, 1 << 16, NULL, 0},
        {"steps", GC_FLAG_INT, &n_steps, 1, 1 << 20, NULL, 0},
        {"warmup", GC_FLAG_INT, &warmup, 0, 1 << 20, NULL, 0},
    };
    int rc = parse("train", argc, argv, flags, (int)(sizeof flags / sizeof flags[0]));
    if (rc) return rc;
    gc_model_config c = {.dim = (int)dim,
                         .hidden_dim = (int)hidden,
                         .n_layers = (int)layers,
                         .n_heads = (int)heads,
                         .n_kv_heads = (int)kv_heads,
                         .vocab_size = (int)vocab,
                         .seq_len = (int)seq,
                         .tied = 1,
                         .norm_eps = 1e-5f,
                         .rope_theta = 10000.0f};
    int B = (int)batch, T = c.seq_len, steps = (int)n_steps, warm = (int)warmup;
    gc_model m;
    gc_adamw opt;
    if (gc_model_init(&m, &c) != GC_OK ||
        gc_adamw_init(&opt, m.n_params, 0.9f, 0.95f, 1e-8f, 0.0f) != GC_OK) {
        fprintf(stderr, "gcrm-bench: %s\n", gc_last_error());
        return 1;
    }
    gc_model_init_random(&m, 1);
    size_t n_data = (size_t)B * T * 4 + 1;
    int32_t *data = malloc(sizeof(int32_t) * n_data), *tok = malloc(sizeof(int32_t) * B * T);
    int32_t *tgt = malloc(sizeof(int32_t) * B * T);
    gc_rng r;
    gc_rng_init(&r, 3, 3);
    for (size_t i = 0; i < n_data; i++)
        data[i] = (int32_t)gc_rng_below(&r, (uint32_t)c.vocab_size);
    gc_schedule s = {.lr_max = 1e-3f, .lr_min = 1e-4f, .warmup = 2, .total = 1000, .clip = 1.0f};
    double t0 = 0, mm0 = 0;
    float loss = 0;
    for (int step = 0; step < warm + steps; step++) {
        if (step == warm) {
            t0 = gc_now();
            gc_ops_matmul_seconds_reset();
            mm0 = 0;
        }
        gc_lm_batch(data, n_data, B, T, 1, step, tok, tgt);
        if (gc_lm_step(&m, &opt, &s, tok, tgt, B, T, NULL, &loss, NULL) != GC_OK) {
            fprintf(stderr, "gcrm-bench: %s\n", gc_last_error());
            return 1;
        }
    }
    double el = gc_now() - t0, mm = gc_ops_matmul_seconds() - mm0;
    /* the per-op profile: three more steps with every op timed, after one untimed step on the
     * timing backend (setting a backend reallocates the activations, and a first step's page
     * faults would land on whichever ops first write each buffer) */
    gc_backend_prof prof;
    gc_backend_prof_init(&prof, m.be);
    if (gc_model_set_backend(&m, &prof.be) != GC_OK) {
        fprintf(stderr, "gcrm-bench: %s\n", gc_last_error());
        return 1;
    }
    double tp = 0;
    for (int step = warm + steps; step < warm + steps + 4; step++) {
        if (step == warm + steps + 1) gc_backend_prof_reset(&prof), tp = gc_now();
        gc_lm_batch(data, n_data, B, T, 1, step, tok, tgt);
        if (gc_lm_step(&m, &opt, &s, tok, tgt, B, T, NULL, &loss, NULL) != GC_OK) {
            fprintf(stderr, "gcrm-bench: %s\n", gc_last_error());
            return 1;
        }
    }
    double prof_el = gc_now() - tp;
    /* training FLOPs per token: 6 per parameter, plus attention scores and mixing
     * (QK^T and PV, forward and backward: 12 L T D on average over causal positions / 2) */
    double flops_tok = 6.0 * (double)m.n_params + 6.0 * c.n_layers * T * c.dim;
    double tps = (double)B * T * steps / el;
    printf(
        "{\"kind\": \"train\", \"impl\": \"gcrm\", \"params\": %zu, \"dim\": %d, \"layers\": %d, "
        "\"seq\": %d, \"batch\": %d, \"steps\": %d, \"tokens_per_s\": %.1f, \"gflops\": %.2f, "
        "\"matmul_share\": %.3f, \"final_loss\": %.4f, \"threads\": %d}\n",
        m.n_params, c.dim, c.n_layers, T, B, steps, tps, tps * flops_tok / 1e9, mm / el, loss,
        omp_get_max_threads());
    print_profile("train", m.n_params, &prof, prof_el, 3);
    gc_model_set_backend(&m, prof.in);
    free(data), free(tok), free(tgt);
    gc_adamw_free(&opt);
    gc_model_free(&m);
    return 0;
}

/* one pass of `steps` decoding steps over B sequences from token 1, each row sampling from its
 * own stream (as batched generation does) */
static gc_status decode_pass(gc_model *m, gc_kvcache *kc, gc_sampler *smp, gc_rng *rngs,
                             int32_t *token, int32_t *pos, int B, int steps) {
    for (int b = 0; b < B; b++)
        token[b] = 1, gc_rng_init(&rngs[b], 1, (uint64_t)b);
    for (int32_t t = 0; t < steps; t++) {
        for (int b = 0; b < B; b++)
            pos[b] = t;
        GC_TRY(gc_model_decode(m, kc, token, pos));
        for (int b = 0; b < B; b++)
            token[b] =
                gc_sampler_sample_rng(smp, kc->logits + (size_t)b * m->cfg.vocab_size, &rngs[b]);
    }
    return GC_OK;
}

static int bench_generate(int argc, char **argv) {
    const char *path = NULL;
    long n_steps = 256, n_batch = 1;
    const gc_flag flags[] = {{"checkpoint", GC_FLAG_STRING, &path, 0, 0, NULL, 0},
                             {"steps", GC_FLAG_INT, &n_steps, 1, 1 << 20, NULL, 0},
                             {"batch", GC_FLAG_INT, &n_batch, 1, 4096, NULL, 0}};
    int rc = parse("generate", argc, argv, flags, 3);
    if (rc) return rc;
    int steps = (int)n_steps, B = (int)n_batch;
    gc_model m;
    if (!path || gc_ckpt_load_any(path, &m) != GC_OK) {
        fprintf(stderr, "gcrm-bench generate: %s\n",
                path ? gc_last_error() : "--checkpoint needed");
        return 1;
    }
    if (steps > m.cfg.seq_len) steps = m.cfg.seq_len;
    gc_kvcache kc;
    gc_sampler smp;
    gc_backend_prof prof;
    int32_t *token = malloc(sizeof(int32_t) * B), *pos = malloc(sizeof(int32_t) * B);
    gc_rng *rngs = malloc(sizeof(gc_rng) * B);
    int reps = B > 1 ? 1 : 5;
    double el = 0, prof_el = 0;
    gc_status s = token && pos && rngs ? gc_kvcache_init(&kc, &m.cfg, B, steps) : GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_sampler_init(&smp, m.cfg.vocab_size, 1.0f, 1.0f, 1);
    if (s == GC_OK) {
        double t0 = gc_now();
        for (int rep = 0; s == GC_OK && rep < reps; rep++)
            s = decode_pass(&m, &kc, &smp, rngs, token, pos, B, steps);
        el = gc_now() - t0;
    }
    if (s == GC_OK && B == 1) { /* the per-op profile: every op timed, at batch 1 */
        gc_backend_prof_init(&prof, m.be);
        gc_kvcache_free(&kc); /* a cache belongs to the backend that filled it */
        s = gc_model_set_backend(&m, &prof.be);
        if (s == GC_OK) s = gc_kvcache_init(&kc, &m.cfg, 1, steps);
        /* two passes, the first untimed: the fresh cache's page faults */
        if (s == GC_OK) s = decode_pass(&m, &kc, &smp, rngs, token, pos, 1, steps);
        gc_backend_prof_reset(&prof);
        double tp = gc_now();
        if (s == GC_OK) s = decode_pass(&m, &kc, &smp, rngs, token, pos, 1, steps);
        prof_el = gc_now() - tp;
    }
    if (s != GC_OK) {
        fprintf(stderr, "gcrm-bench: %s\n", gc_last_error());
        return 1;
    }
    printf("{\"kind\": \"generate\", \"params\": %zu, \"batch\": %d, \"tokens\": %d, "
           "\"tokens_per_s\": %.1f, \"threads\": %d}\n",
           m.n_params, B, steps * B * reps, steps * B * reps / el, omp_get_max_threads());
    if (B == 1) {
        print_profile("decode", m.n_params, &prof, prof_el, steps);
        gc_model_set_backend(&m, prof.in);
    }
    gc_sampler_free(&smp);
    gc_kvcache_free(&kc);
    gc_model_free(&m);
    free(token), free(pos), free(rngs);
    return 0;
}

int main(int argc, char **argv) {
    gc_blas_select_kernels(argv);
    if (argc < 2) {
        fprintf(stderr, "usage: gcrm-bench sgemm|train|generate [options]\n");
        return 2;
    }
    if (!strcmp(argv[1], "sgemm")) return bench_sgemm(argc - 1, argv + 1);
    if (!strcmp(argv[1], "train")) return bench_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "generate")) return bench_generate(argc - 1, argv + 1);
    fprintf(stderr, "gcrm-bench: unknown mode '%s'\n", argv[1]);
    return 2;
}
