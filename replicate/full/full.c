/* full: the full-scale driver: the checks before any work, the stages in order, the analysis
 * (full.h). */
#include "full.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/tasks/hfseq.h"

enum { NV = FULL_N_VARIANTS };

static int has_variant(const pl_stage *st, int v) {
    for (const cJSON *e = st->variants ? st->variants->child : NULL; e; e = e->next)
        if (full_variant_of(e->valuestring) == v) return 1;
    return 0;
}

int full_stage_variants(const pl_stage *st, int *idx, const char **names) {
    int n = 0;
    for (int v = 0; v < NV; v++)
        if (has_variant(st, v)) idx[n] = v, names[n++] = FULL_VARIANTS[v].name;
    return n;
}

int full_same_tokenizer(const pl_plan *p, const char *a, const char *b) {
    int ia = pl_find_model(p, a), ib = pl_find_model(p, b);
    if (ia == ib) return 1;
    if (ia < 0 || ib < 0) return 0;
    if (!p->models[ia].present || !p->models[ib].present) return 1;
    char pa[RP_PATH + 32], pb[RP_PATH + 32];
    snprintf(pa, sizeof pa, "%s/tokenizer.json", p->models[ia].path);
    snprintf(pb, sizeof pb, "%s/tokenizer.json", p->models[ib].path);
    char *da = NULL, *db = NULL;
    size_t na = 0, nb = 0;
    int same = gc_read_file(pa, &da, &na) == GC_OK && gc_read_file(pb, &db, &nb) == GC_OK &&
               na == nb && !memcmp(da, db, na);
    free(da), free(db);
    return same;
}

int full_problems(const rp_run *r, const pl_plan *p, int which, char *msg, size_t cap) {
    size_t n = 0;
    int count = 0;
    if (cap) msg[0] = 0;
#define ADD(...)                                                                                   \
    (count++, n += (size_t)snprintf(msg + n, n < cap ? cap - n : 0, "\n  - " __VA_ARGS__))
    for (int i = 0; (which & FULL_MISSING) && i < p->n_models; i++)
        if (!p->models[i].present)
            ADD("model '%s': no config.json with safetensors weights in %s", p->models[i].name,
                p->models[i].path);
    for (int i = 0; (which & FULL_MISSING) && i < p->n_models; i++) {
        char tok[RP_PATH + 32];
        snprintf(tok, sizeof tok, "%s/tokenizer.json", p->models[i].path);
        if (p->models[i].present && access(tok, F_OK) != 0)
            ADD("model '%s': no tokenizer.json in %s", p->models[i].name, p->models[i].path);
    }
    for (int i = 0; (which & FULL_MISSING) && i < p->n_data; i++)
        if (p->data[i].n_missing)
            ADD("data '%s': %d of %d file(s) missing, the first %s", p->data[i].name,
                p->data[i].n_missing, p->data[i].n_files, p->data[i].first_missing);
    if (!strcmp(r->analysis, "steer")) return count + full_steer_problems(r, p, which, msg, cap);
    if (!(which & FULL_UNBUILT)) return count;
    int hh = !strcmp(r->pipeline, "hh"), want = hh ? PL_HH : PL_OPENMATH;
    int per_token = !hh && (!strcmp(r->analysis, "partial") || !strcmp(r->analysis, "vote"));
    int table2 = !strcmp(r->analysis, "table2");
    if (table2) count += full_table2_problems(r, p, msg, cap), n = strlen(msg);
    if (!(hh && !r->analysis[0]) &&
        !(!strcmp(r->pipeline, "math") &&
          (!r->analysis[0] || !strcmp(r->analysis, "auroc") || per_token || table2)))
        ADD("analysis '%s' of pipeline '%s': not built at full scale yet (the full scale runs "
            "fig2's auroc, fig3's partial, table1's vote, table2's, table3a's accuracy and "
            "table3b's "
            "steer)",
            r->analysis[0] ? r->analysis : "(default)", r->pipeline);
    int n_score = 0;
    for (int i = 0; i < p->n_stages; i++) {
        const pl_stage *st = &p->stages[i];
        static const char *const kinds[] = {"train", "score", "generate", "ppo", "beam"};
        if (full_table2_owns(r, st)) continue;
        if (st->kind == PL_GENERATE) {
            int d = pl_find_data(p, st->data);
            if (pl_find_model(p, st->model) < 0)
                ADD("stage '%s': model '%s': the full scale samples from a model of \"models\"",
                    st->name, st->model);
            if (d < 0)
                ADD("stage '%s': data '%s': the full scale samples for a data set of \"data\"",
                    st->name, st->data);
            for (int f = 0; d >= 0 && f < p->data[d].n_files; f++) {
                int fm = p->data[d].files[f].format;
                if (fm == PL_OPENMATH || fm == PL_HH || fm == PL_HELPSTEER) {
                    ADD("stage '%s': data '%s' has %s files: the full scale samples solutions "
                        "for math benchmark files (gsm8k, math, ...)",
                        st->name, st->data, PL_FORMAT_NAMES[fm]);
                    break;
                }
            }
            if (st->per_seed || (st->variants && cJSON_GetArraySize(st->variants) > 1))
                ADD("stage '%s': the full scale samples once (no variants, per_seed false)",
                    st->name);
            continue;
        }
        if (st->kind != PL_TRAIN && st->kind != PL_SCORE) {
            ADD("stage '%s' (kind %s): not one of the %s analysis's stages at full scale (ppo "
                "belongs to table2's, beam to table3b's steer)",
                st->name, kinds[st->kind], r->analysis[0] ? r->analysis : "default");
            continue;
        }
        if (st->kind == PL_TRAIN && st->loss != 0) {
            ADD("stage '%s': loss %s: not one of the %s analysis's stages at full scale (dpo "
                "belongs to table2's, sft to table3b's steer)",
                st->name, st->loss == 1 ? "dpo" : "sft", r->analysis[0] ? r->analysis : "default");
            continue;
        }
        static const char *const precisions[] = {"bf16", "tf32", "fp32"}; /* plan.c's order */
        const char *want_p = precisions[st->precision];
        if (st->kind == PL_TRAIN && !strcmp(r->opt.device, "cuda") &&
            strcmp(r->opt.precision, want_p))
            ADD("stage '%s' trains in %s: run with --precision %s", st->name, want_p, want_p);
        int m = pl_find_model(p, st->model), t = pl_find_stage(p, st->model);
        if (st->kind == PL_TRAIN && m < 0)
            ADD("stage '%s': model '%s': the full scale trains a model of \"models\"", st->name,
                st->model);
        if (st->kind == PL_SCORE && (t < 0 || p->stages[t].kind != PL_TRAIN))
            ADD("stage '%s': model '%s': the full scale scores with a train stage's models",
                st->name, st->model);
        int d = pl_find_data(p, st->data), g = pl_find_stage(p, st->data);
        int from_gen = st->kind == PL_SCORE && d < 0 && g >= 0 && p->stages[g].kind == PL_GENERATE;
        if (d < 0 && !from_gen)
            ADD("stage '%s': data '%s': the full scale %s a data set of \"data\"%s", st->name,
                st->data, st->kind == PL_SCORE ? "scores" : "trains on",
                st->kind == PL_SCORE ? " or a generate stage's solutions" : "");
        if (from_gen && t >= 0 && !full_same_tokenizer(p, p->stages[t].model, p->stages[g].model))
            ADD("stage '%s': the reward models of stage '%s' start from model '%s', the solutions "
                "of stage '%s' come from model '%s', and their tokenizer.json files differ: the "
                "full scale scores sampled solutions' tokens as they are, so both need one "
                "tokenizer",
                st->name, st->model, p->stages[t].model, st->data, p->stages[g].model);
        if (st->kind == PL_SCORE && per_token && !from_gen)
            ADD("stage '%s': the %s analysis reads per-token scores of sampled solutions: its "
                "data must be a generate stage",
                st->name, r->analysis);
        for (int f = 0; d >= 0 && f < p->data[d].n_files; f++)
            if (p->data[d].files[f].format != want) {
                ADD("stage '%s': data '%s' has %s files: the full scale's %s stages read %s "
                    "files",
                    st->name, st->data, PL_FORMAT_NAMES[p->data[d].files[f].format], r->pipeline,
                    PL_FORMAT_NAMES[want]);
                break;
            }
        const cJSON *vs = st->variants;
        if (!vs) ADD("stage '%s': no \"variants\" (baseline, goal)", st->name);
        for (const cJSON *e = vs ? vs->child : NULL; e; e = e->next) {
            int v = full_variant_of(e->valuestring);
            if (v < 0)
                ADD("stage '%s': variant '%s': the full scale knows baseline, goal, ordered, late, "
                    "single-goal, averaged-goal and mlp-head",
                    st->name, e->valuestring);
            if (v > 1 && hh)
                ADD("stage '%s': variant '%s': the Helpful-Harmless analysis compares baseline "
                    "and goal only",
                    st->name, e->valuestring);
            int found = 0;
            for (const cJSON *x = t >= 0 && st->kind == PL_SCORE ? p->stages[t].variants->child
                                                                 : NULL;
                 x; x = x->next)
                found |= !strcmp(x->valuestring, e->valuestring);
            if (st->kind == PL_SCORE && t >= 0 && p->stages[t].variants && !found)
                ADD("stage '%s': variant '%s' is not one stage '%s' trains", st->name,
                    e->valuestring, st->model);
        }
        if (st->kind == PL_SCORE && t >= 0 && st->per_seed != p->stages[t].per_seed)
            ADD("stage '%s': per_seed must be stage '%s''s", st->name, st->model);
        int vote = !strcmp(r->analysis, "vote");
        if (st->kind == PL_SCORE && !vote &&
            (!has_variant(st, 0) || !has_variant(st, 1) || !st->per_seed))
            ADD("stage '%s': the analysis compares the baseline and goal variants of every seed "
                "(both variants, per_seed true)",
                st->name);
        if (st->kind == PL_SCORE && vote && !st->per_seed)
            ADD("stage '%s': the vote analysis filters with every seed's reward models (per_seed "
                "true)",
                st->name);
        n_score += st->kind == PL_SCORE;
    }
    if (n_score != 1) ADD("the analysis reads one score stage; this scale has %d", n_score);
#undef ADD
    return count;
}

static gc_status run_generate(rp_run *r, const pl_plan *p, int i, full_stage_runs *sr) {
    const pl_stage *st = &p->stages[i];
    sr->inst = gc_calloc(1, sizeof(rp_stage *));
    if (!sr->inst) return GC_ERR_NOMEM;
    sr->samples.M = (int)st->samples;
    full_job job = {p,
                    i,
                    0,
                    1,
                    &p->models[pl_find_model(p, st->model)],
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    &sr->samples,
                    &p->data[pl_find_data(p, st->data)],
                    NULL,
                    NULL};
    int busy = 0; /* another process samples: wait for it (nothing else can run meanwhile) */
    GC_TRY(rp_stage_try(r, &FULL_GENERATE, st->name, full_stage_config(&job), NULL, 0, &job,
                        &sr->inst[0], &busy));
    return busy ? rp_stage_run(r, &FULL_GENERATE, st->name, full_stage_config(&job), NULL, 0, &job,
                               &sr->inst[0])
                : GC_OK;
}

static gc_status run_stage(rp_run *r, const pl_plan *p, int i, full_stage_runs *all,
                           float **rewards, const full_analysis *fa, full_qscores *qs) {
    const pl_stage *st = &p->stages[i];
    full_stage_runs *sr = &all[i];
    if (full_table2_owns(r, st)) return full_table2_stage(r, p, i, all);
    if (st->kind == PL_GENERATE) return run_generate(r, p, i, sr);
    if (!strcmp(r->analysis, "steer") && !(st->kind == PL_TRAIN && st->loss == 0))
        return full_steer_stage(r, p, i, all);
    int t = st->kind == PL_SCORE ? pl_find_stage(p, st->model) : -1;
    const pl_model *m = &p->models[pl_find_model(p, t >= 0 ? p->stages[t].model : st->model)];
    int d = pl_find_data(p, st->data), g = d < 0 ? pl_find_stage(p, st->data) : -1;
    sr->data = (full_data){m,
                           d >= 0 ? &p->data[d] : NULL,
                           (int)st->max_len,
                           st->kind == PL_TRAIN,
                           0,
                           {0},
                           g >= 0 ? &all[g].samples : NULL,
                           0};
    if (g >= 0) { /* the sampling model's EOS ends every scored solution */
        gc_hfseq c;
        GC_TRY(gc_hfseq_open(m->path, &c));
        sr->data.eos = c.eos;
        gc_hfseq_close(&c);
    }
    sr->inst = gc_calloc((size_t)NV * r->seeds, sizeof(rp_stage *));
    if (!sr->inst) return GC_ERR_NOMEM;
    const full_seqs *items = NULL;
    if (st->kind == PL_SCORE) GC_TRY(full_data_get(&sr->data, &items));
    int seeds = st->per_seed ? r->seeds : 1, deferred = 0;
    /* two passes: the first skips the instances another process is computing (several processes
     * on one cache share the instances), the second waits for them and reads them */
    for (int pass = 0; pass < (deferred ? 2 : 1); pass++)
        for (int v = 0; v < NV; v++) {
            if (!has_variant(st, v)) continue;
            for (int k = 1; k <= seeds; k++) {
                int at = v * r->seeds + k - 1;
                if (pass && sr->inst[at]) continue;
                full_job job = {p, i, v, k, m, &sr->data, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
                char name[96];
                snprintf(name, sizeof name, "%s-%s-seed%d", st->name, FULL_VARIANTS[v].name, k);
                rp_stage *in[2] = {NULL, NULL};
                int n_in = 0;
                if (t >= 0) {
                    job.rm = in[n_in++] = all[t].inst[at];
                    size_t n = (size_t)(items->n_seq ? items->n_seq : 1);
                    if (!rewards[at] && !(rewards[at] = gc_malloc(sizeof(float) * n)))
                        return GC_ERR_NOMEM;
                    job.rewards = rewards[at];
                    if (g >= 0) { /* the sampled solutions' per-token scores */
                        in[n_in++] = all[g].inst[0];
                        full_qscores *q = job.qs = &qs[at];
                        if (!q->reward) {
                            q->P = (int)fa->points, q->skip = (int)fa->skip, q->goal = fa->goal;
                            q->reward = gc_malloc(sizeof(float) * n * q->P);
                            q->q = gc_malloc(sizeof(float) * n * q->P);
                            if (!q->reward || !q->q) return GC_ERR_NOMEM;
                            GC_TRY(math_qlows_init(&q->lows, items->n_seq));
                        }
                    }
                }
                const rp_stage_def *def = st->kind == PL_TRAIN ? &FULL_TRAIN : &FULL_SCORE;
                int busy = 0;
                if (pass)
                    GC_TRY(rp_stage_run(r, def, name, full_stage_config(&job), in, n_in, &job,
                                        &sr->inst[at]));
                else
                    GC_TRY(rp_stage_try(r, def, name, full_stage_config(&job), in, n_in, &job,
                                        &sr->inst[at], &busy));
                deferred += busy;
            }
        }
    return GC_OK;
}

gc_status full_run(rp_run *r, const char *root) {
    pl_plan p;
    full_analysis fa;
    GC_TRY(full_read_analysis(r, &fa));
    GC_TRY(pl_read(r, root, &p));
    char msg[8192];
    if (full_problems(r, &p, FULL_MISSING | FULL_UNBUILT, msg, sizeof msg)) {
        gc_status s =
            gc_fail(GC_ERR_CONFIG, "%s at full scale cannot run here:%s", r->cfg.path, msg);
        pl_free(&p);
        return s;
    }
    if (strcmp(r->opt.device, "cuda"))
        gc_log_warn("full scale on the CPU: every stage runs, in fp32, at CPU speed "
                    "(`replicate plan %s` sizes it for GPUs)",
                    r->opt.file);
    full_stage_runs *all = gc_calloc((size_t)p.n_stages, sizeof(full_stage_runs));
    float **rewards = gc_calloc((size_t)NV * r->seeds, sizeof(float *));
    full_qscores *qs = gc_calloc((size_t)NV * r->seeds, sizeof(full_qscores));
    gc_status s = all && rewards && qs ? GC_OK : GC_ERR_NOMEM;
    for (int i = 0; s == GC_OK && i < p.n_stages; i++)
        s = run_stage(r, &p, i, all, rewards, &fa, qs);
    int sc = 0;
    while (sc < p.n_stages - 1 && p.stages[sc].kind != PL_SCORE)
        sc++;
    if (s == GC_OK && !strcmp(r->analysis, "steer"))
        s = full_steer_analyse(r, &p, all);
    else if (s == GC_OK && !strcmp(r->analysis, "table2"))
        s = full_table2_analyse(r, &p, all, rewards, &all[sc].data.s, &p.stages[sc]);
    else if (s == GC_OK)
        s = full_analyse(r, &p, all, rewards, qs, &fa);
    rp_print_times(r);
    for (int i = 0; all && i < p.n_stages; i++) {
        free(all[i].inst);
        full_seqs_free(&all[i].data.s);
        full_samples_free(&all[i].samples);
        for (int k = 0; k < all[i].n_policy; k++)
            full_samples_free(&all[i].policy[k]);
        free(all[i].policy);
    }
    for (int k = 0; rewards && k < NV * r->seeds; k++)
        free(rewards[k]);
    for (int k = 0; qs && k < NV * r->seeds; k++)
        free(qs[k].reward), free(qs[k].q), math_qlows_free(&qs[k].lows);
    free(all), free(rewards), free(qs);
    pl_free(&p);
    return s;
}
