/* Stages that resume (replicate/runner/ckpt.h) at smoke scale: a run killed right after a
 * checkpoint (GCRM_KILL_AFTER_CHECKPOINTS), one stopped by SIGTERM and one killed by a real SIGKILL
 * from outside, each rerun to the end, leave every stage's files byte for byte those of an
 * uninterrupted run (but recorded wall times), and no checkpoint behind: on the policy and PPO
 * stages; and runs killed after every single checkpoint through the policy, sampling (evaluation
 * solutions, vote samples), reward-model, DPO and PPO stages. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "lib/tasks/chartok.h"
#include "replicate/math/resumable.h"
#include "replicate/runner/ckpt.h"
#include "replicate/runner/loop.h"

/* starts `replicate run` in the background, its stderr in errfile; returns its pid */
static pid_t spawn(const char *file, const char *root, const char *errfile) {
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen(errfile, "w", stderr);
        execl(th_replicate_bin(), th_replicate_bin(), "run", file, "--scale", "smoke", "--seeds",
              "1", "--root", root, "--checkpoint-every", "0.001", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* waits until a checkpoint past step `after` exists in root's cache, then sends sig */
static void signal_after_checkpoint(pid_t pid, const char *root, long after, int sig) {
    char cache[1024];
    snprintf(cache, sizeof cache, "%s/cache", root);
    long step = -1;
    for (int i = 0; i < 60000; i++) {
        if (th_checkpoints(cache, &step) && step > after) break;
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
    cr_assert_gt(step, after, "a checkpoint appeared");
    kill(pid, sig);
}

Test(resume, killed_and_stopped_runs_resume_bitwise, .timeout = 300) {
    /* one thread per run: the suite runs tests side by side, and every run here uses the same
     * thread count (bitwise results are promised per thread count) */
    setenv("OMP_NUM_THREADS", "1", 1);
    /* long enough policy and PPO stages for a signal to land inside one */
    char *f0 =
        th_experiment_with("experiments/table2.json", "scales.smoke.table2.ppo.iterations", "10");
    char *file = th_experiment_with(f0, "scales.smoke.policy.steps", "60");
    remove(f0), free(f0);
    char *a = th_tmp_path("resume-a"), *b = th_tmp_path("resume-b"), *c = th_tmp_path("resume-c");
    char *errf = th_tmp_path("resume-err"), *out = NULL, *err = NULL, cmd[4096], ca[1100], cb[1100],
         why[4400] = "";
    cr_assert_eq(th_run_smoke(file, a, "--seeds 1", &out, &err), 0, "%s", err);
    free(out), free(err);
    snprintf(ca, sizeof ca, "%s/cache", a);

    /* a checkpoint after every step: killed by itself right after its 1st checkpoint (the
     * policy's step 1), then, resumed, after its 76th (the policy's steps 2-59, the last step
     * writing none; the two reward models' steps 1-3 and DPO's steps 1-7, likewise; then the
     * first PPO stage's steps 1-5); then to the end */
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd,
                 "GCRM_KILL_AFTER_CHECKPOINTS=%d %s run %s --scale smoke --seeds 1 --root %s "
                 "--checkpoint-every 0.001",
                 k ? 76 : 1, th_replicate_bin(), file, b);
        int rc = th_run(cmd, &out, NULL, &err);
        cr_expect_neq(rc, 0, "the run was killed");
        if (k) cr_expect(strstr(err, "policy resumes from its checkpoint at step 1"), "%s", err);
        free(out), free(err);
    }
    snprintf(cb, sizeof cb, "%s/cache", b);
    long step;
    cr_expect_eq(th_checkpoints(cb, &step), 1, "one stage holds checkpoints");
    cr_assert_eq(th_run_smoke(file, b, "--seeds 1 --checkpoint-every 0.001", &out, &err), 0, "%s",
                 err);
    cr_expect(strstr(err, "ppo-baseline-seed1 resumes from its checkpoint at step 5"), "%s", err);
    free(out), free(err);
    cr_expect(th_same_stages(ca, cb, why, sizeof why), "%s", why);
    cr_expect_eq(th_checkpoints(cb, &step), 0, "no checkpoint is left behind");

    /* SIGTERM: a clean stop with a checkpoint and a message; then a real SIGKILL; then the end */
    int status;
    pid_t pid = spawn(file, c, errf);
    signal_after_checkpoint(pid, c, 4, SIGTERM);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    char *text = th_read_text(errf);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 130, "exit 130 on SIGTERM: %s", text);
    cr_expect(strstr(text, "again to resume"), "%s", text);
    free(text);
    char cc[1100];
    snprintf(cc, sizeof cc, "%s/cache", c);
    long stopped;
    cr_expect_eq(th_checkpoints(cc, &stopped), 1);
    pid = spawn(file, c, errf);
    signal_after_checkpoint(pid, c, stopped, SIGKILL);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    cr_assert_eq(th_run_smoke(file, c, "--seeds 1", &out, &err), 0, "%s", err);
    cr_expect(strstr(err, "resumes from its checkpoint"), "%s", err);
    free(out), free(err);
    cr_expect(th_same_stages(ca, cc, why, sizeof why), "%s", why);
    cr_expect_eq(th_checkpoints(cc, &step), 0);

    /* a damaged checkpoint: an error naming it and the way to start the stage over */
    char *d = th_tmp_path("resume-d");
    snprintf(cmd, sizeof cmd,
             "GCRM_KILL_AFTER_CHECKPOINTS=3 %s run %s --scale smoke --seeds 1 --root %s "
             "--checkpoint-every 0.001; f=$(ls %s/cache/policy-*.ckpt/step-*/policy.ckpt); "
             "head -c 100 $f > $f.cut && mv $f.cut $f",
             th_replicate_bin(), file, d, d);
    th_run(cmd, &out, NULL, &err);
    free(out), free(err);
    cr_expect_eq(th_run_smoke(file, d, "--seeds 1", &out, &err), 1, "%s", err);
    cr_expect(strstr(err, "policy.ckpt") && strstr(err, ".ckpt: delete it, or run with --force"),
              "%s", err);
    free(out), free(err);
    cr_assert_eq(th_run_smoke(file, d, "--seeds 1 --force", &out, &err), 0, "%s", err);
    free(out), free(err);
    th_rm_tree(d), free(d);

    th_rm_tree(a), th_rm_tree(b), th_rm_tree(c);
    remove(file), remove(errf);
    free(a), free(b), free(c), free(file), free(errf);
}

Test(resume, killed_after_every_checkpoint_every_long_stage_resumes_bitwise, .timeout = 300) {
    setenv("OMP_NUM_THREADS", "1", 1);
    /* table1 with sampled evaluation solutions (the sampling and vote-samples stages), and table2
     * (reward models, DPO, PPO) */
    char *f0 = th_experiment_with("experiments/table1.json", "scales.smoke.eval",
                                  "{\"source\": \"policy\", \"samples\": 2, "
                                  "\"temperature\": 1.0, \"max_len\": 576}");
    const char *files[2] = {f0, "experiments/table2.json"};
    const char *want[2][3] = {{"eval-solutions", "vote-samples", "rm-goal-seed1"},
                              {"dpo-seed1", "ppo-goal-seed1", "rm-baseline-seed1"}};
    for (int f = 0; f < 2; f++) {
        char *a = th_tmp_path("every-a"), *b = th_tmp_path("every-b"), *out = NULL, *err = NULL;
        char ca[1100], cb[1100], why[4400] = "", resumed[8192] = "";
        cr_assert_eq(th_run_smoke(files[f], a, "--seeds 1", &out, &err), 0, "%s", err);
        free(out), free(err);
        int runs =
            th_run_killed_after_every_checkpoint(files[f], b, "--seeds 1", resumed, sizeof resumed);
        cr_expect_gt(runs, 8, "%s: killed at each of its checkpoints", files[f]);
        for (int w = 0; w < 3; w++)
            cr_expect(strstr(resumed, want[f][w]), "%s resumed in %s: %s", want[f][w], files[f],
                      resumed);
        snprintf(ca, sizeof ca, "%s/cache", a);
        snprintf(cb, sizeof cb, "%s/cache", b);
        cr_expect(th_same_stages(ca, cb, why, sizeof why), "%s: %s", files[f], why);
        long step;
        cr_expect_eq(th_checkpoints(cb, &step), 0, "no checkpoint is left behind");
        th_rm_tree(a), th_rm_tree(b);
        free(a), free(b);
    }
    remove(f0), free(f0);
}

/* A training loop's saved state (loop.json) that is damaged, cut, of another size or holds a
 * number beyond int is an error naming the file, and leaves the loop untouched. */
Test(resume, a_malformed_loop_state_is_refused_by_name) {
    char *dir = th_tmp_path("loopstate"), path[1100];
    mkdir(dir, 0755);
    gc_rng rng;
    memset(&rng, 0, sizeof rng); /* its padding too: the states are compared with memcmp */
    gc_rng_init(&rng, 5, 6);
    int order[4] = {3, 1, 0, 2}, perm[2] = {1, 0};
    double sums[2] = {0.25, -1.5};
    cJSON *curve = cJSON_CreateArray();
    rp_loop l = {&rng, order, 4, perm, 2, sums, 2, &curve};
    cr_assert_eq(rp_loop_save(&l, dir), GC_OK, "%s", gc_last_error());
    int o2[4] = {0}, p2[2] = {0};
    double s2[2] = {0};
    gc_rng r2;
    memset(&r2, 0, sizeof r2);
    cJSON *c2 = cJSON_CreateArray();
    rp_loop back = {&r2, o2, 4, p2, 2, s2, 2, &c2};
    cr_assert_eq(rp_loop_load(&back, dir), GC_OK, "%s", gc_last_error());
    cr_expect(!memcmp(order, o2, sizeof order) && !memcmp(perm, p2, sizeof perm));
    cr_expect(!memcmp(sums, s2, sizeof sums) && !memcmp(&rng, &r2, sizeof rng), "bit for bit");
    snprintf(path, sizeof path, "%s/loop.json", dir);
    char *good = th_read_text(path);
    /* (key, text put right after the opening bracket or quote of its value) */
    static const char *const bad[][2] = {{"\"order\"", "1e300, "},
                                         {"\"perm\"", "7, "},
                                         {"\"counter\"", "zz"},
                                         {"\"sums\"", "\"1\", "},
                                         {NULL, "["}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[8192];
        const char *at = good;
        if (bad[i][0]) {
            at = strstr(good, bad[i][0]);
            cr_assert_not_null(at, "%s", bad[i][0]);
            at += strlen(bad[i][0]);
            at += strcspn(at, "[\"") + 1; /* past the value's opening bracket or quote */
        }
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, bad[i][1], at);
        cr_assert_eq(th_write_file(path, text, strlen(text)), 0);
        cr_expect_eq(rp_loop_load(&back, dir), GC_ERR_FORMAT, "case %zu: %s", i, text);
        cr_expect(strstr(gc_last_error(), "loop.json"), "case %zu: %s", i, gc_last_error());
    }
    cr_assert_eq(th_write_file(path, good, strlen(good) / 2), 0); /* cut short */
    cr_expect_eq(rp_loop_load(&back, dir), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "loop.json"), "%s", gc_last_error());
    free(good);
    cJSON_Delete(curve), cJSON_Delete(c2);
    th_rm_tree(dir), free(dir);
}

/* A sampling stage's checkpoint (samples.json) that does not fit the run is an error naming it. */
Test(resume, a_malformed_sampling_checkpoint_is_refused_by_name) {
    char *root = th_tmp_path("samplestage"), ck[1100], path[1200];
    rp_stage st;
    memset(&st, 0, sizeof st);
    snprintf(st.name, sizeof st.name, "vote-samples");
    snprintf(st.dir, sizeof st.dir, "%s/stage", root);
    st.ckpt_every = 60;
    snprintf(ck, sizeof ck, "%s.ckpt/step-64", st.dir);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", ck);
    cr_assert_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/samples.json", ck);
    gc_model_config cfg = th_tiny_config(0);
    cfg.vocab_size = GC_CHAR_VOCAB, cfg.seq_len = 32;
    gc_model m;
    cr_assert_eq(gc_model_init(&m, &cfg), GC_OK);
    const char *qs[2] = {"1+1=", "2+2="};
    char *out[4] = {0};
    gc_sample_config sc = {1.0f, 1.0f, 1, 32, 2, NULL};
    const char *bad[] = {"{\"done\": 2, \"total\": 9, \"tokens\": 4, \"text\": [\"a\", \"b\"]}",
                         "{\"done\": 2, \"total\": 4, \"tokens\": 4, \"text\": [\"a\"]}",
                         "{\"done\": 2, \"total\": 4, \"tokens\": 1e300, \"text\": [\"a\", \"b\"]}",
                         "{\"done\": 2, \"total\": 4, \"tokens\": 4, \"text\": [\"a\", 3]}",
                         "{\"done\": 2, \"total\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(th_write_file(path, bad[i], strlen(bad[i])), 0);
        cr_expect_eq(math_sample_ckpt(&st, &m, qs, 2, 2, &sc, out, NULL), GC_ERR_FORMAT, "case %zu",
                     i);
        cr_expect(strstr(gc_last_error(), "samples.json"), "case %zu: %s", i, gc_last_error());
        for (int k = 0; k < 4; k++)
            cr_expect_null(out[k], "nothing kept");
    }
    rp_ckpt_leave(&st);
    gc_model_free(&m);
    th_rm_tree(root), free(root);
}
