/* table3b's stages (steer.h): the stories' pool and prototype, each setting's SFT baseline
 * generator, and the two arms' decoded responses. */
#include "steer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/ckpt.h"
#include "lib/model/generate.h"
#include "lib/model/sampler.h"
#include "lib/model/seqset.h"
#include "lib/policy/beam.h"
#include "lib/tasks/chartok.h"
#include "lib/tasks/story.h"
#include "lib/util/jsonio.h"

static const char *const ARM[STEER_ARMS] = {"guided", "sft"};

char *steer_text(const steer_setting *set, int32_t prev, const int32_t *tok, int n) {
    if (n > 0 && tok[n - 1] == set->eos) n--;
    if (!set->tok) {
        char *buf = gc_malloc((size_t)n + 1);
        if (buf) gc_chartok_decode(tok, n, buf, (size_t)n + 1);
        return buf;
    }
    size_t cap = 64, len = 0;
    char *buf = gc_malloc(cap);
    for (int i = 0; buf && i < n; prev = tok[i++]) {
        char bb[2];
        size_t pl;
        const char *piece = gc_tokenizer_piece(set->tok, prev, tok[i], bb, &pl);
        if (len + pl + 1 > cap) {
            while (len + pl + 1 > cap)
                cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) free(buf);
            buf = nb;
            if (!buf) gc_fail(GC_ERR_NOMEM, "steer: out of memory for a response's text");
        }
        if (buf) memcpy(buf + len, piece, pl), len += pl;
    }
    if (buf) buf[len] = 0;
    return buf;
}

/* ---- the stories' pool: prompts, pooled samples, the prototype ---- */

typedef struct {
    math_ctx *m;
    const steer_stories_cfg *c;
    steer_setting *set;
    cJSON **info;
} pool_job;

static cJSON *int_array(const int32_t *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

/* B sequences sampled from the generator: prompt b, then up to max_new tokens (eos ends one);
 * stream first + b of GC_STREAM_SAMPLE under seed; seq (B, max_T), len (B) */
static gc_status sample(gc_model *g, const pool_job *j, int B, const int32_t *const *prompts,
                        const int *plen, int max_T, uint64_t first, int32_t *seq, int *len) {
    gc_sampler smp;
    GC_TRY(gc_sampler_init(&smp, g->cfg.vocab_size, (float)j->c->pool_temperature,
                           (float)j->c->pool_top_p, (uint64_t)j->c->seed));
    gc_rng *rngs = gc_malloc(sizeof(gc_rng) * B);
    gc_status s = rngs ? GC_OK : GC_ERR_NOMEM;
    for (int b = 0; s == GC_OK && b < B; b++)
        gc_rng_init(&rngs[b], (uint64_t)j->c->seed, gc_rng_stream(GC_STREAM_SAMPLE, first + b));
    if (s == GC_OK)
        s = gc_generate_batch(g, &smp, rngs, B, prompts, plen, max_T, j->set->eos, seq, len, NULL,
                              NULL);
    gc_sampler_free(&smp);
    free(rngs);
    return s;
}

/* each pool item's rating: its lowest percentile rank over the attributes (ties share their
 * middle rank; NAN ranks lowest), and the sum of its ranks, which breaks ties of the lowest */
static void ratings(const double *score, int n, double *rating, double *rank_sum) {
    for (int i = 0; i < n; i++)
        rating[i] = 1, rank_sum[i] = 0;
    for (int a = 0; a < GC_STORY_ATTRIBUTES; a++)
        for (int i = 0; i < n; i++) {
            double x = score[(size_t)i * GC_STORY_ATTRIBUTES + a];
            int below = 0, equal = 0;
            for (int k = 0; k < n; k++) {
                double y = score[(size_t)k * GC_STORY_ATTRIBUTES + a];
                int same = (isnan(x) && isnan(y)) || x == y;
                below += !same && !isnan(x) && (isnan(y) || y < x);
                equal += same && k != i;
            }
            double r = n > 1 ? (below + 0.5 * equal) / (n - 1) : 1;
            if (r < rating[i]) rating[i] = r;
            rank_sum[i] += r;
        }
}

/* the prototype's order: better rating first, then the larger rank sum, then the earlier */
static int better(const double *rating, const double *rank_sum, int i, int k) {
    if (rating[i] != rating[k]) return rating[i] > rating[k];
    if (rank_sum[i] != rank_sum[k]) return rank_sum[i] > rank_sum[k];
    return i < k;
}

static gc_status compute_pool(rp_stage *st, void *ctx) {
    pool_job *j = ctx;
    const steer_stories_cfg *c = j->c;
    steer_setting *set = j->set;
    gc_model g;
    GC_TRY(gc_ckpt_load_any(set->generator, &g));
    int ne = (int)c->prompts, npp = (int)c->pool_prompts, N = ne + npp, S = (int)c->pool_samples;
    int PT = 1 + (int)c->prompt_tokens, T = PT + (int)c->pool_max_new, B = npp * S;
    gc_status s = T <= g.cfg.seq_len
                      ? GC_OK
                      : gc_fail(GC_ERR_CONFIG,
                                "%s: steer.stories: 1 + prompt_tokens + "
                                "pool_max_new = %d exceeds the generator's seq_len %d",
                                j->m->r->cfg.path, T, g.cfg.seq_len);
    int32_t *open = gc_calloc((size_t)N * PT, sizeof(int32_t));
    int32_t *pool = gc_calloc((size_t)B * T, sizeof(int32_t));
    int *olen = gc_malloc(sizeof(int) * N), *plen = gc_malloc(sizeof(int) * (B + N)),
        *len = gc_malloc(sizeof(int) * B);
    const int32_t **pp = gc_malloc(sizeof(int32_t *) * (B + N));
    double *score = gc_malloc(sizeof(double) * B * GC_STORY_ATTRIBUTES);
    double *rating = gc_malloc(sizeof(double) * B), *rank_sum = gc_malloc(sizeof(double) * B);
    int *order = gc_malloc(sizeof(int) * B);
    char **text = gc_calloc((size_t)B, sizeof(char *));
    static const int32_t bos = GC_TOK_BOS;
    if (s == GC_OK && !(open && pool && olen && plen && len && pp && score && rating && rank_sum &&
                        order && text))
        s = GC_ERR_NOMEM;
    /* the openings: prompt_tokens tokens sampled after BOS (an opening the generator ends early
     * stops there, its end token dropped) */
    for (int i = 0; s == GC_OK && i < N; i++)
        pp[i] = &bos, plen[i] = 1;
    gc_log_info("steer: %d story openings of %d tokens, %d pool samples of up to %d tokens", N,
                (int)c->prompt_tokens, B, (int)c->pool_max_new);
    if (s == GC_OK) s = sample(&g, j, N, pp, plen, PT, 0, open, olen);
    for (int i = 0; s == GC_OK && i < N; i++)
        if (olen[i] > 1 && open[(size_t)i * PT + olen[i] - 1] == set->eos) olen[i]--;
    for (int b = 0; s == GC_OK && b < B; b++)
        pp[b] = open + (size_t)(ne + b / S) * PT, plen[b] = olen[ne + b / S];
    if (s == GC_OK) s = sample(&g, j, B, pp, plen, T, (uint64_t)N, pool, len);
    for (int b = 0; s == GC_OK && b < B; b++) {
        const int32_t *row = pool + (size_t)b * T;
        text[b] = steer_text(set, row[plen[b] - 1], row + plen[b], len[b] - plen[b]);
        if (!text[b]) s = GC_ERR_NOMEM;
        for (int a = 0; s == GC_OK && a < GC_STORY_ATTRIBUTES; a++)
            score[(size_t)b * GC_STORY_ATTRIBUTES + a] = gc_story_score(text[b], a);
    }
    int K = (int)c->prototype < B ? (int)c->prototype : B;
    if (s == GC_OK) { /* the prototype: the K best rated, ties to the earlier */
        ratings(score, B, rating, rank_sum);
        for (int b = 0; b < B; b++)
            order[b] = b;
        for (int a = 1; a < B; a++)
            for (int k = a; k > 0 && better(rating, rank_sum, order[k], order[k - 1]); k--) {
                int t = order[k];
                order[k] = order[k - 1], order[k - 1] = t;
            }
    }
    cJSON *doc = cJSON_CreateObject(), *pa = cJSON_AddArrayToObject(doc, "prompts");
    cJSON *pt = cJSON_AddArrayToObject(doc, "prompt_text");
    cJSON *items = cJSON_AddArrayToObject(doc, "pool"), *proto = NULL;
    for (int i = 0; s == GC_OK && i < ne; i++) {
        cJSON_AddItemToArray(pa, int_array(open + (size_t)i * PT, olen[i]));
        char *t = steer_text(set, GC_TOK_BOS, open + (size_t)i * PT + 1, olen[i] - 1);
        cJSON_AddItemToArray(pt, cJSON_CreateString(t ? t : ""));
        free(t);
    }
    double pool_mean[GC_STORY_ATTRIBUTES] = {0}, proto_mean[GC_STORY_ATTRIBUTES] = {0};
    int pool_n[GC_STORY_ATTRIBUTES] = {0}, proto_n[GC_STORY_ATTRIBUTES] = {0};
    for (int b = 0; s == GC_OK && b < B; b++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "prompt", ne + b / S);
        cJSON_AddNumberToObject(o, "plen", plen[b]);
        cJSON_AddItemToObject(o, "tokens", int_array(pool + (size_t)b * T, len[b]));
        cJSON_AddStringToObject(o, "text", text[b]);
        for (int a = 0; a < GC_STORY_ATTRIBUTES; a++) {
            double x = score[(size_t)b * GC_STORY_ATTRIBUTES + a];
            cJSON_AddNumberToObject(o, gc_story_attribute_name(a), x); /* NAN: null */
            if (!isnan(x)) pool_mean[a] += x, pool_n[a]++;
        }
        cJSON_AddItemToArray(items, o);
    }
    if (s == GC_OK) {
        proto = cJSON_AddArrayToObject(doc, "prototype");
        for (int k = 0; k < K; k++) {
            cJSON_AddItemToArray(proto, cJSON_CreateNumber(order[k]));
            for (int a = 0; a < GC_STORY_ATTRIBUTES; a++) {
                double x = score[(size_t)order[k] * GC_STORY_ATTRIBUTES + a];
                if (!isnan(x)) proto_mean[a] += x, proto_n[a]++;
            }
        }
        char path[RP_PATH];
        rp_stage_file(st, "pool.json", path);
        s = gc_json_write(path, doc);
        st->info = cJSON_CreateObject();
        cJSON_AddNumberToObject(st->info, "pool", B);
        cJSON_AddNumberToObject(st->info, "prototype", K);
        cJSON_AddNumberToObject(st->info, "lowest_prototype_rating",
                                K ? rating[order[K - 1]] : NAN);
        for (int a = 0; a < GC_STORY_ATTRIBUTES; a++) {
            cJSON *o = cJSON_AddObjectToObject(st->info, gc_story_attribute_name(a));
            cJSON_AddNumberToObject(o, "pool_mean", pool_n[a] ? pool_mean[a] / pool_n[a] : NAN);
            cJSON_AddNumberToObject(o, "prototype_mean",
                                    proto_n[a] ? proto_mean[a] / proto_n[a] : NAN);
            gc_log_info("steer: %s, pool mean %.3f, prototype mean %.3f",
                        gc_story_attribute_name(a), pool_n[a] ? pool_mean[a] / pool_n[a] : NAN,
                        proto_n[a] ? proto_mean[a] / proto_n[a] : NAN);
        }
    }
    cJSON_Delete(doc);
    for (int b = 0; text && b < B; b++)
        free(text[b]);
    free(text), free(open), free(pool), free(olen), free(plen), free(len), free(pp), free(score);
    free(rating), free(rank_sum), free(order);
    gc_model_free(&g);
    return s;
}

/* a JSON array of token ids into a malloc'd array (*n ids), each in [0, vocab) */
static gc_status read_ids(const char *path, const cJSON *a, int vocab, int max, int32_t **out,
                          int *n) {
    int k = cJSON_GetArraySize(a), i = 0;
    if (!cJSON_IsArray(a) || k < 1 || k > max)
        return gc_fail(GC_ERR_FORMAT, "%s: expected an array of 1 to %d token ids", path, max);
    *out = gc_malloc(sizeof(int32_t) * k);
    if (!*out) return GC_ERR_NOMEM;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        int v;
        if (!gc_json_int_in(e, 0, vocab - 1, &v)) {
            free(*out), *out = NULL;
            return gc_fail(GC_ERR_FORMAT, "%s: token id %d is not in [0, %d)", path, i, vocab);
        }
        (*out)[i] = v;
    }
    *n = k;
    return GC_OK;
}

static gc_status load_pool(const rp_stage *st, void *ctx) {
    pool_job *j = ctx;
    steer_setting *set = j->set;
    char path[RP_PATH];
    rp_stage_file(st, "pool.json", path);
    cJSON *doc;
    GC_TRY(gc_json_read(path, &doc));
    const cJSON *pa = gc_json_get(doc, "prompts"), *items = gc_json_get(doc, "pool"),
                *proto = gc_json_get(doc, "prototype");
    int V = set->tok->vocab_size, n = cJSON_GetArraySize(pa), np = cJSON_GetArraySize(proto);
    int B = cJSON_GetArraySize(items);
    gc_status s = n > 0 && np > 0 && B > 0
                      ? GC_OK
                      : gc_fail(GC_ERR_FORMAT, "%s: expected prompts, pool and prototype", path);
    set->n = n, set->np = np;
    set->prompt = gc_calloc((size_t)n, sizeof(int32_t *));
    set->plen = gc_malloc(sizeof(int) * n);
    set->proto = gc_calloc((size_t)np, sizeof(int32_t *));
    set->proto_plen = gc_malloc(sizeof(int) * np), set->proto_len = gc_malloc(sizeof(int) * np);
    if (s == GC_OK &&
        !(set->prompt && set->plen && set->proto && set->proto_plen && set->proto_len))
        s = GC_ERR_NOMEM;
    int i = 0;
    for (const cJSON *e = pa ? pa->child : NULL; s == GC_OK && e; e = e->next, i++)
        s = read_ids(path, e, V, set->max_len - 1, &set->prompt[i], &set->plen[i]);
    i = 0;
    for (const cJSON *e = proto ? proto->child : NULL; s == GC_OK && e; e = e->next, i++) {
        int b, pl = 0;
        if (!gc_json_int_in(e, 0, B - 1, &b)) {
            s = gc_fail(GC_ERR_FORMAT, "%s: prototype item %d is not in the pool", path, i);
            break;
        }
        const cJSON *it = cJSON_GetArrayItem(items, b);
        s = read_ids(path, gc_json_get(it, "tokens"), V, set->max_len, &set->proto[i],
                     &set->proto_len[i]);
        if (s == GC_OK && !(gc_json_int_in(gc_json_get(it, "plen"), 1, set->proto_len[i] - 1, &pl)))
            s = gc_fail(GC_ERR_FORMAT, "%s: pool item %d has no response", path, b);
        set->proto_plen[i] = pl;
    }
    cJSON_Delete(doc);
    if (s == GC_OK) {
        rp_stage_file(st, "info.json", path);
        s = gc_json_read(path, j->info);
    }
    return s;
}

static const rp_stage_def POOL = {"steer-pool", __FILE__, compute_pool, load_pool};

gc_status steer_stories_pool(math_ctx *m, const steer_stories_cfg *c, steer_setting *set,
                             cJSON **pool_info) {
    pool_job j = {m, c, set, pool_info};
    return rp_stage_run(m->r, &POOL, "steer-stories-pool", cJSON_Duplicate(set->key, 1), NULL, 0,
                        &j, &set->data);
}

/* ---- the baseline's generator: fine-tuned on the prototype examples ---- */

typedef struct {
    math_ctx *m;
    steer_setting *set;
    int seed, arm;
    const rp_stage *sft; /* the decode stage's SFT generator (arm sft) */
} seed_job;

static gc_status load_generator(const steer_setting *set, gc_model *g) {
    if (set->gen_stage) {
        char path[RP_PATH];
        rp_stage_file(set->gen_stage, "policy.ckpt", path);
        return gc_ckpt_load_any(path, g);
    }
    return gc_ckpt_load_any(set->generator, g);
}

static gc_status compute_sft(rp_stage *st, void *ctx) {
    seed_job *j = ctx;
    steer_setting *set = j->set;
    const steer_sft_cfg *c = &set->sft;
    gc_model g;
    GC_TRY(load_generator(set, &g));
    gc_seqset data;
    gc_status s = gc_seqset_init(&data, set->np, set->max_len);
    for (int i = 0; s == GC_OK && i < set->np; i++)
        s = gc_seqset_set(&data, i, set->proto[i], set->proto_plen[i],
                          set->proto[i] + set->proto_plen[i],
                          set->proto_len[i] - set->proto_plen[i]);
    gc_sft_config sc = {
        .steps = (int)c->steps,
        .batch = (int)c->batch,
        .sched = {(float)c->lr, (float)c->lr_min, c->warmup, c->steps, (float)c->clip},
        .weight_decay = 0.0f,
        .seed = (uint64_t)j->seed};
    float loss = NAN;
    gc_log_info("%s: fine-tuning the generator on %d prototype examples, %d steps of %d", st->name,
                set->np, sc.steps, sc.batch);
    if (s == GC_OK) s = gc_sft_train(&g, &data, &sc, &loss);
    char path[RP_PATH];
    rp_stage_file(st, "sft.ckpt", path);
    if (s == GC_OK) s = gc_ckpt_save(path, &g, NULL);
    if (s == GC_OK) {
        st->info = cJSON_CreateObject();
        cJSON_AddNumberToObject(st->info, "examples", set->np);
        cJSON_AddNumberToObject(st->info, "final_loss", loss);
    }
    gc_seqset_free(&data);
    gc_model_free(&g);
    return s;
}

static const rp_stage_def SFT = {"steer-sft", __FILE__, compute_sft, NULL};

/* ---- an arm's responses ---- */

static gc_status compute_decode(rp_stage *st, void *ctx) {
    seed_job *j = ctx;
    steer_setting *set = j->set;
    const steer_beam_cfg *bc = &set->beam;
    gc_model g;
    gc_status s;
    if (j->arm == STEER_SFT) {
        char path[RP_PATH];
        rp_stage_file(j->sft, "sft.ckpt", path);
        s = gc_ckpt_load_any(path, &g);
    } else {
        s = load_generator(set, &g);
    }
    GC_TRY(s);
    gc_rm rm;
    int have_rm = 0, D = 0;
    float *goal = NULL, *h = NULL;
    gc_beam_goal score = {NULL, NULL, bc->lp_weight, 0};
    if (j->arm == STEER_GUIDED && bc->goal_weight != 0) { /* the goal state of the prototype */
        s = math_load_rm(set->rm[j->seed - 1], &rm);
        have_rm = s == GC_OK;
        D = have_rm ? rm.model.cfg.dim : 0;
        goal = gc_calloc((size_t)D + 1, sizeof(float)), h = gc_malloc(sizeof(float) * (D + 1));
        if (s == GC_OK && !(goal && h)) s = GC_ERR_NOMEM;
        for (int i = 0; s == GC_OK && i < set->np; i++) {
            s = gc_rm_pool(&rm, set->proto[i], set->proto_len[i], set->proto_plen[i], h);
            for (int d = 0; s == GC_OK && d < D; d++)
                goal[d] += h[d] / (float)set->np;
        }
        if (s == GC_OK)
            s = math_write_goal(st, goal, D,
                                "the mean over the prototype examples of the reward model's "
                                "hidden state pooled over each response");
        score = (gc_beam_goal){&rm, goal, bc->lp_weight, bc->goal_weight};
    }
    int longest = 0;
    for (int p = 0; p < set->n; p++)
        if (set->plen[p] > longest) longest = set->plen[p];
    int max_len = longest + (int)bc->max_new;
    if (max_len > set->max_len) max_len = set->max_len;
    gc_beam_config c = {(int)bc->beam,
                        (int)bc->samples,
                        (int)bc->step_tokens,
                        (int)bc->max_steps,
                        max_len,
                        set->step_end,
                        set->eos,
                        (float)bc->temperature,
                        (float)bc->top_p,
                        (uint64_t)j->seed};
    gc_beam_result *res = gc_calloc((size_t)set->n, sizeof(gc_beam_result));
    if (s == GC_OK && !res) s = GC_ERR_NOMEM;
    gc_log_info("%s: beam search over %d prompts (beam %d, %d samples, steps of %d tokens)",
                st->name, set->n, c.beam, c.samples, c.step_tokens);
    if (s == GC_OK)
        s = gc_beam_search_batch(&g, (const int32_t *const *)set->prompt, set->plen, set->n, &c,
                                 gc_beam_goal_score, &score, res);
    cJSON *doc = cJSON_CreateObject(), *ta = cJSON_AddArrayToObject(doc, "text");
    cJSON *sa = cJSON_AddArrayToObject(doc, "score"),
          *na = cJSON_AddArrayToObject(doc, "new_tokens");
    int64_t cands = 0, gen = 0;
    for (int p = 0; s == GC_OK && p < set->n; p++) {
        const int32_t *row = res[p].seq; /* the best beam */
        int pl = set->plen[p], n = res[p].len[0] - pl;
        char *t = steer_text(set, row[pl - 1], row + pl, n);
        if (!t) {
            s = GC_ERR_NOMEM;
            break;
        }
        cJSON_AddItemToArray(ta, cJSON_CreateString(t));
        cJSON_AddItemToArray(sa, cJSON_CreateNumber(res[p].score[0]));
        cJSON_AddItemToArray(na, cJSON_CreateNumber(n));
        cands += res[p].candidates, gen += n;
        free(t);
    }
    if (s == GC_OK) {
        cJSON_AddNumberToObject(doc, "candidates", (double)cands);
        char path[RP_PATH];
        rp_stage_file(st, "responses.json", path);
        s = gc_json_write(path, doc);
        st->info = cJSON_CreateObject();
        cJSON_AddNumberToObject(st->info, "prompts", set->n);
        cJSON_AddNumberToObject(st->info, "candidate_steps", (double)cands);
        cJSON_AddNumberToObject(st->info, "mean_response_tokens",
                                set->n ? (double)gen / set->n : 0);
    }
    cJSON_Delete(doc);
    for (int p = 0; res && p < set->n; p++)
        gc_beam_result_free(&res[p]);
    free(res), free(goal), free(h);
    if (have_rm) gc_rm_free(&rm);
    gc_model_free(&g);
    return s;
}

static gc_status load_decode(const rp_stage *st, void *ctx) {
    seed_job *j = ctx;
    steer_setting *set = j->set;
    char path[RP_PATH];
    rp_stage_file(st, "responses.json", path);
    cJSON *doc;
    GC_TRY(gc_json_read(path, &doc));
    const cJSON *ta = gc_json_get(doc, "text");
    gc_status s = cJSON_GetArraySize(ta) == set->n
                      ? GC_OK
                      : gc_fail(GC_ERR_FORMAT, "%s: expected %d responses in 'text'", path, set->n);
    char **out = set->text[j->arm] + (size_t)(j->seed - 1) * set->n;
    int p = 0;
    for (const cJSON *e = ta ? ta->child : NULL; s == GC_OK && e; e = e->next, p++) {
        if (!cJSON_IsString(e)) {
            s = gc_fail(GC_ERR_FORMAT, "%s: response %d is not a string", path, p);
            break;
        }
        free(out[p]);
        out[p] = strdup(e->valuestring);
        if (!out[p]) s = gc_fail(GC_ERR_NOMEM, "%s: out of memory", path);
    }
    cJSON_Delete(doc);
    return s;
}

static const rp_stage_def DECODE = {"steer-decode", __FILE__, compute_decode, load_decode};

static cJSON *stage_key(const steer_setting *set, int seed, const char *arm) {
    cJSON *k = cJSON_Duplicate(set->key, 1);
    cJSON_AddStringToObject(k, "setting", set->name);
    cJSON_AddNumberToObject(k, "seed", seed);
    if (arm) cJSON_AddStringToObject(k, "arm", arm);
    return k;
}

gc_status steer_decode_seed(math_ctx *m, steer_setting *set, int seed) {
    char name[96];
    rp_stage *in[3], *sft = NULL;
    int n_in = 0;
    in[n_in++] = set->data;
    if (set->gen_stage) in[n_in++] = set->gen_stage;
    seed_job j = {m, set, seed, STEER_SFT, NULL};
    cJSON *k = stage_key(set, seed, NULL);
    cJSON_AddItemToObject(k, "sft",
                          gc_config_to_json(steer_sft_fields, steer_sft_n_fields, &set->sft));
    snprintf(name, sizeof name, "steer-%s-finetune-seed%d", set->name, seed);
    GC_TRY(rp_stage_run(m->r, &SFT, name, k, in, n_in, &j, &sft));
    for (int arm = 0; arm < STEER_ARMS; arm++) {
        int guided = arm == STEER_GUIDED;
        rp_stage *ins[4] = {in[0], in[1], in[2], NULL};
        int ni = n_in;
        ins[ni++] = guided ? set->rm[seed - 1] : sft;
        k = stage_key(set, seed, ARM[arm]);
        cJSON *bk = gc_config_to_json(steer_beam_fields, steer_beam_n_fields, &set->beam);
        if (!guided) /* the baseline is scored by its own log-probability alone */
            cJSON_DeleteItemFromObjectCaseSensitive(bk, "goal_weight");
        cJSON_AddItemToObject(k, "beam", bk);
        snprintf(name, sizeof name, "steer-%s-%s-seed%d", set->name, ARM[arm], seed);
        j = (seed_job){m, set, seed, arm, sft};
        GC_TRY(rp_stage_run(m->r, &DECODE, name, k, ins, ni, &j, NULL));
    }
    return GC_OK;
}
