#include "ppo_trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/generate.h"
#include "lib/model/sampler.h"
#include "lib/model/seqset.h"
#include "lib/policy/dpo.h"
#include "lib/util/rng.h"
#include "lib/model/ckpt.h"

gc_status gc_ppo_init(gc_ppo *p, gc_model *actor, gc_model *ref, gc_rm *critic,
                      const gc_ppo_config *c) {
    memset(p, 0, sizeof *p);
    if (critic->head_kind != GC_HEAD_LINEAR)
        return gc_fail(GC_ERR_ARG, "ppo: the critic's value head must be linear");
    if (memcmp(&actor->cfg, &ref->cfg, sizeof actor->cfg))
        return gc_fail(GC_ERR_ARG, "ppo: the actor and the reference policy differ in shape");
    if (c->minibatch <= 0 || c->epochs <= 0 || c->max_len < 2 || c->max_len > actor->cfg.seq_len)
        return gc_fail(GC_ERR_ARG, "ppo: minibatch and epochs must be positive and max_len in "
                                   "[2, seq_len]");
    if (c->ptx_data && (c->ptx_batch <= 0 || c->ptx_data->n <= 0 || !(c->ptx_coef >= 0)))
        return gc_fail(GC_ERR_ARG, "ppo: the pretraining term needs data, a positive batch and "
                                   "a coefficient >= 0");
    GC_TRY(gc_adamw_init(&p->actor_opt, actor->n_params, 0.9f, 0.95f, 1e-8f, 0.0f));
    p->actor = actor, p->ref = ref, p->critic = critic;
    gc_moments_init(&p->moments);
    p->kl_coef = c->kl_init;
    return GC_OK;
}

void gc_ppo_free(gc_ppo *p) {
    gc_adamw_free(&p->actor_opt);
    memset(p, 0, sizeof *p);
}

/* A batch of rollout sequences packed to its longest: tok (nb, T). */
typedef struct {
    int nb, T;
    int32_t *tok;
    int *plen, *len;
} packed;

/* Packs sequences idx[0..nb) of seq (stride L) into pk; returns the number of actions. */
static int pack(const int32_t *seq, int L, const int *plen, const int *len, const int *idx, int nb,
                packed *pk) {
    int T = 0, na = 0;
    for (int i = 0; i < nb; i++)
        T = len[idx[i]] > T ? len[idx[i]] : T;
    pk->nb = nb, pk->T = T;
    for (int i = 0; i < nb; i++) {
        int b = idx[i];
        memset(pk->tok + (size_t)i * T, 0, sizeof(int32_t) * T);
        memcpy(pk->tok + (size_t)i * T, seq + (size_t)b * L, sizeof(int32_t) * len[b]);
        pk->plen[i] = plen[b], pk->len[i] = len[b];
        na += len[b] - plen[b];
    }
    return na;
}

/* Each action's log-probability under m: out (actions of pk, in order). */
static gc_status action_logps(gc_model *m, const packed *pk, float *out) {
    GC_TRY(gc_model_forward_len(m, pk->tok, pk->nb, pk->T, pk->len, GC_LOGITS_HOST));
    int V = m->cfg.vocab_size, a = 0;
    for (int i = 0; i < pk->nb; i++)
        for (int t = pk->plen[i]; t < pk->len[i]; t++)
            out[a++] = (float)gc_row_logprob(m->logits + ((size_t)i * pk->T + t - 1) * V, V,
                                             pk->tok[(size_t)i * pk->T + t], NULL, NULL);
    return GC_OK;
}

/* Each action's value: the critic's head on the state it was taken in (row t - 1). */
static gc_status action_values(gc_rm *cr, const packed *pk, float *out) {
    GC_TRY(gc_model_forward_len(&cr->model, pk->tok, pk->nb, pk->T, pk->len, 0));
    int D = cr->model.cfg.dim, a = 0;
    for (int i = 0; i < pk->nb; i++)
        for (int t = pk->plen[i]; t < pk->len[i]; t++)
            out[a++] = gc_rm_reward(cr, cr->model.hf + ((size_t)i * pk->T + t - 1) * D);
    return GC_OK;
}

/* The rollout's per-action arrays, sequence b's actions at [off[b], off[b + 1]). */
typedef struct {
    float *logp, *ref, *value, *reward, *adv, *ret;
} actions;

static void gather(const actions *all, const int *off, const int *idx, int nb, actions *mb) {
    int a = 0;
    for (int i = 0; i < nb; i++) {
        int b = idx[i], n = off[b + 1] - off[b];
        memcpy(mb->logp + a, all->logp + off[b], sizeof(float) * n);
        memcpy(mb->value + a, all->value + off[b], sizeof(float) * n);
        memcpy(mb->adv + a, all->adv + off[b], sizeof(float) * n);
        memcpy(mb->ret + a, all->ret + off[b], sizeof(float) * n);
        a += n;
    }
}

/* Adds ptx_coef x the cross-entropy of one batch of the pretraining data to the actor's gradient
 * (batch `update` of the run: a pure function of the seed and the update's index). */
static gc_status ptx_grad(gc_ppo *p, const gc_ppo_config *c, int64_t update) {
    const gc_seqset *d = c->ptx_data;
    int B = c->ptx_batch;
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)B * d->max_len);
    int32_t *tgt = gc_malloc(sizeof(int32_t) * (size_t)B * d->max_len);
    int *idx = gc_malloc(sizeof(int) * B), *len = gc_malloc(sizeof(int) * B), T = 0;
    gc_status s = tok && tgt && idx && len ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK) {
        gc_rng r;
        gc_rng_init(&r, c->seed, gc_rng_stream(GC_STREAM_PPO_PTX, (uint64_t)update));
        gc_seqset_batch(d, &r, B, idx, tok, tgt, len, &T);
        if (T > p->actor->cfg.seq_len)
            s = gc_fail(GC_ERR_ARG, "ppo: pretraining sequences of %d tokens exceed seq_len %d", T,
                        p->actor->cfg.seq_len);
    }
    float loss;
    if (s == GC_OK) s = gc_model_forward_len(p->actor, tok, B, T, len, GC_LOGITS_HOST);
    if (s == GC_OK) s = gc_model_ce_loss(p->actor, tgt, (float)c->ptx_coef, &loss);
    if (s == GC_OK) s = gc_model_backward(p->actor, NULL); /* accumulates */
    free(tok), free(tgt), free(idx), free(len);
    return s;
}

static gc_status update_actor(gc_ppo *p, const gc_ppo_config *c, const packed *pk, int na,
                              const actions *mb, float *logp_new, float *dlogp, float *dl,
                              int64_t update, double *loss, double *clipfrac, double *akl) {
    gc_model *m = p->actor;
    int V = m->cfg.vocab_size;
    GC_TRY(action_logps(m, pk, logp_new));
    *loss = gc_ppo_policy_loss(logp_new, mb->logp, mb->adv, NULL, (size_t)na, c->clip_eps, dlogp,
                               clipfrac, akl);
    memset(dl, 0, sizeof(float) * (size_t)pk->nb * pk->T * V);
    int a = 0;
    for (int i = 0; i < pk->nb; i++)
        for (int t = pk->plen[i]; t < pk->len[i]; t++, a++) {
            size_t row = (size_t)i * pk->T + t - 1;
            gc_row_logprob_grad(m->logits + row * V, V, pk->tok[(size_t)i * pk->T + t], dlogp[a],
                                dl + row * V);
        }
    GC_TRY(gc_model_logits_grad(m, dl));
    GC_TRY(gc_model_zero_grad(m));
    GC_TRY(gc_model_backward(m, NULL));
    if (c->ptx_data && c->ptx_coef > 0) GC_TRY(ptx_grad(p, c, update));
    GC_TRY(gc_model_clip_grads(m, c->grad_clip, NULL));
    return gc_model_adamw(m, &p->actor_opt, c->lr_actor);
}

static gc_status update_critic(gc_ppo *p, const gc_ppo_config *c, const packed *pk, int na,
                               const actions *mb, float *v, float *dv, float *dh, double *loss) {
    gc_rm *cr = p->critic;
    int D = cr->model.cfg.dim;
    GC_TRY(action_values(cr, pk, v));
    *loss = gc_ppo_value_loss(v, mb->value, mb->ret, NULL, (size_t)na, c->value_clip, dv);
    memset(dh, 0, sizeof(float) * (size_t)pk->nb * pk->T * D);
    memset(cr->dhead, 0, sizeof(float) * cr->n_head);
    int a = 0;
    for (int i = 0; i < pk->nb; i++)
        for (int t = pk->plen[i]; t < pk->len[i]; t++, a++) {
            size_t row = (size_t)i * pk->T + t - 1;
            gc_rm_head_grad(cr, cr->model.hf + row * D, dv[a], dh + row * D, cr->dhead);
        }
    GC_TRY(gc_model_zero_grad(&cr->model));
    GC_TRY(gc_model_backward(&cr->model, dh));
    gc_rm_optim o = GC_RM_OPTIM_DEFAULT(c->lr_critic, c->grad_clip, 0.0f);
    return gc_rm_update(cr, &o);
}

gc_status gc_ppo_iteration(gc_ppo *p, const gc_ppo_config *c, const int32_t *const *prompts,
                           const int *prompt_len, int n, gc_ppo_score_fn score, void *score_ctx,
                           gc_ppo_stats *st) {
    if (n <= 0) return gc_fail(GC_ERR_ARG, "ppo: no prompts");
    for (int i = 0; i < n; i++)
        if (prompt_len[i] < 1 || prompt_len[i] >= c->max_len)
            return gc_fail(GC_ERR_ARG, "ppo: prompt %d has %d tokens; max_len is %d", i,
                           prompt_len[i], c->max_len);
    gc_model *m = p->actor;
    int L = c->max_len, V = m->cfg.vocab_size, D = m->cfg.dim;
    int MB = c->minibatch < n ? c->minibatch : n;
    int32_t *seq = gc_malloc(sizeof(int32_t) * (size_t)n * L);
    int *len = gc_malloc(sizeof(int) * n), *plen = gc_malloc(sizeof(int) * n);
    int *off = gc_malloc(sizeof(int) * (n + 1)), *order = gc_malloc(sizeof(int) * n);
    gc_rng *rngs = gc_malloc(sizeof(gc_rng) * n);
    float *scores = gc_malloc(sizeof(float) * n);
    packed pk = {0, 0, gc_malloc(sizeof(int32_t) * (size_t)MB * L), gc_malloc(sizeof(int) * MB),
                 gc_malloc(sizeof(int) * MB)};
    gc_sampler smp = {0};
    gc_status s =
        seq && len && plen && off && order && rngs && scores && pk.tok && pk.plen && pk.len
            ? GC_OK
            : GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_sampler_init(&smp, V, c->temperature, c->top_p, c->seed);
    /* 1. rollout */
    for (int i = 0; s == GC_OK && i < n; i++) {
        plen[i] = prompt_len[i];
        gc_rng_init(&rngs[i], c->seed,
                    gc_rng_stream(GC_STREAM_PPO_ROLLOUT, (uint64_t)(p->iter * n + i)));
    }
    if (s == GC_OK)
        s = gc_generate_batch(m, &smp, rngs, n, prompts, prompt_len, L, c->eos, seq, len, NULL,
                              NULL);
    gc_sampler_free(&smp);
    int NA = 0;
    for (int i = 0; s == GC_OK && i < n; i++)
        off[i] = NA, NA += len[i] - plen[i];
    off[n] = NA;
    actions all = {0}, mb = {0};
    float *buf = NULL, *work = NULL;
    size_t work_n = (size_t)MB * L * (V > D ? V : D);
    if (s == GC_OK) {
        buf = gc_malloc(sizeof(float) * ((size_t)NA * 6 + (size_t)NA * 4 + 3 * (size_t)NA));
        work = gc_malloc(sizeof(float) * work_n);
        if (!buf || !work) s = GC_ERR_NOMEM;
    }
    if (s == GC_OK) {
        float *q = buf;
        all = (actions){q, q + NA, q + 2 * NA, q + 3 * NA, q + 4 * NA, q + 5 * NA};
        q += 6 * (size_t)NA;
        mb = (actions){q, NULL, q + NA, NULL, q + 2 * NA, q + 3 * NA};
    }
    float *tmp1 = buf ? buf + 10 * (size_t)NA : NULL, *tmp2 = buf ? buf + 11 * (size_t)NA : NULL;
    /* 2-3. scores, log-probabilities, values, in chunks of MB sequences */
    for (int start = 0; s == GC_OK && start < n; start += MB) {
        int nb = n - start < MB ? n - start : MB;
        for (int i = 0; i < nb; i++)
            order[i] = start + i;
        pack(seq, L, plen, len, order, nb, &pk);
        s = score(score_ctx, start, pk.tok, nb, pk.T, pk.plen, pk.len, scores + start);
        if (s == GC_OK) s = action_logps(m, &pk, all.logp + off[start]);
        if (s == GC_OK) s = action_logps(p->ref, &pk, all.ref + off[start]);
        if (s == GC_OK) s = action_values(p->critic, &pk, all.value + off[start]);
    }
    double mean_score = 0, kl = 0, kl_used = p->kl_coef;
    if (s == GC_OK) {
        double *raw = gc_malloc(sizeof(double) * n);
        if (!raw) s = GC_ERR_NOMEM;
        for (int i = 0; s == GC_OK && i < n; i++)
            raw[i] = scores[i], mean_score += scores[i] / n;
        if (s == GC_OK && c->normalize_reward) gc_moments_update(&p->moments, raw, (size_t)n);
        for (int i = 0; s == GC_OK && i < n; i++) {
            int a = off[i], na = off[i + 1] - off[i];
            double sc = c->normalize_reward ? gc_moments_normalize(&p->moments, raw[i]) : raw[i];
            gc_ppo_rewards(all.logp + a, all.ref + a, na, kl_used, sc, all.reward + a);
            gc_ppo_gae(all.reward + a, all.value + a, na, c->gamma, c->lambda, all.adv + a,
                       all.ret + a);
            for (int j = 0; j < na; j++)
                kl += (double)(all.logp[a + j] - all.ref[a + j]) / n;
        }
        free(raw);
        if (s == GC_OK) gc_ppo_whiten(all.adv, NULL, (size_t)NA);
    }
    /* 4. epochs of minibatch updates */
    double pl = 0, vl = 0, cf = 0, ak = 0;
    int updates = 0;
    gc_rng orng;
    gc_rng_init(&orng, c->seed, gc_rng_stream(GC_STREAM_PPO_ORDER, (uint64_t)p->iter));
    for (int e = 0; s == GC_OK && e < c->epochs; e++) {
        for (int i = 0; i < n; i++)
            order[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)gc_rng_below(&orng, (uint32_t)(i + 1)), t = order[i];
            order[i] = order[j], order[j] = t;
        }
        for (int start = 0; s == GC_OK && start < n; start += MB) {
            int nb = n - start < MB ? n - start : MB;
            int na = pack(seq, L, plen, len, order + start, nb, &pk);
            gather(&all, off, order + start, nb, &mb);
            double l1 = 0, l2 = 0, c1 = 0, a1 = 0;
            int64_t update = (p->iter * c->epochs + e) * ((n + MB - 1) / MB) + start / MB;
            s = update_actor(p, c, &pk, na, &mb, tmp1, tmp2, work, update, &l1, &c1, &a1);
            if (s == GC_OK) s = update_critic(p, c, &pk, na, &mb, tmp1, tmp2, work, &l2);
            pl += l1, vl += l2, cf += c1, ak += a1, updates++;
        }
    }
    /* 5. the KL coefficient */
    if (s == GC_OK) {
        if (c->kl_target > 0)
            p->kl_coef = gc_ppo_kl_adapt(p->kl_coef, kl, c->kl_target, c->kl_horizon, n);
        p->iter++;
        if (st)
            *st = (gc_ppo_stats){mean_score,
                                 kl,
                                 kl_used,
                                 updates ? pl / updates : 0,
                                 updates ? vl / updates : 0,
                                 updates ? cf / updates : 0,
                                 updates ? ak / updates : 0,
                                 (double)NA / n};
    }
    free(seq), free(len), free(plen), free(off), free(order), free(rngs), free(scores);
    free(pk.tok), free(pk.plen), free(pk.len), free(buf), free(work);
    return s;
}

/* ---- checkpoints ---- */

#define STATE_MAGIC "GCPPOST1"
#define STATE_VERSION 2u

/* ppo.state (little-endian): magic | u32 version | i64 iter | f64 kl_coef | f64 moments' mean,
 * var, count | u32 crc32 of all before */
enum { STATE_BYTES = 8 + 4 + 8 + 4 * 8 + 4 };

static gc_status save_state(gc_ppo *p, const char *path) {
    uint32_t version = STATE_VERSION;
    double d[4] = {p->kl_coef, p->moments.mean, p->moments.var, p->moments.count};
    gc_atomic_file af;
    GC_TRY(gc_atomic_open(&af, path));
    gc_atomic_write(&af, STATE_MAGIC, 8);
    gc_atomic_write(&af, &version, 4);
    gc_atomic_write(&af, &p->iter, 8);
    gc_atomic_write(&af, d, sizeof d);
    gc_atomic_write_crc(&af);
    return gc_atomic_commit(&af);
}

gc_status gc_ppo_save(gc_ppo *p, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/actor.ckpt", dir);
    GC_TRY(gc_ckpt_save(path, p->actor, &p->actor_opt));
    GC_TRY(gc_rm_save_train(p->critic, dir, "critic"));
    snprintf(path, sizeof path, "%s/ppo.state", dir);
    return save_state(p, path);
}

static gc_status load_state(gc_ppo *p, const char *path) {
    char *data;
    size_t size;
    GC_TRY(gc_read_file(path, &data, &size));
    uint32_t version = 0;
    if (size >= 12) memcpy(&version, data + 8, 4);
    gc_status s = GC_OK;
    if (size < 12 || memcmp(data, STATE_MAGIC, 8))
        s = gc_fail(GC_ERR_FORMAT, "%s: not a PPO trainer state", path);
    else if (version != STATE_VERSION)
        s = gc_fail(GC_ERR_FORMAT, "%s: version %u (this build reads %u)", path, version,
                    STATE_VERSION);
    else if (size != STATE_BYTES)
        s = gc_fail(GC_ERR_FORMAT, "%s: %zu bytes (a PPO trainer state has %d)", path, size,
                    STATE_BYTES);
    else if (!gc_crc_trailer_ok(data, size))
        s = gc_fail(GC_ERR_FORMAT, "%s: checksum mismatch (file corrupted)", path);
    if (s == GC_OK) {
        double d[4];
        memcpy(&p->iter, data + 12, 8);
        memcpy(d, data + 20, sizeof d);
        p->kl_coef = d[0], p->moments.mean = d[1], p->moments.var = d[2], p->moments.count = d[3];
    }
    free(data);
    return s;
}

gc_status gc_ppo_load(gc_ppo *p, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ppo.state", dir);
    GC_TRY(load_state(p, path));
    snprintf(path, sizeof path, "%s/actor.ckpt", dir);
    GC_TRY(gc_ckpt_restore(path, p->actor, &p->actor_opt));
    return gc_rm_load_train(p->critic, dir, "critic");
}
