"""The benchmark's files: benchmark.{json,csv,md,png} and fidelity.json."""
from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
from pathlib import Path

import numpy as np

from ..results.ground_truth import dataset_key
from .fidelity import fidelity_document
from .schema import BenchmarkResult


def markdown(result: BenchmarkResult, title: str = "Selection fidelity") -> str:
    datasets = list(result.per_dataset)
    methods = sorted(result.summary, key=lambda m: -result.summary[m]["weighted_tau"])
    head = ["score", *(dataset_key(d) for d in datasets), "mean wtau", "95% CI", "minus top: 95% CI, P(>)",
            "min wtau", "mean tau", "mean pearson", "mean regret", "s / model"]
    lines = [f"### {title}", "",
             "Weighted Kendall tau per dataset (scipy.stats.weightedtau defaults), then means over datasets; "
             "95% CI = bootstrap interval of the mean, resampling models; minus top = the score's mean minus "
             "the top score's on the same draws (its 95% interval, and the share of draws where it is higher: "
             "an interval below 0 means the top score is really ahead); regret = top-1 relative regret "
             "(0 = the top-scored model is the best fine-tuned one)."
             + (f" Protocol: {result.protocol}." if result.protocol else ""), "",
             "| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for m in methods:
        s = result.summary[m]
        ci = result.ci95.get(m)
        cells = [m] + [f"{result.per_dataset[d][m]['weighted_tau']:.3f}" if m in result.per_dataset[d] else "-"
                       for d in datasets]
        diff = result.vs_top.get(m)
        cells += [f"{s['weighted_tau']:.3f}", f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-",
                  f"[{diff['ci95'][0]:+.2f}, {diff['ci95'][1]:+.2f}], {diff['p_better']:.2f}" if diff else "-",
                  f"{s['min_weighted_tau']:.3f}", f"{s['kendall_tau']:.3f}",
                  f"{s['pearson']:.3f}", f"{s['top1_regret']:.3f}", f"{s['seconds']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    if result.noise_ceiling:
        nc = result.noise_ceiling
        cells = ["*noise ceiling*"] + [f"{nc[d]:.3f}" if d in nc else "-" for d in datasets]
        cells += [f"{np.mean(list(nc.values())):.3f}"] + [""] * 7
        lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "Noise ceiling: weighted tau between the two halves of the fine-tuning seeds (mean over the "
                  "ways to split them), i.e. how well the ground truth agrees with itself."]
    models = {d: len({r["model"] for r in result.values if r["dataset"] == d}) for d in datasets}
    lines += ["", "Models per dataset: " + ", ".join(f"{dataset_key(d)} {n}" for d, n in models.items()) + "."]
    return "\n".join(lines) + "\n"


def write_csv(result: BenchmarkResult, path) -> Path:
    from ..utils.io import write_text_atomic

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["dataset", "model", "score", "value", "seconds", "accuracy"],
                       lineterminator="\n")
    w.writeheader()
    for r in result.values:
        w.writerow({**r, "value": f"{r['value']:.6g}", "seconds": f"{r['seconds']:.4f}"})
    return write_text_atomic(path, buf.getvalue())


def write_chart(result: BenchmarkResult, path, title: str = "Weighted Kendall tau with fine-tuned accuracy") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..utils.io import atomic_path

    datasets = list(result.per_dataset)
    methods = sorted(result.summary, key=lambda m: -result.summary[m]["weighted_tau"])
    fig, ax = plt.subplots(figsize=(max(7.0, 0.8 * len(methods) + 2), 4.2))
    width = 0.8 / (len(datasets) + 1)
    x = np.arange(len(methods))
    for i, ds in enumerate(datasets):
        vals = [result.per_dataset[ds].get(m, {}).get("weighted_tau", np.nan) for m in methods]
        ax.bar(x + i * width, vals, width, label=dataset_key(ds), alpha=0.75)
    means = [result.summary[m]["weighted_tau"] for m in methods]
    ci = np.array([result.ci95.get(m, [np.nan, np.nan]) for m in methods]).T
    err = np.abs(ci - np.array(means)) if result.ci95 else None
    ax.bar(x + len(datasets) * width, means, width, label="mean (95% CI)", color="black", yerr=err,
           ecolor="dimgrey", capsize=2)
    if result.noise_ceiling:
        ceiling = float(np.mean(list(result.noise_ceiling.values())))
        ax.axhline(ceiling, color="tab:red", lw=1, ls="--", label=f"noise ceiling (mean {ceiling:.2f})")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x + 0.4 - width / 2, methods, rotation=30, ha="right")
    ax.set_ylabel("weighted Kendall tau")
    ax.set_ylim(-1.05, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=min(5, len(datasets) + 2), loc="lower left", framealpha=0.9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)


def fidelity_file_name(name: str) -> str:
    """``fidelity.json`` for the default run, ``<name>_fidelity.json`` for a named one."""
    return "fidelity.json" if name == "benchmark" else f"{name}_fidelity.json"


def write_outputs(result: BenchmarkResult, folder, name: str = "benchmark", chart: bool = True,
                  title: str = "Selection fidelity") -> list[Path]:
    from ..utils.io import write_json_atomic, write_text_atomic
    from ..utils.provenance import git_commit, package_versions

    folder = Path(folder)
    doc = {"schema": "lead-hf/benchmark/v1", **dataclasses.asdict(result), "versions": package_versions(),
           "git_commit": git_commit(), "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    fidelity = {**fidelity_document(result), "git_commit": doc["git_commit"], "created": doc["created"]}
    paths = [write_json_atomic(folder / f"{name}.json", doc), write_csv(result, folder / f"{name}.csv"),
             write_text_atomic(folder / f"{name}.md", markdown(result, title)),
             write_json_atomic(folder / fidelity_file_name(name), fidelity)]
    if chart:
        paths.append(write_chart(result, folder / f"{name}.png"))
    return paths


