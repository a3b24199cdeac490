/* The PPO loop (lib/policy/ppo_trainer.h) on a toy task: a random policy over 8 tokens, rewarded
 * by the share of its response tokens equal to 5, which it starts near 1/8: PPO must raise it.
 * Plus: the pretraining term pulls the policy toward its data when the reward says nothing,
 * rollouts do not depend on the thread count, an iteration is bitwise repeatable, a run resumed
 * from a checkpoint is bitwise the uninterrupted one, and bad configurations and checkpoints are
 * refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/model/ckpt.h"
#include "lib/model/seqset.h"
#include "lib/policy/ppo_trainer.h"

#define V 8
#define EOS 2
#define MAXLEN 9

static const gc_model_config TOY = {.dim = 16,
                                    .hidden_dim = 32,
                                    .n_layers = 1,
                                    .n_heads = 2,
                                    .n_kv_heads = 2,
                                    .vocab_size = V,
                                    .seq_len = 16,
                                    .tied = 0,
                                    .norm_eps = 1e-5f,
                                    .rope_theta = 10000.0f};

typedef struct {
    int32_t seen[64 * MAXLEN]; /* the rollout's sequences, as scored (stride MAXLEN) */
    int n;
} scorer_ctx;

static gc_status share_of_fives(void *ctx, int first, const int32_t *tok, int B, int T,
                                const int *plen, const int *len, float *out) {
    scorer_ctx *sc = ctx;
    for (int b = 0; b < B; b++) {
        int fives = 0, n = len[b] - plen[b];
        for (int t = plen[b]; t < len[b]; t++)
            fives += tok[(size_t)b * T + t] == 5;
        out[b] = (float)fives / (float)(MAXLEN - 1);
        cr_assert(!sc || first + b == sc->n, "chunks come in order");
        if (sc && sc->n < 64) {
            memset(sc->seen + sc->n * MAXLEN, 0, sizeof(int32_t) * MAXLEN);
            memcpy(sc->seen + sc->n * MAXLEN, tok + (size_t)b * T, sizeof(int32_t) * len[b]);
            sc->n++;
        }
        (void)n;
    }
    return GC_OK;
}

typedef struct {
    gc_model actor, ref, trunk;
    gc_rm critic;
    gc_ppo ppo;
    gc_ppo_config c;
} toy;

static void toy_init(toy *t) {
    cr_assert_eq(gc_model_init(&t->actor, &TOY), GC_OK);
    cr_assert_eq(gc_model_init(&t->ref, &TOY), GC_OK);
    cr_assert_eq(gc_model_init(&t->trunk, &TOY), GC_OK);
    gc_model_init_random(&t->actor, 3);
    gc_model_init_random(&t->ref, 3);
    gc_model_init_random(&t->trunk, 4);
    cr_assert_eq(gc_rm_init(&t->critic, &t->trunk, GC_HEAD_LINEAR, 5), GC_OK);
    t->c = (gc_ppo_config){.minibatch = 16,
                           .epochs = 2,
                           .max_len = MAXLEN,
                           .eos = EOS,
                           .temperature = 1.0f,
                           .top_p = 1.0f,
                           .clip_eps = 0.2,
                           .value_clip = 0.2,
                           .gamma = 1.0,
                           .lambda = 0.95,
                           .kl_init = 0.01,
                           .lr_actor = 1e-2f,
                           .lr_critic = 1e-2f,
                           .grad_clip = 1.0f,
                           .normalize_reward = 1,
                           .seed = 11};
    cr_assert_eq(gc_ppo_init(&t->ppo, &t->actor, &t->ref, &t->critic, &t->c), GC_OK, "%s",
                 gc_last_error());
}

static void toy_free(toy *t) {
    gc_ppo_free(&t->ppo);
    gc_rm_free(&t->critic);
    gc_model_free(&t->actor);
    gc_model_free(&t->ref);
}

static const int32_t BOS_ONLY[1] = {1};

static gc_status iterate(toy *t, int n, scorer_ctx *sc, gc_ppo_stats *st) {
    const int32_t *prompts[64];
    int plen[64];
    for (int i = 0; i < n; i++)
        prompts[i] = BOS_ONLY, plen[i] = 1;
    return gc_ppo_iteration(&t->ppo, &t->c, prompts, plen, n, share_of_fives, sc, st);
}

Test(ppo_trainer, raises_the_reward_of_a_policy_that_starts_below_it) {
    toy t;
    toy_init(&t);
    double first = 0, last = 0;
    int iters = 40;
    for (int k = 0; k < iters; k++) {
        gc_ppo_stats st;
        cr_assert_eq(iterate(&t, 32, NULL, &st), GC_OK, "%s", gc_last_error());
        cr_assert(isfinite(st.policy_loss) && isfinite(st.value_loss) && isfinite(st.kl));
        if (k < 3) first += st.score / 3;
        if (k >= iters - 3) last += st.score / 3;
    }
    cr_expect_lt(first, 0.25, "the random policy starts near 1/8: %.3f", first);
    cr_expect_gt(last, first + 0.3, "PPO raises the reward: %.3f -> %.3f", first, last);
    toy_free(&t);
}

/* a constant score; records the share of 6s the rollout's responses hold */
static gc_status flat(void *ctx, int first, const int32_t *tok, int B, int T, const int *plen,
                      const int *len, float *out) {
    (void)first;
    double *six = ctx;
    for (int b = 0; b < B; b++) {
        int n = 0;
        for (int t = plen[b]; t < len[b]; t++)
            n += tok[(size_t)b * T + t] == 6;
        *six += (double)n / (MAXLEN - 1) / B;
        out[b] = 0.5f;
    }
    return GC_OK;
}

static double share_of_sixes_after(int with_ptx) {
    toy t;
    toy_init(&t);
    gc_seqset d; /* responses "6 6 6 6 6 6 6 EOS" after BOS */
    cr_assert_eq(gc_seqset_init(&d, 4, MAXLEN), GC_OK);
    int32_t resp[MAXLEN - 1] = {6, 6, 6, 6, 6, 6, 6, EOS};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(gc_seqset_set(&d, i, BOS_ONLY, 1, resp, MAXLEN - 1), GC_OK);
    if (with_ptx) t.c.ptx_data = &d, t.c.ptx_batch = 4, t.c.ptx_coef = 1.0;
    double six = 0;
    const int32_t *prompts[32];
    int plen[32];
    for (int i = 0; i < 32; i++)
        prompts[i] = BOS_ONLY, plen[i] = 1;
    for (int k = 0; k < 30; k++) {
        six = 0;
        cr_assert_eq(gc_ppo_iteration(&t.ppo, &t.c, prompts, plen, 32, flat, &six, NULL), GC_OK,
                     "%s", gc_last_error());
    }
    /* the policy's mean probability of each 6 of the data's response, teacher-forced: read from
     * its logits rather than from one rollout's samples, which other float rounding reshuffles */
    const int32_t seq[MAXLEN - 1] = {1, 6, 6, 6, 6, 6, 6, 6};
    cr_assert_eq(gc_model_forward(&t.actor, seq, 1, MAXLEN - 1, GC_LOGITS_HOST), GC_OK);
    double p6 = 0;
    for (int r = 0; r < MAXLEN - 2; r++) {
        const float *lg = t.actor.logits + (size_t)r * V;
        double mx = -INFINITY, z = 0;
        for (int v = 0; v < V; v++)
            mx = fmax(mx, lg[v]);
        for (int v = 0; v < V; v++)
            z += exp(lg[v] - mx);
        p6 += exp(lg[6] - mx) / z / (MAXLEN - 2);
    }
    cr_log_info("ptx %d: share of sixes in the last rollout %.3f, mean P(6) teacher-forced %.3f",
                with_ptx, six, p6);
    gc_seqset_free(&d);
    toy_free(&t);
    return p6;
}

Test(ppo_trainer, the_pretraining_term_pulls_toward_its_data) {
    double without = share_of_sixes_after(0), with = share_of_sixes_after(1);
    cr_expect_lt(without, 0.25, "a flat reward leaves P(6) near 1/8: %.3f", without);
    cr_expect_gt(with, without + 0.3, "the pretraining term teaches the sixes: P(6) %.3f vs %.3f",
                 with, without);
}

Test(ppo_trainer, rollouts_do_not_depend_on_the_thread_count) {
    scorer_ctx a = {0}, b = {0};
    gc_ppo_stats sa, sb;
    int threads = omp_get_max_threads();
    toy t1, t2;
    omp_set_num_threads(1);
    toy_init(&t1);
    cr_assert_eq(iterate(&t1, 32, &a, &sa), GC_OK);
    omp_set_num_threads(2);
    toy_init(&t2);
    cr_assert_eq(iterate(&t2, 32, &b, &sb), GC_OK);
    omp_set_num_threads(threads);
    cr_assert_eq(a.n, 32);
    cr_assert_eq(b.n, 32);
    cr_expect(!memcmp(a.seen, b.seen, sizeof a.seen), "the same sequences at 1 and 2 threads");
    cr_expect_eq(sa.score, sb.score);
    toy_free(&t1), toy_free(&t2);
}

Test(ppo_trainer, an_iteration_is_bitwise_repeatable) {
    toy t1, t2;
    toy_init(&t1), toy_init(&t2);
    gc_ppo_stats s1, s2;
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(iterate(&t1, 24, NULL, &s1), GC_OK);
        cr_assert_eq(iterate(&t2, 24, NULL, &s2), GC_OK);
    }
    cr_expect(!memcmp(t1.actor.params, t2.actor.params, sizeof(float) * t1.actor.n_params),
              "the actors' weights agree bit for bit");
    cr_expect(!memcmp(t1.critic.head, t2.critic.head, sizeof(float) * t1.critic.n_head));
    cr_expect_eq(s1.policy_loss, s2.policy_loss);
    cr_expect_eq(t1.ppo.moments.mean, t2.ppo.moments.mean);
    toy_free(&t1), toy_free(&t2);
}

/* 4 iterations straight, against 2, a checkpoint, fresh models and trainer, the checkpoint
 * loaded, 2 more: the same bits everywhere */
Test(ppo_trainer, a_resumed_run_is_bitwise_the_uninterrupted_one) {
    char dir[] = "/tmp/gcrm-ppo-ckpt-XXXXXX";
    cr_assert(mkdtemp(dir));
    toy a, b;
    toy_init(&a);
    toy_init(&b);
    gc_ppo_stats sa, sb;
    for (int k = 0; k < 4; k++)
        cr_assert_eq(iterate(&a, 24, NULL, &sa), GC_OK);
    for (int k = 0; k < 2; k++)
        cr_assert_eq(iterate(&b, 24, NULL, &sb), GC_OK);
    cr_assert_eq(gc_ppo_save(&b.ppo, dir), GC_OK, "%s", gc_last_error());
    toy_free(&b);
    toy_init(&b); /* the models as the run starts: the checkpoint must bring everything else */
    cr_assert_eq(gc_ppo_load(&b.ppo, dir), GC_OK, "%s", gc_last_error());
    cr_expect_eq(b.ppo.iter, 2);
    for (int k = 0; k < 2; k++)
        cr_assert_eq(iterate(&b, 24, NULL, &sb), GC_OK);
    cr_expect(!memcmp(a.actor.params, b.actor.params, sizeof(float) * a.actor.n_params),
              "the actors agree bit for bit");
    cr_expect(!memcmp(a.ppo.actor_opt.v, b.ppo.actor_opt.v, sizeof(float) * a.actor.n_params));
    cr_expect(!memcmp(a.critic.model.params, b.critic.model.params,
                      sizeof(float) * a.critic.model.n_params),
              "the critics' trunks agree");
    cr_expect(!memcmp(a.critic.head, b.critic.head, sizeof(float) * a.critic.n_head));
    cr_expect(!memcmp(a.critic.head_opt.m, b.critic.head_opt.m, sizeof(float) * a.critic.n_head));
    cr_expect_eq(a.ppo.moments.mean, b.ppo.moments.mean);
    cr_expect_eq(a.ppo.moments.var, b.ppo.moments.var);
    cr_expect_eq(a.ppo.kl_coef, b.ppo.kl_coef);
    cr_expect_eq(sa.policy_loss, sb.policy_loss);
    cr_expect_eq(sa.value_loss, sb.value_loss);

    /* a corrupted state and a checkpoint of another shape are refused, naming the file */
    char path[256];
    snprintf(path, sizeof path, "%s/ppo.state", dir);
    FILE *f = fopen(path, "r+b");
    cr_assert(f);
    fseek(f, 40, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    cr_expect_eq(gc_ppo_load(&b.ppo, dir), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "ppo.state"), "%s", gc_last_error());
    cr_assert_eq(gc_ppo_save(&a.ppo, dir), GC_OK);
    gc_model other;
    gc_model_config oc = TOY;
    oc.dim = 32;
    cr_assert_eq(gc_model_init(&other, &oc), GC_OK);
    snprintf(path, sizeof path, "%s/actor.ckpt", dir);
    cr_assert_eq(gc_ckpt_save(path, &other, NULL), GC_OK);
    gc_model_free(&other);
    cr_expect_eq(gc_ppo_load(&b.ppo, dir), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "actor.ckpt"), "%s", gc_last_error());
    cr_assert_eq(gc_ppo_save(&a.ppo, dir), GC_OK);
    snprintf(path, sizeof path, "%s/critic.hstate", dir);
    f = fopen(path, "r+b");
    cr_assert(f);
    fseek(f, 30, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    cr_expect_eq(gc_ppo_load(&b.ppo, dir), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "critic.hstate: checksum"), "%s", gc_last_error());
    snprintf(path, sizeof path, "%s/critic.ckpt", dir);
    cr_assert_eq(remove(path), 0);
    cr_expect_neq(gc_ppo_load(&b.ppo, dir), GC_OK, "a missing file");
    toy_free(&a), toy_free(&b);
    const char *names[] = {"actor.ckpt", "ppo.state", "critic.hstate"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
    rmdir(dir);
}

Test(ppo_trainer, refuses_what_cannot_run) {
    toy t;
    toy_init(&t);
    gc_ppo p;
    gc_ppo_config c = t.c;
    c.minibatch = 0;
    cr_expect_eq(gc_ppo_init(&p, &t.actor, &t.ref, &t.critic, &c), GC_ERR_ARG);
    c = t.c, c.max_len = TOY.seq_len + 1;
    cr_expect_eq(gc_ppo_init(&p, &t.actor, &t.ref, &t.critic, &c), GC_ERR_ARG);
    const int32_t *prompts[1] = {BOS_ONLY};
    int plen[1] = {MAXLEN};
    cr_expect_eq(gc_ppo_iteration(&t.ppo, &t.c, prompts, plen, 1, share_of_fives, NULL, NULL),
                 GC_ERR_ARG, "a prompt that leaves no room for a response");
    toy_free(&t);
}
