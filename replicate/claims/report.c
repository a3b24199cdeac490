/* report: the measured tables of REPRODUCE.md, written from the runs' results.json files.
 *
 * For each experiment with a results.json at the scale, the text between the markers
 * <!-- results:<experiment>:begin --> and <!-- results:<experiment>:end --> is replaced by its
 * tables; markers without results are left alone. Every number in those sections comes from the
 * results files, so the document cannot drift from the runs.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/jsonio.h"
#include "report.h"
#include "replicate/claims/verdict.h"
#include "replicate/runner/results.h"
#include "replicate/claims/schema.h"

/* growing text buffer */
typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap ? 2 * b->cap : 4096) + (size_t)k;
        char *s = realloc(b->s, cap);
        if (!s) return;
        b->s = s, b->cap = cap;
    }
}

/* commit, config, seeds, wall time, stages computed in that run */
static void provenance(sbuf *b, const cJSON *r) {
    int run = 0, cached = 0;
    for (const cJSON *s = gc_json_get(r, RS_STAGES) ? gc_json_get(r, RS_STAGES)->child : NULL; s;
         s = s->next)
        cJSON_IsTrue(gc_json_get(s, RS_CACHED)) ? cached++ : run++;
    put(b,
        "\nRun of commit %s (config hash %s, %s scale, %d seeds, %s, %.0f threads): %.0f s of wall "
        "time, %d stages computed, %d reused from the cache.\n\n",
        cJSON_GetStringValue(gc_json_get(r, RS_COMMIT)),
        cJSON_GetStringValue(gc_json_get(r, RS_CONFIG_HASH)),
        cJSON_GetStringValue(gc_json_get(r, RS_SCALE)),
        cJSON_GetArraySize(gc_json_get(r, RS_SEEDS)),
        cJSON_GetStringValue(gc_json_get(r, RS_DEVICE)), gc_json_num(r, RS_THREADS, NAN),
        gc_json_num(r, RS_WALL_S, NAN), run, cached);
}

static void ci(sbuf *b, const cJSON *o) {
    put(b, "%.3f [%.3f, %.3f]", gc_json_num(o, RS_MEAN, NAN), gc_json_num(o, RS_LO, NAN),
        gc_json_num(o, RS_HI, NAN));
}

static void fig2(sbuf *b, const cJSON *r) {
    provenance(b, r);
    put(b,
        "| split | n | policy accuracy | AUROC baseline | AUROC goal-conditioned | difference | "
        "seeds > 0 | DeLong p | policy log-prob AUROC |\n|---|---|---|---|---|---|---|---|---|\n");
    const cJSON *groups[16];
    int ng = 0;
    for (const cJSON *g = gc_json_get(r, RS_SPLITS) ? gc_json_get(r, RS_SPLITS)->child : NULL;
         g && ng < 15; g = g->next)
        groups[ng++] = g;
    if (gc_json_get(r, RS_POOLED)) groups[ng++] = gc_json_get(r, RS_POOLED);
    for (int i = 0; i < ng; i++) {
        const cJSON *g = groups[i], *d = gc_json_get(g, RS_DELTA),
                    *lp = gc_json_get(g, RS_POLICY_LOGPROB);
        put(b, "| %s | %.0f | %.1f%% | ", cJSON_GetStringValue(gc_json_get(g, RS_SPLIT)),
            gc_json_num(g, RS_N, NAN), 100 * gc_json_num(g, RS_POLICY_ACCURACY, NAN));
        if (!d) {
            put(b, "- | - | - | - | - | %s |\n", cJSON_GetStringValue(gc_json_get(g, RS_ERROR)));
            continue;
        }
        ci(b, gc_json_get(g, RS_BASELINE));
        put(b, " | ");
        ci(b, gc_json_get(g, RS_GOAL));
        put(b, " | %+.3f [%+.3f, %+.3f] | %.0f/%.0f | %.3g | %.3f [%.3f, %.3f] |\n",
            gc_json_num(d, RS_MEAN, NAN), gc_json_num(d, RS_LO, NAN), gc_json_num(d, RS_HI, NAN),
            gc_json_num(d, RS_SEEDS_POSITIVE, NAN), gc_json_num(d, RS_SEEDS, NAN),
            gc_json_num(gc_json_get(g, RS_DELONG), RS_P, NAN), gc_json_num(lp, RS_AUROC, NAN),
            gc_json_num(lp, RS_LO, NAN), gc_json_num(lp, RS_HI, NAN));
    }
}

/* fig3 and the ablations: AUROC against p per curve, trends, and the Q-reward correlation */
static void partial(sbuf *b, const cJSON *r, int ablations) {
    provenance(b, r);
    const cJSON *pr = gc_json_get(r, RS_PARTIAL), *pts = gc_json_get(pr, RS_P),
                *curves = gc_json_get(pr, RS_CURVES);
    int P = cJSON_GetArraySize(pts);
    put(b, "%.0f solutions (%.0f correct) of", gc_json_num(pr, RS_N, NAN),
        gc_json_num(pr, RS_N_CORRECT, NAN));
    if (cJSON_IsArray(gc_json_get(pr, RS_SPLITS)))
        for (const cJSON *s = gc_json_get(pr, RS_SPLITS)->child; s; s = s->next)
            put(b, " %s%s", s->valuestring, s->next ? "," : "");
    else
        put(b, " every split");
    put(b, ablations
               ? ". AUROC at p = 1 (the final reward, and the final Q-value), mean over seeds "
                 "with a t-based 95%% CI:\n\n"
               : ". AUROC of the seed-averaged standardised scores with its bootstrap 95%% CI "
                 "over questions:\n\n");
    if (!ablations) {
        put(b, "| p |");
        for (const cJSON *c = curves->child; c; c = c->next)
            put(b, " %s, %s |", cJSON_GetStringValue(gc_json_get(c, RS_VARIANT)),
                strcmp(cJSON_GetStringValue(gc_json_get(c, RS_SCORE)), "q") ? "reward" : "Q-value");
        put(b, "\n|---|");
        for (const cJSON *c = curves->child; c; c = c->next)
            put(b, "---|");
        put(b, "\n");
        for (int i = 0; i < P; i++) {
            put(b, "| %.1f |", gc_json_at(pts, i));
            for (const cJSON *c = curves->child; c; c = c->next)
                put(b, " %.3f [%.3f, %.3f] |", gc_json_at(gc_json_get(c, RS_BOOT_AUROC), i),
                    gc_json_at(gc_json_get(c, RS_BOOT_LO), i),
                    gc_json_at(gc_json_get(c, RS_BOOT_HI), i));
            put(b, "\n");
        }
        put(b, "| Spearman(p, seed-mean AUROC) |");
        for (const cJSON *c = curves->child; c; c = c->next)
            put(b, " %+.3f |", gc_json_num(c, RS_SPEARMAN, NAN));
        put(b, "\n| seeds with AUROC(1) > AUROC(0.1) |");
        for (const cJSON *c = curves->child; c; c = c->next)
            put(b, " %.0f/%.0f |", gc_json_num(c, RS_SEEDS_RISING, NAN),
                gc_json_num(c, RS_SEEDS, NAN));
        put(b, "\n");
    } else {
        put(b, "| variant | AUROC of the final reward (p = 1), seeds [CI] | AUROC of the final "
               "Q-value | Spearman of the reward curve |\n|---|---|---|---|\n");
        int n = cJSON_GetArraySize(curves) / 2;
        for (int k = 0; k < n; k++) {
            const cJSON *cr = cJSON_GetArrayItem(curves, k),
                        *cq = cJSON_GetArrayItem(curves, n + k);
            put(b, "| %s | %.3f [%.3f, %.3f] | %.3f [%.3f, %.3f] | %+.3f |\n",
                cJSON_GetStringValue(gc_json_get(cr, RS_VARIANT)),
                gc_json_at(gc_json_get(cr, RS_MEAN), P - 1),
                gc_json_at(gc_json_get(cr, RS_LO), P - 1),
                gc_json_at(gc_json_get(cr, RS_HI), P - 1),
                gc_json_at(gc_json_get(cq, RS_MEAN), P - 1),
                gc_json_at(gc_json_get(cq, RS_LO), P - 1),
                gc_json_at(gc_json_get(cq, RS_HI), P - 1), gc_json_num(cr, RS_SPEARMAN, NAN));
        }
    }
    put(b, "\nCorrelation (Pearson, mean over seeds) of Q-values with rewards at generation "
           "percentiles:\n\n| variant | p = 0.2 | p = 0.4 | p = 0.6 | p = 0.8 "
           "|\n|---|---|---|---|---|\n");
    for (const cJSON *c = gc_json_get(pr, RS_Q_REWARD_CORRELATION)->child; c; c = c->next) {
        put(b, "| %s |", cJSON_GetStringValue(gc_json_get(c, RS_VARIANT)));
        for (int q = 2; q <= 8; q += 2)
            put(b, " %+.2f |", gc_json_at(gc_json_get(c, RS_R), (int)lround(q / 10.0 * (P - 1))));
        put(b, "\n");
    }
}

static void vote_rows(sbuf *b, const cJSON *vr, const char *label) {
    for (const cJSON *v = gc_json_get(vr, RS_VARIANTS)->child; v; v = v->next) {
        const cJSON *bp = gc_json_get(v, RS_BOOTSTRAP_PAIRED);
        put(b, "| %s%s | ", cJSON_GetStringValue(gc_json_get(v, RS_VARIANT)), label);
        ci(b, gc_json_get(v, RS_ACCURACY));
        put(b, " | %.3f | ", gc_json_num(gc_json_get(vr, RS_UNFILTERED), RS_ACCURACY, NAN));
        ci(b, gc_json_get(v, RS_FILTERED_PCT));
        put(b, " | ");
        ci(b, gc_json_get(v, RS_SAVED_PCT));
        put(b, " | %+.3f [%+.3f, %+.3f] | %.3g | %.3g |\n", gc_json_num(bp, RS_MEAN_DIFF, NAN),
            gc_json_num(bp, RS_LO, NAN), gc_json_num(bp, RS_HI, NAN),
            gc_json_num(gc_json_get(v, RS_TTEST_PAIRED), RS_P, NAN),
            gc_json_num(gc_json_get(v, RS_TTEST_UNPAIRED), RS_P, NAN));
    }
}

static const char VOTE_HEAD[] =
    "| RM | voting accuracy, filtered [CI over seeds] | unfiltered | solutions filtered %% | "
    "tokens saved %% | correct-voter share, filtered - unfiltered [paired bootstrap CI] | paired "
    "t-test p | unpaired t-test p |\n|---|---|---|---|---|---|---|---|\n";

static void table1(sbuf *b, const cJSON *r) {
    provenance(b, r);
    const cJSON *vr = gc_json_get(r, RS_VOTE);
    put(b,
        "%.0f questions x %.0f solutions at temperature %.1f; tau = %.2f on the cosine scale, "
        "first "
        "%.0f tokens ignored, goal state from the %s token.\n\n",
        gc_json_num(vr, RS_QUESTIONS, NAN), gc_json_num(vr, RS_SAMPLES, NAN),
        gc_json_num(vr, RS_TEMPERATURE, NAN), gc_json_num(vr, RS_TAU, NAN),
        gc_json_num(vr, RS_SKIP, NAN), cJSON_GetStringValue(gc_json_get(vr, RS_GOAL_TOKEN)));
    put(b, VOTE_HEAD);
    vote_rows(b, vr, "");
    int online = 0;
    for (const cJSON *v = gc_json_get(vr, RS_VARIANTS)->child; v; v = v->next) {
        const cJSON *on = gc_json_get(v, RS_ONLINE);
        if (!on) continue;
        if (!online++)
            put(b, "\nOnline filtering (seed-1 RM decoding alongside the policy):\n\n| RM | "
                   "questions | "
                   "tokens saved | wall time saved | cuts equal to offline "
                   "|\n|---|---|---|---|---|\n");
        put(b, "| %s | %.0f | %.1f%% | %.1f%% (%.1f s vs %.1f s) | %.1f%% |\n",
            cJSON_GetStringValue(gc_json_get(v, RS_VARIANT)), gc_json_num(on, RS_QUESTIONS, NAN),
            gc_json_num(on, RS_TOKENS_SAVED_PCT, NAN), gc_json_num(on, RS_WALL_SAVED_PCT, NAN),
            gc_json_num(on, RS_WALL_S_FILTERED, NAN), gc_json_num(on, RS_WALL_S_UNFILTERED, NAN),
            100 * gc_json_num(on, RS_CUT_AGREEMENT_WITH_OFFLINE, NAN));
    }
    put(b,
        "\nThe sweep (mean over seeds): fixed thresholds on the cosine scale, then thresholds at a "
        "quantile of each RM's per-solution minimum Q-value (a share q of the solutions cut). The "
        "plot beside the results draws it:\n\n| tau |");
    for (const cJSON *v = gc_json_get(vr, RS_VARIANTS)->child; v; v = v->next)
        put(b, " %s: tokens saved %% | %s: accuracy |",
            cJSON_GetStringValue(gc_json_get(v, RS_VARIANT)),
            cJSON_GetStringValue(gc_json_get(v, RS_VARIANT)));
    put(b, "\n|---|");
    for (const cJSON *v = gc_json_get(vr, RS_VARIANTS)->child; v; v = v->next)
        put(b, "---|---|");
    put(b, "\n");
    int nt = cJSON_GetArraySize(gc_json_get(gc_json_get(vr, RS_VARIANTS)->child, RS_SWEEP));
    for (int i = 0; i < nt; i++) {
        const cJSON *p0 =
            cJSON_GetArrayItem(gc_json_get(gc_json_get(vr, RS_VARIANTS)->child, RS_SWEEP), i);
        if (gc_json_get(p0, RS_QUANTILE))
            put(b, "| %.2f-quantile of min Q |", gc_json_num(p0, RS_QUANTILE, NAN));
        else
            put(b, "| %.2f |", gc_json_num(p0, RS_TAU, NAN));
        for (const cJSON *v = gc_json_get(vr, RS_VARIANTS)->child; v; v = v->next) {
            const cJSON *e = cJSON_GetArrayItem(gc_json_get(v, RS_SWEEP), i);
            put(b, " %.1f | %.3f |", gc_json_num(e, RS_SAVED_PCT, NAN),
                gc_json_num(e, RS_ACCURACY, NAN));
        }
        put(b, "\n");
    }
}

static void goal_token(sbuf *b, const cJSON *r, const cJSON *last) {
    provenance(b, r);
    put(b,
        "Filtering with the goal-conditioned RM, goal state from a random response token, against "
        "table1's (last token)%s:\n\n",
        last ? "" : " (table1 has not been run)");
    put(b, VOTE_HEAD);
    if (last) {
        cJSON *copy = cJSON_Duplicate(gc_json_get(last, RS_VOTE), 1),
              *vars = cJSON_GetObjectItem(copy, RS_VARIANTS);
        for (cJSON *v = vars->child; v;) { /* keep the goal-conditioned row */
            cJSON *next = v->next;
            if (strcmp(cJSON_GetStringValue(gc_json_get(v, RS_VARIANT)), "goal"))
                cJSON_Delete(cJSON_DetachItemViaPointer(vars, v));
            v = next;
        }
        vote_rows(b, copy, " (last token)");
        cJSON_Delete(copy);
    }
    vote_rows(b, gc_json_get(r, RS_VOTE), " (random token)");
    /* the sweeps side by side: same points in both files when their vote sections agree */
    const cJSON *rs =
                    gc_json_get(gc_json_get(gc_json_get(r, RS_VOTE), RS_VARIANTS)->child, RS_SWEEP),
                *ls = NULL;
    for (const cJSON *v = last ? gc_json_get(gc_json_get(last, RS_VOTE), RS_VARIANTS)->child : NULL;
         v; v = v->next)
        if (!strcmp(cJSON_GetStringValue(gc_json_get(v, RS_VARIANT)), "goal"))
            ls = gc_json_get(v, RS_SWEEP);
    put(b,
        "\nThe sweep for the goal-conditioned RM (mean over seeds):\n\n| threshold | last token: "
        "tokens saved %% | last token: accuracy | random token: tokens saved %% | random token: "
        "accuracy |\n|---|---|---|---|---|\n");
    for (int i = 0; i < cJSON_GetArraySize(rs); i++) {
        const cJSON *pr = cJSON_GetArrayItem(rs, i), *pl = ls ? cJSON_GetArrayItem(ls, i) : NULL;
        if (gc_json_get(pr, RS_QUANTILE))
            put(b, "| %.2f-quantile of min Q |", gc_json_num(pr, RS_QUANTILE, NAN));
        else
            put(b, "| tau %.2f |", gc_json_num(pr, RS_TAU, NAN));
        if (pl)
            put(b, " %.1f | %.3f |", gc_json_num(pl, RS_SAVED_PCT, NAN),
                gc_json_num(pl, RS_ACCURACY, NAN));
        else
            put(b, " - | - |");
        put(b, " %.1f | %.3f |\n", gc_json_num(pr, RS_SAVED_PCT, NAN),
            gc_json_num(pr, RS_ACCURACY, NAN));
    }
}

/* table2: greedy accuracy per split of each arm, the PPO difference, DPO against PPO, the reward
 * models the PPO arms trained against */
static void table2(sbuf *b, const cJSON *r) {
    static const char *const arms[] = {RS_DPO, RS_PPO_BASELINE, RS_PPO_GOAL};
    provenance(b, r);
    put(b, "| split | SFT | DPO | PPO, baseline RM | PPO, goal-conditioned RM | PPO goal - "
           "baseline (paired bootstrap over questions) |\n|---|---|---|---|---|---|\n");
    const cJSON *rows[17];
    int n = 0;
    for (const cJSON *g = gc_json_get(r, RS_SPLITS) ? gc_json_get(r, RS_SPLITS)->child : NULL;
         g && n < 16; g = g->next)
        rows[n++] = g;
    if (gc_json_get(r, RS_AVERAGE)) rows[n++] = gc_json_get(r, RS_AVERAGE);
    for (int i = 0; i < n; i++) {
        put(b, "| %s | %.3f |", cJSON_GetStringValue(gc_json_get(rows[i], RS_SPLIT)),
            gc_json_num(rows[i], RS_SFT, NAN));
        for (int a = 0; a < 3; a++) {
            const cJSON *o = gc_json_get(rows[i], arms[a]);
            put(b, " ");
            if (o)
                ci(b, o);
            else
                put(b, "not run");
            put(b, " |");
        }
        const cJSON *pd = gc_json_get(rows[i], RS_PPO_DIFF);
        if (pd && gc_json_get(pd, RS_TEST))
            put(b, " %+.3f [%+.3f, %+.3f], p = %.3g |\n", gc_json_num(pd, RS_MEAN, NAN),
                gc_json_num(pd, RS_LO, NAN), gc_json_num(pd, RS_HI, NAN),
                gc_json_num(pd, RS_P, NAN));
        else /* the average's difference is tested over seeds, below */
            put(b, " %s |\n", rows[i] == gc_json_get(r, RS_AVERAGE) ? "below" : "-");
    }
    const cJSON *d = gc_json_get(r, RS_PPO_DIFF);
    if (d)
        put(b,
            "\nPPO goal-conditioned - baseline, average over splits: %+.3f [%+.3f, %+.3f] (paired "
            "t-test over seeds, p = %.3g).\n",
            gc_json_num(d, RS_MEAN, NAN), gc_json_num(d, RS_LO, NAN), gc_json_num(d, RS_HI, NAN),
            gc_json_num(d, RS_P, NAN));
    const cJSON *g = gc_json_get(r, RS_DPO_VS_PPO);
    for (int k = 0; g && k < 2; k++) {
        const cJSON *o = gc_json_get(g, k ? RS_OOD : RS_ID);
        if (o)
            put(b, "DPO - PPO goal-conditioned, %s splits: %+.3f [%+.3f, %+.3f].\n",
                k ? "out-of-distribution" : "in-distribution", gc_json_num(o, RS_MEAN, NAN),
                gc_json_num(o, RS_LO, NAN), gc_json_num(o, RS_HI, NAN));
    }
    const cJSON *ra = gc_json_get(r, RS_RM_AUROC);
    if (ra) {
        put(b, "Reward models' AUROC over every evaluation solution: baseline ");
        ci(b, gc_json_get(ra, "baseline"));
        put(b, ", goal-conditioned ");
        ci(b, gc_json_get(ra, "goal"));
        put(b, ".\n");
    }
}

/* table3a: pairwise accuracy of each reward model, the difference, McNemar per seed, truncation */
static void table3a(sbuf *b, const cJSON *r) {
    provenance(b, r);
    const cJSON *acc = gc_json_get(r, RS_ACCURACY), *tk = gc_json_get(r, "tokens");
    put(b,
        "%.0f pairs, %.0f folds (split seed %.0f): every pair scored once per seed by a model "
        "trained on the other folds; context %.0f tokens (%.0f of %.0f sequences lost the start "
        "of their prompt, %.0f the end of their response; %.0f pairs touched).\n\n",
        gc_json_num(r, "pairs", NAN), gc_json_num(r, "folds", NAN),
        gc_json_num(r, "split_seed", NAN), gc_json_num(tk, "context", NAN),
        gc_json_num(tk, "sequences_prompt_cut", NAN), 2 * gc_json_num(r, "pairs", NAN),
        gc_json_num(tk, "sequences_response_cut", NAN), gc_json_num(tk, "pairs_cut", NAN));
    put(b, "| reward model | accuracy per seed | mean [95%% CI over pairs] |\n|---|---|---|\n");
    for (int v = 0; v < 2; v++) {
        const cJSON *o = gc_json_get(acc, v ? RS_GOAL : RS_BASELINE),
                    *ps = gc_json_get(o, RS_PER_SEED);
        put(b, "| %s |", v ? "goal-conditioned" : "baseline");
        for (const cJSON *e = ps ? ps->child : NULL; e; e = e->next)
            put(b, " %.4f", e->valuedouble);
        put(b, " | %.4f [%.4f, %.4f] |\n", gc_json_num(o, RS_MEAN, NAN),
            gc_json_num(o, "pairs_lo", NAN), gc_json_num(o, "pairs_hi", NAN));
    }
    const cJSON *d = gc_json_get(r, RS_DIFF);
    put(b,
        "\nGoal-conditioned - baseline: %+.4f [%+.4f, %+.4f] (paired bootstrap over pairs, p = "
        "%.3g); published +0.023.",
        gc_json_num(d, RS_MEAN, NAN), gc_json_num(d, RS_LO, NAN), gc_json_num(d, RS_HI, NAN),
        gc_json_num(d, RS_P, NAN));
    const cJSON *mc = gc_json_get(r, "mcnemar");
    if (cJSON_GetArraySize(mc))
        put(b, " Exact McNemar per seed (pairs only the goal-conditioned / only the baseline RM "
               "ranks right):");
    for (const cJSON *e = mc ? mc->child : NULL; e; e = e->next)
        put(b, " seed %.0f: %.0f / %.0f, p = %.3g%s", gc_json_num(e, "seed", NAN),
            gc_json_num(e, "goal_only", NAN), gc_json_num(e, "baseline_only", NAN),
            gc_json_num(e, RS_P, NAN), e->next ? ";" : ".");
    put(b, "\n");
}

/* table3b's published net win rate of an attribute (results/published.json's check), NAN when the
 * claims file does not give it */
static double published_of(const char *name) {
    cJSON *doc = NULL;
    double x = NAN;
    if (name && claims_load(rp_claims_file(), &doc) == GC_OK)
        for (const cJSON *c = gc_json_get(doc, "claims")->child; c; c = c->next)
            if (gc_json_str(c, "id") && !strcmp(gc_json_str(c, "id"), "table3b"))
                x = gc_json_num(gc_json_get(gc_json_get(c, "mini_check"), "published_effects"),
                                name, NAN);
    cJSON_Delete(doc);
    return x;
}

/* table3b: each judged attribute's comparison of guided decoding with the SFT baseline */
static void table3b(sbuf *b, const cJSON *r) {
    provenance(b, r);
    const cJSON *st = gc_json_get(r, "stories"), *ma = gc_json_get(r, "math"),
                *pool = gc_json_get(r, "stories_pool");
    if (st)
        put(b,
            "Stories: %.0f prompts (story openings sampled from stories260K), prototype of %.0f "
            "examples from a pool of %.0f of its own stories.",
            gc_json_num(st, "prompts", NAN), gc_json_num(st, "prototype_examples", NAN),
            gc_json_num(pool, "pool", NAN));
    if (ma)
        put(b, "%sMath: %.0f evaluation questions, prototype of %.0f correct solutions.",
            st ? " " : "", gc_json_num(ma, "prompts", NAN),
            gc_json_num(ma, "prototype_examples", NAN));
    put(b, "\n\n| attribute | setting | judge | guided | SFT | prototype | pool | wins / losses "
           "/ ties | net win rate [95%% CI over prompts] | sign test p | published |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|\n");
    const cJSON *at = gc_json_get(r, "attributes");
    for (const cJSON *o = at ? at->child : NULL; o; o = o->next) {
        const char *name = gc_json_str(o, "name");
        double published = published_of(name);
        char pool_s[32] = "-";
        if (isfinite(gc_json_num(o, "pool_mean", NAN)))
            snprintf(pool_s, sizeof pool_s, "%.3f", gc_json_num(o, "pool_mean", NAN));
        put(b,
            "| %s | %s | %s | %.3f | %.3f | %.3f | %s | %.0f / %.0f / %.0f | %+.3f [%+.3f, "
            "%+.3f] | %.3g | %+.3f |\n",
            name, gc_json_str(o, "setting"), gc_json_str(o, "judge"),
            gc_json_num(o, "guided_mean", NAN), gc_json_num(o, "sft_mean", NAN),
            gc_json_num(o, "prototype_mean", NAN), pool_s, gc_json_num(o, "wins", NAN),
            gc_json_num(o, "losses", NAN), gc_json_num(o, "ties", NAN),
            gc_json_num(o, RS_MEAN, NAN), gc_json_num(o, RS_LO, NAN), gc_json_num(o, RS_HI, NAN),
            gc_json_num(o, RS_P, NAN), published);
    }
    const cJSON *nm = gc_json_get(r, "not_measured");
    for (const cJSON *o = nm ? nm->child : NULL; o; o = o->next)
        put(b, "| %s | - | - | - | - | - | - | - | not measured: %s | - | %+.3f |\n",
            gc_json_str(o, "name"), gc_json_str(o, "why"), published_of(gc_json_str(o, "name")));
}

static const char *const EXPERIMENTS[] = {"fig2",      "fig3",   "table1",  "ablation-goal-token",
                                          "ablations", "table2", "table3a", "table3b"};
enum { N_EXPERIMENTS = sizeof EXPERIMENTS / sizeof EXPERIMENTS[0] };

/* wall time of each experiment's recorded run, in `make reproduce` order, and their sum */
static void times(sbuf *b, const char *root, const char *scale) {
    put(b, "\n| experiment | wall time of its recorded run | stages computed | stages reused | "
           "commit |\n|---|---|---|---|---|\n");
    double total = 0;
    for (int e = 0; e < N_EXPERIMENTS; e++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/%s/results.json", root, EXPERIMENTS[e], scale);
        FILE *f = fopen(path, "r");
        cJSON *r = NULL;
        if (f) fclose(f);
        if (!f || gc_json_read(path, &r) != GC_OK) {
            put(b, "| %s | not run | | | |\n", EXPERIMENTS[e]);
            continue;
        }
        int run = 0, cached = 0;
        for (const cJSON *s = gc_json_get(r, RS_STAGES) ? gc_json_get(r, RS_STAGES)->child : NULL;
             s; s = s->next)
            cJSON_IsTrue(gc_json_get(s, RS_CACHED)) ? cached++ : run++;
        total += gc_json_num(r, RS_WALL_S, NAN);
        put(b, "| %s | %.0f s | %d | %d | %s |\n", EXPERIMENTS[e], gc_json_num(r, RS_WALL_S, NAN),
            run, cached, cJSON_GetStringValue(gc_json_get(r, RS_COMMIT)));
        cJSON_Delete(r);
    }
    put(b, "| all | %.0f s (%.1f min) | | | |\n", total, total / 60);
}

/* the verdict under a claim's tables, recomputed from the results by the claims file's current
 * rules (as `check` does): the word, each reason (preconditions included), the power */
static void verdict_block(sbuf *b, const cJSON *r) {
    cJSON *v = NULL;
    const char *exp = cJSON_GetStringValue(gc_json_get(r, RS_EXPERIMENT));
    if (!exp || claims_verdict_for(rp_claims_file(), exp, r, &v) != GC_OK || !v) return;
    put(b, "\n**Verdict: %s** (%s).\n\n", cJSON_GetStringValue(gc_json_get(v, RS_VERDICT)),
        cJSON_GetStringValue(gc_json_get(v, RS_SUMMARY)));
    int power_said = 0; /* an under-powered check already states its power among the reasons */
    for (const cJSON *e = gc_json_get(v, RS_REASONS) ? gc_json_get(v, RS_REASONS)->child : NULL; e;
         e = e->next) {
        put(b, "- %s\n", e->valuestring);
        power_said |= !strncmp(e->valuestring, "power:", 6);
    }
    const cJSON *pw = gc_json_get(v, RS_POWER);
    if (pw && !power_said) {
        put(b, "- power: the check detects an effect of %.3f with 80%% power (%s)",
            gc_json_num(pw, RS_DETECTABLE, NAN), cJSON_GetStringValue(gc_json_get(pw, RS_MODEL)));
        if (isfinite(gc_json_num(pw, RS_PUBLISHED_EFFECT, NAN)))
            put(b, "; the published effect %.3f has power %.0f%%",
                gc_json_num(pw, RS_PUBLISHED_EFFECT, NAN),
                100 * gc_json_num(pw, RS_POWER_AT_PUBLISHED, NAN));
        put(b, "\n");
    }
    cJSON_Delete(v);
}

gc_status report_sections(const char *root, const char *scale, char **doc) {
    for (int e = 0; e <= N_EXPERIMENTS; e++) { /* the experiments, then the times table */
        const char *name = e < N_EXPERIMENTS ? EXPERIMENTS[e] : "times";
        char begin[96], end[96], path[1024];
        snprintf(begin, sizeof begin, "<!-- results:%s:begin -->", name);
        snprintf(end, sizeof end, "<!-- results:%s:end -->", name);
        char *bp = strstr(*doc, begin), *ep = bp ? strstr(bp, end) : NULL;
        snprintf(path, sizeof path, "%s/%s/%s/results.json", root, name, scale);
        FILE *f = e < N_EXPERIMENTS ? fopen(path, "r") : NULL;
        if (!bp || !ep || (e < N_EXPERIMENTS && !f)) {
            if (f) fclose(f);
            continue;
        }
        if (f) fclose(f);
        cJSON *r = NULL;
        if (e < N_EXPERIMENTS) GC_TRY(gc_json_read(path, &r));
        sbuf b = {0};
        put(&b, "\n");
        if (e == N_EXPERIMENTS)
            times(&b, root, scale);
        else if (!strcmp(EXPERIMENTS[e], "fig2"))
            fig2(&b, r), verdict_block(&b, r);
        else if (!strcmp(EXPERIMENTS[e], "fig3"))
            partial(&b, r, 0), verdict_block(&b, r);
        else if (!strcmp(EXPERIMENTS[e], "ablations"))
            partial(&b, r, 1);
        else if (!strcmp(EXPERIMENTS[e], "table1"))
            table1(&b, r), verdict_block(&b, r);
        else if (!strcmp(EXPERIMENTS[e], "table2"))
            table2(&b, r), verdict_block(&b, r);
        else if (!strcmp(EXPERIMENTS[e], "table3a"))
            table3a(&b, r), verdict_block(&b, r);
        else if (!strcmp(EXPERIMENTS[e], "table3b"))
            table3b(&b, r), verdict_block(&b, r);
        else {
            cJSON *last = NULL;
            snprintf(path, sizeof path, "%s/table1/%s/results.json", root, scale);
            if ((f = fopen(path, "r"))) {
                fclose(f);
                if (gc_json_read(path, &last) != GC_OK) last = NULL;
            }
            goal_token(&b, r, last);
            cJSON_Delete(last);
        }
        cJSON_Delete(r);
        if (!b.s) return GC_ERR_NOMEM;
        size_t head = (size_t)(bp - *doc) + strlen(begin);
        size_t total = head + b.n + strlen(ep) + 1;
        char *out = malloc(total);
        if (!out) {
            free(b.s);
            return GC_ERR_NOMEM;
        }
        memcpy(out, *doc, head);
        memcpy(out + head, b.s, b.n);
        strcpy(out + head + b.n, ep);
        free(b.s), free(*doc);
        *doc = out;
    }
    return GC_OK;
}
