"""How well a score's ranking of models agrees with their fine-tuned accuracies.

Shared by `lead-hf rank` (when ground truth is supplied) and `lead-hf benchmark`. The literature's measure
is scipy.stats.weightedtau with its defaults (hyperbolic weights emphasising the top of the ranking,
averaged over the two lexicographic orders).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


def _pair(scores, accuracies) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    a = np.asarray(accuracies, dtype=float)
    if s.shape != a.shape or s.ndim != 1:
        raise ValueError(f"scores and accuracies must be 1-D of the same length, got {s.shape} and {a.shape}")
    if s.size < 2:
        raise ValueError("rank agreement needs at least 2 models")
    if not (np.isfinite(s).all() and np.isfinite(a).all()):
        raise ValueError("scores and accuracies must be finite")
    return s, a


def weighted_tau(scores, accuracies) -> float:
    s, a = _pair(scores, accuracies)
    value = stats.weightedtau(s, a).statistic
    return float(value) if math.isfinite(value) else 0.0


def kendall_tau(scores, accuracies) -> float:
    s, a = _pair(scores, accuracies)
    value = stats.kendalltau(s, a).statistic
    return float(value) if math.isfinite(value) else 0.0


def pearson(scores, accuracies) -> float:
    s, a = _pair(scores, accuracies)
    if s.std() == 0 or a.std() == 0:
        return 0.0
    return float(np.corrcoef(s, a)[0, 1])


def top1_relative_regret(scores, accuracies) -> float:
    """(best accuracy - accuracy of the top-scored model) / best accuracy; 0 when the pick is the best."""
    s, a = _pair(scores, accuracies)
    best = a.max()
    picked = a[int(np.argmax(s))]
    return float((best - picked) / best) if best != 0 else 0.0


def agreement(scores, accuracies) -> dict[str, float]:
    return {"weighted_tau": weighted_tau(scores, accuracies), "kendall_tau": kendall_tau(scores, accuracies),
            "pearson": pearson(scores, accuracies), "top1_regret": top1_relative_regret(scores, accuracies)}
