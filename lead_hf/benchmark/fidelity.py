"""How well scores' rankings agree with fine-tuning, over models and datasets.

- per dataset, every measure of :mod:`lead_hf.results.agreement` for every score;
- the reference rows any score must beat: a random order (its expected value), and the noise ceiling (one
  half of the fine-tuning seeds ranking the models for the other half: the ground truth against itself);
- the headline: the datasets whose noise ceiling reaches a threshold (a ground truth that disagrees with
  itself cannot tell scores apart), over which the means are taken;
- bootstrap draws that resample the models of every dataset and the fine-tuning seeds of every model,
  the same draws for every score (so two scores compare draw by draw: ``paired_difference_ci``);
- the fidelity document (fidelity.json) and its Markdown table.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from ..results.agreement import LOWER_IS_BETTER, MEASURES, agreement, random_order_agreement
from ..results.ground_truth import dataset_key
from .schema import BenchmarkResult, Entry

BOOTSTRAP_MEASURES = ("top1_regret", "recall_at_3", "weighted_tau", "spearman", "pearson")
"""The measures with bootstrap intervals (Kendall tau adds nothing the weighted tau and Spearman lack)."""
FIDELITY_SCHEMA = "lead-hf/fidelity/v2"


@dataclass
class DatasetTable:
    """One dataset's models, their fine-tuned accuracies (and each seed's) and every score's values."""

    models: list[str]
    accuracy: np.ndarray
    seeds: list[np.ndarray | None]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    """score -> value per model (NaN where the score did not run on that model)."""


def dataset_tables(rows: list[dict[str, Any]], seeds: dict[tuple[str, str], list[float]] | None = None
                   ) -> dict[str, DatasetTable]:
    """dataset -> :class:`DatasetTable` from score rows (dataset, model, score, value, accuracy) and the
    seed accuracies of (dataset, model) where the ground truth has them."""
    seeds = seeds or {}
    by_ds: dict[str, dict[str, dict[str, float]]] = {}
    accuracy: dict[str, dict[str, float]] = {}
    for r in rows:
        by_ds.setdefault(r["dataset"], {}).setdefault(r["score"], {})[r["model"]] = r["value"]
        accuracy.setdefault(r["dataset"], {})[r["model"]] = r["accuracy"]
    out = {}
    for ds, per_score in by_ds.items():
        models = sorted(accuracy[ds])
        table = DatasetTable(models, np.array([accuracy[ds][m] for m in models], dtype=float),
                             [np.asarray(seeds[(ds, m)], dtype=float) if seeds.get((ds, m)) else None for m in models])
        for score, vals in per_score.items():
            table.values[score] = np.array([vals.get(m, np.nan) for m in models], dtype=float)
        out[ds] = table
    return out


def entry_seeds(entries: dict[str, list[Entry]] | list[Entry]) -> dict[tuple[str, str], list[float]]:
    """(dataset, model) -> seed accuracies, from benchmark entries."""
    flat = [e for es in entries.values() for e in es] if isinstance(entries, dict) else entries
    return {(e.dataset, e.model): list(e.seed_accuracies) for e in flat if e.seed_accuracies}


def _measures(values: np.ndarray, accuracy: np.ndarray, which=MEASURES) -> dict[str, float] | None:
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return None
    got = agreement(values[ok], accuracy[ok]) if which is MEASURES else _quick(values[ok], accuracy[ok])
    return {m: got[m] for m in which}


def _quick(values: np.ndarray, accuracy: np.ndarray) -> dict[str, float]:
    """The bootstrap's measures, the cheap ones without scipy's per-call checks (equal to ``agreement``'s:
    tests/test_benchmark_fidelity.py)."""
    from scipy import stats

    from ..results.agreement import recall_at_k, top1_regret, weighted_tau

    def corr(x, y):
        if x.std() == 0 or y.std() == 0:
            return 0.0
        value = np.corrcoef(x, y)[0, 1]
        return float(value) if np.isfinite(value) else 0.0

    return {"top1_regret": top1_regret(values, accuracy), "recall_at_3": recall_at_k(values, accuracy, 3),
            "weighted_tau": weighted_tau(values, accuracy), "pearson": corr(values, accuracy),
            "spearman": corr(stats.rankdata(values), stats.rankdata(accuracy))}


def agreement_tables(rows: list[dict[str, Any]], min_models: int = 2, datasets: list[str] | None = None):
    """(per_dataset, summary) from score rows. per_dataset: dataset -> score -> measure -> value, on every
    dataset with at least ``min_models`` models; summary: score -> the mean of each measure over
    ``datasets`` (default: all) where the score ran, plus ``min_weighted_tau``, ``seconds`` (mean per
    model) and ``datasets`` (how many it was averaged over)."""
    per_dataset: dict[str, dict[str, dict[str, float]]] = {}
    for ds, table in dataset_tables(rows).items():
        if len(table.models) < min_models:
            continue
        for score, values in table.values.items():
            got = _measures(values, table.accuracy)
            if got is not None and np.isfinite(values).sum() >= min_models:
                per_dataset.setdefault(ds, {})[score] = got
    summary: dict[str, dict[str, float]] = {}
    use = [ds for ds in per_dataset if datasets is None or ds in datasets]
    for score in sorted({r["score"] for r in rows}):
        got = [per_dataset[ds][score] for ds in use if score in per_dataset[ds]]
        if not got:
            continue
        summary[score] = {m: float(np.mean([g[m] for g in got])) for m in MEASURES}
        summary[score]["min_weighted_tau"] = float(min(g["weighted_tau"] for g in got))
        summary[score]["seconds"] = float(np.mean([r["seconds"] for r in rows if r["score"] == score]))
        summary[score]["datasets"] = len(got)
    return per_dataset, summary


# ------------------------------------------------------------------------------- reference rows

def _seed_matrix(seed_lists: list) -> np.ndarray | None:
    """[models, seeds]: the first n seeds of every model, n the fewest any model has (>= 2); None when a
    model has fewer than 2 seeds or fewer than 2 models have any."""
    if len(seed_lists) < 2 or any(s is None or len(s) < 2 for s in seed_lists):
        return None
    n = min(len(s) for s in seed_lists)
    return np.array([np.asarray(s, dtype=float)[:n] for s in seed_lists])


def _halves(n: int) -> list[tuple[list[int], list[int]]]:
    """Every split of n seeds into two halves (the first has n // 2), each split once."""
    splits = [sorted(c) for c in combinations(range(n), n // 2)]
    if n % 2 == 0:  # {a,b}|{c,d} and {c,d}|{a,b} are the same split: keep the one holding seed 0
        splits = [c for c in splits if 0 in c]
    return [(half, [i for i in range(n) if i not in half]) for half in splits]


def ceiling_measures(seed_lists: list) -> dict[str, float] | None:
    """Every measure of one half of the fine-tuning seeds (its mean accuracy as the score) against the other
    half, averaged over the splits into halves: how well the ground truth agrees with itself. A score can
    hardly agree with the ground truth better. Half the seeds are noisier than all of them, so this is a
    conservative bound. None without 2 seeds for every model."""
    acc = _seed_matrix(seed_lists)
    if acc is None:
        return None
    got = [agreement(acc[:, a].mean(1), acc[:, b].mean(1)) for a, b in _halves(acc.shape[1])]
    return {m: float(np.mean([g[m] for g in got])) for m in MEASURES}


def noise_ceiling(entries: list[Entry]) -> float | None:
    """The weighted tau of :func:`ceiling_measures` for one dataset's entries (None: too few seeds)."""
    got = ceiling_measures([e.seed_accuracies for e in entries])
    return None if got is None else got["weighted_tau"]


def random_measures(table: DatasetTable, seed: int = 0) -> dict[str, float]:
    """The expected value of every measure for a random order of the dataset's models."""
    return random_order_agreement(table.accuracy, seed=seed)


def headline_datasets(ceilings: dict[str, dict[str, float] | None], threshold: float
                      ) -> tuple[list[str], dict[str, str]]:
    """(headline, left out with the reason): the datasets whose noise ceiling (weighted tau) reaches
    ``threshold``. Where no dataset has seeds to measure it, every dataset is in the headline; where none
    reaches it, none is (the means are then taken over every dataset and said to be so)."""
    if all(c is None for c in ceilings.values()):
        return list(ceilings), {}
    keep, out = [], {}
    for ds, c in ceilings.items():
        if c is None:
            out[ds] = "no noise ceiling: its ground truth has fewer than 2 seeds per model"
        elif c["weighted_tau"] < threshold:
            out[ds] = f"noise ceiling {c['weighted_tau']:.2f} < {threshold:g}: its ground truth disagrees with itself"
        else:
            keep.append(ds)
    return keep, out


# ---------------------------------------------------------------------------------- bootstrap

def bootstrap_draws(rows: list[dict[str, Any]], draws: int = 1000, seed: int = 0, min_models: int = 2,
                    seeds: dict[tuple[str, str], list[float]] | None = None, datasets: list[str] | None = None,
                    measures=BOOTSTRAP_MEASURES) -> dict[str, dict[str, np.ndarray]]:
    """measure -> score -> [draws]: each measure's mean over ``datasets`` (default: all) in every bootstrap
    draw. A draw resamples every dataset's models with replacement (redrawn until 2 differ) and, where the
    ground truth has them, every model's fine-tuning seeds with replacement (its accuracy is their mean).
    Every score sees the same draws, so two scores compare draw by draw. A dataset where a score is
    undefined in a draw is left out of that draw's mean; NaN where it is undefined everywhere."""
    if draws < 1:
        return {}
    rng = np.random.default_rng(seed)
    tables = {ds: t for ds, t in dataset_tables(rows, seeds).items()
              if len(t.models) >= min_models and (datasets is None or ds in datasets)}
    per: dict[str, dict[str, list[np.ndarray]]] = {m: {} for m in measures}
    for ds, t in tables.items():
        n = len(t.models)
        got = {score: {m: np.full(draws, np.nan) for m in measures} for score in t.values}
        for d in range(draws):
            pick = rng.integers(0, n, n)
            while len(np.unique(pick)) < 2:
                pick = rng.integers(0, n, n)
            acc = t.accuracy.copy()
            for i, s in enumerate(t.seeds):
                if s is not None:
                    acc[i] = s[rng.integers(0, s.size, s.size)].mean()
            for score, values in t.values.items():
                ran = np.isfinite(values[pick])
                if len(np.unique(pick[ran])) < 2:
                    continue  # undefined in this draw: fewer than 2 distinct models this score ran on
                one = _quick(values[pick][ran], acc[pick][ran])
                for m in measures:
                    got[score][m][d] = one[m]
        for score, by_measure in got.items():
            for m in measures:
                per[m].setdefault(score, []).append(by_measure[m])
    out: dict[str, dict[str, np.ndarray]] = {m: {} for m in measures}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN draws stay NaN
        for m in measures:
            for score, cols in per[m].items():
                out[m][score] = np.nanmean(np.array(cols), axis=0)
    return out


def _interval(values: np.ndarray, level: float) -> list[float] | None:
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return [float(np.percentile(values, lo)), float(np.percentile(values, hi))]


def bootstrap_ci(rows: list[dict[str, Any]], draws: int = 1000, seed: int = 0, min_models: int = 2,
                 level: float = 0.95, means: dict[str, dict[str, np.ndarray]] | None = None,
                 measure: str = "weighted_tau", **kwargs) -> dict[str, list[float]]:
    """score -> [low, high]: the ``level`` interval of ``measure``'s mean over the draws of
    :func:`bootstrap_draws` (``means``: those draws, when the caller has them)."""
    means = bootstrap_draws(rows, draws, seed, min_models, **kwargs) if means is None else means
    out = {}
    for score, per_draw in means.get(measure, {}).items():
        interval = _interval(per_draw, level)
        if interval is not None:
            out[score] = interval
    return out


def paired_difference_ci(rows: list[dict[str, Any]], reference: str, draws: int = 1000, seed: int = 0,
                         min_models: int = 2, level: float = 0.95,
                         means: dict[str, dict[str, np.ndarray]] | None = None, measure: str = "weighted_tau",
                         **kwargs) -> dict[str, dict[str, Any]]:
    """score -> {"ci95": [low, high] of its ``measure`` minus ``reference``'s, "p_better": the share of draws
    where it is better (higher; lower for the regret)}, both read on the same draws. A difference between
    two scores is better determined than their two intervals suggest: the models that make both rank
    badly are drawn together."""
    means = bootstrap_draws(rows, draws, seed, min_models, **kwargs) if means is None else means
    per = means.get(measure, {})
    if reference not in per:
        return {}
    out = {}
    for score, m in per.items():
        if score == reference:
            continue
        diff = m - per[reference]
        interval = _interval(diff, level)
        if interval is not None:
            finite = diff[np.isfinite(diff)]
            better = finite < 0 if measure in LOWER_IS_BETTER else finite > 0
            out[score] = {"ci95": interval, "p_better": float(better.mean())}
    return out


def best_score(summary: dict[str, dict[str, float]], measure: str, among=None) -> str | None:
    """The score with the best mean ``measure`` (the lowest regret, the highest of the others)."""
    names = [s for s in summary if among is None or s in among]
    if not names:
        return None
    sign = 1 if measure in LOWER_IS_BETTER else -1
    return min(names, key=lambda s: (sign * summary[s][measure], s))


# ------------------------------------------------------------------------------ the document

def _mean_over(per_dataset: dict[str, dict[str, float]], datasets: list[str]) -> dict[str, float]:
    got = [per_dataset[d] for d in datasets if d in per_dataset]
    return {m: float(np.mean([g[m] for g in got])) for m in MEASURES} if got else {}


def _row(per_dataset: dict[str, dict[str, float]], headline: list[str], ci=None, vs_top=None) -> dict[str, Any]:
    mean = _mean_over(per_dataset, headline)
    return {"mean_wtau": mean.get("weighted_tau"), "mean_regret": mean.get("top1_regret"), "mean": mean,
            "per_dataset": per_dataset, **({"ci95": ci} if ci is not None else {}),
            **({"minus_top": vs_top} if vs_top is not None else {})}


def fidelity_document(result: BenchmarkResult) -> dict[str, Any]:
    """The machine-readable summary (``fidelity.json``, schema lead-hf/fidelity/v2): per score and per
    reference row every measure per dataset and its mean over the headline datasets (``mean_regret`` in
    accuracy points, ``mean_wtau``), bootstrap intervals, the noise ceilings, which datasets make the
    headline and why the others do not, and which models each dataset was computed on."""
    key = dataset_key
    datasets = list(result.per_dataset)
    models_per_ds = {ds: sorted({r["model"] for r in result.values if r["dataset"] == ds}) for ds in datasets}
    headline = [key(d) for d in result.headline]

    def per(name):
        return {key(d): result.per_dataset[d][name] for d in datasets if name in result.per_dataset[d]}

    def top_diff(name):
        out = {m: result.vs_top.get(m, {}).get(name) for m in ("weighted_tau", "top1_regret")}
        return {m: v for m, v in out.items() if v is not None}

    def ci(name):
        return {m: v for m, v in ((m, result.ci95.get(m, {}).get(name)) for m in BOOTSTRAP_MEASURES) if v}

    order = sorted((s for s in result.summary if s not in result.reference),
                   key=lambda s: (result.summary[s]["top1_regret"], -result.summary[s]["weighted_tau"], s))
    reference = {name: _row(per(name), headline, ci(name), top_diff(name)) for name in result.reference
                 if name in result.summary}
    reference["random"] = _row({key(d): v for d, v in result.random.items()}, headline)
    reference["noise_ceiling"] = _row({key(d): v for d, v in result.ceiling.items()}, headline)
    return {
        "schema": FIDELITY_SCHEMA,
        "protocol": result.protocol,
        "datasets": [key(d) for d in datasets],
        "headline_datasets": headline,
        "headline_rule": f"noise ceiling (weighted tau between seed halves) >= {result.headline_threshold:g}",
        "not_in_headline": {key(d): why for d, why in result.not_in_headline.items()},
        "headline_note": result.headline_note,
        "regret_unit": "accuracy points (percentage points of test accuracy)",
        "models": sorted({m for ms in models_per_ds.values() for m in ms}),
        "models_per_dataset": {key(d): ms for d, ms in models_per_ds.items()},
        "ground_truth_models": {key(d): n for d, n in result.ground_truth_models.items()},
        "left_out": {key(d): v for d, v in result.left_out.items() if v},
        "without_ground_truth": {key(d): v for d, v in result.without_ground_truth.items() if v},
        "noise_ceiling": {key(d): v["weighted_tau"] for d, v in result.ceiling.items()},
        "scores": {name: _row(per(name), headline, ci(name), top_diff(name)) for name in order},
        "reference": reference,
        "primary": result.primary,
        "vs_primary": result.vs_primary,
        "score_options": {name: result.score_options[name] for name in [*order, *result.reference]
                          if name in result.score_options},
        "best": {m: best_score(result.summary, m) for m in ("top1_regret", "weighted_tau")},
        "bootstrap": {"draws": result.options.get("bootstrap"), "seed": result.options.get("seed"),
                      "over": "the models of every dataset and the fine-tuning seeds of every model, "
                              "with replacement; every score on the same draws",
                      "measures": list(BOOTSTRAP_MEASURES)},
    }


def _fmt(value, spec=".3f") -> str:
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def _ci(ci, spec=".2f") -> str:
    return f"[{ci[0]:{spec}}, {ci[1]:{spec}}]" if ci else "-"


def _check_schema(doc: dict[str, Any]) -> None:
    if doc.get("schema") != FIDELITY_SCHEMA:
        raise ValueError(f"this fidelity file has schema {doc.get('schema')!r}; this lead-hf reads "
                         f"{FIDELITY_SCHEMA!r}: re-run `lead-hf benchmark` to rewrite it")


def fidelity_table(doc: dict[str, Any]) -> str:
    """The Markdown table of a ``fidelity.json`` document, as the README shows it: per score (best mean
    regret first), then the reference rows, the means over the headline datasets of top-1 regret (accuracy
    points, 95% interval), recall@3, Spearman, Pearson and weighted tau (95% interval, and the paired
    difference to the best score). ``python -m lead_hf.benchmark FIDELITY_JSON`` prints it."""
    _check_schema(doc)
    head = ["score", "top-1 regret (points)", "95% CI", "recall@3", "Spearman", "Pearson", "weighted tau",
            "95% CI", "wtau minus best: 95% CI, P(>)"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    labels = {"random": "*random order (expected)*", "noise_ceiling": "*noise ceiling (seed halves)*"}
    for group in ("scores", "reference"):
        for name, row in doc[group].items():
            mean, ci = row.get("mean") or {}, row.get("ci95") or {}
            diff = (row.get("minus_top") or {}).get("weighted_tau")
            label = labels.get(name, f"*{name}*" if group == "reference" else name)
            cells = [label, _fmt(mean.get("top1_regret"), ".2f"), _ci(ci.get("top1_regret"), ".1f"),
                     _fmt(mean.get("recall_at_3"), ".2f"), _fmt(mean.get("spearman")), _fmt(mean.get("pearson")),
                     _fmt(mean.get("weighted_tau")), _ci(ci.get("weighted_tau")),
                     f"[{diff['ci95'][0]:+.2f}, {diff['ci95'][1]:+.2f}], {diff['p_better']:.2f}" if diff else
                     ("best" if name == (doc.get("best") or {}).get("weighted_tau") else "")]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def per_dataset_table(doc: dict[str, Any]) -> str:
    """Markdown: weighted tau / top-1 regret (points) of every score and reference row on every dataset; the
    header gives each dataset's models scored of those with ground truth or in the zoo (without ground truth
    yet) and marks the headline ones."""
    _check_schema(doc)
    datasets, headline = doc["datasets"], set(doc["headline_datasets"])
    counts, truth = doc.get("models_per_dataset", {}), doc.get("ground_truth_models", {})
    pending = doc.get("without_ground_truth", {})

    def header(d):
        n, of = len(counts.get(d, [])), (truth.get(d) or 0) + len(pending.get(d, []))
        return f"{d}{'' if d in headline else ' †'} ({n}{f' of {of}' if of and of != n else ''})"

    lines = ["| score | " + " | ".join(header(d) for d in datasets) + " |", "|---|" + "---:|" * len(datasets)]
    labels = {"random": "*random order*", "noise_ceiling": "*noise ceiling*"}
    for group in ("scores", "reference"):
        for name, row in doc[group].items():
            cells = [labels.get(name, f"*{name}*" if group == "reference" else name)]
            for d in datasets:
                m = row["per_dataset"].get(d)
                cells.append(f"{m['weighted_tau']:.2f} / {m['top1_regret']:.1f}" if m else "-")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def protocol_of(entries: dict[str, list[Entry]]) -> str:
    """The protocol names (first word of the ground truth's protocol column), e.g. 'ft-v2'."""
    names = sorted({e.protocol.split()[0] for es in entries.values() for e in es if e.protocol})
    return ",".join(names) if names else "unknown"
