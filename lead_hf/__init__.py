"""lead-hf: which pre-trained model to fine-tune on your data, without fine-tuning them all.

    >>> import lead_hf
    >>> lead_hf.score("lead", features, labels)            # higher = more transferable
    >>> lead_hf.available_scores()

The public functions are imported on first use (PEP 562), so that ``import lead_hf.hub`` or
``lead-hf --help`` do not pay for importing torch.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {name: "lead_hf.scores" for name in (
    "ScoreResult", "available_scores", "compute_score", "get_score_spec", "score", "score_options")}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name == "metric_support":  # the import path of evaluate-cache copies installed by earlier versions
        return importlib.import_module("lead_hf.evaluate_metric.support")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lead_hf' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
