#!/usr/bin/env python3
"""`make bench`: runs gcrm-bench and the PyTorch twin in one go and prints one table.

  (i)   OpenBLAS sgemm GFLOP/s on this machine (best over sizes and trials): the matmul peak
  (ii)  training tokens/s, small (~1M parameters, seq 128, batch 16) and larger (~20M, width 512,
        seq 256, batch 16) configs, share of step time in matmul, model GFLOP/s as a share of peak
  (iii) the identical model, batch and thread count in PyTorch (CPU), ratio gcrm / PyTorch; the two
        are measured in ROUNDS alternating rounds (gcrm, PyTorch, gcrm, ...) and each side's median
        round is reported, with the range of the rounds' ratios: on a shared machine a burst of
        load then slows one round of each side, not the whole comparison
  (iv)  KV-cache generation tokens/s on stories260K, beside llama2.c's run.c on the same model
        and thread count when a llama2.c checkout is given (--llama2c DIR or LLAMA2C_DIR: its
        run.c is built here with -Ofast -march=native -fopenmp, as its README builds it, and run
        greedily for 256 tokens; its own "achieved tok/s", best of 5); and gcrm's batched
        throughput, GEN_BATCH sequences decoded together (llama2.c decodes one)
  (v)   a per-op profile of a training step (each config) and of a decode step: every op of the
        model's backend timed (lib/model/backend_prof.h), its share of the step's wall time
The machine is shared and noisy: read the ratios within one run. Writes build/bench.json.
usage: bench.py BENCH_BIN [--threads N] [--data DIR] [--llama2c DIR] [--rounds N]"""
import argparse
import json
import os
import subprocess
import sys
import time

GEN_BATCH = 32  # sequences decoded together in the batched generation row (llama2.c has no batch)
ROUNDS = 3      # alternating gcrm / PyTorch training measurements per config

CONFIGS = {
    "small": dict(dim=128, hidden=344, layers=5, heads=4, kv_heads=4, vocab=512, seq=128,
                  batch=16, steps=10, warmup=2),
    "large": dict(dim=512, hidden=1376, layers=6, heads=8, kv_heads=8, vocab=512, seq=256,
                  batch=16, steps=3, warmup=1),
}


def run_json(cmd, env):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def median_run(runs):
    """the run with the median tokens/s (the lower middle one of an even count)"""
    return sorted(runs, key=lambda r: r["tokens_per_s"])[(len(runs) - 1) // 2]


def flags(cfg):
    return [x for k, v in cfg.items() for x in ("--" + k.replace("_", "-"), str(v))]


def llama2c(a, env, model):
    """llama2.c's run.c built and run on stories260K: its tokens/s (best of 5), or why not."""
    src = os.path.join(a.llama2c, "run.c") if a.llama2c else ""
    if not src or not os.path.exists(src):
        return "not measured (give a llama2.c checkout with --llama2c DIR or LLAMA2C_DIR)"
    exe = os.path.join("build", "llama2c-run")
    os.makedirs("build", exist_ok=True)
    subprocess.run(["cc", "-Ofast", "-march=native", "-fopenmp", src, "-lm", "-o", exe],
                   check=True)
    tok = os.path.join(os.path.dirname(model), "tok512.bin")
    best = 0.0
    for _ in range(5):
        r = subprocess.run([exe, model, "-z", tok, "-t", "0", "-n", "256"], capture_output=True,
                           text=True, env=env)
        for line in (r.stdout + r.stderr).splitlines():
            if "achieved tok/s:" in line:
                best = max(best, float(line.split("achieved tok/s:")[1]))
    try:
        commit = subprocess.run(["git", "-C", a.llama2c, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    return {"tokens_per_s": best, "commit": commit} if best else "run.c printed no tokens/s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_bin")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--data", default=os.environ.get("GCRM_DATA", "../shared/data"))
    ap.add_argument("--llama2c", default=os.environ.get("LLAMA2C_DIR", ""))
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    a = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    here = os.path.dirname(os.path.abspath(__file__))
    report = {"threads": a.threads, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        report["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                          capture_output=True, text=True).stdout.strip()
    except OSError:
        report["commit"] = "unknown"

    peak = max(r["gflops"] for _ in range(3) for r in run_json([a.bench_bin, "sgemm"], env)
               if r["kind"] == "sgemm_peak")
    report["sgemm_peak_gflops"] = peak
    rows = []
    for name, cfg in CONFIGS.items():
        gs, ts = [], []
        for _ in range(max(1, a.rounds)):
            out = run_json([a.bench_bin, "train"] + flags(cfg), env)
            g = next(r for r in out if r["kind"] == "train")
            g["profile"] = next((r for r in out if r["kind"] == "profile"), None)
            t = run_json([sys.executable, os.path.join(here, "torch_train.py"), "--threads",
                          str(a.threads)] + flags(cfg), env)[0]
            if g["params"] != t["params"]:
                sys.exit("bench: gcrm and PyTorch models differ in size (%d vs %d parameters)"
                         % (g["params"], t["params"]))
            gs.append(g)
            ts.append(t)
        rounds = [g["tokens_per_s"] / t["tokens_per_s"] for g, t in zip(gs, ts)]
        g = median_run(gs)
        t = median_run(ts)
        rows.append((name, g, t, rounds))
        report[name] = {"gcrm": g, "pytorch": t, "ratio": g["tokens_per_s"] / t["tokens_per_s"],
                        "rounds": [{"gcrm": x["tokens_per_s"], "pytorch": y["tokens_per_s"]}
                                   for x, y in zip(gs, ts)]}
    model = os.path.join(a.data, "models/stories260K/stories260K.bin")
    gen = None
    if os.path.exists(model):
        out = run_json([a.bench_bin, "generate", "--checkpoint", model], env)
        gen = next(r for r in out if r["kind"] == "generate")
        gen["profile"] = next((r for r in out if r["kind"] == "profile"), None)
        out = run_json([a.bench_bin, "generate", "--checkpoint", model, "--batch",
                        str(GEN_BATCH)], env)
        gen["batched"] = next(r for r in out if r["kind"] == "generate")
    report["generate"] = gen
    report["llama2c"] = llama2c(a, env, model) if gen else None

    print("gcrm bench  (commit %s, %d threads)" % (report["commit"], a.threads))
    print("  sgemm peak (OpenBLAS, fastest call, sizes 256..2048, NT and NN): %.1f GFLOP/s" % peak)
    print("  training: median of %d alternating rounds per side; rounds = each round's ratio"
          % max(1, a.rounds))
    print("  %-6s %10s %6s %4s %12s %12s %8s %14s %8s %10s" % (
        "config", "params", "seq", "B", "gcrm tok/s", "torch tok/s", "ratio", "rounds",
        "matmul", "of peak"))
    for name, g, t, rounds in rows:
        print("  %-6s %10d %6d %4d %12.0f %12.0f %7.2fx %14s %7.0f%% %9.0f%%" % (
            name, g["params"], g["seq"], g["batch"], g["tokens_per_s"], t["tokens_per_s"],
            g["tokens_per_s"] / t["tokens_per_s"],
            "%.2f-%.2fx" % (min(rounds), max(rounds)), 100 * g["matmul_share"],
            100 * g["gflops"] / peak))
    if gen:
        print("  KV-cache generation, stories260K (batch 1): %.0f tokens/s; batch %d: %.0f tokens/s"
              % (gen["tokens_per_s"], GEN_BATCH, gen["batched"]["tokens_per_s"]))
        l2c = report["llama2c"]
        if isinstance(l2c, dict):
            print("  llama2.c run.c (%s), same model and threads: %.0f tokens/s; gcrm / llama2.c "
                  "%.2fx" % (l2c["commit"], l2c["tokens_per_s"],
                             gen["tokens_per_s"] / l2c["tokens_per_s"]))
        else:
            print("  llama2.c run.c: %s" % l2c)
    else:
        print("  KV-cache generation: skipped (%s not found)" % model)
    print("  matmul = share of step time inside BLAS; of peak = model GFLOP/s / sgemm peak")
    print("  per-op profile (share of a step's wall time, every op timed; other = the rest):")
    profiles = [("train " + name, g["profile"]) for name, g, _, _ in rows]
    if gen:
        profiles.append(("decode stories260K", gen["profile"]))
    for label, prof in profiles:
        if prof:
            ops = ", ".join("%s %.0f%%" % (k, 100 * v) for k, v in prof["shares"].items()
                            if v >= 0.005)
            print("    %-20s %8.2f ms/step: %s" % (label, 1e3 * prof["step_s"], ops))
    os.makedirs("build", exist_ok=True)
    with open("build/bench.json.tmp", "w") as f:
        json.dump(report, f, indent=1)
    os.replace("build/bench.json.tmp", "build/bench.json")


if __name__ == "__main__":
    main()
