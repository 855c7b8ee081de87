"""The benchmark's files: benchmark.{json,csv,md,png} and fidelity.json."""
from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import textwrap
from pathlib import Path

import numpy as np

from ..results.ground_truth import dataset_key
from .fidelity import fidelity_document, fidelity_table, per_dataset_table
from .schema import BenchmarkResult


def markdown(result: BenchmarkResult, title: str = "Selection fidelity") -> str:
    """The benchmark's report: the headline table (means over the headline datasets), the per-dataset table,
    and what was left out and why. Both tables are those of the fidelity document (``fidelity_table``,
    ``per_dataset_table``), so the report, the README and docs cannot differ."""
    doc = fidelity_document(result)
    where = (f"Means over every dataset ({result.headline_note})" if result.headline_note else
             f"Means over the headline datasets ({', '.join(doc['headline_datasets'])}: {doc['headline_rule']})")
    lines = [f"### {title}", "",
             where + ". Top-1 regret: accuracy points "
             "lost by fine-tuning the model the score puts first instead of the best one (lower is better); "
             "recall@3: the best model is among the first three; 95% CI: bootstrap over the models of every "
             "dataset and the fine-tuning seeds of every model; wtau minus best: the paired difference to the "
             "score with the best mean weighted tau on the same draws, and the share of draws where this one is "
             "higher. Rows in italics are references, computed on the same members: "
             + ", ".join(result.reference) + (", " if result.reference else "")
             + "a random order (expected value) and the noise ceiling (one half of the seeds ranking for the "
             "other)."
             + (f" Protocol: {result.protocol}." if result.protocol else ""), "",
             fidelity_table(doc).rstrip(), "",
             "Per dataset: weighted tau / top-1 regret (points); (models scored of those with ground truth or in "
             "the zoo); "
             "† not in the headline.", "", per_dataset_table(doc).rstrip(), ""]
    if result.not_in_headline:
        lines += ["Not in the headline: " + "; ".join(f"{dataset_key(d)}: {why}"
                                                      for d, why in result.not_in_headline.items()) + "."]
    gone = [f"{m} on {dataset_key(d)} ({why})" for d, ms in result.left_out.items() for m, why in ms.items()]
    if gone:
        lines += ["", f"Not scored although fine-tuned ({len(gone)}): " + "; ".join(gone) + "."]
    pending = [f"{dataset_key(d)}: {', '.join(ms)}" for d, ms in result.without_ground_truth.items() if ms]
    if pending:
        lines += ["", "In the zoo but without ground truth yet (not fine-tuned; the dataset's figures are over "
                  "fewer members): " + "; ".join(pending) + "."]
    seconds = {m: s["seconds"] for m, s in result.summary.items()}
    lines += ["", "Seconds per model: " + ", ".join(f"{m} {v:.3f}" for m, v in sorted(seconds.items(),
                                                                                    key=lambda kv: kv[1])) + "."]
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


def chart_title(title: str, over: str, width: int = 130) -> str:
    """The chart's title, wrapped at ``width`` characters: the figure is 12 inches wide, and at 10 pt a
    list of six headline datasets on one line ran past both of its edges."""
    return textwrap.fill(f"{title}: means over {over}; grey: reference rows", width)


def write_chart(result: BenchmarkResult, path, title: str = "Agreement with fine-tuning") -> Path:
    """Two panels, one row per score (references in grey): the mean top-1 regret in accuracy points and the
    mean weighted tau over the headline datasets, each with its 95% bootstrap interval, the random order's
    expectation and the noise ceiling drawn as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..utils.io import atomic_path

    doc = fidelity_document(result)
    names = list(doc["scores"]) + [n for n in doc["reference"] if n not in ("random", "noise_ceiling")]
    rows = {**doc["scores"], **doc["reference"]}
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.32 * len(names) + 1.8), sharey=True)
    y = np.arange(len(names))
    for ax, measure, label in ((axes[0], "top1_regret", "mean top-1 regret (accuracy points, lower is better)"),
                               (axes[1], "weighted_tau", "mean weighted Kendall tau (higher is better)")):
        means = np.array([rows[n]["mean"].get(measure, np.nan) for n in names], dtype=float)
        ci = np.array([(rows[n].get("ci95") or {}).get(measure, [np.nan, np.nan]) for n in names], dtype=float)
        err = np.abs(ci.T - means)
        colors = ["tab:blue" if n in doc["scores"] else "silver" for n in names]
        ax.barh(y, means, color=colors, xerr=np.where(np.isfinite(err), err, 0), ecolor="dimgrey", capsize=2)
        for ref, style in (("random", ":"), ("noise_ceiling", "--")):
            value = doc["reference"][ref]["mean"].get(measure)
            if value is not None:
                ax.axvline(value, color="tab:red", ls=style, lw=1,
                           label=f"{'random order' if ref == 'random' else 'noise ceiling'} ({value:.2f})")
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlabel(label)
        ax.legend(fontsize=8, loc="best", framealpha=0.9)  # where it hides the fewest bars
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    over = "every dataset (none reaches the noise ceiling asked)" if result.headline_note else \
        f"the headline datasets ({', '.join(doc['headline_datasets'])})"
    fig.suptitle(chart_title(title, over), fontsize=10)
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
    doc = {"schema": "lead-hf/benchmark/v2", **dataclasses.asdict(result), "versions": package_versions(),
           "git_commit": git_commit(), "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    fidelity = {**fidelity_document(result), "git_commit": doc["git_commit"], "created": doc["created"]}
    paths = [write_json_atomic(folder / f"{name}.json", doc), write_csv(result, folder / f"{name}.csv"),
             write_text_atomic(folder / f"{name}.md", markdown(result, title)),
             write_json_atomic(folder / fidelity_file_name(name), fidelity)]
    if chart:
        paths.append(write_chart(result, folder / f"{name}.png"))
    return paths


