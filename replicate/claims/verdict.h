/* verdict: the paper's claims file (results/published.json) and the verdict of a claim's
 * mini-scale check against a run's results.json.
 *
 * A claim object carries {id, experiment, artefact, published, mini_check {rule, parameters...,
 * text}, full_tolerance}. Rules:
 *   "auroc_delta" (goal-conditioned minus baseline AUROC): every split with both classes has a
 *     mean difference > 0 (every_split_positive, default true); the pooled DeLong test on
 *     seed-averaged rewards has difference > 0 and p < alpha (default 0.05); the pooled difference
 *     is positive in at least min_seed_fraction of seeds (default 0.8).
 *   "rises_with_p" (fig3): the curve {variant, score} of results.partial.curves has a Spearman
 *     correlation between p and the seed-mean AUROC >= min_spearman (default 0.8), and its AUROC
 *     at p = 1 exceeds its AUROC at p = 0.1 in at least min_seed_fraction of seeds (default 0.8).
 *   "filter_saves" (table1): for results.vote's variant, the tokens saved (mean over seeds) are
 *     >= min_saved_pct (default 10), and the paired t-test on the per-question share of correct
 *     voters shows no significant drop (not: mean difference < 0 with p < alpha).
 * Preconditions (the instrument must work before it judges): with "baseline_min_auroc" in the
 * check, auroc_delta and rises_with_p are INCONCLUSIVE unless the baseline RM verifies: the lower
 * end of the 95% CI over seeds of its AUROC (pooled over the splits; rises_with_p: its curve of
 * the same score at p = 1) exceeds that value. auroc_delta uses only splits with at least
 * "min_class" (when set) solutions of each class and is INCONCLUSIVE when none has. filter_saves
 * is INCONCLUSIVE unless the variant's Q-values classify samples ("min_q_auroc": the lower end of
 * the CI over seeds of the AUROC of each sample's minimum Q-value exceeds it) and, for a PASS,
 * unless its paired test could detect a drop of "max_detectable_drop" in the share of correct
 * voters with 80% power (too few tokens saved is a FAIL whatever that power).
 * Power (under "power": detectable, published_effect, power_at_published, model): the smallest
 * true effect at which the whole check passes with 80% probability, from the run's own noise
 * (auroc_delta: pooled DeLong SE, seed SD of the pooled difference, each used split's DeLong SE;
 * rises_with_p: the seed rule on the rise from p = 0.1 to 1; filter_saves: the paired test's
 * smallest detectable drop). When the check states "published_effect" and it lies below the
 * detectable effect, a failing check is INCONCLUSIVE: a FAIL it could not avoid says nothing.
 * Verdict objects are new cJSON trees the caller deletes:
 *   {claim, verdict: PASS|FAIL|INCONCLUSIVE, reasons[], measured, measured_what, test, p (NaN when
 *    the rule has no test), summary (one line for tables), and rule-specific fields}.
 */
#ifndef RP_VERDICT_H
#define RP_VERDICT_H

#include <cjson/cJSON.h>

#include "lib/util/base.h"

gc_status claims_load(const char *path, cJSON **doc);
gc_status claims_verdict(const cJSON *claim, const cJSON *results, const char *claims_path,
                         cJSON **out);
/* The verdict of the claim whose experiment is `experiment`; *out = NULL when none names it or it
 * has no mini_check. */
gc_status claims_verdict_for(const char *claims_path, const char *experiment, const cJSON *results,
                             cJSON **out);

#endif
