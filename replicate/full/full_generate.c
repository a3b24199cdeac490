/* full_generate: the full scale's generate stage (full.h): M solutions per question of a math
 * benchmark's files, sampled from a Hugging Face model, graded against the reference answers.
 *
 * Question q's prompt is the model's template around the question, encoded with the tokenizer's
 * special tokens (lib/tasks/hfseq.h); solution k = q * M + i draws its tokens from
 * gc_rng_stream(GC_STREAM_SAMPLE, k) under the stage's seed, so a solution does not depend on the
 * batch it is decoded in; it ends at the EOS (kept) or after max_new tokens. Its text is the
 * decoding of its tokens without the EOS; its final answer is gc_ma_extract's, and its class
 * among the question's answers (full_samples) is found with gc_ma_equal, the reference's first.
 *
 * Outputs: samples.bin (full_arrays: prompt lengths, prompt tokens, generated lengths, generated
 * tokens, answer classes) and samples.jsonl, one line per solution in the layout of an OpenMath
 * prediction file (question, generation, expected_answer, predicted_answer, is_correct, dataset,
 * plus question_index, sample and answer_class), which fig2's score stage can read as it is.
 * Checkpoints after whole batches: a killed run resumes to the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/model/generate.h"
#include "lib/model/hf.h"
#include "lib/model/sampler.h"
#include "lib/tasks/hfseq.h"
#include "lib/tasks/mathans.h"
#include "lib/tasks/mathbench.h"
#include "lib/tasks/mathpipe.h"
#include "lib/util/jsonio.h"
#include "replicate/runner/ckpt.h"
#include "full.h"

void full_samples_free(full_samples *s) {
    free(s->plen), free(s->prompt), free(s->poff), free(s->glen), free(s->gen), free(s->goff);
    free(s->cls), free(s->qgroup), free(s->group_name);
    memset(s, 0, sizeof *s);
}

/* the offsets of concatenated runs of lengths len (n) */
static int64_t *offsets(const int *len, int n) {
    int64_t *off = gc_malloc(sizeof(int64_t) * (size_t)(n ? n : 1)), at = 0;
    for (int i = 0; off && i < n; i++)
        off[i] = at, at += len[i];
    return off;
}

/* ---- the questions ---- */

void full_questions_free(full_questions *q) {
    for (int i = 0; i < q->n_sets; i++)
        gc_mb_free(&q->sets[i]);
    free(q->sets), free(q->question), free(q->answer);
    memset(q, 0, sizeof *q);
}

gc_status full_load_questions(const pl_data *d, full_questions *q, full_samples *out) {
    memset(q, 0, sizeof *q);
    q->sets = gc_calloc((size_t)d->n_files, sizeof(gc_mb_set));
    out->group_name = gc_calloc((size_t)d->n_files, 64);
    if (!q->sets || !out->group_name) return GC_ERR_NOMEM;
    out->n_groups = d->n_files;
    for (int f = 0; f < d->n_files; f++) {
        int fmt = gc_mb_format_parse(PL_FORMAT_NAMES[d->files[f].format]);
        if (fmt < 0)
            return gc_fail(GC_ERR_CONFIG,
                           "data '%s': %s: the generate stage reads math benchmark files "
                           "(gsm8k, math, ...), not %s",
                           d->name, d->files[f].path, PL_FORMAT_NAMES[d->files[f].format]);
        GC_TRY(gc_mb_load(d->files[f].path, (gc_mb_format)fmt, 0, &q->sets[f]));
        q->n_sets = f + 1;
        full_group_name(d->files[f].path, out->group_name[f]);
        q->n += q->sets[f].n;
    }
    q->question = gc_malloc(sizeof(char *) * (size_t)(q->n ? q->n : 1));
    q->answer = gc_malloc(sizeof(char *) * (size_t)(q->n ? q->n : 1));
    out->qgroup = gc_malloc(sizeof(int) * (size_t)(q->n ? q->n : 1));
    if (!q->question || !q->answer || !out->qgroup) return GC_ERR_NOMEM;
    int k = 0;
    for (int f = 0; f < q->n_sets; f++)
        for (int i = 0; i < q->sets[f].n; i++, k++)
            q->question[k] = q->sets[f].it[i].question, q->answer[k] = q->sets[f].it[i].answer,
            out->qgroup[k] = f;
    out->n_q = q->n;
    return GC_OK;
}

/* ---- sampling ---- */

/* stops a sequence once it holds max_new generated tokens; then the reward model's watch */
typedef struct {
    const int *plen; /* (B) */
    int B, max_new;
    gc_qwatch *watch; /* or NULL */
} limit;

static gc_status limit_step(void *ctx, const int32_t *tok, const int32_t *pos,
                            const uint8_t *active, uint8_t *stop) {
    const limit *l = ctx;
    for (int b = 0; b < l->B; b++)
        if (active[b] && pos[b] - l->plen[b] + 1 >= l->max_new) stop[b] = 1;
    return l->watch ? gc_qwatch_step(l->watch, tok, pos, active, stop) : GC_OK;
}

static gc_status save_progress(const char *dir, void *ctx) {
    const full_sampled *p = ctx;
    char path[RP_PATH];
    snprintf(path, sizeof path, "%s/progress.bin", dir);
    full_array a[2] = {{'i', p->done, p->glen}, {'i', p->n_gen, p->gen}};
    return full_arrays_write(path, a, 2);
}

static gc_status load_progress(const char *dir, full_sampled *p, int total) {
    char path[RP_PATH];
    snprintf(path, sizeof path, "%s/progress.bin", dir);
    full_array a[2] = {{'i', 0, NULL}, {'i', 0, NULL}};
    GC_TRY(full_arrays_read(path, a, 2));
    int64_t sum = 0;
    for (int64_t i = 0; i < a[0].n; i++)
        sum += ((int *)a[0].data)[i];
    gc_status s = GC_OK;
    if (a[0].n > total || sum != a[1].n)
        s = gc_fail(GC_ERR_FORMAT, "%s: not this stage's progress", path);
    if (s == GC_OK) {
        memcpy(p->glen, a[0].data, sizeof(int) * (size_t)a[0].n);
        free(p->gen);
        p->gen = a[1].data, a[1].data = NULL;
        p->done = (int)a[0].n, p->n_gen = p->cap = a[1].n;
    }
    free(a[0].data), free(a[1].data);
    return s;
}

/* appends n tokens to the generated ones */
static gc_status push_tokens(full_sampled *p, const int32_t *t, int n) {
    if (p->n_gen + n > p->cap) {
        int64_t cap = p->cap * 2 > p->n_gen + n ? p->cap * 2 : p->n_gen + n + 4096;
        int32_t *g = realloc(p->gen, sizeof(int32_t) * (size_t)cap);
        if (!g) return gc_fail(GC_ERR_NOMEM, "generate: out of memory for the solutions' tokens");
        p->gen = g, p->cap = cap;
    }
    memcpy(p->gen + p->n_gen, t, sizeof(int32_t) * (size_t)n);
    p->n_gen += n;
    return GC_OK;
}

gc_status full_sample(gc_model *m, const pl_stage *ps, const full_samples *s, int total,
                      int32_t eos, int vocab_tok, const gc_qfilter *filter, rp_stage *st,
                      full_sampled *p) {
    int B = (int)ps->micro_batch, max_new = (int)ps->max_new;
    char dir[RP_PATH];
    if (st && rp_ckpt_latest(st, dir) >= 0) GC_TRY(load_progress(dir, p, total));
    if (p->done % B && p->done != total)
        return gc_fail(GC_ERR_FORMAT,
                       "%s: a checkpoint after %d solutions, not a whole batch of %d", dir, p->done,
                       B);
    gc_sampler smp;
    GC_TRY(gc_sampler_init(&smp, m->cfg.vocab_size, (float)ps->temperature, (float)ps->top_p,
                           (uint64_t)ps->seed));
    uint8_t *allowed = NULL; /* ids the tokenizer cannot decode are never drawn */
    gc_status r = GC_OK;
    if (vocab_tok < m->cfg.vocab_size) {
        if (!(allowed = gc_calloc((size_t)m->cfg.vocab_size, 1))) r = GC_ERR_NOMEM;
        for (int i = 0; allowed && i < vocab_tok; i++)
            allowed[i] = 1;
        smp.allowed = allowed;
    }
    int maxp = 0;
    for (int q = 0; q < s->n_q; q++)
        maxp = s->plen[q] > maxp ? s->plen[q] : maxp;
    int T = maxp + max_new < m->cfg.seq_len ? maxp + max_new : m->cfg.seq_len;
    int32_t *seq = gc_malloc(sizeof(int32_t) * (size_t)B * T);
    const int32_t **pp = gc_malloc(sizeof(int32_t *) * B);
    int *plen = gc_malloc(sizeof(int) * B), *len = gc_malloc(sizeof(int) * B);
    gc_rng *rngs = gc_malloc(sizeof(gc_rng) * B);
    if (r == GC_OK && !(seq && pp && plen && len && rngs)) r = GC_ERR_NOMEM;
    gc_qwatch w = {0};
    if (r == GC_OK && filter) r = gc_qwatch_init(&w, filter, B, T);
    limit lim = {plen, 0, max_new, filter ? &w : NULL};
    gc_gen_monitor mon = {limit_step, &lim};
    gc_progress prog;
    gc_progress_init(&prog, st ? st->name : "sample", total);
    for (int start = p->done; r == GC_OK && start < total; start += B) {
        int nb = total - start < B ? total - start : B;
        for (int b = 0; b < nb; b++) {
            int q = (start + b) / s->M;
            pp[b] = s->prompt + s->poff[q], plen[b] = s->plen[q];
            gc_rng_init(&rngs[b], (uint64_t)ps->seed,
                        gc_rng_stream(GC_STREAM_SAMPLE, (uint64_t)(start + b)));
        }
        lim.B = nb;
        if (filter) gc_qwatch_batch(&w, nb, plen);
        r = gc_generate_batch(m, &smp, rngs, nb, pp, plen, T, eos, seq, len, NULL, &mon);
        for (int b = 0; r == GC_OK && b < nb; b++) {
            p->glen[start + b] = len[b] - plen[b];
            if (filter && p->cut) p->cut[start + b] = w.cut[b];
            r = push_tokens(p, seq + (size_t)b * T + plen[b], len[b] - plen[b]);
        }
        if (r != GC_OK) break;
        p->done = start + nb;
        gc_progress_update(&prog, p->done);
        if (st && rp_ckpt_due(st, p->done == total))
            r = rp_ckpt_write(st, p->done, save_progress, p);
    }
    gc_progress_end(&prog);
    gc_sampler_free(&smp);
    if (filter) gc_qwatch_free(&w);
    free(allowed), free(seq), free(pp), free(plen), free(len), free(rngs);
    return r;
}

/* ---- grading ---- */

/* The classes of question q's M answers (texts; NULL: none found) against the reference. */
static void classify(char *const *ans, int M, const char *ref, int *cls, int *reps) {
    int n_reps = 0; /* reps (M): the first solution of each class after the reference's */
    for (int i = 0; i < M; i++) {
        cls[i] = -1;
        if (!ans[i]) continue;
        if (gc_ma_equal(ans[i], ref)) {
            cls[i] = 0;
            continue;
        }
        for (int r = 0; r < n_reps && cls[i] < 0; r++)
            if (gc_ma_equal(ans[i], ans[reps[r]])) cls[i] = r + 1;
        if (cls[i] < 0) cls[i] = n_reps + 1, reps[n_reps++] = i;
    }
}

/* decodes every solution, grades it, writes samples.jsonl */
static gc_status grade(rp_stage *st, const full_job *j, const full_questions *qs, const gc_hfseq *c,
                       int32_t eos, int64_t *n_correct) {
    full_samples *s = j->samples;
    int M = s->M;
    char **text = gc_calloc((size_t)M, sizeof(char *)),
         **ans = gc_calloc((size_t)M, sizeof(char *));
    int *reps = gc_malloc(sizeof(int) * (size_t)M);
    char path[RP_PATH];
    rp_stage_file(st, "samples.jsonl", path);
    gc_atomic_file af = {0};
    gc_status r = text && ans && reps ? gc_atomic_open(&af, path) : GC_ERR_NOMEM;
    *n_correct = 0;
    for (int q = 0; r == GC_OK && q < s->n_q; q++) {
        for (int i = 0; r == GC_OK && i < M; i++) {
            int k = q * M + i, n = s->glen[k];
            const int32_t *g = s->gen + s->goff[k];
            if (n > 0 && g[n - 1] == eos) n--;
            r = gc_hf_tok_decode(c->tok, g, n, 1, &text[i]);
            char buf[1024];
            if (r == GC_OK && gc_ma_extract(text[i], buf, sizeof buf) != GC_MA_NONE)
                ans[i] = strdup(buf);
        }
        if (r != GC_OK) break;
        classify(ans, M, qs->answer[q], s->cls + (size_t)q * M, reps);
        for (int i = 0; r == GC_OK && i < M; i++) {
            int k = q * M + i;
            *n_correct += s->cls[k] == 0;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "question", qs->question[q]);
            cJSON_AddStringToObject(o, "generation", text[i]);
            cJSON_AddStringToObject(o, "expected_answer", qs->answer[q]);
            if (ans[i])
                cJSON_AddStringToObject(o, "predicted_answer", ans[i]);
            else
                cJSON_AddNullToObject(o, "predicted_answer");
            cJSON_AddBoolToObject(o, "is_correct", s->cls[k] == 0);
            cJSON_AddStringToObject(o, "dataset", s->group_name[s->qgroup[q]]);
            cJSON_AddNumberToObject(o, "question_index", q);
            cJSON_AddNumberToObject(o, "sample", i);
            cJSON_AddNumberToObject(o, "answer_class", s->cls[k]);
            char *line = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            r = line ? gc_atomic_write(&af, line, strlen(line)) : GC_ERR_NOMEM;
            if (r == GC_OK) r = gc_atomic_write(&af, "\n", 1);
            free(line);
        }
        for (int i = 0; i < M; i++)
            free(text[i]), free(ans[i]), text[i] = ans[i] = NULL;
    }
    if (r == GC_OK)
        r = gc_atomic_commit(&af);
    else
        gc_atomic_abort(&af);
    free(text), free(ans), free(reps);
    return r;
}

/* ---- the stage ---- */

/* the prompts of every question, tokenized: s->plen, s->prompt, s->poff */
gc_status full_encode_prompts(const gc_hfseq *c, const pl_model *pm, const full_questions *qs,
                              full_samples *s) {
    s->plen = gc_malloc(sizeof(int) * (size_t)(s->n_q ? s->n_q : 1));
    if (!s->plen) return GC_ERR_NOMEM;
    int64_t n = 0, cap = 0;
    gc_status r = GC_OK;
    for (int q = 0; r == GC_OK && q < s->n_q; q++) {
        char *prompt = gc_hfseq_prompt(pm->prompt, qs->question[q]);
        int32_t *ids = NULL;
        int k = 0;
        r = prompt ? gc_hfseq_prompt_ids(c, prompt, &ids, &k) : GC_ERR_NOMEM;
        if (r == GC_OK && n + k > cap) {
            cap = (n + k) * 2;
            int32_t *t = realloc(s->prompt, sizeof(int32_t) * (size_t)cap);
            if (t)
                s->prompt = t;
            else
                r = GC_ERR_NOMEM;
        }
        if (r == GC_OK) memcpy(s->prompt + n, ids, sizeof(int32_t) * (size_t)k);
        s->plen[q] = k, n += k;
        free(prompt), free(ids);
    }
    if (r == GC_OK && !(s->poff = offsets(s->plen, s->n_q))) r = GC_ERR_NOMEM;
    return r;
}

static gc_status compute_generate(rp_stage *st, void *ctx) {
    const full_job *j = ctx;
    full_samples *s = j->samples;
    full_questions qs;
    gc_hfseq c = {0};
    gc_model m;
    int have_model = 0;
    gc_status r = full_load_questions(j->questions, &qs, s);
    if (r == GC_OK && s->n_q == 0)
        r = gc_fail(GC_ERR_FORMAT, "data '%s': no questions", j->questions->name);
    if (r == GC_OK && (int64_t)s->n_q * s->M > (1 << 30))
        r = gc_fail(GC_ERR_CONFIG,
                    "stage '%s': %d questions x %d samples: more than 2^30 solutions", st->name,
                    s->n_q, s->M);
    if (r == GC_OK) r = gc_hfseq_open(j->model->path, &c);
    int total = r == GC_OK ? s->n_q * s->M : 0;
    if (r == GC_OK) r = full_encode_prompts(&c, j->model, &qs, s);
    if (r == GC_OK) {
        s->glen = gc_calloc((size_t)(total ? total : 1), sizeof(int));
        s->cls = gc_calloc((size_t)(total ? total : 1), sizeof(int));
        if (!s->glen || !s->cls) r = GC_ERR_NOMEM;
    }
    int maxp = 0;
    for (int q = 0; r == GC_OK && q < s->n_q; q++)
        maxp = s->plen[q] > maxp ? s->plen[q] : maxp;
    if (r == GC_OK)
        r = gc_hf_load(j->weights ? j->weights : j->model->path,
                       maxp + (int)j->p->stages[j->stage].max_new, &m);
    have_model = r == GC_OK;
    if (r == GC_OK && m.cfg.seq_len < maxp + 1)
        r = gc_fail(GC_ERR_CONFIG, "%s: a prompt of %d tokens leaves no room in the model's %d",
                    j->model->path, maxp, m.cfg.seq_len);
    gc_log_info("%s: %d solutions for each of %d questions", st->name, s->M, s->n_q);
    full_sampled got = {s->glen, NULL, NULL, 0, 0, 0};
    if (r == GC_OK)
        r = full_sample(&m, &j->p->stages[j->stage], s, total, c.eos, gc_hf_tok_vocab_size(c.tok),
                        NULL, st, &got);
    s->gen = got.gen;
    if (have_model) gc_model_free(&m);
    if (r == GC_OK && !(s->goff = offsets(s->glen, total))) r = GC_ERR_NOMEM;
    int64_t correct = 0, gen = 0;
    if (r == GC_OK) r = grade(st, j, &qs, &c, c.eos, &correct);
    for (int k = 0; k < total && r == GC_OK; k++)
        gen += s->glen[k];
    if (r == GC_OK) {
        char path[RP_PATH];
        rp_stage_file(st, "samples.bin", path);
        full_array a[5] = {{'i', s->n_q, s->plen},
                           {'i', s->poff[s->n_q - 1] + s->plen[s->n_q - 1], s->prompt},
                           {'i', total, s->glen},
                           {'i', gen, s->gen},
                           {'i', total, s->cls}};
        r = full_arrays_write(path, a, 5);
    }
    if (r == GC_OK) {
        st->info = cJSON_CreateObject();
        cJSON_AddNumberToObject(st->info, "questions", s->n_q);
        cJSON_AddNumberToObject(st->info, "solutions", total);
        cJSON_AddNumberToObject(st->info, "generated_tokens", (double)gen);
        cJSON_AddNumberToObject(st->info, "correct", (double)correct);
        gc_log_info("%s: %lld of %d solutions correct, %lld tokens", st->name, (long long)correct,
                    total, (long long)gen);
    }
    gc_hfseq_close(&c);
    full_questions_free(&qs);
    return r;
}

static gc_status load_generate(const rp_stage *st, void *ctx) {
    const full_job *j = ctx;
    full_samples *s = j->samples;
    int M = s->M; /* read over what a computation left */
    full_samples_free(s);
    s->M = M;
    full_questions qs;
    gc_status r = full_load_questions(j->questions, &qs, s); /* the groups */
    full_questions_free(&qs);
    GC_TRY(r);
    char path[RP_PATH];
    rp_stage_file(st, "samples.bin", path);
    full_array a[5] = {
        {'i', 0, NULL}, {'i', 0, NULL}, {'i', 0, NULL}, {'i', 0, NULL}, {'i', 0, NULL}};
    GC_TRY(full_arrays_read(path, a, 5));
    s->plen = a[0].data, s->prompt = a[1].data, s->glen = a[2].data, s->gen = a[3].data,
    s->cls = a[4].data;
    int64_t total = (int64_t)s->n_q * s->M, np = 0, ng = 0;
    for (int64_t i = 0; a[0].n == s->n_q && i < a[0].n; i++)
        np += s->plen[i];
    for (int64_t i = 0; a[2].n == total && i < a[2].n; i++)
        ng += s->glen[i];
    if (a[0].n != s->n_q || a[2].n != total || a[4].n != total || np != a[1].n || ng != a[3].n)
        return gc_fail(GC_ERR_FORMAT,
                       "%s: not %d questions x %d solutions (delete the stage directory to "
                       "recompute)",
                       path, s->n_q, s->M);
    s->poff = offsets(s->plen, s->n_q);
    s->goff = offsets(s->glen, (int)total);
    return s->poff && s->goff ? GC_OK : GC_ERR_NOMEM;
}

const rp_stage_def FULL_GENERATE = {"full-generate", __FILE__, compute_generate, load_generate};
