#!/usr/bin/env python
"""Why does LEAD rank the way it does? Its score splits into two parts that can be switched off:
t = 0 leaves only the SVM's initial logit state (F_0 = P: minus the out-of-fold cross-entropy of the
SVM probabilities, a linear-probe likelihood), while the evolution term moves F towards the labels at a
per-class rate exp(-eta lambda_k t). This script measures each part's agreement with the fine-tuned
accuracies next to LEAD's and LogME's, and how strongly LEAD's values follow LogME's across models.

    python benchmarks/lead_diagnosis.py      # -> benchmarks/results/lead_diagnosis.md
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> int:
    import torch
    from scipy import stats

    from lead_hf.benchmark import BenchmarkOptions, collect_entries, dataset_key, score_entries
    from lead_hf.agreement import agreement
    from lead_hf.io import write_text_atomic

    torch.set_num_threads(1)
    entries = collect_entries(BenchmarkOptions(), log=lambda s: None)
    variants = {"LEAD (defaults)": ("lead", {}), "LEAD t=0 (SVM probe only)": ("lead", {"t": 0.0}),
                "LEAD t=0.1": ("lead", {"t": 0.1}), "LogME": ("logme", {})}
    values: dict[str, dict[str, list[float]]] = {v: {} for v in variants}
    acc: dict[str, list[float]] = {}
    for ds, es in entries.items():
        acc[ds] = [e.accuracy for e in es]
        for label, (method, opts) in variants.items():
            rows = score_entries(es, [method], {method: opts}, "auto", log=lambda s: None)
            values[label][ds] = [r["value"] for r in rows]
    names = list(entries)
    lines = ["| variant | " + " | ".join(dataset_key(d) for d in names) + " | mean wtau |",
             "|---|" + "---:|" * (len(names) + 1)]
    for label in variants:
        taus = [agreement(values[label][d], acc[d])["weighted_tau"] for d in names]
        lines.append(f"| {label} | " + " | ".join(f"{t:+.3f}" for t in taus) + f" | {np.mean(taus):+.3f} |")
    lines += ["", "| across models | " + " | ".join(dataset_key(d) for d in names) + " |",
              "|---|" + "---:|" * len(names)]
    for a, b in (("LEAD (defaults)", "LogME"), ("LEAD (defaults)", "LEAD t=0 (SVM probe only)")):
        rho = [stats.spearmanr(values[a][d], values[b][d]).statistic for d in names]
        lines.append(f"| Spearman({a}, {b}) | " + " | ".join(f"{r:+.3f}" for r in rho) + " |")
    spread = [np.ptp(values["LEAD (defaults)"][d]) for d in names]
    lines.append("| spread of LEAD values (max - min) | " + " | ".join(f"{s:.3f}" for s in spread) + " |")
    text = "\n".join(lines) + "\n"
    write_text_atomic(HERE / "results" / "lead_diagnosis.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
