#!/usr/bin/env python
"""What LEAD's kernel variants cost: the head's NTK on n = S*K sampled points, piece by piece.

For each n and feature dimension D (head widths 1024, 2048 as LEAD's default), one fresh process times:
the head's forward/backward signals, the n x n Gram from the layer-wise closed form, eigvalsh (lambda_max
only), eigh (the full spectrum, what full_kernel evolves with), Lanczos on that Gram (LEAD's lambda_max) and
the matrix-free Lanczos (no Gram). The
class-block variant needs K Grams of S x S and their eigh, which is listed too. Medians of --repeats.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_lead_kernel.py
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_lead_kernel.py --points 640 2048 6400 --dims 2048
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_lead_kernel.py --end-to-end   # whole LEAD vs LogME

--end-to-end times the whole score instead, LEAD's default and its kernel variants next to LogME at
N = 50,000, D = 2048, K = 100 (S*K = 6,400 sampled points), each in a fresh process (bench_lead_speed.run).

Writes benchmarks/results/lead_kernel_cost.md (and --json FILE: the raw numbers).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
import torch
from lead_hf.scores import lead as L
cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"]) if cfg["threads"] else None
n, d, k = cfg["n"], cfg["d"], cfg["k"]
gen = torch.Generator().manual_seed(0)
labels = torch.arange(n) % k
z = (torch.randn(k, d, generator=gen)[labels] * 0.5 + torch.randn(n, d, generator=gen)).abs()  # ReLU-like
out = {}
def timed(name, fn):
    start = time.perf_counter()
    value = fn()
    out[name] = time.perf_counter() - start
    return value
head = L.make_head(d, k, (1024, 2048), 0, dtype=torch.float32)
kernel = timed("signals", lambda: L.head_kernel(head, z))
gram = timed("gram", lambda: kernel.gram())
timed("eigvalsh", lambda: torch.linalg.eigvalsh(gram))
timed("eigh", lambda: torch.linalg.eigh(gram))
timed("eigh_float32", lambda: torch.linalg.eigh(gram.float()))
timed("lanczos_gram", lambda: L.lanczos_top_eigenvalue(lambda v: gram @ v, n))
timed("lanczos", lambda: L.lanczos_top_eigenvalue(kernel.matvec, n))
def blocks():
    for c in range(k):
        m = (labels == c).nonzero().squeeze(1)
        torch.linalg.eigh(kernel.gram(m))
timed("class_blocks", blocks)
print(json.dumps(out))
"""

PIECES = ("signals", "gram", "eigvalsh", "eigh", "eigh_float32", "lanczos_gram", "lanczos", "class_blocks")


def run(n: int, d: int, k: int, threads: int) -> dict:
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(dict(n=n, d=d, k=k, threads=threads))],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"n={n} d={d} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", nargs="+", type=int, default=[640, 1280, 2048, 4096, 6400],
                    help="n = S*K sampled points (S=64: K=10, 20, 32, 64, 100)")
    ap.add_argument("--dims", nargs="+", type=int, default=[512, 2048])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", default=str(HERE / "results" / "lead_kernel_cost.md"))
    ap.add_argument("--json", help="also write the raw measurements here")
    ap.add_argument("--end-to-end", action="store_true", help="time whole scores instead (see above)")
    ap.add_argument("--size", nargs=3, type=int, default=[50000, 2048, 100], metavar=("N", "D", "K"))
    args = ap.parse_args()
    if args.end_to_end:
        return end_to_end(args)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"# Cost of LEAD's NTK pieces (head 1024 x 2048, float32 signals and Gram, float64 eigh), "
             f"median of {args.repeats}, load average at start {load:.1f}", "",
             "| n = S*K | D | signals s | Gram s | eigvalsh s | eigh s | eigh f32 s | Lanczos on the Gram s | "
             "matrix-free Lanczos s | K class blocks s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    raw = []
    for d in args.dims:
        for n in args.points:
            k = max(2, n // 64)
            runs = [run(n, d, k, args.threads) for _ in range(args.repeats)]
            med = {p: statistics.median(r[p] for r in runs) for p in PIECES}
            raw.append(dict(n=n, d=d, k=k, runs=runs))
            lines.append(f"| {n} | {d} | " + " | ".join(f"{med[p]:.2f}" for p in PIECES) + " |")
            print(lines[-1], flush=True)
    from lead_hf.utils.io import write_json_atomic, write_text_atomic
    write_text_atomic(args.out, "\n".join(lines) + "\n")
    if args.json:
        write_json_atomic(args.json, raw)
    return 0


VARIANTS = {
    "LEAD default (class_mean)": {},
    "LEAD full_kernel, eta=1/lambda_max, t=10": {"evolution": "full_kernel", "eta_normalization": "lambda_max",
                                                 "softmax_before_ce": False, "t": 10.0},
    "LEAD class_block, eta=1/lambda_max, t=10": {"evolution": "class_block", "eta_normalization": "lambda_max",
                                                 "t": 10.0},
    "LEAD full_kernel on all 6,400 points (max_kernel_points=6400)": {
        "evolution": "full_kernel", "eta_normalization": "lambda_max", "t": 10.0, "max_kernel_points": 6400},
}


def end_to_end(args) -> int:
    sys.path.insert(0, str(HERE))
    from bench_lead_speed import run as run_score

    n, d, k = args.size
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"# Whole scores at N={n}, D={d}, K={k} (median of {args.repeats}, fresh process each, "
             f"load average at start {load:.1f})", "",
             "| score | seconds | LogME seconds (same rounds) | / LogME | peak RSS MB |", "|---|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    raw = []
    for name, opts in VARIANTS.items():
        runs, logme = [], []
        for _ in range(args.repeats):  # alternate with LogME so that both see the same machine load
            runs.append(run_score("lead", n, d, k, "cpu", opts))
            logme.append(run_score("logme", n, d, k, "cpu"))
        t, tl = statistics.median(r["seconds"] for r in runs), statistics.median(r["seconds"] for r in logme)
        raw.append(dict(variant=name, options=opts, lead=runs, logme=logme))
        lines.append(f"| {name} | {t:.2f} | {tl:.2f} | {t / tl:.2f} | {max(r['peak_rss_mb'] for r in runs):.0f} |")
        print(lines[-1], flush=True)
    from lead_hf.utils.io import write_json_atomic, write_text_atomic
    out = Path(args.out).with_name(Path(args.out).stem + "_end_to_end.md")
    write_text_atomic(out, "\n".join(lines) + "\n")
    if args.json:
        write_json_atomic(args.json, raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
