/* full_stages: the full scale's train and score stages and the data they read (full.h). In one
 * file so that their code version covers everything that shapes their outputs: the pairs, the
 * tokenization, the training loop and the scoring. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/model/hf.h"
#include "lib/model/optim.h"
#include "lib/rm/rm.h"
#include "lib/tasks/hfseq.h"
#include "lib/tasks/hh.h"
#include "lib/tasks/openmath.h"
#include "lib/util/jsonio.h"
#include "replicate/math/pipeline.h"
#include "replicate/runner/ckpt.h"
#include "replicate/runner/loop.h"
#include "full.h"

void full_seqs_free(full_seqs *s) {
    for (int i = 0; s->seq && i < s->n_seq; i++)
        free(s->seq[i]);
    free(s->seq), free(s->len), free(s->plen), free(s->correct), free(s->group);
    free(s->group_name);
    memset(s, 0, sizeof *s);
}

/* ---- data ---- */

/* every file of d loaded (OpenMath-style JSONL) and appended to one set; file_of (may be NULL)
 * gets each item's file index */
static gc_status load_openmath(const pl_data *d, gc_om_set *all, int **file_of) {
    memset(all, 0, sizeof *all);
    if (file_of) *file_of = NULL;
    for (int f = 0; f < d->n_files; f++) {
        if (d->files[f].format != PL_OPENMATH)
            return gc_fail(GC_ERR_CONFIG,
                           "%s: format %s: the full-scale stages read openmath files",
                           d->files[f].path, PL_FORMAT_NAMES[d->files[f].format]);
        gc_om_set one;
        GC_TRY(gc_om_load(d->files[f].path, 0, &one));
        gc_om_item *it =
            realloc(all->it, sizeof *it * (size_t)(all->n + one.n ? all->n + one.n : 1));
        int *fo = file_of ? realloc(*file_of, sizeof(int) * (size_t)(all->n + one.n + 1)) : NULL;
        if (it) all->it = it;
        if (fo) *file_of = fo;
        if (!it || (file_of && !fo)) {
            gc_om_free(&one);
            return gc_fail(GC_ERR_NOMEM, "%s: out of memory", d->files[f].path);
        }
        memcpy(all->it + all->n, one.it, sizeof *it * (size_t)one.n);
        for (int i = 0; file_of && i < one.n; i++)
            (*file_of)[all->n + i] = f;
        all->n += one.n;
        free(one.it); /* the strings now belong to all */
    }
    return GC_OK;
}

static gc_status seqs_alloc(full_seqs *s, int n, int per) {
    memset(s, 0, sizeof *s);
    s->n = n, s->n_seq = per * n;
    size_t k = (size_t)per * (n ? n : 1);
    s->seq = gc_calloc(k, sizeof(int32_t *));
    s->len = gc_calloc(k, sizeof(int));
    s->plen = gc_calloc(k, sizeof(int));
    return s->seq && s->len && s->plen ? GC_OK : GC_ERR_NOMEM;
}

/* sequence k of s: the formatted prompt + side text + EOS */
static gc_status encode_one(const gc_hfseq *c, const char *prompt, const char *side, int max_len,
                            int32_t *buf, full_seqs *s, int k) {
    int cut = 0;
    GC_TRY(gc_hfseq_encode(c, prompt, side, max_len, buf, &s->len[k], &s->plen[k], &cut));
    s->truncated += cut;
    s->seq[k] = gc_malloc(sizeof(int32_t) * (size_t)s->len[k]);
    if (!s->seq[k]) return GC_ERR_NOMEM;
    memcpy(s->seq[k], buf, sizeof(int32_t) * (size_t)s->len[k]);
    return GC_OK;
}

/* One example's texts for model m: *prompt (malloc'd) the formatted prompt, side[i] (malloc'd) the
 * text after it of each of the n answers. OpenMath: the model's template around the question,
 * then the solution. Helpful-Harmless (q the dialogue up to its last assistant cue): with the
 * model's chat template (its "chat" key) the dialogue as messages and each answer as the
 * assistant's turn; without, the dialogue through the model's template (none: as it is) and each
 * answer with the space after the cue that gc_hh_split dropped. */
static gc_status format_example(const gc_hfseq *c, const pl_model *m, int format, const char *q,
                                const char *const *answers, int n, char **prompt, char **side) {
    *prompt = NULL;
    for (int i = 0; i < n; i++)
        side[i] = NULL;
    gc_status s = GC_OK;
    if (format == PL_HH && m->chat) {
        cJSON *msgs = gc_hh_messages(q);
        for (int i = 0; i < n && s == GC_OK; i++) {
            char *p = NULL;
            s = gc_hfseq_chat(c, msgs, answers[i], &p, &side[i]);
            if (s == GC_OK && !*prompt)
                *prompt = p;
            else
                free(p);
        }
        cJSON_Delete(msgs);
    } else {
        *prompt = gc_hfseq_prompt(m->prompt, q);
        for (int i = 0; i < n && s == GC_OK && *prompt; i++) {
            size_t k = strlen(answers[i]);
            side[i] = gc_malloc(k + 2);
            if (!side[i]) break;
            snprintf(side[i], k + 2, "%s%s", format == PL_HH ? " " : "", answers[i]);
        }
    }
    for (int i = 0; s == GC_OK && i < n; i++)
        if (!side[i]) s = GC_ERR_NOMEM;
    if (s == GC_OK && !*prompt) s = GC_ERR_NOMEM;
    if (s != GC_OK) {
        free(*prompt), *prompt = NULL;
        for (int i = 0; i < n; i++)
            free(side[i]), side[i] = NULL;
    }
    return s;
}

/* one pair or item: its formatted texts encoded into sequences k, k + 1, ... */
static gc_status encode_example(const gc_hfseq *c, const pl_model *m, int format, const char *q,
                                const char *const *answers, int n, int max_len, int32_t *buf,
                                full_seqs *s, int k) {
    char *prompt, *side[2];
    GC_TRY(format_example(c, m, format, q, answers, n, &prompt, side));
    gc_status st = GC_OK;
    for (int i = 0; i < n && st == GC_OK; i++)
        st = encode_one(c, prompt, side[i], max_len, buf, s, k + i);
    free(prompt);
    for (int i = 0; i < n; i++)
        free(side[i]);
    return st;
}

/* every file of d (Helpful-Harmless pairs) appended to one set; file_of as load_openmath's */
static gc_status load_hh(const pl_data *d, gc_hh_set *all, int **file_of) {
    memset(all, 0, sizeof *all);
    *file_of = NULL;
    for (int f = 0; f < d->n_files; f++) {
        gc_hh_set one;
        GC_TRY(gc_hh_load(d->files[f].path, &one));
        gc_hh_pair *p = realloc(all->p, sizeof *p * (size_t)(all->n + one.n));
        int *fo = realloc(*file_of, sizeof(int) * (size_t)(all->n + one.n));
        if (p) all->p = p;
        if (fo) *file_of = fo;
        if (!p || !fo) {
            gc_hh_free(&one);
            return gc_fail(GC_ERR_NOMEM, "%s: out of memory", d->files[f].path);
        }
        memcpy(all->p + all->n, one.p, sizeof *p * (size_t)one.n);
        for (int i = 0; i < one.n; i++)
            (*file_of)[all->n + i] = f;
        all->n += one.n;
        all->no_shared_prompt += one.no_shared_prompt;
        free(one.p); /* the strings now belong to all */
    }
    return GC_OK;
}

/* Helpful-Harmless pairs, for training or for scoring (both sides scored: pairwise accuracy) */
static gc_status hh_pairs(const pl_model *m, const pl_data *d, int max_len, full_seqs *out) {
    gc_hh_set all;
    gc_hfseq c = {0};
    int *file_of = NULL;
    int32_t *buf = gc_malloc(sizeof(int32_t) * (size_t)max_len);
    memset(out, 0, sizeof *out);
    gc_status s = buf ? load_hh(d, &all, &file_of) : GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_hfseq_open(m->path, &c);
    if (s == GC_OK) s = seqs_alloc(out, all.n, 2);
    gc_progress prog;
    gc_progress_init(&prog, "tokenizing pairs", all.n);
    for (int i = 0; s == GC_OK && i < all.n; i++) {
        const char *ans[2] = {all.p[i].chosen, all.p[i].rejected};
        s = encode_example(&c, m, PL_HH, all.p[i].prompt, ans, 2, max_len, buf, out, 2 * i);
        if ((i & 1023) == 0) gc_progress_update(&prog, i);
    }
    gc_progress_end(&prog);
    if (s == GC_OK)
        gc_log_info("data '%s': %d pairs in %d files (%d without a shared prompt), %d of %d "
                    "sequences cut to %d tokens",
                    d->name, all.n, d->n_files, all.no_shared_prompt, out->truncated, 2 * all.n,
                    max_len);
    if (s != GC_OK) full_seqs_free(out);
    gc_hh_free(&all);
    gc_hfseq_close(&c);
    free(file_of), free(buf);
    return s;
}

static gc_status full_pairs(const pl_model *m, const pl_data *d, int max_len, full_seqs *out) {
    if (d->files[0].format == PL_HH) return hh_pairs(m, d, max_len, out);
    gc_om_set all;
    gc_hfseq c = {0};
    int *chosen = NULL, *rejected = NULL;
    int32_t *buf = gc_malloc(sizeof(int32_t) * (size_t)max_len);
    memset(out, 0, sizeof *out);
    gc_status s = buf ? load_openmath(d, &all, NULL) : GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_hfseq_open(m->path, &c);
    if (s == GC_OK) {
        chosen = gc_malloc(sizeof(int) * (size_t)(all.n + 1));
        rejected = gc_malloc(sizeof(int) * (size_t)(all.n + 1));
        if (!chosen || !rejected) s = GC_ERR_NOMEM;
    }
    int np = 0, nq = 0;
    if (s == GC_OK && (np = gc_om_pairs(&all, 0, chosen, rejected, all.n, &nq)) < 0)
        s = GC_ERR_NOMEM;
    if (s == GC_OK && np == 0)
        s = gc_fail(GC_ERR_FORMAT,
                    "data '%s': no question has both a correct and an incorrect "
                    "solution, so there are no pairs",
                    d->name);
    if (s == GC_OK) s = seqs_alloc(out, np, 2);
    gc_progress prog;
    gc_progress_init(&prog, "tokenizing pairs", np);
    for (int i = 0; s == GC_OK && i < np; i++) {
        const gc_om_item *a = &all.it[chosen[i]], *b = &all.it[rejected[i]];
        const char *ans[2] = {a->solution, b->solution};
        s = encode_example(&c, m, PL_OPENMATH, a->question, ans, 2, max_len, buf, out, 2 * i);
        if ((i & 1023) == 0) gc_progress_update(&prog, i);
    }
    gc_progress_end(&prog);
    if (s == GC_OK)
        gc_log_info("data '%s': %d solutions, %d pairs over %d questions, %d of %d sequences cut "
                    "to %d tokens",
                    d->name, all.n, np, nq, out->truncated, 2 * np, max_len);
    if (s != GC_OK) full_seqs_free(out);
    gc_om_free(&all);
    gc_hfseq_close(&c);
    free(chosen), free(rejected), free(buf);
    return s;
}

/* the group of file f: its directory's name (data/openmath-greedy/gsm8k/x.jsonl: gsm8k) */
static void group_name(const char *path, char out[64]) {
    const char *end = strrchr(path, '/'), *start = end;
    while (start && start > path && start[-1] != '/')
        start--;
    if (!end || !start || end == start) {
        snprintf(out, 64, "%s", end ? end + 1 : path);
        return;
    }
    snprintf(out, 64, "%.*s", (int)(end - start), start);
}

static gc_status full_items(const pl_model *m, const pl_data *d, int max_len, full_seqs *out) {
    if (d->files[0].format == PL_HH) return hh_pairs(m, d, max_len, out);
    gc_om_set all;
    gc_hfseq c = {0};
    int *file_of = NULL;
    int32_t *buf = gc_malloc(sizeof(int32_t) * (size_t)max_len);
    memset(out, 0, sizeof *out);
    gc_status s = buf ? load_openmath(d, &all, &file_of) : GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_hfseq_open(m->path, &c);
    if (s == GC_OK) s = seqs_alloc(out, all.n, 1);
    if (s == GC_OK) {
        out->correct = gc_malloc(sizeof(int) * (size_t)(all.n + 1));
        out->group = gc_malloc(sizeof(int) * (size_t)(all.n + 1));
        out->group_name = gc_calloc((size_t)d->n_files, 64);
        if (!out->correct || !out->group || !out->group_name) s = GC_ERR_NOMEM;
    }
    for (int f = 0; s == GC_OK && f < d->n_files; f++) {
        group_name(d->files[f].path, out->group_name[f]);
        for (int g = 0; g < f; g++)
            if (!strcmp(out->group_name[g], out->group_name[f]))
                s = gc_fail(GC_ERR_CONFIG,
                            "data '%s': %s and %s are both group '%s' (a group is "
                            "a file's directory)",
                            d->name, d->files[g].path, d->files[f].path, out->group_name[f]);
    }
    out->n_groups = d->n_files;
    gc_progress prog;
    gc_progress_init(&prog, "tokenizing items", all.n);
    for (int i = 0; s == GC_OK && i < all.n; i++) {
        const char *ans[1] = {all.it[i].solution};
        s = encode_example(&c, m, PL_OPENMATH, all.it[i].question, ans, 1, max_len, buf, out, i);
        out->correct[i] = all.it[i].correct;
        out->group[i] = file_of[i];
        if ((i & 1023) == 0) gc_progress_update(&prog, i);
    }
    gc_progress_end(&prog);
    if (s == GC_OK)
        gc_log_info("data '%s': %d items in %d files, %d cut to %d tokens", d->name, all.n,
                    d->n_files, out->truncated, max_len);
    if (s != GC_OK) full_seqs_free(out);
    gc_om_free(&all);
    gc_hfseq_close(&c);
    free(file_of), free(buf);
    return s;
}

gc_status full_data_get(full_data *fd, const full_seqs **out) {
    if (!fd->ready) {
        GC_TRY((fd->pairs ? full_pairs : full_items)(fd->model, fd->data, fd->max_len, &fd->s));
        fd->ready = 1;
    }
    *out = &fd->s;
    return GC_OK;
}

/* ---- the instance's configuration ---- */

/* {path, size, mtime} of a file; "missing" when it cannot be read */
static cJSON *fingerprint(const char *path) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        cJSON_AddBoolToObject(o, "missing", 1);
        return o;
    }
    cJSON_AddNumberToObject(o, "size", (double)sb.st_size);
    char t[48];
    snprintf(t, sizeof t, "%lld.%09ld", (long long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec);
    cJSON_AddStringToObject(o, "mtime", t);
    return o;
}

static cJSON *model_fingerprint(const pl_model *m) {
    static const char *const files[] = {"config.json", "model.safetensors",
                                        "model.safetensors.index.json", "tokenizer.json",
                                        "tokenizer_config.json"};
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[RP_PATH + 64];
        snprintf(p, sizeof p, "%s/%s", m->path, files[i]);
        cJSON_AddItemToArray(a, fingerprint(p));
    }
    /* the shards an index names */
    char ip[RP_PATH + 64];
    snprintf(ip, sizeof ip, "%s/model.safetensors.index.json", m->path);
    cJSON *idx = NULL;
    struct stat sb;
    if (stat(ip, &sb) == 0 && gc_json_read(ip, &idx) == GC_OK) {
        const cJSON *map = gc_json_get(idx, "weight_map");
        cJSON *seen = cJSON_CreateObject();
        for (const cJSON *e = map ? map->child : NULL; e; e = e->next)
            if (cJSON_IsString(e) && !gc_json_get(seen, e->valuestring)) {
                cJSON_AddBoolToObject(seen, e->valuestring, 1);
                char sp[RP_PATH * 2];
                snprintf(sp, sizeof sp, "%s/%s", m->path, e->valuestring);
                cJSON_AddItemToArray(a, fingerprint(sp));
            }
        cJSON_Delete(seen);
        cJSON_Delete(idx);
    }
    return a;
}

cJSON *full_stage_config(const full_job *j) {
    const pl_stage *st = &j->p->stages[j->stage];
    const pl_data *d = j->data->data;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "stage", st->name);
    cJSON_AddStringToObject(c, "variant", j->variant ? "goal" : "baseline");
    cJSON_AddNumberToObject(c, "seed", j->seed);
    cJSON_AddNumberToObject(c, "max_len", (double)st->max_len);
    cJSON_AddNumberToObject(c, "micro_batch", (double)st->micro_batch);
    if (st->kind == PL_TRAIN) {
        cJSON_AddNumberToObject(c, "epochs", (double)st->epochs);
        cJSON_AddNumberToObject(c, "batch", (double)st->batch);
        cJSON_AddNumberToObject(c, "examples", (double)st->examples);
        cJSON_AddNumberToObject(c, "lr", st->lr);
        cJSON_AddNumberToObject(c, "lr_min", st->lr_min);
        cJSON_AddNumberToObject(c, "warmup_ratio", st->warmup_ratio);
        cJSON_AddNumberToObject(c, "schedule", st->schedule);
        cJSON_AddNumberToObject(c, "beta1", st->beta1);
        cJSON_AddNumberToObject(c, "beta2", st->beta2);
        cJSON_AddNumberToObject(c, "weight_decay", st->weight_decay);
        cJSON_AddNumberToObject(c, "clip", st->clip);
        cJSON_AddNumberToObject(c, "lambda", j->variant ? st->lambda : 0);
        cJSON_AddNumberToObject(c, "K", (double)st->K);
    }
    cJSON_AddStringToObject(c, "prompt", j->model->prompt ? j->model->prompt : "");
    cJSON_AddBoolToObject(c, "chat", j->model->chat);
    cJSON_AddItemToObject(c, "model", model_fingerprint(j->model));
    cJSON *files = cJSON_AddArrayToObject(c, "data");
    for (int f = 0; f < d->n_files; f++) {
        cJSON *o = fingerprint(d->files[f].path);
        cJSON_AddStringToObject(o, "format", PL_FORMAT_NAMES[d->files[f].format]);
        cJSON_AddItemToArray(files, o);
    }
    return c;
}

/* ---- train ---- */

enum { S_ACC, S_LOSS, S_N, N_SUMS };

/* micro-batch [a, b) of the step's pairs order[first ...] packed as 2 (b - a) sequences */
static int pack(const full_seqs *d, const int *pairs, int n, int32_t *tok, int *plen, int *len) {
    int T = 0;
    for (int i = 0; i < 2 * n; i++) {
        int k = 2 * pairs[i / 2] + (i & 1);
        if (d->len[k] > T) T = d->len[k];
    }
    for (int i = 0; i < 2 * n; i++) {
        int k = 2 * pairs[i / 2] + (i & 1);
        memcpy(tok + (size_t)i * T, d->seq[k], sizeof(int32_t) * (size_t)d->len[k]);
        for (int t = d->len[k]; t < T; t++)
            tok[(size_t)i * T + t] = d->seq[k][d->len[k] - 1]; /* padding, never read */
        plen[i] = d->plen[k], len[i] = d->len[k];
    }
    return T;
}

static gc_status compute_train(rp_stage *st, void *ctx) {
    full_job *j = ctx;
    const pl_stage *ps = &j->p->stages[j->stage];
    const full_seqs *d;
    GC_TRY(full_data_get(j->data, &d));
    int L = (int)ps->max_len, P = (int)ps->batch, M = (int)ps->micro_batch;
    int n = d->n;
    if (ps->examples > 0 && ps->examples < n) n = (int)ps->examples; /* the first n of an order */
    gc_model trunk;
    GC_TRY(gc_hf_load(j->model->path, L, &trunk));
    gc_model_set_recompute(&trunk, ps->recompute); /* the same bits either way */
    gc_rm rm;
    gc_status s = gc_rm_init(&rm, &trunk, GC_HEAD_LINEAR, (uint64_t)j->seed);
    if (s != GC_OK) {
        gc_model_free(&trunk);
        return s;
    }
    gc_con_config con = {j->variant ? (float)ps->lambda : 0.0f,
                         (int)ps->K,
                         GC_PAIRS_ALL,
                         GC_RED_LOG_OF_MEAN,
                         GC_POS_UNIFORM,
                         GC_GOAL_RANDOM};
    int per_epoch = (n + P - 1) / P, steps = per_epoch * (int)ps->epochs;
    int warmup = (int)ceil(ps->warmup_ratio * steps);
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)2 * M * L);
    int *plen = gc_malloc(sizeof(int) * 2 * M), *len = gc_malloc(sizeof(int) * 2 * M);
    int *order = gc_malloc(sizeof(int) * (size_t)n), *perm = gc_malloc(sizeof(int) * per_epoch);
    int *lens = gc_malloc(sizeof(int) * (size_t)n);
    if (!tok || !plen || !len || !order || !perm || !lens) s = GC_ERR_NOMEM;
    /* the examples subset: a seeded shuffle shared by every variant and seed */
    int *subset = s == GC_OK ? gc_malloc(sizeof(int) * (size_t)d->n) : NULL;
    if (s == GC_OK && !subset) s = GC_ERR_NOMEM;
    if (s == GC_OK) {
        for (int i = 0; i < d->n; i++)
            subset[i] = i;
        if (n < d->n) {
            gc_rng sr;
            gc_rng_init(&sr, 0, gc_rng_stream(GC_STREAM_RM_TRAIN, 1000));
            for (int i = d->n - 1; i > 0; i--) {
                int k = (int)gc_rng_below(&sr, (uint32_t)i + 1), t = subset[i];
                subset[i] = subset[k], subset[k] = t;
            }
        }
        for (int i = 0; i < n; i++)
            lens[i] = d->len[2 * subset[i]] > d->len[2 * subset[i] + 1] ? d->len[2 * subset[i]]
                                                                        : d->len[2 * subset[i] + 1];
    }
    gc_rng rng;
    gc_rng_init(&rng, (uint64_t)j->seed, gc_rng_stream(GC_STREAM_RM_TRAIN, (uint64_t)j->variant));
    double sum[N_SUMS] = {0};
    cJSON *curve = cJSON_CreateArray();
    rp_rm_loop k = {&rm, {&rng, order, n, perm, per_epoch, sum, N_SUMS, &curve}};
    int start = 0;
    if (s == GC_OK) s = rp_loop_start(st, rp_rm_loop_load, &k, &start);
    gc_progress prog;
    gc_progress_init(&prog, st->name, steps);
    int *pairs = gc_malloc(sizeof(int) * (size_t)M);
    if (s == GC_OK && !pairs) s = GC_ERR_NOMEM;
    for (int step = start; s == GC_OK && step < steps; step++) {
        int first, nb;
        rp_loop_batch(&k.loop, step, P, lens, &first, &nb);
        double acc = 0, loss = 0, pref = 0, cl = 0;
        for (int a = 0; s == GC_OK && a < nb; a += M) {
            int m = nb - a < M ? nb - a : M;
            for (int i = 0; i < m; i++)
                pairs[i] = subset[order[first + a + i]];
            int T = pack(d, pairs, m, tok, plen, len);
            gc_rm_step_stats rs;
            s = gc_rm_grad_acc(&rm, tok, m, T, plen, len, &con, &rng, (float)m / nb, a == 0, &rs);
            double w = (double)m / nb;
            acc += w * rs.acc, loss += w * rs.loss, pref += w * rs.pref, cl += w * rs.con;
        }
        float lr = ps->schedule == 0
                       ? gc_lr_cosine(step, steps, warmup, (float)ps->lr, (float)ps->lr_min)
                       : (step < warmup ? (float)ps->lr * (step + 1) / warmup : (float)ps->lr);
        gc_rm_optim o = GC_RM_OPTIM_DEFAULT(lr, (float)ps->clip, (float)ps->weight_decay);
        o.beta1 = (float)ps->beta1, o.beta2 = (float)ps->beta2;
        if (s == GC_OK) s = gc_rm_update(&rm, &o);
        if (s != GC_OK) break;
        if (step >= steps - per_epoch) sum[S_ACC] += acc, sum[S_LOSS] += loss, sum[S_N]++;
        cJSON *row = cJSON_CreateObject();
        cJSON_AddNumberToObject(row, "step", step + 1);
        cJSON_AddNumberToObject(row, "lr", lr);
        cJSON_AddNumberToObject(row, "loss", loss);
        cJSON_AddNumberToObject(row, "preference_loss", pref);
        cJSON_AddNumberToObject(row, "contrastive_loss", cl);
        cJSON_AddNumberToObject(row, "accuracy", acc);
        cJSON_AddItemToArray(curve, row);
        gc_progress_update(&prog, step + 1);
        if (rp_ckpt_due(st, step + 1 == steps))
            s = rp_ckpt_write(st, step + 1, rp_rm_loop_save, &k);
    }
    gc_progress_end(&prog);
    char path[RP_PATH], hd[RP_PATH];
    rp_stage_file(st, "curve.json", path);
    if (s == GC_OK) s = gc_json_write(path, curve);
    rp_stage_file(st, "rm.ckpt", path);
    rp_stage_file(st, "rm.head", hd);
    if (s == GC_OK) s = gc_rm_save(&rm, path, hd);
    if (s == GC_OK) {
        st->info = cJSON_CreateObject();
        cJSON_AddNumberToObject(st->info, "steps", steps);
        cJSON_AddNumberToObject(st->info, "pairs", n);
        cJSON_AddNumberToObject(st->info, "warmup_steps", warmup);
        cJSON_AddNumberToObject(st->info, "sequences_cut_to_max_len", d->truncated);
        cJSON_AddNumberToObject(st->info, "last_epoch_train_accuracy",
                                sum[S_N] ? sum[S_ACC] / sum[S_N] : 0);
        cJSON_AddNumberToObject(st->info, "last_epoch_loss", sum[S_N] ? sum[S_LOSS] / sum[S_N] : 0);
    }
    cJSON_Delete(curve);
    gc_rm_free(&rm);
    free(tok), free(plen), free(len), free(order), free(perm), free(lens), free(subset),
        free(pairs);
    return s;
}

const rp_stage_def FULL_TRAIN = {"full-train", __FILE__, compute_train, NULL};

/* ---- score ---- */

static int by_len_desc(const void *a, const void *b, void *ctx) {
    const int *len = ctx, x = *(const int *)a, y = *(const int *)b;
    return len[y] != len[x] ? len[y] - len[x] : x - y;
}

static gc_status compute_score(rp_stage *st, void *ctx) {
    full_job *j = ctx;
    const pl_stage *ps = &j->p->stages[j->stage];
    const full_seqs *d;
    GC_TRY(full_data_get(j->data, &d));
    int n = d->n_seq, B = (int)ps->micro_batch, L = (int)ps->max_len;
    gc_rm rm;
    GC_TRY(math_load_rm(j->rm, &rm));
    int *order = gc_malloc(sizeof(int) * (size_t)(n ? n : 1)), *len = gc_malloc(sizeof(int) * B);
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)B * L);
    float *out = gc_malloc(sizeof(float) * B);
    gc_status s = order && len && tok && out ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        order[i] = i;
    /* longest first, so a batch pads little; the order fixes which items share a batch */
    if (s == GC_OK) qsort_r(order, (size_t)n, sizeof(int), by_len_desc, d->len);
    gc_progress prog;
    gc_progress_init(&prog, st->name, n);
    for (int a = 0; s == GC_OK && a < n; a += B) {
        int m = n - a < B ? n - a : B, T = d->len[order[a]];
        for (int i = 0; i < m; i++) {
            int k = order[a + i];
            memcpy(tok + (size_t)i * T, d->seq[k], sizeof(int32_t) * (size_t)d->len[k]);
            for (int t = d->len[k]; t < T; t++)
                tok[(size_t)i * T + t] = d->seq[k][d->len[k] - 1];
            len[i] = d->len[k];
        }
        s = gc_rm_score(&rm, tok, m, T, len, out);
        for (int i = 0; s == GC_OK && i < m; i++)
            j->rewards[order[a + i]] = out[i];
        gc_progress_update(&prog, a + m);
    }
    gc_progress_end(&prog);
    gc_rm_free(&rm);
    char path[RP_PATH];
    rp_stage_file(st, "rewards.json", path);
    if (s == GC_OK) {
        cJSON *o = cJSON_CreateObject();
        gc_json_add_floats(o, "reward", j->rewards, (size_t)n);
        s = gc_json_write(path, o);
        cJSON_Delete(o);
    }
    free(order), free(len), free(tok), free(out);
    return s;
}

static gc_status load_score(const rp_stage *st, void *ctx) {
    full_job *j = ctx;
    char path[RP_PATH];
    rp_stage_file(st, "rewards.json", path);
    cJSON *o;
    GC_TRY(gc_json_read(path, &o));
    gc_status s = gc_json_floats(path, o, "reward", j->rewards, (size_t)j->data->s.n_seq);
    cJSON_Delete(o);
    return s;
}

const rp_stage_def FULL_SCORE = {"full-score", __FILE__, compute_score, load_score};
