#!/usr/bin/env python3
"""PyTorch oracle for gcrm's fp32 decoder.

Builds the tiny Llama-style model of tests/helpers.c (D 16, H 24, L 2, 4 heads / 2 kv heads,
V 19, seq 8) in PyTorch with autograd, from fixed random weights laid out as gcrm stores them
(wqkv fuses q, k, v; w13 fuses gate and up), and writes to a small binary fixture:
weights, tokens, targets, logits, the mean cross-entropy, every parameter gradient, and the
losses, gradient norms and final weights of 5 AdamW steps (cosine schedule with warm-up,
gradient clipping), for an untied and a tied classifier.

Run with Debian's interpreter (python3-torch): /usr/bin/python3 tests/ref/torch_oracle.py tests/fixtures
Fixture format (little-endian), repeated records: u32 name length, name bytes, zero padding to a
multiple of 4, u32 kind (0 f32, 1 i32), u32 count, data.
"""
import math
import struct
import sys

import torch

torch.set_default_dtype(torch.float64)  # the oracle computes in double; C runs fp32

D, H, L, NH, NKV, V, SEQ = 16, 24, 2, 4, 2, 19, 8
HS = D // NH
KV = NKV * HS
QKV = D + 2 * KV
B, T = 2, 7
EPS, THETA = 1e-5, 10000.0
LR_MAX, LR_MIN, WARMUP, TOTAL, CLIP = 1e-2, 1e-3, 2, 5, 1.0
BETAS, ADAM_EPS, WD = (0.9, 0.95), 1e-8, 0.1


def rmsnorm(x, w):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + EPS) * w


def rope(x, nheads):
    # x (B, T, nheads*HS); rotate pairs (2i, 2i+1) by t * theta^(-2i/HS)
    b, t, _ = x.shape
    x = x.view(b, t, nheads, HS // 2, 2)
    i = torch.arange(HS // 2, dtype=torch.float64)
    freq = THETA ** (-2.0 * i / HS)
    ang = torch.arange(t, dtype=torch.float64)[:, None] * freq[None, :]
    c, s = torch.cos(ang)[None, :, None, :], torch.sin(ang)[None, :, None, :]
    x0, x1 = x[..., 0], x[..., 1]
    out = torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)
    return out.view(b, t, nheads * HS)


def forward(p, tokens, tied):
    x = p["emb"][tokens]
    mask = torch.ones(T, T).tril().bool()
    for l in range(L):
        xn = rmsnorm(x, p["attn_norm"][l])
        qkv = xn @ p["wqkv"][l].T
        q, k, v = qkv[..., :D], qkv[..., D:D + KV], qkv[..., D + KV:]
        q, k = rope(q, NH), rope(k, NKV)
        q = q.view(B, T, NH, HS).transpose(1, 2)
        k = k.view(B, T, NKV, HS).transpose(1, 2).repeat_interleave(NH // NKV, dim=1)
        v = v.view(B, T, NKV, HS).transpose(1, 2).repeat_interleave(NH // NKV, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(HS)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        ao = (att @ v).transpose(1, 2).reshape(B, T, D)
        x = x + ao @ p["wo"][l].T
        xn = rmsnorm(x, p["ffn_norm"][l])
        a13 = xn @ p["w13"][l].T
        g = torch.nn.functional.silu(a13[..., :H]) * a13[..., H:]
        x = x + g @ p["w2"][l].T
    hf = rmsnorm(x, p["final_norm"])
    cls = p["emb"] if tied else p["cls"]
    return hf @ cls.T


def lr_at(step):
    if step < WARMUP:
        return LR_MAX * (step + 1) / WARMUP
    frac = min(1.0, (step - WARMUP) / (TOTAL - WARMUP))
    return LR_MIN + (LR_MAX - LR_MIN) * 0.5 * (1 + math.cos(math.pi * frac))


def build(tied, gen):
    shapes = {
        "emb": (V, D), "attn_norm": (L, D), "wqkv": (L, QKV, D), "wo": (L, D, D),
        "ffn_norm": (L, D), "w13": (L, 2 * H, D), "w2": (L, D, H), "final_norm": (D,),
    }
    if not tied:
        shapes["cls"] = (V, D)
    p = {}
    for name, shape in shapes.items():
        if "norm" in name:
            w = 1.0 + 0.2 * torch.randn(shape, generator=gen)
        else:
            w = 0.3 * torch.randn(shape, generator=gen)
        # round to fp32 so C and PyTorch start from the same numbers
        p[name] = w.float().double().requires_grad_(True)
    return p


class Writer:
    def __init__(self, path):
        self.f = open(path, "wb")

    def put(self, name, tensor, kind=0):
        flat = tensor.detach().reshape(-1).tolist()
        nb = name.encode()
        pad = b"\0" * (-len(nb) % 4)  # keeps every payload 4-byte aligned
        self.f.write(struct.pack("<I", len(nb)) + nb + pad + struct.pack("<II", kind, len(flat)))
        fmt = "<%d%s" % (len(flat), "f" if kind == 0 else "i")
        self.f.write(struct.pack(fmt, *flat))

    def close(self):
        self.f.close()


def main(outdir):
    for tied in (0, 1):
        gen = torch.Generator().manual_seed(1234 + tied)
        p = build(tied, gen)
        tokens = torch.randint(0, V, (B, T), generator=gen)
        targets = torch.randint(0, V, (B, T), generator=gen)
        targets[0, 3] = -1
        w = Writer("%s/torch_tiny_%s.bin" % (outdir, "tied" if tied else "untied"))
        w.put("config", torch.tensor([D, H, L, NH, NKV, V, SEQ, tied, B, T]), 1)
        w.put("tokens", tokens, 1)
        w.put("targets", targets, 1)
        for name, t in p.items():
            w.put("param." + name, t)
        logits = forward(p, tokens, tied)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, V), targets.view(-1),
                                                 ignore_index=-1)
        loss.backward()
        w.put("logits", logits)
        w.put("loss", loss.reshape(1))
        for name, t in p.items():
            w.put("grad." + name, t.grad)
        # 5 AdamW steps: weight decay on matrices only, as gcrm's tensor table says
        decay = [t for n, t in p.items() if "norm" not in n]
        no_decay = [t for n, t in p.items() if "norm" in n]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=LR_MAX, betas=BETAS, eps=ADAM_EPS)
        losses, norms = [], []
        for step in range(TOTAL):
            opt.zero_grad()
            logits = forward(p, tokens, tied)
            loss = torch.nn.functional.cross_entropy(logits.view(-1, V), targets.view(-1),
                                                     ignore_index=-1)
            loss.backward()
            norms.append(float(torch.nn.utils.clip_grad_norm_(list(p.values()), CLIP)))
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            opt.step()
            losses.append(float(loss))
        w.put("adam.losses", torch.tensor(losses))
        w.put("adam.grad_norms", torch.tensor(norms))
        for name, t in p.items():
            w.put("adam.param." + name, t)
        w.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
