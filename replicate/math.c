/* The math pipeline (fig2 and the experiments built on it): arith problems -> SFT policy ->
 * sampled (correct, incorrect) preference pairs -> baseline and goal-conditioned reward models per
 * seed -> evaluation solutions per split; then the experiment's analysis (math.h).
 *
 * Scale object keys (each section is checked by its schema; unknown keys are errors):
 *   data:   seed, train_questions, eval_questions, splits
 *   policy: model {...}, steps, batch, lr, lr_min, warmup, clip, seed
 *   pairs:  questions, samples, temperature, top_p, max_pairs_per_question, seed
 *   rm:     variants, epochs, batch, lr, lr_min, warmup, clip, weight_decay, lambda, K, pairs,
 *           reduction, positions, goal_sampling, head
 *   eval:   temperature, top_p, samples, max_len
 *   partial: (analysis "partial" only) see partial.c
 *   vote:    (analysis "vote" only) see vote.c
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/arith.h"
#include "../lib/chartok.h"
#include "../lib/ckpt.h"
#include "../lib/jsonio.h"
#include "../lib/mathpipe.h"
#include "../lib/model_json.h"
#include "../lib/rm.h"
#include "../lib/seqset.h"
#include "../lib/stats.h"
#include "claims.h"
#include "math.h"

#define RM_STAGE_VERSION 2 /* 2: length-bucketed batches */

#define F(T, k, type, req, lo, hi, ch) {#k, type, offsetof(T, k), req, lo, hi, ch}

/* The reward models to train: "baseline" (lambda 0), "goal" (the rm section's contrastive
 * settings), and ablations {"name": ..., overrides of K, lambda, pairs, reduction, positions,
 * goal_sampling, head} (goal-conditioned). Default: baseline and goal. */
static gc_status read_variants(const gc_config *cf, const cJSON *variants, const char *path,
                               math_cfg *c) {
    gc_con_config goal = {.lambda = (float)c->rm.lambda,
                          .K = (int)c->rm.K,
                          .pairs = c->rm.pairs ? GC_PAIRS_ORDERED : GC_PAIRS_ALL,
                          .reduction = c->rm.reduction ? GC_RED_MEAN_OF_LOG : GC_RED_LOG_OF_MEAN,
                          .positions = (gc_con_positions)c->rm.positions,
                          .goal_sampling = (gc_goal_sampling)c->rm.goal_sampling};
    int line = gc_config_line(cf, path);
    if (!variants) {
        snprintf(c->variant_names[0], 32, "baseline");
        snprintf(c->variant_names[1], 32, "goal");
        c->variant_con[1] = 1;
        c->variant_cfg[0] = (gc_con_config){.K = goal.K};
        c->variant_cfg[1] = goal;
        c->variant_head[0] = c->variant_head[1] = c->rm.head;
        c->n_variants = 2;
        return GC_OK;
    }
    if (!cJSON_IsArray(variants) || cJSON_GetArraySize(variants) < 2 ||
        cJSON_GetArraySize(variants) > MAX_VARIANTS)
        return gc_fail(GC_ERR_CONFIG, "%s:%d: key '%s': expected an array of 2 to %d variants "
                       "(\"baseline\", \"goal\", {\"name\": ..., overrides})", cf->path, line, path,
                       MAX_VARIANTS);
    typedef struct {
        char name[GC_CFG_STRLEN];
        int64_t K;
        double lambda;
        int pairs, reduction, positions, goal_sampling, head;
    } vfields;
    static const gc_cfg_field vf[] = {
        F(vfields, name, GC_CFG_STRING, 1, 0, 0, NULL),
        F(vfields, K, GC_CFG_INT, 0, 1, 1024, NULL),
        F(vfields, lambda, GC_CFG_FLOAT, 0, 1e-6, 100, NULL),
        F(vfields, pairs, GC_CFG_ENUM, 0, 0, 0, "all|ordered"),
        F(vfields, reduction, GC_CFG_ENUM, 0, 0, 0, "log_of_mean|mean_of_log"),
        F(vfields, positions, GC_CFG_ENUM, 0, 0, 0, "uniform|late"),
        F(vfields, goal_sampling, GC_CFG_ENUM, 0, 0, 0, "random|single|averaged"),
        F(vfields, head, GC_CFG_ENUM, 0, 0, 0, "linear|mlp"),
    };
    int nb = 0, ng = 0;
    for (const cJSON *e = variants->child; e; e = e->next) {
        int v = c->n_variants++;
        const char *name = cJSON_IsString(e) ? e->valuestring : NULL;
        if (name && strcmp(name, "baseline") && strcmp(name, "goal"))
            return gc_fail(GC_ERR_CONFIG, "%s:%d: key '%s': unknown variant %s (baseline, goal, or "
                           "an object with a name)", cf->path, line, path, name);
        c->variant_cfg[v] = goal;
        c->variant_head[v] = c->rm.head;
        if (name && !strcmp(name, "baseline")) c->variant_cfg[v] = (gc_con_config){.K = goal.K}, nb++;
        else if (name) ng++;
        else {
            vfields f = {.K = goal.K, .lambda = goal.lambda, .pairs = goal.pairs,
                         .reduction = goal.reduction, .positions = goal.positions,
                         .goal_sampling = goal.goal_sampling, .head = (int)c->rm.head};
            char vpath[160];
            snprintf(vpath, sizeof vpath, "%s[%d]", path, v);
            if (!cJSON_IsObject(e))
                return gc_fail(GC_ERR_CONFIG, "%s:%d: key '%s': expected a name or an object",
                               cf->path, line, vpath);
            GC_TRY(gc_config_read(cf, e, vpath, vf, 8, &f));
            name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
            for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_') ||
                    strlen(name) > 24 || !strcmp(name, "baseline") || !strcmp(name, "goal"))
                    return gc_fail(GC_ERR_CONFIG, "%s:%d: key '%s.name': '%s' (use up to 24 of "
                                   "a-z 0-9 - _, not baseline or goal)", cf->path, line, vpath, name);
            c->variant_cfg[v] = (gc_con_config){(float)f.lambda, (int)f.K, (gc_pairs_mode)f.pairs,
                                                (gc_con_reduction)f.reduction,
                                                (gc_con_positions)f.positions,
                                                (gc_goal_sampling)f.goal_sampling};
            c->variant_head[v] = f.head;
            c->variant_json[v] = e;
        }
        snprintf(c->variant_names[v], 32, "%s", name);
        c->variant_con[v] = c->variant_cfg[v].lambda > 0;
        for (int w = 0; w < v; w++)
            if (!strcmp(c->variant_names[w], name))
                return gc_fail(GC_ERR_CONFIG, "%s:%d: key '%s': variant %s appears twice",
                               cf->path, line, path, name);
    }
    if (nb != 1 || ng != 1)
        return gc_fail(GC_ERR_CONFIG, "%s:%d: key '%s': need one \"baseline\" and one \"goal\" "
                       "variant", cf->path, line, path);
    return GC_OK;
}

static gc_status read_cfg(rp_run *r, math_cfg *c) {
    const gc_config *cf = &r->cfg;
    typedef struct {
        const cJSON *data, *policy, *pairs, *rm, *eval, *partial, *vote;
    } sections;
    static const gc_cfg_field sec_f[] = {
        F(sections, data, GC_CFG_OBJECT, 1, 0, 0, NULL),
        F(sections, policy, GC_CFG_OBJECT, 1, 0, 0, NULL),
        F(sections, pairs, GC_CFG_OBJECT, 1, 0, 0, NULL),
        F(sections, rm, GC_CFG_OBJECT, 1, 0, 0, NULL),
        F(sections, eval, GC_CFG_OBJECT, 1, 0, 0, NULL),
        F(sections, partial, GC_CFG_OBJECT, 0, 0, 0, NULL),
        F(sections, vote, GC_CFG_OBJECT, 0, 0, 0, NULL),
    };
    sections sec = {0};
    GC_TRY(gc_config_read(cf, r->scale_cfg, r->scale_path, sec_f, 7, &sec));
    if ((r->analysis == MATH_PARTIAL) != (sec.partial != NULL))
        return gc_fail(GC_ERR_CONFIG, "%s: %s: the section 'partial' goes with \"analysis\": "
                       "\"partial\" and only with it", cf->path, r->scale_path);
    if ((r->analysis == MATH_VOTE) != (sec.vote != NULL))
        return gc_fail(GC_ERR_CONFIG, "%s: %s: the section 'vote' goes with \"analysis\": "
                       "\"vote\" and only with it", cf->path, r->scale_path);
    c->partial = sec.partial;
    c->vote = sec.vote;
    char path[128];

    static const gc_cfg_field data_f[] = {
        F(data_cfg, seed, GC_CFG_INT, 1, 0, 1e12, NULL),
        F(data_cfg, train_questions, GC_CFG_INT, 1, 1, 1e7, NULL),
        F(data_cfg, eval_questions, GC_CFG_INT, 1, 2, 1e6, NULL),
        F(data_cfg, splits, GC_CFG_ARRAY, 1, 0, 0, NULL),
    };
    snprintf(path, sizeof path, "%s.data", r->scale_path);
    GC_TRY(gc_config_read(cf, sec.data, path, data_f, 4, &c->data));
    const cJSON *splits = c->data.splits;
    snprintf(path, sizeof path, "%s.data.splits", r->scale_path);
    int line = gc_config_line(cf, path);
    if (!cJSON_IsArray(splits) || cJSON_GetArraySize(splits) < 1 ||
        cJSON_GetArraySize(splits) > MAX_SPLITS)
        return gc_fail(GC_ERR_CONFIG, "%s:%d: key '%s': expected an array of 1 to %d split names",
                       cf->path, line, path, MAX_SPLITS);
    for (const cJSON *e = splits->child; e; e = e->next) {
        int sp = cJSON_IsString(e) ? gc_arith_split_parse(e->valuestring) : -1;
        if (sp <= GC_ARITH_TRAIN)
            return gc_fail(GC_ERR_CONFIG,
                           "%s:%d: key '%s': unknown evaluation split %s (known: arith-easy "
                           "arith-hard arith-big arith-long arith-para)",
                           cf->path, line, path, cJSON_IsString(e) ? e->valuestring : "(not a string)");
        c->splits[c->n_splits++] = sp;
    }

    static const gc_cfg_field pol_f[] = {
        F(policy_cfg, model, GC_CFG_OBJECT, 1, 0, 0, NULL),
        F(policy_cfg, steps, GC_CFG_INT, 1, 1, 1e7, NULL),
        F(policy_cfg, batch, GC_CFG_INT, 1, 1, 4096, NULL),
        F(policy_cfg, warmup, GC_CFG_INT, 0, 0, 1e6, NULL),
        F(policy_cfg, seed, GC_CFG_INT, 0, 0, 1e12, NULL),
        F(policy_cfg, lr, GC_CFG_FLOAT, 1, 1e-7, 1, NULL),
        F(policy_cfg, lr_min, GC_CFG_FLOAT, 0, 0, 1, NULL),
        F(policy_cfg, clip, GC_CFG_FLOAT, 0, 0, 1e6, NULL),
    };
    c->policy = (policy_cfg){.warmup = 0, .seed = 1, .clip = 1.0, .lr_min = 0};
    snprintf(path, sizeof path, "%s.policy", r->scale_path);
    GC_TRY(gc_config_read(cf, sec.policy, path, pol_f, 8, &c->policy));
    snprintf(path, sizeof path, "%s.policy.model", r->scale_path);
    GC_TRY(gc_model_config_read(cf, c->policy.model, path, &c->model));
    if (c->model.vocab_size != GC_CHAR_VOCAB)
        return gc_fail(GC_ERR_CONFIG, "%s:%d: key '%s.vocab_size': the arith domain's character "
                       "vocabulary has %d tokens", cf->path, gc_config_line(cf, path), path,
                       GC_CHAR_VOCAB);

    static const gc_cfg_field pairs_f[] = {
        F(pairs_cfg, questions, GC_CFG_INT, 1, 1, 1e7, NULL),
        F(pairs_cfg, samples, GC_CFG_INT, 1, 2, 1024, NULL),
        {"max_pairs_per_question", GC_CFG_INT, offsetof(pairs_cfg, max_pairs), 1, 1, 1e6, NULL},
        F(pairs_cfg, seed, GC_CFG_INT, 0, 0, 1e12, NULL),
        F(pairs_cfg, temperature, GC_CFG_FLOAT, 1, 1e-3, 10, NULL),
        F(pairs_cfg, top_p, GC_CFG_FLOAT, 0, 1e-3, 1, NULL),
        F(pairs_cfg, source, GC_CFG_ENUM, 0, 0, 0, "policy|reference"),
    };
    c->pairs = (pairs_cfg){.seed = 1, .top_p = 1.0};
    snprintf(path, sizeof path, "%s.pairs", r->scale_path);
    GC_TRY(gc_config_read(cf, sec.pairs, path, pairs_f, 7, &c->pairs));

    static const gc_cfg_field rm_f[] = {
        F(rm_cfg, variants, GC_CFG_ARRAY, 0, 0, 0, NULL),
        F(rm_cfg, epochs, GC_CFG_INT, 1, 1, 1000, NULL),
        F(rm_cfg, batch, GC_CFG_INT, 1, 1, 4096, NULL),
        F(rm_cfg, warmup, GC_CFG_INT, 0, 0, 1e6, NULL),
        F(rm_cfg, K, GC_CFG_INT, 0, 1, 1024, NULL),
        F(rm_cfg, lr, GC_CFG_FLOAT, 1, 1e-8, 1, NULL),
        F(rm_cfg, lr_min, GC_CFG_FLOAT, 0, 0, 1, NULL),
        F(rm_cfg, clip, GC_CFG_FLOAT, 0, 0, 1e6, NULL),
        F(rm_cfg, weight_decay, GC_CFG_FLOAT, 0, 0, 10, NULL),
        F(rm_cfg, lambda, GC_CFG_FLOAT, 0, 1e-6, 100, NULL),
        F(rm_cfg, pairs, GC_CFG_ENUM, 0, 0, 0, "all|ordered"),
        F(rm_cfg, reduction, GC_CFG_ENUM, 0, 0, 0, "log_of_mean|mean_of_log"),
        F(rm_cfg, positions, GC_CFG_ENUM, 0, 0, 0, "uniform|late"),
        F(rm_cfg, goal_sampling, GC_CFG_ENUM, 0, 0, 0, "random|single|averaged"),
        F(rm_cfg, head, GC_CFG_ENUM, 0, 0, 0, "linear|mlp"),
    };
    c->rm = (rm_cfg){.K = 16, .lambda = 0.5, .clip = 1.0};
    snprintf(path, sizeof path, "%s.rm", r->scale_path);
    GC_TRY(gc_config_read(cf, sec.rm, path, rm_f, 15, &c->rm));
    snprintf(path, sizeof path, "%s.rm.variants", r->scale_path);
    GC_TRY(read_variants(cf, c->rm.variants, path, c));

    static const gc_cfg_field eval_f[] = {
        F(eval_cfg, temperature, GC_CFG_FLOAT, 0, 0, 10, NULL),
        F(eval_cfg, top_p, GC_CFG_FLOAT, 0, 1e-3, 1, NULL),
        F(eval_cfg, samples, GC_CFG_INT, 0, 1, 1024, NULL),
        F(eval_cfg, max_len, GC_CFG_INT, 1, 16, 1 << 20, NULL),
        F(eval_cfg, source, GC_CFG_ENUM, 0, 0, 0, "policy|reference"),
    };
    c->eval = (eval_cfg){.temperature = 0, .top_p = 1, .samples = 1};
    snprintf(path, sizeof path, "%s.eval", r->scale_path);
    GC_TRY(gc_config_read(cf, sec.eval, path, eval_f, 5, &c->eval));
    if (c->eval.max_len > c->model.seq_len)
        return gc_fail(GC_ERR_CONFIG, "%s:%d: key '%s.max_len': %lld exceeds the model's seq_len %d",
                       cf->path, gc_config_line(cf, path), path, (long long)c->eval.max_len,
                       c->model.seq_len);
    if (c->eval.temperature == 0 && c->eval.samples > 1)
        return gc_fail(GC_ERR_CONFIG, "%s:%d: key '%s.samples': greedy evaluation (temperature 0) "
                       "gives one solution per question", cf->path, gc_config_line(cf, path), path);
    return GC_OK;
}

/* ---- problems ---- */

static gc_status make_problems(const math_cfg *c, problem_set *train, problem_set *eval) {
    train->n = (int)c->data.train_questions;
    eval->n = (int)c->data.eval_questions * c->n_splits;
    return gc_arith_make_sets((uint64_t)c->data.seed, train->n, (int)c->data.eval_questions,
                              c->splits, c->n_splits, &train->p, &eval->p);
}

gc_status math_close_with(rp_run *r, rp_stage *st, cJSON *info) {
    gc_status s = rp_stage_close(r, st, info);
    cJSON_Delete(info);
    return s;
}

/* One preference pair as a JSON line. */
static gc_status write_pair(gc_atomic_file *af, int q, const char *prompt, const char *chosen,
                            const char *rejected) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "question", q);
    cJSON_AddStringToObject(o, "prompt", prompt);
    cJSON_AddStringToObject(o, "chosen", chosen);
    cJSON_AddStringToObject(o, "rejected", rejected);
    gc_status s = gc_jsonl_append(af, o);
    cJSON_Delete(o);
    return s;
}

/* ---- stage: policy (SFT) ---- */

static gc_status stage_policy(rp_run *r, const math_cfg *c, const problem_set *train, cJSON *key,
                              rp_stage **out) {
    GC_TRY(rp_stage_open(r, "policy", key, out));
    rp_stage *st = *out;
    if (st->cached) return GC_OK;
    int L = c->model.seq_len;
    gc_seqset data;
    GC_TRY(gc_seqset_init(&data, train->n, L));
    int32_t *pr = gc_malloc(sizeof(int32_t) * L), *rs = gc_malloc(sizeof(int32_t) * L);
    gc_status s = pr && rs ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < train->n; i++) {
        int np = gc_math_prompt(train->p[i].question, pr, L);
        int nr = np < 0 ? -1 : gc_math_response(train->p[i].solution, rs, L);
        if (np < 0 || nr < 0 || np + nr > L) {
            s = gc_fail(GC_ERR_CONFIG, "%s: a training problem needs more than seq_len %d tokens",
                        r->cfg.path, L);
            break;
        }
        s = gc_seqset_set(&data, i, pr, np, rs, nr);
    }
    free(pr), free(rs);
    gc_model m;
    if (s == GC_OK) s = gc_model_init(&m, &c->model);
    if (s != GC_OK) {
        gc_seqset_free(&data);
        return s;
    }
    gc_model_init_random(&m, (uint64_t)c->policy.seed);
    gc_sft_config sc = {.steps = (int)c->policy.steps,
                        .batch = (int)c->policy.batch,
                        .sched = {(float)c->policy.lr, (float)c->policy.lr_min, c->policy.warmup,
                                  c->policy.steps, (float)c->policy.clip},
                        .weight_decay = 0.0f,
                        .seed = (uint64_t)c->policy.seed};
    float loss = 0;
    gc_log_info("policy: supervised fine-tuning, %zu parameters, %d steps of %d", m.n_params,
                sc.steps, sc.batch);
    s = gc_sft_train(&m, &data, &sc, &loss);
    char path[RP_PATH];
    rp_stage_file(st, "policy.ckpt", path);
    if (s == GC_OK) s = gc_ckpt_save(path, &m, NULL);
    gc_model_free(&m);
    gc_seqset_free(&data);
    if (s != GC_OK) return s;
    cJSON *info = cJSON_CreateObject();
    cJSON_AddNumberToObject(info, "final_loss", loss);
    cJSON_AddNumberToObject(info, "wall_s", gc_now() - st->t0);
    return math_close_with(r, st, info);
}

static gc_status load_policy(const rp_stage *pol, gc_model *m) {
    char path[RP_PATH];
    rp_stage_file(pol, "policy.ckpt", path);
    return gc_ckpt_load(path, m, NULL, NULL);
}

/* Pairs without a policy: the reference solution against a corrupted copy (a one-line slip). */
static gc_status reference_pairs(rp_run *r, const math_cfg *c, const problem_set *train, int nq,
                                 rp_stage *st) {
    char path[RP_PATH], bad[GC_ARITH_TEXT];
    rp_stage_file(st, "pairs.jsonl", path);
    gc_atomic_file af;
    GC_TRY(gc_atomic_open(&af, path));
    gc_status s = GC_OK;
    int n = 0;
    for (int q = 0; s == GC_OK && q < nq; q++) {
        gc_arith_corrupt(&train->p[q], (uint64_t)c->pairs.seed, bad);
        if (gc_arith_check(bad, train->p[q].answer)) continue; /* the slip cancelled out */
        s = write_pair(&af, q, train->p[q].question, train->p[q].solution, bad);
        n++;
    }
    if (s != GC_OK) {
        gc_atomic_abort(&af);
        return s;
    }
    GC_TRY(gc_atomic_commit(&af));
    cJSON *info = cJSON_CreateObject();
    cJSON_AddStringToObject(info, "source", "reference");
    cJSON_AddNumberToObject(info, "pairs", n);
    return math_close_with(r, st, info);
}

/* ---- stage: preference pairs from the policy's samples ---- */

static gc_status stage_pairs(rp_run *r, const math_cfg *c, const problem_set *train,
                             const rp_stage *pol, cJSON *key, rp_stage **out) {
    GC_TRY(rp_stage_open(r, "pairs", key, out));
    rp_stage *st = *out;
    if (st->cached) return GC_OK;
    int nq = (int)(c->pairs.questions < train->n ? c->pairs.questions : train->n);
    int M = (int)c->pairs.samples;
    if (c->pairs.source == 1) return reference_pairs(r, c, train, nq, st);
    gc_model m;
    GC_TRY(load_policy(pol, &m));
    const char **qs = gc_malloc(sizeof(char *) * nq);
    char **texts = gc_calloc((size_t)nq * M, sizeof(char *));
    if (!qs || !texts) {
        free(qs), free(texts);
        gc_model_free(&m);
        return GC_ERR_NOMEM;
    }
    for (int i = 0; i < nq; i++) qs[i] = train->p[i].question;
    gc_sample_config sc = {(float)c->pairs.temperature, (float)c->pairs.top_p,
                           (uint64_t)c->pairs.seed, (int)c->eval.max_len, 64};
    int64_t ntok = 0;
    gc_log_info("pairs: sampling %d solutions for each of %d training questions", M, nq);
    gc_status s = gc_math_sample(&m, qs, nq, M, &sc, texts, &ntok);
    gc_model_free(&m);
    char path[RP_PATH];
    rp_stage_file(st, "pairs.jsonl", path);
    gc_atomic_file af;
    if (s == GC_OK) s = gc_atomic_open(&af, path);
    int n_pairs = 0, n_correct = 0, mixed = 0;
    for (int q = 0; s == GC_OK && q < nq; q++) {
        int ok[1024], nok = 0, nbad = 0;
        for (int i = 0; i < M; i++) {
            ok[i] = gc_arith_check(texts[q * M + i], train->p[q].answer);
            nok += ok[i];
            nbad += !ok[i];
        }
        n_correct += nok;
        if (!nok || !nbad) continue;
        mixed++;
        /* pair the k-th correct with the k-th incorrect sample, cycling, up to the limit */
        int made = 0, ci = 0, wi = 0;
        int limit = (int)c->pairs.max_pairs, most = nok > nbad ? nok : nbad;
        for (int k = 0; k < most && made < limit; k++, made++) {
            while (!ok[ci % M]) ci++;
            while (ok[wi % M]) wi++;
            s = write_pair(&af, q, train->p[q].question, texts[q * M + ci % M],
                           texts[q * M + wi % M]);
            ci++, wi++;
            n_pairs++;
        }
    }
    for (int i = 0; i < nq * M; i++) free(texts[i]);
    free(texts), free(qs);
    if (s == GC_OK) s = gc_atomic_commit(&af);
    else gc_atomic_abort(&af);
    if (s != GC_OK) return s;
    if (n_pairs == 0)
        return gc_fail(GC_ERR_ARG, "pairs: the policy's %d samples gave no (correct, incorrect) "
                       "pair (sample accuracy %.3f); train the policy longer or sample more",
                       nq * M, (double)n_correct / (nq * M));
    cJSON *info = cJSON_CreateObject();
    cJSON_AddNumberToObject(info, "questions", nq);
    cJSON_AddNumberToObject(info, "samples", nq * M);
    cJSON_AddNumberToObject(info, "sample_accuracy", (double)n_correct / (nq * M));
    cJSON_AddNumberToObject(info, "questions_with_both", mixed);
    cJSON_AddNumberToObject(info, "pairs", n_pairs);
    cJSON_AddNumberToObject(info, "generated_tokens", (double)ntok);
    gc_log_info("pairs: sample accuracy %.3f, %d pairs from %d questions",
                (double)n_correct / (nq * M), n_pairs, mixed);
    return math_close_with(r, st, info);
}

/* ---- stage: evaluation solutions ---- */

static gc_status stage_evalgen(rp_run *r, const math_cfg *c, const problem_set *eval,
                               const rp_stage *pol, cJSON *key, rp_stage **out) {
    GC_TRY(rp_stage_open(r, "eval-solutions", key, out));
    rp_stage *st = *out;
    if (st->cached) return GC_OK;
    int n = eval->n, M = c->eval.source == 1 ? 2 : (int)c->eval.samples;
    int ne = (int)c->data.eval_questions;
    const char **qs = gc_malloc(sizeof(char *) * n);
    char **texts = gc_calloc((size_t)n * M, sizeof(char *));
    if (!qs || !texts) {
        free(qs), free(texts);
        return GC_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) qs[i] = eval->p[i].question;
    gc_status s = GC_OK;
    if (c->eval.source == 1) { /* reference and corrupted solutions: no policy involved */
        for (int i = 0; i < n && s == GC_OK; i++) {
            texts[2 * i] = strdup(eval->p[i].solution);
            texts[2 * i + 1] = gc_malloc(GC_ARITH_TEXT);
            if (!texts[2 * i] || !texts[2 * i + 1]) s = GC_ERR_NOMEM;
            else gc_arith_corrupt(&eval->p[i], 0xE7A1, texts[2 * i + 1]);
        }
    } else {
        gc_model m;
        s = load_policy(pol, &m);
        gc_sample_config sc = {(float)c->eval.temperature, (float)c->eval.top_p, 0xE7A1,
                               (int)c->eval.max_len, 64};
        gc_log_info("eval: %d solution(s) for each of %d questions in %d splits", M, ne,
                    c->n_splits);
        if (s == GC_OK) {
            s = gc_math_sample(&m, qs, n, M, &sc, texts, NULL);
            gc_model_free(&m);
        }
    }
    char path[RP_PATH];
    rp_stage_file(st, "solutions.jsonl", path);
    gc_atomic_file af;
    if (s == GC_OK) s = gc_atomic_open(&af, path);
    cJSON *info = cJSON_CreateObject(), *acc = cJSON_AddObjectToObject(info, "accuracy");
    for (int sp = 0; s == GC_OK && sp < c->n_splits; sp++) {
        int right = 0;
        for (int i = 0; i < ne * M && s == GC_OK; i++) {
            int q = sp * ne + i / M;
            int ok = gc_arith_check(texts[q * M + i % M], eval->p[q].answer);
            right += ok;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "split", gc_arith_split_name(c->splits[sp]));
            cJSON_AddNumberToObject(o, "question_index", i / M);
            cJSON_AddStringToObject(o, "question", eval->p[q].question);
            cJSON_AddStringToObject(o, "response", texts[q * M + i % M]);
            cJSON_AddNumberToObject(o, "answer", (double)eval->p[q].answer);
            cJSON_AddBoolToObject(o, "correct", ok);
            s = gc_jsonl_append(&af, o);
            cJSON_Delete(o);
        }
        cJSON_AddNumberToObject(acc, gc_arith_split_name(c->splits[sp]), (double)right / (ne * M));
        gc_log_info("eval: %s policy accuracy %.3f", gc_arith_split_name(c->splits[sp]),
                    (double)right / (ne * M));
    }
    for (int i = 0; i < n * M; i++) free(texts[i]);
    free(texts), free(qs);
    if (s == GC_OK) s = gc_atomic_commit(&af);
    else gc_atomic_abort(&af);
    if (s != GC_OK) {
        cJSON_Delete(info);
        return s;
    }
    return math_close_with(r, st, info);
}

/* ---- reading JSONL back ---- */

static gc_status table_push(text_table *t, const char *a, const char *b, const char *c, int flag) {
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 1024;
        char **na = realloc(t->a, sizeof(char *) * cap), **nb = realloc(t->b, sizeof(char *) * cap);
        char **nc = realloc(t->c, sizeof(char *) * cap);
        int *nf = realloc(t->flag, sizeof(int) * cap);
        if (na) t->a = na;
        if (nb) t->b = nb;
        if (nc) t->c = nc;
        if (nf) t->flag = nf;
        if (!na || !nb || !nc || !nf) return gc_fail(GC_ERR_NOMEM, "out of memory reading a table");
        t->cap = cap;
    }
    t->a[t->n] = strdup(a), t->b[t->n] = strdup(b), t->c[t->n] = strdup(c);
    t->flag[t->n++] = flag;
    return GC_OK;
}

static void table_free(text_table *t) {
    for (int i = 0; i < t->n; i++) free(t->a[i]), free(t->b[i]), free(t->c[i]);
    free(t->a), free(t->b), free(t->c), free(t->flag);
    memset(t, 0, sizeof *t);
}

static const char *str_item(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static gc_status read_pair(const cJSON *o, int line, void *ctx) {
    const char *p = str_item(o, "prompt"), *c = str_item(o, "chosen"), *r = str_item(o, "rejected");
    if (!p || !c || !r)
        return gc_fail(GC_ERR_FORMAT, "%s:%d: missing string prompt/chosen/rejected",
                       ((text_table *)ctx)->path, line);
    return table_push(ctx, p, c, r, 0);
}

static gc_status read_solution(const cJSON *o, int line, void *ctx) {
    const char *sp = str_item(o, "split"), *q = str_item(o, "question"), *resp = str_item(o, "response");
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(o, "correct");
    if (!sp || !q || !resp || !cJSON_IsBool(ok))
        return gc_fail(GC_ERR_FORMAT, "%s:%d: missing split/question/response/correct",
                       ((text_table *)ctx)->path, line);
    return table_push(ctx, sp, q, resp, cJSON_IsTrue(ok));
}

/* ---- stage: reward model ---- */

static gc_status stage_rm(rp_run *r, const math_cfg *c, const rp_stage *pol,
                          const text_table *pairs, int variant, int seed, cJSON *key,
                          rp_stage **out) {
    char name[64];
    snprintf(name, sizeof name, "rm-%s-seed%d", c->variant_names[variant], seed);
    GC_TRY(rp_stage_open(r, name, key, out));
    rp_stage *st = *out;
    if (st->cached) return GC_OK;
    gc_model m;
    GC_TRY(load_policy(pol, &m));
    gc_rm rm;
    gc_status s = gc_rm_init(&rm, &m, (gc_head_kind)c->variant_head[variant], (uint64_t)seed);
    if (s != GC_OK) {
        gc_model_free(&m);
        return s;
    }
    gc_con_config con = c->variant_cfg[variant];
    int P = (int)c->rm.batch, L = (int)c->eval.max_len, n = pairs->n;
    int steps_per_epoch = (n + P - 1) / P, steps = steps_per_epoch * (int)c->rm.epochs;
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)2 * P * L), *tmp = gc_malloc(sizeof(int32_t) * L);
    int *plen = gc_malloc(sizeof(int) * 2 * P), *len = gc_malloc(sizeof(int) * 2 * P);
    int *order = gc_malloc(sizeof(int) * (n > 0 ? n : 1));
    int *plen_chars = gc_malloc(sizeof(int) * (n > 0 ? n : 1));
    int *batch_perm = gc_malloc(sizeof(int) * (steps_per_epoch > 0 ? steps_per_epoch : 1));
    if (!tok || !tmp || !plen || !len || !order || !plen_chars || !batch_perm) s = GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < n; i++) { /* characters = tokens in this domain */
        size_t lc = strlen(pairs->b[i]), lr = strlen(pairs->c[i]);
        plen_chars[i] = (int)(strlen(pairs->a[i]) + (lc > lr ? lc : lr));
    }
    gc_rng rng;
    gc_rng_init(&rng, (uint64_t)seed, 0x524D00ull + (uint64_t)variant); /* "RM" */
    gc_schedule sched = {(float)c->rm.lr, (float)c->rm.lr_min, c->rm.warmup, steps,
                         (float)c->rm.clip};
    double tail_acc = 0, tail_loss = 0;
    int tail_n = 0;
    gc_progress prog;
    gc_progress_init(&prog, name, steps);
    for (int step = 0; s == GC_OK && step < steps; step++) {
        int ep_step = step % steps_per_epoch;
        if (ep_step == 0) {
            /* a fresh shuffle each epoch; then, within windows of 8 batches, pairs sorted by
             * length so a batch pads little; then the batches themselves in random order */
            for (int i = 0; i < n; i++) order[i] = i;
            for (int i = n - 1; i > 0; i--) {
                int j = (int)gc_rng_below(&rng, (uint32_t)(i + 1)), t = order[i];
                order[i] = order[j], order[j] = t;
            }
            for (int w = 0; w < n; w += 8 * P) {
                int end = w + 8 * P < n ? w + 8 * P : n;
                for (int i = w + 1; i < end; i++) { /* insertion sort: windows are small */
                    int pk = order[i], j = i - 1;
                    while (j >= w && plen_chars[order[j]] > plen_chars[pk]) order[j + 1] = order[j], j--;
                    order[j + 1] = pk;
                }
            }
            for (int i = 0; i < steps_per_epoch; i++) batch_perm[i] = i;
            for (int i = steps_per_epoch - 1; i > 0; i--) {
                int j = (int)gc_rng_below(&rng, (uint32_t)(i + 1)), t = batch_perm[i];
                batch_perm[i] = batch_perm[j], batch_perm[j] = t;
            }
        }
        int first = batch_perm[ep_step] * P;
        int nb = n - first < P ? n - first : P, T = 0;
        memset(tok, 0, sizeof(int32_t) * (size_t)2 * P * L);
        for (int b = 0; b < 2 * nb && s == GC_OK; b++) {
            int i = order[first + b / 2];
            int32_t *row = tok + (size_t)b * L;
            int np = gc_math_prompt(pairs->a[i], row, L);
            int nr = np < 0 ? -1 : gc_math_response(b % 2 ? pairs->c[i] : pairs->b[i], tmp, L - np);
            if (nr < 0) {
                s = gc_fail(GC_ERR_ARG, "rm: pair %d does not fit %d tokens", i, L);
                break;
            }
            memcpy(row + np, tmp, sizeof(int32_t) * nr);
            plen[b] = np, len[b] = np + nr;
            if (len[b] > T) T = len[b];
        }
        if (s != GC_OK) break;
        for (int b = 1; b < 2 * nb; b++)
            memmove(tok + (size_t)b * T, tok + (size_t)b * L, sizeof(int32_t) * T);
        gc_rm_step_stats rs;
        float lr = gc_lr_cosine(step, sched.total, sched.warmup, sched.lr_max, sched.lr_min);
        s = gc_rm_step(&rm, tok, nb, T, plen, len, &con, &rng, lr, sched.clip,
                       (float)c->rm.weight_decay, &rs);
        if (step >= steps - steps_per_epoch) tail_acc += rs.acc, tail_loss += rs.loss, tail_n++;
        gc_progress_update(&prog, step + 1);
    }
    gc_progress_end(&prog);
    free(tok), free(tmp), free(plen), free(len), free(order), free(plen_chars), free(batch_perm);
    char ck[RP_PATH], hd[RP_PATH];
    rp_stage_file(st, "rm.ckpt", ck);
    rp_stage_file(st, "rm.head", hd);
    if (s == GC_OK) s = gc_rm_save(&rm, ck, hd);
    /* goal state: mean final hidden state at the last token of the preferred responses */
    gc_goal goal = {0};
    float *rew = gc_malloc(sizeof(float) * (n > 0 ? n : 1));
    float *gvec = gc_malloc(sizeof(float) * rm.model.cfg.dim);
    if (s == GC_OK) s = rew && gvec ? gc_goal_init(&goal, rm.model.cfg.dim) : GC_ERR_NOMEM;
    if (s == GC_OK)
        s = gc_math_score(&rm, (const char *const *)pairs->a, (const char *const *)pairs->b, n, L,
                          32, rew, &goal);
    if (s == GC_OK) s = gc_goal_mean(&goal, gvec);
    if (s == GC_OK)
        s = math_write_goal(st, gvec, rm.model.cfg.dim,
                            "mean final hidden state at the last token (EOS) of the preferred "
                            "responses of the training pairs");
    gc_goal_free(&goal);
    free(rew), free(gvec);
    gc_rm_free(&rm);
    if (s != GC_OK) return s;
    cJSON *info = cJSON_CreateObject();
    cJSON_AddNumberToObject(info, "steps", steps);
    cJSON_AddNumberToObject(info, "last_epoch_train_accuracy", tail_n ? tail_acc / tail_n : 0);
    cJSON_AddNumberToObject(info, "last_epoch_loss", tail_n ? tail_loss / tail_n : 0);
    return math_close_with(r, st, info);
}

/* ---- helpers for the analyses ---- */

gc_status math_load_rm(const rp_stage *rmst, gc_rm *rm) {
    char ck[RP_PATH], hd[RP_PATH];
    rp_stage_file(rmst, "rm.ckpt", ck);
    rp_stage_file(rmst, "rm.head", hd);
    return gc_rm_load(rm, ck, hd);
}

int math_select(const math_ctx *m, const cJSON *names, int *idx) {
    int n = 0;
    for (int i = 0; i < m->sol.n; i++) {
        int in = !names;
        for (const cJSON *e = names ? names->child : NULL; e && !in; e = e->next)
            in = cJSON_IsString(e) && !strcmp(e->valuestring, m->sol.a[i]);
        if (in) idx[n++] = i;
    }
    return n;
}

static void run_plot(const char *experiment, const char *dir) {
    char cmd[3 * RP_PATH];
    snprintf(cmd, sizeof cmd,
             "command -v gnuplot >/dev/null && gnuplot -e \"datafile='%s/%s.dat'; outprefix='%s/%s'\" "
             "plots/%s.gp",
             dir, experiment, dir, experiment, experiment);
    if (system(cmd) != 0) gc_log_warn("plot: gnuplot failed or is missing; %s.dat is there", experiment);
}

gc_status math_finish(math_ctx *m, cJSON *results, math_dat_fn dat,
                      void (*print)(const cJSON *results, FILE *f)) {
    rp_run *r = m->r;
    char dir[RP_PATH], path[RP_PATH + 64];
    rp_result_dir(r, dir);
    gc_status s = rp_mkdirs(dir);
    cJSON *verdict = NULL;
    if (s == GC_OK) s = claims_verdict_for(r->experiment, results, &verdict);
    if (s == GC_OK && verdict) cJSON_AddItemToObject(results, "verdict", verdict);
    snprintf(path, sizeof path, "%s/results.json", dir);
    if (s == GC_OK) s = gc_json_write(path, results);
    snprintf(path, sizeof path, "%s/%s.dat", dir, r->experiment);
    if (s == GC_OK) s = dat(path, results, m);
    if (s == GC_OK) {
        run_plot(r->experiment, dir);
        if (print) print(results, stdout);
        printf("results: %s/results.json, plot: %s/%s.png\n", dir, dir, r->experiment);
    }
    cJSON_Delete(results);
    return s;
}

/* ---- the pipeline ---- */

gc_status rp_run_math(rp_run *r) {
    math_ctx *m = gc_calloc(1, sizeof *m);
    if (!m) return GC_ERR_NOMEM;
    m->r = r;
    math_cfg *c = &m->c;
    gc_status s = read_cfg(r, c);
    if (s == GC_OK) s = make_problems(c, &m->train, &m->eval);
    if (s != GC_OK) goto done;
    for (int v = 0; v < c->n_variants; v++) {
        if (!strcmp(c->variant_names[v], "baseline")) m->base = v;
        if (!strcmp(c->variant_names[v], "goal")) m->goal = v;
    }

    /* stage keys: each embeds its configuration and the hashes of its inputs */
    cJSON *kpol = cJSON_CreateObject();
    cJSON_AddNumberToObject(kpol, "version", STAGE_VERSION);
    cJSON_AddItemToObject(kpol, "data", cJSON_Duplicate(cJSON_GetObjectItem(r->scale_cfg, "data"), 1));
    cJSON_AddItemToObject(kpol, "policy", cJSON_Duplicate(cJSON_GetObjectItem(r->scale_cfg, "policy"), 1));
    s = stage_policy(r, c, &m->train, kpol, &m->pol);
    cJSON_Delete(kpol);
    if (s != GC_OK) goto done;

    cJSON *kpairs = cJSON_CreateObject();
    cJSON_AddNumberToObject(kpairs, "version", STAGE_VERSION);
    cJSON_AddStringToObject(kpairs, "policy", m->pol->hash);
    cJSON_AddItemToObject(kpairs, "pairs", cJSON_Duplicate(cJSON_GetObjectItem(r->scale_cfg, "pairs"), 1));
    cJSON_AddNumberToObject(kpairs, "max_len", (double)c->eval.max_len);
    s = stage_pairs(r, c, &m->train, m->pol, kpairs, &m->pst);
    cJSON_Delete(kpairs);
    if (s != GC_OK) goto done;

    cJSON *keval = cJSON_CreateObject();
    cJSON_AddNumberToObject(keval, "version", STAGE_VERSION);
    cJSON_AddStringToObject(keval, "policy", m->pol->hash);
    cJSON_AddItemToObject(keval, "eval", cJSON_Duplicate(cJSON_GetObjectItem(r->scale_cfg, "eval"), 1));
    s = stage_evalgen(r, c, &m->eval, m->pol, keval, &m->est);
    cJSON_Delete(keval);
    if (s != GC_OK) goto done;

    char path[RP_PATH], path2[RP_PATH];
    rp_stage_file(m->pst, "pairs.jsonl", path);
    m->pairs.path = path;
    if ((s = gc_jsonl_each(path, read_pair, &m->pairs)) != GC_OK) goto done;
    rp_stage_file(m->est, "solutions.jsonl", path2);
    m->sol.path = path2;
    if ((s = gc_jsonl_each(path2, read_solution, &m->sol)) != GC_OK) goto done;

    for (int v = 0; v < c->n_variants && s == GC_OK; v++)
        for (int seed = 1; seed <= r->seeds && s == GC_OK; seed++) {
            cJSON *krm = cJSON_CreateObject();
            cJSON_AddNumberToObject(krm, "version", RM_STAGE_VERSION);
            cJSON_AddStringToObject(krm, "policy", m->pol->hash);
            cJSON_AddStringToObject(krm, "pairs", m->pst->hash);
            cJSON *rmc = cJSON_Duplicate(cJSON_GetObjectItem(r->scale_cfg, "rm"), 1);
            cJSON_DeleteItemFromObjectCaseSensitive(rmc, "variants");
            if (!c->variant_con[v]) { /* the contrastive settings do not touch the baseline */
                const char *con_keys[] = {"lambda", "K", "pairs", "reduction", "positions",
                                          "goal_sampling"};
                for (int k = 0; k < 6; k++) cJSON_DeleteItemFromObjectCaseSensitive(rmc, con_keys[k]);
            }
            if (c->variant_json[v]) /* an ablation: its overrides */
                cJSON_AddItemToObject(krm, "overrides", cJSON_Duplicate(c->variant_json[v], 1));
            cJSON_AddItemToObject(krm, "rm", rmc);
            cJSON_AddStringToObject(krm, "variant", c->variant_names[v]);
            cJSON_AddNumberToObject(krm, "seed", seed);
            cJSON_AddNumberToObject(krm, "max_len", (double)c->eval.max_len);
            s = stage_rm(r, c, m->pol, &m->pairs, v, seed, krm, &m->rm[v][seed - 1]);
            cJSON_Delete(krm);
        }
    if (s != GC_OK) goto done;
    s = r->analysis == MATH_PARTIAL ? math_analyse_partial(m)
        : r->analysis == MATH_VOTE  ? math_analyse_vote(m)
                                    : math_analyse_auroc(m);
done:
    rp_print_times(r);
    table_free(&m->pairs);
    table_free(&m->sol);
    free(m->train.p), free(m->eval.p);
    free(m);
    return s;
}

gc_status math_load_policy(const math_ctx *m, gc_model *pm) { return load_policy(m->pol, pm); }

gc_status math_write_goal(const rp_stage *st, const float *goal, int D, const char *what) {
    char path[RP_PATH];
    rp_stage_file(st, "goal.json", path);
    cJSON *j = cJSON_CreateObject();
    gc_json_add_floats(j, "goal", goal, (size_t)D);
    cJSON_AddStringToObject(j, "what", what);
    gc_status s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

gc_status math_read_goal(const rp_stage *rmst, int D, float *goal) {
    char path[RP_PATH];
    rp_stage_file(rmst, "goal.json", path);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    gc_status s = gc_json_floats(path, j, "goal", goal, (size_t)D);
    cJSON_Delete(j);
    return s;
}


gc_status math_check_splits(const math_ctx *m, const cJSON *names, const char *key) {
    int ok = cJSON_IsArray(names) && cJSON_GetArraySize(names) > 0;
    for (const cJSON *e = ok ? names->child : NULL; e && ok; e = e->next) {
        ok = 0;
        for (int sp = 0; sp < m->c.n_splits && cJSON_IsString(e); sp++)
            ok |= !strcmp(e->valuestring, gc_arith_split_name(m->c.splits[sp]));
    }
    if (!ok)
        return gc_fail(GC_ERR_CONFIG, "%s:%d: key '%s': expected an array of split names from "
                       "data.splits", m->r->cfg.path, gc_config_line(&m->r->cfg, key), key);
    return GC_OK;
}

int math_variant_order(const math_ctx *m, int k) {
    if (k == 0) return m->base;
    if (k == 1) return m->goal;
    for (int v = 0, seen = 1; v < m->c.n_variants; v++)
        if (v != m->base && v != m->goal && ++seen == k) return v;
    return -1;
}
