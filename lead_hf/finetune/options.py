"""Options of ``lead-hf finetune`` and the named protocols (ft-v1, ft-v2, ft-text-v1); imports no ML framework."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..utils.config import PluginOptions
from ..utils.constraints import Boolean, Interval, Items, OneOf, OptionError, PathLike, Text

PROTOCOL_VERSION = "ft-v1"
"""Bumped whenever the training code changes the numbers, so old cached runs are not reused."""
TRAINERS = ("full", "linear-probe", "linear-probe-adam")
_FROZEN = "frozen model, eval mode, the evaluation transform, no augmentation"
PROBE_RECIPES = {
    "linear-probe": {"probe": "logistic regression (scikit-learn lbfgs, multinomial, L2, C = the learning rate, "
                              "max_iter 10000), raw features", "features": _FROZEN},
    "linear-probe-adam": {"probe": "Linear(D, K), Adam, warm-up 1 epoch, x0.1 after epoch 10", "features": _FROZEN},
}
"""What each probe trainer (lead_hf.finetune.probe) does besides the options: part of its runs' keys."""


@dataclass
class FinetuneOptions(PluginOptions):
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
    """Learning-rate grid; one run each, the best test accuracy is kept (trainer linear-probe: its C grid)."""
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
    step (the grid's own ratio), up to this many times, so that the best is bracketed (ft-v2: 2). When no
    rate learns anything (every run diverged or at chance accuracy) the grid is extended downwards."""
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
    trainer: str = "full"
    """full: every parameter trained with a new linear head (SGD, augmentation). linear-probe: the model
    frozen, a logistic regression fitted to convergence on its features, the learning rates read as its C
    (inverse L2 strength; protocol ct-probe). linear-probe-adam: the frozen model's features and a linear
    head trained by Adam, the CT paper's recipe (ct-probe-adam)."""
    ct_betas: tuple[float, ...] = ()
    """Curvature Tuning (docs/ct.md): run every model at each of these betas (MODEL@ct=BETA; 1: the model
    as it is). Empty: no steering."""
    text_column: str | None = None
    """Text models: the column of texts (default: the only string column besides the label, else 'text')."""
    max_length: int | None = None
    """Text models: truncate at this many tokens (default: the model's own). Text models are trained with
    AdamW (lead_hf.finetune.text), so their learning rates are AdamW's (e.g. 3e-5,1e-4,3e-4)."""

    constraints = {
        "dataset": PathLike(), "train_split": Text(), "test_split": Text(),
        "train_per_class": (Interval(int, 1), None), "test_per_class": (Interval(int, 1), None),
        "image_size": Interval(int, 16), "epochs": Interval(int, 1), "batch_size": Interval(int, 1),
        "learning_rates": Items(Interval(float, 0, closed="neither"), min_items=1),
        "momentum": Interval(float, 0, 1, closed="left"), "weight_decay": Interval(float, 0),
        "eval_every_epoch": Boolean(), "head_lr_multiplier": Interval(float, 0, closed="neither"),
        "seed": Interval(int, 0), "subset_seed": (Interval(int, 0), None), "repeat_seeds": Items(Interval(int, 0), distinct=True),
        "lr_search_steps": Interval(int, 0), "protocol_name": Text(), "num_threads": Interval(int, 0),
        "cache_dir": (PathLike(), None), "use_cache": Boolean(), "cached_only": Boolean(),
        "output": (PathLike(), None),
        "models": Items(Text()),
        "text_column": (Text(), None), "max_length": (Interval(int, 1), None),
        "trainer": OneOf(*TRAINERS), "ct_betas": Items(Interval(float, 0, 1), distinct=True),
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
        if self.trainer != "full":  # only then, so that the full trainer's runs keep their cache keys
            out.update(PROBE_RECIPES[self.trainer], trainer=self.trainer)
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
        optimizer = {"full": f"sgd(m={p['momentum']},wd={p['weight_decay']}) cosine",
                     "linear-probe": "linear-probe logistic-regression(lbfgs) C=",
                     "linear-probe-adam": f"linear-probe adam(wd={p['weight_decay']}) warm-up,x0.1@10"}[self.trainer]
        return (f"{name} {optimizer}{'' if optimizer.endswith('=') else ' lr='}{p['learning_rates']} "
                f"epochs={p['epochs']} bs={p['batch_size']} px={p['image_size']} "
                f"train={p['train_split']}/{p['train_per_class']}pc test={p['test_split']}/{p['test_per_class']}pc "
                f"seed={p['seed']}" + (f" subset_seed={self.subset_seed}" if self.subset_seed is not None else "")
                + (f" lr-search={self.lr_search_steps}" if self.lr_search_steps else "")
                + (f" mean-over-seeds={[self.seed, *self.repeat_seeds]}@best-lr" if self.repeat_seeds
                   else " best-over-grid"))

    def cache_root(self) -> Path:
        from ..utils.io import default_cache_root
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_root()


PROTOCOLS: dict[str, dict[str, Any]] = {
    "ft-v1": {},
    # ft-v2 (docs/benchmark.md): 64 px, 100 training images per class, up to 100 test images per class,
    # a 3-point learning-rate grid extended until its best is inside it, 3 training seeds on fixed subsets.
    "ft-v2": {"image_size": 64, "train_per_class": 100, "test_per_class": 100, "epochs": 6,
              "learning_rates": (0.003, 0.01, 0.03), "lr_search_steps": 2, "subset_seed": 0,
              "repeat_seeds": (1, 2)},
    # ft-v3 (docs/benchmark.md): ft-v2's recipe with 6 training seeds; repeat_seeds is not in a run's key,
    # so ft-v2's runs of seeds 0-2 are reused as they are.
    "ft-v3": {"image_size": 64, "train_per_class": 100, "test_per_class": 100, "epochs": 6,
              "learning_rates": (0.003, 0.01, 0.03), "lr_search_steps": 2, "subset_seed": 0,
              "repeat_seeds": (1, 2, 3, 4, 5)},
    # ct-probe (docs/ct.md): Curvature Tuning's ground truth, a linear probe on the frozen (steered) model's
    # features, fitted to convergence (the CT authors' deterministic probe: logistic regression, C = 1), with
    # ft-v2's images (64 px, 100 training images per class on a fixed subset); deterministic, one run.
    "ct-probe": {"trainer": "linear-probe", "image_size": 64, "train_per_class": 100, "test_per_class": 100,
                 "learning_rates": (1.0,), "subset_seed": 0},
    # ct-probe-adam: the CT paper's reported probe (Adam 1e-3, batch 32, 20 epochs, a warm-up epoch, x0.1 after
    # epoch 10), 3 seeds; with 100 images per class it stops far from convergence (docs/ct.md)
    "ct-probe-adam": {"trainer": "linear-probe-adam", "image_size": 64, "train_per_class": 100,
                      "test_per_class": 100, "epochs": 20, "batch_size": 32, "learning_rates": (1e-3,),
                      "weight_decay": 0.0, "subset_seed": 0, "repeat_seeds": (1, 2)},
    # ft-text-v1 (docs/text.md): text models, AdamW (lead_hf.finetune.text), 200 training texts per class,
    # a 3-point grid, fixed subsets; small enough for a CPU.
    "ft-text-v1": {"train_per_class": 200, "test_per_class": 250, "epochs": 3, "batch_size": 16,
                   "learning_rates": (3e-5, 1e-4, 3e-4), "weight_decay": 0.01, "subset_seed": 0},
}
"""Named protocols: the FinetuneOptions fields each one sets (everything else keeps its default)."""


