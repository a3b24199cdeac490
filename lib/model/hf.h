/* hf: Llama-family models in Hugging Face's layout: a directory with config.json and
 * model.safetensors (or shards with model.safetensors.index.json; lib/model/safetensors.h).
 *
 * config.json: "model_type" "llama" or "mistral"; hidden_size, intermediate_size,
 * num_hidden_layers, num_attention_heads, num_key_value_heads (default: the heads: grouped-query
 * attention when fewer), vocab_size, max_position_embeddings, rms_norm_eps (1e-6), rope_theta
 * (10000; CodeLlama's 1e6 and Llama 3's 5e5 are just values), tie_word_embeddings (false),
 * hidden_act "silu", head_dim (when given, hidden_size / heads), rope_scaling: absent, null or
 * rope_type "default" (none), "linear" (factor) or "llama3" (Llama 3.1's: factor, low_freq_factor,
 * high_freq_factor, original_max_position_embeddings; gc_model_rope_freq); other kinds (dynamic,
 * yarn, longrope) are refused by name. Errors name the file and key.
 *
 * Tensors (each checked against the config, an error naming the file and tensor):
 * model.embed_tokens.weight (V, D); per layer i model.layers.i.{input_layernorm (D),
 * self_attn.q_proj (D, D), k_proj (KV, D), v_proj (KV, D), o_proj (D, D),
 * post_attention_layernorm (D), mlp.gate_proj (H, D), up_proj (H, D), down_proj (D, H)}.weight;
 * model.norm.weight (D); lm_head.weight (V, D) unless tied. Hugging Face stores q_proj and k_proj
 * with each head's rows permuted for its rotate-half RoPE: row h*hs + c*hs/2 + i holds the
 * original (interleaved-pair) row h*hs + 2i + c; loading undoes it, saving redoes it.
 *
 * Saving writes config.json and model.safetensors (fp32 or bf16) a transformers LlamaForCausalLM
 * loads; a reward model adds, in the same file, "score.weight" (1, D), its linear head (the
 * layout of LlamaForSequenceClassification with num_labels 1, a bias-free linear layer whose
 * output at the last token is the reward) and, when given, "goal_state" (D), its goal state;
 * config.json then names that architecture with num_labels 1. Files are written through
 * temporary files and renamed.
 */
#ifndef GC_HF_H
#define GC_HF_H

#include "lib/rm/rm.h"
#include "lib/util/base.h"
#include "model.h"
#include "safetensors.h"

/* The model's shape from dir/config.json; seq_len = max_position_embeddings, or max_seq_len when
 * that is positive and smaller (the KV cache is sized by it). */
gc_status gc_hf_config(const char *dir, int max_seq_len, gc_model_config *out);
/* Initialises m from dir (config.json and the safetensors); bf16 and fp16 become fp32. */
gc_status gc_hf_load(const char *dir, int max_seq_len, gc_model *m);
/* Writes m to dir (created if missing) as dtype GC_ST_F32 or GC_ST_BF16. */
gc_status gc_hf_save(const char *dir, gc_model *m, gc_st_dtype dtype);
/* A reward model (linear head only) and its goal state (D; may be NULL). */
gc_status gc_hf_save_rm(const char *dir, gc_rm *rm, const float *goal, gc_st_dtype dtype);

#endif
