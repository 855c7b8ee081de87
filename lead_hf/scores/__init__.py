"""Transferability scores: pure maths on arrays, one module per score, one registry.

The registry imports every score module (``registry.SCORE_MODULES``) the first time it is asked for a score;
importing this package itself imports no ML framework (the names below are looked up on first use), so that
the options modules that name scores (:mod:`.selection`) stay light.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "ScoreResult": "registry", "ScoreSpec": "registry", "available_scores": "registry", "compute_score": "registry",
    "get_score_spec": "registry", "register_score": "registry", "score": "registry", "score_options": "registry",
    "scores_without_features": "registry", "ScoreInputs": "validation", "prepare_inputs": "validation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
