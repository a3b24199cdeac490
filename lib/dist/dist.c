#include "dist.h"

#include <stdlib.h>
#include <string.h>

#include "lib/model/optim.h"

#ifdef GC_HAVE_MPI
#include <mpi.h>
#endif

/* ---- the world ---- */

int gc_dist_has_mpi(void) {
#ifdef GC_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

/* whether mpirun (OpenMPI's or a PMIx launcher) started this process */
static int launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

gc_status gc_dist_init(gc_dist *d) {
    memset(d, 0, sizeof *d);
    d->size = 1;
    if (!launched_by_mpirun()) return GC_OK;
#ifdef GC_HAVE_MPI
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        if (MPI_Init(NULL, NULL) != MPI_SUCCESS) return gc_fail(GC_ERR_IO, "MPI_Init failed");
        d->mpi = 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    return GC_OK;
#else
    return gc_fail(GC_ERR_ARG,
                   "started by mpirun, but this build has no MPI (install libopenmpi-dev and "
                   "rebuild)");
#endif
}

void gc_dist_finalize(gc_dist *d) {
#ifdef GC_HAVE_MPI
    if (d->mpi) MPI_Finalize();
#endif
    d->mpi = 0;
}

/* ---- pairwise sums ---- */

gc_status gc_tree_init(gc_tree *t, size_t n, int max_pushes) {
    memset(t, 0, sizeof *t);
    t->n = n, t->cap = max_pushes;
    while ((1 << t->levels) <= max_pushes)
        t->levels++;
    t->level = gc_calloc((size_t)t->levels, sizeof(float *));
    return t->level ? GC_OK : GC_ERR_NOMEM;
}

void gc_tree_free(gc_tree *t) {
    if (t->level) gc_tree_reset(t);
    free(t->level);
    memset(t, 0, sizeof *t);
}

gc_status gc_tree_push(gc_tree *t, const float *x) {
    if (t->pushes == t->cap) return gc_fail(GC_ERR_ARG, "gc_tree: more than %d pushes", t->cap);
    float *cur = gc_malloc(sizeof(float) * (t->n ? t->n : 1));
    if (!cur) return GC_ERR_NOMEM;
    memcpy(cur, x, sizeof(float) * t->n);
    int i = 0;
    /* a pending sum of the same size sits on the left: merge, left + right, and carry up */
    for (; i < t->levels && t->level[i]; i++) {
        float *left = t->level[i];
        for (size_t k = 0; k < t->n; k++)
            left[k] += cur[k];
        free(cur);
        cur = left;
        t->level[i] = NULL;
    }
    if (i == t->levels) {
        free(cur);
        return gc_fail(GC_ERR_ARG, "gc_tree: more than %d pushes", (1 << t->levels) - 1);
    }
    t->level[i] = cur;
    t->pushes++;
    return GC_OK;
}

gc_status gc_tree_result(const gc_tree *t, float *out) {
    int top = -1;
    for (int i = 0; i < t->levels; i++)
        if (t->level[i]) {
            if (top >= 0)
                return gc_fail(GC_ERR_ARG, "gc_tree: %d pushes are not a power of two", t->pushes);
            top = i;
        }
    if (top < 0) return gc_fail(GC_ERR_ARG, "gc_tree: nothing pushed");
    memcpy(out, t->level[top], sizeof(float) * t->n);
    return GC_OK;
}

void gc_tree_reset(gc_tree *t) {
    for (int i = 0; i < t->levels; i++)
        free(t->level[i]), t->level[i] = NULL;
    t->pushes = 0;
}

/* ---- collectives ---- */

gc_status gc_dist_tree_sum(const gc_dist *d, float *block, size_t n) {
    if (d->size == 1) return GC_OK;
#ifdef GC_HAVE_MPI
    int W = d->size;
    if (W & (W - 1)) return gc_fail(GC_ERR_ARG, "the world size %d is not a power of two", W);
    if (n > (size_t)INT32_MAX)
        return gc_fail(GC_ERR_ARG, "gc_dist_tree_sum: %zu floats in one call", n);
    /* reduce-scatter in tree order: rank r receives slice r of every rank's block (W slices, about
     * n floats in all, where gathering whole blocks would take W n) and sums them up the tree */
    size_t lo, hi;
    gc_dist_slice(n, d->rank, W, &lo, &hi);
    int mine = (int)(hi - lo);
    int *sc = gc_malloc(sizeof(int) * 4 * (size_t)W);
    float *slices = gc_malloc(sizeof(float) * ((size_t)mine * (size_t)W + 1));
    if (!sc || !slices) {
        free(sc), free(slices);
        return GC_ERR_NOMEM;
    }
    int *sd = sc + W, *rc = sc + 2 * W, *rd = sc + 3 * W;
    for (int r = 0; r < W; r++) {
        size_t a, b;
        gc_dist_slice(n, r, W, &a, &b);
        sc[r] = (int)(b - a), sd[r] = (int)a, rc[r] = mine, rd[r] = r * mine;
    }
    int ok = MPI_Alltoallv(block, sc, sd, MPI_FLOAT, slices, rc, rd, MPI_FLOAT, MPI_COMM_WORLD);
    free(sc);
    if (ok != MPI_SUCCESS) {
        free(slices);
        return gc_fail(GC_ERR_IO, "MPI_Alltoallv of %zu floats failed", n);
    }
    /* the rest of the tree: neighbours pairwise, left + right, up to the root */
    for (int span = 1; span < W; span *= 2)
        for (int r = 0; r < W; r += 2 * span) {
            float *left = slices + (size_t)r * mine, *right = slices + (size_t)(r + span) * mine;
            for (int k = 0; k < mine; k++)
                left[k] += right[k];
        }
    memcpy(block + lo, slices, sizeof(float) * (size_t)mine);
    free(slices);
    return gc_dist_gather_slices(d, block, n);
#else
    (void)block, (void)n;
    return gc_fail(GC_ERR_ARG, "a world of %d ranks without MPI", d->size);
#endif
}

void gc_dist_slice(size_t n, int r, int W, size_t *lo, size_t *hi) {
    *lo = n * (size_t)r / (size_t)W;
    *hi = n * (size_t)(r + 1) / (size_t)W;
}

gc_status gc_dist_gather_slices(const gc_dist *d, float *x, size_t n) {
    if (d->size == 1) return GC_OK;
#ifdef GC_HAVE_MPI
    int W = d->size;
    int *counts = gc_malloc(sizeof(int) * (size_t)W), *displs = gc_malloc(sizeof(int) * (size_t)W);
    if (!counts || !displs) {
        free(counts), free(displs);
        return GC_ERR_NOMEM;
    }
    for (int r = 0; r < W; r++) {
        size_t lo, hi;
        gc_dist_slice(n, r, W, &lo, &hi);
        counts[r] = (int)(hi - lo), displs[r] = (int)lo;
    }
    int rc = n > (size_t)INT32_MAX ? MPI_ERR_COUNT
                                   : MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts,
                                                    displs, MPI_FLOAT, MPI_COMM_WORLD);
    free(counts), free(displs);
    return rc == MPI_SUCCESS ? GC_OK : gc_fail(GC_ERR_IO, "MPI_Allgatherv of %zu floats failed", n);
#else
    (void)x, (void)n;
    return gc_fail(GC_ERR_ARG, "a world of %d ranks without MPI", d->size);
#endif
}

/* ---- sharded AdamW ---- */

gc_status gc_zero1_init(gc_zero1 *z, const gc_dist *d, size_t n, float beta1, float beta2,
                        float eps, float weight_decay) {
    memset(z, 0, sizeof *z);
    gc_dist_slice(n, d->rank, d->size, &z->lo, &z->hi);
    size_t k = z->hi - z->lo ? z->hi - z->lo : 1;
    z->m = gc_calloc(k, sizeof(float));
    z->v = gc_calloc(k, sizeof(float));
    z->beta1 = beta1, z->beta2 = beta2, z->eps = eps, z->weight_decay = weight_decay;
    if (z->m && z->v) return GC_OK;
    gc_zero1_free(z);
    return GC_ERR_NOMEM;
}

void gc_zero1_free(gc_zero1 *z) {
    free(z->m), free(z->v);
    memset(z, 0, sizeof *z);
}

gc_status gc_zero1_step(gc_zero1 *z, const gc_dist *d, float *params, const float *grads,
                        const gc_tensor_info *tensors, int ntensors, size_t n, float lr) {
    z->step++;
    for (int i = 0; i < ntensors; i++) { /* each tensor's part inside the slice */
        size_t a = tensors[i].offset, b = a + tensors[i].size;
        size_t lo = a > z->lo ? a : z->lo, hi = b < z->hi ? b : z->hi;
        if (lo >= hi) continue;
        gc_adamw_update(params + lo, z->m + (lo - z->lo), z->v + (lo - z->lo), grads + lo, hi - lo,
                        lr, z->beta1, z->beta2, z->eps, z->weight_decay, tensors[i].decay, z->step);
    }
    return gc_dist_gather_slices(d, params, n);
}

/* ---- data-parallel steps ---- */

/* parts of a batch of `items` over W ranks, on a host model */
static gc_status check_step(int W, int parts, int items, const char *what, const gc_model *m) {
    if (parts < W || parts % W || (parts & (parts - 1)) || items % parts)
        return gc_fail(GC_ERR_ARG,
                       "data parallel: %d parts must be a power of two, a multiple of the %d "
                       "rank(s), and divide %s (%d)",
                       parts, W, what, items);
    if (!m->be->host) return gc_fail(GC_ERR_ARG, "data parallel: host models only, for now");
    return GC_OK;
}

/* a language-model step */

gc_status gc_dist_lm_step(const gc_dist *d, gc_model *m, gc_zero1 *z, gc_tree *tree,
                          const int32_t *tokens, const int32_t *targets, int B, int T, int P,
                          float clip, float lr, float *loss) {
    int W = d->size;
    GC_TRY(check_step(W, P, B, "the batch", m));
    int rows = B / P, per = P / W;
    size_t n = m->n_params;
    float local_loss = 0; /* this rank's parts' losses, summed in part order */
    for (int p = d->rank * per; p < (d->rank + 1) * per; p++) {
        const int32_t *tk = tokens + (size_t)p * rows * T, *tg = targets + (size_t)p * rows * T;
        float l;
        GC_TRY(gc_model_forward_len(m, tk, rows, T, NULL, GC_LOGITS_DEVICE));
        GC_TRY(gc_model_ce_loss(m, tg, 1.0f / (float)P, &l));
        GC_TRY(gc_model_zero_grad(m));
        GC_TRY(gc_model_backward(m, NULL));
        GC_TRY(gc_tree_push(tree, m->grads));
        local_loss += l / (float)P;
    }
    gc_status s = gc_tree_result(tree, m->grads);
    gc_tree_reset(tree);
    GC_TRY(s);
    GC_TRY(gc_dist_tree_sum(d, m->grads, n));
    GC_TRY(gc_dist_tree_sum(d, &local_loss, 1));
    GC_TRY(gc_model_clip_grads(m, clip, NULL));
    GC_TRY(gc_zero1_step(z, d, m->params, m->grads, m->tensors, GC_N_TENSORS, n, lr));
    if (loss) *loss = local_loss;
    return GC_OK;
}

/* a reward-model step */

enum { N_STATS = 6 }; /* loss, pref, con, acc, mean_pos, mean_neg */

gc_status gc_dist_rm_step(const gc_dist *d, gc_rm *rm, gc_zero1 *z, gc_adamw *head_opt,
                          gc_tree *tree, const int32_t *tokens, int P, int T, const int *prompt_len,
                          const int *len, const gc_con_config *c, const gc_rng *rngs, int parts,
                          const gc_rm_optim *o, gc_rm_step_stats *st) {
    int W = d->size;
    gc_model *m = &rm->model;
    GC_TRY(check_step(W, parts, P, "the pairs", m));
    size_t n = m->n_params, nh = rm->n_head, ns = nh + N_STATS;
    if (z->hi > n || head_opt->n != nh)
        return gc_fail(GC_ERR_ARG, "data parallel: optimizer state for another reward model");
    int pp = P / parts, per = parts / W;
    if (tree->n != n || tree->cap < per)
        return gc_fail(GC_ERR_ARG,
                       "data parallel: the gradient tree holds %d pushes of %zu floats, the step "
                       "needs %d of %zu",
                       tree->cap, tree->n, per, n);
    /* the head's gradient and the part's losses travel together: (nh + N_STATS) */
    float *small = gc_malloc(sizeof(float) * ns);
    gc_tree stree;
    gc_status s = small ? gc_tree_init(&stree, ns, per) : GC_ERR_NOMEM;
    if (s != GC_OK) {
        free(small);
        return s;
    }
    for (int p = d->rank * per; s == GC_OK && p < (d->rank + 1) * per; p++) {
        size_t row = (size_t)p * 2 * pp; /* the part's first sequence */
        gc_rng r = rngs[p];
        gc_rm_step_stats ps;
        s = gc_rm_grad_acc(rm, tokens + row * T, pp, T, prompt_len + row, len + row, c, &r,
                           1.0f / (float)parts, 1, &ps);
        if (s == GC_OK) s = gc_tree_push(tree, m->grads);
        if (s == GC_OK) {
            memcpy(small, rm->dhead, sizeof(float) * nh);
            float v[N_STATS] = {ps.loss, ps.pref, ps.con, ps.acc, ps.mean_pos, ps.mean_neg};
            for (int i = 0; i < N_STATS; i++)
                small[nh + i] = v[i] / (float)parts;
            s = gc_tree_push(&stree, small);
        }
    }
    if (s == GC_OK) s = gc_tree_result(tree, m->grads);
    if (s == GC_OK) s = gc_tree_result(&stree, small);
    gc_tree_reset(tree);
    gc_tree_free(&stree);
    if (s == GC_OK) s = gc_dist_tree_sum(d, m->grads, n);
    if (s == GC_OK) s = gc_dist_tree_sum(d, small, ns);
    if (s == GC_OK) {
        memcpy(rm->dhead, small, sizeof(float) * nh);
        s = gc_rm_clip_grads(rm, o->clip);
    }
    if (s == GC_OK) {
        z->beta1 = head_opt->beta1 = o->beta1;
        z->beta2 = head_opt->beta2 = o->beta2;
        z->eps = head_opt->eps = o->eps;
        z->weight_decay = o->weight_decay;
        s = gc_zero1_step(z, d, m->params, m->grads, m->tensors, GC_N_TENSORS, n,
                          o->lr * o->trunk_lr_scale);
    }
    if (s == GC_OK) {
        gc_tensor_info head_t = {"head", 1, {(int)nh, 0, 0}, 0, nh, 0};
        gc_adamw_step(head_opt, rm->head, rm->dhead, &head_t, 1, o->lr);
    }
    if (s == GC_OK && st) {
        const float *v = small + nh;
        *st = (gc_rm_step_stats){v[0], v[1], v[2], v[3], v[4], v[5]};
    }
    free(small);
    return s;
}
