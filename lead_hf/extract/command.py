"""``lead-hf extract``: extract and cache features and source logits of models on a dataset split.

Runs in one process, or in several under ``accelerate launch -m lead_hf.cli extract ...`` /
``scripts/extract_logits.py``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from ..cli import Command
from .loop import ExtractOptions


@dataclass
class ExtractCommandOptions(ExtractOptions):
    dataset: str = "embedded:digits"
    """Dataset: embedded:NAME, imagefolder:DIR, parquet:FILES, a save_to_disk directory or a Hub name."""
    models: tuple[str, ...] = ()
    """Model specs (zoo:NAME, timm/NAME, hf-hub:..., local-dir:..., timm:ARCH@FILE, a directory, a Hub id);
    default: the whole embedded zoo."""
    output: str | None = None
    """Also write a JSON summary (shapes, cache paths, provenance) to this file."""
    list_zoo: bool = False
    """Print the embedded zoo and embedded datasets, then exit."""


def run(opts: ExtractCommandOptions) -> int:
    from ..data import list_embedded
    from ..io import write_json_atomic
    from ..models import list_zoo, zoo_entry
    from .loop import extract

    if opts.list_zoo:
        for name in list_zoo():
            entry = zoo_entry(name)
            ok = name in list_zoo(available_only=True)
            print(f"zoo:{name:32s} {'ok     ' if ok else 'missing'} {entry.description}")
        for name in list_embedded():
            print(f"embedded:{name}")
        return 0
    models = list(opts.models) or [f"zoo:{n}" for n in list_zoo(available_only=True)]
    if not models:
        raise ValueError("no model given and no embedded zoo package installed; pass --models SPEC ...")
    base = ExtractOptions(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(ExtractOptions)})
    summary = []
    from .loop import accelerator
    main = accelerator().is_main_process  # created before any PartialState, so CPU runs get gloo
    for spec in models:
        out = extract(spec, opts.dataset, base)
        if main:
            print(f"{spec}: features {out.features.shape}, logits {None if out.logits is None else out.logits.shape}, "
                  f"{'cache hit' if out.from_cache else 'extracted'} -> {out.cache_path}")
        summary.append({"model": spec, "dataset": opts.dataset, "split": opts.split,
                        "num_samples": out.num_samples, "feature_dim": int(out.features.shape[1]),
                        "cache_path": str(out.cache_path), "from_cache": out.from_cache,
                        "provenance": out.provenance})
    if opts.output and main:
        write_json_atomic(opts.output, {"extractions": summary})
        print(f"summary written to {opts.output}")
    return 0


COMMAND = Command(
    name="extract",
    options=ExtractCommandOptions,
    run=run,
    description=__doc__.strip() + "\n\nExample:\n  lead-hf extract --dataset embedded:digits --max-per-class 20 "
                "--models zoo:mobilenetv2_100.in1k\n  ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu "
                "--num_processes 2 scripts/extract_logits.py --dataset embedded:digits",
)
