/* steer: table3b, guided decoding toward a goal state (PAPER.md section 5) at mini scale, in two
 * settings that each have an exact judge independent of every model used for guidance:
 *
 *   stories: the pretrained stories260K generates; a pool of its own stories, rated by the
 *     deterministic scorers of lib/tasks/story.h, gives the prototype examples (rated high on
 *     every attribute); the goal state is the mean of a Helpful-Harmless goal-conditioned reward
 *     model's pooled hidden state over them (stories260K trunk, trained on every hh-rlhf pair:
 *     stage hh-rm-goal-seed<k>-all). Judged by the same scorers on complexity and coherence.
 *   math: the SFT policy of the math pipeline generates; the prototype examples are correct
 *     solutions of training questions (the chosen side of the preference pairs, one per
 *     question); the goal state comes from the goal-conditioned math reward model of the same
 *     seed. Judged by the exact answer checker (correctness).
 *
 * In each setting and seed two arms decode the same prompts with step-wise beam search
 * (lib/policy/beam.h) from the same sampling streams: guided (the pretrained generator, scored
 * by lp_weight * its length-normalised log-probability + goal_weight * cos(pooled reward-model
 * state, goal)) and the paper's baseline, sft (the generator fine-tuned on the prototype
 * examples, guided by its own log-probability alone). Per prompt and seed the judge gives a win,
 * loss or tie; the analysis reports win, loss and tie rates, the net win rate (wins - losses) /
 * comparisons with a bootstrap CI over prompts, and an exact one-sided sign test over prompts
 * (a prompt counts for the guided arm when its seed-averaged net is positive).
 *
 * Stages (steer_stages.c): steer-stories-pool (prompts, pool, prototype), hh-tokens and
 * hh-rm-goal-seed<k>-all (replicate/hh), steer-<setting>-sft-seed<k> (the baseline's
 * generator), steer-<setting>-<guided|sft>-seed<k> (the decoded responses).
 *
 * Scale section "steer" (every key checked, unknown keys are errors):
 *   stories: hh {data {file, pairs}, model {checkpoint, tokenizer, context}, rm {...}} (the
 *            reward model; the generator is model.checkpoint), prompts, prompt_tokens,
 *            pool_prompts, pool_samples, pool_max_new, pool_temperature, pool_top_p, prototype,
 *            seed, sft {...}, beam {...}
 *   math:    splits (evaluation splits), questions (per split), prototype, sft {...}, beam {...}
 *   sft:     steps, batch, lr, lr_min, warmup, clip
 *   beam:    beam, samples, step_tokens, max_steps, max_new, temperature, top_p, lp_weight,
 *            goal_weight
 */
#ifndef RP_MATH_STEER_H
#define RP_MATH_STEER_H

#include <stdint.h>

#include "lib/model/tokenizer.h"
#include "pipeline.h"
#include "replicate/hh/hh.h"

typedef struct {
    int64_t beam, samples, step_tokens, max_steps, max_new;
    double temperature, top_p, lp_weight, goal_weight;
} steer_beam_cfg;

typedef struct {
    int64_t steps, batch, warmup;
    double lr, lr_min, clip;
} steer_sft_cfg;

typedef struct {
    const cJSON *hh;
    int64_t prompts, prompt_tokens, pool_prompts, pool_samples, pool_max_new, prototype, seed;
    double pool_temperature, pool_top_p;
    const cJSON *sft, *beam;
} steer_stories_cfg;

typedef struct {
    const cJSON *splits;
    int64_t questions, prototype;
    const cJSON *sft, *beam;
} steer_math_cfg;

/* The sft and beam sections' fields (steer.c), read from the experiment file and hashed into the
 * stages' keys. */
extern const gc_cfg_field steer_sft_fields[], steer_beam_fields[];
extern const int steer_sft_n_fields, steer_beam_n_fields;

enum { STEER_STORIES, STEER_MATH, STEER_SETTINGS };
enum { STEER_GUIDED, STEER_SFT, STEER_ARMS };

/* One setting: its generator, prompts and prototype, and each arm's responses. */
typedef struct {
    const char *name; /* "stories" | "math" */
    steer_sft_cfg sft;
    steer_beam_cfg beam;
    char generator[RP_PATH]; /* the pretrained generator's checkpoint (any format) */
    const gc_tokenizer *tok; /* stories: the generator's tokenizer; math: NULL (characters) */
    int32_t step_end, eos;   /* beam.h: a step's end token (-1: none), a response's end */
    int max_len;             /* prompt + response tokens at most */
    int n;                   /* prompts */
    int32_t **prompt;        /* (n) each prompt's tokens, BOS first */
    int *plen;               /* (n) */
    int np;                  /* prototype examples */
    int32_t **proto;         /* (np) prompt + response tokens */
    int *proto_plen, *proto_len;
    rp_stage *data;          /* the stage its prompts and prototype come from (an input) */
    rp_stage *gen_stage;     /* the stage that made the generator (math: policy), or NULL */
    cJSON *key;              /* what chose its prompts and prototype: hashed into its stages */
    rp_stage **rm;           /* (seeds) the reward model guiding seed k at rm[k - 1] */
    char **text[STEER_ARMS]; /* (seeds * n) arm a's response to prompt p under seed k at
                                text[a][(k - 1) * n + p] */
    size_t n_text;           /* seeds * n */
} steer_setting;

/* The stories' pool stage (steer_stages.c): fills set's prompts and prototype from pool.json;
 * info: the pool's and the prototype's mean scores. */
gc_status steer_stories_pool(math_ctx *m, const steer_stories_cfg *c, steer_setting *set,
                             cJSON **pool_info);
/* The SFT stage and the two arms' decoding stages of seed k for a setting whose prompts,
 * prototype and reward models are set: fills set->text[*][(k - 1) * n ...]. */
gc_status steer_decode_seed(math_ctx *m, steer_setting *set, int seed);
/* A response's text from its tokens (n): characters, or the setting's tokenizer's pieces after
 * prev (the last prompt token); the end token dropped. malloc'd. */
char *steer_text(const steer_setting *set, int32_t prev, const int32_t *tok, int n);

/* One attribute's comparison of the two arms (the full scale's LLM judge reads them too): cmp
 * (S * n) the guided arm's outcome against the baseline's for seed k and prompt p at [k * n + p]
 * (+1 a win, -1 a loss, 0 a tie); the win, loss and tie rates, the net win rate with a bootstrap
 * CI over prompts and the exact one-sided sign test over prompts of the seed-averaged net.
 * NULL when out of memory. */
cJSON *steer_net_win(const char *name, const char *setting, const char *judge, int n, int S,
                     const int *cmp);
/* The results' plot data (the net win rate per attribute) and table (rp_finish's hooks). */
gc_status steer_write_dat(const char *path, const cJSON *results, const void *ctx);
void steer_print(const cJSON *r, FILE *f);

#endif
