/* full_steer: table3b at full scale (full.h): the prototype of highly rated HelpSteer examples,
 * the SFT baseline, step-wise beam search on HelpSteer prompts with and without a reward model's
 * guidance, and the pairwise LLM judge over the two arms' responses (PAPER.md section 5). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/judge/judge.h"
#include "lib/model/hf.h"
#include "lib/model/seqset.h"
#include "lib/policy/beam.h"
#include "lib/tasks/hfseq.h"
#include "lib/util/jsonio.h"
#include "replicate/math/pipeline.h"
#include "replicate/math/steer.h"
#include "replicate/runner/ckpt.h"
#include "replicate/runner/loop.h"
#include "replicate/runner/results.h"
#include "full.h"

enum { NV = FULL_N_VARIANTS };

/* the attributes the paper judges, in its order */
static const int JUDGED[FULL_JUDGED] = {GC_HS_HELPFULNESS, GC_HS_CORRECTNESS, GC_HS_COHERENCE,
                                        GC_HS_COMPLEXITY};

static const char PROTOTYPE_FILE[] = "prototype.json";

/* the one variant of a train stage (the steer analysis's reward models have one) */
static int only_variant(const pl_stage *st) {
    int idx[NV];
    const char *names[NV];
    return full_stage_variants(st, idx, names) == 1 ? idx[0] : -1;
}

/* ---- what the executor runs for the steer analysis ---- */

static int is_sft(const pl_plan *p, const char *name) {
    int t = pl_find_stage(p, name);
    return t >= 0 && p->stages[t].kind == PL_TRAIN && p->stages[t].loss == 2;
}

/* the generator's base model: a model of "models", or the one an sft stage fine-tunes */
static int base_model(const pl_plan *p, const char *name) {
    int m = pl_find_model(p, name);
    return m >= 0 || !is_sft(p, name) ? m
                                      : pl_find_model(p, p->stages[pl_find_stage(p, name)].model);
}

/* the score stage (the prototype) of a reward-model train stage, -1 when none */
static int prototype_stage(const pl_plan *p, const char *train) {
    for (int i = 0; i < p->n_stages; i++)
        if (p->stages[i].kind == PL_SCORE && !strcmp(p->stages[i].model, train)) return i;
    return -1;
}

int full_steer_problems(const rp_run *r, const pl_plan *p, int which, char *msg, size_t cap) {
    size_t n = strlen(msg);
    int count = 0;
#define ADD(...)                                                                                   \
    (count++, n += (size_t)snprintf(msg + n, n < cap ? cap - n : 0, "\n  - " __VA_ARGS__))
    gc_judge_config jc;
    if ((which & FULL_MISSING) && gc_judge_from_env(&jc) != GC_OK)
        ADD("%s (the steer analysis's LLM judge, lib/judge/judge.h; GCRM_JUDGE_API_KEY "
            "or OPENAI_API_KEY when it needs a key)",
            gc_last_error());
    if (!(which & FULL_UNBUILT)) return count;
    int beams[2], nb = 0;
    for (int i = 0; i < p->n_stages; i++) {
        const pl_stage *st = &p->stages[i];
        int d = pl_find_data(p, st->data), want = PL_HELPSTEER;
        if (!st->per_seed)
            ADD("stage '%s': the steer analysis runs every stage per seed (per_seed true)",
                st->name);
        if (st->kind == PL_TRAIN && st->loss == 1) {
            ADD("stage '%s': loss dpo: not one of the steer analysis's stages (table2's)",
                st->name);
            continue;
        }
        if (st->kind == PL_TRAIN) {
            if (pl_find_model(p, st->model) < 0)
                ADD("stage '%s': model '%s': the full scale trains a model of \"models\"", st->name,
                    st->model);
            if (st->loss == 0 && only_variant(st) < 0)
                ADD("stage '%s': the steer analysis's reward model stage has one variant of "
                    "baseline, goal, ordered, late, single-goal, averaged-goal and mlp-head",
                    st->name);
            if (st->loss == 2 && st->variants)
                ADD("stage '%s': an sft stage has no variants", st->name);
            if (st->loss == 0) want = PL_HH;
        } else if (st->kind == PL_SCORE) {
            int t = pl_find_stage(p, st->model);
            if (t < 0 || p->stages[t].kind != PL_TRAIN || p->stages[t].loss != 0)
                ADD("stage '%s': model '%s': the prototype is pooled by a preference train "
                    "stage's reward models",
                    st->name, st->model);
            else if (!st->variants || cJSON_GetArraySize(st->variants) != 1 ||
                     full_variant_of(st->variants->child->valuestring) !=
                         only_variant(&p->stages[t]))
                ADD("stage '%s': variants must be stage '%s''s one variant", st->name, st->model);
        } else if (st->kind == PL_BEAM) {
            if (nb < 2) beams[nb] = i;
            nb++;
            if (st->variants) ADD("stage '%s': a beam stage has no variants", st->name);
            if (base_model(p, st->model) < 0)
                ADD("stage '%s': model '%s': the generator is a model of \"models\" or an sft "
                    "stage's",
                    st->name, st->model);
            int t = st->scorer[0] ? pl_find_stage(p, st->scorer) : -1;
            if (st->scorer[0] &&
                (t < 0 || p->stages[t].loss != 0 || prototype_stage(p, st->scorer) < 0))
                ADD("stage '%s': scorer '%s': guidance reads a preference train stage whose "
                    "prototype a score stage pools",
                    st->name, st->scorer);
        } else {
            ADD("stage '%s' (kind %s): not one of the steer analysis's (train, score, beam)",
                st->name, st->kind == PL_GENERATE ? "generate" : "ppo");
            continue;
        }
        if (d < 0)
            ADD("stage '%s': data '%s': the full scale reads a data set of \"data\"", st->name,
                st->data);
        for (int f = 0; d >= 0 && f < p->data[d].n_files; f++)
            if (p->data[d].files[f].format != want) {
                ADD("stage '%s': data '%s' has %s files: this stage reads %s files", st->name,
                    st->data, PL_FORMAT_NAMES[p->data[d].files[f].format], PL_FORMAT_NAMES[want]);
                break;
            }
    }
    if (nb != 2 || !p->stages[beams[0]].scorer[0] == !p->stages[beams[1]].scorer[0]) {
        ADD("the steer analysis compares two beam stages, one guided by a scorer and one (the "
            "baseline) without; this scale has %d",
            nb);
    } else {
        const pl_stage *a = &p->stages[beams[0]], *b = &p->stages[beams[1]];
        if (strcmp(a->data, b->data) || a->beam != b->beam || a->samples != b->samples ||
            a->step_tokens != b->step_tokens || a->max_steps != b->max_steps ||
            a->max_len != b->max_len || a->examples != b->examples ||
            a->micro_batch != b->micro_batch || a->temperature != b->temperature ||
            a->top_p != b->top_p || base_model(p, a->model) != base_model(p, b->model))
            ADD("beam stages '%s' and '%s': the arms must decode the same prompts alike (data, "
                "beam, samples, step_tokens, max_steps, max_len, examples, micro_batch, "
                "temperature, top_p and the generator's base model)",
                a->name, b->name);
    }
    if (!strcmp(r->pipeline, "hh")) ADD("the steer analysis belongs to pipeline 'math'");
#undef ADD
    return count;
}

/* ---- the prototype ---- */

static gc_status compute_prototype(rp_stage *st, void *ctx) {
    full_steer_job *j = ctx;
    const full_seqs *d;
    GC_TRY(full_data_get(j->data, &d));
    gc_rm rm;
    GC_TRY(math_load_rm(j->rm, &rm));
    int D = rm.model.cfg.dim;
    float *h = gc_malloc(sizeof(float) * D), *goal = gc_malloc(sizeof(float) * D);
    double *sum = gc_calloc((size_t)D, sizeof(double));
    gc_status s = h && goal && sum ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < d->n_seq; i++) {
        s = gc_rm_pool(&rm, d->seq[i], d->len[i], d->plen[i], h);
        for (int k = 0; s == GC_OK && k < D; k++)
            sum[k] += h[k];
    }
    for (int k = 0; s == GC_OK && k < D; k++)
        goal[k] = (float)(sum[k] / d->n_seq);
    if (s == GC_OK)
        s = math_write_goal_file(st, PROTOTYPE_FILE, goal, D,
                                 "the mean over the prototype examples of the reward model's "
                                 "final hidden state pooled over each response (its EOS "
                                 "included)");
    if (s == GC_OK) {
        st->info = cJSON_CreateObject();
        cJSON_AddNumberToObject(st->info, "examples", d->n_seq);
        cJSON_AddNumberToObject(st->info, "sequences_cut_to_max_len", d->truncated);
    }
    free(h), free(goal), free(sum);
    gc_rm_free(&rm);
    return s;
}

const rp_stage_def FULL_PROTOTYPE = {"full-prototype", __FILE__, compute_prototype, NULL};

/* ---- the SFT baseline's generator ---- */

static gc_status compute_sft(rp_stage *st, void *ctx) {
    full_steer_job *j = ctx;
    const pl_stage *ps = &j->p->stages[j->stage];
    const full_seqs *d;
    GC_TRY(full_data_get(j->data, &d));
    int L = (int)ps->max_len, n = d->n_seq;
    gc_model g;
    GC_TRY(gc_hf_load(j->model->path, L, &g));
    gc_model_set_recompute(&g, ps->recompute);
    gc_seqset set;
    gc_status s = gc_seqset_init(&set, n, L);
    for (int i = 0; s == GC_OK && i < n; i++)
        s = gc_seqset_set(&set, i, d->seq[i], d->plen[i], d->seq[i] + d->plen[i],
                          d->len[i] - d->plen[i]);
    int steps = (int)ps->epochs * (int)((n + ps->batch - 1) / ps->batch);
    gc_sft_config c = {.steps = steps,
                       .batch = (int)ps->batch,
                       .sched = {(float)ps->lr, (float)ps->lr_min,
                                 (int64_t)ceil(ps->warmup_ratio * steps), steps, (float)ps->clip},
                       .weight_decay = (float)ps->weight_decay,
                       .seed = (uint64_t)j->seed};
    float loss = NAN;
    gc_log_info("%s: fine-tuning on %d examples, %d steps of %d", st->name, n, steps, c.batch);
    if (s == GC_OK) s = gc_sft_train(&g, &set, &c, &loss);
    if (s == GC_OK) s = full_save_policy(st, &g, j->model);
    if (s == GC_OK) {
        st->info = cJSON_CreateObject();
        cJSON_AddNumberToObject(st->info, "examples", n);
        cJSON_AddNumberToObject(st->info, "steps", steps);
        cJSON_AddNumberToObject(st->info, "last_loss", loss);
        cJSON_AddNumberToObject(st->info, "sequences_cut_to_max_len", d->truncated);
    }
    gc_seqset_free(&set);
    gc_model_free(&g);
    return s;
}

const rp_stage_def FULL_SFT = {"full-sft", __FILE__, compute_sft, NULL};

/* ---- beam search ---- */

/* The prompts of a HelpSteer data set: its distinct prompts in file order whose first item the
 * data set keeps, the first `first` of them (0: all), each as the model's chat template (or prompt
 * template) formats it for generation; a prompt of more than `room` tokens is skipped and
 * counted. */
typedef struct {
    int n, skipped;
    char **text;   /* (n) as the data has them: what the judge reads */
    int32_t **ids; /* (n) */
    int *len;      /* (n) */
} prompts;

static void prompts_free(prompts *pr) {
    for (int i = 0; i < pr->n; i++)
        free(pr->text[i]), free(pr->ids[i]);
    free(pr->text), free(pr->ids), free(pr->len);
    memset(pr, 0, sizeof *pr);
}

static gc_status make_prompts(const gc_hfseq *c, const pl_model *m, const pl_data *d, int64_t first,
                              int room, prompts *pr) {
    memset(pr, 0, sizeof *pr);
    gc_helpsteer_set all;
    int *kept = NULL, nk = 0;
    gc_status s = full_helpsteer(d, &all, &kept, &nk);
    size_t cap = (size_t)nk + 1;
    pr->text = gc_calloc(cap, sizeof(char *)), pr->ids = gc_calloc(cap, sizeof(int32_t *));
    pr->len = gc_calloc(cap, sizeof(int));
    if (s == GC_OK && !(pr->text && pr->ids && pr->len)) s = GC_ERR_NOMEM;
    /* the distinct prompts (each at its first item), those whose first item is kept */
    int *firsts = s == GC_OK ? gc_malloc(sizeof(int) * (size_t)(all.n + 1)) : NULL;
    uint8_t *keep = s == GC_OK ? gc_calloc((size_t)all.n + 1, 1) : NULL;
    if (s == GC_OK && !(firsts && keep)) s = GC_ERR_NOMEM;
    int nd = s == GC_OK ? gc_helpsteer_prompts(&all, firsts) : 0, taken = 0;
    for (int i = 0; s == GC_OK && i < nk; i++)
        keep[kept[i]] = 1;
    for (int i = 0; s == GC_OK && i < nd && (first <= 0 || taken < first); i++) {
        if (!keep[firsts[i]]) continue;
        taken++;
        const char *q = all.it[firsts[i]].prompt;
        char *fmt = NULL, *side = NULL;
        if (m->chat) {
            cJSON *msgs = full_user_message(q);
            s = gc_hfseq_chat(c, msgs, "", &fmt, &side);
            cJSON_Delete(msgs);
            free(side);
        } else if (!(fmt = gc_hfseq_prompt(m->prompt, q))) {
            s = GC_ERR_NOMEM;
        }
        int32_t *ids = NULL;
        int n = 0;
        if (s == GC_OK) s = gc_hfseq_prompt_ids(c, fmt, &ids, &n);
        free(fmt);
        if (s == GC_OK && n > room) {
            pr->skipped++;
            free(ids);
            continue;
        }
        if (s == GC_OK && !(pr->text[pr->n] = strdup(q))) s = GC_ERR_NOMEM;
        if (s != GC_OK) {
            free(ids);
            break;
        }
        pr->ids[pr->n] = ids, pr->len[pr->n++] = n;
    }
    gc_helpsteer_free(&all);
    free(kept), free(firsts), free(keep);
    if (s == GC_OK && pr->n == 0)
        s = gc_fail(GC_ERR_FORMAT,
                    "data '%s': no prompt fits in %d tokens with the response's budget", d->name,
                    room);
    if (s != GC_OK) prompts_free(pr);
    return s;
}

/* The responses so far (responses.json's arrays, BEAM_KEYS), a checkpoint's state: a prompt's
 * response does not depend on the ones before it but through the micro-batch it is decoded in,
 * and checkpoints fall between micro-batches. */
static const char *const BEAM_KEYS[5] = {"prompt", "text", "score", "new_tokens", "candidates"};
typedef struct {
    cJSON *doc;
    const prompts *pr;
} beam_state;

static void bs_arrays(cJSON *doc) {
    for (int f = 0; f < 5; f++)
        cJSON_AddArrayToObject(doc, BEAM_KEYS[f]);
}

static gc_status save_beams(const char *dir, void *ctx) {
    const beam_state *b = ctx;
    char path[RP_PATH + 40];
    snprintf(path, sizeof path, "%s/responses.json", dir);
    return gc_json_write(path, b->doc);
}

static gc_status load_beams(const char *dir, void *ctx) {
    beam_state *b = ctx;
    char path[RP_PATH + 40];
    snprintf(path, sizeof path, "%s/responses.json", dir);
    cJSON *o;
    GC_TRY(gc_json_read(path, &o));
    const cJSON *pa = gc_json_get(o, "prompt");
    int n = cJSON_GetArraySize(pa), ok = n <= b->pr->n;
    for (int f = 0; ok && f < 5; f++)
        ok = cJSON_IsArray(gc_json_get(o, BEAM_KEYS[f])) &&
             cJSON_GetArraySize(gc_json_get(o, BEAM_KEYS[f])) == n;
    int i = 0;
    for (const cJSON *e = pa ? pa->child : NULL; ok && e; e = e->next, i++)
        ok = cJSON_IsString(e) && !strcmp(e->valuestring, b->pr->text[i]);
    if (!ok) {
        cJSON_Delete(o);
        return gc_fail(GC_ERR_FORMAT,
                       "%s: not the responses to this stage's first prompts (delete the stage's "
                       "checkpoints to start again)",
                       path);
    }
    cJSON_Delete(b->doc);
    b->doc = o;
    return GC_OK;
}

static gc_status compute_beam(rp_stage *st, void *ctx) {
    full_steer_job *j = ctx;
    const pl_stage *ps = &j->p->stages[j->stage];
    int L = (int)ps->max_len, budget = (int)(ps->step_tokens * ps->max_steps);
    int MB = (int)ps->micro_batch;
    gc_hfseq c = {0};
    prompts pr = {0};
    gc_model g;
    gc_rm rm;
    int have_g = 0, have_rm = 0, D = 0;
    float *goal = NULL;
    gc_beam_result *res = NULL; /* (MB) a micro-batch's */
    gc_status s = gc_hfseq_open(j->model->path, &c);
    if (s == GC_OK)
        s = make_prompts(&c, j->model, &j->p->data[pl_find_data(j->p, ps->data)], ps->examples,
                         L - budget, &pr);
    if (s == GC_OK) s = gc_hf_load(j->gen ? j->gen->dir : j->model->path, L, &g);
    have_g = s == GC_OK;
    if (s == GC_OK && L > g.cfg.seq_len)
        s = gc_fail(GC_ERR_CONFIG, "stage '%s': max_len %d exceeds the generator's context %d",
                    ps->name, L, g.cfg.seq_len);
    if (s == GC_OK && j->rm) {
        s = math_load_rm(j->rm, &rm);
        have_rm = s == GC_OK;
        D = have_rm ? rm.model.cfg.dim : 0;
        if (s == GC_OK && !(goal = gc_malloc(sizeof(float) * D))) s = GC_ERR_NOMEM;
        if (s == GC_OK) s = math_read_goal_file(j->proto, PROTOTYPE_FILE, D, goal);
    }
    gc_beam_goal score = {have_rm ? &rm : NULL, goal, ps->lp_weight, j->rm ? ps->goal_weight : 0};
    gc_beam_config bc = {
        (int)ps->beam, (int)ps->samples,       (int)ps->step_tokens, (int)ps->max_steps, L, -1,
        c.eos,         (float)ps->temperature, (float)ps->top_p,     (uint64_t)j->seed};
    if (s == GC_OK && !(res = gc_calloc((size_t)MB, sizeof *res))) s = GC_ERR_NOMEM;
    beam_state bs = {cJSON_CreateObject(), &pr};
    bs_arrays(bs.doc);
    int start = 0;
    if (s == GC_OK) s = rp_loop_start(st, load_beams, &bs, &start);
    if (s == GC_OK)
        gc_log_info("%s: beam search over %d prompts (%d too long skipped; beam %d, %d samples, "
                    "steps of %d tokens, %d at most)%s",
                    st->name, pr.n, pr.skipped, bc.beam, bc.samples, bc.step_tokens, bc.max_steps,
                    start ? ", resumed" : "");
    gc_progress prog;
    gc_progress_init(&prog, st->name, pr.n);
    /* micro-batches from prompt 0 on, so a resumed run's batches are an uninterrupted one's */
    for (int a = start; s == GC_OK && a < pr.n; a += MB) {
        int m = pr.n - a < MB ? pr.n - a : MB;
        s = gc_beam_search_batch(&g, (const int32_t *const *)pr.ids + a, pr.len + a, m, &bc,
                                 gc_beam_goal_score, &score, res);
        for (int i = 0; s == GC_OK && i < m; i++) {
            int p = a + i;
            const int32_t *row = res[i].seq + pr.len[p]; /* the best beam's response */
            int k = res[i].len[0] - pr.len[p], kt = k > 0 && row[k - 1] == c.eos ? k - 1 : k;
            char *t = NULL;
            s = gc_hf_tok_decode(c.tok, row, kt, 1, &t);
            if (s != GC_OK) break;
            cJSON *arr[5] = {cJSON_CreateString(pr.text[p]), cJSON_CreateString(t),
                             cJSON_CreateNumber(res[i].score[0]), cJSON_CreateNumber(k),
                             cJSON_CreateNumber((double)res[i].candidates)};
            for (int f = 0; f < 5; f++)
                cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(bs.doc, BEAM_KEYS[f]),
                                     arr[f]);
            free(t);
        }
        for (int i = 0; i < m; i++)
            gc_beam_result_free(&res[i]);
        gc_progress_update(&prog, a + m);
        if (s == GC_OK && rp_ckpt_due(st, a + m == pr.n))
            s = rp_ckpt_write(st, a + m, save_beams, &bs);
    }
    gc_progress_end(&prog);
    if (s == GC_OK) {
        double cands = 0, gen = 0;
        for (const cJSON *e = gc_json_get(bs.doc, "candidates")->child; e; e = e->next)
            cands += e->valuedouble;
        for (const cJSON *e = gc_json_get(bs.doc, "new_tokens")->child; e; e = e->next)
            gen += e->valuedouble;
        s = save_beams(st->dir, &bs);
        st->info = cJSON_CreateObject();
        cJSON_AddNumberToObject(st->info, "prompts", pr.n);
        cJSON_AddNumberToObject(st->info, "prompts_skipped_too_long", pr.skipped);
        cJSON_AddNumberToObject(st->info, "candidate_steps", cands);
        cJSON_AddNumberToObject(st->info, "mean_response_tokens", pr.n ? gen / pr.n : 0);
    }
    cJSON_Delete(bs.doc);
    free(res), free(goal);
    prompts_free(&pr);
    if (have_rm) gc_rm_free(&rm);
    if (have_g) gc_model_free(&g);
    gc_hfseq_close(&c);
    return s;
}

const rp_stage_def FULL_BEAM = {"full-beam", __FILE__, compute_beam, NULL};

/* ---- the judge ---- */

/* One seed's comparisons: per prompt and attribute the guided arm's outcome against the
 * baseline's (+1 a win, -1 a loss, 0 a tie or no valid vote), the side guided was shown on, and
 * the votes dropped. Checkpoints between prompts: judging is paid for. */
typedef struct {
    const gc_judge_config *jc;
    int seed, n;
    const char *const *prompt, *const *guided, *const *base;
    int *outcome; /* (n, FULL_JUDGED) */
    int *first;   /* (n, FULL_JUDGED): 1 when guided was response A */
    int *dropped; /* (n, FULL_JUDGED) votes dropped */
    int *no_vote; /* (n, FULL_JUDGED) 1 when no vote was valid */
    int done;
    int concurrency; /* requests at once */
} judge_job;

static const char VERDICT_FILE[] = "verdicts.json";
static const char *const VERDICT_KEYS[4] = {"outcome", "guided_first", "dropped", "no_valid_vote"};

static gc_status save_verdicts(const char *dir, void *ctx) {
    const judge_job *j = ctx;
    char path[RP_PATH + 40];
    snprintf(path, sizeof path, "%s/%s", dir, VERDICT_FILE);
    cJSON *o = cJSON_CreateObject();
    cJSON *an = cJSON_AddArrayToObject(o, "attributes");
    for (int a = 0; a < FULL_JUDGED; a++)
        cJSON_AddItemToArray(an, cJSON_CreateString(gc_helpsteer_attribute_name(JUDGED[a])));
    cJSON_AddNumberToObject(o, "prompts", j->done);
    const int *arr[4] = {j->outcome, j->first, j->dropped, j->no_vote};
    for (int k = 0; k < 4; k++)
        cJSON_AddItemToObject(o, VERDICT_KEYS[k],
                              cJSON_CreateIntArray(arr[k], j->done * FULL_JUDGED));
    gc_status s = gc_json_write(path, o);
    cJSON_Delete(o);
    return s;
}

static gc_status load_verdicts(const char *dir, void *ctx) {
    judge_job *j = ctx;
    char path[RP_PATH + 40];
    snprintf(path, sizeof path, "%s/%s", dir, VERDICT_FILE);
    cJSON *o;
    GC_TRY(gc_json_read(path, &o));
    int done = (int)gc_json_num(o, "prompts", -1);
    gc_status s = done >= 0 && done <= j->n ? GC_OK
                                            : gc_fail(GC_ERR_FORMAT,
                                                      "%s: 'prompts' is not a count of at most "
                                                      "%d (delete the stage directory)",
                                                      path, j->n);
    int *arr[4] = {j->outcome, j->first, j->dropped, j->no_vote};
    for (int k = 0; s == GC_OK && k < 4; k++) {
        const cJSON *a = gc_json_get(o, VERDICT_KEYS[k]);
        if (cJSON_GetArraySize(a) != done * FULL_JUDGED) {
            s = gc_fail(GC_ERR_FORMAT, "%s: '%s' does not hold %d verdicts", path, VERDICT_KEYS[k],
                        done * FULL_JUDGED);
            break;
        }
        int i = 0;
        for (const cJSON *e = a->child; e; e = e->next)
            arr[k][i++] = cJSON_IsNumber(e) ? e->valueint : 0;
    }
    if (s == GC_OK) j->done = done;
    cJSON_Delete(o);
    return s;
}

/* comparison `at` (prompt at / FULL_JUDGED, attribute at % FULL_JUDGED) into j's arrays; on an
 * error its message into why (cap bytes) */
static gc_status judge_one(judge_job *j, int at, char *why, size_t cap) {
    int p = at / FULL_JUDGED, a = at % FULL_JUDGED;
    gc_rng r; /* which side guided is shown on: a fair coin per (seed, prompt, attribute) */
    gc_rng_init(&r, (uint64_t)j->seed, gc_rng_stream(GC_STREAM_JUDGE_ORDER, (uint64_t)at));
    int gf = (int)gc_rng_below(&r, 2);
    gc_judge_verdict v;
    gc_status s =
        gc_judge_pairwise(j->jc, gc_helpsteer_attribute_name(JUDGED[a]), j->prompt[p],
                          gf ? j->guided[p] : j->base[p], gf ? j->base[p] : j->guided[p], &v);
    if (s != GC_OK) {
        snprintf(why, cap, "%s", gc_last_error());
        return s;
    }
    char g = gf ? 'A' : 'B';
    j->outcome[at] = v.winner == g ? 1 : v.winner == 'A' || v.winner == 'B' ? -1 : 0;
    j->first[at] = gf, j->dropped[at] = v.dropped, j->no_vote[at] = v.winner == 0;
    return GC_OK;
}

/* The comparisons go to the judge `concurrency` at a time (each its own request; the results do
 * not depend on the order), a chunk of prompts after another, a checkpoint after any chunk. */
static gc_status compute_judge(rp_stage *st, void *ctx) {
    judge_job *j = ctx;
    int start = 0, C = j->concurrency;
    j->done = 0;
    GC_TRY(rp_loop_start(st, load_verdicts, j, &start));
    gc_progress prog;
    gc_progress_init(&prog, st->name, j->n);
    int chunk = (C + FULL_JUDGED - 1) / FULL_JUDGED; /* prompts per round */
    gc_status s = GC_OK;
    char why[1024] = "";
    while (s == GC_OK && j->done < j->n) {
        int p1 = j->done + chunk < j->n ? j->done + chunk : j->n;
        int from = j->done * FULL_JUDGED, to = p1 * FULL_JUDGED, failed = to;
#pragma omp parallel for num_threads(C) schedule(dynamic, 1)
        for (int at = from; at < to; at++) {
            char w[1024];
            if (judge_one(j, at, w, sizeof w) != GC_OK) {
#pragma omp critical(full_judge)
                if (at < failed) failed = at, snprintf(why, sizeof why, "%s", w);
            }
        }
        if (failed < to) {
            s = gc_fail(GC_ERR_IO, "%s: %s", st->name, why);
            break;
        }
        j->done = p1;
        gc_progress_update(&prog, p1);
        if (rp_ckpt_due(st, p1 == j->n)) s = rp_ckpt_write(st, p1, save_verdicts, j);
    }
    gc_progress_end(&prog);
    return s == GC_OK ? save_verdicts(st->dir, j) : s;
}

static gc_status load_judge(const rp_stage *st, void *ctx) {
    judge_job *j = ctx;
    GC_TRY(load_verdicts(st->dir, j));
    return j->done == j->n ? GC_OK
                           : gc_fail(GC_ERR_FORMAT, "%s/%s: %d of %d prompts judged", st->dir,
                                     VERDICT_FILE, j->done, j->n);
}

static const rp_stage_def FULL_JUDGE = {"full-judge", __FILE__, compute_judge, load_judge};

/* ---- the driver's part ---- */

/* the judge's settings: the scale's "steer" section */
typedef struct {
    int64_t votes, concurrency;
    double temperature;
} judge_settings;

static gc_status full_steer_settings(const rp_run *r, judge_settings *js) {
    static const gc_cfg_field f[] = {
        {"votes", GC_CFG_INT, offsetof(judge_settings, votes), 0, 1, 101, NULL},
        {"temperature", GC_CFG_FLOAT, offsetof(judge_settings, temperature), 0, 0, 2, NULL},
        {"concurrency", GC_CFG_INT, offsetof(judge_settings, concurrency), 0, 1, 256, NULL},
    };
    *js = (judge_settings){5, 8, 0.0};
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(r->scale_cfg, "steer");
    if (!sec) return GC_OK;
    char at[160];
    snprintf(at, sizeof at, "%s.steer", r->scale_path);
    return gc_config_read(&r->cfg, sec, at, f, GC_CFG_COUNT(f), js);
}

gc_status full_steer_check(const rp_run *r) {
    judge_settings js;
    return full_steer_settings(r, &js);
}

gc_status full_steer_stage(rp_run *r, const pl_plan *p, int i, full_stage_runs *all) {
    const pl_stage *st = &p->stages[i];
    full_stage_runs *sr = &all[i];
    int seeds = r->seeds;
    sr->inst = gc_calloc((size_t)NV * seeds, sizeof(rp_stage *));
    if (!sr->inst) return GC_ERR_NOMEM;
    int t = st->kind == PL_SCORE ? pl_find_stage(p, st->model) : -1;
    int v = t >= 0 ? only_variant(&p->stages[t]) : 0;
    const pl_model *m = &p->models[base_model(p, t >= 0 ? p->stages[t].model : st->model)];
    sr->data =
        (full_data){m, &p->data[pl_find_data(p, st->data)], (int)st->max_len, 0, 0, {0}, NULL, 0};
    const rp_stage_def *def = st->kind == PL_SCORE  ? &FULL_PROTOTYPE
                              : st->kind == PL_BEAM ? &FULL_BEAM
                                                    : &FULL_SFT;
    for (int k = 1; k <= seeds; k++) {
        int at = v * seeds + k - 1;
        full_steer_job job = {p, i, k, m, &sr->data, NULL, NULL, NULL};
        rp_stage *in[3];
        int n_in = 0;
        char name[96];
        if (st->kind == PL_SCORE) {
            job.rm = in[n_in++] = all[t].inst[at];
            snprintf(name, sizeof name, "%s-%s-seed%d", st->name, FULL_VARIANTS[v].name, k);
        } else {
            snprintf(name, sizeof name, "%s-seed%d", st->name, k);
        }
        if (st->kind == PL_BEAM && is_sft(p, st->model))
            job.gen = in[n_in++] = all[pl_find_stage(p, st->model)].inst[k - 1];
        if (st->kind == PL_BEAM && st->scorer[0]) {
            int tr = pl_find_stage(p, st->scorer), pr = prototype_stage(p, st->scorer);
            int sv = only_variant(&p->stages[tr]) * seeds + k - 1;
            job.rm = in[n_in++] = all[tr].inst[sv];
            job.proto = in[n_in++] = all[pr].inst[sv];
        }
        cJSON *key = full_stage_config(
            &(full_job){p, i, 0, k, m, &sr->data, NULL, NULL, NULL, NULL, NULL, NULL, NULL});
        GC_TRY(rp_stage_run(r, def, name, key, in, n_in, &job, &sr->inst[at]));
    }
    return GC_OK;
}

/* a beam instance's responses.json: its prompts and responses (malloc'd copies) */
static gc_status read_responses(const rp_stage *st, int *n, char ***prompt, char ***text) {
    char path[RP_PATH];
    rp_stage_file(st, "responses.json", path);
    cJSON *o;
    GC_TRY(gc_json_read(path, &o));
    const cJSON *pa = gc_json_get(o, "prompt"), *ta = gc_json_get(o, "text");
    *n = cJSON_GetArraySize(pa);
    gc_status s = cJSON_GetArraySize(ta) == *n
                      ? GC_OK
                      : gc_fail(GC_ERR_FORMAT, "%s: 'prompt' and 'text' differ in length", path);
    *prompt = gc_calloc((size_t)*n + 1, sizeof(char *));
    *text = gc_calloc((size_t)*n + 1, sizeof(char *));
    if (s == GC_OK && !(*prompt && *text)) s = GC_ERR_NOMEM;
    const cJSON *a = pa ? pa->child : NULL, *b = ta ? ta->child : NULL;
    for (int i = 0; s == GC_OK && i < *n; i++, a = a->next, b = b->next) {
        if (!cJSON_IsString(a) || !cJSON_IsString(b)) {
            s = gc_fail(GC_ERR_FORMAT, "%s: item %d is not a string", path, i);
            break;
        }
        (*prompt)[i] = strdup(a->valuestring), (*text)[i] = strdup(b->valuestring);
        if (!(*prompt)[i] || !(*text)[i]) s = GC_ERR_NOMEM;
    }
    cJSON_Delete(o);
    return s;
}

static void free_strings(char **a, int n) {
    for (int i = 0; a && i < n; i++)
        free(a[i]);
    free(a);
}

gc_status full_steer_analyse(rp_run *r, const pl_plan *p, const full_stage_runs *all) {
    int S = r->seeds, beams[2], nb = 0;
    for (int i = 0; i < p->n_stages; i++)
        if (p->stages[i].kind == PL_BEAM) beams[nb++] = i;
    int gi = p->stages[beams[0]].scorer[0] ? beams[0] : beams[1], bi = beams[0] + beams[1] - gi;
    judge_settings js;
    GC_TRY(full_steer_settings(r, &js));
    gc_judge_config jc;
    GC_TRY(gc_judge_from_env(&jc));
    jc.votes = (int)js.votes, jc.temperature = js.temperature;
    int n = -1;
    int *out = NULL;
    gc_status s = GC_OK;
    for (int k = 1; s == GC_OK && k <= S; k++) {
        char **pg = NULL, **tg = NULL, **pb = NULL, **tb = NULL;
        int ng = 0, nbb = 0;
        const rp_stage *g = all[gi].inst[k - 1], *b = all[bi].inst[k - 1];
        s = read_responses(g, &ng, &pg, &tg);
        if (s == GC_OK) s = read_responses(b, &nbb, &pb, &tb);
        for (int i = 0; s == GC_OK && i < ng; i++)
            if (ng != nbb || strcmp(pg[i], pb[i]))
                s = gc_fail(GC_ERR_FORMAT, "%s and %s answer other prompts", g->dir, b->dir);
        if (s == GC_OK && n < 0) {
            n = ng;
            if (!(out = gc_malloc(sizeof(int) * (size_t)S * (n ? n : 1) * FULL_JUDGED)))
                s = GC_ERR_NOMEM;
        }
        if (s == GC_OK && ng != n) s = gc_fail(GC_ERR_FORMAT, "seeds answer other prompts");
        int *buf = gc_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1) * FULL_JUDGED * 3);
        if (s == GC_OK && !buf) s = GC_ERR_NOMEM;
        judge_job job = {&jc,
                         k,
                         n,
                         (const char *const *)pg,
                         (const char *const *)tg,
                         (const char *const *)tb,
                         out + (size_t)(k - 1) * n * FULL_JUDGED,
                         buf,
                         buf + (size_t)n * FULL_JUDGED,
                         buf + (size_t)2 * n * FULL_JUDGED,
                         0,
                         (int)js.concurrency};
        if (s == GC_OK) {
            cJSON *key = cJSON_CreateObject();
            cJSON_AddStringToObject(key, "url", jc.url); /* never the key */
            cJSON_AddStringToObject(key, "model", jc.model);
            cJSON_AddNumberToObject(key, "temperature", jc.temperature);
            cJSON_AddNumberToObject(key, "votes", jc.votes);
            cJSON_AddNumberToObject(key, "seed", k);
            char name[64];
            snprintf(name, sizeof name, "judge-seed%d", k);
            rp_stage *in[2] = {(rp_stage *)g, (rp_stage *)b};
            s = rp_stage_run(r, &FULL_JUDGE, name, key, in, 2, &job, NULL);
        }
        free(buf);
        free_strings(pg, ng), free_strings(tg, ng), free_strings(pb, nbb), free_strings(tb, nbb);
    }
    if (s != GC_OK) {
        free(out);
        return s;
    }
    cJSON *res = rp_metadata(r), *aj = cJSON_AddArrayToObject(res, "attributes");
    char judge[200];
    snprintf(judge, sizeof judge, "%s (%d votes, majority)", jc.model, jc.votes);
    int *cmp = gc_malloc(sizeof(int) * (size_t)S * (n ? n : 1));
    for (int a = 0; cmp && a < FULL_JUDGED; a++) {
        for (int k = 0; k < S; k++)
            for (int q = 0; q < n; q++)
                cmp[k * n + q] = out[((size_t)k * n + q) * FULL_JUDGED + a];
        cJSON *o =
            steer_net_win(gc_helpsteer_attribute_name(JUDGED[a]), "helpsteer", judge, n, S, cmp);
        cJSON_AddItemToArray(aj, o);
    }
    s = cmp ? GC_OK : GC_ERR_NOMEM;
    cJSON *so = cJSON_AddObjectToObject(res, "helpsteer");
    cJSON_AddNumberToObject(so, "prompts", n);
    cJSON_AddStringToObject(so, "guided", p->stages[gi].name);
    cJSON_AddStringToObject(so, "baseline", p->stages[bi].name);
    free(cmp), free(out);
    if (s != GC_OK) {
        cJSON_Delete(res);
        return s;
    }
    return rp_finish(r, res, steer_write_dat, NULL, NULL, steer_print);
}
