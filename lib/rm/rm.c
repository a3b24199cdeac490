#include "rm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "lib/model/ckpt.h"
#include "lib/model/ops.h"

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

void gc_con_draw(gc_con_draws *d, const gc_con_config *c, const int *prompt_len, const int *len,
                 gc_rng *rng) {
    /* late: fractions from the second half of the response */
    float lo = c->positions == GC_POS_LATE ? 0.5f : 0.0f, w = 1.0f - lo;
    int single = c->goal_sampling == GC_GOAL_SINGLE;
    for (int p = 0; p < d->P; p++) {
        int ca = prompt_len[2 * p], cb = len[2 * p];
        int ra = prompt_len[2 * p + 1], rb = len[2 * p + 1];
        float g_pos = single ? gc_rng_uniform(rng) : 0, g_neg = single ? gc_rng_uniform(rng) : 0;
        for (int k = 0; k < d->K; k++) {
            size_t i = (size_t)p * d->K + k;
            float u1 = gc_rng_uniform(rng), u2 = single ? g_pos : gc_rng_uniform(rng);
            if (single) u1 *= g_pos; /* a source no later than the shared goal */
            if (u1 > u2) {
                float t = u1;
                u1 = u2, u2 = t;
            }
            d->pos_src[i] = at_fraction(lo + w * u1, ca, cb);
            d->pos_goal[i] = at_fraction(lo + w * u2, ca, cb);
            d->neg_src[i] = at_fraction(lo + w * gc_rng_uniform(rng), ca, cb);
            d->neg_goal[i] = at_fraction(lo + w * (single ? g_neg : gc_rng_uniform(rng)), ra, rb);
        }
    }
}

/* ---- contrastive loss ---- */

static double dot(const float *a, const float *b, int D) {
    double s = 0;
    for (int i = 0; i < D; i++)
        s += (double)a[i] * b[i];
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

static double sigmoid(double x) {
    return 1.0 / (1.0 + exp(-x));
}

typedef struct {
    int32_t sa, a, sb, b; /* sequence and position of each end; b < 0: averaged goal -1 - b */
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
            if (c->goal_sampling == GC_GOAL_AVERAGED) { /* each source against the pair's mean */
                out[n++] = (con_pair){2 * p, src[(size_t)p * d->K + i], seq_goal, -1 - p};
            } else if (c->pairs == GC_PAIRS_ORDERED) {
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
    int avg = c->goal_sampling == GC_GOAL_AVERAGED;
    size_t cap = (size_t)d->P * d->K * (c->pairs == GC_PAIRS_ALL && !avg ? d->K : 1);
    con_pair *pairs = gc_malloc(sizeof(con_pair) * cap);
    double *sim = gc_malloc(sizeof(double) * cap);
    /* averaged goals (P, D) of the current kind and their gradients */
    float *gv = avg ? gc_malloc(sizeof(float) * (size_t)d->P * D) : NULL;
    float *dg = avg ? gc_malloc(sizeof(float) * (size_t)d->P * D) : NULL;
    if (!pairs || !sim || (avg && (!gv || !dg))) {
        free(pairs), free(sim), free(gv), free(dg);
        return GC_ERR_NOMEM;
    }
    double total = 0, means[2] = {0, 0};
    for (int neg = 0; neg < 2; neg++) {
        size_t n = enumerate(d, c, neg, pairs);
        const int32_t *goal = neg ? d->neg_goal : d->pos_goal;
        for (int p = 0; avg && p < d->P; p++) {
            float *g = gv + (size_t)p * D;
            memset(g, 0, sizeof(float) * D);
            memset(dg + (size_t)p * D, 0, sizeof(float) * D);
            for (int k = 0; k < d->K; k++) {
                const float *hk = h + ((size_t)(2 * p + neg) * T + goal[(size_t)p * d->K + k]) * D;
                for (int i = 0; i < D; i++)
                    g[i] += hk[i] / (float)d->K;
            }
        }
#define END_B(pr)                                                                                  \
    ((pr).b < 0 ? gv + (size_t)(-1 - (pr).b) * D : h + ((size_t)(pr).sb * T + (pr).b) * D)
#define DEND_B(pr)                                                                                 \
    ((pr).b < 0 ? dg + (size_t)(-1 - (pr).b) * D : dh + ((size_t)(pr).sb * T + (pr).b) * D)
        double mean = 0;
        for (size_t i = 0; i < n; i++) {
            const float *ha = h + ((size_t)pairs[i].sa * T + pairs[i].a) * D;
            const float *hb = END_B(pairs[i]);
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
            cos_sim(ha, END_B(pairs[i]), D, g, dh + ((size_t)pairs[i].sa * T + pairs[i].a) * D,
                    DEND_B(pairs[i]));
        }
#undef END_B
#undef DEND_B
        for (int p = 0; avg && dh && p < d->P; p++) /* the mean's gradient to each goal state */
            for (int k = 0; k < d->K; k++) {
                float *dk = dh + ((size_t)(2 * p + neg) * T + goal[(size_t)p * d->K + k]) * D;
                for (int i = 0; i < D; i++)
                    dk[i] += dg[(size_t)p * D + i] / (float)d->K;
            }
        total += part;
    }
    free(pairs), free(sim), free(gv), free(dg);
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

size_t gc_rm_head_size(gc_head_kind kind, int D) {
    size_t H = (size_t)D / 2;
    return kind == GC_HEAD_MLP ? H * D + H + H * H + H + (size_t)D * H + D + D + 1 : (size_t)D;
}

/* MLP head layout: W1 (H, D), b1 (H), W2 (H, H), b2 (H), W3 (D, H), b3 (D), w4 (D), b4; H = D/2 */
typedef struct {
    const float *W1, *b1, *W2, *b2, *W3, *b3, *w4, *b4;
} mlp_view;

static mlp_view mlp_at(const float *p, int D) {
    int H = D / 2;
    mlp_view v;
    v.W1 = p, p += (size_t)H * D;
    v.b1 = p, p += H;
    v.W2 = p, p += (size_t)H * H;
    v.b2 = p, p += H;
    v.W3 = p, p += (size_t)D * H;
    v.b3 = p, p += D;
    v.w4 = p, p += D;
    v.b4 = p;
    return v;
}

/* y (n_out) = relu(W x + b), W (n_out, n_in), in double */
static void dense_relu(double *y, const float *W, const float *b, const double *x, int n_in,
                       int n_out) {
    for (int o = 0; o < n_out; o++) {
        double s = b[o];
        for (int i = 0; i < n_in; i++)
            s += (double)W[(size_t)o * n_in + i] * x[i];
        y[o] = s > 0 ? s : 0;
    }
}

/* Backward of y = relu(W x + b) given dy (n_out) already through the ReLU: dW += dy x^T, db += dy,
 * dx (n_in) = W^T dy, rectified by x > 0 when x is itself a ReLU output (relu_in). */
static void dense_backward(float *dW, float *db, double *dx, const double *dy, const double *x,
                           const float *W, int n_in, int n_out, int relu_in) {
    for (int o = 0; o < n_out; o++) {
        db[o] += (float)dy[o];
        for (int i = 0; i < n_in; i++)
            dW[(size_t)o * n_in + i] += (float)(dy[o] * x[i]);
    }
    for (int i = 0; i < n_in; i++) {
        double s = 0;
        for (int o = 0; o < n_out; o++)
            s += dy[o] * W[(size_t)o * n_in + i];
        dx[i] = relu_in && !(x[i] > 0) ? 0 : s;
    }
}

/* The head's reward for h; with g != 0 also adds g * dr/dh into dh and g * dr/dparams into dp. */
static double head_apply(const gc_rm *rm, const float *h, double g, float *dh, float *dp) {
    int D = rm->model.cfg.dim, H = D / 2;
    if (rm->head_kind == GC_HEAD_LINEAR) {
        if (g != 0)
            for (int i = 0; i < D; i++)
                dh[i] += (float)(g * rm->head[i]), dp[i] += (float)(g * h[i]);
        return dot(h, rm->head, D);
    }
    mlp_view v = mlp_at(rm->head, D);
    double x[1024] = {0}, a1[512] = {0}, a2[512] = {0}, a3[1024], d3[1024] = {0}, d2[512], d1[512];
    for (int i = 0; i < D; i++)
        x[i] = h[i];
    dense_relu(a1, v.W1, v.b1, x, D, H);
    dense_relu(a2, v.W2, v.b2, a1, H, H);
    dense_relu(a3, v.W3, v.b3, a2, H, D);
    double r = v.b4[0];
    for (int i = 0; i < D; i++)
        r += (double)v.w4[i] * a3[i];
    if (g == 0) return r;
    mlp_view dv = mlp_at(dp, D);
    float *dW1 = (float *)dv.W1, *db1 = (float *)dv.b1, *dW2 = (float *)dv.W2,
          *db2 = (float *)dv.b2;
    float *dW3 = (float *)dv.W3, *db3 = (float *)dv.b3, *dw4 = (float *)dv.w4,
          *db4 = (float *)dv.b4;
    db4[0] += (float)g;
    for (int i = 0; i < D; i++) { /* through w4 and the third ReLU */
        dw4[i] += (float)(g * a3[i]);
        d3[i] = a3[i] > 0 ? g * v.w4[i] : 0;
    }
    /* back through the three ReLU layers; dx of the first (the input) is not rectified */
    dense_backward(dW3, db3, d2, d3, a2, v.W3, H, D, 1);
    dense_backward(dW2, db2, d1, d2, a1, v.W2, H, H, 1);
    dense_backward(dW1, db1, d3, d1, x, v.W1, D, H, 0); /* d3 reused as d(input) */
    for (int i = 0; i < D; i++)
        dh[i] += (float)d3[i];
    return r;
}

double gc_rm_head_grad(const gc_rm *rm, const float *h, double g, float *dh, float *dparams) {
    return head_apply(rm, h, g, dh, dparams);
}

gc_status gc_rm_init(gc_rm *rm, gc_model *trunk, gc_head_kind kind, uint64_t seed) {
    memset(rm, 0, sizeof *rm);
    int D = trunk->cfg.dim;
    if (kind == GC_HEAD_MLP && (D % 2 || D > 1024))
        return gc_fail(GC_ERR_ARG, "rm: an MLP head needs an even width up to 1024 (got %d)", D);
    size_t n = gc_rm_head_size(kind, D);
    rm->head = gc_malloc(sizeof(float) * n);
    rm->dhead = gc_calloc(n, sizeof(float));
    if (!rm->head || !rm->dhead) {
        free(rm->head), free(rm->dhead);
        return GC_ERR_NOMEM;
    }
    rm->head_kind = kind;
    rm->n_head = n;
    rm->model = *trunk; /* ownership moves */
    memset(trunk, 0, sizeof *trunk);
    gc_rng r;
    gc_rng_init(&r, seed, gc_rng_stream(GC_STREAM_RM_HEAD, 0));
    if (kind == GC_HEAD_LINEAR) {
        for (int i = 0; i < D; i++)
            rm->head[i] = gc_rng_normal(&r) / sqrtf((float)D);
        return GC_OK;
    }
    /* He initialisation for the ReLU layers, biases zero, the output layer like the linear head */
    int H = D / 2;
    mlp_view v = mlp_at(rm->head, D);
    memset(rm->head, 0, sizeof(float) * n);
    struct {
        float *W;
        size_t n;
        int fan_in;
    } layers[] = {{(float *)v.W1, (size_t)H * D, D},
                  {(float *)v.W2, (size_t)H * H, H},
                  {(float *)v.W3, (size_t)D * H, H},
                  {(float *)v.w4, (size_t)D, D}};
    for (int l = 0; l < 4; l++)
        for (size_t i = 0; i < layers[l].n; i++)
            layers[l].W[i] = gc_rng_normal(&r) * sqrtf((l < 3 ? 2.0f : 1.0f) / layers[l].fan_in);
    return GC_OK;
}

void gc_rm_free(gc_rm *rm) {
    gc_model_free(&rm->model);
    free(rm->head), free(rm->dhead);
    if (rm->has_opt) gc_adamw_free(&rm->opt), gc_adamw_free(&rm->head_opt);
    memset(rm, 0, sizeof *rm);
}

static const char HEAD_MAGIC[8] = {'G', 'C', 'R', 'M', 'H', 'E', 'A', 'D'};  /* linear */
static const char HEAD_MAGIC2[8] = {'G', 'C', 'R', 'M', 'H', 'M', 'L', 'P'}; /* MLP */

/* Head file: magic (8: linear or MLP), int32 D, the head's floats, CRC32 of the floats. */
gc_status gc_rm_save(gc_rm *rm, const char *ckpt_path, const char *head_path) {
    GC_TRY(gc_ckpt_save(ckpt_path, &rm->model, NULL));
    int32_t D = rm->model.cfg.dim;
    size_t bytes = sizeof(float) * rm->n_head;
    uint32_t crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)rm->head, bytes);
    gc_atomic_file af;
    GC_TRY(gc_atomic_open(&af, head_path));
    gc_atomic_write(&af, rm->head_kind == GC_HEAD_MLP ? HEAD_MAGIC2 : HEAD_MAGIC, 8);
    gc_atomic_write(&af, &D, 4);
    gc_atomic_write(&af, rm->head, bytes);
    gc_atomic_write(&af, &crc, 4);
    return gc_atomic_commit(&af);
}

gc_status gc_rm_load(gc_rm *rm, const char *ckpt_path, const char *head_path) {
    char *data;
    size_t size;
    GC_TRY(gc_read_file(head_path, &data, &size));
    gc_head_kind kind = size >= 8 && !memcmp(data, HEAD_MAGIC2, 8) ? GC_HEAD_MLP : GC_HEAD_LINEAR;
    gc_model m;
    gc_status s = gc_ckpt_load(ckpt_path, &m, NULL, NULL);
    if (s != GC_OK) {
        free(data);
        return s;
    }
    s = gc_rm_init(rm, &m, kind, 0);
    if (s != GC_OK) {
        gc_model_free(&m);
        free(data);
        return s;
    }
    int32_t D = rm->model.cfg.dim, fd = 0;
    size_t bytes = sizeof(float) * rm->n_head;
    uint32_t crc = 0;
    if (size >= 12) memcpy(&fd, data + 8, 4);
    if (size != 16 + bytes || (memcmp(data, HEAD_MAGIC, 8) && memcmp(data, HEAD_MAGIC2, 8)) ||
        fd != D) {
        s = gc_fail(GC_ERR_FORMAT, "%s: not a reward head for a model of width %d", head_path, D);
    } else {
        memcpy(rm->head, data + 12, bytes);
        memcpy(&crc, data + 12 + bytes, 4);
        if (crc != (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)rm->head, bytes))
            s = gc_fail(GC_ERR_FORMAT, "%s: checksum mismatch (file corrupted)", head_path);
    }
    free(data);
    if (s != GC_OK) gc_rm_free(rm);
    return s;
}

#define HSTATE_MAGIC "GCRMHST1"

/* <name>.hstate (little-endian): magic | u32 head kind | u64 n_head | u32 has_opt | f32 head
 * (n_head) | [i64 head step | f32 m (n_head) | f32 v (n_head)] | u32 crc32 of all before */
gc_status gc_rm_save_train(gc_rm *rm, const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.ckpt", dir, name);
    GC_TRY(gc_ckpt_save(path, &rm->model, rm->has_opt ? &rm->opt : NULL));
    snprintf(path, sizeof path, "%s/%s.hstate", dir, name);
    uint32_t kind = (uint32_t)rm->head_kind, has = (uint32_t)rm->has_opt;
    uint64_t nh = rm->n_head;
    size_t hb = sizeof(float) * rm->n_head;
    gc_atomic_file af;
    GC_TRY(gc_atomic_open(&af, path));
    gc_atomic_write(&af, HSTATE_MAGIC, 8);
    gc_atomic_write(&af, &kind, 4);
    gc_atomic_write(&af, &nh, 8);
    gc_atomic_write(&af, &has, 4);
    gc_atomic_write(&af, rm->head, hb);
    if (has) {
        gc_atomic_write(&af, &rm->head_opt.step, 8);
        gc_atomic_write(&af, rm->head_opt.m, hb);
        gc_atomic_write(&af, rm->head_opt.v, hb);
    }
    gc_atomic_write_crc(&af);
    return gc_atomic_commit(&af);
}

/* the optimiser state as the file says: created (its settings come with every update and the
 * trunk's checkpoint) or released */
static gc_status set_has_opt(gc_rm *rm, int has) {
    if (has && !rm->has_opt) {
        GC_TRY(gc_adamw_init(&rm->opt, rm->model.n_params, 0.9f, 0.95f, 1e-8f, 0.0f));
        if (gc_adamw_init(&rm->head_opt, rm->n_head, 0.9f, 0.95f, 1e-8f, 0.0f) != GC_OK) {
            gc_adamw_free(&rm->opt);
            return GC_ERR_NOMEM;
        }
    } else if (!has && rm->has_opt) {
        gc_adamw_free(&rm->opt), gc_adamw_free(&rm->head_opt);
    }
    rm->has_opt = has;
    return GC_OK;
}

gc_status gc_rm_load_train(gc_rm *rm, const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.hstate", dir, name);
    char *data;
    size_t size;
    GC_TRY(gc_read_file(path, &data, &size));
    size_t hb = sizeof(float) * rm->n_head, fixed = 8 + 4 + 8 + 4;
    uint32_t kind = 0, has = 0;
    uint64_t nh = 0;
    if (size >= fixed) {
        memcpy(&kind, data + 8, 4);
        memcpy(&nh, data + 12, 8);
        memcpy(&has, data + 20, 4);
    }
    gc_status s = GC_OK;
    if (size < fixed || memcmp(data, HSTATE_MAGIC, 8))
        s = gc_fail(GC_ERR_FORMAT, "%s: not a reward model's training state", path);
    else if (kind != (uint32_t)rm->head_kind || nh != rm->n_head || has > 1 ||
             size != fixed + hb + (has ? 8 + 2 * hb : 0) + 4)
        s = gc_fail(GC_ERR_FORMAT, "%s: %zu bytes do not hold the state of a %s head of %zu", path,
                    size, rm->head_kind == GC_HEAD_MLP ? "MLP" : "linear", rm->n_head);
    else if (!gc_crc_trailer_ok(data, size))
        s = gc_fail(GC_ERR_FORMAT, "%s: checksum mismatch (file corrupted)", path);
    if (s == GC_OK) s = set_has_opt(rm, (int)has);
    if (s == GC_OK) {
        const char *q = data + fixed;
        memcpy(rm->head, q, hb), q += hb;
        if (has) {
            memcpy(&rm->head_opt.step, q, 8), q += 8;
            memcpy(rm->head_opt.m, q, hb), q += hb;
            memcpy(rm->head_opt.v, q, hb);
        }
    }
    free(data);
    GC_TRY(s);
    snprintf(path, sizeof path, "%s/%s.ckpt", dir, name);
    return gc_ckpt_restore(path, &rm->model, has ? &rm->opt : NULL);
}

float gc_rm_reward(const gc_rm *rm, const float *h) {
    return (float)head_apply(rm, h, 0, NULL, NULL);
}

gc_status gc_rm_score(gc_rm *rm, const int32_t *tokens, int B, int T, const int *len, float *out) {
    GC_TRY(gc_model_forward_len(&rm->model, tokens, B, T, len, 0));
    int D = rm->model.cfg.dim;
    for (int b = 0; b < B; b++) {
        if (len[b] < 1 || len[b] > T)
            return gc_fail(GC_ERR_ARG, "rm: sequence %d length %d outside [1, %d]", b, len[b], T);
        out[b] = gc_rm_reward(rm, rm->model.hf + ((size_t)b * T + len[b] - 1) * D);
    }
    return GC_OK;
}

gc_status gc_rm_grad(gc_rm *rm, const int32_t *tokens, int P, int T, const int *prompt_len,
                     const int *len, const gc_con_config *c, gc_rng *rng, gc_rm_step_stats *st) {
    return gc_rm_grad_acc(rm, tokens, P, T, prompt_len, len, c, rng, 1.0f, 1, st);
}

gc_status gc_rm_grad_acc(gc_rm *rm, const int32_t *tokens, int P, int T, const int *prompt_len,
                         const int *len, const gc_con_config *c, gc_rng *rng, float scale,
                         int first, gc_rm_step_stats *st) {
    gc_model *m = &rm->model;
    int D = m->cfg.dim, B = 2 * P;
    float *r = gc_malloc(sizeof(float) * B), *dr = gc_malloc(sizeof(float) * B);
    float *dh = gc_calloc((size_t)B * T * D, sizeof(float)); /* (B, T, D) dL/d hidden */
    gc_con_draws draws = {0};
    gc_status s = r && dr && dh ? GC_OK : GC_ERR_NOMEM;
    if (s == GC_OK) s = gc_rm_score(rm, tokens, B, T, len, r);
    double acc = 0, pref = 0, con = 0, mp = 0, mn = 0;
    if (s == GC_OK) {
        /* preference loss through the head at each sequence's last token */
        pref = gc_pref_loss(r, P, dr, &acc);
        if (first) memset(rm->dhead, 0, sizeof(float) * rm->n_head);
        for (int b = 0; b < B; b++)
            head_apply(rm, m->hf + ((size_t)b * T + len[b] - 1) * D, scale * dr[b],
                       dh + ((size_t)b * T + len[b] - 1) * D, rm->dhead);
        /* the contrastive loss on the hidden states, weighted by lambda */
        if (c->lambda > 0) {
            s = gc_con_draws_init(&draws, P, c->K);
            if (s == GC_OK) {
                gc_con_draw(&draws, c, prompt_len, len, rng);
                s = gc_con_loss(m->hf, T, D, &draws, c, scale * c->lambda, &con, dh, &mp, &mn);
            }
        }
    }
    if (s == GC_OK && first) s = gc_model_zero_grad(m);
    if (s == GC_OK) s = gc_model_backward(m, dh);
    if (s == GC_OK && st) {
        st->pref = (float)pref;
        st->con = (float)con;
        st->loss = (float)(pref + c->lambda * con);
        st->acc = (float)acc;
        st->mean_pos = (float)mp;
        st->mean_neg = (float)mn;
    }
    gc_con_draws_free(&draws);
    free(r), free(dr), free(dh);
    return s;
}

gc_status gc_rm_step(gc_rm *rm, const int32_t *tokens, int P, int T, const int *prompt_len,
                     const int *len, const gc_con_config *c, gc_rng *rng, const gc_rm_optim *o,
                     gc_rm_step_stats *st) {
    GC_TRY(gc_rm_grad(rm, tokens, P, T, prompt_len, len, c, rng, st));
    return gc_rm_update(rm, o);
}

gc_status gc_rm_clip_grads(gc_rm *rm, float clip) {
    /* one global norm over the trunk and the head, clipped by the optimiser's rule */
    double trunk_ss = 0;
    GC_TRY(gc_model_grad_sumsq(&rm->model, &trunk_ss));
    float k = gc_clip_factor(sqrt(trunk_ss + gc_ops_sumsq(rm->dhead, rm->n_head)), clip);
    if (k != 1.0f) {
        GC_TRY(gc_model_scale_grads(&rm->model, k));
        for (size_t i = 0; i < rm->n_head; i++)
            rm->dhead[i] *= k;
    }
    return GC_OK;
}

gc_status gc_rm_update(gc_rm *rm, const gc_rm_optim *o) {
    gc_model *m = &rm->model;
    GC_TRY(set_has_opt(rm, 1));
    /* every call's settings hold for its update (a schedule may change them) */
    rm->opt.beta1 = rm->head_opt.beta1 = o->beta1;
    rm->opt.beta2 = rm->head_opt.beta2 = o->beta2;
    rm->opt.eps = rm->head_opt.eps = o->eps;
    rm->opt.weight_decay = o->weight_decay;
    GC_TRY(gc_rm_clip_grads(rm, o->clip));
    GC_TRY(gc_model_adamw(m, &rm->opt, o->lr * o->trunk_lr_scale));
    gc_tensor_info head_t = {"head", 1, {(int)rm->n_head, 0, 0}, 0, rm->n_head, 0};
    gc_adamw_step(&rm->head_opt, rm->head, rm->dhead, &head_t, 1, o->lr);
    return GC_OK;
}

/* ---- goal state and Q-values ---- */

gc_status gc_goal_init(gc_goal *g, int D) {
    g->D = D;
    g->count = 0;
    g->sum = gc_calloc((size_t)D, sizeof(double));
    return g->sum ? GC_OK : GC_ERR_NOMEM;
}

void gc_goal_add(gc_goal *g, const float *h) {
    for (int i = 0; i < g->D; i++)
        g->sum[i] += h[i];
    g->count++;
}

gc_status gc_goal_mean(const gc_goal *g, float *out) {
    if (g->count == 0) return gc_fail(GC_ERR_ARG, "goal state: no preferred response was added");
    for (int i = 0; i < g->D; i++)
        out[i] = (float)(g->sum[i] / (double)g->count);
    return GC_OK;
}

void gc_goal_free(gc_goal *g) {
    free(g->sum);
    g->sum = NULL;
}

gc_status gc_rm_pool(gc_rm *rm, const int32_t *seq, int len, int from, float *out) {
    if (from < 0 || from >= len)
        return gc_fail(GC_ERR_ARG, "gc_rm_pool: positions [%d, %d) are empty", from, len);
    gc_model *m = &rm->model;
    int D = m->cfg.dim;
    GC_TRY(gc_model_forward_len(m, seq, 1, len, &len, 0));
    double *sum = gc_calloc((size_t)D, sizeof(double));
    if (!sum) return GC_ERR_NOMEM;
    for (int p = from; p < len; p++)
        for (int d = 0; d < D; d++)
            sum[d] += m->hf[(size_t)p * D + d];
    for (int d = 0; d < D; d++)
        out[d] = (float)(sum[d] / (len - from));
    free(sum);
    return GC_OK;
}

float gc_qvalue(const float *h, const float *goal, int D) {
    return (float)cos_sim(h, goal, D, 0, NULL, NULL);
}
