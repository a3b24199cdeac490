/* The math pipeline's shared stages (math/pipeline.h). */
#include "pipeline.h"
#include "resumable.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/tasks/task.h"
#include "lib/tasks/chartok.h"
#include "lib/model/ckpt.h"
#include "lib/util/jsonio.h"
#include "lib/tasks/mathpipe.h"
#include "lib/model/model_json.h"
#include "lib/rm/rm.h"
#include "lib/model/seqset.h"
#include "lib/model/train.h"
#include "lib/model/optim.h"
#include "replicate/claims/schema.h"
#include "replicate/runner/ckpt.h"
#include "diagnostics.h"

#define F GC_CFG_FIELD

/* the contrastive settings' choices, in gc_con_config's enum order (lib/rm/rm.h): the rm section
 * and an ablation variant read them under the same names */
#define PAIRS_CHOICES "all|ordered"
#define REDUCTION_CHOICES "log_of_mean|mean_of_log"
#define POSITIONS_CHOICES "uniform|late"
#define GOAL_SAMPLING_CHOICES "random|single|averaged"
#define HEAD_CHOICES "linear|mlp"

/* ---- configuration ---- */

static const gc_cfg_field data_f[] = {
    F(data_cfg, seed, GC_CFG_INT, 1, 0, 1e12, NULL),
    F(data_cfg, train_questions, GC_CFG_INT, 1, 1, 1e7, NULL),
    F(data_cfg, eval_questions, GC_CFG_INT, 1, 2, 1e6, NULL),
    F(data_cfg, splits, GC_CFG_ARRAY, 1, 0, 0, NULL),
};
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
static const gc_cfg_field pairs_f[] = {
    F(pairs_cfg, questions, GC_CFG_INT, 1, 1, 1e7, NULL),
    F(pairs_cfg, samples, GC_CFG_INT, 1, 2, 1024, NULL),
    {"max_pairs_per_question", GC_CFG_INT, offsetof(pairs_cfg, max_pairs), 1, 1, 1e6, NULL},
    F(pairs_cfg, seed, GC_CFG_INT, 0, 0, 1e12, NULL),
    F(pairs_cfg, temperature, GC_CFG_FLOAT, 1, 1e-3, 10, NULL),
    F(pairs_cfg, top_p, GC_CFG_FLOAT, 0, 1e-3, 1, NULL),
    F(pairs_cfg, source, GC_CFG_ENUM, 0, 0, 0, "policy|reference"),
    F(pairs_cfg, reference_questions, GC_CFG_INT, 0, 0, 1e7, NULL),
};
static const gc_cfg_field rm_f[] = {
    F(rm_cfg, variants, GC_CFG_ARRAY, 0, 0, 0, NULL),
    F(rm_cfg, epochs, GC_CFG_INT, 1, 1, 1000, NULL),
    F(rm_cfg, batch, GC_CFG_INT, 1, 1, 4096, NULL),
    F(rm_cfg, warmup, GC_CFG_INT, 0, 0, 1e6, NULL),
    F(rm_cfg, K, GC_CFG_INT, 0, 1, 1024, NULL),
    F(rm_cfg, diagnostics, GC_CFG_INT, 0, 0, 100000, NULL),
    F(rm_cfg, extra_layers, GC_CFG_INT, 0, 0, 16, NULL),
    F(rm_cfg, lr, GC_CFG_FLOAT, 1, 1e-8, 1, NULL),
    F(rm_cfg, lr_min, GC_CFG_FLOAT, 0, 0, 1, NULL),
    F(rm_cfg, clip, GC_CFG_FLOAT, 0, 0, 1e6, NULL),
    F(rm_cfg, weight_decay, GC_CFG_FLOAT, 0, 0, 10, NULL),
    F(rm_cfg, trunk_lr_scale, GC_CFG_FLOAT, 0, 0, 1, NULL),
    F(rm_cfg, lambda, GC_CFG_FLOAT, 0, 1e-6, 100, NULL),
    F(rm_cfg, pairs, GC_CFG_ENUM, 0, 0, 0, PAIRS_CHOICES),
    F(rm_cfg, reduction, GC_CFG_ENUM, 0, 0, 0, REDUCTION_CHOICES),
    F(rm_cfg, positions, GC_CFG_ENUM, 0, 0, 0, POSITIONS_CHOICES),
    F(rm_cfg, goal_sampling, GC_CFG_ENUM, 0, 0, 0, GOAL_SAMPLING_CHOICES),
    F(rm_cfg, head, GC_CFG_ENUM, 0, 0, 0, HEAD_CHOICES),
};
static const gc_cfg_field eval_f[] = {
    F(eval_cfg, temperature, GC_CFG_FLOAT, 0, 0, 10, NULL),
    F(eval_cfg, top_p, GC_CFG_FLOAT, 0, 1e-3, 1, NULL),
    F(eval_cfg, samples, GC_CFG_INT, 0, 1, 1024, NULL),
    F(eval_cfg, max_len, GC_CFG_INT, 1, 16, 1 << 20, NULL),
    F(eval_cfg, source, GC_CFG_ENUM, 0, 0, 0, "policy|reference"),
};

/* A variant's resolved settings: the fields an ablation may override. */
typedef struct {
    char name[GC_CFG_STRLEN];
    int64_t K;
    double lambda;
    int pairs, reduction, positions, goal_sampling, head;
} variant_fields;
static const gc_cfg_field variant_f[] = {
    F(variant_fields, name, GC_CFG_STRING, 1, 0, 0, NULL),
    F(variant_fields, K, GC_CFG_INT, 0, 1, 1024, NULL),
    F(variant_fields, lambda, GC_CFG_FLOAT, 0, 1e-6, 100, NULL),
    F(variant_fields, pairs, GC_CFG_ENUM, 0, 0, 0, PAIRS_CHOICES),
    F(variant_fields, reduction, GC_CFG_ENUM, 0, 0, 0, REDUCTION_CHOICES),
    F(variant_fields, positions, GC_CFG_ENUM, 0, 0, 0, POSITIONS_CHOICES),
    F(variant_fields, goal_sampling, GC_CFG_ENUM, 0, 0, 0, GOAL_SAMPLING_CHOICES),
    F(variant_fields, head, GC_CFG_ENUM, 0, 0, 0, HEAD_CHOICES),
};

static int valid_variant_name(const char *name) {
    if (strlen(name) > 24 || !strcmp(name, "baseline") || !strcmp(name, "goal")) return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return 0;
    return 1;
}

/* The reward models to train (rm.variants): default baseline and goal. */
static gc_status read_variants(const gc_config *cf, const char *path, math_cfg *c) {
    const cJSON *variants = c->rm.variants;
    variant_fields goal = {.K = c->rm.K,
                           .lambda = c->rm.lambda,
                           .pairs = c->rm.pairs,
                           .reduction = c->rm.reduction,
                           .positions = c->rm.positions,
                           .goal_sampling = c->rm.goal_sampling,
                           .head = c->rm.head};
    static const char *const defaults[] = {"baseline", "goal"};
    int n = variants ? cJSON_GetArraySize(variants) : 2;
    if (variants && (n < 2 || n > MAX_VARIANTS))
        return gc_config_fail(cf, path,
                              "expected an array of 2 to %d variants (\"baseline\", "
                              "\"goal\", {\"name\": ..., overrides})",
                              MAX_VARIANTS);
    const cJSON *e = variants ? variants->child : NULL;
    int nb = 0, ng = 0;
    for (int v = 0; v < n; v++, e = e ? e->next : NULL) {
        char vpath[160];
        snprintf(vpath, sizeof vpath, "%s[%d]", path, v);
        const char *name = !variants ? defaults[v] : cJSON_IsString(e) ? e->valuestring : NULL;
        variant_fields f = goal;
        if (name && !strcmp(name, "baseline"))
            nb++, f.lambda = 0;
        else if (name && !strcmp(name, "goal"))
            ng++;
        else if (name)
            return gc_config_fail(cf, path,
                                  "unknown variant %s (baseline, goal, or an object "
                                  "with a name)",
                                  name);
        else if (!cJSON_IsObject(e))
            return gc_config_fail(cf, path, "expected a name or an object at [%d]", v);
        else {
            GC_TRY(gc_config_read(cf, e, vpath, variant_f, GC_CFG_COUNT(variant_f), &f));
            if (!valid_variant_name(f.name))
                return gc_config_fail(cf, vpath,
                                      "name '%s': use up to 24 of a-z 0-9 - _, not "
                                      "baseline or goal",
                                      f.name);
            name = f.name;
        }
        math_variant *mv = &c->variant[c->n_variants++];
        snprintf(mv->name, sizeof mv->name, "%s", name);
        mv->goal_conditioned = f.lambda > 0;
        mv->con = (gc_con_config){(float)f.lambda,
                                  (int)f.K,
                                  (gc_pairs_mode)f.pairs,
                                  (gc_con_reduction)f.reduction,
                                  (gc_con_positions)f.positions,
                                  (gc_goal_sampling)f.goal_sampling};
        if (!mv->goal_conditioned) mv->con = (gc_con_config){.K = (int)goal.K};
        mv->head = f.head;
        for (int w = 0; w < c->n_variants - 1; w++)
            if (!strcmp(c->variant[w].name, name))
                return gc_config_fail(cf, path, "variant %s appears twice", name);
    }
    if (nb != 1 || ng != 1)
        return gc_config_fail(cf, path, "need one \"baseline\" and one \"goal\" variant");
    for (int v = 0; v < c->n_variants; v++) {
        if (!strcmp(c->variant[v].name, "baseline")) c->base = v;
        if (!strcmp(c->variant[v].name, "goal")) c->goal = v;
    }
    return GC_OK;
}

const cJSON *math_section(const math_ctx *m, const char *name, char path[128]) {
    snprintf(path, 128, "%s.%s", m->r->scale_path, name);
    return cJSON_GetObjectItemCaseSensitive(m->r->scale_cfg, name);
}

static gc_status read_cfg(const math_ctx *m, math_cfg *c) {
    const gc_config *cf = &m->r->cfg;
    char path[128];
    GC_TRY(gc_config_read(cf, math_section(m, "data", path), path, data_f, GC_CFG_COUNT(data_f),
                          &c->data));
    const cJSON *splits = c->data.splits;
    snprintf(path, sizeof path, "%s.data.splits", m->r->scale_path);
    if (cJSON_GetArraySize(splits) < 1 || cJSON_GetArraySize(splits) > MAX_SPLITS)
        return gc_config_fail(cf, path, "expected an array of 1 to %d split names", MAX_SPLITS);
    for (const cJSON *e = splits->child; e; e = e->next) {
        int sp = cJSON_IsString(e) ? gc_task_split_parse(e->valuestring) : -1;
        if (sp < 0 || gc_task_is_train(sp))
            return gc_config_fail(cf, path,
                                  "unknown evaluation split %s (known: arith-easy arith-hard "
                                  "arith-big arith-long arith-para; graph-easy graph-hard "
                                  "graph-wide graph-long graph-para)",
                                  cJSON_IsString(e) ? e->valuestring : "(not a string)");
        if (c->n_splits && gc_task_domain(sp) != gc_task_domain(c->splits[0]))
            return gc_config_fail(cf, path, "split %s is of the %s domain, %s of the %s domain",
                                  e->valuestring, gc_task_domain_name(gc_task_domain(sp)),
                                  gc_task_split_name(c->splits[0]),
                                  gc_task_domain_name(gc_task_domain(c->splits[0])));
        c->splits[c->n_splits++] = sp;
    }

    c->policy = (policy_cfg){.warmup = 0, .seed = 1, .clip = 1.0, .lr_min = 0};
    GC_TRY(gc_config_read(cf, math_section(m, "policy", path), path, pol_f, GC_CFG_COUNT(pol_f),
                          &c->policy));
    snprintf(path, sizeof path, "%s.policy.model", m->r->scale_path);
    GC_TRY(gc_model_config_read(cf, c->policy.model, path, &c->model));
    if (c->model.vocab_size != GC_CHAR_VOCAB) {
        strncat(path, ".vocab_size", sizeof path - strlen(path) - 1);
        return gc_config_fail(cf, path, "the math pipeline's character vocabulary has %d tokens",
                              GC_CHAR_VOCAB);
    }

    c->pairs = (pairs_cfg){.seed = 1, .top_p = 1.0};
    GC_TRY(gc_config_read(cf, math_section(m, "pairs", path), path, pairs_f, GC_CFG_COUNT(pairs_f),
                          &c->pairs));

    c->rm = (rm_cfg){.K = 16, .lambda = 0.5, .clip = 1.0, .trunk_lr_scale = 1.0};
    GC_TRY(gc_config_read(cf, math_section(m, "rm", path), path, rm_f, GC_CFG_COUNT(rm_f), &c->rm));
    strncat(path, ".variants", sizeof path - strlen(path) - 1);
    GC_TRY(read_variants(cf, path, c));

    c->eval = (eval_cfg){.temperature = 0, .top_p = 1, .samples = 1};
    GC_TRY(gc_config_read(cf, math_section(m, "eval", path), path, eval_f, GC_CFG_COUNT(eval_f),
                          &c->eval));
    char key[160];
    snprintf(key, sizeof key, "%s.max_len", path);
    if (c->eval.max_len > c->model.seq_len)
        return gc_config_fail(cf, key, "%lld exceeds the model's seq_len %d",
                              (long long)c->eval.max_len, c->model.seq_len);
    snprintf(key, sizeof key, "%s.samples", path);
    if (c->eval.temperature == 0 && c->eval.samples > 1)
        return gc_config_fail(cf, key,
                              "greedy evaluation (temperature 0) gives one solution per "
                              "question");
    return GC_OK;
}

/* ---- typed sets read back from the stages' files ---- */

static char **grow(char **a, int cap) {
    return realloc(a, sizeof(char *) * (size_t)cap);
}

static gc_status pairs_push(math_pairs *t, const char *p, const char *c, const char *r) {
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 1024;
        char **a = grow(t->prompt, cap);
        if (a) t->prompt = a;
        char **b = a ? grow(t->chosen, cap) : NULL;
        if (b) t->chosen = b;
        char **d = b ? grow(t->rejected, cap) : NULL;
        if (d) t->rejected = d;
        if (!d) return gc_fail(GC_ERR_NOMEM, "%s: out of memory", t->path);
        t->cap = cap;
    }
    t->prompt[t->n] = strdup(p), t->chosen[t->n] = strdup(c), t->rejected[t->n] = strdup(r);
    t->n++;
    return GC_OK;
}

static gc_status solutions_push(math_solutions *t, const char *sp, const char *q, const char *r,
                                int correct) {
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 1024;
        char **a = grow(t->split, cap);
        if (a) t->split = a;
        char **b = a ? grow(t->question, cap) : NULL;
        if (b) t->question = b;
        char **d = b ? grow(t->response, cap) : NULL;
        if (d) t->response = d;
        int *f = d ? realloc(t->correct, sizeof(int) * (size_t)cap) : NULL;
        if (f) t->correct = f;
        if (!f) return gc_fail(GC_ERR_NOMEM, "%s: out of memory", t->path);
        t->cap = cap;
    }
    t->split[t->n] = strdup(sp), t->question[t->n] = strdup(q), t->response[t->n] = strdup(r);
    t->correct[t->n++] = correct;
    return GC_OK;
}

static void free_strings(char **a, int n) {
    for (int i = 0; a && i < n; i++)
        free(a[i]);
    free(a);
}

static const char *str_item(const cJSON *o, const char *k) {
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static gc_status read_pair(const cJSON *o, int line, void *ctx) {
    math_pairs *t = ctx;
    const char *p = str_item(o, "prompt"), *c = str_item(o, "chosen"), *r = str_item(o, "rejected");
    if (!p || !c || !r)
        return gc_fail(GC_ERR_FORMAT, "%s:%d: missing string prompt/chosen/rejected", t->path,
                       line);
    return pairs_push(t, p, c, r);
}

static gc_status read_solution(const cJSON *o, int line, void *ctx) {
    math_solutions *t = ctx;
    const char *sp = str_item(o, "split"), *q = str_item(o, "question"),
               *r = str_item(o, "response");
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(o, "correct");
    if (!sp || !q || !r || !cJSON_IsBool(ok))
        return gc_fail(GC_ERR_FORMAT, "%s:%d: missing split/question/response/correct", t->path,
                       line);
    return solutions_push(t, sp, q, r, cJSON_IsTrue(ok));
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

/* the policy stage's checkpoints: the weights with the optimiser, and the loss sums */
typedef struct {
    rp_stage *st;
    gc_model *m;
    gc_sft_state *st_now;
} policy_ckpt;

static gc_status save_policy(const char *dir, void *ctx) {
    policy_ckpt *k = ctx;
    char path[RP_PATH];
    snprintf(path, sizeof path, "%s/policy.ckpt", dir);
    GC_TRY(gc_ckpt_save(path, k->m, &k->st_now->opt));
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "tail", k->st_now->tail);
    cJSON_AddNumberToObject(j, "window", k->st_now->window);
    cJSON_AddNumberToObject(j, "tail_n", k->st_now->tail_n);
    snprintf(path, sizeof path, "%s/sft.json", dir);
    gc_status s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

static gc_status policy_step(void *ctx, gc_model *m, gc_sft_state *sst, int last) {
    policy_ckpt *k = ctx;
    if (!rp_ckpt_due(k->st, last)) return GC_OK;
    k->m = m, k->st_now = sst;
    return rp_ckpt_write(k->st, sst->opt.step, save_policy, k);
}

/* a killed run's last checkpoint into m and *r (r->opt allocated); 0 when there is none */
static gc_status load_policy_ckpt(rp_stage *st, gc_model *m, gc_sft_state *r, int *found) {
    char dir[RP_PATH], path[RP_PATH + 16];
    *found = rp_ckpt_latest(st, dir) >= 0;
    if (!*found) return GC_OK;
    gc_model k;
    int has = 0;
    snprintf(path, sizeof path, "%s/policy.ckpt", dir);
    GC_TRY(gc_ckpt_load(path, &k, &r->opt, &has));
    gc_status s = GC_OK;
    if (!has || memcmp(&k.cfg, &m->cfg, sizeof m->cfg))
        s = gc_fail(GC_ERR_FORMAT, "%s: not a checkpoint of this policy with its optimiser", path);
    if (s == GC_OK) memcpy(m->params, k.params, sizeof(float) * m->n_params);
    gc_model_free(&k);
    cJSON *j = NULL;
    snprintf(path, sizeof path, "%s/sft.json", dir);
    if (s == GC_OK) s = gc_json_read(path, &j);
    if (s == GC_OK) {
        r->tail = gc_json_num(j, "tail", NAN), r->window = gc_json_num(j, "window", NAN);
        if (!gc_json_int_in(gc_json_get(j, "tail_n"), 0, INT_MAX, &r->tail_n) ||
            !isfinite(r->tail) || !isfinite(r->window))
            s = gc_fail(GC_ERR_FORMAT, "%s: expected tail, window and tail_n", path);
    }
    cJSON_Delete(j);
    if (s != GC_OK && has) gc_adamw_free(&r->opt);
    return s;
}

static gc_status compute_policy(rp_stage *st, void *ctx) {
    math_ctx *m = ctx;
    const math_cfg *c = &m->c;
    const problem_set *train = &m->train;
    int L = c->model.seq_len;
    gc_seqset data;
    if (gc_math_sft_set(train->p, train->n, L, &data) != GC_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", gc_last_error());
        return gc_fail(GC_ERR_CONFIG, "%s: training data: %s (seq_len %d)", m->r->cfg.path, why, L);
    }
    gc_model pm;
    gc_status s = gc_model_init(&pm, &c->model);
    if (s != GC_OK) {
        gc_seqset_free(&data);
        return s;
    }
    gc_model_init_random(&pm, (uint64_t)c->policy.seed);
    gc_sft_config sc = {.steps = (int)c->policy.steps,
                        .batch = (int)c->policy.batch,
                        .sched = {(float)c->policy.lr, (float)c->policy.lr_min, c->policy.warmup,
                                  c->policy.steps, (float)c->policy.clip},
                        .weight_decay = 0.0f,
                        .seed = (uint64_t)c->policy.seed};
    float loss = 0;
    gc_log_info("policy: supervised fine-tuning, %zu parameters, %d steps of %d", pm.n_params,
                sc.steps, sc.batch);
    policy_ckpt k = {st, NULL, NULL};
    gc_sft_state from = {0};
    int resumed = 0;
    s = load_policy_ckpt(st, &pm, &from, &resumed);
    sc.on_step = policy_step, sc.on_step_ctx = &k, sc.resume = resumed ? &from : NULL;
    if (s == GC_OK) s = gc_sft_train(&pm, &data, &sc, &loss);
    if (resumed) gc_adamw_free(&from.opt);
    char path[RP_PATH];
    rp_stage_file(st, "policy.ckpt", path);
    if (s == GC_OK) s = gc_ckpt_save(path, &pm, NULL);
    gc_model_free(&pm);
    gc_seqset_free(&data);
    GC_TRY(s);
    st->info = cJSON_CreateObject();
    cJSON_AddNumberToObject(st->info, "final_loss", loss);
    cJSON_AddNumberToObject(st->info, "wall_s", gc_now() - st->t0);
    return GC_OK;
}

static const rp_stage_def POLICY = {"policy", __FILE__, compute_policy, NULL};

gc_status math_load_policy(const math_ctx *m, gc_model *pm) {
    char path[RP_PATH];
    rp_stage_file(m->pol, "policy.ckpt", path);
    return gc_ckpt_load(path, pm, NULL, NULL);
}

/* ---- stage: preference pairs ---- */

/* Pairs without a policy: the reference solution against a corrupted copy (a one-line slip), for
 * training questions [first, first + nq). */
static gc_status reference_pairs(const math_ctx *m, int first, int nq, gc_atomic_file *af, int *n) {
    char bad[GC_TASK_TEXT];
    const problem_set *train = &m->train;
    for (int q = first; q < first + nq && q < train->n; q++) {
        gc_task_corrupt(&train->p[q], (uint64_t)m->c.pairs.seed, bad);
        if (gc_task_check(bad, train->p[q].answer)) continue; /* the slip cancelled out */
        GC_TRY(write_pair(af, q, train->p[q].question, train->p[q].solution, bad));
        ++*n;
    }
    return GC_OK;
}

/* Pairs from the policy's samples: the k-th correct with the k-th incorrect sample of a
 * question, cycling, up to max_pairs_per_question. */
static gc_status policy_pairs(rp_stage *st, const math_ctx *m, int nq, gc_atomic_file *af,
                              cJSON *info) {
    const math_cfg *c = &m->c;
    const problem_set *train = &m->train;
    int M = (int)c->pairs.samples;
    gc_model pm;
    GC_TRY(math_load_policy(m, &pm));
    const char **qs = gc_malloc(sizeof(char *) * nq);
    char **texts = gc_calloc((size_t)nq * M, sizeof(char *));
    gc_status s = qs && texts ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < nq; i++)
        qs[i] = train->p[i].question;
    gc_sample_config sc = {(float)c->pairs.temperature,
                           (float)c->pairs.top_p,
                           (uint64_t)c->pairs.seed,
                           (int)c->eval.max_len,
                           64,
                           NULL};
    int64_t ntok = 0;
    gc_log_info("pairs: sampling %d solutions for each of %d training questions", M, nq);
    if (s == GC_OK) s = math_sample_ckpt(st, &pm, qs, nq, M, &sc, texts, &ntok);
    gc_model_free(&pm);
    int n_pairs = 0, n_correct = 0, mixed = 0;
    for (int q = 0; s == GC_OK && q < nq; q++) {
        int ok[1024], nok = 0, nbad = 0;
        for (int i = 0; i < M; i++) {
            ok[i] = gc_task_check(texts[q * M + i], train->p[q].answer);
            nok += ok[i];
            nbad += !ok[i];
        }
        n_correct += nok;
        if (!nok || !nbad) continue;
        mixed++;
        int made = 0, ci = 0, wi = 0;
        int limit = (int)c->pairs.max_pairs, most = nok > nbad ? nok : nbad;
        for (int k = 0; k < most && made < limit && s == GC_OK; k++, made++) {
            while (!ok[ci % M])
                ci++;
            while (ok[wi % M])
                wi++;
            s = write_pair(af, q, train->p[q].question, texts[q * M + ci % M],
                           texts[q * M + wi % M]);
            ci++, wi++;
            n_pairs++;
        }
    }
    free_strings(texts, texts ? nq * M : 0);
    free(qs);
    GC_TRY(s);
    if (n_pairs == 0)
        return gc_fail(GC_ERR_ARG,
                       "pairs: the policy's %d samples gave no (correct, incorrect) "
                       "pair (sample accuracy %.3f); train the policy longer or sample more",
                       nq * M, (double)n_correct / (nq * M));
    cJSON_AddNumberToObject(info, "questions", nq);
    cJSON_AddNumberToObject(info, "samples", nq * M);
    cJSON_AddNumberToObject(info, "sample_accuracy", (double)n_correct / (nq * M));
    cJSON_AddNumberToObject(info, "questions_with_both", mixed);
    cJSON_AddNumberToObject(info, "pairs", n_pairs);
    cJSON_AddNumberToObject(info, "generated_tokens", (double)ntok);
    gc_log_info("pairs: sample accuracy %.3f, %d pairs from %d questions",
                (double)n_correct / (nq * M), n_pairs, mixed);
    return GC_OK;
}

static gc_status compute_pairs(rp_stage *st, void *ctx) {
    math_ctx *m = ctx;
    int nq = (int)(m->c.pairs.questions < m->train.n ? m->c.pairs.questions : m->train.n);
    char path[RP_PATH];
    rp_stage_file(st, "pairs.jsonl", path);
    gc_atomic_file af;
    GC_TRY(gc_atomic_open(&af, path));
    st->info = cJSON_CreateObject();
    gc_status s;
    if (m->c.pairs.source == 1) {
        int n = 0;
        s = reference_pairs(m, 0, nq, &af, &n);
        cJSON_AddStringToObject(st->info, "source", "reference");
        cJSON_AddNumberToObject(st->info, "pairs", n);
    } else {
        s = policy_pairs(st, m, nq, &af, st->info);
        int n = 0, extra = (int)m->c.pairs.reference_questions;
        if (s == GC_OK && extra) {
            s = reference_pairs(m, nq, extra, &af, &n);
            cJSON_AddNumberToObject(st->info, "reference_pairs", n);
            gc_log_info("pairs: %d reference-vs-corrupted pairs added", n);
        }
    }
    if (s != GC_OK) {
        gc_atomic_abort(&af);
        return s;
    }
    return gc_atomic_commit(&af);
}

static gc_status load_pairs(const rp_stage *st, void *ctx) {
    math_ctx *m = ctx;
    rp_stage_file(st, "pairs.jsonl", m->pairs.path);
    return gc_jsonl_each(m->pairs.path, read_pair, &m->pairs);
}

static const rp_stage_def PAIRS = {"pairs", __FILE__, compute_pairs, load_pairs};

/* ---- stage: evaluation solutions ---- */

static gc_status write_solutions(const math_ctx *m, char **texts, int M, gc_atomic_file *af,
                                 cJSON *info) {
    const math_cfg *c = &m->c;
    int ne = (int)c->data.eval_questions;
    cJSON *acc = cJSON_AddObjectToObject(info, "accuracy");
    for (int sp = 0; sp < c->n_splits; sp++) {
        int right = 0;
        for (int i = 0; i < ne * M; i++) {
            int q = sp * ne + i / M;
            int ok = gc_task_check(texts[q * M + i % M], m->eval.p[q].answer);
            right += ok;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "split", gc_task_split_name(c->splits[sp]));
            cJSON_AddNumberToObject(o, "question_index", i / M);
            cJSON_AddStringToObject(o, "question", m->eval.p[q].question);
            cJSON_AddStringToObject(o, "response", texts[q * M + i % M]);
            cJSON_AddNumberToObject(o, "answer", (double)m->eval.p[q].answer);
            cJSON_AddBoolToObject(o, "correct", ok);
            gc_status s = gc_jsonl_append(af, o);
            cJSON_Delete(o);
            GC_TRY(s);
        }
        cJSON_AddNumberToObject(acc, gc_task_split_name(c->splits[sp]), (double)right / (ne * M));
        gc_log_info("eval: %s policy accuracy %.3f", gc_task_split_name(c->splits[sp]),
                    (double)right / (ne * M));
    }
    return GC_OK;
}

static gc_status compute_eval(rp_stage *st, void *ctx) {
    math_ctx *m = ctx;
    const math_cfg *c = &m->c;
    const problem_set *eval = &m->eval;
    int n = eval->n, M = c->eval.source == 1 ? 2 : (int)c->eval.samples;
    const char **qs = gc_malloc(sizeof(char *) * n);
    char **texts = gc_calloc((size_t)n * M, sizeof(char *));
    gc_status s = qs && texts ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < n; i++)
        qs[i] = eval->p[i].question;
    if (s == GC_OK && c->eval.source == 1) { /* reference and corrupted solutions: no policy */
        for (int i = 0; i < n && s == GC_OK; i++) {
            texts[2 * i] = strdup(eval->p[i].solution);
            texts[2 * i + 1] = gc_malloc(GC_TASK_TEXT);
            if (!texts[2 * i] || !texts[2 * i + 1])
                s = GC_ERR_NOMEM;
            else
                gc_task_corrupt(&eval->p[i], 0xE7A1, texts[2 * i + 1]);
        }
    } else if (s == GC_OK) {
        gc_model pm;
        s = math_load_policy(m, &pm);
        gc_sample_config sc = {(float)c->eval.temperature,
                               (float)c->eval.top_p,
                               0xE7A1,
                               (int)c->eval.max_len,
                               64,
                               NULL};
        gc_log_info("eval: %d solution(s) for each of %d questions in %d splits", M,
                    (int)c->data.eval_questions, c->n_splits);
        if (s == GC_OK) {
            s = math_sample_ckpt(st, &pm, qs, n, M, &sc, texts, NULL);
            gc_model_free(&pm);
        }
    }
    char path[RP_PATH];
    rp_stage_file(st, "solutions.jsonl", path);
    gc_atomic_file af = {0};
    if (s == GC_OK) s = gc_atomic_open(&af, path);
    st->info = cJSON_CreateObject();
    if (s == GC_OK) s = write_solutions(m, texts, M, &af, st->info);
    free_strings(texts, texts ? n * M : 0);
    free(qs);
    if (s == GC_OK) return gc_atomic_commit(&af);
    gc_atomic_abort(&af);
    return s;
}

static gc_status load_solutions(const rp_stage *st, void *ctx) {
    math_ctx *m = ctx;
    rp_stage_file(st, "solutions.jsonl", m->sol.path);
    return gc_jsonl_each(m->sol.path, read_solution, &m->sol);
}

static const rp_stage_def EVAL_SOLUTIONS = {"eval-solutions", __FILE__, compute_eval,
                                            load_solutions};

/* The resolved configuration a reward model's key hashes: the rm section's training settings
 * (without variants) and the variant's own contrastive settings and head. The contrastive
 * settings do not touch the baseline: it hashes lambda 0 alone. */
static cJSON *rm_key_config(const math_ctx *m, int v, int seed) {
    const math_cfg *c = &m->c;
    const math_variant *mv = &c->variant[v];
    rm_cfg train = c->rm;
    train.variants = NULL;
    cJSON *k = gc_config_to_json(rm_f, GC_CFG_COUNT(rm_f), &train);
    static const char *const con_keys[] = {
        "variants", "lambda", "K", "pairs", "reduction", "positions", "goal_sampling", "head"};
    for (size_t i = 0; i < sizeof con_keys / sizeof con_keys[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(k, con_keys[i]);
    variant_fields f = {.K = mv->con.K,
                        .lambda = mv->con.lambda,
                        .pairs = mv->con.pairs,
                        .reduction = mv->con.reduction,
                        .positions = mv->con.positions,
                        .goal_sampling = mv->con.goal_sampling,
                        .head = mv->head};
    snprintf(f.name, sizeof f.name, "%s", mv->name);
    cJSON *vj = gc_config_to_json(variant_f, GC_CFG_COUNT(variant_f), &f);
    cJSON_DeleteItemFromObjectCaseSensitive(vj, "name"); /* the settings, not the label */
    if (!mv->goal_conditioned) {
        static const char *const unused[] = {"K", "pairs", "reduction", "positions",
                                             "goal_sampling"};
        for (size_t i = 0; i < sizeof unused / sizeof unused[0]; i++)
            cJSON_DeleteItemFromObjectCaseSensitive(vj, unused[i]);
    }
    cJSON_AddItemToObject(k, "variant", vj);
    cJSON_AddNumberToObject(k, "seed", seed);
    cJSON_AddNumberToObject(k, "max_len", (double)c->eval.max_len);
    return k;
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
            in = cJSON_IsString(e) && !strcmp(e->valuestring, m->sol.split[i]);
        if (in) idx[n++] = i;
    }
    return n;
}

gc_status math_write_goal(const rp_stage *st, const float *goal, int D, const char *what) {
    return math_write_goal_file(st, "goal.json", goal, D, what);
}

gc_status math_read_goal(const rp_stage *st, int D, float *goal) {
    return math_read_goal_file(st, "goal.json", D, goal);
}

gc_status math_write_goal_file(const rp_stage *st, const char *file, const float *goal, int D,
                               const char *what) {
    char path[RP_PATH];
    rp_stage_file(st, file, path);
    cJSON *j = cJSON_CreateObject();
    gc_json_add_floats(j, "goal", goal, (size_t)D);
    cJSON_AddStringToObject(j, "what", what);
    gc_status s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

gc_status math_read_goal_file(const rp_stage *st, const char *file, int D, float *goal) {
    char path[RP_PATH];
    rp_stage_file(st, file, path);
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
            ok |= !strcmp(e->valuestring, gc_task_split_name(m->c.splits[sp]));
    }
    if (!ok)
        return gc_config_fail(&m->r->cfg, key,
                              "expected an array of split names from "
                              "data.splits");
    return GC_OK;
}

int math_variant_order(const math_ctx *m, int k) {
    if (k == 0) return m->c.base;
    if (k == 1) return m->c.goal;
    for (int v = 0, seen = 1; v < m->c.n_variants; v++)
        if (v != m->c.base && v != m->c.goal && ++seen == k) return v;
    return -1;
}

/* ---- the pipeline ---- */

gc_status math_check_config(math_ctx *m) {
    return read_cfg(m, &m->c);
}

gc_status math_prepare(math_ctx *m) {
    rp_run *r = m->r;
    math_cfg *c = &m->c;
    GC_TRY(read_cfg(m, c));
    m->train.n = (int)c->data.train_questions;
    m->eval.n = (int)c->data.eval_questions * c->n_splits;
    GC_TRY(gc_task_make_sets((uint64_t)c->data.seed, m->train.n, (int)c->data.eval_questions,
                             c->splits, c->n_splits, &m->train.p, &m->eval.p));

    /* policy: the data and the policy sections, typed (the model with its defaults) */
    cJSON *kpol = cJSON_CreateObject();
    cJSON_AddItemToObject(kpol, "data", gc_config_to_json(data_f, GC_CFG_COUNT(data_f), &c->data));
    policy_cfg pc = c->policy;
    pc.model = NULL;
    cJSON *pj = gc_config_to_json(pol_f, GC_CFG_COUNT(pol_f), &pc);
    cJSON_ReplaceItemInObjectCaseSensitive(pj, "model", gc_model_config_json(&c->model));
    cJSON_AddItemToObject(kpol, "policy", pj);
    GC_TRY(rp_stage_run(r, &POLICY, "policy", kpol, NULL, 0, m, &m->pol));

    cJSON *kpairs = gc_config_to_json(pairs_f, GC_CFG_COUNT(pairs_f), &c->pairs);
    cJSON_AddNumberToObject(kpairs, "max_len", (double)c->eval.max_len);
    GC_TRY(rp_stage_run(r, &PAIRS, "pairs", kpairs, &m->pol, 1, m, &m->pst));

    cJSON *keval = gc_config_to_json(eval_f, GC_CFG_COUNT(eval_f), &c->eval);
    GC_TRY(rp_stage_run(r, &EVAL_SOLUTIONS, "eval-solutions", keval, &m->pol, 1, m, &m->est));

    m->rm = gc_calloc((size_t)c->n_variants * r->seeds, sizeof(rp_stage *));
    if (!m->rm) return GC_ERR_NOMEM;
    rp_stage *in[2] = {m->pol, m->pst};
    for (int v = 0; v < c->n_variants; v++)
        for (int seed = 1; seed <= r->seeds; seed++) {
            char name[96];
            snprintf(name, sizeof name, "rm-%s-seed%d", c->variant[v].name, seed);
            math_rm_job job = {m, v, seed};
            GC_TRY(rp_stage_run(r, &MATH_REWARD_MODEL, name, rm_key_config(m, v, seed), in, 2, &job,
                                &m->rm[v * r->seeds + seed - 1]));
        }
    return GC_OK;
}

void math_ctx_free(math_ctx *m) {
    free_strings(m->pairs.prompt, m->pairs.n);
    free_strings(m->pairs.chosen, m->pairs.n);
    free_strings(m->pairs.rejected, m->pairs.n);
    free_strings(m->sol.split, m->sol.n);
    free_strings(m->sol.question, m->sol.n);
    free_strings(m->sol.response, m->sol.n);
    free(m->sol.correct);
    free(m->train.p), free(m->eval.p);
    free(m->rm);
    memset(m, 0, sizeof *m);
}
