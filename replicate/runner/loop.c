#include "loop.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "lib/tasks/mathpipe.h"
#include "lib/util/jsonio.h"
#include "ckpt.h"
#include "stage.h"

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
    for (const cJSON *e = a->child; e; e = e->next, i++)
        if (!gc_json_int_in(e, INT_MIN, INT_MAX, &v[i])) return 0;
    return 1;
}

gc_status rp_loop_save(const rp_loop *l, const char *dir) {
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

gc_status rp_loop_load(rp_loop *l, const char *dir) {
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

gc_status rp_loop_start(rp_stage *st, gc_status (*load)(const char *dir, void *ctx), void *ctx,
                        int *step) {
    char dir[RP_PATH];
    int64_t done = rp_ckpt_latest(st, dir);
    *step = done > 0 ? (int)done : 0;
    return done >= 0 ? load(dir, ctx) : GC_OK;
}

gc_status rp_rm_loop_save(const char *dir, void *ctx) {
    rp_rm_loop *k = ctx;
    GC_TRY(gc_rm_save_train(k->rm, dir, "rm"));
    return rp_loop_save(&k->loop, dir);
}

gc_status rp_rm_loop_load(const char *dir, void *ctx) {
    rp_rm_loop *k = ctx;
    GC_TRY(gc_rm_load_train(k->rm, dir, "rm"));
    return rp_loop_load(&k->loop, dir);
}

int rp_loop_batch(rp_loop *l, int step, int P, const int *lens, int *first, int *nb) {
    int es = step % l->per_epoch;
    if (es == 0) gc_math_pair_order(l->rng, l->n, P, lens, l->order, l->perm, l->per_epoch);
    *first = l->perm[es] * P;
    *nb = l->n - *first < P ? l->n - *first : P;
    return es == l->per_epoch - 1;
}
