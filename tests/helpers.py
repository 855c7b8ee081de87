"""Small generated data shared by the score tests."""
from __future__ import annotations

import numpy as np


def gaussian_classes(num_classes=4, per_class=30, dim=16, separation=3.0, seed=0, noise=1.0):
    """Class clusters: means drawn once (unit Gaussian) times ``separation``, isotropic noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), per_class)
    means = rng.normal(size=(num_classes, dim)) * separation
    features = means[labels] + noise * rng.normal(size=(labels.size, dim))
    return features, labels
