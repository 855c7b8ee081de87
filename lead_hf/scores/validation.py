"""Input validation shared by every score: the one place that checks shapes, values and labels.

Every error says what is wrong and what to do about it. Scores receive a :class:`ScoreInputs` whose
arrays are torch tensors on the requested device: features in float64, labels remapped to 0..K-1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ScoreInputs:
    features: torch.Tensor | None   # [N, D] float64; None only for scores registered needs_features=False
    labels: torch.Tensor            # [N] int64 in 0..K-1
    num_classes: int
    classes: np.ndarray             # original label values, index = remapped label
    source_logits: torch.Tensor | None  # [N, C] float64 or None

    @property
    def num_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def device(self) -> torch.device:
        return self.labels.device

    def class_counts(self) -> torch.Tensor:
        return torch.bincount(self.labels, minlength=self.num_classes)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/"auto" picks CUDA when available; otherwise the named device (clear error if absent)."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available here; use device='cpu'")
    return dev


def _as_numpy(name: str, array) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    try:
        return np.asarray(array)
    except (ValueError, TypeError) as err:  # ragged lists
        raise ValueError(f"{name} could not be read as an array ({err}); pass a rectangular array") from None


def _as_float_matrix(name: str, array, what: str) -> np.ndarray:
    arr = _as_numpy(name, array)
    if arr.ndim == 1:
        raise ValueError(
            f"{name} must be 2-D [num_samples, {what}], got a 1-D array of shape {arr.shape}; "
            f"for one value per sample use {name}.reshape(-1, 1)")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D [num_samples, {what}], got shape {arr.shape}; "
                         "flatten or pool the extra dimensions first")
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples); score a split with at least a few samples per class")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 columns; expected {what} > 0")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s) in {rows.size} sample(s) "
            f"(first rows: {rows[:5].tolist()}); fix or drop those samples before scoring")
    return arr


def encode_labels(labels, num_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Map any hashable labels to 0..K-1. Returns (codes, classes) with classes[codes] == labels."""
    arr = _as_numpy("labels", labels)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D (one label per sample), got shape {arr.shape}; "
                         "for one-hot labels pass labels.argmax(1)")
    if num_samples is not None and arr.shape[0] != num_samples:
        raise ValueError(f"features have {num_samples} samples but labels have {arr.shape[0]}; "
                         "they must describe the same samples in the same order")
    if arr.shape[0] == 0:
        raise ValueError("labels are empty (0 samples)")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError("labels contain NaN/inf; drop unlabelled samples before scoring")
        if not np.all(arr == np.round(arr)):
            raise ValueError("labels are non-integer floats, which look like regression targets or "
                             "probabilities; transferability scores need class labels (ints or strings)")
        arr = arr.astype(np.int64)
    if arr.dtype == object:
        try:
            arr = arr.astype(str) if all(isinstance(v, str) for v in arr) else arr
        except TypeError:
            pass
        if any(v is None for v in arr):
            raise ValueError("labels contain None; drop unlabelled samples before scoring")
    try:
        classes, codes = np.unique(arr, return_inverse=True)
    except TypeError as err:
        raise ValueError(f"labels mix types that cannot be compared ({err}); use ints or strings") from None
    return codes.reshape(-1).astype(np.int64), classes


def prepare_inputs(features, labels, source_logits=None, *, device=None) -> ScoreInputs:
    """Validate and convert user arrays (numpy, torch, lists) into :class:`ScoreInputs`.

    ``features=None`` (for the scores that do not read them) takes N from the source logits or labels.
    """
    feats = None if features is None else _as_float_matrix("features", features, "feature_dim")
    n = None if feats is None else feats.shape[0]
    codes, classes = encode_labels(labels, n)
    n = codes.shape[0]
    k = classes.size
    if k < 2:
        raise ValueError(f"labels hold a single class ({classes[0]!r}); a transferability score compares "
                         "classes, so the split needs at least 2")
    if n <= k:
        raise ValueError(f"{k} classes but only {n} samples: every class has a single sample, which leaves "
                         "nothing to measure; use a split with several samples per class")
    logits = None
    if source_logits is not None:
        logits = _as_float_matrix("source_logits", source_logits, "num_source_classes")
        if logits.shape[0] != n:
            what = "features" if feats is not None else "labels"
            raise ValueError(f"{what} have {n} samples but source_logits have {logits.shape[0]}; "
                             "they must describe the same samples in the same order")
    dev = resolve_device(device)
    return ScoreInputs(
        features=None if feats is None else torch.as_tensor(feats, dtype=torch.float64).to(dev),
        labels=torch.as_tensor(codes).to(dev),
        num_classes=int(k),
        classes=classes,
        source_logits=None if logits is None else torch.as_tensor(logits, dtype=torch.float64).to(dev),
    )
