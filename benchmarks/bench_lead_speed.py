"""Speed and peak memory of LEAD against LogME and against LEAD's straightforward reference.

Features: Gaussian class clusters (real class structure), float32 in, as extracted features are.
Each measurement runs in a fresh subprocess so that its peak RSS is its own. LEAD and LogME are timed
alternately in the same run, so their ratio is measured side by side on the same (noisy) machine.

    .venv/bin/python benchmarks/bench_lead_speed.py                 # the README table (CPU)
    .venv/bin/python benchmarks/bench_lead_speed.py --quick         # a small smoke run
    .venv/bin/python benchmarks/bench_lead_speed.py --device cuda   # on a GPU machine
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
import lead_hf
from lead_hf.scores.lead import LeadOptions
cfg = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
n, d, k = cfg["n"], cfg["d"], cfg["k"]
labels = np.arange(n) % k
means = rng.standard_normal((k, d), dtype=np.float32) * 0.5
feats = means[labels] + rng.standard_normal((n, d), dtype=np.float32)
# warm-up on a tiny problem: library initialisation (BLAS/LAPACK threads, CUDA context) is not timed
warm = np.random.default_rng(1).standard_normal((60, 8))
if cfg["impl"] != "reference":
    lead_hf.score(cfg["impl"], warm, np.arange(60) % 3, device=cfg["device"])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if cfg["impl"] == "reference":
    from lead_hf.testing.lead_reference import reference_lead
    value = reference_lead(feats, labels, LeadOptions(**cfg["options"]), svm_tol=1e-4)  # LinearSVC's default
else:
    value = lead_hf.score(cfg["impl"], feats, labels, device=cfg["device"], **cfg["options"])
    if cfg["device"].startswith("cuda"):
        torch.cuda.synchronize()
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
gpu_peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
print(json.dumps({"seconds": seconds, "value": value, "peak_rss_mb": peak / 1024,
                  "extra_rss_mb": max(peak - before, 0) / 1024, "gpu_peak_mb": gpu_peak / 2**20}))
"""


def run(impl: str, n: int, d: int, k: int, device: str, options: dict | None = None) -> dict:
    cfg = dict(impl=impl, n=n, d=d, k=k, device=device, options=options or {})
    # Passive OpenMP waiting: on a CPU shared with other work, spinning threads make LAPACK's eigh up to
    # 15x slower (measured here: 2049 x 2049 eigh, 40 s spinning vs 2.7 s passive, load average 5).
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} n={n} d={d} k={k} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def torch_threads() -> int:
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                         capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--json", help="also write the raw measurements here")
    args = ap.parse_args()
    sizes = [(n, d, k) for n in (1000, 10000, 50000) for d in (512, 2048) for k in (10, 100)]
    if args.quick:
        sizes = [(1000, 512, 10), (1000, 512, 100)]
    raw = {"speed": [], "reference": []}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# LEAD vs LogME, device={args.device}, median of {args.repeats} runs (each in a fresh process), "
          f"torch threads {torch_threads()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'PASSIVE')}, "
          f"load average at start {load:.1f}\n")
    print("| N | D | K | LEAD s | LogME s | LEAD / LogME | LEAD peak RSS MB | LogME peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for n, d, k in sizes:
        reps = args.repeats if n * d <= 10000 * 2048 else max(1, min(args.repeats, 3))
        lead_runs, logme_runs = [], []
        for _ in range(reps):  # alternate so that both see the same machine load
            lead_runs.append(run("lead", n, d, k, args.device))
            logme_runs.append(run("logme", n, d, k, args.device))
        t_lead = statistics.median(r["seconds"] for r in lead_runs)
        t_logme = statistics.median(r["seconds"] for r in logme_runs)
        m_lead = max(r["peak_rss_mb"] for r in lead_runs)
        m_logme = max(r["peak_rss_mb"] for r in logme_runs)
        raw["speed"].append(dict(n=n, d=d, k=k, lead=lead_runs, logme=logme_runs))
        print(f"| {n} | {d} | {k} | {t_lead:.2f} | {t_logme:.2f} | {t_lead / t_logme:.2f} | {m_lead:.0f} | {m_logme:.0f} |",
              flush=True)
    if not args.skip_reference and not args.quick:
        print("\n# Fast path vs the straightforward reference (lead_hf/testing/lead_reference.py), N=10000, one run each\n")
        print("| variant | D | K | fast s | reference s | speed-up | |fast - reference| |")
        print("|---|---|---|---|---|---|---|")
        variants = {
            "default (LS-SVM, 5-fold)": {},
            "paper (squared-hinge LinearSVC, in-sample, C=1)": {"svm_loss": "squared_hinge", "svm_fit": "in_sample"},
        }
        sizes_for = {"default (LS-SVM, 5-fold)": ((512, 10), (2048, 10)),
                     # liblinear on 10 one-vs-rest problems of 10k x 2048 takes very long: D=512 only
                     "paper (squared-hinge LinearSVC, in-sample, C=1)": ((512, 10),)}
        for name, opts in variants.items():
            for d, k in sizes_for[name]:
                fast = run("lead", 10000, d, k, args.device, opts)
                ref = run("reference", 10000, d, k, "cpu", opts)
                raw["reference"].append(dict(variant=name, d=d, k=k, fast=fast, reference=ref))
                print(f"| {name} | {d} | {k} | {fast['seconds']:.2f} | {ref['seconds']:.1f} | "
                      f"{ref['seconds'] / fast['seconds']:.0f}x | {abs(fast['value'] - ref['value']):.1e} |", flush=True)
    if args.json:
        from lead_hf.io import write_json_atomic
        write_json_atomic(args.json, raw)


if __name__ == "__main__":
    main()
