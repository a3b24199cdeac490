/* table3b's analysis (steer.h): the configuration, both settings' prompts and prototypes, the
 * judging and the results. */
#include "steer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyses.h"
#include "lib/model/ckpt.h"
#include "lib/stats/stats.h"
#include "lib/tasks/chartok.h"
#include "lib/tasks/mathpipe.h"
#include "lib/tasks/story.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/runner/results.h"

#define F GC_CFG_FIELD

const gc_cfg_field steer_sft_fields[] = {
    F(steer_sft_cfg, steps, GC_CFG_INT, 1, 1, 1e6, NULL),
    F(steer_sft_cfg, batch, GC_CFG_INT, 1, 1, 4096, NULL),
    F(steer_sft_cfg, warmup, GC_CFG_INT, 0, 0, 1e6, NULL),
    F(steer_sft_cfg, lr, GC_CFG_FLOAT, 1, 1e-8, 1, NULL),
    F(steer_sft_cfg, lr_min, GC_CFG_FLOAT, 0, 0, 1, NULL),
    F(steer_sft_cfg, clip, GC_CFG_FLOAT, 0, 0, 1e6, NULL),
};
const gc_cfg_field steer_beam_fields[] = {
    F(steer_beam_cfg, beam, GC_CFG_INT, 1, 1, 64, NULL),
    F(steer_beam_cfg, samples, GC_CFG_INT, 1, 1, 64, NULL),
    F(steer_beam_cfg, step_tokens, GC_CFG_INT, 1, 1, 4096, NULL),
    F(steer_beam_cfg, max_steps, GC_CFG_INT, 1, 1, 4096, NULL),
    F(steer_beam_cfg, max_new, GC_CFG_INT, 1, 1, 1e5, NULL),
    F(steer_beam_cfg, temperature, GC_CFG_FLOAT, 0, 1e-3, 10, NULL),
    F(steer_beam_cfg, top_p, GC_CFG_FLOAT, 0, 1e-6, 1, NULL),
    F(steer_beam_cfg, lp_weight, GC_CFG_FLOAT, 0, 0, 100, NULL),
    F(steer_beam_cfg, goal_weight, GC_CFG_FLOAT, 0, 0, 100, NULL),
};
const int steer_sft_n_fields = GC_CFG_COUNT(steer_sft_fields);
const int steer_beam_n_fields = GC_CFG_COUNT(steer_beam_fields);
static const gc_cfg_field stories_f[] = {
    F(steer_stories_cfg, hh, GC_CFG_OBJECT, 1, 0, 0, NULL),
    F(steer_stories_cfg, prompts, GC_CFG_INT, 1, 1, 1e5, NULL),
    F(steer_stories_cfg, prompt_tokens, GC_CFG_INT, 0, 1, 256, NULL),
    F(steer_stories_cfg, pool_prompts, GC_CFG_INT, 1, 1, 1e5, NULL),
    F(steer_stories_cfg, pool_samples, GC_CFG_INT, 0, 1, 1024, NULL),
    F(steer_stories_cfg, pool_max_new, GC_CFG_INT, 1, 1, 1e5, NULL),
    F(steer_stories_cfg, pool_temperature, GC_CFG_FLOAT, 0, 1e-3, 10, NULL),
    F(steer_stories_cfg, pool_top_p, GC_CFG_FLOAT, 0, 1e-6, 1, NULL),
    F(steer_stories_cfg, prototype, GC_CFG_INT, 0, 1, 1e5, NULL),
    F(steer_stories_cfg, seed, GC_CFG_INT, 0, 0, 1e12, NULL),
    F(steer_stories_cfg, sft, GC_CFG_OBJECT, 1, 0, 0, NULL),
    F(steer_stories_cfg, beam, GC_CFG_OBJECT, 1, 0, 0, NULL),
};
static const gc_cfg_field math_f[] = {
    F(steer_math_cfg, splits, GC_CFG_ARRAY, 1, 0, 0, NULL),
    F(steer_math_cfg, questions, GC_CFG_INT, 1, 1, 1e6, NULL),
    F(steer_math_cfg, prototype, GC_CFG_INT, 0, 1, 1e5, NULL),
    F(steer_math_cfg, sft, GC_CFG_OBJECT, 1, 0, 0, NULL),
    F(steer_math_cfg, beam, GC_CFG_OBJECT, 1, 0, 0, NULL),
};
typedef struct {
    const cJSON *stories, *math;
} steer_cfg;
static const gc_cfg_field steer_f[] = {
    F(steer_cfg, stories, GC_CFG_OBJECT, 0, 0, 0, NULL),
    F(steer_cfg, math, GC_CFG_OBJECT, 0, 0, 0, NULL),
};

/* the sft and beam objects of a setting at path */
static gc_status read_sft_beam(const math_ctx *m, const cJSON *sft, const cJSON *beam,
                               const char *path, steer_setting *set) {
    char p[160];
    set->sft = (steer_sft_cfg){.clip = 1.0};
    set->beam =
        (steer_beam_cfg){.temperature = 1.0, .top_p = 1.0, .lp_weight = 1.0, .goal_weight = 1.0};
    snprintf(p, sizeof p, "%s.sft", path);
    GC_TRY(gc_config_read(&m->r->cfg, sft, p, steer_sft_fields, steer_sft_n_fields, &set->sft));
    snprintf(p, sizeof p, "%s.beam", path);
    return gc_config_read(&m->r->cfg, beam, p, steer_beam_fields, steer_beam_n_fields, &set->beam);
}

static void setting_free(steer_setting *set) {
    for (int i = 0; set->prompt && i < set->n; i++)
        free(set->prompt[i]);
    for (int i = 0; set->proto && i < set->np; i++)
        free(set->proto[i]);
    free(set->prompt), free(set->plen), free(set->proto), free(set->proto_plen);
    free(set->proto_len), free(set->rm);
    for (int a = 0; a < STEER_ARMS; a++) {
        for (size_t i = 0; set->text[a] && i < set->n_text; i++)
            free(set->text[a][i]);
        free(set->text[a]);
    }
    cJSON_Delete(set->key);
}

/* ---- the math setting ---- */

typedef struct {
    steer_math_cfg c;
    int *q;               /* (set.n) each prompt's evaluation problem */
    const char **proto_q; /* (np) each prototype example's question */
} math_setting;

static gc_status math_setup(math_ctx *m, const cJSON *sec, const char *path, steer_setting *set,
                            math_setting *ms) {
    const gc_config *cf = &m->r->cfg;
    ms->c = (steer_math_cfg){.prototype = 20};
    GC_TRY(gc_config_read(cf, sec, path, math_f, GC_CFG_COUNT(math_f), &ms->c));
    char p[160];
    snprintf(p, sizeof p, "%s.splits", path);
    GC_TRY(math_check_splits(m, ms->c.splits, p));
    int ne = (int)m->c.data.eval_questions;
    if (ms->c.questions > ne) {
        snprintf(p, sizeof p, "%s.questions", path);
        return gc_config_fail(cf, p, "%lld questions per split, but data.eval_questions is %d",
                              (long long)ms->c.questions, ne);
    }
    if (m->c.goal < 0)
        return gc_config_fail(cf, path,
                              "guidance needs the goal-conditioned reward model: "
                              "rm.variants must hold \"goal\"");
    GC_TRY(read_sft_beam(m, ms->c.sft, ms->c.beam, path, set));
    set->name = "math";
    set->tok = NULL;
    int32_t nl;
    int one = 0;
    GC_TRY(gc_chartok_encode("\n", &nl, 1, &one)); /* a step is a line */
    set->step_end = nl, set->eos = GC_CHAR_EOS;
    set->max_len = (int)m->c.eval.max_len;
    set->gen_stage = m->pol, set->data = m->pst;
    set->key = cJSON_CreateObject();
    cJSON_AddItemToObject(set->key, "splits", cJSON_Duplicate(ms->c.splits, 1));
    cJSON_AddNumberToObject(set->key, "questions", (double)ms->c.questions);
    cJSON_AddNumberToObject(set->key, "prototype", (double)ms->c.prototype);
    /* the prompts: the first `questions` problems of each named split */
    int cap = m->eval.n;
    ms->q = gc_malloc(sizeof(int) * cap);
    set->prompt = gc_calloc((size_t)cap, sizeof(int32_t *));
    set->plen = gc_malloc(sizeof(int) * cap);
    if (!ms->q || !set->prompt || !set->plen) return GC_ERR_NOMEM;
    for (int q = 0; q < m->eval.n; q++) {
        const char *split = gc_task_split_name(m->c.splits[q / ne]);
        int in = 0;
        for (const cJSON *e = ms->c.splits->child; e && !in; e = e->next)
            in = !strcmp(e->valuestring, split);
        if (!in || q % ne >= ms->c.questions) continue;
        int32_t *t = gc_malloc(sizeof(int32_t) * set->max_len);
        if (!t) return GC_ERR_NOMEM;
        int n = gc_math_prompt(m->eval.p[q].question, t, set->max_len);
        if (n < 1) {
            free(t);
            return gc_fail(GC_ERR_CONFIG, "%s: evaluation question %d does not fit %d tokens",
                           cf->path, q, set->max_len);
        }
        ms->q[set->n] = q, set->prompt[set->n] = t, set->plen[set->n++] = n;
    }
    /* the prototype: correct solutions of training questions (the pairs' chosen side), the
     * first of each question */
    int want = (int)ms->c.prototype;
    set->proto = gc_calloc((size_t)want, sizeof(int32_t *));
    set->proto_plen = gc_malloc(sizeof(int) * want), set->proto_len = gc_malloc(sizeof(int) * want);
    ms->proto_q = gc_malloc(sizeof(char *) * want);
    if (!set->proto || !set->proto_plen || !set->proto_len || !ms->proto_q) return GC_ERR_NOMEM;
    for (int i = 0; i < m->pairs.n && set->np < want; i++) {
        int seen = 0;
        for (int k = 0; k < set->np && !seen; k++)
            seen = !strcmp(ms->proto_q[k], m->pairs.prompt[i]);
        if (seen) continue;
        int32_t *t = gc_malloc(sizeof(int32_t) * set->max_len);
        if (!t) return GC_ERR_NOMEM;
        int a = gc_math_prompt(m->pairs.prompt[i], t, set->max_len);
        int b = a > 0 ? gc_math_response(m->pairs.chosen[i], t + a, set->max_len - a) : -1;
        if (a < 1 || b < 1) {
            free(t);
            continue; /* too long for max_len: not a prototype */
        }
        ms->proto_q[set->np] = m->pairs.prompt[i];
        set->proto[set->np] = t, set->proto_plen[set->np] = a, set->proto_len[set->np++] = a + b;
    }
    if (set->np < 1)
        return gc_fail(GC_ERR_CONFIG, "%s: %s: no preference pair gives a prototype example",
                       cf->path, path);
    set->rm = gc_malloc(sizeof(rp_stage *) * m->r->seeds);
    if (!set->rm) return GC_ERR_NOMEM;
    for (int k = 1; k <= m->r->seeds; k++)
        set->rm[k - 1] = math_rm_stage(m, m->c.goal, k);
    return GC_OK;
}

/* ---- the stories setting ---- */

static gc_status stories_setup(math_ctx *m, const cJSON *sec, const char *path, steer_setting *set,
                               hh_ctx *h, gc_tokenizer *tok, int *have_tok, cJSON **pool_info) {
    const gc_config *cf = &m->r->cfg;
    steer_stories_cfg c = {.prompt_tokens = 8,
                           .pool_samples = 4,
                           .pool_temperature = 1.0,
                           .pool_top_p = 1.0,
                           .prototype = 20,
                           .seed = 1};
    GC_TRY(gc_config_read(cf, sec, path, stories_f, GC_CFG_COUNT(stories_f), &c));
    char p[160];
    snprintf(p, sizeof p, "%s.hh", path);
    *h = (hh_ctx){.r = m->r};
    GC_TRY(hh_read_sections(h, c.hh, p, 0));
    GC_TRY(hh_check_files(h));
    GC_TRY(read_sft_beam(m, c.sft, c.beam, path, set));
    set->name = "stories";
    hh_data_path(h, h->model.checkpoint, set->generator);
    gc_model g;
    GC_TRY(gc_ckpt_load_any(set->generator, &g));
    int vocab = g.cfg.vocab_size;
    set->max_len = g.cfg.seq_len;
    gc_model_free(&g);
    char tp[RP_PATH];
    hh_data_path(h, h->model.tokenizer, tp);
    GC_TRY(gc_tokenizer_load(tok, tp, vocab));
    *have_tok = 1;
    set->tok = tok, set->step_end = -1, set->eos = GC_TOK_BOS; /* a story ends where the next
                                                                   one would begin */
    set->key = cJSON_CreateObject();
    cJSON_AddStringToObject(set->key, "generator", h->model.checkpoint);
    cJSON_AddStringToObject(set->key, "tokenizer", h->model.tokenizer);
    static const char *const ints[] = {"prompts",      "prompt_tokens", "pool_prompts",
                                       "pool_samples", "pool_max_new",  "prototype",
                                       "seed"};
    const int64_t vals[] = {c.prompts,      c.prompt_tokens, c.pool_prompts, c.pool_samples,
                            c.pool_max_new, c.prototype,     c.seed};
    for (int i = 0; i < 7; i++)
        cJSON_AddNumberToObject(set->key, ints[i], (double)vals[i]);
    cJSON_AddNumberToObject(set->key, "pool_temperature", c.pool_temperature);
    cJSON_AddNumberToObject(set->key, "pool_top_p", c.pool_top_p);
    GC_TRY(steer_stories_pool(m, &c, set, pool_info));
    /* the guiding reward model: goal-conditioned, trained on every hh pair, one per seed */
    GC_TRY(hh_stage_tokens(h));
    set->rm = gc_malloc(sizeof(rp_stage *) * m->r->seeds);
    if (!set->rm) return GC_ERR_NOMEM;
    for (int k = 1; k <= m->r->seeds; k++)
        GC_TRY(hh_stage_rm_at(h, HH_GOAL, k, -1, &set->rm[k - 1]));
    return GC_OK;
}

/* ---- judging ---- */

enum { BOOT_REPS = 2000, BOOT_SEED = 5 };

/* One attribute's comparison: each arm's judged score of every (seed, prompt). */
typedef struct {
    const char *name, *setting, *judge;
    int n, S;
    double *score[STEER_ARMS]; /* (S * n) */
    double prototype_mean, pool_mean;
} attr;

/* +1: a beats b, -1: b beats a, 0: a tie (a score beats no score) */
static int compare(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : isnan(a) ? -1 : 1;
    return a > b ? 1 : a < b ? -1 : 0;
}

static double mean_of(const double *x, int n) {
    double s = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i])) s += x[i], k++;
    return k ? s / k : NAN;
}

cJSON *steer_net_win(const char *name, const char *setting, const char *judge, int n, int S,
                     const int *cmp) {
    int w = 0, l = 0, t = 0, pw = 0, pl = 0;
    double *net = gc_malloc(sizeof(double) * (n ? n : 1));
    if (!net) return NULL;
    for (int p = 0; p < n; p++) {
        int sum = 0;
        for (int k = 0; k < S; k++) {
            int c = cmp[k * n + p];
            w += c > 0, l += c < 0, t += c == 0, sum += c;
        }
        net[p] = (double)sum / S;
        pw += sum > 0, pl += sum < 0;
    }
    double mean = 0, lo = NAN, hi = NAN;
    for (int p = 0; p < n; p++)
        mean += net[p] / n;
    gc_stats_mean_bootstrap(net, (size_t)n, BOOT_REPS, BOOT_SEED, 0.95, &lo, &hi);
    int N = n * S;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "setting", setting);
    cJSON_AddStringToObject(o, "judge", judge);
    cJSON_AddNumberToObject(o, "prompts", n);
    cJSON_AddNumberToObject(o, "seeds", S);
    cJSON_AddNumberToObject(o, "wins", w);
    cJSON_AddNumberToObject(o, "losses", l);
    cJSON_AddNumberToObject(o, "ties", t);
    cJSON_AddNumberToObject(o, "win_rate", N ? (double)w / N : NAN);
    cJSON_AddNumberToObject(o, "loss_rate", N ? (double)l / N : NAN);
    cJSON_AddNumberToObject(o, "tie_rate", N ? (double)t / N : NAN);
    cJSON_AddNumberToObject(o, RS_MEAN, mean);
    cJSON_AddNumberToObject(o, RS_LO, lo);
    cJSON_AddNumberToObject(o, RS_HI, hi);
    cJSON_AddNumberToObject(o, "prompts_won", pw);
    cJSON_AddNumberToObject(o, "prompts_lost", pl);
    cJSON_AddNumberToObject(o, RS_P, gc_stats_binom_tail(pw + pl, pw, 0.5));
    cJSON_AddStringToObject(o, RS_TEST,
                            "exact one-sided sign test over prompts of the seed-averaged net win");
    free(net);
    return o;
}

static cJSON *judge_attr(const attr *a) {
    int n = a->n, S = a->S, N = n * S;
    int *cmp = gc_malloc(sizeof(int) * (N ? N : 1));
    if (!cmp) return NULL;
    for (int i = 0; i < N; i++)
        cmp[i] = compare(a->score[STEER_GUIDED][i], a->score[STEER_SFT][i]);
    cJSON *o = steer_net_win(a->name, a->setting, a->judge, n, S, cmp);
    free(cmp);
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "guided_mean", mean_of(a->score[STEER_GUIDED], N));
    cJSON_AddNumberToObject(o, "sft_mean", mean_of(a->score[STEER_SFT], N));
    cJSON_AddNumberToObject(o, "prototype_mean", a->prototype_mean);
    cJSON_AddNumberToObject(o, "pool_mean", a->pool_mean);
    return o;
}

/* the judged scores of a setting's responses into a (per arm: S * n) */
static gc_status score_stories(const steer_setting *set, int S, int attribute, attr *a) {
    for (int arm = 0; arm < STEER_ARMS; arm++) {
        a->score[arm] = gc_malloc(sizeof(double) * (size_t)S * set->n + 1);
        if (!a->score[arm]) return GC_ERR_NOMEM;
        for (size_t i = 0; i < (size_t)S * set->n; i++)
            a->score[arm][i] = gc_story_score(set->text[arm][i], attribute);
    }
    return GC_OK;
}

static gc_status score_math(const math_ctx *m, const steer_setting *set, const math_setting *ms,
                            int S, attr *a) {
    for (int arm = 0; arm < STEER_ARMS; arm++) {
        a->score[arm] = gc_malloc(sizeof(double) * (size_t)S * set->n + 1);
        if (!a->score[arm]) return GC_ERR_NOMEM;
        for (size_t i = 0; i < (size_t)S * set->n; i++)
            a->score[arm][i] =
                gc_task_check(set->text[arm][i], m->eval.p[ms->q[i % set->n]].answer);
    }
    return GC_OK;
}

/* ---- results ---- */

gc_status steer_write_dat(const char *path, const cJSON *results, const void *ctx) {
    (void)ctx;
    FILE *f = fopen(path, "w");
    if (!f) return gc_fail(GC_ERR_IO, "%s: cannot write", path);
    fprintf(f, "# net win rate of guided decoding over the SFT baseline, (wins - losses) / "
               "comparisons, 95%% CI over prompts\nattribute mean lo hi\n");
    const cJSON *at = gc_json_get(results, "attributes");
    for (const cJSON *o = at ? at->child : NULL; o; o = o->next)
        fprintf(f, "%s(%s) %.5f %.5f %.5f\n", gc_json_str(o, "name"), gc_json_str(o, "setting"),
                gc_json_num(o, RS_MEAN, NAN), gc_json_num(o, RS_LO, NAN),
                gc_json_num(o, RS_HI, NAN));
    if (fclose(f) != 0) return gc_fail(GC_ERR_IO, "%s: write failed", path);
    return GC_OK;
}

/* a judged mean, "-" when there is none (an LLM judge's pairwise verdicts) */
static void mean_cell(FILE *f, double x) {
    if (isnan(x))
        fprintf(f, " %8s", "-");
    else
        fprintf(f, " %8.3f", x);
}

void steer_print(const cJSON *r, FILE *f) {
    const cJSON *at = gc_json_get(r, "attributes");
    fprintf(f, "\ntable3b: guided decoding toward a goal state vs the SFT baseline (%.0f seeds)\n",
            gc_json_num(at ? at->child : NULL, "seeds", NAN));
    fprintf(f, "  %-12s %-9s %8s %8s %5s %5s %5s  %-26s %s\n", "attribute", "setting", "guided",
            "sft", "wins", "loss", "ties", "net win rate [95% CI]", "sign test p");
    for (const cJSON *o = at ? at->child : NULL; o; o = o->next) {
        fprintf(f, "  %-12s %-9s", gc_json_str(o, "name"), gc_json_str(o, "setting"));
        mean_cell(f, gc_json_num(o, "guided_mean", NAN));
        mean_cell(f, gc_json_num(o, "sft_mean", NAN));
        fprintf(f, " %5.0f %5.0f %5.0f  %+.3f [%+.3f, %+.3f]      %.3g\n",
                gc_json_num(o, "wins", NAN), gc_json_num(o, "losses", NAN),
                gc_json_num(o, "ties", NAN), gc_json_num(o, RS_MEAN, NAN),
                gc_json_num(o, RS_LO, NAN), gc_json_num(o, RS_HI, NAN), gc_json_num(o, RS_P, NAN));
    }
    const cJSON *nm = gc_json_get(r, "not_measured");
    for (const cJSON *o = nm ? nm->child : NULL; o; o = o->next)
        fprintf(f, "  %s: %s\n", gc_json_str(o, "name"), gc_json_str(o, "why"));
}

static gc_status alloc_texts(steer_setting *set, int S) {
    set->n_text = (size_t)S * set->n;
    for (int a = 0; a < STEER_ARMS; a++) {
        set->text[a] = gc_calloc(set->n_text + 1, sizeof(char *));
        if (!set->text[a]) return GC_ERR_NOMEM;
    }
    return GC_OK;
}

gc_status math_analyse_steer(math_ctx *m, const cJSON *section, const char *path) {
    const gc_config *cf = &m->r->cfg;
    steer_cfg sc = {0};
    GC_TRY(gc_config_read(cf, section, path, steer_f, GC_CFG_COUNT(steer_f), &sc));
    if (!sc.stories && !sc.math)
        return gc_config_fail(cf, path, "needs a setting: 'stories', 'math' or both");
    int S = m->r->seeds;
    steer_setting set[STEER_SETTINGS] = {0};
    math_setting ms = {0};
    hh_ctx h = {0};
    gc_tokenizer tok;
    int have_tok = 0;
    cJSON *pool_info = NULL;
    char p[160];
    gc_status s = GC_OK;
    if (sc.stories) {
        snprintf(p, sizeof p, "%s.stories", path);
        s = stories_setup(m, sc.stories, p, &set[STEER_STORIES], &h, &tok, &have_tok, &pool_info);
    }
    if (s == GC_OK && sc.math) {
        snprintf(p, sizeof p, "%s.math", path);
        s = math_setup(m, sc.math, p, &set[STEER_MATH], &ms);
    }
    for (int k = 0; k < STEER_SETTINGS && s == GC_OK; k++)
        if (set[k].name) s = alloc_texts(&set[k], S);
    for (int seed = 1; seed <= S && s == GC_OK; seed++)
        for (int k = 0; k < STEER_SETTINGS && s == GC_OK; k++)
            if (set[k].name) s = steer_decode_seed(m, &set[k], seed);
    attr at[GC_STORY_ATTRIBUTES + 1] = {0};
    int na = 0;
    for (int a = 0; s == GC_OK && set[STEER_STORIES].name && a < GC_STORY_ATTRIBUTES; a++, na++) {
        const char *name = gc_story_attribute_name(a);
        const cJSON *pi = gc_json_get(pool_info, name);
        at[na] = (attr){name,
                        "stories",
                        a == GC_STORY_COMPLEXITY ? "Flesch-Kincaid grade of the response"
                                                 : "share of distinct word bigrams",
                        set[STEER_STORIES].n,
                        S,
                        {NULL, NULL},
                        gc_json_num(pi, "prototype_mean", NAN),
                        gc_json_num(pi, "pool_mean", NAN)};
        s = score_stories(&set[STEER_STORIES], S, a, &at[na]);
    }
    if (s == GC_OK && set[STEER_MATH].name) {
        at[na] =
            (attr){"correctness", "math", "exact answer check", set[STEER_MATH].n, S, {NULL, NULL},
                   1.0,           NAN};
        s = score_math(m, &set[STEER_MATH], &ms, S, &at[na++]);
    }
    if (s == GC_OK) {
        cJSON *res = rp_metadata(m->r), *aj = cJSON_AddArrayToObject(res, "attributes");
        for (int a = 0; a < na && s == GC_OK; a++) {
            cJSON *o = judge_attr(&at[a]);
            if (!o)
                s = GC_ERR_NOMEM;
            else
                cJSON_AddItemToArray(aj, o);
        }
        cJSON *nm = cJSON_AddArrayToObject(res, "not_measured");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", "helpfulness");
        cJSON_AddStringToObject(o, "why",
                                "no exact judge at mini scale: measured at full scale only, with "
                                "an LLM judge (lib/judge/judge.h)");
        cJSON_AddItemToArray(nm, o);
        for (int k = 0; k < STEER_SETTINGS; k++) {
            if (!set[k].name) continue;
            cJSON *so = cJSON_AddObjectToObject(res, set[k].name);
            cJSON_AddNumberToObject(so, "prompts", set[k].n);
            cJSON_AddNumberToObject(so, "prototype_examples", set[k].np);
            cJSON *ex = cJSON_AddArrayToObject(so, "examples"); /* seed 1, the first prompts */
            for (int i = 0; i < set[k].n && i < 3; i++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "guided", set[k].text[STEER_GUIDED][i]);
                cJSON_AddStringToObject(e, "sft", set[k].text[STEER_SFT][i]);
                cJSON_AddItemToArray(ex, e);
            }
        }
        if (pool_info) cJSON_AddItemToObject(res, "stories_pool", cJSON_Duplicate(pool_info, 1));
        if (s == GC_OK)
            s = rp_finish(m->r, res, steer_write_dat, NULL, NULL, steer_print);
        else
            cJSON_Delete(res);
    }
    for (int a = 0; a < na; a++)
        free(at[a].score[0]), free(at[a].score[1]);
    for (int k = 0; k < STEER_SETTINGS; k++)
        setting_free(&set[k]);
    free(ms.q), free(ms.proto_q);
    hh_tokens_free(&h.tk);
    cJSON_Delete(h.tk_info);
    cJSON_Delete(pool_info);
    if (have_tok) gc_tokenizer_free(&tok);
    return s;
}
