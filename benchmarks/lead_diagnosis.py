#!/usr/bin/env python
"""Why does LEAD rank the way it does, and do its values separate the models?

LEAD's score splits into parts that can be switched off: t = 0 leaves only the initial logit state (the
out-of-fold probe's cross-entropy, a linear-probe likelihood), while the evolution moves F towards the labels
with the head's NTK. This script measures, per dataset, each part's agreement with the fine-tuned accuracies
next to LEAD's and LogME's, how strongly LEAD's values follow its own probe and LogME across models, and how
far apart its values are (max - min, and the smallest gap between two models' values).

    python benchmarks/lead_diagnosis.py      # -> benchmarks/results/lead_diagnosis.md
    python benchmarks/lead_diagnosis.py --ground-truth benchmarks/ground_truth_v2 --zoo benchmarks/zoo_v2.txt \
        --datasets lfw_faces fashion_mnist --out benchmarks/results/lead_diagnosis_v2.md
"""
from __future__ import annotations

import _lab  # noqa: F401 - the checkout on sys.path, the benchmark zoo registered

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
V1 = {"evolution": "class_mean", "eta_normalization": "class_mean", "evolved_state": "probabilities",
      "svm_probability": "softmax", "softmax_before_ce": True, "t": 1.0}


def main(argv=None) -> int:
    import torch
    from scipy import stats

    from lead_hf.results.agreement import agreement
    from lead_hf.benchmark import BenchmarkOptions
    from lead_hf.benchmark.job import collect_entries, score_entries
    from lead_hf.results.ground_truth import by_dataset, dataset_key, read_ground_truth
    from lead_hf.utils.io import write_text_atomic

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ground-truth", nargs="+", default=[str(HERE / "ground_truth"),
                                                          str(HERE / "ground_truth_2seeds")])
    ap.add_argument("--zoo", default=str(HERE / "zoo.txt"))
    ap.add_argument("--datasets", nargs="+", default=["lfw_faces", "digits", "fashion_mnist", "mnist"])
    ap.add_argument("--out", default=str(HERE / "results" / "lead_diagnosis.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    entries = collect_entries(BenchmarkOptions(zoo=args.zoo, ground_truth=args.ground_truth[0],
                                               datasets=tuple(f"embedded:{d}" for d in args.datasets)),
                              log=lambda s: None)
    variants = {"LEAD (defaults)": ("lead", {}), "LEAD t=0 (probe only)": ("lead", {"t": 0.0}),
                "LEAD v1 (class_mean, softmax, t=1)": ("lead", V1), "LogME": ("logme", {})}
    values: dict[str, dict[str, list[float]]] = {v: {} for v in variants}
    models: dict[str, list[str]] = {}
    for ds, es in entries.items():
        models[ds] = [e.model for e in es]
        for label, (method, opts) in variants.items():
            rows = score_entries(es, [method], {method: opts}, "auto")
            values[label][ds] = [r["value"] for r in rows]
    names = list(entries)
    lines = []
    for gt in args.ground_truth:
        truth = by_dataset(read_ground_truth(gt))
        lines += [f"Ground truth {gt}:", "",
                  "| variant | " + " | ".join(dataset_key(d) for d in names) + " | mean wtau |",
                  "|---|" + "---:|" * (len(names) + 1)]
        for label in variants:
            taus = [agreement(values[label][d], [truth[dataset_key(d)][m].accuracy for m in models[d]])["weighted_tau"]
                    for d in names]
            lines.append(f"| {label} | " + " | ".join(f"{t:+.3f}" for t in taus) + f" | {np.mean(taus):+.3f} |")
        lines.append("")
    lines += ["| across models | " + " | ".join(dataset_key(d) for d in names) + " |",
              "|---|" + "---:|" * len(names)]
    for a, b in (("LEAD (defaults)", "LogME"), ("LEAD (defaults)", "LEAD t=0 (probe only)"),
                 ("LEAD v1 (class_mean, softmax, t=1)", "LEAD t=0 (probe only)")):
        rho = [stats.spearmanr(values[a][d], values[b][d]).statistic for d in names]
        lines.append(f"| Spearman({a}, {b}) | " + " | ".join(f"{r:+.3f}" for r in rho) + " |")
    # how concentrated the head's NTK spectrum is: lambda_max / trace over the kernel points (balanced classes)
    from lead_hf import compute_score
    conc, norm_corr = [], []
    for d in names:
        fr, rc = [], []
        for e in entries[d]:
            det = compute_score("lead", e.features, e.labels).details
            fr.append(det["lambda_max"] / (np.mean(det["ntk_lambda"]) * det["kernel_points"]))
            # a random ReLU head's NTK diagonal is, up to O(1/width), affine in |x|^2, so class_mean's
            # lambda_k should follow each class's mean squared feature norm: how closely it does
            x = np.asarray(e.features, dtype=np.float64)
            y = np.asarray(e.labels)
            sq = [float((x[y == k] ** 2).sum(1).mean()) for k in range(len(det["ntk_lambda"]))]
            rc.append(stats.pearsonr(det["ntk_lambda"], sq).statistic)
        conc.append(f"{min(fr):.2f}-{max(fr):.2f}")
        # with 2 classes a Pearson correlation is +-1 whatever the values: not informative
        norm_corr.append(f"{min(rc):.3f}-{max(rc):.3f}" if len(sq) > 2 else "n/a (2 classes)")
    lines.append("| lambda_max / trace of the NTK (min-max over models) | " + " | ".join(conc) + " |")
    lines.append("| Pearson over classes of lambda_k with the class's mean squared feature norm (min-max over "
                 "models) | " + " | ".join(norm_corr) + " |")
    for label in ("LEAD (defaults)", "LEAD v1 (class_mean, softmax, t=1)"):
        spread = [np.ptp(values[label][d]) for d in names]
        gap = [np.diff(np.sort(values[label][d])).min() for d in names]
        lines.append(f"| {label}: max - min | " + " | ".join(f"{s:.3f}" for s in spread) + " |")
        lines.append(f"| {label}: smallest gap | " + " | ".join(f"{g:.4f}" for g in gap) + " |")
    text = "\n".join(lines) + "\n"
    write_text_atomic(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
