"""Transferability scores: pure maths on arrays, one module per score, one registry.

Importing this package registers every score. Modules listed in ``SCORE_MODULES`` are imported in order.
"""
from __future__ import annotations

import importlib

from .registry import (ScoreResult, ScoreSpec, available_scores, compute_score, get_score_spec,
                       register_score, score, score_options, scores_without_features)
from .validation import ScoreInputs, prepare_inputs

SCORE_MODULES = ("lead", "logme", "leep", "nce", "nleep", "hscore", "transrate", "gbc", "sfda", "ped")

for _name in SCORE_MODULES:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["ScoreInputs", "ScoreResult", "ScoreSpec", "available_scores", "compute_score",
           "get_score_spec", "prepare_inputs", "register_score", "score", "score_options", "scores_without_features"]
