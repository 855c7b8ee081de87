"""How well a score's ranking of models agrees with their fine-tuned accuracies.

Shared by `lead-hf rank` (when ground truth is supplied) and `lead-hf benchmark`. Five measures:

- ``top1_regret``: accuracy points lost by fine-tuning the model the score puts first instead of the best
  one: what a practitioner feels. Accuracies in [0, 1] are fractions (x 100 gives points); larger ones are
  read as percentages already.
- ``recall_at_3``: whether the best fine-tuned model is among the three the score puts first.
- ``weighted_tau``: the literature's measure, scipy.stats.weightedtau with its defaults (hyperbolic weights
  emphasising the top of the ranking, averaged over the two lexicographic orders).
- ``spearman`` and ``pearson``: rank and linear correlation over all models; ``kendall_tau`` too.

Models tied at a score's cut-off (a data-free order gives one value to every model of the same size) are
counted by expectation over the ways to break the tie at random, never by their order in a list.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

MEASURES = ("top1_regret", "recall_at_3", "weighted_tau", "spearman", "pearson", "kendall_tau")
"""Every measure ``agreement`` returns; ``top1_regret`` is the only one where lower is better."""
LOWER_IS_BETTER = frozenset({"top1_regret"})


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


def _finite(value) -> float:
    return float(value) if math.isfinite(value) else 0.0  # constant input: no agreement either way


def weighted_tau(scores, accuracies) -> float:
    s, a = _pair(scores, accuracies)
    return _finite(stats.weightedtau(s, a).statistic)


def kendall_tau(scores, accuracies) -> float:
    s, a = _pair(scores, accuracies)
    return _finite(stats.kendalltau(s, a).statistic)


def spearman(scores, accuracies) -> float:
    s, a = _pair(scores, accuracies)
    if s.std() == 0 or a.std() == 0:
        return 0.0
    return _finite(stats.spearmanr(s, a).statistic)


def pearson(scores, accuracies) -> float:
    s, a = _pair(scores, accuracies)
    if s.std() == 0 or a.std() == 0:
        return 0.0
    return _finite(np.corrcoef(s, a)[0, 1])


def points(accuracies) -> np.ndarray:
    """Accuracies in percentage points: fractions (all within [0, 1]) times 100, percentages as they are."""
    a = np.asarray(accuracies, dtype=float)
    return a * 100.0 if a.size and a.min() >= 0 and a.max() <= 1 else a


def top1_regret(scores, accuracies) -> float:
    """Accuracy points lost by fine-tuning the top-scored model instead of the best one (0: it is the best).
    Models tied at the top score count by their mean accuracy: the expected loss of a random tie-break."""
    s, a = _pair(scores, accuracies)
    a = points(a)
    return float(a.max() - a[s == s.max()].mean())


def recall_at_k(scores, accuracies, k: int = 3) -> float:
    """Probability that a best fine-tuned model is among the ``k`` the score puts first (1 or 0 without ties
    at the cut-off; with ties, the chance over the random tie-breaks)."""
    s, a = _pair(scores, accuracies)
    best = a == a.max()
    higher = 0
    for value in np.unique(s)[::-1]:  # groups of equal score, best first
        group = s == value
        size, hits = int(group.sum()), int((group & best).sum())
        slots = min(k - higher, size)
        if hits and slots == size:
            return 1.0
        if slots < size:  # the cut-off falls inside this group: `slots` of its `size` models make it
            return 1.0 - math.comb(size - hits, slots) / math.comb(size, slots) if hits else 0.0
        higher += size
    return 0.0


def agreement(scores, accuracies) -> dict[str, float]:
    """Every measure of ``MEASURES`` for one ranking."""
    return {"top1_regret": top1_regret(scores, accuracies), "recall_at_3": recall_at_k(scores, accuracies, 3),
            "weighted_tau": weighted_tau(scores, accuracies), "spearman": spearman(scores, accuracies),
            "pearson": pearson(scores, accuracies), "kendall_tau": kendall_tau(scores, accuracies)}


def random_order_agreement(accuracies, draws: int = 2000, seed: int = 0) -> dict[str, float]:
    """The expected value of every measure for a ranking drawn at random: exact for the regret (best minus
    mean accuracy), recall@3 and the correlations (0 by symmetry: every pair is as often concordant as
    discordant), a seeded Monte Carlo mean for the weighted tau, whose weights and normalisation follow the
    ties of the accuracies and can move it off 0."""
    a = np.asarray(accuracies, dtype=float)
    _pair(a, a)
    n, hits = a.size, int((a == a.max()).sum())
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(n) for _ in range(draws)]
    return {"top1_regret": float(points(a).max() - points(a).mean()),
            "recall_at_3": 1.0 - math.comb(n - hits, min(3, n)) / math.comb(n, min(3, n)),
            "weighted_tau": float(np.mean([weighted_tau(p, a) for p in perms])),
            "spearman": 0.0, "pearson": 0.0, "kendall_tau": 0.0}
