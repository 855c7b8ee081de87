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

    opts = options or FinetuneOptions()
    if dataset is not None:
        overrides["dataset"] = dataset
    opts = with_overrides(opts, overrides)
    if opts.num_threads:
        torch.set_num_threads(opts.num_threads)
    load_plugins(opts.plugins)
    runs = _Runs(_trainer(resolve_model(model_spec), opts), opts, log)
    grid = {lr: runs.run(lr, opts.seed) for lr in opts.learning_rates}
    _extend_grid(grid, runs, opts)
    if all(r.get("diverged") for r in grid.values()):
        raise FloatingPointError(f"fine-tuning {runs.trainer.ref.name!r} diverged (non-finite loss) at every "
                                 f"learning rate {sorted(grid)}; use smaller learning rates")
    best_lr = _best_lr(grid)
    repeats = [runs.run(best_lr, s) for s in opts.repeat_seeds]
    per_seed = [grid[best_lr]["accuracy"], *(r["accuracy"] for r in repeats)]
    t = runs.trainer
    return FinetuneResult(model=t.ref.name, dataset=opts.dataset, accuracy=float(sum(per_seed) / len(per_seed)),
                          best_learning_rate=best_lr, runs=[*grid.values(), *repeats], protocol=t.protocol,
                          trained=runs.trained, seed_accuracies=per_seed,
                          accuracy_std=float(statistics.stdev(per_seed)) if len(per_seed) > 1 else None,
                          image_size=t.size if t.unit == "px" else None)


@dataclass
class _Trainer:
    """What the runs of one model share: its ref (resized or truncated), the input size, the trainer of its
    modality, and the protocol its runs are keyed by."""

    ref: Any
    size: int
    unit: str
    load_data: Any
    train_one: Any
    run_protocol: Any
    protocol: dict


def _trainer(ref, opts: FinetuneOptions) -> _Trainer:
    """The image trainer (:mod:`.image`) or the text one (:mod:`.text`): the same grid, search, seeds and
    cache either way."""
    from ..models.preprocessing import effective_image_size, resized_ref
    from .loop import load_data

    if ref.modality == "text":
        from . import text

        if opts.trainer != "full":
            raise ValueError(f"trainer {opts.trainer!r} takes image models; {ref.name!r} is a text model")
        ref = text.text_ref(ref, opts)
        size = int(ref.preprocess_config["max_length"])
        return _Trainer(ref, size, "tokens", lambda o: load_data(o, modality="text"), text.train_one,
                        lambda seed, n: text.run_protocol(opts, seed, n), text.protocol(opts, size))
    from . import image, probe

    ref = resized_ref(ref, opts.image_size)
    size = effective_image_size(ref.preprocess_config, opts.image_size)
    train_one = image.train_one if opts.trainer == "full" else probe.train_one  # the probes: the model frozen
    return _Trainer(ref, size, "px", load_data, train_one, opts.run_protocol, opts.protocol())


class _Runs:
    """Runs of one model, each read from its cache record or trained and recorded (atomically)."""

    def __init__(self, trainer: _Trainer, opts: FinetuneOptions, log):
        embedded = isinstance(opts.dataset, str) and opts.dataset.startswith("embedded:")
        self.trainer, self.opts, self.log = trainer, opts, log
        self.data = None if embedded else trainer.load_data(opts)  # embedded sets: decoded only to train
        self.fingerprint = _dataset_fingerprint(opts, self.data)
        self.folder = opts.cache_root() / "finetune"
        self.trained = 0

    def run(self, lr: float, seed: int) -> dict[str, Any]:
        from ..utils.io import write_json_atomic
        from ..utils.provenance import package_versions

        t, opts = self.trainer, self.opts
        protocol = t.run_protocol(seed, t.size)
        if getattr(t.ref, "steering", None):  # a steered model (Curvature Tuning): its steering is in the key
            protocol = {**protocol, "steering": t.ref.steering}
        key = run_key(t.ref.name, t.ref.revision, self.fingerprint, protocol, lr)
        path = self.folder / f"{key}.json"
        record = _read_run(path) if opts.use_cache else None
        if record is None:
            if opts.cached_only:
                raise LookupError(f"{t.ref.name} on {opts.dataset} (lr={lr:g}, seed={seed}) is not finished: no run "
                                  f"record {path}; cached_only=True trains nothing")
            if self.data is None:
                self.data = t.load_data(opts)
            self.log(f"fine-tuning {t.ref.name} on {opts.dataset} (lr={lr:g}, seed={seed}, {t.size} {t.unit})")
            record = t.train_one(t.ref, self.data, opts, lr, self.log, seed, t.size)
            record.update({"key": key, "model": t.ref.name, "revision": t.ref.revision, "dataset": opts.dataset,
                           "dataset_fingerprint": self.fingerprint, "protocol": protocol,
                           "versions": package_versions(),
                           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
            if record.pop("is_main"):
                write_json_atomic(path, record)
            self.trained += 1
        record["cache_file"] = str(path)
        return record


def _extend_grid(grid: dict[float, dict], runs: _Runs, opts: FinetuneOptions) -> None:
    """While the best rate sits on an edge of the grid, add the next rate past that edge (the grid's own
    ratio), at most ``lr_search_steps`` times; every rate failing (diverged, or not above chance) means
    going lower."""
    ratio = _grid_ratio(opts.learning_rates)
    for _ in range(opts.lr_search_steps):
        tied = _best_lrs(grid)
        if all(_failed(r) for r in grid.values()) or tied == [min(grid)]:
            new = min(grid) / ratio
        elif tied == [max(grid)]:
            new = max(grid) * ratio
        else:
            break  # bracketed: an interior rate is (among) the best, or both edges tie
        new = float(f"{new:.3g}")
        grid[new] = runs.run(new, opts.seed)


def _failed(run: dict[str, Any]) -> bool:
    """A run that learnt nothing: it diverged, or its accuracy is not above chance. When every rate of the
    grid fails like this they all tie at chance and the grid looks bracketed; for a pre-trained model the
    rates are too large (MobileNetV2-1.4 of nsfwjs at 0.003-0.03 on 100 Fashion-MNIST images; it learns at
    0.00095 on 1,000), so the search goes lower."""
    # both are counts over the same test set, but may come through different float types: compare loosely
    return bool(run.get("diverged")) or ("chance" in run and run["accuracy"] <= run["chance"] + 1e-6)


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
