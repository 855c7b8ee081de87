"""`lead-hf finetune`: the ground truth a transferability score is judged against.

Full fine-tuning of a pre-trained model on a downstream split with a new linear head, following the
protocol of the model-selection literature (You et al. 2021 LogME; Hu et al. 2024 LEAD): SGD with
momentum, cosine learning-rate decay, a small learning-rate grid, and the best test accuracy over the
grid kept. Sizes are reduced so it also runs on a CPU: small image size, a stratified subset of the
training split, few epochs. The protocol (every number) is stored with each result.

    >>> from lead_hf.finetune import FinetuneOptions, finetune
    >>> res = finetune("zoo:mobilenetv2_100.in1k", "embedded:digits", FinetuneOptions(epochs=1))
    >>> res.accuracy, res.runs[0]["per_epoch"]

Every (model, dataset, protocol, learning rate) run is cached as one JSON file (written atomically) under
``<cache>/finetune/``; a killed sweep resumes by skipping the runs that already have one. The same
preprocessing (:func:`lead_hf.models.preprocessing.resized_ref`) is what ``lead-hf benchmark`` extracts
features with, so the scores see exactly the images fine-tuning saw (minus augmentation).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import with_overrides
from .constraints import Boolean, Constrained, Interval, Items, OptionError, PathLike, Text

PROTOCOL_VERSION = "ft-v1"
"""Bumped whenever the training code changes the numbers, so old cached runs are not reused."""


@dataclass
class FinetuneOptions(Constrained):
    dataset: str = "embedded:digits"
    """Downstream dataset (embedded:NAME, imagefolder:DIR, parquet:FILES, a save_to_disk directory)."""
    train_split: str = "train"
    """Split to fine-tune on (slices allowed: train[:2000])."""
    test_split: str = "test"
    """Split the accuracy is measured on."""
    train_per_class: int | None = 30
    """Stratified subset of the training split: at most this many images per class (None: all)."""
    test_per_class: int | None = 50
    """Stratified subset of the test split (None: all)."""
    image_size: int = 32
    """Side of the square input in pixels (the model's own normalisation is kept)."""
    epochs: int = 3
    """Passes over the training subset."""
    batch_size: int = 32
    """Images per optimiser step (per process)."""
    learning_rates: tuple[float, ...] = (0.01, 0.03)
    """Learning-rate grid; one run each, the best test accuracy is kept."""
    momentum: float = 0.9
    """SGD momentum."""
    weight_decay: float = 1e-4
    """SGD weight decay (applied to every parameter)."""
    eval_every_epoch: bool = False
    """Measure test accuracy after every epoch and keep the best epoch too (default: the final model only,
    which is cheaper and does not select on the test set twice)."""
    head_lr_multiplier: float = 1.0
    """Learning rate of the new head relative to the backbone's."""
    seed: int = 0
    """Seed of the head initialisation, augmentation and shuffling (and of the subsets, unless
    subset_seed is set)."""
    subset_seed: int | None = None
    """Seed of the stratified train/test subsets; None: the same as seed. Fixing it (ft-v2: 0) keeps the
    images the same across training seeds, so that the seeds measure training noise only and the scores
    see exactly the images every seed was trained on."""
    repeat_seeds: tuple[int, ...] = ()
    """More training seeds, run at the learning rate selected on `seed`'s grid; the accuracy is then the
    mean over `seed` and these, with its standard deviation kept (ft-v2: 1,2)."""
    lr_search_steps: int = 0
    """When the best learning rate is at an edge of the grid, extend the grid past that edge by one
    step (the grid's own ratio), up to this many times, so that the best is bracketed (ft-v2: 2)."""
    protocol_name: str = "custom"
    """Label stored with the results (FinetuneOptions.preset sets it: ft-v1, ft-v2)."""
    num_threads: int = 0
    """torch CPU threads (0: torch's default)."""
    cache_dir: str | None = None
    """Cache root (default: $LEAD_HF_CACHE or ~/.cache/lead_hf); runs go under finetune/."""
    use_cache: bool = True
    """Reuse finished runs; False trains again and overwrites them."""
    cached_only: bool = False
    """Train nothing: read finished runs only, and raise LookupError at the first run that is not cached
    (collects the results of parallel sweep shards without starting the missing runs)."""
    output: str | None = None
    """Also write the result (accuracy, every run, protocol) as JSON to this file."""
    models: tuple[str, ...] = ()
    """Model specs (zoo:NAME, timm:ARCH@FILE, ...): each is fine-tuned in turn."""
    text_column: str | None = None
    """Text models: the column of texts (default: the only string column besides the label, else 'text')."""
    max_length: int | None = None
    """Text models: truncate at this many tokens (default: the model's own). Text models are trained with
    AdamW (lead_hf.finetune_text), so their learning rates are AdamW's (e.g. 3e-5,1e-4,3e-4)."""

    constraints = {
        "dataset": PathLike(), "train_split": Text(), "test_split": Text(),
        "train_per_class": (Interval(int, 1), None), "test_per_class": (Interval(int, 1), None),
        "image_size": Interval(int, 16), "epochs": Interval(int, 1), "batch_size": Interval(int, 1),
        "learning_rates": Items(Interval(float, 0, closed="neither"), min_items=1),
        "momentum": Interval(float, 0, 1, closed="left"), "weight_decay": Interval(float, 0),
        "eval_every_epoch": Boolean(), "head_lr_multiplier": Interval(float, 0, closed="neither"),
        "seed": Interval(int), "subset_seed": (Interval(int), None), "repeat_seeds": Items(Interval(int), distinct=True),
        "lr_search_steps": Interval(int, 0), "protocol_name": Text(), "num_threads": Interval(int, 0),
        "cache_dir": (PathLike(), None), "use_cache": Boolean(), "cached_only": Boolean(),
        "output": (PathLike(), None),
        "models": Items(Text()),
        "text_column": (Text(), None), "max_length": (Interval(int, 1), None),
    }

    def __post_init__(self):
        super().__post_init__()
        self.learning_rates = tuple(float(v) for v in self.learning_rates)
        self.repeat_seeds = tuple(self.repeat_seeds)
        if self.lr_search_steps and len(self.learning_rates) < 2:
            raise OptionError("lr_search_steps", self.lr_search_steps,
                              "0 with fewer than 2 learning rates (the grid's ratio is the step)")
        if self.seed in self.repeat_seeds:
            raise OptionError("repeat_seeds", self.repeat_seeds, f"seeds other than seed={self.seed}")
        if self.cached_only and not self.use_cache:
            raise OptionError("cached_only", self.cached_only, "False with use_cache=False (which never reads a run)")

    @classmethod
    def preset(cls, name: str, **overrides) -> "FinetuneOptions":
        """The options of a named protocol (``PROTOCOLS``: ft-v1, ft-v2), with ``overrides`` on top."""
        if name not in PROTOCOLS:
            raise ValueError(f"unknown fine-tuning protocol {name!r}; known: {', '.join(PROTOCOLS)}")
        return cls(**{**PROTOCOLS[name], "protocol_name": name, **overrides})

    @property
    def resolved_subset_seed(self) -> int:
        return self.seed if self.subset_seed is None else self.subset_seed

    def protocol(self) -> dict[str, Any]:
        """Everything that changes the numbers (what the cache key and the CSV 'protocol' column hold)."""
        keep = ("train_split", "test_split", "train_per_class", "test_per_class", "image_size", "epochs",
                "batch_size", "momentum", "weight_decay", "head_lr_multiplier", "seed", "eval_every_epoch")
        out = {"version": PROTOCOL_VERSION, "optimizer": "sgd", "schedule": "cosine-per-step",
               "augmentation": "random-resized-crop(0.8-1.0, ratio 0.9-1.1)",
               **{k: getattr(self, k) for k in keep}, "learning_rates": list(self.learning_rates)}
        # only written when set, so that ft-v1 runs keep their cache keys
        if self.subset_seed is not None:
            out["subset_seed"] = self.subset_seed
        if self.test_split == self.train_split:
            out["test_subset"] = "disjoint-holdout"
        return out

    def run_protocol(self, seed: int, image_size: int) -> dict[str, Any]:
        """What one run's numbers depend on: the protocol with this run's training seed and input size."""
        p = self.protocol()
        p["seed"], p["image_size"] = seed, image_size
        p.pop("learning_rates")  # a run has one learning rate, keyed separately
        if seed != self.seed or self.subset_seed is not None:
            p["subset_seed"] = self.resolved_subset_seed
        return p

    def protocol_string(self) -> str:
        """One line naming the protocol (its first word: the preset's name, e.g. ft-v2, or the training
        code's version for options that are not a preset) and every number of it."""
        p = self.protocol()
        name = self.protocol_name if self.protocol_name in PROTOCOLS else p["version"]
        return (f"{name} sgd(m={p['momentum']},wd={p['weight_decay']}) cosine lr={p['learning_rates']} "
                f"epochs={p['epochs']} bs={p['batch_size']} px={p['image_size']} "
                f"train={p['train_split']}/{p['train_per_class']}pc test={p['test_split']}/{p['test_per_class']}pc "
                f"seed={p['seed']}" + (f" subset_seed={self.subset_seed}" if self.subset_seed is not None else "")
                + (f" lr-search={self.lr_search_steps}" if self.lr_search_steps else "")
                + (f" mean-over-seeds={[self.seed, *self.repeat_seeds]}@best-lr" if self.repeat_seeds
                   else " best-over-grid"))

    def cache_root(self) -> Path:
        from .extract.cache import default_cache_root
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_root()


PROTOCOLS: dict[str, dict[str, Any]] = {
    "ft-v1": {},
    # ft-v2 (docs/benchmark.md): 64 px, 100 training images per class, up to 100 test images per class,
    # a 3-point learning-rate grid extended until its best is inside it, 3 training seeds on fixed subsets.
    "ft-v2": {"image_size": 64, "train_per_class": 100, "test_per_class": 100, "epochs": 6,
              "learning_rates": (0.003, 0.01, 0.03), "lr_search_steps": 2, "subset_seed": 0,
              "repeat_seeds": (1, 2)},
    # ft-text-v1 (docs/text.md): text models, AdamW (lead_hf.finetune_text), 200 training texts per class,
    # a 3-point grid, fixed subsets; small enough for a CPU.
    "ft-text-v1": {"train_per_class": 200, "test_per_class": 250, "epochs": 3, "batch_size": 16,
                   "learning_rates": (3e-5, 1e-4, 3e-4), "weight_decay": 0.01, "subset_seed": 0},
}
"""Named protocols: the FinetuneOptions fields each one sets (everything else keeps its default)."""


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


# -------------------------------------------------------------------------------------------- model

def _with_new_head(loaded, num_classes: int, seed: int):
    """The loaded model's module with its classifier replaced by a fresh Linear(D, K), and a function
    pixels -> logits."""
    import torch
    from torch import nn

    from .models.base import find_classifier_linear

    module = loaded.module
    torch.manual_seed(seed)
    if _resets_its_head(module):  # timm models, and the torch-family zoo's ZooNet (headless ones too)
        module.reset_classifier(num_classes)
        return module, module
    old = find_classifier_linear(module, loaded.num_classes, loaded.name)
    new = nn.Linear(old.in_features, num_classes)
    for parent in module.modules():
        for child_name, child in parent.named_children():
            if child is old:
                setattr(parent, child_name, new)
    if loaded.family == "transformers":
        module.config.num_labels = num_classes

        def call(x):
            return module(pixel_values=x).logits
        return module, call
    return module, module


# --------------------------------------------------------------------------------------------- data

def _decoded(dataset, split: str, per_class: int | None, seed: int, exclude_per_class: int | None = None,
             modality: str = "image", text_column: str | None = None):
    """(PIL images, labels, label names, fingerprint) of a stratified subset of one split; for
    ``modality="text"``, the texts instead of the images.

    ``exclude_per_class``: first remove the subset that ``max_per_class=exclude_per_class`` with the same
    seed selects (the training subset, when train and test come from one split) and draw from the rest,
    so the two subsets are disjoint and the training one is exactly what the scores see."""
    import numpy as np

    from .data import load_split
    from .data.sampling import stratified_indices

    kind = {"modality": modality, "text_column": text_column} if modality == "text" else {}
    if exclude_per_class is None:
        ds = load_split(dataset, split, max_per_class=per_class, seed=seed, **kind)
    else:
        ds = load_split(dataset, split, **kind)
        labels_all = np.asarray(ds["label"])
        rest = np.setdiff1d(np.arange(len(ds)), stratified_indices(labels_all, exclude_per_class, seed))
        if rest.size == 0:
            raise ValueError(f"dataset {dataset!r}: split {split!r} has nothing left for testing after "
                             f"{exclude_per_class} training images per class; lower train_per_class")
        if per_class is not None:
            rest = rest[stratified_indices(labels_all[rest], per_class, seed + 1)]
        ds = ds.select(rest)
    images = list(ds["text"]) if modality == "text" else [im.copy() for im in ds["image"]]
    labels = [int(v) for v in ds["label"]]
    return images, labels, list(ds.features["label"].names), ds._fingerprint


class _ImageList:
    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


# ---------------------------------------------------------------------------------------------- run

def run_key(model_name: str, revision: str, dataset_fp: str, protocol: dict, lr: float) -> str:
    blob = json.dumps({"model": model_name, "revision": revision, "dataset": dataset_fp, "protocol": protocol,
                       "lr": lr}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def _dataset_fingerprint(opts: FinetuneOptions, data) -> str:
    """Embedded sets are fingerprinted from their source files without decoding; any other source from
    the content of the two subsets (so an edited folder is not mistaken for the cached one)."""
    if isinstance(opts.dataset, str) and opts.dataset.startswith("embedded:"):
        from .data.embedded import embedded_source, source_fingerprint
        return "embedded:" + source_fingerprint(embedded_source(opts.dataset[len("embedded:"):]))
    return "data:" + hashlib.sha256(f"{data[0][3]}|{data[1][3]}".encode()).hexdigest()


def _train_one(ref, data, opts: FinetuneOptions, lr: float, log, seed: int, image_size: int,
               keep: list | None = None) -> dict[str, Any]:
    import numpy as np
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    (tr_img, tr_lab, names, _), (te_img, te_lab, _, _) = data
    acc = Accelerator(cpu=not torch.cuda.is_available())
    set_seed(seed)
    loaded = ref.load()
    from .models.preprocessing import make_transforms, norm_stats

    mean, std = norm_stats(ref.preprocess_config)
    train_tf, eval_tf = make_transforms(mean, std, image_size)
    module, forward = _with_new_head(loaded, len(names), seed)
    head = [p for n, p in module.named_parameters() if _is_head(module, n, loaded.family)]
    head_ids = {id(p) for p in head}
    body = [p for p in module.parameters() if id(p) not in head_ids]
    optimizer = torch.optim.SGD([{"params": body, "lr": lr}, {"params": head, "lr": lr * opts.head_lr_multiplier}],
                                lr=lr, momentum=opts.momentum, weight_decay=opts.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    train_loader = torch.utils.data.DataLoader(_ImageList(tr_img, tr_lab, train_tf), batch_size=opts.batch_size,
                                               shuffle=True, generator=gen, num_workers=0, drop_last=False)
    test_loader = torch.utils.data.DataLoader(_ImageList(te_img, te_lab, eval_tf), batch_size=128,
                                              shuffle=False, num_workers=0)
    steps = opts.epochs * math.ceil(len(tr_img) / opts.batch_size / acc.num_processes)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    module, optimizer, train_loader, test_loader, scheduler = acc.prepare(module, optimizer, train_loader,
                                                                          test_loader, scheduler)
    if _resets_its_head(acc.unwrap_model(module)):
        forward = module
    per_epoch, losses = [], []
    start = time.time()
    chance = float(np.bincount(te_lab).max() / len(te_lab))

    def record(accuracy: float, final: float) -> dict[str, Any]:
        return run_record(acc, lr, seed, {"image_size": image_size}, accuracy, final, per_epoch, losses, start,
                          len(tr_img), len(te_img), len(names), chance)
    diverged_at = train_epochs(module, forward, optimizer, scheduler, train_loader, test_loader, acc, opts,
                               f"{ref.name} lr={lr:g}", seed, start, per_epoch, losses, log)
    if diverged_at is not None:
        # a learning rate too large for this model: the run counts as failed (chance accuracy, the
        # majority class's share, which is what a network with non-finite weights scores); the grid
        # goes on, and finetune() raises only when every run diverged
        acc.free_memory()
        return {**record(chance, chance), "diverged": True, "diverged_at_epoch": diverged_at}
    if keep is not None:
        keep.append(acc.unwrap_model(module))
    acc.free_memory()
    return record(max(per_epoch), per_epoch[-1])


def run_record(acc, lr: float, seed: int, inputs: dict[str, Any], accuracy: float, final: float, per_epoch: list,
               losses: list, start: float, num_train: int, num_test: int, num_classes: int,
               chance: float) -> dict[str, Any]:
    """The record of one run (what the run cache stores), the image and the text trainer's alike; ``inputs``:
    the input size it trained at (``image_size``, or ``max_length`` for text)."""
    return {"lr": lr, "seed": seed, **inputs, "accuracy": float(accuracy), "final_accuracy": float(final),
            "per_epoch": [float(v) for v in per_epoch], "train_loss": [float(v) for v in losses],
            "seconds": round(time.time() - start, 2), "num_train": num_train, "num_test": num_test,
            "num_classes": num_classes, "device": str(acc.device), "num_processes": acc.num_processes,
            "is_main": acc.is_main_process, "chance": chance}


def train_epochs(module, forward, optimizer, scheduler, train_loader, test_loader, acc, opts, name: str,
                 seed: int, start: float, per_epoch: list, losses: list, log) -> int | None:
    """The epochs of one run, the image and the text trainer's alike: SGD/AdamW steps with the schedule, the
    mean training loss of each epoch appended to ``losses``, the test accuracy to ``per_epoch`` (after every
    epoch with ``eval_every_epoch``, else after the last). Returns the epoch (1-based) whose loss was not
    finite, or None."""
    import torch

    for epoch in range(opts.epochs):
        module.train()
        total, count = 0.0, 0
        for x, y in train_loader:
            loss = torch.nn.functional.cross_entropy(forward(x), y)
            optimizer.zero_grad(set_to_none=True)
            acc.backward(loss)
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(y)
            count += len(y)
        if not math.isfinite(total):
            log(f"  {name} seed={seed} epoch {epoch + 1}/{opts.epochs}: diverged (non-finite loss)")
            return epoch + 1
        losses.append(total / max(count, 1))
        if not (opts.eval_every_epoch or epoch == opts.epochs - 1):
            log(f"  {name} epoch {epoch + 1}/{opts.epochs}: loss {losses[-1]:.4f} ({time.time() - start:.0f}s)")
            continue
        module.eval()
        correct, seen = 0, 0
        with torch.inference_mode():
            for x, y in test_loader:
                pred = forward(x).argmax(dim=1)
                pred, y = acc.gather_for_metrics((pred, y))
                correct += int((pred == y).sum())
                seen += len(y)
        per_epoch.append(correct / seen)
        log(f"  {name} seed={seed} epoch {epoch + 1}/{opts.epochs}: loss {losses[-1]:.4f} "
            f"test acc {per_epoch[-1]:.4f} ({time.time() - start:.0f}s)")
    return None


def train_model(model_spec, options: FinetuneOptions, log=print):
    """Train ``model_spec`` once (the first learning rate of the grid, ``options.seed``) and return
    ``(module, record)``: the trained network with its new head, for building derived checkpoints (the
    benchmark zoo's members pre-trained by the project). Nothing is cached."""
    from .models.preprocessing import effective_image_size, resized_ref

    if options.num_threads:
        import torch
        torch.set_num_threads(options.num_threads)
    ref = resized_ref(model_spec, options.image_size)
    size = effective_image_size(ref.preprocess_config, options.image_size)
    keep: list = []
    record = _train_one(ref, _load_data(options), options, options.learning_rates[0], log, options.seed, size,
                        keep=keep)
    return keep[0], record


def _resets_its_head(module) -> bool:
    """timm's convention, which ZooNet follows: ``reset_classifier(K)`` and ``pretrained_cfg["classifier"]``."""
    return callable(getattr(module, "reset_classifier", None)) and isinstance(getattr(module, "pretrained_cfg", None),
                                                                           dict)


def _is_head(module, param_name: str, family: str) -> bool:
    if _resets_its_head(module):
        head_name = module.pretrained_cfg.get("classifier", "classifier")
        return param_name.startswith(head_name + ".")
    return False


def finetune(model_spec, dataset: str | None = None, options: FinetuneOptions | None = None, log=print,
             **overrides) -> FinetuneResult:
    """Fine-tune ``model_spec`` on ``dataset``: one run per learning rate of the grid (extended past an
    edge while the best sits on it, ``lr_search_steps``), then ``repeat_seeds`` at the best rate. Every run
    is cached; the result is the best accuracy over the grid, or with repeat seeds the mean over seeds at
    the best rate."""
    import torch

    from .io import write_json_atomic
    from .models import resolve_model
    from .models.preprocessing import effective_image_size, resized_ref
    from .provenance import package_versions

    opts = options or FinetuneOptions()
    if dataset is not None:
        overrides["dataset"] = dataset
    opts = with_overrides(opts, overrides)
    if opts.num_threads:
        torch.set_num_threads(opts.num_threads)
    ref = resolve_model(model_spec)
    if ref.modality == "text":  # same grid, search, seeds and cache; the text trainer (finetune_text)
        from . import finetune_text as text

        ref = text.text_ref(ref, opts)
        size = int(ref.preprocess_config["max_length"])
        load_data = lambda o: _load_data(o, modality="text")  # noqa: E731
        train_one, unit = text.train_one, "tokens"
        run_protocol, protocol = (lambda seed, n: text.run_protocol(opts, seed, n)), text.protocol(opts, size)
    else:
        ref = resized_ref(ref, opts.image_size)
        size = effective_image_size(ref.preprocess_config, opts.image_size)
        load_data, train_one, unit = _load_data, _train_one, "px"
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


def _load_data(opts: FinetuneOptions, modality: str = "image"):
    seed = opts.resolved_subset_seed
    same = opts.test_split == opts.train_split
    if same and opts.train_per_class is None:
        raise ValueError(f"train_split and test_split are both {opts.train_split!r}: a disjoint test subset "
                         "needs train_per_class (e.g. 100), or pass a separate --test-split")
    kind = {"modality": modality, "text_column": opts.text_column} if modality == "text" else {}
    data = (_decoded(opts.dataset, opts.train_split, opts.train_per_class, seed, **kind),
            _decoded(opts.dataset, opts.test_split, opts.test_per_class, seed,
                     exclude_per_class=opts.train_per_class if same else None, **kind))
    if data[0][2] != data[1][2]:
        raise ValueError(f"dataset {opts.dataset!r}: the {opts.train_split!r} and {opts.test_split!r} splits have "
                         f"different classes ({data[0][2]} vs {data[1][2]}); pass splits of the same task")
    if len(set(data[0][1])) < 2:
        raise ValueError(f"dataset {opts.dataset!r}: the training subset has fewer than 2 classes; "
                         "fine-tuning a classifier needs at least 2")
    return data


def _read_run(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # missing or torn: train again
    return record if isinstance(record.get("accuracy"), float) else None
