"""What a benchmark run holds: the inputs of the scores for one (dataset, model) and the run's results."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Entry:
    """Inputs of the scores for one (dataset, model)."""

    model: str
    dataset: str
    features: np.ndarray
    labels: np.ndarray
    logits: np.ndarray | None
    accuracy: float
    seed_accuracies: list[float] | None = None
    """Accuracy of each fine-tuning seed (its mean is ``accuracy``), when the ground truth has them."""
    protocol: str = ""
    """The ground truth's protocol string (its first word names it: ft-v1, ft-v2)."""
    cost: dict[str, Any] | None = None
    """The model's size (parameters, FLOPs per input) from its extraction: what the data-free orders read."""


@dataclass
class BenchmarkResult:
    per_dataset: dict[str, dict[str, dict[str, float]]]
    """dataset -> score -> measure -> value."""
    summary: dict[str, dict[str, float]]
    """score -> mean of each measure over datasets, plus 'seconds' (mean wall time per model) and
    'datasets' (how many datasets it was computed on)."""
    values: list[dict[str, Any]] = field(default_factory=list)
    """One row per (dataset, model, score): value, seconds, accuracy."""
    options: dict[str, Any] = field(default_factory=dict)
    noise_ceiling: dict[str, float] = field(default_factory=dict)
    """dataset -> weighted tau between the two halves of the fine-tuning seeds (mean over the splits into
    halves): how well the ground truth agrees with itself. Only datasets whose models have >= 2 seeds."""
    ci95: dict[str, list[float]] = field(default_factory=dict)
    """score -> [low, high]: 95% bootstrap interval of the mean weighted tau, resampling models."""
    protocol: str = ""
    """The fine-tuning protocol of the ground truth (ft-v1, ft-v2, or what its files say)."""
    vs_top: dict[str, dict[str, Any]] = field(default_factory=dict)
    """score -> {"ci95", "p_better"}: its mean weighted tau minus the top score's, on the same bootstrap
    draws (``paired_difference_ci``): whether the top score is really ahead of it."""
