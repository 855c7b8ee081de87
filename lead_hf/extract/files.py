"""Features on disk: the arrays files `lead-hf score` and `lead-hf benchmark --features` read (.npy, .npz,
.safetensors, a text file of labels) and the folder of a finished extraction cache entry."""
from __future__ import annotations

from pathlib import Path

import numpy as np

FEATURE_KEYS = ("features", "feats", "x")
LABEL_KEYS = ("labels", "label", "y", "targets")
LOGIT_KEYS = ("logits", "source_logits")


def _pick(arrays: dict, keys, what: str, path: Path, required: bool):
    for key in keys:
        if key in arrays:
            return np.asarray(arrays[key])
    if required:
        raise ValueError(f"{str(path)!r} holds no {what} array (looked for {', '.join(keys)}; found "
                         f"{', '.join(arrays) or 'nothing'})")
    return None


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if path.is_dir():
        target = path / "arrays.safetensors"
        if not target.is_file():
            raise FileNotFoundError(f"{str(path)!r} is a folder but not a finished extraction cache entry "
                                    "(no arrays.safetensors)")
        path = target
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise ValueError(f"{str(path)!r}: unsupported file type {suffix!r}; use .npy, .npz, .safetensors, a text "
                         "file of labels or a cache entry folder")
    try:
        return READERS[suffix](path)
    except Exception as err:  # noqa: BLE001 - safetensors raises its own type; numpy ValueError, OSError, ...
        raise ValueError(f"{str(path)!r} cannot be read as a {suffix} file of arrays ({_detail(err)}); is it "
                         "truncated, or another kind of file?") from None


def _detail(err: Exception) -> str:
    """What went wrong, in one line; never numpy's advice to load a pickle 'unsafely'."""
    text = str(err).strip().splitlines()
    if "pickle" in str(err).lower():
        return "it holds pickled Python objects, not plain arrays, and lead-hf never loads pickles"
    return f"{type(err).__name__}: {text[0][:200] if text else 'no detail'}"


def _npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file
    return load_file(str(path))


def _text_labels(path: Path) -> dict[str, np.ndarray]:
    return {"labels": np.array([ln.strip() for ln in path.read_text().splitlines() if ln.strip()])}


READERS = {".npy": lambda p: {"features": np.load(p, allow_pickle=False)}, ".npz": _npz,
           ".safetensors": _safetensors, ".txt": _text_labels, ".csv": _text_labels}
"""File type -> reader of its arrays (pickles never: ``allow_pickle=False``)."""


def load_feature_files(features: str | None, labels: str | None = None, source_logits: str | None = None):
    """(features or None, labels, logits or None) from the files `lead-hf score` accepts (benchmark --features
    reads each of its files the same way)."""
    feats = labs = logits = None
    if features is not None:
        fpath = Path(features)
        arrays = _read_arrays(fpath)
        feats = _pick(arrays, FEATURE_KEYS, "features", fpath, True)
        labs = _pick(arrays, LABEL_KEYS, "labels", fpath, labels is None)
        logits = _pick(arrays, LOGIT_KEYS, "logits", fpath, False)
    if labels is not None:
        lpath = Path(labels)
        labs = _pick(_read_arrays(lpath), LABEL_KEYS + FEATURE_KEYS, "labels", lpath, True)
    if source_logits is not None:
        spath = Path(source_logits)
        logits = _pick(_read_arrays(spath), LOGIT_KEYS + FEATURE_KEYS, "logits", spath, True)
    return feats, labs, logits
