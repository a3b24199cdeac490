/* gcrm-bench-gpu: training throughput and model FLOPs utilisation (MFU) of the CUDA backend, next
 * to the cuBLAS GEMM ceiling measured in the same run; one JSON object per line on stdout, a table
 * on stderr.
 *
 *   gcrm-bench-gpu [--configs 125m,1b] [--precisions bf16,tf32] [--steps S] [--warmup W]
 *                  [--batch B] [--seq T] [--emulate]
 *
 * A training step is gc_lm_step on the backend: forward, cross-entropy, backward, gradient
 * clipping, AdamW. Model FLOPs per token = 6 N + 12 L D T (N: the matmul parameters, classifier
 * included, embedding lookup excluded; the second term the attention score and value products,
 * counted over the full T x T as the kernels compute them: nanoGPT's and PaLM's convention).
 * MFU = achieved model FLOP/s / the datasheet dense peak of an H200 SXM: bf16 989.4 TFLOP/s, TF32
 * 494.7 TFLOP/s. The GEMM ceiling is the best of cuBLAS 8192^3 products in that precision.
 * After the timed steps, one more step runs with every op timed (gc_cuda_profile: each op waits
 * for the device at both ends) and its breakdown by op is printed: where the time goes.
 * --emulate runs a tiny config on the host emulation (a check of this program, not a measurement).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_api.h"
#include "lib/model/model.h"
#include "lib/model/optim.h"
#include "lib/util/flags.h"
#include "lib/util/rng.h"
#include "lib/model/train.h"

static const double PEAK_TFLOPS[3] = {66.9, 494.7, 989.4}; /* H200 SXM dense: fp32, TF32, bf16 */

typedef struct {
    const char *name;
    gc_model_config cfg;
    int B, T;
} bench_config;

/* an untied Llama shape with RMSNorm epsilon 1e-5 and no rotary scaling */
#define SHAPE(D, H, L, NH, NKV, V, T, THETA)                                                       \
    {                                                                                              \
        .dim = D, .hidden_dim = H, .n_layers = L, .n_heads = NH, .n_kv_heads = NKV,                \
        .vocab_size = V, .seq_len = T, .norm_eps = 1e-5f, .rope_theta = THETA                      \
    }

static const bench_config CONFIGS[] = {
    /* Llama-style, about 134M parameters with an untied classifier (GPT-2 small's shape) */
    {"125m", SHAPE(768, 2048, 12, 12, 12, 32000, 1024, 10000.0f), 16, 1024},
    /* Llama-3.2-1B's shape with a 32000 vocabulary: about 1.1B parameters */
    {"1b", SHAPE(2048, 8192, 16, 32, 8, 32000, 1024, 500000.0f), 8, 1024},
    /* for --emulate */
    {"tiny", SHAPE(32, 64, 2, 4, 2, 64, 16, 10000.0f), 2, 16},
};

/* best TFLOP/s of an n^3 GEMM through cuBLAS at precision p (bf16 operands pre-rounded) */
static double gemm_ceiling(gc_cuda *c, gc_precision p, int n, int reps) {
    size_t nn = (size_t)n * n, esz = p == GC_PREC_BF16 ? 2 : 4;
    void *A = gc_cuda_alloc(c, nn * esz), *B = gc_cuda_alloc(c, nn * esz);
    float *C = gc_cuda_alloc(c, nn * sizeof(float));
    double best = 0;
    if (A && B && C)
        for (int r = 0; r < reps; r++) {
            gc_cuda_sync(c);
            double t0 = gc_now();
            gc_status s =
                gc_cuda_gemm_ex(c, p, 0, 1, n, n, n, 1.0f, (gc_operand){A, p == GC_PREC_BF16}, n, 0,
                                (gc_operand){B, p == GC_PREC_BF16}, n, 0, 0.0f, C, n, 0, 1);
            gc_cuda_sync(c);
            double dt = gc_now() - t0;
            if (s != GC_OK) break;
            if (r > 0 && 2.0 * n * nn / dt / 1e12 > best)
                best = 2.0 * n * nn / dt / 1e12; /* r = 0 warms up */
        }
    gc_cuda_free(c, A), gc_cuda_free(c, B), gc_cuda_free(c, C);
    return best;
}

/* cheap deterministic weights: uniform in +-0.02 * sqrt(3) (std 0.02), norms 1 */
static void fill_weights(gc_model *m) {
    for (int t = 0; t < GC_N_TENSORS; t++) {
        float *x = m->params + m->tensors[t].offset;
        size_t n = m->tensors[t].size;
        uint64_t h = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1);
        for (size_t i = 0; i < n; i++) {
            h ^= h << 13, h ^= h >> 7, h ^= h << 17;
            x[i] = m->tensors[t].decay ? 0.0346f * ((float)(h >> 40) / (float)(1 << 24) * 2 - 1)
                                       : 1.0f;
        }
    }
}

static double flops_per_token(const gc_model_config *c, int T) {
    double D = c->dim, H = c->hidden_dim, L = c->n_layers,
           KV = (double)c->n_kv_heads * (D / c->n_heads);
    double n = L * (D * (D + 2 * KV) + D * D + 2 * H * D + H * D) + (double)c->vocab_size * D;
    return 6 * n + 12 * L * D * T;
}

static int run_config(gc_cuda *c, const bench_config *bc, gc_precision p, int steps, int warmup,
                      int B, int T, double ceiling) {
    const gc_backend *be;
    if (gc_cuda_backend(c, p, &be) != GC_OK) return 1;
    gc_model m;
    gc_model_config cfg = bc->cfg;
    if (T > cfg.seq_len) cfg.seq_len = T;
    if (gc_model_init(&m, &cfg) != GC_OK) return 1;
    fill_weights(&m);
    gc_model_set_backend(&m, be);
    gc_adamw opt;
    if (gc_adamw_init(&opt, m.n_params, 0.9f, 0.95f, 1e-8f, 0.1f) != GC_OK) return 1;
    int32_t *tok = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    gc_rng r;
    gc_rng_init(&r, 1, 0);
    for (int i = 0; i < B * T; i++)
        tok[i] = (int32_t)gc_rng_below(&r, (uint32_t)cfg.vocab_size);
    for (int i = 0; i < B * T; i++)
        tgt[i] = i % T == T - 1 ? -1 : tok[i + 1];
    gc_schedule sched = {
        .lr_max = 1e-4f, .lr_min = 1e-4f, .warmup = 0, .total = 1 << 30, .clip = 1.0f};
    double total = 0, best = 1e30;
    float loss = 0;
    gc_status s = GC_OK;
    for (int i = 0; i < warmup + steps && s == GC_OK; i++) {
        gc_cuda_sync(c);
        double t0 = gc_now();
        s = gc_lm_step(&m, &opt, &sched, tok, tgt, B, T, NULL, &loss, NULL);
        gc_cuda_sync(c);
        double dt = gc_now() - t0;
        if (i >= warmup) total += dt, best = dt < best ? dt : best;
    }
    if (s != GC_OK) {
        fprintf(stderr, "bench-gpu: %s %s: %s\n", bc->name, gc_precision_name(p), gc_last_error());
        return 1;
    }
    double step = total / steps, tps = B * T / step, fpt = flops_per_token(&cfg, T);
    double tflops = tps * fpt / 1e12, peak = PEAK_TFLOPS[p];
    printf("{\"bench\": \"train\", \"config\": \"%s\", \"precision\": \"%s\", \"params\": %zu, "
           "\"batch\": %d, \"seq\": %d, \"steps\": %d, \"step_s\": %.5f, \"best_step_s\": %.5f, "
           "\"tokens_per_s\": %.1f, \"model_flops_per_token\": %.4g, \"tflops\": %.2f, "
           "\"peak_tflops\": %.1f, \"mfu\": %.4f, \"gemm_ceiling_tflops\": %.2f, "
           "\"share_of_ceiling\": %.4f, \"loss\": %.4f}\n",
           bc->name, gc_precision_name(p), m.n_params, B, T, steps, step, best, tps, fpt, tflops,
           peak, peak > 0 ? tflops / peak : 0, ceiling, ceiling > 0 ? tflops / ceiling : 0, loss);
    fprintf(stderr,
            "%-6s %-5s %6.0fM params  B %-3d T %-5d %9.0f tokens/s  %7.1f TFLOP/s  MFU %5.1f%%  "
            "(%5.1f%% of the measured GEMM ceiling %.1f)\n",
            bc->name, gc_precision_name(p), m.n_params / 1e6, B, T, tps, tflops,
            peak > 0 ? 100 * tflops / peak : 0, ceiling > 0 ? 100 * tflops / ceiling : 0, ceiling);
    /* one more step with every op timed (each waits for the device): where the time goes */
    gc_cuda_profile(c, 1);
    double t0 = gc_now();
    s = gc_lm_step(&m, &opt, &sched, tok, tgt, B, T, NULL, &loss, NULL);
    gc_cuda_sync(c);
    double prof_step = gc_now() - t0;
    gc_cuda_profile(c, 0);
    const char *names[48];
    double secs[48];
    long calls[48];
    int n = gc_cuda_profile_read(c, names, secs, calls, 48);
    printf("{\"bench\": \"profile\", \"config\": \"%s\", \"precision\": \"%s\", \"step_s\": %.5f, "
           "\"ops\": {",
           bc->name, gc_precision_name(p), prof_step);
    for (int i = 0; i < n; i++)
        printf("%s\"%s\": {\"s\": %.6f, \"calls\": %ld}", i ? ", " : "", names[i], secs[i],
               calls[i]);
    printf("}}\n");
    fprintf(stderr, "  profiled step %.3f s:", prof_step);
    for (int i = 0; i < n; i++)
        if (secs[i] > 0.02 * prof_step)
            fprintf(stderr, " %s %.0f%%", names[i], 100 * secs[i] / prof_step);
    fprintf(stderr, "\n");
    fflush(stdout);
    free(tok), free(tgt);
    gc_adamw_free(&opt);
    gc_model_free(&m);
    return 0;
}

static const char HELP[] =
    "usage: gcrm-bench-gpu [--configs 125m,1b,tiny] [--precisions bf16,tf32,fp32] [--steps N]\n"
    "                      [--warmup N] [--batch B] [--seq T] [--emulate]\n"
    "CUDA training tokens/s and MFU per model and precision, next to the cuBLAS GEMM ceiling;\n"
    "one JSON line per measurement. --emulate runs the host emulation (no GPU; the tiny config).\n";

int main(int argc, char **argv) {
    /* every flag is checked before the device is touched */
    long steps = 5, warmup = 2, batch = 0, seq = 0;
    int emulate = 0, help = 0;
    const char *configs = NULL, *precisions = "bf16,tf32";
    const gc_flag flags[] = {
        {"steps", GC_FLAG_INT, &steps, 1, 100000, NULL, 0},
        {"warmup", GC_FLAG_INT, &warmup, 0, 100000, NULL, 0},
        {"batch", GC_FLAG_INT, &batch, 0, 1 << 20, NULL, 0},
        {"seq", GC_FLAG_INT, &seq, 0, 1 << 20, NULL, 0},
        {"configs", GC_FLAG_STRING, &configs, 0, 0, NULL, 0},
        {"precisions", GC_FLAG_STRING, &precisions, 0, 0, NULL, 0},
        {"emulate", GC_FLAG_SWITCH, &emulate, 0, 0, NULL, 0},
        {"help", GC_FLAG_SWITCH, &help, 0, 0, NULL, 0},
    };
    int rc = gc_flags_parse("gcrm-bench-gpu", argc, argv, flags,
                            (int)(sizeof flags / sizeof flags[0]), NULL, 0, NULL);
    if (rc) return rc;
    if (help) return fputs(HELP, stdout), 0;
    const bench_config *cfgs[8];
    gc_precision precs[3];
    int n_cfg = 0, n_prec = 0;
    char list[128];
    snprintf(list, sizeof list, "%s", configs ? configs : emulate ? "tiny" : "125m,1b");
    for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
        const bench_config *bc = NULL;
        for (size_t i = 0; i < sizeof CONFIGS / sizeof CONFIGS[0]; i++)
            if (!strcmp(CONFIGS[i].name, name)) bc = &CONFIGS[i];
        if (!bc || n_cfg == 8) {
            fprintf(stderr, "bench-gpu: unknown config '%s' (125m, 1b, tiny; 8 at most)\n", name);
            return 2;
        }
        cfgs[n_cfg++] = bc;
    }
    snprintf(list, sizeof list, "%s", precisions);
    for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
        if (n_prec == 3 || gc_precision_parse(name, &precs[n_prec]) != GC_OK) {
            fprintf(stderr, "bench-gpu: bad precision '%s' (fp32, tf32, bf16; 3 at most)\n", name);
            return 2;
        }
        n_prec++;
    }
    char why[256];
    gc_cuda *c;
    if (emulate) {
        if (gc_cuda_open_emulated(&c) != GC_OK) {
            fprintf(stderr, "bench-gpu: %s\n", gc_last_error());
            return 1;
        }
    } else if (gc_cuda_devices(why, sizeof why) == 0 || gc_cuda_open(&c) != GC_OK) {
        fprintf(stderr, "bench-gpu: needs an NVIDIA GPU: %s\n",
                gc_cuda_devices(why, sizeof why) ? gc_last_error() : why);
        return 1;
    }
    char desc[256] = "host emulation";
    if (!emulate) gc_cuda_describe(desc, sizeof desc);
    printf("{\"bench\": \"device\", \"device\": \"%s\"}\n", desc);
    rc = 0;
    for (int k = 0; k < n_prec; k++) {
        gc_precision p = precs[k];
        double ceiling = gemm_ceiling(c, p, emulate ? 32 : 8192, emulate ? 2 : 6);
        printf("{\"bench\": \"gemm\", \"precision\": \"%s\", \"n\": %d, \"tflops\": %.2f, "
               "\"peak_tflops\": %.1f}\n",
               gc_precision_name(p), emulate ? 32 : 8192, ceiling, PEAK_TFLOPS[p]);
        fprintf(stderr, "cuBLAS %s GEMM ceiling: %.1f TFLOP/s (datasheet peak %.1f)\n",
                gc_precision_name(p), ceiling, PEAK_TFLOPS[p]);
        for (int i = 0; i < n_cfg; i++)
            rc |= run_config(c, cfgs[i], p, (int)steps, (int)warmup,
                             batch ? (int)batch : cfgs[i]->B, seq ? (int)seq : cfgs[i]->T, ceiling);
    }
    gc_cuda_close(c);
    return rc;
}
