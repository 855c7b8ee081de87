#!/usr/bin/env python
"""How reproducible is the ground truth itself? Agreement between two fine-tuning sweeps that differ only
in the seed (training subset, head init, augmentation, shuffling). The weighted tau between the two
seeds is a rough ceiling for any score: no score can be expected to agree with one seed's ranking
better than another seed of the same protocol does.

    python benchmarks/run_ground_truth.py --seed 1 --out benchmarks/ground_truth_seed1
    python benchmarks/ground_truth_noise.py
"""
from __future__ import annotations

import _lab  # noqa: F401 - the checkout on sys.path, the benchmark zoo registered

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    from lead_hf.results.agreement import agreement
    from lead_hf.results.ground_truth import accuracy_table, read_ground_truth
    from lead_hf.utils.io import write_text_atomic

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", default=str(HERE / "ground_truth"))
    parser.add_argument("--b", default=str(HERE / "ground_truth_seed1"))
    parser.add_argument("--out", default=str(HERE / "results" / "ground_truth_noise.md"))
    parser.add_argument("--average-to", default=str(HERE / "ground_truth_2seeds"),
                        help="also write the mean accuracy of both sweeps here (a less noisy ground truth)")
    args = parser.parse_args(argv)
    a, b = accuracy_table(read_ground_truth(args.a)), accuracy_table(read_ground_truth(args.b))
    lines = ["| dataset | models | wtau seed0 vs seed1 | Kendall tau | Pearson | mean abs diff |",
             "|---|---:|---:|---:|---:|---:|"]
    taus = []
    for ds in a:
        common = sorted(set(a[ds]) & set(b.get(ds, {})))
        if len(common) < 3:
            continue
        x = np.array([a[ds][m] for m in common])
        y = np.array([b[ds][m] for m in common])
        ag = agreement(x, y)
        taus.append(ag["weighted_tau"])
        lines.append(f"| {ds} | {len(common)} | {ag['weighted_tau']:.3f} | {ag['kendall_tau']:.3f} | "
                     f"{ag['pearson']:.3f} | {np.abs(x - y).mean():.3f} |")
        rows = "".join(f"{m},embedded:{ds},{(a[ds][m] + b[ds][m]) / 2:.4f},mean of seeds 0 and 1\n" for m in common)
        write_text_atomic(Path(args.average_to) / f"{ds}.csv", "model,dataset,accuracy,protocol\n" + rows)
    if taus:
        lines.append(f"| mean | | {np.mean(taus):.3f} | | | |")
    write_text_atomic(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
