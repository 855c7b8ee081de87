"""Seeded orders of rows that do not depend on the rows' positions nor on the labels' names: the sample
choices and fold splits of the scores read rows in them, so that a shuffled or relabelled split gives the
same result to the last bits (docs/architecture.md)."""
from __future__ import annotations

import torch

from ._stats import class_counts


def projection_order(features: torch.Tensor, seed: int) -> torch.Tensor:
    """Sample indices (CPU) sorted by a seeded random projection of their feature rows."""
    gen = torch.Generator().manual_seed(seed)
    direction = torch.randn(features.shape[1], generator=gen, dtype=torch.float64).to(features.device)
    return torch.argsort((features.double() @ direction).cpu(), stable=True)


def rank_in_class(order: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    labels_cpu = labels.cpu()
    counts = class_counts(labels_cpu, num_classes)
    starts = torch.cumsum(counts, 0) - counts
    return torch.arange(order.numel()) - starts[labels_cpu[order]]


def within_class_order(features: torch.Tensor, labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Sample indices grouped by class, in a seeded random order inside each class.

    The order comes from a seeded random projection of each feature row rather than from the row's
    position, so the samples picked (and hence the score) do not depend on the order of the dataset:
    shuffling or re-gathering the same split gives the same LEAD value.
    """
    by_key = projection_order(features, seed)
    return by_key[torch.sort(labels.cpu()[by_key], stable=True).indices]

