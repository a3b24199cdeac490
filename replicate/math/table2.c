/* table2: the policy trained three ways (PAPER.md section 3) — so far the DPO arm. Stages:
 * dpo-ref (the SFT policy's log-probabilities of every preference pair's responses: the frozen
 * reference, computed once) and dpo-seed<k> (the SFT policy trained with DPO on the same pairs the
 * reward models train on, then its greedy solutions of every evaluation question). The analysis
 * reports greedy accuracy per split and on average (the splits are the same size) for the SFT
 * policy and the DPO policies (mean and 95% CI over seeds), and the DPO training curves. The PPO
 * arms (baseline and goal-conditioned reward models) are not built yet; the results say so.
 * Plot: plots/table2.gp.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/ckpt.h"
#include "lib/policy/dpo.h"
#include "lib/stats/stats.h"
#include "lib/tasks/task.h"
#include "lib/tasks/mathpipe.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/runner/results.h"
#include "analyses.h"
#include "diagnostics.h"

typedef struct {
    int64_t epochs, batch, warmup;
    double lr, lr_min, clip, beta;
    int norm;
} dpo_cfg;

#define F(field, type, req, lo, hi)                                                                \
    { #field, type, offsetof(dpo_cfg, field), req, lo, hi, NULL }
static const gc_cfg_field dpo_f[] = {
    F(epochs, GC_CFG_INT, 1, 1, 1000),
    F(batch, GC_CFG_INT, 1, 1, 4096),
    F(warmup, GC_CFG_INT, 0, 0, 1e6),
    F(lr, GC_CFG_FLOAT, 1, 1e-9, 1),
    F(lr_min, GC_CFG_FLOAT, 0, 0, 1),
    F(clip, GC_CFG_FLOAT, 0, 0, 1e6),
    F(beta, GC_CFG_FLOAT, 1, 1e-6, 1e3),
    {"length_normalised", GC_CFG_BOOL, offsetof(dpo_cfg, norm), 0, 0, 1, NULL},
};
#undef F

typedef struct {
    const cJSON *dpo;
} table2_cfg;
static const gc_cfg_field table2_f[] = {
    {"dpo", GC_CFG_OBJECT, offsetof(table2_cfg, dpo), 1, 0, 0, NULL},
};

typedef struct {
    math_ctx *m;
    const dpo_cfg *dc;
    double *ref; /* (2 * pairs.n): chosen, rejected of each pair */
    int seed;
    int *correct; /* (eval.n) the DPO policy's greedy solutions, right or not */
    cJSON *curve; /* loaded: the training curve */
} dpo_job;

enum { DPO_BATCH_MAX = 4096 };

/* the pairs' sequences in batches of P, in order (items = identity) or in a given order */
typedef struct {
    int32_t *tok, *tmp;
    int *plen, *len;
} pair_buf;

static gc_status pair_buf_init(pair_buf *b, int P, int L) {
    b->tok = gc_malloc(sizeof(int32_t) * (size_t)2 * P * L);
    b->tmp = gc_malloc(sizeof(int32_t) * (size_t)L);
    b->plen = gc_malloc(sizeof(int) * 2 * P);
    b->len = gc_malloc(sizeof(int) * 2 * P);
    return b->tok && b->tmp && b->plen && b->len ? GC_OK : GC_ERR_NOMEM;
}

static void pair_buf_free(pair_buf *b) {
    free(b->tok), free(b->tmp), free(b->plen), free(b->len);
}

static gc_status pack(const math_pairs *pr, const int *items, int nb, int L, pair_buf *b, int *T) {
    return gc_math_pack_pairs((const char *const *)pr->prompt, (const char *const *)pr->chosen,
                              (const char *const *)pr->rejected, items, nb, L, b->tok, b->tmp,
                              b->plen, b->len, T);
}

/* ---- greedy solutions of every evaluation question ---- */

/* Decodes every evaluation question greedily with pm (freed here) and writes <file>: correct (0/1
 * per question, split-major) and the responses, plus the training curve (may be NULL) */
static gc_status write_greedy(rp_stage *st, math_ctx *m, gc_model *pm, cJSON *curve,
                              const char *file) {
    const problem_set *ev = &m->eval;
    int n = ev->n ? ev->n : 1;
    const char **qs = gc_malloc(sizeof(char *) * n);
    char **texts = gc_calloc((size_t)n, sizeof(char *));
    gc_status s = qs && texts ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < ev->n; i++)
        qs[i] = ev->p[i].question;
    gc_sample_config sc = {0.0f, 1.0f, 0xE7A1, (int)m->c.eval.max_len, 64};
    if (s == GC_OK) s = gc_math_sample(pm, qs, ev->n, 1, &sc, texts, NULL);
    gc_model_free(pm);
    cJSON *j = cJSON_CreateObject(), *ok = cJSON_AddArrayToObject(j, "correct");
    cJSON *resp = cJSON_AddArrayToObject(j, "response");
    for (int i = 0; s == GC_OK && i < ev->n; i++) {
        cJSON_AddItemToArray(ok, cJSON_CreateNumber(gc_task_check(texts[i], ev->p[i].answer)));
        cJSON_AddItemToArray(resp, cJSON_CreateString(texts[i]));
    }
    cJSON_AddItemToObject(j, RS_EPOCHS, curve ? curve : cJSON_CreateArray());
    for (int i = 0; texts && i < ev->n; i++)
        free(texts[i]);
    free(texts), free(qs);
    char path[RP_PATH];
    rp_stage_file(st, file, path);
    if (s == GC_OK) s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

/* reads <file>'s correct flags into job->correct and its curve into job->curve */
static gc_status read_greedy(const rp_stage *st, dpo_job *job, const char *file) {
    char path[RP_PATH];
    rp_stage_file(st, file, path);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    const cJSON *ok = gc_json_get(j, "correct");
    int n = job->m->eval.n;
    gc_status s = cJSON_GetArraySize(ok) == n
                      ? GC_OK
                      : gc_fail(GC_ERR_FORMAT, "%s: expected %d evaluation results", path, n);
    for (int i = 0; s == GC_OK && i < n; i++)
        job->correct[i] = gc_json_at(ok, i) != 0;
    if (s == GC_OK) job->curve = cJSON_Duplicate(gc_json_get(j, RS_EPOCHS), 1);
    cJSON_Delete(j);
    return s;
}

static gc_status compute_sft(rp_stage *st, void *ctx) {
    dpo_job *job = ctx;
    gc_model pm;
    GC_TRY(math_load_policy(job->m, &pm));
    return write_greedy(st, job->m, &pm, NULL, "greedy.json");
}

static gc_status load_sft(const rp_stage *st, void *ctx) {
    return read_greedy(st, ctx, "greedy.json");
}

static const rp_stage_def SFT_GREEDY = {"sft-greedy", __FILE__, compute_sft, load_sft};

/* ---- stage: the reference log-probabilities ---- */

static gc_status compute_ref(rp_stage *st, void *ctx) {
    dpo_job *job = ctx;
    math_ctx *m = job->m;
    const math_pairs *pr = &m->pairs;
    int n = pr->n, P = 16, L = (int)m->c.eval.max_len;
    gc_model pm;
    GC_TRY(math_load_policy(m, &pm));
    pair_buf b;
    int *items = gc_malloc(sizeof(int) * P);
    gc_status s = pair_buf_init(&b, P, L);
    if (s == GC_OK && !items) s = GC_ERR_NOMEM;
    for (int first = 0; s == GC_OK && first < n; first += P) {
        int nb = n - first < P ? n - first : P, T = 0;
        for (int k = 0; k < nb; k++)
            items[k] = first + k;
        s = pack(pr, items, nb, L, &b, &T);
        if (s == GC_OK)
            s = gc_seq_logprob(&pm, b.tok, 2 * nb, T, b.plen, b.len, job->dc->norm,
                               job->ref + 2 * first);
    }
    gc_model_free(&pm);
    pair_buf_free(&b);
    free(items);
    GC_TRY(s);
    cJSON *j = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(j, "logprob");
    for (int i = 0; i < 2 * n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(job->ref[i]));
    cJSON_AddStringToObject(j, "layout", "pair i: [2i] chosen, [2i + 1] rejected");
    char path[RP_PATH];
    rp_stage_file(st, "reference.json", path);
    s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

static gc_status load_ref(const rp_stage *st, void *ctx) {
    dpo_job *job = ctx;
    char path[RP_PATH];
    rp_stage_file(st, "reference.json", path);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    const cJSON *a = gc_json_get(j, "logprob");
    gc_status s = cJSON_GetArraySize(a) == 2 * job->m->pairs.n
                      ? GC_OK
                      : gc_fail(GC_ERR_FORMAT, "%s: expected %d log-probabilities", path,
                                2 * job->m->pairs.n);
    for (int i = 0; s == GC_OK && i < 2 * job->m->pairs.n; i++)
        job->ref[i] = gc_json_at(a, i);
    cJSON_Delete(j);
    return s;
}

static const rp_stage_def DPO_REF = {"dpo-ref", __FILE__, compute_ref, load_ref};

/* ---- stage: a DPO policy ---- */

static gc_status compute_dpo(rp_stage *st, void *ctx) {
    dpo_job *job = ctx;
    math_ctx *m = job->m;
    const dpo_cfg *dc = job->dc;
    const math_pairs *pr = &m->pairs;
    int n = pr->n, P = (int)dc->batch, L = (int)m->c.eval.max_len;
    int per_epoch = (n + P - 1) / P, steps = per_epoch * (int)dc->epochs;
    gc_model pm;
    GC_TRY(math_load_policy(m, &pm));
    gc_adamw opt;
    gc_status s = gc_adamw_init(&opt, pm.n_params, 0.9f, 0.95f, 1e-8f, 0.0f);
    pair_buf b = {0};
    int *order = gc_malloc(sizeof(int) * (n ? n : 1)), *lens = gc_malloc(sizeof(int) * (n ? n : 1));
    int *perm = gc_malloc(sizeof(int) * (per_epoch ? per_epoch : 1));
    double *ref = gc_malloc(sizeof(double) * 2 * P);
    if (s == GC_OK) s = pair_buf_init(&b, P, L);
    if (s == GC_OK && !(order && lens && perm && ref)) s = GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < n; i++) {
        size_t lc = strlen(pr->chosen[i]), lr = strlen(pr->rejected[i]);
        lens[i] = (int)(strlen(pr->prompt[i]) + (lc > lr ? lc : lr));
    }
    gc_rng rng;
    gc_rng_init(&rng, (uint64_t)job->seed, gc_rng_stream(GC_STREAM_DPO, 0));
    cJSON *curve = cJSON_CreateArray();
    double e_loss = 0, e_acc = 0, e_margin = 0;
    gc_progress prog;
    gc_progress_init(&prog, st->name, steps);
    for (int step = 0; s == GC_OK && step < steps; step++) {
        int es = step % per_epoch;
        if (es == 0) gc_math_pair_order(&rng, n, P, lens, order, perm, per_epoch);
        int first = perm[es] * P, nb = n - first < P ? n - first : P, T = 0;
        s = pack(pr, order + first, nb, L, &b, &T);
        for (int k = 0; s == GC_OK && k < nb; k++)
            ref[2 * k] = job->ref[2 * order[first + k]],
                    ref[2 * k + 1] = job->ref[2 * order[first + k] + 1];
        float lr = gc_lr_cosine(step, steps, dc->warmup, (float)dc->lr, (float)dc->lr_min);
        gc_dpo_stats ds = {0};
        if (s == GC_OK)
            s = gc_dpo_step(&pm, &opt, b.tok, nb, T, b.plen, b.len, ref, dc->beta, dc->norm, lr,
                            (float)dc->clip, &ds);
        e_loss += ds.loss / per_epoch, e_acc += ds.acc / per_epoch,
            e_margin += ds.margin / per_epoch;
        if (s == GC_OK && es == per_epoch - 1) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, RS_EPOCH, step / per_epoch + 1);
            cJSON_AddNumberToObject(e, RS_TRAIN_LOSS, e_loss);
            cJSON_AddNumberToObject(e, RS_TRAIN_ACCURACY, e_acc);
            cJSON_AddNumberToObject(e, RS_MARGIN, e_margin);
            cJSON_AddItemToArray(curve, e);
            gc_log_info("%s epoch %d: loss %.4f, pair accuracy %.3f, log-ratio margin %.3f",
                        st->name, step / per_epoch + 1, e_loss, e_acc, e_margin);
            e_loss = e_acc = e_margin = 0;
        }
        gc_progress_update(&prog, step + 1);
    }
    gc_progress_end(&prog);
    pair_buf_free(&b);
    free(order), free(lens), free(perm), free(ref);
    gc_adamw_free(&opt);
    char path[RP_PATH];
    rp_stage_file(st, "policy.ckpt", path);
    if (s == GC_OK) s = gc_ckpt_save(path, &pm, NULL);
    if (s != GC_OK) {
        gc_model_free(&pm);
        cJSON_Delete(curve);
        return s;
    }
    return write_greedy(st, m, &pm, curve, "dpo.json");
}

static gc_status load_dpo(const rp_stage *st, void *ctx) {
    return read_greedy(st, ctx, "dpo.json");
}

static const rp_stage_def DPO_POLICY = {"dpo", __FILE__, compute_dpo, load_dpo};

/* ---- the analysis ---- */

static gc_status write_dat(const char *path, const cJSON *results, const void *ctx) {
    (void)ctx;
    FILE *f = fopen(path, "w");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot write", path);
    fprintf(f, "# greedy accuracy per split; columns by name\n%s %s %s_%s %s_%s %s_%s\n", RS_SPLIT,
            RS_SFT, RS_DPO, RS_MEAN, RS_DPO, RS_LO, RS_DPO, RS_HI);
    for (const cJSON *g = gc_json_get(results, RS_SPLITS)->child; g; g = g->next) {
        const cJSON *d = gc_json_get(g, RS_DPO);
        fprintf(f, "%s %.5f %.5f %.5f %.5f\n", cJSON_GetStringValue(gc_json_get(g, RS_SPLIT)),
                gc_json_num(g, RS_SFT, NAN), gc_json_num(d, RS_MEAN, NAN),
                gc_json_num(d, RS_LO, NAN), gc_json_num(d, RS_HI, NAN));
    }
    if (fclose(f) != 0) return gc_fail(GC_ERR_IO, "%s: write failed", path);
    return GC_OK;
}

static void print_row(const cJSON *g, FILE *f) {
    const cJSON *d = gc_json_get(g, RS_DPO);
    fprintf(f, "  %-11s SFT %.3f   DPO %.3f [%.3f, %.3f]\n",
            cJSON_GetStringValue(gc_json_get(g, RS_SPLIT)), gc_json_num(g, RS_SFT, NAN),
            gc_json_num(d, RS_MEAN, NAN), gc_json_num(d, RS_LO, NAN), gc_json_num(d, RS_HI, NAN));
}

static void print_table2(const cJSON *r, FILE *f) {
    fprintf(f, "\ntable2: greedy accuracy (DPO: mean [95%% CI over seeds]); PPO arms not built\n");
    for (const cJSON *g = gc_json_get(r, RS_SPLITS)->child; g; g = g->next)
        print_row(g, f);
    print_row(gc_json_get(r, RS_AVERAGE), f);
}

gc_status math_analyse_table2(math_ctx *m, const cJSON *section, const char *path) {
    const gc_config *cf = &m->r->cfg;
    table2_cfg tc = {0};
    GC_TRY(gc_config_read(cf, section, path, table2_f, GC_CFG_COUNT(table2_f), &tc));
    char dpath[160];
    snprintf(dpath, sizeof dpath, "%s.dpo", path);
    dpo_cfg dc = {.warmup = 0, .clip = 1.0, .lr_min = 0};
    GC_TRY(gc_config_read(cf, tc.dpo, dpath, dpo_f, GC_CFG_COUNT(dpo_f), &dc));
    if (dc.batch > DPO_BATCH_MAX) dc.batch = DPO_BATCH_MAX;
    int seeds = m->r->seeds, ne = m->eval.n;
    dpo_job job = {m, &dc,  gc_malloc(sizeof(double) * 2 * (m->pairs.n ? m->pairs.n : 1)),
                   0, NULL, NULL};
    int *correct = gc_malloc(sizeof(int) * (size_t)seeds * (ne ? ne : 1));
    cJSON *curves = cJSON_CreateArray();
    gc_status s = job.ref && correct ? GC_OK : GC_ERR_NOMEM;
    cJSON *kref = cJSON_CreateObject();
    cJSON_AddBoolToObject(kref, "length_normalised", dc.norm);
    cJSON_AddNumberToObject(kref, "max_len", (double)m->c.eval.max_len);
    /* the evaluation solutions' stage is an input for its key: the evaluation set and settings */
    rp_stage *refst = NULL, *in[4] = {m->pol, m->pst, NULL, m->est};
    if (s == GC_OK)
        s = rp_stage_run(m->r, &DPO_REF, "dpo-ref", kref, in, 2, &job, &refst);
    else
        cJSON_Delete(kref);
    in[2] = refst;
    int *sft_ok = gc_malloc(sizeof(int) * (ne ? ne : 1));
    if (s == GC_OK && !sft_ok) s = GC_ERR_NOMEM;
    job.correct = sft_ok;
    rp_stage *sft_in[2] = {m->pol, m->est};
    if (s == GC_OK) s = rp_stage_run(m->r, &SFT_GREEDY, "sft-greedy", NULL, sft_in, 2, &job, NULL);
    cJSON_Delete(job.curve);
    for (int k = 1; s == GC_OK && k <= seeds; k++) {
        cJSON *key = gc_config_to_json(dpo_f, GC_CFG_COUNT(dpo_f), &dc);
        cJSON_AddNumberToObject(key, "seed", k);
        cJSON_AddNumberToObject(key, "max_len", (double)m->c.eval.max_len);
        char name[64];
        snprintf(name, sizeof name, "dpo-seed%d", k);
        job.seed = k, job.correct = correct + (size_t)(k - 1) * ne, job.curve = NULL;
        s = rp_stage_run(m->r, &DPO_POLICY, name, key, in, 4, &job, NULL);
        if (s == GC_OK) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "seed", k);
            cJSON_AddItemToObject(c, RS_EPOCHS, job.curve ? job.curve : cJSON_CreateArray());
            cJSON_AddItemToArray(curves, c);
        }
    }
    cJSON *results = s == GC_OK ? rp_metadata(m->r) : NULL;
    if (results) {
        cJSON *splits = cJSON_AddArrayToObject(results, RS_SPLITS);
        int per = (int)m->c.data.eval_questions;
        double avg_sft = 0, avg_dpo[64] = {0};
        for (int sp = 0; sp < m->c.n_splits; sp++) {
            const char *name = gc_task_split_name(m->c.splits[sp]);
            int right = 0;
            for (int q = 0; q < per; q++)
                right += sft_ok[sp * per + q];
            double acc[64];
            for (int k = 0; k < seeds; k++) {
                int r = 0;
                for (int q = 0; q < per; q++)
                    r += correct[(size_t)k * ne + sp * per + q];
                acc[k] = (double)r / per;
                avg_dpo[k] += acc[k] / m->c.n_splits;
            }
            double sft = (double)right / per;
            avg_sft += sft / m->c.n_splits;
            cJSON *g = cJSON_CreateObject();
            cJSON_AddStringToObject(g, RS_SPLIT, name);
            cJSON_AddNumberToObject(g, RS_N, per);
            cJSON_AddNumberToObject(g, RS_SFT, sft);
            cJSON_AddItemToObject(g, RS_DPO, rp_summary(acc, seeds));
            cJSON_AddItemToArray(splits, g);
        }
        cJSON *av = cJSON_AddObjectToObject(results, RS_AVERAGE);
        cJSON_AddStringToObject(av, RS_SPLIT, "average");
        cJSON_AddNumberToObject(av, RS_SFT, avg_sft);
        cJSON_AddItemToObject(av, RS_DPO, rp_summary(avg_dpo, seeds));
        cJSON_AddItemToObject(results, RS_DPO_TRAINING, curves);
        curves = NULL;
        cJSON_AddStringToObject(results, RS_NOT_BUILT,
                                "PPO with the baseline RM and PPO with the goal-conditioned RM");
        s = math_finish(m, results, write_dat, NULL, print_table2);
    }
    cJSON_Delete(curves);
    free(job.ref), free(correct), free(sft_ok);
    return s;
}
