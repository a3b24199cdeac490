#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;   /* a stop was asked for */
static volatile sig_atomic_t g_active; /* a checkpointing stage is computing */
static int g_written;                  /* checkpoints this process wrote */

static void on_signal(int sig) {
    if (g_active && !g_stop) {
        g_stop = 1;
        static const char msg[] = "\nreplicate: stopping at the next step with a checkpoint "
                                  "(again to quit at once)\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        return;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void rp_ckpt_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void ckpt_root(const rp_stage *st, char out[RP_PATH]) {
    snprintf(out, RP_PATH, "%s.ckpt", st->dir);
}

/* the steps of the complete checkpoints (step-<n>), the largest in *latest; -1 when none */
static gc_status scan(const char *root, int64_t *latest) {
    *latest = -1;
    DIR *d = opendir(root);
    if (!d) return errno == ENOENT ? GC_OK : gc_fail(GC_ERR_IO, "%s: %s", root, strerror(errno));
    for (struct dirent *e; (e = readdir(d));) {
        long long k;
        char tail;
        if (sscanf(e->d_name, "step-%lld%c", &k, &tail) == 1 && k > *latest) *latest = k;
    }
    closedir(d);
    return GC_OK;
}

int64_t rp_ckpt_latest(rp_stage *st, char dir[RP_PATH]) {
    char root[RP_PATH];
    ckpt_root(st, root);
    int64_t k = -1;
    if (scan(root, &k) != GC_OK) k = -1;
    if (k >= 0) {
        st->ckpt_resumed = 1;
        snprintf(dir, RP_PATH, "%s/step-%lld", root, (long long)k);
        gc_log_info("run: %s resumes from its checkpoint at step %lld", st->name, (long long)k);
    }
    st->ckpt_on = 1, st->ckpt_t = gc_now();
    g_active = 1;
    return k;
}

int rp_ckpt_due(const rp_stage *st, int last) {
    if (last) return 0;
    return g_stop || gc_now() - st->ckpt_t >= st->ckpt_every;
}

gc_status rp_ckpt_write(rp_stage *st, int64_t step, gc_status (*save)(const char *dir, void *ctx),
                        void *ctx) {
    char root[RP_PATH], tmp[RP_PATH], dst[RP_PATH];
    ckpt_root(st, root);
    snprintf(tmp, sizeof tmp, "%s/tmp", root);
    snprintf(dst, sizeof dst, "%s/step-%lld", root, (long long)step);
    GC_TRY(rp_mkdirs(root));
    GC_TRY(rp_remove_tree(tmp)); /* a killed write's leftovers */
    GC_TRY(rp_mkdirs(tmp));
    GC_TRY(save(tmp, ctx));
    GC_TRY(rp_remove_tree(dst));
    if (rename(tmp, dst) != 0)
        return gc_fail(GC_ERR_IO, "%s: cannot publish the checkpoint: %s", dst, strerror(errno));
    /* older checkpoints: the new one is complete */
    DIR *d = opendir(root);
    for (struct dirent *e; d && (e = readdir(d));) {
        long long k;
        char tail, old[RP_PATH];
        if (sscanf(e->d_name, "step-%lld%c", &k, &tail) == 1 && k != step) {
            snprintf(old, sizeof old, "%s/%s", root, e->d_name);
            GC_TRY(rp_remove_tree(old));
        }
    }
    if (d) closedir(d);
    st->ckpt_t = gc_now();
    g_written++;
    const char *kill_after = getenv("GCRM_KILL_AFTER_CHECKPOINTS");
    if (kill_after && atoi(kill_after) == g_written) raise(SIGKILL);
    if (g_stop)
        return gc_fail(GC_ERR_STOPPED,
                       "stopped in stage %s with a checkpoint at step %lld; run the same command "
                       "again to resume",
                       st->name, (long long)step);
    return GC_OK;
}

void rp_ckpt_leave(rp_stage *st) {
    if (st->ckpt_on) g_active = 0;
    st->ckpt_on = 0;
}

gc_status rp_ckpt_clear(rp_stage *st) {
    char root[RP_PATH];
    ckpt_root(st, root);
    rp_ckpt_leave(st);
    return rp_remove_tree(root);
}
