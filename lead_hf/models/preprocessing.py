"""Fine-tuning's preprocessing, shared by ``lead_hf.finetune`` (which trains with it) and
``lead_hf.benchmark`` (which extracts the features the scores see with it), so both see the same images.

``resized_ref(spec, image_size)`` is a :class:`ModelRef` whose preprocessing is the evaluation transform of
:func:`make_transforms`; the model itself is unchanged.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from .base import ModelRef


def norm_stats(cfg: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Mean/std from a timm data config, a transformers image-processor config or a torchvision preset."""
    mean = cfg.get("mean", cfg.get("image_mean"))
    std = cfg.get("std", cfg.get("image_std"))
    if mean is None or std is None:
        return [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
    mean, std = list(mean), list(std)
    if len(mean) == 1:
        mean, std = mean * 3, std * 3
    return [float(v) for v in mean], [float(v) for v in std]


def make_transforms(mean, std, image_size: int):
    """(train, eval) transforms. Eval: resize the whole image to image_size (no centre crop: small digit
    and face images have content up to the border). Train: a mild random resized crop, no flip (digits
    and clothes are not mirror-symmetric in meaning)."""
    from torchvision import transforms as T
    norm = [T.ToTensor(), T.Normalize(mean, std)]
    evaluate = T.Compose([T.Lambda(lambda im: im.convert("RGB")),
                          T.Resize((image_size, image_size), interpolation=T.InterpolationMode.BICUBIC), *norm])
    train = T.Compose([T.Lambda(lambda im: im.convert("RGB")),
                       T.RandomResizedCrop(image_size, scale=(0.8, 1.0), ratio=(0.9, 1.1),
                                           interpolation=T.InterpolationMode.BICUBIC), *norm])
    return train, evaluate


def effective_image_size(preprocess_config: dict[str, Any], image_size: int) -> int:
    """The protocol's input size, or the model's smallest usable input when that is larger (InceptionV3
    needs 75 px): ``preprocess_config["min_input_size"]``, read without loading weights."""
    return max(int(image_size), int(preprocess_config.get("min_input_size") or 0))


# Recorded in every resized preprocessing config, so part of the extraction cache key: it names where the
# transform was first written and stays as it is, so that cached features are found again.
SOURCE = "lead_hf.finetune.make_transforms"


def resized_ref(spec, image_size: int) -> ModelRef:
    """A :class:`ModelRef` for ``spec`` whose preprocessing is fine-tuning's evaluation transform at
    ``image_size`` px (or the model's min_input_size when larger; the model's mean/std kept). Its
    preprocessing config differs from the native one, so the extraction cache keeps both apart; the model
    name stays the same."""
    from .loaders import resolve_model

    ref = resolve_model(spec)
    if ref.modality == "text":  # no image transform: fine-tuning tokenises exactly as extraction does
        return ref
    image_size = effective_image_size(ref.preprocess_config, image_size)
    mean, std = norm_stats(ref.preprocess_config)
    cfg = {"resize": [image_size, image_size], "interpolation": "bicubic", "crop": None, "mean": mean,
           "std": std, "source": SOURCE}
    if ref.preprocess_config.get("min_input_size"):  # kept, so effective_image_size(cfg, ...) still sees it
        cfg["min_input_size"] = int(ref.preprocess_config["min_input_size"])
    _, evaluate = make_transforms(mean, std, image_size)

    def load():
        loaded = ref.load()
        return dataclasses.replace(loaded, preprocess=evaluate, image_size=(image_size, image_size),
                                   preprocess_config=cfg)

    return dataclasses.replace(ref, preprocess_config=cfg, loader=load)  # the steering (if any) is kept
