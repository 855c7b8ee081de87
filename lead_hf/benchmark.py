"""`lead-hf benchmark`: how well each transferability score's ranking agrees with real fine-tuning.

For every downstream dataset and every model with a ground-truth accuracy, the features (and source
logits) of the downstream training split are taken from the extraction cache, with the preprocessing
fine-tuning used (``lead_hf.models.preprocessing.resized_ref``), and every available score is computed
and timed. Per dataset and averaged over datasets: weighted Kendall tau (``scipy.stats.weightedtau`` defaults, the
literature's measure), Kendall tau, Pearson and top-1 relative regret. Writes ``benchmark.json``,
``benchmark.csv`` (one row per score x model x dataset), ``benchmark.md`` and ``benchmark.png``.

Precomputed features instead of models (e.g. to reproduce the literature's comparison on the published
zoos): ``--features DIR`` with ``DIR/<dataset>/<model>.npz`` (or ``.safetensors``) holding ``features``,
``labels`` and optionally ``logits``, plus ``--ground-truth FILE.csv`` either long (model,dataset,accuracy)
or wide (model,<dataset>,<dataset>,...; the format of the literature's published tables).

    >>> from lead_hf.benchmark import BenchmarkOptions, run_benchmark
    >>> bench = run_benchmark(BenchmarkOptions(datasets=("embedded:digits",)))
    >>> bench.summary["lead"]["weighted_tau"]
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .utils.constraints import Boolean, Interval, Items, PathLike, Text
from .results.ground_truth import GroundTruth, by_dataset, dataset_key, read_ground_truth
from .results.options import OutputOptions
from .scores.selection import ScoringOptions

MEASURES = ("weighted_tau", "kendall_tau", "pearson", "top1_regret")
DEFAULT_DATASETS = ("embedded:lfw_faces", "embedded:digits", "embedded:fashion_mnist", "embedded:mnist")


@dataclass
class BenchmarkOptions(ScoringOptions, OutputOptions):
    zoo: str = "benchmarks/zoo.txt"
    """Model list (one spec per line, {ZOO_DIR} replaced by --zoo-dir); ignored with --models or --features.
    A relative path is looked up in the current directory, then in the lead-hf source checkout."""
    zoo_dir: str | None = None
    """Folder of the derived checkpoints (python -m benchmarks.zoo.build); default <lead_hf cache>/benchmark_zoo."""
    models: tuple[str, ...] = ()
    """Model specs to benchmark instead of the zoo file."""
    datasets: tuple[str, ...] = DEFAULT_DATASETS
    """Downstream datasets (with --features: the sub-folder names)."""
    ground_truth: str = "benchmarks/ground_truth"
    """Fine-tuned accuracies: a folder of <dataset>.csv files (model,dataset,accuracy) or one CSV, long
    (model,dataset,accuracy) or wide (model,<dataset>,...)."""
    features: str | None = None
    """Precomputed features: DIR/<dataset>/<model>.npz|.safetensors with features, labels[, logits]."""
    scores: tuple[str, ...] = ("all",)  # its help: lead_hf.scores.selection.ScoringOptions
    split: str = "train"
    """Downstream split the scores see (the training split, as in the literature)."""
    max_per_class: int | None = 30
    """Stratified subset of that split the scores see (None: all of it)."""
    image_size: int = 32
    """Input size of the extracted features; must be fine-tuning's (FinetuneOptions.image_size)."""
    seed: int = 0
    """Seed of the subset selection (where the ground truth does not record one) and of the bootstrap."""
    min_models: int = 3
    """A dataset needs at least this many models with both features and ground truth."""
    num_threads: int = 0
    """torch CPU threads for the scores (0: torch's default). On a busy shared CPU use 1: multi-threaded
    LAPACK (eigh) slows down by 100x when its threads are descheduled."""
    cache_dir: str | None = None
    """Extraction cache root (default: $LEAD_HF_CACHE or ~/.cache/lead_hf)."""
    output_dir: str = "benchmarks/results"  # its help: lead_hf.results.options.OutputOptions
    name: str = "benchmark"
    """Stem of the output files."""
    chart: bool = True
    """Write the PNG chart."""
    bootstrap: int = 1000
    """Bootstrap draws (resampling models) for the 95% interval of every score's mean weighted tau; 0: none."""

    constraints = {
        "zoo": PathLike(), "zoo_dir": (PathLike(), None), "models": Items(Text()),
        "datasets": Items(Text(), min_items=1), "ground_truth": PathLike(), "features": (PathLike(), None),
        "split": Text(),
        "max_per_class": (Interval(int, 1), None), "image_size": Interval(int, 16), "seed": Interval(int),
        "min_models": Interval(int, 2),           # rank agreement needs two models
        "num_threads": Interval(int, 0), "cache_dir": (PathLike(), None), "name": Text(), "chart": Boolean(),
        "bootstrap": Interval(int, 0),            # 0: no interval
    }


@dataclass
class Entry:
    """Inputs of the scores for one (dataset, model)."""

    model: str
    dataset: str
    features: np.ndarray
    labels: np.ndarray
    logits: np.ndarray | None
    accuracy: float
    seed_accuracies: list[float] | None = None
    """Accuracy of each fine-tuning seed (its mean is ``accuracy``), when the ground truth has them."""
    protocol: str = ""
    """The ground truth's protocol string (its first word names it: ft-v1, ft-v2)."""


@dataclass
class BenchmarkResult:
    per_dataset: dict[str, dict[str, dict[str, float]]]
    """dataset -> score -> measure -> value."""
    summary: dict[str, dict[str, float]]
    """score -> mean of each measure over datasets, plus 'seconds' (mean wall time per model) and
    'datasets' (how many datasets it was computed on)."""
    values: list[dict[str, Any]] = field(default_factory=list)
    """One row per (dataset, model, score): value, seconds, accuracy."""
    options: dict[str, Any] = field(default_factory=dict)
    noise_ceiling: dict[str, float] = field(default_factory=dict)
    """dataset -> weighted tau between the two halves of the fine-tuning seeds (mean over the splits into
    halves): how well the ground truth agrees with itself. Only datasets whose models have >= 2 seeds."""
    ci95: dict[str, list[float]] = field(default_factory=dict)
    """score -> [low, high]: 95% bootstrap interval of the mean weighted tau, resampling models."""
    protocol: str = ""
    """The fine-tuning protocol of the ground truth (ft-v1, ft-v2, or what its files say)."""
    vs_top: dict[str, dict[str, Any]] = field(default_factory=dict)
    """score -> {"ci95", "p_better"}: its mean weighted tau minus the top score's, on the same bootstrap
    draws (``paired_difference_ci``): whether the top score is really ahead of it."""


# ------------------------------------------------------------------------------------ inputs

def read_zoo(path, zoo_dir=None) -> list[str]:
    """The specs of a zoo file (:func:`lead_hf.models.read_model_list`); one that lists no model is refused."""
    from .models import read_model_list

    specs = read_model_list(path, zoo_dir, what="zoo file", hint="; pass --zoo FILE or --models SPEC ...")
    if not specs:
        raise ValueError(f"zoo file {str(path)!r} lists no model")
    return specs


def precomputed_entries(folder, dataset: str, truth: dict[str, GroundTruth]) -> list[Entry]:
    """Entries from DIR/<dataset>/<model>.npz|.safetensors for the models that have ground truth (read as
    ``lead-hf score`` reads a features file: :func:`lead_hf.extract.files.load_feature_files`)."""
    from .extract.files import load_feature_files

    sub = Path(folder) / dataset_key(dataset)
    if not sub.is_dir():
        raise FileNotFoundError(f"no feature folder {str(sub)!r} for dataset {dataset!r}; expected "
                                "<features>/<dataset>/<model>.npz")
    entries = []
    for f in sorted(p for p in sub.iterdir() if p.suffix in (".npz", ".safetensors")):
        if f.stem not in truth:
            continue
        features, labels, logits = load_feature_files(str(f))
        gt = truth[f.stem]
        entries.append(Entry(f.stem, dataset, features, labels, logits, gt.accuracy, gt.seed_accuracies,
                             gt.protocol))
    return entries


def extracted_entries(models: list[str], dataset: str, truth: dict[str, GroundTruth], opts: BenchmarkOptions,
                      log: Callable[[str], None]) -> list[Entry]:
    """Entries from the extraction cache at fine-tuning's preprocessing, for the models with ground truth.

    Where the ground truth records its protocol (image size, training split, images per class, subset
    seed), the features are extracted from exactly those images; otherwise from the options'. Members
    trained on ``dataset`` (``ZooEntry.trained_on``) are left out, and so is a model whose weights
    here are not the ones its ground truth records (``revision``)."""
    from .extract import ExtractOptions, extract
    from .models import excluded_datasets
    from .models.preprocessing import resized_ref

    entries = []
    for spec in models:
        if dataset_key(dataset) in excluded_datasets(spec):
            log(f"  {spec}: derived from {dataset}, never scored on it")
            continue
        gt = truth.get(spec)
        if gt is None:
            try:
                gt = truth.get(_model_name(spec))
            except ValueError as err:  # not resolvable here (weights not built, ...) and no ground truth by spec
                log(f"  {spec}: no ground truth on {dataset} and not available here ({err}), skipped")
                continue
        if gt is None:
            log(f"  {spec}: no ground truth on {dataset}, skipped")
            continue
        ref = resized_ref(spec, gt.image_size or opts.image_size)
        if gt.revision and ref.revision and gt.revision != ref.revision:
            log(f"  {spec}: fine-tuned as {gt.revision[:19]}, but the weights here are {ref.revision[:19]} "
                f"(rebuilt on another machine?); skipped: re-run benchmarks/run_ground_truth.py for it")
            continue
        per_class = gt.train_per_class if gt.train_split else opts.max_per_class
        ex = ExtractOptions(split=gt.train_split or opts.split, max_per_class=per_class,
                            seed=opts.seed if gt.subset_seed is None else gt.subset_seed,
                            cache_dir=opts.cache_dir, num_workers=0, progress=False)
        out = extract(ref, dataset, ex)
        entries.append(Entry(ref.name, dataset, out.features, out.labels, out.logits, gt.accuracy,
                             gt.seed_accuracies, gt.protocol))
    return entries


def _model_name(spec: str) -> str:
    """The name a ground-truth file uses for ``spec`` (the resolved model name), without loading it."""
    from .models import resolve_model
    return resolve_model(spec).name


# ---------------------------------------------------------------------------------- scoring

def score_entries(entries: list[Entry], methods: list[str], score_opts: dict[str, dict],
                  device: str) -> list[dict[str, Any]]:
    """Every score on every entry: rows (dataset, model, score, value, seconds, accuracy)."""
    from .scores import compute_score
    from .scores.selection import missing_input

    dev = None if device == "auto" else device
    rows = []
    for e in entries:
        for method in methods:
            if missing_input(method, e.features, e.logits):
                continue  # only this case is skipped: a score that cannot run without source logits
            start = time.perf_counter()
            res = compute_score(method, e.features, e.labels, source_logits=e.logits, device=dev,
                                **score_opts.get(method, {}))
            rows.append({"dataset": e.dataset, "model": e.model, "score": method, "value": float(res.value),
                         "seconds": time.perf_counter() - start, "accuracy": e.accuracy})
    return rows


def agreement_tables(rows: list[dict[str, Any]], min_models: int = 2):
    """(per_dataset, summary) from score rows; a score is averaged over the datasets it ran on."""
    from .results.agreement import agreement

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

    from .results.agreement import weighted_tau

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
    from .results.agreement import weighted_tau

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


# ---------------------------------------------------------------------------------- outputs

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
    from .utils.io import write_text_atomic

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

    from .utils.io import atomic_path

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


# ------------------------------------------------------------------------------------- run

def resolve_repo_path(path: str, what: str, flag: str) -> str:
    """``path`` as given when it exists (or is absolute); a relative one that does not exist here is looked
    up in the lead-hf source checkout this package runs from, so the defaults work from any directory."""
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists():
        return str(given)
    repo = Path(__file__).resolve().parents[1] / given
    if repo.exists() or repo.parent.is_dir():
        return str(repo)
    raise FileNotFoundError(f"{what} {path!r} does not exist here nor in a lead-hf source checkout; "
                            f"pass {flag} PATH")


def collect_entries(opts: BenchmarkOptions, log=print) -> dict[str, list[Entry]]:
    """dataset -> entries (features + labels + logits + accuracy) for every dataset with enough models."""
    truth = by_dataset(read_ground_truth(resolve_repo_path(opts.ground_truth, "ground truth", "--ground-truth")))
    models = None
    if opts.features is None:
        models = list(opts.models) or read_zoo(resolve_repo_path(opts.zoo, "zoo file", "--zoo"), opts.zoo_dir)
    out = {}
    for ds in opts.datasets:
        gt = truth.get(dataset_key(ds))
        if not gt:
            raise ValueError(f"no ground truth for dataset {ds!r} in {opts.ground_truth!r} (it has: "
                             f"{', '.join(sorted(truth)) or 'nothing'}); drop it from --datasets or fine-tune first")
        log(f"{ds}: {len(gt)} models with ground truth")
        entries = precomputed_entries(opts.features, ds, gt) if opts.features is not None \
            else extracted_entries(models, ds, gt, opts, log)
        if len(entries) < opts.min_models:
            raise ValueError(f"dataset {ds!r} has {len(entries)} models with both features and ground truth; "
                             f"at least {opts.min_models} are needed (check the model names in the CSV)")
        out[ds] = entries
    return out


def run_benchmark(opts: BenchmarkOptions, log=print, entries: dict[str, list[Entry]] | None = None) -> BenchmarkResult:
    from .scores.selection import parse_score_options, resolve_methods

    if opts.num_threads:
        import torch
        torch.set_num_threads(opts.num_threads)
    methods = resolve_methods(opts.scores)
    score_opts = parse_score_options(opts.score_options, methods)
    entries = entries if entries is not None else collect_entries(opts, log)
    rows = []
    for ds, es in entries.items():
        log(f"scoring {len(es)} models on {ds}")
        rows += score_entries(es, methods, score_opts, opts.device)
    per_dataset, summary = agreement_tables(rows, opts.min_models)
    ceiling = {ds: v for ds, v in ((ds, noise_ceiling(es)) for ds, es in entries.items()) if v is not None}
    draws = bootstrap_draws(rows, opts.bootstrap, opts.seed, opts.min_models)
    top = max(summary, key=lambda m: summary[m]["weighted_tau"]) if summary else None
    return BenchmarkResult(per_dataset, summary, rows, dataclasses.asdict(opts), noise_ceiling=ceiling,
                           ci95=bootstrap_ci(rows, means=draws),
                           protocol=protocol_of(entries),
                           vs_top=paired_difference_ci(rows, top, means=draws) if top else {})


def fidelity_file_name(name: str) -> str:
    """``fidelity.json`` for the default run, ``<name>_fidelity.json`` for a named one."""
    return "fidelity.json" if name == "benchmark" else f"{name}_fidelity.json"


def write_outputs(result: BenchmarkResult, folder, name: str = "benchmark", chart: bool = True,
                  title: str = "Selection fidelity") -> list[Path]:
    from .utils.io import write_json_atomic, write_text_atomic
    from .utils.provenance import git_commit, package_versions

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


if __name__ == "__main__":  # python -m lead_hf.benchmark FIDELITY_JSON: the README's table of it
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m lead_hf.benchmark",
                                     description="Print the Markdown table of a fidelity.json (as the README shows it).")
    parser.add_argument("fidelity_json", type=Path, help="e.g. benchmarks/results/benchmark_v2_fidelity.json")
    path = parser.parse_args().fidelity_json
    if not path.is_file():
        parser.error(f"{path}: no such file (lead-hf benchmark writes <name>_fidelity.json next to its table)")
    print(fidelity_table(json.loads(path.read_text())), end="")
