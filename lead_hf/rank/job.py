"""The rank job: candidate models x one dataset split -> cached extraction -> scores -> a ranking.

One flow: :func:`plan_rank` checks and settles everything that needs no model (the scores and their
options, parsed once; the Hub query; the ground truth; the models; the dataset split, resolved once), then
every model is extracted and scored (:func:`score_model`), and the ranking's derived fields are computed
by :func:`lead_hf.results.summary.summarize`. A model that fails is recorded, not fatal.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import time
from dataclasses import dataclass, field
from typing import Any

from ..results.ground_truth import for_dataset, read_ground_truth
from ..results.schema import DatasetInfo, ModelResult, RankingResults
from ..results.summary import score_flag, summarize
from ..scores.selection import check_score_options, missing_input, parse_score_options, resolve_methods
from ..utils.io import json_safe
from ..utils.provenance import git_commit, package_versions
from ..utils.steering import ct_base, expand_ct
from .options import RankOptions


def hub_query(opts: RankOptions):
    """The Hub search of ``opts`` (None without --hub-search), checked, and offline refused: no request."""
    if opts.hub_search is None:
        return None
    from ..hub.search import HubQuery, check_online, check_query

    query = HubQuery(search=opts.hub_search, task=opts.hub_task, libraries=tuple(opts.hub_library),
                     sort=opts.hub_sort, limit=opts.hub_limit)
    check_query(query)
    check_online()
    return query


def choose_models(opts: RankOptions, log=print) -> tuple[list[str], dict]:
    """The models to rank, and how they were chosen (results.json's ``candidates``): --models, then
    --models-file, then the --hub-search results not named already. None of these: an empty list, and
    :func:`default_models` fills it once the dataset's modality is known."""
    models = list(opts.models)
    if opts.models_file:
        from ..models import read_model_list

        models += read_model_list(opts.models_file)
    record: dict = {"given": list(models), "hub_search": None, "embedded_zoo": False}
    query = hub_query(opts)
    if query is not None:
        from ..hub.search import candidates_record, search_models

        skipped: list[str] = []
        found = search_models(query, skipped=skipped)
        record["hub_search"] = candidates_record(query, found, skipped=skipped)
        known = {m.removeprefix("hf-hub:") for m in models}
        log(f"Hub search ({query.describe()}): {len(found)} model(s)"
            + "".join(f"\n    {c.id}  ({c.library}, {c.downloads} downloads)" for c in found))
        for why in skipped:
            log(f"    left out {why}")
        models += [c.id for c in found if c.id not in known]
    seen = set()
    return [m for m in models if not (m in seen or seen.add(m))], record


def default_models(modality: str, record: dict) -> list[str]:
    """No model given: the embedded demo models of the dataset's ``modality`` (the four ImageNet classifiers,
    or the MiniLM family for text)."""
    from ..models.zoo import demo_models

    models = [f"zoo:{name}" for name in demo_models(modality, available_only=True)]
    if not models:
        raise ValueError(f"no models given and the embedded {modality} zoo's weight packages are not installed; "
                         "pass model ids, or run `make venv` to install the zoo")
    record["embedded_zoo"] = True
    return models


@dataclass
class RankPlan:
    """Everything a rank settles before the first model runs."""

    methods: list[str]
    score_options: dict[str, dict[str, str]]
    """method -> its options as given (what results.json records)."""
    parsed_options: dict[str, Any]
    """method -> its options dataclass, parsed once."""
    data_free: set[str]
    """The methods that read no data (the static orders): no bootstrap for them."""
    truth: dict[str, float]
    models: list[str]
    candidates: dict
    split: Any
    """The dataset split (:class:`lead_hf.data.DatasetSplit`), resolved once for every model."""
    extract_options: Any
    created: str
    draws: list | None = None
    draw_labels: Any = None
    dataset: DatasetInfo | None = None
    rows: list[ModelResult] = field(default_factory=list)
    ct_census: dict[str, dict] = field(default_factory=dict)
    """Curvature Tuning: what each steered model's steering replaces (lead_hf.models.ct.activation_census)."""


def plan_rank(opts: RankOptions, log=print) -> RankPlan:
    """Check everything that can be checked without a model, in one pass, so that a mistake fails at once
    and leaves no cache entry or results behind: scores and their options, the Hub query, the ground
    truth, the dataset split, the models (zoo names and modality)."""
    from ..data import check_dataset
    from ..extract.options import ExtractOptions
    from ..models import load_plugins

    load_plugins(opts.plugins)
    methods = resolve_methods(opts.scores)
    if not methods:
        raise ValueError("no scores requested; pass e.g. --scores lead logme")
    per_method = parse_score_options(opts.score_options, methods)
    parsed = check_score_options(methods, per_method)
    hub_query(opts)  # a bad --hub-* option, or offline: fail before reading anything
    truth = (for_dataset(read_ground_truth(opts.ground_truth), str(opts.dataset),
                         f"ground-truth file {str(opts.ground_truth)!r}") if opts.ground_truth else {})
    models, candidates = choose_models(opts, log=log)
    split = check_dataset(opts.dataset, opts.split, image_column=opts.image_column, label_column=opts.label_column,
                          max_per_class=opts.max_per_class, seed=opts.seed, name=opts.dataset_config,
                          text_column=opts.text_column)
    modality = split.modality()
    models = models or default_models(modality, candidates)
    _check_zoo_models([ct_base(m) for m in models], modality, split.label)
    from .ct import check_models
    models = expand_ct(models, opts.ct_betas)  # Curvature Tuning: a candidate per (model, beta)
    ct_census = check_models(models, log)
    extract_opts = ExtractOptions(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(ExtractOptions)})
    from ..scores.registry import data_free_scores

    return RankPlan(methods=methods, score_options=per_method, parsed_options=parsed,
                    data_free=set(data_free_scores()) & set(methods), truth=truth, models=models,
                    candidates=candidates, split=split, extract_options=extract_opts,
                    created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), ct_census=ct_census)


def _check_zoo_models(models: list[str], modality: str, dataset: str) -> None:
    """Mistyped zoo names, and zoo models that read the other modality, fail before any extraction (they
    need no download to check)."""
    from ..models.zoo import zoo_entry

    wrong = []
    for spec in models:
        if spec.startswith("zoo:"):
            entry = zoo_entry(spec[len("zoo:"):])  # an unknown name: ValueError with 'did you mean'
            if ("text" if entry.family == "text" else "image") != modality:
                wrong.append(spec)
    if wrong:
        reads = "images" if modality == "text" else "text"
        raise ValueError(f"dataset {dataset!r} holds {modality}, but {', '.join(wrong)} read{'s' if len(wrong) == 1 else ''} "
                         f"{reads}; rank {modality} models on it (with no model given, rank picks the embedded "
                         f"{modality} models)")


def rank_models(opts: RankOptions, log=print) -> RankingResults:
    """Extract (through the cache), score and rank every model. A model that fails is recorded, not fatal;
    everything that can be checked without a model is checked first (:func:`plan_rank`)."""
    from ..data.loading import is_hub_dataset

    plan = plan_rank(opts, log)
    for i, spec in enumerate(plan.models, 1):
        log(f"[{i}/{len(plan.models)}] {spec}")
        plan.rows.append(score_model(spec, plan, opts, log))
    dataset = plan.dataset or DatasetInfo(id=str(opts.dataset), split=opts.split, config=opts.dataset_config)
    dataset.local = not is_hub_dataset(opts.dataset)
    ranking = RankingResults(
        dataset=dataset, scores=plan.methods, primary=plan.methods[0], models=plan.rows,
        options={"rank": dataclasses.asdict(opts), "scores": {m: plan.score_options[m] for m in plan.methods}},
        versions=package_versions(), git_commit=git_commit(), created=plan.created, candidates=plan.candidates)
    return summarize(ranking)


def score_model(spec: str, plan: RankPlan, opts: RankOptions, log) -> ModelResult:
    """One model's row: its extraction (cached) and every score (with bootstrap draws when asked)."""
    from ..extract import extract
    from ..models import missing_local_model

    entry = ModelResult(model=spec, finetune_accuracy=plan.truth.get(spec), ranked=plan.created)
    from .ct import row_beta
    entry.ct_beta = row_beta(spec, opts.ct_betas)
    if entry.ct_beta is not None and entry.ct_beta < 1.0:
        entry.ct_activations = plan.ct_census.get(ct_base(spec))
    start = time.perf_counter()
    try:
        missing = missing_local_model(ct_base(spec))  # MODEL@ct=BETA: the folder is MODEL
        if missing:
            raise FileNotFoundError(missing)
        out = extract(spec, plan.split, plan.extract_options)
    except Exception as err:  # noqa: BLE001 - report and go on with the other models
        if type(err).__name__ == "BadSampleError":  # the data's problem: every model would fail on it
            raise
        entry.status, entry.error = "failed", f"{type(err).__name__}: {err}"
        log(f"    skipped: {entry.error}")
        return entry
    entry.seconds["extract"] = round(time.perf_counter() - start, 3)
    _describe(entry, out, plan)
    if out.skipped:
        log(f"    {len(out.skipped)} sample(s) left out, unreadable: rows "
            + ", ".join(str(s["row"]) for s in out.skipped[:10]) + (", ..." if len(out.skipped) > 10 else ""))
    if plan.dataset is None:
        plan.dataset = DatasetInfo(id=out.provenance.dataset.id, split=opts.split, config=opts.dataset_config,
                                   fingerprint=out.provenance.dataset.fingerprint, num_samples=out.num_samples,
                                   num_classes=len(out.label_names), label_names=list(out.label_names))
    if opts.bootstrap and (plan.draws is None or not _same_labels(plan.draw_labels, out.labels)):
        from .bootstrap import bootstrap_indices

        plan.draws = bootstrap_indices(out.labels, opts.bootstrap, opts.seed)  # a class too small: fatal
        plan.draw_labels = out.labels
    for method in plan.methods:
        _score_one(entry, method, out, plan, opts, log)
    if entry.status == "ok":
        log("    " + "  ".join(f"{m}={entry.scores[m]:.4f}{'*' if m in entry.flags else ''}"
                               for m in plan.methods if m in entry.scores))
        if entry.bootstrap_seconds:
            log(f"    bootstrap x{opts.bootstrap}: " + "  ".join(f"{m} {s:.2f}s"
                                                               for m, s in entry.bootstrap_seconds.items()))
    return entry


def _describe(entry: ModelResult, out, plan: RankPlan) -> None:
    """The row's facts about the model, from the extraction's provenance."""
    model = out.provenance.model
    entry.hub_id, entry.revision = model.hub_id, model.revision
    entry.feature_dim = int(out.features.shape[1])
    entry.skipped_samples = [int(s["row"]) for s in out.skipped]
    entry.cost = out.provenance.cost
    entry.modality = model.modality
    if entry.modality == "text":
        entry.text = {k: model.preprocess.get(k) for k in ("kind", "pooling", "normalize", "max_length", "tokenizer",
                                                            "tokenizer_class")}
    if entry.finetune_accuracy is None:
        entry.finetune_accuracy = next((plan.truth[n] for n in (model.name, entry.hub_id) if n and n in plan.truth),
                                       None)


def _score_one(entry: ModelResult, method: str, out, plan: RankPlan, opts: RankOptions, log) -> None:
    from ..scores import compute_score

    missing = missing_input(method, out.features, out.logits, entry.cost)
    if missing:
        log(f"    {method}: n/a, {entry.model} has no {'source head (no source logits)' if missing == 'source logits' else missing}")
        return
    try:
        r = compute_score(method, out.features, out.labels, source_logits=out.logits, device=opts.device,
                          opts=plan.parsed_options[method], model=entry.cost)
    except Exception as err:  # noqa: BLE001 - one score failing leaves the others
        entry.status, entry.error = "failed", f"{method}: {type(err).__name__}: {err}"
        log(f"    {method} failed: {type(err).__name__}: {err}")
        return
    entry.scores[method] = r.value
    entry.seconds[method] = round(r.seconds, 4)
    entry.details[method] = json_safe(r.details)
    flag = score_flag(method, r, out.num_samples, entry.feature_dim)
    if flag:
        entry.flags[method] = flag
    if plan.draws and method not in plan.data_free:  # a data-free score does not move with the data
        from .bootstrap import bootstrap_score

        try:
            values, seconds = bootstrap_score(method, out, plan.draws, opts.device, plan.parsed_options[method])
        except Exception as err:  # noqa: BLE001 - the value stands without its interval
            log(f"    {method} bootstrap failed: {type(err).__name__}: {err}")
            return
        entry.bootstrap[method] = values
        entry.bootstrap_seconds[method] = round(seconds, 3)


def _same_labels(a, b) -> bool:
    import numpy as np

    return a is not None and len(a) == len(b) and bool(np.array_equal(np.asarray(a), np.asarray(b)))
