#include "rm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ckpt.h"
#include "ops.h"

/* ---- position draws ---- */

gc_status gc_con_draws_init(gc_con_draws *d, int P, int K) {
    memset(d, 0, sizeof *d);
    if (P <= 0 || K <= 0) return gc_fail(GC_ERR_ARG, "contrastive: bad P=%d K=%d", P, K);
    size_t n = (size_t)P * K;
    d->pos_src = gc_malloc(sizeof(int32_t) * n);
    d->pos_goal = gc_malloc(sizeof(int32_t) * n);
    d->neg_src = gc_malloc(sizeof(int32_t) * n);
    d->neg_goal = gc_malloc(sizeof(int32_t) * n);
    if (!d->pos_src || !d->pos_goal || !d->neg_src || !d->neg_goal) {
        gc_con_draws_free(d);
        return GC_ERR_NOMEM;
    }
    d->P = P;
    d->K = K;
    return GC_OK;
}

void gc_con_draws_free(gc_con_draws *d) {
    free(d->pos_src), free(d->pos_goal), free(d->neg_src), free(d->neg_goal);
    memset(d, 0, sizeof *d);
}

/* position at fraction u in [0, 1) of the response [a, b) */
static int32_t at_fraction(float u, int a, int b) {
    int32_t p = a + (int32_t)(u * (float)(b - a));
    return p < b ? p : b - 1;
}

void gc_con_draw(gc_con_draws *d, const int *prompt_len, const int *len, gc_rng *rng) {
    for (int p = 0; p < d->P; p++) {
        int ca = prompt_len[2 * p], cb = len[2 * p];
        int ra = prompt_len[2 * p + 1], rb = len[2 * p + 1];
        for (int k = 0; k < d->K; k++) {
            size_t i = (size_t)p * d->K + k;
            float u1 = gc_rng_uniform(rng), u2 = gc_rng_uniform(rng);
            if (u1 > u2) {
                float t = u1;
                u1 = u2, u2 = t;
            }
            d->pos_src[i] = at_fraction(u1, ca, cb);
            d->pos_goal[i] = at_fraction(u2, ca, cb);
            d->neg_src[i] = at_fraction(gc_rng_uniform(rng), ca, cb);
            d->neg_goal[i] = at_fraction(gc_rng_uniform(rng), ra, rb);
        }
    }
}

/* ---- contrastive loss ---- */

static double dot(const float *a, const float *b, int D) {
    double s = 0;
    for (int i = 0; i < D; i++) s += (double)a[i] * b[i];
    return s;
}

/* cos(a, b) and, when da/db are given, g * dcos/da and g * dcos/db added into them */
static double cos_sim(const float *a, const float *b, int D, double g, float *da, float *db) {
    double na = sqrt(dot(a, a, D)) + 1e-12, nb = sqrt(dot(b, b, D)) + 1e-12;
    double c = dot(a, b, D) / (na * nb);
    if (da)
        for (int i = 0; i < D; i++) {
            da[i] += (float)(g * (b[i] / (na * nb) - c * a[i] / (na * na)));
            db[i] += (float)(g * (a[i] / (na * nb) - c * b[i] / (nb * nb)));
        }
    return c;
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

typedef struct {
    int32_t sa, a, sb, b; /* sequence and position of each end */
} con_pair;

/* Enumerates the scored pairs of one kind (positive or negative) into out; returns the count. */
static size_t enumerate(const gc_con_draws *d, const gc_con_config *c, int negative,
                        con_pair *out) {
    size_t n = 0;
    const int32_t *src = negative ? d->neg_src : d->pos_src;
    const int32_t *goal = negative ? d->neg_goal : d->pos_goal;
    for (int p = 0; p < d->P; p++) {
        int32_t seq_goal = 2 * p + (negative ? 1 : 0);
        for (int i = 0; i < d->K; i++) {
            if (c->pairs == GC_PAIRS_ORDERED) {
                size_t k = (size_t)p * d->K + i;
                out[n++] = (con_pair){2 * p, src[k], seq_goal, goal[k]};
            } else {
                for (int j = 0; j < d->K; j++)
                    out[n++] = (con_pair){2 * p, src[(size_t)p * d->K + i], seq_goal,
                                          goal[(size_t)p * d->K + j]};
            }
        }
    }
    return n;
}

gc_status gc_con_loss(const float *h, int T, int D, const gc_con_draws *d, const gc_con_config *c,
                      float scale, double *loss, float *dh, double *mean_pos, double *mean_neg) {
    size_t cap = (size_t)d->P * d->K * (c->pairs == GC_PAIRS_ALL ? d->K : 1);
    con_pair *pairs = gc_malloc(sizeof(con_pair) * cap);
    double *sim = gc_malloc(sizeof(double) * cap);
    if (!pairs || !sim) {
        free(pairs), free(sim);
        return GC_ERR_NOMEM;
    }
    double total = 0, means[2] = {0, 0};
    for (int neg = 0; neg < 2; neg++) {
        size_t n = enumerate(d, c, neg, pairs);
        double mean = 0;
        for (size_t i = 0; i < n; i++) {
            const float *ha = h + ((size_t)pairs[i].sa * T + pairs[i].a) * D;
            const float *hb = h + ((size_t)pairs[i].sb * T + pairs[i].b) * D;
            sim[i] = sigmoid(cos_sim(ha, hb, D, 0, NULL, NULL));
            mean += sim[i] / (double)n;
        }
        means[neg] = mean;
        /* loss and dL/dsim_i for this kind */
        double part = 0;
        if (c->reduction == GC_RED_LOG_OF_MEAN) part = neg ? -log(1.0 - mean) : -log(mean);
        for (size_t i = 0; i < n; i++) {
            double g;
            if (c->reduction == GC_RED_LOG_OF_MEAN) {
                g = neg ? 1.0 / ((1.0 - mean) * n) : -1.0 / (mean * n);
            } else {
                part += (neg ? -log(1.0 - sim[i]) : -log(sim[i])) / (double)n;
                g = neg ? 1.0 / ((1.0 - sim[i]) * n) : -1.0 / (sim[i] * n);
            }
            if (!dh) continue;
            g *= scale * sim[i] * (1.0 - sim[i]); /* through the sigmoid */
            const float *ha = h + ((size_t)pairs[i].sa * T + pairs[i].a) * D;
            const float *hb = h + ((size_t)pairs[i].sb * T + pairs[i].b) * D;
            cos_sim(ha, hb, D, g, dh + ((size_t)pairs[i].sa * T + pairs[i].a) * D,
                    dh + ((size_t)pairs[i].sb * T + pairs[i].b) * D);
        }
        total += part;
    }
    free(pairs), free(sim);
    *loss = total;
    if (mean_pos) *mean_pos = means[0];
    if (mean_neg) *mean_neg = means[1];
    return GC_OK;
}

/* ---- preference loss ---- */

double gc_pref_loss(const float *r, int P, float *dr, double *acc) {
    double loss = 0;
    int right = 0;
    for (int p = 0; p < P; p++) {
        double delta = (double)r[2 * p] - r[2 * p + 1];
        /* -log sigmoid(delta), computed stably */
        loss += (delta > 0 ? log1p(exp(-delta)) : -delta + log1p(exp(delta))) / P;
        right += delta > 0;
        if (dr) {
            double g = -(1.0 - sigmoid(delta)) / P;
            dr[2 * p] = (float)g;
            dr[2 * p + 1] = (float)-g;
        }
    }
    if (acc) *acc = P ? (double)right / P : 0;
    return loss;
}

/* ---- reward model ---- */

gc_status gc_rm_init(gc_rm *rm, gc_model *trunk, uint64_t seed) {
    memset(rm, 0, sizeof *rm);
    int D = trunk->cfg.dim;
    rm->head = gc_malloc(sizeof(float) * D);
    rm->dhead = gc_calloc((size_t)D, sizeof(float));
    if (!rm->head || !rm->dhead) {
        free(rm->head), free(rm->dhead);
        return GC_ERR_NOMEM;
    }
    rm->model = *trunk; /* ownership moves */
    memset(trunk, 0, sizeof *trunk);
    gc_rng r;
    gc_rng_init(&r, seed, 0x4845414400ull); /* "HEAD" */
    for (int i = 0; i < D; i++) rm->head[i] = gc_rng_normal(&r) / sqrtf((float)D);
    return GC_OK;
}

void gc_rm_free(gc_rm *rm) {
    gc_model_free(&rm->model);
    free(rm->head), free(rm->dhead);
    if (rm->has_opt) gc_adamw_free(&rm->opt), gc_adamw_free(&rm->head_opt);
    memset(rm, 0, sizeof *rm);
}

static const char HEAD_MAGIC[8] = {'G', 'C', 'R', 'M', 'H', 'E', 'A', 'D'};

gc_status gc_rm_save(const gc_rm *rm, const char *ckpt_path, const char *head_path) {
    GC_TRY(gc_ckpt_save(ckpt_path, &rm->model, NULL));
    int32_t D = rm->model.cfg.dim;
    uint32_t crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)rm->head,
                                     sizeof(float) * (size_t)D);
    gc_atomic_file af;
    GC_TRY(gc_atomic_open(&af, head_path));
    gc_atomic_write(&af, HEAD_MAGIC, 8);
    gc_atomic_write(&af, &D, 4);
    gc_atomic_write(&af, rm->head, sizeof(float) * (size_t)D);
    gc_atomic_write(&af, &crc, 4);
    return gc_atomic_commit(&af);
}

gc_status gc_rm_load(gc_rm *rm, const char *ckpt_path, const char *head_path) {
    gc_model m;
    GC_TRY(gc_ckpt_load(ckpt_path, &m, NULL, NULL));
    gc_status s = gc_rm_init(rm, &m, 0);
    if (s != GC_OK) {
        gc_model_free(&m);
        return s;
    }
    char *data;
    size_t size;
    s = gc_read_file(head_path, &data, &size);
    if (s != GC_OK) {
        gc_rm_free(rm);
        return s;
    }
    int32_t D = rm->model.cfg.dim, fd = 0;
    uint32_t crc = 0;
    if (size >= 12) memcpy(&fd, data + 8, 4);
    if (size != 16 + sizeof(float) * (size_t)D || memcmp(data, HEAD_MAGIC, 8) != 0 || fd != D) {
        s = gc_fail(GC_ERR_FORMAT, "%s: not a reward head for a model of width %d", head_path, D);
    } else {
        memcpy(rm->head, data + 12, sizeof(float) * (size_t)D);
        memcpy(&crc, data + 12 + sizeof(float) * (size_t)D, 4);
        if (crc != (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)rm->head,
                                     sizeof(float) * (size_t)D))
            s = gc_fail(GC_ERR_FORMAT, "%s: checksum mismatch (file corrupted)", head_path);
    }
    free(data);
    if (s != GC_OK) gc_rm_free(rm);
    return s;
}

float gc_rm_reward(const gc_rm *rm, const float *h) {
    return (float)dot(h, rm->head, rm->model.cfg.dim);
}

gc_status gc_rm_score(gc_rm *rm, const int32_t *tokens, int B, int T, const int *len, float *out) {
    GC_TRY(gc_model_forward_len(&rm->model, tokens, B, T, len, 0));
    int D = rm->model.cfg.dim;
    for (int b = 0; b < B; b++) {
        if (len[b] < 1 || len[b] > T)
            return gc_fail(GC_ERR_ARG, "rm: sequence %d length %d outside [1, %d]", b, len[b], T);
        out[b] = (float)dot(rm->model.acts.hf + ((size_t)b * T + len[b] - 1) * D, rm->head, D);
    }
    return GC_OK;
}

gc_status gc_rm_step(gc_rm *rm, const int32_t *tokens, int P, int T, const int *prompt_len,
                     const int *len, const gc_con_config *c, gc_rng *rng, float lr, float clip,
                     float weight_decay, gc_rm_step_stats *st) {
    gc_model *m = &rm->model;
    int D = m->cfg.dim, B = 2 * P;
    if (!rm->has_opt) {
        GC_TRY(gc_adamw_init(&rm->opt, m->n_params, 0.9f, 0.95f, 1e-8f, weight_decay));
        if (gc_adamw_init(&rm->head_opt, (size_t)D, 0.9f, 0.95f, 1e-8f, 0.0f) != GC_OK) {
            gc_adamw_free(&rm->opt);
            return GC_ERR_NOMEM;
        }
        rm->has_opt = 1;
    }
    float *r = gc_malloc(sizeof(float) * B), *dr = gc_malloc(sizeof(float) * B);
    float *dh = gc_calloc((size_t)B * T * D, sizeof(float));
    gc_con_draws draws = {0};
    gc_status s = r && dr && dh ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_rm_score(rm, tokens, B, T, len, r);
    double acc = 0, pref = 0, con = 0, mp = 0, mn = 0;
    if (s == GC_OK) {
        pref = gc_pref_loss(r, P, dr, &acc);
        memset(rm->dhead, 0, sizeof(float) * D);
        for (int b = 0; b < B; b++) {
            const float *hl = m->acts.hf + ((size_t)b * T + len[b] - 1) * D;
            float *dl = dh + ((size_t)b * T + len[b] - 1) * D;
            for (int i = 0; i < D; i++) {
                dl[i] += dr[b] * rm->head[i];
                rm->dhead[i] += dr[b] * hl[i];
            }
        }
        if (c->lambda > 0) {
            s = gc_con_draws_init(&draws, P, c->K);
            if (s == GC_OK) {
                gc_con_draw(&draws, prompt_len, len, rng);
                s = gc_con_loss(m->acts.hf, T, D, &draws, c, c->lambda, &con, dh, &mp, &mn);
            }
        }
    }
    if (s == GC_OK) {
        gc_model_zero_grad(m);
        s = m->grads ? gc_model_backward(m, dh) : GC_ERR_NOMEM;
    }
    if (s == GC_OK) {
        double norm = sqrt(gc_ops_sumsq(m->grads, m->n_params) + gc_ops_sumsq(rm->dhead, (size_t)D));
        if (clip > 0 && norm > clip) {
            float k = clip / (float)(norm + 1e-6);
            for (size_t i = 0; i < m->n_params; i++) m->grads[i] *= k;
            for (int i = 0; i < D; i++) rm->dhead[i] *= k;
        }
        gc_adamw_step(&rm->opt, m->params, m->grads, m->tensors, GC_N_TENSORS, lr);
        gc_tensor_info head_t = {"head", 1, {D, 0, 0}, 0, (size_t)D, 0};
        gc_adamw_step(&rm->head_opt, rm->head, rm->dhead, &head_t, 1, lr);
        if (st) {
            st->pref = (float)pref;
            st->con = (float)con;
            st->loss = (float)(pref + c->lambda * con);
            st->acc = (float)acc;
            st->mean_pos = (float)mp;
            st->mean_neg = (float)mn;
        }
    }
    gc_con_draws_free(&draws);
    free(r), free(dr), free(dh);
    return s;
}

/* ---- goal state and Q-values ---- */

gc_status gc_goal_init(gc_goal *g, int D) {
    g->D = D;
    g->count = 0;
    g->sum = gc_calloc((size_t)D, sizeof(double));
    return g->sum ? GC_OK : GC_ERR_NOMEM;
}

void gc_goal_add(gc_goal *g, const float *h) {
    for (int i = 0; i < g->D; i++) g->sum[i] += h[i];
    g->count++;
}

gc_status gc_goal_mean(const gc_goal *g, float *out) {
    if (g->count == 0) return gc_fail(GC_ERR_ARG, "goal state: no preferred response was added");
    for (int i = 0; i < g->D; i++) out[i] = (float)(g->sum[i] / (double)g->count);
    return GC_OK;
}

void gc_goal_free(gc_goal *g) {
    free(g->sum);
    g->sum = NULL;
}

float gc_qvalue(const float *h, const float *goal, int D) {
    return (float)cos_sim(h, goal, D, 0, NULL, NULL);
}
