"""Option fields several jobs share, defined once: their ``--help`` text (the docstring under each field)
and their declared constraints. A job re-declares a field, without a docstring, only to change its default.
"""
from __future__ import annotations

from dataclasses import dataclass

from .constraints import Constrained, Items, PathLike, Text
from .scores.registry import DEFAULT_SCORES


@dataclass
class ScoringOptions(Constrained):
    """Which scores a job computes, with which options, where: ``rank``, ``benchmark`` and ``score``."""

    scores: tuple[str, ...] = DEFAULT_SCORES
    """Scores to compute ('all': every registered score, LEAD and the default scores first); the first one
    is the primary score, which orders rank's leaderboard."""
    score_options: tuple[str, ...] = ()
    """Options of the scores as METHOD.OPTION=VALUE, e.g. lead.t=2 lead.samples_per_class=32."""
    device: str = "auto"
    """Device of the scores (auto: CUDA when available)."""

    constraints = {"scores": Items(Text()), "score_options": Items(Text()), "device": Text()}


@dataclass
class OutputOptions(Constrained):
    """Where a job writes its results files: ``rank`` and ``benchmark``."""

    output_dir: str = "results"
    """Folder the results files go to: rank writes results.json, .csv, .md and chart.png into a sub-folder
    per dataset split; benchmark writes benchmark.{json,csv,md,png} and fidelity.json (its relative default,
    when missing here, resolves in the lead-hf source checkout)."""

    constraints = {"output_dir": PathLike()}
