"""DPO oracle: the loss and its gradient with respect to the policy's sequence log-probabilities,
computed by PyTorch (Debian's python3-torch) the way TRL's DPOTrainer does (sigmoid loss,
-logsigmoid(beta * (chosen_logratio - rejected_logratio)), mean over pairs); written to
tests/fixtures/dpo_oracle.json. Run with /usr/bin/python3 (make fixtures)."""
import json
import sys

import torch


def main(outdir):
    g = torch.Generator().manual_seed(20261130)
    cases = []
    for P, beta in [(1, 0.1), (4, 0.5), (7, 2.0)]:
        pi = (torch.randn(2 * P, generator=g, dtype=torch.float64) * 3 - 20).requires_grad_(True)
        ref = torch.randn(2 * P, generator=g, dtype=torch.float64) * 3 - 20
        logratio = pi - ref
        z = beta * (logratio[0::2] - logratio[1::2])
        loss = -torch.nn.functional.logsigmoid(z).mean()
        loss.backward()
        acc = ((z > 0).double() + 0.5 * (z == 0).double()).mean()
        cases.append(dict(P=P, beta=beta, pi=pi.detach().tolist(), ref=ref.tolist(),
                          loss=loss.item(), grad=pi.grad.tolist(), acc=acc.item()))
    with open(outdir + "/dpo_oracle.json", "w") as f:
        json.dump(dict(cases=cases), f)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
