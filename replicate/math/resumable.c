#include "resumable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/jsonio.h"
#include "replicate/runner/ckpt.h"

/* ---- sampling ---- */

typedef struct {
    rp_stage *st;
    char **out;
    int total, done;
    int64_t tokens;
} sample_ck;

static gc_status save_samples(const char *dir, void *ctx) {
    const sample_ck *k = ctx;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "done", k->done);
    cJSON_AddNumberToObject(j, "total", k->total);
    cJSON_AddNumberToObject(j, "tokens", (double)k->tokens);
    cJSON *a = cJSON_AddArrayToObject(j, "text");
    for (int i = 0; i < k->done; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(k->out[i]));
    char path[RP_PATH];
    snprintf(path, sizeof path, "%s/samples.json", dir);
    gc_status s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

static gc_status after_batch(void *ctx, int done, int64_t tokens, int last) {
    sample_ck *k = ctx;
    if (!rp_ckpt_due(k->st, last)) return GC_OK;
    k->done = done, k->tokens = tokens;
    return rp_ckpt_write(k->st, done, save_samples, k);
}

/* the checkpoint in dir into k->out[0, done) and rs */
static gc_status load_samples(const char *dir, sample_ck *k, gc_sample_resume *rs) {
    char path[RP_PATH];
    snprintf(path, sizeof path, "%s/samples.json", dir);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    double done = gc_json_num(j, "done", -1), tokens = gc_json_num(j, "tokens", -1);
    const cJSON *a = gc_json_get(j, "text");
    gc_status s = GC_OK;
    if (gc_json_num(j, "total", -1) != k->total || done < 0 || done > k->total ||
        done != (int)done || !(tokens >= 0 && tokens < 9e18) || !cJSON_IsArray(a) ||
        cJSON_GetArraySize(a) != done)
        s = gc_fail(GC_ERR_FORMAT, "%s: not a checkpoint of these %d samples", path, k->total);
    int i = 0;
    for (const cJSON *e = a ? a->child : NULL; s == GC_OK && e; e = e->next, i++) {
        if (!cJSON_IsString(e))
            s = gc_fail(GC_ERR_FORMAT, "%s: text %d is not a string", path, i);
        else if (!(k->out[i] = strdup(e->valuestring)))
            s = GC_ERR_NOMEM;
    }
    if (s == GC_OK)
        rs->done = (int)done, rs->tokens = (int64_t)tokens;
    else
        for (int t = 0; t < i; t++)
            free(k->out[t]), k->out[t] = NULL;
    cJSON_Delete(j);
    return s;
}

gc_status math_sample_ckpt(rp_stage *st, gc_model *pm, const char *const *qs, int n, int samples,
                           const gc_sample_config *c, char **out, int64_t *n_tokens) {
    sample_ck k = {st, out, n * samples, 0, 0};
    gc_sample_resume rs = {0, 0, after_batch, &k};
    gc_sample_config sc = *c;
    sc.resume = &rs;
    char dir[RP_PATH];
    if (rp_ckpt_latest(st, dir) >= 0) GC_TRY(load_samples(dir, &k, &rs));
    return gc_math_sample(pm, qs, n, samples, &sc, out, n_tokens);
}
