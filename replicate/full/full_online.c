/* full_online: table1's online filtering at full scale (full.h). The first online_questions
 * questions of a generate stage are sampled twice in one process, with the generate stage's
 * settings and streams: plainly, then with the seed-1 reward model of a variant decoding beside
 * the policy and stopping each solution at its first response token j >= skip whose Q-value is
 * below tau (lib/tasks/mathpipe.h's gc_qwatch). The wall time and the tokens of each, whether
 * every filtered solution is a prefix of its unfiltered one (the same streams), and each
 * solution's cut go to online.json, which the vote analysis compares with the offline cuts. */
#include <stdlib.h>
#include <string.h>

#include "lib/model/hf.h"
#include "lib/tasks/hfseq.h"
#include "lib/util/jsonio.h"
#include "replicate/claims/schema.h"
#include "replicate/math/pipeline.h"
#include "full.h"

/* 1 when every solution of b is a prefix of a's (glen and concatenated tokens of n each) */
static int prefixes(const int *la, const int32_t *ta, const int *lb, const int32_t *tb, int n) {
    int64_t oa = 0, ob = 0;
    for (int i = 0; i < n; oa += la[i], ob += lb[i], i++)
        if (lb[i] > la[i] || memcmp(ta + oa, tb + ob, sizeof(int32_t) * (size_t)lb[i])) return 0;
    return 1;
}

static gc_status compute_online(rp_stage *st, void *ctx) {
    full_online_job *j = ctx;
    const full_samples *s = j->samples;
    int n = j->questions * s->M, maxp = 0;
    for (int q = 0; q < s->n_q; q++)
        maxp = s->plen[q] > maxp ? s->plen[q] : maxp;
    gc_hfseq c = {0};
    gc_model m;
    gc_rm rm;
    int have_m = 0, have_rm = 0;
    gc_status r = gc_hfseq_open(j->policy->path, &c);
    if (r == GC_OK) r = gc_hf_load(j->policy->path, maxp + (int)j->gen->max_new, &m);
    have_m = r == GC_OK;
    if (r == GC_OK) r = math_load_rm(j->rm, &rm);
    have_rm = have_m && r == GC_OK;
    int D = have_rm ? rm.model.cfg.dim : 1;
    float *goal = gc_malloc(sizeof(float) * D);
    int *len0 = gc_calloc((size_t)(n ? n : 1), sizeof(int));
    int *len1 = gc_calloc((size_t)(n ? n : 1), sizeof(int));
    int *cut = gc_calloc((size_t)(n ? n : 1), sizeof(int));
    if (r == GC_OK && !(goal && len0 && len1 && cut)) r = GC_ERR_NOMEM;
    if (r == GC_OK) r = full_read_goal(j->rm, j->goal, D, goal);
    full_sampled plain = {len0, NULL, NULL, 0, 0, 0}, watched = {len1, NULL, cut, 0, 0, 0};
    double w0 = 0, w1 = 0;
    int vocab = r == GC_OK ? gc_hf_tok_vocab_size(c.tok) : 0;
    gc_log_info("%s: online filtering on %d questions", st->name, j->questions);
    if (r == GC_OK) {
        double t = gc_now();
        r = full_sample(&m, j->gen, s, n, c.eos, vocab, NULL, NULL, &plain);
        w0 = gc_now() - t;
    }
    gc_qfilter f = {have_rm ? &rm : NULL, goal, (float)j->tau, j->skip};
    if (r == GC_OK) {
        double t = gc_now();
        r = full_sample(&m, j->gen, s, n, c.eos, vocab, &f, NULL, &watched);
        w1 = gc_now() - t;
    }
    if (r == GC_OK) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, RS_QUESTIONS, j->questions);
        cJSON_AddNumberToObject(o, RS_WALL_S_UNFILTERED, w0);
        cJSON_AddNumberToObject(o, RS_WALL_S_FILTERED, w1);
        cJSON_AddNumberToObject(o, RS_TOKENS_UNFILTERED, (double)plain.n_gen);
        cJSON_AddNumberToObject(o, RS_TOKENS_FILTERED, (double)watched.n_gen);
        cJSON_AddBoolToObject(o, RS_FILTERED_ARE_PREFIXES,
                              prefixes(len0, plain.gen, len1, watched.gen, n));
        cJSON *a = cJSON_AddArrayToObject(o, RS_CUT);
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(cut[i]));
        char path[RP_PATH];
        rp_stage_file(st, "online.json", path);
        r = gc_json_write(path, o);
        cJSON_Delete(o);
    }
    free(plain.gen), free(watched.gen), free(goal), free(len0), free(len1), free(cut);
    if (have_rm) gc_rm_free(&rm);
    if (have_m) gc_model_free(&m);
    gc_hfseq_close(&c);
    return r;
}

static gc_status load_online(const rp_stage *st, void *ctx) {
    full_online_job *j = ctx;
    char path[RP_PATH];
    rp_stage_file(st, "online.json", path);
    return gc_json_read(path, &j->doc);
}

const rp_stage_def FULL_ONLINE = {"full-online", __FILE__, compute_online, load_online};
