#!/usr/bin/env python3
"""Prints the recipes table of docs/pilots.md from the pilots' results:
tools/pilot-table.py [ROOT] (default results/runs), one row per pilot-*/mini/results.json."""
import glob
import json
import os
import sys


def f(x):
    return "-" if x is None else f"{x:.3f}"


def main(root):
    print("| recipe | policy accuracy (easy / hard / big / long / para) | G0 mean lp, ID AUROC "
          "(easy / hard) | G0 min lp, ID AUROC | G0 held-out AUROC (mean / min) | G1 held-out "
          "accuracy / AUROC | G2 baseline RM AUROC (easy / hard / big / long / para) | commit |")
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(glob.glob(os.path.join(root, "pilot-*", "mini", "results.json"))):
        r = json.load(open(path))
        sp = {s["split"]: s for s in r["splits"]}
        names = ["arith-easy", "arith-hard", "arith-big", "arith-long", "arith-para"]
        acc = " / ".join(f"{sp[n]['policy_accuracy']:.3f}" for n in names if n in sp)
        g0m = " / ".join(f(sp[n].get("g0_mean_logprob")) for n in names[:2])
        g0l = " / ".join(f(sp[n].get("g0_min_result_logprob")) for n in names[:2])
        g2 = " / ".join(f(sp[n].get("g2_baseline_rm")) for n in names if n in sp)
        h = r.get("heldout", {})
        g0h = f"{f(h.get('g0_mean_logprob', {}).get('auroc'))} / " \
              f"{f(h.get('g0_min_result_logprob', {}).get('auroc'))}"
        g1 = h.get("g1_baseline_rm", {})
        print(f"| {r['experiment'][len('pilot-'):]} | {acc} | {g0m} | {g0l} | {g0h} | "
              f"{f(g1.get('accuracy'))} / {f(g1.get('auroc'))} | {g2} | {r['commit'][:7]} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/runs")
