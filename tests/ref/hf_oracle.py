#!/usr/bin/env python3
"""Hugging Face layout oracle for gcrm's safetensors and Llama loader (lib/model/hf.h).

Writes, into the fixture directory, a random-weight Llama-3-shaped tiny model in Hugging Face's
own layout (grouped-query attention, untied classifier, rope_theta 500000 with Llama 3.1's
"llama3" rope_scaling, q_proj and k_proj in HF's rotate-half order) as hf_tiny/config.json and hf_tiny/model.safetensors (BF16, written here
byte by byte from the format's specification), and hf_tiny/logits.json: the logits of a token
sequence from a PyTorch forward pass that follows transformers' LlamaForCausalLM (RMSNorm,
rotate_half RoPE with cos/sin over the concatenated frequencies, repeat_kv, causal softmax,
SwiGLU), computed in double from the bf16-rounded weights, and the scaled rotary inverse
frequencies (transformers' _compute_llama3_parameters: frequencies whose wavelength exceeds
original_max_position_embeddings / low_freq_factor are divided by the factor, those below
original / high_freq_factor kept, those between interpolated; the original context is small here
so that each of the three cases occurs among the head's four frequencies). The C loader must undo the q/k
permutation to match it, so the check covers the layout, the dtype and the arithmetic at once.

Run with Debian's interpreter (python3-torch): /usr/bin/python3 tests/ref/hf_oracle.py tests/fixtures
"""
import json
import math
import os
import struct
import sys

import torch

torch.set_default_dtype(torch.float64)

D, H, L, NH, NKV, V, MAXPOS = 32, 48, 2, 4, 2, 67, 64
HS = D // NH
KV = NKV * HS
EPS, THETA = 1e-5, 500000.0
ROPE_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 256}
TOKENS = [1, 5, 17, 42, 3, 66, 8, 23, 9, 1, 30]


def bf16_round(x):
    """Round to bf16 (nearest even) and back, as the file stores it."""
    f = x.to(torch.float32).contiguous()
    u = f.view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u


def to_bf16_bytes(x):
    u = bf16_round(x).flatten().tolist()
    return struct.pack("<%dH" % len(u), *u)


def from_bf16(x):
    u = bf16_round(x) << 16
    u = torch.where(u >= 2**31, u - 2**32, u).to(torch.int32)
    return u.view(torch.float32).to(torch.float64).view(x.shape)


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors:
        b = to_bf16_bytes(t)
        header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rmsnorm(x, w):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + EPS) * w


def rotate_half(x):
    a, b = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-b, a), dim=-1)


def inv_freq():
    inv = 1.0 / (THETA ** (torch.arange(0, HS, 2, dtype=torch.float64) / HS))
    r = ROPE_SCALING
    low_wavelen = r["original_max_position_embeddings"] / r["low_freq_factor"]
    high_wavelen = r["original_max_position_embeddings"] / r["high_freq_factor"]
    out = []
    for f in inv.tolist():
        wavelen = 2 * math.pi / f
        if wavelen > low_wavelen:
            out.append(f / r["factor"])
        elif wavelen < high_wavelen:
            out.append(f)
        else:
            smooth = (r["original_max_position_embeddings"] / wavelen - r["low_freq_factor"]) / (
                r["high_freq_factor"] - r["low_freq_factor"])
            out.append((1 - smooth) * f / r["factor"] + smooth * f)
    return torch.tensor(out)


def forward(w, tokens):
    T = len(tokens)
    x = w["model.embed_tokens.weight"][tokens]
    inv = inv_freq()
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(L):
        p = "model.layers.%d." % l
        h = rmsnorm(x, w[p + "input_layernorm.weight"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(T, NH, HS).transpose(0, 1)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(T, NKV, HS).transpose(0, 1)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(T, NKV, HS).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(NH // NKV, dim=0)
        v = v.repeat_interleave(NH // NKV, dim=0)
        a = torch.softmax(q @ k.transpose(1, 2) / HS**0.5 + mask, dim=-1) @ v
        x = x + a.transpose(0, 1).reshape(T, D) @ w[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, w[p + "post_attention_layernorm.weight"])
        g = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T)
        x = x + (g * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    return rmsnorm(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


def main():
    out = os.path.join(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures", "hf_tiny")
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(20241130)
    shapes = [("model.embed_tokens.weight", (V, D))]
    for l in range(L):
        p = "model.layers.%d." % l
        shapes += [(p + "input_layernorm.weight", (D,)), (p + "self_attn.q_proj.weight", (D, D)),
                   (p + "self_attn.k_proj.weight", (KV, D)), (p + "self_attn.v_proj.weight", (KV, D)),
                   (p + "self_attn.o_proj.weight", (D, D)),
                   (p + "post_attention_layernorm.weight", (D,)),
                   (p + "mlp.gate_proj.weight", (H, D)), (p + "mlp.up_proj.weight", (H, D)),
                   (p + "mlp.down_proj.weight", (D, H))]
    shapes += [("model.norm.weight", (D,)), ("lm_head.weight", (V, D))]
    tensors = []
    for name, shape in shapes:
        if name.endswith("norm.weight"):
            t = 1.0 + 0.1 * torch.randn(shape, generator=g)
        else:
            t = torch.randn(shape, generator=g) / shape[-1] ** 0.5
        tensors.append((name, t))
    write_safetensors(os.path.join(out, "model.safetensors"), tensors)
    w = {name: from_bf16(t) for name, t in tensors}
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": D,
              "intermediate_size": H, "num_hidden_layers": L, "num_attention_heads": NH,
              "num_key_value_heads": NKV, "vocab_size": V, "max_position_embeddings": MAXPOS,
              "rms_norm_eps": EPS, "rope_theta": THETA, "tie_word_embeddings": False,
              "hidden_act": "silu", "rope_scaling": ROPE_SCALING, "torch_dtype": "bfloat16"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    logits = forward(w, TOKENS)
    with open(os.path.join(out, "logits.json"), "w") as f:
        json.dump({"tokens": TOKENS, "inv_freq": [round(v, 12) for v in inv_freq().tolist()],
                   "logits": [[round(v, 9) for v in row] for row in logits.tolist()]},
                  f)
    print("wrote", out)


if __name__ == "__main__":
    main()
