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
    """dataset -> score -> measure -> value (every measure of lead_hf.results.agreement.MEASURES)."""
    summary: dict[str, dict[str, float]]
    """score -> mean of each measure over the headline datasets, plus 'min_weighted_tau', 'seconds' (mean
    wall time per model) and 'datasets' (how many datasets it was averaged over)."""
    values: list[dict[str, Any]] = field(default_factory=list)
    """One row per (dataset, model, score): value, seconds, accuracy."""
    options: dict[str, Any] = field(default_factory=dict)
    noise_ceiling: dict[str, float] = field(default_factory=dict)
    """dataset -> weighted tau between the two halves of the fine-tuning seeds (mean over the splits into
    halves): how well the ground truth agrees with itself. Only datasets whose models have >= 2 seeds."""
    ceiling: dict[str, dict[str, float]] = field(default_factory=dict)
    """dataset -> every measure of one seed half against the other (``noise_ceiling`` is its weighted tau)."""
    random: dict[str, dict[str, float]] = field(default_factory=dict)
    """dataset -> the expected value of every measure for a random order of its models."""
    reference: list[str] = field(default_factory=list)
    """The scores computed as reference rows (a data-free static order, the probe accuracy), not as
    transferability scores."""
    headline: list[str] = field(default_factory=list)
    """The datasets the means are taken over: those whose noise ceiling reaches ``headline_threshold``."""
    headline_threshold: float = 0.8
    not_in_headline: dict[str, str] = field(default_factory=dict)
    """dataset -> why it is reported apart."""
    headline_note: str = ""
    """Said when no dataset reaches the threshold (the means are then over every dataset)."""
    ground_truth_models: dict[str, int] = field(default_factory=dict)
    """dataset -> how many models its ground truth has (the tables say when fewer were scored)."""
    left_out: dict[str, dict[str, str]] = field(default_factory=dict)
    """dataset -> model with ground truth -> why it was not scored (weights not built here, other weights)."""
    without_ground_truth: dict[str, list[str]] = field(default_factory=dict)
    """dataset -> the zoo's models that may be scored on it but have no ground truth there (a sweep not
    finished): the dataset's means are over fewer members than the zoo has, and the tables say so."""
    ci95: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """measure -> score -> [low, high]: 95% bootstrap interval of the headline mean (models and seeds
    resampled)."""
    protocol: str = ""
    """The fine-tuning protocol of the ground truth (ft-v1, ft-v2, or what its files say)."""
    vs_top: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """measure (weighted_tau, top1_regret) -> score -> {"ci95", "p_better"}: its mean minus the best
    score's, on the same bootstrap draws: whether the best score is really ahead of it."""
    primary: str | None = None
    """The first score asked for (LEAD by default)."""
    vs_primary: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """measure -> score -> {"ci95", "p_better"}: its mean minus the primary score's, on the same draws."""
    score_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """score -> every option it ran with, defaults filled in: a row's numbers belong to these options (the
    defaults change between releases; LEAD's did on 2026-12-06)."""
