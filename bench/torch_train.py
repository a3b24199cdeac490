#!/usr/bin/env python3
"""The gcrm benchmark model in PyTorch (CPU, fp32): the same Llama-style decoder (RMSNorm, rotary,
causal attention, SwiGLU, tied classifier), batch, sequence and thread count, trained with AdamW,
gradient clipping and cross-entropy exactly as gcrm-bench train does. Prints one JSON line."""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):  # torch 1.13 (Debian 12) has no nn.RMSNorm
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def causal_attention(q, k, v):
    # torch >= 2.0 has F.scaled_dot_product_attention; written out for 1.13
    t = q.shape[-2]
    att = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    mask = torch.ones(t, t, dtype=torch.bool).triu(1)
    return att.masked_fill(mask, float("-inf")).softmax(-1) @ v


class Block(nn.Module):
    def __init__(self, d, h, nh, nkv):
        super().__init__()
        self.nh, self.nkv, self.hs = nh, nkv, d // nh
        self.attn_norm, self.ffn_norm = RMSNorm(d), RMSNorm(d)
        self.wq = nn.Linear(d, d, bias=False)
        self.wk = nn.Linear(d, nkv * self.hs, bias=False)
        self.wv = nn.Linear(d, nkv * self.hs, bias=False)
        self.wo = nn.Linear(d, d, bias=False)
        self.w1 = nn.Linear(d, h, bias=False)
        self.w3 = nn.Linear(d, h, bias=False)
        self.w2 = nn.Linear(h, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, d = x.shape
        xn = self.attn_norm(x)
        q = self.wq(xn).view(b, t, self.nh, self.hs)
        k = self.wk(xn).view(b, t, self.nkv, self.hs)
        v = self.wv(xn).view(b, t, self.nkv, self.hs)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))
        if self.nkv != self.nh:
            k = k.repeat_interleave(self.nh // self.nkv, dim=1)
            v = v.repeat_interleave(self.nh // self.nkv, dim=1)
        a = causal_attention(q, k, v)
        x = x + self.wo(a.transpose(1, 2).reshape(b, t, d))
        xn = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(xn)) * self.w3(xn))


def rope(x, cos, sin):
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2)


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.emb = nn.Embedding(a.vocab, a.dim)
        self.blocks = nn.ModuleList(Block(a.dim, a.hidden, a.heads, a.kv_heads)
                                    for _ in range(a.layers))
        self.norm = RMSNorm(a.dim)
        hs = a.dim // a.heads
        freq = 10000.0 ** (-torch.arange(0, hs, 2).float() / hs)
        ang = torch.arange(a.seq).float()[:, None] * freq[None, :]
        self.register_buffer("cos", torch.cos(ang)[None, :, None, :])
        self.register_buffer("sin", torch.sin(ang)[None, :, None, :])
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, tok):
        x = self.emb(tok)
        for blk in self.blocks:
            x = blk(x, self.cos, self.sin)
        return self.norm(x) @ self.emb.weight.T  # tied classifier


def main():
    p = argparse.ArgumentParser()
    for k, v in [("dim", 128), ("hidden", 344), ("layers", 5), ("heads", 4), ("kv-heads", 4),
                 ("vocab", 512), ("seq", 128), ("batch", 16), ("steps", 10), ("warmup", 2),
                 ("threads", 2)]:
        p.add_argument("--" + k, type=int, default=v)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Model(a)
    n_params = sum(q.numel() for q in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8,
                            weight_decay=0.0)
    data = torch.randint(0, a.vocab, (a.batch * a.seq * 4 + 1,))
    g = torch.Generator().manual_seed(1)
    t0 = None
    for step in range(a.warmup + a.steps):
        if step == a.warmup:
            t0 = time.perf_counter()
        starts = torch.randint(0, data.numel() - a.seq, (a.batch,), generator=g)
        tok = torch.stack([data[s:s + a.seq] for s in starts])
        tgt = torch.stack([data[s + 1:s + 1 + a.seq] for s in starts])
        logits = model(tok)
        loss = F.cross_entropy(logits.view(-1, a.vocab), tgt.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    el = time.perf_counter() - t0
    print(json.dumps({"kind": "train", "impl": "pytorch", "torch": torch.__version__,
                      "params": n_params, "dim": a.dim, "layers": a.layers, "seq": a.seq,
                      "batch": a.batch, "steps": a.steps,
                      "tokens_per_s": round(a.batch * a.seq * a.steps / el, 1),
                      "final_loss": round(float(loss), 4), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
