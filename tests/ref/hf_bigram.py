#!/usr/bin/env python3
"""A stand-in policy for the full scale's sampling tests: a Llama-shaped model in Hugging Face's
layout whose every block adds nothing (o_proj and down_proj zero), so that each next token depends
on the current token alone (a bigram model), wired to answer every prompt with "\\nA: 1" or
"\\nA: 2" (even odds) and then the EOS. The answer follows GSM8k's example model solutions' "A:"
line, so the harness's grader reads it.

Reads SRC, a model directory with config.json and tokenizer.json (stories260K as
tools/hf_export.py --tokenizer writes it), and writes OUT with the same shape and tokenizer,
untied embeddings and F32 safetensors (tools/hf_export.py's writer). Plain Python.

usage: python3 tests/ref/hf_bigram.py SRC OUT
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from hf_export import write_safetensors  # noqa: E402


def token(vocab, text):
    """the id of a one-character piece, else of its byte-fallback token"""
    if text in vocab:
        return vocab[text]
    return vocab["<0x%02X>" % ord(text)]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1:]
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(src, "tokenizer.json")) as f:
        vocab = json.load(f)["model"]["vocab"]
    dim, hidden = cfg["hidden_size"], cfg["intermediate_size"]
    layers, heads, kv_heads = cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg[
        "num_key_value_heads"]
    V = cfg["vocab_size"]
    kv = kv_heads * (dim // heads)
    eos = cfg["eos_token_id"]
    nl, a, colon, space = (token(vocab, c) for c in ("\n", "A", ":", "\u2581"))
    one, two = token(vocab, "1"), token(vocab, "2")
    chain = [nl, a, colon, space, one, two]  # basis vectors 0..5; every other token: 6
    nxt = {nl: [a], a: [colon], colon: [space], space: [one, two], one: [eos], two: [eos]}
    emb = [0.0] * (V * dim)
    for t in range(V):
        emb[t * dim + (chain.index(t) if t in chain else 6)] = 1.0
    head = [0.0] * (V * dim)
    c = 3.0  # rmsnorm makes a unit basis vector 8 long: the chosen logits are 24, the rest 0
    for src_tok, targets in nxt.items():
        for t in targets:
            head[t * dim + chain.index(src_tok)] = c
    for t in [nl]:  # from any other token: the newline
        head[t * dim + 6] = c

    zeros = lambda n: [0.0] * n
    ones = lambda n: [1.0] * n
    tensors = [("model.embed_tokens.weight", [V, dim], emb)]
    for l in range(layers):
        p = "model.layers.%d." % l
        tensors += [
            (p + "input_layernorm.weight", [dim], ones(dim)),
            (p + "self_attn.q_proj.weight", [dim, dim], zeros(dim * dim)),
            (p + "self_attn.k_proj.weight", [kv, dim], zeros(kv * dim)),
            (p + "self_attn.v_proj.weight", [kv, dim], zeros(kv * dim)),
            (p + "self_attn.o_proj.weight", [dim, dim], zeros(dim * dim)),
            (p + "post_attention_layernorm.weight", [dim], ones(dim)),
            (p + "mlp.gate_proj.weight", [hidden, dim], zeros(hidden * dim)),
            (p + "mlp.up_proj.weight", [hidden, dim], zeros(hidden * dim)),
            (p + "mlp.down_proj.weight", [dim, hidden], zeros(dim * hidden)),
        ]
    tensors += [("model.norm.weight", [dim], ones(dim)), ("lm_head.weight", [V, dim], head)]

    write_safetensors(out, tensors)
    cfg["tie_word_embeddings"] = False
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(src, name)):
            shutil.copy(os.path.join(src, name), os.path.join(out, name))


if __name__ == "__main__":
    main()
