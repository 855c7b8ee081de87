"""How well scores' rankings agree with fine-tuning, over models and datasets: per-dataset agreement tables,
the ground truth's noise ceiling, bootstrap intervals over models and paired differences between scores,
and the fidelity document (fidelity.json) with its Markdown table."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..results.ground_truth import dataset_key
from .options import MEASURES
from .schema import BenchmarkResult, Entry


def agreement_tables(rows: list[dict[str, Any]], min_models: int = 2):
    """(per_dataset, summary) from score rows; a score is averaged over the datasets it ran on."""
    from ..results.agreement import agreement

    per_dataset: dict[str, dict[str, dict[str, float]]] = {}
    by_pair: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        by_pair.setdefault((r["dataset"], r["score"]), []).append(r)
    for (ds, method), rs in by_pair.items():
        if len(rs) < min_models:
            continue
        per_dataset.setdefault(ds, {})[method] = agreement([r["value"] for r in rs], [r["accuracy"] for r in rs])
    summary: dict[str, dict[str, float]] = {}
    methods = sorted({r["score"] for r in rows})
    for method in methods:
        got = [per_dataset[ds][method] for ds in per_dataset if method in per_dataset[ds]]
        if not got:
            continue
        summary[method] = {m: float(np.mean([g[m] for g in got])) for m in MEASURES}
        summary[method]["min_weighted_tau"] = float(min(g["weighted_tau"] for g in got))
        summary[method]["seconds"] = float(np.mean([r["seconds"] for r in rows if r["score"] == method]))
        summary[method]["datasets"] = len(got)
    return per_dataset, summary


def noise_ceiling(entries: list[Entry]) -> float | None:
    """Weighted tau between the two halves of the fine-tuning seeds, averaged over every split of the
    seeds into halves (3 seeds: {a} vs {b, c}, three ways): how well the ground truth agrees with
    itself. A score cannot be expected to agree with the ground truth much better than this. None when
    fewer than 2 models have the same number (>= 2) of seeds."""
    from itertools import combinations

    from ..results.agreement import weighted_tau

    with_seeds = [e for e in entries if e.seed_accuracies and len(e.seed_accuracies) >= 2]
    counts = {len(e.seed_accuracies) for e in with_seeds}
    if len(with_seeds) < 2 or len(counts) != 1:
        return None
    acc = np.array([e.seed_accuracies for e in with_seeds])  # [models, seeds]
    n = acc.shape[1]
    splits = [set(c) for c in combinations(range(n), n // 2)]
    if n % 2 == 0:  # {a,b}|{c,d} and {c,d}|{a,b} are the same split: keep one
        splits = [c for c in splits if 0 in c]
    values = []
    for half in splits:
        rest = [i for i in range(n) if i not in half]
        values.append(weighted_tau(acc[:, sorted(half)].mean(1), acc[:, rest].mean(1)))
    return float(np.mean(values))


def bootstrap_draws(rows: list[dict[str, Any]], draws: int = 1000, seed: int = 0,
                    min_models: int = 2) -> dict[str, np.ndarray]:
    """score -> [draws] mean (over datasets) weighted tau of every bootstrap draw, resampling the models of
    every dataset with replacement. Every score sees the same draws, so two scores can be compared draw by
    draw (``paired_difference_ci``). Draws in which a dataset has fewer than 2 distinct models are redrawn
    on that dataset's own stream; a draw where a score is undefined everywhere is NaN."""
    from ..results.agreement import weighted_tau

    if draws < 1:
        return {}
    rng = np.random.default_rng(seed)
    by_ds: dict[str, dict[str, dict[str, tuple[float, float]]]] = {}
    for r in rows:
        by_ds.setdefault(r["dataset"], {}).setdefault(r["score"], {})[r["model"]] = (r["value"], r["accuracy"])
    samples: dict[str, list[list[float]]] = {}
    for ds, per_score in by_ds.items():
        models = sorted({m for vals in per_score.values() for m in vals})
        if len(models) < min_models:
            continue
        picks = []
        while len(picks) < draws:
            pick = rng.integers(0, len(models), len(models))
            if len(set(pick.tolist())) >= 2:
                picks.append(pick)
        for method, vals in per_score.items():
            if len(vals) < min_models:
                continue
            have = [m for m in models if m in vals]
            index = {m: i for i, m in enumerate(have)}
            v = np.array([vals[m][0] for m in have])
            a = np.array([vals[m][1] for m in have])
            col = []
            for pick in picks:
                chosen = [index[models[i]] for i in pick if models[i] in index]
                col.append(weighted_tau(v[chosen], a[chosen]) if len(set(chosen)) >= 2 else np.nan)
            samples.setdefault(method, []).append(col)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN draws stay NaN
        for method, cols in samples.items():
            out[method] = np.nanmean(np.array(cols), axis=0)
    return out


def _interval(values: np.ndarray, level: float) -> list[float] | None:
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return [float(np.percentile(values, lo)), float(np.percentile(values, hi))]


def bootstrap_ci(rows: list[dict[str, Any]], draws: int = 1000, seed: int = 0, min_models: int = 2,
                 level: float = 0.95, means: dict[str, np.ndarray] | None = None) -> dict[str, list[float]]:
    """score -> [low, high] of the mean (over datasets) weighted tau over the draws of ``bootstrap_draws``
    (``means``: those draws, when the caller has them)."""
    out = {}
    means = bootstrap_draws(rows, draws, seed, min_models) if means is None else means
    for method, per_draw in means.items():
        interval = _interval(per_draw, level)
        if interval is not None:
            out[method] = interval
    return out


def paired_difference_ci(rows: list[dict[str, Any]], reference: str, draws: int = 1000, seed: int = 0,
                         min_models: int = 2, level: float = 0.95,
                         means: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, Any]]:
    """score -> {"ci95": [low, high] of its mean weighted tau minus ``reference``'s, "p_better": the share
    of draws where it is higher}, both scores read on the same resampled models of every draw. The
    difference between two scores can be better determined than their two intervals suggest, because the
    models that make both rank badly are drawn together."""
    means = bootstrap_draws(rows, draws, seed, min_models) if means is None else means
    if reference not in means:
        return {}
    out = {}
    for method, m in means.items():
        if method == reference:
            continue
        diff = m - means[reference]
        interval = _interval(diff, level)
        if interval is not None:
            finite = diff[np.isfinite(diff)]
            out[method] = {"ci95": interval, "p_better": float((finite > 0).mean())}
    return out


def fidelity_document(result: BenchmarkResult) -> dict[str, Any]:
    """The machine-readable summary (``fidelity.json``): protocol, datasets, models, noise ceiling, and per
    score its mean weighted tau, per-dataset weighted tau and 95% bootstrap interval."""
    models_per_ds = {ds: sorted({r["model"] for r in result.values if r["dataset"] == ds}) for ds in result.per_dataset}
    return {
        "schema": "lead-hf/fidelity/v1",
        "protocol": result.protocol,
        "datasets": [dataset_key(d) for d in result.per_dataset],
        "models": sorted({m for ms in models_per_ds.values() for m in ms}),
        "models_per_dataset": {dataset_key(d): ms for d, ms in models_per_ds.items()},
        "noise_ceiling": {dataset_key(d): v for d, v in result.noise_ceiling.items()},
        "scores": {m: {"mean_wtau": result.summary[m]["weighted_tau"],
                       "per_dataset": {dataset_key(d): result.per_dataset[d][m]["weighted_tau"]
                                       for d in result.per_dataset if m in result.per_dataset[d]},
                       "ci95": result.ci95.get(m), "minus_top": result.vs_top.get(m)}
                   for m in sorted(result.summary, key=lambda k: -result.summary[k]["weighted_tau"])},
        "bootstrap": {"draws": result.options.get("bootstrap"), "seed": result.options.get("seed"),
                      "over": "models, per dataset, with replacement"},
    }


def fidelity_table(doc: dict[str, Any]) -> str:
    """The Markdown table of a ``fidelity.json`` document, as the README shows it: per dataset the weighted
    tau (its model count in the header), the mean, its 95% interval, the paired difference to the top
    score, and the noise ceiling. ``python -m lead_hf.benchmark FIDELITY_JSON`` prints it."""
    datasets = doc["datasets"]
    counts = doc.get("models_per_dataset", {})
    head = ["score", *(f"{d} ({len(counts[d])})" if d in counts else d for d in datasets), "mean wtau",
            "95% CI", "minus top: 95% CI, P(>)"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    top = max(doc["scores"], key=lambda m: doc["scores"][m]["mean_wtau"]) if doc["scores"] else None
    for name, s in doc["scores"].items():
        per = s["per_dataset"]
        ci, diff = s.get("ci95"), s.get("minus_top")
        cells = [name, *(f"{per[d]:.3f}" if d in per else "-" for d in datasets), f"{s['mean_wtau']:.3f}",
                 f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-",
                 f"[{diff['ci95'][0]:+.2f}, {diff['ci95'][1]:+.2f}], {diff['p_better']:.2f}" if diff else ("top" if name == top else "-")]
        lines.append("| " + " | ".join(cells) + " |")
    nc = doc.get("noise_ceiling") or {}
    if nc:
        cells = ["*noise ceiling*", *(f"{nc[d]:.3f}" if d in nc else "-" for d in datasets),
                 f"{np.mean(list(nc.values())):.3f}", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def protocol_of(entries: dict[str, list[Entry]]) -> str:
    """The protocol names (first word of the ground truth's protocol column), e.g. 'ft-v2'."""
    names = sorted({e.protocol.split()[0] for es in entries.values() for e in es if e.protocol})
    return ",".join(names) if names else "unknown"


