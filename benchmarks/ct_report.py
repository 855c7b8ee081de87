"""The tables and the chart of the Curvature Tuning sweep (``python benchmarks/ct_sweep.py --report``).

From the records of benchmarks/ct_sweep.py (one per dataset row x model x beta):

1. the ground truth per (dataset, model): the ct-probe accuracy at every beta, the best beta and its gain over
   beta = 1 (the ReLU), next to the CT paper's Adam probe;
2. per selection rule (each score, the out-of-fold probe accuracy that CT's own grid search measures, LEAD's
   own out-of-fold probe accuracy, always beta = 1): the beta it chooses per pair, its regret (ground-truth
   accuracy at the best beta minus at the chosen one), how often it steers, and what it costs;
3. the same regret against the CT paper's Adam probe;
4. full fine-tuning (ft-v2) of the steered models, from benchmarks/ct_finetune.py's records, where there are any;
5. the chart: ground-truth accuracy against beta, minus its value at beta = 1, per dataset and model.

Writes benchmarks/results/ct_sweep.md and ct_sweep.png; the same records give the same bytes.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT_MD = HERE / "results" / "ct_sweep.md"
OUT_PNG = HERE / "results" / "ct_sweep.png"
FINETUNE = HERE / "results" / "ct_finetune.jsonl"
ACC_TIE = 1e-6
"""Accuracies closer than this are equal: the Adam probe's are means of float32 accuracies (3 seeds), and the
same number of correct test images gives values that differ in the 8th digit. Scores are compared exactly."""
RULE_ORDER = ("probe_cv", "lead_probe", "lead", "logme", "leep", "nce", "nleep", "hscore", "hscore_reg", "transrate",
              "gbc", "sfda", "ped", "always beta=1")
RULE_NAMES = {"probe_cv": "probe, 5-fold out-of-fold acc. (CT's grid search)",
              "lead_probe": "LEAD's out-of-fold LS-SVM acc.", "always beta=1": "always beta = 1 (the ReLU)"}


def _argmax(values: dict[float, float], tie: float = 0.0) -> float:
    """The beta of the highest value; values within ``tie`` of it are ties, and ties go to the largest beta
    (the least steering)."""
    top = max(values.values())
    return max(b for b, v in values.items() if v >= top - tie)


def pairs(records: list[dict]) -> dict[tuple[str, str], dict[float, dict]]:
    """(dataset row, model) -> beta -> record, for the pairs that have beta = 1 and one beta < 1 at least."""
    out: dict[tuple[str, str], dict[float, dict]] = defaultdict(dict)
    for r in records:
        out[(r["row"], r["model"])][float(r["beta"])] = r
    return {k: dict(sorted(v.items())) for k, v in out.items() if 1.0 in v and len(v) >= 2}


def rule_values(by_beta: dict[float, dict], rule: str) -> dict[float, float] | None:
    if rule == "always beta=1":
        return {1.0: 1.0}
    if rule == "lead_probe":
        values = {b: r.get("lead_probe_accuracy") for b, r in by_beta.items()}
    else:
        values = {b: r["scores"].get(rule) for b, r in by_beta.items()}
    values = {b: v for b, v in values.items() if v is not None and math.isfinite(v)}
    return values if len(values) == len(by_beta) else None


def rule_seconds(by_beta: dict[float, dict], rule: str) -> float:
    """What the rule itself computes for one pair, over all its betas (the features are counted apart)."""
    if rule == "always beta=1":
        return 0.0
    key = "lead" if rule == "lead_probe" else rule
    return sum(r["seconds"].get(key, 0.0) for r in by_beta.values())


def regret_table(groups, accuracy: str = "accuracy") -> list[dict]:
    rows = []
    for rule in RULE_ORDER:
        regrets, gains, steered, seconds = [], [], 0, []
        for by_beta in groups.values():
            values = rule_values(by_beta, rule)
            if values is None:
                continue
            acc = {b: r[accuracy] for b, r in by_beta.items()}
            chosen = _argmax(values)
            regrets.append(acc[_argmax(acc, ACC_TIE)] - acc[chosen])
            gains.append(acc[chosen] - acc[1.0])
            steered += chosen < 1.0
            seconds.append(rule_seconds(by_beta, rule))
        if regrets:
            rows.append({"rule": rule, "pairs": len(regrets), "mean_regret": sum(regrets) / len(regrets),
                         "max_regret": max(regrets), "zero_regret": sum(r <= ACC_TIE for r in regrets),
                         "mean_gain": sum(gains) / len(gains), "steered": steered,
                         "seconds": sum(seconds) / len(seconds)})
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:+.2f}"


def latest_records(path: Path) -> list[dict]:
    """A JSON-lines file of records, one per (row, model, beta): a later line replaces an earlier one (a rerun)."""
    if not path.is_file():
        return []
    records = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            records[(r["row"], r["model"], float(r["beta"]))] = r
    return list(records.values())


def read_finetune(path: Path = FINETUNE) -> list[dict]:
    """benchmarks/ct_finetune.py's records."""
    return latest_records(path)


def _short(model: str) -> str:
    return model.removeprefix("zoo:")


def ground_truth_lines(groups, betas) -> list[str]:
    lines = ["## 1. Ground truth: probe accuracy against beta", "",
             "Best beta and `adam best beta` are chosen on the test split itself (ties: the larger beta), so their "
             "gains are upper bounds, not what a selection rule would get.", "",
             "| dataset | model | test images | " + " | ".join(f"beta {b:g}" for b in betas)
             + " | best beta | gain over beta = 1 | adam at 1 | adam best beta | adam gain |",
             "|---|---|" + "---:|" * (len(betas) + 6)]
    rel_oracle, rel_cv, rel_adam, gains_all = [], [], [], []
    for (row, model), by_beta in groups.items():
        acc = {b: r["accuracy"] for b, r in by_beta.items()}
        adam = {b: r["adam_accuracy"] for b, r in by_beta.items()}
        best, abest = _argmax(acc, ACC_TIE), _argmax(adam, ACC_TIE)
        cv = rule_values(by_beta, "probe_cv")
        cv_beta = _argmax(cv) if cv else 1.0
        rel_oracle.append((acc[best] - acc[1.0]) / acc[1.0])
        rel_cv.append((acc[cv_beta] - acc[1.0]) / acc[1.0])
        rel_adam.append((adam[abest] - adam[1.0]) / adam[1.0])
        gains_all.append(acc[best] - acc[1.0])
        cells = [f"{100 * acc[b]:.1f}" if b in acc else "-" for b in betas]
        lines.append(f"| {row} | {model} | {by_beta[1.0]['num_test']} | " + " | ".join(cells)
                     + f" | {best:g} | {_pct(acc[best] - acc[1.0])} | {100 * adam[1.0]:.1f} | {abest:g} | "
                     f"{_pct(adam[abest] - adam[1.0])} |")
    n = len(groups)
    wins = sum(g > ACC_TIE for g in gains_all)
    lines += ["", f"A beta < 1 beats the ReLU under the probe on {wins} of {n} pairs; the mean gain of the best beta "
              f"(chosen on the test split: an upper bound) is {_pct(sum(gains_all) / n)} points, "
              f"{100 * sum(rel_oracle) / n:+.2f}% relative. Choosing beta as CT does, by the probe's out-of-fold "
              f"accuracy on the training subset, gains {100 * sum(rel_cv) / n:+.2f}% relative on the test split "
              f"(the paper: +7.14% / +8.46% for ResNet-50 / 152 over 12 datasets, beta by validation). With the "
              f"paper's Adam probe the best beta (again chosen on the test split) gains "
              f"{100 * sum(rel_adam) / n:+.2f}% relative.", ""]
    return lines


def regret_lines(groups, section: int, title: str, accuracy: str) -> list[str]:
    lines = [f"## {section}. Beta regret against {title}", "",
             "Per (dataset, model) pair, each rule picks the beta it scores highest (ties: the larger beta); "
             "regret = accuracy at the best beta minus at the chosen one, in points. Seconds: what the rule "
             "computes for one pair over all its betas, on the features (which every rule but the last needs; "
             "see the cost line at the end).", "",
             "| rule | pairs | mean regret | max regret | zero regret | mean gain over beta = 1 | picks beta < 1 | "
             "s / pair |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for t in regret_table(groups, accuracy):
        lines.append(f"| {RULE_NAMES.get(t['rule'], t['rule'])} | {t['pairs']} | {100 * t['mean_regret']:.2f} | "
                     f"{100 * t['max_regret']:.2f} | {t['zero_regret']} | {_pct(t['mean_gain'])} | {t['steered']} | "
                     f"{t['seconds']:.2f} |")
    return lines + [""]


def finetune_lines(finetuned: list[dict], section: int) -> list[str]:
    lines = [f"## {section}. Full fine-tuning (ft-v2) of the steered model", ""]
    if not finetuned:
        return lines + ["No record in `benchmarks/results/ct_finetune.jsonl`: not measured.", ""]
    lines += ["From `benchmarks/results/ct_finetune.jsonl` (`python benchmarks/ct_finetune.py`): mean test accuracy "
              "over ft-v2's seeds at the best learning rate of its grid; `runs trained` = 0 when every run was "
              "found in the run records.", "",
              "| dataset | model | beta | accuracy | std | best lr | runs trained |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in finetuned:
        lines.append(f"| {r['row']} | {r['model']} | {r['beta']:g} | {100 * r['accuracy']:.1f} | "
                     f"{100 * (r['accuracy_std'] or 0):.1f} | {r['best_lr']:g} | {r['trained']} |")
    both = {(r["row"], r["model"]) for r in finetuned if r["beta"] < 1} & \
        {(r["row"], r["model"]) for r in finetuned if r["beta"] == 1}
    if not both:
        lines += ["", "No model has been fine-tuned both steered and at beta = 1: whether CT's probe gain survives "
                  "full fine-tuning is not measured here."]
    return lines + [""]


def report(records: list[dict], planned: list[tuple[str, str]] = (), finetuned: list[dict] = ()) -> int:
    """Writes the Markdown and the chart. ``planned``: the (row, model) pairs the sweep is set to run, to say
    which of them have no complete record; ``finetuned``: benchmarks/ct_finetune.py's records."""
    groups = pairs(records)
    if not groups:
        print("no complete (dataset, model) pair in the records yet")
        return 1
    betas = sorted({b for g in groups.values() for b in g})
    rows = list(dict.fromkeys(k[0] for k in groups))
    lines = ["# Curvature Tuning sweep: does a beta < 1 beat the ReLU, and which beta does each score choose?", "",
             "Generated by `python benchmarks/ct_sweep.py --report` from `benchmarks/results/ct_sweep.jsonl` "
             f"({len(records)} records, {len(groups)} complete (dataset, model) pairs). Accuracies in %; the "
             "ground truth is protocol ct-probe (a logistic-regression probe fitted to convergence on the frozen "
             "steered model's features, test split); `adam` is the CT paper's Adam probe (ct-probe-adam, 3 seeds).",
             ""]
    missing = [(row, model) for row, model in planned if (row, model) not in groups]
    if missing:
        by_row: dict[str, list[str]] = defaultdict(list)
        for row, model in missing:
            by_row[row].append(_short(model))
        lines += ["Not measured (no complete record; the sweep did not get there): " + "; ".join(
            f"{row}: {', '.join(models)}" for row, models in by_row.items()) + ".", ""]
    lines += ground_truth_lines(groups, betas)
    lines += regret_lines(groups, 2, "ct-probe (logistic regression, converged)", "accuracy")
    lines += regret_lines(groups, 3, "ct-probe-adam (the CT paper's Adam recipe)", "adam_accuracy")
    lines += finetune_lines(list(finetuned), 4)
    n = len(groups)
    feat = [sum(r["features_seconds"] for r in g.values()) for g in groups.values()]
    probe = [sum(r["probe_seconds"] for r in g.values()) for g in groups.values()]
    lines += [f"Cost per pair (all {len(betas)} betas, the sweep's default of 1 thread on a shared 2-core CPU): the "
              f"frozen forward passes over the training and test images {sum(feat) / n:.0f} s on average (every rule "
              f"needs the training half; only the ground truth needs the test half), the ground-truth probe "
              f"{sum(probe) / n:.1f} s.", ""]
    OUT_MD.parent.mkdir(parents=True, exist_ok=True)
    OUT_MD.write_text("\n".join(lines))
    chart(groups, rows)
    print("\n".join(lines))
    print(f"\nwrote {OUT_MD} and {OUT_PNG}")
    return 0


MARKERS = "osD^vP*X"


def chart(groups, rows) -> None:
    """One panel per dataset row: ct-probe accuracy minus its value at beta = 1, a line per model (each its own
    colour and marker, so that lines lying on top of each other stay visible), the best beta ringed. The legend
    of each panel gives the accuracy at beta = 1, so that the differences have a level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(m for _, m in groups))
    cols = min(2, len(rows))
    nrows = -(-len(rows) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(6.4 * cols, 5.6 * nrows), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, row in zip(axes.flat, rows):
        num_test = None
        for k, model in enumerate(models):
            by_beta = groups.get((row, model))
            if not by_beta:
                continue
            xs = sorted(by_beta)
            acc = {b: by_beta[b]["accuracy"] for b in xs}
            num_test = by_beta[1.0]["num_test"]
            size = 9 - k  # the earlier models drawn larger, so that equal points show every marker
            ax.plot(xs, [100 * (acc[b] - acc[1.0]) for b in xs], "-", marker=MARKERS[k % len(MARKERS)], ms=size,
                    mfc="none", mew=1.2, lw=1.2, color=colours(k % 10),
                    label=f"{_short(model)} ({100 * acc[1.0]:.1f}% at beta 1)")
            best = _argmax(acc, ACC_TIE)
            ax.plot([best], [100 * (acc[best] - acc[1.0])], "o", ms=16, mfc="none", mec=colours(k % 10), mew=1.0,
                    alpha=0.6)
        ax.axhline(0, color="#999", lw=0.8, ls=":")
        ax.set_title(f"{row}: {num_test} test images (one image = {100 / num_test:.2f} points)", fontsize=10)
        ax.set_xlabel("CT beta (1 = ReLU, the unsteered model)")
        ax.set_ylabel("ct-probe test accuracy minus at beta = 1 (points)")
        ax.grid(color="#eeeeee")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=7.5, frameon=False)
    for ax in list(axes.flat)[len(rows):]:
        ax.set_visible(False)
    fig.suptitle("Curvature Tuning: linear-probe test accuracy against beta, relative to the ReLU\n"
                 "(faint ring: the best beta; ties go to the larger beta)", fontsize=11)
    fig.tight_layout()
    fig.savefig(OUT_PNG, dpi=100, metadata={"Software": None})
    plt.close(fig)
