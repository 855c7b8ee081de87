"""The benchmark job: for every dataset, the entries (features, labels, logits and fine-tuned accuracy of
each model), every score on every entry, and the agreement of each score's ranking with fine-tuning."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable


from ..results.ground_truth import GroundTruth, by_dataset, dataset_key, read_ground_truth
from .fidelity import (agreement_tables, best_score, bootstrap_ci, bootstrap_draws, ceiling_measures, dataset_tables,
                       entry_seeds, headline_datasets, paired_difference_ci, protocol_of, random_measures)
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
    ``lead-hf score`` reads a features file: :func:`lead_hf.extract.files.load_feature_files`); ``dataset``
    is the name of the ground truth's row or dataset (its sub-folder)."""
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
                      log: Callable[[str], None], name: str | None = None,
                      left_out: dict[str, str] | None = None, no_truth: list[str] | None = None) -> list[Entry]:
    """Entries from the extraction cache at fine-tuning's preprocessing, for the models with ground truth.

    Where the ground truth records its protocol (image size, training split, images per class, subset
    seed), the features are extracted from exactly those images; otherwise from the options'. Members
    trained on ``dataset`` (``ZooEntry.trained_on``) are left out, and so is a model whose weights
    here are not the ones its ground truth records (``revision``): ``left_out`` (model -> why) collects
    those that have ground truth. ``name``: what the entries' rows call the dataset (a ground-truth row,
    ``clipart_10pc``; default: ``dataset``). ``no_truth`` collects the models that may be scored on ``dataset``
    but have no ground truth on it (not fine-tuned yet: the tables say the dataset lacks them)."""
    left_out = {} if left_out is None else left_out
    no_truth = [] if no_truth is None else no_truth
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
                no_truth.append(spec)
                continue
        if gt is None:
            log(f"  {spec}: no ground truth on {dataset}, skipped")
            no_truth.append(spec)
            continue
        try:
            ref = resized_ref(spec, gt.image_size or opts.image_size)
        except ValueError as err:  # has ground truth, but its weights are not here (a derived member not built)
            log(f"  {spec}: not available here ({err}), skipped")
            left_out[spec] = f"not available here: {err}"
            continue
        if gt.revision and ref.revision and gt.revision != ref.revision:
            log(f"  {spec}: fine-tuned as {gt.revision[:19]}, but the weights here are {ref.revision[:19]} "
                f"(rebuilt on another machine?); skipped: re-run benchmarks/run_ground_truth.py for it")
            left_out[ref.name] = (f"its weights here ({ref.revision[:19]}) are not the ones fine-tuned "
                                  f"({gt.revision[:19]})")
            continue
        per_class = gt.train_per_class if gt.train_split else opts.max_per_class
        ex = ExtractOptions(split=gt.train_split or opts.split, max_per_class=per_class,
                            seed=opts.seed if gt.subset_seed is None else gt.subset_seed,
                            cache_dir=opts.cache_dir, num_workers=0, progress=False)
        out = extract(ref, dataset, ex)
        entries.append(Entry(ref.name, name or dataset, out.features, out.labels, out.logits, gt.accuracy,
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
    row or dataset (``lead_hf.results.ground_truth.by_dataset``)."""
    if opts.ground_truth is None:
        raise ValueError("lead-hf benchmark needs fine-tuned accuracies: pass --ground-truth FILE_OR_FOLDER, or a "
                         "benchmark config (from the lead-hf checkout: --config benchmarks/configs/v2.yaml)")
    if opts.features is None and not opts.models and opts.zoo is None:
        raise ValueError("lead-hf benchmark needs the models: --zoo FILE, --models SPEC ..., or --features DIR of "
                         "precomputed features")
    from ..scores.selection import resolve_methods

    resolve_methods(opts.reference)  # a mistyped reference row fails here, before any model runs
    truth = by_dataset(read_ground_truth(opts.ground_truth))
    missing = [ds for ds in opts.datasets if not _matches(ds, truth)]
    if missing:
        raise ValueError(f"no ground truth for dataset(s) {', '.join(missing)} in {opts.ground_truth!r} (it has: "
                         f"{', '.join(sorted(truth)) or 'nothing'}); drop them from --datasets or fine-tune first")
    return truth


def _dataset_of(records: dict[str, GroundTruth], key: str) -> str:
    return next((g.dataset for g in records.values() if g.dataset), key)


def _matches(want: str, truth: dict[str, dict[str, GroundTruth]]) -> list[tuple[str, str]]:
    """(name, dataset) of the ground truth's rows that ``want`` names: the row of that name when there is one
    (``clipart`` is the row, not also ``clipart_10pc``, which shares its dataset), else every row of the
    dataset ``want`` names, extracted from ``want`` as given when it says where the data is
    (``imagefolder:./dtd``), else from the dataset the ground truth records."""
    if want in truth:
        return [(want, _dataset_of(truth[want], want))]
    bare = dataset_key(want) == want
    return [(key, _dataset_of(records, key) if bare else want) for key, records in truth.items()
            if dataset_key(want) in (key, dataset_key(_dataset_of(records, key)))]


def dataset_specs(opts: BenchmarkOptions, truth: dict[str, dict[str, GroundTruth]]) -> list[tuple[str, str]]:
    """(name, dataset) to benchmark: the name is the ground truth's row (``clipart_10pc``) or the dataset's
    key (``digits``), the dataset what is extracted (``embedded:digits``). --datasets picks rows by name or
    by dataset; none given: every row of the ground truth."""
    if not opts.datasets:
        return [(key, _dataset_of(records, key)) for key, records in truth.items()]
    out: list[tuple[str, str]] = []
    for want in opts.datasets:
        out += [pair for pair in _matches(want, truth) if pair not in out]
    return out


def collect_entries(opts: BenchmarkOptions, log=print, left_out: dict[str, dict[str, str]] | None = None,
                    no_truth: dict[str, list[str]] | None = None) -> dict[str, list[Entry]]:
    """name -> entries (features + labels + logits + accuracy) for every row or dataset benchmarked;
    ``left_out`` collects, per name, the models with ground truth that could not be scored, and why;
    ``no_truth`` the zoo's models that have no ground truth there."""
    from ..models import load_plugins

    truth = check_inputs(opts)
    load_plugins(opts.plugins)
    models = None
    if opts.features is None:
        models = list(opts.models) or read_zoo(opts.zoo, opts.zoo_dir)
    out = {}
    left_out = {} if left_out is None else left_out
    no_truth = {} if no_truth is None else no_truth
    for name, ds in dataset_specs(opts, truth):
        gt = truth[name]
        log(f"{name}: {len(gt)} models with ground truth" + (f" ({ds})" if dataset_key(ds) != name else ""))
        entries = precomputed_entries(opts.features, name, gt) if opts.features is not None \
            else extracted_entries(models, ds, gt, opts, log, name=name, left_out=left_out.setdefault(name, {}),
                                   no_truth=no_truth.setdefault(name, []))
        if len(entries) < opts.min_models:
            raise ValueError(f"dataset {name!r} has {len(entries)} models with both features and ground truth; "
                             f"at least {opts.min_models} are needed (check the model names in the CSV)")
        out[name] = entries
    return out


def resolved_options(options) -> dict[str, Any]:
    """A score's options dataclass as plain JSON values (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(options), default=str)) if options is not None else {}


def run_benchmark(opts: BenchmarkOptions, log=print, entries: dict[str, list[Entry]] | None = None) -> BenchmarkResult:
    """Every score and reference row on every entry, their agreement with fine-tuning per dataset, the
    noise ceilings and random-order expectations, the headline datasets, and bootstrap intervals (models
    and seeds resampled) of every headline mean."""
    from ..scores.selection import check_score_options, parse_score_options, resolve_methods

    if opts.num_threads:
        import torch
        torch.set_num_threads(opts.num_threads)
    reference = resolve_methods(opts.reference)
    methods = [m for m in resolve_methods(opts.scores) if m not in reference]
    every = methods + reference
    score_opts = check_score_options(every, parse_score_options(opts.score_options, every))
    left_out: dict[str, dict[str, str]] = {}
    no_truth: dict[str, list[str]] = {}
    entries = entries if entries is not None else collect_entries(opts, log, left_out, no_truth)
    rows = []
    for ds, es in entries.items():
        log(f"scoring {len(es)} models on {ds}")
        rows += score_entries(es, every, score_opts, opts.device)
    ceiling = {ds: ceiling_measures([e.seed_accuracies for e in es]) for ds, es in entries.items()}
    headline, apart = headline_datasets(ceiling, opts.headline_ceiling)
    if apart:
        log("not in the headline: " + "; ".join(f"{ds} ({why})" for ds, why in apart.items()))
    use = headline or list(entries)  # no dataset reaches the ceiling: the means are over all, and say so
    per_dataset, summary = agreement_tables(rows, opts.min_models, datasets=use)
    tables = dataset_tables(rows)
    seeds = entry_seeds(entries)
    draws = bootstrap_draws(rows, opts.bootstrap, opts.seed, opts.min_models, seeds=seeds, datasets=use)
    vs_top = {}
    for measure in ("weighted_tau", "top1_regret"):
        top = best_score(summary, measure)
        vs_top[measure] = paired_difference_ci(rows, top, means=draws, measure=measure) if top else {}
    primary = methods[0] if methods else None
    vs_primary = {m: paired_difference_ci(rows, primary, means=draws, measure=m)
                  for m in ("weighted_tau", "top1_regret")} if primary else {}
    return BenchmarkResult(
        per_dataset, summary, rows, dataclasses.asdict(opts),
        noise_ceiling={ds: c["weighted_tau"] for ds, c in ceiling.items() if c},
        ceiling={ds: c for ds, c in ceiling.items() if c},
        random={ds: random_measures(t, opts.seed) for ds, t in tables.items() if ds in per_dataset},
        reference=reference, headline=use, headline_threshold=opts.headline_ceiling,
        not_in_headline=apart,
        headline_note="" if headline else (f"no dataset's noise ceiling reaches {opts.headline_ceiling:g}: the means "
                                           "are over every dataset, whose ground truth disagrees with itself"),
        ground_truth_models={ds: len(es) + len(left_out.get(ds, {})) for ds, es in entries.items()},
        left_out=left_out, without_ground_truth={ds: ms for ds, ms in no_truth.items() if ms},
        ci95={m: bootstrap_ci(rows, means=draws, measure=m) for m in draws},
        protocol=protocol_of(entries), vs_top=vs_top, primary=primary, vs_primary=vs_primary,
        score_options={m: resolved_options(o) for m, o in score_opts.items()})
