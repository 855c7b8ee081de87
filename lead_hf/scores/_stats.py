"""Statistics shared by the scores: per-class sums and means, principal components, the solver switch.

Every score that needs one of these calls the function here; none writes its own copy.
"""
from __future__ import annotations

import torch

from ._linalg import gram

SOLVERS = ("auto", "covariance", "gram")
"""Eigendecompositions a score may use: the D x D scatter (covariance), the N x N Gram matrix (gram), or
the smaller of the two (auto)."""


def resolve_solver(solver: str, num_samples: int, dim: int) -> str:
    """``auto`` becomes ``covariance`` when there are more samples than dimensions, else ``gram``."""
    if solver == "auto":
        return "covariance" if num_samples > dim else "gram"
    return solver


def class_counts(labels: torch.Tensor, num_classes: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Samples per class [K] (labels in 0..K-1), as ``dtype`` when given."""
    counts = torch.bincount(labels, minlength=num_classes)
    return counts if dtype is None else counts.to(dtype)


def class_sums(values: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Sum of the rows of ``values`` [N, ...] in each class: [K, ...]."""
    out = torch.zeros((num_classes, *values.shape[1:]), dtype=values.dtype, device=values.device)
    return out.index_add_(0, labels, values)


def class_means(values: torch.Tensor, labels: torch.Tensor, num_classes: int,
                counts: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of the rows of ``values`` [N, ...] in each class: [K, ...]; an empty class gets zeros.

    ``counts`` (from :func:`class_counts`) saves the bincount when the caller has it already.
    """
    if counts is None:
        counts = class_counts(labels, num_classes)
    divisor = counts.to(values.dtype).clamp_min(1).reshape(-1, *([1] * (values.dim() - 1)))
    return class_sums(values, labels, num_classes) / divisor


def principal_scores(x: torch.Tensor, components: int | None = None,
                     variance: float | None = None) -> torch.Tensor:
    """Coordinates [N, q] of the centred ``x`` on its leading principal axes.

    q is ``components`` when given, else the fewest axes that explain ``variance`` of the total variance,
    else every axis; never more than the numerical rank (eigenvalues above 1e-12 x the largest), never
    fewer than one. Constant features (no variance at all) give one all-zero column. The eigenproblem is
    the smaller of the D x D scatter and the N x N Gram matrix. Axis signs are arbitrary.
    """
    xc = x - x.mean(0)
    n, d = xc.shape
    by_scatter = n > d
    if by_scatter:
        lam, vectors = torch.linalg.eigh(gram(xc))
    else:
        lam, vectors = torch.linalg.eigh(gram(xc, samples=True))
    lam, vectors = lam.flip(0).clamp_min(0), vectors.flip(1)     # descending
    total = lam.sum()
    if not bool(total > 0):
        return xc.new_zeros(n, 1)
    rank = int((lam > lam[0] * 1e-12).sum())
    if components is not None:
        q = components
    elif variance is not None:
        explained = torch.cumsum(lam, 0) / total
        # fewest components reaching the fraction (a hair of slack so that 1.0 does not need rounding luck)
        q = int((explained < variance - 1e-12).sum()) + 1
    else:
        q = rank
    q = max(1, min(q, rank))
    if by_scatter:
        return xc @ vectors[:, :q]
    return vectors[:, :q] * lam[:q].sqrt()                         # x v_i = sqrt(l_i) u_i
