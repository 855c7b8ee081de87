"""The plumbing behind the ``evaluate`` metric ``metrics/lead``: batches in, arrays out, a result dict.

The metric file itself only declares the module (features, card text) and calls these functions, so that
the copy evaluate keeps in its module cache stays valid while this package evolves. Nothing here computes
a score: values come from :func:`lead_hf.compute_score`.

Storage: every batch goes through Arrow as ``predictions: list<float64>`` and ``references: string`` or
``int64``. float64 keeps the features bit-exact (float32 inputs widen exactly), so the metric returns the
same value as ``lead_hf.compute_score`` on the same arrays.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..scores.registry import compute_score, get_score_spec
from ..scores.validation import _as_float_matrix, _as_numpy, encode_labels

#: Label storage kinds, named as ``datasets.Value`` dtypes.
LABEL_KINDS = ("string", "int64")


def label_kind(classes: np.ndarray) -> str:
    """Arrow storage for a set of label values: ``"int64"`` or ``"string"`` (anything else is an error)."""
    if classes.dtype.kind in "iub":
        return "int64"
    if classes.dtype.kind in "US" or all(isinstance(c, str) for c in classes):
        return "string"
    raise ValueError(
        f"references must be ints or strings for the evaluate metric (it stores them through Arrow), got "
        f"values of type {type(classes[0]).__name__}; map them to ints or strings first")


def check_batch(predictions, references, *, expected_label_kind: str | None = None) -> tuple[list, list, str]:
    """Validate one ``add_batch`` and return ``(rows, labels, label_kind)`` ready for Arrow.

    Checks are lead_hf's own (2-D real finite features, 1-D labels of the same length) so that a bad batch
    fails here with a message that says what to do, not later as an Arrow cast error.
    ``expected_label_kind`` is the kind chosen by earlier batches of the same computation.
    """
    if predictions is None or references is None:
        missing = " and ".join(n for n, v in (("predictions", predictions), ("references", references)) if v is None)
        raise ValueError(f"{missing} missing: pass predictions=<features [n, feature_dim]> and "
                         "references=<labels [n]> together")
    if hasattr(predictions, "__len__") and len(predictions) == 0:
        raise ValueError("this batch holds 0 samples; skip empty batches (in distributed runs every process "
                         "needs at least one sample)")
    feats = _as_float_matrix("predictions", predictions, "feature_dim")
    _, classes = encode_labels(references, feats.shape[0])
    kind = label_kind(classes)
    if expected_label_kind is not None and kind != expected_label_kind:
        raise ValueError(
            f"references of this batch are {_KIND_WORDS[kind]} but earlier batches held "
            f"{_KIND_WORDS[expected_label_kind]}; use one label type for the whole evaluation")
    labels = _as_numpy("references", references).reshape(-1)
    labels = labels.astype(np.int64) if kind == "int64" else labels.astype(str)
    # Python lists are the fastest route through datasets' encoder (2x faster than 2-D numpy here).
    return feats.tolist(), labels.tolist(), kind


_KIND_WORDS = {"string": "strings", "int64": "integers"}


def check_example(prediction, reference, *, expected_label_kind: str | None = None) -> tuple[list, Any, str]:
    """Validate one ``add`` (a single feature row and its label)."""
    if prediction is None or reference is None:
        raise ValueError("add() needs prediction=<feature row [feature_dim]> and reference=<label>")
    row = _as_numpy("prediction", prediction)
    if row.ndim != 1:
        raise ValueError(f"prediction must be one feature row of shape [feature_dim], got shape {row.shape}; "
                         "use add_batch for several samples")
    rows, labels, kind = check_batch(row.reshape(1, -1), [reference], expected_label_kind=expected_label_kind)
    return rows[0], labels[0], kind


def column_to_matrix(column) -> np.ndarray:
    """Features gathered by evaluate (an Arrow list column, or anything array-like) as a 2-D float64 array."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not isinstance(column, (pa.ListArray, pa.LargeListArray)):
        return _as_float_matrix("predictions", column, "feature_dim")
    if column.null_count:
        raise ValueError(f"predictions hold {column.null_count} missing row(s) (None); drop those samples")
    if len(column) == 0:
        raise ValueError("no predictions were added; call add_batch(predictions=..., references=...) first")
    lengths = column.value_lengths().to_numpy(zero_copy_only=False)
    if (lengths != lengths[0]).any():
        dims = sorted(set(lengths.tolist()))
        raise ValueError(
            f"predictions rows have different lengths {dims[:5]}: every sample needs the same feature_dim "
            "(did batches come from different models or layers?)")
    # flatten() honours the array's offsets, so sliced chunks give the right values.
    flat = column.flatten().to_numpy(zero_copy_only=False)
    flat = np.require(flat, requirements="W")  # Arrow's buffers are read-only; torch warns on those
    return _as_float_matrix("predictions", flat.reshape(len(column), int(lengths[0])), "feature_dim")


def column_to_labels(column) -> np.ndarray:
    """Labels gathered by evaluate as a 1-D numpy array (ints or strings)."""
    import pyarrow as pa

    if isinstance(column, (pa.ChunkedArray, pa.Array)):
        if column.null_count:
            raise ValueError(f"references hold {column.null_count} missing label(s) (None); drop those samples")
        return column.to_numpy(zero_copy_only=False)
    return np.asarray(column)


def metric_result(predictions, references, *, method: str = "lead", device: str | None = None,
                  **options) -> dict[str, Any]:
    """Score the gathered samples with ``method`` and return the metric's result dict.

    ``{method: value, "method", "num_samples", "num_classes", "feature_dim", "seconds", "options",
    "details"}``; ``options`` are the score's options, resolved (defaults filled in).
    """
    if not isinstance(method, str):
        raise ValueError(f"method must be a score name (a string), got {method!r}")
    spec = get_score_spec(method)
    if spec.needs_source_logits or "source_logits" in options:
        raise ValueError(
            f"score {spec.name!r} needs the source model's logits, which the evaluate metric does not "
            "collect (it stores features and labels only); call lead_hf.score(method, features, labels, "
            "source_logits=...) directly, or pick a method that needs no logits: "
            + ", ".join(scores_without_logits()))
    if spec.data_free:
        raise ValueError(
            f"score {spec.name!r} reads no data, only the model's size, which the evaluate metric does not "
            "see; call lead_hf.score(method, features, labels, model={...}) or lead-hf rank, or pick one of: "
            + ", ".join(scores_without_logits()))
    feats = column_to_matrix(predictions)
    labels = column_to_labels(references)
    result = compute_score(spec.name, feats, labels, device=device, **options)
    _, classes = encode_labels(labels, feats.shape[0])
    return {
        spec.name: float(result.value),
        "method": spec.name,
        "num_samples": int(feats.shape[0]),
        "num_classes": int(classes.size),
        "feature_dim": int(feats.shape[1]),
        "seconds": float(result.seconds),
        "options": result.options,
        "details": result.details,
    }


def scores_without_logits() -> list[str]:
    """Registered scores the metric can compute: those that read the features and labels alone (no
    source-model logits, no model facts such as its size)."""
    from ..scores.registry import available_scores

    return [name for name in available_scores()
            if not get_score_spec(name).needs_source_logits and not get_score_spec(name).data_free]
