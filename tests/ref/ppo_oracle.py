"""PPO oracle: OpenRLHF's formulas written in PyTorch (Debian's python3-torch), double precision:
per-token rewards with the KL penalty, GAE, masked whitening, running moments, the clipped policy
surrogate and the clipped value loss with their gradients by autograd. Written to
tests/fixtures/ppo_oracle.json; run with /usr/bin/python3 (make fixtures)."""
import json
import sys

import torch

D = torch.float64


def masked_mean(x, m):
    return (x * m).sum() / m.sum()


def main(outdir):
    g = torch.Generator().manual_seed(20261130)
    T = 9
    logp = torch.randn(T, generator=g, dtype=D) - 2
    logp_ref = logp + 0.3 * torch.randn(T, generator=g, dtype=D)
    values = torch.randn(T, generator=g, dtype=D)
    kl_coef, score, gamma, lam = 0.02, 1.7, 1.0, 0.95
    rewards = -kl_coef * (logp - logp_ref)
    rewards[-1] += score
    adv = torch.zeros(T, dtype=D)
    last = 0.0
    for t in reversed(range(T)):
        nxt = values[t + 1] if t + 1 < T else 0.0
        delta = rewards[t] + gamma * nxt - values[t]
        last = delta + gamma * lam * last
        adv[t] = last
    ret = adv + values

    n = 40
    mask = (torch.rand(n, generator=g) < 0.8).to(D)
    x = torch.randn(n, generator=g, dtype=D) * 2 + 0.5
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    white = ((x - mean) / (var.sqrt() + 1e-8)) * mask + x * (1 - mask)

    batches = [torch.randn(k, generator=g, dtype=D) * 3 + 1 for k in (5, 8, 3)]
    m_mean, m_var, m_count = 0.0, 1.0, 1e-24
    for b in batches:
        bm, bv, k = b.mean().item(), b.var(unbiased=False).item(), len(b)
        tot = m_count + k
        delta = bm - m_mean
        m2 = m_var * m_count + bv * k + delta ** 2 * m_count * k / tot
        m_mean += delta * k / tot
        m_var = m2 / tot
        m_count = tot

    eps, eps_v = 0.2, 0.2
    lp_old = torch.randn(n, generator=g, dtype=D) - 2
    lp_new = (lp_old + 0.4 * torch.randn(n, generator=g, dtype=D)).requires_grad_(True)
    a = torch.randn(n, generator=g, dtype=D)
    ratio = (lp_new - lp_old).exp()
    pl = masked_mean(-torch.min(ratio * a, ratio.clamp(1 - eps, 1 + eps) * a), mask)
    pl.backward()
    clipfrac = masked_mean(((ratio - ratio.clamp(1 - eps, 1 + eps)).abs() > 0).to(D), mask)

    v_old = torch.randn(n, generator=g, dtype=D)
    v = (v_old + 0.5 * torch.randn(n, generator=g, dtype=D)).requires_grad_(True)
    r = torch.randn(n, generator=g, dtype=D)
    vc = v_old + (v - v_old).clamp(-eps_v, eps_v)
    vl = 0.5 * masked_mean(torch.max((vc - r) ** 2, (v - r) ** 2), mask)
    vl.backward()

    out = dict(
        T=T, logp=logp.tolist(), logp_ref=logp_ref.tolist(), values=values.tolist(),
        kl_coef=kl_coef, score=score, gamma=gamma, lam=lam,
        rewards=rewards.tolist(), adv=adv.tolist(), ret=ret.tolist(),
        n=n, mask=mask.tolist(), x=x.tolist(), white=white.tolist(),
        batches=[b.tolist() for b in batches], m_mean=m_mean, m_var=m_var,
        eps=eps, lp_old=lp_old.tolist(), lp_new=lp_new.detach().tolist(), a=a.tolist(),
        policy_loss=pl.item(), policy_grad=lp_new.grad.tolist(), clipfrac=clipfrac.item(),
        eps_v=eps_v, v_old=v_old.tolist(), v=v.detach().tolist(), r=r.tolist(),
        value_loss=vl.item(), value_grad=v.grad.tolist())
    with open(outdir + "/ppo_oracle.json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
