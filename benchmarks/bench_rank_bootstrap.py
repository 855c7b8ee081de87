"""What the ranking bootstrap costs: `lead-hf rank`'s demo (the embedded zoo on embedded:digits, default
scores) with --bootstrap 0 and with B draws, on features already cached (the first, untimed run fills the
cache). The draws are scored the landed way (every draw re-runs every score: ``fast=False``) and by the
scores' resampled forms (``lead_hf.scores.draws``), and, to see what one lever gives, by the resampled forms
with BLAS threads left as they are. The arms run in turn, --rounds times (each round in another order);
the ratios are of medians. Prints each arm's wall time, its ratio to the plain rank, the bootstrap seconds
per score (summed over the models) and the largest difference between the two ways' draws, per score.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_rank_bootstrap.py --draws 20 --rounds 3
"""
from __future__ import annotations

import _lab  # noqa: F401 - the checkout on sys.path, the benchmark zoo registered

import argparse
import contextlib
import datetime as dt
import os
import statistics
import tempfile
import time

import numpy as np

import lead_hf.rank.bootstrap as boot
import lead_hf.scores.draws as draws_mod
from lead_hf.rank import RankOptions, rank_models

ARMS = ("plain", "landed", "resampled", "resampled, BLAS threads as they are")


@contextlib.contextmanager
def arm(name: str):
    """The bootstrap as arm ``name`` computes it (patched for the duration)."""
    original_score, original_threads = boot.bootstrap_score, draws_mod.one_blas_thread
    if name == "landed":
        boot.bootstrap_score = lambda *a, **k: original_score(*a, **k, fast=False)
    if name.endswith("as they are"):
        draws_mod.one_blas_thread = contextlib.nullcontext
    try:
        yield
    finally:
        boot.bootstrap_score, draws_mod.one_blas_thread = original_score, original_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dataset", default="embedded:digits")
    args = parser.parse_args()
    quiet = lambda msg: None  # noqa: E731
    started = dt.datetime.now(dt.timezone.utc)
    times: dict[str, list[float]] = {a: [] for a in ARMS}
    per_score: dict[str, dict[str, list[float]]] = {a: {} for a in ARMS}
    results = {}
    with tempfile.TemporaryDirectory() as out:
        base = dict(dataset=args.dataset, output_dir=out, progress=False, chart=True)
        rank_models(RankOptions(**base, bootstrap=0), log=quiet)  # fills the feature cache
        for r in range(args.rounds):
            order = ARMS[r % len(ARMS):] + ARMS[:r % len(ARMS)]
            for name in order:
                with arm(name):
                    start = time.perf_counter()
                    res = rank_models(RankOptions(**base, bootstrap=0 if name == "plain" else args.draws), log=quiet)
                    times[name].append(time.perf_counter() - start)
                ok = [m for m in res.models if m.status == "ok"]
                results[name] = ok
                for method in res.scores:
                    per_score[name].setdefault(method, []).append(sum(m.bootstrap_seconds.get(method, 0.0) for m in ok))
                print(f"round {r + 1}: {name}: {times[name][-1]:.1f} s", flush=True)
    load = os.getloadavg()
    plain = statistics.median(times["plain"])
    print(f"\n# OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')} python benchmarks/bench_rank_bootstrap.py "
          f"--draws {args.draws} --rounds {args.rounds}")
    print(f"# {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} shared cores, load average at the end "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(f"{len(res.models)} models on {args.dataset}, {res.dataset.num_samples} samples, scores "
          f"{', '.join(res.scores)}; medians of {args.rounds} interleaved rounds\n")
    print("| arm | rank s (median) | rounds s | / plain rank | " + " | ".join(f"{m} draws s" for m in res.scores) + " |")
    print("|---|---:|---|---:|" + "---:|" * len(res.scores))
    for name in ARMS:
        med = statistics.median(times[name])
        cells = " | ".join(f"{statistics.median(per_score[name][m]):.2f}" if name != "plain" else "-" for m in res.scores)
        print(f"| {name} | {med:.1f} | {', '.join(f'{t:.1f}' for t in times[name])} | {med / plain:.2f}x | {cells} |")
    print("\nlargest |resampled - landed| over every draw and model, per score (the values must agree to 1e-6):")
    for method in res.scores:
        diffs = [np.abs(np.asarray(a.bootstrap[method]) - np.asarray(b.bootstrap[method])).max()
                 for a, b in zip(results["resampled"], results["landed"]) if method in a.bootstrap]
        print(f"  {method}: {max(diffs):.1e}")


if __name__ == "__main__":
    main()
