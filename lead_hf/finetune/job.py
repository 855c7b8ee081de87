"""The fine-tuning job: one run per learning rate of the grid (extended while its best sits on an edge),
then the repeat seeds at the best rate; every run cached as one JSON file keyed by what its numbers depend
on. The trainers themselves are :mod:`.image` and :mod:`.text`."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..utils.config import with_overrides
from .options import FinetuneOptions

@dataclass
class FinetuneResult:
    model: str
    dataset: str
    accuracy: float
    """Best test accuracy over the learning-rate grid (and epochs)."""
    best_learning_rate: float
    runs: list[dict[str, Any]] = field(default_factory=list)
    """One record per learning rate (accuracy, per-epoch accuracies, seconds, cache file, provenance)."""
    protocol: dict[str, Any] = field(default_factory=dict)
    trained: int = 0
    """How many runs were trained in this call (0: every run came from the cache)."""
    seed_accuracies: list[float] = field(default_factory=list)
    """Accuracy of every training seed at the selected learning rate (seed first, then repeat_seeds)."""
    accuracy_std: float | None = None
    """Standard deviation over seed_accuracies (None with a single seed)."""
    image_size: int | None = None
    """Input size actually trained at (the protocol's, or the model's min_input_size when larger)."""


def run_key(model_name: str, revision: str, dataset_fp: str, protocol: dict, lr: float) -> str:
    blob = json.dumps({"model": model_name, "revision": revision, "dataset": dataset_fp, "protocol": protocol,
                       "lr": lr}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def _dataset_fingerprint(opts: FinetuneOptions, data) -> str:
    """Embedded sets are fingerprinted from their source files without decoding; any other source from
    the content of the two subsets (so an edited folder is not mistaken for the cached one)."""
    if isinstance(opts.dataset, str) and opts.dataset.startswith("embedded:"):
        from ..data.embedded import embedded_source, source_fingerprint
        return "embedded:" + source_fingerprint(embedded_source(opts.dataset[len("embedded:"):]))
    return "data:" + hashlib.sha256(f"{data[0][3]}|{data[1][3]}".encode()).hexdigest()


def finetune(model_spec, dataset: str | None = None, options: FinetuneOptions | None = None, log=print,
             **overrides) -> FinetuneResult:
    """Fine-tune ``model_spec`` on ``dataset``: one run per learning rate of the grid (extended past an
    edge while the best sits on it, ``lr_search_steps``), then ``repeat_seeds`` at the best rate. Every run
    is cached; the result is the best accuracy over the grid, or with repeat seeds the mean over seeds at
    the best rate."""
    import torch

    from ..models import load_plugins, resolve_model
    from ..models.preprocessing import effective_image_size, resized_ref
    from ..utils.io import write_json_atomic
    from ..utils.provenance import package_versions
    from .loop import load_data as load_image_data

    opts = options or FinetuneOptions()
    if dataset is not None:
        overrides["dataset"] = dataset
    opts = with_overrides(opts, overrides)
    if opts.num_threads:
        torch.set_num_threads(opts.num_threads)
    load_plugins(opts.plugins)
    ref = resolve_model(model_spec)
    if ref.modality == "text":  # same grid, search, seeds and cache; the text trainer
        from . import text

        ref = text.text_ref(ref, opts)
        size = int(ref.preprocess_config["max_length"])
        load_data = lambda o: load_image_data(o, modality="text")  # noqa: E731
        train_one, unit = text.train_one, "tokens"
        run_protocol, protocol = (lambda seed, n: text.run_protocol(opts, seed, n)), text.protocol(opts, size)
    else:
        from . import image

        ref = resized_ref(ref, opts.image_size)
        size = effective_image_size(ref.preprocess_config, opts.image_size)
        load_data, train_one, unit = load_image_data, image.train_one, "px"
        run_protocol, protocol = opts.run_protocol, opts.protocol()
    data = None
    embedded = isinstance(opts.dataset, str) and opts.dataset.startswith("embedded:")
    if not embedded:
        data = load_data(opts)
    fp = _dataset_fingerprint(opts, data)
    folder = opts.cache_root() / "finetune"
    trained = 0

    def run_one(lr: float, seed: int) -> dict[str, Any]:
        nonlocal data, trained
        protocol = run_protocol(seed, size)
        key = run_key(ref.name, ref.revision, fp, protocol, lr)
        path = folder / f"{key}.json"
        record = _read_run(path) if opts.use_cache else None
        if record is None:
            if opts.cached_only:
                raise LookupError(f"{ref.name} on {opts.dataset} (lr={lr:g}, seed={seed}) is not finished: no run "
                                  f"record {path}; cached_only=True trains nothing")
            if data is None:
                data = load_data(opts)
            log(f"fine-tuning {ref.name} on {opts.dataset} (lr={lr:g}, seed={seed}, {size} {unit})")
            record = train_one(ref, data, opts, lr, log, seed, size)
            record.update({"key": key, "model": ref.name, "revision": ref.revision, "dataset": opts.dataset,
                           "dataset_fingerprint": fp, "protocol": protocol, "versions": package_versions(),
                           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
            if record.pop("is_main"):
                write_json_atomic(path, record)
            trained += 1
        record["cache_file"] = str(path)
        return record

    grid = {lr: run_one(lr, opts.seed) for lr in opts.learning_rates}
    ratio = _grid_ratio(opts.learning_rates)
    for _ in range(opts.lr_search_steps):
        tied = _best_lrs(grid)
        if all(r.get("diverged") for r in grid.values()) or tied == [min(grid)]:  # every rate too large: go lower
            new = min(grid) / ratio
        elif tied == [max(grid)]:
            new = max(grid) * ratio
        else:
            break  # bracketed: an interior rate is (among) the best, or both edges tie
        new = float(f"{new:.3g}")
        grid[new] = run_one(new, opts.seed)
    if all(r.get("diverged") for r in grid.values()):
        raise FloatingPointError(f"fine-tuning {ref.name!r} diverged (non-finite loss) at every learning rate "
                                 f"{sorted(grid)}; use smaller learning rates")
    best_lr = _best_lr(grid)
    repeats = [run_one(best_lr, s) for s in opts.repeat_seeds]
    per_seed = [grid[best_lr]["accuracy"], *(r["accuracy"] for r in repeats)]
    accuracy = float(sum(per_seed) / len(per_seed))
    std = float(statistics.stdev(per_seed)) if len(per_seed) > 1 else None
    return FinetuneResult(model=ref.name, dataset=opts.dataset, accuracy=accuracy, best_learning_rate=best_lr,
                          runs=[*grid.values(), *repeats], protocol=protocol, trained=trained,
                          seed_accuracies=per_seed, accuracy_std=std, image_size=size if unit == "px" else None)


def _grid_ratio(rates) -> float:
    """The grid's geometric step (the mean ratio of neighbouring learning rates)."""
    rates = sorted(rates)
    if len(rates) < 2:
        return 1.0
    return (rates[-1] / rates[0]) ** (1 / (len(rates) - 1))


def _best_lrs(grid: dict[float, dict[str, Any]]) -> list[float]:
    """Every learning rate that reaches the best accuracy, in increasing order."""
    top = max(r["accuracy"] for r in grid.values())
    return [lr for lr in sorted(grid) if grid[lr]["accuracy"] == top]


def _best_lr(grid: dict[float, dict[str, Any]]) -> float:
    """The learning rate with the best accuracy; among tied rates the middle one (the lower middle for an
    even count), which is the one furthest from both ends of the tied range."""
    tied = _best_lrs(grid)
    return tied[(len(tied) - 1) // 2]


def _read_run(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # missing or torn: train again
    return record if isinstance(record.get("accuracy"), float) else None
