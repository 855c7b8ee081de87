"""Split slicing and the stratified low-data selection."""
from __future__ import annotations

import re

import numpy as np

_SLICE = re.compile(r"^([\w.\-]+)(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?$")


def parse_split(split: str) -> tuple[str, str | None, str | None]:
    """``"train[:20%]"`` -> ("train", None, "20%"). Raises a ValueError for anything else."""
    match = _SLICE.match(split.strip())
    if not match:
        raise ValueError(f"split {split!r} is not understood; use a name with an optional slice, e.g. "
                         "train, train[:100], train[10%:50%]")
    return match.group(1), match.group(2), match.group(3)


def slice_indices(n: int, start: str | None, stop: str | None) -> np.ndarray:
    """Indices 0..n-1 sliced like ``datasets`` does (percent bounds rounded to the nearest sample)."""
    def bound(b):
        if b is None:
            return None
        if b.endswith("%"):
            return int(round(n * float(b[:-1]) / 100.0))
        return int(b)
    return np.arange(n)[slice(bound(start), bound(stop))]


def stratified_indices(labels, max_per_class: int, seed: int = 0) -> np.ndarray:
    """At most ``max_per_class`` indices per class, drawn without replacement with ``seed``; returned in
    increasing order so the selection keeps the dataset's order."""
    if max_per_class < 1:
        raise ValueError(f"max_per_class must be >= 1, got {max_per_class}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        if idx.size > max_per_class:
            idx = rng.choice(idx, size=max_per_class, replace=False)
        chosen.append(idx)
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
