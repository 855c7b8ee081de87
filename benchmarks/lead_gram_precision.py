"""How much LEAD moves when its SVM Gram takes float32 products (``svm_gram_products``, the default) instead
of float64, against how much it moves when the float32 features themselves move by one unit in the
last place (their own resolution).

Feature sets (float32, as extracted features are): Gaussian class clusters; clusters on a low-rank
correlated part (8 shared directions, as embeddings have); the same with a large offset and a small
spread (mean 50, std 0.1: standardisation has to cancel it); and a near-rank-deficient set (50 factors
plus 1e-3 noise). For each: LEAD's value and its probe cross-entropy with float64 and float32 products,
and the value of one kernel variant (full_kernel, t = 10) both ways.

    .venv/bin/python benchmarks/lead_gram_precision.py           # the docs/lead.md table (about a minute)
"""
from __future__ import annotations

import argparse

import numpy as np

import lead_hf


def feature_sets(scale: int):
    def clusters(n, d, k, seed, low_rank=0.0, offset=0.0, spread=1.0):
        r = np.random.default_rng(seed)
        y = np.arange(n) % k
        x = r.standard_normal((k, d))[y] * 0.5 + r.standard_normal((n, d))
        if low_rank:
            x += r.standard_normal((n, 8)) @ r.standard_normal((8, d)) * low_rank
        return (x * spread + offset).astype(np.float32), y

    def near_rank_deficient(n, d, k, seed):
        r = np.random.default_rng(seed)
        y = np.arange(n) % k
        f = r.standard_normal((n, 50)) + r.standard_normal((k, 50))[y] * 0.5
        return (f @ r.standard_normal((50, d)) + 1e-3 * r.standard_normal((n, d))).astype(np.float32), y

    n = 2000 * scale
    return {
        f"clusters {n} x 256, K=10": clusters(n, 256, 10, 1),
        f"correlated clusters {n} x 512, K=50": clusters(n, 512, 50, 2, low_rank=2.0),
        f"offset 50, spread 0.1, {n} x 300, K=20": clusters(n, 300, 20, 3, low_rank=2.0, offset=50.0, spread=0.1),
        f"near rank-deficient {n} x 512, K=20": near_rank_deficient(n, 512, 20, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=2, help="N = 2000 x scale (default 4000, above one 4096-row block)")
    args = ap.parse_args()
    rng = np.random.default_rng(5)
    print("| features | LEAD (float64 products) | |float32 - float64| value | |float32 - float64| probe CE "
          "| same, full_kernel t=10 | |1-ulp features - features| value (float64 products) |")
    print("|---|---:|---:|---:|---:|---:|")
    kernel = dict(evolution="full_kernel", eta_normalization="lambda_max", t=10.0)
    for name, (x, y) in feature_sets(args.scale).items():
        r64 = lead_hf.compute_score("lead", x, y, svm_gram_products="float64")
        r32 = lead_hf.compute_score("lead", x, y)
        # every entry one float32 ulp up or down at random: the resolution of the features themselves
        nudged = np.where(rng.random(x.shape) < 0.5, np.nextafter(x, np.float32(np.inf)),
                          np.nextafter(x, np.float32(-np.inf))).astype(np.float32)
        r_nudged = lead_hf.compute_score("lead", nudged, y, svm_gram_products="float64")
        k64 = lead_hf.score("lead", x, y, svm_gram_products="float64", **kernel)
        k32 = lead_hf.score("lead", x, y, **kernel)
        print(f"| {name} | {r64.value:.6f} | {abs(r32.value - r64.value):.1e} | "
              f"{abs(r32.details['probe_cross_entropy'] - r64.details['probe_cross_entropy']):.1e} | "
              f"{abs(k32 - k64):.1e} | {abs(r_nudged.value - r64.value):.1e} |", flush=True)


if __name__ == "__main__":
    main()
