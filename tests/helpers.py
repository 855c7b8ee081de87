"""Small generated data shared by the score tests."""
from __future__ import annotations

import numpy as np
import pytest


def gaussian_classes(num_classes=4, per_class=30, dim=16, separation=3.0, seed=0, noise=1.0):
    """Class clusters: means drawn once (unit Gaussian) times ``separation``, isotropic noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), per_class)
    means = rng.normal(size=(num_classes, dim)) * separation
    features = means[labels] + noise * rng.normal(size=(labels.size, dim))
    return features, labels


def blobs(k=4, per_class=25, d=12, spread=4.0, seed=0):
    """``gaussian_classes`` with the short argument names the baseline tests use."""
    return gaussian_classes(num_classes=k, per_class=per_class, dim=d, separation=spread, seed=seed)


def within_ulps(expected, ulps=4):
    """``pytest.approx`` of a few units in the last place: for two float64 results of the same maths
    reached by different paths (relabelled classes, another process, an Arrow round trip). Such results
    may differ in the last bits whenever a reduction runs in another order (BLAS kernels, memory
    alignment, thread count); exact ``==`` is kept for results that are exact by construction."""
    return pytest.approx(expected, rel=ulps * np.finfo(np.float64).eps, abs=0)


def same_within_ulps(a, b, ulps=4) -> bool:
    """Two results (a score's details: dicts, lists, numbers, strings) equal in structure, in every
    non-float leaf, and to ``ulps`` units in the last place in every float leaf (see ``within_ulps``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_within_ulps(a[k], b[k], ulps) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_within_ulps(u, v, ulps) for u, v in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a == within_ulps(b, ulps)
    return a == b


def rotation(d, seed=1):
    """A random orthogonal d x d matrix."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


# Small inputs that stress the edge of every score: each must give a finite value (tests/test_score_contract.py).
EDGE_CASES = [
    (np.random.default_rng(0).normal(size=(9, 4)), np.array([0, 0, 0, 0, 1, 1, 1, 1, 2])),  # one-sample class
    (np.random.default_rng(1).normal(size=(6, 3)), np.array([0, 1, 0, 1, 0, 1])),           # K = 2
    (np.random.default_rng(2).normal(size=(20, 1)), np.arange(20) % 3),                    # D = 1
    (np.random.default_rng(3).normal(size=(8, 50)), np.arange(8) % 2),                     # N < D
    (np.zeros((10, 4)), np.arange(10) % 2),                                                # constant features
    (np.repeat(np.eye(3), 4, axis=0), np.repeat(np.arange(3), 4)),                         # zero within-class scatter
    (np.tile(np.random.default_rng(4).normal(size=(5, 3)), (2, 1)), np.repeat([0, 1], 5)),  # coinciding class means
    (np.column_stack([np.random.default_rng(5).normal(size=(15, 3)), np.full(15, 5.0)]),   # one constant column
     np.arange(15) % 3),
]
EDGE_CASE_IDS = ["one-sample-class", "two-classes", "one-feature", "fewer-samples-than-dims", "constant",
                 "zero-within-class-scatter", "coinciding-means", "one-constant-column"]
