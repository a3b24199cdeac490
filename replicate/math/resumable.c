#include "resumable.h"

#include <inttypes.h>
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
        done != (int)done || tokens < 0 || !cJSON_IsArray(a) || cJSON_GetArraySize(a) != done)
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

/* ---- training loops ---- */

static cJSON *u64_hex(uint64_t v) {
    char b[24];
    snprintf(b, sizeof b, "%016" PRIx64, v);
    return cJSON_CreateString(b);
}

static int hex_u64(const cJSON *e, uint64_t *v) {
    char tail;
    return cJSON_IsString(e) && strlen(e->valuestring) == 16 &&
           sscanf(e->valuestring, "%" SCNx64 "%c", v, &tail) == 1;
}

static cJSON *int_array(const int *v, int n) {
    return cJSON_CreateIntArray(v, n);
}

/* a JSON array of n ints into v; 0 when it is not one */
static int read_ints(const cJSON *a, int *v, int n) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return 0;
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || e->valuedouble != (int)e->valuedouble) return 0;
        v[i] = (int)e->valuedouble;
    }
    return 1;
}

gc_status math_loop_save(const math_loop *l, const char *dir) {
    char path[RP_PATH];
    snprintf(path, sizeof path, "%s/loop.json", dir);
    cJSON *j = cJSON_CreateObject(), *r = cJSON_AddObjectToObject(j, "rng");
    cJSON_AddItemToObject(r, "seed", u64_hex(l->rng->seed));
    cJSON_AddItemToObject(r, "stream", u64_hex(l->rng->stream));
    cJSON_AddItemToObject(r, "counter", u64_hex(l->rng->counter));
    cJSON *buf = cJSON_AddArrayToObject(r, "buf");
    for (int i = 0; i < 4; i++)
        cJSON_AddItemToArray(buf, cJSON_CreateNumber(l->rng->buf[i]));
    cJSON_AddNumberToObject(r, "used", l->rng->used);
    cJSON_AddItemToObject(j, "order", int_array(l->order, l->n));
    cJSON_AddItemToObject(j, "perm", int_array(l->perm, l->per_epoch));
    cJSON *sums = cJSON_AddArrayToObject(j, "sums");
    for (int i = 0; i < l->n_sums; i++) {
        uint64_t bits;
        memcpy(&bits, &l->sums[i], 8);
        cJSON_AddItemToArray(sums, u64_hex(bits));
    }
    cJSON_AddItemToObject(j, "curve", cJSON_Duplicate(*l->curve, 1));
    gc_status s = gc_json_write(path, j);
    cJSON_Delete(j);
    return s;
}

gc_status math_loop_load(math_loop *l, const char *dir) {
    char path[RP_PATH];
    snprintf(path, sizeof path, "%s/loop.json", dir);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    const cJSON *r = gc_json_get(j, "rng"), *buf = gc_json_get(r, "buf");
    const cJSON *sums = gc_json_get(j, "sums"), *curve = gc_json_get(j, "curve");
    gc_rng g = {0};
    double used = gc_json_num(r, "used", -1);
    int ok = hex_u64(gc_json_get(r, "seed"), &g.seed) &&
             hex_u64(gc_json_get(r, "stream"), &g.stream) &&
             hex_u64(gc_json_get(r, "counter"), &g.counter) && cJSON_GetArraySize(buf) == 4 &&
             used >= 0 && used <= 4 && used == (int)used &&
             read_ints(gc_json_get(j, "order"), l->order, l->n) &&
             read_ints(gc_json_get(j, "perm"), l->perm, l->per_epoch) &&
             cJSON_GetArraySize(sums) == l->n_sums && cJSON_IsArray(curve);
    for (int i = 0; ok && i < 4; i++) {
        double w = gc_json_at(buf, i);
        ok = w >= 0 && w <= UINT32_MAX && w == (uint32_t)w;
        if (ok) g.buf[i] = (uint32_t)w;
    }
    int i = 0;
    for (const cJSON *e = ok ? sums->child : NULL; ok && e; e = e->next, i++) {
        uint64_t bits;
        ok = hex_u64(e, &bits);
        if (ok) memcpy(&l->sums[i], &bits, 8);
    }
    gc_status s = GC_OK;
    if (!ok) {
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: not the state of this training loop (%d pairs, %d batches, %d sums)", path,
                    l->n, l->per_epoch, l->n_sums);
    } else {
        g.used = (int)used;
        *l->rng = g;
        cJSON_Delete(*l->curve);
        *l->curve = cJSON_Duplicate(curve, 1);
    }
    cJSON_Delete(j);
    return s;
}
