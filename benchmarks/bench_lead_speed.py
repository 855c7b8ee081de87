"""Speed and peak memory of LEAD against LogME, where LEAD's time goes, and the fast path against the
straightforward reference.

Features: Gaussian class clusters (real class structure), float32 in, as extracted features are. Every
measurement runs in a fresh process, so its peak RSS is its own, with a fixed number of BLAS/OpenMP
threads (``--threads``, default 1: this project's CPU is shared). The implementations are run in turn,
round after round (LEAD, LEAD with float64 Gram products, LogME, LEAD, ...), so that their ratios are
measured side by side on the same (noisy) machine; the tables give medians over the rounds. The time is
that of ``lead_hf.score`` on the float32 array, input validation (and its float64 copy) included for
both scores. The same runs record where the time goes (the library's functions wrapped with timers).

    .venv/bin/python benchmarks/bench_lead_speed.py                    # the README tables (CPU, 1 thread)
    .venv/bin/python benchmarks/bench_lead_speed.py --repeats 1 --skip-reference   # faster
    .venv/bin/python benchmarks/bench_lead_speed.py --sizes 1000x512x10 --skip-reference   # a smoke run
    .venv/bin/python benchmarks/bench_lead_speed.py --grid             # the older 12-size grid as well
    .venv/bin/python benchmarks/bench_lead_speed.py --device cuda      # on a GPU machine
"""
from __future__ import annotations

import _lab  # noqa: F401 - the checkout on sys.path, the benchmark zoo registered

import argparse
import json
import os
import statistics
import subprocess
import sys

TARGETS = ["20000x1024x50", "50000x2048x100"]
GRID = [f"{n}x{d}x{k}" for n in (1000, 10000, 50000) for d in (512, 2048) for k in (10, 100)]
REFERENCE_S = 8

CHILD = r"""
import json, resource, sys, time
cfg = json.loads(sys.argv[1])
import numpy as np, torch
torch.set_num_threads(cfg["threads"])
import lead_hf
from lead_hf.scores import _probe as P, lead as L, logme as LM, registry as R
from lead_hf.scores.lead import probe as LP
from lead_hf.scores.lead import LeadOptions

spent = {}
def timed(owner, name, key):
    fn = getattr(owner, name)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - start
    setattr(owner, name, wrapper)

rng = np.random.default_rng(0)
n, d, k = cfg["n"], cfg["d"], cfg["k"]
labels = np.arange(n) % k
means = rng.standard_normal((k, d), dtype=np.float32) * 0.5
feats = means[labels] + rng.standard_normal((n, d), dtype=np.float32)
# warm-up on a tiny problem: library initialisation (BLAS/LAPACK threads, CUDA context) is not timed
warm = np.random.default_rng(1).standard_normal((60, 8))
if cfg["impl"] != "reference":
    lead_hf.score(cfg["impl"], warm, np.arange(60) % 3, device=cfg["device"])
    if cfg["profile"]:
        timed(R, "prepare_inputs", "validation")
        # each function is timed in the module whose code calls it
        for module, name, key in [(P, "folds_and_order", "fold order"), (LP, "svm_decision", "svm"),
                                  (P, "ls_svm_decision", "ls_svm"), (L, "kernel_inputs", "head"),
                                  (L, "top_ntk_eigenvalue", "lambda_max")]:
            timed(module, name, key)
        rowstats = P.RowStats.of.__func__  # (rows, start, stop, labels, k, products)
        def of(cls, *args, **kwargs):
            start = time.perf_counter()
            try:
                return rowstats(cls, *args, **kwargs)
            finally:
                spent["fold stats"] = spent.get("fold stats", 0.0) + time.perf_counter() - start
        P.RowStats.of = classmethod(of)
        timed(LM, "gram", "logme gram")
        timed(LM, "spectrum", "logme spectrum")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if cfg["impl"] == "reference":
    from tests.support.lead_reference import reference_lead
    value = reference_lead(feats, labels, LeadOptions(**cfg["options"]), svm_tol=1e-4)  # LinearSVC's default
else:
    value = lead_hf.score(cfg["impl"], feats, labels, device=cfg["device"], **cfg["options"])
    if cfg["device"].startswith("cuda"):
        torch.cuda.synchronize()
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
gpu_peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
print(json.dumps({"seconds": seconds, "value": value, "peak_rss_mb": peak / 1024, "spent": spent,
                  "extra_rss_mb": max(peak - before, 0) / 1024, "gpu_peak_mb": gpu_peak / 2**20,
                  "torch_threads": torch.get_num_threads()}))
"""

IMPLS = {  # name -> (score, options)
    "lead": ("lead", {}),
    "lead_f64": ("lead", {"svm_gram_products": "float64"}),
    "logme": ("logme", {}),
}


def run(impl: str, n: int, d: int, k: int, device: str, threads: int, options: dict | None = None,
        profile: bool = True) -> dict:
    cfg = dict(impl=impl, n=n, d=d, k=k, device=device, options=options or {}, threads=threads,
               profile=profile)
    # Passive OpenMP waiting: on a CPU shared with other work, spinning threads make LAPACK's eigh up to
    # 15x slower (measured here: 2049 x 2049 eigh, 40 s spinning vs 2.7 s passive, load average 5).
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    # torch's MKL and scipy's OpenBLAS (the syrk of both scores) each read their own variable
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True, env=env,
                          cwd=_lab.ROOT)  # the child imports tests.support from the checkout
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} n={n} d={d} k={k} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_size(text: str) -> tuple[int, int, int]:
    try:
        n, d, k = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--sizes takes NxDxK triples such as 20000x1024x50, got {text!r}") from None
    return n, d, k


def lead_stages(spent: dict, total: float) -> dict:
    """LEAD's time by stage, from the wrapped functions (nested ones subtracted from their callers)."""
    svm, ls = spent.get("svm", 0.0), spent.get("ls_svm", 0.0)
    stages = {
        "input validation + float64 copy": spent.get("validation", 0.0),
        "fold order (a projection, sorts)": spent.get("fold order", 0.0),
        "fold means, unsorting": svm - ls - spent.get("fold order", 0.0),
        "fold Grams + class sums": spent.get("fold stats", 0.0),
        "5 Cholesky solves + predictions": ls - spent.get("fold stats", 0.0),
        "head forward/backward on S*K points": spent.get("head", 0.0),
        "lambda_max (kernel-point Gram, Lanczos)": spent.get("lambda_max", 0.0),
    }
    stages["rest (probabilities, evolution, CE, details)"] = total - sum(stages.values())
    return stages


def logme_stages(spent: dict, total: float) -> dict:
    stages = {
        "input validation + float64 copy": spent.get("validation", 0.0),
        "Gram (dsyrk)": spent.get("logme gram", 0.0),
        "eigh + projections": spent.get("logme spectrum", 0.0) - spent.get("logme gram", 0.0),
    }
    stages["rest (fixed point, details)"] = total - sum(stages.values())
    return stages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP/torch threads of every run (default 1)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds per size (the medians are over them)")
    ap.add_argument("--sizes", nargs="+", default=TARGETS, help="NxDxK triples (default: the issue's two targets)")
    ap.add_argument("--grid", action="store_true", help="also the 12-size grid N in 1k/10k/50k, D in 512/2048, K in 10/100")
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--json", help="also write the raw measurements here")
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes] + ([parse_size(s) for s in GRID] if args.grid else [])
    raw = {"threads": args.threads, "device": args.device, "speed": [], "reference": []}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# LEAD vs LogME, device={args.device}, {args.threads} thread(s) per run (OMP/MKL/OPENBLAS_NUM_THREADS, "
          f"torch.set_num_threads), median of {args.repeats} rounds (each run in a fresh process), "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'PASSIVE')}, load average at start {load:.1f} "
          f"on {os.cpu_count()} cores\n")
    print("| N | D | K | LEAD s | LEAD, float64 Gram s | LogME s | LEAD / LogME | LEAD f64 / LogME "
          "| LEAD peak RSS MB | LogME peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    profiles = []
    for n, d, k in sizes:
        runs = {name: [] for name in IMPLS}
        for _ in range(args.repeats):  # round-robin, so that every implementation sees the same load
            for name, (score, options) in IMPLS.items():
                runs[name].append(run(score, n, d, k, args.device, args.threads, options))
        med = {name: statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
        # ratios per round (side by side), then their median
        ratio = statistics.median(a["seconds"] / b["seconds"] for a, b in zip(runs["lead"], runs["logme"]))
        ratio64 = statistics.median(a["seconds"] / b["seconds"] for a, b in zip(runs["lead_f64"], runs["logme"]))
        peak = {name: max(r["peak_rss_mb"] for r in rs) for name, rs in runs.items()}
        raw["speed"].append(dict(n=n, d=d, k=k, **runs))
        print(f"| {n} | {d} | {k} | {med['lead']:.2f} | {med['lead_f64']:.2f} | {med['logme']:.2f} | "
              f"{ratio:.2f} | {ratio64:.2f} | {peak['lead']:.0f} | {peak['logme']:.0f} |", flush=True)
        stage_l = [lead_stages(r["spent"], r["seconds"]) for r in runs["lead"]]
        stage_m = [logme_stages(r["spent"], r["seconds"]) for r in runs["logme"]]
        profiles.append(((n, d, k), {s: statistics.median(p[s] for p in stage_l) for s in stage_l[0]},
                         {s: statistics.median(p[s] for p in stage_m) for s in stage_m[0]}, med))
    print("\n# Where the time goes (same runs; median seconds of each stage; LEAD with its defaults)\n")
    for (n, d, k), lead_p, logme_p, med in profiles:
        print(f"N={n}, D={d}, K={k}: LEAD {med['lead']:.2f} s, LogME {med['logme']:.2f} s\n")
        print("| LEAD stage | s | share | | LogME stage | s | share |")
        print("|---|---:|---:|---|---|---:|---:|")
        lead_rows, logme_rows = list(lead_p.items()), list(logme_p.items())
        for i in range(max(len(lead_rows), len(logme_rows))):
            left = (f"{lead_rows[i][0]} | {lead_rows[i][1]:.2f} | {lead_rows[i][1] / med['lead']:.0%}"
                    if i < len(lead_rows) else " | | ")
            right = (f"{logme_rows[i][0]} | {logme_rows[i][1]:.2f} | {logme_rows[i][1] / med['logme']:.0%}"
                     if i < len(logme_rows) else " | | ")
            print(f"| {left} | | {right} |")
        print()
    if not args.skip_reference:
        # The reference builds the explicit Jacobian of the head (S*K rows x 4.2M parameters at D = 2048,
        # float64, and a stacked copy): S = 64 would need 2 x 21 GB. S = 8 keeps it to 2 x 2.7 GB, and both
        # sides run with the same options.
        print(f"# Fast path vs the straightforward reference (tests/support/lead_reference.py), N=10000, "
              f"samples_per_class={REFERENCE_S} on both sides, one run each\n")
        print("| variant | D | K | fast s | reference s | speed-up | |fast - reference| |")
        print("|---|---|---|---|---|---|---|")
        variants = {
            "default (LS-SVM, 5-fold, float32 Gram products)": ({}, ((512, 10), (2048, 10))),
            "default with float64 Gram products": ({"svm_gram_products": "float64"}, ((2048, 10),)),
        }
        for name, (opts, shapes) in variants.items():
            opts = {**opts, "samples_per_class": REFERENCE_S}
            for d, k in shapes:
                fast = run("lead", 10000, d, k, args.device, args.threads, opts, profile=False)
                ref = run("reference", 10000, d, k, "cpu", args.threads, opts, profile=False)
                raw["reference"].append(dict(variant=name, d=d, k=k, fast=fast, reference=ref))
                print(f"| {name} | {d} | {k} | {fast['seconds']:.2f} | {ref['seconds']:.1f} | "
                      f"{ref['seconds'] / fast['seconds']:.0f}x | {abs(fast['value'] - ref['value']):.1e} |", flush=True)
    if args.json:
        from lead_hf.utils.io import write_json_atomic
        write_json_atomic(args.json, raw)


if __name__ == "__main__":
    main()
