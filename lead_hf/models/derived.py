"""Benchmark-zoo members the project derives itself from the embedded checkpoints, registered as ``zoo:``.

A benchmark of transferability scores needs models whose transferability differs in a known direction.
Three kinds of derivation give that spread without any source data we do not have:

- ``reinit``: an ImageNet backbone with its last k stages (plus head conv, its BatchNorm and the
  classifier) re-initialised with a seeded fresh initialisation: a graded ladder of pre-trained knowledge;
- ``random``: the architecture with no pre-training at all;
- ``pretrain``: a backbone trained by the project on another embedded dataset (from scratch, or from its
  ImageNet weights). Such a member must never be scored on the dataset it was trained on:
  ``excluded_datasets`` says which, and the benchmark and the ground-truth sweep skip those pairs;
- ``truncate`` (text): a transformers text model cut to its embeddings and first k layers (tensors
  copied unchanged), and ``random`` of a text parent (its architecture, seeded fresh initialisation).
  They are cheap (seconds), so they are built on first use (``ZooEntry.materialize``) as well as by the
  build script, into ``<zoo dir>/<name>/`` as transformers folders.

This module holds the recipes as data and registers every member; the weights are built by
``python scripts/build_benchmark_zoo.py`` (``lead_hf.zoo_build``) into ``<lead_hf cache>/benchmark_zoo``
and never committed. A member whose file is missing says how to build it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io import default_cache_root
from .zoo import ZooEntry, register_zoo, zoo_entry

DERIVED_KINDS = ("reinit", "random", "pretrain", "truncate")
BUILD_COMMAND = "python scripts/build_benchmark_zoo.py"


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
    layers: int | None = None
    """truncate: how many of the parent's first transformer layers are kept."""
    seed: int = 0

    def __post_init__(self):
        if self.kind not in DERIVED_KINDS:
            raise ValueError(f"derived member {self.name!r}: kind must be one of {DERIVED_KINDS}")
        if self.kind == "reinit" and not (self.stages and self.stages >= 1):
            raise ValueError(f"derived member {self.name!r}: reinit needs stages >= 1")
        if self.kind == "pretrain" and not (self.dataset and self.num_classes):
            raise ValueError(f"derived member {self.name!r}: pretrain needs dataset= and num_classes=")
        if self.kind == "truncate" and not (self.layers and self.layers >= 1):
            raise ValueError(f"derived member {self.name!r}: truncate needs layers >= 1")

    @property
    def excluded_datasets(self) -> tuple[str, ...]:
        """Dataset keys this member must not be scored or fine-tuned on (it has seen them); a member
        derived from another derived member inherits its exclusions."""
        own = (self.dataset.split(":", 1)[-1],) if self.dataset else ()
        parent = RECIPES.get(self.parent)
        return own + (parent.excluded_datasets if parent else ())


def zoo_dir() -> Path:
    """Where the derived weights are built: ``$LEAD_HF_ZOO_DIR``, else ``<lead_hf cache>/benchmark_zoo``."""
    env = os.environ.get("LEAD_HF_ZOO_DIR")
    return Path(env).expanduser() if env else default_cache_root() / "benchmark_zoo"


def weights_path(name: str) -> Path:
    return zoo_dir() / f"{name}.safetensors"


def text_member_dir(name: str) -> Path:
    """The transformers folder of a derived text member."""
    return zoo_dir() / name


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
    DerivedRecipe(name="all-minilm-l6-v2-layers4", kind="truncate", parent="all-minilm-l6-v2", layers=4,
                  description="all-MiniLM-L6-v2 cut to its embeddings and first 4 of 6 layers (mean pooling kept)"),
    DerivedRecipe(name="all-minilm-l6-v2-layers2", kind="truncate", parent="all-minilm-l6-v2", layers=2,
                  description="all-MiniLM-L6-v2 cut to its embeddings and first 2 of 6 layers (mean pooling kept)"),
    DerivedRecipe(name="all-minilm-l6-v2.random", kind="random", parent="all-minilm-l6-v2",
                  description="all-MiniLM-L6-v2's architecture and tokenizer, random initialisation (seed 0)"),
)}
"""Every derived member, in build order (a pretrain member may start from an earlier one)."""


def excluded_datasets(model_name: str) -> tuple[str, ...]:
    """Dataset keys a model must not be benchmarked on: ``zoo:NAME`` of a pretrain member -> its source
    dataset(s); anything else -> ()."""
    name = model_name[len("zoo:"):] if model_name.startswith("zoo:") else model_name
    recipe = RECIPES.get(name)
    return recipe.excluded_datasets if recipe else ()


def build_text_member(recipe: DerivedRecipe) -> Path:
    """Build a derived text member's folder from its parent's package files (seconds)."""
    from .loaders import zoo_ref
    from .text import derive_text_member
    from .zoo import weight_files_or_none

    parent = zoo_entry(recipe.parent)
    files = weight_files_or_none(parent)
    if files is None:
        raise ValueError(f"zoo model {recipe.name!r} is derived from zoo:{recipe.parent}, whose package is "
                         f"missing: {parent.install_hint()}")
    info = {"parent": f"zoo:{recipe.parent}", "parent_revision": zoo_ref(recipe.parent).revision,
            "description": recipe.description}
    return derive_text_member(Path(files[0]).parent, text_member_dir(recipe.name), recipe.kind, recipe.layers,
                              recipe.seed, info)


def _register_text(recipe: DerivedRecipe, parent: ZooEntry) -> ZooEntry:
    from .text import member_files

    return register_zoo(ZooEntry(
        name=recipe.name, family="text", weights=lambda: member_files(text_member_dir(recipe.name)),
        package=parent.package, pip_args=parent.pip_args,
        how_to_get=f"it is built from zoo:{recipe.parent} on first use (or `{BUILD_COMMAND}`); install "
                   f"{parent.package} first",
        materialize=lambda: build_text_member(recipe),
        feature_dim=parent.feature_dim, num_classes=0, licence=parent.licence, description=recipe.description))


def _register(recipe: DerivedRecipe) -> ZooEntry:
    parent = zoo_entry(recipe.parent)
    if parent.family == "text":
        return _register_text(recipe, parent)
    num_classes = recipe.num_classes if recipe.kind == "pretrain" else parent.num_classes
    return register_zoo(ZooEntry(
        name=recipe.name, family="timm", architecture=parent.architecture, by_position=False,
        weights=lambda: str(weights_path(recipe.name)), package="", pip_args="",
        how_to_get=f"build it with `{BUILD_COMMAND}` (derived from zoo:{recipe.parent}; weights are never "
                   "committed)",
        feature_dim=parent.feature_dim, num_classes=num_classes, licence=parent.licence,
        description=recipe.description))


for _recipe in RECIPES.values():
    _register(_recipe)
