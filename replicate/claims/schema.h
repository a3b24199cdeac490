/* schema: the keys of results.json, defined once.
 *
 * The producers (the analyses under math/, the runner's metadata), the verdict rules
 * (claims/verdict.c), `replicate check` and `replicate report` (claims/), and the plot data
 * writers read and write results through these names. A plot's .dat file opens with a header
 * line of column names built from them (<variant>_mean, ...), and the plot scripts read columns
 * by those names (gnuplot's columnheaders), never by position. A key used by one module
 * only (a stage's own files) is not listed here.
 */
#ifndef RP_SCHEMA_H
#define RP_SCHEMA_H

/* metadata: every results.json (runner/stage.c rp_metadata) */
#define RS_EXPERIMENT "experiment"
#define RS_FILE "file"
#define RS_COMMIT "commit"
#define RS_CONFIG_HASH "config_hash"
#define RS_SCALE "scale"
#define RS_SEEDS "seeds"
#define RS_DEVICE "device"
#define RS_PRECISION "precision"
#define RS_THREADS "threads"
#define RS_WALL_S "wall_s"
#define RS_STAGES "stages"
#define RS_STAGE "stage"
#define RS_HASH "hash"
#define RS_CACHED "cached"

/* fig2 (math/auroc.c): per split and pooled */
#define RS_POLICY_ACCURACY "policy_accuracy"
#define RS_SPLITS "splits"
#define RS_SPLIT "split"
#define RS_N "n"
#define RS_N_CORRECT "n_correct"
#define RS_ERROR "error"
#define RS_POLICY_LOGPROB "policy_logprob"
#define RS_AUROC "auroc"
#define RS_LO "lo"
#define RS_HI "hi"
#define RS_SD "sd" /* standard deviation over seeds */
#define RS_SE "se" /* a test statistic's standard error */
#define RS_MEAN "mean"
#define RS_DELTA "delta"
#define RS_SEEDS_POSITIVE "seeds_positive"
#define RS_DELONG "delong"
#define RS_ON "on"
#define RS_AUROC_GOAL "auroc_goal"
#define RS_AUROC_BASELINE "auroc_baseline"
#define RS_DIFF "diff"
#define RS_Z "z"
#define RS_P "p"
#define RS_POOLED "pooled"
#define RS_BASELINE "baseline"
#define RS_GOAL "goal"

/* fig3 and the ablations (math/partial.c) */
#define RS_PARTIAL "partial"
#define RS_PREFIX "prefix"
#define RS_CURVES "curves"
#define RS_VARIANT "variant"
#define RS_SCORE "score"
#define RS_PER_SEED "per_seed"
#define RS_BOOT_AUROC "boot_auroc"
#define RS_BOOT_LO "boot_lo"
#define RS_BOOT_HI "boot_hi"
#define RS_SPEARMAN "spearman"
#define RS_SEEDS_RISING "seeds_rising"
#define RS_Q_REWARD_CORRELATION "q_reward_correlation"
#define RS_R "r"

/* table1 and the goal-token ablation (math/vote.c) */
#define RS_VOTE "vote"
#define RS_QUESTIONS "questions"
#define RS_SAMPLES "samples"
#define RS_TEMPERATURE "temperature"
#define RS_TAU "tau"
#define RS_SKIP "skip"
#define RS_GOAL_TOKEN "goal_token"
#define RS_TIE_RULE "tie_rule"
#define RS_UNFILTERED "unfiltered"
#define RS_ACCURACY "accuracy"
#define RS_PROP_CORRECT "prop_correct"
#define RS_VARIANTS "variants"
#define RS_FILTERED_PCT "filtered_pct"
#define RS_SAVED_PCT "saved_pct"
#define RS_MIN_Q_AUROC "min_q_auroc"
#define RS_TTEST_UNPAIRED "ttest_unpaired"
#define RS_TTEST_PAIRED "ttest_paired"
#define RS_MEAN_DIFF "mean_diff"
#define RS_T "t"
#define RS_DF "df"
#define RS_BOOTSTRAP_PAIRED "bootstrap_paired"
#define RS_SWEEP "sweep"
#define RS_QUANTILE "quantile"
#define RS_ONLINE "online"
#define RS_WALL_S_UNFILTERED "wall_s_unfiltered"
#define RS_WALL_S_FILTERED "wall_s_filtered"
#define RS_TOKENS_UNFILTERED "tokens_unfiltered"
#define RS_TOKENS_FILTERED "tokens_filtered"
#define RS_FILTERED_ARE_PREFIXES "filtered_are_prefixes"
#define RS_CUT "cut"
#define RS_CUT_AGREEMENT_WITH_OFFLINE "cut_agreement_with_offline"
#define RS_WALL_SAVED_PCT "wall_saved_pct"
#define RS_TOKENS_SAVED_PCT "tokens_saved_pct"

/* reward-model training diagnostics (math/pipeline.c, every math experiment) */
#define RS_RM_TRAINING "rm_training"
#define RS_EPOCHS "epochs"
#define RS_EPOCH "epoch"
#define RS_TRAIN_ACCURACY "train_accuracy"
#define RS_TRAIN_LOSS "train_loss"
#define RS_HELDOUT_ACCURACY "heldout_accuracy"
#define RS_HELDOUT_LOSS "heldout_loss"
#define RS_HELDOUT_AUROC "heldout_auroc"

/* the pilots (math/pilot.c) */
#define RS_G0_MEAN "g0_mean_logprob"
#define RS_G0_MIN "g0_min_result_logprob"
#define RS_G1 "g1_baseline_rm"
#define RS_G2 "g2_baseline_rm"
#define RS_HELDOUT "heldout"

/* table2 (math/table2.c) */
#define RS_SFT "sft"
#define RS_DPO "dpo"
#define RS_AVERAGE "average"
#define RS_MARGIN "margin"
#define RS_DPO_TRAINING "dpo_training"
#define RS_NOT_BUILT "not_built"
#define RS_PPO_TRAINING "ppo_training"
#define RS_PPO_BASELINE "ppo_baseline"
#define RS_PPO_GOAL "ppo_goal"
#define RS_PPO_DIFF "ppo_goal_minus_baseline"
#define RS_RM_AUROC "rm_auroc"
#define RS_DPO_VS_PPO "dpo_minus_ppo_goal" /* per seed, averaged over ID and over OOD splits */
#define RS_ID "in_distribution"
#define RS_OOD "out_of_distribution"
#define RS_IN_DISTRIBUTION "in_distribution"
#define RS_REWARD_START "reward_start" /* a PPO run's first and last iterations (means) */
#define RS_REWARD_END "reward_end"
#define RS_ACCURACY_START "accuracy_start"
#define RS_ACCURACY_END "accuracy_end"
#define RS_KL_END "kl_end"
#define RS_REWARD_HACKING "reward_hacking" /* the score rose while the accuracy fell */
#define RS_PPO_SCORE "reward"
#define RS_PPO_KL "kl"
#define RS_PPO_KL_COEF "kl_coef"
#define RS_PPO_POLICY_LOSS "policy_loss"
#define RS_PPO_VALUE_LOSS "value_loss"
#define RS_PPO_CLIPFRAC "clipfrac"
#define RS_PPO_RESPONSE_LEN "response_len"
#define RS_PPO_ACCURACY "rollout_accuracy" /* sampled responses that solve their question */

/* the verdict (claims/verdict.c), under "verdict" */
#define RS_VERDICT "verdict"
#define RS_CLAIM "claim"
#define RS_REASONS "reasons"
#define RS_MEASURED "measured"
#define RS_MEASURED_WHAT "measured_what"
#define RS_MAX_SPLIT_DELTA "max_split_delta"
#define RS_MAX_SPLIT "max_split"
#define RS_TEST "test"
#define RS_SUMMARY "summary"
#define RS_POWER "power"
#define RS_DETECTABLE "detectable"
#define RS_PUBLISHED_EFFECT "published_effect"
#define RS_POWER_AT_PUBLISHED "power_at_published"
#define RS_MODEL "model"
#endif
