/* model: Llama-style decoder in fp32 (token embedding, RMSNorm, rotary positions, grouped-query
 * causal attention, SwiGLU MLP, tied or untied output classifier): forward, full backward, and
 * KV-cache incremental decoding, each written once here over a backend's ops (backend.h: the CPU,
 * or CUDA).
 *
 * Contract: a gc_model owns its host parameters, a host gradient buffer (allocated on first use
 * of gc_model_zero_grad on a host backend), and its state on the backend (gc_resident: on a device,
 * the parameters, gradient, optimiser moments and one activation arena sized for the largest
 * (B, T) seen); gc_model_free releases all of it. Parameters are stored per tensor family,
 * row-major, out x in (y = W x): wqkv fuses the q, k and v projections of a layer (rows [0,D) = wq,
 * [D,D+KV) = wk, then wv) and w13 fuses the SwiGLU gate w1 (rows [0,H)) with the up projection w3
 * (rows [H,2H)).
 *
 * Training step: gc_model_forward (fills the final-layer hidden states after the final norm,
 * host view m->hf, and optionally logits) -> gc_model_ce_loss (optional) -> gc_model_backward,
 * which accumulates into m->grads the gradient of (ce_weight * CE loss) plus <dhidden, hf> for an
 * optional caller-supplied dhidden (B, T, D); reward models and the contrastive loss use the
 * latter. Results are bitwise reproducible for a fixed thread count.
 */
#ifndef GC_MODEL_H
#define GC_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "lib/util/base.h"

typedef struct {
    int32_t dim;        /* D, model width */
    int32_t hidden_dim; /* H, SwiGLU hidden width */
    int32_t n_layers;   /* L */
    int32_t n_heads;    /* query heads; head size hs = D / n_heads */
    int32_t n_kv_heads; /* key/value heads, divides n_heads; KV = n_kv_heads * hs */
    int32_t vocab_size; /* V */
    int32_t seq_len;    /* maximum positions */
    int32_t tied;       /* 1: classifier shares the token embedding */
    float norm_eps;     /* RMSNorm epsilon (1e-5) */
    float rope_theta;   /* rotary base (10000) */
    /* rotary frequency scaling (Hugging Face's rope_scaling; all zero: none) */
    int32_t rope_scaling;  /* GC_ROPE_NONE, GC_ROPE_LINEAR or GC_ROPE_LLAMA3 */
    float rope_factor;     /* frequencies divided by it (linear: all; llama3: the low ones) */
    float rope_low_freq;   /* llama3: low_freq_factor (1) */
    float rope_high_freq;  /* llama3: high_freq_factor (4) */
    int32_t rope_orig_len; /* llama3: original_max_position_embeddings (8192) */
} gc_model_config;

enum { GC_ROPE_NONE = 0, GC_ROPE_LINEAR = 1, GC_ROPE_LLAMA3 = 2 };

/* The rotary inverse frequency of pair i (0 <= i < hs/2) after the config's scaling, in fp32 as
 * the model's tables use it: theta^(-2i/hs) (llama2.c's arithmetic), then divided by the factor
 * (linear) or, for llama3, divided where the wavelength 2 pi / f exceeds orig_len / low_freq,
 * kept where it is below orig_len / high_freq, and interpolated between (transformers'
 * _compute_llama3_parameters). */
float gc_model_rope_freq(const gc_model_config *c, int i);

/* Checks every field for sense; returns GC_ERR_ARG naming the field. */
gc_status gc_model_config_check(const gc_model_config *c);

enum {
    GC_T_EMB,        /* (V, D) */
    GC_T_ATTN_NORM,  /* (L, D) */
    GC_T_WQKV,       /* (L, D + 2 KV, D) */
    GC_T_WO,         /* (L, D, D) */
    GC_T_FFN_NORM,   /* (L, D) */
    GC_T_W13,        /* (L, 2H, D) */
    GC_T_W2,         /* (L, D, H) */
    GC_T_FINAL_NORM, /* (D) */
    GC_T_CLS,        /* (V, D), absent (size 0) when tied */
    GC_N_TENSORS
};

typedef struct {
    const char *name;
    int32_t ndim;
    int32_t shape[3];
    size_t offset; /* in floats, into params / grads */
    size_t size;   /* in floats */
    int decay;     /* 1 for matrices (weight decay applies), 0 for norms */
} gc_tensor_info;

/* Fills the tensor table and returns the total number of parameters. */
size_t gc_model_tensors(const gc_model_config *c, gc_tensor_info t[GC_N_TENSORS]);

typedef struct {
    float *x[GC_N_TENSORS];
} gc_param_ptrs;

/* One layer's slice of the parameters (or of the gradient): what the forward, the backward and
 * the decoding name at the top of their layer loop instead of computing offsets. */
typedef struct {
    float *attn_norm; /* (D) */
    float *wqkv;      /* (D + 2 KV, D) */
    float *wo;        /* (D, D) */
    float *ffn_norm;  /* (D) */
    float *w13;       /* (2 H, D) */
    float *w2;        /* (D, H) */
} gc_layer_params;

/* Layer l's tensors within p (params or grads). */
gc_layer_params gc_model_layer(const gc_param_ptrs *p, const gc_model_config *c, int l);

/* The activations of the last forward, in the backend's memory (backend.h), one arena. */
typedef struct {
    int B, T;
    const int32_t *len; /* (B) the lengths, in the backend's memory, or NULL: all T */
    const int32_t *tok; /* (N) the tokens, in the backend's memory */
    int32_t *tgt;       /* (N) the targets of the last loss, in the backend's memory */
    /* per layer l, each entry points at layer l's slice; N = B * T */
    float *res;     /* (L+1, N, D) residual stream entering layer l; res[L] leaves the last layer */
    float *h1;      /* (L, N, D) residual after attention */
    float *xn1;     /* (L, N, D) attention RMSNorm output */
    float *rstd1;   /* (L, N) */
    float *qkv;     /* (L, N, D + 2 KV) projections, q and k after rotary */
    void *att;      /* (L, B, n_heads, T, T) softmax probabilities, att_bytes each (backend.h) */
    float *ao;      /* (L, N, D) attention output before wo */
    float *xn2;     /* (L, N, D) */
    float *rstd2;   /* (L, N) */
    float *a13;     /* (L, N, 2H) gate and up pre-activations */
    float *g;       /* (L, N, H) silu(gate) * up */
    float *hf;      /* (N, D) final hidden state after the final norm */
    float *rstdf;   /* (N) */
    float *logits;  /* (N, V) */
    float *dlogits; /* (N, V) gradient of the weighted CE loss wrt logits */
    /* backward scratch */
    float *d_res;  /* (N, D) */
    float *d_xn;   /* (N, D) */
    float *d_qkv;  /* (N, D + 2 KV) */
    float *d_ao;   /* (N, D) */
    float *d_a13;  /* (N, 2H) */
    float *d_g;    /* (N, H) */
    int recompute; /* the layout: the layers' intermediates (h1 ... g) in one slot, not L */
} gc_acts;

struct gc_model_s;
struct gc_adamw_s;
/* The tensors of a parameter-shaped buffer base (n_params floats: parameters, gradients, a
 * device copy) in m's layout; the classifier is the embedding when tied. */
gc_param_ptrs gc_model_ptrs(const struct gc_model_s *m, float *base);

/* The model's state in its backend's memory. On a host backend P and G are params and grads
 * themselves and M, Vm the optimiser's own moments. */
typedef struct {
    int ready;                    /* parameters uploaded (or aliased) */
    float *P, *G;                 /* (n_params) parameters, gradient */
    float *M, *Vm;                /* (n_params) AdamW moments of opt */
    const struct gc_adamw_s *opt; /* the optimiser whose moments M, Vm hold */
    uint16_t *Pb;                 /* (n_params) bf16 shadow of P (backend shadow = 1) */
    float *cos_t, *sin_t;         /* (seq_len, hs / 2) rotary tables */
    gc_param_ptrs p, g;           /* tensor views of P and G */
    void *arena;                  /* the activations' buffers */
    size_t arena_bytes;
    float *hf_host, *logits_host; /* host copies of hf and logits (device backends) */
    size_t hf_cap, logits_cap;
} gc_resident;

typedef struct gc_model_s {
    gc_model_config cfg;
    gc_tensor_info tensors[GC_N_TENSORS];
    size_t n_params;
    float *params;              /* (n_params) host */
    float *grads;               /* (n_params) host, or NULL */
    gc_param_ptrs p, g;         /* tensor views of params and grads */
    float *rope_cos, *rope_sin; /* (seq_len, hs / 2) host */
    /* host views of the last forward: hidden states (N, D) after the final norm, and the logits
     * (N, V) when they were asked for on the host */
    float *hf, *logits;
    const gc_backend *be;       /* where the passes run (backend.h); never NULL */
    gc_resident r;              /* the state on be */
    gc_acts acts;               /* the last forward's activations, on be */
    int recompute;              /* activation recomputation (gc_model_set_recompute) */
    int *lens;                  /* (acts.B) host copy of the last forward's lengths, or unused */
    const int32_t *last_tokens; /* host tokens of the last forward (B * T), borrowed */
    int logits_ready;
    int ce_ready;
} gc_model;

gc_status gc_model_init(gc_model *m, const gc_model_config *cfg); /* params zeroed */
void gc_model_free(gc_model *m);
/* Gaussian init (std 0.02, output projections wo and w2 scaled by 1/sqrt(2 L)), norms at 1. */
void gc_model_init_random(gc_model *m, uint64_t seed);

/* out = src with `extra` transformer blocks added on top of its layers (before the final norm):
 * the new blocks start as the identity (output projections wo and w2 zero; input projections
 * Gaussian with std 0.02 from seed; norms 1), so out computes exactly what src does until they
 * train. out is initialised here (gc_model_free it). */
gc_status gc_model_grow(const gc_model *src, int extra, uint64_t seed, gc_model *out);

/* Runs the model's passes on backend be (NULL: the CPU) from now on; see backend.h for when host
 * parameters are read. Leaving a device backend first brings the parameters back to the host (not
 * the optimiser's moments: gc_model_sync with the optimiser does that) and frees its state there.
 */
gc_status gc_model_set_backend(gc_model *m, const gc_backend *be);
/* On a device backend: copies the device parameters (and opt's moments when opt is not NULL) to
 * the host; a no-op on a host backend. Call before reading m->params on the host. */
gc_status gc_model_sync(gc_model *m, struct gc_adamw_s *opt);
/* On a device backend: copies the device gradient into m->grads (allocated when absent); a no-op
 * on a host backend. For checks and tools: training never needs the gradient on the host. */
gc_status gc_model_sync_grads(gc_model *m);
/* Sum of squares of the gradient (double, fixed order), and scaling it by k. */
gc_status gc_model_grad_sumsq(gc_model *m, double *out);
gc_status gc_model_scale_grads(gc_model *m, float k);

/* tokens: (B, T), each in [0, V). Computes hidden states, and logits when want_logits
 * (GC_LOGITS_HOST or GC_LOGITS_DEVICE, backend.h; on the CPU both mean "compute them"). */
gc_status gc_model_forward(gc_model *m, const int32_t *tokens, int B, int T, int want_logits);
/* The same for a padded batch: sequence b is tokens [0, len[b]) of its row, 1 <= len[b] <= T
 * (copied; NULL = all T). Real positions get exactly what an unpadded forward gives them (up to
 * float rounding); padding positions cost no attention work, their hidden states are finite but
 * meaningless, their targets must be -1, and no gradient flows through them. */
gc_status gc_model_forward_len(gc_model *m, const int32_t *tokens, int B, int T, const int *len,
                               int want_logits);
/* Mean cross-entropy over targets >= 0 (B, T; -1 = ignore); prepares dlogits = weight * dCE.
 * Requires a forward with logits. Returns the loss in *loss (0 when no target counts). */
gc_status gc_model_ce_loss(gc_model *m, const int32_t *targets, float weight, float *loss);
/* A loss of the caller's on the logits of the last forward (which must have computed them):
 * dlogits (N, V, host) is its gradient, used by the next gc_model_backward in place of the
 * cross-entropy's (the two do not add up; a later gc_model_ce_loss replaces it). */
gc_status gc_model_logits_grad(gc_model *m, const float *dlogits);
gc_status gc_model_zero_grad(gc_model *m);
/* Activation recomputation: the forward pass keeps each layer's input (the residual stream) and
 * one layer's intermediates; the backward pass runs each layer's forward again from its input
 * before its backward. Memory: (L + 1) N D floats plus one layer's, instead of every layer's; one
 * more forward pass of compute; the same gradients, bit for bit (the same kernels on the same
 * inputs). Applies from the next forward pass. */
void gc_model_set_recompute(gc_model *m, int on);
/* Accumulates parameter gradients. dhidden: (B, T, D) gradient on the final hidden states (hf), or
 * NULL. */
gc_status gc_model_backward(gc_model *m, const float *dhidden);

/* ---- KV-cache decoding ---- */
struct gc_kv_resident;
typedef struct gc_kvcache_s {
    int B, max_T;
    float *hf;                /* (B, D) host: final hidden states of the last step */
    float *logits;            /* (B, V) host: logits of the last step */
    const uint8_t *active;    /* (B) host, or NULL: rows with 0 skip attention (finished sequences);
                                 their outputs are then meaningless */
    struct gc_kv_resident *r; /* the cache and step buffers on the decoding model's backend,
                                 created by the first decode */
} gc_kvcache;

gc_status gc_kvcache_init(gc_kvcache *c, const gc_model_config *cfg, int B, int max_T);
void gc_kvcache_free(gc_kvcache *c);
/* One step for B sequences: token[b] at position pos[b] (< max_T, and the cache must hold
 * positions 0..pos[b]-1 of sequence b). Writes c->hf and c->logits. */
gc_status gc_model_decode(gc_model *m, gc_kvcache *c, const int32_t *token, const int32_t *pos);

#endif
