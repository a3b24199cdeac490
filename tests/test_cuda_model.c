/* The CUDA backend (lib/model/backend.h, kernels/cuda_backend.cu) against the CPU model: whole
 * training steps (forward, cross-entropy, backward, clipping, AdamW), a reward-model step (the
 * hidden-state gradient path), KV-cache decoding and batched generation, a checkpoint written from
 * the device, and `replicate run --device cuda` end to end. On a GPU they run there; without one,
 * on the host emulation of the same kernels; in a build without nvcc they skip.
 *
 * Tolerances (relative to each tensor's scale, as test_cuda.c): fp32 losses 1e-5, parameters
 * after three AdamW steps 1e-4 (AdamW divides by sqrt(v): a tiny gradient difference moves a
 * parameter by up to lr); gradients 1e-4; hidden states and logits 1e-4; greedy tokens equal.
 * bf16: losses 2e-2, parameters 3e-2 of their scale after three steps. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_api.h"
#include "lib/model/ckpt.h"
#include "lib/model/generate.h"
#include "lib/util/jsonio.h"
#include "lib/model/optim.h"
#include "lib/rm/rm.h"
#include "lib/model/sampler.h"
#include "lib/model/train.h"
#include "lib/policy/beam.h"
#include "lib/policy/dpo.h"
#include "cuda_helpers.h"
#include "helpers.h"

enum { B = 3, T = 8 };

static const gc_backend *backend_or_skip(gc_cuda **c, gc_precision p) {
    *c = ch_open_or_skip();
    const gc_backend *be;
    cr_assert_eq(gc_cuda_backend(*c, p, &be), GC_OK, "%s", gc_last_error());
    return be;
}

/* two copies of the tiny model with the same weights, the second on the backend */
static void twin_models(gc_model *cpu, gc_model *dev, const gc_backend *be, int tied) {
    gc_model_config cfg = th_tiny_config(tied);
    cr_assert_eq(gc_model_init(cpu, &cfg), GC_OK);
    cr_assert_eq(gc_model_init(dev, &cfg), GC_OK);
    th_init_weights(cpu, 3);
    memcpy(dev->params, cpu->params, sizeof(float) * cpu->n_params);
    gc_model_set_backend(dev, be);
}

/* the handle, and twin models on it (a on the CPU, d on the backend at precision p) */
static gc_cuda *twins(gc_model *a, gc_model *d, gc_precision p, int tied) {
    gc_cuda *c;
    twin_models(a, d, backend_or_skip(&c, p), tied);
    return c;
}

static void twins_free(gc_cuda *c, gc_model *a, gc_model *d) {
    gc_model_free(a), gc_model_free(d);
    gc_cuda_close(c);
}

/* a padded batch: lengths 8, 5, 2; targets the next token, -1 past each length */
static void batch(int32_t *tok, int32_t *tgt, int *len, int V, int shift) {
    static const int L[B] = {8, 5, 2};
    for (int b = 0; b < B; b++) {
        len[b] = L[b];
        for (int t = 0; t < T; t++) {
            tok[b * T + t] = t < L[b] ? (b * 5 + t * 3 + shift) % V : 0;
            tgt[b * T + t] = t + 1 < L[b] ? (b * 5 + (t + 1) * 3 + shift) % V : -1;
        }
    }
}

static void training_steps_match(gc_precision p, double loss_tol, double param_tol) {
    gc_cuda *c;
    const gc_backend *be = backend_or_skip(&c, p);
    for (int tied = 0; tied < 2; tied++) {
        gc_model a, d;
        twin_models(&a, &d, be, tied);
        gc_adamw oa, od;
        cr_assert_eq(gc_adamw_init(&oa, a.n_params, 0.9f, 0.95f, 1e-8f, 0.1f), GC_OK);
        cr_assert_eq(gc_adamw_init(&od, d.n_params, 0.9f, 0.95f, 1e-8f, 0.1f), GC_OK);
        gc_schedule sched = {
            .lr_max = 1e-2f, .lr_min = 1e-3f, .warmup = 1, .total = 3, .clip = 0.5f};
        int32_t tok[B * T], tgt[B * T];
        int len[B];
        for (int step = 0; step < 3; step++) {
            batch(tok, tgt, len, a.cfg.vocab_size, step);
            float la, ld, na, nd;
            cr_assert_eq(gc_lm_step(&a, &oa, &sched, tok, tgt, B, T, len, &la, &na), GC_OK);
            cr_assert_eq(gc_lm_step(&d, &od, &sched, tok, tgt, B, T, len, &ld, &nd), GC_OK, "%s",
                         gc_last_error());
            cr_expect_lt(fabsf(ld - la) / la, loss_tol, "%s tied %d step %d: loss %.8g vs %.8g",
                         gc_precision_name(p), tied, step, ld, la);
            cr_expect_lt(fabsf(nd - na) / na, 10 * loss_tol,
                         "%s tied %d step %d: grad norm %.8g vs %.8g", gc_precision_name(p), tied,
                         step, nd, na);
        }
        cr_expect_eq(od.step, 3, "the device optimiser counts its steps");
        cr_assert_eq(gc_model_sync(&d, &od), GC_OK, "%s", gc_last_error());
        double e = ch_rel_err(d.params, a.params, a.n_params);
        cr_expect_lt(e, param_tol, "%s tied %d: parameters after 3 steps differ by %g",
                     gc_precision_name(p), tied, e);
        cr_expect_lt(ch_rel_err(od.v, oa.v, a.n_params), param_tol, "second moments");
        gc_adamw_free(&oa), gc_adamw_free(&od);
        gc_model_free(&a), gc_model_free(&d);
    }
    gc_cuda_close(c);
}

Test(cuda_model, fp32_training_steps_match_cpu) {
    training_steps_match(GC_PREC_FP32, 1e-5, 1e-4);
}
Test(cuda_model, tf32_training_steps_track_cpu) {
    training_steps_match(GC_PREC_TF32, 5e-3, 1e-2);
}
Test(cuda_model, bf16_training_steps_track_cpu) {
    training_steps_match(GC_PREC_BF16, 2e-2, 3e-2);
}

/* same seed, same losses: two runs of the same steps on the device agree bit for bit */
Test(cuda_model, device_training_is_deterministic) {
    gc_cuda *c;
    const gc_backend *be = backend_or_skip(&c, GC_PREC_BF16);
    float loss[2][4];
    gc_model m[2];
    for (int run = 0; run < 2; run++) {
        gc_model cpu;
        twin_models(&cpu, &m[run], be, 0);
        gc_model_free(&cpu);
        gc_adamw o;
        cr_assert_eq(gc_adamw_init(&o, m[run].n_params, 0.9f, 0.95f, 1e-8f, 0.1f), GC_OK);
        gc_schedule sched = {
            .lr_max = 1e-2f, .lr_min = 1e-3f, .warmup = 1, .total = 4, .clip = 0.5f};
        int32_t tok[B * T], tgt[B * T];
        int len[B];
        for (int step = 0; step < 4; step++) {
            batch(tok, tgt, len, m[run].cfg.vocab_size, step);
            cr_assert_eq(
                gc_lm_step(&m[run], &o, &sched, tok, tgt, B, T, len, &loss[run][step], NULL),
                GC_OK);
        }
        cr_assert_eq(gc_model_sync(&m[run], NULL), GC_OK);
        gc_adamw_free(&o);
    }
    cr_expect_eq(memcmp(loss[0], loss[1], sizeof loss[0]), 0, "losses differ between two runs");
    cr_expect_eq(memcmp(m[0].params, m[1].params, sizeof(float) * m[0].n_params), 0,
                 "weights differ");
    gc_model_free(&m[0]), gc_model_free(&m[1]);
    gc_cuda_close(c);
}

/* forward with host outputs, then backward from the cross-entropy plus a hidden-state gradient
 * (the reward model's path): hidden states, logits and every parameter gradient */
Test(cuda_model, gradients_with_a_hidden_state_term_match_cpu) {
    gc_model a, d;
    gc_cuda *c = twins(&a, &d, GC_PREC_FP32, 0);
    int32_t tok[B * T], tgt[B * T];
    int len[B];
    batch(tok, tgt, len, a.cfg.vocab_size, 1);
    float *dh = ch_randn((size_t)B * T * a.cfg.dim, 9, 0.5f), la, ld;
    gc_model *ms[2] = {&a, &d};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(gc_model_forward_len(ms[i], tok, B, T, len, GC_LOGITS_HOST), GC_OK, "%s",
                     gc_last_error());
        cr_assert_eq(gc_model_ce_loss(ms[i], tgt, 0.7f, i ? &ld : &la), GC_OK);
        cr_assert_eq(gc_model_zero_grad(ms[i]), GC_OK);
        cr_assert_eq(gc_model_backward(ms[i], dh), GC_OK, "%s", gc_last_error());
    }
    size_t nd = (size_t)B * T * a.cfg.dim, nv = (size_t)B * T * a.cfg.vocab_size;
    cr_expect_lt(fabsf(ld - la) / la, 1e-5, "loss %.8g vs %.8g", ld, la);
    for (int b = 0; b < B; b++) { /* real positions only: padding is meaningless on both */
        size_t o = (size_t)b * T;
        cr_expect_lt(
            ch_rel_err(d.hf + o * a.cfg.dim, a.hf + o * a.cfg.dim, (size_t)len[b] * a.cfg.dim),
            1e-4, "hidden states of sequence %d", b);
        cr_expect_lt(ch_rel_err(d.logits + o * a.cfg.vocab_size, a.logits + o * a.cfg.vocab_size,
                                (size_t)len[b] * a.cfg.vocab_size),
                     1e-4, "logits of sequence %d", b);
    }
    (void)nd, (void)nv;
    cr_assert_eq(gc_model_sync_grads(&d), GC_OK, "%s", gc_last_error());
    for (int t = 0; t < GC_N_TENSORS; t++) {
        const gc_tensor_info *ti = &a.tensors[t];
        cr_expect_lt(ch_rel_err(d.grads + ti->offset, a.grads + ti->offset, ti->size), 1e-4,
                     "gradient of %s", ti->name);
    }
    double sa, sd;
    cr_assert_eq(gc_model_grad_sumsq(&a, &sa), GC_OK);
    cr_assert_eq(gc_model_grad_sumsq(&d, &sd), GC_OK);
    cr_expect_lt(fabs(sd - sa) / sa, 1e-5, "gradient sum of squares %.10g vs %.10g", sd, sa);
    free(dh);
    twins_free(c, &a, &d);
}

/* DPO: a loss of the caller's on the logits (gc_model_logits_grad), uploaded and backpropagated
 * on the device */
Test(cuda_model, dpo_gradients_match_cpu) {
    gc_model a, d;
    gc_cuda *c = twins(&a, &d, GC_PREC_FP32, 1);
    int32_t tok[B * T], tgt[B * T];
    int len[B];
    batch(tok, tgt, len, a.cfg.vocab_size, 2);
    /* one pair (sequences 0 and 1; full length) with prompts of 2 and 3 tokens */
    int plen[2] = {2, 3}, full[2] = {T, T};
    double ref[2] = {-20.0, -22.0};
    gc_dpo_stats sa, sd;
    cr_assert_eq(gc_dpo_grad(&a, tok, 1, T, plen, full, ref, 0.5, 1, &sa), GC_OK, "%s",
                 gc_last_error());
    cr_assert_eq(gc_dpo_grad(&d, tok, 1, T, plen, full, ref, 0.5, 1, &sd), GC_OK, "%s",
                 gc_last_error());
    cr_expect_lt(fabs(sd.loss - sa.loss), 1e-5 * fabs(sa.loss), "loss %.8g vs %.8g", sd.loss,
                 sa.loss);
    cr_assert_eq(gc_model_sync_grads(&d), GC_OK, "%s", gc_last_error());
    for (int t = 0; t < GC_N_TENSORS; t++) {
        const gc_tensor_info *ti = &a.tensors[t];
        cr_expect_lt(ch_rel_err(d.grads + ti->offset, a.grads + ti->offset, ti->size), 1e-4,
                     "gradient of %s", ti->name);
    }
    (void)len, (void)tgt;
    twins_free(c, &a, &d);
}

/* gc_rm_step: preference loss on the head (host), contrastive loss on the hidden states, the
 * trunk's backward and AdamW on the device */
Test(cuda_model, reward_model_steps_match_cpu) {
    gc_model a, d;
    gc_cuda *c = twins(&a, &d, GC_PREC_FP32, 1);
    gc_rm ra, rd;
    cr_assert_eq(gc_rm_init(&ra, &a, GC_HEAD_LINEAR, 1), GC_OK);
    cr_assert_eq(gc_rm_init(&rd, &d, GC_HEAD_LINEAR, 1), GC_OK);
    enum { PP = 2 };
    int32_t tok[2 * PP * T];
    int plen[2 * PP], len[2 * PP];
    for (int b = 0; b < 2 * PP; b++) {
        for (int t = 0; t < T; t++)
            tok[b * T + t] = (b * 7 + t * 5) % 19;
        plen[b] = 2, len[b] = T - b % 3;
    }
    gc_con_config cc = {
        .lambda = 0.5f, .K = 3, .pairs = GC_PAIRS_ALL, .reduction = GC_RED_LOG_OF_MEAN};
    gc_rng r1, r2;
    gc_rng_init(&r1, 8, 8), gc_rng_init(&r2, 8, 8);
    gc_rm_optim opt = GC_RM_OPTIM_DEFAULT(3e-3f, 1.0f, 0.01f);
    for (int step = 0; step < 3; step++) {
        gc_rm_step_stats sa = {0}, sd = {0};
        cr_assert_eq(gc_rm_step(&ra, tok, PP, T, plen, len, &cc, &r1, &opt, &sa), GC_OK);
        cr_assert_eq(gc_rm_step(&rd, tok, PP, T, plen, len, &cc, &r2, &opt, &sd), GC_OK, "%s",
                     gc_last_error());
        cr_expect_lt(fabsf(sd.loss - sa.loss), 1e-5f * fmaxf(1.0f, fabsf(sa.loss)),
                     "step %d: loss %.8g vs %.8g", step, sd.loss, sa.loss);
        cr_expect_lt(fabsf(sd.con - sa.con), 1e-5f, "step %d: contrastive %.8g vs %.8g", step,
                     sd.con, sa.con);
    }
    char *ck = th_tmp_path("cuda-rm.ckpt"), *hd = th_tmp_path("cuda-rm.head");
    cr_assert_eq(gc_rm_save(&rd, ck, hd), GC_OK, "%s", gc_last_error()); /* syncs the trunk */
    cr_expect_lt(ch_rel_err(rd.model.params, ra.model.params, ra.model.n_params), 1e-4,
                 "trunk parameters after 3 steps");
    cr_expect_lt(ch_rel_err(rd.head, ra.head, ra.n_head), 1e-4, "head parameters after 3 steps");
    remove(ck), remove(hd), free(ck), free(hd);
    gc_rm_free(&ra), gc_rm_free(&rd);
    gc_cuda_close(c);
}

/* decoding step by step with the KV cache: rows at different positions, one inactive */
Test(cuda_model, kv_cache_decoding_matches_cpu) {
    gc_model a, d;
    gc_cuda *c = twins(&a, &d, GC_PREC_FP32, 0);
    gc_kvcache ka, kd;
    cr_assert_eq(gc_kvcache_init(&ka, &a.cfg, B, T), GC_OK);
    cr_assert_eq(gc_kvcache_init(&kd, &d.cfg, B, T), GC_OK);
    uint8_t active[B] = {1, 1, 1};
    for (int step = 0; step < T; step++) {
        int32_t tok[B], pos[B];
        for (int b = 0; b < B; b++)
            tok[b] = (b * 3 + step * 7) % 19, pos[b] = step;
        if (step == 5) active[1] = 0; /* a finished row: no attention, outputs not compared */
        ka.active = kd.active = active;
        cr_assert_eq(gc_model_decode(&a, &ka, tok, pos), GC_OK);
        cr_assert_eq(gc_model_decode(&d, &kd, tok, pos), GC_OK, "%s", gc_last_error());
        for (int b = 0; b < B; b++) {
            if (!active[b]) continue;
            size_t V = a.cfg.vocab_size;
            cr_expect_lt(ch_rel_err(kd.logits + b * V, ka.logits + b * V, V), 1e-4,
                         "step %d row %d: logits", step, b);
        }
    }
    gc_kvcache_free(&ka), gc_kvcache_free(&kd);
    twins_free(c, &a, &d);
}

/* batched generation: greedy and sampled tokens and the hidden states they were read from */
Test(cuda_model, batched_generation_matches_cpu) {
    gc_model a, d;
    gc_cuda *c = twins(&a, &d, GC_PREC_FP32, 1);
    int32_t p0[] = {1, 4}, p1[] = {1, 9, 3}, p2[] = {1};
    const int32_t *prompts[B] = {p0, p1, p2};
    int plen[B] = {2, 3, 1};
    for (int sampled = 0; sampled < 2; sampled++) {
        int32_t seq[2][B * T];
        int len[2][B];
        float *hid[2];
        gc_model *ms[2] = {&a, &d};
        for (int i = 0; i < 2; i++) {
            gc_sampler s;
            cr_assert_eq(gc_sampler_init(&s, a.cfg.vocab_size, sampled ? 1.0f : 0.0f, 1.0f, 5),
                         GC_OK);
            gc_rng rngs[B];
            for (int b = 0; b < B; b++)
                gc_rng_init(&rngs[b], 77, (uint64_t)b);
            hid[i] = calloc((size_t)B * T * a.cfg.dim, sizeof(float));
            cr_assert_eq(gc_generate_batch(ms[i], &s, rngs, B, prompts, plen, T, 2, seq[i], len[i],
                                           hid[i], NULL),
                         GC_OK, "%s", gc_last_error());
            gc_sampler_free(&s);
        }
        for (int b = 0; b < B; b++) {
            cr_expect_eq(len[1][b], len[0][b], "sampled %d row %d: length", sampled, b);
            cr_expect_eq(memcmp(seq[1] + b * T, seq[0] + b * T, sizeof(int32_t) * len[0][b]), 0,
                         "sampled %d row %d: tokens differ", sampled, b);
        }
        cr_expect_lt(ch_rel_err(hid[1], hid[0], (size_t)B * T * a.cfg.dim), 1e-4, "hidden states");
        free(hid[0]), free(hid[1]);
    }
    twins_free(c, &a, &d);
}

/* a checkpoint written from a model trained on the device loads on the CPU with its optimiser */
Test(cuda_model, checkpoint_from_the_device_resumes_on_the_cpu) {
    gc_model a, d;
    gc_cuda *c = twins(&a, &d, GC_PREC_FP32, 0);
    gc_adamw od;
    cr_assert_eq(gc_adamw_init(&od, d.n_params, 0.9f, 0.95f, 1e-8f, 0.0f), GC_OK);
    gc_schedule sched = {.lr_max = 1e-2f, .lr_min = 1e-2f, .warmup = 0, .total = 2, .clip = 0};
    int32_t tok[B * T], tgt[B * T];
    int len[B];
    batch(tok, tgt, len, d.cfg.vocab_size, 0);
    cr_assert_eq(gc_lm_step(&d, &od, &sched, tok, tgt, B, T, len, NULL, NULL), GC_OK);
    char *path = th_tmp_path("cuda.ckpt");
    cr_assert_eq(gc_ckpt_save(path, &d, &od), GC_OK, "%s", gc_last_error());
    gc_model back;
    gc_adamw ob;
    int has = 0;
    cr_assert_eq(gc_ckpt_load(path, &back, &ob, &has), GC_OK, "%s", gc_last_error());
    cr_expect(has && ob.step == 1, "optimiser state restored (step %lld)", (long long)ob.step);
    cr_expect_eq(memcmp(back.params, d.params, sizeof(float) * d.n_params), 0,
                 "the synced weights");
    cr_expect_eq(memcmp(ob.m, od.m, sizeof(float) * d.n_params), 0, "the synced first moments");
    float l1, l2;
    cr_assert_eq(gc_lm_step(&back, &ob, &sched, tok, tgt, B, T, len, &l1, NULL), GC_OK);
    cr_assert_eq(gc_lm_step(&d, &od, &sched, tok, tgt, B, T, len, &l2, NULL), GC_OK);
    cr_expect_lt(fabsf(l1 - l2) / l1, 1e-5,
                 "the second step on the CPU and on the device: %.8g vs %.8g", l1, l2);
    remove(path), free(path);
    gc_adamw_free(&od), gc_adamw_free(&ob);
    gc_model_free(&a), gc_model_free(&d), gc_model_free(&back);
    gc_cuda_close(c);
}

/* `replicate run --device cuda`: without a GPU a clear error; on the GPU (or, here, the host
 * emulation through GCRM_CUDA_EMULATE) fig2 at smoke scale runs unchanged, records its device and
 * precision, caches apart from CPU runs, and measures what the CPU run measures */
Test(cuda_model, fig2_smoke_runs_on_the_cuda_backend) {
    char why[256], cmd[1024];
    gc_cuda *c;
    if (gc_cuda_open_emulated(&c) != GC_OK) cr_skip_test("%s", gc_last_error());
    gc_cuda_close(c);
    char *root = th_tmp_path("cuda-run"), *err = NULL, *out = NULL;
    if (gc_cuda_devices(why, sizeof why) == 0) {
        snprintf(cmd, sizeof cmd,
                 "%s run experiments/fig2.json --scale smoke --seeds 1 --root %s --device cuda",
                 th_replicate_bin(), root);
        cr_expect_eq(th_run(cmd, NULL, NULL, &err), 1, "no GPU: a runtime error");
        cr_expect(err && strstr(err, "CUDA"), "%s", err);
        free(err);
        setenv("GCRM_CUDA_EMULATE", "1", 1);
    }
    double goal[2], base[2];
    for (int run = 0; run < 2; run++) { /* the cuda run, then the CPU run */
        cr_assert_eq(th_run_smoke("experiments/fig2.json", root,
                                  run ? "--seeds 1" : "--seeds 1 --device cuda", &out, &err),
                     0, "%s", err);
        cr_expect_eq(th_count_rerun(err, "policy"), 1,
                     "run %d trains its own policy (separate caches)", run);
        free(out), free(err);
        snprintf(cmd, sizeof cmd, "%s/fig2/smoke/results.json", root);
        cJSON *r;
        cr_assert_eq(gc_json_read(cmd, &r), GC_OK, "%s", gc_last_error());
        const char *dev = cJSON_GetStringValue(cJSON_GetObjectItem(r, "device"));
        cr_expect(dev && !strncmp(dev, run ? "cpu" : "cuda", 3), "device recorded: %s", dev);
        cr_expect_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(r, "precision")), "fp32");
        const cJSON *pooled = cJSON_GetObjectItem(r, "pooled");
        goal[run] = cJSON_GetObjectItem(cJSON_GetObjectItem(pooled, "goal"), "mean")->valuedouble;
        base[run] =
            cJSON_GetObjectItem(cJSON_GetObjectItem(pooled, "baseline"), "mean")->valuedouble;
        cJSON_Delete(r);
    }
    /* the same pipeline in other float rounding: the AUROCs agree closely (a few of 120 score
     * orderings may swap) */
    cr_expect_lt(fabs(goal[0] - goal[1]), 0.02, "goal-conditioned AUROC %g (cuda) vs %g (cpu)",
                 goal[0], goal[1]);
    cr_expect_lt(fabs(base[0] - base[1]), 0.02, "baseline AUROC %g (cuda) vs %g (cpu)", base[0],
                 base[1]);
    th_rm_tree(root);
    free(root);
}

/* table2 at smoke scale on the CUDA backend (a GPU, or here the host emulation): every arm runs
 * (DPO and PPO update models on the device), the first PPO iteration's KL is exactly 0 (actor and
 * reference are the same weights on the same device), and a run killed inside the policy's SFT,
 * then inside a reward model's training, then inside a PPO run, resumes from device-written
 * checkpoints to the bytes of an uninterrupted run */
Test(cuda_model, table2_smoke_runs_and_resumes_on_the_cuda_backend, .timeout = 300) {
    char why[4400], cmd[2048];
    gc_cuda *c;
    if (gc_cuda_open_emulated(&c) != GC_OK) cr_skip_test("%s", gc_last_error());
    gc_cuda_close(c);
    if (gc_cuda_devices(why, sizeof why) == 0) setenv("GCRM_CUDA_EMULATE", "1", 1);
    setenv("OMP_NUM_THREADS", "1", 1);
    char *a = th_tmp_path("cuda-t2a"), *b = th_tmp_path("cuda-t2b"), *err = NULL, *out = NULL;
    const char *flags = "--seeds 1 --device cuda --checkpoint-every 0.001";
    cr_assert_eq(th_run_smoke("experiments/table2.json", a, flags, &out, &err), 0, "%s", err);
    free(out), free(err);
    snprintf(cmd, sizeof cmd, "%s/table2/smoke/results.json", a);
    cJSON *r;
    cr_assert_eq(gc_json_read(cmd, &r), GC_OK, "%s", gc_last_error());
    const char *dev = cJSON_GetStringValue(cJSON_GetObjectItem(r, "device"));
    cr_expect(dev && !strncmp(dev, "cuda", 4), "device recorded: %s", dev);
    const cJSON *runs = cJSON_GetObjectItem(r, "ppo_training");
    cr_expect_eq(cJSON_GetArraySize(runs), 2);
    for (const cJSON *e = runs ? runs->child : NULL; e; e = e->next) {
        const cJSON *it0 = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "iterations"), 0);
        cr_expect_eq(cJSON_GetObjectItem(it0, "kl")->valuedouble, 0.0, "KL at iteration 1");
    }
    cJSON_Delete(r);
    /* killed after its 2nd checkpoint (the policy's step 2); resumed, after its 2nd (the
     * policy's step 3, the first reward model's step 1); resumed, after its 13th (that reward
     * model's steps 2-3, the second's 1-3, DPO's 1-7, the first PPO run's iteration 1); then to
     * the end */
    const int kill_after[3] = {2, 2, 13};
    for (int k = 0; k < 3; k++) {
        snprintf(cmd, sizeof cmd,
                 "GCRM_KILL_AFTER_CHECKPOINTS=%d %s run experiments/table2.json --scale smoke "
                 "--root %s %s",
                 kill_after[k], th_replicate_bin(), b, flags);
        cr_expect_neq(th_run(cmd, &out, NULL, &err), 0, "killed");
        if (k == 2)
            cr_expect(strstr(err, "rm-baseline-seed1 resumes from its checkpoint at step 1"), "%s",
                      err);
        free(out), free(err);
    }
    cr_assert_eq(th_run_smoke("experiments/table2.json", b, flags, &out, &err), 0, "%s", err);
    cr_expect(strstr(err, "ppo-baseline-seed1 resumes from its checkpoint at step 1"), "%s", err);
    free(out), free(err);
    char ca[1100], cb[1100];
    snprintf(ca, sizeof ca, "%s/cache", a);
    snprintf(cb, sizeof cb, "%s/cache", b);
    why[0] = 0;
    cr_expect(th_same_stages(ca, cb, why, sizeof why), "%s", why);
    th_rm_tree(a), th_rm_tree(b);
    free(a), free(b);
}

/* the GPU benchmark program, on the host emulation: it runs, and every line is a JSON object with
 * the fields the summary reads (a check of the program; its numbers mean nothing here) */
Test(cuda_model, gpu_benchmark_program_runs_on_the_emulation) {
    gc_cuda *c;
    if (gc_cuda_open_emulated(&c) != GC_OK) cr_skip_test("%s", gc_last_error());
    gc_cuda_close(c);
    const char *bin = getenv("GCRM_BENCH_GPU");
    char cmd[512], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "%s --emulate --steps 1 --warmup 1",
             bin && *bin ? bin : "build/gcrm-bench-gpu");
    cr_assert_eq(th_run(cmd, &out, NULL, &err), 0, "%s", err);
    int trains = 0, gemms = 0, profiles = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        cr_assert(j, "not JSON: %s", line);
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(j, "bench"));
        if (kind && !strcmp(kind, "train")) {
            trains++;
            cr_expect(cJSON_GetObjectItem(j, "mfu") && cJSON_GetObjectItem(j, "tokens_per_s"), "%s",
                      line);
            cr_expect(isfinite(cJSON_GetObjectItem(j, "loss")->valuedouble), "%s", line);
        }
        gemms += kind && !strcmp(kind, "gemm");
        if (kind && !strcmp(kind, "profile")) { /* the op breakdown of one step */
            profiles++;
            const cJSON *ops = cJSON_GetObjectItem(j, "ops");
            cr_expect(cJSON_GetObjectItem(ops, "linear") &&
                          cJSON_GetObjectItem(ops, "attention_backward") &&
                          cJSON_GetObjectItem(ops, "adamw"),
                      "%s", line);
        }
        cJSON_Delete(j);
    }
    cr_expect_eq(trains, 2, "one training row per precision (bf16, tf32)");
    cr_expect_eq(gemms, 2, "one GEMM ceiling per precision");
    cr_expect_eq(profiles, 2, "one profiled step per precision");
    free(out), free(err);
    /* bad flags: exit 2 naming the flag, before any device work */
    static const char *const bad[][2] = {{"--steps 0", "--steps"},
                                         {"--warmup x", "--warmup"},
                                         {"--configs 7b", "'7b'"},
                                         {"--precisions fp16", "'fp16'"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s --emulate %s", bin && *bin ? bin : "build/gcrm-bench-gpu",
                 bad[i][0]);
        cr_expect_eq(th_run(cmd, &out, NULL, &err), 2, "%s", bad[i][0]);
        cr_expect(err && strstr(err, bad[i][1]), "%s: %s", bad[i][0], err);
        cr_expect(out && !*out, "%s printed results: %s", bad[i][0], out);
        free(out), free(err);
    }
}

/* leaving the device brings the trained parameters back: a CPU forward then matches the device's */
Test(cuda_model, moving_a_trained_model_back_to_the_cpu_keeps_its_weights) {
    gc_model a, d;
    gc_cuda *c = twins(&a, &d, GC_PREC_FP32, 1);
    gc_adamw o;
    cr_assert_eq(gc_adamw_init(&o, d.n_params, 0.9f, 0.95f, 1e-8f, 0.0f), GC_OK);
    gc_schedule sched = {.lr_max = 1e-2f, .lr_min = 1e-2f, .warmup = 0, .total = 2, .clip = 0};
    int32_t tok[B * T], tgt[B * T];
    int len[B];
    batch(tok, tgt, len, d.cfg.vocab_size, 0);
    cr_assert_eq(gc_lm_step(&d, &o, &sched, tok, tgt, B, T, len, NULL, NULL), GC_OK);
    cr_assert_eq(gc_model_forward_len(&d, tok, B, T, len, GC_LOGITS_HOST), GC_OK);
    size_t n = (size_t)B * T * d.cfg.vocab_size;
    float *on_device = malloc(sizeof(float) * n);
    memcpy(on_device, d.logits, sizeof(float) * n);
    cr_assert_eq(gc_model_set_backend(&d, NULL), GC_OK, "%s", gc_last_error());
    cr_assert_eq(gc_model_forward_len(&d, tok, B, T, len, GC_LOGITS_HOST), GC_OK);
    for (int b = 0; b < B; b++) {
        size_t at = (size_t)b * T * d.cfg.vocab_size, nb = (size_t)len[b] * d.cfg.vocab_size;
        cr_expect_lt(ch_rel_err(d.logits + at, on_device + at, nb), 1e-4, "sequence %d", b);
    }
    cr_expect_gt(ch_rel_err(a.p.x[GC_T_EMB], d.p.x[GC_T_EMB], a.tensors[GC_T_EMB].size), 0,
                 "the step changed the weights");
    free(on_device);
    gc_adamw_free(&o);
    twins_free(c, &a, &d);
}

/* step-wise beam search (lib/policy/beam.h) with the generator on the backend keeps the beams the
 * CPU keeps, with the same scores within fp32 rounding */
Test(cuda_model, beam_search_on_the_backend_keeps_the_cpu_beams) {
    gc_model a, d;
    gc_cuda *c = twins(&a, &d, GC_PREC_FP32, 0);
    const int32_t prompt[2] = {1, 5};
    gc_beam_config bc = {.beam = 3,
                         .samples = 4,
                         .step_tokens = 2,
                         .max_steps = 3,
                         .max_len = 8,
                         .step_end = -1,
                         .eos = 2,
                         .temperature = 1.0f,
                         .top_p = 0.9f,
                         .seed = 3};
    gc_beam_result ra, rd;
    cr_assert_eq(gc_beam_search(&a, prompt, 2, &bc, th_beam_by_logprob, NULL, &ra), GC_OK);
    cr_assert_eq(gc_beam_search(&d, prompt, 2, &bc, th_beam_by_logprob, NULL, &rd), GC_OK, "%s",
                 gc_last_error());
    cr_assert_eq(ra.n, rd.n);
    for (int j = 0; j < ra.n; j++) {
        cr_expect_eq(ra.len[j], rd.len[j], "beam %d", j);
        cr_expect(!memcmp(ra.seq + (size_t)j * ra.max_len, rd.seq + (size_t)j * rd.max_len,
                          sizeof(int32_t) * ra.len[j]),
                  "beam %d: the same tokens", j);
        cr_expect_float_eq(ra.score[j], rd.score[j], 1e-4, "beam %d: %f vs %f", j, ra.score[j],
                           rd.score[j]);
    }
    gc_beam_result_free(&ra), gc_beam_result_free(&rd);
    twins_free(c, &a, &d);
}
