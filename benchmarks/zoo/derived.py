"""Benchmark-zoo members the project derives itself from the embedded checkpoints, registered as ``zoo:``.

A benchmark of transferability scores needs models whose transferability differs in a known direction.
Three kinds of derivation give that spread without any source data we do not have:

- ``reinit``: an ImageNet backbone with its last k stages (plus head conv, its BatchNorm and the
  classifier) re-initialised with a seeded fresh initialisation: a graded ladder of pre-trained knowledge;
- ``random``: the architecture with no pre-training at all;
- ``pretrain``: a backbone trained by the project on another embedded dataset (from scratch, or from its
  ImageNet weights). Such a member must never be scored on the dataset it was trained on: its entry's
  ``trained_on`` says which, and the benchmark and the ground-truth sweep skip those pairs.

This module holds the recipes as data and registers every member; the weights are built by
``python -m benchmarks.zoo.build`` into ``<lead_hf cache>/benchmark_zoo`` (``lead_hf.models.zoo.zoo_dir``)
and never committed. A member whose file is missing says how to build it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lead_hf.models.zoo import ZooEntry, register_zoo, zoo_dir, zoo_entry

DERIVED_KINDS = ("reinit", "random", "pretrain")
BUILD_COMMAND = "python -m benchmarks.zoo.build"


@dataclass(frozen=True, kw_only=True)
class DerivedRecipe:
    name: str
    """The zoo name of the member (``zoo:NAME``)."""
    kind: str
    """reinit | random | pretrain."""
    parent: str
    """Zoo name of the checkpoint it starts from (for random: whose architecture it takes)."""
    description: str
    stages: int | None = None
    """reinit: how many trailing stages are re-initialised."""
    dataset: str | None = None
    """pretrain: the embedded dataset it is trained on."""
    train: dict[str, Any] = field(default_factory=dict)
    """pretrain: FinetuneOptions fields of the training run (images per class, size, epochs, lr ...)."""
    num_classes: int | None = None
    """pretrain: classes of the dataset it is trained on (its head becomes the member's source head)."""
    seed: int = 0

    def __post_init__(self):
        if self.kind not in DERIVED_KINDS:
            raise ValueError(f"derived member {self.name!r}: kind must be one of {DERIVED_KINDS}")
        if self.kind == "reinit" and not (self.stages and self.stages >= 1):
            raise ValueError(f"derived member {self.name!r}: reinit needs stages >= 1")
        if self.kind == "pretrain" and not (self.dataset and self.num_classes):
            raise ValueError(f"derived member {self.name!r}: pretrain needs dataset= and num_classes=")

    @property
    def excluded_datasets(self) -> tuple[str, ...]:
        """Dataset keys this member must not be scored or fine-tuned on (it has seen them); a member
        derived from another derived member inherits its exclusions."""
        own = (self.dataset.split(":", 1)[-1],) if self.dataset else ()
        parent = RECIPES.get(self.parent)
        return own + (parent.excluded_datasets if parent else ())


def weights_path(name: str) -> Path:
    return zoo_dir() / f"{name}.safetensors"


_PRETRAIN = {"train_split": "train", "test_split": "test", "train_per_class": 500, "test_per_class": 50,
             "image_size": 64, "epochs": 4, "batch_size": 32, "subset_seed": 1}
"""How the pretrain members are trained (subset_seed 1: the ground truth draws its subsets with 0)."""

RECIPES: dict[str, DerivedRecipe] = {r.name: r for r in (
    DerivedRecipe(name="mobilenetv2_100.in1k-reinit1", kind="reinit", parent="mobilenetv2_100.in1k", stages=1,
                  description="MobileNetV2 ImageNet, last 1 of 7 stages + head re-initialised"),
    DerivedRecipe(name="mobilenetv2_100.in1k-reinit3", kind="reinit", parent="mobilenetv2_100.in1k", stages=3,
                  description="MobileNetV2 ImageNet, last 3 of 7 stages + head re-initialised"),
    DerivedRecipe(name="mobilenetv2_100.in1k-reinit5", kind="reinit", parent="mobilenetv2_100.in1k", stages=5,
                  description="MobileNetV2 ImageNet, last 5 of 7 stages + head re-initialised"),
    DerivedRecipe(name="mobilenetv2_100.random", kind="random", parent="mobilenetv2_100.in1k",
                  description="MobileNetV2, random initialisation (no pre-training)"),
    DerivedRecipe(name="tf_efficientnet_lite0.in1k-reinit2", kind="reinit", parent="tf_efficientnet_lite0.in1k",
                  stages=2, description="EfficientNet-Lite0 ImageNet, last 2 of 7 stages + head re-initialised"),
    DerivedRecipe(name="tf_efficientnet_lite0.in1k-reinit4", kind="reinit", parent="tf_efficientnet_lite0.in1k",
                  stages=4, description="EfficientNet-Lite0 ImageNet, last 4 of 7 stages + head re-initialised"),
    DerivedRecipe(name="mobilenetv2_100.fashion_mnist-scratch", kind="pretrain", parent="mobilenetv2_100.random",
                  dataset="embedded:fashion_mnist", num_classes=10, train={**_PRETRAIN, "learning_rates": (0.03,)},
                  description="MobileNetV2 trained from scratch on 5,000 Fashion-MNIST images (64 px, 4 epochs)"),
    DerivedRecipe(name="mobilenetv2_100.in1k-fashion_mnist", kind="pretrain", parent="mobilenetv2_100.in1k",
                  dataset="embedded:fashion_mnist", num_classes=10, train={**_PRETRAIN, "learning_rates": (0.01,)},
                  description="MobileNetV2 ImageNet, then trained on 5,000 Fashion-MNIST images (64 px, 4 epochs)"),
    DerivedRecipe(name="tf_efficientnet_lite0.in1k-mnist", kind="pretrain", parent="tf_efficientnet_lite0.in1k",
                  dataset="embedded:mnist", num_classes=10, train={**_PRETRAIN, "learning_rates": (0.01,)},
                  description="EfficientNet-Lite0 ImageNet, then trained on 5,000 MNIST images (64 px, 4 epochs)"),
)}
"""Every derived member, in build order (a pretrain member may start from an earlier one)."""


def _register(recipe: DerivedRecipe) -> ZooEntry:
    parent = zoo_entry(recipe.parent)
    num_classes = recipe.num_classes if recipe.kind == "pretrain" else parent.num_classes
    return register_zoo(ZooEntry(
        name=recipe.name, family="timm", architecture=parent.architecture, by_position=False,
        weights=lambda: str(weights_path(recipe.name)), package="", pip_args="",
        how_to_get=f"build it with `{BUILD_COMMAND}` (derived from zoo:{recipe.parent}; weights are never "
                   "committed)",
        feature_dim=parent.feature_dim, num_classes=num_classes, licence=parent.licence,
        description=recipe.description, trained_on=recipe.excluded_datasets))


for _recipe in RECIPES.values():
    _register(_recipe)
