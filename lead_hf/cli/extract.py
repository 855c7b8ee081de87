"""``lead-hf extract``: extract and cache features and source logits of models on a dataset split.

Runs in one process, or in several under ``accelerate launch`` / ``torchrun`` of
``scripts/extract_logits.py``. On a CPU-only machine, N real processes are
``ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes N scripts/extract_logits.py ...``
(``accelerate launch --cpu --num_processes N`` starts one process: it is detected and said).
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

from ..utils.constraints import Boolean, Items, PathLike, Text
from ..extract import ExtractOptions
from ..extract.launch import launch_problem, stop_with_parent, under_launcher
from .command import Command


@dataclass
class ExtractCommandOptions(ExtractOptions):
    max_per_class: int | None = 100
    """At most this many samples per class (stratified, seeded): 100, as `lead-hf rank` takes by default, so
    that extracting first warms rank's cache. none: every sample."""
    dataset: str = "embedded:digits"
    """Dataset: embedded:NAME, imagefolder:DIR, parquet:FILES, a save_to_disk directory or a Hub name."""
    models: tuple[str, ...] = ()
    """Model specs (zoo:NAME, timm/NAME, hf-hub:..., local-dir:..., timm:ARCH@FILE, a directory, a Hub id);
    default: the embedded demo models (the zoo's installed ImageNet classifiers)."""
    output: str | None = None
    """Also write a JSON summary (shapes, cache paths, provenance) to this file."""
    list_zoo: bool = False
    """Print the embedded zoo and embedded datasets, then exit."""

    constraints = {"dataset": PathLike(), "models": Items(Text()), "output": (PathLike(), None), "list_zoo": Boolean()}


def run(opts: ExtractCommandOptions) -> int:
    from ..data import list_embedded
    from ..extract import extract
    from ..utils.io import write_json_atomic
    from ..models import list_zoo, load_plugins, missing_local_model, zoo_entry

    if opts.list_zoo:
        for name in list_zoo():
            entry = zoo_entry(name)
            ok = name in list_zoo(available_only=True)
            licence = f" (licence: {entry.licence})" if entry.licence else ""
            print(f"zoo:{name:32s} {'ok     ' if ok else 'missing'} {entry.description}{licence}")
        for name in list_embedded():
            print(f"embedded:{name}")
        return 0
    from ..data import check_dataset
    from ..extract.loop import accelerator

    from ..models.zoo import demo_models

    load_plugins(opts.plugins)
    models = list(opts.models) or [f"zoo:{n}" for n in demo_models("image", available_only=True)]
    if not models:
        raise ValueError("no model given and no embedded zoo package installed; pass --models SPEC ...")
    missing = [m for m in map(missing_local_model, models) if m]
    if missing:
        raise FileNotFoundError("; ".join(missing))
    if under_launcher():
        stop_with_parent()
    acc = accelerator()  # created before any PartialState, so CPU runs get gloo
    main = acc.is_main_process
    if main:
        kind = acc.distributed_type.value.lower()
        print(f"lead-hf extract: {acc.num_processes} process(es) (world size {acc.num_processes}, "
              f"{'not distributed' if kind == 'no' else kind}, device {acc.device})", file=sys.stderr, flush=True)
        problem = launch_problem(acc.num_processes)
        if problem:
            print(f"lead-hf extract: warning: {problem}", file=sys.stderr, flush=True)
    split = check_dataset(opts.dataset, opts.split, image_column=opts.image_column, label_column=opts.label_column,
                          max_per_class=opts.max_per_class, seed=opts.seed, name=opts.dataset_config,
                          text_column=opts.text_column)  # resolved once for every model
    base = ExtractOptions(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(ExtractOptions)})
    summary = []
    for spec in models:
        out = extract(spec, split, base)
        if main:
            print(f"{spec}: features {out.features.shape}, logits {None if out.logits is None else out.logits.shape}, "
                  f"{'cache hit' if out.from_cache else 'extracted'} -> {out.cache_path}")
        summary.append({"model": spec, "dataset": opts.dataset, "split": opts.split,
                        "num_samples": out.num_samples, "feature_dim": int(out.features.shape[1]),
                        "cache_path": str(out.cache_path), "from_cache": out.from_cache,
                        "provenance": out.provenance.to_dict()})
    if opts.output and main:
        write_json_atomic(opts.output, {"extractions": summary})
        print(f"summary written to {opts.output}")
    return 0


COMMAND = Command(
    name="extract",
    options=ExtractCommandOptions,
    run=run,
    description=__doc__.strip() + "\n\nExamples:\n  lead-hf extract --dataset embedded:digits --max-per-class 20 "
                "--models zoo:mobilenetv2_100.in1k zoo:tf_efficientnet_lite0.in1k\n"
                "  ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 "
                "--mixed_precision no --dynamo_backend no scripts/extract_logits.py --dataset embedded:digits\n\n"
                "Each worker of a launch stops when its launcher is stopped (even with SIGKILL).",
)
