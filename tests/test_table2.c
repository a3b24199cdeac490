/* table2 at smoke scale: every arm runs end to end (reference log-probabilities, DPO policies per
 * seed, PPO policies per reward model and seed, their greedy solutions and the SFT policy's), the
 * results carry every split, the average, the paired PPO difference and the training curves,
 * REPRODUCE.md's section is written from them, and a second run reuses every stage. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lib/util/jsonio.h"
#include "replicate/claims/report.h"
#include "helpers.h"

Test(table2, every_arm_smoke_end_to_end, .timeout = 400) {
    char *root = th_tmp_path("table2");
    char *out = NULL, *err = NULL;
    cr_assert_eq(th_run_smoke("experiments/table2.json", root, "--seeds 2", &out, &err), 0, "%s",
                 err);
    cr_expect(strstr(out, "DPO") != NULL, "%s", out);
    char path[1024];
    snprintf(path, sizeof path, "%s/table2/smoke/results.json", root);
    cJSON *r;
    cr_assert_eq(gc_json_read(path, &r), GC_OK, "%s", gc_last_error());
    const cJSON *splits = cJSON_GetObjectItem(r, "splits");
    cr_expect_eq(cJSON_GetArraySize(splits), 5);
    for (const cJSON *g = splits ? splits->child : NULL; g; g = g->next) {
        double sft = gc_json_num(g, "sft", -1);
        const cJSON *d = cJSON_GetObjectItem(g, "dpo");
        cr_expect(sft >= 0 && sft <= 1, "SFT accuracy %g", sft);
        cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(d, "per_seed")), 2);
        for (int a = 0; a < 2; a++) {
            const cJSON *p = cJSON_GetObjectItem(g, a ? "ppo_goal" : "ppo_baseline");
            cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(p, "per_seed")), 2);
        }
    }
    cr_expect_not_null(cJSON_GetObjectItem(r, "ppo_goal_minus_baseline"));
    const cJSON *pc = cJSON_GetObjectItem(r, "ppo_training");
    cr_expect_eq(cJSON_GetArraySize(pc), 4, "one PPO curve per reward model and seed");
    for (const cJSON *c = pc ? pc->child : NULL; c; c = c->next) {
        const cJSON *it = cJSON_GetObjectItem(c, "iterations");
        cr_expect_eq(cJSON_GetArraySize(it), 2, "the smoke file's 2 iterations");
        const cJSON *e = cJSON_GetArrayItem(it, 0);
        cr_expect(gc_json_num(e, "kl_coef", -1) > 0, "the KL coefficient is recorded");
        cr_expect(gc_json_num(e, "response_len", 0) >= 1, "responses have tokens");
        double a = gc_json_num(e, "rollout_accuracy", -1);
        cr_expect(a >= 0 && a <= 1, "the rollout's accuracy is recorded: %g", a);
        cr_expect(cJSON_IsBool(cJSON_GetObjectItem(c, "reward_hacking")), "each run is summarised");
        cr_expect(isfinite(gc_json_num(c, "reward_end", NAN)));
    }
    const cJSON *ra = cJSON_GetObjectItem(r, "rm_auroc");
    cr_expect(isfinite(gc_json_num(cJSON_GetObjectItem(ra, "baseline"), "mean", NAN)),
              "the baseline RM's AUROC, the check's precondition");
    snprintf(path, sizeof path, "%s/table2/smoke/table2-ppo.dat", root);
    FILE *f = fopen(path, "r");
    cr_expect_not_null(f, "the PPO curves' data for plots/table2-ppo.gp");
    if (f) fclose(f);
    cr_expect_not_null(cJSON_GetObjectItem(r, "average"));
    const cJSON *curves = cJSON_GetObjectItem(r, "dpo_training");
    cr_expect_eq(cJSON_GetArraySize(curves), 2, "one DPO training curve per seed");
    for (const cJSON *c = curves ? curves->child : NULL; c; c = c->next) {
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "epochs"), 0);
        double loss = gc_json_num(e, "train_loss", -1);
        cr_expect(loss > 0 && loss < 5, "DPO loss %g", loss);
    }
    cr_expect_null(cJSON_GetObjectItem(r, "not_built"), "every arm ran");
    cJSON_Delete(r);
    free(out), free(err);
    cr_assert_eq(th_run_smoke("experiments/table2.json", root, "--seeds 2", &out, &err), 0, "%s",
                 err);
    cr_expect_eq(th_count_rerun(err, ""), 0, "every stage cached on the second run:\n%s", err);
    free(out), free(err);
    /* REPRODUCE.md's table2 section, written from this run */
    char *doc = strdup("x\n<!-- results:table2:begin -->\n<!-- results:table2:end -->\ny\n");
    cr_assert_eq(report_sections(root, "smoke", &doc), GC_OK, "%s", gc_last_error());
    cr_expect(strstr(doc, "| average |") && strstr(doc, "PPO, goal-conditioned RM"), "%s", doc);
    cr_expect(strstr(doc, "**Verdict: INCONCLUSIVE**"), "smoke RMs do not verify: %s", doc);
    cr_expect(strstr(doc, "<!-- results:table2:end -->\ny\n") != NULL, "the rest is kept");
    free(doc);
    th_rm_tree(root);
    free(root);
}
