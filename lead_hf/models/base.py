"""One interface over every model family: a :class:`ModelRef` (cheap to resolve: name, revision,
preprocessing) and the :class:`LoadedModel` it builds (the ``nn.Module`` and a forward that returns the
penultimate features and the source logits together).

Penultimate features are exactly the input of the classification layer. For timm models they come from
``forward_features`` then ``forward_head(pre_logits=True)``; for every other family from a forward
pre-hook on the classifier's ``nn.Linear``, so no architecture-specific code is needed.

A model's ``modality`` says what it reads: ``"image"`` (``preprocess`` maps one PIL image to a tensor) or
``"text"`` (transformers text models, :mod:`lead_hf.models.text`: ``preprocess`` maps a list of strings
to the tokenizer's batch of tensors, and ``forward`` takes that batch).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..utils.io import file_sha256  # noqa: F401 - re-exported: the model families hash their weight files with it

FAMILIES = ("timm", "transformers", "torchvision", "torch")


@dataclass
class LoadedModel:
    """A model ready for extraction. ``forward(pixels)`` returns ``(features [B, D], logits [B, C])``."""

    name: str
    """Stable id (the spec with volatile parts removed), used in cache keys and reports."""
    module: nn.Module
    family: str
    preprocess: Callable[[Any], torch.Tensor]
    """PIL image -> float tensor [3, H, W], from the model's own data config / image processor."""
    revision: str
    """Hub commit sha, or ``sha256:<hex>`` of the weights file(s)."""
    hub_id: str | None
    image_size: tuple[int, int]
    num_classes: int
    feature_dim: int
    preprocess_config: dict[str, Any] = field(default_factory=dict)
    _both: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = field(default=None, repr=False)
    modality: str = "image"
    """image | text. Text: ``preprocess(list of str) -> dict of tensors`` (tokenised, truncated, padded to
    the longest) and ``forward`` takes that dict; ``image_size`` is unused."""
    example_input: Callable[[], Any] | None = field(default=None, repr=False)
    """A one-sample input for counting FLOPs (None: zeros of [1, 3, *image_size])."""

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (the classifier's input) and logits (the model's output) from one forward pass."""
        return self._both(pixels)

    __call__ = forward

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._both(pixels)[0]

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._both(pixels)[1]

    def to(self, device=None, *, channels_last: bool = False) -> "LoadedModel":
        self.module.to(device)
        if channels_last and self.modality == "image":
            self.module.to(memory_format=torch.channels_last)
        return self


@dataclass
class ModelRef:
    """A resolved model spec: everything the cache key needs, without building the model."""

    name: str
    family: str
    revision: str
    hub_id: str | None
    preprocess_config: dict[str, Any]
    loader: Callable[[], LoadedModel] = field(repr=False, compare=False)
    modality: str = "image"
    """image | text: known without loading the model (the dataset is loaded to match)."""
    steering: dict[str, Any] | None = None
    """How the model is changed after loading (Curvature Tuning: lead_hf.models.ct.steered_ref), part of
    the extraction cache key; None for the model as it is."""

    def load(self) -> LoadedModel:
        return self.loader()


def files_revision(paths) -> str:
    """``sha256:<hex>`` over one or several weight files (names and contents)."""
    paths = sorted(Path(p) for p in paths)
    if len(paths) == 1:
        return "sha256:" + file_sha256(paths[0])
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0" + file_sha256(p).encode())
    return "sha256:" + h.hexdigest()


class ZooNet(nn.Module):
    """``classifier(body(x))``: the shape every ``torch``-family zoo model should take. ``body`` maps
    pixels to the [B, D] feature; ``classifier`` is the source head ``nn.Linear(D, C)`` (or a multi-layer
    head module with integer ``in_features`` = D and ``out_features`` = C, e.g. an MLP; its input is still
    the feature), or None for a headless model (then ``forward`` returns the feature).
    ``reset_classifier(K)`` and ``pretrained_cfg["classifier"]`` follow timm's conventions, so fine-tuning
    can treat it as timm."""

    pretrained_cfg = {"classifier": "classifier"}

    def __init__(self, body: nn.Module, classifier: nn.Module | None = None, feature_dim: int | None = None):
        super().__init__()
        if classifier is not None and not (
                isinstance(classifier, nn.Linear) or (isinstance(classifier, nn.Module) and all(
                    isinstance(getattr(classifier, a, None), int) for a in ("in_features", "out_features")))):
            raise TypeError(f"ZooNet's classifier must be an nn.Linear, a head module with integer in_features "
                            f"and out_features, or None; got {type(classifier).__name__}")
        if classifier is None and feature_dim is None:
            raise ValueError("a headless ZooNet needs feature_dim (the size of body's output)")
        self.body = body
        self.classifier = classifier
        self.num_features = int(classifier.in_features if classifier is not None else feature_dim)

    @property
    def num_classes(self) -> int:
        return 0 if self.classifier is None else int(self.classifier.out_features)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh ``nn.Linear(D, num_classes)`` head (PyTorch's default init), or none for 0."""
        ref = next(self.body.parameters(), None)
        self.classifier = nn.Linear(self.num_features, num_classes) if num_classes > 0 else None
        if self.classifier is not None and ref is not None:
            self.classifier.to(device=ref.device, dtype=ref.dtype)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.body(x)
        return feats if self.classifier is None else self.classifier(feats)


def find_classifier_linear(module: nn.Module, num_classes: int | None, model_name: str) -> nn.Linear:
    """The classification layer: the last ``nn.Linear`` (with ``num_classes`` outputs when known)."""
    for attr in ("classifier", "fc", "head", "heads"):
        sub = getattr(module, attr, None)
        if isinstance(sub, nn.Module):
            linears = [m for m in sub.modules() if isinstance(m, nn.Linear)]
            if linears and (num_classes is None or linears[-1].out_features == num_classes):
                return linears[-1]
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)
               and (num_classes is None or m.out_features == num_classes)]
    if not linears:
        raise ValueError(
            f"model {model_name!r} has no classification layer (no nn.Linear"
            f"{'' if num_classes is None else f' with {num_classes} outputs'}); lead-hf needs an image "
            "classifier: load it with its classification head (e.g. AutoModelForImageClassification, or a "
            "timm model with num_classes > 0)")
    return linears[-1]


def hooked_forward(module: nn.Module, classifier: nn.Linear, call: Callable[[torch.Tensor], torch.Tensor],
                   model_name: str):
    """Wrap ``call`` so it also returns the input of ``classifier`` (captured by a forward pre-hook)."""
    captured: list[torch.Tensor] = []

    def grab(_mod, args):
        captured.append(args[0])

    def both(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        captured.clear()
        handle = classifier.register_forward_pre_hook(grab)
        try:
            logits = call(pixels)
        finally:
            handle.remove()
        if len(captured) != 1:
            raise ValueError(
                f"the classification layer of {model_name!r} ran {len(captured)} times in one forward pass; "
                "its input is not a single penultimate feature (pass a model with one classifier head)")
        feats = captured[0]
        if feats.ndim != 2:
            raise ValueError(
                f"the classification layer of {model_name!r} receives a tensor of shape {tuple(feats.shape)}, "
                "not [batch, dim]; per-token classifiers are not supported")
        return feats, logits

    return both
