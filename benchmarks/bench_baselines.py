"""Speed of the baseline scores (LogME, LEEP, NCE, NLEEP, H-score, regularised H-score; NCTI, ETran, ITM,
k-NN and probe accuracy).

Features are Gaussian class clusters, float32 as extracted features are; source logits are a noisy
one-hot of the labels over C source classes. Every score is warmed up on a tiny problem first (BLAS
threads, lazy LAPACK loading), then timed once per size; ``seconds`` is ScoreResult.seconds (the score
itself, not the input validation).

    .venv/bin/python benchmarks/bench_baselines.py --quick
    .venv/bin/python benchmarks/bench_baselines.py --sizes 50000x2048x100 --scores logme hscore
    .venv/bin/python benchmarks/bench_baselines.py --threads 1      # one BLAS thread (busy machines)
    .venv/bin/python benchmarks/bench_baselines.py --sizes 20000x1024x50 --threads 1 \
        --scores logme ncti etran itm knn probe_accuracy --out benchmarks/results/baselines_v22_cpu.md
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import numpy as np
import torch

import lead_hf

BASELINES = ("logme", "leep", "nce", "nleep", "hscore", "hscore_reg", "ncti", "etran", "itm", "knn", "probe_accuracy")


def make_data(n: int, d: int, k: int, c: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    feats = rng.standard_normal((k, d), dtype=np.float32)[labels] * 0.5 + rng.standard_normal((n, d), dtype=np.float32)
    logits = rng.standard_normal((n, c), dtype=np.float32)
    logits[np.arange(n), labels % c] += 2.0
    return feats, labels, logits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["2000x512x10", "10000x2048x100"],
                    help="NxDxK triples")
    ap.add_argument("--scores", nargs="+", default=list(BASELINES), choices=BASELINES)
    ap.add_argument("--source-classes", type=int, default=1000, help="C, columns of the source logits")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--nleep-covariance", default="diag", choices=("diag", "full"),
                    help="NLEEP's mixture covariance (full is scikit-learn's default and much slower)")
    ap.add_argument("--quick", action="store_true", help="one small size")
    ap.add_argument("--out", default=None, help="also write the table (with the command and date) to this file")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = ["1000x256x10"] if args.quick else args.sizes
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines: list[str] = []

    def emit(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    emit(f"# baselines, device={args.device}, torch threads={torch.get_num_threads()}, "
         f"load average {load:.1f} on {os.cpu_count()} cores, {datetime.date.today().isoformat()}\n")
    emit("`" + " ".join(["benchmarks/bench_baselines.py", *sys.argv[1:]]) + "`\n")
    emit("| score | N | D | K | seconds | value |")
    emit("|---|---|---|---|---|---|")
    wf, wy, wl = make_data(60, 8, 3, 5, seed=1)
    for name in args.scores:
        opts = {"covariance": args.nleep_covariance} if name == "nleep" else {}
        lead_hf.score(name, wf, wy, source_logits=wl, device=args.device, **opts)   # warm-up
    for size in sizes:
        n, d, k = (int(v) for v in size.lower().split("x"))
        feats, labels, logits = make_data(n, d, k, args.source_classes)
        for name in args.scores:
            opts = {"covariance": args.nleep_covariance} if name == "nleep" else {}
            start = time.perf_counter()
            result = lead_hf.compute_score(name, feats, labels, source_logits=logits, device=args.device, **opts)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            total = time.perf_counter() - start
            emit(f"| {name} | {n} | {d} | {k} | {result.seconds:.2f} (with validation {total:.2f}) | "
                 f"{result.value:.4f} |")
    if args.out:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        lines.append(f"\nload average at the end: {load:.1f}")
        from lead_hf.utils.io import write_text_atomic
        write_text_atomic(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
