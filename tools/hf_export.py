#!/usr/bin/env python3
"""Export a llama2.c checkpoint (stories260K.bin) to Hugging Face's layout: DIR/config.json and
DIR/model.safetensors (F32), with q_proj and k_proj permuted into Hugging Face's rotate-half order
as transformers' convert_llama_weights_to_hf.py does. With --tokenizer, also the llama2.c
tokenizer (tok512.bin: per piece a score, spaces written as ' ') as DIR/tokenizer.json in the
Llama 2 family's layout (normalizer: prepend and replace spaces by U+2581; BPE with byte fallback,
its merges every split of a piece into two pieces, ranked by the merged piece's score, highest
first, as transformers' SentencePiece converter ranks them; the <s> template) and
DIR/tokenizer_config.json. Plain Python (struct, json), so it runs wherever python3 does; written
from the formats' specifications, independently of gcrm's C reader and writer, which the tests
check against it (tests/test_hf.c).

usage: python3 tools/hf_export.py CHECKPOINT.bin OUTDIR [--tokenizer TOKENIZER.bin]
"""
import json
import os
import struct
import sys


SPACE = "\u2581"


def export_tokenizer(path, out):
    with open(path, "rb") as f:
        data = f.read()
    at, pieces = 4, []
    while at < len(data):
        score, n = struct.unpack_from("<fi", data, at)
        pieces.append((data[at + 8 : at + 8 + n].decode("utf-8"), score))
        at += 8 + n
    if len(pieces) < 259:
        sys.exit("%s: %d pieces; a llama2.c tokenizer has <unk>, <s>, </s> and 256 bytes first"
                 % (path, len(pieces)))
    special = ["<unk>", "<s>", "</s>"]
    vocab = {}
    for i, (text, _) in enumerate(pieces):
        vocab[special[i] if i < 3 else text.replace(" ", SPACE)] = i
    merges = []
    for piece, i in vocab.items():
        if i < 259:
            continue
        local = [(piece[:k], piece[k:]) for k in range(1, len(piece))
                 if piece[:k] in vocab and piece[k:] in vocab]
        local.sort(key=lambda lr: (vocab[lr[0]], vocab[lr[1]]))
        merges += [(l, r, pieces[i][1]) for l, r in local]
    merges.sort(key=lambda m: -m[2])  # stable: ties keep the order above
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in enumerate(special)]
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPACE},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [[l, r] for l, r, _ in merges]},
    }
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    config = {"tokenizer_class": "LlamaTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False,
              "model_max_length": 1000000000000000019884624838656}
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=1)


def write_safetensors(out, tensors):
    """OUT/model.safetensors of (name, shape, values) tensors, F32, in order"""
    os.makedirs(out, exist_ok=True)
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, vals in tensors:
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + 4 * len(vals)]}
        off += 4 * len(vals)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, vals in tensors:
            f.write(struct.pack("<%df" % len(vals), *vals))


def main():
    args = sys.argv[1:]
    tokenizer = None
    if len(args) == 4 and args[2] == "--tokenizer":
        tokenizer = args[3]
        args = args[:2]
    if len(args) != 2:
        sys.exit(__doc__)
    src, out = args
    with open(src, "rb") as f:
        data = f.read()
    dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack_from("<7i", data, 0)
    tied = vocab > 0
    vocab = abs(vocab)
    hs = dim // heads
    kv = kv_heads * hs
    floats = (len(data) - 28) // 4
    w = struct.unpack_from("<%df" % floats, data, 28)
    at = 0

    def take(n):
        nonlocal at
        at += n
        return w[at - n : at]

    def rows(flat, r, c):
        return [flat[i * c : (i + 1) * c] for i in range(r)]

    def permute(mat, nh):
        # HF row h*hs + c*hs/2 + i holds the original row h*hs + 2i + c
        outm = [None] * len(mat)
        for h in range(nh):
            for r in range(hs):
                outm[h * hs + (r % 2) * (hs // 2) + r // 2] = mat[h * hs + r]
        return outm

    emb = take(vocab * dim)
    attn_norm = take(layers * dim)
    wq = take(layers * dim * dim)
    wk = take(layers * kv * dim)
    wv = take(layers * kv * dim)
    wo = take(layers * dim * dim)
    ffn_norm = take(layers * dim)
    w1 = take(layers * hidden * dim)
    w2 = take(layers * dim * hidden)
    w3 = take(layers * hidden * dim)
    final_norm = take(dim)
    take(seq * hs)  # the legacy RoPE tables
    cls = None if tied else take(vocab * dim)
    if at != floats:
        sys.exit("%s: %d floats, the header implies %d" % (src, floats, at))

    tensors = [("model.embed_tokens.weight", [vocab, dim], list(emb))]
    for l in range(layers):
        p = "model.layers.%d." % l
        q = permute(rows(wq[l * dim * dim : (l + 1) * dim * dim], dim, dim), heads)
        k = permute(rows(wk[l * kv * dim : (l + 1) * kv * dim], kv, dim), kv_heads)
        tensors += [
            (p + "input_layernorm.weight", [dim], list(attn_norm[l * dim : (l + 1) * dim])),
            (p + "self_attn.q_proj.weight", [dim, dim], [x for r in q for x in r]),
            (p + "self_attn.k_proj.weight", [kv, dim], [x for r in k for x in r]),
            (p + "self_attn.v_proj.weight", [kv, dim], list(wv[l * kv * dim : (l + 1) * kv * dim])),
            (p + "self_attn.o_proj.weight", [dim, dim], list(wo[l * dim * dim : (l + 1) * dim * dim])),
            (p + "post_attention_layernorm.weight", [dim], list(ffn_norm[l * dim : (l + 1) * dim])),
            (p + "mlp.gate_proj.weight", [hidden, dim],
             list(w1[l * hidden * dim : (l + 1) * hidden * dim])),
            (p + "mlp.up_proj.weight", [hidden, dim],
             list(w3[l * hidden * dim : (l + 1) * hidden * dim])),
            (p + "mlp.down_proj.weight", [dim, hidden],
             list(w2[l * dim * hidden : (l + 1) * dim * hidden])),
        ]
    tensors.append(("model.norm.weight", [dim], list(final_norm)))
    if not tied:
        tensors.append(("lm_head.weight", [vocab, dim], list(cls)))

    write_safetensors(out, tensors)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": dim,
              "intermediate_size": hidden, "num_hidden_layers": layers,
              "num_attention_heads": heads, "num_key_value_heads": kv_heads, "vocab_size": vocab,
              "max_position_embeddings": seq, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
              "tie_word_embeddings": tied, "hidden_act": "silu", "bos_token_id": 1,
              "eos_token_id": 2, "torch_dtype": "float32"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    if tokenizer:
        export_tokenizer(tokenizer, out)


if __name__ == "__main__":
    main()
