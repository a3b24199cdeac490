/* Reward-model head files: the bytes as the head beside a valid trunk checkpoint (written once,
 * a tiny model) through gc_rm_load; as a reward model's training state (critic.hstate) beside a
 * valid trunk through gc_rm_load_train; and as a PPO trainer state (ppo.state) through
 * gc_ppo_load. */
#include "fuzz.h"

#include <sys/stat.h>

#include "lib/model/ckpt.h"
#include "lib/policy/ppo_trainer.h"
#include "lib/rm/rm.h"

static const gc_model_config TINY = {.dim = 16,
                                     .hidden_dim = 32,
                                     .n_layers = 1,
                                     .n_heads = 2,
                                     .n_kv_heads = 2,
                                     .vocab_size = 8,
                                     .seq_len = 16,
                                     .norm_eps = 1e-5f,
                                     .rope_theta = 10000.0f};
static char dir[256], trunk[300], head[300], state[300], hstate[300];
static gc_model actor, ref;
static gc_rm critic;
static gc_ppo ppo;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    snprintf(dir, sizeof dir, "/tmp/gcrm-fuzz-%ld-head", (long)getpid());
    mkdir(dir, 0755);
    snprintf(trunk, sizeof trunk, "%s/critic.ckpt", dir);
    snprintf(head, sizeof head, "%s/rm.head", dir);
    snprintf(state, sizeof state, "%s/ppo.state", dir);
    snprintf(hstate, sizeof hstate, "%s/critic.hstate", dir);
    gc_model t;
    if (gc_model_init(&actor, &TINY) || gc_model_init(&ref, &TINY) || gc_model_init(&t, &TINY))
        abort();
    gc_model_init_random(&actor, 1), gc_model_init_random(&ref, 1), gc_model_init_random(&t, 2);
    if (gc_rm_init(&critic, &t, GC_HEAD_LINEAR, 3)) abort();
    gc_ppo_config c = {.minibatch = 2, .epochs = 1, .max_len = 8, .eos = 2};
    if (gc_ppo_init(&ppo, &actor, &ref, &critic, &c) || gc_ppo_save(&ppo, dir)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write(head, data, size);
    gc_rm rm;
    if (gc_rm_load(&rm, trunk, head) == GC_OK) gc_rm_free(&rm);
    fuzz_write(hstate, data, size);
    (void)gc_rm_load_train(&critic, dir, "critic");
    fuzz_write(state, data, size);
    (void)gc_ppo_load(&ppo, dir);
    return 0;
}
