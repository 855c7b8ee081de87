"""The benchmark job: for every dataset, the entries (features, labels, logits and fine-tuned accuracy of
each model), every score on every entry, and the agreement of each score's ranking with fine-tuning."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable


from ..results.ground_truth import GroundTruth, by_dataset, dataset_key, read_ground_truth
from .fidelity import agreement_tables, bootstrap_ci, bootstrap_draws, noise_ceiling, paired_difference_ci, protocol_of
from .options import BenchmarkOptions
from .schema import BenchmarkResult, Entry


# ------------------------------------------------------------------------------------ inputs

def read_zoo(path, zoo_dir=None) -> list[str]:
    """The specs of a zoo file (:func:`lead_hf.models.read_model_list`); one that lists no model is refused."""
    from ..models import read_model_list

    specs = read_model_list(path, zoo_dir, what="zoo file", hint="; pass --zoo FILE or --models SPEC ...")
    if not specs:
        raise ValueError(f"zoo file {str(path)!r} lists no model")
    return specs


def precomputed_entries(folder, dataset: str, truth: dict[str, GroundTruth]) -> list[Entry]:
    """Entries from DIR/<dataset>/<model>.npz|.safetensors for the models that have ground truth (read as
    ``lead-hf score`` reads a features file: :func:`lead_hf.extract.files.load_feature_files`)."""
    from ..extract.files import load_feature_files

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
    from ..extract import ExtractOptions, extract
    from ..models import excluded_datasets
    from ..models.preprocessing import resized_ref

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
                             gt.seed_accuracies, gt.protocol, cost=out.provenance.cost))
    return entries


def _model_name(spec: str) -> str:
    """The name a ground-truth file uses for ``spec`` (the resolved model name), without loading it."""
    from ..models import resolve_model
    return resolve_model(spec).name


def score_entries(entries: list[Entry], methods: list[str], score_opts: dict[str, Any],
                  device: str) -> list[dict[str, Any]]:
    """Every score on every entry: rows (dataset, model, score, value, seconds, accuracy). ``score_opts``:
    each method's options dataclass (``check_score_options``), parsed once for every entry."""
    from ..scores import compute_score
    from ..scores.selection import missing_input

    dev = None if device == "auto" else device
    rows = []
    for e in entries:
        for method in methods:
            if missing_input(method, e.features, e.logits, e.cost):
                continue  # only this case is skipped: no source logits, or no model size for a static order
            start = time.perf_counter()
            res = compute_score(method, e.features, e.labels, source_logits=e.logits, device=dev,
                                opts=score_opts.get(method), model=e.cost)
            rows.append({"dataset": e.dataset, "model": e.model, "score": method, "value": float(res.value),
                         "seconds": time.perf_counter() - start, "accuracy": e.accuracy})
    return rows


def check_inputs(opts: BenchmarkOptions) -> dict[str, dict[str, GroundTruth]]:
    """What the benchmark needs, checked before any model runs: a ground truth, models (a zoo file,
    --models or --features), and every dataset asked for in the ground truth. Returns the ground truth by
    dataset."""
    if opts.ground_truth is None:
        raise ValueError("lead-hf benchmark needs fine-tuned accuracies: pass --ground-truth FILE_OR_FOLDER, or a "
                         "benchmark config (from the lead-hf checkout: --config benchmarks/configs/v2.yaml)")
    if opts.features is None and not opts.models and opts.zoo is None:
        raise ValueError("lead-hf benchmark needs the models: --zoo FILE, --models SPEC ..., or --features DIR of "
                         "precomputed features")
    truth = by_dataset(read_ground_truth(opts.ground_truth))
    missing = [ds for ds in opts.datasets if not truth.get(dataset_key(ds))]
    if missing:
        raise ValueError(f"no ground truth for dataset(s) {', '.join(missing)} in {opts.ground_truth!r} (it has: "
                         f"{', '.join(sorted(truth)) or 'nothing'}); drop them from --datasets or fine-tune first")
    return truth


def dataset_specs(opts: BenchmarkOptions, truth: dict[str, dict[str, GroundTruth]]) -> list[str]:
    """The datasets to benchmark: --datasets, else every dataset of the ground truth, named as its files
    name them (``embedded:digits``)."""
    if opts.datasets:
        return list(opts.datasets)
    return [next((g.dataset for g in gts.values() if g.dataset), key) for key, gts in truth.items()]


def collect_entries(opts: BenchmarkOptions, log=print) -> dict[str, list[Entry]]:
    """dataset -> entries (features + labels + logits + accuracy) for every dataset with enough models."""
    from ..models import load_plugins

    truth = check_inputs(opts)
    load_plugins(opts.plugins)
    models = None
    if opts.features is None:
        models = list(opts.models) or read_zoo(opts.zoo, opts.zoo_dir)
    out = {}
    for ds in dataset_specs(opts, truth):
        gt = truth[dataset_key(ds)]
        log(f"{ds}: {len(gt)} models with ground truth")
        entries = precomputed_entries(opts.features, ds, gt) if opts.features is not None \
            else extracted_entries(models, ds, gt, opts, log)
        if len(entries) < opts.min_models:
            raise ValueError(f"dataset {ds!r} has {len(entries)} models with both features and ground truth; "
                             f"at least {opts.min_models} are needed (check the model names in the CSV)")
        out[ds] = entries
    return out


def run_benchmark(opts: BenchmarkOptions, log=print, entries: dict[str, list[Entry]] | None = None) -> BenchmarkResult:
    from ..scores.selection import check_score_options, parse_score_options, resolve_methods

    if opts.num_threads:
        import torch
        torch.set_num_threads(opts.num_threads)
    methods = resolve_methods(opts.scores)
    score_opts = check_score_options(methods, parse_score_options(opts.score_options, methods))
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


