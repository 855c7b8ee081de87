"""Spec strings -> :class:`ModelRef` for every family.

Accepted specs (see docs/extraction.md):
  zoo:NAME                                 the embedded offline zoo (``list_zoo()``)
  timm/NAME | hf-hub:ORG/NAME | local-dir:DIR   timm, as ``timm.create_model`` understands them
  timm:ARCH@WEIGHTS                        a timm architecture with a state dict file (.safetensors/.pth/.bin)
  torchvision:ARCH@WEIGHTS                 a torchvision architecture with a state dict file
  DIR                                      a local directory with config.json (transformers or timm;
                                           a text model when it has a tokenizer: lead_hf.models.text)
  ORG/NAME                                 a Hub model id (transformers, or timm when its config says so)
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from .base import (LoadedModel, ModelRef, ZooNet, file_sha256, files_revision, find_classifier_linear,
                   hooked_forward)

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")


def _offline_hint(name: str) -> str:
    return (f"model {name!r} could not be found locally and the Hugging Face Hub cannot be reached "
            "(offline, or HF_HUB_OFFLINE=1). Download it once where there is network "
            f"(`hf download {name.split(':', 1)[-1]}`), pass a local directory (save_pretrained / "
            "timm.models.save_for_hf), or use an embedded model: lead-hf extract --list-zoo")


def read_config(path: str | os.PathLike, name: str) -> dict[str, Any]:
    """A model's config.json, or a ValueError that names the file and what is wrong with it."""
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"config file {str(path)!r} of model {name!r} is not UTF-8 text; save the model again "
                         "(save_pretrained / timm.models.save_for_hf)") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"config file {str(path)!r} of model {name!r} is not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise ValueError(f"config file {str(path)!r} of model {name!r} holds {type(config).__name__}, not a "
                         "JSON object")
    return config


def _unsafe_pickle_message(weights, err: Exception) -> str | None:
    """The message for weights that are a pickle of Python objects (torch.save of a whole model), which
    ``weights_only=True`` refuses to unpickle; None for any other failure."""
    if "globals" not in str(err).lower():  # torch names the classes a whole saved model would unpickle
        return None
    return (f"the weights file {str(weights)!r} is a pickle of Python objects (a whole saved model), not a "
            "state dict of tensors, and lead-hf does not unpickle objects (that can run any code): save the "
            "model with timm.models.save_for_hf(model, DIR) or save_pretrained, which write safetensors")


def load_state_dict_file(path: str | os.PathLike, name: str) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} for model {name!r} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            sd = load_file(str(path))
        else:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise ValueError(_unsafe_pickle_message(path, err) or f"weights file {str(path)!r} for model {name!r} could "
                         f"not be read ({err}); pass a safetensors or torch state-dict file") from None
    for key in ("state_dict", "model", "model_state_dict"):  # common checkpoint wrappers
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"weights file {str(path)!r} for model {name!r} is not a state dict of tensors")
    return sd


def load_state_dict_in_order(module: torch.nn.Module, sd: dict[str, torch.Tensor], name: str) -> None:
    """Load tensors by position: for weights whose key names differ from the architecture's but whose
    tensors line up one-to-one (BatchNorm counters aside). Every shape is checked."""
    dst = [k for k in module.state_dict() if not k.endswith("num_batches_tracked")]
    src = [(k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked")]
    if len(dst) != len(src):
        raise ValueError(f"weights for {name!r} have {len(src)} tensors but the architecture has {len(dst)}")
    target = module.state_dict()
    mapped = {}
    for dk, (sk, v) in zip(dst, src):
        if target[dk].shape != v.shape:
            raise ValueError(f"weights for {name!r}: tensor {sk!r} {tuple(v.shape)} does not fit {dk!r} "
                             f"{tuple(target[dk].shape)}")
        mapped[dk] = v
    missing, _ = module.load_state_dict(mapped, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing:  # pragma: no cover - guarded by the length check above
        raise ValueError(f"weights for {name!r} leave {missing[:3]} unset")


def _strict_load(module: torch.nn.Module, sd: dict[str, torch.Tensor], name: str) -> None:
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()
        raise ValueError(f"weights for {name!r} do not match the architecture ({' '.join(first[:3])[:400]}); "
                         "check the architecture name and the number of classes") from None


# ----------------------------------------------------------------------------------------------- timm

def _timm_data_config(pretrained_cfg: dict[str, Any]) -> dict[str, Any]:
    import timm.data
    cfg = timm.data.resolve_data_config(pretrained_cfg=dict(pretrained_cfg), use_test_size=False)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}


def timm_loaded(name: str, module, revision: str, hub_id: str | None, data_config: dict) -> LoadedModel:
    import timm.data

    module.eval()
    if module.num_classes == 0 or not isinstance(module.get_classifier(), torch.nn.Module) or \
            isinstance(module.get_classifier(), torch.nn.Identity):
        raise ValueError(f"model {name!r} has no classification layer (num_classes=0); lead-hf needs the "
                         "classifier: create it with num_classes > 0")
    transform = timm.data.create_transform(**{k: tuple(v) if isinstance(v, list) else v
                                              for k, v in data_config.items()}, is_training=False)

    def preprocess(img):
        return transform(img.convert("RGB"))

    def both(x):
        h = module.forward_features(x)
        return module.forward_head(h, pre_logits=True), module.forward_head(h)

    size = tuple(data_config["input_size"][-2:])
    return LoadedModel(name=name, module=module, family="timm", preprocess=preprocess, revision=revision,
                       hub_id=hub_id, image_size=size, num_classes=int(module.num_classes),
                       feature_dim=int(module.num_features if not hasattr(module, "head_hidden_size")
                                       else module.head_hidden_size),
                       preprocess_config=data_config, _both=both)


def _timm_arch_ref(arch: str, weights: str, name: str | None = None) -> ModelRef:
    import timm

    if arch not in timm.list_models() and not timm.is_model(arch):
        raise ValueError(f"timm has no architecture {arch!r}; see timm.list_models() for the names")
    name = name or f"timm:{arch}@{Path(weights).name}"
    revision = "sha256:" + file_sha256(weights) if Path(weights).is_file() else "missing"
    pcfg = timm.models.get_pretrained_cfg(arch) or {}
    data_config = _timm_data_config(pcfg.to_dict() if hasattr(pcfg, "to_dict") else dict(pcfg))

    def load():
        sd = load_state_dict_file(weights, name)
        head = next((k for k in reversed(list(sd)) if k.endswith("weight") and sd[k].ndim == 2), None)
        kwargs = {"num_classes": int(sd[head].shape[0])} if head else {}
        module = timm.create_model(arch, pretrained=False, **kwargs)
        _strict_load(module, sd, name)
        return timm_loaded(name, module, revision, None, data_config)

    return ModelRef(name, "timm", revision, None, data_config, load)


def _timm_pretrained_ref(spec: str) -> ModelRef:
    """``timm/X``, ``hf-hub:X`` or ``local-dir:DIR``: timm resolves it; we read config.json ourselves for the
    cache key (revision, data config) so a cache hit never builds the model."""
    import timm

    if spec.startswith("timm/"):
        spec = "hf-hub:" + spec
    if spec.startswith("local-dir:"):
        folder = Path(spec[len("local-dir:"):]).expanduser()
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"timm model directory {str(folder)!r} has no config.json; save it with "
                                    "timm.models.save_for_hf(model, DIR)")
        config_file, hub_id = folder / "config.json", None
        weights = [folder / f for f in ("model.safetensors", "pytorch_model.bin") if (folder / f).is_file()]
        if not weights:
            raise FileNotFoundError(f"timm model directory {str(folder)!r} has no model.safetensors or "
                                    "pytorch_model.bin")
        revision = files_revision(weights[:1])
        name = f"local-dir:{folder.resolve()}"
    else:
        hub_id = spec[len("hf-hub:"):]
        config_file, revision = _hub_file(hub_id, "config.json", spec)
        name = spec
    config = read_config(config_file, spec)
    data_config = _timm_data_config(config.get("pretrained_cfg", {}))

    def load():
        try:
            module = timm.create_model(spec, pretrained=True)
        except (OSError, RuntimeError) as err:
            if hub_id is None:  # a local folder: nothing to do with the Hub
                raise ValueError(_unsafe_pickle_message(weights[0], err) or f"timm could not load the model folder "
                                 f"{str(folder)!r} ({type(err).__name__}: {str(err)[:300]})") from None
            raise ValueError(f"{_offline_hint(spec)} ({type(err).__name__}: {str(err)[:200]})") from None
        return timm_loaded(name, module, revision, hub_id, data_config)

    return ModelRef(name, "timm", revision, hub_id, data_config, load)


# --------------------------------------------------------------------------------------- transformers

def _hub_file(repo_id: str, filename: str, spec: str) -> tuple[str, str]:
    """A file from the Hub cache (or the Hub when online) and the snapshot's commit sha."""
    from huggingface_hub import hf_hub_download
    try:
        path = hf_hub_download(repo_id, filename)
    except Exception as err:  # noqa: BLE001 - offline, missing repo, gated: all end the same way
        raise ValueError(f"{_offline_hint(spec)} ({type(err).__name__})") from None
    parts = Path(path).parts
    revision = parts[parts.index("snapshots") + 1] if "snapshots" in parts else "unknown"
    return path, revision


def _transformers_ref(source: str, name: str, revision: str, hub_id: str | None) -> ModelRef:
    from transformers import AutoImageProcessor

    try:
        processor = AutoImageProcessor.from_pretrained(source)
    except (OSError, ValueError) as err:
        raise ValueError(f"model {name!r} has no usable image processor (preprocessor_config.json): {err}; "
                         "save one next to the model with AutoImageProcessor.save_pretrained (for a text model, "
                         "save its tokenizer there instead: AutoTokenizer.save_pretrained)") from None
    proc_cfg = processor.to_dict()
    proc_cfg.pop("processor_class", None)

    def load():
        from transformers import AutoModelForImageClassification
        try:
            module = AutoModelForImageClassification.from_pretrained(source)
        except (OSError, ValueError) as err:
            raise ValueError(f"model {name!r} is not an image classifier transformers can load ({err}); "
                             "pass an AutoModelForImageClassification checkpoint") from None
        return transformers_loaded(name, module, processor, revision, hub_id, proc_cfg)

    return ModelRef(name, "transformers", revision, hub_id, _jsonable(proc_cfg), load)


def _processor_size(processor) -> tuple[int, int]:
    for attr in ("crop_size", "size"):
        size = getattr(processor, attr, None)
        if size is None:
            continue
        if isinstance(size, int):
            return (size, size)
        size = dict(size) if not isinstance(size, dict) else size
        if "height" in size and size["height"]:
            return (int(size["height"]), int(size["width"]))
        if "shortest_edge" in size and size["shortest_edge"]:
            return (int(size["shortest_edge"]),) * 2
    return (224, 224)


def transformers_loaded(name, module, processor, revision, hub_id, proc_cfg) -> LoadedModel:
    module.eval()
    num_labels = int(module.config.num_labels)
    classifier = find_classifier_linear(module, num_labels, name)

    def call(x):
        return module(pixel_values=x).logits

    def preprocess(img):
        return processor(images=img.convert("RGB"), return_tensors="pt")["pixel_values"][0]

    return LoadedModel(name=name, module=module, family="transformers", preprocess=preprocess,
                       revision=revision, hub_id=hub_id, image_size=_processor_size(processor),
                       num_classes=num_labels, feature_dim=int(classifier.in_features),
                       preprocess_config=_jsonable(proc_cfg),
                       _both=hooked_forward(module, classifier, call, name))


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str, sort_keys=True))


# ---------------------------------------------------------------------------------------- torchvision

def _torchvision_ref(arch: str, weights: str) -> ModelRef:
    import torchvision

    try:
        builder = torchvision.models.get_model_builder(arch)
        preset = torchvision.models.get_model_weights(arch).DEFAULT.transforms()
    except ValueError:
        raise ValueError(f"torchvision has no architecture {arch!r}; see torchvision.models.list_models()") from None
    name = f"torchvision:{arch}@{Path(weights).name}"
    revision = "sha256:" + file_sha256(weights) if Path(weights).is_file() else "missing"
    size = int(preset.crop_size[0])
    cfg = {"crop_size": list(preset.crop_size), "resize_size": list(preset.resize_size),
           "mean": list(preset.mean), "std": list(preset.std), "interpolation": str(preset.interpolation.value)}

    def load():
        sd = load_state_dict_file(weights, name)
        head = next((k for k in reversed(list(sd)) if k.endswith("weight") and sd[k].ndim == 2), None)
        module = builder(weights=None, **({"num_classes": int(sd[head].shape[0])} if head else {}))
        _strict_load(module, sd, name)
        module.eval()
        classifier = find_classifier_linear(module, None, name)

        def preprocess(img):
            return preset(img.convert("RGB"))

        return LoadedModel(name=name, module=module, family="torchvision", preprocess=preprocess,
                           revision=revision, hub_id=None, image_size=(size, size),
                           num_classes=int(classifier.out_features), feature_dim=int(classifier.in_features),
                           preprocess_config=cfg, _both=hooked_forward(module, classifier, module, name))

    return ModelRef(name, "torchvision", revision, None, cfg, load)


# ----------------------------------------------------------------------------------- the embedded zoo

def zoo_ref(name: str) -> ModelRef:
    """``zoo:NAME`` -> :class:`ModelRef`: hashes the entry's source files, builds nothing."""
    import hashlib

    from .zoo import weight_files_or_none, zoo_entry

    entry = zoo_entry(name)
    paths = weight_files_or_none(entry)
    if paths is None and entry.materialize is not None:  # a cheap derived member: built on first use
        entry.materialize()
        paths = weight_files_or_none(entry)
    if paths is None:
        raise ValueError(f"zoo model {name!r} needs its weights package: {entry.install_hint()}")
    revision = files_revision(paths)
    if entry.converter:  # converted weights: the conversion code is part of what produced them
        revision = "sha256:" + hashlib.sha256(f"{revision}|{entry.converter}".encode()).hexdigest()
    spec = f"zoo:{name}"
    if entry.family == "text":
        from .text import text_ref
        return text_ref(Path(paths[0]).parent, spec, revision, None)
    if entry.family == "timm":
        return _zoo_timm_ref(entry, spec, paths, revision)
    return _zoo_torch_ref(entry, spec, paths, revision)


def _zoo_timm_ref(entry, spec: str, paths: list[str], revision: str) -> ModelRef:
    import timm

    data_config = _timm_data_config(timm.models.get_pretrained_cfg(entry.architecture).to_dict())
    if entry.min_input_size is not None:
        data_config["min_input_size"] = int(entry.min_input_size)

    def load():
        module = timm.create_model(entry.architecture, pretrained=False, num_classes=entry.num_classes)
        sd = load_state_dict_file(paths[0], spec)
        if entry.by_position:
            load_state_dict_in_order(module, sd, spec)
        else:
            _strict_load(module, sd, spec)
        return timm_loaded(spec, module, revision, None, data_config)

    return ModelRef(spec, "timm", revision, None, data_config, load)


def _jpeg_roundtrip(img, quality: int):
    import io

    from PIL import Image

    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def zoo_transform(pre):
    """PIL image -> [3, H, W] tensor for a :class:`lead_hf.models.zoo.ZooPreprocess`."""
    from torchvision import transforms as T

    interp = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC,
              "nearest": T.InterpolationMode.NEAREST}[pre.interpolation]
    outer = int(round(pre.size / pre.crop_pct)) if pre.crop_pct < 1 else pre.size
    steps = [T.Resize((outer, outer), interpolation=interp)]
    if pre.jpeg_quality is not None:
        steps.append(T.Lambda(lambda im: _jpeg_roundtrip(im, pre.jpeg_quality)))
    if outer != pre.size:
        steps.append(T.CenterCrop(pre.size))
    steps += [T.ToTensor(), T.Normalize(list(pre.mean), list(pre.std))]
    if pre.channel_order == "BGR":
        steps.append(T.Lambda(lambda x: x.flip(0)))
    transform = T.Compose(steps)

    def preprocess(img):
        return transform(img.convert("RGB"))

    return preprocess


def zoo_builder(build):
    """The function a torch-family zoo entry names: ``"module:function"`` is imported now (with the
    runtimes it needs: onnx, h5py ...); a function is itself."""
    if callable(build):
        return build
    import importlib

    module, _, name = str(build).partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"zoo builder {build!r} cannot be imported ({err}); name it as 'package.module:function'") \
            from None


def _zoo_torch_ref(entry, spec: str, paths: list[str], revision: str) -> ModelRef:
    cfg = entry.preprocess.config()
    if entry.min_input_size is not None:
        cfg["min_input_size"] = int(entry.min_input_size)

    def load():
        module = zoo_builder(entry.build)(list(paths))
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"the builder of {spec!r} returned {type(module).__name__}, not an nn.Module")
        module.eval()
        return torch_module_loaded(spec, module, revision, entry.feature_dim, entry.num_classes,
                                   zoo_transform(entry.preprocess), cfg)

    return ModelRef(spec, "torch", revision, None, cfg, load)


def torch_module_loaded(name: str, module, revision: str, feature_dim: int, num_classes: int, preprocess,
                        cfg: dict) -> LoadedModel:
    """A plain torch module as a :class:`LoadedModel` (family ``torch``). With ``num_classes > 0`` the
    features are the input of its classifier ``nn.Linear`` (a :class:`ZooNet`'s ``classifier``, else the
    one ``find_classifier_linear`` finds); with 0 they are the module's output and the logits are empty
    ([B, 0]: no source head)."""
    if num_classes > 0:
        if isinstance(module, ZooNet):
            if module.classifier is None or module.classifier.out_features != num_classes:
                raise ValueError(f"model {name!r} is registered with {num_classes} source classes but its "
                                 f"ZooNet head has {module.num_classes}")

            def raw(x):
                f = module.body(x)
                return f, module.classifier(f)
        else:
            classifier = find_classifier_linear(module, num_classes, name)
            raw = hooked_forward(module, classifier, module, name)
    else:
        body = module.body if isinstance(module, ZooNet) else module

        def raw(x):
            f = body(x)
            return f, f.new_zeros((f.shape[0], 0))

    def both(x):
        feats, logits = raw(x)
        if feats.ndim != 2 or feats.shape[1] != feature_dim:
            raise ValueError(f"model {name!r} gives features of shape {tuple(feats.shape)}, but its zoo entry "
                             f"says [batch, {feature_dim}]; fix the entry's feature_dim or its builder")
        return feats, logits

    size = tuple(cfg["input_size"][-2:])
    return LoadedModel(name=name, module=module, family="torch", preprocess=preprocess, revision=revision,
                       hub_id=None, image_size=size, num_classes=int(num_classes), feature_dim=int(feature_dim),
                       preprocess_config=cfg, _both=both)


# ------------------------------------------------------------------------------------------ dispatch

_ARCH_AT_FILE = re.compile(r"^(timm|torchvision):([^@]+)@(.+)$")


def resolve_model(spec) -> ModelRef:
    """Turn a model spec (string, ModelRef or LoadedModel) into a :class:`ModelRef` without loading it."""
    if isinstance(spec, ModelRef):
        return spec
    if isinstance(spec, LoadedModel):
        return ModelRef(spec.name, spec.family, spec.revision, spec.hub_id, spec.preprocess_config,
                        lambda: spec, modality=spec.modality)
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"model spec must be a non-empty string, got {spec!r}; e.g. zoo:mobilenetv2_100.in1k")
    spec = spec.strip()
    from ..utils.steering import split_ct_spec
    base, beta = split_ct_spec(spec)
    if beta is not None:  # MODEL@ct=BETA: the model steered by Curvature Tuning (lead_hf.models.ct)
        from .ct import steered_ref
        return steered_ref(resolve_model(base), beta)
    if spec.startswith("zoo:"):
        return zoo_ref(spec[4:])
    match = _ARCH_AT_FILE.match(spec)
    if match:
        family, arch, weights = match.groups()
        weights = str(Path(weights).expanduser())
        if not Path(weights).is_file():
            raise FileNotFoundError(f"weights file {weights!r} for model {spec!r} does not exist")
        return _timm_arch_ref(arch, weights) if family == "timm" else _torchvision_ref(arch, weights)
    if spec.startswith(("timm/", "hf-hub:", "local-dir:")):
        return _timm_pretrained_ref(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise FileNotFoundError(f"model directory {spec!r} has no config.json; save the model with "
                                    "save_pretrained (transformers) or timm.models.save_for_hf (timm)")
        config = read_config(config_file, spec)
        if "model_type" not in config and "architecture" in config:
            return _timm_pretrained_ref(f"local-dir:{path}")
        weights = [path / f for f in _WEIGHT_FILES if (path / f).is_file()] or sorted(path.glob("*.safetensors"))
        if not weights:
            raise FileNotFoundError(f"model directory {spec!r} has no weights (model.safetensors)")
        from .text import is_text_model_dir, text_ref
        if is_text_model_dir(path, config):
            return text_ref(path, f"local:{path.resolve()}", files_revision(weights), None)
        return _transformers_ref(str(path), f"local:{path.resolve()}", files_revision(weights), None)
    if path.is_file():
        raise ValueError(f"model spec {spec!r} is a file; say which architecture it holds: "
                         f"timm:ARCH@{spec} or torchvision:ARCH@{spec}")
    if re.fullmatch(r"[\w.\-]+/[\w.\-]+", spec):
        config_file, revision = _hub_file(spec, "config.json", spec)
        config = read_config(config_file, spec)
        if "model_type" not in config and "architecture" in config:
            return _timm_pretrained_ref("hf-hub:" + spec)
        from .text import hub_text_folder, text_ref
        folder = hub_text_folder(spec, Path(config_file).parent, config)
        if folder is not None:
            return text_ref(spec, spec, revision, spec, folder=folder)
        return _transformers_ref(spec, spec, revision, spec)
    raise ValueError(f"model spec {spec!r} is not understood: use zoo:NAME (see list_zoo()), timm/NAME, "
                     "hf-hub:ORG/NAME, local-dir:DIR, timm:ARCH@WEIGHTS, torchvision:ARCH@WEIGHTS, a local "
                     "model directory or a Hub id ORG/NAME")


def read_model_list(path, zoo_dir=None, what: str = "models file", hint: str = "") -> list[str]:
    """Model specs from a text file, one per line (``#`` starts a comment), ``{ZOO_DIR}`` replaced by
    ``zoo_dir`` (default: where the derived members are built, ``lead_hf.models.zoo.zoo_dir()``): the
    file behind ``rank --models-file`` and ``benchmark --zoo``. ``what`` and ``hint`` word the error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist{hint}")
    if zoo_dir is None:
        from .zoo import zoo_dir as default_zoo_dir
        zoo_dir = default_zoo_dir()
    folder = str(Path(zoo_dir).expanduser())
    specs = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            specs.append(line.replace("{ZOO_DIR}", folder))
    return specs


def missing_local_model(spec: str) -> str | None:
    """The message for a model spec that names a local directory which does not exist (else None)."""
    from ..utils.io import looks_like_local_path

    path = spec[len("local-dir:"):] if spec.startswith("local-dir:") else spec if looks_like_local_path(spec) else None
    if path is not None and not Path(path).expanduser().exists():
        return (f"model directory {path!r} does not exist; check the path (a Hub model id looks like ORG/NAME, "
                "without ./ or /)")
    return None


def load_model(spec) -> LoadedModel:
    """Load any supported model spec into a :class:`LoadedModel` (eval mode, CPU)."""
    return resolve_model(spec).load()
