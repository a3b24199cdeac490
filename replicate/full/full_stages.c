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
#include "lib/rm/vote.h"
#include "lib/tasks/helpsteer.h"
#include "lib/tasks/hfseq.h"
#include "lib/tasks/hh.h"
#include "lib/tasks/openmath.h"
#include "lib/util/jsonio.h"
#include "replicate/math/pipeline.h"
#include "replicate/runner/ckpt.h"
#include "replicate/runner/loop.h"
#include "full.h"

const full_variant FULL_VARIANTS[FULL_N_VARIANTS] = {
    {"baseline", 0, GC_PAIRS_ALL, GC_POS_UNIFORM, GC_GOAL_RANDOM, GC_HEAD_LINEAR},
    {"goal", 1, GC_PAIRS_ALL, GC_POS_UNIFORM, GC_GOAL_RANDOM, GC_HEAD_LINEAR},
    {"ordered", 1, GC_PAIRS_ORDERED, GC_POS_UNIFORM, GC_GOAL_RANDOM, GC_HEAD_LINEAR},
    {"late", 1, GC_PAIRS_ALL, GC_POS_LATE, GC_GOAL_RANDOM, GC_HEAD_LINEAR},
    {"single-goal", 1, GC_PAIRS_ALL, GC_POS_UNIFORM, GC_GOAL_SINGLE, GC_HEAD_LINEAR},
    {"averaged-goal", 1, GC_PAIRS_ALL, GC_POS_UNIFORM, GC_GOAL_AVERAGED, GC_HEAD_LINEAR},
    {"mlp-head", 1, GC_PAIRS_ALL, GC_POS_UNIFORM, GC_GOAL_RANDOM, GC_HEAD_MLP},
};

int full_variant_of(const char *name) {
    for (int v = 0; v < FULL_N_VARIANTS; v++)
        if (!strcmp(name, FULL_VARIANTS[v].name)) return v;
    return -1;
}

void full_seqs_free(full_seqs *s) {
    for (int i = 0; s->seq && i < s->n_seq; i++)
        free(s->seq[i]);
    free(s->seq), free(s->len), free(s->plen), free(s->correct), free(s->group);
    free(s->group_name);
    memset(s, 0, sizeof *s);
}

/* ---- data ---- */

/* One example of a data set: its question or dialogue, its one or two answers, and (items) its
 * label and group. The strings belong to the loaded set. */
typedef struct {
    const char *q, *ans[2];
    int correct, group;
} example;

/* every file of d loaded (OpenMath-style JSONL) and appended to one set; file_of gets each
 * item's file index */
static gc_status load_openmath(const pl_data *d, gc_om_set *all, int **file_of) {
    memset(all, 0, sizeof *all);
    *file_of = NULL;
    for (int f = 0; f < d->n_files; f++) {
        gc_om_set one;
        GC_TRY(gc_om_load(d->files[f].path, 0, &one));
        gc_om_item *it = realloc(all->it, sizeof *it * (size_t)(all->n + one.n + 1));
        int *fo = realloc(*file_of, sizeof(int) * (size_t)(all->n + one.n + 1));
        if (it) all->it = it;
        if (fo) *file_of = fo;
        if (!it || !fo) {
            gc_om_free(&one);
            return gc_fail(GC_ERR_NOMEM, "%s: out of memory", d->files[f].path);
        }
        memcpy(all->it + all->n, one.it, sizeof *it * (size_t)one.n);
        for (int i = 0; i < one.n; i++)
            (*file_of)[all->n + i] = f;
        all->n += one.n;
        free(one.it); /* the strings now belong to all */
    }
    return GC_OK;
}

/* every file of d (Helpful-Harmless pairs) appended to one set */
static gc_status load_hh(const pl_data *d, gc_hh_set *all) {
    memset(all, 0, sizeof *all);
    for (int f = 0; f < d->n_files; f++) {
        gc_hh_set one;
        GC_TRY(gc_hh_load(d->files[f].path, &one));
        gc_hh_pair *p = realloc(all->p, sizeof *p * (size_t)(all->n + one.n));
        if (!p) {
            gc_hh_free(&one);
            return gc_fail(GC_ERR_NOMEM, "%s: out of memory", d->files[f].path);
        }
        all->p = p;
        memcpy(all->p + all->n, one.p, sizeof *p * (size_t)one.n);
        all->n += one.n;
        all->no_shared_prompt += one.no_shared_prompt;
        free(one.p); /* the strings now belong to all */
    }
    return GC_OK;
}

gc_status full_helpsteer(const pl_data *d, gc_helpsteer_set *all, int **kept, int *n) {
    memset(all, 0, sizeof *all);
    *kept = NULL, *n = 0;
    for (int f = 0; f < d->n_files; f++) {
        gc_helpsteer_set one;
        GC_TRY(gc_helpsteer_load(d->files[f].path, 0, &one));
        gc_helpsteer_item *it = realloc(all->it, sizeof *it * (size_t)(all->n + one.n + 1));
        if (!it) {
            gc_helpsteer_free(&one);
            return gc_fail(GC_ERR_NOMEM, "%s: out of memory", d->files[f].path);
        }
        all->it = it;
        memcpy(all->it + all->n, one.it, sizeof *it * (size_t)one.n);
        all->n += one.n;
        free(one.it); /* the strings now belong to all */
    }
    if (!(*kept = gc_malloc(sizeof(int) * (size_t)(all->n + 1)))) return GC_ERR_NOMEM;
    for (int i = 0; i < all->n && (d->first <= 0 || *n < d->first); i++) {
        int ok = 1;
        for (int a = GC_HS_HELPFULNESS; a <= GC_HS_COMPLEXITY; a++)
            ok &= all->it[i].rating[a] >= d->min_rating;
        if (ok) (*kept)[(*n)++] = i;
    }
    if (*n == 0)
        return gc_fail(GC_ERR_FORMAT,
                       "data '%s': none of its %d items is rated at least %d on helpfulness, "
                       "correctness, coherence and complexity",
                       d->name, all->n, d->min_rating);
    gc_log_info("data '%s': %d of %d items kept (rated at least %d on the four attributes%s)",
                d->name, *n, all->n, d->min_rating, d->first > 0 ? ", the first ones" : "");
    return GC_OK;
}

/* One example's texts for model m: *prompt (malloc'd) the formatted prompt, side[i] (malloc'd) the
 * text after it of each of the n answers. OpenMath: the model's template around the question,
 * then the solution. Helpful-Harmless (q the dialogue up to its last assistant cue): with the
 * model's chat template (its "chat" key) the dialogue as messages and each answer as the
 * assistant's turn; without, the dialogue through the model's template (none: as it is) and each
 * answer with the space after the cue that gc_hh_split dropped. HelpSteer (q the prompt, one
 * answer): the prompt as the user's message through the chat template, or through the model's
 * template, and the response as it is. */
static gc_status format_example(const gc_hfseq *c, const pl_model *m, int format, const example *e,
                                int n, char **prompt, char **side) {
    *prompt = NULL;
    for (int i = 0; i < n; i++)
        side[i] = NULL;
    gc_status s = GC_OK;
    if ((format == PL_HH || format == PL_HELPSTEER) && m->chat) {
        cJSON *msgs = format == PL_HH ? gc_hh_messages(e->q) : full_user_message(e->q);
        for (int i = 0; i < n && s == GC_OK; i++) {
            char *p = NULL;
            s = gc_hfseq_chat(c, msgs, e->ans[i], &p, &side[i]);
            if (s == GC_OK && !*prompt)
                *prompt = p;
            else
                free(p);
        }
        cJSON_Delete(msgs);
    } else {
        *prompt = gc_hfseq_prompt(m->prompt, e->q);
        for (int i = 0; i < n && *prompt; i++) {
            size_t k = strlen(e->ans[i]);
            if (!(side[i] = gc_malloc(k + 2))) break;
            snprintf(side[i], k + 2, "%s%s", format == PL_HH ? " " : "", e->ans[i]);
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

/* The n examples of a data set of format `format`, each with `per` answers, encoded for model m
 * into out: example i's answers are sequences per * i, per * i + 1 (the prompt tokenised once for
 * both); labels and groups copied when with_labels. */
static gc_status encode_all(const pl_model *m, const pl_data *d, int format, const example *ex,
                            int n, int per, int with_labels, int max_len, full_seqs *out) {
    memset(out, 0, sizeof *out);
    out->n = n, out->n_seq = per * n;
    size_t k = (size_t)per * (n ? n : 1);
    out->seq = gc_calloc(k, sizeof(int32_t *));
    out->len = gc_calloc(k, sizeof(int));
    out->plen = gc_calloc(k, sizeof(int));
    if (with_labels) {
        out->correct = gc_calloc(k, sizeof(int));
        out->group = gc_calloc(k, sizeof(int));
    }
    int32_t *buf = gc_malloc(sizeof(int32_t) * (size_t)max_len);
    gc_hfseq c = {0};
    gc_status s =
        out->seq && out->len && out->plen && buf && (!with_labels || (out->correct && out->group))
            ? gc_hfseq_open(m->path, &c)
            : GC_ERR_NOMEM;
    gc_progress prog;
    gc_progress_init(&prog, per == 2 ? "tokenizing pairs" : "tokenizing items", n);
    for (int i = 0; s == GC_OK && i < n; i++) {
        char *prompt, *side[2];
        s = format_example(&c, m, format, &ex[i], per, &prompt, side);
        int np = 0;
        if (s == GC_OK) s = gc_hfseq_prompt_tokens(&c, prompt, &np);
        for (int a = 0; s == GC_OK && a < per; a++) {
            int q = per * i + a, cut = 0;
            s = gc_hfseq_encode(&c, prompt, np, side[a], max_len, buf, &out->len[q], &out->plen[q],
                                &cut);
            out->truncated += cut;
            if (s == GC_OK && !(out->seq[q] = gc_malloc(sizeof(int32_t) * (size_t)out->len[q])))
                s = GC_ERR_NOMEM;
            if (s == GC_OK) memcpy(out->seq[q], buf, sizeof(int32_t) * (size_t)out->len[q]);
        }
        if (prompt) {
            free(prompt);
            for (int a = 0; a < per; a++)
                free(side[a]);
        }
        if (with_labels) out->correct[i] = ex[i].correct, out->group[i] = ex[i].group;
        if ((i & 1023) == 0) gc_progress_update(&prog, i);
    }
    gc_progress_end(&prog);
    if (s != GC_OK) full_seqs_free(out);
    if (s == GC_OK)
        gc_log_info("data '%s': %d of %d sequences cut to %d tokens", d->name, out->truncated,
                    out->n_seq, max_len);
    gc_hfseq_close(&c);
    free(buf);
    return s;
}

void full_group_name(const char *path, char out[64]) {
    const char *end = strrchr(path, '/'), *start = end;
    while (start && start > path && start[-1] != '/')
        start--;
    if (!end || !start || end == start) {
        snprintf(out, 64, "%s", end ? end + 1 : path);
        return;
    }
    snprintf(out, 64, "%.*s", (int)(end - start), start);
}

/* Helpful-Harmless pairs, for training or for scoring (both sides scored: pairwise accuracy) */
static gc_status hh_pairs(const pl_model *m, const pl_data *d, int max_len, full_seqs *out) {
    gc_hh_set all;
    GC_TRY(load_hh(d, &all));
    example *ex = gc_calloc((size_t)all.n + 1, sizeof *ex);
    gc_status s = ex ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < all.n; i++)
        ex[i] = (example){all.p[i].prompt, {all.p[i].chosen, all.p[i].rejected}, 0, 0};
    if (s == GC_OK)
        gc_log_info("data '%s': %d pairs in %d files (%d without a shared prompt)", d->name, all.n,
                    d->n_files, all.no_shared_prompt);
    if (s == GC_OK) s = encode_all(m, d, PL_HH, ex, all.n, 2, 0, max_len, out);
    gc_hh_free(&all);
    free(ex);
    return s;
}

cJSON *full_user_message(const char *text) {
    cJSON *msgs = cJSON_CreateArray(), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", text);
    cJSON_AddItemToArray(msgs, m);
    return msgs;
}

/* the kept items of HelpSteer files (full_helpsteer): prompt and response, for a prototype or
 * fine-tuning */
static gc_status helpsteer_items(const pl_model *m, const pl_data *d, int max_len, full_seqs *out) {
    gc_helpsteer_set all;
    int *kept = NULL, n = 0;
    gc_status s = full_helpsteer(d, &all, &kept, &n);
    example *ex = s == GC_OK ? gc_calloc((size_t)n + 1, sizeof *ex) : NULL;
    if (s == GC_OK && !ex) s = GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < n; i++)
        ex[i] = (example){all.it[kept[i]].prompt, {all.it[kept[i]].response, NULL}, 0, 0};
    if (s == GC_OK) s = encode_all(m, d, PL_HELPSTEER, ex, n, 1, 0, max_len, out);
    gc_helpsteer_free(&all);
    free(kept), free(ex);
    return s;
}

/* pairs (correct against incorrect per question, lib/tasks/openmath.h) or labelled items of
 * OpenMath-style files */
static gc_status openmath_seqs(const pl_model *m, const pl_data *d, int pairs, int max_len,
                               full_seqs *out) {
    gc_om_set all;
    int *file_of = NULL;
    GC_TRY(load_openmath(d, &all, &file_of));
    int *chosen = gc_malloc(sizeof(int) * (size_t)(all.n + 1));
    int *rejected = gc_malloc(sizeof(int) * (size_t)(all.n + 1));
    example *ex = gc_calloc((size_t)all.n + 1, sizeof *ex);
    gc_status s = chosen && rejected && ex ? GC_OK : GC_ERR_NOMEM;
    int n = all.n, nq = 0;
    if (s == GC_OK && pairs && (n = gc_om_pairs(&all, 0, chosen, rejected, all.n, &nq)) < 0)
        s = GC_ERR_NOMEM;
    if (s == GC_OK && n == 0)
        s = gc_fail(GC_ERR_FORMAT, "data '%s': %s", d->name,
                    pairs ? "no question has both a correct and an incorrect solution, so there "
                            "are no pairs"
                          : "no items");
    for (int i = 0; s == GC_OK && i < n; i++) {
        const gc_om_item *a = &all.it[pairs ? chosen[i] : i];
        ex[i] = (example){a->question,
                          {a->solution, pairs ? all.it[rejected[i]].solution : NULL},
                          a->correct,
                          pairs ? 0 : file_of[i]};
    }
    char(*names)[64] = NULL;
    if (s == GC_OK && !pairs) { /* the groups: each file's directory, one name each */
        if (!(names = gc_calloc((size_t)d->n_files, 64))) s = GC_ERR_NOMEM;
        for (int f = 0; s == GC_OK && f < d->n_files; f++) {
            full_group_name(d->files[f].path, names[f]);
            for (int g = 0; g < f; g++)
                if (!strcmp(names[g], names[f]))
                    s = gc_fail(GC_ERR_CONFIG,
                                "data '%s': %s and %s are both group '%s' (a group is a file's "
                                "directory)",
                                d->name, d->files[g].path, d->files[f].path, names[f]);
        }
    }
    if (s == GC_OK && pairs)
        gc_log_info("data '%s': %d solutions, %d pairs over %d questions", d->name, all.n, n, nq);
    if (s == GC_OK) s = encode_all(m, d, PL_OPENMATH, ex, n, pairs ? 2 : 1, !pairs, max_len, out);
    if (s == GC_OK && !pairs) out->group_name = names, out->n_groups = d->n_files, names = NULL;
    gc_om_free(&all);
    free(file_of), free(chosen), free(rejected), free(ex), free(names);
    return s;
}

/* the solutions of a generate stage as scored items: prompt + generated tokens + EOS (unless the
 * last is the EOS), cut to max_len - 1 tokens plus EOS; labelled correct when their answer is
 * the reference's; grouped by their question's file */
static gc_status sample_items(const full_samples *sm, int32_t eos, int max_len, full_seqs *out) {
    memset(out, 0, sizeof *out);
    int n = sm->n_q * sm->M;
    out->n = out->n_seq = n;
    size_t k = (size_t)(n ? n : 1);
    out->seq = gc_calloc(k, sizeof(int32_t *));
    out->len = gc_calloc(k, sizeof(int));
    out->plen = gc_calloc(k, sizeof(int));
    out->correct = gc_calloc(k, sizeof(int));
    out->group = gc_calloc(k, sizeof(int));
    out->group_name = gc_calloc((size_t)(sm->n_groups ? sm->n_groups : 1), 64);
    if (!out->seq || !out->len || !out->plen || !out->correct || !out->group || !out->group_name) {
        full_seqs_free(out);
        return GC_ERR_NOMEM;
    }
    out->n_groups = sm->n_groups;
    memcpy(out->group_name, sm->group_name, (size_t)sm->n_groups * 64);
    for (int i = 0; i < n; i++) {
        int q = i / sm->M, np = sm->plen[q], ng = sm->glen[i];
        const int32_t *g = sm->gen + sm->goff[i];
        int ends = ng > 0 && g[ng - 1] == eos, len = np + ng + !ends;
        if (len > max_len) len = max_len, out->truncated++;
        if (np > len - 1) np = len - 1;
        if (!(out->seq[i] = gc_malloc(sizeof(int32_t) * (size_t)len))) {
            full_seqs_free(out);
            return GC_ERR_NOMEM;
        }
        int from_prompt = np < sm->plen[q] ? np : sm->plen[q];
        memcpy(out->seq[i], sm->prompt + sm->poff[q], sizeof(int32_t) * (size_t)from_prompt);
        int rest = len - 1 - from_prompt; /* generated tokens before the final EOS */
        if (rest > ng) rest = ng;
        if (rest > 0) memcpy(out->seq[i] + from_prompt, g, sizeof(int32_t) * (size_t)rest);
        out->seq[i][len - 1] = eos;
        out->len[i] = len, out->plen[i] = np;
        out->correct[i] = sm->cls[i] == 0, out->group[i] = sm->qgroup[q];
    }
    return GC_OK;
}

gc_status full_data_get(full_data *fd, const full_seqs **out) {
    if (!fd->ready && fd->samples) {
        GC_TRY(sample_items(fd->samples, fd->eos, fd->max_len, &fd->s));
        fd->ready = 1;
    }
    if (!fd->ready) {
        int f = fd->data->files[0].format;
        GC_TRY(f == PL_HH ? hh_pairs(fd->model, fd->data, fd->max_len, &fd->s)
               : f == PL_HELPSTEER
                   ? helpsteer_items(fd->model, fd->data, fd->max_len, &fd->s)
                   : openmath_seqs(fd->model, fd->data, fd->pairs, fd->max_len, &fd->s));
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

static void add_numbers(cJSON *c, const char *const *keys, const double *vals, int n) {
    for (int k = 0; k < n; k++)
        cJSON_AddNumberToObject(c, keys[k], vals[k]);
}

cJSON *full_stage_config(const full_job *j) {
    const pl_stage *st = &j->p->stages[j->stage];
    const pl_data *d = j->data ? j->data->data : NULL;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "stage", st->name);
    const full_variant *fv = &FULL_VARIANTS[j->variant];
    cJSON_AddStringToObject(c, "variant", fv->name);
    cJSON_AddNumberToObject(c, "seed", j->seed);
    cJSON_AddNumberToObject(c, "max_len", (double)st->max_len);
    cJSON_AddNumberToObject(c, "micro_batch", (double)st->micro_batch);
    if (st->kind == PL_TRAIN) {
        cJSON_AddNumberToObject(c, "loss", st->loss);
        if (st->loss == 1) cJSON_AddNumberToObject(c, "beta", st->beta);
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
        cJSON_AddNumberToObject(c, "lambda", fv->contrastive ? st->lambda : 0);
        cJSON_AddNumberToObject(c, "K", (double)st->K);
        cJSON_AddNumberToObject(c, "pairs", fv->pairs);
        cJSON_AddNumberToObject(c, "positions", fv->positions);
        cJSON_AddNumberToObject(c, "goal_sampling", fv->goal_sampling);
        cJSON_AddNumberToObject(c, "head", fv->head);
    }
    cJSON_AddStringToObject(c, "prompt", j->model->prompt ? j->model->prompt : "");
    cJSON_AddBoolToObject(c, "chat", j->model->chat);
    cJSON_AddItemToObject(c, "model", model_fingerprint(j->model));
    if (j->qs) {
        cJSON_AddNumberToObject(c, "points", j->qs->P);
        cJSON_AddNumberToObject(c, "skip", j->qs->skip);
        cJSON_AddStringToObject(c, "goal", j->qs->goal ? "random" : "last");
    }
    if (j->samples) {
        cJSON_AddNumberToObject(c, "samples", (double)st->samples);
        cJSON_AddNumberToObject(c, "max_new", (double)st->max_new);
        cJSON_AddNumberToObject(c, "temperature", st->temperature);
        cJSON_AddNumberToObject(c, "top_p", st->top_p);
        cJSON_AddNumberToObject(c, "sampling_seed", (double)st->seed);
        if (j->policy) cJSON_AddStringToObject(c, "policy", j->policy);
        d = j->questions;
    }
    if (st->kind == PL_BEAM) {
        static const char *const keys[] = {"beam",      "samples",   "step_tokens",
                                           "max_steps", "examples",  "temperature",
                                           "top_p",     "lp_weight", "goal_weight"};
        const double vals[] = {(double)st->beam,
                               (double)st->samples,
                               (double)st->step_tokens,
                               (double)st->max_steps,
                               (double)st->examples,
                               st->temperature,
                               st->top_p,
                               st->lp_weight,
                               st->scorer[0] ? st->goal_weight : 0};
        add_numbers(c, keys, vals, 9);
        cJSON_AddStringToObject(c, "generator", st->model);
    }
    if (st->kind == PL_PPO) { /* the prompts are j->data's; the pretraining term's set its own */
        int t = pl_find_stage(j->p, st->scorer),
            x = st->ptx_data[0] ? pl_find_data(j->p, st->ptx_data) : -1;
        static const char *const keys[] = {"rollout",   "train_batch", "episodes",   "max_new",
                                           "ptx_batch", "actor_lr",    "critic_lr",  "kl_init",
                                           "ptx_coef",  "gamma",       "ptx_max_len"};
        const double vals[] = {(double)st->rollout,
                               (double)st->train_batch,
                               (double)st->episodes,
                               (double)st->max_new,
                               (double)st->ptx_batch,
                               st->actor_lr,
                               st->critic_lr,
                               st->kl_init,
                               st->ptx_coef,
                               st->gamma,
                               t >= 0 ? (double)j->p->stages[t].max_len : 0};
        add_numbers(c, keys, vals, 11);
        cJSON_AddItemToObject(c, "ptx_data", full_data_fingerprint(x >= 0 ? &j->p->data[x] : NULL));
    }
    if (d && d->files[0].format == PL_HELPSTEER) {
        cJSON_AddNumberToObject(c, "min_rating", d->min_rating);
        cJSON_AddNumberToObject(c, "first", (double)d->first);
    }
    cJSON_AddItemToObject(c, "data", full_data_fingerprint(j->data && j->data->samples ? NULL : d));
    return c;
}

cJSON *full_data_fingerprint(const pl_data *d) {
    cJSON *files = cJSON_CreateArray();
    for (int f = 0; d && f < d->n_files; f++) {
        cJSON *o = fingerprint(d->files[f].path);
        cJSON_AddStringToObject(o, "format", PL_FORMAT_NAMES[d->files[f].format]);
        cJSON_AddItemToArray(files, o);
    }
    return files;
}

/* ---- train ---- */

float full_lr(const pl_stage *ps, int step, int steps, int warmup) {
    return ps->schedule == 0
               ? gc_lr_cosine(step, steps, warmup, (float)ps->lr, (float)ps->lr_min)
               : (step < warmup ? (float)ps->lr * (step + 1) / warmup : (float)ps->lr);
}

int *full_subset(int n_all, int n) {
    int *subset = gc_malloc(sizeof(int) * (size_t)(n_all ? n_all : 1));
    if (!subset) return NULL;
    for (int i = 0; i < n_all; i++)
        subset[i] = i;
    if (n < n_all) {
        gc_rng sr;
        gc_rng_init(&sr, 0, gc_rng_stream(GC_STREAM_RM_TRAIN, 1000));
        for (int i = n_all - 1; i > 0; i--) {
            int k = (int)gc_rng_below(&sr, (uint32_t)i + 1), t = subset[i];
            subset[i] = subset[k], subset[k] = t;
        }
    }
    return subset;
}

/* copies a model directory's tokenizer files (when present) into directory to */
static gc_status copy_tokenizer(const char *from, const char *to) {
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int f = 0; f < 2; f++) {
        char a[RP_PATH + 40], b[RP_PATH + 40];
        snprintf(a, sizeof a, "%s/%s", from, files[f]);
        snprintf(b, sizeof b, "%s/%s", to, files[f]);
        char *data = NULL;
        size_t n = 0;
        if (gc_read_file(a, &data, &n) != GC_OK) continue; /* tokenizer_config.json is optional */
        FILE *o = fopen(b, "wb");
        int ok = o && fwrite(data, 1, n, o) == n;
        if (o && fclose(o) != 0) ok = 0;
        free(data);
        if (!ok) return gc_fail(GC_ERR_IO, "%s: cannot write", b);
    }
    return GC_OK;
}

gc_status full_save_policy(const rp_stage *st, gc_model *m, const pl_model *base) {
    GC_TRY(gc_hf_save(st->dir, m, GC_ST_F32));
    return copy_tokenizer(base->path, st->dir);
}

enum { S_ACC, S_LOSS, S_N, N_SUMS };

int full_pack(const full_seqs *d, const int *which, int n, int32_t *tok, int *len, int *plen) {
    int T = 0;
    for (int i = 0; i < n; i++)
        T = d->len[which[i]] > T ? d->len[which[i]] : T;
    for (int i = 0; i < n; i++) {
        int k = which[i];
        memcpy(tok + (size_t)i * T, d->seq[k], sizeof(int32_t) * (size_t)d->len[k]);
        for (int t = d->len[k]; t < T; t++)
            tok[(size_t)i * T + t] = d->seq[k][d->len[k] - 1];
        len[i] = d->len[k];
        if (plen) plen[i] = d->plen[k];
    }
    return T;
}

/* The goal state of a trained reward model (PAPER.md section 2): the mean final hidden state at
 * the last token (EOS) of the chosen sequences of the pairs it trained on (which[0, n) of d, pair
 * indices), read in batches of B; goal.json of the stage. */
static const char *const GOAL_FILES[2] = {"goal.json", "goal_random.json"};

/* The goal states of a trained reward model (PAPER.md section 2), from the chosen sequences of
 * the pairs it trained on (pairs[0, n) of d, read in batches of B): goal.json, the mean final
 * hidden state at their last token (the EOS); goal_random.json, the ablation's, at one response
 * token of each drawn uniformly (stream GC_STREAM_GOAL_TOKEN of the pair's index, seed 1). */
static gc_status write_goal(rp_stage *st, gc_rm *rm, const full_seqs *d, const int *pairs, int n,
                            int B, int L) {
    int D = rm->model.cfg.dim;
    gc_goal g[2] = {{0}, {0}};
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)B * L);
    int *which = gc_malloc(sizeof(int) * B), *len = gc_malloc(sizeof(int) * B);
    float *r = gc_malloc(sizeof(float) * B), *goal = gc_malloc(sizeof(float) * D);
    gc_status s = tok && which && len && r && goal ? gc_goal_init(&g[0], D) : GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_goal_init(&g[1], D);
    for (int a = 0; s == GC_OK && a < n; a += B) {
        int m = n - a < B ? n - a : B;
        for (int i = 0; i < m; i++)
            which[i] = 2 * pairs[a + i];
        int T = full_pack(d, which, m, tok, len, NULL);
        s = gc_rm_score(rm, tok, m, T, len, r);
        for (int i = 0; s == GC_OK && i < m; i++) {
            const float *h = rm->model.hf + (size_t)i * T * D;
            gc_goal_add(&g[0], h + (size_t)(len[i] - 1) * D);
            gc_rng rr;
            gc_rng_init(&rr, 1, gc_rng_stream(GC_STREAM_GOAL_TOKEN, (uint64_t)pairs[a + i]));
            int np = d->plen[which[i]];
            gc_goal_add(&g[1],
                        h + (size_t)(np + (int)gc_rng_below(&rr, (uint32_t)(len[i] - np))) * D);
        }
    }
    static const char *const what[2] = {
        "mean final hidden state at the last token (EOS) of the chosen sequences of the training "
        "pairs",
        "mean final hidden state at one uniformly drawn response token of each chosen sequence "
        "of the training pairs"};
    for (int k = 0; k < 2 && s == GC_OK; k++) {
        s = gc_goal_mean(&g[k], goal);
        if (s == GC_OK) s = math_write_goal_file(st, GOAL_FILES[k], goal, D, what[k]);
    }
    gc_goal_free(&g[0]), gc_goal_free(&g[1]);
    free(tok), free(which), free(len), free(r), free(goal);
    return s;
}

gc_status full_read_goal(const rp_stage *st, int k, int D, float *goal) {
    return math_read_goal_file(st, GOAL_FILES[k], D, goal);
}

static gc_status compute_train(rp_stage *st, void *ctx) {
    full_job *j = ctx;
    const pl_stage *ps = &j->p->stages[j->stage];
    const full_seqs *d;
    GC_TRY(full_data_get(j->data, &d));
    int L = (int)ps->max_len, P = (int)ps->batch, M = (int)ps->micro_batch;
    int n = d->n;
    if (ps->examples > 0 && ps->examples < n) n = (int)ps->examples; /* a seeded subset, below */
    gc_model trunk;
    GC_TRY(gc_hf_load(j->model->path, L, &trunk));
    gc_model_set_recompute(&trunk, ps->recompute); /* the same bits either way */
    gc_rm rm;
    const full_variant *fv = &FULL_VARIANTS[j->variant];
    gc_status s = gc_rm_init(&rm, &trunk, (gc_head_kind)fv->head, (uint64_t)j->seed);
    if (s != GC_OK) {
        gc_model_free(&trunk);
        return s;
    }
    gc_con_config con = {fv->contrastive ? (float)ps->lambda : 0.0f,
                         (int)ps->K,
                         (gc_pairs_mode)fv->pairs,
                         GC_RED_LOG_OF_MEAN,
                         (gc_con_positions)fv->positions,
                         (gc_goal_sampling)fv->goal_sampling};
    int per_epoch = (n + P - 1) / P, steps = per_epoch * (int)ps->epochs;
    int warmup = (int)ceil(ps->warmup_ratio * steps);
    int32_t *tok = gc_malloc(sizeof(int32_t) * (size_t)2 * M * L);
    int *plen = gc_malloc(sizeof(int) * 2 * M), *len = gc_malloc(sizeof(int) * 2 * M);
    int *order = gc_malloc(sizeof(int) * (size_t)n), *perm = gc_malloc(sizeof(int) * per_epoch);
    int *lens = gc_malloc(sizeof(int) * (size_t)n);
    if (!tok || !plen || !len || !order || !perm || !lens) s = GC_ERR_NOMEM;
    /* the examples subset: a seeded shuffle shared by every variant and seed */
    int *subset = s == GC_OK ? full_subset(d->n, n) : NULL;
    if (s == GC_OK && !subset) s = GC_ERR_NOMEM;
    if (s == GC_OK) {
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
    int *which = gc_malloc(sizeof(int) * (size_t)2 * M); /* a micro-batch's sequences */
    if (s == GC_OK && !which) s = GC_ERR_NOMEM;
    for (int step = start; s == GC_OK && step < steps; step++) {
        int first, nb;
        rp_loop_batch(&k.loop, step, P, lens, &first, &nb);
        double acc = 0, loss = 0, pref = 0, cl = 0;
        for (int a = 0; s == GC_OK && a < nb; a += M) {
            int m = nb - a < M ? nb - a : M;
            for (int i = 0; i < m; i++) /* chosen, rejected, ... */
                which[2 * i] = 2 * subset[order[first + a + i]],
                          which[2 * i + 1] = which[2 * i] + 1;
            int T = full_pack(d, which, 2 * m, tok, len, plen);
            gc_rm_step_stats rs;
            s = gc_rm_grad_acc(&rm, tok, m, T, plen, len, &con, &rng, (float)m / nb, a == 0, &rs);
            double w = (double)m / nb;
            acc += w * rs.acc, loss += w * rs.loss, pref += w * rs.pref, cl += w * rs.con;
        }
        float lr = full_lr(ps, step, steps, warmup);
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
    if (s == GC_OK) s = write_goal(st, &rm, d, subset, n, 2 * M, L);
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
        free(which);
    return s;
}

const rp_stage_def FULL_TRAIN = {"full-train", __FILE__, compute_train, NULL};

/* ---- score ---- */

static int by_len_desc(const void *a, const void *b, void *ctx) {
    const int *len = ctx, x = *(const int *)a, y = *(const int *)b;
    return len[y] != len[x] ? len[y] - len[x] : x - y;
}

/* qscores.bin: the prefix rewards and Q-values, then the record lows (counts, indices, values) */
static gc_status write_qscores(const rp_stage *st, const full_qscores *qs, int n) {
    char path[RP_PATH];
    rp_stage_file(st, "qscores.bin", path);
    full_array a[5] = {{'f', (int64_t)n * qs->P, qs->reward},
                       {'f', (int64_t)n * qs->P, qs->q},
                       {'i', n, qs->lows.n_low},
                       {'i', qs->lows.used, qs->lows.low_j},
                       {'f', qs->lows.used, qs->lows.low_q}};
    return full_arrays_write(path, a, 5);
}

static gc_status read_qscores(const rp_stage *st, full_qscores *qs, int n) {
    char path[RP_PATH];
    rp_stage_file(st, "qscores.bin", path);
    full_array a[5] = {
        {'f', 0, NULL}, {'f', 0, NULL}, {'i', 0, NULL}, {'i', 0, NULL}, {'f', 0, NULL}};
    GC_TRY(full_arrays_read(path, a, 5));
    gc_status s = GC_OK;
    int64_t sum = 0;
    for (int64_t i = 0; a[2].n == n && i < n; i++)
        sum += ((int *)a[2].data)[i];
    if (a[0].n != (int64_t)n * qs->P || a[1].n != a[0].n || a[2].n != n || a[3].n != sum ||
        a[4].n != sum)
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: not %d solutions at %d points (delete the stage "
                    "directory to recompute)",
                    path, n, qs->P);
    if (s == GC_OK) {
        memcpy(qs->reward, a[0].data, sizeof(float) * (size_t)a[0].n);
        memcpy(qs->q, a[1].data, sizeof(float) * (size_t)a[1].n);
        const int *nl = a[2].data;
        qs->lows.used = 0; /* read over what the computation put there */
        for (int64_t i = 0, at = 0; s == GC_OK && i < n; at += nl[i++])
            s = math_qlows_add(&qs->lows, (int)i, (const int *)a[3].data + at,
                               (const float *)a[4].data + at, nl[i]);
    }
    for (int i = 0; i < 5; i++)
        free(a[i].data);
    return s;
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
    full_qscores *qs = j->qs;
    int D = rm.model.cfg.dim;
    float *goal = qs ? gc_malloc(sizeof(float) * D) : NULL, *qv = NULL, *lq = NULL;
    int *lj = NULL;
    int64_t *at = NULL; /* qs: each item's record lows, computed out of order, kept here */
    if (s == GC_OK && qs) {
        qv = gc_malloc(sizeof(float) * L), lq = gc_malloc(sizeof(float) * L);
        lj = gc_malloc(sizeof(int) * L);
        at = gc_malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
        s = goal && qv && lq && lj && at ? full_read_goal(j->rm, qs->goal, D, goal) : GC_ERR_NOMEM;
    }
    math_qlows tmp = {0}; /* the lows in scoring order, then put in item order */
    if (s == GC_OK && qs) s = math_qlows_init(&tmp, n);
    for (int i = 0; i < n; i++)
        order[i] = i;
    /* longest first, so a batch pads little; the order fixes which items share a batch */
    if (s == GC_OK) qsort_r(order, (size_t)n, sizeof(int), by_len_desc, d->len);
    gc_progress prog;
    gc_progress_init(&prog, st->name, n);
    for (int a = 0; s == GC_OK && a < n; a += B) {
        int m = n - a < B ? n - a : B, T = full_pack(d, order + a, m, tok, len, NULL);
        s = gc_rm_score(&rm, tok, m, T, len, out);
        for (int i = 0; s == GC_OK && i < m; i++) {
            int it = order[a + i];
            j->rewards[it] = out[i];
            if (!qs) continue;
            const float *h = rm.model.hf + (size_t)i * T * D;
            int np = d->plen[it], nr = len[i] - np;
            for (int k = 0; k < qs->P; k++) { /* prefixes of k_p = max(1, round(p n)) tokens */
                int kp = (int)lround((double)k / (qs->P - 1) * nr);
                const float *hp = h + (size_t)(np + (kp < 1 ? 1 : kp) - 1) * D;
                qs->reward[(size_t)it * qs->P + k] = gc_rm_reward(&rm, hp);
                qs->q[(size_t)it * qs->P + k] = gc_qvalue(hp, goal, D);
            }
            int nw = nr - 1; /* every generated token but the final EOS */
            for (int t = 0; t < nw; t++)
                qv[t] = gc_qvalue(h + (size_t)(np + t) * D, goal, D);
            int nl = gc_vote_record_lows(qv, nw, qs->skip, lj, lq);
            at[it] = a + i;
            s = math_qlows_add(&tmp, a + i, lj, lq, nl);
        }
        gc_progress_update(&prog, a + m);
    }
    gc_progress_end(&prog);
    for (int it = 0; s == GC_OK && qs && it < n; it++) /* item order */
        s = math_qlows_add(&qs->lows, it, tmp.low_j + tmp.off[at[it]], tmp.low_q + tmp.off[at[it]],
                           tmp.n_low[at[it]]);
    math_qlows_free(&tmp);
    free(goal), free(qv), free(lq), free(lj), free(at);
    gc_rm_free(&rm);
    char path[RP_PATH];
    rp_stage_file(st, "rewards.json", path);
    if (s == GC_OK) {
        cJSON *o = cJSON_CreateObject();
        gc_json_add_floats(o, "reward", j->rewards, (size_t)n);
        s = gc_json_write(path, o);
        cJSON_Delete(o);
    }
    if (s == GC_OK && qs) s = write_qscores(st, qs, n);
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
    if (s == GC_OK && j->qs) s = read_qscores(st, j->qs, j->data->s.n_seq);
    return s;
}

const rp_stage_def FULL_SCORE = {"full-score", __FILE__, compute_score, load_score};
